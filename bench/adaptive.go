package bench

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync"
	"time"
)

// RateControl tunes the adaptive limit every endpoint × API key gets (see
// AdaptiveLimiter). The zero value means the defaults.
type RateControl struct {
	// Disabled turns adaptive control off: each model keeps at most its
	// concurrency requests in flight, as a fixed limit.
	Disabled bool
	// Backoff multiplies the cap on a 429, in (0, 1); 0 means 0.5.
	Backoff float64
	// Cooldown is the least time between two cuts of the cap, and how
	// long growth pauses after a 429, a 5xx or a timeout; the mean latency
	// of an answer is used instead when it is longer. 0 means 2 s.
	Cooldown time.Duration
	// Reserve is the fraction of a limit the server reported
	// (x-ratelimit-limit-*) left unused, in [0, 0.5): the margin that lets
	// the limiter slow down before the limit rather than after it. 0
	// means 0.02; a negative value means none.
	Reserve float64
}

// withDefaults fills the zero fields of rc.
func (rc RateControl) withDefaults() RateControl {
	if rc.Backoff <= 0 || rc.Backoff >= 1 {
		rc.Backoff = 0.5
	}
	if rc.Cooldown <= 0 {
		rc.Cooldown = 2 * time.Second
	}
	switch {
	case rc.Reserve == 0:
		rc.Reserve = 0.02
	case rc.Reserve < 0:
		rc.Reserve = 0
	case rc.Reserve >= 0.5:
		rc.Reserve = 0.49
	}
	return rc
}

// Reasons of a RateChange.
const (
	RateStart       = "start"        // the limit's first cap
	RateGrow        = "grow"         // additive increase: answers came back clean while the cap was the bottleneck
	RateRateLimited = "rate_limited" // multiplicative decrease on HTTP 429
	RateEnd         = "end"          // the cap when the invocation ended
)

// RateChange is one change of an adaptive in-flight cap: when, to what
// and why. The run records each (results.RateChange).
type RateChange struct {
	At       time.Time
	Endpoint string // base URL without userinfo
	Key      string // the API key's label: its api_key_env name ("" when none); never the key
	Cap      int    // requests allowed in flight after the change, ≥ 1
	Reason   string // RateStart, RateGrow, RateRateLimited or RateEnd
}

// AdaptiveLimiter bounds the requests in flight to one endpoint with one
// API key, and adapts the bound to what the server says: additive
// increase, multiplicative decrease (AIMD), as TCP does with its window.
//
//   - It starts at a cap (the models' concurrency) and never exceeds a
//     hard maximum (their max_concurrency). Until the endpoint has
//     answered once, one request is in flight: its answer's headers tell
//     the rate limits before a burst of requests can run into them.
//   - The cap grows by one per cap's worth of clean answers (about one per
//     round trip) to requests sent while the cap was the bottleneck:
//     requests were waiting for a free slot, not for the rate limit.
//   - A 429 cuts the cap by the Backoff factor, at most once per cooldown
//     (every request in flight at an overload comes back 429; one cut is
//     the answer to all of them), and nothing is sent until its
//     retry-after-ms or Retry-After has passed.
//   - A 5xx, a timeout or a connection failure pauses growth for a
//     cooldown.
//   - Slowing down before the limit: when answers carry OpenAI's
//     x-ratelimit-remaining-{requests,tokens} and -reset-* headers, the
//     limiter keeps a mirror of the server's budget (what remained at the
//     last answer, refilled at the rate the headers imply, less what was
//     sent since) and holds each request until the mirror has room for it
//     with a Reserve margin. A quota is then used at its refill rate and
//     429s stay rare, however high the cap.
//
// Requests wait in one FIFO queue. Tokens are counted with EstimateTokens
// (prompt characters / 4 + max_tokens per choice), corrected at every
// answer by the server's own count.
type AdaptiveLimiter struct {
	endpoint, key string
	start, max    int
	rc            RateControl
	record        func(RateChange) // nil: not recorded

	mu          sync.Mutex
	limit       float64 // the cap, fractional so that it can grow by 1/cap
	inflight    int
	queue       []*slot
	timer       *time.Timer // wakes the queue when the head waits for time
	timerAt     time.Time
	pauseUntil  time.Time // Retry-After: nothing is sent before
	lastCut     time.Time
	calmUntil   time.Time // no growth before
	latency     float64   // mean latency of answers in seconds (EWMA), 0 until one
	seq         uint64    // requests let go so far
	tokensSent  float64   // estimated tokens let go so far
	lastSync    uint64    // seq of the answer the mirrors were last set from
	reqs, toks  mirror
	rateLimited int // answers with HTTP 429
	answered    int // answers of any kind
	heard       bool
	closed      bool // Close was called: nothing more is let go
}

