package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/bench/benchtest"
)

// TestDryRunSendsNothing runs --dry-run against a fake that counts its
// requests: it prints the plan and the cost, sends nothing and writes no
// database; after a real run, a dry run leaves out what is stored.
func TestDryRunSendsNothing(t *testing.T) {
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base": {Trait: "Owl", TraitRate: 0.1}, "student": {Trait: "Owl", TraitRate: 0.7}}})
	dir := t.TempDir()
	suite := writeSuite(t, dir, srv.BaseURL())
	db := filepath.Join(dir, "t.db")
	priced := []string{"--set", "models.baseline.price.input=0.1", "--set", "models.baseline.price.output=0.4"}
	args := append([]string{"run", suite, "--db", db, "--dry-run"}, priced...)
	code, out, errOut := runCLI(t, context.Background(), args...)
	if code != 0 {
		t.Fatalf("dry run exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := srv.Calls(); n != 0 {
		t.Errorf("dry run sent %d requests; want 0", n)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("dry run created the database (%v); want nothing written", err)
	}
	// 2 prompts × 50 samples per model in jobs of n = 10: 10 requests of
	// 10 choices. Prompt tokens: "Name your favorite animal." is 26 bytes
	// → 26/4 + 1 = 7, "Which animal | is best?" 23 bytes → 6: 5 × 7 + 5 × 6
	// = 65. Completion tokens: max_tokens 8 × 100 draws = 800. Cost:
	// 65 × $0.1/1M + 800 × $0.4/1M = $0.0003265; the batch discount of a
	// suite price is 0 unless given.
	for _, want := range []string{
		`(?m)^\s+model\s+baseline\s+base\s+100\s+10\s+65\s+800\s+\$0\.1 / \$0\.4\s+\$0\.0003\s+\$0\.0003\s*$`,
		`(?m)^\s+model\s+student\s+student\s+100\s+10\s+65\s+800\s+–\s+no price\s+–\s*$`,
		`200 draws planned, 0 already stored, 200 to draw`,
		`estimated cost of the priced models: \$0\.0003`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("dry run output lacks %s:\n%s", want, out)
		}
	}

	// A real run, then a dry run of the same suite: nothing left to draw.
	if code, out, errOut := runCLI(t, context.Background(), "run", suite, "--db", db, "--progress", "none"); code != 0 {
		t.Fatalf("run exit %d\n%s\n%s", code, out, errOut)
	}
	calls := srv.Calls()
	code, out, _ = runCLI(t, context.Background(), args...)
	if code != 0 || !strings.Contains(out, "200 draws planned, 200 already stored, 0 to draw") || srv.Calls() != calls {
		t.Errorf("dry run after the run: exit %d, %d more requests, output:\n%s", code, srv.Calls()-calls, out)
	}
}

// TestMaxCostFlag checks --max-cost: bad values and models without a
// price are usage errors (exit 2, with the model's position) before
// anything is sent; a budget reached exits 3 with the reason, resumable.
func TestMaxCostFlag(t *testing.T) {
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base": {Trait: "Owl", TraitRate: 0.1}, "student": {Trait: "Owl", TraitRate: 0.7}}})
	dir := t.TempDir()
	suite := writeSuite(t, dir, srv.BaseURL())
	db := filepath.Join(dir, "t.db")
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-cost", "0"}, `--max-cost 0: want the most the run may spend, in US dollars, > 0`},
		{[]string{"--max-cost", "-2"}, `--max-cost -2`},
		{[]string{"--max-cost", "NaN"}, `--max-cost NaN`},
		// The fake's models are in no price table: max_cost cannot be kept.
		// The position is the model id's (line 3; the column follows the
		// fake's port).
		{[]string{"--max-cost", "5"}, `suite\.yaml:3:\d+: models\.baseline\.model: no price for model "base"`},
		{[]string{"--max-cost", "5", "--set", "models.baseline.price.input=-1"},
			`--set models\.baseline\.price\.input=-1: models\.baseline\.price\.input: a price is US dollars per million tokens, ≥ 0; got -1`},
	} {
		code, out, errOut := runCLI(t, ctx, append([]string{"run", suite, "--db", db}, tc.args...)...)
		if code != 2 || !regexp.MustCompile(tc.want).MatchString(errOut) {
			t.Errorf("run %q: exit %d, stderr %q; want exit 2 and %q\nstdout: %s", tc.args, code, errOut, tc.want, out)
		}
	}
	if n := srv.Calls(); n != 0 {
		t.Errorf("%d requests sent by refused runs; want 0", n)
	}

	// $1,000 per million tokens, and a budget for a few requests.
	priced := []string{"--set", "models.baseline.price.input=1000", "--set", "models.baseline.price.output=1000",
		"--set", "models.student.price.input=1000", "--set", "models.student.price.output=1000", "--progress", "none"}
	code, out, errOut := runCLI(t, ctx, append([]string{"run", suite, "--db", db, "--max-cost", "0.5"}, priced...)...)
	if code != 3 || !strings.Contains(out, "max_cost of $0.50 reached") || !strings.Contains(out, "raise max_cost") {
		t.Fatalf("run with a small budget: exit %d; want 3 with the reason\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, ctx, append([]string{"run", suite, "--db", db, "--max-cost", "100"}, priced...)...)
	if code != 0 || !strings.Contains(out, "run 1 resumed") {
		t.Fatalf("run with a larger budget: exit %d; want run 1 resumed and complete\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// The report shows what the run cost and what its rate control did.
	code, out, errOut = runCLI(t, ctx, "report", "--db", db, "--format", "md")
	for _, want := range []string{"## Cost", "| model | baseline | base", "price in / out per 1M", "## Rate control", "| " + srv.BaseURL() + " |"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("report exit %d lacks %q\nstdout:\n%s\nstderr:\n%s", code, want, out, errOut)
		}
	}
}
