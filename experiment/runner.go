package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/results"
)

// Stage names one stage of an experiment; each runs the stages before it
// first (skipping what is done).
type Stage string

// The stages, in order.
const (
	StageGenerate Stage = "generate"
	StageFilter   Stage = "filter"
	StageFineTune Stage = "finetune"
	StageEvaluate Stage = "evaluate"
)

// Stages lists the stages in order.
var Stages = []Stage{StageGenerate, StageFilter, StageFineTune, StageEvaluate}

// Runner runs an experiment's stages into a results database. Its zero
// value is not usable: set Store.
type Runner struct {
	// Store is the results database every artefact is recorded in.
	Store *results.Store
	// Getenv reads API keys; nil means os.Getenv.
	Getenv func(string) string
	// NewClient, when set, makes the chat clients of generation and
	// evaluation (tests, the built-in lab); nil means the OpenAI client.
	NewClient bench.ClientFactory
	// HTTPClient, when set, carries the fine-tuning requests; nil means
	// bench.NewFineTuneHTTPClient().
	HTTPClient *http.Client
	// Version is recorded with the runs.
	Version string
	// MaxErrorRate is the largest fraction of failed samples, in [0, 1],
	// for which a generation or evaluation run still counts as complete.
	MaxErrorRate float64
	// Grace is how long in-flight requests may finish after ctx is
	// cancelled; 0 means 30 s.
	Grace time.Duration
	// Sampling, when set, is called before each sampling run (what names
	// it) and returns the progress to update and a function to call when
	// the run ends.
	Sampling func(what string) (*bench.Progress, func())
	// Log, when set, receives one line per step.
	Log io.Writer
	// CancelOnStop cancels the fine-tuning jobs being waited on when ctx
	// ends; without it they go on at the provider and a later run
	// resumes polling them.
	CancelOnStop bool
	// RetryFailed makes a new job (a new attempt) for a student whose
	// recorded job failed or was cancelled, instead of reporting it.
	RetryFailed bool
	// FineTuneRetry bounds the retries of each fine-tuning API call; zero
	// means bench.DefaultRetryPolicy().
	FineTuneRetry bench.RetryPolicy

	logMu sync.Mutex // the fine-tuning jobs log concurrently
}

// Outcome is what Run did.
type Outcome struct {
	// Plan is the experiment's plan.
	Plan *Plan
	// ExperimentID is the experiment's row in the results database.
	ExperimentID int64
	// Evaluation is the evaluation run's outcome; nil when the stage did
	// not run (an earlier stage was asked for, or there is no suite).
	Evaluation *bench.Outcome
}

func (r *Runner) logf(format string, args ...any) {
	if r.Log != nil {
		r.logMu.Lock()
		defer r.logMu.Unlock()
		fmt.Fprintf(r.Log, format+"\n", args...)
	}
}

func (r *Runner) getenv(name string) string {
	if r.Getenv != nil {
		return r.Getenv(name)
	}
	return os.Getenv(name)
}

// Run runs the stages of e up to and including until (StageEvaluate for
// the whole experiment), each skipping what its content key says is done.
// An interruption (ctx ended) returns an error wrapping context.Canceled;
// configuration errors (a filter that keeps nothing, a dataset below the
// provider's minimum, a request the provider refuses) match
// bench.ErrConfig.
func (r *Runner) Run(ctx context.Context, e *Experiment, until Stage) (*Outcome, error) {
	p, err := e.NewPlan()
	if err != nil {
		return nil, err
	}
	db := context.WithoutCancel(ctx)
	expID, err := r.Store.PutExperiment(db, results.ExperimentRecord{Name: e.Name, Hash: e.Hash(), Source: e.Source, JSON: e.JSON()})
	if err != nil {
		return nil, err
	}
	out := &Outcome{Plan: p, ExperimentID: expID}
	st := &stageRun{Runner: r, plan: p, exp: e, expID: expID}
	for _, stage := range Stages {
		var err error
		switch stage {
		case StageGenerate:
			err = st.generate(ctx)
		case StageFilter:
			err = st.filter(ctx)
		case StageFineTune:
			err = st.finetune(ctx)
		case StageEvaluate:
			if e.Evaluate.Suite == "" {
				r.logf("evaluate: the experiment names no evaluation suite")
				break
			}
			out.Evaluation, err = st.evaluate(ctx)
		}
		if err != nil {
			return out, err
		}
		if ctx.Err() != nil {
			return out, fmt.Errorf("%s: %w", stage, context.Canceled)
		}
		if stage == until {
			break
		}
	}
	return out, nil
}

// stageRun is one Run: the runner, the plan and the experiment's row.
type stageRun struct {
	*Runner
	plan  *Plan
	exp   *Experiment
	expID int64
}

// ParseStage reads a stage name.
func ParseStage(s string) (Stage, error) {
	for _, st := range Stages {
		if string(st) == s {
			return st, nil
		}
	}
	names := make([]string, len(Stages))
	for i, st := range Stages {
		names[i] = string(st)
	}
	return "", fmt.Errorf("unknown stage %q (have %s)", s, strings.Join(names, ", "))
}

// errInterrupted is returned when a sampling run was interrupted.
func errInterrupted(what string) error {
	return fmt.Errorf("%s: interrupted: %w", what, context.Canceled)
}

// IsInterrupted reports whether err is an interruption of a stage.
func IsInterrupted(err error) bool { return errors.Is(err, context.Canceled) }
