// Package reports is traitleak's last stage: it reads a stored run,
// analyses it with package stats, and renders the analysis as Markdown,
// HTML with SVG charts, JSON and JUnit XML; it also exports a run's
// samples as CSV or JSON lines. Sampling and scoring are left to package
// bench, storage to package results: reports reads what a run recorded
// (its suite, model instances, prompts, scorers, samples, scores and the
// judge calls behind them) and never imports the engine or touches the
// network.
//
// # Stages
//
//	Load(store, run) → *RunData → Analyze → *Analysis → Markdown, HTML, Charts, JUnit, JSON
//
// Each stage leaves the next one alone:
//
//   - Load has the database count a run's draws per plan cell (model
//     instance × prompt), grouped by outcome and score, and folds the
//     groups into per-cell counts (model instance × probe × prompt ×
//     target), usage per instance, judge verdict tables; then it reads the
//     few hits it quotes as examples, and the scores of samples rated by
//     several judges. Its memory does not grow with samples per prompt.
//     RunData is plain data: Add builds the same from draws one at a
//     time, and nothing downstream changes.
//   - Analyze computes every rate, interval, comparison, correction and
//     gate verdict from a RunData, and nothing else does. It returns one
//     tree, Probes → Targets → {Roles, Results, Comparisons, PerPrompt,
//     References, Examples, Notes}, with the run-wide lists beside it (the
//     comparisons as one family in report order, gates, judge agreement
//     and cost, methods, notes).
//   - Renderers walk the tree and only format: they compute no statistic
//     and filter no list. The JSON form keeps its documented flat shape
//     (see Analysis.MarshalJSON).
//
// # Stored analyses, history and the family matrix
//
// Analyses are data: Archive reads a run's analysis back from the results
// database when one with the same settings of the same data (the run's
// fingerprint) is stored, and otherwise computes it and stores it, its
// figures one row each (Analysis.Record) and its tree beside them, which
// decodes to an analysis that renders byte for byte as the one stored.
// History and Matrix read only those figures: CollectRuns gathers the runs
// of one or more databases with their stored figures (analysing, through
// Archive, the runs that have none), BuildHistory follows each role's rate
// across runs and tests consecutive runs with compare's two-run test,
// corrected over the whole history, and BuildMatrix puts many students'
// comparisons side by side, corrected over its cells. Against holds a run
// against a reference run (gate --against blessed) with the same test.
//
// # Vocabulary
//
// A role is a model of the suite (baseline, student, …); a model instance
// is one role at one seed, served under a model id at an endpoint. Rates
// are per instance (Result) and per role with its seeds pooled
// (RoleResult). JSON keeps the historical field name "model" for the
// role.
package reports
