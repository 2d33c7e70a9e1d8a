package reports

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/traitleak/traitleak/results"
	"github.com/traitleak/traitleak/sequential"
	"github.com/traitleak/traitleak/suites"
)

// This file reports a suite's sequential rules (issue 16): the verdict of
// each sequential gate, the round it came at, the samples it used against
// the fixed design, the path of its e-process; and each stop-for-width
// rule's confidence sequence.
//
// Why replayed and not stored: a run stores its samples under keys that
// fix every round, and package sequential decides the rules from them,
// deterministically, with the Tracker the engine used while sampling. So
// the report recomputes the decision from the stored samples (one more
// pass over the rule probes' draws) instead of storing the e-processes:
// nothing can drift between what the run decided and what the report
// shows, a fixed run's report shows what a sequential gate would have
// decided on the same samples, and no table is added to the database.

// SequentialGate is the sequential decision of a gate (its sequential
// block), as the JSON report lists it under the gate.
type SequentialGate struct {
	// Alpha is the error budget; Bound the gate's bound on treatment −
	// baseline; Bets "prompt" or "round".
	Alpha float64 `json:"alpha"`
	Bound float64 `json:"bound"`
	Bets  string  `json:"bets"`
	// Status is pass, fail, inconclusive (budget spent) or continue (no
	// verdict yet: fewer rounds stored than the budget, or waiting).
	Status string `json:"status"`
	// Round is the number of rounds read: the round of the verdict once
	// there is one.
	Round int `json:"round"`
	// MaxRounds is the budget; FixedRounds the fixed design's rounds (the
	// probe's samples per prompt).
	MaxRounds   int `json:"max_rounds"`
	FixedRounds int `json:"fixed_rounds"`
	// Prompts per round and model Instances of the two roles.
	Prompts   int `json:"prompts"`
	Instances int `json:"instances"`
	// Samples are the draws the rounds read (Round × Prompts ×
	// Instances), FixedSamples the fixed design's, and Drawn the draws
	// stored for these instances on the probe (more than Samples when
	// rounds were drawn past the verdict, or by a fixed run).
	Samples      int `json:"samples"`
	FixedSamples int `json:"fixed_samples"`
	Drawn        int `json:"drawn"`
	// Mean is the mean difference over the rounds read.
	Mean Num `json:"mean"`
	// LogWealthAbove and LogWealthBelow are the natural logs of the two
	// sides' wealth after Round rounds; a side decides at Threshold,
	// log(1/Alpha).
	LogWealthAbove Num `json:"log_wealth_above"`
	LogWealthBelow Num `json:"log_wealth_below"`
	Threshold      Num `json:"threshold"`
	// Waiting is the round the gate waits at for failed or unscored
	// draws; nil when it does not wait.
	Waiting *WaitingRound `json:"waiting,omitempty"`
	// Path holds the two log wealths after each round read.
	Path []WealthPoint `json:"path"`
}

// WealthPoint is the e-process of a gate after one round.
type WealthPoint struct {
	Round int `json:"round"`
	Above Num `json:"log_wealth_above"`
	Below Num `json:"log_wealth_below"`
}

// WaitingRound is a round a sequential rule waits at.
type WaitingRound struct {
	Round   int `json:"round"`
	Failed  int `json:"failed"`
	Invalid int `json:"invalid"`
}

// RateSequence is a stop-for-width rule: a role's rate with its betting
// confidence sequence.
type RateSequence struct {
	Probe  string `json:"probe"`
	Target string `json:"target"`
	Role   string `json:"model"`
	// Width is the target width; Alpha the sequence's error level.
	Width float64 `json:"ci_width"`
	Alpha float64 `json:"alpha"`
	// Status is reached, inconclusive (budget spent) or continue.
	Status string `json:"status"`
	// Round, MaxRounds, FixedRounds, Prompts, Instances, Samples,
	// FixedSamples and Drawn are as in SequentialGate.
	Round        int `json:"round"`
	MaxRounds    int `json:"max_rounds"`
	FixedRounds  int `json:"fixed_rounds"`
	Prompts      int `json:"prompts"`
	Instances    int `json:"instances"`
	Samples      int `json:"samples"`
	FixedSamples int `json:"fixed_samples"`
	Drawn        int `json:"drawn"`
	// Rate is the mean over the rounds read; CI the confidence sequence
	// after them, valid at any stopping time.
	Rate    Num           `json:"rate"`
	CI      CI            `json:"ci"`
	Waiting *WaitingRound `json:"waiting,omitempty"`
}

