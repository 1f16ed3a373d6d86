"""Restart policy after OTP: the restart intensity, and what a crash loop leads to.

A worker that fails is restarted. More than `max_restarts` failures within
`restart_window` seconds is a crash loop: when the failing code is not the last
known-good version, the next worker first rolls the agent's repository back to it
(`Rollback`; it happens once per escalation, until a worker serves again); with
nothing to fall back on the guardian backs off between attempts (`Backoff`).
A promoted version that fails on probation is rolled back at once, by the
evolution manager's say (`RestartPolicy.roll_back`). This module decides; the
supervisor acts (logs, counts, launches).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["Backoff", "RestartPolicy", "Rollback"]


@dataclass(frozen=True)
class Rollback:
    """The next worker rolls the repository back to `commit` (a new commit whose message is `reason`)."""

    commit: str
    reason: str


@dataclass(frozen=True)
class Backoff:
    """A crash loop with nothing to roll back to: wait `seconds` before the next attempt."""

    seconds: float


class RestartPolicy:
    """The restart intensity (failures within the window) and the escalation it leads to."""

    def __init__(self, max_restarts: int, restart_window: float, max_backoff: float) -> None:
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.max_backoff = max_backoff
        self.pending: Rollback | None = None
        """The rollback the next worker performs (None: start the code as it is)."""
        self.last_escalation: dict[str, Any] | None = None
        """For ``/health``: the last rollback decided (from, to, reason, time)."""
        self._failures: deque[float] = deque()
        self._escalated_unserved = False  # a rollback was decided and no worker has served since

    def served(self) -> None:
        """A worker serves: the rollback (if any) is done, escalation may happen again."""
        self.pending = None
        self._escalated_unserved = False

    def roll_back(self, code_version: str, rollback: Rollback) -> None:
        """Roll back now, outside the intensity (a promoted version failed on probation)."""
        self.pending = rollback
        self._escalated_unserved = True
        self.last_escalation = {"from": code_version, "to": rollback.commit, "reason": rollback.reason,
                                "time": time.time()}

    def failed(self, now: float, code_version: str, commit: str, reason: str,
               known_good: str | None) -> Rollback | Backoff | None:
        """Count a failure of `code_version` (at `commit`); None while within the intensity.

        Past it: a `Rollback` to `known_good` when that is another commit and no
        rollback is already under way, else a `Backoff`.
        """
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.restart_window:
            self._failures.popleft()
        if len(self._failures) <= self.max_restarts:
            return None
        count = len(self._failures)
        self._failures.clear()
        if known_good is not None and commit != known_good and not self._escalated_unserved:
            why = (f"guardian: {code_version or 'the current version'} crash-looped "
                   f"({count} failures in {self.restart_window:g} s; last: {reason})")[:500]
            rollback = Rollback(known_good, why)
            self.roll_back(code_version, rollback)
            return rollback
        return Backoff(min(self.max_backoff, self.restart_window / max(self.max_restarts, 1)))