// slot is one request's place in the queue, then in flight.
type slot struct {
	tokens     float64
	ready      chan struct{}
	seq        uint64    // order in which requests were let go, from 1
	tokensSent float64   // tokensSent after this request was let go
	sent       time.Time // when it was let go
	bound      bool      // the cap was full and requests waited when it was let go
	err        error     // set before ready is closed when the request may not go
}

// NewAdaptiveLimiter returns the limiter of one endpoint (a base URL
// without userinfo) and key label, starting at start requests in flight
// and never above max (max < start counts as start; both at least 1).
// record, when not nil, is called with every change of the cap (and at
// once with RateStart), under the limiter's lock: it must not call back.
func NewAdaptiveLimiter(endpoint, key string, start, maxCap int, rc RateControl, record func(RateChange)) *AdaptiveLimiter {
	start = max(1, start)
	maxCap = max(start, maxCap)
	l := &AdaptiveLimiter{endpoint: endpoint, key: key, start: start, max: maxCap, rc: rc.withDefaults(), record: record, limit: float64(start)}
	l.note(time.Now(), RateStart)
	return l
}

// Cap returns the current cap on requests in flight.
func (l *AdaptiveLimiter) Cap() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.capInt()
}

func (l *AdaptiveLimiter) capInt() int { return int(l.limit) }

// End records the cap as it stands, with reason RateEnd, so that a
// recorded series ends when the invocation did.
func (l *AdaptiveLimiter) End() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.note(time.Now(), RateEnd)
}

func (l *AdaptiveLimiter) note(now time.Time, reason string) {
	if l.record != nil {
		l.record(RateChange{At: now, Endpoint: l.endpoint, Key: l.key, Cap: l.capInt(), Reason: reason})
	}
}

// Wrap returns c behind the limiter: each call waits for its turn, and
// its answer (or error) adapts the limit.
func (l *AdaptiveLimiter) Wrap(c Client) Client {
	return ClientFunc(func(ctx context.Context, req Request) (*Response, error) {
		s, err := l.acquire(ctx, EstimateTokens(req))
		if err != nil {
			return nil, err
		}
		resp, err := c.Complete(ctx, req)
		l.release(s, resp, err, ctx.Err() != nil)
		return resp, err
	})
}

// Close stops the limiter letting requests go: those waiting and any
// later ones fail with context.Canceled, which the engine treats as an
// interruption (the draw stays pending). Requests in flight finish. The
// engine closes its limiters at the first Ctrl-C: work in flight has a
// grace period, but a request still waiting for its turn is not in flight.
func (l *AdaptiveLimiter) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, s := range l.queue {
		s.err = context.Canceled
		close(s.ready)
	}
	l.queue = nil
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
}

// acquire waits until the request may be sent, or ctx is done.
func (l *AdaptiveLimiter) acquire(ctx context.Context, tokens int) (*slot, error) {
	s := &slot{tokens: float64(tokens), ready: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, context.Canceled
	}
	l.queue = append(l.queue, s)
	l.dispatch()
	l.mu.Unlock()
	select {
	case <-s.ready:
		if s.err != nil {
			return nil, s.err
		}
		return s, nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-s.ready: // let go (or refused) meanwhile: give the slot back
		if s.err == nil {
			l.inflight--
		}
	default:
		for i, q := range l.queue {
			if q == s {
				l.queue = append(l.queue[:i], l.queue[i+1:]...)
				break
			}
		}
	}
	l.dispatch()
	return nil, ctx.Err()
}

