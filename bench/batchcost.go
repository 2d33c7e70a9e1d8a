package bench

import (
	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// max_cost and the Batch API.
//
// A batch is paid for once it is created at the provider, and answers
// up to a day later: the meter cannot wait for its tokens. So a batch
// file is estimated as a dry run estimates (EstimatePromptTokens and
// EstimateCompletionTokens summed over its requests, recorded with the
// batch), at the batch price, and that estimate is reserved before the
// batch is created; batches an earlier invocation created and nobody
// collected yet are reserved when the run starts. A batch whose estimate
// does not fit in what max_cost leaves is not submitted: the meter stops,
// so the run stops issuing (online requests and batches alike), the file
// stays recorded (prepared) for a run with a larger max_cost, and the
// run ends failed with the reason, as an online stop does. Once a batch
// is collected, its reserve is replaced by what its stored answers cost
// at the batch price. Offline batches (--batch-offline) are run by the
// user, not sent: they are not metered.

// batchCost is the estimated cost of a recorded batch at q's batch price.
func batchCost(q suites.Quote, rec results.Batch) float64 {
	return q.Cost(float64(rec.EstPromptTokens), float64(rec.EstCompletionTokens), true)
}

// holdBatch reserves, without a check, what a batch created by an
// earlier invocation may cost: it is running already.
func (m *costMeter) holdBatch(amount float64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reserved += amount
}

// reserveBatch reserves what a batch about to be created may cost, or
// refuses with a *BudgetError (and stops the meter) when that would
// exceed max_cost. A nil meter reserves nothing.
func (m *costMeter) reserveBatch(amount float64) error {
	if m == nil {
		return nil
	}
	return m.reserve(amount, true)
}

// settleBatch replaces a batch's reserve by what it cost. A nil meter
// does nothing.
func (m *costMeter) settleBatch(held, cost float64) {
	if m == nil {
		return
	}
	m.settle(held, cost)
}

// sampleTokens sums the tokens of samples: what a collected batch cost.
func sampleTokens(ss []results.Sample) (prompt, completion int64) {
	for i := range ss {
		prompt += int64(ss[i].PromptTokens)
		completion += int64(ss[i].CompletionTokens)
	}
	return prompt, completion
}
