"""What sandboxed code can touch at run time: guarded operators, the method
allow-list and the safe built-ins.

Compiled code reaches the host only through the names defined here (and the
capabilities an embedder grants). Every operation that could allocate without
bound is checked *before* it allocates: sequence repetition and concatenation,
`**`, `<<`, string padding/joining/replacing, `%` formatting, printing and
collection constructors over lazy iterables. Operations that cannot grow
memory beyond their inputs (`-`, comparisons, `//`, `&`, ...) compile to plain
Python operators.

Objects the sandbox may hold are: None, bools, numbers, strings, bytes, lists,
tuples, dicts, sets, frozensets, ranges, forms, exceptions, sandboxed functions,
the safe built-ins themselves and whatever granted capabilities return.
"""

from __future__ import annotations

import itertools
import math
import re
import types
from collections.abc import Callable, Iterator
from typing import Any

from o_lisp._budget import SMALL_RESULT, Budget
from o_lisp._errors import LimitExceeded, SandboxViolation
from o_lisp._mangle import unmangle
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

# Exceptions the program must never catch: budgets and sandbox violations
# propagate to the host whatever `except` clauses say.
FATAL: tuple[type[BaseException], ...] = (
    LimitExceeded,
    SandboxViolation,
    RecursionError,
    MemoryError,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
)

EXCEPTIONS: dict[str, type[BaseException]] = {
    cls.__name__: cls
    for cls in (
        Exception,
        ArithmeticError,
        AssertionError,
        AttributeError,
        IndexError,
        KeyError,
        LookupError,
        NameError,
        NotImplementedError,
        OverflowError,
        RuntimeError,
        StopIteration,
        TypeError,
        UnboundLocalError,
        UnicodeError,
        ValueError,
        ZeroDivisionError,
    )
}

_SIZED_TYPES = (str, bytes, list, tuple, dict, set, frozenset, range)

# -- methods -----------------------------------------------------------------

_STR_METHODS = frozenset(
    """capitalize casefold center count encode endswith expandtabs find index isalnum isalpha
    isascii isdecimal isdigit isidentifier islower isnumeric isprintable isspace istitle isupper
    join ljust lower lstrip partition removeprefix removesuffix replace rfind rindex rjust
    rpartition rsplit rstrip split splitlines startswith strip swapcase title upper zfill""".split()
)
_BYTES_METHODS = frozenset(
    """count decode endswith find hex index isalnum isalpha isascii isdigit islower isspace
    istitle isupper join lower lstrip partition removeprefix removesuffix replace rfind rindex
    rpartition rsplit rstrip split splitlines startswith strip upper""".split()
)
_LIST_METHODS = frozenset("append clear copy count extend index insert pop remove reverse sort".split())
_TUPLE_METHODS = frozenset(["count", "index"])
_DICT_METHODS = frozenset("clear copy get items keys pop popitem setdefault update values".split())
_SET_METHODS = frozenset(
    """add clear copy difference difference_update discard intersection intersection_update
    isdisjoint issubset issuperset pop remove symmetric_difference symmetric_difference_update
    union update""".split()
)
_FROZENSET_METHODS = frozenset(
    "copy difference intersection isdisjoint issubset issuperset symmetric_difference union".split()
)
_INT_METHODS = frozenset(["bit_length", "bit_count", "conjugate", "as_integer_ratio"])
_FLOAT_METHODS = frozenset(["is_integer", "as_integer_ratio", "conjugate", "hex"])

_GENERATOR_METHODS = frozenset(["send", "close"])

