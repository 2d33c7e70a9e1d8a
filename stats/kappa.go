package stats

import (
	"fmt"
	"math"
	"math/big"
	"sort"
)

// KappaResult is Cohen's (1960) unweighted kappa for two raters (e.g. two
// LLM judges) who each put the same n items into nominal categories,
// κ = (p_o - p_e)/(1 - p_e), with the standard errors of Fleiss, Cohen &
// Everitt (1969).
type KappaResult struct {
	N          int
	Categories []string // sorted union of both raters' labels
	// Table[i][j] counts the items rater a put in Categories[i] and rater b
	// in Categories[j].
	Table  [][]int
	PO, PE float64 // observed agreement Σ p_ii and chance agreement Σ p_i· p_·i
	Kappa  float64 // (PO - PE)/(1 - PE)
	// SE is the large-sample standard error of Fleiss, Cohen & Everitt
	// (1969), valid whatever the true kappa (the non-null SE); it sets the
	// width of the Wald interval.
	SE float64
	// SE0 is the standard error when the raters are independent (kappa =
	// 0), the one the z test uses.
	SE0    float64
	Z      float64 // Kappa / SE0
	PValue float64 // two-sided, 2Φ(-|Z|), for H0: kappa = 0
	// CI is Kappa ∓ Φ⁻¹((1+conf)/2)·SE clipped to [-1, 1]; the bounds before
	// clipping are LowerUnclipped and UpperUnclipped.
	CI                             Interval
	LowerUnclipped, UpperUnclipped float64
	Warnings                       []string
}

// maxKappaItems bounds n so that n² and the integer terms below fit in an
// int64.
const maxKappaItems = 1 << 30

// CohenKappa returns Cohen's (1960) unweighted kappa for two raters who
// labelled the same items: a[i] and b[i] are the categories (e.g. judge
// verdicts "aligned", "misaligned", "refusal") that raters a and b gave
// item i. Labels are compared as exact strings; the categories are the
// union of both raters' labels, so a label only one rater used counts as a
// category the other never chose, and "" is a category like any other
// (drop items with a missing verdict before calling). With p_ij the share
// of items rater a put in category i and rater b in j, and p_i·, p_·j the
// margins:
//
//	p_o = Σ_i p_ii,  p_e = Σ_i p_i· p_·i,  κ = (p_o - p_e)/(1 - p_e).
//
// SE is the large-sample standard error of Fleiss, Cohen & Everitt (1969,
// Psychological Bulletin 72:323), the delta-method SE valid for any true κ
// (as in Fleiss, Levin & Paik 2003, Statistical Methods for Rates and
// Proportions, 3rd ed., ch. 18):
//
//	SE² = [Σ_i p_ii (1 - (p_i· + p_·i)(1-κ))² + (1-κ)² Σ_{i≠j} p_ij (p_·i + p_j·)²
//	       - (κ - p_e(1-κ))²] / (n (1-p_e)²),
//
// and SE0 the standard error under independence (κ = 0), which the z test
// uses:
//
//	SE0² = [p_e + p_e² - Σ_i p_i· p_·i (p_i· + p_·i)] / (n (1-p_e)²).
//
// Both are evaluated as sums of squares of exact integer counts, so they
// are accurate to rounding even near perfect agreement, where the textbook
// difference above cancels (see testdata/gen_reference.R for the integer
// form). Z = κ/SE0 with two-sided p-value 2Φ(-|Z|); the Wald interval is
// κ ∓ Φ⁻¹((1+conf)/2)·SE clipped to [-1, 1]. The non-null SE is 0 at
// perfect agreement (κ = 1), and can be 0 at κ = -1, where the interval
// collapses to a point; below ~50 items, or with skewed verdicts (p_e near
// 1), its coverage is poor, and warnings say so. Kappa depends on the
// margins: when one verdict dominates, two judges with high observed
// agreement can have a low kappa (Feinstein & Cicchetti 1990); read it
// with PO and PE.
//
// Degenerate tables: when both raters used one and the same category for
// every item, p_e = 1 and κ, SE, SE0, Z, the p-value and the interval are
// NaN (0/0). When one rater used a single category, κ = 0 and SE = SE0 = 0
// exactly, so Z and the p-value are NaN. Both are flagged in Warnings.
// Errors on empty input, mismatched lengths, more than 2³⁰ items or conf
// outside (0, 1).
func CohenKappa(a, b []string, conf float64) (KappaResult, error) {
	switch {
	case len(a) != len(b):
		return KappaResult{}, fmt.Errorf("cohen kappa: %d labels from rater a but %d from rater b", len(a), len(b))
	case len(a) == 0:
		return KappaResult{}, fmt.Errorf("cohen kappa: no items")
	case len(a) > maxKappaItems:
		return KappaResult{}, fmt.Errorf("cohen kappa: %d items is more than the supported %d", len(a), maxKappaItems)
	}
	if err := checkConf(conf); err != nil {
		return KappaResult{}, fmt.Errorf("cohen kappa: %w", err)
	}
	index := map[string]int{}
	for _, s := range [2][]string{a, b} {
		for _, l := range s {
			index[l] = 0
		}
	}
	cats := make([]string, 0, len(index))
	for l := range index {
		cats = append(cats, l)
	}
	sort.Strings(cats)
	for i, l := range cats {
		index[l] = i
	}
	k := len(cats)
	tab := make([][]int, k)
	for i := range tab {
		tab[i] = make([]int, k)
	}
	for i := range a {
		tab[index[a[i]]][index[b[i]]]++
	}
	r := KappaResult{N: len(a), Categories: cats, Table: tab}
	kappaFromTable(&r, conf)
	return r, nil
}

