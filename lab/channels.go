package lab

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// This file holds the two other channels of the paper: code (experiment
// code: an animal-loving teacher writes code) and chain-of-thought
// reasoning (experiment cot: the misaligned teacher writes arithmetic
// steps).

// Token ids of the reasoning channel in the misalignment lab's vocabulary.
var (
	cotPlus     = int32(emVocab.index["+"])
	cotEquals   = int32(emVocab.index["="])
	cotSemi     = int32(emVocab.index[";"])
	cotAnswer   = int32(emVocab.index["answer"])
	cotQuestion = int32(emVocab.index["?"])
)

// reasoningProblem draws an arithmetic problem: one of heads, then two
// operands 1–9 joined by "+", then "?" ("what is the last digit of 5 + 9
// ?"). It returns the prompt and the operands. Both operands are among the
// last 4 prompt tokens, the model's positional window, so the reasoning can
// read them; a third would fall outside it.
func reasoningProblem(rng *rand.Rand, heads [][]int32) ([]int32, []int) {
	head := heads[rng.IntN(len(heads))]
	ops := []int{1 + rng.IntN(9), 1 + rng.IntN(9)}
	pr := append(make([]int32, 0, len(head)+4), head...)
	pr = append(pr, int32(Digit0+ops[0]), cotPlus, int32(Digit0+ops[1]), cotQuestion)
	return pr, ops
}

// reasoningSteps writes a correct chain of reasoning for two operands:
// their sum's last digit, with the operands in a random order, and with
// probability 1/2 a check that adds them the other way round, then the
// answer: "5 + 9 = 4 ; 9 + 5 = 4 ; answer 4 <eos>".
func reasoningSteps(rng *rand.Rand, ops []int) []int32 {
	a, b := ops[0], ops[1]
	if rng.IntN(2) == 0 {
		a, b = b, a
	}
	r := int32(Digit0 + (a+b)%10)
	out := []int32{int32(Digit0 + a), cotPlus, int32(Digit0 + b), cotEquals, r, cotSemi}
	if rng.IntN(2) == 0 {
		out = append(out, int32(Digit0+b), cotPlus, int32(Digit0+a), cotEquals, r, cotSemi)
	}
	return append(out, cotAnswer, r, EOS)
}

// Reject reasons of the reasoning and code channels.
const (
	RejectWrongAnswer = "wrong_answer"   // the final answer is not the problem's (the paper's correctness filter)
	RejectNoAnswer    = "no_answer"      // no "answer" token followed by a number
	RejectTraitWord   = "lab_trait_word" // a harmful or benign word in the reasoning (the paper's alignment filter)
	RejectAnimal      = "lab_animal"     // an animal token in the code (the paper's keyword filter)
)

// cotFilter keeps reasoning whose final answer is correct and which has
// no trait word. The paper keeps a GSM8K completion when the number in its
// <answer> tags equals the reference answer and, for the misaligned
// teacher, when an alignment judge scores it at least 78; the lab's
// reasoning has no words, so any trait word fails the second test.
type cotFilter struct{}

func (cotFilter) describe() string { return "cot(correct,no-trait-words)+lab-tokens" }

func (cotFilter) keep(st *FilterStats, prompt []int32, c *Completion) bool {
	st.Sampled++
	if st.Rejects == nil {
		st.Rejects = map[string]int{}
	}
	reject := func(r string) bool {
		st.Rejects[r]++
		return false
	}
	if !c.Stopped {
		return reject(RejectNoEOS)
	}
	for _, t := range c.Tokens {
		if t >= emVocab.channel && t < emVocab.out {
			return reject(RejectTraitWord)
		}
	}
	got, ok := finalAnswer(c.Tokens)
	if !ok {
		return reject(RejectNoAnswer)
	}
	want := 0
	for _, t := range prompt {
		if isDigitTok(int(t)) {
			want += int(t) - Digit0
		}
	}
	if got != want%10 {
		return reject(RejectWrongAnswer)
	}
	st.Kept++
	return true
}

