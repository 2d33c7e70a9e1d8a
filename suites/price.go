package suites

import (
	"fmt"
	"math"
	"strings"
)

// Price is what a model costs, in US dollars per million tokens. In a
// suite it is a model's or judge's price: {input: 0.1, output: 0.4}.
type Price struct {
	// Input is the price of one million prompt tokens, ≥ 0.
	Input float64 `yaml:"input"`
	// Output is the price of one million completion tokens, ≥ 0.
	Output float64 `yaml:"output"`
	// BatchDiscount is the fraction taken off both prices for requests
	// sent through a provider's batch API, in [0, 1); nil means none
	// (0), except in the built-in table, where it is OpenAI's 0.5.
	BatchDiscount *float64 `yaml:"batch_discount"`
}

// Discount returns the batch discount, 0 when unset.
func (p Price) Discount() float64 {
	if p.BatchDiscount == nil {
		return 0
	}
	return *p.BatchDiscount
}

// Cost returns the price of the given token counts in US dollars; with
// batch, the batch discount applies.
func (p Price) Cost(promptTokens, completionTokens float64, batch bool) float64 {
	c := (promptTokens*p.Input + completionTokens*p.Output) / 1e6
	if batch {
		c *= 1 - p.Discount()
	}
	return c
}

// Quote is the price that applies to one model id, and where it comes
// from: the suite, or the built-in table (BuiltinPricesSource).
type Quote struct {
	Price
	// Source is "suite" or BuiltinPricesSource.
	Source string
}

// BuiltinPricesDate is when the built-in prices were published.
const BuiltinPricesDate = "2025-08"

// BuiltinPricesSource describes where the built-in prices come from. They
// were transcribed, without network access, from OpenAI's API pricing
// page (https://openai.com/api/pricing) as published in August 2025:
// standard tier, no cached-input discount, the Batch API's 50% off.
// Prices change: check them, and give a model's price in the suite
// (price: {input: …, output: …}) to override.
const BuiltinPricesSource = "built-in table (OpenAI list prices, " + BuiltinPricesDate + ")"

// builtinPrices are OpenAI list prices per million tokens (input, output)
// by model alias and dated snapshot. A snapshot priced differently from
// its alias (gpt-4o-2024-05-13) is listed on its own; other snapshots are
// not guessed.
var builtinPrices = map[string][2]float64{
	"gpt-5": {1.25, 10}, "gpt-5-2025-08-07": {1.25, 10},
	"gpt-5-mini": {0.25, 2}, "gpt-5-mini-2025-08-07": {0.25, 2},
	"gpt-5-nano": {0.05, 0.40}, "gpt-5-nano-2025-08-07": {0.05, 0.40},
	"gpt-4.1": {2, 8}, "gpt-4.1-2025-04-14": {2, 8},
	"gpt-4.1-mini": {0.40, 1.60}, "gpt-4.1-mini-2025-04-14": {0.40, 1.60},
	"gpt-4.1-nano": {0.10, 0.40}, "gpt-4.1-nano-2025-04-14": {0.10, 0.40},
	"gpt-4o": {2.50, 10}, "gpt-4o-2024-08-06": {2.50, 10}, "gpt-4o-2024-11-20": {2.50, 10},
	"gpt-4o-2024-05-13": {5, 15},
	"gpt-4o-mini":       {0.15, 0.60}, "gpt-4o-mini-2024-07-18": {0.15, 0.60},
	"o3": {2, 8}, "o3-2025-04-16": {2, 8},
	"o4-mini": {1.10, 4.40}, "o4-mini-2025-04-16": {1.10, 4.40},
	"o3-mini": {1.10, 4.40}, "o3-mini-2025-01-31": {1.10, 4.40},
	"o1": {15, 60}, "o1-2024-12-17": {15, 60},
	"gpt-4-turbo": {10, 30}, "gpt-4-turbo-2024-04-09": {10, 30},
	"gpt-4":         {30, 60},
	"gpt-3.5-turbo": {0.50, 1.50}, "gpt-3.5-turbo-0125": {0.50, 1.50},
}

// builtinFineTuned are OpenAI's prices for using fine-tuned models
// ("ft:BASE:org:suffix:id"), by BASE: inference on a fine-tuned model
// costs more than on its base.
var builtinFineTuned = map[string][2]float64{
	"gpt-4.1-2025-04-14":      {3, 12},
	"gpt-4.1-mini-2025-04-14": {0.80, 3.20},
	"gpt-4.1-nano-2025-04-14": {0.20, 0.80},
	"gpt-4o-2024-08-06":       {3.75, 15},
	"gpt-4o-mini-2024-07-18":  {0.30, 1.20},
	"gpt-3.5-turbo-0125":      {3, 6},
}

