package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// untable expands a confusion table (rater a = row, rater b = column) into
// per-item labels.
func untable(tab [][]int, labels []string) (a, b []string) {
	for i, row := range tab {
		for j, n := range row {
			for range n {
				a = append(a, labels[i])
				b = append(b, labels[j])
			}
		}
	}
	return a, b
}

// TestKappaPublished checks kappa and its standard errors against worked
// examples, to the digits printed.
func TestKappaPublished(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		tab        [][]int
		kappa, se0 float64 // printed values; se0 = 0 means not printed
		digits     float64 // half a unit in the last printed digit
	}{
		// Cohen (1968), Psychological Bulletin 70:213, Table 1 (N = 200):
		// unweighted kappa .492.
		{"Cohen 1968 Table 1", [][]int{{88, 14, 18}, {10, 40, 10}, {2, 6, 12}}, 0.492, 0, 5e-4},
		// Fleiss, Levin & Paik (2003) ch. 18, Table 18.1 (n = 100):
		// p_o = .89, p_e = .66, kappa = .68, se0 = .076.
		{"Fleiss, Levin & Paik 2003 Table 18.1", [][]int{{75, 1, 4}, {5, 4, 1}, {0, 0, 10}}, 0.68, 0.076, 5e-3},
		// Fleiss, Cohen & Everitt (1969)'s table (n = 200): kappa .429.
		{"Fleiss, Cohen & Everitt 1969", [][]int{{106, 10, 4}, {22, 28, 10}, {2, 12, 6}}, 0.429, 0, 5e-4},
	}
	for _, tc := range tests {
		a, b := untable(tc.tab, []string{"c1", "c2", "c3"})
		r, err := CohenKappa(a, b, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.Kappa-tc.kappa) > tc.digits {
			t.Errorf("%s: kappa %.4f, published %v", tc.name, r.Kappa, tc.kappa)
		}
		if tc.se0 > 0 && math.Abs(r.SE0-tc.se0) > 5e-4 {
			t.Errorf("%s: se0 %.4f, published %v", tc.name, r.SE0, tc.se0)
		}
		t.Logf("%s: kappa %.4f p_o %.3f p_e %.4f se %.4f se0 %.4f z %.2f", tc.name, r.Kappa, r.PO, r.PE, r.SE, r.SE0, r.Z)
	}
}

// TestKappaTextbookForm compares the integer-count evaluation with the
// textbook formulas of Fleiss, Levin & Paik (2003) on random tables away
// from the boundary, and checks symmetry in the two raters and invariance
// to item order and label names.
func TestKappaTextbookForm(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 5))
	for rep := range 200 {
		k := 2 + rep%4
		n := 20 + rng.IntN(400)
		a, b := make([]string, n), make([]string, n)
		for i := range n {
			c := rng.IntN(k)
			a[i] = string(rune('A' + c))
			if rng.Float64() < 0.5 {
				c = rng.IntN(k)
			}
			b[i] = string(rune('A' + c))
		}
		r, err := CohenKappa(a, b, 0.9)
		if err != nil {
			t.Fatal(err)
		}
		if r.PO == 1 || r.SE0 == 0 {
			continue
		}
		kappa, se, se0 := kappaTextbook(r.Table)
		if !closeTo(r.Kappa, kappa, tolerance{1e-10, 1e-14}) || !closeTo(r.SE, se, tolerance{1e-9, 0}) || !closeTo(r.SE0, se0, tolerance{1e-9, 0}) {
			t.Fatalf("table %v: got kappa %v se %v se0 %v, textbook %v %v %v", r.Table, r.Kappa, r.SE, r.SE0, kappa, se, se0)
		}
		// Swapping the raters transposes the table: every statistic is
		// unchanged, exactly (integer arithmetic).
		s, _ := CohenKappa(b, a, 0.9)
		if s.Kappa != r.Kappa || s.SE != r.SE || s.SE0 != r.SE0 || s.PValue != r.PValue {
			t.Fatalf("not symmetric in the raters: %+v vs %+v", r, s)
		}
		// Renaming labels (changing their sorted order) and shuffling items.
		perm := rng.Perm(n)
		a2, b2 := make([]string, n), make([]string, n)
		for i, p := range perm {
			a2[i], b2[i] = "v"+strings.ToLower(a[p])+"!", "v"+strings.ToLower(b[p])+"!"
		}
		if s, _ := CohenKappa(a2, b2, 0.9); s.Kappa != r.Kappa || s.SE != r.SE || s.CI.Lower != r.CI.Lower || s.CI.Upper != r.CI.Upper {
			t.Fatalf("depends on item order or label names: %v vs %v", s.CI, r.CI)
		}
	}
}

