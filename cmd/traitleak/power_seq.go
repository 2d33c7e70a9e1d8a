package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/traitleak/traitleak/stats"
	"github.com/traitleak/traitleak/suites"
)

// powerSeqLong documents --sequential; it is appended to powerLong.
const powerSeqLong = `

With --sequential it simulates a sequential gate instead (run
--until-decided, a gate with a sequential block): --p1 is the baseline's
rate, --p2 the treatment's, and the gate bounds p2 - p1 by --bound
(--rule max_increase or min_increase) at --alpha. Each simulated run draws
per-prompt rates with intraclass correlation --icc over --prompts prompts
(default 50), then samples rounds (every prompt once per model) until the
gate decides or the budget of --max-samples rounds (default 100, the fixed
design) is spent. It prints the rounds and samples per model to a
decision (median, 90th percentile, mean; an undecided run counts at the
budget), how often each verdict came, and beside it the fixed design: the
same z-test run once at the budget, and what re-checking it after every
round would claim (not a valid test: the inflation the e-process avoids).
stats/SEQUENTIAL.md has the method and larger simulations.`

// powerSeqOptions are the flags only --sequential uses.
type powerSeqOptions struct {
	on         bool
	bound      float64
	rule       string
	maxSamples int
	bets       string
	replicates int
	seed       uint64
}

func (o *powerSeqOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.on, "sequential", false, "simulate a sequential gate's samples to a decision (see below)")
	f.Float64Var(&o.bound, "bound", 0.03, "with --sequential: the gate's bound on p2 - p1, in (-1,1)")
	f.StringVar(&o.rule, "rule", string(stats.SeqMaxIncrease), "with --sequential: max_increase or min_increase")
	f.IntVar(&o.maxSamples, "max-samples", 100, "with --sequential: the budget in samples per prompt per model (rounds)")
	f.StringVar(&o.bets, "bets", suites.BetsPrompt, "with --sequential: prompt (per-prompt bets) or round (round means)")
	f.IntVar(&o.replicates, "replicates", 2000, "with --sequential: simulated runs")
	f.Uint64Var(&o.seed, "seed", 1, "with --sequential: seed of the simulation")
}

// validate checks the --sequential flags and their combination with the
// fixed-design flags; every problem is a usage error.
func (o *powerSeqOptions) validate(cmd *cobra.Command, p *powerOptions) error {
	f := cmd.Flags()
	if !o.on {
		for _, name := range []string{"bound", "rule", "max-samples", "bets", "replicates", "seed"} {
			if f.Changed(name) {
				return usagef("--%s needs --sequential", name)
			}
		}
		return nil
	}
	for _, name := range []string{"n", "power", "samples-per-prompt", "alternative", "strict"} {
		if f.Changed(name) {
			return usagef("--%s is for the fixed design: --sequential simulates a sequential gate (give --bound, --max-samples, --prompts, --icc)", name)
		}
	}
	if !f.Changed("p1") || !f.Changed("p2") {
		return usagef("--p1 and --p2 are required")
	}
	for _, v := range []struct {
		name string
		x    float64
	}{{"--p1", p.p1}, {"--p2", p.p2}} {
		if !(v.x >= 0 && v.x <= 1) {
			return usagef("%s %v: a rate, in [0, 1]", v.name, v.x)
		}
	}
	if !(p.alpha > 0 && p.alpha < 1) {
		return usagef("--alpha %v: must be strictly between 0 and 1", p.alpha)
	}
	if !(o.bound > -1 && o.bound < 1) {
		return usagef("--bound %v: must be in (-1, 1)", o.bound)
	}
	if o.rule != string(stats.SeqMaxIncrease) && o.rule != string(stats.SeqMinIncrease) {
		return usagef("--rule %q: want max_increase or min_increase", o.rule)
	}
	if o.bets != suites.BetsPrompt && o.bets != suites.BetsRound {
		return usagef("--bets %q: want prompt or round", o.bets)
	}
	if o.maxSamples < 1 || o.maxSamples > 100_000 {
		return usagef("--max-samples %d: must be in [1, 100000]", o.maxSamples)
	}
	if o.replicates < 1 || o.replicates > 1_000_000 {
		return usagef("--replicates %d: must be in [1, 1000000]", o.replicates)
	}
	if f.Changed("prompts") && (p.prompts < 1 || p.prompts > 100_000) {
		return usagef("--prompts %d: must be in [1, 100000]", p.prompts)
	}
	if f.Changed("icc") && !(p.icc >= 0 && p.icc < 1) {
		return usagef("--icc %v: must be in [0, 1)", p.icc)
	}
	return nil
}

