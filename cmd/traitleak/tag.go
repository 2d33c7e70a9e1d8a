package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/results"
)

func newTagCmd() *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "tag [RUN NAME]",
		Short: "Name a run of a suite (blessed: the release new runs are compared with)",
		Long: `Tag names a run of its suite: traitleak tag 12 blessed makes run 12 the run
that history pins and gate --against blessed compares new runs with. A tag
belongs to a suite; tagging another run of the suite moves it, and every
assignment is kept in the database. RUN is a run id or latest; a tag name
has no ':' or white space and is not a number. Without arguments, tag lists
the current tags.

` + exitCodesHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			w := cmd.OutOrStdout()
			switch len(args) {
			case 0:
				store, err := openDB(ctx, db, false)
				if err != nil {
					return err
				}
				defer store.Close()
				tags, err := store.Tags(ctx)
				if err != nil {
					return err
				}
				if len(tags) == 0 {
					fmt.Fprintln(w, "no tags")
					return nil
				}
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SUITE\tTAG\tRUN\tTAGGED")
				for _, t := range tags {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", t.Suite, t.Name, t.RunID, t.CreatedAt.UTC().Format("2006-01-02 15:04:05"))
				}
				return tw.Flush()
			case 2:
			default:
				return usagef("%s takes a run and a tag name, or nothing to list the tags; got %d arguments", cmd.CommandPath(), len(args))
			}
			if err := results.CheckTagName(args[1]); err != nil {
				return usagef("tag: %v", err)
			}
			store, run, err := openRunWritable(ctx, db, args[0])
			if err != nil {
				return err
			}
			defer store.Close()
			if err := store.TagRun(ctx, run.ID, args[1]); err != nil {
				return err
			}
			fmt.Fprintf(w, "run %d of suite %s is tagged %s\n", run.ID, run.SuiteName, args[1])
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", defaultDB, "results database `file`")
	return cmd
}
