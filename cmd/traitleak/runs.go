package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/results"
)

func newRunsCmd() *cobra.Command {
	var db, lineage string
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the runs stored in a results database",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			store, err := openDB(ctx, db, false)
			if err != nil {
				return err
			}
			defer store.Close()
			runs, err := store.Runs(ctx)
			if err != nil {
				return err
			}
			if lineage != "" {
				if runs, err = lineageRuns(ctx, cmd.OutOrStdout(), store, lineage, runs); err != nil {
					return err
				}
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSUITE\tSTATUS\tPLANNED\tSTORED\tFAILED\tSTARTED\tFINISHED")
			for _, r := range runs {
				c, err := store.Counts(ctx, r.ID)
				if err != nil {
					return err
				}
				finished := "–"
				if !r.FinishedAt.IsZero() {
					finished = r.FinishedAt.Local().Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.ID, r.SuiteName, displayStatus(r), c.Planned, c.Stored, c.Failed,
					r.CreatedAt.Local().Format("2006-01-02 15:04:05"), finished)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&db, "db", defaultDB, "results database `file`")
	cmd.Flags().StringVar(&lineage, "lineage", "", "list the students of lineage `ref` (EXPERIMENT, EXPERIMENT/ARM or all), teacher to student, and only the runs that made or sampled them")
	return cmd
}

// displayStatus shows a run left "running" by a process that no longer
// exists (kill -9, power loss) as interrupted; see results.Run.Orphaned.
func displayStatus(r results.Run) string {
	if r.Orphaned() {
		return string(results.StatusInterrupted) + " (process gone)"
	}
	return string(r.Status)
}

// markOrphaned makes a run left "running" by a process that no longer
// exists read as interrupted, with "process gone" as its message when it
// has none, for the commands that analyse a run (report, gate, compare)
// to show it as runs does. Only the copy in memory changes, never the
// database.
func markOrphaned(r *results.Run) {
	if !r.Orphaned() {
		return
	}
	r.Status = results.StatusInterrupted
	if r.Message == "" {
		r.Message = "process gone"
	}
}
