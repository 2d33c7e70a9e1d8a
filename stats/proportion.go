package stats

import (
	"fmt"
	"math"
)

// wilsonBounds computes R prop.test's one-sample interval for x of n with
// continuity correction yates (0 for the plain Wilson interval).
func wilsonBounds(x, n int, conf, yates float64) (lo, hi float64) {
	fn := float64(n)
	est := float64(x) / fn
	z := zTwoSided(conf)
	z22n := z * z / (2 * fn)
	pc := est + yates/fn
	if pc >= 1 {
		hi = 1
	} else {
		hi = (pc + z22n + z*math.Sqrt(pc*(1-pc)/fn+z22n/(2*fn))) / (1 + 2*z22n)
	}
	pc = est - yates/fn
	if pc <= 0 {
		lo = 0
	} else {
		lo = (pc + z22n - z*math.Sqrt(pc*(1-pc)/fn+z22n/(2*fn))) / (1 + 2*z22n)
	}
	return math.Max(lo, 0), math.Min(hi, 1)
}

// Wilson returns the Wilson score interval for a binomial proportion,
//
//	(p̂ + z²/2n ± z·sqrt(p̂(1-p̂)/n + z²/4n²)) / (1 + z²/n),  z = Φ⁻¹((1+conf)/2),
//
// (Wilson 1927, JASA 22:209; Newcombe 1998 Stat Med 17:857, method 3). It
// equals R's prop.test(x, n, correct = FALSE)$conf.int, including R's exact
// 0 lower bound at x = 0 and 1 upper bound at x = n. Errors on n < 1,
// x < 0, x > n or conf outside (0, 1).
func Wilson(x, n int, conf float64) (Interval, error) {
	if err := checkCount(x, n); err != nil {
		return Interval{}, fmt.Errorf("wilson: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return Interval{}, fmt.Errorf("wilson: %w", err)
	}
	lo, hi := wilsonBounds(x, n, conf, 0)
	return Interval{Estimate: float64(x) / float64(n), Lower: lo, Upper: hi, Confidence: conf,
		Method: "Wilson score", Warnings: countWarnings(x, n)}, nil
}

// WilsonCC returns the Wilson score interval with continuity correction,
// Newcombe's method 4 (Newcombe 1998, Stat Med 17:857, §2): the Wilson
// formula applied at p̂ - ½/n for the lower and p̂ + ½/n for the upper
// bound, the correction c = ½ at every x; a bound is 0 (1) when
// p̂ - ½/n <= 0 (p̂ + ½/n >= 1). This is R's one-sample
// prop.test(x, n, correct = TRUE)$conf.int except at x = n/2: prop.test
// shrinks its correction to min(½, |x - n·p0|) with the null p0 = 0.5 of
// its test, a property of the test rather than of the interval, and at
// x = n/2 returns the uncorrected interval. Errors as Wilson.
func WilsonCC(x, n int, conf float64) (Interval, error) {
	if err := checkCount(x, n); err != nil {
		return Interval{}, fmt.Errorf("wilson_cc: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return Interval{}, fmt.Errorf("wilson_cc: %w", err)
	}
	lo, hi := wilsonBounds(x, n, conf, 0.5)
	return Interval{Estimate: float64(x) / float64(n), Lower: lo, Upper: hi, Confidence: conf,
		Method: "Wilson score with continuity correction (Newcombe method 4)", Warnings: countWarnings(x, n)}, nil
}

// ClopperPearson returns the Clopper–Pearson "exact" interval
//
//	[B⁻¹(α/2; x, n-x+1), B⁻¹(1-α/2; x+1, n-x)],  α = 1-conf,
//
// with lower bound 0 at x = 0 and upper bound 1 at x = n (Clopper & Pearson
// 1934, Biometrika 26:404), as R's binom.test(x, n)$conf.int. B⁻¹ is the
// beta quantile. Errors as Wilson.
func ClopperPearson(x, n int, conf float64) (Interval, error) {
	if err := checkCount(x, n); err != nil {
		return Interval{}, fmt.Errorf("clopper_pearson: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return Interval{}, fmt.Errorf("clopper_pearson: %w", err)
	}
	alpha := (1 - conf) / 2
	lo, hi := 0.0, 1.0
	if x > 0 {
		lo = qbeta(alpha, float64(x), float64(n-x+1))
	}
	if x < n {
		hi = qbeta(1-alpha, float64(x+1), float64(n-x))
	}
	return Interval{Estimate: float64(x) / float64(n), Lower: lo, Upper: hi, Confidence: conf,
		Method: "Clopper–Pearson exact", Warnings: countWarnings(x, n)}, nil
}

// Jeffreys returns the Jeffreys interval, the equal-tailed posterior
// interval under the Beta(1/2, 1/2) prior,
//
//	[B⁻¹(α/2; x+½, n-x+½), B⁻¹(1-α/2; x+½, n-x+½)],
//
// with Brown, Cai & DasGupta's modification that the lower bound is 0 at
// x = 0 and the upper bound 1 at x = n (Brown, Cai & DasGupta 2001, Stat Sci
// 16:101, §4.1.2). Errors as Wilson.
func Jeffreys(x, n int, conf float64) (Interval, error) {
	if err := checkCount(x, n); err != nil {
		return Interval{}, fmt.Errorf("jeffreys: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return Interval{}, fmt.Errorf("jeffreys: %w", err)
	}
	alpha := (1 - conf) / 2
	a, b := float64(x)+0.5, float64(n-x)+0.5
	lo, hi := 0.0, 1.0
	if x > 0 {
		lo = qbeta(alpha, a, b)
	}
	if x < n {
		hi = qbeta(1-alpha, a, b)
	}
	return Interval{Estimate: float64(x) / float64(n), Lower: lo, Upper: hi, Confidence: conf,
		Method: "Jeffreys", Warnings: countWarnings(x, n)}, nil
}

// AgrestiCoullInterval is an Agresti–Coull interval with its construction.
type AgrestiCoullInterval struct {
	Interval
	Center         float64 // p̃ = (x + z²/2) / ñ
	NTilde         float64 // ñ = n + z²
	LowerUnclipped float64 // p̃ - z·sqrt(p̃(1-p̃)/ñ), may be < 0
	UpperUnclipped float64 // p̃ + z·sqrt(p̃(1-p̃)/ñ), may be > 1
}

// AgrestiCoull returns the Agresti–Coull ("add z²/2 successes and failures")
// interval p̃ ± z·sqrt(p̃(1-p̃)/ñ) with ñ = n + z², p̃ = (x + z²/2)/ñ and
// z = Φ⁻¹((1+conf)/2), clipped to [0, 1] (Agresti & Coull 1998, Am Stat
// 52:119; Brown, Cai & DasGupta 2001 eq. 4). Estimate is x/n; the center and
// unclipped bounds are returned too. Errors as Wilson.
func AgrestiCoull(x, n int, conf float64) (AgrestiCoullInterval, error) {
	if err := checkCount(x, n); err != nil {
		return AgrestiCoullInterval{}, fmt.Errorf("agresti_coull: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return AgrestiCoullInterval{}, fmt.Errorf("agresti_coull: %w", err)
	}
	z := zTwoSided(conf)
	nt := float64(n) + z*z
	pt := (float64(x) + z*z/2) / nt
	half := z * math.Sqrt(pt*(1-pt)/nt)
	lo, hi := pt-half, pt+half
	return AgrestiCoullInterval{
		Interval: Interval{Estimate: float64(x) / float64(n), Lower: clamp01(lo), Upper: clamp01(hi),
			Confidence: conf, Method: "Agresti–Coull", Warnings: countWarnings(x, n)},
		Center: pt, NTilde: nt, LowerUnclipped: lo, UpperUnclipped: hi,
	}, nil
}

// BinomTestResult is the result of an exact binomial test of H0: p = P0.
type BinomTestResult struct {
	X, N          int
	P0            float64
	Estimate      float64 // x/n
	PValue        float64 // two-sided
	PValueLess    float64 // H1: p < P0, P(X <= x)
	PValueGreater float64 // H1: p > P0, P(X >= x)
}

// BinomTest is the exact binomial test of H0: p = p0 (R's binom.test).
// One-sided p-values are P(X <= x) and P(X >= x) under Bin(n, p0). The
// two-sided p-value is the total probability of outcomes no more likely than
// x, with R's relative tolerance: d = P(X=x), the sum over {i : P(X=i) <=
// d·(1+1e-7)}, 1 when x = n·p0, capped at 1 (the "minimum-likelihood" rule
// of Sterne 1954; R source binom.test). p0 = 0 or 1 gives p-value 1 when x is
// the only possible outcome and 0 otherwise. Errors on invalid counts or p0
// outside [0, 1].
func BinomTest(x, n int, p0 float64) (BinomTestResult, error) {
	if err := checkCount(x, n); err != nil {
		return BinomTestResult{}, fmt.Errorf("binom_test: %w", err)
	}
	if err := checkProb("p0", p0); err != nil {
		return BinomTestResult{}, fmt.Errorf("binom_test: %w", err)
	}
	r := BinomTestResult{X: x, N: n, P0: p0, Estimate: float64(x) / float64(n)}
	r.PValueLess, _ = pbinom(x, n, p0)
	_, r.PValueGreater = pbinom(x-1, n, p0)
	switch {
	case p0 == 0:
		r.PValue = b2f(x == 0)
	case p0 == 1:
		r.PValue = b2f(x == n)
	default:
		r.PValue = binomTwoSided(x, n, p0)
	}
	return r, nil
}

// binomTwoSided is R binom.test's two-sided p-value for 0 < p < 1.
func binomTwoSided(x, n int, p float64) float64 {
	const relErr = 1 + 1e-7
	d := dbinom(x, n, p)
	m := float64(n) * p
	fx := float64(x)
	if fx == m {
		return 1
	}
	var pv float64
	if fx < m {
		// y = #{i in [ceil(m), n] : dbinom(i) <= d·relErr}. The density is
		// non-increasing on [ceil(m), n] (the mode floor((n+1)p) <= ceil(m)),
		// so these i form a suffix; scan up from ceil(m) to its start.
		i := int(math.Ceil(m))
		for i <= n && !(dbinom(i, n, p) <= d*relErr) {
			i++
		}
		y := n - i + 1
		lo, _ := pbinom(x, n, p)
		_, up := pbinom(n-y, n, p)
		pv = lo + up
	} else {
		// y = #{i in [0, floor(m)] : dbinom(i) <= d·relErr}, a prefix.
		i := int(math.Floor(m))
		for i >= 0 && !(dbinom(i, n, p) <= d*relErr) {
			i--
		}
		y := i + 1
		lo, _ := pbinom(y-1, n, p)
		_, up := pbinom(x-1, n, p)
		pv = lo + up
	}
	return math.Min(1, pv)
}

// b2f converts a bool to 0 or 1.
func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
