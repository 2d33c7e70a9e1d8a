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
//	suites.Open → NewPlan → Prepare → Prepared.Run → Verdict
//
// Prepare reads the API keys, builds the scorers and the clients, claims
// the run of the same suite content and salt, resumed or new
// (RunStore.ClaimRun: while a live process runs the same draws it is
// refused, or waits), writes its plan in chunks while it starts
// (RunStore.WritePlan) and asks the store which planned draws are already
// stored, a chunk of keys at a time (SampleStore.Stored, FindPending);
// Pending keeps the rest as ranges of plan positions. Nothing holds the
// plan: jobs are generated as they are issued, so memory does not grow
// with the number of draws; a shard's plan (Plan.Restrict) generates the
// jobs its shard owns, and batched models write their input files from
// the same pending jobs, one file at a time. Prepared.Run samples them with a Runner,
// scores what lacks scores under the suite's rules with ScoreMissing
// (ScoreStore), links the draws to samples it did not store itself
// (RunStore.LinkSamples), counts the run's samples and records its final
// status. Store is the union of those interfaces, which
// *results.Store implements.
//
// A sequential run (Suite.UntilDecided, `run --until-decided`) samples the
// roles of the suite's sequential rules in rounds instead: Prepared.Run
// draws a step of rounds at a time with the same Runner, appends them to
// the run's plan (SequentialStore), and stops each rule once package
// sequential finds it decided; see sequential.go.
//
// Runner.Run and ScoreMissing are both a Stage: per lane (a model
// instance, or the scoring queue) a feeder hands items in order to a
// bounded number of workers, and one writer stores their outputs in
// batches (SampleStore.Put, ScoreStore.PutScores and PutJudgments). Only
// the writer touches the database while a stage runs. Requests go through
// a Client: the single-attempt OpenAIClient (which never follows a
// redirect), behind its endpoint's circuit breaker (BreakerPolicy, one
// per endpoint, shared by the models and judges on it), under
// WithRateLimit, with WithRetry around it. What is stored or printed has
// the API keys and URL credentials redacted (Redactor).
//
// Past one process: Options.Batch sends the draws of some or all models
// through their provider's Batch API instead (BatchOptions: input files
// recorded in the store before they are sent, polled, joined back by
// custom_id) — and the calls of judges that batch, before ScoreMissing,
// whose answers are stored as judgments (judgebatch.go) — and Options.Shard plans and samples one Shard of the jobs,
// each shard into its own database for results.Merge to union.
package bench
