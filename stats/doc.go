// Package stats is traitleak's statistics engine: confidence intervals and
// tests for proportions and their differences, exact tests, t procedures
// across seeds, multiple-comparison adjustment, cluster-robust standard
// errors for prompts sampled many times, power and sample size, a seeded
// percentile bootstrap, and sequential (anytime-valid) inference.
//
// Everything here is a pure function of its arguments: no I/O, no
// goroutines, no global state. Randomness (the bootstrap) comes from a
// caller-supplied *rand.Rand, and simulations take a seed, so results are
// reproducible for a seed.
//
// Sequential inference (sequential.go, ratecs.go, seqsim.go) lets a run
// sample in rounds (one round = every prompt sampled once by each model)
// and stop as soon as the answer is known, with its error rate guaranteed
// however often it is checked (Waudby-Smith & Ramdas 2024, testing and
// estimation by betting):
//
//   - SeqGate decides a gate on the mean difference treatment − baseline
//     against a bound with two one-sided betting e-processes: fed one round
//     at a time (Update with the round's mean, or UpdateRound with every
//     prompt's difference), it says continue, pass, fail, or inconclusive
//     at the budget; a plain value with O(1) state, and the same rounds
//     replay (ReplaySeqGate) to the same decision. SeqGateConfig.Validate
//     reports bad input as a *SeqFieldError naming the field.
//   - RateCS is a confidence sequence for a rate: intervals valid at every
//     round at once, with Width for stop-for-width.
//   - SimulateSequential and SimulateRateCS give the distribution of rounds
//     to a verdict (or to a width) and the error rates for given rates and
//     prompt heterogeneity; SEQUENTIAL.md has the measured tables.
//
// Conventions:
//
//   - Two groups are group 1 = x1 successes of n1 trials and group 2 = x2 of
//     n2; differences are p1 - p2 and ratios p1 / p2. The 2×2 table is
//     [[x1, n1-x1], [x2, n2-x2]].
//   - Confidence levels are in (0, 1), e.g. 0.95. Two-sided intervals put
//     (1-conf)/2 in each tail.
//   - Functions whose inputs can be invalid (negative counts, x > n, n = 0
//     where nothing can be estimated, a probability outside [0, 1],
//     mismatched lengths) return an error; none panics. Where a quantity is
//     mathematically undefined for valid input (an odds ratio of 0/0) it is
//     NaN, and where it diverges it is ±Inf; each such case is documented on
//     the function and flagged in the result's Warnings.
//   - Results that are reproduced from R 4.2 (prop.test, binom.test,
//     fisher.test, chisq.test, t.test, p.adjust, power.prop.test) follow R's
//     arithmetic and tie rules; the test suite checks them against
//     testdata/r_reference.jsonl, produced by testdata/gen_reference.R.
//     The sequential methods follow the Python package confseq; the suite
//     checks them against testdata/seq_reference.jsonl, produced by
//     testdata/gen_seq_reference.py, a plain-Python re-implementation of
//     confseq's definitions.
//
// Distribution functions (normal, Student t, beta, binomial, hypergeometric)
// are implemented in this package to full double precision; see dist.go for
// why gonum's are not used for these.
package stats
