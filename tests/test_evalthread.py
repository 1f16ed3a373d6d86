"""Evaluation threads (`o_lisp._evalthread`): reuse of the deep-stack thread, and what a
fresh thread per evaluation gave for free (no memory or state left behind, fork safety,
concurrency) that the reuse must keep."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections.abc import Iterator

import pytest

import o_lisp._evalthread as evalthread
from o_lisp import Interpreter, Limits, LispError
from o_lisp._budget import resident_bytes
from o_lisp._evalthread import (
    POOL,
    STACK_MIN,
    EvalThread,
    run_on_deep_thread,
    stack_size_for,
    trim_deep_stack,
)

MiB = 1 << 20


def _ident_interpreter(limits: Limits | None = None) -> Interpreter:
    """An interpreter whose programs can ask which OS thread they run on."""
    interp = Interpreter(limits)
    interp.grant("ident", threading.get_ident)
    return interp


def _idle() -> EvalThread:
    idle = POOL.idle()
    assert idle is not None
    return idle


@pytest.fixture(autouse=True)
def _trimmed_idle_thread() -> Iterator[None]:
    """Leave no untrimmed stack behind: a last small evaluation trims the idle thread."""
    yield
    Interpreter(load_stdlib=False).eval("1")
    idle = POOL.idle()
    if idle is not None:
        idle.settle()


def test_consecutive_evaluations_reuse_one_thread_that_is_not_the_caller() -> None:
    """Reuse is the point of the pool: a second evaluation must not start a new thread."""
    interp = _ident_interpreter()
    first = interp.eval("(ident)")
    second = interp.eval("(ident)")
    assert first == second
    assert first != threading.get_ident()
    idle = _idle()
    assert idle._thread.ident == first
    assert idle._thread.is_alive()
    assert idle.reusable


def test_evaluations_of_different_interpreters_share_the_idle_thread() -> None:
    """The pool is per process, not per interpreter."""
    a = _ident_interpreter()
    b = _ident_interpreter()
    assert a.eval("(ident)") == b.eval("(ident)") == _idle()._thread.ident


@pytest.mark.skipif(evalthread._LIBC is None, reason="stack trimming needs glibc (Linux)")
def test_deep_c_recursion_leaves_no_resident_stack_unless_the_trim_is_disabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reused thread keeps the stack pages a deep evaluation touched unless it trims them.

    Hashing a tuple nested 300 000 deep recurses in C (~18 MiB of stack). With the trim
    the RSS after the evaluation is back near where it was; with the trim disabled the
    same evaluation leaves the pages resident, which shows the trim is what frees them.
    """
    interp = Interpreter()
    interp.eval("(do (setv x 1) (for [k (range 300000)] (setv x #(x))))")

    before = resident_bytes()
    interp.eval("(hash x)")
    assert _idle().settle()  # the trim follows the answer, within TRIM_INTERVAL
    with_trim = resident_bytes() - before

    interp.eval("1")  # the idle thread is trimmed and stays the one in use
    monkeypatch.setattr(EvalThread, "_trim", lambda self: True)
    before = resident_bytes()
    interp.eval("(hash x)")
    assert _idle().settle()
    without_trim = resident_bytes() - before
    monkeypatch.undo()
    interp.eval("1")  # trims what the untrimmed evaluation left

    assert with_trim < 4 * MiB, with_trim / MiB
    assert without_trim > 10 * MiB, without_trim / MiB
    interp.eval("(setv x None)")


