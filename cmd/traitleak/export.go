package main

import (
	"io"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/reports"
)

func newExportCmd() *cobra.Command {
	var db, runArg, format, output string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export every sample of a run as CSV or JSON lines",
		Long: `Export writes one row per planned draw of a run (completion or error,
tokens, latency, seed and the score of every target) for analysis in pandas,
DuckDB or a spreadsheet.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "csv" && format != "jsonl" {
				return usagef("--format %q: want csv or jsonl", format)
			}
			if output != "" {
				if err := checkOutput("-o", output, db); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			store, run, err := openRun(ctx, db, runArg)
			if err != nil {
				return err
			}
			defer store.Close()
			export := func(w io.Writer) error { return reports.Export(ctx, store, run.ID, format, w) }
			if output == "" {
				return export(cmd.OutOrStdout())
			}
			// Rows are written as they are read: a file of any size is
			// never held in memory, and replaces -o only when complete.
			return streamOutput(output, export)
		},
	}
	f := cmd.Flags()
	f.StringVar(&db, "db", defaultDB, "results database `file`")
	f.StringVar(&runArg, "run", "latest", "run `id`, or latest")
	f.StringVar(&format, "format", "csv", "csv or jsonl")
	f.StringVarP(&output, "output", "o", "", "write to `file` instead of standard output")
	return cmd
}
