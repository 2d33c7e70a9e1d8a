package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traitleak/traitleak/internal/testtier"
	"github.com/traitleak/traitleak/lab"
)

// labRaceBuild reports whether the test binary was built with -race.
func labRaceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// labSyncBuffer is a bytes.Buffer safe for a concurrent writer and reader.
type labSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *labSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *labSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runLab(ctx context.Context, args ...string) (string, error) {
	var out labSyncBuffer
	cmd := newLabCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func TestLabBadFlags(t *testing.T) {
	tests := []struct {
		args []string
	}{
		{[]string{"serve", "--mode", "medium"}},                                // only soft and hard exist
		{[]string{"train", "--seeds", "0"}},                                    // at least one seed
		{[]string{"train", "--target", "zebra"}},                               // not a lab animal
		{[]string{"train", "--target", "dog"}},                                 // equals the default control
		{[]string{"train", "--workers", "-1"}},                                 // negative worker count
		{[]string{"train", "--eval", "-3", "--no-cache"}},                      // negative sample count
		{[]string{"aux", "--seeds", "0"}},                                      // at least one seed
		{[]string{"theorem", "--step", "0"}},                                   // the step must be positive
		{[]string{"theorem", "--mode", "medium"}},                              // only soft and hard exist
		{[]string{"train", "--experiment", "images"}},                          // no such experiment
		{[]string{"train", "--experiment", "misalignment", "--target", "owl"}}, // the misalignment lab's traits are misaligned and aligned
		{[]string{"serve", "--addr", "256.0.0.1:1", "--seeds", "1", "--no-cache", "--mode", "hard", "--control", "owl", "--target", "owl"}}, // target equals control, caught before training
	}
	for _, tc := range tests {
		_, err := runLab(context.Background(), tc.args...)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: error %v, want a usage error", tc.args, err)
		}
	}
}

// TestLabTrainThenServe runs "lab train", "lab theorem" and "lab serve"
// on the tiny recipe (useTinyLab): train computes a seed's 9 stages and
// prints its table, theorem prints its columns and summary, serve loads
// the cache, answers a chat completion, lists the models and stops when
// cancelled. What the theorem finds on the real recipe is
// TestLabTheorem's, in the replication tier.
func TestLabTrainThenServe(t *testing.T) {
	t.Parallel()
	dir := useTinyLab(t)
	out, err := runLab(context.Background(), "train", "--seeds", "1", "--cache-dir", dir, "--eval", "20")
	if err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`(\d+) stages loaded, (\d+) computed`).FindStringSubmatch(out); m == nil || atoi(t, m[1])+atoi(t, m[2]) != 9 {
		t.Errorf("train output does not account for the 9 stages of a seed (loaded + computed):\n%s", out)
	}
	for _, want := range []string{"MEAN TV", "student-other-init", "\"owl\" rate"} {
		if !strings.Contains(out, want) {
			t.Errorf("train output lacks %q:\n%s", want, out)
		}
	}

	out, err = runLab(context.Background(), "theorem", "--seeds", "1", "--mode", "hard", "--cache-dir", dir)
	if err != nil {
		t.Fatalf("theorem: %v\n%s", err, out)
	}
	summary := regexp.MustCompile(`same init:  cosine > 0 in [01] of 1 seeds, trait loss lowered in [01] of 1`)
	if !strings.Contains(out, "SAME INIT COS") || !strings.Contains(out, "OTHER INIT COS") || !summary.MatchString(out) {
		t.Errorf("theorem output lacks its columns or its summary:\n%s", out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var buf labSyncBuffer
	done := make(chan error, 1)
	go func() {
		cmd := newLabCmd()
		cmd.SetArgs([]string{"serve", "--seeds", "1", "--cache-dir", dir, "--addr", "127.0.0.1:0"})
		cmd.SetOut(&buf)
		cmd.SetErr(&buf)
		done <- cmd.ExecuteContext(ctx)
	}()
	re := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/v1`)
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(buf.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("serve printed no URL:\n%s", buf.String())
	}
	// The cached build is loaded, not retrained.
	if !strings.Contains(buf.String(), "loaded") || strings.Contains(buf.String(), "trained") {
		t.Errorf("serve did not load the cache:\n%s", buf.String())
	}
	body := `{"model":"lab/teacher","messages":[{"role":"user","content":"Name your favorite animal using only one word."}],"n":5,"seed":1}`
	res, err := http.Post("http://"+addr+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	err = json.NewDecoder(res.Body).Decode(&r)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || len(r.Choices) != 5 {
		t.Fatalf("chat completion: status %d, %v, %+v", res.StatusCode, err, r)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if !strings.Contains(buf.String(), "lab/student@1 (= lab/student)") {
		t.Errorf("model list missing:\n%s", buf.String())
	}
}

func TestLabTheorem(t *testing.T) {
	testtier.Replication(t)
	if labRaceBuild() {
		t.Skip("trains a full seed; too slow under the race detector (package lab covers Zoo.Theorem)")
	}
	// Seed 1 of the demo's hard build (shared cache): the same-init step
	// has a positive cosine with the teacher's update and lowers its trait
	// loss (lab measures +0.32 and −7e-4 nats). Its stages are trained
	// by sharedLab, one build at a time, beside the other parallel tests.
	t.Parallel()
	sharedLab(t, lab.Config{Seeds: []int{1}, Mode: lab.Hard})
	out, err := runLab(context.Background(), "theorem", "--seeds", "1", "--mode", "hard", "--cache-dir", labTestCache)
	if err != nil {
		t.Fatalf("theorem: %v\n%s", err, out)
	}
	for _, want := range []string{"SAME INIT COS", "OTHER INIT COS", "same init:  cosine > 0 in 1 of 1 seeds, trait loss lowered in 1 of 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("theorem output lacks %q:\n%s", want, out)
		}
	}
}

// atoi parses a decimal integer matched by a test's regular expression.
func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLabAux(t *testing.T) {
	// The command prints RunAux's accuracies (package lab tests RunAux
	// itself; training even one seed here would cost seconds of CPU for a
	// formatting check). Two seeds of made-up accuracies: the mean row is
	// their average.
	var out strings.Builder
	printLabAux(&out, lab.AuxResult{Seeds: []lab.AuxSeed{
		{Seed: 1, Reference: 0.1, Teacher: 0.8, StudentSameInit: 0.3, StudentOtherInit: 0.1},
		{Seed: 2, Reference: 0.1, Teacher: 0.9, StudentSameInit: 0.2, StudentOtherInit: 0.12},
	}}, 1500*time.Millisecond)
	for _, want := range []string{"STUDENT SAME INIT", "mean  0.100      0.850    0.250              0.110", "chance 0.100); 2 seeds in 1.5s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("aux output lacks %q:\n%s", want, out.String())
		}
	}
	// A cancelled run stops before training and reports the cancellation.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := runLab(ctx, "aux", "--seeds", "1"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled aux: %v, want context.Canceled", err)
	}
}
