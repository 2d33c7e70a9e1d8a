package results

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// BatchPrepared is the status of a batch recorded before its input file
// was uploaded and the batch created at the provider.
const BatchPrepared = "prepared"

// Batch is one input file of a run submitted to a provider's Batch API:
// the row of the batches table. Empty ids are not known yet.
type Batch struct {
	ID         int64  // row id
	RunID      int64  // the run it samples for
	Instance   int    // InstanceRow.Index of the model it samples; negative for a judge's batch (-1 - the kind of judge call, see package bench)
	ContentKey string // hex SHA-256 of the input file's bytes
	// Attempt is 0 for the first submission of this content, n for the
	// n-th resubmission (run --resubmit-failed of the same lines).
	Attempt      int
	BaseURL      string
	Lines        int   // requests in the file
	Bytes        int64 // size of the file
	FileID       string
	BatchID      string
	Status       string // BatchPrepared, or the provider's status
	OutputFileID string
	ErrorFileID  string
	Message      string // the provider's errors of a failed batch
	// Collected is true once every line's samples are stored.
	Collected bool
	// EstPromptTokens and EstCompletionTokens estimate the file's
	// tokens as a dry run does (bench.EstimatePromptTokens and
	// EstimateCompletionTokens summed over its requests); 0 for a batch
	// recorded before schema version 10.
	EstPromptTokens, EstCompletionTokens int64
	CreatedAt                            time.Time
	UpdatedAt                            time.Time
}

// BatchLine is one request of a batch's input file.
type BatchLine struct {
	CustomID string // the key of the request's first draw
	Draws    int    // consecutive draws it asks for (OpenAI's n)
	// PlanIndex is the plan position of the request's first draw in the
	// run's plan, so that a restarted run finds the line's draws without
	// a table of every key; -1 when not recorded (lines recorded before
	// schema version 9, or merged from a shard's database, whose plan
	// positions are the shard's).
	PlanIndex int
}

const batchColumns = `id, run_id, instance, content_key, attempt, base_url, lines, bytes, file_id, batch_id, status,
	output_file_id, error_file_id, message, collected, created_at, updated_at, est_prompt_tokens, est_completion_tokens`

func scanBatch(r scanner) (Batch, error) {
	var b Batch
	var created, updated sql.NullString
	err := r.Scan(&b.ID, &b.RunID, &b.Instance, &b.ContentKey, &b.Attempt, &b.BaseURL, &b.Lines, &b.Bytes, &b.FileID, &b.BatchID, &b.Status,
		&b.OutputFileID, &b.ErrorFileID, &b.Message, &b.Collected, &created, &updated, &b.EstPromptTokens, &b.EstCompletionTokens)
	b.CreatedAt, b.UpdatedAt = parseTime(created), parseTime(updated)
	return b, err
}

