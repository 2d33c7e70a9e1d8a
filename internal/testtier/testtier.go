// Package testtier splits the test suite into the tier that `go test
// ./...` runs and the replication tier, which CI runs after it.
//
// The default tier is every unit, mechanics, fault and end-to-end test:
// against the fake endpoints (bench/benchtest) and against the lab trained
// on its tiny recipe, which runs the lab's whole pipeline and serves it in
// a fraction of a second without reproducing the effect. The pinned tests
// of package lab (TestTrainWeightsPinned, TestAuxFitPinned,
// TestAnimalArtifactsPinned) fail there whenever the lab's arithmetic
// changes what it trains.
//
// The replication tier adds the tests that train the lab's real recipes
// and check what the lab finds: the paper's claims in the lab (the animal
// transfer in soft and hard mode, Theorem 1, the other experiments, the
// auxiliary logits), the demo's numbers, the documented example's table,
// the experiment loop and sequential gates against the trained lab. Each
// costs seconds of CPU. Each calls Replication first, which skips it
// unless the environment says
//
//	TRAITLEAK_REPLICATION=1 go test ./lab ./cmd/traitleak
//
// .ci/run runs that after `go test ./...`, so every threshold is checked
// before anything lands. Run it when you change the lab, the demo, or
// what they print. Under the race detector these tests skip as before.
package testtier

import (
	"os"
	"strconv"
	"testing"
)

// Env is the environment variable that turns the replication tier on.
const Env = "TRAITLEAK_REPLICATION"

// Enabled reports whether Env turns the replication tier on. An unset or
// empty Env is off; any other value must parse as a boolean
// (strconv.ParseBool), or Enabled returns an error naming it.
func Enabled() (bool, error) {
	v, ok := os.LookupEnv(Env)
	if !ok || v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, &badValueError{value: v}
	}
	return on, nil
}

type badValueError struct{ value string }

func (e *badValueError) Error() string {
	return Env + "=" + strconv.Quote(e.value) + ": want 1 (run the replication tier) or 0 (skip it)"
}

// Replication marks t as a replication check: it skips t unless Env
// turns the tier on, and fails t if Env holds something else than a
// boolean.
func Replication(t testing.TB) {
	t.Helper()
	on, err := Enabled()
	if err != nil {
		t.Fatal(err)
	}
	if !on {
		t.Skipf("replication check (trains its own lab models): %s=1 runs it; CI does", Env)
	}
}
