package suites

import (
	"fmt"
	"testing"
)

// TestJudgeBatchField: a judge takes batch: true, as a model does, from
// its own declaration or the suite's defaults; JudgeInstance resolves it.
func TestJudgeBatchField(t *testing.T) {
	for _, tc := range []struct {
		name     string
		defaults string // the defaults mapping's body
		judge    string // the judge's extra keys
		want     string // *Batch of the resolved judge: nil, true or false
	}{
		// Unset everywhere: the judge is called online.
		{"unset", "", "", "nil"},
		{"on the judge", "", ", batch: true", "true"},
		// The defaults apply to judges too, as every setting does.
		{"from the defaults", "batch: true", "", "true"},
		// The judge's own value wins over the defaults.
		{"judge overrides defaults", "batch: true", ", batch: false", "false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fmt.Sprintf(`name: s
models:
  a: {model: m}
defaults: {%s}
judges:
  j: {model: judge%s}
probes:
  - {id: p, prompts: [x], samples: 1, score: {judge: {}}}
`, tc.defaults, tc.judge)
			s := mustParse(t, src)
			in, ok := s.JudgeInstance("j")
			if !ok {
				t.Fatal("no judge j")
			}
			got := "nil"
			if in.Settings.Batch != nil {
				got = fmt.Sprint(*in.Settings.Batch)
			}
			if got != tc.want {
				t.Errorf("judge j batch = %s; want %s", got, tc.want)
			}
		})
	}
}

// TestJudgeBatchKeepsHash: a suite whose judges do not set batch keeps
// the hash it had before judges could batch, so its runs resume; setting
// it is a change of the suite (its samples are reused, by their keys).
func TestJudgeBatchKeepsHash(t *testing.T) {
	src := `name: s
models:
  a: {model: m}
judges:
  j: {model: judge%s}
probes:
  - {id: p, prompts: [x], samples: 1, score: {judge: {}}}
`
	plain := mustParse(t, fmt.Sprintf(src, ""))
	// The hash of this suite before batch existed (computed on main at
	// 2fd13f6, where Settings.Batch is omitted from the JSON when unset).
	if got, want := plain.Hash(), "fa04d3334b5e6341dbd9da8c22fcce02aa6671e0ffb7aa4f21dd7740e8bdd467"; got != want {
		t.Errorf("hash of a suite without batch = %s; want %s", got, want)
	}
	if batched := mustParse(t, fmt.Sprintf(src, ", batch: true")); batched.Hash() == plain.Hash() {
		t.Error("batch: true on the judge leaves the suite's hash unchanged; want a new hash")
	}
}

func TestJudgeBatchFieldErrors(t *testing.T) {
	for _, tt := range []errorTest{
		{
			// batch is a YAML boolean, as on a model.
			name: "judge batch not a boolean",
			src: `name: s
models:
  a: {model: m}
judges:
  j: {model: judge, batch: sometimes}
probes:
  - {id: p, prompts: [x], samples: 1, score: {judge: {}}}
`,
			pos: "5:28", field: "judges.j.batch", msg: `want true or false, got "sometimes"`,
		},
		{
			name: "judge batch quoted",
			src: `name: s
models:
  a: {model: m}
judges:
  j: {model: judge, batch: "true"}
probes:
  - {id: p, prompts: [x], samples: 1, score: {judge: {}}}
`,
			pos: "5:28", field: "judges.j.batch", msg: `want true or false, got string "true"`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseString(tt.src, tt.sets...)
			checkSuiteError(t, "Parse", err, tt)
		})
	}
}
