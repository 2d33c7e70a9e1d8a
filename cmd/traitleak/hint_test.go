package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/suites"
)

// TestResumeHintRedactsCredentials: the retry hint a failed run prints
// repeats its --set overrides, and a base_url given there may carry a
// password in its userinfo; an API key may be pasted into a variable. The
// hint used to print them as typed. Now the credentials are replaced by
// [REDACTED] (quoted for the shell), and a note says what to put back.
func TestResumeHintRedactsCredentials(t *testing.T) {
	// Every request is refused (401): the model stops at once and the
	// run fails, printing the retry hint.
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{"base": {Status: http.StatusUnauthorized}}})
	host := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	suite := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(suite, []byte(`name: hint
vars: {tag: plain}
models:
  baseline: {base_url: "http://127.0.0.1:1/v1", model: base, api_key_env: HINT_TEST_KEY}
defaults: {concurrency: 1, n: 1, max_retries: 0}
probes:
  - id: p
    prompts: [one]
    samples: 2
    score: {mentions: owl}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HINT_TEST_KEY", "sk-hint-KEY-314159")
	code, out, errOut := runCLI(t, context.Background(), "run", suite, "--db", filepath.Join(dir, "t.db"), "--progress", "none",
		"--set", "models.baseline.base_url=http://alice:hunter2-PW@"+host+"/v1",
		"--set", "vars.tag=sk-hint-KEY-314159")
	if code != exitIncomplete {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitIncomplete, out, errOut)
	}
	for _, secret := range []string{"hunter2-PW", "sk-hint-KEY-314159"} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("output shows %q:\n%s%s", secret, out, errOut)
		}
	}
	want := fmt.Sprintf("retry the missing or failed draws with: traitleak run %s --db %s --progress none --set 'models.baseline.base_url=http://alice:[REDACTED]@%s/v1' --set 'vars.tag=[REDACTED]'",
		suite, filepath.Join(dir, "t.db"), host)
	if !strings.Contains(out, want+"\n") {
		t.Errorf("output lacks\n%s\n in:\n%s", want, out)
	}
	if !strings.Contains(out, "credentials are not printed") {
		t.Errorf("output lacks the note on [REDACTED]:\n%s", out)
	}
}

// TestHintRedactor checks what a resume hint hides, word by word.
func TestHintRedactor(t *testing.T) {
	s, err := suites.Parse("s.yaml", []byte(`name: r
vars: {pw: "s3cr3t-var-pw"}
models:
  a: {base_url: "http://bob:${pw}@h.example/v1", model: m, api_key_env: HINT_R_KEY}
  b: {base_url: "https://tok-ONLY-user@h.example/v1", model: m}
probes:
  - {id: p, prompts: [x], samples: 1, score: {mentions: owl}}
`), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "HINT_R_KEY" {
			return "sk-env-key-2718"
		}
		return ""
	}
	for _, tc := range []struct{ word, want string }{
		// A URL's password, of any length, is hidden; the user stays.
		{"models.a.base_url=http://u:pw@x.example:8/v1", "models.a.base_url=http://u:[REDACTED]@x.example:8/v1"},
		// Userinfo without a password is the credential itself.
		{"--set=models.b.base_url=https://tok@x.example/v1", "--set=models.b.base_url=https://[REDACTED]@x.example/v1"},
		// The suite's own URL passwords, wherever they appear (a var).
		{"vars.pw=s3cr3t-var-pw", "vars.pw=[REDACTED]"},
		{"vars.u=tok-ONLY-user", "vars.u=[REDACTED]"},
		// API keys read from the environment.
		{"vars.k=sk-env-key-2718", "vars.k=[REDACTED]"},
		// Everything else is left alone, @ and : included.
		{"--db", "--db"},
		{"user@host:file.db", "user@host:file.db"},
		{"http://h.example/v1", "http://h.example/v1"},
	} {
		if got := redactWord(tc.word, hintRedactor(s, getenv)); got != tc.want {
			t.Errorf("redactWord(%q) = %q; want %q", tc.word, got, tc.want)
		}
	}
}
