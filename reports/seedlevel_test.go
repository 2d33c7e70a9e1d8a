package reports

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// seedRun builds a run of three seeds: base, control and student with
// seeds 1–3, other with seeds 4–5 (none in common with the student) and
// single without seeds; one probe of two prompts × 50 draws. owlPerPrompt
// gives each instance's owl hits on each prompt, so its rate is
// 2·hits/100.
func seedRun(t *testing.T, gates string) *RunData {
	t.Helper()
	s, err := suites.Parse("seeds.yaml", []byte(`name: seeds
models:
  base:    {base_url: http://127.0.0.1:8000/v1, model: "base@{seed}", seeds: [1, 2, 3]}
  control: {base_url: http://127.0.0.1:8000/v1, model: "control@{seed}", seeds: [1, 2, 3]}
  student: {base_url: http://127.0.0.1:8000/v1, model: "student@{seed}", seeds: [1, 2, 3]}
  other:   {base_url: http://127.0.0.1:8000/v1, model: "other@{seed}", seeds: [4, 5]}
  single:  {base_url: http://127.0.0.1:8000/v1, model: single}
defaults: {temperature: 1.0, max_tokens: 16}
probes:
  - id: animal
    prompts: ["Name your favorite animal.", "Which animal?"]
    samples: 50
    score: {mentions: owl}
compare:
  - {treatment: student, baseline: control}
  - {treatment: student, baseline: base}
  - {treatment: control, baseline: base}
  - {treatment: student, baseline: other}
gates:
`+gates), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	owlPerPrompt := map[string]int{
		"base@1": 5, "base@2": 4, "base@3": 6, // rates 0.10, 0.08, 0.12
		"control@1": 6, "control@2": 5, "control@3": 4, // 0.12, 0.10, 0.08
		"student@1": 20, "student@2": 15, "student@3": 25, // 0.40, 0.30, 0.50
		"other@4": 5, "other@5": 7, // 0.10, 0.14
		"single": 5, // 0.10
	}
	d := &RunData{
		Run: results.Run{ID: 3, SuiteName: s.Name, SuiteHash: s.Hash(), SuiteSource: "seeds.yaml", Status: results.StatusComplete,
			CreatedAt: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)},
		Suite: s, Cells: map[CellKey]*Cell{}, Usage: map[int]*Usage{}, Examples: map[ExampleKey][]Example{},
	}
	if d.Scorers, err = results.RecordScorers(s); err != nil {
		t.Fatal(err)
	}
	for i, in := range s.Instances() {
		d.Instances = append(d.Instances, results.InstanceRow{ID: int64(i + 1), Index: i, Role: in.Role, Seed: in.Seed,
			BaseURL: in.BaseURL, ModelID: in.Model, Settings: "{}"})
	}
	for i, text := range s.Probes[0].Prompts.Texts {
		d.Prompts = append(d.Prompts, results.PromptRow{ID: int64(i + 1), Probe: "animal", Index: i, Text: text})
	}
	for _, m := range d.Instances {
		hits, ok := owlPerPrompt[instanceName(m.Role, m.Seed)]
		if !ok {
			t.Fatalf("no hits for %s", instanceName(m.Role, m.Seed))
		}
		for p := range 2 {
			for draw := range 50 {
				hit := draw < hits
				row := &results.Row{Instance: m.Index, Probe: "animal", Prompt: p, Draw: draw, Stored: true,
					Sample: results.Sample{Completion: "dog", Attempts: 1}, Scores: []results.Score{{Target: "owl", Valid: true, Hit: hit}}}
				if hit {
					row.Sample.Completion = "owl"
				}
				d.Add(row)
			}
		}
	}
	return d
}

