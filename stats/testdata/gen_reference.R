# Reference values for package stats and the `traitleak stats` command.
#
# Run from the repository root:
#
#   Rscript stats/testdata/gen_reference.R
#
# It writes, deterministically (fixed seeds, no timestamps):
#
#   stats/testdata/r_reference.jsonl      one case per line, in the
#       `traitleak stats` machine format
#       {"family": F, "method": M, "inputs": {...}, "outputs": {...}}
#   stats/testdata/r_distributions.jsonl  the distribution functions the
#       package implements itself (family "dist"), same format
#   stats/testdata/r_paired.jsonl  stats.PairedDiff against the paired
#       t.test (family "paired_t_test"), same format; kept out of
#       r_reference.jsonl because `traitleak stats` has no such family and
#       its test answers every r_reference.jsonl line
#
# Numbers are printed with sprintf("%.17g"), which round-trips doubles;
# non-finite values are the strings "Inf", "-Inf", "NaN".
#
# Where R has a builtin it is used (prop.test, binom.test, fisher.test,
# chisq.test, t.test, p.adjust, power.prop.test). Where it has none, the
# formula is written out here and marked "hand formula"; these are checked
# against textbook examples or an independent computation where possible.
# Generated with R 4.2.2; base R only (no packages).

options(warn = 1)
out_ref <- file("stats/testdata/r_reference.jsonl", open = "w")
out_dist <- file("stats/testdata/r_distributions.jsonl", open = "w")
out_paired <- file("stats/testdata/r_paired.jsonl", open = "w")

# ---- JSON writing ---------------------------------------------------------

N <- function(v) {
  stopifnot(length(v) == 1)
  v <- as.numeric(v)
  if (is.nan(v)) return('"NaN"')
  if (is.na(v)) stop("NA where a number was expected")
  if (v == Inf) return('"Inf"')
  if (v == -Inf) return('"-Inf"')
  sprintf("%.17g", v)
}
NA_N <- function(v) if (is.na(v)) '"NaN"' else N(v) # R's NA -> "NaN"
A <- function(v) paste0("[", paste(vapply(as.numeric(v), NA_N, ""), collapse = ","), "]")
S <- function(s) paste0('"', gsub('"', '\\\\"', s), '"')
SA <- function(v) paste0("[", paste(vapply(v, S, ""), collapse = ","), "]")
obj <- function(l) {
  if (length(l) == 0) return("{}")
  paste0("{", paste0(S(names(l)), ":", unlist(l), collapse = ","), "}")
}
emit <- function(family, method, inputs, outputs, con = out_ref) {
  writeLines(paste0('{"family":', S(family), ',"method":', S(method),
                    ',"inputs":', obj(inputs), ',"outputs":', obj(outputs), "}"), con)
}

# ---- one proportion ---------------------------------------------------------

counts <- list(c(0, 1), c(1, 1), c(0, 2), c(1, 2), c(2, 2), c(0, 5), c(1, 5),
               c(3, 5), c(5, 5), c(0, 10), c(5, 10), c(7, 10), c(1, 20),
               c(6, 11), c(0, 100), c(12, 100), c(50, 100), c(99, 100),
               c(100, 100), c(1, 1000), c(120, 1000), c(999, 1000),
               c(3, 1e6), c(120000, 1e6), c(500000, 1e6), c(999997, 1e6))
confs <- c(0.9, 0.95, 0.99)

wilson_ci <- function(x, n, conf, correct) # builtin: prop.test
  suppressWarnings(prop.test(x, n, correct = correct, conf.level = conf)$conf.int)

for (xn in counts) for (conf in confs) {
  x <- xn[1]; n <- xn[2]
  inp <- list(x = N(x), n = N(n), conf_level = N(conf))
  est <- x / n
  ci <- wilson_ci(x, n, conf, FALSE)
  emit("binom_ci", "wilson", inp, list(estimate = N(est), lower = N(ci[1]), upper = N(ci[2])))
  # binom_ci/wilson_cc is Newcombe's method 4, the correction 1/2 at every
  # x. prop.test shrinks it to min(1/2, |x - n p0|) with its null p0 = 0.5,
  # so at x = n/2 its interval is uncorrected: a property of the test, not
  # of the interval. Elsewhere the two agree; x = n/2 is checked against
  # Newcombe's closed form in stats_test.go (TestWilsonCCNewcombe).
  if (2 * x != n) {
    ci <- wilson_ci(x, n, conf, TRUE)
    emit("binom_ci", "wilson_cc", inp, list(estimate = N(est), lower = N(ci[1]), upper = N(ci[2])))
  }
  ci <- binom.test(x, n, conf.level = conf)$conf.int # builtin: Clopper-Pearson
  emit("binom_ci", "clopper_pearson", inp, list(estimate = N(est), lower = N(ci[1]), upper = N(ci[2])))
  # hand formula: Jeffreys, equal-tailed Beta(x+1/2, n-x+1/2) quantiles, with
  # Brown, Cai & DasGupta (2001)'s bounds 0 at x = 0 and 1 at x = n.
  a <- (1 - conf) / 2
  lo <- if (x == 0) 0 else qbeta(a, x + 0.5, n - x + 0.5)
  hi <- if (x == n) 1 else qbeta(1 - a, x + 0.5, n - x + 0.5)
  emit("binom_ci", "jeffreys", inp, list(estimate = N(est), lower = N(lo), upper = N(hi)))
  # hand formula: Agresti-Coull (1998), n~ = n + z^2, p~ = (x + z^2/2)/n~.
  z <- qnorm((1 + conf) / 2)
  nt <- n + z^2
  pt <- (x + z^2 / 2) / nt
  half <- z * sqrt(pt * (1 - pt) / nt)
  emit("binom_ci", "agresti_coull", inp,
       list(estimate = N(est), lower = N(max(0, pt - half)), upper = N(min(1, pt + half)),
            center = N(pt), n_tilde = N(nt), lower_unclipped = N(pt - half),
            upper_unclipped = N(pt + half)))
}
# conf_level omitted: the command's default is 0.95.
for (xn in list(c(3, 10), c(120, 1000))) {
  ci <- wilson_ci(xn[1], xn[2], 0.95, FALSE)
  emit("binom_ci", "wilson", list(x = N(xn[1]), n = N(xn[2])),
       list(estimate = N(xn[1] / xn[2]), lower = N(ci[1]), upper = N(ci[2])))
}

