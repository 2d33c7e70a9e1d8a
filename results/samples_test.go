package results

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// okSample is a successful sample of draw ps of a fixture run.
func okSample(ps PlannedSample, runID int64, text string) Sample {
	return Sample{Key: ps.Key, RunID: runID, Probe: ps.Probe, Prompt: ps.Prompt, Draw: ps.Draw,
		BaseURL: "http://127.0.0.1:1/v1", Model: fmt.Sprintf("model-%d", ps.Instance), Completion: text, FinishReason: "stop",
		PromptTokens: 7, CompletionTokens: 2, Latency: 25 * time.Millisecond, Attempts: 1, Batch: 1,
		CreatedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// failedSample is a failed sample of draw ps.
func failedSample(ps PlannedSample, runID int64, msg string, status int) Sample {
	s := okSample(ps, runID, "")
	s.FinishReason, s.PromptTokens, s.CompletionTokens = "", 0, 0
	s.Err, s.HTTPStatus, s.Attempts = msg, status, 4
	return s
}

// withScores attaches scores of scorer to s.
func withScores(s Sample, scorer string, scores ...Score) Sample {
	s.Scorer, s.Scores = scorer, scores
	return s
}

func hit(target string) Score {
	return Score{Target: target, Valid: true, Hit: true, Value: math.NaN()}
}
func miss(target string) Score { return Score{Target: target, Valid: true, Value: math.NaN()} }

func put(t testing.TB, s *Store, samples ...Sample) {
	t.Helper()
	if err := s.Put(context.Background(), samples); err != nil {
		t.Fatal(err)
	}
}

// readRows collects Rows of a run.
func readRows(t testing.TB, s *Store, runID int64, scorerFor func(string) string) []*Row {
	t.Helper()
	var out []*Row
	for r, err := range s.Rows(context.Background(), runID, scorerFor) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func constScorer(id string) func(string) string { return func(string) string { return id } }

// rowsByKey indexes rows by sample key.
func rowsByKey(rows []*Row) map[string]*Row {
	m := map[string]*Row{}
	for _, r := range rows {
		m[r.Sample.Key] = r
	}
	return m
}

// sampleDiff describes how got differs from want as read back by Rows,
// which returns the sample's fields but not its Scorer and Scores (those
// are in Row.Scores). Times compare with Equal, seeds by value.
func sampleDiff(got, want Sample) string {
	var diffs []string
	if !got.CreatedAt.Equal(want.CreatedAt) {
		diffs = append(diffs, fmt.Sprintf("CreatedAt %v, want %v", got.CreatedAt, want.CreatedAt))
	}
	if (got.RequestSeed == nil) != (want.RequestSeed == nil) || got.RequestSeed != nil && *got.RequestSeed != *want.RequestSeed {
		diffs = append(diffs, fmt.Sprintf("RequestSeed %v, want %v", fmtSeed(got.RequestSeed), fmtSeed(want.RequestSeed)))
	}
	g, w := got, want
	g.CreatedAt, w.CreatedAt = time.Time{}, time.Time{}
	g.RequestSeed, w.RequestSeed = nil, nil
	w.Scorer, w.Scores = "", nil
	gv, wv := reflect.ValueOf(g), reflect.ValueOf(w)
	for i := range gv.NumField() {
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s %#v, want %#v", gv.Type().Field(i).Name, gv.Field(i).Interface(), wv.Field(i).Interface()))
		}
	}
	return strings.Join(diffs, "; ")
}

func fmtSeed(p *int64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// scoresEqual compares score lists regardless of order, with NaN values
// equal to each other.
func scoresEqual(a, b []Score) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	sa, sb := slices.Clone(a), slices.Clone(b)
	byTarget := func(x, y Score) int { return cmp.Compare(x.Target, y.Target) }
	slices.SortFunc(sa, byTarget)
	slices.SortFunc(sb, byTarget)
	for i := range sa {
		x, y := sa[i], sb[i]
		if x.Target != y.Target || x.Valid != y.Valid || x.Hit != y.Hit || x.Label != y.Label ||
			!(x.Value == y.Value || math.IsNaN(x.Value) && math.IsNaN(y.Value)) {
			return false
		}
	}
	return true
}

func TestPutThenRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	run := startRun(t, s, fixture("roundtrip", "", 1, []string{"p"}, 1, 7))
	plan := fixture("roundtrip", "", 1, []string{"p"}, 1, 7).Plan
	seed := int64(1) << 52
	zeroSeed := int64(0)

	full := okSample(plan[0], run.ID, "The owl.\nIt is wise — 🦉")
	full.FinishReason, full.PromptTokens, full.CompletionTokens = "length", 12, 345
	full.Latency = 1234*time.Millisecond + 567891*time.Nanosecond
	full.Attempts, full.Batch, full.RequestSeed = 3, 10, &seed
	full.CreatedAt = time.Date(2025, 3, 1, 13, 4, 5, 123456789, time.FixedZone("CET", 3600))

	tests := []struct {
		name       string
		in         *Sample // nil: the draw is never stored
		wantSample Sample  // as Rows returns it
		wantScores []Score
	}{
		// Every column of samples round-trips; the value of a score is kept
		// when it is a number, NaN when it is NULL.
		{"full success", ptr(withScores(full, "judge:1",
			Score{Target: "owl", Valid: true, Hit: true, Value: 8.5, Label: "strong"},
			Score{Target: "cat", Valid: true, Hit: false, Value: math.NaN()},
			Score{Target: "refusal", Valid: false, Hit: false, Value: -1.25, Label: "refused"})),
			full,
			[]Score{
				{Target: "owl", Valid: true, Hit: true, Value: 8.5, Label: "strong"},
				{Target: "cat", Valid: true, Value: math.NaN()},
				{Target: "refusal", Value: -1.25, Label: "refused"},
			}},
		// A seed of zero is a seed, not "none": the column is NULL only for
		// a nil RequestSeed.
		{"zero seed", ptr(func() Sample { s := okSample(plan[1], run.ID, "Dog."); s.RequestSeed = &zeroSeed; return s }()),
			func() Sample { s := okSample(plan[1], run.ID, "Dog."); s.RequestSeed = &zeroSeed; return s }(), nil},
		// An empty completion is a success (the model said nothing), not a
		// failure: success is Err == "", not Completion != "".
		{"empty completion", ptr(okSample(plan[2], run.ID, "")), okSample(plan[2], run.ID, ""), nil},
		// A failure keeps its error, HTTP status and attempts; its scores are
		// not stored (a failed draw is excluded from rates, not scored).
		{"http failure", ptr(withScores(failedSample(plan[3], run.ID, "HTTP 429: slow down", 429), "mentions:1", hit("owl"))),
			failedSample(plan[3], run.ID, "HTTP 429: slow down", 429), nil},
		// A transport error has no HTTP status: 0 ↔ NULL.
		{"transport failure", ptr(failedSample(plan[4], run.ID, "dial tcp: connection refused", 0)),
			failedSample(plan[4], run.ID, "dial tcp: connection refused", 0), nil},
		// ±Inf has no SQL representation; putScores stores it as NULL, so it
		// comes back as NaN ("no numeric score").
		{"infinite score value", ptr(withScores(okSample(plan[5], run.ID, "Owl."), "judge:1", Score{Target: "owl", Valid: true, Value: math.Inf(1)})),
			okSample(plan[5], run.ID, "Owl."), []Score{{Target: "owl", Valid: true, Value: math.NaN()}}},
		// A planned draw without a sample: Stored false, only the plan
		// coordinates set.
		{"missing", nil, Sample{Key: plan[6].Key, Probe: "p", Draw: 6}, nil},
	}
	var in []Sample
	for _, tt := range tests {
		if tt.in != nil {
			in = append(in, *tt.in)
		}
	}
	put(t, s, in...)
	// NaN and Inf are stored as NULL, not as a REAL (SQLite would store
	// NaN as NULL anyway, but Inf as a REAL).
	if n := queryString(t, s.db, `SELECT count(*) FROM scores WHERE value IS NULL`); n != "2" {
		t.Errorf("%s scores with a NULL value, want 2 (the NaN and the Inf)", n)
	}
	rows := rowsByKey(readRows(t, s, run.ID, constScorer("judge:1")))
	if len(rows) != len(plan) {
		t.Fatalf("Rows returned %d rows, want %d", len(rows), len(plan))
	}
	for i, tt := range tests {
		r := rows[plan[i].Key]
		if r.Stored != (tt.in != nil) {
			t.Errorf("%s: Stored = %v, want %v", tt.name, r.Stored, tt.in != nil)
		}
		if r.Instance != plan[i].Instance || r.Probe != plan[i].Probe || r.Prompt != plan[i].Prompt || r.Draw != plan[i].Draw {
			t.Errorf("%s: row at model %d probe %s prompt %d draw %d, want %+v", tt.name, r.Instance, r.Probe, r.Prompt, r.Draw, plan[i])
		}
		if d := sampleDiff(r.Sample, tt.wantSample); d != "" {
			t.Errorf("%s: %s", tt.name, d)
		}
		if !scoresEqual(r.Scores, tt.wantScores) {
			t.Errorf("%s: scores %+v, want %+v", tt.name, r.Scores, tt.wantScores)
		}
	}

	// A zero CreatedAt means "now".
	before := time.Now()
	extra := fixture("now", "now", 1, []string{"p"}, 1, 1)
	nowRun := startRun(t, s, extra)
	sm := okSample(extra.Plan[0], nowRun.ID, "Owl.")
	sm.CreatedAt = time.Time{}
	put(t, s, sm)
	after := time.Now()
	got := readRows(t, s, nowRun.ID, constScorer(""))[0].Sample.CreatedAt
	if got.Before(before.Truncate(time.Microsecond)) || got.After(after) {
		t.Errorf("CreatedAt of a sample put without one = %v, want in [%v, %v]", got, before, after)
	}
	if err := s.Put(ctx, nil); err != nil {
		t.Errorf("Put(nil) = %v, want nil", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestPutKeepsSuccess(t *testing.T) {
	t.Parallel()
	plan := fixture("keep", "", 1, []string{"p"}, 1, 1).Plan
	ps := plan[0]
	// Samples of the same key from two runs (a and b are the run ids of
	// two runs sharing the plan, 1 and 2 in a fresh database).
	const a, b = 1, 2
	tests := []struct {
		name        string
		first       []Sample // one Put
		second      []Sample // a later Put
		want        Sample
		wantScores  []Score // under scorer "mentions:1"
		wantStored  bool    // in Stored(): a successful sample
		wantCounted RunCounts
	}{
		// Samples are content-addressed: once a draw succeeded, a later
		// success for the same key (a concurrent or repeated run) must not
		// change it. The scores stored must stay those of the kept
		// completion: "Owl." hits owl, the discarded "Dog." does not.
		{"success then success keeps the first",
			[]Sample{withScores(okSample(ps, a, "Owl."), "mentions:1", hit("owl"))},
			[]Sample{withScores(okSample(ps, b, "Dog."), "mentions:1", miss("owl"))},
			okSample(ps, a, "Owl."), []Score{hit("owl")}, true, RunCounts{Planned: 1, Stored: 1}},
		// A resumed run retries failures: the success replaces the failure
		// (including run_id: run b drew it) and its scores arrive.
		{"failed then success replaces",
			[]Sample{failedSample(ps, a, "HTTP 500", 500)},
			[]Sample{withScores(okSample(ps, b, "Owl."), "mentions:1", hit("owl"))},
			okSample(ps, b, "Owl."), []Score{hit("owl")}, true, RunCounts{Planned: 1, Stored: 1}},
		// A failure never overwrites a success, nor its scores.
		{"success then failed keeps the success",
			[]Sample{withScores(okSample(ps, a, "Owl."), "mentions:1", hit("owl"))},
			[]Sample{failedSample(ps, b, "HTTP 500", 500)},
			okSample(ps, a, "Owl."), []Score{hit("owl")}, true, RunCounts{Planned: 1, Stored: 1}},
		// The latest failure is the one to report (its attempts, status).
		{"failed then failed keeps the latest failure",
			[]Sample{failedSample(ps, a, "HTTP 500", 500)},
			[]Sample{failedSample(ps, b, "HTTP 429", 429)},
			failedSample(ps, b, "HTTP 429", 429), nil, false, RunCounts{Planned: 1, Stored: 1, Failed: 1}},
		// The same rules hold inside one batch, in order.
		{"failure and retry in one batch",
			[]Sample{failedSample(ps, a, "HTTP 500", 500), withScores(okSample(ps, a, "Owl."), "mentions:1", hit("owl"))},
			nil,
			okSample(ps, a, "Owl."), []Score{hit("owl")}, true, RunCounts{Planned: 1, Stored: 1}},
		// The reversed order: a failure after the success in the same batch
		// neither replaces it nor drops its scores.
		{"success and later failure in one batch keeps the success",
			[]Sample{withScores(okSample(ps, a, "Owl."), "mentions:1", hit("owl")), failedSample(ps, b, "HTTP 500", 500)},
			nil,
			okSample(ps, a, "Owl."), []Score{hit("owl")}, true, RunCounts{Planned: 1, Stored: 1}},
		// Two successes in one batch: the first is kept with its own
		// scores, not the discarded "Dog." miss.
		{"two successes in one batch keep the first",
			[]Sample{withScores(okSample(ps, a, "Owl."), "mentions:1", hit("owl")), withScores(okSample(ps, b, "Dog."), "mentions:1", miss("owl"))},
			nil,
			okSample(ps, a, "Owl."), []Score{hit("owl")}, true, RunCounts{Planned: 1, Stored: 1}},
		{"two failures in one batch keep the latest",
			[]Sample{failedSample(ps, a, "HTTP 500", 500), failedSample(ps, b, "HTTP 429", 429)},
			nil,
			failedSample(ps, b, "HTTP 429", 429), nil, false, RunCounts{Planned: 1, Stored: 1, Failed: 1}},
		// The first success after failures wins over later successes.
		{"failure, success and success in one batch keep the first success",
			[]Sample{failedSample(ps, a, "HTTP 500", 500), withScores(okSample(ps, b, "Owl."), "mentions:1", hit("owl")),
				withScores(okSample(ps, a, "Dog."), "mentions:1", miss("owl"))},
			nil,
			okSample(ps, b, "Owl."), []Score{hit("owl")}, true, RunCounts{Planned: 1, Stored: 1}},
		// A stored failure is replaced by the first success of a later
		// batch, whatever follows it there.
		{"failed then success and failure in one batch",
			[]Sample{failedSample(ps, a, "HTTP 500", 500)},
			[]Sample{withScores(okSample(ps, b, "Owl."), "mentions:1", hit("owl")), failedSample(ps, a, "HTTP 429", 429)},
			okSample(ps, b, "Owl."), []Score{hit("owl")}, true, RunCounts{Planned: 1, Stored: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t)
			ra := startRun(t, s, fixture("keep", "", 1, []string{"p"}, 1, 1))
			rb := startRun(t, s, fixture("keep", "", 1, []string{"p"}, 1, 1))
			if ra.ID != a || rb.ID != b {
				t.Fatalf("run ids %d, %d; want %d, %d", ra.ID, rb.ID, a, b)
			}
			put(t, s, tt.first...)
			if len(tt.second) > 0 {
				put(t, s, tt.second...)
			}
			for _, runID := range []int64{a, b} {
				rows := readRows(t, s, runID, constScorer("mentions:1"))
				if len(rows) != 1 || !rows[0].Stored {
					t.Fatalf("run %d: rows %+v, want one stored row", runID, rows)
				}
				if d := sampleDiff(rows[0].Sample, tt.want); d != "" {
					t.Errorf("run %d: %s", runID, d)
				}
				if !scoresEqual(rows[0].Scores, tt.wantScores) {
					t.Errorf("run %d: scores %+v, want %+v", runID, rows[0].Scores, tt.wantScores)
				}
				stored, err := s.Stored(ctx, []string{ps.Key})
				if err != nil {
					t.Fatal(err)
				}
				wantStored := map[string]bool{}
				if tt.wantStored {
					wantStored[ps.Key] = true
				}
				if !reflect.DeepEqual(stored, wantStored) {
					t.Errorf("run %d: Stored() = %v, want %v", runID, stored, wantStored)
				}
				if c, err := s.Counts(ctx, runID); err != nil || c != tt.wantCounted {
					t.Errorf("run %d: Counts = %+v, %v; want %+v", runID, c, err, tt.wantCounted)
				}
			}
		})
	}
}

func TestPutIsAtomic(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	nr := fixture("atomic", "", 1, []string{"p"}, 1, 3)
	run := startRun(t, s, nr)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	batch := []Sample{okSample(nr.Plan[0], run.ID, "a"), okSample(nr.Plan[1], run.ID, "b")}
	// Execute writes with context.WithoutCancel, but a cancelled Put must
	// still store all or nothing.
	if err := s.Put(ctx, batch); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if c, err := s.Counts(context.Background(), run.ID); err != nil || c.Stored != 0 {
		t.Errorf("Counts after a cancelled Put = %+v, %v; want nothing stored", c, err)
	}
}

func TestStoredAndCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		draws string // per planned draw: s success, f failure, . missing
		want  RunCounts
	}{
		// A new run: everything planned, nothing stored.
		{"nothing stored", "......", RunCounts{Planned: 6}},
		{"all successful", "ssssss", RunCounts{Planned: 6, Stored: 6}},
		// Failures count as stored (the draw was made) and as failed; the
		// verdict compares Failed with --max-error-rate.
		{"some failed", "sfsfss", RunCounts{Planned: 6, Stored: 6, Failed: 2}},
		// Missing draws are planned but neither stored nor failed.
		{"interrupted", "ssf...", RunCounts{Planned: 6, Stored: 3, Failed: 1}},
		{"all failed", "ffffff", RunCounts{Planned: 6, Stored: 6, Failed: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			nr := fixture("counts", "", 1, []string{"p"}, 2, 3)
			run := startRun(t, s, nr)
			var batch []Sample
			wantStored := map[string]bool{}
			for i, c := range tt.draws {
				switch c {
				case 's':
					batch = append(batch, okSample(nr.Plan[i], run.ID, "Owl."))
					wantStored[nr.Plan[i].Key] = true
				case 'f':
					batch = append(batch, failedSample(nr.Plan[i], run.ID, "HTTP 503", 503))
				}
			}
			if err := s.Put(ctx, batch); err != nil {
				t.Fatal(err)
			}
			if c, err := s.Counts(ctx, run.ID); err != nil || c != tt.want {
				t.Errorf("Counts = %+v, %v; want %+v", c, err, tt.want)
			}
			// Stored lists successes only: a resumed run retries failures.
			stored, err := s.Stored(ctx, planKeys(nr))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(stored, wantStored) {
				t.Errorf("Stored() = %v, want %v", stored, wantStored)
			}
		})
	}
}

func TestSamplesSharedBetweenRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	// Two runs with the same salt: the second plans draws 3..8 of the same
	// prompt, the first draws 0..5; keys of draws 3..5 are equal.
	first := fixture("shared", "", 1, []string{"p"}, 1, 6)
	second := fixture("shared", "", 1, []string{"p"}, 1, 9)
	second.Plan = second.Plan[3:]
	r1 := startRun(t, s, first)
	var batch []Sample
	for _, ps := range first.Plan {
		batch = append(batch, withScores(okSample(ps, r1.ID, fmt.Sprintf("answer %d", ps.Draw)), "mentions:1", miss("owl")))
	}
	put(t, s, batch...)
	r2 := startRun(t, s, second)

	tests := []struct {
		name string
		got  func() (any, error)
		want any
	}{
		// The overlap is stored for the second run before it samples anything.
		{"Counts of the second run", func() (any, error) { return s.Counts(ctx, r2.ID) }, RunCounts{Planned: 6, Stored: 3}},
		{"Stored of the second run", func() (any, error) { return s.Stored(ctx, planKeys(second)) },
			map[string]bool{planKey("", 0, "p", 0, 3): true, planKey("", 0, "p", 0, 4): true, planKey("", 0, "p", 0, 5): true}},
		// Content addressing: one copy of each sample, not one per run.
		{"sample rows", func() (any, error) { return queryString(t, s.db, `SELECT count(*) FROM samples`), nil }, "6"},
		{"Counts of the first run", func() (any, error) { return s.Counts(ctx, r1.ID) }, RunCounts{Planned: 6, Stored: 6}},
	}
	for _, tt := range tests {
		got, err := tt.got()
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	// The shared samples read through the second run carry the run that
	// drew them, their text and their scores.
	for _, r := range readRows(t, s, r2.ID, constScorer("mentions:1")) {
		if r.Draw > 5 {
			if r.Stored {
				t.Errorf("draw %d stored, want missing", r.Draw)
			}
			continue
		}
		if !r.Stored || r.Sample.RunID != r1.ID || r.Sample.Completion != fmt.Sprintf("answer %d", r.Draw) || !scoresEqual(r.Scores, []Score{miss("owl")}) {
			t.Errorf("draw %d through run %d: stored %v, sample of run %d %q, scores %+v; want run %d's sample and scores",
				r.Draw, r2.ID, r.Stored, r.Sample.RunID, r.Sample.Completion, r.Scores, r1.ID)
		}
	}
}

func TestScorers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	nr := fixture("scorers", "", 1, []string{"animal", "tree"}, 1, 2)
	run := startRun(t, s, nr)
	// Sampling stores the mentions scores with the samples.
	var batch []Sample
	for _, ps := range nr.Plan {
		batch = append(batch, withScores(okSample(ps, run.ID, "Owl."), "mentions:1", hit("owl"), miss("cat")))
	}
	put(t, s, batch...)
	// A judge scores the animal samples later (ScoreMissing after a change
	// of scoring rule), with numeric values.
	var judged []ScoredSample
	for _, ps := range nr.Plan[:2] {
		judged = append(judged, ScoredSample{Key: ps.Key, Scores: []Score{{Target: "owl", Valid: true, Hit: true, Value: 9}}})
	}
	if err := s.PutScores(ctx, "judge:2", judged); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		scorerFor func(probe string) string
		want      map[string][]Score // by probe
	}{
		// Each probe reads the scores of the scorer its suite names now.
		{"per probe", func(p string) string { return map[string]string{"animal": "judge:2", "tree": "mentions:1"}[p] },
			map[string][]Score{"animal": {{Target: "owl", Valid: true, Hit: true, Value: 9}}, "tree": {hit("owl"), miss("cat")}}},
		{"mentions everywhere", constScorer("mentions:1"),
			map[string][]Score{"animal": {hit("owl"), miss("cat")}, "tree": {hit("owl"), miss("cat")}}},
		// A scorer with no scores stored yields nil: ScoreMissing scores
		// exactly those rows.
		{"judge everywhere", constScorer("judge:2"),
			map[string][]Score{"animal": {{Target: "owl", Valid: true, Hit: true, Value: 9}}, "tree": nil}},
		{"unknown scorer", constScorer("judge:3"), map[string][]Score{"animal": nil, "tree": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := readRows(t, s, run.ID, tt.scorerFor)
			if len(rows) != len(nr.Plan) {
				t.Fatalf("%d rows, want %d", len(rows), len(nr.Plan))
			}
			for _, r := range rows {
				if !scoresEqual(r.Scores, tt.want[r.Probe]) {
					t.Errorf("%s draw %d: scores %+v, want %+v", r.Probe, r.Draw, r.Scores, tt.want[r.Probe])
				}
			}
		})
	}
	// Re-scoring with the same scorer replaces the verdict per target.
	if err := s.PutScores(ctx, "judge:2", []ScoredSample{{Key: nr.Plan[0].Key, Scores: []Score{{Target: "owl", Valid: false, Label: "refused", Value: math.NaN()}}}}); err != nil {
		t.Fatal(err)
	}
	r := rowsByKey(readRows(t, s, run.ID, constScorer("judge:2")))[nr.Plan[0].Key]
	if want := []Score{{Target: "owl", Label: "refused", Value: math.NaN()}}; !scoresEqual(r.Scores, want) {
		t.Errorf("after re-scoring: %+v, want %+v", r.Scores, want)
	}
}

