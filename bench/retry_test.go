package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MaxRetries: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	for _, tc := range []struct {
		attempt int
		err     error
		u       float64
		want    time.Duration
	}{
		// Full jitter: u scales the exponential bound 100ms·2^(attempt-1).
		{1, ErrTimeout, 1, 100 * time.Millisecond},
		{2, ErrTimeout, 1, 200 * time.Millisecond},
		{3, ErrTimeout, 0.5, 200 * time.Millisecond},
		// The bound stops growing at MaxDelay.
		{10, ErrTimeout, 1, time.Second},
		// u = 0 waits nothing unless the server said otherwise.
		{1, ErrTimeout, 0, 0},
		// Retry-After is a floor, even above MaxDelay.
		{1, &APIError{Status: 429, RetryAfter: 3 * time.Second}, 0, 3 * time.Second},
		{1, fmt.Errorf("wrapped: %w", &APIError{Status: 503, RetryAfter: 2 * time.Second}), 0.1, 2 * time.Second},
		// A Retry-After shorter than the jittered delay does not shorten it.
		{4, &APIError{Status: 429, RetryAfter: 10 * time.Millisecond}, 1, 800 * time.Millisecond},
	} {
		if got := p.Delay(tc.attempt, tc.err, tc.u); got != tc.want {
			t.Errorf("Delay(%d, %v, %g) = %v; want %v", tc.attempt, tc.err, tc.u, got, tc.want)
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    string
		want time.Duration
	}{
		{"", 0},                         // absent
		{"2", 2 * time.Second},          // delay-seconds (RFC 9110 §10.2.3)
		{"0.5", 500 * time.Millisecond}, // fractional seconds, sent by some proxies
		{"-1", 0},                       // nonsense: ignored
		{"Fri, 27 Nov 2026 12:00:07 GMT", 7 * time.Second}, // HTTP-date
		{"Fri, 27 Nov 2026 11:00:00 GMT", 0},               // a date in the past: retry now
		{"soon", 0},                                        // unparseable: ignored
		{"NaN", 0},                                         // not a number of seconds: ignored (was converted to a huge negative wait)
		{"Inf", 24 * time.Hour},                            // capped at a day instead of overflowing to a negative wait
		{"1e300", 24 * time.Hour},                          // the same
	} {
		if got := retryAfter(tc.h, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v; want %v", tc.h, got, tc.want)
		}
	}
}

// script returns a client that answers with errs in order, then succeeds.
func script(errs ...error) (Client, *int) {
	calls := 0
	return ClientFunc(func(ctx context.Context, req Request) (*Response, error) {
		calls++
		if calls <= len(errs) {
			return nil, errs[calls-1]
		}
		return &Response{Choices: []Choice{{Text: "Owl"}}}, nil
	}), &calls
}

func TestWithRetry(t *testing.T) {
	t.Parallel()
	policy := RetryPolicy{MaxRetries: 3, MaxElapsed: time.Minute, BaseDelay: time.Second, MaxDelay: 8 * time.Second}
	rateLimited := &APIError{Status: http.StatusTooManyRequests, RetryAfter: 5 * time.Second}
	for _, tc := range []struct {
		name         string
		errs         []error
		wantErr      error // nil: success
		wantCalls    int
		wantAttempts int
		minElapsed   time.Duration // Retry-After floors the waits
	}{
		{"success at once", nil, nil, 1, 1, 0},
		{"429 twice honours Retry-After", []error{rateLimited, rateLimited}, nil, 3, 3, 10 * time.Second},
		{"5xx, timeout, connection, malformed are retried", []error{&APIError{Status: 502}, ErrTimeout, ErrConnection, ErrMalformed}, ErrMalformed, 4, 0, 0},
		{"400 is not retried", []error{&APIError{Status: 400, Message: "bad"}}, ErrRateLimited, 1, 0, 0},
		{"gives up after MaxRetries", []error{ErrTimeout, ErrTimeout, ErrTimeout, ErrTimeout, ErrTimeout}, ErrTimeout, 4, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, calls := script(tc.errs...)
				start := time.Now()
				resp, err := WithRetry(c, policy).Complete(context.Background(), Request{})
				elapsed := time.Since(start)
				if *calls != tc.wantCalls {
					t.Errorf("calls = %d; want %d", *calls, tc.wantCalls)
				}
				if elapsed < tc.minElapsed {
					t.Errorf("elapsed %v; want at least %v (Retry-After)", elapsed, tc.minElapsed)
				}
				if tc.wantAttempts > 0 {
					if err != nil || resp.Attempts != tc.wantAttempts {
						t.Fatalf("got %v, %v; want success after %d attempts", resp, err, tc.wantAttempts)
					}
					return
				}
				var re *RetryError
				if !errors.As(err, &re) || re.Attempts != tc.wantCalls {
					t.Fatalf("err = %v; want *RetryError after %d attempts", err, tc.wantCalls)
				}
				if tc.wantErr == ErrRateLimited {
					if Retryable(err) {
						t.Errorf("Retryable(%v) = true; want false", err)
					}
				} else if !errors.Is(err, tc.wantErr) {
					t.Errorf("err = %v; want errors.Is %v", err, tc.wantErr)
				}
			})
		})
	}
}

