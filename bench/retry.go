package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"golang.org/x/time/rate"
)

// RetryPolicy bounds retries by count and by elapsed time. Delays grow
// exponentially from BaseDelay to MaxDelay with full jitter, and are never
// shorter than a server's Retry-After.
type RetryPolicy struct {
	MaxRetries int           // retries after the first attempt
	MaxElapsed time.Duration // no retry starts after this much time; 0 means no bound
	BaseDelay  time.Duration // delay bound before the first retry
	MaxDelay   time.Duration // cap on the exponential delay bound
}

// DefaultRetryPolicy returns the policy used unless a suite says
// otherwise: 6 retries within 5 minutes, delays from 0.5 s to 30 s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxRetries: 6, MaxElapsed: 5 * time.Minute, BaseDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second}
}

// Delay returns how long to wait before retry number attempt (1-based)
// after err. u in [0, 1) draws the jitter.
func (p RetryPolicy) Delay(attempt int, err error, u float64) time.Duration {
	bound := p.BaseDelay
	for i := 1; i < attempt && bound < p.MaxDelay; i++ {
		bound *= 2
	}
	bound = min(bound, p.MaxDelay)
	d := time.Duration(u * float64(bound))
	var api *APIError
	if errors.As(err, &api) && api.RetryAfter > d {
		d = api.RetryAfter
	}
	return d
}

// RetryError is the last error of a request that failed after Attempts
// attempts.
type RetryError struct {
	Attempts int
	Err      error
}

// Error describes the failure and the number of attempts.
func (e *RetryError) Error() string {
	if e.Attempts == 1 {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v (after %d attempts)", e.Err, e.Attempts)
}

// Unwrap returns the last error.
func (e *RetryError) Unwrap() error { return e.Err }

// WithRetry returns a Client that retries retryable errors of c under p.
// Failures are returned as *RetryError. Cancelling ctx stops at once.
func WithRetry(c Client, p RetryPolicy) Client {
	return withRetryIf(c, p, Retryable)
}

// withRetryIf is WithRetry with the errors worth retrying chosen by
// retryable.
func withRetryIf(c Client, p RetryPolicy, retryable func(error) bool) Client {
	return ClientFunc(func(ctx context.Context, req Request) (*Response, error) {
		start := time.Now()
		for attempt := 1; ; attempt++ {
			resp, err := c.Complete(ctx, req)
			if err == nil {
				resp.Attempts = attempt
				return resp, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !retryable(err) || attempt > p.MaxRetries {
				return nil, &RetryError{Attempts: attempt, Err: err}
			}
			d := p.Delay(attempt, err, rand.Float64())
			if p.MaxElapsed > 0 && time.Since(start)+d > p.MaxElapsed {
				return nil, &RetryError{Attempts: attempt, Err: err}
			}
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
	})
}

// WithRateLimit returns a Client that waits for request and token budget
// before each request. requestsPerMinute and tokensPerMinute of 0 mean no
// limit. Tokens are estimated before the request as prompt characters / 4
// plus max_tokens (256 when unset) per choice, since the true count is
// known only afterwards.
func WithRateLimit(c Client, requestsPerMinute, tokensPerMinute float64) Client {
	if requestsPerMinute <= 0 && tokensPerMinute <= 0 {
		return c
	}
	var reqs, toks *rate.Limiter
	if requestsPerMinute > 0 {
		reqs = rate.NewLimiter(rate.Limit(requestsPerMinute/60), max(1, int(requestsPerMinute/60)))
	}
	if tokensPerMinute > 0 {
		toks = rate.NewLimiter(rate.Limit(tokensPerMinute/60), max(1, int(tokensPerMinute)))
	}
	return ClientFunc(func(ctx context.Context, req Request) (*Response, error) {
		if reqs != nil {
			if err := reqs.Wait(ctx); err != nil {
				return nil, err
			}
		}
		if toks != nil {
			n := min(EstimateTokens(req), toks.Burst())
			if err := toks.WaitN(ctx, n); err != nil {
				return nil, err
			}
		}
		return c.Complete(ctx, req)
	})
}

// EstimateTokens estimates the tokens a request may use: prompt characters
// divided by 4, plus max_tokens (256 when unset) for each choice.
func EstimateTokens(req Request) int {
	chars := 0
	for _, m := range req.Messages {
		chars += len(m.Content)
	}
	perChoice := 256
	if req.MaxTokens != nil {
		perChoice = *req.MaxTokens
	}
	return chars/4 + 1 + perChoice*max(1, req.N)
}
