package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"html"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart is one figure of a report, rendered as a standalone SVG document
// that loads nothing: no scripts, no external fonts, no images. Text is
// drawn in currentColor, so the chart reads on light and dark backgrounds.
type Chart struct {
	// Name is a file-safe name, unique among a report's charts, e.g.
	// "favorite-animal-owl-rates.svg".
	Name string
	// Title says what the chart shows, in one line.
	Title string
	// SVG is the standalone SVG document.
	SVG []byte

	// kind, probe and target place the chart in the HTML report.
	kind, probe, target string
	// caption explains the marks; inline is the chart without its title
	// and without the XML header, for embedding in HTML.
	caption string
	inline  []byte
	width   float64 // natural width in points
}

// Chart kinds.
const (
	chartRates   = "rates"
	chartPrompts = "prompts"
	chartSeeds   = "seeds"
)

// Charts renders the figures of an analysis, in this order per probe and
// target: the pooled rate of each role with its Wilson interval and the
// published figures beside it; when a role has two or more seeds, the
// per-seed rates with the mean of seeds and its t-interval; the
// per-prompt rates of the two roles of the first comparison; and the
// e-process of each sequential gate on the target. The same analysis
// gives byte-identical charts.
func Charts(a *Analysis) ([]Chart, error) {
	tree, err := chartTree(a)
	if err != nil {
		return nil, err
	}
	var out []Chart
	for _, p := range tree {
		for _, t := range p {
			out = append(out, t...)
		}
	}
	return out, nil
}

// chartTree renders the charts of every probe target: tree[i][j] are the
// charts of a.Probes[i].Targets[j], in the order Charts lists them.
func chartTree(a *Analysis) ([][][]Chart, error) {
	colors := roleColors(a)
	names := map[string]bool{}
	tree := make([][][]Chart, len(a.Probes))
	for i := range a.Probes {
		p := &a.Probes[i]
		tree[i] = make([][]Chart, len(p.Targets))
		for j := range p.Targets {
			t := &p.Targets[j]
			add := func(c *Chart, err error) error {
				if err != nil {
					return err
				}
				if c == nil {
					return nil
				}
				c.Name = uniqueName(names, c.Name)
				tree[i][j] = append(tree[i][j], *c)
				return nil
			}
			if err := add(a.rateChart(t, colors)); err != nil {
				return nil, fmt.Errorf("chart of %s/%s rates: %w", p.ID, t.Target, err)
			}
			if err := add(a.seedChart(t, colors)); err != nil {
				return nil, fmt.Errorf("chart of %s/%s seeds: %w", p.ID, t.Target, err)
			}
			if err := add(a.promptChart(t, colors)); err != nil {
				return nil, fmt.Errorf("chart of %s/%s per-prompt rates: %w", p.ID, t.Target, err)
			}
			seq, err := a.seqCharts(t)
			if err != nil {
				return nil, fmt.Errorf("chart of %s/%s: %w", p.ID, t.Target, err)
			}
			for _, c := range seq {
				if err := add(c, nil); err != nil {
					return nil, err
				}
			}
		}
	}
	return tree, nil
}

// palette is the Okabe–Ito palette without black and yellow: colour-blind
// safe, and mid-luminance so that it reads on white and on near-black.
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9"}

// roleColors gives each role a colour, in order of first appearance, so
// that a role has the same colour in every chart and table.
func roleColors(a *Analysis) map[string]string {
	out := map[string]string{}
	for _, p := range a.Probes {
		for _, t := range p.Targets {
			for _, r := range t.Roles {
				if _, ok := out[r.Role]; !ok {
					out[r.Role] = palette[len(out)%len(palette)]
				}
			}
		}
	}
	return out
}

func hexColor(s string) color.Color {
	var r, g, b uint8
	_, _ = fmt.Sscanf(s, "#%02x%02x%02x", &r, &g, &b)
	return color.NRGBA{R: r, G: g, B: b, A: 255}
}

