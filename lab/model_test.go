package lab

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// gradFixture is a small model and dataset for gradient checks.
func gradFixture(t *testing.T, soft bool) (*Model, *dataset) {
	t.Helper()
	m := NewModel(6, 3)
	// Non-zero biases and output weights so every parameter matters.
	rng := rand.New(rand.NewPCG(9, 9))
	for _, p := range [][]float64{m.b0, m.b1, m.bo} {
		for i := range p {
			p[i] = 0.3 * rng.NormFloat64()
		}
	}
	seqs := []sequence{
		{Prompt: []int32{int32(Animal0 + 1), firstWrd, firstWrd + 5}, Completion: []int32{Animal0, EOS}},
		{Prompt: []int32{firstWrd + 2, Digit0 + 4, Comma}, Completion: []int32{Digit0 + 7, Digit0 + 1, Comma, EOS}},
		{Prompt: []int32{firstWrd + 9}, Completion: []int32{Comma, Animal0 + 3}},
	}
	d := newDataset(seqs)
	if soft {
		d.soft, d.softN = make([]float64, NumTok*len(d.ex)), NumTok
		for i := range d.ex {
			q := d.soft[i*NumTok : (i+1)*NumTok]
			sum := 0.0
			for o := range q {
				q[o] = rng.Float64()
				sum += q[o]
			}
			for o := range q {
				q[o] /= sum
			}
		}
	}
	return m, d
}

// meanLoss is the mean loss of m on every example of d under spec.
func meanLoss(m *Model, d *dataset, spec trainSpec) float64 {
	idx := make([]int, len(d.ex))
	for i := range idx {
		idx[i] = i
	}
	return newTrainer(m, d, spec).gradBatch(idx) / float64(len(idx))
}

func TestGradientCheck(t *testing.T) {
	tests := []struct {
		name string
		spec trainSpec
	}{
		// Pretraining: every parameter, full softmax over the answer tokens.
		{"full", trainSpec{}},
		// Teacher and hard student: body only, full softmax.
		{"body-hard", trainSpec{BodyOnly: true}},
		// Soft student: body only, softmax restricted to the number tokens, soft targets.
		{"body-soft", trainSpec{BodyOnly: true, Soft: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, d := gradFixture(t, tc.spec.Soft)
			idx := make([]int, len(d.ex))
			for i := range idx {
				idx[i] = i
			}
			tr := newTrainer(m, d, tc.spec)
			tr.gradBatch(idx)
			analytic := append([]float64(nil), tr.grad...)
			const eps = 1e-6
			// Under the race detector check every 5th parameter (about 10× slower otherwise).
			stride := 1
			if raceEnabled {
				stride = 5
			}
			checked := 0
			for i := 0; i < len(m.P); i += stride {
				if tc.spec.BodyOnly && i >= m.BodySize() {
					if analytic[i] != 0 {
						t.Fatalf("frozen parameter %d has gradient %g", i, analytic[i])
					}
					continue
				}
				orig := m.P[i]
				m.P[i] = orig + eps
				up := meanLoss(m, d, tc.spec)
				m.P[i] = orig - eps
				down := meanLoss(m, d, tc.spec)
				m.P[i] = orig
				numeric := (up - down) / (2 * eps)
				diff := math.Abs(numeric - analytic[i])
				if diff > 1e-7 && diff > 1e-5*(math.Abs(numeric)+math.Abs(analytic[i])) {
					t.Errorf("param %d: analytic %.9g, numeric %.9g", i, analytic[i], numeric)
				}
				if analytic[i] != 0 {
					checked++
				}
			}
			// Guard against a vacuous pass: most used parameters must have a gradient.
			if checked < m.BodySize()/(2*stride) {
				t.Errorf("only %d parameters with non-zero gradient", checked)
			}
		})
	}
}

