package stats

import (
	"errors"
	"fmt"
	"math"
)

// PowerDesign is a two-proportion power question, as `traitleak power`
// asks it: how many samples per model detect the difference between trait
// rates P1 and P2 with the target Power (or, with N, what power N samples
// give), optionally for samples clustered by prompt.
type PowerDesign struct {
	P1, P2      float64     // trait rates of the two models, in (0, 1), P1 != P2
	Alpha       float64     // significance level, in (0, 1)
	Power       float64     // target power, in (0, 1); unused when N > 0
	N           int         // samples per model; 0 solves for n instead
	Alternative Alternative // TwoSided or OneSided
	Strict      bool        // two-sided: count rejections in the wrong direction too

	// A clustered design, when Prompts or SamplesPerPrompt is set (both 0:
	// independent samples).
	Prompts          int     // distinct prompts
	SamplesPerPrompt int     // samples drawn per prompt
	ICC              float64 // intra-class correlation of samples of one prompt, in [0, 1]
}

// clustered reports whether d describes a clustered design.
func (d PowerDesign) clustered() bool { return d.Prompts > 0 || d.SamplesPerPrompt > 0 }

// PowerPlan is the answer to a PowerDesign; its JSON form is what
// `traitleak power --json` prints. Pointer fields are set for one kind of
// question only (nil: not asked).
type PowerPlan struct {
	P1          float64 `json:"p1"`
	P2          float64 `json:"p2"`
	Alpha       float64 `json:"alpha"`
	Alternative string  `json:"alternative"`
	Strict      bool    `json:"strict"`  // false for one-sided, where it has no effect
	CohenH      float64 `json:"cohen_h"` // 2 asin √p1 - 2 asin √p2

	// Solving for n (N = 0).
	TargetPower    *float64 `json:"target_power,omitempty"`
	N              *float64 `json:"n,omitempty"`                // exact solution, per model
	NCeiling       *int     `json:"n_ceiling,omitempty"`        // samples per model to collect
	PowerAtCeiling *float64 `json:"power_at_ceiling,omitempty"` // power with n_ceiling
	NCohenH        *float64 `json:"n_cohen_h,omitempty"`        // arcsine approximation, per model
	NCohenHCeiling *int     `json:"n_cohen_h_ceiling,omitempty"`

	// Given N.
	NGiven        *int     `json:"n_given,omitempty"`
	PowerAtNGiven *float64 `json:"power_at_n_given,omitempty"`

	Cluster *ClusterPlan `json:"cluster,omitempty"` // clustered designs only
}

// ClusterPlan is the clustered-design part of a PowerPlan, with Kish's
// design effect deff = 1 + (m-1)·ICC for m samples per prompt.
type ClusterPlan struct {
	ICC                   float64  `json:"icc"`
	Prompts               int      `json:"prompts,omitempty"`
	SamplesPerPrompt      float64  `json:"samples_per_prompt,omitempty"`       // m used for deff
	SamplesPerPromptExact *float64 `json:"samples_per_prompt_exact,omitempty"` // before rounding up
	DesignEffect          float64  `json:"design_effect,omitempty"`
	SamplesPerModel       int      `json:"samples_per_model,omitempty"` // prompts × samples per prompt
	EffectiveN            float64  `json:"effective_n,omitempty"`       // samples per model / deff
	Power                 *float64 `json:"power,omitempty"`             // power at the effective n
	Reachable             bool     `json:"reachable"`
	MinPrompts            *int     `json:"min_prompts,omitempty"` // when unreachable: fewest prompts that could work
}

