package bench

import (
	"context"
	"iter"
	"slices"
	"sort"
)

// storedChunk is how many keys one SampleStore.Stored call asks about
// while FindPending goes through a plan.
const storedChunk = 8192

// spans is a sorted list of disjoint, non-adjacent half-open ranges of
// plan positions [from, to).
type spans [][2]int

// add appends [from, to), which must start at or after the last range's
// end, merging it with an adjacent last range.
func (s *spans) add(from, to int) {
	if n := len(*s); n > 0 && (*s)[n-1][1] == from {
		(*s)[n-1][1] = to
		return
	}
	*s = append(*s, [2]int{from, to})
}

// overlaps reports whether some range meets [from, to).
func (s spans) overlaps(from, to int) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i][1] > from })
	return i < len(s) && s[i][0] < to
}

// within returns the parts of [from, to) that the ranges cover, in order.
func (s spans) within(from, to int) [][2]int {
	var out [][2]int
	for i := sort.Search(len(s), func(i int) bool { return s[i][1] > from }); i < len(s) && s[i][0] < to; i++ {
		out = append(out, [2]int{max(from, s[i][0]), min(to, s[i][1])})
	}
	return out
}

// outside returns the parts of [from, to) that no range covers, in order.
func (s spans) outside(from, to int) [][2]int {
	var out [][2]int
	for _, r := range s.within(from, to) {
		if r[0] > from {
			out = append(out, [2]int{from, r[0]})
		}
		from = r[1]
	}
	if from < to {
		out = append(out, [2]int{from, to})
	}
	return out
}

// count returns the number of positions in [from, to) the ranges cover.
func (s spans) count(from, to int) int {
	n := 0
	for _, r := range s.within(from, to) {
		n += r[1] - r[0]
	}
	return n
}

// KeyStore tells which sample keys have a successful stored sample.
// SampleStore and EstimateStore are KeyStores.
type KeyStore interface {
	// Stored returns the keys, among keys, of the successful samples
	// stored.
	Stored(ctx context.Context, keys []string) (map[string]bool, error)
}

// Pending is the part of a plan still to sample: its draws without a
// successful stored sample, kept as ranges of plan positions. It holds one
// range per run of consecutive pending draws (one for a new run), not one
// entry per draw; jobs are made from the plan as they are asked for.
type Pending struct {
	plan  *Plan
	spans spans
	draws int
	// list, when set, holds the pending jobs themselves instead of spans
	// (listPending: a sequential run's step).
	list []Job
	// skip, when set, leaves out the instances it marks (see without).
	skip []bool
}

