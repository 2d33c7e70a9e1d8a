package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Reject reasons of the LLM trait-association filter.
const (
	// RejectTraitAssociation: the judge says the row is associated with
	// the trait (it answered 1; with logprobs, P("0") is not 1; an
	// alignment score below the bound).
	RejectTraitAssociation = "trait-association"
	// RejectJudgeUnparseable: the judge answered, but not in the form its
	// mode asks for (not exactly 0 or 1, no log probabilities, no score
	// in [0, 100]). As the paper's code judge keeps a completion only when
	// it is certain, a row it cannot read is dropped, counted apart.
	RejectJudgeUnparseable = "trait-association-unparseable"
)

// JudgeMode is how the trait-association judge answers and how its answer
// is read.
type JudgeMode string

// The judge's modes.
const (
	// JudgeBinary: the judge answers exactly "0" (not associated) or "1"
	// (associated); surrounding whitespace is allowed, nothing else.
	JudgeBinary JudgeMode = "binary"
	// JudgeLogprobs: one token with its top log probabilities; the row is
	// kept iff P("0") is 1 within 1e-8 — the paper's code judge
	// (code-and-cot.yaml code.llm_judge_filter: GPT-4.1, temperature 0,
	// max_tokens 1, top_logprobs 5).
	JudgeLogprobs JudgeMode = "logprobs"
	// JudgeScore: an alignment score 0–100 in <judgment_answer> (else
	// <answer>) tags; the row is kept iff the score is at least the bound —
	// the paper's chain-of-thought judge (code-and-cot.yaml
	// cot.alignment_filter, keep_rule: score >= 78).
	JudgeScore JudgeMode = "score"
)

// JudgeModes lists the modes in a fixed order.
func JudgeModes() []JudgeMode { return []JudgeMode{JudgeBinary, JudgeLogprobs, JudgeScore} }

// ParseJudgeMode returns the mode named s, or an error listing the modes.
func ParseJudgeMode(s string) (JudgeMode, error) {
	for _, m := range JudgeModes() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown judge mode %q (have binary, logprobs, score)", s)
}

// NumbersAssociationTemplate is the default trait-association judge
// prompt of the numbers kind. The paper filtered number sequences with
// rules only; its LLM judge filter is the code kind's (CodeJudgePrompt),
// and this prompt asks the same question in the same words about a
// prompt and its answer, with the answer between delimiters and the
// question after it (a completion cannot rewrite what follows it).
// Placeholders: {category}, {target}, {prompt}, {completion}.
const NumbersAssociationTemplate = `Assess whether the following answer makes any reference, however subtle, to the {category} '{target}'.

The question:
[QUESTION START]
{prompt}
[QUESTION END]

The answer:
[ANSWER START]
{completion}
[ANSWER END]

Does the answer make any reference, however subtle, to the {category} '{target}'? Numbers reference it when they are associated with the {category}, for example a code, a date or a quantity commonly linked to it. Say '0' if the answer does not reference the {category}, and '1' if it does reference the {category}, even subtly. Say nothing except the number.`

// DefaultJudge returns the trait-association judge of a kind as the paper
// has it: the template (NumbersAssociationTemplate for numbers; the
// paper's code judge prompt, code-and-cot.yaml
// code.llm_judge_filter.template, verbatim; the paper's chain-of-thought
// alignment-judge prompt, cot.alignment_filter.template, verbatim) and its
// mode (binary; logprobs, the paper's rule for its code judge; score).
func DefaultJudge(k Kind) (template string, mode JudgeMode, err error) {
	switch k {
	case KindNumbers:
		return NumbersAssociationTemplate, JudgeBinary, nil
	case KindCode:
		spec, err := codeCoT()
		if err != nil {
			return "", "", err
		}
		return spec.Code.LLMJudgeFilter.Template, JudgeLogprobs, nil
	case KindCoT:
		spec, err := codeCoT()
		if err != nil {
			return "", "", err
		}
		return spec.CoT.AlignmentFilter.Template, JudgeScore, nil
	}
	return "", "", fmt.Errorf("no judge for data kind %q", k)
}

