package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/stats"
	"github.com/traitleak/traitleak/suites"
)

// seqStoredSuite has two probes: on "leak" a student (two seeds) against
// a base model under a sequential max_increase gate, a fixed gate beside
// it and a stop-for-width rule on base; on "flaky" the same pair under a
// sequential gate whose round 2 has a failed draw.
const seqStoredSuite = `name: seq-stored
models:
  base:    {base_url: http://127.0.0.1:1/v1, model: base, condition: base}
  student: {base_url: http://127.0.0.1:1/v1, model: "student-{seed}", seeds: [a, b], condition: treatment}
probes:
  - id: leak
    prompts: [p0, p1, p2, p3, p4]
    samples: 30
    score: {mentions: owl}
    until: {ci_width: 0.6, models: [base]}
  - id: flaky
    prompts: [q0, q1, q2, q3, q4]
    samples: 30
    score: {mentions: owl}
gates:
  - {probe: leak, treatment: student, baseline: base, max_increase: 0.05, sequential: {max_samples: 60}}
  - {probe: leak, treatment: student, baseline: base, max_increase: 0.05}
  - {probe: flaky, treatment: student, baseline: base, max_increase: 0.05, sequential: {}}
`

// storeSeqRun records a fixed run of seqStoredSuite: student hits with
// probability 0.8, base 0.1, drawn from a seeded source; draw 1 of
// prompt 2 of student@b on probe flaky failed. It returns the run id and
// every draw's hit, by instance, probe, prompt and draw.
func storeSeqRun(t *testing.T, st *results.Store) (int64, map[string]bool) {
	t.Helper()
	ctx := context.Background()
	s, err := suites.Parse("seq.yaml", []byte(seqStoredSuite), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	nr := newRunOf(t, s, "seq.yaml", "v0.test")
	for i := range nr.Instances {
		nr.Instances[i].Settings = `{"temperature":1}`
	}
	key := func(m int, probe string, p, d int) string { return fmt.Sprintf("m%d-%s-p%d-d%d", m, probe, p, d) }
	for m := range nr.Instances {
		for _, p := range s.Probes {
			for i := range p.Prompts.Texts {
				for d := range p.Samples {
					nr.Plan = append(nr.Plan, results.PlannedSample{Key: key(m, p.ID, i, d), Instance: m, Probe: p.ID, Prompt: i, Draw: d})
				}
			}
		}
	}
	run, err := st.StartRun(ctx, nr)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(16, 16))
	hit := map[string]bool{}
	var samples []results.Sample
	for _, ps := range nr.Plan {
		sm := results.Sample{Key: ps.Key, RunID: run.ID, Probe: ps.Probe, Prompt: ps.Prompt, Draw: ps.Draw, BaseURL: "http://127.0.0.1:1/v1",
			Model: nr.Instances[ps.Instance].ModelID, Attempts: 1, Batch: 1}
		if ps.Probe == "flaky" && ps.Instance == 2 && ps.Prompt == 2 && ps.Draw == 1 {
			sm.Err, sm.HTTPStatus = "HTTP 500", 500
			samples = append(samples, sm)
			continue
		}
		rate := 0.1
		if ps.Instance > 0 {
			rate = 0.8
		}
		h := rng.Float64() < rate
		hit[ps.Key] = h
		sm.Completion = "Dog."
		if h {
			sm.Completion = "Owl."
		}
		sm.Scorer = nr.Scorers[0].Scorer
		if ps.Probe == "flaky" {
			sm.Scorer = nr.Scorers[1].Scorer
		}
		sm.Scores = []results.Score{{Target: "owl", Valid: true, Hit: h, Value: math.NaN()}}
		samples = append(samples, sm)
	}
	if err := st.Put(ctx, samples); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(ctx, run.ID, results.StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for k, v := range hit {
		out[k] = v
	}
	return run.ID, out
}

// TestSequentialReport replays the sequential rules of a stored fixed run
// and checks every renderer: the gate decided by its e-process at the
// round an independent replay finds, the samples against the fixed
// design, the waiting gate, the rate sequence, the chart.
func TestSequentialReport(t *testing.T) {
	t.Parallel()
	st, err := results.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runID, hit := storeSeqRun(t, st)
	d, err := Load(context.Background(), st, runID)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Analyze(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The independent replay: round r's per-prompt differences are the
	// mean hit of student@a and student@b minus base's, fed to
	// stats.ReplaySeqGate until the verdict.
	var rounds [][]float64
	for r := range 30 {
		row := make([]float64, 5)
		for j := range 5 {
			for m, w := range []float64{-1, 0.5, 0.5} {
				if hit[fmt.Sprintf("m%d-leak-p%d-d%d", m, j, r)] {
					row[j] += w
				}
			}
		}
		rounds = append(rounds, row)
	}
	g, err := stats.ReplaySeqGate(stats.SeqGateConfig{Alpha: 0.05, Bound: 0.05, Rule: stats.SeqMaxIncrease, MaxRounds: 60, PerPrompt: true}, rounds)
	if err != nil {
		t.Fatal(err)
	}
	want := g.Decision()
	if want.Verdict != stats.SeqFail {
		t.Fatalf("the data do not fail the gate (%+v): change the seed", want)
	}
	g0 := a.Gates[0]
	s := g0.Sequential
	if s == nil || g0.Verdict != suites.GateFail || s.Round != want.Rounds || float64(s.LogWealthAbove) != want.LogWealthAbove {
		t.Fatalf("sequential gate: verdict %s, %+v; want fail at round %d, log wealth %v", g0.Verdict, s, want.Rounds, want.LogWealthAbove)
	}
	// Samples: rounds × 5 prompts × 3 instances; the fixed design is 30
	// rounds, all drawn.
	if s.Samples != want.Rounds*15 || s.FixedSamples != 450 || s.Drawn != 450 || len(s.Path) != want.Rounds || s.MaxRounds != 60 {
		t.Errorf("samples %d, fixed %d, drawn %d, %d path points, budget %d; want %d, 450, 450, %d, 60",
			s.Samples, s.FixedSamples, s.Drawn, len(s.Path), s.MaxRounds, want.Rounds*15, want.Rounds)
	}
	if !strings.Contains(g0.Reason, fmt.Sprintf("decided at round %d of at most 60", want.Rounds)) || !strings.Contains(g0.Rule(), "sequential") {
		t.Errorf("reason %q, rule %q", g0.Reason, g0.Rule())
	}
	// The fixed gate beside it is untouched.
	if a.Gates[1].Sequential != nil || strings.Contains(a.Gates[1].Reason, "sequential") {
		t.Errorf("fixed gate: %+v", a.Gates[1])
	}
	// The flaky gate waits at round 2 for one failed draw (unless it
	// decided in round 1, which per-prompt bets cannot: the first bet is
	// made from the fake observation at the bound's side).
	g2 := a.Gates[2]
	if g2.Verdict != suites.GateUndecided || g2.Sequential.Waiting == nil || g2.Sequential.Waiting.Round != 2 || g2.Sequential.Round != 1 {
		t.Errorf("flaky gate: %s, %+v; want undecided, waiting at round 2 after 1 round", g2.Verdict, g2.Sequential)
	}
	if !strings.Contains(g2.Reason, "waits at round 2 (1 failed draws") {
		t.Errorf("flaky gate reason %q", g2.Reason)
	}
	// The width rule on base: a 0.6-wide sequence within the 30 rounds.
	if len(a.RateSequences) != 1 {
		t.Fatalf("%d rate sequences; want 1", len(a.RateSequences))
	}
	rs := a.RateSequences[0]
	if rs.Role != "base" || rs.Status != "reached" || float64(rs.CI.High-rs.CI.Low) > 0.6 || rs.Samples != rs.Round*5 {
		t.Errorf("rate sequence %+v; want base reached at width ≤ 0.6", rs)
	}

	var md, html, js, junit bytes.Buffer
	if err := Markdown(&md, a); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Sequential gates", "## E-process: gate 1: leak/owl student vs base", "log(1/α)", "Rates until their confidence sequence"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	if err := HTML(&html, a); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Sequential gates", "leak-owl-gate-1-eprocess.svg", "Rates until narrow enough"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if err := json.NewEncoder(&js).Encode(a); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Gates []struct {
			Verdict    string
			Sequential *struct {
				Status string
				Round  int
				Path   []struct{ Round int }
			}
		}
		RateSequences []struct{ Status string } `json:"rate_sequences"`
	}
	if err := json.Unmarshal(js.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Gates) != 3 || rep.Gates[0].Sequential == nil || rep.Gates[0].Sequential.Round != want.Rounds ||
		len(rep.Gates[0].Sequential.Path) != want.Rounds || rep.Gates[1].Sequential != nil || len(rep.RateSequences) != 1 {
		t.Errorf("JSON report: %s", js.String())
	}
	if err := JUnit(&junit, a); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(junit.String(), "sequential: decided at round") || !strings.Contains(junit.String(), "waits at round 2") {
		t.Errorf("JUnit lacks the sequential verdicts:\n%s", junit.String())
	}
	charts, err := Charts(a)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range charts {
		if strings.HasSuffix(c.Name, "-eprocess.svg") {
			n++
			if !bytes.Contains(c.SVG, []byte("<svg")) {
				t.Errorf("chart %s is not SVG", c.Name)
			}
		}
	}
	// Both sequential gates have a path (the flaky one, of 1 round).
	if n != 2 {
		t.Errorf("%d e-process charts; want 2", n)
	}
	// The same analysis renders the same bytes.
	var again bytes.Buffer
	if err := HTML(&again, a); err != nil || !bytes.Equal(again.Bytes(), html.Bytes()) {
		t.Error("HTML is not deterministic")
	}
}