var (
	// ink is drawn as currentColor: the SVG writer's black is rewritten.
	ink = color.Black
	// muted reads on light and dark backgrounds.
	muted = color.NRGBA{R: 128, G: 128, B: 128, A: 110}
)

// fontStack follows the font the charts are laid out with by metrically
// compatible faces; the SVG names fonts and embeds none.
const fontStack = "font-family:Liberation Sans,Arimo,Arial,Helvetica,sans-serif"

func chartFont(size vg.Length) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: size}
}

func newPlot() *plot.Plot {
	p := plot.New()
	p.BackgroundColor = nil // transparent: the page's background shows
	style := func(s *text.Style, size vg.Length) {
		s.Font = chartFont(size)
		s.Color = ink
	}
	style(&p.Title.TextStyle, 11)
	style(&p.X.Label.TextStyle, 9)
	style(&p.Y.Label.TextStyle, 9)
	style(&p.X.Tick.Label, 8)
	style(&p.Y.Tick.Label, 8)
	p.Title.Padding = vg.Points(6)
	p.Y.Tick.Marker = rateTicks{}
	p.X.Tick.Length = 0
	p.X.Tick.Width = 0
	p.X.Width = vg.Points(0.75)
	p.Y.Width = vg.Points(0.75)
	grid := plotter.NewGrid()
	grid.Vertical.Width = 0
	grid.Horizontal = draw.LineStyle{Color: muted, Width: vg.Points(0.5)}
	p.Add(grid)
	return p
}

// rateTicks labels rates at steps of 0.25 (0.1 on short ranges), with
// minor ticks between; ticks beyond the data range are dropped, so that
// headroom kept for the legend has no labels.
type rateTicks struct{}

// Ticks implements plot.Ticker.
func (rateTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 0.25
	if hi-lo < 0.6 {
		step = 0.1
	}
	var ticks []plot.Tick
	for i := math.Ceil(lo/step*2 - 1e-9); i/2*step <= hi+1e-9; i++ {
		v := i / 2 * step
		if math.Abs(v) < 1e-12 {
			v = 0
		}
		label := ""
		if math.Mod(i, 2) == 0 {
			label = strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
			if label == "-0" {
				label = "0"
			}
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: label})
	}
	return ticks
}

// xy is a set of points with asymmetric Y errors.
type xy struct {
	x, y, lo, hi []float64
}

func (d *xy) add(x, y, lo, hi float64) {
	d.x = append(d.x, x)
	d.y = append(d.y, y)
	d.lo = append(d.lo, lo)
	d.hi = append(d.hi, hi)
}

