package reports

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Markdown writes the analysis as a GitHub-renderable Markdown report.
// Every string that comes from a suite or a model is escaped.
func Markdown(w io.Writer, a *Analysis) error {
	mw := &mdWriter{w: w}
	a.writeMarkdown(mw)
	return mw.err
}

// Summary writes the one-screen summary printed after a run: rates and
// comparisons without per-prompt tables.
func Summary(w io.Writer, a *Analysis) error {
	mw := &mdWriter{w: w}
	for _, p := range a.Probes {
		for i := range p.Targets {
			t := &p.Targets[i]
			mw.printf("## %s: %s\n\n", md(p.ID), md(t.Target))
			a.writeRoleTable(mw, t)
			writeReferences(mw, t)
		}
	}
	a.writeComparisons(mw)
	a.writeGates(mw)
	a.writeLineage(mw, false)
	return mw.err
}

// writeRoleTable writes one row per role, seeds pooled.
func (a *Analysis) writeRoleTable(m *mdWriter, t *TargetAnalysis) {
	var rows [][]string
	roles := t.Roles
	anySeeds := false
	for _, r := range roles {
		if r.Seeds > 1 {
			anySeeds = true
		}
	}
	for _, r := range roles {
		row := []string{md(r.Role), md(r.Condition), fmt.Sprint(r.N), fmt.Sprint(r.Hits), fmtRate(r.Rate), fmtCI(r.CI), fmt.Sprint(r.Failed),
			invalidText(r.Invalid, r.Missing)}
		if anySeeds {
			seedMean := "–"
			if r.SeedMean != nil {
				seedMean = fmt.Sprintf("%s %s", fmtRate(r.SeedMean.Mean), fmtCI(r.SeedMean.CI))
			}
			row = append(row, fmt.Sprint(r.Seeds), seedMean)
		}
		rows = append(rows, row)
	}
	header := []string{"model", "condition", "n", "hits", "rate", a.confPct() + " CI (" + methodWilson + ")", "failed", "not scored"}
	if anySeeds {
		header = append(header, "seeds", "mean of seeds, CI (t)")
	}
	m.table(header, rows)
}

type mdWriter struct {
	w   io.Writer
	err error
}

func (m *mdWriter) printf(format string, args ...any) {
	if m.err != nil {
		return
	}
	_, m.err = fmt.Fprintf(m.w, format, args...)
}

func (m *mdWriter) table(header []string, rows [][]string) {
	if m.err != nil {
		return
	}
	t := tablewriter.NewTable(m.w,
		tablewriter.WithRenderer(renderer.NewMarkdown()),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
	)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		m.err = err
		return
	}
	if err := t.Render(); err != nil {
		m.err = err
		return
	}
	m.printf("\n")
}

// md escapes text for a Markdown table cell or paragraph: tablewriter does
// not escape "|", and model output may hold Markdown or HTML.
func md(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '|', '*', '_', '`', '[', ']', '<', '>', '#', '~':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n', '\r', '\t':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fmtRate formats a rate in [0, 1] with three decimals; "–" when undefined.
func fmtRate(n Num) string {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "–"
	}
	return fmt.Sprintf("%.3f", f)
}

// fmtDiff formats a signed difference.
func fmtDiff(n Num) string {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "–"
	}
	return fmt.Sprintf("%+.3f", f)
}

func fmtCI(c CI) string {
	if math.IsNaN(float64(c.Low)) || math.IsNaN(float64(c.High)) {
		return "–"
	}
	return fmt.Sprintf("[%.3f, %.3f]", float64(c.Low), float64(c.High))
}

func fmtSignedCI(c CI) string {
	if math.IsNaN(float64(c.Low)) || math.IsNaN(float64(c.High)) {
		return "–"
	}
	return fmt.Sprintf("[%+.3f, %+.3f]", float64(c.Low), float64(c.High))
}

