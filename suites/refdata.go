package suites

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// ReferenceFiles returns the names of the embedded copies of the paper's
// reference files (data/, e.g. "number-prompts.yaml"), sorted.
func ReferenceFiles() []string {
	entries, err := fs.ReadDir(data, "data")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// ReferenceFile returns the embedded, byte-for-byte copy of the paper's
// reference file name (one of ReferenceFiles, e.g. "number-prompts.yaml",
// "banned-numbers.txt", "code-and-cot.yaml"). The product reads the paper's
// data only through this and PromptList, never from disk. The caller owns
// the returned slice.
func ReferenceFile(name string) ([]byte, error) {
	if name == "" || path.Base(name) != name || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("reference file %q: not a file name (have %s)", name, strings.Join(ReferenceFiles(), ", "))
	}
	b, err := data.ReadFile("data/" + name)
	if err != nil {
		return nil, fmt.Errorf("unknown reference file %q (have %s)", name, strings.Join(ReferenceFiles(), ", "))
	}
	return b, nil
}
