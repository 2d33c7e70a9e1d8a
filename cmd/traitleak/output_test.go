package main

import (
	"context"
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/bench/benchtest"
)

// gatedRunDB runs a small gated suite against a fake endpoint into a new
// database in dir and returns the database's path.
func gatedRunDB(t *testing.T, dir string) string {
	t.Helper()
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base":    {Trait: "Owl", TraitRate: 0.1},
		"student": {Trait: "Owl", TraitRate: 0.5},
	}})
	suite := gateSuite(t, dir, srv.BaseURL(), "gates:\n  - {probe: favorite-animal, treatment: student, baseline: baseline, max_increase: 0.03}\n")
	db := filepath.Join(dir, "t.db")
	if code, out, errOut := runCLI(t, context.Background(), "run", suite, "--db", db, "--progress", "none"); code != 0 {
		t.Fatalf("run exit %d\n%s\n%s", code, out, errOut)
	}
	return db
}

// fileHash returns the SHA-256 of a file's content ("" when missing).
func fileHash(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(b)
	return string(h[:])
}

// TestOutputRefusals: -o and --junit never overwrite the database (or its
// WAL files), a directory, or anything that is not a regular file,
// device or FIFO; each refusal is a usage error (exit 2) naming the path,
// and the database is unchanged. Before, `report -o t.db` replaced the
// database with the report and exited 0.
func TestOutputRefusals(t *testing.T) {
	dir := t.TempDir()
	db := gatedRunDB(t, dir)
	link := filepath.Join(dir, "link-to-db")
	if err := os.Symlink(db, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard-link-to-db")
	if err := os.Link(db, hard); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	want := fileHash(t, db)
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		// The database itself, under its own name, a symlink and a hard link.
		{[]string{"report", "-o", db}, "is the results database"},
		{[]string{"report", "--format", "html", "-o", link}, "is the results database"},
		{[]string{"export", "-o", hard}, "is the results database"},
		{[]string{"export", "--format", "jsonl", "-o", "./" + filepath.Base(db)}, "is the results database"},
		// SQLite's files beside it, whether or not they exist now.
		{[]string{"report", "-o", db + "-wal"}, "is the results database"},
		{[]string{"export", "-o", db + "-shm"}, "is the results database"},
		{[]string{"report", "--format", "json", "-o", db + "-journal"}, "is the results database"},
		{[]string{"gate", "--junit", db}, "is the results database"},
		{[]string{"compare", "1", "1", "-o", db}, "is the results database"},
		// A directory, for formats that write one file.
		{[]string{"report", "--format", "html", "-o", outDir}, "is a directory"},
		{[]string{"report", "--format", "json", "-o", outDir + "/"}, "is a directory"},
		{[]string{"export", "-o", outDir}, "is a directory"},
		{[]string{"gate", "--junit", outDir}, "is a directory"},
		// A file in a directory that does not exist: exit 2 naming the
		// directory (before: exit 3 naming the temporary file).
		{[]string{"report", "-o", filepath.Join(dir, "nope", "r.md")}, "no such directory " + filepath.Join(dir, "nope")},
		{[]string{"export", "-o", filepath.Join(dir, "nope", "s.csv")}, "no such directory"},
		{[]string{"gate", "--junit", "/nonexistent/x.xml"}, "no such directory /nonexistent"},
		// A dangling symlink would create a file wherever it points.
		{[]string{"report", "-o", mustSymlink(t, filepath.Join(dir, "gone", "x"), filepath.Join(dir, "dangling"))}, "symlink to a missing file"},
	} {
		// The relative path is relative to the database's directory.
		if strings.HasPrefix(tc.args[len(tc.args)-1], "./") {
			t.Chdir(dir)
		}
		args := append(tc.args, "--db", db)
		code, _, errOut := runCLI(t, context.Background(), args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, ".tmp") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
		if fileHash(t, db) != want {
			t.Fatalf("%v changed the database", tc.args)
		}
	}
	for _, p := range []string{db + "-journal", filepath.Join(dir, "gone")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was created", p)
		}
	}
	// The database still reads.
	if code, out, errOut := runCLI(t, context.Background(), "runs", "--db", db); code != 0 || !strings.Contains(out, "complete") {
		t.Errorf("runs after the refusals: exit %d\n%s%s", code, out, errOut)
	}
}

func mustSymlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// TestOutputTargets: what -o does write. A symlink to a file stays a
// symlink and its file gets the report; an existing file keeps its mode;
// a symlink planted at the old predictable temporary name (PATH.tmp<pid>)
// is not followed; Markdown with -o DIR writes the directory. Before, the
// link and the file were replaced by a new regular file (0644), and the
// planted link's target was overwritten.
func TestOutputTargets(t *testing.T) {
	dir := t.TempDir()
	db := gatedRunDB(t, dir)
	_, md, _ := runCLI(t, context.Background(), "report", "--db", db)

	t.Run("symlink and mode", func(t *testing.T) {
		real := filepath.Join(dir, "real.md")
		if err := os.WriteFile(real, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		link := mustSymlink(t, real, filepath.Join(dir, "link.md"))
		if code, _, errOut := runCLI(t, context.Background(), "report", "--db", db, "-o", link); code != 0 {
			t.Fatalf("report -o symlink: exit %d %s", code, errOut)
		}
		if li, _ := os.Lstat(link); li.Mode()&fs.ModeSymlink == 0 {
			t.Error("the symlink was replaced by a file")
		}
		if b, _ := os.ReadFile(real); string(b) != md {
			t.Error("the link's target did not get the report")
		}
		if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v; want 0600 kept", fi.Mode().Perm())
		}
	})

	t.Run("planted temp name", func(t *testing.T) {
		victim := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "planted.csv")
		mustSymlink(t, victim, out+".tmp"+strconv.Itoa(os.Getpid()))
		if code, _, errOut := runCLI(t, context.Background(), "export", "--db", db, "-o", out); code != 0 {
			t.Fatalf("export: exit %d %s", code, errOut)
		}
		if b, _ := os.ReadFile(victim); string(b) != "precious" {
			t.Error("the victim of a planted temporary-name symlink was overwritten")
		}
		if b, _ := os.ReadFile(out); !strings.HasPrefix(string(b), "run_id,") {
			t.Error("no CSV written")
		}
	})

	t.Run("markdown directory", func(t *testing.T) {
		out := filepath.Join(dir, "md-out") + "/"
		if code, _, errOut := runCLI(t, context.Background(), "report", "--db", db, "-o", out); code != 0 {
			t.Fatalf("report -o DIR/: exit %d %s", code, errOut)
		}
		if b, err := os.ReadFile(filepath.Join(out, "report.md")); err != nil || !strings.Contains(string(b), ".svg") {
			t.Errorf("report.md with chart links: %v", err)
		}
		if svgs, _ := filepath.Glob(filepath.Join(out, "*.svg")); len(svgs) == 0 {
			t.Error("no charts written")
		}
		// The database can no more be the directory than the file.
		if code, _, errOut := runCLI(t, context.Background(), "report", "--db", db, "-o", db+"/"); code != exitUsage {
			t.Errorf("report -o DB/: exit %d %s; want 2", code, errOut)
		}
	})
}

// TestRunChecksOutputsFirst: run checks --db and --junit before sampling
// anything (the fake endpoint sees no request) and exits 2; before, a bad
// --junit path ran the whole suite and then hid the gate result behind
// exit 3, and --db ” exited 3.
func TestRunChecksOutputsFirst(t *testing.T) {
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base":    {Trait: "Owl", TraitRate: 0.1},
		"student": {Trait: "Owl", TraitRate: 0.5},
	}})
	dir := t.TempDir()
	gated := gateSuite(t, dir, srv.BaseURL(), "gates:\n  - {probe: favorite-animal, treatment: student, baseline: baseline, max_increase: 0.03}\n")
	plain := writeSuite(t, dir, srv.BaseURL())
	db := filepath.Join(dir, "t.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", gated, "--db", db, "--progress", "none", "--gate", "--junit", "/nonexistent/x.xml"}, "--junit /nonexistent/x.xml: no such directory /nonexistent"},
		{[]string{"run", gated, "--db", db, "--junit", db}, "is the results database"},
		{[]string{"run", gated, "--db", db, "--junit", dir}, "is a directory"},
		{[]string{"run", plain, "--db", db, "--gate"}, "declares no gates"},
		{[]string{"run", plain, "--db", db, "--junit", filepath.Join(dir, "j.xml")}, "declares no gates"},
		{[]string{"run", gated, "--db", ""}, "--db: empty path"},
		{[]string{"run", gated, "--db", dir}, "is a directory"},
		{[]string{"run", gated, "--db", filepath.Join(dir, "nope", "t.db")}, "no such directory"},
		{[]string{"report", "--db", ""}, "--db: empty path"},
		{[]string{"export", "--db", dir}, "is a directory"},
		{[]string{"runs", "--db", ""}, "--db: empty path"},
		{[]string{"demo", "--db", "", "--seeds", "1"}, "--db: empty path"},
		{[]string{"demo", "-o", filepath.Join(dir, "nope", "r.html"), "--seeds", "1"}, "no such directory"},
	} {
		code, _, errOut := runCLI(t, context.Background(), tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if n := srv.Calls(); n != 0 {
		t.Errorf("the fake endpoint got %d requests; want none before the checks", n)
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("a refused run created the database")
	}
}

// TestRunJUnitImpliesGate: run --junit without --gate evaluates the gates
// and writes them (before, it silently wrote nothing), with the gate's
// exit code.
func TestRunJUnitImpliesGate(t *testing.T) {
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base":    {Trait: "Owl", TraitRate: 0.1},
		"student": {Trait: "Owl", TraitRate: 0.5},
	}})
	dir := t.TempDir()
	suite := gateSuite(t, dir, srv.BaseURL(), "gates:\n  - {probe: favorite-animal, treatment: student, baseline: baseline, max_increase: 0.03}\n")
	junit := filepath.Join(dir, "gates.xml")
	code, out, errOut := runCLI(t, context.Background(), "run", suite, "--db", filepath.Join(dir, "t.db"), "--progress", "none", "--junit", junit)
	// The student leaks +0.4: the gate fails.
	if code != exitGateFailed {
		t.Fatalf("run --junit: exit %d; want 1\n%s%s", code, out, errOut)
	}
	b, err := os.ReadFile(junit)
	if err != nil || !strings.Contains(string(b), `failures="1"`) {
		t.Errorf("JUnit file: %v\n%s", err, b)
	}
}
