package reports

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

// CostSummary is what the run's tokens cost at the prices the run
// recorded: per model instance (the samples this report counts) and per
// judge (the calls behind its verdicts). Instances and judges without a
// recorded price are listed in Unpriced and count for nothing in Total.
type CostSummary struct {
	Models   []CostRow `json:"models"`
	Judges   []CostRow `json:"judges,omitempty"`
	Total    Num       `json:"total_usd"`
	Unpriced []string  `json:"unpriced,omitempty"`
}

// CostRow is the cost of one model instance or judge.
type CostRow struct {
	Name             string  `json:"name"` // role@seed, or the judge's name
	ModelID          string  `json:"model_id"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	Input            float64 `json:"input_usd_per_1m"`
	Output           float64 `json:"output_usd_per_1m"`
	Source           string  `json:"price_source"`
	Cost             Num     `json:"cost_usd"`
	// BatchedPromptTokens and BatchedCompletionTokens are the part of
	// PromptTokens and CompletionTokens that came through a Batch API;
	// they cost the price less BatchDiscount (the fraction off, in
	// [0, 1)), the others the full price. Zero when nothing was batched.
	BatchedPromptTokens     int64   `json:"batched_prompt_tokens,omitempty"`
	BatchedCompletionTokens int64   `json:"batched_completion_tokens,omitempty"`
	BatchDiscount           float64 `json:"batch_discount,omitempty"`
}

// batched reports whether some of the row's tokens came through a Batch
// API.
func (r CostRow) batched() bool { return r.BatchedPromptTokens+r.BatchedCompletionTokens > 0 }

// anyBatched reports whether some tokens of the summary came through a
// Batch API.
func (c *CostSummary) anyBatched() bool {
	for _, rs := range [][]CostRow{c.Models, c.Judges} {
		for _, r := range rs {
			if r.batched() {
				return true
			}
		}
	}
	return false
}

// RateSeries is the adaptive in-flight cap of one endpoint × API key over
// the run, as recorded: one point per change.
type RateSeries struct {
	Endpoint string      `json:"endpoint"`
	KeyEnv   string      `json:"key_env,omitempty"`
	Points   []RatePoint `json:"points"`
}

// RatePoint is one change of the cap.
type RatePoint struct {
	At     time.Time `json:"at"`
	Cap    int       `json:"cap"`
	Reason string    `json:"reason"` // start, grow, rate_limited or end
}

// costAndRate fills the analysis' Cost (when the run recorded prices)
// and RateControl (when it recorded rate changes).
func (a *analyzer) costAndRate() {
	d := a.d
	if len(d.Prices) > 0 {
		c := &CostSummary{}
		price := map[[2]string]results.RunPrice{}
		for _, p := range d.Prices {
			price[[2]string{p.Kind, p.Name}] = p
		}
		total := 0.0
		// Tokens that came through a Batch API (bin, bout of in, out)
		// cost the price less its batch discount.
		add := func(rows *[]CostRow, kind, name, model string, in, out, bin, bout int64) {
			p, ok := price[[2]string{kind, name}]
			if !ok {
				c.Unpriced = append(c.Unpriced, name)
				return
			}
			q := suites.Price{Input: p.Input, Output: p.Output, BatchDiscount: &p.BatchDiscount}
			cost := q.Cost(float64(in-bin), float64(out-bout), false)
			if bin+bout > 0 {
				cost += q.Cost(float64(bin), float64(bout), true)
			}
			total += cost
			r := CostRow{Name: name, ModelID: model, PromptTokens: in, CompletionTokens: out,
				Input: p.Input, Output: p.Output, Source: p.Source, Cost: Num(cost)}
			if bin+bout > 0 {
				r.BatchedPromptTokens, r.BatchedCompletionTokens, r.BatchDiscount = bin, bout, p.BatchDiscount
			}
			*rows = append(*rows, r)
		}
		for i, m := range a.Instances {
			var bin, bout int64
			if i < len(d.Instances) {
				if u := d.Usage[d.Instances[i].Index]; u != nil {
					bin, bout = u.BatchedPromptTokens, u.BatchedCompletionTokens
				}
			}
			add(&c.Models, results.PriceModel, m.Name(), m.ModelID, m.PromptTokens, m.CompletionTokens, bin, bout)
		}
		batchedJudge := map[string][2]int64{}
		for _, u := range d.JudgeUsage {
			batchedJudge[u.Judge] = [2]int64{u.BatchedPromptTokens, u.BatchedCompletionTokens}
		}
		for _, j := range a.Judges {
			model := ""
			if p, ok := price[[2]string{results.PriceJudge, j.Judge}]; ok {
				model = p.Model
			}
			b := batchedJudge[j.Judge]
			add(&c.Judges, results.PriceJudge, j.Judge, model, j.PromptTokens, j.CompletionTokens, b[0], b[1])
		}
		c.Total = Num(total)
		a.Cost = c
	}
	var byKey []string
	series := map[string]*RateSeries{}
	for _, ch := range d.RateChanges {
		k := ch.Endpoint + "\x00" + ch.KeyEnv
		s := series[k]
		if s == nil {
			s = &RateSeries{Endpoint: ch.Endpoint, KeyEnv: ch.KeyEnv}
			series[k] = s
			byKey = append(byKey, k)
		}
		s.Points = append(s.Points, RatePoint{At: ch.At, Cap: ch.Cap, Reason: ch.Reason})
	}
	for _, k := range byKey {
		a.RateControl = append(a.RateControl, *series[k])
	}
}

// label names a series: its endpoint, and the key's variable when there is
// one.
func (s RateSeries) label() string {
	if s.KeyEnv == "" {
		return s.Endpoint
	}
	return s.Endpoint + " (" + s.KeyEnv + ")"
}

// summary counts a series: its first, lowest, highest and last cap, and
// its cuts and growth steps.
func (s RateSeries) summary() (first, lo, hi, last, cuts, grows int) {
	lo = math.MaxInt
	for i, p := range s.Points {
		if i == 0 {
			first = p.Cap
		}
		lo, hi, last = min(lo, p.Cap), max(hi, p.Cap), p.Cap
		switch p.Reason {
		case "rate_limited":
			cuts++
		case "grow":
			grows++
		}
	}
	if len(s.Points) == 0 {
		lo = 0
	}
	return first, lo, hi, last, cuts, grows
}

// fmtUSD formats dollars with a precision that shows small costs.
func fmtUSD(v Num) string {
	f := float64(v)
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return "–"
	case f == 0:
		return "$0"
	case f < 0.01:
		return fmt.Sprintf("$%.6f", f)
	}
	return fmt.Sprintf("$%.2f", f)
}

// writeCostAndRate writes the cost table and the rate-control table, each
// when the run recorded them.
func (a *Analysis) writeCostAndRate(m *mdWriter) {
	if c := a.Cost; c != nil {
		m.printf("## Cost\n\n")
		batched := c.anyBatched()
		var rows [][]string
		for _, g := range []struct {
			kind string
			rows []CostRow
		}{{"model", c.Models}, {"judge", c.Judges}} {
			for _, r := range g.rows {
				row := []string{g.kind, md(r.Name), md(r.ModelID), fmt.Sprint(r.PromptTokens), fmt.Sprint(r.CompletionTokens),
					fmt.Sprintf("$%g / $%g", r.Input, r.Output), fmtUSD(r.Cost)}
				if batched {
					row = slices.Insert(row, 5, batchedCell(r))
				}
				rows = append(rows, row)
			}
		}
		head := []string{"", "name", "model id", "prompt tokens", "completion tokens", "price in / out per 1M", "cost"}
		total := []string{"total", "", "", "", "", "", fmtUSD(c.Total)}
		if batched {
			head = slices.Insert(head, 5, "of which batched")
			total = slices.Insert(total, 5, "")
		}
		m.table(head, append(rows, total))
		m.printf("At the prices the run recorded (%s); tokens as the servers counted them.", md(priceSources(c)))
		if batched {
			m.printf(" %s", md(batchNote(c)))
		}
		if len(c.Unpriced) > 0 {
			m.printf(" Without a price, not counted: %s.", md(strings.Join(c.Unpriced, ", ")))
		}
		m.printf("\n\n")
	}
	if len(a.RateControl) > 0 {
		m.printf("## Rate control\n\n")
		var rows [][]string
		for _, s := range a.RateControl {
			first, lo, hi, last, cuts, grows := s.summary()
			rows = append(rows, []string{md(s.label()), fmt.Sprint(first), fmt.Sprint(lo), fmt.Sprint(hi), fmt.Sprint(last), fmt.Sprint(grows), fmt.Sprint(cuts)})
		}
		m.table([]string{"endpoint", "start", "lowest", "highest", "last", "growth steps", "cuts on 429"}, rows)
		m.printf("The adaptive cap on requests in flight per endpoint and API key (AIMD: one more per round trip of clean answers while requests wait, halved on HTTP 429).\n\n")
	}
}

// batchedCell shows a cost row's batched tokens, prompt / completion, or
// "–" when none.
func batchedCell(r CostRow) string {
	if !r.batched() {
		return "–"
	}
	return fmt.Sprintf("%d / %d", r.BatchedPromptTokens, r.BatchedCompletionTokens)
}

// batchNote says where the batch discount applied: each row with batched
// tokens and its discount.
func batchNote(c *CostSummary) string {
	var parts []string
	for _, rs := range [][]CostRow{c.Models, c.Judges} {
		for _, r := range rs {
			if r.batched() {
				parts = append(parts, fmt.Sprintf("%s %g%% off", r.Name, 100*r.BatchDiscount))
			}
		}
	}
	return "Tokens that came through a Batch API (of which batched: prompt / completion) cost the price less its batch discount: " +
		strings.Join(parts, ", ") + "."
}

// priceSources lists the distinct sources of a cost summary's prices.
func priceSources(c *CostSummary) string {
	var out []string
	seen := map[string]bool{}
	for _, rs := range [][]CostRow{c.Models, c.Judges} {
		for _, r := range rs {
			if !seen[r.Source] {
				seen[r.Source] = true
				out = append(out, r.Source)
			}
		}
	}
	return strings.Join(out, "; ")
}

// rateCostView is the cost table and rate-control charts of the HTML
// report; nil parts are left out.
type rateCostView struct {
	Cost     *costView
	Rate     []rateView
	Sources  string
	Unpriced string
}

type costView struct {
	Rows  []costRowView
	Total string
	// Batched, when some tokens came through a Batch API, says how they
	// were priced; the table then has a column for them.
	Batched string
}

type costRowView struct {
	Kind, Name, ModelID, Price, Cost string
	Prompt, Completion               int64
	Batched                          string // the row's batched tokens, when the table has the column
}

type rateView struct {
	Label                            string
	First, Lo, Hi, Last, Cuts, Grows int
	SVG                              template.HTML
}

// rateCostView builds the HTML view of Cost and RateControl; nil when the
// run recorded neither.
func (a *Analysis) rateCostView() (*rateCostView, error) {
	if a.Cost == nil && len(a.RateControl) == 0 {
		return nil, nil
	}
	v := &rateCostView{}
	if c := a.Cost; c != nil {
		cv := &costView{Total: fmtUSD(c.Total)}
		batched := c.anyBatched()
		for _, g := range []struct {
			kind string
			rows []CostRow
		}{{"model", c.Models}, {"judge", c.Judges}} {
			for _, r := range g.rows {
				rv := costRowView{Kind: g.kind, Name: r.Name, ModelID: r.ModelID, Prompt: r.PromptTokens, Completion: r.CompletionTokens,
					Price: fmt.Sprintf("$%g / $%g", r.Input, r.Output), Cost: fmtUSD(r.Cost)}
				if batched {
					rv.Batched = batchedCell(r)
				}
				cv.Rows = append(cv.Rows, rv)
			}
		}
		if batched {
			cv.Batched = batchNote(c)
		}
		v.Cost, v.Sources, v.Unpriced = cv, priceSources(c), strings.Join(c.Unpriced, ", ")
	}
	for _, s := range a.RateControl {
		first, lo, hi, last, cuts, grows := s.summary()
		rv := rateView{Label: s.label(), First: first, Lo: lo, Hi: hi, Last: last, Cuts: cuts, Grows: grows}
		c, err := rateChart(s)
		if err != nil {
			return nil, fmt.Errorf("rate chart of %s: %w", s.Endpoint, err)
		}
		if c != nil {
			rv.SVG = template.HTML(c.inline) // drawn here, text escaped by render
		}
		v.Rate = append(v.Rate, rv)
	}
	return v, nil
}

// rateChart draws a series' cap over time as a step line, with a mark at
// each cut; nil for a series of fewer than two points.
func rateChart(s RateSeries) (*Chart, error) {
	if len(s.Points) < 2 {
		return nil, nil
	}
	t0 := s.Points[0].At
	span := s.Points[len(s.Points)-1].At.Sub(t0).Seconds()
	unit, scale := "seconds", 1.0
	switch {
	case span > 2*3600:
		unit, scale = "hours", 3600
	case span > 120:
		unit, scale = "minutes", 60
	}
	line := make(plotter.XYs, len(s.Points))
	var cuts plotter.XYs
	hi := 1
	for i, p := range s.Points {
		line[i] = plotter.XY{X: p.At.Sub(t0).Seconds() / scale, Y: float64(p.Cap)}
		if p.Reason == "rate_limited" {
			cuts = append(cuts, line[i])
		}
		hi = max(hi, p.Cap)
	}
	p := newPlot()
	p.Y.Tick.Marker = countTicks{}
	p.Y.Label.Text = "requests in flight (cap)"
	p.X.Label.Text = unit + " since the first request"
	l, err := plotter.NewLine(line)
	if err != nil {
		return nil, fmt.Errorf("cap line: %w", err)
	}
	l.StepStyle = plotter.PostStep
	l.LineStyle = draw.LineStyle{Color: hexColor(palette[0]), Width: vg.Points(1.4)}
	p.Add(l)
	if len(cuts) > 0 {
		sc, err := plotter.NewScatter(cuts)
		if err != nil {
			return nil, fmt.Errorf("cut marks: %w", err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: hexColor(palette[4]), Radius: vg.Points(2.6), Shape: draw.CircleGlyph{}}
		p.Add(sc)
	}
	p.Y.Min, p.Y.Max = 0, float64(hi)*1.1
	// A little room on the right, so the last tick label is not cut.
	p.X.Min, p.X.Max = 0, math.Max(line[len(line)-1].X*1.03, 1e-3)
	return render(p, vg.Length(5*72), vg.Length(1.9*72), &Chart{
		Name:  "rate-" + slug(s.label()) + ".svg",
		Title: "in-flight cap: " + s.label(),
	})
}

// countTicks labels whole numbers at a step of 1, 2 or 5 times a power of
// ten, about five of them: a cap is a count.
type countTicks struct{}

// Ticks implements plot.Ticker.
func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 1.0
	for k := 0; (hi-lo)/step > 6; k++ {
		step = []float64{1, 2, 5}[k%3] * math.Pow(10, float64(k/3))
		if (hi-lo)/step <= 6 {
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f", v)})
	}
	return ticks
}
