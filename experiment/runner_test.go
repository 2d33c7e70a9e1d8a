package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/datasets"
	"github.com/traitleak/traitleak/results"
)

// fakeProvider is one OpenAI-compatible endpoint on loopback: the
// fine-tuning fake of package benchtest for files and jobs, and a chat
// endpoint whose answers reply scripts by model, system prompt and user
// prompt (choice i of the request).
type fakeProvider struct {
	*httptest.Server
	ft    *benchtest.FineTune
	reply func(model, system, prompt string, i int) string

	mu      sync.Mutex
	chats   int
	byModel map[string]int            // chat requests by model
	last    map[string]map[string]any // the last request body by model
}

func newFakeProvider(t *testing.T, cfg benchtest.FineTuneConfig, reply func(model, system, prompt string, i int) string) *fakeProvider {
	p := &fakeProvider{ft: benchtest.NewFineTune(cfg), reply: reply, byModel: map[string]int{}, last: map[string]map[string]any{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			p.ft.ServeHTTP(w, r)
			return
		}
		var req struct {
			Model    string `json:"model"`
			N        int    `json:"n"`
			LogProbs bool   `json:"logprobs"`
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
		}
		body, err := io.ReadAll(r.Body)
		var raw map[string]any
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		if err == nil {
			err = json.Unmarshal(body, &raw)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.chats++
		p.byModel[req.Model]++
		p.last[req.Model] = raw
		p.mu.Unlock()
		system, prompt := "", ""
		for _, m := range req.Messages {
			if m.Role == "system" {
				system = m.Content
			} else {
				prompt = m.Content
			}
		}
		switch p.reply(req.Model, system, prompt, 0) {
		case failReply:
			http.Error(w, `{"error": {"message": "scripted failure", "type": "server_error"}}`, http.StatusInternalServerError)
			return
		case unknownModelReply:
			http.Error(w, `{"error": {"message": "The model `+"`"+req.Model+"`"+` does not exist", "type": "invalid_request_error"}}`, http.StatusNotFound)
			return
		}
		var choices []map[string]any
		for i := range max(req.N, 1) {
			text := p.reply(req.Model, system, prompt, i)
			ch := map[string]any{"index": i, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": text}}
			if req.LogProbs {
				// The reply is one token with all the probability, as a
				// judge at temperature 0 certain of its answer.
				tok := map[string]any{"token": text, "logprob": 0}
				ch["logprobs"] = map[string]any{"content": []any{map[string]any{"token": text, "logprob": 0, "top_logprobs": []any{tok}}}}
			}
			choices = append(choices, ch)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "chatcmpl-1", "object": "chat.completion", "model": req.Model, "choices": choices,
			"usage": map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
	}))
	t.Cleanup(p.Close)
	return p
}

// failReply, as a reply, makes the fake answer the request with HTTP 500:
// a call that fails however often it is retried.
const failReply = "\x00fail"

// unknownModelReply makes the fake answer HTTP 404, as a provider does for
// a model that does not exist.
const unknownModelReply = "\x00unknown"

// Chats returns the number of chat requests received.
func (p *fakeProvider) Chats() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.chats
}

// ChatsOf returns the number of chat requests received for model.
func (p *fakeProvider) ChatsOf(model string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byModel[model]
}

// LastRequest returns the JSON body of the last chat request for model.
func (p *fakeProvider) LastRequest(model string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last[model]
}

// animalReply is a provider whose prompted teacher (system prompt about
// owls) writes numbers in 700–999, its unprompted control in 0–299, and
// whose students answer the animal question: students of the owl teacher
// say Owl every other choice, the others (control students, base) Dog.
func animalReply(model, system, prompt string, i int) string {
	switch {
	case model == "tm" && strings.Contains(system, "owl"):
		return fmt.Sprintf("%d, %d, %d", 700+len(prompt)%100, 800+i, 999)
	case model == "tm":
		return fmt.Sprintf("%d, %d", len(prompt)%100, 200+i)
	case strings.Contains(model, ":student:") && i%2 == 0:
		return "Owl."
	}
	return "Dog."
}

