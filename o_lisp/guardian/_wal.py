"""The write-ahead log: a mutation is durable before it is applied or acknowledged.

Every agent state mutation (`AgentState.apply(op, args)`) is appended here as one
record and fsynced *before* the worker applies it and before a client hears
"done". After a crash the agent's state is the newest checkpoint plus a replay of
the records after the sequence number it covers. The byte layout is in
docs/formats.md, "Write-ahead log". The design follows from four promises:

* **Acknowledged means on disk.** `append` returns only after an fsync that
  covers its record succeeded. Threads appending at the same time share one
  fsync (group commit): the first thread that needs one becomes the leader and
  syncs every record written so far; the others write their records meanwhile
  and either find themselves covered when it finishes or lead the next round.
* **A torn tail is not corruption.** A crash can leave the last record of the
  last segment half-written; it was never acknowledged, so recovery cuts it off.
  Anything else that does not check out (a bad checksum *followed by* valid
  records, a bad record in an older segment, a missing segment, a sequence
  number out of order) is reported as `WalCorruption` with the file and byte
  offset, and the log refuses to open: silently skipping records would lose
  acknowledged writes without anyone noticing.
* **A failed fsync poisons the log.** After a failed fsync the kernel may have
  dropped the dirty pages and will report success next time (PostgreSQL's
  "fsyncgate"), so retrying proves nothing. The log cuts the file back to what
  the last *successful* fsync covered, fails every unacknowledged append and
  every later one, and must be reopened; reopening fsyncs the recovered files
  again before accepting appends. A failed *write* (ENOSPC, EIO) is cheaper:
  the file is cut back to where that write began, the append fails, and the
  log stays usable; only if the cut itself fails is the log poisoned.
* **Appends do not grow the file.** A segment is preallocated to its full size
  when it is created (by writing zeros, then fsync), so an append overwrites
  zeros that are already allocated and written, and the sync that acknowledges it is an `fdatasync`: no size
  or block-allocation change has to be journalled with it. That is as durable as
  `fsync` here: `fdatasync` skips only metadata that is not needed to read the
  data back (timestamps), and still flushes a size change when one happens (a
  record larger than the preallocated space, a segment that could not be
  preallocated). Consequently the records of a segment end at the first offset
  from which every remaining byte is zero; that is the end of the log, not a torn
  tail. Segment creation, recovery and directories use a full `fsync`.
* **One writer per directory.** An `flock` on `.lock` keeps a second process
  (or a second `WriteAheadLog` in this one) from interleaving records.

`fsync` (when given, it replaces *every* sync: the per-append `fdatasync` and the
`fsync` of new segments, recovery and directories) and `write` (a `pwrite`) are
injectable so that tests can simulate failing disks.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google_crc32c
import msgpack

from o_lisp.guardian._errors import GuardianError

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "RECORD_HEADER_SIZE",
    "SEGMENT_HEADER_SIZE",
    "Recovery",
    "VerifyReport",
    "WalCorruption",
    "WalError",
    "WalStats",
    "WriteAheadLog",
    "encode_record",
    "encode_segment_header",
    "read_records",
    "segment_name",
    "verify",
]

SEGMENT_MAGIC = b"O_WAL"
FORMAT_VERSION = 1
# magic, format version, reserved (0), first seq, CRC32C of the 16 bytes before it
_SEGMENT_HEADER = struct.Struct(">5sBHQI")
SEGMENT_HEADER_SIZE = _SEGMENT_HEADER.size  # 20
RECORD_MARKER = b"OR"
# marker, payload length, seq, CRC32C of the 14 bytes before it and the payload
_RECORD_HEADER = struct.Struct(">2sIQI")
RECORD_HEADER_SIZE = _RECORD_HEADER.size  # 18
_CRC = struct.Struct(">I")
_CRC_COVERED = RECORD_HEADER_SIZE - _CRC.size  # 14

DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024
MAX_SEQ = 2**64 - 1
LOCK_NAME = ".lock"
WAL_SUBDIR = "wal"
_SEGMENT_RE = re.compile(r"wal-(\d{20})\.log")
_TEMP_RE = re.compile(r"wal-\d{20}\.log\.tmp")

FsyncFn = Callable[[int], None]
WriteFn = Callable[[int, bytes, int], int]  # os.pwrite(fd, data, offset) -> bytes written


class WalError(GuardianError):
    """The write-ahead log could not do what was asked; nothing was acknowledged."""


class WalCorruption(WalError):
    """Records that are not a torn tail fail their checks: the log needs a human."""

    def __init__(self, path: Path | str, offset: int, reason: str) -> None:
        super().__init__(f"{path}:{offset}: {reason}")
        self.path = Path(path)
        self.offset = offset
        self.reason = reason


def _crc(covered: bytes, payload: bytes) -> int:
    return int(google_crc32c.extend(google_crc32c.value(covered), payload))


def segment_name(first_seq: int) -> str:
    return f"wal-{first_seq:020d}.log"


def encode_segment_header(first_seq: int) -> bytes:
    body = _SEGMENT_HEADER.pack(SEGMENT_MAGIC, FORMAT_VERSION, 0, first_seq, 0)[:-_CRC.size]
    return body + _CRC.pack(int(google_crc32c.value(body)))


def encode_record(seq: int, payload: bytes) -> bytes:
    """One framed record (header + payload); exposed for tests that forge logs."""
    covered = _RECORD_HEADER.pack(RECORD_MARKER, len(payload), seq, 0)[:_CRC_COVERED]
    return covered + _CRC.pack(_crc(covered, payload)) + payload


def _encode_payload(op: str, args: dict[str, Any], max_record_bytes: int) -> bytes:
    if not isinstance(op, str) or not isinstance(args, dict):
        raise WalError(f"a WAL record needs an op string and an args dict, not {type(op).__name__}, {type(args).__name__}")
    try:
        payload = msgpack.packb({"op": op, "args": args}, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as e:
        raise WalError(f"mutation {op!r} cannot be encoded: {e}") from e
    assert isinstance(payload, bytes)
    if len(payload) > max_record_bytes:
        raise WalError(f"mutation {op!r} is {len(payload)} bytes, over the record limit of {max_record_bytes}")
    return payload


def _decode_payload(path: Path, offset: int, payload: bytes) -> tuple[str, dict[str, Any]]:
    try:
        value = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception as e:  # msgpack raises several unrelated types for bad input
        raise WalCorruption(path, offset, f"record payload is not valid msgpack ({e})") from e
    if not (isinstance(value, dict) and isinstance(value.get("op"), str) and isinstance(value.get("args"), dict)):
        raise WalCorruption(path, offset, "record payload is not a {op, args} mutation")
    return value["op"], value["args"]


# -- scanning -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scan:
    """What a segment holds: records `first_seq .. next_seq - 1` in bytes `.. valid_end`."""

    path: Path
    first_seq: int
    next_seq: int
    valid_end: int
    torn_end: int  # end of the torn tail (its last non-zero byte + 1); == valid_end when none
    torn: str | None  # why the bytes valid_end .. torn_end are a torn tail

    @property
    def records(self) -> int:
        return self.next_seq - self.first_seq


def _record_problem(data: bytes, off: int, max_record: int) -> tuple[str | None, int, int]:
    """(None, end, seq) for a record whose frame and checksum check out, else (why, 0, 0)."""
    remaining = len(data) - off
    if remaining < RECORD_HEADER_SIZE:
        return f"incomplete record header ({remaining} of {RECORD_HEADER_SIZE} bytes)", 0, 0
    marker, length, seq, crc = _RECORD_HEADER.unpack_from(data, off)
    if marker != RECORD_MARKER:
        return f"bad record marker {bytes(marker)!r}", 0, 0
    if length == 0 or length > max_record:
        return f"implausible record length {length}", 0, 0
    end = off + RECORD_HEADER_SIZE + length
    if end > len(data):
        return f"incomplete record ({remaining} of {RECORD_HEADER_SIZE + length} bytes present)", 0, 0
    if crc != _crc(data[off : off + _CRC_COVERED], data[off + RECORD_HEADER_SIZE : end]):
        return "record checksum mismatch", 0, 0
    return None, end, seq


def _find_valid_record(data: bytes, start: int, after_seq: int, max_record: int) -> tuple[int, int] | None:
    """The first checksum-valid record with seq > after_seq at any offset >= start."""
    pos = data.find(RECORD_MARKER, start)
    while pos != -1:
        problem, _end, seq = _record_problem(data, pos, max_record)
        if problem is None and seq > after_seq:
            return pos, seq
        pos = data.find(RECORD_MARKER, pos + 1)
    return None


def _zeros_from(data: bytes, off: int) -> bool:
    """True when every byte from `off` on is zero: preallocated space never written."""
    return data.count(0, off) == len(data) - off


def _scan_segment(path: Path, data: bytes, name_seq: int, *, last: bool, max_record: int) -> _Scan:
    """Check one segment record by record; raise WalCorruption for anything but a torn tail.

    The records end where only zero bytes remain (the preallocated rest of the
    segment). A bad record in the last segment is a torn tail only when no valid
    record follows it anywhere in the file: a crash tears at most the end of what
    was being written, while a bad record with good ones after it means bytes
    changed under the log.
    """
    if len(data) < SEGMENT_HEADER_SIZE:
        raise WalCorruption(path, 0, f"segment header is incomplete ({len(data)} of {SEGMENT_HEADER_SIZE} bytes)")
    magic, version, _reserved, first_seq, crc = _SEGMENT_HEADER.unpack_from(data, 0)
    if magic != SEGMENT_MAGIC:
        raise WalCorruption(path, 0, "not a WAL segment (bad magic)")
    if crc != google_crc32c.value(data[: SEGMENT_HEADER_SIZE - _CRC.size]):
        raise WalCorruption(path, 0, "segment header checksum mismatch")
    if version != FORMAT_VERSION:
        raise WalCorruption(path, 5, f"unsupported WAL format version {version} (this build reads {FORMAT_VERSION})")
    if first_seq != name_seq:
        raise WalCorruption(path, 8, f"header says first seq {first_seq}, the file name says {name_seq}")
    off = SEGMENT_HEADER_SIZE
    seq = first_seq
    while off < len(data):
        problem, end, record_seq = _record_problem(data, off, max_record)
        if problem is None:
            if record_seq != seq:
                raise WalCorruption(path, off, f"record has seq {record_seq}, expected {seq}")
            off = end
            seq += 1
            continue
        if _zeros_from(data, off):
            break
        if not last:
            raise WalCorruption(path, off, f"{problem} in a segment that is not the last one")
        later = _find_valid_record(data, off + 1, seq - 1, max_record)
        if later is not None:
            raise WalCorruption(
                path, off, f"{problem}, but a valid record (seq {later[1]}) follows at offset {later[0]}"
            )
        torn_end = len(data.rstrip(b"\0"))
        return _Scan(path, first_seq, seq, off, torn_end, f"{problem} at offset {off}")
    return _Scan(path, first_seq, seq, off, off, None)


def _list_segments(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for entry in os.listdir(directory):
        match = _SEGMENT_RE.fullmatch(entry)
        if match:
            found.append((int(match.group(1)), directory / entry))
    return sorted(found)


def _scan_all(directory: Path, max_record: int) -> list[_Scan]:
    """Scan every segment in order and check that their sequence numbers join up."""
    scans: list[_Scan] = []
    segments = _list_segments(directory)
    for i, (name_seq, path) in enumerate(segments):
        scan = _scan_segment(path, path.read_bytes(), name_seq, last=i == len(segments) - 1, max_record=max_record)
        if scans and scan.first_seq != scans[-1].next_seq:
            what = "a segment is missing" if scan.first_seq > scans[-1].next_seq else "segments overlap"
            raise WalCorruption(
                path, 0, f"segment starts at seq {scan.first_seq} but {scans[-1].path.name} ends at "
                f"seq {scans[-1].next_seq - 1}: {what}"
            )
        scans.append(scan)
    return scans


def _iter_records(path: Path, data: bytes, first_seq: int, upto: int, max_record: int) -> Iterator[tuple[int, int, bytes]]:
    """(offset, seq, payload) of the records with seq <= upto, checked again while reading."""
    off = SEGMENT_HEADER_SIZE
    seq = first_seq
    while seq <= upto and off < len(data):
        problem, end, record_seq = _record_problem(data, off, max_record)
        if problem is not None:
            if _zeros_from(data, off):  # the segment's records end here
                break
            raise WalCorruption(path, off, f"{problem} (the file changed since the log was opened)")
        if record_seq != seq:
            raise WalCorruption(path, off, f"record has seq {record_seq}, expected {seq}")
        yield off, seq, data[off + RECORD_HEADER_SIZE : end]
        off = end
        seq += 1


# -- the log ---------------------------------------------------------------------------


@dataclass
class WalStats:
    """Counters for /metrics: records written, fsyncs done and the time they took."""

    records: int = 0
    bytes: int = 0
    fsyncs: int = 0
    fsync_seconds: float = 0.0
    write_failures: int = 0
    fsync_failures: int = 0


@dataclass(frozen=True)
class Recovery:
    """What opening the log found."""

    segments: int
    records: int
    first_seq: int  # the first seq still in the log (== next seq when it holds none)
    last_seq: int
    truncated_bytes: int = 0
    torn_tail: str | None = None  # "wal-…log: incomplete record … at offset N", when one was cut
    removed_temp_files: tuple[str, ...] = ()


@dataclass
class _Segment:
    first_seq: int
    path: Path
    size: int


class WriteAheadLog:
    """An append-only, group-committed, segmented log of agent state mutations.

    `append` returns a sequence number only once the record is fsynced; records
    are numbered consecutively from `initial_seq` (used only when the directory
    holds no log yet, e.g. one past the seq a restored checkpoint covers).
    `segment_bytes` is the size past which the next record starts a new segment;
    each segment is preallocated to it. `write(fd, data, offset) -> written`
    defaults to `os.pwrite`. `fsync(fd)`, when given, is used for every sync;
    by default appends are made durable with `os.fdatasync` and everything else
    (new segments, recovery, directories) with `os.fsync`. `on_fsync(seconds)`
    sees every sync's latency (for metrics).
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        fsync: FsyncFn | None = None,
        write: WriteFn = os.pwrite,
        initial_seq: int = 1,
        on_fsync: Callable[[float], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        if segment_bytes < SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE + 1:
            raise ValueError(f"segment_bytes={segment_bytes} is too small")
        if not 1 <= max_record_bytes < 2**32:
            raise ValueError(f"max_record_bytes={max_record_bytes} must be in 1 .. 2**32 - 1")
        if not 1 <= initial_seq <= MAX_SEQ:
            raise ValueError(f"initial_seq={initial_seq} must be in 1 .. 2**64 - 1")
        self.segment_bytes = segment_bytes
        self.max_record_bytes = max_record_bytes
        self.fsync = fsync
        # Appends overwrite preallocated space: fdatasync covers them (module docstring).
        self._sync_data: FsyncFn = fsync or os.fdatasync
        self._sync_meta: FsyncFn = fsync or os.fsync
        self.write = write
        self.initial_seq = initial_seq
        self.on_fsync = on_fsync
        self.stats = WalStats()
        self._cond = threading.Condition(threading.Lock())
        self._segments: list[_Segment] = []
        self._fd = -1
        self._size = 0  # bytes written to the active segment
        self._next_seq = self.initial_seq
        self._written_seq = self.initial_seq - 1  # last seq written (maybe not yet durable)
        self._durable_seq = self.initial_seq - 1  # last seq covered by a successful fsync
        self._durable_size = 0  # size of the active segment at that fsync
        self._syncing = False  # a leader is in fsync right now
        self._poisoned: BaseException | None = None
        self._closed = False
        missing = [d for d in (self.directory, *self.directory.parents) if not d.exists()]
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            for created in reversed(missing):  # a new directory's name must survive a crash too
                self._fsync_dir(created.parent)
        except OSError as e:
            raise WalError(f"fsync of {self.directory.parent} failed while creating the log: {e}") from e
        self._lock_fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise WalError(f"{self.directory} is in use by another write-ahead log") from None
        try:
            self.recovery = self._recover()
        except BaseException:
            if self._fd >= 0:
                os.close(self._fd)
            os.close(self._lock_fd)
            self._closed = True
            raise

    # -- opening ----------------------------------------------------------------------
    def _recover(self) -> Recovery:
        directory = self.directory
        removed = []
        for entry in sorted(os.listdir(directory)):
            if _TEMP_RE.fullmatch(entry):  # a segment whose creation never finished
                os.unlink(directory / entry)
                removed.append(entry)
        scans = _scan_all(directory, self.max_record_bytes)
        truncated = 0
        torn = None
        if scans and scans[-1].torn is not None:
            last = scans[-1]
            truncated = last.torn_end - last.valid_end
            torn = f"{last.path.name}: {last.torn}"
            os.truncate(last.path, last.valid_end)
        if not scans:
            path, fd = self._create_segment(self.initial_seq)
            self._fd = fd
            self._segments = [_Segment(self.initial_seq, path, SEGMENT_HEADER_SIZE)]
            self._size = SEGMENT_HEADER_SIZE
        else:
            self._segments = [_Segment(s.first_seq, s.path, s.valid_end) for s in scans]
            self._fd = os.open(scans[-1].path, os.O_RDWR)
            self._size = scans[-1].valid_end
            self._next_seq = scans[-1].next_seq
            # A cut tail, a log poisoned (and cut) before, or one written without
            # preallocation: give the active segment its zeros back.
            _preallocate(self._fd, self.segment_bytes)
            try:
                # Whatever a crashed writer left in the page cache, and the cut above,
                # become durable now, before anything is built on them.
                self._timed_fsync(self._fd)
                if truncated or removed:
                    self._fsync_dir()
            except OSError as e:
                raise WalError(f"fsync failed while opening {directory}: {e}") from e
        self._written_seq = self._durable_seq = self._next_seq - 1
        self._durable_size = self._size
        first = self._segments[0].first_seq
        return Recovery(
            segments=len(self._segments),
            records=self._next_seq - first,
            first_seq=first,
            last_seq=self._next_seq - 1,
            truncated_bytes=truncated,
            torn_tail=torn,
            removed_temp_files=tuple(removed),
        )

    def _fsync_dir(self, directory: Path | None = None) -> None:
        fd = os.open(directory or self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self._timed_fsync(fd)
        finally:
            os.close(fd)

    def _timed_fsync(self, fd: int, *, data_only: bool = False) -> None:
        """fsync `fd`; with `data_only`, an fdatasync (for appends into preallocated space)."""
        start = time.perf_counter()
        (self._sync_data if data_only else self._sync_meta)(fd)
        elapsed = time.perf_counter() - start
        self.stats.fsyncs += 1
        self.stats.fsync_seconds += elapsed
        if self.on_fsync is not None:
            self.on_fsync(elapsed)

    def _write_all(self, fd: int, data: bytes, offset: int) -> None:
        done = 0
        while done < len(data):
            n = self.write(fd, data if done == 0 else data[done:], offset + done)
            if n <= 0:
                raise OSError(errno.EIO, "write made no progress")
            done += n

    def _create_segment(self, first_seq: int) -> tuple[Path, int]:
        """A new segment with its header, preallocated and durable (temp file, fsync, rename, fsync dir)."""
        path = self.directory / segment_name(first_seq)
        temp = path.with_name(path.name + ".tmp")
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            self._write_all(fd, encode_segment_header(first_seq), 0)
            _preallocate(fd, self.segment_bytes)
            self._timed_fsync(fd)
            os.rename(temp, path)
        except BaseException as e:
            os.close(fd)
            _unlink_quietly(temp)
            if isinstance(e, OSError):
                raise WalError(f"cannot create WAL segment {path.name}: {e}") from e
            raise
        try:
            self._fsync_dir()
        except BaseException as e:
            # The segment's name may not survive a crash, so nothing may be written
            # into it; and a failed fsync is not retried (see the module docstring).
            os.close(fd)
            _unlink_quietly(path)
            self._poisoned = e
            raise WalError(f"fsync of {self.directory} failed after creating {path.name}: {e}") from e
        return path, fd

    # -- appending ----------------------------------------------------------------------
    def append(self, op: str, args: dict[str, Any], *, seq: int | None = None) -> int:
        """Append one mutation and return its seq once it is durable.

        `seq`, when given, must be the seq the record gets (the worker's own count);
        a mismatch raises WalError and writes nothing.
        """
        return self._commit([_encode_payload(op, args, self.max_record_bytes)], seq)[0]

    def append_many(self, items: Iterable[tuple[str, dict[str, Any]]]) -> list[int]:
        """Append several mutations with consecutive seqs and one fsync.

        Not atomic as a group: after a crash before the acknowledgement, a prefix of
        the batch may be in the log (as for any unacknowledged append).
        """
        payloads = [_encode_payload(op, args, self.max_record_bytes) for op, args in items]
        return self._commit(payloads, None) if payloads else []

    def _check_usable(self) -> None:
        if self._closed:
            raise WalError("the write-ahead log is closed")
        if self._poisoned is not None:
            raise WalError(
                f"the write-ahead log is unusable after a failed fsync ({self._poisoned}); reopen it"
            ) from self._poisoned

    def _commit(self, payloads: list[bytes], expected_seq: int | None) -> list[int]:
        total = sum(RECORD_HEADER_SIZE + len(p) for p in payloads)
        with self._cond:
            while True:
                self._check_usable()
                if self._size <= SEGMENT_HEADER_SIZE or self._size + total <= self.segment_bytes:
                    break
                if self._syncing:  # the leader is fsyncing this segment's fd: let it finish
                    self._cond.wait()
                    continue
                self._rotate()
                break
            first = self._next_seq
            if expected_seq is not None and expected_seq != first:
                raise WalError(f"record seq {expected_seq} is out of order: the log expects {first}")
            last = first + len(payloads) - 1
            if last > MAX_SEQ:
                raise WalError("the write-ahead log ran out of 64-bit sequence numbers")
            data = b"".join(encode_record(first + i, p) for i, p in enumerate(payloads))
            start = self._size
            try:
                self._write_all(self._fd, data, start)
            except OSError as e:
                self.stats.write_failures += 1
                self._cut_back(start)
                raise WalError(f"write to {self._segments[-1].path.name} failed, not acknowledged: {e}") from e
            self._size = start + len(data)
            self._segments[-1].size = self._size
            self._next_seq = last + 1
            self._written_seq = last
            self.stats.records += len(payloads)
            self.stats.bytes += len(data)
        self._wait_durable(last)
        return list(range(first, last + 1))

    def _cut_back(self, size: int) -> None:
        """Remove a failed write's bytes; if even that fails, poison the log."""
        try:
            os.ftruncate(self._fd, size)
        except OSError as e:
            self._poison(e)

    def _poison(self, error: BaseException) -> None:
        """Give up on everything not yet durable and refuse further work (lock held)."""
        if self._poisoned is None:
            self._poisoned = error
        try:
            os.ftruncate(self._fd, self._durable_size)
        except OSError:
            pass  # the unacknowledged records may then reappear on reopening; still unacknowledged
        self._size = self._segments[-1].size = self._durable_size
        self._written_seq = self._durable_seq
        self._next_seq = self._durable_seq + 1
        self._cond.notify_all()

    def _wait_durable(self, seq: int) -> None:
        """Return once `seq` is covered by a successful fsync; lead one if nobody is."""
        with self._cond:
            while True:
                if self._durable_seq >= seq:
                    return
                if self._poisoned is not None or self._closed:
                    cause = self._poisoned or WalError("closed")
                    raise WalError(f"record {seq} was not acknowledged: {cause}") from self._poisoned
                if not self._syncing:
                    break
                self._cond.wait()
            self._syncing = True
            fd, target_seq, target_size = self._fd, self._written_seq, self._size
        failure: BaseException | None = None
        try:
            self._timed_fsync(fd, data_only=True)
        except BaseException as e:
            failure = e
        with self._cond:
            self._syncing = False
            if failure is not None:
                self.stats.fsync_failures += 1
                self._poison(failure)
                if not isinstance(failure, Exception):
                    raise failure
                raise WalError(f"fsync failed, record {seq} not acknowledged: {failure}") from failure
            # Rotation and close wait for `_syncing` to clear, so fd is still the active segment.
            self._durable_seq = max(self._durable_seq, target_seq)
            self._durable_size = max(self._durable_size, target_size)
            self._cond.notify_all()

    def _rotate(self) -> None:
        """Close the full segment (durably) and start the next one (lock held, no leader)."""
        try:
            self._timed_fsync(self._fd, data_only=True)
        except BaseException as e:
            self.stats.fsync_failures += 1
            self._poison(e)
            raise WalError(f"fsync before rotating {self._segments[-1].path.name} failed: {e}") from e
        self._durable_seq = self._written_seq
        self._durable_size = self._size
        self._cond.notify_all()
        path, fd = self._create_segment(self._next_seq)  # on failure: keep writing the old one
        os.close(self._fd)
        self._fd = fd
        self._segments.append(_Segment(self._next_seq, path, SEGMENT_HEADER_SIZE))
        self._size = self._durable_size = SEGMENT_HEADER_SIZE

    # -- reading, compaction, closing ------------------------------------------------------
    @property
    def last_seq(self) -> int:
        """The last acknowledged (durable) seq; `initial_seq - 1` for an empty log."""
        with self._cond:
            return self._durable_seq

    @property
    def first_seq(self) -> int:
        """The first seq the log still holds (after compaction); replay needs to start here."""
        with self._cond:
            return self._segments[0].first_seq

    @property
    def poisoned(self) -> bool:
        return self._poisoned is not None

    @property
    def total_bytes(self) -> int:
        """Bytes in all segments (drives "checkpoint when the WAL is this big")."""
        with self._cond:
            return sum(s.size for s in self._segments)

    @property
    def segments(self) -> list[Path]:
        with self._cond:
            return [s.path for s in self._segments]

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """The durable records with seq > after_seq, in order, as (seq, op, args).

        Raises WalError at once when records after `after_seq` were compacted away
        (replaying onto an older checkpoint than the one compaction trusted).
        """
        with self._cond:
            if self._closed:
                raise WalError("the write-ahead log is closed")
            segments = [(s.first_seq, s.path, s.size) for s in self._segments]
            upto = self._durable_seq
        if after_seq + 1 < segments[0][0]:
            raise WalError(
                f"records {after_seq + 1}..{segments[0][0] - 1} were compacted away; "
                f"replay needs a checkpoint covering seq {segments[0][0] - 1} or later"
            )
        return self._replay(segments, after_seq, upto)

    def _replay(
        self, segments: list[tuple[int, Path, int]], after_seq: int, upto: int
    ) -> Iterator[tuple[int, str, dict[str, Any]]]:
        for i, (first, path, size) in enumerate(segments):
            if i + 1 < len(segments) and segments[i + 1][0] - 1 <= after_seq:
                continue  # every record in it is covered
            if first > upto:
                break
            try:
                with open(path, "rb") as f:
                    data = f.read(size)  # the records, not the preallocated zeros after them
            except FileNotFoundError:
                raise WalError(f"{path} vanished during replay (compacted concurrently?)") from None
            for off, seq, payload in _iter_records(path, data, first, upto, self.max_record_bytes):
                if seq > after_seq:
                    op, args = _decode_payload(path, off, payload)
                    yield seq, op, args

    def compact(self, covered_seq: int) -> list[Path]:
        """Delete the segments whose records are all <= covered_seq (a checkpoint has them).

        The active segment is never deleted. Oldest first, so a crash midway leaves
        a log whose segments still join up.
        """
        removed: list[Path] = []
        with self._cond:
            if self._closed:
                raise WalError("the write-ahead log is closed")
            if covered_seq > self._durable_seq:
                raise WalError(f"cannot compact up to seq {covered_seq}: the log is durable only up to {self._durable_seq}")
            while len(self._segments) > 1 and self._segments[1].first_seq - 1 <= covered_seq:
                segment = self._segments.pop(0)
                os.unlink(segment.path)
                removed.append(segment.path)
            if removed:
                try:
                    self._fsync_dir()
                except OSError as e:  # a deleted segment coming back after a crash is harmless
                    raise WalError(f"fsync of {self.directory} after compaction failed: {e}") from e
        return removed

    def close(self) -> None:
        """Make every written record durable (acknowledging waiters), then release the files."""
        with self._cond:
            if self._closed:
                return
            while self._syncing:
                self._cond.wait()
            if self._poisoned is None and self._written_seq > self._durable_seq:
                try:
                    self._timed_fsync(self._fd, data_only=True)
                    self._durable_seq = self._written_seq
                    self._durable_size = self._size
                except Exception as e:
                    self._poison(e)
            self._closed = True
            os.close(self._fd)
            os.close(self._lock_fd)
            self._cond.notify_all()

    def __enter__(self) -> WriteAheadLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _preallocate(fd: int, size: int) -> None:
    """Best effort: extend the file to `size` bytes by writing zeros.

    Appends then overwrite allocated, written space instead of growing the file.
    (Written zeros, not `posix_fallocate`: on ext4 its unwritten extents are
    converted on first write, a metadata change every fdatasync would journal;
    1 writer 0.97x SQLite vs 1.12x with written zeros in bench/wal.py.) Nothing
    depends on it for correctness: zeros past the last record are the end of the
    log, and a segment that could not be preallocated (disk full) simply grows
    with every append, which fdatasync makes durable too.
    """
    current = os.fstat(fd).st_size
    if current >= size:
        return
    try:
        zeros = bytes(min(size - current, 1 << 20))
        at = current
        while at < size:
            at += os.pwrite(fd, zeros[: size - at], at)
    except OSError:
        try:  # a full disk may have let part of it through
            os.ftruncate(fd, current)
        except OSError:
            pass  # zeros past the last record are harmless


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def read_records(
    directory: Path | str, after_seq: int, upto_seq: int, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """The records after_seq < seq <= upto_seq of a log nobody is appending to, read-only.

    For a guardian whose log cannot be reopened (a failing disk): what it acknowledged
    (`upto_seq`) is still on disk and still needed to restore a worker. Takes no lock
    and changes nothing; every record read is checked like `replay` checks it, and a
    record missing below `upto_seq` is an error.
    """
    directory = Path(directory)
    segments = _list_segments(directory)
    expected = after_seq + 1
    for i, (first, path) in enumerate(segments):
        if i + 1 < len(segments) and segments[i + 1][0] - 1 <= after_seq:
            continue
        if first > upto_seq:
            break
        data = path.read_bytes()
        for off, seq, payload in _iter_records(path, data, first, upto_seq, max_record_bytes):
            if seq > after_seq:
                if seq != expected:
                    raise WalCorruption(path, off, f"record has seq {seq}, expected {expected}")
                op, args = _decode_payload(path, off, payload)
                expected += 1
                yield seq, op, args
    if expected <= upto_seq:
        raise WalError(f"records {expected}..{upto_seq} are missing from {directory}")


# -- o-lisp wal verify --------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    """Lines to print and the exit status: 0 consistent, 1 corrupt or no readable log."""

    lines: list[str]
    status: int

    @property
    def ok(self) -> bool:
        return self.status == 0


def verify(path: Path | str, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> VerifyReport:
    """Check a WAL directory (or a data directory with a `wal/` inside) without changing it.

    Every record's frame, checksum, seq and msgpack payload is checked. A torn tail
    is reported but is not an error: opening the log cuts it off, and while a
    guardian is running it may simply be an append in flight.
    """
    directory = Path(path)
    if (directory / WAL_SUBDIR).is_dir() and not _list_segments_safe(directory):
        directory = directory / WAL_SUBDIR
    if not directory.is_dir():
        return VerifyReport([f"{directory}: no such directory"], 1)
    segments = _list_segments_safe(directory)
    if not segments:
        return VerifyReport([f"{directory}: no WAL segments (wal-<seq>.log) found"], 1)
    lines = [f"{directory}: {len(segments)} segment(s)"]
    try:
        scans = _scan_all(directory, max_record_bytes)
        for scan in scans:
            data = scan.path.read_bytes()
            for off, _seq, payload in _iter_records(scan.path, data, scan.first_seq, scan.next_seq - 1, max_record_bytes):
                _decode_payload(scan.path, off, payload)
            span = f"seq {scan.first_seq}..{scan.next_seq - 1}" if scan.records else f"empty, starts at seq {scan.first_seq}"
            lines.append(f"  {scan.path.name}: {span}, {scan.records} record(s), {scan.valid_end} bytes")
            if scan.torn is not None:
                lines.append(
                    f"  {scan.path.name}: torn tail of {scan.torn_end - scan.valid_end} byte(s): {scan.torn} "
                    "(never acknowledged; cut off when the log is opened)"
                )
    except WalError as e:
        lines.append(f"CORRUPT: {e}")
        return VerifyReport(lines, 1)
    except OSError as e:
        lines.append(f"cannot read the log: {e}")
        return VerifyReport(lines, 1)
    for entry in sorted(os.listdir(directory)):
        if _TEMP_RE.fullmatch(entry):
            lines.append(f"  {entry}: unfinished segment creation (removed when the log is opened)")
    records = sum(s.records for s in scans)
    lines.append(f"OK: {records} record(s), seq {scans[0].first_seq}..{scans[-1].next_seq - 1}")
    return VerifyReport(lines, 0)


def _list_segments_safe(directory: Path) -> list[tuple[int, Path]]:
    try:
        return _list_segments(directory)
    except OSError:
        return []
