package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// The suites of these tests are judgeSuite's: 2 models × 8 questions × 8
// draws; the student answers each of the 8 scripted answers once per
// question, the base always answers[1]. So 8 × 8 distinct answers are
// judged with 2 templates: 128 judge calls.
const judgeCalls = 8 * 8 * 2

func judgeModels(logprobs bool) map[string]benchtest.Model {
	return map[string]benchtest.Model{
		"student": {Reply: func(_ string, i int, _ *rand.Rand) string { return answers[i%len(answers)].text }},
		"base":    {Reply: func(_ string, _ int, _ *rand.Rand) string { return answers[1].text }},
		"judge":   judgeFake(logprobs),
	}
}

// judgeLog records the online requests of the judge model (with Record
// set: their bodies), not the lines of a batch, which the fake answers
// with the same handler on a request made in memory (httptest's address
// 192.0.2.1).
type judgeLog struct {
	mu     sync.Mutex
	bodies []string
}

func (l *judgeLog) onRequest(r benchtest.Request) {
	if r.Model == "judge" && strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") {
		l.mu.Lock()
		l.bodies = append(l.bodies, string(r.Raw))
		l.mu.Unlock()
	}
}

// take returns the bodies recorded since the last take.
func (l *judgeLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.bodies
	l.bodies = nil
	return out
}

// judgeRecord is what a stored judgment holds, but for when and how fast
// the call was made.
func judgeRecord(j results.Judgment) string {
	score := "nil"
	if j.Score != nil {
		score = fmt.Sprint(*j.Score)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%q|%q|%d|%d|%d", j.Judge, j.BaseURL, j.Model, j.Mode, j.Template, score, j.Category,
		j.Output, j.Err, j.HTTPStatus, j.PromptTokens, j.CompletionTokens)
}

// judgments returns the stored judgments of every judge call that scoring
// the run's stored samples needs, by key.
func judgments(t *testing.T, st *results.Store, s *suites.Suite, runID int64) map[string]string {
	t.Helper()
	ctx := context.Background()
	scorings := map[string]suites.Scoring{}
	for _, p := range s.Probes {
		sc, err := s.Scoring(p)
		if err != nil {
			t.Fatal(err)
		}
		scorings[p.ID] = sc
	}
	plan := bench.NewPlan(s, "")
	var keys []string
	for r, err := range st.Rows(ctx, runID, func(string) string { return "" }) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Stored && !r.Sample.Failed() {
			keys = append(keys, scorings[r.Probe].JudgmentKeys(plan.Prompts[r.Probe][r.Prompt], r.Sample.Completion)...)
		}
	}
	js, err := st.Judgments(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		if j, ok := js[k]; ok {
			out[k] = judgeRecord(j)
		} else {
			out[k] = "missing"
		}
	}
	return out
}

func sameJudgments(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d judgments; want %d", len(got), len(want))
	}
	bad := 0
	for k, w := range want {
		if g := got[k]; g != w {
			if bad++; bad <= 3 {
				t.Errorf("judgment %s = %s; want %s", k, g, w)
			}
		}
	}
}

// judgeLines returns the body of every judge line submitted to srv, by
// custom_id.
func judgeLines(t *testing.T, srv *benchtest.BatchServer) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range srv.Lines() {
		var in struct {
			CustomID string          `json:"custom_id"`
			Body     json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(l, &in); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(string(in.Body), `{"model":"judge"`) {
			out[in.CustomID] = string(in.Body)
		}
	}
	return out
}

// onlineJudged runs s with every call online into a new store: the
// reference of a batched run of the same suite.
func onlineJudged(t *testing.T, s *suites.Suite) (rows map[string]row, js map[string]string) {
	t.Helper()
	st := openStore(t)
	out := execute(t, context.Background(), st, s)
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("online run %s: %s", out.Run.Status, out.Run.Message)
	}
	return storedRows(t, st, out.Run.ID), judgments(t, st, s, out.Run.ID)
}

