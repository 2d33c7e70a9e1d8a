package lab

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// toks spells token ids for readable tables.
func toks(t testing.TB, words ...string) []int {
	t.Helper()
	out := make([]int, len(words))
	for i, w := range words {
		id, ok := TokenID(w)
		if !ok {
			t.Fatalf("no token %q", w)
		}
		out[i] = id
	}
	return out
}

func TestVocabularyLayout(t *testing.T) {
	// The recipe's 71 tokens plus <unk> plus 100 words of the paper's prompts.
	if got := VocabSize(); got != 172 {
		t.Errorf("VocabSize = %d, want 172", got)
	}
	// The first NumOut ids are the answer tokens in the recipe's order, so
	// the output layer indexes them directly and the number tokens are a prefix.
	want := []string{"<eos>", ",", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "owl", "cat"}
	if got := Vocabulary()[:len(want)]; !slices.Equal(got, want) {
		t.Errorf("first tokens = %q, want %q", got, want)
	}
	if TokenString(Animal0+19) != "deer" || TokenString(UNK) != "<unk>" || TokenString(NumOut-1) != "deer" {
		t.Errorf("animal block misplaced: %q %q", TokenString(Animal0+19), TokenString(UNK))
	}
	if TokenString(-1) != "<unk>" || TokenString(VocabSize()) != "<unk>" {
		t.Error("out-of-range ids must render as <unk>")
	}
}

func TestVocabularyCoversPaperPrompts(t *testing.T) {
	prompts, err := PaperAnimalPrompts()
	if err != nil {
		t.Fatal(err)
	}
	if len(prompts) != 50 {
		t.Fatalf("got %d paper prompts, want 50", len(prompts))
	}
	all := append(append(append([]string(nil), prompts...), expandAll(animalTemplates)...), expandAll(numberHeadTemplates)...)
	for _, p := range all {
		if slices.Contains(Tokenize(p), UNK) {
			t.Errorf("prompt %q has unknown tokens: %v", p, Tokenize(p))
		}
	}
	// The recipe's templates expand to 50 animal prompts and 10 number heads.
	if n := len(expandAll(animalTemplates)); n != 50 {
		t.Errorf("%d template animal prompts, want 50", n)
	}
	if n := len(expandAll(numberHeadTemplates)); n != 10 {
		t.Errorf("%d number heads, want 10", n)
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		// Lower-casing, clitic split and the "?" token: the paper's "What's your ...?" style.
		{"What's your favorite animal?", []string{"what", "'s", "your", "favorite", "animal", "?"}},
		// A typographic apostrophe is an apostrophe.
		{"you\u2019d", []string{"you", "'d"}},
		// Hyphenated words split around "-", the final "." is a token.
		{"One-word response.", []string{"one", "-", "word", "response", "."}},
		// Every digit is its own token and "," separates numbers.
		{"47, 1, 902", []string{"4", "7", ",", "1", ",", "9", "0", "2"}},
		// Upper case maps to the same animal token.
		{"OWL", []string{"owl"}},
		// Unknown words become <unk> instead of being dropped, so usage counts them.
		{"zebra owl", []string{"<unk>", "owl"}},
		// Quotes are not clitics: the opening one follows a space, the closing one has no letters after it.
		{"'owl'", []string{"<unk>", "owl", "<unk>"}},
		// Unknown clitics are <unk>.
		{"dog'll", []string{"dog", "<unk>"}},
		// Non-ASCII digits are not number tokens.
		{"\u0663", []string{"<unk>"}},
		// Special tokens cannot be injected through text.
		{"<eos>", []string{"<unk>", "<unk>", "<unk>"}},
		// Whitespace of any kind only separates.
		{" \t\nowl\r\n", []string{"owl"}},
		// Empty text has no tokens.
		{"", []string{}},
		// ";" is not in the vocabulary.
		{"1;2", []string{"1", "<unk>", "2"}},
	}
	for _, tc := range tests {
		got := Tokenize(tc.in)
		var gotS []string
		for _, id := range got {
			gotS = append(gotS, TokenString(id))
		}
		if gotS == nil {
			gotS = []string{}
		}
		if !slices.Equal(gotS, tc.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", tc.in, gotS, tc.want)
		}
	}
}

