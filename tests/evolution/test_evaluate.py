"""Evaluating a population search's candidates (`o_lisp.worker._evaluate`) and the lab
methods that serve it: the cascade, partial credit, step limits, isolation, spectrum."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import msgpack
import pytest

from o_lisp._interpreter import Interpreter
from o_lisp._printer import to_source
from o_lisp._reader import read_many
from o_lisp.agent._agent import Agent, _memory_from_data
from o_lisp.agent._definitions import DefinitionKind
from o_lisp.agent._dsl import read_agent
from o_lisp.agent._state import AgentState
from o_lisp.evolution._individual import (
    STAGES,
    Evaluation,
    EvaluationRequest,
    Proposal,
    evaluations_in_order,
)
from o_lisp.evolution._mutate import get_at, subforms
from o_lisp.forms import Expression, Symbol
from o_lisp.guardian._protocol import BadRequest, ErrorCode, WorkerSpec
from o_lisp.worker import _evaluate
from o_lisp.worker._evaluate import evaluate
from o_lisp.worker._lab import Lab
from o_lisp.worker._spectrum import instrument

# `middle` is wrong when x is the largest: a classic one-line repair target.
SEED = """\
(defagent repairable
  :version "1.0.0"
  :doc "Its middle function has a bug; its tests say where."

  (setv table [1 2 3])

  (defn middle [x y z]
    (if (< x y)
      (if (< y z) y (if (< x z) z x))
      (if (< x z) y (if (< y z) z y))))

  (deftest middles
    (assert (= (middle 1 2 3) 2))
    (assert (= (middle 3 2 1) 2))
    (assert (= (middle 2 1 3) 2))
    (assert (= (middle 1 3 2) 2)))

  (deftest untouched
    (assert (is (state-get "leak") None))
    (assert (= (len table) 3)))

  (deffitness quality (if (= (middle 5 9 7) 7) 1.0 0.0)))
"""
PARENT_MIDDLE = read_agent(SEED, "x.hy").forms["middle"]
FIXED = "(defn middle [x y z] (if (< x y) (if (< y z) y (if (< x z) z x)) (if (< x z) x (if (< y z) z y))))"
BUGGY_BRANCH = (3, 3, 2)
"""Where the bug is: the `y` returned when y <= x < z (x is the middle then)."""


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Agent:
    tmp = tmp_path_factory.mktemp("evaluate")
    seed = tmp / "repairable.hy"
    seed.write_text(SEED)
    return Agent.load(seed, tmp / "data")


def proposal(source: str, pid: str = "c", name: str = "middle", helpers: tuple[str, ...] = ()) -> Proposal:
    return Proposal(pid, name, source, operator="test", helpers=helpers)


def one(parent: Agent, source: str, **options: Any) -> Evaluation:
    (evaluation,) = evaluate(parent, EvaluationRequest((proposal(source),), **options))
    return evaluation


def wire(evaluation: Evaluation) -> Evaluation:
    """What crosses the process boundary comes back equal."""
    again = Evaluation.from_data(msgpack.unpackb(msgpack.packb(evaluation.as_data())))
    assert again == evaluation
    return again


def middle_with(case: str) -> str:
    """The parent's `middle` with the branch taken when y <= x < z replaced (x is right)."""
    return f"(defn middle [x y z] (if (< x y) (if (< y z) y (if (< x z) z x)) (if (< x z) {case} (if (< y z) z y))))"


# -- partial credit and the failing parent --------------------------------------------------------

def test_a_failing_parent_is_evaluated_with_partial_credit(parent: Agent) -> None:
    seed = wire(one(parent, parent.definitions["middle"].source))
    assert seed.ok and seed.reason == ""
    # (middle 2 1 3) takes the buggy branch: 3 of the 4 asserts of `middles` pass.
    assert seed.failed_checks == ("middles#3",)
    assert (seed.checks_passed, seed.checks_total) == (5, 6)
    assert seed.fitness == (("quality", 1.0),)
    assert seed.size == sum(1 for _ in subforms(PARENT_MIDDLE)) and seed.steps > 0
    assert seed.cpu_us is None and seed.spectrum == ()


def test_a_repair_passes_every_check_and_a_worse_candidate_passes_fewer(parent: Agent) -> None:
    right, other, same = evaluate(parent, EvaluationRequest((
        proposal(middle_with("x"), "right"), proposal(middle_with("z"), "other"), proposal(middle_with("y"), "same"))))
    assert middle_with("x") == FIXED and read_many(middle_with("y"))[0] == PARENT_MIDDLE
    assert (right.checks_passed, right.checks_total, right.failed_checks) == (6, 6, ())
    assert (other.checks_passed, other.failed_checks) == (5, ("middles#3",))
    assert same.checks_passed == 5
    wrong = one(parent, "(defn middle [x y z] x)")
    assert wrong.ok and wrong.checks_passed < 5 and wrong.checks_total == 6


