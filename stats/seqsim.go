package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// SeqSimConfig describes a simulated comparison for SimulateSequential.
type SeqSimConfig struct {
	// Baseline and Treatment are the two models' rates in [0, 1]: the mean
	// over the probe's prompts of each prompt's rate. The true difference
	// is Treatment − Baseline.
	Baseline, Treatment float64
	// ICC is the prompts' intraclass correlation in [0, 1): the share of a
	// hit's variance that lies between prompts. Each model's per-prompt
	// rates are drawn from Beta(p(1−ICC)/ICC, (1−p)(1−ICC)/ICC), whose
	// variance is ICC·p(1−p), independently for the two models, then moved
	// to mean exactly p (see SimulateSequential); 0 gives every prompt the
	// rate p.
	ICC float64
	// Prompts is the number of prompts in the probe, >= 1.
	Prompts int
	// Gate is the sequential gate under test.
	Gate SeqGateConfig
	// Replicates is the number of simulated runs, >= 1.
	Replicates int
	// Seed seeds the PCG source; equal configs give equal results.
	Seed uint64
}

// SeqSimResult is the outcome of SimulateSequential. Rounds are samples per
// prompt per model: a run that stops at round r drew r·Prompts samples from
// each model.
type SeqSimResult struct {
	Config SeqSimConfig
	// Pass, Fail and Inconclusive count the runs by verdict.
	Pass, Fail, Inconclusive int
	// DecidedAt[r-1] counts the runs whose verdict (pass or fail) came at
	// round r; len is Gate.MaxRounds.
	DecidedAt []int
	// ZAnyRound counts the runs in which the control, a two-sided
	// two-proportion Wald z-test of Treatment − Baseline against the bound
	// on the pooled samples at level Alpha, rejected at any round: what
	// re-checking a fixed-sample test after every round would report.
	ZAnyRound int
	// ZFinal counts the runs in which the same z-test rejected at round
	// MaxRounds alone: the fixed design, tested once.
	ZFinal int
}

// seqBoundaryTol is how close the true difference must be to the bound to
// count as on it (0.15 − 0.12 is 0.030000000000000013 in float64).
const seqBoundaryTol = 1e-9

// Errors counts the runs with a wrong verdict. A verdict claims a side of
// the bound (a max_increase pass claims the difference is below it); it is
// wrong when the true difference is on the other side or on the bound
// itself, where neither claim holds, so at the bound every verdict counts.
func (r SeqSimResult) Errors() int {
	d := r.Config.Treatment - r.Config.Baseline - r.Config.Gate.Bound
	above, below := r.Fail, r.Pass // what a max_increase gate's verdicts claim
	if r.Config.Gate.Rule == SeqMinIncrease {
		above, below = r.Pass, r.Fail
	}
	switch {
	case math.Abs(d) <= seqBoundaryTol:
		return above + below
	case d > 0:
		return below
	default:
		return above
	}
}

// Rate returns k/Replicates and its binomial standard error.
func (r SeqSimResult) Rate(k int) (p, se float64) {
	n := float64(r.Config.Replicates)
	p = float64(k) / n
	return p, math.Sqrt(p * (1 - p) / n)
}

// RoundsQuantile returns the q-quantile (q in [0, 1]) of the rounds each run
// used, counting an inconclusive run at the budget: the smallest r with at
// least a fraction q of the runs stopped by round r (the inverse empirical
// CDF, R's quantile type 1).
func (r SeqSimResult) RoundsQuantile(q float64) int {
	need := int(math.Ceil(q * float64(r.Config.Replicates)))
	if need < 1 {
		need = 1
	}
	n := 0
	for i, k := range r.DecidedAt {
		n += k
		if n >= need {
			return i + 1
		}
	}
	return r.Config.Gate.MaxRounds
}

