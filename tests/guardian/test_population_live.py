"""A population cycle with live traffic: only the run's final winner meets live users, through
a shadow test on mirrored messages, and is then promoted (and put on probation)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from o_lisp.guardian._evolution import EvolutionConfig
from o_lisp.guardian._runs import PopulationSettings
from o_lisp.guardian._supervisor import Guardian, GuardianConfig

ROOT = Path(__file__).resolve().parents[2]


STUCK = """\
(defagent stuck
  :version "1.0.0"
  (defn label [n]
    (if (> n 0) (+ "pos-" (str n)) "nonpos"))
  (deftest impossible
    (assert (= (label 1) "pos-1"))
    (assert (= (label 7) "a label no edit of label can make"))))
"""


def test_with_live_traffic_the_best_is_shadow_tested_then_promoted(tmp_path: Path) -> None:
    agent = tmp_path / "checkout.hy"
    agent.write_text((ROOT / "agents" / "checkout.hy").read_text())
    config = GuardianConfig(agent=agent, data_dir=tmp_path / "data", request_timeout=20.0,
                            evolution=EvolutionConfig(mirror_share=1.0, shadow_min_seconds=0.2,
                                                      shadow_max_seconds=30.0, probation_seconds=1.0, seed=3))
    replies: list[Any] = []

    async def scenario(guardian: Guardian) -> dict[str, Any]:
        stop = asyncio.Event()

        async def traffic() -> None:
            while not stop.is_set():
                replies.append(await guardian.request("message", {"text": "ship 60 2"}))
                await asyncio.sleep(0.005)

        task = asyncio.ensure_future(traffic())
        try:
            while len(replies) < 250:  # enough live traffic in the last minute for a shadow test
                await asyncio.sleep(0.05)
            manager = guardian.evolution
            cycle_id = await manager.start("shipping-cost", population=PopulationSettings(
                population=20, generations=5, workers=2, seed=1))
            return await manager.wait(cycle_id, 240)
        finally:
            stop.set()
            await task

    async def main() -> dict[str, Any]:
        guardian = Guardian(config)
        await guardian.start()
        try:
            return await scenario(guardian)
        finally:
            await guardian.stop()

    cycle = asyncio.run(main())
    assert cycle["basis"]["mode"] == "live"
    messages = [e["message"] for e in cycle["events"]]
    assert any("shadow test on mirrored live traffic" in m for m in messages), messages
    assert cycle["status"] == "promoted", messages
    (record,) = cycle["candidates"]
    assert record["verdict"] == "promoted" and record["generator"] == "population"
    assert "latency" in record["evidence"]  # the shadow test's evidence, beside the run's
    assert set(replies) == {"free shipping"}  # live users never saw a failure


def test_a_dead_breeder_fails_the_cycle_and_leaves_the_run_resumable(tmp_path: Path) -> None:
    import os
    import signal

    agent = tmp_path / "stuck.hy"  # no repair: the run lasts its 8 generations
    agent.write_text(STUCK)
    config = GuardianConfig(agent=agent, data_dir=tmp_path / "data", request_timeout=20.0)

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        guardian = Guardian(config)
        await guardian.start()
        try:
            manager = guardian.evolution
            real_call = manager._call
            tells = 0

            async def call(link: Any, method: str, args: dict[str, Any], timeout: float) -> Any:
                nonlocal tells
                if method == "evolution_breed_tell":
                    tells += 1
                    if tells == 3:  # (1: the parent, 2: generation 1) it dies before hearing generation 2
                        os.kill(link.child.pid, signal.SIGKILL)
                        await link.child.wait()
                return await real_call(link, method, args, timeout)

            manager._call = call  # type: ignore[method-assign]
            cycle_id = await manager.start("label", population=PopulationSettings(
                population=20, generations=8, workers=1, seed=4))
            failed = await manager.wait(cycle_id, 120)
            manager._call = real_call  # type: ignore[method-assign]
            resumed_id = await manager.start("label", resume=failed["population"]["run"])
            return failed, await manager.wait(resumed_id, 120)
        finally:
            await guardian.stop()

    failed, resumed = asyncio.run(main())
    run = failed["population"]["run"]
    assert failed["status"] == "failed"
    last = failed["events"][-1]["message"]
    assert last.startswith(f"run {run}: the breeder failed: the shadow was killed by SIGKILL")
    assert last.endswith(f"(its completed generations are kept: --resume {run})")
    assert resumed["population"]["run"] == run and resumed["population"]["resumed_from"] == 1
    assert resumed["status"] == "rejected"
