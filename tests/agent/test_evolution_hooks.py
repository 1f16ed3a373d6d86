"""The agent side of protected self-evolution: scratch copies, canaries on the live state,
memory reconfiguration on reload, the feedback/evolution state operations and builtins,
and the propose mode the guardian's worker runs agents in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import pytest

from o_lisp import read
from o_lisp._errors import LispError, ProgramError
from o_lisp.agent._agent import Agent, AgentError, MemoryChangeError, ToolError
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.agent._state import EVOLUTION_LIMIT, HISTORY_LIMIT, AgentState, StateError

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = '{"vector" 0.1 "keyword" 0.1 "recency" 0.4 "importance" 0.4}'
SEED = f"""\
(defagent hooks
  :version "1.0.0"
  :doc "Exercises the evolution hooks."

  (defmemory notes :dim 64 :weights {WEIGHTS})

  (defn step [] 1)

  (when-> :name add (.isdigit msg) (+ (int msg) (step)))

  (when-> :name remember (.startswith msg "remember ") (memory-add (cut msg 9 None)) "ok")

  (when-> :name intend (= msg "intend")
    (evolve! 'step :hypothesis "bigger steps" :candidate '(defn step [] 2)))

  (when-> :name intend-bad (= msg "intend other")
    (evolve! 'step :hypothesis "wrong name" :candidate '(defn other [] 2)))

  (when-> :name last-feedback (= msg "feedback?") (str (feedback 1)))

  (when-> :name stats (= msg "stats?") (str (evolution-stats)))

  (deftest step-is-small (assert (< (step) 100))))
"""


class Clock:
    """A deterministic clock: every reading is one second later."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


Log = list[tuple[int, str, dict[str, Any]]]


def load(tmp_path: Path, log: Log | None = None) -> Agent:
    """The hooks agent; with `log`, every mutation from the very first is recorded there."""
    seed = tmp_path / "hooks.hy"
    seed.write_text(SEED)
    state = AgentState("agent-1", "hooks", "1.0.0")
    if log is not None:
        state.on_mutation(lambda seq, op, args: log.append((seq, op, msgpack.unpackb(msgpack.packb(args)))))
    return Agent.load(seed, tmp_path / "data", clock=Clock(), state=state)


def replay(log: Log) -> AgentState:
    state = AgentState("agent-1", "hooks", "1.0.0")
    for _seq, op, args in log:
        state.apply(op, args)
    return state


def replayable(state: AgentState) -> dict[str, Any]:
    """What a WAL replay reproduces: everything but the metrics (observations, not mutations)."""
    data = state.to_data()
    del data["metrics"]
    return data


def step_candidate(value: int) -> Definition:
    return Definition("step", DefinitionKind.FUNCTION, f"(defn step [] {value})")


def notes_candidate(options: str) -> Any:
    return read(f"(defmemory notes {options})")


# -- scratch -------------------------------------------------------------------------------


def test_scratch_runs_the_candidate_on_a_copy_of_the_state(tmp_path: Path) -> None:
    agent = load(tmp_path)
    agent.handle("remember the live note")
    before = agent.state.to_data()
    scratch = agent.scratch(step_candidate(5))
    assert scratch.role == "scratch" and scratch.repository is None
    assert scratch.state is not agent.state
    assert scratch.state.to_data() == before
    assert scratch.handle("1") == "6"
    assert scratch.handle("remember only in the scratch") == "ok"
    assert len(scratch.state.memory_stores["notes"]) == 2
    # The live agent saw none of it.
    assert agent.state.to_data() == before
    assert len(agent.state.memory_stores["notes"]) == 1
    assert agent.handle("1") == "2"
    # Same host tools, grants, limits and clock.
    assert (scratch.host_tools, scratch.grants, scratch.limits, scratch.clock) == (
        agent.host_tools, agent.grants, agent.limits, agent.clock)


