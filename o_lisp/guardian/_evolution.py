"""Protected evolution, the guardian's half: one cycle from intent to promotion or rejection.

The cycle (issue #5; the seeds' "perception → checkpoint → shadow test → decision →
hot reload → validation → learning"), orchestrated here and executed in worker
processes (`o_lisp.worker._lab`), because the guardian never runs agent code:

1. **Intent.** An operator (`start`, ``POST /v1/evolution``, ``o-lisp evolve``) or the
   agent itself (its ``evolve!``/``rewrite!`` becomes an ``evolution_intent`` mutation,
   which the guardian sees when it logs it) names a definition and a hypothesis,
   optionally with a candidate.
2. **Checkpoint**, so shadows start from the durable state of now.
3. **Generation** in a *baseline shadow* (the current code on a copy of the state):
   mutation operators and templates, biased by what worked before (learning stats).
4. **Validation** in a *candidate shadow* per candidate: read/compile, static scan,
   ``deftest``s, fitness, performance against the parent; a stage that fails rejects
   the candidate with its reason and evidence.
5. **Shadow test**: both shadows get the same mirrored share of live ``message``
   requests (their replies never reach a client) and replay the fitness tasks
   interleaved; shadows log to a scratch area and run under CPU/address-space limits,
   so a runaway candidate kills only its shadow (recorded as the reason).
6. **Decision** (`o_lisp.evolution._decision.decide`): Mann-Whitney U on latency with
   an effect-size threshold, error rates, fitness; no data is a failure. Evidence goes
   into the git trailers of the promotion or of the rejected candidate.
7. **Canary** (optional): the main worker routes 10 % → 50 % → 100 % of ``message``
   requests to the candidate, with an analysis at each stage; abort → weight 0.
8. **Promotion**: commit with trailers, version bump, tag, changelog, hot reload in
   place (checkpoint first) — in-flight requests are not failed.
9. **Probation**: the guardian watches the promoted version; a worker crash or an
   error rate beyond the threshold rolls back to the parent (a new commit) at once.
10. **Learning**: every outcome is recorded in agent state (``record_evolution``),
   whose success rates bias later generation.

Cycles run one at a time; intents that arrive meanwhile queue. The queue (and the cycle
running) is saved in the data directory and resumed by a restarted guardian (`begin`).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import random
import shutil
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from o_lisp.evolution._decision import Decision, Samples, Thresholds, decide
from o_lisp.evolution._individual import Evaluation, EvaluationRequest
from o_lisp.evolution._ratings import RatingThresholds, rating_objection
from o_lisp.guardian._errors import GuardianError, StartFailed, SupervisorError
from o_lisp.guardian._pool import EVALUATOR_NICENESS, ShadowPool, WorkerDied
from o_lisp.guardian._ports import EvolutionHost, ShadowWorker
from o_lisp.guardian._protocol import CodeVersion, Error, Reply, Request, WorkerSpec
from o_lisp.guardian._runs import PopulationSettings, RunError, RunStore

__all__ = ["QUEUE_FILE", "EvolutionConfig", "EvolutionError", "EvolutionManager"]

BREEDER_CPU_SECONDS = 3600
"""RLIMIT_CPU of a population's breeder shadow: it runs the search for the whole run, no candidate."""
QUEUE_FILE = "evolution-queue.json"
"""In the data directory: the cycles queued or running, run again by a restarted guardian."""

log = logging.getLogger("o_lisp.guardian.evolution")


class EvolutionError(GuardianError):
    """A request to the evolution manager that cannot be done; `code` says why."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class _ShadowDied(Exception):
    pass


@dataclass
class EvolutionConfig:
    """Knobs of a cycle; the defaults are the issue's (10 % mirrored, 10/50/100 % canary)."""

    mirror_share: float = 0.1
    """Share of live ``message`` requests copied to the shadows."""
    shadow_min_seconds: float = 1.0
    """A shadow test lasts at least this long (so mirrored traffic can arrive)..."""
    shadow_max_seconds: float = 60.0
    """...and at most this long, even if the samples are still too few (then: no data)."""
    fitness_rounds: int = 12
    """Interleaved rounds of fitness replay (baseline then candidate) per shadow test."""
    fitness_repeats: int = 2
    shadow_cpu_seconds: int = 120
    """RLIMIT_CPU of a shadow."""
    shadow_memory_headroom: int = 3 * 1024 * 1024 * 1024
    """RLIMIT_AS of a shadow: its address space at start plus this (an evaluation thread
    reserves up to 1 GiB of stack; the sandbox's own memory budget is 512 MiB)."""
    shadow_call_timeout: float = 30.0
    """A shadow that takes longer than this for one call is killed (counted against the candidate)."""
    canary_stages: tuple[float, ...] = (0.1, 0.5, 1.0)
    canary_stage_seconds: float = 30.0
    """Longest a canary stage waits for `canary_min_requests` canary-arm requests."""
    canary_min_requests: int = 20
    probation_seconds: float = 30.0
    probation_min_requests: int = 5
    probation_max_error_rate: float = 0.2
    """Error rate of ``message`` requests on the promoted version that triggers a rollback."""
    probation_thresholds: Thresholds = field(default_factory=lambda: Thresholds(
        require_improvement=False, min_samples=20, alpha=0.001, latency_effect=0.6, max_slowdown=1.0,
        min_latency_change_ms=1.0, max_error_increase=0.99, bootstrap_resamples=0))
    """Latency regression on probation: live ``message`` latencies after the promotion
    against those just before it; only a large, clear slowdown rolls back."""
    thresholds: Thresholds = field(default_factory=lambda: Thresholds(alpha=0.01, min_latency_change_ms=0.1))
    """The shadow decision (improvement required unless the candidate came from the agent).
    alpha 0.01 rather than 0.05: shadows share the machine with the live worker, and a
    false "slower" or "faster" costs a wrong decision either way."""
    canary_thresholds: Thresholds = field(default_factory=lambda: Thresholds(
        require_improvement=False, min_samples=10, alpha=0.01, latency_effect=0.5, max_slowdown=0.5,
        min_latency_change_ms=0.25))
    """A canary stage guards against regressions (errors, gross slowdowns) on live traffic;
    the shadow test already judged the improvement, so no improvement is required and
    latency must be worse by a large, clear margin (live requests of a few ms are noisy)."""
    rating_thresholds: RatingThresholds = field(default_factory=RatingThresholds)
    """Users' ratings of each arm's replies during a canary (`o_lisp.evolution._ratings`):
    enough significantly worse ratings stop the canary."""
    validation: dict[str, Any] = field(default_factory=dict)
    """Options of `o_lisp.evolution._validate.ValidationThresholds`, passed to the shadow."""
    perceive_interval: float | None = None
    """Seconds between perception passes (metrics and failing tests raise intents); None = off."""
    perceive_cooldown: float = 3600.0
    """A definition perception flagged is not flagged again for this long."""
    perceive_max_error_rate: float = 0.1
    perceive_min_calls: int = 20
    perceive_p95_ms: float | None = None
    intent_canary: bool = True
    """Cycles the agent starts itself (``evolve!``, ``rewrite!`` under a guardian) use the canary."""
    seed: int | None = None
    history_limit: int = 100
    live_window_seconds: float = 60.0
    """Live traffic counts when the ``message``s answered within this many seconds, at
    `mirror_share`, would give a shadow test its samples (`thresholds.min_samples`), or
    when there is some and fitness tasks supply samples too. Without it a cycle is
    decided offline: on the tests and fitness tasks, without waiting for mirrored
    samples that would not come in time."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.mirror_share <= 1.0:
            raise ValueError("mirror_share must be between 0 and 1")
        if not self.canary_stages or any(not 0.0 < w <= 1.0 for w in self.canary_stages):
            raise ValueError("canary_stages must be weights in (0, 1]")
        if self.fitness_rounds < 0 or self.fitness_repeats < 1:
            raise ValueError("fitness_rounds >= 0 and fitness_repeats >= 1")


@dataclass
class _Cycle:
    id: str
    target: str
    hypothesis: str
    origin: str
    generations: int
    candidates_per_generation: int
    canary: bool
    source: str | None
    generator: str = "mutation"
    """Who writes the candidates: ``mutation`` (offline), ``llm`` (a model: docs/llm.md) or ``mixed``."""
    model: str | None = None
    """With ``llm``/``mixed``: the model's name (the agent's or o-lisp.toml's); None: its default."""
    population: PopulationSettings | None = None
    """A population cycle (issue 13) with these settings; None: the hill-climber above."""
    resume: str | None = None
    """A population cycle that continues this run (its settings come from the run)."""
    run: dict[str, Any] | None = None
    """A population cycle's progress: run id, generation, evaluations, evaluations/s, best, logbook."""
    status: str = "queued"
    stage: str = "queued"
    progress: float = 0.0
    generation: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    basis: dict[str, Any] = field(default_factory=dict)
    """What the decision rests on (`EvolutionManager._basis`), said up front."""
    started: float = field(default_factory=time.time)
    finished: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def event(self, message: str) -> None:
        self.events.append({"time": time.time(), "message": message})
        log.info("%s: %s", self.id, message)

    def at(self, stage: str, progress: float | None = None) -> None:
        self.stage = stage
        if progress is not None:
            self.progress = max(self.progress, min(1.0, progress))

    def as_data(self) -> dict[str, Any]:
        return {
            "id": self.id, "target": self.target, "hypothesis": self.hypothesis, "origin": self.origin,
            "status": self.status, "stage": self.stage, "progress": round(self.progress, 3),
            "generation": self.generation, "generations": self.generations, "canary": self.canary,
            "events": [dict(e) for e in self.events], "candidates": [dict(c) for c in self.candidates],
            "result": None if self.result is None else dict(self.result), "basis": dict(self.basis),
            "started": self.started, "finished": self.finished,
            **({} if self.run is None else {"population": json.loads(json.dumps(self.run))}),
        }


