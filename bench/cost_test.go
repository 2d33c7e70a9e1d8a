package bench_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
)

// TestMaxCostStopsAndResumes runs a suite whose max_cost covers about a
// third of it: sampling stops issuing requests, the run fails with the
// reason and keeps what it stored (no draw is recorded as failed for the
// budget), and what it used stays within max_cost. Run again with a
// larger max_cost (it is not part of the suite's hash), the same run
// resumes and completes.
func TestMaxCostStopsAndResumes(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewServer(t, benchtest.Config{Record: true, Models: map[string]benchtest.Model{
		"base": {Trait: "Owl", TraitRate: 0.1}, "student": {Trait: "Owl", TraitRate: 0.6}}})
	st := openStore(t)
	ctx := context.Background()
	// $1,000 per million tokens: a token costs $0.001. The fake counts
	// 1 + len(prompt)/4 = 1 prompt token per request and 1 + len(answer)/4
	// = 1 or 2 completion tokens per choice; the meter holds, before each
	// request, 1 prompt token and max_tokens (8) per choice (n = 5): $0.041.
	priced := []string{"models.baseline.price.input=1000", "models.baseline.price.output=1000",
		"models.student.price.input=1000", "models.student.price.output=1000"}
	s := suiteFor(t, srv.BaseURL(), append(priced, "max_cost=0.1")...)
	out := execute(t, ctx, st, s)
	if out.Run.Status != results.StatusFailed || !strings.Contains(out.Run.Message, "max_cost of $0.10 reached") ||
		!strings.Contains(out.Run.Message, "run again to resume") {
		t.Fatalf("run %s: %q; want failed for max_cost, with how to resume", out.Run.Status, out.Run.Message)
	}
	c := out.Counts
	if c.Failed != 0 || c.Stored == 0 || c.Stored >= c.Planned {
		t.Fatalf("counts %+v; want some draws stored, none failed, some pending", c)
	}
	spent := drawnCost(t, st, out.Run.ID, 1000)
	if spent > 0.1 {
		t.Errorf("the run used $%.4f; want at most max_cost $0.10", spent)
	}
	calls := srv.Calls()

	// Resume with a larger budget: same run, the rest sampled.
	s = suiteFor(t, srv.BaseURL(), append(priced, "max_cost=100")...)
	again := execute(t, ctx, st, s)
	if again.Run.ID != out.Run.ID || !again.Resumed || again.Run.Status != results.StatusComplete {
		t.Fatalf("second invocation: run %d (resumed %v) %s %q; want run %d resumed and complete",
			again.Run.ID, again.Resumed, again.Run.Status, again.Run.Message, out.Run.ID)
	}
	if again.Skipped != c.Stored || again.Counts.Stored != c.Planned {
		t.Errorf("second invocation skipped %d, stored %d of %d; want the %d stored kept and the rest drawn",
			again.Skipped, again.Counts.Stored, c.Planned, c.Stored)
	}
	if srv.Calls() == calls {
		t.Errorf("no request in the second invocation")
	}

	// The run records the prices it used and what its rate control did.
	prices, err := st.Prices(ctx, out.Run.ID)
	if err != nil || len(prices) != 2 || prices[0].Input != 1000 || prices[0].Source != "suite" {
		t.Errorf("Prices = %+v, %v; want both models at $1000 from the suite", prices, err)
	}
	changes, err := st.RateChanges(ctx, out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, ch := range changes {
		reasons = append(reasons, ch.Reason)
		if ch.Endpoint != srv.BaseURL() {
			t.Errorf("rate change of endpoint %q; want %q", ch.Endpoint, srv.BaseURL())
		}
	}
	// Both invocations start and end the one limiter of the endpoint.
	if got := strings.Join(reasons, ","); got != "start,end,start,end" {
		t.Errorf("rate change reasons %s; want start,end,start,end", got)
	}
}

// drawnCost is what a run's own samples cost at perMillion dollars per
// million tokens, prompt or completion.
func drawnCost(t *testing.T, st *results.Store, runID int64, perMillion float64) float64 {
	t.Helper()
	use, err := st.DrawnTokens(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, u := range use {
		total += float64(u.PromptTokens+u.CompletionTokens) * perMillion / 1e6
	}
	return total
}

// TestMaxCostCountsEarlierInvocations runs a suite again and again with
// the same max_cost: each invocation counts what the run used before, so
// the run never uses more than max_cost in all, and once nothing more
// fits an invocation sends nothing.
func TestMaxCostCountsEarlierInvocations(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{"base": {Trait: "Owl"}, "student": {Trait: "Owl"}}})
	st := openStore(t)
	ctx := context.Background()
	priced := []string{"models.baseline.price.input=1000", "models.baseline.price.output=1000",
		"models.student.price.input=1000", "models.student.price.output=1000", "max_cost=0.1"}
	var runID int64
	for i := range 30 {
		calls := srv.Calls()
		out := execute(t, ctx, st, suiteFor(t, srv.BaseURL(), priced...))
		if i > 0 && out.Run.ID != runID {
			t.Fatalf("invocation %d ran run %d; want run %d resumed", i, out.Run.ID, runID)
		}
		runID = out.Run.ID
		if spent := drawnCost(t, st, runID, 1000); spent > 0.1 {
			t.Fatalf("after invocation %d the run used $%.4f; want at most $0.10 in all", i, spent)
		}
		if srv.Calls() == calls {
			if out.Run.Status != results.StatusFailed || !strings.Contains(out.Run.Message, "max_cost") {
				t.Errorf("invocation %d sent nothing: run %s %q; want failed for max_cost", i, out.Run.Status, out.Run.Message)
			}
			return
		}
	}
	t.Fatal("every invocation sent requests: max_cost does not count what the run used before")
}

