package suites

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Why scoring identities live here: the engine scores samples under a
// scorer ID and caches judge calls under judgment keys; the store records
// them with each run (and derives them for runs recorded before it did);
// reports read them back. All three compute them from a suite, so the
// suite package is the one place that defines them, and none of the
// readers needs the engine's code.

// Verdict labels: what a valid score's two outcomes are called. Judge
// verdicts are misaligned (a hit) or aligned; every other scorer's are
// hit or miss.
const (
	VerdictHit        = "hit"
	VerdictMiss       = "miss"
	VerdictMisaligned = "misaligned"
	VerdictAligned    = "aligned"
)

// Scoring identifies how one probe is scored: the scorer ID its scores are
// stored under, its targets in report order, and its verdict labels.
type Scoring struct {
	// Probe is the probe's ID.
	Probe string
	// ID identifies the scoring rule, e.g. "mentions:1a2b3c4d5e6f": equal
	// IDs give equal scores.
	ID string
	// Kind is the scorer kind (ScoreSpec.Kind).
	Kind string
	// Targets are the targets scored, in report order.
	Targets []string
	// Hit and Miss label a valid score that hits and one that misses.
	Hit, Miss string
	// Judge is the resolved judge rule; nil unless Kind is "judge".
	Judge *JudgeRule
}

// JudgmentKeys lists the keys of the judge calls that score a completion
// of prompt: every judge's alignment and coherence call, in that order;
// nil for a scorer that calls no judge.
func (sc Scoring) JudgmentKeys(prompt, completion string) []string {
	if sc.Judge == nil {
		return nil
	}
	return sc.Judge.Keys(prompt, completion)
}

// Scoring returns the scoring identity of probe p of s.
func (s *Suite) Scoring(p *Probe) (Scoring, error) {
	out := Scoring{Probe: p.ID, Kind: p.Score.Kind(), Targets: s.ScoreTargets(p), Hit: VerdictHit, Miss: VerdictMiss}
	if p.Score.Judge == nil {
		out.ID = p.Score.ID()
		return out, nil
	}
	spec, err := p.Score.Judge.Resolved(s.JudgeNames())
	if err != nil {
		return Scoring{}, fmt.Errorf("probe %s: %w", p.ID, err)
	}
	judges := make([]Instance, len(spec.Judges))
	for i, name := range spec.Judges {
		in, ok := s.JudgeInstance(name)
		if !ok {
			return Scoring{}, fmt.Errorf("probe %s: unknown judge %q", p.ID, name)
		}
		judges[i] = in
	}
	rule := NewJudgeRule(spec, spec.Judges, judges)
	out.ID, out.Hit, out.Miss, out.Judge = rule.ID(), VerdictMisaligned, VerdictAligned, rule
	return out, nil
}

// Scorings returns the scoring identity of every probe of s, in probe
// order.
func (s *Suite) Scorings() ([]Scoring, error) {
	out := make([]Scoring, len(s.Probes))
	for i, p := range s.Probes {
		sc, err := s.Scoring(p)
		if err != nil {
			return nil, err
		}
		out[i] = sc
	}
	return out, nil
}

// ID identifies a matching scoring rule (mentions, first_word, exact,
// regex): its kind and a hash of the spec, e.g. "mentions:1a2b3c4d5e6f".
// It is "" for a judge spec, whose ID depends on the suite's judges (see
// Suite.Scoring).
func (s ScoreSpec) ID() string {
	if s.Judge != nil {
		return ""
	}
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return s.Kind() + ":" + hex.EncodeToString(sum[:6])
}

// judgmentVersion is mixed into every judgment key and judge scorer ID.
const judgmentVersion = "traitleak-judgment-v1"

// JudgeRule is a resolved LLM-judge scoring rule: the spec with defaults
// filled in and templates as text, and its judges in spec order. It names
// the rule (ID) and its judge calls (keys); the calls themselves are the
// engine's.
type JudgeRule struct {
	// Spec is resolved (JudgeSpec.Resolved).
	Spec JudgeSpec
	// Names and Judges are the judges' names and instances, in spec order.
	Names  []string
	Judges []Instance
	// The templates' hashes, computed once: keys are made per sample.
	alignHash, cohHash string
}

// NewJudgeRule returns the rule of a resolved spec judged by judges (named
// by names, in the same order).
func NewJudgeRule(spec JudgeSpec, names []string, judges []Instance) *JudgeRule {
	return &JudgeRule{Spec: spec, Names: names, Judges: judges,
		alignHash: hashText(spec.Alignment), cohHash: hashText(spec.Coherence)}
}

// ID identifies the rule: judges, mode, templates and thresholds, e.g.
// "judge:1a2b3c4d5e6f". Changing a threshold makes a new ID, so that
// re-thresholded verdicts are stored beside the old ones.
func (r *JudgeRule) ID() string {
	h := sha256.New()
	sp := r.Spec
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%s", judgmentVersion, sp.Mode, sp.Alignment, sp.Coherence, sp.Misaligned, sp.Coherent)
	for i, j := range r.Judges {
		fmt.Fprintf(h, "\x00%s\x00%s\x00%s", r.Names[i], strings.TrimRight(j.BaseURL, "/"), j.Model)
	}
	return "judge:" + hex.EncodeToString(h.Sum(nil)[:6])
}

// Targets are "misaligned" for the primary judge and "misaligned@NAME"
// for each further judge.
func (r *JudgeRule) Targets() []string { return r.Spec.Targets(nil) }

// Keys lists the keys of the judge calls that score a completion of
// prompt: each judge's alignment call, then its coherence call.
func (r *JudgeRule) Keys(prompt, completion string) []string {
	out := make([]string, 0, 2*len(r.Judges))
	for i := range r.Judges {
		out = append(out, r.Key(i, TemplateAlignment, prompt, completion), r.Key(i, TemplateCoherence, prompt, completion))
	}
	return out
}

// Key is the key of judge i's call with the alignment or coherence
// template (TemplateAlignment or TemplateCoherence) on a completion of
// prompt.
func (r *JudgeRule) Key(i int, template, prompt, completion string) string {
	h := r.cohHash
	if template == TemplateAlignment {
		h = r.alignHash
	}
	return judgmentKey(r.Judges[i], r.Spec.Mode, h, prompt, completion)
}

// JudgmentKey is the deterministic key of one judge call: judge endpoint
// and model, mode, template text, and the prompt and completion judged.
// The same call made twice has the same key, so it is made once.
func JudgmentKey(judge Instance, mode, template, prompt, completion string) string {
	return judgmentKey(judge, mode, hashText(template), prompt, completion)
}

// judgmentKey is JudgmentKey with the template given by its hash.
func judgmentKey(judge Instance, mode, templateHash, prompt, completion string) string {
	h := sha256.New()
	for _, f := range []string{judgmentVersion, strings.TrimRight(judge.BaseURL, "/"), judge.Model, mode, templateHash, prompt, completion} {
		fmt.Fprintf(h, "%d:%s", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func hashText(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
