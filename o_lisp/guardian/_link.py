"""The guardian's side of one worker: calls in flight, liveness, and held answers.

A `WorkerLink` reads the worker's frames, answers calls, queues its ``wal_append``s
for the guardian's appender and holds every other answer until the appends the
worker sent before it are durable (see "Held answers" in `_supervisor`). A
`ShadowLink` is the link of an evolution trial, which may not append to the WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

from o_lisp.guardian._errors import RequestFailed
from o_lisp.guardian._process import Child, cancel_and_wait
from o_lisp.guardian._protocol import (
    AsyncFrameReader,
    AsyncFrameWriter,
    Checkpoint,
    CodeVersion,
    Error,
    ErrorCode,
    Heartbeat,
    HotReloadAck,
    Message,
    MetricsReply,
    ProtocolError,
    Reply,
    RestoreAck,
    Token,
    WalAppend,
)

__all__ = ["ShadowLink", "WorkerLink"]

log = logging.getLogger("o_lisp.guardian")


class WorkerLink:
    """The guardian's side of one worker: pending calls, liveness, what it was acked."""

    def __init__(self, child: Child, reader: AsyncFrameReader, writer: AsyncFrameWriter, *, pipelined: bool,
                 on_checkpoint: Callable[[WorkerLink, Checkpoint, int], None]) -> None:
        self.on_checkpoint = on_checkpoint  # an unsolicited checkpoint (before a risky step), with what it covers
        self.child = child
        self.reader = reader
        self.writer = writer
        self.pending: dict[int, asyncio.Future[Message]] = {}
        self.late: deque[int] = deque(maxlen=4096)  # ids of calls that timed out: answers are dropped
        self.checkpoint_covers: dict[int, int] = {}
        self.code_version = ""
        self.last_heartbeat = time.monotonic()
        self.busy: int | None = None
        self.serving_since: float | None = None
        self.acked_seq = 0
        self.ok_replies = 0
        self.dead: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader_task: asyncio.Task[None] | None = None
        # Durability of what the worker says (see "Held answers" in the module docstring).
        self.pipelined = pipelined
        self.appends_received = 0  # wal_append frames read from this worker, in pipe order
        self.appends_done = 0  # of those, answered (acked or refused), always in the same order
        self.append_queue: deque[tuple[int, int, WalAppend]] = deque()  # (index, epoch, frame)
        self.append_wakeup = asyncio.Event()
        self.held: deque[tuple[int, int, Message]] = deque()  # (appends received before it, epoch, answer)
        self.epoch = 0  # +1 when a resync restore is acknowledged: the worker's state is clean again
        self.failed: tuple[int, int] | None = None  # (epoch, index) of the first append that failed
        self.resync_ids: set[int] = set()  # ids of the `restore` frames sent to resync this worker
        self.resyncs = 0
        self.streams: dict[int, Callable[[str], None]] = {}  # request id -> where its `token` frames go

    @property
    def commit(self) -> str:
        return CodeVersion.parse(self.code_version).commit

    @property
    def version(self) -> str:
        return CodeVersion.parse(self.code_version).version

    def start_reading(self) -> None:
        self._reader_task = asyncio.create_task(self._read_loop(), name=f"o-worker-{self.child.pid}")

    async def call(self, message: Message, timeout: float) -> Message:
        """Send a message that expects an answer; TimeoutError after `timeout` s."""
        if self.dead.done():
            raise RequestFailed(f"the worker died ({self.dead.result()})", ErrorCode.WORKER_DIED)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()
        self.pending[message.id] = future
        # A bare timer rather than `asyncio.timeout`: this runs for every request.
        timer = loop.call_at(loop.time() + timeout, self._time_out, message.id, future)
        try:
            self.writer.write_nowait(message)
            if self.writer.congested:
                await self.writer.drain()
            return await future
        except TimeoutError:  # from `_time_out` (and an OSError: not a closed pipe)
            raise
        except (OSError, ConnectionError):
            self.pending.pop(message.id, None)
            raise RequestFailed("the worker's pipe is closed", ErrorCode.WORKER_DIED) from None
        finally:
            timer.cancel()

    def _time_out(self, message_id: int, future: asyncio.Future[Message]) -> None:
        """A call's time is up: its answer, should it come, will be dropped."""
        if self.pending.pop(message_id, None) is not None:
            self.late.append(message_id)
        if not future.done():
            future.set_exception(TimeoutError())

    async def send(self, message: Message) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            await self.writer.write(message)

    async def _read_loop(self) -> None:
        reason = "the worker closed its pipe"
        try:
            while True:
                message = await self.reader.read()
                if message is None:
                    break
                self.last_heartbeat = time.monotonic()
                self._dispatch(message)
        except ProtocolError as error:
            reason = f"protocol error: {error}"
            log.error("worker %d: %s", self.child.pid, error)
        except (OSError, ConnectionError) as error:
            reason = f"pipe error: {error}"
        finally:
            self.die(reason)

    def _dispatch(self, message: Message) -> None:
        if isinstance(message, Heartbeat):
            self.busy = message.busy
        elif isinstance(message, Token):  # provisional text of a streamed request: passed on at once
            on_text = self.streams.get(message.re)
            if on_text is not None:
                on_text(message.text)
        elif isinstance(message, WalAppend):
            self.appends_received += 1
            self.append_queue.append((self.appends_received, self.epoch, message))
            self.append_wakeup.set()
        elif isinstance(message, Reply | Error | RestoreAck | Checkpoint | MetricsReply | HotReloadAck):
            if isinstance(message, Error) and message.re is None:  # an Error about the connection
                log.warning("worker %d: %s", self.child.pid, message)
                return
            if isinstance(message, RestoreAck) and message.re in self.resync_ids:
                self.epoch += 1  # everything after this frame was produced on the restored state
            if self.held or self.appends_done < self.appends_received:
                self.held.append((self.appends_received, self.epoch, message))
            else:
                self._deliver(self.appends_received, self.epoch, message)
        else:
            raise ProtocolError(f"unexpected {message.TYPE!r} from a worker")

    def append_done(self) -> None:
        """One more wal_append answered (in order): release the answers that were waiting for it."""
        self.appends_done += 1
        held = self.held
        while held and held[0][0] <= self.appends_done:
            tag, epoch, message = held.popleft()
            try:
                self._deliver(tag, epoch, message)
            except ProtocolError as error:
                log.error("worker %d: %s", self.child.pid, error)
                self.die(f"protocol error: {error}")
                return

    def refuses(self, epoch: int) -> bool:
        """Appends of this epoch are refused: an earlier one failed and the worker applied it anyway."""
        return self.failed is not None and self.failed[0] == epoch

    def _deliver(self, tag: int, epoch: int, message: Message) -> None:
        """Pass on an answer whose wal_appends (the `tag` received before it) are all answered.

        When one of them failed, the answer may show state that is not durable: it is
        replaced by a ``not_durable`` error (a checkpoint is refused).
        """
        failed = self.failed
        tainted = (failed is not None and failed[0] == epoch and tag >= failed[1]
                   and not isinstance(message, RestoreAck))
        if isinstance(message, Checkpoint) and message.re is None:  # the worker's own, before a risky step
            if tainted:
                self.send_nowait(Error(id=self.writer.next_id(), re=message.id, code=ErrorCode.NOT_DURABLE,
                                       message="an earlier mutation was not durable"))
            else:
                self.on_checkpoint(self, message, self.acked_seq)
            return
        assert isinstance(message, Reply | Error | RestoreAck | Checkpoint | MetricsReply | HotReloadAck)
        re = message.re
        assert re is not None
        future = self.pending.pop(re, None)
        if future is None:
            if re in self.late:
                return
            raise ProtocolError(f"{message.TYPE!r} answers {re}, which is not outstanding")
        if tainted:
            message = Error(id=message.id, re=re, code=ErrorCode.NOT_DURABLE,
                            message="not durable: a mutation it depends on could not be made durable")
        elif isinstance(message, Checkpoint):
            # What the state covers: every mutation the worker logged before it, all acked now.
            self.checkpoint_covers[message.id] = self.acked_seq
        if not future.done():
            future.set_result(message)

    def send_nowait(self, *messages: Message) -> None:
        """Queue frames for the worker in one write (no waiting; a closed pipe is ignored)."""
        with contextlib.suppress(OSError, ConnectionError, RuntimeError):
            self.writer.write_many_nowait(messages)

    def die(self, reason: str) -> None:
        """Mark the worker dead: fail every call in flight, kill it, close the pipes."""
        if not self.dead.done():
            self.dead.set_result(reason)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(RequestFailed(f"the worker died ({reason})", ErrorCode.WORKER_DIED))
        self.pending.clear()
        self.held.clear()
        self.append_wakeup.set()  # the appender drops what it has not started
        self.child.kill()
        self.reader.close()
        self.writer.close()

    async def terminate(self, reason: str, timeout: float = 10.0) -> int | None:
        """Kill (if still alive), close, reap; the exit status if it came in time."""
        self.die(reason)
        await cancel_and_wait(self._reader_task)
        try:
            return await asyncio.wait_for(self.child.wait(), timeout)
        except TimeoutError:
            log.error("worker %d did not exit within %s s of SIGKILL", self.child.pid, timeout)
            return None


class ShadowLink(WorkerLink):
    """A shadow worker (an evolution trial): it logs to its own scratch area, so a WAL
    append or a checkpoint from it is a protocol violation and ends it."""

    def _dispatch(self, message: Message) -> None:
        if isinstance(message, WalAppend) or (isinstance(message, Checkpoint) and message.re is None):
            raise ProtocolError(f"a shadow worker may not send {message.TYPE!r}")
        super()._dispatch(message)
