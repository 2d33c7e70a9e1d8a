package stats

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// seqRefCase is one line of testdata/seq_reference.jsonl, written by
// testdata/gen_seq_reference.py (a plain-Python re-implementation of the
// confseq package's betting_mart, lambda_aKelly, lambda_predmix_eb and
// hedged_cs).
type seqRefCase struct {
	Family string `json:"family"`
	Method string `json:"method"`
	Inputs struct {
		Case    string          `json:"case"`
		Rounds  json.RawMessage `json:"rounds"` // []float64 (round) or [][]float64 (prompt)
		Bound   float64         `json:"bound"`
		Alpha   float64         `json:"alpha"`
		Rule    SeqRule         `json:"rule"`
		Breaks  float64         `json:"breaks"`
		Horizon int             `json:"horizon"`
	} `json:"inputs"`
	Outputs struct {
		LogWealthAbove []float64  `json:"log_wealth_above"`
		LogWealthBelow []float64  `json:"log_wealth_below"`
		Verdict        SeqVerdict `json:"verdict"`
		VerdictRound   int        `json:"verdict_round"`
		Lower          []float64  `json:"lower"`
		Upper          []float64  `json:"upper"`
		GridLower      []float64  `json:"grid_lower"`
		GridUpper      []float64  `json:"grid_upper"`
	} `json:"outputs"`
	line int
}

func loadSeqRef(t *testing.T) []seqRefCase {
	t.Helper()
	const path = "testdata/seq_reference.jsonl"
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open reference (regenerate with `python3 stats/testdata/gen_seq_reference.py` from the repo root): %v", err)
	}
	defer f.Close()
	var cases []seqRefCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for ln := 1; sc.Scan(); ln++ {
		var c seqRefCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("%s:%d: %v", path, ln, err)
		}
		c.line = ln
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// seqRefTol is the reference tolerance: |got − want| <= 1e-12·max(1, |want|).
// The Go code sums logs where the oracle multiplies, and finds the CS ends
// by its own bisection; the worst difference seen is logged.
const seqRefTol = 1e-12

func seqRelErr(got, want float64) float64 {
	return math.Abs(got-want) / math.Max(1, math.Abs(want))
}

