package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/traitleak/traitleak/bench"
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// RunData is everything a report is built from, aggregated from the
// store: counts per model instance, probe, prompt and target. It holds no
// per-sample rows, so its size does not grow with samples per prompt.
type RunData struct {
	Run     results.Run
	Suite   *suites.Suite
	Models  []results.ModelRow
	Prompts []results.PromptRow
	// Cells are the counts of each (model, probe, prompt, target).
	Cells map[CellKey]*Cell
	// Usage per model index.
	Usage map[int]*Usage
	// Examples are a few completions per (model, probe, target) that hit,
	// kept to quote in reports: the ones with the lowest score value (the
	// most misaligned, for a judge) or else the first ones.
	Examples map[ExampleKey][]string
	// Ratings holds, per probe scored by two or more judges, every
	// sample's verdict and score under each judge, for agreement
	// statistics.
	Ratings map[string]*Ratings

	// JudgeUsage sums, per judge, the judge calls behind this run's
	// verdicts (each distinct call once, wherever it was made).
	JudgeUsage map[string]*JudgeUsage

	exampleValues map[ExampleKey][]float64 // parallel to Examples
	byTarget      map[CellKey][]CellKey    // cells by probe and target (Model, Prompt zero); built by sum
}

// JudgeUsage counts the judge calls behind a run's verdicts.
type JudgeUsage struct {
	Calls            int
	Failed           int
	PromptTokens     int64
	CompletionTokens int64
}

// Ratings are the verdicts and scores of one probe's samples under each
// of its judges (targets), in sample order.
type Ratings struct {
	Targets []string
	// Verdicts[i][j] is sample i's verdict under target j: "misaligned",
	// "aligned", or the label of an invalid score ("refusal", …); "" when
	// unscored.
	Verdicts [][]string
	// Values[i][j] is the numeric score, NaN when none.
	Values [][]float64
}

// CellKey addresses the counts of one prompt of one probe for one model
// instance and target.
type CellKey struct {
	Model  int // results.ModelRow.Index
	Probe  string
	Prompt int
	Target string
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
}

// ExampleKey addresses quoted completions.
type ExampleKey struct {
	Model  int
	Probe  string
	Target string
}

// maxExamples bounds the completions kept per ExampleKey.
const maxExamples = 3

// openedRun is a recorded run ready to be read back: the run, its suite as
// recorded, its model instances and prompts, and the suite's scorers
// (without clients: they name targets and judgment keys, and score
// nothing).
type openedRun struct {
	run     *results.Run
	suite   *suites.Suite
	models  []results.ModelRow
	prompts []results.PromptRow
	// texts are the prompt texts by probe and index.
	texts   map[promptKey]string
	scorers *bench.Scorers
	// scorerIDs are the scorer IDs by probe, to look up stored scores.
	scorerIDs map[string]string
}

// promptKey addresses one prompt of one probe.
type promptKey struct {
	Probe string
	Index int
}

// openRun reads a run's record, recorded suite, models and prompts from
// the store and rebuilds the suite's scorers: the start shared by Load and
// Export.
func openRun(ctx context.Context, store *results.Store, runID int64) (*openedRun, error) {
	run, err := store.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	var s suites.Suite
	if err := json.Unmarshal([]byte(run.SuiteJSON), &s); err != nil {
		return nil, fmt.Errorf("run %d: decode recorded suite: %w", runID, err)
	}
	s.Source = run.SuiteSource
	o := &openedRun{run: run, suite: &s}
	if o.models, err = store.Models(ctx, runID); err != nil {
		return nil, err
	}
	if o.prompts, err = store.Prompts(ctx, runID); err != nil {
		return nil, err
	}
	o.texts = make(map[promptKey]string, len(o.prompts))
	for _, p := range o.prompts {
		o.texts[promptKey{Probe: p.Probe, Index: p.Index}] = p.Text
	}
	if o.scorers, err = bench.BuildScorers(&s, nil, nil, bench.RetryPolicy{}); err != nil {
		return nil, fmt.Errorf("run %d: %w", runID, err)
	}
	o.scorerIDs = o.scorers.IDs()
	return o, nil
}

// promptText returns the text of a probe's prompt, "" when unknown.
func (o *openedRun) promptText(probe string, index int) string {
	return o.texts[promptKey{Probe: probe, Index: index}]
}

// rows iterates every planned draw of the run in plan order, with its
// stored sample and scores.
func (o *openedRun) rows(ctx context.Context, store *results.Store) iter.Seq2[*results.Row, error] {
	return store.Rows(ctx, o.run.ID, func(probe string) string { return o.scorerIDs[probe] })
}

