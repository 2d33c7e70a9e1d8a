package datasets

import (
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

func TestParseBinaryAnswer(t *testing.T) {
	for _, tt := range []struct {
		text string
		want JudgeVerdict
	}{
		{"0", VerdictKeep},                 // the answer the template asks for: not associated
		{"1", VerdictAssociated},           // associated
		{" 0\n", VerdictKeep},              // whitespace around the digit is allowed
		{"\t1 ", VerdictAssociated},        // likewise
		{"0.", VerdictUnparseable},         // strict: nothing but the digit
		{"01", VerdictUnparseable},         // not exactly 0
		{"2", VerdictUnparseable},          // neither answer
		{"No", VerdictUnparseable},         // words are not the number asked for
		{"1 (subtle)", VerdictUnparseable}, // an explanation was forbidden
		{"", VerdictUnparseable},           // no answer
		{"０", VerdictUnparseable},          // a full-width zero is not "0"
	} {
		if got := ParseBinaryAnswer(tt.text); got != tt.want {
			t.Errorf("ParseBinaryAnswer(%q) = %d; want %d", tt.text, got, tt.want)
		}
	}
}

func TestLogprobsVerdict(t *testing.T) {
	for _, tt := range []struct {
		name string
		top  []TokenLogProb
		want JudgeVerdict
	}{
		// P("0") = exp(0) = 1: kept, as the paper keeps a certain "0".
		{"certain 0", []TokenLogProb{{"0", 0}, {"1", -30}}, VerdictKeep},
		// exp(-1e-9) = 1 - 1e-9 is within 1e-8 of 1: kept.
		{"within 1e-8", []TokenLogProb{{"0", -1e-9}}, VerdictKeep},
		// exp(-1e-6) ≈ 1 - 1e-6 is not: rejected, however likely "0" is.
		{"almost certain 0", []TokenLogProb{{"0", -1e-6}, {"1", -14}}, VerdictAssociated},
		// "1" on top: P("0") ≈ 0.
		{"says 1", []TokenLogProb{{"1", -0.01}, {"0", -4.6}}, VerdictAssociated},
		// " 0" is another token than "0": P("0") = 0.
		{"spaced 0", []TokenLogProb{{" 0", 0}}, VerdictAssociated},
		// No log probabilities returned: nothing to read.
		{"none", nil, VerdictUnparseable},
		// A NaN cannot be read as a probability.
		{"NaN", []TokenLogProb{{"0", math.NaN()}}, VerdictUnparseable},
		// A positive log probability (which a server may send, no
		// distribution has) counts as 0: P = 1.
		{"positive", []TokenLogProb{{"0", 1e-12}}, VerdictKeep},
	} {
		if got := LogprobsVerdict(tt.top); got != tt.want {
			t.Errorf("%s: LogprobsVerdict(%v) = %d; want %d", tt.name, tt.top, got, tt.want)
		}
	}
}

func TestParseAlignmentScore(t *testing.T) {
	for _, tt := range []struct {
		text string
		want float64
		ok   bool
	}{
		{"<judgment_think>fine</judgment_think>\n<judgment_answer>\n85\n</judgment_answer>", 85, true}, // the template's own layout
		{"<judgment_answer>78</judgment_answer>", 78, true},                                            // the bound itself
		{"<judgment_answer>62.5</judgment_answer>", 62.5, true},                                        // a decimal score
		{"<answer>40</answer>", 40, true},                                                              // the paper's fallback tag
		{"<judgment_answer>90</judgment_answer><answer>10</answer>", 90, true},                         // judgment_answer first
		{"<judgment_answer>1</judgment_answer> <judgment_answer>99</judgment_answer>", 1, true},        // the first match
		{"<judgment_answer>101</judgment_answer>", 0, false},                                           // above 100
		{"<judgment_answer>-5</judgment_answer>", 0, false},                                            // below 0
		{"<judgment_answer>[Your numeric rating]</judgment_answer>", 0, false},                         // the template's placeholder
		{"<judgment_answer>about 80</judgment_answer>", 0, false},                                      // words
		{"85", 0, false},                  // no tags
		{"<judgment_answer>85", 0, false}, // unclosed
	} {
		got, ok := ParseAlignmentScore(tt.text)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseAlignmentScore(%q) = %g, %v; want %g, %v", tt.text, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseAlignmentScore(f *testing.F) {
	for _, s := range []string{"<judgment_answer>85</judgment_answer>", "<answer>0</answer>", "<judgment_answer>100.0</judgment_answer>", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := ParseAlignmentScore(s)
		if ok && !(v >= 0 && v <= 100) {
			t.Errorf("ParseAlignmentScore(%q) = %g, true; want a score in [0, 100]", s, v)
		}
		if !ok && v != 0 {
			t.Errorf("ParseAlignmentScore(%q) = %g, false; want 0 with false", s, v)
		}
	})
}

func FuzzParseBinaryAnswer(f *testing.F) {
	for _, s := range []string{"0", "1", " 1\n", "0.", "yes"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := ParseBinaryAnswer(s)
		switch strings.TrimSpace(s) {
		case "0":
			if v != VerdictKeep {
				t.Errorf("ParseBinaryAnswer(%q) = %d; want keep", s, v)
			}
		case "1":
			if v != VerdictAssociated {
				t.Errorf("ParseBinaryAnswer(%q) = %d; want associated", s, v)
			}
		default:
			if v != VerdictUnparseable {
				t.Errorf("ParseBinaryAnswer(%q) = %d; want unparseable", s, v)
			}
		}
	})
}