// TestSeqReference checks SeqGate (both bet units) and RateCS against
// testdata/seq_reference.jsonl: every round's log wealth of both sides, the
// verdict and its round, and every observation's CS ends.
func TestSeqReference(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	worst := map[string]float64{}
	for _, c := range loadSeqRef(t) {
		fm := c.Family + "/" + c.Method
		seen[fm]++
		name := fmt.Sprintf("line %d %s %q", c.line, fm, c.Inputs.Case)
		check := func(what string, round int, got, want float64) {
			t.Helper()
			e := seqRelErr(got, want)
			worst[fm] = math.Max(worst[fm], e)
			if !(e <= seqRefTol) {
				t.Errorf("%s: %s at %d = %.17g; oracle %.17g", name, what, round, got, want)
			}
		}
		var rounds [][]float64 // a round of method "round" is its mean alone
		if c.Method == "round" {
			var xs []float64
			if err := json.Unmarshal(c.Inputs.Rounds, &xs); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, x := range xs {
				rounds = append(rounds, []float64{x})
			}
		} else if err := json.Unmarshal(c.Inputs.Rounds, &rounds); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch c.Family {
		case "seq_gate":
			cfg := SeqGateConfig{Alpha: c.Inputs.Alpha, Bound: c.Inputs.Bound, Rule: c.Inputs.Rule,
				MaxRounds: len(rounds), PerPrompt: c.Method == "prompt"}
			g, err := NewSeqGate(cfg)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for r, d := range rounds {
				if g.Decision().Verdict != SeqContinue {
					break
				}
				if c.Method == "round" {
					err = g.Update(d[0])
				} else {
					err = g.UpdateRound(d)
				}
				if err != nil {
					t.Fatalf("%s: round %d: %v", name, r+1, err)
				}
				dec := g.Decision()
				check("log wealth above", r+1, dec.LogWealthAbove, c.Outputs.LogWealthAbove[r])
				check("log wealth below", r+1, dec.LogWealthBelow, c.Outputs.LogWealthBelow[r])
			}
			dec := g.Decision()
			if dec.Verdict != c.Outputs.Verdict || dec.Rounds != c.Outputs.VerdictRound {
				t.Errorf("%s: verdict %s at round %d; oracle %s at %d", name, dec.Verdict, dec.Rounds,
					c.Outputs.Verdict, c.Outputs.VerdictRound)
			}
			// Replaying the stored rounds, all of them, reaches the same state.
			re, err := ReplaySeqGate(cfg, rounds)
			if err != nil {
				t.Fatalf("%s: replay: %v", name, err)
			}
			if re != g {
				t.Errorf("%s: replay %+v; incremental %+v", name, re.Decision(), dec)
			}
		case "rate_cs":
			cs, err := NewRateCS(RateCSConfig{Alpha: c.Inputs.Alpha, PerPrompt: c.Method == "prompt", Horizon: c.Inputs.Horizon})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			cell := 1 / c.Inputs.Breaks
			for i, r := range rounds {
				if c.Method == "round" {
					err = cs.Update(r[0])
				} else {
					err = cs.UpdateRound(r)
				}
				if err != nil {
					t.Fatalf("%s: round %d: %v", name, i+1, err)
				}
				iv := cs.Interval()
				check("lower", i+1, iv.Lower, c.Outputs.Lower[i])
				check("upper", i+1, iv.Upper, c.Outputs.Upper[i])
				// confseq's grid ends lie at most one cell outside the
				// exact ones and never inside.
				gl, gu := c.Outputs.GridLower[i], c.Outputs.GridUpper[i]
				if !(gl <= iv.Lower+1e-12 && iv.Lower <= gl+cell+1e-12) {
					t.Errorf("%s: lower at %d = %v; confseq's grid gives %v (cell %v)", name, i+1, iv.Lower, gl, cell)
				}
				if !(gu >= iv.Upper-1e-12 && iv.Upper >= gu-cell-1e-12) {
					t.Errorf("%s: upper at %d = %v; confseq's grid gives %v (cell %v)", name, i+1, iv.Upper, gu, cell)
				}
			}
		default:
			t.Errorf("line %d: unknown family %q", c.line, c.Family)
		}
	}
	for _, fm := range []string{"seq_gate/round", "seq_gate/prompt", "rate_cs/round", "rate_cs/prompt"} {
		if seen[fm] == 0 {
			t.Errorf("reference has no case for %s", fm)
		}
	}
	for fm, w := range worst {
		t.Logf("worst relative error vs the confseq re-implementation: %-24s %.2g", fm, w)
	}
}

// TestSeqGateConfigValidate: every invalid field is named, so a suite
// loader can point at the key.
func TestSeqGateConfigValidate(t *testing.T) {
	t.Parallel()
	ok := SeqGateConfig{Alpha: 0.05, Bound: 0.03, Rule: SeqMaxIncrease, MaxRounds: 100}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		mod   func(*SeqGateConfig)
		field string
		why   string
	}{
		{func(c *SeqGateConfig) { c.Alpha = 0 }, "alpha", "alpha 0 never decides"},
		{func(c *SeqGateConfig) { c.Alpha = 1 }, "alpha", "alpha 1 decides without data"},
		{func(c *SeqGateConfig) { c.Alpha = -0.05 }, "alpha", "negative"},
		{func(c *SeqGateConfig) { c.Alpha = math.NaN() }, "alpha", "NaN compares false with everything"},
		{func(c *SeqGateConfig) { c.Bound = 1 }, "bound", "no mean in [−1, 1] lies above 1"},
		{func(c *SeqGateConfig) { c.Bound = -1 }, "bound", "no mean lies below −1"},
		{func(c *SeqGateConfig) { c.Bound = 1.5 }, "bound", "outside [−1, 1]"},
		{func(c *SeqGateConfig) { c.Bound = math.NaN() }, "bound", "NaN"},
		{func(c *SeqGateConfig) { c.Rule = "" }, "rule", "the zero rule is not a rule"},
		{func(c *SeqGateConfig) { c.Rule = "max" }, "rule", "only the suite keys are rules"},
		{func(c *SeqGateConfig) { c.MaxRounds = 0 }, "max_rounds", "no budget"},
	}
	for _, tc := range tests {
		cfg := ok
		tc.mod(&cfg)
		err := cfg.Validate()
		var fe *SeqFieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: Validate(%+v) = %v; want a *SeqFieldError on %s", tc.why, cfg, err, tc.field)
			continue
		}
		if _, err := NewSeqGate(cfg); err == nil {
			t.Errorf("%s: NewSeqGate accepted %+v", tc.why, cfg)
		}
	}
	if _, err := NewRateCS(RateCSConfig{Alpha: 1}); err == nil {
		t.Error("NewRateCS(1) accepted alpha 1")
	}
}

