"""LLM-written evolution candidates: `o-lisp evolve --generator llm --model NAME` asks the
model (through the agent's own runtime, in the baseline shadow) with a prompt holding the
definition, the failing checks and the hypothesis; its answer goes through the same
validation as any candidate — promoted when better, stopped by the sandbox when it tries
an escape."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from o_lisp.agent._repo import CodeRepository
from o_lisp.cli import main
from tests.llm.fakes import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
CALCULATOR = ROOT / "agents" / "calculator.hy"


class Author(FakeOpenAI):
    """A 'model' that answers every prompt with the same code blocks."""

    def __init__(self, answer: str) -> None:
        super().__init__()
        self.answer_text = answer

    def reply(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": request["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": self.answer_text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 300, "completion_tokens": 40, "total_tokens": 340}}


def _evolve(tmp_path: Path, author: Author, *extra: str) -> Any:
    config = tmp_path / "o-lisp.toml"
    config.write_text(f'[llm.models.author]\nprovider = "openai"\nmodel = "writer"\nbase_url = "{author.base_url}"\n'
                      'retries = 0\n')
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        return CliRunner().invoke(main, ["--config", str(config), "evolve", str(CALCULATOR), "square", "--data",
                                         str(tmp_path / "data"), "--generator", "llm", "--model", "author",
                                         "--candidates", "2", "--hypothesis", "drop the busy work", "--json",
                                         *extra], env={"O_API_TOKEN": ""})
    finally:
        os.chdir(old)


def test_a_model_written_candidate_is_validated_and_promoted(tmp_path: Path) -> None:
    author = Author("Here is a faster version:\n```hy\n(defn square [x]\n  (** x 2))\n```\n")
    try:
        result = _evolve(tmp_path, author)
    finally:
        author.close()
    assert result.exit_code == 0, result.output
    cycle = json.loads(result.stdout)
    assert cycle["status"] == "promoted"
    [candidate] = cycle["candidates"]
    assert (candidate["generator"], candidate["verdict"]) == ("llm", "promoted")
    assert "(** x 2)" in candidate["source"] and "range" not in candidate["source"]
    [request] = author.requests
    prompt = request["messages"][-1]["content"]
    assert "(for [i (range 0 20000 1)] i)" in prompt  # the definition
    assert "drop the busy work" in prompt  # the hypothesis


def test_a_model_that_proposes_an_escape_is_stopped_and_recorded(tmp_path: Path) -> None:
    author = Author("```hy\n(defn square [x]\n  (.system (__import__ \"os\") \"true\")\n  (** x 2))\n```\n")
    try:
        result = _evolve(tmp_path, author)
    finally:
        author.close()
    assert result.exit_code == 1, result.output
    cycle = json.loads(result.stdout)
    assert cycle["status"] == "rejected"
    [candidate] = cycle["candidates"]
    assert (candidate["generator"], candidate["verdict"]) == ("llm", "rejected")
    assert "__import__ at 2:13: dunder names are outside the sandbox" in candidate["reason"]
    rejected = [e for e in CodeRepository.open(tmp_path / "data" / "code").history(all=True) if e.rejected]
    assert [e.trailers.get("Generator") for e in rejected] == ["llm"]  # the attempt is in the agent's history
    assert rejected[0].trailers.get("Stage"), rejected[0].trailers


def test_a_reply_without_a_definition_fails_the_cycle_saying_why(tmp_path: Path) -> None:
    author = Author("I would rather not write code today.")
    try:
        result = _evolve(tmp_path, author)
    finally:
        author.close()
    assert result.exit_code == 1, result.output
    cycle = json.loads(result.stdout)
    assert cycle["status"] == "failed"
    assert "the llm generator wrote no candidate: the reply holds no code block or definition" in \
        cycle["events"][-1]["message"]


def test_search_replace_edits_from_the_model_are_validated_like_whole_forms(tmp_path: Path) -> None:
    """An edit that drops the busy work is promoted; an edit that slips in an escape is
    stopped by the same scan a whole form meets, and recorded."""
    author = Author("Drop the loop:\n```\n<<<<<<< SEARCH\n    (for [i (range 0 20000 1)] i)\n=======\n>>>>>>> REPLACE\n```\n"
                    "Or:\n```\n<<<<<<< SEARCH\n(** x 2)\n=======\n(.system (__import__ \"os\") \"true\") (** x 2)\n"
                    ">>>>>>> REPLACE\n```\n")
    try:
        result = _evolve(tmp_path, author)
    finally:
        author.close()
    assert result.exit_code == 0, result.output
    cycle = json.loads(result.stdout)
    assert cycle["status"] == "promoted"
    verdicts = {c["source"]: (c["generator"], c["verdict"], c.get("reason", "")) for c in cycle["candidates"]}
    assert len(verdicts) == 2
    promoted = next(source for source, (_, verdict, _) in verdicts.items() if verdict == "promoted")
    assert "range" not in promoted and "(** x 2)" in promoted and promoted.startswith("(defn square [x]")
    escape = next(source for source in verdicts if "__import__" in source)
    generator, verdict, reason = verdicts[escape]
    assert (generator, verdict) == ("llm", "rejected") and "dunder names are outside the sandbox" in reason
    rejected = [e for e in CodeRepository.open(tmp_path / "data" / "code").history(all=True) if e.rejected]
    assert [e.trailers.get("Generator") for e in rejected] == ["llm"]


def test_several_models_share_the_generation_and_the_outcome_is_credited_to_the_one_that_wrote_it(
        tmp_path: Path) -> None:
    """`--model author,second`: the bandit gives each slot to a model; the promoted candidate
    names its model (cycle record, `Model:` trailer) and its arm's count is in the agent's
    durable learning statistics, next to the operator rates."""
    from o_lisp.agent._durable import durable_agent

    author = Author("```hy\n(defn square [x]\n  (** x 2))\n```\n")
    config = tmp_path / "o-lisp.toml"
    config.write_text("".join(f'[llm.models.{name}]\nprovider = "openai"\nmodel = "{name}-model"\n'
                              f'base_url = "{author.base_url}"\nretries = 0\n' for name in ("author", "second")))
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(main, ["--config", str(config), "evolve", str(CALCULATOR), "square", "--data",
                                           str(tmp_path / "data"), "--generator", "llm", "--model", "author,second",
                                           "--candidates", "2", "--json"], env={"O_API_TOKEN": ""})
    finally:
        os.chdir(old)
        author.close()
    assert result.exit_code == 0, result.output
    cycle = json.loads(result.stdout)
    [candidate] = cycle["candidates"]  # both models wrote the same form: kept once
    model = candidate["model"]
    assert model in ("author", "second") and candidate["verdict"] == "promoted"
    assert {request["model"] for request in author.requests} <= {"author-model", "second-model"}
    assert f"{model}-model" in {request["model"] for request in author.requests}
    [promoted] = [e for e in CodeRepository.open(tmp_path / "data" / "code").history() if e.trailers.get("Model")]
    assert promoted.trailers["Model"] == model and promoted.trailers["Generator"] == "llm"
    with durable_agent(CALCULATOR, tmp_path / "data") as run:
        stats = run.agent.state.data["evolution"]["stats"]
    assert stats["arms"] == {f"llm:{model}": {"tried": 1, "promoted": 1}}
    assert stats["by_operator"] == {"llm": {"tried": 1, "promoted": 1}}


SQUARES = '''(defagent squares
  :version "0.1.0"
  :doc "Sums of squares."

  (defn sum-squares [n]
    "The sum of the squares of 1..n."
    0)

  (deftest sums
    (assert (= (sum-squares 1) 1))
    (assert (= (sum-squares 3) 14))
    (assert (= (sum-squares 0) 0))))
'''


def test_a_population_run_takes_a_share_of_its_proposals_from_the_model(tmp_path: Path) -> None:
    """`--population --generator llm`: the breeder asks the model (through the agent's
    runtime, the OpenAI fake) each generation; mutation alone cannot write the loop the
    fix needs, the model's proposal (evaluated like any individual) lets the run repair
    the definition, and the promoted commit says so."""
    author = Author("```hy\n(defn sum-squares [n]\n  \"The sum of the squares of 1..n.\"\n"
                    "  (sum (lfor i (range 1 (+ n 1)) (* i i))))\n```\n")
    agent = tmp_path / "squares.hy"
    agent.write_text(SQUARES)
    config = tmp_path / "o-lisp.toml"
    config.write_text(f'[llm.models.author]\nprovider = "openai"\nmodel = "writer"\nbase_url = "{author.base_url}"\n'
                      'retries = 0\n')
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(main, ["--config", str(config), "evolve", str(agent), "sum-squares", "--data",
                                           str(tmp_path / "data"), "--population", "8", "--generations", "2",
                                           "--seed", "3", "--workers", "1", "--generator", "llm", "--model", "author",
                                           "--hypothesis", "sum the squares", "--json"], env={"O_API_TOKEN": ""})
    finally:
        os.chdir(old)
        author.close()
    assert result.exit_code == 0, result.output
    cycle = json.loads(result.stdout)
    assert cycle["status"] == "promoted", cycle["events"]
    run = cycle["population"]
    assert run["best"]["checks_passed"] == run["best"]["checks_total"] == 3
    assert "(lfor i (range" in run["best"]["source"]
    assert author.requests and "sum the squares" in author.requests[0]["messages"][-1]["content"]
    assert "(assert (= (sum-squares 3) 14))" in author.requests[0]["messages"][-1]["content"]
    from o_lisp.agent._durable import durable_agent

    with durable_agent(agent, tmp_path / "data") as live:  # the breeder's model calls are on the live agent's day
        day = live.agent.state.data["llm"]["day"]
    assert day["requests"] == len(author.requests) and day["input_tokens"] == 300 * len(author.requests)
    assert any("model usage charged to the agent's day" in e["message"] for e in cycle["events"])
