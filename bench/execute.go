package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/sequential"
	"github.com/traitleak/traitleak/suites"
)

// ErrConfig marks errors in the configuration of a run (a missing API key
// variable, say), as opposed to failures while running it.
var ErrConfig = errors.New("configuration error")

// Options configure Execute.
type Options struct {
	// Fresh starts over with a new salt instead of reusing stored samples.
	Fresh bool
	// MaxErrorRate is the largest fraction of failed samples, in [0, 1],
	// for which a run still counts as complete.
	MaxErrorRate float64
	// Version is recorded with the run.
	Version string
	// Progress, when non-nil, is updated while sampling.
	Progress *Progress
	// Grace is how long in-flight requests may finish after ctx is
	// cancelled; 0 means 30 s.
	Grace time.Duration
	// Getenv reads API keys; nil means os.Getenv.
	Getenv func(string) string
	// Retry overrides the default retry delays (MaxRetries always comes
	// from the suite); zero means DefaultRetryPolicy.
	Retry RetryPolicy
	// NewClient, when set, replaces the OpenAI client (tests, embedded
	// servers). apiKey is the key read from the instance's api_key_env.
	NewClient ClientFactory
	// Salt, when set, replaces the salt of the suite's latest run (rescore
	// uses the salt of the run it rescored).
	Salt string
	// NoSample scores stored samples without drawing missing ones
	// (rescore).
	NoSample bool
	// Breaker decides when an endpoint is down and its models stop; zero
	// means DefaultBreakerPolicy.
	Breaker BreakerPolicy
	// Wait, when a live process runs the same draws (a
	// *results.RunBusyError), waits for it to finish instead of
	// refusing, until ctx is done.
	Wait bool
	// Waiting, when set, is called once when Prepare starts to wait, with
	// the run it waits for.
	Waiting func(busy *results.RunBusyError)
	// RateControl tunes the adaptive limit of each endpoint × API key;
	// zero means the defaults.
	RateControl RateControl
	// Shard, when not the whole plan, plans and samples only this share
	// of the suite's jobs (see Shard); the store must implement
	// ShardStore.
	Shard Shard
	// Batch, when set, sends the jobs of the models it selects through
	// their provider's Batch API instead of one request each (see
	// BatchOptions).
	Batch *BatchOptions
}

// Outcome is the result of Execute.
type Outcome struct {
	Run     *results.Run
	Resumed bool // an earlier run of the same suite and salt was continued
	Skipped int  // draws already stored before this invocation
	Summary Summary
	Scoring ScoreSummary
	// JudgeBatch is what the judges that batch did before scoring.
	JudgeBatch JudgeBatchSummary
	Counts     results.RunCounts
	// Sequential holds the state of each sequential rule at the end of a
	// sequential run (Suite.UntilDecided), in rule order; nil otherwise.
	Sequential []sequential.State
}

// Execute runs a suite into a store: Prepare, then Prepared.Run. It
// returns an error only when it could not do its work (database failure,
// bad configuration); a run with failed samples or an interruption is an
// Outcome with the matching status.
func Execute(ctx context.Context, store Store, s *suites.Suite, opt Options) (*Outcome, error) {
	p, err := Prepare(ctx, store, s, opt)
	if err != nil {
		return nil, err
	}
	return p.Run(ctx)
}

// Prepared is a suite ready to run into a store: its plan, the run that
// records it (an earlier run of the same suite content and salt, resumed,
// or a new one), the draws still to sample and the clients that will
// sample them. Prepare makes it; Run runs it, once.
type Prepared struct {
	// Plan is the suite's complete plan.
	Plan *Plan
	// Resumed is true when an earlier run of the same suite and salt is
	// continued.
	Resumed bool
	// Skipped counts the planned draws already stored.
	Skipped int
	// Pending are the draws still to sample (none with Options.NoSample).
	Pending *Pending

	store   Store
	opt     Options
	scorers *Scorers
	clients []Client
	retry   RetryPolicy
	redact  *Redactor
	run     *results.Run // claimed: owned by this process until finished
	keys    []string     // API keys, by plan instance
	batched []bool       // instances sampled through a Batch API; nil: none
	// The plan of a new run is written while sampling starts: nothing
	// needs it before the first batch of samples is stored, and that
	// write waits for it (awaitPlan).
	planned chan struct{}
	planErr error
	seq     *seqRun     // set for a sequential run (Suite.UntilDecided)
	ctl     *runControl // rate limiters and the max_cost meter
}

