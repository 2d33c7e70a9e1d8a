//go:build !linux

package labtestcache

import "os"

// openShared shares nothing off Linux: the scope of a `go test` run is
// read from /proc.
func openShared(string) (*Cache, string, error) {
	return nil, "shared only on Linux", nil
}

// lockFile is not called off Linux: a private Cache takes no file lock.
func lockFile(string, bool) (*os.File, error) {
	panic("labtestcache: lockFile off Linux")
}