// MeanRounds returns the mean number of rounds the runs used, counting an
// inconclusive run at the budget.
func (r SeqSimResult) MeanRounds() float64 {
	s := float64(r.Inconclusive * r.Config.Gate.MaxRounds)
	for i, k := range r.DecidedAt {
		s += float64((i + 1) * k)
	}
	return s / float64(r.Config.Replicates)
}

// Validate returns an error for the first invalid field, or nil.
func (c SeqSimConfig) Validate() error {
	switch {
	case !(c.Baseline >= 0 && c.Baseline <= 1):
		return fmt.Errorf("baseline rate %v is not in [0, 1]", c.Baseline)
	case !(c.Treatment >= 0 && c.Treatment <= 1):
		return fmt.Errorf("treatment rate %v is not in [0, 1]", c.Treatment)
	case !(c.ICC >= 0 && c.ICC < 1):
		return fmt.Errorf("icc %v is not in [0, 1)", c.ICC)
	case c.Prompts < 1:
		return fmt.Errorf("prompts=%d: need at least one", c.Prompts)
	case c.Replicates < 1:
		return fmt.Errorf("replicates=%d: need at least one", c.Replicates)
	}
	return c.Gate.Validate()
}

// SimulateSequential simulates cfg.Replicates runs of a sequential gate and
// returns when they stopped, with which verdict, and what a z-test
// re-checked every round would have said on the same samples. It is pure
// and single-threaded: the result is a function of cfg (Seed included).
//
// Each run draws fresh per-prompt rates for both models (see
// SeqSimConfig.ICC) and rescales them so that their mean over the prompts
// is exactly the model's rate: the gate's question is the mean over the
// probe's own prompts, for which its guarantee holds prompt set by prompt
// set, so a run whose drawn prompts happened to average above the bound
// would not be a run at the bound. The move is one shift of all the rates'
// logits, which stays in [0, 1] and keeps their spread near ICC·p(1−p)
// (within 10% for rates in [0.04, 0.96] at ICC <= 0.2, and 20% at 0.01;
// TestPromptRates). Each round then samples every
// prompt once per model (independent Bernoulli draws) and feeds the
// prompts' differences to the gate (UpdateRound), up to Gate.MaxRounds
// rounds.
func SimulateSequential(cfg SeqSimConfig) (SeqSimResult, error) {
	if err := cfg.Validate(); err != nil {
		return SeqSimResult{}, fmt.Errorf("simulate sequential: %w", err)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7e9_5e9_a1))
	res := SeqSimResult{Config: cfg, DecidedAt: make([]int, cfg.Gate.MaxRounds)}
	k := cfg.Prompts
	base, treat, diffs := make([]float64, k), make([]float64, k), make([]float64, k)
	zc := qnorm(1 - cfg.Gate.Alpha/2)
	b := cfg.Gate.Bound
	for range cfg.Replicates {
		promptRates(rng, base, cfg.Baseline, cfg.ICC)
		promptRates(rng, treat, cfg.Treatment, cfg.ICC)
		g, err := NewSeqGate(cfg.Gate)
		if err != nil {
			return SeqSimResult{}, fmt.Errorf("simulate sequential: %w", err)
		}
		hitsB, hitsT := 0, 0
		zRejected := false
		for round := 1; round <= cfg.Gate.MaxRounds; round++ {
			for j := range k {
				hb, ht := 0, 0
				if rng.Float64() < base[j] {
					hb = 1
				}
				if rng.Float64() < treat[j] {
					ht = 1
				}
				hitsB += hb
				hitsT += ht
				diffs[j] = float64(ht - hb)
			}
			if err := g.UpdateRound(diffs); err != nil {
				return SeqSimResult{}, fmt.Errorf("simulate sequential: %w", err)
			}
			n := float64(round * k)
			pb, pt := float64(hitsB)/n, float64(hitsT)/n
			se := math.Sqrt((pb*(1-pb) + pt*(1-pt)) / n)
			reject := se > 0 && math.Abs(pt-pb-b) > zc*se
			if reject {
				zRejected = true
			}
			if round == cfg.Gate.MaxRounds && reject {
				res.ZFinal++
			}
		}
		if zRejected {
			res.ZAnyRound++
		}
		d := g.Decision()
		switch d.Verdict {
		case SeqPass:
			res.Pass++
		case SeqFail:
			res.Fail++
		default:
			res.Inconclusive++
			continue
		}
		res.DecidedAt[d.Rounds-1]++
	}
	return res, nil
}