# Exact binomial test (builtin binom.test), including ties under R's
# relErr = 1 + 1e-7 rule (7 of 21 at p0 = 1/3 is the mode; 2 vs 18 of 20 at
# 0.5 are mirror images) and the degenerate nulls p0 = 0 and 1.
btests <- list(c(0, 10, 0.5), c(3, 10, 0.5), c(5, 10, 0.5), c(7, 10, 0.3),
               c(0, 1, 0.5), c(1, 1, 0.5), c(2, 20, 0.5), c(18, 20, 0.5),
               c(2, 20, 0.1), c(12, 100, 0.2), c(12, 100, 0.12),
               c(30, 100, 0.12), c(0, 100, 0.01), c(100, 100, 0.99),
               c(7, 21, 1/3), c(3, 21, 1/3), c(14, 21, 2/3), c(3, 1e6, 1e-6),
               c(1200, 10000, 0.1), c(130, 1000, 0.12), c(0, 100, 0),
               c(5, 100, 0), c(100, 100, 1), c(99, 100, 1), c(1, 3, 0.999999))
for (b in btests) {
  x <- b[1]; n <- b[2]; p0 <- b[3]
  emit("binom_test", "exact", list(x = N(x), n = N(n), p0 = N(p0)),
       list(p_value = N(binom.test(x, n, p0)$p.value),
            p_value_less = N(binom.test(x, n, p0, alternative = "less")$p.value),
            p_value_greater = N(binom.test(x, n, p0, alternative = "greater")$p.value)))
}

# ---- two proportions --------------------------------------------------------

pairs <- list(c(0, 10, 0, 10), c(10, 10, 10, 10), c(0, 10, 10, 10),
              c(5, 10, 5, 10), c(1, 2, 0, 1), c(12, 100, 15, 100),
              c(56, 70, 48, 80), c(9, 10, 3, 10), c(120, 1000, 150, 1000),
              c(3, 1e6, 5, 1e6), c(0, 5, 3, 7), c(200, 200, 199, 200),
              c(2, 7, 5, 9), c(1, 3, 2, 4), c(5, 50, 0, 50), c(3, 2000, 15, 2000))
is_degenerate <- function(p) { # a zero row or column total in the 2x2 table
  p[1] + p[3] == 0 || p[1] + p[3] == p[2] + p[4]
}

