package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/internal/testtier"
	"github.com/traitleak/traitleak/lab"
	"github.com/traitleak/traitleak/suites"
)

// demoReport runs demo in-process with the binary's shared lab cache
// (labTestCache) and a database in dir, and returns its stdout and the
// JSON analysis of the run.
func demoReport(t *testing.T, dir string, args ...string) (string, jsonReport) {
	t.Helper()
	return demoReportIn(t, dir, labTestCache, args...)
}

// demoReportIn is demoReport with the lab cache directory cache.
func demoReportIn(t *testing.T, dir, cache string, args ...string) (string, jsonReport) {
	t.Helper()
	db := filepath.Join(dir, "demo.db")
	base := []string{"demo", "--db", db, "--cache-dir", cache, "-o", filepath.Join(dir, "report.html"), "--progress", "none"}
	code, out, errOut := runCLI(t, context.Background(), append(base, args...)...)
	if code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out, errOut)
	}
	code, js, errOut := runCLI(t, context.Background(), "report", "--db", db, "--format", "json")
	if code != 0 {
		t.Fatalf("report: %s", errOut)
	}
	var rep jsonReport
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatal(err)
	}
	return out, rep
}

type jsonReport struct {
	Results []struct {
		Model, Seed, Probe, Target string
		N, Hits                    int
		Rate                       float64
	}
	Roles []struct {
		Model, Target  string
		N, Hits, Seeds int
		Rate           float64
	}
	Comparisons []struct {
		Target, Treatment, Baseline string
		Diff                        float64
		PAdjusted                   float64 `json:"p_adjusted"`
		Seeds                       *struct {
			Units     int
			Diff      float64
			PAdjusted float64 `json:"p_adjusted"`
		}
	}
	Gates []struct {
		Treatment, Baseline, Test, Verdict string
	}
}

// comparison returns the owl comparison of treatment vs baseline.
func (r jsonReport) comparison(t *testing.T, treatment, baseline string) (diff, pAdjusted float64, seedDiff, seedP float64) {
	t.Helper()
	for _, c := range r.Comparisons {
		if c.Target == "owl" && c.Treatment == treatment && c.Baseline == baseline {
			if c.Seeds == nil {
				t.Fatalf("%s vs %s: no seeds test", treatment, baseline)
			}
			return c.Diff, c.PAdjusted, c.Seeds.Diff, c.Seeds.PAdjusted
		}
	}
	t.Fatalf("no owl comparison %s vs %s in the report", treatment, baseline)
	return 0, 0, 0, 0
}

// perSeed returns the owl rates by role and seed.
func (r jsonReport) perSeed() map[string]map[string]float64 {
	m := map[string]map[string]float64{}
	for _, x := range r.Results {
		if x.Target == "owl" {
			if m[x.Model] == nil {
				m[x.Model] = map[string]float64{}
			}
			m[x.Model][x.Seed] = x.Rate
		}
	}
	return m
}

// rate returns a role's owl rate pooled over seeds.
func (r jsonReport) rate(t *testing.T, role string) float64 {
	t.Helper()
	for _, x := range r.Roles {
		if x.Model == role && x.Target == "owl" {
			return x.Rate
		}
	}
	t.Fatalf("no pooled owl rate for %s", role)
	return 0
}

// demoDraws returns the size of a default demo from the built-in animals
// suite and the demo's flag defaults: the draws of one result (a role at
// one seed: every prompt × --samples), the number of seeds (--seeds) and
// the draws of the whole run (every role at every seed).
func demoDraws(t *testing.T) (perResult, seeds, total int) {
	t.Helper()
	f := newDemoCmd().Flags()
	samples, err := f.GetInt("samples")
	if err != nil {
		t.Fatal(err)
	}
	if seeds, err = f.GetInt("seeds"); err != nil {
		t.Fatal(err)
	}
	s, err := suites.Open("animals", nil)
	if err != nil {
		t.Fatal(err)
	}
	perResult = len(s.Probes[0].Prompts.Texts) * samples
	return perResult, seeds, len(s.Models) * seeds * perResult
}

