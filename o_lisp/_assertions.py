"""Messages of failed `assert`s: the asserted expression and the values that made it fail.

`(assert (= (bitcount 127) 7))` fails with `AssertionError: (= (bitcount 127) 7): 6 != 7`.
The compiler (`Compiler.assert_`) evaluates the operands of a comparison (`=`, `!=`, `<`,
`<=`, `>`, `>=`, `is`, `is-not`, `in`, `not-in`) once each, in order, checks them pair by
pair like Python's chained comparison, and for the first pair that fails calls the
function made here with the operator and both values; for any other condition it passes
the condition's value (`(assert (even? n)): False`). An `assert` with a message of its
own raises `AssertionError(message)` exactly as Hy does.

The message is bounded whatever the values: each is printed with `hy_repr` and cut to
`VALUE_CHARS` characters (or the size limit, if smaller), the expression to
`SOURCE_CHARS`, and the work is charged to the budget as one step per character, so a
huge value can neither escape the size limit through an error message nor print for
long.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from o_lisp._budget import Budget
from o_lisp._errors import LimitExceeded
from o_lisp._printer import hy_repr

VALUE_CHARS = 120
"""The most characters of one value a message shows."""
SOURCE_CHARS = 200
"""The most characters of the asserted expression a message shows."""
ELLIPSIS = "..."

FAILED_RELATION: dict[str, str] = {
    "=": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<",
    "is": "is not", "is-not": "is", "in": "not in", "not-in": "in",
}  # fmt: skip
"""What holds between the two values when `(OP a b)` is false: `(= a b)` fails as `a != b`."""

_OPEN_CLOSE: dict[type, tuple[str, str]] = {
    list: ("[", "]"), tuple: ("#(", ")"), set: ("#{", "}"), frozenset: ("(frozenset #{", "})"),
}


def cut(text: str, limit: int) -> str:
    """`text`, or its first characters and an ellipsis, in at most `limit` characters."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ELLIPSIS))] + ELLIPSIS


def bounded_repr(value: Any, limit: int) -> str:
    """`hy_repr(value)` in at most `limit` characters, computed with bounded work: a long
    string or collection shows its beginning, a huge number its size."""
    if isinstance(value, str | bytes) and len(value) > limit:
        quoted = hy_repr(value[:limit])  # "abc..." (b"..." for bytes): keep the closing quote
        return cut(quoted[:-1], limit - 1) + quoted[-1]
    if type(value) is int and value.bit_length() > 4 * limit:  # > limit decimal digits
        return f"<int of {value.bit_length()} bits>"
    try:
        return hy_repr(value, limit)
    except LimitExceeded:
        pass
    return cut(_prefix(value, limit), limit)


def _prefix(value: Any, limit: int) -> str:
    """The beginning of a value's printed form when the whole would exceed `limit`."""
    brackets = _OPEN_CLOSE.get(type(value))
    if isinstance(value, dict):
        items: list[Any] = [item for pair in _first(value.items(), limit) for item in pair]
        brackets = ("{", "}")
    elif brackets is not None:
        items = list(_first(value, limit))
    else:
        return f"<{type(value).__name__}, too long to show>"
    parts: list[str] = []
    room = limit - len(brackets[0]) - len(brackets[1]) - len(ELLIPSIS)  # for the items and spaces
    for item in items:
        try:
            text = hy_repr(item, room - 1)
        except LimitExceeded:
            break
        if len(text) + 1 > room:
            break
        parts.append(text)
        room -= len(text) + 1
    return f"{brackets[0]}{' '.join([*parts, ELLIPSIS])}{brackets[1]}"


def _first(items: Any, n: int) -> list[Any]:
    """At most `n` items of an iterable (one printed character each at the least)."""
    out: list[Any] = []
    for item in items:
        if len(out) >= n:
            break
        out.append(item)
    return out


def make_assertion_failed(budget: Budget) -> Callable[..., AssertionError]:
    """The runtime helper the compiled `assert` calls (as `_o_assertion_failed`) to build its
    error: `(source, op, left, right)` for a comparison, `(source, None, value)` otherwise."""

    def assertion_failed(source: str, op: str | None, *values: Any) -> AssertionError:
        limit = VALUE_CHARS
        if budget.limits.max_size is not None:
            limit = max(1, min(limit, budget.limits.max_size))
        shown = [bounded_repr(value, limit) for value in values]
        if op is not None:
            detail = f"{shown[0]} {FAILED_RELATION[op]} {shown[1]}"
        elif shown[0] == source:  # a literal: (assert False)
            detail = ""
        else:
            detail = shown[0]
        message = f"{source}: {detail}" if detail else source
        budget.charge(len(message))
        return AssertionError(message)

    return assertion_failed


def assertion_source(text: str) -> str:
    """The asserted expression as the message shows it (bounded)."""
    return cut(text, SOURCE_CHARS)
