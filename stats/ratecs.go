package stats

import (
	"fmt"
	"math"
	"slices"
)

// rateCSMaxBet is the hedged capital CS's truncation c (confseq hedged_cs's
// trunc_scale): the side above bets at most c/m and the side below at most
// c/(1−m) at a candidate mean m.
const rateCSMaxBet = 0.5

// RateCSConfig configures a RateCS.
type RateCSConfig struct {
	// Alpha is the CS's error level, in (0, 1): every interval of the
	// sequence covers the mean, all at once, with probability >= 1−Alpha.
	Alpha float64
	// PerPrompt bets on every prompt's hit within a round instead of on
	// the round's mean, as SeqGateConfig.PerPrompt does, with the same
	// extra assumption (the prompts' samples within a round are
	// independent) and far narrower intervals (SEQUENTIAL.md).
	PerPrompt bool
	// Horizon, when > 0, tunes the bets for a width at Horizon rounds (set
	// it to the budget for stop-for-width): λ = √(2 log(2/α) / (N σ̂²)),
	// confseq's fixed_n, with N the number of observations at Horizon
	// rounds. The sequence stays valid at every round, narrowest near
	// Horizon. 0 uses the predictable plug-in schedule of hedged_cs, which
	// shrinks the bets as 1/√(n log n) for a sequence that is uniformly
	// good over time but wider at any one round.
	Horizon int
}

// RateCS is a confidence sequence (CS) for a mean in [0, 1], such as a
// model's rate over a probe's prompts: a sequence of intervals that all
// cover the true mean at once with probability at least 1−α, so it may be
// read, and sampling stopped, at any round, for instance once Width is
// small enough. It is the hedged capital CS of Waudby-Smith & Ramdas (2024),
// "Estimating means of bounded random variables by betting", JRSS-B
// 86(1):1-27, with the defaults of the confseq package's hedged_cs (θ = ½,
// truncation ½, predictable plug-in bets, running intersection), checked
// against a plain-Python re-implementation of that function
// (testdata/gen_seq_reference.py).
//
// For a candidate mean m the two capital processes are
//
//	K⁺(m) = ∏ (1 + min(λ, ½/m)(x − m)),  K⁻(m) = ∏ (1 − min(λ, ½/(1−m))(x − m)),
//
// over the observations x (round means, or with PerPrompt every prompt's
// hit, the bet held for the round as in SeqGate), with the predictable
// plug-in bet for an observation preceded by n others
//
//	λ = √(2 log(2/α) / (σ̂²_n (n+1) log(n+2))),
//	μ̂_n = (½ + Σ_{i≤n} x_i)/(n+1),  σ̂²_n = (¼ + Σ_{i≤n} (x_i − μ̂_i)²)/(n+1),
//
// (with PerPrompt, n counts the observations of earlier rounds; with
// Horizon, (n+1) log(n+2) becomes the number of observations at Horizon
// rounds), and m is in the CS after a round when
// max(½K⁺(m), ½K⁻(m)) ≤ 1/α. K⁺ falls and K⁻ rises with m, so the set is
// an interval; its ends are found by safeguarded Newton steps to full
// precision (confseq scans a grid of 1000 cells and widens by one cell
// instead), and the reported interval is the running intersection over
// rounds. The state keeps every round (its bet and its distinct values
// with their counts: four to six numbers a round for round means or 0/1
// hits), and an update costs a few passes over the rounds.
//
// Use NewRateCS; the zero value is invalid. A RateCS holds slices: copy it
// with Clone, not by assignment.
type RateCS struct {
	cfg     RateCSConfig
	logThr  float64   // log(2/α): a side's threshold on its unhedged capital
	lam     []float64 // each round's bet λ, before truncation
	end     []int     // round r's distinct values are vals[end[r-1]:end[r]]
	vals    []float64 // distinct observations of each round
	counts  []float64 // and how often each occurred
	prompts int       // prompts per round (PerPrompt), fixed by the first round
	n       float64   // observations so far
	sum     float64   // Σ x
	sumSq   float64   // Σ (x_i − μ̂_i)²
	lo, hi  float64   // running intersection
}

