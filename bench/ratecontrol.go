package bench

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// CostStore is what rate control and max_cost keep in a results
// database: the changes of each adaptive cap, the prices a run used, and
// the tokens it has used so far. *results.Store implements it; with a
// Store that does not, nothing of this is recorded and max_cost counts
// from zero at each invocation.
type CostStore interface {
	PutRateChanges(ctx context.Context, runID int64, changes []results.RateChange) error
	PutPrices(ctx context.Context, runID int64, prices []results.RunPrice) error
	DrawnTokens(ctx context.Context, runID int64) ([]results.TokenUse, error)
	JudgeUsage(ctx context.Context, runID int64) ([]results.JudgeUsage, error)
}

var _ CostStore = (*results.Store)(nil)

// runControl is what a prepared run uses to pace and pay for its
// requests: one adaptive limiter per endpoint × API key, shared by the
// models and judges that use them, and the meter of max_cost.
type runControl struct {
	s        *suites.Suite
	rc       RateControl
	limiters map[string]*AdaptiveLimiter // by limiterKey
	meter    *costMeter                  // nil without max_cost

	mu      sync.Mutex
	changes []results.RateChange // not stored yet
}

// limiterKey identifies an endpoint × API key. The key is held in memory
// only, as the clients hold it.
func limiterKey(baseURL, apiKey string) string {
	return strings.TrimRight(baseURL, "/") + "\x00" + apiKey
}

// newRunControl builds the limiters of a suite's model instances (with
// their API keys, by plan index) and of the judges its probes call, and
// the meter of its max_cost. Instances sharing an endpoint and key share
// a limiter, which starts at the sum of their concurrency and is capped
// at the sum of their max_concurrency (the judges', when larger: judging
// runs after sampling).
func newRunControl(s *suites.Suite, models []suites.Instance, modelKeys []string, getenv func(string) string, rc RateControl, redact *Redactor) *runControl {
	ctl := &runControl{s: s, rc: rc, limiters: map[string]*AdaptiveLimiter{}, meter: newCostMeter(s.MaxCost)}
	if rc.Disabled {
		return ctl
	}
	type sums struct {
		start, max [2]int // models, judges
		endpoint   string
		keyEnv     string
		order      int
	}
	byKey := map[string]*sums{}
	add := func(in suites.Instance, key string, judge int) {
		k := limiterKey(in.BaseURL, key)
		sm := byKey[k]
		if sm == nil {
			sm = &sums{endpoint: redact.URL(strings.TrimRight(in.BaseURL, "/")), keyEnv: in.APIKeyEnv, order: len(byKey)}
			byKey[k] = sm
		}
		sm.start[judge] += *in.Settings.Concurrency
		sm.max[judge] += in.Settings.InFlightCap()
	}
	for i, in := range models {
		add(in, modelKeys[i], 0)
	}
	for _, name := range s.UsedJudges() {
		in, ok := s.JudgeInstance(name)
		if !ok {
			continue
		}
		key, err := instanceKey(in, getenv, "judge")
		if err != nil {
			continue // BuildScorers reports it
		}
		add(in, key, 1)
	}
	for k, sm := range byKey {
		ctl.limiters[k] = NewAdaptiveLimiter(sm.endpoint, sm.keyEnv, max(sm.start[0], sm.start[1]), max(sm.max[0], sm.max[1]), rc, ctl.note)
	}
	return ctl
}

// note keeps a change of a cap until it is stored.
func (ctl *runControl) note(c RateChange) {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	ctl.changes = append(ctl.changes, results.RateChange{At: c.At, Endpoint: c.Endpoint, KeyEnv: c.Key, Cap: c.Cap, Reason: c.Reason})
}

// drain returns and forgets the changes noted since the last drain.
func (ctl *runControl) drain() []results.RateChange {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	out := ctl.changes
	ctl.changes = nil
	return out
}

// end notes every limiter's cap as it stands (RateEnd), in the order of
// their endpoints and key labels (never of the keys themselves).
func (ctl *runControl) end() {
	ls := slices.Collect(maps.Values(ctl.limiters))
	slices.SortFunc(ls, func(a, b *AdaptiveLimiter) int {
		return cmp.Or(strings.Compare(a.endpoint, b.endpoint), strings.Compare(a.key, b.key))
	})
	for _, l := range ls {
		l.End()
	}
}

// interrupt closes every limiter (AdaptiveLimiter.Close): after the first
// Ctrl-C no request waiting for its turn is sent.
func (ctl *runControl) interrupt() {
	for _, l := range ctl.limiters {
		l.Close()
	}
}

// factory returns the ClientFactory of models (judge false) or judges:
// newClient's client (nil: the OpenAI client) metered at the model's
// price and behind its endpoint × key limiter.
func (ctl *runControl) factory(newClient ClientFactory, judge bool) ClientFactory {
	return func(in suites.Instance, apiKey string, hc *http.Client) Client {
		var c Client
		if newClient != nil {
			c = newClient(in, apiKey, hc)
		} else {
			c = NewOpenAIClient(OpenAIConfig{BaseURL: in.BaseURL, APIKey: apiKey, HTTPClient: hc, Timeout: *in.Settings.Timeout})
		}
		if ctl.meter != nil {
			q, _ := ctl.quote(in, judge) // validation made sure there is one
			c = ctl.meter.wrap(q, c)
		}
		if l := ctl.limiters[limiterKey(in.BaseURL, apiKey)]; l != nil {
			c = l.Wrap(c)
		}
		return c
	}
}

