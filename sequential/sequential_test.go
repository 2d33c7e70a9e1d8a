package sequential

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/stats"
	"github.com/traitleak/traitleak/suites"
)

// suiteSrc has two roles with two seeds each and a third single-seed role,
// three prompts, a sequential gate without target or budget, and an until
// rule on the student only.
const suiteSrc = `name: seq
models:
  base:    {model: "b{seed}", seeds: [1, 2]}
  student: {model: "s{seed}", seeds: [1, 2]}
  teacher: {model: t}
probes:
  - id: p
    prompts: [a, b, c]
    samples: 40
    score: {mentions: [owl, dog]}
    until: {ci_width: 0.3, models: [student], target: owl, check: 4}
gates:
  - {treatment: student, baseline: base, max_increase: 0.1, alpha: 0.1, sequential: {check: 2}}
  - {treatment: student, baseline: base, min_increase: 0.2, sequential: {max_samples: 7, bets: round}}
  - {treatment: student, baseline: base, max_increase: 0.1}
`

func mustSuite(t *testing.T) *suites.Suite {
	t.Helper()
	s, err := suites.Parse("t.yaml", []byte(suiteSrc), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// roles are the roles of the suite's instances in plan order.
var roles = []string{"base", "base", "student", "student", "teacher"}

func TestRules(t *testing.T) {
	rules, err := Rules(mustSuite(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		// The first gate reads the probe's first target (owl), with the
		// gate's alpha, the probe's samples as budget and per-prompt
		// bets by default.
		{Kind: KindGate, Gate: 0, Probe: "p", Target: "owl", Treatment: "student", Baseline: "base",
			SeqGate:   stats.SeqGateConfig{Alpha: 0.1, Bound: 0.1, Rule: stats.SeqMaxIncrease, MaxRounds: 40, PerPrompt: true},
			MaxRounds: 40, Check: 2, Fixed: 40},
		// The second: its own budget, round-mean bets, the default alpha.
		{Kind: KindGate, Gate: 1, Probe: "p", Target: "owl", Treatment: "student", Baseline: "base",
			SeqGate:   stats.SeqGateConfig{Alpha: 0.05, Bound: 0.2, Rule: stats.SeqMinIncrease, MaxRounds: 7},
			MaxRounds: 7, Check: 1, Fixed: 40},
		// The until rule: one target, one role, bets tuned to the budget.
		{Kind: KindWidth, Gate: -1, Probe: "p", Target: "owl", Role: "student",
			RateCS: stats.RateCSConfig{Alpha: 0.05, PerPrompt: true, Horizon: 40}, Width: 0.3, MaxRounds: 40, Check: 4, Fixed: 40},
	}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("Rules() =\n%+v\nwant\n%+v", rules, want)
	}
	if got := rules[0].Name(mustSuite(t)); got != "gate 1: p/owl student vs base" {
		t.Errorf("Name() = %q", got)
	}
}

// draws is a random outcome for every instance, prompt and draw.
type draws map[[3]int]Outcome // instance, prompt, draw

func randomDraws(rng *rand.Rand, rates []float64, prompts, rounds int) draws {
	d := draws{}
	for i, p := range rates {
		for j := range prompts {
			for r := range rounds {
				o := Miss
				if rng.Float64() < p {
					o = Hit
				}
				d[[3]int{i, j, r}] = o
			}
		}
	}
	return d
}

// expectGate computes a gate's decision directly: round r's per-prompt
// differences are the mean of the treatment instances' hits minus the
// baseline instances', fed to stats.ReplaySeqGate.
func expectGate(t *testing.T, cfg stats.SeqGateConfig, d draws, treat, base []int, prompts, rounds int) stats.SeqDecision {
	t.Helper()
	hit := func(i, j, r int) float64 {
		if d[[3]int{i, j, r}] == Hit {
			return 1
		}
		return 0
	}
	var all [][]float64
	for r := range rounds {
		row := make([]float64, prompts)
		for j := range prompts {
			for _, i := range treat {
				row[j] += hit(i, j, r) / float64(len(treat))
			}
			for _, i := range base {
				row[j] -= hit(i, j, r) / float64(len(base))
			}
		}
		all = append(all, row)
	}
	g, err := stats.ReplaySeqGate(cfg, all)
	if err != nil {
		t.Fatal(err)
	}
	return g.Decision()
}

// TestTrackerMatchesStats feeds random draws in a random order and checks
// every rule against the statistics computed directly from the rounds.
func TestTrackerMatchesStats(t *testing.T) {
	s := mustSuite(t)
	rules, _ := Rules(s)
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		// base 0.1, student 0.1–0.6: some runs pass, some fail, some go on.
		st := 0.1 + 0.5*rng.Float64()
		d := randomDraws(rng, []float64{0.1, 0.1, st, st, 0.9}, 3, 40)
		tr, err := NewTracker(rules, roles, map[string]int{"p": 3})
		if err != nil {
			t.Fatal(err)
		}
		keys := make([][3]int, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		rng.Shuffle(len(keys), func(a, b int) { keys[a], keys[b] = keys[b], keys[a] })
		for _, k := range keys {
			tr.Record(k[0], "p", "owl", k[1], k[2], d[k])
		}
		tr.Advance()
		got := tr.States()
		for gi := range 2 {
			want := expectGate(t, rules[gi].SeqGate, d, []int{2, 3}, []int{0, 1}, 3, 40)
			g := got[gi]
			if g.Decision != want && !(math.IsNaN(g.Decision.Mean) && math.IsNaN(want.Mean)) {
				t.Errorf("seed %d gate %d: decision %+v; want %+v", seed, gi, g.Decision, want)
			}
			if g.Rounds != want.Rounds || len(g.Path) != want.Rounds {
				t.Errorf("seed %d gate %d: %d rounds, %d points; want %d", seed, gi, g.Rounds, len(g.Path), want.Rounds)
			}
			wantStatus := map[stats.SeqVerdict]Status{stats.SeqPass: StatusPass, stats.SeqFail: StatusFail,
				stats.SeqInconclusive: StatusInconclusive, stats.SeqContinue: StatusContinue}[want.Verdict]
			if g.Status != wantStatus {
				t.Errorf("seed %d gate %d: status %s; want %s", seed, gi, g.Status, wantStatus)
			}
		}
		// The width rule: the student's mean hit per prompt, round by
		// round, until the width is reached.
		cs, _ := stats.NewRateCS(rules[2].RateCS)
		rounds := 0
		for r := range 40 {
			row := make([]float64, 3)
			for j := range 3 {
				for _, i := range []int{2, 3} {
					if d[[3]int{i, j, r}] == Hit {
						row[j] += 0.5
					}
				}
			}
			if err := cs.UpdateRound(row); err != nil {
				t.Fatal(err)
			}
			rounds++
			if cs.Width() <= 0.3 {
				break
			}
		}
		w := got[2]
		if w.Rounds != rounds || !reflect.DeepEqual(w.Interval, cs.Interval()) {
			t.Errorf("seed %d width rule: %d rounds, %+v; want %d, %+v", seed, w.Rounds, w.Interval, rounds, cs.Interval())
		}
		wantStatus := StatusReached
		if cs.Width() > 0.3 {
			wantStatus = StatusInconclusive
		}
		if w.Status != wantStatus {
			t.Errorf("seed %d width rule: status %s; want %s", seed, w.Status, wantStatus)
		}
	}
}

// TestTrackerWaits checks the failed-draw policy: a rule reads rounds in
// order and waits at the first one with a failed draw, whatever comes
// after; once the draw is replaced by a success it goes on to the same
// decision as if it had never failed.
func TestTrackerWaits(t *testing.T) {
	s := mustSuite(t)
	rules, _ := Rules(s)
	rules = rules[:1] // the first gate
	d := randomDraws(rand.New(rand.NewPCG(7, 7)), []float64{0.1, 0.1, 0.7, 0.7, 0.5}, 3, 40)
	clean, _ := NewTracker(rules, roles, map[string]int{"p": 3})
	for k, o := range d {
		clean.Record(k[0], "p", "owl", k[1], k[2], o)
	}
	clean.Advance()
	want := clean.States()[0]
	if want.Status != StatusFail || want.Rounds < 2 {
		t.Fatalf("clean run: %s after %d rounds; want a fail after 2 or more (student 0.7 vs base 0.1 against ≤ 0.1)", want.Status, want.Rounds)
	}

	tr, _ := NewTracker(rules, roles, map[string]int{"p": 3})
	for k, o := range d {
		if k == [3]int{3, 1, 1} { // student@2, prompt b, round 2
			o = Failed
		}
		tr.Record(k[0], "p", "owl", k[1], k[2], o)
	}
	tr.Advance()
	got := tr.States()[0]
	// One round read; it waits at round 2 for one failed draw.
	if got.Rounds != 1 || got.Status != StatusContinue || got.Blocked == nil || *got.Blocked != (Block{Round: 2, Failed: 1}) {
		t.Fatalf("with a failed draw in round 2: %d rounds, %s, blocked %+v; want 1 round, continue, blocked at round 2 by 1 failed", got.Rounds, got.Status, got.Blocked)
	}
	// The next step asks for round 2 again, once.
	if n := tr.Needs(); len(n) != 4 || n[0].From != 1 || n[0].To != 3 {
		t.Errorf("Needs() while blocked = %+v; want rounds 2–3 of the 4 instances", n)
	}
	if n := tr.Needs(); len(n) != 0 {
		t.Errorf("Needs() after the retry = %+v; want none (the next run retries)", n)
	}
	tr.Record(3, "p", "owl", 1, 1, d[[3]int{3, 1, 1}])
	if !tr.Advance() {
		t.Error("Advance() after the retry = false; want true")
	}
	if got := tr.States()[0]; got.Decision != want.Decision || got.Blocked != nil || !reflect.DeepEqual(got.Path, want.Path) {
		t.Errorf("after the retry: %+v; want %+v", got.Decision, want.Decision)
	}
	// Reading more draws after the verdict changes nothing.
	for k, o := range randomDraws(rand.New(rand.NewPCG(8, 8)), []float64{1, 1, 0, 0, 0}, 3, 60) {
		if k[2] >= 40 {
			tr.Record(k[0], "p", "owl", k[1], k[2], o)
		}
	}
	tr.Advance()
	if got := tr.States()[0]; got.Decision != want.Decision {
		t.Errorf("after more draws: %+v; want %+v", got.Decision, want.Decision)
	}
}

// TestNeeds checks what the engine is asked to draw.
func TestNeeds(t *testing.T) {
	s := mustSuite(t)
	rules, _ := Rules(s)
	tr, _ := NewTracker(rules, roles, map[string]int{"p": 3})
	// From nothing: the gates want 2 and 1 rounds, the width rule 4 of
	// the student only. Merged per instance: base 0–2, student 0–4; the
	// teacher has no rule.
	want := []Need{{Instance: 2, Probe: "p", From: 0, To: 4}, {Instance: 3, Probe: "p", From: 0, To: 4},
		{Instance: 0, Probe: "p", From: 0, To: 2}, {Instance: 1, Probe: "p", From: 0, To: 2}}
	if got := tr.Needs(); !reflect.DeepEqual(got, want) {
		t.Errorf("Needs() = %+v; want %+v", got, want)
	}
	if got := tr.Instances()["p"]; len(got) != 4 || got[4] {
		t.Errorf("Instances() = %v; want the 4 base and student instances", got)
	}
	// Every draw a hit for the student and a miss for base: the
	// per-prompt gate fails within a few rounds; the round-mean gate
	// cannot pass within its 7 rounds (a round mean of 1 against a
	// bound of 0.2 grows its wealth by at most 1.5 a round, and it needs
	// 2/0.05 = 40: stats/SEQUENTIAL.md on round means); the width rule
	// needs several rounds of the student's draws.
	for r := range 40 {
		for j := range 3 {
			for i := range 4 {
				o := Miss
				if i >= 2 {
					o = Hit
				}
				tr.Record(i, "p", "owl", j, r, o)
			}
		}
		tr.Advance()
		if tr.States()[2].Done() {
			break
		}
	}
	st := tr.States()
	if st[0].Status != StatusFail || st[1].Status != StatusInconclusive || st[1].Rounds != 7 || st[2].Status != StatusReached {
		t.Fatalf("statuses %s, %s after %d rounds, %s; want fail, inconclusive after 7, reached", st[0].Status, st[1].Status, st[1].Rounds, st[2].Status)
	}
	if got := tr.Needs(); len(got) != 0 {
		t.Errorf("Needs() with every rule done = %+v; want none", got)
	}
}

// TestBudget checks that a gate ends inconclusive at its budget, and a
// width rule too.
func TestBudget(t *testing.T) {
	s := mustSuite(t)
	rules, _ := Rules(s)
	tr, _ := NewTracker(rules, roles, map[string]int{"p": 3})
	// Student and base alternate hits and misses in step: every
	// difference is 0, below the min_increase gate's 0.2, but a
	// round-mean gate cannot decide that within 7 rounds: on the [0, 1]
	// scale the round is 0.5 against a bound of 0.6, so the side below
	// gains at most log(1 + 1.875·0.1) = 0.17 a round (its bet is capped
	// at 0.75/0.4) and needs log(2/0.05) = 3.7: it ends inconclusive at
	// its budget.
	for r := range 40 {
		for j := range 3 {
			for i := range 4 {
				o := Miss
				if (r+j)%2 == 0 {
					o = Hit
				}
				tr.Record(i, "p", "owl", j, r, o)
			}
		}
	}
	tr.Advance()
	st := tr.States()
	if st[1].Status != StatusInconclusive || st[1].Rounds != 7 {
		t.Errorf("round-mean gate with budget 7: %s after %d rounds; want inconclusive after 7", st[1].Status, st[1].Rounds)
	}
	if st[2].Rounds > 40 {
		t.Errorf("width rule read %d rounds past its budget of 40", st[2].Rounds)
	}
}

func TestNewTrackerErrors(t *testing.T) {
	rules, _ := Rules(mustSuite(t))
	if _, err := NewTracker(rules, []string{"base", "teacher"}, map[string]int{"p": 3}); err == nil {
		t.Error("NewTracker without a student instance: no error")
	}
	if _, err := NewTracker(rules, roles, map[string]int{}); err == nil {
		t.Error("NewTracker without the probe's prompts: no error")
	}
}

func TestOutcomeOf(t *testing.T) {
	owl := func(valid, hit bool) []results.Score {
		return []results.Score{{Target: "dog", Valid: true, Hit: true}, {Target: "owl", Valid: valid, Hit: hit}}
	}
	for _, tc := range []struct {
		name string
		st   results.DrawState
		want Outcome
	}{
		// Not stored: the draw is still to come.
		{"not stored", results.DrawState{}, Pending},
		// A failed draw blocks its round until retried.
		{"failed", results.DrawState{Stored: true, Failed: true}, Failed},
		// A success without scores under the scorer cannot be read.
		{"unscored", results.DrawState{Stored: true}, Invalid},
		// A valid score for the target: its verdict, whatever other
		// targets say.
		{"hit", results.DrawState{Stored: true, Scores: owl(true, true)}, Hit},
		{"miss", results.DrawState{Stored: true, Scores: owl(true, false)}, Miss},
		// An invalid score (a refusal, say) is no observation.
		{"invalid", results.DrawState{Stored: true, Scores: owl(false, true)}, Invalid},
		// Scores for other targets only.
		{"other target", results.DrawState{Stored: true, Scores: owl(true, true)[:1]}, Invalid},
	} {
		if got := OutcomeOf(tc.st, "owl"); got != tc.want {
			t.Errorf("%s: OutcomeOf = %d; want %d", tc.name, got, tc.want)
		}
	}
}
