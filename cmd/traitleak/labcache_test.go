package main

import (
	"fmt"
	"os"
	"testing"
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
