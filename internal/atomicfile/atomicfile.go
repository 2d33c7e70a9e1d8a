// Package atomicfile writes whole files so that a reader sees the old
// content or the new, never a mix, and so that writing a path can never
// replace something that is not a regular file. traitleak writes every
// file it produces through it: reports, exports, JUnit files, chart
// directories, the lab's artifact cache.
//
// What Write does depends on what the path names (Check tells without
// writing):
//
//   - nothing: a new regular file is created;
//   - a regular file, or a symlink to one: the file the link chain ends at
//     is replaced with a rename, keeping its permission bits; a symlink
//     stays a symlink (another hard link to the file keeps the old
//     content, as with any atomic replacement);
//   - a character device or FIFO (/dev/null, a terminal, a pipe), or an
//     open file of this process (/dev/stdout, /dev/fd/N, /proc/self/fd/N):
//     the data is written through it, appended, as a shell's >> would;
//   - anything else (a directory, a socket, a block device, a dangling
//     symlink): refused.
//
// A replacement goes through a temporary file that os.CreateTemp makes
// beside the target with O_EXCL and an unpredictable name ".tmp-BASE-*",
// so a symlink planted under a guessable name is never followed; the data
// is synced before the rename, so a crash leaves the old file or the new
// one, not an empty one.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Kind is what a path names, as far as writing it goes.
type Kind int

// Kinds of write target.
const (
	// Missing: nothing is there yet; Write creates a regular file.
	Missing Kind = iota
	// Regular: a regular file, or a symlink to one; Write replaces the
	// file atomically.
	Regular
	// Through: a character device, a FIFO or an open file of this
	// process; Write writes through it.
	Through
	// Dir: a directory; Write refuses it, a caller that writes several
	// files into it decides.
	Dir
)

func (k Kind) String() string {
	switch k {
	case Missing:
		return "missing"
	case Regular:
		return "regular file"
	case Through:
		return "written through"
	case Dir:
		return "directory"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Errors of Check and Write, wrapped in an *fs.PathError naming the path.
var (
	// ErrIsDir: the path is a directory.
	ErrIsDir = errors.New("is a directory")
	// ErrNotRegular: the path is neither a regular file, a character
	// device nor a FIFO (a socket, a block device, a dangling symlink).
	ErrNotRegular = errors.New("not a regular file, character device or FIFO")
	// ErrNoDir: the directory that would hold the file does not exist or
	// is not a directory.
	ErrNoDir = errors.New("no such directory")
)

// Check reports what path names and whether Write could write it, without
// changing anything a reader can see: for a missing or regular target it
// creates and removes a temporary file in the directory that would hold
// it, so that a directory without write permission is found before any
// work is done. A directory is returned as Dir with a nil error; the
// caller decides. Every refusal is an *fs.PathError with Op "write".
func Check(path string) (Kind, error) {
	kind, target, err := classify(path)
	if err != nil || kind == Dir || kind == Through {
		return kind, err
	}
	f, err := os.CreateTemp(filepath.Dir(target), tempPattern(target))
	if err != nil {
		return kind, &fs.PathError{Op: "write", Path: path, Err: unwrapPath(err)}
	}
	f.Close()
	os.Remove(f.Name())
	return kind, nil
}

// Write writes data as the whole content of path; see the package doc for
// what it does with each kind of target. A new file gets permission bits
// 0644 less the process umask, as os.WriteFile(path, data, 0o644) would.
// On error the target is unchanged (except a device or FIFO, which may
// have received part of the data) and no temporary file is left.
func Write(path string, data []byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		if _, err := w.Write(data); err != nil {
			return &fs.PathError{Op: "write", Path: path, Err: unwrapPath(err)}
		}
		return nil
	})
}

// classify returns what path names and, for Missing and Regular, the path
// of the file to create or replace (the end of a symlink chain).
func classify(path string) (Kind, string, error) {
	fail := func(err error) (Kind, string, error) {
		return 0, "", &fs.PathError{Op: "write", Path: path, Err: err}
	}
	if path == "" {
		return fail(errors.New("empty path"))
	}
	if isOwnFD(path) {
		return Through, path, nil
	}
	fi, err := os.Stat(path) // follows symlinks
	if err != nil {
		if li, lerr := os.Lstat(path); lerr == nil && li.Mode()&fs.ModeSymlink != 0 {
			return fail(fmt.Errorf("%w (a symlink to a missing file)", ErrNotRegular))
		}
		dir := filepath.Dir(path)
		if di, derr := os.Stat(dir); derr != nil || !di.IsDir() {
			return fail(fmt.Errorf("%w %s", ErrNoDir, dir))
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fail(unwrapPath(err))
		}
		return Missing, path, nil
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return fail(unwrapPath(err))
		}
		return Regular, target, nil
	case m.IsDir():
		return Dir, path, nil
	case m&fs.ModeCharDevice != 0, m&fs.ModeNamedPipe != 0:
		return Through, path, nil
	}
	return fail(ErrNotRegular)
}

// isOwnFD reports whether path names a file descriptor of this process:
// /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N. Replacing the
// file such a path resolves to would cut it loose from the descriptor
// (and lose what `>>` had appended to it), so it is written through.
func isOwnFD(path string) bool {
	p := filepath.Clean(path)
	if p == "/dev/stdout" || p == "/dev/stderr" {
		return true
	}
	dir, base := filepath.Split(p)
	if dir != "/dev/fd/" && dir != "/proc/self/fd/" {
		return false
	}
	_, err := strconv.Atoi(base)
	return err == nil
}

// tempPattern is the os.CreateTemp pattern of target's temporary files.
func tempPattern(target string) string { return ".tmp-" + filepath.Base(target) + "-*" }

// unwrapPath drops the *fs.PathError of an inner call, whose path is
// usually the temporary file's: the caller wraps with the path it was
// given.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// umask returns the process's file mode creation mask, read once from
// /proc/self/status (Linux 4.7 and later); elsewhere it assumes the usual
// 022. (syscall.Umask would have to set the mask to read it, racing any
// goroutine creating a file meanwhile.)
var umask = sync.OnceValue(func() fs.FileMode {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0o022
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return fs.FileMode(m) & fs.ModePerm
			}
		}
	}
	return 0o022
})
