package stats

import (
	"fmt"
	"math"
)

// checkTwo validates two binomial counts.
func checkTwo(x1, n1, x2, n2 int) error {
	if err := checkCount(x1, n1); err != nil {
		return fmt.Errorf("group 1: %w", err)
	}
	if err := checkCount(x2, n2); err != nil {
		return fmt.Errorf("group 2: %w", err)
	}
	return nil
}

// twoWarnings returns the caveats for a two-group comparison.
func twoWarnings(x1, n1, x2, n2 int) []string {
	var w []string
	for g, c := range [2][2]int{{x1, n1}, {x2, n2}} {
		for _, s := range countWarnings(c[0], c[1]) {
			w = append(w, fmt.Sprintf("group %d: %s", g+1, s))
		}
	}
	return w
}

// NewcombeInterval is a Newcombe hybrid-score interval for p1 - p2 together
// with the Wilson intervals it is built from.
type NewcombeInterval struct {
	Interval
	Wilson1, Wilson2 Interval // Wilson score intervals for p1 and p2 at the same level
}

// Newcombe returns the hybrid-score interval for the difference p1 - p2
// (Newcombe 1998, Stat Med 17:873, method 10): with Wilson intervals
// [l1, u1] for p1 and [l2, u2] for p2 at the same level,
//
//	lower = d - sqrt((p̂1-l1)² + (u2-p̂2)²),  upper = d + sqrt((u1-p̂1)² + (p̂2-l2)²),
//
// d = p̂1 - p̂2. It stays inside [-1, 1] and is defined for zero cells.
// Errors on invalid counts or conf.
func Newcombe(x1, n1, x2, n2 int, conf float64) (NewcombeInterval, error) {
	if err := checkTwo(x1, n1, x2, n2); err != nil {
		return NewcombeInterval{}, fmt.Errorf("newcombe: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return NewcombeInterval{}, fmt.Errorf("newcombe: %w", err)
	}
	w1, _ := Wilson(x1, n1, conf)
	w2, _ := Wilson(x2, n2, conf)
	p1, p2 := w1.Estimate, w2.Estimate
	d := p1 - p2
	lo := d - math.Sqrt((p1-w1.Lower)*(p1-w1.Lower)+(w2.Upper-p2)*(w2.Upper-p2))
	hi := d + math.Sqrt((w1.Upper-p1)*(w1.Upper-p1)+(p2-w2.Lower)*(p2-w2.Lower))
	return NewcombeInterval{
		Interval: Interval{Estimate: d, Lower: lo, Upper: hi, Confidence: conf,
			Method: "Newcombe hybrid score", Warnings: twoWarnings(x1, n1, x2, n2)},
		Wilson1: w1, Wilson2: w2,
	}, nil
}

// WaldDiffInterval is a Wald interval for p1 - p2 with its standard error.
type WaldDiffInterval struct {
	Interval
	SE                             float64 // sqrt(p̂1(1-p̂1)/n1 + p̂2(1-p̂2)/n2)
	LowerUnclipped, UpperUnclipped float64 // d ∓ z·SE before clipping to [-1, 1]
}

// WaldDiff returns the Wald interval for p1 - p2,
//
//	d ± z·sqrt(p̂1(1-p̂1)/n1 + p̂2(1-p̂2)/n2),  z = Φ⁻¹((1+conf)/2),
//
// clipped to [-1, 1] (Newcombe 1998 method 1; R's prop.test(correct=FALSE)
// two-sample conf.int). It has zero width when both p̂ are 0 or 1 and
// undercovers for small counts; a warning says so when any cell count is
// below 5. Errors on invalid counts or conf.
func WaldDiff(x1, n1, x2, n2 int, conf float64) (WaldDiffInterval, error) {
	if err := checkTwo(x1, n1, x2, n2); err != nil {
		return WaldDiffInterval{}, fmt.Errorf("wald: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return WaldDiffInterval{}, fmt.Errorf("wald: %w", err)
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	se := math.Sqrt(p1*(1-p1)/float64(n1) + p2*(1-p2)/float64(n2))
	z := zTwoSided(conf)
	d := p1 - p2
	lo, hi := d-z*se, d+z*se
	w := twoWarnings(x1, n1, x2, n2)
	if min(x1, n1-x1, x2, n2-x2) < 5 {
		w = append(w, "a cell count is below 5: the Wald interval undercovers; prefer Newcombe")
	}
	return WaldDiffInterval{
		Interval: Interval{Estimate: d, Lower: math.Max(-1, lo), Upper: math.Min(1, hi), Confidence: conf,
			Method: "Wald", Warnings: w},
		SE: se, LowerUnclipped: lo, UpperUnclipped: hi,
	}, nil
}

// ZTestResult is a pooled two-proportion z-test.
type ZTestResult struct {
	Z        float64 // (p̂1 - p̂2) / sqrt(p̄(1-p̄)(1/n1 + 1/n2))
	PValue   float64 // two-sided, 2·Φ(-|z|)
	PooledP  float64 // p̄ = (x1+x2)/(n1+n2)
	Warnings []string
}

// TwoPropZTest is the pooled two-proportion z-test of H0: p1 = p2,
//
//	z = (p̂1 - p̂2) / sqrt(p̄(1-p̄)(1/n1 + 1/n2)),  p̄ = (x1+x2)/(n1+n2),
//
// two-sided p-value 2Φ(-|z|); z² equals R's prop.test(c(x1,x2), c(n1,n2),
// correct = FALSE)$statistic (Agresti 2013, Categorical Data Analysis §3.1).
// When p̄ is 0 or 1 the statistic is 0/0: Z and PValue are NaN (R gives NaN
// too). Errors on invalid counts.
func TwoPropZTest(x1, n1, x2, n2 int) (ZTestResult, error) {
	if err := checkTwo(x1, n1, x2, n2); err != nil {
		return ZTestResult{}, fmt.Errorf("two_prop_ztest: %w", err)
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	pb := float64(x1+x2) / float64(n1+n2)
	z := (p1 - p2) / math.Sqrt(pb*(1-pb)*(1/float64(n1)+1/float64(n2)))
	r := ZTestResult{Z: z, PValue: 2 * pnormUpper(math.Abs(z)), PooledP: pb}
	if x1+x2 == 0 || x1+x2 == n1+n2 {
		r.Z, r.PValue = math.NaN(), math.NaN()
		r.Warnings = append(r.Warnings, "all outcomes identical: the z statistic is 0/0")
	} else if expectedBelow5(x1, n1, x2, n2) {
		r.Warnings = append(r.Warnings, "an expected count is below 5: the normal approximation may be poor; prefer Fisher's exact test")
	}
	return r, nil
}

// expectedBelow5 reports whether any expected cell count of the 2×2 table
// is below 5 (R's "Chi-squared approximation may be incorrect" rule).
func expectedBelow5(x1, n1, x2, n2 int) bool {
	e := expected2x2(x1, n1, x2, n2)
	return math.Min(math.Min(e[0], e[1]), math.Min(e[2], e[3])) < 5
}

// expected2x2 returns the expected counts of [[x1, n1-x1], [x2, n2-x2]]
// under independence, as R's outer(rowSums, colSums)/n, in row-major order.
func expected2x2(x1, n1, x2, n2 int) [4]float64 {
	n := float64(n1 + n2)
	c1, c2 := float64(x1+x2), float64(n1+n2-x1-x2)
	r1, r2 := float64(n1), float64(n2)
	return [4]float64{r1 * c1 / n, r1 * c2 / n, r2 * c1 / n, r2 * c2 / n}
}

// ChiSqResult is Pearson's chi-square test of a 2×2 table.
type ChiSqResult struct {
	Statistic, DF, PValue float64
	Method                string
	Warnings              []string
}

// ChiSq2x2 is Pearson's chi-square test of independence for the table
// [[x1, n1-x1], [x2, n2-x2]], with R's chisq.test semantics:
//
//	X² = Σ (|O - E| - c)² / E,  df = 1,  p = P(χ²₁ > X²),
//
// c = 0 without correction and, with yates, c = min(0.5, |O - E|) (Yates
// 1934; R applies the correction only up to |O - E|, so it never reverses
// the sign of the deviation). A zero row or column total makes some E zero
// and the statistic NaN, as in R. Errors on invalid counts.
func ChiSq2x2(x1, n1, x2, n2 int, yates bool) (ChiSqResult, error) {
	if err := checkTwo(x1, n1, x2, n2); err != nil {
		return ChiSqResult{}, fmt.Errorf("chisq_test: %w", err)
	}
	e := expected2x2(x1, n1, x2, n2)
	o := [4]float64{float64(x1), float64(n1 - x1), float64(x2), float64(n2 - x2)}
	c := 0.0
	r := ChiSqResult{DF: 1, Method: "Pearson's chi-squared test"}
	if yates {
		c = 0.5
		for i := range o {
			c = math.Min(c, math.Abs(o[i]-e[i]))
		}
		if c > 0 {
			r.Method += " with Yates' continuity correction"
		}
	}
	s := 0.0
	for i := range o {
		d := math.Abs(o[i]-e[i]) - c
		s += d * d / e[i]
	}
	r.Statistic = s
	r.PValue = pchisq1Upper(s)
	if math.IsNaN(s) {
		r.Warnings = append(r.Warnings, "a row or column total is zero: the statistic is undefined")
	} else if expectedBelow5(x1, n1, x2, n2) {
		r.Warnings = append(r.Warnings, "Chi-squared approximation may be incorrect: an expected count is below 5")
	}
	return r, nil
}

// pchisq1Upper returns P(χ²₁ > s) = erfc(sqrt(s/2)).
func pchisq1Upper(s float64) float64 {
	if math.IsNaN(s) {
		return math.NaN()
	}
	return math.Erfc(math.Sqrt(s / 2))
}

// OddsRatioResult holds the sample odds ratio with Woolf's interval.
type OddsRatioResult struct {
	OR      float64  // x1(n2-x2) / ((n1-x1)x2)
	LogOR   float64  // log(OR)
	SELogOR float64  // sqrt(1/a + 1/b + 1/c + 1/d)
	Woolf   Interval // exp(log OR ± z·SE)
	Haldane float64  // (a+½)(d+½) / ((b+½)(c+½))
}

// OddsRatio returns the sample odds ratio of [[a, b], [c, d]] =
// [[x1, n1-x1], [x2, n2-x2]], OR = ad/(bc), with Woolf's logit interval
// exp(log OR ± z·sqrt(1/a+1/b+1/c+1/d)) (Woolf 1955, Ann Hum Genet 19:251)
// and the Haldane–Anscombe estimate with ½ added to every cell (Haldane
// 1956). With a zero cell OR is 0, +Inf or NaN (0/0), SE is +Inf and the
// Woolf interval is its limit [0, +Inf] with a warning. Errors on invalid
// counts or conf.
func OddsRatio(x1, n1, x2, n2 int, conf float64) (OddsRatioResult, error) {
	if err := checkTwo(x1, n1, x2, n2); err != nil {
		return OddsRatioResult{}, fmt.Errorf("odds_ratio: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return OddsRatioResult{}, fmt.Errorf("odds_ratio: %w", err)
	}
	a, b, c, d := float64(x1), float64(n1-x1), float64(x2), float64(n2-x2)
	r := OddsRatioResult{OR: (a * d) / (b * c)}
	r.LogOR = math.Log(r.OR)
	r.SELogOR = math.Sqrt(1/a + 1/b + 1/c + 1/d)
	r.Haldane = (a + 0.5) * (d + 0.5) / ((b + 0.5) * (c + 0.5))
	r.Woolf = Interval{Estimate: r.OR, Confidence: conf, Method: "Woolf (logit)", Warnings: twoWarnings(x1, n1, x2, n2)}
	if a == 0 || b == 0 || c == 0 || d == 0 {
		r.Woolf.Lower, r.Woolf.Upper = 0, math.Inf(1)
		r.Woolf.Warnings = append(r.Woolf.Warnings, "a cell is zero: the Woolf interval is [0, Inf]; see the Haldane estimate or Fisher's exact interval")
	} else {
		z := zTwoSided(conf)
		r.Woolf.Lower = math.Exp(r.LogOR - z*r.SELogOR)
		r.Woolf.Upper = math.Exp(r.LogOR + z*r.SELogOR)
	}
	return r, nil
}

// RiskRatioResult holds the risk ratio p1/p2 with Katz's interval.
type RiskRatioResult struct {
	RR      float64  // p̂1 / p̂2
	LogRR   float64  // log(RR)
	SELogRR float64  // sqrt(1/x1 - 1/n1 + 1/x2 - 1/n2)
	Katz    Interval // exp(log RR ± z·SE)
}

// RiskRatio returns the risk ratio RR = p̂1/p̂2 with the Katz log interval
// exp(log RR ± z·sqrt(1/x1 - 1/n1 + 1/x2 - 1/n2)) (Katz, Baptista, Azen &
// Pike 1978, Biometrics 34:469). With x1 = 0 or x2 = 0 the SE is +Inf and
// the interval is its limit [0, +Inf] (RR is 0, +Inf, or NaN for 0/0), with a
// warning. Errors on invalid counts or conf.
func RiskRatio(x1, n1, x2, n2 int, conf float64) (RiskRatioResult, error) {
	if err := checkTwo(x1, n1, x2, n2); err != nil {
		return RiskRatioResult{}, fmt.Errorf("risk_ratio: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return RiskRatioResult{}, fmt.Errorf("risk_ratio: %w", err)
	}
	a, b := float64(x1), float64(x2)
	m1, m2 := float64(n1), float64(n2)
	r := RiskRatioResult{RR: (a / m1) / (b / m2)}
	r.LogRR = math.Log(r.RR)
	r.SELogRR = math.Sqrt(1/a - 1/m1 + 1/b - 1/m2)
	r.Katz = Interval{Estimate: r.RR, Confidence: conf, Method: "Katz (log)", Warnings: twoWarnings(x1, n1, x2, n2)}
	if x1 == 0 || x2 == 0 {
		r.SELogRR = math.Inf(1)
		r.Katz.Lower, r.Katz.Upper = 0, math.Inf(1)
		r.Katz.Warnings = append(r.Katz.Warnings, "zero successes in a group: the Katz interval is [0, Inf]")
	} else {
		z := zTwoSided(conf)
		r.Katz.Lower = math.Exp(r.LogRR - z*r.SELogRR)
		r.Katz.Upper = math.Exp(r.LogRR + z*r.SELogRR)
	}
	return r, nil
}

// CohenH returns Cohen's effect size for two proportions,
// h = 2·asin(√p1) - 2·asin(√p2) (Cohen 1988, Statistical Power Analysis for
// the Behavioral Sciences, 2nd ed., §6.2). |h| = 0.2, 0.5, 0.8 are Cohen's
// "small", "medium", "large". Errors when p1 or p2 is outside [0, 1].
func CohenH(p1, p2 float64) (float64, error) {
	if err := checkProb("p1", p1); err != nil {
		return math.NaN(), fmt.Errorf("cohen_h: %w", err)
	}
	if err := checkProb("p2", p2); err != nil {
		return math.NaN(), fmt.Errorf("cohen_h: %w", err)
	}
	return 2*math.Asin(math.Sqrt(p1)) - 2*math.Asin(math.Sqrt(p2)), nil
}