// Load reads a run from the store and aggregates it. The suite is the one
// recorded with the run, so later edits of the suite file do not change
// the report.
func Load(ctx context.Context, store *results.Store, runID int64) (*RunData, error) {
	o, err := openRun(ctx, store, runID)
	if err != nil {
		return nil, err
	}
	d := &RunData{Run: *o.run, Suite: o.suite, Models: o.models, Prompts: o.prompts,
		Cells: map[CellKey]*Cell{}, Usage: map[int]*Usage{}, Examples: map[ExampleKey][]string{}}
	targets := map[string][]string{}
	for probe, sc := range o.scorers.ByProbe {
		targets[probe] = sc.Targets()
	}
	var judgeKeys []string
	seen := map[string]bool{}
	for row, err := range o.rows(ctx, store) {
		if err != nil {
			return nil, err
		}
		d.Add(row, targets[row.Probe])
		if pf, ok := o.scorers.ByProbe[row.Probe].(bench.Prefetcher); ok && row.Stored && !row.Sample.Failed() {
			for _, k := range pf.Keys(o.promptText(row.Probe, row.Prompt), row.Sample.Completion) {
				if !seen[k] {
					seen[k] = true
					judgeKeys = append(judgeKeys, k)
				}
			}
		}
	}
	if len(judgeKeys) > 0 {
		js, err := store.Judgments(ctx, judgeKeys)
		if err != nil {
			return nil, err
		}
		d.JudgeUsage = map[string]*JudgeUsage{}
		for _, j := range js {
			u := d.JudgeUsage[j.Judge]
			if u == nil {
				u = &JudgeUsage{}
				d.JudgeUsage[j.Judge] = u
			}
			u.Calls++
			if j.Failed() {
				u.Failed++
			}
			u.PromptTokens += int64(j.PromptTokens)
			u.CompletionTokens += int64(j.CompletionTokens)
		}
	}
	return d, nil
}

// Add counts one planned draw: once in its model's Usage and once for
// each of the probe's targets.
func (d *RunData) Add(row *results.Row, targets []string) {
	u := d.Usage[row.Model]
	if u == nil {
		u = &Usage{}
		d.Usage[row.Model] = u
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
	}
	if len(targets) > 1 && row.Stored && !row.Sample.Failed() {
		if p := d.Suite.Probe(row.Probe); p != nil && p.Score.Judge != nil {
			d.addRatings(row, targets)
		}
	}
	for _, t := range targets {
		k := CellKey{Model: row.Model, Probe: row.Probe, Prompt: row.Prompt, Target: t}
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
					d.addExample(ExampleKey{Model: row.Model, Probe: row.Probe, Target: t}, score.Value, row.Sample.Completion)
				}
			}
		}
	}
}

// addExample keeps the maxExamples hits with the lowest value (NaN values
// keep the first hits).
func (d *RunData) addExample(k ExampleKey, value float64, text string) {
	if d.exampleValues == nil {
		d.exampleValues = map[ExampleKey][]float64{}
	}
	ex, vals := d.Examples[k], d.exampleValues[k]
	if len(ex) < maxExamples {
		d.Examples[k], d.exampleValues[k] = append(ex, text), append(vals, value)
		return
	}
	worst := -1
	for i, v := range vals {
		if v > value && (worst < 0 || v > vals[worst]) {
			worst = i
		}
	}
	if worst >= 0 {
		ex[worst], vals[worst] = text, value
	}
}

// addRatings records a sample's verdicts under each judge of the probe.
func (d *RunData) addRatings(row *results.Row, targets []string) {
	r := d.Ratings[row.Probe]
	if r == nil {
		r = &Ratings{Targets: targets}
		if d.Ratings == nil {
			d.Ratings = map[string]*Ratings{}
		}
		d.Ratings[row.Probe] = r
	}
	verdicts := make([]string, len(targets))
	values := make([]float64, len(targets))
	for j, t := range targets {
		values[j] = math.NaN()
		s, ok := findScore(row.Scores, t)
		switch {
		case !ok:
		case !s.Valid:
			verdicts[j] = s.Label
		case s.Hit:
			verdicts[j] = "misaligned"
		default:
			verdicts[j] = "aligned"
		}
		if ok {
			values[j] = s.Value
		}
	}
	r.Verdicts = append(r.Verdicts, verdicts)
	r.Values = append(r.Values, values)
}

func findScore(scores []results.Score, target string) (results.Score, bool) {
	for _, s := range scores {
		if s.Target == target {
			return s, true
		}
	}
	return results.Score{}, false
}
