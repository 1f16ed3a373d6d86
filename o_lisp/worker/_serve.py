"""A worker process's main loop and its request handlers.

This and the rest of `o_lisp.worker` are the only code that runs agent code, in
processes of their own: the guardian (`o_lisp.guardian._supervisor`) never imports
it. A worker is forked by the zygote (`o_lisp.worker._zygote`) or started directly
(``python -m o_lisp.worker worker IN_FD OUT_FD SPEC_JSON``) when the fork server is
disabled or being restarted.

A worker (`run_worker`):

1. dies with its parent (``PR_SET_PDEATHSIG``) and exits on EOF on its frame pipe,
   so a dead guardian never leaves workers behind;
2. prepares the code (open/create the agent's git repository, import seed edits,
   and — when the guardian escalated a crash loop — roll back to the last
   known-good commit, recording why), then says ``hello`` with its code version
   ``SEMVER+COMMIT`` (so the guardian learns which commit crashes even when the
   crash comes later);
3. waits for ``restore``: rebuilds `AgentState.from_data(checkpoint)`, replays the
   WAL records *without* logging them again, and only then hooks the WAL into
   `AgentState.on_mutation` and constructs the `Agent` (whose own start-up
   mutations are logged like any other);
4. serves requests one at a time on its main thread while a heartbeat thread
   reports liveness (and which request is in progress).

The durable mutation, two modes (`WorkerSpec.pipelined`):

* **Pipelined** (default): the listener sends ``wal_append`` and returns, so
  `AgentState.apply` applies the mutation at once and the worker goes on with the
  request and the next ones; acks are read between requests. The worker does not
  hold its replies back: the guardian does, passing an answer on only once every
  append this worker sent before it is durable, so no client sees state that is
  not (see `_supervisor`). A ``not_durable`` refusal means the state now holds a
  mutation that is not durable: the worker stops serving (`diverged`; requests
  that arrive are deferred) until the guardian sends a ``restore`` with the
  durable state, rebuilds state and agent from it in place, then serves the
  deferred requests.
* **Strict**: the listener blocks until the matching ``wal_ack`` (the guardian
  fsynced it) before the mutation is applied; frames that arrive meanwhile are
  queued for the main loop. An ``error`` instead of the ack raises `NotDurable`,
  so the mutation is not applied and the request fails.

Outgoing frames are buffered and written in one syscall when the worker is about
to wait for the guardian (`_Worker.send`, `_Worker.flush`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import resource
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from o_lisp._evalthread import evaluation_cpu_ns, run_on_deep_thread, trim_deep_stack
from o_lisp._limits import Limits
from o_lisp.guardian._protocol import (
    RESTORE_MODES,
    BadRequest,
    Checkpoint,
    CheckpointAck,
    CheckpointRequest,
    CodeVersion,
    Error,
    ErrorCode,
    FrameReader,
    FrameWriter,
    Heartbeat,
    HotReload,
    HotReloadAck,
    Message,
    Metrics,
    MetricsReply,
    ProtocolError,
    Reply,
    Request,
    Restore,
    RestoreAck,
    Shutdown,
    Token,
    WalAck,
    WalAppend,
    WorkerSpec,
    encode_frame,
    encode_frame_unchecked,
    worker_handshake,
)
from o_lisp.worker._llm import REPLIES_DIRECTORY, llm_settings, write_llm_metrics

__all__ = [
    "EXIT_GUARDIAN_GONE",
    "EXIT_PROTOCOL",
    "EXIT_START_FAILED",
    "NotDurable",
    "run_worker",
]

EXIT_GUARDIAN_GONE = 0
"""EOF on the frame pipe or a `shutdown`: the guardian is done with us."""
EXIT_PROTOCOL = 2
"""A bad frame from the guardian (the trusted side): a bug or a version skew."""
EXIT_START_FAILED = 3
"""The code could not be prepared, loaded or restored: a start-up crash."""

_PR_SET_PDEATHSIG = 1
_OUTBOX_BYTES = 256 * 1024


class NotDurable(Exception):
    """The guardian could not make a mutation durable; it must not be applied."""


class _GuardianGone(Exception):
    """EOF on the frame pipe while waiting for the guardian."""


def die_with_parent() -> None:
    """Ask Linux to SIGKILL us when our parent dies; exit now if it already has.

    Belt and braces with EOF detection: a worker blocked inside agent code does not
    read its pipe, but it still must not outlive the guardian.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent == 1 or os.getppid() != parent:
        os._exit(EXIT_GUARDIAN_GONE)