// TestSeqGateUpdateErrors: bad rounds are rejected and change nothing.
func TestSeqGateUpdateErrors(t *testing.T) {
	t.Parallel()
	cfg := SeqGateConfig{Alpha: 0.05, Bound: 0, Rule: SeqMaxIncrease, MaxRounds: 10}
	g, _ := NewSeqGate(cfg)
	if err := g.Update(0.2); err != nil {
		t.Fatal(err)
	}
	before := g
	for _, x := range []float64{1.0000001, -1.5, math.NaN(), math.Inf(1)} {
		if err := g.Update(x); err == nil {
			t.Errorf("Update(%v) accepted", x)
		}
		if err := g.UpdateRound([]float64{0, x}); err == nil {
			t.Errorf("UpdateRound(0, %v) accepted", x)
		}
	}
	if err := g.UpdateRound(nil); err == nil {
		t.Error("UpdateRound(nil) accepted an empty round")
	}
	if g != before {
		t.Errorf("a rejected round changed the gate")
	}
	var zero SeqGate
	if err := zero.Update(0); err == nil || !strings.Contains(err.Error(), "NewSeqGate") {
		t.Errorf("zero SeqGate: Update = %v; want an error naming NewSeqGate", err)
	}

	cfg.PerPrompt = true
	p, _ := NewSeqGate(cfg)
	if err := p.Update(0.1); err == nil {
		t.Error("a per-prompt gate accepted a round mean")
	}
	if err := p.UpdateRound([]float64{0, 1, -1}); err != nil {
		t.Fatal(err)
	}
	if err := p.UpdateRound([]float64{0, 1}); err == nil || !strings.Contains(err.Error(), "earlier rounds had 3") {
		t.Errorf("per-prompt round of another size: %v; want an error", err)
	}
}

// TestSeqGateVerdictIsFinal: after a verdict, and after the budget, rounds
// change nothing, so a replay over more stored rounds than the gate used
// gives the same decision.
func TestSeqGateVerdictIsFinal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg    SeqGateConfig
		x      float64
		want   SeqVerdict
		before int // the verdict comes no later than this round
		why    string
	}{
		{SeqGateConfig{Alpha: 0.05, Bound: 0, Rule: SeqMaxIncrease, MaxRounds: 100}, 1, SeqFail, 30,
			"every round at +1 is above bound 0: a max_increase gate fails"},
		{SeqGateConfig{Alpha: 0.05, Bound: 0, Rule: SeqMinIncrease, MaxRounds: 100}, 1, SeqPass, 30,
			"the same rounds pass a min_increase gate"},
		{SeqGateConfig{Alpha: 0.05, Bound: 0, Rule: SeqMaxIncrease, MaxRounds: 100}, -1, SeqPass, 30,
			"every round at −1 is below the bound: max_increase passes"},
		{SeqGateConfig{Alpha: 0.05, Bound: 0.5, Rule: SeqMinIncrease, MaxRounds: 100}, 0.2, SeqFail, 60,
			"rounds at 0.2 are below a minimum increase of 0.5: fails"},
		{SeqGateConfig{Alpha: 0.05, Bound: 0, Rule: SeqMaxIncrease, MaxRounds: 7}, 0, SeqInconclusive, 7,
			"rounds exactly at the bound never decide: inconclusive at the budget"},
		{SeqGateConfig{Alpha: 0.05, Bound: 0, Rule: SeqMaxIncrease, MaxRounds: 1}, 1, SeqInconclusive, 1,
			"the first round bets nothing (the prior mean is the bound): a budget of one is inconclusive"},
	}
	for _, tc := range tests {
		g, err := NewSeqGate(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		for g.Decision().Verdict == SeqContinue {
			if err := g.Update(tc.x); err != nil {
				t.Fatal(err)
			}
		}
		d := g.Decision()
		if d.Verdict != tc.want || d.Rounds > tc.before {
			t.Errorf("%s: %s at round %d; want %s by round %d", tc.why, d.Verdict, d.Rounds, tc.want, tc.before)
		}
		snap := g
		for range 5 {
			if err := g.Update(-tc.x); err != nil {
				t.Fatal(err)
			}
		}
		if g != snap {
			t.Errorf("%s: rounds after the verdict changed the gate: %+v, was %+v", tc.why, g.Decision(), d)
		}
	}
}

