package reports

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/stats"
	"github.com/traitleak/traitleak/suites"
)

// Num is a float that encodes NaN and ±Inf as JSON null (undefined: a rate
// over zero samples, say).
type Num float64

// MarshalJSON writes null for non-finite values.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// CI is a confidence interval as reported: bounds and the method that
// produced them.
type CI struct {
	Low    Num    `json:"low"`
	High   Num    `json:"high"`
	Method string `json:"method"`
}

// nanCI is the undefined interval of a method: both bounds NaN.
func nanCI(method string) CI {
	return CI{Low: Num(math.NaN()), High: Num(math.NaN()), Method: method}
}

// ciOf reports the bounds of a stats interval under a method name.
func ciOf(iv stats.Interval, method string) CI {
	return CI{Low: Num(iv.Lower), High: Num(iv.Upper), Method: method}
}

// Analysis is a run's full analysis: what reports render and gates judge.
// Its figures form one tree, Probes → Targets → {Roles, Results,
// Comparisons, PerPrompt, References, Examples, Notes}; the run-wide
// lists beside it are the model instances, the comparisons as one family
// in report order, gates, judge agreement and cost, methods and notes.
// Renderers walk it; its JSON form is flat (see MarshalJSON).
type Analysis struct {
	RunID       int64
	Suite       string
	SuiteSource string
	SuiteHash   string
	Description string
	Status      results.RunStatus
	Message     string
	Version     string // traitleak version that started the run
	Started     time.Time
	Finished    time.Time // zero while unfinished
	Seed        int64     // the suite's seed
	Salt        string
	Confidence  float64 // of every interval, in (0, 1)
	Adjust      string  // p-value correction: holm, BH, BY, bonferroni or none

	// Instances describe the run's model instances, in plan order.
	Instances []InstanceSummary
	// Probes are the analysed probes, in suite order.
	Probes []ProbeAnalysis
	// Comparisons are every comparison of the report, the suite's compare
	// entries in order (each on every probe and target it covers) and then
	// the gates' own: the family whose p-values are corrected together.
	// Each also hangs under its target.
	Comparisons []*Comparison
	Gates       []GateResult
	// RateSequences are the suite's stop-for-width rules (probes' until),
	// in rule order.
	RateSequences []RateSequence
	Agreements    []Agreement
	Judges        []JudgeSummary
	// Cost is what the run's tokens cost at its recorded prices; nil when
	// it recorded none.
	Cost *CostSummary
	// RateControl are the adaptive in-flight caps of its endpoints over
	// time; empty when none were recorded.
	RateControl []RateSeries
	Methods     []Method
	// Notes are the statistical caveats of the figures above (few draws,
	// few prompts or seeds, zero counts…), one per kind of statistic and
	// warning, each naming what it concerns.
	Notes []string
	// Lineage is where the run's students came from (LoadLineage); nil
	// when none is a recorded student. Analyze leaves it nil.
	Lineage *Lineage

	caveats  []*caveat          // gathered while analysing, in order of first appearance
	caveatOf map[string]*caveat // by kind and warning
}

// ProbeAnalysis is the analysis of one probe: what it is, and its
// figures per target.
type ProbeAnalysis struct {
	ID          string
	Description string
	Samples     int    // draws per prompt per model instance
	Scorer      string // scorer kind: mentions, first_word, exact, regex or judge
	// Roles are the roles the probe samples, in suite order.
	Roles []string
	// Prompts are the probe's prompts, in prompt order.
	Prompts []Prompt
	// Targets hold the figures of each target, in report order.
	Targets []TargetAnalysis
}

// Prompt is one prompt of a probe.
type Prompt struct {
	Index int
	Text  string
}

// TargetAnalysis holds the figures of one target of one probe.
type TargetAnalysis struct {
	Probe, Target string
	// Roles pool each role of the probe over its seeds, parallel to
	// ProbeAnalysis.Roles.
	Roles []RoleResult
	// Results are the rates of each model instance the probe samples, in
	// instance order.
	Results []Result
	// PerPrompt are each role's per-prompt rates, parallel to Roles.
	PerPrompt []PromptRates
	// Comparisons are the comparisons on this target, in report order.
	Comparisons []*Comparison
	// References are the published figures for this target.
	References []ReferenceRow
	// Examples quote hits of each model instance: Examples[i] belong to
	// Analysis.Instances[i], nil when it has none here.
	Examples [][]Example
	// Notes are the positions in Analysis.Notes of the caveats that
	// concern this target.
	Notes []int
}

