"""The guardian's life cycle: its states and the transitions between them (stdlib only).

Modelled on Supervisor's ``supervisor/states.py``: the states are an enum, the
allowed moves one table, and `Guardian.change_state` the only place a state changes
(it logs the move and asserts it is allowed, naming where it was and where it may
go). ``/health`` reports `GuardianState.value` ("degraded" is not a state: it is
"ok" with an unavailable WAL).

    STOPPED ─► STARTING ─► OK ◄──────► RESTARTING
                  │         ▲  ╲           │
                  └─► CRASH_LOOP ◄─────────┘        any state ─► STOPPING ─► STOPPED
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = ["TRANSITIONS", "GuardianState", "allowed_after"]


class GuardianState(enum.Enum):
    """Where the guardian is in its life; the value is what ``/health`` says."""

    STOPPED = "stopped"
    """Not started, or stopped: no worker, the WAL and vault closed."""
    STARTING = "starting"
    """`Guardian.start`: storage open, the first worker coming up."""
    OK = "ok"
    """A worker is serving."""
    RESTARTING = "restarting"
    """The serving worker died or hung; the next one (or the standby) is coming up."""
    CRASH_LOOP = "crash_loop"
    """Too many failures and no known-good version to roll back to: backing off between attempts."""
    STOPPING = "stopping"
    """`Guardian.stop`: checkpoint, shut the worker down, close the files."""


TRANSITIONS: Mapping[GuardianState, frozenset[GuardianState]] = {
    GuardianState.STOPPED: frozenset({GuardianState.STARTING, GuardianState.STOPPING}),
    GuardianState.STARTING: frozenset({GuardianState.OK, GuardianState.CRASH_LOOP, GuardianState.STOPPING}),
    GuardianState.OK: frozenset({GuardianState.RESTARTING, GuardianState.STOPPING}),
    GuardianState.RESTARTING: frozenset({GuardianState.OK, GuardianState.CRASH_LOOP, GuardianState.STOPPING}),
    GuardianState.CRASH_LOOP: frozenset({GuardianState.OK, GuardianState.STOPPING}),
    GuardianState.STOPPING: frozenset({GuardianState.STOPPED}),
}
"""state -> the states it may change to (staying in a state is not a change)."""


def allowed_after(state: GuardianState) -> frozenset[GuardianState]:
    """The states `state` may change to."""
    return TRANSITIONS[state]
