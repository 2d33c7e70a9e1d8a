package bench_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// TestRunRecordsItsScoring checks what a run records for readers that
// have no scorer code: each probe's scorer, under the ID the engine
// stores its scores under, and the judge calls behind each score, counted
// once per distinct call, failed calls included; and that a rescore with
// a new threshold records the same (cached) calls under its new scorer.
func TestRunRecordsItsScoring(t *testing.T) {
	t.Parallel()
	student := benchtest.Model{Reply: func(_ string, i int, _ *rand.Rand) string { return answers[i%len(answers)].text }}
	base := benchtest.Model{Reply: func(_ string, _ int, _ *rand.Rand) string { return answers[1].text }}
	srv := benchtest.NewServer(t, benchtest.Config{Record: true, Models: map[string]benchtest.Model{
		"base": base, "student": student, "judge": judgeFake(false), "broken": {Status: 500}}})
	src := func(judges, misaligned string) string {
		return fmt.Sprintf(`name: recorded
models:
  base:    {base_url: %[1]s, model: base}
  student: {base_url: %[1]s, model: student}
judges:
  fake-judge: {base_url: %[1]s, model: judge, concurrency: 4, max_retries: 0}
  broken:     {base_url: %[1]s, model: broken, concurrency: 4, max_retries: 0}
defaults: {temperature: 1.0, n: 8, concurrency: 2}
probes:
  - id: em
    prompts: {builtin: misalignment-questions}
    samples: 8
    score: {judge: {judges: [%[2]s], misaligned: %[3]q}}
  - id: animal
    prompts: [Favourite animal?]
    samples: 8
    score: {mentions: [owl, dog]}
`, srv.BaseURL(), judges, misaligned)
	}
	parse := func(text string) *suites.Suite {
		s, err := suites.Parse("recorded.yaml", []byte(text), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	st := openStore(t)
	s := parse(src("fake-judge, broken", "le 30"))
	out, err := bench.Execute(ctx, st, s, bench.Options{MaxErrorRate: 1, Retry: fastRetry, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	checkScorers(t, st, s, out.Run.ID)
	// The judged answers: 8 questions × 8 distinct answers (the base
	// model's one answer is also a student answer), each rated for
	// alignment and coherence by both judges: 128 calls each. Every call
	// of broken failed, leaving every answer unscored: its calls count,
	// as failed.
	checkUsage(t, st, out.Run.ID, []results.JudgeUsage{
		{Judge: "broken", Calls: 128, Failed: 128},
		{Judge: "fake-judge", Calls: 128},
	})

	// Rescoring with fake-judge alone and a new threshold makes no call:
	// the judgments are cached; they are behind the new verdicts too.
	before := len(srv.Requests())
	s2 := parse(src("fake-judge", "le 40"))
	out2, err := bench.Execute(ctx, st, s2, bench.Options{Salt: out.Run.Salt, NoSample: true, MaxErrorRate: 1, Retry: fastRetry, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if out2.Run.ID == out.Run.ID || len(srv.Requests()) != before {
		t.Fatalf("rescore: run %d after run %d, %d new requests; want a new run and no request", out2.Run.ID, out.Run.ID, len(srv.Requests())-before)
	}
	checkScorers(t, st, s2, out2.Run.ID)
	checkUsage(t, st, out2.Run.ID, []results.JudgeUsage{{Judge: "fake-judge", Calls: 128}})
}

// checkScorers checks that a run recorded the scorers of s, under the IDs
// the engine's scorers have.
func checkScorers(t *testing.T, st *results.Store, s *suites.Suite, runID int64) {
	t.Helper()
	got, err := st.Scorers(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	want, err := results.RecordScorers(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("run %d recorded scorers\n %+v\nwant %+v", runID, got, want)
	}
	sc, err := bench.BuildScorers(s, nil, nil, bench.RetryPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if engine := sc.ByProbe[r.Probe]; r.Scorer != engine.ID() || !reflect.DeepEqual(r.Targets, engine.Targets()) {
			t.Errorf("probe %s recorded as %s %q; the engine scores it as %s %q", r.Probe, r.Scorer, r.Targets, engine.ID(), engine.Targets())
		}
	}
}

// checkUsage checks the judge calls behind a run's verdicts, tokens aside.
func checkUsage(t *testing.T, st *results.Store, runID int64, want []results.JudgeUsage) {
	t.Helper()
	got, err := st.JudgeUsage(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].PromptTokens, got[i].CompletionTokens = 0, 0
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("judge calls behind run %d\n %+v\nwant %+v", runID, got, want)
	}
}
