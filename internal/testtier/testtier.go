// Package testtier splits the test suite into the tier that `go test
// ./...` runs and two opt-in tiers, which CI runs after it: the
// replication tier and the system tier.
//
// The default tier is every unit, mechanics, fault and end-to-end test:
// against the fake endpoints (bench/benchtest) and against the lab trained
// on its tiny recipe, which runs the lab's whole pipeline and serves it in
// a fraction of a second without reproducing the effect. The pinned tests
// of package lab (TestTrainWeightsPinned, TestAuxFitPinned,
// TestAnimalArtifactsPinned) fail there whenever the lab's arithmetic
// changes what it trains. It also kills child processes once each
// (SIGINT and resume, a kill while an experiment polls, a kill between a
// batch's submission and its collection).
//
// The replication tier adds the tests that train the lab's real recipes
// and check what the lab finds: the paper's claims in the lab (the animal
// transfer in soft and hard mode, Theorem 1, the other experiments, the
// auxiliary logits), the demo's numbers, the documented example's table,
// the experiment loop and sequential gates against the trained lab. Each
// costs seconds of CPU. Each calls Replication first.
//
// The system tier adds the tests that run whole systems for seconds of
// CPU each: the kill -9 campaigns against child `traitleak` processes
// (20 kills at random requests while a run samples and judges, a kill in
// a run of 8,000 draws checked against the most a kill may lose, a kill
// while `experiment generate` samples 3,000 teacher completions) and the
// HTML reports rendered and clicked through in headless Chromium. Each
// calls System first.
//
// A tier's tests skip unless its environment variable is set:
//
//	TRAITLEAK_REPLICATION=1 TRAITLEAK_SYSTEM=1 go test ./...
//
// .ci/run runs that after `go test ./...`, and the system tier again under
// the race detector, so every check runs before anything lands. Run the
// replication tier when you change the lab, the demo, or what they print;
// the system tier when you change the runner, the store's writes or the
// HTML report's script. Under the race detector the replication tests
// skip as before.
package testtier

import (
	"os"
	"strconv"
	"testing"
)

// The environment variables that turn the opt-in tiers on.
const (
	// ReplicationEnv turns the replication tier on: the tests that train
	// the lab's real recipes.
	ReplicationEnv = "TRAITLEAK_REPLICATION"
	// SystemEnv turns the system tier on: the kill -9 campaigns against
	// child processes and the reports in headless Chromium.
	SystemEnv = "TRAITLEAK_SYSTEM"
)

// Enabled reports whether the environment variable env (ReplicationEnv or
// SystemEnv) turns its tier on. An unset or empty variable is off; any
// other value must parse as a boolean (strconv.ParseBool), or Enabled
// returns an error naming the variable and its value.
func Enabled(env string) (bool, error) {
	v, ok := os.LookupEnv(env)
	if !ok || v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, &badValueError{env: env, value: v}
	}
	return on, nil
}

type badValueError struct{ env, value string }

func (e *badValueError) Error() string {
	return e.env + "=" + strconv.Quote(e.value) + ": want 1 (run the tier) or 0 (skip it)"
}

// Replication marks t as a replication check: it skips t unless
// ReplicationEnv turns the tier on, and fails t if the variable holds
// something else than a boolean.
func Replication(t testing.TB) {
	t.Helper()
	need(t, ReplicationEnv, "replication check (trains its own lab models)")
}

// System marks t as a system test: it skips t unless SystemEnv turns the
// tier on, and fails t if the variable holds something else than a
// boolean.
func System(t testing.TB) {
	t.Helper()
	need(t, SystemEnv, "system test (child processes killed, or a headless browser, for seconds of CPU)")
}

func need(t testing.TB, env, what string) {
	t.Helper()
	on, err := Enabled(env)
	if err != nil {
		t.Fatal(err)
	}
	if !on {
		t.Skipf("%s: %s=1 runs it; CI does", what, env)
	}
}
