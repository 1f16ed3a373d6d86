"""Check mode: every `assert` of a `deftest` is a check of its own (partial credit), and
nothing the code under test does can record a check it did not pass."""

from __future__ import annotations

import tempfile
from pathlib import Path

from o_lisp._reader import read_many
from o_lisp.agent._agent import Agent
from o_lisp.agent._checks import CheckRun, compile_check_test, count_asserts, run_checks
from o_lisp.agent._dsl import read_agent
from o_lisp.agent._state import AgentState

TESTS = """
  (deftest four
    (assert (= (add 1 1) 2))
    (assert (= (add 0 0) 0))
    (assert (= (add 2 0) 2) "a message of its own")
    (assert (= (add 0 2) 2)))
  (deftest each (for [x (range 3)] (assert (= (add x 0) x))))
  (deftest quoted (setv q '(assert False)) (assert (= (len q) 2)))
  (deftest crash-first (add 1) (assert (= (add 1 1) 2)) (assert True))
  (deftest crash-last (assert (= (add 1 1) 2)) (add 1))
  (deftest falsy (assert (= (add 1 1) 2)) False)
  (deftest bare (= (add 1 1) 2))
"""


def agent_with(add: str, tests: str = TESTS, extra: str = "") -> Agent:
    text = f'(defagent checked :version "1.0.0"\n  {add}\n  {extra}\n{tests})\n'
    spec = read_agent(text, "checked.hy")
    return Agent(spec, Path(tempfile.gettempdir()), state=AgentState("id", "checked", "1.0.0"), role="scratch")


def by_name(agent: Agent, first: tuple[str, ...] = ()) -> dict[str, tuple[int, int, tuple[str, ...]]]:
    report = run_checks(agent, first)
    return {t.name: (t.passed, t.total, t.failed) for t in report.tests}


def test_each_assert_is_a_check_and_a_test_goes_on_after_a_failed_one() -> None:
    # add is right for (1 1), (0 0), (0 2) and wrong when b is 0 and a is not: 3 of 4.
    results = by_name(agent_with("(defn add [a b] (if (and (= b 0) (!= a 0)) 0 (+ a b)))"))
    assert results["four"] == (3, 4, ("four#3",))
    # An assert in a loop is one check: it fails when any of its runs fails.
    assert results["each"] == (0, 1, ("each#1",))


def test_the_right_code_passes_every_check_and_the_counts_are_static() -> None:
    report = run_checks(agent_with("(defn add [a b] (+ a b))"))
    failing = {t.name for t in report.tests if not t.ok}
    # Only the tests that fail whatever add does.
    assert failing == {"crash-first", "crash-last", "falsy"}
    assert {t.name: t.total for t in report.tests} == {
        "four": 4, "each": 1, "quoted": 1, "crash-first": 2, "crash-last": 1, "falsy": 1, "bare": 1}
    assert report.total == 11
    assert report.summary() == f"{report.passed}/11 checks"


def test_a_failure_outside_the_asserts_is_test_0_and_fails_what_did_not_run() -> None:
    results = by_name(agent_with("(defn add [a b] (+ a b))"))
    # Raised before any assert: every assert fails, and the test failed outside them.
    assert results["crash-first"] == (0, 2, ("crash-first#0", "crash-first#1", "crash-first#2"))
    # Raised after the only assert passed: still one failing check (all pass iff the test passes).
    assert results["crash-last"] == (0, 1, ("crash-last#0",))
    assert results["falsy"] == (0, 1, ("falsy#0",))
    # No assert at all: the test is one check.
    assert results["bare"] == (1, 1, ())
    assert by_name(agent_with("(defn add [a b] (- a b))"))["bare"] == (0, 1, ("bare#0",))


def test_asserts_in_quoted_forms_are_data_not_checks() -> None:
    form = read_many("(deftest t (assert 1) '(assert 2) `(assert ~x) (when y (assert 3 \"m\")))")[0]
    assert count_asserts(form) == 2
    assert by_name(agent_with("(defn add [a b] (+ a b))"))["quoted"] == (1, 1, ())


def test_all_checks_pass_exactly_when_run_tests_passes() -> None:
    for add in ("(defn add [a b] (+ a b))", "(defn add [a b] (- a b))", "(defn add [a b] (* a b))",
                "(defn add [a b] (if (= a 1) (+ a b) 0))"):
        agent = agent_with(add)
        whole = agent.run_tests()
        checks = run_checks(agent)
        assert {t.name for t in checks.tests if t.ok} == set(whole.passed), add


