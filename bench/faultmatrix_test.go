package bench_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// The fault matrix's suite: 2 models × 2 prompts × 8 samples, 3 requests
// in flight per model, max_retries 3 (4 attempts), 10 s per attempt.
const (
	matrixPlanned = 32
	matrixWorkers = 3
	matrixRetries = 3
	matrixKey     = "sk-matrix-SECRET-0042"
)

func matrixSuite(t *testing.T, n int) *suites.Suite {
	t.Helper()
	src := fmt.Sprintf(`name: fault-matrix
models:
  baseline: {base_url: %[1]s, model: base, api_key_env: MATRIX_KEY}
  student:  {base_url: %[1]s, model: student, api_key_env: MATRIX_KEY}
defaults: {temperature: 1.0, max_tokens: 8, concurrency: %[2]d, n: %[3]d, max_retries: %[4]d, timeout: 10s}
probes:
  - id: favorite-animal
    prompts: [one, two]
    samples: 8
    score: {mentions: owl}
`, benchtest.MemoryChatURL, matrixWorkers, n, matrixRetries)
	s, err := suites.Parse("matrix.yaml", []byte(src), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// matrixOptions run a suite against srv in memory under the default
// retry and breaker policies, which in a synctest bubble wait in fake
// time. Adaptive rate control is off: the matrix's expected counts follow
// the retry schedule alone (TestFaultMatrixRateControl checks the storm
// with it on, TestAdaptiveQuota the control itself).
func matrixOptions(srv *benchtest.Server) bench.Options {
	return bench.Options{MaxErrorRate: 1, Version: "test", RateControl: bench.RateControl{Disabled: true},
		Getenv: func(k string) string {
			if k == "MATRIX_KEY" {
				return matrixKey
			}
			return ""
		},
		NewClient: func(in suites.Instance, key string, _ *http.Client) bench.Client {
			return bench.NewOpenAIClient(bench.OpenAIConfig{BaseURL: in.BaseURL, APIKey: key,
				HTTPClient: &http.Client{Transport: srv.Transport()}, Timeout: *in.Settings.Timeout})
		}}
}

// TestFaultMatrix runs the fault campaign of issue 11 as a test: every
// fault of the fake endpoint, with n = 1 and with n = 4 against a server
// that honours n, refuses it (HTTP 500, llama.cpp) or ignores it (one
// choice, Ollama). For every cell it checks the exact counts: every
// planned draw stored; failed draws exactly those the retry budget
// explains; every usable choice the server answered stored once, so that
// served = stored successes (no request answered twice for one draw, no
// answer dropped); no request sent more often than the budget allows.
// Time is fake (testing/synctest, the server in memory), so Retry-After
// storms, hangs and slow bodies take no real time.
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	nModes := []struct {
		name  string
		n     int // the suite's n; draws per job
		model benchtest.Model
	}{
		{"n=1", 1, benchtest.Model{}},
		{"n=4 honoured", 4, benchtest.Model{}},
		{"n=4 refused", 4, benchtest.Model{RefuseN: true}},
		{"n=4 ignored", 4, benchtest.Model{IgnoreN: true}},
	}
	// failed(n) is the number of draws that must fail with n draws per
	// job; errHas is in each failed sample's error.
	none := func(int) int { return 0 }
	faults := []struct {
		name   string
		fault  benchtest.Fault
		failed func(n int) int
		errHas string
	}{
		// No fault: the reference cell.
		{"none", benchtest.Fault{}, none, ""},
		// Every request in the first 12 s is answered 429 with
		// Retry-After: 5. Retries wait exactly 5 s (the backoff's bound,
		// ≤ 2 s for the first three retries, is below it), so the
		// requests of t = 0 are answered at t = 0, 5, 10 (429) and 15
		// (served): 4 attempts, within max_retries 3.
		{"429 storm, Retry-After within the budget", benchtest.Fault{For: 12 * time.Second, Kind: "429", RetryAfter: "5"}, none, ""},
		// The same storm for 16 s: the requests of t = 0 meet 429 at t =
		// 0, 5, 10 and 15 and fail after their 4 attempts: one job per
		// worker, 2 models × 3 workers. Jobs started at t = 15 meet one
		// 429 and are served at t = 20.
		{"429 storm beyond the budget", benchtest.Fault{For: 16 * time.Second, Kind: "429", RetryAfter: "5"},
			func(n int) int { return 2 * matrixWorkers * n }, "HTTP 429"},
		// Two 5xx answers per request, then the answer: within the
		// budget. (A 500 to n > 1 reads as a refusal of n: the draws
		// are then asked one at a time, each meeting its own two 500s.)
		{"500 twice", benchtest.Fault{First: 2, Kind: "500"}, none, ""},
		{"502 twice", benchtest.Fault{First: 2, Kind: "502"}, none, ""},
		{"503 twice, Retry-After 30", benchtest.Fault{First: 2, Kind: "503", RetryAfter: "30"}, none, ""},
		// Four 503s exhaust 4 attempts: every draw fails.
		{"503 beyond the budget", benchtest.Fault{First: 4, Kind: "503"}, func(int) int { return matrixPlanned }, "HTTP 503"},
		{"HTML 502 page twice", benchtest.Fault{First: 2, Kind: "html"}, none, ""},
		{"HTML body with 200 twice", benchtest.Fault{First: 2, Kind: "garbage"}, none, ""},
		{"truncated JSON twice", benchtest.Fault{First: 2, Kind: "truncated"}, none, ""},
		{"garbled JSON twice", benchtest.Fault{First: 2, Kind: "garbled"}, none, ""},
		{"choices not a list twice", benchtest.Fault{First: 2, Kind: "wrongtype"}, none, ""},
		{"empty choices twice", benchtest.Fault{First: 2, Kind: "empty"}, none, ""},
		{"null content twice", benchtest.Fault{First: 2, Kind: "null"}, none, ""},
		{"no message twice", benchtest.Fault{First: 2, Kind: "nomessage"}, none, ""},
		// Null content on every attempt: never an answer, never scored.
		{"null content always", benchtest.Fault{First: 100, Kind: "null"}, func(int) int { return matrixPlanned }, "null content"},
		// A first attempt that hangs 60 s times out at 10 s and is
		// retried. At most 6 requests (2 models × 3 workers) time out in
		// a row, each followed by its retry's answer: below the
		// breaker's 10.
		{"hang beyond the timeout once", benchtest.Fault{First: 1, Kind: "hang", Hang: time.Minute}, none, ""},
		// Half the body, then 5 s, then the rest: slow, not failed.
		{"slow body within the timeout", benchtest.Fault{First: 1, Kind: "slow", Hang: 5 * time.Second}, none, ""},
		// Half the body, then nothing for 60 s: the attempt times out with
		// a cut reply and is retried.
		{"slow body beyond the timeout once", benchtest.Fault{First: 1, Kind: "slow", Hang: time.Minute}, none, ""},
	}
	for _, nm := range nModes {
		for _, f := range faults {
			t.Run(nm.name+"/"+f.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					var cfg benchtest.Config
					cfg.Record = true
					cfg.Models = map[string]benchtest.Model{"base": nm.model, "student": nm.model}
					for k, m := range cfg.Models {
						m.Trait, m.TraitRate = "Owl", 0.5
						cfg.Models[k] = m
					}
					if f.fault.Kind != "" {
						cfg.Faults = []benchtest.Fault{f.fault}
					}
					srv := benchtest.NewMemory(cfg)
					st := newMemStore()
					out, err := bench.Execute(context.Background(), st, matrixSuite(t, nm.n), matrixOptions(srv))
					if err != nil {
						t.Fatal(err)
					}
					want := f.failed(nm.n)
					if out.Counts != (results.RunCounts{Planned: matrixPlanned, Stored: matrixPlanned, Failed: want}) {
						t.Errorf("counts %+v; want all %d planned draws stored, %d failed", out.Counts, matrixPlanned, want)
					}
					if served := srv.Served(); served != matrixPlanned-out.Counts.Failed {
						t.Errorf("the server answered %d usable choices, %d successful samples are stored; want equal (no draw answered twice, no answer dropped)",
							served, matrixPlanned-out.Counts.Failed)
					}
					checkMatrixRequests(t, srv, f.fault, st, out.Run.ID, f.errHas)
				})
			})
		}
	}
}