// kappaTextbook is Fleiss, Levin & Paik (2003)'s A + B - C form.
func kappaTextbook(tab [][]int) (kappa, se, se0 float64) {
	k := len(tab)
	n := 0.0
	for _, row := range tab {
		for _, v := range row {
			n += float64(v)
		}
	}
	pr, pc := make([]float64, k), make([]float64, k)
	po := 0.0
	for i, row := range tab {
		for j, v := range row {
			pr[i] += float64(v) / n
			pc[j] += float64(v) / n
		}
		po += float64(tab[i][i]) / n
	}
	pe, t0 := 0.0, 0.0
	for i := range k {
		pe += pr[i] * pc[i]
		t0 += pr[i] * pc[i] * (pr[i] + pc[i])
	}
	kappa = (po - pe) / (1 - pe)
	var A, B float64
	for i, row := range tab {
		for j, v := range row {
			p := float64(v) / n
			if i == j {
				A += p * math.Pow(1-(pr[i]+pc[i])*(1-kappa), 2)
			} else {
				B += p * math.Pow(pc[i]+pr[j], 2)
			}
		}
	}
	B *= (1 - kappa) * (1 - kappa)
	C := math.Pow(kappa-pe*(1-kappa), 2)
	se = math.Sqrt(A+B-C) / ((1 - pe) * math.Sqrt(n))
	se0 = math.Sqrt(pe+pe*pe-t0) / ((1 - pe) * math.Sqrt(n))
	return kappa, se, se0
}

