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

// Pending is the part of a plan still to sample: its draws without a
// successful stored sample, kept as ranges of plan positions. It holds one
// range per run of consecutive pending draws (one for a new run), not one
// entry per draw.
type Pending struct {
	plan  *Plan
	spans spans
	draws int
}

// FindPending finds the draws of plan that store has no successful sample
// of, asking it about storedChunk keys at a time in plan order. Failed
// samples are pending: a resumed run retries them.
func FindPending(ctx context.Context, plan *Plan, store SampleStore) (*Pending, error) {
	p := &Pending{plan: plan}
	keys := make([]string, 0, storedChunk)
	var positions []int // of keys
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

// Draws returns the number of pending draws.
func (p *Pending) Draws() int { return p.draws }

// Jobs yields the pending jobs of plan instance i in plan order: each job
// of the plan whose draws are all pending, and of a job with some draws
// stored the runs of consecutive pending draws, with their draw indexes.
func (p *Pending) Jobs(instance int) iter.Seq[Job] {
	return func(yield func(Job) bool) {
		for _, b := range p.plan.blocks {
			if b.instance != instance || !p.spans.overlaps(b.start, b.start+len(b.texts)*b.samples) {
				continue
			}
			if !p.plan.blockJobs(b, &p.spans, yield) {
				return
			}
		}
	}
}

// All yields every pending job in plan order.
func (p *Pending) All() iter.Seq[Job] {
	return func(yield func(Job) bool) {
		for _, b := range p.plan.blocks {
			if !p.plan.blockJobs(b, &p.spans, yield) {
				return
			}
		}
	}
}

// instances returns the plan instances with pending draws, in index order.
func (p *Pending) instances() []int {
	var out []int
	for _, b := range p.plan.blocks {
		if p.spans.overlaps(b.start, b.start+len(b.texts)*b.samples) && !slices.Contains(out, b.instance) {
			out = append(out, b.instance)
		}
	}
	slices.Sort(out)
	return out
}