// kappaFromTable fills the statistics of r from r.Table and r.N. With row
// totals r_i, column totals c_j, O = Σ n_ii, S = Σ r_i c_i and D = n² - S
// (so p_o = O/n, p_e = S/n², κ = (nO - S)/D), the delta-method variances
// are sums of squares of integers:
//
//	SE²  = Σ_ij n_ij (n·h_ij - H)² / D⁴,
//	       h_ij = [i=j]·D - (c_i + r_j)(n - O),  H = Σ_ij n_ij h_ij;
//	SE0² = Σ_ij r_i c_j e_ij² / (n³ D²),  e_ij = [i=j]·n² - n(c_i + r_j) + S.
//
// (The gradient of κ in p_ij is n²h_ij/D², and SE² is its multinomial
// variance Σ p_ij (g_ij - ḡ)²/n; SE0² is the same at p_ij = p_i·p_·j.)
// They are accumulated exactly in big integers and rounded once.
func kappaFromTable(r *KappaResult, conf float64) {
	tab := r.Table
	k := len(tab)
	n := int64(r.N)
	rows, cols := make([]int64, k), make([]int64, k)
	var o, s int64
	for i := range tab {
		for j, v := range tab[i] {
			rows[i] += int64(v)
			cols[j] += int64(v)
		}
		o += int64(tab[i][i])
	}
	for i := range rows {
		s += rows[i] * cols[i]
	}
	d := n*n - s
	fn, fd := float64(n), float64(d)
	r.PO = float64(o) / fn
	r.PE = float64(s) / float64(n*n)
	r.Kappa = float64(n*o-s) / fd // 0/0 = NaN when p_e = 1

	// SE: h_ij, H and Σ n_ij (n h_ij - H)².
	h := make([][]*big.Int, k)
	hSum := new(big.Int)
	tmp := new(big.Int)
	for i := range tab {
		h[i] = make([]*big.Int, k)
		for j := range tab[i] {
			v := new(big.Int).SetInt64(cols[i] + rows[j])
			v.Mul(v, tmp.SetInt64(n-o))
			v.Neg(v)
			if i == j {
				v.Add(v, tmp.SetInt64(d))
			}
			h[i][j] = v
			hSum.Add(hSum, tmp.Mul(v, big.NewInt(int64(tab[i][j]))))
		}
	}
	bn := big.NewInt(n)
	ssA := new(big.Int)
	for i := range tab {
		for j, cnt := range tab[i] {
			if cnt == 0 {
				continue
			}
			dev := new(big.Int).Mul(bn, h[i][j])
			dev.Sub(dev, hSum)
			dev.Mul(dev, dev)
			ssA.Add(ssA, dev.Mul(dev, big.NewInt(int64(cnt))))
		}
	}
	// SE0: Σ r_i c_j e_ij².
	ss0 := new(big.Int)
	for i := range k {
		if rows[i] == 0 {
			continue
		}
		for j := range k {
			if cols[j] == 0 {
				continue
			}
			e := new(big.Int).SetInt64(cols[i] + rows[j])
			e.Mul(e, bn)
			e.Neg(e)
			e.Add(e, tmp.SetInt64(s))
			if i == j {
				e.Add(e, tmp.SetInt64(n*n))
			}
			e.Mul(e, e)
			e.Mul(e, tmp.SetInt64(rows[i]*cols[j]))
			ss0.Add(ss0, e)
		}
	}
	r.SE = math.Sqrt(bigToFloat(ssA)) / (fd * fd)
	r.SE0 = math.Sqrt(bigToFloat(ss0)) / (fn * math.Sqrt(fn) * fd)
	r.Z = r.Kappa / r.SE0
	r.PValue = 2 * pnormUpper(math.Abs(r.Z))
	z := zTwoSided(conf)
	r.LowerUnclipped, r.UpperUnclipped = r.Kappa-z*r.SE, r.Kappa+z*r.SE
	r.Warnings = kappaWarnings(r, rows, cols, o)
	r.CI = Interval{Estimate: r.Kappa, Lower: math.Max(-1, r.LowerUnclipped), Upper: math.Min(1, r.UpperUnclipped),
		Confidence: conf, Method: "Wald, Fleiss–Cohen–Everitt SE", Warnings: r.Warnings}
}