def test_scratch_without_candidate_or_with_a_given_state(tmp_path: Path) -> None:
    agent = load(tmp_path)
    assert agent.scratch().handle("1") == "2"
    fresh = AgentState("other", "hooks", "1.0.0")
    scratch = agent.scratch(step_candidate(3), state=fresh)
    assert scratch.state is fresh
    assert fresh.lifecycle.value == "running"
    assert list(fresh.memory_stores) == ["notes"]
    added = agent.scratch(Definition("twice", DefinitionKind.FUNCTION, "(defn twice [x] (* 2 (step)))"))
    assert list(added.definitions)[-1] == "twice"
    assert added.interpreter.call("twice", 0) == 2


def test_scratch_refuses_every_code_change(tmp_path: Path) -> None:
    agent = load(tmp_path)
    scratch = agent.scratch(step_candidate(5))
    refusal = "a scratch agent cannot change its code"
    with pytest.raises(AgentError, match=f"^{refusal}$"):
        scratch.rewrite("step", read("(defn step [] 7)"), reason="no")
    with pytest.raises(AgentError, match=f"^{refusal}$"):
        scratch.rollback("v1.0.0")
    with pytest.raises(AgentError, match=f"^{refusal}$"):
        scratch.reload()
    assert scratch.before_risky is not None
    with pytest.raises(AgentError, match=f"^{refusal}$"):
        scratch.before_risky("anything")
    # Agent code calling rewrite! in a scratch copy fails (and changes nothing).
    with pytest.raises(ProgramError, match=f"AgentError: {refusal}"):
        scratch.interpreter.eval("(rewrite! 'step '(defn step [] 9) :reason \"sneaky\")")
    assert scratch.handle("1") == "6"


def test_scratch_of_a_broken_candidate_raises_the_lisp_error(tmp_path: Path) -> None:
    agent = load(tmp_path)
    with pytest.raises(LispError, match="NameError"):
        agent.scratch(Definition("step", DefinitionKind.VALUE, "(setv step (undefined-thing))"))
    result = agent.rewrite("step", read("(defn step [] (/ 1 0))"), reason="divides")
    assert not result.accepted
    assert result.failures == ["test step-is-small failed: <hooks/defs/step.hy>:1:15: ZeroDivisionError: division by zero"]


# -- canaries ----------------------------------------------------------------------------------


def test_with_candidate_shares_the_state_and_its_listener(tmp_path: Path) -> None:
    log: Log = []
    agent = load(tmp_path, log)
    agent.handle("remember the live note")
    seq, logged = agent.state.seq, len(log)
    canary = agent.with_candidate(step_candidate(5))
    assert canary.role == "canary" and canary.state is agent.state
    assert (agent.state.seq, len(log)) == (seq, logged)  # building it applied nothing
    assert canary.handle("1") == "6"
    assert agent.handle("1") == "2"
    ops = [op for _, op, _ in log[logged:]]
    assert ops == ["append_message", "append_message", "append_message", "append_message"]
    assert [args["text"] for _, _, args in log[logged:]] == ["1", "6", "1", "2"]
    assert canary.handle("remember from the canary") == "ok"
    assert len(agent.state.memory_stores["notes"]) == 2
    assert replayable(replay(log)) == replayable(agent.state)


def test_a_canary_cannot_change_code_or_memories(tmp_path: Path) -> None:
    log: Log = []
    agent = load(tmp_path, log)
    canary = agent.with_candidate(step_candidate(5))
    with pytest.raises(AgentError, match=r"^a canary agent cannot change its code$"):
        canary.rewrite("step", read("(defn step [] 7)"), reason="no")
    with pytest.raises(AgentError, match=r"^a canary agent cannot change its code$"):
        canary.rollback("v1.0.0")
    logged = len(log)
    weights = agent.state.memory_stores["notes"].weights
    reweighted = agent.with_candidate(Definition("notes", DefinitionKind.MEMORY, "(defmemory notes :dim 64)"))
    assert agent.state.memory_stores["notes"].weights == weights  # not reconfigured
    assert len(log) == logged
    assert reweighted.handle("1") == "2"
    logged += 2  # its two messages
    with pytest.raises(MemoryChangeError, match="memory extra: a canary agent cannot create a memory"):
        agent.with_candidate(Definition("extra", DefinitionKind.MEMORY, "(defmemory extra :dim 8)"))
    assert list(agent.state.memory_stores) == ["notes"] and len(log) == logged


