package reports

import (
	"context"
	"fmt"
	"iter"
	"math"
	"slices"
	"time"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/sequential"
	"github.com/traitleak/traitleak/suites"
)

// RunData is everything an analysis is built from, aggregated from the
// store: counts per model instance, probe, prompt and target. It holds no
// per-sample rows (only a few quoted examples, and the numeric scores of
// at most maxRatingSamples samples per probe rated by several judges, for
// the agreement bootstrap), so its size does not grow with samples per
// prompt. Load fills it from counts
// aggregated in SQL; Add fills the same fields from a run's draws one at a
// time, and both serve Analyze alike.
type RunData struct {
	Run       results.Run
	Suite     *suites.Suite // as recorded with the run
	Instances []results.InstanceRow
	Prompts   []results.PromptRow
	// Scorers are the recorded scorers of the suite's probes, in probe
	// order: their targets are the run's targets.
	Scorers []results.RunScorer
	// Cells are the counts of each (instance, probe, prompt, target).
	Cells map[CellKey]*Cell
	// Usage per model instance index.
	Usage map[int]*Usage
	// Examples are a few completions per (instance, probe, target) that
	// hit, kept to quote in reports: the ones with the lowest score value
	// (the most misaligned, for a judge) or else the first ones.
	Examples map[ExampleKey][]Example
	// Ratings holds, per probe scored by two or more judges, the samples'
	// verdicts and scores under each judge, for agreement statistics.
	Ratings map[string]*Ratings
	// JudgeUsage sums, per judge in name order, the judge calls behind
	// this run's verdicts (each distinct call once, wherever it was made).
	JudgeUsage []results.JudgeUsage
	// Sequential are the suite's sequential rules replayed from the
	// run's stored draws, in rule order (sequential.Rules); nil when it
	// has none.
	Sequential []sequential.State
	// Prices are the prices the run recorded; RateChanges the changes of
	// its adaptive in-flight caps (both empty for runs made before them).
	Prices      []results.RunPrice
	RateChanges []results.RateChange

	bounds   loadBounds                    // zero: the defaults (tests lower them: see load)
	scorerOf map[string]*results.RunScorer // by probe; built by scorer
	byTarget map[CellKey][]CellKey         // cells by probe and target (Instance, Prompt zero); built by cellsOf
}

// Ratings are the verdicts and scores of one probe's successful samples
// under each of its judges (targets). A sample's verdict under a target
// is the scorer's hit or miss label ("misaligned", "aligned"), or the
// label of an invalid score ("refusal", …); "" when unscored.
type Ratings struct {
	Targets []string
	// Pairs[j-1] counts, for target j ≥ 1, the samples by their verdicts
	// under Targets[0] and Targets[j], both not "": the table Cohen's
	// kappa is computed from.
	Pairs []map[[2]string]int
	// Values holds the numeric scores of every sample with at least one,
	// in sample order (model instance, prompt, draw): len(Targets) values
	// per sample, in Targets order, NaN when none. Krippendorff's alpha
	// resamples them by position. They are kept for the first
	// maxRatingSamples such samples only: past them, Values is nil,
	// Counted is true and alpha is computed from Scores.
	Values  []float64
	Counted bool
	// Scores[j-1] counts, for target j ≥ 1, the samples with a numeric
	// score under Targets[0] or Targets[j] by these two scores: alpha's
	// units, counted, for runs too large to keep Values.
	Scores []map[ScorePair]int

	keep int // the samples whose scores Values keeps: maxRatingSamples unless a test lowers it
}

// ScorePair is the numeric scores of one sample under two judges; a
// score that is missing has Has false and value 0 (so that pairs compare
// equal as map keys, which NaN would not).
type ScorePair struct {
	A, B       float64
	HasA, HasB bool
}

// maxRatingSamples bounds the samples whose scores Ratings keeps in
// order (Values), 8 bytes per target each: up to it, alpha's bootstrap
// resamples them by position, as it always did; past it, alpha is
// computed from their counts (Ratings.Scores), in memory that grows with
// the distinct pairs of scores and not with the samples. Tests lower it
// (loadBounds).
const maxRatingSamples = 20_000

