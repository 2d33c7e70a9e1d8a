// Package sequential decides a suite's sequential rules round by round:
// its sequential gates (gates with a sequential block) and its
// stop-for-width rules (probes with until). It sits between the store's
// draws and the statistics of package stats: the engine (package bench,
// `run --until-decided`) asks a Tracker which rounds to draw next and
// records each draw's outcome; reports replay the same rules from a run's
// stored draws through the same Tracker, so the verdict a run stopped on
// is the verdict its report shows. It does no I/O.
//
// A round of a rule is every prompt of its probe sampled once (draw r−1
// for round r, the keys of a fixed run's draw r−1) by every model
// instance of the rule's roles. A round enters a rule only when complete:
// every one of its draws stored, successful and validly scored for the
// rule's target. Rounds are read in order, and a rule waits at its first
// incomplete round, so the decision depends only on which samples are
// stored under which keys: a run interrupted and run again, or a report
// read later, replays the same rounds to the same verdict.
//
// Why waiting and not skipping: a round whose draws failed could be
// skipped (the e-process stays valid when failures do not depend on what
// the model would have said), but a later run retries failed draws (they
// are not stored as successes), so a skipped round could come back and
// change the replay. Waiting keeps the replay a function of the stored
// samples alone; a rule that waits on failed draws is reported as such,
// and the next run retries them.
package sequential

import (
	"fmt"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/stats"
	"github.com/traitleak/traitleak/suites"
)

// Kind is the kind of a Rule.
type Kind string

// Rule kinds.
const (
	// KindGate is a sequential gate: an e-process on the per-prompt
	// paired differences treatment − baseline against the gate's bound.
	KindGate Kind = "gate"
	// KindWidth is a stop-for-width rule: a confidence sequence of one
	// role's rate, done when it is narrow enough.
	KindWidth Kind = "width"
)

// Rule is one sequential rule of a suite, resolved: its probe, target,
// roles and statistics.
type Rule struct {
	Kind Kind
	// Gate is the index of the gate in Suite.Gates (KindGate); -1 for
	// KindWidth.
	Gate int
	// Probe and Target are the probe and the scored target the rule
	// reads.
	Probe, Target string
	// Treatment and Baseline are the gate's roles (KindGate).
	Treatment, Baseline string
	// Role is the role whose rate the rule tracks (KindWidth).
	Role string
	// SeqGate configures the gate's e-process (KindGate); its MaxRounds
	// is the budget.
	SeqGate stats.SeqGateConfig
	// RateCS configures the rate's confidence sequence (KindWidth).
	RateCS stats.RateCSConfig
	// Width is the target width of the sequence (KindWidth), in (0, 1).
	Width float64
	// MaxRounds is the budget in rounds (samples per prompt per model).
	MaxRounds int
	// Check is how many rounds are drawn per step, >= 1.
	Check int
	// Fixed is the rounds of the fixed design: the probe's samples.
	Fixed int
}

// Roles returns the roles whose instances the rule samples.
func (r Rule) Roles() []string {
	if r.Kind == KindGate {
		return []string{r.Treatment, r.Baseline}
	}
	return []string{r.Role}
}

// Name names the rule in logs: the gate's name (as reports name it) or
// "probe/target role: ci_width W".
func (r Rule) Name(s *suites.Suite) string {
	if r.Kind == KindGate {
		g := s.Gates[r.Gate]
		if g.Name != "" {
			return g.Name
		}
		return fmt.Sprintf("gate %d: %s/%s %s vs %s", r.Gate+1, r.Probe, r.Target, r.Treatment, r.Baseline)
	}
	return fmt.Sprintf("%s/%s %s: ci_width %g", r.Probe, r.Target, r.Role, r.Width)
}

