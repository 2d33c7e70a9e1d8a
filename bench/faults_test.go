package bench_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
	t.Parallel()
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

// TestNullContentIsFailedNotScored is issue 11 item 3: an answer whose
// content is null (a refusal) or that has no message is not an answer.
// It used to be stored as the empty completion and scored as a valid
// "no trait" sample, pulling rates down.
func TestNullContentIsFailedNotScored(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		model  benchtest.Model
		faults []benchtest.Fault
		sets   []string
		want   results.RunCounts
		errHas string // in every failed sample's error
	}{
		// Every choice is null: each draw is retried (max_retries 2)
		// and stored failed; 2 models × 3 prompts × 10 draws.
		{"always null", benchtest.Model{NullEvery: 1}, nil, []string{"defaults.max_retries=2"},
			results.RunCounts{Planned: 60, Stored: 60, Failed: 60}, "null content"},
		// n = 4 with choices 0 and 2 null: per job two draws are kept,
		// and the other two are asked for singly, which answers choice
		// 0 again (null), so they fail: half of all draws.
		{"half the choices null", benchtest.Model{Trait: "Owl", TraitRate: 0.5, NullEvery: 2}, nil,
			[]string{"defaults.n=4", "probes.favorite-animal.samples=8", "defaults.max_retries=1"},
			results.RunCounts{Planned: 48, Stored: 48, Failed: 24}, "null content"},
		// Null and message-less replies now and then are transient: the
		// retries absorb them and nothing fails.
		{"transient null and no message", benchtest.Model{Trait: "Owl", TraitRate: 0.5},
			[]benchtest.Fault{{Every: 3, Kind: "null"}, {Every: 4, Kind: "nomessage"}}, []string{"defaults.max_retries=10"},
			results.RunCounts{Planned: 60, Stored: 60}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{"base": tc.model, "student": tc.model}, Faults: tc.faults})
			st := openStore(t)
			s := suiteFor(t, srv.BaseURL(), tc.sets...)
			out, err := bench.Execute(context.Background(), st, s, bench.Options{MaxErrorRate: 1, Retry: fastRetry})
			if err != nil {
				t.Fatal(err)
			}
			if out.Counts != tc.want {
				t.Errorf("counts %+v; want %+v", out.Counts, tc.want)
			}
			if faults := srv.FaultCounts(); len(tc.faults) > 0 && (faults["null"] == 0 || faults["nomessage"] == 0) {
				t.Errorf("faults injected %v; want both kinds", faults)
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
				switch {
				case row.Sample.Failed() && (row.Scores != nil || !strings.Contains(row.Sample.Err, tc.errHas)):
					t.Fatalf("failed sample %s: error %q, scores %v; want an error naming %q and no scores", row.Sample.Key, row.Sample.Err, row.Scores, tc.errHas)
				case !row.Sample.Failed() && (row.Sample.Completion == "" || row.Scores == nil):
					t.Fatalf("sample %s stored as valid with completion %q, scores %v", row.Sample.Key, row.Sample.Completion, row.Scores)
				}
			}
		})
	}
}