// newRatings returns empty ratings of targets, keeping the scores of at
// most keep samples in order.
func newRatings(targets []string, keep int) *Ratings {
	r := &Ratings{Targets: targets, keep: keep, Pairs: make([]map[[2]string]int, len(targets)-1), Scores: make([]map[ScorePair]int, len(targets)-1)}
	for j := range r.Pairs {
		r.Pairs[j] = map[[2]string]int{}
		r.Scores[j] = map[ScorePair]int{}
	}
	return r
}

// add counts one sample's verdicts (times n) and, with values, counts
// its scores and keeps them while there are few (Values).
func (r *Ratings) add(verdicts []string, n int, values []float64) {
	for j := 1; j < len(verdicts); j++ {
		if verdicts[0] != "" && verdicts[j] != "" {
			r.Pairs[j-1][[2]string{verdicts[0], verdicts[j]}] += n
		}
	}
	if !slices.ContainsFunc(values, func(v float64) bool { return !math.IsNaN(v) }) {
		return
	}
	for j := 1; j < len(values); j++ {
		x, y := values[0], values[j]
		if math.IsNaN(x) && math.IsNaN(y) {
			continue
		}
		var k ScorePair
		if k.HasA = !math.IsNaN(x); k.HasA {
			k.A = x
		}
		if k.HasB = !math.IsNaN(y); k.HasB {
			k.B = y
		}
		r.Scores[j-1][k]++
	}
	switch {
	case r.Counted:
	case len(r.Values) >= r.keep*len(r.Targets):
		r.Values, r.Counted = nil, true
	default:
		r.Values = append(r.Values, values...)
	}
}

// ratings returns the ratings of probe, made when missing.
func (d *RunData) ratings(probe string, targets []string) *Ratings {
	r := d.Ratings[probe]
	if r == nil {
		r = newRatings(targets, d.bounds.ratingsOrDefault())
		if d.Ratings == nil {
			d.Ratings = map[string]*Ratings{}
		}
		d.Ratings[probe] = r
	}
	return r
}

// CellKey addresses the counts of one prompt of one probe for one model
// instance and target.
type CellKey struct {
	Instance int // results.InstanceRow.Index
	Probe    string
	Prompt   int
	Target   string
}

// Cell counts the draws of one CellKey.
type Cell struct {
	Planned int            // draws planned
	Missing int            // planned but never completed
	Failed  int            // completed as failed: excluded from rates
	Scored  int            // valid scores: the rate's denominator
	Hits    int            // valid scores that hit
	Invalid map[string]int // successful samples without a valid score, by label ("unscored" when no score)
}

// Usage counts the draws and sums the token use and latency of one model
// instance. Draws are counted once each, whatever the number of targets,
// and only on probes with targets (as the cells count them).
type Usage struct {
	Planned          int // draws planned
	Missing          int // planned but never completed
	Failed           int // completed as failed
	Samples          int // completed successfully
	PromptTokens     int64
	CompletionTokens int64
	LatencySum       time.Duration // over successful samples
	Attempts         int64
	// BatchedPromptTokens and BatchedCompletionTokens are the part of the
	// token sums from samples that came through a Batch API.
	BatchedPromptTokens, BatchedCompletionTokens int64
}

// ExampleKey addresses quoted completions.
type ExampleKey struct {
	Instance int // results.InstanceRow.Index
	Probe    string
	Target   string
}

// Example is one quoted completion that hit, with its score value (NaN
// when the scorer gives none).
type Example struct {
	Text  string
	Value float64
}

// maxExamples bounds the completions kept per ExampleKey.
const maxExamples = 3

// judgeKind is the scorer kind of LLM judges (suites.ScoreSpec.Kind).
const judgeKind = "judge"

// openedRun is a recorded run ready to be read back: the run, its suite,
// model instances, prompts and scorers as recorded.
type openedRun struct {
	run       *results.Run
	suite     *suites.Suite
	instances []results.InstanceRow
	prompts   []results.PromptRow
	scorers   []results.RunScorer
	// texts are the prompt texts by probe and index.
	texts map[promptKey]string
	// scorerIDs are the scorer IDs by probe, to look up stored scores.
	scorerIDs map[string]string
}

