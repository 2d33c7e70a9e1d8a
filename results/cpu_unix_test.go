//go:build unix

package results

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) this process has
// used so far, for benchmarks to report beside wall time: creating a
// database waits on fsync, which costs wall time but little CPU.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
