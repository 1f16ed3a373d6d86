"""`evolution_evaluate` and `evolution_scope` served by real worker processes (the main
worker and a shadow under its process limits), over the protocol: the reply crosses the
pipe as msgpack, and evaluating writes neither the guardian's WAL nor the repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pygit2
from guardian_harness import make_config, run_guardian

from o_lisp.evolution._individual import Evaluation, EvaluationRequest, Proposal
from o_lisp.guardian._protocol import Error, Reply, Request, WorkerSpec
from o_lisp.guardian._supervisor import Guardian

AGENT = """\
(defagent tester
  :version "1.0.0"
  (defn twice [x] (+ x x x))
  (deftest doubles
    (assert (= (twice 0) 0))
    (assert (= (twice 1) 2))
    (assert (= (twice 2) 4)))
  (deffitness small (twice 1)))
"""

REQUEST = EvaluationRequest((
    Proposal("parent", "twice", "(defn twice [x] (+ x x x))", operator="seed"),
    Proposal("fix", "twice", "(defn twice [x] (state-set! \"seen\" x) (* 2 x))"),
    Proposal("spin", "twice", "(defn twice [x] (while True x))"),
), step_limit=5_000, spectrum=True)


def check(reply: dict[str, Any]) -> None:
    parent, fix, spin = (Evaluation.from_data(e) for e in reply["evaluations"])
    assert (parent.stage, parent.checks_passed, parent.checks_total) == ("done", 1, 3)
    assert parent.failed_checks == ("doubles#2", "doubles#3") and parent.spectrum
    assert (fix.stage, fix.checks_passed, fix.fitness) == ("done", 3, (("small", 2.0),))
    assert spin.stage == "checks" and spin.steps == 5_000


def test_main_and_shadow_workers_evaluate_without_writing_the_wal_or_git(tmp_path: Path) -> None:
    config = make_config(tmp_path, AGENT)

    async def scenario(guardian: Guardian) -> None:
        head = pygit2.Repository(str(config.data_dir / "code")).head.target
        wal_before = guardian.health()["wal_seq"]
        assert isinstance(wal_before, int)
        check(await guardian.request("evolution_evaluate", REQUEST.as_data()))
        scope = await guardian.request("evolution_scope", {})
        assert "twice" in scope["globals"] and "if" in scope["special_forms"]
        spec = WorkerSpec(agent=str(config.agent.absolute()), data_dir=str(config.data_dir.absolute()),
                          role="shadow", scratch_dir=str(tmp_path / "scratch"), cpu_seconds=60)
        shadow = await guardian.launch_shadow(spec)
        try:
            answer = await shadow.call(Request(id=shadow.writer.next_id(), method="evolution_evaluate",
                                               args=REQUEST.as_data(), timeout=30.0), 30.0)
            assert isinstance(answer, Reply)
            check(answer.result)
            refused = await shadow.call(Request(id=shadow.writer.next_id(), method="evolution_evaluate",
                                                args={"proposals": []}, timeout=30.0), 30.0)
            assert isinstance(refused, Error) and refused.code == "bad_request"
            assert "'proposals' must be a non-empty list" in refused.message
        finally:
            await shadow.terminate("test done", timeout=5.0)
        assert guardian.health()["wal_seq"] == wal_before
        assert pygit2.Repository(str(config.data_dir / "code")).head.target == head
        assert (tmp_path / "scratch" / "mutations.msgpack").read_bytes() == b""

    run_guardian(scenario, config)
