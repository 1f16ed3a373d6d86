"""Durable state for an agent run in-process (`o-lisp run`): the guardian's checkpoints + WAL.

An agent's state and memory change only through `AgentState.apply`, whose listeners
see each mutation before it is applied. `DurableState` is such a listener: it appends
the mutation to the write-ahead log and returns only once the record is fsynced, so
the mutation is on disk before it is applied and before the reply that follows it is
printed. A crash (kill -9) therefore loses nothing that was answered.

The files are the guardian's, in the same places: `DATA/checkpoints/ckpt-*.o`
(`Vault`) and `DATA/wal/wal-*.log` (`WriteAheadLog`). So `o-lisp checkpoints list
DATA`, `o-lisp wal verify DATA` work on a run's data directory, and `o-lisp serve`
and `o-lisp run` can take turns on one data directory (each locks it while it runs).

Opening restores the newest good checkpoint and replays the records after the
sequence number it covers; closing writes a checkpoint of the state and drops the
WAL segments every good checkpoint covers. `fresh` starts from an empty state: a
checkpoint of it covering every record already logged is written at once, so the old
records are never replayed onto it (older checkpoints stay until retention drops them).
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from o_lisp.agent._agent import Agent, Seed, _memory_from_data, default_data_dir
from o_lisp.agent._state import DURABLE_NOW, AgentState, StateError
from o_lisp.guardian._vault import NoGoodCheckpoint, Vault, VaultError
from o_lisp.guardian._wal import WalError, WriteAheadLog

__all__ = ["CHECKPOINT_DIR", "RUN_SEGMENT_BYTES", "WAL_DIR", "DurableRun", "DurableState", "DurableStateError", "durable_agent"]

CHECKPOINT_DIR = "checkpoints"
WAL_DIR = "wal"
RUN_SEGMENT_BYTES = 1 << 20
"""WAL segment size for `run` (each segment is preallocated; a CLI run logs little)."""
KEEP_CHECKPOINTS = 5

MemoryFactory = Callable[[dict[str, Any]], Any]


class DurableStateError(StateError):
    """The data directory's checkpoints or WAL cannot be opened, restored or written."""


