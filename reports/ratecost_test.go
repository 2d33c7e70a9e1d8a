package reports

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/traitleak/traitleak/results"
)

// costFixture is the report fixture with recorded prices for two of its
// four model instances and its judge, and a recorded rate-control series.
func costFixture(t *testing.T) *RunData {
	d := fixture(t)
	d.JudgeUsage = []results.JudgeUsage{{Judge: "ja", Calls: 16, PromptTokens: 1000, CompletionTokens: 16}}
	d.Prices = []results.RunPrice{
		{Kind: results.PriceModel, Name: "baseline", Model: "gpt-4.1-nano", Input: 0.1, Output: 0.4, BatchDiscount: 0.5, Source: "built-in table (OpenAI list prices, 2025-08)"},
		{Kind: results.PriceModel, Name: "student@s0", Model: "ft:owl-s0", Input: 0.2, Output: 0.8, Source: "suite"},
		{Kind: results.PriceJudge, Name: "ja", Model: "gpt-4o", Input: 2.5, Output: 10, BatchDiscount: 0.5, Source: "suite"},
	}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ep := "https://api.openai.com/v1"
	d.RateChanges = []results.RateChange{
		{At: t0, Endpoint: ep, KeyEnv: "OPENAI_API_KEY", Cap: 4, Reason: "start"},
		{At: t0.Add(time.Second), Endpoint: ep, KeyEnv: "OPENAI_API_KEY", Cap: 5, Reason: "grow"},
		{At: t0.Add(3 * time.Second), Endpoint: ep, KeyEnv: "OPENAI_API_KEY", Cap: 2, Reason: "rate_limited"},
		{At: t0.Add(5 * time.Second), Endpoint: ep, KeyEnv: "OPENAI_API_KEY", Cap: 3, Reason: "grow"},
		{At: t0.Add(10 * time.Second), Endpoint: ep, KeyEnv: "OPENAI_API_KEY", Cap: 3, Reason: "end"},
	}
	return d
}

