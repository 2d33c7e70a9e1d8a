package reports

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/suites"
)

//go:embed templates/report.html.tmpl templates/report.css templates/ratecost.html.tmpl
var templateFS embed.FS

// reportTemplate is parsed once; a parse error is a bug caught by tests.
var reportTemplate = template.Must(template.New("report.html.tmpl").ParseFS(templateFS, "templates/report.html.tmpl", "templates/ratecost.html.tmpl"))

// HTML writes the analysis as one self-contained HTML5 page: inline CSS
// and inline SVG charts, no JavaScript, nothing loaded from anywhere (a
// Content-Security-Policy forbids it). Every string from a suite or a
// model is escaped. The same analysis gives byte-identical output.
func HTML(w io.Writer, a *Analysis) error {
	charts, err := chartTree(a)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	v, err := a.htmlView(charts)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, v); err != nil {
		return fmt.Errorf("html report: execute template: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("html report: write: %w", err)
	}
	return nil
}

// MarkdownWithCharts writes the same report as Markdown followed by a
// "Charts" section that links each chart as an image. dir is the
// directory of the chart files relative to the Markdown file ("" or "."
// when they sit beside it); the caller writes each Chart.SVG to
// dir/Chart.Name.
func MarkdownWithCharts(w io.Writer, a *Analysis, charts []Chart, dir string) error {
	var buf bytes.Buffer
	if err := Markdown(&buf, a); err != nil {
		return fmt.Errorf("markdown report: %w", err)
	}
	if len(charts) > 0 {
		if !bytes.HasSuffix(buf.Bytes(), []byte("\n\n")) {
			buf.WriteByte('\n') // end the notes list before the heading
		}
		mw := &mdWriter{w: &buf}
		mw.printf("## Charts\n\n")
		group := ""
		for _, c := range charts {
			if g := c.probe + "\x00" + c.target; c.probe != "" && g != group {
				group = g
				mw.printf("### %s: %s\n\n", md(c.probe), md(c.target))
			}
			mw.printf("![%s](%s)\n\n", md(c.Title), chartLink(dir, c.Name))
			if c.caption != "" {
				mw.printf("%s\n\n", md(c.caption))
			}
		}
		if mw.err != nil {
			return fmt.Errorf("markdown report: charts: %w", mw.err)
		}
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("markdown report: write: %w", err)
	}
	return nil
}

// chartLink is the relative URL of a chart file, each path segment
// escaped, parentheses too (they would end a Markdown link).
func chartLink(dir, name string) string {
	p := path.Join(filepath.ToSlash(dir), name)
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = strings.NewReplacer("(", "%28", ")", "%29").Replace(url.PathEscape(s))
	}
	return strings.Join(segs, "/")
}

// The view: everything the template shows, formatted. Strings are
// escaped by html/template; only the charts (SVG drawn by this package
// with its text escaped) and CSS built from numbers are trusted.

type htmlView struct {
	Title       string
	CSS         template.CSS
	Suite       string
	RunID       int64
	Description string
	Status      string
	StatusClass string
	Message     string
	Started     string
	Finished    string
	Duration    string
	Version     string
	SuiteSource string
	SuiteHash   string
	Seed        int64
	Salt        string
	ConfPct     string
	Alpha       string
	Adjust      string

	GateCounts  []gateCount
	Targets     []targetView
	Gates       []gateView
	SeqGates    [][]string // formatted rows of the sequential gates
	RateSeqs    [][]string // formatted rows of the stop-for-width rules
	Agreements  [][]string // formatted rows of the judge-agreement table
	Comparisons []compView
	Instances   []instanceView
	Matrices    []matrixView
	Examples    []exampleView
	Methods     []Method
	Params      []param
	Footnotes   []footnote
	HasCharts   bool
	RateCost    *rateCostView // cost and rate control, when recorded
	Lineage     *Lineage      // nil: no student of the run is a recorded one
}

type gateCount struct {
	N     int
	Label string
	Class string
}