// fmtP formats a p-value: three significant digits, "< 1e-300" at the
// bottom of the double range.
func fmtP(n Num) string {
	p := float64(n)
	switch {
	case math.IsNaN(p):
		return "–"
	case p < 1e-300:
		return "< 1e-300"
	case p < 0.001:
		return fmt.Sprintf("%.2e", p)
	}
	return fmt.Sprintf("%.3g", p)
}

func fmtNum(n Num, format string) string {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "–"
	}
	return fmt.Sprintf(format, f)
}

// instanceName names a model instance: "role" or "role@seed".
func instanceName(role, seed string) string {
	if seed == "" {
		return role
	}
	return role + "@" + seed
}

func (a *Analysis) confPct() string { return fmt.Sprintf("%g%%", 100*a.Confidence) }

// timeLayout formats the start and finish times of a run (in UTC) in
// every report.
const timeLayout = "2006-01-02 15:04:05 MST"

func (a *Analysis) writeMarkdown(m *mdWriter) {
	m.printf("# traitleak report: %s (run %d)\n\n", md(a.Suite), a.RunID)
	if a.Description != "" {
		m.printf("%s\n\n", md(a.Description))
	}
	status := string(a.Status)
	if a.Message != "" {
		status += ": " + a.Message
	}
	m.printf("- Suite: `%s` from %s, content hash `%s`\n", md(a.Suite), md(a.SuiteSource), shortHash(a.SuiteHash))
	m.printf("- Run %d: %s\n", a.RunID, md(status))
	m.printf("- Started %s", a.Started.UTC().Format(timeLayout))
	if !a.Finished.IsZero() {
		m.printf(", finished %s", a.Finished.UTC().Format(timeLayout))
	}
	m.printf("; traitleak %s; suite seed %d", md(a.Version), a.Seed)
	if a.Salt != "" {
		m.printf("; salt %s", md(a.Salt))
	}
	m.printf("\n\n")
	a.writeModels(m)
	a.writeCostAndRate(m)
	a.writeRates(m)
	a.writeComparisons(m)
	a.writeGates(m)
	a.writeSeqPaths(m)
	a.writeLineage(m, true)
	a.writeAgreements(m)
	a.writeJudgeExamples(m)
	a.writePerPrompt(m)
	a.writeMethods(m)
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (a *Analysis) writeModels(m *mdWriter) {
	m.printf("## Models\n\n")
	var rows [][]string
	for _, ms := range a.Instances {
		temp := fmtNum(ms.Temperature, "%g")
		maxTok := "default"
		if ms.MaxTokens != nil {
			maxTok = fmt.Sprint(*ms.MaxTokens)
		}
		rows = append(rows, []string{md(ms.Name()), md(ms.Condition), md(ms.ModelID), md(ms.BaseURL), temp, maxTok,
			fmt.Sprint(ms.Planned), fmt.Sprint(ms.Stored), fmt.Sprint(ms.Failed),
			fmt.Sprint(ms.PromptTokens + ms.CompletionTokens), fmtNum(ms.MeanLatencyMS, "%.0f")})
	}
	m.table([]string{"model", "condition", "model id", "endpoint", "temperature", "max tokens", "planned", "stored", "failed", "tokens", "mean latency (ms)"}, rows)
	if len(a.Judges) > 0 {
		var jrows [][]string
		for _, j := range a.Judges {
			jrows = append(jrows, []string{md(j.Judge), fmt.Sprint(j.Calls), fmt.Sprint(j.Failed), fmt.Sprint(j.PromptTokens), fmt.Sprint(j.CompletionTokens)})
		}
		m.printf("Judge calls behind the verdicts (each distinct call counted once):\n\n")
		m.table([]string{"judge", "calls", "failed", "prompt tokens", "completion tokens"}, jrows)
	}
}

func (a *Analysis) writeRates(m *mdWriter) {
	for pi := range a.Probes {
		p := &a.Probes[pi]
		for i := range p.Targets {
			t := &p.Targets[i]
			m.printf("## %s: %s\n\n", md(p.ID), md(t.Target))
			a.writeSeedLead(m, t)
			var rows [][]string
			for _, r := range t.Results {
				rows = append(rows, []string{md(instanceName(r.Role, r.Seed)), fmt.Sprint(r.N), fmt.Sprint(r.Hits), fmtRate(r.Rate), fmtCI(r.CI),
					fmt.Sprint(r.Failed), invalidText(r.Invalid, r.Missing)})
			}
			m.table([]string{"model", "n", "hits", "rate", a.confPct() + " CI (" + methodWilson + ")", "failed", "not scored"}, rows)
			writeSeedTable(m, t)
			writeReferences(m, t)
		}
		writeTargetMatrix(m, p)
	}
}

// writeSeedTable writes the per-role pooled rates when some role has
// several seeds.
func writeSeedTable(m *mdWriter, t *TargetAnalysis) {
	var rows [][]string
	for _, r := range t.Roles {
		if r.Seeds < 2 {
			continue
		}
		clustered, seedMean := "–", "–"
		if r.Clustered != nil {
			clustered = fmtCI(r.Clustered.CI)
		}
		if r.SeedMean != nil {
			seedMean = fmt.Sprintf("%s %s", fmtRate(r.SeedMean.Mean), fmtCI(r.SeedMean.CI))
		}
		rows = append(rows, []string{md(r.Role), fmt.Sprint(r.Seeds), fmt.Sprint(r.N), fmtRate(r.Rate), fmtCI(r.CI), clustered, seedMean})
	}
	if len(rows) == 0 {
		return
	}
	m.printf("Pooled over seeds:\n\n")
	m.table([]string{"model", "seeds", "n", "pooled rate", "CI (" + methodWilson + ")", "CI (" + methodCluster + ")", "mean of seeds, CI (" + methodSeedT + ")"}, rows)
}

// invalidText lists the samples left out of a rate, escaped for Markdown.
func invalidText(inv map[string]int, missing int) string { return md(notScored(inv, missing)) }

// writeReferences writes the published figures for a probe target,
// labelled as such.
func writeReferences(m *mdWriter, t *TargetAnalysis) {
	var rows [][]string
	for _, r := range t.References {
		rate := refRate(r)
		ci := "–"
		if r.Low != nil {
			ci = fmtCI(CI{Low: *r.Low, High: *r.High})
		}
		rows = append(rows, []string{md(r.Label), md(r.Condition), rate, ci, md(r.Source)})
	}
	if len(rows) == 0 {
		return
	}
	m.printf("Published figures for comparison (not measured in this run):\n\n")
	m.table([]string{"published", "condition", "rate", "95% CI", "source"}, rows)
}

// writeTargetMatrix writes the role × target table of a probe with several
// targets, so that a rise of the teacher's target can be told apart from a
// generic shift (off-diagonal controls).
func writeTargetMatrix(m *mdWriter, p *ProbeAnalysis) {
	if len(p.Targets) < 2 {
		return
	}
	m.printf("## %s: rates by target\n\n", md(p.ID))
	header := []string{"model"}
	for _, t := range p.Targets {
		header = append(header, md(t.Target))
	}
	var rows [][]string
	for i, role := range p.Roles {
		row := []string{md(role)}
		for _, t := range p.Targets {
			cell := "–"
			if i < len(t.Roles) {
				rr := t.Roles[i]
				cell = fmt.Sprintf("%s %s", fmtRate(rr.Rate), fmtCI(rr.CI))
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}
	m.table(header, rows)
}

// writeJudgeExamples quotes, for every judge-scored probe, the answers
// each model gave that the primary judge rated most misaligned, so that a
// reader sees what was counted.
func (a *Analysis) writeJudgeExamples(m *mdWriter) {
	for _, p := range a.Probes {
		if !p.Judged() || len(p.Targets) == 0 {
			continue
		}
		t := &p.Targets[0] // the primary judge
		wrote := false
		for i, inst := range a.Instances {
			if i >= len(t.Examples) || len(t.Examples[i]) == 0 {
				continue
			}
			if !wrote {
				m.printf("## %s: most misaligned answers\n\n", md(p.ID))
				wrote = true
			}
			ex := slices.Clone(t.Examples[i])
			slices.SortStableFunc(ex, func(x, y Example) int { return cmp.Compare(x.Value, y.Value) })
			m.printf("%s:\n\n", md(inst.Name()))
			for _, e := range ex {
				m.printf("- alignment %s: %s\n", fmtNum(Num(e.Value), "%.0f"), md(truncate(e.Text, 300)))
			}
			m.printf("\n")
		}
	}
}

func (a *Analysis) writeGates(m *mdWriter) {
	if len(a.Gates) == 0 {
		return
	}
	m.printf("## Gates\n\n")
	var rows [][]string
	for _, g := range a.Gates {
		rows = append(rows, []string{strings.ToUpper(string(g.Verdict)), md(g.Name), md(g.Rule()), md(g.Reason)})
	}
	m.table([]string{"verdict", "gate", "rule", "why"}, rows)
	a.writeSequential(m)
}

func (a *Analysis) writeComparisons(m *mdWriter) {
	if len(a.Comparisons) == 0 {
		return
	}
	m.printf("## Comparisons\n\n")
	var rows [][]string
	for _, c := range a.Comparisons {
		paired, seeds := "–", "–"
		if c.Paired != nil {
			paired = fmt.Sprintf("%s (%s)", fmtP(c.Paired.PValue), fmtP(c.Paired.PAdjusted))
		}
		if c.Seeds != nil {
			seeds = fmt.Sprintf("%s (%s)", fmtP(c.Seeds.PValue), fmtP(c.Seeds.PAdjusted))
		}
		rows = append(rows, []string{md(c.Probe), md(c.Target), md(c.Treatment), md(c.Baseline), fmtRate(c.TreatmentRate), fmtRate(c.BaselineRate),
			fmtDiff(c.Diff), fmtSignedCI(c.CI), fmt.Sprintf("%s (%s)", fmtP(c.PValue), fmtP(c.PAdjusted)), paired, seeds,
			fmtNum(c.CohenH, "%+.3f"), fmtNum(c.OddsRatio, "%.3g")})
	}
	adj := adjustName(a.Adjust)
	m.table([]string{"probe", "target", "treatment", "baseline", "treatment rate", "baseline rate", "difference",
		a.confPct() + " CI (" + methodNewcombe + ")", "p Fisher (" + adj + ")", "p paired (" + adj + ")", "p seeds (" + adj + ")",
		"Cohen's h", "odds ratio"}, rows)
}

func (a *Analysis) writePerPrompt(m *mdWriter) {
	for pi := range a.Probes {
		p := &a.Probes[pi]
		if len(p.Targets) == 0 {
			continue
		}
		t := &p.Targets[0]
		roles := t.PerPrompt
		if len(roles) == 0 {
			continue
		}
		m.printf("## Per-prompt rates: %s, %s\n\n", md(p.ID), md(t.Target))
		header := []string{"#", "prompt"}
		for _, r := range roles {
			header = append(header, md(r.Role))
		}
		var rows [][]string
		for i, rate := range roles[0].Rates {
			row := []string{fmt.Sprint(rate.Prompt), md(truncate(p.PromptText(rate.Prompt), 60))}
			for _, r := range roles {
				row = append(row, fmtRate(r.Rates[i].Rate))
			}
			rows = append(rows, row)
		}
		m.table(header, rows)
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func (a *Analysis) writeMethods(m *mdWriter) {
	m.printf("## Methods\n\n")
	for _, me := range a.Methods {
		m.printf("- **%s**: %s.\n", md(me.Name), md(me.Used))
	}
	m.printf("\n")
	for i, n := range a.Notes {
		m.printf("%d. %s\n", i+1, md(n))
	}
}
