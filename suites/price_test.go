package suites

import (
	"fmt"
	"math"
	"testing"
)

func TestBuiltinPrice(t *testing.T) {
	for _, tc := range []struct {
		model        string
		in, out      float64
		ok           bool
		wantDiscount float64
		why          string
	}{
		// OpenAI's list prices of August 2025, per 1M tokens (input, output).
		{"gpt-4.1-nano", 0.10, 0.40, true, 0.5, "the paper's student base: $0.10 / $0.40"},
		{"gpt-4.1-nano-2025-04-14", 0.10, 0.40, true, 0.5, "the snapshot the alias points at"},
		{"gpt-4o", 2.50, 10, true, 0.5, "the paper's judge"},
		{"gpt-4o-2024-05-13", 5, 15, true, 0.5, "an older gpt-4o snapshot kept its launch price"},
		{"gpt-4o-mini", 0.15, 0.60, true, 0.5, "gpt-4o mini"},
		{"gpt-5-nano", 0.05, 0.40, true, 0.5, "gpt-5 nano"},
		// Fine-tuned models cost more to use than their base: the paper's
		// students are ft:gpt-4.1-nano at $0.20 / $0.80.
		{"ft:gpt-4.1-nano-2025-04-14:acme::owl123", 0.20, 0.80, true, 0.5, "fine-tuned from the snapshot"},
		{"ft:gpt-4.1-nano:acme::owl123", 0.20, 0.80, true, 0.5, "fine-tuned, base named by its alias"},
		{"ft:gpt-4o-mini-2024-07-18:acme:x:1", 0.30, 1.20, true, 0.5, "fine-tuned gpt-4o mini"},
		// No guessing: unknown ids, other snapshots and look-alikes have no price.
		{"gpt-4.1-nano-2026-01-01", 0, 0, false, 0, "a snapshot not in the table"},
		{"lab/base", 0, 0, false, 0, "the built-in lab"},
		{"ft:lab/base:x", 0, 0, false, 0, "a fine-tune of an unknown base"},
		{"GPT-4o", 0, 0, false, 0, "model ids are case-sensitive"},
		{"", 0, 0, false, 0, "empty"},
	} {
		p, ok := BuiltinPrice(tc.model)
		if ok != tc.ok || p.Input != tc.in || p.Output != tc.out || p.Discount() != tc.wantDiscount {
			t.Errorf("BuiltinPrice(%q) = {%g, %g, discount %g}, %v; want {%g, %g, discount %g}, %v (%s)",
				tc.model, p.Input, p.Output, p.Discount(), ok, tc.in, tc.out, tc.wantDiscount, tc.ok, tc.why)
		}
	}
}

func TestPriceCost(t *testing.T) {
	half := 0.5
	p := Price{Input: 0.10, Output: 0.40, BatchDiscount: &half}
	for _, tc := range []struct {
		in, out float64
		batch   bool
		want    float64
	}{
		// 1M prompt tokens at $0.10 and 1M completion tokens at $0.40.
		{1e6, 1e6, false, 0.50},
		// 10,000 prompts of 20 tokens, 10,000 answers of 32 tokens:
		// 200,000 × 0.10e-6 + 320,000 × 0.40e-6 = 0.02 + 0.128.
		{200_000, 320_000, false, 0.148},
		// The Batch API halves both.
		{200_000, 320_000, true, 0.074},
		{0, 0, true, 0},
	} {
		if got := p.Cost(tc.in, tc.out, tc.batch); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Cost(%g, %g, %v) = %g; want %g", tc.in, tc.out, tc.batch, got, tc.want)
		}
	}
	if got := (Price{Input: 1, Output: 1}).Cost(1e6, 0, true); got != 1 {
		t.Errorf("Cost with no batch_discount given = %g; want 1 (no discount assumed)", got)
	}
}

func TestSuitePrices(t *testing.T) {
	s := mustParse(t, `name: s
models:
  base: {model: gpt-4.1-nano}
  student: {model: "ft:gpt-4.1-nano:acme::{seed}", seeds: [a, b]}
  local: {base_url: "http://127.0.0.1:8000/v1", model: lab/base, price: {input: 0, output: 0}}
  mine: {model: gpt-4.1-nano, price: {input: 1, output: 2, batch_discount: 0.25}}
probes:
  - {id: p, prompts: [hi], samples: 1, score: {mentions: owl}}
max_cost: 12.5
`)
	if s.MaxCost == nil || *s.MaxCost != 12.5 {
		t.Fatalf("MaxCost = %v; want 12.5", s.MaxCost)
	}
	for _, tc := range []struct {
		role, id string
		want     Quote
	}{
		{"base", "gpt-4.1-nano", Quote{Price: Price{Input: 0.10, Output: 0.40}, Source: BuiltinPricesSource}},
		{"student", "ft:gpt-4.1-nano:acme::a", Quote{Price: Price{Input: 0.20, Output: 0.80}, Source: BuiltinPricesSource}},
		{"local", "lab/base", Quote{Price: Price{}, Source: "suite"}},
		// The suite's price wins over the built-in one.
		{"mine", "gpt-4.1-nano", Quote{Price: Price{Input: 1, Output: 2}, Source: "suite"}},
	} {
		q, ok := s.ModelPrice(tc.role, tc.id)
		if !ok || q.Input != tc.want.Input || q.Output != tc.want.Output || q.Source != tc.want.Source {
			t.Errorf("ModelPrice(%q, %q) = %+v, %v; want %+v", tc.role, tc.id, q, ok, tc.want)
		}
	}
	if q, _ := s.ModelPrice("mine", "gpt-4.1-nano"); q.Discount() != 0.25 {
		t.Errorf("batch_discount = %g; want 0.25", q.Discount())
	}
	// Prices and max_cost do not change what is sampled: the hash is the
	// one of the suite without them.
	plain := mustParse(t, `name: s
models:
  base: {model: gpt-4.1-nano}
  student: {model: "ft:gpt-4.1-nano:acme::{seed}", seeds: [a, b]}
  local: {base_url: "http://127.0.0.1:8000/v1", model: lab/base}
  mine: {model: gpt-4.1-nano}
probes:
  - {id: p, prompts: [hi], samples: 1, score: {mentions: owl}}
`)
	if s.Hash() != plain.Hash() {
		t.Errorf("Hash() changed by price and max_cost")
	}
}

