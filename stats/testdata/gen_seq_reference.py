# Reference values for the sequential statistics of package stats
# (SeqGate and RateCS in sequential.go and ratecs.go).
#
# Run from the repository root:
#
#   python3 stats/testdata/gen_seq_reference.py
#
# It writes, deterministically (fixed seeds, no timestamps):
#
#   stats/testdata/seq_reference.jsonl  one case per line,
#       {"family": F, "method": M, "inputs": {...}, "outputs": {...}}
#       in the format of r_reference.jsonl:
#     family "seq_gate", method "round" or "prompt": the two sides' log
#       wealth after every round and the verdict of a sequential gate;
#     family "rate_cs", method "round" or "prompt": the hedged capital
#       confidence sequence after every round, both confseq's grid bounds
#       and the exact ends of the same set.
#
# Numbers are written with repr(), which round-trips doubles.
#
# Why this script: the reference for these methods is the Python package
# confseq (github.com/gostevehoward/confseq, src/confseq/betting.py,
# betting_strategies.py, misc.py), by the authors of Waudby-Smith & Ramdas
# (2024), "Estimating means of bounded random variables by betting", JRSS-B.
# confseq needs numpy, scipy and a C++ build, which are not available here,
# so the functions the Go code relies on are re-written below in plain
# Python 3.11 (standard library only), keeping confseq's names, arguments
# and order of operations (cumulative sums and cumulative products, not the
# Go code's running logs), so that the two implementations share no code
# and no arithmetic shortcuts. Everything beyond confseq is marked
# "not in confseq" and says why.

import json
import math
import random

OUT = "stats/testdata/seq_reference.jsonl"


# ---- confseq, re-written without numpy -------------------------------------


def cumsum(v):
    out, s = [], 0.0
    for a in v:
        s += a
        out.append(s)
    return out


def cumprod(v):
    out, p = [], 1.0
    for a in v:
        p *= a
        out.append(p)
    return out


def lambda_predmix_eb(x, truncation=math.inf, alpha=0.05, fixed_n=None,
                      prior_mean=1 / 2, prior_variance=1 / 4, fake_obs=1, scale=1):
    """confseq.betting_strategies.lambda_predmix_eb (predictable plug-in)."""
    n = len(x)
    t = list(range(1, n + 1))
    cx = cumsum(x)
    mu_hat_t = [min((fake_obs * prior_mean + cx[i]) / (t[i] + fake_obs), 1) for i in range(n)]
    csq = cumsum([(x[i] - mu_hat_t[i]) ** 2 for i in range(n)])
    sigma2_t = [(fake_obs * prior_variance + csq[i]) / (t[i] + fake_obs) for i in range(n)]
    sigma2_tminus1 = [prior_variance] + sigma2_t[: n - 1]
    lambdas = []
    for i in range(n):
        if fixed_n is None:
            lam = math.sqrt(2 * math.log(1 / alpha) / (t[i] * math.log(1 + t[i]) * sigma2_tminus1[i]))
        else:
            lam = math.sqrt(2 * math.log(1 / alpha) / (fixed_n * sigma2_tminus1[i]))
        if math.isnan(lam):
            lam = 0.0
        lambdas.append(min(truncation, lam) * scale)
    return lambdas


def lambda_aKelly(x, m, prior_mean=1 / 2, prior_variance=1 / 4, fake_obs=1, trunc_scale=1):
    """confseq.betting_strategies.lambda_aKelly with N=None (aGRAPA)."""
    assert 0 < trunc_scale <= 1
    n = len(x)
    t = list(range(1, n + 1))
    cx = cumsum(x)
    mu_hat_t = [(fake_obs * prior_mean + cx[i]) / (t[i] + fake_obs) for i in range(n)]
    mu_hat_tminus1 = [prior_mean] + mu_hat_t[: n - 1]
    csq = cumsum([(x[i] - mu_hat_t[i]) ** 2 for i in range(n)])
    V_t = [(fake_obs * prior_variance + csq[i]) / (t[i] + fake_obs) for i in range(n)]
    V_tminus1 = [prior_variance] + V_t[: n - 1]
    out = []
    for i in range(n):
        d = mu_hat_tminus1[i] - m
        lam = d / (V_tminus1[i] + d ** 2)
        lam = max(-trunc_scale / (1 - m), lam)
        lam = min(trunc_scale / m, lam)
        out.append(lam)
    return out