RATINGS_POLL_SECONDS = 1.0
"""How often probation reads the users' ratings of the promoted version from the main worker."""


@dataclass
class _Probation:
    cycle: _Cycle
    target: str
    parent_commit: str
    commit: str
    code_version: str
    until: float
    requests: int = 0
    errors: int = 0
    rolling_back: bool = False
    baseline_ms: tuple[float, ...] = ()
    latencies_ms: list[float] = field(default_factory=list)


class EvolutionManager:
    """Runs evolution cycles for one `Guardian` (as ``guardian.evolution``)."""

    def __init__(self, guardian: EvolutionHost, config: EvolutionConfig | None = None) -> None:
        self.guardian = guardian
        self.config = config or EvolutionConfig()
        self._cycles: dict[str, _Cycle] = {}
        self._order: deque[str] = deque()
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[_Cycle] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._mirrors: list[ShadowWorker] = []
        self._mirror_tasks: set[asyncio.Task[Any]] = set()
        self._rng = random.Random(self.config.seed)
        self.probation: _Probation | None = None
        self._rollback_task: asyncio.Task[None] | None = None
        self._ratings_watch: asyncio.Task[None] | None = None
        self._perceiver: asyncio.Task[None] | None = None
        self._flagged: dict[str, float] = {}
        self._recent_ms: deque[float] = deque(maxlen=500)  # ok `message` latencies outside probation
        self._shadows = 0  # shadows alive: their CPU use distorts live latency, which is then not sampled
        self._live: deque[float] = deque(maxlen=10_000)  # monotonic times of answered live `message`s
        self.current: _Cycle | None = None

    # -- public API ------------------------------------------------------------------------------
    async def start(self, definition: str, *, hypothesis: str = "", generations: int = 1, candidates: int = 4,
                    canary: bool = False, origin: str = "operator", source: str | None = None,
                    generator: str = "mutation", model: str | None = None,
                    population: PopulationSettings | None = None, resume: str | None = None) -> str:
        """Queue a cycle for `definition`; its id. EvolutionError for a bad request.

        With `population` (or `resume`, a run id) the cycle is a population run
        (`_run_population`): `generations` and `candidates` are then ignored in favour of
        the population settings (a resumed run keeps its own)."""
        if generator not in ("mutation", "llm", "mixed"):
            raise EvolutionError(f"unknown generator {generator!r} (known: mutation, llm, mixed)")
        if not isinstance(definition, str) or not definition:
            raise EvolutionError("definition must be a non-empty string")
        if resume is not None:
            for running in self._cycles.values():  # e.g. resumed from the saved queue when the guardian started
                if running.finished is None and resume in (running.resume, (running.run or {}).get("run")):
                    return running.id
            population = self._resumable(definition, resume, population)
        if population is not None:
            if source is not None:
                raise EvolutionError("a population cycle breeds its own candidates: no candidate source")
            problems = population.problems()
            if problems:
                raise EvolutionError("; ".join(problems))
            generations = population.generations
        if not 1 <= generations <= 50:
            raise EvolutionError("generations must be from 1 to 50")
        if not 1 <= candidates <= 32:
            raise EvolutionError("candidates must be from 1 to 32")
        if origin not in ("operator", "agent", "feedback", "metrics", "tests"):
            raise EvolutionError(f"unknown origin {origin!r}")
        kinds = await self._definition_kinds()
        if definition not in kinds:
            raise EvolutionError(f"the agent has no definition {definition!r} (it has: {', '.join(sorted(kinds))})",
                                 "not_found")
        if kinds[definition] in ("deftest", "deffitness"):  # the gates of evolution do not evolve
            raise EvolutionError(f"{definition} is a {kinds[definition]}: tests and fitness tasks judge candidates "
                                 "and are not evolved themselves")
        cycle = _Cycle(f"evo-{next(self._ids)}", definition, hypothesis[:1000], origin, generations, candidates,
                       canary, source, generator, model, population, resume)
        cycle.basis = self._basis(kinds)
        self._cycles[cycle.id] = cycle
        self._order.appendleft(cycle.id)
        while len(self._order) > self.config.history_limit:
            old = self._order.pop()
            if self._cycles[old].finished is not None:
                del self._cycles[old]
            else:
                self._order.append(old)
                break
        cycle.event(f"queued ({origin}): {definition}" + (f" — {hypothesis}" if hypothesis else ""))
        cycle.event(cycle.basis["summary"])
        self._ensure_runner().put_nowait(cycle)
        self._save_queue()
        self.guardian.metrics.evolution_cycles += 1
        return cycle.id

    def _resumable(self, definition: str, run_id: str, population: PopulationSettings | None) -> PopulationSettings:
        """The settings of run `run_id`, which must have evolved `definition`; EvolutionError if not."""
        try:
            store = RunStore.open(self.guardian.data_dir, run_id)
            saved = store.settings()
            settings = PopulationSettings.from_data(saved)
        except (RunError, TypeError) as error:
            raise EvolutionError(f"cannot resume: {error}", "not_found" if isinstance(error, RunError) else
                                 "bad_request") from None
        if saved.get("definition") != definition:
            raise EvolutionError(f"cannot resume: run {run_id} evolved {saved.get('definition')!r}, not {definition!r}")
        if (store.directory / "summary.json").exists():
            raise EvolutionError(f"cannot resume: run {run_id} is finished (see {store.directory / 'summary.json'})")
        if population is not None and population.workers:  # how many shadows evaluate may change
            settings = dataclasses.replace(settings, workers=population.workers)
        return settings

    def live_messages(self) -> int:
        """Live ``message`` requests answered within `live_window_seconds`."""
        horizon = time.monotonic() - self.config.live_window_seconds
        while self._live and self._live[0] < horizon:
            self._live.popleft()
        return len(self._live)

    def _basis(self, kinds: dict[str, str]) -> dict[str, Any]:
        """What a cycle's decision will rest on, decided now and said before it runs:
        the agent's tests (a candidate must pass them all), its fitness tasks (replayed
        in both shadows), and live traffic (a mirrored share) when there is any. Without
        live traffic the cycle is *offline*: decided on tests + fitness, without waiting."""
        tests = sum(1 for kind in kinds.values() if kind == "deftest")
        fitness = sum(1 for kind in kinds.values() if kind == "deffitness")
        live = self.live_messages()
        share = self.config.mirror_share
        needed = self.config.thresholds.min_samples
        enough = live * share >= needed or (fitness > 0 and live > 0)
        mode = "live" if share > 0 and enough else "offline"
        parts = [f"{tests} test(s) (every one must pass)" if tests else "no tests",
                 f"{fitness} fitness task(s) (replayed in both shadows)" if fitness else "no fitness tasks"]
        if mode == "live":
            parts.append(f"{share:.0%} of live messages mirrored to both shadows ({live} answered in the last "
                         f"{self.config.live_window_seconds:g} s)")
            summary = "the decision rests on: " + ", ".join(parts)
        else:
            measured = ("timed runs of the fitness tasks" if fitness else
                        "timed runs of the tests" if tests else "nothing: there is nothing to measure")
            window = f"{self.config.live_window_seconds:g} s"
            summary = ("mirroring of live traffic is off" if share == 0 else
                       f"no live traffic in the last {window}" if live == 0 else
                       f"too little live traffic for a shadow test ({live} message(s) in the last {window}; "
                       f"{share:.0%} mirrored gives fewer than the {needed} samples needed)")
            summary = (summary
                       + ": decided offline, without waiting for samples, on " + ", ".join(parts)
                       + f"; speed from {measured}")
        return {"mode": mode, "tests": tests, "fitness_tasks": fitness, "live_messages": live,
                "mirror_share": share, "summary": summary}

    def _refused(self, definition: str, hypothesis: str, origin: str, reason: str) -> str:
        """Record an intent that could not become a cycle (unknown definition, agent not
        serving, ...) as a failed cycle, so it is visible in ``GET /v1/evolution``."""
        cycle = _Cycle(f"evo-{next(self._ids)}", definition, hypothesis[:1000], origin, 1, 1, False, None)
        self._cycles[cycle.id] = cycle
        self._order.appendleft(cycle.id)
        cycle.event(f"intent ({origin}): {definition}" + (f" — {hypothesis}" if hypothesis else ""))
        self._end(cycle, "failed", f"not started: {reason}")
        return cycle.id

    def abandon(self, cycle_id: str, reason: str) -> None:
        """End a cycle nobody waits for any more (`o-lisp evolve` timed out or was interrupted),
        so a later guardian on the same data does not run it again. A running cycle stops
        when the guardian does."""
        cycle = self._cycles.get(cycle_id)
        if cycle is not None and cycle.finished is None:
            self._end(cycle, "failed", f"abandoned: {reason}")

    def get(self, cycle_id: str) -> dict[str, Any] | None:
        cycle = self._cycles.get(cycle_id)
        return None if cycle is None else cycle.as_data()

    def list(self) -> list[dict[str, Any]]:
        return [self._cycles[i].as_data() for i in self._order if i in self._cycles]

    async def wait(self, cycle_id: str, timeout: float | None = None) -> dict[str, Any]:
        cycle = self._cycles.get(cycle_id)
        if cycle is None:
            raise EvolutionError(f"no evolution cycle {cycle_id!r}", "not_found")
        await asyncio.wait_for(cycle.done.wait(), timeout)
        return cycle.as_data()

    @property
    def queue_file(self) -> Path:
        """Cycles queued or running, so that a restarted guardian runs them (`begin`)."""
        return self.guardian.data_dir / QUEUE_FILE

    def _save_queue(self) -> None:
        """Write the unfinished cycles (queued, or running: they start over) atomically."""
        pending = [self._cycles[i] for i in reversed(self._order) if i in self._cycles]
        data = {"format": 1, "cycles": [
            {"id": c.id, "target": c.target, "hypothesis": c.hypothesis, "origin": c.origin,
             "generations": c.generations, "candidates": c.candidates_per_generation, "canary": c.canary,
             "source": c.source, "status": c.status,
             **({} if c.generator == "mutation" else {"generator": c.generator, "model": c.model}),
             **({} if c.population is None else {
                 "population": c.population.as_data(),
                 "run": (c.run or {}).get("run") or c.resume})}
            for c in pending if c.finished is None and c.status in ("queued", "running")]}
        path = self.queue_file
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "w", encoding="utf-8") as out:
                json.dump(data, out, ensure_ascii=False)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except OSError as error:  # losing the queue on a restart is bad, not fatal: say so
            log.error("could not save the evolution queue to %s: %s", path, error)

    def _load_queue(self) -> builtins.list[dict[str, Any]]:
        path = self.queue_file
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            cycles = data["cycles"] if isinstance(data, dict) and data.get("format") == 1 else None
            if not isinstance(cycles, builtins.list):
                raise ValueError("not an evolution queue (format 1)")
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError) as error:
            log.error("ignoring unreadable evolution queue %s: %s", path, error)
            return []
        return [c for c in cycles if isinstance(c, dict) and isinstance(c.get("target"), str)]

    async def _resume_queue(self) -> builtins.list[str]:
        """Queue again the cycles a previous guardian had queued or was running (these start
        over: their shadows and checkpoints died with it). The new cycle ids."""
        resumed = []
        for old in self._load_queue():
            target, hypothesis = str(old["target"]), str(old.get("hypothesis", ""))
            origin = str(old.get("origin", "operator"))
            source = old.get("source") if isinstance(old.get("source"), str) else None
            run = old.get("run") if isinstance(old.get("run"), str) else None
            try:
                population = PopulationSettings.from_data(old["population"]) \
                    if isinstance(old.get("population"), dict) else None
                cycle_id = await self.start(
                    target, hypothesis=hypothesis, origin=origin, source=source, canary=bool(old.get("canary")),
                    generations=int(old.get("generations", 1)), candidates=int(old.get("candidates", 4)),
                    population=population, resume=run, generator=str(old.get("generator") or "mutation"),
                    model=old.get("model") if isinstance(old.get("model"), str) else None)
            except (EvolutionError, ValueError, TypeError, SupervisorError) as error:
                self._refused(target, hypothesis, origin, f"{old.get('id', '?')} was {old.get('status', 'queued')} "
                              f"when the guardian stopped and could not be resumed: "
                              f"{getattr(error, 'message', error)}")
                continue
            self._cycles[cycle_id].event(f"resumed {old.get('id', '?')} ({old.get('status', 'queued')} when the "
                                         "previous guardian stopped; " + (
                                             f"run {run} continues from its last completed generation)" if run
                                             else "it starts over)"))
            resumed.append(cycle_id)
        self._save_queue()
        return resumed

    async def begin(self) -> None:
        """Called once the guardian serves: clear shadows a previous run left, queue again the
        cycles it left unfinished, start perceiving."""
        shadows = self.guardian.data_dir / "shadows"
        await asyncio.get_running_loop().run_in_executor(None, shutil.rmtree, shadows, True)
        await self._resume_queue()
        if self.config.perceive_interval is not None and self._perceiver is None:
            self._perceiver = asyncio.get_running_loop().create_task(self._perceive_loop(), name="o-perceive")

    async def perceive(self) -> builtins.list[str]:
        """One perception pass: ask the agent which definitions its metrics and tests flag,
        and start a cycle for each one not flagged within the cooldown. The cycle ids."""
        cfg = self.config
        intents = await self.guardian.request("evolution_perceive", {
            "max_error_rate": cfg.perceive_max_error_rate, "min_calls": cfg.perceive_min_calls,
            "p95_ms": cfg.perceive_p95_ms,
        }, timeout=self.guardian.config.checkpoint_timeout)
        started = []
        now = time.monotonic()
        for intent in intents:
            target = str(intent.get("definition"))
            if now - self._flagged.get(target, -math.inf) < cfg.perceive_cooldown:
                continue
            self._flagged[target] = now
            try:
                started.append(await self.start(target, hypothesis=str(intent.get("hypothesis", "")),
                                                origin=str(intent.get("origin", "metrics"))))
            except EvolutionError as error:
                log.warning("perceived intent for %s not started: %s", target, error)
        return started

    async def _perceive_loop(self) -> None:
        interval = self.config.perceive_interval
        assert interval is not None
        while True:
            await asyncio.sleep(interval)
            if self.current is not None or (self._queue is not None and not self._queue.empty()):
                continue
            try:
                await self.perceive()
            except Exception as error:  # the agent may be restarting; try again next time
                log.warning("perception failed: %s", error)

    async def close(self) -> None:
        if self._perceiver is not None:
            self._perceiver.cancel()
            await asyncio.gather(self._perceiver, return_exceptions=True)
            self._perceiver = None
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        for task in list(self._mirror_tasks):
            task.cancel()
        if self._ratings_watch is not None:
            self._ratings_watch.cancel()
            await asyncio.gather(self._ratings_watch, return_exceptions=True)
        if self._rollback_task is not None:
            await asyncio.gather(self._rollback_task, return_exceptions=True)

    # -- hooks called by the guardian ---------------------------------------------------------------
    def on_wal_record(self, op: str, args: dict[str, Any]) -> None:
        """Every mutation the main worker logged: an ``evolution_intent`` starts a cycle."""
        if op != "evolution_intent":
            return
        definition = args.get("definition")
        source = args.get("source")
        origin = args.get("origin") if args.get("origin") in ("agent", "feedback", "metrics", "tests") else "agent"

        async def submit() -> None:
            try:
                await self.start(str(definition), hypothesis=str(args.get("hypothesis", "")), origin=str(origin),
                                 source=source if isinstance(source, str) else None,
                                 canary=self.config.intent_canary)
            except (EvolutionError, SupervisorError) as error:
                log.warning("evolution intent for %r not started: %s", definition, error)
                self._refused(str(definition), str(args.get("hypothesis", "")), str(origin),
                              str(getattr(error, "message", error)))

        task = asyncio.get_running_loop().create_task(submit())
        self._mirror_tasks.add(task)
        task.add_done_callback(self._mirror_tasks.discard)

    def mirror(self, method: str, args: dict[str, Any]) -> None:
        """A live request: copy it (at the mirror share) to the shadows under test."""
        if not self._mirrors or method != "message" or self._rng.random() >= self.config.mirror_share:
            return
        for link in list(self._mirrors):
            task = asyncio.get_running_loop().create_task(self._mirror_one(link, method, args))
            self._mirror_tasks.add(task)
            task.add_done_callback(self._mirror_tasks.discard)

    async def _mirror_one(self, link: ShadowWorker, method: str, args: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # the shadow's own samples record the outcome
            await self._call(link, method, {"text": args.get("text", "")}, self.config.shadow_call_timeout)

    def observe(self, method: str, outcome: str, seconds: float) -> None:
        """Every answered ``message``: the latency baseline, and on probation the checks
        for an error-rate or latency regression of the promoted version."""
        if method != "message":
            return
        self._live.append(time.monotonic())
        probation = self.probation
        quiet = self._shadows == 0
        if probation is None or time.monotonic() > probation.until:
            if outcome == "ok" and quiet:
                self._recent_ms.append(seconds * 1000)
            return
        probation.requests += 1
        if outcome != "ok":
            probation.errors += 1
        elif quiet:
            probation.latencies_ms.append(seconds * 1000)
        if probation.rolling_back:
            return
        cfg = self.config
        why = None
        if probation.requests >= cfg.probation_min_requests and \
                probation.errors / probation.requests > cfg.probation_max_error_rate:
            why = (f"error rate {probation.errors}/{probation.requests} on {probation.code_version} "
                   f"exceeded {cfg.probation_max_error_rate:.0%} during probation")
        elif len(probation.latencies_ms) >= cfg.probation_thresholds.min_samples and len(probation.latencies_ms) % 10 == 0 \
                and len(probation.baseline_ms) >= cfg.probation_thresholds.min_samples:
            decision = decide(Samples(latencies_ms=probation.baseline_ms, requests=len(probation.baseline_ms)),
                              Samples(latencies_ms=tuple(probation.latencies_ms[-200:]),
                                      requests=len(probation.latencies_ms[-200:])),
                              cfg.probation_thresholds)
            if decision.verdict == "reject":
                why = f"latency regression on {probation.code_version} during probation: " + "; ".join(decision.reasons)
        if why is not None:
            probation.rolling_back = True
            self._rollback_task = asyncio.get_running_loop().create_task(self._rollback_live(probation, why[:450]))

    def in_probation(self) -> bool:
        probation = self.probation
        return probation is not None and time.monotonic() <= probation.until

    def on_worker_failed(self, reason: str, code_version: str) -> tuple[str, str] | None:
        """A worker died: during the probation of the version it ran, roll back at once."""
        probation = self.probation
        if probation is None or probation.rolling_back or not self.in_probation():
            return None
        if CodeVersion.parse(code_version).commit != probation.commit:
            return None
        probation.rolling_back = True
        why = f"guardian: promoted {probation.code_version} crashed during probation ({reason})"[:480]
        probation.cycle.event(f"rollback: {why}")
        self._finish_rollback(probation, why)
        return probation.parent_commit, why

    # -- internals: the runner -----------------------------------------------------------------------
    def _ensure_runner(self) -> asyncio.Queue[_Cycle]:
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run_queue(), name="o-evolution")
        return self._queue

    async def _run_queue(self) -> None:
        assert self._queue is not None
        while True:
            cycle = await self._queue.get()
            self.current = cycle
            cycle.status = "running"
            self._save_queue()
            try:
                await self._run(cycle)
            except asyncio.CancelledError:
                # The guardian is stopping: the cycle stays in the saved queue and a restarted
                # guardian runs it again (`begin`). It is reported as interrupted meanwhile.
                cycle.event("interrupted: the guardian is stopping (a restarted guardian runs it again)")
                cycle.done.set()
                raise
            except Exception as error:
                log.exception("evolution cycle %s failed", cycle.id)
                self._end(cycle, "failed", f"{type(error).__name__}: {error}")
            finally:
                self.current = None
                self._mirrors = []

    def _end(self, cycle: _Cycle, status: str, message: str) -> None:
        if cycle.finished is not None:
            return
        cycle.status = status
        cycle.at("done", 1.0)
        cycle.event(message)
        cycle.finished = time.time()
        cycle.done.set()
        self._save_queue()

    async def _run(self, cycle: _Cycle) -> None:
        cycle.status = "running"
        basis = self._basis(await self._definition_kinds())
        if basis["mode"] != cycle.basis.get("mode"):  # traffic came or went while it was queued
            cycle.basis = basis
            cycle.event(basis["summary"])
        if cycle.population is not None:
            await self._run_population(cycle)
            return
        promoted = 0
        for generation in range(1, cycle.generations + 1):
            cycle.generation = generation
            base = (generation - 1) / cycle.generations
            span = 1.0 / cycle.generations
            cycle.at("checkpoint", base)
            await self.guardian.checkpoint(f"evolution {cycle.id}")
            cycle.at("generate", base + 0.05 * span)
            baseline = await self._spawn_shadow(cycle, None, None)
            winners: builtins.list[tuple[dict[str, Any], Decision]] = []
            try:
                proposals = await self._proposals(cycle, baseline, generation)
                cycle.event(f"generation {generation}: {len(proposals)} candidate(s)")
                records = [self._candidate_record(cycle, proposal) for proposal in proposals]  # all shown at once
                for index, (proposal, record) in enumerate(zip(proposals, records, strict=True)):
                    cycle.at("validate", base + span * (0.1 + 0.7 * index / max(1, len(proposals))))
                    record.update(stage="validate", started=time.time())
                    decision = await self._trial(cycle, baseline, proposal, record)
                    if decision is not None and decision.verdict == "promote":
                        winners.append((record, decision))
            finally:
                await self._close_shadow(baseline)
            if not winners:
                continue
            record, decision = max(winners, key=lambda w: _score(w[1]))
            for other, _ in winners:
                if other is not record:
                    await self._reject(cycle, other, "decide", "another candidate of the generation did better", {})
            if cycle.canary:
                cycle.at("canary", base + 0.85 * span)
                if not await self._canary(cycle, record):
                    continue
            cycle.at("promote", base + 0.95 * span)
            await self._promote(cycle, record, decision)
            promoted += 1
        if promoted:
            cycle.at("probation")
            self._end(cycle, "promoted", f"done: {promoted} promotion(s)")
        elif cycle.status != "rolled_back":
            self._end(cycle, "rejected", "done: no candidate was promoted")

    async def _proposals(self, cycle: _Cycle, baseline: ShadowWorker, generation: int) -> builtins.list[dict[str, Any]]:
        if cycle.source is not None:
            if generation > 1:
                return []
            return [{"name": cycle.target, "source": cycle.source, "generator": cycle.origin, "operator": "proposal",
                     "description": cycle.hypothesis or "proposed by the agent", "parent_source": ""}]
        seed = self._rng.randrange(2**32)
        try:
            answer = await self._call(baseline, "evolution_generate", {
                "target": cycle.target, "hypothesis": cycle.hypothesis, "n": cycle.candidates_per_generation,
                "seed": seed, "generator": cycle.generator, **({"model": cycle.model} if cycle.model else {}),
            }, self.config.shadow_call_timeout)
        finally:  # a generation that failed may still have paid for model calls
            await self._charge_usage(cycle, baseline)
        return [c for c in answer if isinstance(c, dict) and isinstance(c.get("source"), str)]

    async def _charge_usage(self, cycle: _Cycle, link: ShadowWorker) -> None:
        """Add what a shadow's LLM generator spent to the live agent's daily usage (docs/llm.md,
        "Budgets"), so evolution draws on the agent's daily budgets. Best effort: a shadow
        that died took its count with it, and a failed charge is logged, not fatal."""
        if cycle.generator == "mutation" or link.dead.done():
            return
        try:
            usage = (await self._call(link, "evolution_usage", {}, self.config.shadow_call_timeout)).get("usage") or []
            if usage:
                await self._main_call("evolution_charge", {"usage": usage, "source": f"evolution {cycle.id}"})
                tokens = sum(int(u.get("input_tokens", 0)) + int(u.get("output_tokens", 0)) for u in usage)
                cost = sum(float(u.get("cost_usd", 0.0)) for u in usage)
                cycle.event(f"model usage charged to the agent's day: {sum(int(u.get('requests', 0)) for u in usage)} "
                            f"request(s), {tokens} tokens" + (f", ${cost:.4f}" if cost else ""))
        except Exception as error:  # e.g. the shadow died meanwhile
            log.error("could not charge the model usage of %s: %s", cycle.id, error)

    def _candidate_record(self, cycle: _Cycle, proposal: dict[str, Any]) -> dict[str, Any]:
        record = {
            "id": f"{cycle.id}.{len(cycle.candidates) + 1}", "generator": str(proposal.get("generator", "")),
            "operator": str(proposal.get("operator", "")), "model": str(proposal.get("model") or "")[:200],
            "description": str(proposal.get("description", ""))[:500],
            "source": proposal["source"], "verdict": "pending", "stage": "waiting", "reason": "", "evidence": {},
            "generation": cycle.generation, "started": None, "finished": None,
        }
        cycle.candidates.append(record)
        return record

    # -- internals: a population run (issue 13) ------------------------------------------------------
    async def _run_population(self, cycle: _Cycle) -> None:
        """Breed a population in a worker, evaluate it in a pool, then decide on the best.

        The search state lives in the *breeder*: a baseline shadow (it has the current
        code loaded) answering ``evolution_breed_*``. The guardian only carries requests
        from the breeder to the evaluator pool (`ShadowPool`) and the answers back, so it
        stays responsive while a population runs; after each completed generation it
        saves the breeder's state in the run directory (`RunStore`), from which a
        restarted guardian or ``o-lisp evolve --resume RUN`` continues."""
        cfg = self.config
        settings = cycle.population
        assert settings is not None
        if cycle.resume is not None:
            store = RunStore.open(self.guardian.data_dir, cycle.resume)
            point = await asyncio.get_running_loop().run_in_executor(None, store.resume_point)
            state, done_generations = point.state, point.generation
            logbook = store.logbook()
            evaluated = len(store.lineage())
        else:
            if settings.seed is None:  # recorded with the run, so that it can be repeated
                settings = dataclasses.replace(settings, seed=self._rng.randrange(2**32))
                cycle.population = settings
            store = RunStore.create(self.guardian.data_dir, {"definition": cycle.target, **settings.as_data()})
            state, done_generations, logbook, evaluated = None, 0, [], 0
        workers = settings.evaluator_count()
        run: dict[str, Any] = {
            "run": store.run_id, "directory": str(store.directory), "generation": min(done_generations + 1,
                                                                                      settings.generations),
            "generations": settings.generations, "completed_generations": done_generations,
            "population": settings.population, "islands": settings.islands, "workers": workers,
            "seed": settings.seed, "max_evals": settings.max_evals, "evaluations": evaluated,
            "evaluations_per_second": None, "best_fitness": logbook[-1].get("best") if logbook else None,
            "best": None, "logbook": logbook, "resumed_from": done_generations if cycle.resume else None,
        }
        cycle.run = run
        cycle.generation = run["generation"]
        self._save_queue()  # a restarted guardian resumes this run, not a new one
        cycle.event(("resumed" if cycle.resume else "started") + f" run {store.run_id}"
                    + (f" after generation {done_generations}" if cycle.resume else "")
                    + f": population {settings.population}, {settings.generations} generation(s), "
                    f"{settings.islands} island(s), {workers} evaluator shadow(s), seed {settings.seed}"
                    + (f", at most {settings.max_evals} evaluations" if settings.max_evals else "")
                    + f" (resume with --resume {store.run_id})")
        cycle.at("checkpoint", done_generations / settings.generations)
        await self.guardian.checkpoint(f"evolution {cycle.id} (run {store.run_id})")
        cycle.at("breed")
        pool = ShadowPool(lambda: self._pool_shadow(cycle), workers, base_timeout=cfg.shadow_call_timeout,
                          timeout_per_proposal=cfg.shadow_call_timeout / 4)
        loop = asyncio.get_running_loop()
        started, evaluated_here = loop.time(), 0
        breeder: ShadowWorker | None = None
        try:
            # The breeder runs no candidate (only the search), for the whole run: a longer CPU limit.
            breeder = await self._spawn_shadow(cycle, None, None, max(cfg.shadow_cpu_seconds, BREEDER_CPU_SECONDS),
                                               EVALUATOR_NICENESS)
            answer = await self._call(breeder, "evolution_breed_start", {
                "definition": cycle.target, "settings": settings.breed_settings(), "state": state,
                **({} if cycle.generator == "mutation" else {  # a model writes a share: docs/llm.md
                    "generator": cycle.generator, "model": cycle.model, "hypothesis": cycle.hypothesis}),
            }, cfg.shadow_call_timeout * 4)
            await self._charge_usage(cycle, breeder)
            request_data, generation = answer.get("request"), int(answer.get("generation", done_generations))
            while request_data is not None:
                request = EvaluationRequest.from_data(request_data)
                shown = max(1, min(generation + 1, settings.generations))
                cycle.generation = run["generation"] = shown
                cycle.at("evaluate", (shown - 1) / settings.generations)
                evaluations = await pool.evaluate(request)
                reply = await self._call(breeder, "evolution_breed_tell",
                                         {"evaluations": [e.as_data() for e in evaluations]},
                                         cfg.shadow_call_timeout * 4)
                await self._charge_usage(cycle, breeder)
                individuals = [dict(i) for i in reply.get("individuals") or [] if isinstance(i, dict)]
                # The generation the individuals belong to: the one this answer completed (the
                # parent, evaluated before any, is generation 0).
                belongs = int(reply.get("generation", generation)) if reply.get("generation_done") else generation
                await loop.run_in_executor(None, store.record, belongs, individuals)
                evaluated_here += len(evaluations)
                run["evaluations"] = evaluated + evaluated_here
                elapsed = loop.time() - started
                run["evaluations_per_second"] = round(evaluated_here / elapsed, 2) if elapsed > 0 else None
                if reply.get("generation_done"):
                    row = dict(reply.get("logbook") or {"gen": shown, "evals": len(evaluations)})
                    completed = int(row.get("gen", shown)) if isinstance(row.get("gen"), int) else shown
                    row["gen"] = completed
                    snapshot = await self._call(breeder, "evolution_breed_state", {}, cfg.shadow_call_timeout * 4)
                    await loop.run_in_executor(None, store.log_generation, row)
                    await loop.run_in_executor(None, store.checkpoint, completed, dict(snapshot["state"]))
                    logbook.append(row)
                    run["completed_generations"] = completed
                    run["best_fitness"] = row.get("best")
                    cycle.at("evaluate", completed / settings.generations)
                    gp = row.get("gp")
                    if isinstance(gp, dict):  # the breeder grew DEF first (o_lisp/worker/_breed_gp.py)
                        run["gp"] = gp
                        cycle.event(f"grown by genetic programming from deffitness {gp.get('fitness')}: "
                                    f"{gp.get('evaluations')} evaluation(s) in {gp.get('generations')} generation(s), "
                                    f"{gp.get('seconds')} s, best {_number_text(gp.get('best_fitness'))}; the pool evaluated "
                                    "the grown definition")
                    cycle.event(f"generation {min(max(completed, 1), settings.generations)}/{settings.generations}: "
                                f"{row.get('evals', len(evaluations))} evaluation(s), best {_fitness_text(row.get('best'))}"
                                f"; {run['evaluations']} in all, {run['evaluations_per_second'] or 0:g}/s")
                request_data, generation = reply.get("request"), int(reply.get("generation", generation))
            cycle.at("decide", 0.95)
            outcome = await self._call(breeder, "evolution_breed_best", {}, cfg.shadow_call_timeout * 4)
        except _ShadowDied as died:  # the run's checkpoints stay: it can be resumed
            self._end(cycle, "failed", f"run {store.run_id}: the breeder failed: {died} (its completed "
                                       f"generations are kept: --resume {store.run_id})")
            return
        finally:
            await pool.close()
            if breeder is not None:
                await self._close_shadow(breeder)
        await self._population_verdict(cycle, store, outcome)

    async def _pool_shadow(self, cycle: _Cycle) -> _PoolShadow:
        """One evaluator shadow of the pool (a baseline shadow: current code, copy of the state)."""
        try:  # at a lower CPU priority: live requests first (bench/evolution_load.py)
            return _PoolShadow(self, await self._spawn_shadow(cycle, None, None, nice=EVALUATOR_NICENESS))
        except _ShadowDied as died:
            raise WorkerDied(str(died)) from None

    async def _population_verdict(self, cycle: _Cycle, store: RunStore, outcome: dict[str, Any]) -> None:
        """The run's best against its parent: promote it (offline: on tests and fitness; with
        live traffic after a shadow test and the canary), or say why not."""
        run = cycle.run
        assert run is not None and cycle.population is not None
        best = outcome.get("best") if isinstance(outcome.get("best"), dict) else None
        parent = Evaluation.from_data(outcome["parent"]) if isinstance(outcome.get("parent"), dict) else None
        run["evaluations"] = int(outcome.get("evaluations", run["evaluations"]))
        best_eval = Evaluation.from_data(best["evaluation"]) if best and isinstance(best.get("evaluation"), dict) \
            else None
        run["best"] = None if best is None else {
            "id": best.get("id"), "operator": best.get("operator"), "parents": best.get("parents"),
            "source": best.get("source"), "edit_distance": best.get("edit_distance"),
            "checks_passed": None if best_eval is None else best_eval.checks_passed,
            "checks_total": None if best_eval is None else best_eval.checks_total,
            "fitness": None if best_eval is None else dict(best_eval.fitness),
            "steps": None if best_eval is None else best_eval.steps,
        }
        run["parent"] = None if parent is None else {"checks_passed": parent.checks_passed,
                                                     "checks_total": parent.checks_total,
                                                     "fitness": dict(parent.fitness), "steps": parent.steps}
        improved, reason = bool(outcome.get("improved")), str(outcome.get("reason") or "")
        summary = {"run": store.run_id, "cycle": cycle.id, "definition": cycle.target,
                   "evaluations": run["evaluations"], "generations": run["completed_generations"],
                   "improved": improved, "reason": reason, "best": run["best"], "parent": run["parent"]}
        if best is None or best_eval is None or not isinstance(best.get("source"), str):
            await asyncio.get_running_loop().run_in_executor(None, store.finish, {**summary, "verdict": "rejected"})
            self._end(cycle, "rejected", f"done: run {store.run_id} found no candidate"
                      + (f" ({reason})" if reason else ""))
            return
        passed = f"{best_eval.checks_passed}/{best_eval.checks_total} checks"
        was = "" if parent is None else f" (parent: {parent.checks_passed}/{parent.checks_total})"
        record = self._candidate_record(cycle, {
            "generator": "population", "operator": str(best.get("operator") or ""), "source": best["source"],
            "description": f"run {store.run_id}: best of {run['evaluations']} evaluations passes {passed}{was}",
        })
        record.update(started=time.time(), evidence={"run": store.run_id, "best": run["best"], "parent": run["parent"]})
        trailers = {"Evolution-Run": store.run_id, "Generations": str(run["completed_generations"]),
                    "Evaluations": str(run["evaluations"]), "Best-Fitness": _fitness_trailer(best_eval),
                    "Parent-Fitness": "unknown" if parent is None else _fitness_trailer(parent)}
        gp = run.get("gp")
        if isinstance(gp, dict):  # the GP's own work, beside the pool's (which evaluated only the grown DEF)
            trailers.update({"Grown-By": f"genetic programming, deffitness {gp.get('fitness')}",
                             "GP-Generations": str(gp.get("generations")), "GP-Evaluations": str(gp.get("evaluations"))})
        if best.get("helpers"):
            improved, reason = False, ("the best candidate also changes helper definitions, which a promotion "
                                       "cannot commit yet")
        if not improved:
            await self._reject(cycle, record, "decide", reason or "not better than the parent", record["evidence"])
            await asyncio.get_running_loop().run_in_executor(None, store.finish, {**summary, "verdict": "rejected"})
            self._end(cycle, "rejected", f"done: run {store.run_id}: nothing promoted: {reason or 'no improvement'}")
            return
        decision: Decision | None = None
        if cycle.basis.get("mode") == "live":  # only the final winner meets live users
            decision = await self._population_shadow_test(cycle, record)
            if decision is None:
                await asyncio.get_running_loop().run_in_executor(None, store.finish, {**summary, "verdict": "rejected"})
                self._end(cycle, "rejected", f"done: run {store.run_id}: its best failed the shadow test")
                return
        else:
            record["stage"] = "offline"
            record["reason"] = f"offline: passes {passed}{was}; {reason}".rstrip("; ")
        if cycle.canary and not await self._canary(cycle, record):
            await asyncio.get_running_loop().run_in_executor(None, store.finish, {**summary, "verdict": "rejected"})
            self._end(cycle, "rejected", f"done: run {store.run_id}: its best failed the canary")
            return
        await self._promote(cycle, record, decision, trailers)
        await asyncio.get_running_loop().run_in_executor(None, store.finish, {**summary, "verdict": "promoted",
                                                                              "result": cycle.result})
        cycle.at("probation")
        self._end(cycle, "promoted", f"done: run {store.run_id} promoted {record['id']}")

    async def _population_shadow_test(self, cycle: _Cycle, record: dict[str, Any]) -> Decision | None:
        """With live traffic: the best candidate against the current code on a mirrored share
        of it (no improvement required: the tests decided that; regressions reject)."""
        cfg = self.config
        record["stage"] = "shadow"
        baseline: ShadowWorker | None = None
        shadow: ShadowWorker | None = None
        try:
            baseline = await self._spawn_shadow(cycle, None, None)
            shadow = await self._spawn_shadow(cycle, cycle.target, record["source"])
            cycle.event(f"{record['id']}: shadow test on mirrored live traffic")
            baseline_samples, candidate_samples = await self._shadow_test(cycle, baseline, shadow)
            decision = decide(baseline_samples, candidate_samples,
                              dataclasses.replace(cfg.thresholds, require_improvement=False))
            record["evidence"] = {**record["evidence"], **decision.evidence}
            if decision.verdict != "promote":
                await self._reject(cycle, record, "shadow", "; ".join(decision.reasons), record["evidence"], decision)
                return None
            record["reason"] = "; ".join(decision.reasons)
            return decision
        except _ShadowDied as died:
            await self._reject(cycle, record, "shadow", str(died), record["evidence"])
            return None
        finally:
            self._mirrors = []
            for link in (shadow, baseline):
                if link is not None:
                    await self._close_shadow(link)

    # -- internals: one candidate ----------------------------------------------------------------------
    async def _trial(self, cycle: _Cycle, baseline: ShadowWorker, proposal: dict[str, Any], record: dict[str, Any]) -> Decision | None:
        cfg = self.config
        shadow: ShadowWorker | None = None
        try:
            shadow = await self._spawn_shadow(cycle, cycle.target, proposal["source"])
            report = await self._call(shadow, "evolution_validate", {"thresholds": dict(cfg.validation)},
                                      cfg.shadow_call_timeout * 4)
            if not report.get("ok"):
                await self._reject(cycle, record, str(report.get("stage", "validate")), str(report.get("reason", "")),
                                   dict(report.get("evidence") or {}))
                return None
            live = cycle.basis.get("mode") == "live"
            record["stage"] = "shadow" if live else "offline"
            thresholds = cfg.thresholds
            if cycle.origin in ("agent", "feedback"):  # the agent or a user asserts the improvement
                thresholds = dataclasses.replace(thresholds, require_improvement=False)
            if live:
                cycle.event(f"{record['id']} passed validation; shadow test on mirrored live traffic")
                baseline_samples, candidate_samples = await self._shadow_test(cycle, baseline, shadow)
            else:
                cycle.event(f"{record['id']} passed validation; offline test on tests + fitness")
                baseline_samples, candidate_samples = await self._offline_test(baseline, shadow, report)
                # The offline arms have as many samples as were timed (15 runs of the tests, or
                # the fitness replay); that is the data there is, not too little of it.
                have = min(len(baseline_samples.latencies_ms), len(candidate_samples.latencies_ms))
                thresholds = dataclasses.replace(thresholds, min_samples=max(2, min(thresholds.min_samples, have)))
            if not baseline_samples.requests and not live:
                await self._reject(cycle, record, "decide", "nothing to measure: no live traffic, and the agent has "
                                   "no tests or fitness tasks to time (add a deftest or deffitness, or evolve "
                                   "under `o-lisp serve` while it serves messages)", {})
                return None
            decision = decide(baseline_samples, candidate_samples, thresholds)
            record["evidence"] = decision.evidence
            if decision.verdict != "promote":
                await self._reject(cycle, record, "decide", "; ".join(decision.reasons), decision.evidence, decision)
                return None
            record["reason"] = "; ".join(decision.reasons)
            record["stage"] = "won"
            cycle.event(f"{record['id']} won its {'shadow' if live else 'offline'} test: {record['reason']}")
            return decision
        except _ShadowDied as died:
            await self._reject(cycle, record, str(record.get("stage", "shadow")), str(died), {})
            return None
        finally:
            self._mirrors = []
            if shadow is not None:
                await self._close_shadow(shadow)

    async def _offline_test(self, baseline: ShadowWorker, shadow: ShadowWorker, report: dict[str, Any]) -> tuple[Samples, Samples]:
        """No live traffic: compare on what the agent itself defines, at once. With fitness
        tasks, their interleaved replay in both shadows (scores and CPU time per call);
        otherwise the validation's interleaved timed runs of the tests (CPU time per run).
        An agent with neither gives empty arms, which `decide` rejects as "no data" — now,
        not after `shadow_max_seconds`."""
        cfg = self.config
        collected: builtins.list[dict[str, Any]] = [{"latencies_ms": [], "errors": 0, "requests": 0, "fitness": {}}
                                                    for _ in range(2)]
        needed = cfg.thresholds.min_samples
        rounds = 0
        # As in a live shadow test: at least `fitness_rounds` rounds, and on until each arm
        # has `min_samples` latencies (the replay is work, not waiting; bounded all the same).
        while rounds < max(cfg.fitness_rounds, 1) or (
                any(len(c["latencies_ms"]) < needed for c in collected) and rounds < max(cfg.fitness_rounds, 1) + needed):
            rounds += 1
            await self._fitness_round((baseline, shadow), collected)
            if not collected[0]["requests"]:
                break  # the agent has no fitness tasks
        if not collected[0]["requests"]:
            performance = (report.get("evidence") or {}).get("performance") or {}
            for key, into in (("parent_ms", collected[0]), ("candidate_ms", collected[1])):
                runs = [float(x) for x in performance.get(key) or []]
                into["latencies_ms"].extend(runs)
                into["requests"] += len(runs)
        return _samples(collected[0]), _samples(collected[1])

    async def _fitness_round(self, arms: tuple[ShadowWorker, ...], collected: builtins.list[dict[str, Any]]) -> None:
        """One interleaved replay of the fitness tasks on each arm (baseline first), its
        latencies, errors and scores added to that arm's samples."""
        cfg = self.config
        for link, into in zip(arms, collected, strict=True):
            run = await self._call(link, "evolution_fitness", {"repeats": cfg.fitness_repeats},
                                   cfg.shadow_call_timeout)
            latencies = [float(x) for x in run.get("latencies_ms", [])]
            into["latencies_ms"].extend(latencies)
            errors = dict(run.get("errors") or {})
            into["errors"] += len(errors)
            into["requests"] += len(latencies) + len(errors)
            for name, scores in (run.get("scores") or {}).items():
                into["fitness"].setdefault(str(name), []).extend(float(x) for x in scores)

    async def _shadow_test(self, cycle: _Cycle, baseline: ShadowWorker, shadow: ShadowWorker) -> tuple[Samples, Samples]:
        cfg = self.config
        arms = (baseline, shadow)
        for link in arms:  # drop what the baseline saw for earlier candidates
            await self._call(link, "evolution_samples", {}, cfg.shadow_call_timeout)
        started = time.monotonic()
        self._mirrors = [baseline, shadow]
        collected: builtins.list[dict[str, Any]] = [{"latencies_ms": [], "errors": 0, "requests": 0, "fitness": {}}
                                                    for _ in arms]
        needed = cfg.thresholds.min_samples
        rounds = 0
        has_fitness = cfg.fitness_rounds > 0
        while True:
            elapsed = time.monotonic() - started
            enough = all(len(c["latencies_ms"]) >= needed for c in collected)
            if elapsed >= cfg.shadow_max_seconds or (
                    enough and rounds >= cfg.fitness_rounds and elapsed >= cfg.shadow_min_seconds):
                break
            if has_fitness and (rounds < cfg.fitness_rounds or not enough):
                # Interleaved replay of the fitness tasks (baseline, candidate, baseline, ...),
                # continued past `fitness_rounds` until each arm has enough latency samples.
                rounds += 1
                await self._fitness_round(arms, collected)
                if not any(collected[0]["latencies_ms"]) and not collected[0]["fitness"]:
                    has_fitness = False  # the agent has no fitness tasks: mirrored traffic only
            else:
                await asyncio.sleep(0.05)
            for link, into in zip(arms, collected, strict=True):
                _merge(into, await self._call(link, "evolution_samples", {}, cfg.shadow_call_timeout))
        self._mirrors = []
        for task in list(self._mirror_tasks):  # let mirrored requests in flight finish
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), cfg.shadow_call_timeout)
        for link, into in zip(arms, collected, strict=True):
            _merge(into, await self._call(link, "evolution_samples", {}, cfg.shadow_call_timeout))
        return _samples(collected[0]), _samples(collected[1])

    # -- internals: canary, promotion, rejection, rollback -------------------------------------------
    async def _canary(self, cycle: _Cycle, record: dict[str, Any]) -> bool:
        """Stages of live traffic on the candidate; False (and weight 0) at the first bad stage."""
        cfg = self.config
        record["stage"] = "canary"
        stable_all: dict[str, Any] = {"latencies_ms": [], "errors": 0, "requests": 0, "fitness": {}}
        canary_ratings: list[float] = []  # users' ratings are sparse: pooled over the whole canary
        await self._main_call("canary_start", {"name": cycle.target, "source": record["source"],
                                               "weight": cfg.canary_stages[0], "seed": self._rng.randrange(2**32)})
        try:
            for stage_index, weight in enumerate(cfg.canary_stages):
                if stage_index:
                    await self._main_call("canary_weight", {"weight": weight})
                cycle.event(f"canary at {weight:.0%}")
                canary: dict[str, Any] = {"latencies_ms": [], "errors": 0, "requests": 0, "fitness": {}}
                stable_stage: dict[str, Any] = {"latencies_ms": [], "errors": 0, "requests": 0, "fitness": {}}
                deadline = time.monotonic() + cfg.canary_stage_seconds
                while canary["requests"] < cfg.canary_min_requests and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                    report = await self._main_call("canary_report", {})
                    _merge(stable_all, report["stable"])
                    _merge(stable_stage, report["stable"])
                    _merge(canary, report["canary"])
                # Compare arms over the same time window when the stage has enough stable
                # samples (machines are noisy); at 100 % only the earlier stages have any.
                stable = stable_stage if len(stable_stage["latencies_ms"]) >= cfg.canary_thresholds.min_samples \
                    else stable_all
                decision = decide(_samples(stable), _samples(canary), cfg.canary_thresholds)
                canary_ratings += canary.get("ratings", [])
                decision = _with_ratings(decision, stable_all.get("ratings", []), canary_ratings,
                                         cfg.rating_thresholds)
                record.setdefault("canary", []).append({"weight": weight, "verdict": decision.verdict,
                                                         "reasons": list(decision.reasons),
                                                         "requests": canary["requests"], "errors": canary["errors"]})
                if decision.verdict != "promote":
                    with contextlib.suppress(Exception):  # a restarted worker has no canary left
                        await self._main_call("canary_weight", {"weight": 0.0})
                    await self._reject(cycle, record, "canary",
                                       f"canary at {weight:.0%}: " + "; ".join(decision.reasons), decision.evidence,
                                       decision)
                    return False
            return True
        finally:
            with contextlib.suppress(Exception):
                await self._main_call("canary_stop", {})

    async def _promote(self, cycle: _Cycle, record: dict[str, Any], decision: Decision | None,
                       extra: dict[str, str] | None = None) -> None:
        health = self.guardian.health()
        trailers = {
            "Evolution-Cycle": cycle.id, "Generator": record["generator"] or "unknown",
            "Operator": record["operator"] or "none", "Parent-Version": str(health.get("version") or "unknown"),
            "Origin": cycle.origin, **({"Model": record["model"]} if record.get("model") else {}),
        }
        if decision is not None:
            trailers.update(decision.as_trailers())
        trailers.update(extra or {})
        if cycle.canary:
            trailers["Canary"] = " -> ".join(f"{w:.0%}" for w in self.config.canary_stages)
        reason = f"Evolve {cycle.target}: {record['description'] or cycle.hypothesis or record['operator']}"[:200]
        result = await self._main_call("evolution_promote", {"name": cycle.target, "source": record["source"],
                                                             "reason": reason, "trailers": _clean(trailers),
                                                             "bump": "patch"})
        self.guardian.code_changed(str(result["code_version"]))
        record["verdict"] = "promoted"
        record["stage"] = "promoted"
        record["finished"] = time.time()
        cycle.result = {"commit": result["commit"], "version": result["version"], "tag": result.get("tag"),
                        "parent": result.get("parent")}
        cycle.event(f"promoted {record['id']} as {result['version']} ({str(result['commit'])[:7]})")
        self.guardian.metrics.evolution_promotions += 1
        code_version = str(result["code_version"])  # HEAD: the version bump after the definition's commit
        self.probation = _Probation(cycle, cycle.target, str(result["parent"]),
                                    CodeVersion.parse(code_version).commit,
                                    code_version, time.monotonic() + self.config.probation_seconds,
                                    baseline_ms=tuple(self._recent_ms))
        self._recent_ms.clear()
        if self._ratings_watch is not None:
            self._ratings_watch.cancel()
        self._ratings_watch = asyncio.get_running_loop().create_task(self._watch_ratings(self.probation))
        await self._learn(cycle, record, "promoted", record["reason"])

    async def _reject(self, cycle: _Cycle, record: dict[str, Any], stage: str, reason: str,
                      evidence: dict[str, Any], decision: Decision | None = None) -> None:
        record.update(verdict="rejected", stage=stage, reason=reason[:2000], evidence=evidence, finished=time.time())
        cycle.event(f"rejected {record['id']} at {stage}: {reason[:300]}")
        self.guardian.metrics.evolution_rejections += 1
        trailers = {"Evolution-Cycle": cycle.id, "Generator": record["generator"] or "unknown",
                    "Operator": record["operator"] or "none", "Stage": stage, "Rejected": reason[:400] or "rejected",
                    **({"Model": record["model"]} if record.get("model") else {})}
        if decision is not None:
            trailers.update(decision.as_trailers())
        summary = f"Evolve {cycle.target}: {record['description'] or record['operator'] or 'candidate'}"[:200]
        try:
            await self._main_call("evolution_reject", {"name": cycle.target, "source": record["source"],
                                                       "reason": summary, "trailers": _clean(trailers)})
        except Exception as error:  # the record is best effort; the decision stands
            log.error("could not record rejected candidate %s: %s", record["id"], error)
        await self._learn(cycle, record, "rejected", reason)

    async def _learn(self, cycle: _Cycle, record: dict[str, Any], outcome: str, reason: str) -> None:
        try:
            await self._main_call("evolution_record", {"cycle": cycle.id, "target": cycle.target,
                                                       "generator": record["generator"] or "unknown",
                                                       "operator": record["operator"], "outcome": outcome,
                                                       "reason": reason[:500],
                                                       **({"model": record["model"]} if record.get("model") else {})})
        except Exception as error:
            log.error("could not record the outcome of %s: %s", record["id"], error)

    async def _watch_ratings(self, probation: _Probation) -> None:
        """During probation, users' ratings of the promoted version's replies against those of
        the version it replaced (`o_lisp.evolution._ratings`, the same rule as a canary's):
        users who rate it significantly worse roll it back like a latency regression does."""
        while self.probation is probation and not probation.rolling_back and time.monotonic() <= probation.until:
            await asyncio.sleep(RATINGS_POLL_SECONDS)
            if self.probation is not probation or probation.rolling_back:
                return
            try:
                answer = await self._main_call("evolution_ratings",
                                               {"commits": [probation.parent_commit, probation.commit]})
            except Exception as error:  # the worker may be restarting: try again
                log.warning("could not read the ratings of %s: %s", probation.code_version, error)
                continue
            ratings = answer.get("ratings") or {}
            objection, _ = rating_objection(ratings.get(probation.parent_commit) or [],
                                            ratings.get(probation.commit) or [], self.config.rating_thresholds)
            if objection is not None and not probation.rolling_back and self.probation is probation:
                probation.rolling_back = True
                why = f"ratings of {probation.code_version} during probation: {objection}"
                self._rollback_task = asyncio.get_running_loop().create_task(self._rollback_live(probation, why[:450]))
                return

    async def _rollback_live(self, probation: _Probation, why: str) -> None:
        """A regression on the promoted version: roll back in place (a new commit) and reload."""
        probation.cycle.event(f"rollback: {why}")
        try:
            result = await self._main_call("evolution_rollback", {
                "rev": probation.parent_commit, "reason": why[:400],
                "trailers": {"Rolled-Back-By": "guardian", "Evolution-Cycle": probation.cycle.id},
            })
        except Exception as error:
            log.error("rollback of %s failed: %s", probation.code_version, error)
            probation.cycle.event(f"rollback failed: {error}")
            return
        self.guardian.code_changed(str(result["code_version"]))
        self._finish_rollback(probation, why)

    def _finish_rollback(self, probation: _Probation, why: str) -> None:
        cycle = probation.cycle
        self.guardian.metrics.evolution_rollbacks += 1
        cycle.status = "rolled_back"
        cycle.result = dict(cycle.result or {}, rolled_back=True, rollback_reason=why)
        self.probation = None
        for record in cycle.candidates:
            if record["verdict"] == "promoted":
                record["verdict"] = "rolled_back"

                async def learn(record: dict[str, Any] = record) -> None:
                    for _ in range(100):  # after a crash, wait for the restarted worker
                        if self.guardian.worker_pid is not None:
                            break
                        await asyncio.sleep(0.1)
                    await self._learn(cycle, record, "rolled_back", why)

                task = asyncio.get_running_loop().create_task(learn())
                self._mirror_tasks.add(task)
                task.add_done_callback(self._mirror_tasks.discard)
        if cycle.finished is None:
            self._end(cycle, "rolled_back", f"rolled back: {why}")
        else:
            cycle.events.append({"time": time.time(), "message": f"rolled back: {why}"})

    # -- internals: workers ---------------------------------------------------------------------------
    async def _definition_kinds(self) -> dict[str, str]:
        try:
            definitions = await self.guardian.request("evolution_definitions", {})
        except Exception as error:
            raise EvolutionError(f"the agent is not serving: {error}", "unavailable") from None
        return {str(d["name"]): str(d["kind"]) for d in definitions}

    async def _main_call(self, method: str, args: dict[str, Any]) -> Any:
        return await self.guardian.request(method, args, timeout=self.guardian.config.checkpoint_timeout)

    async def _call(self, link: ShadowWorker, method: str, args: dict[str, Any], timeout: float) -> Any:
        if link.dead.done():
            raise _ShadowDied(await self._death(link))
        request = Request(id=link.writer.next_id(), method=method, args=args, timeout=timeout)
        try:
            answer = await link.call(request, timeout)
        except TimeoutError:
            link.die(f"{method} took longer than {timeout:g} s")
            raise _ShadowDied(f"the shadow was killed: {method} took longer than {timeout:g} s") from None
        except Exception:
            raise _ShadowDied(await self._death(link)) from None
        if isinstance(answer, Error):
            if method in ("evolution_fitness", "evolution_validate", "evolution_generate"):
                raise _ShadowDied(f"{method} failed in the shadow: {answer.message or answer.code}")
            raise _ShadowDied(f"{method}: {answer.message or answer.code}")
        assert isinstance(answer, Reply)
        return answer.result

    async def _death(self, link: ShadowWorker) -> str:
        reason = link.dead.result() if link.dead.done() else "the shadow stopped answering"
        status = None
        with contextlib.suppress(Exception):
            status = await asyncio.wait_for(link.child.wait(), 5.0)
        if status is not None and status < 0:
            name = signal.Signals(-status).name if -status in signal.valid_signals() else str(-status)
            why = {"SIGXCPU": "its CPU limit", "SIGKILL": "killed"}.get(name, "a signal")
            return f"the shadow was killed by {name} ({why}); {reason}"
        return f"the shadow died (exit status {status}): {reason}"

    async def _spawn_shadow(self, cycle: _Cycle, name: str | None, source: str | None,
                            cpu_seconds: int | None = None, nice: int = 0) -> ShadowWorker:
        g = self.guardian
        scratch = g.data_dir / "shadows" / f"{cycle.id}-{time.monotonic_ns()}"
        spec = WorkerSpec(
            agent=str(g.config.agent.absolute()), data_dir=str(g.config.data_dir.absolute()),
            debug_methods=g.config.debug_methods, role="shadow", candidate_name=name, candidate_source=source,
            scratch_dir=str(scratch), cpu_seconds=cpu_seconds or self.config.shadow_cpu_seconds, nice=nice,
            address_space=self.config.shadow_memory_headroom,
            grants=("llm",) if {"llm", "*"} & set(g.config.grants) else (), llm=g.config.llm,  # docs/llm.md, shadows
        )
        try:
            link = await g.launch_shadow(spec)
        except StartFailed as failure:
            shutil.rmtree(scratch, ignore_errors=True)
            raise _ShadowDied(f"the shadow did not start: {failure.reason}") from None
        link.scratch = scratch  # type: ignore[attr-defined]
        self._shadows += 1
        return link

    async def _close_shadow(self, link: ShadowWorker) -> None:
        if link in self._mirrors:
            self._mirrors.remove(link)
        try:
            await link.terminate("shadow done", timeout=5.0)
        finally:
            self._shadows -= 1
        scratch = getattr(link, "scratch", None)
        if scratch is not None:
            await asyncio.get_running_loop().run_in_executor(None, shutil.rmtree, scratch, True)


