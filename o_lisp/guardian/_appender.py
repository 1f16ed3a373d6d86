"""Each worker's WAL appends: batched, fsynced, acknowledged in order — or refused, then resynced.

One `Appenders` task per worker link writes that worker's ``wal_append``s in the
order they arrived: every append that queued up during the previous fsync goes into
one batch (one write, one fsync: `WriteAheadLog.append_many`), and each is acked
only after that fsync. A batch that fails is refused (``not_durable``) as a whole;
for a pipelined worker, which has already applied those mutations, every later
append of the same epoch is refused too (it was computed from state that is not
durable) and the worker is resynced: it gets the durable state back in a
``restore`` (see `_supervisor`'s docstring, "A failed append in a pipelined worker").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from o_lisp.guardian._config import GuardianConfig
from o_lisp.guardian._durable import DurableStorage
from o_lisp.guardian._errors import RequestFailed, SupervisorError
from o_lisp.guardian._link import WorkerLink
from o_lisp.guardian._metrics import GuardianMetrics
from o_lisp.guardian._protocol import (
    Error,
    ErrorCode,
    Message,
    RestoreAck,
    WalAck,
    WalAppend,
)
from o_lisp.guardian._wal import WalError

__all__ = ["MAX_BATCH", "Appenders"]

log = logging.getLogger("o_lisp.guardian")

MAX_BATCH = 1024
"""Most wal_appends in one write + fsync."""

OnDurable = Callable[[WorkerLink, list[WalAppend], int], None]
"""Called after a batch is durable and acked: the link, its appends, the last seq."""


class Appenders:
    """The appender tasks of every worker that may write the WAL, and the resyncs they start."""

    def __init__(self, config: GuardianConfig, metrics: GuardianMetrics, durable: DurableStorage,
                 on_durable: OnDurable) -> None:
        self.config = config
        self.metrics = metrics
        self.durable = durable
        self.on_durable = on_durable
        self._tasks: set[asyncio.Task[None]] = set()
        self._resyncs: set[asyncio.Task[None]] = set()

    def __bool__(self) -> bool:
        """Whether an appender is still running (a dead worker's appends may still become durable)."""
        return bool(self._tasks)

    def start(self, link: WorkerLink) -> None:
        task = asyncio.create_task(self._appender(link), name=f"o-wal-{link.child.pid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every appender, i.e. for dead workers' appends in flight (a restore must include them)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        for task in list(self._resyncs):
            task.cancel()
        if self._resyncs:
            await asyncio.gather(*self._resyncs, return_exceptions=True)

    async def _appender(self, link: WorkerLink) -> None:
        """Append one worker's mutations in the order it sent them, as few fsyncs as possible.

        Once the worker is dead, appends not yet started are dropped: their requests
        already failed as "worker died" (outcome unknown), and none was acked.
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
                    link.send_nowait(Error(id=link.writer.next_id(), re=message.id, code=ErrorCode.NOT_DURABLE,
                                           message="refused: an earlier mutation was not durable"))
                    link.append_done()
                    continue
                batch: list[tuple[int, WalAppend]] = []
                while queue and queue[0][1] == epoch and len(batch) < MAX_BATCH:
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
            seqs = await self.durable.append([(m.op, m.args) for _, m in batch])
        except WalError as error:
            self.metrics.wal_failures += len(batch)
            log.error("WAL append failed: %s", error)
            await self.durable.reopen_if_poisoned()
            if link.pipelined and not link.refuses(epoch):
                link.failed = (epoch, batch[0][0])
                self._spawn_resync(link)
            text = str(error)[:1000]
            link.send_nowait(*(Error(id=link.writer.next_id(), re=m.id, code=ErrorCode.NOT_DURABLE, message=text) for _, m in batch))
            for _ in batch:
                link.append_done()
            return
        self.metrics.wal_appends += len(batch)
        self.metrics.wal_batches += 1
        last = seqs[-1]
        # One cumulative ack for the batch: it answers every append up to the last one.
        link.send_nowait(WalAck(id=link.writer.next_id(), re=batch[-1][1].id, seq=last))
        self.on_durable(link, [m for _, m in batch], last)
        for seq in seqs:
            link.acked_seq = seq  # before the answers it releases: see `WorkerLink._deliver` (checkpoints)
            link.append_done()

    def _spawn_resync(self, link: WorkerLink) -> None:
        task = asyncio.create_task(self._resync(link), name=f"o-resync-{link.child.pid}")
        self._resyncs.add(task)
        task.add_done_callback(self._resyncs.discard)

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
        answer: Message
        try:
            restore, _ = await self.durable.restore(link.writer.next_id())
            link.resync_ids.add(restore.id)
            answer = await link.call(restore, self.config.startup_timeout)
        except (RequestFailed, SupervisorError, WalError, OSError, TimeoutError) as error:
            answer = Error(id=0, re=0, code=ErrorCode.INTERNAL, message=f"{type(error).__name__}: {error}")
        if not isinstance(answer, RestoreAck):
            reason = answer.message if isinstance(answer, Error) else answer.TYPE
            log.error("worker %d: resync failed: %s", link.child.pid, reason)
            link.die(f"resync after a failed WAL append failed: {reason}")
            return
        link.resyncs += 1
        self.metrics.resyncs += 1
