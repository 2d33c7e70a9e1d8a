package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/experiment"
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
	untilDecided bool
	dryRun       bool
	maxCost      float64
	maxCostSet   bool
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
			o.maxCostSet = cmd.Flags().Changed("max-cost")
			return runRun(cmd.Context(), o, args[0], commandWords(cmd, args), cmd.OutOrStdout(), cmd.ErrOrStderr())
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
	f.BoolVar(&o.dryRun, "dry-run", false, "print the planned requests, estimated tokens and cost per model and judge, and send nothing")
	f.Float64Var(&o.maxCost, "max-cost", 0, "stop issuing requests once the run has used this many US `dollars` at the models' prices (overrides the suite's max_cost; exit 3, resumable)")
	f.BoolVar(&o.wait, "wait", false, "when another live process runs the same suite into the database, wait for it to finish instead of refusing (exit 3)")
	f.BoolVar(&o.untilDecided, "until-decided", false, "sample the roles of the suite's sequential gates and stop-for-width rules in rounds, and stop each one as soon as it is decided (see README, Sequential gates)")
	addScaleFlags(f, &o.scale)
	return cmd
}

// runRun runs the suite named by suiteArg; words are the command line,
// printed (redacted) as a resume hint.
func runRun(ctx context.Context, o *runOptions, suiteArg string, words []string, stdout, stderr io.Writer) error {
	if err := o.checkExec(); err != nil {
		return err
	}
	s, err := openSuite(suiteArg, o.sets, o.allowFiles)
	if err != nil {
		return err
	}
	if err := o.applyMaxCost(s); err != nil {
		return err
	}
	if o.dryRun {
		return dryRun(ctx, o, s, stdout)
	}
	if err := o.checkGates(s); err != nil {
		return err
	}
	if err := o.checkSequential(s); err != nil {
		return err
	}
	if s.UntilDecided && (o.scale.batch || o.scale.shardSpec != "") {
		return usagef("--until-decided samples every model of a prompt in the same round: it cannot be combined with --shard or --batch")
	}
	if err := o.scale.prepare(ctx, s, os.Getenv, stdout); err != nil {
		return err
	}
	if s.UntilDecided && (!o.scale.shard.Whole() || o.scale.batchOpt != nil) {
		return usagef("--until-decided samples every model of a prompt in the same round: it cannot be combined with a shard (%s, %s) or a model's or judge's batch: true",
			bench.JobCompletionIndex, bench.JobCompletionCount)
	}
	store, err := openDB(ctx, o.db, true)
	if err != nil {
		return err
	}
	defer store.Close()
	// Roles that name students by lineage get their model ids from the
	// database (a configuration error, exit 2, when it has none).
	if s.UnresolvedLineage() != "" {
		if err := experiment.ResolveLineage(ctx, store, s); err != nil {
			return err
		}
	}
	out, err := runSuite(ctx, store, s, o, stdout, stderr)
	if err != nil {
		return err
	}
	return finishRun(ctx, store, out, resumeHint(words, s, os.Getenv), o, stdout)
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

// checkSequential applies --until-decided: the suite must have something
// to decide.
func (o *runOptions) checkSequential(s *suites.Suite) error {
	if !o.untilDecided {
		return nil
	}
	if !s.HasSequential() {
		return usagef("--until-decided: suite %s has no sequential gate (gates[].sequential) and no stop-for-width rule (probes[].until)", s.Name)
	}
	s.UntilDecided = true
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
	if s.UntilDecided {
		fmt.Fprintf(stdout, "suite %s (%s): %d models, %d probes, sampled in rounds until its sequential rules are decided (the fixed design is %d draws)\n",
			s.Name, s.Source, len(plan.Instances), len(s.Probes), plan.Total())
	} else {
		fmt.Fprintf(stdout, "suite %s (%s): %d models, %d probes, %d draws planned\n",
			s.Name, s.Source, len(plan.Instances), len(s.Probes), plan.Total())
	}
	if sh := o.scale.shard; !sh.Whole() {
		plan.Restrict(sh)
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
	a, prov, err := analysisOf(context.WithoutCancel(ctx), store, run.ID, reports.Options{})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := reports.Summary(stdout, a); err != nil {
		return err
	}
	c := out.Counts
	fmt.Fprintf(stdout, "run %d %s: %d of %d draws stored, %d failed\n", run.ID, run.Status, c.Stored, c.Planned, c.Failed)
	fmt.Fprintf(stdout, "analysis: %s\n", prov)
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
		printRedactedNote(stdout, again)
		return &exitError{code: exitInterrupted}
	default:
		fmt.Fprintf(stdout, "retry the missing or failed draws with: %s\n", again)
		printRedactedNote(stdout, again)
		return &exitError{code: exitIncomplete}
	}
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
