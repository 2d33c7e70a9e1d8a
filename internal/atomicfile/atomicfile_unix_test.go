//go:build unix

package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestWriteFIFO: a FIFO is written through, and stays a FIFO.
func TestWriteFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// O_RDWR opens a FIFO without waiting for a writer (Linux, BSD).
	r, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if kind, err := Check(p); err != nil || kind != Through {
		t.Fatalf("Check = %v, %v; want written through", kind, err)
	}
	if err := Write(p, []byte("through")); err != nil {
		t.Fatal(err)
	}
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 7)
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "through" {
		t.Errorf("read %q, %v; want through", buf, err)
	}
	if fi, err := os.Lstat(p); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", fi.Mode(), err)
	}
}

// TestWriteDevNull: a character device is written through, never
// replaced (as root, the old rename replaced the system's /dev/null).
func TestWriteDevNull(t *testing.T) {
	before, err := os.Lstat("/dev/null")
	if err != nil || before.Mode()&fs.ModeCharDevice == 0 {
		t.Skip("no /dev/null character device")
	}
	if kind, err := Check("/dev/null"); err != nil || kind != Through {
		t.Fatalf("Check = %v, %v; want written through", kind, err)
	}
	if err := Write("/dev/null", []byte("x")); err != nil {
		t.Fatal(err)
	}
	after, err := os.Lstat("/dev/null")
	if err != nil || !os.SameFile(before, after) || after.Mode()&fs.ModeCharDevice == 0 {
		t.Errorf("/dev/null changed: %v %v", after, err)
	}
}

// TestWriteOwnDescriptor: /dev/fd/N and /proc/self/fd/N are written
// through the descriptor: a pipe receives the data, and a regular file
// open for appending keeps its inode and what was in it (as >> would).
func TestWriteOwnDescriptor(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	p := "/dev/fd/" + strconv.Itoa(int(pw.Fd()))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no %s: %v", p, err)
	}
	if err := Write(p, []byte("piped")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if b, err := io.ReadAll(pr); err != nil || string(b) != "piped" {
		t.Errorf("pipe read %q, %v", b, err)
	}

	file := filepath.Join(t.TempDir(), "log.txt")
	if err := os.WriteFile(file, []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before, _ := os.Stat(file)
	if err := Write("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), []byte("report\n")); err != nil {
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			t.Skip("no /proc")
		}
		t.Fatal(err)
	}
	after, _ := os.Stat(file)
	if got := readFile(t, file); got != "earlier\nreport\n" || !os.SameFile(before, after) {
		t.Errorf("file %q (same inode %v); want the report appended in place", got, os.SameFile(before, after))
	}
}

// TestRefuseSocket: a socket is neither a file nor a stream to write.
func TestRefuseSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "sock") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Skipf("unix socket: %v", err)
	}
	defer ln.Close()
	if _, err := Check(p); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Check = %v; want ErrNotRegular", err)
	}
	if err := Write(p, []byte("x")); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Write = %v; want ErrNotRegular", err)
	}
	if fi, err := os.Lstat(p); err != nil || fi.Mode()&fs.ModeSocket == 0 {
		t.Errorf("the socket was replaced")
	}
}

// TestCheckUnwritableDir: a directory the process cannot write to is
// found by Check, before any work. Root writes anyway, so it skips.
func TestCheckUnwritableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write to a 0555 directory")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	if _, err := Check(filepath.Join(dir, "out.md")); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Check = %v; want permission denied", err)
	}
}