def _with_ratings(decision: Decision, stable: builtins.list[float], canary: builtins.list[float],
                  thresholds: RatingThresholds) -> Decision:
    """`decision` with the users' ratings of each arm's replies (`_ratings`): they can stop a
    canary that runs well but answers worse, never promote one."""
    if not stable and not canary:
        return decision
    objection, evidence = rating_objection(stable, canary, thresholds)
    evidence_all = {**decision.evidence, "ratings": evidence}
    if objection is None:
        return dataclasses.replace(decision, evidence=evidence_all)
    return dataclasses.replace(decision, verdict="reject", reasons=(objection, *decision.reasons),
                               evidence=evidence_all)


def _merge(into: dict[str, Any], report: dict[str, Any]) -> None:
    into["latencies_ms"].extend(float(x) for x in report.get("latencies_ms", []))
    into["errors"] += int(report.get("errors", 0))
    into["requests"] += int(report.get("requests", 0))
    into.setdefault("ratings", []).extend(float(x) for x in report.get("ratings", []) or [])


def _samples(data: dict[str, Any]) -> Samples:
    return Samples(latencies_ms=tuple(data["latencies_ms"]), errors=min(data["errors"], data["requests"]),
                   requests=data["requests"], fitness={k: tuple(v) for k, v in data.get("fitness", {}).items()})


