package results

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CellTally counts the planned draws of one plan cell by outcome, and
// the scores of its successful draws under each target asked for:
// everything an analysis counts per cell, without reading a sample into
// Go.
type CellTally struct {
	Planned int // planned draws
	Stored  int // with a stored sample, failed or not
	Failed  int // whose stored sample failed
	// Usage of the successful samples: token sums, the sum of their
	// latencies (each rounded to the nanosecond, as Rows reads it) and of
	// their attempts.
	PromptTokens, CompletionTokens int64
	Latency                        time.Duration
	Attempts                       int64
	// BatchedPromptTokens and BatchedCompletionTokens are the part of
	// PromptTokens and CompletionTokens of samples that came through a
	// Batch API (results.Sample.Batched), which cost the batch price.
	BatchedPromptTokens, BatchedCompletionTokens int64
	// Targets holds the counts under each target asked for, in order.
	Targets []TargetTally
	// Joint, when asked for (CellTally's joint), groups the successful
	// draws by their score under every target at once: the table of
	// agreement between targets (judges). Its order is unspecified.
	Joint []JointClass
}

// TargetTally counts the scores of a cell's successful draws under one
// target. A draw without a score is unscored: Successful − Scored of
// them, where Successful is Stored − Failed.
type TargetTally struct {
	Scored int // draws with a score
	Valid  int // of them, with a valid score
	Hits   int // of those, hits
	// Invalid counts the invalid scores by label ("" for none); nil when
	// there is none.
	Invalid map[string]int
	// HitValues counts the hits whose score has a numeric value; HitMin
	// and HitMax are the smallest and largest of them (NaN when HitValues
	// is 0).
	HitValues      int
	HitMin, HitMax float64
}

// JointClass is a number of successful draws with the same score under
// each target.
type JointClass struct {
	Scores []ScoreClass // by target, in the order asked for
	Draws  int
}

// ScoreClass is the kind of score a draw has under one target.
type ScoreClass struct {
	Scored bool // a score is stored; the other fields are zero when not
	Valid  bool
	Hit    bool
	Label  string
}

// CellTally counts the draws of one plan cell by outcome, with the scores
// of its successful ones under scorer for each of targets (see
// CellTally), and with joint their classes under every target at once.
// The counts are one aggregating query over the cell's plan rows, which
// are consecutive in the run's primary key: each row follows its link to
// its sample (see LinkSamples) and reads its scores by primary key, with
// no sort. Invalid scores by label, and the joint classes, take one more
// grouping query each, and only when there is something to group.
func (s *Store) CellTally(ctx context.Context, runID int64, c PlanCell, scorer string, targets []string, joint bool) (CellTally, error) {
	t, err := s.cellTally(ctx, runID, c, scorer, targets, joint)
	if err != nil {
		return CellTally{}, fmt.Errorf("count samples of run %d: %w", runID, err)
	}
	return t, nil
}

// cellWhere selects the plan rows rs of cell ?2..?5 of run ?1.
const cellWhere = `rs.run_id = ?1 AND rs.idx BETWEEN ?2 AND ?3 AND rs.model_id = ?4 AND rs.prompt_id = ?5`

func (s *Store) cellTally(ctx context.Context, runID int64, c PlanCell, scorer string, targets []string, joint bool) (CellTally, error) {
	t := CellTally{Targets: make([]TargetTally, len(targets))}
	sid, err := s.scorerRowID(ctx, scorer)
	if err != nil {
		return t, err
	}
	args := []any{runID, c.first, c.last, c.modelID, c.promptID, sid}
	for _, target := range targets {
		args = append(args, target)
	}
	q, err := s.readStmt(ctx, "tally:"+strconv.Itoa(len(targets)), func() string { return tallyQuery(len(targets)) })
	if err != nil {
		return t, err
	}
	dest := []any{&t.Planned, &t.Stored, &t.Failed, &t.PromptTokens, &t.CompletionTokens, &t.Latency, &t.Attempts,
		&t.BatchedPromptTokens, &t.BatchedCompletionTokens}
	lo := make([]sql.NullFloat64, len(targets))
	hi := make([]sql.NullFloat64, len(targets))
	for j := range t.Targets {
		tt := &t.Targets[j]
		dest = append(dest, &tt.Scored, &tt.Valid, &tt.Hits, &tt.HitValues, &lo[j], &hi[j])
	}
	if err := q.QueryRowContext(ctx, args...).Scan(dest...); err != nil {
		return t, err
	}
	for j := range t.Targets {
		tt := &t.Targets[j]
		tt.HitMin, tt.HitMax = math.NaN(), math.NaN()
		if lo[j].Valid {
			tt.HitMin, tt.HitMax = lo[j].Float64, hi[j].Float64
		}
		if tt.Scored > tt.Valid {
			if tt.Invalid, err = s.invalidLabels(ctx, args[:6], targets[j]); err != nil {
				return t, err
			}
		}
	}
	if joint && len(targets) > 1 && t.Stored > t.Failed {
		if t.Joint, err = s.jointClasses(ctx, args, len(targets)); err != nil {
			return t, err
		}
	}
	return t, nil
}