// promptRates fills r with per-prompt rates of mean exactly p whose spread
// has intraclass correlation about icc (see SimulateSequential).
func promptRates(rng *rand.Rand, r []float64, p, icc float64) {
	if icc == 0 || p == 0 || p == 1 {
		for i := range r {
			r[i] = p
		}
		return
	}
	s := (1 - icc) / icc
	for i := range r {
		r[i] = betaDraw(rng, p*s, (1-p)*s)
	}
	matchMean(r, p)
}

// matchMean moves the rates r (in [0, 1]) to mean p in (0, 1) by one shift
// of their logits, which keeps their spread close to the drawn one (scaling
// the rates instead shrinks the spread of skewed draws by up to half), then
// removes the last rounding error by a scaling within a few ulps of 1.
// Rates of exactly 0 or 1 stay put; if they alone keep the mean from p,
// the scaling does all the work.
func matchMean(r []float64, p float64) {
	// mean(s) = mean of r_i e^s / (r_i e^s + 1 − r_i), increasing in s.
	f := func(s float64) (v, dv float64) {
		es := math.Exp(s)
		for _, x := range r {
			g := math.Min(x*es/(x*es+1-x), 1)
			v += g
			dv += g * (1 - g)
		}
		n := float64(len(r))
		return v/n - p, dv / n
	}
	lo, hi, s := -1.0, 1.0, 0.0
	for v, _ := f(lo); v > 0 && lo > -800; v, _ = f(lo) {
		lo *= 2
	}
	for v, _ := f(hi); v < 0 && hi < 800; v, _ = f(hi) {
		hi *= 2
	}
	for range 200 {
		v, dv := f(s)
		if math.Abs(v) <= 1e-15 {
			break
		}
		if v > 0 {
			hi = s
		} else {
			lo = s
		}
		next := s - v/dv
		if !(next > lo && next < hi) {
			next = lo + (hi-lo)/2
		}
		if next == s {
			break
		}
		s = next
	}
	es := math.Exp(s)
	mean := 0.0
	for i, x := range r {
		r[i] = math.Min(x*es/(x*es+1-x), 1) // the division can round above 1
		mean += r[i]
	}
	mean /= float64(len(r))
	switch {
	case mean > p:
		f := p / mean
		for i := range r {
			r[i] *= f
		}
	case mean < p:
		f := (1 - p) / (1 - mean)
		for i := range r {
			r[i] = 1 - (1-r[i])*f
		}
	}
}

// betaDraw draws from Beta(a, b), a, b > 0, as G_a/(G_a+G_b) with gamma
// draws.
func betaDraw(rng *rand.Rand, a, b float64) float64 {
	x := gammaDraw(rng, a)
	y := gammaDraw(rng, b)
	if x+y == 0 {
		// Both underflowed (tiny shapes): the Beta draw is 0 or 1 with
		// probabilities a/(a+b) and b/(a+b), to first order.
		if rng.Float64() < a/(a+b) {
			return 1
		}
		return 0
	}
	return x / (x + y)
}