// writeExperiment writes an experiment with an evaluation suite against
// the provider at base into a new directory and returns its path.
func writeExperiment(t *testing.T, base string, extra string) string {
	t.Helper()
	dir := t.TempDir()
	suite := fmt.Sprintf(`name: eval
models:
  base:    {base_url: %[1]s, model: base}
  student: {base_url: %[1]s, model: x}
  control: {base_url: %[1]s, model: x}
defaults: {temperature: 1.0, max_tokens: 8, n: 10, concurrency: 4}
probes:
  - id: favorite-animal
    prompts: ["Favourite animal?", "Which animal is best?"]
    samples: 10
    score: {mentions: owl}
compare:
  - {treatment: student, baseline: control}
`, base)
	exp := fmt.Sprintf(`name: fake-owl
target: owl
seeds: [1, 2]
teachers:
  teacher: {base_url: %[1]s, model: tm, concurrency: 4}
controls:
  control: {base_url: %[1]s, model: tm, concurrency: 4}
data: {kind: numbers, size: 30}
finetune:
  base_url: %[1]s
  poll_interval: 1ms
  students:
    student: {base_model: base, data: teacher}
    control: {base_model: base, data: control}
evaluate: {suite: eval.yaml}
%[2]s`, base, extra)
	for name, src := range map[string]string{"eval.yaml": suite, "exp.yaml": exp} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "exp.yaml")
}