func (d *xy) Len() int                    { return len(d.x) }
func (d *xy) XY(i int) (float64, float64) { return d.x[i], d.y[i] }
func (d *xy) YError(i int) (float64, float64) {
	return d.y[i] - d.lo[i], d.hi[i] - d.y[i]
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// errorBars draws d's intervals; nothing when d is empty.
func errorBars(p *plot.Plot, d *xy, c color.Color, width, capWidth vg.Length) error {
	if d.Len() == 0 {
		return nil
	}
	e, err := plotter.NewYErrorBars(d)
	if err != nil {
		return fmt.Errorf("error bars: %w", err)
	}
	e.LineStyle = draw.LineStyle{Color: c, Width: width}
	e.CapWidth = capWidth
	p.Add(e)
	return nil
}

// points draws d's points with a glyph and returns the scatter for the
// legend; nil when d is empty.
func points(p *plot.Plot, d *xy, g draw.GlyphStyle) (*plotter.Scatter, error) {
	if d.Len() == 0 {
		return nil, nil
	}
	s, err := plotter.NewScatter(d)
	if err != nil {
		return nil, fmt.Errorf("points: %w", err)
	}
	s.GlyphStyle = g
	p.Add(s)
	return s, nil
}

// legend is a one-line legend drawn left-aligned in the headroom at the
// top of the data area. Text runs to the right of its mark, so a fallback
// font wider than the one the chart was laid out with overflows into
// empty space instead of over the mark.
type legend struct {
	style   text.Style
	entries []legendEntry
}

type legendEntry struct {
	text   string
	thumbs []plot.Thumbnailer
}

func newLegend() *legend {
	return &legend{style: text.Style{Font: chartFont(8), Color: ink, Handler: plot.DefaultTextHandler, YAlign: draw.YCenter}}
}

func (l *legend) add(text string, thumbs ...plot.Thumbnailer) {
	l.entries = append(l.entries, legendEntry{text: text, thumbs: thumbs})
}

// Plot implements plot.Plotter.
func (l *legend) Plot(c draw.Canvas, _ *plot.Plot) {
	const thumbW, gap = vg.Length(12), vg.Length(4)
	rowH := l.style.Height("Ag") + 4
	x, y := c.Min.X+4, c.Max.Y-rowH/2-2
	for _, e := range l.entries {
		// Leave room for a wider fallback font.
		w := thumbW + gap + l.style.Width(e.text)*1.15 + 12
		if x > c.Min.X+4 && x+w > c.Max.X {
			x, y = c.Min.X+4, y-rowH
		}
		icon := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x, Y: y - rowH/2 + 2}, Max: vg.Point{X: x + thumbW, Y: y + rowH/2 - 2}}}
		for _, t := range e.thumbs {
			t.Thumbnail(&icon)
		}
		c.FillText(l.style, vg.Point{X: x + thumbW + gap, Y: y}, e.text)
		x += w
	}
}

// legendGlyph is a legend entry drawn as a glyph only.
type legendGlyph draw.GlyphStyle

// Thumbnail implements plot.Thumbnailer.
func (g legendGlyph) Thumbnail(c *draw.Canvas) {
	c.DrawGlyphNoClip(draw.GlyphStyle(g), c.Center())
}

// legendBar is a legend entry drawn as a whisker.
type legendBar struct{ c color.Color }

// Thumbnail implements plot.Thumbnailer.
func (l legendBar) Thumbnail(c *draw.Canvas) {
	ctr := c.Center()
	h := vg.Points(4)
	sty := draw.LineStyle{Color: l.c, Width: vg.Points(1)}
	c.StrokeLine2(sty, ctr.X, ctr.Y-h, ctr.X, ctr.Y+h)
	c.StrokeLine2(sty, ctr.X-2, ctr.Y-h, ctr.X+2, ctr.Y-h)
	c.StrokeLine2(sty, ctr.X-2, ctr.Y+h, ctr.X+2, ctr.Y+h)
}

// diamondGlyph marks published figures: filled, or hollow when the
// figure is approximate.
type diamondGlyph struct{ hollow bool }

// DrawGlyph implements draw.GlyphDrawer.
func (g diamondGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	r := sty.Radius * 1.3
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y})
	p.Line(vg.Point{X: pt.X, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X - r, Y: pt.Y})
	p.Close()
	if g.hollow {
		c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.2)})
		c.Stroke(p)
		return
	}
	c.Fill(p)
}

// triangleGlyph marks a published bound: pointing up for "more than",
// down for "less than".
type triangleGlyph struct{ down bool }

// DrawGlyph implements draw.GlyphDrawer.
func (g triangleGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	r := sty.Radius * 1.3
	s := vg.Length(1)
	if g.down {
		s = -1
	}
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y + s*r})
	p.Line(vg.Point{X: pt.X + r*0.95, Y: pt.Y - s*r*0.65})
	p.Line(vg.Point{X: pt.X - r*0.95, Y: pt.Y - s*r*0.65})
	p.Close()
	c.Fill(p)
}

// ringGlyph is a hollow circle with a visible stroke.
type ringGlyph struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (ringGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	var p vg.Path
	p.Move(vg.Point{X: pt.X + sty.Radius, Y: pt.Y})
	p.Arc(pt, sty.Radius, 0, 2*math.Pi)
	p.Close()
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.3)})
	c.Stroke(p)
}