// gammaDraw draws from Gamma(shape, 1), shape > 0, by Marsaglia & Tsang
// (2000), ACM TOMS 26(3):363, with their boost G_a = G_{a+1}·U^{1/a} for
// shape < 1.
func gammaDraw(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := rng.Float64()
		return gammaDraw(rng, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// RateSimConfig describes a simulated rate for SimulateRateCS.
type RateSimConfig struct {
	// Rate is the model's rate in [0, 1], the mean over the prompts.
	Rate float64
	// ICC and Prompts are as in SeqSimConfig.
	ICC     float64
	Prompts int
	// CS configures the confidence sequence under test.
	CS RateCSConfig
	// Width is the stop-for-width target, in (0, 1].
	Width float64
	// MaxRounds is the budget, >= 1.
	MaxRounds int
	// Replicates and Seed are as in SeqSimConfig.
	Replicates int
	Seed       uint64
}

// RateSimResult is the outcome of SimulateRateCS.
type RateSimResult struct {
	Config RateSimConfig
	// ReachedAt[r-1] counts the runs whose interval first had width <=
	// Width at round r; runs that never did by MaxRounds are not counted.
	ReachedAt []int
	// Misses counts the runs whose interval excluded the true rate at some
	// round up to MaxRounds (the sequence's error; at most Alpha in
	// expectation whatever rule stops the run).
	Misses int
	// MeanWidth is the mean width at MaxRounds.
	MeanWidth float64
}

// RoundsQuantile returns the q-quantile of the round at which the width
// target was reached, counting runs that never reached it at MaxRounds+1
// (so a result above MaxRounds means fewer than a fraction q reached it).
func (r RateSimResult) RoundsQuantile(q float64) int {
	need := max(int(math.Ceil(q*float64(r.Config.Replicates))), 1)
	n := 0
	for i, k := range r.ReachedAt {
		n += k
		if n >= need {
			return i + 1
		}
	}
	return r.Config.MaxRounds + 1
}

// SimulateRateCS simulates cfg.Replicates runs of a rate's confidence
// sequence over MaxRounds rounds: when its width first reached the target
// and whether it ever excluded the true rate. The prompts' rates are drawn
// as in SimulateSequential (mean exactly Rate); every round samples each
// prompt once. Pure and single-threaded: the result is a function of cfg.
func SimulateRateCS(cfg RateSimConfig) (RateSimResult, error) {
	switch {
	case !(cfg.Rate >= 0 && cfg.Rate <= 1):
		return RateSimResult{}, fmt.Errorf("simulate rate: rate %v is not in [0, 1]", cfg.Rate)
	case !(cfg.ICC >= 0 && cfg.ICC < 1):
		return RateSimResult{}, fmt.Errorf("simulate rate: icc %v is not in [0, 1)", cfg.ICC)
	case cfg.Prompts < 1 || cfg.MaxRounds < 1 || cfg.Replicates < 1:
		return RateSimResult{}, fmt.Errorf("simulate rate: prompts=%d, max_rounds=%d and replicates=%d must be >= 1",
			cfg.Prompts, cfg.MaxRounds, cfg.Replicates)
	case !(cfg.Width > 0 && cfg.Width <= 1):
		return RateSimResult{}, fmt.Errorf("simulate rate: width %v is not in (0, 1]", cfg.Width)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5a7e_c5))
	res := RateSimResult{Config: cfg, ReachedAt: make([]int, cfg.MaxRounds)}
	rates, hits := make([]float64, cfg.Prompts), make([]float64, cfg.Prompts)
	for range cfg.Replicates {
		promptRates(rng, rates, cfg.Rate, cfg.ICC)
		cs, err := NewRateCS(cfg.CS)
		if err != nil {
			return RateSimResult{}, fmt.Errorf("simulate rate: %w", err)
		}
		reached, missed := false, false
		for round := 1; round <= cfg.MaxRounds; round++ {
			for j, p := range rates {
				hits[j] = 0
				if rng.Float64() < p {
					hits[j] = 1
				}
			}
			if err := cs.UpdateRound(hits); err != nil {
				return RateSimResult{}, fmt.Errorf("simulate rate: %w", err)
			}
			if !reached && cs.Width() <= cfg.Width {
				reached = true
				res.ReachedAt[round-1]++
			}
			if iv := cs.Interval(); !iv.Contains(cfg.Rate) {
				missed = true
			}
		}
		if missed {
			res.Misses++
		}
		res.MeanWidth += cs.Width() / float64(cfg.Replicates)
	}
	return res, nil
}
