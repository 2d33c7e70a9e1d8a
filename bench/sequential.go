package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/sequential"
	"github.com/traitleak/traitleak/suites"
)

// This file is `run --until-decided` (Suite.UntilDecided): the roles of a
// suite's sequential rules are sampled in rounds, and each rule stops
// asking for rounds once it is decided. Round r of a probe is draw r−1 of
// every prompt, with the keys a fixed run gives that draw, so the samples
// of fixed and sequential runs are shared both ways.
//
// A sequential run's plan grows as it goes: it starts with the fixed
// design of every probe and model instance no rule samples, and with the
// first step of the rules' rounds; every later step appends the draws it
// makes (results.Store.AppendPlan) before drawing them. So the run
// records exactly what it sampled, and a resumed run reads its plan back
// to know where it stood.
//
// Each step: ask the rules' Tracker which draws it needs (Needs), plan
// and sample the ones not stored (the usual Runner, one stage per step),
// read their outcomes back from the store (DrawStates), and let the rules
// read every round now complete (Advance). A resumed run first replays
// its stored draws through the same Tracker, so it stands where the
// interrupted run stood, and goes on with the same keys: the same samples
// give the same verdict at the same round.

// SequentialStore is what `run --until-decided` needs of a results
// database beyond Store: a plan that grows round by round and the state
// of the draws just made. *results.Store implements it.
type SequentialStore interface {
	Store
	// AppendPlan adds draws to a run's plan.
	AppendPlan(ctx context.Context, runID int64, draws []results.PlannedSample) error
	// DrawStates returns the stored state of keys under a scorer.
	DrawStates(ctx context.Context, keys []string, scorer string) (map[string]results.DrawState, error)
}

var _ SequentialStore = (*results.Store)(nil)

// pairKey is one model instance on one probe.
type pairKey struct {
	probe    string
	instance int
}

// keyerKey is one prompt of one probe for one model instance.
type keyerKey struct {
	probe            string
	prompt, instance int
}

// drawAt locates one draw: a model instance's draw of one prompt.
type drawAt struct {
	instance     int
	probe        string
	prompt, draw int
}

// seqRun is the sequential side of a Prepared run.
type seqRun struct {
	store   SequentialStore
	plan    *Plan
	tracker *sequential.Tracker
	// rulePairs are the (probe, instance) pairs sampled in rounds.
	rulePairs map[pairKey]bool
	// planned counts the draws in the run's plan of each rule pair,
	// draws [0, planned).
	planned map[pairKey]int
	keyers  map[keyerKey]*drawKeyer
	salt    string
}

