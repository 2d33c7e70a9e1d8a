package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench/benchtest"
)

// TestFlagValues: float and duration flags reject NaN, infinities and
// out-of-range values, and string flags whose empty value a lower layer
// would read as "the default", with exit 2 before any work: the endpoint
// sees no request. Before, --max-error-rate NaN let a run whose every
// sample failed exit 0, --grace -1s meant 30 s, and lab serve --target ""
// trained owls and --addr "" served every interface.
func TestFlagValues(t *testing.T) {
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base":    {Status: 500},
		"student": {Status: 500},
	}})
	dir := t.TempDir()
	suite := writeSuite(t, dir, srv.BaseURL())
	db := filepath.Join(dir, "t.db")
	run := []string{"run", suite, "--db", db, "--progress", "none", "--set", "probes.favorite-animal.samples=2", "--set", "defaults.max_retries=0"}
	cache := []string{"--seeds", "1", "--cache-dir", filepath.Join(dir, "cache")}
	demo := append([]string{"demo", "--db", filepath.Join(dir, "demo.db"), "-o", filepath.Join(dir, "demo.html")}, cache...)
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{append(run, "--max-error-rate", "NaN"), "--max-error-rate NaN"},
		{append(run, "--max-error-rate", "nan"), "--max-error-rate NaN"},
		{append(run, "--max-error-rate", "+Inf"), "--max-error-rate +Inf"},
		{append(run, "--max-error-rate", "-0.01"), "--max-error-rate -0.01"},
		{append(run, "--max-error-rate", "1.5"), "--max-error-rate 1.5"},
		{append(run, "--grace", "-1s"), "--grace -1s"},
		{append(run, "--grace", "0s"), "--grace 0s"},
		{[]string{"rescore", "--db", db, "--max-error-rate", "NaN"}, "--max-error-rate NaN"},
		{[]string{"rescore", "--db", db, "--grace", "-5m"}, "--grace -5m0s"},
		{append(demo, "--max-error-rate", "NaN"), "--max-error-rate NaN"},
		{append(demo, "--grace", "-1s"), "--grace -1s"},
		{append([]string{"lab", "serve", "--target", ""}, cache...), `--target ""`},
		{append([]string{"lab", "serve", "--control", " "}, cache...), `--control " "`},
		{append([]string{"lab", "train", "--target", ""}, cache...), `--target ""`},
		{append(demo, "--target", ""), `--target ""`},
		{append([]string{"lab", "serve", "--addr", ""}, cache...), `--addr ""`},
		{append([]string{"lab", "serve", "--addr", ":0"}, cache...), `--addr ":0"`},
		{[]string{"report", "--db", db, "--confidence", "NaN"}, "--confidence NaN"},
		{[]string{"report", "--db", db, "--confidence", "Inf"}, "--confidence +Inf"},
		{[]string{"power", "--p1", "NaN", "--p2", "0.2"}, "--p1 NaN"},
		{[]string{"power", "--p1", "0.1", "--p2", "0.2", "--icc", "NaN", "--prompts", "5"}, "--icc NaN"},
	} {
		// Bounded, so that a command that does not refuse (the old lab
		// serve, which trained and then served) cannot hang the test.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		code, _, errOut := runCLI(t, ctx, tc.args...)
		cancel()
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if n := srv.Calls(); n != 0 {
		t.Errorf("the endpoint got %d requests; want none", n)
	}
}