// NewRateCS returns an empty confidence sequence. Errors on Alpha outside
// (0, 1) with a *SeqFieldError naming alpha.
func NewRateCS(cfg RateCSConfig) (*RateCS, error) {
	if !(cfg.Alpha > 0 && cfg.Alpha < 1) {
		return nil, &SeqFieldError{"alpha", fmt.Sprintf("%v is not in (0, 1)", cfg.Alpha)}
	}
	if cfg.Horizon < 0 {
		return nil, &SeqFieldError{"horizon", fmt.Sprintf("%d is negative", cfg.Horizon)}
	}
	return &RateCS{cfg: cfg, logThr: math.Log(2 / cfg.Alpha), lo: 0, hi: 1}, nil
}

// Clone returns an independent copy.
func (c *RateCS) Clone() *RateCS {
	d := *c
	d.lam = slices.Clone(c.lam)
	d.end = slices.Clone(c.end)
	d.vals = slices.Clone(c.vals)
	d.counts = slices.Clone(c.counts)
	return &d
}

// Update adds one round given its mean x in [0, 1] (the round's hit rate
// over the probe's prompts) and narrows the interval. Errors, changing
// nothing, on x outside [0, 1] or NaN, or on a PerPrompt CS (which needs
// every prompt's hit: UpdateRound).
func (c *RateCS) Update(x float64) error {
	if c.cfg.PerPrompt {
		return fmt.Errorf("rate confidence sequence: a per-prompt sequence needs each prompt's hit (UpdateRound), not the round's mean")
	}
	if !(x >= 0 && x <= 1) {
		return fmt.Errorf("rate confidence sequence: round mean %v is not in [0, 1]", x)
	}
	c.addRound([]float64{x})
	return nil
}

// UpdateRound adds one round given every prompt's hit (or score) in
// [0, 1], one per prompt of the probe. Without PerPrompt it is Update with
// their mean; with it every round must have as many prompts as the first.
// Errors, changing nothing, on an empty round, a value outside [0, 1] or
// NaN, or a round of another size (PerPrompt).
func (c *RateCS) UpdateRound(xs []float64) error {
	if len(xs) == 0 {
		return fmt.Errorf("rate confidence sequence: empty round")
	}
	sum := 0.0
	for j, x := range xs {
		if !(x >= 0 && x <= 1) {
			return fmt.Errorf("rate confidence sequence: prompt %d's value %v is not in [0, 1]", j+1, x)
		}
		sum += x
	}
	if !c.cfg.PerPrompt {
		return c.Update(sum / float64(len(xs)))
	}
	if c.prompts != 0 && len(xs) != c.prompts {
		return fmt.Errorf("rate confidence sequence: round of %d prompts; earlier rounds had %d", len(xs), c.prompts)
	}
	c.prompts = len(xs)
	c.addRound(xs)
	return nil
}

// addRound bets on a round of valid observations and narrows the interval.
func (c *RateCS) addRound(xs []float64) {
	v := (0.25 + c.sumSq) / (c.n + 1) // σ̂²_n
	scale := (c.n + 1) * math.Log(c.n+2)
	if c.cfg.Horizon > 0 {
		scale = float64(c.cfg.Horizon * len(xs))
	}
	c.lam = append(c.lam, math.Sqrt(2*c.logThr/(v*scale)))
	for _, x := range xs {
		c.n++
		c.sum += x
		mu := math.Min((0.5+c.sum)/(c.n+1), 1)
		c.sumSq += (x - mu) * (x - mu)
	}
	start := len(c.vals)
	c.vals = append(c.vals, xs...)
	slices.Sort(c.vals[start:])
	// Run-length encode the sorted values in place.
	k := start
	for i := start; i < len(c.vals); i++ {
		if i > start && c.vals[i] == c.vals[k-1] {
			c.counts[k-1]++
			continue
		}
		c.vals[k] = c.vals[i]
		c.counts = append(c.counts[:k], 1)
		k++
	}
	c.vals = c.vals[:k]
	c.end = append(c.end, k)
	c.lo, c.hi = c.lower(), c.upper()
}

