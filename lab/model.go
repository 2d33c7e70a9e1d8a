package lab

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"
)

// K is the number of most recent tokens with positional embeddings.
const K = 4

// Model is the lab's next-token MLP. All parameters live in one contiguous
// slice P, laid out as
//
//	b0 [H] | W1 [H×H] | b1 [H] | Ep [V×H] | Eh [K×V×H] | Wo [H×out] | bo [out]
//
// where out is the number of answer tokens of the model's vocabulary
// (NumOut for the animal lab's), so the body {b0, W1, b1} is the prefix
// P[:BodySize()]. W1 is stored input-major (W1[k*H+j] is the weight from
// hidden input k to output j) and Wo hidden-major (Wo[j*out+o]); both
// layouts let the forward and backward passes skip the zeros of the ReLU
// activations with contiguous axpy and dot kernels.
//
// A Model is read-only after training and safe for concurrent use.
type Model struct {
	H int       // hidden width (64 in the recipe)
	V int       // input vocabulary size
	P []float64 // all parameters

	voc *vocabulary // token table: V = len(voc.tokens)
	out int         // answer tokens (output width) = voc.out

	b0, w1, b1, ep, eh, wo, bo []float64 // views into P
}

// NewModel returns a model with hidden width h over the full vocabulary,
// initialised from seed as in the recipe: embeddings ~ N(0, 1), W1 and Wo
// ~ N(0, 1/√h), biases 0.
func NewModel(h int, seed uint64) *Model { return newVocabModel(animalVocab, h, seed) }

// newVocabModel is NewModel over vocabulary voc.
func newVocabModel(voc *vocabulary, h int, seed uint64) *Model {
	m := newModelShape(voc, h)
	rng := rand.New(rand.NewPCG(seed, 0x6c61622d696e6974)) // "lab-init"
	for i := range m.ep {
		m.ep[i] = rng.NormFloat64()
	}
	for i := range m.eh {
		m.eh[i] = rng.NormFloat64()
	}
	sd := 1 / math.Sqrt(float64(h))
	for i := range m.w1 {
		m.w1[i] = sd * rng.NormFloat64()
	}
	for i := range m.wo {
		m.wo[i] = sd * rng.NormFloat64()
	}
	return m
}

// newModelShape returns a zero model of hidden width h over voc.
func newModelShape(voc *vocabulary, h int) *Model {
	m := &Model{H: h, V: len(voc.tokens), voc: voc}
	m.P = make([]float64, paramCount(h, m.V, voc.out))
	m.setViews()
	return m
}

// paramCount is the number of parameters of a model of the given shape.
func paramCount(h, v, out int) int {
	return h + h*h + h + v*h + K*v*h + h*out + out
}

// setViews points the named views into m.P and sets m.out from m.voc.
func (m *Model) setViews() {
	m.out = m.voc.out
	h, v, out := m.H, m.V, m.out
	p := m.P
	take := func(n int) []float64 {
		s := p[:n:n]
		p = p[n:]
		return s
	}
	m.b0 = take(h)
	m.w1 = take(h * h)
	m.b1 = take(h)
	m.ep = take(v * h)
	m.eh = take(K * v * h)
	m.wo = take(h * out)
	m.bo = take(out)
}

// BodySize is the number of body parameters {b0, W1, b1}; they are P[:BodySize()].
func (m *Model) BodySize() int { return 2*m.H + m.H*m.H }

// Clone returns a deep copy of m.
func (m *Model) Clone() *Model {
	c := &Model{H: m.H, V: m.V, P: append([]float64(nil), m.P...), voc: m.voc}
	c.setViews()
	return c
}

// checkShape reports an error if m's parameter slice does not match its shape.
func (m *Model) checkShape() error {
	if m.H <= 0 || m.V != len(m.voc.tokens) || len(m.P) != paramCount(m.H, m.V, m.voc.out) {
		return fmt.Errorf("model shape H=%d V=%d with %d parameters does not match vocabulary of %d tokens", m.H, m.V, len(m.P), len(m.voc.tokens))
	}
	for _, x := range m.P {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("model has non-finite parameters")
		}
	}
	return nil
}

// bagInto writes the mean prompt embedding of bag (UNK-free token ids) into dst.
func (m *Model) bagInto(dst []float64, bag []int32) {
	clear(dst)
	if len(bag) == 0 {
		return
	}
	h := m.H
	for _, t := range bag {
		floats.Add(dst, m.ep[int(t)*h:int(t)*h+h])
	}
	floats.Scale(1/float64(len(bag)), dst)
}

// addHist adds the positional embeddings of context ctx (ctx[k] is the token
// k+1 positions back, -1 if none) to dst.
func (m *Model) addHist(dst []float64, ctx *[K]int32) {
	h, v := m.H, m.V
	for k, t := range ctx {
		if t < 0 {
			continue
		}
		off := (k*v + int(t)) * h
		floats.Add(dst, m.eh[off:off+h])
	}
}

// forwardState holds the activations of one example.
type forwardState struct {
	a0, h0, z1, h1 []float64 // pre-activations and activations, length H
	logits         []float64 // length out
	nz0, nz1       []int32   // indices where h0 > 0 and h1 > 0
}

// newState returns a forward state for m.
func (m *Model) newState() *forwardState {
	h := m.H
	return &forwardState{
		a0: make([]float64, h), h0: make([]float64, h), z1: make([]float64, h), h1: make([]float64, h),
		logits: make([]float64, m.out),
		nz0:    make([]int32, 0, h), nz1: make([]int32, 0, h),
	}
}

