package reports

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/sequential"
)

// replaySequentialRows is the replay loadSequential did before it read
// windows of draws (kept as the oracle of TestSequentialWindows): every
// planned draw of the run, in plan order, recorded into one Tracker,
// which then reads every rule's rounds at once.
func replaySequentialRows(ctx context.Context, t *testing.T, store *results.Store, d *RunData) []sequential.State {
	t.Helper()
	o, err := openRun(ctx, store, d.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := sequential.Rules(d.Suite)
	if err != nil {
		t.Fatal(err)
	}
	roles := make([]string, len(d.Instances))
	for _, m := range d.Instances {
		roles[m.Index] = m.Role
	}
	prompts := map[string]int{}
	for _, p := range d.Prompts {
		prompts[p.Probe]++
	}
	tr, err := sequential.NewTracker(rules, roles, prompts)
	if err != nil {
		t.Fatal(err)
	}
	ruled := tr.Targets()
	for row, err := range o.rows(ctx, store) {
		if err != nil {
			t.Fatal(err)
		}
		if ruled[row.Probe] == nil {
			continue
		}
		st := results.DrawState{Stored: row.Stored, Failed: row.Stored && row.Sample.Failed(), Scores: row.Scores}
		tr.RecordDraw(row.Instance, row.Probe, row.Prompt, row.Draw, st)
	}
	tr.Advance()
	return tr.States()
}

// TestSequentialWindows checks that Load's windowed replay of the
// sequential rules gives the states of the replay over every stored row
// (replaySequentialRows) on storeSeqRun's run, whose leak gate fails at
// some round, whose flaky gate waits at round 2 on a failed draw while
// the width rule on base reads on, for windows of 1, 2, 3 and 30 draws
// (the run has 30 per prompt) and the default.
func TestSequentialWindows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := results.Open(ctx, filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runID, _ := storeSeqRun(t, st)
	d, err := Load(ctx, st, runID)
	if err != nil {
		t.Fatal(err)
	}
	want := replaySequentialRows(ctx, t, st, d)
	// The run is a case of each: a gate decided, a gate waiting, a
	// width rule (on base, which the flaky draw does not block).
	if len(want) != 3 || !want[0].Done() || want[1].Blocked == nil || want[1].Blocked.Round != 2 || want[2].Rounds < 2 {
		t.Fatalf("oracle states = %+v; want the leak gate done, the flaky gate waiting at round 2, the width rule past round 1", want)
	}
	// 15 plan cells (3 instances × 5 prompts) per probe: windows of
	// seqWindowDraws/15 draws.
	for _, draws := range []int{1, 30, 45, 450, 1 << 14} {
		d, err := load(ctx, st, runID, loadBounds{seqWindow: draws})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := statesString(d.Sequential), statesString(want); got != want {
			t.Errorf("windows of %d draws: states\n%s\nwant\n%s", max(1, draws/15), got, want)
		}
	}
}

// statesString prints states with their Blocked rounds (not pointers),
// NaN equal to NaN.
func statesString(states []sequential.State) string {
	var b strings.Builder
	for _, s := range states {
		blocked := "none"
		if s.Blocked != nil {
			blocked = fmt.Sprintf("%+v", *s.Blocked)
		}
		s.Blocked = nil
		fmt.Fprintf(&b, "%+v blocked %s\n", s, blocked)
	}
	return b.String()
}

// TestAgreementCounted checks the judge agreement of runs past
// maxRatingSamples, whose ratings keep counts of scores instead of the
// scores in order, against the computation from every score in order
// (the same runs under the default bound): on randomRun's runs, whose
// two judges score the em probe with ties and gaps. Kappa and its
// interval, the observed agreement, n, alpha and its units are the same
// numbers, and the notes the same words; alpha's bootstrap interval is
// another draw of the same bootstrap, so its bounds are within Monte
// Carlo error (a quarter of the half-width) of the ones in order. Load
// and Add over every row still agree.
func TestAgreementCounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for seed := range uint64(6) {
		st, _ := openTestStore(t)
		runID := randomRun(t, st, seed)
		analyze := func(d *RunData) []Agreement {
			t.Helper()
			a, err := Analyze(d, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Agreements) != 1 {
				t.Fatalf("seed %d: %d agreements; want 1 (ja and jb on em)", seed, len(a.Agreements))
			}
			return a.Agreements
		}
		d, err := Load(ctx, st, runID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Ratings["em"].Counted {
			t.Fatalf("seed %d: ratings counted under the default bound", seed)
		}
		want := analyze(d)[0]
		if d, err = load(ctx, st, runID, loadBounds{ratings: 10}); err != nil {
			t.Fatal(err)
		}
		if r := d.Ratings["em"]; !r.Counted || r.Values != nil {
			t.Fatalf("seed %d: %d values kept past the bound of 10 samples", seed, len(r.Values)/2)
		}
		if g, w := dumpData(d), dumpData(rowsDataWithin(t, st, runID, loadBounds{ratings: 10})); g != w {
			t.Fatalf("seed %d: Load differs from Add over Rows:\n%s", seed, lineDiff(g, w))
		}
		got := analyze(d)[0]
		tol := 0.25 * float64(want.AlphaCI.High-want.AlphaCI.Low) / 2
		if math.Abs(float64(got.Alpha-want.Alpha)) > 1e-12 || math.Abs(float64(got.AlphaCI.Low-want.AlphaCI.Low)) > tol ||
			math.Abs(float64(got.AlphaCI.High-want.AlphaCI.High)) > tol || got.AlphaCI.Method != want.AlphaCI.Method {
			t.Errorf("seed %d: alpha %.4f [%.4f, %.4f]; in order %.4f [%.4f, %.4f] (tolerance %.4f)", seed,
				got.Alpha, got.AlphaCI.Low, got.AlphaCI.High, want.Alpha, want.AlphaCI.Low, want.AlphaCI.High, tol)
		}
		got.Alpha, got.AlphaCI = want.Alpha, want.AlphaCI
		if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
			t.Errorf("seed %d: agreement\n%s\nwant\n%s", seed, g, w)
		}
	}
}
