package results

import (
	"context"
	"sync"
	"testing"
)

// TestCellTallyLaterScorer checks that a scorer missing when a cell was
// first counted is found once a writer stores its scores: the store
// remembers scorer row ids found, never a scorer's absence.
func TestCellTallyLaterScorer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	nr := fixture("later", "", 1, []string{"p"}, 1, 2)
	run := startRun(t, s, nr)
	put(t, s, okSample(nr.Plan[0], run.ID, "Owl."), okSample(nr.Plan[1], run.ID, "Dog."))
	cells, err := s.PlanCells(ctx, run.ID)
	if err != nil || len(cells) != 1 {
		t.Fatalf("PlanCells = %v, %v; want one cell", cells, err)
	}
	count := func() TargetTally {
		t.Helper()
		tally, err := s.CellTally(ctx, run.ID, cells[0], "judge:1", []string{"owl"}, false)
		if err != nil {
			t.Fatal(err)
		}
		return tally.Targets[0]
	}
	// No scorer row yet: both successful draws are unscored.
	if got := count(); got.Scored != 0 {
		t.Fatalf("before scoring: %+v, want 0 scored", got)
	}
	if err := s.PutScores(ctx, "judge:1", []ScoredSample{{Key: nr.Plan[0].Key, Scores: []Score{hit("owl")}}}); err != nil {
		t.Fatal(err)
	}
	// The scorer's row now exists and holds one hit.
	if got := count(); got.Scored != 1 || got.Hits != 1 {
		t.Errorf("after scoring draw 0: %+v, want 1 scored, 1 hit", got)
	}
	if err := s.PutScores(ctx, "judge:1", []ScoredSample{{Key: nr.Plan[1].Key, Scores: []Score{miss("owl")}}}); err != nil {
		t.Fatal(err)
	}
	// The remembered id finds the second score too.
	if got := count(); got.Scored != 2 || got.Hits != 1 {
		t.Errorf("after scoring draw 1: %+v, want 2 scored, 1 hit", got)
	}
}

// TestCellTallyConcurrent counts the cells of a run from several
// goroutines at once, one of them inside a Rows loop that holds a reader:
// every tally is the one counted alone (run it with -race). Only one
// goroutine holds a cursor while it counts: the store has four readers,
// and four loops each waiting for a fifth would wait for ever, prepared
// statements or not.
func TestCellTallyConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	_, run := cellFixture(t, s)
	cells, err := s.PlanCells(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	targets := []string{"owl", "dog"}
	want := make([]CellTally, len(cells))
	for i, c := range cells {
		if want[i], err = s.CellTally(ctx, run.ID, c, "judge:"+c.Probe, targets, true); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r, err := range s.Rows(ctx, run.ID, func(p string) string { return "judge:" + p }) {
				if err != nil {
					errs <- err
					return
				}
				if g > 0 {
					break
				}
				// A tally inside a Rows loop, whose cursor holds a reader.
				got, err := s.CellTally(ctx, run.ID, cells[0], "judge:"+r.Probe, targets, true)
				if err != nil {
					errs <- err
					return
				}
				if got.Planned != want[0].Planned || got.Stored != want[0].Stored {
					t.Errorf("cell 0 counted inside Rows: %+v, want %+v", got, want[0])
				}
				break
			}
			for i, c := range cells {
				got, err := s.CellTally(ctx, run.ID, c, "judge:"+c.Probe, targets, true)
				if err != nil {
					errs <- err
					return
				}
				if got.Planned != want[i].Planned || got.Stored != want[i].Stored || got.Failed != want[i].Failed ||
					got.Targets[0].Scored != want[i].Targets[0].Scored || got.Targets[1].Hits != want[i].Targets[1].Hits ||
					len(got.Joint) != len(want[i].Joint) {
					t.Errorf("cell %d counted concurrently: %+v, want %+v", i, got, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
