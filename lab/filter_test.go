package lab

import (
	"encoding/json"
	"slices"
	"strconv"
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
}

// paperFilterVectors returns the test vectors of the paper's number filter
// (test_vectors of suites/data/number-filter.yaml, via
// suites.NumberFilterYAML): the official unit tests of
// MinhxLe/subliminal-learning (truesight/tests/dataset/test_nums_dataset.py)
// plus cases run against the official parse_response.
func paperFilterVectors(t testing.TB) []filterVector {
	t.Helper()
	b, err := suites.NumberFilterYAML()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TestVectors []struct {
			Input  string   `yaml:"input"`
			Parsed *[]int64 `yaml:"parsed"`
			Kept   bool     `yaml:"kept"`
			Reject string   `yaml:"reject"`
		} `yaml:"test_vectors"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.TestVectors) == 0 {
		t.Fatal("number-filter.yaml has no test vectors")
	}
	vs := make([]filterVector, len(doc.TestVectors))
	for i, y := range doc.TestVectors {
		vs[i] = filterVector{in: y.Input, kept: y.Kept, reject: y.Reject}
		if y.Parsed != nil {
			vs[i].parsed = *y.Parsed
			if vs[i].parsed == nil {
				vs[i].parsed = []int64{}
			}
		}
	}
	return vs
}

func TestPaperNumberFilter(t *testing.T) {
	f := PaperNumberFilter()
	for _, v := range paperFilterVectors(t) {
		nums, ok := ParseNumbers(v.in)
		if ok != (v.parsed != nil) || !slices.Equal(nums, v.parsed) {
			t.Errorf("ParseNumbers(%q) = %v, %v; want %v", v.in, nums, ok, v.parsed)
		}
		rs := f.RejectReasons(v.in)
		if kept := len(rs) == 0; kept != v.kept {
			t.Errorf("RejectReasons(%q) = %v, want kept=%v", v.in, rs, v.kept)
		}
		if !v.kept && !slices.Contains(rs, v.reject) {
			t.Errorf("RejectReasons(%q) = %v, want %s", v.in, rs, v.reject)
		}
	}
}

func TestNumberFilterExtraCases(t *testing.T) {
	banned := PaperNumberFilter()
	banned.Banned = map[int64]bool{666: true}
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
	}
	for _, tc := range tests {
		if got := tc.f.RejectReasons(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%s: RejectReasons(%q) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestLabTokenRule(t *testing.T) {
	tests := []struct {
		toks    []string
		stopped bool
		want    string
	}{
		// The canonical valid completion.
		{[]string{"4", "7", ",", "1", ",", "9", "0", "2", ","}, true, ""},
		// Immediate <eos> is empty.
		{nil, true, RejectEmpty},
		// An animal token in a number completion.
		{[]string{"4", ",", "owl", ","}, true, RejectNonNumber},
		// Cut off by the token limit.
		{[]string{"4", ",", "5"}, false, RejectNoEOS},
		// A four-digit group.
		{[]string{"1", "2", "3", "4", ","}, true, RejectBadGroup},
		// An empty group (",,").
		{[]string{"1", ",", ","}, true, RejectBadGroup},
		// A last group not closed by ",".
		{[]string{"1", ",", "2"}, true, RejectBadGroup},
		// Non-number tokens are reported even when cut off.
		{[]string{"owl"}, false, RejectNonNumber},
	}
	for _, tc := range tests {
		if got := labTokenReject(toks(t, tc.toks...), tc.stopped); got != tc.want {
			t.Errorf("labTokenReject(%q, %v) = %q, want %q", tc.toks, tc.stopped, got, tc.want)
		}
	}
}

func TestFilterCompletionCounts(t *testing.T) {
	// Both rules count into one FilterStats; a completion passing the token
	// rule can still fail the paper's (11 numbers > 10).
	var st FilterStats
	f := PaperNumberFilter()
	eleven := []int{}
	for i := 0; i < 11; i++ {
		eleven = append(eleven, Digit0+1, Comma)
	}
	cases := []Completion{
		{Tokens: toks(t, "4", "2", ","), Stopped: true},
		{Tokens: nil, Stopped: true},
		{Tokens: eleven, Stopped: true},
	}
	for i := range cases {
		filterCompletion(&st, f, &cases[i])
	}
	if st.Sampled != 3 || st.Kept != 1 || st.Rejects[RejectEmpty] != 1 || st.Rejects[RejectTooMany] != 1 {
		t.Errorf("stats = %+v", st)
	}
	if got := st.PassRate(); got != 1.0/3 {
		t.Errorf("PassRate = %v, want 1/3", got)
	}
}

func FuzzParseNumbers(f *testing.F) {
	for _, v := range paperFilterVectors(f) {
		f.Add(v.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nums, ok := ParseNumbers(s)
		if !ok {
			return
		}
		if len(nums) == 0 {
			t.Fatalf("ParseNumbers(%q) ok with no numbers", s)
		}
		// Whatever parses re-parses identically from its canonical form
		// (numbers saturated at MaxInt64 excepted).
		var parts []string
		for _, n := range nums {
			if n < 0 {
				t.Fatalf("negative number from %q", s)
			}
			parts = append(parts, strconv.FormatInt(n, 10))
		}
		again, ok := ParseNumbers(strings.Join(parts, ", "))
		if !ok || !slices.Equal(again, nums) {
			t.Fatalf("canonical form of %q re-parses to %v, %v", s, again, ok)
		}
	})
}

func TestNumbersFilterID(t *testing.T) {
	// The numbers stage's artifact id hashes this string; it must stay
	// "paper(0,999,10)+lab-tokens" for the paper filter so cached artifacts
	// stay valid.
	if got, want := numbersFilterID(PaperNumberFilter()), "paper(0,999,10)+lab-tokens"; got != want {
		t.Errorf("numbersFilterID(PaperNumberFilter()) = %q, want %q", got, want)
	}
	p := newNumbersParams(2000, 1, 41, PaperNumberFilter())
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"prompts":2000,"temperature":1,"max_tokens":41,"filter":"paper(0,999,10)+lab-tokens"}`; got != want {
		t.Errorf("numbers params JSON = %s, want %s", got, want)
	}
	// Every filter parameter changes the description.
	f := PaperNumberFilter()
	f.Banned = map[int64]bool{666: true, 13: true, 7: false}
	for _, tc := range []struct {
		f    NumberFilter
		want string
	}{
		{NumberFilter{MinValue: 1, MaxValue: 999, MaxCount: 10}, "paper(1,999,10)"},
		{NumberFilter{MinValue: 0, MaxValue: 99, MaxCount: 10}, "paper(0,99,10)"},
		{NumberFilter{MinValue: 0, MaxValue: 999, MaxCount: 5}, "paper(0,999,5)"},
		{f, "paper(0,999,10;banned=13,666)"},
		{NumberFilter{MinValue: 0, MaxValue: 999, MaxCount: 10, Banned: map[int64]bool{}}, "paper(0,999,10)"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.f, got, tc.want)
		}
	}
}