def test_first_runs_the_named_tests_first_and_changes_no_count(parent: Agent) -> None:
    plain = one(parent, FIXED)
    ordered = one(parent, FIXED, first=("untouched",))
    assert (ordered.checks_passed, ordered.checks_total, ordered.steps) == (plain.checks_passed, plain.checks_total, plain.steps)
    assert set(ordered.failed_checks) == set(plain.failed_checks)


# -- step limits ------------------------------------------------------------------------------------

def test_a_runaway_candidate_dies_at_the_step_limit(parent: Agent) -> None:
    runaway = wire(one(parent, "(defn middle [x y z] (while True (+ x y)) z)", step_limit=3_000))
    assert runaway.stage == "checks" and "step limit of 3000 exceeded" in runaway.reason
    # `middles` stops at exactly the limit (`untouched` does not call middle and passes);
    # the fitness tasks are not run.
    assert 3_000 < runaway.steps < 3_000 + 50 and runaway.fitness == ()
    assert "middles#0" in runaway.failed_checks and runaway.checks_passed == 2
    without = one(parent, "(defn middle [x y z] (for [i (range 100)] i) (get (sorted [x y z]) 1))", step_limit=3_000)
    assert without.ok and without.checks_passed == 6  # under the limit: nothing to stop


def test_a_candidate_running_away_only_on_a_fitness_task_dies_at_its_step_limit(parent: Agent) -> None:
    # Terminates on every test's input; loops forever on the fitness task's (x = 5).
    source = "(defn middle [x y z] (when (= x 5) (while True None)) (get (sorted [x y z]) 1))"
    evaluation = wire(one(parent, source, step_limit=3_000))
    assert evaluation.stage == "fitness" and "step limit of 3000 exceeded" in evaluation.reason
    assert evaluation.checks_passed == 6 and evaluation.fitness == ()
    # The fitness tasks' limit scales with the parent's fitness-to-checks cost.
    heavy = "(defn middle [x y z] (when (= x 5) (for [i (range 10000)] i)) (get (sorted [x y z]) 1))"
    assert one(parent, heavy, step_limit=3_000).stage == "fitness"
    assert one(parent, heavy, step_limit=20_000).ok


def test_steps_are_deterministic_and_follow_the_work(parent: Agent) -> None:
    a = one(parent, FIXED)
    b = one(parent, FIXED)
    slower = one(parent, "(defn middle [x y z] (for [i (range 50)] i) (sorted [x y z]) (get (sorted [x y z]) 1))")
    assert a.steps == b.steps
    assert slower.checks_passed == 6 and slower.steps >= a.steps + 4 * 50


def test_timing_is_measured_only_when_asked(parent: Agent) -> None:
    timed = one(parent, FIXED, timing=True)
    assert timed.cpu_us is not None and timed.cpu_us > 0
    assert one(parent, FIXED).cpu_us is None


# -- the cascade stops where a candidate fails --------------------------------------------------------

@pytest.mark.parametrize(("source", "stage", "words"), [
    ("(defn middle [x y z] (+ x", "read", "does not read"),
    ("(defn middle [x y z] x) (defn other [] 1)", "read", "2 forms"),
    ("(defn other [x y z] x)", "read", "defines 'other', not 'middle'"),
    ("(deftool middle [x] :doc \"no\" x)", "read", "the form is a deftool"),
    ("(defn middle [x y z] (eval x))", "scan", "eval at 1:23"),
    ("(defn middle [x y z] (rewrite! 'middle '(defn middle [] 1)))", "scan", "rewrite!"),
    ("(defn middle [x y z] (. x __class__))", "scan", "dunder"),
    ("(defn middle [x [y (/ 1 0)] z] x)", "load", "does not load"),
    ("(defn middle [x y z] (+ x y w))", "fitness", "NameError"),
])
def test_each_stage_rejects_with_a_one_line_reason(parent: Agent, source: str, stage: str, words: str) -> None:
    evaluation = wire(one(parent, source))
    assert evaluation.stage == stage and evaluation.stage in STAGES
    assert words in evaluation.reason and "\n" not in evaluation.reason


def test_a_judge_is_not_a_candidate_and_unknown_names_are_refused(parent: Agent) -> None:
    test = evaluate(parent, EvaluationRequest((proposal("(deftest middles True)", name="middles"),
                                               proposal("(defn nothing [] 1)", name="nothing"))))
    assert [e.stage for e in test] == ["read", "read"]
    assert "judge" in test[0].reason and "no definition 'nothing'" in test[1].reason


