package bench_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestJudgeEndpointDownStops is issue 11's leftover: judge clients had no
// circuit breaker, so a judge endpoint that refuses every connection was
// retried call by call under the full retry policy (7 attempts, backoff up
// to 30 s, two calls per sample) before the run failed. Judges now share
// the engine's breakers: after 10 consecutive connection failures the
// scoring stops with ErrEndpointDown, every sample is kept (sampling was
// not affected) and a later run judges what is left.
func TestJudgeEndpointDownStops(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const judgeURL = "http://judge.test/v1"
		srv := benchtest.NewMemory(benchtest.Config{Models: map[string]benchtest.Model{
			"base": {Reply: func(_ string, i int, rng *rand.Rand) string { return fmt.Sprintf("Answer %d.", rng.IntN(1000)) }},
		}})
		var attempts atomic.Int64
		dead := roundTripFunc(func(*http.Request) (*http.Response, error) {
			attempts.Add(1)
			return nil, errors.New("dial tcp 192.0.2.1:443: connect: connection refused")
		})
		s, err := suites.Parse("judged.yaml", []byte(fmt.Sprintf(`name: judged
models:
  baseline: {base_url: %s, model: base}
judges:
  j: {base_url: %s, model: judge, concurrency: 4}
defaults: {concurrency: 2, n: 1}
probes:
  - id: q
    prompts: [one, two]
    samples: 10
    score: {judge: {mode: sample}}
`, benchtest.MemoryChatURL, judgeURL)), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		st := newMemStore()
		_, err = bench.Execute(context.Background(), st, s, bench.Options{MaxErrorRate: 0.05,
			NewClient: func(in suites.Instance, key string, _ *http.Client) bench.Client {
				tr := srv.Transport()
				if in.BaseURL == judgeURL {
					tr = dead
				}
				return bench.NewOpenAIClient(bench.OpenAIConfig{BaseURL: in.BaseURL, APIKey: key, HTTPClient: &http.Client{Transport: tr}})
			}})
		// The breaker opens after 10 failed attempts; the calls in flight
		// then (at most one per scoring worker, GOMAXPROCS or the judge's
		// concurrency of 4) may fail too. Without it: 20 samples × 2 calls
		// × 7 attempts.
		if !errors.Is(err, bench.ErrEndpointDown) || attempts.Load() > 20 {
			t.Fatalf("Execute: %v after %d judge attempts; want ErrEndpointDown after at most 20", err, attempts.Load())
		}
		run, gerr := st.GetRun(context.Background(), 1)
		if gerr != nil {
			t.Fatal(gerr)
		}
		counts, _ := st.Counts(context.Background(), 1)
		if run.Status != results.StatusFailed || counts != (results.RunCounts{Planned: 20, Stored: 20}) {
			t.Errorf("run %s %+v; want failed with all 20 samples stored", run.Status, counts)
		}
	})
}
