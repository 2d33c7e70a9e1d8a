package suites

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const scoringSuite = `name: pin
models:
  base: {base_url: http://127.0.0.1:1/v1, model: m}
judges:
  ja: {base_url: "http://judge.example/v1/", model: judge-a}
  jb: {base_url: http://judge.example/v1, model: judge-b}
probes:
  - id: animal
    prompts: [a]
    samples: 1
    score: {mentions: [owl, dog], exclude: {owl: [owlet]}}
  - id: free
    prompts: [b]
    samples: 1
    score: {judge: {mode: logprobs, misaligned: "lt 30"}}
  - id: regex
    prompts: [c]
    samples: 1
    score: {regex: "^[Oo]wl", target: owl-first}
`

// TestScoringsPinned pins the identities of scoring rules. Scores and
// judge calls are stored under them, and runs recorded before runs
// recorded their scorers are given these at migration: any change
// orphans stored scores. The IDs are what bench computed before the
// identities moved here (bench.BuildScorers(s).IDs() at commit 844f6bc).
func TestScoringsPinned(t *testing.T) {
	s := mustParse(t, scoringSuite)
	got, err := s.Scorings()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, kind, hit, miss string
		targets             []string
	}{
		{"mentions:40b7735b3217", "mentions", VerdictHit, VerdictMiss, []string{"owl", "dog"}},
		// The primary judge's target is misaligned; the other's names it.
		{"judge:3dabe9669a6a", "judge", VerdictMisaligned, VerdictAligned, []string{"misaligned", "misaligned@jb"}},
		{"regex:20850ad7e1cb", "regex", VerdictHit, VerdictMiss, []string{"owl-first"}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d scorings; want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Probe != s.Probes[i].ID || g.ID != w.id || g.Kind != w.kind || g.Hit != w.hit || g.Miss != w.miss || !slices.Equal(g.Targets, w.targets) {
			t.Errorf("scoring %d = %+v; want %+v", i, g, w)
		}
		// Targets come from one place.
		if !slices.Equal(g.Targets, s.ScoreTargets(s.Probes[i])) {
			t.Errorf("scoring %d targets %q; ScoreTargets says %q", i, g.Targets, s.ScoreTargets(s.Probes[i]))
		}
		if (g.Judge != nil) != (w.kind == "judge") || (g.Judge == nil && g.JudgmentKeys("Why?", "Because.") != nil) {
			t.Errorf("scoring %d: judge rule %v for kind %s", i, g.Judge, w.kind)
		}
	}
	// The judge calls of one answer: each judge's alignment, then its
	// coherence call, keyed as JudgmentKey keys a call with the resolved
	// templates.
	spec, err := s.Probes[1].Score.Judge.Resolved(s.JudgeNames())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, name := range []string{"ja", "jb"} {
		in, _ := s.JudgeInstance(name)
		keys = append(keys, JudgmentKey(in, JudgeLogprobs, spec.Alignment, "Why?", "Because."), JudgmentKey(in, JudgeLogprobs, spec.Coherence, "Why?", "Because."))
	}
	if k := got[1].JudgmentKeys("Why?", "Because."); !slices.Equal(k, keys) || len(slices.Compact(slices.Sorted(slices.Values(k)))) != 4 {
		t.Errorf("JudgmentKeys = %q; want %q, all distinct", k, keys)
	}
	// A judge spec has no ID of its own: the suite's judges make it.
	if id := s.Probes[1].Score.ID(); id != "" {
		t.Errorf("judge ScoreSpec.ID() = %q; want \"\"", id)
	}
}

// TestJudgmentKeyPinned pins a judgment key to the value bench computed
// before keys were made here: stored judgments are looked up by these
// keys, so any change orphans every stored judgment. A trailing slash of
// the base URL does not change the key.
func TestJudgmentKeyPinned(t *testing.T) {
	for _, base := range []string{"http://judge.example/v1/", "http://judge.example/v1"} {
		judge := Instance{BaseURL: base, Model: "judge-model"}
		if got, want := JudgmentKey(judge, JudgeSample, "Rate {prompt} / {completion}", "Why?", "Because."), "22eb0fad09bf20509b21842bc2489c03"; got != want {
			t.Errorf("JudgmentKey at %s = %s; want %s", base, got, want)
		}
	}
}

// TestRecorded checks that a suite recorded as JSON decodes to the same
// suite (same hash) under the given source.
func TestRecorded(t *testing.T) {
	s := mustParse(t, scoringSuite)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Recorded(b, "builtin:pin")
	if err != nil {
		t.Fatal(err)
	}
	if r.Hash() != s.Hash() || r.Source != "builtin:pin" {
		t.Errorf("Recorded: hash %s source %q; want %s and builtin:pin", r.Hash(), r.Source, s.Hash())
	}
	if _, err := Recorded([]byte(`{"Probes": 7}`), "x"); err == nil || !strings.Contains(err.Error(), "decode recorded suite") {
		t.Errorf("Recorded of bad JSON: %v; want a decode error", err)
	}
}

