package bench_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// batchModels answer deterministically from the request's seed, so that
// an online run and a batch run of the same suite get the same samples.
var batchModels = map[string]benchtest.Model{
	"base":    {Trait: "Owl.", TraitRate: 0.2, Fillers: []string{"Dog.", "Cat.", "Wolf."}},
	"student": {Trait: "Owl.", TraitRate: 0.5, Fillers: []string{"Dog.", "Cat."}},
}

var fastPoll = bench.PollPolicy{Interval: time.Millisecond, MaxInterval: 2 * time.Millisecond, MaxWait: 30 * time.Second}

func batchOptions(b *bench.BatchOptions) bench.Options {
	if b.Poll == (bench.PollPolicy{}) {
		b.Poll = fastPoll
	}
	return bench.Options{MaxErrorRate: 0.05, Retry: fastRetry, Version: "test", Batch: b}
}

// row is what a stored draw holds, apart from when and how fast it was
// drawn (created_at, latency) and by which run.
type row struct {
	Completion, Finish, Err  string
	PromptTokens, CompTokens int
	Attempts, Batch          int
	Seed                     int64
	Status                   int
	Scores                   string
}

func storedRows(t *testing.T, st *results.Store, runID int64) map[string]row {
	t.Helper()
	ctx := context.Background()
	scorers, err := st.Scorers(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	byProbe := map[string]string{}
	for _, sc := range scorers {
		byProbe[sc.Probe] = sc.Scorer
	}
	out := map[string]row{}
	for r, err := range st.Rows(ctx, runID, func(p string) string { return byProbe[p] }) {
		if err != nil {
			t.Fatal(err)
		}
		if !r.Stored {
			continue
		}
		s := r.Sample
		var seed int64 = -1
		if s.RequestSeed != nil {
			seed = *s.RequestSeed
		}
		var sc []string
		for _, x := range r.Scores {
			v := "NaN"
			if !math.IsNaN(x.Value) {
				v = fmt.Sprint(x.Value)
			}
			sc = append(sc, fmt.Sprintf("%s:%v:%v:%s:%s", x.Target, x.Valid, x.Hit, v, x.Label))
		}
		out[s.Key] = row{Completion: s.Completion, Finish: s.FinishReason, Err: s.Err, PromptTokens: s.PromptTokens, CompTokens: s.CompletionTokens,
			Attempts: s.Attempts, Batch: s.Batch, Seed: seed, Status: s.HTTPStatus, Scores: strings.Join(sc, ",")}
	}
	return out
}

func sameRows(t *testing.T, got, want map[string]row) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d stored draws; want %d", len(got), len(want))
	}
	bad := 0
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			if bad++; bad <= 3 {
				t.Errorf("draw %s = %+v; want %+v", k, g, w)
			}
		}
	}
	if bad > 3 {
		t.Errorf("... %d draws differ in all", bad)
	}
}

// onlineRows runs s online against srv's chat endpoint into a new store
// and returns its stored rows.
func onlineRows(t *testing.T, s *suites.Suite) map[string]row {
	t.Helper()
	st := openStore(t)
	out := execute(t, context.Background(), st, s)
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("online run %s: %s", out.Run.Status, out.Run.Message)
	}
	return storedRows(t, st, out.Run.ID)
}

