package results

import (
	"context"
	"math"
	"testing"
)

// TestAppendPlan grows a run's plan and checks that the new draws are
// counted, ordered after the old ones and read back by Rows and Counts.
func TestAppendPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	nr := fixture("seq", "", 2, []string{"p"}, 3, 1) // 2 models × 3 prompts × draw 0
	run := startRun(t, s, nr)
	var more []PlannedSample
	for m := range 2 {
		for p := range 3 {
			more = append(more, PlannedSample{Key: planKey("", m, "p", p, 1), Instance: m, Probe: "p", Prompt: p, Draw: 1})
		}
	}
	if err := s.AppendPlan(ctx, run.ID, more); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	// 6 planned at the start, 6 appended.
	if got.Planned != 12 {
		t.Errorf("planned = %d; want 12", got.Planned)
	}
	c, err := s.Counts(ctx, run.ID)
	if err != nil || c.Planned != 12 || c.Stored != 0 {
		t.Errorf("Counts = %+v, %v; want 12 planned, 0 stored", c, err)
	}
	// Rows reads the appended draws in plan order: by instance, prompt
	// and draw, draw 1 after draw 0.
	var draws []int
	for r, err := range s.Rows(ctx, run.ID, func(string) string { return "" }) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Instance == 0 && r.Prompt == 0 {
			draws = append(draws, r.Draw)
		}
	}
	if len(draws) != 2 || draws[0] != 0 || draws[1] != 1 {
		t.Errorf("draws of instance 0, prompt 0 = %v; want [0 1]", draws)
	}
	// Bad draws are refused and change nothing.
	for _, bad := range [][]PlannedSample{
		{{Key: "x", Instance: 9, Probe: "p", Prompt: 0, Draw: 2}},                                               // no instance 9
		{{Key: "y", Instance: 0, Probe: "q", Prompt: 0, Draw: 2}},                                               // no probe q
		{{Key: "z", Instance: 0, Probe: "p", Prompt: 0, Draw: 2}, {Key: "z", Instance: 1, Probe: "p", Draw: 2}}, // a key twice
	} {
		if err := s.AppendPlan(ctx, run.ID, bad); err == nil {
			t.Errorf("AppendPlan(%+v): no error", bad)
		}
	}
	if got, _ := s.GetRun(ctx, run.ID); got.Planned != 12 {
		t.Errorf("planned after refused appends = %d; want 12", got.Planned)
	}
	if err := s.AppendPlan(ctx, 99, more); err == nil {
		t.Error("AppendPlan to a missing run: no error")
	}
}

// TestDrawStates stores a success with scores, a failure and a success
// scored under another scorer, and reads their states back.
func TestDrawStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	run := startRun(t, s, fixture("seq", "", 1, []string{"p"}, 2, 2))
	k := func(p, d int) string { return planKey("", 0, "p", p, d) }
	err := s.Put(ctx, []Sample{
		{Key: k(0, 0), RunID: run.ID, Probe: "p", Completion: "Owl.", Attempts: 1, Batch: 1, Scorer: "mentions:a",
			Scores: []Score{{Target: "owl", Valid: true, Hit: true, Value: math.NaN()}, {Target: "dog", Valid: true, Value: math.NaN()}}},
		{Key: k(0, 1), RunID: run.ID, Probe: "p", Err: "HTTP 500", HTTPStatus: 500, Attempts: 3, Batch: 1},
		{Key: k(1, 0), RunID: run.ID, Probe: "p", Prompt: 1, Completion: "Dog.", Attempts: 1, Batch: 1, Scorer: "mentions:b",
			Scores: []Score{{Target: "owl", Valid: true, Value: math.NaN()}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.DrawStates(ctx, []string{k(0, 0), k(0, 1), k(1, 0), k(1, 1)}, "mentions:a")
	if err != nil {
		t.Fatal(err)
	}
	// Stored and scored under mentions:a: two scores, in target order.
	if a := st[k(0, 0)]; !a.Stored || a.Failed || len(a.Scores) != 2 || a.Scores[0].Target != "dog" || !a.Scores[1].Hit {
		t.Errorf("scored success = %+v", a)
	}
	// Failed: stored, no scores.
	if b := st[k(0, 1)]; !b.Stored || !b.Failed || b.Scores != nil {
		t.Errorf("failure = %+v", b)
	}
	// Scored only under another scorer: stored, no scores here.
	if c := st[k(1, 0)]; !c.Stored || c.Failed || c.Scores != nil {
		t.Errorf("success scored by another scorer = %+v", c)
	}
	// Never drawn: absent.
	if _, ok := st[k(1, 1)]; ok || len(st) != 3 {
		t.Errorf("DrawStates = %d entries (%+v); want 3, without the undrawn key", len(st), st)
	}
	if st, err := s.DrawStates(ctx, nil, "mentions:a"); err != nil || len(st) != 0 {
		t.Errorf("DrawStates(nil) = %v, %v", st, err)
	}
}
