"""Small, dependency-free statistics for comparing a candidate with a baseline.

The promotion decision of protected self-evolution (issue #5) runs inside the
guardian process, which must stay small and must not load numpy or scipy, so
the few tests it needs are written here with the standard library only:

- `mann_whitney_u`: rank test for latencies and fitness scores.  Latencies are
  skewed and heavy-tailed (GC pauses, cold caches), so a rank test is the
  honest choice over a t-test.  The p-values follow ``scipy.stats.mannwhitneyu``
  (exact distribution for small samples without ties, otherwise the normal
  approximation with tie and continuity correction).
- `cliffs_delta`: the effect size that goes with it, so that a tiny but
  "significant" difference on a large sample is not mistaken for a real one.
- `bootstrap_ci`: a percentile confidence interval for the ratio of medians,
  the number a human reads ("the candidate is 1.4x slower, 1.3x–1.6x").
- `two_proportion_test`: error rates (Fisher's exact test for small counts,
  pooled z-test otherwise).
- `summarize`: the numbers stored in evidence records.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EXACT_MAX_SIZE",
    "FISHER_MIN_EXPECTED",
    "Alternative",
    "MannWhitney",
    "bootstrap_ci",
    "cliffs_delta",
    "mann_whitney_u",
    "median_ratio",
    "summarize",
    "two_proportion_method",
    "two_proportion_test",
]

Alternative = Literal["two-sided", "less", "greater"]
_ALTERNATIVES: tuple[str, ...] = ("two-sided", "less", "greater")

EXACT_MAX_SIZE = 20
"""Largest per-sample size for which `mann_whitney_u` uses the exact distribution.

Beyond it the normal approximation is accurate to well under 1e-3 in the
p-value, and the exact table (``n_a * n_b + 1`` big integers) stops being free.
"""

FISHER_MIN_EXPECTED = 5.0
"""`two_proportion_test` uses Fisher's exact test when an expected cell count is below this.

The classic rule of thumb for when the z-test's normal approximation breaks
down: with few errors the approximation badly understates small p-values.
"""


@dataclass(frozen=True, slots=True)
class MannWhitney:
    """Result of `mann_whitney_u`.

    ``u`` is the U statistic of sample *a* (the number of pairs where a's value
    is larger, ties counting one half), ``effect`` is Cliff's delta (equal to
    the rank-biserial correlation ``2u / (n_a n_b) - 1``): +1 when every value of
    *a* is larger than every value of *b*, -1 when every one is smaller.
    ``method`` says which null distribution produced ``p_value``.
    """

    u: float
    p_value: float
    effect: float
    n_a: int
    n_b: int
    method: Literal["exact", "normal"]


def _check_sample(name: str, values: Sequence[float]) -> list[float]:
    """Return ``values`` as a list of floats, refusing empty samples and NaN/infinity.

    A NaN compares false with everything and would silently corrupt the ranks,
    so it is an error rather than something to skip.
    """
    if len(values) == 0:
        raise ValueError(f"{name} is empty")
    out = [float(v) for v in values]
    for i, v in enumerate(out):
        if not math.isfinite(v):
            raise ValueError(f"{name} has a non-finite value at index {i}: {v!r}")
    return out


def _check_alternative(alternative: str) -> None:
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"alternative must be 'two-sided', 'less' or 'greater', not {alternative!r}"
        )


def _normal_sf(z: float) -> float:
    """Survival function of the standard normal, accurate far into the tail (via erfc)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


@functools.lru_cache(maxsize=64)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """Number of arrangements of ``m`` a-values and ``n`` b-values giving each U = 0 .. m*n.

    The generating function of U is the Gaussian binomial coefficient
    ``prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i)``; each factor is one multiplication
    and one power-series division on a truncated coefficient list.  Truncating
    at degree ``m*n`` is exact because the final product is a polynomial of that
    degree.  Integers keep it exact (the total is C(m+n, m)).
    """
    size = m * n + 1
    c = [0] * size
    c[0] = 1
    for i in range(1, m + 1):
        k = n + i
        for j in range(size - 1, k - 1, -1):
            c[j] -= c[j - k]
        for j in range(i, size):
            c[j] += c[j - i]
    return tuple(c)


def _exact_sf(u: int, m: int, n: int) -> float:
    """P(U >= u) under the null hypothesis, from the exact distribution."""
    # The distribution of U is symmetric in (m, n); the table costs min² · max steps.
    counts = _u_counts(min(m, n), max(m, n))
    if u <= 0:
        return 1.0
    if u > m * n:
        return 0.0
    return sum(counts[u:]) / math.comb(m + n, m)


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, tied values sharing the average of their ranks (midranks)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        mid = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = mid
        i = j + 1
    return ranks


