"""Agent state: one narrow mutation API, exact msgpack round trips, replay."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o_lisp.agent._lifecycle import IllegalTransition
from o_lisp.agent._state import OPERATIONS, AgentState, StateError

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=10),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
times = st.floats(min_value=0, max_value=4e9, allow_nan=False)

mutations = st.one_of(
    st.builds(lambda r, t, tm: ("append_message", {"role": r, "text": t, "time": tm}),
              st.sampled_from(["user", "agent"]), st.text(max_size=30), times),
    st.builds(lambda k, v: ("context_set", {"key": k, "value": v}), st.text(max_size=8), values),
    st.builds(lambda k: ("context_delete", {"key": k}), st.text(max_size=8)),
    st.builds(lambda tool, a, ok, d, tm, out: ("record_tool_call", {"tool": tool, "args": a, "ok": ok, "duration_ms": d, "time": tm, "result" if ok else "error": out}),
              st.text(max_size=8), st.lists(values, max_size=3), st.booleans(), st.floats(min_value=0, max_value=1e4), times, values),
    st.builds(lambda n, ok, d: ("record_metric", {"name": n, "ok": ok, "duration_ms": d}),
              st.text(max_size=8), st.booleans(), st.floats(min_value=0, max_value=1e4)),
    st.builds(lambda rid, ctx: ("workflow_update", {"run_id": rid, "run": {"workflow": "w", "status": "running", "next": 0, "ctx": ctx}}),
              st.text(max_size=5), st.dictionaries(st.text(max_size=5), values, max_size=3)),
    st.builds(lambda n, c, v, r, t: ("record_rewrite", {"name": n, "commit": c, "version": v, "reason": r, "time": t}),
              st.text(max_size=8), st.text(max_size=8), st.sampled_from(["0.1.0", "0.1.1", "1.0.0"]), st.text(max_size=12), times),
)


def fresh() -> AgentState:
    return AgentState("id-1", "tester", "0.1.0")


def replay(ops: list[tuple[str, dict[str, Any]]], state: AgentState | None = None) -> AgentState:
    state = state or fresh()
    for op, args in ops:
        state.apply(op, args)
    return state


@settings(max_examples=150, deadline=None)
@given(st.lists(mutations, max_size=25), st.lists(mutations, max_size=10))
def test_state_round_trips_exactly_through_msgpack(before: list[Any], after: list[Any]) -> None:
    state = replay(before)
    data = state.to_data()
    restored = AgentState.from_data(msgpack.unpackb(msgpack.packb(data), strict_map_key=False))
    assert restored.to_data() == data
    # Replaying the same later mutations on the original and the restored copy agrees.
    assert replay(after, restored).to_data() == replay(after, state).to_data()


@settings(max_examples=60, deadline=None)
@given(st.lists(mutations, max_size=20))
def test_a_logged_mutation_stream_rebuilds_the_state(ops: list[Any]) -> None:
    log: list[tuple[int, str, dict[str, Any]]] = []
    state = fresh()
    state.on_mutation(lambda seq, op, args: log.append((seq, op, msgpack.unpackb(msgpack.packb(args), strict_map_key=False))))
    replay(ops, state)
    rebuilt = replay([(op, args) for _, op, args in log])
    assert rebuilt.to_data() == state.to_data()
    assert [seq for seq, _, _ in log] == list(range(1, len(ops) + 1))


def test_bad_mutations_change_nothing_and_are_not_logged() -> None:
    state = fresh()
    seen: list[str] = []
    state.on_mutation(lambda seq, op, args: seen.append(op))
    before = state.to_data()
    with pytest.raises(StateError, match="unknown state mutation 'explode'"):
        state.apply("explode", {})
    with pytest.raises(StateError, match="mutation 'append_message' needs argument 'time'"):
        state.apply("append_message", {"role": "user", "text": "x"})
    with pytest.raises(StateError, match="a set cannot be stored in agent state"):
        state.apply("context_set", {"key": "k", "value": {1, 2}})
    with pytest.raises(IllegalTransition, match="cannot go from initializing to suspended"):
        state.apply("set_lifecycle", {"to": "suspended"})
    assert state.to_data() == before
    assert seen == []


def test_operations_are_a_closed_set() -> None:
    assert {"append_message", "context_set", "record_tool_call", "memory_apply", "set_lifecycle"} <= OPERATIONS


memory_texts = st.lists(st.text(alphabet="abcdefgh ", min_size=1, max_size=60).filter(str.strip), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None)
@given(memory_texts, st.lists(st.floats(min_value=0, max_value=1), min_size=8, max_size=8))
def test_memory_mutations_round_trip_and_replay(texts: list[str], importances: list[float]) -> None:
    from o_lisp.memory import MemoryStore

    state = fresh()
    log: list[tuple[str, dict[str, Any]]] = []
    state.on_mutation(lambda seq, op, args: log.append((op, msgpack.unpackb(msgpack.packb(args), strict_map_key=False))))
    state.apply("memory_create", {"memory": "notes", "config": {"name": "notes", "block_size": 64, "overlap": 8, "dim": 64}})
    store = state.memory_stores["notes"]
    for i, text in enumerate(texts):
        payload = store.prepare_add(text, metadata={"i": i}, importance=importances[i], kind="short_term", now=1000.0 + i, id_prefix=f"m{i}")
        state.apply("memory_apply", {"memory": "notes", "payload": payload})
    data = state.to_data()
    restored = AgentState.from_data(msgpack.unpackb(msgpack.packb(data), strict_map_key=False), MemoryStore.from_data)
    assert restored.to_data() == data
    rebuilt = fresh()
    for op, args in log:
        rebuilt.apply(op, args)
    assert rebuilt.to_data() == data
    query = texts[0]
    ours = [h.id for h in state.memory_stores["notes"].search(query, k=3, now=2000.0)]
    assert [h.id for h in restored.memory_stores["notes"].search(query, k=3, now=2000.0)] == ours
