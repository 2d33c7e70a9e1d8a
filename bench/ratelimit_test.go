package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		hdr      map[string]string
		reqs     *RateWindow
		toks     *RateWindow
		refillRq float64 // want Requests.RefillPerSecond()
	}{
		{
			// OpenAI's documented example: 60 requests a minute, 59 left, whole
			// again in 1 s: one request per second.
			name: "OpenAI example",
			hdr: map[string]string{"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59", "x-ratelimit-reset-requests": "1s",
				"x-ratelimit-limit-tokens": "150000", "x-ratelimit-remaining-tokens": "149984", "x-ratelimit-reset-tokens": "6m0s"},
			reqs:     &RateWindow{Limit: 60, Remaining: 59, Reset: time.Second},
			toks:     &RateWindow{Limit: 150000, Remaining: 149984, Reset: 6 * time.Minute},
			refillRq: 1,
		},
		{
			// 600 a minute, 597 left, 300 ms to refill 3: 10 per second.
			name:     "milliseconds",
			hdr:      map[string]string{"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "597", "x-ratelimit-reset-requests": "300ms"},
			reqs:     &RateWindow{Limit: 600, Remaining: 597, Reset: 300 * time.Millisecond},
			refillRq: 10,
		},
		{
			// Reset as plain seconds, as some servers send it.
			name:     "seconds",
			hdr:      map[string]string{"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "50", "x-ratelimit-reset-requests": "2.5"},
			reqs:     &RateWindow{Limit: 100, Remaining: 50, Reset: 2500 * time.Millisecond},
			refillRq: 20,
		},
		{
			// Only remaining: a window whose refill cannot be told.
			name: "remaining only",
			hdr:  map[string]string{"x-ratelimit-remaining-tokens": "42"},
			toks: &RateWindow{Remaining: 42},
		},
		{
			// Without remaining there is no window, whatever else is sent.
			name: "no remaining",
			hdr:  map[string]string{"x-ratelimit-limit-requests": "60", "x-ratelimit-reset-requests": "1s"},
		},
		{
			// Garbage is ignored, not guessed at: a negative count, a limit
			// below what remains, a reset that is no duration, one of years.
			name: "malformed",
			hdr: map[string]string{"x-ratelimit-remaining-requests": "-3", "x-ratelimit-limit-tokens": "10", "x-ratelimit-remaining-tokens": "20",
				"x-ratelimit-reset-tokens": "soon"},
			toks: &RateWindow{Remaining: 20},
		},
		{
			name: "reset too long",
			hdr:  map[string]string{"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "9000h"},
			reqs: &RateWindow{Limit: 5},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.hdr {
				h.Set(k, v)
			}
			got := ParseRateLimit(h)
			check := func(what string, got, want *RateWindow) {
				t.Helper()
				if (got == nil) != (want == nil) || got != nil && *got != *want {
					t.Errorf("%s = %+v; want %+v", what, got, want)
				}
			}
			check("Requests", got.Requests, tc.reqs)
			check("Tokens", got.Tokens, tc.toks)
			if got.Requests != nil {
				if r := got.Requests.RefillPerSecond(); r != tc.refillRq {
					t.Errorf("Requests.RefillPerSecond() = %g; want %g", r, tc.refillRq)
				}
			}
		})
	}
}

func TestServerRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ms, secs string
		want     time.Duration
	}{
		{"", "", 0},
		{"", "3", 3 * time.Second},
		// retry-after-ms is more precise than whole seconds: it wins.
		{"1234", "2", 1234 * time.Millisecond},
		{"0.5", "", 500 * time.Microsecond},
		// A malformed or negative retry-after-ms falls back to Retry-After.
		{"-5", "2", 2 * time.Second},
		{"abc", "1", time.Second},
		{"1e30", "1", time.Second},
	} {
		h := http.Header{}
		if tc.ms != "" {
			h.Set("retry-after-ms", tc.ms)
		}
		if tc.secs != "" {
			h.Set("Retry-After", tc.secs)
		}
		if got := serverRetryAfter(h, now); got != tc.want {
			t.Errorf("serverRetryAfter(ms %q, Retry-After %q) = %v; want %v", tc.ms, tc.secs, got, tc.want)
		}
	}
}