def _score(decision: Decision) -> tuple[float, float]:
    """Rank winners: total fitness gain first, then how much faster — the median latency
    ratio (a -48 % candidate beats a -10 % one), not Cliff's delta, which says how surely
    the arms differ rather than by how much; the delta only when there is no ratio."""
    evidence = decision.evidence
    gain = 0.0
    for task in (evidence.get("fitness") or {}).values():
        if isinstance(task, dict) and isinstance(task.get("mean_change"), int | float):
            gain += float(task["mean_change"])
    latency = evidence.get("latency") or {}
    ratio = latency.get("median_ratio")
    if isinstance(ratio, int | float) and math.isfinite(ratio):
        return gain, 1.0 - float(ratio)
    delta = latency.get("cliffs_delta")
    return gain, -float(delta) if isinstance(delta, int | float) else 0.0


def _clean(trailers: dict[str, str]) -> dict[str, str]:
    """Git trailer values: one line, non-empty, bounded."""
    out = {}
    for key, value in trailers.items():
        text = " ".join(str(value).split())[:400]
        if text:
            out[key] = text
    return out


class _PoolShadow:
    """An evaluator shadow as `ShadowPool` sees it: ``evolution_evaluate``, and an end."""

    def __init__(self, manager: EvolutionManager, link: ShadowWorker) -> None:
        self._manager = manager
        self._link = link

    async def evaluate(self, args: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            reply = await self._manager._call(self._link, "evolution_evaluate", args, timeout)
        except _ShadowDied as died:
            raise WorkerDied(str(died)) from None
        if not isinstance(reply, dict):
            raise WorkerDied(f"evolution_evaluate answered {type(reply).__name__}, not a map")
        return reply

    async def close(self) -> None:
        await self._manager._close_shadow(self._link)


def _number_text(value: Any) -> str:
    """A figure for a progress line: 4 significant digits for a float."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _fitness_text(best: object) -> str:
    """A logbook row's best, for a progress line: ``checks_passed=3, steps=120`` (objectives in order)."""
    if isinstance(best, dict):
        return ", ".join(f"{k}={_number(v)}" for k, v in best.items()) or "-"
    if isinstance(best, list | tuple):
        return "[" + ", ".join(_number(v) for v in best) + "]"
    return "-" if best is None else str(best)


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _fitness_trailer(evaluation: Evaluation) -> str:
    """An evaluation's fitness as a git trailer value: checks, then deffitness values, then cost."""
    parts = [f"checks {evaluation.checks_passed}/{evaluation.checks_total}"]
    parts += [f"{name} {value:.6g}" for name, value in evaluation.fitness]
    parts.append(f"steps {evaluation.steps}")
    parts.append(f"size {evaluation.size}")
    return ", ".join(parts)