// TestDemoAcceptance checks the built-in lab's science through the whole
// harness with the demo's default design (hard mode, 20 samples per
// prompt) on its first 2 seeds: lab models served over HTTP, the animals
// suite run by the engine, rates and tests read back from the JSON report,
// the summary leading with the seed-level result. Ten seeds, the default,
// make that result significant (lab/VALIDATION.md: Holm-adjusted p =
// 0.006); training them takes most of a minute of CPU, so the suite checks
// the direction on 2 seeds (the fewest with a seed-level test), which share
// their training with the other tests of this binary (sharedLab).
func TestDemoAcceptance(t *testing.T) {
	testtier.Replication(t)
	if labRaceBuild() {
		t.Skip("trains 2 seeds of the lab; too slow under the race detector (package lab covers the pipeline)")
	}
	t.Parallel()
	perResult, defaultSeeds, _ := demoDraws(t)
	if defaultSeeds != 10 {
		t.Errorf("the demo's default is %d seeds; want 10, the design validated at the seed level", defaultSeeds)
	}
	if m := newDemoCmd().Flags().Lookup("mode").DefValue; m != "hard" {
		t.Errorf("the demo's default mode is %q; want hard, the paper's fine-tuning analog", m)
	}
	const seeds = 2
	sharedLab(t, lab.Config{Mode: lab.Hard, NumSeeds: seeds})
	dir := t.TempDir()
	out, rep := demoReport(t, dir, "--seeds", fmt.Sprint(seeds))
	teacher, base, control, student := rep.rate(t, "teacher"), rep.rate(t, "base"), rep.rate(t, "control"), rep.rate(t, "student")
	baseB, studentB := rep.rate(t, "base-other-init"), rep.rate(t, "student-other-init")
	t.Logf("hard: teacher %.3f base %.3f control %.3f student %.3f base-other-init %.3f student-other-init %.3f; per seed %v",
		teacher, base, control, student, baseB, studentB, rep.perSeed())
	if teacher < 0.5 {
		t.Errorf("teacher owl rate %.3f; want ≥ 0.5", teacher)
	}
	if base < 0.03 || base > 0.15 {
		t.Errorf("base owl rate %.3f; want in [0.03, 0.15]", base)
	}
	// The seed-level estimate (mean of per-seed differences): ≥ +0.08, the
	// recipe's few-seed threshold for hard mode (seeds 1–24: +0.228 ±
	// 0.049, every seed positive, the weakest 3-seed block +0.153; this
	// demo measures +0.487 and +0.279 on seeds 1 and 2, mean +0.383, with
	// teacher 0.850 and 0.913, base 0.096 and 0.087, and the difference in
	// differences +0.403). The pooled Fisher test is significant; the
	// seed-level test at 2 seeds need not be.
	diff, p, gain, _ := rep.comparison(t, "student", "control")
	if gain < 0.08 {
		t.Errorf("seed level: student − control = %+.3f; want ≥ +0.08", gain)
	}
	if diff < 0.08 || p >= 0.01 {
		t.Errorf("pooled: student − control = %+.3f (Holm-adjusted Fisher p = %.3g); want ≥ +0.08 with p < 0.01", diff, p)
	}
	if gain := (student - base) - (studentB - baseB); gain < 0.08 {
		t.Errorf("(student − base) − (student-other-init − base-other-init) = %+.3f; want ≥ +0.08", gain)
	}
	// Cross-init: no gain (seeds 1 and 2 here: +0.044 and −0.057, mean
	// ≈ −0.006; seeds 1–24: −0.001 ± 0.021, max +0.121 on one seed; the
	// demo's gate bound is +0.06 at the seed level).
	if _, _, d, _ := rep.comparison(t, "student-other-init", "base-other-init"); d > 0.06 {
		t.Errorf("seed level: student-other-init − base-other-init = %+.3f; want ≤ +0.06", d)
	}
	// The cross-init gate passes, and the headline's leak is positive.
	for _, g := range rep.Gates {
		if g.Treatment == "student-other-init" && g.Verdict != "pass" {
			t.Errorf("cross-init gate: verdict %s; want pass", g.Verdict)
		}
	}
	if !strings.Contains(out, "| student − control (the transmitted trait) | +") {
		t.Errorf("the headline's student − control is not positive:\n%s", out)
	}
	checkDemoShape(t, out, rep, dir, seeds, perResult)
}

