"""A model's share of a population run: LLM-written proposals in each generation.

With `o-lisp evolve --population N --generator llm|mixed [--model a,b]`, the breeder
(`_breed.Breeder`) calls `LLMShare` each time the search has bred a generation and
before it is evaluated. `LLMShare` asks the models for up to `share` of the
generation's proposals, with a prompt holding the definition, the agent's other
definitions (with their docstrings) and tests, the failing tests with the values they
failed on (the tests run once on a scratch copy), the best and the most diverse
individuals evaluated so far (`PopulationSearch.showcase`) and the hypothesis; what
they write is read and checked like any LLM candidate (`LLMGenerator`: same kind and
name, whole forms or SEARCH/REPLACE edits), then adopted into the generation in place
of as many bred children (`PopulationSearch.adopt`: duplicate and scope checks), and
evaluated by the same evaluator pool as every other individual (static scan, sandbox,
checks, fitness). Their operator is `llm` (`llm:NAME` for a named model), so the
logbook, the run's individuals and the promoted commit say who wrote them.

With `mixed` the slots of the share are drawn by the bandit (`o_lisp.evolution._bandit`)
between the offline arm (the slot stays a bred child) and the models, from the success
rates learned in earlier cycles; with `llm` they all go to the models. A generation
whose model calls fail keeps its bred children: a model can slow a run, never stop it.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable, Sequence
from typing import Any

from o_lisp._errors import LispError
from o_lisp._reader import read_many
from o_lisp.agent._definitions import DefinitionKind
from o_lisp.evolution._bandit import OFFLINE, allocate, arm_name
from o_lisp.evolution._generators import GenerationContext
from o_lisp.evolution._search import PARENT_ID, PopulationSearch
from o_lisp.forms import Expression, String
from o_lisp.worker._write import UsageMeter, failing_checks, models_of, write_candidates

SHARE = 0.25
"""The share of a generation's proposals a model is asked for."""
MAX_PER_GENERATION = 6
ASK_AT_LEAST = 3
"""Versions asked of a model at least (`LLMGenerator.max_candidates`), whatever its slots."""
"""At most this many LLM-written proposals per generation (tokens cost money, and the
search's own operators are cheap)."""


class LLMShare:
    """The breeder's hook (see the module docstring); `__call__(search)` after each breeding."""

    def __init__(self, agent: Any, definition: str, choice: str, models: Sequence[str | None], hypothesis: str = "",
                 share: float = SHARE, complete: Callable[[str | None], Callable[[str], str]] | None = None,
                 log: Callable[[str], None] | None = None, meter: UsageMeter | None = None) -> None:
        self.agent = agent
        self.definition = definition
        self.choice = choice
        self.models = list(models)
        self.hypothesis = hypothesis
        self.share = share
        self.complete = complete
        self.meter = meter
        self.log = log or (lambda line: print(f"o-lisp worker: {line}", file=sys.stderr))
        self.written: set[int] = set()
        self._failures: tuple[str, ...] | None = None
        self.adopted = 0

    def __call__(self, search: PopulationSearch) -> list[str]:
        """Adopt model-written proposals into the pending generation; their ids."""
        pending = search.pending
        if pending is None or not pending.proposals or pending.proposals[0].id == PARENT_ID:
            return []
        generation = search.generation + 1
        if generation in self.written or any(p.operator.split(":")[0] == "llm" for p in pending.proposals):
            return []  # written already (a resumed run's pending generation holds its model proposals)
        self.written.add(generation)
        slots = min(MAX_PER_GENERATION, len(pending.proposals), max(1, math.ceil(self.share * len(pending.proposals))))
        rng = random.Random(search.settings.seed * 1_000_003 + generation)
        stats = (self.agent.state.data.get("evolution") or {}).get("stats") or {}
        arms = ([OFFLINE] if self.choice == "mixed" else []) + [arm_name("llm", m) for m in self.models]
        quota = allocate(stats, arms, rng, slots)
        context = self._context(search, stats)
        adopted: list[str] = []
        for model in self.models:
            wanted = quota.get(arm_name("llm", model), 0)
            if wanted <= 0:
                continue
            # Ask for a few more versions than slots: some may already be in the run or fail the scope check.
            candidates, problems, _ = write_candidates(self.agent, context, "llm", [model], rng,
                                                       max(wanted, ASK_AT_LEAST), self.complete, self.meter)
            for problem in problems:
                self.log(f"generation {generation}: {problem}")
            ids: list[str] = []
            refused = 0
            for candidate in candidates:
                if len(ids) >= wanted:
                    break
                taken = search.adopt([candidate.source], arm_name("llm", model), 1, keep=adopted + ids)
                ids += taken
                refused += not taken
            if refused:
                self.log(f"generation {generation}: {refused} of {arm_name('llm', model)}'s candidates were "
                         "already in the run or failed the scope check")
            adopted += ids
        self.adopted += len(adopted)
        self.log(f"generation {generation}: {len(adopted)} model-written proposal(s) of {len(pending.proposals)} "
                 f"(slots: {', '.join(f'{arm} {k}' for arm, k in quota.items())})")
        return adopted

    def _context(self, search: PopulationSearch, stats: Any) -> GenerationContext:
        agent = self.agent
        target = agent.definitions[self.definition]
        others = tuple(d for d in agent.definitions.values() if d.name != self.definition)
        tests = [d for d in others if d.kind is DefinitionKind.TEST]
        if self._failures is None:
            self._failures = failing_checks(agent)
        examples = []
        for label, individual in search.showcase():
            evaluation = individual.evaluation
            how = "" if evaluation is None else (
                f": passes {evaluation.checks_passed} of {evaluation.checks_total} checks, {evaluation.steps} steps"
                + (f", stopped at {evaluation.stage}: {evaluation.reason[:200]}" if not evaluation.ok else ""))
            examples.append((f"A candidate evaluated so far ({label}{how})", individual.source))
        examples += [(f"The agent's test {d.name} (every candidate must pass it)", d.source) for d in tests[:4]]
        docs = [f";; {d.name} ({d.kind.value}): {doc}" for d in others if (doc := _docstring(d.source))]
        if docs:
            examples.append(("The docstrings of the agent's other definitions", "\n".join(docs[:30])))
        return GenerationContext(target=target, others=others, hypothesis=self.hypothesis, stats=stats,
                                 failures=self._failures, examples=tuple(examples))


def _docstring(source: str) -> str:
    """The docstring of a `(defn NAME [ARGS] "DOC" ...)`-like definition (first line), or ""."""
    try:
        forms = read_many(source, "<definition>")
    except (LispError, RecursionError):
        return ""
    form = forms[0] if len(forms) == 1 else None
    if isinstance(form, Expression) and len(form) > 4 and isinstance(form[3], String):
        return str(form[3]).strip().splitlines()[0][:200] if str(form[3]).strip() else ""
    return ""


def llm_share(agent: Any, definition: str, args: dict[str, Any], meter: UsageMeter | None = None) -> LLMShare | None:
    """The hook for `evolution_breed_start`'s ``generator``/``model``/``hypothesis``
    (None with ``mutation``); `WriteError` for a bad model list."""
    choice = str(args.get("generator") or "mutation")
    if choice == "mutation":
        return None
    if choice not in ("llm", "mixed"):
        raise ValueError(f"unknown generator {choice!r} (known: mutation, llm, mixed)")
    return LLMShare(agent, definition, choice, models_of(args.get("model")), str(args.get("hypothesis") or ""),
                    meter=meter)
