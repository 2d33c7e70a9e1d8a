package bench

import (
	"context"
	"strings"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// Estimate is what running a suite would send and cost, worked out
// before anything is sent (run --dry-run). Token counts are estimates:
// prompt tokens are the bytes of the text sent divided by 4 plus one
// (EstimatePromptTokens); completion tokens are max_tokens per choice
// (DefaultMaxTokensEstimate when unset), an upper bound.
type Estimate struct {
	// Planned counts the suite's draws; Stored those already stored under
	// the salt the run would use; the rest are to be drawn.
	Planned, Stored int
	// Models has one row per model instance, in plan order.
	Models []EstimateRow
	// Judges has one row per judge the probes call, in suite order: two
	// calls (alignment, coherence) per draw to be drawn of a judged
	// probe. Identical answers are judged once, so this is at most.
	Judges []EstimateRow
	// MaxCost is the suite's max_cost, nil when none.
	MaxCost *float64
}

// EstimateRow is the estimate of one model instance or judge.
type EstimateRow struct {
	Name  string // role@seed, or the judge's name
	Model string // model id
	// Draws are the draws to be made (a judge: the draws it judges).
	Draws int
	// Requests are the requests to be sent: one per job of up to n
	// draws (a server that ignores n takes one per draw), two per draw
	// for a judge.
	Requests         int
	PromptTokens     int64
	CompletionTokens int64
	// Price is the price used; nil when the model has none (no cost).
	Price *suites.Quote
	// Cost is the estimated cost in US dollars; BatchCost the same with
	// the price's batch discount.
	Cost, BatchCost float64
	// Batched is true when the model or judge is sent through a Batch API
	// (batch: true, or BatchAll): BatchCost is then what it would cost.
	Batched bool
}

// Total returns the estimated cost of every priced row, each at the price
// it is sent at (BatchCost for a batched row, Cost for the others), the
// same with every row at the batch price, and whether every row had a
// price.
func (e *Estimate) Total() (cost, batch float64, allPriced bool) {
	allPriced = true
	for _, rows := range [][]EstimateRow{e.Models, e.Judges} {
		for _, r := range rows {
			if r.Price == nil {
				allPriced = false
				continue
			}
			if r.Batched {
				cost += r.BatchCost
			} else {
				cost += r.Cost
			}
			batch += r.BatchCost
		}
	}
	return cost, batch, allPriced
}

// BatchAll marks every model and judge batched, as run --batch sends
// them.
func (e *Estimate) BatchAll() {
	for _, rows := range [][]EstimateRow{e.Models, e.Judges} {
		for i := range rows {
			rows[i].Batched = true
		}
	}
}

// AnyBatched reports whether a row is batched.
func (e *Estimate) AnyBatched() bool {
	for _, rows := range [][]EstimateRow{e.Models, e.Judges} {
		for _, r := range rows {
			if r.Batched {
				return true
			}
		}
	}
	return false
}

// EstimateStore is what an estimate reads of a results database: the
// salt a run would continue, and which draws are stored.
// *results.Store implements it.
type EstimateStore interface {
	LatestSalt(ctx context.Context, suiteName string) (string, bool, error)
	Stored(ctx context.Context, keys []string) (map[string]bool, error)
}

var _ EstimateStore = (*results.Store)(nil)

// EstimateRun works out what running s would send and cost, the models
// and judges with batch: true at the batch price (BatchAll for run
// --batch). With a store
// (nil: none yet), draws already stored under the salt the run would
// continue are left out, as Execute leaves them out; fresh plans a new
// salt, with nothing stored. Nothing is sent and nothing is written.
func EstimateRun(ctx context.Context, store EstimateStore, s *suites.Suite, fresh bool) (*Estimate, error) {
	salt := ""
	if store != nil && !fresh {
		var err error
		if salt, _, err = store.LatestSalt(ctx, s.Name); err != nil {
			return nil, err
		}
	}
	plan := NewPlan(s, salt)
	pending := AllPending(plan)
	if store != nil && !fresh {
		var err error
		if pending, err = FindPending(ctx, plan, store); err != nil {
			return nil, err
		}
	}
	e := &Estimate{Planned: plan.Total(), Stored: plan.Total() - pending.Draws(), MaxCost: s.MaxCost}
	e.Models = make([]EstimateRow, len(plan.Instances))
	for i, in := range plan.Instances {
		e.Models[i] = EstimateRow{Name: in.Name(), Model: in.Model, Batched: in.Settings.Batch != nil && *in.Settings.Batch}
		if q, ok := s.ModelPrice(in.Role, in.Model); ok {
			e.Models[i].Price = &q
		}
	}
	judged := map[string]suites.JudgeSpec{}
	for _, p := range s.Probes {
		if p.Score.Judge == nil {
			continue
		}
		if spec, err := p.Score.Judge.Resolved(s.JudgeNames()); err == nil {
			judged[p.ID] = spec
		}
	}
	judgeRow := map[string]*EstimateRow{}
	for _, name := range s.UsedJudges() {
		in, _ := s.JudgeInstance(name)
		e.Judges = append(e.Judges, EstimateRow{Name: name, Model: in.Model, Batched: judgeBatched(in, nil)})
	}
	for i := range e.Judges {
		r := &e.Judges[i]
		judgeRow[r.Name] = r
		if q, ok := s.JudgePrice(r.Name); ok {
			r.Price = &q
		}
	}

	w := &worker{plan: plan}
	for j := range pending.All() {
		in := plan.Instances[j.Instance]
		w.in = in
		req := w.request(j, 0, j.Draws())
		r := &e.Models[j.Instance]
		r.Draws += j.Draws()
		r.Requests++
		r.PromptTokens += int64(EstimatePromptTokens(req))
		r.CompletionTokens += int64(EstimateCompletionTokens(req))
		spec, ok := judged[j.Probe]
		if !ok {
			continue
		}
		// Each draw's answer is judged by every judge of the probe with
		// both templates; the answer is at most max_tokens long.
		prompt := plan.Prompts[j.Probe][j.Prompt]
		answerChars := 4 * EstimateCompletionTokens(Request{MaxTokens: in.Settings.MaxTokens})
		judgeOut := 16 // sample mode asks for max_tokens 16
		if spec.Mode == suites.JudgeLogprobs {
			judgeOut = 1
		}
		for _, name := range spec.Judges {
			jr := judgeRow[name]
			if jr == nil {
				continue
			}
			for _, tmpl := range []string{spec.Alignment, spec.Coherence} {
				chars := len(tmpl) + strings.Count(tmpl, "{prompt}")*(len(prompt)-len("{prompt}")) +
					strings.Count(tmpl, "{completion}")*(answerChars-len("{completion}"))
				jr.Requests += j.Draws()
				jr.PromptTokens += int64(j.Draws() * (chars/4 + 1))
				jr.CompletionTokens += int64(j.Draws() * judgeOut)
			}
			jr.Draws += j.Draws()
		}
	}
	for _, rows := range [][]EstimateRow{e.Models, e.Judges} {
		for i := range rows {
			r := &rows[i]
			if r.Price != nil {
				r.Cost = r.Price.Cost(float64(r.PromptTokens), float64(r.CompletionTokens), false)
				r.BatchCost = r.Price.Cost(float64(r.PromptTokens), float64(r.CompletionTokens), true)
			}
		}
	}
	return e, nil
}