for (p in pairs) {
  x1 <- p[1]; n1 <- p[2]; x2 <- p[3]; n2 <- p[4]
  p1 <- x1 / n1; p2 <- x2 / n2; d <- p1 - p2
  for (conf in confs) {
    inp <- list(x1 = N(x1), n1 = N(n1), x2 = N(x2), n2 = N(n2), conf_level = N(conf))
    # hand formula: Newcombe (1998) method 10 from builtin Wilson intervals.
    w1 <- wilson_ci(x1, n1, conf, FALSE); w2 <- wilson_ci(x2, n2, conf, FALSE)
    lo <- d - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2)
    hi <- d + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2)
    emit("diff_ci", "newcombe_hybrid_score", inp,
         list(diff = N(d), lower = N(lo), upper = N(hi), wilson1_lower = N(w1[1]),
              wilson1_upper = N(w1[2]), wilson2_lower = N(w2[1]), wilson2_upper = N(w2[2])))
    # hand formula: Wald. Cross-checked against prop.test's two-sample
    # interval without correction, which is the same clipped formula.
    z <- qnorm((1 + conf) / 2)
    se <- sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    ptci <- suppressWarnings(prop.test(c(x1, x2), c(n1, n2), correct = FALSE, conf.level = conf)$conf.int)
    stopifnot(isTRUE(all.equal(c(max(-1, d - z * se), min(1, d + z * se)), as.numeric(ptci), tolerance = 1e-14)))
    emit("diff_ci", "wald", inp,
         list(diff = N(d), se = N(se), lower = N(max(-1, d - z * se)), upper = N(min(1, d + z * se)),
              lower_unclipped = N(d - z * se), upper_unclipped = N(d + z * se)))
  }
  inp <- list(x1 = N(x1), n1 = N(n1), x2 = N(x2), n2 = N(n2))
  # Pooled z-test: z^2 is prop.test(correct = FALSE)'s statistic (builtin);
  # z takes the sign of p1 - p2; pooled_p is the hand formula (x1+x2)/(n1+n2).
  # With a zero column total prop.test's statistic is NaN, and so is z.
  pt <- suppressWarnings(prop.test(c(x1, x2), c(n1, n2), correct = FALSE))
  z <- sign(d) * sqrt(unname(pt$statistic))
  if (is.nan(pt$statistic)) z <- NaN
  emit("two_prop_ztest", "pooled", inp,
       list(z = N(z), p_value = N(pt$p.value), pooled_p = N((x1 + x2) / (n1 + n2))))
  # Pearson chi-square (builtin chisq.test); rows [x1, n1-x1], [x2, n2-x2].
  tab <- matrix(c(x1, x2, n1 - x1, n2 - x2), 2)
  for (yates in c(FALSE, TRUE)) {
    ct <- suppressWarnings(chisq.test(tab, correct = yates))
    emit("chisq_test", if (yates) "yates" else "pearson_uncorrected", inp,
         list(statistic = N(ct$statistic), df = N(ct$parameter), p_value = N(ct$p.value)))
  }
  # hand formula: sample odds ratio, Woolf (1955) logit interval, Haldane
  # (+1/2) estimate. With a zero cell the SE is Inf and the interval is its
  # limit [0, Inf] (the package's documented convention).
  a <- x1; b <- n1 - x1; c <- x2; dd <- n2 - x2
  or <- (a * dd) / (b * c)
  se <- sqrt(1 / a + 1 / b + 1 / c + 1 / dd)
  z <- qnorm(0.975)
  if (min(a, b, c, dd) == 0) { wl <- 0; wu <- Inf } else {
    wl <- exp(log(or) - z * se); wu <- exp(log(or) + z * se)
  }
  emit("odds_ratio", "sample_woolf", inp,
       list(or = N(or), log_or = N(log(or)), se_log_or = N(se), woolf_lower = N(wl),
            woolf_upper = N(wu), or_haldane = N((a + 0.5) * (dd + 0.5) / ((b + 0.5) * (c + 0.5)))))
  # hand formula: risk ratio with the Katz et al. (1978) log interval; a
  # zero numerator count gives SE Inf and the limit [0, Inf].
  rr <- p1 / p2
  se <- sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
  if (x1 == 0 || x2 == 0) { se <- Inf; kl <- 0; ku <- Inf } else {
    kl <- exp(log(rr) - z * se); ku <- exp(log(rr) + z * se)
  }
  emit("risk_ratio", "katz_log", inp,
       list(rr = N(rr), log_rr = N(log(rr)), se_log_rr = N(se), katz_lower = N(kl), katz_upper = N(ku)))

  # Fisher's exact test. The p-value is fisher.test's (builtin). The
  # conditional MLE and its exact interval are recomputed with R's own
  # dnhyper construction (copied from fisher.test) but with roots solved by
  # uniroot(tol = 1e-15) in log(odds ratio), instead of fisher.test's default
  # tolerance (~1e-4 on the odds ratio scale); the two are checked to agree
  # within uniroot's default tolerance (absolute 1.2e-4 on psi in (0, 1), on
  # 1/psi above 1, hence |delta| <= 2.5e-4 max(1, psi^2)). Tables with a zero margin are left out: fisher.test reports
  # odds ratio 0 there, the package NaN (not estimable).
  near_R <- function(mine, r) all((is.infinite(mine) & mine == r) |
                                  abs(mine - r) <= 2.5e-4 * pmax(1, mine^2))
  if (!is_degenerate(p)) {
    ft <- fisher.test(tab)
    m <- x1 + x2; nn <- n1 + n2 - m; k <- n1
    lo_s <- max(0, k - nn); hi_s <- min(k, m)
    support <- lo_s:hi_s
    logdc <- dhyper(support, m, nn, k, log = TRUE)
    dnh <- function(lpsi) { dv <- logdc + lpsi * support; dv <- exp(dv - max(dv)); dv / sum(dv) }
    root <- function(f) uniroot(f, c(-5, 5), tol = 1e-15, extendInt = "yes", maxiter = 10000)$root
    est <- if (x1 == lo_s) 0 else if (x1 == hi_s) Inf else exp(root(function(l) sum(support * dnh(l)) - x1))
    stopifnot(near_R(est, unname(ft$estimate)))
    for (conf in confs) {
      al <- (1 - conf) / 2
      lo <- if (x1 == lo_s) 0 else exp(root(function(l) sum(dnh(l)[support >= x1]) - al))
      hi <- if (x1 == hi_s) Inf else exp(root(function(l) al - sum(dnh(l)[support <= x1])))
      fc <- fisher.test(tab, conf.level = conf)
      stopifnot(near_R(c(lo, hi), as.numeric(fc$conf.int)))
      emit("fisher_exact", "two_sided_conditional",
           list(x1 = N(x1), n1 = N(n1), x2 = N(x2), n2 = N(n2), conf_level = N(conf)),
           list(p_value = N(fc$p.value), or_cmle = N(est), or_cmle_lower = N(lo), or_cmle_upper = N(hi)))
    }
  }
}
# Cohen's h (hand formula): 2 asin(sqrt(p1)) - 2 asin(sqrt(p2)).
for (pp in list(c(0.12, 0.15), c(0, 1), c(1, 0), c(0.5, 0.5), c(0.01, 0.001), c(0.9, 0.6))) {
  h <- 2 * asin(sqrt(pp[1])) - 2 * asin(sqrt(pp[2]))
  emit("cohen_h", "arcsine", list(p1 = N(pp[1]), p2 = N(pp[2])), list(h = N(h), abs_h = N(abs(h))))
}

# ---- across seeds: t procedures (builtin t.test) ---------------------------

set.seed(20240611)
samples <- list(
  a = rnorm(5, 0.3, 0.1),
  b = c(0.12, 0.15, 0.11, 0.14),
  c = rnorm(30),
  d = c(1, 2),
  e = runif(200),
  f = c(0.5, 0.5, 0.6),
  g = rnorm(2000, 10, 3),
  h = c(1e6 + 0.1, 1e6 + 0.2, 1e6 + 0.4)
)
for (nm in names(samples)) for (mu in c(0, 0.1, 0.5)) for (conf in confs) {
  x <- samples[[nm]]
  tt <- t.test(x, mu = mu, conf.level = conf)
  n <- length(x)
  emit("t_one_sample", "t_ci", list(x = A(x), mu = N(mu), conf_level = N(conf)),
       list(n = N(n), mean = N(mean(x)), sd = N(sd(x)), se = N(unname(tt$stderr)),
            df = N(unname(tt$parameter)), t_crit = N(qt(1 - (1 - conf) / 2, n - 1)),
            lower = N(tt$conf.int[1]), upper = N(tt$conf.int[2]),
            t_stat = N(unname(tt$statistic)), p_value = N(tt$p.value)))
}
# mu omitted: default 0.
local({
  x <- samples$a
  tt <- t.test(x)
  emit("t_one_sample", "t_ci", list(x = A(x)),
       list(n = N(length(x)), mean = N(mean(x)), sd = N(sd(x)), se = N(unname(tt$stderr)),
            df = N(unname(tt$parameter)), t_crit = N(qt(0.975, length(x) - 1)),
            lower = N(tt$conf.int[1]), upper = N(tt$conf.int[2]),
            t_stat = N(unname(tt$statistic)), p_value = N(tt$p.value)))
})
welch_pairs <- list(c("a", "b"), c("c", "e"), c("d", "f"), c("b", "f"), c("g", "c"), c("e", "a"))
for (wp in welch_pairs) for (conf in confs) {
  x <- samples[[wp[1]]]; y <- samples[[wp[2]]]
  tt <- t.test(x, y, conf.level = conf)
  emit("welch_t_test", "two_sided", list(x = A(x), y = A(y), conf_level = N(conf)),
       list(mean_x = N(mean(x)), mean_y = N(mean(y)), diff = N(mean(x) - mean(y)),
            se = N(unname(tt$stderr)), t_stat = N(unname(tt$statistic)),
            df = N(unname(tt$parameter)), p_value = N(tt$p.value),
            lower = N(tt$conf.int[1]), upper = N(tt$conf.int[2])))
}

