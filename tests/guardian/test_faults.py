"""Faults through the running guardian: failing disks, damaged files, hostile frames, risky code changes.

Like test_supervisor, every test runs a real `Guardian` (fork server + worker
processes) on a small agent in tmp_path and stops it in a `finally`. Storage faults
go through `GuardianConfig.wal_fsync` / ``wal_write`` (the fault-injection layer);
damaged files are made by editing the data directory between two guardians; garbage
frames come from the worker itself (``debug_raw`` writes raw bytes on its frame pipe).
Nothing asserts on timing: waits are bounded, outcomes are checked.
"""

from __future__ import annotations

import errno
import os
import signal
import struct
import textwrap
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from guardian_harness import make_config, retry, run_guardian, wait_for

from o_lisp.guardian._protocol import DEFAULT_MAX_FRAME, ErrorCode, Restore, encode_frame
from o_lisp.guardian._supervisor import Guardian, GuardianConfig, RequestFailed
from o_lisp.guardian._vault import Vault
from o_lisp.guardian._wal import RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, WriteAheadLog

AGENT = textwrap.dedent(
    """\
    (defagent tester
      :version "0.1.0"
      :doc "A small agent for the fault tests; it rewrites its greeting on feedback."
      (defmemory notes :dim 64)
      (when-> :name count-it (= msg "count")
        (state-set! "n" (+ 1 (state-get "n" 0)))
        (str (state-get "n" 0)))
      (when-> :name greet (= msg "hello")
        "hello.")
      (defn rebuild-greeting [rule reply]
        `(when-> :name greet ~(get rule 3) ~reply))
      (when-> :name feedback (.startswith msg "feedback: ")
        (setv reply (.strip (cut msg 10 None)))
        (setv result (rewrite! 'greet (rebuild-greeting (definition 'greet) reply)
                               :reason (+ "feedback: greet with " (hy.repr reply))
                               :bump "patch"))
        (cond (get result "accepted") (+ "learned: " reply)
              (.get result "pending") (+ "trying: " reply)
              True (+ "refused: " (.join "; " (get result "failures")))))
      (defn respond [text] (+ "echo: " text))
      (deftest greeting-is-a-string
        (assert (isinstance (get (definition 'greet) 4) str))))
    """
)


def _config(tmp_path: Path, **overrides: Any) -> GuardianConfig:
    return make_config(tmp_path, AGENT, **{"request_timeout": 10.0, **overrides})


_run = run_guardian
_retry = retry
_wait_for = wait_for



