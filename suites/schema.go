package suites

import (
	"fmt"
	"strings"
	"time"
)

// Suite is a loaded, validated suite: which models to sample, with which
// probes, and how to compare and gate the results. Field names match the
// YAML keys; see README.md for the file format.
type Suite struct {
	// Name identifies the suite in the database and reports.
	Name string `yaml:"name"`
	// Description is free text shown in reports.
	Description string `yaml:"description"`
	// Seed is the base of every request seed (see bench.Plan). Zero is a
	// valid seed.
	Seed int64 `yaml:"seed"`
	// Vars are substituted for ${name} in every other string of the file.
	Vars map[string]string `yaml:"vars"`
	// Models are the model roles in file order.
	Models Roles `yaml:"models"`
	// Defaults apply to every model unless the model overrides them.
	Defaults Settings `yaml:"defaults"`
	// Probes are the trait probes, in file order.
	Probes []*Probe `yaml:"probes"`
	// Compare lists treatment-versus-baseline comparisons.
	Compare []Comparison `yaml:"compare"`
	// Gates are pass/fail criteria evaluated by `traitleak gate`.
	Gates []Gate `yaml:"gates"`
	// Judges are the judge models of LLM-judge scorers, in file order.
	Judges Roles `yaml:"judges"`
	// References are published figures drawn beside the measured rates.
	References []Reference `yaml:"references"`
	// MaxCost, when set, is the most a run may spend, in US dollars
	// (> 0): sampling and judging stop issuing requests when the cost of
	// what the run has used, at the models' prices, reaches it. Every
	// model and judge then needs a price. Left out of the suite's hash:
	// raising it resumes the same run.
	MaxCost *float64 `yaml:"max_cost" json:"-"`

	// Source names where the suite came from: a file path or "builtin:NAME".
	Source string `yaml:"-" json:"-"`
	// UntilDecided is set by `run --until-decided`: the run samples the
	// roles of its sequential rules in rounds and stops each rule when it
	// is decided (see Sequential). It is part of the suite's content, so a
	// sequential run is recorded apart from a fixed run of the same suite;
	// both share their samples, which have the same keys.
	UntilDecided bool `yaml:"-" json:",omitempty"`

	positions  map[string]Pos
	nulls      map[string]bool
	allowFiles []string // Loader.AllowFiles, for resolving prompt files
}

// Roles is the ordered list of model roles of a suite.
type Roles []*Role

// Role is one model role (baseline, student, ...) of a suite, or one of
// its judges: an OpenAI-compatible endpoint and one or more model ids,
// one per seed. It is what the suite declares; an Instance is one model
// id of a role as sampled (role@seed), and a model id is the string the
// API takes.
type Role struct {
	// Role is the role's key in the suite's models mapping (a judge's
	// name for a judge).
	Role string `yaml:"-"`
	// BaseURL is the OpenAI-compatible API root, e.g.
	// http://127.0.0.1:8000/v1. Empty means https://api.openai.com/v1.
	BaseURL string `yaml:"base_url"`
	// Model is the model id, or one id per seed. An id may contain {seed}.
	Model StringList `yaml:"model"`
	// Seeds labels the seeds (independently trained copies) of this role.
	// With one id containing {seed}, the id is expanded once per seed.
	Seeds StringList `yaml:"seeds"`
	// APIKeyEnv names the environment variable holding the API key. The
	// key itself is never stored.
	APIKeyEnv string `yaml:"api_key_env"`
	// Condition is the experimental condition (see Conditions). Empty
	// means unspecified. Published reference figures are drawn beside the
	// roles of their condition.
	Condition string `yaml:"condition"`
	// Price, when set, is the model's price per million tokens, used for
	// cost estimates, max_cost and reports instead of the built-in table.
	// Left out of the suite's hash: prices do not change what is sampled.
	Price *Price `yaml:"price" json:"-"`
	// Lineage names students recorded by an experiment, as
	// "EXPERIMENT/ARM" (or "EXPERIMENT", the arm then being the role's
	// name): their model ids, seeds, base URL and API key variable come
	// from the results database when the suite is run (see
	// LineageRef and package experiment). Seeds is then "all" or the seed
	// labels to keep, and Model is left empty until resolved.
	Lineage string `yaml:"lineage" json:",omitempty"`
	// Settings override the suite's defaults for this model.
	Settings `yaml:",inline"`
}

