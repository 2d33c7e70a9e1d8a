package results

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// links returns run_samples.sample_id of a run by plan position; -1 for
// NULL.
func links(t *testing.T, s *Store, runID int64) []int64 {
	t.Helper()
	var out []int64
	err := queryEach(s.db.Query(`SELECT coalesce(sample_id, -1) FROM run_samples WHERE run_id = ? ORDER BY idx`, runID))(func(r *sql.Rows) error {
		var id int64
		if err := r.Scan(&id); err != nil {
			return err
		}
		out = append(out, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sampleID returns the row id of the sample with key, -1 when none.
func sampleID(t *testing.T, s *Store, key string) int64 {
	t.Helper()
	var id int64
	err := s.db.QueryRow(`SELECT id FROM samples WHERE key = ?`, key).Scan(&id)
	if err == sql.ErrNoRows {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSampleLinks checks how plan rows are linked to their samples: Put
// links the rows whose position it is given, LinkSamples the others and
// repairs links to another key's sample, and a wrong or missing link
// never changes what a run reads back.
func TestSampleLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	nr := fixture("links", "", 1, []string{"p"}, 2, 3) // positions 0-2 prompt 0, 3-5 prompt 1
	run := startRun(t, s, nr)
	at := func(pos int) Sample {
		sm := withScores(okSample(nr.Plan[pos], run.ID, fmt.Sprintf("Owl %d.", pos)), "mentions:1", hit("owl"))
		sm.PlanIndex = pos
		return sm
	}
	wrong := at(4)
	wrong.PlanIndex = 5 // position 5 holds another key: not linked
	failed := failedSample(nr.Plan[2], run.ID, "HTTP 500", 500)
	failed.PlanIndex = 2
	put(t, s, at(0), at(1), failed, wrong)
	want := []int64{sampleID(t, s, nr.Plan[0].Key), sampleID(t, s, nr.Plan[1].Key), sampleID(t, s, nr.Plan[2].Key), -1, -1, -1}
	if got := links(t, s, run.ID); !slices.Equal(got, want) {
		t.Fatalf("links after Put = %v; want %v (a failed sample is linked too, a wrong position is not)", got, want)
	}
	// A sample stored without its position (by another run, say) is
	// linked by LinkSamples, which links nothing twice.
	other := okSample(nr.Plan[3], 99, "Dog.")
	put(t, s, other)
	before := readRows(t, s, run.ID, constScorer("mentions:1"))
	counts, err := s.Counts(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if counts != (RunCounts{Planned: 6, Stored: 5, Failed: 1}) {
		t.Fatalf("Counts = %+v; want 6 planned, 5 stored (two unlinked), 1 failed", counts)
	}
	if n, err := s.LinkSamples(ctx, run.ID); err != nil || n != 2 {
		t.Fatalf("LinkSamples = %d, %v; want the 2 unlinked stored draws", n, err)
	}
	want[3], want[4] = sampleID(t, s, nr.Plan[3].Key), sampleID(t, s, nr.Plan[4].Key)
	if got := links(t, s, run.ID); !slices.Equal(got, want) {
		t.Fatalf("links after LinkSamples = %v; want %v", got, want)
	}
	if n, err := s.LinkSamples(ctx, run.ID); err != nil || n != 0 {
		t.Errorf("LinkSamples again = %d, %v; want 0", n, err)
	}
	// Links that name another key's sample, or no sample, are ignored by
	// readers and repaired by LinkSamples.
	if _, err := s.db.Exec(`UPDATE run_samples SET sample_id = CASE idx WHEN 0 THEN ? WHEN 1 THEN 99999 WHEN 5 THEN ? ELSE sample_id END WHERE run_id = ?`,
		want[1], want[0], run.ID); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if c, err := s.Counts(ctx, run.ID); err != nil || c != counts {
			t.Errorf("%s: Counts = %+v, %v; want %+v", when, c, err, counts)
		}
		after := readRows(t, s, run.ID, constScorer("mentions:1"))
		if len(after) != len(before) {
			t.Fatalf("%s: %d rows; want %d", when, len(after), len(before))
		}
		for i := range before {
			b, a := before[i], after[i]
			if a.Stored != b.Stored || sampleDiff(a.Sample, b.Sample) != "" || !scoresEqual(a.Scores, b.Scores) {
				t.Errorf("%s: row %d differs: %s", when, i, sampleDiff(a.Sample, b.Sample))
			}
		}
	}
	check("wrong links")
	if n, err := s.LinkSamples(ctx, run.ID); err != nil || n != 2 {
		t.Errorf("LinkSamples of wrong links = %d, %v; want 2 (position 5 has no sample to link to)", n, err)
	}
	if got := links(t, s, run.ID); !slices.Equal(got[:5], want[:5]) {
		t.Errorf("links after repair = %v; want %v", got, want)
	}
	check("repaired links")
}

// TestMigrateVersion8Links checks that the v8 → v9 migration links every
// planned draw with a stored sample, failed or not, and leaves the others
// unlinked.
func TestMigrateVersion8Links(t *testing.T) {
	t.Parallel()
	path := oldDatabase(t, 8, `
INSERT INTO runs (id, suite_name, suite_hash, suite_source, suite_json, salt, status, planned, version, created_at, updated_at)
  VALUES (1, 's', 'h', 'builtin:s', '{}', '', 'interrupted', 3, 'v', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
INSERT INTO models (id, run_id, idx, role, seed, condition, base_url, model, settings) VALUES (1, 1, 0, 'student', '', '', 'http://h/v1', 'm', '{}');
INSERT INTO prompts (id, run_id, probe, idx, text) VALUES (1, 1, 'animal', 0, 'Favourite?');
INSERT INTO samples (id, key, run_id, probe, prompt_idx, draw, base_url, model, completion, finish_reason, prompt_tokens, completion_tokens,
    latency_ms, attempts, batch, request_seed, error, http_status, created_at) VALUES
  (7, 'kb', 1, 'animal', 0, 1, 'http://h/v1', 'm', NULL, NULL, NULL, NULL, 30, 3, 1, NULL, 'HTTP 500', 500, '2026-01-01T00:00:02Z'),
  (9, 'ka', 1, 'animal', 0, 0, 'http://h/v1', 'm', 'Owl.', 'stop', 5, 2, 12.5, 1, 1, 42, NULL, NULL, '2026-01-01T00:00:01Z');
INSERT INTO run_samples (run_id, idx, key, model_id, prompt_id, draw) VALUES (1, 0, 'ka', 1, 1, 0), (1, 1, 'kb', 1, 1, 1), (1, 2, 'kc', 1, 1, 2);
`)
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := links(t, s, 1), []int64{9, 7, -1}; !slices.Equal(got, want) {
		t.Errorf("links after migration = %v; want %v", got, want)
	}
	if c, err := s.Counts(context.Background(), 1); err != nil || c != (RunCounts{Planned: 3, Stored: 2, Failed: 1}) {
		t.Errorf("Counts = %+v, %v; want 3 planned, 2 stored, 1 failed", c, err)
	}
}

// streamed returns nr with its plan given as a stream (NewRun.Draws).
func streamed(nr NewRun) NewRun {
	plan := nr.Plan
	nr.Plan, nr.Draws, nr.Planned = nil, slices.Values(plan), len(plan)
	return nr
}

// planRows returns the keys of a run's plan rows in plan order and fails
// unless their positions are 0, 1, 2, ….
func planRows(t *testing.T, s *Store, runID int64) []string {
	t.Helper()
	var keys []string
	err := queryEach(s.db.Query(`SELECT idx, key FROM run_samples WHERE run_id = ? ORDER BY idx`, runID))(func(r *sql.Rows) error {
		var idx int
		var key string
		if err := r.Scan(&idx, &key); err != nil {
			return err
		}
		if idx != len(keys) {
			return fmt.Errorf("plan row %d at position %d", len(keys), idx)
		}
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestWritePlanChunks writes a streamed plan of more than two chunks,
// cuts it as a process killed between two chunks would leave it, and
// checks that the run is claimed as needing its plan and that WritePlan
// completes it without writing the models, prompts or rows twice; a plan
// that is not the run's is refused.
func TestWritePlanChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	nr := fixture("chunks", "", 2, []string{"p", "q"}, 3, (2*planChunk+10)/12+1)
	total := len(nr.Plan)
	c, err := s.ClaimRun(ctx, streamed(nr))
	if err != nil {
		t.Fatal(err)
	}
	if !c.NeedsPlan || c.Run.Planned != total {
		t.Fatalf("claim of a new run: NeedsPlan %v, planned %d; want true, %d", c.NeedsPlan, c.Run.Planned, total)
	}
	if err := s.WritePlan(ctx, c.Run.ID, streamed(nr)); err != nil {
		t.Fatal(err)
	}
	want := planKeys(nr)
	if got := planRows(t, s, c.Run.ID); !slices.Equal(got, want) {
		t.Fatalf("%d plan rows; want the plan's %d in order", len(got), len(want))
	}
	// The process dies after the first chunk: its later rows are gone.
	if _, err := s.db.Exec(`DELETE FROM run_samples WHERE run_id = ? AND idx >= ?`, c.Run.ID, planChunk); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, c.Run.ID, StatusInterrupted, ""); err != nil {
		t.Fatal(err)
	}
	c2, err := s.ClaimRun(ctx, streamed(nr))
	if err != nil {
		t.Fatal(err)
	}
	if c2.Run.ID != c.Run.ID || !c2.Resumed || !c2.NeedsPlan {
		t.Fatalf("claim of the cut run: run %d, resumed %v, NeedsPlan %v; want run %d resumed, needing its plan", c2.Run.ID, c2.Resumed, c2.NeedsPlan, c.Run.ID)
	}
	// Another plan does not continue this one.
	other := fixture("chunks", "other-salt", 2, []string{"p", "q"}, 3, (2*planChunk+10)/12+1)
	if err := s.WritePlan(ctx, c.Run.ID, streamed(other)); err == nil || !strings.Contains(err.Error(), "not the plan of this run") {
		t.Errorf("WritePlan of another plan: %v; want a refusal", err)
	}
	if err := s.WritePlan(ctx, c.Run.ID, streamed(nr)); err != nil {
		t.Fatal(err)
	}
	if got := planRows(t, s, c.Run.ID); !slices.Equal(got, want) {
		t.Fatalf("%d plan rows after completing the plan; want the plan's %d in order", len(got), len(want))
	}
	for _, table := range []string{"models", "prompts", "run_scorers"} {
		n := queryString(t, s.db, `SELECT count(*) FROM `+table+` WHERE run_id = ?`, c.Run.ID)
		if want := map[string]string{"models": "2", "prompts": "6", "run_scorers": "0"}[table]; n != want {
			t.Errorf("%s rows of the run: %s; want %s", table, n, want)
		}
	}
	if err := s.FinishRun(ctx, c.Run.ID, StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
	if c3, err := s.ClaimRun(ctx, streamed(nr)); err != nil || c3.NeedsPlan {
		t.Errorf("claim of the complete run: NeedsPlan %v, %v; want false", c3 != nil && c3.NeedsPlan, err)
	}
}

// cellFixture is a run with several instances, probes and prompts whose
// plan is in no particular order, and samples of every kind: scored with
// and without values, invalid with and without labels, unscored, failed
// and missing.
func cellFixture(t *testing.T, s *Store) (NewRun, *Run) {
	t.Helper()
	nr := fixture("cells", "", 3, []string{"p", "q"}, 3, 9)
	rng := rand.New(rand.NewPCG(7, 8))
	// Half the cells keep draw order; the rest are shuffled.
	rng.Shuffle(len(nr.Plan)/2, func(i, j int) { nr.Plan[i], nr.Plan[j] = nr.Plan[j], nr.Plan[i] })
	run := startRun(t, s, nr)
	var batch []Sample
	for i, ps := range nr.Plan {
		sm := okSample(ps, run.ID, fmt.Sprintf("answer %d", i))
		sm.PlanIndex = i
		sm.Latency = time.Duration(rng.IntN(1e9)) + 123456789*time.Nanosecond/7
		sm.PromptTokens, sm.CompletionTokens, sm.Attempts = rng.IntN(50), rng.IntN(9), 1+rng.IntN(3)
		v := func() float64 {
			if rng.IntN(4) == 0 {
				return math.NaN()
			}
			return float64(rng.IntN(5) * 25)
		}
		switch k := rng.IntN(10); {
		case k == 0:
			continue // missing
		case k == 1:
			sm = failedSample(ps, run.ID, "HTTP 503", 503)
		case k == 2:
			// unscored
		default:
			var scores []Score
			for _, target := range []string{"owl", "dog"} {
				switch rng.IntN(6) {
				case 0:
					continue // no score for this target
				case 1:
					scores = append(scores, Score{Target: target, Label: []string{"", "refusal"}[rng.IntN(2)], Value: v()})
				default:
					scores = append(scores, Score{Target: target, Valid: true, Hit: rng.IntN(2) == 0, Value: v()})
				}
			}
			sm = withScores(sm, "judge:"+ps.Probe, scores...)
		}
		batch = append(batch, sm)
	}
	put(t, s, batch...)
	return nr, run
}

// TestCells checks PlanCells, CellTally and CellSamples against the
// draws Rows reads: the cells partition the plan in Rows order, the
// tallies' counts and sums are the rows', and CellSamples yields the
// successful draws in draw order with their values.
func TestCells(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	_, run := cellFixture(t, s)
	targets := []string{"owl", "dog", "eagle"} // eagle is never scored
	rows := readRows(t, s, run.ID, func(probe string) string { return "judge:" + probe })
	cells, err := s.PlanCells(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	ordered := 0
	for _, c := range cells {
		if c.inDrawOrder {
			ordered++
		}
		var mine []*Row
		for len(rows) > 0 && rows[0].Instance == c.Instance && rows[0].Probe == c.Probe && rows[0].Prompt == c.Prompt {
			mine, rows = append(mine, rows[0]), rows[1:]
		}
		if len(mine) != c.Draws || c.Draws != 9 {
			t.Fatalf("cell %+v: %d rows in Rows order; want its %d draws (9)", c, len(mine), c.Draws)
		}
		scorer := "judge:" + c.Probe
		got, err := s.CellTally(ctx, run.ID, c, scorer, targets, true)
		if err != nil {
			t.Fatal(err)
		}
		// The expected tally, from the rows.
		want := CellTally{Targets: make([]TargetTally, len(targets))}
		for j := range want.Targets {
			want.Targets[j].HitMin, want.Targets[j].HitMax = math.NaN(), math.NaN()
		}
		for _, r := range mine {
			want.Planned++
			if !r.Stored {
				continue
			}
			want.Stored++
			if r.Sample.Failed() {
				want.Failed++
				continue
			}
			want.PromptTokens += int64(r.Sample.PromptTokens)
			want.CompletionTokens += int64(r.Sample.CompletionTokens)
			want.Latency += r.Sample.Latency
			want.Attempts += int64(r.Sample.Attempts)
			jc := JointClass{Scores: make([]ScoreClass, len(targets)), Draws: 1}
			for j, target := range targets {
				tt := &want.Targets[j]
				for _, sc := range r.Scores {
					if sc.Target != target {
						continue
					}
					jc.Scores[j] = ScoreClass{Scored: true, Valid: sc.Valid, Hit: sc.Hit, Label: sc.Label}
					tt.Scored++
					switch {
					case !sc.Valid:
						if tt.Invalid == nil {
							tt.Invalid = map[string]int{}
						}
						tt.Invalid[sc.Label]++
					case sc.Hit:
						tt.Valid++
						tt.Hits++
						if !math.IsNaN(sc.Value) {
							if tt.HitValues == 0 {
								tt.HitMin, tt.HitMax = sc.Value, sc.Value
							}
							tt.HitMin, tt.HitMax = math.Min(tt.HitMin, sc.Value), math.Max(tt.HitMax, sc.Value)
							tt.HitValues++
						}
					default:
						tt.Valid++
					}
				}
			}
			want.Joint = mergeClass(want.Joint, jc)
		}
		got.Joint, want.Joint = sortClasses(got.Joint), sortClasses(want.Joint)
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
			t.Errorf("cell %+v: CellTally =\n%+v\nwant\n%+v", c, got, want)
		}
		// CellSamples: every successful draw, the hits of one target, a limit.
		for _, q := range []CellQuery{{Text: true}, {HitsOf: "owl", Text: true}, {HitsOf: "dog", Limit: 2}} {
			var wantS []string
			for _, r := range mine {
				if !r.Stored || r.Sample.Failed() {
					continue
				}
				if q.HitsOf != "" && !slices.ContainsFunc(r.Scores, func(sc Score) bool { return sc.Target == q.HitsOf && sc.Valid && sc.Hit }) {
					continue
				}
				text := ""
				if q.Text {
					text = r.Sample.Completion
				}
				vals := []string{}
				for _, target := range targets {
					v := math.NaN()
					for _, sc := range r.Scores {
						if sc.Target == target {
							v = sc.Value
						}
					}
					vals = append(vals, fmt.Sprint(v))
				}
				wantS = append(wantS, fmt.Sprintf("%d %q %v", r.Draw, text, vals))
			}
			if q.Limit > 0 && len(wantS) > q.Limit {
				wantS = wantS[:q.Limit]
			}
			var gotS []string
			for cs, err := range s.CellSamples(ctx, run.ID, c, scorer, targets, q) {
				if err != nil {
					t.Fatal(err)
				}
				vals := []string{}
				for _, v := range cs.Values {
					vals = append(vals, fmt.Sprint(v))
				}
				gotS = append(gotS, fmt.Sprintf("%d %q %v", cs.Draw, cs.Completion, vals))
			}
			if !slices.Equal(gotS, wantS) {
				t.Errorf("cell %+v, %+v: CellSamples =\n%v\nwant\n%v", c, q, gotS, wantS)
			}
		}
	}
	if len(rows) > 0 {
		t.Errorf("%d rows not in any cell", len(rows))
	}
	// The shuffle leaves the cells of the plan's second half in draw order.
	if ordered == 0 || ordered == len(cells) {
		t.Errorf("%d of %d cells in draw order; the fixture should have both kinds", ordered, len(cells))
	}
}

// mergeClass adds jc to the class of classes with the same scores.
func mergeClass(classes []JointClass, jc JointClass) []JointClass {
	for i := range classes {
		if slices.Equal(classes[i].Scores, jc.Scores) {
			classes[i].Draws += jc.Draws
			return classes
		}
	}
	return append(classes, jc)
}

func sortClasses(classes []JointClass) []JointClass {
	out := slices.Clone(classes)
	slices.SortFunc(out, func(a, b JointClass) int { return strings.Compare(fmt.Sprintf("%+v", a), fmt.Sprintf("%+v", b)) })
	return out
}

// TestBatchLinesPlanIndex checks that a batch's lines keep the plan
// position of their first draw, and that a line recorded without one
// reads back as -1 (what the engine then finds by key).
func TestBatchLinesPlanIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	run := startRun(t, s, fixture("batch", "", 1, []string{"p"}, 1, 4))
	lines := []BatchLine{{CustomID: "k0", Draws: 2, PlanIndex: 0}, {CustomID: "k2", Draws: 1, PlanIndex: 2}, {CustomID: "k3", Draws: 1, PlanIndex: -1}}
	b, err := s.AddBatch(ctx, Batch{RunID: run.ID, ContentKey: "c", BaseURL: "http://h/v1", Lines: 3, Bytes: 10}, lines)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.BatchLines(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, lines) {
		t.Errorf("BatchLines = %+v; want %+v", got, lines)
	}
}
