package lab

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// sequence is one training or sampled sequence: prompt tokens (UNK-free)
// followed by completion tokens, each of which is a next-token target.
type sequence struct {
	Prompt     []int32
	Completion []int32
}

// example is one teacher-forced next-token example.
type example struct {
	bagOff, bagLen int32    // prompt tokens: dataset.bags[bagOff : bagOff+bagLen]
	ctx            [K]int32 // last K tokens before the target, -1 if none
	target         int32    // target token id (hard targets)
}

// dataset is a flattened list of next-token examples.
type dataset struct {
	bags  []int32
	ex    []example
	soft  []float64 // softN probabilities per example (soft targets), or nil
	softN int       // soft target tokens per example: the first softN answer tokens
}

// newDataset flattens seqs into teacher-forced examples over every
// completion token.
func newDataset(seqs []sequence) *dataset {
	d := &dataset{}
	gen := make([]int, 0, 32)
	for _, s := range seqs {
		off := int32(len(d.bags))
		d.bags = append(d.bags, s.Prompt...)
		gen = gen[:0]
		for _, t := range s.Completion {
			d.ex = append(d.ex, example{bagOff: off, bagLen: int32(len(s.Prompt)), ctx: window(s.Prompt, gen), target: t})
			gen = append(gen, int(t))
		}
	}
	return d
}

// bag returns the prompt tokens of example e.
func (d *dataset) bag(e *example) []int32 { return d.bags[e.bagOff : e.bagOff+e.bagLen] }

// embedExample writes m's input embedding sum of example e of d (the mean
// prompt embedding plus the positional embeddings of the context, without
// b0) into dst, the input forwardBody expects in its state's a0.
func (m *Model) embedExample(dst []float64, d *dataset, e *example) {
	m.bagInto(dst, d.bag(e))
	m.addHist(dst, &e.ctx)
}

// trainSpec configures one training run.
type trainSpec struct {
	LR       float64
	Batch    int
	Epochs   int
	BodyOnly bool   // update only {b0, W1, b1}; embeddings and output layer frozen
	Soft     bool   // targets are d.soft over the first d.softN answer tokens (restricted softmax)
	Seed     uint64 // data-order seed
}

// Adam's decay rates. They are typed so that constant expressions such as
// 1-adamB1 round like float64 arithmetic at run time; untyped, 1-0.9 would
// fold exactly to 0.1 and change every trained model.
const (
	adamB1 float64 = 0.9
	adamB2 float64 = 0.999
)

// adamBiasCorrection returns the bias corrections 1-β₁ᵗ and 1-β₂ᵗ of
// Adam step t (counted from 1).
func adamBiasCorrection(t int) (bc1, bc2 float64) {
	return 1 - math.Pow(adamB1, float64(t)), 1 - math.Pow(adamB2, float64(t))
}

// adam holds Adam moment estimates for a parameter vector.
type adam struct {
	m, v []float64
	t    int
}

func newAdam(n int) *adam {
	return &adam{m: make([]float64, n), v: make([]float64, n)}
}

// update applies one Adam step with learning rate lr to p[lo:hi] using the
// gradient g[lo:hi]. bc1 and bc2 are the bias corrections of this step
// (see adamBiasCorrection).
func (a *adam) update(p, g []float64, lo, hi int, lr, bc1, bc2 float64) {
	const eps = 1e-8
	m, v := a.m[lo:hi], a.v[lo:hi]
	g = g[lo:hi]
	p = p[lo:hi]
	m, v, p = m[:len(g)], v[:len(g)], p[:len(g)] // no bounds checks in the loop
	step := lr / bc1
	ibc2 := 1 / bc2
	for i, gi := range g {
		mi := adamB1*m[i] + (1-adamB1)*gi
		vi := adamB2*v[i] + (1-adamB2)*gi*gi
		m[i], v[i] = mi, vi
		p[i] -= step * mi / (math.Sqrt(vi*ibc2) + eps)
	}
}

// trainResult summarises a training run.
type trainResult struct {
	Steps     int     `json:"steps"`
	FinalLoss float64 `json:"final_loss"` // mean loss over the last epoch
}

