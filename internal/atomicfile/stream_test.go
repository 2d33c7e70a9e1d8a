package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteFunc checks the streaming form of Write: the content lands
// whole and replaces the file keeping its mode; a failing write leaves
// the old file and no temporary file; a FIFO is written through.
func TestWriteFunc(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "export.csv")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// More than the buffer, in many small writes.
	want := strings.Repeat("row,of,data\n", 20000)
	err := WriteFunc(path, func(w io.Writer) error {
		for range 20000 {
			if _, err := io.WriteString(w, "row,of,data\n"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != want {
		t.Errorf("file holds %d bytes; want %d", len(got), len(want))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want the old file's 0600 kept", fi.Mode().Perm(), err)
	}
	noTemps(t, dir)

	// A failure half-way leaves the old content.
	boom := errors.New("database gone")
	err = WriteFunc(path, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("WriteFunc error %v; want the write's", err)
	}
	if got := readFile(t, path); got != want {
		t.Error("a failed write changed the file")
	}
	noTemps(t, dir)

	// A directory is refused.
	if err := WriteFunc(dir, func(io.Writer) error { return nil }); !errors.Is(err, ErrIsDir) {
		t.Errorf("WriteFunc of a directory: %v; want ErrIsDir", err)
	}
}