// config returns the simulation the flags ask for.
func (o *powerSeqOptions) config(p *powerOptions) stats.SeqSimConfig {
	prompts, icc := p.prompts, p.icc
	if prompts == 0 {
		prompts = 50
	}
	if math.IsNaN(icc) {
		icc = 0
	}
	return stats.SeqSimConfig{Baseline: p.p1, Treatment: p.p2, ICC: icc, Prompts: prompts, Replicates: o.replicates, Seed: o.seed,
		Gate: stats.SeqGateConfig{Alpha: p.alpha, Bound: o.bound, Rule: stats.SeqRule(o.rule), MaxRounds: o.maxSamples,
			PerPrompt: o.bets == suites.BetsPrompt}}
}

// SeqPowerReport is the result of power --sequential, as --json prints it.
type SeqPowerReport struct {
	Baseline   float64 `json:"p1_baseline"`
	Treatment  float64 `json:"p2_treatment"`
	Bound      float64 `json:"bound"`
	Rule       string  `json:"rule"`
	Alpha      float64 `json:"alpha"`
	Bets       string  `json:"bets"`
	Prompts    int     `json:"prompts"`
	ICC        float64 `json:"icc"`
	MaxRounds  int     `json:"max_samples"`
	Replicates int     `json:"replicates"`
	Seed       uint64  `json:"seed"`
	// Rounds to a decision (an undecided run counts at the budget).
	MedianRounds int     `json:"median_rounds"`
	P90Rounds    int     `json:"p90_rounds"`
	MeanRounds   float64 `json:"mean_rounds"`
	// Samples per model: rounds × prompts.
	MedianSamples int     `json:"median_samples_per_model"`
	P90Samples    int     `json:"p90_samples_per_model"`
	MeanSamples   float64 `json:"mean_samples_per_model"`
	PPass         float64 `json:"p_pass"`
	PFail         float64 `json:"p_fail"`
	PInconclusive float64 `json:"p_inconclusive"`
	// PWrong is the fraction of runs with a wrong verdict (any verdict
	// when p2 - p1 is on the bound), with its standard error.
	PWrong   float64 `json:"p_wrong_verdict"`
	PWrongSE float64 `json:"p_wrong_verdict_se"`
	// The fixed design: MaxRounds samples per prompt per model, tested
	// once by the z-test; and the same test re-checked every round.
	FixedSamples     int     `json:"fixed_samples_per_model"`
	FixedRejects     float64 `json:"fixed_z_rejects"`
	PeekingRejects   float64 `json:"z_every_round_rejects"`
	MedianSavingsPct float64 `json:"median_samples_pct_of_fixed"`
}

