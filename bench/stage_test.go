package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// collect is a Sink that records every batch.
type collect struct {
	mu      sync.Mutex
	got     []int
	batches []int
}

func (c *collect) sink(batch []int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, batch...)
	c.batches = append(c.batches, len(batch))
	return nil
}

func ints(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

// TestStageWritesEveryOutputOnce checks the plain path: every item of
// every lane is worked once, each lane keeps to its worker limit, and
// every output reaches the sink once, in batches no larger than BatchSize.
func TestStageWritesEveryOutputOnce(t *testing.T) {
	t.Parallel()
	var c collect
	var inFlight, peak [2]atomic.Int32
	lane := func(l, from, workers int) Lane[int, int] {
		return Lane[int, int]{Items: slices.Values(ints(from, 500)), Workers: workers,
			Work: func(_ context.Context, i int) ([]int, error) {
				n := inFlight[l].Add(1)
				for p := peak[l].Load(); n > p && !peak[l].CompareAndSwap(p, n); p = peak[l].Load() {
				}
				defer inFlight[l].Add(-1)
				return []int{i, -i - 1}, nil // two outputs per item
			}}
	}
	st := &Stage[int, int]{Lanes: []Lane[int, int]{lane(0, 0, 3), lane(1, 1000, 1)}, Sink: c.sink, BatchSize: 64, Queue: 4}
	if err := st.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := append(ints(0, 500), ints(1000, 500)...)
	for _, i := range slices.Clone(want) {
		want = append(want, -i-1)
	}
	sort.Ints(want)
	sort.Ints(c.got)
	if !slices.Equal(c.got, want) {
		t.Fatalf("sink got %d outputs; want each of the %d once", len(c.got), len(want))
	}
	for _, b := range c.batches {
		// One Work result (2 outputs) may complete a batch of 63: ≤ 65.
		if b == 0 || b > 64+1 {
			t.Fatalf("batch of %d outputs; want 1..65 (BatchSize 64, results of 2)", b)
		}
	}
	if p0, p1 := peak[0].Load(), peak[1].Load(); p0 > 3 || p1 != 1 {
		t.Errorf("peak workers in flight %d and %d; want at most 3 and exactly 1", p0, p1)
	}
}

// TestStageStopLane checks that ErrStopLane stops its lane only: the
// stopping item's outputs are written, the lane's later items are not
// worked, and the other lane finishes.
func TestStageStopLane(t *testing.T) {
	t.Parallel()
	var c collect
	var worked atomic.Int32
	stopAt := 3
	stopping := Lane[int, int]{Items: slices.Values(ints(0, 100)), Workers: 1,
		Work: func(_ context.Context, i int) ([]int, error) {
			worked.Add(1)
			if i == stopAt {
				return []int{i}, fmt.Errorf("model down: %w", ErrStopLane)
			}
			return []int{i}, nil
		}}
	other := Lane[int, int]{Items: slices.Values(ints(1000, 100)), Workers: 2,
		Work: func(_ context.Context, i int) ([]int, error) { return []int{i}, nil }}
	st := &Stage[int, int]{Lanes: []Lane[int, int]{stopping, other}, Sink: c.sink}
	if err := st.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v; want nil (a stopped lane is not a stage error)", err)
	}
	// One worker: items 0..3 were worked, in order, and nothing after.
	if n := worked.Load(); n != int32(stopAt+1) {
		t.Errorf("stopping lane worked %d items; want %d", n, stopAt+1)
	}
	if len(c.got) != stopAt+1+100 {
		t.Errorf("sink got %d outputs; want %d from the stopped lane and 100 from the other", len(c.got), stopAt+1)
	}
}

// TestStageFirstErrorStops checks that an error of a Work or of the Sink
// stops every lane and is what Run returns.
func TestStageFirstErrorStops(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name      string
		workErrAt int // item whose Work fails; -1: none
		sinkErr   bool
	}{
		{"work error", 10, false},
		{"sink error", -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var worked atomic.Int32
			var c collect
			sink := c.sink
			if tc.sinkErr {
				sink = func([]int) error { return boom }
			}
			lane := Lane[int, int]{Items: slices.Values(ints(0, 100000)), Workers: 1,
				Work: func(_ context.Context, i int) ([]int, error) {
					worked.Add(1)
					if i == tc.workErrAt {
						return nil, boom
					}
					return []int{i}, nil
				}}
			st := &Stage[int, int]{Lanes: []Lane[int, int]{lane, lane}, Sink: sink, BatchSize: 8, Queue: 1}
			if err := st.Run(context.Background()); !errors.Is(err, boom) {
				t.Fatalf("Run = %v; want boom", err)
			}
			// Both lanes stop soon after the error: far fewer than the
			// 200,000 items were worked.
			if n := worked.Load(); n >= 200000 {
				t.Errorf("%d items worked after the error; want the stage stopped", n)
			}
		})
	}
}

// TestStageGrace checks an interruption: feeding stops at ctx, but work in
// flight keeps a live context (the grace period) and its outputs are
// written before Run returns.
func TestStageGrace(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var c collect
	var worked atomic.Int32
	lane := Lane[int, int]{Items: slices.Values(ints(0, 1000)), Workers: 1,
		Work: func(wctx context.Context, i int) ([]int, error) {
			worked.Add(1)
			if i == 0 {
				close(started)
				<-ctx.Done() // the interruption arrives mid-work
				if wctx.Err() != nil {
					return nil, fmt.Errorf("work context cancelled with ctx: %w", wctx.Err())
				}
			}
			return []int{i}, nil
		}}
	st := &Stage[int, int]{Lanes: []Lane[int, int]{lane}, Sink: c.sink, Grace: time.Hour}
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	<-started
	cancel()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-deadline.C:
		t.Fatal("Run did not return within 30 s of the interruption")
	}
	// Item 0 was in flight and is written; with one worker nothing else
	// was issued after the cancel.
	if !slices.Contains(c.got, 0) || worked.Load() != 1 {
		t.Errorf("sink got %v after %d items worked; want item 0 alone", c.got, worked.Load())
	}
}
