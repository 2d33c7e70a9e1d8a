package results

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"slices"
)

// planChunk is how many plan rows one transaction of WritePlan writes: a
// run's plan is written in chunks, so that neither the rows nor the
// transaction grow with it.
const planChunk = 16384

// planSize returns the number of planned draws of nr.
func (nr NewRun) planSize() int {
	if nr.Draws != nil {
		return nr.Planned
	}
	return len(nr.Plan)
}

// planDraws yields the planned draws of nr in plan order.
func (nr NewRun) planDraws() iter.Seq[PlannedSample] {
	if nr.Draws != nil {
		return nr.Draws
	}
	return slices.Values(nr.Plan)
}

// planIDs are the row ids of a run's models (by InstanceRow.Index) and
// prompts.
type planIDs struct {
	models  map[int]int64
	prompts map[promptKey]int64
}

// planWriter inserts a run's plan rows in multi-row statements, holding
// at most planChunk of them.
type planWriter struct {
	runID int64
	ids   *planIDs
	next  int // plan position of the next row
	rows  [][]any
}

// add queues the next planned draw, writing the queue inside tx when it
// is full.
func (w *planWriter) add(ctx context.Context, tx *sql.Tx, ps PlannedSample) error {
	mid, ok1 := w.ids.models[ps.Instance]
	pid, ok2 := w.ids.prompts[promptKey{ps.Probe, ps.Prompt}]
	if !ok1 || !ok2 {
		return fmt.Errorf("plan entry %s names an unknown model or prompt", ps.Key)
	}
	w.rows = append(w.rows, []any{w.runID, w.next, ps.Key, mid, pid, ps.Draw})
	w.next++
	if len(w.rows) >= planChunk {
		return w.flush(ctx, tx)
	}
	return nil
}

// flush writes the queued rows inside tx.
func (w *planWriter) flush(ctx context.Context, tx *sql.Tx) error {
	err := bulkInsert(ctx, tx, `INSERT INTO run_samples (run_id, idx, key, model_id, prompt_id, draw)`, "", w.rows)
	w.rows = w.rows[:0]
	return err
}

// WritePlan stores the models, prompts, scorers and plan of a run recorded
// by ClaimRun. The plan goes in transactions of a bounded number of rows;
// if the process dies in between, ClaimRun reports the run's plan as
// incomplete (Claim.NeedsPlan) and WritePlan, given the same plan, goes on
// after the rows already stored, which must be its first ones.
func (s *Store) WritePlan(ctx context.Context, runID int64, nr NewRun) error {
	if err := s.writePlan(ctx, runID, nr); err != nil {
		return fmt.Errorf("write plan of run %d: %w", runID, err)
	}
	return nil
}

func (s *Store) writePlan(ctx context.Context, runID int64, nr NewRun) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	ids, have, err := planRecords(ctx, tx, runID, nr)
	if err != nil {
		return err
	}
	var lastKey string
	if have > 0 {
		if err := tx.QueryRowContext(ctx, `SELECT key FROM run_samples WHERE run_id = ? AND idx = ?`, runID, have-1).Scan(&lastKey); err != nil {
			return fmt.Errorf("the run's %d stored plan rows are not its first ones: %w", have, err)
		}
	}
	w := planWriter{runID: runID, ids: ids, next: have}
	i := 0
	for ps := range nr.planDraws() {
		switch {
		case i < have-1:
		case i == have-1:
			if ps.Key != lastKey {
				return fmt.Errorf("plan entry %d is %s, but the stored plan has %s there: not the plan of this run", i, ps.Key, lastKey)
			}
		default:
			if err := w.add(ctx, tx, ps); err != nil {
				return err
			}
			if len(w.rows) == 0 { // a chunk was written: commit it
				if err := tx.Commit(); err != nil {
					return err
				}
				if tx, err = s.db.BeginTx(ctx, nil); err != nil {
					return err
				}
			}
		}
		i++
	}
	if i < have {
		return fmt.Errorf("the plan has %d entries, but %d are stored", i, have)
	}
	if err := w.flush(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

// planRecords inserts the models, prompts and scorers of run runID unless
// an earlier WritePlan did, and returns the row ids of its models and
// prompts and the number of plan rows stored.
func planRecords(ctx context.Context, tx *sql.Tx, runID int64, nr NewRun) (*planIDs, int, error) {
	var models, have int
	err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM models WHERE run_id = ?1), (SELECT count(*) FROM run_samples WHERE run_id = ?1)`, runID).
		Scan(&models, &have)
	if err != nil {
		return nil, 0, err
	}
	if models == 0 {
		ids, err := insertRecords(ctx, tx, runID, nr)
		return ids, have, err
	}
	ids := &planIDs{models: map[int]int64{}, prompts: map[promptKey]int64{}}
	err = queryEach(tx.QueryContext(ctx, `SELECT idx, id FROM models WHERE run_id = ?`, runID))(func(r *sql.Rows) error {
		var idx int
		var id int64
		if err := r.Scan(&idx, &id); err != nil {
			return err
		}
		ids.models[idx] = id
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	err = queryEach(tx.QueryContext(ctx, `SELECT probe, idx, id FROM prompts WHERE run_id = ?`, runID))(func(r *sql.Rows) error {
		var k promptKey
		var id int64
		if err := r.Scan(&k.probe, &k.idx, &id); err != nil {
			return err
		}
		ids.prompts[k] = id
		return nil
	})
	return ids, have, err
}

// sampleOf joins a run_samples row rs to its sample s: by the row's link
// (run_samples.sample_id) when it names a sample with the row's key, else
// by the key. Every read of a run's samples uses it.
const sampleOf = `s.id = CASE WHEN (SELECT x.key FROM samples x WHERE x.id = rs.sample_id) = rs.key THEN rs.sample_id
	ELSE (SELECT y.id FROM samples y WHERE y.key = rs.key) END`

// linkRows links the plan rows (run id, plan position, key) given with
// the row id of their stored sample, inside tx; a row whose position
// does not hold that key is left alone.
func linkRows(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	return bulkInsert(ctx, tx, `UPDATE run_samples SET sample_id = v.column1 FROM (`,
		`) AS v WHERE run_samples.run_id = v.column2 AND run_samples.idx = v.column3 AND run_samples.key = v.column4`, rows)
}

// LinkSamples links every planned draw of a run whose sample is stored
// but not linked (drawn by another run, or stored before the draw was
// planned) to it, and repairs links that name another key's sample. It
// returns the number of draws linked. Put links the draws it stores, so
// after a run that drew all its samples there is nothing left to do, and
// finding that out reads the run's plan rows only.
func (s *Store) LinkSamples(ctx context.Context, runID int64) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE run_samples SET sample_id = s.id FROM samples s
		WHERE run_samples.run_id = ?1 AND s.key = run_samples.key
		AND (run_samples.sample_id IS NULL OR (SELECT x.key FROM samples x WHERE x.id = run_samples.sample_id) IS NOT run_samples.key)`, runID)
	if err != nil {
		return 0, fmt.Errorf("link samples of run %d: %w", runID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("link samples of run %d: %w", runID, err)
	}
	return int(n), nil
}

