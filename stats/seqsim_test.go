package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"
)

// TestBetaDrawMoments checks the Beta sampler's mean and variance against
// the textbook formulas a/(a+b) and ab/((a+b)²(a+b+1)) (Johnson, Kotz &
// Balakrishnan 1995, Continuous Univariate Distributions vol. 2, ch. 25),
// within 4 standard errors of 40,000 draws.
func TestBetaDrawMoments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b float64
		why  string
	}{
		{0.16, 3.84, "rate 0.04 at ICC 0.2: both shapes small, the a < 1 boost path"},
		{0.6, 4.4, "rate 0.12 at ICC 0.2"},
		{2, 3, "both shapes >= 1: Marsaglia-Tsang directly"},
		{18.05, 0.95, "rate 0.95 at ICC 0.05: mass near 1"},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 40000
	for _, tc := range tests {
		var s, s2 float64
		for range n {
			x := betaDraw(rng, tc.a, tc.b)
			if !(x >= 0 && x <= 1) {
				t.Fatalf("%s: draw %v outside [0, 1]", tc.why, x)
			}
			s += x
			s2 += x * x
		}
		mean := s / n
		wantMean := tc.a / (tc.a + tc.b)
		wantVar := tc.a * tc.b / ((tc.a + tc.b) * (tc.a + tc.b) * (tc.a + tc.b + 1))
		if se := math.Sqrt(wantVar / n); math.Abs(mean-wantMean) > 4*se {
			t.Errorf("%s: Beta(%v, %v) mean %.5f; want %.5f ± %.5f", tc.why, tc.a, tc.b, mean, wantMean, 4*se)
		}
		// E[X²] against (a(a+1))/((a+b)(a+b+1)), with the SE of a mean of
		// X² bounded by its own sd (X² <= X in [0, 1], so Var(X²) <= E[X²]).
		m2 := s2 / n
		want2 := tc.a * (tc.a + 1) / ((tc.a + tc.b) * (tc.a + tc.b + 1))
		if se := math.Sqrt(want2 / n); math.Abs(m2-want2) > 4*se {
			t.Errorf("%s: Beta(%v, %v) E[X²] %.5f; want %.5f ± %.5f", tc.why, tc.a, tc.b, m2, want2, 4*se)
		}
	}
}

// TestPromptRates: the drawn rates average exactly p (the simulation's
// truth), stay in [0, 1], and spread by about ICC·p(1−p), the variance of
// the Beta they are drawn from (moving them to the exact mean takes a
// little off a skewed draw's spread; hence the tolerance).
func TestPromptRates(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ p, icc, tol float64 }{
		{0.12, 0, 0},      // no spread at ICC 0
		{0.12, 0.2, 0.1},  // 0.12 → 0.15 cells
		{0.5, 0.05, 0.1},  // symmetric
		{0.04, 0.2, 0.1},  // 0.01 → 0.04 cells
		{0.96, 0.2, 0.1},  // the mirror image
		{0.01, 0.05, 0.2}, // skewed: the shift takes more off
		{0.98, 0.2, 0.2},
	} {
		r := make([]float64, 50)
		var spread float64
		const reps = 2000
		for range reps {
			promptRates(rng, r, tc.p, tc.icc)
			m := 0.0
			for _, v := range r {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("p=%v icc=%v: rate %v outside [0, 1]", tc.p, tc.icc, v)
				}
				m += v
			}
			m /= float64(len(r))
			if math.Abs(m-tc.p) > 1e-15 {
				t.Fatalf("p=%v icc=%v: mean %v; want exactly %v", tc.p, tc.icc, m, tc.p)
			}
			for _, v := range r {
				spread += (v - m) * (v - m) / float64(len(r)-1) / reps
			}
		}
		want := tc.icc * tc.p * (1 - tc.p)
		if math.Abs(spread-want) > tc.tol*want+1e-15 {
			t.Errorf("p=%v icc=%v: between-prompt variance %.6f; want about %.6f", tc.p, tc.icc, spread, want)
		}
	}
}

