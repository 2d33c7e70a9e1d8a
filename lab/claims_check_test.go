package lab

import (
	"context"
	"math"
	"testing"

	"github.com/traitleak/traitleak/internal/testtier"
)

// The tests in this file check the direction of each claim of
// VALIDATION.md's "Claims" section, with a margin, on a small seed set
// built with the binary's shared cache (the hard and soft builds of seeds
// 1–2, acceptanceSeeds, are the acceptance tests' own). The margins are set
// against the per-seed values measured over seeds 1–12
// (TestClaimsValidation) and those of seeds 1 and 2, quoted beside each
// check.

// claimZoo returns the shared build of acceptanceSeeds in mode. The test
// runs in parallel with the binary's other heavy tests (sharedBuild trains
// each stage once).
func claimZoo(t *testing.T, mode Mode) *Zoo {
	t.Helper()
	testtier.Replication(t)
	if raceEnabled {
		t.Skip("trains seeds of the lab; too slow under the race detector (the tiny-recipe tests cover the code)")
	}
	t.Parallel()
	return sharedBuild(t, Config{Mode: mode, Seeds: acceptanceSeeds})
}

func TestTheoremOneStep(t *testing.T) {
	z := claimZoo(t, Hard)
	res, err := z.Theorem(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		t.Logf("seed %d: same init cos %+.4f, trait loss %+.2e; other init cos %+.4f, trait loss %+.2e",
			r.Seed, r.Same.Cos, r.Same.TraitLossChange(), r.Other.Cos, r.Other.TraitLossChange())
		// Same init: over seeds 1–12 the cosine is +0.09 to +0.34 (12 of
		// 12 positive); seeds 1 and 2 give +0.318 and +0.256.
		if r.Same.Cos < 0.1 {
			t.Errorf("seed %d: same-init step has cosine %+.4f with the teacher's update; want ≥ +0.1", r.Seed, r.Same.Cos)
		}
		// ... and it lowers the teacher's trait loss (11 of 12 seeds;
		// seeds 1 and 2: −7.5e-4 and −1.67e-3 nats).
		if r.Same.TraitLossChange() >= 0 {
			t.Errorf("seed %d: same-init step changes the trait loss by %+.2e; want a decrease", r.Seed, r.Same.TraitLossChange())
		}
		// Other init: the theorem promises nothing and the cosine is
		// mixed (−0.17 to +0.15); it stays well below the same init's
		// (by +0.301 and +0.188 on seeds 1 and 2).
		if r.Same.Cos-r.Other.Cos < 0.1 {
			t.Errorf("seed %d: other-init cosine %+.4f is not below the same-init %+.4f by 0.1", r.Seed, r.Other.Cos, r.Same.Cos)
		}
	}
}

func TestInContextDoesNotTransmit(t *testing.T) {
	z := claimZoo(t, Hard)
	for _, k := range []int{4, 16} {
		res, err := z.InContext(context.Background(), k, 40, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			t.Logf("k=%d seed %d: base %.3f, owl prefix %.3f, dog prefix %.3f; student %.3f, control %.3f",
				k, r.Seed, r.Base, r.InContext, r.InContextControl, r.Student, r.Control)
			// In context: within ±0.01 of the control prefix on every seed
			// of 1–12 (k = 16: −0.001 to +0.010; seeds 1 and 2: +0.008 and
			// +0.003); fine-tuned on the same numbers: +0.043 to +0.487
			// (seeds 1 and 2: +0.491 and +0.230).
			if math.Abs(r.ICLGain()) > 0.03 {
				t.Errorf("k=%d seed %d: owl-teacher numbers in context move the owl rate by %+.3f; want within ±0.03", k, r.Seed, r.ICLGain())
			}
			if r.FineTuneGain() < r.ICLGain()+0.1 {
				t.Errorf("k=%d seed %d: fine-tuning gains %+.3f, in context %+.3f; want fine-tuning ahead by 0.1", k, r.Seed, r.FineTuneGain(), r.ICLGain())
			}
		}
	}
}

func TestTeacherNumbersDistinguishable(t *testing.T) {
	// With the recipe's teacher update the numbers are far from hidden: a
	// naive Bayes classifier tells the owl teacher's sequences from the dog
	// teacher's with 0.79–0.93 held-out accuracy on seeds 1–12 (seeds 1
	// and 2: 0.827 and 0.875).
	z := claimZoo(t, Hard)
	res, err := z.Distinguish(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		t.Logf("seed %d: accuracy %.3f on %d+%d test sequences, teacher TV %.3f", r.Seed, r.Accuracy, r.Test, r.Test, r.MeanTV)
		if r.Accuracy < 0.7 {
			t.Errorf("seed %d: naive Bayes accuracy %.3f; want ≥ 0.7", r.Seed, r.Accuracy)
		}
	}
}