# Paired t over prompts (stats.PairedDiff): t.test(a, b, paired = TRUE) is
# the one-sample t-test of d = a - b against 0. Per-prompt rates of two
# models on the same G prompts (fractions of the samples per prompt), G = 2,
# 3, 5 and 12, at several confidence levels. Written to r_paired.jsonl (see
# the header). The RNG is seeded here and again before the next section, so
# the cases after it do not move.
set.seed(20241101)
rates12 <- rbeta(12, 2, 5)
paired_cases <- list(
  list(a = c(0.3, 0.7), b = c(0.1, 0.4), conf = 0.95),
  list(a = c(0.2, 0.5, 0.9), b = c(0.25, 0.3, 0.6), conf = 0.9),
  list(a = c(0.1, 0.4, 0.35, 0.8, 0.55), b = c(0.15, 0.2, 0.3, 0.65, 0.5), conf = 0.99),
  list(a = rbinom(12, 20, rates12) / 20, b = rbinom(12, 20, pmax(rates12 - 0.05, 0)) / 20, conf = 0.95),
  list(a = rbinom(12, 7, rates12) / 7, b = rbinom(12, 7, rates12 + 0.1) / 7, conf = 0.8)
)
for (pc in paired_cases) {
  a <- pc$a; b <- pc$b; conf <- pc$conf
  tt <- t.test(a, b, paired = TRUE, conf.level = conf)
  d <- a - b
  se <- unname(tt$stderr)
  stopifnot(abs(unname(tt$estimate) - mean(d)) <= 1e-15 * abs(mean(d)),
            abs(se - sd(d) / sqrt(length(d))) <= 1e-14 * se,
            abs(unname(tt$statistic) - mean(d) / se) <= 1e-14 * abs(mean(d) / se))
  emit("paired_t_test", "two_sided", list(a = A(a), b = A(b), conf_level = N(conf)),
       list(diff = N(unname(tt$estimate)), se = N(se), t_stat = N(unname(tt$statistic)),
            df = N(unname(tt$parameter)), p_value = N(tt$p.value),
            lower = N(tt$conf.int[1]), upper = N(tt$conf.int[2])), con = out_paired)
}

# ---- multiple comparisons (builtin p.adjust) --------------------------------
# NA positions are kept and do not count toward n (R evaluates the default
# n = length(p) after dropping NAs).
set.seed(11)
pvecs <- list(c(0.01, 0.02, 0.03, 0.04, 0.05), c(0.5), numeric(0),
              c(0.01, NA, 0.04, 0.03), c(0.01, 0.01, 0.02, 0.5, 0.5),
              runif(20)^3, c(0, 1, 0.2), c(NA, NA), c(0.04, 0.001, 0.3, 0.9, 0.012, 0.049))
for (pv in pvecs) for (m in c("bonferroni", "holm", "BH", "BY")) {
  emit("p_adjust", m, list(p = A(pv), method = S(m)), list(adjusted = A(p.adjust(pv, m))))
}

# ---- power (builtin power.prop.test) -----------------------------------------
# n is solved with uniroot(tol = 1e-10) instead of the default 1.2e-4, and
# checked against the closed form n = ((z_{1-a/k} s0 + z_pow s1)/d)^2.
pn <- list(list(0.12, 0.15, 0.8, 0.05, "two.sided"), list(0.12, 0.15, 0.9, 0.05, "one.sided"),
           list(0.5, 0.75, 0.8, 0.05, "two.sided"), list(0.01, 0.02, 0.8, 0.01, "two.sided"),
           list(0.6, 0.4, 0.95, 0.05, "two.sided"), list(0.2, 0.21, 0.8, 0.05, "two.sided"),
           list(0.001, 0.0015, 0.8, 0.05, "one.sided"), list(0.3, 0.9, 0.8, 0.05, "two.sided"),
           list(0.12, 0.15, 0.5, 0.1, "two.sided"))
for (c in pn) {
  p1 <- c[[1]]; p2 <- c[[2]]; pw <- c[[3]]; sig <- c[[4]]; alt <- c[[5]]
  n <- power.prop.test(p1 = p1, p2 = p2, power = pw, sig.level = sig, alternative = alt, tol = 1e-10)$n
  k <- if (alt == "two.sided") 2 else 1
  cf <- ((qnorm(sig / k, lower.tail = FALSE) * sqrt((p1 + p2) * (1 - (p1 + p2) / 2)) +
          qnorm(pw) * sqrt(p1 * (1 - p1) + p2 * (1 - p2))) / abs(p1 - p2))^2
  stopifnot(abs(n - cf) / cf < 1e-9)
  nc <- ceiling(n)
  emit("power_prop_n", "two_sided_nonstrict",
       list(p1 = N(p1), p2 = N(p2), power = N(pw), sig_level = N(sig), alternative = S(alt)),
       list(n = N(n), n_ceiling = N(nc),
            power_at_ceiling = N(power.prop.test(n = nc, p1 = p1, p2 = p2, sig.level = sig, alternative = alt)$power)))
}
# sig_level and alternative omitted: defaults 0.05 and two.sided.
local({
  n <- power.prop.test(p1 = 0.3, p2 = 0.4, power = 0.8, tol = 1e-10)$n
  emit("power_prop_n", "two_sided_nonstrict", list(p1 = N(0.3), p2 = N(0.4), power = N(0.8)),
       list(n = N(n), n_ceiling = N(ceiling(n)),
            power_at_ceiling = N(power.prop.test(n = ceiling(n), p1 = 0.3, p2 = 0.4)$power)))
})
pp <- list(list(100, 0.12, 0.15, 0.05, "two.sided"), list(2000, 0.12, 0.15, 0.05, "two.sided"),
           list(2000, 0.12, 0.15, 0.05, "one.sided"), list(50, 0.5, 0.75, 0.05, "two.sided"),
           list(10, 0.3, 0.9, 0.05, "two.sided"), list(1e5, 0.2, 0.21, 0.01, "two.sided"),
           list(3, 0.45, 0.55, 0.2, "two.sided"), list(1.5, 0.1, 0.2, 0.05, "two.sided"))
