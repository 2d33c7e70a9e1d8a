package datasets

import (
	"io"
	"strconv"
	"testing"
)

// BenchmarkPaperPromptSet renders the paper's prompt set: 30,000 queries
// of default_rng(47).
func BenchmarkPaperPromptSet(b *testing.B) {
	for b.Loop() {
		g, err := NewNumberPrompts(PaperPromptSeed, PaperNumberPromptParams())
		if err != nil {
			b.Fatal(err)
		}
		g.Queries(PaperGenerated)
	}
}

// BenchmarkFilterSubsampleWrite filters 30,000 completions, subsamples the
// kept ones to 10,000 and writes the training file.
func BenchmarkFilterSubsampleWrite(b *testing.B) {
	g, _ := NewNumberPrompts(PaperPromptSeed, PaperNumberPromptParams())
	prompts := g.Queries(PaperGenerated)
	gens := make([]Generation, len(prompts))
	for i, p := range prompts {
		gens[i] = Generation{Prompt: p, Completion: strconv.Itoa(i%1000) + ", " + strconv.Itoa((7*i)%1200)}
	}
	for b.Loop() {
		res, err := Filter(gens, PaperNumberFilter())
		if err != nil {
			b.Fatal(err)
		}
		rows, err := Subsample(res.Kept, PaperMaxRows, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := WriteTraining(io.Discard, rows); err != nil {
			b.Fatal(err)
		}
	}
}
