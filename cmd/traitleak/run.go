package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/reports"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

type runOptions struct {
	db           string
	sets         []string
	allowFiles   []string
	fresh        bool
	maxErrorRate float64
	grace        time.Duration
	progress     string
	interval     time.Duration
	gate         bool
	junit        string
	wait         bool
	scale        scaleOptions
}

func newRunCmd() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run SUITE",
		Short: "Sample a suite's models and store every sample",
		Long: `Run samples every model of SUITE (a suite file, or the name of a built-in
suite) on every probe, scores the samples, stores everything in the results
database and prints a summary.

Samples are keyed deterministically, so running the same suite into the same
database again resumes an interrupted run and reuses stored samples; --fresh
starts over with new samples. The first Ctrl-C stops issuing requests, stores
what is in flight and marks the run interrupted; a second Ctrl-C exits at once.

` + exitCodesHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), o, args[0], commandLine(cmd, args), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", defaultDB, "results database `file`")
	f.StringArrayVar(&o.sets, "set", nil, "override a suite field, e.g. --set models.student.base_url=http://... (repeatable)")
	f.StringArrayVar(&o.allowFiles, "allow-files", nil, allowFilesUsage)
	f.BoolVar(&o.fresh, "fresh", false, "start over with new samples instead of reusing stored ones")
	f.Float64Var(&o.maxErrorRate, "max-error-rate", 0.05, "largest `fraction` of failed samples for a complete run")
	f.DurationVar(&o.grace, "grace", 30*time.Second, "after Ctrl-C, how long in-flight requests may finish")
	f.StringVar(&o.progress, "progress", "auto", "progress display: auto, bar, lines or none")
	f.DurationVar(&o.interval, "progress-interval", 10*time.Second, "how often a progress line is printed when not on a terminal")
	f.BoolVar(&o.gate, "gate", false, "evaluate the suite's gates after the run (exit 1 when one fails)")
	f.StringVar(&o.junit, "junit", "", "write the gates' verdicts as JUnit XML to `file` (implies --gate)")
	f.BoolVar(&o.wait, "wait", false, "when another live process runs the same suite into the database, wait for it to finish instead of refusing (exit 3)")
	addScaleFlags(f, &o.scale)
	return cmd
}

func runRun(ctx context.Context, o *runOptions, suiteArg, again string, stdout, stderr io.Writer) error {
	if err := o.checkExec(); err != nil {
		return err
	}
	s, err := openSuite(suiteArg, o.sets, o.allowFiles)
	if err != nil {
		return err
	}
	if err := o.checkGates(s); err != nil {
		return err
	}
	if err := o.scale.prepare(ctx, s, os.Getenv, stdout); err != nil {
		return err
	}
	store, err := openDB(ctx, o.db, true)
	if err != nil {
		return err
	}
	defer store.Close()
	out, err := runSuite(ctx, store, s, o, stdout, stderr)
	if err != nil {
		return err
	}
	return finishRun(ctx, store, out, again, o, stdout)
}

// checkGates checks, before any sampling, what --gate and --junit need:
// gates in the suite and a JUnit file that can be written. --junit
// implies --gate: as with pytest's --junitxml or promptfoo's -o
// results.xml, asking for the results file asks for the checks whose
// results it holds, and a CI job that gives --junit means to see (and
// fail on) the verdicts; writing nothing, as before, hid them.
func (o *runOptions) checkGates(s *suites.Suite) error {
	if o.junit != "" {
		o.gate = true
	}
	if !o.gate {
		return nil
	}
	if len(s.Gates) == 0 {
		return usagef("suite %s declares no gates: --gate and --junit need at least one", s.Name)
	}
	if o.junit != "" {
		return checkOutput("--junit", o.junit, o.db)
	}
	return nil
}

// testRunClients is nil except in tests, where it makes run's clients:
// TestDocExample serves the lab on a free port and dials it for the
// documented 127.0.0.1:8089, so the suite, and with it every sample key
// and number, stays the documented one.
var testRunClients bench.ClientFactory