for (c in pp) {
  n <- c[[1]]; p1 <- c[[2]]; p2 <- c[[3]]; sig <- c[[4]]; alt <- c[[5]]
  emit("power_prop_power", "two_sided",
       list(n = N(n), p1 = N(p1), p2 = N(p2), sig_level = N(sig), alternative = S(alt)),
       list(power = N(power.prop.test(n = n, p1 = p1, p2 = p2, sig.level = sig, alternative = alt)$power),
            power_strict = N(power.prop.test(n = n, p1 = p1, p2 = p2, sig.level = sig,
                                             alternative = alt, strict = TRUE)$power)))
}

# ---- clustered data (hand formulas) ----------------------------------------
# CR0 is also computed as the sandwich (X'X)^-1 X' diag-by-cluster(ee') X
# (X'X)^-1 of lm(x ~ 1) and checked equal; Miller (2024)'s clustered SE with
# the sample variance; iid SEs with the population and sample variance;
# design effect = CR0^2 / iid_pop^2; CIs mean -/+ qnorm(0.975) SE.
cluster_case <- function(x, cl) {
  n <- length(x); G <- length(unique(cl))
  m <- mean(x); e <- x - m
  sums <- tapply(e, cl, sum)
  cr0 <- sqrt(sum(sums^2)) / n
  X <- matrix(1, n, 1)
  bread <- solve(crossprod(X))
  meat <- Reduce(`+`, lapply(split(seq_len(n), cl), function(i) crossprod(X[i, , drop = FALSE], e[i]) %*% t(crossprod(X[i, , drop = FALSE], e[i]))))
  stopifnot(isTRUE(all.equal(sqrt(drop(bread %*% meat %*% bread)), cr0, tolerance = 1e-12)))
  cr1 <- cr0 * sqrt(G / (G - 1))
  cross <- sum(sums^2) - sum(e^2) # sum over clusters of sum_{i != j} e_i e_j
  miller <- sqrt(var(x) / n + cross / n^2)
  pop <- sqrt(mean(e^2) / n); samp <- sqrt(var(x) / n)
  z <- qnorm(0.975)
  emit("cluster_se", "mean_binary", list(x = A(x), cluster = SA(cl)),
       list(n = N(n), n_clusters = N(G), mean = N(m), se_cluster_cr0 = N(cr0), se_cluster_cr1 = N(cr1),
            se_cluster_miller_sample_var = N(miller), se_iid_pop = N(pop), se_iid_sample = N(samp),
            design_effect = N(cr0^2 / pop^2), ci95_cr0_lower = N(m - z * cr0), ci95_cr0_upper = N(m + z * cr0),
            ci95_cr1_lower = N(m - z * cr1), ci95_cr1_upper = N(m + z * cr1)))
}
set.seed(7)
rates <- rbeta(20, 2, 8)
cluster_case(rbinom(200, 1, rep(rates, each = 10)), rep(sprintf("prompt-%02d", 1:20), each = 10))
sizes <- c(1, 3, 5, 8, 13, 2, 7)
cl <- rep(sprintf("p%d", seq_along(sizes)), sizes)
cluster_case(rbinom(sum(sizes), 1, rep(rbeta(7, 1, 1), sizes)), sample(cl)) # shuffled labels
cluster_case(c(0, 1, 1, 0, 1, 1), c("a", "b", "a", "b", "a", "b"))
cluster_case(round(runif(40), 3), rep(c("x", "y", "z", "w"), 10)) # real-valued scores
cluster_case(c(1, 1, 1, 0, 0, 0), c("a", "a", "a", "b", "b", "b")) # perfectly clustered: deff = 3