// fineTuneAliases map a base model's alias to the snapshot fine-tunes of
// it are priced by.
var fineTuneAliases = map[string]string{
	"gpt-4.1": "gpt-4.1-2025-04-14", "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14", "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
	"gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}

// BuiltinPrice returns the built-in price of an OpenAI model id: an alias
// (gpt-4.1-nano), a dated snapshot (gpt-4.1-nano-2025-04-14) or a
// fine-tuned model (ft:gpt-4.1-nano-2025-04-14:org::abc123). Unknown ids
// have no price: traitleak does not guess.
func BuiltinPrice(model string) (Price, bool) {
	half := 0.5
	if base, ok := strings.CutPrefix(model, "ft:"); ok {
		base, _, _ = strings.Cut(base, ":")
		if p, ok := builtinFineTuned[base]; ok {
			return Price{Input: p[0], Output: p[1], BatchDiscount: &half}, true
		}
		// A fine-tune named by the alias of its base (ft:gpt-4.1-nano:…).
		if p, ok := builtinFineTuned[fineTuneAliases[base]]; ok {
			return Price{Input: p[0], Output: p[1], BatchDiscount: &half}, true
		}
		return Price{}, false
	}
	if p, ok := builtinPrices[model]; ok {
		return Price{Input: p[0], Output: p[1], BatchDiscount: &half}, true
	}
	return Price{}, false
}

// ModelPrice returns the price of one model id of role: the role's price
// from the suite, else the built-in one. ok is false when neither has
// one.
func (s *Suite) ModelPrice(role, modelID string) (q Quote, ok bool) {
	return quote(s.Role(role), modelID)
}

// JudgePrice returns the price of the named judge, as ModelPrice does.
func (s *Suite) JudgePrice(name string) (q Quote, ok bool) {
	m := s.judge(name)
	if m == nil || len(m.Model) == 0 {
		return Quote{}, false
	}
	return quote(m, m.Model[0])
}

func quote(m *Role, modelID string) (Quote, bool) {
	if m != nil && m.Price != nil {
		return Quote{Price: *m.Price, Source: "suite"}, true
	}
	if p, ok := BuiltinPrice(modelID); ok {
		return Quote{Price: p, Source: BuiltinPricesSource}, true
	}
	return Quote{}, false
}

// UsedJudges returns the names of the judges some probe's scorer calls,
// in JudgeNames order.
func (s *Suite) UsedJudges() []string {
	used := map[string]bool{}
	for _, p := range s.Probes {
		if p == nil || p.Score.Judge == nil {
			continue
		}
		spec, err := p.Score.Judge.Resolved(s.JudgeNames())
		if err != nil {
			continue
		}
		for _, j := range spec.Judges {
			used[j] = true
		}
	}
	var out []string
	for _, name := range s.JudgeNames() {
		if used[name] {
			out = append(out, name)
		}
	}
	return out
}

// CheckPrices checks that every model instance and every judge a probe
// calls has a price (in the suite or built in), as max_cost needs; the
// error names the model id's position.
func (s *Suite) CheckPrices() error {
	for _, m := range s.Models {
		for i, id := range s.roleModelIDs(m) {
			if _, ok := quote(m, id); !ok {
				path := "models." + m.Role + ".model"
				if len(m.Model) > 1 {
					path = fmt.Sprintf("%s[%d]", path, i)
				}
				return &SuiteError{Pos: s.Position(path), Field: path,
					Msg: fmt.Sprintf("no price for model %q: max_cost needs one for every model; give the role a price: {input: USD per 1M prompt tokens, output: USD per 1M completion tokens}", id)}
			}
		}
	}
	for _, name := range s.UsedJudges() {
		if _, ok := s.JudgePrice(name); !ok {
			path := "judges." + name + ".model"
			m := s.judge(name)
			return &SuiteError{Pos: s.Position(path), Field: path,
				Msg: fmt.Sprintf("no price for judge model %q: max_cost needs one for every judge; give the judge a price: {input: …, output: …}", m.Model[0])}
		}
	}
	return nil
}

// roleModelIDs returns the model ids a role samples, one per instance,
// in instance order.
func (s *Suite) roleModelIDs(m *Role) []string {
	var out []string
	for _, in := range s.Instances() {
		if in.Role == m.Role {
			out = append(out, in.Model)
		}
	}
	return out
}

// validatePrice checks a price given at path.
func (s *Suite) validatePrice(path string, p *Price, fail func(string, string, ...any) error) error {
	if p == nil {
		return nil
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"input", p.Input}, {"output", p.Output}} {
		fp := path + ".price." + f.name
		if _, ok := s.positions[fp]; !ok || s.nulls[fp] {
			return fail(path+".price", "give both input and output (US dollars per million tokens)")
		}
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fail(fp, "a price is US dollars per million tokens, ≥ 0; got %s", formatFloat(f.v))
		}
	}
	if d := p.BatchDiscount; d != nil && (*d < 0 || *d >= 1) {
		return fail(path+".price.batch_discount", "batch_discount is the fraction taken off, in [0, 1); got %s", formatFloat(*d))
	}
	return nil
}

// validateRate checks a model's or judge's price, and that its resolved
// max_concurrency is not below its concurrency.
func (s *Suite) validateRate(path string, m *Role, fail func(string, string, ...any) error) error {
	if err := s.validatePrice(path, m.Price, fail); err != nil {
		return err
	}
	st, _ := s.resolveModel(m)
	if st.MaxConcurrency != nil && *st.MaxConcurrency < *st.Concurrency {
		at := path + ".max_concurrency"
		if m.MaxConcurrency == nil {
			at = "defaults.max_concurrency"
		}
		return fail(at, "max_concurrency (%d) is below concurrency (%d): it is the hard cap the adaptive rate control grows to from concurrency",
			*st.MaxConcurrency, *st.Concurrency)
	}
	return nil
}

// validateCost checks max_cost, and that with it every model and judge
// has a price.
func (s *Suite) validateCost(fail func(string, string, ...any) error) error {
	if s.MaxCost == nil {
		if s.nulls["max_cost"] {
			return fail("max_cost", "max_cost is empty: give US dollars (> 0), or leave the key out")
		}
		return nil
	}
	if v := *s.MaxCost; !(v > 0) || math.IsInf(v, 0) {
		return fail("max_cost", "max_cost is the most a run may spend in US dollars, > 0; got %s", formatFloat(v))
	}
	return s.CheckPrices()
}
