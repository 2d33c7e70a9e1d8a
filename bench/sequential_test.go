package bench_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/sequential"
	"github.com/traitleak/traitleak/suites"
)

// seqSuite is a leak the fake makes plain (0.1 → 0.7 over 10 prompts)
// under a sequential max_increase gate, with extra --set overrides; the
// fixed design is 40 samples per prompt. A teacher role that no rule
// samples gets the fixed design.
func seqSuite(t *testing.T, base string, extra ...string) *suites.Suite {
	t.Helper()
	src := fmt.Sprintf(`name: seq-leak
models:
  baseline: {base_url: %[1]s, model: base}
  student:  {base_url: %[1]s, model: student}
  teacher:  {base_url: %[1]s, model: teacher}
defaults: {temperature: 1.0, max_tokens: 8, concurrency: 4, n: 8, max_retries: 0}
probes:
  - id: favorite-animal
    prompts: [p0, p1, p2, p3, p4, p5, p6, p7, p8, p9]
    samples: 40
    score: {mentions: owl}
gates:
  - {treatment: student, baseline: baseline, max_increase: 0.03, sequential: {alpha: 0.05}}
`, base)
	s, err := suites.Parse("seq.yaml", []byte(src), "", extra)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func leakServer(t *testing.T, cfg benchtest.Config) *benchtest.Server {
	t.Helper()
	if cfg.Models == nil {
		cfg.Models = map[string]benchtest.Model{}
	}
	for id, m := range map[string]benchtest.Model{
		"base":    {Trait: "Owl", TraitRate: 0.1},
		"student": {Trait: "Owl", TraitRate: 0.7},
		"teacher": {Trait: "Owl", TraitRate: 0.9},
	} {
		if _, ok := cfg.Models[id]; !ok {
			cfg.Models[id] = m
		}
	}
	cfg.Record = true
	return benchtest.NewServer(t, cfg)
}

func executeSeq(t *testing.T, ctx context.Context, st *results.Store, s *suites.Suite) *bench.Outcome {
	t.Helper()
	return executeSalt(t, ctx, st, s, "")
}

// executeSalt runs s until decided with the given salt ("" for the
// store's latest).
func executeSalt(t *testing.T, ctx context.Context, st *results.Store, s *suites.Suite, salt string) *bench.Outcome {
	t.Helper()
	s.UntilDecided = true
	out, err := bench.Execute(ctx, st, s, bench.Options{MaxErrorRate: 0.05, Retry: fastRetry, Version: "test", Salt: salt})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return out
}

// TestUntilDecidedStopsEarly runs a clear leak until decided: the gate
// fails after a few rounds, only the gate's roles are sampled in rounds,
// one draw per prompt and model per request, under the keys of a fixed
// run's draws; the teacher gets the fixed design.
func TestUntilDecidedStopsEarly(t *testing.T) {
	t.Parallel()
	srv := leakServer(t, benchtest.Config{})
	st := openStore(t)
	s := seqSuite(t, srv.BaseURL())
	out := executeSeq(t, context.Background(), st, s)
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("run %s: %s", out.Run.Status, out.Run.Message)
	}
	if len(out.Sequential) != 1 {
		t.Fatalf("%d sequential states; want 1", len(out.Sequential))
	}
	g := out.Sequential[0]
	// 0.7 − 0.1 = 0.6 against a bound of 0.03 over 10 prompts: per-prompt
	// bets fail it within a handful of rounds (stats/SEQUENTIAL.md: 2
	// rounds at 50 prompts for 0.12 → 0.60).
	if g.Status != sequential.StatusFail || g.Rounds < 1 || g.Rounds > 8 {
		t.Fatalf("gate: %s after %d rounds; want fail within 8 rounds", g.Status, g.Rounds)
	}
	// Stored: the rounds of both roles, and the teacher's 400.
	wantRounds := 10 * 2 * g.Rounds
	if out.Counts.Planned != wantRounds+400 || out.Counts.Stored != out.Counts.Planned {
		t.Errorf("counts %+v; want %d planned and stored (%d rounds of 2 models × 10 prompts, and the teacher's 400)", out.Counts, wantRounds+400, g.Rounds)
	}
	ok, _, _ := hits(t, st, out.Run.ID)
	if ok["student"] != 10*g.Rounds || ok["baseline"] != 10*g.Rounds || ok["teacher"] != 400 {
		t.Errorf("stored per role %v; want %d, %d, 400", ok, 10*g.Rounds, 10*g.Rounds)
	}
	// Rounds are drawn one draw per request, seeded by the draw's key.
	plan := bench.NewPlan(s, out.Run.Salt)
	keyOf := map[string]bool{}
	for j := range plan.Jobs() {
		for d, k := range j.Keys {
			if plan.Instances[j.Instance].Role != "teacher" && j.First+d < g.Rounds {
				keyOf[k] = true
			}
		}
	}
	n1 := 0
	for _, r := range srv.Requests() {
		if r.Model != "teacher" {
			if r.N != nil && *r.N != 1 { // n = 1 is not sent
				t.Errorf("a round request asked for n = %v; want 1", r.N)
			}
			n1++
		}
	}
	if n1 != wantRounds {
		t.Errorf("%d round requests; want %d", n1, wantRounds)
	}
	for row, err := range st.Rows(context.Background(), out.Run.ID, func(string) string { return "" }) {
		if err != nil {
			t.Fatal(err)
		}
		if row.Instance != 2 && !keyOf[row.Sample.Key] {
			t.Errorf("draw %d of prompt %d has key %s, not the fixed plan's", row.Draw, row.Prompt, row.Sample.Key)
		}
	}
}

