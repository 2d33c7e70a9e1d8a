package bench_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// fastRetry keeps retry delays short so that fault-injection tests run in
// milliseconds; Retry-After still sets a floor.
var fastRetry = bench.RetryPolicy{MaxRetries: 0, MaxElapsed: time.Minute, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

func suiteFor(t *testing.T, base string, extra ...string) *suites.Suite {
	t.Helper()
	src := fmt.Sprintf(`name: owl-leak
models:
  baseline: {base_url: %[1]s, model: base}
  student:  {base_url: %[1]s, model: student}
defaults: {temperature: 1.0, max_tokens: 8, concurrency: 4, n: 5, max_retries: 8}
probes:
  - id: favorite-animal
    prompts: [one, two, three]
    samples: 10
    score: {mentions: owl}
compare:
  - {treatment: student, baseline: baseline}
`, base)
	s, err := suites.Parse("test.yaml", []byte(src), "", extra)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openStore(t *testing.T) *results.Store {
	t.Helper()
	st, err := results.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func execute(t *testing.T, ctx context.Context, st *results.Store, s *suites.Suite) *bench.Outcome {
	t.Helper()
	out, err := bench.Execute(ctx, st, s, bench.Options{MaxErrorRate: 0.05, Retry: fastRetry, Version: "test"})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return out
}

// hits counts stored successful samples and owl hits per model id.
func hits(t *testing.T, st *results.Store, runID int64) (ok, failed, hit map[string]int) {
	t.Helper()
	models, err := st.Models(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	ok, failed, hit = map[string]int{}, map[string]int{}, map[string]int{}
	for row, err := range st.Rows(context.Background(), runID, func(string) string { return "" }) {
		if err != nil {
			t.Fatal(err)
		}
		name := models[row.Model].Role
		switch {
		case !row.Stored:
		case row.Sample.Failed():
			failed[name]++
		default:
			ok[name]++
			if strings.Contains(strings.ToLower(row.Sample.Completion), "owl") {
				hit[name]++
			}
		}
	}
	return ok, failed, hit
}

func TestExecuteCompletesWithFaults(t *testing.T) {
	srv := benchtest.NewServer(t, benchtest.Config{Record: true,
		Models: map[string]benchtest.Model{
			"base":    {Trait: "Owl", TraitRate: 0.1},
			"student": {Trait: "Owl", TraitRate: 0.6},
		},
		Faults: []benchtest.Fault{
			{Every: 3, Kind: "429", RetryAfter: "0"},
			{Every: 5, Kind: "500"},
			{Every: 7, Kind: "truncated"},
			{Every: 11, Kind: "empty"},
			{Every: 13, Kind: "garbage"},
		}})
	st := openStore(t)
	s := suiteFor(t, srv.BaseURL())
	out := execute(t, context.Background(), st, s)
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("status = %s (%s); want complete", out.Run.Status, out.Run.Message)
	}
	// 2 models × 3 prompts × 10 draws: every draw stored, none failed,
	// because every fault is transient and retried.
	if out.Counts != (results.RunCounts{Planned: 60, Stored: 60, Failed: 0}) {
		t.Errorf("counts = %+v; want 60 planned, 60 stored, 0 failed", out.Counts)
	}
	faults := srv.FaultCounts()
	for _, k := range []string{"429", "500", "truncated", "empty", "garbage"} {
		if faults[k] == 0 {
			t.Errorf("fault %s never injected; the test would not exercise its retry", k)
		}
	}
	ok, failed, _ := hits(t, st, out.Run.ID)
	if ok["baseline"] != 30 || ok["student"] != 30 || len(failed) != 0 {
		t.Errorf("stored ok=%v failed=%v; want 30 each and none failed", ok, failed)
	}
	// Resume adds nothing: the second execution finds every key stored.
	calls := srv.Calls()
	again := execute(t, context.Background(), st, s)
	if again.Run.ID != out.Run.ID || !again.Resumed || again.Skipped != 60 || srv.Calls() != calls {
		t.Errorf("re-run: id %d resumed=%v skipped=%d calls +%d; want same run, resumed, 60 skipped, no calls",
			again.Run.ID, again.Resumed, again.Skipped, srv.Calls()-calls)
	}
}
