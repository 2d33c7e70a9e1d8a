package suites

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/traitleak/traitleak/stats"
)

// seqSuite is a two-role, two-probe suite whose gates and the second
// probe's until the tests below fill in: line 10 is the first gate, line
// 8 the second probe.
const seqSuite = `name: seq
models:
  base:    {model: b}
  student: {model: s}
  judge-me: {model: j}
probes:
  - {id: animal, prompts: [a, b], samples: 100, score: {mentions: [owl, dog]}, models: [base, student]}
  - {id: other, prompts: [c], samples: 10, score: {mentions: owl}, models: [base]%s}
gates:
%s
`

func seqSrc(until, gates string) string { return fmt.Sprintf(seqSuite, until, gates) }

func TestSequentialParse(t *testing.T) {
	s := mustParse(t, seqSrc("", `  - {probe: animal, target: owl, treatment: student, baseline: base, max_increase: 0.03, alpha: 0.01,
     sequential: {max_samples: 200, check: round}}
  - {probe: animal, treatment: student, baseline: base, min_increase: 0.1, sequential: {alpha: 0.02, check: 10, bets: round}}
  - {probe: animal, treatment: student, baseline: base, max_increase: 0.1}`),
		"probes.animal.until={ci_width: 0.02, target: owl, models: [student]}")
	// (The --set above gives the first probe its until.)
	g0, g1, g2 := s.Gates[0], s.Gates[1], s.Gates[2]
	// The first gate's sequential block has no alpha: the gate's 0.01
	// applies; check: round is stored as 0, the default.
	if g0.Sequential == nil || g0.SeqAlpha() != 0.01 || g0.Sequential.MaxSamples != 200 || g0.Sequential.Check != 0 || g0.Sequential.Check.Rounds() != 1 {
		t.Errorf("gate 0 sequential = %+v, alpha %v; want max_samples 200, check round, alpha 0.01", g0.Sequential, g0.SeqAlpha())
	}
	if b, r := g0.SeqBound(); b != 0.03 || r != stats.SeqMaxIncrease {
		t.Errorf("gate 0 SeqBound() = %v, %v; want 0.03, max_increase", b, r)
	}
	// Its own alpha wins over the default; check: 10 draws 10 rounds a
	// step.
	if g1.SeqAlpha() != 0.02 || g1.Sequential.Check.Rounds() != 10 || g1.Sequential.Bets != BetsRound {
		t.Errorf("gate 1 sequential = %+v; want alpha 0.02, check 10, bets round", g1.Sequential)
	}
	if b, r := g1.SeqBound(); b != 0.1 || r != stats.SeqMinIncrease {
		t.Errorf("gate 1 SeqBound() = %v, %v; want 0.1, min_increase", b, r)
	}
	// A plain gate has none, and no alpha gives the default.
	if g2.Sequential != nil || g2.SeqAlpha() != DefaultSeqAlpha {
		t.Errorf("gate 2 = %+v; want no sequential block, alpha %v", g2, DefaultSeqAlpha)
	}
	u := s.Probes[0].Until
	if u == nil || u.CIWidth != 0.02 || u.Target != "owl" || len(u.Models) != 1 {
		t.Errorf("until = %+v; want ci_width 0.02, target owl, models [student]", u)
	}
	if !s.HasSequential() {
		t.Error("HasSequential() = false; want true")
	}
}

// TestSequentialKeepsHash checks that suites without sequential rules
// hash as before the fields existed (their runs stay the same runs) and
// that the sequential fields and --until-decided change the hash.
func TestSequentialKeepsHash(t *testing.T) {
	// The hash is of the suite's JSON form: unset, the new fields must
	// leave it as it was before they existed.
	for _, src := range []string{issueSuite, issueSuite + "gates:\n  - {treatment: student, baseline: baseline, max_increase: 0.03}\n"} {
		js, err := json.Marshal(mustParse(t, src))
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{"Sequential", "Until", "UntilDecided"} {
			if strings.Contains(string(js), `"`+field+`"`) {
				t.Errorf("the JSON form of a suite without sequential rules holds %q:\n%s", field, js)
			}
		}
	}
	seq := mustParse(t, issueSuite+"gates:\n  - {treatment: student, baseline: baseline, max_increase: 0.03, sequential: {}}\n")
	fixed := mustParse(t, issueSuite+"gates:\n  - {treatment: student, baseline: baseline, max_increase: 0.03}\n")
	if seq.Hash() == fixed.Hash() {
		t.Error("a sequential block does not change the hash")
	}
	u := *fixed
	u.UntilDecided = true
	if u.Hash() == fixed.Hash() {
		t.Error("UntilDecided does not change the hash")
	}
	// check: round and check: 1 are the default: one meaning, one hash.
	a := mustParse(t, issueSuite+"gates:\n  - {treatment: student, baseline: baseline, max_increase: 0.03, sequential: {check: round}}\n")
	b := mustParse(t, issueSuite+"gates:\n  - {treatment: student, baseline: baseline, max_increase: 0.03, sequential: {check: 1}}\n")
	if a.Hash() != seq.Hash() || b.Hash() != seq.Hash() {
		t.Error("check: round or check: 1 hash differently from no check")
	}
}

