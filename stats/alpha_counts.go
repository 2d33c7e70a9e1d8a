package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// AlphaCount is a unit of reliability data with the number of units
// that have the same values: Values as one row of KrippendorffAlpha's
// units (NaN for a coder who gave none), Count ≥ 0 such units.
type AlphaCount struct {
	Values []float64
	Count  int
}

// KrippendorffAlphaCounts is KrippendorffAlpha for units given as counts
// of distinct units: the result is KrippendorffAlpha's for the units
// listed Count times each (α, D_o, D_e, NPairable, Units, Dropped and the
// warnings, up to the rounding of sums taken in another order), in
// memory and time that grow with the distinct units, not with their
// number. The bootstrap differs in its draws, not in its law: a
// resample of the N pairable units drawn with replacement has, of each
// distinct unit, a count that is multinomial (N, count/N), and each
// replicate draws these counts directly (binomialDraw, one per distinct
// unit) instead of N indices. So the interval is the same percentile
// bootstrap over units, but another draw of it than KrippendorffAlpha's
// from the same rng. Errors as KrippendorffAlpha's, and on a negative
// count.
func KrippendorffAlphaCounts(units []AlphaCount, metric string, conf float64, reps int, rng *rand.Rand) (AlphaResult, error) {
	if err := checkAlphaArgs(metric, conf, reps, rng); err != nil {
		return AlphaResult{}, err
	}
	total := 0
	for u, c := range units {
		if c.Count < 0 {
			return AlphaResult{}, fmt.Errorf("krippendorff alpha: units[%d] counted %d times", u, c.Count)
		}
		total += c.Count
	}
	if total == 0 {
		return AlphaResult{}, fmt.Errorf("krippendorff alpha: no units")
	}
	r := AlphaResult{Metric: metric}
	var pu []alphaUnit
	var weights []int
	catIndex := map[float64]int{}
	for u, row := range units {
		if row.Count == 0 {
			continue
		}
		unit, ok, err := pairableUnit(u, row.Values, metric, catIndex)
		if err != nil {
			return AlphaResult{}, err
		}
		if !ok {
			r.Dropped += row.Count
			continue
		}
		pu = append(pu, unit)
		weights = append(weights, row.Count)
		r.NPairable += row.Count * len(unit.vals)
		r.Units += row.Count
	}
	if r.Units == 0 {
		return AlphaResult{}, fmt.Errorf("krippendorff alpha: no unit has two or more values, nothing is pairable")
	}
	scratch := alphaScratch{counts: make([]int, len(catIndex))}
	r.Alpha, r.DO, r.DE = alphaOfCounts(pu, weights, metric, &scratch)
	if r.Dropped > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d of %d units have fewer than two values and were dropped", r.Dropped, total))
	}
	if r.DE == 0 {
		r.Warnings = append(r.Warnings, "every pairable value is the same: there is no variation and alpha is undefined (NaN)")
	}
	r.CI = Interval{Estimate: r.Alpha, Lower: math.NaN(), Upper: math.NaN(), Method: "none (no bootstrap)"}
	if reps > 0 {
		draw := make([]int, len(weights))
		vals := make([]float64, 0, reps)
		for range reps {
			multinomialDraw(rng, r.Units, weights, draw)
			if a, _, _ := alphaOfCounts(pu, draw, metric, &scratch); !math.IsNaN(a) && !math.IsInf(a, 0) {
				vals = append(vals, a)
			}
		}
		iv, err := percentileOf(r.Alpha, vals, reps, r.Units, conf)
		r.setBootstrap(iv, err, conf)
	}
	r.CI.Warnings = r.Warnings
	return r, nil
}

// alphaOfCounts is alphaOf for the units pu[t] taken w[t] times each.
func alphaOfCounts(pu []alphaUnit, w []int, metric string, s *alphaScratch) (alpha, do, de float64) {
	n := 0
	within := 0.0
	for t, u := range pu {
		n += w[t] * len(u.vals)
		within += float64(w[t]) * u.within
	}
	fn := float64(n)
	do = within / fn
	if metric == AlphaNominal {
		clear(s.counts)
		for t, u := range pu {
			for _, c := range u.cats {
				s.counts[c] += w[t]
			}
		}
		var sq int64
		for _, c := range s.counts {
			sq += int64(c) * int64(c)
		}
		de = float64(int64(n)*int64(n)-sq) / (fn * (fn - 1))
	} else {
		// meanSS of the pooled values, each unit's weighted.
		sum := 0.0
		for t, u := range pu {
			for _, v := range u.vals {
				sum += float64(w[t]) * v
			}
		}
		mean := sum / fn
		c := 0.0
		for t, u := range pu {
			for _, v := range u.vals {
				c += float64(w[t]) * (v - mean)
			}
		}
		mean += c / fn
		ss := 0.0
		for t, u := range pu {
			for _, v := range u.vals {
				d := v - mean
				ss += float64(w[t]) * d * d
			}
		}
		de = 2 * ss / (fn - 1)
	}
	if de == 0 {
		return math.NaN(), do, de
	}
	return 1 - do/de, do, de
}

// multinomialDraw sets out to a draw of Multinomial(n, w/Σw): the counts
// of each category among n draws with replacement from categories of
// weights w (Σw > 0), by one binomial draw per category, each
// conditional on the ones before.
func multinomialDraw(rng *rand.Rand, n int, w, out []int) {
	rest := 0
	for _, x := range w {
		rest += x
	}
	for t, x := range w {
		switch {
		case n == 0 || x == 0:
			out[t] = 0
		case x >= rest:
			out[t] = n
		default:
			out[t] = binomialDraw(rng, n, float64(x)/float64(rest))
		}
		n -= out[t]
		rest -= x
	}
}

// binomialDraw returns a draw of Binomial(n, p), p in [0, 1], by
// inversion from the mode: the uniform draw is matched against the
// probabilities of the mode, then of its neighbours alternately above
// and below it, each from the last by the ratio of successive
// probabilities. Exact up to rounding, in O(√(np(1-p))) steps on
// average.
func binomialDraw(rng *rand.Rand, n int, p float64) int {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - binomialDraw(rng, n, 1-p)
	}
	fn := float64(n)
	m := int(math.Floor((fn + 1) * p))
	m = min(m, n)
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
	pm := math.Exp(lg(n) - lg(m) - lg(n-m) + float64(m)*math.Log(p) + float64(n-m)*math.Log1p(-p))
	u := rng.Float64()
	if u < pm {
		return m
	}
	u -= pm
	odds := p / (1 - p)
	lo, hi, plo, phi := m, m, pm, pm
	for {
		if hi < n && phi > 0 {
			phi *= float64(n-hi) / float64(hi+1) * odds
			hi++
			if u < phi {
				return hi
			}
			u -= phi
		}
		if lo > 0 && plo > 0 {
			plo *= float64(lo) / float64(n-lo+1) / odds
			lo--
			if u < plo {
				return lo
			}
			u -= plo
		}
		if (hi == n || phi == 0) && (lo == 0 || plo == 0) {
			// What rounding left of u: the mode is the likeliest.
			return m
		}
	}
}
