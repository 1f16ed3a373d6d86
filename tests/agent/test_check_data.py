"""`check_data`'s fast path (`_plainly_data`) must never accept what the exact recursive
check (`_check_data`) refuses: agent state has to round-trip through msgpack."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o_lisp.agent._state import StateError, _check_data, _plainly_data, check_data


class Text(str):
    pass


class Number(int):
    pass


class Real(float):
    pass


def outcome(check: Any, value: Any) -> str | None:
    """The StateError message a check raises for `value`, or None if it accepts it."""
    try:
        check(value)
    except StateError as error:
        return str(error)
    return None


def assert_same_verdict(value: Any) -> None:
    fast = outcome(lambda v: check_data(v, "x"), value)
    exact = outcome(lambda v: _check_data(v, "x", 0), value)
    assert fast == exact


_ints = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**63) - 3, max_value=-(2**63) + 3),
    st.integers(min_value=2**63 - 3, max_value=2**63 + 3),
    st.integers(min_value=2**64 - 3, max_value=2**64 + 3),
    st.sampled_from([2**100, -(2**100)]),
)
_unsupported = st.sampled_from(
    [
        {1, 2},
        frozenset(),
        object(),
        Text("sub"),
        Number(5),
        Number(2**64),
        Real(1.5),
        bytearray(b"x"),
        complex(1, 2),
        range(3),
    ]
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    _ints,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.binary(max_size=5),
)
_keys = st.one_of(
    st.text(max_size=4),
    _ints,
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.tuples(st.integers()),
    st.builds(Text, st.text(max_size=3)),
    st.builds(Number, st.integers()),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(_keys, children, max_size=4),
    )


_values = st.recursive(
    st.one_of(_scalars, _scalars, _unsupported),
    _containers,
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(value=_values)
def test_fast_path_agrees_with_the_exact_check(value: Any) -> None:
    """Same accept/refuse verdict and the same message for any value."""
    assert_same_verdict(value)


def _nest(depth: int, kind: str, bottom: Any) -> Any:
    """`bottom` wrapped in `depth` lists or single-key dicts (depth 0 is `bottom` itself)."""
    value = bottom
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


_NO_BOTTOM = object()


@settings(max_examples=200, deadline=None)
@given(
    depth=st.integers(min_value=60, max_value=67),
    kinds=st.lists(st.sampled_from(["list", "tuple", "dict"]), min_size=67, max_size=67),
    bottom=_values,
)
def test_fast_path_agrees_near_the_depth_limit(depth: int, kinds: list[str], bottom: Any) -> None:
    """Random values at the bottom of 60-67 mixed containers (the generic strategy stays shallow)."""
    value = bottom
    for kind in kinds[:depth]:
        value = [value] if kind == "list" else (value,) if kind == "tuple" else {0: value}
    assert_same_verdict(value)


@pytest.mark.parametrize("kind", ["list", "dict"])
@pytest.mark.parametrize("depth", [63, 64, 65, 66])
@pytest.mark.parametrize("bottom", [_NO_BOTTOM, 7, "s", None, 2**64, [], {}], ids=repr)
def test_depth_limit_agrees(kind: str, depth: int, bottom: Any) -> None:
    """Around the depth limit of 64: with and without a scalar at the bottom, and an
    empty container at the bottom (at depth 64 allowed, at 65 refused)."""
    if bottom is _NO_BOTTOM:
        value = _nest(depth - 1, kind, [] if kind == "list" else {})
    else:
        value = _nest(depth, kind, bottom)
    assert_same_verdict(value)


def test_depth_limit_boundaries() -> None:
    """The limit itself: what sits at depth 64 is storable, at depth 65 it is not."""
    check_data(_nest(64, "list", 1), "x")
    check_data(_nest(64, "dict", []), "x")
    check_data(_nest(63, "list", [1, "a", None, 2.5, b"b"]), "x")
    for value in (_nest(65, "list", 1), _nest(65, "dict", []), _nest(64, "list", [1])):
        with pytest.raises(StateError, match="nested too deeply"):
            check_data(value, "x")


def test_a_deep_tail_behind_shallow_values_is_still_refused() -> None:
    """The fast path walks every branch, not just the first: a deep tail in a late
    element of a wide structure is found."""
    wide = {"a": [1, 2, 3], "b": {"c": "d"}, "z": [0, _nest(66, "list", 1)]}
    with pytest.raises(StateError, match="nested too deeply"):
        check_data(wide, "x")
    assert_same_verdict(wide)


@pytest.mark.parametrize(
    "value",
    [
        {"ok": [1, 2, {Text("k"): 1}]},
        [1, Number(3)],
        [Real(1.0)],
        (Text("t"),),
        [True, False, 2**64 - 1, -(2**63)],
    ],
    ids=repr,
)
def test_subclasses_and_bools_are_accepted_by_the_exact_check(value: Any) -> None:
    """What the fast path does not certify (subclasses) the exact check still accepts."""
    check_data(value, "x")
    _check_data(value, "x", 0)


@pytest.mark.parametrize(
    "value",
    [
        [2**64],
        {"k": -(2**63) - 1},
        [Number(2**64)],
        [{1, 2}],
        {"k": object()},
        {(1,): 2},
        {None: 1},
        {1.5: "x"},
        {True: 1, 2: 2},
        [bytearray(b"x")],
    ],
    ids=repr,
)
def test_unstorable_values_are_refused_with_their_path(value: Any) -> None:
    """Refusals keep the exact check's path-bearing messages."""
    with pytest.raises(StateError) as caught:
        check_data(value, "x")
    assert str(caught.value).startswith("x")
    assert_same_verdict(value)