# ---- agreement between two LLM judges: Cohen's kappa (hand formulas) -------
# Unweighted kappa (Cohen 1960) from the confusion table of rater a (rows)
# by rater b (columns) over the sorted union of the labels:
#   p_o = sum_i p_ii,  p_e = sum_i p_i. p_.i,  kappa = (p_o - p_e)/(1 - p_e).
# se is the large-sample SE of Fleiss, Cohen & Everitt (1969) (not under
# the null), se0 the SE under H0: kappa = 0, both as in Fleiss, Levin & Paik
# (2003), Statistical Methods for Rates and Proportions, 3rd ed., ch. 18:
#   se  = sqrt(A + B - C) / ((1 - p_e) sqrt(n)),
#     A = sum_i p_ii [1 - (p_i. + p_.i)(1 - kappa)]^2,
#     B = (1 - kappa)^2 sum_{i != j} p_ij (p_.i + p_j.)^2,
#     C = [kappa - p_e (1 - kappa)]^2;
#   se0 = sqrt(p_e + p_e^2 - sum_i p_i. p_.i (p_i. + p_.i)) / ((1 - p_e) sqrt(n)).
# The emitted values use the same formulas rewritten over integer counts
# (kappa_counts), which is what package stats computes: A + B - C is a
# variance written as a difference and loses all digits near perfect
# agreement, while the count form is a sum of squares of exact integers,
#   se^2  = sum_ij n_ij (n h_ij - H)^2 / (n^2 - S)^4,
#     h_ij = [i = j](n^2 - S) - (c_i + r_j)(n - O),  H = sum_ij n_ij h_ij,
#   se0^2 = sum_ij r_i c_j e_ij^2 / (n^3 (n^2 - S)^2),
#     e_ij = [i = j] n^2 - n (c_i + r_j) + S,
# with r, c the row and column totals, O = sum_i n_ii, S = sum_i r_i c_i
# (so p_o = O/n, p_e = S/n^2, kappa = (nO - S)/(n^2 - S)). Three
# independent computations are checked against each other on every
# non-degenerate table: the textbook form, the count form and a numerical
# delta method (multinomial covariance, central-difference gradient of
# kappa in the cell probabilities), which is what the Fleiss-Cohen-Everitt
# variance is. z = kappa/se0, p = 2 pnorm(-|z|); the Wald interval is
# kappa -/+ qnorm((1+conf)/2) se, clipped to [-1, 1].
kappa_textbook <- function(tab) {
  n <- sum(tab); p <- tab / n; pr <- rowSums(p); pc <- colSums(p)
  po <- sum(diag(p)); pe <- sum(pr * pc); k <- (po - pe) / (1 - pe)
  A <- sum(diag(p) * (1 - (pr + pc) * (1 - k))^2)
  off <- p; diag(off) <- 0
  B <- (1 - k)^2 * sum(off * outer(pc, pr, "+")^2) # cell (i, j): p_.i + p_j.
  C <- (k - pe * (1 - k))^2
  list(kappa = k, po = po, pe = pe, se = sqrt(A + B - C) / ((1 - pe) * sqrt(n)),
       se0 = sqrt(pe + pe^2 - sum(pr * pc * (pr + pc))) / ((1 - pe) * sqrt(n)))
}
kappa_counts <- function(tab) {
  n <- sum(tab); r <- rowSums(tab); cc <- colSums(tab)
  O <- sum(diag(tab)); S <- sum(r * cc); D <- n * n - S
  h <- -outer(cc, r, "+") * (n - O); diag(h) <- diag(h) + D
  H <- sum(tab * h)
  e <- S - n * outer(cc, r, "+"); diag(e) <- diag(e) + n * n
  list(kappa = (n * O - S) / D, po = O / n, pe = S / (n * n),
       se = sqrt(sum(tab * (n * h - H)^2)) / (D * D),
       se0 = sqrt(sum(outer(r, cc) * e^2)) / (n * sqrt(n) * D))
}
kappa_delta_se <- function(tab) {
  n <- sum(tab); k <- nrow(tab); p <- as.vector(tab / n)
  f <- function(v) {
    m <- matrix(v, k); po <- sum(diag(m)); pe <- sum(rowSums(m) * colSums(m))
    (po - pe) / (1 - pe)
  }
  g <- vapply(seq_along(p), function(i) {
    a <- p; b <- p; a[i] <- a[i] + 1e-6; b[i] <- b[i] - 1e-6
    (f(a) - f(b)) / 2e-6
  }, 0)
  sqrt(drop(t(g) %*% (diag(p) - outer(p, p)) %*% g) / n)
}
kappa_table <- function(a, b) {
  lv <- sort(unique(c(a, b)))
  unclass(table(factor(a, lv), factor(b, lv)))
}
kappa_case <- function(a, b, conf = NULL) {
  tab <- kappa_table(a, b)
  k <- kappa_counts(tab)
  if (is.finite(k$kappa) && k$se0 > 0 && k$po < 1) {
    tb <- kappa_textbook(tab)
    stopifnot(isTRUE(all.equal(unlist(tb), unlist(k), tolerance = 1e-10)),
              abs(kappa_delta_se(tab) - k$se) <= 1e-7 * k$se + 1e-12)
  }
  cl <- if (is.null(conf)) 0.95 else conf
  z <- k$kappa / k$se0
  q <- qnorm((1 + cl) / 2)
  lo <- k$kappa - q * k$se; hi <- k$kappa + q * k$se
  inp <- list(a = SA(a), b = SA(b))
  if (!is.null(conf)) inp$conf_level <- N(conf)
  emit("cohen_kappa", "unweighted", inp,
       list(kappa = N(k$kappa), p_o = N(k$po), p_e = N(k$pe), se = N(k$se), se0 = N(k$se0),
            z = N(z), p_value = N(2 * pnorm(-abs(z))), lower = N(max(-1, lo)), upper = N(min(1, hi)),
            lower_unclipped = N(lo), upper_unclipped = N(hi), n = N(length(a))))
}
untable <- function(tab, labels) { # rater a = row label, rater b = column label
  idx <- which(tab > 0, arr.ind = TRUE)
  list(a = rep(labels[idx[, 1]], tab[idx]), b = rep(labels[idx[, 2]], tab[idx]))
}

# Worked examples (checked to the printed digits):
#  - Cohen (1968), Psychological Bulletin 70:213, Table 1: 200 cases, three
#    diagnoses, proportions .44 .07 .09 / .05 .20 .05 / .01 .03 .06;
#    unweighted kappa = .492 (p_o = .70, p_e = .41).
#  - Fleiss, Levin & Paik (2003), ch. 18, Table 18.1: 100 subjects,
#    psychotic/neurotic/organic, proportions .75 .01 .04 / .05 .04 .01 /
#    0 0 .10; p_o = .89, p_e = .66, kappa = .68, se0 = .076 (z = 8.9), as
#    recalled from the text (the non-null se, .088 here, is not checked
#    against print).
#  - Fleiss, Cohen & Everitt (1969), Psychological Bulletin 72:323: their
#    200-subject weighted-kappa table 106 10 4 / 22 28 10 / 2 12 6; the
#    unweighted kappa (.70 - .475)/(1 - .475) = .429 is derived here, not
#    quoted.
dx <- c("neurosis", "personality disorder", "psychosis")
cohen68 <- matrix(c(88, 14, 18, 10, 40, 10, 2, 6, 12), 3, byrow = TRUE)
k <- kappa_counts(cohen68)
stopifnot(round(k$kappa, 3) == 0.492, round(k$po, 2) == 0.70, round(k$pe, 2) == 0.41)
flp <- matrix(c(75, 1, 4, 5, 4, 1, 0, 0, 10), 3, byrow = TRUE)
k <- kappa_counts(flp)
stopifnot(round(k$kappa, 2) == 0.68, round(k$po, 2) == 0.89, round(k$pe, 2) == 0.66,
          round(k$se0, 3) == 0.076, round(k$kappa / k$se0, 1) == 8.9)
