package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/traitleak/traitleak/internal/testtier"
	"github.com/traitleak/traitleak/lab"
)

// seqReport is the part of the JSON report a sequential gate adds.
type seqReport struct {
	Status string
	Gates  []struct {
		Name, Verdict, Reason string
		Sequential            *struct {
			Status         string
			Round          int
			MaxRounds      int `json:"max_rounds"`
			Samples        int
			FixedSamples   int `json:"fixed_samples"`
			Drawn          int
			LogWealthAbove float64 `json:"log_wealth_above"`
			LogWealthBelow float64 `json:"log_wealth_below"`
			Path           []struct{ Round int }
		}
	}
}

// TestSequentialAgainstTheLab is issue 16's end-to-end acceptance: the
// built-in animals suite, served by the lab's trained models (2 seeds,
// hard mode, as the demo trains them) over HTTP on loopback, with its
// student-vs-control gate made sequential, run with --until-decided. The
// gate decides the leak with fewer than half the fixed design's samples
// (100 per prompt per model), and a run interrupted in the middle of its
// rounds and run again reaches the same verdict at the same round.
//
// The probe samples the roles of the suite's two gates: the sequential
// gate's, drawn round by round, and the fixed cross-init gate's, drawn in
// full beside them (100 per prompt). The base and the teacher, which no
// gate reads, are left out (with the comparisons that need them): they
// would add 20,000 draws per run, sampled, stored and analysed, to a test
// of the rounds.
func TestSequentialAgainstTheLab(t *testing.T) {
	testtier.Replication(t)
	if labRaceBuild() {
		t.Skip("trains 2 seeds of the lab; too slow under the race detector (package bench tests the sequential engine with a fake)")
	}
	// Parallel: the lab is served on its own loopback port and the suite
	// points at it (vars.base_url); no global client hook is set. The zoo
	// is the demo tests' own hard build (sharedLab).
	t.Parallel()
	ctx := context.Background()
	const seeds = 2
	zoo := sharedLab(t, lab.Config{Experiment: lab.ExperimentAnimals, NumSeeds: seeds, Mode: lab.Hard})

	// Requests for the gate's two roles are counted at the server, and
	// cancel (when set) is called at the given count.
	var rounds atomic.Int64
	var cancelAt atomic.Int64
	var cancel atomic.Pointer[context.CancelFunc]
	labHandler := zoo.Handler()
	counting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req struct{ Model string }
		if json.Unmarshal(body, &req) == nil && (strings.HasPrefix(req.Model, "lab/student@") || strings.HasPrefix(req.Model, "lab/control@")) {
			if n := rounds.Add(1); n == cancelAt.Load() {
				if f := cancel.Load(); f != nil {
					(*f)()
				}
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		labHandler.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(counting)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	args := func(db string) []string {
		a := []string{"run", "animals", "--db", filepath.Join(dir, db), "--progress", "none", "--until-decided",
			"--set", "gates[0].sequential={}",
			"--set", "probes.favorite-animal.models=[student, control, base-other-init, student-other-init]",
			"--set", "compare=[{treatment: student, baseline: control}, {treatment: student-other-init, baseline: base-other-init}]"}
		for _, s := range demoOverrides(zoo) {
			a = append(a, "--set", s)
		}
		// After demoOverrides' base URL (the demo's lab host): this
		// server's.
		return append(a, "--set", "vars.base_url="+srv.URL+"/v1")
	}
	report := func(db string) seqReport {
		t.Helper()
		code, js, errOut := runCLI(t, ctx, "report", "--db", filepath.Join(dir, db), "--format", "json")
		if code != 0 {
			t.Fatalf("report: exit %d: %s", code, errOut)
		}
		var r seqReport
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}

	code, out, errOut := runCLI(t, ctx, args("a.db")...)
	if code != 0 {
		t.Fatalf("run --until-decided: exit %d\n%s\n%s", code, out, errOut)
	}
	a := report("a.db")
	g := a.Gates[0]
	s := g.Sequential
	if s == nil {
		t.Fatalf("gate 0 has no sequential decision: %+v", g)
	}
	t.Logf("student vs control: %s at round %d; %d of the fixed design's %d samples; %d round requests",
		s.Status, s.Round, s.Samples, s.FixedSamples, rounds.Load())
	// The lab's student leaks (+0.23 over the control in hard mode,
	// lab/VALIDATION.md) against a min_increase of 0.05: the gate passes.
	if g.Verdict != "pass" || s.Status != "pass" {
		t.Fatalf("gate: %s (%s), reason %q; want pass", g.Verdict, s.Status, g.Reason)
	}
	// 100 rounds × 50 prompts × 4 instances (student and control at each
	// seed) is the fixed design.
	const perRound = 50 * 2 * seeds
	if s.FixedSamples != 100*perRound || 2*s.Samples >= s.FixedSamples || s.Samples != s.Round*perRound {
		t.Errorf("samples used %d of the fixed design's %d (round %d); want fewer than half", s.Samples, s.FixedSamples, s.Round)
	}
	// The gate's roles drew only their rounds: one request per draw.
	if s.Drawn != s.Samples || int(rounds.Load()) != s.Samples {
		t.Errorf("drew %d samples in %d requests for the gate's roles; want the %d its rounds used", s.Drawn, rounds.Load(), s.Samples)
	}
	if !strings.Contains(out, "Sequential gates") {
		t.Errorf("the run's summary does not show the sequential gate:\n%s", out)
	}

	// Interrupt a second run half-way through round 2 of the gate's
	// roles (perRound requests a round), then run it again.
	rounds.Store(0)
	cancelAt.Store(perRound + perRound/2)
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	cancel.Store(&stop)
	code, out, _ = runCLI(t, cctx, args("b.db")...)
	cancel.Store(nil)
	if code != exitInterrupted || !strings.Contains(out, "--until-decided") {
		t.Fatalf("interrupted run: exit %d; want 130 with a resume hint that keeps --until-decided\n%s", code, out)
	}
	mid := report("b.db")
	if ms := mid.Gates[0].Sequential; ms == nil || ms.Status != "continue" || ms.Round < 1 || ms.Round >= s.Round {
		t.Fatalf("interrupted run's gate: %+v; want no verdict yet, with round 1 read", ms)
	}
	code, out, errOut = runCLI(t, ctx, args("b.db")...)
	if code != 0 || !strings.Contains(out, "resumed") {
		t.Fatalf("re-run: exit %d\n%s\n%s", code, out, errOut)
	}
	b := report("b.db")
	if !reflect.DeepEqual(b.Gates[0], a.Gates[0]) {
		t.Errorf("after an interruption the gate is\n%+v\nuninterrupted\n%+v", *b.Gates[0].Sequential, *s)
	}
}

// TestSequentialUsageErrors checks that bad sequential rules and
// --until-decided without one are usage errors (exit 2) that say what is
// wrong and where.
func TestSequentialUsageErrors(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		// α outside (0, 1), from a --set: the position is the override.
		{[]string{"validate", "animals", "--set", "gates[0].sequential={alpha: 1.5}"}, "gates[0].sequential.alpha: sequential gate: alpha: 1.5 is not in (0, 1)"},
		// A bound of 1 is fine for a fixed gate but not for a sequential one.
		{[]string{"validate", "animals", "--set", "gates[1].max_increase=1", "--set", "gates[1].sequential={}"}, "gates[1].max_increase: sequential gate: bound: 1 is not in (-1, 1)"},
		// The probe samples only the student: no pair.
		{[]string{"validate", "animals", "--set", "probes.favorite-animal.models=[student, control]", "--set", "gates[1].sequential={}"},
			"gates[1].treatment: probe \"favorite-animal\" does not sample role \"student-other-init\""},
		// Nothing to decide.
		{[]string{"run", "animals", "--db", db, "--until-decided"}, "--until-decided: suite animals has no sequential gate"},
		// A round pairs every model's draws of a prompt: a shard holds
		// only some of them, a batch answers too late to stop early.
		{[]string{"run", "animals", "--db", db, "--until-decided", "--set", "gates[0].sequential={}", "--shard", "0/2"}, "cannot be combined with --shard or --batch"},
		{[]string{"run", "animals", "--db", db, "--until-decided", "--set", "gates[0].sequential={}", "--batch"}, "cannot be combined with --shard or --batch"},
	} {
		code, _, errOut := runCLI(t, context.Background(), tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestValidateShowsSequentialRules checks that validate lists what a run
// --until-decided would decide.
func TestValidateShowsSequentialRules(t *testing.T) {
	code, out, errOut := runCLI(t, context.Background(), "validate", "animals", "--set", "gates[0].sequential={max_samples: 200}",
		"--set", "probes.favorite-animal.until={ci_width: 0.02, target: owl, models: [student]}")
	if code != 0 {
		t.Fatalf("validate: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"sequential gate 1: favorite-animal/owl student vs control: min_increase +0.05, alpha 0.01, at most 200 rounds",
		"until favorite-animal/owl student: ci_width 0.02, alpha 0.05, at most 100 rounds",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}
