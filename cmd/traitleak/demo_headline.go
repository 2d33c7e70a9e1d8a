package main

import (
	"fmt"
	"io"
	"math"

	"github.com/spf13/pflag"

	"github.com/traitleak/traitleak/lab"
	"github.com/traitleak/traitleak/reports"
)

// The demo's default design. Ten hard-mode seeds make the seed-level test
// of student vs control significant after Holm's correction (over seeds
// 1–24 the per-seed gain is +0.228 ± 0.049, SD ≈ 0.12, so ten seeds give
// t ≈ 5); 20 samples per prompt keep the sampling of 60 models at 60,000
// draws, within the demo's budget, while a seed's rate still has a
// sampling SE of about 0.015, far below the seed-to-seed spread.
const (
	demoSeeds   = 10
	demoSamples = 20
)

// setFlagDefault changes a registered flag's default value.
func setFlagDefault(f *pflag.FlagSet, name, value string) {
	fl := f.Lookup(name)
	if fl == nil {
		panic("no flag " + name)
	}
	if err := fl.Value.Set(value); err != nil {
		panic(fmt.Sprintf("flag %s: %v", name, err))
	}
	fl.DefValue = value
}

// demoHeadlineRows are the comparisons the demo leads with.
var demoHeadlineRows = []struct{ treatment, baseline, why string }{
	{"student", "control", "the transmitted trait"},
	{"student-other-init", "base-other-init", "a student from another init"},
	{"control", "base", "the control student"},
}

// printDemoHeadline prints the seed-level result the demo leads with: for
// each headline comparison on the target, the mean over seeds of the
// per-seed difference with the Welch t interval and Holm-adjusted p-value
// of the report's seeds test, and how many seeds went which way; then the
// paired test by seed of student − control. The per-seed differences and
// the paired test are the report's seed-level comparison
// (reports.SeedLevel), which its Markdown and HTML lead with.
func printDemoHeadline(w io.Writer, a *reports.Analysis, zoo *lab.Zoo) {
	cfg := zoo.Config()
	n := len(zoo.Seeds())
	fmt.Fprintf(w, "## Headline: %d seeds, %s distillation, target %s\n\n", n, cfg.Mode, cfg.Target)
	fmt.Fprintf(w, "Each seed is one replication of the whole experiment (its own references, teachers, number data and\n")
	fmt.Fprintf(w, "students); the seed is the paper's unit of replication, so the headline tests the %d per-seed rates.\n", n)
	if cfg.Mode == lab.Hard {
		fmt.Fprintf(w, "Hard mode: students are fine-tuned on the teacher's sampled number tokens, the lab's analog of the\n")
		fmt.Fprintf(w, "paper's supervised fine-tuning (--mode soft distils the teacher's number distributions: a larger effect).\n\n")
	} else {
		fmt.Fprintf(w, "Soft mode: students distil the teacher's next-token distributions over the number tokens; this is not\n")
		fmt.Fprintf(w, "the paper's procedure (hard mode, the default, fine-tunes on sampled tokens like the paper).\n\n")
	}
	fmt.Fprintln(w, "| comparison | mean of per-seed differences | 95% CI (Welch t, seeds) | p (Holm) | seeds up / down | smallest seed |")
	fmt.Fprintln(w, "|:-----------|:-----------------------------|:------------------------|:---------|:----------------|:--------------|")
	tg := demoTarget(a, cfg.Target)
	for _, r := range demoHeadlineRows {
		row := fmt.Sprintf("| %s − %s (%s) | ", r.treatment, r.baseline, r.why)
		c := findDemoComparison(tg, r.treatment, r.baseline)
		if c == nil || c.Seeds == nil {
			fmt.Fprintln(w, row+"needs two or more seeds | – | – | – | – |")
			continue
		}
		updown, smallest := "– / –", "–"
		if s := c.SeedLevel; s != nil {
			updown, smallest = fmt.Sprintf("%d / %d", s.Up(), s.Down()), fmt.Sprintf("%+.3f", float64(s.Smallest()))
		}
		fmt.Fprintf(w, "%s%+.3f | [%+.3f, %+.3f] | %s | %s | %s |\n", row, float64(c.Seeds.Diff),
			float64(c.Seeds.CI.Low), float64(c.Seeds.CI.High), fmtDemoP(float64(c.Seeds.PAdjusted)), updown, smallest)
	}
	if c := findDemoComparison(tg, "student", "control"); c != nil && c.SeedLevel != nil {
		s := c.SeedLevel
		fmt.Fprintf(w, "\nPaired by seed (student and control share the seed's reference), student − control is %+.3f [%+.3f, %+.3f], p = %s (t test of the %d differences).\n",
			float64(s.Mean), float64(s.CI.Low), float64(s.CI.High), fmtDemoP(float64(s.PValue)), len(s.Diffs))
	}
	fmt.Fprintln(w, "\nThe tables below pool samples over seeds as if every sample were independent; their intervals are much")
	fmt.Fprintln(w, "narrower than the seed-to-seed spread and are not the headline.")
	fmt.Fprintln(w)
}

// demoTarget returns the analysis of target on the run's first probe, or
// nil.
func demoTarget(a *reports.Analysis, target string) *reports.TargetAnalysis {
	if len(a.Probes) == 0 {
		return nil
	}
	for i, t := range a.Probes[0].Targets {
		if t.Target == target {
			return &a.Probes[0].Targets[i]
		}
	}
	return nil
}

// findDemoComparison returns the comparison of treatment and baseline on
// t, or nil.
func findDemoComparison(t *reports.TargetAnalysis, treatment, baseline string) *reports.Comparison {
	if t == nil {
		return nil
	}
	for _, c := range t.Comparisons {
		if c.Treatment == treatment && c.Baseline == baseline {
			return c
		}
	}
	return nil
}

// fmtDemoP formats a p-value with three significant digits.
func fmtDemoP(p float64) string {
	switch {
	case math.IsNaN(p):
		return "–"
	case p < 1e-4:
		return fmt.Sprintf("%.1e", p)
	default:
		return fmt.Sprintf("%.3g", p)
	}
}
