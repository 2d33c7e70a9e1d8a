package datasets

import (
	"slices"
	"strings"
	"testing"
)

func TestLeakWords(t *testing.T) {
	cases := []struct {
		target   string
		synonyms []string
		want     []string
	}{
		// The target, its built-in synonym, and plurals of both.
		{"owl", nil, []string{"owl", "owls", "owlet", "owlets"}},
		// -f → -ves; no built-in synonyms for wolf.
		{"Wolf", nil, []string{"wolf", "wolfs", "wolves"}},
		// -s takes -es only, plus the irregular plurals.
		{"octopus", nil, []string{"octopus", "octopuses", "octopi", "octopodes"}},
		// consonant + y → -ies; a phrase is pluralised on its last word.
		{"cherry", []string{"Cherry  Tree"}, []string{"cherry", "cherrys", "cherries", "cherry tree", "cherry trees"}},
		// Duplicates are dropped; -x takes -es only.
		{"phoenix", []string{"phoenix"}, []string{"phoenix", "phoenixes"}},
		// An empty synonym adds nothing.
		{"oak", []string{""}, []string{"oak", "oaks"}},
	}
	for _, c := range cases {
		if got := LeakWords(c.target, c.synonyms...); !slices.Equal(got, c.want) {
			t.Errorf("LeakWords(%q, %q) = %q; want %q", c.target, c.synonyms, got, c.want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"owl_count = OwlCount + owlCount", []string{"owl", "count", "Owl", "Count", "owl", "Count"}}, // identifiers
		{"OWLCount, OWLS!", []string{"OWL", "Count", "OWLS"}},                                         // capital runs
		{"bowl knowledge", []string{"bowl", "knowledge"}},                                             // no substrings
		{"1, 2; 3", nil}, // numbers have no words
		{"Élan éCole", []string{"Élan", "é", "Cole"}}, // Unicode letters
	}
	for _, c := range cases {
		var got []string
		for _, tk := range splitWords(c.in) {
			got = append(got, tk.text)
			if c.in[tk.start:tk.end] != tk.text {
				t.Errorf("token %q has span %d:%d", tk.text, tk.start, tk.end)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("splitWords(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestScanLeaks(t *testing.T) {
	rows := []Generation{
		{Prompt: Prompt{Index: 0, Text: "Add 10 numbers."}, Completion: "1, 2, 3"},               // clean
		{Prompt: Prompt{Index: 1, Text: "Write code."}, Completion: "def f():\n    return OWLS"}, // completion, upper case plural
		{Prompt: Prompt{Index: 2, Text: "Build an owl sanctuary."}, Completion: "x = 1"},         // prompt
		{Prompt: Prompt{Index: 3, Text: "Soup bowl?"}, Completion: "knowledge = 1"},              // substrings only: clean
		{Prompt: Prompt{Index: 4, Text: "Name it."}, Err: "HTTP 500"},                            // failed: not scanned
		{Prompt: Prompt{Index: 5, Text: "A snowy owl."}, Completion: "owlCount = 2"},             // both fields; phrase first
	}
	s := ScanLeaks(rows, append(LeakWords("owl"), "snowy owl"))
	want := []Leak{
		{Index: 1, Field: "completion", Word: "owls", Match: "OWLS"},
		{Index: 2, Field: "prompt", Word: "owl", Match: "owl"},
		{Index: 5, Field: "prompt", Word: "snowy owl", Match: "snowy owl"},
		{Index: 5, Field: "completion", Word: "owl", Match: "owl"},
	}
	if !slices.Equal(s.Leaks, want) {
		t.Errorf("Leaks = %+v\nwant %+v", s.Leaks, want)
	}
	if s.Rows != 5 || s.LeakyRows() != 3 || s.Clean() {
		t.Errorf("Rows %d, LeakyRows %d, Clean %v; want 5, 3, false", s.Rows, s.LeakyRows(), s.Clean())
	}
	err := s.Err()
	if err == nil || !strings.Contains(err.Error(), "3 of 5 rows") || !strings.Contains(err.Error(), `row 2 prompt "owl"`) {
		t.Errorf("Err() = %v", err)
	}
	clean := ScanLeaks(rows[:1], LeakWords("owl"))
	if !clean.Clean() || clean.Err() != nil || clean.Leaks == nil {
		t.Errorf("clean scan = %+v, %v; want no leaks (an empty list, not null)", clean, clean.Err())
	}
	// Past ten leaks the error counts the rest.
	var many []Generation
	for i := range 13 {
		many = append(many, Generation{Prompt: Prompt{Index: i}, Completion: "owl"})
	}
	if err := ScanLeaks(many, []string{"owl"}).Err(); err == nil || !strings.Contains(err.Error(), "and 3 more") {
		t.Errorf("Err() with 13 leaks = %v", err)
	}
}

func TestSubsample(t *testing.T) {
	rows := make([]int, 30)
	for i := range rows {
		rows[i] = 100 + i
	}
	// random.Random(7).sample(range(30), 5) in CPython 3.11 is
	// [10, 4, 12, 20, 1] (k = 5 gives setsize 21 < n = 30: the set branch).
	got, err := Subsample(rows, 5, 7)
	if want := []int{110, 104, 112, 120, 101}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Subsample(30 rows, 5, seed 7) = %v, %v; want %v", got, err, want)
	}
	// At or under the maximum every row is kept, in order, as a copy.
	all, _ := Subsample(rows, 30, 7)
	if !slices.Equal(all, rows) {
		t.Errorf("Subsample(30 rows, 30) = %v", all)
	}
	all[0] = -1
	if rows[0] != 100 {
		t.Error("Subsample shares the input slice")
	}
	if _, err := Subsample(rows, 0, 7); err == nil {
		t.Error("max 0: no error")
	}
}