// quote returns the price of a model instance or judge.
func (ctl *runControl) quote(in suites.Instance, judge bool) (suites.Quote, bool) {
	if judge {
		return ctl.s.JudgePrice(in.Role)
	}
	return ctl.s.ModelPrice(in.Role, in.Model)
}

// prices lists the price of every model instance and used judge that has
// one, as the run records them.
func (ctl *runControl) prices(models []suites.Instance) []results.RunPrice {
	var out []results.RunPrice
	add := func(kind, name, model string, q suites.Quote) {
		out = append(out, results.RunPrice{Kind: kind, Name: name, Model: model, Input: q.Input, Output: q.Output, BatchDiscount: q.Discount(), Source: q.Source})
	}
	for _, in := range models {
		if q, ok := ctl.quote(in, false); ok {
			add(results.PriceModel, in.Name(), in.Model, q)
		}
	}
	for _, name := range ctl.s.UsedJudges() {
		if in, ok := ctl.s.JudgeInstance(name); ok {
			if q, ok := ctl.quote(in, true); ok {
				add(results.PriceJudge, name, in.Model, q)
			}
		}
	}
	return out
}

// start records the run's prices and, with max_cost, charges the meter
// what the run has used before this invocation: its drawn samples' and
// judge calls' tokens at today's prices, those that came through a Batch
// API at the batch price.
func (ctl *runControl) start(ctx context.Context, store Store, runID int64, models []suites.Instance) error {
	cs, ok := store.(CostStore)
	if !ok {
		return nil
	}
	if err := cs.PutPrices(ctx, runID, ctl.prices(models)); err != nil {
		return err
	}
	if ctl.meter == nil {
		return nil
	}
	spent := 0.0
	drawn, err := cs.DrawnTokens(ctx, runID)
	if err != nil {
		return err
	}
	for _, u := range drawn {
		if u.Instance < 0 || u.Instance >= len(models) {
			continue
		}
		in := models[u.Instance]
		if q, ok := ctl.quote(in, false); ok {
			spent += splitCost(q, u.PromptTokens, u.CompletionTokens, u.BatchedPromptTokens, u.BatchedCompletionTokens)
		}
	}
	judged, err := cs.JudgeUsage(ctx, runID)
	if err != nil {
		return err
	}
	for _, u := range judged {
		if q, ok := ctl.s.JudgePrice(u.Judge); ok {
			spent += splitCost(q, u.PromptTokens, u.CompletionTokens, u.BatchedPromptTokens, u.BatchedCompletionTokens)
		}
	}
	ctl.meter.charge(spent)
	return nil
}

// flush stores the changes noted so far.
func (ctl *runControl) flush(ctx context.Context, store Store, runID int64) error {
	cs, ok := store.(CostStore)
	if !ok {
		ctl.drain()
		return nil
	}
	if err := cs.PutRateChanges(ctx, runID, ctl.drain()); err != nil {
		return fmt.Errorf("store rate changes: %w", err)
	}
	return nil
}

// workers returns the lane size of each plan instance: its
// max_concurrency under adaptive rate control (the limiter holds the
// lane to the current cap), its concurrency without.
func (p *Prepared) workers() []int {
	out := make([]int, len(p.Plan.Instances))
	for i, in := range p.Plan.Instances {
		out[i] = *in.Settings.Concurrency
		if !p.ctl.rc.Disabled {
			out[i] = in.Settings.InFlightCap()
		}
	}
	return out
}

// budgetVerdict turns a run that max_cost stopped into a failed run whose
// message says so and how to resume, unless it was interrupted. A stopped
// meter refused a request, so a draw or a judge call is left undone.
func (p *Prepared) budgetVerdict(status results.RunStatus, msg string, c results.RunCounts) (results.RunStatus, string) {
	stop := p.ctl.meter.Stopped()
	if stop == nil || status == results.StatusInterrupted {
		return status, msg
	}
	msg = fmt.Sprintf("%v; stopped issuing requests with %d of %d draws stored: raise max_cost (suite max_cost, or run --max-cost) and run again to resume",
		stop, c.Stored, c.Planned)
	return results.StatusFailed, msg
}

// splitCost is the cost at q of prompt and completion tokens of which
// batchedPrompt and batchedCompletion came through a Batch API: those at
// the batch price, the rest at the online price.
func splitCost(q suites.Quote, prompt, completion, batchedPrompt, batchedCompletion int64) float64 {
	return q.Cost(float64(prompt-batchedPrompt), float64(completion-batchedCompletion), false) +
		q.Cost(float64(batchedPrompt), float64(batchedCompletion), true)
}
