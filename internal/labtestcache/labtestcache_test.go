package labtestcache

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// writeModule writes files (path → content) under a new directory and
// returns it.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// module is a small module: lab imports data, data imports util (and
// the standard library); other is in the module but not imported.
var module = map[string]string{
	"go.mod":               "module example.com/m\n\ngo 1.26\n",
	"lab/lab.go":           "package lab\n\nimport (\n\t\"fmt\"\n\t\"example.com/m/data\"\n)\n\nvar _ = fmt.Sprint(data.X)\n",
	"lab/lab_test.go":      "package lab\n\nimport \"example.com/m/other\"\n\nvar _ = other.Y\n",
	"lab/testdata/x.txt":   "test input\n",
	"data/data.go":         "package data\n\nimport \"example.com/m/data/util\"\n\nvar X = util.Z\n",
	"data/table.txt":       "embedded rows\n",
	"data/util/util.go":    "package util\n\nconst Z = 1\n",
	"other/other.go":       "package other\n\nconst Y = 2\n",
	"other/sub/sub.go":     "package sub\n",
	"lab/.hidden/notes.go": "package hidden\n",
}

func TestImportClosure(t *testing.T) {
	root := writeModule(t, module)
	dirs, err := importClosure(root, "example.com/m", "example.com/m/lab")
	if err != nil {
		t.Fatal(err)
	}
	// lab → data → data/util; other is imported by a test file only.
	want := []string{"data", filepath.FromSlash("data/util"), "lab"}
	if !slices.Equal(dirs, want) {
		t.Errorf("importClosure = %v; want %v", dirs, want)
	}
	if _, err := importClosure(root, "example.com/m", "example.com/m/missing"); err == nil {
		t.Error("importClosure of a missing package: no error")
	}
	if _, err := importClosure(root, "example.com/m", "example.org/elsewhere"); err == nil {
		t.Error("importClosure of a package outside the module: no error")
	}
}

// TestFingerprint: the fingerprint changes with every file the closure's
// code or data can come from, and with nothing else.
func TestFingerprint(t *testing.T) {
	base := writeModule(t, module)
	fp0, _, err := Fingerprint(base, "example.com/m/lab")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file, content string
		changes       bool
	}{
		{"lab/lab.go", "package lab\n\nimport \"example.com/m/data\"\n\nvar _ = data.X + 1\n", true}, // the root's code
		{"data/util/util.go", "package util\n\nconst Z = 2\n", true},                                 // a dependency's dependency
		{"data/table.txt", "other rows\n", true},                                                     // a file a package may embed
		{"data/new.txt", "new\n", true},                                                              // a new file
		{"go.mod", "module example.com/m\n\ngo 1.26\n\nrequire example.com/x v1.0.0\n", true},        // dependency versions
		{"go.sum", "example.com/x v1.0.0 h1:abc=\n", true},                                           // their sums
		{"lab/lab_test.go", "package lab\n", false},                                                  // test code builds no artifact
		{"lab/testdata/x.txt", "other input\n", false},                                               // test data
		{"other/other.go", "package other\n\nconst Y = 3\n", false},                                  // not imported
		{"lab/.hidden/notes.go", "package hidden\n\nconst N = 1\n", false},                           // ignored by go
	} {
		files := map[string]string{}
		for k, v := range module {
			files[k] = v
		}
		files[c.file] = c.content
		fp, _, err := Fingerprint(writeModule(t, files), "example.com/m/lab")
		if err != nil {
			t.Fatal(err)
		}
		if (fp != fp0) != c.changes {
			t.Errorf("changing %s: fingerprint changed %v; want %v", c.file, fp != fp0, c.changes)
		}
	}
	// The same content elsewhere, written later, has the same fingerprint.
	if fp, _, err := Fingerprint(writeModule(t, module), "example.com/m/lab"); err != nil || fp != fp0 {
		t.Errorf("same module elsewhere: %s, %v; want %s", fp, err, fp0)
	}
}

// TestFingerprintLatest: the latest modification time is that of the
// newest file read, which Open compares with the test binary's.
func TestFingerprintLatest(t *testing.T) {
	root := writeModule(t, module)
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			os.Chtimes(p, old, old)
		}
		return nil
	})
	newer := old.Add(time.Hour)
	if err := os.Chtimes(filepath.Join(root, "data", "util", "util.go"), newer, newer); err != nil {
		t.Fatal(err)
	}
	// A newer file outside the closure does not count.
	if err := os.Chtimes(filepath.Join(root, "other", "other.go"), newer.Add(time.Hour), newer.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, latest, err := Fingerprint(root, "example.com/m/lab")
	if err != nil {
		t.Fatal(err)
	}
	if !latest.Equal(newer) {
		t.Errorf("latest = %v; want %v, data/util/util.go's", latest, newer)
	}
}

func TestScopeOf(t *testing.T) {
	for _, c := range []struct {
		name, scope string
		pid         int
		ok          bool
	}{
		{"go123-456-abcdef", "go123-456", 123, true}, // a shared directory's name
		{"go123-abcdef", "", 0, false},               // no start time
		{"gox-456-abcdef", "", 0, false},             // not a pid
		{"traitleak-lab-test-1", "", 0, false},       // not a scope
	} {
		scope, pid, ok := scopeOf(c.name)
		if scope != c.scope || pid != c.pid || ok != c.ok {
			t.Errorf("scopeOf(%q) = %q, %d, %v; want %q, %d, %v", c.name, scope, pid, ok, c.scope, c.pid, c.ok)
		}
	}
}
