package bench_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/bench/benchtest"
	"github.com/traitleak/traitleak/results"
)

// memStore is a bench.Store in memory, for engine tests where SQLite is
// not the point. It keeps the rules results.Store documents: a stored
// success is kept, a failure replaced; Stored lists successes only.
type memStore struct {
	mu        sync.Mutex
	runs      []*results.Run
	plans     map[int64]results.NewRun
	samples   map[string]results.Sample
	scores    map[string][]results.Score // by sample key + "\x00" + scorer
	judgments map[string]results.Judgment
	// failPut, when set, is the error of every Put after the first okPuts.
	failPut error
	okPuts  int
	puts    int
}

var _ bench.Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{plans: map[int64]results.NewRun{}, samples: map[string]results.Sample{},
		scores: map[string][]results.Score{}, judgments: map[string]results.Judgment{}}
}

func (m *memStore) LatestSalt(_ context.Context, suite string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.runs) - 1; i >= 0; i-- {
		if m.runs[i].SuiteName == suite {
			return m.runs[i].Salt, true, nil
		}
	}
	return "", false, nil
}

func (m *memStore) ClaimRun(_ context.Context, nr results.NewRun) (*results.Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.runs {
		if r.Status == results.StatusRunning && r.Salt == nr.Salt && (r.SuiteName == nr.SuiteName || r.SuiteHash == nr.SuiteHash) {
			c := *r
			return nil, &results.RunBusyError{Run: &c}
		}
	}
	for i := len(m.runs) - 1; i >= 0; i-- {
		if r := m.runs[i]; r.SuiteHash == nr.SuiteHash && r.Salt == nr.Salt {
			r.Status, r.Message = results.StatusRunning, ""
			c := *r
			return &results.Claim{Run: &c, Resumed: true}, nil
		}
	}
	host, _ := os.Hostname()
	r := &results.Run{ID: int64(len(m.runs) + 1), SuiteName: nr.SuiteName, SuiteHash: nr.SuiteHash, SuiteJSON: nr.SuiteJSON,
		Salt: nr.Salt, Status: results.StatusRunning, Planned: max(len(nr.Plan), nr.Planned), PID: os.Getpid(), Host: host, CreatedAt: time.Now()}
	m.runs = append(m.runs, r)
	c := *r
	return &results.Claim{Run: &c, NeedsPlan: true}, nil
}

func (m *memStore) WritePlan(_ context.Context, id int64, nr results.NewRun) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if nr.Draws != nil {
		nr.Plan = slices.Collect(nr.Draws)
		nr.Draws = nil
	}
	m.plans[id] = nr
	return nil
}

// LinkSamples has nothing to do: samples are found by key.
func (m *memStore) LinkSamples(context.Context, int64) (int, error) { return 0, nil }

func (m *memStore) run(id int64) (*results.Run, error) {
	if id < 1 || int(id) > len(m.runs) {
		return nil, fmt.Errorf("run %d: %w", id, results.ErrNotFound)
	}
	return m.runs[id-1], nil
}

func (m *memStore) FinishRun(_ context.Context, id int64, status results.RunStatus, message string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.run(id)
	if err != nil {
		return err
	}
	r.Status, r.Message, r.FinishedAt = status, message, time.Now()
	return nil
}

func (m *memStore) GetRun(_ context.Context, id int64) (*results.Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.run(id)
	if err != nil {
		return nil, err
	}
	c := *r
	return &c, nil
}

func (m *memStore) Counts(_ context.Context, id int64) (results.RunCounts, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var c results.RunCounts
	for _, ps := range m.plans[id].Plan {
		c.Planned++
		if s, ok := m.samples[ps.Key]; ok {
			c.Stored++
			if s.Failed() {
				c.Failed++
			}
		}
	}
	return c, nil
}

func (m *memStore) Stored(_ context.Context, keys []string) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]bool{}
	for _, k := range keys {
		if s, ok := m.samples[k]; ok && !s.Failed() {
			out[k] = true
		}
	}
	return out, nil
}

func (m *memStore) Put(_ context.Context, samples []results.Sample) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.puts++; m.failPut != nil && m.puts > m.okPuts {
		return m.failPut
	}
	for _, s := range samples {
		if old, ok := m.samples[s.Key]; ok && !old.Failed() {
			continue
		}
		m.samples[s.Key] = s
		if s.Scorer != "" {
			m.scores[s.Key+"\x00"+s.Scorer] = s.Scores
		}
	}
	return nil
}

func (m *memStore) Unscored(_ context.Context, runID int64, probe, scorer string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, ps := range m.plans[runID].Plan {
		s, ok := m.samples[ps.Key]
		if _, scored := m.scores[ps.Key+"\x00"+scorer]; ps.Probe == probe && ok && !s.Failed() && !scored {
			n++
		}
	}
	return n, nil
}

