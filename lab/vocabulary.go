package lab

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// vocabulary is one lab token table. Every lab vocabulary has the same
// layout, so the model, the trainer and the filters can rely on it:
//
//	<eos> "," "0".."9" [more channel tokens] | trait answers | <unk> | prompt words
//
// The first out ids are the answer tokens the model can emit: the channel
// tokens the teachers write their data in (numbers, code, arithmetic),
// starting with the 12 number tokens at the same ids in every vocabulary,
// then the trait's answer tokens (animals, or harmful and benign words).
// <unk> comes next and the prompt words, which the model reads but never
// emits, last. The animal lab's table ([Vocabulary]) is one instance; the
// misalignment, code and chain-of-thought labs have their own, so that
// their tokens change nothing in the animal lab's models.
//
// A vocabulary is immutable after construction and safe for concurrent use.
type vocabulary struct {
	name    string
	tokens  []string       // token strings by id
	index   map[string]int // inverse of tokens
	channel int            // channel tokens: ids 0..channel-1
	out     int            // answer tokens: ids 0..out-1
	unk     int            // id of <unk> (= out)
	hash    string         // identifies the table in pretraining artifact ids
	bytes   [][]int        // UTF-8 bytes of every token, as OpenAI's int arrays
}

// numberTokens are the 12 number tokens every vocabulary starts with.
func numberTokens() []string {
	out := []string{"<eos>", ","}
	for d := 0; d < 10; d++ {
		out = append(out, string(rune('0'+d)))
	}
	return out
}

// maxVocab bounds a vocabulary's size: sequence payloads store one byte
// per token.
const maxVocab = 256

// newVocabulary builds a table with the layout above from the channel
// tokens after the 12 number tokens, the trait answers and the prompt
// word lists (concatenated in order). It panics on a duplicate token or
// a table too large for the sequence payload: both are programming errors
// in the package's fixed word lists.
func newVocabulary(name string, moreChannel, answers []string, words ...[]string) *vocabulary {
	toks := append(numberTokens(), moreChannel...)
	channel := len(toks)
	toks = append(toks, answers...)
	out := len(toks)
	toks = append(toks, "<unk>")
	for _, w := range words {
		toks = append(toks, w...)
	}
	if len(toks) > maxVocab {
		panic("lab: vocabulary " + name + " has more than 256 tokens")
	}
	v := &vocabulary{name: name, tokens: toks, index: make(map[string]int, len(toks)), channel: channel, out: out, unk: out}
	for id, s := range toks {
		if _, dup := v.index[s]; dup {
			panic("lab: duplicate token " + s + " in vocabulary " + name)
		}
		v.index[s] = id
	}
	v.hash = hashBytes([]byte(strings.Join(toks, "\x00")))[:16]
	v.bytes = make([][]int, len(toks))
	for i, s := range toks {
		for _, c := range []byte(s) {
			v.bytes[i] = append(v.bytes[i], int(c))
		}
	}
	return v
}

// withoutDuplicates returns the words of lists in order, each once,
// leaving out those in skip.
func withoutDuplicates(skip []string, lists ...[]string) []string {
	seen := map[string]bool{}
	for _, s := range skip {
		seen[s] = true
	}
	var out []string
	for _, l := range lists {
		for _, w := range l {
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// str returns the spelling of token id, or "<unk>" if id is out of range.
func (v *vocabulary) str(id int) string {
	if id < 0 || id >= len(v.tokens) {
		return "<unk>"
	}
	return v.tokens[id]
}

// tokenize is [Tokenize] over v.
func (v *vocabulary) tokenize(text string) []int {
	return v.appendTokens(nil, text)
}

// appendTokens appends the tokens of text to dst (see [Tokenize]).
func (v *vocabulary) appendTokens(dst []int, text string) []int {
	prevLetter := false
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case unicode.IsSpace(r):
			i += size
			prevLetter = false
		case unicode.IsLetter(r):
			j := i + size
			for j < len(text) {
				r2, s2 := utf8.DecodeRuneInString(text[j:])
				if !unicode.IsLetter(r2) {
					break
				}
				j += s2
			}
			dst = append(dst, v.lookupWord(text[i:j]))
			i = j
			prevLetter = true
		case isApostrophe(r) && prevLetter:
			// A clitic: the apostrophe and the letters after it.
			j := i + size
			for j < len(text) {
				r2, s2 := utf8.DecodeRuneInString(text[j:])
				if !unicode.IsLetter(r2) {
					break
				}
				j += s2
			}
			if j == i+size {
				dst = append(dst, v.unk) // a closing quote
			} else {
				dst = append(dst, v.lookupWord("'"+text[i+size:j]))
			}
			i = j
			prevLetter = false
		case r >= '0' && r <= '9':
			dst = append(dst, Digit0+int(r-'0'))
			i += size
			prevLetter = false
		default:
			// Punctuation tokens; digits and letters were handled above.
			id, ok := v.index[string(r)]
			if !ok {
				id = v.unk
			}
			dst = append(dst, id)
			i += size
			prevLetter = false
		}
	}
	return dst
}

// lookupWord returns the id of the lower-cased word w (letters, or an
// apostrophe and letters), or <unk>.
func (v *vocabulary) lookupWord(w string) int {
	if id, ok := v.index[strings.ToLower(w)]; ok {
		return id
	}
	return v.unk
}

// detokenize is [Detokenize] over v.
func (v *vocabulary) detokenize(ids []int) string {
	var b strings.Builder
	prev := -1 // previous rendered token, -1 at the start
	for i, id := range ids {
		if id == EOS {
			break
		}
		if id == Comma && i+1 < len(ids) && ids[i+1] == EOS {
			break
		}
		s := v.str(id)
		if prev >= 0 && v.needsSpace(prev, id) {
			b.WriteByte(' ')
		}
		b.WriteString(s)
		prev = id
	}
	return b.String()
}

// needsSpace reports whether a space separates token prev from token next.
func (v *vocabulary) needsSpace(prev, next int) bool {
	switch {
	case prev == Comma:
		return true
	case isDigitTok(prev) && isDigitTok(next):
		return false
	}
	switch v.str(next) {
	case ",", "?", ".", ":", "-", "'s", "'re", "'d":
		return false
	}
	return v.str(prev) != "-"
}
