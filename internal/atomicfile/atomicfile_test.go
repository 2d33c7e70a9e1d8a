package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readFile returns the content of path, failing the test on error.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noTemps fails when a temporary file is left in dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	if m, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(m) > 0 {
		t.Errorf("temporary files left behind: %v", m)
	}
}

func TestWriteRegular(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, dir string) string // returns the path to write
		wantKind Kind
		wantMode fs.FileMode // permission bits of the file written
	}{
		// Nothing there: a new file, 0644 less the umask, like os.WriteFile.
		{"new file", func(t *testing.T, dir string) string { return filepath.Join(dir, "out.md") }, Missing, 0o644 &^ umask()},
		// An existing private file stays private: its mode is kept.
		{"existing 0600 file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "out.md")
			if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, Regular, 0o600},
		// An unusual mode is kept as well.
		{"existing 0640 file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "out.md")
			if err := os.WriteFile(p, []byte("old"), 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o640); err != nil { // past the umask
				t.Fatal(err)
			}
			return p
		}, Regular, 0o640},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := tc.setup(t, dir)
			kind, err := Check(p)
			if err != nil || kind != tc.wantKind {
				t.Fatalf("Check = %v, %v; want %v, nil", kind, err, tc.wantKind)
			}
			noTemps(t, dir) // Check's probe is gone
			if err := Write(p, []byte("new")); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, p); got != "new" {
				t.Errorf("content %q; want %q", got, "new")
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.wantMode || !fi.Mode().IsRegular() {
				t.Errorf("mode %v; want regular %v", fi.Mode(), tc.wantMode)
			}
			noTemps(t, dir)
		})
	}
}

// TestWriteSymlink: a symlink to a file stays a symlink, and the file it
// points to (in another directory) gets the new content, replaced in its
// own directory.
func TestWriteSymlink(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	target := filepath.Join(other, "real.md")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.md")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	if kind, err := Check(link); err != nil || kind != Regular {
		t.Fatalf("Check = %v, %v; want regular", kind, err)
	}
	if err := Write(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	li, err := os.Lstat(link)
	if err != nil || li.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", li, err)
	}
	if got := readFile(t, target); got != "new" {
		t.Errorf("target content %q; want new", got)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o600 {
		t.Errorf("target mode %v; want 0600 kept", fi.Mode())
	}
	noTemps(t, dir)
	noTemps(t, other)
}

// TestRefusals: what Write must not touch, each with the error saying why,
// and nothing created.
func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(t *testing.T, dir string) string
		wantKind  Kind  // from Check
		wantCheck error // from Check (nil: Check accepts, as for a directory)
		wantWrite error
	}{
		// A directory is reported by Check (a caller may write into it)
		// and refused by Write.
		{"directory", func(t *testing.T, dir string) string { return dir }, Dir, nil, ErrIsDir},
		// A file in a directory that does not exist: the error names the
		// directory, not a temporary file.
		{"missing directory", func(t *testing.T, dir string) string { return filepath.Join(dir, "nope", "out.md") }, 0, ErrNoDir, ErrNoDir},
		// A file "inside" a regular file.
		{"parent is a file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "file")
			os.WriteFile(p, nil, 0o644)
			return filepath.Join(p, "out.md")
		}, 0, ErrNoDir, ErrNoDir},
		// A dangling symlink: following it would create a file wherever
		// it points.
		{"dangling symlink", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "link")
			if err := os.Symlink(filepath.Join(dir, "elsewhere", "victim"), p); err != nil {
				t.Skipf("no symlinks here: %v", err)
			}
			return p
		}, 0, ErrNotRegular, ErrNotRegular},
		// The empty path.
		{"empty path", func(t *testing.T, dir string) string { return "" }, 0, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := tc.setup(t, dir)
			kind, err := Check(p)
			if tc.name == "empty path" {
				if err == nil || Write(p, nil) == nil {
					t.Fatalf("empty path accepted")
				}
				return
			}
			if !errors.Is(err, tc.wantCheck) || (err == nil && kind != tc.wantKind) {
				t.Errorf("Check = %v, %v; want %v, %v", kind, err, tc.wantKind, tc.wantCheck)
			}
			var pe *fs.PathError
			if err != nil && (!errors.As(err, &pe) || pe.Path != p) {
				t.Errorf("Check error %v does not name the path", err)
			}
			err = Write(p, []byte("data"))
			if !errors.Is(err, tc.wantWrite) {
				t.Errorf("Write = %v; want %v", err, tc.wantWrite)
			}
			if err != nil && strings.Contains(err.Error(), ".tmp-") {
				t.Errorf("error names the temporary file: %v", err)
			}
			noTemps(t, dir)
			if _, err := os.Stat(filepath.Join(dir, "elsewhere")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("something was created through the dangling link")
			}
		})
	}
}

// TestPlantedTempName: a symlink planted under any name a writer might
// pick for its temporary file is never followed; the victim it points to
// keeps its content.
func TestPlantedTempName(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.md")
	for _, name := range []string{
		out + ".tmp" + strconv.Itoa(os.Getpid()), // traitleak's old predictable name
		filepath.Join(dir, ".tmp-out.md-"),
		filepath.Join(dir, ".tmp-out.md-1"),
	} {
		if err := os.Symlink(victim, name); err != nil {
			t.Skipf("no symlinks here: %v", err)
		}
	}
	for range 20 {
		if err := Write(out, []byte("report")); err != nil {
			t.Fatal(err)
		}
	}
	if got := readFile(t, victim); got != "precious" {
		t.Errorf("victim overwritten through a planted symlink: %q", got)
	}
	if got := readFile(t, out); got != "report" {
		t.Errorf("out = %q", got)
	}
}

func TestIsOwnFD(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/dev/stdout", true},      // a link to descriptor 1
		{"/dev/stderr", true},      // descriptor 2
		{"/dev/fd/3", true},        // any descriptor
		{"/proc/self/fd/1", true},  // the same through /proc
		{"/dev/fd/../fd/1", true},  // cleaned first
		{"/dev/fd/x", false},       // not a descriptor number
		{"/dev/fd", false},         // the directory itself
		{"/dev/null", false},       // a device, classified by its mode
		{"/tmp/dev/stdout", false}, // only the absolute names
		{"/proc/1/fd/1", false},    // another process's descriptor
		{"dev/stdout", false},      // relative
		{"/dev/stdout/x", false},   // below it
		{"/proc/self/fd/1/", true}, // a trailing slash cleans away
		{"/proc/self/fdinfo/1", false},
	} {
		if got := isOwnFD(tc.path); got != tc.want {
			t.Errorf("isOwnFD(%q) = %v; want %v", tc.path, got, tc.want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Missing: "missing", Regular: "regular file", Through: "written through", Dir: "directory", Kind(9): "Kind(9)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q; want %q", int(k), k.String(), want)
		}
	}
}
