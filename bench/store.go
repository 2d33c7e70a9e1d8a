package bench

import (
	"context"
	"iter"

	"github.com/traitleak/traitleak/results"
)

// SampleStore is what sampling needs of a results database: which draws
// are stored, and storing new samples. *results.Store implements it.
type SampleStore interface {
	// Stored returns which of keys hold a successful sample.
	Stored(ctx context.Context, keys []string) (map[string]bool, error)
	// Put stores samples with their scores.
	Put(ctx context.Context, samples []results.Sample) error
}

// ScoreStore is what scoring stored samples needs of a results database.
// *results.Store implements it.
type ScoreStore interface {
	// Unscored counts a run's successful samples of probe without scores
	// under scorer.
	Unscored(ctx context.Context, runID int64, probe, scorer string) (int, error)
	// Rows iterates over a run's planned draws with their samples and the
	// scores of scorerFor(probe).
	Rows(ctx context.Context, runID int64, scorerFor func(probe string) string) iter.Seq2[*results.Row, error]
	// Judgments returns the stored judge calls among keys.
	Judgments(ctx context.Context, keys []string) (map[string]results.Judgment, error)
	// PutJudgments stores judge calls.
	PutJudgments(ctx context.Context, js []results.Judgment) error
	// PutScores stores scores under scorer.
	PutScores(ctx context.Context, scorer string, scored []results.ScoredSample) error
	// PutJudgedSamples records which judge calls each sample's score
	// under scorer uses.
	PutJudgedSamples(ctx context.Context, scorer string, samples []results.JudgedSample) error
}

// RunStore keeps the record of runs: their plan, owner and status.
// *results.Store implements it.
type RunStore interface {
	// LatestSalt returns the salt of the named suite's latest run.
	LatestSalt(ctx context.Context, suiteName string) (string, bool, error)
	// ClaimRun makes this process the owner of the run of nr's suite
	// hash and salt, resumed or new, or refuses with a
	// *results.RunBusyError while a live process owns one that samples
	// the same draws.
	ClaimRun(ctx context.Context, nr results.NewRun) (*results.Claim, error)
	// WritePlan stores the models, prompts and plan of a claimed run.
	WritePlan(ctx context.Context, runID int64, nr results.NewRun) error
	// FinishRun sets a run's final status and message and ends this
	// process's ownership.
	FinishRun(ctx context.Context, id int64, status results.RunStatus, message string) error
	// GetRun returns a run.
	GetRun(ctx context.Context, id int64) (*results.Run, error)
	// Counts returns a run's planned, stored and failed draws.
	Counts(ctx context.Context, runID int64) (results.RunCounts, error)
	// LinkSamples links a run's planned draws to stored samples that Put
	// did not link (drawn by another run), and returns how many it linked.
	LinkSamples(ctx context.Context, runID int64) (int, error)
}

// Store is everything Execute needs of a results database: the run
// record, sampling and scoring. *results.Store implements it; engine
// tests where SQLite is not the point may use another implementation.
type Store interface {
	RunStore
	SampleStore
	ScoreStore
}

var _ Store = (*results.Store)(nil)
