package main

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/traitleak/traitleak/internal/atomicfile"
)

// Every file a command writes (-o, --junit, a chart directory) is checked
// with checkOutput before the command samples, analyses or even opens the
// database, so a bad path costs nothing, and written with writeOutput.

// checkOutput checks a file the command will write, given by flag (for
// the message): that package atomicfile can write it (its directory
// exists and is writable; it is not a socket, block device or dangling
// symlink), that it is not a directory, and that it is none of the
// results databases dbs, nor their -wal, -shm or -journal files. Every
// refusal is a usage error (exit 2).
func checkOutput(flag, path string, dbs ...string) error {
	kind, err := atomicfile.Check(path)
	if err != nil {
		return usagef("%s %s: %v", flag, path, errors.Unwrap(err))
	}
	if kind == atomicfile.Dir {
		return usagef("%s %s is a directory; name a file", flag, path)
	}
	return checkNotDatabase(flag, path, dbs)
}

// checkOutputDir checks a directory the command will write files into
// (report --format md -o DIR): it exists or can be created, and is not a
// database file. The files are checked with checkOutput once their names
// are known.
func checkOutputDir(flag, dir string, dbs ...string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// MkdirAll creates it and its parents: the nearest existing
		// ancestor must be a directory.
		parent := filepath.Dir(filepath.Clean(dir))
		for {
			pi, err := os.Stat(parent)
			if err == nil {
				if !pi.IsDir() {
					return usagef("%s %s: %s is not a directory", flag, dir, parent)
				}
				return nil
			}
			if next := filepath.Dir(parent); next != parent {
				parent = next
				continue
			}
			return usagef("%s %s: %v", flag, dir, err)
		}
	case err != nil:
		return usagef("%s %s: %v", flag, dir, err)
	case !fi.IsDir():
		return usagef("%s %s is not a directory", flag, dir)
	}
	return checkNotDatabase(flag, dir, dbs)
}

// checkNotDatabase refuses path when it is one of the databases dbs or
// one of SQLite's files beside it.
func checkNotDatabase(flag, path string, dbs []string) error {
	for _, db := range dbs {
		if db == "" {
			continue
		}
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if sameFile(path, db+suffix) {
				return usagef("%s %s is the results database %s%s: refusing to overwrite it", flag, path, db, suffix)
			}
		}
	}
	return nil
}

// sameFile reports whether a and b name the same file: the same inode
// when both exist (os.SameFile sees through symlinks and hard links),
// otherwise the same absolute path once the symlinks of its directory are
// resolved (a -wal file that does not exist yet).
func sameFile(a, b string) bool {
	ai, aerr := os.Stat(a)
	bi, berr := os.Stat(b)
	if aerr == nil && berr == nil {
		return os.SameFile(ai, bi)
	}
	if aerr == nil || berr == nil {
		return false // one exists, the other does not
	}
	return canonical(a) == canonical(b)
}

// canonical returns path absolute, with the symlinks of its directory
// resolved where possible.
func canonical(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	dir, base := filepath.Split(abs)
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		return filepath.Join(d, base)
	}
	return abs
}

// writeOutput writes data to a file checked by checkOutput, atomically
// (see package atomicfile). A failure here is an I/O error (exit 3).
func writeOutput(path string, data []byte) error {
	return atomicfile.Write(path, data)
}

// emitOutput writes data to the file path (writeOutput) or, when path is
// "", to stdout: the last step of every command with a -o flag.
func emitOutput(stdout io.Writer, path string, data []byte) error {
	if path != "" {
		return writeOutput(path, data)
	}
	_, err := stdout.Write(data)
	return err
}

// encodeJSON writes v to w as indented JSON, the form of every command's
// --format json.
func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// streamOutput is writeOutput for output written as it is produced
// (export), so that its size is not held in memory.
func streamOutput(path string, write func(io.Writer) error) error {
	return atomicfile.WriteFunc(path, write)
}

// checkReportOutput checks report's -o before any work, and tells whether
// it names a directory to write Markdown and its charts into (--format md
// and a path that is a directory or ends in a slash); "" is standard
// output.
func checkReportOutput(output, format, db string) (dir bool, err error) {
	if output == "" {
		return false, nil
	}
	if format == "md" && (strings.HasSuffix(output, "/") || isDir(output)) {
		return true, checkOutputDir("-o", output, db)
	}
	if isDir(output) {
		return false, usagef("-o %s is a directory; only --format md writes a directory (report.md and its charts)", output)
	}
	return false, checkOutput("-o", output, db)
}

// outFile is one file of a directory written by writeOutputDir.
type outFile struct {
	name string // base name
	data []byte
}

// writeOutputDir creates dir when missing and writes files into it, each
// atomically, after checking every one of them (against dbs too), so that
// a refusal leaves nothing half-written.
func writeOutputDir(flag, dir string, files []outFile, dbs ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usagef("%s %s: %v", flag, dir, errors.Unwrap(err))
	}
	for _, f := range files {
		if err := checkOutput(flag, filepath.Join(dir, f.name), dbs...); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := writeOutput(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