METHODS: dict[type, frozenset[str]] = {
    str: _STR_METHODS,
    Symbol: _STR_METHODS,
    String: _STR_METHODS,
    bytes: _BYTES_METHODS,
    Bytes: _BYTES_METHODS,
    list: _LIST_METHODS,
    tuple: _TUPLE_METHODS,
    Expression: _TUPLE_METHODS,
    List: _TUPLE_METHODS,
    Dict: _TUPLE_METHODS,
    Set: _TUPLE_METHODS,
    Tuple: _TUPLE_METHODS,
    dict: _DICT_METHODS,
    set: _SET_METHODS,
    frozenset: _FROZENSET_METHODS,
    int: _INT_METHODS,
    Integer: _INT_METHODS,
    bool: _INT_METHODS,
    float: _FLOAT_METHODS,
    Float: _FLOAT_METHODS,
    # Generators: resuming one runs sandboxed code that ticks at once; `.throw` is
    # deliberately absent (and gi_frame, gi_code... are attributes, never reachable).
    types.GeneratorType: _GENERATOR_METHODS,
}

METHOD_NAMES: frozenset[str] = frozenset().union(*METHODS.values())


class MethodTable(dict):
    """Exact type → unbound method, for one method name; other types are refused.

    Compiled code indexes it inline: `_o_mt_upper[type(s)](s)`.
    """

    def __init__(self, name: str, table: dict[type, Callable[..., Any]]) -> None:
        super().__init__(table)
        self.name = name

    def __missing__(self, cls: type) -> Any:
        raise SandboxViolation(f"method '.{unmangle(self.name)}' is not available on {cls.__name__} values")

# Methods that grow a list: they charge a step, so a comprehension over a list
# that the loop body keeps extending cannot run forever on one bulk charge.
_LIST_GROWTH = frozenset(["append", "extend", "insert", "add", "setdefault"])
# Results smaller than this skip the allocation accounting (steps bound their number).
_SMALL = SMALL_RESULT
SMALL_ALLOCATION = _SMALL
# Largest exponent-bits x modulus-bits product of a 3-argument pow (an 8192-bit RSA-size power is 2**26).
_MODPOW_COST = 2**26

_TEXT_ENCODINGS = frozenset(
    "utf-8 utf8 utf_8 ascii latin-1 latin1 latin_1 iso-8859-1 utf-16 utf-32 utf-16-le utf-16-be".split()
)
_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)


def _type_label(obj: Any) -> str:
    return type(obj).__name__


