package stats

import (
	"fmt"
	"math"
)

// FisherResult is Fisher's exact test of a 2×2 table with the conditional
// maximum-likelihood odds ratio and its exact confidence interval.
type FisherResult struct {
	PValue    float64  // two-sided, R's rule
	OddsRatio Interval // conditional MLE with the exact (Cornfield 1956) interval
}

// noncentral is the conditional distribution of the (1,1) cell given the
// margins: Fisher's noncentral hypergeometric with odds ratio ψ,
// P(X = s) ∝ C(m, s) C(n, k-s) ψ^s on lo <= s <= hi.
type noncentral struct {
	lo, hi int
	logdc  []float64 // log dhyper(s; m, n, k) for s = lo..hi, as R computes it
	w      []float64 // scratch
}

func newNoncentral(x1, n1, x2, n2 int) noncentral {
	m := x1 + x2     // first column total
	n := n1 + n2 - m // second column total
	k := n1          // first row total
	nc := noncentral{lo: max(0, k-n), hi: min(k, m)}
	nc.logdc = make([]float64, 0, nc.hi-nc.lo+1)
	for s := nc.lo; s <= nc.hi; s++ {
		nc.logdc = append(nc.logdc, logDhyper(s, m, n, k))
	}
	nc.w = make([]float64, len(nc.logdc))
	return nc
}

// weights fills nc.w with P(X = s) at odds ratio exp(logPsi), normalised,
// as R's dnhyper: exp(logdc + s·log ψ - max) / sum.
func (nc *noncentral) weights(logPsi float64) []float64 {
	mx := math.Inf(-1)
	for i, l := range nc.logdc {
		v := l + logPsi*float64(nc.lo+i)
		nc.w[i] = v
		mx = math.Max(mx, v)
	}
	sum := 0.0
	for i, v := range nc.w {
		nc.w[i] = math.Exp(v - mx)
		sum += nc.w[i]
	}
	for i := range nc.w {
		nc.w[i] /= sum
	}
	return nc.w
}

// mean returns E[X] at odds ratio exp(logPsi).
func (nc *noncentral) mean(logPsi float64) float64 {
	s := 0.0
	for i, p := range nc.weights(logPsi) {
		s += float64(nc.lo+i) * p
	}
	return s
}

// lowerTail returns P(X <= x) and upperTail P(X >= x) at exp(logPsi); each
// is summed directly so that small tails keep their relative precision.
func (nc *noncentral) tails(x int, logPsi float64) (le, ge float64) {
	for i, p := range nc.weights(logPsi) {
		s := nc.lo + i
		if s <= x {
			le += p
		}
		if s >= x {
			ge += p
		}
	}
	return le, ge
}

// solveLogPsi returns the root of f in log ψ, where f is increasing, by
// bracketing and bisection to the resolution of float64 (an absolute
// 1e-16 in log ψ is a relative 1e-16 in ψ). R's fisher.test uses uniroot
// with its default tolerance (~1e-4); this is the same root, to full
// precision.
func solveLogPsi(f func(float64) float64) float64 {
	lo, hi := -1.0, 1.0
	for f(lo) > 0 {
		hi = lo
		lo *= 2
		if lo < -1e4 {
			return math.Inf(-1)
		}
	}
	for f(hi) < 0 {
		lo = hi
		hi *= 2
		if hi > 1e4 {
			return math.Inf(1)
		}
	}
	for i := 0; i < 400; i++ {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi || hi-lo <= 1e-17*math.Max(1, math.Abs(mid)) {
			break
		}
		if f(mid) < 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + (hi-lo)/2
}

// FisherExact is Fisher's exact test for [[x1, n1-x1], [x2, n2-x2]] as R's
// fisher.test for a 2×2 table (R source; Fisher 1935; Agresti 2013 §3.5):
//
//   - the two-sided p-value sums the null hypergeometric probabilities
//     d_s <= d_x·(1+1e-7) over the support;
//   - the odds ratio estimate is the conditional MLE, solving
//     E_ψ[X] = x (0 at x = lo, +Inf at x = hi);
//   - the interval is the exact conditional (Cornfield 1956) interval,
//     P_ψL(X >= x) = α/2 and P_ψU(X <= x) = α/2, with ψL = 0 at x = lo and
//     ψU = +Inf at x = hi;
//
// each root solved in log ψ by bisection to full double precision.
// When a row or column total is zero the support is a single point: the
// p-value is 1 and the odds ratio is not estimable (NaN, interval [0, Inf]);
// R reports 0 there. Errors on invalid counts or conf.
func FisherExact(x1, n1, x2, n2 int, conf float64) (FisherResult, error) {
	if err := checkTwo(x1, n1, x2, n2); err != nil {
		return FisherResult{}, fmt.Errorf("fisher_exact: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return FisherResult{}, fmt.Errorf("fisher_exact: %w", err)
	}
	nc := newNoncentral(x1, n1, x2, n2)
	x := x1
	r := FisherResult{OddsRatio: Interval{Confidence: conf, Method: "conditional MLE, exact interval", Warnings: twoWarnings(x1, n1, x2, n2)}}

	// Two-sided p-value at ψ = 1.
	d := nc.weights(0)
	const relErr = 1 + 1e-7
	dx := d[x-nc.lo]
	for _, v := range d {
		if v <= dx*relErr {
			r.PValue += v
		}
	}
	r.PValue = math.Min(1, r.PValue)

	if nc.lo == nc.hi {
		r.PValue = 1
		r.OddsRatio.Estimate, r.OddsRatio.Lower, r.OddsRatio.Upper = math.NaN(), 0, math.Inf(1)
		r.OddsRatio.Warnings = append(r.OddsRatio.Warnings, "a row or column total is zero: the odds ratio is not estimable")
		return r, nil
	}

	fx := float64(x)
	switch x {
	case nc.lo:
		r.OddsRatio.Estimate = 0
	case nc.hi:
		r.OddsRatio.Estimate = math.Inf(1)
	default:
		r.OddsRatio.Estimate = math.Exp(solveLogPsi(func(l float64) float64 { return nc.mean(l) - fx }))
	}
	alpha := (1 - conf) / 2
	if x == nc.lo {
		r.OddsRatio.Lower = 0
	} else {
		// P(X >= x) increases with ψ.
		r.OddsRatio.Lower = math.Exp(solveLogPsi(func(l float64) float64 {
			_, ge := nc.tails(x, l)
			return ge - alpha
		}))
	}
	if x == nc.hi {
		r.OddsRatio.Upper = math.Inf(1)
	} else {
		// P(X <= x) decreases with ψ.
		r.OddsRatio.Upper = math.Exp(solveLogPsi(func(l float64) float64 {
			le, _ := nc.tails(x, l)
			return alpha - le
		}))
	}
	return r, nil
}
