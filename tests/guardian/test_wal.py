"""The write-ahead log: durability before acknowledgement, torn tails, corruption, faults, kill -9."""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from o_lisp._errors import OLispError
from o_lisp.agent._state import AgentState
from o_lisp.guardian._wal import (
    DEFAULT_SEGMENT_BYTES,
    RECORD_HEADER_SIZE,
    SEGMENT_HEADER_SIZE,
    WalCorruption,
    WalError,
    WriteAheadLog,
    encode_record,
    encode_segment_header,
    segment_name,
    verify,
)


def no_fsync(fd: int) -> None:
    """For tests about format, not durability: keeps them fast."""


def open_wal(path: Path, **kwargs: Any) -> WriteAheadLog:
    kwargs.setdefault("fsync", no_fsync)
    return WriteAheadLog(path, **kwargs)


def records(wal: WriteAheadLog, after: int = 0) -> list[tuple[int, str, dict[str, Any]]]:
    return list(wal.replay(after))


def record_offsets(segment: Path) -> list[tuple[int, int]]:
    """(start, end) of every record in a well-formed segment (up to its zero-filled rest)."""
    data = segment.read_bytes()
    spans, off = [], SEGMENT_HEADER_SIZE
    while data[off : off + 2] == b"OR":
        length = int.from_bytes(data[off + 2 : off + 6], "big")
        spans.append((off, off + RECORD_HEADER_SIZE + length))
        off += RECORD_HEADER_SIZE + length
    return spans


@pytest.fixture
def wal_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "wal"


def fill(path: Path, n: int, **kwargs: Any) -> list[dict[str, Any]]:
    payloads = [{"i": i, "text": "x" * (i * 7 % 40)} for i in range(n)]
    with open_wal(path, **kwargs) as wal:
        for i, args in enumerate(payloads):
            assert wal.append("put", args) == i + 1
    return payloads


# -- round trips ---------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.binary(max_size=30),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=15,
)
mutations = st.lists(
    st.tuples(st.text(min_size=1, max_size=12), st.dictionaries(st.text(max_size=8), values, max_size=5)),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations, st.integers(min_value=64, max_value=600), st.booleans())
