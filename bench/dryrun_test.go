package bench_test

import (
	"context"
	"testing"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/suites"
)

func TestEstimateRun(t *testing.T) {
	t.Parallel()
	s, err := suites.Parse("e.yaml", []byte(`name: e
models:
  m: {base_url: "http://127.0.0.1:9/v1", model: gpt-4o-mini, max_tokens: 4, n: 2}
judges:
  j: {base_url: "http://127.0.0.1:9/v1", model: jm, price: {input: 1000, output: 2000}}
probes:
  - id: p
    prompts: [abcd]
    samples: 3
    score: {judge: {alignment: "P={prompt} C={completion}", coherence: "P={prompt} C={completion}"}}
`), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bench.EstimateRun(context.Background(), nil, s, false)
	if err != nil {
		t.Fatal(err)
	}
	// The model: 3 draws in jobs of n = 2, so 2 requests; each prompt is
	// 4 bytes → 4/4 + 1 = 2 tokens; completions are max_tokens 4 per
	// choice: 4 × 3 = 12. gpt-4o-mini's built-in price is $0.15 / $0.60:
	// (4 × 0.15 + 12 × 0.60) / 1e6 = 7.8e-6, half with the Batch API.
	m := e.Models[0]
	if m.Draws != 3 || m.Requests != 2 || m.PromptTokens != 4 || m.CompletionTokens != 12 || m.Price == nil ||
		!near(m.Cost, 7.8e-6) || !near(m.BatchCost, 3.9e-6) {
		t.Errorf("model row %+v; want 3 draws, 2 requests, 4 + 12 tokens, $7.8e-6 ($3.9e-6 batch)", m)
	}
	// The judge: 2 calls per draw, 6 in all. Each is the 25-byte template
	// with "{prompt}" (8 bytes) replaced by the 4-byte prompt and
	// "{completion}" (12 bytes) by an answer of max_tokens 4 × 4 = 16
	// bytes: 25 − 8 + 4 − 12 + 16 = 25 bytes → 25/4 + 1 = 7 tokens; it
	// answers at most 16 tokens (sample mode). 6 × 7 = 42 and 6 × 16 = 96
	// tokens at $1000 / $2000: 0.042 + 0.192 = $0.234, no batch discount.
	j := e.Judges[0]
	if j.Name != "j" || j.Draws != 3 || j.Requests != 6 || j.PromptTokens != 42 || j.CompletionTokens != 96 || !near(j.Cost, 0.234) || !near(j.BatchCost, 0.234) {
		t.Errorf("judge row %+v; want 3 draws, 6 requests, 42 + 96 tokens, $0.234", j)
	}
	if cost, _, all := e.Total(); !all || !near(cost, 0.234+7.8e-6) {
		t.Errorf("Total() = %g, %v; want %g, true", cost, all, 0.234+7.8e-6)
	}
}

func near(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 }

// TestEstimateBatchedAtBatchPrice: a model with batch: true is estimated
// at the batch price, and BatchAll (run --batch) puts every model and
// judge there.
func TestEstimateBatchedAtBatchPrice(t *testing.T) {
	t.Parallel()
	s, err := suites.Parse("e.yaml", []byte(`name: e
models:
  a: {base_url: "http://127.0.0.1:9/v1", model: gpt-4o-mini, max_tokens: 4, n: 2, batch: true}
  b: {base_url: "http://127.0.0.1:9/v1", model: gpt-4o-mini, max_tokens: 4, n: 2}
probes:
  - id: p
    prompts: [abcd]
    samples: 3
    score: {mentions: [owl]}
`), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := bench.EstimateRun(context.Background(), nil, s, false)
	if err != nil {
		t.Fatal(err)
	}
	// Each model: 4 prompt + 12 completion tokens at gpt-4o-mini's
	// $0.15 / $0.60 = $7.8e-6 online, $3.9e-6 with the built-in table's
	// 50% batch discount (see TestEstimateRun). a batches, b does not.
	if !e.Models[0].Batched || e.Models[1].Batched || !e.AnyBatched() {
		t.Fatalf("batched rows %v, %v; want a only", e.Models[0].Batched, e.Models[1].Batched)
	}
	if cost, batch, all := e.Total(); !all || !near(cost, 3.9e-6+7.8e-6) || !near(batch, 2*3.9e-6) {
		t.Errorf("Total() = %g, %g, %v; want %g (a at the batch price), %g, true", cost, batch, all, 3.9e-6+7.8e-6, 2*3.9e-6)
	}
	e.BatchAll()
	if cost, _, _ := e.Total(); !near(cost, 2*3.9e-6) {
		t.Errorf("Total() after BatchAll = %g; want %g", cost, 2*3.9e-6)
	}
}
