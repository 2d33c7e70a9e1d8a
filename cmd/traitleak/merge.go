package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/results"
)

type mergeOptions struct {
	force bool
}

func newMergeCmd() *cobra.Command {
	o := &mergeOptions{}
	cmd := &cobra.Command{
		Use:   "merge OUT.db IN.db...",
		Short: "Union the databases of a suite's shards (or of several machines) into one",
		Long: `Merge writes to OUT.db the union of the input databases, which must hold
runs of one suite: their samples (on the sample key), scores and judge calls,
and one run per salt whose plan is the union of the inputs' runs. The
databases of "run --shard i/N" must all be given, each shard once; the merged
run is the run one process would have made, so its report is the same.

A key held by two inputs keeps a successful sample over a failed one, else
the first input's. Two successful samples (or judge calls) of one key with
different content are conflicts: they are reported, and the first input's
row is kept.

The inputs are opened read-only and never written. OUT.db must not exist
unless --force, and is never one of the inputs; it is written beside itself
and renamed into place at the end, so an error leaves nothing.

` + exitCodesHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usagef("%s takes an output database and at least one input, got %d arguments; see %s --help", cmd.CommandPath(), len(args), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMerge(cmd.Context(), o, args[0], args[1:], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "replace OUT.db if it exists (never an input)")
	return cmd
}

func runMerge(ctx context.Context, o *mergeOptions, out string, inputs []string, stdout, stderr io.Writer) error {
	sum, err := results.Merge(ctx, out, inputs, results.MergeOptions{Force: o.force})
	if errors.Is(err, results.ErrMergeInput) {
		return &usageError{err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "merged %d databases of suite %s into %s\n", len(inputs), sum.Suite, out)
	for _, r := range sum.Runs {
		what := fmt.Sprintf("%d runs", len(r.Sources))
		if r.Shards > 0 {
			what = fmt.Sprintf("%d shards", r.Shards)
		}
		fmt.Fprintf(stdout, "run %d (salt %q, from %s): %s; %d of %d draws stored, %d failed\n",
			r.ID, r.Salt, what, r.Status, r.Counts.Stored, r.Counts.Planned, r.Counts.Failed)
		fmt.Fprintf(stdout, "report: traitleak report --db %s --run %d --format md\n", shellQuote(out), r.ID)
	}
	if n := sum.SampleConflicts + sum.JudgmentConflicts; n > 0 {
		fmt.Fprintf(stderr, "traitleak: %d conflicts (%d samples, %d judge calls held with different content by two inputs; the first input's kept):\n",
			n, sum.SampleConflicts, sum.JudgmentConflicts)
		for _, c := range sum.Conflicts {
			fmt.Fprintf(stderr, "  %s %s: %s differs from %s\n", c.Kind, c.Key, c.Other, c.Kept)
		}
		if len(sum.Conflicts) < n {
			fmt.Fprintf(stderr, "  ... and %d more\n", n-len(sum.Conflicts))
		}
	}
	return nil
}
