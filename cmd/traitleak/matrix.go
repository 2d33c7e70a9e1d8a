package main

import (
	"bytes"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/reports"
)

func newMatrixCmd() *cobra.Command {
	var db, suite, probe, target, test, format, output, adjust string
	var confidence, alpha float64
	var readOnly bool
	cmd := &cobra.Command{
		Use:   "matrix [DB...]",
		Short: "One table of many students × probe targets: each one's difference to its baseline",
		Long: `Matrix puts a model family side by side: one row per student (a role of a
suite's comparisons, named by its model ids), one column per suite, probe and
target, and in each cell the student's difference to its baseline role in its
newest complete run that measured it, with its interval, Cohen's h and the
test's p-value corrected over every cell (--adjust, Holm by default). Cells
are read from stored analyses (a run without one is analysed first, and the
analysis stored when the database is writable).

The HTML page colours cells by effect size with a colour-blind-safe
diverging palette, prints the sign and figures in every cell, and sorts by
student, by the largest effect or by any column without a script. Several
databases are read together (matrix a.db b.db).

` + exitCodesHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkStatsFlags(format, []string{"md", "json", "html"}, adjust, confidence, alpha); err != nil {
				return err
			}
			if test != "fisher" && test != "paired" && test != "seeds" {
				return usagef("--test %q: want fisher, paired or seeds", test)
			}
			dbs := args
			if len(dbs) == 0 {
				dbs = []string{db}
			}
			if output != "" {
				if err := checkOutput("-o", output, dbs...); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			srcs, err := openSources(ctx, args, db, readOnly)
			if err != nil {
				return err
			}
			defer closeSources(srcs)
			opt := reports.Options{Confidence: confidence, Adjust: adjust}
			runs, err := reports.CollectRuns(ctx, srcs, reports.HistoryQuery{Suite: suite, Probe: probe, Target: target, Options: opt}, archive())
			if err != nil {
				return selectionError(err)
			}
			m, err := reports.BuildMatrix(runs, reports.MatrixQuery{Suite: suite, Probe: probe, Target: target, Test: test, Options: opt, Alpha: alpha})
			if err != nil {
				return selectionError(err)
			}
			var buf bytes.Buffer
			switch format {
			case "md":
				err = m.Markdown(&buf)
			case "html":
				err = m.HTML(&buf)
			case "json":
				err = encodeJSON(&buf, m)
			}
			if err != nil {
				return err
			}
			return emitOutput(cmd.OutOrStdout(), output, buf.Bytes())
		},
	}
	f := cmd.Flags()
	f.StringVar(&db, "db", defaultDB, "results database `file`, when no DB argument is given")
	f.StringVar(&suite, "suite", "", "keep the runs of suite `name`")
	f.StringVar(&probe, "probe", "", "keep probe `id`")
	f.StringVar(&target, "target", "", "keep `target`")
	f.StringVar(&test, "test", "fisher", "test of each cell: fisher (samples pooled), paired (prompts) or seeds")
	f.StringVar(&format, "format", "md", "output format: md, json or html (one self-contained page)")
	f.StringVarP(&output, "output", "o", "", "write to `file` instead of standard output")
	f.StringVar(&adjust, "adjust", "holm", "p-value correction within each run and over the matrix's cells: holm, BH, BY, bonferroni or none")
	f.Float64Var(&confidence, "confidence", 0.95, "confidence `level` of every interval")
	f.Float64Var(&alpha, "alpha", 0.05, "significance level of a cell, after correction")
	f.BoolVar(&readOnly, "read-only", false, readOnlyUsage)
	return cmd
}
