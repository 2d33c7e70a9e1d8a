//go:build amd64 && !noasm && !gccgo && !safe

package lab

// dotLanes is the number of partial sums of gonum's assembly
// f64.DotUnitary on amd64: x[i]·y[i] goes to sum i mod 4 for i below
// len(x) rounded down to a multiple of 4, the remaining ones to sum 0.
const dotLanes = 4

// combineLanes adds the partial sums as f64.DotUnitary does:
// (s1 + s3) + (s0 + s2).
func combineLanes(p *[dotLanes]float64) float64 { return (p[1] + p[3]) + (p[0] + p[2]) }

// mul returns a·b rounded to float64. The explicit conversion keeps the
// compiler from fusing the product into a following addition (which it
// may do from GOAMD64=v3 on): gonum's SSE2 assembly, whose results the
// kernels reproduce, never fuses.
func mul(a, b float64) float64 { return float64(a * b) }
