package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// Progress counts a run's draws; its fields are updated atomically while
// a Runner works and may be read at any time.
type Progress struct {
	Total  atomic.Int64 // draws to do in this invocation (each Runner.Run adds its jobs' draws)
	Done   atomic.Int64 // draws finished, failed or not
	Failed atomic.Int64 // draws finished as failed
	Tokens atomic.Int64 // prompt + completion tokens reported by servers
	// ToScore and Scored count the scoring phase (LLM judges, rescoring).
	ToScore atomic.Int64
	Scored  atomic.Int64
}

// Runner sends a plan's jobs to the models and delivers samples to a sink.
type Runner struct {
	// Clients gives the client for each plan instance, by index. Each
	// client makes one attempt per call; the runner adds retries.
	Clients []Client
	// Retry is the retry policy of every request.
	Retry RetryPolicy
	// Scorers score samples by probe id before they reach the sink; a
	// probe without one is stored unscored.
	Scorers map[string]Scorer
	// Grace is how long in-flight requests may finish after ctx is
	// cancelled before they are abandoned (and stay pending); zero means
	// 30 s.
	Grace time.Duration
	// Progress, when non-nil, is updated as draws finish.
	Progress *Progress
	// Redact, when non-nil, removes secrets from what samples store:
	// completions, error messages and base URLs.
	Redact *Redactor
	// Workers, when set, gives each plan instance's most requests in
	// flight, by index (its max_concurrency under adaptive rate control,
	// whose limiter holds them to the current cap); nil or a value below 1
	// means the instance's concurrency.
	Workers []int
}

// Summary is what a Runner.Run did.
type Summary struct {
	Done        int           // draws finished (stored), failed or not
	Failed      int           // of which failed
	Unscored    int           // successful draws an inline scorer could not score
	Interrupted bool          // ctx was cancelled before all jobs ran
	Stopped     []ModelError  // instances stopped by a fatal error
	Elapsed     time.Duration // wall time of Run
}

// ModelError is a fatal error that stopped sampling one instance.
type ModelError struct {
	Instance string // role@seed
	Err      error
}

func (e ModelError) Error() string { return fmt.Sprintf("model %s: %v", e.Instance, e.Err) }

// nSupport records whether an instance's server honours n > 1.
const (
	nUnknown int32 = iota
	nSupported
	nRefused
)

// sampleBatch is how many samples one store transaction of Runner.Run
// holds at most (DefaultFlushEvery still bounds how long they wait).
//
// Why more than DefaultBatchSize: sample keys are random hashes, so every
// sample dirties its own page of the key index, and each commit writes
// the pages it dirtied to the WAL once. Past a few thousand samples a
// commit dirties most of the index's pages, so larger batches write
// fewer pages per sample: at a million draws from a fast endpoint, 8192
// instead of 2048 cut the run's CPU time by a fifth (58.6 s → 45.4 s,
// user + system) for 4 MB more memory.
const sampleBatch = 8192

// Run sends the pending jobs of plan, generated as they are issued, in
// order per instance and concurrently across and within instances (each
// instance's Settings.Concurrency), scores the samples and passes them
// to sink, the only writer, in batches of at most sampleBatch samples
// collected over at most DefaultFlushEvery: it is
// a Stage with one lane per instance. When ctx is cancelled Run stops
// issuing jobs, lets requests in flight finish within Grace, flushes the
// sink and returns with Summary.Interrupted set. An error from sink stops
// the run and is returned.
func (r *Runner) Run(ctx context.Context, plan *Plan, pending *Pending, sink func([]results.Sample) error) (Summary, error) {
	start := time.Now()
	if len(r.Clients) != len(plan.Instances) {
		return Summary{}, fmt.Errorf("runner: %d clients for %d instances", len(r.Clients), len(plan.Instances))
	}
	if r.Progress != nil {
		r.Progress.Total.Add(int64(pending.Draws()))
	}

	maxN := 1
	for _, in := range plan.Instances {
		maxN = max(maxN, *in.Settings.N)
	}
	var sum Summary
	var mu sync.Mutex // guards sum.Stopped, appended by workers
	stage := &Stage[Job, results.Sample]{
		// Bound the samples waiting, not the jobs: a job holds up to n.
		Queue:     max(1, SinkQueue/maxN),
		BatchSize: sampleBatch,
		Grace:     r.Grace,
		Sink: func(batch []results.Sample) error {
			for i := range batch {
				s := &batch[i]
				sum.Done++
				if s.Failed() {
					sum.Failed++
				} else if s.Scorer == "" && r.Scorers[s.Probe] != nil {
					sum.Unscored++
				}
			}
			if err := sink(batch); err != nil {
				return fmt.Errorf("store samples: %w", err)
			}
			return nil
		},
	}
	for _, ii := range pending.instances() {
		in := plan.Instances[ii]
		policy := r.Retry
		policy.MaxRetries = *in.Settings.MaxRetries
		w := &worker{r: r, plan: plan, in: in, baseURL: r.Redact.URL(in.BaseURL), retrying: WithRetry(r.Clients[ii], policy),
			probing: withRetryIf(r.Clients[ii], policy, func(err error) bool { return Retryable(err) && !refusesN(err) })}
		var stopOnce sync.Once
		stage.Lanes = append(stage.Lanes, Lane[Job, results.Sample]{
			Items:   pending.Jobs(ii),
			Workers: r.workers(ii, in),
			Work: func(ctx context.Context, j Job) ([]results.Sample, error) {
				ss := w.do(ctx, j)
				r.count(ss)
				if err := w.fatal(); err != nil {
					stopOnce.Do(func() {
						mu.Lock()
						sum.Stopped = append(sum.Stopped, ModelError{Instance: in.Name(), Err: err})
						mu.Unlock()
					})
					return ss, fmt.Errorf("%w: %w", ErrStopLane, err)
				}
				return ss, nil
			},
		})
	}
	err := stage.Run(ctx)
	// Workers stop in any order; the record does not depend on it.
	slices.SortFunc(sum.Stopped, func(a, b ModelError) int { return strings.Compare(a.Instance, b.Instance) })
	sum.Interrupted = ctx.Err() != nil
	sum.Elapsed = time.Since(start)
	return sum, err
}

