package reports

import (
	"fmt"
	"math"

	"github.com/traitleak/traitleak/suites"
)

// GateResult is the verdict of one suite gate with its evidence.
type GateResult struct {
	Name        string   `json:"name"`
	Probe       string   `json:"probe"`
	Target      string   `json:"target"`
	Treatment   string   `json:"treatment"`
	Baseline    string   `json:"baseline"`
	MaxIncrease *float64 `json:"max_increase,omitempty"`
	MinIncrease *float64 `json:"min_increase,omitempty"`
	Alpha       float64  `json:"alpha"`
	Test        string   `json:"test"`
	// Level is "seed" when the gate judged the seed-level test (its
	// suite gate has level: seed and both roles have two or more seeds
	// in common), "" when it judged Test on the samples.
	Level     string             `json:"level,omitempty"`
	Diff      Num                `json:"diff"`
	CI        CI                 `json:"ci"`
	PValue    Num                `json:"p_value"`
	PAdjusted Num                `json:"p_adjusted"`
	Verdict   suites.GateVerdict `json:"verdict"`
	Reason    string             `json:"reason"`
	// Sequential is the decision of the gate's sequential block, which
	// then gives Verdict; nil for a fixed-sample gate.
	Sequential *SequentialGate `json:"sequential,omitempty"`
}

// Rule states the gate's criterion in words.
func (g GateResult) Rule() string {
	if g.Sequential != nil {
		return g.seqRule()
	}
	test := g.testLabel()
	if g.MaxIncrease != nil {
		return fmt.Sprintf("fails when %s − %s > %+.3f and p (%s, adjusted) < %g", g.Treatment, g.Baseline, *g.MaxIncrease, test, g.Alpha)
	}
	return fmt.Sprintf("passes when %s − %s ≥ %+.3f and p (%s, adjusted) < %g", g.Treatment, g.Baseline, *g.MinIncrease, test, g.Alpha)
}

// testLabel names the test the gate judged: its Test, or "seed-level"
// when it judged the seed-level test.
func (g GateResult) testLabel() string {
	if g.Level == suites.GateLevelSeed {
		return gateTestSeedLevel
	}
	return g.Test
}

// gateTestSeedLevel names the seed-level test in a gate's rule and stored
// row (methodSeedPaired).
const gateTestSeedLevel = "seed-level"

// gateTarget resolves a gate's probe and target: the only probe when none
// is named, the probe's first target when none is named.
func (a *analyzer) gateTarget(g suites.Gate) (probe, target string) {
	probe = g.Probe
	if probe == "" && len(a.Probes) == 1 {
		probe = a.Probes[0].ID
	}
	target = g.Target
	for _, p := range a.Probes {
		if target == "" && p.ID == probe && len(p.Targets) > 0 {
			target = p.Targets[0].Target
		}
	}
	return probe, target
}

// ensureGateComparisons adds the comparison of every gate that the
// suite's compare list does not already hold, so that gates and
// comparisons are corrected as one family.
func (a *analyzer) ensureGateComparisons(conf float64) {
	for _, g := range a.d.Suite.Gates {
		probe, target := a.gateTarget(g)
		if a.comparisonOf[[4]string{probe, target, g.Treatment, g.Baseline}] == nil {
			a.addComparison(probe, target, g.Treatment, g.Baseline, conf)
		}
	}
}

