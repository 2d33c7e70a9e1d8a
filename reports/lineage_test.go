package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/datasets"
	"github.com/traitleak/traitleak/results"
)

// TestLineageSection: a run that sampled a student an experiment recorded
// prints the chain from teacher to student, and the dataset's card, in
// every format; a run without one prints nothing of it (the goldens).
func TestLineageSection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := results.Open(ctx, filepath.Join(t.TempDir(), "run.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runID := storeRun(t, st)
	if l, err := LoadLineage(ctx, st, runID); err != nil || l != nil {
		t.Fatalf("LoadLineage before any experiment = %+v, %v; want nil", l, err)
	}
	// The stored suite's student@a is served as student-a at
	// http://127.0.0.1:1/v1: make it a recorded student.
	card, err := datasets.NewCard(datasets.CardInput{Name: "exp/teacher", Kind: datasets.KindNumbers, Target: "owl",
		Filter: datasets.FilterResult{Generated: 3, Kept: []datasets.Generation{{Completion: "1, 2"}}}, Rows: []datasets.Generation{{Completion: "1, 2"}},
		LeakWords: []string{"owl"}})
	if err != nil {
		t.Fatal(err)
	}
	cardJSON, _ := card.JSON()
	expID, _ := st.PutExperiment(ctx, results.ExperimentRecord{Name: "exp", Hash: "h", Source: "exp.yaml", JSON: "{}"})
	d, err := st.PutDataset(ctx, results.Dataset{Key: "k", Name: "exp/teacher", TeacherBaseURL: "http://t/v1", TeacherModel: "teacher-model",
		Trait: "owl", Kind: "numbers", PromptSource: "paper", PromptSeed: "47", Prompts: 3, Status: results.DatasetFiltered, Generated: 3, Kept: 1, Rows: 1,
		SHA256: card.SHA256, Card: cardJSON}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seed := int64(7)
	job, err := st.PutJob(ctx, results.FineTuneJob{Provider: "http://127.0.0.1:1/v1", Key: "ft-1", DatasetID: d, BaseModel: "base-model", Seed: &seed,
		Hyperparameters: `{"n_epochs":10}`, JobID: "ftjob-42", Status: results.JobSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutStudent(ctx, results.Student{Job: job, BaseURL: "http://127.0.0.1:1/v1/", Model: "student-a"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetLineage(ctx, "exp", expID, []results.LineageLink{{Arm: "student", Seed: "1", Job: job}}); err != nil {
		t.Fatal(err)
	}
	l, err := LoadLineage(ctx, st, runID)
	if err != nil || l == nil || len(l.Chains) != 1 || len(l.Cards) != 1 {
		t.Fatalf("LoadLineage = %+v, %v; want one chain and its card", l, err)
	}
	d2, err := Load(ctx, st, runID)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Analyze(d2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Lineage = l
	var md, page, sum bytes.Buffer
	if err := Markdown(&md, a); err != nil {
		t.Fatal(err)
	}
	if err := HTML(&page, a); err != nil {
		t.Fatal(err)
	}
	if err := Summary(&sum, a); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	row := "| student@a | exp/student | teacher-model at http://t/v1 | exp/teacher: numbers paper, seed 47, 3 prompts, 1 of 3 kept, 1 rows |"
	for name, b := range map[string]string{"markdown": md.String(), "summary": sum.String()} {
		if !strings.Contains(strings.Join(strings.Fields(b), " "), strings.Join(strings.Fields(row), " ")) ||
			!strings.Contains(b, `ftjob-42 on base-model, seed 7, n\_epochs 10 (succeeded)`) {
			t.Errorf("%s lacks the chain %q:\n%s", name, row, b)
		}
	}
	if !strings.Contains(md.String(), "### Dataset card: exp/teacher") || strings.Contains(sum.String(), "### Dataset card") {
		t.Errorf("the card belongs in the report, not in the summary")
	}
	if !strings.Contains(page.String(), `<section id="lineage">`) || !strings.Contains(page.String(), "<code>ftjob-42</code>") ||
		!strings.Contains(page.String(), "Dataset card: exp/teacher") {
		t.Errorf("HTML lacks the lineage section")
	}
	if !bytes.Contains(js, []byte(`"lineage":{"chains":[{"model":"student@a","lineage":"exp/student"`)) {
		t.Errorf("JSON lacks the lineage: %s", js)
	}
}
