"""Where WAL batches are written and fsynced: the event loop's thread while fsyncs are
fast, an I/O thread after a slow one (`GuardianConfig.wal_inline`, `DurableStorage.append`)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from guardian_harness import make_config, run_guardian

import o_lisp.guardian._durable as durable
from o_lisp.guardian._supervisor import Guardian, GuardianConfig

AGENT = """\
(defagent tester
  :version "0.1.0"
  (defmemory notes :dim 16)
  (defn respond [text] (+ "echo: " text)))
"""


class FsyncSpy:
    """An fsync that records the thread it ran on, and sleeps when told to."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.delay = 0.0

    def __call__(self, fd: int) -> None:
        self.threads.append(threading.get_ident())
        if self.delay:
            time.sleep(self.delay)
        os.fsync(fd)


def _config(tmp_path: Path, **overrides: Any) -> GuardianConfig:
    return make_config(tmp_path, AGENT, **{"request_timeout": 10.0, **overrides})


def test_fast_fsyncs_run_on_the_event_loop_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # "Fast" is relative to the threshold: a loaded machine's fsync can take over the
    # default 5 ms, which would (rightly) move the batches to the I/O thread.
    monkeypatch.setattr(durable, "INLINE_WAL_MAX", 5.0)
    spy = FsyncSpy()
    loop_thread: list[int] = []

    async def scenario(g: Guardian) -> None:
        loop_thread.append(threading.get_ident())
        start = len(spy.threads)
        for i in range(5):
            await g.request("memory_add", {"text": f"note {i}"})
        assert spy.threads[start:], "no WAL fsync seen"
        assert set(spy.threads[start:]) == {loop_thread[0]}

    run_guardian(scenario, _config(tmp_path, wal_fsync=spy))


def test_a_slow_fsync_sends_later_batches_to_the_io_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durable, "INLINE_WAL_BACKOFF", 60.0)
    monkeypatch.setattr(durable, "INLINE_WAL_MAX", 0.4)  # above a loaded machine's fsync, below the slow one
    spy = FsyncSpy()

    async def scenario(g: Guardian) -> None:
        loop = threading.get_ident()
        await g.request("memory_add", {"text": "fast"})
        spy.delay = 3 * durable.INLINE_WAL_MAX
        start = len(spy.threads)
        await g.request("memory_add", {"text": "slow, on the loop thread"})
        assert spy.threads[start:] and set(spy.threads[start:]) == {loop}
        spy.delay = 0.0
        start = len(spy.threads)
        ids = [(await g.request("memory_add", {"text": f"after {i}"}))[0] for i in range(3)]
        assert spy.threads[start:] and loop not in spy.threads[start:]
        assert [(await g.request("memory_get", {"id": i}))["text"] for i in ids] == ["after 0", "after 1", "after 2"]

    run_guardian(scenario, _config(tmp_path, wal_fsync=spy))


def test_wal_inline_false_always_uses_the_io_thread(tmp_path: Path) -> None:
    spy = FsyncSpy()

    async def scenario(g: Guardian) -> None:
        loop = threading.get_ident()
        start = len(spy.threads)
        for i in range(3):
            await g.request("memory_add", {"text": f"note {i}"})
        assert spy.threads[start:] and loop not in spy.threads[start:]

    run_guardian(scenario, _config(tmp_path, wal_fsync=spy, wal_inline=False))
