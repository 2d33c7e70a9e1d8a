package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/traitleak/traitleak/stats"
)

const powerLong = `Answer "how many samples per model do I need to see this leak?" for a
trait expressed at rate p1 by one model and p2 by another.

Without --n it prints the samples per model needed for the target --power
(R's power.prop.test, two-proportion test without continuity correction,
solved exactly) and Cohen's arcsine approximation per model
n = 2((z_{1-a/k} + z_power)/h)^2 with h = 2 asin(sqrt p1) - 2 asin(sqrt p2)
(k = 2 two-sided, 1 one-sided; the 2 is there because both rates are
estimated: ((z_{1-a/k} + z_power)/h)^2 is the one-sample size). With --n it prints
the power achieved with n samples per model instead.

Samples of the same prompt are correlated. Give the intra-class correlation
--icc with a clustered design to account for it (design effect
deff = 1 + (m-1)*ICC for m samples per prompt, Kish 1965):
  --prompts P             samples per prompt needed with P prompts, and the
                          total samples per model P*m
  --samples-per-prompt M  prompts needed at M samples each, n*deff in total
  both                    the effective n of that design and its power
With --n, the clustered design turns the n samples into an effective
n/deff (m = M, or n/P with --prompts) and prints the power at that.

--strict adds the (tiny) probability of rejecting in the wrong direction to
the two-sided power, as power.prop.test(strict = TRUE).`

// powerOptions are the flags of `traitleak power`.
type powerOptions struct {
	p1, p2, power, alpha float64
	n                    int
	prompts, perPrompt   int
	icc                  float64
	alternative          string
	strict, asJSON       bool
	seq                  powerSeqOptions
}

// newPowerCmd builds `traitleak power`.
func newPowerCmd() *cobra.Command {
	var o powerOptions
	cmd := &cobra.Command{
		Use:   "power --p1 P --p2 P [--power 0.8] [--alpha 0.05] [--n N] [--prompts P --icc R | --samples-per-prompt M --icc R]",
		Short: "Samples per model needed to detect a trait-rate difference (or the power of n)",
		Long:  powerLong + powerSeqLong,
		Example: `  traitleak power --p1 0.12 --p2 0.15
  traitleak power --p1 0.12 --p2 0.15 --prompts 50 --icc 0.05
  traitleak power --p1 0.12 --p2 0.15 --n 1000 --json
  traitleak power --sequential --p1 0.12 --p2 0.60 --bound 0.03 --prompts 50 --icc 0.05`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.seq.validate(cmd, &o); err != nil {
				return err
			}
			if o.seq.on {
				return runPowerSequential(cmd.OutOrStdout(), o.seq.config(&o), o.asJSON)
			}
			if err := o.validate(cmd); err != nil {
				return err
			}
			rep, err := stats.PlanPower(o.design())
			if err != nil {
				// The flags are valid one by one; what is left is about
				// their combination (e.g. a power reached without data).
				return &usageError{err}
			}
			if o.asJSON {
				if err := encodeJSON(cmd.OutOrStdout(), rep); err != nil {
					return fmt.Errorf("power: write JSON: %w", err)
				}
				return nil
			}
			return writePowerReport(cmd.OutOrStdout(), rep)
		},
	}
	f := cmd.Flags()
	f.Float64Var(&o.p1, "p1", math.NaN(), "trait rate of the first model, in (0,1) (required)")
	f.Float64Var(&o.p2, "p2", math.NaN(), "trait rate of the second model, in (0,1) (required)")
	f.Float64Var(&o.power, "power", 0.8, "target power, in (0,1)")
	f.Float64Var(&o.alpha, "alpha", 0.05, "significance level, in (0,1)")
	f.IntVar(&o.n, "n", 0, "samples per model: print the power achieved instead of solving for n")
	f.IntVar(&o.prompts, "prompts", 0, "number of distinct prompts (clustered design; needs --icc)")
	f.IntVar(&o.perPrompt, "samples-per-prompt", 0, "samples drawn per prompt (clustered design; needs --icc)")
	f.Float64Var(&o.icc, "icc", math.NaN(), "intra-class correlation of samples of the same prompt, in [0,1]")
	f.StringVar(&o.alternative, "alternative", string(stats.TwoSided), "two.sided or one.sided")
	f.BoolVar(&o.strict, "strict", false, "count rejections in the wrong direction too (two-sided only)")
	f.BoolVar(&o.asJSON, "json", false, "print JSON instead of text")
	o.seq.register(cmd)
	return cmd
}

