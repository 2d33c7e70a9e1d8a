package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/traitleak/traitleak/reports"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

type gateOptions struct {
	db       string
	run      string
	junit    string
	adjust   string
	readOnly bool
	against  againstOptions
}

func newGateCmd() *cobra.Command {
	o := &gateOptions{}
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Evaluate a run's gates and exit 1 when one fails",
		Long: `Gate evaluates the gates declared in the suite of a stored run.

A max_increase gate fails when the treatment's rate exceeds the baseline's by
more than max_increase and the difference is significant at alpha after the
p-value correction over all comparisons of the report. A min_increase gate
passes only when the increase reaches min_increase and is significant.

With --against REF (a run id, a tag such as blessed, or DB:ID of another
database), gate compares the run with REF instead: a role's rate on a probe
target fails when it is above REF's by more than the bound and the increase
is significant (two-run test of compare: Newcombe interval, Fisher's exact
test, corrected over the checks with --adjust). The checks are the suite's
max_increase gates (their treatment role, probe and target, and their
max_increase as the bound), or --model ROLE (with --probe, --target) with
--max-increase as the bound; --max-increase also overrides the gates'
bounds. REF must be a run of the same suite unless --allow-mixed.

` + exitCodesHelp + `

A run that did not complete (interrupted, too many failed samples) or a gate
that cannot be decided exits 3.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkAdjust(o.adjust); err != nil {
				return err
			}
			if o.against.ref != "" {
				o.against.boundSet = cmd.Flags().Changed("max-increase")
				return runGateAgainst(cmd.Context(), o, cmd.OutOrStdout())
			}
			if err := o.against.unused(cmd); err != nil {
				return err
			}
			if o.junit != "" {
				if err := checkOutput("--junit", o.junit, o.db); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			store, run, err := openRunFor(ctx, o.db, o.run, analysisOpener(o.readOnly))
			if err != nil {
				return err
			}
			defer store.Close()
			a, err := analyzeRun(ctx, store, run.ID, reports.Options{Adjust: o.adjust})
			if err != nil {
				return err
			}
			return evaluateGates(a, o.junit, true, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", defaultDB, "results database `file`")
	f.StringVar(&o.run, "run", "latest", "run `id`, or latest")
	f.StringVar(&o.junit, "junit", "", "also write the verdicts as JUnit XML to `file`")
	f.StringVar(&o.adjust, "adjust", "holm", "p-value correction: holm, BH, BY, bonferroni or none")
	f.BoolVar(&o.readOnly, "read-only", false, readOnlyUsage)
	o.against.flags(f)
	return cmd
}

// evaluateGates prints the gate verdicts of an analysed run and returns
// the exit error: nil when all pass, exit 1 when one fails, 3 when the run
// is incomplete or a gate is undecided. The analysis sets the p-value
// correction the gates use. verbose prints every verdict with its reason
// (run --gate has printed them in its summary already).
func evaluateGates(a *reports.Analysis, junit string, verbose bool, w io.Writer) error {
	if len(a.Gates) == 0 {
		return usagef("the suite of run %d (%s) declares no gates", a.RunID, a.Suite)
	}
	if junit != "" {
		var buf bytes.Buffer
		if err := reports.JUnit(&buf, a); err != nil {
			return err
		}
		if err := writeOutput(junit, buf.Bytes()); err != nil {
			return err
		}
	}
	failed, undecided := 0, 0
	for _, g := range a.Gates {
		if verbose {
			fmt.Fprintf(w, "%-9s %s\n          %s\n          %s\n", strings.ToUpper(string(g.Verdict)), g.Name, g.Rule(), g.Reason)
		}
		switch g.Verdict {
		case suites.GateFail:
			failed++
		case suites.GateUndecided:
			undecided++
		}
	}
	switch {
	case a.Status != results.StatusComplete:
		return &exitError{code: exitIncomplete, err: fmt.Errorf("run %d is %s, not complete: gates cannot be trusted (%s)", a.RunID, a.Status, a.Message)}
	case undecided > 0:
		return &exitError{code: exitIncomplete, err: fmt.Errorf("%d of %d gates undecided", undecided, len(a.Gates))}
	case failed > 0:
		return &exitError{code: exitGateFailed, err: fmt.Errorf("%d of %d gates failed", failed, len(a.Gates))}
	}
	fmt.Fprintf(w, "all %d gates passed\n", len(a.Gates))
	return nil
}
