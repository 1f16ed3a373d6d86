"""Run one denial-of-service attempt five times in one interpreter, in a watched child.

Each attempt of issue 12's families must end with `LimitExceeded` (or another
closed outcome, or a harmless value) every time, leave the interpreter usable,
and leave nothing behind: resident memory after five runs stays near what it was
after the first, and no thread is left running. The attempt runs in a forked
child so that a regression (a hang, a memory blow-up) fails the test instead of
hanging or killing CI: the parent kills the child after `HANG_AFTER` seconds or
when it grows by more than `KILL_GROWTH`. No assertion is about speed: the kill
timeout is an order of magnitude above the evaluation's time limit.
"""

from __future__ import annotations

import gc
import os
import pickle
import resource
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from o_lisp import Interpreter, LimitExceeded, Limits, OLispError, ProgramError

RUNS = 5
HANG_AFTER = 120.0
KILL_GROWTH = 1536 << 20
REUSE = "(+ (len (lfor i (range 20) i)) (len (.upper \"ab\")) 50)"


@dataclass(frozen=True)
class Attempt:
    """A program (setup forms, then the attack) and the outcomes that count as closed.

    `expected` holds ("LimitExceeded", limit), ("ProgramError", type_name),
    ("SandboxViolation", None) or ("value", v) entries.
    """

    source: str
    expected: tuple[tuple[str, Any], ...]
    limits: Limits = field(default_factory=lambda: Limits(time=2.0, memory=256 << 20))
    setup: str = ""
    capabilities: tuple[tuple[str, Callable[[Interpreter], Callable[..., Any]]], ...] = ()
    """(name, factory): the factory makes the capability for the attempt's interpreter."""
    left_behind: int = 20_000
    """Allocated blocks (Python objects) that may remain from the first run to the last."""


def limit(*names: str) -> tuple[tuple[str, Any], ...]:
    return tuple(("LimitExceeded", name) for name in names)


def _outcome(error: BaseException) -> tuple[str, Any]:
    if isinstance(error, LimitExceeded):
        return ("LimitExceeded", error.limit)
    if isinstance(error, ProgramError):
        return ("ProgramError", error.type_name)
    if isinstance(error, OLispError):
        return (type(error).__name__, None)
    return ("RAW " + type(error).__name__, "".join(traceback.format_exception(error))[-2000:])


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset the peak (VmHWM) to the current resident size
    except OSError:
        pass


def _peak() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0  # pragma: no cover


def _child(attempt: Attempt) -> dict[str, Any]:
    interp = Interpreter(limits=attempt.limits)
    for name, factory in attempt.capabilities:
        interp.grant(name, factory(interp))
    assert interp.eval(REUSE) == 72
    threads = threading.active_count()
    recursion = sys.getrecursionlimit()
    outcomes: list[Any] = []
    peaks: list[int] = []
    traced: list[int] = []
    rss: list[int] = []
    messages: list[str] = []
    for _ in range(RUNS):
        _reset_peak()
        before = _rss()
        try:
            if attempt.setup:
                interp.eval(attempt.setup)
            value = interp.eval(attempt.source)
        except BaseException as error:
            outcomes.append(_outcome(error))
            messages.append(str(error)[:300])
        else:
            outcomes.append(("value", value if isinstance(value, int | str | bool | None) else repr(value)[:200]))
            messages.append("")
        value = None
        peaks.append(_peak() - before)
        rss.append(_rss())
        gc.collect()
        traced.append(sys.getallocatedblocks())
    return {
        "outcomes": outcomes,
        "messages": messages,
        "peaks": peaks,
        "traced": traced,
        "rss": rss,
        "reuse": interp.eval(REUSE),
        "fresh": Interpreter().eval("(+ 1 2)"),
        "threads": (threads, threading.active_count()),
        "recursion": (recursion, sys.getrecursionlimit()),
    }


def run(attempt: Attempt) -> dict[str, Any]:
    """Run `attempt` RUNS times in a forked child; fail the test on any open outcome."""
    read_fd, write_fd = os.pipe()
    base = _rss()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(read_fd)
            cap = resource.getrlimit(resource.RLIMIT_AS)
            wanted = 8 << 30
            if cap[0] == resource.RLIM_INFINITY or cap[0] > wanted:
                resource.setrlimit(resource.RLIMIT_AS, (wanted, cap[1]))
            try:
                report = _child(attempt)
            except BaseException as error:
                report = {"harness_error": "".join(traceback.format_exception(error))[-3000:]}
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(pickle.dumps(report))
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + HANG_AFTER
    problem = ""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            if time.monotonic() > deadline:
                problem = f"HANG: {RUNS} runs did not end within {HANG_AFTER:.0f} s"
                break
            ready, _, _ = select.select([pipe], [], [], 0.05)
            if not ready:
                try:
                    with open(f"/proc/{pid}/statm") as statm:
                        grown = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") - base
                except (OSError, ValueError):
                    grown = 0
                if grown > KILL_GROWTH:
                    problem = f"ALLOCATED: the child grew by {grown >> 20} MiB"
                    break
                continue
            chunk = pipe.read(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    if problem:
        os.kill(pid, signal.SIGKILL)  # our own child, by pid
        os.waitpid(pid, 0)
        pytest.fail(problem)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) or not chunks:
        pytest.fail(f"CRASH: child status {status}")
    report: dict[str, Any] = pickle.loads(b"".join(chunks))
    if "harness_error" in report:
        pytest.fail(report["harness_error"])
    for outcome, message in zip(report["outcomes"], report["messages"], strict=True):
        assert outcome in attempt.expected, f"outcome {outcome} ({message}) not in {attempt.expected}"
    # Objects the runs leave behind (allocated blocks; resident memory is not used here
    # because the C allocator keeps freed pages mapped after big copies).
    kept = report["traced"][-1] - report["traced"][0]
    assert kept < attempt.left_behind, f"{kept} objects left behind by runs 2 to {RUNS}"
    memory = attempt.limits.memory
    if memory is not None:
        # Memory is sampled (every 20 ms and every 8 M checked elements): allow one interval.
        for peak in report["peaks"]:
            assert peak < memory + (192 << 20), f"resident memory peaked {peak >> 20} MiB above the run's start"
    assert report["reuse"] == 72
    assert report["fresh"] == 3
    assert report["threads"][0] == report["threads"][1], f"threads left running: {report['threads']}"
    assert report["recursion"][0] == report["recursion"][1]
    return report


__all__ = ["RUNS", "Attempt", "limit", "run"]