func TestBatchRunMatchesOnlineRun(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: batchModels}})
	s := suiteFor(t, srv.BaseURL())
	want := onlineRows(t, s)
	online := srv.Count("chat")

	dir := t.TempDir()
	st := openStore(t)
	out, err := bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{All: true, Dir: dir}))
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("batch run %s: %s", out.Run.Status, out.Run.Message)
	}
	sameRows(t, storedRows(t, st, out.Run.ID), want)
	// 2 models × 3 prompts × 10 draws at n = 5: 6 lines per model, one
	// file per model; no online request.
	if got := srv.Count("create"); got != 2 {
		t.Errorf("%d batches created; want 2 (one per model)", got)
	}
	if got := srv.Count("chat"); got != online {
		t.Errorf("the batch run sent %d online requests; want 0", got-online)
	}
	if got := len(srv.Lines()); got != 12 {
		t.Errorf("%d input lines; want 12", got)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "traitleak-batch-*.jsonl"))
	if len(files) != 2 {
		t.Errorf("--batch-dir holds %d files; want 2", len(files))
	}
	if out.Summary.Done != 60 || out.Summary.Failed != 0 {
		t.Errorf("summary: %d done, %d failed; want 60, 0", out.Summary.Done, out.Summary.Failed)
	}
	batches, err := st.Batches(context.Background(), out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if !b.Collected || b.Status != bench.BatchCompleted || b.BatchID == "" || b.FileID == "" {
			t.Errorf("batch record %+v: want collected, completed, with ids", b)
		}
	}
}

func TestBatchFilesSplitAtLimits(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: batchModels}, MaxLines: 4})
	s := suiteFor(t, srv.BaseURL())
	st := openStore(t)
	out, err := bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{All: true, Limits: bench.BatchLimits{MaxLines: 4}}))
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("run %s: %s", out.Run.Status, out.Run.Message)
	}
	// 6 lines per model in files of at most 4 lines: 4 + 2, twice.
	if got := srv.Count("create"); got != 4 {
		t.Errorf("%d batches created; want 4", got)
	}
}

func TestBatchRestartPollsInsteadOfResubmitting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		lose int // creations whose reply is lost
		// forget drops the plan positions of the recorded lines before the
		// restart, as a database merged from shards has them: the restart
		// finds the lines' draws by key.
		forget bool
	}{
		// The kill comes while the first batch is being created: its reply
		// never reaches the run, which has recorded the file but not the
		// batch id; the restart finds the batch by its metadata.
		{"killed while creating", 0, false},
		// Same, and the first creation after the restart also loses its
		// reply: the retry finds the batch instead of creating another.
		{"lost reply", 1, false},
		{"lines without plan positions", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var kill atomic.Bool
			kill.Store(true)
			srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: batchModels}, LoseCreate: tc.lose,
				OnCreate: func(int) {
					if kill.Load() {
						cancel()
					}
				}})
			s := suiteFor(t, srv.BaseURL())
			want := onlineRows(t, s)
			st := openStore(t)
			out, err := bench.Execute(ctx, st, s, batchOptions(&bench.BatchOptions{All: true}))
			if err != nil {
				t.Fatal(err)
			}
			if out.Run.Status != results.StatusInterrupted {
				t.Fatalf("first run %s (%s); want interrupted", out.Run.Status, out.Run.Message)
			}
			if got := srv.Batches(); got != 1 {
				t.Fatalf("%d batches after the kill; want 1", got)
			}
			kill.Store(false)
			if tc.forget {
				raw, err := sql.Open("sqlite3", st.Path())
				if err != nil {
					t.Fatal(err)
				}
				res, err := raw.Exec(`UPDATE batch_lines SET plan_idx = NULL`)
				raw.Close()
				if n, _ := res.RowsAffected(); err != nil || n == 0 {
					t.Fatalf("forget plan positions: %d lines, %v", n, err)
				}
			}
			out, err = bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{All: true}))
			if err != nil {
				t.Fatal(err)
			}
			if out.Run.Status != results.StatusComplete {
				t.Fatalf("restarted run %s: %s", out.Run.Status, out.Run.Message)
			}
			// One batch per model, whatever the restarts: counted at the fake.
			if got := srv.Batches(); got != 2 {
				t.Errorf("%d batches at the provider; want 2", got)
			}
			if got := srv.Count("upload"); got != 2 {
				t.Errorf("%d uploads; want 2", got)
			}
			sameRows(t, storedRows(t, st, out.Run.ID), want)
			// A third run finds everything stored: nothing is sent.
			creates, uploads := srv.Count("create"), srv.Count("upload")
			out, err = bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{All: true}))
			if err != nil {
				t.Fatal(err)
			}
			if srv.Count("create") != creates || srv.Count("upload") != uploads || out.Summary.Done != 0 {
				t.Errorf("a run with every draw stored created %d batches, uploaded %d files and sampled %d draws; want none",
					srv.Count("create")-creates, srv.Count("upload")-uploads, out.Summary.Done)
			}
		})
	}
}