// validate checks the flags; every problem is a usage error.
func (o *powerOptions) validate(cmd *cobra.Command) error {
	f := cmd.Flags()
	if !f.Changed("p1") || !f.Changed("p2") {
		return usagef("--p1 and --p2 are required")
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"--p1", o.p1}, {"--p2", o.p2}, {"--alpha", o.alpha}, {"--power", o.power}} {
		if !(p.v > 0 && p.v < 1) {
			return usagef("%s %v: must be strictly between 0 and 1", p.name, p.v)
		}
	}
	if o.p1 == o.p2 {
		return usagef("--p1 and --p2 are both %v: there is no difference to detect", o.p1)
	}
	if o.alternative != string(stats.TwoSided) && o.alternative != string(stats.OneSided) {
		return usagef("--alternative %q: want two.sided or one.sided", o.alternative)
	}
	if f.Changed("n") && f.Changed("power") {
		return usagef("give --power (to solve for n) or --n (to get the power), not both")
	}
	if f.Changed("n") && o.n < 1 {
		return usagef("--n %d: must be at least 1", o.n)
	}
	if f.Changed("prompts") && o.prompts < 1 {
		return usagef("--prompts %d: must be at least 1", o.prompts)
	}
	if f.Changed("samples-per-prompt") && o.perPrompt < 1 {
		return usagef("--samples-per-prompt %d: must be at least 1", o.perPrompt)
	}
	clustered := o.prompts > 0 || o.perPrompt > 0
	switch {
	case f.Changed("icc") && !(o.icc >= 0 && o.icc <= 1):
		return usagef("--icc %v: must be in [0, 1]", o.icc)
	case f.Changed("icc") && !clustered:
		return usagef("--icc needs --prompts or --samples-per-prompt")
	case clustered && !f.Changed("icc"):
		return usagef("a clustered design (--prompts/--samples-per-prompt) needs --icc")
	}
	return nil
}

// design returns the question the flags ask.
func (o *powerOptions) design() stats.PowerDesign {
	return stats.PowerDesign{P1: o.p1, P2: o.p2, Alpha: o.alpha, Power: o.power, N: o.n,
		Alternative: stats.Alternative(o.alternative), Strict: o.strict,
		Prompts: o.prompts, SamplesPerPrompt: o.perPrompt, ICC: o.icc}
}

// writePowerReport prints the human-readable report.
func writePowerReport(w io.Writer, r *stats.PowerPlan) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	strict := "non-strict"
	if r.Strict {
		strict = "strict"
	}
	fmt.Fprintf(tw, "Two-proportion power (R power.prop.test; %s, alpha %g, %s)\n", r.Alternative, r.Alpha, strict)
	fmt.Fprintf(tw, "  p1 = %g, p2 = %g\tdifference %+.4g, Cohen's h %+.4f\n", r.P1, r.P2, r.P1-r.P2, r.CohenH)
	if r.NGiven != nil {
		fmt.Fprintf(tw, "  power with n = %d per model\t%.4f\n", *r.NGiven, *r.PowerAtNGiven)
	} else {
		fmt.Fprintf(tw, "  target power\t%g\n", *r.TargetPower)
		fmt.Fprintf(tw, "  samples per model\t%d\t(n = %.2f; power %.4f at %d)\n", *r.NCeiling, *r.N, *r.PowerAtCeiling, *r.NCeiling)
		fmt.Fprintf(tw, "  Cohen's h approximation\t%d\t(n = 2((z_{1-a/k} + z_power)/h)^2 = %.2f)\n", *r.NCohenHCeiling, *r.NCohenH)
	}
	if c := r.Cluster; c != nil {
		fmt.Fprintf(tw, "Clustered design (ICC %g, design effect 1 + (m-1)*ICC)\n", c.ICC)
		switch {
		case !c.Reachable:
			fmt.Fprintf(tw, "  with %d prompts no number of samples per prompt reaches n = %.2f:\n", c.Prompts, *r.N)
			fmt.Fprintf(tw, "  the effective n is below prompts/ICC = %.1f; use at least %d prompts\n", float64(c.Prompts)/c.ICC, *c.MinPrompts)
		default:
			if c.Prompts > 0 {
				fmt.Fprintf(tw, "  prompts\t%d\n", c.Prompts)
			}
			if c.SamplesPerPromptExact != nil {
				fmt.Fprintf(tw, "  samples per prompt needed\t%g\t(exact %.3f)\n", c.SamplesPerPrompt, *c.SamplesPerPromptExact)
			} else {
				fmt.Fprintf(tw, "  samples per prompt\t%.4g\n", c.SamplesPerPrompt)
			}
			fmt.Fprintf(tw, "  design effect\t%.4f\n", c.DesignEffect)
			if r.NGiven == nil {
				fmt.Fprintf(tw, "  samples per model (inflated n)\t%d\n", c.SamplesPerModel)
			}
			fmt.Fprintf(tw, "  effective n per model\t%.1f\n", c.EffectiveN)
			fmt.Fprintf(tw, "  power of this design\t%.4f\n", *c.Power)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("power: write report: %w", err)
	}
	return nil
}