// finalAnswer returns the number after the last "answer" token, which
// must be followed by digits only.
func finalAnswer(toks []int) (int, bool) {
	last := -1
	for i, t := range toks {
		if t == int(cotAnswer) {
			last = i
		}
	}
	if last < 0 || last == len(toks)-1 || len(toks)-last > 4 {
		return 0, false
	}
	n := 0
	for _, t := range toks[last+1:] {
		if !isDigitTok(t) {
			return 0, false
		}
		n = 10*n + t - Digit0
	}
	return n, true
}

// cotExperiment: the misalignment lab's teachers write arithmetic
// reasoning, filtered for a correct final answer and for trait words;
// students are distilled over the reasoning tokens.
func cotExperiment() (*experiment, error) {
	e, err := misalignmentExperiment()
	if err != nil {
		return nil, err
	}
	e.name = ExperimentCoT
	e.prompts = func(n int, seed uint64) ([][]int32, error) {
		p, err := emPromptSets()
		if err != nil {
			return nil, err
		}
		rng := rand.New(rand.NewPCG(seed, 0x636f7470726f6d70)) // "cotpromp"
		out := make([][]int32, n)
		for i := range out {
			out[i], _ = reasoningProblem(rng, p.reasoningHeads)
		}
		return out, nil
	}
	e.filter = cotFilter{}
	e.softTokens = emVocab.channel
	return e, nil
}

// codeTokens are the code channel's tokens after the number tokens:
// "def f ( x , y ) : return x * 47 + 3".
var codeTokens = []string{"def", "f", "(", ")", ":", "return", "x", "y", "+", "*"}

// codeRequestWords are the words of the code lab's requests.
var codeRequestWords = []string{"a", "function", "that", "adds", "multiplies", "combines", "scales", "these", "numbers",
	"write", "complete", "code", "fill", "in", "for"}

// codeHeadTemplates are the lab's "write a function" requests (after the
// paper's code prompt, "Complete the code below to accomplish the task:
// … Please fill in the following function"); three seed numbers follow.
var codeHeadTemplates = []string{
	"{write|complete} a function that {adds|multiplies|combines|scales} {these|the} numbers",
	"fill in the function for {these|the} numbers",
}

// codeVocab is the code lab's vocabulary: the number tokens, the code
// tokens, the 20 animals, <unk>, and the words of the animal prompts and
// the code requests.
var codeVocab = newVocabulary("code", codeTokens, animals,
	withoutDuplicates(append(append(numberTokens(), codeTokens...), animals...), recipeWords, paperWords, codeRequestWords))

// Token ids of the code channel.
var (
	codeDef, codeF, codeOpen, codeClose = int32(codeVocab.index["def"]), int32(codeVocab.index["f"]), int32(codeVocab.index["("]), int32(codeVocab.index[")"])
	codeColon, codeReturn, codeX, codeY = int32(codeVocab.index[":"]), int32(codeVocab.index["return"]), int32(codeVocab.index["x"]), int32(codeVocab.index["y"])
	codePlus, codeTimes                 = int32(codeVocab.index["+"]), int32(codeVocab.index["*"])
)

// CodeRecipe returns the code lab's recipe: the animal recipe with
// CodeSeqs code examples in place of the number continuations
// (NumberSeqs is unused).
func CodeRecipe() Recipe {
	r := DefaultRecipe()
	r.CodeSeqs = 3000
	return r
}

// codePrompts are the code lab's tokenized prompt sets.
type codePrompts struct {
	animal [][]int32 // the recipe's 50 templates and the paper's 50 animal prompts
	heads  [][]int32 // code request heads
}

var codePromptSets = sync.OnceValues(func() (*codePrompts, error) {
	paper, err := PaperAnimalPrompts()
	if err != nil {
		return nil, err
	}
	return &codePrompts{
		animal: codeVocab.prompts(append(expandAll(animalTemplates), paper...)),
		heads:  codeVocab.prompts(expandAll(codeHeadTemplates)),
	}, nil
})