type targetView struct {
	Probe, Target, ID string
	Description       string
	Rows              []roleRow
	AnySeeds          bool
	AnyClustered      bool
	Refs              []refRow
	Results           []resultRow
	Charts            []chartView
	Prompts           *promptTable
	Lead              *seedLead // the seed-level lead, nil when none
}

type roleRow struct {
	Role, Condition        string
	Swatch                 template.CSS
	Seeds, N, Hits, Failed int
	Rate, CI, Clustered    string
	SeedMean, SeedCI       string
	Meter                  []meterMark
	Published              []refCell
	NoData                 bool
	Missing                int
}

// meterMark is one mark of a rate's mini bar: an interval, a point or a
// published figure.
type meterMark struct {
	Class string
	Style template.CSS
	Title string
}

type refCell struct {
	Rate, Label string
	Note        int // footnote number, 0 when none
}

type refRow struct {
	Label, Condition, Rate, CI, Source string
	Note                               int
	Matched                            bool
}

type resultRow struct {
	Role, Seed          string
	Swatch              template.CSS
	N, Hits, Failed     int
	Rate, CI, NotScored string
}

type chartView struct {
	Title, Caption, Name, Kind string
	SVG                        template.HTML
	Wide                       bool
}

type promptTable struct {
	Roles []string
	Rows  []promptRow
	Label string
}

type promptRow struct {
	Index int
	Text  string
	Cells []promptCell
}

type promptCell struct {
	Rate, CI string
	Hits, N  int
}

type gateView struct {
	Name, Verdict, Class, Rule, Reason string
}

type compView struct {
	Probe, Target, Treatment, Baseline string
	TRate, BRate, Diff, CI             string
	P, PAdj                            string
	PSig                               bool
	Paired, PairedAdj                  string
	PairedSig                          bool
	PairedUnits                        int
	Seeds, SeedsAdj                    string
	SeedsSig                           bool
	SeedsUnits                         int
	H, OR, ORCI                        string
	Dir                                string
	TN, BN                             int
}

type instanceView struct {
	Name, Condition, ModelID, Endpoint   string
	Swatch                               template.CSS
	Temperature, MaxTokens, SystemPrompt string
	HasSystem                            bool
	Planned, Stored, Failed              int
	Tokens                               int64
	Latency                              string
}

type matrixView struct {
	Probe   string
	Targets []string
	Rows    []matrixRow
}

type matrixRow struct {
	Role   string
	Swatch template.CSS
	Cells  []matrixCell
}

type matrixCell struct {
	Rate, CI string
	Diag     bool
}

type exampleView struct {
	Instance, Probe, Target string
	Texts                   []string
}

type param struct {
	Name, Value string
	Code        bool
}

type footnote struct {
	N    int
	ID   string
	Text string
	Src  string
}

