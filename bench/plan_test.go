package bench

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

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
	p := NewPlan(mustParse(t, planSuite), "")
	// Probe x: 3 instances × 2 prompts × 10 draws; probe y: 2 instances × 1 × 3.
	if got, want := p.Total(), 3*2*10+2*1*3; got != want {
		t.Fatalf("Total() = %d; want %d", got, want)
	}
	// n = 4 splits 10 draws into jobs of 4, 4 and 2; 3 draws into one job.
	var sizes []int
	for _, j := range p.Jobs {
		if j.Instance == 0 && j.Probe == "x" && j.Prompt == 0 {
			sizes = append(sizes, j.Draws())
		}
	}
	if !slices.Equal(sizes, []int{4, 4, 2}) {
		t.Errorf("job sizes %v; want [4 4 2]", sizes)
	}
	seen := map[string]bool{}
	for _, j := range p.Jobs {
		for _, k := range j.Keys {
			if seen[k] {
				t.Fatalf("duplicate key %s", k)
			}
			seen[k] = true
		}
	}
	// Same suite and salt: same plan, key for key.
	q := NewPlan(mustParse(t, planSuite), "")
	if !reflect.DeepEqual(p.Jobs, q.Jobs) {
		t.Error("two plans of the same suite differ")
	}
}

// TestSampleKeyStable pins the key derivation: a change here invalidates
// every sample stored by earlier versions, so it must come with a new
// keyVersion. The values were computed by the first implementation (one
// SHA-256 over the \x00-joined fields).
func TestSampleKeyStable(t *testing.T) {
	p := NewPlan(mustParse(t, planSuite), "s1")
	got := []string{p.Jobs[0].Keys[0], p.Jobs[1].Keys[3], p.Jobs[len(p.Jobs)-1].Keys[2]}
	want := []string{"10d69e6a1d8d2c9f3e9e33c8a7d206eb", "c71004883bbc6ea157a926268cb95c40", "0480de57523177c758063a9ddf93bcf5"}
	if !slices.Equal(got, want) {
		t.Errorf("keys %v; want %v", got, want)
	}
	j := p.Jobs[1]
	if k := SampleKey("s1", p.Suite.Seed, j.Probe, j.Prompt, p.Prompts[j.Probe][j.Prompt], j.First+3, p.Instances[j.Instance]); k != want[1] {
		t.Errorf("SampleKey = %s; want %s (the plan's key)", k, want[1])
	}
}

func TestSampleKeySensitivity(t *testing.T) {
	base := NewPlan(mustParse(t, planSuite), "").Jobs[0].Keys[0]
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
			got := NewPlan(mustParse(t, planSuite, tc.sets...), tc.salt).Jobs[0].Keys[0]
			if (got != base) != tc.changes {
				t.Errorf("key changed = %v; want %v", got != base, tc.changes)
			}
		})
	}
}

func TestRequestSeed(t *testing.T) {
	// A pure function of the key, within JSON's exact integer range.
	k := "00112233445566778899aabbccddeeff"
	if RequestSeed(k) != RequestSeed(k) || RequestSeed(k) < 0 || RequestSeed(k) >= 1<<53 {
		t.Fatalf("RequestSeed(%s) = %d", k, RequestSeed(k))
	}
	if RequestSeed(k) == RequestSeed("ff112233445566778899aabbccddeeff") {
		t.Error("different keys gave the same seed")
	}
}

func TestPending(t *testing.T) {
	j := Job{Instance: 0, Probe: "x", Prompt: 0, First: 10, Keys: []string{"a", "b", "c", "d", "e"}}
	for _, tc := range []struct {
		stored []string
		want   string
	}{
		{nil, "[10:abcde]"},                       // nothing stored: the whole job
		{[]string{"a", "b", "c", "d", "e"}, "[]"}, // all stored: nothing to do
		{[]string{"a", "b"}, "[12:cde]"},          // a prefix stored
		{[]string{"b", "d"}, "[10:a 12:c 14:e]"},  // holes split the job, draw indexes kept
	} {
		stored := map[string]bool{}
		for _, k := range tc.stored {
			stored[k] = true
		}
		var parts []string
		for _, p := range Pending([]Job{j}, stored) {
			parts = append(parts, fmt.Sprintf("%d:%s", p.First, fmt.Sprint(joinKeys(p.Keys))))
		}
		if got := fmt.Sprint(orEmpty(parts)); got != tc.want {
			t.Errorf("Pending with %v stored = %s; want %s", tc.stored, got, tc.want)
		}
	}
}

func joinKeys(k []string) string {
	s := ""
	for _, x := range k {
		s += x
	}
	return s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
