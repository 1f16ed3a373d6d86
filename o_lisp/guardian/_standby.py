"""The warm standby: a second worker, restored from the newest checkpoint, idle until it takes over.

With `GuardianConfig.standby` the guardian keeps a worker forked from the zygote and
restored from the newest checkpoint in ``standby`` mode (state rebuilt, code loaded,
not serving, not logging). When the serving worker dies it gets only the WAL after
its checkpoint (``resume``), replays it and serves: no fork, no full restore frame,
no state rebuild on the critical path. It is replaced after every checkpoint and hot
reload (`refresh`), refuses to resume when the repository's HEAD or the seed file
changed since it loaded its code, is discarded when an escalation is due, and changes
nothing in the restart intensity (the death is counted before the standby is considered).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from o_lisp.guardian._appender import Appenders
from o_lisp.guardian._config import GuardianConfig
from o_lisp.guardian._durable import DurableStorage
from o_lisp.guardian._errors import RequestFailed, StartFailed, SupervisorError
from o_lisp.guardian._link import WorkerLink
from o_lisp.guardian._metrics import GuardianMetrics
from o_lisp.guardian._process import cancel_and_wait
from o_lisp.guardian._protocol import Error, ProtocolError, Restore, RestoreAck, WorkerSpec
from o_lisp.guardian._wal import WalError

__all__ = ["Connect", "Standby"]

log = logging.getLogger("o_lisp.guardian")

Connect = Callable[[WorkerSpec, list[WorkerLink]], Awaitable[WorkerLink]]
"""Spawn a worker from a spec and handshake (`Guardian.connect`): a reading, unrestored link."""


class Standby:
    """The warm standby worker (`worker`, None while there is none) and the task preparing the next one."""

    def __init__(self, config: GuardianConfig, metrics: GuardianMetrics, durable: DurableStorage,
                 appenders: Appenders, spec: Callable[[], WorkerSpec], connect: Connect,
                 stopping: Callable[[], bool]) -> None:
        self.config = config
        self.metrics = metrics
        self.durable = durable
        self.appenders = appenders
        self.spec = spec  # the standby's WorkerSpec (role standby: read-only repository)
        self.connect = connect
        self.stopping = stopping
        self.worker: WorkerLink | None = None  # loaded from the checkpoint covering `base`, idle
        self.base = 0
        self.preparing: asyncio.Task[None] | None = None  # preparing the next standby
        self._generation = 0

    def refresh(self) -> None:
        """Replace the standby (if any) by one restored from the newest checkpoint, in the background."""
        previous, old = self.preparing, self.worker
        self.worker = None
        if old is not None:
            old.die("standby replaced")
        if previous is not None:
            previous.cancel()
        self._generation += 1  # a cancelled preparation that finishes anyway is dropped
        self.preparing = asyncio.create_task(self._prepare(previous, self._generation), name="o-standby")

    async def discard(self) -> None:
        task, standby = self.preparing, self.worker
        self.preparing = self.worker = None
        self._generation += 1
        await cancel_and_wait(task)
        if standby is not None:
            await standby.terminate("standby discarded")

    async def _prepare(self, previous: asyncio.Task[None] | None, generation: int) -> None:
        """Spawn a worker and restore it in "standby" mode from the cached checkpoint."""
        if previous is not None:
            await asyncio.wait([previous])  # one standby being prepared at a time
        cached = self.durable.cached
        if cached is None or self.stopping():
            return
        created: list[WorkerLink] = []
        try:
            link = await self.connect(self.spec(), created)
            restore = Restore(id=link.writer.next_id(), checkpoint=cached.state, mode="standby")
            answer = await link.call(restore, self.config.startup_timeout)
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
        if self.stopping() or generation != self._generation or self.worker is not None:
            await link.terminate("standby no longer wanted")
            return
        self.worker, self.base = link, cached.wal_seq
        log.info("worker %d is the warm standby (checkpoint at seq %d)", link.child.pid, cached.wal_seq)

    async def activate(self) -> WorkerLink | None:
        """The standby, brought up to date with the WAL and serving; None to launch a worker instead.

        A standby still being prepared is waited for (it started before any new worker
        could). It is refused when it died or went silent, when the WAL it needs was
        compacted away, and by the worker itself when the repository's HEAD or the seed
        file changed since it loaded its code (a self-rewrite commits after the
        checkpoint that refreshed the standby).
        """
        cfg = self.config
        task = self.preparing
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=cfg.startup_timeout)
        standby, base = self.worker, self.base
        self.worker = None
        if standby is None or standby.dead.done() or time.monotonic() - standby.last_heartbeat > cfg.heartbeat_timeout:
            self.metrics.standby_fallbacks += 1
            if standby is not None:
                await standby.terminate("standby unusable")
            return None
        try:
            await self.appenders.drain()  # a dead worker's appends: durable ones must be replayed
            records = await self.durable.replay(base)
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
        self.appenders.start(standby)
        standby.serving_since = time.monotonic()
        self.metrics.standby_activations += 1
        return standby
