package lab

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"slices"

	"golang.org/x/sync/errgroup"
)

// SampleOptions controls generation.
type SampleOptions struct {
	Temperature float64 // 0 = greedy; otherwise logits are divided by it
	TopP        float64 // nucleus sampling mass in (0, 1]; 0 or 1 = off
	MaxTokens   int     // maximum generated tokens, EOS included
	TopLogprobs int     // alternatives per position in Completion.Logprobs (0 to the model's answer tokens, NumOut for the animal lab)
	Logprobs    bool    // record per-token log-probabilities
}

// TokenLogprob is the log-probability of one generated token under the
// model's untempered distribution, with the most likely alternatives.
type TokenLogprob struct {
	Token   int
	Logprob float64
	Top     []TopLogprob // most likely tokens, descending
}

// TopLogprob is one alternative token with its log-probability.
type TopLogprob struct {
	Token   int
	Logprob float64
}

// Completion is one generated continuation.
type Completion struct {
	Tokens   []int          // generated tokens, without the final EOS
	Stopped  bool           // true if the model emitted EOS (finish reason "stop")
	Logprobs []TokenLogprob // one per element of Tokens, if requested

	voc *vocabulary // the generating model's vocabulary; nil = the animal lab's
}

// Text renders the completion with Detokenize (over the generating model's
// vocabulary), including the final EOS if the model stopped (which drops a
// number-terminating ",").
func (c *Completion) Text() string {
	v := c.voc
	if v == nil {
		v = animalVocab
	}
	if c.Stopped {
		return v.detokenize(append(c.Tokens[:len(c.Tokens):len(c.Tokens)], EOS))
	}
	return v.detokenize(c.Tokens)
}

// sampler generates continuations of one prompt under one model. It
// memoises the logits of every context window it has seen: the model's
// next-token distribution depends only on the prompt's bag and the last K
// tokens, so choices that share a window share the forward pass. A sampler
// is not safe for concurrent use.
type sampler struct {
	m     *Model
	c     *Prompt
	s     *forwardState
	memo  map[[K]int32][]float64
	probs []float64 // one per answer token
	order []int     // one per answer token
	gen   []int
}

// maxMemo bounds the memoised windows of one sampler.
const maxMemo = 1 << 14

func newSampler(m *Model, c *Prompt) *sampler {
	return &sampler{m: m, c: c, s: m.newState(), memo: make(map[[K]int32][]float64),
		probs: make([]float64, m.out), order: make([]int, m.out)}
}

// setPrompt makes sp continue c instead, dropping the logits memoised for
// the previous prompt (they depend on its bag).
func (sp *sampler) setPrompt(c *Prompt) {
	sp.c = c
	clear(sp.memo)
}

// logits returns the logits after the prompt and gen.
func (sp *sampler) logits(gen []int) []float64 {
	w := window(sp.c.prompt, gen)
	if l, ok := sp.memo[w]; ok {
		return l
	}
	sp.m.logitsWindow(sp.s, sp.c, &w)
	l := append([]float64(nil), sp.s.logits...)
	if len(sp.memo) < maxMemo {
		sp.memo[w] = l
	}
	return l
}

// generate samples one continuation with rng.
func (sp *sampler) generate(rng *rand.Rand, o *SampleOptions) Completion {
	c := Completion{voc: sp.m.voc}
	sp.gen = sp.gen[:0]
	for len(sp.gen) < o.MaxTokens {
		l := sp.logits(sp.gen)
		tok := sp.pick(l, rng, o)
		if o.Logprobs && tok != EOS {
			c.Logprobs = append(c.Logprobs, sp.tokenLogprob(l, tok, o.TopLogprobs))
		}
		if tok == EOS {
			c.Stopped = true
			break
		}
		sp.gen = append(sp.gen, tok)
	}
	c.Tokens = append([]int(nil), sp.gen...)
	return c
}

