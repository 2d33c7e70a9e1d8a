package results

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// openStore opens a fresh store in a temporary directory and closes it
// when the test ends.
func openStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "results.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// planKey is the sample key fixtures use. It depends on the salt and the
// draw's coordinates only, like bench.SampleKey, so that two runs with the
// same salt and overlapping plans share samples.
func planKey(salt string, model int, probe string, prompt, draw int) string {
	return fmt.Sprintf("%s|m%d|%s|p%d|d%d", salt, model, probe, prompt, draw)
}

// fixture describes a run of models instances × probes × prompts prompts ×
// draws draws, listed in suite order: probes in the given order, then
// prompts by index, then draws.
func fixture(name, salt string, models int, probes []string, prompts, draws int) NewRun {
	nr := NewRun{
		SuiteName: name, SuiteHash: "hash-" + name, SuiteSource: "builtin:" + name,
		SuiteJSON: `{"name":"` + name + `"}`, Salt: salt, Version: "test",
	}
	for m := range models {
		nr.Instances = append(nr.Instances, InstanceRow{Index: m, Role: fmt.Sprintf("role%d", m), Seed: fmt.Sprint(m), Condition: "base",
			BaseURL: "http://127.0.0.1:1/v1", ModelID: fmt.Sprintf("model-%d", m), Settings: `{"temperature":1}`})
	}
	for _, probe := range probes {
		for p := range prompts {
			nr.Prompts = append(nr.Prompts, PromptRow{Probe: probe, Index: p, Text: fmt.Sprintf("%s prompt %d?", probe, p)})
		}
	}
	for m := range models {
		for _, probe := range probes {
			for p := range prompts {
				for d := range draws {
					nr.Plan = append(nr.Plan, PlannedSample{Key: planKey(salt, m, probe, p, d), Instance: m, Probe: probe, Prompt: p, Draw: d})
				}
			}
		}
	}
	return nr
}

