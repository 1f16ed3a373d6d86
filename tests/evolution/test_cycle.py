"""End to end: protected evolution cycles on a running guardian (issue #5's acceptance).

Each test runs a real `Guardian` (fork server, worker processes, WAL, vault, git) on a
small agent whose `twice` does redundant work, sends live traffic while a cycle runs,
and checks what clients saw, what the cycle decided and what git recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pygit2

from o_lisp.evolution._decision import Thresholds
from o_lisp.guardian._evolution import QUEUE_FILE, EvolutionConfig
from o_lisp.guardian._supervisor import Guardian, GuardianConfig, RequestFailed

CALC = """\
(defagent calc
  :version "1.0.0"
  :doc "Doubles numbers (slowly, at first)."

  (defmemory notes :dim 32)

  (defn twice [x]
    (for [i (range 100000)] (+ i 1))
    (* 2 x))

  (when-> :name double (.startswith msg "double ")
    (str (twice (int (cut msg 7 None)))))

  (defn respond [text] "say: double N")

  (deftest twice-doubles
    (assert (= (twice 21) 42))
    (assert (= (twice 0) 0)))

  (deffitness doubling
    (if (= (twice 4) 8) 1.0 0.0)))
"""

FAST = "(defn twice [x]\n  (* 2 x))"
SLOW = "(defn twice [x]\n  (for [i (range 500000)] (+ i 1))\n  (* 2 x))"
RECURSIVE = "(defn twice [x]\n  (twice x))"
RUNAWAY = "(defn twice [x]\n  (setv big (** 7 17000))\n  (while True (setv y (* big big)))\n  x)"
"""Burns CPU in big-integer multiplication: few sandbox steps per second, so the
shadow's CPU rlimit (set below the sandbox's time budget) ends it first."""
FAST_BUT_BROKEN = "(defn twice [x]\n  (if (>= x 1000) (raise (ValueError \"too big\")) (* 2 x)))"


def _config(tmp_path: Path, agent: str = CALC, **evolution: Any) -> GuardianConfig:
    path = tmp_path / "agent.hy"
    path.write_text(agent, "utf-8")
    options: dict[str, Any] = {
        "mirror_share": 1.0, "shadow_min_seconds": 0.2, "shadow_max_seconds": 30.0, "fitness_rounds": 20,
        "fitness_repeats": 2, "canary_stage_seconds": 20.0, "canary_min_requests": 10, "probation_seconds": 30.0,
        "probation_min_requests": 5, "seed": 7,
    }
    options.update(evolution)
    return GuardianConfig(
        agent=path, data_dir=tmp_path / "data", heartbeat_interval=0.2, heartbeat_timeout=3.0, request_timeout=20.0,
        debug_methods=True, known_good_after=1.0, evolution=EvolutionConfig(**options),
    )


class Traffic:
    """Live clients: `double N` requests in a loop, every outcome recorded."""

    def __init__(self, guardian: Guardian, n: int = 7) -> None:
        self.guardian = guardian
        self.n = n
        self.ok = 0
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                reply = await self.guardian.request("message", {"text": f"double {self.n}"})
                if reply == str(2 * self.n):
                    self.ok += 1
                else:
                    self.failures.append(f"wrong reply {reply!r}")
            except RequestFailed as error:
                self.failures.append(f"{error.code}: {error.message}")
            await asyncio.sleep(0.005)

    async def __aenter__(self) -> Traffic:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task


def _run(config: GuardianConfig, scenario: Any, limit: float = 150.0) -> None:
    async def main() -> None:
        guardian = Guardian(config)
        await guardian.start()
        try:
            await asyncio.wait_for(scenario(guardian), limit)
        finally:
            await guardian.stop()

    asyncio.run(main())


async def _evolve(g: Guardian, **options: Any) -> dict[str, Any]:
    return await _evolve_target(g, "twice", **options)


def _story(cycle: dict[str, Any]) -> str:
    return "\n".join(e["message"] for e in cycle["events"])


def _repo(config: GuardianConfig) -> pygit2.Repository:
    return pygit2.Repository(str(config.data_dir / "code"))


def _rejected_commits(config: GuardianConfig) -> list[pygit2.Commit]:
    repo = _repo(config)
    ref = repo.references.get("refs/o-lisp/candidates")
    if ref is None:
        return []
    return [c for c in repo.walk(ref.target) if "Change: rejected" in c.message]


def test_infinite_recursion_is_rejected_in_its_shadow_and_main_serves_throughout(tmp_path: Path) -> None:
    config = _config(tmp_path)

    async def scenario(g: Guardian) -> None:
        pid = g.worker_pid
        async with Traffic(g) as traffic:
            cycle = await _evolve(g, source=RECURSIVE, hypothesis="recursion is elegant")
        assert cycle["status"] == "rejected", _story(cycle)
        (candidate,) = cycle["candidates"]
        assert candidate["verdict"] == "rejected" and candidate["stage"] == "tests", candidate
        assert "recursion" in candidate["reason"] or "depth" in candidate["reason"], candidate["reason"]
        assert traffic.failures == [] and traffic.ok > 0
        assert g.worker_pid == pid and g.metrics.restarts == 0  # main never noticed
        assert await g.request("message", {"text": "double 5"}) == "10"

    _run(config, scenario)
    (rejected,) = _rejected_commits(config)
    assert "Stage: tests" in rejected.message and "Evolution-Cycle: evo-1" in rejected.message


def test_a_runaway_candidate_is_killed_by_its_shadows_cpu_limit(tmp_path: Path) -> None:
    config = _config(tmp_path, shadow_cpu_seconds=1)  # below the sandbox step budget

    async def scenario(g: Guardian) -> None:
        async with Traffic(g) as traffic:
            cycle = await _evolve(g, source=RUNAWAY, hypothesis="spin")
        (candidate,) = cycle["candidates"]
        assert candidate["verdict"] == "rejected", candidate
        assert "killed by SIGXCPU" in candidate["reason"] or "killed by SIGKILL" in candidate["reason"], candidate
        assert traffic.failures == [] and g.metrics.restarts == 0

    _run(config, scenario)


def test_a_slower_correct_candidate_is_rejected_with_statistical_evidence(tmp_path: Path) -> None:
    config = _config(tmp_path)

    async def scenario(g: Guardian) -> None:
        async with Traffic(g) as traffic:
            cycle = await _evolve(g, source=SLOW, hypothesis="more work")
        (candidate,) = cycle["candidates"]
        assert candidate["verdict"] == "rejected", candidate
        assert candidate["stage"] in ("performance", "decide"), candidate
        assert "Mann-Whitney" in candidate["reason"] and "p = " in candidate["reason"], candidate["reason"]
        assert traffic.failures == []

    _run(config, scenario)
    (rejected,) = _rejected_commits(config)
    assert "Rejected: " in rejected.message


def test_a_faster_candidate_is_promoted_through_the_canary_while_serving(tmp_path: Path) -> None:
    config = _config(tmp_path)

    async def scenario(g: Guardian) -> None:
        async with Traffic(g) as traffic:
            cycle = await _evolve(g, source=FAST, hypothesis="drop the redundant loop", canary=True)
        assert cycle["status"] == "promoted", _story(cycle)
        (candidate,) = cycle["candidates"]
        assert [stage["weight"] for stage in candidate["canary"]] == [0.1, 0.5, 1.0]
        assert all(stage["verdict"] == "promote" for stage in candidate["canary"])
        assert cycle["result"]["version"] == "1.0.1" and cycle["result"]["tag"] == "v1.0.1"
        assert traffic.failures == [] and traffic.ok > 30
        assert g.health()["version"] == "1.0.1"
        assert await g.request("message", {"text": "double 21"}) == "42"

    _run(config, scenario)
    repo = _repo(config)
    head = repo.revparse_single("HEAD")
    # One commit: the promoted candidate, its version and its tag.
    assert repo.revparse_single("v1.0.1").peel(pygit2.Commit).id == head.id
    promoted = head
    assert (promoted.tree / "VERSION").data == b"1.0.1\n"
    trailers = dict(promoted.message_trailers)
    assert trailers["Evolution-Cycle"] == "evo-1" and trailers["Canary"] == "10% -> 50% -> 100%"
    assert "P-Latency" in trailers or "Latency-Median-Ms" in trailers, trailers
    changelog = (config.data_dir / "code" / "CHANGELOG.md").read_text("utf-8")
    assert "1.0.1" in changelog and "twice" in changelog


def test_a_promoted_version_failing_under_real_traffic_is_rolled_back_without_losing_writes(tmp_path: Path) -> None:
    config = _config(tmp_path, probation_seconds=60.0)

    async def scenario(g: Guardian) -> None:
        cycle = await _evolve(g, source=FAST_BUT_BROKEN, hypothesis="faster")
        assert cycle["status"] == "promoted", _story(cycle)
        ids = [(await g.request("memory_add", {"text": f"note {i}"}))[0] for i in range(5)]
        failed = 0
        for _ in range(10):  # real traffic the shadows never saw
            try:
                await g.request("message", {"text": "double 5000"})
            except RequestFailed:
                failed += 1
        # The error rate passes probation_max_error_rate at the 5th failure; the rollback is
        # sent to the worker then, ahead of every later request, which the parent answers.
        # (Counted in requests, not seconds: a wall-clock bound failed under load.)
        assert failed >= 5
        assert await g.request("message", {"text": "double 5000"}) == "10000"
        assert g.evolution.get(cycle["id"])["status"] == "rolled_back"
        assert g.metrics.evolution_rollbacks == 1
        for block_id in ids:  # every acknowledged write survived
            assert (await g.request("memory_get", {"id": block_id})) is not None
        state = await g.request("evolution_state", {})
        assert state["history"][-1]["outcome"] == "rolled_back"

    _run(config, scenario)
    head = _repo(config).revparse_single("HEAD")
    assert "Rolled-Back-By: guardian" in head.message and "probation" in head.message


FAST_BUT_SLOW_ON_LARGE = (
    "(defn twice [x]\n  (when (> x 1000) (for [i (range 500000)] (+ i 1)))\n  (* 2 x))"
)
"""Five times the parent's work on large numbers: a clear regression (the probation
thresholds reject beyond twice the median) that costs little wall time per request."""


def test_a_promoted_version_slower_on_real_traffic_is_rolled_back(tmp_path: Path) -> None:
    config = _config(tmp_path, probation_seconds=60.0)

    async def scenario(g: Guardian) -> None:
        for _ in range(40):  # the latency baseline: large numbers on the current code
            assert await g.request("message", {"text": "double 5000"}) == "10000"
        cycle = await _evolve(g, source=FAST_BUT_SLOW_ON_LARGE, hypothesis="faster on small numbers")
        assert cycle["status"] == "promoted", _story(cycle)
        # Probation decides on samples, not time: at probation_thresholds.min_samples (20)
        # latencies, then every 10. So the rollback is bounded in requests; a bound in
        # seconds (30 s for 20+ deliberately slow requests) failed under load.
        sent = 0
        while g.evolution.get(cycle["id"])["status"] != "rolled_back":
            assert await g.request("message", {"text": "double 5000"}) == "10000"  # slow, but correct
            sent += 1
            assert sent <= 35, "no rollback after 35 slow requests (checked at 20 samples, then every 10)"
        story = _story(g.evolution.get(cycle["id"]))
        assert "latency regression" in story and "Mann-Whitney" in story, story

    _run(config, scenario)
    head = _repo(config).revparse_single("HEAD")
    assert "Rolled-Back-By: guardian" in head.message and "latency regression" in head.message


def test_a_promoted_version_that_crashes_is_rolled_back_on_restart(tmp_path: Path) -> None:
    config = _config(tmp_path, probation_seconds=60.0)

    async def scenario(g: Guardian) -> None:
        cycle = await _evolve(g, source=FAST, hypothesis="faster")
        assert cycle["status"] == "promoted", _story(cycle)
        promoted = g.health()["commit"]
        block = (await g.request("memory_add", {"text": "acknowledged before the crash"}))[0]
        with contextlib.suppress(RequestFailed):
            await g.request("debug_exit", {"code": 3})
        deadline = time.monotonic() + 20
        while g.health()["status"] != "ok" or g.health()["commit"] == promoted:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert g.evolution.get(cycle["id"])["status"] == "rolled_back"
        assert (await g.request("memory_get", {"id": block}))["text"] == "acknowledged before the crash"
        assert await g.request("message", {"text": "double 4"}) == "8"

    _run(config, scenario)


def test_m1_the_greeter_rewrites_its_rule_after_feedback_through_the_pipeline(tmp_path: Path) -> None:
    """Milestone M1 under the guardian: feedback → the agent proposes a new `greet` rule →
    validation, shadow test on mirrored traffic, canary → promoted, tagged, serving."""
    greeter = (Path(__file__).parents[2] / "agents" / "greeter.hy").read_text("utf-8")
    config = _config(tmp_path, agent=greeter, fitness_rounds=0)

    async def scenario(g: Guardian) -> None:
        assert await g.request("message", {"text": "hello"}) == "hello."
        reply = await g.request("message", {"text": "feedback: Good morning, friend!"})
        assert reply == "Thanks! I will try greeting with: Good morning, friend!"
        deadline = time.monotonic() + 60
        while not g.evolution.list() or g.evolution.list()[0]["finished"] is None:
            assert time.monotonic() < deadline, "the proposed rewrite was not decided in time"
            assert await g.request("message", {"text": "hello"}) in ("hello.", "Good morning, friend!")
        cycle = g.evolution.list()[0]
        assert (cycle["status"], cycle["origin"], cycle["target"]) == ("promoted", "agent", "greet"), _story(cycle)
        assert cycle["result"]["tag"] == "v0.1.1" and cycle["canary"] is True
        assert [stage["verdict"] for stage in cycle["candidates"][0]["canary"]] == ["promote"] * 3
        assert await g.request("message", {"text": "hello"}) == "Good morning, friend!"
        # An impolite greeting fails the agent's own deftest before any shadow runs.
        reply = await g.request("message", {"text": "feedback: you stupid human"})
        assert reply.startswith("I could not learn that: test greeting-is-polite failed")
        assert len(g.evolution.list()) == 1

    _run(config, scenario)


def _pairs(path: Path) -> list[tuple[str, str]]:
    lines = [line for line in path.read_text("utf-8").splitlines() if line.strip() and not line.startswith("#")]
    return [(a.strip(), b.strip()) for a, b in (line.split(" | ", 1) for line in lines)]


def test_m3_the_librarian_evolves_its_retrieval_weights_and_recall_rises_on_held_out_questions(tmp_path: Path) -> None:
    """Milestone M3: offline generation (mutations + templates) on the `notes` memory's
    weights, judged only by the agent's training fitness; recall@5 measured on questions
    the agent never saw, through the live API, before and after."""
    agents = Path(__file__).parents[2] / "agents"
    # M3 judges retrieval quality, not speed. The thread CPU clock resolves what the 4 ms
    # process clock could not: the weights that recall best also score more keywords and
    # cost more per search (measured +0.4 ms / +14 % idle, +2.6 ms / +56 % on a loaded
    # machine), which rejected them as "slower" in 2 of 10 loaded runs. So a slowdown
    # counts here only beyond 10 ms per search, or 3x in the validation's timed runs.
    config = _config(tmp_path, agent=(agents / "librarian.hy").read_text("utf-8"), fitness_rounds=4,
                     thresholds=Thresholds(alpha=0.01, latency_effect=0.6, max_slowdown=1.0,
                                           min_latency_change_ms=10.0),
                     validation={"max_slowdown": 3.0})
    notes = [(float(i), t) for i, t in _pairs(agents / "librarian-notes.txt")]
    heldout = _pairs(agents / "librarian-heldout.txt")
    figures: dict[str, float] = {}

    async def recall(g: Guardian) -> float:
        found = 0
        for question, fragment in heldout:
            hits = await g.request("memory_search", {"q": question, "k": 5})
            found += any(fragment in hit["text"] for hit in hits)
        return found / len(heldout)

    async def scenario(g: Guardian) -> None:
        for importance, text in notes:
            await g.request("memory_add", {"text": text, "importance": importance, "kind": "long_term"})
        figures["before"] = await recall(g)
        cycle = await _evolve_target(g, "notes", generations=1, candidates=3,
                                     hypothesis="relevance, not recency, should rank notes")
        assert cycle["status"] == "promoted", _story(cycle)
        figures["after"] = await recall(g)
        promoted = [c for c in cycle["candidates"] if c["verdict"] == "promoted"]
        fitness = promoted[-1]["evidence"]["fitness"]["recall-at-5"]
        figures["train_before"] = fitness["baseline"]["mean"]
        figures["train_after"] = fitness["candidate"]["mean"]
        # Learning: every outcome is in the agent's state, per operator and per target.
        stats = (await g.request("evolution_state", {}))["stats"]
        by_operator = stats["by_operator"]
        assert sum(v["tried"] for v in by_operator.values()) >= len(cycle["candidates"])
        assert sum(v["promoted"] for v in by_operator.values()) >= 1
        assert stats["by_target"]["notes"] == by_operator
        figures["stats"] = stats

    _run(config, scenario, limit=300)

    async def after_restart(g: Guardian) -> None:  # checkpointed like any other state
        assert (await g.request("evolution_state", {}))["stats"] == figures["stats"]
        assert await recall(g) == figures["after"]

    _run(config, after_restart)
    print(f"\nM3 librarian recall@5: training {figures['train_before']:.2f} -> {figures['train_after']:.2f}, "
          f"held-out {figures['before']:.2f} -> {figures['after']:.2f}")
    assert figures["before"] <= 0.5 and figures["after"] >= figures["before"] + 0.3
    assert figures["train_after"] > figures["train_before"]


async def _evolve_target(g: Guardian, target: str, limit: float = 240.0, **options: Any) -> dict[str, Any]:
    cycle_id = await g.evolution.start(target, **options)
    return await g.evolution.wait(cycle_id, limit)


def test_perception_raises_intents_from_error_metrics_and_failing_tests(tmp_path: Path) -> None:
    agent = CALC.replace(
        '(deffitness doubling',
        '(deftest large-numbers (assert (= (twice 100) 200)))\n\n  (deffitness doubling',
    ).replace("(* 2 x))\n\n  (when->", "(if (> x 50) (- (* 2 x) 1) (* 2 x)))\n\n  (when->", 1)
    config = _config(tmp_path, agent=agent, perceive_min_calls=10)

    async def scenario(g: Guardian) -> None:
        for _ in range(12):  # `int("x")` fails: the rule errors on every such message
            with contextlib.suppress(RequestFailed):
                await g.request("message", {"text": "double x"})
        intents = await g.request("evolution_perceive", {"max_error_rate": 0.1, "min_calls": 10})
        by_target = {i["definition"]: i for i in intents}
        assert by_target["double"]["origin"] == "metrics" and "fails 12 of 12" in by_target["double"]["hypothesis"]
        assert by_target["twice"]["origin"] == "tests" and "test large-numbers fails" in by_target["twice"]["hypothesis"]
        assert "large-numbers" not in by_target and "doubling" not in by_target  # gates are not targets
        started = await g.evolution.perceive()
        assert [g.evolution.get(i)["target"] for i in started] == ["double", "twice"]
        assert await g.evolution.perceive() == []  # flagged within the cooldown: not again

    _run(config, scenario)


# -- what a decision rests on; offline cycles; visible intents; a queue that survives a restart --


NO_FITNESS = CALC.replace("  (deffitness doubling\n    (if (= (twice 4) 8) 1.0 0.0)))\n", ")\n")


def test_without_live_traffic_a_cycle_is_decided_offline_on_the_tests_without_waiting(tmp_path: Path) -> None:
    # shadow_max_seconds far beyond the scenario's limit: a cycle that waited for mirrored
    # samples (as before) would not finish in time.
    assert "deffitness" not in NO_FITNESS
    config = _config(tmp_path, agent=NO_FITNESS, shadow_max_seconds=3600.0, shadow_min_seconds=3600.0)

    async def scenario(g: Guardian) -> None:
        cycle = await _evolve(g, source=FAST, hypothesis="drop the redundant loop", limit=100.0)
        basis = cycle["basis"]
        assert (basis["mode"], basis["tests"], basis["fitness_tasks"], basis["live_messages"]) == ("offline", 1, 0, 0)
        story = _story(cycle)
        assert "decided offline, without waiting for samples" in story and "timed runs of the tests" in story
        assert story.index("decided offline") < story.index("generation 1")  # said up front
        assert "offline test on tests + fitness" in story
        assert cycle["status"] == "promoted", story
        (candidate,) = cycle["candidates"]
        assert candidate["reason"].startswith("faster: median "), candidate["reason"]
        latency = candidate["evidence"]["latency"]
        assert latency["baseline"]["n"] == latency["candidate"]["n"] == 15  # the validation's timed test runs

    _run(config, scenario)


def test_with_live_traffic_the_basis_names_the_mirrored_share(tmp_path: Path) -> None:
    config = _config(tmp_path, mirror_share=0.5)

    async def scenario(g: Guardian) -> None:
        async with Traffic(g):
            while g.evolution.live_messages() < 5:
                await asyncio.sleep(0.01)
            cycle_id = await g.evolution.start("twice", source=RECURSIVE, hypothesis="x")
            cycle = g.evolution.get(cycle_id)
            assert cycle is not None
            assert cycle["basis"]["mode"] == "live" and cycle["basis"]["fitness_tasks"] == 1
            assert "50% of live messages mirrored to both shadows" in cycle["basis"]["summary"]
            await g.evolution.wait(cycle_id, 100.0)

    _run(config, scenario)


def test_an_intent_that_cannot_start_is_recorded_with_its_reason(tmp_path: Path) -> None:
    config = _config(tmp_path)

    async def scenario(g: Guardian) -> None:
        g.evolution.on_wal_record("evolution_intent", {"definition": "no-such-thing", "hypothesis": "improve it",
                                                       "origin": "feedback"})
        while not g.evolution.list():
            await asyncio.sleep(0.01)
        (cycle,) = g.evolution.list()
        assert (cycle["status"], cycle["origin"], cycle["target"]) == ("failed", "feedback", "no-such-thing")
        assert "not started: the agent has no definition 'no-such-thing'" in _story(cycle)

    _run(config, scenario)


def test_queued_cycles_survive_a_guardian_restart(tmp_path: Path) -> None:
    config = _config(tmp_path)
    queued: list[str] = []

    async def first(g: Guardian) -> None:
        running = await g.evolution.start("twice", source=SLOW, hypothesis="first")
        queued.append(await g.evolution.start("twice", source=FAST, hypothesis="second, still queued"))
        while g.evolution.get(running)["status"] != "running":
            await asyncio.sleep(0.01)
        saved = json.loads((config.data_dir / QUEUE_FILE).read_text("utf-8"))
        assert [(c["hypothesis"], c["status"]) for c in saved["cycles"]] == [
            ("first", "running"), ("second, still queued", "queued")]
        # the guardian stops here, mid-cycle (like a crash of the process: the file is all there is)

    async def second(g: Guardian) -> None:
        cycles = {c["hypothesis"]: c for c in g.evolution.list()}
        assert set(cycles) == {"first", "second, still queued"}
        assert "resumed evo-1 (running when the previous guardian stopped; it starts over)" in _story(cycles["first"])
        assert "resumed evo-2 (queued" in _story(cycles["second, still queued"])
        done = await g.evolution.wait(cycles["second, still queued"]["id"], 200.0)
        assert done["status"] == "promoted", _story(done)
        assert json.loads((config.data_dir / QUEUE_FILE).read_text("utf-8"))["cycles"] == []

    _run(config, first)
    _run(config, second, limit=250.0)
    assert queued == ["evo-2"]