// TestFaultMatrixRateControl runs the matrix's "429 storm beyond the
// budget" with adaptive rate control on, as runs have it by default: a
// 429 pauses the endpoint until its Retry-After, and requests waiting for
// the pause spend no attempts, so the retries reach the server after the
// 16 s storm and no draw fails; nothing is sent twice for one draw.
func TestFaultMatrixRateControl(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 4} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fault := benchtest.Fault{For: 16 * time.Second, Kind: "429", RetryAfter: "5"}
				cfg := benchtest.Config{Record: true, Faults: []benchtest.Fault{fault}, Models: map[string]benchtest.Model{
					"base": {Trait: "Owl", TraitRate: 0.5}, "student": {Trait: "Owl", TraitRate: 0.5}}}
				srv := benchtest.NewMemory(cfg)
				st := newMemStore()
				opt := matrixOptions(srv)
				opt.RateControl = bench.RateControl{}
				out, err := bench.Execute(context.Background(), st, matrixSuite(t, n), opt)
				if err != nil {
					t.Fatal(err)
				}
				if out.Counts != (results.RunCounts{Planned: matrixPlanned, Stored: matrixPlanned}) {
					t.Errorf("counts %+v; want all %d planned draws stored, none failed", out.Counts, matrixPlanned)
				}
				if served := srv.Served(); served != matrixPlanned {
					t.Errorf("the server answered %d usable choices; want %d, one per draw", served, matrixPlanned)
				}
				checkMatrixRequests(t, srv, fault, st, out.Run.ID, "")
			})
		})
	}
}

