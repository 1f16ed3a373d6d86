"""The validation pipeline: each stage rejects a crafted candidate with its reason and
evidence, a good candidate passes every stage, and nothing touches the parent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import pytest

from o_lisp.agent._agent import Agent
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.evolution._validate import STAGES, ValidationThresholds, run_fitness, validate

SEED = """\
(defagent lab
  :version "1.0.0"
  :doc "Candidates are validated against this agent."

  (defmemory notes :dim 32)

  (defn work [n] (sum (lfor i (range n) (* i i))))

  (defn ratio [] 0.5)

  (deftool wipe [] :doc "Dangerous." :unsafe True "wiped")

  (deftool shout [text :str] :doc "Loud." (.upper text))

  (when-> :name compute (.isdigit msg) (str (work (int msg))))

  (deftest work-sums-squares (assert (= (work 4) 14)))

  (deffitness throughput (work 100000))

  (deffitness quality (ratio)))
"""

FAST = ValidationThresholds(runs=5, warmup=0)


def host_fetch(url: str) -> str:
    return "page"


def host_secret() -> str:
    return "s3cret"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Agent:
    tmp = tmp_path_factory.mktemp("lab")
    seed = tmp / "lab.hy"
    seed.write_text(SEED)
    agent = Agent.load(seed, tmp / "data", host_tools={"fetch": host_fetch, "secret": host_secret}, grants=["fetch"])
    agent.handle("remember")  # no rule matches; a message in the state all the same
    return agent


def fn(source: str) -> Definition:
    return Definition(source.split()[1], DefinitionKind.FUNCTION, source)


def check(lab: Agent, candidate: Definition, thresholds: ValidationThresholds = FAST) -> Any:
    before = lab.state.to_data()
    code = dict(lab.definitions)
    report = validate(lab, candidate, thresholds)
    # Validation never touches the parent, whatever the candidate did.
    after = lab.state.to_data()
    assert {k: v for k, v in after.items() if k != "metrics"} == {k: v for k, v in before.items() if k != "metrics"}
    assert lab.definitions == code
    # The report is plain data (the worker sends it to the guardian).
    assert msgpack.unpackb(msgpack.packb(report.as_data())) == report.as_data()
    assert [s.name for s in report.stages] == list(STAGES[: len(report.stages)])
    assert report.stages[-1].ok is report.ok
    return report


def test_a_good_candidate_passes_every_stage(lab: Agent) -> None:
    report = check(lab, fn("(defn work [n] (sum (gfor i (range n) (* i i))))"))
    assert (report.ok, report.stage, report.reason) == (True, "passed", "")
    assert [s.name for s in report.stages] == list(STAGES)
    assert report.evidence["tests"] == {"passed": ["work-sums-squares"], "failed": {}}
    assert report.evidence["fitness"]["scores"] == {"throughput": 333328333350000.0, "quality": 0.5}
    perf = report.evidence["performance"]
    assert perf["workload"] == "fitness" and perf["runs"] == 5
    assert len(perf["parent_ms"]) == len(perf["candidate_ms"]) == 5
    assert 0 <= perf["p_value"] <= 1


@pytest.mark.parametrize(("candidate", "reason"), [
    (fn("(defn work [n] (+ n 1)) (defn ratio [] 1)"), "the source holds 2 forms, not exactly one"),
    (fn("(defn work [n] (+ n 1)"), "does not read: <candidate work>:1:23: premature end of input: '(' opened at 1:1 is never closed"),
    (Definition("work", DefinitionKind.FUNCTION, "(defn ratio [] 1)"), "the form defines 'ratio', not 'work'"),
    (Definition("work", DefinitionKind.FUNCTION, "(setv work 1)"), "the form is a setv, the definition a defn"),
    (fn("(defn missing [] 1)"), "agent lab has no definition 'missing' to replace"),
])
def test_read_stage(lab: Agent, candidate: Definition, reason: str) -> None:
    report = check(lab, candidate)
    assert (report.ok, report.stage, report.reason) == (False, "read", reason)


def test_candidates_that_do_not_load_fail_before_their_tests(lab: Agent) -> None:
    memory = check(lab, Definition("notes", DefinitionKind.MEMORY, "(defmemory notes :dim 16)"))
    assert (memory.stage, memory.reason) == ("tests", "memory notes: option dim cannot change (32 → 16) once the memory exists")
    value = check(lab, Definition("work", DefinitionKind.FUNCTION, "(defn work [n] (. n 1))"))
    assert value.stage == "tests" and value.reason.startswith("does not load: ")


@pytest.mark.parametrize(("source", "reason"), [
    ('(defn work [n]\n  (getattr n "real"))', "getattr at 2:4: reflection escapes the sandbox's name checks"),
    ("(defn work [n]\n  (hy.eval '(+ 1 2)))", "hy.eval at 2:4: a candidate may not build and run code at run time"),
    ("(defn work [n] (. n __class__))", "n.__class__ at 1:16: dunder names are outside the sandbox"),
    ("(defn work [n] (__import__ \"os\"))", "__import__ at 1:17: dunder names are outside the sandbox"),
    ("(defn work [n] n._secret)", "n._secret at 1:16: attribute access to a name starting with _ is not allowed"),
    ("(defn work [n] (._secret n))", "._secret at 1:17: attribute access to a name starting with _ is not allowed"),
    ("(defn work [n] (. n _secret))", "n._secret at 1:16: attribute access to a name starting with _ is not allowed"),
    ("(defn work [n] (rewrite! 'work '(defn work [n] 0) :reason \"again\"))",
     "rewrite! at 1:17: a candidate may not trigger further rewrites"),
    ("(defn work [n] (evolve! 'work :hypothesis \"more\"))", "evolve! at 1:17: a candidate may not trigger further rewrites"),
    ("(defn work [n] (import os) n)", "import at 1:17: a candidate may not import modules"),
    ("(defn work [n] (secret))", "secret at 1:17: calls host tool secret, which agent lab was not granted"),
    ("(defn work [n] (wipe) n)", "wipe at 1:17: calls unsafe tool wipe, and agent lab holds no unsafe grant"),
])
def test_scan_stage_names_the_offending_symbol_with_line_and_column(lab: Agent, source: str, reason: str) -> None:
    report = check(lab, fn(source))
    assert (report.ok, report.stage, report.reason) == (False, "scan", reason)
    first = report.evidence["scan"]["findings"][0]
    assert f"{first['symbol']} at {first['line']}:{first['col']}: {first['why']}" == reason


def test_scan_stage_allows_granted_host_tools_and_refuses_unsafe_declarations(lab: Agent) -> None:
    assert check(lab, fn("(defn work [n] (fetch \"x\") (sum (lfor i (range n) (* i i))))")).ok
    tool = Definition("shout", DefinitionKind.TOOL, "(deftool shout [text :str] :doc \"Loud.\" :unsafe True (.upper text))")
    report = check(lab, tool)
    assert (report.stage, report.reason) == ("scan", ":unsafe at 1:41: declares an unsafe tool, and agent lab holds no unsafe grant")
    macro = Definition("work", DefinitionKind.MACRO, "(defmacro work [n] n)")
    assert check(lab, macro).stage == "read"  # a macro cannot replace a function


def test_infinite_recursion_is_stopped_by_the_depth_budget_at_the_tests(lab: Agent) -> None:
    report = check(lab, fn("(defn work [n] (work n))"))
    assert (report.ok, report.stage) == (False, "tests")
    assert report.reason.startswith("test work-sums-squares failed: ")
    assert report.reason.endswith("call depth limit of 1000 exceeded (recursion too deep)")
    assert report.evidence["tests"]["passed"] == []


def test_fitness_stage_needs_finite_numbers(lab: Agent) -> None:
    nan = check(lab, fn('(defn ratio [] (float "nan"))'))
    assert (nan.stage, nan.reason) == ("fitness", "fitness quality failed: returned NaN, not a finite number")
    assert nan.evidence["fitness"]["scores"] == {"throughput": 333328333350000.0}
    text = check(lab, fn('(defn ratio [] "high")'))
    assert text.reason == 'fitness quality failed: returned "high", not a finite number'
    boolean = check(lab, fn("(defn ratio [] True)"))
    assert boolean.reason == "fitness quality failed: returned True, not a finite number"
    raised = check(lab, fn("(defn ratio [] (/ 1 0))"))
    assert raised.reason == "fitness quality failed: <lab/defs/ratio.hy>:1:16: ZeroDivisionError: division by zero"


def test_a_three_times_slower_candidate_is_rejected_with_its_p_value(lab: Agent) -> None:
    slow = fn("(defn work [n]\n  (sum (lfor i (range n) (* i i)))\n  (sum (lfor i (range n) (* i i)))\n"
              "  (sum (lfor i (range n) (* i i))))")
    report = check(lab, slow, ValidationThresholds())
    assert (report.ok, report.stage) == (False, "performance")
    perf = report.evidence["performance"]
    print(f"\n3x candidate: medians {perf['parent_median_ms']:.2f} -> {perf['candidate_median_ms']:.2f} ms, "
          f"ratio {perf['ratio']:.2f}, p = {perf['p_value']:.2g}")
    assert perf["runs"] == 15 and len(perf["candidate_ms"]) == 15
    assert perf["ratio"] > 1.5  # about 3 on an idle machine
    assert perf["p_value"] < 0.001
    assert report.reason.startswith(f"the candidate is {perf['ratio']:.2f}× slower: median ")
    assert report.reason.endswith(f"over 15 interleaved runs of the fitness (allowed +20%, 0.25 ms); "
                                  f"Mann-Whitney U one-sided p = {perf['p_value']:.3g} < 0.05")
    # Allowed when the tolerance is wide enough, relatively or absolutely.
    assert check(lab, slow, ValidationThresholds(runs=5, max_slowdown=10.0)).ok
    assert check(lab, slow, ValidationThresholds(runs=5, min_slowdown_ms=1e6)).ok


def test_performance_times_the_tests_when_there_is_no_fitness(tmp_path: Path) -> None:
    seed = tmp_path / "plain.hy"
    seed.write_text('(defagent plain (defn f [] 1) (deftest f-is-one (assert (= (f) 1))))')
    agent = Agent.load(seed, tmp_path / "data")
    report = check(agent, fn("(defn f [] (- 2 1))"))
    assert report.ok and report.evidence["performance"]["workload"] == "tests"
    seed.write_text('(defagent plain (defn f [] 1))')
    bare = Agent.load(seed, tmp_path / "bare")
    assert check(bare, fn("(defn f [] 2)")).evidence["performance"] == {"skipped": "the agent has no fitness tasks or tests to time"}


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="runs must be an int >= 2"):
        ValidationThresholds(runs=1)
    with pytest.raises(ValueError, match="alpha must be in"):
        ValidationThresholds(alpha=1.5)
    with pytest.raises(ValueError, match="max_slowdown must be"):
        ValidationThresholds(max_slowdown=-0.1)
    with pytest.raises(ValueError, match="min_slowdown_ms must be a finite number >= 0, got -1"):
        ValidationThresholds(min_slowdown_ms=-1)
    with pytest.raises(TypeError):
        ValidationThresholds(**{"speed": 1})  # type: ignore[arg-type]


def test_run_fitness_repeats_and_records_errors(lab: Agent) -> None:
    scratch = lab.scratch()
    run = run_fitness(scratch, 3)
    assert run.scores == {"throughput": [333328333350000.0] * 3, "quality": [0.5] * 3}
    assert len(run.latencies_ms) == 6 and all(ms >= 0 for ms in run.latencies_ms)
    assert run.errors == {}
    broken = lab.scratch(fn("(defn ratio [] (/ 1 0))"))
    run = run_fitness(broken, 3)
    assert run.scores == {"throughput": [333328333350000.0] * 3, "quality": []}
    assert run.errors == {"quality": "<lab/defs/ratio.hy>:1:16: ZeroDivisionError: division by zero"}
    assert len(run.latencies_ms) == 4  # a failed task is not run again
