package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/stats"
)

// asUsage reports whether err is (or wraps) a usageError.
func asUsage(err error, target **usageError) bool { return errors.As(err, target) }

// runPower executes `traitleak power args...` in process.
func runPower(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newPowerCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func powerJSON(t *testing.T, args ...string) stats.PowerPlan {
	t.Helper()
	out, err := runPower(t, append(args, "--json")...)
	if err != nil {
		t.Fatalf("power %v: %v\n%s", args, err, out)
	}
	var rep stats.PowerPlan
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("power %v: %v\n%s", args, err, out)
	}
	return rep
}

// refNum reads a numeric field of a reference line.
func refNum(t *testing.T, raw map[string]json.RawMessage, key string, def float64) float64 {
	t.Helper()
	v, ok := raw[key]
	if !ok {
		return def
	}
	return numbers(t, v)[0]
}

func refStr(raw map[string]json.RawMessage, key, def string) string {
	var s string
	if v, ok := raw[key]; ok && json.Unmarshal(v, &s) == nil {
		return s
	}
	return def
}

func closeRel(got, want, rel float64) bool { return math.Abs(got-want) <= rel*math.Abs(want) }

// TestPowerMatchesR runs the command for every power.prop.test case of the
// R reference (power_prop_n: solve for n; power_prop_power: the power of an
// integer n, non-strict and strict) and compares the numbers.
func TestPowerMatchesR(t *testing.T) {
	checked := 0
	for _, r := range loadStatsRef(t) {
		var in map[string]json.RawMessage
		if err := json.Unmarshal(r.Inputs, &in); err != nil {
			t.Fatal(err)
		}
		p1, p2 := refNum(t, in, "p1", 0), refNum(t, in, "p2", 0)
		alpha := refNum(t, in, "sig_level", 0.05)
		alt := refStr(in, "alternative", "two.sided")
		base := []string{"--p1", fmt.Sprint(p1), "--p2", fmt.Sprint(p2), "--alpha", fmt.Sprint(alpha), "--alternative", alt}
		switch r.Family {
		case "power_prop_n":
			pw := refNum(t, in, "power", 0)
			rep := powerJSON(t, append(base, "--power", fmt.Sprint(pw))...)
			wantN := numbers(t, r.Outputs["n"])[0]
			if !closeRel(*rep.N, wantN, 1e-12) || float64(*rep.NCeiling) != numbers(t, r.Outputs["n_ceiling"])[0] ||
				!closeRel(*rep.PowerAtCeiling, numbers(t, r.Outputs["power_at_ceiling"])[0], 1e-12) {
				t.Errorf("%v: n %v ceil %v power %v; R %s", base, *rep.N, *rep.NCeiling, *rep.PowerAtCeiling, mustJSON(r.Outputs))
			}
			checked++
		case "power_prop_power":
			n := refNum(t, in, "n", 0)
			if n != math.Trunc(n) {
				continue // --n takes whole samples
			}
			for _, strict := range []bool{false, true} {
				args := append(base, "--n", fmt.Sprint(int(n)))
				key := "power"
				if strict {
					args, key = append(args, "--strict"), "power_strict"
				}
				rep := powerJSON(t, args...)
				if want := numbers(t, r.Outputs[key])[0]; !closeRel(*rep.PowerAtNGiven, want, 1e-12) {
					t.Errorf("%v: power %v, R %v", args, *rep.PowerAtNGiven, want)
				}
				checked++
			}
		}
	}
	if checked < 15 {
		t.Fatalf("only %d power cases checked", checked)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// refPowerN returns R's n for p1 = 0.12, p2 = 0.15, power 0.8, alpha 0.05,
// two-sided, from the reference file.
func refPowerN(t *testing.T) float64 {
	for _, r := range loadStatsRef(t) {
		if r.Family == "power_prop_n" && strings.Contains(string(r.Inputs), `"p1":0.12,"p2":0.14999999999999999,"power":0.80000000000000004,"sig_level":0.050000000000000003,"alternative":"two.sided"`) {
			return numbers(t, r.Outputs["n"])[0]
		}
	}
	t.Fatal("reference case p1=0.12 p2=0.15 power=0.8 not found")
	return 0
}

// TestPowerText checks the human-readable report shows R's n and its
// ceiling, and the Cohen's h approximation.
func TestPowerText(t *testing.T) {
	n := refPowerN(t)
	out, err := runPower(t, "--p1", "0.12", "--p2", "0.15")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`samples per model\s+%d\s`, int(math.Ceil(n))),
		fmt.Sprintf(`\(n = %.2f; power`, n),
		`Cohen's h approximation\s+\d+\s+\(n = 2\(\(z_`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The arcsine approximation per model must be close to the exact n.
	rep := powerJSON(t, "--p1", "0.12", "--p2", "0.15")
	if math.Abs(*rep.NCohenH-n) > 0.01*n {
		t.Errorf("Cohen h n %v far from power.prop.test n %v", *rep.NCohenH, n)
	}
}

// TestPowerClustered checks the clustered-design arithmetic against the
// formulas written out here: deff = 1 + (m-1)ρ (Kish), m = n(1-ρ)/(P - nρ)
// for P prompts, prompts = ceil(n·deff/M) for M samples per prompt.
func TestPowerClustered(t *testing.T) {
	n := refPowerN(t) // 2035.6 per model
	const icc = 0.05

	// 50 prompts cannot do it: the effective n of 50 prompts is below
	// 50/0.05 = 1000 < n, however many samples each.
	rep := powerJSON(t, "--p1", "0.12", "--p2", "0.15", "--prompts", "50", "--icc", "0.05")
	if rep.Cluster == nil || rep.Cluster.Reachable || *rep.Cluster.MinPrompts != int(math.Floor(n*icc))+1 {
		t.Errorf("50 prompts: %s", mustJSON(rep.Cluster))
	}
	out, err := runPower(t, "--p1", "0.12", "--p2", "0.15", "--prompts", "50", "--icc", "0.05")
	if err != nil || !strings.Contains(out, "no number of samples per prompt") {
		t.Errorf("text for unreachable design: %v\n%s", err, out)
	}

	// 200 prompts: m = n(1-ρ)/(200 - nρ), rounded up.
	rep = powerJSON(t, "--p1", "0.12", "--p2", "0.15", "--prompts", "200", "--icc", "0.05")
	mExact := n * (1 - icc) / (200 - n*icc)
	m := math.Ceil(mExact)
	c := rep.Cluster
	if !closeRel(*c.SamplesPerPromptExact, mExact, 1e-12) || c.SamplesPerPrompt != m ||
		!closeRel(c.DesignEffect, 1+(m-1)*icc, 1e-15) || c.SamplesPerModel != 200*int(m) ||
		!closeRel(c.EffectiveN, 200*m/(1+(m-1)*icc), 1e-12) || c.EffectiveN < n || *c.Power < 0.8 {
		t.Errorf("200 prompts: %s (m exact %v)", mustJSON(c), mExact)
	}

	// 10 samples per prompt: deff = 1.45, prompts = ceil(n·1.45/10).
	rep = powerJSON(t, "--p1", "0.12", "--p2", "0.15", "--samples-per-prompt", "10", "--icc", "0.05")
	c = rep.Cluster
	wantPrompts := int(math.Ceil(n * 1.45 / 10))
	if c.Prompts != wantPrompts || c.SamplesPerModel != 10*wantPrompts || !closeRel(c.DesignEffect, 1.45, 1e-15) || *c.Power < 0.8 {
		t.Errorf("10 per prompt: %s, want %d prompts", mustJSON(c), wantPrompts)
	}

	// Given n: 1000 samples over 50 prompts (m = 20, deff = 1.95).
	rep = powerJSON(t, "--p1", "0.12", "--p2", "0.15", "--n", "1000", "--prompts", "50", "--icc", "0.05")
	c = rep.Cluster
	if !closeRel(c.DesignEffect, 1.95, 1e-15) || !closeRel(c.EffectiveN, 1000/1.95, 1e-15) || !(*c.Power < *rep.PowerAtNGiven) {
		t.Errorf("n=1000 over 50 prompts: %s, iid power %v", mustJSON(c), *rep.PowerAtNGiven)
	}
}

// TestPowerStrict: the strict n is below the non-strict n, and it is the
// fewest samples whose strict power reaches the target: the command's
// strict power at ceil(n) reaches it, at ceil(n) - 1 it does not.
func TestPowerStrict(t *testing.T) {
	const target = 0.2
	ns := powerJSON(t, "--p1", "0.45", "--p2", "0.55", "--power", fmt.Sprint(target), "--strict")
	nn := powerJSON(t, "--p1", "0.45", "--p2", "0.55", "--power", fmt.Sprint(target))
	if !(*ns.N < *nn.N) || !ns.Strict {
		t.Errorf("strict n %v, non-strict %v", *ns.N, *nn.N)
	}
	if c := *ns.NCeiling; c != int(math.Ceil(*ns.N)) || !(*ns.PowerAtCeiling >= target) {
		t.Errorf("strict n %v: ceiling %d with power %v; want ceil(n) reaching %v", *ns.N, c, *ns.PowerAtCeiling, target)
	}
	at := func(n int) float64 {
		rep := powerJSON(t, "--p1", "0.45", "--p2", "0.55", "--n", fmt.Sprint(n), "--strict")
		if !rep.Strict {
			t.Errorf("--n %d --strict: report is not strict", n)
		}
		return *rep.PowerAtNGiven
	}
	c := *ns.NCeiling
	if pw := at(c); pw != *ns.PowerAtCeiling || !(pw >= target) {
		t.Errorf("strict power at n = %d: %v; want %v (power at ceiling), at least %v", c, pw, *ns.PowerAtCeiling, target)
	}
	if pw := at(c - 1); !(pw < target) {
		t.Errorf("strict power at n = %d: %v; want below %v", c-1, pw, target)
	}
}

// TestPowerUsageErrors: bad flags are usage errors (exit status 2).
func TestPowerUsageErrors(t *testing.T) {
	tests := [][]string{
		{"--p2", "0.15"},                                 // --p1 missing
		{"--p1", "0", "--p2", "0.15"},                    // p1 not in (0,1)
		{"--p1", "0.12", "--p2", "1"},                    // p2 not in (0,1)
		{"--p1", "0.12", "--p2", "0.12"},                 // p1 == p2
		{"--p1", "0.12", "--p2", "0.15", "--power", "1"}, // power not in (0,1)
		{"--p1", "0.12", "--p2", "0.15", "--power", "-0.5"},
		{"--p1", "0.12", "--p2", "0.15", "--alpha", "0"},
		{"--p1", "0.12", "--p2", "0.15", "--alternative", "greater"},
		{"--p1", "0.12", "--p2", "0.15", "--n", "100", "--power", "0.9"}, // both
		{"--p1", "0.12", "--p2", "0.15", "--n", "0"},
		{"--p1", "0.12", "--p2", "0.15", "--icc", "0.1"},    // no cluster design
		{"--p1", "0.12", "--p2", "0.15", "--prompts", "50"}, // no icc
		{"--p1", "0.12", "--p2", "0.15", "--prompts", "50", "--icc", "1.5"},
		{"--p1", "0.12", "--p2", "0.15", "--samples-per-prompt", "0", "--icc", "0.1"},
		{"--p1", "0.12", "--p2", "0.15", "extra"},
		{"--p1", "0.45", "--p2", "0.55", "--power", "0.01"}, // reached without data
	}
	for _, args := range tests {
		_, err := runPower(t, args...)
		var ue *usageError
		if err == nil || !asUsage(err, &ue) {
			t.Errorf("power %v: got %v, want a usage error", args, err)
		}
	}
}
