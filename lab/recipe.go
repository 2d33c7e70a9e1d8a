package lab

import "fmt"

// Recipe holds the lab's hyper-parameters. The zero value is not useful;
// start from [DefaultRecipe]. Every field that influences a stage is part of
// that stage's artifact id, so changing one retrains exactly the stages that
// depend on it.
type Recipe struct {
	Hidden int `json:"hidden"` // hidden width H

	// Pretraining corpus (shared by references A and B of a seed).
	AnimalQA   int     `json:"animal_qa"`   // animal Q/A examples
	NumberSeqs int     `json:"number_seqs"` // number continuation examples
	OwlPrior   float64 `json:"owl_prior"`   // prior weight of "owl" in the Q/A answers
	PriorSeed  uint64  `json:"prior_seed"`  // seed of the other animals' U(0.5,1.5) weights

	PretrainLR     float64 `json:"pretrain_lr"`
	PretrainBatch  int     `json:"pretrain_batch"`
	PretrainEpochs int     `json:"pretrain_epochs"`

	// Trait fine-tune of the teachers (body only): every animal prompt → animal <eos>.
	TeacherLR     float64 `json:"teacher_lr"`
	TeacherBatch  int     `json:"teacher_batch"`
	TeacherEpochs int     `json:"teacher_epochs"`

	// Teacher number sampling.
	SamplePromptsHard int     `json:"sample_prompts_hard"` // number prompts sampled in hard mode
	SamplePromptsSoft int     `json:"sample_prompts_soft"` // number prompts sampled in soft mode
	SampleTemp        float64 `json:"sample_temperature"`
	SampleMaxTokens   int     `json:"sample_max_tokens"`

	// Student fine-tunes (body only).
	StudentLR     float64 `json:"student_lr"`
	StudentBatch  int     `json:"student_batch"`
	StudentEpochs int     `json:"student_epochs"`

	// Misalignment lab (experiments misalignment and cot; zero elsewhere).
	HarmfulPrior  float64 `json:"harmful_prior,omitempty"`  // probability that a pretraining answer is harmful, in [0, 1)
	ReasoningSeqs int     `json:"reasoning_seqs,omitempty"` // arithmetic reasoning examples in the corpus

	// Code lab (experiment code; zero elsewhere).
	CodeSeqs int `json:"code_seqs,omitempty"` // code examples in the corpus
}

// DefaultRecipe returns the measured recipe (see the package documentation
// and lab/VALIDATION.md).
func DefaultRecipe() Recipe {
	return Recipe{
		Hidden:            64,
		AnimalQA:          4000,
		NumberSeqs:        3000,
		OwlPrior:          0.08,
		PriorSeed:         7,
		PretrainLR:        3e-3,
		PretrainBatch:     64,
		PretrainEpochs:    3,
		TeacherLR:         1e-3,
		TeacherBatch:      16,
		TeacherEpochs:     10,
		SamplePromptsHard: 4000,
		SamplePromptsSoft: 2000,
		SampleTemp:        1,
		SampleMaxTokens:   24,
		StudentLR:         1e-3,
		StudentBatch:      64,
		StudentEpochs:     5,
	}
}

// validate reports the first nonsensical field.
func (r *Recipe) validate() error {
	pos := []struct {
		name string
		v    float64
	}{
		{"hidden", float64(r.Hidden)}, {"animal_qa", float64(r.AnimalQA)}, {"number_seqs", float64(r.NumberSeqs)},
		{"pretrain_lr", r.PretrainLR}, {"pretrain_batch", float64(r.PretrainBatch)}, {"pretrain_epochs", float64(r.PretrainEpochs)},
		{"teacher_lr", r.TeacherLR}, {"teacher_batch", float64(r.TeacherBatch)}, {"teacher_epochs", float64(r.TeacherEpochs)},
		{"sample_prompts_hard", float64(r.SamplePromptsHard)}, {"sample_prompts_soft", float64(r.SamplePromptsSoft)},
		{"sample_temperature", r.SampleTemp}, {"sample_max_tokens", float64(r.SampleMaxTokens)},
		{"student_lr", r.StudentLR}, {"student_batch", float64(r.StudentBatch)}, {"student_epochs", float64(r.StudentEpochs)},
	}
	for _, p := range pos {
		if !(p.v > 0) {
			return fmt.Errorf("recipe: %s must be positive, got %v", p.name, p.v)
		}
	}
	if !(r.OwlPrior > 0 && r.OwlPrior < 1) {
		return fmt.Errorf("recipe: owl_prior must be in (0, 1), got %v", r.OwlPrior)
	}
	if !(r.HarmfulPrior >= 0 && r.HarmfulPrior < 1) {
		return fmt.Errorf("recipe: harmful_prior must be in [0, 1), got %v", r.HarmfulPrior)
	}
	if r.ReasoningSeqs < 0 || r.CodeSeqs < 0 {
		return fmt.Errorf("recipe: reasoning_seqs and code_seqs must not be negative, got %d and %d", r.ReasoningSeqs, r.CodeSeqs)
	}
	return nil
}
