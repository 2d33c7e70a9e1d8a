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
  ci <- wilson_ci(x, n, conf, TRUE)
  emit("binom_ci", "wilson_cc", inp, list(estimate = N(est), lower = N(ci[1]), upper = N(ci[2])))
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
