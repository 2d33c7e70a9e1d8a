//go:build unix

package main

import (
	"path/filepath"
	"syscall"
)

// writable reports whether this process may write the database file at
// path and create SQLite's -wal and -shm files beside it: write access to
// the file and its directory (a read-only mount, a file or directory
// without write permission, say no).
func writable(path string) bool {
	const wOK = 2 // W_OK of access(2)
	return syscall.Access(path, wOK) == nil && syscall.Access(filepath.Dir(path), wOK) == nil
}