// FindPending finds the draws of plan that store has no successful sample
// of, asking it about storedChunk keys at a time in plan order. Failed
// samples are pending: a resumed run retries them.
func FindPending(ctx context.Context, plan *Plan, store KeyStore) (*Pending, error) {
	p := &Pending{plan: plan}
	keys := make([]string, 0, storedChunk)
	positions := make([]int, 0, storedChunk) // of keys
	check := func() error {
		if len(keys) == 0 {
			return nil
		}
		stored, err := store.Stored(ctx, keys)
		if err != nil {
			return err
		}
		for i, k := range keys {
			if !stored[k] {
				p.spans.add(positions[i], positions[i]+1)
				p.draws++
			}
		}
		keys, positions = keys[:0], positions[:0]
		return nil
	}
	for j := range plan.Jobs() {
		for d, k := range j.Keys {
			keys = append(keys, k)
			positions = append(positions, j.Index+d)
			if len(keys) == storedChunk {
				if err := check(); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := check(); err != nil {
		return nil, err
	}
	return p, nil
}

// AllPending returns the whole plan as pending: every draw.
func AllPending(plan *Plan) *Pending {
	p := &Pending{plan: plan, draws: plan.Total()}
	if p.draws > 0 {
		p.spans.add(0, p.draws)
	}
	return p
}

// NoPending returns a Pending without any draw of plan.
func NoPending(plan *Plan) *Pending { return &Pending{plan: plan} }

// listPending returns the jobs of plan given, held, as a Pending.
func listPending(plan *Plan, jobs []Job) *Pending {
	p := &Pending{plan: plan, list: jobs}
	for _, j := range jobs {
		p.draws += j.Draws()
	}
	return p
}

// Draws returns the number of pending draws.
func (p *Pending) Draws() int { return p.draws }

// Jobs yields the pending jobs of plan instance i in plan order: each job
// of the plan whose draws are all pending, and of a job with some draws
// stored the runs of consecutive pending draws, with their draw indexes.
func (p *Pending) Jobs(instance int) iter.Seq[Job] {
	return func(yield func(Job) bool) {
		if p.skip != nil && instance < len(p.skip) && p.skip[instance] {
			return
		}
		p.jobs(instance, yield)
	}
}

// All yields every pending job in plan order.
func (p *Pending) All() iter.Seq[Job] {
	return func(yield func(Job) bool) {
		if p.skip == nil {
			p.jobs(-1, yield)
			return
		}
		p.jobs(-1, func(j Job) bool { return p.skip[j.Instance] || yield(j) })
	}
}

// jobs yields the pending jobs of instance (every one when negative).
func (p *Pending) jobs(instance int, yield func(Job) bool) {
	if p.list != nil {
		for _, j := range p.list {
			if (instance < 0 || j.Instance == instance) && !yield(j) {
				return
			}
		}
		return
	}
	if p.draws == 0 {
		return
	}
	p.plan.jobsOf(instance, &p.spans, yield)
}

// instances returns the plan instances with pending draws, in index order.
func (p *Pending) instances() []int {
	var out []int
	add := func(i int) {
		if (p.skip == nil || !p.skip[i]) && !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	switch {
	case p.list != nil:
		for _, j := range p.list {
			add(j.Instance)
		}
	case p.plan.list != nil:
		for _, j := range p.plan.list {
			if p.spans.overlaps(j.Index, j.Index+j.Draws()) {
				add(j.Instance)
			}
		}
	default:
		for i := range p.plan.blocks {
			if b := &p.plan.blocks[i]; p.spans.overlaps(b.span()) {
				add(b.instance)
			}
		}
	}
	slices.Sort(out)
	return out
}

// split returns the pending draws of the instances marked in which and of
// the others, as two Pendings of the same plan.
func (p *Pending) split(which []bool) (marked, others *Pending) {
	others, marked = p.without(which), p.without(invert(which))
	return marked, others
}

// without returns p without the draws of the instances marked in skip.
func (p *Pending) without(skip []bool) *Pending {
	q := *p
	q.skip = make([]bool, len(p.plan.Instances))
	for i := range q.skip {
		q.skip[i] = i < len(skip) && skip[i] || p.skip != nil && p.skip[i]
	}
	q.draws = 0
	for i := range q.skip {
		if !q.skip[i] {
			q.draws += p.instanceDraws(i)
		}
	}
	return &q
}

// instanceDraws counts the pending draws of plan instance i, ignoring
// skip.
func (p *Pending) instanceDraws(i int) int {
	n := 0
	switch {
	case p.list != nil:
		for _, j := range p.list {
			if j.Instance == i {
				n += j.Draws()
			}
		}
	case p.plan.list != nil:
		for _, j := range p.plan.list {
			if j.Instance == i {
				n += p.spans.count(j.Index, j.Index+j.Draws())
			}
		}
	default:
		for bi := range p.plan.blocks {
			if b := &p.plan.blocks[bi]; b.instance == i {
				n += p.spans.count(b.span())
			}
		}
	}
	return n
}

func invert(b []bool) []bool {
	out := make([]bool, len(b))
	for i, v := range b {
		out[i] = !v
	}
	return out
}

// pendingJobs returns the jobs, or parts of jobs, whose draws are not in
// stored: a job with some draws stored is split into runs of consecutive
// unstored draws. It is for jobs held in memory (a sequential run's
// step); a plan's pending draws are found with FindPending.
func pendingJobs(jobs []Job, stored map[string]bool) []Job {
	if len(stored) == 0 {
		return jobs
	}
	var out []Job
	for _, j := range jobs {
		start := -1
		for i := 0; i <= len(j.Keys); i++ {
			done := i == len(j.Keys) || stored[j.Keys[i]]
			switch {
			case !done && start < 0:
				start = i
			case done && start >= 0:
				part := j
				part.First = j.First + start
				if j.Index >= 0 {
					part.Index = j.Index + start
				}
				part.Keys = j.Keys[start:i:i]
				out = append(out, part)
				start = -1
			}
		}
	}
	return out
}
