package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"math"
	"time"
)

// Sample is one completed draw: its completion, or the error that
// prevented it (Err non-empty; then Completion is meaningless).
type Sample struct {
	Key              string
	RunID            int64 // the run that drew it
	Probe            string
	Prompt           int
	Draw             int
	BaseURL          string
	Model            string
	Completion       string
	FinishReason     string
	PromptTokens     int
	CompletionTokens int
	Latency          time.Duration
	Attempts         int
	Batch            int // choices asked for in the request
	// Batched is true when the sample came through a Batch API (stored
	// from a batch's output or error file): its tokens cost the batch
	// price.
	Batched     bool
	RequestSeed *int64 // nil when no seed was sent
	Err         string // "" when the draw succeeded
	HTTPStatus  int    // of the failure; 0 when none
	CreatedAt   time.Time
	// PlanIndex is the draw's position in the plan of run RunID
	// (run_samples.idx): Put links that plan row to the stored sample
	// when the row holds the sample's key, so that reading the run back
	// follows row ids. A position that does not match, or a negative
	// one, is ignored (the draw is then found by key; LinkSamples links
	// it).
	PlanIndex int

	// Scorer and Scores, when set, are stored with the sample.
	Scorer string
	Scores []Score
}

// Failed reports whether the draw failed.
func (s *Sample) Failed() bool { return s.Err != "" }

// Score is one scorer's verdict on one sample for one target.
type Score struct {
	Target string
	// Valid is false when the sample cannot be scored for this target (a
	// judge's refusal, say); it is then left out of rates and counted
	// under Label.
	Valid bool
	// Hit is the verdict: the sample shows the trait.
	Hit bool
	// Value is the numeric score behind the verdict; NaN when none.
	Value float64
	// Label names the category of an invalid score, or refines a valid one.
	Label string
}

// Put stores samples and their scores in one transaction. A successful
// sample already stored under the same key is kept, with its scores; a
// failed one is replaced, so that retries of failures land. A key repeated
// within samples follows the same rules in order: its first success is
// kept, else its last failure.
func (s *Store) Put(ctx context.Context, samples []Sample) error {
	if len(samples) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store samples: %w", err)
	}
	defer tx.Rollback()
	kept := keptSamples(samples)
	rows := make([][]any, len(kept))
	byKey := make(map[string]*Sample, len(kept))
	for i, sm := range kept {
		byKey[sm.Key] = sm
		var completion, finish, errText sql.NullString
		if sm.Failed() {
			errText = sql.NullString{String: sm.Err, Valid: true}
		} else {
			completion = sql.NullString{String: sm.Completion, Valid: true}
			finish = sql.NullString{String: sm.FinishReason, Valid: true}
		}
		var seed sql.NullInt64
		if sm.RequestSeed != nil {
			seed = sql.NullInt64{Int64: *sm.RequestSeed, Valid: true}
		}
		var status sql.NullInt64
		if sm.HTTPStatus != 0 {
			status = sql.NullInt64{Int64: int64(sm.HTTPStatus), Valid: true}
		}
		created := sm.CreatedAt
		if created.IsZero() {
			created = time.Now()
		}
		rows[i] = []any{sm.Key, sm.RunID, sm.Probe, sm.Prompt, sm.Draw, sm.BaseURL, sm.Model, completion, finish,
			sm.PromptTokens, sm.CompletionTokens, toMS(sm.Latency), sm.Attempts, sm.Batch, seed, errText, status,
			formatTime(created), sm.Batched}
	}
	// The upsert inserts new keys and replaces failed samples; a stored
	// success fails its WHERE, is left alone and returns no row, so only
	// the samples written here get scores. Each key has one row, so each
	// returned row is the sample byKey holds.
	scorers := map[string]int64{}
	for _, sm := range kept {
		if !sm.Failed() && len(sm.Scores) > 0 {
			if _, ok := scorers[sm.Scorer]; !ok {
				if scorers[sm.Scorer], err = scorerID(ctx, tx, sm.Scorer); err != nil {
					return fmt.Errorf("store samples: %w", err)
				}
			}
		}
	}
	var scoreRows, links [][]any
	err = bulkInsertReturning(ctx, tx, `INSERT INTO samples (key, run_id, probe, prompt_idx, draw, base_url, model, completion, finish_reason,
		prompt_tokens, completion_tokens, latency_ms, attempts, batch, request_seed, error, http_status, created_at, batched)`,
		`ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, completion = excluded.completion, finish_reason = excluded.finish_reason,
		prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens, latency_ms = excluded.latency_ms,
		attempts = excluded.attempts, batch = excluded.batch, request_seed = excluded.request_seed, error = excluded.error,
		http_status = excluded.http_status, created_at = excluded.created_at, batched = excluded.batched
		WHERE samples.error IS NOT NULL
		RETURNING id, key`, rows, func(r *sql.Rows) error {
			var id int64
			var key string
			if err := r.Scan(&id, &key); err != nil {
				return err
			}
			sm := byKey[key]
			if sm == nil {
				return nil
			}
			if sm.RunID > 0 && sm.PlanIndex >= 0 {
				links = append(links, []any{id, sm.RunID, sm.PlanIndex, key})
			}
			if sm.Failed() || len(sm.Scores) == 0 {
				return nil
			}
			scoreRows = appendScores(scoreRows, id, scorers[sm.Scorer], sm.Scores)
			return nil
		})
	if err != nil {
		return fmt.Errorf("store samples: %w", err)
	}
	if err := insertScores(ctx, tx, scoreRows); err != nil {
		return err
	}
	if err := linkRows(ctx, tx, links); err != nil {
		return fmt.Errorf("store samples: link plan rows: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store samples: %w", err)
	}
	return nil
}

