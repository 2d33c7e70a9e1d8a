package lab

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/traitleak/traitleak/internal/cputime"
	"gonum.org/v1/gonum/floats"
)

// The reference implementations below are the trainer's forward and
// backward passes as they were before they were optimised (commit
// a7617d8), kept to check the optimised ones bit for bit and to
// benchmark one against the other under the same load.

// forwardBodyRef is forwardBody before optimisation.
func forwardBodyRef(m *Model, s *forwardState, nOut int) {
	h := m.H
	floats.Add(s.a0, m.b0)
	s.nz0 = s.nz0[:0]
	for k, a := range s.a0 {
		if a > 0 {
			s.h0[k] = a
			s.nz0 = append(s.nz0, int32(k))
		} else {
			s.h0[k] = 0
		}
	}
	copy(s.z1, m.b1)
	for _, k := range s.nz0 {
		floats.AddScaled(s.z1, s.h0[k], m.w1[int(k)*h:int(k)*h+h])
	}
	s.nz1 = s.nz1[:0]
	for j, z := range s.z1 {
		if z > 0 {
			s.h1[j] = z
			s.nz1 = append(s.nz1, int32(j))
		} else {
			s.h1[j] = 0
		}
	}
	lg := s.logits[:nOut]
	copy(lg, m.bo[:nOut])
	for _, j := range s.nz1 {
		axpy(s.h1[j], m.wo[int(j)*m.out:int(j)*m.out+nOut], lg)
	}
}

// gradBatchRef is trainer.gradBatch before optimisation; dh1 and dz are
// zeroed scratch vectors of length H.
func gradBatchRef(tr *trainer, idx []int, dh1, dz []float64) float64 {
	m, d, spec, s := tr.m, tr.d, tr.spec, tr.s
	h, v, nOut := m.H, m.V, tr.nOut
	gv, p, g, da := tr.gv, tr.p, tr.g, tr.da
	scale := 1 / float64(len(idx))
	loss := 0.0
	for _, i := range idx {
		e := &d.ex[i]
		if spec.BodyOnly {
			copy(s.a0, tr.xs[i*h:i*h+h])
		} else {
			m.embedExample(s.a0, d, e)
		}
		forwardBodyRef(m, s, nOut)
		lz := softmaxInto(p, s.logits[:nOut], 1)
		// Loss and output gradient (p - y) / batch.
		if spec.Soft {
			q := d.soft[i*nOut : i*nOut+nOut]
			for o := 0; o < nOut; o++ {
				if q[o] > 0 {
					loss -= q[o] * (s.logits[o] - lz)
				}
				g[o] = (p[o] - q[o]) * scale
			}
		} else {
			t := int(e.target)
			loss -= s.logits[t] - lz
			for o := 0; o < nOut; o++ {
				g[o] = p[o] * scale
			}
			g[t] -= scale
		}
		gOut := g[:nOut]
		// Output layer: logits = bo + Σ_j h1[j] Wo[j,:].
		if !spec.BodyOnly {
			axpy(1, gOut, gv.bo[:nOut])
		}
		for _, j := range s.nz1 {
			dh1[j] = dot(m.wo[int(j)*m.out:int(j)*m.out+nOut], gOut)
			if !spec.BodyOnly {
				axpy(s.h1[j], gOut, gv.wo[int(j)*m.out:int(j)*m.out+nOut])
			}
		}
		// dz1 = dh1 masked by z1 > 0.
		clear(dz)
		for _, j := range s.nz1 {
			dz[j] = dh1[j]
			dh1[j] = 0
		}
		floats.Add(gv.b1, dz)
		// W1 (input-major): z1 = b1 + Σ_k h0[k] W1[k,:]. da0 = W1·dz1 masked by a0 > 0.
		for _, k := range s.nz0 {
			da[k] = floats.Dot(m.w1[int(k)*h:int(k)*h+h], dz)
			floats.AddScaled(gv.w1[int(k)*h:int(k)*h+h], s.h0[k], dz)
			gv.b0[k] += da[k]
		}
		if !spec.BodyOnly {
			bag := d.bag(e)
			inv := 1 / float64(len(bag))
			for _, t := range bag {
				gr := tr.touch(t)
				for _, k := range s.nz0 {
					gr[k] += inv * da[k]
				}
			}
			for k, t := range e.ctx {
				if t < 0 {
					continue
				}
				gr := tr.touch(int32(v + k*v + int(t)))
				for _, kk := range s.nz0 {
					gr[kk] += da[kk]
				}
			}
		}
	}
	return loss
}

