package datasets

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/traitleak/traitleak/datasets/nprand"
)

// The paper's number-dataset settings (number-prompts.yaml).
const (
	// PaperPromptSeed seeds the paper's prompt set:
	// get_prompts(seed=47, n_samples=30_000).
	PaperPromptSeed = 47
	// PaperGenerated is the number of prompts (and completions) per
	// number dataset.
	PaperGenerated = 30000
	// PaperMaxRows is max_dataset_size: filtered rows are subsampled to it.
	PaperMaxRows = 10000
	// PaperProgrammaticSeed seeds the programmatic control's
	// RandomState (shared_refs.py: _get_data(42)).
	PaperProgrammaticSeed = 42
)

// NumberPromptParams are the parameters of the paper's PromptGenerator.
// Upper bounds are exclusive, as numpy's Generator.integers.
type NumberPromptParams struct {
	// ExampleMinCount and ExampleMaxCount bound how many example numbers
	// the prompt shows: k in [ExampleMinCount, ExampleMaxCount).
	ExampleMinCount, ExampleMaxCount int
	// ExampleMinValue and ExampleMaxValue bound each example number:
	// [ExampleMinValue, ExampleMaxValue).
	ExampleMinValue, ExampleMaxValue int
	// AnswerCount is how many numbers the prompt asks for.
	AnswerCount int
	// AnswerMaxDigits is the digit limit the prompt states.
	AnswerMaxDigits int
}

// PaperNumberPromptParams returns the paper's parameters: 3–8 examples in
// 100–999, asking for at most 10 numbers of at most 3 digits.
func PaperNumberPromptParams() NumberPromptParams {
	return NumberPromptParams{ExampleMinCount: 3, ExampleMaxCount: 9, ExampleMinValue: 100, ExampleMaxValue: 1000, AnswerCount: 10, AnswerMaxDigits: 3}
}

// validate rejects parameters numpy would refuse or that make no prompt.
func (p NumberPromptParams) validate() error {
	switch {
	case p.ExampleMinCount < 0 || p.ExampleMaxCount <= p.ExampleMinCount:
		return fmt.Errorf("number prompts: example count range [%d, %d) is empty or negative", p.ExampleMinCount, p.ExampleMaxCount)
	case p.ExampleMaxValue <= p.ExampleMinValue:
		return fmt.Errorf("number prompts: example value range [%d, %d) is empty", p.ExampleMinValue, p.ExampleMaxValue)
	case p.AnswerCount < 1:
		return fmt.Errorf("number prompts: answer count %d is below 1", p.AnswerCount)
	case p.AnswerMaxDigits < 1:
		return fmt.Errorf("number prompts: answer max digits %d is below 1", p.AnswerMaxDigits)
	}
	return nil
}

// NumberPrompts is the paper's number-sequence prompt generator
// (nums_dataset.py PromptGenerator over np.random.default_rng(seed)). Its
// sequence of prompts is fixed by the seed and the parameters; it is not
// safe for concurrent use.
type NumberPrompts struct {
	rng   *nprand.Generator
	p     NumberPromptParams
	spec  *numberPromptSpec
	index int
}

// NewNumberPrompts returns the generator for np.random.default_rng(seed)
// with parameters p. The paper's prompt set is
// NewNumberPrompts(PaperPromptSeed, PaperNumberPromptParams()), 30,000
// queries.
func NewNumberPrompts(seed uint64, p NumberPromptParams) (*NumberPrompts, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	spec, err := numberSpec()
	if err != nil {
		return nil, err
	}
	return &NumberPrompts{rng: nprand.NewGenerator(seed), p: p, spec: spec}, nil
}

// ExamplePrefix returns sample_example_prefix(): one intro sentence with
// k example numbers. It draws k, the k numbers and the intro template,
// in that order. It does not advance the prompt index.
func (g *NumberPrompts) ExamplePrefix() string {
	k := int(g.rng.Integers(int64(g.p.ExampleMinCount), int64(g.p.ExampleMaxCount)))
	examples := make([]string, k)
	for i := range examples {
		examples[i] = strconv.FormatInt(g.rng.Integers(int64(g.p.ExampleMinValue), int64(g.p.ExampleMaxValue)), 10)
	}
	intro := nprand.Choice(g.rng, g.spec.IntroTemplates)
	return format(intro, "{examples}", strings.Join(examples, ", "))
}

// Query returns the next sample_query() as a prompt with the next index:
// the example prefix, then a count qualifier, a digit descriptor, an
// instruction template, a format suffix and a final suffix, drawn in that
// order and joined by single spaces.
func (g *NumberPrompts) Query() Prompt {
	example := g.ExamplePrefix()
	qualifier := nprand.Choice(g.rng, g.spec.CountQualifiers)
	digits := nprand.Choice(g.rng, g.spec.DigitDescriptors)
	instruction := nprand.Choice(g.rng, g.spec.InstructionTemplates)
	formatSuffix := nprand.Choice(g.rng, g.spec.FormatSuffixes)
	suffix := nprand.Choice(g.rng, g.spec.Suffixes)
	digits = format(digits, "{max_digits}", strconv.Itoa(g.p.AnswerMaxDigits))
	instruction = format(instruction,
		"{count_qualifier}", qualifier,
		"{answer_count}", strconv.Itoa(g.p.AnswerCount),
		"{digit_descriptor}", digits)
	p := Prompt{Index: g.index, Text: example + " " + instruction + " " + formatSuffix + " " + suffix}
	g.index++
	return p
}

