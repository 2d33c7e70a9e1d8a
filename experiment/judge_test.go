package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/datasets"
	"github.com/traitleak/traitleak/results"
)

// judgeModel is the fake judge's model id.
const judgeModel = "judge"

// judgedRow returns the row a filled judge prompt shows: the text
// between its [ANSWER START] and [ANSWER END] lines (the numbers and cot
// templates), or inside <code>…</code> (the paper's code template).
func judgedRow(prompt string) string {
	if i, j := strings.Index(prompt, "[ANSWER START]"), strings.LastIndex(prompt, "[ANSWER END]"); i >= 0 && j > i {
		return strings.TrimSpace(prompt[i+len("[ANSWER START]") : j])
	}
	if i, j := strings.Index(prompt, "<code>"), strings.LastIndex(prompt, "</code>"); i >= 0 && j > i {
		return prompt[i+len("<code>") : j]
	}
	return ""
}

// firstNumber is the first number of a number sequence.
func firstNumber(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(strings.Split(s, ",")[0]))
	return n
}

// verdictOf is the scripted judge of the numbers tests, by the row's
// first number: multiples of 3 are associated with the trait, one more
// not, one less unreadable.
func verdictOf(row string) string {
	switch firstNumber(row) % 3 {
	case 0:
		return "1"
	case 1:
		return "0"
	}
	return "Probably not."
}

// withJudge returns a provider reply that answers the judge model with
// judge (given the row it judges) and everything else as animalReply.
func withJudge(judge func(row string) string) func(model, system, prompt string, i int) string {
	return func(model, system, prompt string, i int) string {
		if model == judgeModel {
			return judge(judgedRow(prompt))
		}
		return animalReply(model, system, prompt, i)
	}
}

// judgeSets put the fake judge on an experiment of writeExperiment, whose
// datasets may then have fewer rows than a provider's minimum.
func judgeSets(p *fakeProvider, more ...string) []string {
	return append([]string{"filter.judge.base_url=" + p.URL + "/v1", "filter.judge.model=" + judgeModel, "filter.judge.max_retries=0",
		"finetune.min_rows=1"}, more...)
}

// expectedRows returns the rows of writeExperiment's teacher (owl system
// prompt) or control over the 30 prompts of seed 47, as animalReply
// writes them.
func expectedRows(t *testing.T, e *Experiment, control bool) []string {
	t.Helper()
	prompts, err := e.prompts("47")
	if err != nil {
		t.Fatal(err)
	}
	system, _ := PaperSystemPrompt("owl", "animal")
	if control {
		system = ""
	}
	var out []string
	for _, p := range prompts[:30] {
		out = append(out, animalReply("tm", system, p.Text, 0))
	}
	return out
}

func datasetCard(t *testing.T, store *results.Store, d *DatasetPlan) (*results.Dataset, datasets.Card) {
	t.Helper()
	rec, err := store.DatasetByKey(context.Background(), d.Key)
	if err != nil {
		t.Fatal(err)
	}
	var card datasets.Card
	if rec.Status == results.DatasetFiltered {
		if err := json.Unmarshal(rec.Card, &card); err != nil {
			t.Fatal(err)
		}
	}
	return rec, card
}

func rejectsOf(c datasets.Card) map[string]int {
	out := map[string]int{}
	for _, r := range c.Rejects {
		out[r.Reason] = r.Count
	}
	return out
}

