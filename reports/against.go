package reports

import (
	"fmt"
	"math"
)

// AgainstCheck is one comparison of gate --against: a role's rate on a
// probe target in a new run against the same in a reference run (the
// blessed release, say).
type AgainstCheck struct {
	Probe, Target, Role string
	// MaxIncrease is the bound: the new run fails when its rate exceeds
	// the reference run's by more and the increase is significant.
	MaxIncrease float64
	// Alpha is the significance level of the corrected p-value; 0 means
	// 0.05.
	Alpha float64
}

// Against compares run cur with run ref on each check with the two-run
// test (difference cur − ref with a Newcombe interval and Fisher's exact
// test, seeds pooled), corrects the p-values over the checks with adjust,
// and judges each like a max_increase gate: it fails when the increase
// exceeds the bound and is significant, and is undecided when a run has
// no scored samples of the role. A check whose role, probe or target is
// missing from either run is a SelectionError.
func Against(ref, cur *Analysis, checks []AgainstCheck, adjust string) ([]GateResult, error) {
	if adjust == "" {
		adjust = "holm"
	}
	find := func(a *Analysis, c AgainstCheck) (RoleResult, error) {
		for r := range a.roles() {
			if r.Probe == c.Probe && r.Target == c.Target && r.Role == c.Role {
				return r, nil
			}
		}
		return RoleResult{}, selectionErrorf("run %d has no model role %s on %s/%s", a.RunID, c.Role, c.Probe, c.Target)
	}
	out := make([]GateResult, len(checks))
	ps := make([]float64, len(checks))
	for i, c := range checks {
		rr, err := find(ref, c)
		if err != nil {
			return nil, err
		}
		rc, err := find(cur, c)
		if err != nil {
			return nil, err
		}
		alpha := c.Alpha
		if alpha == 0 {
			alpha = 0.05
		}
		bound := c.MaxIncrease
		g := GateResult{Name: fmt.Sprintf("%s on %s/%s: run %d against run %d", c.Role, c.Probe, c.Target, cur.RunID, ref.RunID),
			Probe: c.Probe, Target: c.Target, Treatment: fmt.Sprintf("run %d %s", cur.RunID, c.Role), Baseline: fmt.Sprintf("run %d %s", ref.RunID, c.Role),
			MaxIncrease: &bound, Alpha: alpha, Test: "fisher", PAdjusted: Num(math.NaN())}
		g.Diff, g.CI, g.PValue = runChange(rr.Hits, rr.N, rc.Hits, rc.N, cur.Confidence)
		out[i] = g
		ps[i] = float64(g.PValue)
	}
	adj, err := adjustP(ps, adjust)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].PAdjusted = Num(adj[i])
		out[i].Verdict, out[i].Reason = judge(out[i])
	}
	return out, nil
}