def test_a_fitness_task_that_fails_stops_the_cascade_at_fitness(parent: Agent) -> None:
    evaluation = one(parent, "(defn middle [x y z] (if (= x 5) (raise (ValueError \"five\")) (get (sorted [x y z]) 1)))")
    assert evaluation.stage == "fitness" and "quality" in evaluation.reason
    assert evaluation.checks_passed == 6  # the checks are reported all the same


def test_helpers_change_or_add_definitions_with_the_target(parent: Agent) -> None:
    helper = "(defn median-of [xs] (get (sorted xs) 1))"
    good = one_with_helpers(parent, "(defn middle [x y z] (median-of [x y z]))", (helper,))
    assert good.ok and good.checks_passed == 6
    missing = one(parent, "(defn middle [x y z] (median-of [x y z]))")
    # A NameError at run time: the checks that call it fail, and so does the fitness task.
    assert missing.stage == "fitness" and missing.checks_passed == 2 and "NameError" in missing.reason
    judged = one_with_helpers(parent, FIXED, ("(deftest middles True)",))
    assert judged.stage == "read" and "judges" in judged.reason
    unsafe = one_with_helpers(parent, FIXED, ("(defn median-of [xs] (eval xs))",))
    assert unsafe.stage == "scan" and unsafe.reason.startswith("helper median-of:")
    twice = one_with_helpers(parent, FIXED, (helper, helper))
    assert twice.stage == "read" and "twice" in twice.reason


def one_with_helpers(parent: Agent, source: str, helpers: tuple[str, ...]) -> Evaluation:
    (evaluation,) = evaluate(parent, EvaluationRequest((proposal(source, helpers=helpers),)))
    return wire(evaluation)


