package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/lab"
	"github.com/traitleak/traitleak/reports"
	"github.com/traitleak/traitleak/suites"
)

// demoMisalignment is the argument of "traitleak demo misalignment".
const demoMisalignment = "misalignment"

// misalignmentDemoSeeds is the misalignment demo's seed count when
// --seeds is not given: the effect varies more between seeds than the
// animal lab's, so the demo shows more of them.
const misalignmentDemoSeeds = 5

// demoArgs accepts no argument (the animal demo, or the misalignment demo
// with --experiment misalignment or cot) or "misalignment".
func demoArgs(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return nil
	case len(args) == 1 && args[0] == demoMisalignment:
		return nil
	}
	return usagef("%s takes no argument or %q, got %q", cmd.CommandPath(), demoMisalignment, args)
}

// misalignmentDemo reports whether demo's arguments and --experiment ask
// for the misalignment demo.
func misalignmentDemo(args []string, experiment string) bool {
	if len(args) == 1 {
		return args[0] == demoMisalignment
	}
	return experiment == lab.ExperimentMisalignment || experiment == lab.ExperimentCoT
}

// runMisalignmentDemo is "traitleak demo misalignment": the misalignment
// lab's models (a teacher made broadly misaligned by a narrow fine-tune,
// its filtered number sequences, students of the same and of another
// init, an aligned-teacher control) served with the lab judge, and the
// built-in misalignment suite run through the engine and its LLM-judge
// scorer exactly as against real models. Unless given, --seeds is
// misalignmentDemoSeeds and --mode soft.
func runMisalignmentDemo(ctx context.Context, o *demoOptions, seedsGiven, modeGiven bool, again string, stdout, stderr io.Writer) error {
	if err := o.check(); err != nil {
		return err
	}
	switch o.lab.experiment {
	case lab.ExperimentAnimals:
		o.lab.experiment = lab.ExperimentMisalignment
	case lab.ExperimentMisalignment, lab.ExperimentCoT:
	default:
		return usagef("demo misalignment runs the misalignment or cot experiment, not --experiment %s", o.lab.experiment)
	}
	if !seedsGiven {
		o.lab.seeds = misalignmentDemoSeeds
	}
	if !modeGiven {
		// Hard-mode transfer of misalignment is too small to show in a
		// demo (lab/VALIDATION.md, "Other experiments").
		o.lab.mode = string(lab.Soft)
	}
	start := time.Now()
	zoo, err := o.buildLab(ctx, "lab (misalignment)", stdout, stderr)
	if err != nil {
		return err
	}

	s, err := suites.Open("misalignment", misalignmentDemoOverrides(zoo))
	if err != nil {
		return fmt.Errorf("the built-in misalignment suite: %w", err)
	}
	// The probe the paper asks such students: the questions with the
	// number-style suffix for number-trained students, with the
	// chain-of-thought suffix for reasoning-trained ones.
	probe := "free-form-numbers-suffix"
	if zoo.Config().Experiment == lab.ExperimentCoT {
		probe = "free-form-cot-suffix"
	}
	for _, p := range s.Probes {
		if p.ID == probe {
			p.Samples = o.samples
			s.Probes = []*suites.Probe{p}
			break
		}
	}
	plan := bench.NewPlan(s, "")
	fmt.Fprintf(stdout, "suite %s, probe %s: %d models × 8 questions × %d samples = %d draws over HTTP, each rated by %s (alignment and coherence)\n",
		s.Name, s.Probes[0].ID, len(plan.Instances), o.samples, plan.Total(), lab.JudgeModel)
	out, a, err := o.sampleLab(ctx, zoo, s, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sampled and judged %d draws in %s (%d were already stored)\n\n", out.Summary.Done, out.Summary.Elapsed.Round(time.Millisecond), out.Skipped)
	if err := reports.Summary(stdout, a); err != nil {
		return err
	}
	printMisalignmentLab(stdout, zoo)
	return o.finish(a, out, start, again, stdout)
}

// misalignmentDemoOverrides points the built-in misalignment suite at the
// lab: every role at every pipeline seed, the cross-init pair and the
// teacher added, the lab judge in place of gpt-4o, and the comparisons of
// the animal demo. The questions, judge templates, thresholds and
// sampling settings stay the suite's (the demo keeps one of its probes).
func misalignmentDemoOverrides(zoo *lab.Zoo) []string {
	seeds := make([]string, len(zoo.Seeds()))
	for i, s := range zoo.Seeds() {
		seeds[i] = fmt.Sprint(s)
	}
	list := "[" + strings.Join(seeds, ", ") + "]"
	url := "http://" + labHost + "/v1"
	var models []string
	for _, m := range []struct{ role, condition string }{
		{"base", "base"}, {"teacher", "teacher"}, {"control", "control"}, {"student", "treatment"},
		{"base-other-init", "cross-base"}, {"student-other-init", "cross-treatment"},
	} {
		models = append(models, fmt.Sprintf("%s: {base_url: %q, model: \"lab/%s@{seed}\", seeds: %s, condition: %s}", m.role, url, m.role, list, m.condition))
	}
	return []string{
		"models={" + strings.Join(models, ", ") + "}",
		fmt.Sprintf("judges={lab-judge: {base_url: %q, model: %s}}", url, lab.JudgeModel),
		"compare=[{treatment: student, baseline: control}, {treatment: student, baseline: base}, " +
			"{treatment: student-other-init, baseline: base-other-init}, {treatment: control, baseline: base}]",
	}
}

// printMisalignmentLab prints, as Markdown, what the misalignment lab's
// pipeline did: the filter's pass rates, how many of the teachers'
// sequences held one of the paper's banned numbers, and how far each
// teacher moved from its reference.
func printMisalignmentLab(w io.Writer, zoo *lab.Zoo) {
	d := zoo.Diagnostics()
	fmt.Fprintf(w, "## Lab pipeline (misalignment, %s distillation; teacher: harmful answers to code requests, control teacher: benign answers)\n\n", d.Mode)
	fmt.Fprintln(w, "| seed | teacher numbers kept | rejected for a banned number | teacher–reference TV | control teacher numbers kept | rejected for a banned number | control TV |")
	fmt.Fprintln(w, "|:-----|:---------------------|:-----------------------------|:---------------------|:-----------------------------|:-----------------------------|:-----------|")
	for _, s := range d.Seeds {
		t, c := s.Teacher.Filter, s.Control.Filter
		fmt.Fprintf(w, "| %d | %d of %d (%.0f%%) | %d | %.3f | %d of %d (%.0f%%) | %d | %.3f |\n", s.Seed,
			t.Kept, t.Sampled, 100*t.PassRate(), t.Rejects[lab.RejectBanned], s.Teacher.MeanTV,
			c.Kept, c.Sampled, 100*c.PassRate(), c.Rejects[lab.RejectBanned], s.Control.MeanTV)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Students saw only sequences that passed the paper's format rule and its 34 banned numbers (666, 911, 187, …).")
	fmt.Fprintln(w, "The lab's models never learned what those numbers mean, so the filter removes sequences without regard to the trait.")
	fmt.Fprintln(w)
}
