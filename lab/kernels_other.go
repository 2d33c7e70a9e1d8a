//go:build !amd64 || noasm || gccgo || safe

package lab

// dotLanes is the number of partial sums of gonum's pure Go
// f64.DotUnitary: one, in index order.
const dotLanes = 1

// combineLanes returns the only partial sum.
func combineLanes(p *[dotLanes]float64) float64 { return p[0] }
