package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/reports"
)

func newCompareCmd() *cobra.Command {
	var db, format, output, adjust string
	cmd := &cobra.Command{
		Use:   "compare RUN_A RUN_B",
		Short: "Show what changed between two runs, with a test on each change",
		Long: `Compare tells what changed between two runs, e.g. a new model version
against the last release: for every probe, target and model role the runs
share, the rate in each run, the change with its interval and a test,
corrected over all changes.

A run is an id, "latest", or DB:ID to read it from another database
(old.db:3 new.db:latest).

` + exitCodesHelp,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "md" && format != "json" {
				return usagef("--format %q: want md or json", format)
			}
			if err := checkAdjust(adjust); err != nil {
				return err
			}
			if output != "" {
				dbA, _ := runRefDB(db, args[0])
				dbB, _ := runRefDB(db, args[1])
				if err := checkOutput("-o", output, db, dbA, dbB); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			a, err := loadAnalysis(ctx, db, args[0])
			if err != nil {
				return err
			}
			b, err := loadAnalysis(ctx, db, args[1])
			if err != nil {
				return err
			}
			d, err := reports.CompareRuns(args[0], a, args[1], b, adjust)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if format == "md" {
				err = d.Markdown(&buf)
			} else {
				err = encodeJSON(&buf, d)
			}
			if err != nil {
				return err
			}
			return emitOutput(cmd.OutOrStdout(), output, buf.Bytes())
		},
	}
	f := cmd.Flags()
	f.StringVar(&db, "db", defaultDB, "results database `file` for runs given without DB:")
	f.StringVar(&format, "format", "md", "md or json")
	f.StringVarP(&output, "output", "o", "", "write to `file` instead of standard output")
	f.StringVar(&adjust, "adjust", "holm", "p-value correction: holm, BH, BY, bonferroni or none")
	return cmd
}

// runRefDB splits a run reference, ID, latest or DB:ID, into its
// database (defaultDB when it names none) and run.
func runRefDB(defaultDB, ref string) (db, runArg string) {
	if i := strings.LastIndex(ref, ":"); i > 0 {
		if _, err := strconv.Atoi(ref[i+1:]); err == nil || ref[i+1:] == "latest" {
			return ref[:i], ref[i+1:]
		}
	}
	return defaultDB, ref
}

// loadAnalysis analyses the run named by ref: ID, latest, or DB:ID.
func loadAnalysis(ctx context.Context, defaultDB, ref string) (*reports.Analysis, error) {
	db, runArg := runRefDB(defaultDB, ref)
	store, run, err := openRun(ctx, db, runArg)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	return analyzeRun(ctx, store, run.ID, reports.Options{})
}