// seriesGlyphs tell series apart without colour.
var seriesGlyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.PyramidGlyph{}, draw.BoxGlyph{}, diamondGlyph{}, ringGlyph{}, triangleGlyph{down: true}}

// categoryTicks labels integer X positions, shortening labels to fit.
func categoryTicks(p *plot.Plot, labels []string, perLabel vg.Length) {
	maxRunes := max(4, int(float64(perLabel)/(float64(p.X.Tick.Label.Font.Size)*0.55)))
	ticks := make([]plot.Tick, len(labels))
	for i, l := range labels {
		ticks[i] = plot.Tick{Value: float64(i), Label: truncate(l, maxRunes)}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
}

// rateChart is a bar per role (pooled over seeds) with Wilson whiskers,
// and the published figures beside the bars.
func (a *Analysis) rateChart(t *TargetAnalysis, colors map[string]string) (*Chart, error) {
	probe, target := t.Probe, t.Target
	roles := t.Roles
	if len(roles) == 0 {
		return nil, nil
	}
	refs := t.References
	labels := make([]string, 0, len(roles))
	for _, r := range roles {
		labels = append(labels, r.Role)
	}
	// Published figures sit right of the bar of each role with their
	// condition, or in a column of their own.
	refX := make([][]float64, len(refs))
	perCat := map[int]int{}
	for i, ref := range refs {
		var cats []int
		for j, r := range roles {
			if ref.Condition != "" && r.Condition == ref.Condition {
				cats = append(cats, j)
			}
		}
		base := 0.34
		if len(cats) == 0 {
			cats = []int{len(labels)}
			labels = append(labels, "published: "+ref.Label)
			base = 0
		}
		for _, cat := range cats {
			refX[i] = append(refX[i], float64(cat)+base+0.13*float64(perCat[cat]))
			perCat[cat]++
		}
	}
	width := vg.Length(math.Min(9*72, math.Max(4.2*72, 120+70*float64(len(labels)))))
	height := vg.Length(3.1 * 72)
	plotW := width - 60
	perCat0 := plotW / vg.Length(len(labels))

	p := newPlot()
	lg := newLegend()
	p.Y.Label.Text = fmt.Sprintf("rate of %q", target)
	p.X.Label.Text = "model (seeds pooled)"
	barW := min(perCat0*0.46, vg.Points(46))
	whiskers := &xy{}
	var valueLabels plotter.XYLabels
	for i, r := range roles {
		rate, lo, hi := float64(r.Rate), float64(r.CI.Low), float64(r.CI.High)
		if !finite(rate) {
			labels[i] += " (no data)"
			continue
		}
		bar, err := plotter.NewBarChart(plotter.Values{rate}, barW)
		if err != nil {
			return nil, fmt.Errorf("bar of %s: %w", r.Role, err)
		}
		bar.Color = hexColor(colors[r.Role])
		bar.LineStyle.Width = 0
		bar.XMin = float64(i)
		p.Add(bar)
		top := rate
		if finite(lo, hi) {
			whiskers.add(float64(i), rate, lo, hi)
			top = hi
		}
		valueLabels.XYs = append(valueLabels.XYs, plotter.XY{X: float64(i), Y: top})
		valueLabels.Labels = append(valueLabels.Labels, fmtRate(r.Rate))
	}
	if err := errorBars(p, whiskers, ink, vg.Points(1.1), vg.Points(7)); err != nil {
		return nil, err
	}
	if len(valueLabels.Labels) > 0 {
		l, err := plotter.NewLabels(valueLabels)
		if err != nil {
			return nil, fmt.Errorf("value labels: %w", err)
		}
		for i := range l.TextStyle {
			l.TextStyle[i].Font = chartFont(7.5)
			l.TextStyle[i].Color = ink
			l.TextStyle[i].XAlign = draw.XCenter
		}
		l.Offset = vg.Point{Y: 3}
		p.Add(l)
	}
	// Published figures, by kind of bound.
	kinds := []struct {
		bound, legend string
		glyph         draw.GlyphDrawer
	}{
		{"", "published (paper)", diamondGlyph{}},
		{"approx", "published, approximate (≈)", diamondGlyph{hollow: true}},
		{"lower", "published lower bound (>)", triangleGlyph{}},
		{"upper", "published upper bound (<)", triangleGlyph{down: true}},
	}
	refBars := &xy{}
	for _, k := range kinds {
		pts := &xy{}
		for i, ref := range refs {
			if ref.Bound != k.bound || !finite(float64(ref.Rate)) {
				continue
			}
			for _, x := range refX[i] {
				pts.add(x, float64(ref.Rate), float64(ref.Rate), float64(ref.Rate))
				if ref.Low != nil && ref.High != nil && finite(float64(*ref.Low), float64(*ref.High)) {
					refBars.add(x, float64(ref.Rate), float64(*ref.Low), float64(*ref.High))
				}
			}
		}
		g := draw.GlyphStyle{Color: ink, Radius: vg.Points(3.4), Shape: k.glyph}
		s, err := points(p, pts, g)
		if err != nil {
			return nil, err
		}
		if s != nil {
			lg.add(k.legend, legendGlyph(g))
		}
	}
	if err := errorBars(p, refBars, ink, vg.Points(0.7), vg.Points(4)); err != nil {
		return nil, err
	}
	if whiskers.Len() > 0 {
		lg.add(fmt.Sprintf("%s CI (Wilson)", a.confPct()), legendBar{ink})
	}
	p.Add(lg)
	categoryTicks(p, labels, perCat0)
	p.X.Min, p.X.Max = -0.6, float64(len(labels))-0.4
	p.Y.Min, p.Y.Max = 0, 1.22
	caption := fmt.Sprintf("Bars: rate pooled over seeds; whiskers: %s Wilson interval.", a.confPct())
	if len(refs) > 0 {
		caption += " Diamonds and triangles: published figures (not measured in this run), beside the bar of the role with the same condition."
	}
	return render(p, width, height, &Chart{
		Name:  slug(probe) + "-" + slug(target) + "-rates.svg",
		Title: fmt.Sprintf("%s / %s: rate by model, seeds pooled", probe, target),
		kind:  chartRates, probe: probe, target: target, caption: caption,
	})
}

// promptOrder returns the positions of rates sorted by rate, highest
// first, undefined rates last, ties in prompt order.
func promptOrder(rates []PromptRate) []int {
	order := make([]int, len(rates))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		ri, rj := float64(rates[i].Rate), float64(rates[j].Rate)
		switch ni, nj := math.IsNaN(ri), math.IsNaN(rj); {
		case ni && nj:
			return 0
		case ni:
			return 1
		case nj:
			return -1
		}
		return cmp.Compare(rj, ri)
	})
	return order
}

