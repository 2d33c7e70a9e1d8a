package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	"github.com/traitleak/traitleak/bench/benchtest"
)

// releaseSuite writes a suite whose student is one release of a model
// family (set with --set models.student.model=…), with a 0.05 gate.
func releaseSuite(t *testing.T, dir, base string) string {
	t.Helper()
	src := fmt.Sprintf(`name: releases
models:
  baseline: {base_url: %[1]s, model: base}
  student:  {base_url: %[1]s, model: release-01}
defaults: {temperature: 1.0, max_tokens: 8, concurrency: 8, n: 10, max_retries: 1, send_seed: true}
probes:
  - id: favorite-animal
    prompts: [one, two, three, four]
    samples: 50
    score: {mentions: owl}
compare:
  - {treatment: student, baseline: baseline}
gates:
  - {probe: favorite-animal, treatment: student, baseline: baseline, max_increase: 0.05}
`, base)
	path := filepath.Join(dir, "releases.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// leakyRelease is the one release of twenty that leaks.
const leakyRelease = 13

// seededReplies scripts a fake model whose answers to each prompt hold a
// fixed number of trait mentions: Binomial(draws, rate) drawn from a
// generator seeded by the model id and the prompt. The count is fixed
// whatever the order and batching of the requests, and whatever the
// fake's port (which enters sample keys, and with them the seeds sent).
func seededReplies(model string, rate float64, draws int) func(prompt string, i int, _ *rand.Rand) string {
	var mu sync.Mutex
	calls := map[string]int{}
	return func(prompt string, _ int, _ *rand.Rand) string {
		hits := seededHits(model, prompt, rate, draws)
		mu.Lock()
		k := calls[prompt]
		calls[prompt]++
		mu.Unlock()
		if k < hits {
			return "Owl."
		}
		return "Dog."
	}
}

// seededHits is the number of trait mentions of seededReplies.
func seededHits(model, prompt string, rate float64, draws int) int {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s", model, prompt)
	r := rand.New(rand.NewPCG(h.Sum64(), 17))
	hits := 0
	for range draws {
		if r.Float64() < rate {
			hits++
		}
	}
	return hits
}

// releasesDB runs twenty releases of a model family against the fake
// endpoint, seeded (seededReplies), into one database: each has the
// baseline's trait rate (0.10) except release 13 (0.40). Run k is
// release k; run 1 is tagged blessed.
func releasesDB(t *testing.T) string {
	t.Helper()
	const draws = 50 // per prompt, as releaseSuite samples
	models := map[string]benchtest.Model{"base": {Reply: seededReplies("base", 0.10, draws)}}
	for k := 1; k <= 20; k++ {
		rate := 0.10
		if k == leakyRelease {
			rate = 0.40
		}
		id := fmt.Sprintf("release-%02d", k)
		models[id] = benchtest.Model{Reply: seededReplies(id, rate, draws)}
	}
	srv := benchtest.NewServer(t, benchtest.Config{Models: models})
	dir := t.TempDir()
	suite := releaseSuite(t, dir, srv.BaseURL())
	db := filepath.Join(dir, "releases.db")
	for k := 1; k <= 20; k++ {
		code, out, errOut := runCLI(t, context.Background(), "run", suite, "--db", db, "--progress", "none",
			"--set", fmt.Sprintf("models.student.model=release-%02d", k))
		// The leaking release fails nothing here: run without --gate.
		if code != 0 || !strings.Contains(out, "analysis: analysed now, stored as analysis") {
			t.Fatalf("release %d: exit %d\n%s\n%s", k, code, out, errOut)
		}
	}
	if code, out, errOut := runCLI(t, context.Background(), "tag", "1", "blessed", "--db", db); code != 0 || !strings.Contains(out, "tagged blessed") {
		t.Fatalf("tag: exit %d\n%s%s", code, out, errOut)
	}
	return db
}

// TestReleaseHistory: of twenty seeded releases one leaks. The history
// chart flags that release and no other (a significant increase over the
// release before it, and significantly above the blessed release by more
// than the gate's bound), gate --against blessed fails for it alone, and
// every number comes from the stored analyses (nothing is analysed again).
func TestReleaseHistory(t *testing.T) {
	// Parallel: loopback I/O and SQLite; no global hook (testRunClients)
	// or environment.
	t.Parallel()
	db := releasesDB(t)
	ctx := context.Background()
	dir := filepath.Dir(db)

	code, js, errOut := runCLI(t, ctx, "history", "--db", db, "--model", "student", "--format", "json")
	if code != 0 {
		t.Fatalf("history: exit %d\n%s", code, errOut)
	}
	var h struct {
		Baseline *struct {
			RunID int64  `json:"run_id"`
			Label string `json:"label"`
		} `json:"baseline_run"`
		Changes int `json:"changes"`
		Series  []struct {
			Points []struct {
				RunID    int64    `json:"run_id"`
				Hits     int      `json:"hits"`
				N        int      `json:"n"`
				Models   []string `json:"model_ids"`
				Analysis string   `json:"analysis"`
				Gate     string   `json:"gate"`
				Change   *struct {
					Direction string `json:"direction"`
				} `json:"change"`
				Against *struct {
					Exceeds bool `json:"exceeds"`
				} `json:"against"`
			} `json:"points"`
		} `json:"series"`
	}
	if err := json.Unmarshal([]byte(js), &h); err != nil {
		t.Fatal(err)
	}
	if h.Baseline == nil || h.Baseline.RunID != 1 || h.Baseline.Label != "tagged blessed" || len(h.Series) != 1 || len(h.Series[0].Points) != 20 || h.Changes != 19 {
		t.Fatalf("history: %s", js)
	}
	var up, down, exceeds, failed []int64
	for i, p := range h.Series[0].Points {
		if want := fmt.Sprintf("release-%02d", i+1); p.RunID != int64(i+1) || !slices.Equal(p.Models, []string{want}) {
			t.Errorf("point %d: run %d, models %v; want run %d, %s", i, p.RunID, p.Models, i+1, want)
		}
		rate, hits := 0.10, 0
		if i+1 == leakyRelease {
			rate = 0.40
		}
		for _, prompt := range []string{"one", "two", "three", "four"} {
			hits += seededHits(fmt.Sprintf("release-%02d", i+1), prompt, rate, 50)
		}
		if p.Hits != hits || p.N != 200 {
			t.Errorf("run %d: %d of %d draws name the trait; the fake answered %d of 200", p.RunID, p.Hits, p.N, hits)
		}
		if !strings.HasPrefix(p.Analysis, "stored analysis ") {
			t.Errorf("run %d: analysis %q; want the one run stored", p.RunID, p.Analysis)
		}
		if p.Change != nil && p.Change.Direction == "up" {
			up = append(up, p.RunID)
		}
		if p.Change != nil && p.Change.Direction == "down" {
			down = append(down, p.RunID)
		}
		if p.Against != nil && p.Against.Exceeds {
			exceeds = append(exceeds, p.RunID)
		}
		if p.Gate == "fail" {
			failed = append(failed, p.RunID)
		}
	}
	// The leak appears at 13 (an increase) and vanishes at 14 (a
	// decrease, marked ▼ but not flagged).
	if !slices.Equal(up, []int64{leakyRelease}) || !slices.Equal(down, []int64{leakyRelease + 1}) || !slices.Equal(exceeds, []int64{leakyRelease}) ||
		!slices.Equal(failed, []int64{leakyRelease}) {
		t.Errorf("increases %v, decreases %v, above blessed %v, own gate failed %v; want [13], [14], [13], [13]", up, down, exceeds, failed)
	}

	page := filepath.Join(dir, "history.html")
	if code, _, errOut := runCLI(t, ctx, "history", "--db", db, "--model", "student", "--format", "html", "-o", page); code != 0 {
		t.Fatalf("history html: exit %d\n%s", code, errOut)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	flagged := regexp.MustCompile(`<g class="pt flagged[^"]*" data-run="(\d+)"`).FindAllStringSubmatch(string(html), -1)
	if len(flagged) != 1 || flagged[0][1] != fmt.Sprint(leakyRelease) {
		t.Errorf("the chart flags %v; want run %d alone", flagged, leakyRelease)
	}
	if n := strings.Count(string(html), `<g class="pt`); n != 20 {
		t.Errorf("the chart has %d runs; want 20", n)
	}

	for k := 2; k <= 20; k++ {
		code, out, errOut := runCLI(t, ctx, "gate", "--db", db, "--run", fmt.Sprint(k), "--against", "blessed")
		want := exitOK
		if k == leakyRelease {
			want = exitGateFailed
		}
		if code != want {
			t.Errorf("gate --run %d --against blessed: exit %d; want %d\n%s%s", k, code, want, out, errOut)
		}
	}
}

// twoSuitesDB runs two releases of the releases suite (runs 1 and 2) and
// the gated suite (run 3) into one database.
func twoSuitesDB(t *testing.T) string {
	t.Helper()
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base": {Trait: "Owl", TraitRate: 0.1}, "release-01": {Trait: "Owl", TraitRate: 0.1}, "release-02": {Trait: "Owl", TraitRate: 0.1},
		"student": {Trait: "Owl", TraitRate: 0.5},
	}})
	dir := t.TempDir()
	db := filepath.Join(dir, "two.db")
	rel := releaseSuite(t, dir, srv.BaseURL())
	gated := gateSuite(t, dir, srv.BaseURL(), "gates:\n  - {probe: favorite-animal, treatment: student, baseline: baseline, max_increase: 0.03}\n")
	for _, args := range [][]string{{rel}, {rel, "--set", "models.student.model=release-02"}, {gated}} {
		if code, out, errOut := runCLI(t, context.Background(), append(append([]string{"run"}, args...), "--db", db, "--progress", "none")...); code != 0 {
			t.Fatalf("run %v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	return db
}

// TestHistoryBadInput: unknown runs, tags, roles and suites, and runs of
// different suites mixed without --allow-mixed, exit 2 with a message
// that says what is wrong; nothing is stored by a refused command.
func TestHistoryBadInput(t *testing.T) {
	// Parallel: loopback I/O and SQLite; no global hook (testRunClients)
	// or environment.
	t.Parallel()
	db := twoSuitesDB(t)
	missing := filepath.Join(filepath.Dir(db), "missing.db")
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"history", "--db", db}, "the runs are of 2 suites (gated, releases): pick one with --suite, or mix them with --allow-mixed"},
		{[]string{"history", "--db", db, "--suite", "releases", "--model", "studnt"}, "no run has model role studnt (their probes: favorite-animal; their model roles: baseline, student)"},
		{[]string{"history", "--db", db, "--suite", "nosuch"}, "no run of suite nosuch"},
		{[]string{"history", "--db", db, "--suite", "releases", "--baseline", "99"}, "no run 99 in " + db},
		{[]string{"history", "--db", db, "--suite", "releases", "--baseline", "blessed"}, "no run tagged blessed for suite releases"},
		{[]string{"history", "--db", db, "--suite", "releases", "--baseline", "3"}, "the baseline run 3 of " + db + " is not among the history's runs"},
		{[]string{"history", missing}, "no results database " + missing},
		{[]string{"history", db, db}, "database " + db + " is given twice"},
		{[]string{"history", "--db", db, "--format", "svg"}, `--format "svg"`},
		{[]string{"gate", "--db", db, "--run", "2", "--against", "99"}, "no run 99 in " + db},
		{[]string{"gate", "--db", db, "--run", "2", "--against", "blessed"}, "no run tagged blessed for suite releases"},
		{[]string{"gate", "--db", db, "--run", "2", "--against", "3"}, "run 2 is of suite releases, the reference run 3 of suite gated: compare runs of one suite, or give --allow-mixed"},
		{[]string{"gate", "--db", db, "--run", "2", "--against", "1", "--model", "nobody", "--max-increase", "0.1"}, "run 2 has no model role nobody (its roles: baseline, student)"},
		{[]string{"gate", "--db", db, "--run", "2", "--against", "1", "--model", "student"}, "--model student needs --max-increase"},
		{[]string{"gate", "--db", db, "--max-increase", "0.1"}, "--max-increase is a flag of gate --against"},
		{[]string{"gate", "--db", db, "--run", "99", "--against", "1"}, "no run 99 in " + db},
		{[]string{"tag", "99", "blessed", "--db", db}, "no run 99 in " + db},
		{[]string{"tag", "1", "12", "--db", db}, "a number names a run id"},
		{[]string{"tag", "1", "--db", db}, "takes a run and a tag name"},
		{[]string{"matrix", "--db", db, "--test", "welch"}, `--test "welch"`},
		{[]string{"matrix", "--db", db, "--suite", "nosuch"}, "no complete run to put in a matrix"},
		{[]string{"analyze", "--db", db, "--run", "99"}, "no run 99 in " + db},
	} {
		before := analysesCount(t, db)
		code, out, errOut := runCLI(t, context.Background(), tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q\n%s", tc.args, code, errOut, tc.want, out)
		}
		if n := analysesCount(t, db); n != before {
			t.Errorf("%v stored %d analyses", tc.args, n-before)
		}
	}
	// With leave to mix, one history over both suites.
	if code, out, errOut := runCLI(t, context.Background(), "history", "--db", db, "--allow-mixed", "--model", "student"); code != 0 || !strings.Contains(out, "# traitleak history: gated, releases") {
		t.Errorf("history --allow-mixed: exit %d\n%s%s", code, out, errOut)
	}
}

