"""Who writes a generation's candidates: the offline generators, models, or both, shared by a bandit.

`evolution_generate` (the hill-climbing cycle's baseline shadow) and the population
breeder's LLM share (`_breed_llm`) both come here. With one source the answer is that
source's; with several (`mixed`, or several models named `a,b`) each candidate slot
goes to the arm `o_lisp.evolution._bandit` draws from the success rates measured so far
(the agent's learning statistics), and the outcome of each candidate is credited back
to its arm by `evolution_record` (the candidate carries its `generator` and `model`).
"""

from __future__ import annotations

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


def write_candidates(agent: Any, context: GenerationContext, choice: str, models: Sequence[str | None],
                     rng: random.Random, n: int,
                     complete: Callable[[str | None], Callable[[str], str]] | None = None,
                     ) -> tuple[list[Candidate], list[str], dict[str, int]]:
    """Up to `n` distinct candidates for `context`'s target: (candidates, problems the
    generators met, slots per arm).

    `choice` is ``mutation`` (offline only), ``llm`` (the models) or ``mixed`` (both);
    `complete(model)` gives the text-completion callable of a model (default: the
    agent's `llm.complete_text`, budgets, breakers and recording included). Slots an
    LLM arm could not fill (a failed request, a reply without a usable definition) go
    to the offline arm when it is one of the arms, so a `mixed` generation is never
    smaller for a model's failure."""
    offline: list[Generator] = [MutationGenerator(), TemplateGenerator()]
    if choice == "mutation":
        return generate(context, offline, rng, n), [], {OFFLINE: n}
    if complete is None:
        def complete(model: str | None) -> Callable[[str], str]:
            return lambda prompt: str(agent.llm.complete_text(prompt, model))

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