// promptKey addresses one prompt of one probe.
type promptKey struct {
	Probe string
	Index int
}

// openRun reads a run's record, recorded suite, model instances, prompts
// and scorers from the store: the start shared by Load and Export.
func openRun(ctx context.Context, store *results.Store, runID int64) (*openedRun, error) {
	run, err := store.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	s, err := suites.Recorded([]byte(run.SuiteJSON), run.SuiteSource)
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", runID, err)
	}
	o := &openedRun{run: run, suite: s}
	if o.instances, err = store.Instances(ctx, runID); err != nil {
		return nil, err
	}
	if o.prompts, err = store.Prompts(ctx, runID); err != nil {
		return nil, err
	}
	if o.scorers, err = store.Scorers(ctx, runID); err != nil {
		return nil, err
	}
	if len(o.scorers) != len(s.Probes) {
		return nil, fmt.Errorf("run %d records scorers for %d of its %d probes: its recorded suite could not be read when the database was upgraded",
			runID, len(o.scorers), len(s.Probes))
	}
	o.texts = make(map[promptKey]string, len(o.prompts))
	for _, p := range o.prompts {
		o.texts[promptKey{Probe: p.Probe, Index: p.Index}] = p.Text
	}
	o.scorerIDs = make(map[string]string, len(o.scorers))
	for _, sc := range o.scorers {
		o.scorerIDs[sc.Probe] = sc.Scorer
	}
	return o, nil
}

// promptText returns the text of a probe's prompt, "" when unknown.
func (o *openedRun) promptText(probe string, index int) string {
	return o.texts[promptKey{Probe: probe, Index: index}]
}

// rows iterates every planned draw of the run in plan order, with its
// stored sample and its scores under the recorded scorer.
func (o *openedRun) rows(ctx context.Context, store *results.Store) iter.Seq2[*results.Row, error] {
	return store.Rows(ctx, o.run.ID, func(probe string) string { return o.scorerIDs[probe] })
}

// Load reads a run from the store, aggregated: the counts of each plan
// cell (model instance × prompt) are summed by the database
// (results.Store.CellTally), so Load holds per-cell counts and never a
// row per sample; the quoted examples and the judges' scores are
// then read for the cells that need them (loadExamples,
// loadRatingValues). The suite and scorers are the ones recorded with the
// run, so later edits of the suite file do not change the report. The
// result is the one Add gives for every draw of the run in Rows order.
func Load(ctx context.Context, store *results.Store, runID int64) (*RunData, error) {
	return load(ctx, store, runID, loadBounds{})
}

// loadBounds are the bounds on what Load holds at once; a zero field is
// the default. Tests lower them to load small runs as Load loads large
// ones.
type loadBounds struct {
	ratings   int // rated samples per probe whose scores Ratings keep in order (maxRatingSamples)
	seqWindow int // draws per window of the sequential replay (seqWindowDraws)
}

func (b loadBounds) ratingsOrDefault() int {
	if b.ratings <= 0 {
		return maxRatingSamples
	}
	return b.ratings
}

func (b loadBounds) seqWindowOrDefault() int {
	if b.seqWindow <= 0 {
		return seqWindowDraws
	}
	return b.seqWindow
}

