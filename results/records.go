package results

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/traitleak/traitleak/suites"
)

// RunScorer is what a run records, when it starts, about the scorer of
// one of its probes: enough to read the run's scores without the scorer's
// code.
type RunScorer struct {
	Probe string
	// Scorer is the scorer ID, the name the probe's scores are stored
	// under (e.g. "mentions:1a2b3c4d5e6f").
	Scorer string
	// Kind is mentions, first_word, exact, regex or judge.
	Kind string
	// Targets are the targets scored, in report order.
	Targets []string
	// Hit and Miss are the verdict labels of a valid score that hits and
	// of one that misses (suites.VerdictHit, suites.VerdictMisaligned, …).
	Hit, Miss string
}

// RecordScorers returns the records of the scorers of s's probes, in
// probe order: what NewRun.Scorers holds.
func RecordScorers(s *suites.Suite) ([]RunScorer, error) {
	scorings, err := s.Scorings()
	if err != nil {
		return nil, err
	}
	return scorerRecords(scorings), nil
}

// scorerRecords are the records of scorings.
func scorerRecords(scorings []suites.Scoring) []RunScorer {
	out := make([]RunScorer, len(scorings))
	for i, sc := range scorings {
		out[i] = RunScorer{Probe: sc.Probe, Scorer: sc.ID, Kind: sc.Kind, Targets: sc.Targets, Hit: sc.Hit, Miss: sc.Miss}
	}
	return out
}

// insertRunScorers records a run's scorers.
func insertRunScorers(ctx context.Context, tx *sql.Tx, runID int64, scorers []RunScorer) error {
	rows := make([][]any, len(scorers))
	for i, sc := range scorers {
		id, err := scorerID(ctx, tx, sc.Scorer)
		if err != nil {
			return err
		}
		targets, err := json.Marshal(sc.Targets)
		if err != nil {
			return err
		}
		rows[i] = []any{runID, i, sc.Probe, id, sc.Kind, string(targets), sc.Hit, sc.Miss}
	}
	return bulkInsert(ctx, tx, `INSERT INTO run_scorers (run_id, idx, probe, scorer_id, kind, targets, hit, miss)`, "", rows)
}

// Scorers returns the scorers a run recorded, in probe order; none for a
// run whose recorded suite could not be read when the database was
// migrated to schema version 4.
func (s *Store) Scorers(ctx context.Context, runID int64) ([]RunScorer, error) {
	var out []RunScorer
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT r.probe, sr.name, r.kind, r.targets, r.hit, r.miss
		FROM run_scorers r JOIN scorers sr ON sr.id = r.scorer_id WHERE r.run_id = ? ORDER BY r.idx`, runID))(
		func(r *sql.Rows) error {
			var sc RunScorer
			var targets string
			if err := r.Scan(&sc.Probe, &sc.Scorer, &sc.Kind, &targets, &sc.Hit, &sc.Miss); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(targets), &sc.Targets); err != nil {
				return fmt.Errorf("targets of probe %s: %w", sc.Probe, err)
			}
			out = append(out, sc)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("scorers of run %d: %w", runID, err)
	}
	return out, nil
}

// JudgedSample lists the judge calls that score one stored sample under
// a scorer: its alignment and coherence calls, made, reused or failed.
type JudgedSample struct {
	Key       string   // the sample's key
	Judgments []string // judgment keys (Judgment.Key)
}

// PutJudgedSamples records, in one transaction, which judge calls score
// each of samples under scorer. Recording a link again is a no-op.
func (s *Store) PutJudgedSamples(ctx context.Context, scorer string, samples []JudgedSample) error {
	if len(samples) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store judged samples: %w", err)
	}
	defer tx.Rollback()
	sid, err := scorerID(ctx, tx, scorer)
	if err != nil {
		return fmt.Errorf("store judged samples: %w", err)
	}
	keys := make([]string, len(samples))
	for i, js := range samples {
		keys[i] = js.Key
	}
	ids, err := sampleIDs(ctx, tx, keys)
	if err != nil {
		return fmt.Errorf("store judged samples: %w", err)
	}
	var rows [][]any
	for _, js := range samples {
		id, ok := ids[js.Key]
		if !ok {
			return fmt.Errorf("store judged samples: no sample with key %s", js.Key)
		}
		for _, j := range js.Judgments {
			rows = append(rows, []any{id, sid, j})
		}
	}
	if err := insertJudgmentLinks(ctx, tx, rows); err != nil {
		return fmt.Errorf("store judged samples: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store judged samples: %w", err)
	}
	return nil
}

// insertJudgmentLinks inserts score_judgments rows (sample id, scorer
// id, judgment key), skipping those already there.
func insertJudgmentLinks(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	return bulkInsert(ctx, tx, `INSERT OR IGNORE INTO score_judgments (sample_id, scorer_id, judgment)`, "", rows)
}

// sampleIDs returns the row ids of the stored samples among keys.
func sampleIDs(ctx context.Context, tx *sql.Tx, keys []string) (map[string]int64, error) {
	// One JSON array parameter instead of thousands of bound keys.
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]int64, len(keys))
	err = queryEach(tx.QueryContext(ctx, `SELECT s.id, s.key FROM json_each(?) j JOIN samples s ON s.key = j.value`, string(list)))(
		func(r *sql.Rows) error {
			var id int64
			var key string
			if err := r.Scan(&id, &key); err != nil {
				return err
			}
			ids[key] = id
			return nil
		})
	return ids, err
}

// JudgeUsage counts the judge calls of one judge behind a run's scores.
type JudgeUsage struct {
	Judge            string // the judge's name in the suite
	Calls            int    // distinct calls, wherever they were made
	Failed           int    // of which failed after their retries
	PromptTokens     int64
	CompletionTokens int64
	// BatchedPromptTokens and BatchedCompletionTokens are the part of
	// the sums from calls that went through a Batch API.
	BatchedPromptTokens, BatchedCompletionTokens int64
}

// JudgeUsage sums, per judge (in name order), the judge calls behind the
// scores of a run's successful samples under the run's scorers, each
// distinct call once.
func (s *Store) JudgeUsage(ctx context.Context, runID int64) ([]JudgeUsage, error) {
	var out []JudgeUsage
	// Only judges' scores have judge calls behind them: a run without a
	// judge scorer has none, and need not read its draws to know it.
	var judged bool
	if err := s.rdb.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM run_scorers WHERE run_id = ? AND kind = 'judge')`, runID).Scan(&judged); err != nil {
		return nil, fmt.Errorf("judge calls of run %d: %w", runID, err)
	}
	if !judged {
		return nil, nil
	}
	err := queryEach(s.rdb.QueryContext(ctx, `WITH keys AS (
			SELECT DISTINCT sj.judgment AS key
			FROM run_samples rs
			JOIN prompts p ON p.id = rs.prompt_id
			JOIN run_scorers r ON r.run_id = rs.run_id AND r.probe = p.probe
			JOIN samples s ON `+sampleOf+` AND s.error IS NULL
			JOIN score_judgments sj ON sj.sample_id = s.id AND sj.scorer_id = r.scorer_id
			WHERE rs.run_id = ?)
		SELECT j.judge, count(*), count(j.error), coalesce(sum(j.prompt_tokens), 0), coalesce(sum(j.completion_tokens), 0),
			coalesce(sum(CASE WHEN j.batched THEN j.prompt_tokens END), 0), coalesce(sum(CASE WHEN j.batched THEN j.completion_tokens END), 0)
		FROM keys JOIN judgments j ON j.key = keys.key
		GROUP BY j.judge ORDER BY j.judge`, runID))(
		func(r *sql.Rows) error {
			var u JudgeUsage
			if err := r.Scan(&u.Judge, &u.Calls, &u.Failed, &u.PromptTokens, &u.CompletionTokens, &u.BatchedPromptTokens, &u.BatchedCompletionTokens); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("judge calls of run %d: %w", runID, err)
	}
	return out, nil
}

