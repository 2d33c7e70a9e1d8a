// Package cputime reads the CPU time the process has used, for
// benchmarks and measurements to report beside wall time: on a shared
// machine wall time also counts waiting for a core, and a write that
// waits on fsync costs wall time but little CPU.
package cputime