func TestJudgeBatchMatchesOnlineJudge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, mode string
		all        bool     // run --batch: models batch too
		sets       []string // suite changes of the batched run
	}{
		// batch: true on the judge alone: the models are sampled online.
		{"judge batch: true", suites.JudgeSample, false, []string{"judges.fake-judge.batch=true"}},
		// --batch: models and judge batch.
		{"--batch", suites.JudgeSample, true, nil},
		// Logprobs requests (max_tokens 1, top_logprobs 20, seed 0) batch
		// the same way, and their answers are parsed as online.
		{"--batch logprobs", suites.JudgeLogprobs, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log judgeLog
			srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeModels(tc.mode == suites.JudgeLogprobs), OnRequest: log.onRequest, Record: true}})
			s := judgeSuite(t, srv.BaseURL(), tc.mode)
			wantRows, wantJ := onlineJudged(t, s)
			online := log.take()
			if len(online) != judgeCalls {
				t.Fatalf("the online run made %d judge calls; want %d", len(online), judgeCalls)
			}

			st := openStore(t)
			sb := judgeSuite(t, srv.BaseURL(), tc.mode, tc.sets...)
			out, err := bench.Execute(context.Background(), st, sb, batchOptions(&bench.BatchOptions{All: tc.all}))
			if err != nil {
				t.Fatal(err)
			}
			if out.Run.Status != results.StatusComplete {
				t.Fatalf("batched run %s: %s", out.Run.Status, out.Run.Message)
			}
			// Same judgments, same scores; no online judge call.
			sameRows(t, storedRows(t, st, out.Run.ID), wantRows)
			sameJudgments(t, judgments(t, st, sb, out.Run.ID), wantJ)
			if got := log.take(); len(got) != 0 {
				t.Errorf("the batched run made %d online judge calls; want 0", len(got))
			}
			// Each line is the online request: custom_id its judgment key,
			// body byte for byte the online body.
			lines := judgeLines(t, srv)
			if len(lines) != judgeCalls {
				t.Errorf("%d judge lines; want %d", len(lines), judgeCalls)
			}
			for k := range wantJ {
				if _, ok := lines[k]; !ok {
					t.Errorf("no line has custom_id %s, a judgment key", k)
					break
				}
			}
			bodies := slices.Collect(maps.Values(lines))
			sort.Strings(bodies)
			sort.Strings(online)
			if !slices.Equal(bodies, online) {
				t.Errorf("batch bodies differ from the online bodies; first line:\n%s\nfirst online:\n%s", bodies[0], online[0])
			}
			// One batch per kind of call: the judge's alignment and coherence.
			if out.JudgeBatch.Batches != 2 || out.JudgeBatch.Judged != judgeCalls || out.JudgeBatch.Failed != 0 {
				t.Errorf("judge batches %+v; want 2 batches, %d judged, 0 failed", out.JudgeBatch, judgeCalls)
			}
			recs, err := st.Batches(context.Background(), out.Run.ID)
			if err != nil {
				t.Fatal(err)
			}
			judgeRecs := 0
			for _, b := range recs {
				if b.Instance < 0 {
					judgeRecs++
					if !b.Collected || b.Status != bench.BatchCompleted || b.Lines != judgeCalls/2 {
						t.Errorf("judge batch record %+v; want collected, completed, %d lines", b, judgeCalls/2)
					}
				}
			}
			if judgeRecs != 2 {
				t.Errorf("%d judge batches recorded; want 2", judgeRecs)
			}
		})
	}
}

// pickKeys returns the judgment keys of the alignment call of student
// answer a to question 0 and of the coherence call of answer b to
// question 1: calls of two student samples alone (the base answers
// answers[1]).
func pickKeys(t *testing.T, s *suites.Suite, a, b int) (align, coh string) {
	t.Helper()
	sc, err := s.Scoring(s.Probes[0])
	if err != nil {
		t.Fatal(err)
	}
	q := s.Probes[0].Prompts.Texts
	return sc.JudgmentKeys(q[0], answers[a].text)[0], sc.JudgmentKeys(q[1], answers[b].text)[1]
}

