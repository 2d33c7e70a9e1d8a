package stats

import (
	"fmt"
	"math"
)

// ClusteredMeanResult is the mean of per-sample scores that come in
// clusters (prompts), with cluster-robust and iid standard errors.
type ClusteredMeanResult struct {
	N, Clusters int
	Mean        float64
	SECR0       float64 // sqrt(Σ_g (Σ_{i∈g} e_i)²) / n, e_i = x_i - mean
	SECR1       float64 // SECR0·sqrt(G/(G-1))
	SEMiller    float64 // Miller (2024) clustered SE, with the sample variance
	SEIIDPop    float64 // sqrt(Σe²/n / n)
	SEIIDSample float64 // sqrt(Σe²/(n-1) / n)
	// DesignEffect is SECR0² / SEIIDPop² = Σ_g(Σ_{i∈g} e_i)² / Σ e_i²: the
	// factor by which clustering inflates the variance of the mean.
	DesignEffect float64
	CR0, CR1     Interval // mean ± z·SE, normal critical value
	Warnings     []string
}

// ClusteredMean returns the mean of x (binary 0/1 scores or any real scores)
// with standard errors that allow correlation within clusters, e.g. many
// samples of the same prompt. With e_i = x_i - x̄ and G clusters:
//
//	CR0      = sqrt(Σ_g (Σ_{i∈g} e_i)²) / n   (Liang & Zeger 1986; the
//	           sandwich estimator for the intercept-only regression)
//	CR1      = CR0 · sqrt(G/(G-1))            (small-G correction as in
//	           Cameron & Miller 2015 §VI.B, without the (n-1)/(n-k) factor)
//	Miller   = sqrt(Var(x)/n + (1/n²) Σ_g Σ_{i≠j∈g} e_i e_j), Var the sample
//	           variance Σe²/(n-1) (Miller 2024, "Adding Error Bars to Evals",
//	           arXiv:2411.00640, the clustered standard error of §2); with
//	           the population variance it equals CR0
//	iid      = sqrt(Σe²/n / n) (population variance; = sqrt(p̂(1-p̂)/n) for
//	           binary x) and sqrt(Σe²/(n-1) / n) (sample variance)
//	deff     = CR0² / iid_pop² (Kish 1965)
//
// Intervals are mean ± Φ⁻¹((1+conf)/2)·SE, the normal interval of Miller
// (2024). Cluster labels are arbitrary strings; order does not matter. With
// one cluster CR1 is NaN (0·∞); with constant x every SE is 0 and deff is
// NaN. Errors on empty input, mismatched lengths, non-finite x or conf
// outside (0, 1).
func ClusteredMean(x []float64, cluster []string, conf float64) (ClusteredMeanResult, error) {
	if len(x) == 0 {
		return ClusteredMeanResult{}, fmt.Errorf("cluster_se: empty input")
	}
	if len(x) != len(cluster) {
		return ClusteredMeanResult{}, fmt.Errorf("cluster_se: %d values but %d cluster labels", len(x), len(cluster))
	}
	if err := checkFinite("x", x); err != nil {
		return ClusteredMeanResult{}, fmt.Errorf("cluster_se: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return ClusteredMeanResult{}, fmt.Errorf("cluster_se: %w", err)
	}
	n := len(x)
	var mean float64
	if n == 1 {
		mean = x[0]
	} else {
		mean, _ = meanVar(x)
	}
	sums := map[string]float64{}
	var order []string
	ss := 0.0
	for i, v := range x {
		e := v - mean
		ss += e * e
		if _, ok := sums[cluster[i]]; !ok {
			order = append(order, cluster[i])
		}
		sums[cluster[i]] += e
	}
	return clusteredResult(n, mean, ss, order, sums, conf), nil
}

// PromptRates returns x[j]/n[j] for each prompt j, the per-prompt rates that
// PairedDiff compares. Errors on mismatched lengths or invalid counts.
func PromptRates(x, n []int) ([]float64, error) {
	if len(x) != len(n) {
		return nil, fmt.Errorf("prompt rates: %d success counts but %d trial counts", len(x), len(n))
	}
	out := make([]float64, len(x))
	for j := range x {
		if err := checkCount(x[j], n[j]); err != nil {
			return nil, fmt.Errorf("prompt rates: prompt %d: %w", j, err)
		}
		out[j] = float64(x[j]) / float64(n[j])
	}
	return out, nil
}

// PairedResult compares two models scored on the same G prompts.
type PairedResult struct {
	G            int     // number of prompts
	MeanA, MeanB float64 // prompt-averaged rates
	Diff         float64 // mean of d_j = a_j - b_j (= MeanA - MeanB)
	SD           float64 // sample sd of d_j
	SE           float64 // SD/√G
	DF           float64 // G-1
	TStat        float64 // Diff/SE
	PValueT      float64 // two-sided, Student t with G-1 df
	PValueZ      float64 // two-sided, standard normal
	CIT, CIZ     Interval
	Warnings     []string
}

// PairedDiff compares two models A and B evaluated on the same G prompts,
// given per-prompt scores a[j] and b[j] (e.g. the rates from PromptRates).
// The per-prompt differences d_j = a_j - b_j are independent across prompts
// whatever the correlation of samples within a prompt, so
//
//	Diff = (1/G) Σ d_j,  SE = sd(d)/√G,  t = Diff/SE with G-1 df,
//	CI_t = Diff ± t_{1-α/2, G-1}·SE,  CI_z = Diff ± Φ⁻¹(1-α/2)·SE
//
// (the paired t-test on prompt-level differences, as in the paired-differences
// analysis of Miller 2024, arXiv:2411.00640). Each prompt has weight 1/G regardless of how many samples
// it got: the estimand is the prompt-averaged rate difference, and sd(d)
// absorbs the extra noise of thinly sampled prompts, so the test stays valid
// with unequal per-prompt counts (it is then not the most efficient
// weighting). Prefer the t version; the z version undercovers for small G.
// Errors on mismatched lengths, G < 2, non-finite scores or differences,
// or conf outside (0, 1).
//
// The t part is OneSampleT(d, 0, conf) up to rounding in the last digits
// (SE is computed as sd(d)/√G and the interval as Diff ± t·SE), with its
// guard: when every d_j is the same, exactly or up to rounding (SE <
// 10·ε·|Diff|, ε = 2^-52, as R's t.test), SE counts as 0: t = ±Inf with
// p-values 0 (NaN when Diff = 0), both intervals are [Diff, Diff], and a
// warning says so. The SE field keeps the computed value.
func PairedDiff(a, b []float64, conf float64) (PairedResult, error) {
	if len(a) != len(b) {
		return PairedResult{}, fmt.Errorf("paired diff: %d prompts for A but %d for B", len(a), len(b))
	}
	if len(a) < 2 {
		return PairedResult{}, fmt.Errorf("paired diff: need at least 2 prompts, got %d", len(a))
	}
	if err := checkFinite("a", a); err != nil {
		return PairedResult{}, fmt.Errorf("paired diff: %w", err)
	}
	if err := checkFinite("b", b); err != nil {
		return PairedResult{}, fmt.Errorf("paired diff: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return PairedResult{}, fmt.Errorf("paired diff: %w", err)
	}
	g := len(a)
	d := make([]float64, g)
	for j := range a {
		d[j] = a[j] - b[j]
	}
	if err := checkFinite("a-b", d); err != nil { // a_j - b_j overflowed
		return PairedResult{}, fmt.Errorf("paired diff: %w", err)
	}
	mean, v := meanVar(d)
	ma, _ := meanVar(a)
	mb, _ := meanVar(b)
	r := PairedResult{G: g, MeanA: ma, MeanB: mb, Diff: mean, SD: math.Sqrt(v), DF: float64(g - 1)}
	r.SE = r.SD / math.Sqrt(float64(g))
	r.TStat = mean / r.SE
	r.PValueT = 2 * pt(-math.Abs(r.TStat), r.DF)
	r.PValueZ = 2 * pnormUpper(math.Abs(r.TStat))
	tc := qt(1-(1-conf)/2, r.DF)
	z := zTwoSided(conf)
	r.CIT = Interval{Estimate: mean, Lower: mean - tc*r.SE, Upper: mean + tc*r.SE, Confidence: conf, Method: "paired t over prompts"}
	r.CIZ = Interval{Estimate: mean, Lower: mean - z*r.SE, Upper: mean + z*r.SE, Confidence: conf, Method: "paired z over prompts"}
	if essentiallyConstant(r.SE, math.Abs(mean)) {
		r.CIT.Lower, r.CIT.Upper = mean, mean
		r.CIZ.Lower, r.CIZ.Upper = mean, mean
		r.TStat, r.PValueT = constantT(mean)
		r.PValueZ = r.PValueT
		r.Warnings = append(r.Warnings, "every prompt has the same difference (up to rounding): the standard error is 0")
	}
	if g < 30 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("G=%d prompts: use the t interval; the z interval undercovers", g))
	}
	r.CIT.Warnings, r.CIZ.Warnings = r.Warnings, r.Warnings
	return r, nil
}