// Method names of the sequential rules.
const (
	methodSeqGate = "betting e-process (Waudby-Smith & Ramdas 2024)"
	methodRateCS  = "betting confidence sequence (hedged capital)"
)

// loadSequential replays the run's sequential rules from its stored
// draws (see the top of this file); nothing when the suite has none. The
// draws are read in windows of rounds (seqWindow), each recorded into
// the Tracker, which then reads the rounds complete in it and forgets
// it: the replay holds one window, whatever the number of draws, and
// stops reading once no rule can read on (every rule decided, or waiting
// at a round no later draw can complete).
func (d *RunData) loadSequential(ctx context.Context, store *results.Store, o *openedRun) error {
	rules, err := sequential.Rules(d.Suite)
	if err != nil {
		return fmt.Errorf("run %d: sequential rules: %w", d.Run.ID, err)
	}
	if len(rules) == 0 {
		return nil
	}
	roles := make([]string, len(d.Instances))
	for _, m := range d.Instances {
		if m.Index >= 0 && m.Index < len(roles) {
			roles[m.Index] = m.Role
		}
	}
	prompts := map[string]int{}
	for _, p := range d.Prompts {
		prompts[p.Probe]++
	}
	tr, err := sequential.NewTracker(rules, roles, prompts)
	if err != nil {
		return fmt.Errorf("run %d: %w", d.Run.ID, err)
	}
	ruled := tr.Targets()
	probes := make([]string, 0, len(ruled))
	cells := 1 // plan cells of the largest ruled probe
	for _, r := range rules {
		if !slices.Contains(probes, r.Probe) {
			probes = append(probes, r.Probe)
			cells = max(cells, len(d.Instances)*prompts[r.Probe])
		}
	}
	window := max(1, d.bounds.seqWindowOrDefault()/cells)
	for from := 0; ; from += window {
		for _, probe := range probes {
			for pd, err := range store.ProbeDraws(ctx, d.Run.ID, probe, o.scorerIDs[probe], ruled[probe], from, from+window) {
				if err != nil {
					return err
				}
				tr.RecordDraw(pd.Instance, probe, pd.Prompt, pd.Draw, pd.State)
			}
		}
		tr.Advance()
		if !tr.Forget(from + window) {
			break
		}
	}
	d.Sequential = tr.States()
	return nil
}

// seqWindowDraws is about the number of draws loadSequential reads per
// window (per probe): enough to make each query worth its setup, few
// enough that a window's outcomes (a byte each) stay small. Tests lower
// it (loadBounds) to replay small runs in many windows.
const seqWindowDraws = 1 << 14

