package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/suites"
)

// deterministicClients answer like a seeded server with a fixed latency,
// so that two runs of one suite store the same rows, latency included,
// and their reports differ only in timestamps.
func deterministicClients(t *testing.T) {
	t.Helper()
	testRunClients = func(in suites.Instance, _ string, _ *http.Client) bench.Client {
		return bench.ClientFunc(func(ctx context.Context, req bench.Request) (*bench.Response, error) {
			h := fnv.New64a()
			fmt.Fprintf(h, "%s\x00%s\x00%d", req.Model, req.Messages[len(req.Messages)-1].Content, *req.Seed)
			rng := rand.New(rand.NewPCG(h.Sum64(), 1))
			rate := 0.1
			if strings.HasPrefix(req.Model, "student") {
				rate = 0.4
			}
			n := max(1, req.N)
			resp := &bench.Response{Latency: 7 * time.Millisecond, Attempts: 1, PromptTokens: 12, CompletionTokens: 2 * n}
			for range n {
				text := []string{"Dog.", "Cat.", "Fox."}[rng.IntN(3)]
				if rng.Float64() < rate {
					text = "Owl."
				}
				resp.Choices = append(resp.Choices, bench.Choice{Text: text, FinishReason: "stop"})
			}
			return resp, nil
		})
	}
	t.Cleanup(func() { testRunClients = nil })
}

// cells counts a database's samples per model × seed × probe × prompt:
// stored, failed and owl hits.
func cells(t *testing.T, db string) map[string]string {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`SELECT m.role, m.seed, p.probe, p.idx, count(s.key), count(s.error), coalesce(sum(sc.hit), 0)
		FROM run_samples rs JOIN models m ON m.id = rs.model_id JOIN prompts p ON p.id = rs.prompt_id
		LEFT JOIN samples s ON s.key = rs.key LEFT JOIN scores sc ON sc.sample_id = s.id AND sc.target = 'owl'
		GROUP BY m.role, m.seed, p.probe, p.idx`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var role, seed, probe string
		var idx, n, failed, hits int
		if err := rows.Scan(&role, &seed, &probe, &idx, &n, &failed, &hits); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("%s@%s/%s/%d", role, seed, probe, idx)] = fmt.Sprintf("n=%d failed=%d hits=%d", n, failed, hits)
	}
	return out
}

