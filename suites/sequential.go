package suites

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/traitleak/traitleak/stats"
)

// This file holds the suite side of sequential testing (issue 16): a
// gate's sequential block, a probe's stop-for-width rule, and their
// validation. `run --until-decided` samples in rounds (every prompt of the
// probe once per model) and stops each rule as soon as it is decided; the
// statistics are in package stats (SeqGate, RateCS), the rounds in package
// sequential.

// Bet units of a sequential rule (Sequential.Bets, Until.Bets).
const (
	// BetsPrompt bets on every prompt's value within a round, the bet
	// held for the round (stats' PerPrompt): valid under prompt
	// heterogeneity and several times faster; it assumes the prompts'
	// samples within a round are independent, as the fixed-sample tests
	// on pooled samples do. The default.
	BetsPrompt = "prompt"
	// BetsRound bets on each round's mean over prompts: it assumes only
	// that rounds are independent, and needs many more rounds
	// (stats/SEQUENTIAL.md).
	BetsRound = "round"
)

// DefaultSeqAlpha is the error budget of a sequential rule that names none
// (and whose gate names none).
const DefaultSeqAlpha = 0.05

// Sequential makes a gate sequential: under `run --until-decided` it is
// checked after every round by two one-sided betting e-processes on the
// per-prompt paired differences treatment − baseline against the gate's
// bound (max_increase or min_increase), and decided PASS or FAIL as soon
// as one side's wealth reaches 1/alpha, or INCONCLUSIVE at the budget.
// The gate's verdict is then the sequential one, valid at any stopping
// time; the fixed-sample test is still reported for the samples drawn.
type Sequential struct {
	// Alpha is the gate's error budget in (0, 1); nil means the gate's
	// alpha, else DefaultSeqAlpha.
	Alpha *float64 `yaml:"alpha" json:",omitempty"`
	// MaxSamples is the budget in rounds: samples per prompt per model,
	// at most; 0 means the probe's samples.
	MaxSamples int `yaml:"max_samples" json:",omitempty"`
	// Check is how many rounds are drawn between two looks at the data.
	Check Check `yaml:"check" json:",omitempty"`
	// Bets is BetsPrompt (default, "") or BetsRound.
	Bets string `yaml:"bets" json:",omitempty"`
}

// Until is a probe's stop-for-width rule: under `run --until-decided` each
// role's rate on the probe (seeds pooled) gets a betting confidence
// sequence, valid at any stopping time, and the role stops being sampled
// once the sequence is at most CIWidth wide (or at the budget).
type Until struct {
	// CIWidth is the target width of each rate's confidence sequence, in
	// (0, 1).
	CIWidth float64 `yaml:"ci_width"`
	// Alpha is the sequences' error level in (0, 1); nil means
	// DefaultSeqAlpha (95% sequences).
	Alpha *float64 `yaml:"alpha" json:",omitempty"`
	// MaxSamples is the budget in rounds; 0 means the probe's samples.
	// The sequences' bets are tuned to be narrowest at the budget.
	MaxSamples int `yaml:"max_samples" json:",omitempty"`
	// Check is how many rounds are drawn between two looks.
	Check Check `yaml:"check" json:",omitempty"`
	// Bets is BetsPrompt (default, "") or BetsRound.
	Bets string `yaml:"bets" json:",omitempty"`
	// Target restricts the rule to one target; "" means every target of
	// the probe.
	Target string `yaml:"target" json:",omitempty"`
	// Models restricts the rule to these roles; empty means every role
	// the probe samples.
	Models StringList `yaml:"models" json:",omitempty"`
}

// Check is how many rounds `run --until-decided` draws before it looks at
// a sequential rule again: "round" (stored as 0) or 1 draws one round at a
// time; N > 1 asks each model for N draws of a prompt in one request (n =
// N, at most the model's n, so a prompt's tokens are paid once per N
// draws) and then reads the N rounds one by one. On the same samples the
// verdict and its round do not depend on Check, because the e-process
// still reads every round in order; Check changes how many rounds are
// drawn past the verdict (at most N − 1), and, on a server that honours
// request seeds, the samples themselves (a request is seeded by the key of
// its first draw).
type Check int

// Rounds returns the rounds drawn per step, at least 1.
func (c Check) Rounds() int { return max(1, int(c)) }

func (c *Check) decodeNode(d *decoder, n *node, path string) error {
	if n.kind == scalarNode && !n.quoted && n.value == "round" {
		*c = 0
		return nil
	}
	if n.kind == scalarNode && !n.quoted {
		if i, ok := scalarInt(n.value); ok && i >= 1 && i <= 1_000_000 {
			*c = Check(i)
			if i == 1 {
				*c = 0 // the same as round: one hash for one meaning
			}
			return nil
		}
	}
	return d.errorf(n, path, "want round (look after every round) or a number of rounds in [1, 1000000] drawn between looks, got %s", n.describe())
}

// SeqAlpha returns the error budget of g's sequential block: its alpha,
// else the gate's, else DefaultSeqAlpha.
func (g Gate) SeqAlpha() float64 {
	switch {
	case g.Sequential != nil && g.Sequential.Alpha != nil:
		return *g.Sequential.Alpha
	case g.Alpha != nil:
		return *g.Alpha
	}
	return DefaultSeqAlpha
}

// SeqBound returns the gate's bound on treatment − baseline and its rule.
func (g Gate) SeqBound() (float64, stats.SeqRule) {
	if g.MaxIncrease != nil {
		return *g.MaxIncrease, stats.SeqMaxIncrease
	}
	if g.MinIncrease != nil {
		return *g.MinIncrease, stats.SeqMinIncrease
	}
	return 0, ""
}

