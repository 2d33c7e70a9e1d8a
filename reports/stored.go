package reports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/traitleak/traitleak/results"
)

// Analyses are data: every analysis a command computes of a finished run
// is stored in the results database (results.StoredAnalysis), its figures
// one row each and its whole tree beside them, and a later request with
// the same settings reads it back instead of computing it again, as long
// as the run's data has not changed since (the run's fingerprint, see
// results.Store.Fingerprint). Nothing stored is ever overwritten:
// analysing with other settings, after the data changed, or with another
// traitleak build adds an analysis.

// normalized fills in the defaults of opt: what Analyze uses.
func (o Options) normalized() Options {
	if o.Confidence == 0 {
		o.Confidence = 0.95
	}
	if o.Adjust == "" {
		o.Adjust = "holm"
	}
	return o
}

// Settings returns opt, defaults filled in, as the canonical JSON that a
// stored analysis is matched by: Options{} and Options{Confidence: 0.95,
// Adjust: "holm"} are the same settings.
func Settings(opt Options) string {
	b, err := json.Marshal(opt.normalized())
	if err != nil {
		// Options holds plain numbers and strings; a NaN confidence is
		// refused by the commands before it gets here.
		return fmt.Sprintf("%+v", opt.normalized())
	}
	return string(b)
}

// Record returns the analysis in its stored form: its figures one row
// each and its encoded tree. The caller sets the run's fingerprint,
// status and the traitleak version before storing it.
func (a *Analysis) Record() (*results.StoredAnalysis, error) {
	tree, err := encodeTree(a)
	if err != nil {
		return nil, err
	}
	r := a.figures()
	r.Format, r.Tree = treeFormat, tree
	return r, nil
}

// figures returns the figures of the analysis as they are stored, without
// its tree.
func (a *Analysis) figures() *results.StoredAnalysis {
	r := &results.StoredAnalysis{RunID: a.RunID, Settings: Settings(Options{Confidence: a.Confidence, Adjust: a.Adjust}),
		Confidence: a.Confidence, Adjust: a.Adjust, Notes: a.Notes}
	for _, m := range a.Methods {
		r.Methods = append(r.Methods, results.MethodRow{Name: m.Name, UsedFor: m.Used})
	}
	for _, p := range a.Probes {
		for _, t := range p.Targets {
			for _, x := range t.Results {
				r.Rates = append(r.Rates, results.RateRow{Level: results.LevelInstance, Probe: x.Probe, Target: x.Target, Role: x.Role, Seed: x.Seed,
					Seeds: 1, N: x.N, Hits: x.Hits, Failed: x.Failed, Missing: x.Missing, Invalid: x.Invalid, Rate: float64(x.Rate), CI: interval(x.CI)})
			}
			for _, x := range t.Roles {
				row := results.RateRow{Level: results.LevelRole, Probe: x.Probe, Target: x.Target, Role: x.Role, Condition: x.Condition,
					Seeds: x.Seeds, N: x.N, Hits: x.Hits, Failed: x.Failed, Missing: x.Missing, Invalid: x.Invalid, Rate: float64(x.Rate), CI: interval(x.CI)}
				if c := x.Clustered; c != nil {
					row.Clustered = &results.ClusterRow{Clusters: c.Clusters, SE: float64(c.SE), DesignEffect: float64(c.DesignEffect), CI: interval(c.CI)}
				}
				if m := x.SeedMean; m != nil {
					sm := &results.SeedMeanRow{Mean: float64(m.Mean), CI: interval(m.CI)}
					for _, v := range m.Values {
						sm.Values = append(sm.Values, float64(v))
					}
					row.SeedMean = sm
				}
				r.Rates = append(r.Rates, row)
			}
			for _, ref := range t.References {
				pr := results.PublishedRow{Probe: ref.Probe, Target: ref.Target, Label: ref.Label, Model: ref.ModelName, Condition: ref.Condition,
					Rate: float64(ref.Rate), Bound: ref.Bound, Source: ref.Source, Note: ref.Note}
				if ref.Low != nil {
					lo, hi := float64(*ref.Low), float64(*ref.High)
					pr.Low, pr.High = &lo, &hi
				}
				r.References = append(r.References, pr)
			}
		}
	}
	for _, c := range a.Comparisons {
		row := results.ComparisonRow{Probe: c.Probe, Target: c.Target, Treatment: c.Treatment, Baseline: c.Baseline,
			TreatmentRate: float64(c.TreatmentRate), BaselineRate: float64(c.BaselineRate), TreatmentN: c.TreatmentN, BaselineN: c.BaselineN,
			Diff: float64(c.Diff), CohenH: float64(c.CohenH), OddsRatio: float64(c.OddsRatio), OddsRatioCI: interval(c.OddsRatioCI),
			Tests: []results.TestRow{{Kind: results.TestPooled, Method: c.Test, Diff: float64(c.Diff), CI: interval(c.CI),
				PValue: float64(c.PValue), PAdjusted: float64(c.PAdjusted)}}}
		for _, t := range []struct {
			kind string
			r    *TestResult
		}{{results.TestPaired, c.Paired}, {results.TestSeeds, c.Seeds}} {
			if t.r != nil {
				row.Tests = append(row.Tests, results.TestRow{Kind: t.kind, Method: t.r.Test, Units: t.r.Units, Diff: float64(t.r.Diff),
					CI: interval(t.r.CI), PValue: float64(t.r.PValue), PAdjusted: float64(t.r.PAdjusted)})
			}
		}
		r.Comparisons = append(r.Comparisons, row)
	}
	for _, g := range a.Gates {
		r.Gates = append(r.Gates, results.GateRow{Name: g.Name, Probe: g.Probe, Target: g.Target, Treatment: g.Treatment, Baseline: g.Baseline,
			MaxIncrease: g.MaxIncrease, MinIncrease: g.MinIncrease, Alpha: g.Alpha, Test: g.testLabel(), Diff: float64(g.Diff), CI: interval(g.CI),
			PValue: float64(g.PValue), PAdjusted: float64(g.PAdjusted), Verdict: string(g.Verdict), Rule: g.Rule(), Reason: g.Reason})
	}
	return r
}

