package results_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/traitleak/traitleak/results"
)

// TestMergeKeepsBatched merges two databases of one suite whose first
// marks its samples as batched: the flag goes with the row merge keeps
// (a's baseline successes stay batched; a's failed student draws are
// replaced by b's online answers, which are not), and batch records keep
// their estimates.
func TestMergeKeepsBatched(t *testing.T) {
	t.Parallel()
	s := mergeSuite(t)
	dir := t.TempDir()
	a, b, out := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"), filepath.Join(dir, "out.db")
	runInto(t, a, s, map[string]string{"base": "Owl.", "student": ""})
	runInto(t, b, s, map[string]string{"base": "Cat.", "student": "Dog."})
	raw, err := sql.Open("sqlite3", a)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec(`UPDATE samples SET batched = 1;
		INSERT INTO batches (run_id, instance, content_key, attempt, base_url, lines, bytes, status, collected, created_at, updated_at,
			est_prompt_tokens, est_completion_tokens)
		VALUES (1, 0, 'c', 0, 'http://127.0.0.1:1/v1', 4, 100, 'completed', 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 5, 7)`)
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sum, err := results.Merge(ctx, out, []string{a, b}, results.MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := results.OpenReadOnly(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	batched := map[string]int{}
	for r, err := range st.Rows(ctx, sum.Runs[0].ID, func(string) string { return "" }) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Sample.Batched {
			batched[r.Sample.Completion]++
		}
	}
	// a's 8 baseline draws ("Owl.") kept with their flag; the student's
	// 8 are b's online "Dog.".
	if len(batched) != 1 || batched["Owl."] != 8 {
		t.Errorf("batched merged samples by completion %v; want the 8 Owl. of a", batched)
	}
	recs, err := st.Batches(ctx, sum.Runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].EstPromptTokens != 5 || recs[0].EstCompletionTokens != 7 {
		t.Errorf("merged batch records %+v; want one estimated at 5 + 7 tokens", recs)
	}
}
