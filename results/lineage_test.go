package results

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// lineageFixture records one experiment with a dataset, an upload, two
// jobs (seeds 1 and 2; only seed 1 has a student) and its lineage, and
// returns the store and the rows' ids.
func lineageFixture(t *testing.T) (s *Store, expID, datasetID, uploadID, job1, job2 int64) {
	t.Helper()
	ctx := context.Background()
	s = openStore(t)
	var err error
	if expID, err = s.PutExperiment(ctx, ExperimentRecord{Name: "exp", Hash: "h1", Source: "exp.yaml", JSON: "{}"}); err != nil {
		t.Fatal(err)
	}
	d := Dataset{Key: "dk", Name: "exp/teacher", Teacher: "teacher", TeacherBaseURL: "http://t/v1", TeacherModel: "tm", Trait: "owl", Kind: "numbers",
		Filter: "paper(0,999,10)", PromptSource: "paper", PromptSeed: "47", Prompts: 30, Status: DatasetGenerating}
	if datasetID, err = s.PutDataset(ctx, d, nil); err != nil {
		t.Fatal(err)
	}
	d.GenerateRunID = 0
	d.Status, d.Generated, d.Failed, d.Rejected, d.Kept, d.Rows = DatasetFiltered, 30, 2, 8, 20, 20
	d.SHA256, d.Card = strings.Repeat("a", 64), []byte(`{"name":"exp/teacher"}`)
	if id, err := s.PutDataset(ctx, d, []byte("{\"messages\":[]}\n")); err != nil || id != datasetID {
		t.Fatalf("PutDataset again = %d, %v; want the same id %d", id, err, datasetID)
	}
	if uploadID, err = s.PutUpload(ctx, Upload{Provider: "http://p/v1", SHA256: d.SHA256, FileID: "file-1", Bytes: 16}); err != nil {
		t.Fatal(err)
	}
	seed := int64(1)
	j := FineTuneJob{Provider: "http://p/v1", Key: "ft-1", APIKeyEnv: "KEY", DatasetID: datasetID, BaseModel: "base", Seed: &seed,
		Hyperparameters: `{"n_epochs":10}`, Suffix: "student"}
	if job1, err = s.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	j.UploadID, j.JobID, j.Status = uploadID, "ftjob-1", "running"
	if id, err := s.PutJob(ctx, j); err != nil || id != job1 {
		t.Fatalf("PutJob again = %d, %v; want the same id %d", id, err, job1)
	}
	j2 := FineTuneJob{Provider: "http://p/v1", Key: "ft-2", DatasetID: datasetID, BaseModel: "base", Hyperparameters: "{}", Suffix: "student",
		Status: "failed", Message: "too few rows"}
	if job2, err = s.PutJob(ctx, j2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutStudent(ctx, Student{Job: job1, BaseURL: "http://p/v1", Model: "ft:base:student:1", APIKeyEnv: "KEY"}); err != nil {
		t.Fatal(err)
	}
	j.Status = JobSucceeded
	if _, err := s.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLineage(ctx, "exp", expID, []LineageLink{{Arm: "student", Seed: "1", Job: job1}, {Arm: "student", Seed: "2", Job: job2}}); err != nil {
		t.Fatal(err)
	}
	return s, expID, datasetID, uploadID, job1, job2
}

func TestLineageRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, expID, datasetID, uploadID, job1, job2 := lineageFixture(t)
	// The same content is the same experiment.
	if id, err := s.PutExperiment(ctx, ExperimentRecord{Name: "exp", Hash: "h1", Source: "other.yaml", JSON: "{}"}); err != nil || id != expID {
		t.Errorf("PutExperiment of the same hash = %d, %v; want %d", id, err, expID)
	}
	chains, err := s.Lineage(ctx, LineageFilter{Experiment: "exp"})
	if err != nil {
		t.Fatal(err)
	}
	if len(chains) != 2 {
		t.Fatalf("%d chains; want 2 (seeds 1 and 2)", len(chains))
	}
	c := chains[0]
	// Seed 1: every artefact, with the updates of the second Puts.
	if c.Ref() != "exp/student" || c.Seed != "1" || c.Dataset.ID != datasetID || c.Dataset.Status != DatasetFiltered || c.Dataset.Kept != 20 ||
		c.Dataset.SHA256 != strings.Repeat("a", 64) || string(c.Dataset.Card) != `{"name":"exp/teacher"}` || c.Dataset.PromptSeed != "47" {
		t.Errorf("chain 0 dataset %+v", c.Dataset)
	}
	if c.Upload == nil || c.Upload.ID != uploadID || c.Upload.FileID != "file-1" {
		t.Errorf("chain 0 upload %+v; want file-1", c.Upload)
	}
	if c.Job.ID != job1 || c.Job.JobID != "ftjob-1" || c.Job.Status != JobSucceeded || c.Job.Seed == nil || *c.Job.Seed != 1 ||
		c.Job.Hyperparameters != `{"n_epochs":10}` || c.Job.APIKeyEnv != "KEY" {
		t.Errorf("chain 0 job %+v", c.Job)
	}
	if c.Student == nil || c.Student.Model != "ft:base:student:1" {
		t.Errorf("chain 0 student %+v", c.Student)
	}
	// Seed 2: a failed job without upload or student.
	if c := chains[1]; c.Seed != "2" || c.Job.ID != job2 || c.Job.Message != "too few rows" || c.Job.Seed != nil || c.Upload != nil || c.Student != nil {
		t.Errorf("chain 1 %+v", c)
	}
	if b, err := s.DatasetTraining(ctx, datasetID); err != nil || string(b) != "{\"messages\":[]}\n" {
		t.Errorf("DatasetTraining = %q, %v", b, err)
	}
	if st, err := s.StudentOf(ctx, job2); !errors.Is(err, ErrNotFound) {
		t.Errorf("StudentOf(failed job) = %+v, %v; want ErrNotFound", st, err)
	}
	// The filter: by arm; an unknown experiment has none.
	if cs, _ := s.Lineage(ctx, ParseLineageFilter("exp/control")); len(cs) != 0 {
		t.Errorf("exp/control has %d chains; want 0", len(cs))
	}
	if cs, _ := s.Lineage(ctx, ParseLineageFilter("")); len(cs) != 2 {
		t.Errorf("every lineage has %d chains; want 2", len(cs))
	}
	// A later run of the experiment with one seed replaces its rows.
	if err := s.SetLineage(ctx, "exp", expID, []LineageLink{{Arm: "student", Seed: "1", Job: job1}}); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.Lineage(ctx, LineageFilter{Experiment: "exp", Arm: "student"}); len(cs) != 1 || cs[0].Seed != "1" {
		t.Errorf("after SetLineage with seed 1 only: %d chains", len(cs))
	}
}

func TestLineageRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, expID, _, _, _, _ := lineageFixture(t)
	// Run 1 samples the student (endpoint written with a trailing "/");
	// run 2 samples other models; run 3 is the experiment's generation.
	nr := fixture("eval", "", 2, []string{"p"}, 1, 1)
	nr.Instances[1].BaseURL, nr.Instances[1].ModelID = "http://p/v1/", "ft:base:student:1"
	eval := startRun(t, s, nr)
	other := startRun(t, s, fixture("other", "", 1, []string{"p"}, 1, 1))
	gen := startRun(t, s, fixture("gen", "", 1, []string{"p"}, 1, 1))
	if err := s.LinkRun(ctx, expID, gen.ID, "generate"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ref  string
		want []int64
	}{
		{"exp", []int64{gen.ID, eval.ID}}, // the runs it made and those that sampled its students, newest first
		{"exp/student", []int64{eval.ID}}, // an arm: only runs that sampled its students
		{"", []int64{gen.ID, eval.ID}},    // every lineage
		{"nope", nil},                     // none
	} {
		got, err := s.LineageRuns(ctx, tt.ref)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("LineageRuns(%q) = %v, %v; want %v (run %d samples nothing of it)", tt.ref, got, err, tt.want, other.ID)
		}
	}
	chains, err := s.RunLineage(ctx, eval.ID)
	if err != nil || len(chains) != 1 || chains[0].Student.Model != "ft:base:student:1" {
		t.Errorf("RunLineage = %+v, %v; want the one student", chains, err)
	}
	if chains, err := s.RunLineage(ctx, other.ID); err != nil || len(chains) != 0 {
		t.Errorf("RunLineage(other) = %d chains, %v; want none", len(chains), err)
	}
	if ids, err := s.ExperimentRuns(ctx, "exp", "generate"); err != nil || !reflect.DeepEqual(ids, []int64{gen.ID}) {
		t.Errorf("ExperimentRuns = %v, %v; want [%d]", ids, err, gen.ID)
	}
}

func TestLineageNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	if _, err := s.DatasetByKey(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DatasetByKey = %v; want ErrNotFound", err)
	}
	if _, err := s.UploadOf(ctx, "p", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("UploadOf = %v; want ErrNotFound", err)
	}
	if _, err := s.JobOf(ctx, "p", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("JobOf = %v; want ErrNotFound", err)
	}
	if _, err := s.DatasetTraining(ctx, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("DatasetTraining = %v; want ErrNotFound", err)
	}
}