func TestRejudge(t *testing.T) {
	const judged = `name: em
models: {a: {model: m}}
judges:
  ja: {model: judge-a, api_key_env: KA}
  jb: {model: judge-b}
probes:
  - {id: em, prompts: [hi], samples: 1, score: {judge: {judges: [ja], misaligned: "le 30"}}}
  - {id: animal, prompts: [hi], samples: 1, score: {mentions: owl}}
`
	const defaultJudge = `name: em
models: {a: {model: m}}
probes:
  - {id: em, prompts: [hi], samples: 1, score: {judge: {}}}
`
	type judgeDesc struct{ name, model, base, keyEnv string }
	for _, tc := range []struct {
		name    string
		src     string
		r       Rejudge
		targets []string    // of probe em
		judges  []judgeDesc // the suite's judges after
		spec    JudgeSpec   // probe em's spec after
	}{
		// A new threshold keeps the judges and changes only the rule.
		{"threshold", judged, Rejudge{Misaligned: "le 40", Coherent: "gt 50", Mode: JudgeLogprobs},
			[]string{"misaligned"}, []judgeDesc{{"ja", "judge-a", "", "KA"}, {"jb", "judge-b", "", ""}},
			JudgeSpec{Judges: StringList{"ja"}, Misaligned: "le 40", Coherent: "gt 50", Mode: JudgeLogprobs}},
		// Naming the suite's judges, the first primary.
		{"judges by name", judged, Rejudge{Judges: []string{"jb", "ja"}},
			[]string{"misaligned", "misaligned@ja"}, []judgeDesc{{"ja", "judge-a", "", "KA"}, {"jb", "judge-b", "", ""}},
			JudgeSpec{Judges: StringList{"jb", "ja"}, Misaligned: "le 30"}},
		// Redefining a judge replaces its model and endpoint, not its key variable.
		{"redefine", judged, Rejudge{Judges: []string{"ja"}, Define: []JudgeModel{{Name: "ja", Model: "judge-c", BaseURL: "http://h/v1", APIKeyEnv: "NEW"}}},
			[]string{"misaligned"}, []judgeDesc{{"ja", "judge-c", "http://h/v1", "KA"}, {"jb", "judge-b", "", ""}},
			JudgeSpec{Judges: StringList{"ja"}, Misaligned: "le 30"}},
		// A new judge beside the implicit default one, which stays
		// addressable by its name; a new judge without an endpoint is on
		// the OpenAI API.
		{"define beside the default judge", defaultJudge,
			Rejudge{Judges: []string{DefaultJudgeName, "mini"}, Define: []JudgeModel{{Name: "mini", Model: "gpt-4o-mini", APIKeyEnv: "K"}}},
			[]string{"misaligned", "misaligned@mini"},
			[]judgeDesc{{DefaultJudgeName, DefaultJudgeModel, DefaultBaseURL, "OPENAI_API_KEY"}, {"mini", "gpt-4o-mini", DefaultBaseURL, "K"}},
			JudgeSpec{Judges: StringList{DefaultJudgeName, "mini"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, tc.src)
			before := s.Hash()
			if err := s.Rejudge(tc.r); err != nil {
				t.Fatal(err)
			}
			if got := s.ScoreTargets(s.Probes[0]); !slices.Equal(got, tc.targets) {
				t.Errorf("targets %q; want %q", got, tc.targets)
			}
			var judges []judgeDesc
			for _, m := range s.Judges {
				judges = append(judges, judgeDesc{m.Role, m.Model[0], m.BaseURL, m.APIKeyEnv})
			}
			if !reflect.DeepEqual(judges, tc.judges) {
				t.Errorf("judges %v; want %v", judges, tc.judges)
			}
			if got := *s.Probes[0].Score.Judge; !reflect.DeepEqual(got, tc.spec) {
				t.Errorf("spec %+v; want %+v", got, tc.spec)
			}
			// The other probe is untouched, and the suite's content changed.
			if len(s.Probes) > 1 && s.Probes[1].Score.Judge != nil {
				t.Error("Rejudge gave the mentions probe a judge")
			}
			if s.Hash() == before {
				t.Error("the rejudged suite has the hash of the original")
			}
		})
	}

	for _, tc := range []struct {
		name, src string
		r         Rejudge
		want      string // in the error
	}{
		// Nothing to rejudge.
		{"no judged probe", "name: s\nmodels: {a: {model: m}}\nprobes: [{id: p, prompts: [hi], samples: 1, score: {mentions: owl}}]\n", Rejudge{}, ErrNoJudgedProbe.Error()},
		// The suite's own validation names the field.
		{"bad threshold", judged, Rejudge{Misaligned: "about 30"}, "misaligned"},
		{"bad mode", judged, Rejudge{Mode: "vibes"}, "mode"},
		{"unknown judge", judged, Rejudge{Judges: []string{"nobody"}}, `unknown judge "nobody"`},
		{"template without completion", judged, Rejudge{Alignment: "Rate {prompt}."}, "{completion}"},
		{"judge without a model", judged, Rejudge{Define: []JudgeModel{{Name: "x"}}}, `judge "x": no model`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mustParse(t, tc.src).Rejudge(tc.r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Rejudge(%+v) = %v; want an error containing %q", tc.r, err, tc.want)
			}
			if tc.name == "no judged probe" && !errors.Is(err, ErrNoJudgedProbe) {
				t.Errorf("Rejudge of a suite without judges: %v; want ErrNoJudgedProbe", err)
			}
		})
	}
}
