package stats_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/traitleak/traitleak/stats"
)

// Two LLM judges gave verdicts on the same 100 samples (the layout of
// Fleiss, Levin & Paik 2003, Table 18.1, relabelled): they agree on 89%,
// 66% is expected by chance, kappa = 0.68 with null SE 0.076.
func ExampleCohenKappa() {
	verdicts := []string{"aligned", "misaligned", "refusal"}
	table := [][]int{{75, 1, 4}, {5, 4, 1}, {0, 0, 10}} // judge A by row, judge B by column
	var a, b []string
	for i, row := range table {
		for j, n := range row {
			for range n {
				a, b = append(a, verdicts[i]), append(b, verdicts[j])
			}
		}
	}
	r, err := stats.CohenKappa(a, b, 0.95)
	if err != nil {
		panic(err)
	}
	fmt.Printf("p_o %.2f p_e %.2f kappa %.3f se %.4f se0 %.4f z %.2f\n", r.PO, r.PE, r.Kappa, r.SE, r.SE0, r.Z)
	fmt.Printf("95%% CI [%.3f, %.3f]\n", r.CI.Lower, r.CI.Upper)
	// Output:
	// p_o 0.89 p_e 0.66 kappa 0.676 se 0.0877 se0 0.0762 z 8.88
	// 95% CI [0.505, 0.848]
}

// Krippendorff (2011)'s reliability data, one row per unit with the values
// of observers A..D (NaN = missing). The last unit has one value and is
// dropped.
func ExampleKrippendorffAlpha() {
	nan := math.NaN()
	units := [][]float64{
		{1, 1, nan, 1}, {2, 2, 3, 2}, {3, 3, 3, 3}, {3, 3, 3, 3}, {2, 2, 2, 2}, {1, 2, 3, 4},
		{4, 4, 4, 4}, {1, 1, 2, 1}, {2, 2, 2, 2}, {nan, 5, 5, 5}, {nan, nan, 1, 1}, {nan, nan, 3, nan},
	}
	for _, metric := range []string{stats.AlphaNominal, stats.AlphaInterval} {
		r, err := stats.KrippendorffAlpha(units, metric, 0.95, 1000, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-8s alpha %.3f (D_o %.4f, D_e %.4f, n %d, %d unit dropped)\n", metric, r.Alpha, r.DO, r.DE, r.NPairable, r.Dropped)
	}
	// Output:
	// nominal  alpha 0.743 (D_o 0.2000, D_e 0.7795, n 40, 1 unit dropped)
	// interval alpha 0.849 (D_o 0.4333, D_e 2.8718, n 40, 1 unit dropped)
}
