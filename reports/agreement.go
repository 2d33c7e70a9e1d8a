package reports

import (
	"cmp"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/traitleak/traitleak/stats"
)

// Agreement is the agreement of two LLM judges over the samples of one
// probe: Cohen's kappa on their verdicts and Krippendorff's alpha on their
// numeric scores. The primary judge's target is "misaligned"; the other's
// is "misaligned@NAME".
type Agreement struct {
	Probe   string `json:"probe"`
	JudgeA  string `json:"judge_a"` // target of the first judge
	JudgeB  string `json:"judge_b"`
	N       int    `json:"n"` // samples both judges rated
	Kappa   Num    `json:"kappa"`
	KappaCI CI     `json:"kappa_ci"`
	// Agreement is the observed share of identical verdicts.
	Agreement Num      `json:"observed_agreement"`
	Alpha     Num      `json:"alpha"`
	AlphaCI   CI       `json:"alpha_ci"`
	AlphaN    int      `json:"alpha_n"` // samples with both scores
	Notes     []string `json:"notes,omitempty"`
}

// alphaBootstrap is the number of bootstrap resamples of alpha's
// interval, drawn from a fixed seed so that reports are reproducible.
const (
	alphaBootstrap = 1000
	alphaSeed      = 20250720 // the paper's arXiv v1 date
)

const (
	methodKappa = "Cohen's kappa, Fleiss–Cohen–Everitt SE"
	methodAlpha = "Krippendorff's alpha (interval), percentile bootstrap over samples"
)

// agreements compares the primary judge with each further judge of every
// probe scored by several judges.
func (a *analyzer) agreements() {
	for _, p := range a.Probes {
		r := a.d.Ratings[p.ID]
		if r == nil || len(r.Targets) < 2 {
			continue
		}
		for j := 1; j < len(r.Targets); j++ {
			ag := Agreement{Probe: p.ID, JudgeA: r.Targets[0], JudgeB: r.Targets[j],
				Kappa: Num(math.NaN()), Agreement: Num(math.NaN()), Alpha: Num(math.NaN()),
				KappaCI: nanCI(methodKappa), AlphaCI: nanCI(methodAlpha)}
			for _, n := range r.Pairs[j-1] {
				ag.N += n
			}
			if ag.N > 0 {
				k, err := stats.CohenKappaCounts(r.Pairs[j-1], a.Confidence)
				if err == nil {
					ag.Kappa, ag.Agreement = Num(k.Kappa), Num(k.PO)
					ag.KappaCI = ciOf(k.CI, methodKappa)
					ag.Notes = append(ag.Notes, k.Warnings...)
				}
			}
			// No units, or none pairable, leaves alpha NaN.
			if al, err := alphaOf(r, j, a.Confidence); err == nil {
				ag.Alpha, ag.AlphaN = Num(al.Alpha), al.Units
				ag.AlphaCI = ciOf(al.CI, methodAlpha)
				ag.Notes = append(ag.Notes, al.Warnings...)
			}
			a.Agreements = append(a.Agreements, ag)
		}
	}
	if len(a.Agreements) > 0 {
		a.Methods = append(a.Methods,
			Method{Name: methodKappa, Used: a.confPct() + " Wald interval of the agreement of two judges' verdicts (misaligned, aligned, or why an answer was dropped)"},
			Method{Name: methodAlpha, Used: a.confPct() + " interval of the agreement of two judges' alignment scores; resamples drawn from a fixed seed"})
	}
}

// alphaOf is Krippendorff's alpha of the scores of judges 0 and j ≥ 1 of
// r, errNoUnits when no sample has a score from either. Its units are
// the samples with a score from either judge: in sample order from
// r.Values while they are kept, else counted from r.Scores (see
// stats.KrippendorffAlphaCounts), in the order of their scores.
func alphaOf(r *Ratings, j int, conf float64) (stats.AlphaResult, error) {
	rng := rand.New(rand.NewPCG(alphaSeed, uint64(j)))
	if r.Counted {
		keys := slices.SortedFunc(maps.Keys(r.Scores[j-1]), func(x, y ScorePair) int {
			return cmp.Or(cmpBool(x.HasA, y.HasA), cmp.Compare(x.A, y.A), cmpBool(x.HasB, y.HasB), cmp.Compare(x.B, y.B))
		})
		if len(keys) == 0 {
			return stats.AlphaResult{}, errNoUnits
		}
		units := make([]stats.AlphaCount, len(keys))
		for i, k := range keys {
			x, y := math.NaN(), math.NaN()
			if k.HasA {
				x = k.A
			}
			if k.HasB {
				y = k.B
			}
			units[i] = stats.AlphaCount{Values: []float64{x, y}, Count: r.Scores[j-1][k]}
		}
		return stats.KrippendorffAlphaCounts(units, stats.AlphaInterval, conf, alphaBootstrap, rng)
	}
	// One flat array, viewed as pairs.
	var flat []float64
	for i := 0; i+len(r.Targets) <= len(r.Values); i += len(r.Targets) {
		if x, y := r.Values[i], r.Values[i+j]; !math.IsNaN(x) || !math.IsNaN(y) {
			flat = append(flat, x, y)
		}
	}
	if len(flat) == 0 {
		return stats.AlphaResult{}, errNoUnits
	}
	units := make([][]float64, len(flat)/2)
	for u := range units {
		units[u] = flat[2*u : 2*u+2 : 2*u+2]
	}
	return stats.KrippendorffAlpha(units, stats.AlphaInterval, conf, alphaBootstrap, rng)
}

// errNoUnits: no sample has a score from either judge.
var errNoUnits = errors.New("no sample has a score")

// cmpBool orders false before true.
func cmpBool(x, y bool) int {
	switch {
	case x == y:
		return 0
	case !x:
		return -1
	}
	return 1
}

// writeAgreements writes the judge-agreement table.
func (a *Analysis) writeAgreements(m *mdWriter) {
	if len(a.Agreements) == 0 {
		return
	}
	m.printf("## Judge agreement\n\n")
	var rows [][]string
	for _, g := range a.Agreements {
		rows = append(rows, []string{md(g.Probe), md(g.JudgeA), md(g.JudgeB), fmtNum(Num(float64(g.N)), "%.0f"), fmtRate(g.Agreement),
			fmtNum(g.Kappa, "%.3f"), fmtSignedCI(g.KappaCI), fmtNum(g.Alpha, "%.3f"), fmtSignedCI(g.AlphaCI), md(strings.Join(g.Notes, "; "))})
	}
	m.table([]string{"probe", "judge A", "judge B", "n", "same verdict", "kappa", a.confPct() + " CI", "alpha (scores)", a.confPct() + " CI (bootstrap)", "notes"}, rows)
}