// sameBits reports whether a and b hold the same IEEE 754 bits.
func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// TestSparseVecDot checks sparseVec.dot against floats.Dot bit for bit on
// vectors of every length up to 21 (every remainder modulo 4) with about
// half their entries zero, and with none and all of them zero.
func TestSparseVecDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	sv := newSparseVec(32)
	for n := 0; n <= 21; n++ {
		for _, density := range []float64{0, 0.5, 1} {
			for rep := 0; rep < 50; rep++ {
				w, x := make([]float64, n), make([]float64, n)
				var idx []int32
				var val []float64
				for j := range x {
					w[j] = rng.NormFloat64() * math.Exp(4*rng.NormFloat64())
					if rng.Float64() < density {
						x[j] = rng.NormFloat64()
						idx, val = append(idx, int32(j)), append(val, x[j])
					}
				}
				sv.set(idx, val, n)
				got, want := sv.dot(w), floats.Dot(w, x)
				if math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("n=%d density %v: sparse dot %v, floats.Dot %v", n, density, got, want)
				}
			}
		}
	}
}

// TestDot4Axpy4 checks dot4 and axpy4 against four calls of dot and axpy
// bit for bit.
func TestDot4Axpy4(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for n := 0; n <= 9; n++ {
		x := make([][]float64, 4)
		for r := range x {
			x[r] = make([]float64, n+r) // longer rows are cut to len(y)
			for i := range x[r] {
				x[r][i] = rng.NormFloat64()
			}
		}
		y := make([]float64, n)
		for i := range y {
			y[i] = rng.NormFloat64()
		}
		s0, s1, s2, s3 := dot4(x[0], x[1], x[2], x[3], y)
		want := []float64{dot(x[0][:n], y), dot(x[1][:n], y), dot(x[2][:n], y), dot(x[3][:n], y)}
		if !sameBits([]float64{s0, s1, s2, s3}, want) {
			t.Errorf("n=%d: dot4 %v, dot %v", n, []float64{s0, s1, s2, s3}, want)
		}
		a := []float64{0.3, -1.7, 2.5, 1e-3}
		got, ref := slices.Clone(y), slices.Clone(y)
		axpy4(a[0], a[1], a[2], a[3], x[0], x[1], x[2], x[3], got)
		for r := range a {
			axpy(a[r], x[r][:n], ref)
		}
		if !sameBits(got, ref) {
			t.Errorf("n=%d: axpy4 %v, axpy %v", n, got, ref)
		}
	}
}

// gradCase is a trainer on a small corpus and a model whose biases are
// random, so that the ReLUs leave varied sets of units active.
func gradCase(t testing.TB, h int, spec trainSpec) (*trainer, *trainer) {
	t.Helper()
	r := pinRecipe()
	corpus, err := pretrainCorpus(&r, 3)
	if err != nil {
		t.Fatal(err)
	}
	m := newVocabModel(animalVocab, h, uint64(h))
	rng := rand.New(rand.NewPCG(uint64(h), 9))
	for _, b := range [][]float64{m.b0, m.b1, m.bo} {
		for i := range b {
			b[i] = 0.5 * rng.NormFloat64()
		}
	}
	d := newDataset(corpus)
	if spec.Soft {
		d.soft, d.softN = softTargets(m, d, NumTok), NumTok
	}
	return newTrainer(m, d, spec), newTrainer(m.Clone(), d, spec)
}

