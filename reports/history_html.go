package reports

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"

	"github.com/traitleak/traitleak/suites"
)

//go:embed templates/history.html.tmpl templates/matrix.html.tmpl templates/family.css
var familyFS embed.FS

var (
	historyTemplate = template.Must(template.New("history.html.tmpl").ParseFS(familyFS, "templates/history.html.tmpl"))
	matrixTemplate  = template.Must(template.New("matrix.html.tmpl").Funcs(template.FuncMap{"add": func(a, b int) int { return a + b }}).
			ParseFS(familyFS, "templates/matrix.html.tmpl"))
)

// familyCSS is the run report's stylesheet with the history's and
// matrix's rules after it.
func familyCSS() (template.CSS, error) {
	base, err := templateFS.ReadFile("templates/report.css")
	if err != nil {
		return "", fmt.Errorf("read stylesheet: %w", err)
	}
	extra, err := familyFS.ReadFile("templates/family.css")
	if err != nil {
		return "", fmt.Errorf("read stylesheet: %w", err)
	}
	return template.CSS(string(base) + string(extra)), nil // our own files
}

type historyView struct {
	Title, Suites, Lede string
	CSS                 template.CSS
	Runs                int
	DBs                 []string
	ConfPct, Adjust     string
	Alpha               string
	Changes             int
	Pinned              string
	Series              []historySeriesView
	Flags               []flagView
	Methods             []Method
}

type historySeriesView struct {
	ID, Heading, Baseline, Note string
	Chart                       template.HTML
	HasRefs, HasBound, HasPin   bool
	Rows                        []historyRowView
}

type historyRowView struct {
	RunID                             int64
	Run, Started, Status, StatusClass string
	Models                            string
	Hits, N                           int
	Rate, CI, Diff, DiffCI            string
	Gate, GateClass                   string
	Mark                              *markView
	Change, ChangeCI, ChangeP         string
	Against, AgainstP                 string
	Exceeds, Flagged                  bool
}

type markView struct{ Class, Sym string }

type flagView struct{ Run, Series, Why string }

// HTML writes the history as one self-contained page: per series a
// trend chart (inline SVG) and its table, then the flagged runs and the
// methods. Like the run report it runs no script and loads nothing.
func (h *History) HTML(w io.Writer) error {
	css, err := familyCSS()
	if err != nil {
		return fmt.Errorf("history html: %w", err)
	}
	v := &historyView{Title: "traitleak history: " + strings.Join(h.Suites, ", "), Suites: strings.Join(h.Suites, ", "), CSS: css,
		ConfPct: fmt.Sprintf("%g%%", 100*h.Confidence), Adjust: adjustName(h.Adjust), Alpha: fmt.Sprintf("%g", h.Alpha), Changes: h.Changes,
		Methods: h.Methods}
	v.Lede = "Each run's rate of a role on a probe target, oldest run first, from the runs' stored analyses; consecutive runs are compared with the two-run test of compare, corrected over every change of the history."
	if h.Baseline != nil {
		v.Pinned = fmt.Sprintf("run %s (%s)", h.runLabel(h.Baseline.RunKey), h.Baseline.Label)
	}
	runs := map[RunKey]bool{}
	ids := map[string]bool{}
	for i := range h.Series {
		s := &h.Series[i]
		id := uniqueName(ids, "s-"+slug(s.heading()))
		sv := historySeriesView{ID: id, Heading: s.heading(), Baseline: s.Baseline, Chart: template.HTML(h.trendChart(s)), // drawn here, text escaped
			HasRefs: len(s.References) > 0, HasBound: s.MaxIncrease != nil}
		var notes []string
		if s.Baseline != "" {
			notes = append(notes, "Δ is each run's own comparison of "+s.Role+" with "+s.Baseline)
		}
		if s.MaxIncrease != nil {
			notes = append(notes, fmt.Sprintf("the suite's gate allows %+.3f over %s", *s.MaxIncrease, s.Baseline))
		}
		if h.Baseline != nil && s.AgainstBound != nil {
			notes = append(notes, fmt.Sprintf("a run significantly above the pinned run by more than %+.3f is flagged", *s.AgainstBound))
		}
		if len(notes) > 0 {
			sv.Note = strings.Join(notes, "; ") + "."
		}
		for j := range s.Points {
			p := &s.Points[j]
			runs[p.RunKey] = true
			if h.Baseline != nil && p.RunKey == h.Baseline.RunKey {
				sv.HasPin = true
			}
			row := historyRowView{RunID: p.RunID, Run: h.runLabel(p.RunKey), Started: p.Started.UTC().Format("2006-01-02 15:04"), Status: string(p.Status),
				StatusClass: statusClass(p.Status), Models: strings.Join(p.Models, ", "), Hits: p.Hits, N: p.N, Rate: fmtRate(p.Rate), CI: fmtCI(p.CI),
				Diff: "–", Change: "–", ChangeCI: "–", ChangeP: "–", Against: "–", AgainstP: "–", Flagged: p.Flagged()}
			if d := p.Diff; d != nil {
				row.Diff, row.DiffCI = fmtDiff(d.Diff), fmtSignedCI(d.CI)
			}
			if p.Gate != "" {
				row.Gate, row.GateClass = strings.ToUpper(string(p.Gate)), string(p.Gate)
				if p.Gate == suites.GateUndecided {
					row.GateClass = "undecided"
				}
			}
			if c := p.Change; c != nil {
				row.Change, row.ChangeCI, row.ChangeP = fmtDiff(c.Diff), fmtSignedCI(c.CI), fmtP(c.PAdjusted)
				switch c.Direction {
				case "up":
					row.Mark = &markView{"up", "▲"}
				case "down":
					row.Mark = &markView{"down", "▼"}
				}
			}
			if a := p.Against; a != nil {
				row.Against, row.AgainstP, row.Exceeds = fmtDiff(a.Diff), fmtP(a.PAdjusted), a.Exceeds
			} else if h.Baseline != nil && p.RunKey == h.Baseline.RunKey {
				row.Against = "pinned"
			}
			sv.Rows = append(sv.Rows, row)
			if why := h.flagReasons(s, p); why != "" {
				v.Flags = append(v.Flags, flagView{Run: h.runLabel(p.RunKey), Series: s.heading(), Why: why})
			}
		}
		v.Series = append(v.Series, sv)
	}
	v.Runs = len(runs)
	for k := range runs {
		if !slices.Contains(v.DBs, k.DB) {
			v.DBs = append(v.DBs, k.DB)
		}
	}
	slices.Sort(v.DBs)
	var buf bytes.Buffer
	if err := historyTemplate.Execute(&buf, v); err != nil {
		return fmt.Errorf("history html: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("history html: write: %w", err)
	}
	return nil
}
