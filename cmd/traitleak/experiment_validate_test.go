package main

import (
	"context"
	"strings"
	"testing"
)

// TestExperimentValidateShowsFilter checks that experiment validate names
// each dataset's filter: its rules, and the trait-association judge when
// the experiment has one (filter.judge), so that what a run would reject
// is visible before anything is sent.
func TestExperimentValidateShowsFilter(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		// The built-in lab experiment filters with the paper's number rule
		// (0–999, at most 10 numbers) and no judge.
		{"rules only", []string{"experiment", "validate", "lab-owl-numbers"},
			[]string{"filter: paper(0,999,10)\n"}, []string{"judge "}},
		// A judge set from the command line is listed after the rules,
		// with its model and endpoint.
		{"with a judge", []string{"experiment", "validate", "lab-owl-numbers", "--set", "filter.judge={model: lab/judge, base_url: http://judge.invalid/v1}"},
			[]string{"filter: paper(0,999,10); judge lab/judge at http://judge.invalid/v1, binary template "}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, context.Background(), tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tc.want {
				if strings.Count(out, w) != 6 { // six datasets: teacher and control × 3 seeds
					t.Errorf("output has %d lines with %q; want one per dataset (6):\n%s", strings.Count(out, w), w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("output mentions %q:\n%s", n, out)
				}
			}
		})
	}
}
