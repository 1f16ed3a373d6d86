"""Evaluating a population's candidates in parallel: a pool of W evaluator shadows.

A population cycle (`o_lisp.guardian._evolution`) asks its breeder for an
`EvaluationRequest` (tens of proposals) and needs one `Evaluation` per proposal, in
request order. The evaluation runs agent code, so it happens in shadow workers
(`evolution_evaluate`, `o_lisp.worker._lab`), started like the cycle's other shadows:
forked from the zygote, under CPU and address-space limits, logging to a scratch area,
no WAL, no repository. The guardian only forwards frames, so it stays responsive.

`ShadowPool` splits a request into small chunks on a shared queue; each of its W
shadows takes the next chunk when it is free (a slow candidate does not hold up the
others), and the answers are reassembled in request order. A shadow that dies or
hangs (a chunk has a deadline) is replaced. Its chunk is then split and evaluated one
proposal at a time on fresh shadows, so that only the proposal that kills a shadow is
answered as failed — at stage ``checks`` (the stage that runs candidate code for long;
``load`` runs top-level forms only), reason ``worker died: ...``. A request is always
answered: no shadow death, hang or failure to start can hang the run.

The pool sits behind `Evaluator` (``async evaluate(request) -> list[Evaluation]``),
so another backend (remote machines) can replace it without touching the search.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from o_lisp.evolution._individual import (
    Evaluation,
    EvaluationRequest,
    Proposal,
    evaluations_in_order,
)

__all__ = ["DIED_STAGE", "EVALUATOR_NICENESS", "Evaluator", "PoolStats", "ShadowPool", "WorkerDied"]

log = logging.getLogger("o_lisp.guardian.pool")

DIED_STAGE = "checks"
"""The stage a proposal whose shadow died is answered at (see the module docstring)."""


EVALUATOR_NICENESS = 10
"""How much lower the CPU priority of a population's shadows is than the live worker's
(`WorkerSpec.nice`): on a machine with few cores, live requests get the CPU first and
the search the rest."""


class Evaluator(Protocol):
    """Anything that evaluates a request: one `Evaluation` per proposal, same ids, same order."""

    async def evaluate(self, request: EvaluationRequest) -> list[Evaluation]: ...

    async def close(self) -> None: ...


class WorkerDied(Exception):
    """An evaluator shadow died, hung or refused a call; the message says how."""


class PoolWorker(Protocol):
    """One evaluator shadow as the pool sees it (the evolution manager adapts its `ShadowWorker`)."""

    async def evaluate(self, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        """``evolution_evaluate`` with `args`; `WorkerDied` if the shadow died, hung or failed."""
        ...

    async def close(self) -> None: ...


@dataclass
class PoolStats:
    """What the pool did, for the cycle's progress (evaluations/s) and the benchmark."""

    evaluations: int = 0
    seconds: float = 0.0
    deaths: int = 0
    spawned: int = 0


@dataclass(frozen=True)
class _Chunk:
    indices: tuple[int, ...]


