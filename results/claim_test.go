package results

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestClaimRunRace: stores on one file (as two processes have) claim the
// same new run at once. Exactly one may own it; the others are refused
// with the owner's PID and host (issue 11 item 4: two runs sampled the
// same plan, duplicating paid requests).
func TestClaimRunRace(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "results.db")
	const n = 8
	stores := make([]*Store, n)
	for i := range stores {
		s, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	nr := fixture("owl", "", 2, []string{"p"}, 3, 4)
	var wg sync.WaitGroup
	claims := make([]*Claim, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i, s := range stores {
		wg.Go(func() {
			<-start
			claims[i], errs[i] = s.ClaimRun(context.Background(), nr)
		})
	}
	close(start)
	wg.Wait()
	host, _ := os.Hostname()
	won := 0
	for i, err := range errs {
		var busy *RunBusyError
		switch {
		case err == nil:
			won++
			if claims[i].Resumed || !claims[i].NeedsPlan {
				t.Errorf("winner's claim %+v; want a new run that needs its plan", claims[i])
			}
		case errors.As(err, &busy) && errors.Is(err, ErrRunBusy):
			if busy.Run.PID != os.Getpid() || busy.Run.Host != host {
				t.Errorf("refusal names process %d on %q; want %d on %q", busy.Run.PID, busy.Run.Host, os.Getpid(), host)
			}
		default:
			t.Errorf("claim %d: %v; want success or *RunBusyError", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d stores claimed the run; want exactly 1", won)
	}
	if n := queryString(t, stores[0].db, `SELECT count(*) FROM runs`); n != "1" {
		t.Errorf("%s runs recorded; want 1", n)
	}
}

// TestClaimRun checks what a claim finds in each state of the runs table.
func TestClaimRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host, _ := os.Hostname()
	// deadPID is no process: above Linux's largest pid_max (2^22).
	const deadPID = 1<<22 + 12345
	for _, tc := range []struct {
		name string
		// setup prepares the store and returns the id of the run the
		// claim should resume (0: a new run is expected).
		setup       func(t *testing.T, s *Store) int64
		busy        bool // want *RunBusyError
		wantPlan    bool // want NeedsPlan
		wantResumed bool
	}{
		{"empty database: a new run", func(*testing.T, *Store) int64 { return 0 }, false, true, false},
		{"finished run: resumed", func(t *testing.T, s *Store) int64 {
			r := startRun(t, s, fixture("owl", "", 1, []string{"p"}, 2, 2))
			finish(t, s, r.ID)
			return r.ID
		}, false, false, true},
		// This process owns it and has not finished it.
		{"running here: refused", func(t *testing.T, s *Store) int64 {
			startRun(t, s, fixture("owl", "", 1, []string{"p"}, 2, 2))
			return 0
		}, true, false, false},
		// kill -9 left it running: its owner is gone.
		{"orphaned: taken over", func(t *testing.T, s *Store) int64 {
			r := startRun(t, s, fixture("owl", "", 1, []string{"p"}, 2, 2))
			setOwner(t, s, r.ID, deadPID, host)
			return r.ID
		}, false, false, true},
		// Another host's process cannot be checked from here.
		{"running on another host: refused", func(t *testing.T, s *Store) int64 {
			r := startRun(t, s, fixture("owl", "", 1, []string{"p"}, 2, 2))
			setOwner(t, s, r.ID, 4242, "another-host")
			return 0
		}, true, false, false},
		// A changed scoring rule is another suite hash with the same
		// draws (same name and salt): it must wait as well.
		{"same name and salt, other hash: refused", func(t *testing.T, s *Store) int64 {
			nr := fixture("owl", "", 1, []string{"p"}, 2, 2)
			nr.SuiteHash = "hash-owl-rescored"
			startRun(t, s, nr)
			return 0
		}, true, false, false},
		// --fresh draws other samples (another salt): no conflict.
		{"other salt: a new run", func(t *testing.T, s *Store) int64 {
			startRun(t, s, fixture("owl", "fresh-salt", 1, []string{"p"}, 2, 2))
			return 0
		}, false, true, false},
		// The owner died between the runs row and its plan.
		{"claimed without plan, owner gone: resumed, plan needed", func(t *testing.T, s *Store) int64 {
			c, err := s.ClaimRun(ctx, fixture("owl", "", 2, []string{"p"}, 3, 4))
			if err != nil {
				t.Fatal(err)
			}
			s.disown(c.Run.ID) // as if its process had died
			setOwner(t, s, c.Run.ID, deadPID, host)
			return c.Run.ID
		}, false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			want := tc.setup(t, s)
			nr := fixture("owl", "", 2, []string{"p"}, 3, 4)
			c, err := s.ClaimRun(ctx, nr)
			if tc.busy {
				if !errors.Is(err, ErrRunBusy) {
					t.Fatalf("ClaimRun = %+v, %v; want ErrRunBusy", c, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Resumed != tc.wantResumed || c.NeedsPlan != tc.wantPlan || (want != 0 && c.Run.ID != want) {
				t.Fatalf("claim of run %d: resumed %v, needs plan %v; want run %d, %v, %v", c.Run.ID, c.Resumed, c.NeedsPlan, want, tc.wantResumed, tc.wantPlan)
			}
			if c.Run.Status != StatusRunning || c.Run.PID != os.Getpid() || c.Run.Host != host {
				t.Errorf("claimed run %+v; want running, owned by this process", c.Run)
			}
			if c.NeedsPlan {
				if err := s.WritePlan(ctx, c.Run.ID, nr); err != nil {
					t.Fatal(err)
				}
				if got, err := s.Counts(ctx, c.Run.ID); err != nil || got.Planned != 24 {
					t.Errorf("after WritePlan: %+v, %v; want 24 planned", got, err)
				}
			}
			// Owned now: a second claim is refused until it is finished.
			if _, err := s.ClaimRun(ctx, nr); !errors.Is(err, ErrRunBusy) {
				t.Errorf("second claim = %v; want ErrRunBusy", err)
			}
			finish(t, s, c.Run.ID)
			if _, err := s.ClaimRun(ctx, nr); err != nil {
				t.Errorf("claim after finishing: %v", err)
			}
		})
	}
}

func finish(t *testing.T, s *Store, id int64) {
	t.Helper()
	if err := s.FinishRun(context.Background(), id, StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
}

// setOwner records another owner for a running run, as another process
// would have.
func setOwner(t *testing.T, s *Store, id int64, pid int, host string) {
	t.Helper()
	if _, err := s.db.Exec(`UPDATE runs SET pid = ?, host = ? WHERE id = ?`, pid, host, id); err != nil {
		t.Fatal(err)
	}
	s.disown(id)
}