// checkMatrixRequests checks what the server received: each distinct
// request at most max_retries + 1 times, and with a fault scripted on its
// first attempts exactly those (or the budget's) faults; the key only in
// the Authorization header, and every failed sample's error naming the
// fault.
func checkMatrixRequests(t *testing.T, srv *benchtest.Server, fault benchtest.Fault, st *memStore, runID int64, errHas string) {
	t.Helper()
	attempts := map[string]int{}
	faulted := map[string]int{}
	for _, r := range srv.Requests() {
		attempts[r.Key]++
		if r.Fault != "" {
			faulted[r.Key]++
		}
		if r.Auth != "Bearer "+matrixKey || r.Host != "fake-chat.test" {
			t.Fatalf("request to %s with Authorization %q; want only fake-chat.test with the key", r.Host, r.Auth)
		}
	}
	for k, n := range attempts {
		if n > matrixRetries+1 {
			t.Fatalf("request %s sent %d times; the budget allows %d", k, n, matrixRetries+1)
		}
		if fault.First > 0 && faulted[k] != min(fault.First, n) {
			t.Fatalf("request %s: %d of its %d attempts faulted; want the first %d", k, faulted[k], n, min(fault.First, n))
		}
	}
	if fault.Kind != "" && len(srv.FaultCounts()) == 0 {
		t.Fatalf("no fault injected: the cell tests nothing")
	}
	for _, s := range st.samplesOf(runID) {
		if s.Failed() && (errHas == "" || !strings.Contains(s.Err, errHas) || s.Attempts != matrixRetries+1) {
			t.Fatalf("failed sample %s: %q after %d attempts; want an error naming %q after %d", s.Key, s.Err, s.Attempts, errHas, matrixRetries+1)
		}
		if strings.Contains(s.Err, matrixKey) || strings.Contains(s.Completion, matrixKey) {
			t.Fatalf("sample %s stores the API key", s.Key)
		}
	}
}

// TestFaultMatrixRedirect is the matrix's redirect cell: a redirect is
// never followed (the key would go with it), so the first answers stop
// both models; exactly the draws of the redirected requests fail, the
// rest stay pending, and with the redirect gone the run resumes to
// completion without asking any stored draw again.
func TestFaultMatrixRedirect(t *testing.T) {
	t.Parallel()
	for _, nm := range []struct {
		name  string
		n     int
		model benchtest.Model
	}{{"n=1", 1, benchtest.Model{}}, {"n=4 honoured", 4, benchtest.Model{}}, {"n=4 refused", 4, benchtest.Model{RefuseN: true}}} {
		t.Run(nm.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				models := map[string]benchtest.Model{"base": nm.model, "student": nm.model}
				srv := benchtest.NewMemory(benchtest.Config{Record: true, Models: models,
					Faults: []benchtest.Fault{{First: 1, Kind: "redirect", Location: "http://elsewhere.test:8443/v1/chat/completions"}}})
				st := newMemStore()
				s := matrixSuite(t, nm.n)
				out, err := bench.Execute(context.Background(), st, s, matrixOptions(srv))
				if err != nil {
					t.Fatal(err)
				}
				redirected := 0 // draws asked for by redirected requests
				for _, r := range srv.Requests() {
					if r.Host != "fake-chat.test" {
						t.Fatalf("a request went to %s: the redirect was followed", r.Host)
					}
					if r.Fault == "redirect" {
						redirected++
						if r.N != nil {
							redirected += *r.N - 1
						}
					}
				}
				if redirected == 0 || out.Counts != (results.RunCounts{Planned: matrixPlanned, Stored: redirected, Failed: redirected}) || srv.Served() != 0 {
					t.Errorf("counts %+v, %d served; want the %d draws of redirected requests stored failed, none served", out.Counts, srv.Served(), redirected)
				}
				if out.Run.Status != results.StatusFailed || !strings.Contains(out.Run.Message, "redirect to http://elsewhere.test:8443/v1/chat/completions not followed") {
					t.Errorf("run %s: %q; want failed, naming the redirect's Location", out.Run.Status, out.Run.Message)
				}

				// The endpoint is fixed: the run resumes and completes.
				fixed := benchtest.NewMemory(benchtest.Config{Record: true, Models: models})
				again, err := bench.Execute(context.Background(), st, s, matrixOptions(fixed))
				if err != nil {
					t.Fatal(err)
				}
				if again.Run.ID != out.Run.ID || again.Counts != (results.RunCounts{Planned: matrixPlanned, Stored: matrixPlanned}) || fixed.Served() != matrixPlanned {
					t.Errorf("resume: run %d %+v, %d served; want run %d with all %d stored, each served once", again.Run.ID, again.Counts, fixed.Served(), out.Run.ID, matrixPlanned)
				}
			})
		})
	}
}

// samplesOf returns the samples drawn by run id.
func (m *memStore) samplesOf(id int64) []results.Sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []results.Sample
	for _, s := range m.samples {
		if s.RunID == id {
			out = append(out, s)
		}
	}
	return out
}