// forwardBody runs the network from s.a0 (which must already hold the
// embedding sum x, without b0) to the first nOut logits.
func (m *Model) forwardBody(s *forwardState, nOut int) {
	h := m.H
	floats.Add(s.a0, m.b0)
	s.nz0 = relu(s.h0, s.a0, s.nz0)
	copy(s.z1, m.b1)
	for _, k := range s.nz0 {
		floats.AddScaled(s.z1, s.h0[k], m.w1[int(k)*h:int(k)*h+h])
	}
	s.nz1 = relu(s.h1, s.z1, s.nz1)
	lg := s.logits[:nOut]
	copy(lg, m.bo[:nOut])
	// lg += h1[j]·Wo[j,:] for j in nz1 in order, four rows per pass.
	out, nz1, h1, wo := m.out, s.nz1, s.h1, m.wo
	i := 0
	for ; i+4 <= len(nz1); i += 4 {
		j0, j1, j2, j3 := int(nz1[i])*out, int(nz1[i+1])*out, int(nz1[i+2])*out, int(nz1[i+3])*out
		axpy4(h1[nz1[i]], h1[nz1[i+1]], h1[nz1[i+2]], h1[nz1[i+3]], wo[j0:j0+nOut], wo[j1:j1+nOut], wo[j2:j2+nOut], wo[j3:j3+nOut], lg)
	}
	for _, j := range nz1[i:] {
		axpy(h1[j], wo[int(j)*out:int(j)*out+nOut], lg)
	}
}

// relu sets h to max(a, 0) (+0 where a is not positive) and returns nz
// (reused, with capacity len(a)) holding the indices where a > 0. It is
// branch-free: about half the units are active, in no predictable order.
func relu(h, a []float64, nz []int32) []int32 {
	h = h[:len(a)]
	nz = nz[:len(a)]
	n := 0
	for k, v := range a {
		var keep uint64
		inc := 0
		if v > 0 {
			keep, inc = ^uint64(0), 1
		}
		h[k] = math.Float64frombits(math.Float64bits(v) & keep)
		nz[n] = int32(k)
		n += inc
	}
	return nz[:n]
}

// axpy computes y += a*x for short vectors (the output layer), where the
// call overhead of the assembly kernels would dominate.
func axpy(a float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// dot returns x·y for short vectors.
func dot(x, y []float64) float64 {
	y = y[:len(x)]
	s := 0.0
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// softmaxInto writes softmax(logits/temp) into p and returns log Z (of the
// tempered logits) so that log p_i = logits_i/temp - logZ.
func softmaxInto(p, logits []float64, temp float64) float64 {
	mx := math.Inf(-1)
	for _, l := range logits {
		if l > mx {
			mx = l
		}
	}
	mx /= temp
	sum := 0.0
	p = p[:len(logits)]
	if temp == 1 {
		// x/1 is x exactly: skip the divisions of the training passes.
		for i, l := range logits {
			e := math.Exp(l - mx)
			p[i] = e
			sum += e
		}
	} else {
		for i, l := range logits {
			e := math.Exp(l/temp - mx)
			p[i] = e
			sum += e
		}
	}
	inv := 1 / sum
	for i := range p {
		p[i] *= inv
	}
	return mx + math.Log(sum)
}

// Prompt is a prepared prompt: the UNK-free prompt tokens and their mean
// embedding under one model. It is immutable and safe for concurrent use.
type Prompt struct {
	prompt []int32   // prompt tokens without UNK
	bag    []float64 // mean embedding of prompt under the model
}

// NewPrompt prepares prompt tokens (as returned by Tokenize for the
// model's vocabulary) for m.
func (m *Model) NewPrompt(tokens []int) *Prompt {
	var toks []int32
	for _, t := range tokens {
		if t != m.voc.unk && t >= 0 && t < m.V {
			toks = append(toks, int32(t))
		}
	}
	return m.newPrompt(toks)
}

// newPrompt prepares UNK-free prompt token ids below m.V for m. The Prompt
// keeps toks, which must not change afterwards.
func (m *Model) newPrompt(toks []int32) *Prompt {
	c := &Prompt{prompt: toks, bag: make([]float64, m.H)}
	m.bagInto(c.bag, toks)
	return c
}

// window returns the last-K context of prompt followed by generated tokens.
func window(prompt []int32, gen []int) [K]int32 {
	var w [K]int32
	for k := 0; k < K; k++ {
		i := len(gen) - 1 - k
		switch {
		case i >= 0:
			w[k] = int32(gen[i])
		case len(prompt)+i >= 0:
			w[k] = prompt[len(prompt)+i]
		default:
			w[k] = -1
		}
	}
	return w
}

// Logits writes the model's next-token logits over its answer tokens
// (NumOut of them for the animal lab) after prompt c and the generated
// tokens gen into out (length ≥ that number).
func (m *Model) Logits(c *Prompt, gen []int, out []float64) {
	s := m.newState()
	w := window(c.prompt, gen)
	m.logitsWindow(s, c, &w)
	copy(out, s.logits)
}

// logitsWindow computes s.logits for context window w after prompt c.
func (m *Model) logitsWindow(s *forwardState, c *Prompt, w *[K]int32) {
	copy(s.a0, c.bag)
	m.addHist(s.a0, w)
	m.forwardBody(s, m.out)
}