def mann_whitney_u(
    a: Sequence[float],
    b: Sequence[float],
    alternative: Alternative = "two-sided",
    *,
    method: Literal["auto", "exact", "normal"] = "auto",
) -> MannWhitney:
    """Mann-Whitney U test of whether *a* tends to be larger ("greater"), smaller or different.

    ``method="auto"`` uses the exact distribution when both samples have at most
    `EXACT_MAX_SIZE` values and there are no ties, and the normal approximation
    (tie-corrected variance, continuity correction) otherwise; this matches
    ``scipy.stats.mannwhitneyu`` with ``method="exact"``/``"asymptotic"``.  The
    exact method is refused when there are ties, because the tabulated
    distribution assumes distinct values.

    When every value in both samples is the same the variance is zero and there
    is no evidence of any difference, so the p-value is 1 (scipy returns NaN).
    """
    _check_alternative(alternative)
    if method not in ("auto", "exact", "normal"):
        raise ValueError(f"method must be 'auto', 'exact' or 'normal', not {method!r}")
    xs = _check_sample("sample a", a)
    ys = _check_sample("sample b", b)
    n_a, n_b = len(xs), len(ys)
    pooled = xs + ys
    ranks = _ranks(pooled)
    u_a = math.fsum(ranks[:n_a]) - n_a * (n_a + 1) / 2.0
    u_b = n_a * n_b - u_a
    effect = 2.0 * u_a / (n_a * n_b) - 1.0
    tie_counts = [t for t in Counter(pooled).values() if t > 1]

    if method == "exact" and tie_counts:
        raise ValueError("the exact Mann-Whitney distribution needs samples without ties")
    exact = method == "exact" or (
        method == "auto" and not tie_counts and n_a <= EXACT_MAX_SIZE and n_b <= EXACT_MAX_SIZE
    )

    p: float
    if exact:
        # Without ties U is an integer; round() only removes float noise from the rank sum.
        ua, ub = round(u_a), round(u_b)
        if alternative == "greater":
            p = _exact_sf(ua, n_a, n_b)
        elif alternative == "less":
            p = _exact_sf(ub, n_a, n_b)
        else:
            p = min(1.0, 2.0 * _exact_sf(max(ua, ub), n_a, n_b))
        return MannWhitney(u_a, p, effect, n_a, n_b, "exact")

    n = n_a + n_b
    tie_term = sum(t**3 - t for t in tie_counts) / (n * (n - 1))
    variance = n_a * n_b / 12.0 * ((n + 1) - tie_term)
    if variance <= 0.0:
        return MannWhitney(u_a, 1.0, effect, n_a, n_b, "normal")
    mu = n_a * n_b / 2.0
    if alternative == "greater":
        u, factor = u_a, 1.0
    elif alternative == "less":
        u, factor = u_b, 1.0
    else:
        u, factor = max(u_a, u_b), 2.0
    z = (u - mu - 0.5) / math.sqrt(variance)
    p = min(1.0, max(0.0, factor * _normal_sf(z)))
    return MannWhitney(u_a, p, effect, n_a, n_b, "normal")


def cliffs_delta(a: Sequence[float], b: Sequence[float]) -> float:
    """Cliff's delta: P(a > b) - P(a < b) over all pairs, in [-1, 1].

    Computed with a sort and binary searches (O((n_a + n_b) log n_b)) rather than
    the O(n_a n_b) pair loop, because latency samples can be thousands long.
    """
    xs = _check_sample("sample a", a)
    ys = sorted(_check_sample("sample b", b))
    greater = less = 0
    for x in xs:
        greater += bisect.bisect_left(ys, x)
        less += len(ys) - bisect.bisect_right(ys, x)
    return (greater - less) / (len(xs) * len(ys))


def median_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """``median(b) / median(a)``: > 1 when *b* is slower, for latencies.

    A zero median in *a* (a timer too coarse for a fast path) gives 1.0 when b's
    median is zero too and infinity otherwise, instead of a ZeroDivisionError
    in the middle of a bootstrap.
    """
    ma = statistics.median(a)
    mb = statistics.median(b)
    if ma == 0:
        return 1.0 if mb == 0 else math.copysign(math.inf, mb)
    return float(mb / ma)


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default, Hyndman–Fan type 7) of sorted data."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    low_v, high_v = sorted_values[lo], sorted_values[hi]
    if frac == 0.0 or low_v == high_v:
        return float(low_v)
    return float(low_v + (high_v - low_v) * frac)


