"""The breeder: a worker that holds a population search over one of its agent's definitions.

The guardian must stay responsive and must not import agent code, so the search state
of a population run lives in a worker (the cycle's baseline shadow, which has the parent
agent loaded); the guardian only carries requests from the breeder to the evaluators and
their answers back (docs/evolution.md, "The population engine"). `Breeder` builds the
pure `o_lisp.evolution._search.PopulationSearch` from the loaded agent — the target's
source, where its body starts, and every name usable without a local binding (the scope
check's `known`) — and turns its answers into the lab methods' plain-data replies. A definition that a
`deffitness` grows (its `:for` target) is grown by genetic programming first, and the
grown definition is the run's one generation (`_breed_gp`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from o_lisp._compiler import SPECIAL_FORMS
from o_lisp._reader import read_many
from o_lisp.agent._agent import Agent
from o_lisp.agent._definitions import DefinitionKind
from o_lisp.evolution._individual import Evaluation
from o_lisp.evolution._mutate import body_start
from o_lisp.evolution._search import PopulationSearch, SearchError, Settings, Target
from o_lisp.worker._breed_gp import Grown, grow_for
from o_lisp.worker._evaluate import scope_names

_BREEDABLE = (DefinitionKind.FUNCTION, DefinitionKind.TOOL, DefinitionKind.RULE, DefinitionKind.VALUE)


def target_of(agent: Agent, name: str) -> Target:
    """The search's view of `agent`'s definition `name`; `SearchError` if it cannot be bred."""
    definition = agent.definitions.get(name)
    if definition is None:
        known = ", ".join(sorted(d.name for d in agent.definitions.values()))[:300]
        raise SearchError(f"agent {agent.name} has no definition {name!r} (has: {known})")
    if definition.kind not in _BREEDABLE:
        raise SearchError(f"{name} is a {definition.kind.value}: only functions, tools, rules and values are bred")
    form = read_many(definition.source, f"<{name}>")[0]
    usable = frozenset(scope_names(agent)) | frozenset(SPECIAL_FORMS)
    return Target(name, definition.source, body_start(form, definition.kind), usable)


class Breeder:
    """One population run over one definition of `agent` (see the module docstring)."""

    def __init__(self, agent: Agent, definition: str, settings: Mapping[str, Any],
                 state: Mapping[str, Any] | None = None,
                 writer: Callable[[PopulationSearch], Any] | None = None) -> None:
        target = target_of(agent, definition)
        self.grown: Grown | None = None
        """DEF grown by genetic programming when it is a deffitness's `:for` target (`_breed_gp`)."""
        if state is not None:
            self.search = PopulationSearch.restore(state, target)
        else:
            checked = Settings.from_data(settings)
            self.grown = grow_for(agent, definition, checked)
            self.search = (PopulationSearch(checked, target) if self.grown is None
                           else PopulationSearch(self.grown.settings(checked), target, self.grown.given))
        self.writer = writer
        """Called once a generation is bred, before it is asked for: a model's share
        (`_breed_llm.LLMShare`), None for mutation only."""

    def _ask(self) -> Any:
        if self.writer is not None and self.grown is None:  # a model's share would replace the grown DEF
            self.writer(self.search)
        return self.search.ask()

    def start(self) -> dict[str, Any]:
        request = self._ask()
        return {"request": None if request is None else request.as_data(), "generation": self.search.generation}

    def tell(self, evaluations: list[Any]) -> dict[str, Any]:
        try:
            answers = [Evaluation.from_data(e) for e in evaluations]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise SearchError(f"an evaluation is malformed: {type(error).__name__}: {error}") from None
        told = self.search.tell(answers)
        request = self._ask()
        logbook = told.logbook
        if logbook is not None and self.grown is not None and self.search.generation == 1:
            logbook = {**logbook, "gp": self.grown.row()}
        return {"request": None if request is None else request.as_data(), "generation": self.search.generation,
                "generation_done": told.generation_done, "individuals": list(told.individuals),
                "logbook": logbook, "done": told.done}

    def state(self) -> dict[str, Any]:
        return {"state": self.search.state()}

    def best(self) -> dict[str, Any]:
        return self.search.best()


__all__ = ["Breeder", "target_of"]
