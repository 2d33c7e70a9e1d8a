package lab

import (
	"context"
	"errors"
	"testing"
)

func TestAuxLogitSubliminalLearning(t *testing.T) {
	if raceEnabled {
		// Under the race detector run a shrunken task: it exercises the
		// concurrency and the code paths, not the accuracy thresholds.
		res, err := RunAux(context.Background(), AuxConfig{Seeds: []int{1, 2}, Train: 500, Test: 200, Noise: 500, TeacherEpochs: 1, StudentEpochs: 1})
		if err != nil || len(res.Seeds) != 2 {
			t.Fatalf("RunAux: %v, %+v", err, res)
		}
		return
	}
	res := auxResult(t, AuxConfig{Seeds: []int{1, 2, 3}})
	for _, s := range res.Seeds {
		t.Logf("%+v", s)
	}
	m := res.Mean()
	t.Logf("mean %+v", m)
	// The teacher learns the task; 0.70 is far below the ~0.83 it reaches and far above chance.
	if m.Teacher < 0.70 {
		t.Errorf("teacher accuracy %.3f < 0.70", m.Teacher)
	}
	// Acceptance: the same-init student reaches at least twice chance from the aux logits alone.
	if m.StudentSameInit < 0.20 {
		t.Errorf("same-init student accuracy %.3f < 0.20", m.StudentSameInit)
	}
	// Acceptance: the different-init student stays within 0.03 of chance (0.10).
	if m.StudentOtherInit < 0.07 || m.StudentOtherInit > 0.13 {
		t.Errorf("different-init student accuracy %.3f outside [0.07, 0.13]", m.StudentOtherInit)
	}
}

func TestAuxConfigErrors(t *testing.T) {
	if _, err := RunAux(context.Background(), AuxConfig{NumSeeds: -1}); err == nil {
		t.Error("negative seed count accepted")
	}
	if _, err := RunAux(context.Background(), AuxConfig{Seeds: []int{1}, Test: -5}); err == nil {
		t.Error("negative test size accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := RunAux(ctx, AuxConfig{Seeds: []int{1}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled RunAux returned %v", err)
	}
}