// TestClientRateLimitHeaders checks that the OpenAI client hands the
// headers on: on a success in Response.RateLimit, on a 429 in the
// APIError with retry-after-ms.
func TestClientRateLimitHeaders(t *testing.T) {
	t.Parallel()
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("x-ratelimit-limit-requests", "600")
		w.Header().Set("x-ratelimit-remaining-requests", "0")
		w.Header().Set("x-ratelimit-reset-requests", "100ms")
		w.Header().Set("Content-Type", "application/json")
		if calls == 1 {
			w.Header().Set("retry-after-ms", "250")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"message":"Rate limit reached"}}`))
			return
		}
		w.Header().Set("x-ratelimit-remaining-requests", "599")
		w.Header().Set("x-ratelimit-reset-requests", "100ms")
		_, _ = w.Write([]byte(`{"choices":[{"message":{"content":"Owl"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`))
	}))
	t.Cleanup(srv.Close)
	c := NewOpenAIClient(OpenAIConfig{BaseURL: srv.URL + "/v1"})
	_, err := c.Complete(context.Background(), Request{Model: "m", Messages: []Message{{Role: "user", Content: "hi"}}})
	var api *APIError
	if !errors.As(err, &api) || api.Status != 429 || api.RetryAfter != 250*time.Millisecond ||
		api.RateLimit.Requests == nil || *api.RateLimit.Requests != (RateWindow{Limit: 600, Remaining: 0, Reset: 100 * time.Millisecond}) {
		t.Fatalf("first answer: err = %#v; want a 429 with RetryAfter 250ms and the request window", err)
	}
	resp, err := c.Complete(context.Background(), Request{Model: "m", Messages: []Message{{Role: "user", Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	if w := resp.RateLimit.Requests; w == nil || *w != (RateWindow{Limit: 600, Remaining: 599, Reset: 100 * time.Millisecond}) || resp.RateLimit.Tokens != nil {
		t.Errorf("Response.RateLimit = %+v; want requests {600 599 100ms}, no tokens", resp.RateLimit)
	}
}

func FuzzParseRateLimit(f *testing.F) {
	f.Add("60", "59", "1s", "150000", "149984", "6m0s", "250", "2")
	f.Add("", "0", "17ms", "x", "-1", "1.5", "", "Fri, 27 Nov 2026 12:00:07 GMT")
	f.Add("9223372036854775807", "9223372036854775807", "1e300", "1", "0", "-1s", "NaN", "Inf")
	f.Fuzz(func(t *testing.T, limR, remR, resetR, limT, remT, resetT, ms, secs string) {
		h := http.Header{}
		for k, v := range map[string]string{"x-ratelimit-limit-requests": limR, "x-ratelimit-remaining-requests": remR, "x-ratelimit-reset-requests": resetR,
			"x-ratelimit-limit-tokens": limT, "x-ratelimit-remaining-tokens": remT, "x-ratelimit-reset-tokens": resetT, "retry-after-ms": ms, "Retry-After": secs} {
			h.Set(k, v)
		}
		rl := ParseRateLimit(h)
		for _, w := range []*RateWindow{rl.Requests, rl.Tokens} {
			if w == nil {
				continue
			}
			// A window is never negative, never above its limit, and its
			// reset is bounded.
			if w.Remaining < 0 || w.Limit < 0 || (w.Limit > 0 && w.Remaining > w.Limit) || w.Reset < 0 || w.Reset > maxReset {
				t.Errorf("ParseRateLimit gave %+v", *w)
			}
			if r := w.RefillPerSecond(); r < 0 || r != r {
				t.Errorf("RefillPerSecond() = %g for %+v", r, *w)
			}
		}
		if d := serverRetryAfter(h, time.Now()); d < 0 {
			t.Errorf("serverRetryAfter = %v; want ≥ 0", d)
		}
	})
}
