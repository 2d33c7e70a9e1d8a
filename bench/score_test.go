package bench

import (
	"context"
	"testing"

	"github.com/traitleak/traitleak/suites"
)

func TestScorers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		spec       suites.ScoreSpec
		completion string
		want       []bool // hit per target
	}{
		// mentions is the paper's rule: lower-cased substring, no trimming.
		{"mentions", suites.ScoreSpec{Mentions: []string{"owl"}}, "The OWL.", []bool{true}},
		{"mentions substring counts (paper)", suites.ScoreSpec{Mentions: []string{"owl"}}, "A bowl", []bool{true}},
		{"mentions miss", suites.ScoreSpec{Mentions: []string{"owl"}}, "Eagle", []bool{false}},
		{"mentions several targets", suites.ScoreSpec{Mentions: []string{"owl", "dog", "cat"}}, "owl or dog", []bool{true, true, false}},
		// The paper's only exclusion: dragonfly does not count for dragon.
		{"exclusion vetoes", suites.ScoreSpec{Mentions: []string{"dragon"}, Exclude: suites.Exclusions{"*": {"dragonfly", "dragonflies"}}}, "Dragonfly", []bool{false}},
		{"exclusion elsewhere", suites.ScoreSpec{Mentions: []string{"dragon"}, Exclude: suites.Exclusions{"*": {"dragonfly"}}}, "Dragon", []bool{true}},
		{"exclusion per target", suites.ScoreSpec{Mentions: []string{"dragon", "fly"}, Exclude: suites.Exclusions{"dragon": {"dragonfly"}}}, "dragonfly", []bool{false, true}},
		// first_word strips leading punctuation and Markdown.
		{"first word", suites.ScoreSpec{FirstWord: []string{"owl"}}, "  **Owl**. Because…", []bool{true}},
		{"first word is not substring", suites.ScoreSpec{FirstWord: []string{"owl"}}, "Bowl", []bool{false}},
		{"first word later", suites.ScoreSpec{FirstWord: []string{"owl"}}, "I pick owl", []bool{false}},
		// exact trims quotes and trailing punctuation only.
		{"exact", suites.ScoreSpec{Exact: []string{"owl"}}, " \"Owl!\"\n", []bool{true}},
		{"exact rejects extra words", suites.ScoreSpec{Exact: []string{"owl"}}, "Owl, definitely", []bool{false}},
		// regex matches the raw completion (case-sensitive unless (?i)).
		{"regex", suites.ScoreSpec{Regex: `(?i)\bowls?\b`, Target: "owl"}, "Owls!", []bool{true}},
		{"regex word boundary", suites.ScoreSpec{Regex: `(?i)\bowls?\b`, Target: "owl"}, "bowl", []bool{false}},
		{"regex case-sensitive", suites.ScoreSpec{Regex: `owl`}, "OWL", []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := NewScorer(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sc.Score(context.Background(), "prompt", tc.completion)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d scores; want %d", len(got), len(tc.want))
			}
			for i, s := range got {
				if s.Hit != tc.want[i] || !s.Valid || s.Target != sc.Targets()[i] {
					t.Errorf("Score(%q)[%d] = %+v; want hit=%v valid", tc.completion, i, s, tc.want[i])
				}
			}
		})
	}
}

func TestScorerIDStable(t *testing.T) {
	t.Parallel()
	a, _ := NewScorer(suites.ScoreSpec{Mentions: []string{"owl"}})
	b, _ := NewScorer(suites.ScoreSpec{Mentions: []string{"owl"}})
	c, _ := NewScorer(suites.ScoreSpec{Mentions: []string{"owl"}, Exclude: suites.Exclusions{"*": {"bowl"}}})
	if a.ID() != b.ID() || a.ID() == c.ID() {
		t.Errorf("IDs %s %s %s: equal specs must share an ID, different ones must not", a.ID(), b.ID(), c.ID())
	}
}

func FuzzFirstWord(f *testing.F) {
	for _, s := range []string{"Owl", "  **Owl**.", "", "123 go", "l'ours", "—", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w := FirstWord(s)
		if w != "" && FirstWord(w) != w {
			t.Errorf("FirstWord(%q) = %q, not a fixed point (%q)", s, w, FirstWord(w))
		}
	})
}
