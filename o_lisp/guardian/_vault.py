"""The vault: verified, atomically written checkpoints of agent state.

A checkpoint is one file, `ckpt-<id, 20 digits>.o`: a fixed 128-byte header
followed by the zstd-compressed msgpack encoding of the agent state (the byte
layout is in docs/formats.md, "Checkpoints"). Together with the write-ahead
log it is the agent's memory, so the vault is built around three promises:

* **Never half a checkpoint.** A checkpoint is written to a temp file in the
  same directory, fsynced, renamed over its final name, and the directory is
  fsynced. A crash at any point leaves either the old set of checkpoints or the
  old set plus a complete new one; leftover temp files are ignored and removed
  when a writer opens the vault.
* **Never trust a file.** Reading checks the header checksum, the sizes against
  the real file size and a limit, and the SHA-256 of the body *before*
  decompressing; decompression is bounded by the size the header declares, so a
  corrupt or hostile file costs at most `max_raw_bytes` of memory.
* **Never lose everything to one bad file.** `latest()` falls back to the
  previous good checkpoint when the newest is corrupt or truncated, and says
  which file it skipped and why. Retention counts only good checkpoints.

One process writes a directory at a time (an `flock` on `.lock`), so cleaning
up temp files on open can never delete another writer's file in progress.
Read-only vaults (`readonly=True`, used by `o-lisp checkpoints list|verify`)
take no lock and change nothing.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import re
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
import zstandard

from o_lisp.guardian._errors import GuardianError

__all__ = [
    "DEFAULT_MAX_RAW_BYTES",
    "FLAG_ZSTD",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "CheckpointCorrupt",
    "CheckpointInfo",
    "Loaded",
    "NoGoodCheckpoint",
    "Skipped",
    "Vault",
    "VaultError",
    "VerifyReport",
    "checkpoint_dir",
    "list_command",
    "pack_header",
    "read_checkpoint",
    "unpack_header",
    "verify_command",
]

log = logging.getLogger("o_lisp.guardian.vault")

MAGIC = b"O_CKPT\x00\x00"
FORMAT_VERSION = 1
HEADER_SIZE = 128
FLAG_ZSTD = 0x1
"""Flag bit 0: the body is one zstd frame. Always set in version 1; other bits are reserved."""
KNOWN_FLAGS = FLAG_ZSTD
DEFAULT_MAX_RAW_BYTES = 1 << 30
"""Largest decoded state a vault writes or reads (1 GiB): the bound on memory a file can cost."""

# magic, version, header size, flags, created_ns, id, wal_seq, compressed, raw, sha256, reserved
_FIELDS = struct.Struct("<8sHHIQQQQQ32s36s")
_CRC = struct.Struct("<I")
assert _FIELDS.size + _CRC.size == HEADER_SIZE

U64_MAX = (1 << 64) - 1
_NAME_RE = re.compile(r"^ckpt-(\d{20})\.o$")
_TEMP_RE = re.compile(r"^\.ckpt-(\d{20})\.(\d+)\.tmp$")
_LOCK_NAME = ".lock"
_READ_CHUNK = 1 << 20

Fsync = Callable[[int], None]
Write = Callable[[int, memoryview], int]


class VaultError(GuardianError):
    """A checkpoint could not be written or no usable checkpoint could be read."""


class CheckpointCorrupt(VaultError):
    """One checkpoint file failed verification; `path` names it, `reason` says what is wrong."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class NoGoodCheckpoint(VaultError):
    """Checkpoint files exist but none verifies; starting empty would silently lose the agent's memory."""

    def __init__(self, directory: Path, skipped: list[Skipped]) -> None:
        details = "; ".join(f"{s.path.name}: {s.reason}" for s in skipped)
        super().__init__(f"no good checkpoint in {directory} ({len(skipped)} corrupt: {details})")
        self.directory = directory
        self.skipped = skipped


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """What a checkpoint's header says (verified: checksum, sizes; the body only when loaded)."""

    path: Path
    checkpoint_id: int
    wal_seq: int
    created_ns: int
    compressed_size: int
    raw_size: int
    sha256: str
    format_version: int = FORMAT_VERSION
    flags: int = FLAG_ZSTD

    @property
    def created(self) -> float:
        """Creation time in seconds since the epoch."""
        return self.created_ns / 1e9

    def describe(self) -> str:
        """One line for `o-lisp checkpoints list`."""
        when = datetime.fromtimestamp(self.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return (
            f"{self.path.name}  id={self.checkpoint_id}  wal_seq={self.wal_seq}  created={when}  "
            f"raw={self.raw_size}  compressed={self.compressed_size}  sha256={self.sha256[:16]}"
        )


@dataclass(frozen=True, slots=True)
class Skipped:
    """A checkpoint file passed over while looking for the latest good one."""

    path: Path
    reason: str


@dataclass(frozen=True, slots=True)
class Loaded:
    """The newest good checkpoint: its header, its state, and the newer files that were skipped."""

    info: CheckpointInfo
    data: Any
    skipped: tuple[Skipped, ...] = ()


@dataclass(slots=True)
class VerifyReport:
    """What `o-lisp checkpoints verify` prints; `ok` is False when any checkpoint is corrupt."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True
    latest: CheckpointInfo | None = None


_InfoList = list[CheckpointInfo]


# ---------------------------------------------------------------- header codec


def pack_header(
    *,
    checkpoint_id: int,
    wal_seq: int,
    created_ns: int,
    compressed_size: int,
    raw_size: int,
    sha256: bytes,
    flags: int = FLAG_ZSTD,
    version: int = FORMAT_VERSION,
) -> bytes:
    """The 128-byte header (little-endian), its last 4 bytes the CRC-32 of the first 124."""
    fields = _FIELDS.pack(
        MAGIC, version, HEADER_SIZE, flags, created_ns, checkpoint_id, wal_seq,
        compressed_size, raw_size, sha256, bytes(36),
    )
    return fields + _CRC.pack(zlib.crc32(fields))


def unpack_header(header: bytes, path: Path | str = "<header>") -> CheckpointInfo:
    """Decode and check a header on its own (magic, version, checksum, flags, reserved bytes).

    Sizes are checked against the file by `read_checkpoint`; here only what the
    128 bytes can prove. Raises `CheckpointCorrupt`.
    """
    path = Path(path)
    if len(header) < HEADER_SIZE:
        raise CheckpointCorrupt(path, f"truncated header: {len(header)} of {HEADER_SIZE} bytes")
    header = header[:HEADER_SIZE]
    (magic, version, header_size, flags, created_ns, checkpoint_id, wal_seq,
     compressed_size, raw_size, sha256, reserved) = _FIELDS.unpack_from(header)
    if magic != MAGIC:
        raise CheckpointCorrupt(path, f"bad magic {magic!r}: not an O checkpoint")
    (crc,) = _CRC.unpack_from(header, _FIELDS.size)
    if version != FORMAT_VERSION:
        raise CheckpointCorrupt(
            path, f"format version {version} is not supported (this O reads version "
            f"{FORMAT_VERSION}) or the header is corrupt",
        )
    if crc != zlib.crc32(header[: _FIELDS.size]):
        raise CheckpointCorrupt(path, "header checksum mismatch: the header is corrupt")
    if header_size != HEADER_SIZE:
        raise CheckpointCorrupt(path, f"header size {header_size}, expected {HEADER_SIZE}")
    if flags & ~KNOWN_FLAGS or not flags & FLAG_ZSTD:
        raise CheckpointCorrupt(path, f"unsupported flags 0x{flags:08x}")
    if reserved != bytes(36):
        raise CheckpointCorrupt(path, "reserved header bytes are not zero")
    return CheckpointInfo(
        path=path, checkpoint_id=checkpoint_id, wal_seq=wal_seq, created_ns=created_ns,
        compressed_size=compressed_size, raw_size=raw_size, sha256=sha256.hex(),
        format_version=version, flags=flags,
    )


def _compress_bound(raw_size: int) -> int:
    """An upper bound on a one-frame zstd encoding of `raw_size` bytes (ZSTD_compressBound + slack)."""
    return raw_size + (raw_size >> 8) + 1024


# ---------------------------------------------------------------- reading


def _read_exact(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, min(left, _READ_CHUNK * 16))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _decompress_bounded(body: bytes, raw_size: int, path: Path) -> bytes:
    """Decompress `body`, refusing to produce more than `raw_size` bytes.

    `ZstdDecompressor.decompress(max_output_size=...)` trusts the frame's own
    content size when it has one, so a bomb would be allocated whole; reading a
    stream in bounded chunks costs memory proportional to real output only.
    """
    out = bytearray()
    try:
        frame_size = zstandard.frame_content_size(body)
        if frame_size not in (-1, raw_size):  # -1: the frame does not record its size
            raise CheckpointCorrupt(
                path, f"zstd frame declares {frame_size} bytes, header says {raw_size}"
            )
        reader = zstandard.ZstdDecompressor().stream_reader(body, read_size=_READ_CHUNK)
        with reader:
            while len(out) <= raw_size:
                chunk = reader.read(min(_READ_CHUNK, raw_size + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
    except zstandard.ZstdError as e:
        raise CheckpointCorrupt(path, f"zstd decompression failed: {e}") from e
    if len(out) > raw_size:
        raise CheckpointCorrupt(path, f"body decompresses to more than the {raw_size} bytes declared")
    if len(out) != raw_size:
        raise CheckpointCorrupt(path, f"body decompresses to {len(out)} bytes, header says {raw_size}")
    return bytes(out)


def _decode(raw: bytes, path: Path) -> Any:
    try:
        # msgpack bounds every claimed length by the buffer size, so this cannot over-allocate.
        return msgpack.unpackb(raw, raw=False, strict_map_key=False, use_list=True)
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise CheckpointCorrupt(path, f"body is not valid msgpack: {e}") from e


def read_checkpoint(
    path: Path | str,
    *,
    max_raw_bytes: int = DEFAULT_MAX_RAW_BYTES,
    decompress: bool = True,
) -> tuple[CheckpointInfo, bytes | None]:
    """Verify one checkpoint file and return its header and raw msgpack body.

    Order matters: header, then sizes against the real file size and the limit,
    then the SHA-256 of the body, then a bounded decompression; nothing is
    allocated for a size the file does not really have. With `decompress=False`
    the body is verified (hash) but not decompressed and None is returned.
    Raises `CheckpointCorrupt`, or `OSError` when the file cannot be read.
    """
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        file_size = os.fstat(fd).st_size
        info = unpack_header(_read_exact(fd, HEADER_SIZE), path)
        match = _NAME_RE.match(path.name)
        if match and int(match.group(1)) != info.checkpoint_id:
            raise CheckpointCorrupt(
                path, f"header says checkpoint {info.checkpoint_id}, the file name says "
                f"{int(match.group(1))}",
            )
        body_size = file_size - HEADER_SIZE
        if info.compressed_size != body_size:
            what = "truncated" if body_size < info.compressed_size else "trailing bytes"
            raise CheckpointCorrupt(
                path, f"{what}: header says {info.compressed_size} body bytes, file has {body_size}"
            )
        if info.raw_size > max_raw_bytes:
            raise CheckpointCorrupt(
                path, f"raw size {info.raw_size} exceeds the limit of {max_raw_bytes} bytes"
            )
        if info.compressed_size > _compress_bound(info.raw_size):
            raise CheckpointCorrupt(
                path, f"compressed size {info.compressed_size} is impossible for raw size "
                f"{info.raw_size}",
            )
        body = _read_exact(fd, info.compressed_size)
    finally:
        os.close(fd)
    if len(body) != info.compressed_size:
        raise CheckpointCorrupt(path, f"truncated while reading: {len(body)} of {info.compressed_size}")
    if hashlib.sha256(body).hexdigest() != info.sha256:
        raise CheckpointCorrupt(path, "SHA-256 of the body does not match the header")
    if not decompress:
        return info, None
    return info, _decompress_bounded(body, info.raw_size, path)


# ---------------------------------------------------------------- the vault


def _fsync_dir(directory: Path, fsync: Fsync) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fsync(fd)
    finally:
        os.close(fd)


class Vault:
    """The checkpoints of one agent, in one directory.

    `keep` good checkpoints are retained (older ones and corrupt ones older
    than those are deleted after each write). `fsync` and `write` are the
    system calls, injectable so tests can simulate failing disks. A writable
    vault locks the directory until `close()`; use it as a context manager.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        keep: int = 5,
        fsync: Fsync = os.fsync,
        write: Write = os.write,
        max_raw_bytes: int = DEFAULT_MAX_RAW_BYTES,
        level: int = 3,
        clock: Callable[[], int] = time.time_ns,
        readonly: bool = False,
    ) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.directory = Path(directory)
        self.keep = keep
        self.max_raw_bytes = max_raw_bytes
        self.readonly = readonly
        self.last_skipped: tuple[Skipped, ...] = ()
        self._fsync = fsync
        self._write = write
        self._level = level
        self._clock = clock
        self._mutex = threading.Lock()
        self._lock_fd: int | None = None
        if readonly:
            if not self.directory.is_dir():
                raise VaultError(f"no checkpoint directory {self.directory}")
        else:
            self._open_for_writing()
        self._next_id = max(self._ids(), default=0) + 1

    def _open_for_writing(self) -> None:
        try:
            created = not self.directory.exists()
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if created:
                _fsync_dir(self.directory.parent, self._fsync)
            fd = os.open(self.directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise VaultError(f"cannot open checkpoint directory {self.directory}: {e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            raise VaultError(
                f"another process is writing checkpoints in {self.directory}"
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN) else
                f"cannot lock {self.directory}: {e}"
            ) from e
        self._lock_fd = fd
        for name in os.listdir(self.directory):
            if _TEMP_RE.match(name):
                # A crash between creating and renaming a temp file; it never became a checkpoint.
                log.info("removing unfinished checkpoint %s", name)
                try:
                    (self.directory / name).unlink()
                except FileNotFoundError:
                    pass

    def close(self) -> None:
        """Release the directory lock (a no-op for read-only vaults and when already closed)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ naming

    def path_for(self, checkpoint_id: int) -> Path:
        """The final file name of a checkpoint: ids sort as names because they are zero-padded."""
        return self.directory / f"ckpt-{checkpoint_id:020d}.o"

    def _ids(self) -> list[int]:
        """Checkpoint ids present in the directory, newest first (names only; nothing is read)."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        ids = [int(m.group(1)) for m in map(_NAME_RE.match, names) if m]
        return sorted(ids, reverse=True)

    # ------------------------------------------------------------ writing

    def write(self, state_data: Any, wal_seq: int) -> CheckpointInfo:
        """Durably store `state_data` as the newest checkpoint, covering WAL records <= `wal_seq`.

        Returns only after the file and its directory entry are fsynced; on any
        failure raises `VaultError` and the previous newest checkpoint remains
        the newest. Encoding and compression run in the calling thread, so an
        asyncio caller should use an executor.
        """
        try:
            raw = msgpack.packb(state_data, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as e:
            raise VaultError(f"agent state cannot be encoded as msgpack: {e}") from e
        return self._write_raw(raw, wal_seq)

    def write_packed(self, raw: bytes, wal_seq: int) -> CheckpointInfo:
        """Like `write` for a state that is already msgpack bytes (e.g. straight from a worker).

        The bytes are decoded once to prove they are one valid msgpack object:
        a checkpoint that cannot be read back is worse than none.
        """
        raw = bytes(raw)
        if len(raw) > self.max_raw_bytes:
            self._refuse_size(len(raw))
        try:
            _decode(raw, Path("<state>"))
        except CheckpointCorrupt as e:
            raise VaultError(f"state bytes are not one valid msgpack object: {e.reason}") from e
        return self._write_raw(raw, wal_seq)

    def _refuse_size(self, size: int) -> None:
        raise VaultError(
            f"agent state is {size} bytes encoded, above the vault limit of {self.max_raw_bytes}"
        )

    def _write_raw(self, raw: bytes, wal_seq: int) -> CheckpointInfo:
        if self.readonly or self._lock_fd is None:
            raise VaultError(f"vault {self.directory} is not open for writing")
        if isinstance(wal_seq, bool) or not isinstance(wal_seq, int) or not 0 <= wal_seq <= U64_MAX:
            raise VaultError(f"wal_seq must be an unsigned 64-bit integer, not {wal_seq!r}")
        if len(raw) > self.max_raw_bytes:
            self._refuse_size(len(raw))
        body = zstandard.ZstdCompressor(level=self._level).compress(raw)
        digest = hashlib.sha256(body).digest()
        with self._mutex:
            checkpoint_id = self._next_id
            # Consumed even if the write fails: a name that may have reached the disk is never reused.
            self._next_id += 1
            created_ns = self._clock()
            header = pack_header(
                checkpoint_id=checkpoint_id, wal_seq=wal_seq, created_ns=created_ns,
                compressed_size=len(body), raw_size=len(raw), sha256=digest,
            )
            final = self.path_for(checkpoint_id)
            temp = self.directory / f".ckpt-{checkpoint_id:020d}.{os.getpid()}.tmp"
            self._write_file(temp, header, body)
            try:
                os.rename(temp, final)
            except OSError as e:
                self._unlink_quietly(temp)
                raise VaultError(f"cannot rename checkpoint {temp} to {final.name}: {e}") from e
            try:
                _fsync_dir(self.directory, self._fsync)
            except OSError as e:
                # The rename may or may not survive a power loss: withdraw it, so the
                # previous checkpoint stays the newest either way.
                self._unlink_quietly(final)
                raise VaultError(f"cannot fsync checkpoint directory {self.directory}: {e}") from e
            info = CheckpointInfo(
                path=final, checkpoint_id=checkpoint_id, wal_seq=wal_seq, created_ns=created_ns,
                compressed_size=len(body), raw_size=len(raw), sha256=digest.hex(),
            )
            self._apply_retention()
        return info

    def _write_file(self, temp: Path, header: bytes, body: bytes) -> None:
        """Create `temp`, write header and body, fsync; on any failure remove it and raise."""
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise VaultError(f"cannot create checkpoint file {temp}: {e}") from e
        try:
            try:
                for part in (header, body):
                    view = memoryview(part)
                    while view:
                        written = self._write(fd, view)
                        if written <= 0:
                            raise OSError(errno.ENOSPC, "write made no progress")
                        view = view[written:]
                self._fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            self._unlink_quietly(temp)
            raise VaultError(f"cannot write checkpoint file {temp}: {e}") from e
        except BaseException:
            self._unlink_quietly(temp)
            raise

    @staticmethod
    def _unlink_quietly(path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass

    def _apply_retention(self) -> None:
        """Keep the newest `keep` good checkpoints; delete everything older than the last of them.

        Corrupt files newer than that stay (for inspection) until they age out.
        Good means header, sizes and SHA-256 verified, re-reading each kept file.
        """
        good = 0
        for checkpoint_id in self._ids():
            path = self.path_for(checkpoint_id)
            if good >= self.keep:
                log.debug("retention: deleting %s", path.name)
                self._unlink_quietly(path)
                continue
            try:
                read_checkpoint(path, max_raw_bytes=self.max_raw_bytes, decompress=False)
                good += 1
            except (CheckpointCorrupt, OSError):
                pass

    # ------------------------------------------------------------ reading

    def read(self, checkpoint_id: int) -> tuple[CheckpointInfo, Any]:
        """Verify and decode one checkpoint. Raises `CheckpointCorrupt` (or `VaultError` if absent)."""
        path = self.path_for(checkpoint_id)
        try:
            info, raw = read_checkpoint(path, max_raw_bytes=self.max_raw_bytes)
        except FileNotFoundError as e:
            raise VaultError(f"no checkpoint {checkpoint_id} in {self.directory}") from e
        except OSError as e:
            raise CheckpointCorrupt(path, f"unreadable: {e}") from e
        assert raw is not None
        return info, _decode(raw, path)

    def load_latest(self, *, decode: bool = True) -> Loaded | None:
        """The newest checkpoint that verifies, with the newer ones that did not.

        None when the directory holds no checkpoint at all (a fresh agent);
        `NoGoodCheckpoint` when files exist but none verifies. With
        `decode=False`, `data` is the verified raw msgpack bytes (to forward to a
        worker without decoding them in the guardian).
        """
        skipped: list[Skipped] = []
        for checkpoint_id in self._ids():
            path = self.path_for(checkpoint_id)
            try:
                info, raw = read_checkpoint(path, max_raw_bytes=self.max_raw_bytes)
                assert raw is not None
                data = _decode(raw, path) if decode else raw
            except FileNotFoundError:
                continue  # deleted by retention in the writing process meanwhile
            except CheckpointCorrupt as e:
                skipped.append(Skipped(path, e.reason))
                log.warning("skipping corrupt checkpoint %s: %s", path.name, e.reason)
                continue
            except OSError as e:
                skipped.append(Skipped(path, f"unreadable: {e}"))
                log.warning("skipping unreadable checkpoint %s: %s", path.name, e)
                continue
            self.last_skipped = tuple(skipped)
            return Loaded(info, data, tuple(skipped))
        self.last_skipped = tuple(skipped)
        if skipped:
            raise NoGoodCheckpoint(self.directory, skipped)
        return None

    def latest(self) -> tuple[CheckpointInfo, Any] | None:
        """`(info, data)` of the newest good checkpoint, or None if there is none.

        Skipped files are logged and left in `last_skipped`; see `load_latest`.
        """
        loaded = self.load_latest()
        return None if loaded is None else (loaded.info, loaded.data)

    def list(self) -> _InfoList:
        """Checkpoints whose header and sizes check out, oldest first (bodies are not hashed)."""
        infos: _InfoList = []
        for checkpoint_id in reversed(self._ids()):
            try:
                infos.append(self._header(self.path_for(checkpoint_id)))
            except (CheckpointCorrupt, OSError):
                continue
        return infos

    def _header(self, path: Path) -> CheckpointInfo:
        with open(path, "rb") as f:
            info = unpack_header(f.read(HEADER_SIZE), path)
            size = os.fstat(f.fileno()).st_size
        if size - HEADER_SIZE != info.compressed_size:
            raise CheckpointCorrupt(
                path, f"header says {info.compressed_size} body bytes, file has {size - HEADER_SIZE}"
            )
        return info

    def compaction_floor(self) -> int | None:
        """The highest WAL sequence the log may discard: the smallest `wal_seq` of a good checkpoint.

        Not the newest checkpoint's: if the newest turns out corrupt, restore
        falls back to an older one and needs the log from *its* sequence on.
        None when there is no good checkpoint (discard nothing).
        """
        floor: int | None = None
        for checkpoint_id in self._ids():
            try:
                info, _ = read_checkpoint(
                    self.path_for(checkpoint_id), max_raw_bytes=self.max_raw_bytes, decompress=False
                )
            except (CheckpointCorrupt, OSError):
                continue
            floor = info.wal_seq if floor is None else min(floor, info.wal_seq)
        return floor

    def verify(self) -> VerifyReport:
        """Fully verify every checkpoint (header, sizes, hash, decompression, msgpack)."""
        report = VerifyReport()
        ids = self._ids()
        if not ids:
            report.lines.append(f"no checkpoints in {self.directory}")
            return report
        corrupt = 0
        for checkpoint_id in reversed(ids):
            path = self.path_for(checkpoint_id)
            try:
                info, _ = self.read(checkpoint_id)
            except VaultError as e:
                corrupt += 1
                reason = e.reason if isinstance(e, CheckpointCorrupt) else str(e)
                report.lines.append(f"{path.name}  CORRUPT: {reason}")
                continue
            report.latest = info
            report.lines.append(f"{info.describe()}  OK")
        good = len(ids) - corrupt
        report.ok = corrupt == 0
        summary = f"{len(ids)} checkpoints: {good} good, {corrupt} corrupt"
        if report.latest is not None:
            summary += f"; restore would use {report.latest.path.name} (wal_seq {report.latest.wal_seq})"
        else:
            summary += "; no usable checkpoint"
        report.lines.append(summary)
        return report


# ---------------------------------------------------------------- command line helpers


def checkpoint_dir(data_dir: Path | str) -> Path:
    """The checkpoint directory of a data directory: `DATA_DIR/checkpoints`, or DATA_DIR itself
    when it holds checkpoints directly."""
    data_dir = Path(data_dir)
    sub = data_dir / "checkpoints"
    return sub if sub.is_dir() else data_dir


def list_command(data_dir: Path | str) -> tuple[list[str], int]:
    """Lines and exit status for `o-lisp checkpoints list DATA_DIR` (header check only).

    Exit status 0, or 1 when the directory does not exist.
    """
    directory = checkpoint_dir(data_dir)
    try:
        vault = Vault(directory, readonly=True)
    except VaultError as e:
        return [str(e)], 1
    lines: list[str] = []
    for checkpoint_id in reversed(vault._ids()):
        path = vault.path_for(checkpoint_id)
        try:
            lines.append(vault._header(path).describe())
        except CheckpointCorrupt as e:
            lines.append(f"{path.name}  CORRUPT: {e.reason}")
        except OSError as e:
            lines.append(f"{path.name}  UNREADABLE: {e}")
    if not lines:
        lines.append(f"no checkpoints in {directory}")
    return lines, 0


def verify_command(data_dir: Path | str) -> tuple[list[str], int]:
    """Lines and exit status for `o-lisp checkpoints verify DATA_DIR`.

    Exit status 0 when every checkpoint verifies (or there are none), 1 when
    any is corrupt or the directory does not exist.
    """
    try:
        report = Vault(checkpoint_dir(data_dir), readonly=True).verify()
    except VaultError as e:
        return [str(e)], 1
    return report.lines, 0 if report.ok else 1