def div(a, b):
    """a / b with numpy's errstate(divide='ignore'): a/0 = ±inf."""
    if b == 0:
        return math.copysign(math.inf, a)
    return a / b


def betting_mart(x, m, alpha=0.05, lambdas_fn_positive=None, lambdas_fn_negative=None,
                 convex_comb=False, theta=1 / 2, trunc_scale=1 / 2, m_trunc=True):
    """confseq.betting.betting_mart with N=None (sampling with replacement)."""
    assert 0 <= theta <= 1
    assert all(0 <= a <= 1 for a in x)
    n = len(x)
    if lambdas_fn_positive is None:
        lambdas_fn_positive = lambda x, m: lambda_predmix_eb(x, alpha=alpha * theta)
    if lambdas_fn_negative is None:
        lambdas_fn_negative = lambda x, m: lambda_predmix_eb(x, alpha=alpha * (1 - theta))
    mu_t = [m] * n
    assert 0 < trunc_scale <= 1
    if theta > 0:
        lp = lambdas_fn_positive(x, m)
        if m_trunc:
            lp = [min(lp[i], div(trunc_scale, mu_t[i])) for i in range(n)]
            lp = [max(lp[i], div(-trunc_scale, 1 - mu_t[i])) for i in range(n)]
        else:
            lp = [max(min(a, trunc_scale), -trunc_scale) for a in lp]
        mult = [1 + lp[i] * (x[i] - mu_t[i]) for i in range(n)]
        cap_pos = cumprod(mult)
    else:
        cap_pos = [0.0] * n
    if theta < 1:
        ln = lambdas_fn_negative(x, m)
        if m_trunc:
            ln = [min(ln[i], div(trunc_scale, 1 - mu_t[i])) for i in range(n)]
            ln = [max(ln[i], div(-trunc_scale, mu_t[i])) for i in range(n)]
        else:
            ln = [max(min(a, trunc_scale), -trunc_scale) for a in ln]
        mult = [1 - ln[i] * (x[i] - mu_t[i]) for i in range(n)]
        cap_neg = cumprod(mult)
    else:
        cap_neg = [0.0] * n
    if theta == 1:
        cap = cap_pos
    elif theta == 0:
        cap = cap_neg
    elif convex_comb:
        cap = [theta * cap_pos[i] + (1 - theta) * cap_neg[i] for i in range(n)]
    else:
        cap = [max(theta * cap_pos[i], (1 - theta) * cap_neg[i]) for i in range(n)]
    assert all(c >= 0 for c in cap)
    return cap


def hedged_cs_grid(x, alpha=0.05, breaks=1000, running_intersection=True,
                   theta=1 / 2, trunc_scale=1 / 2, round_of=None, fixed_n=None):
    """confseq.betting.hedged_cs, i.e. betting_cs with the predictable plug-in
    bets, diversified_betting_mart over one strategy, and cs_from_martingale's
    grid of breaks+1 candidate means. fixed_n is passed to the bets, as
    confseq's betting_ci does. Not in confseq: round_of (see held), with the
    CS read at the end of each round."""
    lpos = held(lambda x, m: lambda_predmix_eb(x, alpha=alpha * theta, fixed_n=fixed_n), round_of)
    lneg = held(lambda x, m: lambda_predmix_eb(x, alpha=alpha * (1 - theta), fixed_n=fixed_n), round_of)
    ends = round_ends(len(x), round_of)
    n = len(ends)
    possible_m = [i * (1 / breaks) for i in range(breaks + 1)]  # np.arange(0, 1 + 1/breaks, 1/breaks)
    threshold = 1 / alpha
    inside = []
    for m in possible_m:
        pos = betting_mart(x, m, alpha=alpha, lambdas_fn_positive=lpos, lambdas_fn_negative=lneg,
                           theta=1, trunc_scale=trunc_scale, m_trunc=True)
        neg = betting_mart(x, m, alpha=alpha, lambdas_fn_positive=lpos, lambdas_fn_negative=lneg,
                           theta=0, trunc_scale=trunc_scale, m_trunc=True)
        mart = [max(theta * pos[i], (1 - theta) * neg[i]) for i in ends]
        inside.append([v <= threshold for v in mart])
    l, u = [0.0] * n, [1.0] * n
    for j in range(n):
        where = [i for i in range(len(possible_m)) if inside[i][j]]
        if where:
            l[j] = possible_m[where[0]]
            u[j] = possible_m[where[-1]]
    l = [max(0, a - 1 / breaks) for a in l]
    u = [min(1, a + 1 / breaks) for a in u]
    if running_intersection:
        l = cumulative(max, l)
        u = cumulative(min, u)
    return l, u