// promptChart shows per-prompt rates with Wilson intervals, prompts
// sorted by the first role's rate: the two roles of the target's first
// comparison, else its first three roles.
func (a *Analysis) promptChart(t *TargetAnalysis, colors map[string]string) (*Chart, error) {
	probe, target := t.Probe, t.Target
	var series []*PromptRates
	add := func(i int) {
		if i >= 0 && len(t.PerPrompt[i].Rates) > 0 {
			series = append(series, &t.PerPrompt[i])
		}
	}
	if len(t.Comparisons) > 0 {
		add(t.RoleIndex(t.Comparisons[0].Treatment))
		add(t.RoleIndex(t.Comparisons[0].Baseline))
	} else {
		for i := range min(3, len(t.PerPrompt)) {
			add(i)
		}
	}
	if len(series) == 0 {
		return nil, nil
	}
	order := promptOrder(series[0].Rates)
	n := len(order)
	width := vg.Length(math.Min(10*72, math.Max(4.2*72, 160+10*float64(n))))
	height := vg.Length(3.2 * 72)
	p := newPlot()
	lg := newLegend()
	p.Y.Label.Text = fmt.Sprintf("rate of %q", target)
	p.X.Label.Text = fmt.Sprintf("prompt #, sorted by the %s rate", series[0].Role)
	spread := math.Min(0.5, 0.22*float64(len(series)-1))
	for j, s := range series {
		off := 0.0
		if len(series) > 1 {
			off = -spread/2 + spread*float64(j)/float64(len(series)-1)
		}
		byPrompt := map[int]PromptRate{}
		for _, r := range s.Rates {
			byPrompt[r.Prompt] = r
		}
		pts, bars := &xy{}, &xy{}
		for rank, pos := range order {
			r, ok := byPrompt[series[0].Rates[pos].Prompt]
			if !ok || !finite(float64(r.Rate)) {
				continue
			}
			x := float64(rank) + off
			pts.add(x, float64(r.Rate), float64(r.Rate), float64(r.Rate))
			if finite(float64(r.CI.Low), float64(r.CI.High)) {
				bars.add(x, float64(r.Rate), float64(r.CI.Low), float64(r.CI.High))
			}
		}
		c := hexColor(colors[s.Role])
		if err := errorBars(p, bars, c, vg.Points(0.9), vg.Points(min(4, 120/float64(n)))); err != nil {
			return nil, err
		}
		g := draw.GlyphStyle{Color: c, Radius: vg.Points(2.6), Shape: seriesGlyphs[j%len(seriesGlyphs)]}
		sc, err := points(p, pts, g)
		if err != nil {
			return nil, err
		}
		if sc != nil {
			lg.add(s.Role, legendGlyph(g))
		}
	}
	every := max(1, (n+24)/25)
	ticks := make([]plot.Tick, 0, n)
	for rank, pos := range order {
		label := ""
		if rank%every == 0 {
			label = fmt.Sprint(series[0].Rates[pos].Prompt)
		}
		ticks = append(ticks, plot.Tick{Value: float64(rank), Label: label})
	}
	p.Add(lg)
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.7, float64(n)-0.3
	p.Y.Min, p.Y.Max = 0, 1.22
	var names []string
	for _, s := range series {
		names = append(names, s.Role)
	}
	caption := fmt.Sprintf("Each mark is one prompt's rate (seeds pooled) with its %s Wilson interval; prompts sorted by the %s rate, labelled by prompt number.",
		a.confPct(), series[0].Role)
	if len(series) < len(t.Roles) {
		caption += fmt.Sprintf(" Roles shown: %s (the first comparison); the per-prompt table has every role.", strings.Join(names, " and "))
	}
	return render(p, width, height, &Chart{
		Name:  slug(probe) + "-" + slug(target) + "-prompts.svg",
		Title: fmt.Sprintf("%s / %s: rate by prompt (%s)", probe, target, strings.Join(names, " vs ")),
		kind:  chartPrompts, probe: probe, target: target, caption: caption,
	})
}

