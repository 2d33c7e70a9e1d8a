package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/experiment"
	"github.com/traitleak/traitleak/results"
)

// experimentOptions are the flags of the experiment stage commands.
type experimentOptions struct {
	runOptions
	cacheDir     string
	cancelOnStop bool
	retryFailed  bool
}

func newExperimentCmd() *cobra.Command {
	var show string
	cmd := &cobra.Command{
		Use:   "experiment",
		Short: "Run a whole experiment: teacher → data → filter → fine-tune → evaluate",
		Long: `An experiment file declares teachers and control teachers (model and system
prompt: by default the paper's template with the target), the kind and size
of their data, the filter, the fine-tuning (provider, base models, seeds,
hyper-parameters) and the evaluation suite, whose students are filled in by
lineage. It loads with a suite's rules: errors name file:line:col, --set
overrides any field, ${vars} are substituted, and built-in experiments are
named without a path:

  owl-numbers       the paper's GPT-4.1 nano owl experiment (OPENAI_API_KEY; costs money)
  lab-owl-numbers   the same against the built-in lab, through the same API path, offline

"experiment run EXP" runs every stage; "generate", "filter" and "finetune"
run the stages up to that one. Every stage is keyed by content: running the
file again skips what is done, and a run killed anywhere (even kill -9)
resumes without a paid call twice: teacher completions are stored as
samples with keys, a training file is uploaded once per content hash and a
fine-tuning job created once per content key, recorded before it is polled.
Ctrl-C stops waiting for fine-tuning jobs and leaves them running at the
provider (--cancel-on-stop cancels them); running again resumes polling.

A base URL naming the host lab.traitleak.invalid is the built-in lab: the
command builds its models for the experiment's seeds (or loads them from
--cache-dir) and serves them on loopback the first time a request needs
them, so that the lab's teachers, fine-tuning endpoints and students are
reached over HTTP through the same clients as any API. To use a running
"traitleak lab serve" instead: --set vars.base_url=http://127.0.0.1:8089/v1.

Every artefact is recorded in the results database: datasets (with their
cards and training files), uploads, jobs, students and the lineage that
names them; "traitleak runs --lineage EXP" lists it and "traitleak
export-dataset" writes a dataset's JSONL and card for other trainers.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			if show == "" {
				fmt.Fprintln(w, "built-in experiments (traitleak experiment run NAME; traitleak experiment --show NAME prints one):")
				for _, name := range experiment.BuiltinNames() {
					desc := ""
					if e, err := (experiment.Loader{}).Open(name, nil); err == nil {
						desc = e.Description
					}
					fmt.Fprintf(w, "  %-18s %s\n", name, oneLine(desc, 100))
				}
				fmt.Fprintln(w, "\ncommands: run, generate, filter, finetune, validate, status (traitleak experiment run --help)")
				return nil
			}
			src, err := experiment.BuiltinSource(show)
			if err != nil {
				return &usageError{err}
			}
			_, err = w.Write(src)
			return err
		},
	}
	cmd.Flags().StringVar(&show, "show", "", "print the YAML of the built-in experiment `name`")
	cmd.AddCommand(
		newExperimentStageCmd("run", experiment.StageEvaluate, "Run every stage of an experiment and evaluate its students"),
		newExperimentStageCmd("generate", experiment.StageGenerate, "Sample the teachers' data (the first stage)"),
		newExperimentStageCmd("filter", experiment.StageFilter, "Generate what is missing, then filter the data into training files and cards"),
		newExperimentStageCmd("finetune", experiment.StageFineTune, "Generate and filter what is missing, then fine-tune the students"),
		newExperimentValidateCmd(),
		newExperimentStatusCmd(),
	)
	return cmd
}

// newExperimentStageCmd builds "experiment run|generate|filter|finetune":
// the stages up to until.
func newExperimentStageCmd(use string, until experiment.Stage, short string) *cobra.Command {
	o := &experimentOptions{}
	cmd := &cobra.Command{
		Use:   use + " EXPERIMENT",
		Short: short,
		Long: short + `. EXPERIMENT is an experiment file or the name of a
built-in experiment (traitleak experiment lists them). Stages already done
for the same content are skipped; see traitleak experiment --help.

` + exitCodesHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExperiment(cmd.Context(), o, args[0], until, commandLine(cmd, args), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", defaultDB, "results database `file`")
	f.StringArrayVar(&o.sets, "set", nil, "override an experiment field, e.g. --set data.size=300 (repeatable)")
	f.StringArrayVar(&o.allowFiles, "allow-files", nil, "let the experiment (and its evaluation suite) read files in `dir`, besides its own directory (repeatable)")
	f.StringVar(&o.cacheDir, "cache-dir", "", "the built-in lab's artifact cache directory, when the experiment uses the lab")
	f.Float64Var(&o.maxErrorRate, "max-error-rate", 0.05, "largest `fraction` of failed samples for a complete generation or evaluation run")
	f.DurationVar(&o.grace, "grace", 30*time.Second, "after Ctrl-C, how long in-flight requests may finish")
	f.StringVar(&o.progress, "progress", "auto", "progress display: auto, bar, lines or none")
	f.DurationVar(&o.interval, "progress-interval", 10*time.Second, "how often a progress line is printed when not on a terminal")
	f.BoolVar(&o.cancelOnStop, "cancel-on-stop", false, "on Ctrl-C, cancel the fine-tuning jobs being waited on (default: leave them running; running again resumes)")
	f.BoolVar(&o.retryFailed, "retry-failed", false, "make a new fine-tuning job for a student whose job failed or was cancelled")
	if until == experiment.StageEvaluate {
		f.BoolVar(&o.gate, "gate", false, "evaluate the suite's gates after the evaluation (exit 1 when one fails)")
		f.StringVar(&o.junit, "junit", "", "write the gates' verdicts as JUnit XML to `file` (implies --gate)")
	}
	return cmd
}

// openExperiment loads an experiment; errors are usage errors (exit 2).
func openExperiment(arg string, sets, allow []string) (*experiment.Experiment, error) {
	e, err := experiment.Loader{AllowFiles: allow}.Open(arg, sets)
	if err != nil {
		return nil, &usageError{err}
	}
	return e, nil
}

func runExperiment(ctx context.Context, o *experimentOptions, arg string, until experiment.Stage, again string, stdout, stderr io.Writer) error {
	if err := o.checkExec(); err != nil {
		return err
	}
	e, err := openExperiment(arg, o.sets, o.allowFiles)
	if err != nil {
		return err
	}
	if until == experiment.StageEvaluate {
		s, err := e.EvaluationSuite()
		if err == nil {
			err = o.checkGates(s)
		} else if o.gate || o.junit != "" {
			err = usagef("--gate: experiment %s has no evaluation suite", e.Name)
		} else {
			err = nil
		}
		if err != nil {
			return err
		}
	}
	lb, err := experimentLab(ctx, e, o.cacheDir, stderr)
	if err != nil {
		return err
	}
	defer lb.Close()
	store, err := openDB(ctx, o.db, true)
	if err != nil {
		return err
	}
	defer store.Close()
	plan, err := e.NewPlan()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "experiment %s (%s): %d seeds, %d datasets, %d students; stages up to %s\n",
		e.Name, e.Source, len(e.SeedLabels()), len(plan.Datasets), len(plan.Students), until)
	start := time.Now()
	r := &experiment.Runner{
		Store: store, NewClient: lb.ClientFactory(), HTTPClient: lb.HTTPClient(), Version: traitleakVersion(),
		MaxErrorRate: o.maxErrorRate, Grace: o.grace, Log: stdout, CancelOnStop: o.cancelOnStop, RetryFailed: o.retryFailed,
		Sampling: func(what string) (*bench.Progress, func()) {
			p := &bench.Progress{}
			return p, startProgress(ctx, o.progress, o.interval, p, stderr)
		},
	}
	out, err := r.Run(ctx, e, until)
	fmt.Fprintf(stdout, "experiment %s: %s\n", e.Name, time.Since(start).Round(time.Millisecond))
	if err != nil {
		if experiment.IsInterrupted(err) && ctx.Err() != nil {
			fmt.Fprintf(stdout, "interrupted; resume with: %s\n", again)
			return &exitError{code: exitInterrupted, err: err}
		}
		if errors.Is(err, bench.ErrConfig) {
			return err
		}
		fmt.Fprintf(stdout, "retry with: %s\n", again)
		return err
	}
	if out.Evaluation == nil {
		fmt.Fprintf(stdout, "lineage: traitleak runs --db %s --lineage %s\n", shellQuote(o.db), e.Name)
		return nil
	}
	fmt.Fprintf(stdout, "lineage: traitleak runs --db %s --lineage %s\n", shellQuote(o.db), e.Name)
	return finishRun(ctx, store, out.Evaluation, again, &o.runOptions, stdout)
}

func newExperimentValidateCmd() *cobra.Command {
	var sets, allow []string
	cmd := &cobra.Command{
		Use:   "validate EXPERIMENT",
		Short: "Check an experiment file without running it",
		Long: `Validate loads EXPERIMENT (a file or a built-in name) with its --set
overrides, reports the first error with its file, line and column, and
otherwise prints what a run would make.

` + exitCodesHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openExperiment(args[0], sets, allow)
			if err != nil {
				return err
			}
			p, err := e.NewPlan()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "experiment %s (%s) is valid: %d seeds (%s), target %s\n", e.Name, e.Source, len(e.SeedLabels()), strings.Join(e.SeedLabels(), ", "), e.Target)
			for _, d := range p.Datasets {
				prompt := "no system prompt"
				if d.SystemPrompt != nil {
					prompt = fmt.Sprintf("system prompt %q", oneLine(*d.SystemPrompt, 60))
				}
				fmt.Fprintf(w, "  dataset %-32s %s at %s, %s; %s × %d prompts; seeds %s\n", d.Name, d.Model, d.BaseURL, prompt, e.Data.Kind, e.Data.Size,
					strings.Join(d.Seeds, ", "))
				rules := make([]string, 0, len(d.Rules)+1)
				for _, r := range d.Rules {
					rules = append(rules, r.String())
				}
				if d.Judge != nil {
					rules = append(rules, "judge "+d.Judge.Name)
				}
				fmt.Fprintf(w, "  %-40s filter: %s\n", "", strings.Join(rules, "; "))
			}
			for _, s := range p.Students {
				spec := s.Spec(strings.Repeat("0", 64))
				seed := "auto"
				if spec.Seed != nil {
					seed = fmt.Sprint(*spec.Seed)
				}
				fmt.Fprintf(w, "  student %-32s %s on %s (training seed %s)\n", s.Arm.Name+"@"+s.Seed, s.BaseModel, s.Dataset.Name, seed)
			}
			if e.Evaluate.Suite != "" {
				s, err := e.EvaluationSuite()
				if err != nil {
					return &usageError{err}
				}
				fmt.Fprintf(w, "  evaluation: ")
				return describeSuite(w, s)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override an experiment field (repeatable)")
	cmd.Flags().StringArrayVar(&allow, "allow-files", nil, "let the experiment read files in `dir` (repeatable)")
	return cmd
}

func newExperimentStatusCmd() *cobra.Command {
	var db string
	var sets, allow []string
	cmd := &cobra.Command{
		Use:   "status EXPERIMENT",
		Short: "Show how far an experiment has come in a results database",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := openExperiment(args[0], sets, allow)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			store, err := openDB(ctx, db, false)
			if err != nil {
				return err
			}
			defer store.Close()
			st, err := experiment.ReadStatus(ctx, store, e)
			if err != nil {
				return err
			}
			return writeExperimentStatus(cmd.OutOrStdout(), e, st)
		},
	}
	cmd.Flags().StringVar(&db, "db", defaultDB, "results database `file`")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override an experiment field (repeatable)")
	cmd.Flags().StringArrayVar(&allow, "allow-files", nil, "let the experiment read files in `dir` (repeatable)")
	return cmd
}

// writeExperimentStatus prints an experiment's stages as recorded.
func writeExperimentStatus(w io.Writer, e *experiment.Experiment, st *experiment.Status) error {
	fmt.Fprintf(w, "experiment %s (%s), content hash %s\n\n", e.Name, e.Source, e.Hash()[:12])
	tw := newTable(w)
	fmt.Fprintln(tw, "DATASET\tSTATUS\tRUN\tGENERATED\tFAILED\tKEPT\tROWS\tSHA256")
	for _, d := range st.Datasets {
		if d.Record == nil {
			fmt.Fprintf(tw, "%s\tnot generated\t–\t–\t–\t–\t–\t–\n", d.Plan.Name)
			continue
		}
		r := d.Record
		run, sha := "–", "–"
		if r.GenerateRunID != 0 {
			run = fmt.Sprint(r.GenerateRunID)
		}
		if r.SHA256 != "" {
			sha = r.SHA256[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", d.Plan.Name, r.Status, run, r.Generated, r.Failed, r.Kept, r.Rows, sha)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "STUDENT\tDATA\tBASE MODEL\tJOB\tSTATUS\tMODEL")
	for _, s := range st.Students {
		job, status, model := "–", "not created", "–"
		if s.Job != nil {
			if s.Job.JobID != "" {
				job = s.Job.JobID
			}
			status = s.Job.Status
			if s.Job.Message != "" {
				status += ": " + oneLine(s.Job.Message, 60)
			}
		}
		if s.Student != nil {
			model = s.Student.Model
		}
		fmt.Fprintf(tw, "%s@%s\t%s\t%s\t%s\t%s\t%s\n", s.Plan.Arm.Name, s.Plan.Seed, s.Plan.Dataset.Name, s.Plan.BaseModel, job, status, model)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(st.Runs) == 0 {
		fmt.Fprintln(w, "evaluation: no run yet")
		return nil
	}
	for _, r := range st.Runs {
		fmt.Fprintf(w, "evaluation: run %d of suite %s, %s\n", r.ID, r.SuiteName, displayStatus(r))
	}
	return nil
}

// lineageRuns prints the chains of lineage ref ("all" for every one) to
// w and returns the runs of runs that made or sampled its students (runs
// --lineage).
func lineageRuns(ctx context.Context, w io.Writer, store *results.Store, ref string, runs []results.Run) ([]results.Run, error) {
	if ref == "all" {
		ref = ""
	}
	chains, err := store.Lineage(ctx, results.ParseLineageFilter(ref))
	if err != nil {
		return nil, err
	}
	if len(chains) == 0 {
		return nil, usagef("--lineage %s: no such lineage in %s (experiments record theirs when they fine-tune)", ref, store.Path())
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "LINEAGE\tSEED\tTEACHER\tDATASET\tROWS\tSHA256\tBASE MODEL\tJOB\tSTATUS\tSTUDENT")
	for _, c := range chains {
		d, j := c.Dataset, c.Job
		sha, job, student := "–", "–", "–"
		if d.SHA256 != "" {
			sha = d.SHA256[:12]
		}
		if j.JobID != "" {
			job = j.JobID
		}
		if c.Student != nil {
			student = c.Student.Model
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", c.Ref(), c.Seed, d.TeacherModel, d.Name, d.Rows, sha, j.BaseModel, job, j.Status, student)
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	fmt.Fprintln(w)
	ids, err := store.LineageRuns(ctx, ref)
	if err != nil {
		return nil, err
	}
	keep := map[int64]bool{}
	for _, id := range ids {
		keep[id] = true
	}
	var out []results.Run
	for _, r := range runs {
		if keep[r.ID] {
			out = append(out, r)
		}
	}
	return out, nil
}

// newTable returns a tab writer for the command's plain tables.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }
