package results

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sameValue is reflect.DeepEqual with NaN equal to NaN.
func sameValue(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		x, y := a.Float(), b.Float()
		return x == y || math.IsNaN(x) && math.IsNaN(y)
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		if a.Type() == reflect.TypeFor[time.Time]() {
			return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
		}
		for i := range a.NumField() {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			if !b.MapIndex(k).IsValid() || !sameValue(a.MapIndex(k), b.MapIndex(k)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// sampleAnalysis is an analysis of run runID with every kind of figure
// and the values the tables must keep apart: NaN (NULL), ±Inf, a pointer
// to zero and a nil pointer, invalid counts and a NaN seed rate.
func sampleAnalysis(runID int64, settings string) *StoredAnalysis {
	zero, bound := 0.0, 0.03
	lo, hi := 0.5, 0.7
	nan := math.NaN()
	return &StoredAnalysis{RunID: runID, Settings: settings, Confidence: 0.95, Adjust: "holm", Fingerprint: "fp", Format: "f1", Version: "v0.test",
		RunStatus: StatusComplete, RunUpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Tree: []byte(`{"tree":1}`),
		Methods: []MethodRow{{"Wilson score", "intervals"}, {"Holm", "correction"}},
		Rates: []RateRow{
			{Level: LevelInstance, Probe: "p", Target: "owl", Role: "student", Seed: "a", Seeds: 1, N: 40, Hits: 10, Failed: 1, Missing: 2,
				Invalid: map[string]int{"refusal": 3}, Rate: 0.25, CI: Interval{0.14, 0.4, "Wilson score"}},
			{Level: LevelInstance, Probe: "p", Target: "owl", Role: "baseline", Seeds: 1, Rate: nan, CI: Interval{nan, nan, "Wilson score"}},
			{Level: LevelRole, Probe: "p", Target: "owl", Role: "student", Condition: "treatment", Seeds: 2, N: 80, Hits: 20, Rate: 0.25,
				CI: Interval{0.17, 0.35, "Wilson score"}, Clustered: &ClusterRow{Clusters: 2, SE: 0.01, DesignEffect: 1.2, CI: Interval{0.2, 0.3, "CR1"}},
				SeedMean: &SeedMeanRow{Mean: 0.25, CI: Interval{-0.1, 0.6, "t"}, Values: []float64{0.25, nan}}},
		},
		Comparisons: []ComparisonRow{{Probe: "p", Target: "owl", Treatment: "student", Baseline: "baseline", TreatmentRate: 0.25, BaselineRate: 0,
			TreatmentN: 80, BaselineN: 80, Diff: 0.25, CohenH: 1.05, OddsRatio: math.Inf(1), OddsRatioCI: Interval{4.2, math.Inf(1), "CMLE"},
			Tests: []TestRow{{Kind: TestPooled, Method: "Fisher", Diff: 0.25, CI: Interval{0.15, 0.35, "Newcombe"}, PValue: 1e-8, PAdjusted: 2e-8},
				{Kind: TestPaired, Method: "paired t", Units: 2, Diff: 0.25, CI: Interval{-1, 1.5, "t"}, PValue: 0.2, PAdjusted: nan}}}},
		Gates: []GateRow{{Name: "g", Probe: "p", Target: "owl", Treatment: "student", Baseline: "baseline", MaxIncrease: &zero, Alpha: 0.05, Test: "fisher",
			Diff: 0.25, CI: Interval{0.15, 0.35, "Newcombe"}, PValue: 1e-8, PAdjusted: 2e-8, Verdict: "fail", Rule: "fails when …", Reason: "because"},
			{Name: "h", Probe: "p", Target: "owl", Treatment: "student", Baseline: "baseline", MinIncrease: &bound, Alpha: 0.01, Test: "seeds",
				Diff: nan, CI: Interval{nan, nan, ""}, PValue: nan, PAdjusted: nan, Verdict: "undecided", Rule: "passes when …", Reason: "no data"}},
		References: []PublishedRow{{Probe: "p", Target: "owl", Label: "paper", Model: "GPT-4.1 nano", Condition: "treatment", Rate: 0.6, Low: &lo, High: &hi,
			Bound: "", Source: "arXiv", Note: "n"}, {Probe: "p", Target: "owl", Label: "bound", Rate: 0.6, Bound: ">"}},
		Notes: []string{"Wilson interval (p/owl baseline): n = 0"},
	}
}

// TestAnalysisRoundTrip: an analysis reads back exactly as stored, NULL
// for NaN, ±Inf kept, a bound of 0 apart from no bound.
func TestAnalysisRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	run := startRun(t, s, fixture("suite", "salt", 2, []string{"p"}, 1, 1))
	want := sampleAnalysis(run.ID, `{"Confidence":0.95}`)
	id, err := s.PutAnalysis(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAnalysis(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want.ID, want.CreatedAt = id, got.CreatedAt
	if got.CreatedAt.IsZero() {
		t.Error("no creation time")
	}
	if !sameValue(reflect.ValueOf(*got), reflect.ValueOf(*want)) {
		t.Errorf("read back\n%+v\nwant\n%+v", *got, *want)
	}
	// NaN is NULL in the tables, +Inf a real infinity.
	if n := queryString(t, s.db, `SELECT count(*) FROM analysis_rates WHERE analysis_id = ? AND rate IS NULL`, id); n != "1" {
		t.Errorf("%s NULL rates; want 1", n)
	}
	if v := queryString(t, s.db, `SELECT or_high > 1e308 FROM analysis_comparisons WHERE analysis_id = ?`, id); v != "1" {
		t.Errorf("or_high > 1e308 = %s; want 1 (+Inf)", v)
	}
	if _, err := s.GetAnalysis(ctx, id+1); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetAnalysis of a missing id: %v; want ErrNotFound", err)
	}
}

// TestAnalysesAddUp: storing again adds an analysis and never changes
// one; lookups give the newest that matches, per run and settings.
func TestAnalysesAddUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	r1 := startRun(t, s, fixture("suite", "one", 1, []string{"p"}, 1, 1))
	r2 := startRun(t, s, fixture("suite", "two", 1, []string{"p"}, 1, 1))
	put := func(run int64, settings, fp string) int64 {
		t.Helper()
		a := sampleAnalysis(run, settings)
		a.Fingerprint = fp
		id, err := s.PutAnalysis(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a1 := put(r1.ID, "S", "fp1")
	a2 := put(r1.ID, "S", "fp1") // the same again: a second row
	a3 := put(r1.ID, "T", "fp1")
	a4 := put(r2.ID, "S", "fp2")
	if n := queryString(t, s.db, `SELECT count(*) FROM analyses`); n != "4" {
		t.Errorf("%s analyses; want 4", n)
	}
	found, err := s.FindAnalysis(ctx, AnalysisMatch{RunID: r1.ID, Settings: "S", Fingerprint: "fp1", Format: "f1", Version: "v0.test"})
	if err != nil || found.ID != a2 || string(found.Tree) != `{"tree":1}` {
		t.Errorf("FindAnalysis = %+v, %v; want the newer analysis %d (not %d) with its tree", found, err, a2, a1)
	}
	for _, m := range []AnalysisMatch{
		{RunID: r1.ID, Settings: "S", Fingerprint: "other", Format: "f1", Version: "v0.test"}, // the data changed
		{RunID: r1.ID, Settings: "S", Fingerprint: "fp1", Format: "f2", Version: "v0.test"},   // another tree layout
		{RunID: r1.ID, Settings: "S", Fingerprint: "fp1", Format: "f1", Version: "v1"},        // another traitleak
		{RunID: r1.ID, Settings: "U", Fingerprint: "fp1", Format: "f1", Version: "v0.test"},   // other settings
	} {
		if _, err := s.FindAnalysis(ctx, m); !errors.Is(err, ErrNotFound) {
			t.Errorf("FindAnalysis(%+v): %v; want ErrNotFound", m, err)
		}
	}
	latest, err := s.LatestAnalyses(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 2 || latest[r1.ID].ID != a2 || latest[r2.ID].ID != a4 {
		t.Errorf("LatestAnalyses(S) = %v; want run %d → %d, run %d → %d", latest, r1.ID, a2, r2.ID, a4)
	}
	// Figures filtered by role: the student's rates, comparisons and
	// gates, and the references of the probe target.
	as := map[int64]*StoredAnalysis{a3: {ID: a3}, a4: {ID: a4}}
	if err := s.ReadFigures(ctx, as, FigureFilter{Role: "student", Level: LevelRole}); err != nil {
		t.Fatal(err)
	}
	for id, a := range as {
		if len(a.Rates) != 1 || a.Rates[0].Role != "student" || len(a.Comparisons) != 1 || len(a.Comparisons[0].Tests) != 2 || len(a.Gates) != 2 ||
			len(a.References) != 2 || len(a.Notes) != 1 || len(a.Methods) != 2 {
			t.Errorf("analysis %d figures: %+v", id, a)
		}
	}
	if err := s.ReadFigures(ctx, map[int64]*StoredAnalysis{a1: {ID: a1}}, FigureFilter{Role: "nobody"}); err != nil {
		t.Fatal(err)
	}
}

// TestFingerprint: the fingerprint of a run is the same for the same
// data, and changes when a sample is stored, a failure is replaced, a
// score is rewritten, or the run finishes; another run's data does not
// change it.
func TestFingerprint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	nr := fixture("suite", "salt", 1, []string{"p"}, 1, 3)
	run := startRun(t, s, nr)
	other := startRun(t, s, fixture("other", "x", 1, []string{"p"}, 1, 1))
	fp := func() string {
		t.Helper()
		f, err := s.Fingerprint(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	seen := map[string]string{}
	step := func(what string) {
		t.Helper()
		f := fp()
		if f != fp() {
			t.Errorf("%s: the fingerprint differs between two calls", what)
		}
		if prev, ok := seen[f]; ok {
			t.Errorf("%s: the fingerprint is the one of %q", what, prev)
		}
		seen[f] = what
	}
	step("planned, nothing stored")
	sample := func(key string, fail bool, hit bool) Sample {
		sm := Sample{Key: key, RunID: run.ID, Probe: "p", BaseURL: "http://127.0.0.1:1/v1", Model: "model-0", Completion: "Owl.", Attempts: 1, Batch: 1,
			Scorer: "mentions:x", Scores: []Score{{Target: "owl", Valid: true, Hit: hit, Value: math.NaN()}}}
		if fail {
			sm.Err, sm.Scores = "HTTP 500", nil
		}
		return sm
	}
	if err := s.Put(ctx, []Sample{sample(nr.Plan[0].Key, false, true), sample(nr.Plan[1].Key, true, false)}); err != nil {
		t.Fatal(err)
	}
	step("two draws stored, one failed")
	if err := s.Put(ctx, []Sample{sample(nr.Plan[1].Key, false, false)}); err != nil {
		t.Fatal(err)
	}
	step("the failure replaced by a success")
	// The run's scorers are not recorded (the fixture has none), so its
	// scores do not count: record one and rescore.
	if _, err := s.db.Exec(`INSERT INTO run_scorers (run_id, idx, probe, scorer_id, kind, targets, hit, miss)
		SELECT ?, 0, 'p', id, 'mentions', '["owl"]', 'hit', 'miss' FROM scorers WHERE name = 'mentions:x'`, run.ID); err != nil {
		t.Fatal(err)
	}
	step("scorer recorded")
	if err := s.PutScores(ctx, "mentions:x", []ScoredSample{{Key: nr.Plan[0].Key, Scores: []Score{{Target: "owl", Valid: true, Hit: false, Value: math.NaN()}}}}); err != nil {
		t.Fatal(err)
	}
	step("a score rewritten")
	before := fp()
	if err := s.Put(ctx, []Sample{{Key: planKey("x", 0, "p", 0, 0), RunID: other.ID, Probe: "p", Completion: "Dog.", Attempts: 1, Batch: 1}}); err != nil {
		t.Fatal(err)
	}
	if fp() != before {
		t.Error("another run's sample changed the fingerprint")
	}
	if err := s.FinishRun(ctx, run.ID, StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
	step("finished")
	if _, err := s.Fingerprint(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Fingerprint of a missing run: %v; want ErrNotFound", err)
	}
}

func TestCheckTagName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"blessed", true},   // the tag history and gate use
		{"v1.2-rc.3", true}, // release names
		{"", false},         // nothing to name
		{"latest", false},   // names the newest run already
		{"12", false},       // a run id
		{"db:3", false},     // DB:RUN syntax
		{"a b", false},      // white space
	} {
		if err := CheckTagName(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckTagName(%q) = %v; want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestTags: a tag names a run of its suite; tagging another run of the
// suite moves it (both assignments are kept); tags of different suites
// do not meet.
func TestTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	a1 := startRun(t, s, fixture("a", "1", 1, []string{"p"}, 1, 1))
	a2 := startRun(t, s, fixture("a", "2", 1, []string{"p"}, 1, 1))
	b1 := startRun(t, s, fixture("b", "1", 1, []string{"p"}, 1, 1))
	for _, r := range []int64{a1.ID, b1.ID, a2.ID} {
		if err := s.TagRun(ctx, r, "blessed"); err != nil {
			t.Fatal(err)
		}
	}
	tags, err := s.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 2 || tags[0].Suite != "a" || tags[0].RunID != a2.ID || tags[1].Suite != "b" || tags[1].RunID != b1.ID {
		t.Errorf("Tags = %+v; want a → %d (moved), b → %d", tags, a2.ID, b1.ID)
	}
	if got, err := s.TaggedRuns(ctx, "blessed", "b"); err != nil || len(got) != 1 || got[0].RunID != b1.ID {
		t.Errorf("TaggedRuns(blessed, b) = %+v, %v", got, err)
	}
	if n := queryString(t, s.db, `SELECT count(*) FROM run_tags`); n != "3" {
		t.Errorf("%s tag rows; want 3: every assignment is kept", n)
	}
	if err := s.TagRun(ctx, 999, "blessed"); !errors.Is(err, ErrNotFound) {
		t.Errorf("tagging a missing run: %v; want ErrNotFound", err)
	}
	if err := s.TagRun(ctx, a1.ID, "12"); err == nil || !strings.Contains(err.Error(), "run id") {
		t.Errorf("tag 12: %v; want refused", err)
	}
}

// TestAnalysesReadOnly: a read-only store reads analyses and stores none.
func TestAnalysesReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ro.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	run := startRun(t, s, fixture("suite", "salt", 1, []string{"p"}, 1, 1))
	id, err := s.PutAnalysis(ctx, sampleAnalysis(run.ID, "S"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if !ro.ReadOnly() {
		t.Error("ReadOnly() = false")
	}
	if a, err := ro.GetAnalysis(ctx, id); err != nil || len(a.Rates) != 3 {
		t.Errorf("GetAnalysis read-only: %v", err)
	}
	if _, err := ro.PutAnalysis(ctx, sampleAnalysis(run.ID, "S")); err == nil {
		t.Error("PutAnalysis on a read-only store succeeded")
	}
}
