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

import collections
import itertools
import math
import operator
import re
import types
from collections.abc import Callable, Iterator
from typing import Any

from o_lisp._budget import SMALL_RESULT, Budget
from o_lisp._errors import LimitExceeded, SandboxViolation
from o_lisp._mangle import unmangle
from o_lisp._walk import NODES, TEXT, measure
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
UNCHECKED_PRODUCT_BITS = 64
"""A product of two ints whose bit lengths add up to at most this is not checked
against max_int_bits (`Runtime.mul`; the compiler's inline `*` relies on it)."""
_LIST_GROWTH = frozenset(["append", "extend", "insert", "add", "setdefault"])
# Results smaller than this skip the allocation accounting (steps bound their number).
_SMALL = SMALL_RESULT
SMALL_ALLOCATION = _SMALL
# A walk with no size limit still stops somewhere (a 10^12-leaf expansion is not "unlimited").
_UNBOUNDED_WALK = 1 << 40
# Key types whose hashes a program cannot choose (salted per process, or too few values).
_RANDOM_HASH_TYPES = frozenset([str, bytes, String, Symbol, Bytes, type(None), bool])
# Key types hashed in constant time (no walk needed before hashing them).
_FLAT_HASH_TYPES = frozenset([*_RANDOM_HASH_TYPES, int, float, complex, Integer])
_INT_TYPES = frozenset([int, Integer, bool])
_STRING_TYPES = frozenset([str, bytes, String, Symbol, Bytes])
_TUPLE_KIND = {tuple}
_NUMBER_TYPES = frozenset([int, float, bool, type(None), Integer])
# CPython hashes numbers modulo this prime: ints of smaller magnitude hash to themselves.
_HASH_MODULUS = 2**61 - 1
# Largest exponent-bits x modulus-bits product of a 3-argument pow (an 8192-bit RSA-size power is 2**26).
_MODPOW_COST = 2**26

# Operand types whose comparison and hash take bounded time whatever they meet (a
# scalar against a container is decided by type): compiled comparisons, subscripts,
# key methods and set/dict literals test `type(x) in FLAT_OPERANDS` inline and call a
# measuring helper (`Runtime.compare`, `.contains`, `.key`) only for other values.
# Strings compare in time linear in their materialized length, which memory bounds.
FLAT_OPERANDS: frozenset[type] = frozenset(
    [int, float, bool, type(None), str, bytes, complex, range, Integer, Float, Complex, String, Symbol, Keyword, Bytes]
)
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_SIZED_CONTAINERS = (list, dict, set, frozenset)

_TEXT_ENCODINGS = frozenset(
    "utf-8 utf8 utf_8 ascii latin-1 latin1 latin_1 iso-8859-1 utf-16 utf-32 utf-16-le utf-16-be".split()
)
_ERROR_HANDLERS = frozenset("strict ignore replace backslashreplace surrogateescape surrogatepass".split())
_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)


