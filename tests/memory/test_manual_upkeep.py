"""docs/memory.md: consolidation and forgetting are manual; the calls it shows work on an
agent's memory through its state (so the WAL would record them) and do what the rules say."""

from __future__ import annotations

from pathlib import Path

from o_lisp.agent import Agent
from o_lisp.agent._dsl import read_agent

AGENT = """\
(defagent keeper
  :version "0.1.0"
  (defmemory notes :dim 32 :forget-after-s 10 :consolidate-importance 0.7)
  (defn respond [text] "ok"))
"""


def test_forgetting_and_consolidation_run_only_when_called(tmp_path: Path) -> None:
    now = [1000.0]
    agent = Agent(read_agent(AGENT, "keeper.hy"), tmp_path / "data", clock=lambda: now[0])
    kept = agent.memory_add("important", importance=0.9, memory="notes")
    dropped = agent.memory_add("trivial", importance=0.1, memory="notes")
    store = agent.state.memory_stores["notes"]
    now[0] += 3600  # long past forget_after_s: nothing happens by itself
    assert store.get(dropped[0]) is not None and store.get(kept[0]).kind == "short_term"

    forgotten = agent.state.apply("memory_apply", {"memory": "notes", "payload": store.plan_forget(agent.clock())})
    consolidated = agent.state.apply("memory_apply", {"memory": "notes",
                                                      "payload": store.plan_consolidate(agent.clock())})
    assert forgotten == dropped and store.get(dropped[0]) is None
    assert consolidated == kept and store.get(kept[0]).kind == "long_term"
