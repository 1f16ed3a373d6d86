"""Checks: every `assert` of every `deftest`, counted one by one (partial credit).

`Agent.run_tests` judges a test as a whole: its first failing `assert` raises and the
test fails. A population search needs a gradient, so here each `assert` is a *check*
of its own: a candidate passing 3 of a test's 4 asserts is better than one passing 2.

How a test runs in check mode: its source is read again and every `(assert C [MSG])`
in it (not inside a quoted form) becomes `(RECORD K C)`, K numbering the test's asserts
from 1 in source order; the body is compiled as `(fn [RECORD] ...)` in the agent's
interpreter and called with a recorder made for this one run. So a failed assert
records its failure and the test goes on. `RECORD` is a parameter, a *local* of the
test's function, with a name drawn at random for every run: code outside the test's
own text (the candidate under test, any definition) cannot name it, call it or rebind
it, because the sandbox has no way to reach another function's locals. Counting
happens in Python, never in agent code.

The verdict of a test with N asserts (N >= 1), whose checks are numbered 1..N:

* an assert fails when its condition was false at least once; one that never ran
  passes when the test ran to its end (it was never violated) and fails when the
  test ended early;
* a test *fails outside its asserts* when it raises (its condition raising, a step
  limit, anything) or returns False; that failure is named "TEST#0", and every assert
  not yet run fails. When all N had passed, one of them is taken back (N - 1 pass):
  every check passes exactly when the test passes as a whole;
* a test during which a protected name was rebound (a definition, a builtin: what
  `Agent.run_tests` checks) fails every check: its asserts may have called the
  rebound names, so nothing it recorded is evidence.

A test with no asserts is one check, "TEST#0". `deftest` bodies are written by the
operator and run as they are; only `assert` changes meaning.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from o_lisp._errors import LimitExceeded, LispError
from o_lisp._reader import read_many
from o_lisp.agent._agent import _shown_names
from o_lisp.forms import Expression, Integer, List, Symbol

if TYPE_CHECKING:
    from o_lisp.agent._agent import Agent

_ASSERT = Symbol("assert")
_OPAQUE = frozenset({"quote", "quasiquote"})


@dataclass(frozen=True)
class TestChecks:
    """One test run in check mode. `asserts[k-1]` is check k's outcome; `error` says why
    the test failed outside its asserts ("" when it did not); `steps` is what it cost."""

    name: str
    asserts: tuple[bool, ...]
    error: str = ""
    steps: int = 0
    limit: str = ""
    """The budget that ended the test ("steps", "time", ...), "" when none did."""

    @property
    def total(self) -> int:
        return max(1, len(self.asserts))

    @property
    def passed(self) -> int:
        if not self.asserts:
            return 0 if self.error else 1
        passed = sum(self.asserts)
        return passed - 1 if self.error and passed == len(self.asserts) else passed

    @property
    def ok(self) -> bool:
        return self.passed == self.total

    @property
    def failed(self) -> tuple[str, ...]:
        """The failing checks as "TEST#N" ("TEST#0": the test failed outside its asserts)."""
        names = [f"{self.name}#0"] if self.error else []
        return tuple(names + [f"{self.name}#{k}" for k, ok in enumerate(self.asserts, 1) if not ok])


@dataclass(frozen=True)
class CheckReport:
    """Every test run in check mode, in the order they ran."""

    tests: tuple[TestChecks, ...]

    @property
    def passed(self) -> int:
        return sum(t.passed for t in self.tests)

    @property
    def total(self) -> int:
        return sum(t.total for t in self.tests)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(name for t in self.tests for name in t.failed)

    @property
    def steps(self) -> int:
        return sum(t.steps for t in self.tests)

    def summary(self) -> str:
        return f"{self.passed}/{self.total} checks"


def count_asserts(form: Any) -> int:
    """How many asserts a test's form holds (its checks), counted in its text as the
    check mode numbers them."""
    counter = [0]
    _rewrite(form, Symbol("record"), counter)
    return counter[0]


def _is_assert(form: Any) -> bool:
    return type(form) is Expression and len(form) in (2, 3) and form[0] == _ASSERT


def _rewrite(form: Any, record: Symbol, counter: list[int]) -> tuple[Any, list[int]]:
    """`form` with every `(assert C [MSG])` replaced by `(record K C)`, K from 1 in pre-order."""
    if type(form) is Expression and form and type(form[0]) is Symbol and str(form[0]) in _OPAQUE:
        return form, counter
    if _is_assert(form):
        counter[0] += 1
        index = counter[0]
        condition, _ = _rewrite(form[1], record, counter)
        return Expression([record, Integer(index), condition], _pos(form)), counter
    if type(form) is Expression:
        return Expression([_rewrite(child, record, counter)[0] for child in form], _pos(form)), counter
    if type(form) is List:
        return List([_rewrite(child, record, counter)[0] for child in form], _pos(form)), counter
    return form, counter


def _pos(form: Any) -> Any:
    return getattr(form, "_pos", None)


class _Recorder:
    """What one test run's asserts report to: check K's outcome (None: it never ran)."""

    def __init__(self, asserts: int, on_record: Callable[[int, bool], None] | None = None) -> None:
        self.outcomes: list[bool | None] = [None] * asserts
        self.on_record = on_record

    def __call__(self, index: int, value: Any) -> None:
        ok = bool(value)
        previous = self.outcomes[index - 1]
        self.outcomes[index - 1] = ok if previous is None else previous and ok
        if self.on_record is not None:
            self.on_record(index, ok)


def compile_check_test(agent: Agent, name: str) -> tuple[Any, int]:
    """The test `name` of `agent` compiled in check mode: a function of one argument (the
    recorder) and its number of asserts. Raises `LispError` if it does not compile."""
    definition = agent.definitions[name]
    filename = f"<{agent.name}/{definition.filename} (checks)>"
    forms = read_many(definition.source, filename)
    agent.interpreter.add_source(filename, definition.source)
    body = list(forms[0])[2:] if forms and type(forms[0]) is Expression else []
    record = Symbol(f"o-check-{secrets.token_hex(8)}")
    counter = [0]
    rewritten = [_rewrite(form, record, counter)[0] for form in body] or [Symbol("None")]
    fn = agent.interpreter.eval(Expression([Symbol("fn"), List([record]), *rewritten]), filename)
    return fn, counter[0]


class CheckRun:
    """The tests of `agent` compiled in check mode, ready to run (maybe several times).

    Compiling is separate from running so that a timed run measures the tests, not the
    compiler. The tests named in `first` come first (in that order), then the others in
    the agent's order. Each test runs under at most `step_limit` interpreter steps (and
    the agent's own limits), so a runaway ends at the limit, not after the time limit."""

    def __init__(self, agent: Agent, first: Sequence[str] = (), *, step_limit: int | None = None) -> None:
        self.agent = agent
        limits = agent.interpreter.limits
        if step_limit is not None:
            limits = limits.but(steps=step_limit if limits.steps is None else min(step_limit, limits.steps))
        self.limits = limits
        self.tests: list[tuple[str, Any, int, str]] = []
        for name in _order(agent.tests, first):
            try:
                fn, asserts = compile_check_test(agent, name)
                self.tests.append((name, fn, asserts, ""))
            except LispError as error:
                self.tests.append((name, None, 0, f"does not compile in check mode: {error}"))

    def run(self, before_test: Callable[[str], None] | None = None,
            on_record: Callable[[int, bool], None] | None = None) -> CheckReport:
        """Run every test once (on the agent itself: its state takes their mutations, so
        give it a scratch copy). `before_test(name)` is called before each, and
        `on_record(K, ok)` each time the test's assert K is evaluated. A protected
        binding rebound while a test runs fails that test and is put back (as in
        `Agent.run_tests`)."""
        interpreter = self.agent.interpreter
        saved = interpreter.limits
        interpreter.limits = self.limits
        try:
            results = []
            for name, fn, asserts, problem in self.tests:
                if before_test is not None:
                    before_test(name)
                results.append(_run_one(self.agent, name, fn, asserts, on_record) if fn is not None
                               else TestChecks(name, (), problem))
        finally:
            interpreter.limits = saved
        return CheckReport(tuple(results))


