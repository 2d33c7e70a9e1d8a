package suites

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Recorded decodes a suite as a run recorded it (the JSON encoding of the
// loaded suite, see Suite.Hash) and names source as where it came from.
// The suite is not validated again: it was when the run started.
func Recorded(suiteJSON []byte, source string) (*Suite, error) {
	var s Suite
	if err := json.Unmarshal(suiteJSON, &s); err != nil {
		return nil, fmt.Errorf("decode recorded suite: %w", err)
	}
	s.Source = source
	return &s, nil
}

// GateVerdict is the outcome of evaluating a Gate on a run.
type GateVerdict string

// Gate verdicts.
const (
	GatePass      GateVerdict = "pass"
	GateFail      GateVerdict = "fail"
	GateUndecided GateVerdict = "undecided" // not enough data to decide
)

// ErrNoJudgedProbe is returned by Rejudge for a suite without an
// LLM-judge-scored probe.
var ErrNoJudgedProbe = errors.New("no judge-scored probe")

// JudgeModel defines or redefines a judge by name: Model at BaseURL (""
// means DefaultBaseURL), with its API key in the environment variable
// APIKeyEnv.
type JudgeModel struct {
	Name, Model, BaseURL, APIKeyEnv string
}

// Rejudge changes how a suite's judge-scored probes are judged. Zero
// fields keep what the suite says.
type Rejudge struct {
	// Judges, when set, are the judges of every judged probe, the first
	// primary: names of the suite's judges, or of Define entries.
	Judges []string
	// Define adds judges, or replaces the model of a judge of that name.
	Define []JudgeModel
	// Mode is JudgeSample or JudgeLogprobs.
	Mode string
	// Misaligned and Coherent are verdict thresholds ("le 30", ">= 50").
	Misaligned, Coherent string
	// Alignment and Coherence are template texts.
	Alignment, Coherence string
}

// Rejudge applies r to every judge-scored probe of s and validates the
// result (Check: a bad threshold, mode or template is a *SuiteError
// naming the field); on error s may be partly changed. It fails with
// ErrNoJudgedProbe when s has no judge-scored probe.
func (s *Suite) Rejudge(r Rejudge) error {
	judged := 0
	for _, p := range s.Probes {
		if p.Score.Judge != nil {
			judged++
		}
	}
	if judged == 0 {
		return ErrNoJudgedProbe
	}
	for _, d := range r.Define {
		if d.Model == "" {
			return fmt.Errorf("judge %q: no model", d.Name)
		}
		base := d.BaseURL
		if base == "" {
			base = DefaultBaseURL
		}
		replaced := false
		for _, m := range s.Judges {
			if m.Role == d.Name {
				m.Model, m.BaseURL, replaced = StringList{d.Model}, base, true
			}
		}
		if !replaced {
			if len(s.Judges) == 0 {
				s.Judges = s.JudgeModels() // keep the implicit default judge addressable
			}
			s.Judges = append(s.Judges, &Role{Role: d.Name, Model: StringList{d.Model}, BaseURL: base, APIKeyEnv: d.APIKeyEnv})
		}
	}
	for _, p := range s.Probes {
		if p.Score.Judge == nil {
			continue
		}
		spec := *p.Score.Judge
		if len(r.Judges) > 0 {
			spec.Judges = r.Judges
		}
		if r.Mode != "" {
			spec.Mode = r.Mode
		}
		if r.Misaligned != "" {
			spec.Misaligned = r.Misaligned
		}
		if r.Coherent != "" {
			spec.Coherent = r.Coherent
		}
		if r.Alignment != "" {
			spec.Alignment = r.Alignment
		}
		if r.Coherence != "" {
			spec.Coherence = r.Coherence
		}
		p.Score.Judge = &spec
	}
	return s.Check()
}