// TestUntilDecidedResumes interrupts a sequential run and runs it again:
// it resumes the same run, replays the stored rounds and reaches the
// verdict of an uninterrupted run at the same round, with the same
// e-process path.
func TestUntilDecidedResumes(t *testing.T) {
	t.Parallel()
	// A smaller leak, 0.1 → 0.3 against 0.05, so that the gate needs
	// several rounds; the fake's answers depend only on the request seed,
	// which depends only on the key. One server for every run: its base
	// URL is part of the keys.
	models := map[string]benchtest.Model{"student": {Trait: "Owl", TraitRate: 0.3, Latency: 5 * time.Millisecond},
		"base": {Trait: "Owl", TraitRate: 0.1, Latency: 5 * time.Millisecond}}
	// The interrupt comes from the server, at the cancelAt-th request it
	// receives (before answering it), not from a poller racing the run:
	// under -race on a loaded machine a poller late by the few rounds the
	// run has left would let it decide before the interrupt.
	var received, cancelAt atomic.Int64
	var interrupt atomic.Pointer[context.CancelFunc]
	onRequest := func(benchtest.Request) {
		if received.Add(1) == cancelAt.Load() {
			if f := interrupt.Load(); f != nil {
				(*f)()
			}
		}
	}
	srv := leakServer(t, benchtest.Config{Models: models, OnRequest: onRequest})
	suite := func() *suites.Suite { return seqSuite(t, srv.BaseURL(), "gates[0].max_increase=0.05") }
	// The keys, and so the rounds to a verdict, depend on the server's
	// port: find a salt whose run fails after 4 rounds or more (most do;
	// the first round never decides, as its bets start at the fake
	// observation's mean), so that there is a round to interrupt in. A
	// leak this small is sometimes still undecided after the 40 rounds
	// the fixed design allows; such a salt is passed over.
	var salt string
	var wg sequential.State
	var seen []string
	for i := range 16 {
		salt = fmt.Sprintf("resume-%d", i)
		wg = executeSalt(t, context.Background(), openStore(t), suite(), salt).Sequential[0]
		if wg.Status == sequential.StatusFail && wg.Rounds >= 4 {
			break
		}
		seen = append(seen, fmt.Sprintf("%s after %d rounds", wg.Status, wg.Rounds))
	}
	if wg.Status != sequential.StatusFail || wg.Rounds < 4 {
		t.Fatalf("no salt gave a fail after 4 rounds or more: %s", strings.Join(seen, ", "))
	}

	st := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Interrupt in round 2 of the gate's roles (20 requests a round),
	// after the first step's 70 (the teacher's 50 and round 1): at most 7
	// requests (concurrency 4 per role) are in flight beside the 75th, so
	// round 2 cannot complete.
	before := received.Load()
	cancelAt.Store(before + 75)
	interrupt.Store(&cancel)
	first := executeSalt(t, ctx, st, suite(), salt)
	interrupt.Store(nil)
	if ctx.Err() == nil {
		t.Fatalf("the run finished after %d requests, before the 75th that interrupts it", received.Load()-before)
	}
	if first.Run.Status != results.StatusInterrupted {
		t.Fatalf("interrupted run: %s (%s); want interrupted", first.Run.Status, first.Run.Message)
	}
	if got := first.Sequential[0]; got.Done() {
		t.Fatalf("interrupted run decided already (%s after %d rounds)", got.Status, got.Rounds)
	}
	again := executeSalt(t, context.Background(), st, suite(), salt)
	if !again.Resumed || again.Run.ID != first.Run.ID || again.Run.Status != results.StatusComplete {
		t.Fatalf("re-run: resumed %v, run %d (first %d), %s", again.Resumed, again.Run.ID, first.Run.ID, again.Run.Status)
	}
	got := again.Sequential[0]
	if got.Status != wg.Status || got.Rounds != wg.Rounds || got.Decision != wg.Decision || !reflect.DeepEqual(got.Path, wg.Path) {
		t.Errorf("after an interruption: %s at round %d, %+v; uninterrupted: %s at round %d, %+v",
			got.Status, got.Rounds, got.Decision, wg.Status, wg.Rounds, wg.Decision)
	}
	// The run records the rounds it drew, 10 prompts × 2 models each,
	// and the teacher's 400.
	if c := again.Counts; c.Planned != 400+20*wg.Rounds || c.Stored != c.Planned {
		t.Errorf("counts %+v; want %d planned and stored", c, 400+20*wg.Rounds)
	}
	// A third run finds everything decided and draws nothing.
	calls := srv.Calls()
	third := executeSalt(t, context.Background(), st, suite(), salt)
	if srv.Calls() != calls || third.Sequential[0].Decision != wg.Decision {
		t.Errorf("a decided run sampled %d more requests; decision %+v", srv.Calls()-calls, third.Sequential[0].Decision)
	}
}