def test_a_canary_in_propose_mode_proposes(tmp_path: Path) -> None:
    agent = Agent.load(ROOT / "agents" / "greeter.hy", tmp_path / "g")
    agent.propose_rewrites = True
    canary = agent.with_candidate(agent.definitions["greet"])
    assert canary.propose_rewrites
    assert canary.handle("feedback: Hi there!") == "Thanks! I will try greeting with: Hi there!"
    intents = agent.state["evolution"]["intents"]
    assert [(i["definition"], i["origin"]) for i in intents] == [("greet", "agent")]
    assert agent.handle("hello") == "hello."


# -- memory reconfiguration ------------------------------------------------------------------------


def test_a_rewritten_defmemory_reconfigures_the_live_store_and_replays_exactly(tmp_path: Path) -> None:
    log: Log = []
    agent = load(tmp_path, log)
    store = agent.state.memory_stores["notes"]
    assert store.weights.to_dict() == {"vector": 0.1, "keyword": 0.1, "recency": 0.4, "importance": 0.4}
    agent.handle("remember a note written before the change")
    result = agent.rewrite("notes", notes_candidate(':dim 64 :weights {"vector" 0.7 "keyword" 0.3 "recency" 0.0 "importance" 0.0}'),
                           reason="relevance first", bump="minor")
    assert result.accepted, result.failures
    assert store.weights.to_dict() == {"vector": 0.7, "keyword": 0.3, "recency": 0.0, "importance": 0.0}
    applied = [args for _, op, args in log if op == "memory_apply" and args["payload"]["op"] == "memory_set_weights"]
    assert [a["payload"] for a in applied] == [
        {"op": "memory_set_weights", "weights": {"vector": 0.7, "keyword": 0.3, "recency": 0.0, "importance": 0.0}}]
    assert replayable(replay(log)) == replayable(agent.state)
    # Re-evaluating an unchanged defmemory applies nothing.
    logged = len(log)
    agent.reload()
    assert len(log) == logged
    # A rollback brings the old weights back, logged too.
    agent.rollback("v1.0.0", "back")
    assert store.weights.to_dict() == {"vector": 0.1, "keyword": 0.1, "recency": 0.4, "importance": 0.4}
    assert log[-2][1] == "memory_apply" and log[-1][1] == "record_rewrite"
    again = replay(log)
    assert replayable(again) == replayable(agent.state)
    assert again.memory_stores["notes"].weights == store.weights
    # A restart on the replayed state with the same code applies nothing more.
    before = len(log)
    Agent.load(tmp_path / "hooks.hy", tmp_path / "data", clock=Clock(), state=again)
    assert len(log) == before and again.seq == agent.state.seq


def test_an_option_that_cannot_change_under_blocks_is_rejected(tmp_path: Path) -> None:
    agent = load(tmp_path)
    empty = agent.rewrite("notes", notes_candidate(f":dim 32 :weights {WEIGHTS}"), reason="smaller")
    assert empty.failures == ["memory notes: option dim cannot change (64 → 32) once the memory exists"]
    agent.handle("remember something")
    head = agent.repository.head()
    result = agent.rewrite("notes", notes_candidate(f":dim 32 :weights {WEIGHTS}"), reason="smaller")
    assert not result.accepted
    assert result.failures == ["memory notes: option dim cannot change (64 → 32) while it holds blocks"]
    blocks = agent.rewrite("notes", notes_candidate(f":dim 64 :block-size 128 :weights {WEIGHTS}"), reason="b")
    assert blocks.failures == ["memory notes: option block-size cannot change (512 → 128) while it holds blocks"]
    assert agent.repository.head() == head
    assert agent.state.memory_stores["notes"].config.dim == 64
    with pytest.raises(MemoryChangeError, match="option dim cannot change"):
        agent.scratch(Definition("notes", DefinitionKind.MEMORY, "(defmemory notes :dim 32)"))