class DurableState:
    """The checkpoints and write-ahead log of one data directory, and the state they hold.

    Create with `open`; hook `log` into the state (`state.on_mutation`) before anything
    mutates it; call `close(state)` when done (a checkpoint, then the files are released).
    """

    def __init__(self, data_dir: Path, vault: Vault, wal: WriteAheadLog, state: AgentState,
                 replayed: int, covered_seq: int) -> None:
        self.data_dir = data_dir
        self.vault = vault
        self.wal = wal
        self.state = state
        self.replayed = replayed
        """How many WAL records were replayed onto the checkpoint when opening."""
        self._covered = covered_seq  # the WAL seq the state reflects
        self._pending: tuple[int, int] | None = None  # (state seq, WAL seq) of the last logged mutation
        self._batch: list[tuple[int, str, dict[str, Any]]] | None = None  # inside `batch()`

    # -- opening -----------------------------------------------------------------------
    @classmethod
    def open(cls, data_dir: str | Path, name: str, version: str, memory_factory: MemoryFactory, *,
             fresh: bool = False, fsync: Callable[[int], None] | None = None) -> DurableState:
        """Restore the state kept in `data_dir` (a new one for `name` `version` if there is
        none, or with `fresh`) and hook the WAL into it. Raises `DurableStateError`."""
        data = Path(data_dir)
        try:
            vault = Vault(data / CHECKPOINT_DIR, keep=KEEP_CHECKPOINTS, fsync=fsync or os.fsync)
        except VaultError as error:
            raise DurableStateError(_in_use(data, error)) from None
        try:
            return cls._restore(data, vault, name, version, memory_factory, fresh, fsync)
        except BaseException:
            vault.close()
            raise

    @classmethod
    def _restore(cls, data: Path, vault: Vault, name: str, version: str, memory_factory: MemoryFactory,
                 fresh: bool, fsync: Callable[[int], None] | None) -> DurableState:
        loaded = None
        if not fresh:
            try:
                loaded = vault.load_latest()
            except NoGoodCheckpoint as error:
                raise DurableStateError(f"{error}; nothing was changed (start over with --fresh)") from None
        for skipped in () if loaded is None else loaded.skipped:
            print(f"o-lisp: skipped checkpoint {skipped.path}: {skipped.reason}", file=sys.stderr)
        initial = 1 if loaded is None else loaded.info.wal_seq + 1
        try:
            wal = WriteAheadLog(data / WAL_DIR, segment_bytes=RUN_SEGMENT_BYTES, initial_seq=initial, fsync=fsync)
        except WalError as error:
            raise DurableStateError(_in_use(data, error)) from None
        try:
            if wal.recovery.torn_tail is not None:
                print(f"o-lisp: cut a torn WAL tail (never acknowledged): {wal.recovery.torn_tail}", file=sys.stderr)
            if fresh:
                state = AgentState(str(uuid.uuid4()), name, version)
                durable = cls(data, vault, wal, state, 0, wal.last_seq)
                durable.checkpoint()
            else:
                durable = cls._replayed(data, vault, wal, loaded, name, version, memory_factory)
            state = durable.state
            state.on_mutation(durable.log)
            return durable
        except BaseException:
            wal.close()
            raise

    @classmethod
    def _replayed(cls, data: Path, vault: Vault, wal: WriteAheadLog, loaded: Any, name: str, version: str,
                  memory_factory: MemoryFactory) -> DurableState:
        if loaded is None:
            if wal.first_seq > 1:
                raise DurableStateError(f"no checkpoint in {data / CHECKPOINT_DIR} and the WAL in {data / WAL_DIR} "
                                        f"starts at seq {wal.first_seq}: the state cannot be restored (--fresh starts over)")
            state = AgentState(str(uuid.uuid4()), name, version)
            after = 0
        else:
            try:
                state = AgentState.from_data(loaded.data, memory_factory)
            except (StateError, KeyError, TypeError, ValueError) as error:
                raise DurableStateError(f"{loaded.info.path}: not an agent state: {error}") from None
            if state.data["name"] != name:
                raise DurableStateError(f"{data} holds the state of agent {state.data['name']!r}, not {name!r}")
            after = loaded.info.wal_seq
        replayed = 0
        covered = after
        try:
            for seq, op, args in wal.replay(after):
                try:
                    state.apply(op, args)
                except Exception as error:  # a record that failed when first applied fails again
                    print(f"o-lisp: replaying WAL record {seq} ({op}) failed: {error}", file=sys.stderr)
                replayed += 1
                covered = seq
        except WalError as error:
            raise DurableStateError(str(error)) from None
        return cls(data, vault, wal, state, replayed, covered)

    # -- running -----------------------------------------------------------------------
    def log(self, seq: int, op: str, args: dict[str, Any]) -> None:
        """The state's mutation listener: append and fsync before the mutation is applied;
        inside `batch()`, keep it for the one fsync at the end of the batch."""
        if self._batch is not None:
            self._batch.append((seq, op, copy.deepcopy(args)))
            if op in DURABLE_NOW:  # paid for outside (a model reply): durable before it is used
                self._flush_batch()
            return
        try:
            wal_seq = self.wal.append(op, args)
        except WalError as error:
            raise DurableStateError(f"mutation {op!r} is not durable (nothing was changed): {error}") from None
        self._logged(seq, wal_seq)

    def _logged(self, seq: int, wal_seq: int) -> None:
        if self._pending is not None and self.state.seq >= self._pending[0]:
            self._covered = self._pending[1]
        self._pending = (seq, wal_seq)

    def _flush_batch(self) -> None:
        """Inside `batch()`: make what the batch holds durable now (the last entry is the
        mutation being applied; the earlier ones are applied already)."""
        pending, self._batch = self._batch or [], []
        try:
            wal_seqs = self.wal.append_many([(op, args) for _seq, op, args in pending])
        except WalError as error:
            self._batch = pending[:-1]  # the applied ones stay for the batch's end (which fails too)
            raise DurableStateError(f"mutation {pending[-1][1]!r} is not durable (it was not applied): {error}") from None
        for (seq, _op, _args), wal_seq in zip(pending, wal_seqs, strict=True):
            self._logged(seq, wal_seq)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Log the mutations made inside with one fsync when the block ends (before the
        caller prints its answer): one fsync per message instead of one per mutation.

        Inside, mutations are applied before they are durable; a crash then loses only
        effects nobody was told about. A mutation whose apply did not finish is dropped.
        If the final append fails, `DurableStateError` is raised and the caller must not
        answer (the state then holds changes the log does not)."""
        if self._batch is not None:
            yield
            return
        self._batch = []
        try:
            yield
        finally:
            batch, self._batch = self._batch, None
            applied = [(seq, op, args) for seq, op, args in batch if seq <= self.state.seq]
            if applied:
                try:
                    wal_seqs = self.wal.append_many([(op, args) for _seq, op, args in applied])
                except WalError as error:
                    raise DurableStateError(f"the changes of this message are not durable: {error}") from None
                for (seq, _op, _args), wal_seq in zip(applied, wal_seqs, strict=True):
                    self._logged(seq, wal_seq)

    def covered_seq(self) -> int:
        """The last WAL seq whose mutation the state holds (a logged mutation whose apply
        did not finish, e.g. interrupted by Ctrl-C, is left to the replay)."""
        if self._pending is not None and self.state.seq >= self._pending[0]:
            return self._pending[1]
        return self._covered

    def checkpoint(self) -> int:
        """Write a checkpoint of the state; drop the WAL segments all good checkpoints cover.
        Returns the WAL seq it covers."""
        covered = self.covered_seq()
        try:
            self.vault.write(self.state.to_data(), covered)
            floor = self.vault.compaction_floor()
            if floor is not None:
                self.wal.compact(floor)
        except (VaultError, WalError) as error:
            raise DurableStateError(f"checkpoint in {self.data_dir} failed: {error}") from None
        return covered

    def close(self, *, checkpoint: bool = True) -> None:
        """Checkpoint (unless told not to), then release the files; the WAL holds everything anyway."""
        try:
            if checkpoint and not self.wal.poisoned:
                self.checkpoint()
        finally:
            self.wal.close()
            self.vault.close()


def _in_use(data: Path, error: Exception) -> str:
    text = str(error)
    if "in use" in text or "another process" in text:
        return f"{data} is in use by another o-lisp process (`o-lisp serve` or `run`): {text}"
    return text


@dataclass(frozen=True)
class DurableRun:
    """An agent whose state is kept by `durable`; `handle` answers only once durable."""

    agent: Any  # o_lisp.agent._agent.Agent (imported lazily: it imports the whole runtime)
    durable: DurableState

    def handle(self, message: str) -> Any:
        """`Agent.handle`, its mutations logged with one fsync before the reply is returned."""
        with self.durable.batch():
            return self.agent.handle(message)


@contextmanager
def durable_agent(seed: str | Path | Seed, data_dir: str | Path | None = None, *, fresh: bool = False,
                  **options: Any) -> Iterator[DurableRun]:
    """`Agent.load` with its state and memory restored from, and logged to, its data directory.

    The agent's own start-up mutations (e.g. its lifecycle, a new memory) are logged like
    any other. On leaving the block a checkpoint is written; on a crash the WAL has every
    mutation that was applied. If the agent fails to load, storage files created for it
    here are removed again. `seed` is a path or a `Seed` already read (`o-lisp run`).
    """
    if not isinstance(seed, Seed):
        seed = Seed.read(seed)
    spec = seed.spec
    data = Path(data_dir) if data_dir is not None else default_data_dir(spec.name)
    created = [d for d in (data / CHECKPOINT_DIR, data / WAL_DIR) if not d.exists()]
    created_data = not data.exists()
    durable = DurableState.open(data, spec.name, spec.version, _memory_from_data, fresh=fresh)
    try:
        agent = Agent.load(seed, data, state=durable.state, **options)
    except BaseException:
        durable.close(checkpoint=False)
        for directory in created:
            shutil.rmtree(directory, ignore_errors=True)
        if created_data:
            with contextlib.suppress(OSError):  # only if nothing else was put there
                data.rmdir()
        raise
    try:
        version = agent.spec.version  # the repository's, after any seed edit was imported
        if agent.state.version != version:
            agent.state.apply("set_version", {"version": version})
        yield DurableRun(agent, durable)
    finally:
        durable.close()
