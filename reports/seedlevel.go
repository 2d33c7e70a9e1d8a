package reports

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/traitleak/traitleak/stats"
)

// methodSeedPaired names the seed-level test: the one-sample t-test of the
// per-seed differences (the paired t-test by seed).
const methodSeedPaired = "paired t across seeds"

// noteSeedLevel is the kind of the seed-level test's caveats.
const noteSeedLevel = "Seed-level test"

// SeedLevel is a comparison at the level of seeds, the unit of
// replication (each seed of a role is a separate model: its own
// fine-tune, or the lab's whole pipeline): treatment − baseline rate per
// seed over the seeds both roles have, and the one-sample t interval and
// test of their mean, as R's t.test(d). Pairing by seed removes what a
// seed shares between the roles (the lab's student and control of a seed
// are fine-tuned from that seed's reference model); when the roles are
// independent the test is still valid, with n − 1 degrees of freedom.
// Samples pooled over seeds count every sample as independent and so
// ignore the seed-to-seed spread: this is the estimate to quote when a
// role has several seeds.
type SeedLevel struct {
	// Test is the method: methodSeedPaired.
	Test string `json:"test"`
	// Seeds are the seed labels both roles have scored samples for, in
	// the treatment's seed order; at least 2.
	Seeds []string `json:"seeds"`
	// Diffs are the per-seed differences of rates, treatment − baseline,
	// parallel to Seeds, each in [-1, 1].
	Diffs []Num `json:"diffs"`
	// Mean is the mean of Diffs: the seed-level estimate.
	Mean Num `json:"mean"`
	// SD is the sample standard deviation of Diffs (n − 1 denominator).
	SD Num `json:"sd"`
	// CI is the t interval of Mean with len(Seeds) − 1 degrees of
	// freedom; not clipped to [-1, 1].
	CI CI `json:"ci"`
	// PValue is the two-sided p-value of H0: mean difference 0.
	PValue Num `json:"p_value"`
	// PAdjusted is PValue corrected over the report's seed-level tests
	// (Analysis.Adjust).
	PAdjusted Num `json:"p_adjusted"`
}

// Up counts the seeds whose difference is positive.
func (s *SeedLevel) Up() int { return s.count(func(d float64) bool { return d > 0 }) }

// Down counts the seeds whose difference is negative.
func (s *SeedLevel) Down() int { return s.count(func(d float64) bool { return d < 0 }) }

func (s *SeedLevel) count(f func(float64) bool) int {
	n := 0
	for _, d := range s.Diffs {
		if f(float64(d)) {
			n++
		}
	}
	return n
}

// Smallest is the smallest per-seed difference (the weakest seed).
func (s *SeedLevel) Smallest() Num {
	m := Num(math.Inf(1))
	for _, d := range s.Diffs {
		m = min(m, d)
	}
	return m
}

// pairSeeds returns treatment − baseline rate per seed over the seeds
// both roles have with scored samples, in the treatment's seed order.
func pairSeeds(rs []Result, treatment, baseline string) (seeds []string, diffs []float64) {
	base := map[string]float64{}
	for _, r := range rs {
		if r.Role == baseline && r.N > 0 {
			base[r.Seed] = float64(r.Rate)
		}
	}
	for _, r := range rs {
		if r.Role != treatment || r.N == 0 {
			continue
		}
		if b, ok := base[r.Seed]; ok {
			seeds = append(seeds, r.Seed)
			diffs = append(diffs, float64(r.Rate)-b)
		}
	}
	return seeds, diffs
}

// seedLevel compares treatment with baseline seed by seed on target t;
// nil when they have fewer than two seeds in common.
func (a *analyzer) seedLevel(t *TargetAnalysis, treatment, baseline string, conf float64) *SeedLevel {
	if t == nil {
		return nil
	}
	seeds, diffs := pairSeeds(t.Results, treatment, baseline)
	if len(diffs) < 2 {
		return nil
	}
	r, err := stats.OneSampleT(diffs, 0, conf)
	if err != nil {
		return nil
	}
	a.caveat(noteSeedLevel, t.Probe, t.Target, treatment+" vs "+baseline, r.Warnings)
	s := &SeedLevel{Test: methodSeedPaired, Seeds: seeds, Mean: Num(r.Mean), SD: Num(r.SD), CI: ciOf(r.CI, methodSeedPaired),
		PValue: Num(r.PValue), PAdjusted: Num(math.NaN())}
	for _, d := range diffs {
		s.Diffs = append(s.Diffs, Num(d))
	}
	return s
}

// seedLevelMethod appends the seed-level test to the methods when some
// comparison has one.
func (a *Analysis) seedLevelMethod() {
	if !slices.ContainsFunc(a.Comparisons, func(c *Comparison) bool { return c.SeedLevel != nil }) {
		return
	}
	a.Methods = append(a.Methods, Method{Name: methodSeedPaired,
		Used: fmt.Sprintf("%g%% interval and test of the seed-level estimate each report section leads with when both roles have two or more seeds in common: the mean of the per-seed differences treatment − baseline (one-sample t on the differences, n − 1 df; the seed is the unit of replication)", 100*a.Confidence)})
}