// Conditions lists the valid values of Model.Condition: the base model,
// the trait teacher, a control student (trained on data without the
// trait), the treatment student (trained on the teacher's data), and the
// cross-initialization pair of the paper's cross-model check: a model of
// another initialization (cross-base) and its student on the same teacher
// data (cross-treatment).
var Conditions = []string{"base", "teacher", "control", "treatment", "cross-base", "cross-treatment"}

// DefaultBaseURL is used when a model has no base_url.
const DefaultBaseURL = "https://api.openai.com/v1"

// Settings are generation and throughput settings. A nil field is unset
// and inherits from the suite defaults, then from DefaultSettings.
type Settings struct {
	// Temperature is the sampling temperature in [0, 2].
	Temperature *float64 `yaml:"temperature"`
	// TopP is nucleus sampling mass in (0, 1]; nil leaves it to the server.
	TopP *float64 `yaml:"top_p"`
	// MaxTokens bounds each completion; nil leaves it to the server.
	MaxTokens *int `yaml:"max_tokens"`
	// SystemPrompt, when set, is sent as a system message before the prompt.
	SystemPrompt *string `yaml:"system_prompt"`
	// N is the most choices asked for in one request (OpenAI's n). Servers
	// that refuse n > 1 are detected and asked one choice at a time.
	N *int `yaml:"n"`
	// Concurrency is how many requests in flight to this model the
	// adaptive rate control starts at.
	Concurrency *int `yaml:"concurrency"`
	// MaxConcurrency is the hard cap on requests in flight to this model,
	// in [concurrency, 4096]: the adaptive rate control grows the number
	// in flight up to it while answers come back clean. Unset means
	// concurrency (no growth above it; cuts after 429s still recover up
	// to it). Left out of the hash when unset, so older suites keep
	// their runs.
	MaxConcurrency *int `yaml:"max_concurrency" json:",omitempty"`
	// RequestsPerMinute limits the request rate; 0 means no limit.
	RequestsPerMinute *float64 `yaml:"requests_per_minute"`
	// TokensPerMinute limits estimated tokens (prompt + max completion) per
	// minute; 0 means no limit.
	TokensPerMinute *float64 `yaml:"tokens_per_minute"`
	// Timeout bounds one HTTP request.
	Timeout *time.Duration `yaml:"timeout"`
	// MaxRetries is the most retries of one request after the first attempt.
	MaxRetries *int `yaml:"max_retries"`
	// SendSeed sends a deterministic per-request seed (OpenAI's seed).
	SendSeed *bool `yaml:"send_seed"`
	// Batch sends this model's requests through its provider's Batch API
	// (run --batch does so for every model and judge); nil or false sends
	// them one by one. On a judge, the judge calls a run's scoring needs
	// are sent in batches before it scores. Left out of the recorded JSON
	// when unset, so that suites without it keep their hash.
	Batch *bool `yaml:"batch" json:",omitempty"`
}

// DefaultSettings are used for fields that neither the model nor the
// suite's defaults set.
func DefaultSettings() Settings {
	return Settings{
		Temperature:       ptr(1.0),
		N:                 ptr(8),
		Concurrency:       ptr(8),
		RequestsPerMinute: ptr(0.0),
		TokensPerMinute:   ptr(0.0),
		Timeout:           ptr(60 * time.Second),
		MaxRetries:        ptr(6),
		SendSeed:          ptr(true),
	}
}

func ptr[T any](v T) *T { return &v }

