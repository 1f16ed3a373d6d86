"""What the evolution manager may use of the guardian: a small interface, not the `Guardian`.

`o_lisp.guardian._evolution.EvolutionManager` orchestrates cycles from inside the
guardian process. It used to reach into the supervisor's private state (its link,
its standby, its launcher); now it sees only `EvolutionHost`, which `Guardian`
implements, and the shadow workers it starts as `ShadowWorker`s. The other way round,
the guardian calls the manager only as an `EvolutionObserver`: it tells it what
happened (a request, a WAL record, a worker failure) and asks it two questions
(is a promoted version on probation, must a failure roll back). The guardian
assembles the two (it builds its manager with itself as the host), so the
dependency runs one way: supervisor → evolution manager → this module.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from o_lisp.guardian._protocol import AsyncFrameWriter, Message, WorkerSpec

__all__ = ["EvolutionCounters", "EvolutionHost", "EvolutionObserver", "HostConfig", "ShadowWorker", "WorkerProcess"]


class HostConfig(Protocol):
    """The guardian settings a cycle reads (`GuardianConfig` has them)."""

    agent: Path
    data_dir: Path
    debug_methods: bool
    checkpoint_timeout: float
    grants: tuple[str, ...]
    llm: str


class EvolutionCounters(Protocol):
    """The guardian's metrics an evolution cycle counts (`GuardianMetrics` has them)."""

    evolution_cycles: int
    evolution_promotions: int
    evolution_rejections: int
    evolution_rollbacks: int


class WorkerProcess(Protocol):
    """A worker's process, as the guardian started it."""

    async def wait(self) -> int: ...


class ShadowWorker(Protocol):
    """A shadow worker of a cycle, serving: call it, and end it."""

    @property
    def child(self) -> WorkerProcess: ...

    @property
    def writer(self) -> AsyncFrameWriter: ...

    @property
    def dead(self) -> asyncio.Future[str]: ...

    async def call(self, message: Message, timeout: float) -> Message: ...

    def die(self, reason: str) -> None: ...

    async def terminate(self, reason: str, timeout: float = 10.0) -> int | None: ...


class EvolutionHost(Protocol):
    """The guardian, as the evolution manager sees it."""

    @property
    def config(self) -> HostConfig: ...

    @property
    def metrics(self) -> EvolutionCounters: ...

    @property
    def data_dir(self) -> Path: ...

    @property
    def worker_pid(self) -> int | None: ...

    def health(self) -> dict[str, Any]: ...

    async def request(self, method: str, args: dict[str, Any] | None = None, timeout: float | None = None) -> Any: ...

    async def checkpoint(self, reason: str = "on demand") -> dict[str, Any]: ...

    async def launch_shadow(self, spec: WorkerSpec) -> ShadowWorker:
        """Start a shadow worker from `spec` (a `WorkerSpec` with role "shadow"); `StartFailed` if it does not come up."""
        ...

    def code_changed(self, code_version: str) -> None:
        """The main worker committed and now runs `code_version`: note it, and rebuild a warm standby on it."""
        ...


class EvolutionObserver(Protocol):
    """The evolution manager, as the guardian sees it: told what happens, asked two questions."""

    async def begin(self) -> None:
        """The guardian serves: resume or recover what a previous run left (called once per start)."""
        ...

    async def close(self) -> None:
        """The guardian stops: end the cycle in progress."""
        ...

    def mirror(self, method: str, args: dict[str, Any]) -> None:
        """A request is about to go to the main worker (a canary may copy it to a shadow)."""
        ...

    def observe(self, method: str, outcome: str, seconds: float) -> None:
        """A request was answered: its outcome ("ok" or the error code) and latency."""
        ...

    def on_wal_record(self, op: str, args: dict[str, Any]) -> None:
        """The main worker's record `op` is durable (only ``evolution_intent`` records are passed)."""
        ...

    def in_probation(self) -> bool:
        """Whether a promoted version is on probation (it is not marked known-good before it passes)."""
        ...

    def on_worker_failed(self, reason: str, code_version: str) -> tuple[str, str] | None:
        """A worker failed; (commit, reason) to roll back to at once, or None for the restart policy."""
        ...
