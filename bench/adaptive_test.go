package bench

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// capLog collects a limiter's changes.
type capLog struct {
	mu sync.Mutex
	cs []RateChange
}

func (r *capLog) note(c RateChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cs = append(r.cs, c)
}

func (r *capLog) caps() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, c := range r.cs {
		out = append(out, c.Cap)
	}
	return out
}

func (r *capLog) reasons() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.cs {
		out = append(out, c.Reason)
	}
	return out
}

// hammer calls c from n goroutines, calls times in all, and returns the
// most calls seen in flight at once inside c.
func hammer(t *testing.T, c Client, n, calls int) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for next.Add(1) <= int64(calls) {
				_, _ = c.Complete(context.Background(), Request{Messages: []Message{{Content: "hi"}}})
			}
		})
	}
	wg.Wait()
}

// inFlight wraps a client answering after latency and tracks the most
// calls in flight.
type inFlight struct {
	latency  time.Duration
	answer   func(now int) error // by calls in flight, this one included
	cur, top atomic.Int64
}

func (f *inFlight) Complete(ctx context.Context, _ Request) (*Response, error) {
	n := f.cur.Add(1)
	defer f.cur.Add(-1)
	for {
		top := f.top.Load()
		if n <= top || f.top.CompareAndSwap(top, n) {
			break
		}
	}
	time.Sleep(f.latency)
	if f.answer != nil {
		if err := f.answer(int(n)); err != nil {
			return nil, err
		}
	}
	return &Response{Choices: []Choice{{Text: "Owl"}}, Latency: f.latency}, nil
}

func TestAdaptiveGrowsToMax(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var rec capLog
		srv := &inFlight{latency: 100 * time.Millisecond}
		l := NewAdaptiveLimiter("http://x/v1", "K", 2, 8, RateControl{}, rec.note)
		hammer(t, l.Wrap(srv), 32, 400)
		// Clean answers while requests wait for a slot: the cap grows one
		// step at a time from 2 to the hard maximum 8, and no further.
		if got, want := rec.caps(), []int{2, 3, 4, 5, 6, 7, 8}; !slices.Equal(got, want) {
			t.Errorf("caps = %v; want %v", got, want)
		}
		if top := srv.top.Load(); top != 8 {
			t.Errorf("most in flight = %d; want 8 (max_concurrency)", top)
		}
	})
}

func TestAdaptiveNoGrowthWhenNotSaturated(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var rec capLog
		l := NewAdaptiveLimiter("http://x/v1", "", 4, 64, RateControl{}, rec.note)
		// Two callers never fill a cap of 4: it has no reason to grow.
		hammer(t, l.Wrap(&inFlight{latency: 50 * time.Millisecond}), 2, 200)
		if got := rec.caps(); !slices.Equal(got, []int{4}) {
			t.Errorf("caps = %v; want [4]", got)
		}
	})
}

func TestAdaptiveCutsOn429OncePerCooldown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var rec capLog
		// A server that serves at most 5 requests at once and answers 429
		// beyond: AIMD settles around it.
		var rejected atomic.Int64
		srv := &inFlight{latency: 200 * time.Millisecond, answer: func(n int) error {
			if n > 5 {
				rejected.Add(1)
				return &APIError{Status: http.StatusTooManyRequests}
			}
			return nil
		}}
		l := NewAdaptiveLimiter("http://x/v1", "", 32, 32, RateControl{Cooldown: time.Second}, rec.note)
		// The first answer comes back alone (the limiter listens first),
		// then 32 go out at once and 27 come back 429 together: one cut,
		// to 16, not 27 of them.
		hammer(t, l.Wrap(srv), 64, 33)
		caps := rec.caps()
		if len(caps) < 2 || caps[0] != 32 || caps[1] != 16 {
			t.Fatalf("caps = %v; want 32, then one cut to 16 for the whole burst of 429s", caps)
		}
		// Cuts then come one cooldown apart at least.
		var last time.Time
		rec.mu.Lock()
		for _, c := range rec.cs {
			if c.Reason == RateRateLimited {
				if !last.IsZero() && c.At.Sub(last) < time.Second {
					t.Errorf("cuts at %v and %v: closer than the 1 s cooldown", last, c.At)
				}
				last = c.At
			}
		}
		rec.mu.Unlock()
		// Run on: the cap saws between half the server's limit and one
		// above it, as AIMD does. A cycle is a cooldown (1 s, 5 round
		// trips) at 3 in flight, 3 round trips growing to 6, and one round
		// trip at 6 whose requests the server refuses (each arrives while 5
		// others are in flight): about 6 refused of 30–35 sent, under 25%.
		// Without the cut, 27 of 32 would be refused.
		before := rejected.Load()
		hammer(t, l.Wrap(srv), 64, 2000)
		if share := float64(rejected.Load()-before) / 2000; share > 0.25 {
			t.Errorf("%.1f%% of requests answered 429 after settling; want at most 25%%", 100*share)
		}
		caps = rec.caps()
		for _, c := range caps[len(caps)/2:] {
			if c < 3 || c > 7 {
				t.Errorf("caps after settling %v; want them within [3, 7] around the server's 5", caps[len(caps)/2:])
				break
			}
		}
	})
}

func TestAdaptiveHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var sent []time.Duration
		start := time.Now()
		var mu sync.Mutex
		calls := 0
		c := ClientFunc(func(ctx context.Context, req Request) (*Response, error) {
			mu.Lock()
			calls++
			n := calls
			sent = append(sent, time.Since(start))
			mu.Unlock()
			if n == 2 {
				return nil, &APIError{Status: 429, RetryAfter: 3 * time.Second}
			}
			return &Response{Choices: []Choice{{Text: "x"}}}, nil
		})
		l := NewAdaptiveLimiter("http://x/v1", "", 1, 1, RateControl{}, nil)
		lc := l.Wrap(c)
		for range 3 {
			_, _ = lc.Complete(context.Background(), Request{})
		}
		// The third request waits out the 3 s the second one was told.
		if want := []time.Duration{0, 0, 3 * time.Second}; !slices.Equal(sent, want) {
			t.Errorf("sent at %v; want %v", sent, want)
		}
	})
}

func TestAdaptiveServerErrorPausesGrowth(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var rec capLog
		var calls atomic.Int64
		srv := &inFlight{latency: 100 * time.Millisecond, answer: func(int) error {
			if calls.Add(1) == 2 {
				return &APIError{Status: 503}
			}
			return nil
		}}
		l := NewAdaptiveLimiter("http://x/v1", "", 2, 100, RateControl{Cooldown: 10 * time.Second}, rec.note)
		start := time.Now()
		hammer(t, l.Wrap(srv), 16, 150)
		// The 503 is the second answer, at 200 ms: growth waits 10 s, and
		// 150 requests at 2 in flight and 100 ms take 7.5 s. A 5xx does not
		// cut the cap.
		if got := rec.caps(); !slices.Equal(got, []int{2}) {
			t.Errorf("caps = %v after %v; want [2] (no growth within the cooldown, no cut)", got, time.Since(start))
		}
	})
}

func TestAdaptivePacesByHeaders(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// A budget of 60 requests a minute, refilled one a second, already
		// empty: every answer says 0 remain and a minute until it is whole
		// again (OpenAI's reset-requests).
		start := time.Now()
		var mu sync.Mutex
		var sent []time.Duration
		c := ClientFunc(func(ctx context.Context, req Request) (*Response, error) {
			mu.Lock()
			sent = append(sent, time.Since(start).Round(time.Millisecond))
			mu.Unlock()
			return &Response{Choices: []Choice{{Text: "x"}}, RateLimit: RateLimit{Requests: &RateWindow{Limit: 60, Remaining: 0, Reset: time.Minute}}}, nil
		})
		l := NewAdaptiveLimiter("http://x/v1", "", 16, 16, RateControl{Reserve: -1}, nil)
		hammer(t, l.Wrap(c), 16, 5)
		// The first answer tells the limit; the next requests go one per
		// refill, however many are allowed in flight.
		want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}
		if !slices.Equal(sent, want) {
			t.Errorf("sent at %v; want %v", sent, want)
		}
	})
}

func TestAdaptiveCancelWhileQueued(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewAdaptiveLimiter("http://x/v1", "", 1, 1, RateControl{}, nil)
		release := make(chan struct{})
		c := l.Wrap(ClientFunc(func(ctx context.Context, req Request) (*Response, error) {
			<-release
			return &Response{}, nil
		}))
		go func() { _, _ = c.Complete(context.Background(), Request{}) }()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := c.Complete(ctx, Request{})
			errc <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("queued call after cancel: %v; want context.Canceled", err)
		}
		close(release)
		// The cancelled call left the queue: the next one goes.
		if _, err := c.Complete(context.Background(), Request{}); err != nil {
			t.Fatal(err)
		}
	})
}
