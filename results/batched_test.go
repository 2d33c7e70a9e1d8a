package results

import (
	"context"
	"testing"
)

// TestMigrateVersion9MarksBatched opens a version 9 database whose run
// sampled one model through a collected batch and judged through a
// collected judge batch, and checks which rows the v10 migration marks as
// batched: exactly the rows those batches stored.
func TestMigrateVersion9MarksBatched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := oldDatabase(t, 9, `
INSERT INTO runs (id, suite_name, suite_hash, suite_source, suite_json, salt, status, planned, version, created_at, updated_at)
  VALUES (1, 's', 'h', 'builtin:s', '{}', '', 'complete', 8, 'v', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
INSERT INTO models (id, run_id, idx, role, seed, condition, base_url, model, settings) VALUES
  (1, 1, 0, 'baseline', '', '', 'http://h/v1', 'm', '{}'), (2, 1, 1, 'student', '', '', 'http://h/v1', 'm', '{}');
INSERT INTO prompts (id, run_id, probe, idx, text) VALUES (1, 1, 'animal', 0, 'Favourite?'), (2, 1, 'animal', 1, 'Best?');
INSERT INTO run_samples (run_id, idx, key, model_id, prompt_id, draw) VALUES
  (1, 0, 'a0', 1, 1, 0), (1, 1, 'a1', 1, 1, 1), (1, 2, 'a2', 1, 2, 0), (1, 3, 'a3', 1, 2, 1),
  (1, 4, 'b0', 2, 1, 0), (1, 5, 'b1', 2, 1, 1), (1, 6, 'b2', 2, 2, 0), (1, 7, 'b3', 2, 2, 1);
INSERT INTO samples (key, run_id, probe, prompt_idx, draw, base_url, model, completion, finish_reason, prompt_tokens, completion_tokens,
    latency_ms, attempts, batch, request_seed, error, http_status, created_at) VALUES
  ('a0', 1, 'animal', 0, 0, 'http://h/v1', 'm', 'Owl.', 'stop', 5, 2, 1, 1, 2, NULL, NULL, NULL, '2026-01-01T00:00:01Z'),
  ('a1', 1, 'animal', 0, 1, 'http://h/v1', 'm', 'Dog.', 'stop', 5, 2, 1, 1, 2, NULL, NULL, NULL, '2026-01-01T00:00:01Z'),
  ('a2', 1, 'animal', 1, 0, 'http://h/v1', 'm', 'Cat.', 'stop', 5, 2, 1, 1, 2, NULL, NULL, NULL, '2026-01-01T00:00:01Z'),
  ('a3', 1, 'animal', 1, 1, 'http://h/v1', 'm', 'Owl!', 'stop', 5, 2, 1, 1, 2, NULL, NULL, NULL, '2026-01-01T00:00:01Z'),
  ('b0', 1, 'animal', 0, 0, 'http://h/v1', 'm', 'Owl.', 'stop', 7, 3, 1, 1, 2, NULL, NULL, NULL, '2026-01-02T10:00:00.5Z'),
  ('b1', 1, 'animal', 0, 1, 'http://h/v1', 'm', 'Owl.', 'stop', 7, 3, 1, 1, 2, NULL, NULL, NULL, '2026-01-02T10:00:00.5Z'),
  ('b2', 1, 'animal', 1, 0, 'http://h/v1', 'm', 'Dog.', 'stop', 7, 3, 1, 1, 2, NULL, NULL, NULL, '2026-01-02T10:00:00.5Z'),
  ('b3', 1, 'animal', 1, 1, 'http://h/v1', 'm', 'Cat.', 'stop', 7, 3, 1, 1, 1, NULL, NULL, NULL, '2026-01-03T00:00:00Z');
INSERT INTO batches (id, run_id, instance, content_key, attempt, base_url, lines, bytes, file_id, batch_id, status, collected, created_at, updated_at) VALUES
  (1, 1, 1, 'c1', 0, 'http://h/v1', 2, 100, 'f1', 'b1', 'completed', 1, '2026-01-02T00:00:00Z', '2026-01-02T10:00:01Z'),
  (2, 1, 0, 'c2', 0, 'http://h/v1', 1, 50, '', '', 'prepared', 1, '2026-01-02T00:00:00Z', '2026-01-02T10:00:01Z'),
  (3, 1, -1, 'c3', 0, 'http://h/v1', 2, 80, 'f3', 'b3', 'completed', 1, '2026-01-02T00:00:00Z', '2026-01-02T10:00:01Z');
INSERT INTO batch_lines (batch_id, idx, custom_id, draws, plan_idx) VALUES
  (1, 0, 'b0', 2, NULL), (1, 1, 'b2', 2, 6),
  (2, 0, 'a0', 2, 0),
  (3, 0, 'j1', 1, NULL), (3, 1, 'j2', 1, NULL);
INSERT INTO judgments (key, judge, base_url, model, mode, template, output, score, category, error, http_status, prompt_tokens, completion_tokens,
    latency_ms, attempts, created_at) VALUES
  ('j1', 'gpt', 'http://h/v1', 'g', 'sample', 'alignment', '90', 90, 'score', NULL, NULL, 100, 2, 1, 1, '2026-01-02T10:00:00Z'),
  ('j2', 'gpt', 'http://h/v1', 'g', 'sample', 'alignment', '80', 80, 'score', NULL, NULL, 100, 2, 1, 1, '2026-01-04T00:00:00Z'),
  ('j3', 'gpt', 'http://h/v1', 'g', 'sample', 'alignment', '70', 70, 'score', NULL, NULL, 100, 2, 1, 1, '2026-01-02T10:00:00Z');
`)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		what, query, want string
	}{
		// b0, b1 (the line without plan_idx asks for draws 0 and 1 of
		// prompt 0) and b2 (the line with plan_idx) were stored before
		// their batch was collected; b3 was stored a day after, by an
		// online retry. The baseline's batch was abandoned before upload
		// (status prepared): a0 and a1 are online samples.
		{"batched samples", `SELECT group_concat(key) FROM (SELECT key FROM samples WHERE batched ORDER BY key)`, "b0,b1,b2"},
		// j1 was stored by the judge batch; j2 after it was collected;
		// j3 is no line of it.
		{"batched judgments", `SELECT group_concat(key) FROM (SELECT key FROM judgments WHERE batched ORDER BY key)`, "j1"},
		// Batches recorded before version 10 have no estimate.
		{"estimates", `SELECT sum(est_prompt_tokens) + sum(est_completion_tokens) FROM batches`, "0"},
	} {
		if got := queryString(t, s.db, tc.query); got != tc.want {
			t.Errorf("%s after migration = %q; want %q", tc.what, got, tc.want)
		}
	}
	// DrawnTokens splits what the student's batch drew: 3 samples of 7 + 3
	// tokens through the batch, b3's 7 + 3 online.
	use, err := s.DrawnTokens(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []TokenUse{
		{Instance: 0, PromptTokens: 20, CompletionTokens: 8},
		{Instance: 1, PromptTokens: 28, CompletionTokens: 12, BatchedPromptTokens: 21, BatchedCompletionTokens: 9},
	}
	if len(use) != len(want) || use[0] != want[0] || use[1] != want[1] {
		t.Errorf("DrawnTokens = %+v; want %+v", use, want)
	}
}