// TestPutScoresMany scores more samples than the old 500-key lookup chunk,
// and checks that a key with no sample fails the whole call.
func TestPutScoresMany(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	nr := fixture("many", "", 1, []string{"p"}, 3, 400)
	run := startRun(t, s, nr)
	var batch []Sample
	for _, ps := range nr.Plan {
		batch = append(batch, okSample(ps, run.ID, "Owl."))
	}
	put(t, s, batch...)
	judged := make([]ScoredSample, len(nr.Plan))
	for i, ps := range nr.Plan {
		judged[i] = ScoredSample{Key: ps.Key, Scores: []Score{{Target: "owl", Valid: true, Hit: i%2 == 0, Value: float64(i)}}}
	}
	// An unknown key anywhere in the batch stores nothing.
	bad := append(slices.Clone(judged), ScoredSample{Key: "no-such-key", Scores: []Score{hit("owl")}})
	if err := s.PutScores(ctx, "judge:1", bad); err == nil || !strings.Contains(err.Error(), "no-such-key") {
		t.Errorf("PutScores with an unknown key = %v, want an error naming it", err)
	}
	if n := queryString(t, s.db, `SELECT count(*) FROM scores`); n != "0" {
		t.Errorf("%s scores stored by a failed PutScores, want 0", n)
	}
	if err := s.PutScores(ctx, "judge:1", judged); err != nil {
		t.Fatal(err)
	}
	rows := rowsByKey(readRows(t, s, run.ID, constScorer("judge:1")))
	for _, j := range judged {
		if r := rows[j.Key]; r == nil || !scoresEqual(r.Scores, j.Scores) {
			t.Errorf("%s: scores %+v, want %+v", j.Key, r, j.Scores)
		}
	}
	if err := s.PutScores(ctx, "judge:1", nil); err != nil {
		t.Errorf("PutScores(nil) = %v", err)
	}
}

