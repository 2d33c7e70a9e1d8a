package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/traitleak/traitleak/lab"
)

// labTestCache is the lab artifact cache shared by every test of this
// binary that trains the lab (the demo tests, "lab train", the doc
// example). Lab artifacts are content-addressed, so a stage (one seed's
// references, teachers, number sets, students) is trained once per binary,
// by whichever test needs it first, and loaded by the others. runTests
// creates it empty and removes it at exit: every `go test` run trains from
// scratch.
var labTestCache string

// runTests runs the tests with a fresh labTestCache and returns the exit
// code.
func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "traitleak-cmd-test-lab-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: lab cache:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	labTestCache = dir
	return m.Run()
}

// labMu serialises the builds of sharedLab. Lab tests run in parallel
// (t.Parallel), and two concurrent builds that need the same stage would
// both train it: the cache only saves what is already stored. One build
// at a time still keeps both cores busy (a build runs GOMAXPROCS training
// jobs).
var labMu sync.Mutex

// sharedLab builds cfg with the binary's shared cache (labTestCache), one
// build at a time (labMu), and returns the zoo. A test that runs a
// command which builds the same configuration calls it first: the command
// then loads every stage from the cache, and whichever test needs a stage
// first trains it, once per binary.
func sharedLab(t *testing.T, cfg lab.Config) *lab.Zoo {
	t.Helper()
	cfg.CacheDir, cfg.NoCache, cfg.Retrain = labTestCache, false, false
	labMu.Lock()
	z, err := lab.Build(context.Background(), cfg)
	labMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close() })
	return z
}