// Rules resolves the sequential rules of a validated suite: its
// sequential gates in gate order, then each probe's until rule, one per
// target and role in suite order. A gate without a target reads its
// probe's first target, as the fixed-sample gate does.
func Rules(s *suites.Suite) ([]Rule, error) {
	var out []Rule
	for i, g := range s.Gates {
		if g.Sequential == nil {
			continue
		}
		p := s.GateProbe(g)
		if p == nil {
			return nil, fmt.Errorf("sequential gate %d: no probe", i+1)
		}
		target := g.Target
		if target == "" {
			ts := s.ScoreTargets(p)
			if len(ts) == 0 {
				return nil, fmt.Errorf("sequential gate %d: probe %s has no target", i+1, p.ID)
			}
			target = ts[0]
		}
		bound, rule := g.SeqBound()
		budget := budgetOf(g.Sequential.MaxSamples, p)
		cfg := stats.SeqGateConfig{Alpha: g.SeqAlpha(), Bound: bound, Rule: rule, MaxRounds: budget,
			PerPrompt: g.Sequential.Bets != suites.BetsRound}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("sequential gate %d: %w", i+1, err)
		}
		out = append(out, Rule{Kind: KindGate, Gate: i, Probe: p.ID, Target: target, Treatment: g.Treatment, Baseline: g.Baseline,
			SeqGate: cfg, MaxRounds: budget, Check: g.Sequential.Check.Rounds(), Fixed: p.Samples})
	}
	for _, p := range s.Probes {
		u := p.Until
		if u == nil {
			continue
		}
		alpha := suites.DefaultSeqAlpha
		if u.Alpha != nil {
			alpha = *u.Alpha
		}
		budget := budgetOf(u.MaxSamples, p)
		targets := s.ScoreTargets(p)
		if u.Target != "" {
			targets = []string{u.Target}
		}
		roles := s.ProbeRoles(p)
		if len(u.Models) > 0 {
			roles = nil
			for _, r := range s.ProbeRoles(p) { // suite order
				for _, m := range u.Models {
					if m == r {
						roles = append(roles, r)
						break
					}
				}
			}
		}
		cfg := stats.RateCSConfig{Alpha: alpha, PerPrompt: u.Bets != suites.BetsRound, Horizon: budget}
		if _, err := stats.NewRateCS(cfg); err != nil {
			return nil, fmt.Errorf("until of probe %s: %w", p.ID, err)
		}
		for _, t := range targets {
			for _, r := range roles {
				out = append(out, Rule{Kind: KindWidth, Gate: -1, Probe: p.ID, Target: t, Role: r, RateCS: cfg, Width: u.CIWidth,
					MaxRounds: budget, Check: u.Check.Rounds(), Fixed: p.Samples})
			}
		}
	}
	return out, nil
}

// budgetOf is a rule's budget in rounds: max_samples, else the probe's
// samples.
func budgetOf(maxSamples int, p *suites.Probe) int {
	if maxSamples > 0 {
		return maxSamples
	}
	return max(1, p.Samples)
}

// Outcome is what one draw contributes to a round.
type Outcome uint8

// Outcomes of a draw.
const (
	// Pending: not drawn (or not yet scored).
	Pending Outcome = iota
	// Hit and Miss: stored, successful and validly scored.
	Hit
	Miss
	// Failed: stored as failed (retried by the next run).
	Failed
	// Invalid: successful, but without a valid score for the target.
	Invalid
)

// Status is the state of a rule.
type Status string

// Rule states. A gate ends pass, fail or inconclusive; a width rule
// reached or inconclusive.
const (
	StatusContinue     Status = "continue"
	StatusPass         Status = "pass"
	StatusFail         Status = "fail"
	StatusReached      Status = "reached"
	StatusInconclusive Status = "inconclusive"
)

// Block describes a round a rule waits at: some of its draws failed or
// have no valid score.
type Block struct {
	Round   int // the round, from 1
	Failed  int // draws stored as failed
	Invalid int // successful draws without a valid score for the target
	Pending int // draws not stored
}