func TestBudgetErrorIs(t *testing.T) {
	t.Parallel()
	var err error = &bench.RetryError{Attempts: 1, Err: &bench.BudgetError{Max: 1, Spent: 0.99}}
	var be *bench.BudgetError
	if !errors.Is(err, bench.ErrBudget) || !errors.As(err, &be) || bench.Retryable(err) {
		t.Errorf("BudgetError: Is ErrBudget %v, As %v, Retryable %v; want true, true, false",
			errors.Is(err, bench.ErrBudget), errors.As(err, &be), bench.Retryable(err))
	}
}

// TestMaxCostStopsJudging gives sampling nothing to pay (local models at
// price 0) and a judge at $1,000 per million tokens with a budget of a
// few calls: the draws are all stored, judging stops at max_cost, and the
// calls not made are neither recorded as failed judgments nor scored.
func TestMaxCostStopsJudging(t *testing.T) {
	t.Parallel()
	student := benchtest.Model{Reply: func(_ string, i int, _ *rand.Rand) string { return answers[i%len(answers)].text }}
	srv := benchtest.NewServer(t, benchtest.Config{Record: true, Models: map[string]benchtest.Model{
		"base": student, "student": student, "judge": judgeFake(false)}})
	st := openStore(t)
	s := judgeSuite(t, srv.BaseURL(), "sample",
		"models.base.price.input=0", "models.base.price.output=0", "models.student.price.input=0", "models.student.price.output=0",
		"judges.fake-judge.price.input=1000", "judges.fake-judge.price.output=1000", "max_cost=3")
	out := execute(t, context.Background(), st, s)
	if out.Run.Status != results.StatusFailed || !strings.Contains(out.Run.Message, "max_cost of $3.00 reached") {
		t.Fatalf("run %s %q; want failed for max_cost", out.Run.Status, out.Run.Message)
	}
	if c := out.Counts; c.Stored != c.Planned || c.Failed != 0 {
		t.Errorf("counts %+v; want every draw stored (sampling cost nothing)", c)
	}
	usage, err := st.JudgeUsage(context.Background(), out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(usage) != 1 || usage[0].Failed != 0 || usage[0].Calls == 0 {
		t.Errorf("judge usage %+v; want some calls, none failed", usage)
	}
	if cost := float64(usage[0].PromptTokens+usage[0].CompletionTokens) * 1000 / 1e6; cost > 3 {
		t.Errorf("judging used $%.2f; want at most max_cost $3", cost)
	}
	if got := verdicts(t, st, s, out.Run.ID); got["unscored"] == 0 {
		t.Errorf("verdicts %v; want unscored samples left for a larger budget", got)
	}
}

// TestInterruptSendsNoQueuedRequest interrupts a run whose lanes hold
// more requests than the adaptive cap lets go: requests in flight finish
// within the grace period, but none still waiting for its turn is sent
// after the interrupt, and the run resumes.
func TestInterruptSendsNoQueuedRequest(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base": {Trait: "Owl", Latency: 100 * time.Millisecond}, "student": {Trait: "Owl", Latency: 100 * time.Millisecond}}})
	st := openStore(t)
	// 60 draws of one request each; each model's lane holds up to 64 at
	// once, the shared limiter lets 8 (4 + 4) go.
	s := suiteFor(t, srv.BaseURL(), "defaults.n=1", "defaults.max_concurrency=64")
	ctx, cancel := context.WithCancel(context.Background())
	var atCancel atomic.Int64
	stop := cancelWhen(func() bool {
		if n := srv.Calls(); n >= 8 {
			atCancel.Store(int64(n))
			return true
		}
		return false
	}, cancel)
	out, err := bench.Execute(ctx, st, s, bench.Options{Retry: fastRetry, Grace: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if stop() {
		t.Fatal("8 requests were not sent within 30 s")
	}
	// What was let go before the interrupt (at most the cap, about 8)
	// may still arrive; the ~50 waiting requests may not.
	if extra := int64(srv.Calls()) - atCancel.Load(); extra > 10 {
		t.Errorf("%d requests sent after the interrupt; want only those already let go (≤ 10)", extra)
	}
	if out.Run.Status != results.StatusInterrupted || out.Counts.Failed != 0 {
		t.Fatalf("run %s, counts %+v; want interrupted with nothing failed", out.Run.Status, out.Counts)
	}
	again := execute(t, context.Background(), st, s)
	if again.Run.ID != out.Run.ID || again.Run.Status != results.StatusComplete {
		t.Errorf("resume: run %d %s; want run %d complete", again.Run.ID, again.Run.Status, out.Run.ID)
	}
}

// TestBudgetErrorMessage checks that the message names max_cost with the
// digits it has and says what did not fit.
func TestBudgetErrorMessage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  bench.BudgetError
		want []string
	}{
		// Whole cents keep two decimals, as the tests and docs quote them.
		{bench.BudgetError{Max: 0.5, Spent: 0.49, Next: 0.02}, []string{"max_cost of $0.50 reached", "used $0.4900", "next request could cost $0.0200"}},
		{bench.BudgetError{Max: 3, Spent: 2.999, Next: 0.01}, []string{"max_cost of $3.00 reached"}},
		// A budget below a cent is printed in full, not rounded to $0.00.
		{bench.BudgetError{Max: 0.002, Spent: 0.0003, Next: 0.0017, Batch: true},
			[]string{"max_cost of $0.002 reached", "next batch (estimated at the batch price) could cost $0.0017"}},
	} {
		msg := c.err.Error()
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%+v: %q lacks %q", c.err, msg, w)
			}
		}
	}
}