// Prepare plans a suite, reads the API keys, builds scorers and clients,
// claims the run of the same suite content and salt (resumed, or a new
// one: results.Store.ClaimRun) and finds the draws already stored. No
// model is called. While a live process runs the same draws, Prepare
// returns a *results.RunBusyError, or with Options.Wait waits for it.
// Once Prepare succeeds, the run is this process's until Run finishes it:
// call Run.
func Prepare(ctx context.Context, store Store, s *suites.Suite, opt Options) (*Prepared, error) {
	if role := s.UnresolvedLineage(); role != "" {
		return nil, fmt.Errorf("%w: model %s names its students by lineage %s, not resolved against the results database (see experiment.ResolveLineage)",
			ErrConfig, role, s.Role(role).Lineage)
	}
	getenv := opt.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	// Bookkeeping runs to completion even after an interrupt, so that an
	// early Ctrl-C still leaves a consistent run marked interrupted; only
	// sampling stops at ctx.
	db := context.WithoutCancel(ctx)
	salt, err := chooseSalt(db, store, s.Name, opt)
	if err != nil {
		return nil, err
	}
	plan := NewPlan(s, salt)
	var seq *seqRun
	if s.UntilDecided && !opt.NoSample {
		// Rounds are decided over every model's draws of a prompt: a
		// shard holds only some of them, and a batch answers too late to
		// stop early.
		if !opt.Shard.Whole() || opt.Batch != nil {
			return nil, fmt.Errorf("%w: sampling until decided (--until-decided) cannot be combined with --shard or --batch", ErrConfig)
		}
		// Sampled in rounds: the plan starts with the rules' first step.
		if seq, err = newSeqRun(store, s, plan); err != nil {
			return nil, err
		}
	}
	plan.Restrict(opt.Shard)
	keys := make([]string, len(plan.Instances))
	for i, in := range plan.Instances {
		if keys[i], err = instanceKey(in, getenv, "model"); err != nil {
			return nil, err
		}
	}
	retry := opt.Retry
	if retry == (RetryPolicy{}) {
		retry = DefaultRetryPolicy()
	}
	redact := suiteRedactor(s, plan, keys, getenv)
	ctl := newRunControl(s, plan.Instances, keys, getenv, opt.RateControl, redact)
	// One breaker per endpoint, shared by the models and judges on it.
	bs := newBreakers(opt.Breaker, redact)
	scorers, err := buildScorers(s, getenv, ctl.factory(opt.NewClient, true), retry, bs)
	if err != nil {
		if errors.Is(err, ErrConfig) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	scorerRecords, err := results.RecordScorers(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	// Batch preflight before the claim: a request too large for a batch
	// file, or a provider without a Batch API, writes nothing. Models
	// are not sampled with NoSample: only judges batch.
	var batched []bool
	if !opt.NoSample {
		if err := preflightBatch(ctx, plan, keys, opt.Batch); err != nil {
			return nil, err
		}
		batched = batchedInstances(plan, opt.Batch)
	}
	if err := preflightJudgeBatch(ctx, s, getenv, opt.Batch, store); err != nil {
		return nil, err
	}

	p := &Prepared{Plan: plan, store: store, opt: opt, scorers: scorers, retry: retry, redact: redact, planned: make(chan struct{}),
		seq: seq, ctl: ctl, keys: keys, batched: batched}
	nr := redactRunRecord(newRunRecord(s, plan, scorerRecords, opt.Version), redact)
	if err := checkShard(db, store, nr, opt.Shard); err != nil {
		return nil, err
	}
	claim, err := claimRun(ctx, store, nr, opt)
	if err != nil {
		return nil, err
	}
	p.run, p.Resumed = claim.Run, claim.Resumed
	if err := recordShard(db, store, p.run.ID, opt.Shard, p.Resumed); err != nil {
		close(p.planned) // no plan is written: fail need not wait for one
		return nil, errors.Join(err, p.fail(db, err))
	}
	if claim.NeedsPlan {
		go func() {
			defer close(p.planned)
			p.planErr = store.WritePlan(db, p.run.ID, nr)
		}()
	} else {
		close(p.planned)
	}

	pending, err := FindPending(db, plan, store)
	if err != nil {
		// The run is claimed: leave it finished.
		return nil, errors.Join(err, p.fail(db, err))
	}
	p.Skipped = plan.Total() - pending.Draws()
	if err := ctl.start(db, store, p.run.ID, plan.Instances); err != nil {
		return nil, errors.Join(err, p.fail(db, err))
	}
	p.Pending = pending
	if opt.NoSample {
		p.Pending = NoPending(plan)
	}

	p.clients = make([]Client, len(plan.Instances))
	httpClients := map[string]*http.Client{}
	conns := map[string]int{}
	for _, in := range plan.Instances {
		conns[hostOf(in.BaseURL)] += *in.Settings.Concurrency
	}
	for i, in := range plan.Instances {
		host := hostOf(in.BaseURL)
		hc := httpClients[host]
		if hc == nil {
			hc = &http.Client{Transport: NewTransport(conns[host])}
			httpClients[host] = hc
		}
		p.clients[i] = instanceClient(in, keys[i], hc, ctl.factory(opt.NewClient, false), bs.get(in.BaseURL))
	}
	return p, nil
}

// claimRun claims nr's run; with opt.Wait it retries while another live
// process runs the same draws, backing off from 10 ms to 1 s, until ctx is
// done.
func claimRun(ctx context.Context, store RunStore, nr results.NewRun, opt Options) (*results.Claim, error) {
	db := context.WithoutCancel(ctx)
	delay := 10 * time.Millisecond
	for waited := false; ; waited = true {
		c, err := store.ClaimRun(db, nr)
		var busy *results.RunBusyError
		if !opt.Wait || !errors.As(err, &busy) {
			return c, err
		}
		if !waited && opt.Waiting != nil {
			opt.Waiting(busy)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("wait for run %d (process %d on %s): %w", busy.Run.ID, busy.Run.PID, busy.Run.Host, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// awaitPlan waits until the run's plan is stored.
func (p *Prepared) awaitPlan() error {
	<-p.planned
	return p.planErr
}

// fail records the run as failed with err's message, and returns the
// error of recording it.
func (p *Prepared) fail(db context.Context, err error) error {
	_ = p.awaitPlan() // let the plan write end before the run does
	return p.store.FinishRun(db, p.run.ID, results.StatusFailed, err.Error())
}

// Run samples every pending draw, scores stored samples that lack scores,
// and records the run's final status. It returns an error only when it
// could not do its work (database failure); a run with failed samples or
// an interruption is an Outcome with the matching status.
func (p *Prepared) Run(ctx context.Context) (*Outcome, error) {
	if p.seq != nil {
		return p.runSequential(ctx)
	}
	db := context.WithoutCancel(ctx)
	store, opt, run := p.store, p.opt, p.run
	out := &Outcome{Run: run, Resumed: p.Resumed, Skipped: p.Skipped}
	stopLimiters := context.AfterFunc(ctx, p.ctl.interrupt)
	defer stopLimiters()
	inline := p.scorers.Inline()
	runner := &Runner{Clients: p.clients, Retry: p.retry, Scorers: inline, Grace: opt.Grace, Progress: opt.Progress, Redact: p.redact,
		Workers: p.workers()}
	sink := func(batch []results.Sample) error {
		if err := p.awaitPlan(); err != nil {
			return err
		}
		for i := range batch {
			batch[i].RunID = run.ID
		}
		if err := store.Put(db, batch); err != nil {
			return err
		}
		return p.ctl.flush(db, store, run.ID)
	}
	sum, runErr := p.runBoth(ctx, runner, sink)
	out.Summary = sum
	if runErr == nil {
		runErr = p.awaitPlan()
	}
	if runErr == nil {
		// Draws stored here are linked to their samples as they are
		// stored; link the ones stored otherwise (by another run), so
		// that reading the run back follows row ids.
		_, runErr = store.LinkSamples(db, run.ID)
	}
	if runErr != nil {
		return out, errors.Join(runErr, p.fail(db, runErr))
	}
	// Samples drawn now were scored as they came in; only reused samples
	// and LLM-judge probes can lack scores under this suite's rules.
	if !sum.Interrupted && (out.Skipped > 0 || sum.Unscored > 0 || len(inline) < len(p.scorers.ByProbe)) {
		// Judges that batch answer first (judgebatch.go): scoring then
		// finds their judgments stored.
		var scorers *Scorers
		var err error
		out.JudgeBatch, scorers, err = p.batchJudges(ctx)
		if err == nil && !out.JudgeBatch.Interrupted {
			out.Scoring, err = ScoreMissing(ctx, store, run.ID, p.Plan.Prompts, scorers, opt.Progress, opt.Grace)
		}
		if err != nil {
			return out, errors.Join(err, p.fail(db, err))
		}
		out.Scoring.Interrupted = out.Scoring.Interrupted || out.JudgeBatch.Interrupted
		sum.Interrupted = out.Scoring.Interrupted
		out.Summary = sum
	}
	p.ctl.end()
	if err := p.ctl.flush(db, store, run.ID); err != nil {
		return out, errors.Join(err, p.fail(db, err))
	}
	counts, err := store.Counts(db, run.ID)
	if err != nil {
		return out, errors.Join(err, p.fail(db, err))
	}
	out.Counts = counts
	status, msg := Verdict(counts, sum, out.Scoring, opt.MaxErrorRate)
	status, msg = p.budgetVerdict(status, msg, counts)
	status, msg = out.JudgeBatch.verdict(status, msg)
	if err := store.FinishRun(db, run.ID, status, msg); err != nil {
		return out, err
	}
	out.Run, err = store.GetRun(db, run.ID)
	return out, err
}

// chooseSalt returns the salt of the run: the given one, a new one with
// Fresh, else the salt of the suite's latest run in the store, so that a
// plain re-run continues where the last one (fresh or not) stands.
func chooseSalt(ctx context.Context, store RunStore, suite string, opt Options) (string, error) {
	switch {
	case opt.Salt != "":
		return opt.Salt, nil
	case opt.Fresh:
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b), nil
	}
	latest, _, err := store.LatestSalt(ctx, suite)
	return latest, err
}

// Verdict decides a run's final status from its counts: interrupted when
// sampling was cut short, failed when draws are missing or more than
// maxErrorRate of them failed, complete otherwise. msg explains a status
// other than complete.
func Verdict(c results.RunCounts, sum Summary, sc ScoreSummary, maxErrorRate float64) (status results.RunStatus, msg string) {
	switch {
	case sum.Interrupted && c.Stored < c.Planned:
		return results.StatusInterrupted, fmt.Sprintf("interrupted with %d of %d draws stored", c.Stored, c.Planned)
	case sc.Interrupted:
		return results.StatusInterrupted, "interrupted while scoring; the judge calls made so far are stored"
	case len(sum.Stopped) == 1:
		return results.StatusFailed, sum.Stopped[0].Error() + "; stopped sampling this model"
	case len(sum.Stopped) > 1:
		return results.StatusFailed, fmt.Sprintf("%s; stopped sampling this model and %d more", sum.Stopped[0].Error(), len(sum.Stopped)-1)
	case c.Stored < c.Planned:
		return results.StatusFailed, fmt.Sprintf("%d of %d planned draws were not sampled", c.Planned-c.Stored, c.Planned)
	case c.Planned > 0 && float64(c.Failed) > maxErrorRate*float64(c.Planned):
		return results.StatusFailed, fmt.Sprintf("%d of %d samples failed (%.1f%%, more than the allowed %.1f%%)",
			c.Failed, c.Planned, 100*float64(c.Failed)/float64(c.Planned), 100*maxErrorRate)
	case c.Planned > 0 && float64(sc.Unjudged) > maxErrorRate*float64(c.Planned):
		return results.StatusFailed, fmt.Sprintf("%d samples could not be judged (judge calls failed after retries); run again to retry them", sc.Unjudged)
	}
	return results.StatusComplete, ""
}

// newRunRecord describes a new run of s with plan: its suite, model
// instances, prompts, the scorers of its probes and every planned draw
// (streamed from plan when the plan is written).
func newRunRecord(s *suites.Suite, plan *Plan, scorers []results.RunScorer, version string) results.NewRun {
	suiteJSON, _ := json.Marshal(s)
	nr := results.NewRun{SuiteName: s.Name, SuiteHash: s.Hash(), SuiteSource: s.Source, SuiteJSON: string(suiteJSON), Salt: plan.Salt, Version: version,
		Scorers: scorers}
	for i, in := range plan.Instances {
		settings, _ := json.Marshal(in.Settings)
		nr.Instances = append(nr.Instances, results.InstanceRow{Index: i, Role: in.Role, Seed: in.Seed, Condition: in.Condition,
			BaseURL: in.BaseURL, ModelID: in.Model, Settings: string(settings)})
	}
	for _, p := range s.Probes {
		for i, t := range p.Prompts.Texts {
			nr.Prompts = append(nr.Prompts, results.PromptRow{Probe: p.ID, Index: i, Text: t})
		}
	}
	nr.Draws, nr.Planned = plan.Draws(), plan.Total()
	return nr
}

// suiteRedactor returns the Redactor of everything a run of s stores:
// the API keys of its models (keys, by plan instance) and judges, and the
// userinfo of every base URL.
func suiteRedactor(s *suites.Suite, plan *Plan, keys []string, getenv func(string) string) *Redactor {
	secrets := slices.Clone(keys)
	var urls []string
	for _, in := range plan.Instances {
		urls = append(urls, in.BaseURL)
	}
	for _, name := range s.JudgeNames() {
		if in, ok := s.JudgeInstance(name); ok {
			urls = append(urls, in.BaseURL)
			if k, err := instanceKey(in, getenv, "judge"); err == nil {
				secrets = append(secrets, k)
			}
		}
	}
	return NewRedactor(secrets, urls)
}

// redactRunRecord removes secrets from a run record before it is
// stored: base URLs lose their userinfo, in the models and in the
// recorded suite. Sample keys were computed before and are unchanged.
func redactRunRecord(nr results.NewRun, r *Redactor) results.NewRun {
	if r == nil {
		return nr
	}
	for i := range nr.Instances {
		nr.Instances[i].BaseURL = r.URL(nr.Instances[i].BaseURL)
	}
	if red := r.String(nr.SuiteJSON); red != nr.SuiteJSON {
		nr.SuiteJSON = red
	} else if js := redactJSON(nr.SuiteJSON, r); js != "" {
		// A secret JSON-escaped in the suite (an & in a password, say)
		// does not match as written: redact the decoded strings.
		nr.SuiteJSON = js
	}
	return nr
}

func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	return u.Host
}

// instanceKey reads the API key of in from its api_key_env variable with
// getenv. It returns "" when in names no variable or getenv is nil, and
// an ErrConfig error when the variable is unset or empty; what ("model"
// or "judge") says in that error which kind of endpoint lacks its key.
func instanceKey(in suites.Instance, getenv func(string) string, what string) (string, error) {
	if in.APIKeyEnv == "" || getenv == nil {
		return "", nil
	}
	key := getenv(in.APIKeyEnv)
	if key == "" {
		return "", fmt.Errorf("%w: %s %s: environment variable %s (api_key_env) is not set", ErrConfig, what, in.Name(), in.APIKeyEnv)
	}
	return key, nil
}

// instanceClient returns the single-attempt client of in, made by
// newClient (nil: the OpenAI client with in's timeout) over hc with key,
// behind the endpoint's breaker br (nil: none), and limited to in's
// requests and tokens per minute.
func instanceClient(in suites.Instance, key string, hc *http.Client, newClient ClientFactory, br *breaker) Client {
	var c Client
	if newClient != nil {
		c = newClient(in, key, hc)
	} else {
		c = NewOpenAIClient(OpenAIConfig{BaseURL: in.BaseURL, APIKey: key, HTTPClient: hc, Timeout: *in.Settings.Timeout})
	}
	return WithRateLimit(br.wrap(c), *in.Settings.RequestsPerMinute, *in.Settings.TokensPerMinute)
}
