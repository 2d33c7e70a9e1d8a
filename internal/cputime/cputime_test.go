package cputime

import (
	"runtime"
	"testing"
	"time"
)

func TestProcessGrowsWithWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("not measured here")
	}
	before := Process()
	if before <= 0 {
		t.Fatalf("Process() = %v at start; want the CPU the test binary has used so far (> 0)", before)
	}
	// Spin until the clock says 20 ms passed: at least some of it is CPU.
	x, deadline := 0, time.Now().Add(20*time.Millisecond)
	for time.Now().Before(deadline) {
		x++
	}
	if after := Process(); after <= before {
		t.Errorf("Process() = %v after %d iterations of a busy loop; want more than %v", after, x, before)
	}
}
