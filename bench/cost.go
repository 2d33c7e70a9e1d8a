package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"

	"github.com/traitleak/traitleak/suites"
)

// ErrBudget is matched by errors.Is on a *BudgetError.
var ErrBudget = errors.New("max_cost reached")

// BudgetError is the error of a request or batch that was not sent
// because the run's max_cost would be exceeded. The draws it stopped stay
// pending, so that the run resumes once max_cost is raised.
type BudgetError struct {
	Max   float64 // max_cost, US dollars
	Spent float64 // what the run had used (and held for requests in flight) when it stopped, US dollars
	Next  float64 // what the refused request or batch could cost at most (a batch: its estimate), US dollars
	Batch bool    // the refused spending was a batch file, not an online request
}

// Error says what was spent of what, and what did not fit.
func (e *BudgetError) Error() string {
	what := "request"
	if e.Batch {
		what = "batch (estimated at the batch price)"
	}
	return fmt.Sprintf("max_cost of %s reached: the run has used $%.4f at the models' prices, and the next %s could cost $%.4f, more than is left",
		usd(e.Max), e.Spent, what, e.Next)
}

// usd formats dollars with cents, or with as many digits as a smaller
// amount needs ($0.50, $3.00, $0.002).
func usd(v float64) string {
	if c := v * 100; c == math.Trunc(c) {
		return fmt.Sprintf("$%.2f", v)
	}
	return "$" + strconv.FormatFloat(v, 'f', -1, 64)
}

// Is makes errors.Is(err, ErrBudget) true.
func (e *BudgetError) Is(target error) bool { return target == ErrBudget }

// costMeter keeps a run within max_cost. Each request reserves what it
// may cost at most before it is sent (prompt characters / 4 and
// max_tokens per choice, at its model's price) and, once answered, is
// charged what it did cost (the tokens the server counted; nothing for a
// failed attempt, which providers do not bill). A request whose reserve
// does not fit in what is left is refused with a *BudgetError, and so is
// every request after it: the meter stops issuing new requests once
// max_cost is reached. A nil *costMeter meters nothing.
type costMeter struct {
	max float64

	mu       sync.Mutex
	spent    float64 // charged, US dollars
	reserved float64 // held for requests in flight
	stopped  *BudgetError
}

// newCostMeter returns a meter for max_cost maxCost (US dollars), or nil
// when maxCost is nil.
func newCostMeter(maxCost *float64) *costMeter {
	if maxCost == nil {
		return nil
	}
	return &costMeter{max: *maxCost}
}

// wrap returns c metered at price q. A nil meter returns c.
func (m *costMeter) wrap(q suites.Quote, c Client) Client {
	if m == nil {
		return c
	}
	return ClientFunc(func(ctx context.Context, req Request) (*Response, error) {
		hold := q.Cost(float64(EstimatePromptTokens(req)), float64(EstimateCompletionTokens(req)), false)
		if err := m.reserve(hold, false); err != nil {
			return nil, err
		}
		resp, err := c.Complete(ctx, req)
		cost := 0.0
		if err == nil && resp != nil {
			cost = q.Cost(float64(resp.PromptTokens), float64(resp.CompletionTokens), false)
		}
		m.settle(hold, cost)
		return resp, err
	})
}

func (m *costMeter) reserve(hold float64, batch bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped == nil && m.spent+m.reserved+hold > m.max {
		m.stopped = &BudgetError{Max: m.max, Spent: m.spent + m.reserved, Next: hold, Batch: batch}
	}
	if m.stopped != nil {
		return m.stopped
	}
	m.reserved += hold
	return nil
}

// charge adds what was spent outside the meter (by earlier invocations
// of the run). The meter stops at the next request if that is all of
// max_cost: only a refused request stops it, so that a run with nothing
// left to send is not failed for its budget.
func (m *costMeter) charge(spent float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.spent += spent
}

func (m *costMeter) settle(hold, cost float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reserved -= hold
	m.spent += cost
}

// Stopped returns the error that stopped the meter, nil while it has
// not; a nil meter never stops.
func (m *costMeter) Stopped() *BudgetError {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped == nil {
		return nil
	}
	e := *m.stopped
	e.Spent = m.spent // what in-flight requests finally cost is in
	return &e
}

// Spent returns what the run has used, US dollars.
func (m *costMeter) Spent() float64 {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.spent
}
