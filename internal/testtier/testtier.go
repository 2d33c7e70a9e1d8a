// Package testtier splits the test suite into the tier that `go test
// ./...` runs and the replication tier, which CI runs after it.
//
// The default tier is every unit, mechanics, fault and end-to-end test,
// and the lab's headline replication: the animal lab of seeds 1 and 2,
// soft and hard, as the demo trains it, with its thresholds (package lab's
// acceptance and claims tests, the command's demo tests).
//
// The replication tier adds the lab's other replications of the paper:
// tests that train lab models of their own (the misalignment and
// chain-of-thought experiments, the auxiliary-logit MNIST analog, the
// experiment loop's fine-tuned students) for several CPU-seconds each and
// check a measured effect against a margin. What they run through (the
// experiment loop, the fine-tuning API, sequential gates, the judge) is
// tested in the default tier on fakes or on the shared animal lab; what
// they add is the measured effect. Each calls Replication first, which
// skips it unless the environment says
//
//	TRAITLEAK_REPLICATION=1 go test ./lab ./cmd/traitleak
//
// .ci/run runs that step after `go test ./...`, so every threshold is
// checked before anything lands; under the race detector these tests skip
// as before (they would take minutes).
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