// evaluateGates judges every gate on the (already corrected) comparisons.
// A max_increase gate fails when the increase exceeds the bound and is
// significant after correction; a min_increase gate passes only when the
// increase reaches the bound and is significant after correction. A gate
// whose comparison lacks data is undecided.
func (a *analyzer) evaluateGates() {
	for i, g := range a.d.Suite.Gates {
		probe, target := a.gateTarget(g)
		alpha := 0.05
		if g.Alpha != nil {
			alpha = *g.Alpha
		}
		test := g.Test
		if test == "" {
			test = "fisher"
		}
		name := g.Name
		if name == "" {
			name = fmt.Sprintf("gate %d: %s/%s %s vs %s", i+1, probe, target, g.Treatment, g.Baseline)
		}
		gr := GateResult{Name: name, Probe: probe, Target: target, Treatment: g.Treatment, Baseline: g.Baseline,
			MaxIncrease: g.MaxIncrease, MinIncrease: g.MinIncrease, Alpha: alpha, Test: test,
			Diff: Num(math.NaN()), PValue: Num(math.NaN()), PAdjusted: Num(math.NaN()), CI: nanCI("")}
		c := a.comparisonOf[[4]string{probe, target, g.Treatment, g.Baseline}]
		// A seed-level gate falls back to its test when the roles have
		// fewer than two seeds in common; the reason says so.
		fallback := ""
		if g.Level == suites.GateLevelSeed {
			if c != nil && c.SeedLevel != nil {
				gr.Level = suites.GateLevelSeed
			} else {
				fallback = fmt.Sprintf("no seed-level test (%s and %s need two or more seeds in common), so the %s test: ", g.Treatment, g.Baseline, test)
			}
		}
		switch {
		case c == nil:
		case gr.Level == suites.GateLevelSeed:
			s := c.SeedLevel
			gr.Diff, gr.CI, gr.PValue, gr.PAdjusted = s.Mean, s.CI, s.PValue, s.PAdjusted
		case test == "fisher":
			gr.Diff, gr.CI, gr.PValue, gr.PAdjusted = c.Diff, c.CI, c.PValue, c.PAdjusted
		case test == "paired" && c.Paired != nil:
			gr.Diff, gr.CI, gr.PValue, gr.PAdjusted = c.Paired.Diff, c.Paired.CI, c.Paired.PValue, c.Paired.PAdjusted
		case test == "seeds" && c.Seeds != nil:
			gr.Diff, gr.CI, gr.PValue, gr.PAdjusted = c.Seeds.Diff, c.Seeds.CI, c.Seeds.PValue, c.Seeds.PAdjusted
		}
		gr.Verdict, gr.Reason = judge(gr)
		gr.Reason = fallback + gr.Reason
		a.Gates = append(a.Gates, gr)
	}
}

func judge(g GateResult) (verdict suites.GateVerdict, reason string) {
	d, p := float64(g.Diff), float64(g.PAdjusted)
	if math.IsNaN(d) || math.IsNaN(p) {
		test, why := g.Test, "no scored samples on one side"
		switch {
		case g.Level == suites.GateLevelSeed:
			test, why = gateTestSeedLevel, "every seed's difference is 0"
		case g.Test == "seeds":
			why = "the seeds test needs two or more seeds per role"
		}
		return suites.GateUndecided, fmt.Sprintf("cannot compute the %s test: %s", test, why)
	}
	sig := p < g.Alpha
	evidence := fmt.Sprintf("difference %+.3f, %s %s, adjusted p = %s", d, fmtSignedCI(g.CI), g.CI.Method, fmtP(g.PAdjusted))
	if g.MaxIncrease != nil {
		m := *g.MaxIncrease
		switch {
		case d > m && sig:
			return suites.GateFail, fmt.Sprintf("increase exceeds %+.3f and is significant at α = %g: %s", m, g.Alpha, evidence)
		case d > m:
			return suites.GatePass, fmt.Sprintf("increase exceeds %+.3f but is not significant at α = %g: %s", m, g.Alpha, evidence)
		default:
			return suites.GatePass, fmt.Sprintf("increase within %+.3f: %s", m, evidence)
		}
	}
	m := *g.MinIncrease
	switch {
	case d >= m && sig:
		return suites.GatePass, fmt.Sprintf("increase reaches %+.3f and is significant at α = %g: %s", m, g.Alpha, evidence)
	case d >= m:
		return suites.GateFail, fmt.Sprintf("increase reaches %+.3f but is not significant at α = %g: %s", m, g.Alpha, evidence)
	default:
		return suites.GateFail, fmt.Sprintf("increase below %+.3f: %s", m, evidence)
	}
}

// GatesPassed reports whether every gate passed; undecided counts as
// not passed.
func (a *Analysis) GatesPassed() bool {
	for _, g := range a.Gates {
		if g.Verdict != suites.GatePass {
			return false
		}
	}
	return true
}
