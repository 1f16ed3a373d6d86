"""Forms: o_lisp's own immutable code-as-data values, shaped like Hy's models.

Each form is a subclass of the Python value it denotes (`Symbol` is a `str`,
`Integer` an `int`, `Expression` a `tuple`...), so sandboxed code can index,
iterate and compare forms with ordinary operations. Like Hy's models, two forms
are equal only when their types are identical and their contents are equal;
positions never take part in equality.

Positions are 1-based `start_line`, `start_column`, `end_line`, `end_column`
(end inclusive), as Hy records them. Forms refuse attribute assignment, so a
form handed to sandboxed code or to another thread cannot change under it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from o_lisp._mangle import mangle

PositionTuple = tuple[int, int, int, int]


class Form:
    """Mixin for every form: position data and immutability."""

    __slots__ = ()
    _pos: PositionTuple | None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} forms are immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} forms are immutable")

    @property
    def start_line(self) -> int | None:
        return self._pos[0] if self._pos else None

    @property
    def start_column(self) -> int | None:
        return self._pos[1] if self._pos else None

    @property
    def end_line(self) -> int | None:
        return self._pos[2] if self._pos else None

    @property
    def end_column(self) -> int | None:
        return self._pos[3] if self._pos else None

    @property
    def position(self) -> PositionTuple | None:
        return self._pos

    def at(self, pos: PositionTuple | None) -> Any:
        """This form with a position (forms are immutable, so this may copy)."""
        if pos == self._pos:
            return self
        copy = self._clone()
        object.__setattr__(copy, "_pos", pos)
        return copy

    def _clone(self) -> Any:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and super().__eq__(other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return super().__hash__()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({super().__repr__()})"

    def __reduce__(self) -> Any:  # pragma: no cover - pickling support for forms
        return (_rebuild, (type(self), self._payload(), self._pos))

    def _payload(self) -> Any:
        raise NotImplementedError


def _rebuild(cls: type, payload: Any, pos: PositionTuple | None) -> Any:
    form = cls(*payload) if isinstance(payload, tuple) and cls in (String,) else cls(payload)
    return form.at(pos)


def _init_pos(obj: object, pos: PositionTuple | None) -> None:
    object.__setattr__(obj, "_pos", pos)


class Symbol(Form, str):
    """A name: `foo`, `+`, `foo-bar?`."""

    def __new__(cls, name: str, pos: PositionTuple | None = None) -> Symbol:
        self = str.__new__(cls, name)
        _init_pos(self, pos)
        return self

    def _clone(self) -> Symbol:
        return Symbol(str(self))

    def _payload(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"Symbol({str.__repr__(self)})"


class String(Form, str):
    """A string literal. `brackets` is the delimiter of a `#[delim[...]delim]` string, else None."""

    brackets: str | None

    def __new__(
        cls, text: str, brackets: str | None = None, pos: PositionTuple | None = None
    ) -> String:
        self = str.__new__(cls, text)
        _init_pos(self, pos)
        object.__setattr__(self, "brackets", brackets)
        return self

    def _clone(self) -> String:
        return String(str(self), self.brackets)

    def _payload(self) -> tuple[str, str | None]:
        return (str(self), self.brackets)

    def __repr__(self) -> str:
        extra = f", brackets={self.brackets!r}" if self.brackets is not None else ""
        return f"String({str.__repr__(self)}{extra})"


class Bytes(Form, bytes):
    """A bytes literal: `b"..."`."""

    def __new__(cls, data: bytes, pos: PositionTuple | None = None) -> Bytes:
        self = bytes.__new__(cls, data)
        _init_pos(self, pos)
        return self

    def _clone(self) -> Bytes:
        return Bytes(bytes(self))

    def _payload(self) -> bytes:
        return bytes(self)

    def __repr__(self) -> str:
        return f"Bytes({bytes.__repr__(self)})"


class Integer(Form, int):
    """An integer literal (arbitrary precision)."""

    def __new__(cls, value: int, pos: PositionTuple | None = None) -> Integer:
        self = int.__new__(cls, value)
        _init_pos(self, pos)
        return self

    def _clone(self) -> Integer:
        return Integer(int(self))

    def _payload(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        return f"Integer({int.__repr__(self)})"


class Float(Form, float):
    """A floating-point literal, including `NaN`, `Inf` and `-Inf`."""

    def __new__(cls, value: float, pos: PositionTuple | None = None) -> Float:
        self = float.__new__(cls, value)
        _init_pos(self, pos)
        return self

    def _clone(self) -> Float:
        return Float(float(self))

    def _payload(self) -> float:
        return float(self)

    def __eq__(self, other: object) -> bool:
        # NaN literals are structurally equal to each other (they read the same).
        if type(self) is not type(other):
            return False
        a, b = float(self), float(other)
        return a == b or (a != a and b != b)

    def __hash__(self) -> int:
        return float.__hash__(self)

    def __repr__(self) -> str:
        return f"Float({float.__repr__(self)})"


class Complex(Form, complex):
    """A complex literal such as `1j` or `2+3j`."""

    def __new__(cls, value: complex, pos: PositionTuple | None = None) -> Complex:
        self = complex.__new__(cls, value)
        _init_pos(self, pos)
        return self

    def _clone(self) -> Complex:
        return Complex(complex(self))

    def _payload(self) -> complex:
        return complex(self)

    def __repr__(self) -> str:
        return f"Complex({complex.__repr__(self)})"


class Keyword(Form):
    """A keyword `:name`. Calling it on a mapping looks the name up, like Hy: `(:k d)`."""

    __slots__ = ("_pos", "name")
    name: str

    def __init__(self, name: str, pos: PositionTuple | None = None) -> None:
        object.__setattr__(self, "name", str(name))
        object.__setattr__(self, "_pos", pos)

    def _clone(self) -> Keyword:
        return Keyword(self.name)

    def _payload(self) -> str:
        return self.name

    def __str__(self) -> str:
        return ":" + self.name

    def __repr__(self) -> str:
        return f"Keyword({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keyword) and self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Keyword):
            return NotImplemented
        return self.name < other.name

    def __bool__(self) -> bool:
        return bool(self.name)

    def __call__(self, data: Any, default: Any = ...) -> Any:
        try:
            return data[mangle(self.name)]
        except KeyError:
            if default is ...:
                raise
            return default


class Sequence(Form, tuple):
    """Base of the bracketed forms; behaves like an immutable tuple of its children."""

    open_bracket = "("
    close_bracket = ")"

    def __new__(cls, items: Iterable[Any] = (), pos: PositionTuple | None = None) -> Any:
        self = tuple.__new__(cls, items)
        _init_pos(self, pos)
        return self

    def _clone(self) -> Any:
        return type(self)(tuple(self))

    def _payload(self) -> tuple[Any, ...]:
        return tuple(self)

    def __add__(self, other: Any) -> Any:
        return type(self)(tuple(self) + tuple(other))

    def __getitem__(self, index: Any) -> Any:
        result = tuple.__getitem__(self, index)
        return type(self)(result) if isinstance(index, slice) else result

    def __repr__(self) -> str:
        return f"{type(self).__name__}([{', '.join(repr(x) for x in self)}])"


class Expression(Sequence):
    """A parenthesised form: `(f x y)`."""


class List(Sequence):
    """A square-bracketed form: `[a b]`."""

    open_bracket = "["
    close_bracket = "]"


class Dict(Sequence):
    """A brace form `{k v ...}`, stored flat as alternating keys and values."""

    open_bracket = "{"
    close_bracket = "}"

    def keys(self) -> list[Any]:
        return list(self[0::2])

    def values(self) -> list[Any]:
        return list(self[1::2])

    def items(self) -> list[tuple[Any, Any]]:
        return list(zip(self[0::2], self[1::2], strict=False))


class Set(Sequence):
    """A set form `#{a b}`; keeps source order and duplicates, like Hy."""

    open_bracket = "#{"
    close_bracket = "}"


class Tuple(Sequence):
    """A tuple form `#(a b)`."""

    open_bracket = "#("
    close_bracket = ")"


FORM_TYPES: tuple[type, ...] = (
    Symbol,
    String,
    Bytes,
    Integer,
    Float,
    Complex,
    Keyword,
    Expression,
    List,
    Dict,
    Set,
    Tuple,
)


def as_form(value: Any, pos: PositionTuple | None = None) -> Any:
    """Promote a plain Python value to a form at every depth (as Hy's `as_model` does).

    A form whose descendants are all forms is returned as it is (same object); a form
    holding a plain value anywhere below it (what a quasiquote with `~x` nested in
    another list builds) is rebuilt with that value converted, keeping the positions
    of the forms around it. `pos` is the position given to a plain value at the top.

    The walk is iterative, so nesting depth is bounded by memory, not by Python's
    recursion limit; a shared sub-value is converted once. Raises TypeError for values
    that have no literal syntax (functions, ...) and for a value that contains itself.
    """
    if not _is_container(value):
        return _as_atom(value, pos)
    done: dict[int, Any] = {}
    root = _Pending(value, pos)
    stack = [root]
    active = {id(value)}
    while True:
        frame = stack[-1]
        if frame.index < len(frame.children):
            child = frame.children[frame.index]
            frame.index += 1
            if not _is_container(child):
                frame.converted.append(_as_atom(child, None))
            elif id(child) in done:
                frame.converted.append(done[id(child)])
            elif id(child) in active:
                raise TypeError(f"cannot turn a {type(child).__name__} that contains itself into a form")
            else:
                active.add(id(child))
                stack.append(_Pending(child, None))
            continue
        stack.pop()
        active.discard(id(frame.value))
        form = frame.finish()
        done[id(frame.value)] = form
        if not stack:
            return form
        stack[-1].converted.append(form)


def _is_container(value: Any) -> bool:
    return isinstance(value, Sequence | list | tuple | dict | set | frozenset)


class _Pending:
    """One container being converted by `as_form`: its children and those done so far."""

    __slots__ = ("children", "converted", "index", "pos", "value")

    def __init__(self, value: Any, pos: PositionTuple | None) -> None:
        self.value = value
        self.pos = pos
        self.index = 0
        self.converted: list[Any] = []
        self.children: list[Any]
        if isinstance(value, Sequence | list | tuple):
            self.children = list(value)
        elif isinstance(value, dict):
            self.children = [x for item in value.items() for x in item]
        else:
            self.children = list(value)

    def finish(self) -> Any:
        value = self.value
        if isinstance(value, Sequence):
            if all(new is old for new, old in zip(self.converted, self.children, strict=True)):
                return value
            return type(value)(self.converted, value._pos)
        cls: type = (
            List if isinstance(value, list)
            else Tuple if isinstance(value, tuple)
            else Dict if isinstance(value, dict)
            else Set
        )
        return cls(self.converted, self.pos)


def _as_atom(value: Any, pos: PositionTuple | None) -> Any:
    """A form for a value that holds no other values (forms pass through)."""
    if isinstance(value, Form):
        return value
    if value is None or isinstance(value, bool):
        return Symbol(str(value), pos)
    if isinstance(value, int):
        return Integer(value, pos)
    if isinstance(value, float):
        return Float(value, pos)
    if isinstance(value, complex):
        return Complex(value, pos)
    if isinstance(value, str):
        return String(value, None, pos)
    if isinstance(value, bytes):
        return Bytes(value, pos)
    raise TypeError(f"cannot turn a value of type {type(value).__name__} into a form")
