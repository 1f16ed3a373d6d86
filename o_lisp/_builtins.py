"""The safe built-ins: the only host functions sandboxed code can name.

Each interpreter gets its own table (bound to its budget and output stream).
Classes that are safe to hand out as-is (int, list, dict, ...) are the real
classes, so `isinstance` and `(= (type x) list)` behave as in Hy. `str`,
`bytes` and `range` are wrapped because they can allocate without bound; the
sandbox's `type` and `isinstance` translate between the wrappers and the real
classes so that code cannot tell the difference.
"""

from __future__ import annotations

import inspect
import itertools
import types
from collections.abc import Callable, Iterable
from typing import Any

from o_lisp._errors import SandboxViolation
from o_lisp._mangle import mangle, unmangle
from o_lisp._printer import hy_repr
from o_lisp._runtime import EXCEPTIONS, FORM_CLASSES, Runtime, runtime_math
from o_lisp.forms import Bytes, Form, Integer

# Names that exist in Python but must never be reachable: calling them raises
# SandboxViolation (a plain NameError would hide that an escape was attempted).
DENIED = (
    "getattr setattr delattr hasattr vars dir globals locals eval exec compile open input "
    "breakpoint help memoryview object super classmethod staticmethod property id __import__ "
    "exit quit copyright credits license bytearray issubclass format aiter anext "
    "import_module builtins sys os subprocess"
).split()

_PLAIN_CLASSES: tuple[type, ...] = (float, bool, complex, list, tuple, dict, set, frozenset)
# Values `min`/`max` compare in constant time.
_COMPARED_FLAT = frozenset([int, float, bool])
# Elements a bulk copy may move per step before it is charged more than one.
_BULK = 4096
_SIZED = (str, bytes, list, tuple, dict, set, frozenset, range)
# Code flags of functions whose call returns without running their body.
_LAZY_CODE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE
_SAFE_TYPES: frozenset[type] = frozenset(
    [*_PLAIN_CLASSES, int, type(None), *FORM_CLASSES.values(), *EXCEPTIONS.values(), OSError, zip,
     enumerate, reversed, slice]
)


