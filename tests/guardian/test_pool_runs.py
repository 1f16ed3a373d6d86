"""The evaluator pool (`o_lisp.guardian._pool`) with scripted workers, and the run directory
(`o_lisp.guardian._runs`): order, parallelism, dead and hung workers, atomic checkpoints,
resume points. The pool against real shadow workers is in tests/guardian/test_population.py."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from o_lisp.evolution._individual import Evaluation, EvaluationRequest, Proposal
from o_lisp.guardian._pool import DIED_STAGE, ShadowPool, WorkerDied
from o_lisp.guardian._runs import RunError, RunStore, new_run_id, valid_run_id


class FakeWorker:
    """Answers `evolution_evaluate` after `delay` seconds per proposal; a proposal whose source
    is "die" kills it (WorkerDied), "hang" makes it sleep past any timeout."""

    def __init__(self, log: list[tuple[str, float, float]], number: int, delay: float) -> None:
        self.log = log
        self.number = number
        self.delay = delay
        self.closed = False
        self.busy = False

    async def evaluate(self, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert not self.busy, "a worker got two calls at once"
        self.busy = True
        try:
            request = EvaluationRequest.from_data(args)
            start = time.monotonic()
            out = []
            for proposal in request.proposals:
                if proposal.source == "die":
                    raise WorkerDied(f"worker {self.number} was killed by SIGKILL")
                if proposal.source == "hang":
                    try:
                        await asyncio.wait_for(asyncio.sleep(3600), timeout)
                    except TimeoutError:
                        raise WorkerDied(f"evolution_evaluate took longer than {timeout:g} s") from None
                await asyncio.sleep(self.delay)
                out.append(Evaluation(id=proposal.id, stage="done", checks_passed=int(proposal.source),
                                      checks_total=9, steps=request.step_limit or 0).as_data())
            self.log.append((f"w{self.number}", start, time.monotonic()))
            return {"evaluations": out}
        finally:
            self.busy = False

    async def close(self) -> None:
        self.closed = True


class Spawner:
    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.workers: list[FakeWorker] = []
        self.log: list[tuple[str, float, float]] = []

    async def __call__(self) -> FakeWorker:
        if self.fail:
            raise WorkerDied("the shadow did not start: no zygote")
        worker = FakeWorker(self.log, len(self.workers), self.delay)
        self.workers.append(worker)
        return worker


def request(*sources: str, step_limit: int = 77) -> EvaluationRequest:
    return EvaluationRequest(tuple(Proposal(f"i{n}", "f", s) for n, s in enumerate(sources)), step_limit=step_limit)


def test_answers_come_back_in_request_order_with_the_request_settings() -> None:
    spawner = Spawner()
    pool = ShadowPool(spawner, 3, chunk_size=2)
    sources = [str(n % 7) for n in range(11)]
    evaluations = asyncio.run(pool.evaluate(request(*sources)))
    assert [e.id for e in evaluations] == [f"i{n}" for n in range(11)]
    assert [e.checks_passed for e in evaluations] == [int(s) for s in sources]
    assert {e.steps for e in evaluations} == {77}  # the step limit reached every chunk
    assert len(spawner.workers) == 3 and pool.stats.evaluations == 11


def test_workers_evaluate_in_parallel_and_are_kept_across_requests() -> None:
    spawner = Spawner(delay=0.05)
    pool = ShadowPool(spawner, 4, chunk_size=1)

    async def run() -> float:
        start = time.monotonic()
        await pool.evaluate(request(*["1"] * 8))
        first = time.monotonic() - start
        await pool.evaluate(request(*["1"] * 8))
        await pool.close()
        return first

    elapsed = asyncio.run(run())
    assert elapsed < 8 * 0.05 * 0.75  # 8 x 50 ms one after the other would be 400 ms
    overlapping = [(a, b) for a in spawner.log for b in spawner.log
                   if a[0] != b[0] and a[1] < b[2] and b[1] < a[2]]
    assert overlapping  # two workers were busy at the same time
    assert len(spawner.workers) == 4  # the second request reused them
    assert all(w.closed for w in spawner.workers)


def test_a_dying_worker_is_replaced_and_only_its_culprit_fails() -> None:
    spawner = Spawner()
    pool = ShadowPool(spawner, 2, chunk_size=4)
    evaluations = asyncio.run(pool.evaluate(request("1", "2", "die", "3", "4", "5", "6", "7")))
    assert [e.id for e in evaluations] == [f"i{n}" for n in range(8)]
    died = evaluations[2]
    assert died.stage == DIED_STAGE and died.reason.startswith("worker died: worker ") and "SIGKILL" in died.reason
    assert [e.stage for e in evaluations if e.id != "i2"] == ["done"] * 7
    assert [e.checks_passed for e in evaluations if e.id != "i2"] == [1, 2, 3, 4, 5, 6, 7]
    assert pool.stats.deaths == 2  # the chunk, then the culprit alone
    assert len(spawner.workers) >= 3


def test_a_hung_worker_times_out_and_never_hangs_the_run() -> None:
    spawner = Spawner()
    pool = ShadowPool(spawner, 2, chunk_size=1, base_timeout=0.2, timeout_per_proposal=0.0)
    start = time.monotonic()
    evaluations = asyncio.run(asyncio.wait_for(pool.evaluate(request("1", "hang", "2")), 10))
    assert time.monotonic() - start < 5
    assert [e.stage for e in evaluations] == ["done", DIED_STAGE, "done"]
    assert "took longer than 0.2 s" in evaluations[1].reason


def test_workers_that_cannot_start_answer_every_proposal_as_failed() -> None:
    pool = ShadowPool(Spawner(fail=True), 2)
    evaluations = asyncio.run(pool.evaluate(request("1", "2", "3")))
    assert [e.stage for e in evaluations] == [DIED_STAGE] * 3
    assert evaluations[0].reason == "worker died: the shadow did not start: no zygote"


def test_an_empty_request_needs_no_worker() -> None:
    spawner = Spawner()
    assert asyncio.run(ShadowPool(spawner, 2).evaluate(request())) == []
    assert spawner.workers == []


# -- the run directory ------------------------------------------------------------------------


def test_run_ids_are_unique_names_and_paths_are_refused() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50 and all(valid_run_id(i) for i in ids)
    for bad in ("", "..", "../x", "a/b", "-x", "a b"):
        assert not valid_run_id(bad)


def test_a_run_records_lineage_logbook_and_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    run = RunStore.create(tmp_path, {"definition": "f", "population": 10}, "r1")
    assert RunStore.known(tmp_path) == ["r1"]
    reopened = RunStore.open(tmp_path, "r1")
    assert reopened.settings() == {"definition": "f", "population": 10}
    run.record(0, [{"id": "parent"}])
    assert reopened.resume_point().state is None  # killed before its first generation: starts over...
    assert run.lineage() == []  # ...from nothing (the parent is evaluated again)
    run.record(0, [{"id": "parent"}])
    run.record(1, [{"id": "a", "fitness": [1, 2]}, {"id": "b", "fitness": [0, 2]}])
    run.log_generation({"gen": 1, "evals": 2})
    run.checkpoint(1, {"rng": [1, 2, 3], "population": ["a"]})
    run.record(2, [{"id": "c"}])  # generation 2 was under way when the guardian died...
    run.log_generation({"gen": 2, "evals": 1})
    with open(run.directory / "lineage.jsonl", "a", encoding="utf-8") as out:
        out.write('{"id": "d", "gener')  # ...in the middle of a line
    point = RunStore.open(tmp_path, "r1").resume_point()
    assert point.generation == 1 and point.state == {"rng": [1, 2, 3], "population": ["a"]}
    assert [row["id"] for row in run.lineage()] == ["parent", "a", "b"]  # what generation 2 did is redone
    assert run.logbook() == [{"gen": 1, "evals": 2}]
    assert not [p for p in run.directory.iterdir() if p.name.endswith(".tmp")]


def test_a_checkpoint_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = RunStore.create(tmp_path, {}, "r2")
    run.checkpoint(1, {"n": 1})

    def crash(src: object, dst: object) -> None:
        raise OSError("disk pulled")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        run.checkpoint(2, {"n": 2})
    monkeypatch.undo()
    data = json.loads((run.directory / "state.json").read_text())
    assert data["generation"] == 1 and data["state"] == {"n": 1}


def test_unknown_and_bad_runs_are_refused_with_what_exists(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="there are no runs in this data directory"):
        RunStore.open(tmp_path, "nope")
    RunStore.create(tmp_path, {}, "r3")
    with pytest.raises(RunError, match=r"no run 'nope' .*\(runs here: r3\)"):
        RunStore.open(tmp_path, "nope")
    with pytest.raises(RunError, match="a run id is letters"):
        RunStore.open(tmp_path, "../../etc")
    with pytest.raises(RunError, match="already exists"):
        RunStore.create(tmp_path, {}, "r3")
    (tmp_path / "evolution" / "runs" / "r3" / "state.json").write_text("{not json")
    with pytest.raises(RunError, match="cannot read"):
        RunStore.open(tmp_path, "r3").resume_point()

