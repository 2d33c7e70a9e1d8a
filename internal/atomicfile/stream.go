package atomicfile

import (
	"bufio"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFunc is Write for content produced by write as it goes, so that
// output of any size is written without being held in memory: write gets
// a buffered writer on the temporary file beside path (or on path itself,
// for the files Write writes through), and the file replaces path only
// when write returns nil. When write or the writing fails, path is left
// as it was (a file written through keeps what was written) and the
// temporary file is removed; the error is write's, unwrapped, or a
// *fs.PathError naming path.
func WriteFunc(path string, write func(w io.Writer) error) error {
	kind, target, err := classify(path)
	if err != nil {
		return err
	}
	switch kind {
	case Dir:
		return &fs.PathError{Op: "write", Path: path, Err: ErrIsDir}
	case Through:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return &fs.PathError{Op: "write", Path: path, Err: unwrapPath(err)}
		}
		bw := bufio.NewWriter(f)
		werr := write(bw)
		if werr == nil {
			if err := bw.Flush(); err != nil {
				werr = &fs.PathError{Op: "write", Path: path, Err: unwrapPath(err)}
			}
		}
		if err := f.Close(); err != nil && werr == nil {
			werr = &fs.PathError{Op: "write", Path: path, Err: unwrapPath(err)}
		}
		return werr
	}
	perm := fs.FileMode(0o644) &^ umask()
	if kind == Regular {
		fi, err := os.Stat(target)
		if err != nil {
			return &fs.PathError{Op: "write", Path: path, Err: unwrapPath(err)}
		}
		perm = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(target), tempPattern(target))
	if err != nil {
		return &fs.PathError{Op: "write", Path: path, Err: unwrapPath(err)}
	}
	tmp := f.Name()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := write(bw); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	err = bw.Flush()
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, target)
	}
	if err != nil {
		os.Remove(tmp)
		return &fs.PathError{Op: "write", Path: path, Err: unwrapPath(err)}
	}
	return nil
}