// recordOldRuns gives every run recorded before schema version 4 the
// records a run now makes: its scorers, from its recorded suite, and for
// its judge-scored probes the judge calls that score each of its stored
// samples, by the keys the engine computes (suites.Scoring). A run whose
// suite cannot be read keeps no records: reading its scores then fails
// with a clear error, as it did before.
func recordOldRuns(ctx context.Context, tx *sql.Tx) error {
	type oldRun struct {
		id              int64
		suiteJSON, name string
	}
	var runs []oldRun
	err := queryEach(tx.QueryContext(ctx, `SELECT id, suite_json, suite_source FROM runs ORDER BY id`))(func(r *sql.Rows) error {
		var o oldRun
		if err := r.Scan(&o.id, &o.suiteJSON, &o.name); err != nil {
			return err
		}
		runs = append(runs, o)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read runs: %w", err)
	}
	for _, o := range runs {
		s, err := suites.Recorded([]byte(o.suiteJSON), o.name)
		if err != nil {
			continue
		}
		scorings, err := s.Scorings()
		if err != nil {
			continue
		}
		if err := insertRunScorers(ctx, tx, o.id, scorerRecords(scorings)); err != nil {
			return fmt.Errorf("record scorers of run %d: %w", o.id, err)
		}
		for _, sc := range scorings {
			if sc.Judge == nil {
				continue
			}
			if err := recordOldJudgments(ctx, tx, o.id, sc); err != nil {
				return fmt.Errorf("record judge calls of run %d, probe %s: %w", o.id, sc.Probe, err)
			}
		}
	}
	return nil
}

// recordOldJudgments links every stored successful sample of a run's
// judge-scored probe to the judge calls that score it.
func recordOldJudgments(ctx context.Context, tx *sql.Tx, runID int64, sc suites.Scoring) error {
	sid, err := scorerID(ctx, tx, sc.ID)
	if err != nil {
		return err
	}
	// Read first, then write: the transaction has one connection.
	type sample struct {
		id                 int64
		prompt, completion string
	}
	var samples []sample
	err = queryEach(tx.QueryContext(ctx, `SELECT s.id, p.text, s.completion FROM run_samples rs
		JOIN prompts p ON p.id = rs.prompt_id AND p.probe = ?
		JOIN samples s ON s.key = rs.key AND s.error IS NULL
		WHERE rs.run_id = ?`, sc.Probe, runID))(func(r *sql.Rows) error {
		var x sample
		if err := r.Scan(&x.id, &x.prompt, &x.completion); err != nil {
			return err
		}
		samples = append(samples, x)
		return nil
	})
	if err != nil {
		return err
	}
	var rows [][]any
	for _, x := range samples {
		for _, k := range sc.JudgmentKeys(x.prompt, x.completion) {
			rows = append(rows, []any{x.id, sid, k})
		}
	}
	return insertJudgmentLinks(ctx, tx, rows)
}
