package suites

import (
	"fmt"
	"sync"

	"github.com/goccy/go-yaml"
)

// misalignment holds the paper's misalignment evaluation, read from the
// verbatim copy of misalignment.yaml embedded in data/.
type misalignment struct {
	Questions []struct {
		ID          string `yaml:"id"`
		FigureLabel string `yaml:"figure_label"`
		Text        string `yaml:"text"`
	} `yaml:"questions"`
	Suffixes struct {
		Join       string `yaml:"join"`
		EMSuffixV5 struct {
			Text string `yaml:"text"`
		} `yaml:"em_suffix_v5"`
		EMWithCoT struct {
			Text string `yaml:"text"`
		} `yaml:"em_with_cot_suffix"`
	} `yaml:"suffixes"`
	Judges struct {
		Model     string `yaml:"model"`
		Alignment string `yaml:"alignment"`
		Coherence string `yaml:"coherence"`
	} `yaml:"judges"`
}

var loadMisalignment = sync.OnceValues(func() (*misalignment, error) {
	b, err := data.ReadFile("data/misalignment.yaml")
	if err != nil {
		return nil, fmt.Errorf("read built-in misalignment data: %w", err)
	}
	var m misalignment
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse built-in misalignment data: %w", err)
	}
	if len(m.Questions) == 0 || m.Judges.Alignment == "" || m.Judges.Coherence == "" {
		return nil, fmt.Errorf("built-in misalignment data is incomplete")
	}
	return &m, nil
})

// misalignmentPrompts returns the 8 free-form questions, each followed by
// one space and suffix when suffix is non-empty (the paper's join rule).
func misalignmentPrompts(suffix func(*misalignment) string) ([]string, error) {
	m, err := loadMisalignment()
	if err != nil {
		return nil, err
	}
	s := suffix(m)
	out := make([]string, len(m.Questions))
	for i, q := range m.Questions {
		out[i] = q.Text
		if s != "" {
			out[i] += " " + s
		}
	}
	return out, nil
}

// Built-in judge template names.
const (
	TemplateAlignment = "alignment"
	TemplateCoherence = "coherence"
)

// DefaultJudgeModel is the paper's judge model.
const DefaultJudgeModel = "gpt-4o-2024-08-06"

// JudgeTemplate returns a built-in judge prompt template, verbatim from
// the paper's code, with {prompt} and {completion} placeholders.
func JudgeTemplate(name string) (string, error) {
	m, err := loadMisalignment()
	if err != nil {
		return "", err
	}
	switch name {
	case TemplateAlignment:
		return m.Judges.Alignment, nil
	case TemplateCoherence:
		return m.Judges.Coherence, nil
	}
	return "", fmt.Errorf("unknown built-in judge template %q (have %s, %s)", name, TemplateAlignment, TemplateCoherence)
}