// TestDeadEndpointStopsWithinSeconds is issue 11 item 11: an endpoint
// that refuses every connection used to be retried draw by draw under
// the full retry policy (about 20 minutes for 10,000 draws) before the run
// failed. The circuit breaker stops its models after a few failures; the
// draws not sampled stay pending, and a later run resumes them.
func TestDeadEndpointStopsWithinSeconds(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // every connection is refused
	s := suiteFor(t, "http://"+addr+"/v1")
	st := openStore(t)
	// The default retry policy backs off from 0.5 s to 30 s over
	// max_retries 8: without the breaker one job alone outlasts this.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := bench.Execute(ctx, st, s, bench.Options{MaxErrorRate: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil || out.Run.Status != results.StatusFailed {
		t.Fatalf("status %s (%s), deadline passed: %v; want failed before the deadline", out.Run.Status, out.Run.Message, ctx.Err() != nil)
	}
	// Both models share the endpoint, so both stop, for the same reason.
	if len(out.Summary.Stopped) != 2 || !errors.Is(out.Summary.Stopped[0].Err, bench.ErrEndpointDown) || !errors.Is(out.Summary.Stopped[1].Err, bench.ErrEndpointDown) {
		t.Fatalf("stopped %v; want both models stopped with ErrEndpointDown", out.Summary.Stopped)
	}
	if want := "endpoint http://" + addr + "/v1 is down"; !strings.Contains(out.Run.Message, want) {
		t.Errorf("message %q; want it to contain %q", out.Run.Message, want)
	}
	// Only what failed is stored, as failed; the rest is pending.
	if c := out.Counts; c.Planned != 60 || c.Stored != c.Failed || c.Stored == 60 {
		t.Errorf("counts %+v; want 60 planned, only failed ones stored, some pending", c)
	}

	// The endpoint comes back: the same suite resumes the run.
	benchtest.NewServer(t, benchtest.Config{Addr: addr, Models: map[string]benchtest.Model{"base": {Trait: "Owl"}, "student": {Trait: "Owl"}}})
	again, err := bench.Execute(ctx, st, s, bench.Options{MaxErrorRate: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if again.Run.ID != out.Run.ID || again.Run.Status != results.StatusComplete || again.Counts != (results.RunCounts{Planned: 60, Stored: 60}) {
		t.Errorf("resume: run %d %s %+v; want run %d complete with 60 stored", again.Run.ID, again.Run.Status, again.Counts, out.Run.ID)
	}
}

// TestSecondRunRefusedOrWaits is issue 11 item 4: a second run of the same
// suite into the same database used to "resume" the live first run and
// sample the same draws again (9,504 duplicate requests for 10,000 draws).
// Now it is refused with the live run's PID and host, or with Wait waits
// for it and then finds every draw stored.
func TestSecondRunRefusedOrWaits(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	slow := benchtest.Model{Reply: func(string, int, *rand.Rand) string {
		once.Do(func() { close(started) })
		<-release // the first run stays live until the test lets it go
		return "Owl."
	}}
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{"base": slow, "student": slow}})
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(letGo) // before the server closes, should the test fail early
	s := suiteFor(t, srv.BaseURL())
	path := filepath.Join(t.TempDir(), "t.db")
	open := func() *results.Store { // each run has its own handle, as a process would
		st, err := results.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	deadline, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		out *bench.Outcome
		err error
	}
	run := func(st *results.Store, opt bench.Options) <-chan result {
		ch := make(chan result, 1)
		go func() {
			out, err := bench.Execute(deadline, st, s, opt)
			ch <- result{out, err}
		}()
		return ch
	}
	await := func(ch <-chan result) result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-deadline.Done():
			t.Fatal("a run did not finish within 30 s")
			return result{}
		}
	}

	first := run(open(), bench.Options{Retry: fastRetry})
	select {
	case <-started:
	case <-deadline.Done():
		t.Fatal("the first run sent no request within 30 s")
	}
	// Refused, naming the live run's owner.
	_, err := bench.Execute(deadline, open(), s, bench.Options{Retry: fastRetry})
	var busy *results.RunBusyError
	host, _ := os.Hostname()
	if !errors.As(err, &busy) || busy.Run.PID != os.Getpid() || busy.Run.Host != host {
		t.Fatalf("second run: %v; want *results.RunBusyError naming process %d on %s", err, os.Getpid(), host)
	}
	// With Wait: it waits for the first run, then has nothing to sample.
	waiting := make(chan struct{})
	third := run(open(), bench.Options{Retry: fastRetry, Wait: true, Waiting: func(*results.RunBusyError) { close(waiting) }})
	select {
	case <-waiting:
	case <-deadline.Done():
		t.Fatal("the waiting run did not start waiting within 30 s")
	}
	letGo()
	r1 := await(first)
	// Not r1.out.Run.Status: the waiting run may have claimed (resumed)
	// the run between the first one's finish and its re-read of the record.
	if r1.err != nil || r1.out.Counts != (results.RunCounts{Planned: 60, Stored: 60}) {
		t.Fatalf("first run: %v %+v", r1.err, r1.out)
	}
	calls := srv.Calls()
	r3 := await(third)
	if r3.err != nil || r3.out.Run.ID != r1.out.Run.ID || r3.out.Skipped != 60 || r3.out.Run.Status != results.StatusComplete {
		t.Fatalf("waiting run: %v, %+v; want run %d resumed with all 60 draws stored", r3.err, r3.out, r1.out.Run.ID)
	}
	// 2 models × 3 prompts × 10 draws in requests of n = 5: 12 requests,
	// each sent once.
	if calls != 12 || srv.Calls() != calls {
		t.Errorf("%d requests, %d after the waiting run; want 12 and no more", calls, srv.Calls())
	}
}