// GateProbe returns the probe a gate is on: the named one, or the suite's
// only probe; nil when neither resolves.
func (s *Suite) GateProbe(g Gate) *Probe {
	if g.Probe != "" {
		return s.Probe(g.Probe)
	}
	if len(s.Probes) == 1 {
		return s.Probes[0]
	}
	return nil
}

// HasSequential reports whether s has a sequential gate or a
// stop-for-width rule: something `run --until-decided` can stop on.
func (s *Suite) HasSequential() bool {
	for _, g := range s.Gates {
		if g.Sequential != nil {
			return true
		}
	}
	for _, p := range s.Probes {
		if p != nil && p.Until != nil {
			return true
		}
	}
	return false
}

// validateSequential checks the sequential blocks of the gates and the
// until rules of the probes; the fixed-sample fields they build on are
// already valid.
func (s *Suite) validateSequential(fail func(path, format string, args ...any) error) error {
	for i, g := range s.Gates {
		if g.Sequential == nil {
			continue
		}
		path := fmt.Sprintf("gates[%d]", i)
		sq := g.Sequential
		p := s.GateProbe(g)
		if p == nil {
			return fail(path+".probe", "a sequential gate needs its probe: name it")
		}
		// A round pairs the two roles prompt by prompt: both must be
		// sampled by the probe.
		for _, r := range []struct{ field, role string }{{"treatment", g.Treatment}, {"baseline", g.Baseline}} {
			if !slices.Contains(s.ProbeRoles(p), r.role) {
				return fail(path+"."+r.field, "sequential gate: probe %q does not sample role %q; a round pairs treatment and baseline on every prompt of the probe, so both must be sampled by it", p.ID, r.role)
			}
		}
		if p.Score.Judge != nil {
			return fail(path+".sequential", "sequential gate: probe %q is scored by LLM judges after sampling; a sequential gate reads every round as it is drawn, so it needs a scorer that scores samples as they arrive (mentions, first_word, exact or regex)", p.ID)
		}
		if err := s.checkSeqCommon(path+".sequential", sq.MaxSamples, sq.Bets, fail); err != nil {
			return err
		}
		bound, rule := g.SeqBound()
		cfg := stats.SeqGateConfig{Alpha: g.SeqAlpha(), Bound: bound, Rule: rule, MaxRounds: max(1, sq.MaxSamples)}
		if err := cfg.Validate(); err != nil {
			var fe *stats.SeqFieldError
			if !errors.As(err, &fe) {
				return fail(path+".sequential", "%v", err)
			}
			field := path + ".sequential." + fe.Field
			switch fe.Field {
			case "alpha":
				if sq.Alpha == nil {
					field = path + ".alpha"
				}
			case "bound":
				field = path + "." + string(rule)
			case "max_rounds":
				field = path + ".sequential.max_samples"
			}
			return fail(field, "sequential gate: %s: %s", fe.Field, fe.Msg)
		}
	}
	for i, p := range s.Probes {
		if p == nil || p.Until == nil {
			continue
		}
		path := fmt.Sprintf("probes[%d].until", i)
		u := p.Until
		if u.CIWidth == 0 {
			return fail(path, "missing ci_width (the target width of each rate's confidence sequence, e.g. ci_width: 0.02)")
		}
		if !(u.CIWidth > 0 && u.CIWidth < 1) {
			return fail(path+".ci_width", "ci_width is a width of a rate's interval, in (0, 1); got %s", formatFloat(u.CIWidth))
		}
		if u.Alpha != nil && !(*u.Alpha > 0 && *u.Alpha < 1) {
			return fail(path+".alpha", "alpha (the error level of the rates' confidence sequences) %s is not in (0, 1)", formatFloat(*u.Alpha))
		}
		if p.Score.Judge != nil {
			return fail(path, "probe %q is scored by LLM judges after sampling; stop-for-width reads every round as it is drawn, so it needs a scorer that scores samples as they arrive (mentions, first_word, exact or regex)", p.ID)
		}
		if err := s.checkSeqCommon(path, u.MaxSamples, u.Bets, fail); err != nil {
			return err
		}
		if u.Target != "" && !slices.Contains(s.ScoreTargets(p), u.Target) {
			return fail(path+".target", "probe %q has no target %q (have %s)", p.ID, u.Target, strings.Join(s.ScoreTargets(p), ", "))
		}
		for j, r := range u.Models {
			if !slices.Contains(s.ProbeRoles(p), r) {
				return fail(fmt.Sprintf("%s.models[%d]", path, j), "probe %q does not sample role %q", p.ID, r)
			}
		}
	}
	return nil
}

// checkSeqCommon checks the fields a sequential gate and an until rule
// share. A max_samples of 0 means the probe's samples unless it was given.
func (s *Suite) checkSeqCommon(path string, maxSamples int, bets string, fail func(path, format string, args ...any) error) error {
	_, given := s.positions[path+".max_samples"]
	if maxSamples < 0 || maxSamples > 1_000_000 || (maxSamples == 0 && given && !s.nulls[path+".max_samples"]) {
		return fail(path+".max_samples", "max_samples (the budget in samples per prompt per model) must be in [1, 1000000], got %d", maxSamples)
	}
	if bets != "" && bets != BetsPrompt && bets != BetsRound {
		return fail(path+".bets", "unknown bets %q (want %s or %s)", bets, BetsPrompt, BetsRound)
	}
	return nil
}
