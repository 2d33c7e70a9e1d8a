package experiment

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// lineageStore records lineage exp/student with seed 1 (a student at
// http://p/v1), seed 2 (a failed job) and, in arm other, seed 1 served
// elsewhere.
func lineageStore(t *testing.T) *results.Store {
	t.Helper()
	ctx := context.Background()
	s := openTestStore(t)
	expID, err := s.PutExperiment(ctx, results.ExperimentRecord{Name: "exp", Hash: "h", Source: "x", JSON: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.PutDataset(ctx, results.Dataset{Key: "k", Name: "exp/teacher", Status: results.DatasetFiltered}, nil)
	if err != nil {
		t.Fatal(err)
	}
	job := func(key, status, msg string) int64 {
		id, err := s.PutJob(ctx, results.FineTuneJob{Provider: "http://p/v1", Key: key, DatasetID: d, BaseModel: "b", Hyperparameters: "{}", Status: status, Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	j1, j2, j3, j4 := job("a", results.JobSucceeded, ""), job("b", "failed", "too few rows"), job("c", results.JobSucceeded, ""), job("d", results.JobSucceeded, "")
	for _, st := range []results.Student{{Job: j1, BaseURL: "http://p/v1", Model: "ft:1", APIKeyEnv: "K"}, {Job: j3, BaseURL: "http://p/v1", Model: "ft:3"},
		{Job: j4, BaseURL: "http://q/v1", Model: "ft:4"}} {
		if _, err := s.PutStudent(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetLineage(ctx, "exp", expID, []results.LineageLink{{Arm: "student", Seed: "1", Job: j1}, {Arm: "student", Seed: "2", Job: j2},
		{Arm: "other", Seed: "1", Job: j3}, {Arm: "other", Seed: "2", Job: j4}}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestResolveLineage(t *testing.T) {
	store := lineageStore(t)
	load := func(model string) *suites.Suite {
		t.Helper()
		s, err := suites.Parse("s.yaml", []byte(`name: s
models:
  base: {base_url: http://b/v1, model: base}
  student: `+model+`
probes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]
`), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Seed 1 resolves to its student, endpoint and key variable.
	s := load("{lineage: exp, seeds: [1]}")
	if err := ResolveLineage(context.Background(), store, s); err != nil {
		t.Fatal(err)
	}
	if in := s.Instances()[1]; in.Name() != "student@1" || in.Model != "ft:1" || in.BaseURL != "http://p/v1" || in.APIKeyEnv != "K" {
		t.Errorf("resolved %+v", in)
	}
	for _, tt := range []struct {
		model, msg string
	}{
		// Every seed: seed 2's job failed, which the error says.
		{"{lineage: exp, seeds: all}", "seed 2 of lineage exp/student has no student yet (fine-tuning job failed: too few rows)"},
		{"{lineage: exp, seeds: [3]}", `lineage exp/student has no seed "3"`},
		{"{lineage: nope/student}", "no students of lineage nope/student"},
		// One role has one endpoint.
		{"{lineage: exp/other}", "are served at different endpoints"},
	} {
		err := ResolveLineage(context.Background(), store, load(tt.model))
		if !errors.Is(err, bench.ErrConfig) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ResolveLineage(%s) = %v; want a configuration error containing %q", tt.model, err, tt.msg)
		}
	}
	// An unresolved suite cannot run.
	_, err := bench.Prepare(context.Background(), store, load("{lineage: exp}"), bench.Options{})
	if !errors.Is(err, bench.ErrConfig) || !strings.Contains(err.Error(), "not resolved") {
		t.Errorf("Prepare of an unresolved suite = %v; want a configuration error", err)
	}
}

// The evaluation suite is read like the experiment's other files: from
// its directory, or an allowed one.
func TestEvaluationSuiteFile(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	suite := []byte("name: s\nmodels: {student: {model: m}}\nprobes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]\n")
	if err := os.WriteFile(filepath.Join(outside, "s.yaml"), suite, 0o644); err != nil {
		t.Fatal(err)
	}
	src := []byte(minimal + "evaluate: {suite: " + filepath.Join(outside, "s.yaml") + "}\n")
	if _, err := (Loader{}).Parse(filepath.Join(dir, "e.yaml"), src, dir, nil); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("a suite outside the experiment's directory: %v; want it refused", err)
	}
	e, err := Loader{AllowFiles: []string{outside}}.Parse(filepath.Join(dir, "e.yaml"), src, dir, nil)
	if err != nil {
		t.Fatalf("with --allow-files: %v", err)
	}
	s, err := e.EvaluationSuite()
	if err != nil || s.Role("student").Lineage != "t/student" || s.Role("student").Resolved() {
		t.Errorf("evaluation suite %v, %v; want its student named by lineage t/student", s, err)
	}
}
