"""Genetic programming inside a population run: `o-lisp evolve AGENT DEF --population N`
where DEF is the `:for` target of a `(deffitness NAME :for DEF :primitives [...]
:terminals [...] ...)` grows DEF's body instead of repairing it (docs/evolution.md,
"Genetic programming").

The GP engine (`o_lisp.evolution._gp.grow`) scores tens of thousands of trees a second by
calling the fitness task in-process; sending each tree through the guardian's evaluator
pool would cost a message round trip and a scratch load per tree. So the breeder grows DEF
itself, on a scratch copy of its agent, with the run's seed, population, generations and
`max_evals` (the GP's budget of fitness-task runs), and hands the grown definition to the
ordinary protocol as generation 1 (`PopulationSearch(..., given=...)`). The pool then
evaluates it like any candidate — scan, sandbox load, every check of the agent, every
`deffitness` — and `evolution_breed_best` decides as for a repair or a bred candidate:
the grown DEF is promoted only if it passes every test and improves the deffitness
without regressing another. The GP's per-generation logbook rides along in the first
generation's logbook row (key ``gp``).

Tournament, crossover and mutation rates stay the GP's own (`GPConfig`): the run's
settings hold the repair search's defaults, which are tuned for edits, not trees.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from o_lisp.agent._agent import Agent
from o_lisp.evolution._gp import GPConfig, GPError, GPResult, grow
from o_lisp.evolution._search import SearchError, Settings

OPERATOR = "gp"
"""The operator of a grown candidate (its lineage row, the run's best, the commit)."""


def fitness_for(agent: Agent, definition: str) -> str | None:
    """The `deffitness` whose search vocabulary grows `definition` (the first declared), or None."""
    for name, space in agent.search_spaces.items():
        if space.target == definition:
            return name
    return None


def _number(value: float) -> float | None:
    """A logbook figure as plain data: a fitness of no candidate (-inf) is null."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Grown:
    """What the breeder grew before the run's first generation."""

    fitness: str
    result: GPResult

    def settings(self, settings: Settings) -> Settings:
        """The pool's side of the run: one generation (the grown candidate), no cap (the
        run's `max_evals` was the GP's budget)."""
        return dataclasses.replace(settings, generations=1, max_evals=None)

    @property
    def given(self) -> tuple[tuple[str, str], ...]:
        return ((self.result.best_source, OPERATOR),)

    def row(self) -> dict[str, Any]:
        """The GP's summary and per-generation logbook (DEAP-style: gen, evals, best, avg, size)."""
        result = self.result
        return {"fitness": self.fitness, "generations": result.generations, "evaluations": result.evaluations,
                "seconds": round(result.seconds, 3), "best_fitness": _number(result.best_fitness),
                "logbook": [{"gen": g.gen, "evals": g.evaluations, "best": _number(g.best),
                             "avg": _number(g.average), "size": g.size_of_best} for g in result.logbook]}


def grow_for(agent: Agent, definition: str, settings: Settings) -> Grown | None:
    """Grow `definition` if a `deffitness` declares it as its `:for` target, else None.
    Raises `SearchError` when the vocabulary cannot be searched (a primitive of the wrong arity, ...)."""
    fitness = fitness_for(agent, definition)
    if fitness is None:
        return None
    config = GPConfig(population=settings.population, generations=settings.generations, seed=settings.seed,
                      max_evaluations=settings.max_evals)
    try:
        result = grow(agent.scratch(), fitness, config)
    except GPError as error:
        raise SearchError(f"cannot grow {definition} from deffitness {fitness}: {error}") from None
    return Grown(fitness, result)


__all__ = ["OPERATOR", "Grown", "fitness_for", "grow_for"]
