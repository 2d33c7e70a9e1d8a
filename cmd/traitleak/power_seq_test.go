package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/stats"
)

// TestPowerSequential checks power --sequential against the simulation it
// runs (the same config gives the same numbers) and the savings issue 16
// asks for: at 0.12 vs 0.60, the median samples to a decision are at most
// 25% of the fixed 100 per prompt.
func TestPowerSequential(t *testing.T) {
	for _, tc := range []struct {
		args []string
		cfg  stats.SeqSimConfig
	}{
		// A clear leak against a max_increase of 0.03: fails in a few
		// rounds (stats/SEQUENTIAL.md: median 2 rounds).
		{[]string{"--p1", "0.12", "--p2", "0.6", "--icc", "0.05", "--replicates", "300"},
			stats.SeqSimConfig{Baseline: 0.12, Treatment: 0.6, ICC: 0.05, Prompts: 50, Replicates: 300, Seed: 1,
				Gate: stats.SeqGateConfig{Alpha: 0.05, Bound: 0.03, Rule: stats.SeqMaxIncrease, MaxRounds: 100, PerPrompt: true}}},
		// No leak against min_increase 0.1, round-mean bets, 20 prompts,
		// budget 40, another seed.
		{[]string{"--p1", "0.3", "--p2", "0.3", "--rule", "min_increase", "--bound", "0.1", "--bets", "round", "--prompts", "20",
			"--max-samples", "40", "--replicates", "200", "--seed", "9", "--alpha", "0.1"},
			stats.SeqSimConfig{Baseline: 0.3, Treatment: 0.3, Prompts: 20, Replicates: 200, Seed: 9,
				Gate: stats.SeqGateConfig{Alpha: 0.1, Bound: 0.1, Rule: stats.SeqMinIncrease, MaxRounds: 40}}},
	} {
		out, err := runPower(t, append([]string{"--sequential", "--json"}, tc.args...)...)
		if err != nil {
			t.Fatalf("power --sequential %v: %v\n%s", tc.args, err, out)
		}
		var got SeqPowerReport
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		res, err := stats.SimulateSequential(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		n := float64(tc.cfg.Replicates)
		if got.MedianRounds != res.RoundsQuantile(0.5) || got.P90Rounds != res.RoundsQuantile(0.9) || got.MeanRounds != res.MeanRounds() ||
			got.PFail != float64(res.Fail)/n || got.PPass != float64(res.Pass)/n || got.FixedRejects != float64(res.ZFinal)/n ||
			got.MedianSamples != res.RoundsQuantile(0.5)*tc.cfg.Prompts || got.FixedSamples != tc.cfg.Gate.MaxRounds*tc.cfg.Prompts {
			t.Errorf("power --sequential %v = %+v; the simulation gives %+v", tc.args, got, res)
		}
	}
	out, err := runPower(t, "--sequential", "--json", "--p1", "0.12", "--p2", "0.6", "--replicates", "300")
	if err != nil {
		t.Fatal(err)
	}
	var r SeqPowerReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.MedianRounds > 25 || r.PFail < 0.99 {
		t.Errorf("0.12 vs 0.60: median %d rounds, P(fail) %v; want at most 25 rounds and a fail", r.MedianRounds, r.PFail)
	}
	text, err := runPower(t, "--sequential", "--p1", "0.12", "--p2", "0.6", "--replicates", "50")
	if err != nil || !strings.Contains(text, "rounds to a decision") || !strings.Contains(text, "Fixed design: 100 samples per prompt per model (5000 per model)") {
		t.Errorf("text report (%v):\n%s", err, text)
	}
}

func TestPowerSequentialUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sequential", "--p1", "0.1", "--p2", "0.2", "--bound", "1"}, "--bound 1"},
		{[]string{"--sequential", "--p1", "0.1", "--p2", "0.2", "--rule", "less"}, "--rule"},
		{[]string{"--sequential", "--p1", "0.1", "--p2", "0.2", "--bets", "mean"}, "--bets"},
		{[]string{"--sequential", "--p1", "0.1", "--p2", "0.2", "--n", "10"}, "--n is for the fixed design"},
		{[]string{"--sequential", "--p1", "0.1", "--p2", "0.2", "--max-samples", "0"}, "--max-samples 0"},
		{[]string{"--sequential", "--p1", "0.1", "--p2", "1.2"}, "--p2 1.2"},
		{[]string{"--sequential", "--p1", "0.1", "--p2", "0.2", "--icc", "1"}, "--icc 1"},
		{[]string{"--sequential", "--p2", "0.2"}, "--p1 and --p2 are required"},
		{[]string{"--p1", "0.1", "--p2", "0.2", "--bound", "0.1"}, "--bound needs --sequential"},
	} {
		out, err := runPower(t, tc.args...)
		var ue *usageError
		if !asUsage(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("power %v: %v\n%s; want a usage error with %q", tc.args, err, out, tc.want)
		}
	}
}