// TestJudgeBatchFailedLines: an expired line and an error line of a judge
// batch (in an output written out of order) are stored as failed
// judgments; the scoring phase asks them again online, and the run ends
// with the online run's judgments and scores.
func TestJudgeBatchFailedLines(t *testing.T) {
	t.Parallel()
	var log judgeLog
	picked := map[string]string{}
	var on atomic.Bool
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeModels(false), OnRequest: log.onRequest, Record: true},
		Expire: func(id string) bool { return on.Load() && picked[id] == "expire" },
		ErrorLine: func(id string) (int, string) {
			if on.Load() && picked[id] == "fail" {
				return 500, "the judge crashed"
			}
			return 0, ""
		}})
	s := judgeSuite(t, srv.BaseURL(), suites.JudgeSample)
	expire, fail := pickKeys(t, s, 0, 3)
	picked[expire], picked[fail] = "expire", "fail"
	wantRows, wantJ := onlineJudged(t, s)
	log.take()
	on.Store(true)

	st := openStore(t)
	out, err := bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{All: true}))
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("run %s: %s", out.Run.Status, out.Run.Message)
	}
	if out.JudgeBatch.Judged != judgeCalls-2 || out.JudgeBatch.Failed != 2 {
		t.Errorf("judge batches %+v; want %d judged and 2 failed", out.JudgeBatch, judgeCalls-2)
	}
	// The two failed calls, and only they, went online with the lines'
	// bodies.
	lines := judgeLines(t, srv)
	got := log.take()
	sort.Strings(got)
	want := []string{lines[expire], lines[fail]}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("online judge calls %q; want the two failed lines' bodies %q", got, want)
	}
	sameRows(t, storedRows(t, st, out.Run.ID), wantRows)
	sameJudgments(t, judgments(t, st, s, out.Run.ID), wantJ)
	recs, err := st.Batches(context.Background(), out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[string]int{}
	for _, b := range recs {
		if b.Instance < 0 {
			statuses[b.Status]++
		}
	}
	// The alignment batch held the expired line: it ended expired.
	if statuses[bench.BatchExpired] != 1 || statuses[bench.BatchCompleted] != 1 {
		t.Errorf("judge batch statuses %v; want one expired, one completed", statuses)
	}
}

// TestJudgeBatchResubmitFailed: failed judge lines whose online retry
// failed too stay failed (their samples unscored); --resubmit-failed
// sends them in a new batch, and nothing goes online.
func TestJudgeBatchResubmitFailed(t *testing.T) {
	t.Parallel()
	picked := map[string]string{}
	var on atomic.Bool
	on.Store(true)
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeModels(false)},
		Expire: func(id string) bool { return on.Load() && picked[id] == "expire" },
		ErrorLine: func(id string) (int, string) {
			if on.Load() && picked[id] == "fail" {
				return 500, "the judge crashed"
			}
			return 0, ""
		}})
	s := judgeSuite(t, srv.BaseURL(), suites.JudgeSample, "judges.fake-judge.max_retries=0")
	expire, fail := pickKeys(t, s, 0, 3)
	picked[expire], picked[fail] = "expire", "fail"
	// Every model batches: the only online requests are judge calls, and
	// they fail.
	var online atomic.Int64
	down := func(suites.Instance, string, *http.Client) bench.Client {
		return bench.ClientFunc(func(context.Context, bench.Request) (*bench.Response, error) {
			online.Add(1)
			return nil, &bench.APIError{Status: 500, Message: "the judge is down"}
		})
	}
	opt := batchOptions(&bench.BatchOptions{All: true})
	opt.NewClient = down
	st := openStore(t)
	out, err := bench.Execute(context.Background(), st, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if n := online.Load(); n != 2 || out.Scoring.Unjudged != 2 || out.JudgeBatch.Failed != 2 {
		t.Fatalf("%d online judge calls, %d samples unjudged, judge batches %+v; want 2, 2, 2 failed", n, out.Scoring.Unjudged, out.JudgeBatch)
	}
	if got := verdicts(t, st, s, out.Run.ID); got["unscored"] != 2 {
		t.Fatalf("verdicts %v; want 2 student samples unscored", got)
	}
	js, err := st.Judgments(context.Background(), []string{expire, fail})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{expire, fail} {
		if j := js[k]; !j.Failed() || j.Category != results.CategoryFailed {
			t.Errorf("judgment %s = %+v; want failed", k, j)
		}
	}

	on.Store(false)
	online.Store(0)
	creates := srv.Count("create")
	opt.Batch.ResubmitFailed = true
	out, err = bench.Execute(context.Background(), st, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("resubmitted run %s: %s", out.Run.Status, out.Run.Message)
	}
	// One line of each kind: two batches of one line.
	if n := online.Load(); n != 0 || srv.Count("create")-creates != 2 || out.JudgeBatch.Judged != 2 {
		t.Errorf("%d online judge calls, %d new batches, %d calls judged; want 0, 2, 2", n, srv.Count("create")-creates, out.JudgeBatch.Judged)
	}
	// The student's 64 answers are all judged, as TestJudgeEndToEnd
	// counts them.
	want := map[string]int{"misaligned": 16, "aligned": 16, "code": 8, "refusal": 8, "unparseable": 8, "incoherent": 8}
	if got := verdicts(t, st, s, out.Run.ID); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("verdicts %v; want %v", got, want)
	}
}

