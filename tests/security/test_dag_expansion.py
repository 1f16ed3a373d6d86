"""Issue 12, family 1: shared substructure expanded by the host.

A few steps build a value whose expansion is huge: `(* #(a) 1000)` nested four
deep holds 10^12 leaves in four small tuples. Every host operation that walks a
value (hashing, printing, formatting, converting to forms, exception messages,
copying into agent state) must charge or refuse the *expanded* size before it
walks, so each attempt ends with `LimitExceeded` (or a short, harmless error).
Each runs five times in one interpreter in a watched child (`_repeat`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from _repeat import Attempt, limit, run  # tests/security is on sys.path (rootdir-relative import)

from o_lisp import Interpreter
from o_lisp._printer import to_source
from o_lisp.agent._state import plain

# t: a tuple, l: a list, each with 10^12 leaves in four distinct containers; l2 is an
# equal but distinct copy of l (so comparisons cannot stop at identity).
DAG = (
    "(setv t #(1) l [1] l2 [1]) "
    "(for [_ (range 4)] (setv t (* #(t) 1000) l (* [l] 1000) l2 (* [l2] 1000)))"
)


def _storing(interp: Interpreter) -> Callable[..., Any]:
    """A capability that copies a value leaf by leaf, as `state-set!` does."""

    def store(value: Any) -> int:
        interp.charge_expansion(value, "the stored value")
        return len(repr(plain(value)))

    return store


def _printing_source(interp: Interpreter) -> Callable[..., Any]:
    """A capability that prints a candidate form as source, as `rewrite!` does."""

    def source(value: Any) -> int:
        interp.charge_expansion(value, "the candidate")
        return len(to_source(value))

    return source


SIZE = limit("size")
ATTEMPTS = {
    "hash": Attempt("(hash t)", SIZE, setup=DAG),
    "str": Attempt("(str l)", SIZE, setup=DAG),
    "repr": Attempt("(repr t)", SIZE, setup=DAG),
    "percent-format": Attempt('(% "%s" #(l))', SIZE, setup=DAG),
    "print": Attempt("(print l)", SIZE, setup=DAG),
    "print-sep": Attempt("(print 1 2 :sep l)", SIZE, setup=DAG),
    "print-end": Attempt("(print 1 :end t)", SIZE, setup=DAG),
    "str-of-exception": Attempt("(str (ValueError l))", SIZE, setup=DAG),
    "repr-of-dict-view": Attempt("(repr (.values {1 l}))", SIZE, setup=DAG),
    "hy-repr": Attempt("(hy.repr l)", SIZE, setup=DAG),
    "hy-as-model": Attempt("(hy.as-model l)", SIZE, setup=DAG),
    "hy-eval": Attempt("(hy.eval t)", SIZE, setup=DAG),
    "form-constructor-string": Attempt("(hy.models.String l)", SIZE, setup=DAG),
    "form-constructor-symbol": Attempt("(hy.models.Symbol t)", SIZE, setup=DAG),
    "macro-result": Attempt(
        "(defmacro m [] (setv t #(1)) (for [_ (range 4)] (setv t (* #(t) 1000))) t) (m)", SIZE
    ),
    "set-of-dag": Attempt("(set [t])", SIZE, setup=DAG),
    "frozenset-of-dag": Attempt("(frozenset [t 1])", SIZE, setup=DAG),
    "dict-of-dag-key": Attempt("(dict [#(t 1)])", SIZE, setup=DAG),
    "list-remove": Attempt("(.remove [1 2 l] l2)", SIZE, setup=DAG),
    "list-count": Attempt("(.count [1 2 3] l2)", SIZE, setup=DAG),
    "list-index": Attempt("(.index [1 2 l] l2)", SIZE, setup=DAG),
    "list-sort": Attempt("(.sort [l l2])", SIZE, setup=DAG),
    "sorted": Attempt("(sorted [l2 l])", SIZE, setup=DAG),
    "max": Attempt("(max [l2 l])", SIZE, setup=DAG),
    "min-of-arguments": Attempt("(min l2 l)", SIZE, setup=DAG),
    "set-union": Attempt("(.union (set) [t])", SIZE, setup=DAG),
    "state-copy": Attempt("(store l)", SIZE, setup=DAG, capabilities=(("store", _storing),)),
    "to-source": Attempt("(source t)", SIZE, setup=DAG, capabilities=(("source", _printing_source),)),
}


@pytest.mark.timeout(200)
@pytest.mark.parametrize("name", sorted(ATTEMPTS))
def test_expansion_is_charged_before_the_walk(name: str) -> None:
    run(ATTEMPTS[name])


@pytest.mark.timeout(200)
def test_exception_message_is_formatted_under_the_budget() -> None:
    """An uncaught exception holding the DAG becomes a ProgramError of the right type
    whose message says it was not shown, instead of printing 10^12 leaves."""
    report = run(Attempt("(raise (ValueError l))", (("ProgramError", "ValueError"),), setup=DAG))
    assert all("message not shown" in message for message in report["messages"])


@pytest.mark.timeout(200)
def test_key_error_of_a_dag_key_is_short() -> None:
    report = run(Attempt("(raise (KeyError t))", (("ProgramError", "KeyError"),), setup=DAG))
    assert all(len(message) < 300 for message in report["messages"])


def test_small_shared_values_still_work() -> None:
    """Positive control: sharing that expands to little is charged, not refused."""
    interp = Interpreter()
    assert interp.eval("(setv a #(1 2)) (hash (* #(a) 100))") == hash(((1, 2),) * 100)
    assert interp.eval('(str (* [[1]] 3))') == "[[1], [1], [1]]"
    assert interp.eval("(len (set (lfor i (range 10) #(i i))))") == 10
    assert interp.eval("(.count [#(1 2) #(1 2)] #(1 2))") == 2