def cumulative(f, v):
    out, acc = [], None
    for a in v:
        acc = a if acc is None else f(acc, a)
        out.append(acc)
    return out


# ---- not in confseq --------------------------------------------------------


def held(fn, round_of):
    """Not in confseq: bets held for a round. With per-prompt observations
    (round_of[i] is the round of observation i) every observation of a
    round gets the bet fn gives the round's first observation, which
    depends on earlier rounds only; a round's capital is then a product
    over its prompts with one bet, as in the Go code's PerPrompt. None:
    one observation per round, fn unchanged."""
    if round_of is None:
        return fn

    def f(x, m):
        lam = fn(x, m)
        out, first = [], {}
        for i, r in enumerate(round_of[: len(x)]):
            first.setdefault(r, i)
            out.append(lam[first[r]])
        return out
    return f


def round_ends(n, round_of):
    """Indices of the last observation of each round."""
    if round_of is None:
        return list(range(n))
    return [i for i in range(n) if i + 1 == n or round_of[i + 1] != round_of[i]]


def hedged_cs_exact(x, alpha=0.05, theta=1 / 2, trunc_scale=1 / 2, round_of=None, fixed_n=None):
    """Not in confseq: the exact ends of hedged_cs's set at every time, found
    by bisection on the same capital processes instead of on a grid.
    K+ falls and K- rises in m (each factor does), so at time t the set
    {m : max(theta K+, (1-theta) K-) <= 1/alpha} is [L_t, U_t] with
    L_t = inf{m : theta K+_t(m) <= 1/alpha}, U_t = sup{m : (1-theta) K-_t(m) <= 1/alpha}.
    Returns the running intersection, as hedged_cs does by default, read
    at the end of each round (see held for round_of)."""
    lpos = held(lambda x, m: lambda_predmix_eb(x, alpha=alpha * theta, fixed_n=fixed_n), round_of)
    lneg = held(lambda x, m: lambda_predmix_eb(x, alpha=alpha * (1 - theta), fixed_n=fixed_n), round_of)
    thr = 1 / alpha

    def kpos(t, m):
        return theta * betting_mart(x[:t], m, lambdas_fn_positive=lpos, lambdas_fn_negative=lneg,
                                    theta=1, trunc_scale=trunc_scale)[-1]

    def kneg(t, m):
        return (1 - theta) * betting_mart(x[:t], m, lambdas_fn_positive=lpos, lambdas_fn_negative=lneg,
                                          theta=0, trunc_scale=trunc_scale)[-1]

    L, U = [], []
    for t in [i + 1 for i in round_ends(len(x), round_of)]:
        if kpos(t, 0.0) <= thr:
            L.append(0.0)
        else:
            lo, hi = 0.0, 1.0  # kpos(lo) > thr >= kpos(hi)
            while True:
                mid = lo + (hi - lo) / 2
                if mid <= lo or mid >= hi:
                    break
                if kpos(t, mid) > thr:
                    lo = mid
                else:
                    hi = mid
            L.append(hi)
        if kneg(t, 1.0) <= thr:
            U.append(1.0)
        else:
            lo, hi = 0.0, 1.0  # kneg(lo) <= thr < kneg(hi)
            while True:
                mid = lo + (hi - lo) / 2
                if mid <= lo or mid >= hi:
                    break
                if kneg(t, mid) > thr:
                    hi = mid
                else:
                    lo = mid
            U.append(lo)
    return cumulative(max, L), cumulative(min, U)


def one_sided_aKelly(sign):
    """Not in confseq: the one-sided aGRAPA bets. confseq's betting_mart lets
    the positive process bet negative amounts (then it is a martingale only
    for the point null mean = m); a one-sided test of mean <= m may only
    bet lambda >= 0 on the positive side, and of mean >= m only lambda >= 0
    on the negative side, whose aGRAPA bet is -lambda_aKelly (aGRAPA on 1-x
    against 1-m). Clipping at 0 and at trunc_scale/m (or /(1-m)) is what
    betting_mart's m_trunc then leaves."""
    return lambda x, m: [max(0.0, sign * a) for a in lambda_aKelly(x, m)]


