package reports

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/traitleak/traitleak/results"
)

// A family matrix puts many students side by side: one row per student
// (a treatment role, named by its model ids), one column per probe
// target, and in each cell the student's difference to its baseline role
// in its newest complete run that measured it, with the interval and the
// test's p-value corrected over every cell of the matrix.

// MatrixQuery selects and tunes a family matrix.
type MatrixQuery struct {
	// Suite, Probe and Target keep one suite, probe and target; "" keeps
	// all.
	Suite, Probe, Target string
	// Test is the test whose p-values the cells show: "fisher" (samples
	// pooled; the default), "paired" (prompts as units) or "seeds" (seeds
	// as units), as a gate's test.
	Test string
	// Options are the settings of the per-run analyses; Adjust also
	// corrects the matrix's cells.
	Options Options
	// Alpha is the level at which a cell is significant; 0 means 0.05.
	Alpha float64
}

// Matrix is a family matrix.
type Matrix struct {
	Confidence float64        `json:"confidence"`
	Adjust     string         `json:"p_adjust"`
	Alpha      float64        `json:"alpha"`
	Test       string         `json:"test"`
	Columns    []MatrixColumn `json:"columns"`
	Rows       []MatrixRow    `json:"rows"`
	// Tests counts the cells with a p-value: the corrected family.
	Tests   int      `json:"tests"`
	Methods []Method `json:"methods"`
}

// MatrixColumn is a probe target of a suite.
type MatrixColumn struct {
	Suite  string `json:"suite"`
	Probe  string `json:"probe"`
	Target string `json:"target"`
}

// MatrixRow is one student: a treatment role served as Models.
type MatrixRow struct {
	Student string   `json:"student"` // the model ids, joined
	Role    string   `json:"model"`
	Models  []string `json:"model_ids"`
	// Cells are parallel to Matrix.Columns; nil where the student was not
	// measured.
	Cells []*MatrixCell `json:"cells"`
}

// MatrixCell is a student's comparison with its baseline role on one
// probe target.
type MatrixCell struct {
	RunKey
	Baseline      string `json:"baseline"`
	TreatmentRate Num    `json:"treatment_rate"`
	BaselineRate  Num    `json:"baseline_rate"`
	Diff          Num    `json:"diff"`
	CI            CI     `json:"ci"`
	CohenH        Num    `json:"cohen_h"`
	Test          string `json:"test"` // the method of PValue
	PValue        Num    `json:"p_value"`
	PAdjusted     Num    `json:"p_adjusted"` // over the matrix's cells
	Significant   bool   `json:"significant"`
}

// Effect-size bins of a cell's colour: Cohen's (1988) conventions for h,
// 0.2 small, 0.5 medium, 0.8 large.
var effectBins = []float64{0.2, 0.5, 0.8}

// effectClass is the colour class of an effect size: h-0 below 0.2, then
// h-p1…h-p3 for increases and h-n1…h-n3 for decreases.
func effectClass(h Num) string {
	f := float64(h)
	if !finite(f) {
		return "h-0"
	}
	k := 0
	for _, b := range effectBins {
		if math.Abs(f) >= b {
			k++
		}
	}
	switch {
	case k == 0:
		return "h-0"
	case f > 0:
		return fmt.Sprintf("h-p%d", k)
	}
	return fmt.Sprintf("h-n%d", k)
}

// effectWord names an effect size's bin.
func effectWord(h Num) string {
	f := math.Abs(float64(h))
	switch {
	case !finite(f):
		return "undefined effect"
	case f >= 0.8:
		return "large effect"
	case f >= 0.5:
		return "medium effect"
	case f >= 0.2:
		return "small effect"
	}
	return "negligible effect"
}

