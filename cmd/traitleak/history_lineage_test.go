package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
)

// lineageDB makes a database with the students of lineage owls/student
// (seeds 1 and 2) and dogs/student (never sampled), and three runs: 1 and
// 3 sample the owls students (a suite naming them by lineage, the second
// time with --fresh), 2 is a run of another suite the owls experiment
// recorded as its own (as it records its generation runs, which sample
// teachers, not students).
func lineageDB(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	chat := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base": {Trait: "Owl", TraitRate: 0.1}, "ft:base:owl:1": {Trait: "Owl", TraitRate: 0.6}, "ft:base:owl:2": {Trait: "Owl", TraitRate: 0.5},
		"tm": {Trait: "Owl", TraitRate: 0.9}}})
	dir := t.TempDir()
	db := filepath.Join(dir, "lineage.db")
	store, err := results.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var owls int64
	for _, exp := range []string{"owls", "dogs"} {
		expID, err := store.PutExperiment(ctx, results.ExperimentRecord{Name: exp, Hash: "h-" + exp, Source: exp + ".yaml", JSON: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		if exp == "owls" {
			owls = expID
		}
		ds, err := store.PutDataset(ctx, results.Dataset{Key: "k-" + exp, Name: exp + "/teacher", TeacherModel: "tm", TeacherBaseURL: chat.BaseURL(), Trait: "owl",
			Kind: "numbers", PromptSource: "paper", PromptSeed: "47", Prompts: 30, Status: results.DatasetFiltered, SHA256: strings.Repeat("a", 64)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var links []results.LineageLink
		for _, seed := range []string{"1", "2"} {
			job, err := store.PutJob(ctx, results.FineTuneJob{Provider: chat.BaseURL(), Key: exp + "-" + seed, DatasetID: ds, BaseModel: "base",
				Hyperparameters: "{}", JobID: "ftjob-" + exp + seed, Status: results.JobSucceeded})
			if err != nil {
				t.Fatal(err)
			}
			model := "ft:base:" + strings.TrimSuffix(exp, "s") + ":" + seed
			if _, err := store.PutStudent(ctx, results.Student{Job: job, BaseURL: chat.BaseURL(), Model: model}); err != nil {
				t.Fatal(err)
			}
			links = append(links, results.LineageLink{Arm: "student", Seed: seed, Job: job})
		}
		if err := store.SetLineage(ctx, exp, expID, links); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	suite := func(name, student string) string {
		path := filepath.Join(dir, name+".yaml")
		src := fmt.Sprintf(`name: %s
models:
  base: {base_url: %s, model: base}
  student: %s
defaults: {temperature: 1.0, max_tokens: 8, n: 10}
probes:
  - {id: favorite-animal, prompts: [Name your favorite animal., Which animal is best?], samples: 20, score: {mentions: owl}}
compare:
  - {treatment: student, baseline: base}
`, name, chat.BaseURL(), student)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	byLineage := suite("by-lineage", "{lineage: owls, seeds: all}")
	teachers := suite("teachers", fmt.Sprintf("{base_url: %s, model: tm}", chat.BaseURL()))
	for _, args := range [][]string{{byLineage}, {teachers}, {byLineage, "--fresh"}} {
		if code, out, errOut := runCLI(t, ctx, append(append([]string{"run"}, args...), "--db", db, "--progress", "none")...); code != exitOK {
			t.Fatalf("run %v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	store, err = results.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.LinkRun(ctx, owls, 2, "generate"); err != nil {
		t.Fatal(err)
	}
	// What history must leave out: run 2 is among the lineage's runs as
	// runs --lineage lists them.
	if ids, err := store.LineageRuns(ctx, "owls"); err != nil || !slices.Equal(ids, []int64{3, 2, 1}) {
		t.Fatalf("LineageRuns(owls) = %v, %v; want [3 2 1]", ids, err)
	}
	return db
}

// historyPoints runs history with args and returns, per series
// (role), the runs of its points as DB:ID.
func historyPoints(t *testing.T, args ...string) map[string][]string {
	t.Helper()
	code, js, errOut := runCLI(t, context.Background(), append([]string{"history", "--format", "json"}, args...)...)
	if code != exitOK {
		t.Fatalf("history %v: exit %d\n%s", args, code, errOut)
	}
	var h struct {
		Series []struct {
			Role   string `json:"model"`
			Points []struct {
				DB    string `json:"db"`
				RunID int64  `json:"run_id"`
			} `json:"points"`
		} `json:"series"`
	}
	if err := json.Unmarshal([]byte(js), &h); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, s := range h.Series {
		for _, p := range s.Points {
			out[s.Role] = append(out[s.Role], fmt.Sprintf("%s:%d", filepath.Base(p.DB), p.RunID))
		}
	}
	return out
}

// TestHistoryLineage: history --lineage keeps the runs that sampled the
// lineage's students, oldest first, across databases; the experiment's
// own runs of other models are not among them.
func TestHistoryLineage(t *testing.T) {
	db := lineageDB(t)
	for _, ref := range []string{"owls", "owls/student"} {
		got := historyPoints(t, "--db", db, "--lineage", ref)
		want := []string{"lineage.db:1", "lineage.db:3"}
		if !slices.Equal(got["student"], want) || !slices.Equal(got["base"], want) || len(got) != 2 {
			t.Errorf("history --lineage %s: %v; want runs 1 and 3 for base and student", ref, got)
		}
	}
	// With --model, the student alone.
	if got := historyPoints(t, "--db", db, "--lineage", "owls", "--model", "student"); len(got) != 1 || len(got["student"]) != 2 {
		t.Errorf("history --lineage owls --model student: %v; want the student's series of 2 runs", got)
	}
	// Two databases (a CI job's copy): the runs of both, by start time,
	// the first database first when runs started together.
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(other, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got := historyPoints(t, db, other, "--lineage", "owls", "--model", "student")
	if want := []string{"lineage.db:1", "copy.db:1", "lineage.db:3", "copy.db:3"}; !slices.Equal(got["student"], want) {
		t.Errorf("history over two databases: %v; want %v", got["student"], want)
	}
}

// TestHistoryLineageBadInput: a lineage no database records, one whose
// students no run sampled, and a malformed reference exit 2 naming what
// is wrong, storing nothing.
func TestHistoryLineageBadInput(t *testing.T) {
	// Parallel: loopback I/O and SQLite; no global hook (testRunClients)
	// or environment.
	t.Parallel()
	db := lineageDB(t)
	empty := filepath.Join(t.TempDir(), "empty.db")
	st, err := results.Open(context.Background(), empty)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--db", db, "--lineage", "cats"}, "unknown lineage cats in " + db + " (its lineages: dogs/student, owls/student)"},
		{[]string{"--db", db, "--lineage", "owls/control"}, "unknown lineage owls/control in " + db},
		{[]string{"--db", empty, "--lineage", "owls"}, "unknown lineage owls: " + empty + " records no experiment's students"},
		{[]string{"--db", db, "--lineage", "dogs/student"}, "lineage dogs/student: no run in " + db + " sampled its students"},
		{[]string{"--db", db, "--lineage", ""}, `--lineage "": want EXPERIMENT or EXPERIMENT/ARM`},
		{[]string{"--db", db, "--lineage", "owls/"}, `--lineage "owls/": want EXPERIMENT or EXPERIMENT/ARM`},
		{[]string{"--db", db, "--lineage", "owls/student/1"}, `--lineage "owls/student/1": want EXPERIMENT or EXPERIMENT/ARM`},
		// The lineage's runs, then the history's own checks.
		{[]string{"--db", db, "--lineage", "owls", "--model", "teacher"}, "no run has model role teacher"},
	} {
		before := analysesCount(t, db)
		code, out, errOut := runCLI(t, context.Background(), append([]string{"history"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("history %v: exit %d, stderr %q; want exit 2 and %q\n%s", tc.args, code, errOut, tc.want, out)
		}
		if n := analysesCount(t, db); n != before {
			t.Errorf("history %v stored %d analyses", tc.args, n-before)
		}
	}
}
