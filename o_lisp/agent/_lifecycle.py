"""Agent lifecycle states and their legal transitions (stdlib only).

Every change goes through `Lifecycle.change()`, which checks the transition
against `TRANSITIONS` and notifies listeners, so supervisors and logs see every
state change in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from o_lisp._errors import OLispError


class Lifecycle(Enum):
    INITIALIZING = "initializing"
    RUNNING = "running"
    EVOLVING = "evolving"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


TRANSITIONS: dict[Lifecycle, frozenset[Lifecycle]] = {
    Lifecycle.INITIALIZING: frozenset({Lifecycle.RUNNING, Lifecycle.TERMINATED}),
    Lifecycle.RUNNING: frozenset({Lifecycle.EVOLVING, Lifecycle.SUSPENDED, Lifecycle.TERMINATED}),
    Lifecycle.EVOLVING: frozenset({Lifecycle.RUNNING, Lifecycle.SUSPENDED, Lifecycle.TERMINATED}),
    Lifecycle.SUSPENDED: frozenset({Lifecycle.RUNNING, Lifecycle.TERMINATED}),
    Lifecycle.TERMINATED: frozenset(),
}


class IllegalTransition(OLispError):
    """A lifecycle change that the state machine does not allow."""

    def __init__(self, current: Lifecycle, wanted: Lifecycle) -> None:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
        super().__init__(
            f"cannot go from {current.value} to {wanted.value} (allowed from {current.value}: {allowed})"
        )
        self.current = current
        self.wanted = wanted


Listener = Callable[[Lifecycle, Lifecycle], None]


def check_transition(current: Lifecycle, wanted: Lifecycle) -> None:
    if wanted not in TRANSITIONS[current]:
        raise IllegalTransition(current, wanted)


__all__ = ["TRANSITIONS", "IllegalTransition", "Lifecycle", "Listener", "check_transition"]