// sequentialResults attaches each sequential gate's decision to its gate,
// which it then decides, and lists the stop-for-width rules.
func (a *analyzer) sequentialResults() {
	if len(a.d.Sequential) == 0 {
		return
	}
	for _, st := range a.d.Sequential {
		prompts := a.promptCount(st.Probe)
		insts := a.instanceCount(st.Rule.Roles())
		drawn := a.drawn(st.Probe, st.Target, st.Rule.Roles())
		var waiting *WaitingRound
		if b := st.Blocked; b != nil && !st.Done() {
			waiting = &WaitingRound{Round: b.Round, Failed: b.Failed, Invalid: b.Invalid}
		}
		switch st.Kind {
		case sequential.KindGate:
			if st.Gate < 0 || st.Gate >= len(a.Gates) {
				continue
			}
			bets := suites.BetsPrompt
			if !st.SeqGate.PerPrompt {
				bets = suites.BetsRound
			}
			sg := &SequentialGate{Alpha: st.SeqGate.Alpha, Bound: st.SeqGate.Bound, Bets: bets, Status: string(st.Status),
				Round: st.Rounds, MaxRounds: st.MaxRounds, FixedRounds: st.Fixed, Prompts: prompts, Instances: insts,
				Samples: st.Rounds * prompts * insts, FixedSamples: st.Fixed * prompts * insts, Drawn: drawn,
				Mean: Num(st.Decision.Mean), LogWealthAbove: Num(st.Decision.LogWealthAbove), LogWealthBelow: Num(st.Decision.LogWealthBelow),
				Threshold: Num(st.Decision.Threshold), Waiting: waiting, Path: []WealthPoint{}}
			for i, p := range st.Path {
				sg.Path = append(sg.Path, WealthPoint{Round: i + 1, Above: Num(p.LogAbove), Below: Num(p.LogBelow)})
			}
			g := &a.Gates[st.Gate]
			g.Sequential = sg
			g.Verdict, g.Reason = judgeSequential(g, sg, a.d.Suite.UntilDecided)
		case sequential.KindWidth:
			rs := RateSequence{Probe: st.Probe, Target: st.Target, Role: st.Role, Width: st.Width, Alpha: st.RateCS.Alpha,
				Status: string(st.Status), Round: st.Rounds, MaxRounds: st.MaxRounds, FixedRounds: st.Fixed, Prompts: prompts,
				Instances: insts, Samples: st.Rounds * prompts * insts, FixedSamples: st.Fixed * prompts * insts, Drawn: drawn,
				Rate: Num(st.Interval.Estimate), CI: ciOf(st.Interval, methodRateCS), Waiting: waiting}
			a.RateSequences = append(a.RateSequences, rs)
		}
	}
	a.Methods = append(a.Methods,
		Method{Name: methodSeqGate, Used: "sequential gates: two one-sided betting e-processes on the per-round paired differences treatment − baseline against the gate's bound, each starting with half of a unit of capital and deciding when its wealth reaches 1/α, so that a wrong verdict has probability ≤ α/2 whenever sampling stops; a round is every prompt once per model instance of both roles, read only when complete"},
		Method{Name: methodRateCS, Used: "stop-for-width rules: a confidence sequence of each role's rate, valid simultaneously at every round, with bets tuned to the budget"})
}

// judgeSequential decides a gate from its sequential decision, keeping
// the fixed-sample evidence in the reason; stopped tells whether the run
// stopped sampling on the data (run --until-decided), which voids the
// fixed-sample p-value as a test.
func judgeSequential(g *GateResult, s *SequentialGate, stopped bool) (suites.GateVerdict, string) {
	side := "above"
	if s.Status == string(sequential.StatusPass) == (g.MaxIncrease != nil) {
		side = "below"
	}
	fixed := ""
	if !math.IsNaN(float64(g.Diff)) {
		fixed = fmt.Sprintf("; fixed-sample %s test on the samples drawn: difference %+.3f, adjusted p = %s", g.testLabel(), float64(g.Diff), fmtP(g.PAdjusted))
		if stopped {
			fixed += " (not a valid test here: sampling stopped on the data)"
		}
	}
	used := fmt.Sprintf("%s samples used, %s of the fixed design's %s", thousands(s.Samples), pctOf(s.Samples, s.FixedSamples), thousands(s.FixedSamples))
	switch sequential.Status(s.Status) {
	case sequential.StatusPass, sequential.StatusFail:
		v := suites.GatePass
		if s.Status == string(sequential.StatusFail) {
			v = suites.GateFail
		}
		wealth := s.LogWealthAbove
		if side == "below" {
			wealth = s.LogWealthBelow
		}
		return v, fmt.Sprintf("sequential: decided at round %d of at most %d: the mean difference %+.3f is %s %+.3f (log wealth %.2f ≥ log(1/α) = %.2f, α = %g); %s%s",
			s.Round, s.MaxRounds, float64(s.Mean), side, s.Bound, float64(wealth), float64(s.Threshold), s.Alpha, used, fixed)
	case sequential.StatusInconclusive:
		return suites.GateUndecided, fmt.Sprintf("sequential: no verdict within the budget of %d rounds (log wealth above %.2f, below %.2f, threshold %.2f); %s%s",
			s.MaxRounds, float64(s.LogWealthAbove), float64(s.LogWealthBelow), float64(s.Threshold), used, fixed)
	}
	if w := s.Waiting; w != nil {
		return suites.GateUndecided, fmt.Sprintf("sequential: waits at round %d (%d failed draws, %d without a valid score): run again to retry them; %d rounds read%s",
			w.Round, w.Failed, w.Invalid, s.Round, fixed)
	}
	return suites.GateUndecided, fmt.Sprintf("sequential: no verdict after %d of at most %d rounds: run with --until-decided to sample until it is decided%s",
		s.Round, s.MaxRounds, fixed)
}