// load is Load within bounds.
func load(ctx context.Context, store *results.Store, runID int64, bounds loadBounds) (*RunData, error) {
	o, err := openRun(ctx, store, runID)
	if err != nil {
		return nil, err
	}
	d := &RunData{Run: *o.run, Suite: o.suite, Instances: o.instances, Prompts: o.prompts, Scorers: o.scorers,
		Cells: map[CellKey]*Cell{}, Usage: map[int]*Usage{}, Examples: map[ExampleKey][]Example{}, bounds: bounds}
	cells, err := store.PlanCells(ctx, runID)
	if err != nil {
		return nil, err
	}
	hits := map[ExampleKey]*hitStats{}
	for _, c := range cells {
		sc := d.scorer(c.Probe)
		var name string
		var targets []string
		if sc != nil {
			name, targets = sc.Scorer, sc.Targets
		}
		// Judges' verdicts are counted jointly, for their agreement.
		joint := sc != nil && sc.Kind == judgeKind && len(targets) > 1
		t, err := store.CellTally(ctx, runID, c, name, targets, joint)
		if err != nil {
			return nil, err
		}
		d.addTally(c, sc, t, hits)
	}
	if err := d.loadExamples(ctx, store, cells, hits); err != nil {
		return nil, err
	}
	if err := d.loadRatingValues(ctx, store, cells); err != nil {
		return nil, err
	}
	// Only judge scorers have judge calls behind their scores: a run
	// without one need not look.
	if slices.ContainsFunc(d.Scorers, func(sc results.RunScorer) bool { return sc.Kind == judgeKind }) {
		if d.JudgeUsage, err = store.JudgeUsage(ctx, runID); err != nil {
			return nil, err
		}
	}
	if err := d.loadSequential(ctx, store, o); err != nil {
		return nil, err
	}
	if d.Prices, err = store.Prices(ctx, runID); err != nil {
		return nil, err
	}
	if d.RateChanges, err = store.RateChanges(ctx, runID); err != nil {
		return nil, err
	}
	return d, nil
}

// hitStats sums, over the hits of one ExampleKey, the hits of each plan
// cell (by prompt index) and the range of their score values.
type hitStats struct {
	byPrompt map[int]int // hits per prompt
	hits     int
	values   int // hits with a numeric value
	lo, hi   float64
}

// addTally counts the draws of plan cell c, as Add counts each of them,
// from their tally t, and sums the cell's hits into hits.
func (d *RunData) addTally(c results.PlanCell, sc *results.RunScorer, t results.CellTally, hits map[ExampleKey]*hitStats) {
	var targets []string
	if sc != nil {
		targets = sc.Targets
	}
	u := d.Usage[c.Instance]
	if u == nil {
		u = &Usage{}
		d.Usage[c.Instance] = u
	}
	missing, ok := t.Planned-t.Stored, t.Stored-t.Failed
	if len(targets) > 0 {
		u.Planned += t.Planned
		u.Missing += missing
		u.Failed += t.Failed
	}
	u.Samples += ok
	u.PromptTokens += t.PromptTokens
	u.CompletionTokens += t.CompletionTokens
	u.LatencySum += t.Latency
	u.Attempts += t.Attempts
	u.BatchedPromptTokens += t.BatchedPromptTokens
	u.BatchedCompletionTokens += t.BatchedCompletionTokens
	if len(targets) > 1 && sc.Kind == judgeKind {
		for _, jc := range t.Joint {
			verdicts := make([]string, len(targets))
			for j, s := range jc.Scores {
				verdicts[j] = verdict(sc, s.Scored, s.Valid, s.Hit, s.Label)
			}
			d.ratings(c.Probe, targets).add(verdicts, jc.Draws, nil)
		}
	}
	for j, target := range targets {
		k := CellKey{Instance: c.Instance, Probe: c.Probe, Prompt: c.Prompt, Target: target}
		cell := d.Cells[k]
		if cell == nil {
			cell = &Cell{Invalid: map[string]int{}}
			d.Cells[k] = cell
		}
		tt := t.Targets[j]
		cell.Planned += t.Planned
		cell.Missing += missing
		cell.Failed += t.Failed
		if n := ok - tt.Scored; n > 0 {
			cell.Invalid["unscored"] += n
		}
		for label, n := range tt.Invalid {
			if label == "" {
				label = "invalid"
			}
			if n > 0 {
				cell.Invalid[label] += n
			}
		}
		cell.Scored += tt.Valid
		cell.Hits += tt.Hits
		if tt.Hits == 0 {
			continue
		}
		ek := ExampleKey{Instance: c.Instance, Probe: c.Probe, Target: target}
		h := hits[ek]
		if h == nil {
			h = &hitStats{byPrompt: map[int]int{}}
			hits[ek] = h
		}
		h.byPrompt[c.Prompt] += tt.Hits
		h.hits += tt.Hits
		if tt.HitValues > 0 {
			if h.values == 0 {
				h.lo, h.hi = tt.HitMin, tt.HitMax
			}
			h.lo, h.hi = math.Min(h.lo, tt.HitMin), math.Max(h.hi, tt.HitMax)
			h.values += tt.HitValues
		}
	}
}

