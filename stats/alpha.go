package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Metrics accepted by KrippendorffAlpha: the difference functions δ²(c, k)
// of Krippendorff (2011) for nominal and interval data.
const (
	AlphaNominal  = "nominal"  // δ²(c, k) = 0 if c = k, else 1: categories, e.g. verdict codes
	AlphaInterval = "interval" // δ²(c, k) = (c - k)²: scores on an interval scale
)

// AlphaResult is Krippendorff's (2011) alpha for reliability data,
// α = 1 - D_o/D_e, with a percentile bootstrap interval over units.
type AlphaResult struct {
	Metric string  // AlphaNominal or AlphaInterval
	Alpha  float64 // 1 - DO/DE
	DO, DE float64 // observed and expected disagreement
	// NPairable is n, the number of values in units with at least two
	// values; Units is the number of such units (the ones resampled by the
	// bootstrap) and Dropped the number of units with fewer than two.
	NPairable, Units, Dropped int
	// CI is the percentile bootstrap interval over units (Estimate = Alpha);
	// with reps = 0 no bootstrap is run and its bounds are NaN.
	CI       Interval
	Warnings []string
}

// alphaUnit is one pairable unit, summarized for resampling.
type alphaUnit struct {
	vals   []float64 // its non-missing values
	cats   []int     // nominal metric: index of each value among the distinct values
	within float64   // Σ_{i≠j} δ²(v_i, v_j) / (m - 1)
}

// KrippendorffAlpha returns Krippendorff's alpha (Krippendorff 2011,
// "Computing Krippendorff's Alpha-Reliability", Annenberg School for
// Communication Departmental Paper 43) for reliability data given by unit:
// units[u] lists the values that the coders (e.g. LLM judges) gave unit u,
// NaN for a coder who gave none. Coder order within a unit does not
// matter and rows may differ in length. This is the transpose of
// Krippendorff's coders-by-units table. metric is AlphaNominal
// (δ²(c,k) = [c ≠ k], values are category codes compared exactly) or
// AlphaInterval (δ²(c,k) = (c - k)²).
//
// Units with fewer than two values cannot be paired and are dropped, as
// Krippendorff does; the remaining units have m_u ≥ 2 values and n = Σ m_u
// pairable values. From the coincidence matrix o_ck = Σ_u (number of
// ordered pairs (c, k) of values from different coders in u)/(m_u - 1) and
// its margins n_c:
//
//	D_o = (1/n) Σ_c Σ_k o_ck δ²(c,k) = (1/n) Σ_u Σ_{i≠j∈u} δ²(v_i, v_j)/(m_u - 1),
//	D_e = (1/(n(n-1))) Σ_c Σ_k n_c n_k δ²(c,k),
//	α   = 1 - D_o/D_e.
//
// The matrix is not formed: D_o sums the pairs within each unit, and D_e
// is (n² - Σ_c n_c²)/(n(n-1)) for the nominal metric and 2·SS/(n-1) for the
// interval metric, SS the centred sum of squares of all n pairable values.
//
// The interval is the percentile bootstrap over units (BootstrapPercentile
// with n = Units): reps resamples of the pairable units drawn with
// replacement from rng, α recomputed on each (D_e included), bounds the
// (1-conf)/2 and (1+conf)/2 quantiles; resamples without variation (α
// undefined) are dropped and counted in a warning, and if fewer than two
// are left the bounds stay NaN with a warning. Resampling whole units
// keeps the dependence between a unit's values. It is not the bootstrap of
// Hayes & Krippendorff (2007, Communication Methods and Measures 1:77) in
// their KALPHA macro, which resamples pairs of values from the
// coincidences with D_e held fixed; the two intervals differ. With reps =
// 0 no bootstrap is run (rng may be nil, conf is not checked) and the CI
// bounds are NaN.
//
// α = 1 is perfect agreement, 0 agreement at chance level; it can be
// negative. If every pairable value is the same, D_o = D_e = 0 and α is NaN
// with a warning. Errors on no units, no unit with two values, infinite
// values, an unknown metric, reps < 0 or 1, and, when reps > 0, a nil rng
// or conf outside (0, 1).
func KrippendorffAlpha(units [][]float64, metric string, conf float64, reps int, rng *rand.Rand) (AlphaResult, error) {
	if err := checkAlphaArgs(metric, conf, reps, rng); err != nil {
		return AlphaResult{}, err
	}
	if len(units) == 0 {
		return AlphaResult{}, fmt.Errorf("krippendorff alpha: no units")
	}
	r := AlphaResult{Metric: metric}
	var pu []alphaUnit
	catIndex := map[float64]int{} // nominal: distinct values seen so far
	for u, row := range units {
		unit, ok, err := pairableUnit(u, row, metric, catIndex)
		if err != nil {
			return AlphaResult{}, err
		}
		if !ok {
			r.Dropped++
			continue
		}
		pu = append(pu, unit)
		r.NPairable += len(unit.vals)
	}
	r.Units = len(pu)
	if r.Units == 0 {
		return AlphaResult{}, fmt.Errorf("krippendorff alpha: no unit has two or more values, nothing is pairable")
	}
	all := make([]int, len(pu))
	for i := range all {
		all[i] = i
	}
	scratch := alphaScratch{counts: make([]int, len(catIndex))}
	r.Alpha, r.DO, r.DE = alphaOf(pu, all, metric, &scratch)
	if r.Dropped > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d of %d units have fewer than two values and were dropped", r.Dropped, len(units)))
	}
	if r.DE == 0 {
		r.Warnings = append(r.Warnings, "every pairable value is the same: there is no variation and alpha is undefined (NaN)")
	}
	r.CI = Interval{Estimate: r.Alpha, Lower: math.NaN(), Upper: math.NaN(), Method: "none (no bootstrap)"}
	if reps > 0 {
		iv, err := BootstrapPercentile(len(pu), reps, conf, rng, func(idx []int) float64 {
			a, _, _ := alphaOf(pu, idx, metric, &scratch)
			return a
		})
		r.setBootstrap(iv, err, conf)
	}
	r.CI.Warnings = r.Warnings
	return r, nil
}