// tallyQuery is the query of cellTally for n targets: the cell ?2..?5 of
// run ?1, with the scores under scorer row id ?6 of targets ?7, ?8, ….
func tallyQuery(n int) string {
	var cols, joins strings.Builder
	for j := range n {
		c := "c" + strconv.Itoa(j)
		hit := c + ".valid AND " + c + ".hit"
		fmt.Fprintf(&cols, `, count(%[1]s.target), coalesce(sum(%[1]s.valid), 0), coalesce(sum(%[2]s), 0),
			count(CASE WHEN %[2]s THEN %[1]s.value END), min(CASE WHEN %[2]s THEN %[1]s.value END), max(CASE WHEN %[2]s THEN %[1]s.value END)`, c, hit)
		fmt.Fprintf(&joins, " LEFT JOIN scores %[1]s ON %[1]s.sample_id = s.id AND %[1]s.scorer_id = ?6 AND %[1]s.target = ?%[2]d AND s.error IS NULL", c, 7+j)
	}
	// Latencies are rounded half away from zero to the nanosecond, as
	// fromMS rounds them (math.Round): exact for latencies of 1 ns and up.
	ok := "CASE WHEN s.error IS NULL THEN "
	return `SELECT count(*), count(s.id), count(s.error),
			coalesce(sum(` + ok + `s.prompt_tokens END), 0), coalesce(sum(` + ok + `s.completion_tokens END), 0),
			coalesce(sum(` + ok + `CAST(s.latency_ms * 1e6 + (CASE WHEN s.latency_ms < 0 THEN -0.5 ELSE 0.5 END) AS INTEGER) END), 0),
			coalesce(sum(` + ok + `s.attempts END), 0),
			coalesce(sum(CASE WHEN s.error IS NULL AND s.batched THEN s.prompt_tokens END), 0),
			coalesce(sum(CASE WHEN s.error IS NULL AND s.batched THEN s.completion_tokens END), 0)` + cols.String() + `
		FROM run_samples rs LEFT JOIN samples s ON ` + sampleOf + joins.String() + `
		WHERE ` + cellWhere
}

// invalidLabels counts the invalid scores of a cell's successful draws
// under target by label; args are the cell's query arguments ?1..?6.
func (s *Store) invalidLabels(ctx context.Context, args []any, target string) (map[string]int, error) {
	out := map[string]int{}
	q, err := s.readStmt(ctx, "invalid", func() string {
		return `SELECT c.label, count(*) FROM run_samples rs
		JOIN samples s ON ` + sampleOf + ` AND s.error IS NULL
		JOIN scores c ON c.sample_id = s.id AND c.scorer_id = ?6 AND c.target = ?7 AND NOT c.valid
		WHERE ` + cellWhere + ` GROUP BY c.label`
	})
	if err != nil {
		return nil, err
	}
	err = queryEach(q.QueryContext(ctx, append(slices.Clone(args), target)...))(func(r *sql.Rows) error {
		var label string
		var n int
		if err := r.Scan(&label, &n); err != nil {
			return err
		}
		out[label] = n
		return nil
	})
	return out, err
}

// jointClasses groups a cell's successful draws by their score class
// under each of n targets; args are the cell's query arguments and the
// targets, as cellTally builds them.
func (s *Store) jointClasses(ctx context.Context, args []any, n int) ([]JointClass, error) {
	q, err := s.readStmt(ctx, "joint:"+strconv.Itoa(n), func() string { return jointQuery(n) })
	if err != nil {
		return nil, err
	}
	var out []JointClass
	err = queryEach(q.QueryContext(ctx, args...))(func(r *sql.Rows) error {
		jc := JointClass{Scores: make([]ScoreClass, n)}
		dest := make([]any, 0, 4*n+1)
		for j := range jc.Scores {
			sc := &jc.Scores[j]
			dest = append(dest, &sc.Scored, &sc.Valid, &sc.Hit, &sc.Label)
		}
		if err := r.Scan(append(dest, &jc.Draws)...); err != nil {
			return err
		}
		out = append(out, jc)
		return nil
	})
	return out, err
}

// jointQuery is the query of jointClasses for n targets, with the
// arguments of tallyQuery.
func jointQuery(n int) string {
	var cols, joins strings.Builder
	for j := range n {
		c := "c" + strconv.Itoa(j)
		if j > 0 {
			cols.WriteString(", ")
		}
		fmt.Fprintf(&cols, "%[1]s.target IS NOT NULL, coalesce(%[1]s.valid, 0), coalesce(%[1]s.hit, 0), coalesce(%[1]s.label, '')", c)
		fmt.Fprintf(&joins, " LEFT JOIN scores %[1]s ON %[1]s.sample_id = s.id AND %[1]s.scorer_id = ?6 AND %[1]s.target = ?%[2]d", c, 7+j)
	}
	return `SELECT ` + cols.String() + `, count(*) FROM run_samples rs
		JOIN samples s ON ` + sampleOf + ` AND s.error IS NULL` + joins.String() + `
		WHERE ` + cellWhere + ` GROUP BY ` + cols.String()
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
