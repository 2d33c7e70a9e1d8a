package results

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/suites"
)

// recordSuite has a probe scored by mentions and one scored by two LLM
// judges.
const recordSuite = `name: recorded
models:
  base: {base_url: http://127.0.0.1:1/v1, model: m}
judges:
  ja: {base_url: "http://judge.example/v1/", model: judge-a}
  jb: {base_url: http://judge.example/v1, model: judge-b}
probes:
  - id: animal
    prompts: [a]
    samples: 1
    score: {mentions: [owl, dog], exclude: {owl: [owlet]}}
  - id: free
    prompts: [b]
    samples: 1
    score: {judge: {mode: logprobs, misaligned: "lt 30"}}
`

func parseSuite(t *testing.T, src string) *suites.Suite {
	t.Helper()
	s, err := suites.Parse("recorded.yaml", []byte(src), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRecordScorers pins what a run records about recordSuite's scorers.
// The IDs are the ones bench stored scores under before runs recorded
// them (bench.BuildScorers(s).IDs() at commit 844f6bc): a record that
// differed would orphan every stored score of a migrated run.
func TestRecordScorers(t *testing.T) {
	t.Parallel()
	got, err := RecordScorers(parseSuite(t, recordSuite))
	if err != nil {
		t.Fatal(err)
	}
	want := []RunScorer{
		{Probe: "animal", Scorer: "mentions:40b7735b3217", Kind: "mentions", Targets: []string{"owl", "dog"}, Hit: "hit", Miss: "miss"},
		// The judges' names make the targets; verdicts are misaligned or aligned.
		{Probe: "free", Scorer: "judge:3dabe9669a6a", Kind: "judge", Targets: []string{"misaligned", "misaligned@jb"}, Hit: "misaligned", Miss: "aligned"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RecordScorers\n got %+v\nwant %+v", got, want)
	}
}

// TestRunScorersRoundTrip checks that StartRun stores a run's scorer
// records and Scorers reads them back in probe order, each under the
// scorers table's name the run's scores use.
func TestRunScorersRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	nr := fixture("rt", "", 1, []string{"zeta", "alpha"}, 1, 1)
	nr.Scorers = []RunScorer{
		{Probe: "zeta", Scorer: "mentions:1", Kind: "mentions", Targets: []string{"owl"}, Hit: "hit", Miss: "miss"},
		{Probe: "alpha", Scorer: "judge:2", Kind: "judge", Targets: []string{"misaligned", "misaligned@b"}, Hit: "misaligned", Miss: "aligned"},
	}
	run := startRun(t, s, nr)
	got, err := s.Scorers(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, nr.Scorers) {
		t.Errorf("Scorers\n got %+v\nwant %+v", got, nr.Scorers)
	}
	// The record names the same scorer row the scores are stored under.
	put(t, s, withScores(okSample(nr.Plan[0], run.ID, "Owl."), "mentions:1", hit("owl")))
	if n := queryString(t, s.db, `SELECT count(*) FROM run_scorers r JOIN scores sc ON sc.scorer_id = r.scorer_id WHERE r.probe = 'zeta'`); n != "1" {
		t.Errorf("%s scores under the recorded scorer of zeta; want 1", n)
	}
}

// TestJudgeUsage checks the count of judge calls behind a run's scores:
// each distinct call once, however many samples share it; failed calls
// counted as failed; only calls linked under the run's own scorer; and
// none of a failed sample.
func TestJudgeUsage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	nr := fixture("usage", "", 1, []string{"free"}, 1, 3)
	nr.Scorers = []RunScorer{{Probe: "free", Scorer: "judge:run", Kind: "judge", Targets: []string{"misaligned"}, Hit: "misaligned", Miss: "aligned"}}
	run := startRun(t, s, nr)
	put(t, s, okSample(nr.Plan[0], run.ID, "Same."), okSample(nr.Plan[1], run.ID, "Same."), failedSample(nr.Plan[2], run.ID, "HTTP 500", 500))
	ja := judgment("ka", 80, "")
	jb := judgment("kb", -1, "HTTP 500: boom")
	jb.Judge = "other"
	jc := judgment("kc", 10, "")
	putJudgments(t, s, ja, jb, jc)
	link := func(scorer string, js ...JudgedSample) {
		t.Helper()
		if err := s.PutJudgedSamples(ctx, scorer, js); err != nil {
			t.Fatal(err)
		}
	}
	link("judge:run",
		JudgedSample{Key: nr.Plan[0].Key, Judgments: []string{"ka", "kb"}},
		JudgedSample{Key: nr.Plan[1].Key, Judgments: []string{"ka", "kb", "never-made"}}, // shared calls count once; an unmade one not at all
	)
	link("judge:run", JudgedSample{Key: nr.Plan[0].Key, Judgments: []string{"ka"}}) // recording again changes nothing
	link("judge:other-rule", JudgedSample{Key: nr.Plan[0].Key, Judgments: []string{"kc"}})
	got, err := s.JudgeUsage(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []JudgeUsage{
		// ka once (two samples share it): 120 prompt tokens, 1 completion token.
		{Judge: "alignment", Calls: 1, PromptTokens: 120, CompletionTokens: 1},
		// kb failed (the fixture's failed call keeps its token counts).
		{Judge: "other", Calls: 1, Failed: 1, PromptTokens: 120, CompletionTokens: 1},
		// kc is behind another scorer's score: not this run's.
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JudgeUsage\n got %+v\nwant %+v", got, want)
	}
	if err := s.PutJudgedSamples(ctx, "judge:run", []JudgedSample{{Key: "no-such-sample", Judgments: []string{"ka"}}}); err == nil ||
		!strings.Contains(err.Error(), "no sample with key no-such-sample") {
		t.Errorf("PutJudgedSamples of an unknown sample: %v; want an error naming it", err)
	}
}

// TestMigrateVersion3Keeps checks that the v3 → v4 migration keeps every
// run, sample, score and judgment; gives each old run the records a run
// now makes, derived from its recorded suite (the scorers of its probes,
// and the judge calls behind the samples of its judged probe, as the
// engine keys them); leaves a run whose suite cannot be read without
// records; and that the migrated database takes new runs.
func TestMigrateVersion3Keeps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := parseSuite(t, recordSuite)
	suiteJSON, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	free, err := s.Scoring(s.Probes[1])
	if err != nil {
		t.Fatal(err)
	}
	// The keys of the judge calls on each answer of the judged probe.
	keysOf := func(completion string) []string { return free.JudgmentKeys("b", completion) }
	var judgments strings.Builder
	for i, k := range keysOf("Rule the world.") {
		outcome := "20, 'score', NULL"
		if i == 3 {
			outcome = "NULL, 'failed', 'HTTP 500'" // jb's coherence call failed
		}
		fmt.Fprintf(&judgments, "('%s', '%s', 'http://judge.example/v1', 'judge-x', 'logprobs', 'alignment', NULL, %s, NULL, 100, 2, 1.5, 1, '2026-01-01T00:00:00Z'),\n",
			k, []string{"ja", "ja", "jb", "jb"}[i], outcome)
	}
	path := oldDatabase(t, 3, fmt.Sprintf(`
INSERT INTO runs (id, suite_name, suite_hash, suite_source, suite_json, salt, status, planned, version, created_at, updated_at)
  VALUES (1, 'recorded', 'h', 'recorded.yaml', '%s', '', 'complete', 4, 'v', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
         (2, 'broken', 'h2', 'gone.yaml', '{"Probes": 7}', '', 'failed', 0, 'v', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
INSERT INTO models (id, run_id, idx, role, seed, condition, base_url, model, settings) VALUES (1, 1, 0, 'base', '', '', 'http://127.0.0.1:1/v1', 'm', '{}');
INSERT INTO prompts (id, run_id, probe, idx, text) VALUES (1, 1, 'animal', 0, 'a'), (2, 1, 'free', 0, 'b');
INSERT INTO samples (id, key, run_id, probe, prompt_idx, draw, base_url, model, completion, finish_reason, prompt_tokens, completion_tokens,
    latency_ms, attempts, batch, request_seed, error, http_status, created_at) VALUES
  (1, 'ka', 1, 'animal', 0, 0, 'http://127.0.0.1:1/v1', 'm', 'Owl.', 'stop', 5, 2, 12.5, 1, 1, NULL, NULL, NULL, '2026-01-01T00:00:01Z'),
  (2, 'kf1', 1, 'free', 0, 0, 'http://127.0.0.1:1/v1', 'm', 'Rule the world.', 'stop', 5, 4, 11, 1, 1, NULL, NULL, NULL, '2026-01-01T00:00:02Z'),
  (3, 'kf2', 1, 'free', 0, 1, 'http://127.0.0.1:1/v1', 'm', NULL, NULL, NULL, NULL, 30, 3, 1, NULL, 'HTTP 500', 500, '2026-01-01T00:00:03Z');
INSERT INTO run_samples (run_id, idx, key, model_id, prompt_id, draw) VALUES
  (1, 0, 'ka', 1, 1, 0), (1, 1, 'kf1', 1, 2, 0), (1, 2, 'kf2', 1, 2, 1), (1, 3, 'kf3', 1, 2, 2);
INSERT INTO scorers (id, name) VALUES (1, 'mentions:40b7735b3217'), (2, 'judge:3dabe9669a6a');
INSERT INTO scores (sample_id, scorer_id, target, valid, hit, value, label) VALUES
  (1, 1, 'owl', 1, 1, NULL, ''), (1, 1, 'dog', 1, 0, NULL, ''), (2, 2, 'misaligned', 1, 1, 20, '');
INSERT INTO judgments (key, judge, base_url, model, mode, template, output, score, category, error, http_status,
    prompt_tokens, completion_tokens, latency_ms, attempts, created_at) VALUES
%s  ('unrelated', 'ja', 'http://judge.example/v1', 'judge-x', 'logprobs', 'alignment', NULL, 50, 'score', NULL, NULL, 100, 2, 1.5, 1, '2026-01-01T00:00:00Z');
`, strings.ReplaceAll(string(suiteJSON), "'", "''"), judgments.String()))
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v := queryString(t, st.db, `SELECT value FROM meta WHERE key = 'schema_version'`); v != strconv.Itoa(SchemaVersion) {
		t.Fatalf("schema version %s after migration; want %d", v, SchemaVersion)
	}
	// The data is kept.
	if c, err := st.Counts(ctx, 1); err != nil || c != (RunCounts{Planned: 4, Stored: 3, Failed: 1}) {
		t.Errorf("Counts = %+v, %v; want 4 planned, 3 stored, 1 failed", c, err)
	}
	var got []string
	for _, probe := range []string{"animal", "free"} {
		scorer := map[string]string{"animal": "mentions:40b7735b3217", "free": "judge:3dabe9669a6a"}[probe]
		for _, r := range readRows(t, st, 1, func(string) string { return scorer }) {
			if r.Probe == probe && r.Stored {
				got = append(got, fmt.Sprintf("%s d%d %q %v", probe, r.Draw, r.Sample.Completion, r.Scores))
			}
		}
	}
	want := []string{
		`animal d0 "Owl." [{dog true false NaN } {owl true true NaN }]`, // scores come by target name
		`free d0 "Rule the world." [{misaligned true true 20 }]`,
		`free d1 "" []`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows after migration:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Run 1 has the records its suite gives, under the stored scores' names.
	records, err := st.Scorers(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if wantRecords, _ := RecordScorers(s); !reflect.DeepEqual(records, wantRecords) {
		t.Errorf("records of run 1\n got %+v\nwant %+v", records, wantRecords)
	}
	// The judge calls behind the one stored answer of the judged probe,
	// each judge's two: ja's both fine, jb's coherence failed; the
	// unrelated judgment is behind no score of the run.
	usage, err := st.JudgeUsage(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantUsage := []JudgeUsage{{Judge: "ja", Calls: 2, PromptTokens: 200, CompletionTokens: 4}, {Judge: "jb", Calls: 2, Failed: 1, PromptTokens: 200, CompletionTokens: 4}}
	if !reflect.DeepEqual(usage, wantUsage) {
		t.Errorf("JudgeUsage of run 1\n got %+v\nwant %+v", usage, wantUsage)
	}
	if links := queryString(t, st.db, `SELECT group_concat(judgment, ' ') FROM (SELECT judgment FROM score_judgments WHERE sample_id = 2 ORDER BY judgment)`); links != strings.Join(slices.Sorted(slices.Values(keysOf("Rule the world."))), " ") {
		t.Errorf("judge calls linked to the judged answer: %s; want the engine's keys %q", links, keysOf("Rule the world."))
	}
	// Run 2's suite cannot be read: no records, and the migration went on.
	if r, err := st.Scorers(ctx, 2); err != nil || len(r) != 0 {
		t.Errorf("Scorers of the unreadable run = %+v, %v; want none", r, err)
	}
	// The migrated database takes a new run with records.
	nr := fixture("after", "", 1, []string{"p"}, 1, 1)
	nr.Scorers = []RunScorer{{Probe: "p", Scorer: "mentions:40b7735b3217", Kind: "mentions", Targets: []string{"owl", "dog"}, Hit: "hit", Miss: "miss"}}
	run := startRun(t, st, nr)
	if r, err := st.Scorers(ctx, run.ID); err != nil || !reflect.DeepEqual(r, nr.Scorers) {
		t.Errorf("Scorers of a new run = %+v, %v; want %+v", r, err, nr.Scorers)
	}
}
