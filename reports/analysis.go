package reports

import (
	"encoding/json"
	"fmt"
	"maps"
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
type Analysis struct {
	RunID       int64     `json:"run_id"`
	Suite       string    `json:"suite"`
	SuiteSource string    `json:"suite_source"`
	SuiteHash   string    `json:"suite_hash"`
	Description string    `json:"description,omitempty"`
	Status      string    `json:"status"`
	Message     string    `json:"message,omitempty"`
	Version     string    `json:"traitleak_version"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished,omitzero"`
	Seed        int64     `json:"seed"`
	Salt        string    `json:"salt"`
	Confidence  float64   `json:"confidence"`
	Adjust      string    `json:"p_adjust"`

	Models      []ModelSummary `json:"models"`
	Probes      []ProbeSummary `json:"probes"`
	Results     []Result       `json:"results"`
	Roles       []RoleResult   `json:"roles"`
	Comparisons []Comparison   `json:"comparisons"`
	PerPrompt   []PromptRates  `json:"per_prompt"`
	Gates       []GateResult   `json:"gates"`
	Agreements  []Agreement    `json:"judge_agreement,omitempty"`
	Judges      []JudgeSummary `json:"judges,omitempty"`
	References  []ReferenceRow `json:"references"`
	Methods     []Method       `json:"methods"`
	// Notes are the statistical caveats of the figures above (few draws,
	// few prompts or seeds, zero counts…), one per kind of statistic and
	// warning, each naming what it concerns.
	Notes []string `json:"notes,omitempty"`

	data     *RunData
	prompts  map[string][]int   // prompt indexes by probe, in prompt order
	caveats  []*caveat          // gathered while analysing, in order of first appearance
	caveatOf map[string]*caveat // by kind and warning
}

// ModelSummary describes one model instance and its sample counts.
type ModelSummary struct {
	Model            string  `json:"model"` // role
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

// JudgeSummary is the cost of one LLM judge behind the run's verdicts.
type JudgeSummary struct {
	Judge            string `json:"judge"`
	Calls            int    `json:"calls"`
	Failed           int    `json:"failed"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
}

// ProbeSummary describes one probe.
type ProbeSummary struct {
	ID          string   `json:"id"`
	Description string   `json:"description,omitempty"`
	Prompts     int      `json:"prompts"`
	Samples     int      `json:"samples_per_prompt"`
	Scorer      string   `json:"scorer"`
	Targets     []string `json:"targets"`
}

// Result is the trait rate of one model instance on one probe target.
type Result struct {
	Model   string         `json:"model"` // role
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
	Model     string `json:"model"`
	Condition string `json:"condition,omitempty"`
	Probe     string `json:"probe"`
	Target    string `json:"target"`
	Seeds     int    `json:"seeds"`
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
	Treatment     string `json:"treatment"`
	Baseline      string `json:"baseline"`
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
	Model  string       `json:"model"`
	Probe  string       `json:"probe"`
	Target string       `json:"target"`
	Rates  []PromptRate `json:"rates"`
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
	Model     string `json:"model,omitempty"`
	Condition string `json:"condition,omitempty"`
	Rate      Num    `json:"rate"`
	Low       *Num   `json:"low,omitempty"`
	High      *Num   `json:"high,omitempty"`
	Bound     string `json:"bound,omitempty"`
	Source    string `json:"source"`
	Note      string `json:"note,omitempty"`
}

// references matches the suite's published figures to its probe targets.
func (a *Analysis) references() error {
	refs, err := a.data.Suite.ResolvedReferences()
	if err != nil {
		return err
	}
	for _, p := range a.Probes {
		for _, t := range p.Targets {
			for _, r := range refs {
				if r.Target != t || (r.Probe != "" && r.Probe != p.ID) {
					continue
				}
				row := ReferenceRow{Probe: p.ID, Target: t, Label: r.Label, Model: r.Model, Condition: r.Condition,
					Rate: Num(r.Rate), Bound: r.Bound, Source: r.Source, Note: r.Note}
				if r.Low != nil {
					lo, hi := Num(*r.Low), Num(*r.High)
					row.Low, row.High = &lo, &hi
				}
				a.References = append(a.References, row)
			}
		}
	}
	return nil
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

// Analyze computes rates, intervals and comparisons for a run.
func Analyze(d *RunData, opt Options) (*Analysis, error) {
	conf := opt.Confidence
	if conf == 0 {
		conf = 0.95
	}
	adjust := opt.Adjust
	if adjust == "" {
		adjust = "holm"
	}
	a := &Analysis{
		RunID: d.Run.ID, Suite: d.Run.SuiteName, SuiteSource: d.Run.SuiteSource, SuiteHash: d.Run.SuiteHash,
		Description: d.Suite.Description, Status: d.Run.Status, Message: d.Run.Message, Version: d.Run.Version,
		Started: d.Run.CreatedAt, Finished: d.Run.FinishedAt, Seed: d.Suite.Seed, Salt: d.Run.Salt,
		Confidence: conf, Adjust: adjust, data: d,
	}
	a.summarizeModels()
	for _, name := range slices.Sorted(maps.Keys(d.JudgeUsage)) {
		u := d.JudgeUsage[name]
		a.Judges = append(a.Judges, JudgeSummary{Judge: name, Calls: u.Calls, Failed: u.Failed, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens})
	}
	a.prompts = map[string][]int{}
	for _, pr := range d.Prompts {
		a.prompts[pr.Probe] = append(a.prompts[pr.Probe], pr.Index)
	}
	targets := map[string][]string{}
	for _, p := range d.Suite.Probes {
		t := d.Suite.ScoreTargets(p)
		targets[p.ID] = t
		a.Probes = append(a.Probes, ProbeSummary{ID: p.ID, Description: p.Description, Prompts: len(a.prompts[p.ID]), Samples: p.Samples, Scorer: p.Score.Kind(), Targets: t})
	}
	for _, p := range d.Suite.Probes {
		for _, t := range targets[p.ID] {
			for _, m := range d.Models {
				c := d.sum(p.ID, t, func(k CellKey) bool { return k.Model == m.Index })
				if c.Planned == 0 {
					continue // the probe does not sample this model
				}
				r := Result{Model: m.Role, Seed: m.Seed, Probe: p.ID, Target: t, N: c.Scored, Hits: c.Hits,
					Failed: c.Failed, Missing: c.Missing, Rate: rate(c.Hits, c.Scored)}
				var warnings []string
				r.CI, warnings = wilson(c.Hits, c.Scored, conf)
				a.caveat(noteWilson, p.ID, t, modelName(m.Role, m.Seed), warnings)
				if len(c.Invalid) > 0 {
					r.Invalid = c.Invalid
				}
				a.Results = append(a.Results, r)
			}
			for _, role := range d.Suite.ProbeRoles(p) {
				rr, pr := a.roleResult(p.ID, t, role, conf)
				a.Roles = append(a.Roles, rr)
				a.PerPrompt = append(a.PerPrompt, pr)
			}
		}
	}
	if err := a.compare(targets, conf); err != nil {
		return nil, err
	}
	if err := a.references(); err != nil {
		return nil, err
	}
	a.methods()
	a.judgeMethods()
	a.agreements()
	a.Notes = a.notes()
	return a, nil
}

func (a *Analysis) summarizeModels() {
	d := a.data
	for _, m := range d.Models {
		var st suites.Settings
		_ = json.Unmarshal([]byte(m.Settings), &st)
		ms := ModelSummary{Model: m.Role, Seed: m.Seed, Condition: m.Condition, BaseURL: m.BaseURL, ModelID: m.Model,
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
		a.Models = append(a.Models, ms)
	}
}

// cellsOf returns the keys of the cells of one probe target, in no
// particular order.
func (d *RunData) cellsOf(probe, target string) []CellKey {
	if d.byTarget == nil {
		// Index the cells once: an analysis sums per role and seed, and
		// scanning every cell each time grows with the square of the run.
		d.byTarget = map[CellKey][]CellKey{}
		for k := range d.Cells {
			t := CellKey{Probe: k.Probe, Target: k.Target}
			d.byTarget[t] = append(d.byTarget[t], k)
		}
	}
	return d.byTarget[CellKey{Probe: probe, Target: target}]
}

// sum adds the cells of one probe target that match keep.
func (d *RunData) sum(probe, target string, keep func(CellKey) bool) Cell {
	var out Cell
	out.Invalid = map[string]int{}
	for _, k := range d.cellsOf(probe, target) {
		if !keep(k) {
			continue
		}
		c := d.Cells[k]
		out.Planned += c.Planned
		out.Missing += c.Missing
		out.Failed += c.Failed
		out.Scored += c.Scored
		out.Hits += c.Hits
		for l, n := range c.Invalid {
			out.Invalid[l] += n
		}
	}
	return out
}

// roleModels returns the model indexes of a role, in seed order.
func (d *RunData) roleModels(role string) []results.ModelRow {
	var out []results.ModelRow
	for _, m := range d.Models {
		if m.Role == role {
			out = append(out, m)
		}
	}
	return out
}

// roleResult pools a role's seeds on one probe target, with its
// per-prompt rates. The role's results (one per seed) must already be in
// a.Results.
func (a *Analysis) roleResult(probe, target, role string, conf float64) (RoleResult, PromptRates) {
	d := a.data
	models := d.roleModels(role)
	idx := map[int]bool{}
	for _, m := range models {
		idx[m.Index] = true
	}
	c := d.sum(probe, target, func(k CellKey) bool { return idx[k.Model] })
	rr := RoleResult{Model: role, Probe: probe, Target: target, Seeds: len(models), N: c.Scored, Hits: c.Hits,
		Failed: c.Failed, Missing: c.Missing, Rate: rate(c.Hits, c.Scored)}
	var warnings []string
	rr.CI, warnings = wilson(c.Hits, c.Scored, conf)
	a.caveat(noteWilson, probe, target, role, warnings)
	if len(models) > 0 {
		rr.Condition = models[0].Condition
	}
	if len(c.Invalid) > 0 {
		rr.Invalid = c.Invalid
	}
	// Per-prompt counts pooled over seeds, in one pass over the cells,
	// then reported in prompt order.
	type counts struct{ scored, hits int }
	byPrompt := map[int]*counts{}
	for _, k := range d.cellsOf(probe, target) {
		if !idx[k.Model] {
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
	prompts := a.prompts[probe]
	pr := PromptRates{Model: role, Probe: probe, Target: target}
	var xs []float64
	var clusters []string
	for _, pi := range prompts {
		var pc counts
		if p := byPrompt[pi]; p != nil {
			pc = *p
		}
		// Per-prompt rates rest on few draws by design: their caveats
		// would make one note per prompt, so they are not gathered.
		ci, _ := wilson(pc.hits, pc.scored, conf)
		pr.Rates = append(pr.Rates, PromptRate{Prompt: pi, N: pc.scored, Hits: pc.hits, Rate: rate(pc.hits, pc.scored), CI: ci})
		label := strconv.Itoa(pi)
		for i := range pc.scored {
			v := 0.0
			if i < pc.hits {
				v = 1
			}
			xs = append(xs, v)
			clusters = append(clusters, label)
		}
	}
	if len(prompts) > 1 && c.Scored > 0 {
		cl, err := stats.ClusteredMean(xs, clusters, conf)
		if err == nil && cl.Clusters > 1 {
			rr.Clustered = &ClusteredRate{Clusters: cl.Clusters, SE: Num(cl.SECR1), DesignEffect: Num(cl.DesignEffect),
				CI: CI{Low: Num(math.Max(0, cl.CR1.Lower)), High: Num(math.Min(1, cl.CR1.Upper)), Method: methodCluster}}
			a.caveat(noteCluster, probe, target, role, cl.Warnings)
		}
	}
	if vals := a.seedRates(probe, target, role); len(vals) > 1 {
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

// rolesFor returns the pooled results of the roles of one probe target,
// in suite order.
func (a *Analysis) rolesFor(probe, target string) []RoleResult {
	var out []RoleResult
	for _, r := range a.Roles {
		if r.Probe == probe && r.Target == target {
			out = append(out, r)
		}
	}
	return out
}

// roleResultOf returns a role's pooled result on a probe target, or nil.
func (a *Analysis) roleResultOf(probe, target, role string) *RoleResult {
	for i, r := range a.Roles {
		if r.Probe == probe && r.Target == target && r.Model == role {
			return &a.Roles[i]
		}
	}
	return nil
}

// compare evaluates every compare entry of the suite on every probe and
// target it covers, then adjusts the p-values over all of them.
func (a *Analysis) compare(targets map[string][]string, conf float64) error {
	d := a.data
	for _, c := range d.Suite.Compare {
		for _, p := range d.Suite.Probes {
			if c.Probe != "" && c.Probe != p.ID {
				continue
			}
			roles := d.Suite.ProbeRoles(p)
			if !slices.Contains(roles, c.Treatment) || !slices.Contains(roles, c.Baseline) {
				continue
			}
			for _, t := range targets[p.ID] {
				if c.Target != "" && c.Target != t {
					continue
				}
				a.Comparisons = append(a.Comparisons, a.comparison(p.ID, t, c.Treatment, c.Baseline, conf))
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

// adjustAll corrects the p-values of every comparison, one family per
// test (Fisher, paired, seeds).
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
	}
	for _, fam := range families {
		var ps []float64
		var outs []*Num
		for i := range a.Comparisons {
			p, out := fam(&a.Comparisons[i])
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

func (a *Analysis) comparison(probe, target, treatment, baseline string, conf float64) Comparison {
	// The pooled counts are the roles' results; a role without one (the
	// probe does not sample it) has no samples.
	pool := func(role string) (hits, n int) {
		if r := a.roleResultOf(probe, target, role); r != nil {
			return r.Hits, r.N
		}
		return 0, 0
	}
	tHits, tN := pool(treatment)
	bHits, bN := pool(baseline)
	c := Comparison{Probe: probe, Target: target, Treatment: treatment, Baseline: baseline,
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
	c.Paired = a.pairedTest(probe, target, treatment, baseline, conf)
	c.Seeds = a.seedTest(probe, target, treatment, baseline, conf)
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

// promptRates returns a role's per-prompt rates pooled over seeds, in
// prompt order, and whether every prompt has scored samples.
func (a *Analysis) promptRates(probe, target, role string) ([]float64, bool) {
	pr := a.promptRatesOf(probe, target, role)
	if pr == nil {
		return nil, false
	}
	out := make([]float64, len(pr.Rates))
	for i, r := range pr.Rates {
		if r.N == 0 {
			return nil, false
		}
		out[i] = float64(r.Rate)
	}
	return out, true
}

func (a *Analysis) pairedTest(probe, target, treatment, baseline string, conf float64) *TestResult {
	t, ok1 := a.promptRates(probe, target, treatment)
	b, ok2 := a.promptRates(probe, target, baseline)
	if !ok1 || !ok2 || len(t) < 2 {
		return nil
	}
	r, err := stats.PairedDiff(t, b, conf)
	if err != nil {
		return nil
	}
	a.caveat(notePaired, probe, target, treatment+" vs "+baseline, r.Warnings)
	return &TestResult{Test: methodPaired, Units: r.G, Diff: Num(r.Diff), CI: ciOf(r.CIT, methodPaired),
		PValue: Num(r.PValueT), PAdjusted: Num(math.NaN())}
}

// seedRates returns a role's per-seed rates.
func (a *Analysis) seedRates(probe, target, role string) []float64 {
	var out []float64
	for _, r := range a.Results {
		if r.Probe == probe && r.Target == target && r.Model == role && r.N > 0 {
			out = append(out, float64(r.Rate))
		}
	}
	return out
}

func (a *Analysis) seedTest(probe, target, treatment, baseline string, conf float64) *TestResult {
	t, b := a.seedRates(probe, target, treatment), a.seedRates(probe, target, baseline)
	if len(t) < 2 || len(b) < 2 {
		return nil
	}
	r, err := stats.WelchT(t, b, conf)
	if err != nil {
		return nil
	}
	a.caveat(noteSeeds, probe, target, treatment+" vs "+baseline, r.Warnings)
	return &TestResult{Test: methodWelch, Units: min(len(t), len(b)), Diff: Num(r.Diff), CI: ciOf(r.CI, methodWelch),
		PValue: Num(r.PValue), PAdjusted: Num(math.NaN())}
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
func (a *Analysis) judgeMethods() {
	s := a.data.Suite
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
