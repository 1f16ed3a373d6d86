"""The event loop the guardian runs on: uvloop where it is installed, else asyncio's own.

Why uvloop: the guardian's work per request is small and mostly event-loop machinery
(pipe reads and writes, futures, timers, wake-ups from the WAL thread); uvloop does
that part in C. Measured through the pipe, it took about a sixth off the guardian's
CPU time per request (docs/decisions.md). Everything here is plain asyncio API, so the
guardian behaves the same on either loop; the test suite runs on uvloop, like
``o-lisp serve``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_uvloop: Any
try:
    import uvloop as _uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
    _uvloop = None


def loop_name() -> str:
    """"uvloop" or "asyncio": what `run` uses (shown by ``o-lisp serve`` and the bench)."""
    return "asyncio" if _uvloop is None else "uvloop"


def new_event_loop() -> asyncio.AbstractEventLoop:
    if _uvloop is None:  # pragma: no cover
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = _uvloop.new_event_loop()
    return loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on the guardian's loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