// loadExamples chooses the quoted examples of every ExampleKey with hits
// as Add does (addExample over its hits in draw order), reading only the
// hits it needs: when no hit has a value, or all have the same one,
// addExample keeps the first maxExamples hits, and those are read from
// the first cells with hits; otherwise every hit is read, in order, and
// addExample keeps the maxExamples with the lowest values: a reservoir
// of maxExamples per key, filled in a fixed order, so the same database
// quotes the same examples.
func (d *RunData) loadExamples(ctx context.Context, store *results.Store, cells []results.PlanCell, hits map[ExampleKey]*hitStats) error {
	for _, c := range cells {
		sc := d.scorer(c.Probe)
		if sc == nil {
			continue
		}
		for _, t := range sc.Targets {
			ek := ExampleKey{Instance: c.Instance, Probe: c.Probe, Target: t}
			h := hits[ek]
			if h == nil || h.byPrompt[c.Prompt] == 0 {
				continue
			}
			firstOnly := h.values == 0 || h.values == h.hits && h.lo == h.hi
			q := results.CellQuery{HitsOf: t, Text: true}
			if firstOnly {
				if q.Limit = maxExamples - len(d.Examples[ek]); q.Limit <= 0 {
					continue
				}
			}
			for cs, err := range store.CellSamples(ctx, d.Run.ID, c, sc.Scorer, []string{t}, q) {
				if err != nil {
					return err
				}
				d.addExample(ek, Example{Text: cs.Completion, Value: cs.Values[0]})
			}
		}
	}
	return nil
}

// loadRatingValues reads, for every probe rated by several judges, the
// scores of its successful samples in sample order (Ratings.Values).
func (d *RunData) loadRatingValues(ctx context.Context, store *results.Store, cells []results.PlanCell) error {
	for _, c := range cells {
		sc := d.scorer(c.Probe)
		r := d.Ratings[c.Probe]
		if sc == nil || r == nil {
			continue
		}
		for cs, err := range store.CellSamples(ctx, d.Run.ID, c, sc.Scorer, sc.Targets, results.CellQuery{}) {
			if err != nil {
				return err
			}
			r.add(nil, 0, cs.Values)
		}
	}
	return nil
}

// scorer returns the recorded scorer of a probe, nil when none.
func (d *RunData) scorer(probe string) *results.RunScorer {
	if d.scorerOf == nil {
		d.scorerOf = make(map[string]*results.RunScorer, len(d.Scorers))
		for i := range d.Scorers {
			d.scorerOf[d.Scorers[i].Probe] = &d.Scorers[i]
		}
	}
	return d.scorerOf[probe]
}

