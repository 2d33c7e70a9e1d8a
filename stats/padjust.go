package stats

import (
	"fmt"
	"math"
	"sort"
)

// AdjustMethod names a multiple-comparison adjustment, spelled as in R's
// p.adjust.
type AdjustMethod string

// Adjustment methods.
const (
	Bonferroni AdjustMethod = "bonferroni" // family-wise error, Bonferroni (1936)
	Holm       AdjustMethod = "holm"       // family-wise error, Holm (1979) step-down
	BH         AdjustMethod = "BH"         // false discovery rate, Benjamini & Hochberg (1995)
	BY         AdjustMethod = "BY"         // FDR under dependence, Benjamini & Yekutieli (2001)
)

// PAdjust adjusts p-values for multiple comparisons with R's p.adjust
// semantics (R source p.adjust): NaN entries stay NaN in place and do not
// count toward m, the number of non-NaN p-values; with m <= 1 the input is
// returned unchanged. With p(i) the i-th smallest of the m p-values:
//
//	bonferroni: min(1, m·p)
//	holm:       min(1, cummax_{j<=i} (m-j+1)·p(j))
//	BH:         min(1, cummin_{j>=i} m/j·p(j))
//	BY:         min(1, cummin_{j>=i} q·m/j·p(j)),  q = Σ_{k=1}^m 1/k
//
// The result is in input order. Errors on an unknown method or a p-value
// outside [0, 1] (R does not check; an out-of-range p is a caller bug).
func PAdjust(p []float64, method AdjustMethod) ([]float64, error) {
	switch method {
	case Bonferroni, Holm, BH, BY:
	default:
		return nil, fmt.Errorf("p_adjust: unknown method %q (want bonferroni, holm, BH or BY)", method)
	}
	out := make([]float64, len(p))
	var idx []int
	for i, v := range p {
		out[i] = v
		if math.IsNaN(v) {
			continue
		}
		if v < 0 || v > 1 {
			return nil, fmt.Errorf("p_adjust: p[%d]=%v not in [0, 1]", i, v)
		}
		idx = append(idx, i)
	}
	m := len(idx)
	if m <= 1 {
		return out, nil
	}
	fm := float64(m)
	// idx sorted by increasing p, stable like R's order().
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	switch method {
	case Bonferroni:
		for _, i := range idx {
			out[i] = math.Min(1, fm*p[i])
		}
	case Holm:
		run := 0.0
		for j, i := range idx {
			run = math.Max(run, (fm-float64(j))*p[i])
			out[i] = math.Min(1, run)
		}
	case BH, BY:
		q := 1.0
		if method == BY {
			q = 0
			for k := 1; k <= m; k++ {
				q += 1 / float64(k)
			}
		}
		run := math.Inf(1)
		for j := m - 1; j >= 0; j-- {
			i := idx[j]
			run = math.Min(run, q*fm/float64(j+1)*p[i])
			out[i] = math.Min(1, run)
		}
	}
	return out, nil
}