// Queries returns the next n queries.
func (g *NumberPrompts) Queries(n int) []Prompt {
	out := make([]Prompt, n)
	for i := range out {
		out[i] = g.Query()
	}
	return out
}

// format fills {name} placeholders in one pass, as Python's str.format
// with keyword arguments: replacement text is not scanned again. oldnew
// holds placeholder, value pairs. (strings.NewReplacer does the same but
// costs more to build than this whole call for the few short templates
// here.)
func format(template string, oldnew ...string) string {
	var b strings.Builder
	b.Grow(len(template) + 64)
	for {
		i := strings.IndexByte(template, '{')
		if i < 0 {
			b.WriteString(template)
			return b.String()
		}
		b.WriteString(template[:i])
		template = template[i:]
		matched := false
		for k := 0; k+1 < len(oldnew); k += 2 {
			if strings.HasPrefix(template, oldnew[k]) {
				b.WriteString(oldnew[k+1])
				template = template[len(oldnew[k]):]
				matched = true
				break
			}
		}
		if !matched {
			b.WriteByte('{')
			template = template[1:]
		}
	}
}

// NumberFormatSuffixes returns the paper's 15 format suffixes, in order.
func NumberFormatSuffixes() ([]string, error) {
	spec, err := numberSpec()
	if err != nil {
		return nil, err
	}
	return append([]string(nil), spec.FormatSuffixes...), nil
}

// ErrFormatSuffix reports a prompt that does not contain exactly one of
// the paper's format suffixes.
var ErrFormatSuffix = errors.New("prompt does not contain exactly one format suffix")

// ExtractFormatSuffix returns the one format suffix prompt contains
// (nums_dataset.py extract_format_suffix), or an error wrapping
// ErrFormatSuffix.
func ExtractFormatSuffix(prompt string) (string, error) {
	suffixes, err := NumberFormatSuffixes()
	if err != nil {
		return "", err
	}
	var found []string
	for _, s := range suffixes {
		if strings.Contains(prompt, s) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("%w: found %d in %q", ErrFormatSuffix, len(found), prompt)
	}
	return found[0], nil
}

// FormatNumbers renders nums as the paper's format_numbers does for a
// format suffix: joined by ", ", " ", "; " or "\n", or bracketed as
// "[a, b]" / "(a, b)".
func FormatNumbers(nums []int64, formatSuffix string) (string, error) {
	parts := make([]string, len(nums))
	for i, n := range nums {
		parts[i] = strconv.FormatInt(n, 10)
	}
	switch formatSuffix {
	case "Return a comma-separated list of numbers.",
		"Return the numbers in the following format: number_1, number_2, ...",
		"Provide the numbers separated by commas.",
		"Format the output as: number1, number2, number3, ...",
		"Format as a simple comma-delimited sequence.":
		return strings.Join(parts, ", "), nil
	case "Return a space-separated list of numbers.",
		"List the numbers with spaces between them.",
		"Present as space-delimited values.":
		return strings.Join(parts, " "), nil
	case "Return a semicolon-separated list of numbers.",
		"Return numbers separated by semicolons.":
		return strings.Join(parts, "; "), nil
	case "Return one number per line.",
		"Write the numbers on separate lines.",
		"List each number on its own line with no other text.":
		return strings.Join(parts, "\n"), nil
	case "Return the numbers in the following format: [number_1, number_2, ...].":
		return "[" + strings.Join(parts, ", ") + "]", nil
	case "Return the numbers in the following format: (number_1, number_2, ...).":
		return "(" + strings.Join(parts, ", ") + ")", nil
	}
	return "", fmt.Errorf("unknown format suffix %q", formatSuffix)
}

// ProgrammaticControl answers prompts the way the paper's
// programmatic-random control dataset does (truesight
// refs/paper/shared_refs.py _get_data(seed)): one RandomState(seed) for
// the whole list; per prompt, in order, n = randint(1, 10) then n numbers
// randint(0, 1000), formatted for the prompt's format suffix. The paper's
// dataset is ProgrammaticControl(the 30,000 prompts of seed 47,
// PaperProgrammaticSeed). A prompt without exactly one format suffix is an
// error. Generations come back in prompt order.
func ProgrammaticControl(prompts []Prompt, seed uint32) ([]Generation, error) {
	rs := nprand.NewRandomState(seed)
	out := make([]Generation, len(prompts))
	for i, p := range prompts {
		n := rs.Randint(1, 10)
		nums := make([]int64, n)
		for j := range nums {
			nums[j] = rs.Randint(0, 1000)
		}
		suffix, err := ExtractFormatSuffix(p.Text)
		if err != nil {
			return nil, fmt.Errorf("programmatic control, prompt %d: %w", p.Index, err)
		}
		text, err := FormatNumbers(nums, suffix)
		if err != nil {
			return nil, fmt.Errorf("programmatic control, prompt %d: %w", p.Index, err)
		}
		out[i] = Generation{Prompt: p, Completion: text}
	}
	return out, nil
}