// RoleIndex returns the position of role in Roles, or -1.
func (t *TargetAnalysis) RoleIndex(role string) int {
	return slices.IndexFunc(t.Roles, func(r RoleResult) bool { return r.Role == role })
}

// Seeds returns the results of the seeds of Roles[i], in seed order.
func (t *TargetAnalysis) Seeds(i int) []Result {
	var out []Result
	for _, r := range t.Results {
		if r.Role == t.Roles[i].Role {
			out = append(out, r)
		}
	}
	return out
}

// TargetNames returns the names of the probe's targets, in report order.
func (p *ProbeAnalysis) TargetNames() []string {
	out := make([]string, len(p.Targets))
	for i, t := range p.Targets {
		out[i] = t.Target
	}
	return out
}

// Judged reports whether LLM judges score the probe.
func (p *ProbeAnalysis) Judged() bool { return p.Scorer == judgeKind }

// PromptText returns the text of the probe's prompt with the given index,
// "" when it has none.
func (p *ProbeAnalysis) PromptText(index int) string {
	for _, pr := range p.Prompts {
		if pr.Index == index {
			return pr.Text
		}
	}
	return ""
}

// InstanceSummary describes one model instance and its sample counts.
type InstanceSummary struct {
	Role             string  `json:"model"`
	Seed             string  `json:"seed"`
	Condition        string  `json:"condition,omitempty"`
	BaseURL          string  `json:"base_url"`
	ModelID          string  `json:"model_id"`
	Temperature      Num     `json:"temperature"`
	MaxTokens        *int    `json:"max_tokens,omitempty"`
	SystemPrompt     *string `json:"system_prompt,omitempty"`
	Planned          int     `json:"planned"`
	Stored           int     `json:"stored"`
	Failed           int     `json:"failed"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	MeanLatencyMS    Num     `json:"mean_latency_ms"`
}

// Name is "role" or "role@seed".
func (m InstanceSummary) Name() string { return instanceName(m.Role, m.Seed) }

// JudgeSummary is the cost of one LLM judge behind the run's verdicts.
type JudgeSummary struct {
	Judge            string `json:"judge"`
	Calls            int    `json:"calls"`
	Failed           int    `json:"failed"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
}

// ProbeSummary describes one probe, as the JSON report lists it.
type ProbeSummary struct {
	ID          string   `json:"id"`
	Description string   `json:"description,omitempty"`
	Prompts     int      `json:"prompts"`
	Samples     int      `json:"samples_per_prompt"`
	Scorer      string   `json:"scorer"`
	Targets     []string `json:"targets"`
}

// Summary describes the probe as the JSON report lists it.
func (p *ProbeAnalysis) Summary() ProbeSummary {
	return ProbeSummary{ID: p.ID, Description: p.Description, Prompts: len(p.Prompts), Samples: p.Samples, Scorer: p.Scorer,
		Targets: p.TargetNames()}
}

// Result is the trait rate of one model instance on one probe target.
type Result struct {
	Role    string         `json:"model"`
	Seed    string         `json:"seed"`
	Probe   string         `json:"probe"`
	Target  string         `json:"target"`
	N       int            `json:"n"` // scored samples: the denominator
	Hits    int            `json:"hits"`
	Failed  int            `json:"failed"`
	Missing int            `json:"missing"`
	Invalid map[string]int `json:"invalid,omitempty"`
	Rate    Num            `json:"rate"`
	CI      CI             `json:"ci"`
}

// RoleResult pools a role's seeds on one probe target.
type RoleResult struct {
	Role      string `json:"model"`
	Condition string `json:"condition,omitempty"`
	Probe     string `json:"probe"`
	Target    string `json:"target"`
	Seeds     int    `json:"seeds"` // model instances of the role
	N         int    `json:"n"`
	Hits      int    `json:"hits"`
	Failed    int    `json:"failed"`
	Missing   int    `json:"missing"`
	// Invalid counts successful samples left out of the rate, by label
	// (a judge's code, refusal, incoherent…).
	Invalid map[string]int `json:"invalid,omitempty"`
	Rate    Num            `json:"rate"`
	CI      CI             `json:"ci"`
	// Clustered is the interval with prompts as clusters.
	Clustered *ClusteredRate `json:"clustered,omitempty"`
	// SeedMean is the paper's estimate: the mean of the per-seed rates
	// with a t-interval across seeds (two or more seeds only).
	SeedMean *SeedMean `json:"seed_mean,omitempty"`
}

