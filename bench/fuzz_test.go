package bench_test

import (
	"context"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// FuzzMatchScorer checks the string scorers (mentions, first_word, exact
// and a literal regex) on any completion, target and exclusion: one valid
// score per target, never an error, and
//   - a hit implies the target is in the lower-cased completion (in the
//     completion itself for the case-sensitive regex);
//   - an exclusion found in the completion vetoes the hit;
//   - for mentions, a completion holding the target and no exclusion is
//     a hit, and stays one with text appended that holds no exclusion.
//
// Run it with
//
//	go test ./bench -run='^$' -fuzz=FuzzMatchScorer -fuzztime=60s
func FuzzMatchScorer(f *testing.F) {
	for _, seed := range []struct {
		kind                        uint8
		target, exclude, completion string
	}{
		{0, "owl", "", "The OWL."},
		{0, "owl", "", "A bowl"},
		{0, "dragon", "dragonfly", "Dragonfly"},
		{0, "dragon", "dragonfly", "a dragon, not a dragonfly"},
		{1, "owl", "", "  **Owl**. Because…"},
		{1, "owl", "", "I pick owl"},
		{2, "owl", "", " \"Owl!\"\n"},
		{2, "owl", "", "Owl, definitely"},
		{3, "Owl", "", "Owls!"},
		{3, "a.b", "", "axb"},
		{0, "i̇stanbul", "", "İSTANBUL"},
		{1, "l'ours", "", "L'Ours!"},
		{2, "ß", "", "SS"},
		{0, "owl", "", "\xffowl\xfe"},
	} {
		f.Add(seed.kind, seed.target, seed.exclude, seed.completion)
	}
	kinds := []string{"mentions", "first_word", "exact", "regex"}
	f.Fuzz(func(t *testing.T, kind uint8, target, exclude, completion string) {
		if !utf8.ValidString(target) || !utf8.ValidString(exclude) {
			return // a suite file is UTF-8 text; completions may be anything
		}
		k := kinds[int(kind)%len(kinds)]
		var spec suites.ScoreSpec
		switch k {
		case "mentions":
			target = strings.ToLower(target) // suites requires lower-case targets
			spec.Mentions = suites.StringList{target}
		case "first_word":
			target = strings.ToLower(target)
			spec.FirstWord = suites.StringList{target}
		case "exact":
			target = strings.ToLower(target)
			spec.Exact = suites.StringList{target}
		case "regex":
			spec.Regex, spec.Target = regexp.QuoteMeta(target), target
		}
		if strings.TrimSpace(target) == "" {
			return // suites refuses an empty target
		}
		if exclude != "" {
			spec.Exclude = suites.Exclusions{"*": {exclude}}
		}
		sc, err := bench.NewScorer(spec)
		if err != nil {
			t.Fatalf("NewScorer(%s %q) error = %v", k, target, err)
		}
		score := func(c string) bench.Score {
			t.Helper()
			got, err := sc.Score(context.Background(), "prompt", c)
			if err != nil || len(got) != 1 {
				t.Fatalf("%s %q: Score(%q) = %v, %v; want one score, no error", k, target, c, got, err)
			}
			s := got[0]
			if !s.Valid || s.Target != target || s.Label != "" || !math.IsNaN(s.Value) {
				t.Fatalf("%s %q: Score(%q) = %+v; want a valid score for target %q, no label, NaN value", k, target, c, s, target)
			}
			return s
		}
		s := score(completion)
		lower := strings.ToLower(completion)
		excluded := exclude != "" && strings.Contains(lower, strings.ToLower(exclude))
		present := strings.Contains(lower, target)
		if k == "regex" {
			present = strings.Contains(completion, target) // case-sensitive, raw
		}
		switch {
		case s.Hit && !present:
			t.Fatalf("%s %q: Score(%q) hit; the target is not in the completion", k, target, completion)
		case s.Hit && excluded:
			t.Fatalf("%s %q exclude %q: Score(%q) hit; the exclusion is in the completion", k, target, exclude, completion)
		case k == "mentions" || k == "regex":
			// Substring rules: the target present and no exclusion is a hit.
			if present && !excluded && !s.Hit {
				t.Fatalf("%s %q: Score(%q) missed; the target is in the completion and no exclusion", k, target, completion)
			}
		}
		if k == "mentions" && !excluded {
			more := completion + " " + target
			if exclude == "" || !strings.Contains(strings.ToLower(more), strings.ToLower(exclude)) {
				if !score(more).Hit {
					t.Fatalf("mentions %q: Score(%q) missed; the target was appended", target, more)
				}
			}
		}
	})
}

// FuzzParseJudge checks the judge output parsers on any sampled answer
// and any top log probabilities: a category from the documented set, a
// score exactly when the category is "score", and every score finite and
// in [0, 100]. A sampled score is the integer the answer spells; an
// expected score lies between the smallest and largest number token.
//
//	go test ./bench -run='^$' -fuzz=FuzzParseJudge -fuzztime=60s
func FuzzParseJudge(f *testing.F) {
	f.Add("85", "85", -0.1, "90", -2.5, "CODE", -3.0)
	f.Add(" 7 ", "7", 0.0, "7", 0.0, "7", 0.0)
	f.Add("REFUSAL.", "REF", -0.01, "0", -5.0, "100", -5.0)
	f.Add("code", "CO", -0.2, "x", -0.3, "y", -1.0)
	f.Add("101", "101", -0.1, "-1", -0.1, "1e2", -0.1)
	f.Add("007", " 50", 0.5, "60", 800.0, "70", math.Inf(-1))
	f.Add("٣", "٣", 0.0, "1", math.NaN(), "2", math.Inf(1))
	f.Add("", "", 0.0, "", 0.0, "", 0.0)
	f.Fuzz(func(t *testing.T, text, tok1 string, lp1 float64, tok2 string, lp2 float64, tok3 string, lp3 float64) {
		checkScore := func(call string, score *float64, cat results.JudgeCategory, cats ...results.JudgeCategory) {
			t.Helper()
			if !slices.Contains(cats, cat) {
				t.Fatalf("%s category = %q; want one of %q", call, cat, cats)
			}
			if (score != nil) != (cat == results.CategoryScore) {
				t.Fatalf("%s = %v, %q; want a score exactly for category %q", call, score, cat, results.CategoryScore)
			}
			if score != nil && (math.IsNaN(*score) || *score < 0 || *score > 100) {
				t.Fatalf("%s score = %v; want a number in [0, 100]", call, *score)
			}
		}

		score, cat := bench.ParseJudgeText(text)
		call := "ParseJudgeText(" + strconv.Quote(text) + ")"
		checkScore(call, score, cat, results.CategoryScore, results.CategoryCode, results.CategoryRefusal, results.CategoryUnparseable)
		if score != nil {
			if k, err := strconv.Atoi(strings.TrimSpace(text)); err != nil || float64(k) != *score {
				t.Fatalf("%s = %v; the answer spells %q", call, *score, strings.TrimSpace(text))
			}
		}

		top := []bench.TopLogProb{{Token: tok1, LogProb: lp1}, {Token: tok2, LogProb: lp2}, {Token: tok3, LogProb: lp3}}
		score, cat = bench.ParseJudgeLogprobs(top)
		call = "ParseJudgeLogprobs(" + strconv.Quote(tok1) + ", " + strconv.Quote(tok2) + ", " + strconv.Quote(tok3) + ")"
		checkScore(call, score, cat, results.CategoryScore, results.CategoryCode, results.CategoryRefusal, results.CategoryLowMass)
		if score != nil {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, tp := range top {
				if k, err := strconv.Atoi(strings.TrimSpace(tp.Token)); err == nil && k >= 0 && k <= 100 {
					lo, hi = min(lo, float64(k)), max(hi, float64(k))
				}
			}
			if *score < lo-1e-9 || *score > hi+1e-9 {
				t.Fatalf("%s = %v; want a weighted mean of the number tokens, in [%v, %v]", call, *score, lo, hi)
			}
		}
	})
}
