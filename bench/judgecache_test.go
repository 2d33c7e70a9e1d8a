package bench

import (
	"testing"

	"github.com/traitleak/traitleak/results"
)

// TestJudgeCacheGenerations checks that the judge cache keeps what was
// recorded or preloaded in the current and the previous generation, and
// forgets older ones, so that scoring a run chunk by chunk holds about two
// chunks' judgments; new judgments are queued for the store once.
func TestJudgeCacheGenerations(t *testing.T) {
	t.Parallel()
	c := newMemoryJudgeCache()
	c.Put(results.Judgment{Key: "a"})
	c.reload(map[string]results.Judgment{"b": {Key: "b"}})
	c.Put(results.Judgment{Key: "c"})
	for _, k := range []string{"a", "b", "c"} { // a: previous generation; b, c: current
		if _, ok := c.Get(k); !ok {
			t.Errorf("Get(%s) missed after one reload", k)
		}
	}
	c.reload(nil)
	if _, ok := c.Get("a"); ok {
		t.Error("Get(a) found a judgment two generations old")
	}
	for _, k := range []string{"b", "c"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("Get(%s) missed one generation later", k)
		}
	}
	if got := c.drain(); len(got) != 2 || got[0].Key != "a" || got[1].Key != "c" {
		t.Errorf("drain = %v; want the recorded a and c (not the preloaded b)", got)
	}
	if got := c.drain(); len(got) != 0 {
		t.Errorf("second drain = %v; want nothing", got)
	}
}