// promptCount returns the prompts of a probe.
func (a *analyzer) promptCount(probe string) int {
	n := 0
	for _, p := range a.d.Prompts {
		if p.Probe == probe {
			n++
		}
	}
	return n
}

// instanceCount returns the model instances of the given roles.
func (a *analyzer) instanceCount(roles []string) int {
	n := 0
	for _, r := range roles {
		n += len(a.d.roleInstances(r))
	}
	return n
}

// drawn counts the stored draws (failed or not) of the roles' instances
// on a probe target.
func (a *analyzer) drawn(probe, target string, roles []string) int {
	idx := map[int]bool{}
	for _, r := range roles {
		for _, m := range a.d.roleInstances(r) {
			idx[m.Index] = true
		}
	}
	c := a.d.sum(probe, target, func(k CellKey) bool { return idx[k.Instance] })
	return c.Planned - c.Missing
}

// pctOf formats part/whole as a percentage; "–" without a whole.
func pctOf(part, whole int) string {
	if whole == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

// thousands formats n with thin separators every three digits.
func thousands(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// seqRule states a sequential gate's criterion in words.
func (g GateResult) seqRule() string {
	s := g.Sequential
	pass, fail := "below", "above"
	if g.MinIncrease != nil {
		pass, fail = "above", "below"
	}
	return fmt.Sprintf("sequential (α = %g, at most %d rounds): passes once %s − %s is shown %s %+.3f, fails once it is shown %s",
		s.Alpha, s.MaxRounds, g.Treatment, g.Baseline, pass, s.Bound, fail)
}

// seqGates returns the gates with a sequential decision.
func (a *Analysis) seqGates() []GateResult {
	var out []GateResult
	for _, g := range a.Gates {
		if g.Sequential != nil {
			out = append(out, g)
		}
	}
	return out
}

// writeSequential writes the sequential gates and the rate sequences:
// the verdict, the round, the samples used against the fixed design.
func (a *Analysis) writeSequential(m *mdWriter) {
	gates := a.seqGates()
	if len(gates) > 0 {
		m.printf("Sequential gates (decided by their e-process; the verdict above is theirs):\n\n")
		var rows [][]string
		for _, g := range gates {
			s := g.Sequential
			rows = append(rows, []string{md(g.Name), strings.ToUpper(s.Status), seqRound(s.Round, s.MaxRounds, s.Waiting),
				fmt.Sprintf("%s of %s (%s)", thousands(s.Samples), thousands(s.FixedSamples), pctOf(s.Samples, s.FixedSamples)),
				thousands(s.Drawn), fmtDiff(s.Mean), fmt.Sprintf("%s / %s", fmtNum(s.LogWealthAbove, "%.2f"), fmtNum(s.LogWealthBelow, "%.2f")),
				fmtNum(s.Threshold, "%.2f")})
		}
		m.table([]string{"gate", "sequential verdict", "round", "samples used of the fixed design", "drawn", "mean difference",
			"log wealth above / below", "log(1/α)"}, rows)
	}
	if len(a.RateSequences) > 0 {
		m.printf("Rates until their confidence sequence is narrow enough (stop-for-width):\n\n")
		var rows [][]string
		for _, r := range a.RateSequences {
			rows = append(rows, []string{md(r.Probe), md(r.Target), md(r.Role), strings.ToUpper(r.Status), seqRound(r.Round, r.MaxRounds, r.Waiting),
				fmt.Sprintf("%s of %s (%s)", thousands(r.Samples), thousands(r.FixedSamples), pctOf(r.Samples, r.FixedSamples)),
				fmtRate(r.Rate), fmtCI(r.CI), fmtNum(Num(float64(r.CI.High)-float64(r.CI.Low)), "%.4f"), fmt.Sprintf("%g", r.Width)})
		}
		m.table([]string{"probe", "target", "model", "status", "round", "samples used of the fixed design", "rate",
			fmt.Sprintf("CI (%s)", methodRateCS), "width", "target width"}, rows)
	}
}

// seqRound formats "r of max", with the round waited at.
func seqRound(r, maxRounds int, w *WaitingRound) string {
	s := fmt.Sprintf("%d of %d", r, maxRounds)
	if w != nil {
		s += fmt.Sprintf(", waits at %d (%d failed)", w.Round, w.Failed+w.Invalid)
	}
	return s
}

// maxPathRows is how many rounds the Markdown table of an e-process
// shows at most; the SVG chart has every round.
const maxPathRows = 12

// writeSeqPaths writes, for every sequential gate, its e-process as a
// table of log wealth by round (thinned to maxPathRows rounds, the last
// always shown) with the decision line log(1/α).
func (a *Analysis) writeSeqPaths(m *mdWriter) {
	for _, g := range a.seqGates() {
		s := g.Sequential
		if len(s.Path) == 0 {
			continue
		}
		m.printf("## E-process: %s\n\n", md(g.Name))
		m.printf("Log wealth of the side betting %s − %s is above %+.3f and of the side betting it is below, after each round; a side decides at log(1/α) = %.2f. Both start at log(1/2) = −0.69.\n\n",
			md(g.Treatment), md(g.Baseline), s.Bound, float64(s.Threshold))
		var rows [][]string
		for _, i := range pathRows(len(s.Path)) {
			p := s.Path[i]
			rows = append(rows, []string{fmt.Sprint(p.Round), fmtNum(p.Above, "%.3f"), fmtNum(p.Below, "%.3f"), wealthBar(float64(p.Above), float64(p.Below), float64(s.Threshold))})
		}
		m.table([]string{"round", "log wealth above", "log wealth below", "toward log(1/α) (▮ above, ▯ below)"}, rows)
	}
}

// pathRows picks at most maxPathRows of n rounds, evenly spread, the
// first and last included.
func pathRows(n int) []int {
	if n <= maxPathRows {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, 0, maxPathRows)
	for k := range maxPathRows {
		i := int(math.Round(float64(k) * float64(n-1) / float64(maxPathRows-1)))
		if len(out) == 0 || out[len(out)-1] != i {
			out = append(out, i)
		}
	}
	return out
}

// wealthBar draws how far the larger side has come from log(1/2) to the
// threshold, in 20 cells.
func wealthBar(above, below, thr float64) string {
	v, cell := above, "▮"
	if below > above {
		v, cell = below, "▯"
	}
	f := (v + math.Ln2) / (thr + math.Ln2)
	n := int(math.Round(20 * math.Max(0, math.Min(1, f))))
	return strings.Repeat(cell, n) + strings.Repeat("·", 20-n)
}

// seqRows formats the sequential gates and the stop-for-width rules for
// the HTML report's tables.
func (a *Analysis) seqRows() (gates, rates [][]string) {
	for _, g := range a.seqGates() {
		s := g.Sequential
		gates = append(gates, []string{g.Name, strings.ToUpper(s.Status), seqRound(s.Round, s.MaxRounds, s.Waiting),
			fmt.Sprintf("%s / %s (%s)", thousands(s.Samples), thousands(s.FixedSamples), pctOf(s.Samples, s.FixedSamples)),
			thousands(s.Drawn), fmtDiff(s.Mean), fmt.Sprintf("%s / %s", fmtNum(s.LogWealthAbove, "%.2f"), fmtNum(s.LogWealthBelow, "%.2f")),
			fmtNum(s.Threshold, "%.2f")})
	}
	for _, r := range a.RateSequences {
		rates = append(rates, []string{r.Probe + " / " + r.Target, r.Role, strings.ToUpper(r.Status), seqRound(r.Round, r.MaxRounds, r.Waiting),
			fmt.Sprintf("%s / %s (%s)", thousands(r.Samples), thousands(r.FixedSamples), pctOf(r.Samples, r.FixedSamples)),
			fmtRate(r.Rate), fmtCI(r.CI), fmt.Sprintf("%s / %g", fmtNum(Num(float64(r.CI.High)-float64(r.CI.Low)), "%.4f"), r.Width)})
	}
	return gates, rates
}
