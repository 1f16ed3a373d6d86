"""Guardian workers under hard limits (issue 12): a worker stuck in one C call that holds
the GIL is detected by its missing heartbeats, killed and restored; a worker's memory is
capped by RLIMIT_AS (`GuardianConfig.worker_address_space`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from o_lisp.guardian._supervisor import ErrorCode, Guardian, GuardianConfig, RequestFailed

AGENT = """\
(defagent limited
  :version "0.1.0"
  (defmemory notes :dim 8)
  (when-> :name ping (= msg "ping") "pong"))
"""


def run(tmp_path: Path, scenario: Callable[[Guardian], Awaitable[None]], **overrides: Any) -> None:
    agent = tmp_path / "limited.hy"
    agent.write_text(AGENT)
    options: dict[str, Any] = {"agent": agent, "data_dir": tmp_path / "data", "heartbeat_interval": 0.2,
                               "heartbeat_timeout": 1.5, "request_timeout": 30.0, "debug_methods": True,
                               "known_good_after": 60.0, "standby": False}
    options.update(overrides)

    async def main() -> None:
        guardian = Guardian(GuardianConfig(**options))
        await guardian.start()
        try:
            await asyncio.wait_for(scenario(guardian), 120)
        finally:
            await guardian.stop()

    asyncio.run(main())


async def settle(guardian: Guardian, method: str, args: dict[str, Any]) -> Any:
    for _ in range(200):
        try:
            return await guardian.request(method, args)
        except RequestFailed as error:
            if error.code not in (ErrorCode.WORKER_DIED, "timeout", "unavailable"):
                raise
            await asyncio.sleep(0.05)
    raise AssertionError("the worker did not come back")


def test_a_worker_stuck_in_c_holding_the_gil_is_killed_and_restored(tmp_path: Path) -> None:
    async def scenario(g: Guardian) -> None:
        ids = await g.request("memory_add", {"text": "kept across the kill"})
        old = g.worker_pid
        with pytest.raises(RequestFailed) as failed:
            await g.request("debug_c_stall", {"seconds": 60}, timeout=30)
        assert failed.value.code == ErrorCode.WORKER_DIED  # the heartbeat timeout, not the request's 30 s
        assert g.metrics.hangs == 1 and "no heartbeat" in (g.last_failure or "")
        block = await settle(g, "memory_get", {"id": ids[0]})
        assert block["text"] == "kept across the kill"
        assert g.worker_pid != old
        assert await g.request("message", {"text": "ping"}) == "pong"

    run(tmp_path, scenario)


def test_a_workers_memory_is_capped_and_it_keeps_serving(tmp_path: Path) -> None:
    async def scenario(g: Guardian) -> None:
        pid = g.worker_pid
        assert await g.request("debug_allocate", {"bytes": 16 * 1024 * 1024}) == 16 * 1024 * 1024
        for _ in range(3):
            with pytest.raises(RequestFailed, match="address-space limit"):
                await g.request("debug_allocate", {"bytes": 8 * 1024 * 1024 * 1024})
        assert g.worker_pid == pid and g.metrics.restarts == 0
        assert await g.request("message", {"text": "ping"}) == "pong"

    run(tmp_path, scenario, worker_address_space=2 * 1024 * 1024 * 1024)


def test_the_address_space_option_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="worker_address_space"):
        GuardianConfig(agent=tmp_path / "a.hy", data_dir=tmp_path, worker_address_space=0)