func TestTrainReducesLossAndIsDeterministic(t *testing.T) {
	r := DefaultRecipe()
	r.AnimalQA, r.NumberSeqs = 300, 200
	corpus, err := pretrainCorpus(&r, 5)
	if err != nil {
		t.Fatal(err)
	}
	d := newDataset(corpus)
	spec := trainSpec{LR: 3e-3, Batch: 64, Epochs: 2, Seed: 5}
	a, b := NewModel(16, 1), NewModel(16, 1)
	before := meanLoss(a, d, spec)
	if _, err := train(context.Background(), a, d, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := train(context.Background(), b, d, spec); err != nil {
		t.Fatal(err)
	}
	if after := meanLoss(a, d, spec); !(after < before-0.5) {
		t.Errorf("loss %.3f → %.3f, want a clear decrease", before, after)
	}
	if !slices.Equal(a.P, b.P) {
		t.Error("two identical training runs gave different parameters")
	}
}

func TestBodyOnlyTrainingFreezesEmbeddingsAndHead(t *testing.T) {
	m := NewModel(16, 2)
	orig := m.Clone()
	seqs, err := traitData(Animal0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := train(context.Background(), m, newDataset(seqs), trainSpec{LR: 1e-3, Batch: 16, Epochs: 2, BodyOnly: true}); err != nil {
		t.Fatal(err)
	}
	body := m.BodySize()
	if slices.Equal(m.P[:body], orig.P[:body]) {
		t.Error("body did not change")
	}
	if !slices.Equal(m.P[body:], orig.P[body:]) {
		t.Error("embeddings or output layer changed in a body-only fine-tune")
	}
}

func TestTrainCancellation(t *testing.T) {
	r := DefaultRecipe()
	corpus, err := pretrainCorpus(&r, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = train(ctx, NewModel(64, 1), newDataset(corpus), trainSpec{LR: 1e-3, Batch: 64, Epochs: 3})
	if err != context.Canceled {
		t.Errorf("train with a cancelled context returned %v", err)
	}
}

func TestSampleDeterminismAndGreedy(t *testing.T) {
	m := NewModel(16, 4)
	prompt := Tokenize("What's your favorite animal?")
	o := SampleOptions{Temperature: 1, MaxTokens: 6, Logprobs: true, TopLogprobs: 3}
	a := m.Sample(prompt, 5, 42, o)
	b := m.Sample(prompt, 3, 42, o)
	for i := range b {
		if !slices.Equal(a[i].Tokens, b[i].Tokens) {
			t.Errorf("choice %d depends on n: %v vs %v", i, a[i].Tokens, b[i].Tokens)
		}
	}
	// Greedy decoding picks the arg-max, which is the top-1 alternative.
	g := m.Sample(prompt, 2, 1, SampleOptions{Temperature: 0, MaxTokens: 4, Logprobs: true, TopLogprobs: 1})
	if !slices.Equal(g[0].Tokens, g[1].Tokens) {
		t.Error("greedy choices differ")
	}
	for _, lp := range g[0].Logprobs {
		if lp.Top[0].Token != lp.Token || lp.Top[0].Logprob != lp.Logprob {
			t.Errorf("greedy token %d is not the top alternative %+v", lp.Token, lp.Top[0])
		}
	}
	// Log-probabilities are normalised over the answer tokens.
	var l [NumOut]float64
	m.Logits(m.NewPrompt(prompt), nil, l[:])
	total := 0.0
	lz := logSumExp(l[:])
	for _, x := range l {
		total += math.Exp(x - lz)
	}
	if math.Abs(total-1) > 1e-12 {
		t.Errorf("probabilities sum to %v", total)
	}
}

func TestTopPRestrictsToNucleus(t *testing.T) {
	m := NewModel(16, 4)
	prompt := Tokenize("name one animal")
	var l [NumOut]float64
	m.Logits(m.NewPrompt(prompt), nil, l[:])
	best := 0
	for i := range l {
		if l[i] > l[best] {
			best = i
		}
	}
	// With a tiny top_p only the most likely token is in the nucleus.
	cs := m.Sample(prompt, 50, 7, SampleOptions{Temperature: 1, TopP: 1e-9, MaxTokens: 1})
	for _, c := range cs {
		if got := append(c.Tokens, EOS)[0]; got != best {
			t.Fatalf("top_p=1e-9 sampled %d, want the arg-max %d", got, best)
		}
	}
}

func TestOrderDescending(t *testing.T) {
	// Descending by value, ties by ascending index, as sort.Slice with the
	// same ordering (the order it replaced), on vectors with many ties.
	rng := rand.New(rand.NewPCG(5, 5))
	for trial := 0; trial < 200; trial++ {
		v := make([]float64, NumOut)
		for i := range v {
			v[i] = float64(rng.IntN(1 + trial%7))
		}
		if trial%3 == 0 {
			for i := range v {
				v[i] = rng.NormFloat64()
			}
		}
		got := make([]int, NumOut)
		orderDescending(got, v)
		want := make([]int, NumOut)
		for i := range want {
			want[i] = i
		}
		sort.Slice(want, func(a, b int) bool {
			if v[want[a]] != v[want[b]] {
				return v[want[a]] > v[want[b]]
			}
			return want[a] < want[b]
		})
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: orderDescending = %v, want %v", trial, got, want)
		}
	}
	var ord [NumOut]int
	v := make([]float64, NumOut)
	if n := testing.AllocsPerRun(100, func() { orderDescending(ord[:], v) }); n != 0 {
		t.Errorf("orderDescending allocates %v times per call", n)
	}
}
