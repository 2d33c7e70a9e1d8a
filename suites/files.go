package suites

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Loader loads suites. The zero Loader is ready to use and lets a suite
// read files (prompts: {file: NAME}) only from its own directory.
type Loader struct {
	// AllowFiles lists more directories whose files (and their
	// subdirectories' files) a suite may read, as given to --allow-files.
	// Symbolic links are resolved before the check.
	AllowFiles []string
}

// Open loads a suite from a file path or, when no such file exists and
// the argument names a built-in suite, from the built-in suite. Overrides
// are "KEY=VALUE" strings as given to --set. A suite file is at most
// MaxSuiteBytes long.
func (l Loader) Open(nameOrPath string, overrides []string) (*Suite, error) {
	f, err := os.Open(nameOrPath)
	if errors.Is(err, fs.ErrNotExist) && !strings.ContainsAny(nameOrPath, `/\`) && !strings.HasSuffix(nameOrPath, ".yaml") {
		src, berr := BuiltinSource(nameOrPath)
		if berr != nil {
			return nil, fmt.Errorf("no suite file %q and %w", nameOrPath, berr)
		}
		return l.Parse("builtin:"+nameOrPath, src, "", overrides)
	}
	if err != nil {
		return nil, fmt.Errorf("open suite: %w", err)
	}
	defer f.Close()
	// One byte past the limit is enough for Parse to refuse the file.
	src, err := readSource(f)
	if err != nil {
		return nil, fmt.Errorf("open suite: %w", err)
	}
	return l.Parse(nameOrPath, src, filepath.Dir(nameOrPath), overrides)
}

// Parse decodes and validates a suite. file names the source in errors;
// dir is the directory of the suite file, where prompt files are read
// ("" for the working directory). Errors about the file are *SuiteError
// values carrying file:line:col.
func (l Loader) Parse(file string, src []byte, dir string, overrides []string) (*Suite, error) {
	return parse(file, src, dir, overrides, l.AllowFiles)
}

// MaxPromptFileBytes is the largest prompt file a suite may read: 64 MiB,
// about half a million prompts.
const MaxPromptFileBytes = 64 << 20

// readSuiteFile reads a file a suite names. name is relative to dir (the
// suite file's directory, "" for the working directory) unless it is
// absolute. Symbolic links resolved, the file must be in dir or in one of
// allow, be a regular file (not a device, FIFO or directory) of at most
// limit bytes, and hold UTF-8 text; a UTF-8 byte order mark is dropped.
// Errors name the file and, when it is outside, how to allow it.
func readSuiteFile(name, dir string, allow []string, limit int64) ([]byte, error) {
	if dir == "" {
		dir = "."
	}
	home, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(home, path)
	}
	path = filepath.Clean(path)
	// Errors show the name as the user would write it from the working
	// directory.
	shown := name
	if !filepath.IsAbs(name) {
		shown = filepath.Join(dir, name)
	}
	roots := []string{home}
	for _, a := range allow {
		abs, err := filepath.Abs(a)
		if err != nil {
			return nil, err
		}
		roots = append(roots, abs)
	}
	outside := func(resolved string) error {
		how := fmt.Sprintf("to read it, allow its directory with --allow-files %s", filepath.Dir(resolved))
		if resolved != path {
			return fmt.Errorf("%s resolves to %s, outside the suite's directory %s; %s", name, resolved, home, how)
		}
		return fmt.Errorf("%s is outside the suite's directory %s; %s", name, home, how)
	}
	// A path outside every root is refused before it is looked at, so
	// that a suite cannot even learn whether it exists.
	if !within(path, roots) {
		return nil, outside(path)
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &fs.PathError{Op: "open", Path: shown, Err: err}
	}
	for _, r := range roots {
		realRoot, err := filepath.EvalSymlinks(r)
		if err != nil || !within(target, []string{realRoot}) {
			continue
		}
		rel, err := filepath.Rel(realRoot, target)
		if err != nil {
			return nil, err
		}
		return readInRoot(realRoot, rel, shown, limit)
	}
	return nil, outside(target)
}

// within reports whether path is one of roots or below one. All are
// absolute and clean.
func within(path string, roots []string) bool {
	for _, r := range roots {
		if rel, err := filepath.Rel(r, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// readInRoot reads the regular file rel of the directory root through an
// os.Root, so that a symbolic link swapped in after the checks cannot
// lead outside root. shown names the file in errors.
func readInRoot(root, rel, shown string, limit int64) ([]byte, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	notRegular := func(fi fs.FileInfo) error {
		what := "a directory"
		switch {
		case fi.Mode()&fs.ModeNamedPipe != 0:
			what = "a FIFO"
		case fi.Mode()&fs.ModeDevice != 0:
			what = "a device"
		case fi.Mode()&fs.ModeSocket != 0:
			what = "a socket"
		case !fi.IsDir():
			what = "not a regular file"
		}
		return fmt.Errorf("%s is %s; want a regular text file", shown, what)
	}
	fi, err := r.Stat(rel)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", shown, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(fi)
	}
	// O_NONBLOCK: were the file replaced by a FIFO since Stat, opening it
	// would otherwise wait for a writer.
	f, err := r.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", shown, unwrapPath(err))
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("read %s: %w", shown, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(fi)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", shown, unwrapPath(err))
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d MiB (%d bytes), the limit for a file a suite reads", shown, limit>>20, limit)
	}
	b, err = checkText(shown, b)
	if err != nil {
		var se *SuiteError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s: %s", se.Pos, se.Msg)
		}
		return nil, err
	}
	return b, nil
}

// unwrapPath returns the error inside a *fs.PathError, whose path would
// repeat the root-relative name.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