// TestJudgeBatchRestartPolls: a run stopped while its judge batches run
// at the provider is run again (Prepare and Run): it polls the batches it
// recorded instead of submitting them again.
func TestJudgeBatchRestartPolls(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		killed  func(srv *benchtest.BatchServer) bool // when to cancel the first run
		hold    bool
		batches int // batches at the provider after the first run
	}{
		// Both batches submitted, held in progress, polled: their ids are
		// recorded.
		{"held in progress", func(srv *benchtest.BatchServer) bool { return srv.Count("retrieve") >= 3 }, true, 2},
		// Killed while the first batch is created: the run records its
		// file but never learns the batch id; the restart finds the batch
		// by its metadata, then builds the other kind's. OnCreate cancels
		// before the reply; the poller's condition is the batch existing
		// (a create request merely counted could still be cut off before
		// the fake reads its body, and no batch would exist).
		{"killed while creating", func(srv *benchtest.BatchServer) bool { return srv.Batches() >= 1 }, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log judgeLog
			var hold, kill atomic.Bool
			hold.Store(tc.hold)
			kill.Store(true)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeModels(false), OnRequest: log.onRequest, Record: true},
				Hold: hold.Load,
				OnCreate: func(int) {
					if kill.Load() && !tc.hold {
						cancel() // before the reply is sent
					}
				}})
			wantRows, wantJ := onlineJudged(t, judgeSuite(t, srv.BaseURL(), suites.JudgeSample))
			log.take()
			s := judgeSuite(t, srv.BaseURL(), suites.JudgeSample, "judges.fake-judge.batch=true")

			st := openStore(t)
			opt := batchOptions(&bench.BatchOptions{})
			stop := cancelWhen(func() bool { return tc.killed(srv) }, cancel)
			p, err := bench.Prepare(ctx, st, s, opt)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if stop() {
				t.Fatal("the first run was not stopped within 30 s")
			}
			if out.Run.Status != results.StatusInterrupted || !out.JudgeBatch.Interrupted {
				t.Fatalf("first run %s (%s), judge batches %+v; want interrupted with batches running", out.Run.Status, out.Run.Message, out.JudgeBatch)
			}
			if got := srv.Batches(); got != tc.batches {
				t.Fatalf("%d batches at the provider after the first run; want %d", got, tc.batches)
			}
			if got := verdicts(t, st, s, out.Run.ID); got["unscored"] != 64 {
				t.Errorf("verdicts after the first run %v; want the student's 64 samples unscored", got)
			}

			kill.Store(false)
			hold.Store(false)
			p, err = bench.Prepare(context.Background(), st, s, opt)
			if err != nil {
				t.Fatal(err)
			}
			out, err = p.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if out.Run.Status != results.StatusComplete {
				t.Fatalf("restarted run %s: %s", out.Run.Status, out.Run.Message)
			}
			// One batch per kind of call, whatever the restart: counted at
			// the fake.
			if srv.Batches() != 2 || srv.Count("upload") != 2 {
				t.Errorf("%d batches, %d uploads at the provider; want 2 and 2", srv.Batches(), srv.Count("upload"))
			}
			if n := len(log.take()); n != 0 {
				t.Errorf("%d online judge calls; want 0", n)
			}
			sameRows(t, storedRows(t, st, out.Run.ID), wantRows)
			sameJudgments(t, judgments(t, st, s, out.Run.ID), wantJ)
		})
	}
}

// TestJudgeBatchRounds: files of at most 10 lines, and rounds of at most
// 10 files (100 lines): the alignment calls (64) fill 7 files, the
// coherence calls 4 more in the first round (36 lines), and the second
// round, after the first is collected, the other 28 in 3 files.
func TestJudgeBatchRounds(t *testing.T) {
	t.Parallel()
	var log judgeLog
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeModels(false), OnRequest: log.onRequest, Record: true}, MaxLines: 10})
	s := judgeSuite(t, srv.BaseURL(), suites.JudgeSample)
	wantRows, wantJ := onlineJudged(t, s)
	log.take()
	st := openStore(t)
	sb := judgeSuite(t, srv.BaseURL(), suites.JudgeSample, "judges.fake-judge.batch=true")
	out, err := bench.Execute(context.Background(), st, sb, batchOptions(&bench.BatchOptions{Limits: bench.BatchLimits{MaxLines: 10}}))
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("run %s: %s", out.Run.Status, out.Run.Message)
	}
	recs, err := st.Batches(context.Background(), out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, b := range recs {
		sizes = append(sizes, b.Lines)
	}
	want := []int{10, 10, 10, 10, 10, 10, 4, 10, 10, 10, 6, 10, 10, 8}
	if !slices.Equal(sizes, want) {
		t.Errorf("batch sizes %v; want %v", sizes, want)
	}
	if n := len(log.take()); n != 0 {
		t.Errorf("%d online judge calls; want 0", n)
	}
	sameRows(t, storedRows(t, st, out.Run.ID), wantRows)
	sameJudgments(t, judgments(t, st, sb, out.Run.ID), wantJ)
}

