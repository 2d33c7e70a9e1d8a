package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/traitleak/traitleak/reports"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// againstOptions are the flags of gate --against.
type againstOptions struct {
	ref         string
	maxIncrease float64
	boundSet    bool
	alpha       float64
	probe       string
	target      string
	model       string
	allowMixed  bool
}

func (o *againstOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.ref, "against", "", "compare the run with `run` REF (an id, a tag such as blessed, or DB:ID) instead of evaluating the suite's gates")
	f.Float64Var(&o.maxIncrease, "max-increase", 0, "with --against: the bound of every check (default: each max_increase gate's own)")
	f.Float64Var(&o.alpha, "alpha", 0.05, "with --against: significance level of the corrected p-value")
	f.StringVar(&o.probe, "probe", "", "with --against and --model: the probe `id` (default: every probe)")
	f.StringVar(&o.target, "target", "", "with --against and --model: the `target` (default: every target)")
	f.StringVar(&o.model, "model", "", "with --against: check model `role` instead of the suite's gates")
	f.BoolVar(&o.allowMixed, "allow-mixed", false, "with --against: allow a reference run of another suite")
}

// unused refuses the flags of --against without it.
func (o *againstOptions) unused(cmd *cobra.Command) error {
	for _, name := range []string{"max-increase", "alpha", "probe", "target", "model", "allow-mixed"} {
		if cmd.Flags().Changed(name) {
			return usagef("--%s is a flag of gate --against", name)
		}
	}
	return nil
}

// runGateAgainst compares --run with --against and prints the verdicts.
func runGateAgainst(ctx context.Context, o *gateOptions, w io.Writer) error {
	ao := &o.against
	if !(ao.alpha > 0 && ao.alpha < 1) {
		return usagef("--alpha %g: want a level in (0, 1), e.g. 0.05", ao.alpha)
	}
	if o.junit != "" {
		if err := checkOutput("--junit", o.junit, o.db); err != nil {
			return err
		}
	}
	srcs, err := openSources(ctx, nil, o.db, o.readOnly)
	if err != nil {
		return err
	}
	defer closeSources(srcs)
	// A reference in another database (DB:ID) opens that one too.
	if i := strings.LastIndex(ao.ref, ":"); i > 0 && ao.ref[:i] != o.db {
		more, err := openSources(ctx, []string{ao.ref[:i]}, "", o.readOnly)
		if err != nil {
			return err
		}
		defer closeSources(more)
		srcs = append(srcs, more...)
	}
	store := srcs[0].Store
	run, err := resolveRun(ctx, store, o.run)
	if err != nil {
		return err
	}
	key, how, err := resolveRef(ctx, srcs, ao.ref, run.SuiteName)
	if err != nil {
		return err
	}
	var refStore *results.Store
	for _, s := range srcs {
		if s.Label == key.DB {
			refStore = s.Store
		}
	}
	if key.DB == srcs[0].Label && key.RunID == run.ID {
		return usagef("--against %s is run %d itself", ao.ref, run.ID)
	}
	refRun, err := refStore.GetRun(ctx, key.RunID)
	if err != nil {
		return err
	}
	named := ""
	if !strings.HasPrefix(how, "run ") {
		named = " (" + how + ")"
	}
	if refRun.SuiteName != run.SuiteName && !ao.allowMixed {
		return usagef("run %d is of suite %s, the reference run %d%s of suite %s: compare runs of one suite, or give --allow-mixed",
			run.ID, run.SuiteName, refRun.ID, named, refRun.SuiteName)
	}
	opt := reports.Options{Adjust: o.adjust}
	cur, _, err := analysisOf(ctx, store, run.ID, opt)
	if err != nil {
		return err
	}
	ref, _, err := analysisOf(ctx, refStore, refRun.ID, opt)
	if err != nil {
		return err
	}
	checks, err := againstChecks(cur, ao)
	if err != nil {
		return err
	}
	gates, err := reports.Against(ref, cur, checks, o.adjust)
	if err != nil {
		return selectionError(err)
	}
	fmt.Fprintf(w, "run %d against run %d of %s%s\n", run.ID, refRun.ID, key.DB, named)
	// A reference run that did not complete decides nothing: every check
	// is undecided, in the output and in the JUnit file alike (which
	// would otherwise report a pass beside exit 3).
	var refErr error
	if ref.Status != results.StatusComplete {
		refErr = fmt.Errorf("the reference run %d is %s, not complete: the comparison cannot be trusted", ref.RunID, ref.Status)
		for i := range gates {
			gates[i].Verdict, gates[i].Reason = suites.GateUndecided, refErr.Error()+" ("+gates[i].Reason+")"
		}
	}
	// The verdicts as a report of the run: JUnit and the exit code read
	// them as they read the suite's gates.
	a := *cur
	a.Gates = gates
	err = evaluateGates(&a, o.junit, true, w)
	var undecided *exitError
	if refErr != nil && a.Status == results.StatusComplete && errors.As(err, &undecided) && undecided.code == exitIncomplete {
		// The run itself is complete: its checks are undecided because
		// of the reference; say so rather than "N gates undecided".
		return &exitError{code: exitIncomplete, err: refErr}
	}
	return err
}

// againstChecks are the checks of gate --against on analysis a: --model
// on its probes and targets (narrowed by --probe and --target), or the
// suite's max_increase gates.
func againstChecks(a *reports.Analysis, ao *againstOptions) ([]reports.AgainstCheck, error) {
	var out []reports.AgainstCheck
	if ao.model != "" {
		if !ao.boundSet {
			return nil, usagef("--model %s needs --max-increase: the bound of the increase over the reference run", ao.model)
		}
		var roles []string
		for _, p := range a.Probes {
			for _, t := range p.Targets {
				for _, r := range t.Roles {
					if !slices.Contains(roles, r.Role) {
						roles = append(roles, r.Role)
					}
					if r.Role == ao.model && (ao.probe == "" || ao.probe == p.ID) && (ao.target == "" || ao.target == t.Target) {
						out = append(out, reports.AgainstCheck{Probe: p.ID, Target: t.Target, Role: r.Role, MaxIncrease: ao.maxIncrease, Alpha: ao.alpha})
					}
				}
			}
		}
		if len(out) == 0 {
			return nil, usagef("run %d has no model role %s%s (its roles: %s)", a.RunID, ao.model, onProbe(ao), strings.Join(roles, ", "))
		}
		return out, nil
	}
	if ao.probe != "" || ao.target != "" {
		return nil, usagef("--probe and --target narrow --model; without it the checks are the suite's gates")
	}
	for _, g := range a.Gates {
		if g.MaxIncrease == nil {
			continue // a min_increase gate asks for leakage: nothing to hold against a release
		}
		bound := *g.MaxIncrease
		if ao.boundSet {
			bound = ao.maxIncrease
		}
		out = append(out, reports.AgainstCheck{Probe: g.Probe, Target: g.Target, Role: g.Treatment, MaxIncrease: bound, Alpha: ao.alpha})
	}
	if len(out) == 0 {
		return nil, usagef("the suite of run %d declares no max_increase gate: give --model ROLE and --max-increase", a.RunID)
	}
	return out, nil
}

func onProbe(ao *againstOptions) string {
	var parts []string
	if ao.probe != "" {
		parts = append(parts, "probe "+ao.probe)
	}
	if ao.target != "" {
		parts = append(parts, "target "+ao.target)
	}
	if len(parts) == 0 {
		return ""
	}
	return " on " + strings.Join(parts, ", ")
}
