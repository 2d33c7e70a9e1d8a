//go:build !unix

package main

import "os"

// writable reports whether this process may write the database file at
// path: whether it opens for writing (which changes nothing).
func writable(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
