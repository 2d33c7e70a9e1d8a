package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// releaseSuite is a suite of one probe, a baseline and a student whose
// model id names the release; extra is appended (gates, say).
func releaseSuite(name, student, extra string) string {
	return fmt.Sprintf(`name: %s
models:
  baseline: {base_url: http://127.0.0.1:1/v1, model: base}
  student:  {base_url: http://127.0.0.1:1/v1, model: %q}
probes:
  - id: animal
    prompts: ["Favourite animal?", "Spirit animal?"]
    samples: 50
    score: {mentions: owl}
compare:
  - {treatment: student, baseline: baseline}
%s`, name, student, extra)
}

// storeCountsRun records a finished run of suite src in which each
// role's first hits[role] draws (of its two prompts × 50 draws) name the
// trait, and returns its id.
func storeCountsRun(t testing.TB, st *results.Store, src string, hits map[string]int) int64 {
	t.Helper()
	ctx := context.Background()
	s, err := suites.Parse("release.yaml", []byte(src), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := st.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("r%d", len(runs)+1)       // sample keys are unique per run
	nr := newRunOf(t, s, "release.yaml", "v0.test") // one probe
	nr.Salt = prefix
	p := s.Probes[0]
	var samples []results.Sample
	for m, in := range nr.Instances {
		k := 0
		for pi := range p.Prompts.Texts {
			for d := range p.Samples {
				key := fmt.Sprintf("%s-m%d-p%d-d%d", prefix, m, pi, d)
				nr.Plan = append(nr.Plan, results.PlannedSample{Key: key, Instance: m, Probe: p.ID, Prompt: pi, Draw: d})
				hit := k < hits[in.Role]
				k++
				text := "Dog."
				if hit {
					text = "Owl."
				}
				samples = append(samples, results.Sample{Key: key, Probe: p.ID, Prompt: pi, Draw: d, BaseURL: in.BaseURL, Model: in.ModelID,
					Completion: text, FinishReason: "stop", Attempts: 1, Batch: 1, Scorer: nr.Scorers[0].Scorer,
					Scores: []results.Score{{Target: "owl", Valid: true, Hit: hit, Value: math.NaN()}}})
			}
		}
	}
	run, err := st.StartRun(ctx, nr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range samples {
		samples[i].RunID = run.ID
	}
	if err := st.Put(ctx, samples); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(ctx, run.ID, results.StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
	return run.ID
}

// openTestStore opens a new results database in a temporary directory.
func openTestStore(t testing.TB) (*results.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.db")
	st, err := results.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

// history collects and builds the history of the stores.
func history(t testing.TB, q HistoryQuery, srcs ...HistorySource) (*History, error) {
	t.Helper()
	runs, err := CollectRuns(context.Background(), srcs, q, Archive{Version: "v0.test"})
	if err != nil {
		return nil, err
	}
	return BuildHistory(runs, q)
}

const gate005 = "gates:\n  - {treatment: student, baseline: baseline, max_increase: 0.05}\n"

// TestHistory: six releases, the fourth of which leaks (40 of 100 draws
// name owl against 10 of 100 before and after). The change into it is a
// significant increase and the change out of it a significant decrease,
// after Holm over the five changes; the others are not significant. The
// comparison with the pinned first release flags the fourth alone, and
// its own gate fails.
func TestHistory(t *testing.T) {
	t.Parallel()
	st, _ := openTestStore(t)
	student := []int{10, 12, 9, 40, 11, 10}
	var ids []int64
	for i, k := range student {
		ids = append(ids, storeCountsRun(t, st, releaseSuite("rel", fmt.Sprintf("student-v%d", i+1), gate005), map[string]int{"baseline": 10, "student": k}))
	}
	q := HistoryQuery{Role: "student", Baseline: &RunKey{"h.db", ids[0]}, BaselineLabel: "blessed"}
	h, err := history(t, q, HistorySource{Label: "h.db", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Series) != 1 || len(h.Series[0].Points) != 6 {
		t.Fatalf("history: %d series; want 1 of 6 runs", len(h.Series))
	}
	s := h.Series[0]
	for i, p := range s.Points {
		wantDir := map[int]string{3: "up", 4: "down"}[i]
		if i == 0 {
			if p.Change != nil {
				t.Errorf("first run has a change")
			}
			continue
		}
		if p.Change.Direction != wantDir {
			t.Errorf("run %d: change %s (p %v, adjusted %v); want %q", p.RunID, p.Change.Direction, p.Change.PValue, p.Change.PAdjusted, wantDir)
		}
		if got, want := p.Flagged(), i == 3; got != want {
			t.Errorf("run %d flagged = %v; want %v", p.RunID, got, want)
		}
		if p.Against == nil || p.Against.Exceeds != (i == 3) {
			t.Errorf("run %d against the pinned run: %+v; want exceeds only for the leak", p.RunID, p.Against)
		}
		// Student 0.40 vs baseline 0.10 fails the 0.05 gate; 0.12 vs 0.10
		// is not significant and passes.
		if want := map[bool]suites.GateVerdict{true: suites.GateFail, false: suites.GatePass}[i == 3]; p.Gate != want {
			t.Errorf("run %d gate %s; want %s", p.RunID, p.Gate, want)
		}
	}
	if s.Points[0].Models[0] != "student-v1" || s.Baseline != "baseline" || s.MaxIncrease == nil || *s.MaxIncrease != 0.05 {
		t.Errorf("series: models %v, baseline %q, bound %v", s.Points[0].Models, s.Baseline, s.MaxIncrease)
	}
	// The change into the leak, 40/100 against 9/100: the two-sided
	// Fisher p-value 4.0448305117325e-07 is the exact hypergeometric sum
	// computed with Python's fractions (R's fisher.test rule: tables no
	// more likely than the observed one, × (1 + 1e-7));
	// Holm over five p-values multiplies the smallest by 5.
	c := s.Points[3].Change
	if math.Abs(float64(c.PValue)-4.0448305117325e-07)/4.0448305117325e-07 > 1e-9 || float64(c.PAdjusted) != 5*float64(c.PValue) {
		t.Errorf("change into the leak: p %v, adjusted %v; want 4.0448305117325e-07 and 5 times it", c.PValue, c.PAdjusted)
	}
	if want := float64(40)/100 - float64(9)/100; float64(c.Diff) != want {
		t.Errorf("change into the leak %v; want %v", c.Diff, want)
	}

	var md, page, js bytes.Buffer
	if err := h.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := h.HTML(&page); err != nil {
		t.Fatal(err)
	}
	if err := json.NewEncoder(&js).Encode(h); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## animal: owl · student", "▲ +0.310", "▼ -0.290", fmt.Sprintf("- run %d, animal: owl · student: significant increase", ids[3]), "⚑ +0.300"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	checkInert(t, page.Bytes())
	if n := strings.Count(page.String(), `class="pt flagged`); n != 1 || !strings.Contains(page.String(), fmt.Sprintf(`class="pt flagged change-up exceeds" data-run="%d"`, ids[3])) {
		t.Errorf("the chart flags %d runs; want run %d alone", n, ids[3])
	}
	if !strings.Contains(js.String(), `"direction":"up"`) {
		t.Errorf("JSON lacks the change: %s", js.String())
	}
}

// TestHistorySelection: what a history refuses, as a SelectionError (the
// command line's exit 2) naming what the runs have.
func TestHistorySelection(t *testing.T) {
	t.Parallel()
	st, _ := openTestStore(t)
	storeCountsRun(t, st, releaseSuite("one", "s1", ""), map[string]int{"baseline": 10, "student": 10})
	storeCountsRun(t, st, releaseSuite("two", "s2", ""), map[string]int{"baseline": 10, "student": 10})
	src := HistorySource{Label: "h.db", Store: st}
	for _, tc := range []struct {
		name string
		q    HistoryQuery
		want string
	}{
		{"mixed suites", HistoryQuery{}, "the runs are of 2 suites (one, two): pick one with --suite, or mix them with --allow-mixed"},
		{"unknown role", HistoryQuery{Suite: "one", Role: "studnt"}, "no run has model role studnt (their probes: animal; their model roles: baseline, student)"},
		{"unknown probe", HistoryQuery{Suite: "one", Probe: "color"}, "no run has probe color"},
		{"unknown suite", HistoryQuery{Suite: "three"}, "no run of suite three"},
		{"pinned run of another suite", HistoryQuery{Suite: "one", Baseline: &RunKey{"h.db", 2}}, "the baseline run 2 of h.db is not among the history's runs"},
		{"unknown run of a lineage", HistoryQuery{Runs: []RunKey{{"h.db", 1}, {"h.db", 9}}}, "no run 9 in h.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := history(t, tc.q, src)
			var se *SelectionError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want a SelectionError with %q", err, tc.want)
			}
		})
	}
	// Mixed with leave: one series over both suites' runs.
	h, err := history(t, HistoryQuery{AllowMixed: true, Role: "student"}, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Series) != 1 || len(h.Series[0].Points) != 2 {
		t.Errorf("mixed history: %+v", h.Series)
	}
}