// PlanCell is the part of a run's plan that samples one prompt from one
// model instance: the unit of the per-cell reads (Rows, CellTally,
// CellSamples). A run has one per instance and prompt its probes sample,
// however many draws each has.
type PlanCell struct {
	Instance int    // InstanceRow.Index
	Probe    string // the prompt's probe
	Prompt   int    // PromptRow.Index
	Draws    int    // planned draws

	modelID, promptID int64
	// first and last bound the cell's plan positions (run_samples.idx).
	first, last int
	// inDrawOrder is true when the cell's plan positions are in the order
	// of its draws (draw - idx is the same for every row), as the engine
	// writes plans: reading in plan order then needs no sort.
	inDrawOrder bool
}

// PlanCells returns the cells of a run's plan ordered by model instance,
// probe (in the order of their prompts, as Prompts) and prompt. It reads
// the run's plan rows once, without their samples.
func (s *Store) PlanCells(ctx context.Context, runID int64) ([]PlanCell, error) {
	type model struct{ idx int }
	type prompt struct {
		probe      string
		idx, order int
	}
	models := map[int64]model{}
	prompts := map[int64]prompt{}
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT id, idx FROM models WHERE run_id = ?`, runID))(func(r *sql.Rows) error {
		var id int64
		var m model
		if err := r.Scan(&id, &m.idx); err != nil {
			return err
		}
		models[id] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan of run %d: %w", runID, err)
	}
	// Probes come in the order of their first prompt, as in Prompts.
	err = queryEach(s.rdb.QueryContext(ctx, `WITH probe_order AS (SELECT probe, min(id) AS first FROM prompts WHERE run_id = ?1 GROUP BY probe)
		SELECT p.id, p.probe, p.idx, po.first FROM prompts p JOIN probe_order po ON po.probe = p.probe WHERE p.run_id = ?1`, runID))(
		func(r *sql.Rows) error {
			var id int64
			var p prompt
			if err := r.Scan(&id, &p.probe, &p.idx, &p.order); err != nil {
				return err
			}
			prompts[id] = p
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("plan of run %d: %w", runID, err)
	}
	var cells []PlanCell
	err = queryEach(s.rdb.QueryContext(ctx, `SELECT model_id, prompt_id, count(*), min(idx), max(idx), min(draw - idx), max(draw - idx)
		FROM run_samples WHERE run_id = ? GROUP BY model_id, prompt_id`, runID))(func(r *sql.Rows) error {
		var c PlanCell
		var lo, hi int
		if err := r.Scan(&c.modelID, &c.promptID, &c.Draws, &c.first, &c.last, &lo, &hi); err != nil {
			return err
		}
		m, ok1 := models[c.modelID]
		p, ok2 := prompts[c.promptID]
		if !ok1 || !ok2 {
			return fmt.Errorf("plan rows name model %d or prompt %d, which the run does not have", c.modelID, c.promptID)
		}
		c.Instance, c.Probe, c.Prompt, c.inDrawOrder = m.idx, p.probe, p.idx, lo == hi
		cells = append(cells, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan of run %d: %w", runID, err)
	}
	probeOrder := func(c *PlanCell) int { return prompts[c.promptID].order }
	slices.SortFunc(cells, func(a, b PlanCell) int {
		if a.Instance != b.Instance {
			return a.Instance - b.Instance
		}
		if oa, ob := probeOrder(&a), probeOrder(&b); oa != ob {
			return oa - ob
		}
		return a.Prompt - b.Prompt
	})
	return cells, nil
}
