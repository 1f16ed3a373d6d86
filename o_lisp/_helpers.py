"""The names of the runtime helpers that compiled code calls: `_o_*`, in one place.

The compiler (`_compiler.py`) emits references to these names; the interpreter
(`_interpreter.py`) binds them in every evaluation's builtins. Agent code can never name
them: `_o_` names are refused by the reader-to-compiler path (`forbidden_name`). What the
two sides must agree on is listed here, and `tests/test_helpers_agree.py` checks both
against this module: every name the runtime binds is a helper or a member of a family,
every name the compiler emits is bound (or one of its own locals).
"""

from __future__ import annotations

import re

PREFIX = "_o_"
"""Reserved for the runtime: a program's names never start with it."""

# The helpers the compiler refers to by a constant.
TICK = "_o_tick"
TICKER = "_o_ticker"
"""The budget's ticker itself, an iterator: compiled code charges a step with
`_o_next(_o_ticker)`, one C call (`next` of an `itertools.chain`), about half the cost
of calling its `__next__` (`_o_tick`, a method wrapper; kept for hand-written checks)."""
NEXT = "_o_next"
METHOD = "_o_method"
FATAL = "_o_FATAL"
APPEND = "_o_append"
SETSLICE = "_o_setslice"
SETITEM = "_o_setitem"
QUASI = "_o_quasi"
REGISTER_MACRO = "_o_register_macro"

HY_EVAL = "_o_hy_eval"
HY_EVAL_LOCALS = "_o_locals"
"""Python's `locals`: a `(hy.eval form)` inside a function passes `_o_locals()` along, so
the form sees the function's variables, as Hy's `hy.eval` does."""

RESULT = "_o_result"
"""Not a helper: the variable a compiled unit leaves its value in."""

RUNTIME_HELPERS: frozenset[str] = frozenset({
    TICK, TICKER, NEXT, METHOD, FATAL, APPEND, SETSLICE, SETITEM, QUASI, REGISTER_MACRO,
    # arithmetic and growth, with their size checks
    "_o_add", "_o_mul", "_o_pow", "_o_lshift", "_o_mod", "_o_iadd", "_o_imul", "_o_concat", "_o_join",
    "_o_add_to_set", "_o_intbits", "_o_small", "_o_maxlen",
    # comparisons, membership and keys of non-scalar values (charged by expanded size)
    "_o_compare", "_o_contains", "_o_operand", "_o_key", "_o_keys", "_o_flat", "_o_and", "_o_or",
    # exact types the inline fast paths test against, and their unbound methods
    "_o_type", "_o_int", "_o_float", "_o_str", "_o_list", "_o_tuple", "_o_dict", "_o_set", "_o_len",
    "_o_str_replace", "_o_str_split", "_o_max", "_o_min",
    # f-strings, assertions, quasiquote, generators
    "_o_format", "_o_fjoin", "_o_AssertionError", "_o_assertion_failed", "_o_splice", "_o_yield_from",
    # the sandbox's own versions of Hy's hy.* functions
    "_o_hy_gensym", "_o_hy_mangle", "_o_hy_unmangle", "_o_hy_read", "_o_hy_read_many", "_o_hy_eval",
    "_o_hy_as_model", HY_EVAL_LOCALS,
})
"""Every helper bound by name in an interpreter's builtins."""

FAMILIES: dict[str, str] = {
    "_o_k": "a compiled program's constant (by number)",
    "_o_s": "a stdlib unit's constant (by number)",
    "_o_m_": "a method dispatcher, by method name (any receiver)",
    "_o_mt_": "a method table by receiver type, by method name",
    "_o_mx_": "a method's exact-type fast path, by method name",
    "_o_model_": "a form class of `hy.models`, by class name",
    "_o_empty_": "an empty container constructor (list, set, dict)",
    "_o_safe_": "the safe version of a built-in the compiler inlines, by name",
}
"""Helpers made per name: the prefix, and what follows it."""

COMPILER_LOCALS: frozenset[str] = frozenset({RESULT, "_o_c", "_o_exc", "_o_let"})
"""Names compiled code binds itself (temporaries, the result); never looked up in the builtins."""

NUMBERED_FAMILIES = frozenset({"_o_k", "_o_s"})
"""Families whose members are a prefix and a number (`_o_k12`), not a name."""

_FAMILY = re.compile("|".join(re.escape(prefix) + (r"\d+" if prefix in NUMBERED_FAMILIES else r"\w+")
                              for prefix in sorted(FAMILIES, key=len, reverse=True)))


def is_family_member(name: str) -> bool:
    """Whether `name` is a per-name helper (`_o_m_upper`, `_o_k12`, ...)."""
    return _FAMILY.fullmatch(name) is not None


__all__ = [
    "APPEND", "COMPILER_LOCALS", "FAMILIES", "FATAL", "HY_EVAL", "HY_EVAL_LOCALS", "METHOD", "NEXT", "NUMBERED_FAMILIES",
    "PREFIX", "QUASI", "REGISTER_MACRO", "RESULT", "RUNTIME_HELPERS", "SETITEM", "SETSLICE", "TICK", "TICKER",
    "is_family_member",
]
