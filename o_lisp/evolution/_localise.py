"""Spectrum-based fault localisation: where in the parent mutations should land.

The parent is evaluated once with a spectrum (`Evaluation.spectrum`: for each
instrumented subform, how many failing and passing checks executed it). Ochiai's
suspiciousness ``failed / sqrt(total_failed * (failed + passed))`` ranks the subforms:
code executed only by failing checks scores 1, code executed only by passing ones 0.
A subform that was not instrumented (an atom, a binding) inherits the score of its
nearest instrumented ancestor. Every site keeps a floor weight, because the bug may be
a *missing* statement next to code the failing tests never reached, and because with a
parent that passes every test (an optimisation run) there is nothing to localise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from o_lisp.evolution._individual import Coverage, Path

FLOOR = 0.1
"""The weight of a site no failing test executed (relative to 1 for the most suspicious)."""


def ochiai(spectrum: Iterable[Coverage]) -> dict[Path, float]:
    """Suspiciousness per instrumented path (empty when no test failed)."""
    spectrum = list(spectrum)
    total_failed = max((c.failed for c in spectrum), default=0)
    if total_failed == 0:
        return {}
    out: dict[Path, float] = {}
    for c in spectrum:
        executed = c.failed + c.passed
        out[c.path] = c.failed / math.sqrt(total_failed * executed) if executed and c.failed else 0.0
    return out


class Localiser:
    """Weights of paths of the parent's form (and of its descendants, whose paths mostly
    coincide with the parent's: a one-node edit does not move its neighbours)."""

    def __init__(self, suspiciousness: Mapping[Path, float]) -> None:
        self.scores = dict(suspiciousness)

    def weight(self, path: Path) -> float:
        if not self.scores:
            return 1.0
        for cut in range(len(path), -1, -1):
            score = self.scores.get(path[:cut])
            if score is not None:
                return max(FLOOR, score)
        return FLOOR


__all__ = ["FLOOR", "Localiser", "ochiai"]
