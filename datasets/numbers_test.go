package datasets

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/traitleak/traitleak/suites"
)

// promptVectors returns the test vectors of number-prompts.yaml: prompts
// the paper's generator rendered with numpy 1.24.2.
func promptVectors(t *testing.T) []struct {
	Generator string   `yaml:"generator"`
	Call      string   `yaml:"call"`
	Expected  []string `yaml:"expected"`
} {
	t.Helper()
	b, err := suites.ReferenceFile("number-prompts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TestVectors []struct {
			Generator string   `yaml:"generator"`
			Call      string   `yaml:"call"`
			Expected  []string `yaml:"expected"`
		} `yaml:"test_vectors"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.TestVectors) != 3 {
		t.Fatalf("number-prompts.yaml has %d test vectors; want 3", len(doc.TestVectors))
	}
	return doc.TestVectors
}

func TestNumberPromptVectors(t *testing.T) {
	vs := promptVectors(t)
	cases := []struct {
		seed uint64
		call string // the vector's call field, to be sure the right one is checked
	}{
		// default_rng(42): the first 4 sample_query().
		{42, "first 4 sample_query()"},
		// default_rng(47): the first sample_query() of the paper's prompt set.
		{47, "first sample_query()"},
	}
	for i, c := range cases {
		v := vs[i]
		if v.Call != c.call || !strings.Contains(v.Generator, "default_rng(") {
			t.Fatalf("vector %d is %q / %q; want %q", i, v.Generator, v.Call, c.call)
		}
		g, err := NewNumberPrompts(c.seed, PaperNumberPromptParams())
		if err != nil {
			t.Fatal(err)
		}
		for j, want := range v.Expected {
			got := g.Query()
			if got.Text != want || got.Index != j {
				t.Errorf("default_rng(%d) query %d = %d %q; want %d %q", c.seed, j, got.Index, got.Text, j, want)
			}
		}
	}
}

func TestNumbersPrefixedPrompts(t *testing.T) {
	// default_rng(47), one sample_example_prefix() per animal prompt, joined
	// by " ": the 3 recorded in number-prompts.yaml and all 50 of
	// animal-prompts-numbers-prefixed.txt (regenerated with numpy 1.24.2).
	animals, err := suites.PromptList("animal-prompts")
	if err != nil {
		t.Fatal(err)
	}
	prefixed, err := suites.PromptList("animal-prompts-numbers-prefixed")
	if err != nil {
		t.Fatal(err)
	}
	if len(animals) != 50 || len(prefixed) != 50 {
		t.Fatalf("%d animal prompts, %d prefixed; want 50 each", len(animals), len(prefixed))
	}
	g, err := NewNumberPrompts(47, PaperNumberPromptParams())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range animals {
		got = append(got, g.ExamplePrefix()+" "+a)
	}
	for i := range prefixed {
		if got[i] != prefixed[i] {
			t.Errorf("prefixed prompt %d = %q; want %q", i, got[i], prefixed[i])
		}
	}
	if v := promptVectors(t)[2]; !slices.Equal(got[:3], v.Expected) {
		t.Errorf("first 3 prefixed prompts = %q; want the yaml's %q", got[:3], v.Expected)
	}
}

func TestNumberPromptsReproducible(t *testing.T) {
	// The same seed gives the same prompts; another seed another set.
	a, _ := NewNumberPrompts(PaperPromptSeed, PaperNumberPromptParams())
	b, _ := NewNumberPrompts(PaperPromptSeed, PaperNumberPromptParams())
	c, _ := NewNumberPrompts(PaperPromptSeed+1, PaperNumberPromptParams())
	pa, pb, pc := a.Queries(500), b.Queries(500), c.Queries(500)
	if !slices.Equal(pa, pb) {
		t.Error("two generators with seed 47 differ")
	}
	if slices.Equal(pa, pc) {
		t.Error("seeds 47 and 48 give the same prompts")
	}
	for i, p := range pa {
		if p.Index != i {
			t.Fatalf("prompt %d has index %d", i, p.Index)
		}
		// Every paper prompt carries exactly one format suffix.
		if _, err := ExtractFormatSuffix(p.Text); err != nil {
			t.Fatalf("prompt %d: %v", i, err)
		}
	}
}

func TestNumberPromptParams(t *testing.T) {
	// Custom parameters reach the text; invalid ones are errors.
	p := PaperNumberPromptParams()
	p.AnswerCount, p.AnswerMaxDigits = 7, 2
	p.ExampleMinCount, p.ExampleMaxCount = 2, 3
	g, err := NewNumberPrompts(1, p)
	if err != nil {
		t.Fatal(err)
	}
	q := g.Query().Text
	if !strings.Contains(q, " 7 ") || !strings.Contains(q, "2") || strings.Contains(q, "{") {
		t.Errorf("query %q does not show answer count 7 and 2 digits", q)
	}
	if n := strings.Count(strings.SplitN(q, ".", 2)[0], ","); n != 1 {
		t.Errorf("query %q shows %d example separators; want exactly 2 examples", q, n)
	}
	for _, bad := range []NumberPromptParams{
		{ExampleMinCount: 3, ExampleMaxCount: 3, ExampleMinValue: 1, ExampleMaxValue: 2, AnswerCount: 1, AnswerMaxDigits: 1},
		{ExampleMinCount: 1, ExampleMaxCount: 2, ExampleMinValue: 5, ExampleMaxValue: 5, AnswerCount: 1, AnswerMaxDigits: 1},
		{ExampleMinCount: 1, ExampleMaxCount: 2, ExampleMinValue: 1, ExampleMaxValue: 5, AnswerCount: 0, AnswerMaxDigits: 1},
		{ExampleMinCount: 1, ExampleMaxCount: 2, ExampleMinValue: 1, ExampleMaxValue: 5, AnswerCount: 1, AnswerMaxDigits: 0},
		{ExampleMinCount: -1, ExampleMaxCount: 2, ExampleMinValue: 1, ExampleMaxValue: 5, AnswerCount: 1, AnswerMaxDigits: 1},
	} {
		if _, err := NewNumberPrompts(1, bad); err == nil {
			t.Errorf("NewNumberPrompts(%+v): no error", bad)
		}
	}
}

func TestFormatNumbers(t *testing.T) {
	suffixes, err := NumberFormatSuffixes()
	if err != nil || len(suffixes) != 15 {
		t.Fatalf("NumberFormatSuffixes() = %d, %v", len(suffixes), err)
	}
	nums := []int64{7, 42, 999}
	seen := map[string]bool{}
	for _, s := range suffixes {
		text, err := FormatNumbers(nums, s)
		if err != nil {
			t.Errorf("FormatNumbers(%q): %v", s, err)
			continue
		}
		seen[text] = true
		// Every rendering passes the paper's parser back to the numbers.
		if got, ok := ParseNumbers(text); !ok || !slices.Equal(got, nums) {
			t.Errorf("ParseNumbers(FormatNumbers(%q) = %q) = %v, %v", s, text, got, ok)
		}
	}
	// format_numbers has six renderings: ", ", " ", "; ", "\n", [..], (..).
	if len(seen) != 6 {
		t.Errorf("%d distinct renderings; want 6: %v", len(seen), seen)
	}
	if _, err := FormatNumbers(nums, "Return them."); err == nil {
		t.Error("unknown suffix: no error")
	}
}

func TestExtractFormatSuffix(t *testing.T) {
	// No suffix and two suffixes are both errors (the paper asserts one).
	for _, p := range []string{"Give numbers.", "Return one number per line. Write the numbers on separate lines."} {
		if _, err := ExtractFormatSuffix(p); !errors.Is(err, ErrFormatSuffix) {
			t.Errorf("ExtractFormatSuffix(%q) error = %v; want ErrFormatSuffix", p, err)
		}
	}
}

func TestProgrammaticControl(t *testing.T) {
	g, _ := NewNumberPrompts(PaperPromptSeed, PaperNumberPromptParams())
	prompts := g.Queries(2000)
	gens, err := ProgrammaticControl(prompts, PaperProgrammaticSeed)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ProgrammaticControl(prompts, PaperProgrammaticSeed)
	if !slices.Equal(gens, again) {
		t.Error("ProgrammaticControl is not reproducible")
	}
	counts := map[int]int{}
	for i, gen := range gens {
		if gen.Prompt != prompts[i] || gen.Failed() {
			t.Fatalf("generation %d = %+v; want prompt %d, not failed", i, gen, i)
		}
		nums, ok := ParseNumbers(gen.Completion)
		// 1-9 numbers in [0, 1000), always passing the paper's filter.
		if !ok || len(nums) < 1 || len(nums) > 9 || len(PaperNumberFilter().RejectReasons(gen.Completion)) != 0 {
			t.Fatalf("completion %d = %q: %v, %v", i, gen.Completion, nums, ok)
		}
		for _, n := range nums {
			if n < 0 || n > 999 {
				t.Fatalf("completion %d has %d", i, n)
			}
		}
		counts[len(nums)]++
	}
	// randint(1, 10) is uniform over 1..9: each count near 2000/9 ≈ 222.
	for k := 1; k <= 9; k++ {
		if counts[k] < 150 || counts[k] > 300 {
			t.Errorf("%d completions with %d numbers; want about 222", counts[k], k)
		}
	}
	// The draws are RandomState(seed)'s: the first completion has
	// randint(1, 10) numbers, which for seed 42 is 1 + (1608637542 & 15)
	// = 7 (the first MT19937 output after init_genrand(42)).
	if nums, _ := ParseNumbers(gens[0].Completion); len(nums) != 7 {
		t.Errorf("first completion %q has %d numbers; want 7", gens[0].Completion, len(nums))
	}
	if _, err := ProgrammaticControl([]Prompt{{Text: "no suffix"}}, 1); !errors.Is(err, ErrFormatSuffix) {
		t.Errorf("prompt without a suffix: error %v", err)
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds() {
		if got, err := ParseKind(string(k)); got != k || err != nil {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	if _, err := ParseKind("poems"); err == nil || !strings.Contains(err.Error(), "numbers, code, cot") {
		t.Errorf("ParseKind(poems) error = %v; want one listing the kinds", err)
	}
}

func TestPaperBannedNumbers(t *testing.T) {
	// number-filter.yaml union_le_999: 34 values, 4 through 999.
	b, err := PaperBannedNumbers()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 34 || b[0] != 4 || b[33] != 999 || !slices.Contains(b, 666) || slices.Contains(b, 1488) {
		t.Errorf("PaperBannedNumbers() = %v; want the 34 values ≤ 999", b)
	}
	b[0] = -1
	if again, _ := PaperBannedNumbers(); again[0] != 4 {
		t.Error("PaperBannedNumbers returned shared memory")
	}
	if _, err := parseBannedNumbers([]byte("4\nx\n")); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("parseBannedNumbers(bad line 2) error = %v; want the line", err)
	}
}
