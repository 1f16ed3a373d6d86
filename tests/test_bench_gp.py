"""Smoke test of bench/gp.py (O's GP engine against DEAP): it runs and reports; never timings."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_gp", ROOT / "bench" / "gp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gp"] = module
    spec.loader.exec_module(module)
    return module


def test_quick_mode_runs_both_sides_with_the_same_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # DEAP, the baseline, comes with the test extra (and the bench extra)
    bench = load_bench()
    assert bench.main(["--quick", "--json", str(tmp_path / "gp.json")]) == 0
    out = capsys.readouterr().out
    assert "| koza-1 | 2 |" in out and "| nguyen-1 | 2 |" in out
    report = json.loads((tmp_path / "gp.json").read_text())
    runs = report["runs"]
    assert len(runs) == 8
    for deap_run, o_run in zip(runs[0::2], runs[1::2], strict=True):
        assert (deap_run["side"], o_run["side"]) == ("deap", "o")
        assert o_run["evaluations"] == deap_run["evaluations"] > 50  # the same budget
        assert o_run["best"].startswith("(defn f [x] ")


def test_the_cases_are_the_published_ranges() -> None:
    bench = load_bench()
    assert sorted(bench.PROBLEMS) == ["koza-1", *(f"nguyen-{i}" for i in range(1, 9))]
    for name, (_fn, low, high) in bench.PROBLEMS.items():
        points = bench.cases(name)
        assert len(points) == 20 and all(low <= x <= high for x, _ in points)
        assert points == bench.cases(name)  # drawn once, the same for both sides
    assert bench.PROBLEMS["nguyen-7"][1:] == (0.0, 2.0) and bench.PROBLEMS["nguyen-8"][1:] == (0.0, 4.0)