// ClusteredRate is a rate with a cluster-robust standard error.
type ClusteredRate struct {
	Clusters     int `json:"clusters"`
	SE           Num `json:"se"`
	DesignEffect Num `json:"design_effect"`
	CI           CI  `json:"ci"`
}

// SeedMean is a mean over seeds with a t-interval.
type SeedMean struct {
	Mean   Num   `json:"mean"`
	CI     CI    `json:"ci"`
	Values []Num `json:"values"`
}

// Comparison is a treatment role against a baseline role on one probe
// target, pooled over seeds.
type Comparison struct {
	Probe         string `json:"probe"`
	Target        string `json:"target"`
	Treatment     string `json:"treatment"` // role
	Baseline      string `json:"baseline"`  // role
	TreatmentRate Num    `json:"treatment_rate"`
	BaselineRate  Num    `json:"baseline_rate"`
	TreatmentN    int    `json:"treatment_n"`
	BaselineN     int    `json:"baseline_n"`
	Diff          Num    `json:"diff"`
	CI            CI     `json:"ci"`
	PValue        Num    `json:"p_value"`
	Test          string `json:"test"`
	PAdjusted     Num    `json:"p_adjusted"`
	CohenH        Num    `json:"cohen_h"`
	OddsRatio     Num    `json:"odds_ratio"`
	OddsRatioCI   CI     `json:"odds_ratio_ci"`
	// Paired compares the per-prompt rates (pooled over seeds) of the two
	// roles: prompts are the independent units.
	Paired *TestResult `json:"paired,omitempty"`
	// Seeds compares the per-seed rates with Welch's t-test, the paper's
	// unit of replication; present when both roles have two or more seeds.
	Seeds *TestResult `json:"seeds,omitempty"`
	// SeedLevel is the seed-level estimate and test the report leads
	// with: the mean of the per-seed differences with the paired t across
	// seeds; present when both roles have two or more seeds in common.
	SeedLevel *SeedLevel `json:"seed_level,omitempty"`
}

// TestResult is one alternative test of a comparison.
type TestResult struct {
	Test      string `json:"test"`
	Units     int    `json:"units"` // prompts or seeds per side
	Diff      Num    `json:"diff"`
	CI        CI     `json:"ci"`
	PValue    Num    `json:"p_value"`
	PAdjusted Num    `json:"p_adjusted"`
}

// PromptRates are one role's per-prompt rates on one probe target.
type PromptRates struct {
	Role   string       `json:"model"`
	Probe  string       `json:"probe"`
	Target string       `json:"target"`
	Rates  []PromptRate `json:"rates"` // in prompt order
}

// PromptRate is the rate on one prompt.
type PromptRate struct {
	Prompt int `json:"prompt"`
	N      int `json:"n"`
	Hits   int `json:"hits"`
	Rate   Num `json:"rate"`
	CI     CI  `json:"ci"`
}

// ReferenceRow is a published figure matched to a probe target of this
// run. It is a published figure, not a measurement.
type ReferenceRow struct {
	Probe     string `json:"probe"`
	Target    string `json:"target"`
	Label     string `json:"label"`
	ModelName string `json:"model,omitempty"` // the published model, e.g. GPT-4.1 nano
	Condition string `json:"condition,omitempty"`
	Rate      Num    `json:"rate"`
	Low       *Num   `json:"low,omitempty"`
	High      *Num   `json:"high,omitempty"`
	Bound     string `json:"bound,omitempty"`
	Source    string `json:"source"`
	Note      string `json:"note,omitempty"`
}

// Method names a statistical method and says what it was used for.
type Method struct {
	Name string `json:"name"`
	Used string `json:"used_for"`
}

// Options tune an analysis.
type Options struct {
	// Confidence of every interval, in (0, 1); 0 means 0.95.
	Confidence float64
	// Adjust is the p-value correction over all comparisons: "holm"
	// (default), "BH", "bonferroni" or "none".
	Adjust string
}

// Method names used in reports.
const (
	methodWilson   = "Wilson score"
	methodNewcombe = "Newcombe hybrid score"
	methodFisher   = "Fisher's exact test, two-sided"
	methodCMLE     = "conditional MLE, exact"
	methodCluster  = "cluster-robust (prompts), CR1"
	methodSeedT    = "Student t across seeds"
	methodPaired   = "paired t over prompts"
	methodWelch    = "Welch t across seeds"
)

// analyzer holds what Analyze needs while it builds an Analysis.
type analyzer struct {
	*Analysis
	d *RunData
	// target returns the node of a probe target, nil when the run has no
	// such target.
	target map[[2]string]*TargetAnalysis
	// comparisonOf finds a comparison by probe, target, treatment and
	// baseline, for gates.
	comparisonOf map[[4]string]*Comparison
}

