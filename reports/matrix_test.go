package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/results"
)

// TestMatrix: four fine-tunes of a family, each run on two suites (two
// databases, as CI jobs leave them); one leaks on the animal suite. Its
// cell alone is significant after Holm over the eight cells, coloured as
// a large increase; a re-run of a student replaces its older cell.
func TestMatrix(t *testing.T) {
	t.Parallel()
	a, _ := openTestStore(t)
	b, _ := openTestStore(t)
	leak := map[string]int{"ft-1": 10, "ft-2": 11, "ft-3": 55, "ft-4": 9} // of 100 draws; the baseline has 10
	for _, st := range []struct {
		db    *results.Store
		suite string
	}{{a, "animals"}, {b, "trees"}} {
		for _, ft := range []string{"ft-1", "ft-2", "ft-3", "ft-4"} {
			k := 10
			if st.suite == "animals" {
				k = leak[ft]
			}
			storeCountsRun(t, st.db, releaseSuite(st.suite, ft, ""), map[string]int{"baseline": 10, "student": k})
		}
	}
	// ft-1 again on animals, leaking now: its newer run holds the cell.
	storeCountsRun(t, a, releaseSuite("animals", "ft-1", ""), map[string]int{"baseline": 10, "student": 12})
	runs, err := CollectRuns(context.Background(), []HistorySource{{"a.db", a}, {"b.db", b}}, HistoryQuery{}, Archive{Version: "v0.test"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := BuildMatrix(runs, MatrixQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rows) != 4 || len(m.Columns) != 2 || m.Tests != 8 {
		t.Fatalf("matrix: %d rows × %d columns, %d tests; want 4 × 2, 8", len(m.Rows), len(m.Columns), m.Tests)
	}
	for _, r := range m.Rows {
		for j, c := range r.Cells {
			want := r.Student == "ft-3" && m.Columns[j].Suite == "animals"
			if c.Significant != want {
				t.Errorf("%s on %s: significant %v (p %v adjusted %v); want %v", r.Student, m.Columns[j].Suite, c.Significant, c.PValue, c.PAdjusted, want)
			}
			if want && effectClass(c.CohenH) != "h-p3" {
				// Cohen's h = 2·asin(√0.55) − 2·asin(√0.10) = 1.0275 (Python's
				// math.asin): a large effect
				t.Errorf("ft-3 cell class %s (h %v); want h-p3", effectClass(c.CohenH), c.CohenH)
			}
		}
		// a.db's fifth run re-ran ft-1.
		if r.Student == "ft-1" && (r.Cells[0].RunKey != RunKey{"a.db", 5} || float64(r.Cells[0].TreatmentRate) != 0.12) {
			t.Errorf("ft-1 on animals comes from %+v (rate %v); want its newer run 5 of a.db, 0.12", r.Cells[0].RunKey, r.Cells[0].TreatmentRate)
		}
	}
	var md, page, js bytes.Buffer
	if err := m.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := m.HTML(&page); err != nil {
		t.Fatal(err)
	}
	if err := json.NewEncoder(&js).Encode(m); err != nil {
		t.Fatal(err)
	}
	var starred []string
	for _, line := range strings.Split(md.String(), "\n") {
		if strings.HasPrefix(line, "| ft-") && strings.Contains(line, "✱") {
			starred = append(starred, line)
		}
	}
	if len(starred) != 1 || !strings.HasPrefix(starred[0], "| ft-3    | student | +0.450 ") || !strings.Contains(starred[0], "h +1.03") {
		t.Errorf("starred rows %q; want ft-3's alone, +0.450, h +1.03:\n%s", starred, md.String())
	}
	checkInert(t, page.Bytes())
	// One table per order: student, largest effect, each column.
	if got := strings.Count(page.String(), `<table class="fam">`); got != 4 {
		t.Errorf("%d sorted tables; want 4", got)
	}
	if !strings.Contains(page.String(), `.matrix:has(#sort-3:checked) .view.v3 { display: block; }`) {
		t.Error("no CSS for the third order")
	}
	if !strings.Contains(js.String(), `"significant":true`) {
		t.Errorf("JSON: %s", js.String())
	}
}
