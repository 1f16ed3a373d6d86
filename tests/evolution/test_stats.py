"""Tests of the stdlib-only statistics behind the promotion decision.

The oracles are independent of the implementation: exact Mann-Whitney p-values
by enumerating every assignment of the pooled values to the two samples,
Fisher's test by summing hypergeometric probabilities as fractions, the
normal approximation from the textbook formula with a pairwise-count U, and
published values (scipy's documented example, Fisher's lady tasting tea).
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from o_lisp.evolution._stats import (
    EXACT_MAX_SIZE,
    MannWhitney,
    bootstrap_ci,
    cliffs_delta,
    mann_whitney_u,
    median_ratio,
    summarize,
    two_proportion_method,
    two_proportion_test,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- oracles ---------------------------------------------------------------------------------


def pairwise_u(a: list[float], b: list[float]) -> float:
    """U of *a*: pairs where a wins, ties count one half (the definition, O(n·m))."""
    return sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)


def brute_exact_p(a: list[float], b: list[float], alternative: str) -> Fraction:
    """Exact null p-value by enumerating all C(n_a + n_b, n_a) splits of the pooled values."""
    pooled = a + b
    observed = pairwise_u(a, b)
    n_a, n_b = len(a), len(b)
    mu = Fraction(n_a * n_b, 2)
    total = 0
    hits = 0
    for idx in itertools.combinations(range(len(pooled)), n_a):
        chosen = set(idx)
        xs = [pooled[i] for i in chosen]
        ys = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        u = pairwise_u(xs, ys)
        total += 1
        if alternative == "greater":
            hits += u >= observed
        elif alternative == "less":
            hits += u <= observed
        else:
            hits += abs(u - mu) >= abs(observed - mu)
    return Fraction(hits, total)


def reference_normal_p(a: list[float], b: list[float], alternative: str) -> float:
    """Normal approximation with tie correction and continuity correction, from the formula."""
    n_a, n_b = len(a), len(b)
    n = n_a + n_b
    u_a = pairwise_u(a, b)
    u_b = n_a * n_b - u_a
    ties = sum(t**3 - t for t in Counter(a + b).values())
    sigma = math.sqrt(n_a * n_b / 12 * ((n + 1) - ties / (n * (n - 1))))
    u = {"greater": u_a, "less": u_b, "two-sided": max(u_a, u_b)}[alternative]
    z = (u - n_a * n_b / 2 - 0.5) / sigma
    sf = 0.5 * math.erfc(z / math.sqrt(2))
    return min(1.0, sf * (2 if alternative == "two-sided" else 1))


def fisher_oracle(e_a: int, n_a: int, e_b: int, n_b: int, alternative: str) -> Fraction:
    failed, total = e_a + e_b, n_a + n_b

    def pmf(k: int) -> Fraction:
        return Fraction(
            math.comb(failed, k) * math.comb(total - failed, n_a - k), math.comb(total, n_a)
        )

    support = range(max(0, failed - n_b), min(failed, n_a) + 1)
    if alternative == "greater":
        return sum((pmf(k) for k in support if k >= e_a), Fraction(0))
    if alternative == "less":
        return sum((pmf(k) for k in support if k <= e_a), Fraction(0))
    observed = pmf(e_a)
    return sum((pmf(k) for k in support if pmf(k) <= observed), Fraction(0))


distinct_small = st.lists(st.integers(-1000, 1000), min_size=2, max_size=12, unique=True).flatmap(
    lambda values: st.integers(1, len(values) - 1).map(
        lambda k: ([float(v) for v in values[:k]], [float(v) for v in values[k:]])
    )
)
small_samples = st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=15)
ALTERNATIVES = ("two-sided", "less", "greater")


# --- Mann-Whitney U: published values ---------------------------------------------------------


def test_scipy_documented_example_exact() -> None:
    # scipy.stats.mannwhitneyu docs: males vs females -> statistic=17.0, pvalue=0.1111...
    result = mann_whitney_u([19, 22, 16, 29, 24], [20, 11, 17, 12])
    assert result == MannWhitney(
        u=17.0, p_value=pytest.approx(1 / 9, rel=1e-12), effect=0.7, n_a=5, n_b=4, method="exact"
    )


def test_scipy_documented_example_asymptotic() -> None:
    # scipy docs, method="asymptotic": pvalue=0.11134688653314041
    result = mann_whitney_u([19, 22, 16, 29, 24], [20, 11, 17, 12], method="normal")
    assert result.method == "normal"
    assert result.p_value == pytest.approx(0.11134688653314041, rel=1e-12)


def test_complete_separation_exact_p_is_one_over_binomial() -> None:
    a = [10.0, 11.0, 12.0, 13.0, 14.0]
    b = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert mann_whitney_u(a, b, "greater").p_value == pytest.approx(1 / 252, rel=1e-12)
    assert mann_whitney_u(a, b, "two-sided").p_value == pytest.approx(2 / 252, rel=1e-12)
    assert mann_whitney_u(a, b, "less").p_value == 1.0
    assert mann_whitney_u(a, b).effect == 1.0
    assert mann_whitney_u(a, b).u == 25.0


# --- Mann-Whitney U: exact distribution against enumeration ----------------------------------


@pytest.mark.parametrize("n_a,n_b", [(1, 1), (1, 5), (2, 3), (3, 3), (4, 6), (6, 4), (5, 7)])
def test_exact_p_matches_enumeration_on_random_samples(n_a: int, n_b: int) -> None:
    rng = random.Random(n_a * 100 + n_b)
    for _ in range(5):
        values = rng.sample(range(1000), n_a + n_b)
        a = [float(v) for v in values[:n_a]]
        b = [float(v) for v in values[n_a:]]
        for alternative in ALTERNATIVES:
            got = mann_whitney_u(a, b, alternative)  # type: ignore[arg-type]
            assert got.method == "exact"
            want = min(Fraction(1), brute_exact_p(a, b, alternative))
            assert got.p_value == pytest.approx(float(want), rel=1e-12, abs=1e-15)


@FAST
@given(distinct_small, st.sampled_from(ALTERNATIVES))
def test_exact_p_matches_enumeration_property(
    samples: tuple[list[float], list[float]], alternative: str
) -> None:
    a, b = samples
    got = mann_whitney_u(a, b, alternative)  # type: ignore[arg-type]
    assert got.method == "exact"
    assert got.u == pairwise_u(a, b)
    want = min(Fraction(1), brute_exact_p(a, b, alternative))
    assert got.p_value == pytest.approx(float(want), rel=1e-12, abs=1e-15)


def test_exact_used_up_to_the_size_limit_without_ties() -> None:
    rng = random.Random(7)
    values = rng.sample(range(100_000), 2 * EXACT_MAX_SIZE + 1)
    a = [float(v) for v in values[:EXACT_MAX_SIZE]]
    b = [float(v) for v in values[EXACT_MAX_SIZE : 2 * EXACT_MAX_SIZE]]
    assert mann_whitney_u(a, b).method == "exact"
    assert mann_whitney_u(a + [float(values[-1])], b).method == "normal"
    # With 20 per arm the normal approximation is already close to the exact value.
    exact = mann_whitney_u(a, b, method="exact").p_value
    normal = mann_whitney_u(a, b, method="normal").p_value
    assert abs(exact - normal) < 0.01


def test_exact_on_request_beyond_the_size_limit_is_exact() -> None:
    # 25 vs 25, complete separation: P = 1 / C(50, 25).
    a = [float(i) for i in range(25)]
    b = [float(i) for i in range(100, 125)]
    got = mann_whitney_u(a, b, "less", method="exact")
    assert got.method == "exact"
    assert got.p_value == pytest.approx(1 / math.comb(50, 25), rel=1e-12)


# --- Mann-Whitney U: normal approximation ------------------------------------------------------


def test_ties_switch_to_normal_with_tie_correction() -> None:
    a = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0]
    b = [2.0, 3.0, 4.0, 4.0, 5.0, 5.0]
    for alternative in ALTERNATIVES:
        got = mann_whitney_u(a, b, alternative)  # type: ignore[arg-type]
        assert got.method == "normal"
        assert got.u == pairwise_u(a, b)
        assert got.p_value == pytest.approx(reference_normal_p(a, b, alternative), rel=1e-12)


@FAST
@given(small_samples, small_samples, st.sampled_from(ALTERNATIVES))
def test_normal_matches_formula_property(a: list[float], b: list[float], alternative: str) -> None:
    if len(set(a + b)) == 1:
        return  # zero variance, covered by test_all_values_equal_gives_p_one
    got = mann_whitney_u(a, b, alternative, method="normal")  # type: ignore[arg-type]
    assert got.u == pairwise_u(a, b)
    assert got.p_value == pytest.approx(reference_normal_p(a, b, alternative), rel=1e-9, abs=1e-15)


def test_large_samples_use_normal_and_reach_tiny_p() -> None:
    rng = random.Random(3)
    a = [rng.gauss(10, 1) for _ in range(500)]
    b = [rng.gauss(20, 1) for _ in range(500)]
    got = mann_whitney_u(a, b, "less")
    assert got.method == "normal"
    assert got.p_value < 1e-100
    assert got.effect == -1.0


def test_all_values_equal_gives_p_one() -> None:
    got = mann_whitney_u([3.0] * 30, [3.0] * 25)
    assert (got.p_value, got.effect, got.u, got.method) == (1.0, 0.0, 375.0, "normal")


# --- Mann-Whitney U: properties -----------------------------------------------------------------


@FAST
@given(small_samples, small_samples)
def test_two_sided_symmetry_and_effect_antisymmetry(a: list[float], b: list[float]) -> None:
    ab, ba = mann_whitney_u(a, b), mann_whitney_u(b, a)
    assert ab.p_value == pytest.approx(ba.p_value, rel=1e-12)
    assert ab.effect == pytest.approx(-ba.effect, abs=1e-12)
    assert ab.u + ba.u == pytest.approx(len(a) * len(b))
    assert mann_whitney_u(a, b, "greater").p_value == pytest.approx(
        mann_whitney_u(b, a, "less").p_value, rel=1e-12
    )
    assert -1.0 <= ab.effect <= 1.0
    assert 0.0 <= ab.p_value <= 1.0


@FAST
@given(small_samples)
def test_identical_samples_give_p_one(a: list[float]) -> None:
    got = mann_whitney_u(a, list(a))
    assert got.p_value == 1.0
    assert got.effect == 0.0


@FAST
@given(
    st.lists(st.floats(0, 100, allow_nan=False), min_size=10, max_size=40),
    st.lists(st.floats(0, 100, allow_nan=False), min_size=10, max_size=40),
)
def test_shifting_b_far_up_gives_tiny_p(a: list[float], b: list[float]) -> None:
    shifted = [x + 1e6 for x in b]
    got = mann_whitney_u(a, shifted, "less")
    assert got.effect == -1.0
    assert got.p_value < 1e-3
    assert mann_whitney_u(a, shifted, "greater").p_value > 0.999


@FAST
@given(distinct_small | st.tuples(small_samples, small_samples), st.sampled_from(ALTERNATIVES))
def test_invariant_under_monotone_transforms(
    samples: tuple[list[float], list[float]], alternative: str
) -> None:
    a, b = samples
    base = mann_whitney_u(a, b, alternative)  # type: ignore[arg-type]
    for transform in (lambda x: 3 * x + 7, lambda x: math.exp(x / 1000), lambda x: x**3):
        moved = mann_whitney_u(
            [transform(x) for x in a],
            [transform(x) for x in b],
            alternative,  # type: ignore[arg-type]
        )
        assert moved == base
    flipped = mann_whitney_u([-x for x in a], [-x for x in b])
    assert flipped.p_value == pytest.approx(mann_whitney_u(a, b).p_value, rel=1e-12)
    assert flipped.effect == pytest.approx(-base.effect, abs=1e-12)


# --- Mann-Whitney U: errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "a,b,message",
    [
        ([], [1.0], "sample a is empty"),
        ([1.0], [], "sample b is empty"),
        ([1.0, math.nan], [1.0], "sample a has a non-finite value at index 1: nan"),
        ([1.0], [2.0, 3.0, math.inf], "sample b has a non-finite value at index 2: inf"),
        ([1.0], [-math.inf], "sample b has a non-finite value at index 0: -inf"),
    ],
)
def test_bad_samples_raise(a: list[float], b: list[float], message: str) -> None:
    with pytest.raises(ValueError) as info:
        mann_whitney_u(a, b)
    assert str(info.value) == message


def test_bad_alternative_and_method_raise() -> None:
    with pytest.raises(ValueError) as info:
        mann_whitney_u([1.0], [2.0], "bigger")  # type: ignore[arg-type]
    assert str(info.value) == "alternative must be 'two-sided', 'less' or 'greater', not 'bigger'"
    with pytest.raises(ValueError) as info:
        mann_whitney_u([1.0], [2.0], method="permutation")  # type: ignore[arg-type]
    assert str(info.value) == "method must be 'auto', 'exact' or 'normal', not 'permutation'"
    with pytest.raises(ValueError) as info:
        mann_whitney_u([1.0, 2.0], [2.0], method="exact")
    assert str(info.value) == "the exact Mann-Whitney distribution needs samples without ties"


# --- Cliff's delta ------------------------------------------------------------------------------


@FAST
@given(small_samples, small_samples)
def test_cliffs_delta_matches_pair_count(a: list[float], b: list[float]) -> None:
    greater = sum(x > y for x in a for y in b)
    less = sum(x < y for x in a for y in b)
    want = (greater - less) / (len(a) * len(b))
    assert cliffs_delta(a, b) == pytest.approx(want, abs=1e-15)
    assert mann_whitney_u(a, b).effect == pytest.approx(want, abs=1e-12)


def test_cliffs_delta_known_values() -> None:
    assert cliffs_delta([1, 2, 3], [1, 2, 3]) == 0.0
    assert cliffs_delta([4, 5], [1, 2, 3]) == 1.0
    assert cliffs_delta([1], [2, 3]) == -1.0
    # pairs: (2,1)>, (2,3)<, (4,1)>, (4,3)> -> (3 - 1) / 4
    assert cliffs_delta([2, 4], [1, 3]) == 0.5
    with pytest.raises(ValueError) as info:
        cliffs_delta([1.0], [])
    assert str(info.value) == "sample b is empty"


# --- bootstrap ----------------------------------------------------------------------------------


def test_bootstrap_constant_samples_give_exact_ratio() -> None:
    assert bootstrap_ci([4.0] * 10, [8.0] * 12, resamples=50) == (2.0, 2.0)


def test_bootstrap_is_deterministic_given_the_seed() -> None:
    rng = random.Random(11)
    a = [rng.lognormvariate(1, 0.5) for _ in range(60)]
    b = [rng.lognormvariate(1.5, 0.5) for _ in range(60)]
    first = bootstrap_ci(a, b, resamples=300, seed=5)
    assert bootstrap_ci(a, b, resamples=300, seed=5) == first
    assert bootstrap_ci(a, b, resamples=300, seed=6) != first
    low, high = first
    assert low < median_ratio(a, b) < high
    # True ratio exp(0.5) ≈ 1.65 lies in the interval for this sample.
    assert low < math.exp(0.5) < high
    narrow = bootstrap_ci(a, b, resamples=300, seed=5, confidence=0.5)
    assert low <= narrow[0] <= narrow[1] <= high


def test_bootstrap_interval_is_the_percentiles_of_the_resampled_statistics() -> None:
    seen: list[float] = []

    def recording_ratio(x: list[float], y: list[float]) -> float:
        assert len(x) == 30 and len(y) == 40  # each arm resampled at its own size
        value = median_ratio(x, y)
        seen.append(value)
        return value

    rng = random.Random(2)
    a = [rng.uniform(1, 5) for _ in range(30)]
    b = [rng.uniform(2, 9) for _ in range(40)]
    low, high = bootstrap_ci(a, b, recording_ratio, resamples=400, seed=1)  # type: ignore[arg-type]
    assert len(seen) == 400
    # statistics.quantiles "inclusive" is the same linear interpolation (type 7).
    cuts = statistics.quantiles(seen, n=40, method="inclusive")
    assert (low, high) == (pytest.approx(cuts[0], rel=1e-12), pytest.approx(cuts[-1], rel=1e-12))
    assert set(seen) - {median_ratio(a, b)}  # resamples actually vary


def test_bootstrap_custom_statistic() -> None:
    def mean_difference(x: object, y: object) -> float:
        assert isinstance(x, list) and isinstance(y, list)
        return sum(y) / len(y) - sum(x) / len(x)

    assert bootstrap_ci([1.0, 1.0], [3.0, 3.0, 3.0], mean_difference, resamples=20) == (2.0, 2.0)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"confidence": 1.0}, "confidence must be strictly between 0 and 1, not 1.0"),
        ({"confidence": 0}, "confidence must be strictly between 0 and 1, not 0"),
        ({"resamples": 0}, "resamples must be a positive integer, not 0"),
        ({"resamples": 10.0}, "resamples must be a positive integer, not 10.0"),
    ],
)
def test_bootstrap_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as info:
        bootstrap_ci([1.0], [2.0], **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_bootstrap_refuses_nan_statistic_and_bad_samples() -> None:
    with pytest.raises(ValueError) as info:
        bootstrap_ci([1.0], [2.0], lambda x, y: math.nan, resamples=3)
    assert str(info.value) == "statistic returned NaN on a bootstrap resample"
    with pytest.raises(ValueError) as info:
        bootstrap_ci([], [2.0])
    assert str(info.value) == "sample a is empty"


def test_median_ratio_zero_baseline() -> None:
    assert median_ratio([0.0, 0.0, 1.0], [0.0]) == 1.0
    assert median_ratio([0.0], [2.0]) == math.inf
    assert median_ratio([2.0, 4.0], [9.0]) == 3.0


# --- two proportions ----------------------------------------------------------------------------


def test_fisher_lady_tasting_tea() -> None:
    # Fisher (1935): 3 of 4 cups right vs 1 of 4: one-sided p = 17/70, two-sided 34/70.
    assert two_proportion_method(3, 4, 1, 4) == "fisher"
    assert two_proportion_test(3, 4, 1, 4, "greater") == pytest.approx(17 / 70, rel=1e-12)
    assert two_proportion_test(3, 4, 1, 4) == pytest.approx(34 / 70, rel=1e-12)
    assert two_proportion_test(3, 4, 1, 4, "less") == pytest.approx(69 / 70, rel=1e-12)


@FAST
@given(
    st.integers(1, 40).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.integers(1, 40).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.sampled_from(ALTERNATIVES),
)
def test_fisher_matches_fraction_oracle(
    arm_a: tuple[int, int], arm_b: tuple[int, int], alternative: str
) -> None:
    (e_a, n_a), (e_b, n_b) = arm_a, arm_b
    method = two_proportion_method(e_a, n_a, e_b, n_b)
    got = two_proportion_test(e_a, n_a, e_b, n_b, alternative)  # type: ignore[arg-type]
    if method == "none":
        assert got == 1.0
    elif method == "fisher":
        assert got == pytest.approx(float(fisher_oracle(e_a, n_a, e_b, n_b, alternative)), rel=1e-9)
    assert 0.0 <= got <= 1.0


def test_pooled_z_test_known_value() -> None:
    # 30/100 vs 10/100: pooled 0.2, se = sqrt(0.2 * 0.8 * 0.02), z = 0.2 / se = 3.5355...
    assert two_proportion_method(30, 100, 10, 100) == "z-test"
    z = 0.2 / math.sqrt(0.2 * 0.8 * 0.02)
    assert two_proportion_test(30, 100, 10, 100) == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert two_proportion_test(30, 100, 10, 100) == pytest.approx(4.07e-4, rel=1e-2)
    assert two_proportion_test(30, 100, 10, 100, "greater") == pytest.approx(
        0.5 * math.erfc(z / math.sqrt(2))
    )
    assert two_proportion_test(10, 100, 30, 100, "greater") == pytest.approx(
        1 - 0.5 * math.erfc(z / math.sqrt(2))
    )


def test_no_errors_or_all_errors_give_p_one() -> None:
    assert two_proportion_method(0, 50, 0, 70) == "none"
    assert two_proportion_test(0, 50, 0, 70, "greater") == 1.0
    assert two_proportion_test(5, 5, 9, 9) == 1.0


def test_fisher_for_rare_errors_on_large_samples() -> None:
    # 0 vs 3 errors in 10 000 requests each: expected error cells 1.5 -> Fisher.
    assert two_proportion_method(3, 10_000, 0, 10_000) == "fisher"
    # P(all 3 errors in arm a) = C(10000, 3) / C(20000, 3)
    want = math.comb(10_000, 3) / math.comb(20_000, 3)
    assert two_proportion_test(3, 10_000, 0, 10_000, "greater") == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize(
    "args,message",
    [
        ((1, 0, 0, 5), "n_a must be at least 1, not 0"),
        ((6, 5, 0, 5), "errors_a must be between 0 and n_a=5, not 6"),
        ((0, 5, -1, 5), "errors_b must be between 0 and n_b=5, not -1"),
        ((0, 5, 0, 5.0), "n_b must be an int, not 5.0"),
        ((True, 5, 0, 5), "errors_a must be an int, not True"),
    ],
)
def test_two_proportion_bad_counts(args: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(ValueError) as info:
        two_proportion_test(*args)
    assert str(info.value) == message


def test_two_proportion_bad_alternative() -> None:
    with pytest.raises(ValueError) as info:
        two_proportion_test(1, 5, 0, 5, "worse")  # type: ignore[arg-type]
    assert str(info.value) == "alternative must be 'two-sided', 'less' or 'greater', not 'worse'"


# --- summarize ----------------------------------------------------------------------------------


def test_summarize_exact_values() -> None:
    values = [float(v) for v in range(20, 0, -1)]
    assert summarize(values) == {
        "n": 20,
        "mean": 10.5,
        "median": 10.5,
        "p95": pytest.approx(19.05, abs=1e-12),  # linear: 1 + 0.95 * 19
        "min": 1.0,
        "max": 20.0,
    }
    assert summarize([7]) == {
        "n": 1,
        "mean": 7.0,
        "median": 7.0,
        "p95": 7.0,
        "min": 7.0,
        "max": 7.0,
    }


def test_summarize_empty_and_nan() -> None:
    with pytest.raises(ValueError) as info:
        summarize([])
    assert str(info.value) == "samples is empty"
    with pytest.raises(ValueError) as info:
        summarize([1.0, math.nan])
    assert str(info.value) == "samples has a non-finite value at index 1: nan"
