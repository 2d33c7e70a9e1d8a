package main

import (
	"fmt"
	"io"

	"github.com/traitleak/traitleak/sequential"
	"github.com/traitleak/traitleak/suites"
)

// describeSequential prints the suite's sequential rules: what `run
// --until-decided` decides, with its budget.
func describeSequential(w io.Writer, s *suites.Suite) error {
	rules, err := sequential.Rules(s)
	if err != nil {
		return fmt.Errorf("sequential rules: %w", err)
	}
	for _, r := range rules {
		switch r.Kind {
		case sequential.KindGate:
			fmt.Fprintf(w, "  sequential %s: %s %+g, alpha %g, at most %d rounds (run --until-decided)\n",
				r.Name(s), r.SeqGate.Rule, r.SeqGate.Bound, r.SeqGate.Alpha, r.MaxRounds)
		case sequential.KindWidth:
			fmt.Fprintf(w, "  until %s, alpha %g, at most %d rounds (run --until-decided)\n", r.Name(s), r.RateCS.Alpha, r.MaxRounds)
		}
	}
	return nil
}
