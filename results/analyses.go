package results

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// StoredAnalysis is one analysis of a run as the database keeps it (see
// analyses.sql): how it was made, its figures one row each, and the
// whole analysis tree that reports render from. Package reports builds
// it from an analysis and reads it back; this package only stores it.
// Undefined figures are NaN (NULL in the database); ±Inf is kept.
type StoredAnalysis struct {
	ID    int64 // assigned by PutAnalysis
	RunID int64
	// Settings are the analysis options as canonical JSON: a stored
	// analysis serves a request with the same settings.
	Settings   string
	Confidence float64 // of every interval, in (0, 1)
	Adjust     string  // p-value correction over the run's comparisons
	// Fingerprint is the run's Fingerprint when it was analysed.
	Fingerprint string
	// Format names the layout of Tree; Version the traitleak version
	// that analysed.
	Format, Version string
	// RunStatus and RunUpdatedAt are the run's status and updated_at
	// when it was analysed.
	RunStatus    RunStatus
	RunUpdatedAt time.Time
	CreatedAt    time.Time // set by PutAnalysis
	// Tree is the encoded analysis; nil when not read.
	Tree []byte

	Methods     []MethodRow
	Rates       []RateRow
	Comparisons []ComparisonRow
	Gates       []GateRow
	References  []PublishedRow
	Notes       []string
}

// Interval is a stored confidence interval and the method that made it.
type Interval struct {
	Low, High float64
	Method    string
}

// MethodRow is a statistical method an analysis used.
type MethodRow struct {
	Name, UsedFor string
}

// Rate levels of a RateRow.
const (
	LevelInstance = "instance" // one model instance
	LevelRole     = "role"     // a role with its seeds pooled
)

// RateRow is the trait rate of a model instance, or of a role with its
// seeds pooled, on one probe target.
type RateRow struct {
	Level               string // LevelInstance or LevelRole
	Probe, Target, Role string
	Seed                string // the instance's seed; "" for a role
	Condition           string // role rows only
	Seeds               int    // instances pooled: 1 for an instance
	N, Hits             int    // scored samples and hits
	Failed, Missing     int
	Invalid             map[string]int // samples left out of the rate, by label; nil when none
	Rate                float64
	CI                  Interval
	Clustered           *ClusterRow  // role rows with a cluster-robust interval
	SeedMean            *SeedMeanRow // role rows with two or more seeds
}

// ClusterRow is a cluster-robust interval of a pooled rate.
type ClusterRow struct {
	Clusters         int
	SE, DesignEffect float64
	CI               Interval
}

// SeedMeanRow is the mean of per-seed rates with its interval.
type SeedMeanRow struct {
	Mean   float64
	CI     Interval
	Values []float64
}

// ComparisonRow is a treatment role against a baseline role on one
// probe target, with every test of it.
type ComparisonRow struct {
	Probe, Target, Treatment, Baseline string
	TreatmentRate, BaselineRate        float64
	TreatmentN, BaselineN              int
	Diff                               float64 // treatment − baseline
	CohenH                             float64
	OddsRatio                          float64
	OddsRatioCI                        Interval
	Tests                              []TestRow // pooled first, then paired and seeds when computed
}

// Test kinds of a TestRow.
const (
	TestPooled = "pooled" // samples pooled over seeds: Newcombe interval, Fisher's exact test
	TestPaired = "paired" // per-prompt rates
	TestSeeds  = "seeds"  // per-seed rates
)

// TestRow is one test of a comparison.
type TestRow struct {
	Kind      string // TestPooled, TestPaired or TestSeeds
	Method    string
	Units     int // prompts or seeds per side; 0 for pooled
	Diff      float64
	CI        Interval
	PValue    float64
	PAdjusted float64
}

// GateRow is the verdict of one gate with its rule and evidence.
type GateRow struct {
	Name, Probe, Target, Treatment, Baseline string
	MaxIncrease, MinIncrease                 *float64
	Alpha                                    float64
	Test                                     string
	Diff                                     float64
	CI                                       Interval
	PValue, PAdjusted                        float64
	Verdict, Rule, Reason                    string
}

