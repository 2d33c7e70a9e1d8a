package bench

import (
	"fmt"
	"slices"
	"testing"
)

// TestLocator checks that a locator finds every job of a plan, and every
// part of one, from its plan position alone, in whole plans and in the
// plans of shards (whose positions skip the jobs other shards own), and
// finds nothing where the plan has no such job.
func TestLocator(t *testing.T) {
	t.Parallel()
	for _, sh := range []Shard{{}, {Index: 0, Count: 3}, {Index: 2, Count: 3}} {
		t.Run(fmt.Sprint("shard ", sh), func(t *testing.T) {
			p := NewPlan(mustParse(t, planSuite), "s1")
			p.Restrict(sh)
			jobs := slices.Collect(p.Jobs())
			if len(jobs) == 0 {
				t.Fatal("no jobs")
			}
			l := newLocator(p)
			for _, j := range jobs {
				// The job, and its part from its second draw on.
				for _, off := range []int{0, 1} {
					if off >= j.Draws() {
						continue
					}
					want := j
					want.First, want.Index, want.Keys = j.First+off, j.Index+off, j.Keys[off:]
					got, ok := l.job(j.Instance, want.Index, want.Draws())
					if !ok || fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("job(%d, %d, %d) = %+v, %v; want %+v", j.Instance, want.Index, want.Draws(), got, ok, want)
					}
				}
				// Past the job's end, another instance, nothing.
				if _, ok := l.job(j.Instance, j.Index, j.Draws()+1); ok {
					t.Errorf("job(%d, %d, %d) found draws beyond the job %+v", j.Instance, j.Index, j.Draws()+1, j)
				}
				if _, ok := l.job(j.Instance+1, j.Index, 1); ok {
					t.Errorf("job(%d, %d, 1) found a draw of instance %d", j.Instance+1, j.Index, j.Instance)
				}
			}
			for _, pos := range []int{-1, p.Total()} {
				if _, ok := l.job(0, pos, 1); ok {
					t.Errorf("job(0, %d, 1) found a draw outside the plan of %d", pos, p.Total())
				}
			}
		})
	}
}

// TestSpans checks the range arithmetic Pending and batches rely on.
func TestSpans(t *testing.T) {
	t.Parallel()
	var s spans
	s.add(2, 4)
	s.add(4, 6) // adjacent: merged into [2, 6)
	s.add(8, 9)
	if fmt.Sprint(s) != "[[2 6] [8 9]]" {
		t.Fatalf("spans %v; want [[2 6] [8 9]]", s)
	}
	for _, tc := range []struct {
		from, to        int
		within, outside string
		count           int
	}{
		{0, 10, "[[2 6] [8 9]]", "[[0 2] [6 8] [9 10]]", 5}, // covers both ranges
		{3, 5, "[[3 5]]", "[]", 2},                          // inside one range
		{6, 8, "[]", "[[6 8]]", 0},                          // in the gap
		{5, 9, "[[5 6] [8 9]]", "[[6 8]]", 2},               // ends of both ranges
	} {
		if got := fmt.Sprint(orEmptyRanges(s.within(tc.from, tc.to))); got != tc.within {
			t.Errorf("within(%d, %d) = %s; want %s", tc.from, tc.to, got, tc.within)
		}
		if got := fmt.Sprint(orEmptyRanges(s.outside(tc.from, tc.to))); got != tc.outside {
			t.Errorf("outside(%d, %d) = %s; want %s", tc.from, tc.to, got, tc.outside)
		}
		if got := s.count(tc.from, tc.to); got != tc.count {
			t.Errorf("count(%d, %d) = %d; want %d", tc.from, tc.to, got, tc.count)
		}
	}
}

func orEmptyRanges(r [][2]int) [][2]int {
	if r == nil {
		return [][2]int{}
	}
	return r
}

// TestPendingSplit checks that splitting the pending draws by instance
// (batched and online models) gives each side its instances' jobs, in
// plan order, and their draw counts.
func TestPendingSplit(t *testing.T) {
	t.Parallel()
	p := NewPlan(mustParse(t, planSuite), "")
	// Pending: every draw but the first 5 of the plan.
	pend := &Pending{plan: p, draws: p.Total() - 5}
	pend.spans.add(5, p.Total())
	marked, others := pend.split([]bool{false, true, false})
	for _, tc := range []struct {
		name string
		p    *Pending
		want func(int) bool
	}{
		{"marked", marked, func(i int) bool { return i == 1 }},
		{"others", others, func(i int) bool { return i != 1 }},
	} {
		var want, got []Job
		for j := range pend.All() {
			if tc.want(j.Instance) {
				want = append(want, j)
			}
		}
		n := 0
		for j := range tc.p.All() {
			got = append(got, j)
			n += j.Draws()
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || n != tc.p.Draws() {
			t.Errorf("%s: %d jobs, Draws %d (jobs hold %d); want %d jobs", tc.name, len(got), tc.p.Draws(), n, len(want))
		}
		var insts []int
		for i := range p.Instances {
			if tc.want(i) && slices.ContainsFunc(want, func(j Job) bool { return j.Instance == i }) {
				insts = append(insts, i)
			}
		}
		if got := tc.p.instances(); !slices.Equal(got, insts) {
			t.Errorf("%s: instances %v; want %v", tc.name, got, insts)
		}
	}
	if marked.Draws()+others.Draws() != pend.Draws() {
		t.Errorf("the parts hold %d + %d draws; want the %d pending", marked.Draws(), others.Draws(), pend.Draws())
	}
}
