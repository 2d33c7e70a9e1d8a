package stats

import (
	"math"
	"strings"
	"testing"
)

func TestChiSqTable(t *testing.T) {
	t.Parallel()
	// Reference values: X² exactly in rational arithmetic and p from the
	// closed forms of the χ² upper tail for integer df (even df:
	// e^{-x/2} Σ_{i<df/2} (x/2)^i / i!; odd df: erfc(√(x/2)) +
	// Σ_{i<(df-1)/2} e^{-x/2} (x/2)^{i+1/2} / Γ(i+3/2)), computed with
	// CPython 3.11's fractions and math modules.
	cases := []struct {
		name      string
		table     [][]int
		stat, df  float64
		p         float64
		warnBelow bool
	}{
		// R's ?chisq.test example (Agresti 2007, p. 39): chisq.test(M) prints
		// X-squared = 30.07, df = 2, p-value = 2.954e-07.
		{"R chisq.test example", [][]int{{762, 327, 468}, {484, 239, 477}}, 30.070149095754672, 2, 2.953589183211757e-07, false},
		// Two teachers' numbers in ten bins of width 100: odd df.
		{"number bins", [][]int{{310, 295, 288, 301, 330, 276, 305, 290, 312, 293}, {280, 301, 315, 296, 270, 322, 290, 310, 285, 331}},
			16.95514524153225, 9, 0.04942304796425477, false},
		// df = 3; every expected count is at least 5.
		{"2x4", [][]int{{12, 5, 9, 7}, {3, 10, 8, 15}}, 9.922904175444282, 3, 0.019232975445112297, false},
		// 2×2 without Yates: the same as ChiSq2x2(30, 100, 45, 100, false).
		{"2x2", [][]int{{30, 70}, {45, 55}}, 4.8, 1, 0.02845973691631057, false},
		// Far in the tail: p stays relatively accurate.
		{"tiny p", [][]int{{500, 100, 50}, {100, 500, 50}}, 533.3333333333334, 2, 1.542190981589137e-116, false},
		// 3×3, df = 4.
		{"3x3", [][]int{{10, 20, 30}, {20, 20, 20}, {30, 20, 10}}, 20, 4, 0.0004993992273873334, false},
		// Identical rows: X² = 0, p = 1; expected counts of 1 warn.
		{"identical", [][]int{{1, 2}, {1, 2}}, 0, 1, 1, true},
	}
	for _, c := range cases {
		r, err := ChiSqTable(c.table)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !chiSqNear(r.Statistic, c.stat, 1e-12) || r.DF != c.df || !chiSqNear(r.PValue, c.p, 1e-10) {
			t.Errorf("%s: ChiSqTable = X² %.17g, df %g, p %.17g; want %.17g, %g, %.17g", c.name, r.Statistic, r.DF, r.PValue, c.stat, c.df, c.p)
		}
		if warned := len(r.Warnings) > 0; warned != c.warnBelow {
			t.Errorf("%s: warnings %q; want a below-5 warning: %v", c.name, r.Warnings, c.warnBelow)
		}
	}
	two, _ := ChiSq2x2(30, 100, 45, 100, false)
	tab, _ := ChiSqTable([][]int{{30, 70}, {45, 55}})
	if !chiSqNear(two.Statistic, tab.Statistic, 1e-14) || !chiSqNear(two.PValue, tab.PValue, 1e-14) {
		t.Errorf("ChiSqTable 2x2 = %v; ChiSq2x2 = %v", tab, two)
	}
}

// chiSqNear reports whether got is within relative tolerance tol of want.
func chiSqNear(got, want, tol float64) bool {
	if got == want {
		return true
	}
	return math.Abs(got-want) <= tol*math.Abs(want)
}

func TestChiSqTableInvalid(t *testing.T) {
	t.Parallel()
	bad := []struct {
		table [][]int
		want  string
	}{
		{[][]int{{1, 2}}, "rows"},              // one row
		{[][]int{{1}, {2}}, "columns"},         // one column
		{[][]int{{1, 2}, {3}}, "row 1 has 1"},  // ragged
		{[][]int{{1, -2}, {3, 4}}, "negative"}, // negative count
		{[][]int{{0, 0}, {0, 0}}, "empty"},     // nothing counted
	}
	for _, b := range bad {
		if _, err := ChiSqTable(b.table); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ChiSqTable(%v) error = %v; want %q", b.table, err, b.want)
		}
	}
	// A zero column makes the statistic NaN, as R, with a warning.
	r, err := ChiSqTable([][]int{{1, 0, 5}, {2, 0, 6}})
	if err != nil || !math.IsNaN(r.Statistic) || !math.IsNaN(r.PValue) || len(r.Warnings) == 0 || !strings.Contains(r.Warnings[0], "zero") {
		t.Errorf("zero column: %+v, %v", r, err)
	}
}
