"""A model's share of a population run (`o_lisp/worker/_breed_llm.py`): proposals written
by a (scripted) model enter a generation in place of bred children, through the same
duplicate and scope checks, and are evaluated like every individual — so a fix mutation
cannot reach wins, an escape is stopped by the evaluation's scan, and an unbound name
never reaches an evaluator. The prompt carries the definition, the failing tests with
their values, the tests, the hypothesis and (from generation 2) the best individuals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from o_lisp.agent._agent import Agent
from o_lisp.evolution._individual import EvaluationRequest
from o_lisp.evolution._search import PARENT_ID
from o_lisp.worker._breed import Breeder
from o_lisp.worker._breed_llm import LLMShare, llm_share
from o_lisp.worker._evaluate import evaluate

SQUARES = '''(defagent squares
  :version "0.1.0"
  :doc "Sums of squares."

  (defn sum-squares [n]
    "The sum of the squares of 1..n."
    0)

  (defn cube [n]
    "The cube of n."
    (* n n n))

  (deftest sums
    (assert (= (sum-squares 1) 1))
    (assert (= (sum-squares 3) 14))
    (assert (= (sum-squares 0) 0))))
'''

FIX = '(defn sum-squares [n]\n  "The sum of the squares of 1..n."\n  (sum (lfor i (range 1 (+ n 1)) (* i i))))'
ESCAPE = '(defn sum-squares [n] (. n __class__) 0)'
UNBOUND = '(defn sum-squares [n] (os-system "rm -rf /") 0)'


def _model(prompts: list[str]) -> Callable[[str | None], Callable[[str], str]]:
    def complete(model: str | None) -> Callable[[str], str]:
        def reply(prompt: str) -> str:
            prompts.append(prompt)
            return "".join(f"```hy\n{source}\n```\n" for source in (UNBOUND, ESCAPE, FIX))
        return reply
    return complete


def _run(breeder: Breeder, agent: Agent) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    data = breeder.start()["request"]
    while data is not None:
        told = breeder.tell([a.as_data() for a in evaluate(agent, EvaluationRequest.from_data(data))])
        rows += told["individuals"]
        data = told["request"]
    return rows


def test_model_written_proposals_join_the_generation_and_seed_the_winner(tmp_path: Path) -> None:
    seed = tmp_path / "squares.hy"
    seed.write_text(SQUARES)
    agent = Agent.load(seed, tmp_path / "data")
    prompts: list[str] = []
    lines: list[str] = []
    share = LLMShare(agent, "sum-squares", "llm", ["author"], hypothesis="compute the sum, do not return 0",
                     complete=_model(prompts), log=lines.append)
    breeder = Breeder(agent, "sum-squares", {"population": 8, "generations": 3, "seed": 4}, writer=share)
    rows = _run(breeder, agent)

    written = [row for row in rows if row["operator"] == "llm:author"]
    assert {row["stage"] for row in written} == {"done", "scan"}  # the fix ran; the escape stopped at the scan
    escape = next(row for row in written if row["stage"] == "scan")
    assert "__class__" in escape["reason"]
    sources = {i.source for i in breeder.search.individuals.values()}
    assert not any("os-system" in s for s in sources)  # the unbound name never reached an evaluator
    assert any(line.startswith("generation 1: 2 model-written proposal(s) of ") for line in lines), lines
    assert "generation 1: 1 of llm:author's candidates were already in the run or failed the scope check" in lines

    best = breeder.best()  # mutation cannot write a loop from `0`: the winner descends from the model's fix
    assert best["improved"] is True and "(sum (lfor i (range " in best["best"]["source"]
    individuals = breeder.search.individuals
    lineage, frontier = set(), [best["best"]["id"]]
    while frontier:
        ident = frontier.pop()
        lineage.add(ident)
        frontier += [p for p in individuals[ident].parents if p not in lineage]
    assert any(individuals[i].operator == "llm:author" and "(range 1 (+ n 1))" in individuals[i].source
               for i in lineage)

    prompt = prompts[0]
    assert '"The sum of the squares of 1..n."' in prompt and "compute the sum, do not return 0" in prompt
    assert "test sums: <squares/defs/sums.hy>:2:5: AssertionError: (= (sum-squares 1) 1): 0 != 1" in prompt
    assert "(assert (= (sum-squares 3) 14))" in prompt  # failing check, the test
    assert ";; cube (defn): The cube of n." in prompt  # other definitions' docstrings
    assert "A candidate evaluated so far (best: passes 3 of 3 checks" in prompts[-1]  # later generations


def test_a_resumed_generation_is_not_written_twice_and_mixed_may_leave_slots_to_mutation(tmp_path: Path) -> None:
    seed = tmp_path / "squares.hy"
    seed.write_text(SQUARES)
    agent = Agent.load(seed, tmp_path / "data")
    prompts: list[str] = []
    share = LLMShare(agent, "sum-squares", "llm", ["author"], complete=_model(prompts), log=lambda line: None)
    breeder = Breeder(agent, "sum-squares", {"population": 8, "generations": 3, "seed": 4}, writer=share)
    data = breeder.start()["request"]
    assert [p["id"] for p in data["proposals"]] == [PARENT_ID] and prompts == []  # not for the parent
    told = breeder.tell([a.as_data() for a in evaluate(agent, EvaluationRequest.from_data(data))])
    assert len(prompts) == 1 and sum(p["operator"] == "llm:author" for p in told["request"]["proposals"]) == 2
    plain = Breeder(agent, "sum-squares", {"population": 8, "generations": 3, "seed": 4})
    bred = plain.tell([a.as_data() for a in evaluate(agent, EvaluationRequest.from_data(plain.start()["request"]))])
    assert len(told["request"]["proposals"]) == len(bred["request"]["proposals"])  # in place of bred children
    assert [p["id"] for p in told["request"]["proposals"][:-2]] == [p["id"] for p in bred["request"]["proposals"][:-2]]
    state = breeder.state()["state"]
    again = LLMShare(agent, "sum-squares", "llm", ["author"], complete=_model(prompts), log=lambda line: None)
    resumed = Breeder(agent, "sum-squares", {}, state=state, writer=again)
    assert resumed.start()["request"] == told["request"] and len(prompts) == 1

    mutation_favoured = {"evolution": {"stats": {"arms": {"mutation": {"tried": 50, "promoted": 40},
                                                          "llm:author": {"tried": 50, "promoted": 0}}}}}
    agent.state.data.update(mutation_favoured)
    mixed = LLMShare(agent, "sum-squares", "mixed", ["author"], complete=_model(prompts), log=lambda line: None)
    other = Breeder(agent, "sum-squares", {"population": 8, "generations": 3, "seed": 4}, writer=mixed)
    data = other.start()["request"]
    told = other.tell([a.as_data() for a in evaluate(agent, EvaluationRequest.from_data(data))])
    assert not any(p["operator"].startswith("llm") for p in told["request"]["proposals"])  # the bandit chose mutation
    assert len(prompts) == 1  # and no model was asked


def test_the_hook_is_built_only_for_llm_and_mixed(tmp_path: Path) -> None:
    seed = tmp_path / "squares.hy"
    seed.write_text(SQUARES)
    agent = Agent.load(seed, tmp_path / "data")
    assert llm_share(agent, "sum-squares", {"generator": "mutation"}) is None
    hook = llm_share(agent, "sum-squares", {"generator": "mixed", "model": "a,b", "hypothesis": "h"})
    assert hook is not None and hook.models == ["a", "b"] and hook.choice == "mixed" and hook.hypothesis == "h"
