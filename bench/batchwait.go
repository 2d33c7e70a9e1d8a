package bench

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// batchOwner is what waitBatches needs of the owner of a set of batches:
// the model batcher (batchrun.go), whose batches belong to plan
// instances, or the judge batcher (judgebatch.go), whose batches belong
// to kinds of judge call. A fatal error stops a batch's owner, not the
// run: its other batches are left alone.
type batchOwner interface {
	// api returns the Batch API a's batch is sent to.
	api(a *active) *BatchAPI
	// halted reports whether a's model or judge kind was stopped.
	halted(a *active) bool
	// halt stops a's model or judge kind with err.
	halt(a *active, err error)
	// upload uploads a's input file unless uploaded, and creates its
	// batch (submitted, or found when an earlier attempt created it).
	upload(ctx context.Context, a *active) error
	// store reads a final batch's output and error files into the
	// results database.
	store(ctx context.Context, a *active, info BatchInfo) error
	// owner names a's model or judge kind in log lines.
	owner(a *active) string
	log(format string, args ...any)
}

// waitBatches submits the batches of act not submitted yet, then polls
// each until it ends and collects it, pacing polls by poll (the interval
// grows by half after each unchanged round, back to poll.Interval after a
// change, up to poll.MaxInterval, for at most poll.MaxWait). Provider
// messages are recorded through redact. what names
// the batches in the log line of a wait that ends unfinished.
// interrupted reports batches left running: ctx was done or MaxWait
// passed; a restart polls them. The error is one of the results database
// only (a provider's error halts the batch's owner).
func waitBatches(ctx context.Context, bs BatchStore, act []*active, poll PollPolicy, redact *Redactor, o batchOwner, what string) (interrupted bool, err error) {
	db := context.WithoutCancel(ctx)
	heldBack := map[*active]bool{} // by max_cost: not interrupted, not running
	for _, a := range act {
		if ctx.Err() != nil {
			break
		}
		if a.rec.BatchID != "" || o.halted(a) {
			continue
		}
		if err := o.upload(ctx, a); err != nil {
			var dbErr *dbError
			if errors.As(err, &dbErr) {
				return false, dbErr.err
			}
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, ErrBudget) {
				// Held back by max_cost: left recorded for a run with a
				// larger one; the owner's other batches go on.
				o.log("batch %d of %s not submitted: %v", a.rec.ID, o.owner(a), err)
				heldBack[a] = true
				continue
			}
			o.halt(a, err)
		}
	}
	poll = poll.withDefaults()
	deadline := time.Now().Add(poll.MaxWait)
	interval := poll.Interval
	for {
		left, changed := 0, false
		for _, a := range act {
			if a.rec.Collected || a.rec.BatchID == "" || o.halted(a) || ctx.Err() != nil {
				continue
			}
			info, err := o.api(a).Batch(ctx, a.rec.BatchID)
			if err != nil {
				if ctx.Err() == nil {
					o.halt(a, fmt.Errorf("poll batch %s: %w", a.rec.BatchID, err))
				}
				continue
			}
			if a.record(info, redact) {
				changed = true
				if err := bs.UpdateBatch(db, a.rec); err != nil {
					return false, err
				}
				o.log("batch %s of %s: %s", info.ID, o.owner(a), info)
			}
			if !BatchFinal(info.Status) {
				left++
				continue
			}
			if err := o.store(ctx, a, info); err != nil {
				var dbErr *dbError
				if errors.As(err, &dbErr) {
					return false, dbErr.err
				}
				if ctx.Err() == nil {
					o.halt(a, fmt.Errorf("collect batch %s: %w", a.rec.BatchID, err))
				}
				continue
			}
			a.rec.Collected = true
			if err := bs.UpdateBatch(db, a.rec); err != nil {
				return false, err
			}
		}
		if left == 0 || ctx.Err() != nil {
			return pendingLeft(act, o, heldBack), nil
		}
		if changed {
			interval = poll.Interval
		}
		if time.Now().Add(interval).After(deadline) {
			o.log("stopped waiting after %v with %d %s running; run again to poll on", poll.MaxWait, left, what)
			return true, nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		interval = min(interval*3/2, poll.MaxInterval)
	}
}

// pendingLeft reports whether a batch of an owner not halted is left
// uncollected, apart from those max_cost held back.
func pendingLeft(act []*active, o batchOwner, heldBack map[*active]bool) bool {
	for _, a := range act {
		if !a.rec.Collected && !o.halted(a) && !heldBack[a] {
			return true
		}
	}
	return false
}

// record copies what info says of a batch into a's record, the provider's
// errors through redact, and reports whether anything changed.
func (a *active) record(info BatchInfo, redact *Redactor) bool {
	before := a.rec
	a.rec.Status, a.rec.OutputFileID, a.rec.ErrorFileID = info.Status, info.OutputFileID, info.ErrorFileID
	if len(info.Errors) > 0 {
		a.rec.Message = redact.String(fmt.Sprint(info.Errors))
	}
	return a.rec != before
}

// batchFileReader reads the file id of a Batch API line by line
// (BatchAPI.ReadFile, or a file of the batch directory offline).
type batchFileReader func(ctx context.Context, id string, line func([]byte) error) error

// readBatchAnswers reads a final batch's output and error files with read
// and calls answer once per custom_id, for its first line (a repeated
// line is ignored). It returns the custom_ids answered and the error to
// store for the batch's lines left unanswered (its status, its errors and
// how many lines could not be parsed). An error of answer, or of read,
// ends the reading and is returned.
func readBatchAnswers(ctx context.Context, info BatchInfo, read batchFileReader, answer func(BatchOutputLine) error) (seen map[string]bool, unanswered error, err error) {
	seen = map[string]bool{}
	malformed := 0
	handle := func(raw []byte) error {
		ol, err := ParseBatchOutputLine(raw)
		if err != nil {
			malformed++
			return nil // its line is unanswered
		}
		if seen[ol.CustomID] {
			return nil
		}
		seen[ol.CustomID] = true
		return answer(ol)
	}
	for _, id := range []string{info.OutputFileID, info.ErrorFileID} {
		if id == "" {
			continue
		}
		if err := read(ctx, id, handle); err != nil {
			var dbErr *dbError
			if errors.As(err, &dbErr) {
				return nil, nil, dbErr
			}
			return nil, nil, err
		}
	}
	return seen, batchUnanswered(info, malformed), nil
}

// batchUnanswered is the error stored for a line of a final batch that
// its files do not answer.
func batchUnanswered(info BatchInfo, malformed int) error {
	code := "no_answer"
	switch info.Status {
	case BatchExpired:
		code = "batch_expired"
	case BatchCancelled:
		code = "batch_cancelled"
	case BatchFailed:
		code = "batch_failed"
	}
	msg := fmt.Sprintf("batch %s %s: %v", info.ID, info.Status, errNoAnswer)
	if len(info.Errors) > 0 {
		msg += fmt.Sprintf(" (%v)", info.Errors)
	}
	if malformed > 0 {
		msg += fmt.Sprintf("; %d lines of its files could not be read", malformed)
	}
	return &BatchLineFailure{Code: code, Message: msg}
}