// seedChart shows each seed's rate and the mean of seeds with its
// t-interval, when some role has two or more seeds.
func (a *Analysis) seedChart(t *TargetAnalysis, colors map[string]string) (*Chart, error) {
	probe, target := t.Probe, t.Target
	roles := t.Roles
	multi := false
	for _, r := range roles {
		if r.SeedMean != nil {
			multi = true
		}
	}
	if !multi {
		return nil, nil
	}
	width := vg.Length(math.Min(9*72, math.Max(4.2*72, 120+70*float64(len(roles)))))
	height := vg.Length(3.1 * 72)
	perCat := (width - 60) / vg.Length(len(roles))
	p := newPlot()
	lg := newLegend()
	p.Y.Label.Text = fmt.Sprintf("rate of %q", target)
	p.X.Label.Text = "model (one mark per seed)"
	lo, hi := 0.0, 1.0
	means := &xy{}
	var seedLabels plotter.XYLabels
	labels := make([]string, len(roles))
	var legendSeed draw.GlyphStyle
	for i, r := range roles {
		labels[i] = r.Role
		var seeds []Result
		for _, res := range t.Seeds(i) {
			if finite(float64(res.Rate)) { // an undefined rate has no mark
				seeds = append(seeds, res)
			}
		}
		pts := &xy{}
		for k, s := range seeds {
			x := float64(i) // a single seed sits on the role's tick
			if len(seeds) > 1 {
				x += -0.22 + 0.2*float64(k)/float64(len(seeds)-1)
			}
			pts.add(x, float64(s.Rate), float64(s.Rate), float64(s.Rate))
			if len(seeds) <= 2 && s.Seed != "" {
				seedLabels.XYs = append(seedLabels.XYs, plotter.XY{X: x, Y: float64(s.Rate)})
				seedLabels.Labels = append(seedLabels.Labels, s.Seed)
			}
		}
		g := draw.GlyphStyle{Color: hexColor(colors[r.Role]), Radius: vg.Points(3.2), Shape: ringGlyph{}}
		legendSeed = draw.GlyphStyle{Color: ink, Radius: g.Radius, Shape: ringGlyph{}}
		if _, err := points(p, pts, g); err != nil {
			return nil, err
		}
		if sm := r.SeedMean; sm != nil && finite(float64(sm.Mean), float64(sm.CI.Low), float64(sm.CI.High)) {
			means.add(float64(i)+0.2, float64(sm.Mean), float64(sm.CI.Low), float64(sm.CI.High))
			lo, hi = math.Min(lo, float64(sm.CI.Low)), math.Max(hi, float64(sm.CI.High))
		}
	}
	// The valid range of a rate, for t-intervals that leave it.
	for _, y := range []float64{0, 1} {
		l, err := plotter.NewLine(plotter.XYs{{X: -0.6, Y: y}, {X: float64(len(roles)) - 0.4, Y: y}})
		if err != nil {
			return nil, fmt.Errorf("range line: %w", err)
		}
		l.LineStyle = draw.LineStyle{Color: muted, Width: vg.Points(0.8), Dashes: []vg.Length{3, 2}}
		p.Add(l)
	}
	if err := errorBars(p, means, ink, vg.Points(1.1), vg.Points(7)); err != nil {
		return nil, err
	}
	mg := draw.GlyphStyle{Color: ink, Radius: vg.Points(3), Shape: draw.BoxGlyph{}}
	if _, err := points(p, means, mg); err != nil {
		return nil, err
	}
	if len(seedLabels.Labels) > 0 {
		l, err := plotter.NewLabels(seedLabels)
		if err != nil {
			return nil, fmt.Errorf("seed labels: %w", err)
		}
		for i := range l.TextStyle {
			l.TextStyle[i].Font = chartFont(7)
			l.TextStyle[i].Color = ink
			l.TextStyle[i].XAlign = draw.XRight
			l.TextStyle[i].YAlign = draw.YCenter
		}
		l.Offset = vg.Point{X: -5}
		p.Add(l)
	}
	lg.add("one seed", legendGlyph(legendSeed))
	lg.add(fmt.Sprintf("mean of seeds, %s t-interval", a.confPct()), legendGlyph(mg), legendBar{ink})
	p.Add(lg)
	categoryTicks(p, labels, perCat)
	p.X.Min, p.X.Max = -0.6, float64(len(roles))-0.4
	p.Y.Min, p.Y.Max = lo, hi+0.22*(hi-lo)
	return render(p, width, height, &Chart{
		Name:  slug(probe) + "-" + slug(target) + "-seeds.svg",
		Title: fmt.Sprintf("%s / %s: rate by seed", probe, target),
		kind:  chartSeeds, probe: probe, target: target,
		caption: fmt.Sprintf("Rings: the rate of each seed; squares with whiskers: the mean of the per-seed rates with its %s Student t-interval (the paper's method; it is not clipped to [0, 1], dashed lines).",
			a.confPct()),
	})
}

