"""The bandit over candidate sources: Thompson draws on Beta posteriors, seeded, favouring
the arm that has been promoted while still exploring; its counts kept next to the
operator rates and never dropped by them; and `write_candidates` sharing a generation's
slots between the offline generators and two models, one useless."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from o_lisp.agent._agent import Agent
from o_lisp.evolution._bandit import allocate, arm_name, counts, draw, updated
from o_lisp.evolution._generators import GenerationContext
from o_lisp.evolution._generators import updated as operator_updated
from o_lisp.worker._write import WriteError, models_of, write_candidates

CALCULATOR = Path(__file__).resolve().parents[2] / "agents" / "calculator.hy"


def _stats(**arms: tuple[int, int]) -> dict[str, object]:
    return {"arms": {arm.replace("_", ":"): {"tried": t, "promoted": p} for arm, (t, p) in arms.items()}}


def test_arm_names() -> None:
    assert [arm_name("mutation"), arm_name("template"), arm_name("llm"), arm_name("llm", "gpt")] == \
        ["mutation", "mutation", "llm", "llm:gpt"]


def test_draws_are_seeded_and_follow_the_measured_success_rates() -> None:
    stats = _stats(mutation=(20, 4), llm_good=(20, 8), llm_bad=(20, 0))
    arms = ["mutation", "llm:good", "llm:bad"]
    assert allocate(stats, arms, random.Random(7), 50) == allocate(stats, arms, random.Random(7), 50)
    quota = allocate(stats, arms, random.Random(1), 1000)
    assert sum(quota.values()) == 1000
    assert quota["llm:good"] > 850 and 40 < quota["mutation"] < 150 and quota["llm:bad"] < 10


def test_an_untried_arm_is_still_explored() -> None:
    stats = _stats(mutation=(30, 3))
    quota = allocate(stats, ["mutation", "llm:new"], random.Random(3), 400)
    assert 100 < quota["llm:new"] < 390  # Beta(1,1) against Beta(4,28): explored, not starved nor favoured blindly
    with pytest.raises(ValueError):
        draw(stats, [], random.Random(0))


def test_updates_count_outcomes_and_keep_the_operator_tables_and_vice_versa() -> None:
    stats = operator_updated({}, "square", "llm", "edit", "promoted")
    stats = updated(stats, "llm:author", True)
    stats = updated(stats, "llm:author", False)
    assert counts(stats, "llm:author") == (2, 1) and counts(stats, "mutation") == (0, 0)
    assert stats["by_operator"] == {"llm/edit": {"tried": 1, "promoted": 1}}
    again = operator_updated(stats, "square", "mutation", "simplify", "rejected")
    assert again["arms"] == stats["arms"]  # the operator learning does not drop the bandit's counts
    assert counts({"arms": {"x": {"tried": -4, "promoted": 9}}}, "x") == (0, 0)
    assert counts({"arms": "garbage"}, "x") == (0, 0)


def test_models_of_a_request() -> None:
    assert models_of(None) == [None] and models_of("") == [None] and models_of(" , ") == [None]
    assert models_of("a, b,a") == ["a", "b"]
    with pytest.raises(WriteError):
        models_of(["a"])
    with pytest.raises(WriteError, match="at most 8 models"):
        models_of(",".join(f"m{i}" for i in range(9)))


def test_a_generation_is_shared_between_sources_and_a_useless_model_is_topped_up(tmp_path: Path) -> None:
    agent = Agent.load(CALCULATOR, tmp_path / "data")
    target = agent.definitions["square"]
    asked: list[str | None] = []

    def complete(model: str | None):  # type: ignore[no-untyped-def]
        def reply(prompt: str) -> str:
            asked.append(model)
            assert "(for [i (range 0 20000 1)] i)" in prompt
            if model == "good":
                return "```hy\n(defn square [x] (* x x))\n```\n```hy\n(defn square [x] (** x 2))\n```"
            return "I cannot write Lisp."
        return reply

    others = tuple(d for d in agent.definitions.values() if d.name != "square")
    favour_good = _stats(mutation=(20, 1), llm_good=(20, 15), llm_bad=(20, 0))
    context = GenerationContext(target=target, others=others, stats=favour_good)
    candidates, problems, quota = write_candidates(agent, context, "mixed", ["good", "bad"], random.Random(5), 4,
                                                   complete)
    assert sum(quota.values()) == 4 and quota["llm:good"] >= 3
    assert len(candidates) == 4
    llm = [c for c in candidates if c.generator == "llm"]
    assert {c.model for c in llm} == {"good"} and len(llm) == 2  # the model wrote two; the rest are mutations
    assert all(c.model == "" for c in candidates if c.generator != "llm")
    if quota["llm:bad"]:
        assert "llm:bad generator: the reply holds no code block or definition" in problems
    assert set(asked) <= {"good", "bad"} and asked.count("good") == 1

    only_llm = GenerationContext(target=target, others=others, stats=favour_good, failures=("test x: y",))
    candidates, _, quota = write_candidates(agent, only_llm, "llm", ["bad"], random.Random(5), 3, complete)
    assert candidates == [] and quota == {"llm:bad": 3}  # no offline arm to fill in: the lab says why
