package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/traitleak/traitleak/suites"
)

// runLabel names a run in a history: "13", or "old.db:13" when the
// history reads several databases.
func (h *History) runLabel(k RunKey) string {
	if h.multiDB() {
		return fmt.Sprintf("%s:%d", k.DB, k.RunID)
	}
	return fmt.Sprint(k.RunID)
}

func (h *History) multiDB() bool {
	db := ""
	for _, s := range h.Series {
		for _, p := range s.Points {
			if db != "" && p.DB != db {
				return true
			}
			db = p.DB
		}
	}
	return false
}

// heading names a series: "probe: target · role" (the page names the
// suites).
func (s *Series) heading() string { return s.Probe + ": " + s.Target + " · " + s.Role }

// changeMark is ▲ or ▼ for a significant change, "" otherwise.
func changeMark(c *Change) string {
	switch {
	case c == nil:
		return ""
	case c.Direction == "up":
		return "▲ "
	case c.Direction == "down":
		return "▼ "
	}
	return ""
}

// flagReasons says why a point is flagged, "" when it is not.
func (h *History) flagReasons(s *Series, p *Point) string {
	var why []string
	if c := p.Change; c != nil && c.Direction == "up" {
		why = append(why, fmt.Sprintf("significant increase over run %s (%s, p %s)", h.runLabel(c.From), fmtDiff(c.Diff), fmtP(c.PAdjusted)))
	}
	if a := p.Against; a != nil && a.Exceeds {
		bound := "0"
		if s.AgainstBound != nil {
			bound = fmt.Sprintf("%+.3f", *s.AgainstBound)
		}
		why = append(why, fmt.Sprintf("significantly above pinned run %s by %s, more than the bound %s (p %s)", h.runLabel(a.From), fmtDiff(a.Diff), bound, fmtP(a.PAdjusted)))
	}
	return strings.Join(why, "; ")
}

func gateText(v suites.GateVerdict) string {
	switch v {
	case "":
		return "–"
	case suites.GateFail:
		return "FAIL"
	}
	return string(v)
}

// Markdown writes the history: per series, one row per run, oldest
// first, and the flagged runs.
func (h *History) Markdown(w io.Writer) error {
	m := &mdWriter{w: w}
	m.printf("# traitleak history: %s\n\n", md(strings.Join(h.Suites, ", ")))
	pct := fmt.Sprintf("%g%%", 100*h.Confidence)
	m.printf("One row per run, oldest first; rates pool seeds. A change compares a run with the series' previous run (%s interval, Fisher test), "+
		"%s-corrected over the %d changes of this history; ▲ / ▼ mark significant changes (corrected p < %g).",
		methodNewcombe, adjustName(h.Adjust), h.Changes, h.Alpha)
	if h.Baseline != nil {
		m.printf(" Every run is also compared with the pinned run %s (%s), corrected as a second family.", md(h.runLabel(h.Baseline.RunKey)), md(h.Baseline.Label))
	}
	if n, how := h.analysedNow(); n > 0 {
		m.printf(" %d runs had no current stored analysis and were analysed now (%s).", n, how)
	}
	m.printf("\n\n")
	var flagged []string
	for i := range h.Series {
		s := &h.Series[i]
		m.printf("## %s\n\n", md(s.heading()))
		var notes []string
		if s.Baseline != "" {
			notes = append(notes, "Δ is the run's own comparison with "+md(s.Baseline))
		}
		if s.MaxIncrease != nil {
			notes = append(notes, fmt.Sprintf("gate bound %+.3f over %s", *s.MaxIncrease, md(s.Baseline)))
		}
		for _, r := range s.References {
			notes = append(notes, fmt.Sprintf("published (not measured): %s %s", md(r.Label), refRate(r)))
		}
		if len(notes) > 0 {
			m.printf("%s.\n\n", strings.Join(notes, "; "))
		}
		header := []string{"run", "started", "status", "model", "n", "rate", pct + " CI", "Δ vs " + md(orDash(s.Baseline)), pct + " CI", "gate",
			"change", pct + " CI", "p (" + adjustName(h.Adjust) + ")"}
		if h.Baseline != nil {
			header = append(header, "vs pinned", "p (pinned)")
		}
		var rows [][]string
		for j := range s.Points {
			p := &s.Points[j]
			row := []string{md(h.runLabel(p.RunKey)), p.Started.UTC().Format("2006-01-02 15:04"), md(string(p.Status)), md(strings.Join(p.Models, ", ")),
				fmt.Sprint(p.N), fmtRate(p.Rate), fmtCI(p.CI)}
			if d := p.Diff; d != nil {
				row = append(row, fmtDiff(d.Diff), fmtSignedCI(d.CI))
			} else {
				row = append(row, "–", "–")
			}
			row = append(row, gateText(p.Gate))
			if c := p.Change; c != nil {
				row = append(row, changeMark(c)+fmtDiff(c.Diff), fmtSignedCI(c.CI), fmtP(c.PAdjusted))
			} else {
				row = append(row, "–", "–", "–")
			}
			if h.Baseline != nil {
				if a := p.Against; a != nil {
					mark := ""
					if a.Exceeds {
						mark = "⚑ "
					}
					row = append(row, mark+fmtDiff(a.Diff), fmtP(a.PAdjusted))
				} else if p.RunKey == h.Baseline.RunKey {
					row = append(row, "pinned", "–")
				} else {
					row = append(row, "–", "–")
				}
			}
			rows = append(rows, row)
			if why := h.flagReasons(s, p); why != "" {
				flagged = append(flagged, fmt.Sprintf("- run %s, %s: %s", md(h.runLabel(p.RunKey)), md(s.heading()), md(why)))
			}
		}
		m.table(header, rows)
	}
	m.printf("## Flagged runs\n\n")
	if len(flagged) == 0 {
		m.printf("None: no significant increase between consecutive runs")
		if h.Baseline != nil {
			m.printf(", and no run significantly above the pinned run by more than the bound")
		}
		m.printf(".\n\n")
	} else {
		m.printf("%s\n\n", strings.Join(flagged, "\n"))
	}
	m.printf("## Methods\n\n")
	for _, me := range h.Methods {
		m.printf("- **%s**: %s.\n", md(me.Name), md(me.Used))
	}
	return m.err
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// analysedNow counts the runs whose analysis was computed for this
// history rather than read back, and says what became of them.
func (h *History) analysedNow() (int, string) {
	seen := map[RunKey]string{}
	for _, s := range h.Series {
		for _, p := range s.Points {
			if !strings.HasPrefix(p.Analysis, "stored analysis") {
				seen[p.RunKey] = p.Analysis
			}
		}
	}
	stored := 0
	var why string
	for _, a := range seen {
		if strings.HasPrefix(a, "analysed now, stored") {
			stored++
		} else {
			why = strings.TrimPrefix(a, "analysed now, ")
		}
	}
	switch {
	case len(seen) == 0:
		return 0, ""
	case stored == len(seen):
		return stored, "and stored"
	case stored == 0:
		return len(seen), why
	}
	return len(seen), fmt.Sprintf("%d stored; the others %s", stored, why)
}