// PublishedRow is a published figure matched to a probe target.
type PublishedRow struct {
	Probe, Target, Label, Model, Condition string
	Rate                                   float64
	Low, High                              *float64
	Bound, Source, Note                    string
}

// ReadOnly reports whether the store was opened with OpenReadOnly: it
// can read stored analyses but store none.
func (s *Store) ReadOnly() bool { return s.readOnly }

// sqlReal is a float as stored: NaN is NULL, ±Inf is kept.
func sqlReal(f float64) any {
	if math.IsNaN(f) {
		return nil
	}
	return f
}

// realPtr stores an optional float.
func realPtr(f *float64) any {
	if f == nil {
		return nil
	}
	return sqlReal(*f)
}

// nanIfNull reads a float written by sqlReal.
func nanIfNull(v sql.NullFloat64) float64 {
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}

func ptrIfValid(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	f := v.Float64
	return &f
}

// PutAnalysis stores an analysis with all its figures in one transaction
// and returns its id. It never changes a stored analysis.
func (s *Store) PutAnalysis(ctx context.Context, a *StoredAnalysis) (int64, error) {
	if a.Tree == nil {
		return 0, errors.New("store analysis: no analysis tree")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store analysis of run %d: %w", a.RunID, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO analyses (run_id, settings, confidence, p_adjust, fingerprint, format, version, run_status, run_updated_at, created_at, tree)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.RunID, a.Settings, a.Confidence, a.Adjust, a.Fingerprint, a.Format, a.Version, a.RunStatus, formatTime(a.RunUpdatedAt), now(), a.Tree)
	if err != nil {
		return 0, fmt.Errorf("store analysis of run %d: %w", a.RunID, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store analysis of run %d: %w", a.RunID, err)
	}
	if err := insertFigures(ctx, tx, id, a); err != nil {
		return 0, fmt.Errorf("store analysis of run %d: %w", a.RunID, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store analysis of run %d: %w", a.RunID, err)
	}
	return id, nil
}

func insertFigures(ctx context.Context, tx *sql.Tx, id int64, a *StoredAnalysis) error {
	var rows [][]any
	for i, m := range a.Methods {
		rows = append(rows, []any{id, i, m.Name, m.UsedFor})
	}
	if err := bulkInsert(ctx, tx, `INSERT INTO analysis_methods (analysis_id, idx, name, used_for)`, "", rows); err != nil {
		return fmt.Errorf("methods: %w", err)
	}
	rows = rows[:0]
	for i, r := range a.Rates {
		var invalid any
		if len(r.Invalid) > 0 {
			b, err := json.Marshal(r.Invalid)
			if err != nil {
				return fmt.Errorf("rates: %w", err)
			}
			invalid = string(b)
		}
		row := []any{id, i, r.Level, r.Probe, r.Target, r.Role, r.Seed, r.Condition, r.Seeds, r.N, r.Hits, r.Failed, r.Missing, invalid,
			sqlReal(r.Rate), sqlReal(r.CI.Low), sqlReal(r.CI.High), r.CI.Method}
		if c := r.Clustered; c != nil {
			row = append(row, c.Clusters, sqlReal(c.SE), sqlReal(c.DesignEffect), sqlReal(c.CI.Low), sqlReal(c.CI.High), c.CI.Method)
		} else {
			row = append(row, nil, nil, nil, nil, nil, nil)
		}
		if m := r.SeedMean; m != nil {
			vals := make([]any, len(m.Values))
			for j, v := range m.Values {
				vals[j] = sqlReal(v) // NaN becomes null
			}
			b, err := json.Marshal(vals)
			if err != nil {
				return fmt.Errorf("rates: %w", err)
			}
			row = append(row, sqlReal(m.Mean), sqlReal(m.CI.Low), sqlReal(m.CI.High), m.CI.Method, string(b))
		} else {
			row = append(row, nil, nil, nil, nil, nil)
		}
		rows = append(rows, row)
	}
	if err := bulkInsert(ctx, tx, `INSERT INTO analysis_rates (analysis_id, idx, level, probe, target, role, seed, condition, seeds, n, hits, failed, missing, invalid,
		rate, ci_low, ci_high, ci_method, cl_clusters, cl_se, cl_design_effect, cl_low, cl_high, cl_method, sm_mean, sm_low, sm_high, sm_method, sm_values)`, "", rows); err != nil {
		return fmt.Errorf("rates: %w", err)
	}
	rows = rows[:0]
	var tests [][]any
	for i, c := range a.Comparisons {
		rows = append(rows, []any{id, i, c.Probe, c.Target, c.Treatment, c.Baseline, sqlReal(c.TreatmentRate), sqlReal(c.BaselineRate), c.TreatmentN, c.BaselineN,
			sqlReal(c.Diff), sqlReal(c.CohenH), sqlReal(c.OddsRatio), sqlReal(c.OddsRatioCI.Low), sqlReal(c.OddsRatioCI.High), c.OddsRatioCI.Method})
		for _, t := range c.Tests {
			var units any
			if t.Units > 0 {
				units = t.Units
			}
			tests = append(tests, []any{id, i, t.Kind, t.Method, units, sqlReal(t.Diff), sqlReal(t.CI.Low), sqlReal(t.CI.High), t.CI.Method, sqlReal(t.PValue), sqlReal(t.PAdjusted)})
		}
	}
	if err := bulkInsert(ctx, tx, `INSERT INTO analysis_comparisons (analysis_id, idx, probe, target, treatment, baseline, treatment_rate, baseline_rate,
		treatment_n, baseline_n, diff, cohen_h, odds_ratio, or_low, or_high, or_method)`, "", rows); err != nil {
		return fmt.Errorf("comparisons: %w", err)
	}
	if err := bulkInsert(ctx, tx, `INSERT INTO analysis_tests (analysis_id, comparison_idx, kind, method, units, diff, ci_low, ci_high, ci_method, p_value, p_adjusted)`, "", tests); err != nil {
		return fmt.Errorf("tests: %w", err)
	}
	rows = rows[:0]
	for i, g := range a.Gates {
		rows = append(rows, []any{id, i, g.Name, g.Probe, g.Target, g.Treatment, g.Baseline, realPtr(g.MaxIncrease), realPtr(g.MinIncrease), g.Alpha, g.Test,
			sqlReal(g.Diff), sqlReal(g.CI.Low), sqlReal(g.CI.High), g.CI.Method, sqlReal(g.PValue), sqlReal(g.PAdjusted), g.Verdict, g.Rule, g.Reason})
	}
	if err := bulkInsert(ctx, tx, `INSERT INTO analysis_gates (analysis_id, idx, name, probe, target, treatment, baseline, max_increase, min_increase, alpha, test,
		diff, ci_low, ci_high, ci_method, p_value, p_adjusted, verdict, rule, reason)`, "", rows); err != nil {
		return fmt.Errorf("gates: %w", err)
	}
	rows = rows[:0]
	for i, r := range a.References {
		rows = append(rows, []any{id, i, r.Probe, r.Target, r.Label, r.Model, r.Condition, sqlReal(r.Rate), realPtr(r.Low), realPtr(r.High), r.Bound, r.Source, r.Note})
	}
	if err := bulkInsert(ctx, tx, `INSERT INTO analysis_references (analysis_id, idx, probe, target, label, model, condition, rate, low, high, bound, source, note)`, "", rows); err != nil {
		return fmt.Errorf("references: %w", err)
	}
	rows = rows[:0]
	for i, n := range a.Notes {
		rows = append(rows, []any{id, i, n})
	}
	if err := bulkInsert(ctx, tx, `INSERT INTO analysis_notes (analysis_id, idx, note)`, "", rows); err != nil {
		return fmt.Errorf("notes: %w", err)
	}
	return nil
}

const analysisColumns = `id, run_id, settings, confidence, p_adjust, fingerprint, format, version, run_status, run_updated_at, created_at`

func scanAnalysis(r scanner, extra ...any) (*StoredAnalysis, error) {
	var a StoredAnalysis
	var updated, created sql.NullString
	dest := append([]any{&a.ID, &a.RunID, &a.Settings, &a.Confidence, &a.Adjust, &a.Fingerprint, &a.Format, &a.Version, &a.RunStatus, &updated, &created}, extra...)
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	a.RunUpdatedAt, a.CreatedAt = parseTime(updated), parseTime(created)
	return &a, nil
}

// AnalysisMatch is what a stored analysis must match to serve a request:
// the same run, settings, input fingerprint, tree format and traitleak
// version.
type AnalysisMatch struct {
	RunID                                  int64
	Settings, Fingerprint, Format, Version string
}

// FindAnalysis returns the newest stored analysis that matches m, with its
// tree but without its figures; ErrNotFound when there is none.
func (s *Store) FindAnalysis(ctx context.Context, m AnalysisMatch) (*StoredAnalysis, error) {
	var tree []byte
	row := s.rdb.QueryRowContext(ctx, `SELECT `+analysisColumns+`, tree FROM analyses
		WHERE run_id = ? AND settings = ? AND fingerprint = ? AND format = ? AND version = ? ORDER BY id DESC LIMIT 1`,
		m.RunID, m.Settings, m.Fingerprint, m.Format, m.Version)
	a, err := scanAnalysis(row, &tree)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("find analysis of run %d: %w", m.RunID, err)
	}
	a.Tree = tree
	return a, nil
}

// LatestAnalyses returns, for every run with a stored analysis of the
// given settings, the newest one (without its tree or figures), by run
// id.
func (s *Store) LatestAnalyses(ctx context.Context, settings string) (map[int64]*StoredAnalysis, error) {
	out := map[int64]*StoredAnalysis{}
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT `+analysisColumns+` FROM analyses
		WHERE id IN (SELECT max(id) FROM analyses WHERE settings = ? GROUP BY run_id)`, settings))(func(r *sql.Rows) error {
		a, err := scanAnalysis(r)
		if err != nil {
			return err
		}
		out[a.RunID] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list stored analyses: %w", err)
	}
	return out, nil
}

// GetAnalysis returns a stored analysis with its tree and all its
// figures.
func (s *Store) GetAnalysis(ctx context.Context, id int64) (*StoredAnalysis, error) {
	var tree []byte
	a, err := scanAnalysis(s.rdb.QueryRowContext(ctx, `SELECT `+analysisColumns+`, tree FROM analyses WHERE id = ?`, id), &tree)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("analysis %d: %w", id, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("analysis %d: %w", id, err)
	}
	a.Tree = tree
	if err := s.ReadFigures(ctx, map[int64]*StoredAnalysis{id: a}, FigureFilter{}); err != nil {
		return nil, err
	}
	return a, nil
}

// FigureFilter narrows the figures ReadFigures reads; an empty field
// matches everything.
type FigureFilter struct {
	Probe, Target string
	// Role keeps the rates of that role, the comparisons and gates with it
	// as treatment.
	Role string
	// Level keeps rates of that level (LevelInstance or LevelRole).
	Level string
}

// where builds the conditions of f on a table's columns.
func (f FigureFilter) where(probe, target, role, level string) (string, []any) {
	var conds []string
	var args []any
	for _, c := range []struct{ col, v string }{{probe, f.Probe}, {target, f.Target}, {role, f.Role}, {level, f.Level}} {
		if c.col != "" && c.v != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " AND " + strings.Join(conds, " AND "), args
}

// ReadFigures reads the figures (methods, rates, comparisons with their
// tests, gates, references and notes) of the analyses in as, by id,
// that match f, appending them to each analysis in report order.
func (s *Store) ReadFigures(ctx context.Context, as map[int64]*StoredAnalysis, f FigureFilter) error {
	if len(as) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(as))
	for id := range as {
		ids = append(ids, id)
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("read analyses: %w", err)
	}
	in := `analysis_id IN (SELECT value FROM json_each(?))`
	if err := s.readMethods(ctx, as, in, string(list)); err != nil {
		return err
	}
	if err := s.readRates(ctx, as, in, string(list), f); err != nil {
		return err
	}
	if err := s.readComparisons(ctx, as, in, string(list), f); err != nil {
		return err
	}
	if err := s.readGates(ctx, as, in, string(list), f); err != nil {
		return err
	}
	if err := s.readReferences(ctx, as, in, string(list), f); err != nil {
		return err
	}
	return s.readNotes(ctx, as, in, string(list))
}

// byAnalysis returns the analysis of a figure row's analysis_id.
func byAnalysis(as map[int64]*StoredAnalysis, id int64) (*StoredAnalysis, error) {
	a := as[id]
	if a == nil {
		return nil, fmt.Errorf("figure of analysis %d, which was not asked for", id)
	}
	return a, nil
}

func (s *Store) readMethods(ctx context.Context, as map[int64]*StoredAnalysis, in, list string) error {
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT analysis_id, name, used_for FROM analysis_methods WHERE `+in+` ORDER BY analysis_id, idx`, list))(
		func(r *sql.Rows) error {
			var id int64
			var m MethodRow
			if err := r.Scan(&id, &m.Name, &m.UsedFor); err != nil {
				return err
			}
			a, err := byAnalysis(as, id)
			if err != nil {
				return err
			}
			a.Methods = append(a.Methods, m)
			return nil
		})
	if err != nil {
		return fmt.Errorf("read analysis methods: %w", err)
	}
	return nil
}