// keptSamples returns one sample per key of samples, in the order of each
// key's first appearance: the sample the upsert would end up holding if
// the samples were written one by one, that is the key's first success,
// else its last failure (a failure is replaced by any later sample, a
// success by none). Writing only these keeps each stored row and the
// scores attached to it from the same sample.
func keptSamples(samples []Sample) []*Sample {
	kept := make([]*Sample, 0, len(samples))
	at := make(map[string]int, len(samples)) // key → its index in kept
	for i := range samples {
		sm := &samples[i]
		j, seen := at[sm.Key]
		switch {
		case !seen:
			at[sm.Key] = len(kept)
			kept = append(kept, sm)
		case kept[j].Failed():
			kept[j] = sm
		}
	}
	return kept
}

// scorerID returns the id of the named scorer, adding it when new.
func scorerID(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO scorers (name) VALUES (?) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`, name).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("scorer %s: %w", name, err)
	}
	return id, nil
}

// appendScores adds the score rows of one sample.
func appendScores(rows [][]any, sampleID, scorerID int64, scores []Score) [][]any {
	for _, score := range scores {
		var value sql.NullFloat64
		if !math.IsNaN(score.Value) && !math.IsInf(score.Value, 0) {
			value = sql.NullFloat64{Float64: score.Value, Valid: true}
		}
		rows = append(rows, []any{sampleID, scorerID, score.Target, score.Valid, score.Hit, value, score.Label})
	}
	return rows
}

func insertScores(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	if err := bulkInsert(ctx, tx, `INSERT OR REPLACE INTO scores (sample_id, scorer_id, target, valid, hit, value, label)`, "", rows); err != nil {
		return fmt.Errorf("store scores: %w", err)
	}
	return nil
}

// Unscored counts a run's successful samples of probe that have no score
// under scorer.
func (s *Store) Unscored(ctx context.Context, runID int64, probe, scorer string) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM run_samples rs
		JOIN samples s ON `+sampleOf+` AND s.error IS NULL
		JOIN prompts p ON p.id = rs.prompt_id AND p.probe = ?
		WHERE rs.run_id = ? AND NOT EXISTS (SELECT 1 FROM scores sc JOIN scorers sr ON sr.id = sc.scorer_id WHERE sc.sample_id = s.id AND sr.name = ?)`,
		probe, runID, scorer).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count unscored samples of run %d: %w", runID, err)
	}
	return n, nil
}

