package stats

import (
	"fmt"
	"math"
)

// This file holds the sequential gate: two one-sided betting e-processes on
// the per-round paired differences of a comparison, after Waudby-Smith &
// Ramdas (2024), "Estimating means of bounded random variables by betting",
// JRSS-B 86(1):1-27 (arXiv:2010.09686), checked against a plain-Python
// re-implementation of the confseq package's betting_mart and lambda_aKelly
// (testdata/gen_seq_reference.py).
//
// Why rounds: one round is every prompt of the probe sampled once by each
// model of the comparison, and its value is the mean over prompts of
// (treatment hit − baseline hit). Given the probe's prompts the rounds are
// i.i.d. and bounded in [−1, 1] whatever the prompts' own rates are, so the
// e-process is valid under prompt clustering without modelling it.

// SeqRule is the kind of a sequential gate: which side of the bound passes.
// The values are the suite keys of the fixed-sample gates.
type SeqRule string

const (
	// SeqMaxIncrease passes once the mean difference is shown to be below
	// the bound and fails once it is shown to be above it.
	SeqMaxIncrease SeqRule = "max_increase"
	// SeqMinIncrease passes once the mean difference is shown to be above
	// the bound and fails once it is shown to be below it.
	SeqMinIncrease SeqRule = "min_increase"
)

// SeqVerdict is the state of a sequential gate.
type SeqVerdict string

const (
	// SeqContinue: no verdict yet and budget left; sample another round.
	SeqContinue SeqVerdict = "continue"
	// SeqPass: the gate passed; the verdict is final.
	SeqPass SeqVerdict = "pass"
	// SeqFail: the gate failed; the verdict is final.
	SeqFail SeqVerdict = "fail"
	// SeqInconclusive: the budget (MaxRounds) was spent without a verdict.
	SeqInconclusive SeqVerdict = "inconclusive"
)

// SeqMaxBet is the truncation c of the gate's bets: a side never stakes more
// than the fraction c of its wealth on the worst possible round (the bet on
// the side above is at most c/m, on the side below at most c/(1−m), with m
// the bound on the [0, 1] scale), so one round can cost at most a fraction c
// of a side's wealth. Waudby-Smith & Ramdas recommend 1/2 or 3/4; round
// means over many prompts are concentrated far inside [−1, 1], so bets sit
// at the cap for most clear effects, and 3/4 reaches a verdict in 25-30%
// fewer rounds than 1/2 there (SEQUENTIAL.md).
const SeqMaxBet = 0.75

// SeqGateConfig configures a sequential gate. The zero value is invalid;
// Validate says why.
type SeqGateConfig struct {
	// Alpha is the error budget, in (0, 1). It is split equally between the
	// two sides: each one-sided process starts with half of a unit of
	// capital and decides when its wealth reaches 1/Alpha, so a wrong
	// verdict on either side has probability at most Alpha/2, at any
	// stopping time, and at the exact bound (where neither side's claim is
	// true) any verdict has probability at most Alpha. This is the
	// two-sided Alpha of the fixed-sample gates, whose p-values are
	// two-sided, and a verdict is reached exactly when the 1−Alpha hedged
	// capital confidence sequence built from the same bets excludes the
	// bound.
	Alpha float64
	// Bound is the gate's bound on the mean difference treatment −
	// baseline, in (−1, 1) (±1 cannot be crossed by a mean in [−1, 1]).
	Bound float64
	// Rule says which side of Bound passes.
	Rule SeqRule
	// MaxRounds is the budget in rounds (samples per prompt per model),
	// >= 1; at MaxRounds without a verdict the gate is inconclusive.
	MaxRounds int
	// PerPrompt bets on every prompt's difference within a round instead
	// of on the round's mean (see SeqGate). The zero value bets on round
	// means, which assumes only that rounds are independent; PerPrompt
	// also assumes the prompts' samples within a round are independent
	// (as the fixed-sample tests on pooled samples do) and needs several
	// times fewer rounds (SEQUENTIAL.md).
	PerPrompt bool
}

// SeqFieldError is an invalid SeqGateConfig field. Field is the field's name
// in snake case (alpha, bound, rule, max_rounds), for a suite loader to map
// to the key and position it came from.
type SeqFieldError struct {
	Field string
	Msg   string
}

func (e *SeqFieldError) Error() string { return "sequential gate: " + e.Field + ": " + e.Msg }

// Validate returns a *SeqFieldError for the first invalid field, or nil.
func (c SeqGateConfig) Validate() error {
	switch {
	case !(c.Alpha > 0 && c.Alpha < 1):
		return &SeqFieldError{"alpha", fmt.Sprintf("%v is not in (0, 1)", c.Alpha)}
	case !(c.Bound > -1 && c.Bound < 1):
		return &SeqFieldError{"bound", fmt.Sprintf("%v is not in (-1, 1): a difference of rates must be able to lie on either side of it", c.Bound)}
	case c.Rule != SeqMaxIncrease && c.Rule != SeqMinIncrease:
		return &SeqFieldError{"rule", fmt.Sprintf("%q: want %q or %q", string(c.Rule), SeqMaxIncrease, SeqMinIncrease)}
	case c.MaxRounds < 1:
		return &SeqFieldError{"max_rounds", fmt.Sprintf("%d: need at least one round", c.MaxRounds)}
	}
	return nil
}

