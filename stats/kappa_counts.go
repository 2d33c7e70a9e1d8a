package stats

import (
	"fmt"
	"sort"
)

// CohenKappaCounts is CohenKappa for items given as counts of label
// pairs instead of one label per item: counts[[2]string{a, b}] is the
// number of items rater a put in category a and rater b in category b.
// Kappa depends on the items only through these counts (its table), so
// the result equals CohenKappa of any lists with these counts, in any
// order; a caller that sees items one at a time can count them instead
// of keeping them. Pairs with a count of 0 add no category. Errors as
// CohenKappa's, and on a negative count.
func CohenKappaCounts(counts map[[2]string]int, conf float64) (KappaResult, error) {
	n := 0
	index := map[string]int{}
	for p, c := range counts {
		switch {
		case c < 0:
			return KappaResult{}, fmt.Errorf("cohen kappa: %d items labelled %q and %q", c, p[0], p[1])
		case c == 0:
			continue
		case c > maxKappaItems-n:
			return KappaResult{}, fmt.Errorf("cohen kappa: more than the supported %d items", maxKappaItems)
		}
		n += c
		index[p[0]], index[p[1]] = 0, 0
	}
	if n == 0 {
		return KappaResult{}, fmt.Errorf("cohen kappa: no items")
	}
	if err := checkConf(conf); err != nil {
		return KappaResult{}, fmt.Errorf("cohen kappa: %w", err)
	}
	cats := make([]string, 0, len(index))
	for l := range index {
		cats = append(cats, l)
	}
	sort.Strings(cats)
	for i, l := range cats {
		index[l] = i
	}
	tab := make([][]int, len(cats))
	for i := range tab {
		tab[i] = make([]int, len(cats))
	}
	for p, c := range counts {
		if c > 0 {
			tab[index[p[0]]][index[p[1]]] += c
		}
	}
	r := KappaResult{N: n, Categories: cats, Table: tab}
	kappaFromTable(&r, conf)
	return r, nil
}
