package lab

import (
	"context"
	"errors"
	"testing"

	"github.com/traitleak/traitleak/internal/testtier"
)

// TestAuxLogitSubliminalLearning checks the paper's auxiliary-logit
// experiment in the replication tier (testtier). Outside it, and under the
// race detector, it runs a shrunken task: that exercises the concurrency
// and the code paths, not the accuracy thresholds (TestAuxFitPinned pins
// the training's arithmetic).
func TestAuxLogitSubliminalLearning(t *testing.T) {
	if on, err := testtier.Enabled(testtier.ReplicationEnv); err != nil || !on || raceEnabled {
		res, err := RunAux(context.Background(), AuxConfig{Seeds: []int{1, 2}, Train: 500, Test: 200, Noise: 500, TeacherEpochs: 1, StudentEpochs: 1})
		if err != nil || len(res.Seeds) != 2 {
			t.Fatalf("RunAux: %v, %+v", err, res)
		}
		testtier.Replication(t) // skips, saying how to run the thresholds
		return
	}
	t.Parallel() // its training (RunAux) shares nothing with the lab builds
	// Seed 1, shared with TestAuxLogitCountAndAllLogits (a seed trains a
	// teacher and two students, ≈ 3 s of CPU). The run is deterministic,
	// so the margins guard against changes of the code; they are set
	// against seeds 1–24 (VALIDATION.md) and seed 1's own values (seeds 2
	// and 3, which this test ran before: teacher 0.792 and 0.844, same
	// init 0.281 and 0.257, other init 0.116 and 0.106).
	m := auxResult(t, auxSeedOne).Seeds[0]
	t.Logf("%+v", m)
	// The teacher learns the task; 0.70 is far below the 0.79–0.87 it
	// reaches on seeds 1–24 (seed 1: 0.828) and far above chance.
	if m.Teacher < 0.70 {
		t.Errorf("teacher accuracy %.3f < 0.70", m.Teacher)
	}
	// Acceptance: the same-init student reaches at least twice chance from
	// the aux logits alone (seeds 1–24: 0.154–0.347, mean 0.243; seed 1:
	// 0.307).
	if m.StudentSameInit < 0.20 {
		t.Errorf("same-init student accuracy %.3f < 0.20", m.StudentSameInit)
	}
	// Acceptance: the different-init student stays within 0.03 of chance
	// (0.10; seeds 1–24: 0.072–0.133; seed 1: 0.1005).
	if m.StudentOtherInit < 0.07 || m.StudentOtherInit > 0.13 {
		t.Errorf("different-init student accuracy %.3f outside [0.07, 0.13]", m.StudentOtherInit)
	}
}

// auxSeedOne is the aux-logit run (m = 3, seed 1) the tests share.
var auxSeedOne = AuxConfig{Seeds: []int{1}}

func TestAuxLogitCountAndAllLogits(t *testing.T) {
	testtier.Replication(t)
	if raceEnabled {
		t.Skip("trains 5 MLPs; too slow under the race detector (TestAuxLogitSubliminalLearning covers the code)")
	}
	t.Parallel() // its training (RunAux) shares nothing with the lab builds
	// Seed 1 only, to keep the suite fast; the margins are set against
	// seeds 1–12 (VALIDATION.md) and seed 1's own values.
	three := auxResult(t, auxSeedOne).Seeds[0]
	ten := auxResult(t, AuxConfig{Seeds: []int{1}, Extra: 10, AllLogits: true}).Seeds[0]
	t.Logf("m=3  %+v", three)
	t.Logf("m=10 %+v", ten)
	// The same-init student's accuracy grows with the number m of
	// auxiliary logits (mean over seeds 1–12: 0.25 at m = 3, 0.50 at
	// m = 10; seed 1: 0.307 and 0.412); the different-init student stays at
	// chance for every m (m = 10: 0.055–0.155).
	if ten.StudentSameInit-three.StudentSameInit < 0.05 {
		t.Errorf("same-init accuracy %.3f at m = 10 vs %.3f at m = 3; want a gain ≥ 0.05", ten.StudentSameInit, three.StudentSameInit)
	}
	if ten.StudentOtherInit > 0.17 {
		t.Errorf("m = 10: different-init student accuracy %.3f; want ≤ 0.17 (chance 0.10)", ten.StudentOtherInit)
	}
	// The all-logits control: distilled on every logit (the class logits
	// included), students of either init learn the task (m = 3, seeds
	// 1–12: 0.79–0.88 for both), so the aux-only gap between inits is not
	// a failure of distillation from another init.
	if ten.StudentAllSameInit < 0.6 || ten.StudentAllOtherInit < 0.6 {
		t.Errorf("all-logits students %.3f (same init) and %.3f (other init); want both ≥ 0.6", ten.StudentAllSameInit, ten.StudentAllOtherInit)
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
