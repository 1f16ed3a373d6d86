"""The guardian's supervision core: one agent worker, its durable state, and OTP-style restarts.

`Guardian` composes the parts, each in its own module: starting processes and the
worker log (`_process`), one worker's calls and held answers (`_link`), the WAL,
checkpoints and known-good version (`_durable`), the WAL appenders (`_appender`), the
warm standby (`_standby`), the restart intensity (`_restart`) and its own life cycle
(`_states`: one `change_state`). The evolution manager is an observer it calls
through `_ports.EvolutionObserver`, and which sees the guardian only as
`_ports.EvolutionHost`.

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
  One appender task per worker (`_appender.Appenders`) writes its ``wal_append``s in the
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
  counts against the restart intensity (`Appenders._resync`); a worker that cannot be
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
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from o_lisp.guardian._appender import Appenders
from o_lisp.guardian._config import GuardianConfig
from o_lisp.guardian._durable import DurableStorage
from o_lisp.guardian._errors import (
    ErrorCode,
    GuardianError,
    RequestFailed,
    StartFailed,
    SupervisorError,
)
from o_lisp.guardian._evolution import EvolutionManager
from o_lisp.guardian._link import ShadowLink, WorkerLink
from o_lisp.guardian._metrics import GuardianMetrics
from o_lisp.guardian._ports import EvolutionObserver, ShadowWorker
from o_lisp.guardian._process import (
    WORKER_LOG,
    Child,
    DirectChild,
    ForkServer,
    WorkerLog,
    cancel_and_wait,
)
from o_lisp.guardian._protocol import (
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
    RestoreAck,
    Shutdown,
    WalAppend,
    WorkerSpec,
    guardian_handshake,
    limit_pairs,
    open_pipe,
)
from o_lisp.guardian._restart import Backoff, RestartPolicy, Rollback
from o_lisp.guardian._standby import Standby
from o_lisp.guardian._states import GuardianState, allowed_after
from o_lisp.guardian._vault import VaultError
from o_lisp.guardian._wal import WalError

__all__ = [
    "ErrorCode",
    "Guardian",
    "GuardianConfig",
    "GuardianError",
    "GuardianMetrics",
    "GuardianState",
    "RequestFailed",
    "SupervisorError",
]

log = logging.getLogger("o_lisp.guardian")

T = TypeVar("T")


class Guardian:
    """Supervises one agent worker and owns its WAL (``DATA/wal``) and vault (``DATA/checkpoints``)."""

    def __init__(self, config: GuardianConfig) -> None:
        self.config = config
        self.metrics = GuardianMetrics()
        self.state = GuardianState.STOPPED
        self.last_failure: str | None = None
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="o-guardian-io")
        self.durable = DurableStorage(config, self.metrics, self._io)
        self.appenders = Appenders(config, self.metrics, self.durable, self._appended)
        self.restarts = RestartPolicy(config.max_restarts, config.restart_window, config.max_backoff)
        self.standby = Standby(config, self.metrics, self.durable, self.appenders, self._standby_spec,
                               self.connect, lambda: self._stopping)
        self._fork_server: ForkServer | None = None
        self._link: WorkerLink | None = None
        self._serving = asyncio.Event()
        self._stopping = False
        self._started = time.monotonic()
        self._background: set[asyncio.Task[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        self._checkpoint_lock = asyncio.Lock()
        self._checkpoint_due = asyncio.Event()
        self._gave_up: asyncio.Future[str] | None = None
        self._worker_log: WorkerLog | None = None
        self.evolution = EvolutionManager(self, config.evolution)  # its host: this guardian (_ports.EvolutionHost)
        self._observer: EvolutionObserver = self.evolution  # all the supervisor calls of it

    # -- state, paths and blocking helpers -------------------------------------------------
    @property
    def status(self) -> str:
        """The life-cycle state's name (`GuardianState.value`)."""
        return self.state.value

    def change_state(self, new: GuardianState) -> None:
        """The one place the life-cycle state changes (`_states.TRANSITIONS` says which moves are allowed)."""
        old = self.state
        if new is old:
            return
        allowed = allowed_after(old)
        assert new in allowed, (f"guardian state {old.value} -> {new.value}: not allowed "
                                f"(from {old.value}: {', '.join(sorted(s.value for s in allowed))})")
        self.state = new
        log.debug("guardian state %s -> %s", old.value, new.value)

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    @property
    def worker_log(self) -> Path:
        """Where workers' stdout and stderr go (``DATA/logs/worker.log``, rotated by size)."""
        return self.data_dir / WORKER_LOG

    @property
    def last_escalation(self) -> dict[str, Any] | None:
        return self.restarts.last_escalation

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
        self.change_state(GuardianState.STARTING)
        self._started = time.monotonic()
        self._stopping = False
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            await self._io(self.durable.open)
            self._worker_log = WorkerLog(self.worker_log, cfg.worker_log_bytes, cfg.worker_log_files)
            try:
                await self._worker_log.open()
            except OSError as error:
                log.error("cannot open %s, workers print to the guardian's terminal: %s", self.worker_log, error)
                self._worker_log.close()
                self._worker_log = None
            if cfg.fork_server:
                await self._start_fork_server()
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
        if self.durable.cached is None:  # a first checkpoint pins the agent's identity and state
            with contextlib.suppress(SupervisorError):
                await self.checkpoint("initial")
        self._checkpointer = asyncio.create_task(self._checkpoint_loop(), name="o-checkpointer")
        await self._observer.begin()

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
        self.change_state(GuardianState.STOPPING)
        await self._observer.close()
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
        await self.standby.discard()
        if link is not None:
            await link.send(Shutdown(id=link.writer.next_id(), reason="guardian stopping", grace=self.config.shutdown_grace))
            try:
                await asyncio.wait_for(link.child.wait(), self.config.shutdown_grace)
            except TimeoutError:
                pass
            await link.terminate("guardian stopped")
        self._link = None
        self._serving.clear()
        await self.appenders.close()
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._fork_server is not None:
            await self._fork_server.stop()
            self._fork_server = None
        await self.durable.close()
        if self._worker_log is not None:
            await asyncio.sleep(0)  # what the last worker printed before exiting is usually in by now
            self._worker_log.close()
            self._worker_log = None
        self.change_state(GuardianState.STOPPED)

    # -- supervision ------------------------------------------------------------------------
    def _spec(self, *, standby: bool = False, rollback: Rollback | None = None) -> WorkerSpec:
        cfg = self.config
        return WorkerSpec(
            agent=str(cfg.agent.absolute()), data_dir=str(cfg.data_dir.absolute()),
            debug_methods=cfg.debug_methods, pipelined=cfg.pipelined, standby=standby,
            address_space=cfg.worker_address_space,
            tools=cfg.tools, grants=cfg.grants, limits=limit_pairs(cfg.limits), llm=cfg.llm,
            rollback_to=None if rollback is None else rollback.commit,
            rollback_reason="" if rollback is None else rollback.reason,
        )

    def _standby_spec(self) -> WorkerSpec:
        return self._spec(standby=True)

    async def _supervise(self) -> None:
        first = True
        while not self._stopping:
            began = time.monotonic()
            rollback = self.restarts.pending
            spec = self._spec(rollback=rollback)
            link = None
            if rollback is None and not first and self.config.standby:
                link = await self.standby.activate()
            else:
                await self.standby.discard()  # escalation: the standby runs the code being rolled back
            try:
                if link is None:
                    link = await self._launch(spec)
            except StartFailed as failure:
                await self._failed(f"start-up failed: {failure.reason}", failure.code_version)
                continue
            if self._stopping:  # stop() began while this worker came up: it is not served
                await link.terminate("guardian stopping")
                return
            self.restarts.served()
            self._link = link
            self.change_state(GuardianState.OK)
            self._serving.set()
            if not first:
                self.metrics.restart_to_serving_seconds.append(time.monotonic() - began)
            first = False
            log.info("worker %d serving %s", link.child.pid, link.code_version)
            if self.config.standby and self.durable.cached is not None:
                self.standby.refresh()
            reason = await self._watch(link)
            self._serving.clear()
            self._link = None
            if self._stopping:
                return
            self.change_state(GuardianState.RESTARTING)
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
        self.metrics.restarts += 1
        self.last_failure = reason
        promoted = self._observer.on_worker_failed(reason, code_version)
        if promoted is not None:  # a promoted version crashed on probation: back to its parent now
            self.restarts.roll_back(code_version, Rollback(*promoted))
            log.error("rolling back the promoted %s: %s", code_version, promoted[1])
            return
        log.warning("worker failed (%s): %s", code_version or "unknown version", reason)
        known = self.durable.known_good
        outcome = self.restarts.failed(time.monotonic(), code_version, CodeVersion.parse(code_version).commit, reason,
                                       None if known is None else str(known["commit"]))
        if isinstance(outcome, Rollback):
            self.metrics.escalations += 1
            log.error("escalating: rolling back to known-good %s: %s", outcome.commit, outcome.reason)
        elif isinstance(outcome, Backoff) and not self._stopping:
            self.change_state(GuardianState.CRASH_LOOP)
            if self._gave_up is not None and not self._gave_up.done() and not self._serving.is_set():
                self._gave_up.set_result(f"crash loop with no known-good version to fall back on ({reason})")
            log.error("crash loop and nothing to roll back to; retrying in %.1f s", outcome.seconds)
            await asyncio.sleep(outcome.seconds)

    # -- starting workers -----------------------------------------------------------------------
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

    async def connect(self, spec: WorkerSpec, created: list[WorkerLink],
                      link_class: type[WorkerLink] = WorkerLink) -> WorkerLink:
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
        if not issubclass(link_class, ShadowLink):
            # A dead worker's appends: durable ones must be in the restore. (A shadow starts
            # while the main worker serves: its appender runs as long as it does.)
            await self.appenders.drain()
        created: list[WorkerLink] = []
        try:
            link = await self.connect(spec, created, link_class)
        except asyncio.CancelledError:
            for orphan in created:
                orphan.die("the guardian stopped during start-up")
            raise
        try:
            if not isinstance(link, ShadowLink):  # a shadow never appends to the WAL
                self.appenders.start(link)
            restore, base = await self.durable.restore(link.writer.next_id())
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
        if self.config.standby and self.durable.cached is not None and not self._stopping:
            self.standby.refresh()

    def _appended(self, link: WorkerLink, batch: list[WalAppend], last: int) -> None:
        """A batch of `link`'s appends is durable (`Appenders`): tell evolution, schedule a checkpoint."""
        if link is self._link:
            for m in batch:
                if m.op == "evolution_intent":
                    self._observer.on_wal_record(m.op, m.args)
        if last - self.durable.checkpoint_seq >= self.config.checkpoint_wal_records:
            self._checkpoint_due.set()

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
            raise RequestFailed(f"hot reload timed out after {limit:g} s", ErrorCode.TIMEOUT) from None
        if isinstance(answer, Error):
            raise RequestFailed(answer.message or answer.code, answer.code)
        if not isinstance(answer, HotReloadAck):  # pragma: no cover - _dispatch pairs types by id only
            raise RequestFailed(f"unexpected {answer.TYPE!r} answer", ErrorCode.INTERNAL)
        link.code_version = answer.code_version
        if self.config.standby:
            self.standby.refresh()  # it loaded the old code
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
        if message.wal_seq != covered:
            log.debug("worker says its checkpoint covers %d; the acks say %d", message.wal_seq, covered)
        try:
            stored = await self.durable.store_checkpoint(message.state, covered)
        except (VaultError, WalError, OSError) as error:
            self.metrics.checkpoint_failures += 1
            await link.send(Error(id=link.writer.next_id(), re=message.id, code=ErrorCode.INTERNAL, message=str(error)[:1000]))
            raise SupervisorError(f"checkpoint not stored: {error}") from error
        await link.send(CheckpointAck(id=link.writer.next_id(), re=message.id,
                                      checkpoint_id=str(stored["id"]), wal_seq=covered))
        if self.config.standby and not self._stopping:
            self.standby.refresh()  # from the new checkpoint: less WAL to replay on a takeover
        return stored

    async def _checkpoint_loop(self) -> None:
        cfg = self.config
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._checkpoint_due.wait(), min(cfg.checkpoint_interval, 1.0))
            self._checkpoint_due.clear()
            if not self._serving.is_set() or self.durable.wal is None:
                continue
            by_time = time.monotonic() - self.durable.checkpoint_time >= cfg.checkpoint_interval
            by_size = self.durable.records_since_checkpoint() >= cfg.checkpoint_wal_records
            if not (by_time or by_size):
                continue
            try:
                await self.checkpoint("interval" if by_time else "wal size")
            except SupervisorError as error:
                log.error("scheduled checkpoint failed: %s", error)
                self.durable.checkpoint_time = time.monotonic()  # retry at the next interval, not in a loop

    # -- known-good versions --------------------------------------------------------------------
    async def _mark_known_good(self, link: WorkerLink, why: str) -> None:
        commit = link.commit
        if not commit or self.durable.is_known_good(commit):
            return
        if self._observer.in_probation():  # a promoted version is known-good once its probation passed
            return
        await self.durable.record_known_good(commit, link.version, why)

    @property
    def known_good(self) -> dict[str, Any] | None:
        """The last code version that served successfully (``DATA/known_good``)."""
        return self.durable.known_good

    # -- requests ---------------------------------------------------------------------------------
    async def _serving_link(self, deadline: float) -> WorkerLink:
        while True:
            link = self._link
            if link is not None and link.serving_since is not None and not link.dead.done():
                return link
            if self._stopping or self._supervisor is None:
                raise RequestFailed("the guardian is not running", ErrorCode.UNAVAILABLE)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestFailed("no worker is serving", ErrorCode.UNAVAILABLE)
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
            self._observer.mirror(method, args or {})
        try:
            link = await self._serving_link(started + limit)
            try:
                message = Request(id=link.writer.next_id(), method=method, args=dict(args or {}), timeout=limit)
            except ProtocolError as error:
                raise RequestFailed(f"bad request: {error}", ErrorCode.BAD_REQUEST) from None
            if on_text is not None:
                link.streams[message.id] = on_text
            try:
                answer = await link.call(message, max(0.0, started + limit - time.monotonic()))
            except TimeoutError:
                raise RequestFailed(f"{method} timed out after {limit:g} s", ErrorCode.TIMEOUT) from None
            finally:
                link.streams.pop(message.id, None)
            if isinstance(answer, Error):
                raise RequestFailed(answer.message or answer.code, answer.code)
            if not isinstance(answer, Reply):  # pragma: no cover - _dispatch pairs types by id only
                raise RequestFailed(f"unexpected {answer.TYPE!r} answer", ErrorCode.INTERNAL)
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
                self._observer.observe(method, outcome, time.monotonic() - started)

    # -- observability ------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """For ``GET /health``: "ok" only while a worker is serving."""
        link = self._link
        serving = link is not None and link.serving_since is not None and not link.dead.done()
        now = time.monotonic()
        durable = self.durable
        restart_times = self.metrics.restart_to_serving_seconds
        if not serving:
            status = self.status if self.state is not GuardianState.OK else GuardianState.RESTARTING.value
        else:
            status = "ok" if durable.wal_error is None else "degraded"
        return {
            "status": status,
            "worker_pid": link.child.pid if serving and link is not None else None,
            "version": link.version if serving and link is not None else None,
            "commit": link.commit if serving and link is not None else None,
            "uptime_s": round(now - self._started, 3),
            "worker_uptime_s": round(now - link.serving_since, 3) if serving and link is not None and link.serving_since else None,
            "restarts": self.metrics.restarts,
            "last_heartbeat_ms": round((now - link.last_heartbeat) * 1000, 1) if link is not None else None,
            "last_checkpoint": None if durable.last_checkpoint is None else dict(durable.last_checkpoint),
            "wal_seq": durable.wal_seq,
            "wal_error": durable.wal_error,
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

    @property
    def serving_link(self) -> WorkerLink | None:
        """The serving worker's link (None between workers): for tests and diagnostics."""
        return self._link
