package results

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// RateChange is one change of a run's adaptive in-flight cap for one
// endpoint × API key.
type RateChange struct {
	At       time.Time
	Endpoint string // base URL without userinfo
	KeyEnv   string // api_key_env naming the key, "" for none; never the key
	Cap      int    // requests allowed in flight after the change
	Reason   string // start, grow, rate_limited or end
}

// RunPrice is the price a run used for one model instance or judge.
type RunPrice struct {
	Kind          string  // "model" or "judge"
	Name          string  // role@seed of a model instance, or the judge's name
	Model         string  // model id
	Input         float64 // US dollars per million prompt tokens
	Output        float64 // US dollars per million completion tokens
	BatchDiscount float64 // fraction off with a batch API, in [0, 1)
	Source        string  // "suite", or the built-in table and its date
}

// Price kinds.
const (
	PriceModel = "model"
	PriceJudge = "judge"
)

// TokenUse sums the tokens of one model instance's samples.
type TokenUse struct {
	Instance         int // plan index of the instance
	PromptTokens     int64
	CompletionTokens int64
	// BatchedPromptTokens and BatchedCompletionTokens are the part of
	// the sums from samples that came through a Batch API.
	BatchedPromptTokens, BatchedCompletionTokens int64
}

// PutRateChanges appends rate changes to a run's record, after those
// stored before.
func (s *Store) PutRateChanges(ctx context.Context, runID int64, changes []RateChange) error {
	if len(changes) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store rate changes: %w", err)
	}
	defer tx.Rollback()
	var next int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq) + 1, 0) FROM rate_changes WHERE run_id = ?`, runID).Scan(&next); err != nil {
		return fmt.Errorf("store rate changes: %w", err)
	}
	rows := make([][]any, len(changes))
	for i, c := range changes {
		rows[i] = []any{runID, next + int64(i), c.Endpoint, c.KeyEnv, formatTime(c.At), c.Cap, c.Reason}
	}
	if err := bulkInsert(ctx, tx, `INSERT INTO rate_changes (run_id, seq, endpoint, key_env, at, cap, reason)`, "", rows); err != nil {
		return fmt.Errorf("store rate changes: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store rate changes: %w", err)
	}
	return nil
}

// RateChanges returns a run's rate changes in the order they happened.
func (s *Store) RateChanges(ctx context.Context, runID int64) ([]RateChange, error) {
	var out []RateChange
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT endpoint, key_env, at, cap, reason FROM rate_changes WHERE run_id = ? ORDER BY seq`, runID))(
		func(r *sql.Rows) error {
			var c RateChange
			var at sql.NullString
			if err := r.Scan(&c.Endpoint, &c.KeyEnv, &at, &c.Cap, &c.Reason); err != nil {
				return err
			}
			c.At = parseTime(at)
			out = append(out, c)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("rate changes of run %d: %w", runID, err)
	}
	return out, nil
}

// PutPrices records the prices a run uses, replacing those of an earlier
// invocation for the same model instance or judge.
func (s *Store) PutPrices(ctx context.Context, runID int64, prices []RunPrice) error {
	if len(prices) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store prices: %w", err)
	}
	defer tx.Rollback()
	rows := make([][]any, len(prices))
	for i, p := range prices {
		rows[i] = []any{runID, p.Kind, p.Name, p.Model, p.Input, p.Output, p.BatchDiscount, p.Source}
	}
	err = bulkInsert(ctx, tx, `INSERT INTO run_prices (run_id, kind, name, model, input, output, batch_discount, source)`,
		`ON CONFLICT (run_id, kind, name) DO UPDATE SET model = excluded.model, input = excluded.input, output = excluded.output,
		batch_discount = excluded.batch_discount, source = excluded.source`, rows)
	if err != nil {
		return fmt.Errorf("store prices: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store prices: %w", err)
	}
	return nil
}

// Prices returns the prices a run recorded, models then judges, each by
// name.
func (s *Store) Prices(ctx context.Context, runID int64) ([]RunPrice, error) {
	var out []RunPrice
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT kind, name, model, input, output, batch_discount, source FROM run_prices
		WHERE run_id = ? ORDER BY kind DESC, name`, runID))(
		func(r *sql.Rows) error {
			var p RunPrice
			if err := r.Scan(&p.Kind, &p.Name, &p.Model, &p.Input, &p.Output, &p.BatchDiscount, &p.Source); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("prices of run %d: %w", runID, err)
	}
	return out, nil
}

// DrawnTokens sums, per model instance, the tokens of the samples a run
// drew itself (not those it reused from another run): what sampling for
// this run has cost so far.
func (s *Store) DrawnTokens(ctx context.Context, runID int64) ([]TokenUse, error) {
	var out []TokenUse
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT m.idx, coalesce(sum(s.prompt_tokens), 0), coalesce(sum(s.completion_tokens), 0),
			coalesce(sum(CASE WHEN s.batched THEN s.prompt_tokens END), 0), coalesce(sum(CASE WHEN s.batched THEN s.completion_tokens END), 0)
		FROM run_samples rs
		JOIN samples s ON `+sampleOf+` AND s.run_id = rs.run_id
		JOIN models m ON m.id = rs.model_id
		WHERE rs.run_id = ?
		GROUP BY m.idx ORDER BY m.idx`, runID))(
		func(r *sql.Rows) error {
			var u TokenUse
			if err := r.Scan(&u.Instance, &u.PromptTokens, &u.CompletionTokens, &u.BatchedPromptTokens, &u.BatchedCompletionTokens); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("tokens drawn by run %d: %w", runID, err)
	}
	return out, nil
}
