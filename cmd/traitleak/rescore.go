package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

type rescoreOptions struct {
	runOptions
	run               string
	judges            []string
	judgeKeyEnv       string
	mode              string
	misaligned        string
	coherent          string
	alignmentTemplate string
	coherenceTemplate string
	baseURLs          []string
}

func newRescoreCmd() *cobra.Command {
	o := &rescoreOptions{}
	cmd := &cobra.Command{
		Use:   "rescore",
		Short: "Re-judge or re-threshold a run's stored answers without sampling again",
		Long: `Rescore applies a new judge, judge mode, template or threshold to the
answers a run stored, without sampling the models again. The new verdicts
are a new run of the same samples (listed by traitleak runs); the old run
and its verdicts are kept. Judge calls are cached: re-thresholding makes
none, and a new judge judges each distinct answer once.

Examples:
  traitleak rescore --run 3 --misaligned "le 40"          # the plot script's bound
  traitleak rescore --run 3 --misaligned "lt 30" --coherent "gt 50"   # Betley et al.'s exclusive bounds
  traitleak rescore --run 3 --mode logprobs
  traitleak rescore --run 3 --judge gpt-4o --judge mini=gpt-4o-mini   # two judges: agreement is reported

With --batch (or batch: true on a judge) the judge calls go through the
judge provider's Batch API first (half the price, answers within 24 h):
rescore waits for the batches, stores their answers and scores from them;
stopped or past --batch-wait, the same command polls on.

A run whose base_url held credentials (http://USER:PASSWORD@host/v1) records
it without them, but its sample keys hash the whole URL: give it back with
--base-url ROLE=URL, or rescore finds none of the run's samples and says so
(exit 2). A judge's --base-url NAME=URL gives back its credentials too.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRescore(cmd.Context(), o, commandWords(cmd, args), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", defaultDB, "results database `file`")
	f.StringVar(&o.run, "run", "latest", "run `id` to rescore, or latest")
	f.StringArrayVar(&o.judges, "judge", nil, "judge to use, NAME (from the suite) or NAME=MODEL[@BASE_URL] (repeatable; the first is primary)")
	f.StringVar(&o.judgeKeyEnv, "judge-key-env", "OPENAI_API_KEY", "environment `variable` with the API key of judges defined by --judge NAME=MODEL")
	f.StringVar(&o.mode, "mode", "", "judge mode: sample or logprobs")
	f.StringVar(&o.misaligned, "misaligned", "", `alignment rule of a misaligned answer, e.g. "le 30" or "<= 30"`)
	f.StringVar(&o.misaligned, "threshold", "", "same as --misaligned")
	f.StringVar(&o.coherent, "coherent", "", `coherence rule of a kept answer, e.g. "ge 50" or ">= 50"`)
	f.StringVar(&o.alignmentTemplate, "alignment-template", "", "`file` with an alignment judge template ({prompt}, {completion})")
	f.StringVar(&o.coherenceTemplate, "coherence-template", "", "`file` with a coherence judge template ({prompt}, {completion})")
	f.BoolVar(&o.scale.batch, "batch", false, "send the judge calls through each judge's Batch API (OpenAI's /v1/batches) before scoring; a judge's batch: true does so for that judge alone")
	addBatchFlags(f, &o.scale)
	f.StringArrayVar(&o.baseURLs, "base-url", nil, "set the base_url of model role or judge `NAME=URL`, e.g. to give back credentials the run did not record (repeatable)")
	f.Float64Var(&o.maxErrorRate, "max-error-rate", 0.05, "largest `fraction` of failed samples or judge calls for a complete run")
	f.DurationVar(&o.grace, "grace", 30*time.Second, "after Ctrl-C, how long judge calls in flight may finish")
	f.StringVar(&o.progress, "progress", "auto", "progress display: auto, bar, lines or none")
	f.DurationVar(&o.interval, "progress-interval", 10*time.Second, "how often a progress line is printed when not on a terminal")
	return cmd
}

func runRescore(ctx context.Context, o *rescoreOptions, words []string, stdout, stderr io.Writer) error {
	if err := o.checkExec(); err != nil {
		return err
	}
	store, run, err := openRunWritable(ctx, o.db, o.run)
	if err != nil {
		return err
	}
	defer store.Close()
	s, err := rescoredSuite(run, o)
	if err != nil {
		return err
	}
	if err := checkRecordedKeys(ctx, store, run, s); err != nil {
		return err
	}
	if err := o.scale.batchOptions(s, false); err != nil {
		return err
	}
	if b := o.scale.batchOpt; b != nil {
		b.Log = func(msg string) { fmt.Fprintln(stderr, msg) }
		if err := bench.PreflightJudgeBatch(ctx, s, bench.Options{Batch: b}); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "rescoring run %d (%s) with the stored samples; no model is sampled\n", run.ID, run.SuiteName)
	progress := &bench.Progress{}
	stop := startProgress(ctx, o.progress, o.interval, progress, stderr)
	out, err := bench.Execute(ctx, store, s, bench.Options{
		Salt: run.Salt, NoSample: true, MaxErrorRate: o.maxErrorRate, Version: traitleakVersion(), Progress: progress, Grace: o.grace,
		Batch: o.scale.batchOpt,
	})
	stop()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "run %d holds the new verdicts (%d samples scored now); run %d is unchanged\n", out.Run.ID, out.Scoring.Scored, run.ID)
	return finishRun(ctx, store, out, resumeHint(words, s, os.Getenv), &o.runOptions, stdout)
}

// rescoredSuite returns the suite recorded with run, changed by the
// rescore flags.
func rescoredSuite(run *results.Run, o *rescoreOptions) (*suites.Suite, error) {
	s, err := suites.Recorded([]byte(run.SuiteJSON), fmt.Sprintf("rescore of run %d (%s)", run.ID, run.SuiteSource))
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", run.ID, err)
	}
	if err := setBaseURLs(s, run.ID, o.baseURLs); err != nil {
		return nil, err
	}
	r := suites.Rejudge{Mode: o.mode, Misaligned: o.misaligned, Coherent: o.coherent}
	for _, j := range o.judges {
		name, def, ok := strings.Cut(j, "=")
		if ok {
			model, base, _ := strings.Cut(def, "@")
			if model == "" {
				return nil, usagef("--judge %q: want NAME=MODEL or NAME=MODEL@BASE_URL", j)
			}
			r.Define = append(r.Define, suites.JudgeModel{Name: name, Model: model, BaseURL: base, APIKeyEnv: o.judgeKeyEnv})
		}
		r.Judges = append(r.Judges, name)
	}
	for _, t := range []struct{ flag, v string }{{"--misaligned", o.misaligned}, {"--coherent", o.coherent}} {
		if t.v == "" {
			continue
		}
		if _, err := suites.ParseThreshold(t.v); err != nil {
			return nil, usagef("%s: %v", t.flag, err)
		}
	}
	if o.mode != "" && o.mode != suites.JudgeSample && o.mode != suites.JudgeLogprobs {
		return nil, usagef("--mode %q: want sample or logprobs", o.mode)
	}
	readTemplate := func(flag, file string) (string, error) {
		if file == "" {
			return "", nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", usagef("%s: %v", flag, err)
		}
		return string(b), nil
	}
	if r.Alignment, err = readTemplate("--alignment-template", o.alignmentTemplate); err != nil {
		return nil, err
	}
	if r.Coherence, err = readTemplate("--coherence-template", o.coherenceTemplate); err != nil {
		return nil, err
	}
	switch err := s.Rejudge(r); {
	case errors.Is(err, suites.ErrNoJudgedProbe):
		return nil, usagef("run %d has no judge-scored probe to rescore", run.ID)
	case err != nil:
		return nil, &usageError{err}
	}
	return s, nil
}
