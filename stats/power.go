package stats

import (
	"fmt"
	"math"
)

// Alternative is the sidedness of a power calculation, spelled as in R's
// power.prop.test.
type Alternative string

// Alternatives.
const (
	TwoSided Alternative = "two.sided"
	OneSided Alternative = "one.sided"
)

// tails returns 2 for a two-sided and 1 for a one-sided alternative.
func (a Alternative) tails() (float64, error) {
	switch a {
	case TwoSided:
		return 2, nil
	case OneSided:
		return 1, nil
	}
	return 0, fmt.Errorf("alternative %q: want %q or %q", string(a), TwoSided, OneSided)
}

// powerSetup validates the common inputs and returns d = |p1-p2|, the null
// and alternative standard deviations σ0 = sqrt((p1+p2)(1-(p1+p2)/2)) and
// σ1 = sqrt(p1(1-p1) + p2(1-p2)), and qu = Φ⁻¹(1 - α/tails).
func powerSetup(p1, p2, sig float64, alt Alternative) (d, s0, s1, qu, tside float64, err error) {
	if tside, err = alt.tails(); err != nil {
		return
	}
	if err = checkProb("p1", p1); err != nil {
		return
	}
	if err = checkProb("p2", p2); err != nil {
		return
	}
	if p1 == p2 {
		err = fmt.Errorf("p1 = p2 = %v: no difference to detect", p1)
		return
	}
	if !(sig > 0 && sig < 1) {
		err = fmt.Errorf("sig_level=%v not in (0, 1)", sig)
		return
	}
	d = math.Abs(p1 - p2)
	s0 = math.Sqrt((p1 + p2) * (1 - (p1+p2)/2))
	s1 = math.Sqrt(p1*(1-p1) + p2*(1-p2))
	if s1 == 0 {
		err = fmt.Errorf("p1=%v, p2=%v: both variances are zero", p1, p2)
		return
	}
	qu = -qnorm(sig / tside)
	return
}

// powerAt evaluates R power.prop.test's power expression at n per group.
func powerAt(n, d, s0, s1, qu float64, strict bool) float64 {
	pw := pnorm((math.Sqrt(n)*d - qu*s0) / s1)
	if strict {
		pw += pnormUpper((math.Sqrt(n)*d + qu*s0) / s1)
	}
	return pw
}

// PowerTwoProp returns the power of the two-sample test of proportions with
// n per group, exactly as R's power.prop.test(n, p1, p2, sig.level,
// alternative, strict) (Fleiss, Levin & Paik 2003, Statistical Methods for
// Rates and Proportions, §4.2, without continuity correction):
//
//	power = Φ((√n·|p1-p2| - z_{1-α/k}·σ0) / σ1),
//	σ0 = sqrt((p1+p2)(1-(p1+p2)/2)), σ1 = sqrt(p1(1-p1) + p2(1-p2)),
//
// k = 2 for two.sided and 1 for one.sided. With strict (two-sided only, as
// in R) the probability of rejecting in the wrong direction,
// 1 - Φ((√n·|p1-p2| + z_{1-α/2}·σ0) / σ1), is added. Errors on n <= 0, p1 or
// p2 outside [0, 1], p1 = p2, sig outside (0, 1) or an unknown alternative.
func PowerTwoProp(n, p1, p2, sig float64, alt Alternative, strict bool) (float64, error) {
	d, s0, s1, qu, tside, err := powerSetup(p1, p2, sig, alt)
	if err != nil {
		return math.NaN(), fmt.Errorf("power_prop: %w", err)
	}
	if !(n > 0) || math.IsInf(n, 1) {
		return math.NaN(), fmt.Errorf("power_prop: n=%v must be positive and finite", n)
	}
	return powerAt(n, d, s0, s1, qu, strict && tside == 2), nil
}

