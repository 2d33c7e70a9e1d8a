package bench_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// nRefusedSuite is issue 11's scale: 2 models × 5 prompts × 200 samples,
// concurrency 32, n = 8.
func nRefusedSuite(t *testing.T, base string, extra ...string) *suites.Suite {
	t.Helper()
	src := fmt.Sprintf(`name: n-refused
models:
  baseline: {base_url: %[1]s, model: base}
  student:  {base_url: %[1]s, model: student}
defaults: {temperature: 1.0, max_tokens: 8, concurrency: 32, n: 8}
probes:
  - id: favorite-animal
    prompts: [one, two, three, four, five]
    samples: 200
    score: {mentions: owl}
`, base)
	s, err := suites.Parse("n-refused.yaml", []byte(src), "", extra)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNRefusedWithTransientFaults is issue 11 item 1: a server that
// answers n > 1 with HTTP 500 (llama.cpp) and also has 20% transient
// faults (429 and 503). A job whose one-shot n-support probe met a
// transient fault used to fall through to the n > 1 retry path, receive
// "only one choice" 500s until its attempts ran out, and store all its
// draws as failed; and a job that read the n support as unknown and then
// as refused (another worker settled it in between) took the same path.
func TestNRefusedWithTransientFaults(t *testing.T) {
	model := benchtest.Model{Trait: "Owl", TraitRate: 0.3, RefuseN: true}
	srv := benchtest.NewServer(t, benchtest.Config{
		Models: map[string]benchtest.Model{"base": model, "student": model},
		// Calls 10, 20, …: 429; calls 5, 15, …: 503; 20% in all.
		Faults: []benchtest.Fault{{Every: 10, Kind: "429", RetryAfter: "0"}, {Every: 5, Kind: "503"}}})
	st := openStore(t)
	// 10 retries: a single-choice request then fails only after 11
	// faults in a row, which at 20% happens with probability 0.2¹¹ ≈ 2e-8
	// per request, so the budget explains no failure at this scale.
	su := nRefusedSuite(t, srv.BaseURL(), "defaults.max_retries=10")
	out, err := bench.Execute(context.Background(), st, su, bench.Options{MaxErrorRate: 0.05, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	faults := srv.FaultCounts()
	if faults["429"] == 0 || faults["503"] == 0 {
		t.Fatalf("faults injected %v; the test would not exercise the probe's transient path", faults)
	}
	if out.Counts != (results.RunCounts{Planned: 2000, Stored: 2000, Failed: 0}) {
		t.Errorf("counts %+v; want all 2000 draws stored and none failed", out.Counts)
	}
}
