"""bench/repair_inprocess.py: the engine driven in one process, scored on the held-out cases."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def driver() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_repair_inprocess", ROOT / "bench" / "repair_inprocess.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_repair_inprocess"] = module
    spec.loader.exec_module(module)
    return module


def test_a_repair_is_scored_on_the_held_out_cases(driver: ModuleType, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert driver.main(["--only", "factorial", "--seed", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    (result,) = data["results"]
    assert result["outcome"] == "repaired" and result["operator"] == "perturb-constant"
    assert "(setv result 1)" in result["source"]
    assert data["counts"] == {"repaired": 1, "overfit": 0, "not repaired": 0, "error": 0}
    assert "repaired 1/1" in capsys.readouterr().out


def test_bad_arguments_exit_2_with_the_reason(driver: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert driver.main(["--population", "1"]) == 2
    assert "setting population must be an integer from 2" in capsys.readouterr().err
    assert driver.main(["--only", "nope"]) == 2
    assert "no program nope" in capsys.readouterr().err