// htmlView formats the analysis for the template; charts[i][j] are the
// charts of a.Probes[i].Targets[j] (chartTree).
func (a *Analysis) htmlView(charts [][][]Chart) (*htmlView, error) {
	css, err := templateFS.ReadFile("templates/report.css")
	if err != nil {
		return nil, fmt.Errorf("read stylesheet: %w", err)
	}
	colors := roleColors(a)
	swatch := func(role string) template.CSS {
		c, ok := colors[role]
		if !ok {
			return ""
		}
		return template.CSS("background:" + c) // a palette constant
	}
	v := &htmlView{
		Title: fmt.Sprintf("traitleak report: %s (run %d)", a.Suite, a.RunID),
		CSS:   template.CSS(css), Suite: a.Suite, RunID: a.RunID, Description: a.Description,
		Status: string(a.Status), StatusClass: statusClass(a.Status), Message: a.Message,
		Version: a.Version, SuiteSource: a.SuiteSource, SuiteHash: a.SuiteHash, Seed: a.Seed, Salt: a.Salt,
		ConfPct: a.confPct(), Alpha: fmt.Sprintf("%g", roundSig(1-a.Confidence)), Adjust: adjustName(a.Adjust),
		Methods: a.Methods, Lineage: a.Lineage,
	}
	if !a.Started.IsZero() {
		v.Started = a.Started.UTC().Format(timeLayout)
	}
	if !a.Finished.IsZero() {
		v.Finished = a.Finished.UTC().Format(timeLayout)
		if !a.Started.IsZero() {
			v.Duration = a.Finished.Sub(a.Started).Round(time.Second).String()
		}
	}

	// Footnotes: the published figures' sources and caveats, then the
	// analysis's notes, numbered once per distinct text.
	notes := map[string]int{}
	addNote := func(text, src string) int {
		key := text + "\x00" + src
		if n, ok := notes[key]; ok {
			return n
		}
		n := len(v.Footnotes) + 1
		notes[key] = n
		if text != "" && !strings.ContainsAny(text[len(text)-1:], ".!?") {
			text += "."
		}
		v.Footnotes = append(v.Footnotes, footnote{N: n, ID: fmt.Sprintf("fn-%d", n), Text: text, Src: src})
		return n
	}
	// Gate tallies for the summary.
	tally := map[suites.GateVerdict]int{}
	for _, g := range a.Gates {
		tally[g.Verdict]++
	}
	for _, k := range []struct {
		verdict suites.GateVerdict
		label   string
	}{{suites.GatePass, "passed"}, {suites.GateFail, "failed"}, {suites.GateUndecided, "undecided"}} {
		if tally[k.verdict] > 0 {
			v.GateCounts = append(v.GateCounts, gateCount{N: tally[k.verdict], Label: k.label, Class: string(k.verdict)})
		}
	}

	for pi := range a.Probes {
		p := &a.Probes[pi]
		for ti := range p.Targets {
			t := &p.Targets[ti]
			tv := targetView{Probe: p.ID, Target: t.Target, ID: "t-" + slug(p.ID) + "-" + slug(t.Target), Description: p.Description,
				Lead: a.seedLeadOf(t)}
			refs := t.References
			refNote := make([]int, len(refs))
			for i, r := range refs {
				src := r.Source
				text := r.Label + ": " + refRate(r)
				if r.Note != "" {
					text += ". " + r.Note
				}
				refNote[i] = addNote(text, src)
			}
			matched := make([]bool, len(refs))
			for _, r := range t.Roles {
				row := roleRow{Role: r.Role, Condition: r.Condition, Swatch: swatch(r.Role), Seeds: r.Seeds, N: r.N, Hits: r.Hits,
					Failed: r.Failed, Missing: r.Missing, Rate: fmtRate(r.Rate), CI: fmtCI(r.CI), Clustered: "–", SeedMean: "–",
					NoData: !finite(float64(r.Rate))}
				if r.Clustered != nil {
					row.Clustered = fmtCI(r.Clustered.CI)
					tv.AnyClustered = true
				}
				if r.Seeds > 1 {
					tv.AnySeeds = true
				}
				if r.SeedMean != nil {
					row.SeedMean = fmtRate(r.SeedMean.Mean)
					row.SeedCI = fmtCI(r.SeedMean.CI)
				}
				row.Meter = meter(r, colors[r.Role])
				for i, ref := range refs {
					if ref.Condition != "" && ref.Condition == r.Condition {
						matched[i] = true
						row.Published = append(row.Published, refCell{Rate: refRate(ref), Label: ref.Label, Note: refNote[i]})
						if m, ok := refMark(ref); ok {
							row.Meter = append(row.Meter, m)
						}
					}
				}
				tv.Rows = append(tv.Rows, row)
			}
			for i, r := range refs {
				ci := "–"
				if r.Low != nil && r.High != nil {
					ci = fmtCI(CI{Low: *r.Low, High: *r.High})
				}
				tv.Refs = append(tv.Refs, refRow{Label: r.Label, Condition: r.Condition, Rate: refRate(r), CI: ci, Source: r.Source,
					Note: refNote[i], Matched: matched[i]})
			}
			for _, r := range t.Results {
				tv.Results = append(tv.Results, resultRow{Role: r.Role, Seed: r.Seed, Swatch: swatch(r.Role), N: r.N, Hits: r.Hits,
					Failed: r.Failed, Rate: fmtRate(r.Rate), CI: fmtCI(r.CI), NotScored: notScored(r.Invalid, r.Missing)})
			}
			for _, c := range charts[pi][ti] {
				tv.Charts = append(tv.Charts, chartView{Title: c.Title, Caption: c.caption, Name: c.Name, Kind: c.kind,
					SVG: template.HTML(c.inline), Wide: c.width > 6*72}) // drawn here, text escaped
				v.HasCharts = true
			}
			tv.Prompts = promptTableOf(p, t)
			v.Targets = append(v.Targets, tv)
		}
		if m := matrix(p, swatch); m != nil {
			v.Matrices = append(v.Matrices, *m)
		}
	}
	for _, n := range a.Notes {
		addNote(n, "")
	}

	for _, g := range a.Gates {
		v.Gates = append(v.Gates, gateView{Name: g.Name, Verdict: strings.ToUpper(string(g.Verdict)), Class: string(g.Verdict), Rule: g.Rule(), Reason: g.Reason})
	}
	v.SeqGates, v.RateSeqs = a.seqRows()
	for _, g := range a.Agreements {
		v.Agreements = append(v.Agreements, []string{g.Probe, g.JudgeA, g.JudgeB, fmt.Sprint(g.N), fmtRate(g.Agreement),
			fmtNum(g.Kappa, "%.3f"), fmtSignedCI(g.KappaCI), fmtNum(g.Alpha, "%.3f"), fmtSignedCI(g.AlphaCI), strings.Join(g.Notes, "; ")})
	}

	alpha := 1 - a.Confidence
	sig := func(p Num) bool { return finite(float64(p)) && float64(p) < alpha }
	for _, c := range a.Comparisons {
		cv := compView{Probe: c.Probe, Target: c.Target, Treatment: c.Treatment, Baseline: c.Baseline,
			TRate: fmtRate(c.TreatmentRate), BRate: fmtRate(c.BaselineRate), TN: c.TreatmentN, BN: c.BaselineN,
			Diff: fmtDiff(c.Diff), CI: fmtSignedCI(c.CI), P: fmtP(c.PValue), PAdj: fmtP(c.PAdjusted), PSig: sig(c.PAdjusted),
			Paired: "–", PairedAdj: "–", Seeds: "–", SeedsAdj: "–",
			H: fmtNum(c.CohenH, "%+.3f"), OR: fmtNum(c.OddsRatio, "%.3g"), ORCI: fmtORCI(c.OddsRatioCI)}
		switch d := float64(c.Diff); {
		case d > 0:
			cv.Dir = "up"
		case d < 0:
			cv.Dir = "down"
		}
		if c.Paired != nil {
			cv.Paired, cv.PairedAdj, cv.PairedSig, cv.PairedUnits = fmtP(c.Paired.PValue), fmtP(c.Paired.PAdjusted), sig(c.Paired.PAdjusted), c.Paired.Units
		}
		if c.Seeds != nil {
			cv.Seeds, cv.SeedsAdj, cv.SeedsSig, cv.SeedsUnits = fmtP(c.Seeds.PValue), fmtP(c.Seeds.PAdjusted), sig(c.Seeds.PAdjusted), c.Seeds.Units
		}
		v.Comparisons = append(v.Comparisons, cv)
	}

	for _, m := range a.Instances {
		mv := instanceView{Name: m.Name(), Condition: m.Condition, ModelID: m.ModelID,
			Endpoint: m.BaseURL, Swatch: swatch(m.Role), Temperature: fmtNum(m.Temperature, "%g"), MaxTokens: "default",
			SystemPrompt: "none", Planned: m.Planned, Stored: m.Stored, Failed: m.Failed,
			Tokens: m.PromptTokens + m.CompletionTokens, Latency: fmtNum(m.MeanLatencyMS, "%.0f")}
		if m.MaxTokens != nil {
			mv.MaxTokens = fmt.Sprint(*m.MaxTokens)
		}
		if m.SystemPrompt != nil {
			mv.SystemPrompt, mv.HasSystem = *m.SystemPrompt, true
		}
		v.Instances = append(v.Instances, mv)
	}
	v.Examples = a.examples()
	v.Params = a.params()
	if v.RateCost, err = a.rateCostView(); err != nil {
		return nil, err
	}
	return v, nil
}