// Point is one round of a rule's path: a gate's two log wealths, or a
// rate sequence's interval; the other kind's fields are zero.
type Point struct {
	// LogAbove and LogBelow are the natural logs of the wealth of the
	// side betting that the difference is above the bound and of the
	// side betting that it is below (KindGate).
	LogAbove, LogBelow float64
	// Lower and Upper are the confidence sequence after the round
	// (KindWidth).
	Lower, Upper float64
}

// State is a rule's decision after the rounds read so far.
type State struct {
	Rule
	Status Status
	// Rounds is the number of rounds read: the round of the verdict once
	// there is one.
	Rounds int
	// Blocked is the round the rule waits at because of failed or
	// unscored draws; nil when it does not wait (or is done).
	Blocked *Block
	// Decision is the gate's e-process after Rounds rounds (KindGate).
	Decision stats.SeqDecision
	// Interval is the rate's confidence sequence after Rounds rounds,
	// the running intersection (KindWidth); Estimate is NaN before the
	// first round.
	Interval stats.Interval
	// Path holds the rule after each round read, Path[r-1] after round r.
	Path []Point
}

// Done reports whether the rule needs no more rounds.
func (s State) Done() bool { return s.Status != StatusContinue }

// Samples returns the draws the rule's rounds used per instance: Rounds
// × prompts (times the instances of its roles for the rule's total).
func (s State) Samples(prompts int) int { return s.Rounds * prompts }

// ruleRun is a rule with its running statistics.
type ruleRun struct {
	State
	instances []int // instance indices of the rule's roles, treatment's first
	nTreat    int   // of which the treatment's (KindGate)
	gate      stats.SeqGate
	cs        *stats.RateCS
	retried   int // the blocked round Needs last asked to draw again
}

// Tracker holds the outcomes of a run's draws and the rules read from
// them. Record outcomes in any order, then Advance; States and Needs read
// the result. Not safe for concurrent use.
type Tracker struct {
	rules   []*ruleRun
	prompts map[string]int
	grids   map[gridKey]*grid
	targets map[string][]string // the targets the rules read, by probe
	// base is the first draw the grids hold: Forget dropped the ones
	// before it.
	base int
}

// gridKey addresses the outcomes of one instance on one probe target.
type gridKey struct {
	instance      int
	probe, target string
}

// grid holds one instance's outcomes on one probe target from the
// tracker's base draw on: o[(draw-base)*prompts + prompt].
type grid struct {
	prompts int
	o       []Outcome
}

func (g *grid) at(base, prompt, draw int) Outcome {
	i := (draw-base)*g.prompts + prompt
	if draw < base || i >= len(g.o) {
		return Pending
	}
	return g.o[i]
}

