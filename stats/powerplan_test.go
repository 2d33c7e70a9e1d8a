package stats

import (
	"math"
	"strings"
	"testing"
)

// TestPlanPower checks PlanPower's numbers against R and the design
// formulas (the command's tests check every R power case through it).
func TestPlanPower(t *testing.T) {
	t.Parallel()
	base := PowerDesign{P1: 0.12, P2: 0.15, Alpha: 0.05, Power: 0.8, Alternative: TwoSided}
	p, err := PlanPower(base)
	if err != nil {
		t.Fatal(err)
	}
	// R 4.2.2: power.prop.test(p1 = .12, p2 = .15, power = .8)$n
	// = 2035.6049565869539 (r_reference.jsonl), ceiling 2036 with power
	// 0.80007614587383658.
	const rN, rPow = 2035.6049565869539, 0.80007614587383658
	if !closeTo(*p.N, rN, tolerance{rel: 1e-12}) || *p.NCeiling != 2036 || !closeTo(*p.PowerAtCeiling, rPow, tolerance{rel: 1e-12}) {
		t.Errorf("n %v ceiling %d power %v; R %v 2036 %v", *p.N, *p.NCeiling, *p.PowerAtCeiling, rN, rPow)
	}
	if p.Cluster != nil || p.NGiven != nil {
		t.Errorf("an unclustered n question answered %+v", p)
	}

	// 200 prompts at ICC 0.05: m = n(1-ρ)/(200 - nρ) (ClusterSizeForN),
	// rounded up; deff = 1 + (m-1)ρ (Kish).
	d := base
	d.Prompts, d.ICC = 200, 0.05
	p, err = PlanPower(d)
	if err != nil {
		t.Fatal(err)
	}
	m := math.Ceil(rN * 0.95 / (200 - rN*0.05))
	if c := p.Cluster; c.SamplesPerPrompt != m || c.SamplesPerModel != 200*int(m) || !closeTo(c.DesignEffect, 1+(m-1)*0.05, tolerance{rel: 1e-15}) || !c.Reachable {
		t.Errorf("200 prompts: %+v; want m = %v", c, m)
	}

	// 50 prompts cannot reach n: 50 <= n·ρ = 101.8; the fewest that could
	// is floor(101.78) + 1 = 102.
	d.Prompts = 50
	p, err = PlanPower(d)
	if err != nil || p.Cluster.Reachable || *p.Cluster.MinPrompts != 102 {
		t.Errorf("50 prompts: %+v, %v; want unreachable with 102 prompts at least", p.Cluster, err)
	}

	// The power of 1000 per model over 50 prompts: m = 20, deff = 1.95.
	d = base
	d.N, d.Prompts, d.ICC = 1000, 50, 0.05
	p, err = PlanPower(d)
	if err != nil || !closeTo(p.Cluster.DesignEffect, 1.95, tolerance{rel: 1e-15}) || !closeTo(p.Cluster.EffectiveN, 1000/1.95, tolerance{rel: 1e-15}) {
		t.Errorf("n = 1000 over 50 prompts: %+v, %v", p.Cluster, err)
	}
}

// TestPlanPowerErrors: invalid designs are errors naming the problem.
func TestPlanPowerErrors(t *testing.T) {
	t.Parallel()
	ok := PowerDesign{P1: 0.12, P2: 0.15, Alpha: 0.05, Power: 0.8, Alternative: TwoSided}
	for _, tc := range []struct {
		name string
		edit func(*PowerDesign)
		want string
	}{
		{"equal rates", func(d *PowerDesign) { d.P2 = d.P1 }, "no difference"},
		{"NaN rate", func(d *PowerDesign) { d.P1 = math.NaN() }, "p1"},
		{"alpha 0", func(d *PowerDesign) { d.Alpha = 0 }, "sig_level"},
		{"power 1", func(d *PowerDesign) { d.Power = 1 }, "power=1"},
		{"unknown alternative", func(d *PowerDesign) { d.Alternative = "less" }, `alternative "less"`},
		{"negative n", func(d *PowerDesign) { d.N = -1 }, "must not be negative"},
		{"negative prompts", func(d *PowerDesign) { d.Prompts = -5 }, "must not be negative"},
		{"ICC NaN", func(d *PowerDesign) { d.Prompts, d.ICC = 5, math.NaN() }, "icc=NaN"},
		{"ICC above 1", func(d *PowerDesign) { d.SamplesPerPrompt, d.ICC = 5, 1.5 }, "icc=1.5"},
		// A power reached with no data at all (two-sided strict power at
		// n → 0 is α/2 + α/2 = α = 0.05 > 0.01).
		{"power reached without data", func(d *PowerDesign) { d.P1, d.P2, d.Power, d.Strict = 0.45, 0.55, 0.01, true }, "reached without data"},
		// A difference of 1e-9 needs ~1e17 samples: more than an int holds exactly.
		{"uncountable n", func(d *PowerDesign) { d.P1, d.P2 = 0.5, 0.5+1e-9 }, "more than can be counted"},
		{"uncountable design", func(d *PowerDesign) { d.Prompts, d.SamplesPerPrompt, d.ICC = 1<<40, 1<<20, 0.1 }, "more than can be counted"},
	} {
		d := ok
		tc.edit(&d)
		if _, err := PlanPower(d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error containing %q", tc.name, err, tc.want)
		}
	}
}