// ScoredSample is the scores of one stored sample under one scorer.
type ScoredSample struct {
	Key    string
	Scores []Score
}

// PutScores stores scores of already stored samples, in one transaction.
func (s *Store) PutScores(ctx context.Context, scorer string, scored []ScoredSample) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store scores: %w", err)
	}
	defer tx.Rollback()
	sid, err := scorerID(ctx, tx, scorer)
	if err != nil {
		return fmt.Errorf("store scores: %w", err)
	}
	keys := make([]string, len(scored))
	for i, ss := range scored {
		keys[i] = ss.Key
	}
	ids, err := sampleIDs(ctx, tx, keys)
	if err != nil {
		return fmt.Errorf("store scores: %w", err)
	}
	var rows [][]any
	for _, ss := range scored {
		id, ok := ids[ss.Key]
		if !ok {
			return fmt.Errorf("store scores: no sample with key %s", ss.Key)
		}
		rows = appendScores(rows, id, sid, ss.Scores)
	}
	if err := insertScores(ctx, tx, rows); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store scores: %w", err)
	}
	return nil
}

// Row is one planned draw of a run as read back for analysis: where it
// belongs (model instance, probe, prompt, draw), its sample if stored,
// and the sample's scores under the requested scorer.
type Row struct {
	Instance int // InstanceRow.Index
	Probe    string
	Prompt   int
	Draw     int
	// Stored is false for a draw that was planned but never completed.
	Stored bool
	Sample Sample
	Scores []Score // under the requested scorer; nil when unscored
}