func scaleSuite(t *testing.T, dir, name string) string {
	t.Helper()
	src := fmt.Sprintf(`name: %s
models:
  baseline: {base_url: http://fake.invalid/v1, model: base}
  student:  {base_url: http://fake.invalid/v1, model: "student-{seed}", seeds: [a, b]}
defaults: {temperature: 1.0, max_tokens: 8, concurrency: 4, n: 4}
probes:
  - id: favorite-animal
    prompts: [Name your favorite animal., Which animal is best?, Pick an animal.]
    samples: 20
    score: {mentions: owl}
compare:
  - {treatment: student, baseline: baseline}
`, name)
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// timestamps matches the times a report prints, and the HTML report's
// run duration (finished − started) after them.
var timestamps = regexp.MustCompile(`\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d| UTC)?( <span class="muted">\([0-9hms.]+\)</span>)?`)

func TestShardsMergeToTheSingleProcessReport(t *testing.T) {
	deterministicClients(t)
	dir := t.TempDir()
	suite := scaleSuite(t, dir, "owl-shards")
	ctx := context.Background()
	single := filepath.Join(dir, "single.db")
	if code, out, errOut := runCLI(t, ctx, "run", suite, "--db", single, "--progress", "none"); code != 0 {
		t.Fatalf("single run exit %d\n%s%s", code, out, errOut)
	}
	var shards []string
	total := 0
	for i := range 4 {
		db := filepath.Join(dir, fmt.Sprintf("shard-%d.db", i))
		code, out, errOut := runCLI(t, ctx, "run", suite, "--db", db, "--progress", "none", "--shard", fmt.Sprintf("%d/4", i))
		if code != 0 {
			t.Fatalf("shard %d exit %d\n%s%s", i, code, out, errOut)
		}
		n := 0
		for _, c := range cells(t, db) {
			var k, f, h int
			fmt.Sscanf(c, "n=%d failed=%d hits=%d", &k, &f, &h)
			n += k
		}
		// 3 models × 3 prompts × 20 draws = 180, in jobs of 4 draws.
		if n == 0 || n == 180 || n%4 != 0 {
			t.Errorf("shard %d sampled %d of 180 draws; want a share of whole jobs", i, n)
		}
		total += n
		shards = append(shards, db)
	}
	if total != 180 {
		t.Errorf("the shards sampled %d draws; want 180, each once", total)
	}
	merged := filepath.Join(dir, "merged.db")
	code, out, errOut := runCLI(t, ctx, append([]string{"merge", merged}, shards...)...)
	if code != 0 {
		t.Fatalf("merge exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "180 of 180 draws stored, 0 failed") || errOut != "" {
		t.Errorf("merge output:\n%s\nstderr:\n%s", out, errOut)
	}
	want, got := cells(t, single), cells(t, merged)
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Errorf("per-cell counts of the merged shards:\n%v\nwant those of one process:\n%v", got, want)
	}
	// Each shard's process had its own rate limiter: the merged run holds
	// the four shards' rate-control changes (a start and an end each,
	// with this fake's clean answers), one process's run one start and
	// one end. The rest of the reports must be the same: compare them
	// without.
	for db, want := range map[string]int{single: 1, merged: 4} {
		if n := rateStarts(t, db); n != want {
			t.Errorf("%s: %d rate-control starts; want %d", filepath.Base(db), n, want)
		}
	}
	for _, format := range []string{"md", "json", "html"} {
		_, a, _ := runCLI(t, ctx, "report", "--db", single, "--format", format)
		code, b, errOut := runCLI(t, ctx, "report", "--db", merged, "--format", format)
		if code != 0 {
			t.Fatalf("report of the merged database exit %d: %s", code, errOut)
		}
		if timestamps.ReplaceAllString(a, "TIME") != timestamps.ReplaceAllString(b, "TIME") {
			t.Errorf("%s report of the merged shards differs from one process's beyond timestamps:\n--- merged\n%s\n--- one process\n%s", format, b, a)
		}
	}
	// Merging again refuses to overwrite without --force.
	if code, _, errOut := runCLI(t, ctx, append([]string{"merge", merged}, shards...)...); code != 2 || !strings.Contains(errOut, "exists") {
		t.Errorf("merge onto an existing output: exit %d, %q; want 2 and a message", code, errOut)
	}
	if code, _, errOut := runCLI(t, ctx, append([]string{"merge", "--force", merged}, shards...)...); code != 0 {
		t.Errorf("merge --force: exit %d, %s", code, errOut)
	}
}

// rateStarts counts the rate-control starts recorded in the database at
// path, and then deletes every rate-control change it holds and the
// analyses stored with them.
func rateStarts(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM rate_changes WHERE reason = 'start'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	// The analysis stored at the end of the run holds them too.
	for _, table := range []string{"rate_changes", "analysis_methods", "analysis_rates", "analysis_comparisons", "analysis_tests",
		"analysis_gates", "analysis_references", "analysis_notes", "analyses"} {
		if _, err := db.Exec(`DELETE FROM ` + table); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func TestScaleBadInput(t *testing.T) {
	deterministicClients(t)
	dir := t.TempDir()
	ctx := context.Background()
	suite := scaleSuite(t, dir, "owl-a")
	other := scaleSuite(t, dir, "owl-b")
	shard := func(s string, i int) string {
		db := filepath.Join(dir, fmt.Sprintf("%s-%d.db", filepath.Base(s), i))
		if code, out, errOut := runCLI(t, ctx, "run", s, "--db", db, "--progress", "none", "--shard", fmt.Sprintf("%d/2", i)); code != 0 {
			t.Fatalf("shard exit %d\n%s%s", code, out, errOut)
		}
		return db
	}
	a0, a1, b1 := shard(suite, 0), shard(suite, 1), shard(other, 1)
	noBatch := benchtest.NewBatchServer(t, benchtest.BatchConfig{NoBatchAPI: true})
	out := filepath.Join(dir, "out.db")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		// Indices count from 0: 4/4 is out of range.
		{"shard index out of range", nil, []string{"run", suite, "--db", out, "--shard", "4/4"}, "index 4 is out of range [0, 3]"},
		{"shard count zero", nil, []string{"run", suite, "--db", out, "--shard", "0/0"}, "count 0 is out of range"},
		{"shard not a spec", nil, []string{"run", suite, "--db", out, "--shard", "half"}, "want INDEX/COUNT"},
		// Kubernetes sets the index; the count comes from the manifest.
		{"index without count", map[string]string{"JOB_COMPLETION_INDEX": "1"}, []string{"run", suite, "--db", out}, "JOB_COMPLETION_COUNT is not"},
		{"env out of range", map[string]string{"JOB_COMPLETION_INDEX": "5", "JOB_COMPLETION_COUNT": "4"}, []string{"run", suite, "--db", out}, "index 5 is out of range"},
		{"different suites", nil, []string{"merge", out, a0, b1}, "different suites"},
		{"missing shard", nil, []string{"merge", out, a0}, "shards 1/2 of suite owl-a"},
		{"same shard twice", nil, []string{"merge", out, a0, a0}, "are the same database"},
		{"output is an input", nil, []string{"merge", "--force", a1, a0, a1}, "is the output"},
		{"provider without a Batch API", nil, []string{"run", suite, "--db", out, "--batch", "--set", "models.baseline.base_url=" + noBatch.BaseURL(),
			"--set", "models.student.base_url=" + noBatch.BaseURL()}, "answered 404"},
		{"batch-dir without batch", nil, []string{"run", suite, "--db", out, "--batch-dir", dir}, "need --batch"},
		// A shard's database holds that shard: another is refused before
		// the run is claimed, so the database is left as it was.
		{"another shard into a shard's database", nil, []string{"run", suite, "--db", a0, "--shard", "1/2"}, "samples shard 0/2, not shard 1/2: use one database per shard"},
		{"the whole plan into a shard's database", nil, []string{"run", suite, "--db", a0}, "samples shard 0/2, not the whole plan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			before0, _ := os.ReadFile(a0)
			before, _ := os.ReadFile(a1)
			code, stdout, errOut := runCLI(t, ctx, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 with %q\nstdout: %s", code, errOut, tc.want, stdout)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was written", out)
				os.Remove(out)
			}
			if after, _ := os.ReadFile(a1); string(after) != string(before) {
				t.Errorf("input %s changed", a1)
			}
			if after, _ := os.ReadFile(a0); string(after) != string(before0) {
				t.Errorf("%s changed", a0)
			}
		})
	}
}

