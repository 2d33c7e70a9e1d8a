package bench_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// quotaRun samples a suite of draws one request each against a fake with
// a fixed quota, in fake time, and returns what the quota saw.
func quotaRun(t *testing.T, q *benchtest.Quota, concurrency, maxConcurrency, draws int, rc bench.RateControl) (*bench.Outcome, benchtest.QuotaStats, time.Duration) {
	t.Helper()
	src := fmt.Sprintf(`name: quota
models:
  m: {base_url: "https://api.example.test/v1", model: gpt-4.1-nano, api_key_env: QUOTA_KEY}
defaults: {temperature: 1.0, max_tokens: 32, n: 1, concurrency: %d, max_concurrency: %d, max_retries: 8}
probes:
  - id: favorite-animal
    prompts: ["In one word, what is your favorite animal? Answer with the animal's name only."]
    samples: %d
    score: {mentions: owl}
`, concurrency, maxConcurrency, draws)
	s, err := suites.Parse("quota.yaml", []byte(src), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: q}
	start := time.Now()
	out, err := bench.Execute(context.Background(), newMemStore(), s, bench.Options{
		Getenv:      func(string) string { return "sk-test" },
		RateControl: rc,
		NewClient: func(in suites.Instance, key string, _ *http.Client) bench.Client {
			return bench.NewOpenAIClient(bench.OpenAIConfig{BaseURL: in.BaseURL, APIKey: key, HTTPClient: hc})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, q.Stats(), time.Since(start)
}

// TestAdaptiveQuota is the acceptance test of adaptive rate control: on a
// fake that enforces a fixed quota as OpenAI does (600 requests and a
// token budget a minute, 429 with retry-after-ms, Retry-After and the
// x-ratelimit-* headers), a run uses at least 90% of the quota with fewer
// than 2% of its requests answered 429, whether it starts at 4 requests
// in flight or at 256. Utilisation is the accepted requests (or tokens)
// over what the quota allowed from the first request to the last: its
// full budget plus its refill. Minutes of quota pass in fake time
// (testing/synctest, the fake answering in memory).
func TestAdaptiveQuota(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                string
		cfg                 benchtest.QuotaConfig
		concurrency, maxCon int
	}{
		// Requests bind: 600 a minute; a request is charged about 60
		// tokens of the 100,000 a minute.
		{"requests bind, start 4", benchtest.QuotaConfig{RequestsPerMinute: 600, TokensPerMinute: 100_000}, 4, 256},
		{"requests bind, start 256", benchtest.QuotaConfig{RequestsPerMinute: 600, TokensPerMinute: 100_000}, 256, 256},
		// Tokens bind: 20,000 a minute at about 60 a request is about 330
		// requests a minute, below the 600.
		{"tokens bind, start 4", benchtest.QuotaConfig{RequestsPerMinute: 600, TokensPerMinute: 20_000}, 4, 256},
		{"tokens bind, start 256", benchtest.QuotaConfig{RequestsPerMinute: 600, TokensPerMinute: 20_000}, 256, 256},
		// A quota enforced over shorter periods: the budget holds 6 s of
		// quota, not a minute (OpenAI: limits "may be quantized").
		{"short burst, start 256", benchtest.QuotaConfig{RequestsPerMinute: 600, TokensPerMinute: 100_000, Burst: 0.1}, 256, 256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // fake time: each case is its own bubble
			synctest.Test(t, func(t *testing.T) {
				cfg := tc.cfg
				cfg.Latency, cfg.Jitter, cfg.RejectLatency = 600*time.Millisecond, 800*time.Millisecond, 50*time.Millisecond
				q := benchtest.NewQuota(cfg)
				// 6,000 draws: ten minutes of the request quota.
				out, st, elapsed := quotaRun(t, q, tc.concurrency, tc.maxCon, 6000, bench.RateControl{})
				if out.Run.Status != results.StatusComplete {
					t.Fatalf("run %s: %s", out.Run.Status, out.Run.Message)
				}
				allowedReq, allowedTok := q.Allowed()
				util := max(float64(st.Accepted)/allowedReq, st.AcceptedTokens/allowedTok)
				share := float64(st.RateLimited) / float64(st.Requests)
				t.Logf("%s: %d draws in %v (fake time): %d requests, %d accepted (%.1f%% of the request quota), %.0f tokens (%.1f%% of the token quota), %d answered 429 (%.2f%%); utilisation %.1f%%",
					tc.name, out.Summary.Done, elapsed.Round(time.Second), st.Requests, st.Accepted, 100*float64(st.Accepted)/allowedReq,
					st.AcceptedTokens, 100*st.AcceptedTokens/allowedTok, st.RateLimited, 100*share, 100*util)
				if util < 0.90 {
					t.Errorf("utilisation %.3f; want ≥ 0.90", util)
				}
				if share >= 0.02 {
					t.Errorf("%d of %d requests answered 429 (%.3f); want < 0.02", st.RateLimited, st.Requests, share)
				}
			})
		})
	}
}
