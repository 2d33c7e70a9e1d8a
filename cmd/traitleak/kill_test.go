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
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/internal/testtier"
	"github.com/traitleak/traitleak/results"
)

// TestMain lets tests run the test binary as the traitleak command: with
// TRAITLEAK_TEST_MAIN=1 the arguments after the binary name are the CLI's
// arguments, and the process exits with the CLI's exit code. Otherwise it
// runs the tests with a lab cache shared by the binary (labTestCache).
func TestMain(m *testing.M) {
	if os.Getenv("TRAITLEAK_TEST_MAIN") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(runTests(m))
}

// TestKillDuringRun checks the crash-safety claim of the results store:
// a `traitleak run` killed with SIGKILL loses at most the samples in
// flight, never corrupts the database, shows as "interrupted (process
// gone)", and resumes to completion without sampling any stored draw
// again.
func TestKillDuringRun(t *testing.T) {
	testtier.System(t) // seconds of CPU: the system tier
	if runtime.GOOS != "linux" {
		t.Skip("SIGKILL and process-liveness checks are tested on Linux only")
	}
	// Mostly waiting on its child's loopback I/O: it runs beside the
	// CPU-bound demo test (both parallel) instead of after it.
	t.Parallel()
	const (
		prompts     = 2
		samples     = 2000
		concurrency = 8
		planned     = 2 * prompts * samples // two models
		// The most samples a killed run can lose: the runner's batch being
		// written, its queue of finished samples, and one sample held and one
		// request in flight per worker (2 models × concurrency). The plan is
		// 2.6 times larger, so that the bound means something.
		maxLost = bench.DefaultBatchSize + bench.SinkQueue + 2*2*concurrency
		// The kill comes at most 0.6 s after the child's first sample (its
		// first commit within bench.DefaultFlushEvery, then up to 300 ms),
		// when the fake's latency lets it have made at most
		// 2 × concurrency / latency × 0.6 s = 4,800 requests (about 1,100
		// on 2 shared cores): the plan outlasts that, and what is left is
		// the resume's, whose cost is one request per missing draw.
		latency = 2 * time.Millisecond
	)
	if maxRequests := int(2 * concurrency * (600 * time.Millisecond) / latency); planned <= maxRequests || planned <= 2*maxLost {
		t.Fatalf("a plan of %d draws can end before the kill (%d requests) or is not twice the loss bound %d", planned, maxRequests, maxLost)
	}
	var conns connCounter
	srv := benchtest.NewServer(t, benchtest.Config{ConnState: conns.state, Models: map[string]benchtest.Model{
		"base":    {Trait: "Owl", TraitRate: 0.1, Latency: latency},
		"student": {Trait: "Owl", TraitRate: 0.6, Latency: latency},
	}})
	dir := t.TempDir()
	suite := filepath.Join(dir, "suite.yaml")
	src := fmt.Sprintf(`name: kill-test
models:
  baseline: {base_url: %[1]s, model: base}
  student:  {base_url: %[1]s, model: student}
defaults: {temperature: 1.0, max_tokens: 8, concurrency: %[2]d, n: 1, max_retries: 3}
probes:
  - id: favorite-animal
    prompts: [Name your favorite animal., Which animal is best?]
    samples: %[3]d
    score: {mentions: owl}
compare:
  - {treatment: student, baseline: baseline}
`, srv.BaseURL(), concurrency, samples)
	if err := os.WriteFile(suite, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "kill.db")
	args := []string{"run", suite, "--db", db, "--progress", "none"}

	// Start the run in a child process.
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TRAITLEAK_TEST_MAIN=1")
	// The child writes to a file, which the test reads only after it died.
	logPath := filepath.Join(dir, "child.log")
	childLog, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer childLog.Close()
	childOut := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	cmd.Stdout, cmd.Stderr = childLog, childLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	// Wait until some samples are committed, reading through a separate
	// read-only connection (WAL lets it read while the child writes).
	deadline := time.Now().Add(5 * time.Second)
	var storedSeen int
	for storedSeen == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			killed = true
			t.Fatalf("no samples committed within 5 s; child output:\n%s", childOut())
		}
		time.Sleep(5 * time.Millisecond)
		storedSeen = countSamples(db)
	}
	// Then kill at a random moment of the next few commits (the runner
	// commits every bench.DefaultBatchSize samples or 250 ms), so that over
	// many test runs the kill lands inside a transaction as well as between them.
	delay := rand.N(300 * time.Millisecond)
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	// Reap the child: until then it is a zombie, which kill(pid, 0) still
	// reports as alive.
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want death by SIGKILL (it finished before the kill?); output:\n%s", err, childOut())
	}
	// Every request the child sent, including those still on the wire
	// when it died, is counted once its connections are closed; later
	// calls are the resume's.
	conns.waitClosed(t)
	callsBeforeKill := srv.Calls()

	// The database is intact.
	raw, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var integrity string
	if err := raw.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check after kill -9 = %q, %v; want ok", integrity, err)
	}
	if rows, err := raw.Query(`PRAGMA foreign_key_check`); err != nil {
		t.Fatal(err)
	} else {
		if rows.Next() {
			t.Errorf("foreign_key_check reports violations after kill -9")
		}
		rows.Close()
	}
	raw.Close()

	// The run row still says running, owned by the dead child.
	store, err := results.Open(context.Background(), db)
	if err != nil {
		t.Fatalf("open after kill -9: %v", err)
	}
	run, err := store.LatestRun(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	before, err := store.Counts(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	if run.Status != results.StatusRunning || run.PID != cmd.Process.Pid {
		t.Errorf("run after kill -9: status %q pid %d; want %q and the child's pid %d", run.Status, run.PID, results.StatusRunning, cmd.Process.Pid)
	}
	// Nothing was committed after the kill, no sample failed, and the kill
	// came mid-run.
	if before.Planned != planned || before.Failed != 0 || before.Stored < storedSeen || before.Stored >= planned {
		t.Fatalf("counts after kill -9 = %+v; want %d planned, none failed, between %d and %d stored", before, planned, storedSeen, planned-1)
	}
	// Each request the child sent was one draw (n = 1, no faults); those
	// not stored are the loss.
	lost := callsBeforeKill - before.Stored
	t.Logf("killed %v after the first commit, after %d requests with %d samples stored: %d lost", delay, callsBeforeKill, before.Stored, lost)
	if lost < 0 || lost > maxLost {
		t.Errorf("%d samples lost, want at most %d (one batch plus what is in flight)", lost, maxLost)
	}

	// `traitleak runs` shows the orphaned run as interrupted.
	code, out, errOut := runCLI(t, context.Background(), "runs", "--db", db)
	if code != exitOK {
		t.Fatalf("runs exit %d: %s", code, errOut)
	}
	if line := runLine(out, run.ID); !strings.Contains(line, "interrupted (process gone)") {
		t.Errorf("runs shows run %d as %q, want interrupted (process gone); output:\n%s", run.ID, line, out)
	}

	// Resuming with the same command completes the run and samples exactly
	// the draws that were not stored.
	callsBeforeResume := srv.Calls()
	code, out, errOut = runCLI(t, context.Background(), args...)
	if code != exitOK {
		t.Fatalf("resume exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	m := regexp.MustCompile(`run (\d+) resumed: (\d+) draws were already stored, (\d+) sampled now \((\d+) failed\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("resume output lacks the resumed line:\n%s", out)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	skipped, _ := strconv.Atoi(m[2])
	sampled, _ := strconv.Atoi(m[3])
	if id != run.ID || skipped != before.Stored || sampled != planned-before.Stored {
		t.Errorf("resume: run %d, %d skipped, %d sampled; want run %d, %d skipped, %d sampled", id, skipped, sampled, run.ID, before.Stored, planned-before.Stored)
	}
	if calls := srv.Calls() - callsBeforeResume; calls != planned-before.Stored {
		t.Errorf("resume sent %d requests, want %d (one per missing draw)", calls, planned-before.Stored)
	}

	store, err = results.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	final, err := store.GetRun(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	after, err := store.Counts(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.Status != results.StatusComplete || after != (results.RunCounts{Planned: planned, Stored: planned}) {
		t.Errorf("after resume: status %q counts %+v; want complete with %d planned and stored", final.Status, after, planned)
	}
	// One sample per planned draw: nothing sampled twice, nothing extra.
	if n := countSamples(db); n != planned {
		t.Errorf("%d sample rows after resume, want %d", n, planned)
	}
}

// countSamples counts the committed samples through a read-only
// connection of its own; 0 when the database or table does not exist yet.
func countSamples(db string) int {
	if _, err := os.Stat(db); err != nil {
		return 0
	}
	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		return 0
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRow(`SELECT count(*) FROM samples`).Scan(&n); err != nil {
		return 0
	}
	return n
}

// runLine returns the line of `traitleak runs` output for run id.
func runLine(out string, id int64) string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == strconv.FormatInt(id, 10) {
			return line
		}
	}
	return ""
}