// setBootstrap records the percentile bootstrap interval over units, or,
// when there is none (err), why, keeping the interval without bounds.
func (r *AlphaResult) setBootstrap(iv Interval, err error, conf float64) {
	if err != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("no bootstrap interval: %v", err))
		r.CI.Confidence = conf
		return
	}
	iv.Method = "percentile bootstrap over units"
	r.Warnings = append(r.Warnings, iv.Warnings...)
	r.CI = iv
}

// withinDisagreement returns Σ_{i≠j} δ²(v_i, v_j)/(m - 1) for one unit's
// m ≥ 2 values, summing the unordered pairs directly (differences of
// nearby values are exact, so no digits are lost to a large common
// offset).
func withinDisagreement(vals []float64, metric string) float64 {
	s := 0.0
	for i := range vals {
		for j := i + 1; j < len(vals); j++ {
			if metric == AlphaNominal {
				if vals[i] != vals[j] {
					s++
				}
			} else {
				d := vals[i] - vals[j]
				s += d * d
			}
		}
	}
	return 2 * s / float64(len(vals)-1)
}

// alphaScratch is reused between bootstrap replicates.
type alphaScratch struct {
	vals   []float64 // interval: the pooled values
	counts []int     // nominal: n_c by category index
}

// alphaOf returns α, D_o and D_e for the units pu[idx[0]], pu[idx[1]], …
// (repeats allowed).
func alphaOf(pu []alphaUnit, idx []int, metric string, s *alphaScratch) (alpha, do, de float64) {
	n := 0
	within := 0.0
	for _, i := range idx {
		n += len(pu[i].vals)
		within += pu[i].within
	}
	fn := float64(n)
	do = within / fn
	if metric == AlphaNominal {
		clear(s.counts)
		for _, i := range idx {
			for _, c := range pu[i].cats {
				s.counts[c]++
			}
		}
		var sq int64
		for _, c := range s.counts {
			sq += int64(c) * int64(c)
		}
		de = float64(int64(n)*int64(n)-sq) / (fn * (fn - 1))
	} else {
		s.vals = s.vals[:0]
		for _, i := range idx {
			s.vals = append(s.vals, pu[i].vals...)
		}
		_, ss := meanSS(s.vals)
		de = 2 * ss / (fn - 1)
	}
	if de == 0 {
		return math.NaN(), do, de
	}
	return 1 - do/de, do, de
}

// checkAlphaArgs checks the arguments both alphas share: the metric, the
// number of bootstrap resamples (0 or at least 2), and, when there are
// resamples, their random source and confidence level.
func checkAlphaArgs(metric string, conf float64, reps int, rng *rand.Rand) error {
	if metric != AlphaNominal && metric != AlphaInterval {
		return fmt.Errorf("krippendorff alpha: unknown metric %q (want %q or %q)", metric, AlphaNominal, AlphaInterval)
	}
	switch {
	case reps < 0 || reps == 1:
		return fmt.Errorf("krippendorff alpha: reps=%d: want 0 (no bootstrap) or at least 2", reps)
	case reps > 0 && rng == nil:
		return fmt.Errorf("krippendorff alpha: bootstrap needs a random source")
	}
	if reps > 0 {
		if err := checkConf(conf); err != nil {
			return fmt.Errorf("krippendorff alpha: %w", err)
		}
	}
	return nil
}

// pairableUnit makes unit u of its row of values (NaN for missing): ok is
// false when fewer than two values are present, so that the unit cannot
// be paired; an infinite value is an error. For the nominal metric it
// numbers each value among the distinct values in catIndex, adding the
// new ones.
func pairableUnit(u int, row []float64, metric string, catIndex map[float64]int) (alphaUnit, bool, error) {
	var vals []float64
	for c, v := range row {
		if math.IsInf(v, 0) {
			return alphaUnit{}, false, fmt.Errorf("krippendorff alpha: units[%d][%d]=%v is not finite (use NaN for missing)", u, c, v)
		}
		if !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	if len(vals) < 2 {
		return alphaUnit{}, false, nil
	}
	unit := alphaUnit{vals: vals, within: withinDisagreement(vals, metric)}
	if metric == AlphaNominal {
		unit.cats = make([]int, len(vals))
		for i, v := range vals {
			c, ok := catIndex[v]
			if !ok {
				c = len(catIndex)
				catIndex[v] = c
			}
			unit.cats[i] = c
		}
	}
	return unit, true, nil
}
