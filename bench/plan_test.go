package bench

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

func mustParse(t *testing.T, src string, sets ...string) *suites.Suite {
	t.Helper()
	s, err := suites.Parse("t.yaml", []byte(src), "", sets)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const planSuite = `name: p
models:
  a: {base_url: http://h/v1, model: m1}
  b: {base_url: http://h/v1, model: [m2, m3]}
defaults: {n: 4, temperature: 1}
probes:
  - {id: x, prompts: [p0, p1], samples: 10, score: {mentions: owl}}
  - {id: y, prompts: [q0], samples: 3, score: {mentions: owl}, models: [b]}
`

func TestPlanShape(t *testing.T) {
	t.Parallel()
	p := NewPlan(mustParse(t, planSuite), "")
	// Probe x: 3 instances × 2 prompts × 10 draws; probe y: 2 instances × 1 × 3.
	if got, want := p.Total(), 3*2*10+2*1*3; got != want {
		t.Fatalf("Total() = %d; want %d", got, want)
	}
	jobs := slices.Collect(p.Jobs())
	// 3 × 2 prompts × 3 jobs (4 + 4 + 2) for x; 2 × 1 × 1 job for y.
	if got, want := p.Requests(), 3*2*3+2; got != want || len(jobs) != want {
		t.Errorf("Requests() = %d, %d jobs; want %d", got, len(jobs), want)
	}
	// n = 4 splits 10 draws into jobs of 4, 4 and 2; 3 draws into one job.
	var sizes []int
	for _, j := range jobs {
		if j.Instance == 0 && j.Probe == "x" && j.Prompt == 0 {
			sizes = append(sizes, j.Draws())
		}
	}
	if !slices.Equal(sizes, []int{4, 4, 2}) {
		t.Errorf("job sizes %v; want [4 4 2]", sizes)
	}
	seen := map[string]bool{}
	next := 0 // plan position of the next draw
	for _, j := range jobs {
		if j.Index != next {
			t.Fatalf("job %+v starts at plan position %d; want %d", j, j.Index, next)
		}
		next += j.Draws()
		for _, k := range j.Keys {
			if seen[k] {
				t.Fatalf("duplicate key %s", k)
			}
			seen[k] = true
		}
	}
	// Same suite and salt: same plan, key for key.
	q := NewPlan(mustParse(t, planSuite), "")
	if !reflect.DeepEqual(jobs, slices.Collect(q.Jobs())) {
		t.Error("two plans of the same suite differ")
	}
	// Draws lists the same keys in the same order, one per draw.
	i := 0
	for d := range p.Draws() {
		j := jobs[0]
		for i >= j.Draws() {
			i -= j.Draws()
			jobs = jobs[1:]
			j = jobs[0]
		}
		if d.Key != j.Keys[i] || d.Draw != j.First+i || d.Instance != j.Instance || d.Probe != j.Probe || d.Prompt != j.Prompt {
			t.Fatalf("draw %+v; want key %s of job %+v", d, j.Keys[i], j)
		}
		i++
	}
}

// TestSampleKeyStable pins the key derivation: a change here invalidates
// every sample stored by earlier versions, so it must come with a new
// keyVersion. The values were computed by the first implementation (one
// SHA-256 over the \x00-joined fields).
func TestSampleKeyStable(t *testing.T) {
	t.Parallel()
	p := NewPlan(mustParse(t, planSuite), "s1")
	jobs := slices.Collect(p.Jobs())
	got := []string{jobs[0].Keys[0], jobs[1].Keys[3], jobs[len(jobs)-1].Keys[2]}
	want := []string{"10d69e6a1d8d2c9f3e9e33c8a7d206eb", "c71004883bbc6ea157a926268cb95c40", "0480de57523177c758063a9ddf93bcf5"}
	if !slices.Equal(got, want) {
		t.Errorf("keys %v; want %v", got, want)
	}
	j := jobs[1]
	if k := SampleKey("s1", p.Suite.Seed, j.Probe, j.Prompt, p.Prompts[j.Probe][j.Prompt], j.First+3, p.Instances[j.Instance]); k != want[1] {
		t.Errorf("SampleKey = %s; want %s (the plan's key)", k, want[1])
	}
}

func TestSampleKeySensitivity(t *testing.T) {
	t.Parallel()
	firstKey := func(p *Plan) string {
		for j := range p.Jobs() {
			return j.Keys[0]
		}
		return ""
	}
	base := firstKey(NewPlan(mustParse(t, planSuite), ""))
	for _, tc := range []struct {
		name    string
		sets    []string
		salt    string
		changes bool
	}{
		// Throughput and scoring do not change what a model returns.
		{"concurrency", []string{"defaults.concurrency=99"}, "", false},
		{"n", []string{"defaults.n=1"}, "", false},
		{"rate limit", []string{"defaults.requests_per_minute=10"}, "", false},
		{"retries", []string{"defaults.max_retries=0"}, "", false},
		{"scorer", []string{"probes.x.score={mentions: eagle}"}, "", false},
		{"compare", []string{"compare=[{treatment: a, baseline: b}]"}, "", false},
		// Everything that changes the distribution of the draw does.
		{"temperature", []string{"defaults.temperature=0.5"}, "", true},
		{"max tokens", []string{"defaults.max_tokens=5"}, "", true},
		{"top_p", []string{"defaults.top_p=0.9"}, "", true},
		{"system prompt", []string{"models.a.system_prompt=You love owls."}, "", true},
		{"model id", []string{"models.a.model=m9"}, "", true},
		{"endpoint", []string{"models.a.base_url=http://other/v1"}, "", true},
		{"prompt text", []string{"probes.x.prompts=[changed, p1]"}, "", true},
		{"suite seed", []string{"seed=7"}, "", true},
		{"salt (--fresh)", nil, "f00d", true},
		{"send_seed", []string{"defaults.send_seed=false"}, "", true},
		// Two roles of one model draw independently.
		{"role", []string{"models={z: {base_url: http://h/v1, model: m1}, b: {base_url: http://h/v1, model: [m2, m3]}}"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := firstKey(NewPlan(mustParse(t, planSuite, tc.sets...), tc.salt))
			if (got != base) != tc.changes {
				t.Errorf("key changed = %v; want %v", got != base, tc.changes)
			}
		})
	}
}

func TestRequestSeed(t *testing.T) {
	t.Parallel()
	// A pure function of the key, within JSON's exact integer range.
	k := "00112233445566778899aabbccddeeff"
	if RequestSeed(k) != RequestSeed(k) || RequestSeed(k) < 0 || RequestSeed(k) >= 1<<53 {
		t.Fatalf("RequestSeed(%s) = %d", k, RequestSeed(k))
	}
	if RequestSeed(k) == RequestSeed("ff112233445566778899aabbccddeeff") {
		t.Error("different keys gave the same seed")
	}
}

// storedKeys is a SampleStore whose successful samples are keys; it
// records how many keys each Stored call asked about.
type storedKeys struct {
	keys  map[string]bool
	calls []int
}

func (s *storedKeys) Stored(_ context.Context, keys []string) (map[string]bool, error) {
	s.calls = append(s.calls, len(keys))
	out := map[string]bool{}
	for _, k := range keys {
		if s.keys[k] {
			out[k] = true
		}
	}
	return out, nil
}

func (s *storedKeys) Put(context.Context, []results.Sample) error { return nil }

func TestPending(t *testing.T) {
	t.Parallel()
	// One instance, one prompt, 10 draws in jobs of n = 4: [0-3] [4-7] [8-9].
	p := NewPlan(mustParse(t, `name: p
models: {a: {base_url: http://h/v1, model: m1}}
defaults: {n: 4}
probes: [{id: x, prompts: [p0], samples: 10, score: {mentions: owl}}]
`), "")
	keys := slices.Collect(p.Draws())
	for _, tc := range []struct {
		stored []int // draws stored
		want   string
	}{
		{nil, "[0:abcd 4:efgh 8:ij]"},               // nothing stored: every job
		{[]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "[]"}, // all stored: nothing to do
		{[]int{0, 1, 2, 3, 4, 5}, "[6:gh 8:ij]"},    // a prefix stored: the job holding its end is cut
		{[]int{1, 3, 9}, "[0:a 2:c 4:efgh 8:i]"},    // holes split a job, draw indexes kept
		{[]int{0, 1, 2, 3, 8, 9}, "[4:efgh]"},       // whole jobs stored are skipped
	} {
		st := &storedKeys{keys: map[string]bool{}}
		for _, d := range tc.stored {
			st.keys[keys[d].Key] = true
		}
		pending, err := FindPending(context.Background(), p, st)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for j := range pending.Jobs(0) {
			var draws string
			for i, k := range j.Keys {
				if k != keys[j.First+i].Key || j.Index != j.First {
					t.Fatalf("job %+v: key %d is not the plan's", j, i)
				}
				draws += string(rune('a' + j.First + i))
			}
			parts = append(parts, fmt.Sprintf("%d:%s", j.First, draws))
		}
		if got := fmt.Sprint(orEmpty(parts)); got != tc.want {
			t.Errorf("pending with draws %v stored = %s; want %s", tc.stored, got, tc.want)
		}
		if pending.Draws() != 10-len(tc.stored) {
			t.Errorf("Draws() = %d; want %d", pending.Draws(), 10-len(tc.stored))
		}
	}
}

// TestFindPendingChunks checks that FindPending asks the store about
// storedChunk keys at a time, and that the pending ranges of a plan
// larger than a chunk are right across chunk boundaries.
func TestFindPendingChunks(t *testing.T) {
	t.Parallel()
	p := NewPlan(mustParse(t, `name: p
models: {a: {base_url: http://h/v1, model: m1}, b: {base_url: http://h/v1, model: m2}}
defaults: {n: 7}
probes: [{id: x, prompts: [p0, p1], samples: 5000, score: {mentions: owl}}]
`), "")
	st := &storedKeys{keys: map[string]bool{}}
	var want []string // the keys left to sample, in plan order
	i := 0
	for d := range p.Draws() {
		// Every third draw is stored, and the whole of b's second prompt.
		if i%3 == 0 || (d.Instance == 1 && d.Prompt == 1) {
			st.keys[d.Key] = true
		} else {
			want = append(want, d.Key)
		}
		i++
	}
	pending, err := FindPending(context.Background(), p, st)
	if err != nil {
		t.Fatal(err)
	}
	// 20,000 keys: two full chunks and the rest.
	if !slices.Equal(st.calls, []int{storedChunk, storedChunk, 20000 - 2*storedChunk}) {
		t.Errorf("Stored called with %v keys; want chunks of %d", st.calls, storedChunk)
	}
	var got []string
	for j := range pending.All() {
		if j.Draws() > 7 {
			t.Fatalf("job of %d draws; n is 7", j.Draws())
		}
		got = append(got, j.Keys...)
	}
	var byLane []string
	for ii := range p.Instances {
		for j := range pending.Jobs(ii) {
			byLane = append(byLane, j.Keys...)
		}
	}
	if !slices.Equal(got, want) || !slices.Equal(byLane, want) || pending.Draws() != len(want) {
		t.Errorf("%d pending keys (%d by instance, Draws %d); want the %d unstored ones in plan order", len(got), len(byLane), pending.Draws(), len(want))
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
