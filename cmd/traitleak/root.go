package main

import (
	"github.com/spf13/cobra"
)

// newRootCmd builds the command tree. Each subcommand lives in its own file
// and is constructed by a newXCmd function.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "traitleak",
		Short:         "Measure trait leakage (subliminal learning) between language models",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err}
	})
	root.AddCommand(
		newRunCmd(),
		newMergeCmd(),
		newReportCmd(),
		newValidateCmd(),
		newSuitesCmd(),
		newRunsCmd(),
		newGateCmd(),
		newExportCmd(),
		newCompareCmd(),
		newRescoreCmd(),
		newAnalyzeCmd(),
		newHistoryCmd(),
		newMatrixCmd(),
		newTagCmd(),
		newStatsCmd(),
		newPowerCmd(),
		newLabCmd(),
		newDemoCmd(),
		newExperimentCmd(),
		newExportDatasetCmd(),
	)
	return root
}