// logCap returns log K⁺(m) (up) or log K⁻(m), and its derivative in m.
func (c *RateCS) logCap(m float64, up bool) (v, dv float64) {
	start := 0
	for r, end := range c.end {
		lam := c.lam[r]
		for i := start; i < end; i++ {
			x, n := c.vals[i], c.counts[i]
			switch {
			case up && lam*m <= rateCSMaxBet: // λ(x−m)
				v += n * math.Log1p(lam*(x-m))
				dv -= n * lam / (1 + lam*(x-m))
			case up: // λ = c/m: log(1 − c + c·x/m)
				v += n * math.Log1p(rateCSMaxBet*(x-m)/m)
				dv -= n * rateCSMaxBet * x / (m * m * (1 + rateCSMaxBet*(x-m)/m))
			case lam*(1-m) <= rateCSMaxBet: // −λ(x−m)
				v += n * math.Log1p(-lam*(x-m))
				dv += n * lam / (1 - lam*(x-m))
			default: // λ = c/(1−m): log(1 − c(x−m)/(1−m))
				u := (x - m) / (1 - m)
				v += n * math.Log1p(-rateCSMaxBet*u)
				dv -= n * rateCSMaxBet * (x - 1) / ((1 - m) * (1 - m) * (1 - rateCSMaxBet*u))
			}
		}
		start = end
	}
	return v, dv
}

// lower returns the running intersection's new lower end: the current one
// if K⁺ is within 2/α there, else the m > it where log K⁺(m) = log(2/α)
// (K⁺ falls in m).
func (c *RateCS) lower() float64 {
	if v, _ := c.logCap(c.lo, true); v <= c.logThr {
		return c.lo
	}
	g := func(m float64) (float64, float64) {
		v, dv := c.logCap(m, true)
		return v - c.logThr, dv
	}
	return solveBracketed(g, c.lo, 1, c.lo+(1-c.lo)/2, false)
}

// upper returns the running intersection's new upper end: the current one
// if K⁻ is within 2/α there, else the m < it where log K⁻(m) = log(2/α)
// (K⁻ rises in m).
func (c *RateCS) upper() float64 {
	if v, _ := c.logCap(c.hi, false); v <= c.logThr {
		return c.hi
	}
	g := func(m float64) (float64, float64) {
		v, dv := c.logCap(m, false)
		return v - c.logThr, dv
	}
	return solveBracketed(g, 0, c.hi, c.hi/2, true)
}

// Rounds returns the number of rounds added.
func (c *RateCS) Rounds() int { return len(c.lam) }

// Width returns the width of the current interval: 1 before the first
// round, 0 if the running intersection is empty. Stop for width when it is
// at most the target.
func (c *RateCS) Width() float64 { return math.Max(c.hi-c.lo, 0) }

// Interval returns the current interval (the running intersection of the
// CS so far) at Confidence 1−Alpha, valid simultaneously for every round.
// Estimate is the mean of the observations (NaN before the first round).
// The running intersection can come out empty, with probability at most
// Alpha when the observations share one mean; then Lower = Upper is the
// midpoint of the crossed ends and a warning says so.
func (c *RateCS) Interval() Interval {
	iv := Interval{Estimate: math.NaN(), Lower: c.lo, Upper: c.hi, Confidence: 1 - c.cfg.Alpha,
		Method: "betting confidence sequence (hedged capital)"}
	if c.n > 0 {
		iv.Estimate = c.sum / c.n
	}
	if c.lo > c.hi {
		mid := (c.lo + c.hi) / 2
		iv.Lower, iv.Upper = mid, mid
		iv.Warnings = append(iv.Warnings, fmt.Sprintf("the confidence sequence is empty after %d rounds: no single mean fits every round", len(c.lam)))
	}
	return iv
}