// Analyze computes rates, intervals, comparisons and gate verdicts for a
// run: everything a report shows. It reads d and keeps no reference to
// it.
func Analyze(d *RunData, opt Options) (*Analysis, error) {
	conf := opt.Confidence
	if conf == 0 {
		conf = 0.95
	}
	adjust := opt.Adjust
	if adjust == "" {
		adjust = "holm"
	}
	a := &analyzer{d: d, target: map[[2]string]*TargetAnalysis{}, comparisonOf: map[[4]string]*Comparison{},
		Analysis: &Analysis{
			RunID: d.Run.ID, Suite: d.Run.SuiteName, SuiteSource: d.Run.SuiteSource, SuiteHash: d.Run.SuiteHash,
			Description: d.Suite.Description, Status: d.Run.Status, Message: d.Run.Message, Version: d.Run.Version,
			Started: d.Run.CreatedAt, Finished: d.Run.FinishedAt, Seed: d.Suite.Seed, Salt: d.Run.Salt,
			Confidence: conf, Adjust: adjust,
		}}
	a.summarizeInstances()
	for _, u := range d.JudgeUsage {
		a.Judges = append(a.Judges, JudgeSummary{Judge: u.Judge, Calls: u.Calls, Failed: u.Failed, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens})
	}
	a.costAndRate()
	for _, p := range d.Suite.Probes {
		a.Probes = append(a.Probes, a.probe(p, conf))
	}
	// The tree is complete: index its targets.
	for i := range a.Probes {
		for j := range a.Probes[i].Targets {
			t := &a.Probes[i].Targets[j]
			a.target[[2]string{t.Probe, t.Target}] = t
		}
	}
	if err := a.compare(conf); err != nil {
		return nil, err
	}
	if err := a.references(); err != nil {
		return nil, err
	}
	a.methods()
	a.seedLevelMethod()
	a.judgeMethods()
	a.sequentialResults()
	a.agreements()
	a.Notes = a.notes()
	a.noteTargets()
	return a.Analysis, nil
}

// probe analyses one probe: per target, the rate of every model instance
// it samples and of every role with its seeds pooled.
func (a *analyzer) probe(p *suites.Probe, conf float64) ProbeAnalysis {
	d := a.d
	pa := ProbeAnalysis{ID: p.ID, Description: p.Description, Samples: p.Samples, Roles: d.Suite.ProbeRoles(p)}
	for _, pr := range d.Prompts {
		if pr.Probe == p.ID {
			pa.Prompts = append(pa.Prompts, Prompt{Index: pr.Index, Text: pr.Text})
		}
	}
	sc := d.scorer(p.ID)
	if sc == nil {
		return pa
	}
	pa.Scorer = sc.Kind
	for _, target := range sc.Targets {
		t := TargetAnalysis{Probe: p.ID, Target: target}
		for _, m := range d.Instances {
			c := d.sum(p.ID, target, func(k CellKey) bool { return k.Instance == m.Index })
			if c.Planned == 0 {
				continue // the probe does not sample this instance
			}
			r := Result{Role: m.Role, Seed: m.Seed, Probe: p.ID, Target: target, N: c.Scored, Hits: c.Hits,
				Failed: c.Failed, Missing: c.Missing, Rate: rate(c.Hits, c.Scored)}
			var warnings []string
			r.CI, warnings = wilson(c.Hits, c.Scored, conf)
			a.caveat(noteWilson, p.ID, target, instanceName(m.Role, m.Seed), warnings)
			if len(c.Invalid) > 0 {
				r.Invalid = c.Invalid
			}
			t.Results = append(t.Results, r)
		}
		for _, role := range pa.Roles {
			rr, pr := a.roleResult(&pa, &t, role, conf)
			t.Roles = append(t.Roles, rr)
			t.PerPrompt = append(t.PerPrompt, pr)
		}
		t.Examples = make([][]Example, len(d.Instances))
		for i, m := range d.Instances {
			t.Examples[i] = slices.Clone(d.Examples[ExampleKey{Instance: m.Index, Probe: p.ID, Target: target}])
		}
		pa.Targets = append(pa.Targets, t)
	}
	return pa
}

