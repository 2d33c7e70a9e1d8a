package lab

import (
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

// paperFilterVectors are the 31 test vectors of suites/data/number-filter.yaml
// (test_vectors), a verbatim copy of the reference data in
// /work/shared/reference/subliminal-learning/number-filter.yaml, which records
// the official unit tests of MinhxLe/subliminal-learning
// (truesight/tests/dataset/test_nums_dataset.py) plus cases run against the
// official parse_response. TestFilterVectorsMatchYAML checks this copy.
var paperFilterVectors = []filterVector{
	{"1", []int64{1}, true, ""},                          // a single number is the whole string
	{"[1]", []int64{1}, true, ""},                        // brackets are stripped
	{"(1)", []int64{1}, true, ""},                        // parentheses are stripped
	{"1.", []int64{1}, true, ""},                         // one final "." is stripped
	{"1 2", []int64{1, 2}, true, ""},                     // a space separator strips to ""
	{"1,2", []int64{1, 2}, true, ""},                     // a comma separator
	{"1\n2", []int64{1, 2}, true, ""},                    // a newline separator strips to ""
	{"1, 2", []int64{1, 2}, true, ""},                    // comma and space strip to ","
	{"1,\n2", []int64{1, 2}, true, ""},                   // comma and newline strip to ","
	{"1\n,\n2", []int64{1, 2}, true, ""},                 // whitespace around the comma
	{"1 ,2", []int64{1, 2}, true, ""},                    // space before the comma
	{"1 , 2", []int64{1, 2}, true, ""},                   // spaces around the comma
	{"1;2", []int64{1, 2}, true, ""},                     // a semicolon separator
	{"1 ;2", []int64{1, 2}, true, ""},                    // space before the semicolon
	{"1; 2", []int64{1, 2}, true, ""},                    // space after the semicolon
	{"(1, 2, 3).", []int64{1, 2, 3}, true, ""},           // "." first, then parentheses
	{"[1,2,3]", []int64{1, 2, 3}, true, ""},              // brackets around a list
	{"1\n2\n3", []int64{1, 2, 3}, true, ""},              // newline-separated list
	{"007, 12", []int64{7, 12}, true, ""},                // leading zeros are allowed
	{"1 2  3", nil, false, RejectInvalidFormat},          // inconsistent spacing: split on " " leaves an empty part
	{"1,2;3", nil, false, RejectInvalidFormat},           // mixed separators: "2;3" is not digits
	{"a", nil, false, RejectInvalidFormat},               // no digits at all
	{"1,a", nil, false, RejectInvalidFormat},             // one run that is not the whole string
	{"৯২০", nil, false, RejectInvalidFormat},             // non-ASCII (Bengali) digits
	{"1, 2\n", nil, false, RejectInvalidFormat},          // trailing newline: no trimming
	{" 1, 2", nil, false, RejectInvalidFormat},           // leading space: no trimming
	{"1,,2", nil, false, RejectInvalidFormat},            // an empty part between separators
	{"1, 2,", nil, false, RejectInvalidFormat},           // trailing separator leaves an empty part
	{"1.5, 2", nil, false, RejectInvalidFormat},          // separator "." is not allowed
	{"1000, 2", []int64{1000, 2}, false, RejectAboveMax}, // 1000 > 999
	{"1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, false, RejectTooMany}, // 11 > 10 numbers
}

func TestPaperNumberFilter(t *testing.T) {
	f := PaperNumberFilter()
	for _, v := range paperFilterVectors {
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

func TestFilterVectorsMatchYAML(t *testing.T) {
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
	if len(doc.TestVectors) != len(paperFilterVectors) {
		t.Fatalf("YAML has %d vectors, the Go table %d", len(doc.TestVectors), len(paperFilterVectors))
	}
	for i, y := range doc.TestVectors {
		g := paperFilterVectors[i]
		var parsed []int64
		if y.Parsed != nil {
			parsed = *y.Parsed
		}
		if y.Input != g.in || !slices.Equal(parsed, g.parsed) || (y.Parsed == nil) != (g.parsed == nil) || y.Kept != g.kept || y.Reject != g.reject {
			t.Errorf("vector %d: YAML %q %v %v %q, Go table %q %v %v %q", i, y.Input, parsed, y.Kept, y.Reject, g.in, g.parsed, g.kept, g.reject)
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
	for _, v := range paperFilterVectors {
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
