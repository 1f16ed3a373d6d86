"""The guardian's durable state: the WAL, the checkpoint vault, the newest checkpoint, known-good.

Everything here is what survives the guardian and its workers: ``DATA/wal`` (the
mutations, each fsynced before it is acknowledged), ``DATA/checkpoints`` (the
worker's state at a WAL position) and ``DATA/known_good`` (the last code version
that served). `DurableStorage` owns the open files and what the guardian remembers
about them — the newest checkpoint (kept in memory: every restore sends it), the
last acknowledged seq, why the WAL is unavailable — and answers the questions the
supervisor, the standby and the appenders ask: what does a restore contain, append
these records, store this checkpoint. It knows nothing of workers or links.

A failing disk (see `_supervisor`'s docstring): a failed fsync poisons the WAL and it
is reopened at once; while reopening fails the WAL is *unavailable* (`wal_error`),
every write is refused, and a restore reads what was acknowledged from the segment
files read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from o_lisp.guardian._config import GuardianConfig
from o_lisp.guardian._errors import SupervisorError
from o_lisp.guardian._metrics import GuardianMetrics
from o_lisp.guardian._protocol import Restore, WalRecord
from o_lisp.guardian._vault import NoGoodCheckpoint, Vault, VaultError
from o_lisp.guardian._wal import WalError, WriteAheadLog, read_records

__all__ = ["INLINE_WAL_BACKOFF", "INLINE_WAL_MAX", "KNOWN_GOOD", "CachedCheckpoint", "DurableStorage"]

INLINE_WAL_MAX = 0.005
"""Seconds: a WAL batch that took longer on the loop's thread sends the next ones to the I/O thread."""
INLINE_WAL_BACKOFF = 30.0
"""Seconds the batches stay on the I/O thread after a slow one, before trying inline again."""
KNOWN_GOOD = "known_good"
"""``DATA/known_good``: the last code version that served (JSON: commit, version, time, why)."""

log = logging.getLogger("o_lisp.guardian")
T = TypeVar("T")
RunInThread = Callable[..., Awaitable[Any]]
"""Runs a blocking function on the guardian's I/O threads: ``await io(fn, *args)``."""


@dataclass(frozen=True)
class CachedCheckpoint:
    """The newest stored checkpoint, kept in memory: every restore and standby starts from it."""

    checkpoint_id: int
    wal_seq: int
    state: dict[str, Any]
    created: float