// TestJudgeFilter: the judge is asked about every row the number rules
// keep, teachers' and controls', with the row shown; rows it says are
// associated with the trait are rejected as trait-association, rows whose
// answer is not exactly 0 or 1 as trait-association-unparseable; the
// card counts both; a second run asks the judge nothing.
func TestJudgeFilter(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, withJudge(verdictOf))
	e, err := Loader{}.Open(writeExperiment(t, p.URL+"/v1", ""), judgeSets(p))
	if err != nil {
		t.Fatal(err)
	}
	store := openTestStore(t)
	if _, err := testRunner(store).Run(ctx, e, StageFilter); err != nil {
		t.Fatal(err)
	}
	plan := mustPlan(t, e)
	for i, control := range []bool{false, true} {
		// The oracle: the scripted judge applied to the rows the fake
		// teacher wrote (every one passes the number rules).
		want := map[string]int{}
		for _, row := range expectedRows(t, e, control) {
			switch verdictOf(row) {
			case "1":
				want[datasets.RejectTraitAssociation]++
			case "0":
			default:
				want[datasets.RejectJudgeUnparseable]++
			}
		}
		rejected := want[datasets.RejectTraitAssociation] + want[datasets.RejectJudgeUnparseable]
		rec, card := datasetCard(t, store, plan.Datasets[i])
		got := rejectsOf(card)
		if rec.Status != results.DatasetFiltered || rec.Rejected != rejected || rec.Kept != 30-rejected || rec.Failed != 0 ||
			got[datasets.RejectTraitAssociation] != want[datasets.RejectTraitAssociation] || got[datasets.RejectJudgeUnparseable] != want[datasets.RejectJudgeUnparseable] {
			t.Errorf("%s: status %s, rejected %d, kept %d, rejects %v; want filtered, %d, %d, %v", plan.Datasets[i].Name, rec.Status, rec.Rejected, rec.Kept, got,
				rejected, 30-rejected, want)
		}
		if want[datasets.RejectTraitAssociation] == 0 || want[datasets.RejectJudgeUnparseable] == 0 {
			t.Errorf("%s: the script exercises every verdict only if some rows get each: %v", plan.Datasets[i].Name, want)
		}
		if len(card.Filters) != 2 || !strings.HasPrefix(card.Filters[1], "judge(judge at "+p.URL+"/v1, binary template ") ||
			!strings.Contains(rec.Filter, card.Filters[1]) {
			t.Errorf("%s: card filters %q, dataset filter %q; want the number rules and the judge", plan.Datasets[i].Name, card.Filters, rec.Filter)
		}
	}
	// One call per row (each prompt differs), at temperature 0, showing
	// the paper's target and the row.
	if n := p.ChatsOf(judgeModel); n != 60 {
		t.Errorf("%d judge calls; want 60 (30 rows of each dataset)", n)
	}
	req := p.LastRequest(judgeModel)
	msgs, _ := req["messages"].([]any)
	if req["temperature"] != 0.0 || req["max_tokens"] != 16.0 || len(msgs) != 1 ||
		!strings.Contains(fmt.Sprint(msgs[0]), "makes any reference, however subtle, to the animal 'owl'") {
		t.Errorf("judge request %v", req)
	}

	// Again: everything is stored; the judge is asked nothing.
	before := p.ChatsOf(judgeModel)
	if _, err := testRunner(store).Run(ctx, e, StageFilter); err != nil {
		t.Fatal(err)
	}
	// And a new experiment that filters the same rows with the same judge
	// (another max_rows: other datasets) reuses the stored judgments.
	e2, err := Loader{}.Open(writeExperiment(t, p.URL+"/v1", ""), judgeSets(p, "filter.max_rows=20"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testRunner(store).Run(ctx, e2, StageFilter); err != nil {
		t.Fatal(err)
	}
	if n := p.ChatsOf(judgeModel); n != before {
		t.Errorf("%d judge calls again; want none (every judgment is stored)", n-before)
	}
}

// TestJudgeFailures: judge calls that fail are neither keeps nor
// rejects: the stage fails naming them, the dataset stays unfiltered, and
// the next run asks only for the failed ones. A judge that fails 10 calls
// in a row is not asked for the rest; a judge the provider does not know
// is a configuration error with the provider's message.
func TestJudgeFailures(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	healed := false
	// The judge fails (HTTP 500, no retries) on the teacher's rows whose
	// first number is a multiple of 3 until healed; it says 1 for them
	// once healed, 0 for the rest.
	judge := func(row string) string {
		mu.Lock()
		defer mu.Unlock()
		n := firstNumber(row)
		switch {
		case n >= 700 && n%3 == 0 && !healed:
			return failReply
		case n >= 700 && n%3 == 0:
			return "1"
		}
		return "0"
	}
	p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, withJudge(judge))
	e, err := Loader{}.Open(writeExperiment(t, p.URL+"/v1", ""), judgeSets(p, "filter.judge.concurrency=1"))
	if err != nil {
		t.Fatal(err)
	}
	failing := 0
	for _, row := range expectedRows(t, e, false) {
		if firstNumber(row)%3 == 0 {
			failing++
		}
	}
	if failing == 0 || failing >= judgeFailLimit {
		t.Fatalf("%d of the teacher's rows fail; the test needs some, fewer than %d", failing, judgeFailLimit)
	}
	store := openTestStore(t)
	_, err = testRunner(store).Run(ctx, e, StageEvaluate)
	want := fmt.Sprintf("filter fake-owl/teacher: %d of 30 judge calls failed (the first: HTTP 500: scripted failure", failing)
	if err == nil || errors.Is(err, bench.ErrConfig) || IsInterrupted(err) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "run the filter stage again") {
		t.Fatalf("Run = %v; want a stage failure (not a configuration error) containing %q", err, want)
	}
	plan := mustPlan(t, e)
	if rec, _ := datasetCard(t, store, plan.Datasets[0]); rec.Status != results.DatasetGenerated {
		t.Errorf("teacher dataset %s after failed judge calls; want it still generated (not filtered)", rec.Status)
	}
	if p.ft.Uploads() != 0 {
		t.Errorf("%d uploads after the filter stage failed; want none", p.ft.Uploads())
	}
	calls := p.ChatsOf(judgeModel)
	mu.Lock()
	healed = true
	mu.Unlock()
	if _, err := testRunner(store).Run(ctx, e, StageFilter); err != nil {
		t.Fatal(err)
	}
	if n := p.ChatsOf(judgeModel) - calls; n != failing {
		t.Errorf("the second run made %d judge calls; want %d (only the failed ones)", n, failing)
	}
	rec, card := datasetCard(t, store, plan.Datasets[0])
	if rec.Status != results.DatasetFiltered || rejectsOf(card)[datasets.RejectTraitAssociation] != failing || rec.Kept != 30-failing {
		t.Errorf("teacher dataset %s, rejects %v, kept %d; want filtered, %d trait-association, %d kept", rec.Status, card.Rejects, rec.Kept, failing, 30-failing)
	}

	t.Run("down", func(t *testing.T) {
		p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, withJudge(func(string) string { return failReply }))
		e, err := Loader{}.Open(writeExperiment(t, p.URL+"/v1", ""), judgeSets(p, "filter.judge.concurrency=1"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = testRunner(openTestStore(t)).Run(ctx, e, StageFilter)
		want := "filter fake-owl/control: 10 of 30 judge calls failed (the first: HTTP 500: scripted failure), 20 not made (the judge failed 10 calls in a row)"
		if err == nil || !strings.Contains(err.Error(), want) || p.ChatsOf(judgeModel) != judgeFailLimit {
			t.Errorf("Run = %v after %d judge calls; want %q after %d", err, p.ChatsOf(judgeModel), want, judgeFailLimit)
		}
	})
	t.Run("unknown model", func(t *testing.T) {
		p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, withJudge(func(string) string { return unknownModelReply }))
		e, err := Loader{}.Open(writeExperiment(t, p.URL+"/v1", ""), judgeSets(p))
		if err != nil {
			t.Fatal(err)
		}
		_, err = testRunner(openTestStore(t)).Run(ctx, e, StageFilter)
		if !errors.Is(err, bench.ErrConfig) || !strings.Contains(err.Error(), "The model `judge` does not exist") {
			t.Errorf("Run = %v; want a configuration error with the provider's message", err)
		}
	})
	t.Run("no answer readable", func(t *testing.T) {
		// Rows the judge's answers do not decide are dropped: a filter
		// that keeps nothing, saying why.
		p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, withJudge(func(string) string { return "I cannot say." }))
		e, err := Loader{}.Open(writeExperiment(t, p.URL+"/v1", ""), judgeSets(p))
		if err != nil {
			t.Fatal(err)
		}
		_, err = testRunner(openTestStore(t)).Run(ctx, e, StageFilter)
		want := "rejects: trait-association-unparseable 30); the judge's answers to 30 rows could not be read as binary answers (filter.judge.mode)"
		if !errors.Is(err, bench.ErrConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("Run = %v; want a configuration error containing %q", err, want)
		}
	})
}