def run_checks(
    agent: Agent,
    first: Sequence[str] = (),
    *,
    step_limit: int | None = None,
    before_test: Callable[[str], None] | None = None,
    on_record: Callable[[int, bool], None] | None = None,
) -> CheckReport:
    """Run every `deftest` of `agent` once in check mode (`CheckRun`)."""
    return CheckRun(agent, first, step_limit=step_limit).run(before_test, on_record)


def _order(tests: Iterable[str], first: Sequence[str]) -> list[str]:
    names = list(tests)
    leading = [n for n in dict.fromkeys(first) if n in names]
    return leading + [n for n in names if n not in leading]


def _run_one(agent: Agent, name: str, fn: Any, asserts: int,
             on_record: Callable[[int, bool], None] | None = None) -> TestChecks:
    interpreter = agent.interpreter
    recorder = _Recorder(asserts, on_record)
    before = agent._bindings()
    error = limit = ""
    result: Any = None
    try:
        result = interpreter.call(fn, recorder)
    except LispError as failure:
        error = str(failure)
        if isinstance(failure, LimitExceeded):
            limit = failure.limit
    steps = interpreter.steps_taken()
    rebound = agent._rebound(before)
    if rebound:  # nothing this test recorded can be trusted: the names its asserts used changed
        agent._restore(before, rebound)
        error = f"the code under test rebinds {_shown_names(rebound)} at run time"
        return TestChecks(name, (False,) * asserts, error, steps, limit)
    if not error and result is False:
        error = "returned False"
    ended_early = bool(error)
    outcomes = tuple(bool(o) if o is not None else not ended_early for o in recorder.outcomes)
    return TestChecks(name, outcomes, error, steps, limit)


__all__ = ["CheckReport", "CheckRun", "TestChecks", "compile_check_test", "count_asserts", "run_checks"]
