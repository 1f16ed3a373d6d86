"""Users' ratings as a canary signal: is the candidate's arm rated worse than the stable one?

Latency and errors say whether a candidate runs well; only the people reading its replies
say whether it answers well. During a canary the main worker remembers which arm wrote
each reply, so a rating posted to `POST /v1/feedback` for one of them (`reply_to`) is a
sample of that arm (ratings are in [-1, 1]). Ratings are sparse and arrive late, so they
are pooled over the whole canary, and they can only stop a canary, never promote one:

* with at least `min_ratings` for each arm, the canary is rejected when its ratings are
  significantly lower (one-sided Mann-Whitney U at `alpha`) *and* its mean is at least
  `margin` below the stable arm's (a significant but tiny drop decides nothing);
* with enough canary ratings but too few stable ones to compare, it is rejected when its
  mean is below `floor` (users dislike it, whatever the baseline).

Fewer than `min_ratings` canary ratings is no evidence either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from o_lisp.evolution._stats import mann_whitney_u


@dataclass(frozen=True)
class RatingThresholds:
    """The knobs of `rating_objection` (see the module docstring)."""

    min_ratings: int = 5
    alpha: float = 0.05
    margin: float = 0.25
    floor: float = -0.25

    def __post_init__(self) -> None:
        if self.min_ratings < 1:
            raise ValueError(f"min_ratings must be at least 1, got {self.min_ratings}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not 0 <= self.margin <= 2:
            raise ValueError(f"margin must be in [0, 2], got {self.margin}")
        if not -1 <= self.floor <= 1:
            raise ValueError(f"floor must be in [-1, 1], got {self.floor}")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def rating_objection(stable: Sequence[float], canary: Sequence[float],
                     thresholds: RatingThresholds | None = None) -> tuple[str | None, dict[str, Any]]:
    """(why the canary must stop, or None; the evidence as plain data)."""
    t = thresholds or RatingThresholds()
    evidence: dict[str, Any] = {"stable": {"n": len(stable), "mean": round(_mean(stable), 4) if stable else None},
                                "canary": {"n": len(canary), "mean": round(_mean(canary), 4) if canary else None}}
    if len(canary) < t.min_ratings:
        return None, evidence
    shown = f"mean {_mean(canary):+.2f} on {len(canary)} rating(s)"
    if len(stable) >= t.min_ratings:
        test = mann_whitney_u(canary, stable, "less")
        drop = _mean(stable) - _mean(canary)
        evidence.update(p_value=test.p_value, drop=round(drop, 4))
        if test.p_value < t.alpha and drop >= t.margin:
            return (f"users rate it worse: {shown} against {_mean(stable):+.2f} on {len(stable)} for the stable "
                    f"version (Mann-Whitney p={test.p_value:.3g})"), evidence
        return None, evidence
    if _mean(canary) < t.floor:
        return (f"users rate it badly: {shown}, below the floor {t.floor:+.2f} (too few ratings of the stable "
                "version to compare)"), evidence
    return None, evidence


__all__ = ["RatingThresholds", "rating_objection"]
