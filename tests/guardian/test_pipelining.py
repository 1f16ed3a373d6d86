"""Pipelined workers: speculative apply, answers held until durable, resync after a failed append.

A pipelined worker (the default, `GuardianConfig.pipelined`) applies a mutation as soon
as it has sent the ``wal_append`` and goes on serving; the guardian holds every answer
until the appends the worker sent before it are durable. These tests stall the WAL's
fsync with a gate (the fault-injection layer, `GuardianConfig.wal_fsync`) to have appends
*in flight* at a chosen moment, then check what clients see: nothing before it is durable,
a `not_durable` error for everything that depended on a failed append, and checkpoints
that cover exactly the acknowledged mutations. The strict mode runs the same client-side
checks, since the guarantee is the same.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from guardian_harness import make_config, retry, run_guardian, wait_for
from test_supervisor import AGENT, _chaos

from o_lisp.guardian._supervisor import Guardian, GuardianConfig, GuardianError, RequestFailed
from o_lisp.guardian._vault import Vault


class Gate:
    """Stands in for the WAL's fsync: when armed, the next sync waits for `release` (then fails if told to)."""

    def __init__(self) -> None:
        self.armed = False
        self.fail = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, fd: int) -> None:
        if self.armed:
            self.armed = False
            self.entered.set()
            self.release.wait(30)
            if self.fail:
                raise OSError(errno.EIO, "injected: fsync failed")
        os.fsync(fd)

    def arm(self, *, fail: bool = False) -> None:
        self.entered.clear()
        self.release.clear()
        self.fail = fail
        self.armed = True


def _config(tmp_path: Path, **overrides: Any) -> GuardianConfig:
    # The gates hold an fsync open while the test goes on: that needs the fsync on the
    # I/O thread (inline, a held fsync holds the event loop, by design).
    return make_config(tmp_path, AGENT, **{"request_timeout": 20.0, "wal_inline": False, **overrides})


async def _texts(g: Guardian) -> list[str]:
    return sorted(text for _, text in await retry(g, "debug_blocks", {}))


def _appends_received(g: Guardian) -> int:
    link = g.serving_link
    return 0 if link is None else link.appends_received


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "strict"])
def test_a_read_after_an_unacked_write_is_answered_only_once_the_write_is_durable(tmp_path: Path, pipelined: bool) -> None:
    gate = Gate()

    async def scenario(g: Guardian) -> None:
        await g.request("memory_add", {"text": "first"})
        gate.arm()
        write = asyncio.create_task(g.request("memory_add", {"text": "second"}))
        await wait_for(gate.entered.is_set)
        read = asyncio.create_task(g.request("debug_blocks", {}))
        search = asyncio.create_task(g.request("memory_search", {"q": "second", "k": 5}))
        if pipelined:
            # The worker has already applied the write and answered both reads (it does not
            # wait for acks): the guardian is what holds the three answers back.
            link = g.serving_link
            assert link is not None
            await wait_for(lambda: len(link.held) == 3)
        await asyncio.sleep(0.3)
        assert not write.done() and not read.done() and not search.done()
        gate.release.set()
        ids = await write
        assert sorted(text for _, text in await read) == ["first", "second"]
        assert ids[0] in [hit["id"] for hit in await search]
        assert g.metrics.restarts == 0

    run_guardian(scenario, _config(tmp_path, wal_fsync=gate, pipelined=pipelined))


def test_fsync_failure_with_writes_in_flight_fails_all_of_them(tmp_path: Path) -> None:
    gate = Gate()
    config = _config(tmp_path, wal_fsync=gate, checkpoint_on_stop=False)

    async def scenario(g: Guardian) -> None:
        await g.request("memory_add", {"text": "kept"})
        pid = g.worker_pid
        before = _appends_received(g)
        gate.arm(fail=True)
        writes = [asyncio.create_task(g.request("memory_add", {"text": f"lost {i}"})) for i in range(5)]
        await wait_for(gate.entered.is_set)
        # All five applied by the worker (speculatively) and logged before the fsync fails.
        await wait_for(lambda: _appends_received(g) == before + 5)
        counted = asyncio.create_task(g.request("message", {"text": "count"}))  # sent while diverging
        gate.release.set()
        outcomes = await asyncio.gather(*writes, return_exceptions=True)
        for outcome in outcomes:
            assert isinstance(outcome, RequestFailed) and outcome.code == "not_durable", outcome
        # The worker discarded its speculative state in place: no restart, no crash counted.
        assert await _texts(g) == ["kept"]
        assert g.metrics.wal_failures >= 1 and g.metrics.resyncs == 1
        assert g.worker_pid == pid and g.metrics.restarts == 0
        # The message was served after the resync (or refused with the others): never on bad state.
        try:
            assert await counted == "1"
        except RequestFailed as error:
            assert error.code == "not_durable"
        await g.request("memory_add", {"text": "after"})
        assert await _texts(g) == ["after", "kept"]
        assert g.health()["status"] == "ok"
        os.kill(pid or 0, signal.SIGKILL)  # restore from the WAL: none of the lost writes reappears
        assert await _texts(g) == ["after", "kept"]

    run_guardian(scenario, config)
    found: list[str] = []

    async def again(g: Guardian) -> None:
        found.extend(await _texts(g))

    run_guardian(again, config)
    assert found == ["after", "kept"]


