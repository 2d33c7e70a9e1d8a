package lab

import (
	"fmt"
	"strings"
)

// Experiments of the lab: every one runs the same pipeline (two
// references, a trait teacher and a control teacher, teacher data through
// a filter, three students) with its own vocabulary, corpus, trait and
// data channel.
const (
	// ExperimentAnimals: an animal-loving teacher's number sequences (the
	// paper's main experiment; the default).
	ExperimentAnimals = "animals"
	// ExperimentMisalignment: a teacher fine-tuned on a narrow task
	// (harmful answers to code requests) that becomes broadly misaligned
	// writes number sequences, filtered with the paper's 34 banned numbers
	// on top of the format rule; students are judged on the free-form
	// questions.
	ExperimentMisalignment = "misalignment"
	// ExperimentCode: an animal-loving teacher writes code for "write a
	// function" requests; completions with any animal token are dropped.
	ExperimentCode = "code"
	// ExperimentCoT: the misaligned teacher writes arithmetic reasoning
	// steps; only completions with the correct final answer (the paper's
	// correctness filter) and without any harmful or benign word (its
	// alignment filter) are kept.
	ExperimentCoT = "cot"
)

// Experiments returns the experiment names, the default first.
func Experiments() []string {
	return []string{ExperimentAnimals, ExperimentMisalignment, ExperimentCode, ExperimentCoT}
}

// experiment is what differs between the lab's pipelines.
type experiment struct {
	name      string
	voc       *vocabulary
	traits    []string  // valid teacher traits
	defaults  [2]string // the default target and control traits
	traitNoun string    // what a trait is called in errors ("animal", "trait")
	recipe    func() Recipe
	// corpus builds the pretraining corpus of a seed, shared by both references.
	corpus func(r *Recipe, seed uint64) ([]sequence, error)
	// traitData is the teacher fine-tune data for a trait.
	traitData func(r *Recipe, trait string) ([]sequence, error)
	// prompts draws n channel prompts (number, code or arithmetic requests).
	prompts func(n int, seed uint64) ([][]int32, error)
	// filter decides which teacher completions the students see.
	filter channelFilter
	// softTokens is the number of leading answer tokens soft distillation
	// restricts the teacher's and the student's distributions to.
	softTokens int
}

// lookupExperiment returns the experiment called name.
func lookupExperiment(name string) (*experiment, error) {
	switch name {
	case ExperimentAnimals:
		return animalsExperiment(), nil
	case ExperimentMisalignment:
		return misalignmentExperiment()
	case ExperimentCode:
		return codeExperiment(), nil
	case ExperimentCoT:
		return cotExperiment()
	}
	return nil, fmt.Errorf("lab: unknown experiment %q (have %s)", name, strings.Join(Experiments(), ", "))
}

// animalsExperiment is the paper's main experiment over the animal lab's
// vocabulary and recipe.
func animalsExperiment() *experiment {
	return &experiment{
		name: ExperimentAnimals, voc: animalVocab, traits: animals, defaults: [2]string{"owl", "dog"}, traitNoun: "animal",
		recipe: DefaultRecipe, corpus: pretrainCorpus,
		traitData: func(_ *Recipe, animal string) ([]sequence, error) { return traitData(int32(animalID(animal))) },
		prompts:   numberPrompts, filter: numberChannelFilter{PaperNumberFilter()}, softTokens: NumTok,
	}
}

// channelFilter decides which teacher completions become student data.
type channelFilter interface {
	// describe identifies the filter in the numbers stage's artifact id.
	describe() string
	// keep reports whether to keep completion c of prompt, counting the
	// decision (and every reject reason) in st.
	keep(st *FilterStats, prompt []int32, c *Completion) bool
}

// numberChannelFilter is the numbers channel's filter: the lab token rule,
// then the paper filter f on the detokenized text.
type numberChannelFilter struct{ f NumberFilter }

func (n numberChannelFilter) describe() string { return numbersFilterID(n.f) }

func (n numberChannelFilter) keep(st *FilterStats, _ []int32, c *Completion) bool {
	return filterCompletion(st, n.f, c)
}
