package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/traitleak/traitleak/lab"
)

// newLabCmd builds "traitleak lab": the built-in offline model zoo.
func newLabCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Built-in offline model zoo that reproduces subliminal learning",
		Long: `The lab trains tiny pure-Go language models that reproduce subliminal
learning in seconds: a teacher fine-tuned to love an animal generates number
sequences; a student sharing the teacher's init picks up the preference from
the numbers alone, a student from another init does not. Trained models are
cached (see --cache-dir) and served over an OpenAI-compatible API, beside
the lab's judge (lab/judge). --experiment misalignment, cot or code runs
the paper's other experiments: misalignment through numbers or
chain-of-thought reasoning, animal preference through code.`,
	}
	cmd.AddCommand(newLabServeCmd(), newLabTrainCmd(), newLabAuxCmd(), newLabTheoremCmd())
	return cmd
}

// testLabRecipes maps a lab cache directory to the recipe that the
// commands' lab builds with that --cache-dir train instead of the
// experiment's own. Tests of the commands' mechanics register a tiny
// recipe for a directory of their own (useTinyLab): the demo and "lab
// train" then train a seed in a fraction of a second, without reproducing
// the effect, in parallel with the tests of the real recipe. Empty in the
// program.
var testLabRecipes sync.Map // string → *lab.Recipe

// labFlags are the build flags shared by "lab serve" and "lab train".
type labFlags struct {
	experiment string
	seeds      int
	target     string
	control    string
	mode       string
	cacheDir   string
	retrain    bool
	noCache    bool
	workers    int

	flags *pflag.FlagSet // where they were registered: see config
}

func (f *labFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	f.flags = fl
	fl.StringVar(&f.experiment, "experiment", lab.ExperimentAnimals, "the lab's experiment: "+strings.Join(lab.Experiments(), ", "))
	fl.IntVar(&f.seeds, "seeds", 3, "number of pipeline seeds (1..N)")
	fl.StringVar(&f.target, "target", "", "the teacher's trait (default owl; misaligned in the misalignment and cot experiments)")
	fl.StringVar(&f.control, "control", "", "the control teacher's trait (default dog; aligned in the misalignment and cot experiments)")
	fl.StringVar(&f.mode, "mode", "soft", "distillation mode: soft (teacher number distributions) or hard (sampled tokens)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "artifact cache directory (default "+lab.DefaultCacheDir()+")")
	fl.BoolVar(&f.retrain, "retrain", false, "retrain every stage even if cached")
	fl.BoolVar(&f.noCache, "no-cache", false, "neither read nor write the artifact cache")
	fl.IntVar(&f.workers, "workers", 0, "concurrent training jobs (0 = number of CPUs)")
}

// config validates the flags and returns the build configuration.
func (f *labFlags) config(log io.Writer) (lab.Config, error) {
	if f.seeds < 1 {
		return lab.Config{}, usagef("--seeds must be at least 1, got %d", f.seeds)
	}
	if f.workers < 0 {
		return lab.Config{}, usagef("--workers must not be negative, got %d", f.workers)
	}
	// lab.Config reads an empty trait as the experiment's default, so an
	// explicit --target "" would silently train owls.
	for _, a := range []struct{ flag, v string }{{"target", f.target}, {"control", f.control}} {
		if f.flags != nil && f.flags.Changed(a.flag) && strings.TrimSpace(a.v) == "" {
			return lab.Config{}, usagef("--%s %q: want a trait name", a.flag, a.v)
		}
	}
	mode := lab.Mode(strings.ToLower(f.mode))
	if mode != lab.Soft && mode != lab.Hard {
		return lab.Config{}, usagef("--mode must be soft or hard, got %q", f.mode)
	}
	cfg := lab.Config{
		Experiment: f.experiment, NumSeeds: f.seeds, Target: f.target, ControlTarget: f.control, Mode: mode,
		CacheDir: f.cacheDir, Retrain: f.retrain, NoCache: f.noCache, Workers: f.workers, Log: log,
	}
	if r, ok := testLabRecipes.Load(f.cacheDir); ok {
		cfg.Recipe = r.(*lab.Recipe)
	}
	if err := cfg.Validate(); err != nil {
		return lab.Config{}, usagef("%v", err)
	}
	return cfg, nil
}

func newLabServeCmd() *cobra.Command {
	var f labFlags
	var addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Build (or load) the lab models and serve them over an OpenAI-compatible API",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			// net.Listen reads "" (or ":0") as every interface: the lab's
			// models would be served to the network on a random port.
			if host, _, err := net.SplitHostPort(addr); err != nil || host == "" {
				return usagef("--addr %q: want HOST:PORT, e.g. 127.0.0.1:8089", addr)
			}
			ctx := cmd.Context()
			z, err := lab.Build(ctx, cfg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return usagef("--addr %s: %v", addr, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "lab: serving %d models at http://%s/v1 (OpenAI-compatible; POST /v1/chat/completions, GET /v1/models)\n",
				len(z.ModelNames()), ln.Addr())
			printLabModels(out, z)
			fmt.Fprintf(out, "%s: the lab's judge (answers the misalignment suite's alignment and coherence templates)\n", lab.JudgeModel)
			srv, err := z.NewServer(lab.ServerLimits{})
			if err != nil {
				ln.Close()
				return fmt.Errorf("lab serve: %w", err)
			}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return fmt.Errorf("lab serve: %w", err)
			case <-ctx.Done():
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "lab: shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("lab serve: shutdown: %w", err)
			}
			if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("lab serve: %w", err)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8089", "listen address")
	return cmd
}

// printLabModels lists the served models.
func printLabModels(w io.Writer, z *lab.Zoo) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tROLE\tSEED\tARTIFACT")
	first := z.Seeds()[0]
	for _, m := range z.Models() {
		name := m.Name
		if m.Seed == first {
			name += " (= lab/" + string(m.Role) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", name, m.Role, m.Seed, m.Artifact)
	}
	tw.Flush()
}

func newLabTrainCmd() *cobra.Command {
	var f labFlags
	var eval int
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Build (or load) the lab models and print pipeline diagnostics",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if eval < 0 {
				return usagef("--eval must not be negative, got %d", eval)
			}
			z, err := lab.Build(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			printLabDiagnostics(out, z.Diagnostics())
			if eval > 0 {
				rates, what, err := labEvalRates(cmd.Context(), z, eval)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "\n%s × %d samples at T=1:\n", what, eval)
				printLabRates(out, z, rates)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&eval, "eval", 0, "also sample each model N times per evaluation prompt and print the trait rate (0 = off)")
	return cmd
}

