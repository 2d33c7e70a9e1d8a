//go:build linux

package labtestcache

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

const labPkg = "github.com/traitleak/traitleak/lab"

// TestOpen: under go test, binaries for the same code share one
// directory, held while open; code of another closure gets another.
func TestOpen(t *testing.T) {
	if _, ok := goScope(os.Getppid()); !ok {
		t.Skip("not run by the go command: the cache is private (TestOpenPrivate)")
	}
	c1, err := Open(labPkg)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := Open(labPkg)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if !c1.Shared || !c2.Shared || c1.Dir != c2.Dir {
		t.Fatalf("two opens: %+v and %+v; want one shared directory (private because %q)", c1, c2, c1.Why)
	}
	if fi, err := os.Lstat(c1.Dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("shared directory %s: %v, %v; want a directory with mode 0700", c1.Dir, fi, err)
	}
	// The directory is held: it cannot be locked exclusively.
	f, err := os.Open(filepath.Join(c1.Dir, "users.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Errorf("exclusive lock of an open cache's users.lock: %v; want EWOULDBLOCK", err)
	}
	other, err := Open("github.com/traitleak/traitleak/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.Dir == c1.Dir {
		t.Errorf("the stats closure shares the lab's directory %s", c1.Dir)
	}
}

// TestOpenPrivate runs this test binary directly, not under the go
// command: its cache is private, and Close removes it.
func TestOpenPrivate(t *testing.T) {
	if os.Getenv("LABTESTCACHE_CHILD") == "1" {
		c, err := Open(labPkg)
		if err != nil {
			t.Fatal(err)
		}
		if c.Shared || c.Why != "not run by the go command" {
			t.Fatalf("cache %+v; want private, not run by the go command", c)
		}
		if _, err := os.Stat(c.Dir); err != nil {
			t.Fatal(err)
		}
		unlock, err := c.Lock()
		if err != nil {
			t.Fatal(err)
		}
		unlock()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("private cache %s after Close: %v; want removed", c.Dir, err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOpenPrivate$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LABTESTCACHE_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestOwnDir(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh")
	if err := ownDir(fresh); err != nil {
		t.Errorf("new directory: %v", err)
	}
	if err := ownDir(fresh); err != nil {
		t.Errorf("existing private directory: %v", err)
	}
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o755) // whatever the umask
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fresh, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{open, link, file} {
		// Others could write artifacts there; or it is not a directory.
		if err := ownDir(p); err == nil {
			t.Errorf("ownDir(%s) = nil; want an error", filepath.Base(p))
		}
	}
}

// TestPrune removes the directories of go commands that have exited,
// unless a binary holds them, and keeps the rest.
func TestPrune(t *testing.T) {
	base := t.TempDir()
	self := os.Getpid() // not a go command: a scope of it is gone
	mk := func(name string, lock bool) string {
		t.Helper()
		d := filepath.Join(base, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if lock {
			if err := os.WriteFile(filepath.Join(d, "users.lock"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	gone := mk(fmt.Sprintf("go%d-1-aaaa", self), true)    // exited, free
	noLock := mk(fmt.Sprintf("go%d-2-bbbb", self), false) // exited before making its lock file
	held := mk(fmt.Sprintf("go%d-3-cccc", self), false)   // exited, but a binary still runs
	ours := mk(fmt.Sprintf("go%d-4-dddd", self), true)    // the caller's own scope
	other := mk("traitleak-lab-test-123", false)          // not a shared directory
	f, err := holdDir(held)
	if err != nil {
		t.Fatal(err)
	}
	var live string
	if s, ok := goScope(os.Getppid()); ok {
		live = mk(s+"-eeee", true) // a go test run still going
	}
	prune(base, fmt.Sprintf("go%d-4", self))
	exists := func(d string) bool { _, err := os.Stat(d); return err == nil }
	for _, c := range []struct {
		dir  string
		want bool
	}{{gone, false}, {noLock, false}, {held, true}, {ours, true}, {other, true}, {live, true}} {
		if c.dir != "" && exists(c.dir) != c.want {
			t.Errorf("after prune, %s exists: %v; want %v", filepath.Base(c.dir), exists(c.dir), c.want)
		}
	}
	// Released, the held directory goes at the next prune.
	f.Close()
	prune(base, fmt.Sprintf("go%d-4", self))
	if exists(held) {
		t.Errorf("%s still there once released", filepath.Base(held))
	}
}

// TestLockExcludes: while one cache of a shared directory holds Lock, no
// other open file of build.lock can take it (a flock excludes other open
// files, in this process or another); once released, it can.
func TestLockExcludes(t *testing.T) {
	dir := t.TempDir()
	c := &Cache{Dir: dir, Shared: true}
	unlock, err := c.Lock()
	if err != nil {
		t.Fatal(err)
	}
	try := func() error {
		f, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err := try(); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Errorf("build.lock during Lock: %v; want EWOULDBLOCK", err)
	}
	unlock()
	if err := try(); err != nil {
		t.Errorf("build.lock after unlock: %v; want it free", err)
	}
}