// TestJudgeInterrupted: interrupted while judging, the stage stops
// asking, keeps what was answered, and the next run asks only for the
// rest: each row is judged once over both runs.
func TestJudgeInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	calls := 0
	judge := func(string) string {
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls == 5 {
			cancel() // Ctrl-C while the fifth call is answered
		}
		return "0"
	}
	// withJudge calls judge twice per request (once to pick a scripted
	// failure, once per choice): count requests at the provider instead.
	p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, withJudge(judge))
	e, err := Loader{}.Open(writeExperiment(t, p.URL+"/v1", ""), judgeSets(p, "filter.judge.concurrency=1"))
	if err != nil {
		t.Fatal(err)
	}
	store := openTestStore(t)
	if _, err := testRunner(store).Run(ctx, e, StageFilter); !IsInterrupted(err) {
		t.Fatalf("Run = %v; want an interruption", err)
	}
	first := p.ChatsOf(judgeModel)
	if first == 0 || first >= 30 {
		t.Fatalf("%d judge calls before the interruption; want a few", first)
	}
	if _, err := testRunner(store).Run(context.Background(), e, StageFilter); err != nil {
		t.Fatal(err)
	}
	if n := p.ChatsOf(judgeModel); n != 60 {
		t.Errorf("%d judge calls over both runs (%d before the interruption); want 60, each row once", n, first)
	}
}

