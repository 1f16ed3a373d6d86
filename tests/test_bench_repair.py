"""bench/repair.py, the program-repair benchmark's runner: reading promoted code back from an
agent's repository, its options, its report, and one end-to-end smoke run of `o-lisp evolve`
on one program with tiny settings (outcomes and times are never asserted: only that the run
happened and was reported)."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from o_lisp.agent import CodeRepository, Definition, DefinitionKind

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "bench" / "repair"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_repair_runner", ROOT / "bench" / "repair.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_repair_runner"] = module
    spec.loader.exec_module(module)
    return module


def repository_of(bench: ModuleType, agent: Path, path: Path) -> Path:
    """An agent repository holding the definitions of `agent`, as a guardian creates it."""
    definitions = [Definition(str(bench.read_many(source)[0][1]), DefinitionKind.FUNCTION, source)
                   for source in bench.code_from_agent_file(agent)]
    CodeRepository.init(path, "quicksort", definitions, '(defagent quicksort :version "0.1.0")', "0.1.0")
    return path


def test_heldout_cases_run_on_the_code_in_a_repository(bench: ModuleType, tmp_path: Path) -> None:
    heldout = bench.load_heldout(CORPUS / "heldout" / "quicksort.json")
    fixed = bench.code_from_repository(repository_of(bench, CORPUS / "fixed" / "quicksort.hy", tmp_path / "fixed"))
    assert len(fixed) == 1 and fixed[0].startswith("(defn quicksort [xs]")
    assert bench.run_heldout(fixed, heldout) == []
    buggy = bench.code_from_repository(repository_of(bench, CORPUS / "quicksort.hy", tmp_path / "buggy"))
    failures = bench.run_heldout(buggy, heldout)
    assert [f.args for f in failures] == [c.args for c in heldout.cases if len(set(c.args[0])) < len(c.args[0])]
    assert failures[0].describe("quicksort") == "(quicksort [2, 2]): expected [2, 2], got [2]"


FAKE_EVOLVE = """\
import json, os, sys
from pathlib import Path
sys.path.insert(0, {bench!r})
import repair
from o_lisp import read_many
from o_lisp.agent import CodeRepository, Definition, DefinitionKind

_, command, agent, definition, _, data, *options = sys.argv
assert command == "evolve" and "--json" in options, sys.argv
mode = os.environ["FAKE_EVOLVE"]
if mode == "usage":
    print("Error: No such option: --population", file=sys.stderr)
    sys.exit(2)
if mode == "rejected":
    print(json.dumps({{"status": "rejected", "evaluations": 50}}))
    sys.exit(1)