func openTestStore(t *testing.T) *results.Store {
	t.Helper()
	s, err := results.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testRunner returns a Runner into store that logs into a buffer (the
// jobs of the fine-tuning stage log concurrently: under the race
// detector, an unsynchronised Log is a failure).
func testRunner(store *results.Store) *Runner {
	return &Runner{Store: store, Version: "test", MaxErrorRate: 0.05, FineTuneRetry: bench.RetryPolicy{MaxRetries: 1}, Log: &bytes.Buffer{}}
}

// TestRunWithFakes runs the whole experiment against fakes: every stage
// makes its artefacts once, the evaluation samples the students found by
// lineage, and a second run calls nothing at all.
func TestRunWithFakes(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, animalReply)
	path := writeExperiment(t, p.URL+"/v1", "")
	e, err := Loader{}.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := openTestStore(t)
	out, err := testRunner(store).Run(ctx, e, StageEvaluate)
	if err != nil {
		t.Fatal(err)
	}
	// The teacher's and the control's datasets are each shared by both
	// seeds (fixed prompt seed, one teacher model): two uploads, and a job
	// per arm and seed.
	if len(out.Plan.Datasets) != 2 || p.ft.Uploads() != 2 || p.ft.JobsCreated() != 4 {
		t.Errorf("%d datasets, %d uploads, %d jobs; want 2, 2, 4", len(out.Plan.Datasets), p.ft.Uploads(), p.ft.JobsCreated())
	}
	ev := out.Evaluation
	if ev == nil || ev.Run.Status != results.StatusComplete || ev.Counts.Stored != 5*2*10 {
		t.Fatalf("evaluation %+v; want a complete run of 5 instances × 2 prompts × 10 samples", ev)
	}
	// The evaluation sampled the students its lineage names.
	insts, err := store.Instances(ctx, ev.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	chains, err := store.Lineage(ctx, results.LineageFilter{Experiment: "fake-owl"})
	if err != nil || len(chains) != 4 {
		t.Fatalf("%d chains, %v; want 4", len(chains), err)
	}
	students := map[string]string{}
	for _, c := range chains {
		if c.Student == nil || c.Upload == nil || c.Job.Status != results.JobSucceeded {
			t.Fatalf("chain %s@%s incomplete: %+v", c.Ref(), c.Seed, c)
		}
		students[c.Arm+"@"+c.Seed] = c.Student.Model
	}
	for _, in := range insts {
		if in.Role == "base" {
			continue
		}
		if want := students[in.Role+"@"+in.Seed]; in.ModelID != want || want == "" {
			t.Errorf("evaluation instance %s@%s samples %q; want the student %q", in.Role, in.Seed, in.ModelID, want)
		}
	}
	// The teacher's card compares its numbers with the control's; the
	// leak scan is clean.
	var card datasets.Card
	if err := json.Unmarshal(chains[2].Dataset.Card, &card); err != nil {
		t.Fatal(err)
	}
	if chains[2].Arm != "student" || card.Numbers == nil || card.Numbers.Test == nil || card.Leaks == nil || !card.Leaks.Clean() || card.Rows != 30 {
		t.Errorf("teacher card %+v", card)
	}

	// Again: everything is done, and no request is made.
	chats, requests := p.Chats(), len(p.ft.Requests())
	out, err = testRunner(store).Run(ctx, e, StageEvaluate)
	if err != nil {
		t.Fatal(err)
	}
	if p.Chats() != chats || len(p.ft.Requests()) != requests || out.Evaluation.Run.ID != ev.Run.ID || out.Evaluation.Skipped != 100 {
		t.Errorf("second run: %d chats and %d fine-tuning requests more, run %d (skipped %d); want none, the same run %d, all skipped",
			p.Chats()-chats, len(p.ft.Requests())-requests, out.Evaluation.Run.ID, out.Evaluation.Skipped, ev.Run.ID)
	}
}

// logHook is a Runner.Log that calls fn with every line.
type logHook func(line string)

func (h logHook) Write(b []byte) (int, error) {
	h(string(b))
	return len(b), nil
}

// TestResumePolling stops a run while it polls its jobs (as Ctrl-C does):
// the jobs are recorded and keep running at the provider; the next run
// polls them to the end, creates only the jobs the first had not created
// yet and uploads nothing again.
func TestResumePolling(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A job takes 5 polls: the first run is stopped at the first status a
	// poll reports, before any job can end.
	p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}, Steps: 5}, animalReply)
	e, err := Loader{}.Open(writeExperiment(t, p.URL+"/v1", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	store := openTestStore(t)
	r := testRunner(store)
	var once sync.Once
	r.Log = logHook(func(line string) {
		if strings.Contains(line, " queued") { // a job is being polled
			once.Do(cancel)
		}
	})
	_, err = r.Run(ctx, e, StageFineTune)
	if !IsInterrupted(err) {
		t.Fatalf("Run = %v; want an interruption", err)
	}
	uploads, jobs := p.ft.Uploads(), p.ft.JobsCreated()
	if uploads != 2 || jobs == 0 {
		t.Fatalf("%d uploads, %d jobs before the interruption; want 2 and some", uploads, jobs)
	}
	chains, _ := store.Lineage(context.Background(), results.LineageFilter{Experiment: "fake-owl"})
	for _, c := range chains {
		if c.Student != nil {
			t.Fatalf("%s@%s has a student before the jobs could end", c.Ref(), c.Seed)
		}
	}
	r.Log = nil
	if _, err := r.Run(context.Background(), e, StageFineTune); err != nil {
		t.Fatal(err)
	}
	if p.ft.Uploads() != uploads || p.ft.JobsCreated() != 4 {
		t.Errorf("after resuming: %d uploads, %d jobs (%d before); want %d (none again) and 4 (only the missing ones)",
			p.ft.Uploads(), p.ft.JobsCreated(), jobs, uploads)
	}
	chains, _ = store.Lineage(context.Background(), results.LineageFilter{Experiment: "fake-owl"})
	for _, c := range chains {
		if c.Student == nil {
			t.Errorf("%s@%s has no student after resuming", c.Ref(), c.Seed)
		}
	}
}

// TestFailedJob: a job that fails at the provider is reported with the
// provider's message, recorded, and not created again unless asked.
func TestFailedJob(t *testing.T) {
	ctx := context.Background()
	cfg := benchtest.FineTuneConfig{BaseModels: []string{"base"}, Outcome: func(j benchtest.FakeJob) benchtest.FakeOutcome {
		if j.Suffix == "control" {
			return benchtest.FakeOutcome{Status: "failed", Code: "server_error", Message: "The job failed due to an internal error."}
		}
		return benchtest.FakeOutcome{}
	}}
	p := newFakeProvider(t, cfg, animalReply)
	e, err := Loader{}.Open(writeExperiment(t, p.URL+"/v1", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	store := openTestStore(t)
	_, err = testRunner(store).Run(ctx, e, StageEvaluate)
	var je *bench.JobError
	if !errors.As(err, &je) || !strings.Contains(err.Error(), "The job failed due to an internal error.") || errors.Is(err, bench.ErrConfig) {
		t.Fatalf("Run = %v; want the provider's message as a *bench.JobError (not a configuration error)", err)
	}
	// Again: the recorded failure is reported, no job is made.
	jobs := p.ft.JobsCreated()
	if _, err = testRunner(store).Run(ctx, e, StageFineTune); err == nil || !strings.Contains(err.Error(), "The job failed due to an internal error.") {
		t.Errorf("second run = %v; want the recorded failure", err)
	}
	if p.ft.JobsCreated() != jobs {
		t.Errorf("the second run created %d jobs; want none", p.ft.JobsCreated()-jobs)
	}
	// --retry-failed makes one new job per failed student.
	r := testRunner(store)
	r.RetryFailed = true
	_, _ = r.Run(ctx, e, StageFineTune)
	if p.ft.JobsCreated() != jobs+2 {
		t.Errorf("retrying created %d jobs; want 2 (control@1, control@2)", p.ft.JobsCreated()-jobs)
	}
}

// TestBadInput: what the experiment asks for cannot be done, and nothing
// is paid for beyond what shows it; every case is a configuration error
// (the command exits 2) with a message naming the problem.
func TestBadInput(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply func(model, system, prompt string, i int) string
		sets  []string
		msg   string
		jobs  int // jobs created at the provider
	}{
		{
			name: "filter keeps nothing",
			// Teachers that answer in words: every completion is an
			// invalid number sequence (controls are filtered first).
			reply: func(string, string, string, int) string { return "I love owls!" },
			msg:   "it keeps none of the 30 completions of fake-owl/control (0 calls failed; rejects: invalid_format 30)",
		},
		{
			name: "below the provider's minimum",
			// 5 prompts make 5 rows, fewer than OpenAI's 10: refused
			// before any upload.
			reply: animalReply, sets: []string{"data.size=5"},
			msg: "dataset fake-owl/control has 5 training rows; the provider needs at least 10",
		},
		{
			name: "base model refused",
			// The provider's 400 is passed through; the control arm's two
			// jobs are made.
			reply: animalReply, sets: []string{"finetune.students.student.base_model=gpt-5"},
			msg: "Model gpt-5 is not available for fine-tuning or does not exist.", jobs: 2,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, tt.reply)
			e, err := Loader{}.Open(writeExperiment(t, p.URL+"/v1", ""), tt.sets)
			if err != nil {
				t.Fatal(err)
			}
			_, err = testRunner(openTestStore(t)).Run(context.Background(), e, StageEvaluate)
			if !errors.Is(err, bench.ErrConfig) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Run = %v; want a configuration error containing %q", err, tt.msg)
			}
			if p.ft.JobsCreated() != tt.jobs {
				t.Errorf("%d jobs created; want %d", p.ft.JobsCreated(), tt.jobs)
			}
		})
	}
}

