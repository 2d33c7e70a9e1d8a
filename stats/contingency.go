package stats

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// ChiSqTable is Pearson's chi-square test of independence of an r×c table
// of counts (equivalently, of homogeneity of its rows' distributions over
// the columns), as R's chisq.test(matrix) with no continuity correction:
//
//	X² = Σ (O - E)² / E,  E = row total × column total / n,
//	df = (r-1)(c-1),      p = P(χ²_df > X²).
//
// Unlike R, a 2×2 table is not Yates-corrected here; use ChiSq2x2 for
// that. A zero row or column total makes some E zero and the statistic
// NaN, as in R, with a warning; drop empty rows and columns first. An
// expected count below 5 adds R's "approximation may be incorrect"
// warning. The table is [row][column]; it must have at least 2 rows and 2
// columns of equal length and no negative counts.
func ChiSqTable(table [][]int) (ChiSqResult, error) {
	if len(table) < 2 {
		return ChiSqResult{}, fmt.Errorf("chisq_test: %d rows; need at least 2", len(table))
	}
	cols := len(table[0])
	if cols < 2 {
		return ChiSqResult{}, fmt.Errorf("chisq_test: %d columns; need at least 2", cols)
	}
	rowSum := make([]float64, len(table))
	colSum := make([]float64, cols)
	n := 0.0
	for i, row := range table {
		if len(row) != cols {
			return ChiSqResult{}, fmt.Errorf("chisq_test: row %d has %d columns; row 0 has %d", i, len(row), cols)
		}
		for j, v := range row {
			if v < 0 {
				return ChiSqResult{}, fmt.Errorf("chisq_test: count [%d][%d] = %d is negative", i, j, v)
			}
			rowSum[i] += float64(v)
			colSum[j] += float64(v)
			n += float64(v)
		}
	}
	if n == 0 {
		return ChiSqResult{}, errors.New("chisq_test: the table is empty")
	}
	r := ChiSqResult{DF: float64((len(table) - 1) * (cols - 1)), Method: "Pearson's chi-squared test"}
	s, minE := 0.0, math.Inf(1)
	for i, row := range table {
		for j, v := range row {
			e := rowSum[i] * colSum[j] / n
			d := float64(v) - e
			s += d * d / e
			minE = math.Min(minE, e)
		}
	}
	r.Statistic = s
	r.PValue = pchisqUpper(s, r.DF)
	switch {
	case math.IsNaN(s):
		r.Warnings = append(r.Warnings, "a row or column total is zero: the statistic is undefined")
	case minE < 5:
		r.Warnings = append(r.Warnings, "Chi-squared approximation may be incorrect: an expected count is below 5")
	}
	return r, nil
}

// pchisqUpper returns P(χ²_df > s), the regularized upper incomplete gamma
// function Q(df/2, s/2); df = 1 uses erfc for full accuracy in the tail.
func pchisqUpper(s, df float64) float64 {
	switch {
	case math.IsNaN(s):
		return math.NaN()
	case s <= 0:
		return 1
	case df == 1:
		return pchisq1Upper(s)
	}
	return mathext.GammaIncRegComp(df/2, s/2)
}