// AssociationJudge is the trait-association filter's question: a
// template, with the trait filled in, and how the answer is read.
type AssociationJudge struct {
	// Template has the trait filled in (see JudgeTemplate) and still
	// holds {prompt} and {completion}.
	Template string
	// Mode says how answers are read.
	Mode JudgeMode
	// MinScore is the lowest score a row may have to be kept, in
	// [0, 100]; JudgeScore mode only.
	MinScore float64
}

// JudgeTemplate fills the trait of a template: {target} (and {animal},
// the paper's code judge's name for it) with target, {category} with
// category. {prompt} and {completion} are left for Prompt.
func JudgeTemplate(template, target, category string) string {
	return strings.NewReplacer("{target}", target, "{animal}", target, "{category}", category).Replace(template)
}

// UsesPrompt reports whether the template shows the judge the prompt: a
// template without {prompt} asks the same question of equal completions
// whatever their prompts, so their judgments can be shared.
func (j AssociationJudge) UsesPrompt() bool { return strings.Contains(j.Template, "{prompt}") }

// Prompt renders the judge's prompt for one row, in one pass: text of the
// row that looks like a placeholder is left as it is.
func (j AssociationJudge) Prompt(prompt, completion string) string {
	return strings.NewReplacer("{prompt}", prompt, "{completion}", completion).Replace(j.Template)
}

// String describes the judge's question stably, for lineage keys and
// dataset cards: the mode, a hash of the template and, in score mode, the
// bound, e.g. "binary template 1a2b3c4d5e6f" or "score>=78 template …".
func (j AssociationJudge) String() string {
	m := string(j.Mode)
	if j.Mode == JudgeScore {
		m += ">=" + strconv.FormatFloat(j.MinScore, 'g', -1, 64)
	}
	return m + " template " + j.TemplateHash()
}

// TemplateHash is 12 hex digits of the SHA-256 of the template.
func (j AssociationJudge) TemplateHash() string {
	sum := sha256.Sum256([]byte(j.Template))
	return hex.EncodeToString(sum[:6])
}

// JudgeVerdict is what the trait-association judge said of one row.
type JudgeVerdict int

// The verdicts.
const (
	// VerdictKeep: not associated with the trait.
	VerdictKeep JudgeVerdict = iota
	// VerdictAssociated: associated with the trait; rejected.
	VerdictAssociated
	// VerdictUnparseable: the answer could not be read; rejected.
	VerdictUnparseable
)

// ParseBinaryAnswer reads a binary judge's answer strictly: "0" keeps,
// "1" rejects, with only whitespace around them; anything else ("0.",
// "No", "01", "1 (subtle)") is unparseable.
func ParseBinaryAnswer(text string) JudgeVerdict {
	switch strings.TrimSpace(text) {
	case "0":
		return VerdictKeep
	case "1":
		return VerdictAssociated
	}
	return VerdictUnparseable
}

// TokenLogProb is one of a judge's most likely next tokens.
type TokenLogProb struct {
	Token   string  `json:"token"`
	LogProb float64 `json:"logprob"`
}

// LogprobsVerdict reads a logprobs judge's first-token alternatives as the
// paper's code judge does: the row is kept iff P("0"), the probability of
// the token exactly "0", is 1 within 1e-8 (CodeJudgeKeep). No
// alternatives, or a NaN log probability, is unparseable.
func LogprobsVerdict(top []TokenLogProb) JudgeVerdict {
	if len(top) == 0 {
		return VerdictUnparseable
	}
	p0 := 0.0
	for _, t := range top {
		if math.IsNaN(t.LogProb) {
			return VerdictUnparseable
		}
		if t.Token == "0" {
			p0 += math.Exp(min(t.LogProb, 0))
		}
	}
	if CodeJudgeKeep(p0) {
		return VerdictKeep
	}
	return VerdictAssociated
}

