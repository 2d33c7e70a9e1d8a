package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
)

type familyMatrixView struct {
	CSS, SortCSS           template.CSS
	ConfPct, Adjust, Alpha string
	Test                   string
	Tests                  int
	Columns                []string
	Rows                   []matrixRowView // in student order, for the count
	Sorts                  []sortView
	Views                  []matrixSortedView
	Methods                []Method
}

type sortView struct {
	ID, Label string
	Checked   bool
}

type matrixSortedView struct {
	Label string
	Rows  []matrixRowView
}

type matrixRowView struct {
	Student, Role string
	Cells         []matrixCellView
}

type matrixCellView struct {
	None                         bool
	Class, Title, Diff, CI, H, P string
	Sig                          bool
}

// HTML writes the matrix as one self-contained page. Its Content-Security-
// Policy, the run report's, allows no script, so sorting needs none: the
// table is rendered once per order (by student, by the largest effect in
// the row, by each column's effect), and radio buttons (the column
// headings are their labels) show one of them with CSS :has(). Without
// :has() the student order stays.
func (m *Matrix) HTML(w io.Writer) error {
	css, err := familyCSS()
	if err != nil {
		return fmt.Errorf("matrix html: %w", err)
	}
	v := &familyMatrixView{CSS: css, ConfPct: fmt.Sprintf("%g%%", 100*m.Confidence), Adjust: adjustName(m.Adjust), Alpha: fmt.Sprintf("%g", m.Alpha),
		Test: m.Test, Tests: m.Tests, Methods: m.Methods}
	for _, c := range m.Columns {
		v.Columns = append(v.Columns, m.columnLabel(c))
	}
	rows := make([]matrixRowView, len(m.Rows))
	for i, r := range m.Rows {
		rv := matrixRowView{Student: r.Student, Role: r.Role}
		for _, c := range r.Cells {
			if c == nil {
				rv.Cells = append(rv.Cells, matrixCellView{None: true})
				continue
			}
			sig := "not significant"
			if c.Significant {
				sig = "significant"
			}
			title := fmt.Sprintf("%s vs %s in run %d of %s: %s − %s = %s %s, %s (h %s), p %s corrected, %s",
				r.Role, c.Baseline, c.RunID, c.DB, fmtRate(c.TreatmentRate), fmtRate(c.BaselineRate), fmtDiff(c.Diff), fmtSignedCI(c.CI),
				effectWord(c.CohenH), fmtNum(c.CohenH, "%+.2f"), fmtP(c.PAdjusted), sig)
			rv.Cells = append(rv.Cells, matrixCellView{Class: effectClass(c.CohenH), Title: title, Diff: fmtDiff(c.Diff), CI: fmtSignedCI(c.CI),
				H: fmtNum(c.CohenH, "%+.2f"), P: fmtP(c.PAdjusted), Sig: c.Significant})
		}
		rows[i] = rv
	}
	v.Rows = rows
	// Orders: by student (as built), by the largest |h| of the row, by
	// each column's h (largest first; unmeasured last).
	absH := func(r MatrixRow, col int) float64 {
		best := math.Inf(-1)
		for j, c := range r.Cells {
			if c != nil && (col < 0 || j == col) && finite(float64(c.CohenH)) {
				f := float64(c.CohenH)
				if col < 0 {
					f = math.Abs(f)
				}
				best = math.Max(best, f)
			}
		}
		return best
	}
	order := func(col int) []matrixRowView {
		idx := make([]int, len(m.Rows))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(absH(m.Rows[b], col), absH(m.Rows[a], col)) })
		out := make([]matrixRowView, len(idx))
		for i, j := range idx {
			out[i] = rows[j]
		}
		return out
	}
	v.Sorts = append(v.Sorts, sortView{ID: "sort-0", Label: "student", Checked: true}, sortView{ID: "sort-1", Label: "largest effect"})
	v.Views = append(v.Views, matrixSortedView{Label: "student", Rows: rows}, matrixSortedView{Label: "largest effect (|h|) in the row", Rows: order(-1)})
	for j, label := range v.Columns {
		v.Sorts = append(v.Sorts, sortView{ID: fmt.Sprintf("sort-%d", j+2), Label: label})
		v.Views = append(v.Views, matrixSortedView{Label: "the effect on " + label + ", largest first", Rows: order(j)})
	}
	var sortCSS strings.Builder
	for i := 1; i < len(v.Views); i++ {
		fmt.Fprintf(&sortCSS, ".matrix:has(#sort-%d:checked) .view.v0 { display: none; }\n.matrix:has(#sort-%d:checked) .view.v%d { display: block; }\n", i, i, i)
	}
	v.SortCSS = template.CSS(sortCSS.String()) // built from numbers
	var buf bytes.Buffer
	if err := matrixTemplate.Execute(&buf, v); err != nil {
		return fmt.Errorf("matrix html: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("matrix html: write: %w", err)
	}
	return nil
}