class Runtime:
    """The guarded operations and safe built-ins of one interpreter, bound to its budget."""

    def __init__(self, budget: Budget, write: Callable[[str], Any]) -> None:
        self.budget = budget
        self.write = write

    # -- sizes ---------------------------------------------------------------
    def text_size(self, obj: Any, limit: int) -> int:
        """An upper-bound estimate of len(str(obj)), giving up past `limit`.

        Shared sub-structures count every time they are printed (a list holding
        one big list a thousand times prints it a thousand times); a container
        inside itself prints as `[...]` and counts once.
        """
        total = 0
        seen = 0
        on_path: set[int] = set()
        exit_marker = object()
        stack: list[Any] = [obj]
        while stack:
            x = stack.pop()
            if x is exit_marker:
                on_path.discard(stack.pop())
                continue
            t = type(x)
            if t is str or t is String or t is Symbol:
                total += len(x) * 4 + 2
            elif t is bytes or t is Bytes:
                total += len(x) * 4 + 3
            elif t is int or t is Integer or t is bool:
                total += x.bit_length() // 3 + 2
            elif isinstance(x, list | tuple | set | frozenset | dict):
                if id(x) in on_path:
                    total += 5
                else:
                    on_path.add(id(x))
                    stack.append(id(x))
                    stack.append(exit_marker)
                    if isinstance(x, dict):
                        total += len(x) * 4 + 2
                        stack.extend(x.keys())
                        stack.extend(x.values())
                    else:
                        total += len(x) * 2 + 20
                        stack.extend(x)
            else:
                total += 80
            seen += 1
            if total > limit or seen > limit:
                return total
        return total

    def check_text(self, obj: Any, what: str) -> None:
        limit = self.budget.limits.max_size
        if limit is None:
            return
        t = type(obj)
        if t in (int, float, bool, type(None)) or (t is str and len(obj) * 4 < limit):
            return
        if self.text_size(obj, limit) > limit:
            self.budget.allocate(self.text_size(obj, limit), what)

    # -- guarded operators ---------------------------------------------------------
    def add(self, a: Any, b: Any) -> Any:
        ta = type(a)
        if ta is float:
            return a + b
        if ta is int:
            return a + b
        if isinstance(a, str | bytes | list | tuple) and isinstance(b, str | bytes | list | tuple):
            size = len(a) + len(b)
            if size > _SMALL:
                self.budget.allocate(size, f"concatenating two {_type_label(a)}s")
        return a + b

    def mul(self, a: Any, b: Any) -> Any:
        ta, tb = type(a), type(b)
        if ta is float or tb is float:
            return a * b
        if isinstance(a, int) and isinstance(b, int):
            bits = a.bit_length() + b.bit_length()
            if bits > 64:
                self.budget.int_bits(bits, "the product")
            return a * b
        if isinstance(a, int) and isinstance(b, str | bytes | list | tuple):
            a, b = b, a
        if isinstance(a, str | bytes | list | tuple) and isinstance(b, int):
            self.budget.allocate(len(a) * max(b, 0), f"repeating a {_type_label(a)}")
        return a * b

    def pow(self, a: Any, b: Any, mod: Any = None) -> Any:
        if mod is not None:
            if isinstance(b, int) and isinstance(mod, int) and b > 0:
                # Modular exponentiation costs about bits(b) multiplications of bits(mod)-bit numbers.
                cost = b.bit_length() * max(mod.bit_length(), 64)
                if cost > _MODPOW_COST:
                    self.budget.exceed(
                        "int_bits",
                        f"a modular power with a {b.bit_length()}-bit exponent and a {mod.bit_length()}-bit "
                        f"modulus is too costly (exponent bits x modulus bits must stay below {_MODPOW_COST})",
                    )
            return pow(a, b, mod)
        if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
            bits = int(b * math.log2(abs(a))) + 1
            self.budget.int_bits(bits, "the power")
        return a**b

    def lshift(self, a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int) and a and b > 0:
            self.budget.int_bits(a.bit_length() + b, "the shifted integer")
        return a << b

    def mod(self, a: Any, b: Any) -> Any:
        if isinstance(a, str | bytes):
            self._check_percent_format(a, b)
        return a % b

    def _check_percent_format(self, fmt: str | bytes, args: Any) -> None:
        text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
        width = 0
        for match in _FORMAT_SPEC.finditer(text):
            for group in (match.group(1), match.group(2)):
                if group == "*":
                    raise SandboxViolation("'*' widths in % formatting are not allowed")
                if group:
                    if len(group) > 9:
                        self.budget.allocate(10**9, "a % format width")
                    width += int(group)
        limit = self.budget.limits.max_size
        if limit is not None:
            size = len(text) + width + self.text_size(args, limit)
            self.budget.allocate(size, "the % formatted string")

    def iadd(self, a: Any, b: Any) -> Any:
        if isinstance(a, list):
            size = len(b) if isinstance(b, _SIZED_TYPES) else 0
            self.budget.allocate(len(a) + size, "extending a list")
            self.budget.charge(1)
            a += b
            return a
        return self.add(a, b)

    def imul(self, a: Any, b: Any) -> Any:
        if isinstance(a, list) and isinstance(b, int):
            self.budget.allocate(len(a) * max(b, 0), "repeating a list")
            self.budget.charge(1)
            a *= b
            return a
        return self.mul(a, b)

    # -- method calls --------------------------------------------------------------
    def method(self, obj: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        allowed = METHODS.get(type(obj))
        if allowed is None or name not in allowed:
            raise SandboxViolation(
                f"method '.{unmangle(name)}' is not available on {_type_label(obj)} values"
            )
        budget = self.budget
        if name == "join" and args:
            items = args[0]
            if type(items) is not list and type(items) is not tuple:
                items = self.materialize(items, "the joined items")
            try:
                total = sum(map(len, items)) + len(obj) * max(len(items) - 1, 0)
            except TypeError:
                total = 0  # not all strings: join itself raises the right TypeError
            if total > _SMALL:
                budget.allocate(total, "the joined string")
            return obj.join(items)
        guard = _METHOD_GUARDS.get(name)
        if guard is not None:
            guard(self, obj, args, kwargs)
        return getattr(obj, name)(*args, **kwargs)

    def method_dispatchers(self) -> dict[str, Any]:
        """`_o_m_NAME(obj, *args)` for every allow-listed method name, and for the
        unguarded ones also the table `_o_mt_NAME` that compiled code indexes inline.

        Either way one dict lookup on the exact type of `obj` finds the unbound
        method, or refuses.
        """
        helpers: dict[str, Any] = {"_o_m_" + name: self._dispatcher(name) for name in METHOD_NAMES}
        for name in PLAIN_METHOD_NAMES:
            helpers["_o_mt_" + name] = MethodTable(
                name, {cls: getattr(cls, name) for cls, names in METHODS.items() if name in names}
            )
            if name in PREFERRED_TYPE:
                helpers["_o_mx_" + name] = getattr(PREFERRED_TYPE[name], name)
        return helpers

    def _dispatcher(self, name: str) -> Callable[..., Any]:
        table: dict[type, Callable[..., Any]] = {
            cls: getattr(cls, name) for cls, names in METHODS.items() if name in names
        }
        guard = _METHOD_GUARDS.get(name)
        budget = self.budget
        label = unmangle(name)

        def refuse(obj: Any) -> SandboxViolation:
            return SandboxViolation(f"method '.{label}' is not available on {_type_label(obj)} values")

        if name == "join":

            def join(obj: Any, *args: Any, **kwargs: Any) -> Any:
                if type(obj) not in table:
                    raise refuse(obj)
                if len(args) != 1 or kwargs:
                    return self.method(obj, name, *args, **kwargs)
                # What `method` does for join, without its second dispatch.
                items = args[0]
                if type(items) is not list and type(items) is not tuple:
                    items = self.materialize(items, "the joined items")
                try:
                    total = sum(map(len, items)) + len(obj) * max(len(items) - 1, 0)
                except TypeError:
                    total = 0  # not all strings: join itself raises the right TypeError
                if total > _SMALL:
                    budget.allocate(total, "the joined string")
                return obj.join(items)

            return join
        if guard is None and name not in _LIST_GROWTH:

            def plain(obj: Any, *args: Any, **kwargs: Any) -> Any:
                fn = table.get(type(obj))
                if fn is None:
                    raise refuse(obj)
                return fn(obj, *args, **kwargs)

            return plain
        grows = name in _LIST_GROWTH

        def checked(obj: Any, *args: Any, **kwargs: Any) -> Any:
            fn = table.get(type(obj))
            if fn is None:
                raise refuse(obj)
            if grows:
                budget.tick()
                limit = budget.limits.max_size
                if limit is not None and len(obj) >= limit:
                    budget.exceed("size", f"the {_type_label(obj)} would grow past the size limit of {limit} elements")
            if guard is not None:
                guard(self, obj, args, kwargs)
            return fn(obj, *args, **kwargs)

        return checked

    # -- iteration -----------------------------------------------------------------
    def iterate(self, iterable: Any) -> Any:
        """Charge a comprehension's iterations: in bulk for sized values, per item otherwise."""
        if isinstance(iterable, _SIZED_TYPES):
            self.budget.charge(len(iterable))
            return iterable
        return self.counted(iter(iterable))

    def counted(self, iterator: Iterator[Any]) -> Iterator[Any]:
        """`iterator`, charging one step per item it yields."""
        budget = self.budget
        for item in iterator:
            budget.tick()
            yield item

    def materialize(self, iterable: Any, what: str) -> list[Any]:
        """A list of the items of `iterable`, refusing more than max_size of them."""
        if isinstance(iterable, _SIZED_TYPES):
            self.budget.allocate(len(iterable), what)
            return list(iterable)
        limit = self.budget.limits.max_size
        bounded = itertools.islice(self.counted(iter(iterable)), None if limit is None else limit + 1)
        items = list(bounded)
        if limit is not None and len(items) > limit:
            self.budget.allocate(len(items), what)
        return items


def _check_width(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    width = args[0] if args else kwargs.get("width", 0)
    if isinstance(width, int):
        rt.budget.allocate(max(width, len(obj)), "the padded string")


def _check_expandtabs(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    size = args[0] if args else kwargs.get("tabsize", 8)
    if isinstance(size, int):
        rt.budget.allocate(len(obj) + obj.count("\t" if isinstance(obj, str) else b"\t") * max(size, 0), "the expanded string")


def _check_replace(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if len(args) >= 2 and isinstance(args[0], str | bytes) and isinstance(args[1], str | bytes):
        old, new = args[0], args[1]
        growth = len(new) - len(old)
        size = len(obj)
        if growth > 0:  # only then do the occurrences matter
            size += (obj.count(old) if old else size + 1) * growth
        rt.budget.allocate(size, "the replaced string")


def _check_extend(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if args and isinstance(args[0], _SIZED_TYPES):
        rt.budget.allocate(len(obj) + len(args[0]), "the extended collection")


def _check_encoding(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    encoding = args[0] if args else kwargs.get("encoding", "utf-8")
    if not isinstance(encoding, str) or encoding.lower() not in _TEXT_ENCODINGS:
        raise SandboxViolation(f"encoding {encoding!r} is not available in the sandbox")
    if isinstance(obj, str):
        rt.budget.allocate(len(obj) * 4, "the encoded bytes")


def _check_hex(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if isinstance(obj, bytes):
        rt.budget.allocate(len(obj) * 3, "the hex string")


def _check_sort(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    rt.budget.charge(len(obj))


_METHOD_GUARDS: dict[str, Callable[[Runtime, Any, tuple[Any, ...], dict[str, Any]], None]] = {
    "center": _check_width,
    "ljust": _check_width,
    "rjust": _check_width,
    "zfill": _check_width,
    "expandtabs": _check_expandtabs,
    "replace": _check_replace,
    "extend": _check_extend,
    "update": _check_extend,
    "encode": _check_encoding,
    "decode": _check_encoding,
    "sort": _check_sort,
    "hex": _check_hex,
}


# Methods with no guard and no growth: compiled inline through `MethodTable`s.
PLAIN_METHOD_NAMES: frozenset[str] = frozenset(
    n for n in METHOD_NAMES if n not in _METHOD_GUARDS and n not in _LIST_GROWTH and n != "join"
)


# The type a plain method is most often called on, tested first by compiled code:
# `(_o_mx_get if type(d) is dict else _o_mt_get[type(d)])(d, k)`.
PREFERRED_TYPE: dict[str, type] = {
    name: next(cls for cls in (list, dict, str) if name in METHODS[cls])
    for name in PLAIN_METHOD_NAMES
    if any(name in METHODS[cls] for cls in (list, dict, str))
}


def runtime_math() -> dict[str, Any]:
    """Pure math functions safe to expose as they are (bounded time, bounded results);
    an o_lisp extension: Hy needs `(import math)` for them."""
    return {
        "isnan": math.isnan,
        "isinf": math.isinf,
        "floor": math.floor,
        "ceil": math.ceil,
        "sqrt": math.sqrt,
        "log": math.log,
        "exp": math.exp,
        "sin": math.sin,
        "cos": math.cos,
    }


FORM_CLASSES: dict[str, type] = {
    "Symbol": Symbol,
    "Keyword": Keyword,
    "String": String,
    "Bytes": Bytes,
    "Integer": Integer,
    "Float": Float,
    "Complex": Complex,
    "Expression": Expression,
    "List": List,
    "Dict": Dict,
    "Set": Set,
    "Tuple": Tuple,
    "Object": Form,
}

