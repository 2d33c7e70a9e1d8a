//go:build !race

package lab

// raceEnabled reports whether the race detector is on; heavy training
// tests skip or shrink under it (it slows the numeric loops ~10×).
const raceEnabled = false
