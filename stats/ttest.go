package stats

import (
	"errors"
	"fmt"
	"math"
)

// meanSS returns the mean of x, with R's second-pass refinement, and its
// centred sum of squares Σ (x - x̄)² (two-pass algorithm). An error δ in x̄
// changes the sum only by n·δ².
func meanSS(x []float64) (mean, ss float64) {
	n := float64(len(x))
	s := 0.0
	for _, v := range x {
		s += v
	}
	mean = s / n
	c := 0.0
	for _, v := range x {
		c += v - mean
	}
	mean += c / n
	for _, v := range x {
		d := v - mean
		ss += d * d
	}
	return mean, ss
}

// meanVar returns the mean (with R's second-pass refinement) and the
// unbiased sample variance of x (two-pass algorithm).
func meanVar(x []float64) (mean, variance float64) {
	mean, ss := meanSS(x)
	return mean, ss / float64(len(x)-1)
}

// essentiallyConstant reports whether a standard error is 0 up to rounding
// relative to scale, the magnitude of the mean(s) it belongs to: R's
// t.test test "stderr < 10 * .Machine$double.eps * abs(mx)" before it
// stops with "data are essentially constant".
func essentiallyConstant(se, scale float64) bool {
	return se < 10*dblEpsilon*scale || se == 0
}

// constantT returns the t statistic and two-sided p-value of a t-test
// whose standard error is 0 (see essentiallyConstant) for an estimate diff
// away from the null value: ±Inf with p = 0, or NaN with p NaN when diff
// is 0.
func constantT(diff float64) (t, p float64) {
	if diff == 0 {
		return math.NaN(), math.NaN()
	}
	return math.Copysign(math.Inf(1), diff), 0
}

// checkFinite returns an error if any value is NaN or infinite.
func checkFinite(name string, x []float64) error {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s[%d]=%v is not finite", name, i, v)
		}
	}
	return nil
}

// TTestResult is a one-sample t interval and test of H0: mean = Mu.
type TTestResult struct {
	N             int
	Mu            float64 // null mean
	Mean, SD, SE  float64 // sample mean, sample sd, sd/√n
	DF            float64 // n - 1
	TCrit         float64 // t_{1-α/2, n-1}
	TStat, PValue float64 // (mean - Mu)/SE and its two-sided p-value
	CI            Interval
	Warnings      []string
}

// OneSampleT returns the one-sample t interval and two-sided test, as R's
// t.test(x, mu = mu, conf.level = conf) (Student 1908):
//
//	t = (x̄ - μ)/(s/√n),  df = n-1,  p = 2·P(T_df > |t|),
//	CI = x̄ ± t_{1-α/2, n-1}·s/√n.
//
// Use it across seeds: x holds one summary per seed. When all values are
// equal the SE is 0; R stops with "data are essentially constant", here t
// is ±Inf (p = 0) or NaN (p = NaN) when x̄ = μ, the interval is [x̄, x̄], and
// a warning says so. Errors on fewer than 2 values, non-finite values or
// conf outside (0, 1).
func OneSampleT(x []float64, mu, conf float64) (TTestResult, error) {
	if len(x) < 2 {
		return TTestResult{}, fmt.Errorf("t_one_sample: need at least 2 values, got %d", len(x))
	}
	if err := checkFinite("x", x); err != nil {
		return TTestResult{}, fmt.Errorf("t_one_sample: %w", err)
	}
	if math.IsNaN(mu) || math.IsInf(mu, 0) {
		return TTestResult{}, errors.New("t_one_sample: mu is not finite")
	}
	if err := checkConf(conf); err != nil {
		return TTestResult{}, fmt.Errorf("t_one_sample: %w", err)
	}
	n := len(x)
	m, v := meanVar(x)
	r := TTestResult{N: n, Mu: mu, Mean: m, SD: math.Sqrt(v), DF: float64(n - 1)}
	r.SE = math.Sqrt(v / float64(n))
	r.TStat = (m - mu) / r.SE
	r.PValue = 2 * pt(-math.Abs(r.TStat), r.DF)
	r.TCrit = qt(1-(1-conf)/2, r.DF)
	r.CI = Interval{Estimate: m, Lower: mu + (r.TStat-r.TCrit)*r.SE, Upper: mu + (r.TStat+r.TCrit)*r.SE,
		Confidence: conf, Method: "Student t"}
	if essentiallyConstant(r.SE, math.Abs(m)) {
		r.CI.Lower, r.CI.Upper = m, m
		r.TStat, r.PValue = constantT(m - mu)
		r.Warnings = append(r.Warnings, "data are essentially constant: the standard error is 0")
	}
	if n < 5 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("n=%d seeds: the t interval is wide and relies on normality", n))
	}
	r.CI.Warnings = r.Warnings
	return r, nil
}

