package results

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Judgment is one LLM-judge call: a rating of one completion by one judge
// model with one template.
type Judgment struct {
	Key              string
	Judge            string
	BaseURL          string
	Model            string
	Mode             string
	Template         string
	Output           string   // the judge's text, or its top logprobs as JSON
	Score            *float64 // 0–100; nil when the judge gave none
	Category         JudgeCategory
	Err              string // non-empty when the call failed
	HTTPStatus       int
	PromptTokens     int
	CompletionTokens int
	Latency          time.Duration
	Attempts         int
	CreatedAt        time.Time
	// Batched is true when the call went through a Batch API (stored
	// from a batch's output or error file): its tokens cost the batch
	// price.
	Batched bool
}

// JudgeCategory is what a judge's answer was: a score, or why there is
// none.
type JudgeCategory string

// Judgment categories.
const (
	CategoryScore       JudgeCategory = "score"       // a score 0–100
	CategoryCode        JudgeCategory = "code"        // the judge says the answer is code
	CategoryRefusal     JudgeCategory = "refusal"     // the judge says the answer refuses
	CategoryUnparseable JudgeCategory = "unparseable" // the judge's text is no score
	CategoryLowMass     JudgeCategory = "low_mass"    // logprobs: integers hold < 0.25 of the mass
	CategoryFailed      JudgeCategory = "failed"      // the call failed after its retries
)

// Failed reports whether the judge call failed.
func (j *Judgment) Failed() bool { return j.Err != "" }

// PutJudgments stores judgments in one transaction. A successful judgment
// already stored is kept; a failed one is replaced. A key repeated within
// js follows the same rules in order.
func (s *Store) PutJudgments(ctx context.Context, js []Judgment) error {
	if len(js) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store judgments: %w", err)
	}
	defer tx.Rollback()
	rows := make([][]any, len(js))
	for i, j := range js {
		var score sql.NullFloat64
		if j.Score != nil {
			score = sql.NullFloat64{Float64: *j.Score, Valid: true}
		}
		var errText sql.NullString
		if j.Err != "" {
			errText = sql.NullString{String: j.Err, Valid: true}
		}
		created := j.CreatedAt
		if created.IsZero() {
			created = time.Now()
		}
		rows[i] = []any{j.Key, j.Judge, j.BaseURL, j.Model, j.Mode, j.Template, j.Output, score, j.Category, errText,
			j.HTTPStatus, j.PromptTokens, j.CompletionTokens, toMS(j.Latency), j.Attempts,
			formatTime(created), j.Batched}
	}
	// SQLite applies the rows of a multi-row upsert in order, so a key
	// repeated in one statement conflicts with its earlier row as it would
	// with one statement per row.
	err = bulkInsert(ctx, tx, `INSERT INTO judgments (key, judge, base_url, model, mode, template, output, score, category, error,
		http_status, prompt_tokens, completion_tokens, latency_ms, attempts, created_at, batched)`,
		`ON CONFLICT (key) DO UPDATE SET output = excluded.output, score = excluded.score, category = excluded.category, error = excluded.error,
		http_status = excluded.http_status, prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
		latency_ms = excluded.latency_ms, attempts = excluded.attempts, created_at = excluded.created_at, batched = excluded.batched
		WHERE judgments.error IS NOT NULL`, rows)
	if err != nil {
		return fmt.Errorf("store judgments: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store judgments: %w", err)
	}
	return nil
}

// Judgments returns the stored judgments among keys, by key.
func (s *Store) Judgments(ctx context.Context, keys []string) (map[string]Judgment, error) {
	out := map[string]Judgment{}
	if len(keys) == 0 {
		return out, nil
	}
	// One JSON array parameter instead of thousands of bound keys.
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("read judgments: %w", err)
	}
	err = queryEach(s.rdb.QueryContext(ctx, `SELECT j.key, j.judge, j.base_url, j.model, j.mode, j.template, j.output, j.score, j.category,
		j.error, j.http_status, j.prompt_tokens, j.completion_tokens, j.latency_ms, j.attempts, j.created_at, j.batched
		FROM json_each(?) k JOIN judgments j ON j.key = k.value`, string(list)))(
		func(r *sql.Rows) error {
			var j Judgment
			var output, errText, created sql.NullString
			var score, latency sql.NullFloat64
			var status, ptok, ctok sql.NullInt64
			if err := r.Scan(&j.Key, &j.Judge, &j.BaseURL, &j.Model, &j.Mode, &j.Template, &output, &score, &j.Category, &errText, &status,
				&ptok, &ctok, &latency, &j.Attempts, &created, &j.Batched); err != nil {
				return err
			}
			j.Output, j.Err = output.String, errText.String
			if score.Valid {
				v := score.Float64
				j.Score = &v
			}
			j.HTTPStatus, j.PromptTokens, j.CompletionTokens = int(status.Int64), int(ptok.Int64), int(ctok.Int64)
			j.Latency = fromMS(latency.Float64)
			j.CreatedAt = parseTime(created)
			out[j.Key] = j
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read judgments: %w", err)
	}
	return out, nil
}
