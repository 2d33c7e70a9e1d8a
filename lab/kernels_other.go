//go:build !amd64 || noasm || gccgo || safe

package lab

// dotLanes is the number of partial sums of gonum's pure Go
// f64.DotUnitary: one, in index order.
const dotLanes = 1

// combineLanes returns the only partial sum.
func combineLanes(p *[dotLanes]float64) float64 { return p[0] }

// mul returns a·b, written like gonum's pure Go kernels so that the
// compiler may fuse it with an addition where it fuses theirs.
func mul(a, b float64) float64 { return a * b }