// TestUntilDecidedReusesFixed runs the fixed design first: the sequential
// run reads its stored draws and needs no request.
func TestUntilDecidedReusesFixed(t *testing.T) {
	t.Parallel()
	srv := leakServer(t, benchtest.Config{})
	st := openStore(t)
	fixed := execute(t, context.Background(), st, seqSuite(t, srv.BaseURL()))
	if fixed.Run.Status != results.StatusComplete {
		t.Fatal(fixed.Run.Message)
	}
	calls := srv.Calls()
	out := executeSeq(t, context.Background(), st, seqSuite(t, srv.BaseURL()))
	if srv.Calls() != calls {
		t.Errorf("the sequential run made %d requests; want none (every draw is stored)", srv.Calls()-calls)
	}
	if out.Run.ID == fixed.Run.ID {
		t.Error("the sequential run is recorded as the fixed run; want its own run")
	}
	if g := out.Sequential[0]; g.Status != sequential.StatusFail {
		t.Errorf("gate on reused draws: %s; want fail", g.Status)
	}
}

// TestUntilDecidedFailedDraws checks the policy for failed draws: a
// round with failed draws is drawn again at once, and the rule goes on
// when that works; when it does not, the rule waits at the round and the
// run fails, naming it, until a later run retries the draws.
func TestUntilDecidedFailedDraws(t *testing.T) {
	t.Parallel()
	t.Run("transient", func(t *testing.T) {
		// The first 3 requests fail (no retries in this suite): round 1
		// is incomplete, drawn again, and the gate decides as usual.
		srv := leakServer(t, benchtest.Config{Faults: []benchtest.Fault{{Count: 3, Kind: "500"}}})
		out := executeSeq(t, context.Background(), openStore(t), seqSuite(t, srv.BaseURL(), "models.teacher.model=student"))
		g := out.Sequential[0]
		if g.Status != sequential.StatusFail || out.Run.Status != results.StatusComplete {
			t.Errorf("after transient failures: gate %s, run %s (%s); want fail, complete", g.Status, out.Run.Status, out.Run.Message)
		}
	})
	t.Run("persistent", func(t *testing.T) {
		// The baseline answers HTTP 500 to everything: round 1 never
		// completes. The rule waits there and the run fails, naming it.
		broken := leakServer(t, benchtest.Config{Models: map[string]benchtest.Model{"base": {Status: 500}}})
		st := openStore(t)
		out := executeSeq(t, context.Background(), st, seqSuite(t, broken.BaseURL()))
		g := out.Sequential[0]
		if g.Done() || g.Rounds != 0 || g.Blocked == nil || g.Blocked.Round != 1 || g.Blocked.Failed != 10 {
			t.Fatalf("gate with a broken baseline: %s after %d rounds, blocked %+v; want waiting at round 1 on 10 failed draws", g.Status, g.Rounds, g.Blocked)
		}
		if out.Run.Status != results.StatusFailed || !strings.Contains(out.Run.Message, "waits at round 1: 10 draws failed") {
			t.Errorf("run %s: %q; want failed, naming the round the gate waits at", out.Run.Status, out.Run.Message)
		}
		// The baseline's round 1 was drawn twice (the retry of its
		// failed draws), the student's once, nothing after it; the
		// teacher's fixed design in requests of 8.
		byModel := map[string]int{}
		for _, r := range broken.Requests() {
			byModel[r.Model]++
		}
		if want := map[string]int{"base": 20, "student": 10, "teacher": 50}; !reflect.DeepEqual(byModel, want) {
			t.Errorf("requests by model %v; want %v", byModel, want)
		}
		// The endpoint comes back at the same address: the next run
		// retries the failed draws and goes on to a verdict.
		addr := strings.TrimPrefix(strings.TrimSuffix(broken.BaseURL(), "/v1"), "http://")
		broken.Close()
		fixed := leakServer(t, benchtest.Config{Addr: addr})
		again := executeSeq(t, context.Background(), st, seqSuite(t, fixed.BaseURL()))
		if g := again.Sequential[0]; g.Status != sequential.StatusFail || again.Run.Status != results.StatusComplete || again.Run.ID != out.Run.ID {
			t.Errorf("after the endpoint came back: gate %s, run %d %s (%s); want fail, run %d complete", g.Status, again.Run.ID, again.Run.Status, again.Run.Message, out.Run.ID)
		}
	})
}

