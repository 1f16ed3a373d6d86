"""Who writes a generation's candidates: the offline generators, models, or both, shared by a bandit.

`evolution_generate` (the hill-climbing cycle's baseline shadow) and the population
breeder's LLM share (`_breed_llm`) both come here. With one source the answer is that
source's; with several (`mixed`, or several models named `a,b`) each candidate slot
goes to the arm `o_lisp.evolution._bandit` draws from the success rates measured so far
(the agent's learning statistics), and the outcome of each candidate is credited back
to its arm by `evolution_record` (the candidate carries its `generator` and `model`).
"""

from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Callable, Sequence
from typing import Any

from o_lisp.evolution._bandit import OFFLINE, allocate, arm_name
from o_lisp.evolution._generators import (
    Candidate,
    GenerationContext,
    Generator,
    LLMGenerator,
    MutationGenerator,
    TemplateGenerator,
    generate,
    normalized,
)

MAX_MODELS = 8


class WriteError(ValueError):
    """A bad `model` list (the lab turns it into a `LabError`)."""


def models_of(value: Any) -> list[str | None]:
    """The models of a request's ``model``: None (the agent's default model), one name,
    or several separated by commas (`--model a,b`), each an arm of the bandit."""
    if value is None or value == "":
        return [None]
    if not isinstance(value, str):
        raise WriteError("model must be a model name or several separated by commas")
    names = list(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))
    if not names:
        return [None]
    if len(names) > MAX_MODELS:
        raise WriteError(f"at most {MAX_MODELS} models, got {len(names)}")
    return list(names)


def failing_checks(agent: Any) -> tuple[str, ...]:
    """The agent's failing tests with their errors, one line each, for a model's prompt
    (run on a scratch copy: nothing of the live agent changes)."""
    report = agent.scratch().run_tests()
    return tuple(f"test {test}: {why}"[:500] for test, why in sorted(report.failed.items()))


_COUNTS = ("requests", "input_tokens", "output_tokens", "cost_usd")


class UsageMeter:
    """What a shadow's model calls for evolution spent, to be charged to the live agent.

    A shadow's state is a copy thrown away after the cycle, so the tokens its LLM
    generator used would never reach the live agent's daily budget. The meter measures
    each call on the shadow agent's own durable accounting (`state["llm"]`, kept by the
    `llm_reply` mutations: fallbacks and retries included): the growth of the totals,
    split by the models that answered when the day did not change during the call (else
    all of it to the model asked). `drain` hands the entries over (lab method
    `evolution_usage`); the guardian sends them to the main worker (`evolution_charge`),
    which records them as `llm_usage` mutations."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def wrap(self, agent: Any, model: str | None, complete: Callable[[str], str]) -> Callable[[str], str]:
        def measured(prompt: str) -> str:
            before = copy.deepcopy(agent.state.data["llm"])
            try:
                return complete(prompt)
            finally:
                self._measure(agent, model, before, agent.state.data["llm"])
        return measured

    def _measure(self, agent: Any, model: str | None, before: dict[str, Any], after: dict[str, Any]) -> None:
        spent = {k: after["totals"][k] - before["totals"][k] for k in _COUNTS}
        if spent["requests"] <= 0:
            return
        day = str(after["day"]["day"])
        if before["day"]["day"] == day:
            for name, usage in sorted(after["day"]["models"].items()):
                old = before["day"]["models"].get(name) or dict.fromkeys(_COUNTS, 0)
                delta = {k: usage[k] - old[k] for k in _COUNTS}
                if delta["requests"] > 0:
                    self.entries.append({"model": name, "day": day, **delta})
            return
        name = model or agent.llm.model(None).name
        self.entries.append({"model": str(name), "day": day, **spent})

    def drain(self) -> list[dict[str, Any]]:
        entries, self.entries = self.entries, []
        return entries


def write_candidates(agent: Any, context: GenerationContext, choice: str, models: Sequence[str | None],
                     rng: random.Random, n: int,
                     complete: Callable[[str | None], Callable[[str], str]] | None = None,
                     meter: UsageMeter | None = None) -> tuple[list[Candidate], list[str], dict[str, int]]:
    """Up to `n` distinct candidates for `context`'s target: (candidates, problems the
    generators met, slots per arm).

    `choice` is ``mutation`` (offline only), ``llm`` (the models) or ``mixed`` (both);
    `complete(model)` gives the text-completion callable of a model (default: the
    agent's `llm.complete_text`, budgets, breakers and recording included, its usage
    measured by `meter`). Slots an
    LLM arm could not fill (a failed request, a reply without a usable definition) go
    to the offline arm when it is one of the arms, so a `mixed` generation is never
    smaller for a model's failure."""
    offline: list[Generator] = [MutationGenerator(), TemplateGenerator()]
    if choice == "mutation":
        return generate(context, offline, rng, n), [], {OFFLINE: n}
    if complete is None:
        def complete(model: str | None) -> Callable[[str], str]:
            call: Callable[[str], str] = lambda prompt: str(agent.llm.complete_text(prompt, model))  # noqa: E731
            return call if meter is None else meter.wrap(agent, model, call)

    arms: dict[str, tuple[list[Generator], str | None]] = {OFFLINE: (offline, None)} if choice == "mixed" else {}
    for model in models:
        arms[arm_name("llm", model)] = ([LLMGenerator(complete(model))], model)
    quota = allocate(context.stats, list(arms), rng, n)
    if any(slots and arm != OFFLINE for arm, slots in quota.items()) and not context.failures:
        context = dataclasses.replace(context, failures=failing_checks(agent))
    seen = {normalized(context.target.source)}
    out: list[Candidate] = []
    problems: list[str] = []

    def take(candidates: list[Candidate], model: str | None, limit: int) -> None:
        for candidate in candidates:
            key = normalized(candidate.source)
            if key in seen or len(out) >= limit:
                continue
            seen.add(key)
            out.append(dataclasses.replace(candidate, model=model or "") if candidate.generator == "llm" else candidate)

    for arm, slots in quota.items():
        if slots <= 0 or arm == OFFLINE:
            continue
        generators, model = arms[arm]
        take(generate(context, generators, rng, slots), model, n)
        problems += [f"{arm} generator: {problem}" for g in generators for problem in getattr(g, "last_errors", ())]
    if OFFLINE in arms and len(out) < n:
        take(generate(context, offline, rng, n), None, n)
    return out, problems, quota