def test_defmemory_weights_must_be_literal_data(tmp_path: Path) -> None:
    agent = load(tmp_path)
    result = agent.rewrite("notes", notes_candidate(':dim 64 :weights {"vector" (+ 1 2)}'), reason="code")
    assert len(result.failures) == 1
    assert "memory notes: option :weights must be a literal" in result.failures[0]
    unknown = agent.rewrite("notes", notes_candidate(':dim 64 :weights {"speed" 1.0}'), reason="unknown")
    assert "unknown weight" in unknown.failures[0]


# -- state operations ----------------------------------------------------------------------------


def fresh() -> AgentState:
    return AgentState("id-1", "tester", "0.1.0")


FEEDBACK = {"id": "f1", "rating": 0.5, "comment": "nice", "reply_to": "r3", "time": 10.0}
INTENT = {"id": "e1", "definition": "greet", "hypothesis": "warmer", "origin": "feedback", "source": None, "time": 11.0}
CYCLE = {"cycle": "c1", "target": "greet", "generator": "mutation", "operator": "swap-literal", "outcome": "promoted",
         "reason": "better", "stats": {"operators": {"swap-literal": {"tries": 1, "wins": 1}}}, "time": 12.0}


@pytest.mark.parametrize(("op", "args", "message"), [
    ("record_feedback", {k: v for k, v in FEEDBACK.items() if k != "rating"}, "mutation 'record_feedback' needs argument 'rating'"),
    ("record_feedback", dict(FEEDBACK, rating=2), "mutation 'record_feedback': rating must be a number in [-1, 1], got 2"),
    ("record_feedback", dict(FEEDBACK, rating=True), "mutation 'record_feedback': rating must be a number in [-1, 1], got True"),
    ("record_feedback", dict(FEEDBACK, rating=float("nan")), "mutation 'record_feedback': rating must be a number in [-1, 1], got nan"),
    ("record_feedback", dict(FEEDBACK, reply_to=3), "mutation 'record_feedback': argument 'reply_to' has the wrong type (int)"),
    ("evolution_intent", dict(INTENT, origin="users"),
     "mutation 'evolution_intent': origin must be one of agent, operator, feedback, metrics, tests, got 'users'"),
    ("evolution_intent", {k: v for k, v in INTENT.items() if k != "source"}, "mutation 'evolution_intent' needs argument 'source'"),
    ("record_evolution", dict(CYCLE, outcome="kept"),
     "mutation 'record_evolution': outcome must be one of promoted, rejected, rolled_back, got 'kept'"),
    ("record_evolution", dict(CYCLE, stats=[1]), "mutation 'record_evolution': argument 'stats' has the wrong type (list)"),
    ("append_message", {"role": "agent", "text": "hi", "time": 1.0, "id": 7}, "mutation 'append_message': argument 'id' has the wrong type (int)"),
])
def test_new_operations_refuse_malformed_arguments(op: str, args: dict[str, Any], message: str) -> None:
    state = fresh()
    before = state.to_data()
    with pytest.raises(StateError) as error:
        state.apply(op, args)
    assert str(error.value) == message
    assert state.to_data() == before


