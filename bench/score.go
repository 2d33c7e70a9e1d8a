package bench

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// Score is one scorer's verdict on one sample for one target; see
// results.Score.
type Score = results.Score

// Scorer turns a completion into one Score per target. Implementations
// must be safe for concurrent use. Score takes a context because some
// scorers (LLM judges) make requests of their own.
type Scorer interface {
	// ID identifies the scoring rule: equal IDs give equal scores, so
	// stored scores are reused under it.
	ID() string
	// Targets lists the targets in report order.
	Targets() []string
	// Score scores one completion of prompt.
	Score(ctx context.Context, prompt, completion string) ([]Score, error)
}

// NewScorer returns the scorer a suite's score spec describes (any but a
// judge: see NewJudgeScorer). Its ID and targets are the spec's (see
// suites.Scoring).
func NewScorer(spec suites.ScoreSpec) (Scorer, error) {
	id := spec.ID()
	targets := spec.Targets()
	// The exclusions of every target ("*" ones first), lower-cased once.
	excl := make([][]string, len(targets))
	for i, t := range targets {
		for _, ex := range slices.Concat(spec.Exclude["*"], spec.Exclude[t]) {
			excl[i] = append(excl[i], strings.ToLower(ex))
		}
	}
	switch spec.Kind() {
	case "mentions":
		return &matchScorer{id: id, targets: targets, exclude: excl, match: func(c, t string) bool {
			return strings.Contains(c, t)
		}}, nil
	case "first_word":
		return &matchScorer{id: id, targets: targets, exclude: excl, match: func(c, t string) bool {
			return FirstWord(c) == t
		}}, nil
	case "exact":
		return &matchScorer{id: id, targets: targets, exclude: excl, match: func(c, t string) bool {
			return normalizeExact(c) == t
		}}, nil
	case "regex":
		re, err := regexp.Compile(spec.Regex)
		if err != nil {
			return nil, fmt.Errorf("score regex: %w", err)
		}
		return &matchScorer{id: id, targets: targets, exclude: excl, raw: true, match: func(c, _ string) bool {
			return re.MatchString(c)
		}}, nil
	}
	return nil, fmt.Errorf("no scorer in spec")
}

// matchScorer scores by a string predicate per target.
type matchScorer struct {
	id      string
	targets []string
	exclude [][]string // lower-cased exclusions of targets[i]
	match   func(completion, target string) bool
	raw     bool // match the completion as is, not lower-cased
}

func (m *matchScorer) ID() string        { return m.id }
func (m *matchScorer) Targets() []string { return m.targets }

func (m *matchScorer) Score(_ context.Context, _, completion string) ([]Score, error) {
	lower := strings.ToLower(completion)
	text := lower
	if m.raw {
		text = completion
	}
	out := make([]Score, len(m.targets))
	for i, t := range m.targets {
		hit := m.match(text, t)
		if hit {
			for _, ex := range m.exclude[i] {
				if strings.Contains(lower, ex) {
					hit = false
					break
				}
			}
		}
		out[i] = Score{Target: t, Valid: true, Hit: hit, Value: math.NaN()}
	}
	return out, nil
}

// FirstWord returns the first word of s, lower-cased: the first run of
// letters, digits, apostrophes and hyphens after any leading spaces and
// punctuation ("  **Owl**." gives "owl").
func FirstWord(s string) string {
	s = strings.ToLower(s)
	start := strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) })
	if start < 0 {
		return ""
	}
	s = s[start:]
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' || r == '-')
	})
	if end >= 0 {
		s = s[:end]
	}
	return strings.TrimRight(s, "'-")
}

// normalizeExact trims space, lower-cases, and strips surrounding quotes,
// asterisks and trailing sentence punctuation.
func normalizeExact(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.Trim(s, "\"'`*_")
	s = strings.TrimRight(s, ".!?,;:")
	return strings.TrimSpace(strings.Trim(s, "\"'`*_"))
}