// newSeqRun resolves s's sequential rules over plan and replaces
// plan's jobs with the start of a sequential run: the fixed design of every
// pair no rule samples, and the first step of the rules' rounds.
func newSeqRun(store Store, s *suites.Suite, plan *Plan) (*seqRun, error) {
	ss, ok := store.(SequentialStore)
	if !ok {
		return nil, fmt.Errorf("%w: --until-decided needs a store that can grow a run's plan", ErrConfig)
	}
	rules, err := sequential.Rules(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("%w: suite %s has no sequential gate (gates[].sequential) and no stop-for-width rule (probes[].until): --until-decided has nothing to decide", ErrConfig, s.Name)
	}
	roles := make([]string, len(plan.Instances))
	for i, in := range plan.Instances {
		roles[i] = in.Role
	}
	prompts := map[string]int{}
	for id, texts := range plan.Prompts {
		prompts[id] = len(texts)
	}
	tr, err := sequential.NewTracker(rules, roles, prompts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	sq := &seqRun{store: ss, plan: plan, tracker: tr, rulePairs: map[pairKey]bool{},
		planned: map[pairKey]int{}, keyers: map[keyerKey]*drawKeyer{}, salt: plan.Salt}
	for probe, insts := range tr.Instances() {
		for i := range insts {
			sq.rulePairs[pairKey{probe, i}] = true
		}
	}
	var jobs []Job
	for j := range plan.Jobs() {
		if !sq.rulePairs[pairKey{j.Probe, j.Instance}] {
			jobs = append(jobs, j)
		}
	}
	// A fresh tracker's needs are the first step of every rule. They are
	// in the plan from the start: a run records its models and prompts
	// with its first plan, which must not be empty.
	first := tr.Needs()
	for _, n := range first {
		jobs = append(jobs, sq.jobs(n)...)
		sq.planned[pairKey{n.Probe, n.Instance}] = n.To
	}
	plan.setJobs(jobs)
	// The needs are asked again by the first step: a fresh tracker.
	if sq.tracker, err = sequential.NewTracker(rules, roles, prompts); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return sq, nil
}

// key returns the sample key of one draw.
func (sq *seqRun) key(probe string, prompt, instance, draw int) string {
	k := keyerKey{probe, prompt, instance}
	dk := sq.keyers[k]
	if dk == nil {
		dk = newDrawKeyer(sq.salt, sq.plan.Suite.Seed, probe, prompt, sq.plan.Prompts[probe][prompt], sq.plan.Instances[instance])
		sq.keyers[k] = dk
	}
	return dk.key(draw)
}

// jobs returns the jobs of a need: draws [From, To) of every prompt, in
// requests of at most the instance's n.
func (sq *seqRun) jobs(n sequential.Need) []Job {
	chunk := *sq.plan.Instances[n.Instance].Settings.N
	var out []Job
	for pi := range sq.plan.Prompts[n.Probe] {
		for first := n.From; first < n.To; first += chunk {
			last := min(first+chunk, n.To)
			keys := make([]string, 0, last-first)
			for d := first; d < last; d++ {
				keys = append(keys, sq.key(n.Probe, pi, n.Instance, d))
			}
			// Index -1: the draws are found in the run's plan by key
			// (results.Store.LinkSamples).
			out = append(out, Job{Instance: n.Instance, Probe: n.Probe, Prompt: pi, First: first, Index: -1, Keys: keys})
		}
	}
	return out
}

// replay records the outcome of every draw in the run's plan that a rule
// reads, learns how far the plan of each rule pair goes, and advances the
// rules: where an interrupted run stood.
func (sq *seqRun) replay(ctx context.Context, runID int64, scorerIDs map[string]string) error {
	for row, err := range sq.store.Rows(ctx, runID, func(probe string) string { return scorerIDs[probe] }) {
		if err != nil {
			return fmt.Errorf("replay the rounds of run %d: %w", runID, err)
		}
		pk := pairKey{row.Probe, row.Instance}
		if !sq.rulePairs[pk] {
			continue
		}
		sq.planned[pk] = max(sq.planned[pk], row.Draw+1)
		st := results.DrawState{Stored: row.Stored, Failed: row.Stored && row.Sample.Failed(), Scores: row.Scores}
		sq.record(drawAt{row.Instance, row.Probe, row.Prompt, row.Draw}, st)
	}
	sq.tracker.Advance()
	return nil
}

// record gives the tracker one draw's outcome for every target its
// probe's rules read.
func (sq *seqRun) record(at drawAt, st results.DrawState) {
	sq.tracker.RecordDraw(at.instance, at.probe, at.prompt, at.draw, st)
}

// runSequential is Run for a sequential run (see the top of this file).
func (p *Prepared) runSequential(ctx context.Context) (*Outcome, error) {
	db := context.WithoutCancel(ctx)
	sq, store, opt, run := p.seq, p.seq.store, p.opt, p.run
	out := &Outcome{Run: run, Resumed: p.Resumed, Skipped: p.Skipped}
	start := time.Now()
	if err := p.awaitPlan(); err != nil {
		return out, errors.Join(err, p.fail(db, err))
	}
	ids := p.scorers.IDs()
	if err := sq.replay(db, run.ID, ids); err != nil {
		return out, errors.Join(err, p.fail(db, err))
	}
	inline := p.scorers.Inline()
	runner := &Runner{Clients: p.clients, Retry: p.retry, Scorers: inline, Grace: opt.Grace, Progress: opt.Progress, Redact: p.redact}
	sink := func(batch []results.Sample) error {
		for i := range batch {
			batch[i].RunID = run.ID
		}
		return store.Put(db, batch)
	}
	// The first step also samples the fixed design of the pairs no rule
	// samples.
	var fixed []Job
	for j := range p.Pending.All() {
		if !sq.rulePairs[pairKey{j.Probe, j.Instance}] {
			fixed = append(fixed, j)
		}
	}
	var sum Summary
	for {
		needs := sq.tracker.Needs()
		if len(needs) == 0 && len(fixed) == 0 {
			break
		}
		if ctx.Err() != nil {
			sum.Interrupted = true
			break
		}
		// Plan the draws the rules need that the run has not planned,
		// then sample the ones not stored.
		var jobs []Job
		var grow []results.PlannedSample
		where := map[string]drawAt{}
		byProbe := map[string][]string{}
		for _, n := range needs {
			pk := pairKey{n.Probe, n.Instance}
			for _, j := range sq.jobs(n) {
				jobs = append(jobs, j)
				for d, k := range j.Keys {
					at := drawAt{n.Instance, n.Probe, j.Prompt, j.First + d}
					where[k] = at
					byProbe[n.Probe] = append(byProbe[n.Probe], k)
					if at.draw >= sq.planned[pk] {
						grow = append(grow, results.PlannedSample{Key: k, Instance: n.Instance, Probe: n.Probe, Prompt: j.Prompt, Draw: at.draw})
					}
				}
			}
			sq.planned[pk] = max(sq.planned[pk], n.To)
		}
		if err := store.AppendPlan(db, run.ID, grow); err != nil {
			return out, errors.Join(err, p.fail(db, err))
		}
		var keys []string
		for _, j := range jobs {
			keys = append(keys, j.Keys...)
		}
		stored, err := store.Stored(db, keys)
		if err != nil {
			return out, errors.Join(err, p.fail(db, err))
		}
		todo := append(fixed, pendingJobs(jobs, stored)...)
		fixed = nil
		if len(todo) > 0 {
			s, err := runner.Run(ctx, p.Plan, listPending(p.Plan, todo), sink)
			sum.add(s)
			if err != nil {
				return out, errors.Join(err, p.fail(db, err))
			}
			if s.Interrupted {
				break
			}
		}
		if err := sq.read(ctx, p, byProbe, where, ids, &out.Scoring); err != nil {
			return out, errors.Join(err, p.fail(db, err))
		}
		if out.Scoring.Interrupted {
			sum.Interrupted = true
			break
		}
		if !sq.tracker.Advance() && len(todo) == 0 {
			break // nothing drawn and nothing read: the draws cannot be had now
		}
	}
	sum.Elapsed = time.Since(start)
	out.Summary = sum
	out.Sequential = sq.tracker.States()
	// Reused samples of the fixed part may lack this suite's scores, and
	// LLM-judge probes (which no rule reads) are scored after sampling.
	if !sum.Interrupted && (out.Skipped > 0 || sum.Unscored > 0 || len(inline) < len(p.scorers.ByProbe)) {
		sc, err := ScoreMissing(ctx, store, run.ID, p.Plan.Prompts, p.scorers, opt.Progress, opt.Grace)
		if err != nil {
			return out, errors.Join(err, p.fail(db, err))
		}
		out.Scoring.Scored += sc.Scored
		out.Scoring.Unjudged += sc.Unjudged
		out.Scoring.Interrupted = out.Scoring.Interrupted || sc.Interrupted
		sum.Interrupted = sum.Interrupted || sc.Interrupted
		out.Summary = sum
	}
	// Round draws are linked to their samples by key: they were planned
	// as the rounds went (see LinkSamples).
	if _, err := store.LinkSamples(db, run.ID); err != nil {
		return out, errors.Join(err, p.fail(db, err))
	}
	counts, err := store.Counts(db, run.ID)
	if err != nil {
		return out, errors.Join(err, p.fail(db, err))
	}
	out.Counts = counts
	status, msg := Verdict(counts, sum, out.Scoring, opt.MaxErrorRate)
	switch {
	case status != results.StatusComplete:
	case sum.Interrupted && countUndecided(out.Sequential) > 0:
		// Stopped between two steps: every planned draw is stored, but
		// the rules are not done.
		status, msg = results.StatusInterrupted, fmt.Sprintf("interrupted with %d sequential rules undecided", countUndecided(out.Sequential))
	default:
		status, msg = waitingVerdict(p.Plan.Suite, out.Sequential)
	}
	if err := store.FinishRun(db, run.ID, status, msg); err != nil {
		return out, err
	}
	out.Run, err = store.GetRun(db, run.ID)
	return out, err
}

// read reads the outcomes of the draws just needed back from the store
// and records them. Successful samples without scores under this suite's
// scorers (reused from a run with another scoring rule) are scored first.
func (sq *seqRun) read(ctx context.Context, p *Prepared, byProbe map[string][]string, where map[string]drawAt, ids map[string]string, sc *ScoreSummary) error {
	db := context.WithoutCancel(ctx)
	unscored := false
	states := map[string]results.DrawState{}
	for probe, keys := range byProbe {
		st, err := sq.store.DrawStates(db, keys, ids[probe])
		if err != nil {
			return err
		}
		for k, s := range st {
			states[k] = s
			unscored = unscored || (s.Stored && !s.Failed && s.Scores == nil)
		}
	}
	if unscored {
		s, err := ScoreMissing(ctx, sq.store, p.run.ID, p.Plan.Prompts, p.scorers, p.opt.Progress, p.opt.Grace)
		if err != nil {
			return err
		}
		sc.Scored += s.Scored
		sc.Unjudged += s.Unjudged
		sc.Interrupted = sc.Interrupted || s.Interrupted
		for probe, keys := range byProbe {
			st, err := sq.store.DrawStates(db, keys, ids[probe])
			if err != nil {
				return err
			}
			for k, s := range st {
				states[k] = s
			}
		}
	}
	for k, at := range where {
		sq.record(at, states[k])
	}
	return nil
}

// waitingVerdict fails a run whose sampling completed while a sequential
// rule waits at a round with failed or unscored draws: the run has not
// done what it was asked, and running it again retries those draws.
func waitingVerdict(s *suites.Suite, states []sequential.State) (results.RunStatus, string) {
	for i, st := range states {
		if st.Done() || st.Blocked == nil {
			continue
		}
		b := st.Blocked
		more := ""
		if n := countWaiting(states[i+1:]); n > 0 {
			more = fmt.Sprintf(" (and %d more rules)", n)
		}
		return results.StatusFailed, fmt.Sprintf("%s waits at round %d: %d draws failed and %d have no valid score; run again to retry them%s",
			st.Rule.Name(s), b.Round, b.Failed, b.Invalid, more)
	}
	return results.StatusComplete, ""
}

func countUndecided(states []sequential.State) int {
	n := 0
	for _, st := range states {
		if !st.Done() {
			n++
		}
	}
	return n
}

func countWaiting(states []sequential.State) int {
	n := 0
	for _, st := range states {
		if !st.Done() && st.Blocked != nil {
			n++
		}
	}
	return n
}

// add adds the counts of one step's Summary.
func (s *Summary) add(o Summary) {
	s.Done += o.Done
	s.Failed += o.Failed
	s.Unscored += o.Unscored
	s.Interrupted = s.Interrupted || o.Interrupted
	for _, e := range o.Stopped {
		if !slices.ContainsFunc(s.Stopped, func(x ModelError) bool { return x.Instance == e.Instance }) {
			s.Stopped = append(s.Stopped, e)
		}
	}
}