// NewTracker returns a tracker of rules over a run whose model instances
// have the given roles (roles[i] is the role of instance i) and whose
// probes have the given numbers of prompts. Errors when a rule's role has
// no instance or its probe no prompts.
func NewTracker(rules []Rule, roles []string, prompts map[string]int) (*Tracker, error) {
	t := &Tracker{prompts: prompts, grids: map[gridKey]*grid{}}
	for _, r := range rules {
		if prompts[r.Probe] < 1 {
			return nil, fmt.Errorf("sequential: probe %s has no prompts", r.Probe)
		}
		rr := &ruleRun{State: State{Rule: r, Status: StatusContinue}}
		for k, role := range r.Roles() {
			n := 0
			for i, ro := range roles {
				if ro == role {
					rr.instances = append(rr.instances, i)
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("sequential: role %s has no model instance", role)
			}
			if k == 0 {
				rr.nTreat = n
			}
		}
		var err error
		switch r.Kind {
		case KindGate:
			rr.gate, err = stats.NewSeqGate(r.SeqGate)
			rr.Decision = rr.gate.Decision()
		case KindWidth:
			rr.cs, err = stats.NewRateCS(r.RateCS)
			if err == nil {
				rr.Interval = rr.cs.Interval()
			}
		default:
			err = fmt.Errorf("unknown kind %q", r.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("sequential: %w", err)
		}
		t.rules = append(t.rules, rr)
	}
	t.targets = t.Targets()
	return t, nil
}

// Record sets the outcome of one draw (0-based draw index: round draw+1)
// of a model instance on one probe target. Draws of probes without rules
// are ignored, as are prompts out of range.
func (t *Tracker) Record(instance int, probe, target string, prompt, draw int, o Outcome) {
	np := t.prompts[probe]
	if np < 1 || prompt < 0 || prompt >= np || draw < t.base || instance < 0 {
		return
	}
	k := gridKey{instance, probe, target}
	g := t.grids[k]
	if g == nil {
		g = &grid{prompts: np}
		t.grids[k] = g
	}
	i := (draw-t.base)*np + prompt
	if i >= len(g.o) {
		g.o = append(g.o, make([]Outcome, i+1-len(g.o))...)
	}
	g.o[i] = o
}

// RecordDraw records what the store holds for one draw (0-based draw
// index) of a model instance on a probe, for every target the probe's
// rules read: not stored is Pending; failed is Failed; a valid score for
// the target is Hit or Miss; anything else (no score, an invalid score)
// is Invalid.
func (t *Tracker) RecordDraw(instance int, probe string, prompt, draw int, st results.DrawState) {
	for _, target := range t.targets[probe] {
		t.Record(instance, probe, target, prompt, draw, OutcomeOf(st, target))
	}
}

// OutcomeOf is what a stored draw contributes to a round of a rule on
// target (see RecordDraw).
func OutcomeOf(st results.DrawState, target string) Outcome {
	switch {
	case !st.Stored:
		return Pending
	case st.Failed:
		return Failed
	}
	for _, sc := range st.Scores {
		if sc.Target != target {
			continue
		}
		switch {
		case !sc.Valid:
			return Invalid
		case sc.Hit:
			return Hit
		default:
			return Miss
		}
	}
	return Invalid
}

// Advance reads every rule's complete rounds, in order, from the first it
// has not read, until the rule is done or meets a round that is not
// complete. It reports whether any rule read a round or started waiting.
func (t *Tracker) Advance() bool {
	moved := false
	for _, r := range t.rules {
		// A rule whose next round's draws were forgotten keeps its
		// state (see Forget).
		for !r.Done() && r.Rounds >= t.base {
			vals, blk := t.round(r, r.Rounds+1)
			if vals == nil {
				if blk != nil && (r.Blocked == nil || *r.Blocked != *blk) {
					moved = true
				}
				r.Blocked = blk
				break
			}
			r.Blocked = nil
			r.read(vals)
			moved = true
		}
	}
	return moved
}

// round returns the per-prompt values of round (from 1) of rule r, or nil
// with what keeps it incomplete (nil when every missing draw is just not
// drawn yet).
func (t *Tracker) round(r *ruleRun, round int) ([]float64, *Block) {
	np := t.prompts[r.Probe]
	blk := Block{Round: round}
	sums := make([]float64, 2*np) // treatment (or the role) and baseline hits per prompt
	for k, inst := range r.instances {
		side := 0
		if r.Kind == KindGate && k >= r.nTreat {
			side = 1
		}
		g := t.grids[gridKey{inst, r.Probe, r.Target}]
		for j := range np {
			o := Pending
			if g != nil {
				o = g.at(t.base, j, round-1)
			}
			switch o {
			case Hit:
				sums[side*np+j]++
			case Miss:
			case Failed:
				blk.Failed++
			case Invalid:
				blk.Invalid++
			default:
				blk.Pending++
			}
		}
	}
	if blk.Failed+blk.Invalid+blk.Pending > 0 {
		if blk.Failed+blk.Invalid == 0 {
			return nil, nil
		}
		return nil, &blk
	}
	vals := make([]float64, np)
	nt := float64(r.nTreat)
	nb := float64(len(r.instances) - r.nTreat)
	for j := range np {
		if r.Kind == KindGate {
			vals[j] = sums[j]/nt - sums[np+j]/nb
		} else {
			vals[j] = sums[j] / nt
		}
	}
	return vals, nil
}

// read feeds one complete round to the rule.
func (r *ruleRun) read(vals []float64) {
	r.Rounds++
	switch r.Kind {
	case KindGate:
		// The values are checked differences of rates in [−1, 1]; an
		// error would be a bug in round.
		if err := r.gate.UpdateRound(vals); err != nil {
			panic(fmt.Sprintf("sequential: %v", err))
		}
		r.Decision = r.gate.Decision()
		r.Path = append(r.Path, Point{LogAbove: r.Decision.LogWealthAbove, LogBelow: r.Decision.LogWealthBelow})
		switch r.Decision.Verdict {
		case stats.SeqPass:
			r.Status = StatusPass
		case stats.SeqFail:
			r.Status = StatusFail
		case stats.SeqInconclusive:
			r.Status = StatusInconclusive
		}
	case KindWidth:
		if err := r.cs.UpdateRound(vals); err != nil {
			panic(fmt.Sprintf("sequential: %v", err))
		}
		r.Interval = r.cs.Interval()
		r.Path = append(r.Path, Point{Lower: r.Interval.Lower, Upper: r.Interval.Upper})
		switch {
		case r.cs.Width() <= r.Width:
			r.Status = StatusReached
		case r.Rounds >= r.MaxRounds:
			r.Status = StatusInconclusive
		}
	}
}

// States returns a snapshot of every rule, in rule order. The Paths are
// copies.
func (t *Tracker) States() []State {
	out := make([]State, len(t.rules))
	for i, r := range t.rules {
		s := r.State
		s.Path = append([]Point(nil), r.Path...)
		if r.Blocked != nil {
			b := *r.Blocked
			s.Blocked = &b
		}
		out[i] = s
	}
	return out
}

// Need is a range of draws one model instance must have on one probe for
// the rules to go on: draws [From, To) of every prompt.
type Need struct {
	Instance int
	Probe    string
	From, To int
}

// Needs returns the draws the next step should have, per instance and
// probe in rule order: for every rule that is not done, its next Check
// rounds within its budget, for every instance of its roles. A rule
// waiting at a round with failed draws asks for that round once more (a
// run retries failed draws), and then no more from this Tracker: the next
// run retries again. Ranges of one instance on one probe are merged into
// one (the draws between them are stored: a rule further on read them).
// Empty when no rule can go on.
func (t *Tracker) Needs() []Need {
	var out []Need
	at := map[gridKey]int{}
	for _, r := range t.rules {
		if r.Done() {
			continue
		}
		if r.Blocked != nil {
			if r.retried == r.Blocked.Round {
				continue
			}
			r.retried = r.Blocked.Round
		}
		from := r.Rounds
		to := min(r.Rounds+r.Check, r.MaxRounds)
		for _, inst := range r.instances {
			k := gridKey{instance: inst, probe: r.Probe}
			if i, ok := at[k]; ok {
				out[i].From = min(out[i].From, from)
				out[i].To = max(out[i].To, to)
				continue
			}
			at[k] = len(out)
			out = append(out, Need{Instance: inst, Probe: r.Probe, From: from, To: to})
		}
	}
	return out
}

// Instances returns, per probe, the instances some rule samples: those
// `run --until-decided` draws in rounds (the others get the fixed
// design).
func (t *Tracker) Instances() map[string]map[int]bool {
	out := map[string]map[int]bool{}
	for _, r := range t.rules {
		if out[r.Probe] == nil {
			out[r.Probe] = map[int]bool{}
		}
		for _, i := range r.instances {
			out[r.Probe][i] = true
		}
	}
	return out
}

// Targets returns, per probe, the targets its rules read.
func (t *Tracker) Targets() map[string][]string {
	out := map[string][]string{}
	for _, r := range t.rules {
		seen := false
		for _, x := range out[r.Probe] {
			seen = seen || x == r.Target
		}
		if !seen {
			out[r.Probe] = append(out[r.Probe], r.Target)
		}
	}
	return out
}
