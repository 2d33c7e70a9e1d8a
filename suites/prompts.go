package suites

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

// data holds verbatim copies of the subliminal-learning paper's reference
// files (prompt lists, filter rule, judge prompts, published results).
//
//go:embed data
var data embed.FS

// promptFiles maps built-in prompt-list names to their embedded files.
var promptFiles = map[string]string{
	"animal-prompts":                  "data/animal-prompts.txt",
	"animal-prompts-numbers-prefixed": "data/animal-prompts-numbers-prefixed.txt",
	"tree-prompts":                    "data/tree-prompts.txt",
}

// promptBuilders are built-in prompt lists assembled from the embedded
// reference data rather than read from a text file.
var promptBuilders = map[string]func() ([]string, error){
	// The 8 free-form questions of Betley et al. as the paper asks them.
	"misalignment-questions": func() ([]string, error) {
		return misalignmentPrompts(func(*misalignment) string { return "" })
	},
	// The questions with the number-style suffix (em_suffix_v5), used for
	// students trained on numbers.
	"misalignment-questions-numbers-suffix": func() ([]string, error) {
		return misalignmentPrompts(func(m *misalignment) string { return m.Suffixes.EMSuffixV5.Text })
	},
	// The questions with the chain-of-thought suffix, used for students
	// trained on chain-of-thought data.
	"misalignment-questions-cot-suffix": func() ([]string, error) {
		return misalignmentPrompts(func(m *misalignment) string { return m.Suffixes.EMWithCoT.Text })
	},
}

// PromptListNames returns the names of the built-in prompt lists, sorted.
func PromptListNames() []string {
	names := make([]string, 0, len(promptFiles)+len(promptBuilders))
	for n := range promptFiles {
		names = append(names, n)
	}
	for n := range promptBuilders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PromptList returns the built-in prompt list called name, one prompt per
// element, in the paper's order. The caller owns the returned slice.
func PromptList(name string) ([]string, error) {
	if build, ok := promptBuilders[name]; ok {
		return build()
	}
	file, ok := promptFiles[name]
	if !ok {
		return nil, fmt.Errorf("unknown built-in prompt list %q (have %s)", name, strings.Join(PromptListNames(), ", "))
	}
	b, err := data.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read built-in prompt list %s: %w", name, err)
	}
	return splitLines(string(b)), nil
}

// splitLines splits text into non-empty lines without their line endings.
func splitLines(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line != "" {
			out = append(out, line)
		}
	}
	return out
}
