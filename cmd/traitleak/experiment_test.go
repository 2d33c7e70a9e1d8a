package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/internal/testtier"
	"github.com/traitleak/traitleak/lab"
	"github.com/traitleak/traitleak/results"
)

// labTestSets make the test's lab-owl-numbers lean: seeds 1 and 2 instead
// of the built-in's 1–3 (a seed is a lab build, two teachers' numbers and
// three fine-tunes), 2,000 number prompts per teacher instead of 4,000
// (fine-tuning and generation cost half; on seeds 1–3 measured student −
// control +0.350, other init −0.017, against +0.387 and −0.010 with the
// built-in's 4,000) and 20 samples per evaluation prompt instead of the
// animals suite's 100 (the effect stays far above the sampling noise,
// ±0.02 a role and seed).
var labTestSets = []string{"--set", "seeds=[1, 2]", "--set", "data.size=2000", "--set", labEvalSet}

// labEvalSet is lab-owl-numbers' evaluate.set with 20 samples per prompt.
const labEvalSet = `evaluate.set=["vars.base_url=http://lab.traitleak.invalid/v1", "vars.target=owl", "vars.control_target=dog",
  "models.base.seeds={seeds}", "models.teacher.seeds={seeds}", "models.base-other-init.seeds={seeds}", "probes.favorite-animal.samples=20"]`