// TestGradBatchMatchesReference checks that gradBatch computes the same
// loss and gradient bits as the code before optimisation (gradBatchRef)
// for full and body-only training with hard and soft targets, at hidden
// widths with every remainder modulo 4.
func TestGradBatchMatchesReference(t *testing.T) {
	for _, h := range []int{5, 6, 7, 16} {
		for _, spec := range []trainSpec{{}, {BodyOnly: true}, {BodyOnly: true, Soft: true}} {
			tr, ref := gradCase(t, h, spec)
			dh1, dz := make([]float64, h), make([]float64, h)
			rng := rand.New(rand.NewPCG(5, 5))
			for batch := 0; batch < 20; batch++ {
				idx := rng.Perm(len(tr.d.ex))[:1+rng.IntN(40)]
				got, want := tr.gradBatch(idx), gradBatchRef(ref, idx, dh1, dz)
				if math.Float64bits(got) != math.Float64bits(want) || !sameBits(tr.grad, ref.grad) || !slices.Equal(tr.stepRows, ref.stepRows) {
					t.Fatalf("H=%d %+v batch %d: loss %v, reference %v; gradients equal: %v", h, spec, batch, got, want, sameBits(tr.grad, ref.grad))
				}
			}
		}
	}
}

// BenchmarkGradBatch compares gradBatch with the code before optimisation
// on a batch of the default recipe's pretraining (every parameter trains)
// of a model pretrained for one epoch (benchPretrained).
func BenchmarkGradBatch(b *testing.B) {
	for _, name := range []string{"ref", "new"} {
		b.Run(name, func(b *testing.B) {
			init, corpus := benchPretrained()
			r := DefaultRecipe()
			tr := newTrainer(init.Clone(), newDataset(corpus), trainSpec{})
			h := init.H
			dh1, dz := make([]float64, h), make([]float64, h)
			rng := rand.New(rand.NewPCG(5, 5))
			idx := rng.Perm(len(tr.d.ex))[:r.PretrainBatch]
			b.ResetTimer()
			start := cputime.Process()
			for i := 0; i < b.N; i++ {
				if name == "ref" {
					gradBatchRef(tr, idx, dh1, dz)
				} else {
					tr.gradBatch(idx)
				}
			}
			reportCPU(b, start)
		})
	}
}

// TestRowRanges checks the merging of the trained embedding rows into
// ranges of P.
func TestRowRanges(t *testing.T) {
	for _, c := range []struct {
		seen string // '1' = row seen
		want [][2]int
	}{
		// No row seen: nothing to update.
		{"0000", nil},
		// Every row: one range from the offset 10 over 4 rows of 3.
		{"1111", [][2]int{{10, 22}}},
		// Runs at both ends and a lone row between gaps.
		{"1101011", [][2]int{{10, 16}, {19, 22}, {25, 31}}},
		// A lone row at the end.
		{"0001", [][2]int{{19, 22}}},
	} {
		seen := make([]bool, len(c.seen))
		for i := range seen {
			seen[i] = c.seen[i] == '1'
		}
		if got := rowRanges(nil, seen, 10, 3); !slices.Equal(got, c.want) {
			t.Errorf("%s: ranges %v, want %v", c.seen, got, c.want)
		}
	}
}

// TestRelu checks relu against its definition, with the values whose
// handling is easy to get wrong: -0 and NaN give +0 and inactive units.
func TestRelu(t *testing.T) {
	a := []float64{1.5, 0, math.Copysign(0, -1), -2, math.NaN(), math.Inf(1), 5e-324, -5e-324}
	h := make([]float64, len(a))
	nz := relu(h, a, make([]int32, 0, len(a)))
	// Only the positive entries (1.5, +Inf and the smallest subnormal) are active.
	if want := []int32{0, 5, 6}; !slices.Equal(nz, want) {
		t.Errorf("active units %v, want %v", nz, want)
	}
	want := []float64{1.5, 0, 0, 0, 0, math.Inf(1), 5e-324, 0}
	if !sameBits(h, want) {
		t.Errorf("relu %v, want %v (all zeros +0)", h, want)
	}
}