// WelchResult is Welch's two-sample t-test of H0: mean(x) = mean(y).
type WelchResult struct {
	MeanX, MeanY float64
	Diff         float64 // MeanX - MeanY
	SE           float64 // sqrt(s²x/nx + s²y/ny)
	TStat, DF    float64 // Diff/SE and the Welch–Satterthwaite df
	PValue       float64 // two-sided
	CI           Interval
	Warnings     []string
}

// WelchT is Welch's unequal-variance two-sample t-test with interval, as R's
// t.test(x, y, conf.level = conf) (Welch 1947, Biometrika 34:28):
//
//	SE = sqrt(s²x/nx + s²y/ny),  t = (x̄ - ȳ)/SE,
//	df = SE⁴ / ((s²x/nx)²/(nx-1) + (s²y/ny)²/(ny-1)),
//	CI = (x̄ - ȳ) ± t_{1-α/2, df}·SE.
//
// When both samples are constant SE = 0 (R stops): t is ±Inf with p = 0, or
// NaN when the means are equal, df is NaN and the interval is [diff, diff],
// with a warning. Errors on fewer than 2 values in a sample, non-finite
// values or conf outside (0, 1).
func WelchT(x, y []float64, conf float64) (WelchResult, error) {
	if len(x) < 2 || len(y) < 2 {
		return WelchResult{}, fmt.Errorf("welch_t_test: need at least 2 values in each sample, got %d and %d", len(x), len(y))
	}
	if err := checkFinite("x", x); err != nil {
		return WelchResult{}, fmt.Errorf("welch_t_test: %w", err)
	}
	if err := checkFinite("y", y); err != nil {
		return WelchResult{}, fmt.Errorf("welch_t_test: %w", err)
	}
	if err := checkConf(conf); err != nil {
		return WelchResult{}, fmt.Errorf("welch_t_test: %w", err)
	}
	nx, ny := float64(len(x)), float64(len(y))
	mx, vx := meanVar(x)
	my, vy := meanVar(y)
	sx, sy := math.Sqrt(vx/nx), math.Sqrt(vy/ny)
	se := math.Sqrt(sx*sx + sy*sy)
	df := math.Pow(se, 4) / (math.Pow(sx, 4)/(nx-1) + math.Pow(sy, 4)/(ny-1))
	r := WelchResult{MeanX: mx, MeanY: my, Diff: mx - my, SE: se, DF: df}
	r.TStat = (mx - my) / se
	r.PValue = 2 * pt(-math.Abs(r.TStat), df)
	q := qt(1-(1-conf)/2, df)
	r.CI = Interval{Estimate: r.Diff, Lower: (r.TStat - q) * se, Upper: (r.TStat + q) * se,
		Confidence: conf, Method: "Welch t"}
	if essentiallyConstant(se, math.Max(math.Abs(mx), math.Abs(my))) {
		r.DF = math.NaN()
		r.CI.Lower, r.CI.Upper = r.Diff, r.Diff
		r.TStat, r.PValue = constantT(r.Diff)
		r.Warnings = append(r.Warnings, "data are essentially constant: the standard error is 0")
	}
	r.CI.Warnings = r.Warnings
	return r, nil
}