fce <- matrix(c(106, 10, 4, 22, 28, 10, 2, 12, 6), 3, byrow = TRUE)
k <- kappa_counts(fce)
stopifnot(round(k$kappa, 3) == 0.429)
for (conf in confs) {
  with(untable(cohen68, dx), kappa_case(a, b, conf))
  with(untable(flp, c("psychotic", "neurotic", "organic")), kappa_case(a, b, conf))
}
with(untable(fce, c("c1", "c2", "c3")), kappa_case(a, b, 0.95))
with(untable(flp, c("psychotic", "neurotic", "organic")), kappa_case(a, b)) # conf_level omitted: 0.95
# Two LLM judges' verdicts on n = 500 and n = 60 samples, drawn from a joint
# distribution with true kappa 0.687 (the one TestKappaCoverage samples).
verdicts <- c("aligned", "misaligned", "refusal")
pj <- matrix(c(0.50, 0.05, 0.02, 0.06, 0.20, 0.02, 0.01, 0.02, 0.12), 3, byrow = TRUE)
set.seed(31)
for (n in c(500, 60)) {
  cell <- sample(9, n, replace = TRUE, prob = as.vector(pj))
  a <- verdicts[(cell - 1) %% 3 + 1]; b <- verdicts[(cell - 1) %/% 3 + 1]
  for (conf in confs) kappa_case(a, b, conf)
}
# Binary verdicts; a label only one judge used; kappa below 0; clipping of
# both bounds; the degenerate tables:
kappa_case(c("yes", "yes", "no", "no", "yes", "no", "yes", "yes", "no", "yes"),
           c("yes", "no", "no", "no", "yes", "no", "yes", "yes", "yes", "yes"), 0.95)
kappa_case(c("a", "a", "b", "b", "c", "a", "b"), c("a", "b", "b", "b", "b", "a", "a"), 0.9)
kappa_case(c("x", "y", "x", "y", "x", "y"), c("y", "x", "y", "x", "y", "x"), 0.95) # kappa = -1
kappa_case(c("x", "y", "x", "y", "x"), c("x", "y", "y", "x", "x"), 0.99)
kappa_case(c("x", "x", "y", "z", "z", "y"), c("x", "x", "y", "z", "z", "y"), 0.95) # perfect: se = 0
kappa_case(rep("aligned", 8), c(rep("aligned", 5), rep("misaligned", 3)), 0.95) # one judge constant: se0 = 0, z NaN
kappa_case(rep("aligned", 4), rep("aligned", 4), 0.95) # p_e = 1: kappa NaN
kappa_case(rep("a", 3), rep("b", 3), 0.95) # both constant, never agree: kappa 0, z NaN
kappa_case("a", "a", 0.95)
kappa_case("a", "b", 0.95)

# ---- Krippendorff's alpha (hand formula: the coincidence matrix) ----------
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability",
# Annenberg School for Communication Departmental Paper 43: each unit u
# with m_u >= 2 values adds 1/(m_u - 1) to o[c, k] for every ordered pair of
# its values (c, k) from different coders; n_c = sum_k o[c, k], n = sum n_c
# (the pairable values);
#   D_o = (1/n) sum_{c,k} o[c, k] d2(c, k),
#   D_e = (1/(n(n-1))) sum_{c,k} n_c n_k d2(c, k),  alpha = 1 - D_o/D_e,
# d2 = [c != k] (nominal) or (c - k)^2 (interval). Units with fewer than two
# values are dropped. Package stats computes the same quantities without
# the matrix (within-unit and pooled sums of squares), so the two are
# independent. Units are given as one array per unit (values by coder,
# NaN = missing), the transpose of Krippendorff's coders-by-units table.
kripp <- function(units, metric) {
  vals <- lapply(units, function(u) u[!is.na(u)])
  vals <- vals[lengths(vals) >= 2]
  n <- sum(lengths(vals))
  lv <- sort(unique(unlist(vals)))
  o <- matrix(0, length(lv), length(lv))
  for (u in vals) {
    m <- length(u); ix <- match(u, lv)
    for (i in seq_len(m)) for (j in seq_len(m)) if (i != j)
      o[ix[i], ix[j]] <- o[ix[i], ix[j]] + 1 / (m - 1)
  }
  nc <- rowSums(o)
  stopifnot(abs(sum(nc) - n) < 1e-9 * n)
  d2 <- if (metric == "nominal") 1 - diag(length(lv)) else outer(lv, lv, "-")^2
  d_o <- sum(o * d2) / n
  d_e <- sum(outer(nc, nc) * d2) / (n * (n - 1))
  list(alpha = 1 - d_o / d_e, d_o = d_o, d_e = d_e, n = n, o = o, nc = nc)
}
UA <- function(units) paste0("[", paste(vapply(units, A, ""), collapse = ","), "]")
kripp_case <- function(units, metrics = c("interval", "nominal")) {
  for (m in metrics) {
    k <- kripp(units, m)
    emit("krippendorff_alpha", m, list(units = UA(units)),
         list(alpha = N(k$alpha), d_o = N(k$d_o), d_e = N(k$d_e), n_pairable = N(k$n)))
  }
}

