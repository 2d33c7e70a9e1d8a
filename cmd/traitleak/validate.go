package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/suites"
)

func newValidateCmd() *cobra.Command {
	var sets, allow []string
	cmd := &cobra.Command{
		Use:   "validate SUITE",
		Short: "Check a suite file without running it",
		Long: `Validate loads SUITE (a file or a built-in name) with its --set overrides,
reports the first error with its file, line and column, and otherwise
prints what a run would sample.

` + exitCodesHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openSuite(args[0], sets, allow)
			if err != nil {
				return err
			}
			return describeSuite(cmd.OutOrStdout(), s)
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a suite field (repeatable)")
	cmd.Flags().StringArrayVar(&allow, "allow-files", nil, allowFilesUsage)
	return cmd
}

// describeSuite prints what a run of s would sample.
func describeSuite(w io.Writer, s *suites.Suite) error {
	plan := bench.NewPlan(s, "")
	fmt.Fprintf(w, "suite %s (%s) is valid\n", s.Name, s.Source)
	fmt.Fprintf(w, "  %d model instances, %d probes, %d draws in %d requests\n", len(plan.Instances), len(s.Probes), plan.Total(), plan.Requests())
	for _, in := range plan.Instances {
		key := ""
		if in.APIKeyEnv != "" {
			state := "set"
			if os.Getenv(in.APIKeyEnv) == "" {
				state = "NOT SET"
			}
			key = fmt.Sprintf(", key from $%s (%s)", in.APIKeyEnv, state)
		}
		fmt.Fprintf(w, "  model %-24s %s at %s%s\n", in.Name(), in.Model, in.BaseURL, key)
	}
	for _, p := range s.Probes {
		fmt.Fprintf(w, "  probe %-24s %d prompts × %d samples, score %s %v\n", p.ID, len(p.Prompts.Texts), p.Samples, p.Score.Kind(), s.ScoreTargets(p))
	}
	return describeSequential(w, s)
}
