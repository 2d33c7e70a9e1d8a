package reports

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// BenchmarkHistory200 measures a history of 200 runs whose analyses are
// stored (as run stores them): reading the runs and their figures,
// building the series with their 199 changes, and rendering Markdown and
// the HTML page with its chart. The acceptance bound is 1 s per history
// (issue 17); see the ns/op of "collect+build+html".
func BenchmarkHistory200(b *testing.B) {
	ctx := context.Background()
	st, _ := openTestStore(b)
	ar := Archive{Version: "v0.test"}
	for k := 1; k <= 200; k++ {
		id := storeCountsRun(b, st, releaseSuite("rel", fmt.Sprintf("release-%03d", k), gate005), map[string]int{"baseline": 10, "student": 8 + k%7})
		if _, prov, err := ar.Analysis(ctx, st, id, Options{}); err != nil || prov.AnalysisID == 0 {
			b.Fatalf("store the analysis of run %d: %+v, %v", id, prov, err)
		}
	}
	q := HistoryQuery{Role: "student", Baseline: &RunKey{"h.db", 1}, BaselineLabel: "tagged blessed"}
	src := []HistorySource{{Label: "h.db", Store: st}}
	build := func(b *testing.B) *History {
		runs, err := CollectRuns(ctx, src, q, ar)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range runs {
			if !strings.HasPrefix(r.Source, "stored analysis") {
				b.Fatalf("run %d was analysed again: %s", r.Run.ID, r.Source)
			}
		}
		h, err := BuildHistory(runs, q)
		if err != nil {
			b.Fatal(err)
		}
		if len(h.Series) != 1 || len(h.Series[0].Points) != 200 {
			b.Fatalf("%d series", len(h.Series))
		}
		return h
	}
	b.Run("collect+build", func(b *testing.B) {
		for b.Loop() {
			build(b)
		}
	})
	b.Run("collect+build+md", func(b *testing.B) {
		for b.Loop() {
			if err := build(b).Markdown(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("collect+build+html", func(b *testing.B) {
		for b.Loop() {
			if err := build(b).HTML(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}
