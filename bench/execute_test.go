package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// cancelWhen calls cancel once cond holds, checking every millisecond for
// at most 30 s, and then cancels anyway. The returned stop ends the
// polling and reports whether the deadline passed before cond held.
func cancelWhen(cond func() bool, cancel context.CancelFunc) (stop func() (timedOut bool)) {
	done := make(chan struct{})
	var timedOut atomic.Bool
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer cancel()
		deadline := time.NewTimer(30 * time.Second)
		defer deadline.Stop()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-tick.C:
			case <-deadline.C:
				timedOut.Store(true)
				return
			case <-done:
				return
			}
		}
	}()
	return func() bool {
		close(done)
		<-finished
		return timedOut.Load()
	}
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
	models, err := st.Instances(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	ok, failed, hit = map[string]int{}, map[string]int{}, map[string]int{}
	for row, err := range st.Rows(context.Background(), runID, func(string) string { return "" }) {
		if err != nil {
			t.Fatal(err)
		}
		name := models[row.Instance].Role
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
	t.Parallel()
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
	// About 62% of requests draw a fault (1 − ⅔·⅘·⁶⁄₇·¹⁰⁄₁₁·¹²⁄₁₃), so
	// allow 30 retries: a job then fails with probability 0.62³¹ ≈ 4e-7.
	s := suiteFor(t, srv.BaseURL(), "defaults.max_retries=30")
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

func TestInterruptThenResumeMatchesUninterrupted(t *testing.T) {
	t.Parallel()
	models := map[string]benchtest.Model{
		"base":    {Trait: "Owl", TraitRate: 0.2, Latency: 5 * time.Millisecond},
		"student": {Trait: "Owl", TraitRate: 0.6, Latency: 5 * time.Millisecond},
	}
	// The interrupt comes from the server, at the interrupted run's 6th
	// request (before answering it), not from a poller racing the run's
	// 75 ms: one request per model in flight, so 10 or 12 draws are done
	// when it stops.
	var received, cancelAt atomic.Int64
	var interrupt atomic.Pointer[context.CancelFunc]
	srv := benchtest.NewServer(t, benchtest.Config{Models: models, OnRequest: func(benchtest.Request) {
		if received.Add(1) == cancelAt.Load() {
			if f := interrupt.Load(); f != nil {
				(*f)()
			}
		}
	}})
	s := suiteFor(t, srv.BaseURL(), "defaults.concurrency=1", "defaults.n=2")

	// Reference: one uninterrupted run in its own database.
	ref := openStore(t)
	want := execute(t, context.Background(), ref, s)
	_, _, wantHits := hits(t, ref, want.Run.ID)

	st := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelAt.Store(received.Load() + 6)
	interrupt.Store(&cancel)
	first, err := bench.Execute(ctx, st, s, bench.Options{MaxErrorRate: 0.05, Retry: fastRetry})
	interrupt.Store(nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Run.Status != results.StatusInterrupted || first.Counts.Stored >= 60 || first.Counts.Stored < 10 {
		t.Fatalf("after cancel: status %s, %d stored; want interrupted with 10..59 stored", first.Run.Status, first.Counts.Stored)
	}
	second := execute(t, context.Background(), st, s)
	if second.Run.ID != first.Run.ID || second.Run.Status != results.StatusComplete {
		t.Fatalf("resume: run %d status %s; want run %d complete", second.Run.ID, second.Run.Status, first.Run.ID)
	}
	if second.Skipped != first.Counts.Stored || second.Summary.Done != 60-first.Counts.Stored {
		t.Errorf("resume skipped %d and sampled %d; want %d and %d", second.Skipped, second.Summary.Done, first.Counts.Stored, 60-first.Counts.Stored)
	}
	// Seeds derive from keys, so the resumed run drew exactly what the
	// uninterrupted one drew.
	_, _, gotHits := hits(t, st, second.Run.ID)
	if fmt.Sprint(gotHits) != fmt.Sprint(wantHits) {
		t.Errorf("hits after resume %v; uninterrupted run %v", gotHits, wantHits)
	}
}

func TestNGreaterThanOneFallback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		model benchtest.Model
	}{
		{"refused like llama.cpp", benchtest.Model{Trait: "Owl", TraitRate: 0.5, RefuseN: true}},
		{"ignored like Ollama", benchtest.Model{Trait: "Owl", TraitRate: 0.5, IgnoreN: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := benchtest.NewServer(t, benchtest.Config{Record: true, Models: map[string]benchtest.Model{"base": tc.model, "student": tc.model}})
			st := openStore(t)
			out := execute(t, context.Background(), st, suiteFor(t, srv.BaseURL(), "defaults.concurrency=1"))
			if out.Counts != (results.RunCounts{Planned: 60, Stored: 60}) {
				t.Fatalf("counts %+v; want all 60 stored, none failed", out.Counts)
			}
			// Per model: one probing request with n = 5, then single draws.
			multi := map[string]int{}
			for _, r := range srv.Requests() {
				if r.N != nil && *r.N > 1 {
					multi[r.Model]++
				}
			}
			if multi["base"] != 1 || multi["student"] != 1 {
				t.Errorf("requests with n > 1 per model: %v; want exactly one probe each", multi)
			}
		})
	}
}

func TestRequestsCarryParameters(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewServer(t, benchtest.Config{Record: true, Models: map[string]benchtest.Model{"base": {Trait: "Owl"}, "student": {Trait: "Owl"}}})
	s := suiteFor(t, srv.BaseURL(), "defaults.temperature=0", "models.student.api_key_env=TEST_KEY", "models.student.system_prompt=You love owls.")
	dbPath := filepath.Join(t.TempDir(), "secret.db")
	st, err := results.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	out, err := bench.Execute(context.Background(), st, s, bench.Options{Retry: fastRetry,
		Getenv: func(k string) string {
			if k == "TEST_KEY" {
				return "sk-secret-123"
			}
			return ""
		}})
	if err != nil || out.Run.Status != results.StatusComplete {
		t.Fatalf("Execute: %v, %+v", err, out)
	}
	for _, r := range srv.Requests() {
		// go-openai drops temperature 0 (omitempty); it must be on the wire.
		if !strings.Contains(string(r.Raw), `"temperature":0`) || r.Temperature == nil || *r.Temperature != 0 {
			t.Fatalf("request lacks temperature 0: %s", r.Raw)
		}
		if r.Seed == nil {
			t.Fatalf("request lacks a seed: %s", r.Raw)
		}
		switch r.Model {
		case "student":
			if r.Auth != "Bearer sk-secret-123" || len(r.Messages) != 2 || r.Messages[0].Role != "system" {
				t.Fatalf("student request: auth %q, messages %+v", r.Auth, r.Messages)
			}
		case "base":
			if r.Auth != "Bearer " && r.Auth != "" || len(r.Messages) != 1 {
				t.Fatalf("base request: auth %q, messages %+v", r.Auth, r.Messages)
			}
		}
	}
	// The key is read from the environment and never written down.
	st.Close()
	for _, f := range []string{dbPath, dbPath + "-wal"} {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte("sk-secret-123")) {
			t.Fatalf("%s contains the API key", f)
		}
	}
}

