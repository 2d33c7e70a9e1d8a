package bench

import (
	"context"
	"errors"
	"iter"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Write policy of every stage unless it sets its own. A process killed
// mid-stage loses at most what the writer holds (one batch and the queue)
// plus the work in flight.
//
// Why one policy for sampling and scoring: the time bound is what limits
// the loss at the rates paid endpoints allow (a judge answering a hundred
// calls a second fills 25 of them in 250 ms), and the size bound only
// matters at local rates, where larger SQLite transactions cost less per
// row. Scoring's former 512 rows per flush bought nothing the time bound
// does not already give.
const (
	// DefaultBatchSize is how many outputs one sink call stores at most.
	DefaultBatchSize = 2048
	// DefaultFlushEvery is how long the writer collects outputs at most
	// before it passes them to the sink.
	DefaultFlushEvery = 250 * time.Millisecond
	// SinkQueue is about how many finished outputs may wait while the
	// sink stores a batch.
	SinkQueue = 1024
)

// defaultGrace is the grace period when none is given.
const defaultGrace = 30 * time.Second

// ErrStopLane, wrapped in the error a Lane's Work returns, stops that lane:
// Work's outputs are still written, the lane's remaining items are not
// worked on, and the other lanes go on. Stage.Run does not return it.
var ErrStopLane = errors.New("lane stopped")

// Stage is one concurrent step of the engine: sampling and scoring are
// stages that differ only in their lanes' work functions, and so will data
// generation and judging rounds be.
//
// Each lane has a feeder that hands the lane's items, in order, to at most
// Workers concurrent calls of Work (an errgroup with SetLimit). The
// outputs of every lane go through one bounded queue to one writer, which
// passes them to Sink in batches of at most BatchSize outputs collected
// over at most FlushEvery.
//
// Cancelling Run's ctx stops feeding; work in flight goes on under a
// context that is cancelled Grace later, and its outputs are still
// written before Run returns. The first error from a Work (other than
// ErrStopLane) or from Sink stops every lane at once, cancels the work in
// flight and is returned by Run; outputs that reach the writer after a
// Sink error are dropped.
type Stage[I, T any] struct {
	// Lanes are the streams of items; each has its own concurrency.
	Lanes []Lane[I, T]
	// Sink stores one batch. It is called from one goroutine only, never
	// with an empty batch, and must not keep batch after it returns.
	Sink func(batch []T) error
	// BatchSize bounds the outputs of one Sink call; zero means
	// DefaultBatchSize.
	BatchSize int
	// FlushEvery bounds how long outputs wait for Sink; zero means
	// DefaultFlushEvery.
	FlushEvery time.Duration
	// Queue is how many Work results (each a slice of outputs) may wait
	// for the writer before workers block; zero means SinkQueue.
	Queue int
	// Grace is how long work in flight may finish after ctx is cancelled;
	// zero means 30 s.
	Grace time.Duration
}

// Lane is one stream of a Stage's items with its own concurrency: the
// sampling stage has one lane per model instance, scoring has one.
type Lane[I, T any] struct {
	// Items are worked on in order of issue; the iteration stops early
	// when the lane stops.
	Items iter.Seq[I]
	// Workers is the most calls of Work in flight; less than 1 means 1.
	Workers int
	// Work turns one item into outputs. ctx outlives Run's ctx by the
	// stage's Grace; when it is done, Work should return what it has. An
	// error wrapping ErrStopLane stops the lane; any other error stops
	// the stage.
	Work func(ctx context.Context, item I) ([]T, error)
}

// Run works every lane's items and writes the outputs; see Stage. It
// returns the first error of a Work or of Sink, or nil, also when ctx was
// cancelled (the caller tells an interruption by ctx.Err()).
func (s *Stage[I, T]) Run(ctx context.Context) error {
	batchSize, every, queue := s.BatchSize, s.FlushEvery, s.Queue
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	if every <= 0 {
		every = DefaultFlushEvery
	}
	if queue <= 0 {
		queue = SinkQueue
	}
	// Work runs under hard, which outlives ctx by the grace period so that
	// outputs in flight are written rather than lost.
	hard, cancelHard := graceContext(ctx, s.Grace)
	defer cancelHard()
	// Feeding stops at ctx, or at the first error.
	feed, cancelFeed := context.WithCancel(ctx)
	defer cancelFeed()

	var once sync.Once
	var firstErr error
	fail := func(err error) {
		once.Do(func() { firstErr = err })
		cancelFeed()
		cancelHard()
	}

	out := make(chan []T, queue)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.write(out, batchSize, every, fail)
	}()
	var lanes sync.WaitGroup
	for _, l := range s.Lanes {
		lanes.Go(func() { runLane(ctx, feed, hard, l, out, fail) })
	}
	lanes.Wait()
	close(out)
	<-writerDone
	return firstErr
}

// runLane feeds one lane's items to its workers until the items end or
// feed or the lane is stopped, and waits for the workers.
func runLane[I, T any](ctx, feed, hard context.Context, l Lane[I, T], out chan<- []T, fail func(error)) {
	laneCtx, stop := context.WithCancel(feed)
	defer stop()
	var g errgroup.Group
	g.SetLimit(max(1, l.Workers))
	for item := range l.Items {
		if laneCtx.Err() != nil {
			break
		}
		// Go blocks while Workers calls are in flight: the feeder is the
		// lane's pacer.
		g.Go(func() error {
			// ctx is checked itself, not only through laneCtx: a Work that
			// saw ctx done may return before the cancellation reaches
			// ctx's children, and its freed slot must not start this item.
			if ctx.Err() != nil || laneCtx.Err() != nil {
				return nil // stopped while this item waited for a worker
			}
			ts, err := l.Work(hard, item)
			if len(ts) > 0 {
				out <- ts
			}
			switch {
			case err == nil:
			case errors.Is(err, ErrStopLane):
				stop()
			default:
				fail(err)
			}
			return nil
		})
	}
	_ = g.Wait() // workers report through fail, never through g
}

// write is the stage's one writer: it batches outputs from out and passes
// them to Sink until out is closed, then flushes the rest.
func (s *Stage[I, T]) write(out <-chan []T, batchSize int, every time.Duration, fail func(error)) {
	var batch []T
	failed := false
	tick := time.NewTicker(every)
	defer tick.Stop()
	flush := func() {
		if len(batch) > 0 && !failed {
			if err := s.Sink(batch); err != nil {
				failed = true
				fail(err)
			}
		}
		batch = batch[:0]
	}
	for {
		select {
		case ts, ok := <-out:
			if !ok {
				flush()
				return
			}
			batch = append(batch, ts...)
			if len(batch) >= batchSize {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// graceContext returns a context that is not cancelled with ctx but grace
// (0 or less: defaultGrace) after it, so that work in flight when ctx is
// cancelled may finish. cancel cancels hard at once and stops waiting for
// ctx; call it when done.
func graceContext(ctx context.Context, grace time.Duration) (hard context.Context, cancel context.CancelFunc) {
	if grace <= 0 {
		grace = defaultGrace
	}
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancelHard)
		context.AfterFunc(hard, func() { t.Stop() })
	})
	return hard, func() {
		stop()
		cancelHard()
	}
}