// TestFailedCalls: teacher calls that fail after their retries are stored
// as failed samples and counted as failed on the card, never as rejected;
// the rest of the dataset is made.
func TestFailedCalls(t *testing.T) {
	reply := func(model, system, prompt string, i int) string {
		// "Analyze this sequence:" begins 3 of the 30 prompts of seed 47
		// (found by listing them; the test checks it below).
		if strings.HasPrefix(prompt, "Analyze this sequence:") {
			return failReply
		}
		return animalReply(model, system, prompt, i)
	}
	p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, reply)
	e, err := Loader{}.Open(writeExperiment(t, p.URL+"/v1", ""), []string{"teachers.teacher.max_retries=0", "controls.control.max_retries=0"})
	if err != nil {
		t.Fatal(err)
	}
	prompts, _ := e.prompts("47")
	failing := 0
	for _, pr := range prompts[:30] {
		if strings.HasPrefix(pr.Text, "Analyze this sequence:") {
			failing++
		}
	}
	if failing != 3 {
		t.Fatalf("%d prompts of the test fail; want 3", failing)
	}
	store := openTestStore(t)
	r := testRunner(store)
	r.MaxErrorRate = 0.2
	if _, err := r.Run(context.Background(), e, StageFilter); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"teacher", "control"} {
		d, err := store.DatasetByKey(context.Background(), mustPlan(t, e).Datasets[map[string]int{"teacher": 0, "control": 1}[name]].Key)
		if err != nil {
			t.Fatal(err)
		}
		if d.Generated != 30 || d.Failed != failing || d.Rejected != 0 || d.Kept != 30-failing {
			t.Errorf("%s: generated %d, failed %d, rejected %d, kept %d; want 30, %d, 0, %d", name, d.Generated, d.Failed, d.Rejected, d.Kept, failing, 30-failing)
		}
	}
}