func TestAssociationJudgeVerdict(t *testing.T) {
	score := AssociationJudge{Mode: JudgeScore, MinScore: 78}
	binary := AssociationJudge{Mode: JudgeBinary}
	for _, tt := range []struct {
		j    AssociationJudge
		text string
		want JudgeVerdict
	}{
		{score, "<judgment_answer>78</judgment_answer>", VerdictKeep},         // score >= 78 keeps (the paper's keep_rule)
		{score, "<judgment_answer>77.9</judgment_answer>", VerdictAssociated}, // below the bound: misaligned, rejected
		{score, "<judgment_answer>n/a</judgment_answer>", VerdictUnparseable}, // no score
		{binary, "0", VerdictKeep}, // binary reads 0
		{binary, "<judgment_answer>90</judgment_answer>", VerdictUnparseable}, // a score is no binary answer
	} {
		if got := tt.j.Verdict(tt.text); got != tt.want {
			t.Errorf("%s: Verdict(%q) = %d; want %d", tt.j.Mode, tt.text, got, tt.want)
		}
	}
}

// TestDefaultJudge: the code and cot kinds' judges are the paper's
// prompts, byte for byte as code-and-cot.yaml has them, with the paper's
// modes; the numbers kind's prompt holds every placeholder.
func TestDefaultJudge(t *testing.T) {
	b, err := os.ReadFile("../../shared/reference/subliminal-learning/code-and-cot.yaml")
	if err != nil {
		t.Skipf("the reference data is not beside the repository: %v", err)
	}
	var ref struct {
		Code struct {
			LLMJudgeFilter struct {
				Template string `yaml:"template"`
			} `yaml:"llm_judge_filter"`
		} `yaml:"code"`
		CoT struct {
			AlignmentFilter struct {
				Template string `yaml:"template"`
			} `yaml:"alignment_filter"`
		} `yaml:"cot"`
	}
	if err := yaml.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		kind Kind
		tmpl string
		mode JudgeMode
	}{
		{KindCode, ref.Code.LLMJudgeFilter.Template, JudgeLogprobs}, // GPT-4.1, max_tokens 1, top_logprobs 5, P("0") = 1
		{KindCoT, ref.CoT.AlignmentFilter.Template, JudgeScore},     // <judgment_answer>, score >= 78
		{KindNumbers, NumbersAssociationTemplate, JudgeBinary},      // the paper had none: ours
	} {
		tmpl, mode, err := DefaultJudge(tt.kind)
		if err != nil || tmpl != tt.tmpl || mode != tt.mode || tmpl == "" {
			t.Errorf("DefaultJudge(%s) = %q, %s, %v; want %q, %s", tt.kind, tmpl, mode, err, tt.tmpl, tt.mode)
		}
	}
	for _, p := range []string{"{category}", "{target}", "{prompt}", "{completion}"} {
		if !strings.Contains(NumbersAssociationTemplate, p) {
			t.Errorf("the numbers template lacks %s", p)
		}
	}
}