func (s *Store) readRates(ctx context.Context, as map[int64]*StoredAnalysis, in, list string, f FigureFilter) error {
	cond, args := f.where("probe", "target", "role", "level")
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT analysis_id, level, probe, target, role, seed, condition, seeds, n, hits, failed, missing, invalid,
		rate, ci_low, ci_high, ci_method, cl_clusters, cl_se, cl_design_effect, cl_low, cl_high, cl_method, sm_mean, sm_low, sm_high, sm_method, sm_values
		FROM analysis_rates WHERE `+in+cond+` ORDER BY analysis_id, idx`, append([]any{list}, args...)...))(
		func(r *sql.Rows) error {
			var id int64
			var x RateRow
			var invalid, clMethod, smMethod, smValues sql.NullString
			var clusters sql.NullInt64
			var rate, lo, hi, clSE, clDE, clLo, clHi, smMean, smLo, smHi sql.NullFloat64
			if err := r.Scan(&id, &x.Level, &x.Probe, &x.Target, &x.Role, &x.Seed, &x.Condition, &x.Seeds, &x.N, &x.Hits, &x.Failed, &x.Missing, &invalid,
				&rate, &lo, &hi, &x.CI.Method, &clusters, &clSE, &clDE, &clLo, &clHi, &clMethod, &smMean, &smLo, &smHi, &smMethod, &smValues); err != nil {
				return err
			}
			x.Rate, x.CI.Low, x.CI.High = nanIfNull(rate), nanIfNull(lo), nanIfNull(hi)
			if invalid.Valid {
				if err := json.Unmarshal([]byte(invalid.String), &x.Invalid); err != nil {
					return fmt.Errorf("invalid counts: %w", err)
				}
			}
			if clusters.Valid {
				x.Clustered = &ClusterRow{Clusters: int(clusters.Int64), SE: nanIfNull(clSE), DesignEffect: nanIfNull(clDE),
					CI: Interval{Low: nanIfNull(clLo), High: nanIfNull(clHi), Method: clMethod.String}}
			}
			if smMethod.Valid {
				m := &SeedMeanRow{Mean: nanIfNull(smMean), CI: Interval{Low: nanIfNull(smLo), High: nanIfNull(smHi), Method: smMethod.String}}
				var vals []*float64
				if err := json.Unmarshal([]byte(smValues.String), &vals); err != nil {
					return fmt.Errorf("seed rates: %w", err)
				}
				for _, v := range vals {
					if v == nil {
						m.Values = append(m.Values, math.NaN())
					} else {
						m.Values = append(m.Values, *v)
					}
				}
				x.SeedMean = m
			}
			a, err := byAnalysis(as, id)
			if err != nil {
				return err
			}
			a.Rates = append(a.Rates, x)
			return nil
		})
	if err != nil {
		return fmt.Errorf("read analysis rates: %w", err)
	}
	return nil
}

func (s *Store) readComparisons(ctx context.Context, as map[int64]*StoredAnalysis, in, list string, f FigureFilter) error {
	cond, args := f.where("c.probe", "c.target", "c.treatment", "")
	// One row per test; a comparison's rows are consecutive, pooled
	// first.
	type key struct{ id, idx int64 }
	at := map[key]int{} // position of the comparison in its analysis
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT c.analysis_id, c.idx, c.probe, c.target, c.treatment, c.baseline, c.treatment_rate, c.baseline_rate,
			c.treatment_n, c.baseline_n, c.diff, c.cohen_h, c.odds_ratio, c.or_low, c.or_high, c.or_method,
			t.kind, t.method, t.units, t.diff, t.ci_low, t.ci_high, t.ci_method, t.p_value, t.p_adjusted
		FROM analysis_comparisons c
		LEFT JOIN analysis_tests t ON t.analysis_id = c.analysis_id AND t.comparison_idx = c.idx
		WHERE c.`+in+cond+`
		ORDER BY c.analysis_id, c.idx, CASE t.kind WHEN 'pooled' THEN 0 WHEN 'paired' THEN 1 ELSE 2 END`, append([]any{list}, args...)...))(
		func(r *sql.Rows) error {
			var id, idx int64
			var c ComparisonRow
			var tRate, bRate, diff, h, or, orLo, orHi sql.NullFloat64
			var kind, method, ciMethod sql.NullString
			var units sql.NullInt64
			var tDiff, lo, hi, p, pAdj sql.NullFloat64
			if err := r.Scan(&id, &idx, &c.Probe, &c.Target, &c.Treatment, &c.Baseline, &tRate, &bRate, &c.TreatmentN, &c.BaselineN, &diff, &h, &or, &orLo, &orHi,
				&c.OddsRatioCI.Method, &kind, &method, &units, &tDiff, &lo, &hi, &ciMethod, &p, &pAdj); err != nil {
				return err
			}
			a, err := byAnalysis(as, id)
			if err != nil {
				return err
			}
			k := key{id, idx}
			i, ok := at[k]
			if !ok {
				c.TreatmentRate, c.BaselineRate, c.Diff, c.CohenH, c.OddsRatio = nanIfNull(tRate), nanIfNull(bRate), nanIfNull(diff), nanIfNull(h), nanIfNull(or)
				c.OddsRatioCI.Low, c.OddsRatioCI.High = nanIfNull(orLo), nanIfNull(orHi)
				i = len(a.Comparisons)
				at[k] = i
				a.Comparisons = append(a.Comparisons, c)
			}
			if kind.Valid {
				a.Comparisons[i].Tests = append(a.Comparisons[i].Tests, TestRow{Kind: kind.String, Method: method.String, Units: int(units.Int64),
					Diff: nanIfNull(tDiff), CI: Interval{Low: nanIfNull(lo), High: nanIfNull(hi), Method: ciMethod.String},
					PValue: nanIfNull(p), PAdjusted: nanIfNull(pAdj)})
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("read analysis comparisons: %w", err)
	}
	return nil
}

func (s *Store) readGates(ctx context.Context, as map[int64]*StoredAnalysis, in, list string, f FigureFilter) error {
	cond, args := f.where("probe", "target", "treatment", "")
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT analysis_id, name, probe, target, treatment, baseline, max_increase, min_increase, alpha, test,
		diff, ci_low, ci_high, ci_method, p_value, p_adjusted, verdict, rule, reason
		FROM analysis_gates WHERE `+in+cond+` ORDER BY analysis_id, idx`, append([]any{list}, args...)...))(
		func(r *sql.Rows) error {
			var id int64
			var g GateRow
			var maxInc, minInc, diff, lo, hi, p, pAdj sql.NullFloat64
			if err := r.Scan(&id, &g.Name, &g.Probe, &g.Target, &g.Treatment, &g.Baseline, &maxInc, &minInc, &g.Alpha, &g.Test,
				&diff, &lo, &hi, &g.CI.Method, &p, &pAdj, &g.Verdict, &g.Rule, &g.Reason); err != nil {
				return err
			}
			g.MaxIncrease, g.MinIncrease = ptrIfValid(maxInc), ptrIfValid(minInc)
			g.Diff, g.CI.Low, g.CI.High, g.PValue, g.PAdjusted = nanIfNull(diff), nanIfNull(lo), nanIfNull(hi), nanIfNull(p), nanIfNull(pAdj)
			a, err := byAnalysis(as, id)
			if err != nil {
				return err
			}
			a.Gates = append(a.Gates, g)
			return nil
		})
	if err != nil {
		return fmt.Errorf("read analysis gates: %w", err)
	}
	return nil
}

func (s *Store) readReferences(ctx context.Context, as map[int64]*StoredAnalysis, in, list string, f FigureFilter) error {
	cond, args := f.where("probe", "target", "", "")
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT analysis_id, probe, target, label, model, condition, rate, low, high, bound, source, note
		FROM analysis_references WHERE `+in+cond+` ORDER BY analysis_id, idx`, append([]any{list}, args...)...))(
		func(r *sql.Rows) error {
			var id int64
			var x PublishedRow
			var rate, lo, hi sql.NullFloat64
			if err := r.Scan(&id, &x.Probe, &x.Target, &x.Label, &x.Model, &x.Condition, &rate, &lo, &hi, &x.Bound, &x.Source, &x.Note); err != nil {
				return err
			}
			x.Rate, x.Low, x.High = nanIfNull(rate), ptrIfValid(lo), ptrIfValid(hi)
			a, err := byAnalysis(as, id)
			if err != nil {
				return err
			}
			a.References = append(a.References, x)
			return nil
		})
	if err != nil {
		return fmt.Errorf("read analysis references: %w", err)
	}
	return nil
}

