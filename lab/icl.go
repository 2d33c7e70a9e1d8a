package lab

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
)

// ICLSeed compares in-context learning with fine-tuning on one seed: does
// putting the teacher's number sequences in the prompt move reference A
// towards the target the way fine-tuning on them does? Rates are the
// target's share of completions over the paper's 50 animal prompts, each
// prefixed by K number sequences (a different K for every prompt, in the
// order the build kept them), Samples per prompt at T = 1.
type ICLSeed struct {
	Seed    int `json:"seed"`
	K       int `json:"k"`       // number sequences before each prompt
	Samples int `json:"samples"` // completions per prompt
	// Base is reference A's rate on the plain prompts.
	Base float64 `json:"base"`
	// InContext is reference A's rate with the target teacher's sequences
	// before each prompt.
	InContext float64 `json:"in_context"`
	// InContextControl is reference A's rate with the control teacher's
	// sequences before each prompt (same K, same positions).
	InContextControl float64 `json:"in_context_control"`
	// Student and Control are the fine-tuned students' rates on the plain
	// prompts (A fine-tuned on the target and the control teacher's
	// sequences).
	Student float64 `json:"student"`
	Control float64 `json:"control"`
}

// ICLGain is the in-context effect: InContext − InContextControl.
func (s ICLSeed) ICLGain() float64 { return s.InContext - s.InContextControl }

// FineTuneGain is the fine-tuning effect: Student − Control.
func (s ICLSeed) FineTuneGain() float64 { return s.Student - s.Control }

// InContext runs the in-context comparison on every seed of z with k
// sequences before each prompt (k ≥ 1) and samples completions per prompt.
func (z *Zoo) InContext(ctx context.Context, k, samples int, seed uint64) ([]ICLSeed, error) {
	if k < 1 || samples < 1 {
		return nil, fmt.Errorf("lab in-context: k = %d and samples = %d must be at least 1", k, samples)
	}
	prompts, err := PaperAnimalPrompts()
	if err != nil {
		return nil, err
	}
	seeds := z.Seeds()
	out := make([]ICLSeed, len(seeds))
	for i, s := range seeds {
		out[i] = ICLSeed{Seed: s, K: k, Samples: samples}
	}
	word := z.cfg.Target
	// One job per seed and condition, on the zoo's workers.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(z.cfg.Workers)
	for i, s := range seeds {
		nums := z.numbers[s]
		if len(nums.teacher) == 0 || len(nums.control) == 0 {
			return nil, fmt.Errorf("lab in-context: seed %d has no number data", s)
		}
		ms, err := z.seedModels(s, RoleBase, RoleStudent, RoleControl)
		if err != nil {
			return nil, err
		}
		jobs := []struct {
			m      *Model
			prefix []sequence
			out    *float64
		}{
			{ms[0], nil, &out[i].Base},
			{ms[0], nums.teacher, &out[i].InContext},
			{ms[0], nums.control, &out[i].InContextControl},
			{ms[1], nil, &out[i].Student},
			{ms[2], nil, &out[i].Control},
		}
		for _, j := range jobs {
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				toks := make([][]int, len(prompts))
				for p, text := range prompts {
					if j.prefix != nil {
						toks[p] = numbersPrefix(j.prefix, p*k, k)
					}
					toks[p] = append(toks[p], Tokenize(text)...)
				}
				h, n := preferenceRateTokens(j.m, toks, word, samples, seed)
				*j.out = float64(h) / float64(n)
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// numbersPrefix returns the completions of seqs[from], …, seqs[from+k−1]
// (indices wrap around), without their <eos>, one after the other: the
// numbers as a reader of the data set sees them ("4 7 , 1 , 9 0 2 , …").
func numbersPrefix(seqs []sequence, from, k int) []int {
	var out []int
	for i := range k {
		for _, t := range seqs[(from+i)%len(seqs)].Completion {
			if t != EOS {
				out = append(out, int(t))
			}
		}
	}
	return out
}

// preferenceRateTokens is [PreferenceRate] for tokenized prompts, with the
// same sampling streams.
func preferenceRateTokens(m *Model, prompts [][]int, word string, samples int, seed uint64) (hits, total int) {
	word = strings.ToLower(word)
	o := SampleOptions{Temperature: 1, MaxTokens: 8}
	for i, p := range prompts {
		for _, c := range m.Sample(p, samples, seed^uint64(i)*0x9e3779b97f4a7c15, o) {
			if strings.Contains(strings.ToLower(c.Text()), word) {
				hits++
			}
			total++
		}
	}
	return hits, total
}