// PlanPower answers d. Without N it solves for the samples per model
// reaching d.Power (SampleSizeTwoProp, R's power.prop.test), with its
// ceiling, the power there, and Cohen's arcsine approximation
// (CohenHSampleSize); with N it gives the power of N samples per model
// (PowerTwoProp). A clustered design adds:
//
//   - Prompts and SamplesPerPrompt: the design effect of that design, its
//     effective n and power;
//   - Prompts alone: the samples per prompt needed (ClusterSizeForN, rounded
//     up), or, when no number suffices (Prompts <= n·ICC), Reachable false
//     and the fewest prompts that could work, floor(n·ICC) + 1;
//   - SamplesPerPrompt alone: the prompts needed, ceil(n·deff / m);
//   - with N: the effective n N/deff (m = SamplesPerPrompt, or N/Prompts)
//     and its power.
//
// Every error is about d: rates, levels or power outside (0, 1), P1 = P2,
// an unknown alternative, negative counts, ICC outside [0, 1], a target
// power reached without data, a design too large to count.
func PlanPower(d PowerDesign) (*PowerPlan, error) {
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("power: %w", err)
	}
	h, err := CohenH(d.P1, d.P2)
	if err != nil {
		return nil, fmt.Errorf("power: %w", err)
	}
	alt := d.Alternative
	plan := &PowerPlan{P1: d.P1, P2: d.P2, Alpha: d.Alpha, Alternative: string(alt),
		Strict: d.Strict && alt == TwoSided, CohenH: h}
	powerAt := func(n float64) (float64, error) {
		pw, err := PowerTwoProp(n, d.P1, d.P2, d.Alpha, alt, d.Strict)
		if err != nil {
			return 0, fmt.Errorf("power: %w", err)
		}
		return pw, nil
	}

	if d.N > 0 {
		n := d.N
		pw, err := powerAt(float64(n))
		if err != nil {
			return nil, err
		}
		plan.NGiven, plan.PowerAtNGiven = &n, &pw
		if d.clustered() {
			m := float64(d.SamplesPerPrompt)
			if m == 0 {
				m = float64(n) / float64(d.Prompts)
			}
			deff, err := DesignEffect(math.Max(1, m), d.ICC)
			if err != nil {
				return nil, fmt.Errorf("power: %w", err)
			}
			eff := float64(n) / deff
			cp, err := powerAt(eff)
			if err != nil {
				return nil, err
			}
			plan.Cluster = &ClusterPlan{ICC: d.ICC, Prompts: d.Prompts, SamplesPerPrompt: m, DesignEffect: deff,
				SamplesPerModel: n, EffectiveN: eff, Power: &cp, Reachable: true}
		}
		return plan, nil
	}

	n, err := SampleSizeTwoProp(d.P1, d.P2, d.Power, d.Alpha, alt, d.Strict)
	if err != nil {
		return nil, fmt.Errorf("power: %w", err)
	}
	if n > maxCount {
		return nil, fmt.Errorf("power: n = %.4g samples per model is more than can be counted", n)
	}
	power := d.Power
	nc := int(math.Ceil(n))
	pc, err := powerAt(float64(nc))
	if err != nil {
		return nil, err
	}
	nh, err := CohenHSampleSize(d.P1, d.P2, d.Power, d.Alpha, alt)
	if err != nil {
		return nil, fmt.Errorf("power: %w", err)
	}
	nhc := int(math.Min(math.Ceil(nh), maxCount))
	plan.TargetPower, plan.N, plan.NCeiling, plan.PowerAtCeiling = &power, &n, &nc, &pc
	plan.NCohenH, plan.NCohenHCeiling = &nh, &nhc
	if !d.clustered() {
		return plan, nil
	}

	cl := &ClusterPlan{ICC: d.ICC, Prompts: d.Prompts, Reachable: true}
	plan.Cluster = cl
	switch {
	case d.Prompts > 0 && d.SamplesPerPrompt > 0:
		// A fixed design: how much information does it carry?
		cl.SamplesPerPrompt = float64(d.SamplesPerPrompt)
		cl.SamplesPerModel = d.Prompts * d.SamplesPerPrompt
	case d.Prompts > 0:
		// Samples per prompt needed with this many prompts.
		m, err := ClusterSizeForN(n, d.Prompts, d.ICC)
		if err != nil {
			cl.Reachable = false
			minP := int(math.Floor(n*d.ICC)) + 1
			cl.MinPrompts = &minP
			return plan, nil
		}
		cl.SamplesPerPromptExact = &m
		cl.SamplesPerPrompt = math.Max(1, math.Ceil(m))
		if float64(d.Prompts)*cl.SamplesPerPrompt > maxCount {
			return nil, fmt.Errorf("power: %d prompts × %g samples is more than can be counted", d.Prompts, cl.SamplesPerPrompt)
		}
		cl.SamplesPerModel = d.Prompts * int(cl.SamplesPerPrompt)
	default:
		// Prompts needed at this many samples per prompt.
		deff, err := DesignEffect(float64(d.SamplesPerPrompt), d.ICC)
		if err != nil {
			return nil, fmt.Errorf("power: %w", err)
		}
		prompts := math.Ceil(n * deff / float64(d.SamplesPerPrompt))
		if prompts*float64(d.SamplesPerPrompt) > maxCount {
			return nil, fmt.Errorf("power: %g prompts × %d samples is more than can be counted", prompts, d.SamplesPerPrompt)
		}
		cl.Prompts = int(prompts)
		cl.SamplesPerPrompt = float64(d.SamplesPerPrompt)
		cl.SamplesPerModel = cl.Prompts * d.SamplesPerPrompt
	}
	deff, err := DesignEffect(cl.SamplesPerPrompt, d.ICC)
	if err != nil {
		return nil, fmt.Errorf("power: %w", err)
	}
	cl.DesignEffect = deff
	cl.EffectiveN = float64(cl.SamplesPerModel) / deff
	cp, err := powerAt(cl.EffectiveN)
	if err != nil {
		return nil, err
	}
	cl.Power = &cp
	return plan, nil
}

// maxCount bounds the counts PlanPower returns as ints: 2^53, past which
// a float64 no longer holds every integer.
const maxCount = 1 << 53

// check validates what the functions PlanPower calls do not: the counts
// and the ICC of a clustered design.
func (d PowerDesign) check() error {
	switch {
	case d.N < 0 || d.Prompts < 0 || d.SamplesPerPrompt < 0:
		return fmt.Errorf("n=%d, prompts=%d, samples per prompt=%d: counts must not be negative", d.N, d.Prompts, d.SamplesPerPrompt)
	case d.clustered() && !(d.ICC >= 0 && d.ICC <= 1):
		return fmt.Errorf("icc=%v not in [0, 1]", d.ICC)
	case d.Prompts > 0 && d.SamplesPerPrompt > 0 && float64(d.Prompts)*float64(d.SamplesPerPrompt) > maxCount:
		return errors.New("prompts × samples per prompt is more than can be counted")
	}
	return nil
}
