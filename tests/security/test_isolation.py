"""The hard backstop (issue 12): `Interpreter(isolation="process")`.

In-process budgets cannot interrupt one C call. In isolation the evaluation runs in a
forked child under RLIMIT_CPU/RLIMIT_AS and is killed at its time limit plus a grace;
the parent gets `LimitExceeded` and stays usable. Each isolated evaluation starts from
the interpreter as the parent holds it and changes nothing in it.
"""

from __future__ import annotations

import ctypes
import io
import os
import threading
from typing import Any

import pytest

from o_lisp import Interpreter, Limits
from o_lisp._errors import LimitExceeded, LispError, ProgramError, SandboxViolation
from o_lisp._isolation import GRACE_SECONDS
from o_lisp._reader import PrematureEndOfInput

_LIBC_HOLDING_THE_GIL = ctypes.PyDLL(None)  # PyDLL: calls keep the GIL, like a runaway C loop


def stall_in_c(seconds: int) -> int:
    """A capability stuck in C: no Python bytecode runs until the call returns."""
    return int(_LIBC_HOLDING_THE_GIL.sleep(seconds))


def make(**limits: Any) -> tuple[Interpreter, io.StringIO]:
    out = io.StringIO()
    interp = Interpreter(limits=Limits(**{"time": 1.0, **limits}), capabilities={"stall": stall_in_c},
                         stdout=out, isolation="process")
    return interp, out


def assert_reusable(interp: Interpreter) -> None:
    interp.eval("(defn double [x] (* 2 x))", isolation="none")
    assert interp.eval("(double 21)") == 42
    assert interp.call("double", 4) == 8


def test_a_capability_stuck_in_c_is_killed_at_its_limit_plus_grace() -> None:
    interp, _ = make()
    for _ in range(3):  # the same attempt repeatedly: nothing left behind
        with pytest.raises(LimitExceeded) as caught:
            interp.eval("(stall 60)")
        assert caught.value.limit == "time"
        assert f"+{GRACE_SECONDS:g} s grace) and was killed" in str(caught.value)
    assert_reusable(interp)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # every child was reaped


def test_a_hash_flooded_set_is_stopped() -> None:
    """200,000 ints that all hash alike (multiples of 2**61 - 1) turned into a set in one
    C call: quadratic. Whether a budget refuses it first or the kill ends it, it ends."""
    interp, _ = make(steps=None)
    with pytest.raises(LimitExceeded):
        interp.eval("(set (lfor k (range 200000) (* k 2305843009213693951)))")
    assert_reusable(interp)


def test_a_memory_bomb_in_one_c_allocation_is_limit_exceeded_memory() -> None:
    """One allocation of 8 GB (no size budget, so no check refuses it first): the child's
    RLIMIT_AS (its address space + stack + 64 MiB + slack) makes it fail at once."""
    interp, _ = make(max_size=None, memory=64 * 1024 * 1024, time=10.0)
    for _ in range(3):
        with pytest.raises(LimitExceeded) as caught:
            interp.eval('(len (* "ab" 4000000000))')
        assert caught.value.limit == "memory"
    assert_reusable(interp)


def test_isolated_evaluations_are_independent() -> None:
    interp, out = make()
    interp.define("base", 10)
    interp.eval("(defn add [x] (+ x base))", isolation="none")  # trusted setup, in-process
    assert interp.eval('(defn leaked [] 1) (print "sum" (add 1)) (add 5)') == 15
    assert out.getvalue() == "sum 11\n"  # output comes back to the parent's stream
    assert "leaked" not in interp.names()  # nothing an isolated evaluation defines persists
    with pytest.raises(ProgramError, match="NameError"):
        interp.eval("(leaked)")
    interp.eval("(setv base 1000)")
    assert interp.lookup("base") == 10


def test_values_come_back_as_plain_data() -> None:
    interp, _ = make()
    assert interp.eval('[1 2.5 "s" b"b" None True #(1 2) {"k" [3]}]') == [1, 2.5, "s", b"b", None, True, [1, 2],
                                                                          {"k": [3]}]
    with pytest.raises(LispError, match="must be plain data"):
        interp.eval("(fn [] 1)")
    with pytest.raises(LispError, match="must be plain data"):
        interp.eval("#{1 2}")


def test_errors_come_back_with_class_position_and_source() -> None:
    interp, _ = make()
    with pytest.raises(ProgramError) as program:
        interp.eval('(+ 1 1)\n(raise (ValueError "bad input"))', "prog.hy")
    assert (program.value.type_name, str(program.value)) == ("ValueError", "prog.hy:2:1: ValueError: bad input")
    assert isinstance(program.value.exception, ValueError)
    assert "^" in program.value.excerpt()
    with pytest.raises(SandboxViolation, match="not available in the sandbox"):
        interp.eval("(open \"/etc/passwd\")")
    with pytest.raises(PrematureEndOfInput):
        interp.eval("(print 1")
    with pytest.raises(LimitExceeded) as steps:
        interp.eval("(while True)", limits=Limits(steps=1000))
    assert steps.value.limit == "steps"


def test_cancel_kills_the_child() -> None:
    interp, _ = make(time=None)
    timer = threading.Timer(0.5, interp.cancel)
    timer.start()
    try:
        with pytest.raises(LimitExceeded, match="cancelled"):
            interp.eval("(stall 60)")
    finally:
        timer.cancel()
    assert_reusable(interp)


def test_a_crashing_child_is_an_error_not_a_dead_host() -> None:
    interp = Interpreter(capabilities={"crash": lambda: os.abort()}, isolation="process")
    with pytest.raises(LispError, match="died of signal SIGABRT"):
        interp.eval("(crash)")
    assert interp.eval("(+ 1 2)") == 3


def test_isolation_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="isolation must be"):
        Interpreter(isolation="thread")
    with pytest.raises(ValueError, match="isolation must be"):
        Interpreter().eval("1", isolation="sandbox")