def _denied(name: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise SandboxViolation(f"'{name}' is not available in the sandbox")

    refuse.__name__ = name
    refuse.__qualname__ = name
    return refuse


def make_builtins(runtime: Runtime, extra: dict[str, Any]) -> dict[str, Any]:
    """The builtins dict for one interpreter (`extra` holds interpreter-bound helpers)."""
    budget = runtime.budget
    table: dict[str, Any] = {}

    def safe_str(*args: Any, **kwargs: Any) -> str:
        if len(args) == 1 and not kwargs:
            obj = args[0]
            t = type(obj)
            if t is str:
                return obj  # type: ignore[no-any-return]
            if t is float or t is bool or (t is int and obj.bit_length() < 4096):
                return str(obj)
        obj = kwargs["object"] if "object" in kwargs else (args[0] if args else "")
        encoding = args[1] if len(args) > 1 else kwargs.get("encoding")
        errors = args[2] if len(args) > 2 else kwargs.get("errors")
        if encoding is not None or errors is not None:
            runtime.check_codec(encoding, errors)
            if isinstance(obj, bytes):
                budget.allocate(len(obj) * 4, "the decoded string")
        else:
            runtime.check_text(obj, "the string")
        return str(*args, **kwargs)

    def safe_repr(obj: Any) -> str:
        runtime.check_text(obj, "the repr")
        return repr(obj)

    def safe_bytes(*args: Any, **kwargs: Any) -> bytes:
        source = kwargs["source"] if "source" in kwargs else (args[0] if args else b"")
        encoding = args[1] if len(args) > 1 else kwargs.get("encoding")
        errors = args[2] if len(args) > 2 else kwargs.get("errors")
        if encoding is not None or errors is not None:
            runtime.check_codec(encoding, errors)
        if isinstance(source, int):
            budget.allocate(source, "the bytes")
        elif isinstance(source, str):
            budget.allocate(len(source) * 10, "the encoded bytes")
        elif not isinstance(source, bytes):
            if args:
                return bytes(runtime.materialize(source, "the bytes"), *args[1:], **kwargs)
            rest = {k: v for k, v in kwargs.items() if k != "source"}
            return bytes(runtime.materialize(source, "the bytes"), **rest)
        return bytes(*args, **kwargs)

    def safe_range(*args: int) -> range:
        r = range(*args)
        size = len(r)
        if size > table["_o_small"]:
            # A range takes no memory; its length is charged as an allocation since
            # `list` and the like copy it whole. Short ones skip the accounting, like
            # every result up to `_o_small` (the smaller of `SMALL_ALLOCATION` and
            # max_size, published by the budget; steps bound how many there are).
            budget.allocate(size, "the range")
        return r

    def safe_int(*args: Any, **kwargs: Any) -> int:
        if args and isinstance(args[0], str | bytes | bytearray):
            # Python limits decimal strings to 4300 digits, but not hex/octal/binary ones.
            limit = budget.limits.max_int_bits
            if limit is not None and len(args[0]) * 5 > limit:
                budget.exceed("int_bits", f"a {len(args[0])}-character number string could exceed the limit of {limit} bits")
        return int(*args, **kwargs)

    def safe_round(number: Any, ndigits: Any = None) -> Any:
        if isinstance(number, int) and isinstance(ndigits, int) and ndigits < 0:
            # round(n, -d) computes 10**d first.
            budget.int_bits(int(-ndigits * 3.33) + 1, "rounding to that many digits")
        return round(number, ndigits)

    def collection(cls: type, what: str, keyed: bool) -> Callable[..., Any]:
        """`cls(iterable)` that counts the copy as an allocation (refused over max_size,
        and memory is sampled after large copies), charges one step per 4,096 elements,
        walks the elements' expanded size when they will be hashed, and refuses hash
        flooding."""

        def build(*args: Any, **kwargs: Any) -> Any:
            if len(args) != 1:
                if kwargs and not args and cls is dict:
                    budget.allocate(len(kwargs), what)
                return cls(*args, **kwargs)
            items = args[0]
            if not isinstance(items, _SIZED):
                # A lazy argument ticks by itself if it runs sandboxed code (gfor, map).
                items = list(items)
            budget.allocate(len(items), what)
            if len(items) > _BULK:
                budget.charge(len(items) // _BULK)
            if keyed and not isinstance(items, set | frozenset | dict | str | bytes | range):
                if cls is dict:
                    pairs = items if isinstance(items, list | tuple) else list(items)
                    keys = [p[0] for p in pairs if isinstance(p, tuple | list) and len(p) == 2]
                    if len(keys) > _BULK:
                        runtime.check_keys(keys, what)
                    else:
                        for key in keys:
                            runtime.check_nodes(key, what)
                else:
                    runtime.check_keys(items, what)
            return cls(items, **kwargs)

        return build

    safe_list = collection(list, "the list", keyed=False)
    safe_tuple = collection(tuple, "the tuple", keyed=False)
    safe_set = collection(set, "the set", keyed=True)
    safe_frozenset = collection(frozenset, "the frozenset", keyed=True)
    safe_dict = collection(dict, "the dict", keyed=True)

    wrapped_classes: dict[Any, type] = {
        safe_str: str, safe_bytes: bytes, safe_range: range, safe_int: int, safe_list: list,
        safe_tuple: tuple, safe_set: set, safe_frozenset: frozenset, safe_dict: dict,
    }
    for name, cls in FORM_CLASSES.items():
        guarded = _guarded_form_class(runtime, cls)
        wrapped_classes[guarded] = cls
        table["_o_model_" + name] = guarded
    wrappers_by_class = {cls: fn for fn, cls in wrapped_classes.items()}

    def safe_type(obj: Any) -> Any:
        cls = type(obj)
        if cls in wrappers_by_class:
            return wrappers_by_class[cls]
        if cls in _SAFE_TYPES:
            return cls
        raise SandboxViolation(f"the type of a {cls.__name__} value is not available in the sandbox")

    def to_class(spec: Any) -> Any:
        if isinstance(spec, tuple):
            return tuple(to_class(s) for s in spec)
        return wrapped_classes.get(spec, spec)

    def safe_isinstance(obj: Any, spec: Any) -> bool:
        if type(spec) is type:
            return isinstance(obj, spec)
        return isinstance(obj, to_class(spec))

    def safe_print(*args: Any, sep: str | None = " ", end: str | None = "\n", flush: bool = False) -> None:
        limit = budget.limits.max_size
        if limit is not None:
            # `sep` is printed between every two arguments: its size counts each time.
            size = runtime.text_size(args, limit) + runtime.text_size(sep, limit) * len(args)
            size += runtime.text_size(end, limit)
            if size > _BULK:
                budget.allocate(size, "the printed text")
        text = (" " if sep is None else str(sep)).join(str(a) for a in args) + ("\n" if end is None else str(end))
        runtime.write(text)

    def safe_sorted(iterable: Iterable[Any], *, key: Any = None, reverse: bool = False) -> list[Any]:
        items = runtime.materialize(iterable, "the sorted list")
        budget.charge(len(items))
        if key is None:
            runtime.check_compare(items, "sorting these elements")
            items.sort(reverse=reverse)
            return items
        # The keys are what gets compared: compute them (once each, as sort does) and
        # charge comparing them before sorting; the order is the same, stability included.
        keys = list(map(key, items))
        runtime.check_compare(keys, "sorting by these keys")
        order = sorted(range(len(items)), key=keys.__getitem__, reverse=reverse)
        return list(map(items.__getitem__, order))

    def charged(fn: Callable[..., Any], compares: bool = False) -> Callable[..., Any]:
        """`fn` charging one step per item of a sized argument: these built-ins loop in C,
        and `(map max (* [big] n))` would otherwise do n x len(big) work in one step."""

        flat = _COMPARED_FLAT

        def call(*args: Any, **kwargs: Any) -> Any:
            if compares and kwargs.get("key") is not None:
                kwargs["key"] = runtime.charged_key(kwargs["key"])
            if len(args) == 1 and isinstance(args[0], _SIZED):
                budget.charge(len(args[0]))
                if compares and not isinstance(args[0], str | bytes | range):
                    runtime.check_compare(args[0], f"{fn.__name__} of these elements")
            elif compares and not (len(args) == 2 and type(args[0]) in flat and type(args[1]) in flat):
                runtime.check_compare(args, f"{fn.__name__} of these values")
            return fn(*args, **kwargs)

        return call

    def ticks_per_call(function: Any) -> bool:
        """Whether every call of `function` charges a step before it does anything:
        a function compiled by this interpreter (its builtins are this table), which
        ticks on entry, and not a generator function, whose body runs only when the
        generator is resumed (`vet` checks that every compiled `def` starts so)."""
        return (
            type(function) is types.FunctionType
            and function.__globals__.get("__builtins__") is table
            and not function.__code__.co_flags & _LAZY_CODE
        )

    def safe_map(function: Any, *iterables: Any) -> Any:
        # The C `map` as it is when each item calls a function that ticks (one step per
        # item, read from the current ticker, so interrupts stop it at the next item);
        # else each item is charged by `counted`.
        if ticks_per_call(function):
            return map(function, *iterables)
        return runtime.counted(map(function, *iterables))

    def safe_filter(function: Any, iterable: Any) -> Any:
        if ticks_per_call(function):
            return filter(function, iterable)
        return runtime.counted(filter(function, iterable))

    def safe_sum(iterable: Iterable[Any], start: Any = 0) -> Any:
        if isinstance(iterable, _SIZED):
            budget.charge(len(iterable))
        if isinstance(start, int | float | complex):
            total = sum(iterable, start)
            if type(total) is int and total.bit_length() > 64:
                budget.int_bits(total.bit_length(), "the sum")
            return total
        items = runtime.materialize(iterable, "the summed items")
        total = len(start) if isinstance(start, list | tuple) else 0
        copied = 0  # each `+` copies the running total: quadratic in the number of items
        for x in items:
            if isinstance(x, list | tuple | str | bytes):
                total += len(x)
            copied += total
        budget.allocate(total, "the sum")
        runtime.charge_work(copied, "the sum's copies")
        return sum(items, start)

    def safe_iter(obj: Any) -> Any:
        return iter(obj)

    def safe_hash(obj: Any) -> int:
        runtime.check_nodes(obj, "hashing the value")
        return hash(obj)


    def safe_pow(base: Any, exp: Any, mod: Any = None) -> Any:
        return runtime.pow(base, exp, mod)

    def safe_format_number(fn: Callable[[int], str]) -> Callable[[int], str]:
        def convert(n: int) -> str:
            return fn(n)

        convert.__name__ = fn.__name__
        return convert

    for cls in _PLAIN_CLASSES:
        table[cls.__name__] = cls
    table.update(EXCEPTIONS)
    # Harmless names Hy programs use: IOError is OSError (a plain exception class).
    table["IOError"] = table["OSError"] = OSError
    table["Ellipsis"] = ...
    table.update(
        {
            "str": safe_str,
            "int": safe_int,
            "repr": safe_repr,
            "bytes": safe_bytes,
            "range": safe_range,
            "type": safe_type,
            "isinstance": safe_isinstance,
            "print": safe_print,
            "sorted": safe_sorted,
            "sum": safe_sum,
            "iter": safe_iter,
            "hash": safe_hash,
            "pow": safe_pow,
            "len": len,
            "abs": abs,
            "min": charged(min, compares=True),
            "max": charged(max, compares=True),
            "round": safe_round,
            "list": safe_list,
            "tuple": safe_tuple,
            "set": safe_set,
            "frozenset": safe_frozenset,
            "dict": safe_dict,
            "divmod": divmod,
            "chr": chr,
            "ord": ord,
            "bin": bin,
            "hex": hex,
            "oct": oct,
            "any": charged(any),
            "all": charged(all),
            "next": next,
            "callable": callable,
            "map": safe_map,
            "filter": safe_filter,
            "zip": zip,
            "enumerate": enumerate,
            "reversed": reversed,
            "slice": slice,
            "hy_repr": lambda obj: hy_repr(obj, budget.limits.max_size),
        }
    )
    for name in DENIED:
        table[mangle(name)] = _denied(name)
    table.update(_operator_functions(runtime))
    table.update(runtime_math())
    table.update(extra)
    for key, value in table.items():
        if isinstance(value, types.FunctionType) and "<locals>" in value.__code__.co_qualname:
            _rename(value, _public_name(key))
    # Compiled `(str x)` tests that `str` still names the safe str before inlining it.
    table["_o_safe_str"] = safe_str
    table["_o_safe_int"] = safe_int
    # Compiled `(max a b)` / `(min a b)` on two ints or floats call the real ones.
    table["_o_safe_min"] = table["min"]
    table["_o_safe_max"] = table["max"]
    table["_o_min"] = min
    table["_o_max"] = max
    return table


def _guarded_form_class(runtime: Runtime, cls: type) -> Callable[..., Any]:
    """A form class as the sandbox calls it (`hy.models.Bytes`, ...): its argument is
    checked like the matching built-in's (`(hy.models.Bytes (** 10 9))` is refused
    before allocating, `(hy.models.String dag)` before printing the expansion, a
    lazy sequence is materialized under max_size)."""
    budget = runtime.budget

    def construct(*args: Any, **kwargs: Any) -> Any:
        if args:
            first = args[0]
            if isinstance(first, Form):
                pass
            elif issubclass(cls, str) and not isinstance(first, str):
                runtime.check_text(first, f"the {cls.__name__}")
            elif cls is Bytes and isinstance(first, int):
                budget.allocate(first, "the bytes")
            elif cls is Integer and isinstance(first, str | bytes):
                limit = budget.limits.max_int_bits
                if limit is not None and len(first) * 5 > limit:
                    budget.exceed("int_bits", f"a {len(first)}-character number string could exceed the limit of {limit} bits")
            elif issubclass(cls, tuple | bytes) and not isinstance(first, str | bytes):
                args = (runtime.materialize(first, f"the {cls.__name__}"), *args[1:])
        return cls(*args, **kwargs)

    return construct


def _public_name(key: str) -> str:
    if key.startswith("_o_hy_"):
        return "hy." + unmangle(key[len("_o_hy_"):])
    return key if key.startswith("_o_") else unmangle(key)


def _rename(fn: types.FunctionType, name: str) -> None:
    """Give a closure its sandbox name, so error messages and reprs say `iter()`, not
    `make_builtins.<locals>.safe_iter()`."""
    fn.__code__ = fn.__code__.replace(co_name=name, co_qualname=name)
    fn.__name__ = name
    fn.__qualname__ = name


def _operator_functions(rt: Runtime) -> dict[str, Any]:
    """Operators as first-class functions (`(reduce + xs)`), with Hy's arities."""

    def fold(fn: Callable[[Any, Any], Any], args: tuple[Any, ...]) -> Any:
        acc = args[0]
        for x in args[1:]:
            acc = fn(acc, x)
        return acc

    def add(*args: Any) -> Any:
        if not args:
            return 0
        if len(args) == 1:
            return +args[0]
        return fold(rt.add, args)

    def sub(a: Any, *rest: Any) -> Any:
        return fold(lambda x, y: x - y, (a, *rest)) if rest else -a

    def mul(*args: Any) -> Any:
        if not args:
            return 1
        return fold(rt.mul, args)

    def div(a: Any, *rest: Any) -> Any:
        return fold(lambda x, y: x / y, (a, *rest)) if rest else 1 / a

    def floordiv(a: Any, b: Any, *rest: Any) -> Any:
        return fold(lambda x, y: x // y, (a, b, *rest))

    def mod(a: Any, b: Any) -> Any:
        return rt.mod(a, b)

    def power(a: Any, b: Any, *rest: Any) -> Any:
        items = (a, b, *rest)
        acc = items[-1]
        for x in reversed(items[:-1]):
            acc = rt.pow(x, acc)
        return acc

    def lshift(a: Any, b: Any, *rest: Any) -> Any:
        return fold(rt.lshift, (a, b, *rest))

    def rshift(a: Any, b: Any, *rest: Any) -> Any:
        return fold(lambda x, y: x >> y, (a, b, *rest))

    def band(a: Any, *rest: Any) -> Any:
        return fold(lambda x, y: x & y, (a, *rest))

    def bor(*args: Any) -> Any:
        return fold(lambda x, y: x | y, args) if args else 0

    def bxor(a: Any, b: Any) -> Any:
        return a ^ b

    def bnot(a: Any) -> Any:
        return ~a

    def chain(test: Callable[[Any, Any], bool]) -> Callable[..., bool]:
        def compare(a: Any, *rest: Any) -> bool:
            items = (a, *rest)
            return all(test(x, y) for x, y in itertools.pairwise(items))

        return compare

    def chain2(test: Callable[[Any, Any], bool]) -> Callable[..., bool]:
        def compare(a: Any, b: Any, *rest: Any) -> bool:
            items = (a, b, *rest)
            return all(test(x, y) for x, y in itertools.pairwise(items))

        return compare

    def not_(x: Any) -> bool:
        return not x

    def get(coll: Any, key: Any, *keys: Any) -> Any:
        coll = coll[key]
        for k in keys:
            coll = coll[k]
        return coll

    ops: dict[str, Any] = {
        "+": add, "-": sub, "*": mul, "/": div, "//": floordiv, "%": mod, "**": power,
        "<<": lshift, ">>": rshift, "&": band, "|": bor, "^": bxor, "bnot": bnot,
        "<": chain(lambda x, y: x < y), ">": chain(lambda x, y: x > y),
        "<=": chain(lambda x, y: x <= y), ">=": chain(lambda x, y: x >= y),
        "=": chain(lambda x, y: x == y), "is": chain(lambda x, y: x is y),
        "!=": chain2(lambda x, y: x != y), "is-not": chain2(lambda x, y: x is not y),
        "in": chain2(lambda x, y: x in y), "not-in": chain2(lambda x, y: x not in y),
        "not": not_, "get": get,
    }
    return {mangle(k): v for k, v in ops.items()}


__all__ = ["DENIED", "make_builtins"]
