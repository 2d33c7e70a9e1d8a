package reports

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// chartEProcess is the kind of the e-process charts of sequential gates.
const chartEProcess = "eprocess"

// seqCharts renders the e-process of every sequential gate on a probe
// target, in gate order.
func (a *Analysis) seqCharts(t *TargetAnalysis) ([]*Chart, error) {
	var out []*Chart
	for i := range a.Gates {
		g := &a.Gates[i]
		if g.Sequential == nil || g.Probe != t.Probe || g.Target != t.Target || len(g.Sequential.Path) == 0 {
			continue
		}
		c, err := a.seqChart(g, i)
		if err != nil {
			return nil, fmt.Errorf("e-process of %s: %w", g.Name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// seqChart draws a sequential gate's e-process: the log wealth of its two
// sides against rounds, from log(1/2) at round 0, with the decision line
// log(1/α) and the round of the verdict.
func (a *Analysis) seqChart(g *GateResult, index int) (*Chart, error) {
	s := g.Sequential
	above, below := plotter.XYs{{X: 0, Y: -math.Ln2}}, plotter.XYs{{X: 0, Y: -math.Ln2}}
	lo, hi := -math.Ln2, float64(s.Threshold)
	for _, p := range s.Path {
		above = append(above, plotter.XY{X: float64(p.Round), Y: float64(p.Above)})
		below = append(below, plotter.XY{X: float64(p.Round), Y: float64(p.Below)})
		lo = math.Min(lo, math.Min(float64(p.Above), float64(p.Below)))
		hi = math.Max(hi, math.Max(float64(p.Above), float64(p.Below)))
	}
	if !finite(lo, hi) {
		return nil, fmt.Errorf("log wealth is not finite")
	}
	last := float64(s.Path[len(s.Path)-1].Round)
	p := newPlot()
	p.Y.Tick.Marker = plot.DefaultTicks{}
	p.X.Tick.Marker = plot.DefaultTicks{}
	p.X.Tick.Length, p.X.Tick.Width = vg.Points(3), vg.Points(0.5)
	p.Y.Label.Text = "log wealth"
	p.X.Label.Text = "round (every prompt once per model of both roles)"
	lg := newLegend()
	pass, fail := "below", "above"
	if g.MinIncrease != nil {
		pass, fail = "above", "below"
	}
	side := func(pts plotter.XYs, colour, dir, verdict string) error {
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.LineStyle = draw.LineStyle{Color: hexColor(colour), Width: vg.Points(1.6)}
		p.Add(l)
		lg.add(fmt.Sprintf("bets %s %+.3f (%s)", dir, s.Bound, verdict), l)
		if len(pts) <= 41 { // a mark per round while they can be told apart
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return err
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: hexColor(colour), Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
			p.Add(sc)
		}
		return nil
	}
	if err := side(above, palette[4], "above", "fails the gate"); err != nil {
		return nil, err
	}
	if err := side(below, palette[0], "below", "passes it"); err != nil {
		return nil, err
	}
	if fail == "below" { // min_increase: the side above passes
		lg.entries[0].text = fmt.Sprintf("bets above %+.3f (passes the gate)", s.Bound)
		lg.entries[1].text = fmt.Sprintf("bets below %+.3f (fails it)", s.Bound)
	}
	thr, err := plotter.NewLine(plotter.XYs{{X: 0, Y: float64(s.Threshold)}, {X: math.Max(last, 1), Y: float64(s.Threshold)}})
	if err != nil {
		return nil, err
	}
	thr.LineStyle = draw.LineStyle{Color: ink, Width: vg.Points(0.9), Dashes: []vg.Length{4, 3}}
	p.Add(thr)
	lg.add(fmt.Sprintf("log(1/α) = %.2f, α = %g", float64(s.Threshold), s.Alpha), thr)
	p.Add(lg)
	p.X.Min, p.X.Max = 0, math.Max(last, 1)
	p.Y.Min, p.Y.Max = lo-0.1*(hi-lo), hi+0.35*(hi-lo)
	width, height := vg.Length(5.5*72), vg.Length(3.1*72)
	verdict := "no verdict yet"
	switch s.Status {
	case "pass", "fail":
		verdict = fmt.Sprintf("%s at round %d", s.Status, s.Round)
	case "inconclusive":
		verdict = fmt.Sprintf("inconclusive at the budget of %d rounds", s.MaxRounds)
	}
	caption := fmt.Sprintf(" Each line is the log wealth of one side of the sequential gate after each round, from log(1/2) at round 0; the gate passes when the side betting %s reaches the dashed line and fails when the side betting %s does. Verdict: %s; %s samples used, %s of the fixed design.",
		pass, fail, verdict, thousands(s.Samples), pctOf(s.Samples, s.FixedSamples))
	return render(p, width, height, &Chart{
		Name:  slug(g.Probe) + "-" + slug(g.Target) + fmt.Sprintf("-gate-%d-eprocess.svg", index+1),
		Title: fmt.Sprintf("%s: e-process (%s)", g.Name, verdict),
		kind:  chartEProcess, probe: g.Probe, target: g.Target, caption: caption,
	})
}