@pytest.mark.skipif(evalthread._LIBC is None, reason="stack trimming needs glibc (Linux)")
def test_the_trim_follows_the_answer_and_a_stream_of_calls_is_not_trimmed_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stack trim is off the caller's path: an evaluation's answer does not wait for
    it, and back-to-back evaluations share one trim per TRIM_INTERVAL instead of one each."""
    interp = Interpreter()
    interp.eval("1")
    assert _idle().settle()
    trims: list[float] = []
    real_trim = EvalThread._trim

    def slow_trim(self: EvalThread) -> bool:
        trims.append(time.monotonic())
        time.sleep(0.3)
        return real_trim(self)

    monkeypatch.setattr(EvalThread, "_trim", slow_trim)
    time.sleep(evalthread.TRIM_INTERVAL)  # the next trim is due right after the next answer
    started = time.monotonic()
    assert interp.eval("(+ 1 2)") == 3
    assert time.monotonic() - started < 0.25  # answered before the 0.3 s trim ended
    assert _idle().settle()
    assert len(trims) == 1

    monkeypatch.setattr(EvalThread, "_trim", real_trim)
    counted: list[int] = []

    def counting_trim(self: EvalThread) -> bool:
        counted.append(1)
        return real_trim(self)

    monkeypatch.setattr(EvalThread, "_trim", counting_trim)
    interp.eval("(defn nop [] None)")
    started = time.monotonic()
    calls = 0
    while time.monotonic() - started < 0.2:
        interp.call("nop")
        calls += 1
    elapsed = time.monotonic() - started
    assert calls > 50, calls  # many evaluations...
    assert len(counted) <= elapsed / evalthread.TRIM_INTERVAL + 2, (len(counted), calls)  # ...few trims
    assert _idle().settle()


def test_program_error_propagates_and_the_interpreter_stays_usable() -> None:
    """An error raised on the evaluation thread reaches the caller as the same LispError."""
    interp = Interpreter()
    with pytest.raises(LispError, match="ZeroDivisionError"):
        interp.eval("(/ 1 0)")
    assert interp.eval("(+ 1 2)") == 3
    with pytest.raises(LispError, match="boom"):
        interp.eval('(raise (ValueError "boom"))')
    assert interp.eval("(* 6 7)") == 42


def test_idle_thread_retains_neither_the_value_nor_the_error() -> None:
    """A reused thread must not keep the last result or error (and its frames) alive."""

    class Marker:
        pass

    made: list[weakref.ref[Marker]] = []

    def make() -> Marker:
        marker = Marker()
        made.append(weakref.ref(marker))
        return marker

    interp = Interpreter()
    interp.grant("make", make)
    interp.eval("(defn fail [] (setv local (make)) (/ 1 0))")

    result = interp.eval("(make)")
    assert isinstance(result, Marker)
    idle = _idle()
    assert idle._value is None and idle._error is None
    del result
    gc.collect()
    assert made[0]() is None

    try:
        interp.eval("(fail)")
    except LispError as error:
        assert "ZeroDivisionError" in str(error)
    else:  # pragma: no cover - the program must fail
        pytest.fail("(fail) did not raise")
    assert POOL.idle() is idle
    assert idle._value is None and idle._error is None
    gc.collect()
    assert made[1]() is None  # the traceback's frames are gone with the error


def test_a_different_stack_size_retires_the_idle_thread() -> None:
    """A thread is reused only for the stack size it was made with; the old one exits."""
    interp = _ident_interpreter()
    small = Limits(steps=1_000_000)
    assert stack_size_for(small.steps) != stack_size_for(interp.limits.steps)

    default_ident = interp.eval("(ident)")
    old = _idle()
    assert old.stack_size == stack_size_for(interp.limits.steps)

    small_ident = interp.eval("(ident)", limits=small)
    new = _idle()
    assert new is not old
    assert new.stack_size == stack_size_for(small.steps)
    assert small_ident == new._thread.ident != default_ident
    old._thread.join(timeout=10)
    assert not old._thread.is_alive()  # retired, not leaked

    assert interp.eval("(ident)", limits=small) == small_ident  # reused at that size
    assert interp.eval("(ident)") != small_ident
    assert _idle().stack_size == stack_size_for(interp.limits.steps)


_FORK_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    from o_lisp import Interpreter
    from o_lisp._evalthread import POOL

    interp = Interpreter()
    assert interp.eval("(sum (range 10))") == 45
    assert POOL.idle() is not None
    pid = os.fork()
    if pid == 0:
        try:
            ok = POOL.idle() is None and interp.eval("(sum (range 100))") == 4950
            ok = ok and POOL.idle() is not None
            ok = ok and Interpreter().eval("(+ 1 2)") == 3
        except BaseException as error:
            print("child:", repr(error), file=sys.stderr, flush=True)
            ok = False
        os._exit(0 if ok else 3)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:  # deadlocked: do not leave it behind
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            sys.exit(4)
        time.sleep(0.01)
    assert interp.eval("(+ 2 2)") == 4
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


def test_forked_child_evaluates_with_an_empty_pool() -> None:
    """A child has none of its parent's threads; a pool handing it the parent's idle
    thread would deadlock (the script kills the child after 30 s and exits 4)."""
    proc = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_concurrent_evaluations_from_two_threads_get_threads_of_their_own() -> None:
    """Two evaluations in flight at once each need their own evaluation thread.

    Both programs meet at a barrier inside the evaluation: if they shared one thread
    the barrier would time out.
    """
    barrier = threading.Barrier(2, timeout=20)
    results: dict[str, object] = {}
    idents: dict[str, int] = {}

    def worker(name: str, n: int) -> None:
        def meet() -> int:
            idents[name] = threading.get_ident()
            barrier.wait()
            return 0

        interp = Interpreter(capabilities={"meet": meet})
        try:
            interp.eval("(defn total [n] (setv s 0) (for [k (range n)] (+= s k)) s)")
            results[name] = [interp.eval(f"(+ (meet) (total {n}))") for _ in range(3)]
        except BaseException as error:  # reported by the main thread
            results[name] = error

    threads = [
        threading.Thread(target=worker, args=("a", 50_000)),
        threading.Thread(target=worker, args=("b", 70_000)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert results == {
        "a": [sum(range(50_000))] * 3,
        "b": [sum(range(70_000))] * 3,
    }
    assert idents["a"] != idents["b"]


def test_capability_evaluating_on_a_second_interpreter() -> None:
    """A nested evaluation of another interpreter cannot run on the busy thread of the first."""
    inner = _ident_interpreter()
    inner.eval("(defn square [x] (* x x))")
    seen: dict[str, int] = {}

    def ask_inner(x: int) -> list[int]:
        seen["outer"] = threading.get_ident()
        return [inner.eval(f"(square {x})"), inner.eval("(ident)")]

    outer = Interpreter(capabilities={"ask": ask_inner})
    value, inner_ident = outer.eval("(ask 12)")
    assert value == 144
    assert inner_ident != seen["outer"]
    assert threading.get_ident() not in (inner_ident, seen["outer"])
    assert outer.eval("(get (ask 3) 0)") == 9  # both still usable


def test_run_on_deep_thread_runs_evaluations_inline() -> None:
    """On a deep thread evaluations need no thread switch; the trim reports what it did."""
    caller = threading.get_ident()

    def serve() -> dict[str, object]:
        report: dict[str, object] = {"deep": threading.get_ident()}
        report["trim_before_any_eval"] = trim_deep_stack(0)
        interp = _ident_interpreter()  # loading the stdlib is an evaluation too
        report["trim_after_stdlib"] = trim_deep_stack(0)
        report["first"] = interp.eval("(ident)")
        report["second"] = interp.eval("(ident)")
        report["trim_too_soon"] = trim_deep_stack(60.0)  # throttled: still dirty afterwards
        report["trim_after_eval"] = trim_deep_stack(0)
        report["trim_again"] = trim_deep_stack(0)
        report["third"] = interp.eval("(ident)", limits=Limits.unlimited())
        report["trim_after_third"] = trim_deep_stack(0)
        return report

    report = run_on_deep_thread(serve)
    deep = report["deep"]
    assert deep != caller
    assert report["first"] == report["second"] == report["third"] == deep
    assert report["trim_before_any_eval"] is False
    assert report["trim_after_stdlib"] is True
    assert report["trim_too_soon"] is False
    assert report["trim_after_eval"] is True
    assert report["trim_again"] is False
    assert report["trim_after_third"] is True
    assert trim_deep_stack() is False  # not on a deep thread


def test_run_on_deep_thread_with_a_small_stack_hands_big_evaluations_to_the_pool() -> None:
    """Only evaluations whose stack fits the deep thread's run inline on it."""

    def serve() -> tuple[int, int, int]:
        interp = _ident_interpreter()
        small = interp.eval("(ident)", limits=Limits(steps=100_000))
        big = interp.eval("(ident)")  # 10 M steps need more than STACK_MIN
        return threading.get_ident(), small, big

    deep, small, big = run_on_deep_thread(serve, stack_size=STACK_MIN)
    assert small == deep
    assert big != deep
    assert big == _idle()._thread.ident