func TestCostAndRateControl(t *testing.T) {
	t.Parallel()
	a, err := Analyze(costFixture(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := a.Cost
	if c == nil {
		t.Fatal("Cost = nil; want the recorded prices applied")
	}
	// baseline: 79 stored samples (one failed, no tokens) of 10 prompt + 2
	// completion tokens: 790 × $0.1/1M + 158 × $0.4/1M = $0.0001422.
	// student@s0: 80 × (10 + 2) at $0.2 / $0.8: $0.00016 + $0.000128.
	// Judge ja: 1000 × $2.5/1M + 16 × $10/1M = $0.00266.
	want := map[string]float64{"baseline": 0.0001422, "student@s0": 0.000288, "ja": 0.00266}
	for _, r := range append(append([]CostRow{}, c.Models...), c.Judges...) {
		if w, ok := want[r.Name]; !ok || math.Abs(float64(r.Cost)-w) > 1e-12 {
			t.Errorf("cost of %s = %v; want %v", r.Name, r.Cost, w)
		}
	}
	if len(c.Models) != 2 || len(c.Judges) != 1 {
		t.Errorf("%d model rows, %d judge rows; want 2 and 1", len(c.Models), len(c.Judges))
	}
	if math.Abs(float64(c.Total)-(0.0001422+0.000288+0.00266)) > 1e-12 || strings.Join(c.Unpriced, ",") != "control,student@s1" {
		t.Errorf("total %v, unpriced %q; want %v and control, student@s1", c.Total, c.Unpriced, 0.0001422+0.000288+0.00266)
	}
	if len(a.RateControl) != 1 || len(a.RateControl[0].Points) != 5 {
		t.Fatalf("RateControl = %+v; want one series of 5 points", a.RateControl)
	}

	// JSON: additive fields.
	var js struct {
		Cost        *CostSummary `json:"cost"`
		RateControl []RateSeries `json:"rate_control"`
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &js); err != nil || js.Cost == nil || js.Cost.Judges[0].Cost != Num(0.00266) || js.RateControl[0].KeyEnv != "OPENAI_API_KEY" {
		t.Errorf("JSON cost and rate_control: %+v, %v", js, err)
	}

	var md bytes.Buffer
	if err := Markdown(&md, a); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Cost",
		"| model | baseline   | gpt-4.1-nano | 790",
		"| judge | ja         | gpt-4o",
		"$0.003090",
		"Without a price, not counted: control, student@s1.",
		"## Rate control",
		"| https://api.openai.com/v1 (OPENAI\\_API\\_KEY) | 4     | 2      | 5       | 3    | 2            | 1           |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}

	var page bytes.Buffer
	if err := HTML(&page, a); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, want := range []string{`<h3 id="cost">Cost</h3>`, `<h3 id="rate-control">Rate control</h3>`, `aria-label="in-flight cap: https://api.openai.com/v1 (OPENAI_API_KEY)"`,
		"started at 4, between 2 and 5, ended at 3; 2 growth steps, 1 cuts on 429."} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(html, "<script") {
		t.Error("HTML has a script")
	}
}

// TestNoCostWithoutPrices checks that a run that recorded no prices and
// no rate changes (every run made before them) reports as before.
func TestNoCostWithoutPrices(t *testing.T) {
	t.Parallel()
	a, err := Analyze(fixture(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Cost != nil || a.RateControl != nil {
		t.Errorf("Cost %+v, RateControl %+v; want none", a.Cost, a.RateControl)
	}
}

// TestCostBatchedAtDiscount: tokens that came through a Batch API cost
// the price less the recorded batch discount, the others the full price,
// and the JSON, Markdown and HTML reports say which tokens were batched
// and where the discount applied.
func TestCostBatchedAtDiscount(t *testing.T) {
	t.Parallel()
	d := costFixture(t)
	for _, m := range d.Instances {
		if m.Role == "baseline" {
			d.Usage[m.Index].BatchedPromptTokens, d.Usage[m.Index].BatchedCompletionTokens = 390, 58
		}
	}
	d.JudgeUsage[0].BatchedPromptTokens, d.JudgeUsage[0].BatchedCompletionTokens = 600, 10
	a, err := Analyze(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// baseline (790 + 158 tokens, 390 + 58 batched, at $0.1 / $0.4 with
	// 50% off batched): online 400 × 0.1 + 100 × 0.4 = 80, batched
	// (390 × 0.1 + 58 × 0.4) × 0.5 = 31.1, per 1M: $0.0001111.
	// student@s0 batched nothing: $0.000288 as in TestCostAndRateControl.
	// ja (1000 + 16 tokens, 600 + 10 batched, at $2.5 / $10, 50% off):
	// 400 × 2.5 + 6 × 10 = 1060, (600 × 2.5 + 10 × 10) × 0.5 = 800, per
	// 1M: $0.00186.
	want := map[string]float64{"baseline": 0.0001111, "student@s0": 0.000288, "ja": 0.00186}
	c := a.Cost
	for _, r := range append(append([]CostRow{}, c.Models...), c.Judges...) {
		if w, ok := want[r.Name]; !ok || math.Abs(float64(r.Cost)-w) > 1e-12 {
			t.Errorf("cost of %s = %v; want %v", r.Name, r.Cost, w)
		}
	}
	if math.Abs(float64(c.Total)-(0.0001111+0.000288+0.00186)) > 1e-12 {
		t.Errorf("total %v; want %v", c.Total, 0.0001111+0.000288+0.00186)
	}
	b, err := json.Marshal(a.Cost)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"prompt_tokens":790,"completion_tokens":158`, `"batched_prompt_tokens":390,"batched_completion_tokens":58,"batch_discount":0.5`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON cost lacks %s:\n%s", want, b)
		}
	}
	var md, page bytes.Buffer
	if err := Markdown(&md, a); err != nil {
		t.Fatal(err)
	}
	if err := HTML(&page, a); err != nil {
		t.Fatal(err)
	}
	note := "cost the price less its batch discount: baseline 50% off, ja 50% off."
	for _, want := range []string{"| of which batched |", "| 390 / 58 ", "| –  ", note} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	for _, want := range []string{`<th class="num">of which batched</th>`, `<td class="num">390 / 58</td>`, `<td class="num">600 / 10</td>`, note} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}