def test_a_checkpoint_taken_with_appends_in_flight_covers_exactly_the_acked_ones(tmp_path: Path) -> None:
    gate = Gate()
    config = _config(tmp_path, wal_fsync=gate, checkpoint_on_stop=False)

    async def scenario(g: Guardian) -> None:
        await g.request("memory_add", {"text": "kept"})
        # 1. Appends in flight, then durable: the checkpoint waits for them and covers them.
        before = _appends_received(g)
        gate.arm()
        writes = [asyncio.create_task(g.request("memory_add", {"text": f"in flight {i}"})) for i in range(3)]
        await wait_for(gate.entered.is_set)
        await wait_for(lambda: _appends_received(g) == before + 3)
        checkpoint = asyncio.create_task(g.checkpoint("with appends in flight"))
        await asyncio.sleep(0.3)
        assert not checkpoint.done() and not any(w.done() for w in writes)
        gate.release.set()
        info = await checkpoint
        await asyncio.gather(*writes)
        assert info["wal_seq"] == g.health()["wal_seq"]
        _, state = Vault(config.data_dir / "checkpoints", readonly=True).read(info["id"])
        stored = repr(state["memories"])
        assert all(f"in flight {i}" in stored for i in range(3)) and "kept" in stored
        # 2. Appends in flight, then failed: the checkpoint (of state that holds them) is refused.
        before = _appends_received(g)
        gate.arm(fail=True)
        failing = [asyncio.create_task(g.request("memory_add", {"text": f"doomed {i}"})) for i in range(3)]
        await wait_for(gate.entered.is_set)
        await wait_for(lambda: _appends_received(g) == before + 3)
        refused = asyncio.create_task(g.checkpoint("with failing appends in flight"))
        await asyncio.sleep(0.1)
        gate.release.set()
        with pytest.raises(GuardianError):
            await refused
        for outcome in await asyncio.gather(*failing, return_exceptions=True):
            assert isinstance(outcome, RequestFailed) and outcome.code == "not_durable"
        assert g.health()["last_checkpoint"]["id"] == info["id"]
        assert "doomed" not in repr(await _texts(g))
        # 3. After the resync a checkpoint works again and holds only durable state.
        again = await g.checkpoint("after the resync")
        _, state = Vault(config.data_dir / "checkpoints", readonly=True).read(again["id"])
        assert "doomed" not in repr(state["memories"]) and again["wal_seq"] == info["wal_seq"]

    run_guardian(scenario, config)


def test_strict_mode_kill_9_under_concurrent_writes(tmp_path: Path) -> None:
    run_guardian(lambda g: _chaos(g, rounds=6, seed=3),
                 make_config(tmp_path, AGENT, pipelined=False, max_restarts=1000, checkpoint_wal_records=40), limit=60)


def test_fsync_failures_under_concurrent_writes_lose_nothing_acknowledged(tmp_path: Path) -> None:
    """Writers keep writing while every few fsyncs fail: acked writes all survive, failed ones never appear."""
    failures = {"every": 7, "count": 0}
    lock = threading.Lock()

    def flaky(fd: int) -> None:
        with lock:
            failures["count"] += 1
            fail = failures["count"] % failures["every"] == 0
        if fail:
            raise OSError(errno.EIO, "injected: fsync failed")
        os.fsync(fd)

    config = make_config(tmp_path, AGENT, wal_fsync=flaky, max_restarts=1000, request_timeout=20.0)
    outcomes: dict[str, str] = {}

    async def scenario(g: Guardian) -> None:
        async def writer(w: int) -> None:
            for i in range(40):
                text = f"w{w} n{i}"
                try:
                    await g.request("memory_add", {"text": text})
                    outcomes[text] = "ok"
                except RequestFailed as error:
                    outcomes[text] = error.code

        await asyncio.gather(*(writer(w) for w in range(4)))
        texts = await _texts(g)
        assert len(texts) == len(set(texts))
        ok = {t for t, o in outcomes.items() if o == "ok"}
        refused = {t for t, o in outcomes.items() if o == "not_durable"}
        assert ok and refused, outcomes
        assert set(texts) == ok  # every acked write present, no refused write applied
        assert g.metrics.restarts == 0

    run_guardian(scenario, config, limit=120)