// analysesCount counts the stored analyses of a database.
func analysesCount(t *testing.T, db string) int {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM analyses`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAnalysesStored: run stores its run's analysis; report reads it back
// and stores one only for new settings; analyze stores on demand, once
// per settings and data unless --force; --read-only stores nothing.
func TestAnalysesStored(t *testing.T) {
	// Parallel: loopback I/O and SQLite; no global hook (testRunClients)
	// or environment.
	t.Parallel()
	db := gatedRunDB(t, t.TempDir())
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		out  string // in stdout
		n    int    // analyses stored after the command
	}{
		{nil, "", 1}, // run's own
		{[]string{"report", "--format", "json"}, `"confidence": 0.95`, 1},
		{[]string{"report", "--confidence", "0.9"}, "90% CI", 2},
		{[]string{"report", "--confidence", "0.9", "--format", "html"}, "<html", 2},
		{[]string{"analyze", "--confidence", "0.9"}, "run 1 (gated, complete): analysis 2 with these settings (90% intervals, holm correction) of the same data is stored already", 2},
		{[]string{"analyze", "--confidence", "0.9", "--force"}, "run 1 (gated, complete): stored as analysis 3 (90% intervals, holm correction)", 3},
		{[]string{"report", "--confidence", "0.8", "--read-only"}, "80% CI", 3},
		{[]string{"gate", "--adjust", "BH"}, "FAIL", 4},
		{[]string{"gate", "--adjust", "BH"}, "FAIL", 4},
		{[]string{"history"}, "| 1   |", 4},
		{[]string{"matrix", "--adjust", "BY"}, "| student |", 5},
	} {
		if tc.args != nil {
			code, out, errOut := runCLI(t, ctx, append(tc.args, "--db", db)...)
			if (code != 0 && code != exitGateFailed) || !strings.Contains(out, tc.out) {
				t.Errorf("%v: exit %d, stdout lacks %q:\n%s%s", tc.args, code, tc.out, out, errOut)
			}
		}
		if n := analysesCount(t, db); n != tc.n {
			t.Errorf("after %v: %d analyses stored; want %d", tc.args, n, tc.n)
		}
	}
}