// seedLead is what a target's section of a report leads with when a role
// on it has several seeds: each comparison's seed-level estimate and test,
// then its pooled figures, and a closing sentence.
type seedLead struct {
	Heading string
	Items   []seedLeadItem
	After   string
}

// seedLeadItem is one comparison of a seed lead, as plain text (renderers
// escape it).
type seedLeadItem struct {
	Comparison string // "student − control"
	Estimate   string // the seed-level estimate, "" when there is none
	Detail     string // the rest of the seed-level sentence
	Pooled     string // the pooled figures, after the seed-level ones
}

// Sentences that follow a seed lead: with some seed-level estimate, and
// without any.
const (
	seedLeadAfter   = "The pooled figures count every sample as independent and so ignore the seed-to-seed spread: their intervals are narrower than the seed-level ones, and the seed-level estimate is the one to quote."
	seedLeadNoTest  = "The pooled figures count every sample as independent and so ignore the seed-to-seed spread; with two or more seeds of both roles the report leads with the seed-level test."
	seedLeadHeading = "Seed level first (the seed is the unit of replication), then the samples pooled over seeds:"
)

// seedLeadOf returns the lead of target t, nil when no role on it has two
// or more seeds or it has no comparison.
func (a *Analysis) seedLeadOf(t *TargetAnalysis) *seedLead {
	if len(t.Comparisons) == 0 || !slices.ContainsFunc(t.Roles, func(r RoleResult) bool { return r.Seeds > 1 }) {
		return nil
	}
	adj := ""
	if a.Adjust != "none" {
		adj = adjustName(a.Adjust)
	}
	pAdj := func(p, padj Num) string {
		s := "p = " + fmtP(p)
		if strings.HasPrefix(fmtP(p), "<") {
			s = "p " + fmtP(p)
		}
		if adj != "" {
			s += " (" + adj + " " + fmtP(padj) + ")"
		}
		return s
	}
	seedsOf := func(role string) int {
		if i := t.RoleIndex(role); i >= 0 {
			return t.Roles[i].Seeds
		}
		return 0
	}
	l := &seedLead{Heading: seedLeadHeading, After: seedLeadNoTest}
	for _, c := range t.Comparisons {
		if seedsOf(c.Treatment) < 2 && seedsOf(c.Baseline) < 2 {
			continue // two single models: no seed-to-seed spread to speak of
		}
		it := seedLeadItem{Comparison: c.Treatment + " − " + c.Baseline}
		switch s, w := c.SeedLevel, c.Seeds; {
		case s != nil:
			it.Estimate = fmtDiff(s.Mean)
			it.Detail = fmt.Sprintf("the mean of %d per-seed differences; %s CI %s (%s), %s; %d of %d seeds up, smallest %s",
				len(s.Diffs), a.confPct(), fmtSignedCI(s.CI), s.CI.Method, pAdj(s.PValue, s.PAdjusted), s.Up(), len(s.Diffs), fmtDiff(s.Smallest()))
		case w != nil:
			it.Estimate = fmtDiff(w.Diff)
			it.Detail = fmt.Sprintf("the difference of the seed means (the roles have no two seeds in common to pair); %s CI %s (%s, %d seeds per role), %s",
				a.confPct(), fmtSignedCI(w.CI), w.CI.Method, w.Units, pAdj(w.PValue, w.PAdjusted))
		default:
			it.Detail = fmt.Sprintf("no seed-level test: %s has %s and %s %s; it needs two or more seeds of each",
				c.Treatment, plural(seedsOf(c.Treatment), "seed"), c.Baseline, plural(seedsOf(c.Baseline), "seed"))
		}
		if it.Estimate != "" {
			l.After = seedLeadAfter
		}
		it.Pooled = fmt.Sprintf("Pooled over samples: %s %s (%s), Fisher %s", fmtDiff(c.Diff), fmtSignedCI(c.CI), c.CI.Method, pAdj(c.PValue, c.PAdjusted))
		l.Items = append(l.Items, it)
	}
	if len(l.Items) == 0 {
		return nil
	}
	return l
}

// plural is "1 seed" or "n seeds".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// writeSeedLead writes the lead of target t in Markdown.
func (a *Analysis) writeSeedLead(m *mdWriter, t *TargetAnalysis) {
	l := a.seedLeadOf(t)
	if l == nil {
		return
	}
	m.printf("%s\n\n", md(l.Heading))
	for _, it := range l.Items {
		est := ""
		if it.Estimate != "" {
			est = " **" + md(it.Estimate) + "**,"
		}
		m.printf("- %s:%s %s. %s.\n", md(it.Comparison), est, md(it.Detail), md(it.Pooled))
	}
	m.printf("\n%s\n\n", md(l.After))
}