def test_first_orders_the_tests_and_unknown_names_are_ignored() -> None:
    agent = agent_with("(defn add [a b] (+ a b))")
    names = [t.name for t in run_checks(agent, ("bare", "nope", "each")).tests]
    assert names[:2] == ["bare", "each"]
    assert sorted(names) == sorted(agent.tests)


def test_a_step_limit_ends_a_runaway_test_at_the_limit() -> None:
    agent = agent_with("(defn add [a b] (while True (+ a b)))", tests="(deftest spin (assert (= (add 1 1) 2)))")
    report = run_checks(agent, step_limit=2_000)
    (test,) = report.tests
    assert test.limit == "steps" and "step limit of 2000" in test.error
    assert test.steps == 2_000 and test.failed == ("spin#0", "spin#1")
    # The agent's own limits are back afterwards.
    assert agent.interpreter.limits == agent.limits


def test_steps_are_exact_and_count_only_the_work_done() -> None:
    tests = "(deftest loop (assert (= (add 0 0) 0)))"
    small = run_checks(agent_with("(defn add [a b] (for [i (range 10)] i) (+ a b))", tests=tests)).steps
    large = run_checks(agent_with("(defn add [a b] (for [i (range 110)] i) (+ a b))", tests=tests)).steps
    assert large - small == 100


def test_the_recorder_is_out_of_reach_of_the_code_under_test() -> None:
    """The code under test cannot name the recorder: it is a local of the test's own
    function, under a fresh random name; guessing names, raising or rebinding gains nothing."""
    agent = agent_with("(defn add [a b] (+ a b))")
    fn_a, asserts = compile_check_test(agent, "four")
    fn_b, _ = compile_check_test(agent, "four")
    assert asserts == 4 and fn_a is not fn_b
    assert not any(n.startswith("o-check") or "record" in n for n in agent.interpreter.names())
    tests = ("(deftest four (assert (= (add 1 1) 2)) (assert (expected (add 2 2))) (assert (expected (add 0 1)))"
             " (assert (expected (add 3 0))))")
    extra = "(defn expected [x] (in x [4 1 3]))"
    forgers = [
        # calls what a recorder might be called, for every check, then returns wrong sums
        "(defn add [a b] (for [k (range 1 5)] (try (o-check k True) (except [e Exception] None))"
        "  (try (record k True) (except [e Exception] None))) (if (= a 1) 2 0))",
        # right for the first assert, where it also rebinds the name the later asserts use
        "(defn add [a b] (global expected) (setv expected (fn [x] True)) (if (= a 1) 2 0))",
        # replaces the test that judges it
        "(defn add [a b] (agent-define-test \"four\" (fn [] True)) (if (= a 1) 2 0))",
    ]
    for forger in forgers:
        report = run_checks(agent_with(forger, tests=tests, extra=extra))
        assert report.passed <= 1, (forger, report)
    rebinding = run_checks(agent_with(forgers[1], tests=tests, extra=extra)).tests[0]
    assert rebinding.passed == 0 and "rebinds expected" in rebinding.error
    honest = run_checks(agent_with("(defn add [a b] (+ a b))", tests=tests, extra=extra))
    assert honest.passed == 4
    naive = run_checks(agent_with("(defn add [a b] (if (= a 1) 2 0))", tests=tests, extra=extra))
    assert naive.passed == 1


def test_a_check_run_can_be_repeated_without_compiling_again() -> None:
    agent = agent_with("(defn add [a b] (+ a b))", tests="(deftest t (assert (= (add 1 1) 2)))")
    run = CheckRun(agent)
    assert [run.run().passed for _ in range(3)] == [1, 1, 1]


def test_an_assert_whose_condition_raises_ends_the_test() -> None:
    tests = "(deftest t (assert (= (add 1 1) 2)) (assert (= (add 1) 2)) (assert (= (add 2 2) 4)))"
    (test,) = run_checks(agent_with("(defn add [a b] (+ a b))", tests=tests)).tests
    assert test.asserts == (True, False, False)
    assert test.failed == ("t#0", "t#2", "t#3") and "missing 1 required positional argument" in test.error
