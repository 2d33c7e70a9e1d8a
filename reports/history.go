package reports

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// A history follows a role's trait rate across runs: one series per
// suite, probe, target and role, one point per run, read from stored
// analyses (a run without a current one is analysed first, and the
// analysis stored when the database is writable). Consecutive runs of a
// series are compared with the two-run test of compare, and the
// p-values of every change in the history are corrected together; a
// pinned run (--baseline, or the run tagged blessed) is compared with
// every run the same way, as a second family.

// SelectionError is an error in what a history, matrix or gate selects:
// an unknown run, tag, probe, target or role, or runs of different
// suites mixed without leave. The command line exits 2 on it.
type SelectionError struct{ Msg string }

func (e *SelectionError) Error() string { return e.Msg }

func selectionErrorf(format string, args ...any) error {
	return &SelectionError{Msg: fmt.Sprintf(format, args...)}
}

// HistorySource is one results database a history reads.
type HistorySource struct {
	// Label names the database in the history (its path as given).
	Label string
	Store *results.Store
}

// RunKey names a run of a history: the database it is in and its id.
type RunKey struct {
	DB    string `json:"db"`
	RunID int64  `json:"run_id"`
}

// HistoryQuery selects and tunes a history.
type HistoryQuery struct {
	// Suite keeps the runs of the named suite; "" keeps every run, which
	// must then be of one suite unless AllowMixed.
	Suite string
	// Probe, Target and Role keep one probe, target and role; "" keeps
	// all.
	Probe, Target, Role string
	// AllowMixed lets runs of different suites share a series when their
	// probe, target and role names match.
	AllowMixed bool
	// Runs, when not nil, are the runs of the history, in this order,
	// instead of every run of the databases in order of start: the hook
	// for a lineage of experiments, which resolves to its runs.
	Runs []RunKey
	// Options are the settings of the per-run analyses; Adjust also
	// corrects the history's changes.
	Options Options
	// Alpha is the level at which a change is significant; 0 means 0.05.
	Alpha float64
	// Baseline is the pinned run every run is compared with; nil for
	// none.
	Baseline *RunKey
	// BaselineLabel says how the pinned run was named (a tag, say).
	BaselineLabel string
	// MaxIncrease is the bound of the comparison with the pinned run: a
	// run whose rate is significantly above the pinned run's by more is
	// flagged. nil takes each series' gate bound (the max_increase of the
	// suite's gate on that probe, target and role), if any.
	MaxIncrease *float64
}

func (q HistoryQuery) alpha() float64 {
	if q.Alpha == 0 {
		return 0.05
	}
	return q.Alpha
}

// HistoryRun is one run as a history reads it: its record, its model
// instances and the figures of its analysis.
type HistoryRun struct {
	DB       string
	Run      results.Run
	Models   []results.InstanceRow
	Analysis *results.StoredAnalysis // figures: rates, comparisons, gates, references
	// Source says where the analysis came from (see Provenance).
	Source string
}