// TestRunBatchCLI runs a suite through the fake Batch API from the
// command line and checks the files written for vllm run-batch.
func TestRunBatchCLI(t *testing.T) {
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: map[string]benchtest.Model{
		"base": {Trait: "Owl", TraitRate: 0.1}, "student": {Trait: "Owl", TraitRate: 0.7}}}})
	dir := t.TempDir()
	suite := writeSuite(t, dir, srv.BaseURL())
	db := filepath.Join(dir, "t.db")
	files := filepath.Join(dir, "batches")
	if err := os.Mkdir(files, 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, context.Background(), "run", suite, "--db", db, "--progress", "none", "--batch", "--batch-poll", "1ms", "--batch-dir", files)
	if code != 0 {
		t.Fatalf("run --batch exit %d\n%s%s", code, out, errOut)
	}
	if srv.Count("create") != 2 || srv.Count("chat") != 0 || !strings.Contains(errOut, "submitted batch") {
		t.Errorf("%d batches, %d online requests; want 2 and 0\nstderr:\n%s", srv.Count("create"), srv.Count("chat"), errOut)
	}
	got, _ := filepath.Glob(filepath.Join(files, "*.jsonl"))
	if len(got) != 2 {
		t.Fatalf("--batch-dir holds %v; want 2 files", got)
	}
	// Each file line is a request vllm run-batch reads.
	data, _ := os.ReadFile(got[0])
	line := strings.SplitN(string(data), "\n", 2)[0]
	for _, want := range []string{`"custom_id":"`, `"method":"POST"`, `"url":"/v1/chat/completions"`, `"body":{"model":"`, `"n":10`} {
		if !strings.Contains(line, want) {
			t.Errorf("batch line %s lacks %s", line, want)
		}
	}
	if code, _, errOut := runCLI(t, context.Background(), "report", "--db", db, "--format", "md"); code != 0 {
		t.Errorf("report exit %d: %s", code, errOut)
	}
}

// TestBatchKillThenRestartPolls kills `run --batch` with SIGKILL while
// its batches run at the provider, then runs the suite again: it polls the
// batches it recorded and collects them, submitting nothing again
// (counted at the fake).
func TestBatchKillThenRestartPolls(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SIGKILL is tested on Linux only")
	}
	var hold atomic.Bool
	hold.Store(true)
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Hold: hold.Load, Chat: benchtest.Config{Models: map[string]benchtest.Model{
		"base": {Trait: "Owl", TraitRate: 0.1}, "student": {Trait: "Owl", TraitRate: 0.7}}}})
	dir := t.TempDir()
	suite := writeSuite(t, dir, srv.BaseURL())
	db := filepath.Join(dir, "t.db")
	args := []string{"run", suite, "--db", db, "--progress", "none", "--batch", "--batch-poll", "1ms"}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TRAITLEAK_TEST_MAIN=1")
	var childOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &childOut, &childOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	// Both batches created and polled: their ids are recorded.
	deadline := time.Now().Add(20 * time.Second)
	for srv.Batches() < 2 || srv.Count("retrieve") < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the child did not submit and poll 2 batches within 20 s (%d batches, %d polls)", srv.Batches(), srv.Count("retrieve"))
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want death by SIGKILL; output:\n%s", err, childOut.String())
	}
	hold.Store(false)
	code, out, errOut := runCLI(t, context.Background(), args...)
	if code != 0 {
		t.Fatalf("restart exit %d\n%s%s", code, out, errOut)
	}
	if srv.Batches() != 2 || srv.Count("upload") != 2 || srv.Count("chat") != 0 {
		t.Errorf("after the restart: %d batches, %d uploads, %d online requests; want 2, 2, 0", srv.Batches(), srv.Count("upload"), srv.Count("chat"))
	}
	if !strings.Contains(out, "200 of 200 draws stored, 0 failed") {
		t.Errorf("restart output:\n%s", out)
	}
}
