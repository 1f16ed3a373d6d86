"""Agent state is validated exactly as msgpack will encode it (issue 12, family 5).

Whatever `check_data` accepts must round-trip through every encoder the state meets:
the worker's `wal_append` frame as the guardian decodes it, the WAL record, and the
checkpoint body. What msgpack (or the guardian's decoder) cannot carry is refused by
`check_data` with a path, before anything is logged: a lone surrogate, integers outside
int64/uint64, boolean or float keys, nesting past 64 levels, and values whose *expanded*
encoding is too large (shared substructure counts once per reference).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o_lisp._errors import ProgramError
from o_lisp.agent._agent import Agent
from o_lisp.agent._state import MAX_DATA_BYTES, StateError, check_data, plain
from o_lisp.guardian._protocol import WalAppend, decode_body, encode_frame_unchecked
from o_lisp.guardian._wal import _decode_payload, _encode_payload

_texts = st.one_of(
    st.text(max_size=6),
    st.text(st.characters(codec=None, categories=None), max_size=6),  # surrogates included
    st.sampled_from(["\ud800", "a\udfff", "\udc80b", "é\ud83d"]),
)
_ints = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-(2**63) - 2, max_value=-(2**63) + 2),
    st.integers(min_value=2**64 - 2, max_value=2**64 + 2),
)
_scalars = st.one_of(st.none(), st.booleans(), _ints, st.floats(), _texts, st.binary(max_size=6))
_keys = st.one_of(_texts, _ints, st.booleans(), st.none(), st.floats(allow_nan=False))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(_keys, children, max_size=4),
        children.map(lambda shared: [shared, shared, shared]),  # shared substructure
    )


_values = st.recursive(_scalars, _containers, max_leaves=25)


def _accepted(value: Any) -> bool:
    try:
        check_data(value, "value")
    except StateError:
        return False
    return True


def _same(a: Any, b: Any) -> bool:
    """Equal as msgpack sees them (NaN-safe: compares encodings)."""
    return bool(msgpack.packb(a, use_bin_type=True) == msgpack.packb(b, use_bin_type=True))


@settings(max_examples=500, deadline=None)
@given(value=_values)
def test_what_check_data_accepts_round_trips_through_every_encoder(value: Any) -> None:
    if not _accepted(value):
        return
    args = {"key": "k", "value": value, "time": 1.0}
    # the worker's frame, decoded as the guardian decodes it (depth and key checks included)
    frame = encode_frame_unchecked(WalAppend, id=1, op="context_set", args=args)
    message = decode_body(frame[4:], sender="worker")
    assert isinstance(message, WalAppend)
    assert _same(message.args["value"], plain(value))
    # the WAL record
    op, decoded = _decode_payload(Path("wal"), 0, _encode_payload("context_set", args, 64 * 1024 * 1024))
    assert op == "context_set" and _same(decoded["value"], plain(value))
    # the checkpoint body
    body = msgpack.unpackb(msgpack.packb({"context": {"k": plain(value)}}, use_bin_type=True),
                           raw=False, strict_map_key=False, use_list=True)
    assert _same(body["context"]["k"], plain(value))


@settings(max_examples=300, deadline=None)
@given(value=_values)
def test_what_an_encoder_refuses_check_data_refuses(value: Any) -> None:
    """The converse on the same values: if the guardian cannot take the frame, the value
    was refused first (no mutation can be half-logged)."""
    try:
        frame = encode_frame_unchecked(WalAppend, id=1, op="context_set", args={"key": "k", "value": value, "time": 1.0})
        decode_body(frame[4:], sender="worker")
    except Exception:
        assert not _accepted(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (chr(55296), "lone surrogate"),
        (["ok", {"k": "x\udfff"}], "lone surrogate"),
        ({"\ud800": 1}, "lone surrogate"),
        ({True: 1}, "keys must be strings or integers, not bool"),
        ({1.5: 1}, "keys must be strings or integers, not float"),
        ([2**64], "does not fit in 64 bits"),
        ([-(2**63) - 1], "does not fit in 64 bits"),
    ],
    ids=repr,
)
def test_unencodable_values_are_refused(value: Any, message: str) -> None:
    with pytest.raises(StateError, match=message):
        check_data(value, "value")


def test_boundary_integers_are_accepted() -> None:
    check_data([2**64 - 1, -(2**63), {2**64 - 1: 1, -(2**63): 2}], "value")


def test_expanded_size_is_bounded_and_checked_in_linear_time() -> None:
    """A four-level DAG of 10^12 leaves: each level is one list of 1,000 references to the
    level below. The check visits the 4 distinct lists once each and refuses the size."""
    value: Any = [1]
    for _ in range(4):
        value = [value] * 1000
    with pytest.raises(StateError, match="bytes when encoded"):
        check_data(value, "value")
    wide = ["x" * 1024] * (MAX_DATA_BYTES // 1024 + 1)  # the same string a million times
    with pytest.raises(StateError, match="bytes when encoded"):
        check_data(wide, "value")
    check_data([[1, 2, 3]] * 100, "value")  # moderate sharing is fine


SEED = """\
(defagent keeper
  :version "1.0.0"
  (defn noop [] None)
  (when-> :name put (= msg "put") (state-set! "k" (chr 55296)) "stored")
  (when-> :name key (= msg "key") (state-set! "k" {True 1}) "stored")
  (when-> :name dag (= msg "dag")
    (setv v [1])
    (for [_ (range 4)] (setv v (* [v] 1000)))
    (state-set! "k" v) "stored")
  (when-> :name ok (= msg "ok") (state-set! "k" ["fine" 1 2]) "stored"))
"""


@pytest.mark.parametrize("message", ["put", "key", "dag"])
def test_state_set_refuses_and_the_state_still_checkpoints(tmp_path: Path, message: str) -> None:
    seed = tmp_path / "keeper.hy"
    seed.write_text(SEED)
    agent = Agent.load(seed, tmp_path / "data")
    for _ in range(3):  # the same attempt repeatedly: nothing is left behind
        with pytest.raises(ProgramError, match="StateError"):
            agent.handle(message)
    assert "k" not in agent.state["context"]
    assert agent.handle("ok") == "stored"
    data = agent.state.to_data()
    assert msgpack.unpackb(msgpack.packb(data, use_bin_type=True), raw=False, strict_map_key=False)["context"] == {
        "k": ["fine", 1, 2]}