// TestBatchRestartBeforeUpload: a run killed after recording its batches
// but before uploading them rebuilds the same files and submits them once.
func TestBatchRestartBeforeUpload(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: batchModels}})
	s := suiteFor(t, srv.BaseURL())
	st := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	opt := batchOptions(&bench.BatchOptions{All: true, Log: func(msg string) {}})
	// Cancelled before Run: the batches are recorded, nothing is sent.
	p, err := bench.Prepare(ctx, st, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	out, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusInterrupted || srv.Count("upload") != 0 {
		t.Fatalf("cancelled run: %s with %d uploads; want interrupted with none", out.Run.Status, srv.Count("upload"))
	}
	recs, err := st.Batches(context.Background(), out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Status != results.BatchPrepared {
		t.Fatalf("recorded batches %+v; want 2 prepared", recs)
	}
	out, err = bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{All: true}))
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete || srv.Batches() != 2 || srv.Count("upload") != 2 {
		t.Errorf("restart: %s, %d batches, %d uploads; want complete, 2, 2", out.Run.Status, srv.Batches(), srv.Count("upload"))
	}
}

func TestBatchExpiredAndFailedLines(t *testing.T) {
	t.Parallel()
	var expire, fail atomic.Bool
	expire.Store(true)
	fail.Store(true)
	// The lines to expire and to fail are picked from the plan once the
	// server's URL, and so the keys, are known.
	picked := map[string]string{}
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: batchModels},
		Expire: func(id string) bool { return expire.Load() && picked[id] == "expire" },
		ErrorLine: func(id string) (int, string) {
			if fail.Load() && picked[id] == "fail" {
				return 500, "the model crashed"
			}
			return 0, ""
		}})
	s := suiteFor(t, srv.BaseURL())
	jobs := slices.Collect(bench.NewPlan(s, "").Jobs())
	// Jobs 0 and 7: the baseline's first and the student's second line.
	picked[jobs[0].Keys[0]] = "expire"
	picked[jobs[7].Keys[0]] = "fail"
	want := onlineRows(t, s)
	st := openStore(t)
	out, err := bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{All: true}))
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusFailed {
		t.Fatalf("run %s; want failed (too many failed samples)", out.Run.Status)
	}
	got := storedRows(t, st, out.Run.ID)
	// A line is failed when its first draw's key picks it; every draw of
	// the line then fails with it.
	lineFailed := 0
	for k, r := range got {
		switch {
		case r.Err == "":
			if r != want[k] {
				t.Errorf("answered draw %s = %+v; want the online run's %+v", k, r, want[k])
			}
		case strings.Contains(r.Err, "batch_expired"):
			lineFailed++
		case strings.Contains(r.Err, "HTTP 500: the model crashed") && r.Status == 500:
			lineFailed++
		default:
			t.Errorf("draw %s failed with %q (status %d); want batch_expired or the line's HTTP 500", k, r.Err, r.Status)
		}
		if r.Err != "" && r.Scores != "" {
			t.Errorf("failed draw %s has scores %s", k, r.Scores)
		}
	}
	// Two lines of n = 5 draws fail.
	if len(got) != 60 || lineFailed != 10 {
		t.Fatalf("%d draws stored, %d failed; want 60 with 10 failed", len(got), lineFailed)
	}
	if out.Counts.Failed != lineFailed {
		t.Errorf("counts say %d failed; the rows %d", out.Counts.Failed, lineFailed)
	}

	// Without --resubmit-failed the failures stay: nothing is sent.
	creates := srv.Count("create")
	expire.Store(false)
	fail.Store(false)
	out, err = bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{All: true}))
	if err != nil {
		t.Fatal(err)
	}
	if srv.Count("create") != creates || out.Counts.Failed != lineFailed {
		t.Errorf("a run without --resubmit-failed created %d batches and left %d failed; want 0 and %d", srv.Count("create")-creates, out.Counts.Failed, lineFailed)
	}
	// With it, only the failed lines are sent again, and the run completes
	// with the online run's samples.
	out, err = bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{All: true, ResubmitFailed: true}))
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("resubmitted run %s: %s", out.Run.Status, out.Run.Message)
	}
	if out.Summary.Done != lineFailed {
		t.Errorf("the resubmission sampled %d draws; want the %d failed ones", out.Summary.Done, lineFailed)
	}
	sameRows(t, storedRows(t, st, out.Run.ID), want)
}