def gate_paths(y, m, alpha, trunc_scale, round_of=None):
    """Log wealth of the two sides of a sequential gate after each round:
    log(1/2 K+) and log(1/2 K-), each side starting with half of a unit of
    capital. y are the observations on [0, 1]; round_of[i] is the round of
    observation i (None: one observation per round). Bets are held for a
    whole round (not in confseq: the per-prompt gate bets once per round,
    at the aGRAPA value of the round's first observation, which uses only
    earlier rounds)."""
    pos = betting_mart(y, m, alpha=alpha, lambdas_fn_positive=held(one_sided_aKelly(+1), round_of),
                       theta=1, trunc_scale=trunc_scale, m_trunc=True)
    neg = betting_mart(y, m, alpha=alpha, lambdas_fn_negative=held(one_sided_aKelly(-1), round_of),
                       theta=0, trunc_scale=trunc_scale, m_trunc=True)
    ends = round_ends(len(y), round_of)
    return [math.log(0.5 * pos[i]) for i in ends], [math.log(0.5 * neg[i]) for i in ends]


def verdict(up, down, alpha, rule):
    """First round at which a side's log wealth reaches log(1/alpha)."""
    thr = math.log(1 / alpha)
    for t in range(len(up)):
        if up[t] >= thr:
            return t + 1, ("fail" if rule == "max_increase" else "pass")
        if down[t] >= thr:
            return t + 1, ("pass" if rule == "max_increase" else "fail")
    return len(up), "inconclusive"


# ---- cases -----------------------------------------------------------------

GATE_MAX_BET = 0.75  # stats.SeqMaxBet

out = open(OUT, "w")


def emit(family, method, inputs, outputs):
    out.write(json.dumps({"family": family, "method": method, "inputs": inputs, "outputs": outputs},
                         allow_nan=False, separators=(",", ":")) + "\n")


def bern_round(rng, pb, pt, k):
    return [float((rng.random() < pt) - (rng.random() < pb)) for _ in range(k)]


def round_gate(name, rounds, bound, alpha, rule):
    y = [(x + 1) / 2 for x in rounds]
    up, down = gate_paths(y, (bound + 1) / 2, alpha, GATE_MAX_BET)
    r, v = verdict(up, down, alpha, rule)
    emit("seq_gate", "round", {"case": name, "rounds": rounds, "bound": bound, "alpha": alpha, "rule": rule},
         {"log_wealth_above": up, "log_wealth_below": down, "verdict": v, "verdict_round": r})


def prompt_gate(name, rounds, bound, alpha, rule):
    y = [(d + 1) / 2 for r in rounds for d in r]
    round_of = [i for i, r in enumerate(rounds) for _ in r]
    up, down = gate_paths(y, (bound + 1) / 2, alpha, GATE_MAX_BET, round_of)
    r, v = verdict(up, down, alpha, rule)
    emit("seq_gate", "prompt", {"case": name, "rounds": rounds, "bound": bound, "alpha": alpha, "rule": rule},
         {"log_wealth_above": up, "log_wealth_below": down, "verdict": v, "verdict_round": r})


def mean(v):
    s = 0.0
    for a in v:
        s += a
    return s / len(v)


rng = random.Random(20240116)

# Round gate: one observation per round, the round's mean difference.
round_gate("uniform differences, bound 0", [rng.uniform(-1, 1) for _ in range(40)], 0.0, 0.05, "max_increase")
round_gate("leak 0.12 -> 0.40 over 50 prompts, max_increase 0.03",
           [mean(bern_round(rng, 0.12, 0.40, 50)) for _ in range(40)], 0.03, 0.05, "max_increase")
round_gate("no leak over 50 prompts, min_increase 0.2",
           [mean(bern_round(rng, 0.12, 0.12, 50)) for _ in range(40)], 0.2, 0.05, "min_increase")
round_gate("no leak over 50 prompts, max_increase 0.2, alpha 0.1",
           [mean(bern_round(rng, 0.12, 0.12, 50)) for _ in range(40)], 0.2, 0.10, "max_increase")
round_gate("extremes -1 and 1 only, bound -0.5",
           [rng.choice([-1.0, 1.0]) for _ in range(30)], -0.5, 0.1, "max_increase")
round_gate("bound 0.9 near the edge, alpha 0.01",
           [rng.uniform(0.5, 1) for _ in range(40)], 0.9, 0.01, "min_increase")
