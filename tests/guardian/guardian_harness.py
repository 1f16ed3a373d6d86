"""Shared harness of the guardian tests: a real `Guardian` on a small agent in tmp_path.

Every test runs inside `asyncio.run` and always stops the guardian in a `finally`,
so a failing assertion cannot leave processes behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from o_lisp.guardian._supervisor import ErrorCode, Guardian, GuardianConfig, RequestFailed

UNKNOWN = {ErrorCode.WORKER_DIED, "timeout", "unavailable"}
"""Outcomes after which a write may or may not have happened."""


def make_config(tmp_path: Path, agent_source: str, **overrides: Any) -> GuardianConfig:
    """A fast-heartbeat configuration for the agent `agent_source` (written once)."""
    agent = tmp_path / "tester.hy"
    if not agent.exists():
        agent.write_text(agent_source, "utf-8")
    options: dict[str, Any] = {
        "agent": agent,
        "data_dir": tmp_path / "data",
        "heartbeat_interval": 0.2,
        "heartbeat_timeout": 1.5,
        "request_timeout": 5.0,
        "debug_methods": True,
        "known_good_after": 60.0,
    }
    options.update(overrides)
    return GuardianConfig(**options)


def run_guardian(test: Callable[[Guardian], Awaitable[None]], config: GuardianConfig, limit: float = 60.0) -> None:
    async def main() -> None:
        guardian = Guardian(config)
        await guardian.start()
        try:
            await asyncio.wait_for(test(guardian), limit)
        finally:
            await guardian.stop()

    asyncio.run(main())


async def retry(guardian: Guardian, method: str, args: dict[str, Any], limit: float = 20.0) -> Any:
    """A read, retried across restarts (reads are safe to repeat)."""
    deadline = time.monotonic() + limit
    while True:
        try:
            return await guardian.request(method, args)
        except RequestFailed as error:
            if error.code not in UNKNOWN or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


async def wait_for(condition: Callable[[], bool], limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)