func TestBatchFailedValidation(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: batchModels}, Fail: "the model does not support batches"})
	s := suiteFor(t, srv.BaseURL())
	st := openStore(t)
	out, err := bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{All: true}))
	if err != nil {
		t.Fatal(err)
	}
	if out.Counts.Failed != 60 || out.Run.Status != results.StatusFailed {
		t.Fatalf("run %s with %d failed; want failed with all 60", out.Run.Status, out.Counts.Failed)
	}
	for k, r := range storedRows(t, st, out.Run.ID) {
		if !strings.Contains(r.Err, "batch_failed") || !strings.Contains(r.Err, "the model does not support batches") {
			t.Fatalf("draw %s failed with %q; want batch_failed with the provider's message", k, r.Err)
		}
	}
}

// TestBatchBadInput: a provider without a Batch API and a request too
// large for a batch file are configuration errors found before the run
// is recorded.
func TestBatchBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cfg    benchtest.BatchConfig
		limits bench.BatchLimits
		want   error
		text   string
	}{
		// vLLM's server answers 404 on /v1/batches.
		{"no batch API", benchtest.BatchConfig{NoBatchAPI: true}, bench.BatchLimits{}, bench.ErrNoBatchAPI, "answered 404"},
		// Each line is a few hundred bytes: 100 bytes fits none.
		{"line over the limit", benchtest.BatchConfig{}, bench.BatchLimits{MaxBytes: 100}, bench.ErrBatchLimit, "more than a batch file may hold (100 bytes)"},
		// A key the provider refuses.
		{"bad key", benchtest.BatchConfig{APIKey: "right"}, bench.BatchLimits{}, nil, "HTTP 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Chat = benchtest.Config{Models: batchModels}
			srv := benchtest.NewBatchServer(t, tc.cfg)
			s := suiteFor(t, srv.BaseURL())
			st := openStore(t)
			_, err := bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{All: true, Limits: tc.limits}))
			if err == nil || !strings.Contains(err.Error(), tc.text) || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Execute: %v; want %v containing %q", err, tc.want, tc.text)
			}
			if tc.want != nil && !errors.Is(err, bench.ErrConfig) {
				t.Errorf("Execute: %v; want a configuration error", err)
			}
			runs, err := st.Runs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 0 || srv.Count("upload") != 0 {
				t.Errorf("%d runs recorded, %d files uploaded; want nothing written", len(runs), srv.Count("upload"))
			}
		})
	}
}

// TestBatchPerModel: batch: true on one model sends only that model
// through the Batch API; the other is sampled online, and both give the
// online run's samples.
func TestBatchPerModel(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: batchModels}})
	s := suiteFor(t, srv.BaseURL())
	want := onlineRows(t, s)
	online := srv.Count("chat")
	s = suiteFor(t, srv.BaseURL(), "models.student.batch=true")
	st := openStore(t)
	out, err := bench.Execute(context.Background(), st, s, bench.Options{MaxErrorRate: 0.05, Retry: fastRetry, Version: "test",
		Batch: &bench.BatchOptions{Poll: fastPoll}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("run %s: %s", out.Run.Status, out.Run.Message)
	}
	sameRows(t, storedRows(t, st, out.Run.ID), want)
	// The baseline's 6 requests online, the student's 6 lines in 1 batch.
	if got := srv.Count("chat") - online; got != 6 {
		t.Errorf("%d online requests; want 6 (the baseline's)", got)
	}
	if got := srv.Count("create"); got != 1 {
		t.Errorf("%d batches; want 1 (the student's)", got)
	}
}

func TestParseBatchOutputLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, line string
		wantErr    string // "" when the line parses
		lineErr    string // what Err() says; "" for an answer
	}{
		// OpenAI's output line for an answered request.
		{"answer", `{"id":"batch_req_1","custom_id":"k1","response":{"status_code":200,"request_id":"r","body":{"choices":[]}},"error":null}`, "", ""},
		// vLLM run-batch writes the same shape with its own ids.
		{"vllm", `{"id":"vllm-abc","custom_id":"k2","response":{"status_code":200,"request_id":"vllm-batch-x","body":{"id":"chatcmpl-1","choices":[]}},"error":null}`, "", ""},
		// An HTTP error answer in the error file carries the body's message.
		{"http error", `{"id":"r","custom_id":"k3","response":{"status_code":429,"body":{"error":{"message":"slow down"}}},"error":null}`, "", "HTTP 429: slow down"},
		// A request the window did not reach.
		{"expired", `{"id":"r","custom_id":"k4","response":null,"error":{"code":"batch_expired","message":"too late"}}`, "", "batch request batch_expired: too late"},
		// Without custom_id the line cannot be joined.
		{"no custom_id", `{"id":"r","response":{"status_code":200,"body":{}}}`, "without custom_id", ""},
		// Neither answer nor error.
		{"empty", `{"custom_id":"k5"}`, "neither response nor error", ""},
		{"not JSON", `<html>`, "malformed", ""},
		{"two objects", `{"custom_id":"k","error":{"code":"x"}} {}`, "data after", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := bench.ParseBatchOutputLine([]byte(tc.line))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, bench.ErrMalformed) {
					t.Fatalf("ParseBatchOutputLine = %v; want ErrMalformed containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lerr := l.Err()
			if tc.lineErr == "" && lerr != nil || tc.lineErr != "" && (lerr == nil || lerr.Error() != tc.lineErr) {
				t.Errorf("Err() = %v; want %q", lerr, tc.lineErr)
			}
		})
	}
}

