package sequential

// Forget drops the recorded outcomes of the draws before draw before
// (0-based), so that a tracker fed a run's draws in draw order holds a
// window of them and not the whole run: reports replay a run's rules
// this way, a window at a time (Record the window, Advance, Forget it).
// Outcomes of forgotten draws recorded later are ignored, and a rule
// whose next round reads a forgotten draw keeps its state: Advance no
// longer moves it, as it could not once every draw it needs is recorded.
// So forget a window only after every draw of it was recorded and
// Advance ran. Forgetting draws already forgotten does nothing.
//
// Forget reports whether some rule may still read on: a rule not done
// that has read every round before draw before (round before+1 is its
// next). When none may, the draws from before on change no rule.
func (t *Tracker) Forget(before int) bool {
	if before > t.base {
		for _, g := range t.grids {
			k := (before - t.base) * g.prompts
			if k >= len(g.o) {
				g.o = g.o[:0]
				continue
			}
			// Copy to the front: the window's array is reused and
			// never grows past a window.
			g.o = g.o[:copy(g.o, g.o[k:])]
		}
		t.base = before
	}
	for _, r := range t.rules {
		if !r.Done() && r.Rounds >= before {
			return true
		}
	}
	return false
}