// TestSeqGateSymmetry: the two sides are mirror images. Rounds −x against
// bound −b give the side below what x against b gives the side above, and
// a round of a single prompt is its own mean, so PerPrompt with one prompt
// is the round gate exactly.
func TestSeqGateSymmetry(t *testing.T) {
	t.Parallel()
	xs := []float64{0.3, -0.1, 0.5, 0.25, 0.4, -0.3, 0.6, 0.1, 0.35, 0.2, 0.45, 0.3}
	cfg := SeqGateConfig{Alpha: 0.05, Bound: 0.1, Rule: SeqMaxIncrease, MaxRounds: 100}
	mir := SeqGateConfig{Alpha: 0.05, Bound: -0.1, Rule: SeqMinIncrease, MaxRounds: 100}
	one := cfg
	one.PerPrompt = true
	g, _ := NewSeqGate(cfg)
	m, _ := NewSeqGate(mir)
	p, _ := NewSeqGate(one)
	for i, x := range xs {
		if err := g.Update(x); err != nil {
			t.Fatal(err)
		}
		if err := m.Update(-x); err != nil {
			t.Fatal(err)
		}
		if err := p.UpdateRound([]float64{x}); err != nil {
			t.Fatal(err)
		}
		gd, md, pd := g.Decision(), m.Decision(), p.Decision()
		if seqRelErr(gd.LogWealthAbove, md.LogWealthBelow) > 1e-13 || seqRelErr(gd.LogWealthBelow, md.LogWealthAbove) > 1e-13 {
			t.Errorf("round %d: (above, below) = (%v, %v); mirrored (%v, %v)", i+1,
				gd.LogWealthAbove, gd.LogWealthBelow, md.LogWealthBelow, md.LogWealthAbove)
		}
		if gd != pd {
			t.Errorf("round %d: round gate %+v; per-prompt gate with one prompt %+v", i+1, gd, pd)
		}
		if gd.Verdict != SeqContinue {
			// The original's side above is the mirror's side below; a
			// max_increase gate fails above and a min_increase gate
			// fails below, so the verdicts agree.
			if md.Verdict != gd.Verdict {
				t.Errorf("round %d: verdict %s; mirrored %s", i+1, gd.Verdict, md.Verdict)
			}
			break
		}
	}
}