func TestPersistentFailuresAreRecordedNotScored(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base":    {Trait: "Owl", TraitRate: 0.5},
		"student": {Status: 500},
	}})
	st := openStore(t)
	s := suiteFor(t, srv.BaseURL(), "defaults.max_retries=1")
	out := execute(t, context.Background(), st, s)
	// 30 of 60 failed: more than 5%, so the run failed; nothing is missing.
	if out.Run.Status != results.StatusFailed || out.Counts != (results.RunCounts{Planned: 60, Stored: 60, Failed: 30}) {
		t.Fatalf("status %s counts %+v; want failed with 30 of 60 failed", out.Run.Status, out.Counts)
	}
	ok, failed, _ := hits(t, st, out.Run.ID)
	if ok["student"] != 0 || failed["student"] != 30 || ok["baseline"] != 30 {
		t.Errorf("ok %v failed %v", ok, failed)
	}
	sc, err := bench.BuildScorers(s, nil, nil, bench.RetryPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	ids := sc.IDs()
	for row, err := range st.Rows(context.Background(), out.Run.ID, func(p string) string { return ids[p] }) {
		if err != nil {
			t.Fatal(err)
		}
		if row.Sample.Failed() && (row.Scores != nil || !strings.Contains(row.Sample.Err, "HTTP 500") || row.Sample.HTTPStatus != 500 || row.Sample.Attempts != 2) {
			t.Fatalf("failed sample: %+v scores %v; want HTTP 500 after 2 attempts, unscored", row.Sample, row.Scores)
		}
		// Successful samples are scored under the same ID, so a failed
		// sample's missing scores are not an artefact of a wrong ID.
		if !row.Sample.Failed() && row.Scores == nil {
			t.Fatalf("successful sample %s has no scores under %v", row.Sample.Key, ids)
		}
	}
}

func TestFatalErrorStopsModel(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base":    {Trait: "Owl", TraitRate: 0.5},
		"student": {Status: 401},
	}})
	st := openStore(t)
	out := execute(t, context.Background(), st, suiteFor(t, srv.BaseURL(), "defaults.concurrency=1"))
	if out.Run.Status != results.StatusFailed || !strings.Contains(out.Run.Message, "student") || !strings.Contains(out.Run.Message, "401") {
		t.Fatalf("status %s message %q; want failed naming student and 401", out.Run.Status, out.Run.Message)
	}
	// The first student request failed; the rest were never sent.
	if out.Counts.Stored != 30+5 || out.Counts.Failed != 5 {
		t.Errorf("counts %+v; want 30 baseline + one failed job of 5", out.Counts)
	}
}