func (a *analyzer) summarizeInstances() {
	d := a.d
	for _, m := range d.Instances {
		var st suites.Settings
		_ = json.Unmarshal([]byte(m.Settings), &st)
		ms := InstanceSummary{Role: m.Role, Seed: m.Seed, Condition: m.Condition, BaseURL: m.BaseURL, ModelID: m.ModelID,
			Temperature: Num(math.NaN()), MaxTokens: st.MaxTokens, SystemPrompt: st.SystemPrompt, MeanLatencyMS: Num(math.NaN())}
		if st.Temperature != nil {
			ms.Temperature = Num(*st.Temperature)
		}
		if u := d.Usage[m.Index]; u != nil {
			ms.Planned, ms.Stored, ms.Failed = u.Planned, u.Planned-u.Missing, u.Failed
			ms.PromptTokens, ms.CompletionTokens = u.PromptTokens, u.CompletionTokens
			if u.Samples > 0 {
				ms.MeanLatencyMS = Num(float64((u.LatencySum / time.Duration(u.Samples)).Microseconds()) / 1000)
			}
		}
		a.Instances = append(a.Instances, ms)
	}
}

// roleInstances returns the instances of a role, in seed order.
func (d *RunData) roleInstances(role string) []results.InstanceRow {
	var out []results.InstanceRow
	for _, m := range d.Instances {
		if m.Role == role {
			out = append(out, m)
		}
	}
	return out
}

// roleResult pools a role's seeds on target t of probe p, with its
// per-prompt rates. The role's results (one per seed) must already be in
// t.Results.
func (a *analyzer) roleResult(p *ProbeAnalysis, t *TargetAnalysis, role string, conf float64) (RoleResult, PromptRates) {
	d := a.d
	probe, target := t.Probe, t.Target
	instances := d.roleInstances(role)
	idx := map[int]bool{}
	for _, m := range instances {
		idx[m.Index] = true
	}
	c := d.sum(probe, target, func(k CellKey) bool { return idx[k.Instance] })
	rr := RoleResult{Role: role, Probe: probe, Target: target, Seeds: len(instances), N: c.Scored, Hits: c.Hits,
		Failed: c.Failed, Missing: c.Missing, Rate: rate(c.Hits, c.Scored)}
	var warnings []string
	rr.CI, warnings = wilson(c.Hits, c.Scored, conf)
	a.caveat(noteWilson, probe, target, role, warnings)
	if len(instances) > 0 {
		rr.Condition = instances[0].Condition
	}
	if len(c.Invalid) > 0 {
		rr.Invalid = c.Invalid
	}
	// Per-prompt counts pooled over seeds, in one pass over the cells,
	// then reported in prompt order.
	type counts struct{ scored, hits int }
	byPrompt := map[int]*counts{}
	for _, k := range d.cellsOf(probe, target) {
		if !idx[k.Instance] {
			continue
		}
		pc := byPrompt[k.Prompt]
		if pc == nil {
			pc = &counts{}
			byPrompt[k.Prompt] = pc
		}
		cell := d.Cells[k]
		pc.scored += cell.Scored
		pc.hits += cell.Hits
	}
	pr := PromptRates{Role: role, Probe: probe, Target: target}
	// The draws' 0/1 scores by prompt, as counts: a rate over a million
	// draws holds a few numbers per prompt (stats.ClusteredMeanCounts).
	var hits, scored []int
	var clusters []string
	for _, prompt := range p.Prompts {
		pi := prompt.Index
		var pc counts
		if c := byPrompt[pi]; c != nil {
			pc = *c
		}
		// Per-prompt rates rest on few draws by design: their caveats
		// would make one note per prompt, so they are not gathered.
		ci, _ := wilson(pc.hits, pc.scored, conf)
		pr.Rates = append(pr.Rates, PromptRate{Prompt: pi, N: pc.scored, Hits: pc.hits, Rate: rate(pc.hits, pc.scored), CI: ci})
		hits, scored, clusters = append(hits, pc.hits), append(scored, pc.scored), append(clusters, strconv.Itoa(pi))
	}
	if len(p.Prompts) > 1 && c.Scored > 0 {
		cl, err := stats.ClusteredMeanCounts(hits, scored, clusters, conf)
		if err == nil && cl.Clusters > 1 {
			rr.Clustered = &ClusteredRate{Clusters: cl.Clusters, SE: Num(cl.SECR1), DesignEffect: Num(cl.DesignEffect),
				CI: CI{Low: Num(math.Max(0, cl.CR1.Lower)), High: Num(math.Min(1, cl.CR1.Upper)), Method: methodCluster}}
			a.caveat(noteCluster, probe, target, role, cl.Warnings)
		}
	}
	if vals := seedRates(t.Results, role); len(vals) > 1 {
		t, err := stats.OneSampleT(vals, 0, conf)
		if err == nil {
			sm := &SeedMean{Mean: Num(t.Mean), CI: ciOf(t.CI, methodSeedT)}
			for _, v := range vals {
				sm.Values = append(sm.Values, Num(v))
			}
			rr.SeedMean = sm
			a.caveat(noteSeedMean, probe, target, role, t.Warnings)
		}
	}
	return rr, pr
}