func FuzzParseBatchOutputLine(f *testing.F) {
	f.Add([]byte(`{"id":"batch_req_1","custom_id":"k1","response":{"status_code":200,"request_id":"r","body":{"choices":[]}},"error":null}`))
	f.Add([]byte(`{"id":"r","custom_id":"k4","response":null,"error":{"code":"batch_expired","message":"too late"}}`))
	f.Add([]byte(`{"custom_id":"k","response":{"status_code":"200"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := bench.ParseBatchOutputLine(b)
		if err != nil {
			if !errors.Is(err, bench.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if l.CustomID == "" || l.Response == nil && l.Error == nil {
			t.Fatalf("accepted %q without custom_id or content", b)
		}
		_ = l.Err() // never panics
	})
}

// TestBatchOfflineVLLMRoundTrip: with Offline the input files are only
// written; a run finds the output files `vllm run-batch` writes beside
// them and stores the same samples as an online run. The fake plays vLLM:
// it answers each line's body with the chat handler and writes vLLM's
// output lines, in reverse order.
func TestBatchOfflineVLLMRoundTrip(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewServer(t, benchtest.Config{Models: batchModels})
	s := suiteFor(t, srv.BaseURL())
	want := onlineRows(t, s)
	dir := t.TempDir()
	st := openStore(t)
	var logged []string
	opt := batchOptions(&bench.BatchOptions{All: true, Offline: true, Dir: dir, Log: func(m string) { logged = append(logged, m) }})
	out, err := bench.Execute(context.Background(), st, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusInterrupted || len(logged) != 2 || !strings.Contains(logged[0], "vllm run-batch -i ") {
		t.Fatalf("offline run without outputs: %s, log %q; want interrupted, naming vllm run-batch twice", out.Run.Status, logged)
	}
	inputs, _ := filepath.Glob(filepath.Join(dir, "traitleak-batch-*[0-9a-f].jsonl"))
	if len(inputs) != 2 {
		t.Fatalf("input files %v; want 2", inputs)
	}
	for _, in := range inputs {
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
			resp, err := http.Post(srv.BaseURL()+"/chat/completions", "application/json", bytes.NewReader(req.Body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			line, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("vllm-%d", i), "custom_id": req.CustomID,
				"response": map[string]any{"status_code": resp.StatusCode, "request_id": fmt.Sprintf("vllm-batch-%d", i), "body": json.RawMessage(body)}, "error": nil})
			lines = append([]string{string(line)}, lines...)
		}
		outPath := strings.TrimSuffix(in, ".jsonl") + ".output.jsonl"
		if err := os.WriteFile(outPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err = bench.Execute(context.Background(), st, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("offline run with outputs: %s: %s", out.Run.Status, out.Run.Message)
	}
	sameRows(t, storedRows(t, st, out.Run.ID), want)
}

// TestBatchModelStopsBatching: a run interrupted while its batches run
// is resumed without --batch, one model still batching (batch: true): the
// model that stopped batching leaves its uncollected batch alone (as a
// judge that stops batching does) and samples its draws online, the
// other collects its batch, and every draw is stored once, as an online
// run stores it.
func TestBatchModelStopsBatching(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var kill atomic.Bool
	kill.Store(true)
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: batchModels},
		OnCreate: func(n int) {
			if kill.Load() && n == 2 {
				cancel() // both models' batches are created
			}
		}})
	s := suiteFor(t, srv.BaseURL(), "models.student.batch=true")
	want := onlineRows(t, suiteFor(t, srv.BaseURL()))
	online := srv.Count("chat")
	st := openStore(t)
	out, err := bench.Execute(ctx, st, s, batchOptions(&bench.BatchOptions{All: true}))
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusInterrupted || srv.Batches() != 2 {
		t.Fatalf("first run %s (%s) with %d batches; want interrupted with 2", out.Run.Status, out.Run.Message, srv.Batches())
	}
	kill.Store(false)
	// --batch dropped: the baseline is sampled online, the student
	// (batch: true) through its batch.
	out, err = bench.Execute(context.Background(), st, s, batchOptions(&bench.BatchOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if out.Run.Status != results.StatusComplete {
		t.Fatalf("resumed run %s: %s", out.Run.Status, out.Run.Message)
	}
	sameRows(t, storedRows(t, st, out.Run.ID), want)
	// The baseline's 6 requests online; no batch created again.
	if got := srv.Count("chat") - online; got != 6 {
		t.Errorf("%d online requests; want 6 (the baseline's)", got)
	}
	if got := srv.Batches(); got != 2 {
		t.Errorf("%d batches at the provider; want 2", got)
	}
	recs, err := st.Batches(context.Background(), out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range recs {
		// The baseline's batch (instance 0) is left uncollected, for a run
		// that batches it again; the student's is collected.
		if b.Collected != (b.Instance == 1) {
			t.Errorf("batch of instance %d collected %v; want %v", b.Instance, b.Collected, b.Instance == 1)
		}
	}
	use, err := st.DrawnTokens(context.Background(), out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range use {
		if batched := u.BatchedPromptTokens > 0; batched != (u.Instance == 1) || u.Instance == 1 && u.BatchedPromptTokens != u.PromptTokens {
			t.Errorf("instance %d: %d of %d prompt tokens batched; want the student's all, the baseline's none", u.Instance, u.BatchedPromptTokens, u.PromptTokens)
		}
	}
}