// runSuite executes a loaded suite with progress display.
func runSuite(ctx context.Context, store *results.Store, s *suites.Suite, o *runOptions, stdout, stderr io.Writer) (*bench.Outcome, error) {
	progress := &bench.Progress{}
	plan := bench.NewPlan(s, "")
	fmt.Fprintf(stdout, "suite %s (%s): %d models, %d probes, %d draws planned\n",
		s.Name, s.Source, len(plan.Instances), len(s.Probes), plan.Total())
	if sh := o.scale.shard; !sh.Whole() {
		plan.Jobs = sh.Jobs(plan.Jobs)
		fmt.Fprintf(stdout, "shard %s: %d of them\n", sh, plan.Total())
	}
	if b := o.scale.batchOpt; b != nil {
		b.Log = func(msg string) { fmt.Fprintln(stderr, msg) }
	}
	stop := startProgress(ctx, o.progress, o.interval, progress, stderr)
	out, err := bench.Execute(ctx, store, s, bench.Options{
		Fresh: o.fresh, MaxErrorRate: o.maxErrorRate, Version: traitleakVersion(), Progress: progress, Grace: o.grace,
		Wait: o.wait, Waiting: func(busy *results.RunBusyError) {
			fmt.Fprintf(stderr, "waiting for run %d (process %d on %s) to finish\n", busy.Run.ID, busy.Run.PID, busy.Run.Host)
		},
		NewClient: testRunClients, Shard: o.scale.shard, Batch: o.scale.batchOpt,
	})
	stop()
	return out, err
}

// finishRun prints the summary and maps the run status to an exit code.
// again is the command line that resumes or retries the run.
func finishRun(ctx context.Context, store *results.Store, out *bench.Outcome, again string, o *runOptions, stdout io.Writer) error {
	run := out.Run
	verb := "started"
	if out.Resumed {
		verb = "resumed"
	}
	fmt.Fprintf(stdout, "run %d %s: %d draws were already stored, %d sampled now (%d failed) in %s\n",
		run.ID, verb, out.Skipped, out.Summary.Done, out.Summary.Failed, out.Summary.Elapsed.Round(time.Millisecond))
	a, err := analyzeRun(context.WithoutCancel(ctx), store, run.ID, reports.Options{})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := reports.Summary(stdout, a); err != nil {
		return err
	}
	c := out.Counts
	fmt.Fprintf(stdout, "run %d %s: %d of %d draws stored, %d failed\n", run.ID, run.Status, c.Stored, c.Planned, c.Failed)
	if run.Message != "" {
		fmt.Fprintf(stdout, "  %s\n", run.Message)
	}
	switch run.Status {
	case results.StatusComplete:
		fmt.Fprintf(stdout, "report: traitleak report --db %s --run %d --format md\n", shellQuote(o.db), run.ID)
		if o.gate {
			// The analysis above is the gate command's: holm, 0.95.
			return evaluateGates(a, o.junit, false, stdout)
		}
		return nil
	case results.StatusInterrupted:
		fmt.Fprintf(stdout, "resume with: %s\n", again)
		return &exitError{code: exitInterrupted}
	default:
		fmt.Fprintf(stdout, "retry the missing or failed draws with: %s\n", again)
		return &exitError{code: exitIncomplete}
	}
}

// commandLine rebuilds the command line of cmd from its arguments and the
// flags the user set, to print as a resume or retry hint. --fresh is left
// out: resuming continues the fresh run rather than starting another.
func commandLine(cmd *cobra.Command, args []string) string {
	parts := []string{cmd.CommandPath()}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "fresh" {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				parts = append(parts, "--"+f.Name, shellQuote(v))
			}
			return
		}
		if f.Value.Type() == "bool" {
			parts = append(parts, "--"+f.Name)
			return
		}
		parts = append(parts, "--"+f.Name, shellQuote(f.Value.String()))
	})
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