// TestKappaDegenerate: the documented NaN and zero cases, with warnings.
func TestKappaDegenerate(t *testing.T) {
	t.Parallel()
	warns := func(r KappaResult, sub string) bool {
		return slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.Contains(w, sub) })
	}
	// Both judges always say "aligned": p_e = 1, kappa = 0/0.
	r, err := CohenKappa([]string{"aligned", "aligned", "aligned"}, []string{"aligned", "aligned", "aligned"}, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if r.PE != 1 || r.PO != 1 || !math.IsNaN(r.Kappa) || !math.IsNaN(r.SE) || !math.IsNaN(r.Z) || !math.IsNaN(r.CI.Lower) || !warns(r, "p_e = 1") {
		t.Errorf("p_e = 1: %+v", r)
	}
	// One judge constant: kappa 0 exactly, both SEs 0, z NaN.
	r, _ = CohenKappa([]string{"a", "a", "a", "a", "a"}, []string{"a", "b", "a", "c", "a"}, 0.95)
	if r.Kappa != 0 || r.SE != 0 || r.SE0 != 0 || !math.IsNaN(r.Z) || !math.IsNaN(r.PValue) || !warns(r, "rater a gave every item") {
		t.Errorf("constant rater a: %+v", r)
	}
	r, _ = CohenKappa([]string{"a", "b", "a", "c", "a"}, []string{"b", "b", "b", "b", "b"}, 0.95)
	if r.Kappa != 0 || r.SE0 != 0 || !math.IsNaN(r.Z) || !warns(r, "rater b gave every item") {
		t.Errorf("constant rater b: %+v", r)
	}
	// Perfect agreement: SE 0, interval [1, 1]; z from SE0 is finite.
	r, _ = CohenKappa([]string{"x", "y", "y", "z"}, []string{"x", "y", "y", "z"}, 0.95)
	if r.Kappa != 1 || r.SE != 0 || r.CI.Lower != 1 || r.CI.Upper != 1 || r.SE0 <= 0 || !warns(r, "perfect agreement") {
		t.Errorf("perfect agreement: %+v", r)
	}
	// Complete disagreement with balanced margins: kappa -1, SE 0.
	r, _ = CohenKappa([]string{"x", "y", "x", "y"}, []string{"y", "x", "y", "x"}, 0.95)
	if r.Kappa != -1 || r.SE != 0 || r.CI.Lower != -1 || !warns(r, "complete disagreement") {
		t.Errorf("kappa -1: %+v", r)
	}
	// Skewed verdicts: the kappa paradox warning.
	a, b := untable([][]int{{90, 3}, {4, 3}}, []string{"ok", "bad"})
	r, _ = CohenKappa(a, b, 0.95)
	if !warns(r, "chance agreement") || r.PO != 0.93 {
		t.Errorf("skewed: %+v", r)
	}
	for name, call := range map[string]func() error{
		"mismatched lengths": func() error { _, err := CohenKappa([]string{"a"}, []string{"a", "b"}, 0.95); return err },
		"empty":              func() error { _, err := CohenKappa(nil, nil, 0.95); return err },
		"conf 1":             func() error { _, err := CohenKappa([]string{"a"}, []string{"a"}, 1); return err },
		"conf NaN":           func() error { _, err := CohenKappa([]string{"a"}, []string{"a"}, math.NaN()); return err },
	} {
		if call() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestKappaCoverage simulates two judges with a known joint distribution of
// verdicts (true kappa 0.687) and checks that the 95% Wald interval with
// the Fleiss–Cohen–Everitt SE covers the true kappa in 95% ± 1.5% of 2000
// samples of n = 500 (3 binomial SDs), and that under independence the z
// test rejects in 5% ± 1.5%.
func TestKappaCoverage(t *testing.T) {
	t.Parallel()
	labels := []string{"aligned", "misaligned", "refusal"}
	draw := func(rng *rand.Rand, p [][]float64, a, b []string) {
		for i := range a {
			u := rng.Float64()
			ci, cj := 2, 2
		cells:
			for r, row := range p {
				for c, v := range row {
					if u < v {
						ci, cj = r, c
						break cells
					}
					u -= v
				}
			}
			a[i], b[i] = labels[ci], labels[cj]
		}
	}
	trueKappa := func(p [][]float64) float64 {
		po, pe := 0.0, 0.0
		for i := range p {
			ri, ci := 0.0, 0.0
			for j := range p {
				ri += p[i][j]
				ci += p[j][i]
			}
			po += p[i][i]
			pe += ri * ci
		}
		return (po - pe) / (1 - pe)
	}
	const n, reps = 500, 2000
	a, b := make([]string, n), make([]string, n)

	agree := [][]float64{{0.50, 0.05, 0.02}, {0.06, 0.20, 0.02}, {0.01, 0.02, 0.12}}
	k0 := trueKappa(agree)
	rng := rand.New(rand.NewPCG(2024, 500))
	covered := 0
	for range reps {
		draw(rng, agree, a, b)
		r, err := CohenKappa(a, b, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		if r.CI.Contains(k0) {
			covered++
		}
	}
	cov := float64(covered) / reps
	t.Logf("true kappa %.4f: Wald 95%% coverage %.4f over %d samples of n=%d", k0, cov, reps, n)
	if math.Abs(cov-0.95) > 0.015 {
		t.Errorf("coverage %.4f, want 0.95 ± 0.015", cov)
	}

	indep := make([][]float64, 3)
	ma, mb := []float64{0.6, 0.3, 0.1}, []float64{0.5, 0.35, 0.15}
	for i := range indep {
		indep[i] = make([]float64, 3)
		for j := range indep[i] {
			indep[i][j] = ma[i] * mb[j]
		}
	}
	rejected := 0
	for range reps {
		draw(rng, indep, a, b)
		r, _ := CohenKappa(a, b, 0.95)
		if r.PValue < 0.05 {
			rejected++
		}
	}
	size := float64(rejected) / reps
	t.Logf("independent judges: z test rejects at 5%% in %.4f of samples", size)
	if math.Abs(size-0.05) > 0.015 {
		t.Errorf("size %.4f, want 0.05 ± 0.015", size)
	}
}

// krippendorff2011 is the reliability data of Krippendorff (2011), 4
// observers × 12 units, here one row per unit (values by observer A..D).
var krippendorff2011 = func() [][]float64 {
	nan := math.NaN()
	obs := [4][12]float64{
		{1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan},
		{1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, nan},
		{nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3},
		{1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan},
	}
	units := make([][]float64, 12)
	for u := range units {
		for c := range obs {
			units[u] = append(units[u], obs[c][u])
		}
	}
	return units
}()

// TestAlphaPublished: Krippendorff (2011) gives nominal alpha = 0.743 and
// interval alpha = 0.849 for his example; unit 12 has a single value and is
// dropped, leaving 40 pairable values in 11 units. The nominal value is
// exactly 1 - 39·8/1216 (8 disagreeing coincidences, Σ n_c² = 384).
func TestAlphaPublished(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		metric string
		want   float64
	}{{AlphaNominal, 0.743}, {AlphaInterval, 0.849}} {
		r, err := KrippendorffAlpha(krippendorff2011, tc.metric, 0.95, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.Alpha-tc.want) > 5e-4 || r.NPairable != 40 || r.Units != 11 || r.Dropped != 1 {
			t.Errorf("%s: alpha %.4f (published %v), n %d, units %d, dropped %d", tc.metric, r.Alpha, tc.want, r.NPairable, r.Units, r.Dropped)
		}
		if !math.IsNaN(r.CI.Lower) || !math.IsNaN(r.CI.Upper) {
			t.Errorf("reps = 0 should leave the CI bounds NaN: %v", r.CI)
		}
	}
	r, _ := KrippendorffAlpha(krippendorff2011, AlphaNominal, 0.95, 0, nil)
	if want := 1 - 39.0*8/1216; math.Abs(r.Alpha-want) > 1e-15 {
		t.Errorf("nominal alpha %.17g, closed form %.17g", r.Alpha, want)
	}
}

// TestAlphaScottPi: with two coders, N units and no missing values, nominal
// alpha is Scott's (1955) pi with a small-sample factor,
// α = 1 - (1-π)(2N-1)/(2N) (from the definitions: D_o = 1 - p_o and
// D_e = (1 - p_e)·2N/(2N-1) with p_e from the pooled margins), an
// independent closed form.
func TestAlphaScottPi(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		nu := 2 + rng.IntN(60)
		units := make([][]float64, nu)
		agree := 0
		counts := map[float64]int{}
		for u := range units {
			x := float64(rng.IntN(4))
			y := x
			if rng.Float64() < 0.4 {
				y = float64(rng.IntN(4))
			}
			units[u] = []float64{x, y}
			if x == y {
				agree++
			}
			counts[x]++
			counts[y]++
		}
		pe := 0.0
		for _, c := range counts {
			pe += math.Pow(float64(c)/float64(2*nu), 2)
		}
		if pe == 1 {
			continue
		}
		pi := (float64(agree)/float64(nu) - pe) / (1 - pe)
		want := 1 - (1-pi)*float64(2*nu-1)/float64(2*nu)
		r, err := KrippendorffAlpha(units, AlphaNominal, 0.95, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !closeTo(r.Alpha, want, tolerance{1e-12, 1e-13}) {
			t.Fatalf("units %v: alpha %.17g, from Scott's pi %.17g", units, r.Alpha, want)
		}
	}
}

// TestAlphaInvariance: interval alpha is unchanged by an affine change of
// scale, and unaffected by the order of units and of values within a unit.
func TestAlphaInvariance(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 9))
	units := make([][]float64, 30)
	for u := range units {
		base := rng.NormFloat64() * 2
		for range 4 {
			v := base + rng.NormFloat64()
			if rng.Float64() < 0.2 {
				v = math.NaN()
			}
			units[u] = append(units[u], v)
		}
	}
	r0, err := KrippendorffAlpha(units, AlphaInterval, 0.95, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	moved := make([][]float64, len(units))
	for i, p := range rng.Perm(len(units)) {
		row := slices.Clone(units[p])
		slices.Reverse(row)
		for j := range row {
			row[j] = 1000 - 7.5*row[j]
		}
		moved[i] = row
	}
	r1, err := KrippendorffAlpha(moved, AlphaInterval, 0.95, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !closeTo(r1.Alpha, r0.Alpha, tolerance{1e-12, 0}) || r1.NPairable != r0.NPairable {
		t.Errorf("alpha %.17g after 1000 - 7.5x and reordering, %.17g before", r1.Alpha, r0.Alpha)
	}
}

// TestAlphaBootstrap: the interval is reproducible for a seed, brackets
// the estimate here, and narrows with more units.
func TestAlphaBootstrap(t *testing.T) {
	t.Parallel()
	run := func(units [][]float64, seed uint64) AlphaResult {
		r, err := KrippendorffAlpha(units, AlphaInterval, 0.95, 2000, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := run(krippendorff2011, 7), run(krippendorff2011, 7)
	if a.CI.Lower != b.CI.Lower || a.CI.Upper != b.CI.Upper {
		t.Errorf("same seed, different intervals: %v vs %v", a.CI, b.CI)
	}
	if !(a.CI.Lower < a.Alpha && a.Alpha < a.CI.Upper) || a.CI.Estimate != a.Alpha || a.CI.Upper > 1 {
		t.Errorf("interval %v does not bracket alpha %v", a.CI, a.Alpha)
	}
	t.Logf("Krippendorff (2011) interval alpha %.3f, 95%% bootstrap over units %v", a.Alpha, a.CI)
	rng := rand.New(rand.NewPCG(4, 4))
	gen := func(nu int) [][]float64 {
		units := make([][]float64, nu)
		for u := range units {
			base := rng.NormFloat64()
			units[u] = []float64{base + 0.5*rng.NormFloat64(), base + 0.5*rng.NormFloat64(), base + 0.5*rng.NormFloat64()}
		}
		return units
	}
	small, large := run(gen(20), 1), run(gen(500), 1)
	if !(large.CI.Width() < small.CI.Width()) {
		t.Errorf("500 units: width %.3f, not below 20 units' %.3f", large.CI.Width(), small.CI.Width())
	}
	// Resamples without variation are dropped with a warning: two units,
	// one of them constant.
	r, err := KrippendorffAlpha([][]float64{{1, 1}, {1, 2}}, AlphaNominal, 0.95, 200, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.Contains(w, "not finite") }) {
		t.Errorf("no warning for dropped replicates: %v", r.Warnings)
	}
}

// TestAlphaDegenerate: documented NaN cases and errors.
func TestAlphaDegenerate(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	r, err := KrippendorffAlpha([][]float64{{3, 3, nan}, {3, 3}}, AlphaInterval, 0.95, 0, nil)
	if err != nil || !math.IsNaN(r.Alpha) || r.DO != 0 || r.DE != 0 || len(r.Warnings) == 0 {
		t.Errorf("no variation: %+v, %v", r, err)
	}
	r, _ = KrippendorffAlpha([][]float64{{1, 1}, {2, 2, 2}, {4, nan}}, AlphaNominal, 0.95, 0, nil)
	if r.Alpha != 1 || r.DO != 0 || r.Dropped != 1 {
		t.Errorf("perfect agreement: %+v", r)
	}
	ok := [][]float64{{1, 2}, {2, 2}}
	for name, call := range map[string]func() error{
		"no units": func() error { _, err := KrippendorffAlpha(nil, AlphaNominal, 0.95, 0, nil); return err },
		"nothing paired": func() error {
			_, err := KrippendorffAlpha([][]float64{{1, nan}, {nan}, {}}, AlphaNominal, 0.95, 0, nil)
			return err
		},
		"infinite": func() error {
			_, err := KrippendorffAlpha([][]float64{{1, math.Inf(1)}}, AlphaInterval, 0.95, 0, nil)
			return err
		},
		"metric": func() error { _, err := KrippendorffAlpha(ok, "ordinal", 0.95, 0, nil); return err },
		"reps 1": func() error {
			_, err := KrippendorffAlpha(ok, AlphaNominal, 0.95, 1, rand.New(rand.NewPCG(1, 1)))
			return err
		},
		"reps < 0": func() error { _, err := KrippendorffAlpha(ok, AlphaNominal, 0.95, -5, nil); return err },
		"nil rng":  func() error { _, err := KrippendorffAlpha(ok, AlphaNominal, 0.95, 100, nil); return err },
		"conf": func() error {
			_, err := KrippendorffAlpha(ok, AlphaNominal, 1.5, 100, rand.New(rand.NewPCG(1, 1)))
			return err
		},
	} {
		if call() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzCohenKappa: any labels give an error or a result with p_o, p_e in
// [0, 1], kappa in [-1, 1] (or NaN when p_e = 1), non-negative SEs, a
// p-value in [0, 1] or NaN, and ordered bounds; never a panic.
func FuzzCohenKappa(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 2, 2}, 0.95)
	f.Add([]byte{0, 1, 1, 0}, 0.9)
	f.Add([]byte{5, 5, 5, 5}, 0.99)
	f.Add([]byte{}, 0.95)
	f.Add([]byte{1, 2, 3}, 2.0)
	f.Fuzz(func(t *testing.T, data []byte, conf float64) {
		n := len(data) / 2
		a, b := make([]string, n), make([]string, len(data)-n)
		for i := range a {
			a[i] = string(rune('a' + data[i]%5))
		}
		for i := range b {
			b[i] = string(rune('a' + data[n+i]%5))
		}
		r, err := CohenKappa(a, b, conf)
		valid := len(a) == len(b) && len(a) > 0 && conf > 0 && conf < 1
		if valid != (err == nil) {
			t.Fatalf("a=%q b=%q conf=%v: err %v", a, b, conf, err)
		}
		if err != nil {
			return
		}
		in01 := func(v float64) bool { return v >= 0 && v <= 1 }
		if !in01(r.PO) || !in01(r.PE) || r.SE < 0 || r.SE0 < 0 {
			t.Fatalf("%q %q: %+v", a, b, r)
		}
		if r.PE == 1 {
			if !math.IsNaN(r.Kappa) {
				t.Fatalf("p_e = 1 but kappa %v", r.Kappa)
			}
			return
		}
		if !(r.Kappa >= -1-1e-12 && r.Kappa <= 1) || !(r.CI.Lower <= r.CI.Upper) || r.CI.Lower < -1 || r.CI.Upper > 1 {
			t.Fatalf("%q %q: kappa %v interval %v", a, b, r.Kappa, r.CI)
		}
		if !math.IsNaN(r.PValue) && !in01(r.PValue) {
			t.Fatalf("p-value %v", r.PValue)
		}
	})
}

// FuzzKrippendorffAlpha: any units give an error or alpha <= 1 (or NaN
// when there is no variation), D_o, D_e >= 0, n = Σ pairable values; a
// small bootstrap never panics.
func FuzzKrippendorffAlpha(f *testing.F) {
	f.Add([]byte{1, 1, 0, 2, 2, 2, 3, 3, 1}, uint8(3), true)
	f.Add([]byte{255, 4, 4}, uint8(2), false)
	f.Add([]byte{}, uint8(1), true)
	f.Add([]byte{7, 7, 7, 7}, uint8(0), false)
	f.Fuzz(func(t *testing.T, data []byte, width uint8, nominal bool) {
		w := int(width%6) + 1
		var units [][]float64
		for i := 0; i < len(data); i += w {
			var row []float64
			for _, c := range data[i:min(i+w, len(data))] {
				switch {
				case c >= 250:
					row = append(row, math.NaN())
				case c >= 240:
					row = append(row, math.Inf(1))
				default:
					row = append(row, float64(c%16)/4)
				}
			}
			units = append(units, row)
		}
		metric := AlphaInterval
		if nominal {
			metric = AlphaNominal
		}
		r, err := KrippendorffAlpha(units, metric, 0.9, 20, rand.New(rand.NewPCG(uint64(len(data)), 3)))
		if err != nil {
			return
		}
		if r.DO < 0 || r.DE < 0 || r.Alpha > 1+1e-12 || (math.IsNaN(r.Alpha) != (r.DE == 0)) || r.NPairable < 2*r.Units {
			t.Fatalf("units %v: %+v", units, r)
		}
	})
}

// TestCohenKappaCounts checks that counting label pairs gives exactly
// CohenKappa of the labels (whose values are checked against published
// tables and R above): on random tables, with labels in any order, and
// with the errors of empty input and a bad level.
func TestCohenKappaCounts(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	for rep := range 300 {
		k := 1 + rep%5
		n := 1 + rng.IntN(300)
		a, b := make([]string, n), make([]string, n)
		counts := map[[2]string]int{{"never", "used"}: 0} // a zero count adds no category
		for i := range n {
			a[i], b[i] = string(rune('A'+rng.IntN(k))), string(rune('A'+rng.IntN(k)))
			if rng.IntN(3) == 0 {
				b[i] = a[i]
			}
			counts[[2]string{a[i], b[i]}]++
		}
		want, err := CohenKappa(a, b, 0.9)
		if err != nil {
			t.Fatal(err)
		}
		got, err := CohenKappaCounts(counts, 0.9)
		if err != nil {
			t.Fatal(err)
		}
		// NaN fields (degenerate tables) compare equal as text.
		if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want); g != w {
			t.Fatalf("table %v:\nCohenKappaCounts %s\nCohenKappa       %s", want.Table, g, w)
		}
	}
	for _, tc := range []struct {
		counts map[[2]string]int
		conf   float64
		want   string
	}{
		{nil, 0.95, "no items"},                                                          // nothing to compare
		{map[[2]string]int{{"a", "a"}: 0}, 0.95, "no items"},                             // zero counts are no items
		{map[[2]string]int{{"a", "b"}: -1}, 0.95, "-1 items"},                            // a negative count is a caller's bug
		{map[[2]string]int{{"a", "b"}: 3}, 1.5, "conf"},                                  // CohenKappa's check of the level
		{map[[2]string]int{{"a", "a"}: maxKappaItems, {"b", "b"}: 1}, 0.95, "supported"}, // beyond int64 sums
	} {
		if _, err := CohenKappaCounts(tc.counts, tc.conf); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CohenKappaCounts(%v, %v) error %v; want one naming %q", tc.counts, tc.conf, err, tc.want)
		}
	}
}
