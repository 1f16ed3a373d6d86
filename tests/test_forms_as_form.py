"""`forms.as_form` promotes plain values to forms at every depth (like Hy's `as_model`)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o_lisp import Interpreter, read
from o_lisp._printer import to_source
from o_lisp.forms import (
    FORM_TYPES,
    Dict,
    Expression,
    Form,
    Integer,
    List,
    Sequence,
    String,
    Symbol,
    Tuple,
    as_form,
)

ATOMS = st.one_of(
    st.integers(),
    st.text(max_size=8),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.binary(max_size=4),
    st.sampled_from([Symbol("x"), Integer(3), String("s")]),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    items = st.lists(children, max_size=4)
    return st.one_of(
        items,
        items.map(tuple),
        items.map(Expression),
        items.map(List),
        items.map(Tuple),
        st.dictionaries(st.one_of(st.integers(), st.text(max_size=4)), children, max_size=3),
    )


NESTED = st.recursive(ATOMS, _containers, max_leaves=30)


def _only_forms(value: Any) -> bool:
    if not isinstance(value, FORM_TYPES):
        return False
    return all(_only_forms(x) for x in value) if isinstance(value, Sequence) else True


@settings(max_examples=300, deadline=None)
@given(NESTED)
def test_every_depth_is_a_form_and_reads_back(value: Any) -> None:
    form = as_form(value)
    assert _only_forms(form)
    assert as_form(form) is form  # already converted: returned as it is
    assert read(to_source(form)) == form


def test_a_value_two_levels_down_is_converted() -> None:
    inner = Expression([Symbol("b"), 5])
    outer = Expression([Symbol("a"), inner])
    form = as_form(outer)
    assert form == read("(a (b 5))")
    assert type(form[1][1]) is Integer


def test_positions_of_the_surrounding_forms_are_kept() -> None:
    source = read("(a (b c))")
    form = as_form(Expression([source[0], Expression([source[1][0], 7], source[1].position)], source.position))
    assert form.position == source.position
    assert form[1].position == source[1].position
    assert form[1][0].position == source[1][0].position


def test_a_fully_converted_form_is_returned_unchanged() -> None:
    form = read("(a (b [1 2] {3 4}))")
    assert as_form(form) is form


def test_shared_sub_values_are_converted_once() -> None:
    shared: list[Any] = [1, 2]
    form = as_form([shared, shared])
    assert form == List([List([Integer(1), Integer(2)])] * 2)
    assert form[0] is form[1]


def test_deep_nesting_does_not_hit_the_recursion_limit() -> None:
    value: Any = 1
    for _ in range(5000):
        value = [value]
    form = as_form(value)
    for _ in range(5000):
        assert type(form) is List
        form = form[0]
    assert form == Integer(1)


def test_a_value_containing_itself_is_refused() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(TypeError, match="cannot turn a list that contains itself into a form"):
        as_form(Expression([Symbol("f"), loop]))


def test_a_value_without_literal_syntax_is_refused_at_any_depth() -> None:
    with pytest.raises(TypeError, match="cannot turn a value of type function into a form"):
        as_form(Expression([Symbol("f"), [lambda: 1]]))


def test_dicts_flatten_to_alternating_keys_and_values() -> None:
    assert as_form({"a": [1]}) == Dict([String("a"), List([Integer(1)])])


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        ("(hy.as-model `(a (b ~5)))", read("(a (b 5))")),
        ("(hy.eval `(get [~[]] 0))", []),
        ("(hy.eval `(+ 1 (* 2 ~(+ 1 2))))", 7),
        ("(setv prefix \"- \") (hy.eval `(+ (+ ~prefix \"x\") \"y\"))", "- xy"),
    ],
)
def test_quasiquoted_values_nested_in_lists_evaluate(program: str, expected: Any) -> None:
    assert Interpreter().eval(program) == expected


def test_forms_stay_forms_through_the_sandbox() -> None:
    result = Interpreter().eval("(hy.as-model [1 [2 [\"x\"]]])")
    assert isinstance(result, Form)
    assert result == List([Integer(1), List([Integer(2), List([String("x")])])])
