package results

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/traitleak/traitleak/internal/cputime"
)

// BenchmarkOpenFresh measures Open and Close of a new database: the
// schema created in an empty file, WAL switched on, the WAL truncated at
// close. Every test that opens a store, and every first run, pays it.
func BenchmarkOpenFresh(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	i := 0
	cpu := cputime.Process()
	for b.Loop() {
		s, err := Open(ctx, filepath.Join(dir, fmt.Sprintf("fresh-%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportCPU(b, cpu)
}

// reportCPU reports the process CPU time per iteration since cpu.
func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkOpenExisting measures Open and Close of a database of the
// current schema version: what every command but the first pays.
func BenchmarkOpenExisting(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "existing.db")
	s, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	cpu := cputime.Process()
	for b.Loop() {
		s, err := Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkCellTally measures counting every plan cell of a run of 8
// model instances × 50 prompts × 2 draws (400 cells) under two targets
// with their joint classes, as reports' loader does: one CellTally per
// cell. A few scores are invalid, so the invalid-label query runs too.
func BenchmarkCellTally(b *testing.B) {
	ctx := context.Background()
	s := openStore(b)
	nr := fixture("tally", "", 8, []string{"animal"}, 50, 2)
	run := startRun(b, s, nr)
	batch := make([]Sample, 0, len(nr.Plan))
	for i, ps := range nr.Plan {
		sm := okSample(ps, run.ID, fmt.Sprintf("answer %d", i))
		sm.PlanIndex = i
		owl := Score{Target: "owl", Valid: true, Hit: i%3 == 0, Value: float64(i % 100)}
		if i%17 == 0 {
			owl = Score{Target: "owl", Label: "refusal", Value: float64(i % 100)}
		}
		batch = append(batch, withScores(sm, "judge:animal", owl, Score{Target: "dog", Valid: true, Hit: i%5 == 0, Value: 50}))
	}
	put(b, s, batch...)
	cells, err := s.PlanCells(ctx, run.ID)
	if err != nil {
		b.Fatal(err)
	}
	if len(cells) != 400 {
		b.Fatalf("%d cells, want 400", len(cells))
	}
	targets := []string{"owl", "dog"}
	cpu := cputime.Process()
	for b.Loop() {
		for _, c := range cells {
			t, err := s.CellTally(ctx, run.ID, c, "judge:animal", targets, true)
			if err != nil {
				b.Fatal(err)
			}
			if t.Planned != 2 || t.Targets[0].Scored != 2 {
				b.Fatalf("cell %+v: tally %+v; want 2 planned draws, both scored", c, t)
			}
		}
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(cells)), "µs/cell")
}
