"""The guardian's supervision core: one agent worker, its durable state, and OTP-style restarts.

`Guardian` is what ``o-lisp serve`` (and its HTTP API) drives::

    g = Guardian(GuardianConfig(agent=Path("agents/assistant.hy"), data_dir=Path(".o/assistant")))
    await g.start()
    await g.request("memory_add", {"text": "..."})   # answered once the WAL record is fsynced
    await g.stop()

Why it is shaped this way:

* **It runs no agent code.** This module imports the protocol, the WAL and the
  vault, never `o_lisp.agent`; workers are separate processes forked by a zygote
  (`o_lisp.worker._zygote`) that has already imported the runtime, so a restart
  costs a fork, not a second of imports. The only thing the guardian takes from
  a worker is data, checked frame by frame (`_protocol`).
* **Acknowledged means durable; nothing a client sees is ahead of the disk.**
  One appender task per worker (`_appender`) writes its ``wal_append``s in the
  order they arrived, every append that queued up during the previous fsync in
  one batch (one write, one fsync: `WriteAheadLog.append_many`), and acks them
  only after that fsync. A *pipelined* worker (the default) applies a mutation
  as soon as it has sent the append and goes on serving, so several requests
  share one fsync. What keeps that safe is on this side: **held answers.** An
  answer from a worker (reply, error, checkpoint, ...) is passed on only once
  every ``wal_append`` that worker sent *before* it — the frames are read in pipe
  order, so these include every mutation the answer can depend on, including a
  read's — is durable (`WorkerLink._dispatch`, `WorkerLink._deliver`). If one of them
  failed, the answer is replaced by ``not_durable``. The strict mode
  (`GuardianConfig.pipelined` False) makes the worker wait for each ack before
  applying; the same rule then holds trivially. What a checkpoint covers is
  decided from the acks the guardian sent, not from the worker's say-so, so a
  confused or hostile worker cannot make the guardian compact records away.
* **A failed append in a pipelined worker: refuse, then resync.** The worker
  has applied a mutation that is not durable. Every later append of it is
  refused without touching the disk (it was computed from that state), every
  answer that depends on it fails with ``not_durable``, and the guardian sends
  the *running* worker a ``restore`` (newest checkpoint + the WAL's acknowledged
  records; read-only from the segment files if the WAL cannot be reopened), which
  the worker awaits since it read the refusal. No process restarts and nothing
  counts against the restart intensity (`_resync`); a worker that cannot be
  resynced is killed and restarted like any failure.
* **Restore = newest good checkpoint + WAL after it**, sent in one ``restore``.
  Before a new worker is restored the guardian waits for every WAL append still
  in flight from the dead one, so a record that became durable late is replayed
  rather than skipped.
* **Warm standby** (`GuardianConfig.standby`). A second worker, restored from the
  newest checkpoint in ``standby`` mode (loaded, idle, not logging), takes over when
  the serving worker dies: it replays only the WAL after its checkpoint
  (``resume``) — no fork, no 4.7 MB restore frame, no state rebuild on the critical
  path. It is replaced after every checkpoint and hot reload, refuses to resume when
  the repository's HEAD or the seed file changed since it loaded its code, is
  discarded when an escalation is due, and changes nothing in the restart
  intensity: the death is counted before the standby is considered.
* **Supervision after OTP.** A worker that exits, breaks the protocol, or is
  silent for `heartbeat_timeout` is SIGKILLed, reaped and restarted; requests in
  flight fail with an error (their mutations, if acknowledged by the WAL, are
  replayed — the client learns "unknown", never a false "ok"). More than
  `max_restarts` failures in `restart_window` seconds is a crash loop: when the
  failing code is not the last known-good version (``DATA/known_good``, recorded
  once a worker answered a request or served for `known_good_after` seconds),
  the next worker first rolls the agent's repository back to it — as a new
  commit whose message says why — and the guardian serves again. A crash loop
  with nothing to fall back on backs off instead of spinning.
* **A failing disk is refused, not survived by luck.** A WAL append whose write
  or fsync fails is answered ``not_durable``: the mutation is not applied (strict)
  or is discarded by a resync (pipelined), and the client gets
  `RequestFailed(code="not_durable")`. A failed write (ENOSPC, EIO)
  leaves the log usable. A failed fsync poisons it (see `_wal`); the guardian
  then reopens it at once (reopening re-fsyncs what it recovers). While reopening
  fails the WAL is *unavailable*: every write is refused with ``not_durable``
  without touching the disk, reads are still served, ``/health`` reports
  ``status: "degraded"`` with the cause in ``wal_error``, and the reopen is
  retried before each later write and before restoring a new worker; the first
  successful reopen clears it. `GuardianConfig.wal_fsync` / ``wal_write`` inject
  the WAL's fsync and pwrite for tests of exactly this. A checkpoint the vault
  cannot fsync (`GuardianConfig.vault_fsync`) is not acknowledged and compacts
  nothing: the WAL keeps every record since the previous good checkpoint, and a
  risky operation waiting for it is abandoned.
* **Checkpoint before risky operations.** Before a self-modification (an accepted
  ``rewrite!``, a rollback) or a hot reload changes the running code, the worker
  sends a `Checkpoint` of its own and waits for the `CheckpointAck`: the code
  changes only once the state before it is durable in the vault. Checkpoints,
  the worker's own and requested ones, are answers like any other: held until
  the appends before them are durable, covering exactly those, and refused if
  one of them failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from o_lisp._limits import Limits
from o_lisp.guardian._errors import (
    E_UNAVAILABLE,
    E_WORKER_DIED,
    GuardianError,
    RequestFailed,
    StartFailed,
    SupervisorError,
)
from o_lisp.guardian._evolution import EvolutionManager
from o_lisp.guardian._link import ShadowLink, WorkerLink
from o_lisp.guardian._ports import ShadowWorker
from o_lisp.guardian._process import (
    WORKER_LOG,
    Child,
    DirectChild,
    ForkServer,
    WorkerLog,
    cancel_and_wait,
)
from o_lisp.guardian._protocol import (
    E_INTERNAL,
    E_NOT_DURABLE,
    E_TIMEOUT,
    Checkpoint,
    CheckpointAck,
    CheckpointRequest,
    CodeVersion,
    Error,
    Hello,
    HotReload,
    HotReloadAck,
    ProtocolError,
    Reply,
    Request,
    Restore,
    RestoreAck,
    Shutdown,
    WalAck,
    WalAppend,
    WalRecord,
    WorkerSpec,
    guardian_handshake,
    limit_pairs,
    open_pipe,
)
from o_lisp.guardian._vault import NoGoodCheckpoint, Vault, VaultError
from o_lisp.guardian._wal import DEFAULT_SEGMENT_BYTES, WalError, WriteAheadLog, read_records

__all__ = [
    "E_WORKER_DIED",
    "Guardian",
    "GuardianConfig",
    "GuardianError",
    "GuardianMetrics",
    "RequestFailed",
    "SupervisorError",
]

INLINE_WAL_MAX = 0.005
"""Seconds: a WAL batch that took longer on the loop's thread sends the next ones to the I/O thread."""
INLINE_WAL_BACKOFF = 30.0
"""Seconds the batches stay on the I/O thread after a slow one, before trying inline again."""