func startRun(t testing.TB, s *Store, nr NewRun) *Run {
	t.Helper()
	r, err := s.StartRun(context.Background(), nr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func queryString(t testing.TB, db *sql.DB, q string, args ...any) string {
	t.Helper()
	var v string
	if err := db.QueryRow(q, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

func TestOpenCreatesSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		query string
		want  string
	}{
		// The crash-safety claim of the package rests on WAL.
		{`PRAGMA journal_mode`, "wal"},
		// Put relies on run_samples → models/prompts references being checked.
		{`PRAGMA foreign_keys`, "1"},
		{`SELECT value FROM meta WHERE key = 'schema_version'`, strconv.Itoa(SchemaVersion)},
		// The tables this package reads and writes exist (the schema may
		// have more; TestOpenVersion1Database guards its evolution).
		{`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'runs', 'models', 'prompts', 'samples', 'run_samples', 'scores')`,
			"7"},
	}
	for _, c := range checks {
		if got := queryString(t, s.db, c.query); got != c.want {
			t.Errorf("%s = %q, want %q", c.query, got, c.want)
		}
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	run := startRun(t, s, fixture("reopen", "", 1, []string{"p"}, 1, 3))
	if err := s.Put(ctx, []Sample{{Key: planKey("", 0, "p", 0, 0), RunID: run.ID, Probe: "p", Completion: "Owl.", Attempts: 1, Batch: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// WAL mode is a property of the file: a plain connection sees it too.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, raw, `PRAGMA journal_mode`); got != "wal" {
		t.Errorf("journal_mode of the closed file = %q, want wal", got)
	}
	raw.Close()

	// Reopening finds the schema and the data instead of recreating them.
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	again, err := s.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if !reflect.DeepEqual(again, run) {
		t.Errorf("reopened run\n got %+v\nwant %+v", again, run)
	}
	c, err := s.Counts(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (RunCounts{Planned: 3, Stored: 1}); c != want {
		t.Errorf("reopened counts = %+v, want %+v", c, want)
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rnd := make([]byte, 8192)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range rnd {
		rnd[i] = byte(rng.Uint32())
	}
	// validDB returns the bytes of a closed traitleak database, modified by
	// edit on a raw connection.
	validDB := func(t *testing.T, edit string) []byte {
		path := filepath.Join(t.TempDir(), "valid.db")
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if edit != "" {
			if _, err := s.db.Exec(edit); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// foreignDB returns the bytes of a SQLite database of another program,
	// in the default rollback-journal mode.
	foreignDB := func(t *testing.T) []byte {
		path := filepath.Join(t.TempDir(), "other.db")
		db, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('keep me')`); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		content func(t *testing.T) []byte
		wantErr string // "" when Open must succeed
	}{
		// A database written by a later traitleak must not be read with
		// this layout, and the message should tell the user to upgrade.
		{"newer schema", func(t *testing.T) []byte {
			return validDB(t, fmt.Sprintf(`UPDATE meta SET value = '%d' WHERE key = 'schema_version'`, SchemaVersion+1))
		}, "newer"},
		// No migration starts at version 0, so that layout is refused.
		{"older schema", func(t *testing.T) []byte {
			return validDB(t, `UPDATE meta SET value = '0' WHERE key = 'schema_version'`)
		}, "older"},
		{"garbled schema version", func(t *testing.T) []byte {
			return validDB(t, `UPDATE meta SET value = 'one' WHERE key = 'schema_version'`)
		}, `bad schema version "one"`},
		// init reads the version row without a fallback.
		{"meta without version", func(t *testing.T) []byte {
			return validDB(t, `DELETE FROM meta`)
		}, "schema version"},
		// SQLite reports SQLITE_NOTADB ("file is not a database") for a
		// header that is not "SQLite format 3\0"; Open words it for users.
		{"random bytes", func(*testing.T) []byte { return rnd }, "not a SQLite database"},
		{"text file", func(*testing.T) []byte { return []byte("name: owl-leak\nmodels: {}\n") }, "not a SQLite database"},
		// The right magic but no valid header after it.
		{"bare SQLite magic", func(*testing.T) []byte { return []byte("SQLite format 3\x00") }, "not a SQLite database"},
		// A traitleak database cut inside its first page is damaged
		// (SQLITE_CORRUPT, "malformed"), which Open words the same way.
		{"truncated database", func(t *testing.T) []byte { return validDB(t, "")[:150] }, "damaged"},
		// Another program's database is refused without being touched. (Bytes
		// 18 and 19 of a SQLite header are 1 for rollback-journal mode and 2
		// for WAL: switching a file to WAL rewrites them.)
		{"unrelated tables", foreignDB, "not a traitleak database"},
		// An empty file is an empty SQLite database (`touch traitleak.db`):
		// Open creates the schema in it.
		{"empty file", func(*testing.T) []byte { return nil }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := tt.content(t)
			dir := t.TempDir()
			path := filepath.Join(dir, "x.db")
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v, want success", err)
				}
				if got := queryString(t, s.db, `SELECT value FROM meta WHERE key = 'schema_version'`); got != strconv.Itoa(SchemaVersion) {
					t.Errorf("schema_version = %q, want %d", got, SchemaVersion)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("Open error %q, want it to name %s and contain %q", err, path, tt.wantErr)
			}
			// A refused file is left exactly as it was, and no -wal or
			// -shm files are left behind next to it.
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, content) {
				t.Errorf("Open changed the refused file (%d bytes, was %d); first differing byte at %d", len(got), len(content), firstDiff(got, content))
			}
			if extra, _ := filepath.Glob(path + "-*"); len(extra) > 0 {
				t.Errorf("Open left %v behind", extra)
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestOpenPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
	}{
		// URI metacharacters are escaped: "?" would start the query, "#"
		// a fragment, and "%" an escape.
		{"query mark", filepath.Join(dir, "what?.db")},
		{"hash", filepath.Join(dir, "run#2.db")},
		{"percent", filepath.Join(dir, "100%25.db")},
		{"space", filepath.Join(dir, "my results.db")},
		// A name that looks like a URI is still a file name.
		{"file prefix", filepath.Join(dir, "file:x.db")},
		// POSIX lets a path start with two slashes ("$DIR/x.db" with DIR=/
		// gives //x.db); on Linux it names the same file as one slash. In
		// a file: URI a leading // starts an authority (a host name).
		{"double slash", "/" + filepath.Join(dir, "slashes.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.path)
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.path, err)
			}
			s.Close()
			if _, err := os.Stat(tt.path); err != nil {
				t.Errorf("database not created at %q: %v", tt.path, err)
			}
		})
	}
	if _, err := Open(ctx, ""); err == nil {
		t.Errorf(`Open("") succeeded, want an error`)
	}
}

func TestRunRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	host, _ := os.Hostname()
	nr := fixture("owl-leak", "salt1", 2, []string{"animal", "tree"}, 2, 3)
	before := time.Now()
	run := startRun(t, s, nr)
	after := time.Now()

	want := Run{ID: run.ID, SuiteName: "owl-leak", SuiteHash: "hash-owl-leak", SuiteSource: "builtin:owl-leak", SuiteJSON: `{"name":"owl-leak"}`,
		Salt: "salt1", Status: StatusRunning, Planned: 2 * 2 * 2 * 3, Version: "test", PID: os.Getpid(), Host: host}
	got := *run
	// Times are checked separately: they come from the clock.
	if got.CreatedAt.Before(before.Truncate(time.Microsecond)) || got.CreatedAt.After(after) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want a UTC time in [%v, %v]", got.CreatedAt, before, after)
	}
	if !got.UpdatedAt.Equal(got.CreatedAt) || !got.FinishedAt.IsZero() {
		t.Errorf("new run: UpdatedAt %v FinishedAt %v, want UpdatedAt = CreatedAt and no FinishedAt", got.UpdatedAt, got.FinishedAt)
	}
	got.CreatedAt, got.UpdatedAt, got.FinishedAt = time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("StartRun\n got %+v\nwant %+v", got, want)
	}
	// The schema promises RFC 3339 UTC text.
	raw := queryString(t, s.db, `SELECT created_at FROM runs WHERE id = ?`, run.ID)
	if _, err := time.Parse(time.RFC3339, raw); err != nil || !strings.HasSuffix(raw, "Z") {
		t.Errorf("created_at %q is not RFC 3339 UTC: %v", raw, err)
	}

	lookups := []struct {
		name string
		get  func() (*Run, error)
	}{
		{"GetRun", func() (*Run, error) { return s.GetRun(ctx, run.ID) }},
		{"LatestRun", func() (*Run, error) { return s.LatestRun(ctx) }},
		{"FindRun", func() (*Run, error) { return s.FindRun(ctx, "hash-owl-leak", "salt1") }},
	}
	for _, l := range lookups {
		r, err := l.get()
		if err != nil {
			t.Errorf("%s: %v", l.name, err)
			continue
		}
		if !reflect.DeepEqual(r, run) {
			t.Errorf("%s\n got %+v\nwant %+v", l.name, r, run)
		}
	}
	if salt, ok, err := s.LatestSalt(ctx, "owl-leak"); salt != "salt1" || !ok || err != nil {
		t.Errorf("LatestSalt = %q, %v, %v; want salt1, true, nil", salt, ok, err)
	}

	models, err := s.Instances(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(models) != len(nr.Instances) {
		t.Fatalf("Instances: %d rows, want %d", len(models), len(nr.Instances))
	}
	for i, m := range models {
		if m.ID == 0 {
			t.Errorf("model %d has no id", i)
		}
		m.ID = 0
		if m != nr.Instances[i] {
			t.Errorf("model %d\n got %+v\nwant %+v", i, m, nr.Instances[i])
		}
	}
	prompts, err := s.Prompts(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(prompts) != len(nr.Prompts) {
		t.Fatalf("Prompts: %d rows, want %d", len(prompts), len(nr.Prompts))
	}
	for i, p := range prompts {
		if p.ID == 0 {
			t.Errorf("prompt %d has no id", i)
		}
		p.ID = 0
		if p != nr.Prompts[i] {
			t.Errorf("prompt %d\n got %+v\nwant %+v", i, p, nr.Prompts[i])
		}
	}
	if c, err := s.Counts(ctx, run.ID); err != nil || c != (RunCounts{Planned: 24}) {
		t.Errorf("Counts = %+v, %v; want 24 planned, nothing stored", c, err)
	}

	// A second run of the suite with another salt (run --fresh) is the
	// latest run and provides the latest salt; the first stays findable.
	second := startRun(t, s, fixture("owl-leak", "salt2", 1, []string{"animal"}, 1, 1))
	if r, err := s.LatestRun(ctx); err != nil || r.ID != second.ID {
		t.Errorf("LatestRun after a second run = %v, %v; want run %d", r, err, second.ID)
	}
	if salt, _, _ := s.LatestSalt(ctx, "owl-leak"); salt != "salt2" {
		t.Errorf("LatestSalt after a second run = %q, want salt2", salt)
	}
	if r, err := s.FindRun(ctx, "hash-owl-leak", "salt1"); err != nil || r.ID != run.ID {
		t.Errorf("FindRun(salt1) = %v, %v; want run %d", r, err, run.ID)
	}
	runs, err := s.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != second.ID || runs[1].ID != run.ID {
		t.Errorf("Runs = %+v, want runs %d and %d, newest first", runs, second.ID, run.ID)
	}
	if salt, ok, err := s.LatestSalt(ctx, "never-ran"); salt != "" || ok || err != nil {
		t.Errorf("LatestSalt(never-ran) = %q, %v, %v; want \"\", false, nil", salt, ok, err)
	}
}

func TestRunStatusTransitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	run := startRun(t, s, fixture("lifecycle", "", 1, []string{"p"}, 1, 2))
	steps := []struct {
		name         string
		do           func() error
		wantStatus   RunStatus
		wantMessage  string
		wantFinished bool
	}{
		// Ctrl-C: Execute records the interruption with a message.
		{"interrupt", func() error {
			return s.FinishRun(ctx, run.ID, StatusInterrupted, "interrupted with 1 of 2 draws stored")
		}, StatusInterrupted, "interrupted with 1 of 2 draws stored", true},
		// Resuming clears the message and the finish time, and takes the
		// run over for this process even when another one started it.
		{"resume from another process", func() error {
			if _, err := s.db.Exec(`UPDATE runs SET pid = 1, host = 'elsewhere' WHERE id = ?`, run.ID); err != nil {
				return err
			}
			return s.ResumeRun(ctx, run.ID)
		}, StatusRunning, "", false},
		{"fail", func() error { return s.FinishRun(ctx, run.ID, StatusFailed, "1 of 2 planned draws were not sampled") },
			StatusFailed, "1 of 2 planned draws were not sampled", true},
		{"resume a failed run", func() error { return s.ResumeRun(ctx, run.ID) }, StatusRunning, "", false},
		{"complete", func() error { return s.FinishRun(ctx, run.ID, StatusComplete, "") }, StatusComplete, "", true},
	}
	host, _ := os.Hostname()
	prev := run
	for _, st := range steps {
		time.Sleep(2 * time.Millisecond) // so that updated_at moves
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		r, err := s.GetRun(ctx, run.ID)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if r.Status != st.wantStatus || r.Message != st.wantMessage || r.FinishedAt.IsZero() == st.wantFinished {
			t.Errorf("after %s: status %q message %q finished %v; want %q %q finished=%v",
				st.name, r.Status, r.Message, r.FinishedAt, st.wantStatus, st.wantMessage, st.wantFinished)
		}
		if !r.CreatedAt.Equal(run.CreatedAt) || !r.UpdatedAt.After(prev.UpdatedAt) {
			t.Errorf("after %s: created %v updated %v; want created unchanged (%v) and updated after %v",
				st.name, r.CreatedAt, r.UpdatedAt, run.CreatedAt, prev.UpdatedAt)
		}
		if st.wantFinished && !r.FinishedAt.Equal(r.UpdatedAt) {
			t.Errorf("after %s: finished %v, updated %v; want equal", st.name, r.FinishedAt, r.UpdatedAt)
		}
		if r.PID != os.Getpid() || r.Host != host {
			t.Errorf("after %s: pid %d host %q, want %d %q", st.name, r.PID, r.Host, os.Getpid(), host)
		}
		prev = r
	}
}

func TestRunNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	const missing = 42
	tests := []struct {
		name string
		call func() error
	}{
		// The empty database has no latest run: `report` turns this into
		// "the database holds no runs".
		{"LatestRun of an empty database", func() error { _, err := s.LatestRun(ctx); return err }},
		{"GetRun", func() error { _, err := s.GetRun(ctx, missing); return err }},
		// Execute starts a new run exactly when FindRun says ErrNotFound.
		{"FindRun", func() error { _, err := s.FindRun(ctx, "no-such-hash", ""); return err }},
		// ErrNotFound "is returned when a run does not exist": updating a
		// run that does not exist must not report success.
		{"ResumeRun", func() error { return s.ResumeRun(ctx, missing) }},
		{"FinishRun", func() error { return s.FinishRun(ctx, missing, StatusComplete, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrNotFound) {
				t.Errorf("error %v, want errors.Is(err, ErrNotFound)", err)
			}
		})
	}
	// Nothing was created by the calls above.
	if runs, err := s.Runs(ctx); err != nil || len(runs) != 0 {
		t.Errorf("Runs = %v, %v; want none", runs, err)
	}
}

func TestStartRunIsAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name    string
		edit    func(nr *NewRun)
		wantErr string
	}{
		// StartRun resolves plan entries to model and prompt rows itself.
		{"unknown model", func(nr *NewRun) { nr.Plan[3].Instance = 7 }, "unknown model or prompt"},
		{"unknown prompt", func(nr *NewRun) { nr.Plan[3].Prompt = 9 }, "unknown model or prompt"},
		// A key names one draw: a plan that repeats one is refused.
		{"duplicate key", func(nr *NewRun) { nr.Plan[3].Key = nr.Plan[2].Key }, "repeats the key"},
		// models has UNIQUE (run_id, idx).
		{"duplicate model index", func(nr *NewRun) { nr.Instances[1].Index = 0 }, "UNIQUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			nr := fixture("atomic", "", 2, []string{"p"}, 2, 2)
			tt.edit(&nr)
			if _, err := s.StartRun(ctx, nr); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("StartRun error %v, want one containing %q", err, tt.wantErr)
			}
			// The transaction rolled back: no run, model, prompt or plan row.
			n := queryString(t, s.db, `SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM models) + (SELECT count(*) FROM prompts) + (SELECT count(*) FROM run_samples)`)
			if n != "0" {
				t.Errorf("%s rows left after a failed StartRun, want 0", n)
			}
		})
	}
}

// TestOpenOldDatabase opens databases created by earlier releases
// (testdata/schema-vN.sql is the schema version N created). Open accepts a
// database by its schema_version alone, so a database it accepts must have
// exactly the tables and columns this build creates; a change of
// schema.sql needs a new SchemaVersion and a migration, or Open must refuse
// the old file as older. Beyond the columns, the migrated database has the
// sqlite_master of a new one: the same tables and indexes, declared
// alike. Comments and layout may differ: migrate_v3.sql rebuilt the
// tables of versions 1 and 2 from statements without schema.sql's column
// comments.
func TestOpenOldDatabase(t *testing.T) {
	t.Parallel()
	fresh := openStore(t)
	wantColumns, wantMaster := columns(t, fresh.db), withoutComments(sortedMaster(t, fresh.db))
	for v := 1; v < SchemaVersion; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			path := oldDatabase(t, v, "")
			old, err := Open(context.Background(), path)
			if err != nil {
				t.Fatalf("Open of a version %d database: %v", v, err)
			}
			defer old.Close()
			got := columns(t, old.db)
			var lacks, extra []string
			for _, c := range wantColumns {
				if !slices.Contains(got, c) {
					lacks = append(lacks, c)
				}
			}
			for _, c := range got {
				if !slices.Contains(wantColumns, c) {
					extra = append(extra, c)
				}
			}
			if len(lacks) > 0 || len(extra) > 0 {
				t.Errorf("Open accepted a version %d database at schema version %d, but it lacks columns %v and has extra columns %v "+
					"compared with a new database: bump SchemaVersion and migrate, or create what is missing", v, SchemaVersion, lacks, extra)
			}
			if d := masterDiff(withoutComments(sortedMaster(t, old.db)), wantMaster); d != "" {
				t.Errorf("a version %d database migrated to %d differs from a new one:\n%s", v, SchemaVersion, d)
			}
		})
	}
}

// oldDatabase creates a database with the schema of version v and runs
// data (SQL) in it, and returns its path.
func oldDatabase(t *testing.T, v int, data string) string {
	t.Helper()
	schema, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("schema-v%d.sql", v)))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("v%d.db", v))
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(string(schema) + fmt.Sprintf(`; INSERT INTO meta (key, value) VALUES ('schema_version', '%d');`, v) + data); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMigrateVersion2Keeps checks that the v2 → v3 migration keeps every
// run, plan entry, sample and score, and that the migrated database takes
// new samples.
func TestMigrateVersion2Keeps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := oldDatabase(t, 2, `
INSERT INTO runs (id, suite_name, suite_hash, suite_source, suite_json, salt, status, planned, version, created_at, updated_at)
  VALUES (1, 's', 'h', 'builtin:s', '{}', '', 'interrupted', 4, 'v', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
INSERT INTO models (id, run_id, idx, role, seed, condition, base_url, model, settings) VALUES (1, 1, 0, 'student', '', '', 'http://h/v1', 'm', '{}');
INSERT INTO prompts (id, run_id, probe, idx, text) VALUES (1, 1, 'animal', 0, 'Favourite?'), (2, 1, 'animal', 1, 'Best?');
INSERT INTO run_samples (run_id, key, model_id, prompt_id, draw) VALUES
  (1, 'ka', 1, 1, 0), (1, 'kb', 1, 1, 1), (1, 'kc', 1, 2, 0), (1, 'kd', 1, 2, 1);
INSERT INTO samples (key, run_id, probe, prompt_idx, draw, base_url, model, completion, finish_reason, prompt_tokens, completion_tokens,
    latency_ms, attempts, batch, request_seed, error, http_status, created_at) VALUES
  ('ka', 1, 'animal', 0, 0, 'http://h/v1', 'm', 'Owl.', 'stop', 5, 2, 12.5, 1, 1, 42, NULL, NULL, '2026-01-01T00:00:01Z'),
  ('kc', 1, 'animal', 1, 0, 'http://h/v1', 'm', NULL, NULL, NULL, NULL, 30, 3, 1, NULL, 'HTTP 500', 500, '2026-01-01T00:00:02Z'),
  ('kb', 1, 'animal', 0, 1, 'http://h/v1', 'm', 'Dog.', 'stop', 5, 2, 11, 1, 1, NULL, NULL, NULL, '2026-01-01T00:00:03Z');
INSERT INTO scores (key, scorer, target, valid, hit, value, label) VALUES
  ('ka', 'mentions:1', 'owl', 1, 1, NULL, ''), ('kb', 'mentions:1', 'owl', 1, 0, NULL, ''),
  ('ka', 'judge:2', 'owl', 0, 0, 87.5, 'refusal');
`)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c, err := s.Counts(ctx, 1); err != nil || c != (RunCounts{Planned: 4, Stored: 3, Failed: 1}) {
		t.Errorf("Counts = %+v, %v; want 4 planned, 3 stored, 1 failed", c, err)
	}
	var got []string
	for _, scorer := range []string{"mentions:1", "judge:2"} {
		for r, err := range s.Rows(ctx, 1, func(string) string { return scorer }) {
			if err != nil {
				t.Fatal(err)
			}
			line := fmt.Sprintf("%s p%d d%d stored=%v", scorer, r.Prompt, r.Draw, r.Stored)
			if r.Stored {
				sm := r.Sample
				line += fmt.Sprintf(" %s %q err=%q tokens=%d+%d latency=%v attempts=%d", sm.Key, sm.Completion, sm.Err, sm.PromptTokens, sm.CompletionTokens, sm.Latency, sm.Attempts)
				if sm.RequestSeed != nil {
					line += fmt.Sprintf(" seed=%d", *sm.RequestSeed)
				}
			}
			for _, sc := range r.Scores {
				line += fmt.Sprintf(" [%s valid=%v hit=%v value=%v label=%q]", sc.Target, sc.Valid, sc.Hit, sc.Value, sc.Label)
			}
			got = append(got, line)
		}
	}
	want := []string{
		`mentions:1 p0 d0 stored=true ka "Owl." err="" tokens=5+2 latency=12.5ms attempts=1 seed=42 [owl valid=true hit=true value=NaN label=""]`,
		`mentions:1 p0 d1 stored=true kb "Dog." err="" tokens=5+2 latency=11ms attempts=1 [owl valid=true hit=false value=NaN label=""]`,
		`mentions:1 p1 d0 stored=true kc "" err="HTTP 500" tokens=0+0 latency=30ms attempts=3`,
		`mentions:1 p1 d1 stored=false`,
		`judge:2 p0 d0 stored=true ka "Owl." err="" tokens=5+2 latency=12.5ms attempts=1 seed=42 [owl valid=false hit=false value=87.5 label="refusal"]`,
		`judge:2 p0 d1 stored=true kb "Dog." err="" tokens=5+2 latency=11ms attempts=1`,
		`judge:2 p1 d0 stored=true kc "" err="HTTP 500" tokens=0+0 latency=30ms attempts=3`,
		`judge:2 p1 d1 stored=false`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("after migration:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The migrated database takes new samples and scores: the failed draw
	// is retried, the missing one drawn.
	retry := withScores(okSample(PlannedSample{Key: "kc", Probe: "animal", Prompt: 1, Draw: 0}, 1, "Cat."), "mentions:1", miss("owl"))
	drawn := withScores(okSample(PlannedSample{Key: "kd", Probe: "animal", Prompt: 1, Draw: 1}, 1, "Owl!"), "mentions:1", hit("owl"))
	if err := s.Put(ctx, []Sample{retry, drawn}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Counts(ctx, 1); err != nil || c != (RunCounts{Planned: 4, Stored: 4, Failed: 0}) {
		t.Errorf("Counts after Put = %+v, %v; want 4 planned, 4 stored, 0 failed", c, err)
	}
	if n, err := s.Unscored(ctx, 1, "animal", "mentions:1"); err != nil || n != 0 {
		t.Errorf("Unscored = %d, %v; want 0", n, err)
	}
}

// columns lists the table.column names of a database.
func columns(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT m.name || '.' || c.name FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