class ShadowPool:
    """W evaluator shadows, started on first use and kept across requests (see the module docstring).

    `spawn` starts one shadow (raising `WorkerDied` if it cannot); `timeout_per_proposal`
    bounds a chunk's call at ``base_timeout + len(chunk) * timeout_per_proposal``."""

    def __init__(self, spawn: Callable[[], Awaitable[PoolWorker]], workers: int, *,
                 base_timeout: float = 10.0, timeout_per_proposal: float = 10.0, chunk_size: int | None = None) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self._spawn = spawn
        self.size = workers
        self.base_timeout = base_timeout
        self.timeout_per_proposal = timeout_per_proposal
        self.chunk_size = chunk_size
        self._idle: list[PoolWorker] = []
        self.stats = PoolStats()
        self._closed = False

    async def evaluate(self, request: EvaluationRequest) -> list[Evaluation]:
        """One evaluation per proposal, in request order; never raises for a shadow's death."""
        if self._closed:
            raise RuntimeError("the pool is closed")
        proposals = request.proposals
        if not proposals:
            return []
        loop = asyncio.get_running_loop()
        started = loop.time()
        results: list[Evaluation | None] = [None] * len(proposals)
        queue: asyncio.Queue[_Chunk] = asyncio.Queue()
        size = self.chunk_size or max(1, math.ceil(len(proposals) / (self.size * 4)))
        for first in range(0, len(proposals), size):
            queue.put_nowait(_Chunk(tuple(range(first, min(first + size, len(proposals))))))
        lanes = [asyncio.ensure_future(self._lane(request, queue, results)) for _ in range(min(self.size, queue.qsize()))]
        try:
            await asyncio.gather(*lanes)
        finally:
            for lane in lanes:
                lane.cancel()
        answered = [e if e is not None else _failed(p, "no shadow evaluated it") for p, e in zip(proposals, results, strict=True)]
        self.stats.evaluations += len(answered)
        self.stats.seconds += loop.time() - started
        return evaluations_in_order(request, answered)

    async def _lane(self, request: EvaluationRequest, queue: asyncio.Queue[_Chunk],
                    results: list[Evaluation | None]) -> None:
        """One shadow's share: take chunks until the queue is empty, replacing the shadow when it dies."""
        worker: PoolWorker | None = None
        reusable = False  # a shadow cancelled mid-call may still be busy: it is not reused
        try:
            while not queue.empty():
                chunk = queue.get_nowait()
                if worker is None:
                    try:
                        worker = await self._take()
                    except WorkerDied as error:  # cannot start a shadow: the chunk fails, the run goes on
                        for index in chunk.indices:
                            results[index] = _failed(request.proposals[index], str(error))
                        continue
                args = _chunk_request(request, chunk).as_data()
                timeout = self.base_timeout + len(chunk.indices) * self.timeout_per_proposal
                try:
                    reply = await worker.evaluate(args, timeout)
                    evaluations = [Evaluation.from_data(e) for e in reply["evaluations"]]
                    if [e.id for e in evaluations] != [request.proposals[i].id for i in chunk.indices]:
                        raise WorkerDied("the shadow answered other proposals than it was asked")
                except (WorkerDied, KeyError, TypeError, ValueError) as error:
                    self.stats.deaths += 1
                    log.warning("evaluator shadow lost (%s); replacing it", error)
                    dead, worker = worker, None
                    await _quietly_close(dead)
                    if len(chunk.indices) > 1:  # find the culprit: one proposal at a time
                        for index in chunk.indices:
                            queue.put_nowait(_Chunk((index,)))
                    else:
                        index = chunk.indices[0]
                        results[index] = _failed(request.proposals[index], str(error))
                    continue
                for index, evaluation in zip(chunk.indices, evaluations, strict=True):
                    results[index] = evaluation
            reusable = True
        finally:
            if worker is not None:
                if self._closed or not reusable:
                    await _quietly_close(worker)
                else:
                    self._idle.append(worker)

    async def _take(self) -> PoolWorker:
        if self._idle:
            return self._idle.pop()
        worker = await self._spawn()
        self.stats.spawned += 1
        return worker

    async def close(self) -> None:
        """End every shadow of the pool."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quietly_close(w) for w in idle))


def _chunk_request(request: EvaluationRequest, chunk: _Chunk) -> EvaluationRequest:
    return EvaluationRequest(proposals=tuple(request.proposals[i] for i in chunk.indices),
                             step_limit=request.step_limit, first=request.first, spectrum=request.spectrum,
                             timing=request.timing)


def _failed(proposal: Proposal, why: str) -> Evaluation:
    reason = why if why.startswith("worker died") else f"worker died: {why}"
    return Evaluation(id=proposal.id, stage=DIED_STAGE, reason=reason[:1000])


async def _quietly_close(worker: PoolWorker) -> None:
    with contextlib.suppress(Exception):
        await worker.close()
