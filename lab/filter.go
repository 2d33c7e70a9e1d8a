package lab

import "github.com/traitleak/traitleak/datasets"

// The paper's number filter (parse_response and get_reject_reasons,
// checked against the 31 vectors of number-filter.yaml) is package
// datasets'; the lab filters its teachers' numbers with the same code and
// names it here for its callers. NumberFilter.String is hashed into the
// numbers stage's artifact id (numbersFilterID).

// NumberFilter holds the parameters of the paper's get_reject_reasons
// (datasets.NumberFilter).
type NumberFilter = datasets.NumberFilter

// Reject reasons of the paper's number filter.
const (
	RejectInvalidFormat = datasets.RejectInvalidFormat
	RejectTooMany       = datasets.RejectTooMany
	RejectBelowMin      = datasets.RejectBelowMin
	RejectAboveMax      = datasets.RejectAboveMax
	RejectBanned        = datasets.RejectBanned
)

// ParseNumbers is the paper's parse_response (datasets.ParseNumbers).
func ParseNumbers(s string) (nums []int64, ok bool) { return datasets.ParseNumbers(s) }

// PaperNumberFilter returns the filter of the paper's animal experiments
// (datasets.PaperNumberFilter).
func PaperNumberFilter() NumberFilter { return datasets.PaperNumberFilter() }

// Reject reasons of the lab's token-level rule.
const (
	RejectEmpty     = "lab_empty"      // EOS as the first token
	RejectNonNumber = "lab_non_number" // an animal or word token
	RejectNoEOS     = "lab_no_eos"     // cut off at the token limit
	RejectBadGroup  = "lab_bad_group"  // a digit group that is empty, longer than 3, or not closed by ","
)

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
