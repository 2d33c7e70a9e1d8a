package suites

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedReference is the paper's reference data as the project keeps it
// beside the repository (../shared from the repository root). The product
// never reads it; the test only checks the embedded copies against it.
const sharedReference = "../../shared/reference/subliminal-learning"

func TestReferenceFilesMatchShared(t *testing.T) {
	names := ReferenceFiles()
	if len(names) == 0 {
		t.Fatal("ReferenceFiles() is empty")
	}
	if _, err := os.Stat(sharedReference); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s not present: nothing to compare the embedded copies with", sharedReference)
	}
	for _, name := range names {
		got, err := ReferenceFile(name)
		if err != nil {
			t.Errorf("ReferenceFile(%q): %v", name, err)
			continue
		}
		want, err := os.ReadFile(filepath.Join(sharedReference, name))
		if err != nil {
			// Every embedded file is a copy of a shared one.
			t.Errorf("embedded data/%s has no counterpart in %s: %v", name, sharedReference, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("embedded data/%s differs from %s/%s; copy it byte for byte", name, sharedReference, name)
		}
	}
}

func TestReferenceFile(t *testing.T) {
	// The files package datasets reads are embedded.
	for _, name := range []string{"number-prompts.yaml", "banned-numbers.txt", "code-and-cot.yaml", "teacher.yaml"} {
		if b, err := ReferenceFile(name); err != nil || len(b) == 0 {
			t.Errorf("ReferenceFile(%q) = %d bytes, %v; want the embedded file", name, len(b), err)
		}
	}
	// A returned slice is the caller's: changing it does not change the next read.
	b, _ := ReferenceFile("banned-numbers.txt")
	b[0] = 'x'
	if again, _ := ReferenceFile("banned-numbers.txt"); again[0] == 'x' {
		t.Error("ReferenceFile returned shared memory")
	}
	// Unknown names and paths are errors that list the files.
	for _, name := range []string{"", "nope.yaml", "../data/teacher.yaml", "builtin/animals.yaml", "."} {
		_, err := ReferenceFile(name)
		if err == nil || !strings.Contains(err.Error(), "number-prompts.yaml") {
			t.Errorf("ReferenceFile(%q) error = %v; want one listing the files", name, err)
		}
	}
}
