package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/traitleak/traitleak/lab"
)

// newLabTheoremCmd builds "traitleak lab theorem": the paper's Theorem 1
// checked one seed at a time on the built (or cached) lab models.
func newLabTheoremCmd() *cobra.Command {
	var f labFlags
	var step float64
	cmd := &cobra.Command{
		Use:   "theorem",
		Short: "Check the paper's one-step theorem on the lab models, seed by seed",
		Long: `Theorem checks the paper's Theorem 1 (§6.1) on each seed of the lab: from
the teacher's own init (reference A), one small full-batch gradient step
imitating the teacher's next-token distributions on its filtered number
sequences moves the body along the teacher's trait update (positive cosine)
and lowers the teacher's trait loss. From another init (reference B) the
theorem promises nothing, and the sign is mixed. The step is --step times the
length of the teacher's update.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if !(step > 0) || math.IsInf(step, 0) {
				return usagef("--step must be positive, got %v", step)
			}
			z, err := lab.Build(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			res, err := z.Theorem(cmd.Context(), step)
			if err != nil {
				return err
			}
			printTheorem(cmd.OutOrStdout(), z, res, step)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().Float64Var(&step, "step", lab.DefaultStepFraction, "imitation step length as a `fraction` of the teacher's update")
	return cmd
}

// printTheorem prints one row per seed and the sign counts.
func printTheorem(w io.Writer, z *lab.Zoo, res []lab.TheoremSeed, step float64) {
	c := z.Config()
	fmt.Fprintf(w, "one full-batch imitation step (%s build, target %s, step %g × |θ_T − θ_A|) on the teacher's numbers\n\n", c.Mode, c.Target, step)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SEED\tEXAMPLES\t|θ_T − θ_A|\tSAME INIT COS\tTRAIT LOSS Δ\tOTHER INIT COS\tTRAIT LOSS Δ")
	var cosA, lossA, cosB, lossB int
	for _, r := range res {
		fmt.Fprintf(tw, "%d\t%d\t%.3f\t%+.4f\t%+.2e\t%+.4f\t%+.2e\n", r.Seed, r.Examples, r.TeacherUpdate,
			r.Same.Cos, r.Same.TraitLossChange(), r.Other.Cos, r.Other.TraitLossChange())
		if r.Same.Cos > 0 {
			cosA++
		}
		if r.Same.TraitLossChange() < 0 {
			lossA++
		}
		if r.Other.Cos > 0 {
			cosB++
		}
		if r.Other.TraitLossChange() < 0 {
			lossB++
		}
	}
	tw.Flush()
	n := len(res)
	fmt.Fprintf(w, "\nsame init:  cosine > 0 in %d of %d seeds, trait loss lowered in %d of %d\n", cosA, n, lossA, n)
	fmt.Fprintf(w, "other init: cosine > 0 in %d of %d seeds, trait loss lowered in %d of %d\n", cosB, n, lossB, n)
}
