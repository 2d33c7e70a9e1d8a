package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// version is set with -ldflags "-X main.version=v1.2.3"; otherwise it is
// read from the module build info.
var version = ""

func traitleakVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

const defaultDB = "traitleak.db"

// allowFilesUsage documents --allow-files, the flag of every command
// that loads a suite file.
const allowFilesUsage = "let the suite read files (prompts: {file: ...}) in `dir`, besides its own directory (repeatable)"

// openSuite loads a suite, which may read files from its own directory
// and from the --allow-files directories allow; errors are usage errors
// (exit 2).
func openSuite(nameOrPath string, sets, allow []string) (*suites.Suite, error) {
	s, err := suites.Loader{AllowFiles: allow}.Open(nameOrPath, sets)
	if err != nil {
		return nil, &usageError{err}
	}
	return s, nil
}

// openDB opens the results database at path: with create, for writing,
// creating it when missing (run, demo); without, an existing database
// read-only (see results.OpenReadOnly), so that the commands that only
// read work on a read-only file or mount and can never change it. A
// missing, empty or unusable path is a usage error.
func openDB(ctx context.Context, path string, create bool) (*results.Store, error) {
	if err := checkDBPath(path, create); err != nil {
		return nil, err
	}
	if create {
		return results.Open(ctx, path)
	}
	return results.OpenReadOnly(ctx, path)
}

// checkDBPath checks a --db value before any work: not empty, not a
// directory, and, unless create, an existing file; with create, in an
// existing directory.
func checkDBPath(path string, create bool) error {
	if path == "" {
		return usagef("--db: empty path; name the results database file")
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return usagef("--db %s is a directory; name the results database file", path)
	case errors.Is(err, fs.ErrNotExist) && !create:
		return usagef("no results database %s (give --db, or run a suite first)", path)
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(path)
		if di, err := os.Stat(dir); err != nil || !di.IsDir() {
			return usagef("--db %s: no such directory %s", path, dir)
		}
	case err != nil:
		return usagef("--db %s: %v", path, err)
	}
	return nil
}

// resolveRun reads a --run value: a run id or "latest".
func resolveRun(ctx context.Context, store *results.Store, arg string) (*results.Run, error) {
	if arg == "" || arg == "latest" {
		r, err := store.LatestRun(ctx)
		if errors.Is(err, results.ErrNotFound) {
			return nil, usagef("the database %s holds no runs", store.Path())
		}
		return r, err
	}
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return nil, usagef("--run %q: want a run id (a positive integer) or latest", arg)
	}
	r, err := store.GetRun(ctx, id)
	if errors.Is(err, results.ErrNotFound) {
		return nil, usagef("no run %d in %s", id, store.Path())
	}
	return r, err
}

// openRun opens the existing results database db read-only and resolves
// runArg (a run id or "latest") in it. The caller closes the store; on
// error it is closed already.
func openRun(ctx context.Context, db, runArg string) (*results.Store, *results.Run, error) {
	return openRunFor(ctx, db, runArg, results.OpenReadOnly)
}

// openRunWritable is openRun for a command that adds to the database
// (rescore).
func openRunWritable(ctx context.Context, db, runArg string) (*results.Store, *results.Run, error) {
	return openRunFor(ctx, db, runArg, results.Open)
}

func openRunFor(ctx context.Context, db, runArg string, open func(context.Context, string) (*results.Store, error)) (*results.Store, *results.Run, error) {
	if err := checkDBPath(db, false); err != nil {
		return nil, nil, err
	}
	store, err := open(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	run, err := resolveRun(ctx, store, runArg)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, run, nil
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d; see %s --help", cmd.CommandPath(), n, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// noArgs is cobra.NoArgs with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}