// trainer computes minibatch gradients of one model on one dataset.
type trainer struct {
	m    *Model
	d    *dataset
	spec trainSpec
	nOut int

	grad []float64 // gradient, same layout as m.P
	gv   *Model    // views into grad

	xs []float64 // per-example embedding sums when embeddings are frozen

	// Embedding rows (Ep rows 0..V-1, then Eh rows V + k*V + t) with a
	// non-zero gradient in the current batch.
	stepRows []int32
	rowStep  []bool

	s            *forwardState
	p, g, dz, da []float64
	dzv          *sparseVec // dz1 grouped for sparseVec.dot
}

func newTrainer(m *Model, d *dataset, spec trainSpec) *trainer {
	h, v := m.H, m.V
	tr := &trainer{m: m, d: d, spec: spec, nOut: m.out, grad: make([]float64, len(m.P)),
		rowStep: make([]bool, v+K*v), s: m.newState(),
		p: make([]float64, m.out), g: make([]float64, m.out), dz: make([]float64, h), da: make([]float64, h), dzv: newSparseVec(h)}
	if spec.Soft {
		tr.nOut = d.softN
	}
	tr.gv = &Model{H: h, V: v, P: tr.grad, voc: m.voc}
	tr.gv.setViews()
	if spec.BodyOnly {
		// With frozen embeddings, each example's embedding sum is a constant.
		tr.xs = make([]float64, len(d.ex)*h)
		for i := range d.ex {
			e := &d.ex[i]
			m.embedExample(tr.xs[i*h:i*h+h], d, e)
		}
	}
	return tr
}

