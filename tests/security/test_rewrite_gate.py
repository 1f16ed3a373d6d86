"""The rewrite gate agent code cannot touch (issue 12, family 5).

A candidate's definition-time code (default arguments, `setv` values) used to run in the
scratch copy with every registration builtin in reach: `agent-define-test` replaced the
test that judged it with `(fn [] True)`, and a rewrite that violated its test was
committed (and, under the guardian, promoted). Now a registration is accepted only from
the definition of that name while it loads, a definition may bind only its own name, the
code under test may not rebind what later tests rely on, and agent code may not rewrite
its own tests. Each attempt is rejected and recorded as a rejected candidate.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from o_lisp import read
from o_lisp._errors import SandboxViolation
from o_lisp.agent._agent import Agent, ToolError
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.agent._repo import CANDIDATES_REF
from o_lisp.evolution._validate import ValidationThresholds, validate

SEED = """\
(defagent gated
  :version "1.0.0"
  (defn answer [] "polite")
  (defn helper [] 1)
  (setv limit 100)
  (deftool shout [text :str] (.upper text))
  (when-> :name reply (= msg "hi") (answer))
  (when-> :name attack (= msg "attack")
    (setv result (rewrite! 'answer (hy.read (state-get "candidate")) :reason "faster"))
    (if (get result "accepted") "accepted" (+ "rejected: " (.join "; " (get result "failures")))))
  (when-> :name evolve (= msg "evolve")
    (evolve! 'answer :hypothesis "faster" :candidate (hy.read (state-get "candidate"))))
  (deftest answer-is-polite
    (assert (not-in "stupid" (answer)))
    (assert (= (helper) 1))
    (assert (= (len "abc") 3))
    (assert (= (shout "a") "A"))
    (assert (< limit 1000))))
"""

# Each candidate violates the test (it answers "stupid") and tries to get past it.
ATTACKS = {
    "test replaced by a default argument":
        '(defn answer [[_ (agent-define-test "answer-is-polite" (fn [] True))]] "stupid")',
    "test replaced by a setv in a default":
        '(defn answer [[_ (do (setv _x (agent-define-test "answer-is-polite" (fn [] True))) 1)]] "stupid")',
    "fitness registered by a default":
        '(defn answer [[_ (agent-define-fitness "answer-is-polite" (fn [] 1.0))]] "stupid")',
    "registration builtin rebound by a default":
        '(defn answer [[_ (setv agent-define-test (fn [n f] None))]] "stupid")',
    "rule replaced by a default":
        '(defn answer [[_ (agent-define-rule "reply" (fn [msg event] "polite"))]] "stupid")',
    "helper rebound by a default":
        '(defn answer [[_ (setv helper (fn [] 1))]] "stupid")',
    "tool rebound by a default":
        '(defn answer [[_ (setv shout (fn [t] "A"))]] "stupid")',
    "safe builtin shadowed by a default":
        '(defn answer [[_ (setv len (fn [x] 3))]] "stupid")',
    "value definition rebound by a default":
        '(defn answer [[_ (setv limit 1)]] "stupid")',
    "stdlib function rebound by a default":
        '(defn answer [[_ (setv inc (fn [x] x))]] "stupid")',
    "assert's exception class shadowed by a default":
        '(defn answer [[_ (setv AssertionError ValueError)]] "stupid")',
    "DSL macro redefined by a default":
        "(defn answer [[_ (hy.eval '(defmacro deftest [#* a] None))]] \"stupid\")",
}
# The body runs during the tests: it must not short-circuit the tests that follow.
RUNTIME_ATTACKS = {
    "test replaced at run time":
        '(defn answer [] (agent-define-test "answer-is-polite" (fn [] True)) "stupid")',
    "helper rebound at run time":
        '(defn answer [] (global helper) (setv helper (fn [] 2)) "polite")',
}


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    seed = tmp_path / "gated.hy"
    seed.write_text(SEED)
    return Agent.load(seed, tmp_path / "data")


def rejected_log(agent: Agent) -> str:
    return subprocess.run(["git", "-C", str(agent.data_dir / "code"), "log", "--format=%s%n%b", CANDIDATES_REF],
                          check=True, capture_output=True, text=True).stdout


def assert_untouched(agent: Agent, head: str) -> None:
    assert agent.repository.head() == head
    assert agent.handle("hi") == "polite"
    assert agent.definitions["answer"].source == '(defn answer [] "polite")'
    assert agent.run_tests().ok


@pytest.mark.parametrize("source", list(ATTACKS.values()) + list(RUNTIME_ATTACKS.values()),
                         ids=list(ATTACKS) + list(RUNTIME_ATTACKS))
def test_host_rewrite_with_a_gate_attack_is_rejected_and_recorded(agent: Agent, source: str) -> None:
    head = agent.repository.head()
    result = agent.rewrite("answer", read(source), reason="faster")
    assert not result.accepted and result.failures
    assert_untouched(agent, head)
    assert "Rejected:" in rejected_log(agent)


@pytest.mark.parametrize("source", list(ATTACKS.values()), ids=list(ATTACKS))
def test_rewrite_bang_from_agent_code_is_rejected(agent: Agent, source: str) -> None:
    """The exact attack of the issue: agent code calls `rewrite!` with the candidate."""
    head = agent.repository.head()
    agent.state.apply("context_set", {"key": "candidate", "value": source, "time": 1.0})
    answer = agent.handle("attack")
    assert answer is not None and answer.startswith("rejected: ")
    assert "can only be declared by its own definition" in answer or "rebinds" in answer
    assert_untouched(agent, head)
    assert "faster" in rejected_log(agent)


def test_under_propose_mode_the_attack_never_becomes_an_intent(agent: Agent) -> None:
    agent.propose_rewrites = True
    agent.state.apply("context_set", {"key": "candidate", "value": ATTACKS["test replaced by a default argument"],
                                      "time": 1.0})
    assert agent.handle("attack").startswith("rejected: ")
    assert agent.state["evolution"]["intents"] == []


@pytest.mark.parametrize("source", list(ATTACKS.values()), ids=list(ATTACKS))
def test_evolve_bang_candidate_is_rejected_by_the_validation_the_guardian_runs(agent: Agent, source: str) -> None:
    """`evolve!` only records an intent; the guardian validates its candidate with
    `validate` before any shadow serves it. That validation rejects every attack."""
    agent.state.apply("context_set", {"key": "candidate", "value": source, "time": 1.0})
    intent_id = agent.handle("evolve")
    (intent,) = agent.state["evolution"]["intents"]
    assert intent["id"] == intent_id and intent["origin"] == "agent"
    candidate = Definition("answer", DefinitionKind.FUNCTION, intent["source"])
    report = validate(agent, candidate, ValidationThresholds(runs=2, warmup=0))
    assert not report.ok, report.reason
    if "hy.eval" in source:  # the static scan refuses built code before anything runs
        assert report.stage == "scan"
    else:
        assert report.stage == "tests"
        assert "can only be declared" in report.reason or "rebinds" in report.reason
    assert agent.handle("hi") == "polite"


def test_the_validation_pipeline_rejects_run_time_rebinding(agent: Agent) -> None:
    candidate = Definition("answer", DefinitionKind.FUNCTION, RUNTIME_ATTACKS["helper rebound at run time"])
    report = validate(agent, candidate, ValidationThresholds(runs=2, warmup=0))
    assert not report.ok and report.stage == "tests"
    assert "rebinds helper at run time" in report.reason


def test_agent_code_may_not_rewrite_or_evolve_its_tests(agent: Agent) -> None:
    head = agent.repository.head()
    agent.state.apply("context_set", {"key": "candidate", "value": "(deftest answer-is-polite True)", "time": 1.0})
    result = agent._rewrite_builtin("answer-is-polite", read("(deftest answer-is-polite True)"), "disable it")
    assert not result["accepted"]
    assert "may not rewrite its deftest" in result["failures"][0]
    with pytest.raises(ToolError, match="may not evolve its deftest"):
        agent._evolve_builtin("answer-is-polite", "disable it", read("(deftest answer-is-polite True)"))
    assert agent.repository.head() == head
    # the operator (host API) still can
    assert agent.rewrite("answer-is-polite", read("(deftest answer-is-polite (assert (= (answer) \"polite\")))"),
                         reason="tighter").accepted


def test_registration_at_run_time_is_refused_in_the_live_agent(agent: Agent) -> None:
    """Agent code cannot replace its own tests or rules later either."""
    with pytest.raises(SandboxViolation, match="can only be declared by its own definition, not at run time"):
        agent.interpreter.eval('(agent-define-test "answer-is-polite" (fn [] True))')
    with pytest.raises(SandboxViolation):
        agent.interpreter.eval('(agent-define-rule "reply" (fn [msg event] "stupid"))')
    assert agent.handle("hi") == "polite"
    assert agent.run_tests().ok


def test_a_seed_whose_definition_rebinds_another_fails_to_load_clearly(tmp_path: Path) -> None:
    seed = tmp_path / "bad.hy"
    seed.write_text('(defagent bad (defn a [] 1) (defn b [[_ (setv a (fn [] 2))]] 1))')
    with pytest.raises(SandboxViolation, match="definition b rebinds a while it loads"):
        Agent.load(seed, tmp_path / "data")


# -- the guardian: POST /v1/evolution with the attack ------------------------------------------

TOKEN = "gate-token"


def test_post_evolution_with_the_attack_is_rejected_and_never_promoted(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from o_lisp.guardian._http import create_app
    from o_lisp.guardian._supervisor import Guardian, GuardianConfig

    seed = tmp_path / "gated.hy"
    seed.write_text(SEED)
    config = GuardianConfig(agent=seed, data_dir=tmp_path / "data", request_timeout=30.0)

    async def main() -> dict[str, Any]:
        guardian = Guardian(config)
        await guardian.start()
        try:
            async with TestClient(TestServer(create_app(guardian, token=TOKEN))) as client:
                response = await client.post("/v1/evolution", headers={"Authorization": f"Bearer {TOKEN}"}, json={
                    "definition": "answer", "hypothesis": "faster",
                    "candidate": ATTACKS["test replaced by a default argument"]})
                assert response.status == 202, await response.text()
                cycle_id = (await response.json())["id"]
                cycle = await guardian.evolution.wait(cycle_id, timeout=240)
                assert await guardian.request("message", {"text": "hi"}) == "polite"
                return cycle
        finally:
            await guardian.stop()

    cycle = asyncio.run(main())
    (candidate,) = cycle["candidates"]
    assert cycle["status"] == "rejected" and cycle["result"] is None
    assert candidate["stage"] == "tests"
    assert "can only be declared by its own definition" in candidate["reason"]


# -- item 4: nothing hot-swapped that is not committed ---------------------------------------------


def test_a_rewrite_of_an_unknown_name_is_refused_like_evolve(agent: Agent) -> None:
    head = agent.repository.head()
    long_name = "a" * 300
    result = agent.rewrite(long_name, read(f"(defn {long_name} [] 1)"), reason="new")
    assert not result.accepted and "has no definition" in result.failures[0]
    assert long_name not in agent.definitions
    assert long_name not in agent.interpreter.names()
    assert agent.repository.head() == head
    with pytest.raises(ToolError, match="has no definition"):
        agent.evolve(long_name, hypothesis="new")


def test_an_unchanged_rewrite_is_refused_before_anything_runs(agent: Agent) -> None:
    head = agent.repository.head()
    result = agent.rewrite("answer", read('(defn answer [] "polite")'), reason="same")
    assert not result.accepted and "nothing to change" in result.failures[0]
    assert agent.repository.head() == head


def test_a_commit_that_fails_after_the_swap_reloads_the_committed_code(agent: Agent, monkeypatch: Any) -> None:
    head = agent.repository.head()

    def broken(*args: Any, **kwargs: Any) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(agent.repository, "commit_definition", broken)
    with pytest.raises(OSError, match="disk full"):
        agent.rewrite("answer", read('(defn answer [] "kind")'), reason="kinder")
    assert agent.repository.head() == head
    assert agent.handle("hi") == "polite"
    assert agent.definitions["answer"].source == '(defn answer [] "polite")'


def test_fitness_tasks_cannot_be_short_circuited_by_the_code_they_run(tmp_path: Path) -> None:
    """The first task runs code that rebinds the helper the second task scores with."""
    from o_lisp.evolution._validate import run_fitness

    seed = tmp_path / "fit.hy"
    seed.write_text("""\
(defagent fit
  (defn helper [] 0.1)
  (defn work [] (global helper) (setv helper (fn [] 1.0)) 0.5)
  (deffitness a-works (work))
  (deffitness b-helps (helper)))
""")
    agent = Agent.load(seed, tmp_path / "data")
    run = run_fitness(agent.scratch(), 1)
    assert "rebinds helper at run time" in run.errors["a-works"]
    assert run.scores["b-helps"] == [0.1]  # the rebinding was undone before the next task
