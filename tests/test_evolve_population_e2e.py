"""`o-lisp evolve --population` end to end, as a user runs it (a subprocess, its own guardian):
the M5 demo (`agents/checkout.hy shipping-cost`) is repaired and promoted with the run's
trailers; a run killed with SIGKILL after a completed generation and resumed with
``--resume RUN`` reaches the same final best as an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pygit2

ROOT = Path(__file__).resolve().parent.parent


def o_lisp(*args: str, cwd: Path) -> list[str]:
    return [sys.executable, "-c", "from o_lisp.cli import main; main()", *args]


def env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, "O_API_TOKEN": ""}


def run_dir(data: Path) -> Path:
    runs = list((data / "evolution" / "runs").iterdir())
    assert len(runs) == 1
    return runs[0]


def test_the_m5_demo_is_repaired_by_a_population(tmp_path: Path) -> None:
    agent = tmp_path / "checkout.hy"
    shutil.copyfile(ROOT / "agents" / "checkout.hy", agent)
    data = tmp_path / "data"
    done = subprocess.run(o_lisp("evolve", str(agent), "shipping-cost", "--data", str(data), "--population", "20",
                                 "--generations", "5", "--seed", "1", "--workers", "2", "--json", cwd=tmp_path),
                          cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    cycle = json.loads(done.stdout)
    assert cycle["status"] == "promoted"
    run = cycle["population"]
    assert run["best"]["checks_passed"] == run["best"]["checks_total"] == 8
    assert run["parent"]["checks_passed"] < 8  # a failing parent is a valid start
    assert cycle["logbook"] and cycle["logbook"][0]["gen"] == 1
    assert cycle["evaluations"] == run["evaluations"] >= 2
    assert all(1 <= row["gen"] <= 5 for row in cycle["logbook"])
    assert f"started run {run['run']}: population 20, 5 generation(s)" in done.stderr
    message = pygit2.Repository(str(data / "code")).revparse_single("HEAD").message
    for trailer in (f"Evolution-Run: {run['run']}", f"Evaluations: {run['evaluations']}",
                    "Best-Fitness: checks 8/8", "Generator: population"):
        assert trailer in message
    directory = run_dir(data)
    lineage = [json.loads(line) for line in (directory / "lineage.jsonl").read_text().splitlines()]
    assert len(lineage) == run["evaluations"] and lineage[0]["id"] == "parent" and lineage[0]["generation"] == 0
    assert json.loads((directory / "summary.json").read_text())["verdict"] == "promoted"


def _summary(data: Path) -> dict[str, Any]:
    summary = json.loads((run_dir(data) / "summary.json").read_text())
    return {key: summary[key] for key in ("evaluations", "generations", "best", "improved", "reason")}


def test_a_run_killed_after_a_generation_resumes_to_the_same_best(tmp_path: Path) -> None:
    shutil.copyfile(ROOT / "bench" / "repair" / "gcd.hy", tmp_path / "gcd.hy")
    options = ["--population", "30", "--generations", "6", "--seed", "3", "--workers", "2"]
    whole = tmp_path / "whole"
    done = subprocess.run(o_lisp("evolve", "gcd.hy", "gcd", "--data", str(whole), *options, cwd=tmp_path),
                          cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    expected = _summary(whole)
    assert expected["generations"] >= 2, "the uninterrupted run must outlast its first generation"

    cut = tmp_path / "cut"
    child = subprocess.Popen(o_lisp("evolve", "gcd.hy", "gcd", "--data", str(cut), *options, cwd=tmp_path),
                             cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while not list((cut / "evolution" / "runs").glob("*/state.json")):
            assert child.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)  # the guardian dies after its first completed generation
    finally:
        child.kill()
        child.wait()
    directory = run_dir(cut)
    assert not (directory / "summary.json").exists(), "the run finished before it could be killed"
    checkpoint = json.loads((directory / "state.json").read_text())["generation"]
    resumed = subprocess.run(o_lisp("evolve", "gcd.hy", "gcd", "--data", str(cut), "--resume", directory.name,
                                    cwd=tmp_path),
                             cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == done.returncode, resumed.stderr
    assert f"resumed run {directory.name} after generation {checkpoint}" in resumed.stdout
    assert _summary(cut) == expected
    whole_lineage = (run_dir(whole) / "lineage.jsonl").read_text().splitlines()
    cut_lineage = (directory / "lineage.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in cut_lineage] == [json.loads(x)["id"] for x in whole_lineage]


STUCK = """\
(defagent stuck
  :version "1.0.0"
  (defn label [n]
    (if (> n 0) (+ "pos-" (str n)) "nonpos"))
  (deftest impossible
    (assert (= (label 1) "pos-1"))
    (assert (= (label 7) "a label no edit of label can make"))))
