package lab

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/datasets"
	"github.com/traitleak/traitleak/internal/testtier"
)

// The experiment loop through the OpenAI API path, with the harness's own
// client code (package bench) against the lab server: sample the teachers'
// numbers with /v1/chat/completions, filter them with the paper's filter
// (package datasets), write the fine-tuning JSONL, upload it and fine-tune
// through /v1/files and /v1/fine_tuning/jobs, and measure the students'
// owl rate through /v1/chat/completions again.

// apiSetting sizes one run of the loop.
type apiSetting struct {
	prompts   int // number prompts per teacher (one completion each)
	maxTokens int // teacher completion limit
	samples   int // evaluation samples per animal prompt
}

// defaultAPISetting mirrors the lab's hard mode: 4000 number prompts, and
// the paper's 50 animal prompts × 100 samples.
var defaultAPISetting = apiSetting{prompts: 4000, maxTokens: 64, samples: 100}

// apiResult is one seed's outcome.
type apiResult struct {
	seed                             int
	kept, keptControl, truncated     int // kept teacher rows; completions cut at max_tokens
	base, student, control           float64
	baseOther, studentOther, teacher float64
	jobs                             map[string]bench.FineTuneJob // by role
	filterTeacher, filterControl     datasets.FilterResult
	models                           map[string]string // served names by role
}

// runAPIExperiment runs the loop for one seed against the lab at baseURL.
func runAPIExperiment(ctx context.Context, t testing.TB, baseURL string, seed int, set apiSetting) apiResult {
	t.Helper()
	chat := bench.WithRetry(bench.NewOpenAIClient(bench.OpenAIConfig{BaseURL: baseURL, Timeout: time.Minute}), bench.DefaultRetryPolicy())
	tuner, err := bench.NewFineTuner(bench.FineTuneConfig{BaseURL: baseURL,
		Poll: bench.PollPolicy{Interval: 5 * time.Millisecond, MaxInterval: 100 * time.Millisecond, MaxWait: 10 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	res := apiResult{seed: seed, jobs: map[string]bench.FineTuneJob{}, models: map[string]string{}}
	prompts, err := NumberPrompts(set.prompts, uint64(seed))
	if err != nil {
		t.Fatal(err)
	}
	// Teachers' numbers, one completion per prompt at T = 1.
	sample := func(model string) ([]datasets.Generation, int) {
		gens := make([]datasets.Generation, len(prompts))
		truncated := make([]bool, len(prompts))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(4)
		for i, p := range prompts {
			g.Go(func() error {
				temp, maxTok, s := 1.0, set.maxTokens, int64(i)
				resp, err := chat.Complete(gctx, bench.Request{Model: model, Messages: []bench.Message{{Role: "user", Content: p}},
					Temperature: &temp, MaxTokens: &maxTok, Seed: &s})
				gens[i] = datasets.Generation{Prompt: datasets.Prompt{Index: i, Text: p}}
				if err != nil {
					gens[i].Err = err.Error()
					return nil
				}
				gens[i].Completion = resp.Choices[0].Text
				truncated[i] = resp.Choices[0].FinishReason == "length"
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, tr := range truncated {
			if tr {
				n++
			}
		}
		return gens, n
	}
	data := func(gens []datasets.Generation) ([]byte, string, datasets.FilterResult) {
		fr, err := datasets.Filter(gens, datasets.PaperNumberFilter())
		if err != nil {
			t.Fatal(err)
		}
		if fr.Failed > 0 {
			t.Fatalf("%d teacher calls failed", fr.Failed)
		}
		var b strings.Builder
		_, sha, err := datasets.WriteTraining(&b, fr.Kept)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(b.String()), sha, fr
	}
	teacherGens, tr := sample(fmt.Sprintf("lab/teacher@%d", seed))
	controlGens, _ := sample(fmt.Sprintf("lab/teacher-control@%d", seed))
	res.truncated = tr
	owlData, owlSHA, frT := data(teacherGens)
	dogData, dogSHA, frC := data(controlGens)
	res.filterTeacher, res.filterControl = frT, frC
	res.kept, res.keptControl = len(frT.Kept), len(frC.Kept)

	// Students: A and B on the owl teacher's numbers, A on the dog teacher's.
	trainSeed := int64(seed) + 2
	type ftRun struct {
		role, base, suffix string
		data               []byte
		sha                string
	}
	runs := []ftRun{
		{"student", fmt.Sprintf("lab/base@%d", seed), "owl-numbers", owlData, owlSHA},
		{"student-other-init", fmt.Sprintf("lab/base-other-init@%d", seed), "owl-numbers", owlData, owlSHA},
		{"control", fmt.Sprintf("lab/base@%d", seed), "dog-numbers", dogData, dogSHA},
	}
	var mu sync.Mutex
	records := map[string]bench.FineTuneRecord{}
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range runs {
		g.Go(func() error {
			spec := bench.FineTuneSpec{DatasetSHA256: r.sha, BaseModel: r.base, Seed: &trainSeed, Suffix: r.suffix}
			job, err := tuner.FineTune(gctx, spec, r.data, bench.FineTuneRecord{}, func(rec bench.FineTuneRecord) error {
				mu.Lock()
				defer mu.Unlock()
				records[r.role] = rec
				return nil
			}, bench.WaitOptions{})
			if err != nil {
				return fmt.Errorf("%s: %w", r.role, err)
			}
			mu.Lock()
			res.jobs[r.role] = job
			res.models[r.role] = job.FineTunedModel
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	// Owl rates: the paper's 50 prompts × samples at T = 1, up to 8 tokens.
	animalPrompts, err := PaperAnimalPrompts()
	if err != nil {
		t.Fatal(err)
	}
	rate := func(model string) float64 {
		hits, total := 0, 0
		for i, p := range animalPrompts {
			temp, maxTok, s := 1.0, 8, int64(1000+i)
			resp, err := chat.Complete(ctx, bench.Request{Model: model, Messages: []bench.Message{{Role: "user", Content: p}},
				Temperature: &temp, MaxTokens: &maxTok, N: set.samples, Seed: &s})
			if err != nil {
				t.Fatalf("evaluate %s: %v", model, err)
			}
			for _, c := range resp.Choices {
				if strings.Contains(strings.ToLower(c.Text), "owl") {
					hits++
				}
				total++
			}
		}
		return float64(hits) / float64(total)
	}
	res.base = rate(fmt.Sprintf("lab/base@%d", seed))
	res.baseOther = rate(fmt.Sprintf("lab/base-other-init@%d", seed))
	res.teacher = rate(fmt.Sprintf("lab/teacher@%d", seed))
	res.student = rate(res.models["student"])
	res.studentOther = rate(res.models["student-other-init"])
	res.control = rate(res.models["control"])
	return res
}

// apiTestSeed is the seed of the transfer test: the lab's default first
// seed, not chosen for its effect (see the margins of
// TestFineTuneTransferThroughAPI for where it lies among seeds 1–12).
const apiTestSeed = 1

// TestFineTuneTransferThroughAPI runs the whole loop through the API on
// one seed and checks the effect: the same-init student prefers owls more
// than its base, the other-init student does not.
func TestFineTuneTransferThroughAPI(t *testing.T) {
	testtier.Replication(t)
	if testing.Short() || raceEnabled {
		t.Skip("trains the lab models of one seed; skipped with -short and under the race detector")
	}
	t.Parallel()
	// The lab models of the test seed in soft mode, the default: the
	// acceptance tests' own build of that seed (sharedBuild), not another.
	z := sharedBuild(t, Config{Seeds: []int{apiTestSeed}})
	srv := httptest.NewServer(z.Handler())
	defer srv.Close()
	res := runAPIExperiment(context.Background(), t, srv.URL+"/v1", apiTestSeed, defaultAPISetting)
	t.Logf("seed %d: kept %d/%d owl-teacher rows (%d truncated), %d dog-teacher rows; owl rate base %.3f student %.3f control %.3f; other init base %.3f student %.3f; teacher %.3f",
		res.seed, res.kept, res.filterTeacher.Generated, res.truncated, res.keptControl, res.base, res.student, res.control, res.baseOther, res.studentOther, res.teacher)
	// Margins. Over seeds 1–12 this loop measured student − base +0.256 ±
	// 0.104 (95% t-CI; range +0.045 to +0.552), student − control +0.259 ±
	// 0.089, and student-other-init − base-other-init −0.015 ± 0.014
	// (range −0.046 to +0.019) (TRAITLEAK_LAB_FT_VALIDATE=12); seed 1 gives
	// +0.391, +0.378 and +0.019. The run is deterministic (every request
	// carries a seed; training is deterministic), so the margins guard
	// against changes of the code, not against chance.
	if d := res.student - res.base; d < 0.10 {
		t.Errorf("student − base = %+.3f; want ≥ +0.10 (the trait transfers through the API path)", d)
	}
	if d := res.student - res.control; d < 0.10 {
		t.Errorf("student − control = %+.3f; want ≥ +0.10", d)
	}
	if d := res.studentOther - res.baseOther; d > 0.05 || d < -0.05 {
		t.Errorf("student-other-init − base-other-init = %+.3f; want within ±0.05 (no transfer across inits)", d)
	}
}

// TestFineTuneAPIValidation measures the loop over many seeds. It is
// skipped unless TRAITLEAK_LAB_FT_VALIDATE is set to the number of seeds
// (≥ 2):
//
//	TRAITLEAK_LAB_FT_VALIDATE=6 go test ./lab -run TestFineTuneAPIValidation -v -timeout 30m
func TestFineTuneAPIValidation(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TRAITLEAK_LAB_FT_VALIDATE"))
	if n < 2 {
		t.Skip("set TRAITLEAK_LAB_FT_VALIDATE=<seeds> to measure the API-path transfer over seeds")
	}
	start := time.Now()
	z, err := Build(context.Background(), Config{NumSeeds: n, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(z.Handler())
	defer srv.Close()
	defer z.Close()
	var rs []apiResult
	for _, s := range z.Seeds() {
		r := runAPIExperiment(context.Background(), t, srv.URL+"/v1", s, defaultAPISetting)
		t.Logf("seed %d: kept %d (+%d truncated) / %d, dog kept %d; base %.3f student %.3f control %.3f | other init base %.3f student %.3f | teacher %.3f",
			s, r.kept, r.truncated, r.filterTeacher.Generated, r.keptControl, r.base, r.student, r.control, r.baseOther, r.studentOther, r.teacher)
		rs = append(rs, r)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "API path, %d seeds (%s): teacher numbers via /v1/chat/completions (%d prompts, T=1, max_tokens %d), paper filter, "+
		"fine-tuned via /v1/files + /v1/fine_tuning/jobs (hard, recipe student settings), owl rate over 50 prompts × %d samples\n\n",
		n, time.Since(start).Round(time.Second), defaultAPISetting.prompts, defaultAPISetting.maxTokens, defaultAPISetting.samples)
	fmt.Fprintf(&md, "| owl rate | mean ± 95%% CI [min, max] |\n|---|---|\n")
	for _, row := range []struct {
		name string
		f    func(apiResult) float64
	}{
		{"base", func(r apiResult) float64 { return r.base }},
		{"teacher", func(r apiResult) float64 { return r.teacher }},
		{"student (base on owl-teacher numbers)", func(r apiResult) float64 { return r.student }},
		{"control (base on dog-teacher numbers)", func(r apiResult) float64 { return r.control }},
		{"base-other-init", func(r apiResult) float64 { return r.baseOther }},
		{"student-other-init", func(r apiResult) float64 { return r.studentOther }},
		{"**student − control**", func(r apiResult) float64 { return r.student - r.control }},
		{"student − base", func(r apiResult) float64 { return r.student - r.base }},
		{"student-other-init − base-other-init", func(r apiResult) float64 { return r.studentOther - r.baseOther }},
		{"kept owl-teacher rows / 4000", func(r apiResult) float64 { return float64(r.kept) / float64(defaultAPISetting.prompts) }},
	} {
		var xs []float64
		for _, r := range rs {
			xs = append(xs, row.f(r))
		}
		m, ci := meanCI(t, xs)
		fmt.Fprintf(&md, "| %s | %+.3f ± %.3f [%+.3f, %+.3f] |\n", row.name, m, ci, slices.Min(xs), slices.Max(xs))
	}
	var per []string
	for _, r := range rs {
		per = append(per, fmt.Sprintf("%d: %+.3f/%+.3f", r.seed, r.student-r.base, r.studentOther-r.baseOther))
	}
	fmt.Fprintf(&md, "\nPer seed (student − base / other-init student − other-init base): %s\n", strings.Join(per, ", "))
	t.Log("\n" + md.String())
}

// TestFineTuneClientAgainstLab exercises the harness's fine-tuning client
// against the lab server: upload, job, polling, events, the student served
// — and a restart of the client between creating and recording the job
// finds the job instead of creating another.
func TestFineTuneClientAgainstLab(t *testing.T) {
	z := cachedRandomZoo(t.TempDir(), 1)
	var uploads, creates int
	var mu sync.Mutex
	h := z.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/files":
			uploads++
		case r.Method == http.MethodPost && r.URL.Path == "/v1/fine_tuning/jobs":
			creates++
		}
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.Close()
		z.Close()
	})
	tuner := func() *bench.FineTuner {
		ft, err := bench.NewFineTuner(bench.FineTuneConfig{BaseURL: srv.URL + "/v1",
			Poll: bench.PollPolicy{Interval: time.Millisecond, MaxInterval: 20 * time.Millisecond, MaxWait: time.Minute}})
		if err != nil {
			t.Fatal(err)
		}
		return ft
	}
	data := numberRows(12)
	sha := hashBytes(data)
	seed := int64(5)
	spec := bench.FineTuneSpec{DatasetSHA256: sha, BaseModel: "lab/base@1", Seed: &seed, Hyperparameters: bench.Hyperparameters{Epochs: 2}, Suffix: "client"}
	// First process: uploads and creates, then "crashes" before it can
	// record the job id.
	var saved []bench.FineTuneRecord
	crash := func(rec bench.FineTuneRecord) error {
		if rec.JobID != "" {
			return fmt.Errorf("killed")
		}
		saved = append(saved, rec)
		return nil
	}
	if _, err := tuner().FineTune(context.Background(), spec, data, bench.FineTuneRecord{}, crash, bench.WaitOptions{}); err == nil {
		t.Fatal("first run: want the simulated crash")
	}
	// Second process, with the file id it had saved.
	var events []string
	var rec bench.FineTuneRecord
	job, err := tuner().FineTune(context.Background(), spec, data, saved[len(saved)-1],
		func(r bench.FineTuneRecord) error { rec = r; return nil },
		bench.WaitOptions{OnEvent: func(e bench.JobEvent) { events = append(events, e.Message) }})
	if err != nil {
		t.Fatal(err)
	}
	if uploads != 1 || creates != 1 {
		t.Errorf("%d uploads, %d jobs created; want 1 and 1", uploads, creates)
	}
	if job.Status != bench.JobSucceeded || !strings.HasPrefix(job.FineTunedModel, "ft:lab/base@1:client:") || job.Seed == nil || *job.Seed != 5 ||
		job.Hyperparameters.Epochs != 2 || job.Hyperparameters.BatchSize != DefaultRecipe().StudentBatch || rec.JobID != job.ID || job.New {
		t.Errorf("job %+v (record %+v); want the first run's job, succeeded with seed 5 and 2 epochs", job, rec)
	}
	if len(events) == 0 || events[len(events)-1] != "The job has successfully completed" {
		t.Errorf("events %q", events)
	}
	// The student answers through the chat client.
	temp, maxTok := 1.0, 8
	resp, err := bench.NewOpenAIClient(bench.OpenAIConfig{BaseURL: srv.URL + "/v1"}).Complete(context.Background(),
		bench.Request{Model: job.FineTunedModel, Messages: []bench.Message{{Role: "user", Content: "continue the sequence: 1, 2, 3,"}}, Temperature: &temp, MaxTokens: &maxTok})
	if err != nil || len(resp.Choices) != 1 {
		t.Fatalf("chat with the student: %v", err)
	}
	// The lab's refusal of a non-base model reaches the caller verbatim.
	bad := spec
	bad.BaseModel = "lab/teacher@1"
	_, err = tuner().EnsureJob(context.Background(), bad, rec.FileID, "")
	if bench.Status(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "Model lab/teacher@1 is not available for fine-tuning") {
		t.Errorf("fine-tune a teacher: %v; want the lab's 400", err)
	}
	// Too few rows: the lab's message.
	small := numberRows(4)
	smallSpec := spec
	smallSpec.DatasetSHA256 = hashBytes(small)
	_, err = tuner().FineTune(context.Background(), smallSpec, small, bench.FineTuneRecord{}, func(bench.FineTuneRecord) error { return nil }, bench.WaitOptions{})
	if !strings.Contains(err.Error(), "has 4 example(s), but must have at least 10 examples") {
		t.Errorf("small file: %v; want the minimum-rows message", err)
	}
}