round_gate("at the bound 0.03 (0.12 vs 0.15 over 20 prompts)",
           [mean(bern_round(rng, 0.12, 0.15, 20)) for _ in range(60)], 0.03, 0.05, "max_increase")

# Per-prompt gate: every prompt's difference, bets held for a round.
prompt_gate("leak 0.2 -> 0.5 over 10 prompts, max_increase 0.05",
            [bern_round(rng, 0.2, 0.5, 10) for _ in range(15)], 0.05, 0.05, "max_increase")
prompt_gate("no leak over 20 prompts, max_increase 0.1",
            [bern_round(rng, 0.12, 0.12, 20) for _ in range(30)], 0.10, 0.05, "max_increase")
prompt_gate("fractional differences over 7 prompts, min_increase -0.2",
            [[rng.uniform(-1, 1) for _ in range(7)] for _ in range(25)], -0.2, 0.05, "min_increase")
prompt_gate("one prompt per round at the bound 0",
            [bern_round(rng, 0.5, 0.5, 1) for _ in range(50)], 0.0, 0.2, "max_increase")


def rate_cs(name, x, alpha, horizon=0):
    """horizon is stats.RateCSConfig.Horizon, in rounds (0: none)."""
    fixed_n = horizon if horizon > 0 else None
    gl, gu = hedged_cs_grid(x, alpha=alpha, fixed_n=fixed_n)
    el, eu = hedged_cs_exact(x, alpha=alpha, fixed_n=fixed_n)
    emit("rate_cs", "round", {"case": name, "rounds": x, "alpha": alpha, "horizon": horizon, "breaks": 1000},
         {"lower": el, "upper": eu, "grid_lower": gl, "grid_upper": gu})


def rate_cs_prompt(name, rounds, alpha, horizon=0):
    """Observations are the prompts' values, fixed_n = horizon rounds of them."""
    x = [a for r in rounds for a in r]
    round_of = [i for i, r in enumerate(rounds) for _ in r]
    fixed_n = horizon * len(rounds[0]) if horizon > 0 else None
    gl, gu = hedged_cs_grid(x, alpha=alpha, round_of=round_of, fixed_n=fixed_n)
    el, eu = hedged_cs_exact(x, alpha=alpha, round_of=round_of, fixed_n=fixed_n)
    emit("rate_cs", "prompt", {"case": name, "rounds": rounds, "alpha": alpha, "horizon": horizon, "breaks": 1000},
         {"lower": el, "upper": eu, "grid_lower": gl, "grid_upper": gu})


def round_rate(rng, p, k):
    return sum(rng.random() < p for _ in range(k)) / k


rate_cs("rate 0.12 over 50 prompts", [round_rate(rng, 0.12, 50) for _ in range(60)], 0.05)
rate_cs("rate 0.01 over 50 prompts", [round_rate(rng, 0.01, 50) for _ in range(40)], 0.05)
rate_cs("all zeros", [0.0] * 25, 0.05)
rate_cs("uniform on [0, 1]", [rng.random() for _ in range(40)], 0.1)
rate_cs("rate 0.95 over 20 prompts, alpha 0.01", [round_rate(rng, 0.95, 20) for _ in range(40)], 0.01)
rate_cs("single Bernoulli draws, p 0.3", [float(rng.random() < 0.3) for _ in range(40)], 0.05)


def hits(rng, p, k):
    return [float(rng.random() < p) for _ in range(k)]


rate_cs_prompt("hits at 0.12 over 20 prompts", [hits(rng, 0.12, 20) for _ in range(25)], 0.05)
rate_cs_prompt("hits at 0.9 over 10 prompts, alpha 0.1", [hits(rng, 0.9, 10) for _ in range(25)], 0.1)
rate_cs_prompt("scores uniform on [0, 1] over 5 prompts", [[rng.random() for _ in range(5)] for _ in range(20)], 0.05)
rate_cs_prompt("no hits over 10 prompts", [[0.0] * 10 for _ in range(15)], 0.05)
rate_cs("rate 0.3 over 50 prompts, horizon 30", [round_rate(rng, 0.3, 50) for _ in range(40)], 0.05, 30)
rate_cs_prompt("hits at 0.12 over 20 prompts, horizon 20", [hits(rng, 0.12, 20) for _ in range(25)], 0.05, 20)
rate_cs_prompt("hits at 0.02 over 30 prompts, horizon 100", [hits(rng, 0.02, 30) for _ in range(20)], 0.05, 100)

out.close()
