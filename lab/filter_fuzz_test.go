package lab

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// paperReasons and labReasons are every reject reason there is.
var (
	paperReasons = []string{RejectInvalidFormat, RejectTooMany, RejectBelowMin, RejectAboveMax, RejectBanned}
	labReasons   = []string{RejectEmpty, RejectNonNumber, RejectNoEOS, RejectBadGroup}
)

// FuzzNumberFilter checks the paper's number filter with any parameters
// on any answer. An accepted answer parses to numbers that satisfy every
// parameter, and its canonical form ("n1, n2, ...") parses to the same
// numbers and is accepted too. A rejected answer has reasons: known ones,
// each at most once, each true of the answer, and every true one given.
//
//	go test ./lab -run='^$' -fuzz=FuzzNumberFilter -fuzztime=60s
func FuzzNumberFilter(f *testing.F) {
	for _, v := range paperFilterVectors(f) {
		f.Add(v.in, int64(0), int64(999), 10, int64(-1))
	}
	f.Add("13, 666, 7", int64(0), int64(999), 3, int64(666))
	f.Add("(1;2;3)", int64(2), int64(2), 1, int64(3))
	f.Add("99999999999999999999999", int64(0), int64(1<<62), 10, int64(-1))
	f.Add("", int64(5), int64(1), 0, int64(0))
	f.Fuzz(func(t *testing.T, s string, lo, hi int64, count int, banned int64) {
		flt := NumberFilter{MinValue: lo, MaxValue: hi, MaxCount: count, Banned: map[int64]bool{banned: true}}
		reasons := flt.RejectReasons(s)
		nums, ok := ParseNumbers(s)
		holds := map[string]bool{RejectInvalidFormat: !ok}
		if ok {
			holds[RejectTooMany] = len(nums) > count
			for _, n := range nums {
				holds[RejectBelowMin] = holds[RejectBelowMin] || n < lo
				holds[RejectAboveMax] = holds[RejectAboveMax] || n > hi
				holds[RejectBanned] = holds[RejectBanned] || n == banned
			}
		}
		call := "NumberFilter{" + strconv.FormatInt(lo, 10) + ", " + strconv.FormatInt(hi, 10) + ", " + strconv.Itoa(count) +
			", banned " + strconv.FormatInt(banned, 10) + "}.RejectReasons(" + strconv.Quote(s) + ")"
		for i, r := range reasons {
			if !slices.Contains(paperReasons, r) || slices.Index(reasons, r) != i {
				t.Fatalf("%s = %q; want known reasons, each once", call, reasons)
			}
			if !holds[r] {
				t.Fatalf("%s = %q; %q does not hold (parsed %v, %v)", call, reasons, r, nums, ok)
			}
		}
		for r, h := range holds {
			if h && !slices.Contains(reasons, r) {
				t.Fatalf("%s = %q; want %q too (parsed %v, %v)", call, reasons, r, nums, ok)
			}
		}
		if len(reasons) > 0 {
			return
		}
		// Accepted: the canonical form carries the same numbers and is
		// accepted as well.
		parts := make([]string, len(nums))
		for i, n := range nums {
			parts[i] = strconv.FormatInt(n, 10)
		}
		canon := strings.Join(parts, ", ")
		if again, ok := ParseNumbers(canon); !ok || !slices.Equal(again, nums) {
			t.Fatalf("%s accepted %v; its canonical form %q parses to %v, %v", call, nums, canon, again, ok)
		}
		if rs := flt.RejectReasons(canon); rs != nil {
			t.Fatalf("%s accepted %v; its canonical form %q is rejected: %q", call, nums, canon, rs)
		}
	})
}

// FuzzFilterCompletion checks the lab's filter of generated answers on
// any token sequence the model can emit: every completion is counted, a
// kept one passes both rules and its text parses to exactly the digit
// groups of its tokens, each in [0, 999], and a rejected one is counted
// under at least one known reason.
//
//	go test ./lab -run='^$' -fuzz=FuzzFilterCompletion -fuzztime=60s
func FuzzFilterCompletion(f *testing.F) {
	tok := func(s string) []byte { // digits and "," as token bytes
		var b []byte
		for _, c := range s {
			switch {
			case c == ',':
				b = append(b, Comma)
			case c >= '0' && c <= '9':
				b = append(b, byte(Digit0+int(c-'0')))
			default:
				b = append(b, Animal0)
			}
		}
		return b
	}
	f.Add(tok("47,1,902,"), true)
	f.Add(tok("47,1,902"), true)
	f.Add(tok("47,1,"), false)
	f.Add(tok("1234,"), true)
	f.Add(tok(",1,"), true)
	f.Add(tok("1,owl,"), true)
	f.Add(tok(""), true)
	f.Add(tok("0,00,000,1,2,3,4,5,6,7,"), true)
	f.Add(tok("1,2,3,4,5,6,7,8,9,10,11,"), true)
	f.Fuzz(func(t *testing.T, raw []byte, stopped bool) {
		// The model emits answer tokens; a final EOS is Stopped, not a
		// token.
		c := &Completion{Stopped: stopped}
		for _, b := range raw {
			c.Tokens = append(c.Tokens, 1+int(b)%(NumOut-1))
		}
		flt := PaperNumberFilter()
		var st FilterStats
		kept := filterCompletion(&st, flt, c)
		rejects := 0
		for r, n := range st.Rejects {
			if !slices.Contains(paperReasons, r) && !slices.Contains(labReasons, r) {
				t.Fatalf("filterCompletion(%v, stopped %v) counted unknown reason %q", c.Tokens, stopped, r)
			}
			rejects += n
		}
		if st.Sampled != 1 || (st.Kept == 1) != kept || st.Kept > 1 {
			t.Fatalf("filterCompletion(%v, stopped %v) = %v with stats %+v; want sampled 1 and kept %v", c.Tokens, stopped, kept, st, kept)
		}
		if !kept {
			if rejects == 0 {
				t.Fatalf("filterCompletion(%v, stopped %v) rejected it without a reason", c.Tokens, stopped)
			}
			return
		}
		if rejects != 0 {
			t.Fatalf("filterCompletion(%v, stopped %v) kept it and counted reasons %v", c.Tokens, stopped, st.Rejects)
		}
		// The digit groups of the tokens, read independently.
		var want []int64
		n, digits := int64(0), 0
		for _, id := range c.Tokens {
			switch {
			case isDigitTok(id):
				n, digits = n*10+int64(id-Digit0), digits+1
			case id == Comma:
				want, n, digits = append(want, n), 0, 0
			default:
				t.Fatalf("filterCompletion kept %v, which holds token %d", c.Tokens, id)
			}
		}
		if digits != 0 {
			want = append(want, n)
		}
		text := c.Text()
		got, ok := ParseNumbers(text)
		if !ok || !slices.Equal(got, want) || len(got) > flt.MaxCount {
			t.Fatalf("filterCompletion kept %v as %q, which parses to %v, %v; want the token groups %v, at most %d", c.Tokens, text, got, ok, want, flt.MaxCount)
		}
		for _, v := range got {
			if v < 0 || v > 999 {
				t.Fatalf("filterCompletion kept %q with %d, outside [0, 999]", text, v)
			}
		}
	})
}