func interval(c CI) results.Interval {
	return results.Interval{Low: float64(c.Low), High: float64(c.High), Method: c.Method}
}

// Provenance says where an analysis came from.
type Provenance struct {
	// AnalysisID is the stored analysis it is, or was stored as; 0 when
	// it is not stored.
	AnalysisID int64
	// Reused is true when it was read back from the database rather than
	// computed.
	Reused bool
	// NotStored says why a computed analysis was not stored ("" when it
	// was, or was read back).
	NotStored string
}

// String says in a few words where the analysis came from.
func (p Provenance) String() string {
	switch {
	case p.Reused:
		return fmt.Sprintf("stored analysis %d", p.AnalysisID)
	case p.AnalysisID != 0:
		return fmt.Sprintf("analysed now, stored as analysis %d", p.AnalysisID)
	}
	return "analysed now, not stored: " + p.NotStored
}

// Archive gets the analyses of runs: read back from the results database
// when one with the same settings is stored and the run's data has not
// changed since, else computed and, when the database is writable and the
// run finished, stored.
type Archive struct {
	// Version is the traitleak version that analyses: a stored analysis
	// serves only the same version, and new ones record it.
	Version string
	// Prepare, when set, is applied to a run's data before it is
	// analysed (the command line shows a run whose process is gone as
	// interrupted).
	Prepare func(*RunData)
	// Force computes and stores an analysis even when a matching one is
	// stored.
	Force bool
}

// Analysis returns the analysis of run runID with options opt and where it
// came from. A run still running (or killed while it ran) is analysed but
// not stored, as its data may still change.
func (ar Archive) Analysis(ctx context.Context, st *results.Store, runID int64, opt Options) (*Analysis, Provenance, error) {
	opt = opt.normalized()
	run, err := st.GetRun(ctx, runID)
	if err != nil {
		return nil, Provenance{}, err
	}
	fp, err := st.Fingerprint(ctx, runID)
	if err != nil {
		return nil, Provenance{}, err
	}
	if !ar.Force {
		stored, err := st.FindAnalysis(ctx, results.AnalysisMatch{RunID: runID, Settings: Settings(opt), Fingerprint: fp, Format: treeFormat, Version: ar.Version})
		switch {
		case err == nil:
			a, err := decodeTree(stored.Tree)
			if err != nil {
				return nil, Provenance{}, fmt.Errorf("stored analysis %d of run %d: %w", stored.ID, runID, err)
			}
			return a, Provenance{AnalysisID: stored.ID, Reused: true}, nil
		case !errors.Is(err, results.ErrNotFound):
			return nil, Provenance{}, err
		}
	}
	d, err := Load(ctx, st, runID)
	if err != nil {
		return nil, Provenance{}, err
	}
	if ar.Prepare != nil {
		ar.Prepare(d)
	}
	a, err := Analyze(d, opt)
	if err != nil {
		return nil, Provenance{}, err
	}
	// The chain teacher → student of the students it sampled, if any.
	if a.Lineage, err = LoadLineage(ctx, st, runID); err != nil {
		return nil, Provenance{}, err
	}
	switch {
	case st.ReadOnly():
		return a, Provenance{NotStored: "the database is open read-only"}, nil
	case run.Status == results.StatusRunning:
		return a, Provenance{NotStored: "the run is " + string(a.Status) + ": its data may still change"}, nil
	}
	rec, err := a.Record()
	if err != nil {
		// A figure the tree cannot hold is a bug to fix, not a reason to
		// lose the analysis the command needs.
		return a, Provenance{NotStored: "it cannot be encoded: " + err.Error()}, nil
	}
	rec.Settings, rec.Fingerprint, rec.Version, rec.RunStatus, rec.RunUpdatedAt = Settings(opt), fp, ar.Version, run.Status, run.UpdatedAt
	id, err := st.PutAnalysis(ctx, rec)
	if err != nil {
		return nil, Provenance{}, err
	}
	return a, Provenance{AnalysisID: id}, nil
}