func TestRowsOrder(t *testing.T) {
	t.Parallel()
	type pos struct {
		Instance int
		Probe    string
		Prompt   int
		Draw     int
	}
	tests := []struct {
		name string
		run  func() NewRun
	}{
		// bench lists models by index and prompts in suite order (probes as
		// the suite lists them, prompts by index); the plan order given to
		// StartRun does not matter.
		{"suite order", func() NewRun {
			return fixture("order", "", 3, []string{"zeta", "alpha"}, 3, 3)
		}},
		// Rows is "ordered by model, probe, prompt and draw", and Prompts
		// "by probe and index", whatever order StartRun got them in.
		{"models and prompts listed backwards", func() NewRun {
			nr := fixture("order", "", 3, []string{"zeta", "alpha"}, 3, 3)
			slices.Reverse(nr.Instances)
			for i := 0; i < len(nr.Prompts); i += 3 {
				slices.Reverse(nr.Prompts[i : i+3])
			}
			return nr
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			nr := tt.run()
			probeRank := map[string]int{}
			for _, p := range nr.Prompts {
				if _, ok := probeRank[p.Probe]; !ok {
					probeRank[p.Probe] = len(probeRank)
				}
			}
			var want []pos
			for _, ps := range nr.Plan {
				want = append(want, pos{ps.Instance, ps.Probe, ps.Prompt, ps.Draw})
			}
			slices.SortFunc(want, func(a, b pos) int {
				return cmp.Or(cmp.Compare(a.Instance, b.Instance), cmp.Compare(probeRank[a.Probe], probeRank[b.Probe]),
					cmp.Compare(a.Prompt, b.Prompt), cmp.Compare(a.Draw, b.Draw))
			})
			rand.New(rand.NewPCG(3, 4)).Shuffle(len(nr.Plan), func(i, j int) { nr.Plan[i], nr.Plan[j] = nr.Plan[j], nr.Plan[i] })
			run := startRun(t, s, nr)
			var got []pos
			for _, r := range readRows(t, s, run.ID, constScorer("")) {
				got = append(got, pos{r.Instance, r.Probe, r.Prompt, r.Draw})
			}
			if i := firstPosDiff(got, want); i >= 0 {
				t.Errorf("Rows order differs at row %d of %d:\n got %v\nwant %v", i, len(want), got[i:min(i+4, len(got))], want[i:min(i+4, len(want))])
			}
			prompts, err := s.Prompts(context.Background(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(prompts) != len(nr.Prompts) {
				t.Errorf("Prompts returned %d prompts, want %d", len(prompts), len(nr.Prompts))
			}
			if !slices.IsSortedFunc(prompts, func(a, b PromptRow) int {
				return cmp.Or(cmp.Compare(probeRank[a.Probe], probeRank[b.Probe]), cmp.Compare(a.Index, b.Index))
			}) {
				t.Errorf("Prompts not ordered by probe and index: %v", prompts)
			}
		})
	}
}

// firstPosDiff returns the first index where a and b differ, -1 when equal.
func firstPosDiff[T comparable](a, b []T) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

func TestRowsAllowsNestedStoreCalls(t *testing.T) {
	t.Parallel()
	// The Store's "methods are safe for concurrent use", and ScoreMissing-
	// style loops are natural places to call the store again. With one
	// connection held by the Rows query, a nested call can only wait for
	// it; the deadline turns a hang into a failure.
	s := openStore(t)
	nr := fixture("nested", "", 1, []string{"p"}, 1, 2)
	run := startRun(t, s, nr)
	put(t, s, okSample(nr.Plan[0], run.ID, "Owl."))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for r, err := range s.Rows(context.Background(), run.ID, constScorer("")) {
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Counts(ctx, run.ID); err != nil {
			t.Fatalf("Counts inside a Rows loop (draw %d): %v", r.Draw, err)
		}
	}
}

func TestPutLargeBatch(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("10,000 samples")
	}
	ctx := context.Background()
	s := openStore(t)
	nr := fixture("large", "", 2, []string{"p", "q"}, 25, 100) // 10,000 draws
	run := startRun(t, s, nr)
	batch := make([]Sample, len(nr.Plan))
	for i, ps := range nr.Plan {
		batch[i] = withScores(okSample(ps, run.ID, "Owl."), "mentions:1", hit("owl"))
	}
	start := time.Now()
	if err := s.Put(ctx, batch); err != nil {
		t.Fatal(err)
	}
	t.Logf("Put of %d samples took %v", len(batch), time.Since(start))
	if c, err := s.Counts(ctx, run.ID); err != nil || c != (RunCounts{Planned: 10000, Stored: 10000}) {
		t.Errorf("Counts = %+v, %v; want 10000 planned and stored", c, err)
	}
	n := 0
	for r, err := range s.Rows(ctx, run.ID, constScorer("mentions:1")) {
		if err != nil {
			t.Fatal(err)
		}
		if !r.Stored || len(r.Scores) != 1 {
			t.Fatalf("draw %+v: stored %v scores %v", r.Sample.Key, r.Stored, r.Scores)
		}
		n++
	}
	if n != 10000 {
		t.Errorf("Rows yielded %d rows, want 10000", n)
	}
}

// BenchmarkPut measures Put with the runner's default batch size (512),
// each sample with one score, into a file database.
func BenchmarkPut(b *testing.B) {
	const batchSize = 512
	s := openStore(b)
	ctx := context.Background()
	batch := make([]Sample, batchSize)
	ps := PlannedSample{Probe: "p"}
	i := 0
	for b.Loop() {
		for j := range batch {
			ps.Key, ps.Draw = fmt.Sprintf("key-%d", i), i
			batch[j] = withScores(okSample(ps, 1, "My favorite animal is the owl."), "mentions:1", hit("owl"))
			i++
		}
		if err := s.Put(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "samples/s")
}

func TestUnscored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	nr := fixture("unscored", "", 1, []string{"animal", "tree"}, 1, 4)
	run := startRun(t, s, nr)
	// animal: draw 0 scored by mentions, 1 unscored, 2 failed, 3 missing.
	// tree: draws 0..2 scored by mentions, 3 scored by the judge only.
	put(t, s,
		withScores(okSample(nr.Plan[0], run.ID, "Owl."), "mentions:1", hit("owl")),
		okSample(nr.Plan[1], run.ID, "Dog."),
		failedSample(nr.Plan[2], run.ID, "HTTP 500", 500),
		withScores(okSample(nr.Plan[4], run.ID, "Oak."), "mentions:1", miss("owl")),
		withScores(okSample(nr.Plan[5], run.ID, "Oak."), "mentions:1", miss("owl")),
		withScores(okSample(nr.Plan[6], run.ID, "Oak."), "mentions:1", miss("owl")),
		withScores(okSample(nr.Plan[7], run.ID, "Oak."), "judge:2", miss("owl")),
	)
	tests := []struct {
		probe, scorer string
		want          int
	}{
		// Failed and missing draws are not unscored: there is nothing to
		// score.
		{"animal", "mentions:1", 1},
		{"tree", "mentions:1", 1},
		// Under a scorer nothing used yet, every successful sample is
		// unscored.
		{"animal", "judge:2", 2},
		{"tree", "judge:2", 3},
		// A probe the run does not have has no samples.
		{"colour", "mentions:1", 0},
	}
	for _, tt := range tests {
		n, err := s.Unscored(ctx, run.ID, tt.probe, tt.scorer)
		if err != nil || n != tt.want {
			t.Errorf("Unscored(%s, %s) = %d, %v; want %d", tt.probe, tt.scorer, n, err, tt.want)
		}
		// ScoreMissing skips its Rows pass when Unscored says 0, so the two
		// must agree on what is unscored.
		fromRows := 0
		for _, r := range readRows(t, s, run.ID, constScorer(tt.scorer)) {
			if r.Probe == tt.probe && r.Stored && !r.Sample.Failed() && r.Scores == nil {
				fromRows++
			}
		}
		if fromRows != n {
			t.Errorf("Unscored(%s, %s) = %d but Rows shows %d unscored samples", tt.probe, tt.scorer, n, fromRows)
		}
	}
	if n, err := s.Unscored(ctx, 99, "animal", "mentions:1"); err != nil || n != 0 {
		t.Errorf("Unscored of a missing run = %d, %v; want 0, nil", n, err)
	}
}

// planKeys lists the keys of a run's plan.
func planKeys(nr NewRun) []string {
	keys := make([]string, len(nr.Plan))
	for i, ps := range nr.Plan {
		keys[i] = ps.Key
	}
	return keys
}