// Add counts one planned draw: once in its instance's Usage and once for
// each of its probe's recorded targets. Scorers must be set before the
// first Add.
func (d *RunData) Add(row *results.Row) {
	sc := d.scorer(row.Probe)
	var targets []string
	if sc != nil {
		targets = sc.Targets
	}
	u := d.Usage[row.Instance]
	if u == nil {
		u = &Usage{}
		d.Usage[row.Instance] = u
	}
	if len(targets) > 0 {
		u.Planned++
		switch {
		case !row.Stored:
			u.Missing++
		case row.Sample.Failed():
			u.Failed++
		}
	}
	if row.Stored && !row.Sample.Failed() {
		u.Samples++
		u.PromptTokens += int64(row.Sample.PromptTokens)
		u.CompletionTokens += int64(row.Sample.CompletionTokens)
		u.LatencySum += row.Sample.Latency
		u.Attempts += int64(row.Sample.Attempts)
		if row.Sample.Batched {
			u.BatchedPromptTokens += int64(row.Sample.PromptTokens)
			u.BatchedCompletionTokens += int64(row.Sample.CompletionTokens)
		}
	}
	if len(targets) > 1 && row.Stored && !row.Sample.Failed() && sc.Kind == judgeKind {
		d.addRatings(row, sc)
	}
	for _, t := range targets {
		k := CellKey{Instance: row.Instance, Probe: row.Probe, Prompt: row.Prompt, Target: t}
		c := d.Cells[k]
		if c == nil {
			c = &Cell{Invalid: map[string]int{}}
			d.Cells[k] = c
		}
		c.Planned++
		switch {
		case !row.Stored:
			c.Missing++
		case row.Sample.Failed():
			c.Failed++
		default:
			score, ok := findScore(row.Scores, t)
			switch {
			case !ok:
				c.Invalid["unscored"]++
			case !score.Valid:
				label := score.Label
				if label == "" {
					label = "invalid"
				}
				c.Invalid[label]++
			default:
				c.Scored++
				if score.Hit {
					c.Hits++
					d.addExample(ExampleKey{Instance: row.Instance, Probe: row.Probe, Target: t}, Example{Text: row.Sample.Completion, Value: score.Value})
				}
			}
		}
	}
}

// addExample keeps the maxExamples hits with the lowest value (NaN values
// keep the first hits).
func (d *RunData) addExample(k ExampleKey, e Example) {
	ex := d.Examples[k]
	if len(ex) < maxExamples {
		d.Examples[k] = append(ex, e)
		return
	}
	worst := -1
	for i, x := range ex {
		if x.Value > e.Value && (worst < 0 || x.Value > ex[worst].Value) {
			worst = i
		}
	}
	if worst >= 0 {
		ex[worst] = e
	}
}

// addRatings records a sample's verdicts under each judge (target) of
// the probe, named by the scorer's verdict labels, and its scores.
func (d *RunData) addRatings(row *results.Row, sc *results.RunScorer) {
	verdicts := make([]string, len(sc.Targets))
	values := make([]float64, len(sc.Targets))
	for j, t := range sc.Targets {
		values[j] = math.NaN()
		s, ok := findScore(row.Scores, t)
		if ok {
			verdicts[j] = verdict(sc, true, s.Valid, s.Hit, s.Label)
			values[j] = s.Value
		}
	}
	d.ratings(row.Probe, sc.Targets).add(verdicts, 1, values)
}

// verdict names a score under scorer sc: its hit or miss label when
// valid, its own label when not, "" when there is none.
func verdict(sc *results.RunScorer, scored, valid, hit bool, label string) string {
	switch {
	case !scored:
		return ""
	case !valid:
		return label
	case hit:
		return sc.Hit
	}
	return sc.Miss
}

func findScore(scores []results.Score, target string) (results.Score, bool) {
	for _, s := range scores {
		if s.Target == target {
			return s, true
		}
	}
	return results.Score{}, false
}

// cellsOf returns the keys of the cells of one probe target, in no
// particular order.
func (d *RunData) cellsOf(probe, target string) []CellKey {
	if d.byTarget == nil {
		// Index the cells once: an analysis sums per role and seed, and
		// scanning every cell each time grows with the square of the run.
		d.byTarget = map[CellKey][]CellKey{}
		for k := range d.Cells {
			t := CellKey{Probe: k.Probe, Target: k.Target}
			d.byTarget[t] = append(d.byTarget[t], k)
		}
	}
	return d.byTarget[CellKey{Probe: probe, Target: target}]
}

// sum adds the cells of one probe target that match keep.
func (d *RunData) sum(probe, target string, keep func(CellKey) bool) Cell {
	var out Cell
	out.Invalid = map[string]int{}
	for _, k := range d.cellsOf(probe, target) {
		if !keep(k) {
			continue
		}
		c := d.Cells[k]
		out.Planned += c.Planned
		out.Missing += c.Missing
		out.Failed += c.Failed
		out.Scored += c.Scored
		out.Hits += c.Hits
		for l, n := range c.Invalid {
			out.Invalid[l] += n
		}
	}
	return out
}