// AddBatch records a new batch of a run with its lines, in one
// transaction, before anything is sent to the provider; b.ID and
// b.Attempt are ignored: the attempt is one more than the run's last batch
// of the same content (0 for the first). It returns the batch as stored.
func (s *Store) AddBatch(ctx context.Context, b Batch, lines []BatchLine) (Batch, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Batch{}, fmt.Errorf("record batch: %w", err)
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx, `SELECT coalesce(max(attempt) + 1, 0) FROM batches WHERE run_id = ? AND content_key = ?`, b.RunID, b.ContentKey).Scan(&b.Attempt)
	if err != nil {
		return Batch{}, fmt.Errorf("record batch: %w", err)
	}
	if b.Status == "" {
		b.Status = BatchPrepared
	}
	ts := now()
	res, err := tx.ExecContext(ctx, `INSERT INTO batches (run_id, instance, content_key, attempt, base_url, lines, bytes, file_id, batch_id, status,
		output_file_id, error_file_id, message, collected, created_at, updated_at, est_prompt_tokens, est_completion_tokens)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.RunID, b.Instance, b.ContentKey, b.Attempt, b.BaseURL, b.Lines, b.Bytes, b.FileID, b.BatchID, b.Status,
		b.OutputFileID, b.ErrorFileID, b.Message, b.Collected, ts, ts, b.EstPromptTokens, b.EstCompletionTokens)
	if err != nil {
		return Batch{}, fmt.Errorf("record batch: %w", err)
	}
	if b.ID, err = res.LastInsertId(); err != nil {
		return Batch{}, fmt.Errorf("record batch: %w", err)
	}
	rows := make([][]any, len(lines))
	for i, l := range lines {
		var pos sql.NullInt64
		if l.PlanIndex >= 0 {
			pos = sql.NullInt64{Int64: int64(l.PlanIndex), Valid: true}
		}
		rows[i] = []any{b.ID, i, l.CustomID, l.Draws, pos}
	}
	if err := bulkInsert(ctx, tx, `INSERT INTO batch_lines (batch_id, idx, custom_id, draws, plan_idx)`, "", rows); err != nil {
		return Batch{}, fmt.Errorf("record lines of batch: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Batch{}, fmt.Errorf("record batch: %w", err)
	}
	b.CreatedAt = parseTime(sql.NullString{String: ts, Valid: true})
	b.UpdatedAt = b.CreatedAt
	return b, nil
}

// UpdateBatch stores what is known of a recorded batch: its provider ids,
// status, output and error files, message and whether it is collected.
func (s *Store) UpdateBatch(ctx context.Context, b Batch) error {
	res, err := s.db.ExecContext(ctx, `UPDATE batches SET file_id = ?, batch_id = ?, status = ?, output_file_id = ?, error_file_id = ?,
		message = ?, collected = ?, updated_at = ? WHERE id = ?`,
		b.FileID, b.BatchID, b.Status, b.OutputFileID, b.ErrorFileID, b.Message, b.Collected, now(), b.ID)
	if err := checkUpdated(res, err); err != nil {
		return fmt.Errorf("update batch %d: %w", b.ID, err)
	}
	return nil
}

// Batches returns the batches recorded for a run, oldest first.
func (s *Store) Batches(ctx context.Context, runID int64) ([]Batch, error) {
	var out []Batch
	err := queryEach(s.db.QueryContext(ctx, `SELECT `+batchColumns+` FROM batches WHERE run_id = ? ORDER BY id`, runID))(func(r *sql.Rows) error {
		b, err := scanBatch(r)
		if err != nil {
			return err
		}
		out = append(out, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("batches of run %d: %w", runID, err)
	}
	return out, nil
}

// BatchLines returns the lines of a recorded batch in the order they were
// recorded (the order of its input file).
func (s *Store) BatchLines(ctx context.Context, batchID int64) ([]BatchLine, error) {
	var out []BatchLine
	err := queryEach(s.db.QueryContext(ctx, `SELECT custom_id, draws, plan_idx FROM batch_lines WHERE batch_id = ? ORDER BY idx`, batchID))(func(r *sql.Rows) error {
		var l BatchLine
		var pos sql.NullInt64
		if err := r.Scan(&l.CustomID, &l.Draws, &pos); err != nil {
			return err
		}
		l.PlanIndex = -1
		if pos.Valid {
			l.PlanIndex = int(pos.Int64)
		}
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lines of batch %d: %w", batchID, err)
	}
	return out, nil
}

// FailedKeys returns which of keys hold a failed sample (and no
// successful one): the draws a batch run sends again only when asked.
func (s *Store) FailedKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(keys) == 0 {
		return out, nil
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("failed samples: %w", err)
	}
	err = queryEach(s.rdb.QueryContext(ctx, `SELECT s.key FROM json_each(?) j JOIN samples s ON s.key = j.value WHERE s.error IS NOT NULL`, string(list)))(
		func(r *sql.Rows) error {
			var k string
			if err := r.Scan(&k); err != nil {
				return err
			}
			out[k] = true
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("failed samples: %w", err)
	}
	return out, nil
}

// ErrShardMismatch is matched by errors.Is on the error of SetShard when
// a run already samples another share of the plan.
var ErrShardMismatch = errors.New("run samples another shard")

// Shard returns the share of the plan a run samples: index and count,
// or 0, 0 for a run of the whole plan.
func (s *Store) Shard(ctx context.Context, runID int64) (index, count int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT shard, shards FROM run_shards WHERE run_id = ?`, runID).Scan(&index, &count)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("shard of run %d: %w", runID, err)
	}
	return index, count, nil
}

// CheckShard reports, without writing, whether the run that ClaimRun
// would resume for suiteHash and salt can sample shard index of count
// (count 0: the whole plan): an error wrapping ErrShardMismatch when it
// samples another share. No such run is fine.
func (s *Store) CheckShard(ctx context.Context, suiteHash, salt string, index, count int) error {
	r, err := s.FindRun(ctx, suiteHash, salt)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = s.compareShard(ctx, r.ID, index, count, true)
	return err
}

// SetShard records that a claimed run samples shard index of count (count
// 0: the whole plan). It fails with ErrShardMismatch when the run was
// recorded with another share, or, for a resumed run without a shard
// record whose plan is stored, when a shard is asked for: a database
// holds one share of a suite's plan, so that a resumed run's plan and
// samples stay the same share.
func (s *Store) SetShard(ctx context.Context, runID int64, index, count int, resumed bool) error {
	recorded, err := s.compareShard(ctx, runID, index, count, resumed)
	if err != nil || recorded || count == 0 {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO run_shards (run_id, shard, shards) VALUES (?, ?, ?)`, runID, index, count); err != nil {
		return fmt.Errorf("record shard of run %d: %w", runID, err)
	}
	return nil
}

// compareShard checks a run's recorded share against index of count;
// recorded is true when the run has that share on record.
func (s *Store) compareShard(ctx context.Context, runID int64, index, count int, resumed bool) (recorded bool, err error) {
	gotIndex, gotCount, err := s.Shard(ctx, runID)
	if err != nil {
		return false, err
	}
	describe := func(i, n int) string {
		if n == 0 {
			return "the whole plan"
		}
		return fmt.Sprintf("shard %d/%d", i, n)
	}
	switch {
	case gotCount == count && gotIndex == index:
		return count != 0, nil
	case gotCount != 0:
		return false, fmt.Errorf("%w: run %d in %s samples %s, not %s: use one database per shard", ErrShardMismatch, runID, s.path, describe(gotIndex, gotCount), describe(index, count))
	}
	// No record: the run samples the whole plan, unless it is new.
	if resumed {
		var planned int
		if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM run_samples WHERE run_id = ?`, runID).Scan(&planned); err != nil {
			return false, fmt.Errorf("shard of run %d: %w", runID, err)
		}
		if planned > 0 {
			return false, fmt.Errorf("%w: run %d in %s samples the whole plan, not %s: use one database per shard", ErrShardMismatch, runID, s.path, describe(index, count))
		}
	}
	return false, nil
}