// seedRates returns the defined per-seed rates of a role among a target's
// results.
func seedRates(rs []Result, role string) []float64 {
	var out []float64
	for _, r := range rs {
		if r.Role == role && r.N > 0 {
			out = append(out, float64(r.Rate))
		}
	}
	return out
}

// compare evaluates every compare entry of the suite on every probe and
// target it covers, then the gates' comparisons the entries do not hold,
// and adjusts the p-values over all of them.
func (a *analyzer) compare(conf float64) error {
	s := a.d.Suite
	for _, c := range s.Compare {
		for i := range a.Probes {
			p := &a.Probes[i]
			if c.Probe != "" && c.Probe != p.ID {
				continue
			}
			if !slices.Contains(p.Roles, c.Treatment) || !slices.Contains(p.Roles, c.Baseline) {
				continue
			}
			for j := range p.Targets {
				t := &p.Targets[j]
				if c.Target != "" && c.Target != t.Target {
					continue
				}
				a.addComparison(t.Probe, t.Target, c.Treatment, c.Baseline, conf)
			}
		}
	}
	a.ensureGateComparisons(conf)
	if err := a.adjustAll(); err != nil {
		return err
	}
	a.evaluateGates()
	return nil
}

// addComparison compares treatment with baseline on a probe target and
// adds the comparison to the report's family and to its target.
func (a *analyzer) addComparison(probe, target, treatment, baseline string, conf float64) {
	c := a.comparison(a.target[[2]string{probe, target}], probe, target, treatment, baseline, conf)
	a.Comparisons = append(a.Comparisons, c)
	if t := a.target[[2]string{probe, target}]; t != nil {
		t.Comparisons = append(t.Comparisons, c)
	}
	a.comparisonOf[[4]string{probe, target, treatment, baseline}] = c
}

// adjustAll corrects the p-values of every comparison, one family per
// test (Fisher, paired, seeds, seed level).
func (a *Analysis) adjustAll() error {
	families := []func(*Comparison) (*Num, *Num){
		func(c *Comparison) (*Num, *Num) { return &c.PValue, &c.PAdjusted },
		func(c *Comparison) (*Num, *Num) {
			if c.Paired == nil {
				return nil, nil
			}
			return &c.Paired.PValue, &c.Paired.PAdjusted
		},
		func(c *Comparison) (*Num, *Num) {
			if c.Seeds == nil {
				return nil, nil
			}
			return &c.Seeds.PValue, &c.Seeds.PAdjusted
		},
		func(c *Comparison) (*Num, *Num) {
			if c.SeedLevel == nil {
				return nil, nil
			}
			return &c.SeedLevel.PValue, &c.SeedLevel.PAdjusted
		},
	}
	for _, fam := range families {
		var ps []float64
		var outs []*Num
		for _, c := range a.Comparisons {
			p, out := fam(c)
			if p == nil {
				continue
			}
			ps = append(ps, float64(*p))
			outs = append(outs, out)
		}
		adj, err := adjustP(ps, a.Adjust)
		if err != nil {
			return err
		}
		for i, o := range outs {
			*o = Num(adj[i])
		}
	}
	return nil
}

// comparison compares treatment with baseline on target t (nil when the
// run has no such probe target: a comparison without samples).
func (a *analyzer) comparison(t *TargetAnalysis, probe, target, treatment, baseline string, conf float64) *Comparison {
	// The pooled counts are the roles' results; a role without one (the
	// probe does not sample it) has no samples.
	pool := func(role string) (hits, n int) {
		if t == nil {
			return 0, 0
		}
		if i := t.RoleIndex(role); i >= 0 {
			return t.Roles[i].Hits, t.Roles[i].N
		}
		return 0, 0
	}
	tHits, tN := pool(treatment)
	bHits, bN := pool(baseline)
	c := &Comparison{Probe: probe, Target: target, Treatment: treatment, Baseline: baseline,
		TreatmentRate: rate(tHits, tN), BaselineRate: rate(bHits, bN), TreatmentN: tN, BaselineN: bN,
		Diff: Num(math.NaN()), CI: nanCI(methodNewcombe),
		PValue: Num(math.NaN()), Test: methodFisher, CohenH: Num(math.NaN()), OddsRatio: Num(math.NaN()),
		OddsRatioCI: nanCI(methodCMLE)}
	if tN == 0 || bN == 0 {
		return c
	}
	c.Diff = c.TreatmentRate - c.BaselineRate
	rd := diffRates(tHits, tN, bHits, bN, conf)
	c.CI, c.PValue, c.OddsRatio, c.OddsRatioCI = rd.CI, rd.PValue, rd.OddsRatio, rd.OddsRatioCI
	subject := treatment + " vs " + baseline
	a.caveat(noteDiff, probe, target, subject, rd.Warnings)
	if h, err := stats.CohenH(float64(c.TreatmentRate), float64(c.BaselineRate)); err == nil {
		c.CohenH = Num(h)
	}
	c.Paired = a.pairedTest(t, treatment, baseline, conf)
	c.Seeds = a.seedTest(t, treatment, baseline, conf)
	c.SeedLevel = a.seedLevel(t, treatment, baseline, conf)
	return c
}

