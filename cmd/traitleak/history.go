package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/reports"
	"github.com/traitleak/traitleak/results"
)

// blessedTag is the tag history and gate --against use when given none.
const blessedTag = "blessed"

type historyOptions struct {
	db          string
	suite       string
	probe       string
	target      string
	model       string
	baseline    string
	maxIncrease float64
	alpha       float64
	allowMixed  bool
	format      string
	output      string
	adjust      string
	confidence  float64
	readOnly    bool
}

func newHistoryCmd() *cobra.Command {
	o := &historyOptions{}
	cmd := &cobra.Command{
		Use:   "history [DB...]",
		Short: "Follow a role's leakage across runs, flagging significant changes",
		Long: `History shows, for every run of a suite (oldest first), a role's trait rate
on each probe target with its interval, the run's own difference to its
baseline role and its gate verdict, all read from the runs' stored analyses.
A run without one (or resumed since) is analysed first, and the analysis
stored when the database is writable.

Consecutive runs are compared with the two-run test of compare (Newcombe
interval, Fisher's exact test), corrected over every change of the history
(--adjust, Holm by default); ▲ and ▼ mark significant changes. --baseline RUN,
or else the run tagged blessed (traitleak tag RUN blessed; with several
databases, when exactly one of them has one), pins a run that every run is
compared with: a run significantly above it by more than
--max-increase (default: the suite gate's max_increase on that role) is
flagged.

Several databases are read together (history old.db new.db), as CI jobs
leave them; a run is then named DB:ID. Runs of different suites are refused
unless --suite picks one or --allow-mixed puts runs with the same probe,
target and role names in one series. --format html writes one self-contained
page with a trend chart per series.

` + exitCodesHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(cmd.Context(), o, args, cmd.Flags().Changed("max-increase"), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", defaultDB, "results database `file`, when no DB argument is given")
	f.StringVar(&o.suite, "suite", "", "keep the runs of suite `name`")
	f.StringVar(&o.probe, "probe", "", "keep probe `id`")
	f.StringVar(&o.target, "target", "", "keep `target`")
	f.StringVar(&o.model, "model", "", "keep model `role` (a role of the suite: student, …)")
	f.StringVar(&o.baseline, "baseline", "", "pin `run` (ID, DB:ID or a tag; default: the run tagged blessed, if any)")
	f.Float64Var(&o.maxIncrease, "max-increase", 0, "bound over the pinned run: a run significantly above it by more is flagged (default: the suite gate's max_increase)")
	f.Float64Var(&o.alpha, "alpha", 0.05, "significance level of a change, after correction")
	f.BoolVar(&o.allowMixed, "allow-mixed", false, "put runs of different suites in one series when their probe, target and role names match")
	f.StringVar(&o.format, "format", "md", "output format: md, json or html (one self-contained page)")
	f.StringVarP(&o.output, "output", "o", "", "write to `file` instead of standard output")
	f.StringVar(&o.adjust, "adjust", "holm", "p-value correction within each run and over the history's changes: holm, BH, BY, bonferroni or none")
	f.Float64Var(&o.confidence, "confidence", 0.95, "confidence `level` of every interval")
	f.BoolVar(&o.readOnly, "read-only", false, readOnlyUsage)
	// --lineage L belongs here once experiments record lineages (issue
	// 14): it resolves L to its runs, in order, and passes them as
	// reports.HistoryQuery.Runs; nothing else changes.
	return cmd
}

// openSources opens the databases a history or matrix reads: args, or db
// when none. The caller closes them with closeSources.
func openSources(ctx context.Context, args []string, db string, readOnly bool) ([]reports.HistorySource, error) {
	if len(args) == 0 {
		args = []string{db}
	}
	var out []reports.HistorySource
	for i, path := range args {
		if slices.Contains(args[:i], path) {
			closeSources(out)
			return nil, usagef("database %s is given twice", path)
		}
		st, err := openForAnalysis(ctx, path, readOnly)
		if err != nil {
			closeSources(out)
			return nil, err
		}
		out = append(out, reports.HistorySource{Label: path, Store: st})
	}
	return out, nil
}

func closeSources(srcs []reports.HistorySource) {
	for _, s := range srcs {
		s.Store.Close()
	}
}

// selectionError turns a reports.SelectionError into a usage error.
func selectionError(err error) error {
	var se *reports.SelectionError
	if errors.As(err, &se) {
		return &usageError{err}
	}
	return err
}

func checkStatsFlags(format string, formats []string, adjust string, confidence, alpha float64) error {
	if !slices.Contains(formats, format) {
		return usagef("--format %q: want %s", format, strings.Join(formats, ", "))
	}
	if err := checkAdjust(adjust); err != nil {
		return err
	}
	if !(confidence > 0 && confidence < 1) {
		return usagef("--confidence %g: want a level in (0, 1), e.g. 0.95", confidence)
	}
	if !(alpha > 0 && alpha < 1) {
		return usagef("--alpha %g: want a level in (0, 1), e.g. 0.05", alpha)
	}
	return nil
}

func runHistory(ctx context.Context, o *historyOptions, args []string, boundSet bool, stdout io.Writer) error {
	if err := checkStatsFlags(o.format, []string{"md", "json", "html"}, o.adjust, o.confidence, o.alpha); err != nil {
		return err
	}
	dbs := args
	if len(dbs) == 0 {
		dbs = []string{o.db}
	}
	if o.output != "" {
		if err := checkOutput("-o", o.output, dbs...); err != nil {
			return err
		}
	}
	srcs, err := openSources(ctx, args, o.db, o.readOnly)
	if err != nil {
		return err
	}
	defer closeSources(srcs)
	q := reports.HistoryQuery{Suite: o.suite, Probe: o.probe, Target: o.target, Role: o.model, AllowMixed: o.allowMixed,
		Options: reports.Options{Confidence: o.confidence, Adjust: o.adjust}, Alpha: o.alpha}
	if boundSet {
		b := o.maxIncrease
		q.MaxIncrease = &b
	}
	runs, err := reports.CollectRuns(ctx, srcs, q, archive())
	if err != nil {
		return selectionError(err)
	}
	if err := pinBaseline(ctx, srcs, runs, o.baseline, &q); err != nil {
		return err
	}
	h, err := reports.BuildHistory(runs, q)
	if err != nil {
		return selectionError(err)
	}
	var buf bytes.Buffer
	switch o.format {
	case "md":
		err = h.Markdown(&buf)
	case "html":
		err = h.HTML(&buf)
	case "json":
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		err = enc.Encode(h)
	}
	if err != nil {
		return err
	}
	if o.output == "" {
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	return writeOutput(o.output, buf.Bytes())
}

// pinBaseline resolves --baseline (or, when empty, the blessed tag of
// the runs' suite) to a run of the history and sets it in q.
func pinBaseline(ctx context.Context, srcs []reports.HistorySource, runs []reports.HistoryRun, ref string, q *reports.HistoryQuery) error {
	suite := q.Suite
	if suite == "" {
		names := map[string]bool{}
		for _, r := range runs {
			names[r.Run.SuiteName] = true
		}
		if len(names) == 1 {
			for n := range names {
				suite = n
			}
		}
	}
	if ref == "" {
		// The blessed run, when there is exactly one for the suite.
		var found []reports.RunKey
		for _, s := range srcs {
			tags, err := s.Store.TaggedRuns(ctx, blessedTag, suite)
			if err != nil {
				return err
			}
			for _, t := range tags {
				found = append(found, reports.RunKey{DB: s.Label, RunID: t.RunID})
			}
		}
		if len(found) == 1 && suite != "" {
			q.Baseline, q.BaselineLabel = &found[0], "tagged "+blessedTag
		}
		return nil
	}
	k, label, err := resolveRef(ctx, srcs, ref, suite)
	if err != nil {
		return err
	}
	q.Baseline, q.BaselineLabel = &k, label
	return nil
}

// resolveRef resolves a run reference of history or gate --against: ID,
// latest, TAG, or DB:ID, DB:latest or DB:TAG for a database among srcs.
// A tag names the run tagged so for suite (any suite when ""); a bare ID
// or tag with several databases must be found in exactly one. It returns
// the run and how to name it.
func resolveRef(ctx context.Context, srcs []reports.HistorySource, ref, suite string) (reports.RunKey, string, error) {
	cands := srcs
	name := ref
	if i := strings.LastIndex(ref, ":"); i > 0 {
		db := ref[:i]
		cands = nil
		for _, s := range srcs {
			if s.Label == db {
				cands = append(cands, s)
			}
		}
		if cands == nil {
			return reports.RunKey{}, "", usagef("run %q: database %s is not one of the history's (%s)", ref, db, labels(srcs))
		}
		name = ref[i+1:]
	}
	var found []reports.RunKey
	var how string
	for _, s := range cands {
		switch id, err := strconv.ParseInt(name, 10, 64); {
		case name == "latest":
			r, err := s.Store.LatestRun(ctx)
			if errors.Is(err, results.ErrNotFound) {
				continue
			}
			if err != nil {
				return reports.RunKey{}, "", err
			}
			found, how = append(found, reports.RunKey{DB: s.Label, RunID: r.ID}), "latest"
		case err == nil:
			if _, err := s.Store.GetRun(ctx, id); errors.Is(err, results.ErrNotFound) {
				continue
			} else if err != nil {
				return reports.RunKey{}, "", err
			}
			found, how = append(found, reports.RunKey{DB: s.Label, RunID: id}), "run "+name
		default:
			if err := results.CheckTagName(name); err != nil {
				return reports.RunKey{}, "", usagef("run %q: want a run id, latest or a tag: %v", ref, err)
			}
			tags, err := s.Store.TaggedRuns(ctx, name, suite)
			if err != nil {
				return reports.RunKey{}, "", err
			}
			for _, t := range tags {
				found = append(found, reports.RunKey{DB: s.Label, RunID: t.RunID})
			}
			how = "tagged " + name
		}
	}
	switch {
	case len(found) == 0:
		what := "no run " + ref
		if _, err := strconv.ParseInt(name, 10, 64); err != nil && name != "latest" {
			what = "no run tagged " + name
			if suite != "" {
				what += " for suite " + suite
			}
		}
		return reports.RunKey{}, "", usagef("%s in %s", what, labels(cands))
	case len(found) > 1:
		var names []string
		for _, k := range found {
			names = append(names, fmt.Sprintf("%s:%d", k.DB, k.RunID))
		}
		return reports.RunKey{}, "", usagef("run %q is ambiguous: %s; name one as DB:ID", ref, strings.Join(names, ", "))
	}
	return found[0], how, nil
}

func labels(srcs []reports.HistorySource) string {
	var out []string
	for _, s := range srcs {
		out = append(out, s.Label)
	}
	return strings.Join(out, ", ")
}