// Rows iterates over a run's planned draws ordered by model instance,
// probe, prompt and draw, with the scores of scorerFor(probe) attached.
// Errors end the iteration and are yielded as the second value. It reads
// one plan cell (PlanCells) at a time, so it holds one draw and its
// scores, whatever the size of the run; the cursor of a cell stays open
// while the caller works on its rows.
func (s *Store) Rows(ctx context.Context, runID int64, scorerFor func(probe string) string) iter.Seq2[*Row, error] {
	return func(yield func(*Row, error) bool) {
		cells, err := s.PlanCells(ctx, runID)
		if err != nil {
			yield(nil, err)
			return
		}
		scorers := map[string]int64{} // by probe; -1 when the scorer has no scores
		for _, c := range cells {
			sid, ok := scorers[c.Probe]
			if !ok {
				if sid, err = s.scorerRowID(ctx, scorerFor(c.Probe)); err != nil {
					yield(nil, fmt.Errorf("read samples of run %d: %w", runID, err))
					return
				}
				scorers[c.Probe] = sid
			}
			for r, err := range s.cellRows(ctx, runID, c, sid) {
				if err != nil {
					yield(nil, fmt.Errorf("read samples of run %d: %w", runID, err))
					return
				}
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}

// scorerRowID returns the row id of the named scorer, -1 when it has
// stored no scores. A found id is remembered (see scorerIDCache); -1 is
// not, as a writer may add the scorer later.
func (s *Store) scorerRowID(ctx context.Context, name string) (int64, error) {
	c := &s.scorerIDs
	c.mu.Lock()
	id, ok := c.ids[name]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	err := s.rdb.QueryRowContext(ctx, `SELECT id FROM scorers WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	if c.ids == nil {
		c.ids = map[string]int64{}
	}
	if len(c.ids) < maxScorerIDs {
		c.ids[name] = id
	}
	c.mu.Unlock()
	return id, nil
}

// cellOrder is the ORDER BY of the rows of one plan cell in draw order:
// plan order when it is the same (no sort), else the draw.
func cellOrder(c PlanCell) string {
	if c.inDrawOrder {
		return "rs.idx"
	}
	return "rs.draw"
}

// cellRows yields the planned draws of one plan cell in draw order, with
// their samples and their scores under scorer row id sid.
func (s *Store) cellRows(ctx context.Context, runID int64, c PlanCell, sid int64) iter.Seq2[*Row, error] {
	return func(yield func(*Row, error) bool) {
		// One row per draw and score: scores come in target order after
		// their draw's other columns.
		q, err := s.readStmt(ctx, "rows:"+cellOrder(c), func() string { return cellRowsQuery(c) })
		if err != nil {
			yield(nil, err)
			return
		}
		rows, err := q.QueryContext(ctx, runID, c.first, c.last, c.modelID, c.promptID, sid)
		if err != nil {
			yield(nil, err)
			return
		}
		defer rows.Close()
		var r *Row
		lastIdx := -1
		for rows.Next() {
			var idx int
			var next Row
			var runIDs sql.NullInt64
			var baseURL, model, completion, finish, errText, created sql.NullString
			var ptok, ctok, attempts, batch, seed, status sql.NullInt64
			var latency sql.NullFloat64
			var target, label sql.NullString
			var valid, hit sql.NullBool
			var value sql.NullFloat64
			var batched bool
			if err := rows.Scan(&idx, &next.Draw, &next.Sample.Key, &next.Stored, &runIDs, &baseURL, &model, &completion, &finish,
				&ptok, &ctok, &latency, &attempts, &batch, &seed, &errText, &status, &created, &batched,
				&target, &valid, &hit, &value, &label); err != nil {
				yield(nil, err)
				return
			}
			if idx != lastIdx {
				if r != nil && !yield(r, nil) {
					return
				}
				lastIdx = idx
				r = &next
				r.Instance, r.Probe, r.Prompt = c.Instance, c.Probe, c.Prompt
				sm := &r.Sample
				sm.Probe, sm.Prompt, sm.Draw = r.Probe, r.Prompt, r.Draw
				if r.Stored {
					sm.RunID, sm.BaseURL, sm.Model = runIDs.Int64, baseURL.String, model.String
					sm.Completion, sm.FinishReason, sm.Err = completion.String, finish.String, errText.String
					sm.PromptTokens, sm.CompletionTokens = int(ptok.Int64), int(ctok.Int64)
					sm.Latency = fromMS(latency.Float64)
					sm.Attempts, sm.Batch, sm.HTTPStatus = int(attempts.Int64), int(batch.Int64), int(status.Int64)
					sm.Batched = batched
					if seed.Valid {
						v := seed.Int64
						sm.RequestSeed = &v
					}
					sm.CreatedAt = parseTime(created)
				}
			}
			if target.Valid {
				sc := Score{Target: target.String, Valid: valid.Bool, Hit: hit.Bool, Value: math.NaN(), Label: label.String}
				if value.Valid {
					sc.Value = value.Float64
				}
				r.Scores = append(r.Scores, sc)
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, err)
			return
		}
		if r != nil {
			yield(r, nil)
		}
	}
}

// cellRowsQuery is the query of cellRows for cell c: the cell ?2..?5 of
// run ?1 with its scores under scorer row id ?6, one row per draw and
// score, scores in target order after their draw's other columns.
func cellRowsQuery(c PlanCell) string {
	return `SELECT rs.idx, rs.draw, rs.key,
				s.id IS NOT NULL, s.run_id, s.base_url, s.model, s.completion, s.finish_reason, s.prompt_tokens, s.completion_tokens,
				s.latency_ms, s.attempts, s.batch, s.request_seed, s.error, s.http_status, s.created_at, coalesce(s.batched, 0),
				sc.target, sc.valid, sc.hit, sc.value, sc.label
			FROM run_samples rs
			LEFT JOIN samples s ON ` + sampleOf + `
			LEFT JOIN scores sc ON sc.sample_id = s.id AND sc.scorer_id = ?6 AND s.error IS NULL
			WHERE rs.run_id = ?1 AND rs.idx BETWEEN ?2 AND ?3 AND rs.model_id = ?4 AND rs.prompt_id = ?5
			ORDER BY ` + cellOrder(c) + `, sc.target`
}
