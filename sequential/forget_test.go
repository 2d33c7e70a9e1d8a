package sequential

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestForgetWindows replays random runs window by window (Record a
// window of draws, Advance, Forget it), as reports do, and checks that
// every rule ends in the state of the replay that holds every draw:
// windows of 1, 3 and 64 draws; a run with a failed draw, where the rule
// that waits must keep its Blocked round while the others read on; and a
// run whose later draws are missing. It also checks that the tracker
// holds at most a window of outcomes.
func TestForgetWindows(t *testing.T) {
	rules, _ := Rules(mustSuite(t))
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 2))
		st := 0.1 + 0.5*rng.Float64()
		d := randomDraws(rng, []float64{0.1, 0.1, st, st, 0.9}, 3, 40)
		switch seed % 3 {
		case 1: // a failed draw in round 3 of base@1: the gates wait, the width rule (student) reads on
			d[[3]int{0, 0, 2}] = Failed
		case 2: // rounds 6 on were never drawn for base@2
			for k := range d {
				if k[0] == 1 && k[2] >= 5 {
					delete(d, k)
				}
			}
		}
		all, _ := NewTracker(rules, roles, map[string]int{"p": 3})
		for k, o := range d {
			all.Record(k[0], "p", "owl", k[1], k[2], o)
		}
		all.Advance()
		want := all.States()
		// The case of a failed draw is only a case if a gate waits at it
		// while the width rule reads past it.
		if seed%3 == 1 && (want[2].Rounds <= 3 || want[0].Blocked == nil && want[1].Blocked == nil) {
			t.Fatalf("seed %d: want a gate waiting at round 3 and the width rule past it: %+v", seed, want)
		}
		for _, window := range []int{1, 3, 64} {
			tr, _ := NewTracker(rules, roles, map[string]int{"p": 3})
			for from := 0; ; from += window {
				for k, o := range d {
					if k[2] >= from && k[2] < from+window {
						tr.Record(k[0], "p", "owl", k[1], k[2], o)
					}
				}
				// Draws of a forgotten window recorded again are ignored.
				if from > 0 {
					tr.Record(2, "p", "owl", 0, from-1, Failed)
				}
				tr.Advance()
				for k, g := range tr.grids {
					if len(g.o) > window*g.prompts {
						t.Fatalf("seed %d window %d: grid %v holds %d outcomes; want at most %d", seed, window, k, len(g.o), window*g.prompts)
					}
				}
				if !tr.Forget(from + window) {
					break
				}
			}
			if got := tr.States(); !reflect.DeepEqual(got, want) {
				t.Errorf("seed %d window %d: states\n%+v\nwant\n%+v", seed, window, got, want)
			}
		}
	}
}
