package results

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
)

// This file holds what `run --until-decided` needs from the store: a run
// whose plan grows round by round, and the state of the draws it just
// made.

// AppendPlan adds draws to the plan of run runID, after the ones it has,
// and counts them in the run's planned draws, in one transaction. The
// draws' instances and prompts must be the run's (WritePlan stored them),
// and their keys must not be in the run's plan yet: a sequential run
// plans each round once, when it draws it.
func (s *Store) AppendPlan(ctx context.Context, runID int64, draws []PlannedSample) error {
	if len(draws) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append to the plan of run %d: %w", runID, err)
	}
	defer tx.Rollback()
	fail := func(err error) error { return fmt.Errorf("append to the plan of run %d: %w", runID, err) }
	var next int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM run_samples WHERE run_id = ?`, runID).Scan(&next); err != nil {
		return fail(err)
	}
	models := map[int]int64{}
	err = queryEach(tx.QueryContext(ctx, `SELECT idx, id FROM models WHERE run_id = ?`, runID))(func(r *sql.Rows) error {
		var idx int
		var id int64
		if err := r.Scan(&idx, &id); err != nil {
			return err
		}
		models[idx] = id
		return nil
	})
	if err != nil {
		return fail(err)
	}
	prompts := map[promptKey]int64{}
	err = queryEach(tx.QueryContext(ctx, `SELECT probe, idx, id FROM prompts WHERE run_id = ?`, runID))(func(r *sql.Rows) error {
		var k promptKey
		var id int64
		if err := r.Scan(&k.probe, &k.idx, &id); err != nil {
			return err
		}
		prompts[k] = id
		return nil
	})
	if err != nil {
		return fail(err)
	}
	rows := make([][]any, len(draws))
	seen := make(map[string]bool, len(draws))
	for i, d := range draws {
		if seen[d.Key] {
			return fail(fmt.Errorf("the key %s is twice among the new draws", d.Key))
		}
		seen[d.Key] = true
		mid, ok1 := models[d.Instance]
		pid, ok2 := prompts[promptKey{d.Probe, d.Prompt}]
		if !ok1 || !ok2 {
			return fail(fmt.Errorf("draw %s names an unknown model or prompt", d.Key))
		}
		rows[i] = []any{runID, next + i, d.Key, mid, pid, d.Draw}
	}
	if err := bulkInsert(ctx, tx, `INSERT INTO run_samples (run_id, idx, key, model_id, prompt_id, draw)`, "", rows); err != nil {
		return fail(err)
	}
	if err := checkUpdated(tx.ExecContext(ctx, `UPDATE runs SET planned = planned + ?, updated_at = ? WHERE id = ?`, len(draws), now(), runID)); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// DrawState is what the store holds for one sample key.
type DrawState struct {
	// Stored is true when a sample is stored under the key, failed or
	// not.
	Stored bool
	// Failed is true when the stored sample failed.
	Failed bool
	// Scores are the stored sample's scores under the requested scorer,
	// one per target; nil when it has none (or failed).
	Scores []Score
}

// DrawStates returns the state of each key under scorer (a scorer ID such
// as "mentions:1a2b3c4d5e6f"), drawn by any run. Keys without a sample
// are left out. It reads through the writer connection, which sees what
// this process just stored.
func (s *Store) DrawStates(ctx context.Context, keys []string, scorer string) (map[string]DrawState, error) {
	out := make(map[string]DrawState, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("draw states: %w", err)
	}
	err = queryEach(s.db.QueryContext(ctx, `SELECT s.key, s.error IS NOT NULL, sc.target, sc.valid, sc.hit, sc.value, sc.label
		FROM json_each(?1) j
		JOIN samples s ON s.key = j.value
		LEFT JOIN scores sc ON sc.sample_id = s.id AND s.error IS NULL AND sc.scorer_id = (SELECT id FROM scorers WHERE name = ?2)
		ORDER BY s.key, sc.target`, string(list), scorer))(func(r *sql.Rows) error {
		var key string
		var failed bool
		var target, label sql.NullString
		var valid, hit sql.NullBool
		var value sql.NullFloat64
		if err := r.Scan(&key, &failed, &target, &valid, &hit, &value, &label); err != nil {
			return err
		}
		st := out[key]
		st.Stored, st.Failed = true, failed
		if target.Valid {
			sc := Score{Target: target.String, Valid: valid.Bool, Hit: hit.Bool, Value: math.NaN(), Label: label.String}
			if value.Valid {
				sc.Value = value.Float64
			}
			st.Scores = append(st.Scores, sc)
		}
		out[key] = st
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("draw states of %d keys: %w", len(keys), err)
	}
	return out, nil
}
