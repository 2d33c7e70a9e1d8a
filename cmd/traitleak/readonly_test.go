package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readCommands runs every command that only reads the database (report,
// runs, export, gate, compare) on db, a complete run of gatedRunDB's
// suite, and checks each succeeds (gate: exit 1, the student leaks) and
// that the database file is unchanged.
func readCommands(t *testing.T, db string) {
	t.Helper()
	before := fileHash(t, db)
	for _, tc := range []struct {
		args []string
		code int
		want string // in stdout
	}{
		{[]string{"report"}, exitOK, "## favorite-animal"},
		{[]string{"report", "--format", "json"}, exitOK, `"run_id": 1`},
		{[]string{"runs"}, exitOK, "complete"},
		{[]string{"export", "--format", "jsonl"}, exitOK, `"run_id":1`},
		{[]string{"gate"}, exitGateFailed, "FAIL"},
		{[]string{"compare", "1", "latest"}, exitOK, "change (B − A)"},
	} {
		code, out, errOut := runCLI(t, context.Background(), append(tc.args, "--db", db)...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v on a read-only database: exit %d; want %d and %q\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
	if fileHash(t, db) != before {
		t.Error("a reading command changed the database file")
	}
	// A command that writes fails cleanly instead.
	code, _, errOut := runCLI(t, context.Background(), "rescore", "--db", db, "--misaligned", "le 40", "--progress", "none")
	if code == exitOK {
		t.Errorf("rescore on a read-only database succeeded: %s", errOut)
	}
}

// TestReadOnlyPermissions: a database file without write permission, and
// one in a directory without write permission, are read by report, runs,
// export, gate and compare (before, each failed with "attempt to write a
// readonly database" or "unable to open database file", exit 3). Root
// ignores the permission bits, so as root the test skips; the read-only
// mount test (Linux) covers root.
func TestReadOnlyPermissions(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file permissions; see TestReadOnlyMount")
	}
	t.Run("file", func(t *testing.T) {
		db := gatedRunDB(t, t.TempDir())
		if err := os.Chmod(db, 0o444); err != nil {
			t.Fatal(err)
		}
		readCommands(t, db)
	})
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		db := gatedRunDB(t, dir)
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		readCommands(t, db)
		if m, _ := filepath.Glob(db + "-*"); len(m) > 0 {
			t.Errorf("files created beside the database: %v", m)
		}
	})
}