class DurableStorage:
    """``DATA/wal``, ``DATA/checkpoints`` and ``DATA/known_good``, and what the guardian knows of them."""

    def __init__(self, config: GuardianConfig, metrics: GuardianMetrics, io: RunInThread) -> None:
        self.config = config
        self.metrics = metrics
        self._io = io
        self.wal: WriteAheadLog | None = None
        self.vault: Vault | None = None
        self.cached: CachedCheckpoint | None = None
        self.checkpoint_seq = 0  # the WAL seq the newest checkpoint covers
        self.checkpoint_time = time.monotonic()
        self.last_checkpoint: dict[str, Any] | None = None
        self.acked_seq = 0  # the last seq the WAL acknowledged (or recovered): what replay may go up to
        self.wal_error: str | None = None  # why the WAL is unavailable (reopen failed)
        self._known_good: dict[str, Any] | None = None
        self._wal_thread_until = 0.0  # WAL batches go to the I/O thread until then (a slow fsync)
        self._wal_lock = asyncio.Lock()

    # -- opening and closing -------------------------------------------------------------
    def open(self) -> None:
        """Open the vault and the WAL (blocking: run it on an I/O thread); SupervisorError if the state cannot be restored."""
        cfg = self.config
        self.vault = Vault(cfg.data_dir / "checkpoints", keep=cfg.keep_checkpoints, fsync=cfg.vault_fsync or os.fsync)
        initial = 1
        try:
            loaded = self.vault.load_latest()
        except NoGoodCheckpoint as error:
            log.error("%s; restoring from the WAL alone if it is complete", error)
            loaded = None
        if loaded is not None:
            info = loaded.info
            self.cached = CachedCheckpoint(info.checkpoint_id, info.wal_seq, loaded.data, info.created)
            self.checkpoint_seq = info.wal_seq
            self.last_checkpoint = {"id": info.checkpoint_id, "wal_seq": info.wal_seq, "time": info.created}
            initial = info.wal_seq + 1
        self.wal = self._new_wal(initial)
        self.acked_seq = self.wal.last_seq
        if self.cached is None and self.wal.first_seq > 1:
            raise SupervisorError(
                f"no good checkpoint in {cfg.data_dir / 'checkpoints'} and the WAL starts at "
                f"seq {self.wal.first_seq}: the state cannot be restored"
            )
        self._known_good = self._read_known_good()

    async def close(self) -> None:
        if self.wal is not None:
            await self._io(self.wal.close)
            self.wal = None
        if self.vault is not None:
            self.vault.close()
            self.vault = None

    # -- the WAL -----------------------------------------------------------------------------
    @property
    def wal_seq(self) -> int | None:
        """The WAL's last seq (None when it is closed)."""
        with contextlib.suppress(Exception):
            return None if self.wal is None else self.wal.last_seq
        return None

    def records_since_checkpoint(self) -> int:
        return 0 if self.wal is None else self.wal.last_seq - self.checkpoint_seq

    def _new_wal(self, initial_seq: int) -> WriteAheadLog:
        cfg = self.config
        return WriteAheadLog(
            cfg.data_dir / "wal", segment_bytes=cfg.wal_segment_bytes, initial_seq=initial_seq,
            fsync=cfg.wal_fsync, write=cfg.wal_write or os.pwrite, on_fsync=self.metrics.observe_fsync,
        )

    async def usable_wal(self) -> WriteAheadLog:
        """The WAL, reopened first if a failed fsync poisoned it; WalError while it cannot be.

        While reopening fails the WAL is unavailable (`wal_error`, ``/health``
        "degraded") and every write is refused.
        """
        wal = self.wal
        if wal is not None and not wal.poisoned and self.wal_error is None:
            return wal
        async with self._wal_lock:
            wal = self.wal
            if wal is not None and not wal.poisoned and self.wal_error is None:
                return wal  # another task reopened it meanwhile
            if self.vault is None:
                raise WalError("the guardian is not started")
            try:
                await self._io(self._reopen_wal)
            except (WalError, OSError) as error:
                self.wal_error = f"{type(error).__name__}: {error}"[:1000]
                log.error("the WAL is unavailable, refusing writes: %s", self.wal_error)
                raise WalError(f"the write-ahead log is unavailable: {self.wal_error}") from error
            if self.wal_error is not None:
                log.warning("the WAL is available again (was: %s)", self.wal_error)
            self.wal_error = None
            assert self.wal is not None
            return self.wal

    def _reopen_wal(self) -> None:
        """After a failed fsync the log must be reopened (it re-syncs what it recovers)."""
        old, self.wal = self.wal, None
        if old is not None:
            with contextlib.suppress(WalError, OSError):
                old.close()
        self.wal = self._new_wal(self.checkpoint_seq + 1)
        self.acked_seq = max(self.acked_seq, self.wal.last_seq)

    async def reopen_if_poisoned(self) -> None:
        """After a failed append: reopen a poisoned WAL now, so ``/health`` tells the truth."""
        current = self.wal
        if current is not None and current.poisoned:
            with contextlib.suppress(WalError):
                await self.usable_wal()

    async def append(self, items: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """Write and fsync one batch (WalError if it is not durable); its seqs.

        On the event loop's thread while fsyncs are fast, else on the I/O thread.
        Handing a batch to a thread and back cost more than the fsync itself on a
        loaded 2-core machine (the thread waits to be scheduled and for the GIL), and
        every request in flight waits for that round trip. Blocking the loop for a
        fast fsync (~0.2 ms) is cheaper; a slow disk must not stall the loop, so one
        fsync over `INLINE_WAL_MAX` sends batches to the thread for a while.
        """
        wal = await self.usable_wal()
        now = time.monotonic()
        if not self.config.wal_inline or now < self._wal_thread_until:
            seqs: list[int] = await self._io(wal.append_many, items)
        else:
            try:
                seqs = wal.append_many(items)
            finally:
                if time.monotonic() - now > INLINE_WAL_MAX:
                    self._wal_thread_until = time.monotonic() + INLINE_WAL_BACKOFF
        self.acked_seq = max(self.acked_seq, seqs[-1])
        return seqs

    async def replay(self, base: int) -> list[WalRecord]:
        """The WAL's records after `base` (WalError while the WAL is unavailable)."""
        wal = await self.usable_wal()
        records: list[WalRecord] = await self._io(
            lambda: [WalRecord(seq=s, op=o, args=a) for s, o, a in wal.replay(base)])
        return records

    async def restore(self, frame_id: int) -> tuple[Restore, int]:
        """The ``restore`` a worker gets: the newest checkpoint and the WAL after it; and the last seq in it.

        While the WAL cannot take appends (degraded), what it acknowledged is still on
        disk: the records are read from the segment files read-only.
        """
        cached = self.cached
        base = 0 if cached is None else cached.wal_seq
        try:
            wal = await self.usable_wal()
        except WalError:
            if self.vault is None:
                raise
            upto = self.acked_seq
            directory = self.config.data_dir / "wal"
            records: list[WalRecord] = await self._io(
                lambda: [WalRecord(seq=s, op=o, args=a) for s, o, a in read_records(directory, base, upto)])
        else:
            records = await self._io(lambda: [WalRecord(seq=s, op=o, args=a) for s, o, a in wal.replay(base)])
        last = records[-1].seq if records else base
        return Restore(id=frame_id, checkpoint=None if cached is None else cached.state, wal=records), last

    # -- checkpoints ----------------------------------------------------------------------------
    async def store_checkpoint(self, state: dict[str, Any], covered: int) -> dict[str, Any]:
        """Write `state` (covering the WAL up to `covered`) to the vault and compact the WAL up to
        the oldest good checkpoint; what ``/health`` shows of it. VaultError, WalError or
        OSError if it is not stored (nothing is compacted then)."""
        vault = self.vault
        if vault is None:
            raise VaultError("the guardian is not started")
        info = await self._io(vault.write, state, covered)
        floor = await self._io(vault.compaction_floor)
        wal = self.wal
        if floor is not None and wal is not None and not wal.poisoned:
            await self._io(wal.compact, floor)
        self.cached = CachedCheckpoint(info.checkpoint_id, covered, state, info.created)
        self.checkpoint_seq = covered
        self.checkpoint_time = time.monotonic()
        self.metrics.checkpoints += 1
        self.last_checkpoint = {"id": info.checkpoint_id, "wal_seq": covered, "time": info.created}
        return dict(self.last_checkpoint)

    # -- known-good versions --------------------------------------------------------------------
    @property
    def known_good(self) -> dict[str, Any] | None:
        """The last code version that served successfully (``DATA/known_good``)."""
        return None if self._known_good is None else dict(self._known_good)

    def is_known_good(self, commit: str) -> bool:
        return self._known_good is not None and self._known_good.get("commit") == commit

    async def record_known_good(self, commit: str, version: str, why: str) -> None:
        """Remember `commit` as known-good (in memory at once, on disk fsynced; a write error is logged)."""
        record = {"commit": commit, "version": version, "time": time.time(), "why": why}
        self._known_good = record
        try:
            await self._io(self._write_known_good, record)
        except OSError as error:
            log.error("cannot record the known-good version: %s", error)

    def _read_known_good(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.config.data_dir / KNOWN_GOOD).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("commit"), str):
            return None
        return data

    def _write_known_good(self, record: dict[str, Any]) -> None:
        path = self.config.data_dir / KNOWN_GOOD
        temp = path.with_name(f".{KNOWN_GOOD}.{os.getpid()}.tmp")
        with open(temp, "w", encoding="utf-8") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
        fd = os.open(self.config.data_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
