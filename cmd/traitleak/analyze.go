package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/reports"
	"github.com/traitleak/traitleak/results"
)

// Analyses are data: run and rescore store the analysis of the run they
// finish, analyze stores one on demand, and report, gate, history and
// matrix read a stored analysis when one matches their settings and the
// run's data has not changed since, and otherwise compute it and store it
// when the database is writable (see reports.Archive).

// archive is how commands get analyses: the running traitleak version
// stored with each, and runs whose process is gone shown as interrupted.
func archive() reports.Archive {
	return reports.Archive{Version: traitleakVersion(), Prepare: func(d *reports.RunData) { markOrphaned(&d.Run) }}
}

// analysisOf returns the analysis of a stored run with options opt,
// stored or computed (and then stored when the store is writable), and
// where it came from.
func analysisOf(ctx context.Context, store *results.Store, runID int64, opt reports.Options) (*reports.Analysis, reports.Provenance, error) {
	return archive().Analysis(ctx, store, runID, opt)
}

// readOnlyUsage documents --read-only, the flag of the commands that
// store the analyses they compute.
const readOnlyUsage = "open the database read-only: read stored analyses, store none (a database this process cannot write is always opened so)"

// openForAnalysis opens the existing results database at db to read and
// store analyses: for writing when this process may write it and
// readOnly is false, else read-only (it then stores nothing).
func openForAnalysis(ctx context.Context, db string, readOnly bool) (*results.Store, error) {
	if err := checkDBPath(db, false); err != nil {
		return nil, err
	}
	if readOnly || !writable(db) {
		return results.OpenReadOnly(ctx, db)
	}
	return results.Open(ctx, db)
}

// analysisOpener is openForAnalysis as an opener for openRunFor.
func analysisOpener(readOnly bool) func(context.Context, string) (*results.Store, error) {
	return func(ctx context.Context, db string) (*results.Store, error) {
		return openForAnalysis(ctx, db, readOnly)
	}
}

func newAnalyzeCmd() *cobra.Command {
	var db, runArg, adjust string
	var confidence float64
	var force bool
	cmd := &cobra.Command{
		Use:   "analyze",
		Short: "Analyse a stored run and store the analysis in the database",
		Long: `Analyze computes the analysis of a stored run (rates with their intervals,
comparisons with every test and correction, gate verdicts) and stores it in
the results database, where report, gate, history and matrix read it. run and
rescore store the analysis of the run they finish with the default settings;
analyze adds one with other settings (--confidence, --adjust). An analysis
with the same settings of the same data is stored once: analyze then says so
and stores nothing, unless --force. Nothing stored is ever overwritten.

A run still running is analysed but not stored (exit 3): its data may still
change.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkAdjust(adjust); err != nil {
				return err
			}
			if !(confidence > 0 && confidence < 1) {
				return usagef("--confidence %g: want a level in (0, 1), e.g. 0.95", confidence)
			}
			ctx := cmd.Context()
			if err := checkDBPath(db, false); err != nil {
				return err
			}
			if !writable(db) {
				return &exitError{code: exitIncomplete, err: fmt.Errorf("analyze stores the analysis in %s, which this process cannot write (report --read-only computes without storing)", db)}
			}
			store, run, err := openRunWritable(ctx, db, runArg)
			if err != nil {
				return err
			}
			defer store.Close()
			ar := archive()
			ar.Force = force
			a, prov, err := ar.Analysis(ctx, store, run.ID, reports.Options{Confidence: confidence, Adjust: adjust})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			settings := fmt.Sprintf("%g%% intervals, %s correction", 100*a.Confidence, a.Adjust)
			switch {
			case prov.Reused:
				fmt.Fprintf(w, "run %d (%s, %s): analysis %d with these settings (%s) of the same data is stored already\n", run.ID, run.SuiteName, a.Status, prov.AnalysisID, settings)
			case prov.AnalysisID != 0:
				fmt.Fprintf(w, "run %d (%s, %s): stored as analysis %d (%s)\n", run.ID, run.SuiteName, a.Status, prov.AnalysisID, settings)
			default:
				return &exitError{code: exitIncomplete, err: fmt.Errorf("run %d: analysis not stored: %s", run.ID, prov.NotStored)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&db, "db", defaultDB, "results database `file`")
	f.StringVar(&runArg, "run", "latest", "run `id`, or latest")
	f.StringVar(&adjust, "adjust", "holm", "p-value correction over the run's comparisons: holm, BH, BY, bonferroni or none")
	f.Float64Var(&confidence, "confidence", 0.95, "confidence `level` of every interval")
	f.BoolVar(&force, "force", false, "compute and store the analysis even when the same one is stored")
	return cmd
}