// CollectRuns reads the runs a history shows from the sources: every run
// of q.Suite (or q.Runs), each with the figures of its newest stored
// analysis of q.Options, filtered to q's probe, target and role. A run
// with no stored analysis, or whose record changed after its analysis
// (resumed or finished since), is analysed with ar, which stores the
// analysis when the database is writable. Runs still running are
// analysed and not stored.
func CollectRuns(ctx context.Context, sources []HistorySource, q HistoryQuery, ar Archive) ([]HistoryRun, error) {
	opt := q.Options.normalized()
	settings := Settings(opt)
	filter := results.FigureFilter{Probe: q.Probe, Target: q.Target, Role: q.Role}
	wanted := map[RunKey]bool{}
	for _, k := range q.Runs {
		wanted[k] = true
	}
	seenDB := map[string]bool{}
	var out []HistoryRun
	for _, src := range sources {
		if seenDB[src.Label] {
			return nil, selectionErrorf("database %s is given twice", src.Label)
		}
		seenDB[src.Label] = true
		runs, err := src.Store.Runs(ctx)
		if err != nil {
			return nil, err
		}
		slices.Reverse(runs) // oldest first
		var keep []results.Run
		for _, r := range runs {
			if q.Runs != nil && !wanted[RunKey{src.Label, r.ID}] {
				continue
			}
			if q.Suite != "" && r.SuiteName != q.Suite {
				continue
			}
			keep = append(keep, r)
		}
		latest, err := src.Store.LatestAnalyses(ctx, settings)
		if err != nil {
			return nil, err
		}
		stored := map[int64]*results.StoredAnalysis{}
		byRun := map[int64]*HistoryRun{}
		for _, r := range keep {
			hr := &HistoryRun{DB: src.Label, Run: r}
			byRun[r.ID] = hr
			if a := latest[r.ID]; a != nil && a.RunStatus == r.Status && a.RunUpdatedAt.Equal(r.UpdatedAt) && r.Status != results.StatusRunning {
				stored[a.ID] = a
				hr.Analysis, hr.Source = a, fmt.Sprintf("stored analysis %d", a.ID)
				continue
			}
			a, prov, err := ar.Analysis(ctx, src.Store, r.ID, opt)
			if err != nil {
				return nil, fmt.Errorf("%s run %d: %w", src.Label, r.ID, err)
			}
			rec := a.figures()
			rec.ID = prov.AnalysisID
			filterFigures(rec, filter)
			hr.Analysis, hr.Source = rec, prov.String()
			hr.Run.Status = a.Status // a run whose process is gone shows as interrupted
		}
		if err := src.Store.ReadFigures(ctx, stored, filter); err != nil {
			return nil, err
		}
		ids := make([]int64, len(keep))
		for i, r := range keep {
			ids[i] = r.ID
		}
		models, err := src.Store.RunModels(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, r := range keep {
			hr := byRun[r.ID]
			hr.Models = models[r.ID]
			out = append(out, *hr)
		}
	}
	if q.Runs != nil {
		at := map[RunKey]int{}
		for i, k := range q.Runs {
			at[k] = i
		}
		for _, hr := range out {
			delete(wanted, RunKey{hr.DB, hr.Run.ID})
		}
		for _, k := range q.Runs {
			if wanted[k] {
				return nil, selectionErrorf("no run %d in %s", k.RunID, k.DB)
			}
		}
		slices.SortStableFunc(out, func(a, b HistoryRun) int { return cmp.Compare(at[RunKey{a.DB, a.Run.ID}], at[RunKey{b.DB, b.Run.ID}]) })
	}
	return out, nil
}

// filterFigures keeps the role rates, comparisons, gates and references
// of a freshly computed analysis that f keeps, as ReadFigures reads a
// stored one.
func filterFigures(a *results.StoredAnalysis, f results.FigureFilter) {
	keep := func(probe, target, role string) bool {
		return (f.Probe == "" || probe == f.Probe) && (f.Target == "" || target == f.Target) && (f.Role == "" || role == f.Role)
	}
	a.Rates = slices.DeleteFunc(a.Rates, func(r results.RateRow) bool { return !keep(r.Probe, r.Target, r.Role) })
	a.Comparisons = slices.DeleteFunc(a.Comparisons, func(c results.ComparisonRow) bool { return !keep(c.Probe, c.Target, c.Treatment) })
	a.Gates = slices.DeleteFunc(a.Gates, func(g results.GateRow) bool { return !keep(g.Probe, g.Target, g.Treatment) })
	a.References = slices.DeleteFunc(a.References, func(r results.PublishedRow) bool { return !keep(r.Probe, r.Target, "") })
}

// History is the trait rate of roles across runs.
type History struct {
	Suites     []string `json:"suites"`
	Confidence float64  `json:"confidence"`
	Adjust     string   `json:"p_adjust"`
	Alpha      float64  `json:"alpha"`
	// Baseline is the pinned run every run is compared with.
	Baseline *PinnedRun `json:"baseline_run,omitempty"`
	// Changes counts the comparisons of consecutive runs: the family
	// whose p-values are corrected together.
	Changes int      `json:"changes"`
	Series  []Series `json:"series"`
	Methods []Method `json:"methods"`
}

// PinnedRun is the run a history compares every run with.
type PinnedRun struct {
	RunKey
	Label       string   `json:"label"`                  // how it was named: a run id or a tag
	MaxIncrease *float64 `json:"max_increase,omitempty"` // the bound given for every series, if any
}

// Series is one role's rate on one probe target across runs, oldest run
// first.
type Series struct {
	Suite  string `json:"suite"`
	Probe  string `json:"probe"`
	Target string `json:"target"`
	Role   string `json:"model"`
	// Baseline is the role the runs compare this role with (their first
	// comparison with it as treatment); "" when none.
	Baseline string `json:"baseline,omitempty"`
	// MaxIncrease is the bound of the suite's gate on this role, probe
	// and target (its newest run's), nil when none: the chart draws the
	// baseline's rate plus it.
	MaxIncrease *float64 `json:"max_increase,omitempty"`
	// AgainstBound is the bound of the comparison with the pinned run:
	// HistoryQuery.MaxIncrease, else MaxIncrease.
	AgainstBound *float64 `json:"against_bound,omitempty"`
	// References are the published figures for the probe target (its
	// newest run's).
	References []ReferenceRow `json:"references,omitempty"`
	Points     []Point        `json:"points"`
}

// Point is one run of a series.
type Point struct {
	RunKey
	Started  time.Time         `json:"started"`
	Status   results.RunStatus `json:"status"`
	Models   []string          `json:"model_ids"`
	Analysis string            `json:"analysis"` // where the figures come from
	N        int               `json:"n"`
	Hits     int               `json:"hits"`
	Rate     Num               `json:"rate"`
	CI       CI                `json:"ci"`
	// Diff is the run's own comparison of the role with its baseline
	// role, nil when the run has none.
	Diff *WithinRun `json:"diff,omitempty"`
	// Gate is the verdict of the run's gates on this role, probe and
	// target: fail when one fails, undecided when one is, pass when all
	// pass; "" when there is none.
	Gate suites.GateVerdict `json:"gate,omitempty"`
	// Change compares the run with the series' previous run, nil for the
	// first.
	Change *Change `json:"change,omitempty"`
	// Against compares the run with the pinned run, nil when there is
	// none (or this is it).
	Against *Change `json:"against,omitempty"`
}

// WithinRun is a run's own comparison of a role with its baseline role.
type WithinRun struct {
	Baseline     string `json:"baseline"`
	BaselineRate Num    `json:"baseline_rate"`
	Diff         Num    `json:"diff"`
	CI           CI     `json:"ci"`
	PValue       Num    `json:"p_value"`
	PAdjusted    Num    `json:"p_adjusted"` // over the run's comparisons
	CohenH       Num    `json:"cohen_h"`
}

// Change is the change of a role's rate between two runs: this run minus
// the other.
type Change struct {
	From      RunKey `json:"from"`
	Diff      Num    `json:"diff"`
	CI        CI     `json:"ci"`
	PValue    Num    `json:"p_value"`
	Test      string `json:"test"`
	PAdjusted Num    `json:"p_adjusted"`
	// Significant is PAdjusted < alpha.
	Significant bool `json:"significant"`
	// Direction is "up" or "down" for a significant change, "" otherwise.
	Direction string `json:"direction,omitempty"`
	// Exceeds, for a comparison with the pinned run, is true when the
	// increase is significant and above the bound: the run is flagged.
	Exceeds bool `json:"exceeds,omitempty"`
}

// Flagged reports whether the point is flagged: a significant increase
// over the previous run, or significantly above the pinned run by more
// than the bound.
func (p *Point) Flagged() bool {
	return p.Change != nil && p.Change.Direction == "up" || p.Against != nil && p.Against.Exceeds
}

// seriesKey identifies a series.
type seriesKey struct{ suite, probe, target, role string }

// BuildHistory builds the history of runs, which CollectRuns read: it
// checks q's selection against them (unknown probe, target or role; runs
// of several suites without AllowMixed; a pinned run that is not among
// them), assembles the series, and tests and corrects every change.
func BuildHistory(runs []HistoryRun, q HistoryQuery) (*History, error) {
	opt := q.Options.normalized()
	if len(runs) == 0 {
		if q.Suite != "" {
			return nil, selectionErrorf("no run of suite %s", q.Suite)
		}
		return nil, selectionErrorf("no runs")
	}
	suiteSet := map[string]bool{}
	for _, r := range runs {
		suiteSet[r.Run.SuiteName] = true
	}
	h := &History{Suites: slices.Sorted(maps.Keys(suiteSet)), Confidence: opt.Confidence, Adjust: opt.Adjust, Alpha: q.alpha()}
	if len(h.Suites) > 1 && !q.AllowMixed {
		return nil, selectionErrorf("the runs are of %d suites (%s): pick one with --suite, or mix them with --allow-mixed", len(h.Suites), strings.Join(h.Suites, ", "))
	}
	if q.Runs == nil {
		slices.SortStableFunc(runs, func(a, b HistoryRun) int { return a.Run.CreatedAt.Compare(b.Run.CreatedAt) })
	}
	if err := checkSelection(runs, q); err != nil {
		return nil, err
	}
	var order []seriesKey
	series := map[seriesKey]*Series{}
	for _, r := range runs {
		for _, rate := range r.Analysis.Rates {
			if rate.Level != results.LevelRole {
				continue
			}
			k := seriesKey{r.Run.SuiteName, rate.Probe, rate.Target, rate.Role}
			if q.AllowMixed {
				k.suite = ""
			}
			s := series[k]
			if s == nil {
				s = &Series{Suite: k.suite, Probe: k.probe, Target: k.target, Role: k.role}
				series[k] = s
				order = append(order, k)
			}
			s.Points = append(s.Points, point(r, rate))
			seriesExtras(s, r)
		}
	}
	var pinned *HistoryRun
	if q.Baseline != nil {
		for i := range runs {
			if runs[i].DB == q.Baseline.DB && runs[i].Run.ID == q.Baseline.RunID {
				pinned = &runs[i]
			}
		}
		if pinned == nil {
			return nil, selectionErrorf("the baseline run %d of %s is not among the history's runs (another suite?)", q.Baseline.RunID, q.Baseline.DB)
		}
		h.Baseline = &PinnedRun{RunKey: *q.Baseline, Label: q.BaselineLabel, MaxIncrease: q.MaxIncrease}
	}
	var changes, against []*Change
	for _, k := range order {
		s := series[k]
		s.AgainstBound = s.MaxIncrease
		if q.MaxIncrease != nil {
			s.AgainstBound = q.MaxIncrease
		}
		var ref *Point
		if pinned != nil {
			for i := range s.Points {
				if s.Points[i].RunKey == *q.Baseline {
					ref = &s.Points[i]
				}
			}
		}
		for i := range s.Points {
			p := &s.Points[i]
			if i > 0 {
				p.Change = change(&s.Points[i-1], p, opt.Confidence)
				changes = append(changes, p.Change)
			}
			if ref != nil && p != ref {
				p.Against = change(ref, p, opt.Confidence)
				against = append(against, p.Against)
			}
		}
		h.Series = append(h.Series, *s)
	}
	h.Changes = len(changes)
	if err := correct(changes, opt.Adjust, h.Alpha, nil); err != nil {
		return nil, err
	}
	bounds := map[*Change]*float64{}
	for _, s := range h.Series {
		for i := range s.Points {
			if a := s.Points[i].Against; a != nil {
				bounds[a] = s.AgainstBound
			}
		}
	}
	if err := correct(against, opt.Adjust, h.Alpha, bounds); err != nil {
		return nil, err
	}
	h.Methods = historyMethods(h)
	return h, nil
}

// checkSelection refuses a probe, target or role that no run has,
// naming what the runs have.
func checkSelection(runs []HistoryRun, q HistoryQuery) error {
	for _, r := range runs {
		for _, rate := range r.Analysis.Rates {
			if rate.Level == results.LevelRole {
				return nil
			}
		}
	}
	var sel []string
	for _, f := range []struct{ name, v string }{{"probe", q.Probe}, {"target", q.Target}, {"model role", q.Role}} {
		if f.v != "" {
			sel = append(sel, f.name+" "+f.v)
		}
	}
	if len(sel) == 0 {
		return selectionErrorf("the runs have no rates to follow (no probe with a target)")
	}
	var roles, probes []string
	for _, r := range runs {
		for _, m := range r.Models {
			roles = append(roles, m.Role)
		}
		var rec struct{ Probes []struct{ ID string } }
		if json.Unmarshal([]byte(r.Run.SuiteJSON), &rec) == nil {
			for _, p := range rec.Probes {
				probes = append(probes, p.ID)
			}
		}
	}
	roles = slices.Compact(slices.Sorted(slices.Values(roles)))
	probes = slices.Compact(slices.Sorted(slices.Values(probes)))
	return selectionErrorf("no run has %s (their probes: %s; their model roles: %s)", strings.Join(sel, ", "), strings.Join(probes, ", "), strings.Join(roles, ", "))
}

// point is the figures of one run for a series.
func point(r HistoryRun, rate results.RateRow) Point {
	p := Point{RunKey: RunKey{r.DB, r.Run.ID}, Started: r.Run.CreatedAt, Status: r.Run.Status, Analysis: r.Source,
		N: rate.N, Hits: rate.Hits, Rate: Num(rate.Rate), CI: storedCI(rate.CI)}
	for _, m := range r.Models {
		if m.Role == rate.Role && !slices.Contains(p.Models, m.ModelID) {
			p.Models = append(p.Models, m.ModelID)
		}
	}
	for _, c := range r.Analysis.Comparisons {
		if c.Probe != rate.Probe || c.Target != rate.Target || c.Treatment != rate.Role || len(c.Tests) == 0 {
			continue
		}
		pooled := c.Tests[0]
		p.Diff = &WithinRun{Baseline: c.Baseline, BaselineRate: Num(c.BaselineRate), Diff: Num(c.Diff), CI: storedCI(pooled.CI),
			PValue: Num(pooled.PValue), PAdjusted: Num(pooled.PAdjusted), CohenH: Num(c.CohenH)}
		break
	}
	for _, g := range r.Analysis.Gates {
		if g.Probe != rate.Probe || g.Target != rate.Target || g.Treatment != rate.Role {
			continue
		}
		switch v := suites.GateVerdict(g.Verdict); {
		case v == suites.GateFail:
			p.Gate = v
		case v == suites.GateUndecided && p.Gate != suites.GateFail:
			p.Gate = v
		case p.Gate == "":
			p.Gate = v
		}
	}
	return p
}

// seriesExtras takes the series' baseline role, gate bound and published
// figures from run r, a later run overriding an earlier.
func seriesExtras(s *Series, r HistoryRun) {
	for _, c := range r.Analysis.Comparisons {
		if c.Probe == s.Probe && c.Target == s.Target && c.Treatment == s.Role {
			s.Baseline = c.Baseline
			break
		}
	}
	for _, g := range r.Analysis.Gates {
		if g.Probe == s.Probe && g.Target == s.Target && g.Treatment == s.Role && g.MaxIncrease != nil {
			b := *g.MaxIncrease
			s.MaxIncrease = &b
			break
		}
	}
	var refs []ReferenceRow
	for _, ref := range r.Analysis.References {
		if ref.Probe != s.Probe || ref.Target != s.Target {
			continue
		}
		row := ReferenceRow{Probe: ref.Probe, Target: ref.Target, Label: ref.Label, ModelName: ref.Model, Condition: ref.Condition,
			Rate: Num(ref.Rate), Bound: ref.Bound, Source: ref.Source, Note: ref.Note}
		if ref.Low != nil && ref.High != nil {
			lo, hi := Num(*ref.Low), Num(*ref.High)
			row.Low, row.High = &lo, &hi
		}
		refs = append(refs, row)
	}
	if refs != nil {
		s.References = refs
	}
}

func storedCI(c results.Interval) CI {
	return CI{Low: Num(c.Low), High: Num(c.High), Method: c.Method}
}

// change compares point b with point a, b − a.
func change(a, b *Point, conf float64) *Change {
	c := &Change{From: a.RunKey, Test: methodFisher, PAdjusted: Num(math.NaN())}
	c.Diff, c.CI, c.PValue = runChange(a.Hits, a.N, b.Hits, b.N, conf)
	return c
}

// correct adjusts the p-values of a family of changes and marks the
// significant ones; with bounds (comparisons with the pinned run), a
// significant increase above its bound exceeds it.
func correct(family []*Change, adjust string, alpha float64, bounds map[*Change]*float64) error {
	ps := make([]float64, len(family))
	for i, c := range family {
		ps[i] = float64(c.PValue)
	}
	adj, err := adjustP(ps, adjust)
	if err != nil {
		return err
	}
	for i, c := range family {
		c.PAdjusted = Num(adj[i])
		c.Significant = adj[i] < alpha
		switch {
		case !c.Significant:
		case c.Diff > 0:
			c.Direction = "up"
		case c.Diff < 0:
			c.Direction = "down"
		}
		if bounds != nil {
			bound := 0.0
			if b := bounds[c]; b != nil {
				bound = *b
			}
			c.Exceeds = c.Significant && float64(c.Diff) > bound
		}
	}
	return nil
}

func historyMethods(h *History) []Method {
	pct := fmt.Sprintf("%g%%", 100*h.Confidence)
	out := []Method{
		{Name: methodWilson, Used: pct + " interval of each run's rate, seeds pooled (from the run's stored analysis)"},
		{Name: methodNewcombe, Used: pct + " interval of each change between consecutive runs of a series, and of each run's difference to its baseline role"},
		{Name: methodFisher, Used: "p-value of each change, samples pooled (the test of compare)"},
		{Name: adjustName(h.Adjust), Used: fmt.Sprintf("correction over the %d changes of the history; a change is significant when its corrected p < %g", h.Changes, h.Alpha)},
	}
	if h.Baseline != nil {
		out = append(out, Method{Name: "pinned run", Used: fmt.Sprintf("every run compared with run %d of %s (%s) by the same test, corrected as a second family; a run significantly above it by more than the bound is flagged",
			h.Baseline.RunID, h.Baseline.DB, h.Baseline.Label)})
	}
	return out
}