class Faults:
    """The fault-injection layer: stands in for the WAL's fsync and pwrite (called from I/O threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fsync_failures = 0  # fail this many of the next fsyncs with EIO
        self.fsync_broken = False  # fail every fsync until cleared
        self.write_failures = 0  # fail this many of the next writes with ENOSPC
        self.injected = 0

    def fsync(self, fd: int) -> None:
        with self._lock:
            fail = self.fsync_broken or self.fsync_failures > 0
            if fail:
                self.fsync_failures = max(0, self.fsync_failures - 1)
                self.injected += 1
        if fail:
            raise OSError(errno.EIO, "injected: fsync failed")
        os.fsync(fd)

    def write(self, fd: int, data: bytes, offset: int) -> int:
        with self._lock:
            fail = self.write_failures > 0
            if fail:
                self.write_failures -= 1
                self.injected += 1
        if fail:
            # What a full disk does: part of the record lands, then ENOSPC.
            os.pwrite(fd, data[: len(data) // 2], offset)
            raise OSError(errno.ENOSPC, "injected: no space left on device")
        return os.pwrite(fd, data, offset)


async def _texts(g: Guardian) -> list[str]:
    blocks = await _retry(g, "debug_blocks", {})
    return sorted(text for _, text in blocks)


def _texts_after_restart(config: GuardianConfig) -> list[str]:
    """What a fresh guardian recovers from the data directory alone."""
    found: list[str] = []

    async def read(g: Guardian) -> None:
        found.extend(await _texts(g))

    _run(read, config)
    return found


def _wal_segments(config: GuardianConfig) -> list[Path]:
    return sorted((config.data_dir / "wal").glob("wal-*.log"))


# ---------------------------------------------------------------------------------------
# Storage faults through the fault-injection layer
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["fsync_eio", "write_enospc"])
def test_storage_fault_during_memory_add_is_refused_and_not_recovered(tmp_path: Path, fault: str) -> None:
    faults = Faults()
    config = _config(tmp_path, wal_fsync=faults.fsync, wal_write=faults.write)

    async def scenario(g: Guardian) -> None:
        await g.request("memory_add", {"text": "before the fault"})
        seq = g.health()["wal_seq"]
        if fault == "fsync_eio":
            faults.fsync_failures = 1
        else:
            faults.write_failures = 1
        with pytest.raises(RequestFailed) as failed:
            await g.request("memory_add", {"text": "during the fault"})
        assert failed.value.code == "not_durable"
        assert faults.injected == 1 and g.metrics.wal_failures == 1
        # Policy: a failed write leaves the log usable; a failed fsync poisons it and the
        # guardian reopens it at once (the fault was one-shot, so the reopen succeeds).
        health = g.health()
        assert health["status"] == "ok" and health["wal_error"] is None and health["wal_seq"] == seq
        assert await _texts(g) == ["before the fault"]  # the worker did not apply it either
        await g.request("memory_add", {"text": "after the fault"})
        assert g.health()["wal_seq"] == seq + 1  # the refused record's seq was not used
        old = g.worker_pid
        assert old is not None
        os.kill(old, signal.SIGKILL)  # restore from the WAL: the refused write must not reappear
        assert await _texts(g) == ["after the fault", "before the fault"]
        assert g.worker_pid != old

    _run(scenario, config)
    assert _texts_after_restart(_config(tmp_path, checkpoint_on_stop=False)) == ["after the fault", "before the fault"]


def test_fsync_failing_until_cleared_refuses_writes_and_reports_degraded(tmp_path: Path) -> None:
    faults = Faults()
    config = _config(tmp_path, wal_fsync=faults.fsync, wal_write=faults.write)

    async def scenario(g: Guardian) -> None:
        ids = await g.request("memory_add", {"text": "kept"})
        faults.fsync_broken = True
        for attempt in range(3):
            with pytest.raises(RequestFailed) as failed:
                await g.request("memory_add", {"text": f"refused {attempt}"})
            assert failed.value.code == "not_durable"
            health = g.health()
            assert health["status"] == "degraded", health  # the reopen re-fsyncs, and fails too
            assert "injected: fsync failed" in (health["wal_error"] or "")
            assert health["worker_pid"] == g.worker_pid is not None  # the guardian and worker stay up
        # Reads are still served while the WAL is unavailable; anything that mutates is refused
        # (a message too: the conversation is agent state).
        assert (await g.request("memory_get", {"id": ids[0]}))["text"] == "kept"
        assert (await g.request("memory_search", {"q": "kept", "k": 1}))[0]["id"] == ids[0]
        with pytest.raises(RequestFailed) as message:
            await g.request("message", {"text": "hi"})
        assert message.value.code == "not_durable"
        assert g.metrics.restarts == 0
        faults.fsync_broken = False  # the disk is back: the next write reopens the log
        await g.request("memory_add", {"text": "after recovery"})
        health = g.health()
        assert health["status"] == "ok" and health["wal_error"] is None
        assert await _texts(g) == ["after recovery", "kept"]

    _run(scenario, config)
    assert _texts_after_restart(_config(tmp_path, checkpoint_on_stop=False)) == ["after recovery", "kept"]


def test_checkpoint_fsync_failure_keeps_the_wal_and_blocks_the_code_change(tmp_path: Path) -> None:
    """A vault whose fsync fails: no checkpoint is acknowledged, the WAL is not compacted,
    and a risky operation that needs a checkpoint first (a hot reload) does not happen."""
    from o_lisp.agent._dsl import read_agent
    from o_lisp.agent._repo import CodeRepository
    from o_lisp.guardian._supervisor import GuardianError

    faults = Faults()
    config = _config(tmp_path, checkpoint_on_stop=False, vault_fsync=faults.fsync)

    async def scenario(g: Guardian) -> None:
        for i in range(3):
            await g.request("memory_add", {"text": f"kept {i}"})
        checkpoints, last = g.metrics.checkpoints, g.health()["last_checkpoint"]
        faults.fsync_broken = True
        with pytest.raises(GuardianError, match=r"checkpoint not stored: .*injected: fsync failed"):
            await g.checkpoint("test")
        assert (g.metrics.checkpoints, g.health()["last_checkpoint"]) == (checkpoints, last)
        repo = CodeRepository.open(tmp_path / "data" / "code")
        source = AGENT.replace('(+ "echo: " text)', '(+ "reloaded: " text)')
        respond = next(d for d in read_agent(source, "reloaded.hy").definitions if d.name == "respond")
        commit = repo.commit_definition(respond, "Answer differently")
        with pytest.raises(RequestFailed) as refused:
            await g.hot_reload(commit)
        assert refused.value.code == "reload_failed" and "no checkpoint before reload" in refused.value.message
        assert await g.request("message", {"text": "hi"}) == "echo: hi"  # the old code still serves
        await g.request("memory_add", {"text": "kept 3"})  # the WAL still takes writes
        assert faults.injected >= 2

    _run(scenario, config)
    # Recovered from the older checkpoint plus the WAL: the failed checkpoints compacted nothing.
    healthy = _config(tmp_path, checkpoint_on_stop=False)
    assert [t for t in _texts_after_restart(healthy) if t.startswith("kept")] == ["kept 0", "kept 1", "kept 2", "kept 3"]

    async def healed(g: Guardian) -> None:  # with a working disk the same guardian checkpoints again
        assert (await g.checkpoint("test"))["wal_seq"] == g.health()["wal_seq"]

    _run(healed, healthy)


def test_corrupt_newest_checkpoint_falls_back_to_the_previous_one_plus_the_wal(tmp_path: Path) -> None:
    # Small segments and keep=2, so compaction really deletes WAL the newest checkpoint
    # covers, but never what the previous (fallback) checkpoint still needs.
    config = _config(tmp_path, wal_segment_bytes=2048, keep_checkpoints=2, checkpoint_on_stop=False)
    written: list[str] = []
    infos: list[dict[str, Any]] = []

    async def scenario(g: Guardian) -> None:
        for phase in range(3):
            for i in range(6):
                text = f"phase {phase} note {i}"
                await g.request("memory_add", {"text": text})
                written.append(text)
            if phase < 2:
                infos.append(await g.checkpoint(f"phase {phase}"))

    _run(scenario, config)
    previous, newest = infos
    vault = Vault(config.data_dir / "checkpoints", readonly=True)
    assert [info.checkpoint_id for info in vault.list()] == [previous["id"], newest["id"]]  # retention kept 2
    segments = _wal_segments(config)
    assert len(segments) > 1
    first_seq = int(segments[0].name[4:24])
    assert 1 < first_seq <= previous["wal_seq"] + 1  # compacted, but only up to the fallback's seq
    path = vault.path_for(newest["id"])
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # a flipped byte in the body: the SHA-256 check fails
    path.write_bytes(bytes(data))

    async def recovered(g: Guardian) -> None:
        last = g.health()["last_checkpoint"]
        assert last is not None and last["id"] == previous["id"]
        assert await _texts(g) == sorted(written)  # no acknowledged write lost
        await g.request("memory_add", {"text": "after the fallback"})

    _run(recovered, _config(tmp_path, wal_segment_bytes=2048, keep_checkpoints=2, checkpoint_on_stop=False))
    assert _texts_after_restart(config) == sorted([*written, "after the fallback"])


def _last_record(segment: Path) -> tuple[int, int]:
    """(offset, size) of the last record in a WAL segment (walking the record headers)."""
    data = segment.read_bytes()
    offset, last = SEGMENT_HEADER_SIZE, None
    empty_header = bytes(RECORD_HEADER_SIZE)
    while offset + RECORD_HEADER_SIZE <= len(data) and data[offset : offset + RECORD_HEADER_SIZE] != empty_header:
        (length,) = struct.unpack_from(">I", data, offset + 2)
        last = (offset, RECORD_HEADER_SIZE + length)
        offset += RECORD_HEADER_SIZE + length
    assert last is not None and not any(data[offset:])  # segments are preallocated with zeros
    return last


@pytest.mark.parametrize("cut", ["header", "middle", "last_byte"])
def test_torn_wal_tail_is_cut_on_restart(tmp_path: Path, cut: str) -> None:
    config = _config(tmp_path, checkpoint_on_stop=False)

    async def scenario(g: Guardian) -> None:
        for text in ("first", "second", "torn"):
            await g.request("memory_add", {"text": text})

    _run(scenario, config)
    segment = _wal_segments(config)[-1]
    offset, size = _last_record(segment)
    assert b"torn" in segment.read_bytes()[offset:offset + size]  # the last record is the last write
    keep = {"header": 7, "middle": size // 2, "last_byte": size - 1}[cut]
    os.truncate(segment, offset + keep)  # as if the machine died while writing it (never acked)

    async def recovered(g: Guardian) -> None:
        assert await _texts(g) == ["first", "second"]
        await g.request("memory_add", {"text": "after the tear"})

    _run(recovered, config)
    assert _texts_after_restart(config) == ["after the tear", "first", "second"]
    with WriteAheadLog(config.data_dir / "wal") as wal:
        assert wal.recovery.torn_tail is None  # the cut was made durable on the first reopen


# ---------------------------------------------------------------------------------------
# Protocol fuzz against the running guardian
# ---------------------------------------------------------------------------------------

GARBAGE: list[tuple[str, bytes, bool, str]] = [
    # (case, raw bytes the worker writes on its frame pipe, exit right after, expected rejection)
    ("zero length", b"\x00\x00\x00\x00", False, "zero-length frame"),
    ("oversized length (2^32-1)", b"\xff\xff\xff\xff", False, "exceeds max_frame"),
    ("one byte over max_frame", struct.pack(">I", DEFAULT_MAX_FRAME + 1) + b"\x80" * 1024, False, "exceeds max_frame"),
    ("truncated frame", b"\x00\x00\x00\x64" + b"\x81" * 10, True, "truncated frame"),
    ("invalid msgpack", b"\x00\x00\x00\x01\xc1", False, "invalid msgpack"),
    ("map claiming 2^32-1 entries", b"\x00\x00\x00\x05\xdf\xff\xff\xff\xff", False, "claims more data"),
    ("array claiming 2^32-1 items", b"\x00\x00\x00\x05\xdd\xff\xff\xff\xff", False, "claims more data"),
    ("not a map", b"\x00\x00\x00\x01\x2a", False, "must be a map"),
    ("guardian-only message", encode_frame(Restore(id=7, checkpoint=None)), False, "may not send 'restore'"),
]


def test_garbage_frames_from_a_worker_restart_it_and_the_guardian_stays_up(tmp_path: Path) -> None:
    async def scenario(g: Guardian) -> None:
        ids = await g.request("memory_add", {"text": "survives every bad frame"})
        assert await g.request("message", {"text": "count"}) == "1"
        tracemalloc.start()
        try:
            for restarts, (case, raw, exit_after, expected) in enumerate(GARBAGE, start=1):
                old = g.worker_pid
                with pytest.raises(RequestFailed) as failed:
                    await g.request("debug_raw", {"hex": raw.hex(), "exit": exit_after, "seconds": 30.0})
                assert failed.value.code == ErrorCode.WORKER_DIED, case
                assert await _retry(g, "memory_get", {"id": ids[0]}) is not None, case
                assert g.metrics.restarts == restarts and g.worker_pid != old, case
                failure = g.last_failure or ""
                assert "protocol error" in failure and expected in failure, (case, failure)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        # Claimed sizes of up to 4 GiB were refused from the header or the structure alone.
        assert peak < 16 * 1024 * 1024, peak
        assert g.metrics.hangs == 0
        assert await g.request("message", {"text": "count"}) == "2"  # state intact, serving
        assert (await g.request("memory_get", {"id": ids[0]}))["text"] == "survives every bad frame"
        assert g.health()["status"] == "ok"

    _run(scenario, _config(tmp_path, max_restarts=100), limit=50)


# ---------------------------------------------------------------------------------------
# Checkpoints before risky operations
# ---------------------------------------------------------------------------------------


def test_self_modification_is_preceded_by_a_durable_checkpoint(tmp_path: Path) -> None:
    """Under the guardian an agent's `rewrite!` goes through a protected evolution cycle;
    the promotion that finally swaps the code is preceded by a durable checkpoint."""
    from o_lisp.guardian._evolution import EvolutionConfig

    # No checkpoint by WAL size: on a slow machine the live traffic below can pass 10 000 records.
    config = _config(tmp_path, checkpoint_on_stop=False, checkpoint_wal_records=10**9,
                     evolution=EvolutionConfig(mirror_share=1.0, shadow_min_seconds=0.1, fitness_rounds=0,
                                               intent_canary=False))
    before: dict[str, Any] = {}

    async def scenario(g: Guardian) -> None:
        await g.request("memory_add", {"text": "written before the rewrite"})
        assert await g.request("message", {"text": "count"}) == "1"
        before["seq"] = g.health()["wal_seq"]
        before["checkpoints"] = g.metrics.checkpoints
        reply = await g.request("message", {"text": "feedback: Good morning!"})
        assert reply == "trying: Good morning!"  # proposed: the guardian decides
        await _wait_for(lambda: bool(g.evolution.list()))
        cycle_id = g.evolution.list()[0]["id"]
        while g.evolution.get(cycle_id)["finished"] is None:  # live traffic for the shadow test
            assert await g.request("message", {"text": "hello"}) in ("hello.", "Good morning!")
        cycle = g.evolution.get(cycle_id)
        assert cycle["status"] == "promoted" and cycle["origin"] == "agent", cycle["events"]
        # Two checkpoints: the cycle's own (shadows start from it) and the one right
        # before the promotion swapped the code (the risky one).
        assert g.metrics.checkpoints == before["checkpoints"] + 2
        last = g.health()["last_checkpoint"]
        assert last is not None and last["wal_seq"] >= before["seq"]
        before["checkpoint"] = last
        assert await g.request("message", {"text": "hello"}) == "Good morning!"  # the new code runs
        versions = await g.request("versions", {})
        # One commit: the promoted code with its version (and tag).
        assert versions[0]["version"] == "0.1.1" and "feedback: greet with" in versions[0]["summary"]
        assert versions[1]["version"] == "0.1.0"
        before["commit"] = versions[0]["commit"]

    _run(scenario, config)
    checkpoint = before["checkpoint"]
    vault = Vault(config.data_dir / "checkpoints", readonly=True)
    info, state = vault.read(checkpoint["id"])
    assert info.wal_seq == checkpoint["wal_seq"]
    # The checkpoint is the state just before the swap: it has every earlier mutation...
    assert state["version"] == "0.1.0" and state["rewrites"] == []
    assert "written before the rewrite" in repr(state["memories"])
    # ...and the rewrite itself is the WAL's business, after the seq the checkpoint covers.
    with WriteAheadLog(config.data_dir / "wal") as wal:
        records = list(wal.replay(0))
    rewrites = [seq for seq, op, _ in records if op == "record_rewrite"]
    assert len(rewrites) == 1 and rewrites[0] > info.wal_seq
    assert all(op != "record_rewrite" for seq, op, _ in records if seq <= info.wal_seq)
    # The commit is in the agent's history (`o-lisp history`).
    from o_lisp.cli import main

    result = CliRunner().invoke(main, ["history", "tester", "--data", str(config.data_dir)])
    assert result.exit_code == 0, result.output
    assert before["commit"][:7] in result.output and "feedback: greet with" in result.output

    # After a restart the rewritten code and the state are both back.
    async def again(g: Guardian) -> None:
        assert await g.request("message", {"text": "hello"}) == "Good morning!"
        assert await g.request("message", {"text": "count"}) == "2"

    _run(again, config)


def test_hot_reload_is_preceded_by_a_durable_checkpoint(tmp_path: Path) -> None:
    from o_lisp.agent._dsl import read_agent
    from o_lisp.agent._repo import CodeRepository

    async def scenario(g: Guardian) -> None:
        await g.request("memory_add", {"text": "before the reload"})
        seq = g.health()["wal_seq"]
        checkpoints = g.metrics.checkpoints
        repo = CodeRepository.open(tmp_path / "data" / "code")
        source = AGENT.replace('(+ "echo: " text)', '(+ "reloaded: " text)')
        respond = next(d for d in read_agent(source, "reloaded.hy").definitions if d.name == "respond")
        commit = repo.commit_definition(respond, "Answer differently")
        version = await g.hot_reload(commit)
        assert version.endswith(commit) and g.health()["commit"] == commit
        assert g.metrics.checkpoints == checkpoints + 1
        last = g.health()["last_checkpoint"]
        assert last is not None and last["wal_seq"] == seq
        assert await g.request("message", {"text": "hi"}) == "reloaded: hi"
        with pytest.raises(RequestFailed) as refused:  # not HEAD: refused, nothing checkpointed
            await g.hot_reload("0" * 40)
        assert refused.value.code == "reload_failed" and g.metrics.checkpoints == checkpoints + 1

    _run(scenario, _config(tmp_path))
