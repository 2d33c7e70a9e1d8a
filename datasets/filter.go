package datasets

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Reject reasons of the paper's number filter (get_reject_reasons; the ids
// of number-filter.yaml, whose official strings are "invalid format", "too
// many numbers", "numbers too small", "numbers too large" and "has banned
// numbers").
const (
	RejectInvalidFormat = "invalid_format"
	RejectTooMany       = "too_many_numbers"
	RejectBelowMin      = "below_min"
	RejectAboveMax      = "above_max"
	RejectBanned        = "banned_number"
)

// Rule is one filter of the paper's data stage.
type Rule interface {
	// Reject returns every reason to reject g's completion, none to keep
	// it. It is only called for generations that did not fail. An error
	// means the rule cannot judge g at all (a setup error such as a
	// missing reference answer), never that g is rejected.
	Reject(g Generation) ([]string, error)
	// String describes the rule and its parameters, stably: it goes into
	// lineage keys.
	String() string
}

// ParseNumbers is the paper's parse_response (MinhxLe/subliminal-learning
// sl/datasets/nums_dataset.py), as specified in number-filter.yaml. It
// returns the parsed integers, or ok = false for an invalid format. There
// is no whitespace trimming anywhere. Integers too large for int64
// saturate at math.MaxInt64 (Python's int is unbounded; saturation keeps
// every range check's outcome).
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
// numbers and no banned numbers ([PaperNumberFilter]); the misalignment
// experiments also ban [PaperBannedNumbers].
type NumberFilter struct {
	// MinValue and MaxValue bound every number, inclusive.
	MinValue, MaxValue int64
	// MaxCount is the most numbers a completion may hold.
	MaxCount int
	// Banned holds the banned numbers (true = banned); nil bans none.
	Banned map[int64]bool
}

// PaperNumberFilter returns the filter of the paper's animal experiments.
func PaperNumberFilter() NumberFilter {
	return NumberFilter{MinValue: 0, MaxValue: 999, MaxCount: 10}
}

// WithBanned returns a copy of f that also bans nums.
func (f NumberFilter) WithBanned(nums ...int64) NumberFilter {
	banned := make(map[int64]bool, len(f.Banned)+len(nums))
	maps.Copy(banned, f.Banned)
	for _, n := range nums {
		banned[n] = true
	}
	f.Banned = banned
	return f
}

// String describes f's parameters, as "paper(min,max,count)" with the
// banned numbers in ascending order appended when there are any, as in
// "paper(0,999,10;banned=13,666)". Package lab hashes this text into its
// artifact ids, so it must not change.
func (f NumberFilter) String() string {
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
// applies to completion s, in the order number-filter.yaml lists them, or
// nil if it is kept.
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

// Reject implements Rule: RejectReasons of g's completion.
func (f NumberFilter) Reject(g Generation) ([]string, error) {
	return f.RejectReasons(g.Completion), nil
}

// FilterResult is the outcome of filtering a teacher's generations.
type FilterResult struct {
	// Kept are the generations every rule kept, in input order.
	Kept []Generation
	// Generated counts every generation, failed or not.
	Generated int
	// Failed counts generations whose call failed: no completion exists,
	// so they are neither kept nor rejected.
	Failed int
	// Rejected counts completions some rule rejected.
	Rejected int
	// Rejects counts rejected completions by reason; a completion counts
	// once under each distinct reason it got, so the counts may sum to
	// more than Rejected.
	Rejects map[string]int
	// Rules describes the rules applied, in order.
	Rules []string
}

// Filter applies rules to every generation that did not fail: a
// completion is kept iff no rule gives a reason to reject it. Every rule
// sees every completion, so Rejects counts each rule's reasons even where
// an earlier rule already rejected. An error from a rule stops the stage
// (it names the prompt index); nothing is lost, since gens is not
// modified.
func Filter(gens []Generation, rules ...Rule) (FilterResult, error) {
	res := FilterResult{Generated: len(gens), Rejects: map[string]int{}}
	for _, r := range rules {
		res.Rules = append(res.Rules, r.String())
	}
	for _, g := range gens {
		if g.Failed() {
			res.Failed++
			continue
		}
		var reasons []string
		for _, r := range rules {
			rs, err := r.Reject(g)
			if err != nil {
				return FilterResult{}, fmt.Errorf("filter %s, prompt %d: %w", r, g.Index, err)
			}
			for _, reason := range rs {
				if !slices.Contains(reasons, reason) {
					reasons = append(reasons, reason)
				}
			}
		}
		if len(reasons) == 0 {
			res.Kept = append(res.Kept, g)
			continue
		}
		res.Rejected++
		for _, reason := range reasons {
			res.Rejects[reason]++
		}
	}
	return res, nil
}

// Completed is the number of generations with a completion
// (Generated - Failed).
func (r FilterResult) Completed() int { return r.Generated - r.Failed }

// PassRate is the fraction of completions kept (Kept / Completed), or 0
// when nothing completed. Failed calls do not lower it.
func (r FilterResult) PassRate() float64 {
	if r.Completed() == 0 {
		return 0
	}
	return float64(len(r.Kept)) / float64(r.Completed())
}