"""
"""An agent no repair can fix: its search runs every generation (a run that lasts)."""


def test_a_run_that_times_out_says_how_to_resume_it(tmp_path: Path) -> None:
    (tmp_path / "stuck.hy").write_text(STUCK)
    data = tmp_path / "data"
    # Large enough that it cannot finish within the 2 s timeout on a fast machine (~300 evaluations/s).
    first = subprocess.run(o_lisp("evolve", "stuck.hy", "label", "--data", str(data), "--population", "100",
                                  "--generations", "30", "--seed", "1", "--workers", "2", "--timeout", "2",
                                  cwd=tmp_path),
                           cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert first.returncode == 1
    directory = run_dir(data)
    assert (f"did not finish within 2 s; stopping the guardian abandons it (run {directory.name} keeps its "
            f"completed generations: continue it with --resume {directory.name})") in first.stderr
    resumed = subprocess.run(o_lisp("evolve", "stuck.hy", "label", "--data", str(data), "--resume",
                                    directory.name, cwd=tmp_path),
                             cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 1, resumed.stderr
    assert f"resumed run {directory.name} after generation " in resumed.stdout
    assert (directory / "summary.json").exists()


def test_a_deffitness_for_target_is_grown_by_genetic_programming(tmp_path: Path) -> None:
    """`o-lisp evolve agents/regression.hy f`: the breeder grows f from the deffitness's
    vocabulary, the pool evaluates the grown f, and it is promoted and committed."""
    shutil.copyfile(ROOT / "agents" / "regression.hy", tmp_path / "regression.hy")
    data = tmp_path / "data"
    done = subprocess.run(o_lisp("evolve", "regression.hy", "f", "--data", str(data), "--population", "60",
                                 "--generations", "6", "--seed", "1", "--workers", "1", "--json", cwd=tmp_path),
                          cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    cycle = json.loads(done.stdout)
    assert cycle["status"] == "promoted"
    run = cycle["population"]
    assert run["best"]["operator"] == "gp" and run["best"]["source"].startswith("(defn f [x] ")
    assert run["best"]["fitness"]["mse"] > run["parent"]["fitness"]["mse"]
    gp = cycle["logbook"][0]["gp"]
    assert gp["fitness"] == "mse" and gp["evaluations"] > 60 and len(gp["logbook"]) == gp["generations"] + 1
    assert "grown by genetic programming from deffitness mse" in done.stderr
    repository = pygit2.Repository(str(data / "code"))
    head = repository.revparse_single("HEAD")
    assert "Definition: f" in head.message and "Operator: gp" in head.message
    assert "Grown-By: genetic programming, deffitness mse" in head.message
    assert f"GP-Evaluations: {gp['evaluations']}" in head.message and f"GP-Generations: {gp['generations']}" in head.message
    assert run["best"]["source"] in _tree_text(repository)
    assert "(defn f [x] 0.0)" not in _tree_text(repository)


def _tree_text(repository: pygit2.Repository) -> str:
    """Every blob of HEAD's tree, concatenated (the grown definition is one of them)."""
    out: list[str] = []

    def walk(tree: pygit2.Tree) -> None:
        for entry in tree:
            obj = repository[entry.id]
            if isinstance(obj, pygit2.Tree):
                walk(obj)
            elif isinstance(obj, pygit2.Blob):
                out.append(obj.data.decode(errors="replace"))

    walk(repository.revparse_single("HEAD^{tree}"))  # type: ignore[arg-type]
    return "\n".join(out)