func (s *Store) readNotes(ctx context.Context, as map[int64]*StoredAnalysis, in, list string) error {
	err := queryEach(s.rdb.QueryContext(ctx, `SELECT analysis_id, note FROM analysis_notes WHERE `+in+` ORDER BY analysis_id, idx`, list))(
		func(r *sql.Rows) error {
			var id int64
			var n string
			if err := r.Scan(&id, &n); err != nil {
				return err
			}
			a, err := byAnalysis(as, id)
			if err != nil {
				return err
			}
			a.Notes = append(a.Notes, n)
			return nil
		})
	if err != nil {
		return fmt.Errorf("read analysis notes: %w", err)
	}
	return nil
}

// fingerprintVersion names the recipe of Fingerprint; change it whenever
// the recipe changes, so that no old fingerprint matches a new one by
// chance.
const fingerprintVersion = "traitleak-inputs/1"

// Fingerprint digests everything an analysis of a run is computed from,
// as SHA-256 in hex: the run's record (status, message, timestamps,
// suite), its model instances, prompts and scorers, and, over its planned
// draws, exact integer sums of the stored samples (which draws are
// stored, which failed, their row ids, tokens, latencies and attempts),
// of their scores under the run's scorers (valid, hit, value and label,
// weighted by sample id) and of the judge calls behind them. It changes
// whenever a draw is stored, a failure is replaced by a success, a score
// is written or rewritten, a judge call lands, or the run is resumed or
// finished; it is the same for the same data, and costs one pass over
// the run's draws in SQL (no row reaches Go).
func (s *Store) Fingerprint(ctx context.Context, runID int64) (string, error) {
	run, err := s.GetRun(ctx, runID)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00run %d\x00%s\x00%s\x00%s\x00%s\x00%s\x00%d\x00%s\x00%s\x00%s\x00%s\x00%s\x00",
		fingerprintVersion, run.ID, run.SuiteName, run.SuiteHash, run.SuiteSource, run.Salt, run.Status, run.Planned, run.Message, run.Version,
		formatTime(run.CreatedAt), formatTime(run.UpdatedAt), formatTime(run.FinishedAt))
	h.Write([]byte(run.SuiteJSON))
	queries := []struct{ what, sql string }{
		{"record", `SELECT (SELECT count(*) FROM models WHERE run_id = ?1), (SELECT count(*) FROM prompts WHERE run_id = ?1),
			(SELECT count(*) || ':' || coalesce(group_concat(x, ','), '') FROM (SELECT probe || '=' || scorer_id || ':' || targets AS x FROM run_scorers WHERE run_id = ?1 ORDER BY idx))`},
		// One pass over the run's draws, their samples and their scores
		// under the run's scorers: a sample's columns are summed once per
		// score row, which changes with the samples and the scores alike.
		{"draws", `SELECT count(*), count(s.id), count(s.error), coalesce(sum(s.id), 0), coalesce(sum(s.id * (rs.idx + 1)), 0),
			coalesce(sum(s.prompt_tokens), 0), coalesce(sum(s.completion_tokens), 0), coalesce(sum(CAST(round(s.latency_ms * 1000) AS INTEGER)), 0),
			coalesce(sum(s.attempts), 0), coalesce(sum(length(s.completion)), 0), coalesce(sum(s.http_status), 0),
			count(sc.sample_id), coalesce(sum(sc.valid), 0), coalesce(sum(sc.hit), 0), coalesce(sum(sc.valid * sc.sample_id), 0),
			coalesce(sum(sc.hit * sc.sample_id), 0), coalesce(sum(CAST(round(sc.value * 1000000) AS INTEGER)), 0), count(sc.value),
			coalesce(sum(length(sc.label) * sc.sample_id), 0), coalesce(sum(length(sc.target) * sc.sample_id), 0)
			FROM run_samples rs
			LEFT JOIN samples s ON ` + sampleOf + `
			LEFT JOIN scores sc ON sc.sample_id = s.id AND s.error IS NULL AND sc.scorer_id IN (SELECT scorer_id FROM run_scorers WHERE run_id = ?1)
			WHERE rs.run_id = ?1`},
	}
	for _, q := range queries {
		rows, err := s.rdb.QueryContext(ctx, q.sql, runID)
		if err != nil {
			return "", fmt.Errorf("fingerprint of run %d: %s: %w", runID, q.what, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return "", fmt.Errorf("fingerprint of run %d: %s: %w", runID, q.what, err)
		}
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if !rows.Next() {
			rows.Close()
			return "", fmt.Errorf("fingerprint of run %d: %s: no row", runID, q.what)
		}
		err = rows.Scan(ptrs...)
		rows.Close()
		if err != nil {
			return "", fmt.Errorf("fingerprint of run %d: %s: %w", runID, q.what, err)
		}
		fmt.Fprintf(h, "%s", q.what)
		for _, v := range vals {
			fmt.Fprintf(h, "\x00%t:%s", v.Valid, v.String)
		}
		h.Write([]byte{0})
	}
	usage, err := s.JudgeUsage(ctx, runID)
	if err != nil {
		return "", fmt.Errorf("fingerprint of run %d: %w", runID, err)
	}
	for _, u := range usage {
		fmt.Fprintf(h, "judge\x00%s\x00%d\x00%d\x00%d\x00%d\x00", u.Judge, u.Calls, u.Failed, u.PromptTokens, u.CompletionTokens)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// RunModels returns the model instances of each of runIDs, in plan
// order, by run id: one query for many runs.
func (s *Store) RunModels(ctx context.Context, runIDs []int64) (map[int64][]InstanceRow, error) {
	out := map[int64][]InstanceRow{}
	if len(runIDs) == 0 {
		return out, nil
	}
	list, err := json.Marshal(runIDs)
	if err != nil {
		return nil, fmt.Errorf("models of runs: %w", err)
	}
	err = queryEach(s.rdb.QueryContext(ctx, `SELECT run_id, id, idx, role, seed, condition, base_url, model, settings FROM models
		WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY run_id, idx`, string(list)))(func(r *sql.Rows) error {
		var runID int64
		var m InstanceRow
		if err := r.Scan(&runID, &m.ID, &m.Index, &m.Role, &m.Seed, &m.Condition, &m.BaseURL, &m.ModelID, &m.Settings); err != nil {
			return err
		}
		out[runID] = append(out[runID], m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("models of runs: %w", err)
	}
	return out, nil
}
