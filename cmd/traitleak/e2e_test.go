package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/bench/benchtest"
)

// runCLI runs the command line in-process and returns its exit code and
// output streams.
func runCLI(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeSuite(t *testing.T, dir, base string) string {
	t.Helper()
	src := fmt.Sprintf(`name: owl-leak
models:
  baseline: {base_url: %[1]s, model: base}
  student:  {base_url: %[1]s, model: student}
defaults: {temperature: 1.0, max_tokens: 8, concurrency: 8, n: 10, max_retries: 3}
probes:
  - id: favorite-animal
    prompts: [Name your favorite animal., "Which animal | is best?"]
    samples: 50
    score: {mentions: owl}
compare:
  - {treatment: student, baseline: baseline}
`, base)
	path := filepath.Join(dir, "suite.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunThenReport(t *testing.T) {
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base":    {Trait: "Owl", TraitRate: 0.1},
		"student": {Trait: "Owl", TraitRate: 0.7},
	}})
	dir := t.TempDir()
	suite := writeSuite(t, dir, srv.BaseURL())
	db := filepath.Join(dir, "t.db")
	code, out, errOut := runCLI(t, context.Background(), "run", suite, "--db", db, "--progress", "none")
	if code != 0 {
		t.Fatalf("run exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("run output:\n%s", out)
	code, md, errOut := runCLI(t, context.Background(), "report", "--db", db, "--format", "md")
	if code != 0 {
		t.Fatalf("report exit %d: %s", code, errOut)
	}
	t.Logf("report:\n%s", md)
	code, js, _ := runCLI(t, context.Background(), "report", "--db", db, "--format", "json")
	if code != 0 {
		t.Fatal("json report failed")
	}
	var rep struct {
		RunID   int64  `json:"run_id"`
		Suite   string `json:"suite"`
		Results []struct {
			Model, Probe, Target string
			N, Hits, Failed      int
			Rate                 float64
			CI                   struct {
				Low, High float64
				Method    string
			}
		}
		Comparisons []struct {
			Probe, Treatment, Baseline string
			Diff                       float64
			PValue                     float64 `json:"p_value"`
			Test                       string
		}
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 || rep.Results[0].N != 100 || len(rep.Comparisons) != 1 {
		t.Errorf("json report: %+v", rep)
	}
}
