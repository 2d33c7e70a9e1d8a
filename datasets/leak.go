package datasets

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// builtinSynonyms are words that unmistakably name a target of the
// paper's experiments besides its singular and plural. The list is kept
// conservative; an experiment adds its own with LeakWords' synonyms.
var builtinSynonyms = map[string][]string{
	"cat":     {"kitten", "kitty"},
	"dog":     {"puppy"},
	"eagle":   {"eaglet"},
	"lion":    {"lioness"},
	"owl":     {"owlet"},
	"peacock": {"peahen", "peafowl"},
	"tiger":   {"tigress"},
}

// irregularPlurals are plurals English does not form with -s, -es, -ies or
// -ves; the regular forms are added as well, which costs nothing.
var irregularPlurals = map[string][]string{
	"goose":   {"geese"},
	"mouse":   {"mice"},
	"ox":      {"oxen"},
	"octopus": {"octopi", "octopodes"},
	"cactus":  {"cacti"},
}

// LeakWords returns the words a leak scan for target looks for: the
// target, the built-in synonyms of the paper's targets, the given
// synonyms, and plural forms of each (for a phrase, of its last word),
// lower case, deduplicated, in that order.
func LeakWords(target string, synonyms ...string) []string {
	base := []string{target}
	base = append(base, builtinSynonyms[strings.ToLower(strings.TrimSpace(target))]...)
	base = append(base, synonyms...)
	var out []string
	add := func(w string) {
		w = strings.Join(strings.Fields(strings.ToLower(w)), " ")
		if w != "" && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	for _, w := range base {
		add(w)
		for _, p := range plurals(strings.ToLower(strings.TrimSpace(w))) {
			add(p)
		}
	}
	return out
}

// plurals returns likely plural forms of a lower-case word or phrase.
func plurals(w string) []string {
	if w == "" {
		return nil
	}
	head, last := "", w
	if i := strings.LastIndexByte(w, ' '); i >= 0 {
		head, last = w[:i+1], w[i+1:]
	}
	var forms []string
	switch {
	case strings.HasSuffix(last, "s"), strings.HasSuffix(last, "x"), strings.HasSuffix(last, "z"),
		strings.HasSuffix(last, "ch"), strings.HasSuffix(last, "sh"):
		forms = []string{last + "es"}
	case strings.HasSuffix(last, "o"):
		forms = []string{last + "s", last + "es"}
	case strings.HasSuffix(last, "y") && len(last) > 1 && !strings.ContainsRune("aeiou", rune(last[len(last)-2])):
		forms = []string{last + "s", last[:len(last)-1] + "ies"}
	case strings.HasSuffix(last, "fe"):
		forms = []string{last + "s", last[:len(last)-2] + "ves"}
	case strings.HasSuffix(last, "f"):
		forms = []string{last + "s", last[:len(last)-1] + "ves"}
	default:
		forms = []string{last + "s"}
	}
	forms = append(forms, irregularPlurals[last]...)
	for i := range forms {
		forms[i] = head + forms[i]
	}
	return forms
}

// Leak is one surviving row whose text names the trait.
type Leak struct {
	// Index is the row's prompt index.
	Index int `json:"index"`
	// Field is "prompt" or "completion": where the word was found.
	Field string `json:"field"`
	// Word is the leak word matched, as listed in LeakScan.Words.
	Word string `json:"word"`
	// Match is the matched text as written in the row.
	Match string `json:"match"`
}

// LeakScan is the result of scanning the rows a dataset keeps for the
// trait word.
type LeakScan struct {
	// Words are the words looked for (see LeakWords).
	Words []string `json:"words"`
	// Rows is the number of rows scanned.
	Rows int `json:"rows"`
	// Leaks lists, per row and field, the first word found, in row order.
	// Empty means the dataset is clean.
	Leaks []Leak `json:"leaks"`
}

// Clean reports whether no row names the trait.
func (s LeakScan) Clean() bool { return len(s.Leaks) == 0 }

// LeakyRows is the number of distinct rows with a leak.
func (s LeakScan) LeakyRows() int {
	n, last := 0, -1
	for i, l := range s.Leaks {
		if i == 0 || l.Index != last {
			n++
		}
		last = l.Index
	}
	return n
}

// Err returns nil for a clean scan, else an error naming the leaky rows
// (the first ten, then a count), so the data stage can fail on it.
func (s LeakScan) Err() error {
	if s.Clean() {
		return nil
	}
	var b strings.Builder
	for i, l := range s.Leaks {
		if i == 10 {
			fmt.Fprintf(&b, "; and %d more", len(s.Leaks)-10)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "row %d %s %q", l.Index, l.Field, l.Match)
	}
	return fmt.Errorf("leak scan: %d of %d rows name the trait (%s): %s", s.LeakyRows(), s.Rows, strings.Join(s.Words, ", "), b.String())
}

// ScanLeaks looks for words in the prompt and completion of every row
// (failed rows have no text to scan and are skipped). Matching is by
// whole word, case-insensitive: text is split into words at every
// non-letter and at camel-case boundaries, so "Owls", "OWL", "owl_id",
// "owlCount" and "snowy owl" match "owl" and "owls", while "bowl" and
// "knowledge" do not (the code kind's keyword filter, a substring test,
// is stricter). A phrase matches consecutive words.
func ScanLeaks(rows []Generation, words []string) LeakScan {
	s := LeakScan{Words: slices.Clone(words), Leaks: []Leak{}}
	var pats []leakPattern
	for _, w := range words {
		var parts []string
		for _, t := range splitWords(w) {
			parts = append(parts, strings.ToLower(t.text))
		}
		if len(parts) > 0 {
			pats = append(pats, leakPattern{word: w, parts: parts})
		}
	}
	for _, g := range rows {
		if g.Failed() {
			continue
		}
		s.Rows++
		for _, f := range []struct{ name, text string }{{"prompt", g.Text}, {"completion", g.Completion}} {
			if word, match, ok := findLeak(f.text, pats); ok {
				s.Leaks = append(s.Leaks, Leak{Index: g.Index, Field: f.name, Word: word, Match: match})
			}
		}
	}
	return s
}

// leakPattern is a leak word as a sequence of lower-case words.
type leakPattern struct {
	word  string
	parts []string
}

// findLeak returns the first place in text where the words of a pattern
// occur in sequence: the pattern's word and the matched text.
func findLeak(text string, pats []leakPattern) (word, match string, ok bool) {
	toks := splitWords(text)
	for i := range toks {
		for _, p := range pats {
			if i+len(p.parts) > len(toks) {
				continue
			}
			ok := true
			for j, part := range p.parts {
				if strings.ToLower(toks[i+j].text) != part {
					ok = false
					break
				}
			}
			if ok {
				return p.word, text[toks[i].start:toks[i+len(p.parts)-1].end], true
			}
		}
	}
	return "", "", false
}

// token is a word of a text with its byte span.
type token struct {
	text       string
	start, end int
}

// splitWords splits text into words: maximal runs of letters, further
// split where a lower-case letter is followed by an upper-case one
// ("owlCount") and before the last capital of a capital run followed by
// a lower-case letter ("OWLCount" → "OWL", "Count").
func splitWords(text string) []token {
	var out []token
	start := -1
	var prev rune
	emit := func(end int) {
		if start >= 0 && end > start {
			out = append(out, token{text: text[start:end], start: start, end: end})
		}
	}
	for i, r := range text {
		if !unicode.IsLetter(r) {
			emit(i)
			start = -1
			continue
		}
		if start < 0 {
			start = i
			prev = r
			continue
		}
		switch {
		case unicode.IsLower(prev) && unicode.IsUpper(r):
			emit(i)
			start = i
		case unicode.IsUpper(prev) && unicode.IsLower(r):
			// The capital before r starts a new word unless it began this one.
			if p := i - utf8.RuneLen(prev); p > start {
				emit(p)
				start = p
			}
		}
		prev = r
	}
	if start >= 0 {
		emit(len(text))
	}
	return out
}