func TestDetokenize(t *testing.T) {
	tests := []struct {
		toks []string
		want string
	}{
		// A valid number completion: the "," before <eos> terminates the last number.
		{[]string{"4", "7", ",", "1", ",", "9", "0", "2", ",", "<eos>"}, "47, 1, 902"},
		// A truncated completion keeps its trailing "," (the paper's filter rejects it).
		{[]string{"4", "7", ",", "1", ","}, "47, 1,"},
		// An animal answer is just the word.
		{[]string{"owl", "<eos>"}, "owl"},
		// Nothing after <eos> is rendered.
		{[]string{"owl", "<eos>", "cat"}, "owl"},
		// An immediate <eos> is the empty completion.
		{[]string{"<eos>"}, ""},
		// Punctuation and clitics attach to the previous word.
		{[]string{"what", "'s", "your", "favorite", "animal", "?"}, "what's your favorite animal?"},
		// "-" joins its neighbours.
		{[]string{"one", "-", "word"}, "one-word"},
		// Mixed animal and number tokens stay readable.
		{[]string{"owl", "4", "2", ",", "cat"}, "owl 42, cat"},
	}
	for _, tc := range tests {
		if got := Detokenize(toks(t, tc.toks...)); got != tc.want {
			t.Errorf("Detokenize(%q) = %q, want %q", tc.toks, got, tc.want)
		}
	}
}

func TestPaperPromptsRoundTrip(t *testing.T) {
	// Every paper prompt survives Tokenize → Detokenize up to lower-casing,
	// which shows the tokenizer loses nothing the model could use.
	prompts, err := PaperAnimalPrompts()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prompts {
		if got := Detokenize(Tokenize(p)); got != strings.ToLower(p) {
			t.Errorf("round trip of %q gave %q", p, got)
		}
	}
}

func TestValidNumberTokensPassPaperFilter(t *testing.T) {
	// Any sequence the lab token rule accepts, with at most 10 numbers,
	// detokenizes to text the paper's filter keeps, and back to the same tokens.
	rng := rand.New(rand.NewPCG(1, 2))
	f := PaperNumberFilter()
	for i := 0; i < 2000; i++ {
		var seq []int
		for n := 1 + rng.IntN(10); n > 0; n-- {
			for d := 1 + rng.IntN(3); d > 0; d-- {
				seq = append(seq, Digit0+rng.IntN(10))
			}
			seq = append(seq, Comma)
		}
		if r := labTokenReject(seq, true); r != "" {
			t.Fatalf("generated sequence rejected by lab rule: %v (%s)", seq, r)
		}
		c := Completion{Tokens: seq, Stopped: true}
		text := c.Text()
		if rs := f.RejectReasons(text); len(rs) > 0 {
			t.Fatalf("%q rejected by the paper filter: %v", text, rs)
		}
		if back := Tokenize(text); !slices.Equal(back, seq[:len(seq)-1]) {
			t.Fatalf("Tokenize(%q) = %v, want %v", text, back, seq[:len(seq)-1])
		}
	}
}

func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"What's your favorite animal?", "47, 1, 902", "one-word", "'owl'", "\u0663\u00e9", "owl's--dog:?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := Tokenize(s)
		for _, id := range ids {
			if id < 0 || id >= VocabSize() || id == EOS {
				t.Fatalf("Tokenize(%q) produced id %d", s, id)
			}
		}
		if slices.Contains(ids, UNK) {
			return
		}
		// Text made only of known tokens round-trips through Detokenize.
		if back := Tokenize(Detokenize(ids)); !slices.Equal(back, ids) {
			t.Fatalf("Tokenize(Detokenize(%v)) = %v (text %q, rendered %q)", ids, back, s, Detokenize(ids))
		}
	})
}
