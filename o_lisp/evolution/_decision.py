"""The promotion decision of protected self-evolution: should the candidate replace the baseline?

Evidence is collected side by side — shadow workers answering mirrored traffic,
then canary stages serving a slice of real traffic next to the current code —
and handed to `decide` as one `Samples` per arm.  The rules are deliberately
asymmetric: promoting a regression ships a bug into a running agent, while
rejecting a good candidate only costs another evolution attempt, so every
doubt (missing data, a new failure mode that the sample is too small to test)
resolves to "reject".

Canary stages use `decide` too, once per stage, with that stage's evidence and
thresholds adjusted with `dataclasses.replace` (typically a smaller
``min_samples`` for an early, low-traffic stage); a stage that rejects stops
the rollout.  There is no separate stage function because a stage decision is
the same comparison on less data.

Only the standard library is used: the guardian imports this module.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from o_lisp.evolution._stats import (
    bootstrap_ci,
    mann_whitney_u,
    median_ratio,
    summarize,
    two_proportion_method,
    two_proportion_test,
)

__all__ = ["Decision", "Samples", "Thresholds", "decide", "format_duration"]

Verdict = Literal["promote", "reject"]


def _finite_tuple(label: str, values: Sequence[float], *, non_negative: bool) -> tuple[float, ...]:
    out: list[float] = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{label}[{i}] must be a number, got {v!r}")
        x = float(v)
        if not math.isfinite(x) or (non_negative and x < 0):
            kind = "a finite non-negative" if non_negative else "a finite"
            raise ValueError(f"{label}[{i}] must be {kind} number, got {v!r}")
        out.append(x)
    return tuple(out)


def _check_task_name(name: object) -> str:
    """Task names end up in git trailers (``Fitness: name 0.55 -> 0.80, ...``): one token each."""
    if (
        not isinstance(name, str)
        or not name
        or any(c.isspace() or not c.isprintable() or c == "," for c in name)
    ):
        raise ValueError(
            f"fitness task name must be a non-empty string without spaces, commas or "
            f"control characters, got {name!r}"
        )
    return name


@dataclass(frozen=True, slots=True)
class Samples:
    """Evidence from one arm (baseline or candidate) over the same period and traffic.

    ``latencies_ms`` are per-request latencies, ``errors`` of ``requests`` failed,
    and ``fitness`` maps a fitness task to its scores (higher is better; one score
    per run of the task).  Inputs are copied into tuples and a read-only mapping
    so a record cannot change after the decision that used it.
    """

    latencies_ms: tuple[float, ...] = ()
    errors: int = 0
    requests: int = 0
    fitness: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        latencies = _finite_tuple("latencies_ms", self.latencies_ms, non_negative=True)
        for label, value in (("errors", self.errors), ("requests", self.requests)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{label} must be a non-negative int, got {value!r}")
        if self.errors > self.requests:
            raise ValueError(f"errors ({self.errors}) cannot exceed requests ({self.requests})")
        fitness = {
            _check_task_name(name): _finite_tuple(f"fitness[{name!r}]", scores, non_negative=False)
            for name, scores in self.fitness.items()
        }
        object.__setattr__(self, "latencies_ms", latencies)
        object.__setattr__(self, "fitness", MappingProxyType(fitness))

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType cannot be pickled; shadow workers may send Samples across processes.
        return (Samples, (self.latencies_ms, self.errors, self.requests, dict(self.fitness)))


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every knob of `decide`, validated so a typo in a config cannot silently disable a check.

    - ``alpha``: significance level of every test.
    - ``min_samples``: latency samples needed in each arm; fewer is "no data".
    - ``latency_effect``: smallest |Cliff's delta| that counts as a real latency
      difference (in (0, 1]); keeps a tiny but significant shift on a huge
      sample from deciding anything.
    - ``max_slowdown``: a significantly slower candidate whose median is more
      than this fraction above the baseline's is rejected even if the effect
      size is below ``latency_effect`` (a slow tail mode shifts the median
      without separating the distributions).
    - ``min_latency_change_ms``: a median latency change smaller than this (in ms,
      either way) is neither a slowdown nor a speed-up, however significant: the
      run-to-run noise of sub-millisecond requests on a shared machine.
    - ``max_error_increase``: tolerated absolute increase of the error rate.
    - ``min_fitness_gain``: a fitness mean must rise by more than this to count
      as an improvement.
    - ``max_fitness_loss``: a fitness mean may fall by at most this much.
    - ``fitness_test_min``: with at least this many scores per arm, fitness
      changes must also be significant (one-sided Mann-Whitney); with fewer,
      the means decide (deterministic tasks are run once).
    - ``require_improvement``: reject a candidate that is merely not worse.
    - ``bootstrap_resamples`` / ``bootstrap_seed``: the confidence interval of
      the median latency ratio recorded as evidence (0 resamples skips it).
    """

    alpha: float = 0.05
    min_samples: int = 20
    latency_effect: float = 0.3
    max_slowdown: float = 0.2
    min_latency_change_ms: float = 0.0
    max_error_increase: float = 0.02
    min_fitness_gain: float = 0.0
    max_fitness_loss: float = 0.0
    fitness_test_min: int = 5
    require_improvement: bool = True
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 0

    def __post_init__(self) -> None:
        def number(name: str) -> float:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"Thresholds.{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"Thresholds.{name} must be finite, got {value!r}")
            return float(value)

        def integer(name: str, minimum: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"Thresholds.{name} must be an int, got {value!r}")
            if value < minimum:
                raise ValueError(f"Thresholds.{name} must be at least {minimum}, got {value}")

        if not 0.0 < number("alpha") < 1.0:
            raise ValueError(f"Thresholds.alpha must be strictly between 0 and 1, got {self.alpha}")
        integer("min_samples", 1)
        if not 0.0 < number("latency_effect") <= 1.0:
            raise ValueError(
                f"Thresholds.latency_effect must be in (0, 1], got {self.latency_effect}"
            )
        for name in ("max_slowdown", "min_latency_change_ms", "min_fitness_gain", "max_fitness_loss"):
            if number(name) < 0.0:
                raise ValueError(f"Thresholds.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= number("max_error_increase") < 1.0:
            raise ValueError(
                f"Thresholds.max_error_increase must be in [0, 1), got {self.max_error_increase}"
            )
        integer("fitness_test_min", 2)
        if not isinstance(self.require_improvement, bool):
            raise ValueError(
                f"Thresholds.require_improvement must be a bool, got {self.require_improvement!r}"
            )
        integer("bootstrap_resamples", 0)
        integer("bootstrap_seed", 0)


def _pair(before: float, after: float, decimals: int) -> str:
    """``"before -> after"`` with enough decimals (up to 6) that different values look different."""
    while True:
        text_b, text_a = f"{before:.{decimals}f}", f"{after:.{decimals}f}"
        if text_b != text_a or before == after or decimals >= 6:
            return f"{text_b} -> {text_a}"
        decimals += 1


def _ms(x: float) -> str:
    return f"{x:.1f}" if x == 0 or abs(x) >= 1 else f"{x:.3g}"


def format_duration(ms: float) -> str:
    """A duration for people, with its unit: "408 µs", "2.5 ms", "1204 ms", "0 µs".

    Three significant digits and µs below a millisecond, so a sub-millisecond median
    never reads "0.0 ms" (the clocks measure to the microsecond, see `_validate.cpu_time`).
    """
    if not math.isfinite(ms):
        return f"{ms} ms"
    if abs(ms) < 1.0:
        return f"{ms * 1000:.3g} µs"
    return f"{ms:.3g} ms" if abs(ms) < 1000 else f"{ms:.0f} ms"


def _finite_or_none(x: float) -> float | None:
    """Evidence must be strict JSON; an infinite ratio (zero baseline median) is recorded as null."""
    return x if math.isfinite(x) else None


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict, why, and the numbers behind it.

    ``reasons`` are human-readable sentences: the rejections first, then what
    improved.  ``improved`` names what got better (``"latency"``,
    ``"fitness:<task>"``) even when something else forced a rejection.
    ``evidence`` holds only JSON/msgpack types (dicts, lists, str, int, float,
    bool, None) so it can be stored next to the commit that it justifies.
    """

    verdict: Verdict
    reasons: tuple[str, ...]
    evidence: dict[str, Any]
    improved: tuple[str, ...]

    def as_trailers(self) -> dict[str, str]:
        """Short git-trailer values summarising the evidence, one line each.

        Keys whose evidence is missing (no latency test on "no data", no fitness
        tasks, no requests) are left out rather than filled with placeholders.
        """
        trailers: dict[str, str] = {"Verdict": self.verdict}
        latency = self.evidence.get("latency", {})
        if "p_two_sided" in latency:
            trailers["P-Latency"] = f"{latency['p_two_sided']:.1e}"
        base, cand = latency.get("baseline", {}), latency.get("candidate", {})
        if "median" in base and "median" in cand:
            before, after = _ms(base["median"]), _ms(cand["median"])
            if before == after and base["median"] != cand["median"]:
                trailers["Latency-Median-Ms"] = _pair(base["median"], cand["median"], 1)
            else:
                trailers["Latency-Median-Ms"] = f"{before} -> {after}"
        tasks = [
            f"{name} {_pair(task['baseline']['mean'], task['candidate']['mean'], 2)}"
            for name, task in sorted(self.evidence.get("fitness", {}).items())
            if "mean" in task["baseline"] and "mean" in task["candidate"]
        ]
        if tasks:
            trailers["Fitness"] = ", ".join(tasks)
        errors = self.evidence.get("errors", {})
        if (
            errors.get("baseline", {}).get("rate") is not None
            and errors.get("candidate", {}).get("rate") is not None
        ):
            trailers["Error-Rate"] = _pair(
                errors["baseline"]["rate"], errors["candidate"]["rate"], 3
            )
        return trailers


def _summary(values: Sequence[float]) -> dict[str, Any]:
    return summarize(values) if values else {"n": 0}


def _error_arm(s: Samples) -> dict[str, Any]:
    rate = s.errors / s.requests if s.requests else None
    return {"errors": s.errors, "requests": s.requests, "rate": rate}


def _no_data(baseline: Samples, candidate: Samples, t: Thresholds) -> list[str]:
    reasons: list[str] = []
    for arm, s in (("baseline", baseline), ("candidate", candidate)):
        if len(s.latencies_ms) < t.min_samples:
            reasons.append(
                f"no data: {arm} has {len(s.latencies_ms)} latency samples, {t.min_samples} needed"
            )
        if s.requests == 0:
            reasons.append(f"no data: {arm} served no requests, its error rate is unknown")
    for name in sorted(baseline.fitness):
        if not baseline.fitness[name]:
            reasons.append(f"no data: baseline has no scores for fitness task {name}")
        elif not candidate.fitness.get(name):
            reasons.append(f"no data: candidate has no scores for fitness task {name}")
    return reasons


def _errors(
    baseline: Samples, candidate: Samples, t: Thresholds, evidence: dict[str, Any]
) -> list[str]:
    """Error-rate regression check; returns rejection reasons.

    An increase above ``max_error_increase`` rejects when the one-sided test
    (candidate rate greater) is significant.  It also rejects, without a
    significant test, when the baseline had no errors at all: the failures are
    then a new failure mode most likely introduced by the candidate, and a
    canary-sized sample (0 of 50 vs 2 of 50 gives Fisher p≈0.25) is too small
    to ever make that significant.  When both arms fail sometimes, an
    insignificant increase is treated as noise of a failure mode that already
    exists (upstream timeouts and the like).
    """
    rate_b = baseline.errors / baseline.requests
    rate_c = candidate.errors / candidate.requests
    increase = rate_c - rate_b
    p = two_proportion_test(
        candidate.errors, candidate.requests, baseline.errors, baseline.requests, "greater"
    )
    method = two_proportion_method(
        candidate.errors, candidate.requests, baseline.errors, baseline.requests
    )
    evidence["errors"].update({"increase": increase, "p_more_errors": p, "method": method})
    if increase <= t.max_error_increase:
        return []
    summary = (
        f"{candidate.errors}/{candidate.requests} ({rate_c:.1%}) vs "
        f"{baseline.errors}/{baseline.requests} ({rate_b:.1%})"
    )
    if p < t.alpha:
        name = "Fisher" if method == "fisher" else "two-proportion z-test"  # "none" gives p=1
        return [f"more errors: {summary}, {name} p={p:.1e}"]
    if baseline.errors == 0:
        return [
            f"new errors: {summary}; the baseline had none, so a failure mode the sample "
            f"is too small to test (p={p:.1e}) is not promoted"
        ]
    return []


def _latency(
    baseline: Samples, candidate: Samples, t: Thresholds, evidence: dict[str, Any]
) -> tuple[list[str], list[str], str]:
    """Latency comparison: (rejection reasons, improvement reasons, neutral description)."""
    base, cand = baseline.latencies_ms, candidate.latencies_ms
    slower = mann_whitney_u(cand, base, "greater")
    faster = mann_whitney_u(cand, base, "less")
    two_sided = mann_whitney_u(cand, base, "two-sided")
    delta = slower.effect
    ratio = median_ratio(base, cand)
    med_b = evidence["latency"]["baseline"]["median"]
    med_c = evidence["latency"]["candidate"]["median"]
    record: dict[str, Any] = {
        "p_slower": slower.p_value,
        "p_faster": faster.p_value,
        "p_two_sided": two_sided.p_value,
        "cliffs_delta": delta,
        "u": slower.u,
        "method": slower.method,
        "median_ratio": _finite_or_none(ratio),
    }
    if t.bootstrap_resamples > 0:
        low, high = bootstrap_ci(base, cand, resamples=t.bootstrap_resamples, seed=t.bootstrap_seed)
        record["median_ratio_ci"] = [_finite_or_none(low), _finite_or_none(high)]
        record["confidence"] = 0.95
    evidence["latency"].update(record)

    change = f"{(ratio - 1.0) * 100.0:+.0f}%"
    rejects: list[str] = []
    gains: list[str] = []
    if slower.p_value < t.alpha and (delta >= t.latency_effect or ratio > 1.0 + t.max_slowdown) \
            and med_c - med_b >= t.min_latency_change_ms:
        rejects.append(
            f"slower: median {format_duration(med_c)} vs {format_duration(med_b)} ({change}), "
            f"Mann-Whitney p={slower.p_value:.1e}, Cliff's delta {delta:.2f}"
        )
    if faster.p_value < t.alpha and -delta >= t.latency_effect and med_b - med_c >= t.min_latency_change_ms:
        gains.append(
            f"faster: median {format_duration(med_c)} vs {format_duration(med_b)} ({change}), "
            f"Mann-Whitney p={faster.p_value:.1e}, Cliff's delta {delta:.2f}"
        )
    neutral = (
        f"latency within thresholds: median {format_duration(med_c)} vs {format_duration(med_b)} "
        f"({change}), Mann-Whitney p={two_sided.p_value:.1e}, Cliff's delta {delta:.2f}"
    )
    return rejects, gains, neutral


def _fitness(
    baseline: Samples, candidate: Samples, t: Thresholds, evidence: dict[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    """Per-task fitness comparison: (rejection reasons, improvement reasons, improved names)."""
    rejects: list[str] = []
    gains: list[str] = []
    improved: list[str] = []
    for name in sorted(baseline.fitness):
        bs, cs = baseline.fitness[name], candidate.fitness[name]
        record = evidence["fitness"][name]
        mean_b, mean_c = record["baseline"]["mean"], record["candidate"]["mean"]
        change = mean_c - mean_b
        record["mean_change"] = change
        means = f"{name} mean {_pair(mean_b, mean_c, 2)} ({change:+.3g})"
        if len(bs) >= t.fitness_test_min and len(cs) >= t.fitness_test_min:
            p_worse = mann_whitney_u(cs, bs, "less").p_value
            p_better = mann_whitney_u(cs, bs, "greater").p_value
            record.update({"test": "mann-whitney", "p_worse": p_worse, "p_better": p_better})
            worse = change < -t.max_fitness_loss and p_worse < t.alpha
            better = change > t.min_fitness_gain and p_better < t.alpha
            worse_how = f"Mann-Whitney p={p_worse:.1e}"
            better_how = f"Mann-Whitney p={p_better:.1e}"
        else:
            record["test"] = "mean"
            worse = change < -t.max_fitness_loss
            better = change > t.min_fitness_gain
            worse_how = better_how = (
                f"means compared, fewer than {t.fitness_test_min} scores per arm"
            )
        if worse:
            rejects.append(f"fitness regression: {means}, {worse_how}")
        if better:
            gains.append(f"fitness gain: {means}, {better_how}")
            improved.append(f"fitness:{name}")
    return rejects, gains, improved


def decide(baseline: Samples, candidate: Samples, thresholds: Thresholds | None = None) -> Decision:
    """Compare the candidate with the baseline and decide whether to promote it.

    In order: missing data rejects at once ("no data: ..."); then an error-rate
    regression, a significant slowdown, or a fitness regression on any task
    each reject; otherwise the candidate is promoted when something improved
    (a fitness task, or significantly lower latency) or when
    ``require_improvement`` is off, and rejected as "no improvement" when not.
    Fitness tasks present only in the candidate are recorded but not compared:
    there is nothing to compare them with.
    """
    t = thresholds if thresholds is not None else Thresholds()
    evidence: dict[str, Any] = {
        "thresholds": dataclasses.asdict(t),
        "latency": {
            "baseline": _summary(baseline.latencies_ms),
            "candidate": _summary(candidate.latencies_ms),
        },
        "errors": {"baseline": _error_arm(baseline), "candidate": _error_arm(candidate)},
        "fitness": {
            name: {
                "baseline": _summary(scores),
                "candidate": _summary(candidate.fitness.get(name, ())),
            }
            for name, scores in sorted(baseline.fitness.items())
        },
        "fitness_candidate_only": sorted(set(candidate.fitness) - set(baseline.fitness)),
    }

    missing = _no_data(baseline, candidate, t)
    if missing:
        return Decision("reject", tuple(missing), evidence, ())

    rejects = _errors(baseline, candidate, t, evidence)
    latency_rejects, latency_gains, latency_neutral = _latency(baseline, candidate, t, evidence)
    fitness_rejects, fitness_gains, fitness_improved = _fitness(baseline, candidate, t, evidence)
    rejects += latency_rejects + fitness_rejects
    gains = latency_gains + fitness_gains
    improved = (["latency"] if latency_gains else []) + fitness_improved

    if rejects:
        return Decision("reject", tuple(rejects + gains), evidence, tuple(improved))
    if gains:
        return Decision("promote", tuple(gains), evidence, tuple(improved))
    fitness_note = "no fitness task improved" if baseline.fitness else "no fitness tasks"
    if t.require_improvement:
        return Decision(
            "reject", (f"no improvement: {latency_neutral}; {fitness_note}",), evidence, ()
        )
    return Decision(
        "promote",
        (f"no regression (improvement not required): {latency_neutral}; {fitness_note}",),
        evidence,
        (),
    )
