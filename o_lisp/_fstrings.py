"""Run-time support of f-strings: fields are formatted only after their cost is known.

`f"{x:>999999999}"` would make Python allocate a gigabyte before any budget
check could run, so each field's format spec is parsed here first (Python's
format-spec mini-language), the size of the result is estimated from the
value, the width and the precision, and that size is charged to the size
budget (`Limits.max_size`) before `format` is called. A spec outside the
mini-language is refused with a ValueError, so no type's own `__format__`
interprets text we have not checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from o_lisp._budget import Budget

_SPEC = re.compile(
    r"(?:(?P<fill>[\s\S])?(?P<align>[<>=^]))?(?P<sign>[-+ ])?(?P<z>z)?(?P<alt>#)?(?P<zero>0)?"
    r"(?P<width>\d+)?(?P<grouping>[,_])?(?:\.(?P<precision>\d+))?(?P<type>[bcdeEfFgGnosxX%])?"
)
# Digits beyond this many in a width or precision mean "more than any budget allows".
_HUGE = 10**18
# Joined f-strings shorter than this skip the accounting (steps bound their number).
_SMALL_TOTAL = 4096


def _number(digits: str | None) -> int:
    if not digits:
        return 0
    return _HUGE if len(digits) > 18 else int(digits)


def _value_size(value: Any, kind: str, precision: int, text_size: Callable[[Any], int]) -> int:
    """An upper estimate of the characters `format(value, spec)` needs before padding."""
    t = type(value)
    if t is bool or t is int:
        bits: int = abs(value).bit_length()
        if kind in ("e", "E", "f", "F", "g", "G", "%"):
            return bits // 3 + precision + 12
        return bits + 4  # binary is the longest integer rendering (plus sign and 0b)
    if t is float:
        if kind in ("f", "F", "%"):
            return 320 + precision  # 308 integer digits at most, plus fraction and sign
        return precision + 32
    if t is complex:
        return 2 * (320 + precision) + 4
    if kind == "c":
        return 1
    if isinstance(value, str):
        return len(value)
    return text_size(value)


def make_formatter(
    budget: Budget,
    text_size: Callable[[Any], int],
    to_str: Callable[[Any], str],
    to_repr: Callable[[Any], str],
) -> tuple[Callable[[Any, str, str], str], Callable[[tuple[str, ...]], str]]:
    """(`_o_format`, `_o_fjoin`) bound to one interpreter's budget and safe str/repr."""

    def format_field(value: Any, conversion: str, spec: str) -> str:
        if conversion == "r":
            value = to_repr(value)
        elif conversion == "s":
            value = to_str(value)
        elif conversion == "a":
            budget.allocate(10 * text_size(value), "the f-string field")  # \U0001xxxx per character
            value = ascii(value)
        match = _SPEC.fullmatch(spec)
        if match is None:
            raise ValueError(f"invalid format spec {spec!r}")
        width = _number(match.group("width"))
        precision = _number(match.group("precision"))
        size = _value_size(value, match.group("type") or "", precision, text_size)
        if match.group("grouping"):
            size += size // 3
        budget.allocate(max(width, size), "the f-string field")
        result = format(value, spec)
        return result if type(result) is str else str(result)

    def join(pieces: tuple[str, ...]) -> str:
        total = 0
        for piece in pieces:
            total += len(piece)
        if total > _SMALL_TOTAL:
            budget.allocate(total, "the f-string")
        return "".join(pieces)

    return format_field, join


__all__ = ["make_formatter"]