def test_new_operations_apply_and_replay_exactly() -> None:
    log: list[tuple[str, dict[str, Any]]] = []
    state = fresh()
    state.on_mutation(lambda seq, op, args: log.append((op, args)))
    state.apply("append_message", {"role": "agent", "text": "hi", "time": 9.0, "id": "r1"})
    state.apply("record_feedback", FEEDBACK)
    state.apply("evolution_intent", INTENT)
    state.apply("evolution_intent", dict(INTENT, id="e2", origin="agent", source="(defn greet [] 1)"))
    state.apply("record_evolution", CYCLE)
    assert state["messages"] == [{"role": "agent", "text": "hi", "time": 9.0, "id": "r1"}]
    assert state["feedback"] == [FEEDBACK]
    assert state["evolution"]["intents"] == [INTENT, dict(INTENT, id="e2", origin="agent", source="(defn greet [] 1)")]
    assert state["evolution"]["history"] == [{k: v for k, v in CYCLE.items() if k != "stats"}]
    assert state["evolution"]["stats"] == CYCLE["stats"]
    copy = fresh()
    for op, args in log:
        copy.apply(*msgpack.unpackb(msgpack.packb([op, args])))
    assert copy.to_data() == state.to_data()
    data = state.to_data()
    assert AgentState.from_data(msgpack.unpackb(msgpack.packb(data))).to_data() == data


def test_feedback_and_evolution_records_are_bounded() -> None:
    state = fresh()
    for i in range(HISTORY_LIMIT + 3):
        state.apply("record_feedback", dict(FEEDBACK, id=f"f{i}"))
    for i in range(EVOLUTION_LIMIT + 2):
        state.apply("evolution_intent", dict(INTENT, id=f"e{i}"))
        state.apply("record_evolution", dict(CYCLE, cycle=f"c{i}", stats={"n": i}))
    assert len(state["feedback"]) == HISTORY_LIMIT and state["feedback"][0]["id"] == "f3"
    assert len(state["evolution"]["intents"]) == EVOLUTION_LIMIT and state["evolution"]["intents"][0]["id"] == "e2"
    assert len(state["evolution"]["history"]) == EVOLUTION_LIMIT
    assert state["evolution"]["stats"] == {"n": EVOLUTION_LIMIT + 1}


def test_checkpoints_written_before_evolution_still_load() -> None:
    state = fresh()
    state.apply("append_message", {"role": "user", "text": "old", "time": 1.0})
    old = state.to_data()
    del old["feedback"], old["evolution"]
    loaded = AgentState.from_data(msgpack.unpackb(msgpack.packb(old)))
    assert loaded["feedback"] == []
    assert loaded["evolution"] == {"intents": [], "history": [], "stats": {}}
    assert loaded["messages"] == [{"role": "user", "text": "old", "time": 1.0}]
    loaded.apply("record_feedback", FEEDBACK)
    assert loaded["feedback"] == [FEEDBACK]
    partial = dict(old, evolution={"intents": [INTENT]})
    assert AgentState.from_data(partial)["evolution"] == {"intents": [INTENT], "history": [], "stats": {}}


# -- replies, feedback and evolution from the agent -------------------------------------------------


def test_replies_have_ids_and_feedback_refers_to_them(tmp_path: Path) -> None:
    agent = load(tmp_path)
    assert agent.last_reply_id is None
    assert agent.handle("1") == "2"
    reply_id = agent.last_reply_id
    assert reply_id == f"r{agent.state.seq}"
    assert agent.state["messages"][-1]["id"] == reply_id
    assert "id" not in agent.state["messages"][-2]  # user messages carry none
    feedback_id = agent.feedback(1, "exactly right", reply_id)
    assert feedback_id == f"f{agent.state.seq}"
    assert agent.state["feedback"] == [{"id": feedback_id, "rating": 1.0, "comment": "exactly right",
                                        "reply_to": reply_id, "time": agent.clock.now}]  # type: ignore[attr-defined]
    agent.feedback(-0.5, "too terse")
    assert agent.handle("feedback?") == str([dict(agent.state["feedback"][-1])])
    assert agent.handle("2") == "3" and agent.last_reply_id != reply_id
    with pytest.raises(StateError, match=r"rating must be a number in \[-1, 1\], got 1.5"):
        agent.feedback(1.5)
    with pytest.raises(AgentError, match="a rating must be a number in"):
        agent.feedback("good")  # type: ignore[arg-type]


