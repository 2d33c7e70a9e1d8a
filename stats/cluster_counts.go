package stats

import (
	"fmt"
	"math"
)

// ClusteredMeanCounts is ClusteredMean of 0/1 values given as counts:
// cluster i, labelled labels[i], holds n[i] values of which hits[i] are 1,
// listed ones first; a cluster of no values is no cluster. The result is ClusteredMean of that list, bit for
// bit: the same sums are taken in the same order, one value at a time,
// without the list (a rate over a million draws holds a few counts per
// prompt, not a million values and labels). Errors as ClusteredMean's,
// and on mismatched lengths or counts with hits[i] outside [0, n[i]].
func ClusteredMeanCounts(hits, n []int, labels []string, conf float64) (ClusteredMeanResult, error) {
	if len(hits) != len(n) || len(n) != len(labels) {
		return ClusteredMeanResult{}, fmt.Errorf("cluster_se: %d hit counts, %d value counts and %d cluster labels", len(hits), len(n), len(labels))
	}
	total := 0
	for i := range n {
		if n[i] < 0 || hits[i] < 0 || hits[i] > n[i] {
			return ClusteredMeanResult{}, fmt.Errorf("cluster_se: cluster %s: %d hits of %d values", labels[i], hits[i], n[i])
		}
		total += n[i]
	}
	if total == 0 {
		return ClusteredMeanResult{}, fmt.Errorf("cluster_se: empty input")
	}
	if err := checkConf(conf); err != nil {
		return ClusteredMeanResult{}, fmt.Errorf("cluster_se: %w", err)
	}
	// each calls f for every value, in list order, with its cluster.
	each := func(f func(v float64, i int)) {
		for i := range n {
			for k := range n[i] {
				v := 0.0
				if k < hits[i] {
					v = 1
				}
				f(v, i)
			}
		}
	}
	fn := float64(total)
	var mean float64
	if total == 1 {
		each(func(v float64, _ int) { mean = v })
	} else {
		// meanSS's mean: the sum, then R's second-pass refinement.
		s := 0.0
		each(func(v float64, _ int) { s += v })
		mean = s / fn
		c := 0.0
		each(func(v float64, _ int) { c += v - mean })
		mean += c / fn
	}
	sums := map[string]float64{}
	var order []string
	ss := 0.0
	each(func(v float64, i int) {
		e := v - mean
		ss += e * e
		if _, ok := sums[labels[i]]; !ok {
			order = append(order, labels[i])
		}
		sums[labels[i]] += e
	})
	return clusteredResult(total, mean, ss, order, sums, conf), nil
}

// clusteredResult finishes ClusteredMean from n values with mean, the sum
// of their squared residuals ss and the residual sums of each cluster in
// order of first appearance.
func clusteredResult(n int, mean, ss float64, order []string, sums map[string]float64, conf float64) ClusteredMeanResult {
	fn := float64(n)
	g := len(order)
	meat := 0.0
	if g > 1 { // with one cluster Σe = 0 exactly; skip the rounding residue
		for _, c := range order {
			meat += sums[c] * sums[c]
		}
	}
	r := ClusteredMeanResult{N: n, Clusters: g, Mean: mean}
	r.SECR0 = math.Sqrt(meat) / fn
	r.SECR1 = r.SECR0 * math.Sqrt(float64(g)/float64(g-1))
	r.SEIIDPop = math.Sqrt(ss / fn / fn)
	r.SEIIDSample = math.Sqrt(ss / (fn - 1) / fn)
	// Miller: SE_CLT² + (1/n²)·Σ_g Σ_{i≠j} e_i e_j, and
	// Σ_{i≠j∈g} e_i e_j = (Σ_{i∈g} e_i)² - Σ_{i∈g} e_i².
	r.SEMiller = math.Sqrt(ss/(fn-1)/fn + (meat-ss)/(fn*fn))
	r.DesignEffect = meat / ss
	z := zTwoSided(conf)
	r.CR0 = Interval{Estimate: mean, Lower: mean - z*r.SECR0, Upper: mean + z*r.SECR0, Confidence: conf, Method: "cluster-robust CR0, normal"}
	r.CR1 = Interval{Estimate: mean, Lower: mean - z*r.SECR1, Upper: mean + z*r.SECR1, Confidence: conf, Method: "cluster-robust CR1, normal"}
	if g < 2 {
		r.Warnings = append(r.Warnings, "only one cluster: the cluster-robust SE is undefined")
	} else if g < 30 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("G=%d clusters: cluster-robust SEs are biased down with few clusters; prefer CR1 and a t critical value with G-1 df", g))
	}
	if n == 1 {
		r.Warnings = append(r.Warnings, "n=1: no variance can be estimated")
	}
	r.CR0.Warnings, r.CR1.Warnings = r.Warnings, r.Warnings
	return r
}
