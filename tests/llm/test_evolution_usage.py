"""The tokens evolution spends on models come out of the live agent's day.

A cycle's LLM generator runs in a shadow whose state is thrown away; its usage is
measured there (`UsageMeter`), drained by the guardian (`evolution_usage`) and charged
to the main worker (`evolution_charge`: durable `llm_usage` mutations). So a second
cycle starts from a day that already holds the first one's tokens, and a daily budget
the first cycle used up stops the second before it sends a request."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from o_lisp.agent._durable import durable_agent
from o_lisp.agent._state import AgentState, StateError
from o_lisp.cli import main
from tests.llm.test_llm_generator import CALCULATOR, Author


def _usage(model: str = "m", day: str = "2026-12-05", **counts: Any) -> dict[str, Any]:
    return {"model": model, "day": day, "requests": 1, "input_tokens": 100, "output_tokens": 20, "cost_usd": 0.5,
            "source": "evolution evo-1", "time": 1.0, **counts}


def test_the_usage_mutation_counts_in_the_day_the_model_and_the_totals() -> None:
    state = AgentState("id-1", "a", "0.1.0")
    state.apply("llm_usage", _usage())
    state.apply("llm_usage", _usage(model="n", input_tokens=5, output_tokens=5, cost_usd=0))
    llm = state.data["llm"]
    assert (llm["day"]["day"], llm["day"]["requests"], llm["day"]["input_tokens"], llm["day"]["output_tokens"]) == \
        ("2026-12-05", 2, 105, 25)
    assert llm["day"]["models"]["m"]["cost_usd"] == 0.5 and llm["day"]["models"]["n"]["input_tokens"] == 5
    state.apply("llm_usage", _usage(day="2026-12-04"))  # a day already past: the totals only
    assert llm["day"]["requests"] == 2 and llm["totals"]["requests"] == 3
    state.apply("llm_usage", _usage(day="2026-12-06"))  # a new day starts
    assert (state.data["llm"]["day"]["day"], state.data["llm"]["day"]["requests"]) == ("2026-12-06", 1)
    for bad in (_usage(requests=-1), _usage(input_tokens=1.5), _usage(cost_usd=float("nan")), _usage(cost_usd=True)):
        with pytest.raises(StateError, match=r"non-negative|wrong type"):
            state.apply("llm_usage", bad)
    assert AgentState.from_data(state.to_data()).data["llm"] == state.data["llm"]  # checkpointed like the rest


def _evolve(tmp_path: Path, author: Author, budget: int | None) -> Any:
    config = tmp_path / "o-lisp.toml"
    config.write_text(("" if budget is None else f"[llm]\ndaily_token_budget = {budget}\n\n")
                      + f'[llm.models.author]\nprovider = "openai"\nmodel = "writer"\nbase_url = "{author.base_url}"\n'
                      'retries = 0\n')
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        return CliRunner().invoke(main, ["--config", str(config), "evolve", str(CALCULATOR), "square", "--data",
                                         str(tmp_path / "data"), "--generator", "llm", "--model", "author",
                                         "--candidates", "1", "--json"], env={"O_API_TOKEN": ""})
    finally:
        os.chdir(old)


def _day(tmp_path: Path) -> dict[str, Any]:
    with durable_agent(CALCULATOR, tmp_path / "data") as run:
        return dict(run.agent.state.data["llm"]["day"])


def test_a_cycles_tokens_reach_the_live_day_and_a_spent_budget_stops_the_next_cycle(tmp_path: Path) -> None:
    author = Author("```hy\n(defn square [x]\n  (for [i (range 0 100 1)] i)\n  (** x 2))\n```\n")
    try:
        first = _evolve(tmp_path, author, budget=340)  # the fake bills 300 + 40 tokens a request
        assert first.exit_code == 0, first.output
        cycle = json.loads(first.stdout)
        assert any("model usage charged to the agent's day: 1 request(s), 340 tokens" in e["message"]
                   for e in cycle["events"]), cycle["events"]
        day = _day(tmp_path)  # durable: read back from the data directory's checkpoint and WAL
        assert (day["requests"], day["input_tokens"], day["output_tokens"]) == (1, 300, 40)
        assert day["models"]["author"]["requests"] == 1
        assert len(author.requests) == 1

        second = _evolve(tmp_path, author, budget=340)
        assert second.exit_code == 1, second.output
        failed = json.loads(second.stdout)
        assert failed["status"] == "failed"
        message = failed["events"][-1]["message"]
        assert "daily_token_budget ([llm]) of agent calculator exceeded" in message, message
        assert len(author.requests) == 1  # refused before any request: the day already held the first cycle's
    finally:
        author.close()
