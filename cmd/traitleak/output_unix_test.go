//go:build unix

package main

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestOutputFIFO: report -o FIFO writes through the FIFO, which stays a
// FIFO (before, it was replaced by a regular file, as a character device
// was: as root, -o /dev/null replaced the system's /dev/null).
func TestOutputFIFO(t *testing.T) {
	dir := t.TempDir()
	db := gatedRunDB(t, dir)
	_, md, _ := runCLI(t, context.Background(), "report", "--db", db)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	r, err := os.OpenFile(fifo, os.O_RDWR, 0) // does not wait for a writer
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if code, _, errOut := runCLI(t, context.Background(), "report", "--db", db, "-o", fifo); code != 0 {
		t.Fatalf("report -o FIFO: exit %d %s", code, errOut)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v, %v", fi, err)
	}
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(md))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != md {
		t.Errorf("read %d bytes from the FIFO (%v); want the report", len(got), err)
	}
}