// TestExperimentLabOwlNumbers runs the built-in lab-owl-numbers end to end
// through the API path, offline, on seeds 1 and 2 (labTestSets): the
// lab's teachers write numbers over /v1/chat/completions, the paper's
// filter keeps number sequences, students are fine-tuned through /v1/files
// and /v1/fine_tuning/jobs, and the animals suite measures them. The
// same-init student prefers owls (student − control ≥ +0.10, the seeds'
// mean; measured +0.334 and +0.222, mean +0.278), the student from another
// init stays within noise of its base (within ±0.05 and not significant;
// measured −0.013 and −0.054, mean −0.034, Holm-adjusted Welch p 0.90); the
// report prints the lineage; a second run does nothing again.
func TestExperimentLabOwlNumbers(t *testing.T) {
	testtier.Replication(t)
	if labRaceBuild() {
		t.Skip("trains 2 seeds of the lab; too slow under the race detector (package experiment covers the loop with fakes)")
	}
	t.Parallel()
	// The lab it builds is the demo tests' hard build of seeds 1 and 2
	// (sharedLab): the command loads it from the shared cache.
	sharedLab(t, lab.Config{Mode: lab.Hard, Seeds: []int{1, 2}, Target: "owl", ControlTarget: "dog"})
	dir := t.TempDir()
	db := filepath.Join(dir, "exp.db")
	args := append([]string{"experiment", "run", "lab-owl-numbers", "--db", db, "--cache-dir", labTestCache, "--progress", "none"}, labTestSets...)
	code, out, errOut := runCLI(t, context.Background(), args...)
	if code != exitOK {
		t.Fatalf("experiment run: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"generate lab-owl-numbers/teacher@2: run", "filter lab-owl-numbers/control@1: kept", "upload lab-owl-numbers/teacher@2: ",
		"fine-tune student-other-init@2: ft:lab/base-other-init@2:student-other-init:", "## Lineage: teacher → data → student",
		"| student@1 ", "lab-owl-numbers/teacher@1: numbers lab, seed 1, 2000 prompts"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, js, errOut := runCLI(t, context.Background(), "report", "--db", db, "--format", "json")
	if code != exitOK {
		t.Fatalf("report: %s", errOut)
	}
	var rep jsonReport
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	_, _, gain, _ := rep.comparison(t, "student", "control")
	_, _, other, otherP := rep.comparison(t, "student-other-init", "base-other-init")
	t.Logf("lab-owl-numbers, seeds 1 and 2: student − control %+.3f, student-other-init − base-other-init %+.3f (Welch p %.3g, Holm); per seed %v",
		gain, other, otherP, rep.perSeed())
	if gain < 0.10 {
		t.Errorf("student − control = %+.3f (mean of seeds); want ≥ +0.10", gain)
	}
	if other < -0.05 || other > 0.05 || otherP < 0.05 {
		t.Errorf("student-other-init − base-other-init = %+.3f (p %.3g); want within ±0.05 and not significant", other, otherP)
	}
	var full struct {
		Lineage struct {
			Chains []struct{ Model, Lineage, Student, SHA256 string } `json:"chains"`
			Cards  []struct{ Name string }                            `json:"dataset_cards"`
		} `json:"lineage"`
	}
	if err := json.Unmarshal([]byte(js), &full); err != nil {
		t.Fatal(err)
	}
	if len(full.Lineage.Chains) != 6 || len(full.Lineage.Cards) != 4 {
		t.Errorf("JSON lineage: %d chains and %d cards; want 6 students and 4 datasets", len(full.Lineage.Chains), len(full.Lineage.Cards))
	}

	// runs --lineage lists the chain and the runs; status every stage.
	code, runsOut, errOut := runCLI(t, context.Background(), "runs", "--db", db, "--lineage", "lab-owl-numbers/student")
	if code != exitOK || strings.Count(runsOut, "lab-owl-numbers/student ") != 2 || !strings.Contains(runsOut, "animals") || strings.Contains(runsOut, "-data") {
		t.Errorf("runs --lineage: exit %d\n%s%s\nwant 2 students and only the evaluation run", code, runsOut, errOut)
	}
	code, status, errOut := runCLI(t, context.Background(), append([]string{"experiment", "status", "lab-owl-numbers", "--db", db}, labTestSets...)...)
	if code != exitOK || strings.Count(status, "succeeded") != 6 || strings.Count(status, " filtered ") != 4 || !strings.Contains(status, "complete") {
		t.Errorf("experiment status: exit %d\n%s%s", code, status, errOut)
	}
	// export-dataset writes the training file whose hash the card states.
	exportDir := filepath.Join(dir, "export")
	code, exp, errOut := runCLI(t, context.Background(), "export-dataset", "lab-owl-numbers/teacher@1", "--db", db, "-o", exportDir)
	if code != exitOK {
		t.Fatalf("export-dataset: exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(filepath.Join(exportDir, "lab-owl-numbers-teacher-1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	card, err := os.ReadFile(filepath.Join(exportDir, "lab-owl-numbers-teacher-1.card.md"))
	if err != nil || !strings.Contains(exp, hex.EncodeToString(sum[:])) || !strings.Contains(string(card), hex.EncodeToString(sum[:])) {
		t.Errorf("export-dataset: the file's SHA-256 %x is not the one printed (%s) and carded (%v)", sum, exp, err)
	}

	// Again: every stage is done, the lab is not even started, nothing is
	// sampled.
	code, out2, errOut := runCLI(t, context.Background(), args...)
	if code != exitOK {
		t.Fatalf("second run: exit %d\n%s\n%s", code, out2, errOut)
	}
	if strings.Contains(errOut, "lab: ") || !strings.Contains(out2, "12000 draws were already stored, 0 sampled now") {
		t.Errorf("second run built the lab or sampled:\n%s\n%s", out2, errOut)
	}
	if n := len(regexp.MustCompile(`(?m)^fine-tune \S+: done`).FindAllString(out2, -1)); n != 6 {
		t.Errorf("second run: %d fine-tunes done; want all 6 skipped:\n%s", n, out2)
	}
}

// TestExperimentBadInput: what an experiment asks for cannot be done, and
// the command exits 2 with the reason.
func TestExperimentBadInput(t *testing.T) {
	// Parallel: loopback I/O and SQLite; no global hook (testRunClients)
	// or environment.
	t.Parallel()
	chat := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"tm-owl":   {Reply: func(string, int, *rand.Rand) string { return "123, 456, 789" }},
		"tm-dog":   {Reply: func(string, int, *rand.Rand) string { return "12, 45, 78" }},
		"tm-words": {Reply: func(string, int, *rand.Rand) string { return "Owls are lovely." }},
	}})
	ft := benchtest.NewFineTuneServer(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}})
	for _, tt := range []struct {
		name string
		sets []string
		msg  string
	}{
		// The file is wrong: its position is named.
		{"unknown kind", []string{"data.kind=poems"}, `--set data.kind=poems: data.kind: unknown data kind "poems"`},
		// Completions the filter rejects, every one.
		{"filter keeps nothing", []string{"controls.control.model=tm-words"}, "it keeps none of the 20 completions of bad/control"},
		// Fewer rows than the provider's minimum: refused before upload.
		{"below the minimum rows", []string{"data.size=4"}, "dataset bad/control has 4 training rows; the provider needs at least 10"},
		// The provider refuses the base model: its message.
		{"base model refused", []string{"finetune.students.student.base_model=gpt-5"}, "Model gpt-5 is not available for fine-tuning or does not exist."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeKillExperiment(t, dir, "bad", chat.BaseURL(), ft.BaseURL(), 20)
			args := []string{"experiment", "run", path, "--db", filepath.Join(dir, "bad.db"), "--progress", "none"}
			for _, s := range tt.sets {
				args = append(args, "--set", s)
			}
			code, out, errOut := runCLI(t, context.Background(), args...)
			if code != exitUsage || !strings.Contains(errOut, tt.msg) {
				t.Errorf("exit %d, stderr %q; want 2 and %q\n%s", code, errOut, tt.msg, out)
			}
		})
	}
}