def test_an_unexpected_error_costs_only_its_own_candidate(parent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    real = _evaluate.run_fitness
    calls = {"n": 0}

    def flaky(agent: Agent, repeats: int = 1) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the evaluator broke\nover two lines")
        return real(agent, repeats)

    monkeypatch.setattr(_evaluate, "run_fitness", flaky)
    request = EvaluationRequest((proposal(FIXED, "a"), proposal(FIXED, "b")))
    first, second = evaluations_in_order(request, evaluate(parent, request))
    assert first.stage == "fitness" and first.reason == "RuntimeError: the evaluator broke over two lines"
    assert second.ok and second.fitness == (("quality", 1.0),)


# -- isolation -------------------------------------------------------------------------------------------

def test_one_candidate_cannot_affect_the_next_or_the_parent(parent: Agent) -> None:
    before = parent.state.to_data()
    vandal = ("(defn middle [x y z] (state-set! \"leak\" 1) (.append table 4) (global middle) "
              "(setv middle (fn [a b c] a)) (get (sorted [x y z]) 1))")
    request = EvaluationRequest((proposal(vandal, "vandal"), proposal(FIXED, "next")))
    vandal_eval, after = evaluate(parent, request)
    # The vandal fails every check of the test it rebinds `middle` in, and `untouched`
    # (run after it, on the same copy) sees its leak...
    assert vandal_eval.failed_checks == ("middles#0", "middles#1", "middles#2", "middles#3", "middles#4",
                                         "untouched#1", "untouched#2")
    # ...but the next candidate sees a fresh state and fresh definitions.
    assert after.ok and after.failed_checks == () and after.checks_passed == 6
    assert parent.state.to_data() == before
    assert parent.interpreter.lookup("table") == [1, 2, 3]
    assert parent.definitions["middle"].source != FIXED


# -- spectrum ----------------------------------------------------------------------------------------------

def strip(form: Any, hit: Symbol) -> Any:
    """`form` without the instrumentation: `(do (HIT k) X)` back to X."""
    if type(form) is Expression and len(form) == 3 and form[0] == Symbol("do") \
            and type(form[1]) is Expression and form[1] and form[1][0] == hit:
        return strip(form[2], hit)
    if type(form) is Expression:
        return Expression([strip(x, hit) for x in form])
    if isinstance(form, list | tuple) and type(form) is not str and hasattr(form, "_pos"):
        return type(form)([strip(x, hit) for x in form])
    return form


def recorded(form: Any, hit: Symbol) -> dict[int, Any]:
    """Index of each recorder call -> the (stripped) subform it stands for."""
    found: dict[int, Any] = {}
    for _, sub in subforms(form):
        if type(sub) is Expression and len(sub) == 3 and sub[0] == Symbol("do") \
                and type(sub[1]) is Expression and sub[1] and sub[1][0] == hit:
            found[int(sub[1][1])] = strip(sub[2], hit)
    return found


INSTRUMENTED = """(defn f [xs n]
  "Docstring, not a statement."
  (setv total 0)
  (let [k (len xs)]
    (for [x (filter abs xs)]
      (when (> x n) (setv total (+ total (abs x))))))
  (cond (= total 0) None (> total 10) (-> total (str)) True (and n (or (> total 5) 1))))"""


def test_instrumentation_keeps_the_code_and_its_paths_point_at_what_it_wraps() -> None:
    form = read_many(INSTRUMENTED)[0]
    hit = Symbol("o-hit-test")
    instrumented, paths = instrument(form, DefinitionKind.FUNCTION, hit, lambda name: name in ("->", "unless"))
    assert strip(instrumented, hit) == form  # only `(do (HIT k) X)` was added
    for index, wrapped in recorded(instrumented, hit).items():
        assert get_at(form, paths[index]) == wrapped
    # Statements, branches, and expressions in evaluation positions; never the name, the
    # parameters, the docstring, binding targets, clause vectors, heads, symbols passed to
    # calls, or the arguments of the macro `->`.
    assert set(paths) == {
        (4,), (5,), (6,),                                   # the body's statements
        (5, 1, 1), (5, 2),                                  # let: the value of k, its body
        (5, 2, 1, 1), (5, 2, 2),                            # for: the iterable, its body
        (5, 2, 2, 1), (5, 2, 2, 2), (5, 2, 2, 2, 2), (5, 2, 2, 2, 2, 2),  # when: test, body, setv value, call
        (6, 1), (6, 2), (6, 3), (6, 4), (6, 6),             # cond: tests and results (not the literal True)
        (6, 6, 1), (6, 6, 2), (6, 6, 2, 1), (6, 6, 2, 2),   # and/or operands are branches
    }
    assert len(paths) == len(set(paths))
    # The instrumented function computes what the original does.
    interp = Interpreter()
    calls: list[int] = []
    interp.define("o-hit-test", calls.append)
    interp.eval(to_source(form))
    original = [interp.call("f", xs, n) for xs, n in [([], 0), ([2, 4, 7], 1), ([20, 3], 5), ([1], 0), ([3], 1)]]
    interp.eval(to_source(instrumented))
    assert [interp.call("f", xs, n) for xs, n in [([], 0), ([2, 4, 7], 1), ([20, 3], 5), ([1], 0), ([3], 1)]] == original
    assert set(calls) == set(range(len(paths)))  # between them, these inputs run every instrumented form


def test_the_spectrum_counts_failing_and_passing_checks_per_subform(parent: Agent) -> None:
    seed = wire(one(parent, parent.definitions["middle"].source, spectrum=True))
    coverage = {c.path: (c.failed, c.passed) for c in seed.spectrum}
    order = [path for path, _ in subforms(PARENT_MIDDLE)]
    assert [c.path for c in seed.spectrum] == [p for p in order if p in coverage]  # in pre-order
    assert get_at(PARENT_MIDDLE, BUGGY_BRANCH) == Symbol("y")
    # The buggy branch runs only for the failing check middles#3 (`untouched` never calls middle);
    # the body runs for each of the four asserts of `middles` (the fitness task is not a test).
    assert coverage[BUGGY_BRANCH] == (1, 0)
    assert coverage[(3,)] == (1, 3)
    assert all(f + p <= 4 for f, p in coverage.values())
    assert sum(1 for f, p in coverage.values() if p == 0) < len(coverage)  # passing checks clear some code
    for path in coverage:
        get_at(PARENT_MIDDLE, path)  # every path is a real subform of the target's form
    # The spectrum costs nothing in the counts: same checks and steps as without it.
    plain = one(parent, parent.definitions["middle"].source)
    assert (plain.checks_passed, plain.steps) == (seed.checks_passed, seed.steps)


# -- the lab methods -----------------------------------------------------------------------------------------

class FakeWorker:
    """What the lab uses of its worker (`LabWorker`), at the edge of these tests."""

    def __init__(self, spec: WorkerSpec, agent: Any, agent_spec: Any, repository: Any) -> None:
        self.spec = spec
        self.agent = agent
        self.agent_spec = agent_spec
        self.repository = repository
        self.code_version = "1.0.0+x"


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def fresh(tmp_path: Path) -> tuple[Path, Agent]:
    seed = tmp_path / "repairable.hy"
    seed.write_text(SEED)
    return seed, Agent.load(seed, tmp_path / "data")


def request_data(*sources: str, **options: Any) -> dict[str, Any]:
    proposals = tuple(proposal(s, f"p{i}") for i, s in enumerate(sources))
    return EvaluationRequest(proposals, **options).as_data()


VANDAL = "(defn middle [x y z] (state-set! \"leak\" 1) (get (sorted [x y z]) 1))"


@pytest.mark.parametrize("role", ["main", "shadow"])
def test_evaluating_writes_neither_the_wal_nor_git(fresh: tuple[Path, Agent], tmp_path: Path, role: str) -> None:
    seed, main = fresh
    spec = WorkerSpec(agent=str(seed), data_dir=str(tmp_path / "data"), role=role,
                      scratch_dir=str(tmp_path / "scratch") if role == "shadow" else None)
    logged: list[tuple[int, str]] = []
    if role == "main":
        state = main.state
        worker = FakeWorker(spec, main, main.spec, main.repository)
    else:
        state = AgentState.from_data(main.state.to_data(), _memory_from_data)
        worker = FakeWorker(spec, None, read_agent(SEED, str(seed)), None)
    state.on_mutation(lambda seq, op, args: logged.append((seq, op)))  # the WAL's listener
    lab = Lab(worker, state)
    code = tree_digest(tmp_path / "data" / "code")
    reply = lab.dispatch("evolution_evaluate", request_data(VANDAL, FIXED, spectrum=True, timing=True))
    evaluations = [wire(Evaluation.from_data(e)) for e in msgpack.unpackb(msgpack.packb(reply))["evaluations"]]
    assert [e.id for e in evaluations] == ["p0", "p1"] and all(e.ok for e in evaluations)
    assert logged == []
    assert tree_digest(tmp_path / "data" / "code") == code
    if lab.scratch_log is not None:
        assert lab.scratch_log.records == 0
        lab.scratch_log._file.close()


def test_evolution_scope_lists_the_names_bound_at_top_level(fresh: tuple[Path, Agent], tmp_path: Path) -> None:
    seed, main = fresh
    lab = Lab(FakeWorker(WorkerSpec(agent=str(seed), data_dir=str(tmp_path / "data")), main, main.spec, main.repository),
              main.state)
    reply = lab.dispatch("evolution_scope", {})
    names = reply["globals"]
    assert names == sorted(names) and len(set(names)) == len(names)
    for name in ["middle", "table", "middles", "state-get", "len", "sorted", "inc", "unless", "->"]:
        assert name in names, name
    assert not [n for n in names if n.startswith(("_o_", "__"))]
    assert {"if", "setv", "fn", "let"} <= set(reply["special_forms"])
    with pytest.raises(BadRequest) as refused:
        lab.dispatch("evolution_scope", {"x": 1})
    assert refused.value.code == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(("args", "words"), [
    ({}, "'proposals' must be a non-empty list"),
    ({"proposals": "x"}, "'proposals' must be a non-empty list"),
    ({"proposals": [1]}, "proposals[0] must be a map"),
    ({"proposals": [{"id": "a", "name": "middle"}]}, "proposals[0].source must be a non-empty string"),
    ({"proposals": [{"id": 3, "name": "middle", "source": "x"}]}, "proposals[0].id must be a non-empty string"),
    ({"proposals": [{"id": "a", "name": "middle", "source": "x"}] * 2}, "proposals[1].id 'a' is given twice"),
    ({"proposals": [{"id": "a", "name": "middle", "source": "x", "helpers": "y"}]}, "helpers must be a list of strings"),
    ({"proposals": [{"id": "a", "name": "middle", "source": "x"}], "step_limit": True}, "'step_limit' must be null or an integer"),
    ({"proposals": [{"id": "a", "name": "middle", "source": "x"}], "step_limit": 0}, "'step_limit' must be null or an integer"),
    ({"proposals": [{"id": "a", "name": "middle", "source": "x"}], "first": "middles"}, "'first' must be a list"),
    ({"proposals": [{"id": "a", "name": "middle", "source": "x"}], "spectrum": "yes"}, "'spectrum' must be true or false"),
])
def test_evolution_evaluate_refuses_bad_requests_clearly(fresh: tuple[Path, Agent], tmp_path: Path,
                                                         args: dict[str, Any], words: str) -> None:
    seed, main = fresh
    lab = Lab(FakeWorker(WorkerSpec(agent=str(seed), data_dir=str(tmp_path / "data")), main, main.spec, main.repository),
              main.state)
    with pytest.raises(BadRequest) as refused:
        lab.dispatch("evolution_evaluate", args)
    assert refused.value.code == ErrorCode.BAD_REQUEST
    assert words in refused.value.message and refused.value.message.startswith("evolution_evaluate: ")
