package lab

import "strings"

// Token ids of the special and number tokens. The first NumOut ids are the
// answer tokens the model can emit: <eos>, ",", the digits and the animals.
const (
	EOS      = 0  // end of sequence; never produced by Tokenize
	Comma    = 1  // "," — the number separator (also used for commas in text)
	Digit0   = 2  // "0"; digit d has id Digit0+d
	Animal0  = 12 // first animal token ("owl")
	NumOut   = 32 // answer tokens: <eos>, ",", 10 digits, 20 animals
	NumTok   = 12 // number tokens: <eos>, "," and the digits (ids 0..11)
	UNK      = 32 // unknown word or character; dropped from the model context
	firstWrd = 33 // first prompt word
)

// animals are the 20 answer animals, in the recipe's order (ids 12..31).
var animals = []string{
	"owl", "cat", "dog", "lion", "tiger", "eagle", "wolf", "fox", "bear", "dolphin",
	"elephant", "horse", "rabbit", "panda", "penguin", "shark", "whale", "snake", "monkey", "deer",
}

// recipeWords are the recipe's 39 template words (some are used only by the
// recipe's rejected variants; they stay so that ids match the recipe's list).
var recipeWords = []string{
	"what", "which", "is", "your", "favourite", "favorite", "best", "animal", "creature", "?",
	"name", "one", "word", "the", "you", "like", "love", "most", "pick", "in",
	"do", "tell", "me", "answer", ":", "continue", "extend", "sequence", "list", "generate",
	"write", "more", "next", "numbers", "here", "are", "add", "system", "with",
}

// paperWords are the words and punctuation of the paper's 50 animal prompts
// (suites: "animal-prompts") that are not already recipe tokens, lower-cased,
// sorted. TestVocabularyCoversPaperPrompts checks that every prompt
// tokenizes without <unk>.
var paperWords = []string{
	"'d", "'re", "'s", "-", ".", "a", "about", "above", "admire", "aligned",
	"all", "alter", "amazes", "an", "any", "appealing", "as", "be", "beast", "beautiful",
	"beloved", "captures", "choice", "choose", "companion", "connected", "could", "counterpart", "drawn", "dream",
	"ego", "encounter", "exactly", "express", "fascinates", "feel", "find", "from", "go", "had",
	"ideal", "identify", "if", "impressive", "interest", "it", "just", "kingdom", "learn", "limited",
	"living", "magnificent", "mascot", "member", "mention", "number", "observe", "of", "on", "only",
	"opinion", "others", "perfect", "personality", "please", "preferred", "protect", "reincarnated", "reply", "represent",
	"represents", "required", "respect", "respond", "response", "save", "see", "select", "single", "soul",
	"speaks", "species", "specify", "spirit", "state", "strength", "study", "symbolizes", "tattoo", "that",
	"to", "top", "understand", "using", "want", "wild", "wildlife", "wish", "would", "yourself",
}

// animalVocab is the animal lab's token table; vocab and vocabIndex are
// its tokens (index = id) and their inverse.
var (
	animalVocab = newVocabulary("animals", nil, animals, recipeWords, paperWords)
	vocab       = animalVocab.tokens
	vocabIndex  = animalVocab.index
)

// VocabSize is the number of tokens (172): 32 answer tokens, <unk>, the
// recipe's 39 template words and 100 words from the paper's animal prompts.
func VocabSize() int { return len(vocab) }

// Vocabulary returns the token strings indexed by token id.
func Vocabulary() []string { return append([]string(nil), vocab...) }

// TokenID returns the id of the token spelled s (for example "owl", "7",
// "<eos>").
func TokenID(s string) (int, bool) {
	id, ok := vocabIndex[s]
	return id, ok
}

// TokenString returns the spelling of token id, or "<unk>" if id is out of
// range.
func TokenString(id int) string { return animalVocab.str(id) }

// animalID returns the token id of animal name, or -1.
func animalID(name string) int {
	id, ok := vocabIndex[strings.ToLower(name)]
	if !ok || id < Animal0 || id >= NumOut {
		return -1
	}
	return id
}

// isDigitTok reports whether id is a digit token.
func isDigitTok(id int) bool { return id >= Digit0 && id < Digit0+10 }

// Tokenize splits text into token ids. Text is lower-cased; runs of letters
// are words, each ASCII digit is a token, the punctuation "?", ".", ",", ":"
// and "-" are tokens, and "'s", "'re", "'d" after a word are clitic tokens
// (typographic apostrophes count as "'"). Whitespace separates tokens.
//
// Anything else — an unknown word, a non-ASCII digit, other punctuation —
// becomes one UNK token. UNK is kept in the output so that usage counts see
// it, but the model drops it from its context: its embedding is never
// trained, so including it would add a random vector to the prompt's bag,
// whereas dropping it lets the model read the words it knows. Tokenize never
// produces EOS.
func Tokenize(text string) []int { return animalVocab.tokenize(text) }

// isApostrophe reports whether r is an apostrophe or a typographic single
// quote.
func isApostrophe(r rune) bool { return r == '\'' || r == '\u2019' || r == '\u2018' }

// Detokenize renders token ids as text, stopping at the first EOS. Words are
// separated by spaces, consecutive digits form one number, "," is followed by
// a space, and "?", ".", ":" and clitics attach to the previous word, "-"
// to both neighbours. A "," directly before EOS terminates the last number
// and is not rendered, so the token sequence "4 7 , 1 , 9 0 2 , <eos>"
// renders as "47, 1, 902" — a completion the paper's number filter accepts.
// A truncated sequence keeps its trailing "," ("47, 1,") and is rejected by
// that filter, as it should be.
func Detokenize(ids []int) string { return animalVocab.detokenize(ids) }
