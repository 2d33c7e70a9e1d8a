package bench_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/results"
)

func TestParseShard(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		want bench.Shard
		err  string
	}{
		{"0/4", bench.Shard{Index: 0, Count: 4}, ""},
		{"3/4", bench.Shard{Index: 3, Count: 4}, ""},      // the last index is N-1
		{" 1/2 ", bench.Shard{Index: 1, Count: 2}, ""},    // spaces around the spec are fine
		{"0/1", bench.Shard{}, ""},                        // one shard is the whole plan
		{"4/4", bench.Shard{}, "index 4 is out of range"}, // indices count from 0
		{"-1/4", bench.Shard{}, "index -1 is out of range"},
		{"0/0", bench.Shard{}, "count 0 is out of range"},
		{"0/100001", bench.Shard{}, "count 100001 is out of range"}, // above MaxShards
		{"1", bench.Shard{}, "want INDEX/COUNT"},
		{"a/b", bench.Shard{}, "two integers"},
	} {
		got, err := bench.ParseShard(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseShard(%q) = %v, %v; want an error with %q", tc.spec, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", tc.spec, got, err, tc.want)
		}
	}
}

func TestShardFromEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, index, count string
		want               bench.Shard
		ok                 bool
		err                string
	}{
		{"unset", "", "", bench.Shard{}, false, ""}, // not in an Indexed Job
		{"set", "2", "3", bench.Shard{Index: 2, Count: 3}, true, ""},
		{"index alone", "2", "", bench.Shard{}, false, "JOB_COMPLETION_COUNT is not"}, // Kubernetes sets only the index
		{"count alone", "", "3", bench.Shard{}, false, "JOB_COMPLETION_INDEX is not"},
		{"out of range", "3", "3", bench.Shard{}, false, "index 3 is out of range"},
		{"not a number", "x", "3", bench.Shard{}, false, "want integers"},
	} {
		env := map[string]string{bench.JobCompletionIndex: tc.index, bench.JobCompletionCount: tc.count}
		got, ok, err := bench.ShardFromEnv(func(k string) string { return env[k] })
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: ShardFromEnv = %v, %v, %v; want an error with %q", tc.name, got, ok, err, tc.err)
			}
			continue
		}
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("%s: ShardFromEnv = %v, %v, %v; want %v, %v", tc.name, got, ok, err, tc.want, tc.ok)
		}
	}
}

// TestShardsPartitionThePlan: every job of a plan belongs to exactly one
// shard of N, whole (its draws stay one request), and the shares are
// near even. A shard's plan (Plan.Restrict) holds the whole plan's jobs
// its shard owns, key for key and in order, at consecutive plan
// positions from 0, and its Total and Requests count them.
func TestShardsPartitionThePlan(t *testing.T) {
	t.Parallel()
	s := suiteFor(t, "http://127.0.0.1:1/v1", "probes.favorite-animal.samples=400")
	whole := slices.Collect(bench.NewPlan(s, "").Jobs())
	for _, n := range []int{2, 3, 7} {
		owner := map[string]int{}
		for i := range n {
			sh := bench.Shard{Index: i, Count: n}
			plan := bench.NewPlan(s, "")
			plan.Restrict(sh)
			jobs := slices.Collect(plan.Jobs())
			// 2 models × 3 prompts × 80 jobs of 5 draws: about 480/n each.
			if len(jobs) < 480/n/2 || len(jobs) > 480/n*3/2 {
				t.Errorf("shard %v has %d of 480 jobs; want about %d", sh, len(jobs), 480/n)
			}
			var want []bench.Job
			for _, j := range whole {
				if sh.Owns(j.Keys[0]) {
					want = append(want, j)
				}
			}
			if len(jobs) != len(want) || plan.Requests() != len(want) || plan.Total() != 5*len(want) {
				t.Fatalf("shard %v plans %d jobs (Requests %d, Total %d); want the whole plan's %d it owns", sh, len(jobs), plan.Requests(), plan.Total(), len(want))
			}
			for ji, j := range jobs {
				w := want[ji]
				if j.Index != 5*ji || j.Instance != w.Instance || j.Probe != w.Probe || j.Prompt != w.Prompt || j.First != w.First || !slices.Equal(j.Keys, w.Keys) {
					t.Fatalf("shard %v job %d is %+v; want %+v at plan position %d", sh, ji, j, w, 5*ji)
				}
				if prev, ok := owner[j.Keys[0]]; ok {
					t.Fatalf("job %s is in shards %d and %d of %d", j.Keys[0], prev, i, n)
				}
				owner[j.Keys[0]] = i
				if j.Draws() != 5 {
					t.Fatalf("shard %v split a job: %d draws", sh, j.Draws())
				}
			}
		}
		if len(owner) != len(whole) {
			t.Errorf("%d shards hold %d of %d jobs", n, len(owner), len(whole))
		}
	}
	plan := bench.NewPlan(s, "")
	plan.Restrict(bench.Shard{})
	if got := slices.Collect(plan.Jobs()); len(got) != len(whole) {
		t.Errorf("the whole plan's shard has %d of %d jobs", len(got), len(whole))
	}
}

// blindShardStore passes CheckShard, as when another process claims the
// run between the check and the claim, leaving SetShard to refuse.
type blindShardStore struct{ *results.Store }

func (blindShardStore) CheckShard(context.Context, string, string, int, int) error { return nil }

// TestShardRefusedAfterClaim: a shard refused once the run is claimed
// fails the run and returns (it used to wait forever for a plan that was
// never written).
func TestShardRefusedAfterClaim(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	s := suiteFor(t, "http://127.0.0.1:1/v1")
	ctx := context.Background()
	opt := bench.Options{Shard: bench.Shard{Index: 0, Count: 2}, NoSample: true}
	p, err := bench.Prepare(ctx, st, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		opt.Shard.Index = 1
		_, err := bench.Prepare(ctx, blindShardStore{st}, s, opt)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, results.ErrShardMismatch) || !errors.Is(err, bench.ErrConfig) {
			t.Fatalf("Prepare of shard 1/2 on shard 0/2's run: %v; want a configuration error wrapping ErrShardMismatch", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Prepare did not return within 10 s")
	}
}