// TestSimulateSequentialBasics: determinism, validation and the helpers.
func TestSimulateSequentialBasics(t *testing.T) {
	t.Parallel()
	cfg := SeqSimConfig{Baseline: 0.12, Treatment: 0.3, ICC: 0.05, Prompts: 20,
		Gate: SeqGateConfig{Alpha: 0.05, Bound: 0.03, Rule: SeqMaxIncrease, MaxRounds: 40}, Replicates: 200, Seed: 9}
	a, err := SimulateSequential(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := SimulateSequential(cfg)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same config gave different results")
	}
	cfg.Seed++
	if c, _ := SimulateSequential(cfg); reflect.DeepEqual(a, c) {
		t.Error("another seed gave the same result")
	}
	if a.Pass+a.Fail+a.Inconclusive != cfg.Replicates {
		t.Errorf("verdicts %d + %d + %d != %d runs", a.Pass, a.Fail, a.Inconclusive, cfg.Replicates)
	}
	decided := 0
	for _, k := range a.DecidedAt {
		decided += k
	}
	if decided != a.Pass+a.Fail {
		t.Errorf("DecidedAt sums to %d; %d runs decided", decided, a.Pass+a.Fail)
	}

	for _, mod := range []func(*SeqSimConfig){
		func(c *SeqSimConfig) { c.Baseline = -0.1 },
		func(c *SeqSimConfig) { c.Treatment = 1.1 },
		func(c *SeqSimConfig) { c.ICC = 1 },
		func(c *SeqSimConfig) { c.Prompts = 0 },
		func(c *SeqSimConfig) { c.Replicates = 0 },
		func(c *SeqSimConfig) { c.Gate.Alpha = 0 },
		func(c *SeqSimConfig) { c.Gate.Bound = -1 },
	} {
		bad := cfg
		mod(&bad)
		if _, err := SimulateSequential(bad); err == nil {
			t.Errorf("SimulateSequential(%+v) accepted", bad)
		}
	}

	// Hand-made results for the helpers.
	gate := SeqGateConfig{Alpha: 0.05, Bound: 0.03, Rule: SeqMaxIncrease, MaxRounds: 4}
	r := SeqSimResult{Config: SeqSimConfig{Baseline: 0.12, Treatment: 0.15, Gate: gate, Replicates: 10},
		Pass: 2, Fail: 3, Inconclusive: 5, DecidedAt: []int{1, 0, 4, 0}}
	tests := []struct {
		got, want float64
		why       string
	}{
		{float64(r.RoundsQuantile(0.1)), 1, "1 of 10 runs stopped at round 1: the 10% quantile is 1"},
		{float64(r.RoundsQuantile(0.5)), 3, "5 of 10 stopped by round 3"},
		{float64(r.RoundsQuantile(0.9)), 4, "the 5 inconclusive runs count at the budget, 4"},
		{r.MeanRounds(), (1 + 4*3 + 5*4) / 10.0, "inconclusive runs count at the budget"},
		{float64(r.Errors()), 5, "0.15 − 0.12 is on the bound (up to rounding): every verdict is wrong"},
	}
	above := r
	above.Config.Treatment = 0.3
	tests = append(tests, struct {
		got, want float64
		why       string
	}{float64(above.Errors()), 2, "above the bound only a max_increase pass is wrong"})
	minRule := above
	minRule.Config.Gate.Rule = SeqMinIncrease
	tests = append(tests, struct {
		got, want float64
		why       string
	}{float64(minRule.Errors()), 3, "above the bound a min_increase fail is wrong"})
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.why, tc.got, tc.want)
		}
	}
}

// seqCell is one cell of the acceptance tables.
type seqCell struct {
	pb, pt, bound, icc float64
	rounds             int
	perPrompt          bool
}