log = logging.getLogger("o_lisp.guardian")

KNOWN_GOOD = "known_good"
T = TypeVar("T")
_MAX_BATCH = 1024
"""Most wal_appends in one write + fsync."""


@dataclass
class GuardianConfig:
    """Everything the guardian is told; the defaults are the issue's."""

    agent: Path
    data_dir: Path
    heartbeat_interval: float = 1.0
    heartbeat_timeout: float = 5.0
    request_timeout: float = 10.0
    max_restarts: int = 5
    restart_window: float = 30.0
    checkpoint_interval: float = 300.0
    checkpoint_wal_records: int = 10_000
    keep_checkpoints: int = 5
    fork_server: bool = True
    """Fork workers from a pre-warmed zygote (fast restarts); False spawns fresh interpreters."""
    startup_timeout: float = 60.0
    """From spawn to serving (handshake + restore), per attempt."""
    zygote_timeout: float = 120.0
    """For the fork server's imports (the first run may compile the Numba kernels)."""
    checkpoint_timeout: float = 60.0
    known_good_after: float = 10.0
    """A worker serving this long (or answering a request) marks its code version known-good."""
    shutdown_grace: float = 5.0
    checkpoint_on_stop: bool = True
    max_backoff: float = 5.0
    """Longest pause between attempts when a crash loop has nothing to roll back to."""
    debug_methods: bool = False
    """Let workers accept ``debug_*`` requests (tests only)."""
    standby: bool = True
    """Keep a warm standby worker: forked, restored from the newest checkpoint and loaded,
    idle. When the serving worker dies it only replays the WAL since its checkpoint and
    serves (module docstring, "Warm standby"). Costs a second worker's memory."""
    worker_log_bytes: int = 1024 * 1024
    """Workers' (and the fork server's) stdout and stderr go to ``DATA/logs/worker.log``,
    rotated at this size (``worker.log.1``, ``.2``, ...)."""
    worker_log_files: int = 3
    """How many log files are kept, the current one included."""
    pipelined: bool = True
    """Workers apply a mutation as soon as its ``wal_append`` is sent and go on serving; the
    guardian holds every answer until the appends before it are durable (module docstring).
    False is the strict mode: the worker waits for each ack before applying."""
    tools: tuple[str, ...] = ()
    """Trusted host tools files (``o-lisp serve --tools``): passed to the workers by name and
    loaded there; the guardian never runs them."""
    grants: tuple[str, ...] = ()
    """Capabilities granted to the agent (``o-lisp serve --grant``), passed to the workers."""
    limits: Limits | None = None
    """The served agent's budgets (``[limits]`` of o-lisp.toml); None: the defaults."""
    llm: str = ""
    """The ``[llm]`` settings of o-lisp.toml as JSON (`LLMSettings.to_json`), passed to the workers."""
    wal_inline: bool = True
    """Write and fsync WAL batches on the event loop's own thread while fsyncs are fast
    (under `INLINE_WAL_MAX`); after a slower one, hand batches to an I/O thread for
    `INLINE_WAL_BACKOFF` seconds. False: always the I/O thread (docs/decisions.md)."""
    wal_segment_bytes: int = DEFAULT_SEGMENT_BYTES
    """Size past which the WAL starts a new segment (small values exercise rotation and compaction)."""
    wal_fsync: Callable[[int], None] | None = None
    """Fault injection, tests only: replaces ``os.fsync`` in the WAL (called from I/O threads)."""
    wal_write: Callable[[int, bytes, int], int] | None = None
    """Fault injection, tests only: replaces ``os.pwrite(fd, data, offset)`` in the WAL."""
    vault_fsync: Callable[[int], None] | None = None
    """Fault injection, tests only: replaces ``os.fsync`` in the checkpoint vault."""
    python: str = sys.executable
    worker_address_space: int | None = 4 * 1024 * 1024 * 1024
    """RLIMIT_AS of the serving worker and the standby: the address space each starts with
    plus this many bytes (None: no limit). An allocation past it fails (the request gets
    an error, agent code `LimitExceeded("memory")`) instead of growing the machine's memory.
    It counts address space, not resident memory: it must cover the agent's state after a
    restore and an evaluation thread's stack (up to 1 GiB, sized from the step budget)."""
    evolution: Any = None
    """`o_lisp.guardian._evolution.EvolutionConfig` (None = the defaults)."""

    def __post_init__(self) -> None:
        self.agent = Path(self.agent)
        self.data_dir = Path(self.data_dir)
        for name in ("heartbeat_interval", "heartbeat_timeout", "request_timeout", "restart_window",
                     "checkpoint_interval", "startup_timeout", "checkpoint_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.max_restarts < 0 or self.checkpoint_wal_records < 1 or self.keep_checkpoints < 1:
            raise ValueError("max_restarts >= 0, checkpoint_wal_records >= 1, keep_checkpoints >= 1")
        if self.worker_log_bytes < 1 or self.worker_log_files < 1:
            raise ValueError("worker_log_bytes >= 1, worker_log_files >= 1")
        if self.worker_address_space is not None and self.worker_address_space < 1:
            raise ValueError("worker_address_space must be positive (or None)")


@dataclass
class GuardianMetrics:
    """Counters for ``/metrics``. Latency samples are bounded deques (newest last)."""

    restarts: int = 0
    hangs: int = 0
    escalations: int = 0
    checkpoints: int = 0
    checkpoint_failures: int = 0
    wal_appends: int = 0
    wal_failures: int = 0
    wal_batches: int = 0
    """Write + fsync rounds of `_Guardian._appender`; wal_appends / wal_batches is the group size."""
    wal_refused: int = 0
    """Appends refused without touching the disk because an earlier one of the same worker failed."""
    resyncs: int = 0
    """Pipelined workers given the durable state back after a failed append (no restart)."""
    standby_activations: int = 0
    """Restarts served by the warm standby."""
    standby_fallbacks: int = 0
    """Restarts that found no usable standby (none ready, stale code, a rollback due) and launched one."""
    wal_fsyncs: int = 0
    wal_fsync_seconds_total: float = 0.0
    wal_fsync_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(method, outcome) → count; outcome is "ok" or the error code."""
    request_seconds: deque[tuple[str, float]] = field(default_factory=lambda: deque(maxlen=10_000))
    restart_to_serving_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=1_000))
    fsync_listeners: list[Callable[[float], None]] = field(default_factory=list)
    """Called (from a WAL thread) with every fsync's latency, e.g. to feed a histogram."""
    evolution_cycles: int = 0
    evolution_promotions: int = 0
    evolution_rejections: int = 0
    """Candidates rejected (at validation, shadow test, decision or canary)."""
    evolution_rollbacks: int = 0

    def observe_fsync(self, seconds: float) -> None:
        self.wal_fsyncs += 1
        self.wal_fsync_seconds_total += seconds
        self.wal_fsync_seconds.append(seconds)
        for listener in self.fsync_listeners:
            listener(seconds)


@dataclass
class _CachedCheckpoint:
    checkpoint_id: int
    wal_seq: int
    state: dict[str, Any]
    created: float


# ---------------------------------------------------------------------------------------
# The guardian
# ---------------------------------------------------------------------------------------


class Guardian:
    """Supervises one agent worker and owns its WAL (``DATA/wal``) and vault (``DATA/checkpoints``)."""

    def __init__(self, config: GuardianConfig) -> None:
        self.config = config
        self.metrics = GuardianMetrics()
        self.status = "stopped"
        self.last_failure: str | None = None
        self.last_escalation: dict[str, Any] | None = None
        self._wal: WriteAheadLog | None = None
        self._vault: Vault | None = None
        self._fork_server: ForkServer | None = None
        self._link: WorkerLink | None = None
        self._serving = asyncio.Event()
        self._stopping = False
        self._started = time.monotonic()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="o-guardian-io")
        self._appends: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        self._checkpoint_lock = asyncio.Lock()
        self._checkpoint_due = asyncio.Event()
        self._cached: _CachedCheckpoint | None = None
        self._checkpoint_seq = 0
        self._checkpoint_time = time.monotonic()
        self._last_checkpoint: dict[str, Any] | None = None
        self._failures: deque[float] = deque()
        self._rollback: tuple[str, str] | None = None
        self._escalated_unserved = False
        self._gave_up: asyncio.Future[str] | None = None
        self._known_good: dict[str, Any] | None = None
        self._wal_error: str | None = None  # why the WAL is unavailable (reopen failed)
        self._worker_log: WorkerLog | None = None
        self._standby: WorkerLink | None = None  # loaded from the checkpoint covering `_standby_base`, idle
        self._standby_base = 0
        self._standby_task: asyncio.Task[None] | None = None  # preparing the next standby
        self._standby_generation = 0
        self._acked_seq = 0  # the last seq the WAL acknowledged (or recovered): what replay may go up to
        self._wal_thread_until = 0.0  # WAL batches go to the I/O thread until then (a slow fsync)
        self._wal_lock = asyncio.Lock()
        self.evolution = EvolutionManager(self, config.evolution)  # its host: this guardian (_ports.EvolutionHost)

    # -- paths and blocking helpers --------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    @property
    def worker_log(self) -> Path:
        """Where workers' stdout and stderr go (``DATA/logs/worker.log``, rotated by size)."""
        return self.data_dir / WORKER_LOG

    def _worker_output(self) -> int | None:
        return None if self._worker_log is None or self._worker_log.write_fd < 0 else self._worker_log.write_fd

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # -- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the WAL and vault, start the fork server and a worker; return once it serves."""
        if self._supervisor is not None:
            raise SupervisorError("the guardian is already started")
        cfg = self.config
        self.status = "starting"
        self._started = time.monotonic()
        self._stopping = False
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            await self._io(self._open_storage)
            self._worker_log = WorkerLog(self.worker_log, cfg.worker_log_bytes, cfg.worker_log_files)
            try:
                await self._worker_log.open()
            except OSError as error:
                log.error("cannot open %s, workers print to the guardian's terminal: %s", self.worker_log, error)
                self._worker_log.close()
                self._worker_log = None
            if cfg.fork_server:
                await self._start_fork_server()
            self._known_good = await self._io(self._read_known_good)
            self._gave_up = asyncio.get_running_loop().create_future()
            self._supervisor = asyncio.create_task(self._supervise(), name="o-supervisor")
            serving: asyncio.Future[Any] = asyncio.ensure_future(self._serving.wait())
            gave_up: asyncio.Future[Any] = self._gave_up
            await asyncio.wait([serving, gave_up], timeout=cfg.startup_timeout * (cfg.max_restarts + 2),
                               return_when=asyncio.FIRST_COMPLETED)
            serving.cancel()
            if not self._serving.is_set():
                why = self._gave_up.result() if self._gave_up.done() else "timed out"
                raise SupervisorError(f"the agent worker did not start: {why}")
        except BaseException:
            await self.stop()
            raise
        if self._cached is None:  # a first checkpoint pins the agent's identity and state
            with contextlib.suppress(SupervisorError):
                await self.checkpoint("initial")
        self._checkpointer = asyncio.create_task(self._checkpoint_loop(), name="o-checkpointer")
        await self.evolution.begin()

    def _open_storage(self) -> None:
        cfg = self.config
        self._vault = Vault(cfg.data_dir / "checkpoints", keep=cfg.keep_checkpoints, fsync=cfg.vault_fsync or os.fsync)
        initial = 1
        try:
            loaded = self._vault.load_latest()
        except NoGoodCheckpoint as error:
            log.error("%s; restoring from the WAL alone if it is complete", error)
            loaded = None
        if loaded is not None:
            info = loaded.info
            self._cached = _CachedCheckpoint(info.checkpoint_id, info.wal_seq, loaded.data, info.created)
            self._checkpoint_seq = info.wal_seq
            self._last_checkpoint = {"id": info.checkpoint_id, "wal_seq": info.wal_seq, "time": info.created}
            initial = info.wal_seq + 1
        self._wal = self._new_wal(initial)
        self._acked_seq = self._wal.last_seq
        if self._cached is None and self._wal.first_seq > 1:
            raise SupervisorError(
                f"no good checkpoint in {cfg.data_dir / 'checkpoints'} and the WAL starts at "
                f"seq {self._wal.first_seq}: the state cannot be restored"
            )

    async def _start_fork_server(self) -> None:
        server = ForkServer(self.config.python, self._worker_output())
        try:
            await server.start(self.config.zygote_timeout)
        except (SupervisorError, OSError, TimeoutError) as error:
            log.error("fork server unavailable, spawning workers directly: %s", error)
            return
        self._fork_server = server

    async def stop(self) -> None:
        """Checkpoint (if serving), ask the worker to exit, reap everything, close the files."""
        self._stopping = True
        self.status = "stopping"
        await self.evolution.close()
        await cancel_and_wait(self._checkpointer)
        self._checkpointer = None
        link = self._link
        if link is not None and link.serving_since is not None and self.config.checkpoint_on_stop:
            try:
                await asyncio.wait_for(self.checkpoint("shutdown"), self.config.checkpoint_timeout)
            except (SupervisorError, TimeoutError) as error:
                log.warning("no checkpoint at shutdown: %s", error)
        await cancel_and_wait(self._supervisor)
        self._supervisor = None
        await self._discard_standby()
        if link is not None:
            await link.send(Shutdown(id=link.writer.next_id(), reason="guardian stopping", grace=self.config.shutdown_grace))
            try:
                await asyncio.wait_for(link.child.wait(), self.config.shutdown_grace)
            except TimeoutError:
                pass
            await link.terminate("guardian stopped")
        self._link = None
        self._serving.clear()
        if self._appends:
            await asyncio.gather(*self._appends, return_exceptions=True)
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._fork_server is not None:
            await self._fork_server.stop()
            self._fork_server = None
        if self._wal is not None:
            await self._io(self._wal.close)
            self._wal = None
        if self._vault is not None:
            self._vault.close()
            self._vault = None
        if self._worker_log is not None:
            await asyncio.sleep(0)  # what the last worker printed before exiting is usually in by now
            self._worker_log.close()
            self._worker_log = None
        self.status = "stopped"

    # -- supervision ------------------------------------------------------------------------
    async def _supervise(self) -> None:
        first = True
        while not self._stopping:
            began = time.monotonic()
            rollback = self._rollback
            spec = WorkerSpec(
                agent=str(self.config.agent.absolute()), data_dir=str(self.config.data_dir.absolute()),
                debug_methods=self.config.debug_methods, pipelined=self.config.pipelined,
                address_space=self.config.worker_address_space,
                tools=self.config.tools, grants=self.config.grants, limits=limit_pairs(self.config.limits),
                llm=self.config.llm,
                rollback_to=None if rollback is None else rollback[0],
                rollback_reason="" if rollback is None else rollback[1],
            )
            link = None
            if rollback is None and not first and self.config.standby:
                link = await self._activate_standby()
            else:
                await self._discard_standby()  # escalation: the standby runs the code being rolled back
            try:
                if link is None:
                    link = await self._launch(spec)
            except StartFailed as failure:
                await self._failed(f"start-up failed: {failure.reason}", failure.code_version)
                continue
            self._rollback = None
            self._escalated_unserved = False
            self._link = link
            self.status = "ok"
            self._serving.set()
            if not first:
                self.metrics.restart_to_serving_seconds.append(time.monotonic() - began)
            first = False
            log.info("worker %d serving %s", link.child.pid, link.code_version)
            if self.config.standby and self._cached is not None:
                self._refresh_standby()
            reason = await self._watch(link)
            self._serving.clear()
            self._link = None
            if self._stopping:
                return
            self.status = "restarting"
            self.last_failure = reason
            status = await link.terminate(reason)
            await self._failed(reason if status is None else f"{reason} (exit status {status})", link.code_version)

    async def _watch(self, link: WorkerLink) -> str:
        """Until the worker dies or goes silent; marks its code known-good on the way."""
        cfg = self.config
        tick = min(cfg.heartbeat_interval, cfg.heartbeat_timeout) / 4
        while True:
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(link.dead), tick)
            silent = time.monotonic() - link.last_heartbeat
            if silent > cfg.heartbeat_timeout:
                # The loop itself may have been held up (a slow inline fsync, a busy host):
                # let the reader take in what arrived meanwhile before calling the worker silent.
                await asyncio.sleep(0.05)
                silent = time.monotonic() - link.last_heartbeat
            if silent > cfg.heartbeat_timeout:
                self.metrics.hangs += 1
                reason = f"no heartbeat for {silent:.1f} s (busy with {link.busy})"
                log.error("worker %d: %s; killing it", link.child.pid, reason)
                return reason
            assert link.serving_since is not None
            if time.monotonic() - link.serving_since >= cfg.known_good_after:
                await self._mark_known_good(link, f"served {cfg.known_good_after:g} s")

    async def _failed(self, reason: str, code_version: str) -> None:
        """Count a failure against the restart intensity; escalate or back off when exceeded."""
        cfg = self.config
        now = time.monotonic()
        self.metrics.restarts += 1
        self.last_failure = reason
        rollback = self.evolution.on_worker_failed(reason, code_version)
        if rollback is not None:  # a promoted version crashed on probation: back to its parent now
            self._rollback = rollback
            self._escalated_unserved = True
            self.last_escalation = {"from": code_version, "to": rollback[0], "reason": rollback[1], "time": time.time()}
            log.error("rolling back the promoted %s: %s", code_version, rollback[1])
            return
        log.warning("worker failed (%s): %s", code_version or "unknown version", reason)
        self._failures.append(now)
        while self._failures and now - self._failures[0] > cfg.restart_window:
            self._failures.popleft()
        if len(self._failures) <= cfg.max_restarts:
            return
        count = len(self._failures)
        self._failures.clear()
        known = self._known_good
        commit = CodeVersion.parse(code_version).commit
        if known is not None and commit != known["commit"] and not self._escalated_unserved:
            why = (f"guardian: {code_version or 'the current version'} crash-looped "
                   f"({count} failures in {cfg.restart_window:g} s; last: {reason})")[:500]
            self._rollback = (str(known["commit"]), why)
            self._escalated_unserved = True
            self.metrics.escalations += 1
            self.last_escalation = {"from": code_version, "to": known["commit"], "reason": why, "time": time.time()}
            log.error("escalating: rolling back to known-good %s: %s", known["commit"], why)
            return
        self.status = "crash_loop"
        if self._gave_up is not None and not self._gave_up.done() and not self._serving.is_set():
            self._gave_up.set_result(f"crash loop with no known-good version to fall back on ({reason})")
        backoff = min(cfg.max_backoff, cfg.restart_window / max(cfg.max_restarts, 1))
        log.error("crash loop and nothing to roll back to; retrying in %.1f s", backoff)
        await asyncio.sleep(backoff)

    async def _spawn_child(self, spec: WorkerSpec, fds: tuple[int, int]) -> Child:
        server = self._fork_server
        if self.config.fork_server and (server is None or not server.alive):
            if server is not None:
                await server.stop()
            self._fork_server = None
            await self._start_fork_server()
            server = self._fork_server
        if server is not None:
            return await server.spawn(spec, fds, self.config.startup_timeout)
        process = await asyncio.create_subprocess_exec(
            self.config.python, "-m", "o_lisp.worker", "worker", str(fds[0]), str(fds[1]), spec.to_json(),
            pass_fds=fds, stdin=asyncio.subprocess.DEVNULL, stdout=self._worker_output(), stderr=self._worker_output(),
        )
        return DirectChild(process)

    async def _connect(self, spec: WorkerSpec, created: list[WorkerLink], link_class: type[WorkerLink] = WorkerLink) -> WorkerLink:
        """Spawn and handshake; a reading link (not restored) or `StartFailed`.

        The link is also put in `created` as soon as it exists, so that a caller
        cancelled just as this returns can still close it.
        """
        cfg = self.config
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        try:
            child = await self._spawn_child(spec, (to_worker_r, from_worker_w))
        except (SupervisorError, OSError, TimeoutError) as error:
            for fd in (to_worker_w, from_worker_r):
                os.close(fd)
            raise StartFailed(f"cannot spawn a worker: {error}", "") from None
        except asyncio.CancelledError:
            for fd in (to_worker_w, from_worker_r):
                os.close(fd)
            raise
        finally:
            os.close(to_worker_r)
            os.close(from_worker_w)
        reader, writer = await open_pipe(from_worker_r, to_worker_w)
        link = link_class(child, reader, writer, pipelined=self.config.pipelined,
                          on_checkpoint=self._spawn_unsolicited_checkpoint)
        created.append(link)
        try:
            hello: Hello = await guardian_handshake(reader, writer, heartbeat_interval=cfg.heartbeat_interval,
                                                   timeout=cfg.startup_timeout)
            link.code_version = hello.code_version
            link.last_heartbeat = time.monotonic()
            link.start_reading()
        except asyncio.CancelledError:
            link.die("cancelled during start-up")
            raise
        except (ProtocolError, OSError, TimeoutError) as error:
            status = await link.terminate("start-up failed")
            detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            raise StartFailed(f"{detail} (exit status {status})", link.code_version) from None
        return link

    async def _launch(self, spec: WorkerSpec, link_class: type[WorkerLink] = WorkerLink) -> WorkerLink:
        """Spawn, handshake, restore; a serving link or `StartFailed`. Shadows of an
        evolution cycle come through here too (`link_class` `ShadowLink`)."""
        cfg = self.config
        if self._appends and not issubclass(link_class, ShadowLink):
            # A dead worker's appends: durable ones must be in the restore. (A shadow starts
            # while the main worker serves: its appender runs as long as it does.)
            await asyncio.gather(*self._appends, return_exceptions=True)
        created: list[WorkerLink] = []
        try:
            link = await self._connect(spec, created, link_class)
        except asyncio.CancelledError:
            for orphan in created:
                orphan.die("the guardian stopped during start-up")
            raise
        try:
            if not isinstance(link, ShadowLink):  # a shadow never appends to the WAL
                self._start_appender(link)
            restore, base = await self._restore_message(link)
            link.acked_seq = base
            answer = await link.call(restore, cfg.startup_timeout)
            if not isinstance(answer, RestoreAck):
                message = answer.message if isinstance(answer, Error) else answer.TYPE
                raise StartFailed(f"restore refused: {message}", link.code_version)
        except StartFailed:
            await link.terminate("start-up failed")
            raise
        except asyncio.CancelledError:  # stopping, or a cycle was cancelled: do not leave the pipes open
            link.die("start-up cancelled")
            raise
        except (ProtocolError, RequestFailed, SupervisorError, WalError, OSError, TimeoutError) as error:
            status = await link.terminate("start-up failed")
            detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            raise StartFailed(f"{detail} (exit status {status})", link.code_version) from None
        link.serving_since = time.monotonic()
        return link

    async def launch_shadow(self, spec: WorkerSpec) -> ShadowWorker:
        """A serving shadow worker of an evolution cycle (`_ports.EvolutionHost`); `StartFailed` if it did not come up."""
        return await self._launch(spec, ShadowLink)

    def code_changed(self, code_version: str) -> None:
        """The main worker committed and runs `code_version` now (`_ports.EvolutionHost`):
        note it, and rebuild a warm standby on the new code."""
        if self._link is not None:
            self._link.code_version = code_version
        if self.config.standby and self._cached is not None and not self._stopping:
            self._refresh_standby()

    async def _restore_message(self, link: WorkerLink) -> tuple[Restore, int]:
        cached = self._cached
        base = 0 if cached is None else cached.wal_seq
        try:
            wal = await self._usable_wal()
        except WalError:
            if self._vault is None:
                raise
            # The WAL cannot take appends (degraded), but what it acknowledged is on disk.
            upto = self._acked_seq
            directory = self.config.data_dir / "wal"
            records = await self._io(lambda: [WalRecord(seq=s, op=o, args=a)
                                              for s, o, a in read_records(directory, base, upto)])
        else:
            records = await self._io(lambda: [WalRecord(seq=s, op=o, args=a) for s, o, a in wal.replay(base)])
        last = records[-1].seq if records else base
        restore = Restore(id=link.writer.next_id(), checkpoint=None if cached is None else cached.state, wal=records)
        return restore, last

    # -- the warm standby ----------------------------------------------------------------------
    def _refresh_standby(self) -> None:
        """Replace the standby (if any) by one restored from the newest checkpoint, in the background."""
        previous, old = self._standby_task, self._standby
        self._standby = None
        if old is not None:
            old.die("standby replaced")
        if previous is not None:
            previous.cancel()
        self._standby_generation += 1  # a cancelled preparation that finishes anyway is dropped
        self._standby_task = asyncio.create_task(self._prepare_standby(previous, self._standby_generation),
                                                 name="o-standby")

    async def _discard_standby(self) -> None:
        task, standby = self._standby_task, self._standby
        self._standby_task = self._standby = None
        self._standby_generation += 1
        await cancel_and_wait(task)
        if standby is not None:
            await standby.terminate("standby discarded")

    async def _prepare_standby(self, previous: asyncio.Task[None] | None, generation: int) -> None:
        """Spawn a worker and restore it in "standby" mode from the cached checkpoint."""
        if previous is not None:
            await asyncio.wait([previous])  # one standby being prepared at a time
        cached = self._cached
        if cached is None or self._stopping:
            return
        cfg = self.config
        spec = WorkerSpec(agent=str(cfg.agent.absolute()), data_dir=str(cfg.data_dir.absolute()),
                          debug_methods=cfg.debug_methods, pipelined=cfg.pipelined, standby=True,
                          address_space=cfg.worker_address_space,
                          tools=cfg.tools, grants=cfg.grants, limits=limit_pairs(cfg.limits), llm=cfg.llm)
        created: list[WorkerLink] = []
        try:
            link = await self._connect(spec, created)
            restore = Restore(id=link.writer.next_id(), checkpoint=cached.state, mode="standby")
            answer = await link.call(restore, cfg.startup_timeout)
            if not isinstance(answer, RestoreAck):
                raise SupervisorError(answer.message if isinstance(answer, Error) else answer.TYPE)
        except asyncio.CancelledError:
            for orphan in created:
                orphan.die("standby cancelled")
            raise
        except (StartFailed, ProtocolError, RequestFailed, SupervisorError, OSError, TimeoutError) as error:
            log.warning("no warm standby: %s", error)
            for orphan in created:
                await orphan.terminate("standby failed")
            return
        if self._stopping or generation != self._standby_generation or self._standby is not None:
            await link.terminate("standby no longer wanted")
            return
        self._standby, self._standby_base = link, cached.wal_seq
        log.info("worker %d is the warm standby (checkpoint at seq %d)", link.child.pid, cached.wal_seq)

    async def _activate_standby(self) -> WorkerLink | None:
        """The standby, brought up to date with the WAL and serving; None to launch a worker instead.

        A standby still being prepared is waited for (it started before any new worker
        could). It is refused when it died or went silent, when the WAL it needs was
        compacted away, and by the worker itself when the repository's HEAD or the seed
        file changed since it loaded its code (a self-rewrite commits after the
        checkpoint that refreshed the standby).
        """
        cfg = self.config
        task = self._standby_task
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=cfg.startup_timeout)
        standby, base = self._standby, self._standby_base
        self._standby = None
        if standby is None or standby.dead.done() or time.monotonic() - standby.last_heartbeat > cfg.heartbeat_timeout:
            self.metrics.standby_fallbacks += 1
            if standby is not None:
                await standby.terminate("standby unusable")
            return None
        try:
            if self._appends:  # a dead worker's appends: durable ones must be replayed
                await asyncio.gather(*self._appends, return_exceptions=True)
            wal = await self._usable_wal()
            records = await self._io(lambda: [WalRecord(seq=s, op=o, args=a) for s, o, a in wal.replay(base)])
            last = records[-1].seq if records else base
            answer = await standby.call(Restore(id=standby.writer.next_id(), checkpoint=None, wal=records, mode="resume"),
                                        cfg.startup_timeout)
            if not isinstance(answer, RestoreAck):
                raise SupervisorError(answer.message if isinstance(answer, Error) else answer.TYPE)
        except asyncio.CancelledError:
            standby.die("the guardian stopped during the takeover")
            raise
        except (ProtocolError, RequestFailed, SupervisorError, WalError, OSError, TimeoutError) as error:
            log.warning("the warm standby cannot take over: %s", error)
            self.metrics.standby_fallbacks += 1
            await standby.terminate("standby refused")
            return None
        standby.acked_seq = last
        self._start_appender(standby)
        standby.serving_since = time.monotonic()
        self.metrics.standby_activations += 1
        return standby

    # -- the WAL ------------------------------------------------------------------------------
    def _start_appender(self, link: WorkerLink) -> None:
        task = asyncio.create_task(self._appender(link), name=f"o-wal-{link.child.pid}")
        self._appends.add(task)
        task.add_done_callback(self._appends.discard)

    async def _appender(self, link: WorkerLink) -> None:
        """Append one worker's mutations in the order it sent them, as few fsyncs as possible.

        Every ``wal_append`` that arrived while the previous batch was being written and
        fsynced goes into the next batch (`WriteAheadLog.append_many`: one write, one
        fsync), then each is acked in order. A batch that fails is refused
        (``not_durable``) as a whole; for a pipelined worker, which has already applied
        those mutations, every later append of the same epoch is refused too (it was
        computed from state that is not durable) and the worker is resynced
        (`_resync`). Once the worker is dead, appends not yet started are dropped: their
        requests already failed as "worker died" (outcome unknown), and none was acked.
        """
        queue = link.append_queue
        while True:
            await link.append_wakeup.wait()
            link.append_wakeup.clear()
            while queue:
                if link.dead.done():
                    queue.clear()
                    return
                _, epoch, message = queue[0]
                if link.refuses(epoch):
                    queue.popleft()
                    self.metrics.wal_refused += 1
                    link.send_nowait(Error(id=link.writer.next_id(), re=message.id, code=E_NOT_DURABLE,
                                           message="refused: an earlier mutation was not durable"))
                    link.append_done()
                    continue
                batch: list[tuple[int, WalAppend]] = []
                while queue and queue[0][1] == epoch and len(batch) < _MAX_BATCH:
                    item = queue.popleft()
                    batch.append((item[0], item[2]))
                await self._append_batch(link, epoch, batch)
            with contextlib.suppress(OSError, ConnectionError, RuntimeError):
                await link.writer.drain()
            if link.dead.done():
                queue.clear()
                return

    async def _append_batch(self, link: WorkerLink, epoch: int, batch: list[tuple[int, WalAppend]]) -> None:
        """Append + fsync, then ack (or refuse with ``not_durable``); never the other way round."""
        try:
            wal = await self._usable_wal()
            seqs = await self._wal_append(wal, [(m.op, m.args) for _, m in batch])
        except WalError as error:
            self.metrics.wal_failures += len(batch)
            log.error("WAL append failed: %s", error)
            current = self._wal
            if current is not None and current.poisoned:
                with contextlib.suppress(WalError):
                    await self._usable_wal()  # reopen now, so /health tells the truth
            if link.pipelined and not link.refuses(epoch):
                link.failed = (epoch, batch[0][0])
                self._spawn_resync(link)
            text = str(error)[:1000]
            link.send_nowait(*(Error(id=link.writer.next_id(), re=m.id, code=E_NOT_DURABLE, message=text) for _, m in batch))
            for _ in batch:
                link.append_done()
            return
        self.metrics.wal_appends += len(batch)
        self.metrics.wal_batches += 1
        last = seqs[-1]
        self._acked_seq = max(self._acked_seq, last)
        # One cumulative ack for the batch: it answers every append up to the last one.
        link.send_nowait(WalAck(id=link.writer.next_id(), re=batch[-1][1].id, seq=last))
        if link is self._link:
            for _, m in batch:
                if m.op == "evolution_intent":
                    self.evolution.on_wal_record(m.op, m.args)
        for seq in seqs:
            link.acked_seq = seq  # before the answers it releases: see `WorkerLink._deliver` (checkpoints)
            link.append_done()
        if last - self._checkpoint_seq >= self.config.checkpoint_wal_records:
            self._checkpoint_due.set()

    async def _wal_append(self, wal: WriteAheadLog, items: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """One batch written and fsynced: on this thread while fsyncs are fast, else on the I/O thread.

        Handing a batch to a thread and back cost more than the fsync itself on a
        loaded 2-core machine (the thread waits to be scheduled and for the GIL), and
        every request in flight waits for that round trip. Blocking the loop for a
        fast fsync (~0.2 ms) is cheaper; a slow disk must not stall the loop, so one
        fsync over `INLINE_WAL_MAX` sends batches to the thread for a while.
        """
        now = time.monotonic()
        if not self.config.wal_inline or now < self._wal_thread_until:
            return await self._io(wal.append_many, items)
        try:
            return wal.append_many(items)
        finally:
            if time.monotonic() - now > INLINE_WAL_MAX:
                self._wal_thread_until = time.monotonic() + INLINE_WAL_BACKOFF

    def _spawn_resync(self, link: WorkerLink) -> None:
        task = asyncio.create_task(self._resync(link), name=f"o-resync-{link.child.pid}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _resync(self, link: WorkerLink) -> None:
        """A pipelined worker applied a mutation that is not durable: give it the durable state back.

        The same ``restore`` a new worker gets (newest checkpoint + WAL), sent to the
        running worker, which has stopped serving since it read the ``not_durable``
        error and rebuilds its state and agent from it. No process is restarted and no
        failure is counted (nothing crashed); if the restore fails, the worker is
        killed and restarted like any failed worker.
        """
        if link.dead.done():
            return
        try:
            restore, _ = await self._restore_message(link)
            link.resync_ids.add(restore.id)
            answer = await link.call(restore, self.config.startup_timeout)
        except (RequestFailed, SupervisorError, WalError, OSError, TimeoutError) as error:
            answer = Error(id=0, re=0, code=E_INTERNAL, message=f"{type(error).__name__}: {error}")
        if not isinstance(answer, RestoreAck):
            reason = answer.message if isinstance(answer, Error) else answer.TYPE
            log.error("worker %d: resync failed: %s", link.child.pid, reason)
            link.die(f"resync after a failed WAL append failed: {reason}")
            return
        link.resyncs += 1
        self.metrics.resyncs += 1

    def _new_wal(self, initial_seq: int) -> WriteAheadLog:
        cfg = self.config
        return WriteAheadLog(
            cfg.data_dir / "wal", segment_bytes=cfg.wal_segment_bytes, initial_seq=initial_seq,
            fsync=cfg.wal_fsync, write=cfg.wal_write or os.pwrite, on_fsync=self.metrics.observe_fsync,
        )

    async def _usable_wal(self) -> WriteAheadLog:
        """The WAL, reopened first if a failed fsync poisoned it; WalError while it cannot be.

        See the module docstring ("A failing disk ..."): while reopening fails the WAL
        is unavailable (`_wal_error`, ``/health`` "degraded") and every write is refused.
        """
        wal = self._wal
        if wal is not None and not wal.poisoned and self._wal_error is None:
            return wal
        async with self._wal_lock:
            wal = self._wal
            if wal is not None and not wal.poisoned and self._wal_error is None:
                return wal  # another task reopened it meanwhile
            if self._vault is None:
                raise WalError("the guardian is not started")
            try:
                await self._io(self._reopen_wal)
            except (WalError, OSError) as error:
                self._wal_error = f"{type(error).__name__}: {error}"[:1000]
                log.error("the WAL is unavailable, refusing writes: %s", self._wal_error)
                raise WalError(f"the write-ahead log is unavailable: {self._wal_error}") from error
            if self._wal_error is not None:
                log.warning("the WAL is available again (was: %s)", self._wal_error)
            self._wal_error = None
            assert self._wal is not None
            return self._wal

    def _reopen_wal(self) -> None:
        """After a failed fsync the log must be reopened (it re-syncs what it recovers)."""
        old, self._wal = self._wal, None
        if old is not None:
            with contextlib.suppress(WalError, OSError):
                old.close()
        self._wal = self._new_wal(self._checkpoint_seq + 1)
        self._acked_seq = max(self._acked_seq, self._wal.last_seq)

    # -- checkpoints ----------------------------------------------------------------------------
    async def checkpoint(self, reason: str = "on demand") -> dict[str, Any]:
        """Take a checkpoint now: ask the worker, store it in the vault, compact the WAL."""
        async with self._checkpoint_lock:
            link = await self._serving_link(time.monotonic() + self.config.checkpoint_timeout)
            request = CheckpointRequest(id=link.writer.next_id(), reason=reason)
            try:
                answer = await link.call(request, self.config.checkpoint_timeout)
            except TimeoutError:
                self.metrics.checkpoint_failures += 1
                raise SupervisorError("the worker did not deliver a checkpoint in time") from None
            except RequestFailed as error:
                self.metrics.checkpoint_failures += 1
                raise SupervisorError(f"checkpoint failed: {error}") from None
            if not isinstance(answer, Checkpoint):
                self.metrics.checkpoint_failures += 1
                raise SupervisorError(f"the worker refused a checkpoint: {getattr(answer, 'message', answer.TYPE)}")
            covered = link.checkpoint_covers.pop(answer.id, link.acked_seq)
            return await self._store_checkpoint(link, answer, covered)

    async def hot_reload(self, code_version: str, timeout: float | None = None) -> str:
        """Have the worker load `code_version` (the repository's HEAD, ``SEMVER+COMMIT`` or a
        bare commit) in place; its new code version. The worker checkpoints first."""
        limit = self.config.request_timeout if timeout is None else timeout
        link = await self._serving_link(time.monotonic() + limit)
        try:
            answer = await link.call(HotReload(id=link.writer.next_id(), code_version=code_version), limit)
        except TimeoutError:
            raise RequestFailed(f"hot reload timed out after {limit:g} s", E_TIMEOUT) from None
        if isinstance(answer, Error):
            raise RequestFailed(answer.message or answer.code, answer.code)
        if not isinstance(answer, HotReloadAck):  # pragma: no cover - _dispatch pairs types by id only
            raise RequestFailed(f"unexpected {answer.TYPE!r} answer", E_INTERNAL)
        link.code_version = answer.code_version
        if self.config.standby:
            self._refresh_standby()  # it loaded the old code
        return answer.code_version

    def _spawn_unsolicited_checkpoint(self, link: WorkerLink, message: Checkpoint, covered: int) -> None:
        """A checkpoint the worker took on its own (before a risky operation): it waits for our answer."""
        async def store() -> None:
            async with self._checkpoint_lock:
                with contextlib.suppress(SupervisorError):  # the worker got an Error; it logs, we logged
                    await self._store_checkpoint(link, message, covered)

        task = asyncio.create_task(store())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _store_checkpoint(self, link: WorkerLink, message: Checkpoint, covered: int) -> dict[str, Any]:
        vault = self._vault
        if message.wal_seq != covered:
            log.debug("worker says its checkpoint covers %d; the acks say %d", message.wal_seq, covered)
        try:
            if vault is None:
                raise VaultError("the guardian is not started")
            info = await self._io(vault.write, message.state, covered)
            floor = await self._io(vault.compaction_floor)
            wal = self._wal
            if floor is not None and wal is not None and not wal.poisoned:
                await self._io(wal.compact, floor)
        except (VaultError, WalError, OSError) as error:
            self.metrics.checkpoint_failures += 1
            await link.send(Error(id=link.writer.next_id(), re=message.id, code=E_INTERNAL, message=str(error)[:1000]))
            raise SupervisorError(f"checkpoint not stored: {error}") from error
        await link.send(CheckpointAck(id=link.writer.next_id(), re=message.id,
                                      checkpoint_id=str(info.checkpoint_id), wal_seq=covered))
        self._cached = _CachedCheckpoint(info.checkpoint_id, covered, message.state, info.created)
        self._checkpoint_seq = covered
        self._checkpoint_time = time.monotonic()
        self.metrics.checkpoints += 1
        self._last_checkpoint = {"id": info.checkpoint_id, "wal_seq": covered, "time": info.created}
        if self.config.standby and not self._stopping:
            self._refresh_standby()  # from the new checkpoint: less WAL to replay on a takeover
        return dict(self._last_checkpoint)

    async def _checkpoint_loop(self) -> None:
        cfg = self.config
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._checkpoint_due.wait(), min(cfg.checkpoint_interval, 1.0))
            self._checkpoint_due.clear()
            wal = self._wal
            if not self._serving.is_set() or wal is None:
                continue
            by_time = time.monotonic() - self._checkpoint_time >= cfg.checkpoint_interval
            by_size = wal.last_seq - self._checkpoint_seq >= cfg.checkpoint_wal_records
            if not (by_time or by_size):
                continue
            try:
                await self.checkpoint("interval" if by_time else "wal size")
            except SupervisorError as error:
                log.error("scheduled checkpoint failed: %s", error)
                self._checkpoint_time = time.monotonic()  # retry at the next interval, not in a loop

    # -- known-good versions --------------------------------------------------------------------
    def _read_known_good(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.data_dir / KNOWN_GOOD).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("commit"), str):
            return None
        return data

    def _write_known_good(self, record: dict[str, Any]) -> None:
        path = self.data_dir / KNOWN_GOOD
        temp = path.with_name(f".{KNOWN_GOOD}.{os.getpid()}.tmp")
        with open(temp, "w", encoding="utf-8") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
        fd = os.open(self.data_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    async def _mark_known_good(self, link: WorkerLink, why: str) -> None:
        commit = link.commit
        if not commit or (self._known_good is not None and self._known_good.get("commit") == commit):
            return
        if self.evolution.in_probation():  # a promoted version is known-good once its probation passed
            return
        record = {"commit": commit, "version": link.version, "time": time.time(), "why": why}
        self._known_good = record
        try:
            await self._io(self._write_known_good, record)
        except OSError as error:
            log.error("cannot record the known-good version: %s", error)

    @property
    def known_good(self) -> dict[str, Any] | None:
        """The last code version that served successfully (``DATA/known_good``)."""
        return None if self._known_good is None else dict(self._known_good)

    # -- requests ---------------------------------------------------------------------------------
    async def _serving_link(self, deadline: float) -> WorkerLink:
        while True:
            link = self._link
            if link is not None and link.serving_since is not None and not link.dead.done():
                return link
            if self._stopping or self._supervisor is None:
                raise RequestFailed("the guardian is not running", E_UNAVAILABLE)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestFailed("no worker is serving", E_UNAVAILABLE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._serving.wait(), remaining)

    async def request(self, method: str, args: dict[str, Any] | None = None, timeout: float | None = None,
                      on_text: Callable[[str], None] | None = None) -> Any:
        """Forward one request to the worker; its result, or `RequestFailed(message, code)`.
        `on_text` gets the text a streamed ``message`` sends as it comes (docs/llm.md)."""
        limit = self.config.request_timeout if timeout is None else timeout
        started = time.monotonic()
        outcome = "ok"
        if method == "message":
            self.evolution.mirror(method, args or {})
        try:
            link = await self._serving_link(started + limit)
            try:
                message = Request(id=link.writer.next_id(), method=method, args=dict(args or {}), timeout=limit)
            except ProtocolError as error:
                raise RequestFailed(f"bad request: {error}", "bad_request") from None
            if on_text is not None:
                link.streams[message.id] = on_text
            try:
                answer = await link.call(message, max(0.0, started + limit - time.monotonic()))
            except TimeoutError:
                raise RequestFailed(f"{method} timed out after {limit:g} s", E_TIMEOUT) from None
            finally:
                link.streams.pop(message.id, None)
            if isinstance(answer, Error):
                raise RequestFailed(answer.message or answer.code, answer.code)
            if not isinstance(answer, Reply):  # pragma: no cover - _dispatch pairs types by id only
                raise RequestFailed(f"unexpected {answer.TYPE!r} answer", E_INTERNAL)
            link.ok_replies += 1
            if link.ok_replies == 1:
                await self._mark_known_good(link, f"answered {method}")
            return answer.result
        except RequestFailed as error:
            outcome = error.code
            raise
        finally:
            self.metrics.requests[(method, outcome)] += 1
            self.metrics.request_seconds.append((method, time.monotonic() - started))
            if method == "message":
                self.evolution.observe(method, outcome, time.monotonic() - started)

    # -- observability ------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """For ``GET /health``: "ok" only while a worker is serving."""
        link = self._link
        serving = link is not None and link.serving_since is not None and not link.dead.done()
        now = time.monotonic()
        wal_seq = None
        with contextlib.suppress(Exception):
            wal_seq = None if self._wal is None else self._wal.last_seq
        restart_times = self.metrics.restart_to_serving_seconds
        if not serving:
            status = self.status if self.status != "ok" else "restarting"
        else:
            status = "ok" if self._wal_error is None else "degraded"
        return {
            "status": status,
            "worker_pid": link.child.pid if serving and link is not None else None,
            "version": link.version if serving and link is not None else None,
            "commit": link.commit if serving and link is not None else None,
            "uptime_s": round(now - self._started, 3),
            "worker_uptime_s": round(now - link.serving_since, 3) if serving and link is not None and link.serving_since else None,
            "restarts": self.metrics.restarts,
            "last_heartbeat_ms": round((now - link.last_heartbeat) * 1000, 1) if link is not None else None,
            "last_checkpoint": None if self._last_checkpoint is None else dict(self._last_checkpoint),
            "wal_seq": wal_seq,
            "wal_error": self._wal_error,
            "known_good": self.known_good,
            "last_failure": self.last_failure,
            "last_escalation": self.last_escalation,
            "last_restart_ms": round(restart_times[-1] * 1000, 1) if restart_times else None,
            "worker_log": str(self.worker_log),
        }

    @property
    def worker_pid(self) -> int | None:
        link = self._link
        return None if link is None or link.serving_since is None else link.child.pid
