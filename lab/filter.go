package lab

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Reject reasons of the paper's number filter (ids from
// suites/data/number-filter.yaml, get_reject_reasons).
const (
	RejectInvalidFormat = "invalid_format"
	RejectTooMany       = "too_many_numbers"
	RejectBelowMin      = "below_min"
	RejectAboveMax      = "above_max"
	RejectBanned        = "banned_number"
)

// Reject reasons of the lab's token-level rule.
const (
	RejectEmpty     = "lab_empty"      // EOS as the first token
	RejectNonNumber = "lab_non_number" // an animal or word token
	RejectNoEOS     = "lab_no_eos"     // cut off at the token limit
	RejectBadGroup  = "lab_bad_group"  // a digit group that is empty, longer than 3, or not closed by ","
)

// ParseNumbers is the paper's parse_response (MinhxLe/subliminal-learning
// sl/datasets/nums_dataset.py), as specified in
// suites/data/number-filter.yaml. It returns the parsed integers, or ok =
// false for an invalid format. There is no whitespace trimming anywhere.
// Integers too large for int64 saturate at math.MaxInt64 (Python's int is
// unbounded; saturation keeps every range check's outcome).
func ParseNumbers(s string) (nums []int64, ok bool) {
	// 1. Drop one final ".".
	s = strings.TrimSuffix(s, ".")
	// 2. Drop enclosing [] or ().
	if (strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]")) || (strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")")) {
		if len(s) >= 2 {
			s = s[1 : len(s)-1]
		} else {
			s = "" // Python's "["[1:-1] is ""
		}
	}
	// 3. Maximal runs of digits. Python's \d matches any Unicode decimal
	// digit (category Nd); step 6 then rejects the non-ASCII ones.
	type run struct{ start, end int }
	var runs []run
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsDigit(r) {
			i += size
			continue
		}
		j := i + size
		for j < len(s) {
			r2, s2 := utf8.DecodeRuneInString(s[j:])
			if !unicode.IsDigit(r2) {
				break
			}
			j += s2
		}
		runs = append(runs, run{i, j})
		if len(runs) == 2 {
			break // only the first two runs matter
		}
		i = j
	}
	var parts []string
	switch len(runs) {
	case 0:
		return nil, false
	case 1:
		if s[runs[0].start:runs[0].end] != s {
			return nil, false
		}
		parts = []string{s}
	default:
		// 4. The separator is the text between the first two runs.
		sep := s[runs[0].end:runs[1].start]
		// 5. Its whitespace-stripped form must be "", "," or ";".
		switch strings.TrimFunc(sep, pyIsSpace) {
		case "", ",", ";":
		default:
			return nil, false
		}
		parts = strings.Split(s, sep)
	}
	// 6. Every part must be ASCII digits; an empty part fails int().
	nums = make([]int64, 0, len(parts))
	for _, p := range parts {
		if p == "" {
			return nil, false
		}
		var v int64
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c < '0' || c > '9' {
				return nil, false
			}
			if v > (math.MaxInt64-9)/10 {
				v = math.MaxInt64
			} else {
				v = v*10 + int64(c-'0')
			}
		}
		nums = append(nums, v)
	}
	return nums, true
}

// pyIsSpace reports whether r is whitespace for Python's str.strip():
// Go's unicode.IsSpace plus the ASCII separators U+001C–U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// NumberFilter holds the parameters of the paper's get_reject_reasons.
// The animal-preference experiments use min 0, max 999, at most 10
// numbers and no banned numbers ([PaperNumberFilter]).
type NumberFilter struct {
	MinValue, MaxValue int64
	MaxCount           int
	Banned             map[int64]bool
}

// PaperNumberFilter returns the filter of the paper's animal experiments.
func PaperNumberFilter() NumberFilter {
	return NumberFilter{MinValue: 0, MaxValue: 999, MaxCount: 10}
}

// describe returns f's parameters as hashed into the numbers stage's
// artifact id: "paper(min,max,count)", with the banned numbers in
// ascending order appended when there are any, as in
// "paper(0,999,10;banned=13,666)".
func (f NumberFilter) describe() string {
	s := fmt.Sprintf("paper(%d,%d,%d", f.MinValue, f.MaxValue, f.MaxCount)
	var banned []int64
	for n, b := range f.Banned {
		if b {
			banned = append(banned, n)
		}
	}
	if len(banned) > 0 {
		slices.Sort(banned)
		parts := make([]string, len(banned))
		for i, n := range banned {
			parts[i] = strconv.FormatInt(n, 10)
		}
		s += ";banned=" + strings.Join(parts, ",")
	}
	return s + ")"
}

// RejectReasons is the paper's get_reject_reasons: every reason that
// applies to completion s, or nil if it is kept.
func (f NumberFilter) RejectReasons(s string) []string {
	nums, ok := ParseNumbers(s)
	if !ok {
		return []string{RejectInvalidFormat}
	}
	var reasons []string
	if len(nums) > f.MaxCount {
		reasons = append(reasons, RejectTooMany)
	}
	below, above, banned := false, false, false
	for _, n := range nums {
		below = below || n < f.MinValue
		above = above || n > f.MaxValue
		banned = banned || f.Banned[n]
	}
	if below {
		reasons = append(reasons, RejectBelowMin)
	}
	if above {
		reasons = append(reasons, RejectAboveMax)
	}
	if banned {
		reasons = append(reasons, RejectBanned)
	}
	return reasons
}

// labTokenReject applies the lab's token-level rule to a generated token
// sequence (stopped = it ended with EOS): only digits and ",", every digit
// group 1–3 digits long and closed by ",", and a final EOS. It returns ""
// if the sequence passes.
func labTokenReject(toks []int, stopped bool) string {
	if len(toks) == 0 && stopped {
		return RejectEmpty
	}
	for _, t := range toks {
		if t != Comma && !isDigitTok(t) {
			return RejectNonNumber
		}
	}
	if !stopped {
		return RejectNoEOS
	}
	group := 0
	for _, t := range toks {
		if t == Comma {
			if group == 0 {
				return RejectBadGroup
			}
			group = 0
			continue
		}
		group++
		if group > 3 {
			return RejectBadGroup
		}
	}
	if group != 0 {
		return RejectBadGroup
	}
	return ""
}

// FilterStats counts a filtering pass.
type FilterStats struct {
	Sampled int            `json:"sampled"`
	Kept    int            `json:"kept"`
	Rejects map[string]int `json:"rejects"` // by reason; a completion may count under several paper reasons
}

// PassRate is Kept/Sampled.
func (s FilterStats) PassRate() float64 {
	if s.Sampled == 0 {
		return 0
	}
	return float64(s.Kept) / float64(s.Sampled)
}

// filterCompletion applies the lab token rule and then the paper filter to
// the detokenized text, updating st, and reports whether to keep it.
func filterCompletion(st *FilterStats, f NumberFilter, c *Completion) bool {
	st.Sampled++
	if st.Rejects == nil {
		st.Rejects = map[string]int{}
	}
	if r := labTokenReject(c.Tokens, c.Stopped); r != "" {
		st.Rejects[r]++
		return false
	}
	if rs := f.RejectReasons(c.Text()); len(rs) > 0 {
		for _, r := range rs {
			st.Rejects[r]++
		}
		return false
	}
	st.Kept++
	return true
}