func TestChangedScorerReusesSamples(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base":    {Trait: "Owl", TraitRate: 0.3, Fillers: []string{"Dog"}},
		"student": {Trait: "Owl", TraitRate: 0.3, Fillers: []string{"Dog"}},
	}})
	st := openStore(t)
	first := execute(t, context.Background(), st, suiteFor(t, srv.BaseURL()))
	calls := srv.Calls()
	// A new scoring rule makes a new run of the same draws: nothing is
	// sampled again, and the stored samples are scored under the new rule.
	second := execute(t, context.Background(), st, suiteFor(t, srv.BaseURL(), "probes.favorite-animal.score={mentions: dog}"))
	if second.Run.ID == first.Run.ID || second.Skipped != 60 || srv.Calls() != calls {
		t.Fatalf("run %d (first %d) skipped %d, %d new calls; want a new run reusing all 60 samples", second.Run.ID, first.Run.ID, second.Skipped, srv.Calls()-calls)
	}
	sc, _ := bench.NewScorer(suites.ScoreSpec{Mentions: []string{"dog"}})
	dogs, owls := 0, 0
	for row, err := range st.Rows(context.Background(), second.Run.ID, func(string) string { return sc.ID() }) {
		if err != nil {
			t.Fatal(err)
		}
		if len(row.Scores) != 1 || row.Scores[0].Target != "dog" {
			t.Fatalf("sample %s scores %+v; want one dog score", row.Sample.Key, row.Scores)
		}
		if row.Scores[0].Hit {
			dogs++
		} else if strings.Contains(row.Sample.Completion, "Owl") {
			owls++
		}
	}
	// Every completion is Owl or Dog, so dog hits and owl answers add up.
	if dogs+owls != 60 || dogs == 0 {
		t.Errorf("dog hits %d + owl answers %d; want 60 in all", dogs, owls)
	}
}

func TestInterruptBeforeSamplingLeavesResumableRun(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{"base": {Trait: "Owl"}, "student": {Trait: "Owl"}}})
	st := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C before the first request
	s := suiteFor(t, srv.BaseURL())
	out, err := bench.Execute(ctx, st, s, bench.Options{Retry: fastRetry})
	if err != nil {
		t.Fatalf("Execute after an early interrupt: %v; want an interrupted run, not an error", err)
	}
	if out.Run.Status != results.StatusInterrupted || out.Counts.Stored != 0 || srv.Calls() != 0 {
		t.Fatalf("status %s, %d stored, %d calls; want interrupted with nothing sent", out.Run.Status, out.Counts.Stored, srv.Calls())
	}
	if again := execute(t, context.Background(), st, s); again.Run.ID != out.Run.ID || again.Run.Status != results.StatusComplete {
		t.Errorf("resume: run %d %s; want run %d complete", again.Run.ID, again.Run.Status, out.Run.ID)
	}
}

// linkCounter is a results.Store that records what LinkSamples linked.
type linkCounter struct {
	*results.Store
	linked []int
}

func (l *linkCounter) LinkSamples(ctx context.Context, runID int64) (int, error) {
	n, err := l.Store.LinkSamples(ctx, runID)
	l.linked = append(l.linked, n)
	return n, err
}

// TestExecuteLinksSamples checks that the engine gives every sample it
// stores its plan position, so that Put links each draw to its sample
// and LinkSamples has nothing left to link after a run that drew all its
// samples; a run that reuses stored samples is linked by LinkSamples.
// A wrong position (one per draw, say) would leave every draw to it.
func TestExecuteLinksSamples(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base": {Trait: "Owl", TraitRate: 0.3}, "student": {Trait: "Owl", TraitRate: 0.6}}})
	st := &linkCounter{Store: openStore(t)}
	// Two probes, so that plan positions are not the order of one model's
	// draws, and n = 3 with 10 draws, so that jobs are cut.
	s := suiteFor(t, srv.BaseURL(), "defaults.n=3", `probes=[{id: a, prompts: [one, two], samples: 10, score: {mentions: owl}}, {id: b, prompts: [three], samples: 4, score: {mentions: owl}, models: [student]}]`)
	out, err := bench.Execute(context.Background(), st, s, bench.Options{Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	if out.Counts != (results.RunCounts{Planned: 44, Stored: 44}) {
		t.Fatalf("counts %+v; want 44 planned and stored", out.Counts)
	}
	// A new scoring rule: a new run of the same draws, all reused.
	again, err := bench.Execute(context.Background(), st, suiteFor(t, srv.BaseURL(), "defaults.n=3",
		`probes=[{id: a, prompts: [one, two], samples: 10, score: {mentions: dog}}, {id: b, prompts: [three], samples: 4, score: {mentions: owl}, models: [student]}]`),
		bench.Options{Retry: fastRetry})
	if err != nil || again.Skipped != 44 {
		t.Fatalf("second run: %v, skipped %d; want all 44 reused", err, again.Skipped)
	}
	if want := []int{0, 44}; fmt.Sprint(st.linked) != fmt.Sprint(want) {
		t.Errorf("LinkSamples linked %v draws; want %v (all by Put in the first run, all reused in the second)", st.linked, want)
	}
}