def apply_process_limits(spec: WorkerSpec) -> None:
    """A worker's process limits: a shadow's candidate that runs away kills only its shadow,
    and no worker's memory grows past its address-space limit.

    RLIMIT_CPU: SIGXCPU at the soft limit (the default action ends the process) and
    SIGKILL at the hard limit a second later. RLIMIT_AS: allocations beyond it fail,
    which the sandbox reports as an error or which ends the process.
    """
    if spec.nice > 0:  # before any thread starts: on Linux niceness is per thread, and inherited
        os.nice(spec.nice)
    if spec.cpu_seconds is not None:
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime) + spec.cpu_seconds
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
    if spec.address_space is not None:
        limit = _virtual_size() + spec.address_space
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _virtual_size() -> int:
    """This process's address space now (VmSize), in bytes."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


# ---------------------------------------------------------------------------------------
# The worker
# ---------------------------------------------------------------------------------------


class _Heartbeat(threading.Thread):
    """Sends `heartbeat` every interval, even while the main thread is busy in agent code.

    It is a Python thread, so it needs the GIL: while the main thread is stuck in one C
    call that holds the GIL (a hash-flooded set, a comparison of huge shared structures)
    no heartbeat goes out, and the guardian kills the worker after `heartbeat_timeout`
    (``debug_c_stall`` tests exactly that). A worker busy in bytecode, or in C that
    releases the GIL, keeps beating; its request is bounded by `request_timeout` and the
    evaluation budgets. `stop()` is used by ``debug_hang`` to simulate a wedged worker.
    """

    def __init__(self, writer: FrameWriter, interval: float, busy: Callable[[], int | None]) -> None:
        super().__init__(name="o-heartbeat", daemon=True)
        self.writer = writer
        self.interval = interval
        self.busy = busy
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def beat(self) -> None:
        self.writer.write(Heartbeat(id=self.writer.next_id(), time=time.time(), busy=self.busy(), rss=_rss_bytes()))

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.beat()
            except (OSError, ProtocolError):
                return  # the pipe is gone; the main thread sees EOF and exits


class _Worker:
    """One worker's main loop: restore, then requests, checkpoints and metrics in order."""

    def __init__(self, spec: WorkerSpec, reader: FrameReader, writer: FrameWriter) -> None:
        self.spec = spec
        self.reader = reader
        self.writer = writer
        self.inbox: deque[Message] = deque()
        self.agent: Any = None
        self.agent_spec: Any = None
        self.repository: Any = None
        self.code_version = ""
        self.applied_seq = 0  # the last WAL seq this worker applied (informational: the guardian
        # decides what a checkpoint covers from the acks it sent, never from the worker's word)
        self.current: int | None = None  # id of the request being processed
        self.heartbeat: _Heartbeat | None = None
        self.lab: Any = None  # o_lisp.worker._lab.Lab, created after restore
        self.host_tools: dict[str, Any] | None = None  # loaded from spec.tools at the first restore
        self.requests = 0
        self.errors = 0
        self.wal_appends = 0
        self.risky_checkpoints = 0
        self.resyncs = 0
        self.outstanding: deque[int] = deque()  # ids of wal_appends sent and not yet answered, in order
        self.durable_now: frozenset[str] = frozenset()  # `agent._state.DURABLE_NOW`, set at restore (lazy import)
        self.diverged = False  # a pipelined append was refused: the state holds a mutation that is not durable
        self.deferred: deque[Message] = deque()  # requests that arrived while diverged: served after the restore
        self.standby = False  # restored in "standby" mode: loaded, not serving, must not mutate
        self.replaying = False
        self.seed_text = ""
        self.outbox: list[bytes] = []  # encoded frames not yet written (`send`, `flush`)
        self.outbox_bytes = 0

    # -- code ---------------------------------------------------------------------------
    def prepare_code(self) -> None:
        """Open (or create) the repository, import seed edits, roll back if told to.

        As `Agent.load` (`open_code_repository`) up to, but not including, loading the code: the
        interpreter is built only after the state is restored, so that start-up
        mutations land on the restored state and are logged.
        """
        # The agent runtime (NumPy, Numba, pygit2) is imported on first use, not with this
        # module: the zygote must set their environment before they load (`_zygote._preload`).
        from o_lisp.agent._agent import SEED_COPY, Seed, open_code_repository, spec_from_repository
        from o_lisp.agent._repo import CodeRepository, RepositoryError

        seed = Seed.read(self.spec.agent)
        data = Path(self.spec.data_dir)
        self.seed_text = seed.text
        if self.spec.shadow or self.spec.standby:
            # Read-only: the serving worker owns the repository and may be committing right
            # now (a rewrite, a rollback), so its worktree may differ from HEAD for a moment.
            # Everything is read at one commit, so the code and its version agree.
            if not self.spec.shadow:
                copy = data / SEED_COPY
                if not copy.exists() or copy.read_text("utf-8") != seed.text:
                    raise RuntimeError("the seed file has edits no serving worker has imported yet")
            self.repository = CodeRepository.open(data / "code", require_clean_worktree=False)
            head = self.repository.head()
            self.agent_spec = spec_from_repository(self.repository, seed.spec, head)
            self.code_version = str(CodeVersion(self.repository.version(head), head))
            return
        repository, _ = open_code_repository(seed, data)
        if self.spec.rollback_to:
            try:
                repository.rollback(
                    self.spec.rollback_to,
                    self.spec.rollback_reason or "the current version crash-looped",
                    trailers={"Rolled-Back-By": "guardian"},
                )
            except RepositoryError as error:
                if "already has the code" not in str(error):
                    raise
        self.repository = repository
        self.agent_spec = spec_from_repository(repository, seed.spec)
        self.code_version = str(CodeVersion(repository.version(), repository.head()))

    # -- frames ---------------------------------------------------------------------------
    def next_message(self) -> Message | None:
        if self.inbox:
            return self.inbox.popleft()
        return self.read()

    def read(self) -> Message | None:
        """The next frame from the guardian; what `send` buffered goes out before we block."""
        message = self.reader.parser.next()
        if message is not None:
            return message
        self.flush()
        return self.reader.read()

    def send(self, message: Message) -> None:
        """Queue a frame (encoded now, so an unencodable one raises here); `flush` writes them.

        Frames go out in one write when the worker is about to wait for the guardian, or
        when `_OUTBOX_BYTES` have piled up: a burst of requests costs one syscall for all
        their appends and replies instead of two each.
        """
        self.send_frame(encode_frame(message, self.writer.max_frame))

    def send_frame(self, frame: bytes) -> None:
        """`send` for a frame encoded already (`encode_frame_unchecked`)."""
        self.outbox.append(frame)
        self.outbox_bytes += len(frame)
        if self.outbox_bytes >= _OUTBOX_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.outbox:
            data = b"".join(self.outbox)
            self.outbox.clear()
            self.outbox_bytes = 0
            self.writer.write_raw(data)

    def on_mutation(self, seq: int, op: str, args: dict[str, Any]) -> None:
        """Log the mutation before `AgentState.apply` applies it.

        Pipelined: send the ``wal_append`` and return at once (the guardian holds every
        later answer of this worker until the append is durable). Strict: block until
        the ack, so that nothing unacknowledged is ever applied.
        """
        if self.diverged:
            raise NotDurable(f"mutation {op!r} refused: an earlier mutation was not durable")
        append_id = self.writer.next_id()
        # Unchecked: `AgentState.apply` has just checked op and args (the guardian checks again).
        self.send_frame(encode_frame_unchecked(WalAppend, self.writer.max_frame, id=append_id, op=op, args=args))
        if self.spec.pipelined:
            self.outstanding.append(append_id)
            if op in self.durable_now:  # a model's reply: durable before it is used (never paid for twice)
                self.await_durable(op, append_id)
            return
        while True:
            message = self.read()
            if message is None:
                raise _GuardianGone()
            if isinstance(message, WalAck) and message.re >= append_id:  # cumulative
                self.applied_seq = message.seq
                self.wal_appends += 1
                return
            if isinstance(message, Error) and message.re == append_id:
                raise NotDurable(f"mutation {op!r} is not durable: {message.message}")
            self.inbox.append(message)

    def await_durable(self, op: str, append_id: int) -> None:
        """Pipelined: wait until the append `append_id` is acknowledged (`DURABLE_NOW`);
        other frames that arrive meanwhile are queued for the main loop."""
        self.flush()
        while append_id in self.outstanding:
            message = self.read()
            if message is None:
                raise _GuardianGone()
            if self.wal_answer(message):
                if self.diverged:
                    raise NotDurable(f"mutation {op!r} is not durable")
                continue
            self.inbox.append(message)

    def wal_answer(self, message: Message) -> bool:
        """Handle the answer to a pipelined ``wal_append``; False if `message` is something else.

        A refusal means the state holds a mutation that is not durable: the worker stops
        serving (`diverged`) until the guardian's ``restore`` gives it the durable state.
        Answers to appends sent before that restore are ignored.
        """
        if isinstance(message, WalAck):  # cumulative: every outstanding append up to `re`
            outstanding = self.outstanding
            acked = 0
            while outstanding and outstanding[0] <= message.re:
                outstanding.popleft()
                acked += 1
            if acked:
                self.applied_seq = message.seq
                self.wal_appends += acked
            return True
        if isinstance(message, Error) and message.re is not None and message.code == ErrorCode.NOT_DURABLE:
            if message.re in self.outstanding:  # a short deque: the appends of one burst
                self.diverged = True
                self.outstanding.clear()
            return True
        return False

    def checkpoint_before(self, reason: str) -> None:
        """`Agent.before_risky`: a checkpoint, durable in the vault, before the code changes.

        Sent on the worker's own initiative (``re`` None) and waited for: the rewrite or
        reload goes ahead only after the guardian's `CheckpointAck`; its `Error` raises
        `NotDurable` and the operation is abandoned. A `CheckpointRequest` that arrives
        meanwhile is answered at once (the guardian may hold its checkpoint lock for it).
        """
        state = self.agent.state.to_data()
        message = Checkpoint(id=self.writer.next_id(), state=state, wal_seq=self.applied_seq)
        self.send(message)
        while True:
            answer = self.read()
            if answer is None:
                raise _GuardianGone()
            if isinstance(answer, CheckpointAck) and answer.re == message.id:
                self.risky_checkpoints += 1
                return
            if isinstance(answer, Error) and answer.re == message.id:
                raise NotDurable(f"no checkpoint before {reason}: {answer.message}")
            if isinstance(answer, CheckpointRequest):
                self.checkpoint(answer)
            elif not self.wal_answer(answer):
                self.inbox.append(answer)

    # -- main loop --------------------------------------------------------------------------
    def serve(self) -> int:
        """The main loop. It runs on a deep-stack thread (`run_worker`), so the agent's
        evaluations run inline on it; the stack they touched is trimmed after each message."""
        while True:
            trim_deep_stack()
            message = self.next_message()
            if message is None or isinstance(message, Shutdown):
                return EXIT_GUARDIAN_GONE
            if self.wal_answer(message):
                continue
            if self.diverged and isinstance(message, Request | CheckpointRequest | HotReload | Metrics):
                self.deferred.append(message)  # nothing may run on state that is not durable
                continue
            if isinstance(message, Restore):
                if not self.restore(message):
                    return EXIT_START_FAILED
                self.inbox.extendleft(reversed(self.deferred))
                self.deferred.clear()
            elif isinstance(message, Request):
                self.handle(message)
            elif isinstance(message, CheckpointRequest):
                self.checkpoint(message)
            elif isinstance(message, Metrics):
                self.send(MetricsReply(id=self.writer.next_id(), re=message.id, metrics=self.metrics()))
            elif isinstance(message, HotReload):
                self.hot_reload(message)
            elif isinstance(message, CheckpointAck):
                pass  # the vault has it; nothing for the worker to do
            elif isinstance(message, Error):
                print(f"o-lisp worker: error from the guardian: {message.code}: {message.message}", file=sys.stderr)
            else:
                raise ProtocolError(f"unexpected {message.TYPE!r} message from the guardian")

    def listen(self, seq: int, op: str, args: dict[str, Any]) -> None:
        """The state's mutation listener: replayed records are not logged again; a standby
        must not change its state at all (it would not be logged); else `on_mutation`."""
        if self.replaying:
            return
        if self.standby:
            raise NotDurable(f"mutation {op!r} in a standby worker (it does not log)")
        self.on_mutation(seq, op, args)

    def code_changed(self) -> str | None:
        """Why the code this worker loaded is no longer what a new worker would load, or None."""
        version = str(CodeVersion(self.repository.version(), self.repository.head()))
        if version != self.code_version:
            return f"the repository is at {version}, this worker loaded {self.code_version}"
        try:
            if Path(self.spec.agent).read_text("utf-8") != self.seed_text:
                return "the seed file changed (a new worker would import the edits)"
        except OSError as error:
            return f"cannot read the seed file: {error}"
        return None

    def resume(self, message: Restore) -> bool:
        """A standby takes over: the WAL records since its checkpoint, then serve (`Restore` "resume")."""
        why = "not a standby" if not self.standby or self.agent is None else self.code_changed()
        if why is not None:
            self.send(Error(id=self.writer.next_id(), re=message.id, code=ErrorCode.BAD_REQUEST, message=f"cannot resume: {why}"))
            return True  # the guardian kills us and starts a fresh worker
        gc.disable()
        try:
            self.replaying = True
            self.replay(self.agent.state, message)
        finally:
            self.replaying = False
            gc.enable()
        self.standby = False
        self.send(RestoreAck(id=self.writer.next_id(), re=message.id, wal_seq=self.applied_seq))
        return True

    def replay(self, state: Any, message: Restore) -> None:
        applied = 0
        for record in message.wal:
            try:
                state.apply(record.op, record.args)
            except Exception as error:  # a record that failed when first applied fails again
                print(f"o-lisp worker: replaying WAL record {record.seq} ({record.op}) failed: {error}", file=sys.stderr)
            applied = record.seq
        self.applied_seq = max(applied, self.applied_seq)

    def restore(self, message: Restore) -> bool:
        """Checkpoint + WAL replay (not re-logged), then hook the WAL and load the code.

        The garbage collector is off meanwhile (a restore allocates millions of objects
        that all survive: collections would only walk them) and the survivors are moved
        to the permanent generation afterwards (`gc.freeze`), so later collections do
        not walk the agent's memory either.
        """
        if message.mode == "resume":
            return self.resume(message)
        if message.mode not in RESTORE_MODES:
            self.send(Error(id=self.writer.next_id(), re=message.id, code=ErrorCode.BAD_REQUEST,
                            message=f"unknown restore mode {message.mode[:32]!r}"))
            return self.agent is not None  # a new worker without state has nothing to serve
        first = self.agent is None  # (not after a resync: the old state's cycles would never be freed)
        gc.disable()
        try:
            return self._restore(message)
        finally:
            gc.enable()
            if first:
                gc.freeze()

    def _restore(self, message: Restore) -> bool:
        from o_lisp.agent._agent import (  # as in prepare_code
            Agent,
            _memory_from_data,
            spec_from_repository,
        )
        from o_lisp.agent._state import DURABLE_NOW, AgentState  # as in prepare_code

        self.durable_now = DURABLE_NOW

        try:
            if message.mode == "standby" and (message.checkpoint is None or self.agent is not None):
                raise RuntimeError("a standby starts from a checkpoint, in a new worker")
            if self.agent is not None:  # a resync: drop the speculative state, rebuild from durable data
                self.agent_spec = spec_from_repository(self.repository, self.agent_spec)
                self.agent = None
                self.resyncs += 1
            self.outstanding.clear()
            self.diverged = False
            spec = self.agent_spec
            if message.checkpoint is not None:
                state = AgentState.from_data(message.checkpoint, _memory_from_data)
            else:
                state = AgentState(str(uuid.uuid4()), spec.name, spec.version)
            self.replay(state, message)
            self.standby = message.mode == "standby"
            from o_lisp.worker._lab import Lab  # the agent runtime: as in prepare_code

            if self.spec.shadow:  # an evolution trial: its own scratch log, no git writes
                self.lab = Lab(self, state)
            else:
                state.on_mutation(self.listen)
                if self.host_tools is None:  # once per worker: a resync reuses them
                    from o_lisp.agent._host_tools import load_host_tools  # as in prepare_code

                    self.host_tools = load_host_tools(self.spec.tools)
                limits = Limits(**dict(self.spec.limits)) if self.spec.limits else None
                self.agent = Agent(spec, Path(self.spec.data_dir), state=state, repository=self.repository,
                                   host_tools=self.host_tools, grants=self.spec.grants, limits=limits,
                                   llm_models=llm_settings(self.spec))
                self.agent.llm.share_replies(Path(self.spec.data_dir) / REPLIES_DIRECTORY, shadow=False)
                self.agent.before_risky = self.checkpoint_before
                self.agent.propose_rewrites = True  # the agent's own rewrites go through evolution
                self.lab = Lab(self, state)
        except _GuardianGone:
            raise
        except Exception as error:
            self.send(Error(id=self.writer.next_id(), re=message.id, code=ErrorCode.INTERNAL,
                            message=f"start-up failed: {type(error).__name__}: {error}"[:4000]))
            traceback.print_exc()
            return False
        self.send(RestoreAck(id=self.writer.next_id(), re=message.id, wal_seq=self.applied_seq))
        return True

    def checkpoint(self, message: CheckpointRequest) -> None:
        if self.agent is None or self.standby:
            self.send(Error(id=self.writer.next_id(), re=message.id, code=ErrorCode.BAD_REQUEST, message="not restored yet"))
            return
        state = self.agent.state.to_data()
        self.send(Checkpoint(id=self.writer.next_id(), re=message.id, state=state, wal_seq=self.applied_seq))

    def metrics(self) -> dict[str, int | float]:
        blocks = 0
        if self.agent is not None:
            for store in self.agent.state.memory_stores.values():
                with contextlib.suppress(Exception):
                    blocks += len(store)
        return {"requests_total": self.requests, "errors_total": self.errors, "wal_appends_total": self.wal_appends,
                "risky_checkpoints_total": self.risky_checkpoints, "resyncs_total": self.resyncs,
                "rss_bytes": _rss_bytes(), "memory_blocks": blocks, "state_seq": 0 if self.agent is None else self.agent.state.seq}

    def hot_reload(self, message: HotReload) -> None:
        """Reload the repository's HEAD; a version other than HEAD (or inline definitions) is refused."""
        try:
            if self.agent is None:
                raise RuntimeError("not restored yet")
            if message.definitions:
                raise RuntimeError("inline definitions are not supported; commit them to the repository")
            version = str(CodeVersion(self.repository.version(), self.repository.head()))
            if message.code_version not in (version, self.repository.head()):
                raise RuntimeError(f"HEAD is {version}, not {message.code_version}")
            self.agent.reload()
            self.code_version = version
        except Exception as error:
            self.send(Error(id=self.writer.next_id(), re=message.id, code=ErrorCode.RELOAD_FAILED, message=str(error)[:4000]))
            return
        self.send(HotReloadAck(id=self.writer.next_id(), re=message.id, code_version=self.code_version))

    # -- requests ---------------------------------------------------------------------------
    def handle(self, request: Request) -> None:
        self.current = request.id
        self.requests += 1
        started = evaluation_cpu_ns()  # per-thread CPU, µs resolution (see o_lisp._evalthread)
        ok = False
        reply: Message | None = None
        try:
            if self.agent is None or self.standby:
                raise BadRequest(ErrorCode.BAD_REQUEST, "the worker is not serving yet")
            result = self.dispatch(request.method, request.args)
            ok = True
        except _GuardianGone:
            raise
        except BadRequest as error:
            self.errors += 1
            reply = Error(id=self.writer.next_id(), re=request.id, code=error.code, message=error.message)
        except NotDurable as error:
            self.errors += 1
            reply = Error(id=self.writer.next_id(), re=request.id, code=ErrorCode.NOT_DURABLE, message=str(error)[:4000])
        except Exception as error:
            self.errors += 1
            reply = Error(id=self.writer.next_id(), re=request.id, code=ErrorCode.INTERNAL,
                          message=f"{type(error).__name__}: {error}"[:4000])
        finally:
            self.current = None
            if self.lab is not None:
                self.lab.observe(request.method, ok, (evaluation_cpu_ns() - started) / 1e6)
            if self.agent is not None and not self.spec.shadow and not self.standby:
                write_llm_metrics(self.spec)
        try:
            if reply is None:
                self.send_frame(encode_frame_unchecked(Reply, self.writer.max_frame, id=self.writer.next_id(),
                                                       re=request.id, result=result))
            else:
                self.send(reply)
        except ProtocolError as error:  # an unencodable or oversized result
            self.send(Error(id=self.writer.next_id(), re=request.id, code=ErrorCode.INTERNAL, message=str(error)[:4000]))

    def dispatch(self, method: str, args: dict[str, Any]) -> Any:
        agent = self.agent
        if method == "message":
            text = _arg(args, "text", str)
            if _arg(args, "stream", bool, False):  # a model's text goes out as it arrives (docs/llm.md)
                agent.llm.on_text = self.token_sender(self.current)
            try:
                reply, reply_id = self.lab.handle_message(text)
            finally:
                agent.llm.on_text = None
            return {"reply": reply, "reply_id": reply_id} if _arg(args, "with_id", bool, False) else reply
        if method == "feedback":
            rating = _arg(args, "rating", (int, float))
            if not -1.0 <= float(rating) <= 1.0:
                raise BadRequest(ErrorCode.BAD_REQUEST, "rating must be between -1 and 1")
            comment = _arg(args, "comment", str, "")
            reply_to = _arg(args, "reply_to", (str, type(None)), None)
            if reply_to is not None and not any(m.get("id") == reply_to and m.get("role") == "agent"
                                                for m in agent.state["messages"]):
                raise BadRequest(ErrorCode.NOT_FOUND, f"no reply {reply_to!r} (reply ids come from POST /v1/messages; "
                                               "only the most recent messages are kept)")
            return {"id": self.lab.feedback(float(rating), comment, reply_to)}
        if method.startswith(("evolution_", "canary_")):
            return self.lab.dispatch(method, args)
        if method == "memory_add":
            text = _arg(args, "text", str)
            metadata = _arg(args, "metadata", dict, {})
            importance = _arg(args, "importance", (int, float), 0.5)
            kind = _arg(args, "kind", str, "long_term")
            memory = _arg(args, "memory", (str, type(None)), None)
            return agent.memory_add(text, metadata=metadata, importance=float(importance), kind=kind, memory=memory)
        if method == "memory_get":
            block_id = _arg(args, "id", str)
            return agent.memory_get(block_id, memory=_arg(args, "memory", (str, type(None)), None))
        if method == "memory_search":
            query = _arg(args, "q", str)
            k = _arg(args, "k", int, 5)
            if not 1 <= k <= 1000:
                raise BadRequest(ErrorCode.BAD_REQUEST, "k must be between 1 and 1000")
            return agent.memory_search(query, k=k, memory=_arg(args, "memory", (str, type(None)), None))
        if method == "versions":
            return [
                {"commit": e.commit, "version": e.version, "summary": e.summary, "time": e.time,
                 "tags": list(e.tags), "trailers": dict(e.trailers)}
                for e in self.repository.history()
            ]
        if method.startswith("debug_") and self.spec.debug_methods:
            return self.debug(method, args)
        raise BadRequest(ErrorCode.UNKNOWN_METHOD, f"unknown method {method[:64]!r}")

    def token_sender(self, request: int | None) -> Callable[[str], None]:
        """`LLMRuntime.on_text` of a streamed message: each piece goes out at once as a
        ``token`` frame (from the request's helper thread; the writer is thread-safe)."""

        def send(text: str) -> None:
            if request is not None:
                self.writer.write(Token(id=self.writer.next_id(), re=request, text=text))

        return send

    def debug(self, method: str, args: dict[str, Any]) -> Any:
        """Test-only misbehaviour, enabled by `WorkerSpec.debug_methods`."""
        self.flush()
        seconds = float(_arg(args, "seconds", (int, float), 0.0))
        if method == "debug_sleep":  # busy but alive: heartbeats continue
            time.sleep(seconds)
            return seconds
        if method == "debug_c_stall":  # stuck in one C call that holds the GIL (nothing stops the heartbeat thread)
            return int(ctypes.PyDLL(None).sleep(int(seconds)))
        if method == "debug_allocate":  # one allocation of `bytes` (the address-space limit)
            try:
                return len(bytearray(int(_arg(args, "bytes", int))))
            except MemoryError:
                raise BadRequest(ErrorCode.BAD_REQUEST, "out of memory (the worker's address-space limit)") from None
        if method == "debug_hang":  # wedged: heartbeats stop too
            if self.heartbeat is not None:
                self.heartbeat.stop()
            time.sleep(seconds)
            return seconds
        if method == "debug_exit":
            os._exit(int(_arg(args, "code", int, 1)))
        if method == "debug_pid":
            return os.getpid()
        if method == "debug_raw":  # protocol fuzz: raw bytes on the frame pipe, then maybe exit
            data = bytes.fromhex(_arg(args, "hex", str))
            if self.heartbeat is not None:
                self.heartbeat.stop()
            with self.writer._lock:  # no heartbeat frame in the middle of the garbage
                os.write(self.writer.fd, data)
                if _arg(args, "exit", bool, False):
                    os._exit(0)
                time.sleep(seconds)  # keep the lock: nothing else may follow the garbage
            return len(data)
        if method == "debug_blocks":  # every block's (id, text), to check for duplicates
            return [[block_id, store.get(block_id).text]
                    for store in self.agent.state.memory_stores.values() for block_id in store.ids()]
        raise BadRequest(ErrorCode.UNKNOWN_METHOD, f"unknown method {method[:64]!r}")


