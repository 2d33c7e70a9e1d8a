package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// Scorers are the scorers of a suite's probes.
type Scorers struct {
	// ByProbe holds every probe's scorer.
	ByProbe map[string]Scorer
	// Workers is how many samples the scoring phase scores at once.
	Workers int
	cache   *memoryJudgeCache
}

// Inline returns the scorers cheap enough to run while sampling (every
// scorer but LLM judges).
func (s *Scorers) Inline() map[string]Scorer {
	out := map[string]Scorer{}
	for probe, sc := range s.ByProbe {
		if _, judge := sc.(*judgeScorer); !judge {
			out[probe] = sc
		}
	}
	return out
}

// IDs returns the scorer ID of every probe.
func (s *Scorers) IDs() map[string]string {
	out := map[string]string{}
	for probe, sc := range s.ByProbe {
		out[probe] = sc.ID()
	}
	return out
}

// ClientFactory makes the single-attempt client of one endpoint.
type ClientFactory func(in suites.Instance, apiKey string, hc *http.Client) Client

// BuildScorers builds the scorer of every probe of s. Judge scorers get
// clients from newClient (nil: the OpenAI client) with the judges' rate
// limits, retries and concurrency; getenv reads their API keys. With
// newClient and getenv both nil no judge call can be made: use it to
// compute scorer IDs and targets only.
func BuildScorers(s *suites.Suite, getenv func(string) string, newClient ClientFactory, retry RetryPolicy) (*Scorers, error) {
	return buildScorers(s, getenv, newClient, retry, nil)
}

// buildScorers is BuildScorers with the judges' clients behind the
// circuit breakers of bs (nil: none).
func buildScorers(s *suites.Suite, getenv func(string) string, newClient ClientFactory, retry RetryPolicy, bs *breakers) (*Scorers, error) {
	out := &Scorers{ByProbe: map[string]Scorer{}, Workers: runtime.GOMAXPROCS(0), cache: newMemoryJudgeCache()}
	endpoints := map[string]JudgeEndpoint{}
	judgeWorkers := 0
	var judgeKeys, judgeURLs []string
	for _, p := range s.Probes {
		if p.Score.Judge == nil {
			sc, err := NewScorer(p.Score)
			if err != nil {
				return nil, fmt.Errorf("probe %s: %w", p.ID, err)
			}
			out.ByProbe[p.ID] = sc
			continue
		}
		spec, err := p.Score.Judge.Resolved(s.JudgeNames())
		if err != nil {
			return nil, fmt.Errorf("probe %s: %w", p.ID, err)
		}
		var judges []JudgeEndpoint
		for _, name := range spec.Judges {
			je, ok := endpoints[name]
			if !ok {
				in, found := s.JudgeInstance(name)
				if !found {
					return nil, fmt.Errorf("probe %s: unknown judge %q", p.ID, name)
				}
				je = JudgeEndpoint{Name: name, Instance: in}
				if getenv != nil || newClient != nil {
					c, key, err := judgeClient(in, getenv, newClient, retry, bs.get(in.BaseURL))
					if err != nil {
						return nil, err
					}
					je.Client = c
					judgeKeys = append(judgeKeys, key)
					judgeWorkers += *in.Settings.Concurrency
				}
				endpoints[name] = je
				judgeURLs = append(judgeURLs, in.BaseURL)
			}
			judges = append(judges, je)
		}
		sc, err := NewJudgeScorer(spec, judges, out.cache)
		if err != nil {
			return nil, fmt.Errorf("probe %s: %w", p.ID, err)
		}
		out.ByProbe[p.ID] = sc
	}
	out.Workers = max(out.Workers, judgeWorkers)
	// What judges answer and their errors are stored: without the keys
	// and URL credentials of any judge.
	redact := NewRedactor(judgeKeys, judgeURLs)
	for _, sc := range out.ByProbe {
		if js, ok := sc.(*judgeScorer); ok {
			js.redact = redact
		}
	}
	return out, nil
}

// judgeClient returns the client of judge in: behind its endpoint's
// breaker br (nil: none), rate-limited, retrying with retry and in's
// max_retries, and keeping at most in's concurrency calls in flight. It
// returns the API key it read, too.
func judgeClient(in suites.Instance, getenv func(string) string, newClient ClientFactory, retry RetryPolicy, br *breaker) (Client, string, error) {
	key, err := instanceKey(in, getenv, "judge")
	if err != nil {
		return nil, "", err
	}
	hc := &http.Client{Transport: NewTransport(*in.Settings.Concurrency)}
	policy := retry
	policy.MaxRetries = *in.Settings.MaxRetries
	c := WithRetry(instanceClient(in, key, hc, newClient, br), policy)
	return WithConcurrency(c, *in.Settings.Concurrency), key, nil
}

// ScoreSummary is what a scoring phase did.
type ScoreSummary struct {
	Scored      int  // samples scored now
	Unjudged    int  // samples left unscored because a judge call failed
	Interrupted bool // ctx was cancelled before every sample was scored
}

type scoreItem struct {
	key, probe, prompt, completion string
	judged                         []string // the judge calls it needs (Prefetcher), nil for other scorers
}

// scoreChunk is how many items ScoreMissing reads ahead: the judge calls
// they need are looked up in the store together.
const scoreChunk = 1024

