package main

import (
	"context"
	"database/sql"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/bench/benchtest"
)

// againstDB runs three releases of the releases suite, seeded
// (seededReplies): 1 (blessed) and 3 at the baseline's rate 0.10, 2
// leaking at 0.40.
func againstDB(t *testing.T) string {
	t.Helper()
	const draws = 50
	models := map[string]benchtest.Model{"base": {Reply: seededReplies("base", 0.10, draws)}}
	for k, rate := range map[int]float64{1: 0.10, 2: 0.40, 3: 0.10} {
		id := fmt.Sprintf("release-%02d", k)
		models[id] = benchtest.Model{Reply: seededReplies(id, rate, draws)}
	}
	srv := benchtest.NewServer(t, benchtest.Config{Models: models})
	dir := t.TempDir()
	suite := releaseSuite(t, dir, srv.BaseURL())
	db := filepath.Join(dir, "against.db")
	for k := 1; k <= 3; k++ {
		if code, out, errOut := runCLI(t, context.Background(), "run", suite, "--db", db, "--progress", "none",
			"--set", fmt.Sprintf("models.student.model=release-%02d", k)); code != exitOK {
			t.Fatalf("release %d: exit %d\n%s%s", k, code, out, errOut)
		}
	}
	if code, out, errOut := runCLI(t, context.Background(), "tag", "1", "blessed", "--db", db); code != exitOK {
		t.Fatalf("tag: exit %d\n%s%s", code, out, errOut)
	}
	return db
}

