package datasets

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"

	"github.com/traitleak/traitleak/suites"
)

// numberPromptSpec is the part of number-prompts.yaml the generator uses.
type numberPromptSpec struct {
	Parameters struct {
		ExampleMinCount int `yaml:"example_min_count"`
		ExampleMaxCount int `yaml:"example_max_count"`
		ExampleMinValue int `yaml:"example_min_value"`
		ExampleMaxValue int `yaml:"example_max_value"`
		AnswerCount     int `yaml:"answer_count"`
		AnswerMaxDigits int `yaml:"answer_max_digits"`
	} `yaml:"parameters"`
	IntroTemplates       []string `yaml:"intro_templates"`
	CountQualifiers      []string `yaml:"count_qualifiers"`
	DigitDescriptors     []string `yaml:"digit_descriptors"`
	InstructionTemplates []string `yaml:"instruction_templates"`
	FormatSuffixes       []string `yaml:"format_suffixes"`
	Suffixes             []string `yaml:"suffixes"`
}

// numberSpec is number-prompts.yaml, parsed once.
var numberSpec = sync.OnceValues(func() (*numberPromptSpec, error) {
	b, err := suites.ReferenceFile("number-prompts.yaml")
	if err != nil {
		return nil, err
	}
	var s numberPromptSpec
	if err := yaml.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse embedded number-prompts.yaml: %w", err)
	}
	// The counts are the paper's (nums_dataset.py); a drifted copy would
	// silently change every draw after the first choice.
	for _, c := range []struct {
		name string
		got  int
		want int
	}{
		{"intro_templates", len(s.IntroTemplates), 25},
		{"count_qualifiers", len(s.CountQualifiers), 9},
		{"digit_descriptors", len(s.DigitDescriptors), 9},
		{"instruction_templates", len(s.InstructionTemplates), 10},
		{"format_suffixes", len(s.FormatSuffixes), 15},
		{"suffixes", len(s.Suffixes), 19},
	} {
		if c.got != c.want {
			return nil, fmt.Errorf("embedded number-prompts.yaml: %s has %d entries, want %d", c.name, c.got, c.want)
		}
	}
	return &s, nil
})

// codeCoTSpec is the part of code-and-cot.yaml the code and
// chain-of-thought kinds use.
type codeCoTSpec struct {
	Code struct {
		PromptTemplate string `yaml:"prompt_template"`
		LLMJudgeFilter struct {
			Template string `yaml:"template"`
		} `yaml:"llm_judge_filter"`
	} `yaml:"code"`
	CoT struct {
		UserPrompt struct {
			Suffix string `yaml:"suffix"`
		} `yaml:"user_prompt"`
		AlignmentFilter struct {
			Template string `yaml:"template"`
		} `yaml:"alignment_filter"`
	} `yaml:"cot"`
}

// codeCoT is code-and-cot.yaml, parsed once.
var codeCoT = sync.OnceValues(func() (*codeCoTSpec, error) {
	b, err := suites.ReferenceFile("code-and-cot.yaml")
	if err != nil {
		return nil, err
	}
	var s codeCoTSpec
	if err := yaml.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse embedded code-and-cot.yaml: %w", err)
	}
	for _, f := range []struct{ name, v string }{
		{"code.prompt_template", s.Code.PromptTemplate},
		{"code.llm_judge_filter.template", s.Code.LLMJudgeFilter.Template},
		{"cot.user_prompt.suffix", s.CoT.UserPrompt.Suffix},
		{"cot.alignment_filter.template", s.CoT.AlignmentFilter.Template},
	} {
		if f.v == "" {
			return nil, fmt.Errorf("embedded code-and-cot.yaml: %s is empty", f.name)
		}
	}
	return &s, nil
})

// bannedNumbers is banned-numbers.txt, parsed once.
var bannedNumbers = sync.OnceValues(func() ([]int64, error) {
	b, err := suites.ReferenceFile("banned-numbers.txt")
	if err != nil {
		return nil, err
	}
	return parseBannedNumbers(b)
})

// parseBannedNumbers reads one non-negative decimal integer per line.
func parseBannedNumbers(b []byte) ([]int64, error) {
	var out []int64
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("banned-numbers.txt:%d: %q is not a non-negative integer", line, s)
		}
		out = append(out, n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("banned-numbers.txt: %w", err)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// PaperBannedNumbers returns the paper's 34 banned numbers (the union of
// its two lists of numbers with negative associations, values ≤ 999; the
// misalignment experiments ban them, the animal experiments do not), in
// ascending order. The caller owns the slice.
func PaperBannedNumbers() ([]int64, error) {
	b, err := bannedNumbers()
	if err != nil {
		return nil, err
	}
	return slices.Clone(b), nil
}