def bootstrap_ci(
    a: Sequence[float],
    b: Sequence[float],
    statistic: Callable[[Sequence[float], Sequence[float]], float] = median_ratio,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic(a, b)``.

    Each resample draws ``len(a)`` values from *a* and ``len(b)`` from *b* with
    replacement (the arms are independent).  The interval is the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the
    resampled statistics.  The generator is ``random.Random(seed)``, so the
    same inputs and seed always give the same interval: evidence recorded in a
    commit can be recomputed.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, not {confidence!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, not {resamples!r}")
    xs = _check_sample("sample a", a)
    ys = _check_sample("sample b", b)
    rng = random.Random(seed)
    n_a, n_b = len(xs), len(ys)
    stats: list[float] = []
    for _ in range(resamples):
        ra = [xs[int(rng.random() * n_a)] for _ in range(n_a)]
        rb = [ys[int(rng.random() * n_b)] for _ in range(n_b)]
        value = float(statistic(ra, rb))
        if math.isnan(value):
            raise ValueError("statistic returned NaN on a bootstrap resample")
        stats.append(value)
    stats.sort()
    tail = (1.0 - confidence) / 2.0
    return _quantile(stats, tail), _quantile(stats, 1.0 - tail)


def _check_count(name: str, errors: int, n: int) -> None:
    for label, value in ((f"errors_{name}", errors), (f"n_{name}", n)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{label} must be an int, not {value!r}")
    if n < 1:
        raise ValueError(f"n_{name} must be at least 1, not {n}")
    if not 0 <= errors <= n:
        raise ValueError(f"errors_{name} must be between 0 and n_{name}={n}, not {errors}")


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _fisher(errors_a: int, n_a: int, errors_b: int, n_b: int, alternative: str) -> float:
    """Fisher's exact test on the 2x2 table [[errors_a, n_a - errors_a], [errors_b, n_b - errors_b]].

    Under the null, errors_a is hypergeometric: ``n_a`` draws from ``n_a + n_b``
    requests of which ``errors_a + errors_b`` failed.  Two-sided sums the tables
    no more likely than the observed one (with scipy's 1e-7 relative slack for
    rounding).  Log-gamma keeps large ``n`` cheap.
    """
    total = n_a + n_b
    failed = errors_a + errors_b
    lo = max(0, failed - n_b)
    hi = min(failed, n_a)
    log_denominator = _log_comb(total, n_a)

    def pmf(k: int) -> float:
        return math.exp(_log_comb(failed, k) + _log_comb(total - failed, n_a - k) - log_denominator)

    if alternative == "greater":
        p = math.fsum(pmf(k) for k in range(errors_a, hi + 1))
    elif alternative == "less":
        p = math.fsum(pmf(k) for k in range(lo, errors_a + 1))
    else:
        observed = pmf(errors_a)
        p = math.fsum(
            q for q in (pmf(k) for k in range(lo, hi + 1)) if q <= observed * (1.0 + 1e-7)
        )
    return min(1.0, p)


def two_proportion_method(
    errors_a: int, n_a: int, errors_b: int, n_b: int
) -> Literal["fisher", "z-test", "none"]:
    """Which test `two_proportion_test` uses for these counts (recorded next to its p-value).

    ``"none"`` when both arms have no errors or only errors: the p-value is then 1.
    ``"fisher"`` when any expected cell count is below `FISHER_MIN_EXPECTED`.
    """
    _check_count("a", errors_a, n_a)
    _check_count("b", errors_b, n_b)
    total = n_a + n_b
    failed = errors_a + errors_b
    if failed in (0, total):
        return "none"
    expected = min(n * k / total for n in (n_a, n_b) for k in (failed, total - failed))
    return "fisher" if expected < FISHER_MIN_EXPECTED else "z-test"


def two_proportion_test(
    errors_a: int,
    n_a: int,
    errors_b: int,
    n_b: int,
    alternative: Alternative = "two-sided",
) -> float:
    """P-value for the error rate of *a* being greater / less than / different from *b*'s.

    Fisher's exact test when any expected cell count is below
    `FISHER_MIN_EXPECTED` (few errors or few requests: the common case for a
    canary), otherwise the pooled two-proportion z-test.  When both arms have
    no errors (or only errors) there is nothing to test and the p-value is 1.
    """
    _check_alternative(alternative)
    method = two_proportion_method(errors_a, n_a, errors_b, n_b)
    if method == "none":
        return 1.0
    if method == "fisher":
        return _fisher(errors_a, n_a, errors_b, n_b, alternative)
    total = n_a + n_b
    failed = errors_a + errors_b
    pooled = failed / total
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    z = (errors_a / n_a - errors_b / n_b) / se
    if alternative == "greater":
        return _normal_sf(z)
    if alternative == "less":
        return _normal_sf(-z)
    return min(1.0, 2.0 * _normal_sf(abs(z)))


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """``n, mean, median, p95, min, max`` of a sample, as plain floats for evidence records.

    ``p95`` uses linear interpolation between order statistics (numpy's default),
    so it is defined for any sample size.
    """
    xs = sorted(_check_sample("samples", samples))
    return {
        "n": len(xs),
        "mean": math.fsum(xs) / len(xs),
        "median": float(statistics.median(xs)),
        "p95": _quantile(xs, 0.95),
        "min": xs[0],
        "max": xs[-1],
    }
