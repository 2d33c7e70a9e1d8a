package results

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// ErrRunBusy is matched by errors.Is on a *RunBusyError.
var ErrRunBusy = errors.New("run in progress")

// RunBusyError is ClaimRun's refusal: a live process owns a running run
// that samples the same draws (same salt, same suite name or content).
type RunBusyError struct {
	// Run is the live run, with the PID and host of its owner.
	Run *Run
}

// Error names the live run and its owner.
func (e *RunBusyError) Error() string {
	return fmt.Sprintf("run %d of suite %s is in progress in process %d on %s (since %s): two runs would sample the same draws; wait for it with --wait, or stop that process",
		e.Run.ID, e.Run.SuiteName, e.Run.PID, e.Run.Host, e.Run.UpdatedAt.Local().Format(time.DateTime))
}

// Is makes errors.Is(err, ErrRunBusy) true.
func (e *RunBusyError) Is(target error) bool { return target == ErrRunBusy }

// Claim is a run claimed by this process with ClaimRun.
type Claim struct {
	Run *Run
	// Resumed is true when the run existed (it is resumed), false when
	// ClaimRun created it.
	Resumed bool
	// NeedsPlan is true when the run's models, prompts and plan are not
	// all stored yet: call WritePlan. That is so for a new run, and for
	// one whose owner died before its plan was written (WritePlan goes on
	// where it stopped).
	NeedsPlan bool
}

// ClaimRun makes this process the owner of the run of nr's suite hash
// and salt: it resumes that run, or records a new one (its runs row
// only: see Claim.NeedsPlan), and marks it running with this process's
// PID and host.
//
// It refuses with a *RunBusyError when a live process owns a running run
// with nr's salt and nr's suite name or hash, since both would sample the
// same draws. A run whose owner is gone (killed: Run.Orphaned) is taken
// over. The check and the claim are one IMMEDIATE transaction, so of two
// processes claiming at once exactly one succeeds.
//
// Liveness: a run of this process is live while this process has claimed
// (or started or resumed) it and not finished it, in any Store on the same
// file; a run of another process on this host while that process exists;
// a run owned on another host always, as its process cannot be checked
// from here.
func (s *Store) ClaimRun(ctx context.Context, nr NewRun) (*Claim, error) {
	tx, err := s.db.BeginTx(ctx, nil) // _txlock=immediate: the write lock first
	if err != nil {
		return nil, fmt.Errorf("claim run: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE status = ? AND salt = ? AND (suite_name = ? OR suite_hash = ?) ORDER BY id`,
		StatusRunning, nr.Salt, nr.SuiteName, nr.SuiteHash)
	if err != nil {
		return nil, fmt.Errorf("claim run: %w", err)
	}
	var busy *Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim run: %w", err)
		}
		if busy == nil && s.ownerAlive(r) {
			busy = r
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim run: %w", err)
	}
	if busy != nil {
		return nil, &RunBusyError{Run: busy}
	}

	c := &Claim{}
	var id int64
	var planned, plannedRows int
	err = tx.QueryRowContext(ctx, `SELECT id, planned, (SELECT count(*) FROM run_samples rs WHERE rs.run_id = runs.id) FROM runs
		WHERE suite_hash = ? AND salt = ? ORDER BY id DESC LIMIT 1`, nr.SuiteHash, nr.Salt).Scan(&id, &planned, &plannedRows)
	switch {
	case err == nil:
		c.Resumed = true
		if err := checkUpdated(resumeRun(ctx, tx, id)); err != nil {
			return nil, fmt.Errorf("claim run %d: %w", id, err)
		}
		// The plan is written in transactions after the runs row: a run
		// with fewer rows than planned lost its owner in between.
		c.NeedsPlan = plannedRows < planned
	case errors.Is(err, sql.ErrNoRows):
		if id, err = insertRun(ctx, tx, nr); err != nil {
			return nil, fmt.Errorf("claim run: %w", err)
		}
		c.NeedsPlan = nr.planSize() > 0
	default:
		return nil, fmt.Errorf("claim run: %w", err)
	}
	// Own the run before the commit makes it visible: another Store of
	// this process that claims right after the commit must find it live.
	s.own(id)
	if err := tx.Commit(); err != nil {
		s.disown(id)
		return nil, fmt.Errorf("claim run: %w", err)
	}
	if c.Run, err = s.GetRun(ctx, id); err != nil {
		return nil, err
	}
	return c, nil
}

// ownerAlive reports whether a live process owns r (see ClaimRun).
func (s *Store) ownerAlive(r *Run) bool {
	if r.Status != StatusRunning || r.PID <= 0 || r.Host == "" {
		return false // finished, or recorded before owners were
	}
	host, _ := os.Hostname()
	switch {
	case r.Host != host:
		return true
	case r.PID == os.Getpid():
		return s.owns(r.ID)
	}
	return processAlive(r.PID)
}

// owned holds the runs this process owns, by database file and run id.
// Within one process the PID cannot tell a live run from one left running
// by an earlier Store (or a recycled PID), so ownership is kept here.
var owned sync.Map

func (s *Store) ownerKey(id int64) string { return s.file + "\x00" + strconv.FormatInt(id, 10) }
func (s *Store) own(id int64)             { owned.Store(s.ownerKey(id), true) }
func (s *Store) disown(id int64)          { owned.Delete(s.ownerKey(id)) }
func (s *Store) owns(id int64) bool {
	_, ok := owned.Load(s.ownerKey(id))
	return ok
}

// canonicalPath returns path absolute, with symbolic links resolved when
// the file exists, so that two Stores on one file agree on its name.
func canonicalPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}