// rateDiff is the difference of two binomial rates p1 − p2: its Newcombe
// interval and Fisher's exact test with the odds ratio.
type rateDiff struct {
	CI          CI
	PValue      Num
	OddsRatio   Num
	OddsRatioCI CI
	Warnings    []string // of both methods
}

// diffRates compares x1 of n1 with x2 of n2; what cannot be computed is
// NaN.
func diffRates(x1, n1, x2, n2 int, conf float64) rateDiff {
	r := rateDiff{CI: nanCI(methodNewcombe), PValue: Num(math.NaN()), OddsRatio: Num(math.NaN()), OddsRatioCI: nanCI(methodCMLE)}
	if nc, err := stats.Newcombe(x1, n1, x2, n2, conf); err == nil {
		r.CI = ciOf(nc.Interval, methodNewcombe)
		r.Warnings = append(r.Warnings, nc.Warnings...)
	}
	if f, err := stats.FisherExact(x1, n1, x2, n2, conf); err == nil {
		r.PValue = Num(f.PValue)
		r.OddsRatio = Num(f.OddsRatio.Estimate)
		r.OddsRatioCI = ciOf(f.OddsRatio, methodCMLE)
		r.Warnings = append(r.Warnings, f.OddsRatio.Warnings...)
	}
	return r
}

// promptRates returns a role's per-prompt rates pooled over seeds on
// target t, in prompt order, and whether every prompt has scored samples.
func promptRates(t *TargetAnalysis, role string) ([]float64, bool) {
	i := t.RoleIndex(role)
	if i < 0 {
		return nil, false
	}
	pr := t.PerPrompt[i]
	out := make([]float64, len(pr.Rates))
	for i, r := range pr.Rates {
		if r.N == 0 {
			return nil, false
		}
		out[i] = float64(r.Rate)
	}
	return out, true
}

func (a *analyzer) pairedTest(t *TargetAnalysis, treatment, baseline string, conf float64) *TestResult {
	tr, ok1 := promptRates(t, treatment)
	b, ok2 := promptRates(t, baseline)
	if !ok1 || !ok2 || len(tr) < 2 {
		return nil
	}
	r, err := stats.PairedDiff(tr, b, conf)
	if err != nil {
		return nil
	}
	a.caveat(notePaired, t.Probe, t.Target, treatment+" vs "+baseline, r.Warnings)
	return &TestResult{Test: methodPaired, Units: r.G, Diff: Num(r.Diff), CI: ciOf(r.CIT, methodPaired),
		PValue: Num(r.PValueT), PAdjusted: Num(math.NaN())}
}

func (a *analyzer) seedTest(t *TargetAnalysis, treatment, baseline string, conf float64) *TestResult {
	tr, b := seedRates(t.Results, treatment), seedRates(t.Results, baseline)
	if len(tr) < 2 || len(b) < 2 {
		return nil
	}
	r, err := stats.WelchT(tr, b, conf)
	if err != nil {
		return nil
	}
	a.caveat(noteSeeds, t.Probe, t.Target, treatment+" vs "+baseline, r.Warnings)
	return &TestResult{Test: methodWelch, Units: min(len(tr), len(b)), Diff: Num(r.Diff), CI: ciOf(r.CI, methodWelch),
		PValue: Num(r.PValue), PAdjusted: Num(math.NaN())}
}