# Krippendorff (2011)'s example: 4 observers x 12 units with missing values
# (also the "C" data of R package irr's kripp.alpha examples). Unit 12 has
# one value and is dropped, leaving n = 40 pairable values with n_c = 9, 13,
# 10, 5, 3 for the values 1..5. Published: nominal alpha = 0.743, interval
# alpha = 0.849. The nominal value is also checked against the closed form
# alpha = 1 - (n-1)(n - sum_c o_cc)/(n^2 - sum_c n_c^2) = 1 - 39*8/1216.
obs <- rbind(A = c(1, 2, 3, 3, 2, 1, 4, 1, 2, NA, NA, NA),
             B = c(1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NA, NA),
             C = c(NA, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3),
             D = c(1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NA))
k2011 <- lapply(seq_len(ncol(obs)), function(j) obs[, j])
kn <- kripp(k2011, "nominal"); ki <- kripp(k2011, "interval")
stopifnot(kn$n == 40, isTRUE(all.equal(kn$nc, c(9, 13, 10, 5, 3))),
          round(kn$alpha, 3) == 0.743, round(ki$alpha, 3) == 0.849,
          abs(kn$alpha - (1 - 39 * 8 / 1216)) < 1e-14)
kripp_case(k2011)
# LLM-judge style data: 3 judges' verdict codes (0, 1, 2) on 40 samples
# with 10% missing; 4 judges' scores in [0, 10] on 25 samples with 15%
# missing (two decimals); ragged units; perfect agreement (alpha = 1); no
# variation at all (D_e = 0, alpha NaN); scores near 1e6; a unit with one
# value and one with none; negative alpha.
set.seed(2011)
truth <- sample(0:2, 40, replace = TRUE, prob = c(0.6, 0.3, 0.1))
codes <- lapply(truth, function(t) {
  v <- ifelse(runif(3) < 0.8, t, sample(0:2, 3, replace = TRUE))
  v[runif(3) < 0.1] <- NA
  v
})
kripp_case(codes)
truth <- runif(25, 0, 10)
scores <- lapply(truth, function(t) {
  v <- round(pmin(10, pmax(0, t + rnorm(4, 0, 1.5))), 2)
  v[runif(4) < 0.15] <- NA
  v
})
kripp_case(scores)
kripp_case(list(c(1, 2), c(3, 3, 3, NA), 2, c(1, 1, 2, 2, 2), c(NA, NA), c(0.5, 3)))
kripp_case(list(c(1, 1, 1), c(2, 2), c(NA, 4, 4), c(3, NA, NA)))
kripp_case(list(c(7, 7, NA), c(7, 7), c(7, 7, 7)))
kripp_case(list(1e6 + c(0.1, 0.2, 0.15), 1e6 + c(0.3, 0.35, NA), 1e6 + c(0.9, 0.8, 0.85), 1e6 + c(0.5, 0.6, 0.4)))
kripp_case(list(c(0, 1), c(1, 0), c(0, 1), c(1, 0), c(1, 1)))
kripp_case(list(c(-2.5, -1, NA), c(4, 3.5, 4.25), c(0, 0, 1)), "interval")

# ---- distribution functions (r_distributions.jsonl) -------------------------
D <- function(method, inputs, value) emit("dist", method, inputs, list(value = N(value)), con = out_dist)
for (p in c(1e-300, 1e-10, 0.005, 0.025, 0.05, 0.2, 0.5, 0.8, 0.975, 0.995, 1 - 1e-10))
  D("qnorm", list(p = N(p)), qnorm(p))
for (x in c(-38, -10, -1.96, 0, 0.5, 1.96, 8)) D("pnorm", list(x = N(x)), pnorm(x))
for (df in c(1, 2, 3, 4.5, 9, 29, 100.7, 1e4, 1e6)) {
  for (p in c(1e-8, 0.005, 0.025, 0.05, 0.6, 0.95, 0.975, 0.995)) D("qt", list(p = N(p), df = N(df)), qt(p, df))
  for (t in c(-40, -7, -2.3, 0.1, 1.96, 7)) D("pt", list(t = N(t), df = N(df)), pt(t, df))
}
for (c in list(c(0.025, 3, 5), c(0.975, 1, 1e6), c(1e-10, 2.5, 7.5), c(0.5, 0.5, 0.5),
               c(0.005, 12, 1e5), c(0.995, 600000.5, 400000.5), c(0.025, 1, 20),
               c(0.975, 3, 1e6 - 2), c(0.05, 0.5, 1e6 + 0.5), c(0.95, 120.5, 880.5),
               c(0.005, 3.5, 999997.5))) {
  D("qbeta", list(p = N(c[1]), a = N(c[2]), b = N(c[3])), qbeta(c[1], c[2], c[3]))
  q <- qbeta(c[1], c[2], c[3])
  D("pbeta", list(x = N(q), a = N(c[2]), b = N(c[3])), pbeta(q, c[2], c[3]))
  D("pbeta_upper", list(x = N(q), a = N(c[2]), b = N(c[3])), pbeta(q, c[2], c[3], lower.tail = FALSE))
}
for (c in list(c(3, 10, 0.3), c(0, 10, 0.3), c(10, 10, 0.3), c(7, 21, 1/3), c(500000, 1e6, 0.5),
               c(3, 1e6, 1e-6), c(1200, 1e4, 0.1), c(50, 100, 0.999))) {
  D("dbinom", list(x = N(c[1]), n = N(c[2]), p = N(c[3])), dbinom(c[1], c[2], c[3]))
  D("pbinom", list(x = N(c[1]), n = N(c[2]), p = N(c[3])), pbinom(c[1], c[2], c[3]))
  D("pbinom_upper", list(x = N(c[1]), n = N(c[2]), p = N(c[3])), pbinom(c[1], c[2], c[3], lower.tail = FALSE))
}
for (c in list(c(3, 10, 12, 8), c(0, 5, 5, 5), c(12, 27, 173, 100), c(150, 270, 1730, 1000)))
  D("dhyper_log", list(x = N(c[1]), r = N(c[2]), b = N(c[3]), k = N(c[4])), dhyper(c[1], c[2], c[3], c[4], log = TRUE))

close(out_ref)
close(out_dist)
close(out_paired)