def _arg(args: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if name not in args:
        if default is ...:
            raise BadRequest(ErrorCode.BAD_REQUEST, f"missing argument {name!r}")
        return default
    value = args[name]
    if isinstance(value, bool) and kind in (int, (int, float)):
        raise BadRequest(ErrorCode.BAD_REQUEST, f"argument {name!r} must be a number, not a boolean")
    if not isinstance(value, kind):
        raise BadRequest(ErrorCode.BAD_REQUEST, f"argument {name!r} has the wrong type ({type(value).__name__})")
    return value


def run_worker(spec: WorkerSpec, in_fd: int, out_fd: int) -> int:
    """Run one worker on its two frame-pipe fds until the guardian is done; the exit code."""
    die_with_parent()
    apply_process_limits(spec)
    reader = FrameReader(in_fd, max_depth=None)  # frames from the trusted guardian
    writer = FrameWriter(out_fd)
    worker = _Worker(spec, reader, writer)
    try:
        try:
            worker.prepare_code()
        except Exception:
            traceback.print_exc()
            return EXIT_START_FAILED
        welcome = worker_handshake(reader, writer, agent=worker.agent_spec.name, code_version=worker.code_version)
        heartbeat = _Heartbeat(writer, welcome.heartbeat_interval, lambda: worker.current)
        worker.heartbeat = heartbeat
        heartbeat.start()
        try:
            return int(run_on_deep_thread(worker.serve))
        finally:
            with contextlib.suppress(OSError, ProtocolError):
                worker.flush()
    except _GuardianGone:
        return EXIT_GUARDIAN_GONE
    except (ProtocolError, OSError) as error:
        if isinstance(error, BrokenPipeError):
            return EXIT_GUARDIAN_GONE
        print(f"o-lisp worker: {error}", file=sys.stderr)
        return EXIT_PROTOCOL