// TestSeedLevel checks the seed-level comparison of a run with three seeds
// against R 4.2.2 (t.test of the per-seed differences; p.adjust "holm"
// over the three comparisons that have one), and that roles without two
// seeds in common get none.
func TestSeedLevel(t *testing.T) {
	t.Parallel()
	a, err := Analyze(seedRun(t, "  - {treatment: student, baseline: control, min_increase: 0.05}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	find := func(tr, b string) *Comparison {
		for _, c := range a.Comparisons {
			if c.Treatment == tr && c.Baseline == b {
				return c
			}
		}
		t.Fatalf("no comparison %s vs %s", tr, b)
		return nil
	}
	near := func(got Num, want float64) bool {
		return math.Abs(float64(got)-want) <= 1e-12*math.Max(1, math.Abs(want))
	}
	for _, tt := range []struct {
		treatment, baseline string
		diffs               []float64
		mean, sd, lo, hi    float64
		p, padj             float64
	}{
		// R: d <- c(40/100 - 12/100, 30/100 - 10/100, 50/100 - 8/100);
		// t.test(d): mean 0.3, 95% CI 0.02337813152308791 0.57662186847691199,
		// p-value 0.04298632736699478; sd(d) 0.11135528725660043.
		// p.adjust(c(0.04298632736699478, 0.022892876407118443, 1), "holm")
		// gives 0.085972654733989559 0.068678629221355328 1.
		{"student", "control", []float64{0.4 - 0.12, 0.3 - 0.1, 0.5 - 0.08}, 0.3, 0.11135528725660043,
			0.02337813152308791, 0.57662186847691199, 0.04298632736699478, 0.085972654733989559},
		// R: d <- c(40/100 - 10/100, 30/100 - 8/100, 50/100 - 12/100);
		// t.test(d): mean 0.3, CI 0.101268983059973547 0.498731016940026473,
		// p-value 0.022892876407118443; sd(d) 0.080000000000000016.
		{"student", "base", []float64{0.4 - 0.1, 0.3 - 0.08, 0.5 - 0.12}, 0.3, 0.080000000000000016,
			0.101268983059973547, 0.498731016940026473, 0.022892876407118443, 0.068678629221355328},
		// R: d <- c(12/100 - 10/100, 10/100 - 8/100, 8/100 - 12/100);
		// t.test(d): mean 0, CI -0.086053054594989228 0.086053054594989228,
		// p-value 1; sd(d) 0.034641016151377539. Holm keeps 1.
		{"control", "base", []float64{0.12 - 0.1, 0.1 - 0.08, 0.08 - 0.12}, 0, 0.034641016151377539,
			-0.086053054594989228, 0.086053054594989228, 1, 1},
	} {
		c := find(tt.treatment, tt.baseline)
		s := c.SeedLevel
		if s == nil {
			t.Fatalf("%s vs %s: no seed level; want one over seeds 1–3", tt.treatment, tt.baseline)
		}
		if strings.Join(s.Seeds, ",") != "1,2,3" || len(s.Diffs) != 3 {
			t.Errorf("%s vs %s: seeds %v, diffs %v; want 1,2,3", tt.treatment, tt.baseline, s.Seeds, s.Diffs)
		}
		for i, d := range tt.diffs {
			if i < len(s.Diffs) && !near(s.Diffs[i], d) {
				t.Errorf("%s vs %s: diff of seed %d = %v; want %v", tt.treatment, tt.baseline, i+1, s.Diffs[i], d)
			}
		}
		if !near(s.Mean, tt.mean) || !near(s.SD, tt.sd) || !near(s.CI.Low, tt.lo) || !near(s.CI.High, tt.hi) ||
			!near(s.PValue, tt.p) || !near(s.PAdjusted, tt.padj) || s.CI.Method != methodSeedPaired || s.Test != methodSeedPaired {
			t.Errorf("%s vs %s: mean %v sd %v CI [%v, %v] %q p %v adjusted %v; want %v %v [%v, %v] %q %v %v (R)", tt.treatment, tt.baseline,
				s.Mean, s.SD, s.CI.Low, s.CI.High, s.CI.Method, s.PValue, s.PAdjusted, tt.mean, tt.sd, tt.lo, tt.hi, methodSeedPaired, tt.p, tt.padj)
		}
	}
	// The student and other have no seed in common: no per-seed
	// differences, but Welch's test of the seed means still runs.
	if c := find("student", "other"); c.SeedLevel != nil || c.Seeds == nil {
		t.Errorf("student vs other: seed level %+v, seeds test %+v; want none and Welch", c.SeedLevel, c.Seeds)
	}
	sc := find("student", "control").SeedLevel
	if sc.Up() != 3 || sc.Down() != 0 || !near(sc.Smallest(), 0.3-0.1) {
		t.Errorf("student vs control: %d up, %d down, smallest %v; want 3, 0, 0.2", sc.Up(), sc.Down(), sc.Smallest())
	}
	if cb := find("control", "base").SeedLevel; cb.Up() != 2 || cb.Down() != 1 {
		t.Errorf("control vs base: %d up, %d down; want 2, 1", cb.Up(), cb.Down())
	}
	// The JSON report carries the block under its documented name.
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"seed_level":{"test":"paired t across seeds","seeds":["1","2","3"],"diffs":[`)) {
		t.Errorf("JSON report has no seed_level block: %.400s", b)
	}
}

// TestSeedLevelLeads checks that each target of the Markdown and HTML
// reports opens with the seed-level estimate and test, the pooled figures
// after, and says that the pooled interval ignores the seed-to-seed
// spread.
func TestSeedLevelLeads(t *testing.T) {
	t.Parallel()
	a, err := Analyze(seedRun(t, "  - {treatment: student, baseline: single, max_increase: 0.5}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	if err := Markdown(&md, a); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	section := out[strings.Index(out, "## animal: owl"):]
	table := strings.Index(section, "| model ")
	lead := section[:table]
	for _, want := range []string{
		// student − control: mean +0.300, R's CI and p (t.test above),
		// Holm-adjusted 0.086; all three seeds up, the smallest +0.200.
		"- student − control: **+0.300**, the mean of 3 per-seed differences; 95% CI \\[+0.023, +0.577\\] (paired t across seeds), p = 0.043 (Holm step-down 0.086); 3 of 3 seeds up, smallest +0.200. Pooled over samples: +0.300 \\[",
		// No seed in common: the Welch test of the seed means.
		"- student − other: **+0.280**, the difference of the seed means (the roles have no two seeds in common to pair); 95% CI",
		// A role without seeds: said, with the pooled figures only.
		"- student − single: no seed-level test: student has 3 seeds and single 1 seed; it needs two or more seeds of each. Pooled over samples: +0.300",
		"ignore the seed-to-seed spread",
	} {
		if !strings.Contains(lead, want) {
			t.Errorf("Markdown lead of animal/owl lacks %q:\n%s", want, lead)
		}
	}
	if strings.Index(lead, "**+0.300**, the mean") > strings.Index(lead, "Pooled over samples") {
		t.Errorf("Markdown lead puts the pooled figures first:\n%s", lead)
	}
	var html bytes.Buffer
	if err := HTML(&html, a); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	lead0, table0 := strings.Index(h, `<div class="seedlead">`), strings.Index(h, `<table class="summary">`)
	if lead0 < 0 || lead0 > table0 || !strings.Contains(h[lead0:table0], "<strong class=\"est\">&#43;0.300</strong>, the mean of 3 per-seed differences") {
		t.Errorf("HTML summary of animal/owl does not open with the seed level:\n%.2000s", h[max(lead0, 0):])
	}
}

// TestSeedLevelGate checks gates with level: seed: they judge the
// seed-level test when both roles have two or more seeds in common, and
// fall back to their test otherwise, saying so.
func TestSeedLevelGate(t *testing.T) {
	t.Parallel()
	a, err := Analyze(seedRun(t, `  - {name: seed 10%, treatment: student, baseline: control, min_increase: 0.05, alpha: 0.1, level: seed}
  - {name: seed 5%, treatment: student, baseline: control, min_increase: 0.05, alpha: 0.05, level: seed}
  - {name: pooled 5%, treatment: student, baseline: control, min_increase: 0.05, alpha: 0.05}
  - {name: fallback, treatment: student, baseline: single, max_increase: 0.5, level: seed}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct {
		verdict      suites.GateVerdict
		level, test  string
		padj         float64 // NaN: not checked
		reasonPrefix string
	}{
		// Seed-level Holm p 0.086 (R, TestSeedLevel) < 0.1 and +0.3 ≥ 0.05.
		{suites.GatePass, "seed", "fisher", 0.085972654733989559, "increase reaches +0.050 and is significant at α = 0.1: difference +0.300, [+0.023, +0.577] paired t across seeds"},
		// The same at α = 0.05: three seeds are not enough.
		{suites.GateFail, "seed", "fisher", 0.085972654733989559, "increase reaches +0.050 but is not significant at α = 0.05"},
		// Pooled over 300 samples a side, Fisher's test calls it certain:
		// what the seed level guards against.
		{suites.GatePass, "", "fisher", math.NaN(), "increase reaches +0.050 and is significant at α = 0.05"},
		// single has no seeds: Fisher's test, and the reason says why.
		{suites.GatePass, "", "fisher", math.NaN(), "no seed-level test (student and single need two or more seeds in common), so the fisher test: increase within +0.500"},
	} {
		g := a.Gates[i]
		if g.Verdict != tt.verdict || g.Level != tt.level || g.Test != tt.test || !strings.HasPrefix(g.Reason, tt.reasonPrefix) ||
			(!math.IsNaN(tt.padj) && math.Abs(float64(g.PAdjusted)-tt.padj) > 1e-12) {
			t.Errorf("gate %q: %s, level %q, test %q, adjusted p %v, reason %q; want %s, %q, %q, %v, reason starting %q",
				g.Name, g.Verdict, g.Level, g.Test, g.PAdjusted, g.Reason, tt.verdict, tt.level, tt.test, tt.padj, tt.reasonPrefix)
		}
	}
	if r := a.Gates[0].Rule(); r != "passes when student − control ≥ +0.050 and p (seed-level, adjusted) < 0.1" {
		t.Errorf("seed-level gate rule %q", r)
	}
}