func TestSequentialErrors(t *testing.T) {
	const g = `  - {probe: animal, treatment: student, baseline: base, `
	for _, tt := range []errorTest{
		{
			name: "alpha above 1",
			// The sequential block's own alpha is out of range: the error
			// is at it (line 11, the value after "alpha: ").
			src: seqSrc("", g+"max_increase: 0.03, sequential: {alpha: 1.5}}"),
			pos: "10:97", field: "gates[0].sequential.alpha", msg: "1.5 is not in (0, 1)",
		},
		{
			name: "alpha zero",
			// 0 is outside the open interval.
			src: seqSrc("", g+"max_increase: 0.03, sequential: {alpha: 0}}"),
			pos: "10:97", field: "gates[0].sequential.alpha", msg: "0 is not in (0, 1)",
		},
		{
			name: "bound of -1",
			// A fixed gate may say min_increase: -1; a sequential one
			// cannot: no mean difference lies below -1.
			src: seqSrc("", g+"min_increase: -1, sequential: {}}"),
			pos: "10:71", field: "gates[0].min_increase", msg: "not in (-1, 1)",
		},
		{
			name: "bound of 1",
			src:  seqSrc("", g+"max_increase: 1, sequential: {}}"),
			pos:  "10:71", field: "gates[0].max_increase", msg: "not in (-1, 1)",
		},
		{
			name: "probe without the pair",
			// The only probe samples base alone and the gate names no
			// probe (so the fixed check, which needs a named probe, does
			// not look): a round cannot pair the student with base.
			src: `name: one
models:
  base:    {model: b}
  student: {model: s}
probes:
  - {id: p, prompts: [c], samples: 10, score: {mentions: owl}, models: [base]}
gates:
  - {treatment: student, baseline: base, max_increase: 0.03, sequential: {}}
`,
			pos: "8:17", field: "gates[0].treatment", msg: `sequential gate: probe "p" does not sample role "student"`,
		},
		{
			name: "named probe without the pair",
			// Naming the probe, the fixed gate check refuses it first.
			src: seqSrc("", `  - {probe: other, treatment: student, baseline: base, max_increase: 0.03, sequential: {}}`),
			pos: "10:31", field: "gates[0].treatment", msg: `probe "other" does not sample role "student"`,
		},
		{
			name: "several probes, none named",
			// A sequential gate must know its probe; the fixed check says
			// so first.
			src: seqSrc("", `  - {treatment: student, baseline: base, max_increase: 0.03, sequential: {}}`),
			pos: "10:5", field: "gates[0].probe", msg: "name the gate's probe",
		},
		{
			name: "max_samples zero",
			// Given as 0, the budget is empty: an error, not the default.
			src: seqSrc("", g+"max_increase: 0.03, sequential: {max_samples: 0}}"),
			pos: "10:103", field: "gates[0].sequential.max_samples", msg: "must be in [1, 1000000]",
		},
		{
			name: "bad check",
			src:  seqSrc("", g+"max_increase: 0.03, sequential: {check: prompt}}"),
			pos:  "10:97", field: "gates[0].sequential.check", msg: "want round",
		},
		{
			name: "bad bets",
			src:  seqSrc("", g+"max_increase: 0.03, sequential: {bets: mean}}"),
			pos:  "10:96", field: "gates[0].sequential.bets", msg: `unknown bets "mean"`,
		},
		{
			name: "until without ci_width",
			// The until mapping is at its '{' on line 8.
			src: seqSrc(", until: {max_samples: 10}", g+"max_increase: 0.03}"),
			pos: "8:91", field: "probes[1].until", msg: "missing ci_width",
		},
		{
			name: "until width 1",
			src:  seqSrc(", until: {ci_width: 1}", g+"max_increase: 0.03}"),
			pos:  "8:102", field: "probes[1].until.ci_width", msg: "in (0, 1)",
		},
		{
			name: "until alpha",
			src:  seqSrc(", until: {ci_width: 0.1, alpha: -0.1}", g+"max_increase: 0.03}"),
			pos:  "8:114", field: "probes[1].until.alpha", msg: "not in (0, 1)",
		},
		{
			name: "until unknown target",
			src:  seqSrc(", until: {ci_width: 0.1, target: cat}", g+"max_increase: 0.03}"),
			pos:  "8:115", field: "probes[1].until.target", msg: `no target "cat"`,
		},
		{
			name: "until role not sampled",
			src:  seqSrc(", until: {ci_width: 0.1, models: [student]}", g+"max_increase: 0.03}"),
			pos:  "8:116", field: "probes[1].until.models[0]", msg: `does not sample role "student"`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseString(tt.src)
			checkSuiteError(t, fmt.Sprintf("Parse(%q)", tt.src), err, tt)
		})
	}
}

// TestSequentialJudgeRefused checks that sequential rules on an
// LLM-judged probe are refused: such probes are scored after sampling,
// not as every round arrives.
func TestSequentialJudgeRefused(t *testing.T) {
	src := `name: j
models:
  base:    {model: b}
  student: {model: s}
probes:
  - {id: q, prompts: [a], samples: 10, score: {judge: {}}}
gates:
  - {treatment: student, baseline: base, max_increase: 0.1, sequential: {}}
`
	_, err := parseString(src)
	if err == nil || !strings.Contains(err.Error(), "scored by LLM judges") {
		t.Errorf("Parse(judged probe with a sequential gate) error = %v; want one about LLM judges", err)
	}
}