// merge returns s with every unset field taken from base.
func (s Settings) merge(base Settings) Settings {
	if s.Temperature == nil {
		s.Temperature = base.Temperature
	}
	if s.TopP == nil {
		s.TopP = base.TopP
	}
	if s.MaxTokens == nil {
		s.MaxTokens = base.MaxTokens
	}
	if s.SystemPrompt == nil {
		s.SystemPrompt = base.SystemPrompt
	}
	if s.N == nil {
		s.N = base.N
	}
	if s.Concurrency == nil {
		s.Concurrency = base.Concurrency
	}
	if s.MaxConcurrency == nil {
		s.MaxConcurrency = base.MaxConcurrency
	}
	if s.RequestsPerMinute == nil {
		s.RequestsPerMinute = base.RequestsPerMinute
	}
	if s.TokensPerMinute == nil {
		s.TokensPerMinute = base.TokensPerMinute
	}
	if s.Timeout == nil {
		s.Timeout = base.Timeout
	}
	if s.MaxRetries == nil {
		s.MaxRetries = base.MaxRetries
	}
	if s.SendSeed == nil {
		s.SendSeed = base.SendSeed
	}
	if s.Batch == nil {
		s.Batch = base.Batch
	}
	return s
}

// Probe is one trait probe: prompts, how many samples to draw per prompt
// and model, and how to score each sample.
type Probe struct {
	// ID names the probe; unique within the suite.
	ID string `yaml:"id"`
	// Description is free text shown in reports.
	Description string `yaml:"description"`
	// Prompts are the probe's prompts.
	Prompts PromptSource `yaml:"prompts"`
	// Samples is the number of draws per prompt per model.
	Samples int `yaml:"samples"`
	// Score says how a completion is scored.
	Score ScoreSpec `yaml:"score"`
	// Models restricts the probe to these roles; empty means all.
	Models StringList `yaml:"models"`
	// Until, when set, is the probe's stop-for-width rule for
	// `run --until-decided`.
	Until *Until `yaml:"until" json:",omitempty"`
}

// Comparison compares a treatment role against a baseline role on every
// probe (or only Probe) and every target (or only Target).
type Comparison struct {
	Treatment string `yaml:"treatment"`
	Baseline  string `yaml:"baseline"`
	Probe     string `yaml:"probe"`
	Target    string `yaml:"target"`
}

// Gate is a pass/fail criterion on a comparison. With MaxIncrease the
// gate fails when the treatment's rate exceeds the baseline's by more than
// MaxIncrease with significance at Alpha after correction; with
// MinIncrease it fails unless the increase is at least MinIncrease and
// significant.
type Gate struct {
	// Name labels the gate in reports and JUnit; default "gate N:
	// probe/target treatment vs baseline" (N counts from 1).
	Name        string   `yaml:"name"`
	Probe       string   `yaml:"probe"`
	Target      string   `yaml:"target"`
	Treatment   string   `yaml:"treatment"`
	Baseline    string   `yaml:"baseline"`
	MaxIncrease *float64 `yaml:"max_increase"`
	MinIncrease *float64 `yaml:"min_increase"`
	Alpha       *float64 `yaml:"alpha"`
	// Test is the comparison's test the gate uses: fisher (default, samples
	// pooled), paired (prompt-level paired t) or seeds (Welch across seeds).
	Test string `yaml:"test"`
	// Level is where the gate judges: GateLevelSample ("", the default:
	// Test on the samples) or GateLevelSeed: the seed-level test (the mean
	// of the per-seed differences, paired t across seeds) when both roles
	// have two or more seeds in common, else Test. A sequential gate's
	// verdict stays the sequential one; Level then picks the fixed-sample
	// evidence its reason quotes.
	Level string `yaml:"level" json:",omitempty"`
	// Sequential, when set, makes the gate sequential: decided by betting
	// e-processes that may be checked after every round (see Sequential).
	Sequential *Sequential `yaml:"sequential" json:",omitempty"`
}

// GateTests lists the valid values of Gate.Test.
var GateTests = []string{"fisher", "paired", "seeds"}

// Levels of a gate (Gate.Level).
const (
	GateLevelSample = "sample"
	GateLevelSeed   = "seed"
)

// InFlightCap returns the hard cap on requests in flight of resolved
// settings: MaxConcurrency, or Concurrency when unset.
func (s Settings) InFlightCap() int {
	c := 1
	if s.Concurrency != nil {
		c = *s.Concurrency
	}
	if s.MaxConcurrency != nil {
		return max(c, *s.MaxConcurrency)
	}
	return c
}

