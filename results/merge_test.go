package results_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// answering returns clients that answer every request of a model with the
// text answers gives it, or fail with HTTP 500 when it gives "".
func answering(answers map[string]string) bench.ClientFactory {
	return func(in suites.Instance, _ string, _ *http.Client) bench.Client {
		return bench.ClientFunc(func(ctx context.Context, req bench.Request) (*bench.Response, error) {
			text := answers[req.Model]
			if text == "" {
				return nil, &bench.APIError{Status: 500, Message: "down"}
			}
			resp := &bench.Response{Attempts: 1}
			for range max(1, req.N) {
				resp.Choices = append(resp.Choices, bench.Choice{Text: text, FinishReason: "stop"})
			}
			return resp, nil
		})
	}
}

// mergeSuite is the suite of the merge tests: a baseline and a student,
// 2 prompts × 4 samples at n = 2, no retries.
func mergeSuite(t *testing.T) *suites.Suite {
	t.Helper()
	s, err := suites.Parse("s.yaml", []byte(`name: merge
models:
  baseline: {base_url: http://127.0.0.1:1/v1, model: base}
  student:  {base_url: http://127.0.0.1:1/v1, model: student}
defaults: {n: 2, max_retries: 0}
probes:
  - {id: p, prompts: [a, b], samples: 4, score: {mentions: owl}}
`), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runInto(t *testing.T, path string, s *suites.Suite, answers map[string]string) {
	t.Helper()
	st, err := results.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = bench.Execute(context.Background(), st, s, bench.Options{MaxErrorRate: 0.05, Version: "test", NewClient: answering(answers),
		Retry: bench.RetryPolicy{MaxElapsed: time.Second, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMergeConflicts merges two databases of one suite and salt (not
// shards) that drew the same keys: a success replaces a failure, two
// different successes are conflicts, reported, the first input's kept.
func TestMergeConflicts(t *testing.T) {
	t.Parallel()
	s := mergeSuite(t)
	dir := t.TempDir()
	a, b, out := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"), filepath.Join(dir, "out.db")
	runInto(t, a, s, map[string]string{"base": "", "student": "Owl."})
	runInto(t, b, s, map[string]string{"base": "Cat.", "student": "Dog."})
	ctx := context.Background()
	sum, err := results.Merge(ctx, out, []string{a, b}, results.MergeOptions{MaxConflicts: 3})
	if err != nil {
		t.Fatal(err)
	}
	// The student's 8 draws differ; the baseline's failures in a.db are
	// replaced by b.db's answers, which is no conflict.
	if sum.SampleConflicts != 8 || len(sum.Conflicts) != 3 || sum.Conflicts[0].Other != b {
		t.Errorf("conflicts: %d, listed %+v; want 8, the first 3 listed, from %s", sum.SampleConflicts, sum.Conflicts, b)
	}
	if len(sum.Runs) != 1 || sum.Runs[0].Counts != (results.RunCounts{Planned: 16, Stored: 16, Failed: 0}) {
		t.Fatalf("merged runs %+v; want one with 16 draws stored, none failed", sum.Runs)
	}
	// a.db's run failed (all its baseline draws did): so does the merge,
	// naming it.
	if r := sum.Runs[0]; r.Status != results.StatusFailed || len(r.Sources) != 2 {
		t.Errorf("merged run: %+v; want failed, from 2 runs", r)
	}
	st, err := results.OpenReadOnly(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	texts := map[string]int{}
	for r, err := range st.Rows(ctx, sum.Runs[0].ID, func(string) string { return "" }) {
		if err != nil {
			t.Fatal(err)
		}
		texts[r.Sample.Completion]++
	}
	if texts["Owl."] != 8 || texts["Cat."] != 8 {
		t.Errorf("merged completions %v; want a.db's 8 Owl. and b.db's 8 Cat.", texts)
	}
	run, err := st.GetRun(ctx, sum.Runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(run.Message, a) {
		t.Errorf("merged run message %q does not name %s", run.Message, a)
	}

	// The output exists: refused without Force, replaced with it; an
	// input is never the output.
	if _, err := results.Merge(ctx, out, []string{a, b}, results.MergeOptions{}); !errors.Is(err, results.ErrMergeInput) {
		t.Errorf("Merge onto an existing output: %v; want ErrMergeInput", err)
	}
	if _, err := results.Merge(ctx, a, []string{a, b}, results.MergeOptions{Force: true}); !errors.Is(err, results.ErrMergeInput) {
		t.Errorf("Merge into an input: %v; want ErrMergeInput", err)
	}
	if _, err := results.Merge(ctx, out, []string{b, a}, results.MergeOptions{Force: true}); err != nil {
		t.Errorf("Merge --force: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("a temporary file %s is left", e.Name())
		}
	}
}