// printLabDiagnostics prints the filter, distance and stage diagnostics.
func printLabDiagnostics(w io.Writer, d lab.Diagnostics) {
	loaded, trained := d.Loaded()
	fmt.Fprintf(w, "lab build: mode %s, target %s, control %s, %d stages loaded, %d computed, %s wall\n",
		d.Mode, d.Target, d.ControlTarget, loaded, trained, d.Wall.Round(time.Millisecond))
	if d.CacheDir != "" {
		fmt.Fprintf(w, "cache: %s\n", d.CacheDir)
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSEED\tTEACHER\tSAMPLED\tKEPT\tPASS\tMEAN TV\tEXAMPLES\tREJECTS")
	for _, s := range d.Seeds {
		for _, t := range []struct {
			name string
			n    lab.NumbersDiagnostics
		}{{d.Target, s.Teacher}, {d.ControlTarget, s.Control}} {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%.3f\t%.3f\t%d\t%s\n", s.Seed, t.name, t.n.Filter.Sampled, t.n.Filter.Kept,
				t.n.Filter.PassRate(), t.n.MeanTV, t.n.Examples, formatLabRejects(t.n.Filter.Rejects))
		}
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSEED\tSTAGE\tROLE\tARTIFACT\tSTATUS\tTIME\tTRAIN TIME\tSTEPS\tFINAL LOSS")
	for _, s := range d.Stages {
		status := "computed"
		if s.Loaded {
			status = "loaded"
		}
		if s.CacheError != "" {
			status += " (cache: " + s.CacheError + ")"
		}
		loss := "-"
		if s.Steps > 0 {
			loss = fmt.Sprintf("%.4f", s.FinalLoss)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.Seed, s.Stage, s.Role, s.ID, status,
			s.Duration.Round(time.Millisecond), s.TrainTime.Round(time.Millisecond), s.Steps, loss)
	}
	tw.Flush()
}

// formatLabRejects renders reject counts sorted by reason.
func formatLabRejects(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// labEvalRates measures the zoo's trait: the target animal's rate over
// the paper's 50 animal prompts, or for the misalignment lab the
// misaligned-answer rate over the paper's 8 questions with the suffix its
// students are asked with (judged by the lab judge; hits = misaligned,
// total = coherent scored answers). It also says what it measured.
func labEvalRates(ctx context.Context, z *lab.Zoo, samples int) ([]lab.Rate, string, error) {
	cfg := z.Config()
	variant := lab.QuestionsNumbers
	switch cfg.Experiment {
	case lab.ExperimentMisalignment:
	case lab.ExperimentCoT:
		variant = lab.QuestionsCoT
	default:
		rates, err := z.PreferenceRates(ctx, cfg.Target, samples, 1)
		return rates, fmt.Sprintf("%q rate over the paper's 50 animal prompts", cfg.Target), err
	}
	qs, err := lab.MisalignmentQuestions(variant)
	if err != nil {
		return nil, "", err
	}
	mr, err := z.MisalignmentRates(ctx, qs, samples, 1)
	if err != nil {
		return nil, "", err
	}
	rates := make([]lab.Rate, len(mr))
	for i, r := range mr {
		rates[i] = lab.Rate{Model: r.Model, Hits: r.Misaligned, Total: r.Valid}
	}
	return rates, fmt.Sprintf("misaligned rate (lab judge) over the paper's 8 questions, %s", variant), nil
}

// printLabRates prints one row per seed and one column per role.
func printLabRates(w io.Writer, z *lab.Zoo, rates []lab.Rate) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprint(tw, "SEED")
	for _, r := range lab.Roles {
		fmt.Fprintf(tw, "\t%s", r)
	}
	fmt.Fprintln(tw)
	bySeed := map[int]map[lab.Role]float64{}
	for _, r := range rates {
		if bySeed[r.Model.Seed] == nil {
			bySeed[r.Model.Seed] = map[lab.Role]float64{}
		}
		bySeed[r.Model.Seed][r.Model.Role] = r.Value()
	}
	for _, s := range z.Seeds() {
		fmt.Fprintf(tw, "%d", s)
		for _, r := range lab.Roles {
			fmt.Fprintf(tw, "\t%.3f", bySeed[s][r])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func newLabAuxCmd() *cobra.Command {
	var seeds, workers int
	cmd := &cobra.Command{
		Use:   "aux",
		Short: "Run the MNIST-style auxiliary-logit experiment on a synthetic task",
		Long: `Runs the paper's auxiliary-logit experiment (§6.2) on a synthetic 10-class
Gaussian mixture: a teacher MLP is trained on the 10 class logits; students
are distilled only on its 3 extra ("aux") logits, on uniform noise inputs.
A student sharing the teacher's init learns the classes (accuracy well above
chance 0.10); a student from another init stays at chance.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if seeds < 1 {
				return usagef("--seeds must be at least 1, got %d", seeds)
			}
			if workers < 0 {
				return usagef("--workers must not be negative, got %d", workers)
			}
			start := time.Now()
			res, err := lab.RunAux(cmd.Context(), lab.AuxConfig{NumSeeds: seeds, Workers: workers})
			if err != nil {
				return err
			}
			printLabAux(cmd.OutOrStdout(), res, time.Since(start))
			return nil
		},
	}
	cmd.Flags().IntVar(&seeds, "seeds", 5, "number of seeds (1..N)")
	cmd.Flags().IntVar(&workers, "workers", 0, "concurrent seeds (0 = number of CPUs)")
	return cmd
}

// printLabAux prints the aux-logit accuracies, one row per seed and their
// mean, and the time they took.
func printLabAux(w io.Writer, res lab.AuxResult, took time.Duration) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SEED\tREFERENCE\tTEACHER\tSTUDENT SAME INIT\tSTUDENT OTHER INIT")
	for _, s := range res.Seeds {
		fmt.Fprintf(tw, "%d\t%.3f\t%.3f\t%.3f\t%.3f\n", s.Seed, s.Reference, s.Teacher, s.StudentSameInit, s.StudentOtherInit)
	}
	m := res.Mean()
	fmt.Fprintf(tw, "mean\t%.3f\t%.3f\t%.3f\t%.3f\n", m.Reference, m.Teacher, m.StudentSameInit, m.StudentOtherInit)
	tw.Flush()
	fmt.Fprintf(w, "test accuracy (chance 0.100); %d seeds in %s\n", len(res.Seeds), took.Round(time.Millisecond))
}