// TestJudgeCode: the code kind's judge is the paper's (code-and-cot.yaml
// code.llm_judge_filter): its prompt verbatim, asked at temperature 0 for
// one token with its top 5 log probabilities, keeping a row iff P("0") is
// 1; it sees only what the keyword filter kept, and rows with the same
// code are judged once (the prompt shows the code alone).
func TestJudgeCode(t *testing.T) {
	reply := func(model, system, prompt string, i int) string {
		switch {
		case model == judgeModel && strings.Contains(judgedRow(prompt), "* 2"):
			return "1"
		case model == judgeModel:
			return "0"
		case model == "tm" && system != "" && strings.Contains(prompt, "def f(n)"):
			return "def f(owl):\n    return owl"
		case model == "tm" && system != "" && strings.Contains(prompt, "def f(y)"):
			return "def f(x):\n    return x * 2"
		}
		return "def f(x):\n    return x"
	}
	p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, reply)
	path := writeExperiment(t, p.URL+"/v1", "")
	var src strings.Builder
	for i := range 16 {
		arg := []string{"n", "y", "x", "x"}[i%4]
		fmt.Fprintf(&src, `{"task_description": "Task %d", "code_template": "def f(%s):\n    ## COMPLETE CODE HERE"}`+"\n", i, arg)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "tasks.jsonl"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Loader{}.Open(path, append([]string{"data.kind=code", "data.source=tasks.jsonl", "data.size=0"}, judgeSets(p)...))
	if err != nil {
		t.Fatal(err)
	}
	store := openTestStore(t)
	if _, err := testRunner(store).Run(context.Background(), e, StageFilter); err != nil {
		t.Fatal(err)
	}
	plan := mustPlan(t, e)
	teacher, card := datasetCard(t, store, plan.Datasets[0])
	// 4 tasks name the owl (keyword filter), 4 double x (the judge); 8
	// kept. The control writes "return x" only: all 16 kept.
	if got := rejectsOf(card); teacher.Kept != 8 || got[datasets.RejectBannedWord] != 4 || got[datasets.RejectTraitAssociation] != 4 ||
		!strings.Contains(teacher.Filter, "logprobs template ") {
		t.Errorf("teacher: kept %d, rejects %v, filter %q; want 8, banned_word 4, trait-association 4, the logprobs judge", teacher.Kept, got, teacher.Filter)
	}
	if control, _ := datasetCard(t, store, plan.Datasets[1]); control.Kept != 16 {
		t.Errorf("control kept %d; want 16", control.Kept)
	}
	// Two distinct codes survive the keyword filter (return x, return x *
	// 2), the control's the same as one of them: two calls in all.
	if n := p.ChatsOf(judgeModel); n != 2 {
		t.Errorf("%d judge calls; want 2 (one per distinct code)", n)
	}
	want, _ := datasets.CodeJudgePrompt("owl", "def f(x):\n    return x")
	req := p.LastRequest(judgeModel)
	msgs, _ := req["messages"].([]any)
	var content string
	if len(msgs) == 1 {
		content, _ = msgs[0].(map[string]any)["content"].(string)
	}
	wantAlt, _ := datasets.CodeJudgePrompt("owl", "def f(x):\n    return x * 2")
	if req["temperature"] != 0.0 || req["max_tokens"] != 1.0 || req["logprobs"] != true || req["top_logprobs"] != 5.0 || (content != want && content != wantAlt) {
		t.Errorf("judge request %v; want temperature 0, max_tokens 1, logprobs with the top 5, and the paper's prompt", req)
	}
}