// SeqGate is the running state of a sequential gate: O(1) in the number of
// rounds (a dozen numbers), and a plain value, so a copy is an independent
// snapshot. Feed it one round at a time (UpdateRound, or Update with the
// round's mean) and read Decision; the same rounds in the same order always
// give the same decision, so a resumed run replays its stored rounds
// (ReplaySeqGate) and carries on. The zero value is invalid: use
// NewSeqGate.
//
// Method: differences d in [−1, 1] are mapped to y = (d+1)/2 in [0, 1] and
// the bound b to m = (b+1)/2. Two capital processes bet against the two
// one-sided nulls "mean ≤ m" (the side above) and "mean ≥ m" (the side
// below), each starting with half of a unit of capital:
//
//	K⁺ = ½ ∏ (1 + λ⁺ (y − m)),  K⁻ = ½ ∏ (1 − λ⁻ (y − m)),
//
// kept as logs. By default the product runs over rounds and y is the
// round's mean. With PerPrompt it runs over every prompt's difference, the
// bet fixed for the whole round: given earlier rounds the round's factor
// has expectation ∏_j (1 + λ(μ_j − m)) ≤ (1 + λ(μ̄ − m))^K by the AM-GM
// inequality (every factor is positive), so it is still a supermartingale
// for the mean μ̄ over the K prompts, however their rates differ.
//
// The bets are the paper's aGRAPA ("approximate growth rate adaptive to the
// particular alternative"; confseq's lambda_aKelly), from the running mean
// and variance of the observations of earlier rounds (round means, or
// prompt differences with PerPrompt), each regularised by one fake
// observation at mean ½ and variance ¼:
//
//	μ̂_n = (½ + Σ_{i≤n} y_i)/(n+1),  σ̂²_n = (¼ + Σ_{i≤n} (y_i − μ̂_i)²)/(n+1),
//	λ = (μ̂ − m) / (σ̂² + (μ̂ − m)²),
//
// the side above betting λ⁺ = clip(λ, 0, c/m) and the side below
// λ⁻ = clip(−λ, 0, c/(1−m)), c = SeqMaxBet. Each side bets only in its own
// direction (λ ≥ 0), which makes it a test supermartingale for its whole
// composite null, not only for the mean m. By Ville's inequality a side's
// wealth ever reaches 1/α with probability at most α/2 under its null; the
// first side to get there gives the verdict.
type SeqGate struct {
	cfg     SeqGateConfig
	m       float64 // the bound on the [0, 1] scale
	logThr  float64 // log(1/α)
	t       int     // rounds used
	prompts int     // prompts per round (PerPrompt), fixed by the first round
	n       float64 // observations so far (rounds, or prompt differences)
	sumX    float64 // Σ d, on the difference scale (for the estimate)
	sumY    float64 // Σ y
	sumSq   float64 // Σ (y_i − μ̂_i)²
	logUp   float64 // log K⁺
	logDown float64 // log K⁻
	verdict SeqVerdict
}

// NewSeqGate returns a gate with no rounds, or cfg.Validate's error.
func NewSeqGate(cfg SeqGateConfig) (SeqGate, error) {
	if err := cfg.Validate(); err != nil {
		return SeqGate{}, err
	}
	return SeqGate{
		cfg:     cfg,
		m:       (cfg.Bound + 1) / 2,
		logThr:  -math.Log(cfg.Alpha),
		logUp:   -math.Ln2,
		logDown: -math.Ln2,
		verdict: SeqContinue,
	}, nil
}

// ReplaySeqGate feeds rounds, in order, to a new gate with UpdateRound: the
// decision a resumed run reaches from its stored rounds. Rounds after the
// verdict (or past the budget) are checked but change nothing.
func ReplaySeqGate(cfg SeqGateConfig, rounds [][]float64) (SeqGate, error) {
	g, err := NewSeqGate(cfg)
	if err != nil {
		return SeqGate{}, err
	}
	for i, d := range rounds {
		if err := g.UpdateRound(d); err != nil {
			return SeqGate{}, fmt.Errorf("round %d: %w", i+1, err)
		}
	}
	return g, nil
}

