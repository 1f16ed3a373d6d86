"""The per-evaluation budget: steps, wall time, call depth, memory growth.

Compiled code decrements two cells of one list, `counters = [steps_left,
depth_left]`, at every function entry and loop back-edge, and calls
`Budget.over()` only when a cell goes negative. Steps are handed out in chunks,
so the comparatively expensive checks (clock, resident memory) run once per
chunk rather than once per step.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from typing import NoReturn

from o_lisp._errors import LimitExceeded, SandboxViolation
from o_lisp._limits import Limits

CHUNK = 10_000
_EXHAUSTED = -(1 << 62)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """Current resident set size of this process (Linux /proc, else peak RSS)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):  # pragma: no cover - non-Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Budget:
    """Budget state of one interpreter; `start()`/`stop()` bracket each evaluation."""

    def __init__(self) -> None:
        self.counters: list[int] = [_EXHAUSTED, _EXHAUSTED]
        self.limits = Limits()
        self.active = 0
        self.steps_used = 0
        self.chunk = 0
        self.deadline: float | None = None
        self.rss_base = 0
        self.alloc_since_check = 0
        self.failed: LimitExceeded | None = None
        self.cancelled = False
        self.owner: int | None = None

    # -- evaluation bracket -------------------------------------------------
    def start(self, limits: Limits) -> None:
        """Begin an evaluation (re-entrant: nested calls share the outer budget)."""
        if self.active:
            if self.owner != threading.get_ident():
                raise SandboxViolation("an Interpreter cannot be used from two threads at once")
            self.active += 1
            return
        self.active = 1
        self.owner = threading.get_ident()
        self.limits = limits
        self.steps_used = 0
        self.failed = None
        self.cancelled = False
        self.deadline = None if limits.time is None else time.monotonic() + limits.time
        self.rss_base = resident_bytes() if limits.memory is not None else 0
        self.alloc_since_check = 0
        self.counters[1] = limits.depth if limits.depth is not None else 1 << 62
        self._refill()

    def stop(self) -> None:
        self.active -= 1
        if self.active == 0:
            self.counters[0] = _EXHAUSTED
            self.counters[1] = _EXHAUSTED
            self.owner = None

    def cancel(self) -> None:
        """Ask a running evaluation to stop at its next check (any thread may call this)."""
        self.cancelled = True
        self.counters[0] = -1

    # -- the slow path of the inlined checks ----------------------------------
    def over(self) -> None:
        """Called by compiled code when a counter went negative."""
        counters = self.counters
        if not self.active:
            raise SandboxViolation(
                "a sandboxed function was called outside an evaluation; "
                "call it through Interpreter.call"
            )
        if self.failed is not None:
            counters[0] = _EXHAUSTED
            raise LimitExceeded(self.failed.limit, self.failed.message)
        if counters[1] < 0:
            counters[1] += 1
            self._fail("depth", f"call depth limit of {self.limits.depth} exceeded")
        self.steps_used += self.chunk - counters[0]
        limits = self.limits
        if self.cancelled:
            self._fail("time", "evaluation cancelled")
        if limits.steps is not None and self.steps_used > limits.steps:
            self._fail("steps", f"step limit of {limits.steps} exceeded")
        self._check_clock_and_memory()
        self._refill()

    def charge(self, steps: int) -> None:
        """Charge several steps at once (e.g. a comprehension over a sized collection)."""
        counters = self.counters
        counters[0] -= steps
        if counters[0] < 0:
            self.over()

    def allocate(self, size: int, what: str) -> None:
        """Refuse an allocation of `size` elements before it happens; sample memory often."""
        limit = self.limits.max_size
        if limit is not None and size > limit:
            self._fail("size", f"{what} of {size} elements exceeds the size limit of {limit}")
        self.alloc_since_check += size
        if self.alloc_since_check > 8_000_000 and self.active:
            self.alloc_since_check = 0
            self._check_clock_and_memory()

    def int_bits(self, bits: int, what: str) -> None:
        limit = self.limits.max_int_bits
        if limit is not None and bits > limit:
            self._fail("int_bits", f"{what} would have about {bits} bits; the limit is {limit}")

    def _check_clock_and_memory(self) -> None:
        limits = self.limits
        if self.deadline is not None and time.monotonic() > self.deadline:
            self._fail("time", f"time limit of {limits.time} s exceeded")
        if limits.memory is not None:
            grown = resident_bytes() - self.rss_base
            if grown > limits.memory:
                self._fail(
                    "memory",
                    f"memory grew by {grown >> 20} MiB; the limit is {limits.memory >> 20} MiB",
                )

    def _refill(self) -> None:
        remaining = CHUNK
        if self.limits.steps is not None:
            remaining = min(CHUNK, self.limits.steps - self.steps_used + 1)
        self.chunk = max(remaining, 0)
        self.counters[0] = self.chunk

    def _fail(self, limit: str, message: str) -> NoReturn:
        error = LimitExceeded(limit, message)
        self.failed = error
        self.counters[0] = _EXHAUSTED
        raise error


def host_recursion_headroom(depth: int | None) -> int:
    """The Python recursion limit an evaluation needs so that our depth limit trips first."""
    frames = (depth if depth is not None else 5_000) * 3 + 400
    return max(sys.getrecursionlimit(), _current_depth() + frames)


def _current_depth() -> int:
    frame = sys._getframe()
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


class RecursionLimitGuard:
    """Raise the process recursion limit while any evaluation needs it; restore it after.

    The limit is process-global, so concurrent evaluations in several threads
    share one reference-counted raise instead of restoring each other's values.
    """

    _lock = threading.Lock()
    _users = 0
    _saved = 0

    @classmethod
    def enter(cls, needed: int) -> None:
        with cls._lock:
            if cls._users == 0:
                cls._saved = sys.getrecursionlimit()
            cls._users += 1
            if needed > sys.getrecursionlimit():
                sys.setrecursionlimit(needed)

    @classmethod
    def exit(cls) -> None:
        with cls._lock:
            cls._users -= 1
            if cls._users == 0:
                sys.setrecursionlimit(cls._saved)