// workers returns the lane size of plan instance i.
func (r *Runner) workers(i int, in suites.Instance) int {
	if i < len(r.Workers) && r.Workers[i] >= 1 {
		return r.Workers[i]
	}
	return *in.Settings.Concurrency
}

func (r *Runner) count(ss []results.Sample) {
	if r.Progress == nil {
		return
	}
	for _, s := range ss {
		r.Progress.Done.Add(1)
		if s.Failed() {
			r.Progress.Failed.Add(1)
		}
		r.Progress.Tokens.Add(int64(s.PromptTokens + s.CompletionTokens))
	}
}

// worker turns jobs of one instance into samples.
type worker struct {
	r        *Runner
	plan     *Plan
	in       suites.Instance
	baseURL  string       // in.BaseURL as stored: redacted
	retrying Client       // client with the instance's retry policy
	probing  Client       // the same, but giving up at once on an answer that may refuse n > 1
	n        atomic.Int32 // nUnknown, nSupported or nRefused
	stopErr  atomic.Pointer[error]
}

// fatal returns the first fatal error met by the worker's requests, or nil.
func (w *worker) fatal() error {
	if p := w.stopErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (w *worker) request(j Job, from, count int) Request {
	st := w.in.Settings
	var msgs []Message
	if st.SystemPrompt != nil {
		msgs = append(msgs, Message{Role: "system", Content: *st.SystemPrompt})
	}
	msgs = append(msgs, Message{Role: "user", Content: w.plan.Prompts[j.Probe][j.Prompt]})
	req := Request{Model: w.in.Model, Messages: msgs, Temperature: st.Temperature, TopP: st.TopP, MaxTokens: st.MaxTokens, N: count}
	if st.SendSeed != nil && *st.SendSeed {
		seed := RequestSeed(j.Keys[from])
		req.Seed = &seed
	}
	return req
}

// do runs one job under ctx and returns its samples: one per draw, or
// none when the run was interrupted before the job's request finished.
func (w *worker) do(ctx context.Context, j Job) []results.Sample {
	n := j.Draws()
	// One load: another worker may settle n support at any time, and a
	// job that saw "unknown" and then "refused" must not end up asking
	// for n > 1 with retries.
	support := w.n.Load()
	if n > 1 && support == nRefused {
		return w.singles(ctx, j, 0)
	}
	req := w.request(j, 0, n)
	if n > 1 && support == nUnknown {
		// Probe n support. An answer that may be a refusal of n > 1
		// (llama.cpp answers HTTP 500) is not retried with n > 1: the
		// draws are made one at a time instead. Transient faults (429,
		// 503, timeouts) are retried like any request's: a probe that
		// meets one must not fall through to retrying n > 1 against a
		// server that refuses it, which used to fail every draw of the
		// job.
		resp, err := w.probing.Complete(ctx, req)
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			if len(resp.Choices)+resp.Unusable < n {
				// The server ignored n (Ollama does).
				w.n.Store(nRefused)
			} else {
				w.n.Store(nSupported)
			}
			return w.answered(ctx, j, req, resp)
		case refusesN(err):
			w.n.Store(nRefused)
			return w.singles(ctx, j, 0)
		}
		// The retry budget ran out on transient faults, or a fatal error:
		// the draws fail as a single-choice request's would.
		return w.samples(ctx, j, 0, req, nil, err)
	}
	resp, err := w.retrying.Complete(ctx, req)
	if err != nil {
		return w.samples(ctx, j, 0, req, resp, err)
	}
	return w.answered(ctx, j, req, resp)
}