// junitDoc is what gate --junit writes, as far as the tests read it.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Suites   []struct {
		Name       string `xml:"name,attr"`
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
			} `xml:"error"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junitDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%s: %d test suites; want 1\n%s", path, len(doc.Suites), b)
	}
	return doc
}

// TestGateAgainstJUnit: gate --against blessed --junit writes the
// comparison with the blessed run as JUnit, a test case per check, failed
// when the release leaks beyond the bound; the exit code agrees with the
// file. A reference run that did not complete makes every check an error
// in the file (and exit 3), never a pass.
func TestGateAgainstJUnit(t *testing.T) {
	// Parallel: loopback I/O and SQLite; no global hook (testRunClients)
	// or environment.
	t.Parallel()
	ctx := context.Background()
	db := againstDB(t)
	dir := filepath.Dir(db)
	for _, tt := range []struct {
		run      int
		code     int
		failures int
	}{
		{2, exitGateFailed, 1}, // 0.40 against the blessed 0.10: above by more than 0.05, significantly
		{3, exitOK, 0},         // 0.10 against 0.10
	} {
		junit := filepath.Join(dir, fmt.Sprintf("against-%d.xml", tt.run))
		code, out, errOut := runCLI(t, ctx, "gate", "--db", db, "--run", fmt.Sprint(tt.run), "--against", "blessed", "--junit", junit)
		if code != tt.code {
			t.Fatalf("gate --run %d --against blessed: exit %d; want %d\n%s%s", tt.run, code, tt.code, out, errOut)
		}
		doc := readJUnit(t, junit)
		ts := doc.Suites[0]
		name := fmt.Sprintf("student on favorite-animal/owl: run %d against run 1", tt.run)
		if doc.Tests != 1 || doc.Failures != tt.failures || doc.Errors != 0 || len(ts.Cases) != 1 || ts.Cases[0].Name != name ||
			(ts.Cases[0].Failure != nil) != (tt.failures == 1) || !strings.Contains(ts.Cases[0].SystemOut, fmt.Sprintf("run %d student − run 1 student > +0.050", tt.run)) {
			t.Errorf("run %d: JUnit %+v; want one case %q, %d failure", tt.run, doc, name, tt.failures)
		}
		if f := ts.Cases[0].Failure; f != nil && (f.Type != "gate" || f.Message == "") {
			t.Errorf("run %d: failure %+v; want a gate failure with its reason", tt.run, f)
		}
		if !strings.Contains(out, name) {
			t.Errorf("run %d: the output does not name the check %q:\n%s", tt.run, name, out)
		}
	}

	// The blessed run marked failed (as a run with too many failed
	// samples ends): nothing can be trusted against it.
	raw, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE runs SET status = 'failed', message = 'too many failed samples' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	junit := filepath.Join(dir, "against-failed-ref.xml")
	code, out, errOut := runCLI(t, ctx, "gate", "--db", db, "--run", "3", "--against", "blessed", "--junit", junit)
	if code != exitIncomplete || !strings.Contains(errOut, "the reference run 1 is failed, not complete: the comparison cannot be trusted") {
		t.Errorf("against a failed reference: exit %d, stderr %q; want 3 and the reason\n%s", code, errOut, out)
	}
	doc := readJUnit(t, junit)
	if c := doc.Suites[0].Cases; doc.Errors != 1 || doc.Failures != 0 || len(c) != 1 || c[0].Error == nil || c[0].Error.Type != "undecided" ||
		!strings.Contains(c[0].Error.Message, "the reference run 1 is failed") {
		t.Errorf("against a failed reference: JUnit %+v; want the check as an error naming the reference run", doc)
	}

	// Bad --junit targets are refused before anything is compared.
	for _, tc := range []struct {
		junit, want string
	}{
		{db, "is the results database"},
		{dir, "is a directory"},
	} {
		code, _, errOut := runCLI(t, ctx, "gate", "--db", db, "--run", "3", "--against", "1", "--junit", tc.junit)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("--junit %s: exit %d, stderr %q; want 2 and %q", tc.junit, code, errOut, tc.want)
		}
	}
}

// TestAgainstBadInput: the bad input of gate --against and history's
// baselines that TestHistoryBadInput leaves out each exit 2 with a
// message saying what is wrong, storing nothing.
func TestAgainstBadInput(t *testing.T) {
	// Parallel: loopback I/O and SQLite; no global hook (testRunClients)
	// or environment.
	t.Parallel()
	ctx := context.Background()
	db := againstDB(t)
	dir := filepath.Dir(db)
	// Runs 4 and 5: a suite whose only gate is a min_increase gate.
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base": {Trait: "Owl", TraitRate: 0.1}, "student": {Trait: "Owl", TraitRate: 0.5}}})
	gated := gateSuite(t, dir, srv.BaseURL(), "gates:\n  - {probe: favorite-animal, treatment: student, baseline: baseline, min_increase: 0.05}\n")
	for range 2 {
		if code, out, errOut := runCLI(t, ctx, "run", gated, "--db", db, "--progress", "none", "--fresh"); code != exitOK {
			t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
		}
	}
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	copyDB := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(copyDB, b, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.db")
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		// gate --against
		{[]string{"gate", "--db", db, "--run", "2", "--against", "2"}, "--against 2 is run 2 itself"},
		{[]string{"gate", "--db", db, "--run", "2", "--against", "1", "--probe", "favorite-animal"}, "--probe and --target narrow --model"},
		{[]string{"gate", "--db", db, "--run", "2", "--against", "1", "--alpha", "1.5"}, "--alpha 1.5: want a level in (0, 1)"},
		{[]string{"gate", "--db", db, "--run", "2", "--against", "bad tag"}, `run "bad tag": want a run id, latest or a tag`},
		{[]string{"gate", "--db", db, "--run", "2", "--against", missing + ":1"}, "no results database " + missing},
		{[]string{"gate", "--db", db, "--run", "2", "--against", "1", "--model", "student", "--max-increase", "0.1", "--target", "cat"},
			"run 2 has no model role student on target cat (its roles: baseline, student)"},
		{[]string{"gate", "--db", db, "--run", "5", "--against", "4"}, "the suite of run 5 declares no max_increase gate: give --model ROLE and --max-increase"},
		{[]string{"gate", "--db", db, "--run", "5", "--against", "2", "--model", "student", "--max-increase", "0.1"},
			"run 5 is of suite gated, the reference run 2 of suite releases"},
		// history's baseline and levels
		{[]string{"history", "--db", db, "--suite", "releases", "--baseline", "other.db:1"}, `run "other.db:1": database other.db is not one of the history's (` + db + ")"},
		{[]string{"history", "--db", db, "--suite", "releases", "--baseline", "bad tag"}, `run "bad tag": want a run id, latest or a tag`},
		{[]string{"history", db, copyDB, "--suite", "releases", "--baseline", "1"}, `run "1" is ambiguous: ` + db + ":1, " + copyDB + ":1; name one as DB:ID"},
		{[]string{"history", db, copyDB, "--suite", "releases", "--baseline", "blessed"}, `run "blessed" is ambiguous`},
		{[]string{"history", "--db", db, "--suite", "releases", "--confidence", "1"}, "--confidence 1: want a level in (0, 1)"},
		{[]string{"history", "--db", db, "--suite", "releases", "--alpha", "0"}, "--alpha 0: want a level in (0, 1)"},
		{[]string{"history", "--db", db, "--suite", "releases", "--target", "cat"}, "no run has target cat (their probes: favorite-animal"},
		{[]string{"history", "--db", db, "--suite", "releases", "--probe", "trees"}, "no run has probe trees"},
	} {
		before := analysesCount(t, db)
		code, out, errOut := runCLI(t, ctx, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q\n%s", tc.args, code, errOut, tc.want, out)
		}
		if n := analysesCount(t, db); n != before {
			t.Errorf("%v stored %d analyses", tc.args, n-before)
		}
	}
}