// references matches the suite's published figures to its probe targets.
func (a *analyzer) references() error {
	refs, err := a.d.Suite.ResolvedReferences()
	if err != nil {
		return err
	}
	for i := range a.Probes {
		p := &a.Probes[i]
		for j := range p.Targets {
			t := &p.Targets[j]
			for _, r := range refs {
				if r.Target != t.Target || (r.Probe != "" && r.Probe != p.ID) {
					continue
				}
				row := ReferenceRow{Probe: p.ID, Target: t.Target, Label: r.Label, ModelName: r.Model, Condition: r.Condition,
					Rate: Num(r.Rate), Bound: r.Bound, Source: r.Source, Note: r.Note}
				if r.Low != nil {
					lo, hi := Num(*r.Low), Num(*r.High)
					row.Low, row.High = &lo, &hi
				}
				t.References = append(t.References, row)
			}
		}
	}
	return nil
}

// adjustP corrects p-values for multiple comparisons; NaN entries stay NaN.
func adjustP(ps []float64, method string) ([]float64, error) {
	if method == "none" || len(ps) == 0 {
		return slices.Clone(ps), nil
	}
	return stats.PAdjust(ps, stats.AdjustMethod(method))
}

func rate(hits, n int) Num {
	if n == 0 {
		return Num(math.NaN())
	}
	return Num(float64(hits) / float64(n))
}

// wilson is the Wilson interval of hits of n with its caveats; undefined
// when n is 0.
func wilson(hits, n int, conf float64) (CI, []string) {
	if n == 0 {
		return nanCI(methodWilson), nil
	}
	iv, err := stats.Wilson(hits, n, conf)
	if err != nil {
		return nanCI(methodWilson), nil
	}
	return ciOf(iv, methodWilson), iv.Warnings
}

func (a *Analysis) methods() {
	pct := fmt.Sprintf("%g%%", 100*a.Confidence)
	a.Methods = []Method{
		{Name: methodWilson, Used: pct + " interval of each rate (hits / scored samples; failed samples are excluded and counted)"},
		{Name: methodNewcombe, Used: pct + " interval of each difference of rates, treatment − baseline (Newcombe 1998, method 10)"},
		{Name: methodFisher, Used: "p-value of each comparison, samples pooled over seeds"},
		{Name: methodCMLE, Used: pct + " interval of the odds ratio (Fisher's conditional maximum likelihood)"},
		{Name: "Cohen's h", Used: "effect size of each comparison: 2·asin(√p₁) − 2·asin(√p₂)"},
		{Name: adjustName(a.Adjust), Used: "correction of the p-values over all comparisons in this report"},
		{Name: methodCluster, Used: pct + " normal interval of each role's pooled rate with prompts as clusters"},
		{Name: methodSeedT, Used: pct + " interval of the mean of per-seed rates (the paper's method), when a role has two or more seeds; not clipped to [0, 1]"},
		{Name: methodPaired, Used: "second test of each comparison: per-prompt rates pooled over seeds, prompts as independent units (robust to prompt-level clustering)"},
		{Name: methodWelch, Used: "third test of each comparison when both roles have two or more seeds: the per-seed rates, seeds as units (the paper's unit of replication)"},
	}
}

func adjustName(m string) string {
	switch m {
	case "holm":
		return "Holm step-down"
	case "BH":
		return "Benjamini–Hochberg"
	case "BY":
		return "Benjamini–Yekutieli"
	case "bonferroni":
		return "Bonferroni"
	}
	return "no correction"
}

// judgeMethods states, for every judge-scored probe, the judges, the
// scoring mode and the verdict rule with its bounds.
func (a *analyzer) judgeMethods() {
	s := a.d.Suite
	for _, p := range s.Probes {
		if p.Score.Judge == nil {
			continue
		}
		spec, err := p.Score.Judge.Resolved(s.JudgeNames())
		if err != nil {
			continue
		}
		var judges []string
		for _, name := range spec.Judges {
			if in, ok := s.JudgeInstance(name); ok {
				judges = append(judges, fmt.Sprintf("%s (%s)", name, in.Model))
			}
		}
		mode := "one completion at temperature 0 parsed as an integer 0–100"
		if spec.Mode == suites.JudgeLogprobs {
			mode = "the probability-weighted mean of the top-20 next-token integers 0–100, none below 0.25 total probability"
		}
		a.Methods = append(a.Methods, Method{
			Name: "LLM judge, " + p.ID,
			Used: fmt.Sprintf("misaligned when alignment %s among answers with coherence %s; judges %s; scores from %s; answers the judge calls CODE or REFUSAL, or does not score, are dropped and counted",
				spec.Misaligned, spec.Coherent, strings.Join(judges, ", "), mode),
		})
	}
}