// Update adds one round given its mean over prompts of (treatment hit −
// baseline hit), x in [−1, 1]. Once the gate has a verdict (pass, fail or
// inconclusive) further rounds are ignored, so the verdict and its round
// are final. Errors, changing nothing, on x outside [−1, 1] or NaN, on a
// PerPrompt gate (which needs the prompts' differences: UpdateRound), or
// on a gate not made by NewSeqGate.
func (g *SeqGate) Update(x float64) error {
	if err := g.ready(); err != nil {
		return err
	}
	if g.cfg.PerPrompt {
		return fmt.Errorf("sequential gate: a per-prompt gate needs each prompt's difference (UpdateRound), not the round's mean")
	}
	if !(x >= -1 && x <= 1) {
		return fmt.Errorf("sequential gate: round mean difference %v is not in [-1, 1]", x)
	}
	if g.verdict == SeqContinue {
		up, down := g.bets()
		g.observe(x, up, down)
		g.endRound()
	}
	return nil
}

// UpdateRound adds one round given every prompt's difference (treatment
// hit − baseline hit, each in [−1, 1]), one per prompt of the probe, in any
// fixed order. Without PerPrompt it is Update with their mean; with it,
// every round must have as many prompts as the first. Rounds after a
// verdict are ignored, as in Update. Errors, changing nothing, on an empty
// round, a difference outside [−1, 1] or NaN, or a round of another size
// (PerPrompt).
func (g *SeqGate) UpdateRound(d []float64) error {
	if err := g.ready(); err != nil {
		return err
	}
	if len(d) == 0 {
		return fmt.Errorf("sequential gate: empty round")
	}
	sum := 0.0
	for j, x := range d {
		if !(x >= -1 && x <= 1) {
			return fmt.Errorf("sequential gate: prompt %d's difference %v is not in [-1, 1]", j+1, x)
		}
		sum += x
	}
	if !g.cfg.PerPrompt {
		return g.Update(sum / float64(len(d)))
	}
	if g.prompts != 0 && len(d) != g.prompts {
		return fmt.Errorf("sequential gate: round of %d prompts; earlier rounds had %d", len(d), g.prompts)
	}
	if g.verdict != SeqContinue {
		return nil
	}
	g.prompts = len(d)
	up, down := g.bets()
	for _, x := range d {
		g.observe(x, up, down)
	}
	g.endRound()
	return nil
}

// ready errors on a gate not made by NewSeqGate.
func (g *SeqGate) ready() error {
	if g.verdict == "" {
		return fmt.Errorf("sequential gate: not initialised (use NewSeqGate)")
	}
	return nil
}

// bets returns the bets (λ⁺, λ⁻) for the next round, from the observations
// of earlier rounds.
func (g *SeqGate) bets() (up, down float64) {
	mu := (0.5 + g.sumY) / (g.n + 1)
	v := (0.25 + g.sumSq) / (g.n + 1)
	d := mu - g.m
	lam := d / (v + d*d)
	up = math.Min(math.Max(lam, 0), SeqMaxBet/g.m)
	down = math.Min(math.Max(-lam, 0), SeqMaxBet/(1-g.m))
	return up, down
}

// observe bets on one observation x (difference scale) and updates the
// running mean and variance.
func (g *SeqGate) observe(x, up, down float64) {
	y := (x + 1) / 2
	g.logUp += math.Log1p(up * (y - g.m))
	g.logDown += math.Log1p(-down * (y - g.m))
	g.n++
	g.sumX += x
	g.sumY += y
	mu := (0.5 + g.sumY) / (g.n + 1)
	g.sumSq += (y - mu) * (y - mu)
}

// endRound counts the round and checks for a verdict.
func (g *SeqGate) endRound() {
	g.t++
	above, below := SeqFail, SeqPass
	if g.cfg.Rule == SeqMinIncrease {
		above, below = SeqPass, SeqFail
	}
	switch {
	case g.logUp >= g.logThr:
		g.verdict = above
	case g.logDown >= g.logThr:
		g.verdict = below
	case g.t >= g.cfg.MaxRounds:
		g.verdict = SeqInconclusive
	}
}

// SeqDecision is a snapshot of a sequential gate.
type SeqDecision struct {
	Verdict SeqVerdict
	// Rounds is the number of rounds the gate used: the round of the
	// verdict once there is one, else the rounds seen so far.
	Rounds int
	// Mean is the mean difference over the rounds used; NaN before the
	// first round.
	Mean float64
	// LogWealthAbove and LogWealthBelow are the natural logs of the two
	// sides' wealth (K⁺ and K⁻ above), each starting at log ½; a side
	// decides when its log wealth reaches Threshold.
	LogWealthAbove, LogWealthBelow float64
	// Threshold is log(1/Alpha), the line of the e-process chart.
	Threshold float64
}

// Decision returns the gate's state after the rounds so far.
func (g SeqGate) Decision() SeqDecision {
	d := SeqDecision{Verdict: g.verdict, Rounds: g.t, Mean: math.NaN(),
		LogWealthAbove: g.logUp, LogWealthBelow: g.logDown, Threshold: g.logThr}
	if g.n > 0 {
		d.Mean = g.sumX / g.n
	}
	return d
}

// Config returns the gate's configuration.
func (g SeqGate) Config() SeqGateConfig { return g.cfg }
