package stats

import (
	"fmt"
	"math"
)

// Interval is a confidence interval for a single quantity.
type Interval struct {
	Estimate, Lower, Upper float64
	Confidence             float64  // in (0,1), e.g. 0.95
	Method                 string   // human-readable method name printed in reports, e.g. "Wilson score"
	Warnings               []string // statistical caveats shown as report footnotes
}

// Contains reports whether v lies in the closed interval [Lower, Upper].
func (iv Interval) Contains(v float64) bool {
	return v >= iv.Lower && v <= iv.Upper
}

// Width returns Upper - Lower.
func (iv Interval) Width() float64 { return iv.Upper - iv.Lower }

// String formats the interval as "estimate [lower, upper] (95% method)".
func (iv Interval) String() string {
	return fmt.Sprintf("%.4g [%.4g, %.4g] (%g%% %s)", iv.Estimate, iv.Lower, iv.Upper, 100*iv.Confidence, iv.Method)
}

// smallSampleDraws is the number of draws below which a one-sample rate is
// flagged as resting on too few draws.
const smallSampleDraws = 10

// checkConf validates a confidence level.
func checkConf(conf float64) error {
	if !(conf > 0 && conf < 1) {
		return fmt.Errorf("confidence level %v not in (0, 1)", conf)
	}
	return nil
}

// checkCount validates x successes out of n trials, with n >= 1.
func checkCount(x, n int) error {
	switch {
	case n <= 0:
		return fmt.Errorf("n=%d: need at least one trial", n)
	case x < 0:
		return fmt.Errorf("x=%d: negative count", x)
	case x > n:
		return fmt.Errorf("x=%d > n=%d", x, n)
	}
	return nil
}

// checkProb validates a probability in [0, 1].
func checkProb(name string, p float64) error {
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("%s=%v not in [0, 1]", name, p)
	}
	return nil
}

// countWarnings returns the report caveats for x of n.
func countWarnings(x, n int) []string {
	var w []string
	if n < smallSampleDraws {
		w = append(w, fmt.Sprintf("n=%d: too few draws for a stable rate; the interval is wide and its coverage uneven", n))
	}
	if x == 0 {
		w = append(w, fmt.Sprintf("x=0 of %d: no successes observed", n))
	} else if x == n {
		w = append(w, fmt.Sprintf("x=n=%d: every draw was a success", n))
	}
	return w
}

// zTwoSided returns qnorm((1+conf)/2), written as R's prop.test writes it.
func zTwoSided(conf float64) float64 { return qnorm((1 + conf) / 2) }

// clamp01 limits v to [0, 1].
func clamp01(v float64) float64 { return math.Min(1, math.Max(0, v)) }
