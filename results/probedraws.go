package results

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"
)

// ProbeDraw is one planned draw of a probe with what the store holds for
// it, as ProbeDraws reads it.
type ProbeDraw struct {
	Instance int // InstanceRow.Index
	Prompt   int // PromptRow.Index
	Draw     int // 0-based draw index
	// State is the draw's state under the scorer asked for; its Scores
	// hold the targets asked for that the sample has a score under
	// (Target, Valid and Hit only: Value is 0, Label empty).
	State DrawState
}

// ProbeDraws yields the planned draws of one probe of run runID whose
// draw index is in [from, to), with their states under scorer for each
// of targets: what a sequential rule reads of a window of rounds. The
// draws come ordered by model instance row, prompt row, draw and plan
// position (the order of the run_samples_cell index, which the query
// seeks once per plan cell for the window: nothing is sorted, and a
// window costs the rows in it, not the run's). Errors end the iteration
// and are yielded as the second value.
func (s *Store) ProbeDraws(ctx context.Context, runID int64, probe, scorer string, targets []string, from, to int) iter.Seq2[ProbeDraw, error] {
	return func(yield func(ProbeDraw, error) bool) {
		fail := func(err error) {
			yield(ProbeDraw{}, fmt.Errorf("read draws %d–%d of probe %s of run %d: %w", from, to, probe, runID, err))
		}
		sid, err := s.scorerRowID(ctx, scorer)
		if err != nil {
			fail(err)
			return
		}
		var cols, joins strings.Builder
		args := []any{runID, probe, from, to, sid}
		for j, t := range targets {
			n := "c" + strconv.Itoa(j)
			fmt.Fprintf(&cols, ", %[1]s.target IS NOT NULL, coalesce(%[1]s.valid, 0), coalesce(%[1]s.hit, 0)", n)
			fmt.Fprintf(&joins, " LEFT JOIN scores %[1]s ON %[1]s.sample_id = s.id AND %[1]s.scorer_id = ?5 AND %[1]s.target = ?%[2]d AND s.error IS NULL", n, len(args)+1)
			args = append(args, t)
		}
		// The IN lists make the cell index a seek per (model, prompt)
		// on the draw range.
		rows, err := s.rdb.QueryContext(ctx, `SELECT m.idx, p.idx, rs.draw, s.id IS NOT NULL, s.error IS NOT NULL`+cols.String()+`
			FROM run_samples rs
			JOIN models m ON m.id = rs.model_id
			JOIN prompts p ON p.id = rs.prompt_id
			LEFT JOIN samples s ON `+sampleOf+joins.String()+`
			WHERE rs.run_id = ?1
				AND rs.model_id IN (SELECT id FROM models WHERE run_id = ?1)
				AND rs.prompt_id IN (SELECT id FROM prompts WHERE run_id = ?1 AND probe = ?2)
				AND rs.draw >= ?3 AND rs.draw < ?4
			ORDER BY rs.model_id, rs.prompt_id, rs.draw, rs.idx`, args...)
		if err != nil {
			fail(err)
			return
		}
		defer rows.Close()
		var d ProbeDraw
		scores := make([]struct{ scored, valid, hit bool }, len(targets))
		dest := []any{&d.Instance, &d.Prompt, &d.Draw, &d.State.Stored, &d.State.Failed}
		for j := range scores {
			dest = append(dest, &scores[j].scored, &scores[j].valid, &scores[j].hit)
		}
		for rows.Next() {
			d.State.Scores = nil
			if err := rows.Scan(dest...); err != nil {
				fail(err)
				return
			}
			for j, sc := range scores {
				if sc.scored {
					d.State.Scores = append(d.State.Scores, Score{Target: targets[j], Valid: sc.valid, Hit: sc.hit})
				}
			}
			if !yield(d, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			fail(err)
		}
	}
}