func (c seqCell) run(t testing.TB, reps int, seed uint64) SeqSimResult {
	t.Helper()
	r, err := c.simulate(reps, seed)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (c seqCell) simulate(reps int, seed uint64) (SeqSimResult, error) {
	return SimulateSequential(SeqSimConfig{Baseline: c.pb, Treatment: c.pt, ICC: c.icc, Prompts: 50,
		Gate:       SeqGateConfig{Alpha: 0.05, Bound: c.bound, Rule: SeqMaxIncrease, MaxRounds: c.rounds, PerPrompt: c.perPrompt},
		Replicates: reps, Seed: seed})
}

func betsName(perPrompt bool) string {
	if perPrompt {
		return "per prompt"
	}
	return "round mean"
}

// boundaryCells are the type-I cells of issue 16: three rate pairs whose
// difference is the gate's bound 0.03, three prompt heterogeneities, both
// bet units, 100 rounds checked after every round.
func boundaryCells() []seqCell {
	var cells []seqCell
	for _, pair := range [][2]float64{{0.12, 0.15}, {0.01, 0.04}, {0.95, 0.98}} {
		for _, icc := range []float64{0, 0.05, 0.2} {
			for _, pp := range []bool{false, true} {
				cells = append(cells, seqCell{pair[0], pair[1], 0.03, icc, 100, pp})
			}
		}
	}
	return cells
}

// checkTypeI runs the boundary cells and fails a cell whose rate of
// verdicts (any verdict is wrong on the bound) exceeds α + 3 SE of reps
// replicates; it also requires the control, a z-test re-checked every
// round, to exceed that limit somewhere, which shows the replicates can
// fail a method that peeks. With a screen (typeIScreen), a cell whose
// first screen.reps replicates show at most screen.most verdicts passes
// on them; any other cell runs all reps. It returns the Markdown table
// (with a screen, followed by the replicates of each cell).
func checkTypeI(t *testing.T, reps int, seed uint64, screen *typeIScreen) string {
	var b strings.Builder
	b.WriteString("| baseline → treatment | ICC | bets | P(pass) | P(fail) | P(any verdict) ± SE | limit α + 3 SE | z-test every round | z-test once at round 100 |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	var used []string // replicates per cell, with a screen
	const alpha = 0.05
	limit := alpha + 3*math.Sqrt(alpha*(1-alpha)/float64(reps))
	controlFailed := 0
	// Each cell is its own simulation with its own seed: they run
	// concurrently, and the table keeps their order.
	cells := boundaryCells()
	res := make([]SeqSimResult, len(cells))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, c := range cells {
		g.Go(func() (err error) {
			if screen != nil {
				if res[i], err = c.simulate(screen.reps, seed+uint64(i)); err != nil || res[i].Errors() <= screen.most {
					return err
				}
			}
			res[i], err = c.simulate(reps, seed+uint64(i))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i, c := range cells {
		r := res[i]
		e, se := r.Rate(r.Errors())
		pp, _ := r.Rate(r.Pass)
		pf, _ := r.Rate(r.Fail)
		za, _ := r.Rate(r.ZAnyRound)
		zf, _ := r.Rate(r.ZFinal)
		if e > limit {
			t.Errorf("%v → %v, ICC %v, %s bets: P(verdict at the bound) = %.4f > α + 3 SE = %.4f",
				c.pb, c.pt, c.icc, betsName(c.perPrompt), e, limit)
		}
		if za > limit {
			controlFailed++
		}
		fmt.Fprintf(&b, "| %.2f → %.2f | %.2f | %s | %.4f | %.4f | %.4f ± %.4f | %.4f | %.4f | %.4f |\n",
			c.pb, c.pt, c.icc, betsName(c.perPrompt), pp, pf, e, se, limit, za, zf)
		used = append(used, fmt.Sprint(r.Config.Replicates))
	}
	if screen != nil {
		fmt.Fprintf(&b, "\nReplicates per cell, in table order (%d: passed the screen): %s\n", screen.reps, strings.Join(used, ", "))
	}
	if controlFailed == 0 {
		t.Errorf("the z-test re-checked every round stayed within α + 3 SE = %.4f in every cell: the replicates cannot tell a peeking method", limit)
	}
	return b.String()
}

// typeIScreen is a first stage of checkTypeI: a cell passes on its first
// reps replicates when they show at most most verdicts.
type typeIScreen struct{ reps, most int }

// typeIGoTestScreen screens with 500 replicates and at most 15 verdicts
// (3%) for checkTypeI with 2,000. A cell fails the two-stage check when
// its screen shows more than 15 verdicts and its 2,000 replicates exceed
// the limit (130 verdicts or more, a rate above 0.0646): its power against
// any error rate p is at least the 2,000-replicate check's minus
// P(X ≤ 15) for X ~ Binomial(500, p), which is 4.0e-4 at p = 0.0646 (the
// limit), 7.7e-5 at 0.07 and 2.8e-6 at 0.08, where the 2,000-replicate
// check fails with probability 0.484, 0.821 and 0.995 (exact binomial
// sums, Python: sum(comb(500, i) * p**i * (1-p)**(500-i) for i in
// range(16)) and 1 - the same sum to 129 with 2,000). The cells' errors
// are 0 to 0.022, so most pass on the screen: one in four of the
// replicates, for the same power to within 4e-4.
var typeIGoTestScreen = &typeIScreen{reps: 500, most: 15}

// savingsCells are issue 16's savings cases: a clear leak (0.12 → 0.60) and
// no leak (0.12 → 0.12) under a max_increase 0.03 gate, with the fixed
// design's 100 samples per prompt as the budget, and a budget of 200.
func savingsCells() []seqCell {
	var cells []seqCell
	for _, pt := range []float64{0.60, 0.12} {
		for _, icc := range []float64{0, 0.05, 0.2} {
			for _, pp := range []bool{false, true} {
				cells = append(cells, seqCell{0.12, pt, 0.03, icc, 100, pp})
			}
		}
	}
	for _, pp := range []bool{false, true} {
		cells = append(cells, seqCell{0.12, 0.12, 0.03, 0.05, 200, pp})
	}
	return cells
}

// checkSavings runs the savings cells, fails the clear leak if its median
// exceeds 25% of the fixed 100 rounds, and returns the Markdown table.
func checkSavings(t *testing.T, reps int, seed uint64) string {
	var b strings.Builder
	b.WriteString("| baseline → treatment | ICC | bets | budget | median rounds | 90th pct | mean | P(pass) | P(fail) | P(inconclusive) | fixed z-test at the budget rejects |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, c := range savingsCells() {
		r := c.run(t, reps, seed+uint64(i))
		med := r.RoundsQuantile(0.5)
		if c.pt == 0.60 && med > 25 {
			t.Errorf("0.12 → 0.60, ICC %v, %s bets: median %d rounds > 25%% of the fixed 100", c.icc, betsName(c.perPrompt), med)
		}
		pp, _ := r.Rate(r.Pass)
		pf, _ := r.Rate(r.Fail)
		pi, _ := r.Rate(r.Inconclusive)
		zf, _ := r.Rate(r.ZFinal)
		fmt.Fprintf(&b, "| %.2f → %.2f | %.2f | %s | %d | %d | %d | %.1f | %.4f | %.4f | %.4f | %.4f |\n",
			c.pb, c.pt, c.icc, betsName(c.perPrompt), c.rounds, med, r.RoundsQuantile(0.9), r.MeanRounds(), pp, pf, pi, zf)
	}
	return b.String()
}

// TestSequentialTypeI is the go test size of the acceptance check: 2,000
// seeded replicates per cell, enough to fail a method whose error is a few
// points above α (SE 0.005 at α = 0.05), after a screen of 500 that
// passes the cells clearly below the limit (typeIGoTestScreen: the same
// power within 4e-4); TestSequentialFull runs 20,000.
func TestSequentialTypeI(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("simulation: skipped in -short mode")
	}
	t.Log("\n" + checkTypeI(t, 2000, 16_000, typeIGoTestScreen))
}

// TestSequentialSavings: a clear leak is decided in at most 25% of the
// fixed design's samples (go test size, 2,000 replicates per cell).
func TestSequentialSavings(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("simulation: skipped in -short mode")
	}
	var cells []seqCell
	for _, c := range savingsCells() {
		if c.pt == 0.60 {
			cells = append(cells, c)
		}
	}
	for i, c := range cells {
		// Each cell is its own simulation with its own seed: in parallel.
		t.Run(fmt.Sprintf("ICC %v %s", c.icc, betsName(c.perPrompt)), func(t *testing.T) {
			t.Parallel()
			r := c.run(t, 2000, 16_100+uint64(i))
			if med := r.RoundsQuantile(0.5); med > 25 || r.Fail != 2000 {
				t.Errorf("0.12 → 0.60, ICC %v, %s bets: median %d rounds (want <= 25), %d of 2000 failed (want all)",
					c.icc, betsName(c.perPrompt), med, r.Fail)
			}
		})
	}
}

// rateCells are the confidence-sequence cells: rates, heterogeneity and the
// four configurations, over a 200-round budget, stop-for-width at 0.02.
func rateCells() []RateSimConfig {
	var cells []RateSimConfig
	for _, p := range []float64{0.01, 0.12, 0.5} {
		for _, cs := range []RateCSConfig{
			{Alpha: 0.05}, {Alpha: 0.05, Horizon: 100},
			{Alpha: 0.05, PerPrompt: true}, {Alpha: 0.05, PerPrompt: true, Horizon: 100},
		} {
			cells = append(cells, RateSimConfig{Rate: p, ICC: 0.2, Prompts: 50, CS: cs, Width: 0.02, MaxRounds: 200})
		}
	}
	return cells
}

// checkRateCS runs the rate cells, fails a cell whose sequence ever missed
// the true rate in more than α + 3 SE of the runs, and returns the table.
func checkRateCS(t *testing.T, reps int, seed uint64) string {
	var b strings.Builder
	b.WriteString("| rate | bets | horizon | median rounds to width ≤ 0.02 | 90th pct | mean width at 200 | P(ever excludes the rate) |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	limit := 0.05 + 3*math.Sqrt(0.05*0.95/float64(reps))
	for i, c := range rateCells() {
		c.Replicates, c.Seed = reps, seed+uint64(i)
		r, err := SimulateRateCS(c)
		if err != nil {
			t.Fatal(err)
		}
		miss := float64(r.Misses) / float64(reps)
		if miss > limit {
			t.Errorf("rate %v, %+v: P(ever excludes) = %.4f > α + 3 SE = %.4f", c.Rate, c.CS, miss, limit)
		}
		q := func(q float64) string {
			if v := r.RoundsQuantile(q); v <= c.MaxRounds {
				return fmt.Sprint(v)
			}
			return fmt.Sprintf("> %d", c.MaxRounds)
		}
		h := "none"
		if c.CS.Horizon > 0 {
			h = fmt.Sprint(c.CS.Horizon)
		}
		fmt.Fprintf(&b, "| %.2f | %s | %s | %s | %s | %.4f | %.4f |\n", c.Rate, betsName(c.CS.PerPrompt), h, q(0.5), q(0.9), r.MeanWidth, miss)
	}
	return b.String()
}

// TestRateCSCoverage: the confidence sequence covers the rate at every
// round in at least 1 − α − 3 SE of 300 runs (go test size).
func TestRateCSCoverage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("simulation: skipped in -short mode")
	}
	const reps = 300
	limit := 0.05 + 3*math.Sqrt(0.05*0.95/reps)
	for i, cs := range []RateCSConfig{{Alpha: 0.05}, {Alpha: 0.05, PerPrompt: true, Horizon: 100}} {
		// Each configuration is its own simulation with its own seed.
		t.Run(fmt.Sprintf("per-prompt %v", cs.PerPrompt), func(t *testing.T) {
			t.Parallel()
			r, err := SimulateRateCS(RateSimConfig{Rate: 0.12, ICC: 0.2, Prompts: 50, CS: cs, Width: 0.02, MaxRounds: 100,
				Replicates: reps, Seed: 16_200 + uint64(i)})
			if err != nil {
				t.Fatal(err)
			}
			if miss := float64(r.Misses) / reps; miss > limit {
				t.Errorf("%+v: P(ever excludes 0.12) = %.4f > %.4f", cs, miss, limit)
			}
		})
	}
}

// TestSequentialFull is the full-size acceptance run of issue 16 and prints
// the tables of SEQUENTIAL.md: 20,000 replicates per gate cell and 2,000
// per rate cell. It takes minutes, so it runs only with
// TRAITLEAK_SEQ_FULL=1:
//
//	TRAITLEAK_SEQ_FULL=1 go test ./stats -run TestSequentialFull -v -timeout 60m
func TestSequentialFull(t *testing.T) {
	t.Parallel()
	if os.Getenv("TRAITLEAK_SEQ_FULL") != "1" {
		t.Skip("full-size simulation: set TRAITLEAK_SEQ_FULL=1")
	}
	t.Log("type-I error at the bound, 20,000 replicates per cell:\n" + checkTypeI(t, 20000, 1_600_000, nil))
	t.Log("samples to a decision, 20,000 replicates per cell:\n" + checkSavings(t, 20000, 1_610_000))
	t.Log("rate confidence sequences, 2,000 replicates per cell:\n" + checkRateCS(t, 2000, 1_620_000))
}

// BenchmarkSeqGateUpdate is one round of a round-mean gate.
func BenchmarkSeqGateUpdate(b *testing.B) {
	cfg := SeqGateConfig{Alpha: 0.05, Bound: 0.03, Rule: SeqMaxIncrease, MaxRounds: math.MaxInt}
	g, _ := NewSeqGate(cfg)
	for i := 0; b.Loop(); i++ {
		if err := g.Update(float64(i%7-3) / 50); err != nil {
			b.Fatal(err)
		}
		if g.Decision().Verdict != SeqContinue {
			g, _ = NewSeqGate(cfg)
		}
	}
}

// BenchmarkSeqGateUpdateRound is one round of a per-prompt gate over 50
// prompts.
func BenchmarkSeqGateUpdateRound(b *testing.B) {
	cfg := SeqGateConfig{Alpha: 0.05, Bound: 0.03, Rule: SeqMaxIncrease, MaxRounds: math.MaxInt, PerPrompt: true}
	g, _ := NewSeqGate(cfg)
	d := make([]float64, 50)
	for j := range d {
		d[j] = float64(j%3 - 1)
	}
	for b.Loop() {
		if err := g.UpdateRound(d); err != nil {
			b.Fatal(err)
		}
		if g.Decision().Verdict != SeqContinue {
			g, _ = NewSeqGate(cfg)
		}
	}
}

// BenchmarkRateCSUpdateRound is the 101st round of a per-prompt rate CS
// over 50 prompts, tuned for 100 rounds.
func BenchmarkRateCSUpdateRound(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := make([]float64, 50)
	round := func() []float64 {
		for j := range h {
			h[j] = 0
			if rng.Float64() < 0.12 {
				h[j] = 1
			}
		}
		return h
	}
	base, _ := NewRateCS(RateCSConfig{Alpha: 0.05, PerPrompt: true, Horizon: 100})
	for range 100 {
		if err := base.UpdateRound(round()); err != nil {
			b.Fatal(err)
		}
	}
	next := slices.Clone(round())
	for b.Loop() {
		cs := base.Clone()
		if err := cs.UpdateRound(next); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSimulateSequential is `traitleak power --sequential`'s cost per
// 1,000 replicates of a per-prompt gate at the bound (100 rounds, 50
// prompts).
func BenchmarkSimulateSequential(b *testing.B) {
	c := seqCell{0.12, 0.15, 0.03, 0.05, 100, true}
	for b.Loop() {
		c.run(b, 1000, 1)
	}
}
