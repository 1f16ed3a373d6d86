"""The worker side of protected evolution: what a main or shadow worker does for a cycle.

The guardian orchestrates a cycle (`o_lisp.guardian._evolution`) but never runs agent
code, so every step that reads, generates, validates or runs code happens here, in a
worker process:

* a **baseline shadow** (role ``shadow``, no candidate) runs the current code on a
  copy of the state restored from the checkpoint taken at the start of the cycle; it
  generates the candidates (``evolution_generate``) and is the control arm of the
  shadow test;
* a **candidate shadow** (role ``shadow`` with a candidate) first validates its
  candidate against the current code (``evolution_validate``: read, static scan,
  tests, fitness, performance) and, if that passes, serves with the candidate;
* both shadows answer mirrored client requests and replay the fitness tasks
  (``evolution_fitness``); they log their mutations to a scratch file instead of the
  guardian's WAL, never write git, refuse code changes, and run under process limits
  (set by `o_lisp.worker._serve.apply_process_limits`), so a runaway candidate kills only
  its shadow;
* the **main worker** routes a share of the ``message`` requests to a canary
  (``canary_*``), and does every git write of a cycle: promotion, rejected
  candidates, rollbacks, and the learning record (``evolution_*``).

Samples (per-request compute time and outcome) are measured here, around the
agent call, so queueing in the guardian does not blur the latency comparison.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import sys
from pathlib import Path
from typing import IO, Any, Protocol

import msgpack

from o_lisp._compiler import SPECIAL_FORMS
from o_lisp._evalthread import evaluation_cpu_ns
from o_lisp._mangle import mangle
from o_lisp._reader import read_many
from o_lisp.agent._agent import Agent, bump_version
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.agent._dsl import classify
from o_lisp.agent._state import StateError
from o_lisp.evolution._bandit import arm_name
from o_lisp.evolution._bandit import updated as bandit_updated
from o_lisp.evolution._decision import format_duration
from o_lisp.evolution._generators import GenerationContext, updated
from o_lisp.evolution._search import SearchError
from o_lisp.evolution._validate import ValidationThresholds, run_fitness, validate
from o_lisp.guardian._protocol import (
    BadRequest,
    CodeVersion,
    ErrorCode,
    WorkerSpec,
)
from o_lisp.worker._breed import Breeder
from o_lisp.worker._breed_llm import llm_share
from o_lisp.worker._evaluate import check_request, evaluate, scope_names
from o_lisp.worker._llm import REPLIES_DIRECTORY, llm_settings
from o_lisp.worker._write import UsageMeter, WriteError, models_of, write_candidates

__all__ = ["Lab"]

MAX_SAMPLES = 100_000
MAX_RATED_REPLIES = 10_000
"""Replies remembered by arm during a canary (older ones can no longer be rated for it)."""
GENERATOR_CHOICES = ("mutation", "llm", "mixed")
"""`evolution_generate`'s ``generator``: the offline mutation and template generators, a
model (`LLMGenerator` through the agent's models, ``model`` naming one), or both."""


class LabWorker(Protocol):
    """What the lab uses of its worker (`o_lisp.worker._serve._Worker`)."""

    spec: WorkerSpec
    agent: Any  # the live Agent; a shadow's lab builds it
    agent_spec: Any
    repository: Any  # the agent's CodeRepository (None in a shadow)
    code_version: str


class LabError(Exception):
    """A lab request that cannot be done; the worker answers it with ``bad_request``."""


@dataclasses.dataclass
class _Arm:
    """Samples of one arm (stable or canary, or a shadow's requests) since the last report."""

    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    errors: int = 0
    requests: int = 0
    ratings: list[float] = dataclasses.field(default_factory=list)
    """Users' ratings (`/v1/feedback`) of replies this arm wrote (a canary signal: docs/llm.md)."""

    def add(self, ok: bool, ms: float) -> None:
        self.requests += 1
        if not ok:
            self.errors += 1
        if len(self.latencies_ms) < MAX_SAMPLES:
            self.latencies_ms.append(ms)

    def drain(self) -> dict[str, Any]:
        data = {"latencies_ms": self.latencies_ms, "errors": self.errors, "requests": self.requests,
                "ratings": self.ratings}
        self.latencies_ms, self.errors, self.requests, self.ratings = [], 0, 0, []
        return data


def _commit_of(code_version: str) -> str:
    """The commit of a worker's code version string (`CodeVersion`), or the string itself."""
    try:
        return CodeVersion.parse(code_version).commit
    except (ValueError, AttributeError):
        return code_version


class _ScratchLog:
    """A shadow's mutation log: msgpack ``[seq, op, args]`` records in its scratch directory.

    Not fsynced and never replayed: it exists so that a shadow's writes have somewhere
    to go that is not the agent's WAL, and can be inspected after a failed trial.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "mutations.msgpack"
        self._file: IO[bytes] = open(self.path, "ab")
        self.records = 0

    def __call__(self, seq: int, op: str, args: dict[str, Any]) -> None:
        self._file.write(msgpack.packb([seq, op, args], use_bin_type=True))
        self._file.flush()
        self.records += 1


def candidate_definition(name: str, source: str) -> Definition:
    """The `Definition` a candidate's source declares; LabError unless it declares `name`."""
    forms = read_many(source, f"<candidate {name}>")
    if len(forms) != 1:
        raise LabError(f"a candidate must be exactly one form, got {len(forms)}")
    kind, declared = classify(forms[0], f"<candidate {name}>", source)
    if declared != name:
        raise LabError(f"the candidate defines {declared!r}, not {name!r}")
    return Definition(name, kind, source)


def _refuse_code_change(reason: str) -> None:
    raise RuntimeError(f"a shadow worker cannot change its code ({reason})")


class Lab:
    """Evolution requests of one worker (`o_lisp.worker._serve._Worker`)."""

    def __init__(self, worker: LabWorker, state: Any) -> None:
        self.worker = worker
        self.spec = worker.spec
        self.shadow = _Arm()
        self.arms = {"stable": _Arm(), "canary": _Arm()}
        self.reply_arms: dict[str, str] = {}
        """Reply id -> who wrote it: a canary's arm while one runs, else `commit:C` (the code's
        commit), so a rating counts for the canary's arms or for the code version it judges."""
        self.commit_ratings: dict[str, list[float]] = {}
        """Ratings by the commit of the code that wrote the rated reply (probation: docs/evolution.md)."""
        self.canary: Any = None
        self.canary_name: str | None = None
        self.canary_weight = 0.0
        self.rng = random.Random()
        self.validated = False
        self.candidate: Definition | None = None
        self.scratch_log: _ScratchLog | None = None
        self.breeder: Breeder | None = None
        self.usage = UsageMeter()
        """A shadow's model usage for evolution, drained by the guardian (`evolution_usage`)."""
        if self.spec.shadow:
            self._build_shadow(state)

    # -- shadows ------------------------------------------------------------------------------
    def _build_shadow(self, state: Any) -> None:
        if self.spec.scratch_dir is None:
            raise LabError("a shadow needs a scratch directory")
        self.scratch_log = _ScratchLog(Path(self.spec.scratch_dir))
        state.on_mutation(self.scratch_log)

        agent = Agent(self.worker.agent_spec, Path(self.spec.data_dir), state=state, repository=None,
                      grants=self.spec.grants, llm_models=llm_settings(self.spec))
        agent.llm.share_replies(Path(self.spec.data_dir) / REPLIES_DIRECTORY, shadow=True)  # docs/llm.md, shadows
        agent.before_risky = _refuse_code_change
        self.worker.agent = agent
        if self.spec.candidate_name is not None:
            self.candidate = candidate_definition(self.spec.candidate_name, self.spec.candidate_source or "")

    def observe(self, method: str, ok: bool, ms: float) -> None:
        """Called by the worker after every request: a shadow keeps samples of mirrored ones."""
        if self.spec.shadow and not method.startswith(("evolution_", "canary_")):
            self.shadow.add(ok, ms)

    # -- messages (canary routing on the main worker) ----------------------------------------------
    def handle_message(self, text: str) -> tuple[str | None, str | None]:
        agent = self.worker.agent
        arm = "stable"
        if self.canary is not None and self.canary_weight > 0 and self.rng.random() < self.canary_weight:
            agent, arm = self.canary, "canary"
        started = evaluation_cpu_ns()  # CPU time, like every comparison of code (see _validate.cpu_time)
        ok = False
        try:
            reply = agent.handle(text)
            ok = True
        finally:
            if self.canary is not None:
                self.arms[arm].add(ok, (evaluation_cpu_ns() - started) / 1e6)
        reply_id = getattr(agent, "last_reply_id", None)
        if isinstance(reply_id, str):  # who wrote it, for its ratings: the canary's arm, the code's commit
            written = arm if self.canary is not None else f"commit:{_commit_of(self.worker.code_version)}"
            self.reply_arms[reply_id] = written
            while len(self.reply_arms) > MAX_RATED_REPLIES:
                self.reply_arms.pop(next(iter(self.reply_arms)))
        return reply, reply_id

    def feedback(self, rating: float, comment: str, reply_to: str | None) -> str:
        """Record feedback, then let the agent react (its ``on-feedback`` function, if any)."""
        agent = self.worker.agent
        feedback_id: str = agent.feedback(rating, comment, reply_to)
        arm = self.reply_arms.get(reply_to) if reply_to is not None else None
        if arm in self.arms and self.canary is not None:
            self.arms[arm].ratings.append(float(rating))
        elif arm is not None and arm.startswith("commit:"):
            ratings = self.commit_ratings.setdefault(arm[len("commit:"):], [])
            ratings.append(float(rating))
            del ratings[:-MAX_RATED_REPLIES]
        react = agent.interpreter.environment.get(mangle("on-feedback"))
        if callable(react):
            agent.interpreter.call(react, {"id": feedback_id, "rating": rating, "comment": comment, "reply_to": reply_to})
        return feedback_id

    # -- dispatch -------------------------------------------------------------------------------
    def dispatch(self, method: str, args: dict[str, Any]) -> Any:
        handler = getattr(self, "_" + method, None)
        shadow_only = method in ("evolution_generate", "evolution_validate", "evolution_samples", "evolution_usage")
        main_only = method == "evolution_charge" or method.startswith("canary_")
        if handler is None or (shadow_only and not self.spec.shadow) or (main_only and self.spec.shadow):
            raise BadRequest(ErrorCode.UNKNOWN_METHOD, f"unknown method {method[:64]!r} for a {self.spec.role} worker")
        try:
            return handler(args)
        except LabError as error:
            raise BadRequest(ErrorCode.BAD_REQUEST, str(error)) from None

    # -- any worker ---------------------------------------------------------------------------
    def _evolution_definitions(self, args: dict[str, Any]) -> list[dict[str, str]]:
        return [{"name": d.name, "kind": d.kind.value, "source": d.source}
                for d in self.worker.agent.definitions.values()]

    def _evolution_evaluate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Evaluate a population search's candidates (`o_lisp.worker._evaluate`): args are an
        `EvaluationRequest.as_data()`, the reply ``{"evaluations": [Evaluation.as_data()...]}``,
        one per proposal in order. Any role: every candidate runs in a scratch agent on a
        copy of the state, which logs nowhere (no WAL, no scratch log) and writes no git."""
        try:
            request = check_request(args)
        except ValueError as error:
            raise LabError(f"evolution_evaluate: {error}") from None
        return {"evaluations": [e.as_data() for e in evaluate(self.worker.agent, request)]}

    def _evolution_scope(self, args: dict[str, Any]) -> dict[str, Any]:
        """The names a candidate may use unbound locally (the search's scope check):
        ``{"globals": [...]}`` (definitions, agent builtins, stdlib functions and macros,
        safe built-ins; sorted) and ``{"special_forms": [...]}`` (`if`, `setv`, ...)."""
        if args:
            raise LabError(f"evolution_scope takes no arguments, got {', '.join(sorted(map(str, args)))[:200]}")
        return {"globals": scope_names(self.worker.agent), "special_forms": sorted(SPECIAL_FORMS)}

    # -- the breeder (a population search over one definition: o_lisp.worker._breed) -------------
    def _evolution_breed_start(self, args: dict[str, Any]) -> dict[str, Any]:
        """Start (or, with ``state``, resume) the lab's one population search: args
        ``{"definition", "settings", "state"}`` and, for a model's share of each
        generation, ``{"generator": "llm"|"mixed", "model", "hypothesis"}``; reply
        ``{"request", "generation"}``."""
        definition = _str(args, "definition")
        settings = args.get("settings") or {}
        state = args.get("state")
        if not isinstance(settings, dict):
            raise LabError("argument 'settings' must be a map")
        if state is not None and not isinstance(state, dict):
            raise LabError("argument 'state' must be a map or null")
        try:  # with generator llm/mixed a model writes a share of each generation (docs/llm.md)
            writer = llm_share(self.worker.agent, definition, args, self.usage)
        except (WriteError, ValueError) as error:
            raise LabError(f"evolution_breed_start: {error}") from None
        try:
            self.breeder = Breeder(self.worker.agent, definition, settings, state, writer)
            return self.breeder.start()
        except SearchError as error:
            self.breeder = None
            raise LabError(f"evolution_breed_start: {error}") from None

    def _breeding(self, method: str) -> Breeder:
        if self.breeder is None:
            raise LabError(f"{method}: no population search was started (evolution_breed_start)")
        return self.breeder

    def _evolution_breed_tell(self, args: dict[str, Any]) -> dict[str, Any]:
        """The answers to the last request: ``{"evaluations": [...]}``; the next request and
        what this generation produced (individuals, logbook row)."""
        breeder = self._breeding("evolution_breed_tell")
        evaluations = args.get("evaluations")
        if not isinstance(evaluations, list) or not all(isinstance(e, dict) for e in evaluations):
            raise LabError("evolution_breed_tell: argument 'evaluations' must be a list of maps")
        try:
            return breeder.tell(evaluations)
        except SearchError as error:
            raise LabError(f"evolution_breed_tell: {error}") from None

    def _evolution_breed_state(self, args: dict[str, Any]) -> dict[str, Any]:
        """``{"state": ...}``: everything `evolution_breed_start` needs to resume the run."""
        return self._breeding("evolution_breed_state").state()

    def _evolution_breed_best(self, args: dict[str, Any]) -> dict[str, Any]:
        """The run's best candidate and whether it improves on the parent (docs/evolution.md)."""
        try:
            return self._breeding("evolution_breed_best").best()
        except SearchError as error:  # asked before the parent's evaluation was told
            raise LabError(f"evolution_breed_best: {error}") from None

    def _evolution_fitness(self, args: dict[str, Any]) -> dict[str, Any]:
        """Replay the fitness tasks `repeats` times: scores, latencies, errors."""

        repeats = _int(args, "repeats", 1, 1, 1000)
        run = run_fitness(self.worker.agent, repeats)
        return {"scores": {k: list(v) for k, v in run.scores.items()}, "latencies_ms": list(run.latencies_ms),
                "errors": dict(run.errors)}

    # -- shadows ---------------------------------------------------------------------------------
    def _evolution_samples(self, args: dict[str, Any]) -> dict[str, Any]:
        return self.shadow.drain()

    def _evolution_generate(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Candidates for one definition from the offline generators (mutation, templates)."""

        agent = self.worker.agent
        name = _str(args, "target")
        target = agent.definitions.get(name)
        if target is None:
            raise LabError(f"agent {agent.name} has no definition {name!r}")
        n = _int(args, "n", 4, 1, 64)
        seed = _int(args, "seed", 0, 0, 2**32)
        others = tuple(d for d in agent.definitions.values() if d.name != name)
        evolution = agent.state.data.get("evolution") or {}
        context = GenerationContext(
            target=target, others=others, ancestors=tuple(self._ancestors(name, target.source)),
            hypothesis=str(args.get("hypothesis", "")), stats=evolution.get("stats") or {},
        )
        choice = str(args.get("generator") or "mutation")
        if choice not in GENERATOR_CHOICES:
            raise LabError(f"unknown generator {choice!r} (known: {', '.join(GENERATOR_CHOICES)})")
        try:  # docs/llm.md, "LLM-written candidates": models and the bandit between them
            models = models_of(args.get("model"))
        except WriteError as error:
            raise LabError(str(error)) from None
        candidates, problems, quota = write_candidates(agent, context, choice, models, random.Random(seed), n,
                                                       meter=self.usage)
        for problem in problems:
            print(f"o-lisp worker: {problem}", file=sys.stderr)
        if len(quota) > 1:
            print("o-lisp worker: bandit slots: " + ", ".join(f"{arm} {k}" for arm, k in quota.items()),
                  file=sys.stderr)
        if choice == "llm" and not candidates:  # say why, rather than "0 candidates"
            reasons = "; ".join(p.split(" generator: ", 1)[-1] for p in problems) or "the reply held no usable definition"
            raise LabError(f"the llm generator wrote no candidate: {reasons}"[:1000])
        return [dataclasses.asdict(c) for c in candidates]

    def _evolution_ratings(self, args: dict[str, Any]) -> dict[str, Any]:
        """Users' ratings of the replies each of ``commits`` wrote (on this worker, since it
        started): ``{"ratings": {commit: [rating...]}}``, for probation."""
        commits = args.get("commits")
        if not isinstance(commits, list) or not all(isinstance(c, str) for c in commits):
            raise LabError("evolution_ratings: argument 'commits' must be a list of commit ids")
        return {"ratings": {c: list(self.commit_ratings.get(c, ())) for c in commits[:16]}}

    def _evolution_usage(self, args: dict[str, Any]) -> dict[str, Any]:
        """The model usage this shadow spent for evolution since the last call (the LLM
        generator's requests): ``{"usage": [{"model", "day", "requests", "input_tokens",
        "output_tokens", "cost_usd"}...]}``, for the guardian to charge to the live agent."""
        return {"usage": self.usage.drain()}

    def _evolution_charge(self, args: dict[str, Any]) -> dict[str, Any]:
        """The main worker: add a shadow's model usage to the live agent's day
        (``{"usage": [...], "source": CYCLE}``), one durable `llm_usage` mutation per entry,
        so evolution spends from the same daily budgets as the agent. Reply: the day."""
        entries = args.get("usage")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise LabError("evolution_charge: argument 'usage' must be a list of maps")
        agent = self.worker.agent
        for entry in entries[:1000]:
            try:
                agent.state.apply("llm_usage", {
                    "model": str(entry["model"])[:200], "day": str(entry["day"])[:10],
                    "requests": entry["requests"], "input_tokens": entry["input_tokens"],
                    "output_tokens": entry["output_tokens"], "cost_usd": entry["cost_usd"],
                    "source": str(args.get("source", ""))[:200], "time": agent.clock()})
            except (KeyError, StateError) as error:
                raise LabError(f"evolution_charge: a usage entry is malformed: {error}") from None
        day = agent.state.data["llm"]["day"]
        return {"day": {k: v for k, v in day.items() if k != "models"}}

    def _ancestors(self, name: str, current: str, limit: int = 5) -> list[str]:
        repository = self.worker.repository
        found: list[str] = []
        seen = {current}
        try:
            entries = repository.history()
        except Exception:
            return found
        for entry in entries[1:40]:
            try:
                definitions = repository.definitions(entry.commit)
            except Exception:
                continue
            for d in definitions:
                if d.name == name and d.source not in seen:
                    seen.add(d.source)
                    found.append(d.source)
            if len(found) >= limit:
                break
        return found

    def _evolution_validate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Validate this shadow's candidate against the current code; on success serve with it."""

        if self.candidate is None:
            raise LabError("this shadow has no candidate")
        options = args.get("thresholds") or {}
        if not isinstance(options, dict):
            raise LabError("thresholds must be a map")
        try:
            thresholds = ValidationThresholds(**options)
        except (TypeError, ValueError) as error:
            raise LabError(f"bad validation thresholds: {error}") from None
        parent = self.worker.agent
        report = validate(parent, self.candidate, thresholds)
        if report.ok:
            candidate_agent = parent.scratch(self.candidate, state=parent.state)
            candidate_agent.before_risky = _refuse_code_change
            self.worker.agent = candidate_agent
            self.validated = True
        data: dict[str, Any] = report.as_data()
        return data

    # -- the main worker: canary -------------------------------------------------------------------
    def _canary_start(self, args: dict[str, Any]) -> dict[str, Any]:
        name = _str(args, "name")
        definition = candidate_definition(name, _str(args, "source"))
        self.canary = self.worker.agent.with_candidate(definition)
        self.canary.before_risky = _refuse_code_change
        self.canary_name = name
        self.canary_weight = _weight(args)
        self.rng = random.Random(_int(args, "seed", 0, 0, 2**32))
        for arm in self.arms.values():
            arm.drain()
        return {"weight": self.canary_weight}

    def _canary_weight(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.canary is None:
            raise LabError("no canary is running")
        self.canary_weight = _weight(args)
        return {"weight": self.canary_weight}

    def _canary_report(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"weight": self.canary_weight, "stable": self.arms["stable"].drain(), "canary": self.arms["canary"].drain()}

    def _canary_stop(self, args: dict[str, Any]) -> dict[str, Any]:
        stopped = self.canary is not None
        self.canary, self.canary_name, self.canary_weight = None, None, 0.0
        for reply_id in [r for r, arm in self.reply_arms.items() if arm in self.arms]:
            del self.reply_arms[reply_id]
        return {"stopped": stopped}

    # -- the main worker: git writes and learning ------------------------------------------------
    def _evolution_promote(self, args: dict[str, Any]) -> dict[str, Any]:
        """Commit the candidate (trailers carry the evidence), bump and tag, hot-reload in place.

        The checkpoint comes first (`before_risky`), so the state the old code left is
        durable before the new code runs; a candidate that fails to load is rolled back
        at once (a new commit) and the old code keeps serving.
        """

        agent = self.worker.agent
        repository = self.worker.repository
        name = _str(args, "name")
        definition = candidate_definition(name, _str(args, "source"))
        reason = _str(args, "reason")
        trailers = _trailers(args)
        bump = args.get("bump", "patch")
        if bump not in (None, "major", "minor", "patch"):
            raise LabError(f"unknown version bump {bump!r}")
        if agent.before_risky is not None:
            agent.before_risky(f"promote {name}: {reason}")
        parent = repository.head()
        version = repository.version()
        tag = None
        if bump is not None:
            version = bump_version(version, bump)
            tag = f"v{version}"
        # One commit: the candidate, its version and its tag.
        commit = repository.commit_definition(definition, reason, trailers, version=version if tag else None,
                                              changelog_entry=f"{name}: {reason}")
        try:
            agent.rebuild()
        except Exception as error:
            repository.rollback(parent, f"promotion of {name} did not load: {error}"[:400],
                                trailers={"Rolled-Back-By": "guardian"})
            agent.rebuild()
            raise LabError(f"the promoted code did not load: {error}") from None
        self._canary_stop({})
        agent.state.apply("record_rewrite", {"name": name, "commit": commit, "version": version, "reason": reason,
                                             "time": agent.clock(), "source": definition.source})
        self.worker.code_version = str(CodeVersion(repository.version(), repository.head()))
        return {"commit": commit, "version": version, "tag": tag, "parent": parent,
                "code_version": self.worker.code_version}

    def _evolution_reject(self, args: dict[str, Any]) -> dict[str, Any]:
        """Keep a rejected candidate on the candidates ref, with the reason and evidence."""
        name = _str(args, "name")
        source = _str(args, "source")
        try:
            definition = candidate_definition(name, source)
        except Exception:  # an unreadable candidate is recorded as what was tried

            current = self.worker.agent.definitions.get(name)
            kind = current.kind if current is not None else DefinitionKind.FUNCTION
            definition = Definition(name, kind, source if source.strip() else "None")
        commit = self.worker.repository.record_rejected(definition, _str(args, "reason"), _trailers(args))
        return {"commit": commit}

    def _evolution_rollback(self, args: dict[str, Any]) -> dict[str, Any]:
        """Roll the code back to `rev` (a new commit saying why) and reload it in place."""
        agent = self.worker.agent
        repository = self.worker.repository
        rev = _str(args, "rev")
        reason = _str(args, "reason")
        if agent.before_risky is not None:
            agent.before_risky(f"rollback to {rev}: {reason}")
        self._canary_stop({})
        commit = repository.rollback(rev, reason, trailers=_trailers(args) or {"Rolled-Back-By": "guardian"})
        agent.rebuild()
        agent.state.apply("record_rewrite", {"name": "*", "commit": commit, "version": repository.version(),
                                             "reason": f"rollback to {rev}: {reason}", "time": agent.clock()})
        self.worker.code_version = str(CodeVersion(repository.version(), repository.head()))
        return {"commit": commit, "version": repository.version(), "code_version": self.worker.code_version}

    def _evolution_record(self, args: dict[str, Any]) -> dict[str, Any]:
        """Feed an outcome into the learning stats (state, so checkpointed and replayed)."""

        agent = self.worker.agent
        outcome = _str(args, "outcome")
        if outcome not in ("promoted", "rejected", "rolled_back"):
            raise LabError(f"unknown outcome {outcome!r}")
        target, generator, operator = _str(args, "target"), _str(args, "generator"), str(args.get("operator", ""))
        evolution = agent.state.data.get("evolution") or {}
        stats = updated(evolution.get("stats") or {}, target, generator, operator,
                        "promoted" if outcome == "promoted" else "rejected")
        if generator in ("mutation", "template", "llm"):  # the bandit's arms (o_lisp/evolution/_bandit.py)
            model = args.get("model") if isinstance(args.get("model"), str) else None
            stats = bandit_updated(stats, arm_name(generator, model), outcome == "promoted")
        agent.state.apply("record_evolution", {
            "cycle": _str(args, "cycle"), "target": target, "generator": generator, "operator": operator,
            "outcome": outcome, "reason": str(args.get("reason", ""))[:500], "stats": stats, "time": agent.clock(),
        })
        return {"stats": stats}

    def _evolution_perceive(self, args: dict[str, Any]) -> list[dict[str, str]]:
        """Perception: definitions that deserve a cycle, from metrics and failing tests.

        Metrics (`AgentState.observe`, per rule, tool and workflow step) flag a
        definition whose error rate exceeds ``max_error_rate`` or whose p95 latency
        exceeds ``p95_ms`` over at least ``min_calls`` calls. Every ``deftest`` runs in
        a scratch copy (never on the live state); a failing one flags the definitions
        it refers to. Tests and fitness tasks are never targets.
        """

        agent = self.worker.agent
        max_error_rate = float(args.get("max_error_rate", 0.1))
        min_calls = _int(args, "min_calls", 20, 1, 10**9)
        p95_ms = args.get("p95_ms")
        evolvable = {name for name, d in agent.definitions.items()
                     if d.kind not in (DefinitionKind.TEST, DefinitionKind.FITNESS)}
        intents: list[dict[str, str]] = []
        seen: set[str] = set()

        def flag(target: str, hypothesis: str, origin: str) -> None:
            if target in evolvable and target not in seen:
                seen.add(target)
                intents.append({"definition": target, "hypothesis": hypothesis[:500], "origin": origin})

        for key, metric in sorted(agent.state.data.get("metrics", {}).items()):
            kind, _, name = key.partition(":")
            target = name.partition(".")[0] if kind == "step" else name
            calls, errors = int(metric.get("calls", 0)), int(metric.get("errors", 0))
            if calls < min_calls:
                continue
            if errors / calls > max_error_rate:
                flag(target, f"{key} fails {errors} of {calls} calls ({errors / calls:.0%})", "metrics")
            samples = sorted(metric.get("latencies_ms") or [])
            if isinstance(p95_ms, int | float) and samples:
                p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
                if p95 > p95_ms:
                    flag(target, f"{key} p95 latency {format_duration(p95)} exceeds {p95_ms:g} ms", "metrics")
        if agent.tests and args.get("tests", True):
            report = agent.scratch().run_tests()
            for test_name, why in report.failed.items():
                source = agent.definitions[test_name].source if test_name in agent.definitions else ""
                for target in sorted(evolvable):
                    if _mentions(source, target):
                        flag(target, f"test {test_name} fails: {why}", "tests")
        return intents

    def _evolution_state(self, args: dict[str, Any]) -> dict[str, Any]:
        evolution = self.worker.agent.state.data.get("evolution") or {}
        return {"stats": evolution.get("stats") or {}, "history": list(evolution.get("history") or [])[-50:],
                "code_version": self.worker.code_version, "pid": os.getpid()}


def _mentions(source: str, name: str) -> bool:
    """Whether `source` uses the symbol `name` (a whole symbol, not a substring of another)."""

    return re.search(rf"(?<![\w\-!?*<>=/.]){re.escape(name)}(?![\w\-!?*<>=/])", source) is not None


def _str(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise LabError(f"argument {name!r} must be a string")
    return value


def _int(args: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = args.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LabError(f"argument {name!r} must be an integer from {low} to {high}")
    return value


def _weight(args: dict[str, Any]) -> float:
    value = args.get("weight")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise LabError("argument 'weight' must be a number from 0 to 1")
    return float(value)


def _trailers(args: dict[str, Any]) -> dict[str, str]:
    trailers = args.get("trailers") or {}
    if not isinstance(trailers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in trailers.items()):
        raise LabError("argument 'trailers' must map strings to strings")
    return dict(trailers)
