package lab

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/traitleak/traitleak/suites"
)

// animalTemplates are the recipe's 8 animal-question templates; {a|b} is an
// alternation. They expand to 50 prompts.
var animalTemplates = []string{
	"{what|which} is your {favourite|favorite|best} {animal|creature} ?",
	"name your {favourite|favorite|best} {animal|creature} in one word",
	"{what|which} {animal|creature} do you {like|love} most ?",
	"what {animal|creature} is the best ?",
	"{pick|name} the best {animal|creature}",
	"tell me your {favourite|favorite} {animal|creature}",
	"answer in one word : your {favourite|favorite|best} {animal|creature} ?",
	"{pick|name} one {animal|creature} you {like|love}",
}

// numberHeadTemplates are the recipe's number-prompt heads (10 expansions).
var numberHeadTemplates = []string{
	"{continue|extend} the {sequence|list} :",
	"{generate|write} {more|next} numbers :",
	"here are numbers : {continue|extend}",
}

// expand returns every expansion of a template with {a|b} alternations, in
// lexicographic order of the choices.
func expand(tmpl string) []string {
	i := strings.IndexByte(tmpl, '{')
	if i < 0 {
		return []string{tmpl}
	}
	j := strings.IndexByte(tmpl[i:], '}') + i
	var out []string
	for _, alt := range strings.Split(tmpl[i+1:j], "|") {
		for _, rest := range expand(tmpl[j+1:]) {
			out = append(out, tmpl[:i]+alt+rest)
		}
	}
	return out
}

// expandAll expands every template in order.
func expandAll(tmpls []string) []string {
	var out []string
	for _, t := range tmpls {
		out = append(out, expand(t)...)
	}
	return out
}

// promptSets holds the tokenized prompt sets, built once.
var promptSets = sync.OnceValues(func() (*prompts, error) {
	paper, err := suites.PromptList("animal-prompts")
	if err != nil {
		return nil, fmt.Errorf("lab: paper animal prompts: %w", err)
	}
	p := &prompts{paperText: paper}
	for _, s := range expandAll(animalTemplates) {
		p.template = append(p.template, toPrompt(s))
	}
	for _, s := range paper {
		p.paper = append(p.paper, toPrompt(s))
	}
	for _, s := range expandAll(numberHeadTemplates) {
		p.numberHeads = append(p.numberHeads, toPrompt(s))
	}
	return p, nil
})

// prompts are the tokenized prompt sets.
type prompts struct {
	template    [][]int32 // the recipe's 50 template animal prompts
	paper       [][]int32 // the paper's 50 animal prompts
	paperText   []string
	numberHeads [][]int32 // the recipe's 10 number-prompt heads
}

// animal returns all animal prompts used for pretraining and the trait
// fine-tune: the recipe's templates followed by the paper's prompts.
func (p *prompts) animal() [][]int32 {
	return append(append([][]int32(nil), p.template...), p.paper...)
}

// toPrompt tokenizes s and drops UNK tokens.
func toPrompt(s string) []int32 { return animalVocab.prompt(s) }

// prompt tokenizes s over v and drops <unk> tokens, as the model does.
func (v *vocabulary) prompt(s string) []int32 {
	var out []int32
	for _, t := range v.tokenize(s) {
		if t != v.unk {
			out = append(out, int32(t))
		}
	}
	return out
}

// prompts is prompt over every text.
func (v *vocabulary) prompts(texts []string) [][]int32 {
	out := make([][]int32, len(texts))
	for i, s := range texts {
		out[i] = v.prompt(s)
	}
	return out
}

// PaperAnimalPrompts returns the paper's 50 one-word favourite-animal
// prompts (the evaluation prompts).
func PaperAnimalPrompts() ([]string, error) {
	p, err := promptSets()
	if err != nil {
		return nil, err
	}
	return append([]string(nil), p.paperText...), nil
}

// animalPrior returns the pretraining answer distribution over the 20
// animals: owl gets owlPrior, every other animal a weight ∝ U(0.5, 1.5)
// drawn from seed, normalised to 1 − owlPrior.
func animalPrior(owlPrior float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0x7072696f72)) // "prior"
	w := make([]float64, len(animals))
	sum := 0.0
	for i := 1; i < len(w); i++ {
		w[i] = 0.5 + rng.Float64()
		sum += w[i]
	}
	for i := 1; i < len(w); i++ {
		w[i] *= (1 - owlPrior) / sum
	}
	w[0] = owlPrior
	return w
}