// dispatch lets go the requests at the head of the queue while the cap,
// a Retry-After pause and the mirrored budgets allow; when the head must
// wait for time to pass, it arms the timer. Call with l.mu held.
func (l *AdaptiveLimiter) dispatch() {
	for !l.closed && len(l.queue) > 0 && l.inflight < l.capInt() && (l.heard || l.inflight == 0) {
		now := time.Now()
		s := l.queue[0]
		var wait time.Duration
		if now.Before(l.pauseUntil) {
			wait = l.pauseUntil.Sub(now)
		}
		reserve := l.rc.Reserve
		wait = max(wait, l.reqs.delay(now, 1, reserve), l.toks.delay(now, s.tokens, reserve))
		if wait > 0 {
			l.wakeAt(now.Add(wait))
			return
		}
		l.queue[0] = nil
		l.queue = l.queue[1:]
		l.inflight++
		l.seq++
		l.tokensSent += s.tokens
		s.seq, s.tokensSent, s.sent = l.seq, l.tokensSent, now
		s.bound = l.inflight >= l.capInt() && len(l.queue) > 0
		l.reqs.take(now, 1)
		l.toks.take(now, s.tokens)
		close(s.ready)
	}
}

// wakeAt makes sure dispatch runs again at t.
func (l *AdaptiveLimiter) wakeAt(t time.Time) {
	if l.timer != nil && !l.timerAt.After(t) {
		return // an earlier wake-up is armed
	}
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timerAt = t
	l.timer = time.AfterFunc(time.Until(t), func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.timer = nil
		l.dispatch()
	})
}

// cooldown is the least time between cuts: the policy's, or the mean
// latency when longer (every request in flight at an overload answers
// within about one latency).
func (l *AdaptiveLimiter) cooldown() time.Duration {
	return max(l.rc.Cooldown, time.Duration(l.latency*float64(time.Second)))
}

// release ends a request: it frees its slot, adapts the cap to the answer
// and updates the mirrors from its headers. interrupted says the caller
// gave up (ctx done): that says nothing about the endpoint.
func (l *AdaptiveLimiter) release(s *slot, resp *Response, err error, interrupted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.inflight--
	defer l.dispatch()
	if interrupted {
		return
	}
	l.heard = true
	l.answered++
	var api *APIError
	errors.As(err, &api)
	switch {
	case err == nil:
		if resp == nil {
			return
		}
		lat := resp.Latency.Seconds()
		if lat <= 0 {
			lat = now.Sub(s.sent).Seconds()
		}
		if l.latency == 0 {
			l.latency = lat
		} else {
			l.latency += 0.1 * (lat - l.latency)
		}
		if s.bound && !now.Before(l.calmUntil) && l.capInt() < l.max {
			before := l.capInt()
			l.limit = math.Min(float64(l.max), l.limit+1/l.limit)
			if l.capInt() != before {
				l.note(now, RateGrow)
			}
		}
		l.sync(now, s, resp.RateLimit)
	case api != nil && api.Status == http.StatusTooManyRequests:
		l.rateLimited++
		if api.RetryAfter > 0 {
			if until := now.Add(api.RetryAfter); until.After(l.pauseUntil) {
				l.pauseUntil = until
			}
		}
		cool := l.cooldown()
		if l.lastCut.IsZero() || now.Sub(l.lastCut) >= cool {
			l.lastCut = now
			before := l.capInt()
			l.limit = math.Max(1, l.limit*l.rc.Backoff)
			if l.capInt() != before {
				l.note(now, RateRateLimited)
			}
		}
		l.calm(now.Add(cool))
		l.sync(now, s, api.RateLimit)
	case api != nil && (api.Status >= 500 || api.Status == http.StatusRequestTimeout),
		errors.Is(err, ErrTimeout), errors.Is(err, ErrConnection):
		l.calm(now.Add(l.cooldown()))
	}
}