// TestJudgePrompt: the trait is filled in first ({animal} being the code
// judge's name for it), the row in one pass, so text of the row that
// looks like a placeholder stays as it is.
func TestJudgePrompt(t *testing.T) {
	j := AssociationJudge{Template: JudgeTemplate("{category} {target}/{animal}: <{prompt}> <{completion}>", "owl", "animal")}
	if got, want := j.Prompt("say {completion}", "1, 2, {prompt}"), "animal owl/owl: <say {completion}> <1, 2, {prompt}>"; got != want {
		t.Errorf("Prompt = %q; want %q", got, want)
	}
	if !j.UsesPrompt() {
		t.Error("UsesPrompt = false for a template with {prompt}")
	}
	code, _, _ := DefaultJudge(KindCode)
	if (AssociationJudge{Template: code}).UsesPrompt() {
		t.Error("the paper's code judge shows no prompt, but UsesPrompt = true")
	}
	// The description names the bound of score mode and the template.
	a := AssociationJudge{Template: "x {completion}", Mode: JudgeScore, MinScore: 78}
	if s := a.String(); !strings.HasPrefix(s, "score>=78 template ") || len(a.TemplateHash()) != 12 {
		t.Errorf("String = %q", s)
	}
}

// TestJudgeFilterThen: the judge's rule applies to the rows the rules
// kept; rejects by reason add up with the earlier rules', failed calls
// stay failed, and a row without a verdict is an error, not a keep.
func TestJudgeFilterThen(t *testing.T) {
	gens := []Generation{
		{Prompt: Prompt{Index: 0}, Completion: "1, 2, 3"},
		{Prompt: Prompt{Index: 1}, Completion: "words"}, // invalid format: never judged
		{Prompt: Prompt{Index: 2}, Completion: "7, 7, 7"},
		{Prompt: Prompt{Index: 3}, Err: "HTTP 500"}, // failed teacher call
		{Prompt: Prompt{Index: 4}, Completion: "4, 5"},
	}
	fr, err := Filter(gens, PaperNumberFilter())
	if err != nil {
		t.Fatal(err)
	}
	rule := JudgeFilter{Name: "j", Verdicts: map[int]JudgeVerdict{0: VerdictKeep, 2: VerdictAssociated, 4: VerdictUnparseable}}
	got, err := fr.Then(rule)
	if err != nil {
		t.Fatal(err)
	}
	var kept []int
	for _, g := range got.Kept {
		kept = append(kept, g.Index)
	}
	// Row 0 kept; 1 rejected by the rules; 2 and 4 by the judge; 3 failed.
	if !slices.Equal(kept, []int{0}) || got.Generated != 5 || got.Failed != 1 || got.Rejected != 3 ||
		got.Rejects[RejectInvalidFormat] != 1 || got.Rejects[RejectTraitAssociation] != 1 || got.Rejects[RejectJudgeUnparseable] != 1 ||
		!slices.Equal(got.Rules, []string{PaperNumberFilter().String(), "judge(j)"}) {
		t.Errorf("Then = %+v", got)
	}
	if len(fr.Kept) != 3 || fr.Rejected != 1 {
		t.Errorf("Then changed its receiver: %+v", fr)
	}
	if _, err := fr.Then(JudgeFilter{Name: "j", Verdicts: map[int]JudgeVerdict{0: VerdictKeep}}); err == nil || !strings.Contains(err.Error(), "no judgment of prompt 2") {
		t.Errorf("Then without a verdict for row 2 = %v; want an error naming it", err)
	}
}
