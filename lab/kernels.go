package lab

// Kernels of the trainer and the forward pass that do exactly the floating
// point operations of the code they replace, in the same order, so that
// every trained model stays the same bit for bit (TestTrainWeightsPinned,
// TestAuxFitPinned and TestAnimalArtifactsPinned check it). They are faster
// because they skip terms that are exactly zero, keep independent sums in
// flight at once and load and store each output once instead of once per
// input row.
//
// Skipping a zero term is exact: a sum that starts at +0 is never -0 in
// round-to-nearest (x + y is -0 only if both are -0; an exact cancellation
// gives +0), and s + (±0) = s for every s but -0. A term w·0 is ±0 when w
// is finite; a model whose weights are not finite has diverged anyway
// (checkShape refuses it). On amd64 every product is rounded before it is
// added (mul), as gonum's SSE2 assembly and the default GOAMD64=v1 build
// of axpy and dot do: from GOAMD64=v3 on, the compiler fuses some
// multiply-adds and not others (it depends on register allocation), so
// there the trained bits differ from the pinned ones before and after
// these kernels alike.

// sparseVec is a vector's entries that may be non-zero (the others are
// exactly zero), grouped by the partial sum of gonum's f64.DotUnitary that
// adds them (see dotLanes), each group in increasing index order.
type sparseVec struct {
	idx [dotLanes][]int32
	val [dotLanes][]float64
}

// newSparseVec returns a sparseVec with room for n entries per group.
func newSparseVec(n int) *sparseVec {
	s := &sparseVec{}
	for r := range s.idx {
		s.idx[r] = make([]int32, 0, n)
		s.val[r] = make([]float64, 0, n)
	}
	return s
}

// set makes s the vector of length n whose entries at idx (increasing)
// are val and are zero elsewhere.
func (s *sparseVec) set(idx []int32, val []float64, n int) {
	for r := range s.idx {
		s.idx[r] = s.idx[r][:0]
		s.val[r] = s.val[r][:0]
	}
	main := int32(n - n%dotLanes) // DotUnitary's unrolled loop; the rest go to sum 0
	for i, j := range idx {
		r := 0
		if j < main {
			r = int(j) % dotLanes
		}
		s.idx[r] = append(s.idx[r], j)
		s.val[r] = append(s.val[r], val[i])
	}
}

// dot returns floats.Dot(w, x) bit for bit, where x (of len(w)) is the
// dense vector s was set to: the partial sums of f64.DotUnitary over the
// non-zero entries only, combined as it combines them.
func (s *sparseVec) dot(w []float64) float64 {
	var part [dotLanes]float64
	for r := range part {
		sum := 0.0
		val := s.val[r]
		for i, j := range s.idx[r][:len(val)] {
			sum += mul(w[j], val[i])
		}
		part[r] = sum
	}
	return combineLanes(&part)
}

// dot4 returns s.dot(w0), s.dot(w1), s.dot(w2) and s.dot(w3) in one pass
// over s, so that four independent sums are in flight.
func (s *sparseVec) dot4(w0, w1, w2, w3 []float64) (d0, d1, d2, d3 float64) {
	var p0, p1, p2, p3 [dotLanes]float64
	for r := range p0 {
		var s0, s1, s2, s3 float64
		val := s.val[r]
		for i, j := range s.idx[r][:len(val)] {
			v := val[i]
			s0 += mul(w0[j], v)
			s1 += mul(w1[j], v)
			s2 += mul(w2[j], v)
			s3 += mul(w3[j], v)
		}
		p0[r], p1[r], p2[r], p3[r] = s0, s1, s2, s3
	}
	return combineLanes(&p0), combineLanes(&p1), combineLanes(&p2), combineLanes(&p3)
}

// axpyIdx adds a*val[i] to y[idx[i]] for every i: floats.AddScaled(y, a,
// x) bit for bit for the dense x that is val at idx and zero elsewhere.
func axpyIdx(a float64, idx []int32, val, y []float64) {
	val = val[:len(idx)]
	for i, j := range idx {
		y[j] += mul(a, val[i])
	}
}

// dot4 returns dot(x0, y), dot(x1, y), dot(x2, y), dot(x3, y) (each a
// sequential sum, as dot computes it) in one pass over y, so that four
// independent sums are in flight. Every x must be at least as long as y.
func dot4(x0, x1, x2, x3, y []float64) (s0, s1, s2, s3 float64) {
	n := len(y)
	x0, x1, x2, x3 = x0[:n], x1[:n], x2[:n], x3[:n]
	for i, v := range y {
		s0 += mul(x0[i], v)
		s1 += mul(x1[i], v)
		s2 += mul(x2[i], v)
		s3 += mul(x3[i], v)
	}
	return
}

// axpy4 applies axpy(a0, x0, y), axpy(a1, x1, y), axpy(a2, x2, y) and
// axpy(a3, x3, y) in that order, loading and storing y once. Every x must
// be at least as long as y.
func axpy4(a0, a1, a2, a3 float64, x0, x1, x2, x3, y []float64) {
	n := len(y)
	x0, x1, x2, x3 = x0[:n], x1[:n], x2[:n], x3[:n]
	for i, v := range y {
		v += mul(a0, x0[i])
		v += mul(a1, x1[i])
		v += mul(a2, x2[i])
		v += mul(a3, x3[i])
		y[i] = v
	}
}
