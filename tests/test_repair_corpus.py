"""Integrity of the program-repair corpus (bench/repair/, run by bench/repair.py).

For every program: the buggy agent fails one of its visible `deftest`s, the fixed one
(bench/repair/fixed/, never shown to the engine) passes them and every held-out case,
the buggy one fails some held-out case too, the two files differ in exactly one line and
that line is in the definition the benchmark asks `o-lisp evolve` to repair. Runs
in-process on scratch agents with a small step budget (every fixed program needs far
less), so it is fast.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from o_lisp import Limits, read_many
from o_lisp.agent._testing import agent_under_test
from o_lisp.forms import Expression, Symbol

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "bench" / "repair"
LIMITS = Limits(steps=200_000, time=5.0)
PROGRAMS = sorted(path.stem for path in CORPUS.glob("*.hy"))
REQUIRED_KINDS = {
    "arithmetic operator", "comparison", "boolean operator", "bitwise operator", "off-by-one", "wrong variable",
    "missing condition", "missing guard", "wrong constant", "swapped arguments", "swapped operands",
    "missing statement",
}


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_repair", ROOT / "bench" / "repair.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_repair"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench()


def agent_items(path: Path) -> list[object]:
    (agent,) = [f for f in read_many(path.read_text(encoding="utf-8"), str(path))
                if isinstance(f, Expression) and f[0] == Symbol("defagent")]
    return list(agent)


def test_corpus_is_complete_and_spread_over_the_bug_kinds(bench: ModuleType) -> None:
    assert len(PROGRAMS) >= 36
    assert sorted(p.stem for p in (CORPUS / "fixed").glob("*.hy")) == PROGRAMS
    assert sorted(p.stem for p in (CORPUS / "heldout").glob("*.json")) == PROGRAMS
    programs = bench.load_corpus(CORPUS)
    assert [p.name for p in programs] == PROGRAMS
    kinds = [p.heldout.kind.split(" (")[0] for p in programs]
    assert REQUIRED_KINDS <= set(kinds), REQUIRED_KINDS - set(kinds)
    assert all(kinds.count(kind) <= len(programs) // 4 for kind in set(kinds)), sorted(kinds)


@pytest.mark.parametrize("name", PROGRAMS)
def test_one_line_bug_in_the_target_definition(bench: ModuleType, name: str) -> None:
    buggy, fixed = CORPUS / f"{name}.hy", CORPUS / "fixed" / f"{name}.hy"
    buggy_lines = buggy.read_text(encoding="utf-8").splitlines()
    fixed_lines = fixed.read_text(encoding="utf-8").splitlines()
    changes = [op for op in difflib.SequenceMatcher(a=fixed_lines, b=buggy_lines, autojunk=False).get_opcodes()
               if op[0] != "equal"]
    assert len(changes) == 1, changes
    _, i1, i2, j1, j2 = changes[0]
    assert i2 - i1 <= 1 and j2 - j1 <= 1, changes  # one line changed, dropped or added
    target = bench.load_heldout(CORPUS / "heldout" / f"{name}.json").definition
    differing = [(b, f) for b, f in zip(agent_items(buggy), agent_items(fixed), strict=True) if b != f]
    assert len(differing) == 1
    (buggy_form, fixed_form), = differing
    assert isinstance(buggy_form, Expression) and isinstance(fixed_form, Expression)
    assert (buggy_form[0], buggy_form[1]) == (fixed_form[0], fixed_form[1]) == (Symbol("defn"), Symbol(target))


@pytest.mark.parametrize("name", PROGRAMS)
def test_buggy_fails_a_visible_test_and_fixed_passes_visible_and_heldout(bench: ModuleType, name: str) -> None:
    buggy, fixed = CORPUS / f"{name}.hy", CORPUS / "fixed" / f"{name}.hy"
    heldout = bench.load_heldout(CORPUS / "heldout" / f"{name}.json")

    buggy_agent = agent_under_test(buggy, buggy.read_text(encoding="utf-8"), limits=LIMITS)
    assert buggy_agent.tests, "no deftest"
    buggy_report = buggy_agent.run_tests()
    assert not buggy_report.ok
    fixed_agent = agent_under_test(fixed, fixed.read_text(encoding="utf-8"), limits=LIMITS)
    fixed_report = fixed_agent.run_tests()
    assert fixed_report.ok, fixed_report.failed
    assert sorted(fixed_report.passed) == sorted(buggy_agent.tests)

    failures = bench.run_heldout(bench.code_from_agent_file(fixed), heldout, LIMITS)
    assert failures == [], [f.describe(heldout.definition) for f in failures]
    # The held-out cases see the bug too, so a promoted candidate that keeps it is overfit.
    assert bench.run_heldout(bench.code_from_agent_file(buggy), heldout, LIMITS)


@pytest.mark.parametrize("name", PROGRAMS)
def test_visible_tests_are_several_asserts(name: str) -> None:
    tests = [item for item in agent_items(CORPUS / f"{name}.hy")
             if isinstance(item, Expression) and item[0] == Symbol("deftest")]
    assert tests
    for test in tests:
        asserts = [form for form in test[2:] if isinstance(form, Expression) and form[0] == Symbol("assert")]
        assert len(asserts) >= 3, test[1]


def test_heldout_files_are_checked_at_the_boundary(bench: ModuleType, tmp_path: Path) -> None:
    def problem(text: str) -> str:
        path = tmp_path / "p.json"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(bench.CorpusError) as error:
            bench.load_heldout(path)
        assert str(path) in str(error.value)
        return str(error.value)

    case = {"args": [1], "expected": 1}
    assert "2:1: not JSON" in problem('{"definition": "f",\n}')
    assert "'definition'" in problem(json.dumps({"cases": [case] * 8}))
    assert "at least 8 cases" in problem(json.dumps({"definition": "f", "cases": [case] * 7}))
    assert "case 3 must be" in problem(json.dumps({"definition": "f", "cases": [case] * 3 + [{"args": 1}] + [case] * 4}))
    assert "'tolerance'" in problem(json.dumps({"definition": "f", "tolerance": -1, "cases": [case] * 8}))
    assert "unknown fields ['extra']" in problem(json.dumps({"definition": "f", "extra": 1, "cases": [case] * 8}))
    with pytest.raises(bench.CorpusError, match="no program nope"):
        bench.load_corpus(CORPUS, ["nope"])


def test_heldout_comparison(bench: ModuleType) -> None:
    same = bench.same
    assert same([1, [2, 3]], [1, [2, 3]], None)
    assert same((1, (2, 3)), [1, [2, 3]], None)  # tuples are JSON lists
    assert not same([1, 2], [1, 2, 3], None)
    assert not same(1, True, None) and not same(True, 1, None)
    assert same(0.1 + 0.2, 0.3, 1e-9) and not same(0.1 + 0.2, 0.3, None)
    assert not same(3.1, 3.0, 1e-9)
    assert same(2, 2.0, None)


def test_heldout_failures_say_what_went_wrong(bench: ModuleType) -> None:
    heldout = bench.HeldOut("f", "", "", None, tuple(bench.Case((n,), n * 2) for n in range(8)))
    failures = bench.run_heldout(["(defn f [n] (if (= n 3) (// 1 0) (if (= n 5) 11 (* n 2))))"], heldout, LIMITS)
    assert [f.args for f in failures] == [(3,), (5,)]
    assert "ZeroDivisionError" in failures[0].got
    assert failures[1].describe("f") == "(f 5): expected 10, got 11"
    looping = bench.run_heldout(["(defn f [n] (while True) n)"], heldout, LIMITS)
    assert len(looping) == 8 and "step limit" in looping[0].got
    unloadable = bench.run_heldout(["(defn g [n] n)"], heldout, LIMITS)
    assert len(unloadable) == 8 and "does not load" in unloadable[0].got


def test_m5_demo_agent_fails_its_test_until_one_comparison_is_fixed(tmp_path: Path) -> None:
    demo = ROOT / "agents" / "checkout.hy"
    text = demo.read_text(encoding="utf-8")
    report = agent_under_test(demo, text, limits=LIMITS).run_tests()
    assert list(report.failed) == ["free-shipping-from-fifty"]
    assert "(= (shipping-cost 50 1) 0): 5 != 0" in report.failed["free-shipping-from-fifty"]
    assert report.passed == ["small-orders-pay-per-item"]
    assert text.count("(if (> total 50)") == 1
    fixed = tmp_path / "checkout.hy"
    fixed.write_text(text.replace("(if (> total 50)", "(if (>= total 50)"), encoding="utf-8")
    assert agent_under_test(fixed, fixed.read_text(encoding="utf-8"), limits=LIMITS).run_tests().ok
