// Package stats is traitleak's statistics engine: confidence intervals and
// tests for proportions and their differences, exact tests, t procedures
// across seeds, multiple-comparison adjustment, cluster-robust standard
// errors for prompts sampled many times, power and sample size, and a
// seeded percentile bootstrap.
//
// Everything here is a pure function of its arguments: no I/O, no
// goroutines, no global state. Randomness (the bootstrap) comes from a
// caller-supplied *rand.Rand, so results are reproducible for a seed.
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
//
// Distribution functions (normal, Student t, beta, binomial, hypergeometric)
// are implemented in this package to full double precision; see dist.go for
// why gonum's are not used for these.
package stats