_MEMORY_PAYLOADS = [
    {
        "memory": "notes",
        "payload": {
            "op": "memory_add",
            "blocks": [
                {
                    "id": "m1-0",
                    "text": "hi",
                    "embedding": b"\0" * 256,
                    "metadata": {"i": 1},
                    "importance": 0.5,
                    "kind": "long_term",
                    "created": 1.0,
                }
            ],
        },
        "time": 2.0,
    },
    {"role": "user", "text": "hi", "time": 1700000000.0},
    {"items": [[1, -2, 2**64 - 1, -(2**63)], ("a", None, True)], 7: {"nested": [{}]}},
    _nest(64, "list", "bottom"),
]


@pytest.mark.parametrize("value", _MEMORY_PAYLOADS, ids=lambda v: type(v).__name__)
def test_typical_payloads_take_the_fast_path(value: Any) -> None:
    """The fast path is really taken for ordinary mutation arguments (else it is dead weight)."""
    assert _plainly_data(value) is True
    check_data(value, "x")


@pytest.mark.parametrize(
    "value",
    [[Text("s")], [Number(1)], {True: 1}, [2**64], _nest(65, "list", 1), [{1}]],
    ids=repr,
)
def test_fast_path_declines_what_it_cannot_certify(value: Any) -> None:
    """Subclasses, bool keys, big ints and deep nesting are left to the exact check."""
    assert _plainly_data(value) is False


def test_check_data_with_a_depth_skips_the_fast_path() -> None:
    """A caller's explicit starting depth is honoured (the fast path assumes depth 0)."""
    with pytest.raises(StateError, match="nested too deeply"):
        check_data([[1]], "x", depth=63)
    check_data([1], "x", depth=63)


@pytest.mark.parametrize("key", [2**64, -(2**63) - 1, 2**70])
def test_integer_keys_must_fit_in_64_bits(key: int) -> None:
    """msgpack cannot carry them: refused by both paths with the same message."""
    value = {"a": {key: 1}}
    assert not _plainly_data(value)
    with pytest.raises(StateError, match=rf"x\[.a.\]: integer key {key} does not fit in 64 bits"):
        check_data(value, "x")
    check_data({"a": {2**64 - 1: 1, -(2**63): 2}}, "x")
