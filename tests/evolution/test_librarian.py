"""Milestone M3: the librarian's retrieval starts badly tuned; a rewrite of its `defmemory`
weights raises its training fitness *and* its recall on held-out questions it never saw,
reconfigures the live store, and is reproduced by replaying the logged mutations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack

from o_lisp import read
from o_lisp.agent._agent import Agent
from o_lisp.agent._state import AgentState
from o_lisp.evolution._validate import ValidationThresholds, run_fitness, validate

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ROOT / "agents"
T0 = 1_700_000_000.0
DEFAULT_WEIGHTS = {"vector": 0.6, "keyword": 0.3, "recency": 0.05, "importance": 0.05}
#: Measured: training 0.27 (6/22), held-out 0.26 (6/23) with the seed's weights; 1.00 (22/22)
#: and 0.96 (22/23) with the defaults. The bounds leave room for tuning of the tokeniser.
INITIAL_AT_MOST = 0.4
EVOLVED_TRAINING_AT_LEAST = 0.95
EVOLVED_HELDOUT_AT_LEAST = 0.9


def pairs(path: Path) -> list[tuple[str, str]]:
    """`A | B` lines (comments start with #)."""
    out = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            left, right = line.split(" | ", 1)
            out.append((left.strip(), right.strip()))
    return out


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def heldout_recall(agent: Agent, questions: list[tuple[str, str]]) -> float:
    found = 0
    for question, fragment in questions:
        hits = agent.call_tool("lookup", question, k=5)
        found += any(fragment in hit["text"] for hit in hits)
    return found / len(questions)


def training_recall(agent: Agent) -> float:
    run = run_fitness(agent)
    assert run.errors == {}
    return run.scores["recall-at-5"][0]


def test_the_data_sets_are_what_they_claim() -> None:
    notes = pairs(AGENTS / "librarian-notes.txt")
    heldout = pairs(AGENTS / "librarian-heldout.txt")
    assert len(notes) >= 40 and len(heldout) >= 20
    texts = [text for _, text in notes]
    assert len({float(importance) for importance, _ in notes}) >= 10
    for _, fragment in heldout:  # each held-out question has exactly one answering note
        assert sum(fragment in text for text in texts) == 1, fragment
    seed = (AGENTS / "librarian.hy").read_text("utf-8")
    assert "librarian-heldout" not in seed.split("(defagent", 1)[1]  # never referenced by the agent
    for question, _ in heldout:
        assert question not in seed


def test_evolved_weights_raise_training_fitness_and_heldout_recall(tmp_path: Path) -> None:
    log: list[tuple[str, dict[str, Any]]] = []
    state = AgentState("librarian-1", "librarian", "0.1.0")
    state.on_mutation(lambda seq, op, args: log.append((op, msgpack.unpackb(msgpack.packb(args)))))
    clock = Clock()
    agent = Agent.load(AGENTS / "librarian.hy", tmp_path / "data", clock=clock, state=state)
    for i, (importance, text) in enumerate(pairs(AGENTS / "librarian-notes.txt")):
        clock.now = T0 + i * 3600.0  # one note an hour: later lines are more recent
        agent.call_tool("add-note", text, float(importance))
    clock.now += 3600.0
    heldout = pairs(AGENTS / "librarian-heldout.txt")
    store = agent.state.memory_stores["notes"]
    assert store.weights.to_dict() == {"vector": 0.05, "keyword": 0.05, "recency": 1.0, "importance": 1.0}
    before = (training_recall(agent), heldout_recall(agent, heldout))

    form = read('(defmemory notes :dim 384 :weights {"vector" 0.6 "keyword" 0.3 "recency" 0.05 "importance" 0.05})')
    candidate, failures = agent._candidate("notes", form)
    assert candidate is not None and failures == []
    report = validate(agent, candidate, ValidationThresholds(runs=5))
    assert report.ok, report.reason
    assert report.evidence["fitness"]["scores"]["recall-at-5"] >= EVOLVED_TRAINING_AT_LEAST
    assert store.weights.to_dict()["recency"] == 1.0  # validation left the live store alone

    result = agent.rewrite("notes", form, reason="rank by relevance, not by age and importance", bump="minor")
    assert result.accepted, result.failures
    assert store.weights.to_dict() == DEFAULT_WEIGHTS  # the live store was reconfigured
    after = (training_recall(agent), heldout_recall(agent, heldout))
    print(f"\nlibrarian recall@5: training {before[0]:.2f} -> {after[0]:.2f}, held-out {before[1]:.2f} -> {after[1]:.2f}")
    assert before[0] <= INITIAL_AT_MOST and before[1] <= INITIAL_AT_MOST
    assert after[0] >= EVOLVED_TRAINING_AT_LEAST and after[1] >= EVOLVED_HELDOUT_AT_LEAST
    assert agent.handle("What is the bike lock combination?") == "From my notes: The bike lock combination is 4-7-1-9."

    # Replaying the logged mutations reproduces the weights and the whole logged state.
    reweights = [args["payload"] for op, args in log if op == "memory_apply" and args["payload"]["op"] == "memory_set_weights"]
    assert reweights == [{"op": "memory_set_weights", "weights": DEFAULT_WEIGHTS}]
    replayed = AgentState("librarian-1", "librarian", "0.1.0")
    for op, args in log:
        replayed.apply(op, args)
    assert replayed.memory_stores["notes"].weights.to_dict() == DEFAULT_WEIGHTS
    expected = agent.state.to_data()
    actual = replayed.to_data()
    del expected["metrics"], actual["metrics"]  # observations, not mutations
    assert actual == expected
    assert replayed.version == "0.2.0"
