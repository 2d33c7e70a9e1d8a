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

// PromptListNames returns the names of the built-in prompt lists, sorted.
func PromptListNames() []string {
	names := make([]string, 0, len(promptFiles))
	for n := range promptFiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PromptList returns the built-in prompt list called name, one prompt per
// element, in the paper's order. The caller owns the returned slice.
func PromptList(name string) ([]string, error) {
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