def _distinct(group: list[Any]) -> int:
    """How many distinct values a group of equally hashed values holds (an upper bound)."""
    try:
        ordered = sorted(group)
    except TypeError:
        return len({id(x) for x in group})
    return 1 + sum(1 for a, b in itertools.pairwise(ordered) if a != b)


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
        one big list a thousand times prints it a thousand times), but each
        distinct container is walked once (`o_lisp._walk`); a container inside
        itself prints as `[...]` and counts once. Exceptions count their
        arguments, dict views and slices their items.
        """
        return measure(obj, limit, TEXT)

    def check_nodes(self, obj: Any, what: str) -> int:
        """Charge for host work that visits every node of `obj`'s expansion (hashing,
        comparing, converting to forms, copying into agent state), before it runs.

        An expansion over `max_size` nodes is refused (`LimitExceeded("size")`); one
        over `_SMALL` nodes costs one step per node. Returns the node count.
        """
        t = type(obj)
        if t is int or t is str or t is float or t is bool or obj is None:
            return 1
        budget = self.budget
        limit = budget.limits.max_size
        nodes = measure(obj, limit if limit is not None else _UNBOUNDED_WALK, NODES)
        if limit is not None and nodes > limit:
            budget.exceed("size", f"{what} would visit more than {limit} values (shared parts counted each time)")
        if nodes > _SMALL:
            budget.charge(nodes)
        return nodes

    def check_keys(self, items: Any, what: str) -> None:
        """Refuse or charge hash flooding before `items` become set members or dict keys.

        Distinct values whose hashes are all equal turn each insertion into a scan of
        the ones before it (200,000 multiples of 2**61-1 cost 2*10^10 comparisons in
        one C call). Strings and bytes have salted hashes, and ints below 2**61-1 hash
        to themselves, so those are let through after a C-speed look at the types and
        the range. Otherwise the hashes are counted (after `check_nodes`, so hashing
        a shared tuple is charged too) and a group of m values with one hash, k of
        them distinct, costs m*k steps; more than the step budget is refused.
        """
        if not isinstance(items, _SIZED_TYPES) or isinstance(items, str | bytes | range):
            return  # characters or range ints: nothing to flood with
        source = list(items.keys()) if isinstance(items, dict) else items
        kinds = set(map(type, source))
        if kinds <= _RANDOM_HASH_TYPES:
            return
        if not kinds <= _FLAT_HASH_TYPES:
            self.check_nodes(source, what)
        if len(source) <= _SMALL:
            return
        if kinds <= _INT_TYPES and -_HASH_MODULUS < min(source) and max(source) < _HASH_MODULUS:
            return
        counts = collections.Counter(map(hash, source))
        if len(counts) == len(source):
            return
        multi = {h for h, m in counts.items() if m > 1}
        groups: dict[int, list[Any]] = collections.defaultdict(list)
        for value in source:
            h = hash(value)
            if h in multi:
                groups[h].append(value)
        cost = 0
        for group in groups.values():
            cost += len(group) * _distinct(group)
        if cost > _SMALL:
            budget = self.budget
            steps = budget.limits.steps
            if steps is not None and cost > steps:
                budget.exceed(
                    "steps",
                    f"{what}: many distinct values share a hash; inserting them would cost about "
                    f"{cost} steps (the limit is {steps})",
                )
            budget.charge(cost)

    def check_compare(self, items: Any, what: str) -> None:
        """Charge comparing the elements of `items` with each other (sorting, min, max):
        each comparison may walk two elements, about log2(n) comparisons per element."""
        if len(items) < 2:
            return
        kinds = set(map(type, items))
        if kinds <= _STRING_TYPES:
            # Equal but distinct long strings compare character by character.
            self.charge_work(sum(map(len, items)) // 64 * len(items).bit_length(), what)
        elif kinds == _TUPLE_KIND and max(map(len, items)) <= 16 and _NUMBER_TYPES.issuperset(
            map(type, itertools.chain.from_iterable(items))
        ):
            return  # small tuples of numbers: bounded comparisons
        elif not kinds <= _FLAT_HASH_TYPES:
            nodes = self.check_nodes(items, "the compared elements")
            self.charge_work(nodes * len(items).bit_length(), what)

    def _operand_nodes(self, x: Any, limit: int) -> int:
        """Nodes a comparison may visit in `x`; a list or tuple of scalars is counted at C speed."""
        t = type(x)
        if (t is list or t is tuple) and FLAT_OPERANDS.issuperset(map(type, x)):
            return len(x) + 1
        return measure(x, limit, NODES)

    def compare(self, op: str, a: Any, b: Any) -> Any:
        """`a OP b` for operands that are not both scalars (`_o_compare`), after charging
        the walk: an equality or ordering of two containers visits at most the nodes of
        the smaller expansion. Over `max_size` is refused (`LimitExceeded("size")`), over
        `_SMALL` costs a step per node. Equality of two lists, dicts or sets of different
        lengths is decided without a walk and is not measured."""
        fn = _COMPARISONS[op]
        ta = type(a)
        if ta in FLAT_OPERANDS or type(b) in FLAT_OPERANDS:
            return fn(a, b)
        if (op == "=" or op == "!=") and ta is type(b) and ta in _SIZED_CONTAINERS and len(a) != len(b):
            return fn(a, b)
        budget = self.budget
        limit = budget.limits.max_size
        bound = limit if limit is not None else _UNBOUNDED_WALK
        nodes = self._operand_nodes(a, bound)
        if nodes > 1:
            nodes = min(nodes, self._operand_nodes(b, min(bound, nodes)))
        if limit is not None and nodes > limit:
            budget.exceed("size", f"comparing these values would visit more than {limit} values (shared parts counted each time)")
        if nodes > _SMALL:
            budget.charge(nodes)
        return fn(a, b)

    def operand(self, x: Any) -> Any:
        """`x`, after charging its expansion (`_o_operand`): an operand of a chained
        comparison `(< a b c)`, compared with each neighbour."""
        if type(x) not in FLAT_OPERANDS:
            self.check_nodes(x, "the compared value")
        return x

    def key(self, k: Any) -> Any:
        """`k`, after charging its hash (`_o_key`): a subscript, a key method's key, an
        element of a set or dict literal or comprehension. Only tuples and frozensets
        (forms included) are hashable containers; a tuple of up to 16 scalars is let
        through at C speed. Hashing a tuple walks its whole expansion, uncached."""
        t = type(k)
        if t in FLAT_OPERANDS:
            return k
        if t is tuple and len(k) <= 16 and FLAT_OPERANDS.issuperset(map(type, k)):
            return k
        if isinstance(k, tuple | frozenset):
            self.check_nodes(k, "the key")
        return k

    def charged_key(self, key: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """`key` for `.sort`/`min`/`max`, charging each key's expansion (`operand`):
        every comparison of two keys visits at most the nodes of one of them."""
        operand = self.operand

        def charged(item: Any) -> Any:
            return operand(key(item))

        return charged

    def keys(self, items: Any) -> Any:
        """The members of a starred `#{#* items}`, checked like a set constructor's."""
        if not isinstance(items, _SIZED_TYPES):
            items = self.materialize(items, "the set members")
        self.check_keys(items, "the set literal")
        return items

    def contains(self, x: Any, container: Any) -> bool:
        """`x in container` for an `x` that is not a scalar (`_o_contains`): hashing `x`
        (sets, dicts) or comparing it with every element (lists, tuples) is charged
        first, as `.count`/`.index` charge their argument."""
        if type(x) not in FLAT_OPERANDS:
            _check_key_arg(self, container, (x,), {})
        return x in container

    def charge_work(self, cost: int, what: str) -> None:
        """Charge `cost` steps for host work about to run, refusing it when it is more
        than the whole step budget (`charge` alone would first tick up to the limit)."""
        if cost <= _SMALL:
            return
        budget = self.budget
        steps = budget.limits.steps
        if steps is not None and cost > steps:
            budget.exceed("steps", f"{what} would cost about {cost} steps; the limit is {steps}")
        budget.charge(cost)

    def check_codec(self, encoding: Any, errors: Any) -> None:
        """Codecs outside the text allow-list are refused everywhere (punycode is
        quadratic, bytes-to-bytes codecs decompress), and so are error handlers that
        could expand the result past the size checks."""
        if encoding is not None and (not isinstance(encoding, str) or encoding.lower() not in _TEXT_ENCODINGS):
            raise SandboxViolation(f"encoding {encoding!r} is not available in the sandbox")
        if errors is not None and (not isinstance(errors, str) or errors not in _ERROR_HANDLERS):
            raise SandboxViolation(f"error handler {errors!r} is not available in the sandbox")

    def check_text(self, obj: Any, what: str) -> None:
        limit = self.budget.limits.max_size
        if limit is None:
            return
        t = type(obj)
        if t in (int, float, bool, type(None)) or (t is str and len(obj) * 4 < limit):
            return
        size = self.text_size(obj, limit)
        if size > _SMALL:
            self.budget.allocate(size, what)

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

    def charge_concat(self, a: Any, b: Any) -> bool:
        """Charge `a + b` of two sequences as `add` does (for the compiler's inline `+`
        of longer strs, tuples and lists); True, so the inline test goes on."""
        size = len(a) + len(b)
        if size > _SMALL:
            self.budget.allocate(size, f"concatenating two {_type_label(a)}s")
        return True

    def mul(self, a: Any, b: Any) -> Any:
        ta, tb = type(a), type(b)
        if ta is float or tb is float:
            return a * b
        if isinstance(a, int) and isinstance(b, int):
            bits = a.bit_length() + b.bit_length()
            if bits > UNCHECKED_PRODUCT_BITS:
                self.budget.int_bits(bits, "the product")
            return a * b
        if isinstance(a, int) and isinstance(b, str | bytes | list | tuple):
            a, b = b, a
        if isinstance(a, str | bytes | list | tuple) and isinstance(b, int):
            self.budget.allocate(len(a) * max(b, 0), f"repeating a {_type_label(a)}")
        return a * b

    def pow(self, a: Any, b: Any, mod: Any = None) -> Any:
        if mod is not None:
            if isinstance(b, int) and isinstance(mod, int) and b:
                # Modular exponentiation costs about bits(b) multiplications of bits(mod)-bit
                # numbers; a negative exponent inverts the base first, then does the same.
                cost = abs(b).bit_length() * max(mod.bit_length(), 64)
                if cost > _MODPOW_COST:
                    self.budget.exceed(
                        "int_bits",
                        f"a modular power with a {abs(b).bit_length()}-bit exponent and a {mod.bit_length()}-bit "
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
        helpers["_o_join"] = self._join(helpers["_o_m_join"])
        for name in PLAIN_METHOD_NAMES:
            helpers["_o_mt_" + name] = MethodTable(
                name, {cls: getattr(cls, name) for cls, names in METHODS.items() if name in names}
            )
            if name in PREFERRED_TYPE:
                helpers["_o_mx_" + name] = getattr(PREFERRED_TYPE[name], name)
        return helpers

    def _join(self, general: Callable[..., Any]) -> Callable[[Any, Any], Any]:
        """`(.join sep items)` with one positional argument: the dispatcher's checks for
        a str separator and a list or tuple of items, without its argument packing and
        its second dispatch; anything else goes to the dispatcher `general`."""
        budget = self.budget

        def join(obj: Any, items: Any) -> Any:
            if type(obj) is not str or (type(items) is not list and type(items) is not tuple):
                return general(obj, items)
            try:
                total = sum(map(len, items))
            except TypeError:
                return obj.join(items)  # not all strings: join raises the right TypeError
            if len(items) > 1:
                total += len(obj) * (len(items) - 1)
            if total > _SMALL:
                budget.allocate(total, "the joined string")
            return obj.join(items)

        return join

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
        if guard is None and name not in _LIST_GROWTH and name not in PLAIN_KEY_METHODS:

            def plain(obj: Any, *args: Any, **kwargs: Any) -> Any:
                fn = table.get(type(obj))
                if fn is None:
                    raise refuse(obj)
                return fn(obj, *args, **kwargs)

            return plain
        grows = name in _LIST_GROWTH
        if guard is _check_key_arg or name in PLAIN_KEY_METHODS:
            flat = _FLAT_HASH_TYPES

            def keyed(obj: Any, *args: Any, **kwargs: Any) -> Any:
                # The guard is only called for keys that are not numbers, strings or
                # small tuples of them.
                fn = table.get(type(obj))
                if fn is None:
                    raise refuse(obj)
                if grows:
                    budget.tick()
                    limit = budget.limits.max_size
                    if limit is not None and len(obj) >= limit:
                        budget.exceed("size", f"the {_type_label(obj)} would grow past the size limit of {limit} elements")
                if args:
                    key = args[0]
                    t = type(key)
                    if t in flat:
                        if (t is str or t is bytes) and len(key) > 64 and isinstance(obj, list | tuple):
                            _check_key_arg(self, obj, args, kwargs)
                    elif not (t is tuple and len(key) <= 16 and flat.issuperset(map(type, key))):
                        _check_key_arg(self, obj, args, kwargs)
                return fn(obj, *args, **kwargs)

            return keyed

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
    errors = args[1] if len(args) > 1 else kwargs.get("errors")
    rt.check_codec(encoding, errors)
    # backslashreplace writes up to 10 characters for one (\U0010ffff).
    rt.budget.allocate(len(obj) * (10 if errors == "backslashreplace" else 4), "the converted text")


def _check_hex(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if isinstance(obj, bytes):
        rt.budget.allocate(len(obj) * 3, "the hex string")


def _check_sort(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    rt.budget.charge(len(obj))
    key = kwargs.get("key")
    if key is None:
        rt.check_compare(obj, "sorting these elements")
    else:
        kwargs["key"] = rt.charged_key(key)  # the dispatcher calls with this same dict


def _check_key_arg(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Methods that hash their argument or compare it with every element."""
    if not args:
        return
    key = args[0]
    t = type(key)
    if isinstance(key, str | bytes) and isinstance(obj, list | tuple):
        # Each element equal to the key but not identical costs a full comparison.
        rt.charge_work(len(obj) * (1 + len(key) // 64), "comparing the argument with every element")
        return
    if t in _FLAT_HASH_TYPES or (t is tuple and len(key) <= 16 and _FLAT_HASH_TYPES.issuperset(map(type, key))):
        return  # the common keys: a number, a string, a small tuple of them
    nodes = rt.check_nodes(args[0], "the argument")
    if nodes > 1 and isinstance(obj, list | tuple):
        rt.charge_work(nodes * len(obj), "comparing the argument with every element")


def _check_key_args(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Set operations: every argument's members are hashed into a table."""
    for arg in args:
        rt.check_keys(arg, "the set operation")
        if isinstance(arg, _SIZED_TYPES) and len(arg) > _SMALL:
            rt.budget.allocate(len(obj) + len(arg), "the result")


def _check_update(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """`update` (dict, set): grows `obj` by the argument's members, hashing each."""
    _check_extend(rt, obj, args, kwargs)
    for arg in args:
        rt.check_keys(arg, "the update")


def _check_copy(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if len(obj) > _SMALL:
        rt.budget.allocate(len(obj), "the copy")


def _check_split(rt: Runtime, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if len(obj) > _SMALL:
        rt.budget.allocate(len(obj), "the split parts")


_METHOD_GUARDS: dict[str, Callable[[Runtime, Any, tuple[Any, ...], dict[str, Any]], None]] = {
    "center": _check_width,
    "ljust": _check_width,
    "rjust": _check_width,
    "zfill": _check_width,
    "expandtabs": _check_expandtabs,
    "replace": _check_replace,
    "extend": _check_extend,
    "update": _check_update,
    "union": _check_key_args,
    "intersection": _check_key_args,
    "intersection_update": _check_key_args,
    "difference": _check_key_args,
    "difference_update": _check_key_args,
    "symmetric_difference": _check_key_args,
    "symmetric_difference_update": _check_key_args,
    "issubset": _check_key_args,
    "issuperset": _check_key_args,
    "isdisjoint": _check_key_args,
    # `get pop setdefault discard` stay plain: compiled calls pass their key through
    # `_o_key` (see `Compiler.method_call`); these compare it with elements or hash it:
    "add": _check_key_arg,
    "remove": _check_key_arg,
    "count": _check_key_arg,
    "index": _check_key_arg,
    "copy": _check_copy,
    "split": _check_split,
    "rsplit": _check_split,
    "splitlines": _check_split,
    "encode": _check_encoding,
    "decode": _check_encoding,
    "sort": _check_sort,
    "hex": _check_hex,
}


# Plain methods that hash their key: compiled inline with the key through `_o_key`
# (`Compiler.key_guard`); their `_o_m_NAME` dispatchers check the key like `.remove`.
PLAIN_KEY_METHODS: frozenset[str] = frozenset(["get", "pop", "setdefault", "discard"])


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