def test_evolve_records_an_intent_with_the_candidate_source(tmp_path: Path) -> None:
    log: Log = []
    agent = load(tmp_path, log)
    intent_id = agent.handle("intend")
    assert intent_id == log[-2][2]["id"] and log[-2][1] == "evolution_intent"
    assert agent.state["evolution"]["intents"] == [{
        "id": intent_id, "definition": "step", "hypothesis": "bigger steps", "origin": "agent",
        "source": "(defn step [] 2)", "time": log[-2][2]["time"]}]
    assert agent.handle("1") == "2"  # nothing changed in the code
    with pytest.raises(ProgramError, match="ToolError: candidate for step refused: the new form defines 'other', not 'step'"):
        agent.handle("intend other")
    with pytest.raises(ToolError, match=r"^agent hooks has no definition missing$"):
        agent.evolve("missing", hypothesis="x")
    with pytest.raises(ToolError, match="needs a hypothesis"):
        agent.evolve("step", hypothesis="  ")
    operator_id = agent.evolve("step", hypothesis="operator asks", origin="operator")
    assert agent.state["evolution"]["intents"][-1] == {
        "id": operator_id, "definition": "step", "hypothesis": "operator asks", "origin": "operator",
        "source": None, "time": agent.state["evolution"]["intents"][-1]["time"]}
    assert replayable(replay(log)) == replayable(agent.state)


def test_evolution_stats_builtin_reads_the_learning_stats(tmp_path: Path) -> None:
    agent = load(tmp_path)
    assert agent.handle("stats?") == "{}"
    agent.state.apply("record_evolution", dict(CYCLE, stats={"cycles": 1}))
    assert agent.handle("stats?") == "{'cycles': 1}"


# -- propose mode ------------------------------------------------------------------------------------


def test_propose_mode_turns_validated_rewrites_into_intents(tmp_path: Path) -> None:
    agent = Agent.load(ROOT / "agents" / "greeter.hy", tmp_path / "g")
    agent.propose_rewrites = True
    head = agent.repository.head()
    assert agent.handle("feedback: Good morning!") == "Thanks! I will try greeting with: Good morning!"
    assert agent.handle("hello") == "hello."  # not hot-swapped
    assert agent.repository.head() == head  # not committed
    assert agent.state.version == "0.1.0"
    [intent] = agent.state["evolution"]["intents"]
    assert (intent["definition"], intent["origin"], intent["hypothesis"]) == ("greet", "agent", 'feedback: greet with "Good morning!"')
    assert intent["source"] == '(when-> :name greet (in "hello" (.lower msg)) "Good morning!")'
    result = agent.interpreter.eval("(rewrite! 'greet '(when-> :name greet (in \"hello\" (.lower msg)) \"Hey.\") :reason \"try\")")
    assert result == {"accepted": False, "pending": True, "intent": result["intent"], "name": "greet", "reason": "try",
                      "commit": None, "version": None, "failures": []}
    # A candidate failing validation is still rejected and recorded as before.
    refused = agent.handle("feedback: you are stupid")
    assert refused is not None and refused.startswith("I could not learn that: test greeting-is-polite failed")
    assert len(agent.state["evolution"]["intents"]) == 2
    assert [h.summary for h in agent.repository.history(all=True) if h.rejected] == ['Rejected: feedback: greet with "you are stupid"']
    # The host's own rewrite still applies at once.
    direct = agent.rewrite("greet", read('(when-> :name greet (in "hello" (.lower msg)) "Hi!")'), reason="operator")
    assert direct.accepted and agent.handle("hello") == "Hi!"
