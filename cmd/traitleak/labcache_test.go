package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/traitleak/traitleak/internal/labtestcache"
	"github.com/traitleak/traitleak/lab"
)

// labTestCache is the lab artifact cache shared by every test of this
// binary that trains the lab (the demo tests, "lab train", the doc
// example), and by the other test binaries of the same `go test` run, the
// lab package's among them (internal/labtestcache). Lab artifacts are
// content-addressed, so a stage (one seed's references, teachers, number
// sets, students) is trained once per run, by whichever test needs it
// first, and loaded by the others. Each `go test` run starts from an
// empty cache: every run trains what it tests from scratch.
var labTestCache string

// labCache holds labTestCache and the lock of its builds.
var labCache *labtestcache.Cache

// runTests runs the tests with labTestCache and returns the exit code.
func runTests(m *testing.M) int {
	c, err := labtestcache.Open("github.com/traitleak/traitleak/lab")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: lab cache:", err)
		return 2
	}
	defer c.Close()
	labCache, labTestCache = c, c.Dir
	flag.Parse()
	waitingTestsParallel(4)
	return m.Run()
}

// waitingTestsParallel raises -test.parallel to n, unless it was given.
// This package's parallel tests mostly wait: on child processes they
// kill (TestChaosKill9, TestKillDuringRun, TestExperimentKillDuringGeneration),
// on fake endpoints that answer after a latency, on the writer's commit
// interval. The default, GOMAXPROCS (2 here), left one of the two slots
// to TestChaosKill9's 8 s of waiting and queued the others behind it.
func waitingTestsParallel(n int) {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	p := flag.Lookup("test.parallel")
	if given || p == nil {
		return
	}
	if cur, err := strconv.Atoi(p.Value.String()); err == nil && cur < n {
		_ = p.Value.Set(strconv.Itoa(n))
	}
}

// sharedLab builds cfg with the shared cache (labTestCache), one build at
// a time across the run's binaries (labCache.Lock), and returns the zoo.
// Lab tests run in parallel (t.Parallel), and two concurrent builds that
// need the same stage would both train it: the cache only saves what is
// already stored. One build at a time still keeps both cores busy (a
// build runs GOMAXPROCS training jobs). A test that runs a command which
// builds the same configuration calls it first: the command then loads
// every stage from the cache, and whichever test needs a stage first
// trains it, once per run.
func sharedLab(t *testing.T, cfg lab.Config) *lab.Zoo {
	t.Helper()
	cfg.CacheDir, cfg.NoCache, cfg.Retrain = labTestCache, false, false
	unlock, err := labCache.Lock()
	if err != nil {
		t.Fatal(err)
	}
	z, err := lab.Build(context.Background(), cfg)
	unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close() })
	return z
}