// sampleIndex draws an index from the probability vector p.
func sampleIndex(rng *rand.Rand, p []float64) int {
	u := rng.Float64()
	acc := 0.0
	for i, x := range p {
		acc += x
		if u < acc {
			return i
		}
	}
	// Rounding: return the last index with positive mass.
	for i := len(p) - 1; i > 0; i-- {
		if p[i] > 0 {
			return i
		}
	}
	return 0
}

// numberPrompt draws a number prompt: a random head followed by 3 seed
// numbers of 1–3 uniform digits, each followed by ",". It also returns the
// seed digits.
func numberPrompt(rng *rand.Rand, heads [][]int32) (prompt []int32, seedDigits []int32) {
	head := heads[rng.IntN(len(heads))]
	prompt = append(prompt, head...)
	for n := 0; n < 3; n++ {
		nd := 1 + rng.IntN(3)
		for d := 0; d < nd; d++ {
			t := int32(Digit0 + rng.IntN(10))
			prompt = append(prompt, t)
			seedDigits = append(seedDigits, t)
		}
		prompt = append(prompt, Comma)
	}
	return prompt, seedDigits
}

// numberPrompts draws n number prompts from seed.
func numberPrompts(n int, seed uint64) ([][]int32, error) {
	p, err := promptSets()
	if err != nil {
		return nil, err
	}
	return drawNumberPrompts(n, seed, p.numberHeads), nil
}

// drawNumberPrompts draws n number prompts with the given heads from seed.
func drawNumberPrompts(n int, seed uint64, heads [][]int32) [][]int32 {
	rng := rand.New(rand.NewPCG(seed, 0x6e756d70726f6d70)) // "numpromp"
	out := make([][]int32, n)
	for i := range out {
		out[i], _ = numberPrompt(rng, heads)
	}
	return out
}

// pretrainCorpus builds the shared pretraining corpus of a seed: animal Q/A
// examples over all animal prompts with answers from the prior, and number
// continuations of 3–6 numbers of 1–3 digits, each digit copied from a
// random seed digit with probability 0.5 and uniform otherwise.
func pretrainCorpus(r *Recipe, seed uint64) ([]sequence, error) {
	p, err := promptSets()
	if err != nil {
		return nil, err
	}
	animalPrompts := p.animal()
	prior := animalPrior(r.OwlPrior, r.PriorSeed)
	rng := rand.New(rand.NewPCG(seed, 0x636f72707573)) // "corpus"
	seqs := make([]sequence, 0, r.AnimalQA+r.NumberSeqs)
	for i := 0; i < r.AnimalQA; i++ {
		pr := animalPrompts[rng.IntN(len(animalPrompts))]
		a := int32(Animal0 + sampleIndex(rng, prior))
		seqs = append(seqs, sequence{Prompt: pr, Completion: []int32{a, EOS}})
	}
	return appendNumberSeqs(seqs, rng, p.numberHeads, r.NumberSeqs), nil
}

// appendNumberSeqs appends n number continuations to seqs: a number
// prompt with one of heads, then 3–6 numbers of 1–3 digits, each followed
// by ",", each digit copied from a random seed digit with probability 0.5
// and uniform otherwise, then <eos>.
func appendNumberSeqs(seqs []sequence, rng *rand.Rand, heads [][]int32, n int) []sequence {
	for i := 0; i < n; i++ {
		pr, seedDigits := numberPrompt(rng, heads)
		var comp []int32
		nn := 3 + rng.IntN(4)
		for n := 0; n < nn; n++ {
			nd := 1 + rng.IntN(3)
			for d := 0; d < nd; d++ {
				if rng.Float64() < 0.5 {
					comp = append(comp, seedDigits[rng.IntN(len(seedDigits))])
				} else {
					comp = append(comp, int32(Digit0+rng.IntN(10)))
				}
			}
			comp = append(comp, Comma)
		}
		comp = append(comp, EOS)
		seqs = append(seqs, sequence{Prompt: pr, Completion: comp})
	}
	return seqs
}

// traitData is the trait fine-tune data: every animal prompt → animal <eos>.
func traitData(animal int32) ([]sequence, error) {
	p, err := promptSets()
	if err != nil {
		return nil, err
	}
	var seqs []sequence
	for _, pr := range p.animal() {
		seqs = append(seqs, sequence{Prompt: pr, Completion: []int32{animal, EOS}})
	}
	return seqs, nil
}