def test_nested_evaluation_on_a_deep_thread_runs_elsewhere() -> None:
    """At most one evaluation runs inline on the deep thread: a nested one of another
    interpreter, started while it is busy, goes to a pool thread."""
    inner = _ident_interpreter()

    def serve() -> tuple[int, int, int, bool]:
        outer = Interpreter(capabilities={"inner": lambda: inner.eval("(ident)")})
        outer.grant("ident", threading.get_ident)
        outer_ident, inner_ident = outer.eval("[(ident) (inner)]")
        return threading.get_ident(), outer_ident, inner_ident, trim_deep_stack(0)

    deep, outer_ident, inner_ident, trimmed = run_on_deep_thread(serve)
    assert outer_ident == deep
    assert inner_ident != deep
    assert trimmed is True


def test_run_on_deep_thread_returns_and_raises_what_the_function_does() -> None:
    """The worker's exit code comes back through it, and so do its crashes."""
    assert run_on_deep_thread(lambda: 17) == 17
    assert run_on_deep_thread(lambda: None) is None

    class Boom(Exception):
        pass

    def fail() -> None:
        raise Boom("from the deep thread")

    with pytest.raises(Boom, match="from the deep thread"):
        run_on_deep_thread(fail)


def test_run_on_deep_thread_gives_the_requested_stack() -> None:
    """The deep thread really has the stack it was asked for (so deep C recursion is safe)."""
    stack = run_on_deep_thread(evalthread._own_stack, stack_size=STACK_MIN)
    if evalthread._LIBC is None:  # pragma: no cover - non-Linux
        assert stack is None
    else:
        assert stack is not None
        assert stack[1] >= STACK_MIN
