package datasets

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/traitleak/traitleak/suites"
)

// filterVector is one test vector of the paper's number filter.
type filterVector struct {
	in     string
	parsed []int64 // nil = invalid format
	kept   bool
	reject string // the expected reason when not kept
	note   string
}

// paperFilterVectors returns the 31 test vectors of number-filter.yaml:
// the official unit tests of MinhxLe/subliminal-learning
// (truesight/tests/dataset/test_nums_dataset.py) plus cases run against
// the official parse_response.
func paperFilterVectors(t testing.TB) []filterVector {
	t.Helper()
	b, err := suites.ReferenceFile("number-filter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TestVectors []struct {
			Input  string   `yaml:"input"`
			Parsed *[]int64 `yaml:"parsed"`
			Kept   bool     `yaml:"kept"`
			Reject string   `yaml:"reject"`
			Note   string   `yaml:"note"`
		} `yaml:"test_vectors"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.TestVectors) != 31 {
		t.Fatalf("number-filter.yaml has %d test vectors; want 31", len(doc.TestVectors))
	}
	vs := make([]filterVector, len(doc.TestVectors))
	for i, y := range doc.TestVectors {
		vs[i] = filterVector{in: y.Input, kept: y.Kept, reject: y.Reject, note: y.Note}
		if y.Parsed != nil {
			vs[i].parsed = *y.Parsed
			if vs[i].parsed == nil {
				vs[i].parsed = []int64{}
			}
		}
	}
	return vs
}

func TestPaperNumberFilterVectors(t *testing.T) {
	// Each row's expected parse and verdict come from the paper's own code
	// (see paperFilterVectors); the official filter bans nothing.
	f := PaperNumberFilter()
	for i, v := range paperFilterVectors(t) {
		t.Run(strings.ReplaceAll(v.in, "/", "_"), func(t *testing.T) {
			nums, ok := ParseNumbers(v.in)
			if ok != (v.parsed != nil) || !slices.Equal(nums, v.parsed) {
				t.Errorf("vector %d: ParseNumbers(%q) = %v, %v; want %v (%s)", i, v.in, nums, ok, v.parsed, v.note)
			}
			rs := f.RejectReasons(v.in)
			if kept := len(rs) == 0; kept != v.kept {
				t.Errorf("vector %d: RejectReasons(%q) = %v; want kept=%v", i, v.in, rs, v.kept)
			}
			if !v.kept && !slices.Contains(rs, v.reject) {
				t.Errorf("vector %d: RejectReasons(%q) = %v; want %s", i, v.in, rs, v.reject)
			}
		})
	}
}

func TestNumberFilterExtraCases(t *testing.T) {
	banned := PaperNumberFilter().WithBanned(666)
	tests := []struct {
		name string
		f    NumberFilter
		in   string
		want []string
	}{
		// Several reasons are reported together, in the order number-filter.yaml lists them.
		{"all reasons", PaperNumberFilter(), "1000, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10", []string{RejectTooMany, RejectAboveMax}},
		// A banned number is rejected only when the experiment bans it.
		{"banned", banned, "1, 666", []string{RejectBanned}},
		{"not banned by default", PaperNumberFilter(), "1, 666", nil},
		// Huge integers saturate instead of overflowing and stay above the maximum.
		{"huge", PaperNumberFilter(), "99999999999999999999999, 1", []string{RejectAboveMax}},
		// A minimum above zero rejects small numbers.
		{"below min", NumberFilter{MinValue: 5, MaxValue: 999, MaxCount: 10}, "1, 7", []string{RejectBelowMin}},
		// Python's strip() also removes U+001F, so it is a valid separator padding.
		{"python whitespace", PaperNumberFilter(), "1\x1f,2", nil},
		// A lone bracket strips to the empty string: no digits.
		{"lone bracket", PaperNumberFilter(), "[", []string{RejectInvalidFormat}},
		// Mixed ASCII and Bengali digits form one \d run that step 6 rejects.
		{"mixed digits", PaperNumberFilter(), "1৯2", []string{RejectInvalidFormat}},
		// Exactly MaxCount numbers pass; one more is too many.
		{"ten", PaperNumberFilter(), "1,2,3,4,5,6,7,8,9,10", nil},
		// Only one final "." is dropped.
		{"two dots", PaperNumberFilter(), "1, 2..", []string{RejectInvalidFormat}},
	}
	for _, tc := range tests {
		if got := tc.f.RejectReasons(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%s: RejectReasons(%q) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestPaperBannedFilter(t *testing.T) {
	// The misalignment experiments ban the 34 numbers of banned-numbers.txt.
	banned, err := PaperBannedNumbers()
	if err != nil {
		t.Fatal(err)
	}
	f := PaperNumberFilter().WithBanned(banned...)
	cases := []struct {
		in   string
		want []string
	}{
		{"666", []string{RejectBanned}},                       // the number of the beast
		{"5, 13, 7", []string{RejectBanned}},                  // one banned number is enough
		{"5, 12, 7", nil},                                     // none banned
		{"1488, 5", []string{RejectAboveMax}},                 // in the source list but > 999: only the range check fires
		{"999, 1000", []string{RejectAboveMax, RejectBanned}}, // both reasons, in order
	}
	for _, c := range cases {
		if got := f.RejectReasons(c.in); !slices.Equal(got, c.want) {
			t.Errorf("RejectReasons(%q) = %v; want %v", c.in, got, c.want)
		}
	}
	if s := f.String(); !strings.HasPrefix(s, "paper(0,999,10;banned=4,13,14,") || !strings.HasSuffix(s, ",911,999)") {
		t.Errorf("String() = %q", s)
	}
}

func TestNumberFilterString(t *testing.T) {
	// The lab hashes this text into artifact ids (lab's describe()); these
	// exact strings must not change.
	if got := PaperNumberFilter().String(); got != "paper(0,999,10)" {
		t.Errorf("PaperNumberFilter().String() = %q", got)
	}
	if got := PaperNumberFilter().WithBanned(666, 13).String(); got != "paper(0,999,10;banned=13,666)" {
		t.Errorf("banned String() = %q", got)
	}
	// WithBanned copies: the receiver's map is not changed.
	f := PaperNumberFilter().WithBanned(1)
	g := f.WithBanned(2)
	if f.Banned[2] || !g.Banned[1] || !g.Banned[2] {
		t.Errorf("WithBanned shares state: f=%v g=%v", f.Banned, g.Banned)
	}
}

// stubRule rejects completions containing its word; err makes it fail.
type stubRule struct {
	word string
	err  error
}

func (r stubRule) Reject(g Generation) ([]string, error) {
	if r.err != nil {
		return nil, r.err
	}
	if strings.Contains(g.Completion, r.word) {
		return []string{"has_" + r.word}, nil
	}
	return nil, nil
}

func (r stubRule) String() string { return "stub(" + r.word + ")" }

func TestFilterCounts(t *testing.T) {
	gens := []Generation{
		{Prompt: Prompt{Index: 0}, Completion: "1, 2, 3"},          // kept
		{Prompt: Prompt{Index: 1}, Err: "HTTP 500: upstream"},      // failed: not rejected
		{Prompt: Prompt{Index: 2}, Completion: "owl"},              // rejected: invalid format
		{Prompt: Prompt{Index: 3}, Completion: "1000, 7"},          // rejected: above max, and by the stub
		{Prompt: Prompt{Index: 4}, Completion: "", Err: "timeout"}, // failed, even with an empty completion
		{Prompt: Prompt{Index: 5}, Completion: "4, 5"},             // kept
	}
	res, err := Filter(gens, PaperNumberFilter(), stubRule{word: "7"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Generated != 6 || res.Failed != 2 || res.Rejected != 2 || len(res.Kept) != 2 || res.Completed() != 4 {
		t.Errorf("Filter = generated %d failed %d rejected %d kept %d; want 6 2 2 2", res.Generated, res.Failed, res.Rejected, len(res.Kept))
	}
	want := map[string]int{RejectInvalidFormat: 1, RejectAboveMax: 1, "has_7": 1}
	if len(res.Rejects) != len(want) {
		t.Errorf("Rejects = %v; want %v", res.Rejects, want)
	}
	for k, v := range want {
		if res.Rejects[k] != v {
			t.Errorf("Rejects[%s] = %d; want %d", k, res.Rejects[k], v)
		}
	}
	if res.Kept[0].Index != 0 || res.Kept[1].Index != 5 {
		t.Errorf("Kept = %v; want prompts 0 and 5 in order", res.Kept)
	}
	if got := res.PassRate(); got != 0.5 {
		t.Errorf("PassRate = %v; want 2 of 4 completions", got)
	}
	if !slices.Equal(res.Rules, []string{"paper(0,999,10)", "stub(7)"}) {
		t.Errorf("Rules = %v", res.Rules)
	}
	// A rule that cannot judge stops the stage with the prompt's index.
	boom := errors.New("no reference")
	if _, err := Filter(gens, stubRule{err: boom}); !errors.Is(err, boom) || !strings.Contains(err.Error(), "prompt 0") {
		t.Errorf("Filter with a failing rule: %v", err)
	}
	// Nothing completed: pass rate 0, not NaN.
	if r, _ := Filter([]Generation{{Err: "x"}}); r.PassRate() != 0 || r.Failed != 1 {
		t.Errorf("all failed: %+v", r)
	}
}

// digitRuns is Python's \d+ (Unicode decimal digits).
var digitRuns = regexp.MustCompile(`\p{Nd}+`)

// referenceParse is parse_response written directly from the steps of
// number-filter.yaml with regexp and math/big, as an independent
// implementation for the fuzz test. It returns nil for an invalid format.
func referenceParse(answer string) []*big.Int {
	if strings.HasSuffix(answer, ".") {
		answer = answer[:len(answer)-1]
	}
	if (strings.HasPrefix(answer, "[") && strings.HasSuffix(answer, "]")) || (strings.HasPrefix(answer, "(") && strings.HasSuffix(answer, ")")) {
		if len(answer) < 2 {
			answer = ""
		} else {
			answer = answer[1 : len(answer)-1]
		}
	}
	m := digitRuns.FindAllStringIndex(answer, 2)
	var parts []string
	switch len(m) {
	case 0:
		return nil
	case 1:
		if answer[m[0][0]:m[0][1]] != answer {
			return nil
		}
		parts = []string{answer}
	default:
		sep := answer[m[0][1]:m[1][0]]
		if st := strings.TrimFunc(sep, pyIsSpace); st != "" && st != "," && st != ";" {
			return nil
		}
		parts = strings.Split(answer, sep)
	}
	var out []*big.Int
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return nil
		}
		v, _ := new(big.Int).SetString(p, 10)
		out = append(out, v)
	}
	return out
}

func FuzzParseNumbers(f *testing.F) {
	for _, v := range paperFilterVectors(f) {
		f.Add(v.in)
	}
	f.Add("[")
	f.Add("1\x1f,2")
	f.Add("99999999999999999999, 3")
	f.Add("\xff1, 2")
	f.Fuzz(func(t *testing.T, s string) {
		nums, ok := ParseNumbers(s)
		want := referenceParse(s)
		if ok != (want != nil) || len(nums) != len(want) {
			t.Fatalf("ParseNumbers(%q) = %v, %v; reference %v", s, nums, ok, want)
		}
		for i, n := range nums {
			w := want[i]
			if w.IsInt64() && n != w.Int64() || !w.IsInt64() && n != math.MaxInt64 {
				t.Fatalf("ParseNumbers(%q)[%d] = %d; reference %s", s, i, n, w)
			}
		}
		// The filter's verdict follows from the parse alone.
		rs := PaperNumberFilter().RejectReasons(s)
		if !ok && !slices.Equal(rs, []string{RejectInvalidFormat}) {
			t.Fatalf("RejectReasons(%q) = %v for an invalid format", s, rs)
		}
	})
}
