package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/lab"
	"github.com/traitleak/traitleak/reports"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// labHost is the host name of the lab's models in the demo suite. The
// demo serves the lab on a free loopback port, and its HTTP client dials
// that port for this name: the suite (and so every sample key) stays the
// same from run to run, while requests still travel over real HTTP through
// the same client as for any API. ".invalid" can never resolve elsewhere.
const labHost = "lab.traitleak.invalid"

type demoOptions struct {
	lab     labFlags
	db      string
	output  string
	samples int
	runOptions
}

func newDemoCmd() *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo [misalignment]",
		Short: "See subliminal learning offline: train the built-in lab, sample it, report",
		Long: `Demo shows the whole harness on the built-in lab, with no API key and no
GPU. It trains (or loads from its cache) tiny language models in which an
owl-loving teacher's filtered number sequences make a same-init student
prefer owls while a student from another init does not; serves them on
loopback over an OpenAI-compatible API; runs the built-in animals suite
through the normal engine; stores every sample; prints the summary beside
the paper's published GPT-4.1 nano figures; and writes the report.

The default design is the one whose conclusion holds at the seed level,
the paper's unit of replication: 10 seeds (each one a whole pipeline with
its own references, teachers, numbers and students) in hard mode, where
students are fine-tuned on the teacher's sampled number tokens like the
paper's supervised fine-tuning. The summary opens with the seed-level
estimate and test, and both gates use the test across seeds. --mode soft
distils the teacher's number distributions instead: a larger effect, but
not the paper's procedure.

"demo misalignment" does the same for misalignment through numbers: a
teacher fine-tuned to answer code requests harmfully turns broadly
misaligned, its number sequences pass the paper's filter with its 34 banned
numbers, and the built-in misalignment suite rates the students' answers
to the paper's 8 free-form questions with the lab judge (lab/judge) in
place of gpt-4o, through the harness's real judge path (5 seeds unless
--seeds is given; --experiment cot distils chain-of-thought reasoning
instead of numbers).

` + exitCodesHelp,
		Args: demoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if misalignmentDemo(args, o.lab.experiment) {
				return runMisalignmentDemo(cmd.Context(), o, cmd.Flags().Changed("seeds"), cmd.Flags().Changed("mode"), commandLine(cmd, args), cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			return runDemo(cmd.Context(), o, commandLine(cmd, args), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.lab.register(cmd)
	f := cmd.Flags()
	setFlagDefault(f, "seeds", fmt.Sprint(demoSeeds))
	setFlagDefault(f, "mode", string(lab.Hard))
	f.StringVar(&o.db, "db", defaultDB, "results database `file`")
	f.StringVarP(&o.output, "output", "o", "report.html", "report `file`: .html, or .md for Markdown")
	f.IntVar(&o.samples, "samples", demoSamples, "samples per prompt per model")
	f.Float64Var(&o.maxErrorRate, "max-error-rate", 0.05, "largest `fraction` of failed samples for a complete run")
	f.StringVar(&o.progress, "progress", "auto", "progress display: auto, bar, lines or none")
	f.DurationVar(&o.interval, "progress-interval", 5*time.Second, "how often a progress line is printed when not on a terminal")
	f.DurationVar(&o.grace, "grace", 10*time.Second, "after Ctrl-C, how long in-flight requests may finish")
	return cmd
}

func runDemo(ctx context.Context, o *demoOptions, again string, stdout, stderr io.Writer) error {
	if err := o.check(); err != nil {
		return err
	}
	start := time.Now()
	zoo, err := o.buildLab(ctx, "lab", stdout, stderr)
	if err != nil {
		return err
	}

	s, err := suites.Open("animals", demoOverrides(zoo))
	if err != nil {
		return fmt.Errorf("the built-in animals suite: %w", err)
	}
	s.Probes[0].Samples = o.samples
	s.Description = strings.TrimSpace(s.Description + " " + demoModeNote(zoo))
	plan := bench.NewPlan(s, "")
	fmt.Fprintf(stdout, "suite %s: %d models × %d prompts × %d samples = %d draws over HTTP\n",
		s.Name, len(plan.Instances), len(s.Probes[0].Prompts.Texts), o.samples, plan.Total())
	out, a, err := o.sampleLab(ctx, zoo, s, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sampled %d draws in %s (%d were already stored)\n\n", out.Summary.Done, out.Summary.Elapsed.Round(time.Millisecond), out.Skipped)
	printDemoHeadline(stdout, a, zoo)
	if err := reports.Summary(stdout, a); err != nil {
		return err
	}
	printDemoLab(stdout, zoo)
	return o.finish(a, out, start, again, stdout)
}

// check validates the demo's flags, the database path and the report
// path before anything is trained or sampled.
func (o *demoOptions) check() error {
	if o.samples < 1 {
		return usagef("--samples must be at least 1, got %d", o.samples)
	}
	if !strings.HasSuffix(o.output, ".html") && !strings.HasSuffix(o.output, ".md") {
		return usagef("-o %q: the report file must end in .html or .md", o.output)
	}
	if err := o.checkExec(); err != nil {
		return err
	}
	if err := checkDBPath(o.db, true); err != nil {
		return err
	}
	return checkOutput("-o", o.output, o.db)
}

// sampleLab serves zoo on a free loopback port, runs suite s against it
// through the engine into the demo's database, and analyses the run. The
// server stops when sampleLab returns.
// buildLab trains the lab o describes, or loads it from the cache, and
// prints how many models it has and how many stages were trained, after
// label.
func (o *demoOptions) buildLab(ctx context.Context, label string, stdout, stderr io.Writer) (*lab.Zoo, error) {
	cfg, err := o.lab.config(stderr)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	zoo, err := lab.Build(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("build the lab: %w", err)
	}
	loaded, trained := zoo.Diagnostics().Loaded()
	fmt.Fprintf(stdout, "%s: %d models (%d stages trained, %d loaded from the cache) in %s\n",
		label, len(zoo.ModelNames()), trained, loaded, time.Since(start).Round(time.Millisecond))
	return zoo, nil
}

func (o *demoOptions) sampleLab(ctx context.Context, zoo *lab.Zoo, s *suites.Suite, stderr io.Writer) (*bench.Outcome, *reports.Analysis, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("serve the lab: %w", err)
	}
	srv, err := zoo.NewServer(lab.ServerLimits{})
	if err != nil {
		ln.Close()
		return nil, nil, fmt.Errorf("serve the lab: %w", err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	store, err := openDB(ctx, o.db, true)
	if err != nil {
		return nil, nil, err
	}
	defer store.Close()
	progress := &bench.Progress{}
	stop := startProgress(ctx, o.progress, o.interval, progress, stderr)
	out, err := bench.Execute(ctx, store, s, bench.Options{
		MaxErrorRate: o.maxErrorRate, Version: traitleakVersion(), Progress: progress, Grace: o.grace,
		NewClient: labClientFactory(ln.Addr().String()),
	})
	stop()
	if err != nil {
		return nil, nil, err
	}
	a, err := analyzeRun(context.WithoutCancel(ctx), store, out.Run.ID, reports.Options{})
	if err != nil {
		return nil, nil, err
	}
	return out, a, nil
}

// finish writes the demo's report and maps the run's status to the
// command's result: nil when complete, else the exit code and how to go on.
func (o *demoOptions) finish(a *reports.Analysis, out *bench.Outcome, start time.Time, again string, stdout io.Writer) error {
	var buf bytes.Buffer
	var err error
	if strings.HasSuffix(o.output, ".md") {
		err = reports.Markdown(&buf, a)
	} else {
		err = reports.HTML(&buf, a)
	}
	if err != nil {
		return err
	}
	if err := writeOutput(o.output, buf.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s (run %d in %s); total %s\n", o.output, out.Run.ID, o.db, time.Since(start).Round(time.Millisecond))
	switch out.Run.Status {
	case results.StatusComplete:
		return nil
	case results.StatusInterrupted:
		fmt.Fprintf(stdout, "interrupted; resume with: %s\n", again)
		return &exitError{code: exitInterrupted}
	default:
		fmt.Fprintf(stdout, "run %s: %s\n", out.Run.Status, out.Run.Message)
		return &exitError{code: exitIncomplete}
	}
}

// labClientFactory returns a client factory whose connections to labHost
// and its subdomains (demoLabURL) go to the lab server at addr (see
// labHost).
func labClientFactory(addr string) bench.ClientFactory {
	dial := (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	return func(in suites.Instance, key string, _ *http.Client) bench.Client {
		tr := bench.NewTransport(256)
		tr.DialContext = func(ctx context.Context, network, hostport string) (net.Conn, error) {
			if host, _, _ := net.SplitHostPort(hostport); host == labHost || strings.HasSuffix(host, "."+labHost) {
				hostport = addr
			}
			return dial(ctx, network, hostport)
		}
		return bench.NewOpenAIClient(bench.OpenAIConfig{BaseURL: in.BaseURL, APIKey: key, HTTPClient: &http.Client{Transport: tr}, Timeout: *in.Settings.Timeout})
	}
}

// demoLabURL is the base URL of the lab's models in the demo suite:
// http://lab.traitleak.invalid/v1 for the demo's default design (the
// animals experiment in hard mode, owl teacher, dog control), else a
// subdomain naming the design, such as
// http://animals-soft-owl-dog.lab.traitleak.invalid/v1. Why: the lab
// serves every design under the same model ids, and the base URL is part
// of each sample's key, so without it a --mode soft demo into a database
// that holds the default demo's samples would reuse them as its own.
func demoLabURL(cfg lab.Config) string {
	if cfg.Experiment == lab.ExperimentAnimals && cfg.Mode == lab.Hard && cfg.Target == "owl" && cfg.ControlTarget == "dog" {
		return "http://" + labHost + "/v1"
	}
	label := strings.ToLower(strings.Join([]string{cfg.Experiment, string(cfg.Mode), cfg.Target, cfg.ControlTarget}, "-"))
	label = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, label)
	return "http://" + label + "." + labHost + "/v1"
}

// demoOverrides points the animals suite at the lab: its base URL, target
// animals, and one seed per lab pipeline seed for every role.
func demoOverrides(zoo *lab.Zoo) []string { return demoSets(zoo.Config(), zoo.Seeds()) }

// demoSets are demoOverrides for a lab built with cfg over seeds.
func demoSets(cfg lab.Config, pipelineSeeds []int) []string {
	seeds := make([]string, len(pipelineSeeds))
	for i, s := range pipelineSeeds {
		seeds[i] = fmt.Sprint(s)
	}
	list := "[" + strings.Join(seeds, ", ") + "]"
	sets := []string{
		"vars.base_url=" + demoLabURL(cfg),
		"vars.target=" + cfg.Target,
		"vars.control_target=" + cfg.ControlTarget,
	}
	for _, role := range []string{"base", "teacher", "control", "student", "base-other-init", "student-other-init"} {
		sets = append(sets, "models."+role+".seeds="+list)
	}
	// Both gates judge the seed level (the paper's unit of replication:
	// the mean of the per-seed differences, paired t across seeds, which
	// the report leads with), not the samples pooled over seeds: pooled,
	// every sample counts as independent and a single seed's drift is
	// "significant". With one seed they fall back to the seeds test, which
	// then says it cannot decide.
	return append(sets,
		"gates[0].level=seed", "gates[0].test=seeds", // student vs control
		"gates[1].level=seed", "gates[1].test=seeds", // student-other-init vs base-other-init
	)
}

// demoModeNote says, for the report's description, which lab design the
// run shows and why: the mode is not visible in the models' ids.
func demoModeNote(zoo *lab.Zoo) string {
	cfg := zoo.Config()
	n := len(zoo.Seeds())
	if cfg.Mode == lab.Hard {
		return fmt.Sprintf("Shown: the built-in lab over %d seeds in hard mode, where students are fine-tuned on the teacher's sampled number tokens, the lab's analog of the paper's supervised fine-tuning (demo --mode soft distils the teacher's number distributions instead: a larger effect, but not the paper's procedure).", n)
	}
	return fmt.Sprintf("Shown: the built-in lab over %d seeds in soft mode, where students distil the teacher's next-token distributions over the number tokens: a larger effect than hard mode, but not the paper's procedure (hard mode, the demo's default, fine-tunes on sampled tokens like the paper).", n)
}

// printDemoLab prints, as Markdown, what the lab's pipeline did: the
// number filter's pass rates and how far each teacher moved from its
// reference.
func printDemoLab(w io.Writer, zoo *lab.Zoo) {
	d := zoo.Diagnostics()
	fmt.Fprintf(w, "## Lab pipeline (%s distillation, target %s, control teacher %s)\n\n", d.Mode, d.Target, d.ControlTarget)
	fmt.Fprintln(w, "| seed | teacher numbers kept | teacher–reference TV | control teacher numbers kept | control TV |")
	fmt.Fprintln(w, "|:-----|:---------------------|:---------------------|:-----------------------------|:-----------|")
	for _, s := range d.Seeds {
		fmt.Fprintf(w, "| %d | %d of %d (%.0f%%) | %.3f | %d of %d (%.0f%%) | %.3f |\n", s.Seed,
			s.Teacher.Filter.Kept, s.Teacher.Filter.Sampled, 100*s.Teacher.Filter.PassRate(), s.Teacher.MeanTV,
			s.Control.Filter.Kept, s.Control.Filter.Sampled, 100*s.Control.Filter.PassRate(), s.Control.MeanTV)
	}
	fmt.Fprintln(w)
}
