// Package bench is traitleak's engine: it turns a suite into a plan of
// jobs, sends them to OpenAI-compatible models, and scores the samples.
// Storing samples is left to package results; statistics and formatting to
// packages stats and reports.
//
// # Vocabulary
//
// The same words are used in Go, in suite YAML keys, in SQL columns and in
// report headers:
//
//   - Suite: a file naming models, probes, comparisons and gates.
//   - Model: one role of the suite (baseline, student, ...): an endpoint
//     plus a model id; an Instance is one role at one seed.
//   - Probe: a set of prompts and a scoring rule for one trait.
//   - Target: one word a probe scores (owl, eagle, ...); a Trait is the
//     tendency to name it.
//   - Draw: the index of one planned sample of (probe, prompt, instance).
//   - Key: the deterministic identity of one draw (see SampleKey).
//   - Job: one planned request, covering one or more consecutive draws
//     (OpenAI's n).
//   - Sample: one completed draw: the completion, or the error that
//     prevented it. Failed samples are data, never scored as "no trait".
//   - Score: the verdict of a scorer on a sample for one target.
//   - Run: one execution of a suite into a database.
//
// # Data flow
//
//	suites.Open → Plan → results.Store.Pending → Runner.Run → results.Store.Put
//
// Workers push samples to a sink; only the sink writes to the database.
package bench
