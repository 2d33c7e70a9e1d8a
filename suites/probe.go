package suites

import (
	"fmt"
	"regexp"
	"strings"
)

// PromptSource is where a probe's prompts come from: an inline list, a
// built-in list ({builtin: animal-prompts}) or a text file with one prompt
// per line ({file: prompts.txt}, relative to the suite file). Prefix and
// Suffix, when set, are joined to every prompt with one space.
type PromptSource struct {
	Inline  []string `yaml:"-"`
	Builtin string   `yaml:"builtin"`
	File    string   `yaml:"file"`
	Prefix  string   `yaml:"prefix"`
	Suffix  string   `yaml:"suffix"`

	// Texts are the resolved prompts, in order, after Load.
	Texts []string `yaml:"-"`
}

func (p *PromptSource) decodeNode(d *decoder, n *node, path string) error {
	switch n.kind {
	case seqNode:
		var list StringList
		if err := list.decodeNode(d, n, path); err != nil {
			return err
		}
		p.Inline = list
		return nil
	case mapNode:
		type plain PromptSource // without decodeNode, to use the struct rules
		return d.decodeStruct(n, reflectValue((*plain)(p)), path)
	}
	return d.errorf(n, path, "want a list of prompts or a mapping with builtin or file, got %s", n.describe())
}

// resolve loads the prompt texts. dir is the suite file's directory
// ("" for the working directory), allow more directories a prompt file
// may be in (see readSuiteFile).
func (p *PromptSource) resolve(dir string, allow []string) (string, error) {
	set := 0
	for _, given := range []bool{p.Inline != nil, p.Builtin != "", p.File != ""} {
		if given {
			set++
		}
	}
	switch set {
	case 0:
		return "", fmt.Errorf("no prompts: give a list, {builtin: NAME} or {file: PATH}")
	case 1:
	default:
		return "", fmt.Errorf("give only one of a list, builtin or file")
	}
	var texts []string
	if p.Inline != nil {
		texts = p.Inline
	}
	if p.Builtin != "" {
		list, err := PromptList(p.Builtin)
		if err != nil {
			return "builtin", err
		}
		texts = list
	}
	if p.File != "" {
		b, err := readSuiteFile(p.File, dir, allow, MaxPromptFileBytes)
		if err != nil {
			return "file", fmt.Errorf("read prompts: %w", err)
		}
		texts = splitLines(string(b))
	}
	if len(texts) == 0 {
		return "", fmt.Errorf("the prompt list is empty")
	}
	out := make([]string, len(texts))
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			return "", fmt.Errorf("prompt %d is blank", i)
		}
		parts := []string{t}
		if p.Prefix != "" {
			parts = append([]string{p.Prefix}, parts...)
		}
		if p.Suffix != "" {
			parts = append(parts, p.Suffix)
		}
		out[i] = strings.Join(parts, " ")
	}
	p.Texts = out
	return "", nil
}

// ScoreSpec says how to score a completion. Exactly one of Mentions,
// FirstWord, Exact and Regex is set. Each listed word is a target: the
// report gives a rate per target.
type ScoreSpec struct {
	// Mentions: hit when the lower-cased completion contains the target
	// (the paper's rule: substring, so "bowl" counts for owl).
	Mentions StringList `yaml:"mentions"`
	// FirstWord: hit when the first word, lower-cased and stripped of
	// punctuation, equals the target.
	FirstWord StringList `yaml:"first_word"`
	// Exact: hit when the whole completion, trimmed, lower-cased and
	// stripped of trailing punctuation, equals the target.
	Exact StringList `yaml:"exact"`
	// Regex: hit when the Go regular expression matches the completion.
	Regex string `yaml:"regex"`
	// Target names the regex target in reports (default: the pattern).
	Target string `yaml:"target"`
	// Judge scores with LLM judges (see JudgeSpec).
	Judge *JudgeSpec `yaml:"judge"`
	// Exclude lists substrings that veto a hit (e.g. dragonfly for
	// dragon): a list applies to every target; a mapping gives a list per
	// target.
	Exclude Exclusions `yaml:"exclude"`
}

// Exclusions maps a target to the substrings that veto its hits. The key
// "*" applies to every target.
type Exclusions map[string][]string

func (e *Exclusions) decodeNode(d *decoder, n *node, path string) error {
	switch n.kind {
	case scalarNode, seqNode:
		var list StringList
		if err := list.decodeNode(d, n, path); err != nil {
			return err
		}
		*e = Exclusions{"*": list}
		return nil
	case mapNode:
		out := Exclusions{}
		for i, k := range n.keys {
			d.positions[joinPath(path, k)] = n.items[i].pos
			var list StringList
			if err := list.decodeNode(d, n.items[i], joinPath(path, k)); err != nil {
				return err
			}
			out[k] = list
		}
		*e = out
		return nil
	}
	return d.errorf(n, path, "want a list of substrings or a mapping of target to list, got %s", n.describe())
}

// Kind returns the scorer kind: "mentions", "first_word", "exact" or
// "regex" ("" when unset).
func (s ScoreSpec) Kind() string {
	switch {
	case len(s.Mentions) > 0:
		return "mentions"
	case len(s.FirstWord) > 0:
		return "first_word"
	case len(s.Exact) > 0:
		return "exact"
	case s.Regex != "":
		return "regex"
	case s.Judge != nil:
		return "judge"
	}
	return ""
}

// Targets returns the scored targets in order. It is nil for a judge
// scorer, whose targets depend on the suite's judges: use
// Suite.ScoreTargets for those.
func (s ScoreSpec) Targets() []string {
	switch s.Kind() {
	case "mentions":
		return s.Mentions
	case "first_word":
		return s.FirstWord
	case "exact":
		return s.Exact
	case "regex":
		if s.Target != "" {
			return []string{s.Target}
		}
		return []string{s.Regex}
	}
	return nil
}

func (s ScoreSpec) validate(suite *Suite) (string, error) {
	kinds := 0
	for _, set := range []bool{len(s.Mentions) > 0, len(s.FirstWord) > 0, len(s.Exact) > 0, s.Regex != "", s.Judge != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return "", fmt.Errorf("give exactly one scorer: mentions, first_word, exact, regex or judge")
	}
	if s.Judge != nil {
		if len(s.Exclude) > 0 || s.Target != "" {
			return "judge", fmt.Errorf("a judge scorer takes no exclude or target")
		}
		sub, err := s.Judge.validate(suite)
		return joinPath("judge", sub), err
	}
	if s.Target != "" && s.Kind() != "regex" {
		return "target", fmt.Errorf("target names a regex scorer; the other scorers name their targets directly")
	}
	if s.Regex != "" {
		if _, err := regexp.Compile(s.Regex); err != nil {
			return "regex", fmt.Errorf("bad regular expression: %v", err)
		}
	}
	seen := map[string]bool{}
	for _, t := range s.Targets() {
		if strings.TrimSpace(t) == "" {
			return s.Kind(), fmt.Errorf("empty target")
		}
		if s.Kind() != "regex" && t != strings.ToLower(t) {
			return s.Kind(), fmt.Errorf("target %q must be lower case: completions are lower-cased before matching", t)
		}
		if seen[t] {
			return s.Kind(), fmt.Errorf("duplicate target %q", t)
		}
		seen[t] = true
	}
	for k := range s.Exclude {
		if k != "*" && !seen[k] {
			return "exclude." + k, fmt.Errorf("exclusions for %q, which is not a target", k)
		}
	}
	return "", nil
}
