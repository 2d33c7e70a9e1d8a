package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBinomialDraw checks binomialDraw's distribution against binomial
// probabilities: the share of each outcome among 200,000 draws within
// 4.5 standard errors of R's dbinom, on both sides of p = 0.5 and with
// the mode at an end; and the mean and variance of a large n.
func TestBinomialDraw(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 5))
	const draws = 200_000
	for _, tc := range []struct {
		n    int
		p    float64
		k    int
		want float64 // P(X = k)
	}{
		{20, 0.3, 6, 0.19163898},    // R: dbinom(6, 20, 0.3) = 0.1916390 (the mode)
		{20, 0.3, 2, 0.02784587},    // R: dbinom(2, 20, 0.3) = 0.02784587 (below the mode)
		{20, 0.3, 10, 0.03081708},   // R: dbinom(10, 20, 0.3) = 0.03081708 (above it)
		{10, 0.9, 10, 0.3486784401}, // R: dbinom(10, 10, 0.9) = 0.3486784 (p > 0.5, the top end)
		{10, 0.9, 7, 0.05739563},    // R: dbinom(7, 10, 0.9) = 0.05739563
		{50, 0.01, 0, 0.6050061},    // R: dbinom(0, 50, 0.01) = 0.6050061 (the mode at 0)
		{1, 0.5, 1, 0.5},            // a fair coin
	} {
		hits := 0
		for range draws {
			x := binomialDraw(rng, tc.n, tc.p)
			if x < 0 || x > tc.n {
				t.Fatalf("binomialDraw(%d, %v) = %d: out of range", tc.n, tc.p, x)
			}
			if x == tc.k {
				hits++
			}
		}
		se := math.Sqrt(tc.want * (1 - tc.want) / draws)
		if got := float64(hits) / draws; math.Abs(got-tc.want) > 4.5*se {
			t.Errorf("binomialDraw(%d, %v): P(%d) = %.5f; want %.5f ± %.5f", tc.n, tc.p, tc.k, got, tc.want, 4.5*se)
		}
	}
	// Bin(10⁶, 0.01): mean 10,000 and variance 9,900.
	var sum, sq float64
	const m = 4000
	for range m {
		x := float64(binomialDraw(rng, 1_000_000, 0.01))
		sum += x
		sq += x * x
	}
	mean := sum / m
	v := (sq - m*mean*mean) / (m - 1)
	if math.Abs(mean-10000) > 4.5*math.Sqrt(9900.0/m) || math.Abs(v/9900-1) > 0.1 {
		t.Errorf("binomialDraw(1e6, 0.01): mean %.1f, variance %.0f; want 10000 and 9900", mean, v)
	}
	for _, tc := range []struct {
		n    int
		p    float64
		want int
	}{{0, 0.5, 0}, {7, 0, 0}, {7, 1, 7}} { // degenerate: no trials, never, always
		if got := binomialDraw(rng, tc.n, tc.p); got != tc.want {
			t.Errorf("binomialDraw(%d, %v) = %d; want %d", tc.n, tc.p, got, tc.want)
		}
	}
}

// TestMultinomialDraw checks that the counts sum to n, that a category
// of weight 0 gets none, and the mean share of each category.
func TestMultinomialDraw(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(4, 4))
	w := []int{5, 0, 3, 2}
	out := make([]int, len(w))
	var sums [4]float64
	const reps = 20_000
	for range reps {
		multinomialDraw(rng, 100, w, out)
		total := 0
		for i, c := range out {
			total += c
			sums[i] += float64(c)
		}
		if total != 100 || out[1] != 0 {
			t.Fatalf("multinomialDraw(100, %v) = %v; want counts summing to 100, none of weight 0", w, out)
		}
	}
	for i, x := range w {
		// Mean 100·w/10; variance 100·p(1-p) of each count.
		p := float64(x) / 10
		if se := math.Sqrt(100 * p * (1 - p) / reps); math.Abs(sums[i]/reps-100*p) > 4.5*se+1e-12 {
			t.Errorf("category %d: mean count %.3f; want %.1f", i, sums[i]/reps, 100*p)
		}
	}
}

