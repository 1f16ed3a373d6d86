"""Smoke test of the benchmark harness (bench/run.py): correctness only, never timings."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent

SMALL_PROGRAM = """\
(defmacro inc! [place] `(setv ~place (+ ~place 1)))
(defn fib [n] (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))
(defn make-counter []
  (setv n 0)
  (defn tick [] (nonlocal n) (inc! n) n)
  tick)
(defn main []
  (setv c (make-counter) words {})
  (for [w (.split "a b a c b a")]
    (setv (get words w) (+ (.get words w 0) 1))
    (c))
  [(fib 12) (c) (sorted (.items words) :key (fn [kv] (- (get kv 1)))) (.upper "ok")
   '(quoted ~form)])
"""


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    module = load_bench()
    o_lisp, why = module.import_o_lisp()
    if o_lisp is None:
        pytest.skip(f"o_lisp not available yet: {why}")
    return module


def test_one_small_program_agrees_and_is_reported(bench: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "small.hy"
    path.write_text(SMALL_PROGRAM, encoding="utf-8")
    o_lisp, _ = bench.import_o_lisp()
    result = bench.bench_program(path, o_lisp, reps=1)
    assert result.error is None, result.error
    assert result.equal is True
    assert result.hy_repr == result.ol_repr
    assert result.hy_repr.startswith("[144 7 [")
    assert result.hy_ms is not None and result.ol_ms is not None and result.ratio is not None

    out = io.StringIO()
    gmean = bench.print_table([result], out)
    text = out.getvalue()
    assert gmean is not None
    assert "small" in text and " ok" in text
    assert "geometric mean ratio o_lisp/Hy:" in text
    assert "compile/load total:" in text


def test_reader_report_on_small_source(bench: ModuleType) -> None:
    o_lisp, _ = bench.import_o_lisp()
    out = io.StringIO()
    report = bench.bench_reader(o_lisp, 0, 1, out, text=SMALL_PROGRAM * 20)
    text = out.getvalue()
    assert "error" not in report, report
    assert report["forms_equal"] is True
    assert "hy.read_many" in text and "o_lisp.read_many" in text
    assert "reader speedup o_lisp vs hy:" in text


def test_programs_exist_and_define_main() -> None:
    programs = sorted((ROOT / "bench" / "programs").glob("*.hy"))
    assert len(programs) >= 9
    for program in programs:
        assert "(defn main []" in program.read_text(encoding="utf-8"), program.name