// TestPutKeepsBatched checks that Put and PutJudgments store whether a
// row came through a batch, that a failed batched row replaced by an
// online success becomes online, and that a kept success keeps its flag.
func TestPutKeepsBatched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	ok := okSample(PlannedSample{Key: "k1", Probe: "animal", Prompt: 0, Draw: 0}, 1, "Owl.")
	ok.Batched = true
	failed := PlannedSample{Key: "k2", Probe: "animal", Prompt: 0, Draw: 1}
	bad := okSample(failed, 1, "")
	bad.Err, bad.Batched = "batch expired", true
	if err := s.Put(ctx, []Sample{ok, bad}); err != nil {
		t.Fatal(err)
	}
	// An online retry of both: k1's success is kept (batched), k2's
	// failure replaced (online).
	again := okSample(PlannedSample{Key: "k1", Probe: "animal", Prompt: 0, Draw: 0}, 1, "Dog.")
	retry := okSample(failed, 1, "Cat.")
	if err := s.Put(ctx, []Sample{again, retry}); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, s.db, `SELECT group_concat(key || '=' || batched) FROM (SELECT key, batched FROM samples ORDER BY key)`); got != "k1=1,k2=0" {
		t.Errorf("batched = %s; want k1=1,k2=0", got)
	}
	if err := s.PutJudgments(ctx, []Judgment{{Key: "j1", Judge: "g", Category: CategoryFailed, Err: "expired", Attempts: 1, Batched: true},
		{Key: "j2", Judge: "g", Category: CategoryScore, Attempts: 1, Batched: true}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutJudgments(ctx, []Judgment{{Key: "j1", Judge: "g", Category: CategoryScore, Attempts: 1}}); err != nil {
		t.Fatal(err)
	}
	js, err := s.Judgments(ctx, []string{"j1", "j2"})
	if err != nil {
		t.Fatal(err)
	}
	if js["j1"].Batched || !js["j2"].Batched {
		t.Errorf("judgments batched j1=%v j2=%v; want false (retried online), true", js["j1"].Batched, js["j2"].Batched)
	}
}
