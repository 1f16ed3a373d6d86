"""Shadows on mirrored live traffic reuse the live arm's recorded replies: a real guardian
runs an evolution cycle of the asker agent while clients ask it questions; both shadows
answer every mirrored question without an error, and the model server sees exactly the
live arm's requests (no double billing)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from o_lisp.guardian._evolution import EvolutionConfig
from o_lisp.guardian._supervisor import Guardian, GuardianConfig
from o_lisp.llm import LLMSettings, ModelConfig
from tests.llm.fakes import FakeOpenAI
from tests.llm.test_replay import ANSWER, ASKER

AGENT = ASKER.rstrip()[:-1] + "\n  (deffitness answers 1.0))\n"  # a fitness task: live traffic decides
CANDIDATE = """(defn respond [text]
    "The same request, written differently."
    (get (llm-chat [{"role" "user" "content" text}] :tools [recall]) "text"))"""


def test_shadows_reuse_the_live_arm_s_replies_and_never_bill(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    (tmp_path / "asker.hy").write_text(AGENT)
    brain = ModelConfig("brain", "openai", "mirrored", base_url=fake.base_url, retries=0, timeout=10.0)
    config = GuardianConfig(
        agent=tmp_path / "asker.hy", data_dir=tmp_path / "data", heartbeat_interval=0.2, heartbeat_timeout=5.0,
        request_timeout=30.0, grants=("llm",), llm=LLMSettings({"brain": brain}).to_json(),
        evolution=EvolutionConfig(mirror_share=1.0, shadow_min_seconds=0.5, shadow_max_seconds=30.0,
                                  fitness_rounds=1, fitness_repeats=1, seed=7))
    seen: dict[str, Any] = {}

    async def scenario(g: Guardian) -> None:
        assert await g.request("message", {"text": "remember the office is on the third floor"}) == "Noted."
        asked = 0
        for _ in range(3):  # live traffic before the cycle: its basis is "live"
            assert await g.request("message", {"text": "where is the office?"}) == ANSWER
            asked += 1
        cycle_id = await g.evolution.start("respond", source=CANDIDATE, canary=False)
        deadline = time.monotonic() + 120
        while g.evolution.get(cycle_id)["finished"] is None:
            assert time.monotonic() < deadline, g.evolution.get(cycle_id)["events"]
            assert await g.request("message", {"text": "where is the office?"}) == ANSWER
            asked += 1
            await asyncio.sleep(0.02)
        seen["cycle"] = g.evolution.get(cycle_id)
        seen["asked"] = asked

    async def main() -> None:
        guardian = Guardian(config)
        await guardian.start()
        try:
            await asyncio.wait_for(scenario(guardian), 180)
        finally:
            await guardian.stop()

    try:
        asyncio.run(main())
    finally:
        fake.close()
    cycle = seen["cycle"]
    assert cycle["basis"]["mode"] == "live", cycle["basis"]
    [candidate] = cycle["candidates"]
    errors = candidate["evidence"]["errors"]
    for arm in ("baseline", "candidate"):  # both shadows answered mirrored questions, none refused
        assert errors[arm]["requests"] > 0 and errors[arm]["errors"] == 0, (arm, errors, cycle["events"])
    assert len(fake.requests) == 2 * seen["asked"]  # the live arm's requests only: the shadows paid nothing