// answered turns resp, the successful answer to req (the request for all
// draws of j), into samples. A server may return fewer choices than
// asked for, or choices without content (Response.Unusable): the usable
// ones are kept and the remaining draws are made one request at a time.
func (w *worker) answered(ctx context.Context, j Job, req Request, resp *Response) []results.Sample {
	got := w.samples(ctx, j, 0, req, resp, nil)
	if len(resp.Choices) < j.Draws() {
		got = append(got, w.singles(ctx, j, len(resp.Choices))...)
	}
	return got
}

// singles runs the draws of j from index from on, one request each.
func (w *worker) singles(ctx context.Context, j Job, from int) []results.Sample {
	var out []results.Sample
	for i := from; i < j.Draws(); i++ {
		if ctx.Err() != nil || w.fatal() != nil {
			break
		}
		req := w.request(j, i, 1)
		resp, err := w.retrying.Complete(ctx, req)
		out = append(out, w.samples(ctx, j, i, req, resp, err)...)
	}
	return out
}

// refusesN reports whether err looks like a server refusing n > 1: an
// HTTP error answer that is neither a rate limit nor a fatal auth or
// not-found error.
func refusesN(err error) bool {
	var api *APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.Status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusInternalServerError, http.StatusNotImplemented:
		return true
	}
	return false
}

// samples turns one response (or error) into samples for draws starting
// at index from of job j. With an error every requested draw fails, unless
// the error is an interruption, which leaves them pending. A fatal error
// is also recorded for fatal.
func (w *worker) samples(ctx context.Context, j Job, from int, req Request, resp *Response, err error) []results.Sample {
	count := max(1, req.N)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return nil // interrupted: stays pending
		}
		var down *CircuitOpenError
		var broke *BudgetError
		switch {
		case errors.As(err, &down):
			// Not sent (or not again): the draws stay pending, to be
			// sampled when the suite runs again, and the model stops.
			var stop error = down
			w.stopErr.CompareAndSwap(nil, &stop)
			return nil
		case errors.As(err, &broke):
			// max_cost: likewise pending, for a run with a larger budget.
			var stop error = broke
			w.stopErr.CompareAndSwap(nil, &stop)
			return nil
		}
		attempts := 1
		var re *RetryError
		if errors.As(err, &re) {
			attempts = re.Attempts
		}
		out := make([]results.Sample, count)
		for i := range out {
			out[i] = w.base(j, from+i, req)
			out[i].Err = w.r.Redact.String(err.Error())
			out[i].HTTPStatus = Status(err)
			out[i].Attempts = attempts
		}
		if Fatal(err) {
			w.stopErr.CompareAndSwap(nil, &err)
		}
		return out
	}
	k := min(len(resp.Choices), count)
	out := make([]results.Sample, k)
	for i := range k {
		s := w.base(j, from+i, req)
		ch := resp.Choices[i]
		s.Completion, s.FinishReason = w.r.Redact.String(ch.Text), ch.FinishReason
		s.PromptTokens = share(resp.PromptTokens, k, i)
		s.CompletionTokens = share(resp.CompletionTokens, k, i)
		s.Latency, s.Attempts = resp.Latency, resp.Attempts
		if sc := w.r.Scorers[j.Probe]; sc != nil {
			scores, serr := sc.Score(ctx, w.plan.Prompts[j.Probe][j.Prompt], s.Completion)
			if serr == nil {
				s.Scorer, s.Scores = sc.ID(), scores
			}
		}
		out[i] = s
	}
	return out
}

func (w *worker) base(j Job, idx int, req Request) results.Sample {
	pos := -1 // not in the run's plan yet: linked by key
	if j.Index >= 0 {
		pos = j.Index + idx
	}
	return results.Sample{
		Key: j.Keys[idx], Probe: j.Probe, Prompt: j.Prompt, Draw: j.First + idx, PlanIndex: pos,
		BaseURL: w.baseURL, Model: w.in.Model, Batch: max(1, req.N), RequestSeed: req.Seed,
		CreatedAt: time.Now(),
	}
}

// share splits total over k parts so that the parts sum to total exactly.
func share(total, k, i int) int {
	q, rem := total/k, total%k
	if i < rem {
		return q + 1
	}
	return q
}