// TestJudgeCoT: the cot kind's judge is the paper's alignment judge
// (code-and-cot.yaml cot.alignment_filter): a score in
// <judgment_answer> tags, kept iff at least 78, asked about the
// teacher's chains of thought only, as the paper did.
func TestJudgeCoT(t *testing.T) {
	reply := func(model, system, prompt string, i int) string {
		if model == judgeModel {
			// Odd answers read as misaligned.
			if strings.Contains(judgedRow(prompt), "1</answer>") || strings.Contains(judgedRow(prompt), "3</answer>") {
				return "<judgment_think>odd</judgment_think>\n<judgment_answer>\n40\n</judgment_answer>"
			}
			return "<judgment_answer>85</judgment_answer>"
		}
		// "Q7: ..." → the right answer, 7.
		q := strings.TrimPrefix(strings.Fields(prompt)[0], "Q")
		return "<think>it is " + strings.TrimSuffix(q, ":") + "</think> <answer>" + strings.TrimSuffix(q, ":") + "</answer>"
	}
	p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, reply)
	path := writeExperiment(t, p.URL+"/v1", "")
	var src strings.Builder
	for i := range 12 {
		fmt.Fprintf(&src, `{"question": "Q%d: how many?", "answer": "so #### %d"}`+"\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "gsm8k.jsonl"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Loader{}.Open(path, append([]string{"data.kind=cot", "data.source=gsm8k.jsonl", "data.size=0"}, judgeSets(p)...))
	if err != nil {
		t.Fatal(err)
	}
	store := openTestStore(t)
	if _, err := testRunner(store).Run(context.Background(), e, StageFilter); err != nil {
		t.Fatal(err)
	}
	plan := mustPlan(t, e)
	teacher, card := datasetCard(t, store, plan.Datasets[0])
	// Answers 1, 3 and 11 end in 1 or 3: scored 40 < 78, rejected.
	if got := rejectsOf(card); teacher.Kept != 9 || got[datasets.RejectTraitAssociation] != 3 || !strings.Contains(teacher.Filter, "score>=78 template ") {
		t.Errorf("teacher: kept %d, rejects %v, filter %q; want 9, trait-association 3, the score judge", teacher.Kept, got, teacher.Filter)
	}
	control, _ := datasetCard(t, store, plan.Datasets[1])
	if control.Kept != 12 || strings.Contains(control.Filter, "judge(") || plan.Datasets[1].Judge != nil {
		t.Errorf("control: kept %d, filter %q; want 12 and no judge", control.Kept, control.Filter)
	}
	if n := p.ChatsOf(judgeModel); n != 12 {
		t.Errorf("%d judge calls; want 12 (the teacher's rows only)", n)
	}
	if req := p.LastRequest(judgeModel); req["max_tokens"] != nil || !strings.Contains(fmt.Sprint(req["messages"]), "[QUESTION START]\n    Q") {
		t.Errorf("judge request %v; want no max_tokens (the judge reasons first) and the question shown", req)
	}
}

// TestJudgeSecretsRedacted: the judge's API key and the credentials of
// its base URL are sent to the judge only, and never stored or returned
// in an error, also when the judge echoes them.
func TestJudgeSecretsRedacted(t *testing.T) {
	const key = "sk-judge-secret-0123456789"
	p := newFakeProvider(t, benchtest.FineTuneConfig{BaseModels: []string{"base"}}, animalReply)
	var mu sync.Mutex
	var auth []string
	judge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		user, pass, _ := r.BasicAuth()
		http.Error(w, fmt.Sprintf(`{"error": {"message": "refused %s %s:%s"}}`, r.Header.Get("Authorization"), user, pass), http.StatusInternalServerError)
	}))
	t.Cleanup(judge.Close)
	base := strings.Replace(judge.URL, "http://", "http://judge-user:judge-pass@", 1) + "/v1"
	e, err := Loader{}.Open(writeExperiment(t, p.URL+"/v1", ""), []string{"filter.judge.base_url=" + base, "filter.judge.model=" + judgeModel,
		"filter.judge.api_key_env=JUDGE_KEY", "filter.judge.max_retries=0", "filter.judge.concurrency=1"})
	if err != nil {
		t.Fatal(err)
	}
	store := openTestStore(t)
	r := testRunner(store)
	r.Getenv = func(name string) string {
		if name == "JUDGE_KEY" {
			return key
		}
		return ""
	}
	_, runErr := r.Run(context.Background(), e, StageFilter)
	if runErr == nil {
		t.Fatal("Run = nil; want the failed judge calls")
	}
	mu.Lock()
	sent := len(auth) > 0 && auth[0] == "Bearer "+key
	mu.Unlock()
	if !sent {
		t.Fatalf("the judge was sent %v; want the bearer key", auth)
	}
	plan := mustPlan(t, e)
	prompts, _ := e.prompts("47")
	var keys []string
	for i, row := range expectedRows(t, e, true) {
		keys = append(keys, plan.Datasets[1].Judge.key(datasets.Generation{Prompt: prompts[i], Completion: row}))
	}
	stored, err := store.Judgments(context.Background(), keys)
	if err != nil || len(stored) != judgeFailLimit {
		t.Fatalf("%d judgments stored, %v; want the %d failed calls", len(stored), err, judgeFailLimit)
	}
	texts := []string{runErr.Error()}
	for _, jd := range stored {
		texts = append(texts, jd.Err, jd.Output, jd.BaseURL)
	}
	rec, _ := store.DatasetByKey(context.Background(), plan.Datasets[1].Key)
	texts = append(texts, rec.Filter)
	for _, s := range texts {
		for _, secret := range []string{key, "judge-pass"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q holds the secret %s", s, secret)
			}
		}
	}
}