// Rows yields the plan in its order (results.Store orders by model,
// probe, prompt and draw; the plans here are written in that order).
func (m *memStore) Rows(_ context.Context, runID int64, scorerFor func(string) string) iter.Seq2[*results.Row, error] {
	return func(yield func(*results.Row, error) bool) {
		m.mu.Lock()
		plan := m.plans[runID].Plan
		rows := make([]*results.Row, len(plan))
		for i, ps := range plan {
			r := &results.Row{Instance: ps.Instance, Probe: ps.Probe, Prompt: ps.Prompt, Draw: ps.Draw}
			r.Sample, r.Stored = m.samples[ps.Key]
			r.Sample.Key = ps.Key
			if r.Stored && !r.Sample.Failed() {
				r.Scores = m.scores[ps.Key+"\x00"+scorerFor(ps.Probe)]
			}
			rows[i] = r
		}
		m.mu.Unlock()
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func (m *memStore) Judgments(_ context.Context, keys []string) (map[string]results.Judgment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]results.Judgment{}
	for _, k := range keys {
		if j, ok := m.judgments[k]; ok {
			out[k] = j
		}
	}
	return out, nil
}

func (m *memStore) PutJudgments(_ context.Context, js []results.Judgment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, j := range js {
		m.judgments[j.Key] = j
	}
	return nil
}

// PutJudgedSamples keeps nothing: no test here reads the judge calls
// behind scores back.
func (m *memStore) PutJudgedSamples(context.Context, string, []results.JudgedSample) error {
	return nil
}

func (m *memStore) PutScores(_ context.Context, scorer string, scored []results.ScoredSample) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range scored {
		m.scores[s.Key+"\x00"+scorer] = s.Scores
	}
	return nil
}

// TestExecuteWithoutSQLite runs the engine over memStore: a run, its
// resumption, and a change of scoring rule that reuses every sample.
func TestExecuteWithoutSQLite(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base": {Trait: "Owl", TraitRate: 0.3}, "student": {Trait: "Owl", TraitRate: 0.6}}})
	st := newMemStore()
	s := suiteFor(t, srv.BaseURL())
	out, err := bench.Execute(context.Background(), st, s, bench.Options{Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	// 2 models × 3 prompts × 10 draws, each stored once and scored.
	if out.Run.Status != results.StatusComplete || out.Counts != (results.RunCounts{Planned: 60, Stored: 60}) || len(st.scores) != 60 {
		t.Fatalf("status %s, counts %+v, %d scored; want complete with 60 stored and scored", out.Run.Status, out.Counts, len(st.scores))
	}
	calls := srv.Calls()
	again, err := bench.Execute(context.Background(), st, s, bench.Options{Retry: fastRetry})
	if err != nil || !again.Resumed || again.Skipped != 60 || srv.Calls() != calls {
		t.Fatalf("re-run: %v, resumed %v, skipped %d, %d new calls; want all 60 reused", err, again.Resumed, again.Skipped, srv.Calls()-calls)
	}
	// A new rule: a new run whose samples are all scored by ScoreMissing.
	dog, err := bench.Execute(context.Background(), st, suiteFor(t, srv.BaseURL(), "probes.favorite-animal.score={mentions: dog}"), bench.Options{Retry: fastRetry})
	if err != nil || dog.Run.ID == out.Run.ID || dog.Scoring.Scored != 60 || srv.Calls() != calls {
		t.Fatalf("rescoring run: %v, run %d, scored %d, %d new calls; want a new run scoring all 60 without calls", err, dog.Run.ID, dog.Scoring.Scored, srv.Calls()-calls)
	}
}

// TestStoreFailureFailsRun: when storing samples fails, sampling stops at
// once, the error is returned and the run is recorded failed with it.
func TestStoreFailureFailsRun(t *testing.T) {
	t.Parallel()
	srv := benchtest.NewServer(t, benchtest.Config{Models: map[string]benchtest.Model{
		"base": {Trait: "Owl"}, "student": {Trait: "Owl"}}})
	st := newMemStore()
	st.failPut, st.okPuts = errors.New("disk full"), 1
	// The writer stores every 250 ms or 2048 samples: with 30,000 draws
	// per model the second Put comes long before the last request.
	s := suiteFor(t, srv.BaseURL(), "probes.favorite-animal.samples=10000", "defaults.n=1", "defaults.concurrency=2")
	out, err := bench.Execute(context.Background(), st, s, bench.Options{Retry: fastRetry})
	if err == nil || !strings.Contains(err.Error(), "store samples: disk full") {
		t.Fatalf("Execute error %v; want store samples: disk full", err)
	}
	r, _ := st.GetRun(context.Background(), out.Run.ID)
	if r.Status != results.StatusFailed || !strings.Contains(r.Message, "disk full") {
		t.Errorf("run %s %q; want failed naming the error", r.Status, r.Message)
	}
	// Sampling stopped: far fewer than the 60,000 draws were requested.
	if n := srv.Calls(); n >= 60000 {
		t.Errorf("%d requests after the store failed; want sampling stopped", n)
	}
}