// TestAlphaCountsMatchesUnits checks KrippendorffAlphaCounts against
// KrippendorffAlpha on the same units listed one by one: Krippendorff's
// (2011) example, whose published values are nominal 0.743 and interval
// 0.849, repeated 1, 3 and 50 times; and a large two-coder sample of
// few distinct values, where the two bootstraps (other draws of the same
// law) must give bounds within Monte Carlo error of each other.
func TestAlphaCountsMatchesUnits(t *testing.T) {
	t.Parallel()
	// counted groups equal units, keeping the first unit of each.
	counted := func(units [][]float64) []AlphaCount {
		var out []AlphaCount
	next:
		for _, u := range units {
			for i := range out {
				if slices.EqualFunc(out[i].Values, u, func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }) {
					out[i].Count++
					continue next
				}
			}
			out = append(out, AlphaCount{Values: u, Count: 1})
		}
		return out
	}
	for _, metric := range []string{AlphaNominal, AlphaInterval} {
		for _, times := range []int{1, 3, 50} {
			var units [][]float64
			for range times {
				units = append(units, krippendorff2011...)
			}
			want, err := KrippendorffAlpha(units, metric, 0.95, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := KrippendorffAlphaCounts(counted(units), metric, 0.95, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Alpha-want.Alpha) > 1e-12 || math.Abs(got.DO-want.DO) > 1e-12 || math.Abs(got.DE-want.DE) > 1e-12 ||
				got.NPairable != want.NPairable || got.Units != want.Units || got.Dropped != want.Dropped || !slices.Equal(got.Warnings, want.Warnings) {
				t.Errorf("%s ×%d: counts give %+v; units give %+v", metric, times, got, want)
			}
			// Repeating the units changes D_e's n - 1: the published
			// values are those of the example once.
			if published := map[string]float64{AlphaNominal: 0.743, AlphaInterval: 0.849}[metric]; times == 1 && math.Abs(got.Alpha-published) > 5e-4 {
				t.Errorf("%s ×%d: alpha %.4f; published %v", metric, times, got.Alpha, published)
			}
		}
	}
	// Two judges scoring 0–100 in steps of 10, the second within 20 of
	// the first, some units scored by one judge only.
	rng := rand.New(rand.NewPCG(9, 9))
	var units [][]float64
	for range 4000 {
		x := float64(10 * rng.IntN(11))
		y := math.Min(100, math.Max(0, x+float64(10*(rng.IntN(5)-2))))
		if rng.IntN(20) == 0 {
			y = math.NaN()
		}
		units = append(units, []float64{x, y})
	}
	for _, metric := range []string{AlphaNominal, AlphaInterval} {
		want, err := KrippendorffAlpha(units, metric, 0.95, 1000, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := KrippendorffAlphaCounts(counted(units), metric, 0.95, 1000, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		// The bounds of 1000 replicates vary by about a tenth of the
		// interval's half-width between draws.
		tol := 0.25 * (want.CI.Upper - want.CI.Lower) / 2
		if math.Abs(got.Alpha-want.Alpha) > 1e-12 || math.Abs(got.CI.Lower-want.CI.Lower) > tol || math.Abs(got.CI.Upper-want.CI.Upper) > tol ||
			got.Dropped != want.Dropped || got.CI.Method != want.CI.Method || !slices.Equal(got.Warnings, want.Warnings) {
			t.Errorf("%s: counts give %.4f [%.4f, %.4f] %v; units give %.4f [%.4f, %.4f] %v (tolerance %.4f)", metric,
				got.Alpha, got.CI.Lower, got.CI.Upper, got.Warnings, want.Alpha, want.CI.Lower, want.CI.Upper, want.Warnings, tol)
		}
	}
	for _, bad := range [][]AlphaCount{nil, {{Values: []float64{1, 2}, Count: -1}}, {{Values: []float64{1, math.NaN()}, Count: 4}}} {
		if _, err := KrippendorffAlphaCounts(bad, AlphaInterval, 0.95, 0, nil); err == nil {
			t.Errorf("KrippendorffAlphaCounts(%v) = nil error; want one (no units, a negative count, nothing pairable)", bad)
		}
	}
}