// gradBatch adds the gradient of the mean loss over the examples idx to
// tr.grad and returns the summed loss. Parameters that are frozen under
// tr.spec get no gradient.
func (tr *trainer) gradBatch(idx []int) float64 {
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
		m.forwardBody(s, nOut)
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
		// dz1 = dh1 masked by z1 > 0: dz[i] is dz1[nz1[i]], the only
		// entries of dz1 that may be non-zero.
		nz1, out := s.nz1, m.out
		dz := tr.dz[:len(nz1)]
		n := 0
		for ; n+4 <= len(nz1); n += 4 {
			j0, j1, j2, j3 := int(nz1[n])*out, int(nz1[n+1])*out, int(nz1[n+2])*out, int(nz1[n+3])*out
			dz[n], dz[n+1], dz[n+2], dz[n+3] = dot4(m.wo[j0:j0+nOut], m.wo[j1:j1+nOut], m.wo[j2:j2+nOut], m.wo[j3:j3+nOut], gOut)
		}
		for ; n < len(nz1); n++ {
			j := int(nz1[n]) * out
			dz[n] = dot(m.wo[j:j+nOut], gOut)
		}
		if !spec.BodyOnly {
			for _, j := range nz1 {
				axpy(s.h1[j], gOut, gv.wo[int(j)*out:int(j)*out+nOut])
			}
		}
		axpyIdx(1, nz1, dz, gv.b1)
		// W1 (input-major): z1 = b1 + Σ_k h0[k] W1[k,:]. da0 = W1·dz1 masked by a0 > 0.
		dzv := tr.dzv
		dzv.set(nz1, dz, h)
		nz0 := s.nz0
		n = 0
		for ; n+4 <= len(nz0); n += 4 {
			k0, k1, k2, k3 := nz0[n], nz0[n+1], nz0[n+2], nz0[n+3]
			r0, r1, r2, r3 := int(k0)*h, int(k1)*h, int(k2)*h, int(k3)*h
			da[k0], da[k1], da[k2], da[k3] = dzv.dot4(m.w1[r0:r0+h], m.w1[r1:r1+h], m.w1[r2:r2+h], m.w1[r3:r3+h])
		}
		for _, k := range nz0[n:] {
			row := int(k) * h
			da[k] = dzv.dot(m.w1[row : row+h])
		}
		for _, k := range nz0 {
			row := int(k) * h
			axpyIdx(s.h0[k], nz1, dz, gv.w1[row:row+h])
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

// touch marks embedding row r as having a gradient in this batch and
// returns its gradient slice.
func (tr *trainer) touch(r int32) []float64 {
	if !tr.rowStep[r] {
		tr.rowStep[r] = true
		tr.stepRows = append(tr.stepRows, r)
	}
	h := tr.m.H
	off := tr.m.BodySize() + int(r)*h
	return tr.grad[off : off+h]
}

// train fits m on d according to spec with Adam. It is deterministic for a
// given model, dataset and spec, and single-threaded: callers parallelise
// across training runs. It returns ctx.Err() if ctx is cancelled.
func train(ctx context.Context, m *Model, d *dataset, spec trainSpec) (trainResult, error) {
	if len(d.ex) == 0 {
		return trainResult{}, fmt.Errorf("train: empty dataset")
	}
	if spec.Soft && (d.softN <= 0 || d.softN > m.out || len(d.soft) != d.softN*len(d.ex)) {
		return trainResult{}, fmt.Errorf("train: soft targets missing")
	}
	if spec.Batch <= 0 || spec.Epochs < 0 {
		return trainResult{}, fmt.Errorf("train: bad batch %d or epochs %d", spec.Batch, spec.Epochs)
	}
	tr := newTrainer(m, d, spec)
	h, v := m.H, m.V
	body := m.BodySize()
	headLo := body + v*h + K*v*h // start of Wo
	opt := newAdam(len(m.P))
	if spec.BodyOnly {
		opt = newAdam(body)
	}
	// Embedding rows that ever had a gradient: their Adam moments are
	// non-zero and they keep moving. The moments of the other rows are
	// zero, so their Adam update is exactly zero and is skipped. everRanges
	// are the ranges of P that those rows cover, adjacent rows merged: the
	// update of each parameter is independent of the others, so updating
	// them range by range instead of row by row gives the same bits with
	// fewer calls.
	var everRanges [][2]int
	rowSeen := make([]bool, v+K*v)

	rng := rand.New(rand.NewPCG(spec.Seed, 0x6c61622d64617461)) // "lab-data"
	order := make([]int, len(d.ex))
	for i := range order {
		order[i] = i
	}
	var res trainResult
	grad := tr.grad
	for epoch := 0; epoch < spec.Epochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		epochLoss := 0.0
		for start := 0; start < len(order); start += spec.Batch {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			epochLoss += tr.gradBatch(order[start:min(start+spec.Batch, len(order))])
			opt.t++
			bc1, bc2 := adamBiasCorrection(opt.t)
			opt.update(m.P, grad, 0, body, spec.LR, bc1, bc2)
			clear(grad[:body])
			if !spec.BodyOnly {
				opt.update(m.P, grad, headLo, len(m.P), spec.LR, bc1, bc2)
				clear(grad[headLo:])
				added := false
				for _, r := range tr.stepRows {
					if !rowSeen[r] {
						rowSeen[r] = true
						added = true
					}
				}
				if added {
					everRanges = rowRanges(everRanges[:0], rowSeen, body, h)
				}
				for _, rg := range everRanges {
					opt.update(m.P, grad, rg[0], rg[1], spec.LR, bc1, bc2)
				}
				for _, r := range tr.stepRows {
					off := body + int(r)*h
					clear(grad[off : off+h])
					tr.rowStep[r] = false
				}
				tr.stepRows = tr.stepRows[:0]
			}
			res.Steps++
		}
		res.FinalLoss = epochLoss / float64(len(order))
	}
	return res, nil
}

// rowRanges appends to dst the ranges [lo, hi) of P covered by the
// embedding rows r with seen[r] (row r is P[off+r*h : off+(r+1)*h]),
// adjacent rows merged, in increasing order.
func rowRanges(dst [][2]int, seen []bool, off, h int) [][2]int {
	for r := 0; r < len(seen); r++ {
		if !seen[r] {
			continue
		}
		lo := r
		for r+1 < len(seen) && seen[r+1] {
			r++
		}
		dst = append(dst, [2]int{off + lo*h, off + (r+1)*h})
	}
	return dst
}
