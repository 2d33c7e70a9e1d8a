package bench_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
)

// batchPriced prices both models of suiteFor at $1000 per million tokens
// (a token costs $0.001) with a 50% batch discount.
var batchPriced = []string{
	"models.baseline.price.input=1000", "models.baseline.price.output=1000", "models.baseline.price.batch_discount=0.5",
	"models.student.price.input=1000", "models.student.price.output=1000", "models.student.price.batch_discount=0.5",
}

// TestMaxCostHoldsBackBatches: max_cost counts a batch before it is
// created, at its dry-run estimate and the batch price, and a batch that
// does not fit is not submitted: the run stops issuing, keeps what its
// submitted batches stored, fails with the reason and, run again with a
// larger max_cost, submits the batches it held back (recorded once) and
// completes.
func TestMaxCostHoldsBackBatches(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: batchModels}, MaxLines: 2})
	st := openStore(t)
	ctx := context.Background()
	opt := func() bench.Options {
		return batchOptions(&bench.BatchOptions{All: true, Limits: bench.BatchLimits{MaxLines: 2}})
	}
	// Each model has 6 lines (3 prompts × 10 draws at n = 5), 2 per file:
	// one file per prompt. A line is estimated at "one" or "two" (3
	// bytes) → 1 prompt token, or "three" → 2, and 8 max_tokens × 5
	// choices = 40 completion tokens: the files of "one" and "two" at 82
	// tokens, that of "three" at 84, × $0.001 × (1 − 0.5) = $0.041 and
	// $0.042. The baseline's files go first: $0.041 + $0.041 = $0.082
	// fits in $0.10, the third ($0.124 in all) does not, and the meter
	// then stops: 2 batches are created.
	s := suiteFor(t, srv.BaseURL(), append(batchPriced, "max_cost=0.1")...)
	out, err := bench.Execute(ctx, st, s, opt())
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusFailed || !strings.Contains(out.Run.Message, "max_cost of $0.10 reached") ||
		!strings.Contains(out.Run.Message, "run again to resume") {
		t.Fatalf("run %s: %q; want failed for max_cost, with how to resume", out.Run.Status, out.Run.Message)
	}
	if got := srv.Batches(); got != 2 {
		t.Errorf("%d batches created; want 2 (the third is over max_cost)", got)
	}
	// 2 batches × 2 lines × 5 draws stored, none failed.
	if c := out.Counts; c.Stored != 20 || c.Failed != 0 || c.Planned != 60 {
		t.Errorf("counts %+v; want 20 of 60 stored, none failed", c)
	}
	use, err := st.DrawnTokens(ctx, out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	spent := 0.0
	for _, u := range use {
		if u.BatchedPromptTokens != u.PromptTokens || u.BatchedCompletionTokens != u.CompletionTokens {
			t.Errorf("instance %d: %d + %d tokens, %d + %d batched; want all batched", u.Instance, u.PromptTokens, u.CompletionTokens,
				u.BatchedPromptTokens, u.BatchedCompletionTokens)
		}
		spent += float64(u.BatchedPromptTokens+u.BatchedCompletionTokens) * 0.001 * 0.5
	}
	if spent > 0.1 || spent == 0 {
		t.Errorf("the run used $%.4f; want some, at most max_cost $0.10", spent)
	}
	recs, err := st.Batches(ctx, out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 6 || recs[2].Status != results.BatchPrepared || recs[2].EstPromptTokens != 4 || recs[2].EstCompletionTokens != 80 {
		t.Errorf("batch records %+v; want 6, the third prepared with an estimate of 4 + 80 tokens", recs)
	}

	// A larger max_cost: the held-back files are submitted, once.
	s = suiteFor(t, srv.BaseURL(), append(batchPriced, "max_cost=100")...)
	again, err := bench.Execute(ctx, st, s, opt())
	if err != nil {
		t.Fatal(err)
	}
	if again.Run.ID != out.Run.ID || again.Run.Status != results.StatusComplete {
		t.Fatalf("second invocation: run %d %s %q; want run %d complete", again.Run.ID, again.Run.Status, again.Run.Message, out.Run.ID)
	}
	if srv.Batches() != 6 || srv.Count("upload") != 6 {
		t.Errorf("%d batches, %d uploads in all; want 6 and 6", srv.Batches(), srv.Count("upload"))
	}
}

// TestMaxCostHoldsBackJudgeBatches: a judge batch is counted against
// max_cost before it is recorded and submitted, at its estimate and the
// judge's batch price; one that does not fit is not submitted, no judge
// call is made online after it, and the run fails with the reason and
// resumes with a larger max_cost.
func TestMaxCostHoldsBackJudgeBatches(t *testing.T) {
	t.Parallel()
	var log judgeLog
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeModels(false), OnRequest: log.onRequest}})
	ctx := context.Background()
	priced := []string{"judges.fake-judge.batch=true", "models.base.price.input=0", "models.base.price.output=0",
		"models.student.price.input=0", "models.student.price.output=0",
		"judges.fake-judge.price.input=1000", "judges.fake-judge.price.output=1000", "judges.fake-judge.price.batch_discount=0.5"}
	// A run without max_cost (on a server of its own, which the run
	// below cannot find its batches at) records both judge batches
	// (alignment calls, then coherence calls) with their estimates; the
	// judgment keys hold the endpoint, so the suites differ by it alone.
	calSrv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeModels(false)}})
	cal := openStore(t)
	out, err := bench.Execute(ctx, cal, judgeSuite(t, calSrv.BaseURL(), "sample", priced...), batchOptions(&bench.BatchOptions{}))
	if err != nil || out.Run.Status != results.StatusComplete {
		t.Fatalf("run without max_cost: %v, %+v", err, out)
	}
	recs, err := cal.Batches(ctx, out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var est []float64 // of the judge batches, in order, at $0.001 a token less 50%
	for _, b := range recs {
		if b.Instance < 0 {
			est = append(est, float64(b.EstPromptTokens+b.EstCompletionTokens)*0.001*0.5)
		}
	}
	if len(est) != 2 || est[0] == 0 || est[1] == 0 {
		t.Fatalf("judge batch estimates %v; want two, each above 0", est)
	}
	creates := srv.Count("create")

	// max_cost halfway into the second batch: the first is submitted,
	// the second held back.
	maxCost := est[0] + est[1]/2
	st := openStore(t)
	s := judgeSuite(t, srv.BaseURL(), "sample", append(priced, fmt.Sprintf("max_cost=%g", maxCost))...)
	out, err = bench.Execute(ctx, st, s, batchOptions(&bench.BatchOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusFailed || !strings.Contains(out.Run.Message, "max_cost of") {
		t.Fatalf("run %s %q; want failed for max_cost", out.Run.Status, out.Run.Message)
	}
	if got := srv.Count("create") - creates; got != 1 {
		t.Errorf("%d judge batches created; want 1 (the second is over max_cost)", got)
	}
	if got := log.take(); len(got) != 0 {
		t.Errorf("%d online judge calls after max_cost held a batch back; want 0", len(got))
	}
	if c := out.Counts; c.Stored != c.Planned || c.Failed != 0 {
		t.Errorf("counts %+v; want every draw stored (sampling cost nothing)", c)
	}
	if got := verdicts(t, st, s, out.Run.ID); got["unscored"] == 0 {
		t.Errorf("verdicts %v; want unscored samples left for a larger budget", got)
	}
	usage, err := st.JudgeUsage(ctx, out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range usage {
		if u.BatchedPromptTokens != u.PromptTokens || u.BatchedCompletionTokens != u.CompletionTokens || u.Failed != 0 {
			t.Errorf("judge usage %+v; want every call batched, none failed", u)
		}
	}

	// A larger max_cost: the coherence calls go in a batch, and the run
	// completes.
	s = judgeSuite(t, srv.BaseURL(), "sample", append(priced, "max_cost=1000")...)
	again, err := bench.Execute(ctx, st, s, batchOptions(&bench.BatchOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if again.Run.ID != out.Run.ID || again.Run.Status != results.StatusComplete {
		t.Fatalf("second invocation: run %d %s %q; want run %d complete", again.Run.ID, again.Run.Status, again.Run.Message, out.Run.ID)
	}
	if got := srv.Count("create") - creates; got != 2 {
		t.Errorf("%d judge batches created in all; want 2", got)
	}
}
