package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// BreakerPolicy decides when an endpoint is down. Its circuit opens after
// Failures consecutive requests to it failed to connect or timed out, or
// once such failures have gone on for Window with no answer in between;
// any answer from the server, even an HTTP error, ends the streak. An
// open circuit fails every further request at once with a
// *CircuitOpenError: the runner stops the models on that endpoint, and
// scoring stops at a judge on it (the samples stay unscored, for a later
// run to judge).
type BreakerPolicy struct {
	// Failures is how many consecutive connection failures open the
	// circuit; 0 means DefaultBreakerPolicy's, less than 0 turns the
	// breaker off.
	Failures int
	// Window is how long connection failures may go on with no answer
	// before the circuit opens; 0 means DefaultBreakerPolicy's.
	Window time.Duration
}

// DefaultBreakerPolicy returns the policy used unless Options say
// otherwise: 10 consecutive connection failures, or 60 s of them. With
// the default retry policy a refused endpoint then stops within seconds
// at any concurrency, while a flaky one (one request in five failing)
// opens it with a chance of 0.2¹⁰ ≈ 1e-7 per failure streak.
func DefaultBreakerPolicy() BreakerPolicy {
	return BreakerPolicy{Failures: 10, Window: time.Minute}
}

// ErrEndpointDown is matched by errors.Is on a *CircuitOpenError.
var ErrEndpointDown = errors.New("endpoint down")

// CircuitOpenError is the error of a request that was not sent because
// its endpoint's circuit is open, and the reason the runner stopped the
// endpoint's models (Summary.Stopped). The draws it stopped stay pending:
// running the suite again resumes them.
type CircuitOpenError struct {
	Endpoint string        // base URL, without userinfo
	Failures int           // consecutive connection failures seen
	Over     time.Duration // from the first to the last of them
	Last     string        // the last failure, redacted
}

// Error says which endpoint is down and why.
func (e *CircuitOpenError) Error() string {
	return fmt.Sprintf("endpoint %s is down: %d consecutive requests failed to connect or timed out over %s (last: %s)",
		e.Endpoint, e.Failures, e.Over.Round(time.Millisecond), e.Last)
}

// Is makes errors.Is(err, ErrEndpointDown) true.
func (e *CircuitOpenError) Is(target error) bool { return target == ErrEndpointDown }

// breaker is the circuit of one endpoint, shared by every client of it.
type breaker struct {
	policy   BreakerPolicy
	endpoint string
	redact   *Redactor
	now      func() time.Time

	mu    sync.Mutex
	fails int
	first time.Time // of the current streak
	last  time.Time
	err   string // last failure
	open  *CircuitOpenError
}

// newBreaker returns the breaker of endpoint (a base URL) under p, or nil
// when p turns it off.
func newBreaker(endpoint string, p BreakerPolicy, redact *Redactor) *breaker {
	def := DefaultBreakerPolicy()
	if p.Failures < 0 {
		return nil
	}
	if p.Failures == 0 {
		p.Failures = def.Failures
	}
	if p.Window <= 0 {
		p.Window = def.Window
	}
	return &breaker{policy: p, endpoint: redact.URL(strings.TrimRight(endpoint, "/")), redact: redact, now: time.Now}
}

// breakers are the circuit breakers of a run's endpoints, one per base
// URL, shared by every model and judge on it: a judge served by the same
// endpoint as a model meets the same open circuit.
type breakers struct {
	policy BreakerPolicy
	redact *Redactor
	m      map[string]*breaker
}

// newBreakers returns the breakers of a run under p; redact removes
// secrets from what their errors say.
func newBreakers(p BreakerPolicy, redact *Redactor) *breakers {
	return &breakers{policy: p, redact: redact, m: map[string]*breaker{}}
}

// get returns the breaker of the endpoint baseURL, made on first use; nil
// when bs is nil or its policy turns breakers off. Not safe for
// concurrent use: clients are built before any request is made.
func (bs *breakers) get(baseURL string) *breaker {
	if bs == nil {
		return nil
	}
	endpoint := strings.TrimRight(baseURL, "/")
	br, ok := bs.m[endpoint]
	if !ok {
		br = newBreaker(endpoint, bs.policy, bs.redact)
		bs.m[endpoint] = br
	}
	return br
}

// wrap returns c behind the breaker; a nil breaker returns c.
func (b *breaker) wrap(c Client) Client {
	if b == nil {
		return c
	}
	return ClientFunc(func(ctx context.Context, req Request) (*Response, error) {
		if err := b.check(); err != nil {
			return nil, err
		}
		resp, err := c.Complete(ctx, req)
		if ctx.Err() == nil { // an interruption says nothing about the endpoint
			b.record(err)
		}
		return resp, err
	})
}

// check returns the open circuit's error, or nil.
func (b *breaker) check() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open != nil {
		return b.open
	}
	return nil
}

// record counts the outcome of one request.
func (b *breaker) record(err error) {
	down := errors.Is(err, ErrConnection) || errors.Is(err, ErrTimeout)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !down {
		b.fails = 0 // the server answered
		return
	}
	t := b.now()
	if b.fails == 0 {
		b.first = t
	}
	b.fails++
	b.last, b.err = t, b.redact.String(err.Error())
	if b.open == nil && (b.fails >= b.policy.Failures || t.Sub(b.first) >= b.policy.Window) {
		b.open = &CircuitOpenError{Endpoint: b.endpoint, Failures: b.fails, Over: t.Sub(b.first), Last: b.err}
	}
}
