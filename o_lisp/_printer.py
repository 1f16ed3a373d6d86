"""Printing values and forms: `hy_repr` (identical to Hy's `hy.repr`) and `to_source`.

`hy_repr` is budget-aware: it stops with `LimitExceeded("size")` as soon as
the text it builds passes a length limit, so printing a list that holds one big
string a million times cannot allocate a terabyte. Self-references print as
`...` like Hy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from o_lisp._errors import LimitExceeded
from o_lisp.forms import (
    Bytes,
    Complex,
    Dict,
    Expression,
    Float,
    Form,
    Integer,
    Keyword,
    List,
    Set,
    String,
    Symbol,
    Tuple,
)

_PREFIX_SYNTAX = {
    "quote": "'",
    "quasiquote": "`",
    "unquote": "~",
    "unquote-splice": "~@",
    "unpack-iterable": "#* ",
    "unpack-mapping": "#** ",
}


# Characters printed per call of the `tick` callback (a budget step, so that the time
# limit can stop a long print).
_TICK_EVERY = 4096


class _Printer:
    __slots__ = ("limit", "next_tick", "quoting", "seen", "size", "tick")

    def __init__(self, limit: int | None, tick: Callable[[], Any] | None = None) -> None:
        self.limit = limit
        self.size = 0
        self.seen: set[int] = set()
        self.quoting = False
        self.tick = tick
        self.next_tick = _TICK_EVERY

    def emit(self, text: str) -> str:
        self.size += len(text)
        if self.limit is not None and self.size > self.limit:
            raise LimitExceeded(
                "size", f"printed text would exceed the size limit of {self.limit} characters"
            )
        if self.size >= self.next_tick and self.tick is not None:
            self.next_tick = self.size + _TICK_EVERY
            self.tick()
        return text

    def repr(self, obj: Any) -> str:
        started = False
        if not self.quoting and isinstance(obj, Form) and not isinstance(obj, Keyword):
            self.quoting = started = True
        oid = id(obj)
        if oid in self.seen:
            return self.emit(_PLACEHOLDERS.get(type(obj), "..."))
        self.seen.add(oid)
        try:
            text = self.dispatch(obj)
            return ("'" + text) if started else text
        finally:
            self.seen.discard(oid)
            if started:
                self.quoting = False

    def cat(self, items: Any) -> str:
        parts: list[str] = []
        for x in items:
            if parts:
                self.emit(" ")
            parts.append(self.repr(x))
        return " ".join(parts)

    def dispatch(self, obj: Any) -> str:
        handler = _HANDLERS.get(type(obj))
        if handler is not None:
            return handler(self, obj)
        if isinstance(obj, tuple) and hasattr(type(obj), "_fields"):
            fields = getattr(type(obj), "_fields")
            inner = " ".join(f":{k} {self.repr(v)}" for k, v in zip(fields, obj, strict=False))
            return self.emit(f"({type(obj).__name__} {inner})")
        return self.emit(repr(obj))


def _str_repr(p: _Printer, x: str | bytes) -> str:
    brackets = getattr(x, "brackets", None)
    if brackets is not None:
        return p.emit(f"#[{brackets}[{x!s}]{brackets}]")
    base = bytes.__repr__(x) if isinstance(x, bytes) else str.__repr__(x)
    r = base.lstrip("ub")
    prefix = "b" if isinstance(x, bytes) else ""
    if r.startswith('"'):
        return p.emit(prefix + r)
    return p.emit(prefix + '"' + r[1:-1].replace('"', '\\"') + '"')


def _float_repr(p: _Printer, x: float) -> str:
    value = float(x)
    if math.isnan(value):
        return p.emit("NaN")
    if value == math.inf:
        return p.emit("Inf")
    if value == -math.inf:
        return p.emit("-Inf")
    return p.emit(float.__repr__(value))


def _complex_repr(p: _Printer, x: complex) -> str:
    text = complex.__repr__(complex(x)).strip("()").replace("inf", "Inf").replace("nan", "NaN")
    return p.emit(text)


def _expression_repr(p: _Printer, x: Expression) -> str:
    x0 = x[0] if x else None
    x1 = x[1] if len(x) > 1 else None
    if (
        len(x) >= 3
        and all(type(e) is Symbol for e in x)
        and (x0 == Symbol(".") or (x1 == Symbol("None") and not str(x0).strip(".")))
    ):
        lead = str(x0) if x1 == Symbol("None") else ""
        rest = x[2:] if x1 == Symbol("None") else x[1:]
        return lead + ".".join(p.repr(e) for e in rest)
    if len(x) == 2 and type(x0) is Symbol and str(x0) in _PREFIX_SYNTAX:
        if str(x0) == "unquote" and isinstance(x1, Symbol) and x1.startswith("@"):
            return p.emit("~ ") + p.repr(x1)
        return p.emit(_PREFIX_SYNTAX[str(x0)]) + p.repr(x1)
    return p.emit("(") + p.cat(x) + p.emit(")")


def _dict_repr(p: _Printer, x: dict) -> str:
    parts = [p.repr(k) + " " + p.repr(v) for k, v in x.items()]
    return p.emit("{") + "  ".join(parts) + p.emit("}")


def _dict_form_repr(p: _Printer, x: Dict) -> str:
    parts = []
    for i, item in enumerate(x):
        parts.append((" " if i and i % 2 == 0 else "") + p.repr(item))
    return p.emit("{") + " ".join(parts) + p.emit("}")


def _wrapped(open_: str, close: str) -> Callable[[_Printer, Any], str]:
    def render(p: _Printer, x: Any) -> str:
        return p.emit(open_) + p.cat(x) + p.emit(close)

    return render


def _range_repr(p: _Printer, x: range) -> str:
    if x.step == 1:
        parts = [x.stop] if x.start == 0 else [x.start, x.stop]
    else:
        parts = [x.start, x.stop, x.step]
    return p.emit("(range " + " ".join(p.repr(v) for v in parts) + ")")


def _slice_repr(p: _Printer, x: slice) -> str:
    if x.step is None:
        parts = [x.stop] if x.start is None else [x.start, x.stop]
    else:
        parts = [x.start, x.stop, x.step]
    return p.emit("(slice " + " ".join(p.repr(v) for v in parts) + ")")


_HANDLERS: dict[type, Callable[[_Printer, Any], str]] = {
    type(None): lambda p, x: p.emit("None"),
    bool: lambda p, x: p.emit(str(x)),
    int: lambda p, x: p.emit(int.__repr__(x)),
    Integer: lambda p, x: p.emit(int.__repr__(x)),
    float: _float_repr,
    Float: _float_repr,
    complex: _complex_repr,
    Complex: _complex_repr,
    str: _str_repr,
    String: _str_repr,
    bytes: _str_repr,
    Bytes: _str_repr,
    Symbol: lambda p, x: p.emit(str.__str__(x)),
    Keyword: lambda p, x: p.emit(str(x)),
    Expression: _expression_repr,
    list: _wrapped("[", "]"),
    List: _wrapped("[", "]"),
    tuple: _wrapped("#(", ")"),
    Tuple: _wrapped("#(", ")"),
    set: _wrapped("#{", "}"),
    Set: _wrapped("#{", "}"),
    frozenset: _wrapped("(frozenset #{", "})"),
    dict: _dict_repr,
    Dict: _dict_form_repr,
    range: _range_repr,
    slice: _slice_repr,
    type({}.keys()): _wrapped("(dict-keys [", "])"),
    type({}.values()): _wrapped("(dict-values [", "])"),
    type({}.items()): _wrapped("(dict-items [", "])"),
    bytearray: lambda p, x: p.emit("(bytearray ") + _str_repr(p, bytes(x)) + p.emit(")"),
}

_PLACEHOLDERS: dict[type, str] = {
    list: "[...]",
    List: "[...]",
    set: "#{...}",
    Set: "#{...}",
    dict: "{...}",
    Dict: "{...}",
    frozenset: "(frozenset #{...})",
}


def hy_repr(obj: Any, limit: int | None = None, tick: Callable[[], Any] | None = None) -> str:
    """Hy's `hy.repr`: the text Hy would print for `obj` (forms get a leading quote).

    With `tick`, it is called once per 4,096 characters printed (one budget step)."""
    return _Printer(limit, tick).repr(obj)


def to_source(form: Any, limit: int | None = None, tick: Callable[[], Any] | None = None) -> str:
    """Source text for a form, such that `read(to_source(f)) == f`."""
    printer = _Printer(limit, tick)
    printer.quoting = True
    return printer.repr(form)