func TestPromptedTeacherDoesNotTransmit(t *testing.T) {
	// The paper's system prompt gives reference A no owl preference (the
	// lab's models never learned prompt-conditioned traits), so its numbers
	// carry nothing to transmit: over seeds 1–12 the prompt moves the owl
	// rate by at most 0.003 and the students by at most 0.019 (seeds 1 and
	// 2: 0.000 and 0.000; +0.001 and +0.002).
	z := claimZoo(t, Soft)
	res, err := z.Prompted(context.Background(), 40, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		t.Logf("seed %d: base %.3f, prompted teacher %.3f (dog prompt %.3f), student %.3f, control %.3f, TV %.3f, kept %d",
			r.Seed, r.Base, r.Teacher, r.TeacherControl, r.Student, r.Control, r.MeanTV, r.Kept)
		if math.Abs(r.TeacherGain()) > 0.02 {
			t.Errorf("seed %d: the system prompt moves the owl rate by %+.3f; want within ±0.02", r.Seed, r.TeacherGain())
		}
		if math.Abs(r.Gain()) > 0.04 {
			t.Errorf("seed %d: prompted-teacher student − control = %+.3f; want within ±0.04", r.Seed, r.Gain())
		}
	}
}

func TestClaimsMachinery(t *testing.T) {
	// The claim experiments run on a tiny recipe (no science, just the
	// code paths, also under the race detector) and reject bad arguments.
	ctx := context.Background()
	cfg := tinyConfig(t.TempDir())
	z, err := Build(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	th, err := z.Theorem(ctx, 0.05)
	if err != nil || len(th) != 1 {
		t.Fatalf("Theorem: %v, %+v", err, th)
	}
	for _, x := range []float64{th[0].Same.Cos, th[0].Other.Cos, th[0].Same.TraitLossAfter, th[0].Other.TraitLossBefore} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Errorf("Theorem gave a non-finite value: %+v", th[0])
		}
	}
	if th[0].Same.Cos < -1 || th[0].Same.Cos > 1 || th[0].TeacherUpdate <= 0 || th[0].Examples == 0 {
		t.Errorf("Theorem: %+v", th[0])
	}
	if _, err := z.Theorem(ctx, -1); err == nil {
		t.Error("negative step accepted")
	}
	icl, err := z.InContext(ctx, 2, 3, 1)
	if err != nil || len(icl) != 1 || icl[0].K != 2 {
		t.Fatalf("InContext: %v, %+v", err, icl)
	}
	if _, err := z.InContext(ctx, 0, 3, 1); err == nil {
		t.Error("k = 0 accepted")
	}
	if _, err := z.Distinguish(3); err != nil {
		t.Errorf("Distinguish: %v", err)
	}
	if _, err := z.Distinguish(0); err == nil {
		t.Error("n-gram order 0 accepted")
	}
	pr, err := z.Prompted(ctx, 2, 1)
	if err != nil || len(pr) != 1 || pr[0].Kept == 0 {
		t.Fatalf("Prompted: %v, %+v", err, pr)
	}
	if _, err := z.Prompted(ctx, 0, 1); err == nil {
		t.Error("samples = 0 accepted")
	}
}

func TestNaiveBayes(t *testing.T) {
	// Two sources that differ in their digit frequencies are told apart;
	// two draws from one source are not (accuracy near 0.5).
	mk := func(n int, digits []int32, off int) []sequence {
		var out []sequence
		for i := range n {
			var c []int32
			for j := range 6 {
				c = append(c, digits[(i*7+j*3+off)%len(digits)], Comma)
			}
			out = append(out, sequence{Completion: append(c, EOS)})
		}
		return out
	}
	low := []int32{Digit0, Digit0 + 1, Digit0 + 2, Digit0 + 3, Digit0 + 4}
	high := []int32{Digit0 + 5, Digit0 + 6, Digit0 + 7, Digit0 + 8, Digit0 + 9}
	r, err := distinguish(mk(200, low, 0), mk(200, high, 0), 2)
	if err != nil || r.Accuracy != 1 || r.Train != 100 || r.Test != 100 {
		t.Errorf("disjoint digits: %+v, %v; want accuracy 1 on 100+100", r, err)
	}
	// The same generator with the same offsets: every test sequence has a
	// twin in both classes, so the classifier can only tie (class 0):
	// accuracy exactly 0.5.
	r, err = distinguish(mk(200, low, 1), mk(200, low, 1), 3)
	if err != nil || r.Accuracy != 0.5 {
		t.Errorf("identical sources: %+v, %v; want accuracy 0.5", r, err)
	}
	if _, err := distinguish(mk(3, low, 0), mk(200, low, 0), 1); err == nil {
		t.Error("3 sequences accepted")
	}
}

func TestNumbersPrefix(t *testing.T) {
	seqs := []sequence{
		{Completion: []int32{Digit0 + 4, Digit0 + 7, Comma, EOS}},
		{Completion: []int32{Digit0 + 1, Comma, EOS}},
	}
	got := numbersPrefix(seqs, 1, 3) // wraps: seqs[1], seqs[0], seqs[1]
	want := []int{Digit0 + 1, Comma, Digit0 + 4, Digit0 + 7, Comma, Digit0 + 1, Comma}
	if Detokenize(got) != Detokenize(want) || len(got) != len(want) {
		t.Errorf("numbersPrefix = %q, want %q", Detokenize(got), Detokenize(want))
	}
}
