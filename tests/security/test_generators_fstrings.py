"""Security suite for the forms added in round two: generators (`yield`) and f-strings.

Each attempt runs through the harness of `test_escapes.py` (a forked child,
host-state snapshot, memory and time policing, interpreter reuse afterwards).
Generators must not expose frames or code (gi_frame, gi_code, ...), must tick
on every resumption, and must not run sandboxed code outside a budget when
they escape the evaluation that made them. f-strings must charge a field's
width and precision to the size budget before formatting, and their fields
are ordinary sandboxed expressions (no attribute or dunder access).
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_escapes import CE, RE, SV, A, L, Limits, P, V, _run_cases

import o_lisp
from o_lisp import Interpreter, LimitExceeded, SandboxViolation

SIZE = Limits(max_size=100_000, time=5)
STEPS = Limits(steps=100_000, time=5)

_GEN = "(defn g [] (yield 1) (yield 2)) "

GENERATORS = {
    "gi-frame-dotted": A(_GEN + "(setv it (g)) it.gi_frame", SV),
    "gi-frame-dot-form": A(_GEN + "(. (g) gi_frame f_globals)", SV),
    "gi-code-method": A(_GEN + "(.gi_code (g))", SV),
    "gi-yieldfrom": A(_GEN + "(. (g) gi_yieldfrom)", SV),
    "gi-frame-getattr": A(_GEN + '(getattr (g) "gi_frame")', SV),
    "dunder-next-method": A(_GEN + "(.__next__ (g))", SV),
    "throw-refused": A(_GEN + "(setv it (g)) (next it) (.throw it ValueError)", SV),
    "type-of-generator": A(_GEN + "(type (g))", SV),
    "send-allowed": A(_GEN + "(setv it (g)) [(next it) (.send it None)]", V([1, 2])),
    "close-allowed": A(_GEN + "(setv it (g)) (next it) (.close it) (list it)", V([])),
    # every resumption ticks: a generator that never loops still runs out of steps
    "infinite-generator": A("(defn inf [] (while True (yield 1))) (for [x (inf)] 1)", L("steps"), limits=STEPS),
    "infinite-generator-list": A("(defn inf [] (while True (yield 1))) (list (inf))", L("steps", "memory"), limits=STEPS),
    "yield-from-huge-range": A("(defn g [] (yield :from (range (** 10 12)))) (for [x (g)] 1)", L("steps", "size"), limits=STEPS),
    "yield-from-infinite-self": A("(defn g [] (yield 1) (yield :from (g))) (list (g))", L("steps", "depth"), limits=STEPS),
    "generator-recursion": A("(defn g [n] (yield :from (g (+ n 1)))) (next (g 0))", L("depth", "steps")),
    "yield-outside-function": A("(yield 1)", CE),
    "yield-from-form-refused": A("(defn g [] (yield-from [1]))", SV),
    "gfor-escaped-frames": A("(setv it (gfor x [1] x)) it.gi_frame", SV),
}


@pytest.mark.parametrize("case", GENERATORS)
def test_generator_escapes(case: str) -> None:
    _run_cases(GENERATORS, case)


FSTRINGS = {
    "width-bomb": A('(setv x 1) f"{x :>999999999}"', L("size"), limits=SIZE),
    "precision-bomb": A('f"{1.5 :.999999999f}"', L("size"), limits=SIZE),
    "exp-precision-bomb": A('f"{1.5 :.999999999e}"', L("size"), limits=SIZE),
    "width-30-digits": A('f"{1 :>999999999999999999999999999999}"', L("size"), limits=SIZE),
    "nested-spec-width-bomb": A('f"{1 :>{(* 10 1000000000)}}"', L("size"), limits=SIZE),
    "nested-spec-built-from-strings": A('f"{1 :{(* "9" 12)}}"', L("size"), limits=SIZE),
    "nested-nested-spec": A('(setv w 9) f"{1 :{w}{w}{w}{w}{w}{w}{w}{w}{w}}"', L("size"), limits=SIZE),
    "grouping-of-big-width": A('f"{1 :>200000,}"', L("size"), limits=SIZE),
    "repr-of-shared-list": A('(setv a (* [1] 1000)) (setv b (* [a] 1000)) f"{b !r}"', L("size"), limits=SIZE),
    "ascii-of-big-text": A('(setv s (* "é" 20000)) f"{s !a}"', L("size"), limits=SIZE),
    "join-of-many-fields": A('(setv s (* "a" 60000)) f"{s}{s}"', L("size"), limits=SIZE),
    "loop-of-fstrings-steps": A('(while True f"{1 :>10}")', L("steps"), limits=STEPS),
    "field-attribute": A('(setv x 1) f"{x.__class__}"', [SV, RE]),
    "field-dot-form": A('f"{(. 1 __class__)}"', SV),
    "field-dunder-name": A('f"{__builtins__}"', SV),
    "field-refused-builtin": A('f"{(globals)}"', SV),
    "spec-attribute-syntax": A('f"{1 :{"0.__class__"}}"', P("ValueError")),
    "spec-format-field-syntax": A('f"{1 :{"{0.__class__}"}}"', P("ValueError")),
    "bad-conversion": A('f"{1 !x}"', RE, need_position=True),
    "single-closing-brace": A('f"}"', RE, need_position=True),
    "unclosed-field": A('f"{1"', RE, need_position=True),
    "t-string-refused": A('t"{1}"', RE, need_position=True),
    "hand-made-fstring-bad-conversion": A('(f-string (f-component 1 "z" (f-string)))', CE),
    "hand-made-fstring-malformed": A("(f-string 5)", CE),
    "quoted-fstring-eval-bomb": A('(hy.eval (quote f"{1 :>999999999}"))', L("size"), limits=SIZE),
    "fstring-in-macro-expansion": A('(defmacro m [] `f"{1 :>999999999}") (m)', L("size"), limits=SIZE),
    "big-int-field": A('f"{(** 10 5000)}"', P("ValueError")),
    "ok-small": A('(setv x 5) f"{x :>4}|{x !r}|{x = }"', V("   5|5|x = 5")),
}


@pytest.mark.parametrize("case", FSTRINGS)
def test_fstring_escapes(case: str) -> None:
    _run_cases(FSTRINGS, case)


# -- generators that escape their evaluation --------------------------------------------


def test_host_resume_outside_an_evaluation_runs_no_sandboxed_code() -> None:
    hits: list[int] = []
    interp = Interpreter(capabilities={"hit": lambda: hits.append(1)})
    gen = interp.eval("(defn g [] (yield 1) (hit) (yield 2)) (setv it (g)) (next it) it")
    with pytest.raises(SandboxViolation, match="outside an evaluation"):
        next(gen)
    assert hits == []
    fresh = interp.eval("(g)")
    with pytest.raises(SandboxViolation):
        next(fresh)  # not even the function entry runs
    assert hits == []


def test_resuming_in_a_later_evaluation_ticks_against_that_budget() -> None:
    interp = Interpreter()
    interp.eval("(defn inf [] (while True (yield 1))) (setv it (inf))")
    with pytest.raises(LimitExceeded) as info:
        interp.eval("(for [x it] 1)", limits=Limits(steps=500))
    assert info.value.limit == "steps"
    # straight-line yields (no loop in the generator) are charged one step per resumption
    body = " ".join(f"(yield {i})" for i in range(300))
    interp.eval(f"(defn many [] {body})")
    assert interp.eval("(len (list (many)))", limits=Limits(steps=1_000)) == 300
    with pytest.raises(LimitExceeded):
        interp.eval("(len (list (many)))", limits=Limits(steps=200))


def test_another_interpreters_evaluation_cannot_resume_it() -> None:
    owner = Interpreter()
    gen = owner.eval("(defn g [] (yield 1) (yield 2)) (setv it (g)) (next it) it")
    other = Interpreter(capabilities={"step": lambda: next(gen)})
    with pytest.raises(SandboxViolation):
        other.eval("(step)")


def test_collected_generator_does_not_run_its_finally_outside_an_evaluation(monkeypatch: Any) -> None:
    hits: list[str] = []
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    interp = Interpreter(capabilities={"hit": lambda: hits.append("finally")})
    gen = interp.eval("(defn g [] (try (yield 1) (finally (hit)))) (setv it (g)) (next it) (setv r it) (del it) r")
    interp.eval("(del r)")
    del gen
    gc.collect()
    assert hits == []
    assert unraisable and isinstance(unraisable[0].exc_value, SandboxViolation)
    # inside an evaluation the same finally runs (closing charges a step)
    assert interp.eval("(setv it (g)) (next it) (.close it) 1") == 1
    assert hits == ["finally"]


def test_fstring_fields_report_positions() -> None:
    interp = o_lisp.Interpreter()
    with pytest.raises(o_lisp.ProgramError) as info:
        interp.eval('(setv x 1)\n(+ 1\n   f"ab {(undefined-name 1)}")', "f.hy")
    assert info.value.position is not None
    # the column of the symbol inside the field, as for the same call outside an f-string
    assert (info.value.position.line, info.value.position.column) == (3, 11)