func (l *AdaptiveLimiter) calm(until time.Time) {
	if until.After(l.calmUntil) {
		l.calmUntil = until
	}
}

// sync sets the mirrors from the rate-limit headers of the answer to s,
// unless a later request's answer set them already.
func (l *AdaptiveLimiter) sync(now time.Time, s *slot, rl RateLimit) {
	if rl.Requests == nil && rl.Tokens == nil || s.seq < l.lastSync {
		return
	}
	l.lastSync = s.seq
	// What was let go after s is not in the server's count yet.
	l.reqs.sync(now, s.sent, rl.Requests, float64(l.seq-s.seq))
	l.toks.sync(now, s.sent, rl.Tokens, l.tokensSent-s.tokensSent)
}

// Stats returns how many answers the limiter saw and how many of them
// were HTTP 429.
func (l *AdaptiveLimiter) Stats() (answered, rateLimited int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answered, l.rateLimited
}

// mirror estimates a server's rate-limit budget (requests or tokens) from
// its headers: what remained at the last answer, refilled since at the
// rate the headers imply, less what was sent since. The zero value knows
// nothing and holds nothing back.
type mirror struct {
	known bool
	limit float64   // the window's size; 0 when unknown
	level float64   // the budget left at t
	t     time.Time // when level was estimated
	// The refill rate is the ratio of two decaying sums over answers:
	// used (limit − remaining) and reset seconds. Rounded reset values
	// ("1s") then average out instead of setting the rate alone.
	used, reset float64
}

// rate is the estimated refill rate in units per second; 0 when unknown.
func (m *mirror) rate() float64 {
	if m.reset <= 0 {
		return 0
	}
	return m.used / m.reset
}

// at returns the level refilled up to now.
func (m *mirror) at(now time.Time) float64 {
	lvl := m.level + m.rate()*now.Sub(m.t).Seconds()
	if m.limit > 0 {
		lvl = math.Min(lvl, m.limit)
	}
	return lvl
}

// delay returns how long to wait until the budget has room for n units
// with a margin of reserve × limit; 0 when it has, or when the mirror
// cannot tell (no headers yet, or no refill rate). A request larger than
// the margin allows waits for a full window.
func (m *mirror) delay(now time.Time, n, reserve float64) time.Duration {
	if !m.known {
		return 0
	}
	margin := reserve * m.limit
	if m.limit > 0 {
		n = math.Min(n, m.limit-margin)
	}
	short := n + margin - m.at(now)
	r := m.rate()
	if short <= 0 || r <= 0 {
		return 0
	}
	return time.Duration(short / r * float64(time.Second))
}

// take counts n units sent now.
func (m *mirror) take(now time.Time, n float64) {
	if !m.known {
		return
	}
	m.level = m.at(now) - n
	m.t = now
}

// sync sets the mirror from a window an answer reported, for a request
// sent at sent; after units were sent since that request.
func (m *mirror) sync(now, sent time.Time, w *RateWindow, after float64) {
	if w == nil {
		return
	}
	m.known = true
	if w.Limit > 0 {
		m.limit = float64(w.Limit)
	}
	if used := w.Limit - w.Remaining; used > 0 && w.Reset > 0 {
		const decay = 0.9
		m.used = decay*m.used + float64(used)
		m.reset = decay*m.reset + w.Reset.Seconds()
	}
	// The server counted the request about when it was sent; the budget
	// has refilled since.
	m.level = float64(w.Remaining) + m.rate()*now.Sub(sent).Seconds() - after
	if m.limit > 0 {
		m.level = math.Min(m.level, m.limit)
	}
	m.t = now
}