func TestWithRetryMaxElapsed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// Retry-After of 40 s would end past the 60 s budget at the second wait.
		c, calls := script(&APIError{Status: 429, RetryAfter: 40 * time.Second}, &APIError{Status: 429, RetryAfter: 40 * time.Second}, nil)
		p := RetryPolicy{MaxRetries: 10, MaxElapsed: time.Minute, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
		_, err := WithRetry(c, p).Complete(context.Background(), Request{})
		if !errors.Is(err, ErrRateLimited) || *calls != 2 {
			t.Fatalf("err %v after %d calls; want rate limited after 2 calls", err, *calls)
		}
	})
}

func TestWithRetryCancelStopsBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, calls := script(&APIError{Status: 503, RetryAfter: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		start := time.Now()
		p := DefaultRetryPolicy()
		p.MaxElapsed = 0 // no budget: the hour-long Retry-After is waited for
		_, err := WithRetry(c, p).Complete(ctx, Request{})
		if !errors.Is(err, context.Canceled) || *calls != 1 || time.Since(start) != time.Second {
			t.Fatalf("err %v, calls %d, elapsed %v; want canceled after 1 call and 1s", err, *calls, time.Since(start))
		}
	})
}

func TestWithRateLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, calls := script()
		limited := WithRateLimit(c, 60, 0) // one request per second, burst 1
		start := time.Now()
		for range 5 {
			if _, err := limited.Complete(context.Background(), Request{}); err != nil {
				t.Fatal(err)
			}
		}
		// The first request goes at once, each later one a second apart.
		if got := time.Since(start); got != 4*time.Second || *calls != 5 {
			t.Fatalf("5 requests at 60/min took %v (%d calls); want 4s", got, *calls)
		}
	})
}

func TestClassification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err              error
		retryable, fatal bool
		status           int
	}{
		{&APIError{Status: 429}, true, false, 429},
		{&APIError{Status: 500}, true, false, 500},
		{&APIError{Status: 503}, true, false, 503},
		{&APIError{Status: 408}, true, false, 408},
		{&APIError{Status: 400}, false, false, 400},
		{&APIError{Status: 401}, false, true, 401},
		{&APIError{Status: 403}, false, true, 403},
		{&APIError{Status: 404}, false, true, 404},
		// Redirects are never followed, so every request would meet one.
		{&APIError{Status: 307}, false, true, 307},
		{&APIError{Status: 301}, false, true, 301},
		{fmt.Errorf("x: %w", ErrMalformed), true, false, 0},
		{ErrConnection, true, false, 0},
		{context.Canceled, false, false, 0},
	} {
		if Retryable(tc.err) != tc.retryable || Fatal(tc.err) != tc.fatal || Status(tc.err) != tc.status {
			t.Errorf("%v: Retryable %v Fatal %v Status %d; want %v %v %d", tc.err, Retryable(tc.err), Fatal(tc.err), Status(tc.err), tc.retryable, tc.fatal, tc.status)
		}
	}
}