// priceErrorTests are invalid prices, max_cost and max_concurrency.
var priceErrorTests = []errorTest{
	{
		name: "negative input price",
		src: `name: s
models:
  a: {model: m, price: {input: -1, output: 2}}
`,
		pos: "3:32", field: "models.a.price.input", msg: "≥ 0; got -1",
	},
	{
		name: "negative output price in a judge",
		src: `name: s
models: {a: {model: m}}
judges:
  j: {model: gpt-4o, price: {input: 1, output: -0.5}}
probes:
  - {id: p, prompts: [hi], samples: 1, score: {mentions: owl}}
`,
		pos: "4:48", field: "judges.j.price.output", msg: "got -0.5",
	},
	{
		name: "price without output",
		// Half a price would count completions as free.
		src: `name: s
models:
  a: {model: m, price: {input: 1}}
`,
		pos: "3:24", field: "models.a.price", msg: "give both input and output",
	},
	{
		name: "batch discount of 1",
		src: `name: s
models:
  a: {model: m, price: {input: 1, output: 1, batch_discount: 1}}
`,
		pos: "3:62", field: "models.a.price.batch_discount", msg: "[0, 1)",
	},
	{
		name: "max_cost zero",
		src: `name: s
models: {a: {model: gpt-4o}}
probes:
  - {id: p, prompts: [hi], samples: 1, score: {mentions: owl}}
max_cost: 0
`,
		pos: "5:11", field: "max_cost", msg: "> 0; got 0",
	},
	{
		name: "max_cost negative from --set",
		src: `name: s
models: {a: {model: gpt-4o}}
probes:
  - {id: p, prompts: [hi], samples: 1, score: {mentions: owl}}
`,
		sets: []string{"max_cost=-3"},
		file: "--set max_cost=-3", pos: "0:0", field: "max_cost", msg: "got -3",
	},
	{
		name: "max_cost with a model without a price",
		// The lab's models are not in the built-in table: max_cost could
		// not be kept, so the suite is refused before anything is sent.
		src: `name: s
models:
  a: {model: gpt-4o}
  b: {base_url: "http://127.0.0.1:8089/v1", model: lab/base}
probes:
  - {id: p, prompts: [hi], samples: 1, score: {mentions: owl}}
max_cost: 5
`,
		pos: "4:52", field: "models.b.model", msg: `no price for model "lab/base"`,
	},
	{
		name: "max_cost with one seed of a list without a price",
		src: `name: s
models:
  a: {model: [gpt-4o, mystery], seeds: [x, y]}
probes:
  - {id: p, prompts: [hi], samples: 1, score: {mentions: owl}}
max_cost: 5
`,
		pos: "3:23", field: "models.a.model[1]", msg: `no price for model "mystery"`,
	},
	{
		name: "max_cost with a judge without a price",
		src: `name: s
models: {a: {model: gpt-4o}}
judges:
  j: {base_url: "http://127.0.0.1:9/v1", model: local-judge}
probes:
  - {id: p, prompts: [hi], samples: 1, score: {judge: {}}}
max_cost: 5
`,
		pos: "4:49", field: "judges.j.model", msg: `no price for judge model "local-judge"`,
	},
	{
		name: "max_concurrency below concurrency",
		src: `name: s
models:
  a: {model: m, concurrency: 16, max_concurrency: 8}
`,
		pos: "3:51", field: "models.a.max_concurrency", msg: "below concurrency (16)",
	},
	{
		name: "max_concurrency in defaults below a model's concurrency",
		src: `name: s
defaults: {max_concurrency: 8}
models:
  a: {model: m, concurrency: 16}
`,
		pos: "2:29", field: "defaults.max_concurrency", msg: "max_concurrency (8) is below concurrency (16)",
	},
	{
		name: "max_concurrency zero",
		src: `name: s
models:
  a: {model: m, max_concurrency: 0}
`,
		pos: "3:34", field: "models.a.max_concurrency", msg: "[1, 4096], got 0",
	},
}

func TestPriceErrors(t *testing.T) {
	for _, tt := range priceErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseString(tt.src, tt.sets...)
			checkSuiteError(t, fmt.Sprintf("Parse(%q)", tt.src), err, tt)
		})
	}
}

func TestInFlightCap(t *testing.T) {
	s := mustParse(t, `name: s
defaults: {concurrency: 4}
models:
  a: {model: m}
  b: {model: m, max_concurrency: 256}
probes:
  - {id: p, prompts: [hi], samples: 1, score: {mentions: owl}}
`)
	ins := s.Instances()
	// Unset, the cap is concurrency: no growth unless asked for.
	if got := ins[0].Settings.InFlightCap(); got != 4 {
		t.Errorf("a: InFlightCap() = %d; want 4", got)
	}
	if got := ins[1].Settings.InFlightCap(); got != 256 {
		t.Errorf("b: InFlightCap() = %d; want 256", got)
	}
}