// BuildMatrix builds the family matrix of runs (read by CollectRuns):
// every complete run's comparisons, the newest per student and probe
// target, with the chosen test's p-values corrected over all cells.
func BuildMatrix(runs []HistoryRun, q MatrixQuery) (*Matrix, error) {
	opt := q.Options.normalized()
	test := q.Test
	if test == "" {
		test = "fisher"
	}
	kind, ok := map[string]string{"fisher": results.TestPooled, "paired": results.TestPaired, "seeds": results.TestSeeds}[test]
	if !ok {
		return nil, selectionErrorf("test %q: want fisher, paired or seeds", test)
	}
	alpha := q.Alpha
	if alpha == 0 {
		alpha = 0.05
	}
	m := &Matrix{Confidence: opt.Confidence, Adjust: opt.Adjust, Alpha: alpha, Test: test}
	// Newest runs first: the first cell found for a student and column
	// is the one kept.
	runs = slices.Clone(runs)
	slices.SortStableFunc(runs, func(a, b HistoryRun) int { return b.Run.CreatedAt.Compare(a.Run.CreatedAt) })
	colAt := map[MatrixColumn]int{}
	rowAt := map[string]int{}
	type cellKey struct{ row, col int }
	cells := map[cellKey]*MatrixCell{}
	complete := 0
	for _, r := range runs {
		if r.Run.Status != results.StatusComplete {
			continue
		}
		complete++
		for _, c := range r.Analysis.Comparisons {
			var models []string
			for _, in := range r.Models {
				if in.Role == c.Treatment && !slices.Contains(models, in.ModelID) {
					models = append(models, in.ModelID)
				}
			}
			student := strings.Join(models, ", ")
			rk := student + "\x00" + c.Treatment
			ri, ok := rowAt[rk]
			if !ok {
				ri = len(m.Rows)
				rowAt[rk] = ri
				m.Rows = append(m.Rows, MatrixRow{Student: student, Role: c.Treatment, Models: models})
			}
			col := MatrixColumn{Suite: r.Run.SuiteName, Probe: c.Probe, Target: c.Target}
			ci, ok := colAt[col]
			if !ok {
				ci = len(m.Columns)
				colAt[col] = ci
				m.Columns = append(m.Columns, col)
			}
			if cells[cellKey{ri, ci}] != nil {
				continue // a newer run, or an earlier comparison of this run, holds the cell
			}
			cell := &MatrixCell{RunKey: RunKey{r.DB, r.Run.ID}, Baseline: c.Baseline, TreatmentRate: Num(c.TreatmentRate), BaselineRate: Num(c.BaselineRate),
				Diff: Num(math.NaN()), CI: nanCI(methodNewcombe), CohenH: Num(c.CohenH), Test: test, PValue: Num(math.NaN()), PAdjusted: Num(math.NaN())}
			for _, t := range c.Tests {
				if t.Kind == kind {
					cell.Diff, cell.CI, cell.Test, cell.PValue = Num(t.Diff), storedCI(t.CI), t.Method, Num(t.PValue)
				}
			}
			cells[cellKey{ri, ci}] = cell
		}
	}
	if complete == 0 {
		return nil, selectionErrorf("no complete run to put in a matrix")
	}
	if len(m.Rows) == 0 {
		return nil, selectionErrorf("the runs compare no roles (their suites have no compare entries or gates)")
	}
	// Columns in suite, probe and target order of first appearance in
	// the oldest run; rows by student.
	slices.SortStableFunc(m.Columns, func(a, b MatrixColumn) int { return cmp.Compare(a.Suite, b.Suite) })
	for i := range m.Rows {
		row := &m.Rows[i]
		ri := rowAt[row.Student+"\x00"+row.Role]
		row.Cells = make([]*MatrixCell, len(m.Columns))
		for j, col := range m.Columns {
			row.Cells[j] = cells[cellKey{ri, colAt[col]}]
		}
	}
	slices.SortStableFunc(m.Rows, func(a, b MatrixRow) int {
		return cmp.Or(cmp.Compare(a.Student, b.Student), cmp.Compare(a.Role, b.Role))
	})
	var family []*MatrixCell
	for _, row := range m.Rows {
		for _, c := range row.Cells {
			if c != nil && finite(float64(c.PValue)) {
				family = append(family, c)
			}
		}
	}
	m.Tests = len(family)
	ps := make([]float64, len(family))
	for i, c := range family {
		ps[i] = float64(c.PValue)
	}
	adj, err := adjustP(ps, opt.Adjust)
	if err != nil {
		return nil, err
	}
	for i, c := range family {
		c.PAdjusted = Num(adj[i])
		c.Significant = adj[i] < alpha
	}
	pct := fmt.Sprintf("%g%%", 100*m.Confidence)
	m.Methods = []Method{
		{Name: "cells", Used: "each student's comparison with its baseline role on the probe target, in the newest complete run that measured it (from its stored analysis)"},
		{Name: "difference and interval", Used: fmt.Sprintf("%s interval of the %s test's difference", pct, test)},
		{Name: adjustName(m.Adjust), Used: fmt.Sprintf("correction of the %s test's p-values over the %d cells of the matrix; ✱ marks a cell significant at α = %g", test, m.Tests, m.Alpha)},
		{Name: "Cohen's h", Used: "effect size of the pooled rates, 2·asin(√p₁) − 2·asin(√p₂); a cell's colour is its bin (Cohen 1988: 0.2 small, 0.5 medium, 0.8 large), red for an increase and blue for a decrease (ColorBrewer RdBu, colour-blind safe), and the sign and figures are printed in every cell"},
	}
	return m, nil
}

// columnLabel names a column: "probe: target", with the suite when the
// matrix spans several.
func (m *Matrix) columnLabel(c MatrixColumn) string {
	suites := map[string]bool{}
	for _, x := range m.Columns {
		suites[x.Suite] = true
	}
	if len(suites) > 1 {
		return c.Suite + " / " + c.Probe + ": " + c.Target
	}
	return c.Probe + ": " + c.Target
}

// cellText is a cell in words: difference, interval, effect size and the
// corrected p-value, with ✱ when significant.
func (m *Matrix) cellText(c *MatrixCell) string {
	if c == nil {
		return "–"
	}
	sig := ""
	if c.Significant {
		sig = " ✱"
	}
	return fmt.Sprintf("%s %s h %s p %s%s", fmtDiff(c.Diff), fmtSignedCI(c.CI), fmtNum(c.CohenH, "%+.2f"), fmtP(c.PAdjusted), sig)
}

// Markdown writes the matrix as one table, rows by student.
func (m *Matrix) Markdown(w io.Writer) error {
	mw := &mdWriter{w: w}
	mw.printf("# traitleak family matrix\n\n")
	mw.printf("Each cell: the student's difference to its baseline role (%g%% CI), Cohen's h, and the %s test's p-value corrected (%s) over the %d cells; ✱ marks a significant cell (α = %g). – : not measured.\n\n",
		100*m.Confidence, m.Test, adjustName(m.Adjust), m.Tests, m.Alpha)
	header := []string{"student", "model"}
	for _, c := range m.Columns {
		header = append(header, md(m.columnLabel(c)))
	}
	var rows [][]string
	for _, r := range m.Rows {
		row := []string{md(r.Student), md(r.Role)}
		for _, c := range r.Cells {
			row = append(row, md(m.cellText(c)))
		}
		rows = append(rows, row)
	}
	mw.table(header, rows)
	mw.printf("## Methods\n\n")
	for _, me := range m.Methods {
		mw.printf("- **%s**: %s.\n", md(me.Name), md(me.Used))
	}
	return mw.err
}