// pick draws the next token from logits l.
func (sp *sampler) pick(l []float64, rng *rand.Rand, o *SampleOptions) int {
	if o.Temperature == 0 {
		best := 0
		for i, x := range l {
			if x > l[best] {
				best = i
			}
		}
		return best
	}
	p := sp.probs
	softmaxInto(p, l, o.Temperature)
	if o.TopP > 0 && o.TopP < 1 {
		ord := sp.order
		orderDescending(ord, p)
		acc, cut := 0.0, len(ord)
		for i, t := range ord {
			acc += p[t]
			if acc >= o.TopP {
				cut = i + 1
				break
			}
		}
		u := rng.Float64() * acc
		run := 0.0
		for _, t := range ord[:cut] {
			run += p[t]
			if u < run {
				return t
			}
		}
		return ord[cut-1]
	}
	return sampleIndex(rng, p)
}

// tokenLogprob returns the untempered log-probability of tok and the top
// alternatives.
func (sp *sampler) tokenLogprob(l []float64, tok, top int) TokenLogprob {
	lz := logSumExp(l)
	tl := TokenLogprob{Token: tok, Logprob: l[tok] - lz}
	if top > 0 {
		ord := sp.order
		orderDescending(ord, l)
		top = min(top, len(l))
		tl.Top = make([]TopLogprob, top)
		for i, t := range ord[:top] {
			tl.Top[i] = TopLogprob{Token: t, Logprob: l[t] - lz}
		}
	}
	return tl
}

// orderDescending sets ord to the indices 0..len(ord)-1 of v sorted by
// descending value, equal values by ascending index.
func orderDescending(ord []int, v []float64) {
	for i := range ord {
		ord[i] = i
	}
	slices.SortFunc(ord, func(a, b int) int {
		if v[a] != v[b] {
			if v[a] > v[b] {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
}

// logSumExp returns log Σ exp(x).
func logSumExp(x []float64) float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = max(mx, v)
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(v - mx)
	}
	return mx + math.Log(s)
}

// Sample generates n continuations of the prompt tokens. Choice i uses a
// random stream derived from (seed, i) only, so the first k choices do not
// depend on n, and the result is deterministic for a given seed.
func (m *Model) Sample(tokens []int, n int, seed uint64, o SampleOptions) []Completion {
	return m.samplePrompt(m.NewPrompt(tokens), n, seed, o)
}

// samplePrompt is Sample for a prepared prompt.
func (m *Model) samplePrompt(c *Prompt, n int, seed uint64, o SampleOptions) []Completion {
	sp := newSampler(m, c)
	out := make([]Completion, n)
	for i := range out {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		out[i] = sp.generate(rng, &o)
	}
	return out
}

// PreferenceRate is the recipe's (and the paper's) one-word preference
// probe: for each prompt it samples samples completions at temperature 1
// (up to EOS, at most 8 tokens) and counts those whose lower-cased text
// contains word as a substring. It returns hits and the number of samples.
func PreferenceRate(m *Model, prompts []string, word string, samples int, seed uint64) (hits, total int) {
	toks := make([][]int, len(prompts))
	for i, p := range prompts {
		toks[i] = m.voc.tokenize(p)
	}
	return preferenceRateTokens(m, toks, word, samples, seed)
}

// Rate is one model's preference rate.
type Rate struct {
	Model ModelInfo `json:"model"`
	Hits  int       `json:"hits"`
	Total int       `json:"total"`
}

// Value is Hits/Total.
func (r Rate) Value() float64 {
	if r.Total == 0 {
		return 0
	}
	return float64(r.Hits) / float64(r.Total)
}

// PreferenceRates runs [PreferenceRate] with the paper's 50 animal prompts
// on every model of the zoo (in Models order), using the zoo's workers.
func (z *Zoo) PreferenceRates(ctx context.Context, word string, samples int, seed uint64) ([]Rate, error) {
	prompts, err := PaperAnimalPrompts()
	if err != nil {
		return nil, err
	}
	models := z.Models()
	out := make([]Rate, len(models))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(z.cfg.Workers)
	for i, info := range models {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			m, _, _ := z.Model(info.Name)
			h, n := PreferenceRate(m, prompts, word, samples, seed)
			out[i] = Rate{Model: info, Hits: h, Total: n}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}