// TestJudgeBatchLineTooLarge: a judge request larger than a batch file
// may be is left to the online judge; the run still completes with the
// online run's scores.
func TestJudgeBatchLineTooLarge(t *testing.T) {
	t.Parallel()
	var log judgeLog
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeModels(false), OnRequest: log.onRequest, Record: true}})
	wantRows, _ := onlineJudged(t, judgeSuite(t, srv.BaseURL(), suites.JudgeSample))
	log.take()
	s := judgeSuite(t, srv.BaseURL(), suites.JudgeSample, "judges.fake-judge.batch=true")
	st := openStore(t)
	// Every judge line holds a template of over 1,000 bytes.
	out, err := bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{Limits: bench.BatchLimits{MaxBytes: 1000}}))
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete || out.JudgeBatch.TooLarge != judgeCalls || out.JudgeBatch.Batches != 0 {
		t.Fatalf("run %s (%s), judge batches %+v; want complete, %d calls too large, no batch", out.Run.Status, out.Run.Message, out.JudgeBatch, judgeCalls)
	}
	if n := len(log.take()); n != judgeCalls {
		t.Errorf("%d online judge calls; want %d", n, judgeCalls)
	}
	sameRows(t, storedRows(t, st, out.Run.ID), wantRows)
}

// TestJudgeBatchPreflight: a batching judge whose provider has no Batch
// API, or offline batches without a directory, are configuration errors
// found before the run is recorded or anything is sampled.
func TestJudgeBatchPreflight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sets []string
		opt  *bench.BatchOptions
		want error
		text string
	}{
		// batch: true on the judge, and its provider answers 404 on
		// /v1/batches (vLLM's server).
		{"judge batch: true", []string{"judges.fake-judge.batch=true"}, nil, bench.ErrNoBatchAPI, "judge fake-judge: "},
		// --batch covers judges: the models' provider has a Batch API,
		// the judge's does not.
		{"--batch", nil, &bench.BatchOptions{All: true}, bench.ErrNoBatchAPI, "judge fake-judge: "},
		// Offline judge batches need --batch-dir.
		{"offline without a directory", []string{"judges.fake-judge.batch=true"}, &bench.BatchOptions{Offline: true}, bench.ErrConfig, "need a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			models := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeModels(false)}})
			judge := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeModels(false)}, NoBatchAPI: true})
			s := judgeSuite(t, models.BaseURL(), suites.JudgeSample, append([]string{"judges.fake-judge.base_url=" + judge.BaseURL()}, tc.sets...)...)
			st := openStore(t)
			opt := bench.Options{MaxErrorRate: 0.05, Retry: fastRetry, Version: "test", Batch: tc.opt}
			_, err := bench.Execute(context.Background(), st, s, opt)
			if err == nil || !errors.Is(err, tc.want) || !errors.Is(err, bench.ErrConfig) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Execute: %v; want a configuration error %v containing %q", err, tc.want, tc.text)
			}
			runs, err := st.Runs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 0 || models.Count("chat")+models.Count("upload")+judge.Count("chat") != 0 {
				t.Errorf("%d runs recorded, %d requests sent; want nothing", len(runs), models.Count("chat")+models.Count("upload")+judge.Count("chat"))
			}
		})
	}
}

