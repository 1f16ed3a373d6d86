"""The embedding API: Interpreter, Limits, capabilities, values both ways, errors."""

from __future__ import annotations

import io
import runpy
import sys
import threading
import time
from pathlib import Path

import pytest

from o_lisp import (
    CompileError,
    Interpreter,
    LimitExceeded,
    Limits,
    LispError,
    OLispError,
    ProgramError,
    SandboxViolation,
    hy_repr,
)
from o_lisp.forms import Expression, Integer, Symbol

ROOT = Path(__file__).resolve().parent.parent


def test_values_convert_both_ways() -> None:
    interp = Interpreter()
    interp.define("data", {"xs": [1, 2, 3], "name": "o"})
    assert interp.eval('(+ (sum (get data "xs")) (len (get data "name")))') == 7
    result = interp.eval('{"a" [1 2.5 None True] "b" #(1 "x") "c" #{3}}')
    assert result == {"a": [1, 2.5, None, True], "b": (1, "x"), "c": {3}}
    assert type(result["a"][0]) is int


def test_call_by_name_and_by_value_with_keywords() -> None:
    interp = Interpreter()
    interp.eval("(defn greet [name [greeting \"hello\"] #** extra] [greeting name extra])")
    assert interp.call("greet", "ann", greeting="hi", mood="ok") == ["hi", "ann", {"mood": "ok"}]
    fn = interp.lookup("greet")
    assert interp.call(fn, "bob") == ["hello", "bob", {}]


def test_sandboxed_functions_need_an_evaluation() -> None:
    interp = Interpreter()
    fn = interp.eval("(fn [x] (* x 2))")
    with pytest.raises(SandboxViolation, match="outside an evaluation"):
        fn(2)
    assert interp.call(fn, 2) == 4


def test_capabilities_are_the_only_way_out() -> None:
    seen: list[object] = []
    interp = Interpreter(capabilities={"record": seen.append, "shout": str.upper})
    assert interp.eval('(record 42) (shout "hi")') == "HI"
    assert seen == [42]
    with pytest.raises(ProgramError) as info:
        interp.eval("(shell \"ls\")")
    assert info.value.type_name == "NameError"


def test_capability_errors_are_catchable_program_errors() -> None:
    def fail(_: object) -> None:
        raise ValueError("host says no")

    interp = Interpreter(capabilities={"fail": fail})
    assert interp.eval("(try (fail 1) (except [e ValueError] (str e)))") == "host says no"
    with pytest.raises(ProgramError) as info:
        interp.eval("(fail 1)")
    assert info.value.type_name == "ValueError"
    assert isinstance(info.value.exception, ValueError)


def test_forms_and_names_introspection() -> None:
    interp = Interpreter()
    interp.eval("(defn square [x] (* x x)) (setv answer 42) (defmacro twice [x] `(do ~x ~x))")
    form = interp.forms("square")
    assert isinstance(form, Expression) and form[0] == Symbol("defn")
    assert {"square", "answer", "twice"} <= set(interp.names())
    assert interp.forms("answer")[2] == Integer(42)
    with pytest.raises(KeyError):
        interp.forms("missing")


def test_redefinition_replaces_one_definition() -> None:
    interp = Interpreter()
    interp.eval("(defn f [] 1) (defn g [] (+ (f) 10))")
    interp.eval("(defn f [] 2)")
    assert interp.call("g") == 12


def test_program_errors_have_positions_and_class_names() -> None:
    interp = Interpreter()
    with pytest.raises(ProgramError) as info:
        interp.eval("(setv x 1)\n(defn f [d] (get d \"missing\"))\n(f {})", "prog.hy")
    error = info.value
    assert error.type_name == "KeyError"
    assert (error.filename, error.line) == ("prog.hy", 2)
    assert error.describe().startswith("ProgramError: prog.hy:2:")
    assert "(defn f [d] (get d \"missing\"))" in error.describe()


def test_compile_errors_name_the_form() -> None:
    with pytest.raises(CompileError) as info:
        Interpreter().eval("(do\n  (if))", "c.hy")
    assert str(info.value) == "c.hy:2:3: if needs a condition, a then-form and an optional else-form"


def test_error_hierarchy() -> None:
    for cls in (CompileError, LimitExceeded, ProgramError, SandboxViolation):
        assert issubclass(cls, LispError)
    assert issubclass(LispError, OLispError)


def test_limits_per_call_and_reuse_after_errors() -> None:
    interp = Interpreter(limits=Limits(steps=1_000))
    with pytest.raises(LimitExceeded) as info:
        interp.eval("(for [i (range 2000)] i)")
    assert info.value.limit == "steps"
    assert interp.eval("(for [i (range 2000)] i)", limits=Limits(steps=10_000)) is None
    assert interp.eval("(+ 1 2)") == 3


def test_limits_reject_bad_values() -> None:
    with pytest.raises(ValueError, match=r"Limits\.steps must be a positive integer"):
        Limits(steps=0)
    assert Limits.unlimited().steps is None


def test_recursion_limit_is_restored() -> None:
    before = sys.getrecursionlimit()
    interp = Interpreter(limits=Limits(depth=50))
    with pytest.raises(LimitExceeded) as info:
        interp.eval("(defn down [n] (+ 1 (down n))) (down 0)")
    assert info.value.limit == "depth"
    assert sys.getrecursionlimit() == before


def test_cancel_from_another_thread() -> None:
    interp = Interpreter(limits=Limits(steps=None, time=None))
    timer = threading.Timer(0.3, interp.cancel)
    timer.start()
    started = time.monotonic()
    with pytest.raises(LimitExceeded, match="cancelled"):
        interp.eval("(while True)")
    assert time.monotonic() - started < 10
    assert interp.eval("(+ 1 1)") == 2


def test_print_goes_to_the_given_stream() -> None:
    out = io.StringIO()
    Interpreter(stdout=out).eval('(print "a" 1 :sep "-" :end "!") (print [1 "x"])')
    assert out.getvalue() == "a-1![1, 'x']\n"


def test_load_reports_file_positions(tmp_path: Path) -> None:
    path = tmp_path / "prog.hy"
    path.write_text("#!/usr/bin/env o-lisp\n(defn f [] (/ 1 0))\n(f)\n")
    with pytest.raises(ProgramError) as info:
        Interpreter().load(path)
    assert (info.value.filename, info.value.line, info.value.type_name) == (
        str(path),
        2,
        "ZeroDivisionError",
    )
    with pytest.raises(LispError, match="cannot read"):
        Interpreter().load(tmp_path / "missing.hy")


def test_hy_repr_of_results() -> None:
    assert hy_repr(Interpreter().eval("[1 \"a\" :k 'sym {1 2} #(3) #{4} None]")) == (
        "[1 \"a\" :k 'sym {1 2} #(3) #{4} None]"
    )


def test_embedding_example_runs() -> None:
    example = runpy.run_path(str(ROOT / "examples" / "embedding.py"))
    lines = example["main"]()
    assert lines[0] == "total = 3.5"
    assert lines[1] == "discounted = 4.5"
    assert lines[3].startswith("stopped: steps")
    assert lines[4] == "refused: <eval>:1:1: 'open' is not available in the sandbox"
    assert lines[5] == "definition of total starts with: defn"
