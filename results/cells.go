package results

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"
)

// CellGroup counts the planned draws of one plan cell that have the same
// outcome: stored or not, failed or not, and under each target asked for
// the same kind of score. The groups of a cell partition its draws, so
// summing them gives every per-cell count an analysis needs without
// reading a sample.
type CellGroup struct {
	Stored bool // a sample is stored (failed or not)
	Failed bool // the stored sample failed
	// Scores holds the score of the group's draws under each target, in
	// the order asked for; all its entries are zero for failed or missing
	// draws, which are never scored.
	Scores []ScoreClass
	Draws  int // planned draws in the group
	// Usage of the group's stored samples: token sums, the sum of their
	// latencies (each rounded to the nanosecond, as Rows reads it) and of
	// their attempts.
	PromptTokens, CompletionTokens int64
	Latency                        time.Duration
	Attempts                       int64
}

// ScoreClass is the kind of score the draws of a CellGroup have under one
// target, with the range of its numeric values.
type ScoreClass struct {
	Scored bool // a score is stored; the other fields are zero when not
	Valid  bool
	Hit    bool
	Label  string
	// Values counts the group's draws whose score has a numeric value;
	// Min and Max are the smallest and largest (NaN when Values is 0).
	Values   int
	Min, Max float64
}

// CellCounts returns the draws of one plan cell grouped by outcome, with
// their scores under scorer for each of targets (CellGroup). It is one
// aggregating query over the cell's plan rows: each follows its link to
// its sample (see LinkSamples) and reads its scores by primary key.
func (s *Store) CellCounts(ctx context.Context, runID int64, c PlanCell, scorer string, targets []string) ([]CellGroup, error) {
	sid, err := s.scorerRowID(ctx, scorer)
	if err != nil {
		return nil, fmt.Errorf("count samples of run %d: %w", runID, err)
	}
	var cols, joins, groups strings.Builder
	args := []any{runID, c.first, c.last, c.modelID, c.promptID, sid}
	for j, t := range targets {
		n := "c" + strconv.Itoa(j)
		fmt.Fprintf(&cols, ", %[1]s.target IS NOT NULL, %[1]s.valid, %[1]s.hit, %[1]s.label, count(%[1]s.value), min(%[1]s.value), max(%[1]s.value)", n)
		fmt.Fprintf(&joins, " LEFT JOIN scores %[1]s ON %[1]s.sample_id = s.id AND %[1]s.scorer_id = ?6 AND %[1]s.target = ?%[2]d AND s.error IS NULL", n, len(args)+1)
		fmt.Fprintf(&groups, ", %[1]s.target IS NOT NULL, %[1]s.valid, %[1]s.hit, %[1]s.label", n)
		args = append(args, t)
	}
	// Latencies are rounded half away from zero to the nanosecond, as
	// fromMS rounds them (math.Round): exact for latencies of 1 ns and up.
	q := `SELECT s.id IS NOT NULL, s.error IS NOT NULL` + cols.String() + `, count(*),
			coalesce(sum(s.prompt_tokens), 0), coalesce(sum(s.completion_tokens), 0),
			coalesce(sum(CAST(s.latency_ms * 1e6 + (CASE WHEN s.latency_ms < 0 THEN -0.5 ELSE 0.5 END) AS INTEGER)), 0),
			coalesce(sum(s.attempts), 0)
		FROM run_samples rs LEFT JOIN samples s ON ` + sampleOf + joins.String() + `
		WHERE rs.run_id = ?1 AND rs.idx BETWEEN ?2 AND ?3 AND rs.model_id = ?4 AND rs.prompt_id = ?5
		GROUP BY 1, 2` + groups.String()
	var out []CellGroup
	err = queryEach(s.rdb.QueryContext(ctx, q, args...))(func(r *sql.Rows) error {
		g := CellGroup{Scores: make([]ScoreClass, len(targets))}
		type class struct {
			scored     bool
			valid, hit sql.NullBool
			label      sql.NullString
			values     int
			lo, hi     sql.NullFloat64
		}
		var latency int64
		dest := []any{&g.Stored, &g.Failed}
		cls := make([]class, len(targets))
		for j := range cls {
			k := &cls[j]
			dest = append(dest, &k.scored, &k.valid, &k.hit, &k.label, &k.values, &k.lo, &k.hi)
		}
		dest = append(dest, &g.Draws, &g.PromptTokens, &g.CompletionTokens, &latency, &g.Attempts)
		if err := r.Scan(dest...); err != nil {
			return err
		}
		g.Latency = time.Duration(latency)
		for j, k := range cls {
			sc := &g.Scores[j]
			sc.Min, sc.Max = math.NaN(), math.NaN()
			if !k.scored {
				continue
			}
			sc.Scored, sc.Valid, sc.Hit, sc.Label, sc.Values = true, k.valid.Bool, k.hit.Bool, k.label.String, k.values
			if k.lo.Valid {
				sc.Min, sc.Max = k.lo.Float64, k.hi.Float64
			}
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count samples of run %d: %w", runID, err)
	}
	return out, nil
}

// CellQuery selects what CellSamples reads.
type CellQuery struct {
	// HitsOf, when set, keeps the samples with a valid score that hits
	// under this target only.
	HitsOf string
	// Text reads the completions too.
	Text bool
	// Limit, when positive, stops after that many samples.
	Limit int
}

// CellSample is one successful sample of a plan cell, as CellSamples
// reads it.
type CellSample struct {
	Draw       int
	Completion string // with CellQuery.Text
	// Values holds the numeric score under each target asked for, NaN
	// when there is no score or it has no value.
	Values []float64
}

// CellSamples yields the successful samples of one plan cell in draw
// order, with the numeric values of their scores under scorer for each of
// targets. Errors end the iteration and are yielded as the second value.
func (s *Store) CellSamples(ctx context.Context, runID int64, c PlanCell, scorer string, targets []string, q CellQuery) iter.Seq2[CellSample, error] {
	return func(yield func(CellSample, error) bool) {
		sid, err := s.scorerRowID(ctx, scorer)
		if err != nil {
			yield(CellSample{}, fmt.Errorf("read samples of run %d: %w", runID, err))
			return
		}
		var cols, joins strings.Builder
		args := []any{runID, c.first, c.last, c.modelID, c.promptID, sid}
		text := "''"
		if q.Text {
			text = "s.completion"
		}
		for j, t := range targets {
			n := "c" + strconv.Itoa(j)
			fmt.Fprintf(&cols, ", %s.value", n)
			fmt.Fprintf(&joins, " LEFT JOIN scores %[1]s ON %[1]s.sample_id = s.id AND %[1]s.scorer_id = ?6 AND %[1]s.target = ?%[2]d", n, len(args)+1)
			args = append(args, t)
		}
		if q.HitsOf != "" {
			fmt.Fprintf(&joins, " JOIN scores h ON h.sample_id = s.id AND h.scorer_id = ?6 AND h.target = ?%d AND h.valid AND h.hit", len(args)+1)
			args = append(args, q.HitsOf)
		}
		limit := ""
		if q.Limit > 0 {
			limit = " LIMIT " + strconv.Itoa(q.Limit)
		}
		rows, err := s.rdb.QueryContext(ctx, `SELECT rs.draw, `+text+cols.String()+`
			FROM run_samples rs JOIN samples s ON `+sampleOf+` AND s.error IS NULL`+joins.String()+`
			WHERE rs.run_id = ?1 AND rs.idx BETWEEN ?2 AND ?3 AND rs.model_id = ?4 AND rs.prompt_id = ?5
			ORDER BY `+cellOrder(c)+limit, args...)
		if err != nil {
			yield(CellSample{}, fmt.Errorf("read samples of run %d: %w", runID, err))
			return
		}
		defer rows.Close()
		vals := make([]sql.NullFloat64, len(targets))
		dest := make([]any, 0, 2+len(targets))
		var cs CellSample
		dest = append(dest, &cs.Draw, &cs.Completion)
		for j := range vals {
			dest = append(dest, &vals[j])
		}
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				yield(CellSample{}, fmt.Errorf("read samples of run %d: %w", runID, err))
				return
			}
			out := CellSample{Draw: cs.Draw, Completion: cs.Completion, Values: make([]float64, len(targets))}
			for j, v := range vals {
				out.Values[j] = math.NaN()
				if v.Valid {
					out.Values[j] = v.Float64
				}
			}
			if !yield(out, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(CellSample{}, fmt.Errorf("read samples of run %d: %w", runID, err))
		}
	}
}
