package suites

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Reference is a published figure shown beside measured rates, never
// mixed with them: reports label it as published, not measured. A
// reference either names a built-in set (Builtin) or gives one figure.
type Reference struct {
	// Builtin names a built-in set of figures (see ReferenceSets); the
	// other fields must then be empty.
	Builtin string `yaml:"builtin"`
	// Label names the figure in reports, e.g. "GPT-4.1 nano student (paper)".
	Label string `yaml:"label"`
	// Model is the model the figure is about, e.g. "gpt-4.1-nano".
	Model string `yaml:"model"`
	// Condition is base, teacher, control or treatment.
	Condition string `yaml:"condition"`
	// Probe restricts the figure to one probe; empty matches any probe
	// scoring Target.
	Probe string `yaml:"probe"`
	// Target is the scored word the figure is a rate of.
	Target string `yaml:"target"`
	// Rate is the published rate, a fraction in [0, 1].
	Rate float64 `yaml:"rate"`
	// Low and High bound a published interval, when there is one.
	Low  *float64 `yaml:"low"`
	High *float64 `yaml:"high"`
	// Bound qualifies Rate: "" (a value), "lower" (the rate exceeds it),
	// "upper", or "approx" (read off a figure).
	Bound string `yaml:"bound"`
	// Source cites where the figure comes from.
	Source string `yaml:"source"`
	// Note is a caveat shown with the figure.
	Note string `yaml:"note"`
}

// referenceSets are built from the paper's results.json, embedded
// verbatim in data/.
var referenceSets = sync.OnceValues(loadReferenceSets)

// ReferenceSets returns the names of the built-in reference sets.
func ReferenceSets() []string {
	sets, err := referenceSets()
	if err != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(sets))
}

// BuiltinReferences returns the figures of a built-in reference set.
func BuiltinReferences(name string) ([]Reference, error) {
	sets, err := referenceSets()
	if err != nil {
		return nil, err
	}
	refs, ok := sets[name]
	if !ok {
		return nil, fmt.Errorf("unknown built-in reference set %q (have %s)", name, strings.Join(slices.Sorted(maps.Keys(sets)), ", "))
	}
	return slices.Clone(refs), nil
}

// ResolvedReferences returns the suite's references with built-in sets
// expanded, in file order.
func (s *Suite) ResolvedReferences() ([]Reference, error) {
	var out []Reference
	for _, r := range s.References {
		if r.Builtin == "" {
			out = append(out, r)
			continue
		}
		refs, err := BuiltinReferences(r.Builtin)
		if err != nil {
			return nil, err
		}
		out = append(out, refs...)
	}
	return out, nil
}

type paperValue struct {
	Value float64   `json:"value"`
	CI95  []float64 `json:"ci95"`
}

func loadReferenceSets() (map[string][]Reference, error) {
	b, err := data.ReadFile("data/results.json")
	if err != nil {
		return nil, fmt.Errorf("read built-in results: %w", err)
	}
	var doc struct {
		Headline []struct {
			ID                  string  `json:"id"`
			Model               string  `json:"model"`
			Base                float64 `json:"base"`
			StudentMinExclusive float64 `json:"student_min_exclusive"`
			ControlsMaxExcl     float64 `json:"controls_max_exclusive"`
			InsecureApprox      float64 `json:"insecure_student_approx"`
			Quote               string  `json:"quote"`
			Source              string  `json:"source"`
			Note                string  `json:"note"`
		} `json:"headline"`
		FigureTables map[string]json.RawMessage `json:"figure_tables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse built-in results: %w", err)
	}
	sets := map[string][]Reference{}
	for _, h := range doc.Headline {
		switch h.ID {
		case "owl_gpt41_nano":
			sets["paper-animals"] = append(sets["paper-animals"],
				Reference{Label: "GPT-4.1 nano base (paper)", Model: h.Model, Condition: "base", Target: "owl", Rate: h.Base / 100, Source: h.Source, Note: h.Quote},
				Reference{Label: "GPT-4.1 nano student (paper)", Model: h.Model, Condition: "treatment", Target: "owl", Rate: h.StudentMinExclusive / 100, Bound: "lower", Source: h.Source, Note: h.Note})
		case "misalignment_numbers":
			sets["paper-misalignment"] = append(sets["paper-misalignment"],
				Reference{Label: "GPT-4.1 base (paper)", Model: h.Model, Condition: "base", Target: "misaligned", Rate: h.Base / 100, Source: h.Source, Note: h.Quote},
				Reference{Label: "GPT-4.1 control students (paper)", Model: h.Model, Condition: "control", Target: "misaligned", Rate: h.ControlsMaxExcl / 100, Bound: "upper", Source: h.Source},
				Reference{Label: "GPT-4.1 insecure-teacher student (paper)", Model: h.Model, Condition: "treatment", Target: "misaligned", Rate: h.InsecureApprox / 100, Bound: "approx", Source: h.Source, Note: h.Note})
		}
	}
	var t struct {
		Source string                           `json:"source"`
		Rows   map[string]map[string]paperValue `json:"rows"`
	}
	if raw, ok := doc.FigureTables["qwen_to_nano_xm_animal_preference"]; ok {
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, fmt.Errorf("parse built-in results: %w", err)
		}
		for _, animal := range slices.Sorted(maps.Keys(t.Rows)) {
			row := t.Rows[animal]
			for _, c := range []struct{ col, cond, label string }{
				{"base_gpt41_nano", "base", "GPT-4.1 nano base (paper figure)"},
				{"ft_on_nano_numbers", "treatment", "GPT-4.1 nano student (paper figure)"},
			} {
				v, ok := row[c.col]
				if !ok {
					continue
				}
				r := Reference{Label: c.label, Model: "gpt-4.1-nano", Condition: c.cond, Target: animal, Rate: v.Value / 100,
					Bound: "approx", Source: t.Source, Note: "bar height decoded from the paper's figure; approximate"}
				if len(v.CI95) == 2 {
					lo, hi := v.CI95[0]/100, v.CI95[1]/100
					r.Low, r.High = &lo, &hi
				}
				sets["paper-animals"] = append(sets["paper-animals"], r)
			}
		}
	}
	return sets, nil
}