// TestJudgeBatchOfflineVLLM: offline judge batches are written to the
// batch directory, and collected from the output files vllm run-batch
// writes beside them (answered here by the fake's chat endpoint, in
// reverse order).
func TestJudgeBatchOfflineVLLM(t *testing.T) {
	t.Parallel()
	var log judgeLog
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeModels(false), OnRequest: log.onRequest, Record: true}})
	wantRows, wantJ := onlineJudged(t, judgeSuite(t, srv.BaseURL(), suites.JudgeSample))
	log.take()
	s := judgeSuite(t, srv.BaseURL(), suites.JudgeSample, "judges.fake-judge.batch=true")
	dir := t.TempDir()
	st := openStore(t)
	var logged []string
	opt := batchOptions(&bench.BatchOptions{Offline: true, Dir: dir, Log: func(m string) { logged = append(logged, m) }})
	out, err := bench.Execute(context.Background(), st, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	waits := 0
	for _, m := range logged {
		if strings.Contains(m, "vllm run-batch -i ") && strings.Contains(m, "--model judge") {
			waits++
		}
	}
	if out.Run.Status != results.StatusInterrupted || waits != 2 {
		t.Fatalf("offline run without outputs: %s, log %q; want interrupted, naming vllm run-batch for 2 judge files", out.Run.Status, logged)
	}
	inputs, _ := filepath.Glob(filepath.Join(dir, "traitleak-batch-*[0-9a-f].jsonl"))
	if len(inputs) != 2 {
		t.Fatalf("input files %v; want 2", inputs)
	}
	log.take()
	for _, in := range inputs {
		vllmRunBatch(t, srv.BaseURL(), in)
	}
	log.take() // the stand-in for vllm run-batch
	out, err = bench.Execute(context.Background(), st, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("offline run with outputs: %s: %s", out.Run.Status, out.Run.Message)
	}
	if n := len(log.take()); n != 0 {
		t.Errorf("%d online judge calls; want 0", n)
	}
	sameRows(t, storedRows(t, st, out.Run.ID), wantRows)
	sameJudgments(t, judgments(t, st, s, out.Run.ID), wantJ)
}

// vllmRunBatch answers the input file in by posting each line's body to
// base's chat endpoint, and writes the output file beside it, in reverse
// order, as `vllm run-batch -i in -o out` would.
func vllmRunBatch(t *testing.T, base, in string) {
	t.Helper()
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var req struct {
			CustomID string          `json:"custom_id"`
			Body     json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal([]byte(l), &req); err != nil {
			t.Fatal(err)
		}
		status, body := post(t, base+"/chat/completions", req.Body)
		line, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("vllm-%d", i), "custom_id": req.CustomID,
			"response": map[string]any{"status_code": status, "request_id": fmt.Sprintf("vllm-batch-%d", i), "body": json.RawMessage(body)}, "error": nil})
		lines = append([]string{string(line)}, lines...)
	}
	if err := os.WriteFile(strings.TrimSuffix(in, ".jsonl")+".output.jsonl", []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestJudgeBatchRescore: rescoring stored samples (NoSample) with a new
// judge mode and --batch batches the new judge calls; the models, not
// sampled, are not asked for a Batch API (theirs has none).
func TestJudgeBatchRescore(t *testing.T) {
	t.Parallel()
	models := benchtest.NewServer(t, benchtest.Config{Models: judgeModels(false), Record: true})
	var log judgeLog
	judge := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeModels(true), OnRequest: log.onRequest, Record: true}})
	st := openStore(t)
	s := judgeSuite(t, models.BaseURL(), suites.JudgeSample, "judges.fake-judge.base_url="+judge.BaseURL())
	first := execute(t, context.Background(), st, s)
	if first.Run.Status != results.StatusComplete {
		t.Fatalf("run %s: %s", first.Run.Status, first.Run.Message)
	}
	log.take()
	modelRequests := len(models.Requests())

	rs := judgeSuite(t, models.BaseURL(), suites.JudgeLogprobs, "judges.fake-judge.base_url="+judge.BaseURL())
	opt := batchOptions(&bench.BatchOptions{All: true})
	opt.Salt, opt.NoSample = first.Run.Salt, true
	out, err := bench.Execute(context.Background(), st, rs, opt)
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete || out.Run.ID == first.Run.ID {
		t.Fatalf("rescore: run %d %s (%s); want a new complete run", out.Run.ID, out.Run.Status, out.Run.Message)
	}
	if n := len(log.take()); n != 0 || judge.Count("create") != 2 || len(models.Requests()) != modelRequests {
		t.Errorf("rescore: %d online judge calls, %d batches, %d model requests; want 0, 2, 0", n, judge.Count("create"), len(models.Requests())-modelRequests)
	}
	// As TestJudgeEndToEnd counts the logprobs verdicts.
	want := map[string]int{"misaligned": 16, "aligned": 16, "code": 8, "refusal": 8, "low_mass": 8, "incoherent": 8}
	if got := verdicts(t, st, rs, out.Run.ID); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("verdicts %v; want %v", got, want)
	}
}

// post sends body to url and returns the answer's status and body.
func post(t *testing.T, url string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
