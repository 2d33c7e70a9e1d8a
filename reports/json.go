package reports

import (
	"encoding/json"
	"time"

	"github.com/traitleak/traitleak/results"
)

// MarshalJSON writes the analysis in the JSON report's documented flat
// shape: the tree's results, roles, comparisons, per-prompt rates and
// references as one list each, in report order (probe by probe, target
// by target; comparisons as the corrected family lists them).
func (a *Analysis) MarshalJSON() ([]byte, error) {
	type report struct {
		RunID       int64             `json:"run_id"`
		Suite       string            `json:"suite"`
		SuiteSource string            `json:"suite_source"`
		SuiteHash   string            `json:"suite_hash"`
		Description string            `json:"description,omitempty"`
		Status      results.RunStatus `json:"status"`
		Message     string            `json:"message,omitempty"`
		Version     string            `json:"traitleak_version"`
		Started     time.Time         `json:"started"`
		Finished    time.Time         `json:"finished,omitzero"`
		Seed        int64             `json:"seed"`
		Salt        string            `json:"salt"`
		Confidence  float64           `json:"confidence"`
		Adjust      string            `json:"p_adjust"`

		Models      []InstanceSummary `json:"models"`
		Probes      []ProbeSummary    `json:"probes"`
		Results     []Result          `json:"results"`
		Roles       []RoleResult      `json:"roles"`
		Comparisons []Comparison      `json:"comparisons"`
		PerPrompt   []PromptRates     `json:"per_prompt"`
		Gates       []GateResult      `json:"gates"`
		RateSeqs    []RateSequence    `json:"rate_sequences,omitempty"`
		Agreements  []Agreement       `json:"judge_agreement,omitempty"`
		Judges      []JudgeSummary    `json:"judges,omitempty"`
		Cost        *CostSummary      `json:"cost,omitempty"`
		RateControl []RateSeries      `json:"rate_control,omitempty"`
		References  []ReferenceRow    `json:"references"`
		Methods     []Method          `json:"methods"`
		Notes       []string          `json:"notes,omitempty"`
		Lineage     *Lineage          `json:"lineage,omitempty"`
	}
	r := report{RunID: a.RunID, Suite: a.Suite, SuiteSource: a.SuiteSource, SuiteHash: a.SuiteHash, Description: a.Description,
		Status: a.Status, Message: a.Message, Version: a.Version, Started: a.Started, Finished: a.Finished, Seed: a.Seed, Salt: a.Salt,
		Confidence: a.Confidence, Adjust: a.Adjust,
		Models: a.Instances, Gates: a.Gates, RateSeqs: a.RateSequences, Agreements: a.Agreements, Judges: a.Judges, Methods: a.Methods, Notes: a.Notes,
		Cost: a.Cost, RateControl: a.RateControl, Lineage: a.Lineage}
	for i := range a.Probes {
		p := &a.Probes[i]
		r.Probes = append(r.Probes, p.Summary())
		for _, t := range p.Targets {
			r.Results = append(r.Results, t.Results...)
			r.Roles = append(r.Roles, t.Roles...)
			r.PerPrompt = append(r.PerPrompt, t.PerPrompt...)
			r.References = append(r.References, t.References...)
		}
	}
	for _, c := range a.Comparisons {
		r.Comparisons = append(r.Comparisons, *c)
	}
	return json.Marshal(r)
}