// ScoreMissing scores every successful sample of a run that has no scores
// under its probe's scorer: samples reused from a run with another rule,
// and every sample of an LLM-judge probe. It is a Stage with one lane of
// sc.Workers workers, fed from the store's rows as they are read (a chunk
// of scoreChunk items at a time, whose stored judge calls are looked up
// together): scores, judge calls and which calls are behind each score
// are stored in batches, and on cancellation calls in flight may finish
// within grace (zero means 30 s). Samples whose judge call failed stay
// unscored and are counted in Unjudged. prompts holds the run's prompt
// texts by probe id and prompt index (Plan.Prompts of the run's suite).
func ScoreMissing(ctx context.Context, store ScoreStore, runID int64, prompts map[string][]string, sc *Scorers, progress *Progress, grace time.Duration) (ScoreSummary, error) {
	var sum ScoreSummary
	db := context.WithoutCancel(ctx)
	ids := sc.IDs()
	missing := 0
	for probe, id := range ids {
		n, err := store.Unscored(db, runID, probe, id)
		if err != nil {
			return sum, err
		}
		missing += n
	}
	if missing == 0 {
		return sum, nil
	}
	if progress != nil {
		progress.ToScore.Store(int64(missing))
	}
	var readErr error // of the rows feeding the stage
	items := func(yield func(scoreItem) bool) {
		chunk := make([]scoreItem, 0, scoreChunk)
		var prefetch []string
		flush := func() bool {
			if len(prefetch) > 0 {
				known, err := store.Judgments(db, prefetch)
				if err != nil {
					readErr = err
					return false
				}
				// A new generation per chunk: the cache holds about
				// two chunks' judgments, whatever the run's size.
				sc.cache.reload(known)
			}
			for _, it := range chunk {
				if !yield(it) {
					return false
				}
			}
			chunk, prefetch = chunk[:0], prefetch[:0]
			return true
		}
		for row, err := range store.Rows(db, runID, func(probe string) string { return ids[probe] }) {
			if err != nil {
				readErr = err
				return
			}
			s := sc.ByProbe[row.Probe]
			if !row.Stored || row.Sample.Failed() || row.Scores != nil || s == nil {
				continue
			}
			it := scoreItem{key: row.Sample.Key, probe: row.Probe, prompt: promptText(prompts, row.Probe, row.Prompt), completion: row.Sample.Completion}
			if pf, ok := s.(Prefetcher); ok {
				it.judged = pf.Keys(it.prompt, it.completion)
				prefetch = append(prefetch, it.judged...)
			}
			if chunk = append(chunk, it); len(chunk) == scoreChunk && !flush() {
				return
			}
		}
		flush()
	}

	// scored is the outcome of one item: its scores (ss.Scores nil when a
	// judge call failed), and the judge calls behind them.
	type scored struct {
		probe  string
		ss     results.ScoredSample
		ok     bool // scored: ss.Scores are to be stored
		judged []string
	}
	var unjudged atomic.Int64 // keys are unique per run: one count per sample
	var scoredN atomic.Int64
	stage := &Stage[scoreItem, scored]{
		Grace: grace,
		Lanes: []Lane[scoreItem, scored]{{
			Items:   items,
			Workers: sc.Workers,
			Work: func(ctx context.Context, it scoreItem) ([]scored, error) {
				if progress != nil {
					defer progress.Scored.Add(1)
				}
				scores, err := sc.ByProbe[it.probe].Score(ctx, it.prompt, it.completion)
				// The judge calls behind a sample are recorded whatever
				// happened to them, so that a report counts the ones made.
				unscored := []scored{{probe: it.probe, ss: results.ScoredSample{Key: it.key}, judged: it.judged}}
				switch {
				case errors.Is(err, ErrJudgeFailed):
					unjudged.Add(1)
					return unscored, nil
				case ctx.Err() != nil, errors.Is(err, context.Canceled):
					// interrupted: the sample stays unscored
					if it.judged == nil {
						return nil, nil
					}
					return unscored, nil
				case errors.Is(err, ErrBudget):
					// max_cost: unscored, and no more judge calls
					if it.judged == nil {
						unscored = nil
					}
					return unscored, fmt.Errorf("%w: %w", ErrStopLane, err)
				case err != nil:
					return nil, fmt.Errorf("score sample %s: %w", it.key, err)
				}
				return []scored{{probe: it.probe, ss: results.ScoredSample{Key: it.key, Scores: scores}, ok: true, judged: it.judged}}, nil
			},
		}},
		// Judge calls go to the store with the scores that used them.
		Sink: func(batch []scored) error {
			if err := store.PutJudgments(db, sc.cache.drain()); err != nil {
				return err
			}
			byProbe := map[string][]results.ScoredSample{}
			judged := map[string][]results.JudgedSample{}
			n := 0
			for _, r := range batch {
				if r.judged != nil {
					judged[r.probe] = append(judged[r.probe], results.JudgedSample{Key: r.ss.Key, Judgments: r.judged})
				}
				if r.ok {
					byProbe[r.probe] = append(byProbe[r.probe], r.ss)
					n++
				}
			}
			for probe, js := range judged {
				if err := store.PutJudgedSamples(db, ids[probe], js); err != nil {
					return err
				}
			}
			for probe, ss := range byProbe {
				if err := store.PutScores(db, ids[probe], ss); err != nil {
					return err
				}
			}
			scoredN.Add(int64(n))
			return nil
		},
	}
	err := stage.Run(ctx)
	if err == nil {
		err = readErr
	}
	// Judge calls that scored nothing (failed ones) are stored too, so
	// that a report can count them.
	if perr := store.PutJudgments(db, sc.cache.drain()); perr != nil && err == nil {
		err = perr
	}
	sum.Scored = int(scoredN.Load())
	sum.Unjudged = int(unjudged.Load())
	sum.Interrupted = ctx.Err() != nil && sum.Scored+sum.Unjudged < missing
	return sum, err
}

// promptText returns prompt idx of probe in prompts, or "" when there is
// no such prompt.
func promptText(prompts map[string][]string, probe string, idx int) string {
	texts := prompts[probe]
	if idx < 0 || idx >= len(texts) {
		return ""
	}
	return texts[idx]
}