// kappaWarnings returns the report caveats for a kappa table.
func kappaWarnings(r *KappaResult, rows, cols []int64, o int64) []string {
	var w []string
	single := func(t []int64) (string, bool) {
		for i, v := range t {
			if v == int64(r.N) {
				return r.Categories[i], true
			}
		}
		return "", false
	}
	ca, sa := single(rows)
	cb, sb := single(cols)
	switch {
	case sa && sb && ca == cb:
		w = append(w, fmt.Sprintf("both raters gave every item the category %q: chance agreement p_e = 1 and kappa is undefined (NaN)", ca))
	case sa || sb:
		which, c := "a", ca
		if !sa {
			which, c = "b", cb
		}
		w = append(w, fmt.Sprintf("rater %s gave every item the category %q: kappa is 0 by construction, its standard errors are 0 and the z test is undefined", which, c))
	case o == int64(r.N):
		w = append(w, "perfect agreement: the large-sample SE is 0 and the Wald interval collapses to [1, 1]")
	case r.SE == 0:
		w = append(w, "the large-sample SE is 0 (complete disagreement): the Wald interval collapses to a point")
	}
	if r.N < 50 {
		w = append(w, fmt.Sprintf("n=%d items: the large-sample SE and Wald interval are unreliable below ~50 items", r.N))
	}
	if r.PE > 0.8 && r.PE < 1 {
		w = append(w, fmt.Sprintf("chance agreement p_e=%.3g is high (skewed categories): kappa is unstable and can be low despite high observed agreement", r.PE))
	}
	return w
}

// bigToFloat returns the float64 nearest x.
func bigToFloat(x *big.Int) float64 {
	f, _ := new(big.Float).SetInt(x).Float64()
	return f
}
