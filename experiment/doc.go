// Package experiment runs the whole experiment of the subliminal-learning
// paper (Cloud, Le et al. 2025) as one declarative, resumable, traceable
// thing: teacher → data → filter → fine-tune → evaluate. An experiment
// file names the teachers and control teachers, the kind and size of
// their data, the filter, the fine-tuning (base models, seeds,
// hyper-parameters) and the evaluation suite; the same file runs against
// OpenAI and, offline, against the built-in lab ("traitleak lab serve"),
// through the same client code.
//
// The stages, each keyed by content so that a re-run skips what is done
// and a process killed anywhere resumes without repeating a paid call.
// Runner.Run runs them in order, up to a Stage:
//
//	Loader.Open / Parse          the file, with a suite's loader rules (file:line:col, --set, ${vars}, built-ins, limits)
//	Experiment.NewPlan           per seed: datasets (teacher × prompts × sampling × filter) and students (arm × seed)
//	StageGenerate                each dataset's teacher completions: a run of its GenerationSuite through
//	                             bench.Execute (sample keys, retries, rate limits, failed ≠ rejected)
//	StageFilter                  package datasets' filters; the optional LLM trait-association judge
//	                             (filter.judge) on the rows they keep, its calls keyed and stored as
//	                             judge calls (a failed call fails the stage; a re-run asks only for
//	                             it); leak scan, subsample, card and training JSONL
//	StageFineTune                bench.FineTuner: one upload per dataset hash, one job per content key,
//	                             recorded before polling; the student's model id
//	StageEvaluate                the EvaluationSuite, its students named by lineage, through bench.Execute
//
// Every artefact is a row of the results database (schema version 5:
// datasets, uploads, jobs, students, lineage), so that a report can print
// the chain from teacher to student under its results, and a suite can
// name students by lineage (suites.Model.Lineage), resolved here by
// ResolveLineage.
//
// The package leaves sampling and fine-tuning protocols to package bench,
// the paper's data rules to package datasets, storage to package results
// and formatting to packages reports and cmd/traitleak.
package experiment
