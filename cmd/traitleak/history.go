package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

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
	lineage     string
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
stored when the database is writable. --lineage L keeps the runs that
sampled students of an experiment's lineage (EXPERIMENT, or EXPERIMENT/ARM
for one arm), as traitleak runs --lineage lists them, oldest first.

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
			return runHistory(cmd.Context(), o, args, cmd.Flags().Changed("max-increase"), cmd.Flags().Changed("lineage"), cmd.OutOrStdout())
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
	f.StringVar(&o.lineage, "lineage", "", "keep the runs that sampled students of lineage `L` (EXPERIMENT or EXPERIMENT/ARM), oldest first")
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

func runHistory(ctx context.Context, o *historyOptions, args []string, boundSet, lineageSet bool, stdout io.Writer) error {
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
	if lineageSet {
		if q.Runs, err = historyLineageRuns(ctx, srcs, o.lineage); err != nil {
			return err
		}
	}
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
		err = encodeJSON(&buf, h)
	}
	if err != nil {
		return err
	}
	return emitOutput(stdout, o.output, buf.Bytes())
}

// historyLineageRuns resolves --lineage: the runs of the sources that sampled a
// student of lineage ref (results.Store.LineageRuns, without the
// experiment's generation runs, which sample its teachers), oldest first
// (by start, then source order and id). A lineage no source records, or
// whose students no run sampled, is a usage error naming what there is.
func historyLineageRuns(ctx context.Context, srcs []reports.HistorySource, ref string) ([]reports.RunKey, error) {
	f := results.ParseLineageFilter(ref)
	if f.Experiment == "" || strings.Contains(f.Arm, "/") || (strings.Contains(ref, "/") && f.Arm == "") {
		return nil, usagef("--lineage %q: want EXPERIMENT or EXPERIMENT/ARM, as traitleak runs --lineage takes", ref)
	}
	type found struct {
		key     reports.RunKey
		src     int
		started time.Time
	}
	var runs []found
	var known []string
	recorded := false
	for i, src := range srcs {
		all, err := src.Store.Lineage(ctx, results.LineageFilter{})
		if err != nil {
			return nil, err
		}
		for _, c := range all {
			if !slices.Contains(known, c.Ref()) {
				known = append(known, c.Ref())
			}
			recorded = recorded || (c.Experiment == f.Experiment && (f.Arm == "" || c.Arm == f.Arm))
		}
		ids, err := src.Store.LineageRuns(ctx, ref)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			// Only runs that sampled a student of the lineage: the
			// experiment's own generation runs sample its teachers.
			chains, err := src.Store.RunLineage(ctx, id)
			if err != nil {
				return nil, err
			}
			if !slices.ContainsFunc(chains, func(c results.Chain) bool {
				return c.Experiment == f.Experiment && (f.Arm == "" || c.Arm == f.Arm)
			}) {
				continue
			}
			r, err := src.Store.GetRun(ctx, id)
			if err != nil {
				return nil, err
			}
			runs = append(runs, found{reports.RunKey{DB: src.Label, RunID: id}, i, r.CreatedAt})
		}
	}
	switch {
	case !recorded && len(known) == 0:
		return nil, usagef("unknown lineage %s: %s records no experiment's students", ref, labels(srcs))
	case !recorded:
		slices.Sort(known)
		return nil, usagef("unknown lineage %s in %s (its lineages: %s)", ref, labels(srcs), strings.Join(known, ", "))
	case len(runs) == 0:
		return nil, usagef("lineage %s: no run in %s sampled its students (run its experiment's evaluation, or a suite naming them with lineage: %s)",
			ref, labels(srcs), ref)
	}
	slices.SortStableFunc(runs, func(a, b found) int {
		if c := a.started.Compare(b.started); c != 0 {
			return c
		}
		if a.src != b.src {
			return a.src - b.src
		}
		return int(a.key.RunID - b.key.RunID)
	})
	out := make([]reports.RunKey, len(runs))
	for i, r := range runs {
		out[i] = r.key
	}
	return out, nil
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
