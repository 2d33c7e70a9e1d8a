package results

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
)

// TestStartRunIDs checks that models and prompts get ids in the order
// NewRun lists them, also across bulk statements, and that every plan
// entry refers to the rows of its own model and prompt.
func TestStartRunIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	nr := fixture("ids", "", 3, []string{"b", "a"}, bulkRows+6, 1)
	// Instances listed out of index order: ids follow the list, not idx.
	slices.Reverse(nr.Instances)
	run := startRun(t, s, nr)

	modelIDs := map[int]int64{}
	var last int64
	for _, m := range nr.Instances {
		id, err := scanInt64(s, `SELECT id FROM models WHERE run_id = ? AND idx = ?`, run.ID, m.Index)
		if err != nil {
			t.Fatalf("model %d: %v", m.Index, err)
		}
		if id <= last {
			t.Errorf("model %d has id %d, not after %d of the model listed before it", m.Index, id, last)
		}
		last = id
		modelIDs[m.Index] = id
	}
	promptIDs := map[promptKey]int64{}
	last = 0
	for _, p := range nr.Prompts {
		id, err := scanInt64(s, `SELECT id FROM prompts WHERE run_id = ? AND probe = ? AND idx = ?`, run.ID, p.Probe, p.Index)
		if err != nil {
			t.Fatalf("prompt %s/%d: %v", p.Probe, p.Index, err)
		}
		if id <= last {
			t.Errorf("prompt %s/%d has id %d, not after %d of the prompt listed before it", p.Probe, p.Index, id, last)
		}
		last = id
		promptIDs[promptKey{p.Probe, p.Index}] = id
	}

	rows, err := s.rdb.QueryContext(ctx, `SELECT idx, model_id, prompt_id FROM run_samples WHERE run_id = ? ORDER BY idx`, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var i int
		var mid, pid int64
		if err := rows.Scan(&i, &mid, &pid); err != nil {
			t.Fatal(err)
		}
		ps := nr.Plan[i]
		if mid != modelIDs[ps.Instance] || pid != promptIDs[promptKey{ps.Probe, ps.Prompt}] {
			t.Errorf("plan entry %d: model id %d prompt id %d; want %d and %d", i, mid, pid, modelIDs[ps.Instance], promptIDs[promptKey{ps.Probe, ps.Prompt}])
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(nr.Plan) {
		t.Errorf("%d plan rows stored, want %d", n, len(nr.Plan))
	}
}

func scanInt64(s *Store, q string, args ...any) (int64, error) {
	var v int64
	err := s.rdb.QueryRow(q, args...).Scan(&v)
	return v, err
}

func TestRunOrphaned(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	// A pid that no longer exists: a child that exited and was reaped.
	child := exec.Command(os.Args[0], "-test.run=^$")
	if err := child.Run(); err != nil {
		t.Fatalf("run child: %v", err)
	}
	gone := child.Process.Pid
	if processAlive(gone) {
		t.Skipf("pid %d of the reaped child is in use again", gone)
	}
	tests := []struct {
		name   string
		run    Run
		orphan bool
	}{
		{"running, owner gone", Run{Status: StatusRunning, PID: gone, Host: host}, true},
		{"running, owner alive", Run{Status: StatusRunning, PID: os.Getpid(), Host: host}, false},
		{"running on another host", Run{Status: StatusRunning, PID: gone, Host: host + ".elsewhere"}, false},
		{"running, no pid", Run{Status: StatusRunning, Host: host}, false},
		{"interrupted, owner gone", Run{Status: StatusInterrupted, PID: gone, Host: host}, false},
		{"complete, owner gone", Run{Status: StatusComplete, PID: gone, Host: host}, false},
	}
	for _, tt := range tests {
		if got := tt.run.Orphaned(); got != tt.orphan {
			t.Errorf("%s: Orphaned() = %v, want %v", tt.name, got, tt.orphan)
		}
	}
}

// TestProcessAliveOtherUser checks that a process this user may not
// signal still counts as alive: pid 1 always exists, and for a non-root
// test run kill(1, 0) fails with EPERM.
func TestProcessAliveOtherUser(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("process liveness is checked on Linux")
	}
	if !processAlive(1) {
		t.Error("processAlive(1) = false; want true (init exists, even if it belongs to another user)")
	}
}