// TestRateCSProperties: the interval only narrows, stays in [0, 1], and the
// update rejects values outside [0, 1].
func TestRateCSProperties(t *testing.T) {
	t.Parallel()
	cs, err := NewRateCS(RateCSConfig{Alpha: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if iv := cs.Interval(); iv.Lower != 0 || iv.Upper != 1 || !math.IsNaN(iv.Estimate) || cs.Width() != 1 {
		t.Errorf("empty CS = %v, width %v; want [0, 1] with no estimate", iv, cs.Width())
	}
	for _, x := range []float64{-0.01, 1.01, math.NaN()} {
		if err := cs.Update(x); err == nil {
			t.Errorf("Update(%v) accepted", x)
		}
	}
	if err := cs.UpdateRound(nil); err == nil {
		t.Error("UpdateRound(nil) accepted an empty round")
	}
	if cs.Rounds() != 0 {
		t.Errorf("rejected updates counted: Rounds = %d", cs.Rounds())
	}
	prev := cs.Interval()
	xs := []float64{0.1, 0.14, 0.08, 0.12, 0.2, 0.1, 0.06, 0.12, 0.16, 0.1, 0.12, 0.14}
	for i, x := range xs {
		if err := cs.Update(x); err != nil {
			t.Fatal(err)
		}
		iv := cs.Interval()
		if iv.Lower < prev.Lower || iv.Upper > prev.Upper || iv.Lower < 0 || iv.Upper > 1 || iv.Lower > iv.Upper {
			t.Errorf("after %d: %v does not lie within %v", i+1, iv, prev)
		}
		prev = iv
	}
	cl := cs.Clone()
	if err := cl.Update(1); err != nil {
		t.Fatal(err)
	}
	if cs.Rounds() != len(xs) || cs.Interval().Upper != prev.Upper {
		t.Error("updating a clone changed the original")
	}
	if w := cs.Width(); !(w > 0 && w < 0.6) {
		t.Errorf("width after %d rounds near 0.12 = %v; want in (0, 0.6)", len(xs), w)
	}

	p, _ := NewRateCS(RateCSConfig{Alpha: 0.05, PerPrompt: true})
	if err := p.Update(0.5); err == nil {
		t.Error("a per-prompt CS accepted a round mean")
	}
	if err := p.UpdateRound([]float64{0, 1, 1}); err != nil {
		t.Fatal(err)
	}
	if err := p.UpdateRound([]float64{0, 1}); err == nil {
		t.Error("a per-prompt CS accepted a round of another size")
	}
	if err := p.UpdateRound([]float64{0, 1, 2}); err == nil {
		t.Error("a per-prompt CS accepted a hit of 2")
	}
}

// ExampleSeqGate feeds a gate the mean differences of rounds in which the
// treatment hits far more often than the baseline, and stops at the verdict.
func ExampleSeqGate() {
	g, err := NewSeqGate(SeqGateConfig{Alpha: 0.05, Bound: 0.03, Rule: SeqMaxIncrease, MaxRounds: 100})
	if err != nil {
		panic(err)
	}
	rounds := []float64{0.46, 0.5, 0.42, 0.52, 0.44, 0.48, 0.5, 0.46, 0.4, 0.54, 0.48, 0.5, 0.44, 0.46, 0.52, 0.5, 0.48, 0.46}
	for _, x := range rounds {
		if err := g.Update(x); err != nil {
			panic(err)
		}
		if g.Decision().Verdict != SeqContinue {
			break
		}
	}
	d := g.Decision()
	fmt.Printf("%s after %d rounds: mean difference %+.3f, log wealth above %.2f >= %.2f\n",
		d.Verdict, d.Rounds, d.Mean, d.LogWealthAbove, d.Threshold)
	// Output:
	// fail after 15 rounds: mean difference +0.475, log wealth above 3.07 >= 3.00
}

// FuzzSeqGate: any rounds in range keep the gate and the rate CS well
// formed: finite log wealth, a verdict that never changes once reached, a
// replay that agrees, and intervals inside [0, 1].
func FuzzSeqGate(f *testing.F) {
	f.Add([]byte{0, 255, 128, 200, 10, 255, 255, 255}, uint8(130), uint8(3), false)
	f.Add([]byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 255}, uint8(0), uint8(1), true)
	f.Add([]byte{0, 0, 0, 0, 0, 0}, uint8(255), uint8(2), true)
	f.Fuzz(func(t *testing.T, data []byte, bound, prompts uint8, perPrompt bool) {
		k := int(prompts%5) + 1
		cfg := SeqGateConfig{Alpha: 0.05, Bound: (float64(bound)+0.5)/128 - 1, Rule: SeqMaxIncrease,
			MaxRounds: 50, PerPrompt: perPrompt}
		g, err := NewSeqGate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := NewRateCS(RateCSConfig{Alpha: 0.05, PerPrompt: perPrompt, Horizon: int(prompts % 3)})
		if err != nil {
			t.Fatal(err)
		}
		var rounds [][]float64
		// At most 200 rounds: the rate CS's update cost grows with rounds.
		for i := 0; i+k <= len(data) && len(rounds) < 200; i += k {
			d, h := make([]float64, k), make([]float64, k)
			for j := range k {
				d[j] = float64(data[i+j])/127.5 - 1
				h[j] = float64(data[i+j]) / 255
			}
			rounds = append(rounds, d)
			before := g.Decision()
			if err := g.UpdateRound(d); err != nil {
				t.Fatalf("round %v: %v", d, err)
			}
			after := g.Decision()
			if before.Verdict != SeqContinue && after != before {
				t.Fatalf("a decided gate changed: %+v -> %+v", before, after)
			}
			if math.IsNaN(after.LogWealthAbove) || math.IsInf(after.LogWealthAbove, 0) ||
				math.IsNaN(after.LogWealthBelow) || math.IsInf(after.LogWealthBelow, 0) || after.Rounds > cfg.MaxRounds {
				t.Fatalf("ill-formed decision %+v", after)
			}
			if err := cs.UpdateRound(h); err != nil {
				t.Fatalf("rate round %v: %v", h, err)
			}
			if iv := cs.Interval(); !(iv.Lower >= 0 && iv.Upper <= 1 && iv.Lower <= iv.Upper) {
				t.Fatalf("rate interval %v outside [0, 1]", iv)
			}
		}
		re, err := ReplaySeqGate(cfg, rounds)
		if err != nil || re != g {
			t.Fatalf("replay = %+v, %v; incremental %+v", re.Decision(), err, g.Decision())
		}
	})
}
