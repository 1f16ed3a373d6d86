"""Genetic programming through the breeder: `o-lisp evolve agents/regression.hy f` grows f
(o_lisp/worker/_breed_gp.py) and the ordinary cascade and decision promote it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import msgpack
import pytest

from o_lisp.agent._agent import Agent
from o_lisp.evolution._gp import GPConfig, grow, verify
from o_lisp.evolution._individual import EvaluationRequest
from o_lisp.guardian._protocol import BadRequest, WorkerSpec
from o_lisp.worker._breed import Breeder
from o_lisp.worker._breed_gp import fitness_for
from o_lisp.worker._evaluate import evaluate
from o_lisp.worker._lab import Lab

ROOT = Path(__file__).resolve().parents[2]
REGRESSION = ROOT / "agents" / "regression.hy"


def drive(breeder: Breeder, agent: Agent) -> list[dict[str, Any]]:
    """ask -> evaluate -> tell until done; the logbook rows."""
    rows = []
    data = breeder.start()["request"]
    while data is not None:
        answers = evaluate(agent, EvaluationRequest.from_data(data))
        told = breeder.tell([a.as_data() for a in answers])
        if told["generation_done"]:
            rows.append(told["logbook"])
        data = told["request"]
    return rows


def test_the_breeder_grows_the_for_target_and_the_decision_promotes_it(tmp_path: Path) -> None:
    agent = Agent.load(REGRESSION, tmp_path / "data")
    assert fitness_for(agent, "f") == "mse" and fitness_for(agent, "pdiv") is None
    breeder = Breeder(agent, "f", {"population": 300, "generations": 40, "seed": 1})
    rows = drive(breeder, agent)
    best = breeder.best()
    assert best["improved"] is True, best["reason"]
    grown = best["best"]
    assert grown["operator"] == "gp" and grown["parents"] == ["parent"]
    # the pool's fitness of the grown f is the GP's own, and the ordinary scratch agent's
    expected = grow(agent.scratch(), "mse", GPConfig(population=300, generations=40, seed=1))
    assert grown["source"] == expected.best_source
    fitness = dict(grown["evaluation"]["fitness"])
    assert fitness["mse"] == pytest.approx(expected.best_fitness, abs=1e-12)
    assert fitness["mse"] == pytest.approx(verify(agent, "mse", grown["source"]), abs=1e-12)
    assert fitness["mse"] > dict(best["parent"]["fitness"])["mse"]
    assert grown["evaluation"]["checks_passed"] == grown["evaluation"]["checks_total"] >= 2
    # two pool evaluations (the parent, the grown f) for thousands of GP evaluations
    assert best["evaluations"] == 2 and best["generations"] == 1
    assert len(rows) == 1 and rows[0]["gen"] == 1
    gp = rows[0]["gp"]
    assert gp["fitness"] == "mse" and gp["evaluations"] == expected.evaluations > 300
    assert [r["gen"] for r in gp["logbook"]] == list(range(gp["generations"] + 1))
    assert gp["logbook"][-1]["best"] == pytest.approx(expected.best_fitness)


def test_max_evals_is_the_gp_budget_and_other_definitions_are_repaired(tmp_path: Path) -> None:
    agent = Agent.load(REGRESSION, tmp_path / "data")
    capped = Breeder(agent, "f", {"population": 50, "generations": 40, "seed": 1, "max_evals": 120})
    assert capped.grown is not None and capped.grown.result.evaluations <= 120 + 50
    rows = drive(capped, agent)
    assert rows[0]["gp"]["evaluations"] == capped.grown.result.evaluations
    plain = Breeder(agent, "pdiv", {"population": 10, "generations": 2, "seed": 1})
    assert plain.grown is None
    assert plain.search.given == ()


class _Worker:
    def __init__(self, agent: Agent, tmp: Path) -> None:
        self.spec = WorkerSpec(agent="x.hy", data_dir=str(tmp))
        self.agent = agent
        self.agent_spec = None
        self.repository = None
        self.code_version = "v"


def test_the_lab_methods_grow_f_over_plain_data_and_resume(tmp_path: Path) -> None:
    shutil.copyfile(REGRESSION, tmp_path / "regression.hy")
    agent = Agent.load(tmp_path / "regression.hy", tmp_path / "data")
    lab = Lab(_Worker(agent, tmp_path), None)  # type: ignore[arg-type]
    reply = lab.dispatch("evolution_breed_start", {"definition": "f", "settings": {"population": 60,
                                                                                  "generations": 8, "seed": 3}})
    state = None
    while reply["request"] is not None:
        answers = lab.dispatch("evolution_evaluate", reply["request"])
        reply = msgpack.unpackb(msgpack.packb(lab.dispatch("evolution_breed_tell", answers)))
        if reply["generation_done"]:
            state = lab.dispatch("evolution_breed_state", {})["state"]
    best = lab.dispatch("evolution_breed_best", {})
    assert best["improved"], best["reason"]
    assert state is not None
    resumed = lab.dispatch("evolution_breed_start", {"definition": "f", "settings": {}, "state": state})
    assert resumed["request"] is None
    assert lab.dispatch("evolution_breed_best", {})["best"]["source"] == best["best"]["source"]
    with pytest.raises(BadRequest, match="population"):
        lab.dispatch("evolution_breed_start", {"definition": "f", "settings": {"population": 1}})