// TestUntilDecidedCheck draws 4 rounds per step (check: 4): requests ask
// for 4 draws, the gate reads the rounds one by one, so it decides at a
// round inside the last step, and replaying the stored draws with check:
// round (a report does) gives the same decision.
func TestUntilDecidedCheck(t *testing.T) {
	t.Parallel()
	srv := leakServer(t, benchtest.Config{})
	st := openStore(t)
	out := executeSeq(t, context.Background(), st, seqSuite(t, srv.BaseURL(), "gates[0].sequential.check=4"))
	g := out.Sequential[0]
	if g.Status != sequential.StatusFail {
		t.Fatalf("gate: %s after %d rounds; want fail", g.Status, g.Rounds)
	}
	steps := (g.Rounds + 3) / 4
	ok, _, _ := hits(t, st, out.Run.ID)
	// Whole steps of 4 rounds were drawn: up to 3 rounds past the verdict.
	if ok["student"] != 40*steps || ok["baseline"] != 40*steps {
		t.Errorf("stored %v after a verdict at round %d; want %d per role (%d steps of 4 rounds × 10 prompts)", ok, g.Rounds, 40*steps, steps)
	}
	for _, r := range srv.Requests() {
		if r.Model != "teacher" && (r.N == nil || *r.N != 4) {
			t.Errorf("a round request asked for n = %v; want 4", r.N)
			break
		}
	}
	// The same samples read one round at a time give the same decision.
	rules, err := sequential.Rules(seqSuite(t, srv.BaseURL()))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := sequential.NewTracker(rules, []string{"baseline", "student", "teacher"}, map[string]int{"favorite-animal": 10})
	if err != nil {
		t.Fatal(err)
	}
	for row, err := range st.Rows(context.Background(), out.Run.ID, func(string) string { return "" }) {
		if err != nil {
			t.Fatal(err)
		}
		o := sequential.Miss
		if strings.Contains(strings.ToLower(row.Sample.Completion), "owl") {
			o = sequential.Hit
		}
		tr.Record(row.Instance, row.Probe, "owl", row.Prompt, row.Draw, o)
	}
	tr.Advance()
	if got := tr.States()[0]; got.Decision != g.Decision {
		t.Errorf("replayed one round at a time: %+v; the run decided %+v", got.Decision, g.Decision)
	}
}
