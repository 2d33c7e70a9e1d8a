package reports

import (
	"fmt"
	"io"
	"iter"
	"math"

	"github.com/traitleak/traitleak/results"
)

// RunDiff is what changed between two runs (of one suite, or of two suites
// with the same probes and roles): for every probe, target and role they
// share, the rate in each run and a test of the difference.
type RunDiff struct {
	RunA       RunRef       `json:"a"`
	RunB       RunRef       `json:"b"`
	Confidence float64      `json:"confidence"`
	Adjust     string       `json:"p_adjust"`
	Rows       []RunDiffRow `json:"rows"`
	OnlyInA    []string     `json:"only_in_a,omitempty"`
	OnlyInB    []string     `json:"only_in_b,omitempty"`
	Methods    []Method     `json:"methods"`
}

// RunRef names a run in a comparison.
type RunRef struct {
	Label  string            `json:"label"` // as given on the command line
	RunID  int64             `json:"run_id"`
	Suite  string            `json:"suite"`
	Hash   string            `json:"suite_hash"`
	Status results.RunStatus `json:"status"`
}

// RunDiffRow compares one role's pooled rate on one probe target.
type RunDiffRow struct {
	Probe     string `json:"probe"`
	Target    string `json:"target"`
	Role      string `json:"model"`
	RateA     Num    `json:"rate_a"`
	NA        int    `json:"n_a"`
	RateB     Num    `json:"rate_b"`
	NB        int    `json:"n_b"`
	Diff      Num    `json:"diff"` // B − A
	CI        CI     `json:"ci"`
	PValue    Num    `json:"p_value"`
	PAdjusted Num    `json:"p_adjusted"`
}

// CompareRuns compares two analyses role by role. Rates pool seeds; the
// difference is run B minus run A with a Newcombe interval and a two-sided
// Fisher test, corrected over all rows with adjust.
func CompareRuns(labelA string, a *Analysis, labelB string, b *Analysis, adjust string) (*RunDiff, error) {
	if adjust == "" {
		adjust = "holm"
	}
	conf := a.Confidence
	d := &RunDiff{RunA: RunRef{labelA, a.RunID, a.Suite, a.SuiteHash, a.Status}, RunB: RunRef{labelB, b.RunID, b.Suite, b.SuiteHash, b.Status},
		Confidence: conf, Adjust: adjust}
	key := func(r RoleResult) string { return r.Probe + "/" + r.Target + "/" + r.Role }
	inB := map[string]RoleResult{}
	for r := range b.roles() {
		inB[key(r)] = r
	}
	inA := map[string]bool{}
	for ra := range a.roles() {
		inA[key(ra)] = true
		rb, ok := inB[key(ra)]
		if !ok {
			d.OnlyInA = append(d.OnlyInA, key(ra))
			continue
		}
		row := RunDiffRow{Probe: ra.Probe, Target: ra.Target, Role: ra.Role, RateA: ra.Rate, NA: ra.N, RateB: rb.Rate, NB: rb.N}
		row.Diff, row.CI, row.PValue = runChange(ra.Hits, ra.N, rb.Hits, rb.N, conf)
		d.Rows = append(d.Rows, row)
	}
	for rb := range b.roles() {
		if !inA[key(rb)] {
			d.OnlyInB = append(d.OnlyInB, key(rb))
		}
	}
	ps := make([]float64, len(d.Rows))
	for i, r := range d.Rows {
		ps[i] = float64(r.PValue)
	}
	adj, err := adjustP(ps, adjust)
	if err != nil {
		return nil, err
	}
	for i := range d.Rows {
		d.Rows[i].PAdjusted = Num(adj[i])
	}
	pct := fmt.Sprintf("%g%%", 100*conf)
	d.Methods = []Method{
		{Name: methodNewcombe, Used: pct + " interval of each change of rate, run B − run A, seeds pooled"},
		{Name: methodFisher, Used: "p-value of each change"},
		{Name: adjustName(adjust), Used: "correction over all rows"},
	}
	return d, nil
}

// runChange tests the change of a role's pooled rate from run A (hitsA
// of nA) to run B: the difference B − A with a Newcombe interval and a
// two-sided Fisher test, all NaN when a run has no scored samples. It is
// the two-run test of compare, history and gate --against.
func runChange(hitsA, nA, hitsB, nB int, conf float64) (diff Num, ci CI, p Num) {
	if nA == 0 || nB == 0 {
		return Num(math.NaN()), nanCI(methodNewcombe), Num(math.NaN())
	}
	rd := diffRates(hitsB, nB, hitsA, nA, conf)
	return rate(hitsB, nB) - rate(hitsA, nA), rd.CI, rd.PValue
}

// roles iterates the pooled role results of every probe target, in
// report order.
func (a *Analysis) roles() iter.Seq[RoleResult] {
	return func(yield func(RoleResult) bool) {
		for _, p := range a.Probes {
			for _, t := range p.Targets {
				for _, r := range t.Roles {
					if !yield(r) {
						return
					}
				}
			}
		}
	}
}

// Markdown writes the comparison of two runs.
func (d *RunDiff) Markdown(w io.Writer) error {
	m := &mdWriter{w: w}
	m.printf("# traitleak compare: %s vs %s\n\n", md(d.RunA.Label), md(d.RunB.Label))
	for _, r := range []RunRef{d.RunA, d.RunB} {
		m.printf("- %s: run %d of suite `%s` (content hash `%s`), %s\n", md(r.Label), r.RunID, md(r.Suite), shortHash(r.Hash), md(string(r.Status)))
	}
	m.printf("\n")
	var rows [][]string
	for _, r := range d.Rows {
		rows = append(rows, []string{md(r.Probe), md(r.Target), md(r.Role), fmtRate(r.RateA), fmt.Sprint(r.NA), fmtRate(r.RateB), fmt.Sprint(r.NB),
			fmtDiff(r.Diff), fmtSignedCI(r.CI), fmtP(r.PValue), fmtP(r.PAdjusted)})
	}
	pct := fmt.Sprintf("%g%%", 100*d.Confidence)
	m.table([]string{"probe", "target", "model", "rate A", "n A", "rate B", "n B", "change (B − A)", pct + " CI (" + methodNewcombe + ")",
		"p (Fisher)", "p (" + adjustName(d.Adjust) + ")"}, rows)
	if len(d.OnlyInA)+len(d.OnlyInB) > 0 {
		m.printf("Not compared: only in A: %s; only in B: %s.\n\n", md(fmt.Sprint(d.OnlyInA)), md(fmt.Sprint(d.OnlyInB)))
	}
	m.printf("## Methods\n\n")
	for _, me := range d.Methods {
		m.printf("- **%s**: %s.\n", md(me.Name), md(me.Used))
	}
	return m.err
}