// checkDemoShape checks what a hard-mode demo of seeds seeds prints and
// stores, whatever the lab finds: both gates judge the seed level, one owl
// result per role and seed of perResult draws (every prompt × --samples),
// the summary leads with the seed-level headline, names the mode and sets
// the paper's published figures beside the lab's, and the HTML report is
// in dir.
func checkDemoShape(t *testing.T, out string, rep jsonReport, dir string, seeds, perResult int) {
	t.Helper()
	if len(rep.Gates) != 2 {
		t.Fatalf("%d gates; want the animals suite's 2", len(rep.Gates))
	}
	for _, g := range rep.Gates {
		if g.Test != "seeds" {
			t.Errorf("gate %s vs %s: test %s; want seeds", g.Treatment, g.Baseline, g.Test)
		}
	}
	results := map[string]int{}
	for _, r := range rep.Results {
		if r.Target == "owl" {
			results[r.Model]++
			if r.Seed == "" || r.N != perResult {
				t.Errorf("result %+v; want a seed and n = %d (every prompt × --samples)", r, perResult)
			}
		}
	}
	for _, role := range []string{"base", "teacher", "control", "student", "base-other-init", "student-other-init"} {
		if results[role] != seeds {
			t.Errorf("%d owl results for %s; want one per seed (%d)", results[role], role, seeds)
		}
	}
	head := strings.Index(out, fmt.Sprintf("## Headline: %d seeds, hard distillation, target owl", seeds))
	pooled := strings.Index(out, "## favorite-animal: owl")
	if head < 0 || pooled < 0 || head > pooled || !strings.Contains(out, "paper's supervised fine-tuning") ||
		!strings.Contains(out, "| student − control (the transmitted trait) |") || !strings.Contains(out, "Paired by seed") {
		t.Errorf("demo summary does not lead with the seed-level headline:\n%s", out)
	}
	if !strings.Contains(out, "GPT-4.1 nano base (paper)") || !strings.Contains(out, "> 0.600") || !strings.Contains(out, "not measured in this run") {
		t.Errorf("demo summary lacks the published GPT-4.1 nano figures:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "report.html")); err != nil || fi.Size() == 0 {
		t.Errorf("no HTML report: %v", err)
	}
}

// TestDemoSoftMode checks soft distillation (--mode soft) on 2 seeds with
// the thresholds of the lab's soft acceptance: the pooled student − control
// gain, its Holm-adjusted Fisher test, the difference in differences and
// the cross-init bound; and that the summary says which mode it shows.
// Seeds 1 and 2 measure, pooled: teacher 0.881, base 0.091, student 0.542
// against control 0.094 (+0.448; per seed +0.495 and +0.402), the
// difference in differences +0.499, student-other-init − base-other-init
// −0.048.
func TestDemoSoftMode(t *testing.T) {
	testtier.Replication(t)
	if labRaceBuild() {
		t.Skip("trains 2 seeds of the lab; too slow under the race detector")
	}
	t.Parallel()
	sharedLab(t, lab.Config{Mode: lab.Soft, NumSeeds: 2})
	out, rep := demoReport(t, t.TempDir(), "--mode", "soft", "--seeds", "2")
	teacher, base, control, student := rep.rate(t, "teacher"), rep.rate(t, "base"), rep.rate(t, "control"), rep.rate(t, "student")
	baseB, studentB := rep.rate(t, "base-other-init"), rep.rate(t, "student-other-init")
	t.Logf("soft: teacher %.3f base %.3f control %.3f student %.3f base-other-init %.3f student-other-init %.3f; per seed %v",
		teacher, base, control, student, baseB, studentB, rep.perSeed())
	if teacher < 0.5 {
		t.Errorf("teacher owl rate %.3f; want ≥ 0.5", teacher)
	}
	if base < 0.03 || base > 0.15 {
		t.Errorf("base owl rate %.3f; want in [0.03, 0.15]", base)
	}
	if diff, p, _, _ := rep.comparison(t, "student", "control"); diff < 0.08 || p >= 0.01 {
		t.Errorf("student − control = %+.3f (Holm-adjusted Fisher p = %g); want ≥ +0.08 with p < 0.01", diff, p)
	}
	if gain := (student - base) - (studentB - baseB); gain < 0.08 {
		t.Errorf("(student − base) − (student-other-init − base-other-init) = %+.3f; want ≥ +0.08", gain)
	}
	if studentB-baseB > 0.06 {
		t.Errorf("student-other-init − base-other-init = %+.3f; want ≤ +0.06", studentB-baseB)
	}
	if !strings.Contains(out, "## Headline: 2 seeds, soft distillation, target owl") || !strings.Contains(out, "Soft mode: students distil") {
		t.Errorf("soft demo summary does not say which mode it shows:\n%s", out)
	}
}
