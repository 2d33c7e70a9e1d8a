package reports

import (
	"cmp"
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// The trend chart of a history series is SVG written here rather than
// with gonum/plot (the run report's charts): each run's mark is a group
// that carries the run's id, its interval and its change marks as
// classes and a <title>, so that a reader hovering a point, a screen
// reader and a test reading the DOM all see which run is flagged.

// trendLayout is the geometry of a trend chart, in SVG user units.
type trendLayout struct {
	left, right, top, bottom float64 // margins
	pw, ph                   float64 // plot area
	ymax, step               float64 // y range [0, ymax], grid step
	n                        int
}

func (l trendLayout) width() float64  { return l.left + l.pw + l.right }
func (l trendLayout) height() float64 { return l.top + l.ph + l.bottom }
func (l trendLayout) x(i int) float64 { return l.left + l.pw*(float64(i)+0.5)/float64(l.n) }
func (l trendLayout) y(v float64) float64 {
	return l.top + l.ph*(1-math.Min(math.Max(v, 0), l.ymax)/l.ymax)
}

// gridStep picks a step for about four to six grid lines up to ymax.
func gridStep(ymax float64) float64 {
	for _, s := range []float64{0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25} {
		if ymax/s <= 6 {
			return s
		}
	}
	return 0.25
}

// boundLine is a horizontal line of a chart: a published figure, or the
// pinned run and its bound.
type boundLine struct {
	class, label string
	v            float64
	lo, hi       float64 // a band, NaN when none
}

// trendChart draws series s of h: the rate of each run with its
// interval, joined in run order; published figures as dashed lines (and
// bands for their intervals); the gate bound (each run's baseline rate
// plus the gate's max_increase) as a dotted line; the pinned run's rate
// and bound; ▲ / ▼ over or under a run whose change from the previous
// run is significant, and a ring around a flagged run.
func (h *History) trendChart(s *Series) string {
	n := len(s.Points)
	l := trendLayout{left: 48, right: 232, top: 18, bottom: 48, ph: 230, n: n}
	l.pw = math.Min(math.Max(26*float64(n), 320), 900)
	var lines []boundLine
	for _, r := range s.References {
		bl := boundLine{class: "ref", label: truncate(r.Label, 26) + " " + refRate(r), v: float64(r.Rate), lo: math.NaN(), hi: math.NaN()}
		if r.Low != nil && r.High != nil {
			bl.lo, bl.hi = float64(*r.Low), float64(*r.High)
		}
		if finite(bl.v) {
			lines = append(lines, bl)
		}
	}
	var pinned *Point
	if h.Baseline != nil {
		for i := range s.Points {
			if s.Points[i].RunKey == h.Baseline.RunKey {
				pinned = &s.Points[i]
			}
		}
	}
	if pinned != nil && finite(float64(pinned.Rate)) {
		lines = append(lines, boundLine{class: "pin", label: "pinned run " + h.runLabel(pinned.RunKey), v: float64(pinned.Rate), lo: math.NaN(), hi: math.NaN()})
		if b := s.AgainstBound; b != nil {
			lines = append(lines, boundLine{class: "pinbound", label: fmt.Sprintf("pinned %+.3f", *b), v: float64(pinned.Rate) + *b, lo: math.NaN(), hi: math.NaN()})
		}
	}
	top := 0.0
	for _, p := range s.Points {
		for _, v := range []float64{float64(p.Rate), float64(p.CI.High)} {
			if finite(v) {
				top = math.Max(top, v)
			}
		}
		if d := p.Diff; d != nil && s.MaxIncrease != nil && finite(float64(d.BaselineRate)) {
			top = math.Max(top, float64(d.BaselineRate)+*s.MaxIncrease)
		}
	}
	for _, bl := range lines {
		top = math.Max(top, bl.v)
		if finite(bl.hi) {
			top = math.Max(top, bl.hi)
		}
	}
	l.step = gridStep(math.Min(1, top*1.12+0.01))
	l.ymax = math.Min(1, math.Ceil((top*1.12+0.01)/l.step)*l.step)
	if l.ymax <= 0 {
		l.ymax, l.step = 0.1, 0.025
	}

	var b strings.Builder
	title := fmt.Sprintf("%s across %d runs", s.heading(), n)
	fmt.Fprintf(&b, `<svg viewBox="0 0 %s %s" class="trend" role="img" aria-label="%s" fill="currentColor" style="max-width:%spx">`+"\n",
		f1(l.width()), f1(l.height()), html.EscapeString(title), f1(l.width()*1.25))
	// Grid and y axis.
	b.WriteString(`<g class="grid">`)
	for v := 0.0; v <= l.ymax+1e-9; v += l.step {
		y := l.y(v)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/><text x="%s" y="%s" text-anchor="end">%s</text>`,
			f1(l.left), f1(y), f1(l.left+l.pw), f1(y), f1(l.left-6), f1(y+3.5), strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), "."))
	}
	fmt.Fprintf(&b, `<text x="12" y="%s" transform="rotate(-90 12 %s)" text-anchor="middle">rate</text>`, f1(l.top+l.ph/2), f1(l.top+l.ph/2))
	b.WriteString("</g>\n")
	// X labels: every k-th run, so that labels do not collide.
	k := int(math.Ceil(float64(n) / math.Max(1, l.pw/34)))
	b.WriteString(`<g class="xlabels">`)
	for i, p := range s.Points {
		if i%k != 0 && i != n-1 {
			continue
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`, f1(l.x(i)), f1(l.top+l.ph+14), html.EscapeString(h.runLabel(p.RunKey)))
	}
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">run, oldest first</text>`, f1(l.left+l.pw/2), f1(l.top+l.ph+32))
	b.WriteString("</g>\n")
	// Published figures, the pinned run and its bound, labelled at the
	// right, the labels moved apart where lines are close.
	type label struct {
		y     float64
		class string
		text  string
	}
	var labels []label
	for _, bl := range lines {
		if finite(bl.lo) && finite(bl.hi) {
			fmt.Fprintf(&b, `<rect class="%s band" x="%s" y="%s" width="%s" height="%s"/>`, bl.class, f1(l.left), f1(l.y(bl.hi)), f1(l.pw), f1(math.Max(0.5, l.y(bl.lo)-l.y(bl.hi))))
		}
		y := l.y(bl.v)
		fmt.Fprintf(&b, `<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s"><title>%s</title></line>`+"\n", bl.class, f1(l.left), f1(y), f1(l.left+l.pw), f1(y), html.EscapeString(bl.label))
		labels = append(labels, label{y, bl.class, bl.label})
	}
	// The gate bound: each run's baseline rate plus the gate's bound.
	if s.MaxIncrease != nil {
		var pts []string
		last := -1
		for i, p := range s.Points {
			if d := p.Diff; d != nil && finite(float64(d.BaselineRate)) {
				pts = append(pts, f1(l.x(i))+","+f1(l.y(float64(d.BaselineRate)+*s.MaxIncrease)))
				last = i
			}
		}
		if len(pts) > 0 {
			if len(pts) == 1 { // a lone run: a short tick
				pts = append(pts, pts[0])
			}
			gl := fmt.Sprintf("gate: %s %+.3f", s.Baseline, *s.MaxIncrease)
			fmt.Fprintf(&b, `<polyline class="bound" points="%s"><title>%s</title></polyline>`+"\n", strings.Join(pts, " "), html.EscapeString(gl))
			labels = append(labels, label{l.y(float64(s.Points[last].Diff.BaselineRate) + *s.MaxIncrease), "bound", gl})
		}
	}
	slices.SortStableFunc(labels, func(a, b label) int { return cmp.Compare(a.y, b.y) })
	for i := 1; i < len(labels); i++ {
		if labels[i].y < labels[i-1].y+11 {
			labels[i].y = labels[i-1].y + 11
		}
	}
	for _, lb := range labels {
		fmt.Fprintf(&b, `<text class="%s-label" x="%s" y="%s">%s</text>`, lb.class, f1(l.left+l.pw+6), f1(lb.y+3.5), html.EscapeString(lb.text))
	}
	b.WriteString("\n")
	// The trend: rates joined in run order.
	var trend []string
	for i, p := range s.Points {
		if finite(float64(p.Rate)) {
			trend = append(trend, f1(l.x(i))+","+f1(l.y(float64(p.Rate))))
		}
	}
	if len(trend) > 1 {
		fmt.Fprintf(&b, `<polyline class="trendline" points="%s"/>`+"\n", strings.Join(trend, " "))
	}
	// The runs.
	for i := range s.Points {
		p := &s.Points[i]
		class := "pt"
		if p.Flagged() {
			class += " flagged"
		}
		if p.Change != nil && p.Change.Direction != "" {
			class += " change-" + p.Change.Direction
		}
		if p.Against != nil && p.Against.Exceeds {
			class += " exceeds"
		}
		fmt.Fprintf(&b, `<g class="%s" data-run="%d" data-db="%s"><title>%s</title>`, class, p.RunID, html.EscapeString(p.DB), html.EscapeString(h.pointTitle(s, p)))
		if !finite(float64(p.Rate)) {
			b.WriteString("</g>\n")
			continue
		}
		x, y := l.x(i), l.y(float64(p.Rate))
		lo, hi := y, y
		if finite(float64(p.CI.Low)) && finite(float64(p.CI.High)) {
			lo, hi = l.y(float64(p.CI.Low)), l.y(float64(p.CI.High))
			fmt.Fprintf(&b, `<line class="ci" x1="%s" y1="%s" x2="%s" y2="%s"/>`, f1(x), f1(hi), f1(x), f1(lo))
		}
		if p.Flagged() {
			fmt.Fprintf(&b, `<circle class="ring" cx="%s" cy="%s" r="7"/>`, f1(x), f1(y))
		}
		fmt.Fprintf(&b, `<circle class="dot" cx="%s" cy="%s" r="3.2"/>`, f1(x), f1(y))
		switch {
		case p.Change != nil && p.Change.Direction == "up":
			fmt.Fprintf(&b, `<path class="mark up" d="M%s %sl-5 8h10z"/>`, f1(x), f1(hi-13))
		case p.Change != nil && p.Change.Direction == "down":
			fmt.Fprintf(&b, `<path class="mark down" d="M%s %sl-5 -8h10z"/>`, f1(x), f1(lo+13))
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>")
	return b.String()
}

// pointTitle describes a run of a series in words, for its tooltip.
func (h *History) pointTitle(s *Series, p *Point) string {
	t := fmt.Sprintf("run %s (%s, %s): rate %s %s, n = %d", h.runLabel(p.RunKey), p.Started.UTC().Format("2006-01-02"), p.Status, fmtRate(p.Rate), fmtCI(p.CI), p.N)
	if d := p.Diff; d != nil {
		t += fmt.Sprintf("; %s vs %s", fmtDiff(d.Diff), d.Baseline)
	}
	if c := p.Change; c != nil {
		what := "change"
		switch c.Direction {
		case "up":
			what = "significant increase"
		case "down":
			what = "significant decrease"
		}
		t += fmt.Sprintf("; %s %s since run %s (p %s)", what, fmtDiff(c.Diff), h.runLabel(c.From), fmtP(c.PAdjusted))
	}
	if why := h.flagReasons(s, p); why != "" {
		t += "; FLAGGED: " + why
	}
	return t
}

// f1 formats an SVG coordinate.
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
