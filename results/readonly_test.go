package results

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// closedStore creates a database with one run at path and closes it.
func closedStore(t *testing.T, path string) {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	startRun(t, s, fixture("ro", "salt", 1, []string{"p"}, 2, 3))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func sha(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestOpenReadOnly: both ways of opening read-only (mode=ro, and the
// immutable=1 fallback for a directory SQLite cannot write) read the
// runs, refuse every write, and leave the database file as it was.
func TestOpenReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		open func(path string) (*Store, error)
	}{
		{"OpenReadOnly", func(p string) (*Store, error) { return OpenReadOnly(ctx, p) }},
		{"mode=ro", func(p string) (*Store, error) { return openReadOnly(ctx, p, false) }},
		{"immutable", func(p string) (*Store, error) { return openReadOnly(ctx, p, true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.db")
			closedStore(t, path)
			before := sha(t, path)
			s, err := tc.open(path)
			if err != nil {
				t.Fatal(err)
			}
			runs, err := s.Runs(ctx)
			if err != nil || len(runs) != 1 || runs[0].SuiteName != "ro" {
				t.Errorf("Runs = %v, %v; want the one run", runs, err)
			}
			c, err := s.Counts(ctx, runs[0].ID)
			if err != nil || c.Planned != 6 {
				t.Errorf("Counts = %+v, %v; want 6 planned", c, err)
			}
			if err := s.FinishRun(ctx, runs[0].ID, StatusComplete, ""); err == nil || !strings.Contains(err.Error(), "readonly") {
				t.Errorf("FinishRun on a read-only store: %v; want a read-only error", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if sha(t, path) != before {
				t.Error("the database file changed")
			}
		})
	}
}

// TestOpenReadOnlyRejects: what a read-only open cannot use, each with a
// message saying why, and nothing changed (an old database is not
// migrated).
func TestOpenReadOnlyRejects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	foreign := filepath.Join(t.TempDir(), "other.db")
	raw, err := sql.Open("sqlite3", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE notes (body TEXT)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	newer := filepath.Join(t.TempDir(), "newer.db")
	closedStore(t, newer)
	raw, _ = sql.Open("sqlite3", newer)
	if _, err := raw.Exec(`UPDATE meta SET value = '99' WHERE key = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	notDB := filepath.Join(t.TempDir(), "text.db")
	os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 100)), 0o644)
	for _, tc := range []struct {
		name, path, want string
	}{
		// A version 2 database needs the migrations up to the current
		// version, which write.
		{"older schema", oldDatabase(t, 2, ""), fmt.Sprintf("older than %d: open it once with write access", SchemaVersion)},
		{"newer schema", newer, "newer than this traitleak understands"},
		{"another program's database", foreign, "not a traitleak database"},
		{"not SQLite", notDB, "not a SQLite database"},
		{"missing", filepath.Join(t.TempDir(), "none.db"), "no such file"},
		{"empty path", "", "empty path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before [32]byte
			if _, err := os.Stat(tc.path); err == nil {
				before = sha(t, tc.path)
			}
			s, err := OpenReadOnly(ctx, tc.path)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q; want %q", err, tc.want)
			}
			if tc.name == "missing" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v is not fs.ErrNotExist", err)
			}
			if _, serr := os.Stat(tc.path); serr == nil && sha(t, tc.path) != before {
				t.Error("the file changed")
			}
		})
	}
}
