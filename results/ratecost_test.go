package results

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestRateChangesAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	r := startRun(t, s, fixture("rate", "", 1, []string{"p"}, 1, 1))
	other := startRun(t, s, fixture("other", "", 1, []string{"p"}, 1, 1))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	first := []RateChange{
		{At: t0, Endpoint: "https://api.openai.com/v1", KeyEnv: "OPENAI_API_KEY", Cap: 4, Reason: "start"},
		{At: t0.Add(time.Second), Endpoint: "https://api.openai.com/v1", KeyEnv: "OPENAI_API_KEY", Cap: 5, Reason: "grow"},
	}
	// A resumed run appends after what the first invocation stored.
	second := []RateChange{{At: t0.Add(time.Hour), Endpoint: "http://127.0.0.1:8000/v1", Cap: 2, Reason: "rate_limited"}}
	for _, batch := range [][]RateChange{first, second, nil} {
		if err := s.PutRateChanges(ctx, r.ID, batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutRateChanges(ctx, other.ID, []RateChange{{At: t0, Endpoint: "x", Cap: 1, Reason: "start"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.RateChanges(ctx, r.ID)
	want := append(append([]RateChange{}, first...), second...)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("RateChanges = %+v, %v; want %+v", got, err, want)
	}
	if got := queryString(t, s.db, `SELECT group_concat(seq) FROM rate_changes WHERE run_id = ?`, r.ID); got != "0,1,2" {
		t.Errorf("seq = %s; want 0,1,2 (appended in order)", got)
	}
}

func TestPricesReplace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	r := startRun(t, s, fixture("price", "", 2, []string{"p"}, 1, 1))
	old := []RunPrice{
		{Kind: PriceModel, Name: "role0@0", Model: "gpt-4.1-nano", Input: 0.1, Output: 0.4, BatchDiscount: 0.5, Source: "built-in"},
		{Kind: PriceJudge, Name: "gpt4o", Model: "gpt-4o", Input: 2.5, Output: 10, BatchDiscount: 0.5, Source: "built-in"},
	}
	if err := s.PutPrices(ctx, r.ID, old); err != nil {
		t.Fatal(err)
	}
	// The next invocation's prices replace the first's, model by model.
	newer := []RunPrice{{Kind: PriceModel, Name: "role0@0", Model: "gpt-4.1-nano", Input: 0.2, Output: 0.8, Source: "suite"},
		{Kind: PriceModel, Name: "role1@1", Model: "m1", Input: 1, Output: 1, Source: "suite"}}
	if err := s.PutPrices(ctx, r.ID, newer); err != nil {
		t.Fatal(err)
	}
	got, err := s.Prices(ctx, r.ID)
	// Models first, then judges, each by name.
	want := []RunPrice{newer[0], newer[1], old[1]}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Prices = %+v, %v; want %+v", got, err, want)
	}
}

func TestDrawnTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	// Two runs sharing the salt: the second reuses draws 0..1 of the
	// first and draws 2..3 itself.
	first := fixture("tok", "", 2, []string{"p"}, 1, 2)
	second := fixture("tok", "", 2, []string{"p"}, 1, 4)
	r1 := startRun(t, s, first)
	for _, ps := range first.Plan {
		put(t, s, okSample(ps, r1.ID, "a"))
	}
	r2 := startRun(t, s, second)
	for _, ps := range second.Plan {
		if ps.Draw >= 2 && ps.Instance == 0 {
			put(t, s, okSample(ps, r2.ID, "b")) // 7 prompt + 2 completion tokens each
		}
		if ps.Draw == 2 && ps.Instance == 1 {
			put(t, s, failedSample(ps, r2.ID, "HTTP 500", 500)) // no tokens
		}
	}
	got, err := s.DrawnTokens(ctx, r2.ID)
	// Instance 0 drew 2 samples of 7 + 2 tokens; instance 1 one failed
	// sample of none. The reused samples belong to run 1's cost.
	want := []TokenUse{{Instance: 0, PromptTokens: 14, CompletionTokens: 4}, {Instance: 1}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("DrawnTokens(run 2) = %+v, %v; want %+v", got, err, want)
	}
	got, err = s.DrawnTokens(ctx, r1.ID)
	want = []TokenUse{{Instance: 0, PromptTokens: 14, CompletionTokens: 4}, {Instance: 1, PromptTokens: 14, CompletionTokens: 4}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("DrawnTokens(run 1) = %+v, %v; want %+v", got, err, want)
	}
}
