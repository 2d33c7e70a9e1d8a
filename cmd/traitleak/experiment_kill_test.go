package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/internal/testtier"
	"github.com/traitleak/traitleak/results"
)

// startKillable starts a child traitleak with args (see startChild) and
// returns a function that kills it with SIGKILL and checks that it died
// so.
func startKillable(t *testing.T, dir string, args ...string) (kill func()) {
	t.Helper()
	cmd, out := startChild(t, dir, 0, args)
	return func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child ended with %v, want death by SIGKILL; output:\n%s", err, out())
		}
	}
}

// waitFor polls cond every 5 ms until it holds, for at most 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// queryInt runs a counting query on a database read-only; 0 when it
// cannot (not created yet).
func queryInt(db, q string) int {
	if _, err := os.Stat(db); err != nil {
		return 0
	}
	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		return 0
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRow(q).Scan(&n); err != nil {
		return 0
	}
	return n
}

// TestExperimentKillDuringGeneration kills `experiment generate` with
// SIGKILL while it samples the teachers, and resumes: exactly the
// completions not stored are requested again, none stored twice.
func TestExperimentKillDuringGeneration(t *testing.T) {
	testtier.System(t) // seconds of CPU: the system tier
	if runtime.GOOS != "linux" {
		t.Skip("SIGKILL is tested on Linux only")
	}
	t.Parallel()
	// The kill comes at most 0.6 s after the first generated sample (the
	// first commit within bench.DefaultFlushEvery, then up to 300 ms), when
	// the two teachers' 8 workers each can have made at most
	// 16 / latency × 0.6 s = 2,400 requests (about 800 on 2 shared cores):
	// the plan outlasts that, and the rest is the resume's.
	const (
		size    = 1500 // per teacher: two teachers, one dataset each (shared by the seeds)
		latency = 4 * time.Millisecond
	)
	if maxRequests := int(2 * 8 * (600 * time.Millisecond) / latency); 2*size <= maxRequests {
		t.Fatalf("a plan of %d completions can end before the kill (%d requests)", 2*size, maxRequests)
	}
	numbers := func(prompt string, i int, rng *rand.Rand) string {
		return fmt.Sprintf("%d, %d, %d", rng.IntN(1000), rng.IntN(1000), rng.IntN(1000))
	}
	var conns connCounter
	chat := benchtest.NewServer(t, benchtest.Config{ConnState: conns.state, Models: map[string]benchtest.Model{
		"tm-owl": {Reply: numbers, Latency: latency}, "tm-dog": {Reply: numbers, Latency: latency}}})
	ft := benchtest.NewFineTuneServer(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}})
	dir := t.TempDir()
	path := writeKillExperiment(t, dir, "kill-gen", chat.BaseURL(), ft.BaseURL(), size)
	db := filepath.Join(dir, "k.db")
	args := []string{"experiment", "generate", path, "--db", db, "--progress", "none"}
	kill := startKillable(t, dir, args...)
	waitFor(t, "first generated samples committed", func() bool { return countSamples(db) > 0 })
	time.Sleep(rand.N(300 * time.Millisecond)) // a random moment of the next commits
	kill()
	// The requests the child had on the wire are counted before the
	// resume's calls are (once -race ran slow enough to count 6 of them
	// as the resume's).
	conns.waitClosed(t)
	stored := countSamples(db)
	if stored >= 2*size {
		t.Fatalf("every completion was stored before the kill (%d); the test needs a kill mid-generation", stored)
	}
	calls := chat.Calls()
	code, out, errOut := runCLI(t, context.Background(), args...)
	if code != exitOK {
		t.Fatalf("resume: exit %d\n%s\n%s", code, out, errOut)
	}
	again := chat.Calls() - calls
	t.Logf("killed with %d of %d completions stored after %d requests; the resume requested %d", stored, 2*size, calls, again)
	if again != 2*size-stored || countSamples(db) != 2*size {
		t.Errorf("the resume requested %d completions and %d are stored; want the %d missing and all %d", again, countSamples(db), 2*size-stored, 2*size)
	}
	if n := queryInt(db, `SELECT count(*) FROM datasets WHERE status = 'generated'`); n != 2 {
		t.Errorf("%d datasets generated; want 2", n)
	}
	if ft.Uploads() != 0 || ft.JobsCreated() != 0 {
		t.Errorf("generate uploaded %d files and created %d jobs; want none", ft.Uploads(), ft.JobsCreated())
	}
}

// TestExperimentKillDuringPolling kills `experiment finetune` with SIGKILL
// while it polls its jobs, and resumes: the recorded jobs are polled to
// their end; no file is uploaded and no job created a second time
// (counted at the fake provider).
func TestExperimentKillDuringPolling(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SIGKILL is tested on Linux only")
	}
	t.Parallel()
	chat := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"tm-owl": {Reply: func(string, int, *rand.Rand) string { return "123, 456, 789" }},
		"tm-dog": {Reply: func(string, int, *rand.Rand) string { return "12, 45, 78" }}}})
	// The jobs never end on their own: the child is polling when killed.
	ft := benchtest.NewFineTuneServer(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}, Steps: 1 << 30})
	dir := t.TempDir()
	path := writeKillExperiment(t, dir, "kill-ft", chat.BaseURL(), ft.BaseURL(), 20)
	db := filepath.Join(dir, "k.db")
	args := []string{"experiment", "finetune", path, "--db", db, "--progress", "none"}
	kill := startKillable(t, dir, args...)
	waitFor(t, "the 4 jobs recorded and polled", func() bool {
		return queryInt(db, `SELECT count(*) FROM jobs WHERE job_id IS NOT NULL`) == 4 && len(ft.RouteRequests("retrieve")) >= 4
	})
	time.Sleep(rand.N(20 * time.Millisecond))
	kill()
	if ft.Uploads() != 2 || ft.JobsCreated() != 4 {
		t.Fatalf("before the kill: %d uploads, %d jobs; want 2 and 4", ft.Uploads(), ft.JobsCreated())
	}
	// The provider finishes the jobs while nobody polls.
	for i := 1; i <= 4; i++ {
		ft.SetStatus(fmt.Sprintf("ftjob-fake%04d", i), "succeeded", "", "")
	}
	code, out, errOut := runCLI(t, context.Background(), args...)
	if code != exitOK {
		t.Fatalf("resume: exit %d\n%s\n%s", code, out, errOut)
	}
	if ft.Uploads() != 2 || ft.JobsCreated() != 4 {
		t.Errorf("after resuming: %d uploads, %d jobs; want still 2 and 4", ft.Uploads(), ft.JobsCreated())
	}
	store, err := results.OpenReadOnly(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	chains, err := store.Lineage(context.Background(), results.LineageFilter{Experiment: "kill-ft"})
	if err != nil || len(chains) != 4 {
		t.Fatalf("%d chains, %v; want 4", len(chains), err)
	}
	for _, c := range chains {
		if c.Student == nil || c.Job.Status != results.JobSucceeded {
			t.Errorf("%s@%s: job %s %s, student %v; want succeeded with a student", c.Ref(), c.Seed, c.Job.JobID, c.Job.Status, c.Student)
		}
	}
}