// render draws the plot twice: with its title as a standalone SVG
// document, and without for HTML, where the title is the caption. The
// standalone document paints its own background, light or dark with the
// viewer's preference, so that its currentColor text reads wherever it is
// shown; inline, the page's background and text colour show through.
func render(p *plot.Plot, w, h vg.Length, c *Chart) (*Chart, error) {
	body, err := drawSVG(p, w, h)
	if err != nil {
		return nil, err
	}
	c.width = float64(w)
	c.inline = []byte(fmt.Sprintf(`<svg viewBox="0 0 %s %s" class="chart" role="img" aria-label="%s" fill="currentColor" style="max-width:%spx">`+"\n%s</svg>",
		pt(w), pt(h), html.EscapeString(c.Title), pt(w*1.5), body))
	p.Title.Text = c.Title
	// Widen the document for a long title, then shrink the title if it
	// is still too long, leaving room for a wider fallback font.
	if tw := p.Title.TextStyle.Width(c.Title)*1.25 + 24; tw > w {
		w = min(tw, 10*72)
		if tw > w {
			p.Title.TextStyle.Font.Size = max(7, p.Title.TextStyle.Font.Size*w/tw)
		}
	}
	th := p.Title.TextStyle.Rectangle(c.Title).Size().Y + p.Title.Padding
	body, err = drawSVG(p, w, h+th)
	if err != nil {
		return nil, err
	}
	c.SVG = []byte(fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%spt" height="%spt" viewBox="0 0 %s %s" fill="currentColor" role="img">
<title>%s</title>
<style>svg{color:#1f2328}.bg{fill:#ffffff}@media (prefers-color-scheme:dark){svg{color:#e6edf3}.bg{fill:#0d1117}}</style>
<rect class="bg" width="100%%" height="100%%"/>
%s</svg>
`, pt(w), pt(h+th), pt(w), pt(h+th), html.EscapeString(c.Title), body))
	return c, nil
}

func pt(l vg.Length) string { return fmt.Sprintf("%.5g", float64(l)) }

// drawSVG renders a plot and returns the SVG's content without its root
// element, black rewritten to currentColor and the font named with
// fallbacks.
func drawSVG(p *plot.Plot, w, h vg.Length) (body []byte, err error) {
	defer func() {
		// gonum panics on some degenerate input rather than erring.
		if r := recover(); r != nil {
			err = fmt.Errorf("render chart: %v", r)
		}
	}()
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("write SVG: %w", err)
	}
	raw := buf.Bytes()
	start := bytes.Index(raw, []byte("<svg"))
	if start < 0 {
		return nil, fmt.Errorf("write SVG: no <svg> element")
	}
	open := bytes.IndexByte(raw[start:], '>')
	end := bytes.LastIndex(raw, []byte("</svg>"))
	if open < 0 || end < start+open {
		return nil, fmt.Errorf("write SVG: malformed document")
	}
	body = bytes.TrimLeft(raw[start+open+1:end], "\n")
	body = bytes.ReplaceAll(body, []byte("stroke:#000000"), []byte("stroke:currentColor"))
	body = bytes.ReplaceAll(body, []byte("font-family:Liberation Sans"), []byte(fontStack))
	return body, nil
}

// slug makes a file-safe name part: lower-case ASCII letters, digits and
// dashes.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if out == "" {
		return "x"
	}
	return truncateASCII(out, 60)
}

func truncateASCII(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimRight(s[:n], "-")
}

// uniqueName returns name, or name with a number before its extension
// when taken.
func uniqueName(taken map[string]bool, name string) string {
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i:]
	}
	out := name
	for k := 2; taken[out]; k++ {
		out = fmt.Sprintf("%s-%d%s", base, k, ext)
	}
	taken[out] = true
	return out
}