// SampleSizeTwoProp returns the n per group at which PowerTwoProp equals
// power — R's power.prop.test(p1 =, p2 =, power =, ...)$n, solved to full
// precision rather than R's default uniroot tolerance (~1.2e-4). Without
// strict it is the closed form
//
//	n = ((z_{1-α/k}·σ0 + z_power·σ1) / |p1-p2|)²;
//
// with strict (two-sided) the power is increasing in n and at least the
// non-strict power, so the root is bracketed by (0, that n] and bisected.
// The result is not rounded: take math.Ceil for a count. Errors as
// PowerTwoProp, on power outside (0, 1), and when power is at or below the
// power at n → 0 (no sample size is needed to reach it).
func SampleSizeTwoProp(p1, p2, power, sig float64, alt Alternative, strict bool) (float64, error) {
	d, s0, s1, qu, tside, err := powerSetup(p1, p2, sig, alt)
	if err != nil {
		return math.NaN(), fmt.Errorf("sample_size_prop: %w", err)
	}
	if !(power > 0 && power < 1) {
		return math.NaN(), fmt.Errorf("sample_size_prop: power=%v not in (0, 1)", power)
	}
	strict = strict && tside == 2
	root := qu*s0 + qnorm(power)*s1
	if root <= 0 || powerAt(0, d, s0, s1, qu, strict) >= power {
		return math.NaN(), fmt.Errorf("sample_size_prop: power=%v is reached without data (power at n→0 is %.4g)",
			power, powerAt(0, d, s0, s1, qu, strict))
	}
	n := (root / d) * (root / d)
	if !strict {
		return n, nil
	}
	lo, hi := 0.0, n
	for i := 0; i < 2000; i++ {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		if powerAt(mid, d, s0, s1, qu, true) < power {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + (hi-lo)/2, nil
}

// CohenHSampleSize returns the arcsine-approximation sample size per group
// for comparing two groups,
//
//	n = 2·((z_{1-α/k} + z_power) / h)²,  h = 2·asin(√p1) - 2·asin(√p2),
//
// k = 2 for two.sided, 1 for one.sided (Cohen 1988, Statistical Power
// Analysis, ch. 6; R package pwr's pwr.2p.test). The variance-stabilising
// transform gives Var(2·asin√p̂) ≈ 1/n per group, so the difference of two
// groups of n has variance 2/n: hence the factor 2. Without it,
// ((z_{1-α/k} + z_power)/h)² is the one-sample size for testing p1 against
// a known p2 (pwr.p.test), half of what two models each need. Not rounded.
// Errors as SampleSizeTwoProp.
func CohenHSampleSize(p1, p2, power, sig float64, alt Alternative) (float64, error) {
	_, _, _, qu, _, err := powerSetup(p1, p2, sig, alt)
	if err != nil {
		return math.NaN(), fmt.Errorf("cohen_h_n: %w", err)
	}
	if !(power > 0 && power < 1) {
		return math.NaN(), fmt.Errorf("cohen_h_n: power=%v not in (0, 1)", power)
	}
	h, _ := CohenH(p1, p2)
	v := (qu + qnorm(power)) / h
	return 2 * v * v, nil
}

// DesignEffect returns Kish's design effect for clusters of m samples with
// intra-class correlation icc, deff = 1 + (m-1)·icc (Kish 1965, Survey
// Sampling §5.4): the variance of a mean over clustered samples divided by
// that over as many independent ones. Errors on m < 1 or icc outside [0, 1].
func DesignEffect(m, icc float64) (float64, error) {
	if !(m >= 1) || math.IsInf(m, 1) {
		return math.NaN(), fmt.Errorf("design effect: cluster size m=%v must be >= 1", m)
	}
	if !(icc >= 0 && icc <= 1) {
		return math.NaN(), fmt.Errorf("design effect: icc=%v not in [0, 1]", icc)
	}
	return 1 + (m-1)*icc, nil
}

// ClusterSizeForN returns the samples per cluster m needed for `clusters`
// clusters to carry the information of nIID independent samples, i.e. the
// m solving clusters·m / (1 + (m-1)·icc) = nIID:
//
//	m = nIID·(1-icc) / (clusters - nIID·icc).
//
// No m suffices when clusters <= nIID·icc (more samples of the same prompts
// cannot beat the between-prompt variance): an error says so, as it does for
// clusters < 1, nIID <= 0 or icc outside [0, 1]. Not rounded; m may be below
// 1 when there are more clusters than needed.
func ClusterSizeForN(nIID float64, clusters int, icc float64) (float64, error) {
	if !(nIID > 0) || math.IsInf(nIID, 1) {
		return math.NaN(), fmt.Errorf("cluster size: n=%v must be positive and finite", nIID)
	}
	if clusters < 1 {
		return math.NaN(), fmt.Errorf("cluster size: clusters=%d must be >= 1", clusters)
	}
	if !(icc >= 0 && icc <= 1) {
		return math.NaN(), fmt.Errorf("cluster size: icc=%v not in [0, 1]", icc)
	}
	k := float64(clusters)
	if k <= nIID*icc {
		return math.Inf(1), fmt.Errorf("cluster size: %d clusters cannot reach an effective n of %.6g at icc=%v; need more than n·icc = %.6g clusters",
			clusters, nIID, icc, nIID*icc)
	}
	return nIID * (1 - icc) / (k - nIID*icc), nil
}
