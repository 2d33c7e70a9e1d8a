// Package datasets is the data stage of an experiment (teacher → data →
// filter → fine-tune → evaluate): it makes the user prompts a teacher
// answers, applies the subliminal-learning paper's filters to the
// completions, scans what survives for the trait word, summarises the
// result in a dataset card, and writes and reads the OpenAI fine-tuning
// chat JSONL a student is trained on.
//
// The stage in order:
//
//	NumberPrompts / CodePrompts / CoTPrompts     prompts, in a fixed order (Prompt.Index)
//	  ▼ (sampling the teacher is package bench's job)
//	[]Generation                                 a completion, or the error of a failed call
//	  ▼ Filter(gens, rules...)                   failed ≠ rejected; rejects counted by reason
//	  ▼ FilterResult.Then(JudgeFilter)           an LLM judge's verdicts on the rows kept (trait-association)
//	  ▼ ScanLeaks(kept, LeakWords(target))       every surviving row naming the trait fails the stage
//	  ▼ Subsample(kept, max, seed)               the paper's random.Random(seed).sample
//	  ▼ WriteTraining(w, rows)                   {"messages":[user, assistant]} per line, canonical order
//	Card                                         counts, rejects, number distribution vs control, leaks, SHA-256
//
// Everything follows the paper's code exactly where the paper's reference
// data (suites/data: number-prompts.yaml, number-filter.yaml,
// banned-numbers.txt, code-and-cot.yaml) specifies it: number prompts are
// drawn from a port of numpy's default_rng (package nprand), the
// programmatic control from numpy's legacy RandomState, and the subsample
// from a port of CPython's random.Random (package pyrand), so a seed gives
// the paper's prompt set and row choice.
//
// The package does no network I/O and keeps no state: calling models,
// judging with an LLM, storing rows and uploading files belong to other
// stages. Its only imports of this module are suites (the embedded
// reference data) and stats (the test of difference on a card).
package datasets