def test_append_replay_round_trip(items: list[tuple[str, dict[str, Any]]], segment_bytes: int, batch: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with open_wal(Path(tmp), segment_bytes=segment_bytes) as wal:
            if batch:
                seqs = wal.append_many(items)
            else:
                seqs = [wal.append(op, args) for op, args in items]
            assert seqs == list(range(1, len(items) + 1))
            assert wal.last_seq == len(items)
            expected = [(seq, op, args) for seq, (op, args) in zip(seqs, items, strict=True)]
            assert records(wal) == expected
        with open_wal(Path(tmp)) as wal:  # and back from disk
            assert wal.recovery.torn_tail is None
            assert records(wal) == expected
            assert records(wal, len(items) // 2) == expected[len(items) // 2 :]


def test_initial_seq_and_seq_check(wal_dir: Path) -> None:
    with open_wal(wal_dir, initial_seq=1001) as wal:
        assert wal.last_seq == 1000
        assert wal.append("a", {}, seq=1001) == 1001
        with pytest.raises(WalError, match="out of order"):
            wal.append("b", {}, seq=1001)
        assert wal.append("b", {}) == 1002
        assert (wal_dir / segment_name(1001)).exists()
    with open_wal(wal_dir, initial_seq=5) as wal:  # initial_seq only matters for an empty log
        assert wal.last_seq == 1002 and wal.first_seq == 1001


def test_bad_mutations_write_nothing(wal_dir: Path) -> None:
    with open_wal(wal_dir, max_record_bytes=1000) as wal:
        wal.append("ok", {})
        size = wal.total_bytes
        for op, args in [("x", {"f": object()}), ("x", {"n": 2**64}), ("x", {"s": "y" * 2000}), (3, {}), ("x", [1])]:
            with pytest.raises(WalError):
                wal.append(op, args)  # type: ignore[arg-type]
        assert wal.total_bytes == size
        assert wal.append("ok", {}) == 2
    assert issubclass(WalError, OLispError) and issubclass(WalCorruption, WalError)


def test_one_writer_per_directory(wal_dir: Path) -> None:
    with open_wal(wal_dir):
        with pytest.raises(WalError, match="in use"):
            open_wal(wal_dir)
    open_wal(wal_dir).close()
    wal = open_wal(wal_dir)
    wal.close()
    with pytest.raises(WalError, match="closed"):
        wal.append("x", {})


def test_agent_state_writes_ahead(wal_dir: Path) -> None:
    """The WAL hooks in as a mutation listener; replaying it rebuilds the state exactly."""
    state = AgentState("a1", "demo", "0.1.0")
    with open_wal(wal_dir) as wal:

        def write_ahead(seq: int, op: str, args: dict[str, Any]) -> None:
            wal.append(op, args, seq=seq)

        state.on_mutation(write_ahead)
        state.apply("append_message", {"role": "user", "text": "hi", "time": 1.5})
        state.apply("context_set", {"key": "mood", "value": {"level": 3}})
        state.apply("append_message", {"role": "agent", "text": "hello", "time": 2.0})
        assert wal.last_seq == state.seq == 3
    rebuilt = AgentState("a1", "demo", "0.1.0")
    with open_wal(wal_dir) as wal:
        for seq, op, args in wal.replay(0):
            rebuilt.apply(op, args)
            assert rebuilt.seq == seq
    assert rebuilt.to_data() == state.to_data()


# -- durability and group commit ------------------------------------------------------------


def test_append_is_not_acknowledged_before_fsync(wal_dir: Path) -> None:
    release = threading.Event()
    entered = threading.Event()
    gate = {"on": False}

    def slow_fsync(fd: int) -> None:
        if gate["on"]:
            entered.set()
            assert release.wait(10)
        os.fsync(fd)

    with WriteAheadLog(wal_dir, fsync=slow_fsync) as wal:
        gate["on"] = True
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(wal.append("x", {"n": 1})))
        thread.start()
        assert entered.wait(10)
        time.sleep(0.05)
        assert thread.is_alive() and result == [] and wal.last_seq == 0
        release.set()
        thread.join(10)
        assert result == [1] and wal.last_seq == 1


def test_group_commit_shares_fsyncs(wal_dir: Path) -> None:
    calls = {"n": 0}

    def counting_fsync(fd: int) -> None:
        calls["n"] += 1
        time.sleep(0.02)  # a slow disk, so that appends queue up even on a loaded machine
        os.fsync(fd)

    threads, per_thread = 8, 20
    acked: dict[int, tuple[int, int]] = {}
    lock = threading.Lock()
    with WriteAheadLog(wal_dir, fsync=counting_fsync, segment_bytes=2048) as wal:
        start_fsyncs = calls["n"]
        barrier = threading.Barrier(threads)

        def worker(t: int) -> None:
            barrier.wait()
            for i in range(per_thread):
                seq = wal.append("put", {"t": t, "i": i})
                with lock:
                    acked[seq] = (t, i)

        pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(30)
        fsyncs = calls["n"] - start_fsyncs
        total = threads * per_thread
        assert sorted(acked) == list(range(1, total + 1))
        assert len(wal.segments) > 1  # rotation happened under concurrency too
        # 160 appends; a leader covers every record written while the previous fsync ran
        assert fsyncs <= total / 3, f"{fsyncs} fsyncs for {total} appends"
        replayed = {seq: (args["t"], args["i"]) for seq, _op, args in wal.replay(0)}
    assert replayed == acked


def test_appends_fdatasync_preallocated_segments(wal_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default appends use fdatasync (no size change to flush); everything else a full fsync."""
    calls: list[str] = []
    real_fsync, real_fdatasync = os.fsync, os.fdatasync

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def fdatasync(fd: int) -> None:
        calls.append("fdatasync")
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    with WriteAheadLog(wal_dir, segment_bytes=150) as wal:
        assert calls and set(calls) == {"fsync"}  # segment creation, directories
        assert wal.segments[0].stat().st_size == 150
        del calls[:]
        wal.append("x", {"i": 0})
        assert calls == ["fdatasync"]
        for i in range(1, 6):  # rotations create (and fsync) new preallocated segments
            wal.append("x", {"i": i, "pad": "p" * 40})
        assert calls.count("fdatasync") >= 6 and "fsync" in calls and len(wal.segments) > 1
        assert all(p.stat().st_size == 150 for p in wal.segments)
    with open_wal(wal_dir) as wal:
        assert [args["i"] for _, _, args in wal.replay(0)] == list(range(6))


def test_single_writer_fsyncs_every_append(wal_dir: Path) -> None:
    calls = {"n": 0}

    def counting_fsync(fd: int) -> None:
        calls["n"] += 1

    with WriteAheadLog(wal_dir, fsync=counting_fsync) as wal:
        before = calls["n"]
        for i in range(5):
            wal.append("x", {"i": i})
            assert calls["n"] == before + i + 1


# -- torn tails and corruption ----------------------------------------------------------------


@pytest.mark.parametrize("crash", ["zero-filled", "short file"])
def test_truncated_at_every_byte_of_the_final_record(tmp_path: Path, crash: str) -> None:
    """A crash mid-append leaves a prefix of the record followed by the preallocated zeros
    (or, for a segment that could not be preallocated, a file that simply ends early)."""
    source = tmp_path / "source"
    fill(source, 9, segment_bytes=200)
    last = sorted(source.glob("wal-*.log"))[-1]
    assert len(list(source.glob("wal-*.log"))) >= 3
    data = last.read_bytes()
    start, end = record_offsets(last)[-1]
    assert len(data) == 200 and data[end:] == bytes(len(data) - end)  # preallocated, zero-filled
    for cut in range(start, end):
        case = tmp_path / f"cut{cut}"
        shutil.copytree(source, case)
        image = data[:cut] + bytes(len(data) - cut) if crash == "zero-filled" else data[:cut]
        (case / last.name).write_bytes(image)
        with open_wal(case, segment_bytes=200) as wal:
            # trailing zeros of the torn prefix are indistinguishable from unwritten space
            assert wal.recovery.truncated_bytes == len(data[start:cut].rstrip(b"\0"))
            assert (wal.recovery.torn_tail is None) == (cut == start)
            assert wal.last_seq == 8
            assert [seq for seq, _, _ in wal.replay(0)] == list(range(1, 9))
            after = (case / last.name).read_bytes()
            assert after == data[:start] + bytes(200 - start)  # cut, and preallocated again
            assert wal.append("after", {"cut": cut}) == 9
        with open_wal(case) as wal:
            assert wal.recovery.torn_tail is None
            assert records(wal, 8) == [(9, "after", {"cut": cut})]
        shutil.rmtree(case)


def test_zero_filled_rest_is_the_end_of_the_log(wal_dir: Path) -> None:
    """Segments are preallocated: the zeros after the last record are unwritten space, not a torn tail."""
    fill(wal_dir, 4)
    (segment,) = wal_dir.glob("wal-*.log")
    end = record_offsets(segment)[-1][1]
    data = segment.read_bytes()
    assert len(data) == DEFAULT_SEGMENT_BYTES and data[end:] == bytes(len(data) - end)
    for size in (DEFAULT_SEGMENT_BYTES, end + 300, end + 1):  # also a short or a non-preallocated zero tail
        os.truncate(segment, end)
        os.truncate(segment, size)
        report = verify(wal_dir)
        assert report.ok and not any("torn" in line for line in report.lines), report.lines
        assert f"{end} bytes" in report.lines[1]
        with open_wal(wal_dir) as wal:
            assert wal.recovery.torn_tail is None and wal.recovery.truncated_bytes == 0
            assert wal.last_seq == 4 and wal.total_bytes == end
        assert segment.stat().st_size == DEFAULT_SEGMENT_BYTES  # preallocated again on opening


@pytest.mark.parametrize("beyond_zeros", [False, True])
@pytest.mark.parametrize("tail", [b"OR\x00\x00\x00\x05", bytes(range(1, 120)), b"\x07" + bytes(50) + b"\x01"])
def test_garbage_tail_without_valid_records_is_torn(wal_dir: Path, tail: bytes, beyond_zeros: bool) -> None:
    """A prefix of a lost write (over the preallocated zeros, or past them): cut and reported."""
    fill(wal_dir, 4)
    segment = sorted(wal_dir.glob("wal-*.log"))[-1]
    clean = record_offsets(segment)[-1][1]
    at = DEFAULT_SEGMENT_BYTES if beyond_zeros else clean
    with segment.open("r+b") as f:
        f.seek(at)
        f.write(tail)
    report = verify(wal_dir)
    assert report.status == 0 and any("torn tail" in line for line in report.lines)
    with open_wal(wal_dir) as wal:
        assert wal.recovery.truncated_bytes == at + len(tail) - clean
        assert wal.recovery.torn_tail is not None and f"offset {clean}" in wal.recovery.torn_tail
        assert wal.last_seq == 4
    assert segment.read_bytes() == segment.read_bytes()[:clean] + bytes(DEFAULT_SEGMENT_BYTES - clean)


def test_zeroed_record_followed_by_valid_ones_is_corruption(wal_dir: Path) -> None:
    """Zeros are the end of the log only when nothing but zeros follows."""
    fill(wal_dir, 5)
    (segment,) = wal_dir.glob("wal-*.log")
    start, end = record_offsets(segment)[2]
    with segment.open("r+b") as f:
        f.seek(start)
        f.write(bytes(end - start))
    with pytest.raises(WalCorruption, match=r"valid record \(seq 4\)") as info:
        open_wal(wal_dir)
    assert info.value.path == segment and info.value.offset == start
    assert verify(wal_dir).status == 1


def test_flipped_byte_in_a_middle_record_is_corruption(tmp_path: Path) -> None:
    source = tmp_path / "source"
    fill(source, 5)
    (segment,) = source.glob("wal-*.log")
    data = segment.read_bytes()
    start, end = record_offsets(segment)[2]
    for pos in range(start, end):
        corrupt = bytearray(data)
        corrupt[pos] ^= 0xFF
        segment.write_bytes(bytes(corrupt))
        with pytest.raises(WalCorruption) as info:
            open_wal(source)
        assert info.value.path == segment and info.value.offset == start, (pos, str(info.value))
        assert f"{segment}:{start}:" in str(info.value)
        assert verify(source).status == 1
    segment.write_bytes(data)
    assert len(records(open_wal(source))) == 5


def test_valid_record_then_garbage_then_valid_records(wal_dir: Path) -> None:
    fill(wal_dir, 4)
    (segment,) = wal_dir.glob("wal-*.log")
    spans = record_offsets(segment)
    data = segment.read_bytes()
    garbage_at = spans[1][1]
    segment.write_bytes(data[:garbage_at] + b"\x00garbage!" + data[garbage_at:])
    with pytest.raises(WalCorruption) as info:
        open_wal(wal_dir)
    assert info.value.offset == garbage_at and "valid record (seq 3)" in str(info.value)


def test_damage_in_an_older_segment_is_corruption_even_at_its_end(tmp_path: Path) -> None:
    fill(tmp_path, 12, segment_bytes=200)
    first = sorted(tmp_path.glob("wal-*.log"))[0]
    data = first.read_bytes()
    end = record_offsets(first)[-1][1]
    for cut in (end - 1, end - 10):  # torn tail in a segment that is not the last
        for image in (data[:cut], data[:cut] + bytes(len(data) - cut)):  # short or zero-filled
            first.write_bytes(image)
            with pytest.raises(WalCorruption, match="not the last one") as info:
                open_wal(tmp_path)
            assert info.value.path == first
    first.write_bytes(data)
    for pos, what in [(0, "bad magic"), (6, "checksum"), (5, "checksum")]:
        corrupt = bytearray(data)
        corrupt[pos] ^= 0x01
        first.write_bytes(bytes(corrupt))
        with pytest.raises(WalCorruption, match=what) as info:
            open_wal(tmp_path)
        assert info.value.offset == 0
    first.write_bytes(data)
    open_wal(tmp_path).close()


def test_missing_segment_is_corruption(wal_dir: Path) -> None:
    fill(wal_dir, 15, segment_bytes=200)
    segments = sorted(wal_dir.glob("wal-*.log"))
    assert len(segments) >= 3
    segments[1].unlink()
    with pytest.raises(WalCorruption, match="a segment is missing") as info:
        open_wal(wal_dir)
    assert info.value.path == segments[2] and info.value.offset == 0
    report = verify(wal_dir)
    assert report.status == 1 and segments[2].name in report.lines[-1]


@pytest.mark.parametrize("seqs", [[1, 2, 2], [1, 2, 4, 5], [1, 3], [2]])
def test_sequence_numbers_must_follow_on(wal_dir: Path, seqs: list[int]) -> None:
    wal_dir.mkdir()
    body = encode_segment_header(1)
    offsets = []
    for seq in seqs:
        offsets.append(len(body))
        body += encode_record(seq, b"\x82\xa2op\xa1x\xa4args\x80")
    (wal_dir / segment_name(1)).write_bytes(body)
    bad = next(i for i, seq in enumerate(seqs) if seq != i + 1)
    with pytest.raises(WalCorruption, match=f"seq {seqs[bad]}, expected {bad + 1}") as info:
        open_wal(wal_dir)
    assert info.value.offset == offsets[bad]


def test_header_and_name_must_agree(wal_dir: Path) -> None:
    wal_dir.mkdir()
    (wal_dir / segment_name(7)).write_bytes(encode_segment_header(1))
    with pytest.raises(WalCorruption, match="file name says 7"):
        open_wal(wal_dir)


def test_unfinished_segment_creation_is_removed(wal_dir: Path) -> None:
    fill(wal_dir, 3)
    (wal_dir / (segment_name(4) + ".tmp")).write_bytes(b"O_W")
    assert any("unfinished" in line for line in verify(wal_dir).lines)
    with open_wal(wal_dir) as wal:
        assert wal.recovery.removed_temp_files == (segment_name(4) + ".tmp",)
        assert wal.append("x", {}) == 4
    assert not list(wal_dir.glob("*.tmp"))


# -- segments and compaction --------------------------------------------------------------------


def test_rotation_and_compaction(wal_dir: Path) -> None:
    with open_wal(wal_dir, segment_bytes=256) as wal:
        for i in range(40):
            wal.append("put", {"i": i, "pad": "p" * 20})
        paths = wal.segments
        firsts = [int(p.name[4:24]) for p in paths]
        assert len(paths) > 4 and firsts[0] == 1 and firsts == sorted(firsts)
        for path in paths[:-1]:
            assert path.stat().st_size <= 256
        assert wal.compact(firsts[2] - 2) == paths[:1]  # segment 1 is covered, segment 2 is not quite
        assert wal.compact(firsts[2] - 1) == paths[1:2]
        assert wal.first_seq == firsts[2]
        with pytest.raises(WalError, match="compacted away"):
            wal.replay(firsts[2] - 2)
        assert [seq for seq, _, _ in wal.replay(firsts[2] - 1)] == list(range(firsts[2], 41))
        assert [seq for seq, _, _ in wal.replay(30)] == list(range(31, 41))
        with pytest.raises(WalError, match="durable only up to 40"):
            wal.compact(41)
        assert wal.compact(40) == paths[2:-1]  # never the active segment
        assert wal.segments == paths[-1:]
        assert wal.append("put", {"i": 40}) == 41
    with open_wal(wal_dir) as wal:
        assert wal.first_seq == firsts[-1] and wal.last_seq == 41
    report = verify(wal_dir)
    assert report.status == 0 and report.lines[-1] == f"OK: {42 - firsts[-1]} record(s), seq {firsts[-1]}..41"


def test_verify_statuses(tmp_path: Path) -> None:
    assert verify(tmp_path / "nope").status == 1
    assert verify(tmp_path).status == 1  # no segments
    fill(tmp_path / "data" / "wal", 3)
    report = verify(tmp_path / "data")  # a data directory holding wal/
    assert report.ok and report.lines[-1] == "OK: 3 record(s), seq 1..3"


def test_undecodable_payload_is_reported(wal_dir: Path) -> None:
    wal_dir.mkdir()
    (wal_dir / segment_name(1)).write_bytes(encode_segment_header(1) + encode_record(1, b"\xc1"))
    report = verify(wal_dir)
    assert report.status == 1 and "not valid msgpack" in report.lines[-1]
    with open_wal(wal_dir) as wal, pytest.raises(WalCorruption, match="msgpack"):
        records(wal)


# -- faults ---------------------------------------------------------------------------------


class FaultyDisk:
    """fsync and pwrite that fail on demand, like a dying or full disk."""

    def __init__(self) -> None:
        self.fail_fsync = False
        self.fail_write: int | None = None  # errno to raise
        self.partial = False  # write half the bytes before failing
        self.fail_header = False  # fail only writes at offset 0: creating a segment

    def fsync(self, fd: int) -> None:
        if self.fail_fsync:
            raise OSError(errno.EIO, "simulated fsync failure")
        os.fsync(fd)

    def write(self, fd: int, data: bytes, offset: int) -> int:
        if self.fail_header and offset == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if self.fail_write is not None:
            if self.partial and len(data) > 1:
                os.pwrite(fd, data[: len(data) // 2], offset)
                self.partial = False
                return len(data) // 2
            raise OSError(self.fail_write, os.strerror(self.fail_write))
        return os.pwrite(fd, data, offset)


def faulty_wal(path: Path, disk: FaultyDisk, **kwargs: Any) -> WriteAheadLog:
    return WriteAheadLog(path, fsync=disk.fsync, write=disk.write, **kwargs)


def test_fsync_failure_poisons_until_reopened(wal_dir: Path) -> None:
    disk = FaultyDisk()
    wal = faulty_wal(wal_dir, disk)
    wal.append("ok", {"n": 1})
    wal.append("ok", {"n": 2})
    size = wal.total_bytes
    disk.fail_fsync = True
    with pytest.raises(WalError, match="fsync failed"):
        wal.append("lost", {"n": 3})
    assert wal.poisoned and wal.last_seq == 2 and wal.total_bytes == size
    disk.fail_fsync = False  # a later fsync "succeeding" proves nothing: stay poisoned
    with pytest.raises(WalError, match="reopen"):
        wal.append("refused", {"n": 4})
    wal.close()
    assert wal_dir.joinpath(segment_name(1)).stat().st_size == size  # cut back to the last good fsync
    with faulty_wal(wal_dir, disk) as wal:
        assert [args["n"] for _, _, args in wal.replay(0)] == [1, 2]
        assert wal.recovery.torn_tail is None
        assert wal.segments[-1].stat().st_size == DEFAULT_SEGMENT_BYTES  # preallocated again
        assert wal.append("ok", {"n": 3}) == 3


def test_fsync_failure_fails_every_waiting_append(wal_dir: Path) -> None:
    entered = threading.Event()
    release = threading.Event()
    state = {"mode": "ok"}

    def fsync(fd: int) -> None:
        if state["mode"] == "block":
            entered.set()
            assert release.wait(10)
            raise OSError(errno.EIO, "simulated")
        os.fsync(fd)

    wal = WriteAheadLog(wal_dir, fsync=fsync)
    for i in range(3):
        wal.append("ok", {"i": i})
    state["mode"] = "block"
    outcomes: dict[int, str] = {}

    def worker(i: int) -> None:
        try:
            wal.append("pending", {"i": i})
            outcomes[i] = "acked"
        except WalError:
            outcomes[i] = "failed"

    leader = threading.Thread(target=worker, args=(100,))
    leader.start()
    assert entered.wait(10)
    followers = [threading.Thread(target=worker, args=(i,)) for i in range(5)]
    for thread in followers:
        thread.start()
    time.sleep(0.1)  # followers write their records and wait behind the leader
    release.set()
    for thread in [leader, *followers]:
        thread.join(10)
    assert set(outcomes.values()) == {"failed"} and len(outcomes) == 6
    wal.close()
    with WriteAheadLog(wal_dir) as wal:
        assert [(seq, op) for seq, op, _ in wal.replay(0)] == [(1, "ok"), (2, "ok"), (3, "ok")]


@pytest.mark.parametrize("partial", [False, True])
def test_disk_full_fails_the_append_and_the_log_goes_on(wal_dir: Path, partial: bool) -> None:
    disk = FaultyDisk()
    with faulty_wal(wal_dir, disk) as wal:
        wal.append("ok", {"n": 1})
        size = wal.total_bytes
        disk.fail_write, disk.partial = errno.ENOSPC, partial
        with pytest.raises(WalError, match="No space left") as info:
            wal.append("full", {"n": 2, "pad": "z" * 100})
        assert isinstance(info.value.__cause__, OSError)
        assert wal.total_bytes == size == wal.segments[-1].stat().st_size
        assert not wal.poisoned and wal.last_seq == 1
        disk.fail_write = None
        assert wal.append("ok", {"n": 2}) == 2  # the failed record's seq was never handed out
    with faulty_wal(wal_dir, disk) as wal:
        assert wal.recovery.truncated_bytes == 0
        assert [(seq, op, args["n"]) for seq, op, args in wal.replay(0)] == [(1, "ok", 1), (2, "ok", 2)]


def test_faults_while_rotating(wal_dir: Path) -> None:
    disk = FaultyDisk()
    with faulty_wal(wal_dir, disk, segment_bytes=120) as wal:
        for i in range(3):
            wal.append("ok", {"i": i})
        segments = wal.segments
        disk.fail_header = True  # the next segment's header cannot be written
        with pytest.raises(WalError, match="cannot create WAL segment"):
            for i in range(3, 10):
                wal.append("ok", {"i": i})
        assert not wal.poisoned and not list(wal_dir.glob("*.tmp"))
        assert wal.segments == segments
        disk.fail_header = False
        acked = wal.append("ok", {"i": 99})
        assert len(wal.segments) == len(segments) + 1
        disk.fail_fsync = True
        with pytest.raises(WalError):
            for i in range(10):
                wal.append("ok", {"i": i})
        assert wal.poisoned
        last = wal.last_seq
    disk.fail_fsync = False
    with faulty_wal(wal_dir, disk, segment_bytes=120) as wal:
        assert wal.last_seq == last >= acked


# -- kill -9 ---------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, threading
    from o_lisp.guardian._wal import WriteAheadLog
    wal = WriteAheadLog(sys.argv[1], segment_bytes=4096)
    rnd = int(sys.argv[2])
    lock = threading.Lock()
    def run(t):
        i = 0
        while True:
            seq = wal.append("put", {"r": rnd, "t": t, "i": i, "pad": "x" * (i % 60)})
            with lock:
                sys.stdout.write(f"{seq} {t} {i}\\n")
                sys.stdout.flush()
            i += 1
    print("ready", wal.last_seq, flush=True)
    for t in range(4):
        threading.Thread(target=run, args=(t,), daemon=True).start()
    threading.Event().wait()
    """
)


def kill_rounds(directory: Path, rounds: int, seed: int) -> None:
    rng = random.Random(seed)
    acked: dict[int, tuple[int, int, int]] = {}
    for rnd in range(rounds):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(directory), str(rnd)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        ready = child.stdout.readline().split()
        assert ready[0] == "ready" and int(ready[1]) >= max(acked, default=0)
        lines: list[str] = []
        reader = threading.Thread(target=lines.extend, args=(child.stdout,))
        reader.start()
        time.sleep(rng.uniform(0.02, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        reader.join(10)
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        for line in lines:
            if line.endswith("\n"):  # a line cut by the kill was not fully reported
                seq, t, i = map(int, line.split())
                assert seq not in acked
                acked[seq] = (rnd, t, i)
        with WriteAheadLog(directory) as wal:
            seen: set[tuple[int, int, int]] = set()
            log: dict[int, tuple[int, int, int]] = {}
            for seq, op, args in wal.replay(0):  # checks seqs run 1, 2, 3, ... with no gap
                key = (args["r"], args["t"], args["i"])
                assert op == "put" and key not in seen, f"duplicate {key}"
                seen.add(key)
                log[seq] = key
            missing = {seq: key for seq, key in acked.items() if log.get(seq) != key}
            assert not missing, f"acknowledged but lost after kill -9: {sorted(missing)[:5]}"
    assert len(acked) > rounds  # the child got real work done


def test_kill_9_loses_no_acknowledged_append(tmp_path: Path) -> None:
    kill_rounds(tmp_path, rounds=3, seed=1)


@pytest.mark.slow
def test_kill_9_soak(tmp_path: Path) -> None:
    kill_rounds(tmp_path, rounds=50, seed=2)


def test_new_directories_are_made_durable(tmp_path: Path) -> None:
    synced: list[str] = []

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))

    with WriteAheadLog(tmp_path / "data" / "wal", fsync=recording_fsync) as wal:
        wal.append("x", {})
    # the parents' entries, the segment, the directory holding it, then the record
    assert synced[:2] == [str(tmp_path), str(tmp_path / "data")]
    assert str(tmp_path / "data" / "wal") in synced
