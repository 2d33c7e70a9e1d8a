package main

import (
	"bytes"
	"context"
	"io"
	"slices"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/reports"
	"github.com/traitleak/traitleak/results"
)

type reportOptions struct {
	db         string
	run        string
	format     string
	output     string
	adjust     string
	confidence float64
	readOnly   bool
}

func newReportCmd() *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write the analysis of a stored run as Markdown, HTML or JSON",
		Long: `Report analyses a stored run (rates with confidence intervals, comparisons
with tests, gates, per-prompt rates, published reference figures) and writes
it as Markdown, as one self-contained HTML file with inline SVG charts (no
network requests, printable, light and dark), or as JSON. With --format md
and -o DIR (an existing directory, or a path ending in /), DIR gets
report.md and its charts as SVG files. The same database gives
byte-identical reports.

The analysis is read from the database when one with the same settings of
the same data is stored there (run and rescore store theirs); otherwise it is
computed and, when the database is writable (and not --read-only), stored.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", defaultDB, "results database `file`")
	f.StringVar(&o.run, "run", "latest", "run `id`, or latest")
	f.StringVar(&o.format, "format", "md", "output format: md, html (one self-contained file) or json")
	f.StringVarP(&o.output, "output", "o", "", "write to `file` instead of standard output; with md, a directory gets report.md and its charts as SVG files")
	f.StringVar(&o.adjust, "adjust", "holm", "p-value correction over comparisons: holm, BH, BY, bonferroni or none")
	f.Float64Var(&o.confidence, "confidence", 0.95, "confidence `level` of every interval")
	f.BoolVar(&o.readOnly, "read-only", false, readOnlyUsage)
	return cmd
}

func runReport(ctx context.Context, o *reportOptions, stdout io.Writer) error {
	if !slices.Contains([]string{"md", "json", "html"}, o.format) {
		return usagef("--format %q: want md, html or json", o.format)
	}
	if err := checkAdjust(o.adjust); err != nil {
		return err
	}
	if !(o.confidence > 0 && o.confidence < 1) {
		return usagef("--confidence %g: want a level in (0, 1), e.g. 0.95", o.confidence)
	}
	dir, err := checkReportOutput(o.output, o.format, o.db)
	if err != nil {
		return err
	}
	store, run, err := openRunFor(ctx, o.db, o.run, analysisOpener(o.readOnly))
	if err != nil {
		return err
	}
	defer store.Close()
	a, err := analyzeRun(ctx, store, run.ID, reports.Options{Confidence: o.confidence, Adjust: o.adjust})
	if err != nil {
		return err
	}
	if dir {
		return writeMarkdownDir(o.output, a, o.db)
	}
	var buf bytes.Buffer
	switch o.format {
	case "md":
		err = reports.Markdown(&buf, a)
	case "html":
		err = reports.HTML(&buf, a)
	case "json":
		err = encodeJSON(&buf, a)
	}
	if err != nil {
		return err
	}
	return emitOutput(stdout, o.output, buf.Bytes())
}

// analyzeRun returns the analysis of a stored run (see analysisOf): what
// report, gate, compare and the summary after run and demo read.
func analyzeRun(ctx context.Context, store *results.Store, runID int64, opt reports.Options) (*reports.Analysis, error) {
	a, _, err := analysisOf(ctx, store, runID, opt)
	return a, err
}

func checkAdjust(adjust string) error {
	if !slices.Contains([]string{"holm", "BH", "BY", "bonferroni", "none"}, adjust) {
		return usagef("--adjust %q: want holm, BH, BY, bonferroni or none", adjust)
	}
	return nil
}

// writeMarkdownDir writes report.md and its charts, as SVG files it links
// to, into dir; db is the results database, which none of them may be.
func writeMarkdownDir(dir string, a *reports.Analysis, db string) error {
	charts, err := reports.Charts(a)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := reports.MarkdownWithCharts(&buf, a, charts, ""); err != nil { // charts sit beside report.md
		return err
	}
	files := make([]outFile, 0, len(charts)+1)
	for _, c := range charts {
		files = append(files, outFile{c.Name, c.SVG})
	}
	return writeOutputDir("-o", dir, append(files, outFile{"report.md", buf.Bytes()}), db)
}