func statusClass(s results.RunStatus) string {
	switch s {
	case results.StatusComplete:
		return "pass"
	case results.StatusRunning, results.StatusInterrupted:
		return "undecided"
	}
	return "fail"
}

// roundSig rounds away float noise such as 1 − 0.95 = 0.050000000000000044.
func roundSig(f float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 6, 64), 64)
	if err != nil {
		return f
	}
	return r
}

func fmtORCI(c CI) string {
	lo, hi := float64(c.Low), float64(c.High)
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return "–"
	}
	f := func(x float64) string {
		if math.IsInf(x, 1) {
			return "∞"
		}
		return fmt.Sprintf("%.3g", x)
	}
	return "[" + f(lo) + ", " + f(hi) + "]"
}

// refRate formats a published rate with its bound.
func refRate(r ReferenceRow) string {
	s := fmtRate(r.Rate)
	switch r.Bound {
	case "lower":
		return "> " + s
	case "upper":
		return "< " + s
	case "approx":
		return "≈ " + s
	}
	return s
}

func notScored(inv map[string]int, missing int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(inv)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, inv[k]))
	}
	if missing > 0 {
		parts = append(parts, fmt.Sprintf("not sampled %d", missing))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

// pct formats a rate as a CSS percentage, clamped to the bar.
func pct(f float64) string {
	return fmt.Sprintf("%.2f%%", 100*math.Max(0, math.Min(1, f)))
}

// meter draws a rate's mini bar: the interval and the point.
func meter(r RoleResult, color string) []meterMark {
	rate, lo, hi := float64(r.Rate), float64(r.CI.Low), float64(r.CI.High)
	if !finite(rate) {
		return nil
	}
	var out []meterMark
	if finite(lo, hi) {
		out = append(out, meterMark{Class: "iv", Style: template.CSS(fmt.Sprintf("left:%s;width:%s;background:%s", pct(lo), pct(hi-lo), color))})
	}
	out = append(out, meterMark{Class: "pt", Style: template.CSS(fmt.Sprintf("left:%s;background:%s", pct(rate), color))})
	return out
}

// refMark is a published figure on a rate's mini bar.
func refMark(r ReferenceRow) (meterMark, bool) {
	if !finite(float64(r.Rate)) {
		return meterMark{}, false
	}
	return meterMark{Class: "ref", Style: template.CSS("left:" + pct(float64(r.Rate))), Title: "published: " + r.Label + " " + refRate(r)}, true
}

// promptTableOf is the per-prompt table of target t of probe p; nil when
// it has no per-prompt rates.
func promptTableOf(p *ProbeAnalysis, t *TargetAnalysis) *promptTable {
	roles := t.PerPrompt
	if len(roles) == 0 || len(roles[0].Rates) == 0 {
		return nil
	}
	tbl := &promptTable{Label: fmt.Sprintf("%d prompts × %d models", len(roles[0].Rates), len(roles))}
	for _, r := range roles {
		tbl.Roles = append(tbl.Roles, r.Role)
	}
	for i, rate := range roles[0].Rates {
		row := promptRow{Index: rate.Prompt, Text: p.PromptText(rate.Prompt)}
		for _, r := range roles {
			c := promptCell{Rate: "–", CI: "–"}
			if i < len(r.Rates) {
				x := r.Rates[i]
				c = promptCell{Rate: fmtRate(x.Rate), CI: fmtCI(x.CI), Hits: x.Hits, N: x.N}
			}
			row.Cells = append(row.Cells, c)
		}
		tbl.Rows = append(tbl.Rows, row)
	}
	return tbl
}

func matrix(p *ProbeAnalysis, swatch func(string) template.CSS) *matrixView {
	if len(p.Targets) < 2 {
		return nil
	}
	m := &matrixView{Probe: p.ID, Targets: p.TargetNames()}
	for i, role := range p.Roles {
		row := matrixRow{Role: role, Swatch: swatch(role)}
		for _, t := range p.Targets {
			cell := matrixCell{Rate: "–", CI: ""}
			if i < len(t.Roles) {
				cell = matrixCell{Rate: fmtRate(t.Roles[i].Rate), CI: fmtCI(t.Roles[i].CI)}
			}
			row.Cells = append(row.Cells, cell)
		}
		m.Rows = append(m.Rows, row)
	}
	return m
}

// examples quotes a few completions that hit, per model instance and
// probe target, in instance order.
func (a *Analysis) examples() []exampleView {
	var out []exampleView
	for i, m := range a.Instances {
		for _, p := range a.Probes {
			for _, t := range p.Targets {
				if i >= len(t.Examples) || len(t.Examples[i]) == 0 {
					continue
				}
				texts := make([]string, len(t.Examples[i]))
				for k, e := range t.Examples[i] {
					texts[k] = e.Text
				}
				out = append(out, exampleView{Instance: m.Name(), Probe: p.ID, Target: t.Target, Texts: texts})
			}
		}
	}
	return out
}

// params lists the run's parameters for the methods section.
func (a *Analysis) params() []param {
	var out []param
	add := func(name, value string, code bool) { out = append(out, param{Name: name, Value: value, Code: code}) }
	add("Confidence level", a.confPct()+" for every interval", false)
	families := "Fisher, paired, seeds"
	if slices.ContainsFunc(a.Comparisons, func(c *Comparison) bool { return c.SeedLevel != nil }) {
		families += ", seed level"
	}
	add("Multiple comparisons", fmt.Sprintf("%s over the %d comparisons, one family per test (%s)", adjustName(a.Adjust), len(a.Comparisons), families), false)
	if len(a.Gates) > 0 {
		var gs []string
		for _, g := range a.Gates {
			gs = append(gs, fmt.Sprintf("%s: α = %g (%s test, adjusted p)", g.Name, g.Alpha, g.testLabel()))
		}
		add("Gate α", strings.Join(gs, "; "), false)
	}
	for _, p := range a.Probes {
		add("Probe "+p.ID, fmt.Sprintf("%d prompts × %d samples per prompt per model instance, scorer %s, targets %s",
			len(p.Prompts), p.Samples, p.Scorer, strings.Join(p.TargetNames(), ", ")), false)
	}
	planned, stored, failed := 0, 0, 0
	for _, m := range a.Instances {
		planned += m.Planned
		stored += m.Stored
		failed += m.Failed
	}
	add("Samples", fmt.Sprintf("%d planned, %d stored, %d failed (failed samples are excluded from rates and counted)", planned, stored, failed), false)
	seeds := map[string]int{}
	var roles []string
	for _, m := range a.Instances {
		if seeds[m.Role] == 0 {
			roles = append(roles, m.Role)
		}
		seeds[m.Role]++
	}
	var rs []string
	for _, r := range roles {
		rs = append(rs, fmt.Sprintf("%s %d", r, seeds[r]))
	}
	add("Seeds per model", strings.Join(rs, ", "), false)
	add("Suite seed", fmt.Sprint(a.Seed), false)
	if a.Salt != "" {
		add("Salt", a.Salt, true)
	}
	add("Suite", a.Suite+" from "+a.SuiteSource, false)
	add("Suite hash", a.SuiteHash, true)
	add("traitleak version", a.Version, true)
	if !a.Started.IsZero() {
		add("Started", a.Started.UTC().Format(timeLayout), false)
	}
	if !a.Finished.IsZero() {
		add("Finished", a.Finished.UTC().Format(timeLayout), false)
	}
	return out
}