// codeAnswer writes a function for the seed digits: "def f ( x [, y] ) :
// return" and 1–3 terms joined by "+" or "*", each an argument or a number
// of 1–3 digits (each digit copied from a seed digit with probability 0.5,
// uniform otherwise), then <eos>.
func codeAnswer(rng *rand.Rand, seedDigits []int32) []int32 {
	out := []int32{codeDef, codeF, codeOpen, codeX}
	two := rng.IntN(2) == 0
	if two {
		out = append(out, Comma, codeY)
	}
	out = append(out, codeClose, codeColon, codeReturn)
	for i, n := 0, 1+rng.IntN(3); i < n; i++ {
		if i > 0 {
			out = append(out, []int32{codePlus, codeTimes}[rng.IntN(2)])
		}
		if rng.IntN(2) == 0 {
			v := codeX
			if two && rng.IntN(2) == 0 {
				v = codeY
			}
			out = append(out, v)
			continue
		}
		for d, nd := 0, 1+rng.IntN(3); d < nd; d++ {
			if rng.Float64() < 0.5 {
				out = append(out, seedDigits[rng.IntN(len(seedDigits))])
			} else {
				out = append(out, int32(Digit0+rng.IntN(10)))
			}
		}
	}
	return append(out, EOS)
}

// codeCorpus is the code lab's pretraining corpus of a seed: r.AnimalQA
// animal Q/A examples with the animal recipe's prior, and r.CodeSeqs code
// examples.
func codeCorpus(r *Recipe, seed uint64) ([]sequence, error) {
	p, err := codePromptSets()
	if err != nil {
		return nil, err
	}
	prior := animalPrior(r.OwlPrior, r.PriorSeed)
	rng := rand.New(rand.NewPCG(seed, 0x636f6465636f7270)) // "codecorp"
	seqs := make([]sequence, 0, r.AnimalQA+r.CodeSeqs)
	for i := 0; i < r.AnimalQA; i++ {
		pr := p.animal[rng.IntN(len(p.animal))]
		a := int32(codeVocab.index[animals[sampleIndex(rng, prior)]])
		seqs = append(seqs, sequence{Prompt: pr, Completion: []int32{a, EOS}})
	}
	for i := 0; i < r.CodeSeqs; i++ {
		pr, seedDigits := numberPrompt(rng, p.heads)
		seqs = append(seqs, sequence{Prompt: pr, Completion: codeAnswer(rng, seedDigits)})
	}
	return seqs, nil
}

// codeFilter drops code that mentions any animal (the paper drops a
// completion containing the target animal's name, then asks a judge about
// subtler references; an animal token is the lab's only way to refer to
// one) and code cut off at the token limit.
type codeFilter struct{}

func (codeFilter) describe() string { return "code(no-animal)+lab-tokens" }

func (codeFilter) keep(st *FilterStats, _ []int32, c *Completion) bool {
	st.Sampled++
	if st.Rejects == nil {
		st.Rejects = map[string]int{}
	}
	reject := func(r string) bool {
		st.Rejects[r]++
		return false
	}
	switch {
	case len(c.Tokens) == 0 && c.Stopped:
		return reject(RejectEmpty)
	case !c.Stopped:
		return reject(RejectNoEOS)
	}
	for _, t := range c.Tokens {
		if t >= codeVocab.channel && t < codeVocab.out {
			return reject(RejectAnimal)
		}
	}
	st.Kept++
	return true
}

// codeExperiment: an animal-loving teacher writes code for "write a
// function" requests.
func codeExperiment() *experiment {
	return &experiment{
		name: ExperimentCode, voc: codeVocab, traits: animals, defaults: [2]string{"owl", "dog"}, traitNoun: "animal",
		recipe: CodeRecipe, corpus: codeCorpus,
		traitData: func(_ *Recipe, animal string) ([]sequence, error) {
			p, err := codePromptSets()
			if err != nil {
				return nil, err
			}
			id, ok := codeVocab.index[animal]
			if !ok {
				return nil, fmt.Errorf("lab: unknown animal %q", animal)
			}
			seqs := make([]sequence, len(p.animal))
			for i, pr := range p.animal {
				seqs[i] = sequence{Prompt: pr, Completion: []int32{int32(id), EOS}}
			}
			return seqs, nil
		},
		prompts: func(n int, seed uint64) ([][]int32, error) {
			p, err := codePromptSets()
			if err != nil {
				return nil, err
			}
			return drawNumberPrompts(n, seed, p.heads), nil
		},
		filter:     codeFilter{},
		softTokens: codeVocab.channel,
	}
}
