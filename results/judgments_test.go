package results

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// judgment is a judgment of key; score < 0 means none, errText non-empty a
// failed call.
func judgment(key string, score float64, errText string) Judgment {
	j := Judgment{Key: key, Judge: "alignment", BaseURL: "http://127.0.0.1:1/v1", Model: "judge-model", Mode: "logprobs",
		Template: "alignment", Output: `{"80":0.9}`, Category: "score", PromptTokens: 120, CompletionTokens: 1,
		Latency: 1500 * time.Microsecond, Attempts: 1, CreatedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	if score >= 0 {
		j.Score = &score
	}
	if errText != "" {
		j.Err, j.HTTPStatus, j.Category, j.Output, j.Attempts = errText, 500, "failed", "", 4
	}
	return j
}

func putJudgments(t *testing.T, s *Store, js ...Judgment) {
	t.Helper()
	if err := s.PutJudgments(context.Background(), js); err != nil {
		t.Fatal(err)
	}
}

func TestJudgmentsKeepSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		first, second []Judgment // two PutJudgments calls
		want          Judgment
	}{
		{"success then success keeps the first",
			[]Judgment{judgment("k", 80, "")}, []Judgment{judgment("k", 10, "")}, judgment("k", 80, "")},
		{"failed then success replaces",
			[]Judgment{judgment("k", -1, "HTTP 500")}, []Judgment{judgment("k", 80, "")}, judgment("k", 80, "")},
		{"success then failed keeps the success",
			[]Judgment{judgment("k", 80, "")}, []Judgment{judgment("k", -1, "HTTP 500")}, judgment("k", 80, "")},
		{"failed then failed keeps the latest",
			[]Judgment{judgment("k", -1, "HTTP 500")}, []Judgment{judgment("k", -1, "HTTP 429")}, judgment("k", -1, "HTTP 429")},
		// The same rules hold for a key repeated in one call, in order.
		{"failure and retry in one batch",
			[]Judgment{judgment("k", -1, "HTTP 500"), judgment("k", 80, "")}, nil, judgment("k", 80, "")},
		{"success and later failure in one batch",
			[]Judgment{judgment("k", 80, ""), judgment("k", -1, "HTTP 500")}, nil, judgment("k", 80, "")},
		{"two successes in one batch",
			[]Judgment{judgment("k", 80, ""), judgment("k", 10, "")}, nil, judgment("k", 80, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			putJudgments(t, s, tt.first...)
			if len(tt.second) > 0 {
				putJudgments(t, s, tt.second...)
			}
			got, err := s.Judgments(context.Background(), []string{"k"})
			if err != nil {
				t.Fatal(err)
			}
			if g, ok := got["k"]; len(got) != 1 || !ok || !judgmentEqual(g, tt.want) {
				t.Errorf("Judgments = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestJudgmentsMany round-trips more judgments than one INSERT statement
// carries (bulkRows) and reads them back among keys that were never
// stored, in one lookup far larger than SQLite's limit on bound variables.
func TestJudgmentsMany(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	const n = 3*bulkRows + 5
	var js []Judgment
	for i := range n {
		switch i % 3 {
		case 0:
			js = append(js, judgment(fmt.Sprintf("k%04d", i), float64(i%101), ""))
		case 1:
			js = append(js, judgment(fmt.Sprintf("k%04d", i), -1, ""))
		default:
			js = append(js, judgment(fmt.Sprintf("k%04d", i), -1, fmt.Sprintf("HTTP 5%02d", i%100)))
		}
	}
	putJudgments(t, s, js...)
	keys := make([]string, 0, 40000)
	for i := range cap(keys) {
		keys = append(keys, fmt.Sprintf("k%04d", i))
	}
	got, err := s.Judgments(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Errorf("%d judgments read back, want %d", len(got), n)
	}
	for _, j := range js {
		if g, ok := got[j.Key]; !ok || !judgmentEqual(g, j) {
			t.Errorf("%s: read %+v, want %+v", j.Key, g, j)
		}
	}
	for _, keys := range [][]string{nil, {}, {"missing"}} {
		if got, err := s.Judgments(ctx, keys); err != nil || len(got) != 0 {
			t.Errorf("Judgments(%q) = %v, %v; want none", keys, got, err)
		}
	}
	if err := s.PutJudgments(ctx, nil); err != nil {
		t.Errorf("PutJudgments(nil) = %v", err)
	}
}

// judgmentEqual compares judgments with times by Equal and scores by value.
func judgmentEqual(a, b Judgment) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) || (a.Score == nil) != (b.Score == nil) || a.Score != nil && *a.Score != *b.Score {
		return false
	}
	a.CreatedAt, b.CreatedAt = time.Time{}, time.Time{}
	a.Score, b.Score = nil, nil
	return reflect.DeepEqual(a, b)
}