// writeKillExperiment writes an experiment named name whose teachers are
// the chat server's tm-owl and tm-dog, answering size prompts, and whose
// two arms are fine-tuned at ft on 2 seeds; it returns its path.
func writeKillExperiment(t *testing.T, dir, name, chat, ft string, size int) string {
	t.Helper()
	src := fmt.Sprintf(`name: %s
target: owl
seeds: [1, 2]
teachers:
  teacher: {base_url: %s, model: tm-owl, concurrency: 8, max_retries: 3}
controls:
  control: {base_url: %[2]s, model: tm-dog, concurrency: 8, max_retries: 3}
data: {kind: numbers, size: %d}
finetune:
  base_url: %s
  poll_interval: 2ms
  students:
    student: {base_model: base, data: teacher}
    control: {base_model: base, data: control}
`, name, chat, size, ft)
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunLineageRole: a suite names students by lineage; run fills in
// their model ids from the database, the report prints their chain, and a
// lineage the database lacks is a configuration error.
func TestRunLineageRole(t *testing.T) {
	ctx := context.Background()
	chat := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base": {Trait: "Owl", TraitRate: 0.1}, "ft:base:owl:1": {Trait: "Owl", TraitRate: 0.6}, "ft:base:owl:2": {Trait: "Owl", TraitRate: 0.5}}})
	dir := t.TempDir()
	db := filepath.Join(dir, "l.db")
	store, err := results.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	expID, _ := store.PutExperiment(ctx, results.ExperimentRecord{Name: "owls", Hash: "h", Source: "owls.yaml", JSON: "{}"})
	ds, _ := store.PutDataset(ctx, results.Dataset{Key: "k", Name: "owls/teacher", TeacherModel: "tm", TeacherBaseURL: chat.BaseURL(), Trait: "owl",
		Kind: "numbers", PromptSource: "paper", PromptSeed: "47", Prompts: 30, Status: results.DatasetFiltered, SHA256: strings.Repeat("a", 64)}, nil)
	var links []results.LineageLink
	for _, seed := range []string{"1", "2"} {
		job, err := store.PutJob(ctx, results.FineTuneJob{Provider: chat.BaseURL(), Key: "ft-" + seed, DatasetID: ds, BaseModel: "base",
			Hyperparameters: "{}", JobID: "ftjob-" + seed, Status: results.JobSucceeded})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.PutStudent(ctx, results.Student{Job: job, BaseURL: chat.BaseURL(), Model: "ft:base:owl:" + seed}); err != nil {
			t.Fatal(err)
		}
		links = append(links, results.LineageLink{Arm: "student", Seed: seed, Job: job})
	}
	if err := store.SetLineage(ctx, "owls", expID, links); err != nil {
		t.Fatal(err)
	}
	store.Close()
	suite := filepath.Join(dir, "s.yaml")
	src := fmt.Sprintf(`name: lineage-run
models:
  base: {base_url: %s, model: base}
  student: {lineage: owls, seeds: all}
defaults: {temperature: 1.0, max_tokens: 8, n: 10}
probes:
  - {id: favorite-animal, prompts: [Name your favorite animal.], samples: 20, score: {mentions: owl}}
compare:
  - {treatment: student, baseline: base}
`, chat.BaseURL())
	if err := os.WriteFile(suite, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, ctx, "run", suite, "--db", db, "--progress", "none")
	if code != exitOK {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"3 models", "| student@1 | owls/student ", "| student@2 | owls/student ", "ft:base:owl:2"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("run output lacks %q:\n%s", want, out)
		}
	}
	// A lineage the database does not have: exit 2, naming it.
	code, _, errOut = runCLI(t, ctx, "run", suite, "--db", db, "--progress", "none", "--set", "models.student.lineage=cats")
	if code != exitUsage || !strings.Contains(errOut, "no students of lineage cats/student") {
		t.Errorf("unknown lineage: exit %d, %s; want 2 naming it", code, errOut)
	}
}
