"""The evaluator pool on real shadow workers (`EvolutionManager._pool_shadow`): two shadows
evaluate a request in parallel, answers in request order; evaluating writes neither the
guardian's WAL nor the repository (not even a candidate that sets state); a shadow killed
with SIGKILL is replaced and only its own proposal fails, without hanging."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pygit2
from guardian_harness import make_config, run_guardian

from o_lisp.evolution._individual import EvaluationRequest, Proposal
from o_lisp.guardian._evolution import _Cycle, _PoolShadow
from o_lisp.guardian._pool import DIED_STAGE, EVALUATOR_NICENESS, ShadowPool
from o_lisp.guardian._supervisor import Guardian

AGENT = """\
(defagent tester
  :version "1.0.0"
  (defn twice [x] (+ x x x))
  (deftest doubles
    (assert (= (twice 0) 0))
    (assert (= (twice 1) 2))
    (assert (= (twice 2) 4))))
"""


def proposals(*sources: str) -> tuple[Proposal, ...]:
    return tuple(Proposal(f"p{n}", "twice", source) for n, source in enumerate(sources))


def test_a_pool_of_real_shadows_evaluates_in_order_without_writing_anything(tmp_path: Path) -> None:
    config = make_config(tmp_path, AGENT)

    async def scenario(guardian: Guardian) -> None:
        manager = guardian.evolution
        cycle = _Cycle("evo-test", "twice", "", "operator", 1, 1, False, None)
        spawned: list[_PoolShadow] = []

        async def spawn() -> _PoolShadow:
            shadow = await manager._pool_shadow(cycle)
            spawned.append(shadow)
            return shadow

        head = pygit2.Repository(str(config.data_dir / "code")).head.target
        wal_before = guardian.health()["wal_seq"]
        pool = ShadowPool(spawn, 2, chunk_size=1, base_timeout=20.0)
        request = EvaluationRequest(proposals(
            "(defn twice [x] (+ x x x))", "(defn twice [x] (* 2 x))",
            "(defn twice [x] (state-set! \"seen\" x) (+ x x))", "(defn twice [x] (- x x))",
            "(defn twice [x] (while True x))", "(defn twice [x] (+ x x))"), step_limit=20_000)
        try:
            evaluations = await pool.evaluate(request)
            for shadow in spawned:  # evaluators yield the CPU to live requests, every thread of them
                pid = shadow._link.child.pid  # type: ignore[attr-defined]
                threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
                assert len(threads) >= 2  # (the evaluation thread too)
                assert {os.getpriority(os.PRIO_PROCESS, t) for t in threads} == {EVALUATOR_NICENESS}
        finally:
            await pool.close()
        assert [e.id for e in evaluations] == [f"p{n}" for n in range(6)]
        assert [e.checks_passed for e in evaluations] == [1, 3, 3, 1, 0, 3]
        assert evaluations[4].stage == "checks" and evaluations[4].steps == 20_000
        assert len(spawned) == 2 and pool.stats.deaths == 0
        assert guardian.health()["wal_seq"] == wal_before  # no shadow wrote the WAL...
        assert pygit2.Repository(str(config.data_dir / "code")).head.target == head  # ...or the repository
        assert manager._shadows == 0  # every shadow was ended

    run_guardian(scenario, config, limit=120.0)


class KilledOnce:
    """A real pool shadow whose process is SIGKILLed just before its call for proposal "p1" (twice)."""

    def __init__(self, shadow: _PoolShadow, victims: list[str]) -> None:
        self.shadow = shadow
        self.victims = victims

    async def evaluate(self, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        if "p1" in [p["id"] for p in args["proposals"]] and len(self.victims) < 2:
            pid = self.shadow._link.child.pid  # type: ignore[attr-defined]
            self.victims.append(str(pid))
            os.kill(pid, signal.SIGKILL)  # (an evaluation this small would finish before a later kill)
            await self.shadow._link.child.wait()
            return await self.shadow.evaluate(args, timeout)
        return await self.shadow.evaluate(args, timeout)

    async def close(self) -> None:
        await self.shadow.close()


def test_a_killed_shadow_is_replaced_and_the_run_goes_on(tmp_path: Path) -> None:
    config = make_config(tmp_path, AGENT)

    async def scenario(guardian: Guardian) -> None:
        manager = guardian.evolution
        cycle = _Cycle("evo-test", "twice", "", "operator", 1, 1, False, None)
        victims: list[str] = []
        spawned: list[KilledOnce] = []

        async def spawn() -> KilledOnce:
            shadow = KilledOnce(await manager._pool_shadow(cycle), victims)
            spawned.append(shadow)
            return shadow

        pool = ShadowPool(spawn, 1, chunk_size=3, base_timeout=60.0)
        request = EvaluationRequest(proposals(
            "(defn twice [x] (* 2 x))", "(defn twice [x] (- x 1))", "(defn twice [x] (+ x x))"), step_limit=20_000)
        started = time.monotonic()
        try:
            evaluations = await asyncio.wait_for(pool.evaluate(request), 90)
        finally:
            await pool.close()
        assert time.monotonic() - started < 90
        assert [e.id for e in evaluations] == ["p0", "p1", "p2"]
        # The chunk's shadow was killed; its proposals were retried one at a time on fresh
        # shadows, where p1's shadow was killed again: only p1 fails, saying how.
        assert [e.checks_passed for e in evaluations] == [3, 0, 3]
        assert (evaluations[1].stage, evaluations[0].stage) == (DIED_STAGE, "done")
        assert evaluations[1].reason.startswith("worker died: the shadow was killed by SIGKILL")
        assert pool.stats.deaths == 2 and len(victims) == 2 and len(spawned) == 3
        assert manager._shadows == 0

    run_guardian(scenario, config, limit=150.0)