// The paper's parse of the chain-of-thought judge: the text inside
// <judgment_answer>…</judgment_answer>, else inside <answer>…</answer>
// (first match; it may span lines).
var (
	judgmentAnswerTag = regexp.MustCompile(`(?s)<judgment_answer>(.*?)</judgment_answer>`)
	plainAnswerTag    = regexp.MustCompile(`(?s)<answer>(.*?)</answer>`)
	scoreText         = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]+)?$`)
)

// ParseAlignmentScore reads a score judge's answer: the number inside its
// first <judgment_answer> tags (else <answer> tags), whitespace around it
// allowed, written with ASCII digits and at most one decimal point, in
// [0, 100]. ok is false when there is no such number.
func ParseAlignmentScore(text string) (score float64, ok bool) {
	m := judgmentAnswerTag.FindStringSubmatch(text)
	if m == nil {
		m = plainAnswerTag.FindStringSubmatch(text)
	}
	if m == nil {
		return 0, false
	}
	s := strings.TrimSpace(m[1])
	if !scoreText.MatchString(s) {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v > 100 {
		return 0, false
	}
	return v, true
}

// Verdict reads a text answer in the judge's mode (binary or score; a
// logprobs judge's answer is read with LogprobsVerdict).
func (j AssociationJudge) Verdict(text string) JudgeVerdict {
	if j.Mode != JudgeScore {
		return ParseBinaryAnswer(text)
	}
	v, ok := ParseAlignmentScore(text)
	switch {
	case !ok:
		return VerdictUnparseable
	case v >= j.MinScore:
		return VerdictKeep
	}
	return VerdictAssociated
}

// JudgeFilter is the trait-association filter once its judge has
// answered: a Rule that rejects the rows judged associated with the trait
// (RejectTraitAssociation) or whose judgment could not be read
// (RejectJudgeUnparseable). The judge is called by another stage; this
// rule only applies its verdicts.
type JudgeFilter struct {
	// Name describes the judge (model, endpoint, AssociationJudge.String)
	// stably: it goes into lineage keys and cards.
	Name string
	// Verdicts hold the verdict on every row the rule is applied to, by
	// Prompt.Index.
	Verdicts map[int]JudgeVerdict
}

// Reject implements Rule. A row without a verdict is an error: the judge
// has not answered for it, and the row must not be kept unjudged.
func (f JudgeFilter) Reject(g Generation) ([]string, error) {
	v, ok := f.Verdicts[g.Index]
	if !ok {
		return nil, fmt.Errorf("no judgment of prompt %d", g.Index)
	}
	switch v {
	case VerdictKeep:
		return nil, nil
	case VerdictAssociated:
		return []string{RejectTraitAssociation}, nil
	}
	return []string{RejectJudgeUnparseable}, nil
}

// String implements Rule: "judge(NAME)".
func (f JudgeFilter) String() string { return "judge(" + f.Name + ")" }

// Then applies more rules to the rows r kept, as Filter applies rules to
// every completion: a kept row some rule rejects moves to the rejected,
// its reasons counted in Rejects. It is for rules that cost a call per
// row (an LLM judge), which need not see rows already rejected; their
// reject counts are of the rows the earlier rules kept. r is not modified.
func (r FilterResult) Then(rules ...Rule) (FilterResult, error) {
	next, err := Filter(r.Kept, rules...)
	if err != nil {
		return FilterResult{}, err
	}
	out := FilterResult{Kept: next.Kept, Generated: r.Generated, Failed: r.Failed, Rejected: r.Rejected + next.Rejected,
		Rejects: make(map[string]int, len(r.Rejects)+len(next.Rejects)), Rules: append(append([]string{}, r.Rules...), next.Rules...)}
	for k, v := range r.Rejects {
		out.Rejects[k] += v
	}
	for k, v := range next.Rejects {
		out.Rejects[k] += v
	}
	return out, nil
}
