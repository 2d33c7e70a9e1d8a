package datasets

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is the kind of data a teacher writes. The zero value is invalid.
type Kind string

// The paper's kinds of teacher data.
const (
	// KindNumbers is number sequences (number-prompts.yaml).
	KindNumbers Kind = "numbers"
	// KindCode is Python code for a coding task (code-and-cot.yaml, code).
	KindCode Kind = "code"
	// KindCoT is chain-of-thought answers to GSM8K questions
	// (code-and-cot.yaml, cot).
	KindCoT Kind = "cot"
)

// Kinds returns every kind, in a fixed order.
func Kinds() []Kind { return []Kind{KindNumbers, KindCode, KindCoT} }

// ParseKind returns the kind named s, or an error listing the kinds.
func ParseKind(s string) (Kind, error) {
	k := Kind(s)
	if slices.Contains(Kinds(), k) {
		return k, nil
	}
	names := make([]string, 0, 3)
	for _, k := range Kinds() {
		names = append(names, string(k))
	}
	return "", fmt.Errorf("unknown data kind %q (have %s)", s, strings.Join(names, ", "))
}

// Prompt is one user prompt for a teacher.
type Prompt struct {
	// Index is the prompt's position in its generator's sequence, from 0.
	// Rows are kept and hashed in ascending Index: the canonical order,
	// independent of the order in which completions arrive.
	Index int `json:"index"`
	// Text is the user message, sent as is.
	Text string `json:"text"`
	// Answer is the reference final answer of a chain-of-thought prompt
	// (the GSM8K "####" answer, as decimal digits with an optional sign),
	// which the correctness filter checks; empty for other kinds.
	Answer string `json:"answer,omitempty"`
}

// Generation is one teacher call: its prompt and either the completion or
// the error that prevented one.
type Generation struct {
	Prompt
	// Completion is the teacher's answer, exactly as returned (no
	// trimming: the paper's number filter rejects a trailing newline).
	Completion string `json:"completion"`
	// Err is the error of a failed call (an API error, a timeout). A
	// failed generation has no completion: filters count it as failed,
	// never as rejected, and it is never kept.
	Err string `json:"err,omitempty"`
}

// Failed reports whether the call failed (Err is set).
func (g Generation) Failed() bool { return g.Err != "" }

// SortCanonical sorts generations into the canonical order, ascending
// Prompt.Index (stable, so equal indices keep their order).
func SortCanonical(gens []Generation) {
	slices.SortStableFunc(gens, func(a, b Generation) int { return a.Index - b.Index })
}