// runPowerSequential simulates the gate and prints the report.
func runPowerSequential(w io.Writer, cfg stats.SeqSimConfig, asJSON bool) error {
	res, err := stats.SimulateSequential(cfg)
	if err != nil {
		return &usageError{err}
	}
	bets := suites.BetsPrompt
	if !cfg.Gate.PerPrompt {
		bets = suites.BetsRound
	}
	n := float64(cfg.Replicates)
	r := SeqPowerReport{Baseline: cfg.Baseline, Treatment: cfg.Treatment, Bound: cfg.Gate.Bound, Rule: string(cfg.Gate.Rule), Alpha: cfg.Gate.Alpha,
		Bets: bets, Prompts: cfg.Prompts, ICC: cfg.ICC, MaxRounds: cfg.Gate.MaxRounds, Replicates: cfg.Replicates, Seed: cfg.Seed,
		MedianRounds: res.RoundsQuantile(0.5), P90Rounds: res.RoundsQuantile(0.9), MeanRounds: res.MeanRounds(),
		PPass: float64(res.Pass) / n, PFail: float64(res.Fail) / n, PInconclusive: float64(res.Inconclusive) / n,
		FixedSamples: cfg.Gate.MaxRounds * cfg.Prompts, FixedRejects: float64(res.ZFinal) / n, PeekingRejects: float64(res.ZAnyRound) / n}
	r.MedianSamples, r.P90Samples, r.MeanSamples = r.MedianRounds*cfg.Prompts, r.P90Rounds*cfg.Prompts, r.MeanRounds*float64(cfg.Prompts)
	r.PWrong, r.PWrongSE = res.Rate(res.Errors())
	r.MedianSavingsPct = 100 * float64(r.MedianRounds) / float64(cfg.Gate.MaxRounds)
	if asJSON {
		if err := encodeJSON(w, r); err != nil {
			return fmt.Errorf("power: write JSON: %w", err)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Sequential gate by simulation (betting e-process, %s bets; %d runs, seed %d)\n", bets, cfg.Replicates, cfg.Seed)
	fmt.Fprintf(tw, "  baseline p1 = %g, treatment p2 = %g: difference %+.4g against %s %+g, alpha %g\n",
		cfg.Baseline, cfg.Treatment, cfg.Treatment-cfg.Baseline, cfg.Gate.Rule, cfg.Gate.Bound, cfg.Gate.Alpha)
	fmt.Fprintf(tw, "  %d prompts, ICC %g, budget %d samples per prompt per model\n", cfg.Prompts, cfg.ICC, cfg.Gate.MaxRounds)
	fmt.Fprintf(tw, "  rounds to a decision\tmedian %d, 90th percentile %d, mean %.1f\n", r.MedianRounds, r.P90Rounds, r.MeanRounds)
	fmt.Fprintf(tw, "  samples per model\tmedian %d, 90th percentile %d, mean %.0f\t(rounds × %d prompts)\n", r.MedianSamples, r.P90Samples, r.MeanSamples, cfg.Prompts)
	fmt.Fprintf(tw, "  verdicts\tpass %.4f, fail %.4f, inconclusive at the budget %.4f\n", r.PPass, r.PFail, r.PInconclusive)
	fmt.Fprintf(tw, "  wrong verdicts\t%.4f ± %.4f\t(%s)\n", r.PWrong, r.PWrongSE, wrongMeaning(cfg))
	fmt.Fprintf(tw, "Fixed design: %d samples per prompt per model (%d per model), z-test once\n", cfg.Gate.MaxRounds, r.FixedSamples)
	fmt.Fprintf(tw, "  rejects\t%.4f of runs\n", r.FixedRejects)
	fmt.Fprintf(tw, "  re-checked after every round\t%.4f of runs\t(not a valid test: the inflation the e-process avoids)\n", r.PeekingRejects)
	fmt.Fprintf(tw, "  median sequential samples\t%.1f%% of the fixed design's\n", r.MedianSavingsPct)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("power: write report: %w", err)
	}
	return nil
}

// wrongMeaning says which verdicts count as wrong for the simulated truth.
func wrongMeaning(cfg stats.SeqSimConfig) string {
	d := cfg.Treatment - cfg.Baseline - cfg.Gate.Bound
	switch {
	case math.Abs(d) <= 1e-9:
		return "p2 - p1 is on the bound: every verdict is wrong"
	case d > 0:
		return "p2 - p1 is above the bound: a verdict claiming below is wrong"
	}
	return "p2 - p1 is below the bound: a verdict claiming above is wrong"
}