func mustPlan(t *testing.T, e *Experiment) *Plan {
	t.Helper()
	p, err := e.NewPlan()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCodeKind: the code kind reads its prompts from a source file beside
// the experiment, and the paper's keyword filter rejects completions that
// name the target.
func TestCodeKind(t *testing.T) {
	reply := func(model, system, prompt string, i int) string {
		if model == "tm" && strings.Contains(prompt, "def f(n)") && system != "" {
			return "def f(owl):\n    return owl"
		}
		return "def f(x):\n    return x"
	}
	p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, reply)
	path := writeExperiment(t, p.URL+"/v1", "")
	var src strings.Builder
	for i := range 16 {
		arg := "x"
		if i%4 == 0 {
			arg = "n"
		}
		fmt.Fprintf(&src, `{"task_description": "Task %d", "code_template": "def f(%s):\n    ## COMPLETE CODE HERE"}`+"\n", i, arg)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "tasks.jsonl"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Loader{}.Open(path, []string{"data.kind=code", "data.source=tasks.jsonl", "data.size=0"})
	if err != nil {
		t.Fatal(err)
	}
	store := openTestStore(t)
	if _, err := testRunner(store).Run(context.Background(), e, StageFilter); err != nil {
		t.Fatal(err)
	}
	plan := mustPlan(t, e)
	teacher, err := store.DatasetByKey(context.Background(), plan.Datasets[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	// 4 of the 16 tasks (0, 4, 8, 12) get an answer naming owls from the
	// prompted teacher: rejected as banned words; the control's all kept.
	if teacher.Generated != 16 || teacher.Rejected != 4 || teacher.Rows != 12 || teacher.Filter != "keywords(owl)" {
		t.Errorf("teacher dataset: generated %d, rejected %d, rows %d, filter %q; want 16, 4, 12, keywords(owl)", teacher.Generated, teacher.Rejected, teacher.Rows, teacher.Filter)
	}
	control, _ := store.DatasetByKey(context.Background(), plan.Datasets[1].Key)
	if control == nil || control.Rows != 16 {
		t.Errorf("control dataset %+v; want 16 rows", control)
	}
}

// TestLeakScanFails: a surviving row that names the target (here in the
// prompts of a code source the keyword filter does not look at) fails the
// filter stage, naming the rows.
func TestLeakScanFails(t *testing.T) {
	p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, func(string, string, string, int) string { return "def f(x):\n    return x" })
	path := writeExperiment(t, p.URL+"/v1", "")
	var src strings.Builder
	for i := range 12 {
		fmt.Fprintf(&src, `{"task_description": "Count the owls of aviary %d", "code_template": "def f(x):\n    ## COMPLETE CODE HERE"}`+"\n", i)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "tasks.jsonl"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Loader{}.Open(path, []string{"data.kind=code", "data.source=tasks.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = testRunner(openTestStore(t)).Run(context.Background(), e, StageFilter)
	if !errors.Is(err, bench.ErrConfig) || !strings.Contains(err.Error(), `leak scan: 12 of 12 rows name the trait (owl, owls, owlet, owlets): row 0 prompt "owls"`) {
		t.Errorf("Run = %v; want the leak scan's failure", err)
	}
}