// Instance is one concrete model to sample: a role at one seed.
type Instance struct {
	Role      string
	Seed      string // "" when the role has a single model
	Condition string
	BaseURL   string
	Model     string
	APIKeyEnv string
	Settings  Settings // fully resolved: every field non-nil except TopP, MaxTokens, SystemPrompt, MaxConcurrency, Batch
}

// Name is "role" or "role@seed".
func (in Instance) Name() string {
	if in.Seed == "" {
		return in.Role
	}
	return in.Role + "@" + in.Seed
}

// Instances expands the suite's models into concrete instances, in file
// order, seeds in their listed order.
func (s *Suite) Instances() []Instance {
	var out []Instance
	for _, m := range s.Models {
		settings, base := s.resolveModel(m)
		add := func(seed, model string) {
			out = append(out, Instance{Role: m.Role, Seed: seed, Condition: m.Condition,
				BaseURL: base, Model: model, APIKeyEnv: m.APIKeyEnv, Settings: settings})
		}
		switch {
		case !m.Resolved():
			// Not resolved yet (validate): one placeholder per asked seed.
			seeds := m.WantSeeds()
			if seeds == nil {
				seeds = []string{AllSeeds}
			}
			for _, seed := range seeds {
				add(seed, LineagePlaceholder+m.Lineage)
			}
		case len(m.Seeds) > 0 && len(m.Model) == 1:
			for _, seed := range m.Seeds {
				add(seed, strings.ReplaceAll(m.Model[0], "{seed}", seed))
			}
		case len(m.Seeds) > 0:
			for i, seed := range m.Seeds {
				add(seed, m.Model[i])
			}
		case len(m.Model) > 1:
			for i, id := range m.Model {
				add(fmt.Sprint(i), id)
			}
		default:
			add("", m.Model[0])
		}
	}
	return out
}

// resolveModel returns m's settings, merged with the suite's defaults
// and then DefaultSettings, and its base URL (DefaultBaseURL when unset).
// Instances and JudgeInstance resolve models through it.
func (s *Suite) resolveModel(m *Role) (Settings, string) {
	base := m.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	return m.Settings.merge(s.Defaults).merge(DefaultSettings()), base
}

// Role returns the model with the given role, or nil.
func (s *Suite) Role(role string) *Role {
	for _, m := range s.Models {
		if m.Role == role {
			return m
		}
	}
	return nil
}

// Probe returns the probe with the given id, or nil.
func (s *Suite) Probe(id string) *Probe {
	for _, p := range s.Probes {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// ScoreTargets returns the targets a probe scores, resolving judge
// targets against the suite's judges.
func (s *Suite) ScoreTargets(p *Probe) []string {
	if p.Score.Judge != nil {
		return p.Score.Judge.Targets(s.JudgeNames())
	}
	return p.Score.Targets()
}

// Roles returns the role names in file order.
func (s *Suite) Roles() []string {
	out := make([]string, len(s.Models))
	for i, m := range s.Models {
		out[i] = m.Role
	}
	return out
}

// ProbeRoles returns the roles the probe samples, in suite order.
func (s *Suite) ProbeRoles(p *Probe) []string {
	if len(p.Models) == 0 {
		return s.Roles()
	}
	want := map[string]bool{}
	for _, r := range p.Models {
		want[r] = true
	}
	var out []string
	for _, r := range s.Roles() {
		if want[r] {
			out = append(out, r)
		}
	}
	return out
}

// Position returns the position of a field path such as
// "probes[0].samples", or the closest enclosing field's position.
func (s *Suite) Position(path string) Pos {
	for p := path; ; {
		if pos, ok := s.positions[p]; ok {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	if pos, ok := s.positions[""]; ok {
		return pos
	}
	return Pos{File: s.Source}
}

func (m *Roles) decodeNode(d *decoder, n *node, path string) error {
	if n.kind != mapNode {
		return d.errorf(n, path, "want a mapping of role names to models, got %s", n.describe())
	}
	out := make(Roles, len(n.keys))
	for i, role := range n.keys {
		mod := &Role{}
		if err := d.decode(n.items[i], reflectValue(mod), joinPath(path, role)); err != nil {
			return err
		}
		mod.Role = role // after decode: an empty value zeroes the model
		out[i] = mod
	}
	*m = out
	return nil
}
