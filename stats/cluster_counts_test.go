package stats

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestClusteredMeanCounts checks that the counts form equals ClusteredMean
// of the listed 0/1 values bit for bit (ClusteredMean is checked against
// R's sandwich::vcovCL in cluster_test.go), on random tables of a few
// clusters to many, with all-zero, all-one and single-value clusters, and
// that bad input is refused.
func TestClusteredMeanCounts(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 14))
	for trial := range 300 {
		g := 1 + rng.IntN(60)
		hits, n := make([]int, g), make([]int, g)
		labels := make([]string, g)
		var x []float64
		var cl []string
		for i := range g {
			n[i] = rng.IntN(400)
			if trial%7 == 0 {
				n[i] = 1 // single values
			}
			switch rng.IntN(5) {
			case 0:
				hits[i] = 0
			case 1:
				hits[i] = n[i]
			default:
				hits[i] = rng.IntN(n[i] + 1)
			}
			labels[i] = strconv.Itoa(i)
			if trial%11 == 0 {
				labels[i] = strconv.Itoa(i % 3) // repeated labels merge
			}
			for k := range n[i] {
				v := 0.0
				if k < hits[i] {
					v = 1
				}
				x, cl = append(x, v), append(cl, labels[i])
			}
		}
		got, gerr := ClusteredMeanCounts(hits, n, labels, 0.95)
		want, werr := ClusteredMean(x, cl, 0.95)
		if (gerr != nil) != (werr != nil) {
			t.Fatalf("trial %d: errors %v and %v", trial, gerr, werr)
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
			t.Fatalf("trial %d (%v of %v):\n got %#v\nwant %#v", trial, hits, n, got, want)
		}
	}
	for _, tc := range []struct {
		name    string
		hits, n []int
		labels  []string
	}{
		{"no values", []int{0}, []int{0}, []string{"a"}},
		{"more hits than values", []int{3}, []int{2}, []string{"a"}},
		{"negative count", []int{-1}, []int{2}, []string{"a"}},
		{"lengths differ", []int{1, 1}, []int{2}, []string{"a"}},
	} {
		if _, err := ClusteredMeanCounts(tc.hits, tc.n, tc.labels, 0.95); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
