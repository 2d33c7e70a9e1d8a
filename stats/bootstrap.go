package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// BootstrapPercentile returns the percentile bootstrap interval (Efron &
// Tibshirani 1993, An Introduction to the Bootstrap, §13.3) for a statistic
// without a closed-form interval. stat receives the indices of a resample of
// 0..n-1 drawn with replacement (the same slice is reused between calls) and
// returns the statistic; the estimate is stat on 0..n-1. To resample
// clusters, let the indices range over clusters. The bounds are the
// (1-conf)/2 and (1+conf)/2 quantiles of the reps replicates, R's quantile
// type 7 (linear interpolation, Hyndman & Fan 1996). Replicates that are NaN
// or infinite are dropped and counted in a warning. The result depends only
// on the state of rng, so a seeded source makes it reproducible. Errors on
// n < 1, reps < 2, conf outside (0, 1), a nil rng or stat, or fewer than two
// finite replicates.
func BootstrapPercentile(n, reps int, conf float64, rng *rand.Rand, stat func(idx []int) float64) (Interval, error) {
	switch {
	case n < 1:
		return Interval{}, fmt.Errorf("bootstrap: n=%d must be >= 1", n)
	case reps < 2:
		return Interval{}, fmt.Errorf("bootstrap: reps=%d must be >= 2", reps)
	case rng == nil || stat == nil:
		return Interval{}, fmt.Errorf("bootstrap: nil random source or statistic")
	}
	if err := checkConf(conf); err != nil {
		return Interval{}, fmt.Errorf("bootstrap: %w", err)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	est := stat(idx)
	vals := make([]float64, 0, reps)
	for r := 0; r < reps; r++ {
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		v := stat(idx)
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			vals = append(vals, v)
		}
	}
	return percentileOf(est, vals, reps, n, conf)
}

// quantile7 returns R's type-7 quantile of sorted values s at probability p:
// h = (len-1)·p, s[⌊h⌋] + (h-⌊h⌋)·(s[⌊h⌋+1] - s[⌊h⌋]).
func quantile7(s []float64, p float64) float64 {
	h := float64(len(s)-1) * p
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (h-lo)*(s[i+1]-s[i])
}

// percentileOf is BootstrapPercentile's interval from the finite
// replicates vals of reps over n units (sorted here), with its errors
// and warnings.
func percentileOf(est float64, vals []float64, reps, n int, conf float64) (Interval, error) {
	if len(vals) < 2 {
		return Interval{}, fmt.Errorf("bootstrap: only %d of %d replicates were finite", len(vals), reps)
	}
	sort.Float64s(vals)
	iv := Interval{Estimate: est, Lower: quantile7(vals, (1-conf)/2), Upper: quantile7(vals, (1+conf)/2),
		Confidence: conf, Method: "percentile bootstrap"}
	if dropped := reps - len(vals); dropped > 0 {
		iv.Warnings = append(iv.Warnings, fmt.Sprintf("%d of %d bootstrap replicates were not finite and were dropped", dropped, reps))
	}
	if reps < 1000 {
		iv.Warnings = append(iv.Warnings, fmt.Sprintf("%d bootstrap replicates: percentile bounds are noisy below ~1000", reps))
	}
	if n < 10 {
		iv.Warnings = append(iv.Warnings, fmt.Sprintf("n=%d: the percentile bootstrap undercovers for small samples", n))
	}
	return iv, nil
}
