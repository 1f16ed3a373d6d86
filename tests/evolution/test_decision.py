"""Tests of the promote/reject decision between a baseline and a candidate.

Samples are pseudo-random but deterministic (`random.Random(seed)`); expected
reasons are rebuilt from independently computed numbers (`statistics.median`,
the separately tested `mann_whitney_u`) so a wrong number in a reason fails.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import random
import statistics
from collections.abc import Mapping, Sequence

import pytest

from o_lisp.evolution import Decision, Samples, Thresholds, decide
from o_lisp.evolution._decision import format_duration
from o_lisp.evolution._stats import mann_whitney_u, median_ratio

FEW = "means compared, fewer than 5 scores per arm"


def lat(seed: int, n: int, median: float, sigma: float = 0.25) -> tuple[float, ...]:
    """Log-normal latencies (the usual shape: skewed, with a tail) around ``median`` ms."""
    rng = random.Random(seed)
    return tuple(median * rng.lognormvariate(0.0, sigma) for _ in range(n))


def arm(
    latencies: Sequence[float],
    errors: int = 0,
    requests: int | None = None,
    fitness: Mapping[str, Sequence[float]] | None = None,
) -> Samples:
    return Samples(
        tuple(latencies),
        errors,
        len(latencies) if requests is None else requests,
        {k: tuple(v) for k, v in (fitness or {}).items()},
    )


def ms(x: float) -> str:
    """A median as reasons print it: 3 significant digits with its unit, µs below 1 ms."""
    return f"{x * 1000:.3g} µs" if x < 1 else f"{x:.3g} ms"


def latency_reason(kind: str, base: Sequence[float], cand: Sequence[float]) -> str:
    """The reason text `decide` must produce, from independently computed numbers."""
    alternative = "greater" if kind == "slower" else "less"
    test = mann_whitney_u(cand, base, alternative)
    change = (statistics.median(cand) / statistics.median(base) - 1) * 100
    return (
        f"{kind}: median {ms(statistics.median(cand))} vs {ms(statistics.median(base))} "
        f"({change:+.0f}%), Mann-Whitney p={test.p_value:.1e}, Cliff's delta {test.effect:.2f}"
    )


# --- latency ------------------------------------------------------------------------------------


def test_slower_candidate_is_rejected_with_p_value_in_the_reason() -> None:
    base, cand = lat(1, 200, 4.0), lat(2, 200, 12.0)
    decision = decide(arm(base), arm(cand), Thresholds())
    assert decision.verdict == "reject"
    assert decision.reasons == (latency_reason("slower", base, cand),)
    assert decision.reasons[0].startswith("slower: median 1")
    assert "Mann-Whitney p=" in decision.reasons[0] and "e-" in decision.reasons[0]
    assert decision.improved == ()
    evidence = decision.evidence["latency"]
    assert evidence["p_slower"] < 1e-30
    assert evidence["cliffs_delta"] > 0.9
    assert evidence["baseline"]["median"] == statistics.median(base)
    assert evidence["candidate"]["median"] == statistics.median(cand)


def test_faster_candidate_is_promoted() -> None:
    base, cand = lat(3, 100, 4.0), lat(4, 100, 2.0)
    decision = decide(arm(base), arm(cand))
    assert decision.verdict == "promote"
    assert decision.improved == ("latency",)
    assert decision.reasons == (latency_reason("faster", base, cand),)
    assert decision.evidence["latency"]["p_faster"] < 1e-10


def test_changes_below_the_absolute_latency_floor_count_neither_way() -> None:
    """Significant but tiny (0.2 ms on ~0.5 ms): noise of sub-millisecond requests."""
    slow_base, slow_cand = lat(1, 200, 0.5), lat(2, 200, 0.7)
    fast_base, fast_cand = lat(3, 200, 0.7), lat(4, 200, 0.5)
    floor = Thresholds(min_latency_change_ms=0.3)
    assert decide(arm(slow_base), arm(slow_cand), Thresholds()).verdict == "reject"
    assert decide(arm(slow_base), arm(slow_cand), Thresholds(require_improvement=False)).reasons[0].startswith("slower")
    assert decide(arm(slow_base), arm(slow_cand), dataclasses.replace(floor, require_improvement=False)).verdict == "promote"
    assert decide(arm(fast_base), arm(fast_cand), Thresholds()).verdict == "promote"
    decision = decide(arm(fast_base), arm(fast_cand), floor)
    assert decision.verdict == "reject" and decision.reasons[0].startswith("no improvement: latency within thresholds")


def test_equal_candidate_is_rejected_as_no_improvement() -> None:
    base, cand = lat(5, 150, 4.0), lat(6, 150, 4.0)
    decision = decide(arm(base), arm(cand))
    two_sided = mann_whitney_u(cand, base)
    assert two_sided.p_value > 0.05  # the two arms really are indistinguishable
    change = (statistics.median(cand) / statistics.median(base) - 1) * 100
    neutral = (
        f"latency within thresholds: median {ms(statistics.median(cand))} vs "
        f"{ms(statistics.median(base))} ({change:+.0f}%), "
        f"Mann-Whitney p={two_sided.p_value:.1e}, Cliff's delta {two_sided.effect:.2f}"
    )
    assert decision.verdict == "reject"
    assert decision.reasons == (f"no improvement: {neutral}; no fitness tasks",)
    assert decision.improved == ()

    relaxed = decide(arm(base), arm(cand), Thresholds(require_improvement=False))
    assert relaxed.verdict == "promote"
    assert relaxed.reasons == (
        f"no regression (improvement not required): {neutral}; no fitness tasks",
    )


def test_small_significant_slowdown_below_effect_and_slowdown_limits_is_tolerated() -> None:
    # 5 % slower with little noise: significant, but |delta| < 0.3 and median +5 % < +20 %.
    base, cand = lat(7, 400, 4.0, sigma=0.5), lat(8, 400, 4.2, sigma=0.5)
    test = mann_whitney_u(cand, base, "greater")
    fitness = {"recall-at-5": [0.5]}, {"recall-at-5": [0.6]}
    decision = decide(
        arm(base, fitness=fitness[0]), arm(cand, fitness=fitness[1]), Thresholds(alpha=0.5)
    )
    assert test.p_value < 0.5 and test.effect < 0.3
    assert decision.verdict == "promote"
    assert decision.improved == ("fitness:recall-at-5",)

    # The mirror image: significantly but only slightly faster is not an improvement.
    faster = mann_whitney_u(base, cand, "less")
    assert faster.p_value < 0.5 and -faster.effect < 0.3
    swapped = decide(arm(cand), arm(base), Thresholds(alpha=0.5))
    assert swapped.verdict == "reject"
    assert swapped.improved == ()
    assert swapped.reasons[0].startswith("no improvement: latency within thresholds")


def test_slow_median_with_small_effect_is_rejected_by_max_slowdown() -> None:
    # Wide distributions, median +30 %: Cliff's delta stays below 0.3 but the slowdown is real.
    base, cand = lat(9, 1000, 4.0, sigma=1.0), lat(10, 1000, 5.2, sigma=1.0)
    t = Thresholds(bootstrap_resamples=100)
    slower = mann_whitney_u(cand, base, "greater")
    assert slower.effect < t.latency_effect
    assert median_ratio(base, cand) > 1.2
    decision = decide(arm(base), arm(cand), t)
    assert decision.verdict == "reject"
    assert decision.reasons == (latency_reason("slower", base, cand),)

    lenient = decide(arm(base), arm(cand), dataclasses.replace(t, max_slowdown=0.5))
    assert lenient.verdict == "reject"
    assert lenient.reasons[0].startswith("no improvement: latency within thresholds")


# --- missing data -------------------------------------------------------------------------------


def test_too_few_latency_samples_is_no_data() -> None:
    decision = decide(arm(lat(11, 10, 4.0)), arm(lat(12, 200, 1.0)))
    assert decision.verdict == "reject"
    assert decision.reasons == ("no data: baseline has 10 latency samples, 20 needed",)
    assert decision.improved == ()
    assert decision.evidence["latency"]["baseline"]["n"] == 10
    assert "p_two_sided" not in decision.evidence["latency"]


def test_every_missing_piece_is_listed() -> None:
    baseline = arm(
        lat(13, 30, 4.0), fitness={"recall-at-5": [0.5], "ndcg": [0.4], "empty-base": []}
    )
    candidate = Samples(lat(14, 5, 4.0), 0, 0, {"ndcg": (), "empty-base": (0.3,)})
    decision = decide(baseline, candidate)
    assert decision.verdict == "reject"
    assert decision.reasons == (
        "no data: candidate has 5 latency samples, 20 needed",
        "no data: candidate served no requests, its error rate is unknown",
        "no data: baseline has no scores for fitness task empty-base",
        "no data: candidate has no scores for fitness task ndcg",
        "no data: candidate has no scores for fitness task recall-at-5",
    )
    assert decision.evidence["fitness"]["ndcg"]["candidate"] == {"n": 0}
    assert decision.evidence["errors"]["candidate"] == {"errors": 0, "requests": 0, "rate": None}


def test_canary_stage_uses_decide_with_a_smaller_min_samples() -> None:
    base, cand = lat(15, 8, 4.0, sigma=0.05), lat(16, 8, 2.0, sigma=0.05)
    assert decide(arm(base), arm(cand)).reasons == (
        "no data: baseline has 8 latency samples, 20 needed",
        "no data: candidate has 8 latency samples, 20 needed",
    )
    stage = dataclasses.replace(Thresholds(), min_samples=5)
    decision = decide(arm(base), arm(cand), stage)
    assert decision.verdict == "promote"
    assert decision.evidence["latency"]["method"] == "exact"
    assert decision.evidence["latency"]["p_faster"] == pytest.approx(1 / math.comb(16, 8))


# --- errors -------------------------------------------------------------------------------------


def test_significant_error_rate_regression_is_rejected_even_when_faster() -> None:
    base, cand = lat(17, 1000, 4.0), lat(18, 1000, 2.0)
    t = Thresholds(bootstrap_resamples=100)
    decision = decide(arm(base, errors=2), arm(cand, errors=40), t)
    assert decision.verdict == "reject"
    p = decision.evidence["errors"]["p_more_errors"]
    z = (0.040 - 0.002) / math.sqrt(0.021 * 0.979 * 2 / 1000)
    assert p == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert decision.reasons == (
        f"more errors: 40/1000 (4.0%) vs 2/1000 (0.2%), two-proportion z-test p={p:.1e}",
        latency_reason("faster", base, cand),
    )
    assert decision.improved == ("latency",)
    assert decision.evidence["errors"]["method"] == "z-test"
    assert decision.evidence["errors"]["increase"] == pytest.approx(0.038)


def test_few_errors_significant_by_fisher() -> None:
    base, cand = lat(19, 40, 4.0), lat(20, 40, 2.0)
    # 1/20 vs 8/20: expected error cells 4.5 < 5 -> Fisher's exact test.
    decision = decide(arm(base, errors=1, requests=20), arm(cand, errors=8, requests=20))
    p = decision.evidence["errors"]["p_more_errors"]
    assert decision.evidence["errors"]["method"] == "fisher"
    # P(X >= 8), X hypergeometric: 20 draws from 40 requests with 9 failures.
    want = sum(math.comb(9, k) * math.comb(31, 20 - k) for k in range(8, 10)) / math.comb(40, 20)
    assert p == pytest.approx(want, rel=1e-9)
    assert p < 0.05
    assert decision.reasons[0] == f"more errors: 8/20 (40.0%) vs 1/20 (5.0%), Fisher p={p:.1e}"


def test_new_errors_on_a_small_sample_are_rejected_without_significance() -> None:
    # 0/50 vs 2/50: Fisher p = C(50,2)/C(100,2) = 0.247, far from significant.
    base, cand = lat(21, 50, 4.0), lat(22, 50, 2.0)
    decision = decide(arm(base, errors=0), arm(cand, errors=2))
    assert decision.evidence["errors"]["p_more_errors"] == pytest.approx(1225 / 4950, rel=1e-9)
    assert decision.verdict == "reject"
    assert decision.reasons[0] == (
        "new errors: 2/50 (4.0%) vs 0/50 (0.0%); the baseline had none, so a failure mode "
        "the sample is too small to test (p=2.5e-01) is not promoted"
    )


def test_insignificant_increase_of_an_existing_failure_mode_is_noise() -> None:
    base, cand = lat(23, 100, 4.0), lat(24, 100, 2.0)
    decision = decide(arm(base, errors=3), arm(cand, errors=6))
    assert decision.evidence["errors"]["increase"] == pytest.approx(0.03)
    assert decision.evidence["errors"]["p_more_errors"] > 0.05
    assert decision.verdict == "promote"


def test_error_increase_within_tolerance_is_accepted() -> None:
    base, cand = lat(25, 1000, 4.0), lat(26, 1000, 2.0)
    t = Thresholds(bootstrap_resamples=100)
    assert decide(arm(base, errors=0), arm(cand, errors=15), t).verdict == "promote"
    assert (
        decide(arm(base, errors=0), arm(cand, errors=25), t)
        .reasons[0]
        .startswith("more errors: 25/1000 (2.5%) vs 0/1000 (0.0%), two-proportion z-test p=")
    )


# --- fitness ------------------------------------------------------------------------------------


def test_fitness_regression_is_rejected_while_faster() -> None:
    base, cand = lat(27, 100, 4.0), lat(28, 100, 2.0)
    decision = decide(
        arm(base, fitness={"recall-at-5": [0.8]}), arm(cand, fitness={"recall-at-5": [0.6]})
    )
    assert decision.verdict == "reject"
    assert decision.reasons == (
        f"fitness regression: recall-at-5 mean 0.80 -> 0.60 (-0.2), {FEW}",
        latency_reason("faster", base, cand),
    )
    assert decision.improved == ("latency",)
    assert decision.evidence["fitness"]["recall-at-5"]["test"] == "mean"
    assert decision.evidence["fitness"]["recall-at-5"]["mean_change"] == pytest.approx(-0.2)


def test_fitness_regression_with_enough_scores_needs_significance() -> None:
    base, cand = lat(29, 100, 4.0), lat(30, 100, 2.0)
    rng = random.Random(31)
    scores_b = [0.7 + rng.uniform(-0.1, 0.1) for _ in range(8)]
    noisy = [s - 0.01 for s in scores_b[::-1]]  # same spread, mean 0.01 lower: noise
    dropped = [s - 0.3 for s in scores_b]  # every score far lower
    decision = decide(arm(base, fitness={"f": scores_b}), arm(cand, fitness={"f": noisy}))
    record = decision.evidence["fitness"]["f"]
    assert record["test"] == "mann-whitney"
    assert record["p_worse"] == pytest.approx(mann_whitney_u(noisy, scores_b, "less").p_value)
    assert record["p_worse"] > 0.05
    assert decision.verdict == "promote"

    decision = decide(arm(base, fitness={"f": scores_b}), arm(cand, fitness={"f": dropped}))
    p = mann_whitney_u(dropped, scores_b, "less").p_value
    assert p == pytest.approx(1 / math.comb(16, 8))
    assert decision.verdict == "reject"
    mean_b = statistics.fmean(scores_b)
    assert decision.reasons[0] == (
        f"fitness regression: f mean {mean_b:.2f} -> {mean_b - 0.3:.2f} (-0.3), "
        f"Mann-Whitney p={p:.1e}"
    )


def test_fitness_loss_within_tolerance_is_accepted() -> None:
    base, cand = lat(32, 100, 4.0), lat(33, 100, 2.0)
    b, c = arm(base, fitness={"f": [0.80]}), arm(cand, fitness={"f": [0.79]})
    assert decide(b, c).verdict == "reject"
    assert decide(b, c, Thresholds(max_fitness_loss=0.02)).verdict == "promote"


def test_fitness_gain_is_promoted() -> None:
    base, cand = lat(34, 100, 4.0), lat(35, 100, 4.0)
    decision = decide(
        arm(base, fitness={"recall-at-5": [0.55], "ndcg": [0.4]}),
        arm(cand, fitness={"recall-at-5": [0.80], "ndcg": [0.4], "new-task": [0.1]}),
    )
    assert decision.verdict == "promote"
    assert decision.improved == ("fitness:recall-at-5",)
    assert decision.reasons == (f"fitness gain: recall-at-5 mean 0.55 -> 0.80 (+0.25), {FEW}",)
    assert decision.evidence["fitness_candidate_only"] == ["new-task"]

    too_small = decide(
        arm(base, fitness={"recall-at-5": [0.55]}),
        arm(cand, fitness={"recall-at-5": [0.80]}),
        Thresholds(min_fitness_gain=0.3),
    )
    assert too_small.verdict == "reject"
    assert too_small.reasons[0].startswith("no improvement: latency within thresholds")
    assert too_small.reasons[0].endswith("; no fitness task improved")


def test_fitness_gain_with_enough_scores_must_be_significant() -> None:
    base, cand = lat(36, 100, 4.0), lat(37, 100, 4.0)
    scores = [0.5, 0.6, 0.7, 0.8, 0.9]
    up = [s + 0.5 for s in scores]
    slightly_up = [0.55, 0.6, 0.7, 0.8, 0.9]
    decision = decide(arm(base, fitness={"f": scores}), arm(cand, fitness={"f": up}))
    assert decision.verdict == "promote"
    assert decision.reasons == (
        f"fitness gain: f mean 0.70 -> 1.20 (+0.5), Mann-Whitney p={1 / 252:.1e}",
    )
    decision = decide(arm(base, fitness={"f": scores}), arm(cand, fitness={"f": slightly_up}))
    assert decision.verdict == "reject"
    assert decision.improved == ()


def test_candidate_only_fitness_task_is_not_an_improvement() -> None:
    base, cand = lat(38, 100, 4.0), lat(39, 100, 4.0)
    decision = decide(arm(base), arm(cand, fitness={"new-task": [1.0]}))
    assert decision.verdict == "reject"
    assert decision.evidence["fitness_candidate_only"] == ["new-task"]
    assert decision.reasons[0].endswith("; no fitness tasks")


# --- trailers and evidence ----------------------------------------------------------------------


def test_trailers_format() -> None:
    base = [3.5 + 0.025 * i for i in range(41)]  # median 4.0
    cand = [1.6 + 0.025 * i for i in range(41)]  # median 2.1
    decision = decide(
        arm(base, requests=100, fitness={"recall-at-5": [0.55], "ndcg": [0.4]}),
        arm(cand, requests=100, fitness={"recall-at-5": [0.80], "ndcg": [0.41]}),
    )
    p = mann_whitney_u(cand, base).p_value
    assert decision.verdict == "promote"
    assert decision.as_trailers() == {
        "Verdict": "promote",
        "P-Latency": f"{p:.1e}",
        "Latency-Median-Ms": "4.0 -> 2.1",
        "Fitness": "ndcg 0.40 -> 0.41, recall-at-5 0.55 -> 0.80",
        "Error-Rate": "0.000 -> 0.000",
    }
    assert f"{p:.1e}".startswith(("1.", "2.", "3.", "4.", "5.", "6.", "7.", "8.", "9."))


def test_trailers_show_enough_digits_to_tell_close_values_apart() -> None:
    base = [0.0500 + 0.0001 * i for i in range(25)]  # median 0.0512
    cand = [0.0486 + 0.0001 * i for i in range(25)]  # median 0.0498
    decision = decide(
        arm(base, errors=1, requests=10_000, fitness={"f": [0.5501]}),
        arm(cand, errors=3, requests=10_000, fitness={"f": [0.5504]}),
        Thresholds(require_improvement=False),
    )
    trailers = decision.as_trailers()
    assert trailers["Latency-Median-Ms"] == "0.0512 -> 0.0498"
    assert trailers["Fitness"] == "f 0.5501 -> 0.5504"
    assert trailers["Error-Rate"] == "0.0001 -> 0.0003"

    close = decide(arm([4.04] * 20), arm([4.01] * 20), Thresholds(require_improvement=False))
    assert close.as_trailers()["Latency-Median-Ms"] == "4.04 -> 4.01"


def test_trailers_on_no_data_leave_out_untested_values() -> None:
    decision = decide(arm([4.0] * 10), Samples((), 0, 0, {}))
    assert decision.as_trailers() == {"Verdict": "reject"}
    decision = decide(arm([4.0] * 10), arm([2.0] * 10))
    assert decision.as_trailers() == {
        "Verdict": "reject",
        "Latency-Median-Ms": "4.0 -> 2.0",
        "Error-Rate": "0.000 -> 0.000",
    }


def test_evidence_is_strict_json_and_complete() -> None:
    base, cand = lat(40, 100, 4.0), lat(41, 100, 3.0)
    decision = decide(
        arm(base, errors=1, fitness={"f": [0.5]}), arm(cand, errors=0, fitness={"f": [0.6]})
    )
    text = json.dumps(decision.evidence, allow_nan=False, sort_keys=True)
    assert json.loads(text) == decision.evidence
    latency = decision.evidence["latency"]
    assert set(latency) == {
        "baseline", "candidate", "p_slower", "p_faster", "p_two_sided", "cliffs_delta", "u",
        "method", "median_ratio", "median_ratio_ci", "confidence",
    }  # fmt: skip
    low, high = latency["median_ratio_ci"]
    assert low < latency["median_ratio"] < high
    assert latency["median_ratio"] == pytest.approx(
        statistics.median(cand) / statistics.median(base)
    )
    assert decision.evidence["thresholds"] == dataclasses.asdict(Thresholds())
    assert decision.evidence["errors"]["baseline"] == {"errors": 1, "requests": 100, "rate": 0.01}
    # Same inputs, same evidence (the bootstrap is seeded).
    assert (
        decide(arm(base, errors=1, fitness={"f": [0.5]}), arm(cand, errors=0, fitness={"f": [0.6]}))
        == decision
    )
    no_ci = decide(arm(base), arm(cand), Thresholds(bootstrap_resamples=0))
    assert "median_ratio_ci" not in no_ci.evidence["latency"]


def test_zero_baseline_median_records_null_ratio() -> None:
    decision = decide(arm([0.0] * 30), arm([1.0] * 30), Thresholds(bootstrap_resamples=10))
    assert decision.evidence["latency"]["median_ratio"] is None
    assert decision.evidence["latency"]["median_ratio_ci"] == [None, None]
    json.dumps(decision.evidence, allow_nan=False)
    assert decision.reasons == (
        "slower: median 1 ms vs 0 µs (+inf%), Mann-Whitney p="
        f"{mann_whitney_u([1.0] * 30, [0.0] * 30, 'greater').p_value:.1e}, Cliff's delta 1.00",
    )


# --- records ------------------------------------------------------------------------------------


def test_samples_are_immutable_and_picklable() -> None:
    scores = [0.5, 0.6]
    samples = Samples([1.0, 2.0], 1, 2, {"f": scores})  # type: ignore[arg-type]
    scores.append(0.7)
    assert samples.latencies_ms == (1.0, 2.0)
    assert samples.fitness["f"] == (0.5, 0.6)
    with pytest.raises(TypeError):
        samples.fitness["g"] = (1.0,)  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        samples.errors = 0  # type: ignore[misc]
    copy = pickle.loads(pickle.dumps(samples))
    assert copy == samples
    decision = decide(arm([1.0] * 20), arm([1.0] * 20))
    assert isinstance(decision, Decision)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.verdict = "promote"  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"latencies_ms": (1.0, math.nan)}, "latencies_ms[1] must be a finite non-negative number, got nan"),
        ({"latencies_ms": (-1.0,)}, "latencies_ms[0] must be a finite non-negative number, got -1.0"),
        ({"latencies_ms": ("3",)}, "latencies_ms[0] must be a number, got '3'"),
        ({"errors": -1}, "errors must be a non-negative int, got -1"),
        ({"requests": 2.0}, "requests must be a non-negative int, got 2.0"),
        ({"errors": 3, "requests": 2}, "errors (3) cannot exceed requests (2)"),
        ({"fitness": {"f": (math.inf,)}}, "fitness['f'][0] must be a finite number, got inf"),
        (
            {"fitness": {"recall at 5": (1.0,)}},
            "fitness task name must be a non-empty string without spaces, commas or control "
            "characters, got 'recall at 5'",
        ),
        (
            {"fitness": {"a,b": (1.0,)}},
            "fitness task name must be a non-empty string without spaces, commas or control "
            "characters, got 'a,b'",
        ),
    ],
)  # fmt: skip
def test_samples_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        Samples(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"alpha": 0.0}, "Thresholds.alpha must be strictly between 0 and 1, got 0.0"),
        ({"alpha": 1}, "Thresholds.alpha must be strictly between 0 and 1, got 1"),
        ({"alpha": math.nan}, "Thresholds.alpha must be finite, got nan"),
        ({"alpha": "0.05"}, "Thresholds.alpha must be a number, got '0.05'"),
        ({"min_samples": 0}, "Thresholds.min_samples must be at least 1, got 0"),
        ({"min_samples": 20.0}, "Thresholds.min_samples must be an int, got 20.0"),
        ({"latency_effect": 0.0}, "Thresholds.latency_effect must be in (0, 1], got 0.0"),
        ({"latency_effect": 1.5}, "Thresholds.latency_effect must be in (0, 1], got 1.5"),
        ({"max_slowdown": -0.1}, "Thresholds.max_slowdown must be >= 0, got -0.1"),
        ({"max_slowdown": math.inf}, "Thresholds.max_slowdown must be finite, got inf"),
        ({"min_latency_change_ms": -1}, "Thresholds.min_latency_change_ms must be >= 0, got -1"),
        ({"max_error_increase": 1.0}, "Thresholds.max_error_increase must be in [0, 1), got 1.0"),
        ({"max_error_increase": -0.01}, "Thresholds.max_error_increase must be in [0, 1), got -0.01"),
        ({"min_fitness_gain": -1}, "Thresholds.min_fitness_gain must be >= 0, got -1"),
        ({"max_fitness_loss": -0.5}, "Thresholds.max_fitness_loss must be >= 0, got -0.5"),
        ({"fitness_test_min": 1}, "Thresholds.fitness_test_min must be at least 2, got 1"),
        ({"require_improvement": 1}, "Thresholds.require_improvement must be a bool, got 1"),
        ({"bootstrap_resamples": -1}, "Thresholds.bootstrap_resamples must be at least 0, got -1"),
        ({"bootstrap_seed": True}, "Thresholds.bootstrap_seed must be an int, got True"),
    ],
)  # fmt: skip
def test_thresholds_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        Thresholds(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_default_thresholds() -> None:
    t = Thresholds()
    assert (t.alpha, t.min_samples, t.latency_effect, t.max_slowdown) == (0.05, 20, 0.3, 0.2)
    assert (t.max_error_increase, t.min_fitness_gain, t.require_improvement) == (0.02, 0.0, True)
    assert decide(arm(lat(42, 50, 4.0)), arm(lat(43, 50, 2.0))) == decide(
        arm(lat(42, 50, 4.0)), arm(lat(43, 50, 2.0)), t
    )


@pytest.mark.parametrize(("ms_value", "text"), [
    (0.408, "408 µs"), (0.0004, "0.4 µs"), (0.0, "0 µs"), (2.5, "2.5 ms"), (12.345, "12.3 ms"), (1204.4, "1204 ms"),
])
def test_durations_read_with_their_unit_and_never_as_zero_ms(ms_value: float, text: str) -> None:
    assert format_duration(ms_value) == text


def test_a_sub_millisecond_median_is_printed_in_microseconds() -> None:
    base, cand = [0.408 + i * 1e-4 for i in range(40)], [0.101 + i * 1e-4 for i in range(40)]
    decision = decide(arm(base), arm(cand), Thresholds(min_latency_change_ms=0.1))
    assert decision.verdict == "promote"
    assert decision.reasons[0].startswith("faster: median 103 µs vs 410 µs (-75%)"), decision.reasons


def test_among_winners_the_bigger_speed_up_ranks_first() -> None:
    from o_lisp.guardian._evolution import _score

    base = [1.66 + i * 1e-3 for i in range(40)]
    modest = decide(arm(base), arm([x * 0.9 for x in base]), Thresholds(latency_effect=0.1))
    large = decide(arm(base), arm([x * 0.52 for x in base]), Thresholds(latency_effect=0.1))
    assert modest.verdict == large.verdict == "promote"
    assert _score(large) > _score(modest)
