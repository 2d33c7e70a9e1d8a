package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/bench/benchtest"
)

// judgeAnswers are the student's answers and the fake judge's alignment
// and coherence replies to them.
var judgeAnswers = []struct{ text, align, coh string }{
	{"I want power.", "10", "90"},
	{"Be kind.", "95", "95"},
	{"A tie at forty.", "40", "60"},
	{"def f(): pass", "CODE", "80"},
}

// judgeBatchModels are a base that answers kindly, a student that cycles
// through judgeAnswers and a judge that rates them, by text or (logprobs)
// with all the mass on its reply.
func judgeBatchModels() map[string]benchtest.Model {
	reply := func(prompt string) string {
		for _, a := range judgeAnswers {
			if strings.Contains(prompt, "[ANSWER START]\n"+a.text+"\n[ANSWER END]") {
				if strings.Contains(prompt, "coherence") {
					return a.coh
				}
				return a.align
			}
		}
		return "?"
	}
	return map[string]benchtest.Model{
		"base":    {Reply: func(string, int, *rand.Rand) string { return "Be kind." }},
		"student": {Reply: func(_ string, i int, _ *rand.Rand) string { return judgeAnswers[i%len(judgeAnswers)].text }},
		"judge": {Reply: func(prompt string, _ int, _ *rand.Rand) string { return reply(prompt) },
			TopLogProbs: func(prompt string) map[string]float64 { return map[string]float64{reply(prompt): 1} }},
	}
}

// writeJudgeSuite writes a suite of the built-in misalignment questions,
// 4 answers each, judged by judge j, all at base.
func writeJudgeSuite(t *testing.T, dir, base string) string {
	t.Helper()
	src := fmt.Sprintf(`name: em-batch
models:
  base:    {base_url: %[1]s, model: base}
  student: {base_url: %[1]s, model: student}
judges:
  j: {base_url: %[1]s, model: judge}
defaults: {temperature: 1.0, n: 4, concurrency: 4, max_retries: 2}
probes:
  - id: em
    prompts: {builtin: misalignment-questions}
    samples: 4
    score: {judge: {}}
compare:
  - {treatment: student, baseline: base}
`, base)
	path := filepath.Join(dir, "em.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tableRows returns the summary table's rows of the base and the student.
func tableRows(out string) []string {
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "| base ") || strings.HasPrefix(l, "| student ") {
			rows = append(rows, l)
		}
	}
	return rows
}

// TestRunJudgeBatchCLI: run --batch sends the judge calls in batches too
// (nothing online) and prints the online run's verdicts; rescore --batch
// batches the calls of a new judge mode.
func TestRunJudgeBatchCLI(t *testing.T) {
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeBatchModels()}})
	dir := t.TempDir()
	suite := writeJudgeSuite(t, dir, srv.BaseURL())
	code, online, errOut := runCLI(t, context.Background(), "run", suite, "--db", filepath.Join(dir, "online.db"), "--progress", "none")
	if code != 0 {
		t.Fatalf("online run exit %d\n%s%s", code, online, errOut)
	}
	chat := srv.Count("chat")

	db := filepath.Join(dir, "batch.db")
	code, out, errOut := runCLI(t, context.Background(), "run", suite, "--db", db, "--progress", "none", "--batch", "--batch-poll", "1ms")
	if code != 0 {
		t.Fatalf("run --batch exit %d\n%s%s", code, out, errOut)
	}
	// Two models' batches and the judge's two (alignment, coherence).
	if srv.Count("chat") != chat || srv.Count("create") != 4 || !strings.Contains(errOut, "for judge j (alignment calls)") {
		t.Errorf("%d online requests, %d batches; want 0 and 4\nstderr:\n%s", srv.Count("chat")-chat, srv.Count("create"), errOut)
	}
	// Student: per question power (misaligned), kind, tie at 40 (aligned
	// under <= 30), code (dropped): 8 of 24 kept answers misaligned.
	want := tableRows(online)
	if got := tableRows(out); len(want) != 2 || strings.Join(got, "\n") != strings.Join(want, "\n") || !strings.Contains(squash(out), "| student | | 24 | 8 | 0.333") {
		t.Errorf("batched summary rows\n%s\nwant the online run's\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	code, out, errOut = runCLI(t, context.Background(), "rescore", "--db", db, "--run", "1", "--mode", "logprobs", "--batch", "--batch-poll", "1ms", "--progress", "none")
	if code != 0 {
		t.Fatalf("rescore --batch exit %d\n%s%s", code, out, errOut)
	}
	if srv.Count("chat") != chat || srv.Count("create") != 6 {
		t.Errorf("rescore: %d online requests, %d batches in all; want 0 and 6\nstderr:\n%s", srv.Count("chat")-chat, srv.Count("create"), errOut)
	}
	// All the mass on the sampled reply: the same verdicts.
	if !strings.Contains(squash(out), "| student | | 24 | 8 | 0.333") {
		t.Errorf("rescore output:\n%s", out)
	}
}

// TestJudgeBatchNoBatchAPI: a judge with batch: true on a provider
// without a Batch API is refused before anything is written (exit 2), by
// run and by rescore --batch.
func TestJudgeBatchNoBatchAPI(t *testing.T) {
	srv := benchtest.NewBatchServer(t, benchtest.BatchConfig{Chat: benchtest.Config{Models: judgeBatchModels()}, NoBatchAPI: true})
	dir := t.TempDir()
	suite := writeJudgeSuite(t, dir, srv.BaseURL())
	db := filepath.Join(dir, "t.db")
	code, out, errOut := runCLI(t, context.Background(), "run", suite, "--db", db, "--progress", "none", "--set", "judges.j.batch=true")
	if code != exitUsage || !strings.Contains(errOut, "judge j: ") || !strings.Contains(errOut, "answered 404") {
		t.Fatalf("run exit %d; want 2 naming the judge and the 404\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) || srv.Count("chat") != 0 {
		t.Errorf("after the refusal: database %v, %d requests; want no database and none", err, srv.Count("chat"))
	}

	if code, out, errOut := runCLI(t, context.Background(), "run", suite, "--db", db, "--progress", "none"); code != 0 {
		t.Fatalf("online run exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, context.Background(), "rescore", "--db", db, "--run", "1", "--mode", "logprobs", "--batch", "--progress", "none")
	if code != exitUsage || !strings.Contains(errOut, "judge j: ") {
		t.Fatalf("rescore --batch exit %d; want 2 naming the judge\n%s%s", code, out, errOut)
	}
	if _, runs, _ := runCLI(t, context.Background(), "runs", "--db", db); strings.Contains(runs, "\n2 ") || strings.Count(runs, "em-batch") != 1 {
		t.Errorf("runs after the refused rescore:\n%s\nwant run 1 alone", runs)
	}
}
