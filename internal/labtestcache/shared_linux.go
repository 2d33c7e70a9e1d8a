//go:build linux

package labtestcache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// openShared opens this `go test` run's shared directory, or returns nil
// and the reason the binary must use a private one.
func openShared(root string) (*Cache, string, error) {
	scope, ok := goScope(os.Getppid())
	if !ok {
		return nil, "not run by the go command", nil
	}
	// Without the source or the binary's time, what the binary holds is
	// unknown: a private cache.
	modRoot, err := findModRoot()
	if err != nil {
		return nil, err.Error(), nil
	}
	fp, latest, err := Fingerprint(modRoot, root)
	if err != nil {
		return nil, err.Error(), nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err.Error(), nil
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return nil, err.Error(), nil
	}
	if latest.After(fi.ModTime()) {
		return nil, "a source file is newer than the test binary", nil
	}
	base := filepath.Join(os.TempDir(), fmt.Sprintf("traitleak-lab-test-cache-%d", os.Getuid()))
	if err := ownDir(base); err != nil {
		return nil, err.Error(), nil
	}
	prune(base, scope)
	dir := filepath.Join(base, scope+"-"+fp[:24])
	users, err := holdDir(dir)
	if err != nil {
		return nil, "", fmt.Errorf("lab test cache: %w", err)
	}
	return &Cache{Dir: dir, Shared: true, users: users}, "", nil
}

// goScope names the go command with process id pid, "go<pid>-<start>"
// (its start time in clock ticks since boot, so that a reused pid names
// another scope); false when pid is not a go command.
func goScope(pid int) (string, bool) {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return "", false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, starttime field 22.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return "", false
	}
	return fmt.Sprintf("go%d-%s", pid, f[19]), true
}

// scopeOf returns the scope part of a shared directory's name and
// whether the name is one.
func scopeOf(name string) (scope string, pid int, ok bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 || !strings.HasPrefix(name, "go") {
		return "", 0, false
	}
	scope = name[:i]
	p, _, found := strings.Cut(scope[2:], "-")
	pid, err := strconv.Atoi(p)
	if !found || err != nil {
		return "", 0, false
	}
	return scope, pid, true
}

// ownDir makes base, the parent of the shared directories, or checks that
// it is a directory of this user that no one else can write or read: the
// artifacts in it are loaded by later builds.
func ownDir(base string) error {
	if err := os.Mkdir(base, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("shared cache %s: %w", base, err)
	}
	fi, err := os.Lstat(base)
	if err != nil {
		return fmt.Errorf("shared cache %s: %w", base, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("shared cache %s: not a private directory of this user (%s)", base, fi.Mode())
	}
	return nil
}

// prune removes the shared directories of go commands that have exited
// and that no binary holds. Errors are ignored: a directory left is
// removed by a later run.
func prune(base, scope string) {
	ents, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range ents {
		s, pid, ok := scopeOf(e.Name())
		if !ok || !e.IsDir() || s == scope {
			continue
		}
		if live, ok := goScope(pid); ok && live == s {
			continue // its go test run is still going
		}
		dir := filepath.Join(base, e.Name())
		f, err := os.OpenFile(filepath.Join(dir, "users.lock"), os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			// Made by a binary whose go command is gone, before its lock
			// file: holdDir makes both again if that binary still runs.
			os.RemoveAll(dir)
			continue
		}
		if err != nil {
			continue
		}
		if flock(f, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(dir)
		}
		f.Close()
	}
}

// holdDir makes dir and returns its users.lock, held with a shared flock
// (prune removes only directories whose lock it can take exclusively). A
// lock file that prune removed between the open and the lock is made
// again.
func holdDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "users.lock")
	for range 10 {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := flock(f, syscall.LOCK_SH); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("lock %s: removed under us 10 times", path)
}

// lockFile opens (creating) path and flocks it, exclusively or shared,
// waiting for the lock.
func lockFile(path string, exclusive bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := flock(f, how); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// flock applies how to f, retrying when a signal interrupts the wait.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