source = Path(agent) if mode == "as-is" else Path({corpus!r}) / "fixed" / Path(agent).name
code = repair.code_from_agent_file(source)
defs = [Definition(str(read_many(text)[0][1]), DefinitionKind.FUNCTION, text) for text in code]
CodeRepository.init(Path(data) / "code", "x", defs, '(defagent x :version "0.1.0")', "0.1.0")
print(json.dumps({{"status": "promoted", "logbook": [{{"gen": 0, "evals": 9}}, {{"gen": 1, "evals": 4}}]}}))
"""


@pytest.mark.parametrize(("mode", "outcome"), [("fixed", "repaired"), ("as-is", "overfit"),
                                                ("rejected", "not repaired"), ("usage", "error")])
def test_each_outcome_of_a_run(bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               mode: str, outcome: str) -> None:
    """`o-lisp evolve` replaced by a stand-in that promotes the fixed code, promotes the code
    as it is (the bug stays: overfit), promotes nothing, or refuses its options."""
    fake = tmp_path / "fake_o_lisp.py"
    fake.write_text(FAKE_EVOLVE.format(bench=str(ROOT / "bench"), corpus=str(CORPUS)), encoding="utf-8")
    monkeypatch.setenv("FAKE_EVOLVE", mode)
    (program,) = bench.load_corpus(CORPUS, ["quicksort"])
    result = bench.run_program(program, bench.Settings(timeout=30), 3, [sys.executable, str(fake)], tmp_path / "kept")
    kept = (tmp_path / "kept" / "quicksort-s3.json").read_text(encoding="utf-8")
    assert (json.loads(kept)["status"] if kept else None) == {"usage": None, "rejected": "rejected"}.get(mode, "promoted")
    assert result.outcome == outcome, result
    assert (result.program, result.seed) == ("quicksort", 3)
    if mode == "fixed":
        assert (result.heldout_passed, result.heldout_total, result.evaluations) == (9, 9, 13)
        assert result.promoted_source is not None and ":if (>= x pivot)" in result.promoted_source
        assert result.failures == []
    elif mode == "as-is":
        assert result.heldout_passed is not None and 0 < result.heldout_passed < 9
        assert result.failures[0] == "(quicksort [2, 2]): expected [2, 2], got [2]"
    elif mode == "rejected":
        assert (result.status, result.evaluations, result.note) == ("rejected", 50, "status rejected")
    else:
        assert result.exit_code == 2 and "No such option: --population" in result.note


def test_evolve_options_new_and_legacy(bench: ModuleType) -> None:
    assert bench.Settings().evolve_options(7) == [
        "--population", "50", "--generations", "10", "--workers", "2", "--seed", "7", "--timeout", "60", "--json"]
    assert bench.Settings(population=8, generations=2, workers=1, timeout=30).evolve_options(1)[:6] == [
        "--population", "8", "--generations", "2", "--workers", "1"]
    legacy = bench.Settings(legacy=True)
    assert legacy.evolve_options(7) == ["--generations", "3", "--candidates", "16", "--timeout", "60", "--json"]
    assert bench.Settings(population=50, legacy=True).evolve_options(1)[3] == "32"  # the old CLI's maximum
    assert "LEGACY" in legacy.describe() and "--candidates 16" in legacy.describe()


def test_evaluations_from_each_kind_of_cycle(bench: ModuleType) -> None:
    assert bench.evaluations_of({"evaluations": 120, "candidates": [{}]}) == 120
    assert bench.evaluations_of({"logbook": [{"gen": 0, "evals": 50}, {"gen": 1, "evals": 47}]}) == 97
    assert bench.evaluations_of({"candidates": [{}, {}, {}]}) == 3
    assert bench.evaluations_of({"status": "failed"}) is None


def test_report_counts_each_outcome(bench: ModuleType) -> None:
    runs = [bench.RunResult("a", "comparison", 1, "repaired", 12.0, 300, 0, heldout_passed=8, heldout_total=8),
            bench.RunResult("b", "off-by-one", 1, "overfit", 30.0, 500, 0, heldout_passed=6, heldout_total=8,
                            failures=["(b 1): expected 2, got 3"]),
            bench.RunResult("c", "bitwise operator (| instead of &)", 1, "not repaired", 61.0, 500, 1,
                            note="status rejected")]
    out = io.StringIO()
    totals = bench.print_report(runs, bench.Settings(), out)
    text = out.getvalue()
    assert (totals["repaired"], totals["overfit"], totals["not_repaired"], totals["error"]) == (1, 1, 1, 0)
    assert totals["within_time"] == 2 and totals["evaluations"] == 1300
    assert "| a | comparison | 1 | repaired | 8/8 | 12.0 | 300 |  |" in text
    assert "| b | off-by-one | 1 | overfit | 6/8 | 30.0 | 500 | (b 1): expected 2, got 3 |" in text
    assert "| c | bitwise operator (\\| instead of &) | 1 | not repaired |  | 61.0 | 500 | status rejected |" in text
    assert "repaired 1/3 runs (33%; misses target >= 50%), overfit 1, not repaired 1, error 0" in text


def test_usage_errors(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--only", "no_such_program"]) == 2
    assert "no program no_such_program" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--population", "0"])
    assert exit_.value.code == 2


def test_smoke_one_program_end_to_end(bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "repair.json"
    status = bench.main(["--only", "factorial", "--population", "2", "--generations", "1", "--workers", "1",
                         "--timeout", "60", "--json", str(report)])
    out = capsys.readouterr().out
    assert status == 0
    assert "| program | bug kind | seed | outcome |" in out and "| factorial | wrong constant" in out
    document = json.loads(report.read_text(encoding="utf-8"))
    (run,) = document["runs"]
    assert run["program"] == "factorial"
    assert run["outcome"] in ("repaired", "overfit", "not repaired"), run
    assert run["evaluations"] >= 1 and run["exit_code"] in (0, 1)
    assert document["totals"]["runs"] == 1
