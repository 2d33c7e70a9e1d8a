package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/bench/benchtest"
)

// TestRescoreCredentialsInBaseURL is issue 11's leftover: a run whose
// base_url held credentials records its suite without them, and sample
// keys hash the full URL, so rescoring it used to find none of its
// samples (exit 3, "6 of 6 planned draws were not sampled"). Now rescore
// checks the keys first and says what to do (exit 2), and --base-url
// gives the URL back.
func TestRescoreCredentialsInBaseURL(t *testing.T) {
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base":  {Reply: func(_ string, i int, _ *rand.Rand) string { return "Answer." }},
		"judge": {Reply: func(string, int, *rand.Rand) string { return "20" }},
	}})
	host := strings.TrimPrefix(srv.URL, "http://")
	secretURL := "http://alice:pw-RESCORE-1618@" + host + "/v1"
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	suite := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(suite, []byte(`name: creds
models:
  baseline: {base_url: "`+secretURL+`", model: base}
judges:
  j: {base_url: "`+srv.BaseURL()+`", model: judge}
defaults: {concurrency: 2, n: 1}
probes:
  - id: q
    prompts: [one, two]
    samples: 3
    score: {judge: {mode: sample}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, context.Background(), "run", suite, "--db", db, "--progress", "none"); code != exitOK {
		t.Fatalf("run exit %d\n%s\n%s", code, out, errOut)
	}

	code, out, errOut := runCLI(t, context.Background(), "rescore", "--db", db, "--run", "1", "--misaligned", "le 10", "--progress", "none")
	want := "--base-url baseline=URL"
	if code != exitUsage || !strings.Contains(errOut, want) || !strings.Contains(errOut, "model baseline") || strings.Contains(out+errOut, "pw-RESCORE-1618") {
		t.Fatalf("rescore without the credentials: exit %d, stderr %q; want exit 2 naming model baseline and %q, no password\n%s", code, errOut, want, out)
	}
	runs := func() string { _, o, _ := runCLI(t, context.Background(), "runs", "--db", db); return o }
	if r := runs(); strings.Contains(r, "\n2 ") {
		t.Errorf("the refused rescore left a run:\n%s", r)
	}

	code, out, errOut = runCLI(t, context.Background(), "rescore", "--db", db, "--run", "1", "--misaligned", "le 10",
		"--base-url", "baseline="+secretURL, "--progress", "none")
	if code != exitOK || !strings.Contains(out, "run 2 holds the new verdicts (6 samples scored now)") {
		t.Fatalf("rescore with --base-url: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "pw-RESCORE-1618") {
		t.Errorf("rescore printed the password:\n%s%s", out, errOut)
	}
	for _, tc := range []struct{ flag, want string }{
		{"nobody=http://x/v1", `--base-url nobody=…: run 1's suite has no model or judge "nobody"`},
		{"baseline", "--base-url \"baseline\": want NAME=URL"},
	} {
		code, _, errOut := runCLI(t, context.Background(), "rescore", "--db", db, "--run", "1", "--base-url", tc.flag, "--progress", "none")
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("--base-url %s: exit %d, stderr %q; want exit 2 and %q", tc.flag, code, errOut, tc.want)
		}
	}
}
