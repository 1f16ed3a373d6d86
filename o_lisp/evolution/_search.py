"""The population search: ask for a batch of candidates, be told how they did, repeat.

`PopulationSearch` never runs agent code. It asks (`ask`) for an `EvaluationRequest`
and is told (`tell`) one `Evaluation` per proposal; whoever drives it (the breeder in a
worker, `o_lisp.worker._breed`, under the guardian's loop) sends the requests to
evaluators. A run:

1. the parent itself, with a spectrum (its failing tests and where they ran, for
   fault localisation: `_localise`);
2. generation 1: distinct one-edit mutants of the parent (`_repair.edits`), drawn by
   operator (prior x learned success rate per operator x context) and then by site
   (Ochiai suspiciousness), split over the islands;
3. generations 2..G, per island: elitism, then each child either a fresh one-edit
   mutant of the parent (`FRESH_SHARE`, more while nothing beats the parent) or bred:
   tournament selection (parents sometimes drawn from the MAP-Elites archive,
   `_archive`), homologous crossover, mutation; the islands exchange their best every
   `MIGRATE_EVERY` generations (a ring).

Every candidate is checked before it is asked for: its normalised form (printed source)
must be new in the run (duplicates are never evaluated twice) and it must reference no
name unbound where it is used (`_scope`). Each test run of a candidate is capped at
``max(20 x the parent's steps, STEP_FLOOR)`` steps (a runaway dies in milliseconds) and
the tests the parent fails run first. A repair run (the parent fails some check) stops
once it has a natural one-node patch passing every check, or `PATIENCE` generations
after its first plausible patch (see `SMALL_EDIT`). One
`random.Random` drives every choice, so a seed reproduces the run, and `state` /
`restore` carry everything (RNG state included) across a restart.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from o_lisp._errors import LispError
from o_lisp._printer import to_source
from o_lisp._reader import read_many
from o_lisp.evolution import _fitness as fit
from o_lisp.evolution._archive import Archive, cell
from o_lisp.evolution._individual import (
    Evaluation,
    EvaluationRequest,
    Proposal,
    evaluations_in_order,
)
from o_lisp.evolution._localise import Localiser, ochiai
from o_lisp.evolution._repair import PRIORS, Edit, crossover, edits
from o_lisp.evolution._scope import analyse, unbound

STEP_FACTOR = 20
STEP_FLOOR = 100_000
"""A candidate's test run may take max(STEP_FACTOR x the parent's steps, STEP_FLOOR) steps."""
PARENT_STEP_LIMIT = 2_000_000
"""The parent's own test runs are capped too: a repair often starts from a parent that
loops forever, and its evaluation (twice: plain and instrumented) should not take the
agent's whole budget. A parent that hits this counts as a runaway: its candidates get
STEP_FLOOR."""
MIGRATE_EVERY = 2
ARCHIVE_RATE = 0.1
"""The share of parents drawn from the MAP-Elites archive instead of the island's tournament."""
FRESH_SHARE = 0.5
FRESH_SHARE_FLAT = 0.8
"""The share of each generation's children that are new one-edit mutants of the parent:
most bugs are one edit away, so its neighbourhood keeps being explored however the
islands drift; while nothing has passed more checks than the parent (no gradient to
follow, a repair's usual start) most children are, the rest keep the islands breeding."""
SMALL_EDIT = 1
NATURAL_ENOUGH = 2.0
PATIENCE = 2
"""A repair stops after the first generation with a candidate passing every check within
SMALL_EDIT of the parent (one node changed: it cannot get smaller) by a usual slip
(naturalness at least NATURAL_ENOUGH: a near operator swap, a constant ±1, another
variable). Any other plausible patch is kept while the search spends PATIENCE more
generations, mostly on the parent's untried neighbours, looking for a smaller or more
natural one, which is less likely to overfit the visible tests: ``(% n (+ d 1))``
passes them as well as the fix ``<`` -> ``<=``, and so does ``!=`` -> ``>=`` where the
fix is ``!=`` -> ``=``."""
TRIES = 60
"""Attempts to breed one new (unseen, scope-correct) candidate before giving up the slot."""
RATE_PRIOR = 4
STATE_VERSION = 1
PARENT_ID = "parent"


class SearchError(ValueError):
    """Bad settings, a state that does not fit, or evaluations that do not answer the request."""


@dataclass(frozen=True)
class Settings:
    """The run's knobs (the seeds' defaults)."""

    population: int = 50
    generations: int = 10
    islands: int = 2
    tournament: int = 3
    crossover: float = 0.7
    mutation: float = 0.1
    elitism: int = 5
    seed: int = 0
    max_evals: int | None = None

    def as_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Settings:
        """Missing fields take their defaults; a wrong one is a `SearchError` naming it."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise SearchError(f"unknown settings {', '.join(sorted(map(str, unknown)))}")
        values = {**asdict(cls()), **{k: v for k, v in data.items() if v is not None or k == "max_evals"}}
        for name, low, high in (("population", 2, 10_000), ("generations", 1, 10_000), ("islands", 1, 100),
                                ("tournament", 1, 100), ("elitism", 0, 10_000), ("seed", -(2**63), 2**63 - 1)):
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise SearchError(f"setting {name} must be an integer from {low} to {high}, got {value!r}")
        for name in ("crossover", "mutation"):
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise SearchError(f"setting {name} must be a number from 0 to 1, got {value!r}")
            values[name] = float(value)
        cap = values["max_evals"]
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise SearchError(f"setting max_evals must be null or a positive integer, got {cap!r}")
        if values["islands"] > values["population"] // 2:
            raise SearchError(f"setting islands ({values['islands']}) needs at least 2 individuals per island "
                              f"(population {values['population']})")
        return cls(**values)


@dataclass(frozen=True)
class Target:
    """What the search changes: one definition (its source, where its body starts) and
    the names usable anywhere (globals, special forms, macros) for the scope check."""

    name: str
    source: str
    body_from: int | None
    known: frozenset[str]


@dataclass
class Individual:
    id: str
    source: str
    parents: tuple[str, ...]
    operator: str
    island: int
    edit: int
    generation: int
    evaluation: Evaluation | None = None
    contexts: tuple[tuple[str, str], ...] = ()
    natural: float = 1.0
    """How plausible its edits are a priori: the product over them of the operator's prior
    and the edit's weight (`_repair.PRIORS`, `Edit.weight`); a repair's last tie-break
    before cost, so `<` -> `<=` wins over an equally small but far-fetched edit."""

    def as_data(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "parents": list(self.parents), "operator": self.operator,
                "island": self.island, "edit": self.edit, "generation": self.generation,
                "evaluation": None if self.evaluation is None else self.evaluation.as_data(),
                "contexts": [list(c) for c in self.contexts], "natural": self.natural}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Individual:
        ev = data.get("evaluation")
        return cls(str(data["id"]), str(data["source"]), tuple(data["parents"]), str(data["operator"]),
                   int(data["island"]), int(data["edit"]), int(data["generation"]),
                   None if ev is None else Evaluation.from_data(ev),
                   tuple((str(a), str(b)) for a, b in data.get("contexts", ())), float(data.get("natural", 1.0)))


@dataclass(frozen=True)
class Told:
    """What one `tell` did: the individuals it recorded, and the logbook row of the
    generation it completed (None when it completed none)."""

    individuals: tuple[dict[str, Any], ...]
    generation_done: bool
    logbook: dict[str, Any] | None
    done: bool


def _natural(edit: Edit) -> float:
    return PRIORS.get(edit.operator, 1.0) * edit.weight


def _hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:24]


def _read_one(source: str) -> Any:
    forms = read_many(source, "<candidate>")
    if len(forms) != 1:
        raise SearchError(f"the target must be one form, got {len(forms)}")
    return forms[0]


@dataclass
class _Rates:
    """Learned operator success rates, per operator and per operator x context: a
    success is a child that ranks above its (best) parent."""

    counts: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def rate(self, operator: str, context: str = "*") -> float:
        """Smoothed success rate: a Beta(RATE_PRIOR, RATE_PRIOR) prior, so a handful of
        lucky (or unlucky) children do not starve an operator of tries."""
        s, t = self.counts.get((operator, context), (0, 0))
        return (s + RATE_PRIOR) / (t + 2 * RATE_PRIOR)

    def record(self, operator: str, context: str, success: bool) -> None:
        for key in ((operator, context), (operator, "*")):
            entry = self.counts.setdefault(key, [0, 0])
            entry[0] += int(success)
            entry[1] += 1


class PopulationSearch:
    """See the module docstring. `ask` -> request (None when done), `tell(evaluations)`."""

    def __init__(self, settings: Settings, target: Target, given: Sequence[tuple[str, str]] = ()) -> None:
        self.settings = settings
        self.target = target
        self.given = tuple(given)
        """Candidates written elsewhere, as (source, operator): when there are any, they are
        generation 1 in place of the parent's mutants (the definition grown by genetic
        programming: o_lisp/worker/_breed_gp.py)."""
        self.parent_form = _read_one(target.source)
        self.parent_source = to_source(self.parent_form)
        self.tolerated = frozenset(n for _, n in unbound(analyse(self.parent_form, target.body_from), target.known))
        self.rng = random.Random(settings.seed)
        self.individuals: dict[str, Individual] = {}
        self.islands: list[list[str]] = []
        self.archive = Archive()
        self.rates = _Rates()
        self.generation = 0
        self.evaluations = 0
        self.counter = 0
        self.duplicates = 0
        self.scope_rejected = 0
        self.step_limit: int | None = None
        self.first: tuple[str, ...] = ()
        self.fitness_names: tuple[str, ...] = ()
        self.done = False
        self.plausible_since: int | None = None
        """The generation that produced the first candidate passing every check (a repair)."""
        self.seen: set[str] = {_hash(self.parent_source)}
        self._edits: dict[str, list[Edit]] = {}
        self._neighbours: list[tuple[Edit, str]] | None = None
        self._forms: dict[str, Any] = {}
        """Forms of individuals by id (read once from their source; forms are immutable)."""
        self.rejected: set[str] = set()
        """Hashes of candidates the scope check rejected (never built again)."""
        self.localiser = Localiser({})
        parent = Individual(PARENT_ID, self.parent_source, (), "seed", 0, 0, 0)
        self.individuals[PARENT_ID] = parent
        self.pending: EvaluationRequest | None = EvaluationRequest(
            (Proposal(PARENT_ID, target.name, self.parent_source, (), "seed"),), step_limit=PARENT_STEP_LIMIT,
            spectrum=True)

    # -- the protocol ------------------------------------------------------------------------
    def ask(self) -> EvaluationRequest | None:
        """The batch to evaluate next (the same one until it is told), None when done."""
        return self.pending

    def tell(self, evaluations: Sequence[Evaluation]) -> Told:
        """Record the answers to the pending request and prepare the next one."""
        if self.pending is None:
            raise SearchError("nothing was asked: the search is done")
        try:
            answers = evaluations_in_order(self.pending, evaluations)
        except ValueError as error:
            raise SearchError(str(error)) from None
        self.evaluations += len(answers)
        for evaluation in answers:
            self.individuals[evaluation.id].evaluation = evaluation
        told = [self._row(self.individuals[e.id]) for e in answers]
        if answers[0].id == PARENT_ID:
            self._start(answers[0])
            self.pending = self._breed_first()
            return Told(tuple(told), False, None, self.pending is None)
        row = self._integrate([e.id for e in answers])
        self.pending = None if self.done else self._breed()
        if self.pending is None:
            self.done = True
        return Told(tuple(told), True, row, self.done)

    # -- the parent --------------------------------------------------------------------------
    def _start(self, parent: Evaluation) -> None:
        self.fitness_names = tuple(name for name, _ in parent.fitness)
        runaway = parent.stage == "checks" and "step limit" in parent.reason
        self.step_limit = STEP_FLOOR if runaway else max(STEP_FACTOR * parent.steps, STEP_FLOOR)
        self.first = tuple(dict.fromkeys(c.rsplit("#", 1)[0] for c in parent.failed_checks))
        self.localiser = Localiser(ochiai(parent.spectrum))

    @property
    def parent(self) -> Evaluation:
        evaluation = self.individuals[PARENT_ID].evaluation
        if evaluation is None:
            raise SearchError("the parent has not been evaluated yet")
        return evaluation

    @property
    def repairing(self) -> bool:
        """The parent fails some check: the run is a repair."""
        return not fit.passes_all(self.parent)

    # -- ranking -----------------------------------------------------------------------------
    def rank(self, ident: str) -> fit.Key:
        """Selection's order: `_fitness.rank_key`, or in a repair `_fitness.repair_key`
        (the smallest edit before cost, so cheaper-but-wrong variants of the parent do not
        crowd out its neighbourhood)."""
        individual = self.individuals[ident]
        assert individual.evaluation is not None
        if self.repairing:
            return fit.repair_key(individual.evaluation, self.fitness_names, individual.edit, individual.natural)
        return fit.rank_key(individual.evaluation, self.fitness_names, individual.edit)

    def _improves_on(self, child: str, parent: str) -> bool:
        """An operator's success: the child beats its parent on checks and deffitness (in
        a repair), or on the whole `_fitness.key` (cost included) otherwise."""
        a, b = fit.key(self._eval(child), self.fitness_names), fit.key(self._eval(parent), self.fitness_names)
        cut = len(a) - 2 if self.repairing else len(a)
        return a[:cut] > b[:cut]

    def _better(self, a: str, b: str) -> bool:
        return self.rank(a) > self.rank(b)

    # -- breeding ----------------------------------------------------------------------------
    def _next_id(self) -> str:
        self.counter += 1
        return f"g{self.generation + 1}-{self.counter}"

    def _edits_of(self, source: str, form: Any) -> list[Edit]:
        found = self._edits.get(source)
        if found is None:
            if len(self._edits) > 256:
                self._edits.clear()
            found = edits(form, self.target.body_from)
            self._edits[source] = found
        return found

    def _untried_neighbours(self) -> list[Edit]:
        """The parent's one-edit neighbours not yet evaluated nor rejected: drawing fresh
        mutants from these samples the neighbourhood without replacement."""
        if self._neighbours is None:
            self._neighbours = []
            for edit in self._edits_of(self.parent_source, self.parent_form):
                try:
                    self._neighbours.append((edit, _hash(to_source(edit.apply(self.parent_form)))))
                except (IndexError, TypeError, ValueError, LispError):
                    continue
        return [edit for edit, digest in self._neighbours if digest not in self.seen and digest not in self.rejected]

    def _mutate(self, form: Any, source: str) -> tuple[Any, Edit] | None:
        """One edit of `form`: an operator by prior x learned rate, then a site by
        suspiciousness x the operator's rate in that context x the edit's weight."""
        available = self._untried_neighbours() if source == self.parent_source else self._edits_of(source, form)
        if not available:
            return None
        by_operator: dict[str, list[Edit]] = {}
        for edit in available:
            by_operator.setdefault(edit.operator, []).append(edit)
        names = sorted(by_operator)
        weights = [PRIORS.get(n, 1.0) * self.rates.rate(n) for n in names]
        operator = self.rng.choices(names, weights)[0]
        options = by_operator[operator]
        site_weights = [self.localiser.weight(e.path) * self.rates.rate(operator, e.context) * e.weight
                        for e in options]
        edit = self.rng.choices(options, site_weights)[0]
        try:
            return edit.apply(form), edit
        except (IndexError, TypeError, ValueError):
            return None

    def _admit(self, form: Any, parents: tuple[str, ...], operator: str, island: int,
               contexts: tuple[tuple[str, str], ...], natural: float) -> Individual | None:
        """A new individual for `form`, or None if it is a duplicate or fails the scope check."""
        try:
            source = to_source(form)
        except (LispError, TypeError, ValueError):
            return None
        digest = _hash(source)
        if digest in self.seen:
            self.duplicates += 1
            return None
        bad = [n for _, n in unbound(analyse(form, self.target.body_from), self.target.known) if n not in self.tolerated]
        if bad:
            self.scope_rejected += 1
            self.rejected.add(digest)
            return None
        self.seen.add(digest)
        ident = self._next_id()
        self._forms[ident] = form
        return Individual(ident, source, parents, operator, island,
                          fit.edit_distance(self.parent_form, form), self.generation + 1, None, contexts, natural)

    def _request(self, children: list[Individual]) -> EvaluationRequest | None:
        if self.settings.max_evals is not None:
            children = children[: max(0, self.settings.max_evals - self.evaluations)]
        if not children:
            return None
        for child in children:
            self.individuals[child.id] = child
        proposals = tuple(Proposal(c.id, self.target.name, c.source, c.parents, c.operator) for c in children)
        return EvaluationRequest(proposals, step_limit=self.step_limit, first=self.first)

    def _admit_source(self, source: str, operator: str) -> Individual | None:
        """A candidate written outside the operators (grown by GP, written by a model) as a
        child of the parent, through the same duplicate and scope checks; None if refused."""
        try:
            form = _read_one(source)
        except (LispError, SearchError, RecursionError):
            return None
        return self._admit(form, (PARENT_ID,), operator, 0, ((operator, "*"),), 1.0)

    def _breed_first(self) -> EvaluationRequest | None:
        """Generation 1: distinct one-edit mutants of the parent, dealt round-robin to the
        islands, or the `given` candidates (through the same duplicate and scope checks)."""
        children: list[Individual] = []
        if self.given:
            for source, operator in self.given:
                child = self._admit_source(source, operator)
                if child is not None:
                    children.append(child)
            return self._request(children)
        tries = 0
        while len(children) < self.settings.population and tries < TRIES * self.settings.population:
            tries += 1
            made = self._mutate(self.parent_form, self.parent_source)
            if made is None:
                continue
            form, edit = made
            child = self._admit(form, (PARENT_ID,), edit.operator, len(children) % self.settings.islands,
                                ((edit.operator, edit.context),), _natural(edit))
            if child is not None:
                children.append(child)
        return self._request(children)

    def _island_sizes(self) -> list[int]:
        k, n = self.settings.islands, self.settings.population
        return [n // k + (1 if i < n % k else 0) for i in range(k)]

    def _select(self, island: list[str]) -> str:
        if self.archive.cells and self.rng.random() < ARCHIVE_RATE:
            drawn = self.archive.sample(self.rng)
            if drawn is not None:
                return drawn
        contenders = [island[self.rng.randrange(len(island))] for _ in range(self.settings.tournament)]
        return max(contenders, key=self.rank)

    def _form(self, ident: str) -> Any:
        form = self._forms.get(ident)
        if form is None:
            if len(self._forms) > 4096:
                self._forms.clear()
            form = self._forms[ident] = _read_one(self.individuals[ident].source)
        return form

    def _breed(self) -> EvaluationRequest | None:
        """Generations 2..G: per island, elites stay (not re-evaluated), the rest are new children."""
        children: list[Individual] = []
        sizes = self._island_sizes()
        elites_per_island = math.ceil(self.settings.elitism / self.settings.islands)
        fresh = FRESH_SHARE_FLAT if self.repairing and (self._flat() or self.plausible_since is not None) \
            else FRESH_SHARE
        for index, island in enumerate(self.islands):
            wanted = max(0, sizes[index] - min(elites_per_island, len(island)))
            made = 0
            tries = 0
            while made < wanted and tries < TRIES * max(wanted, 1):
                tries += 1
                child = self._offspring(island, index, fresh)
                if child is not None:
                    children.append(child)
                    made += 1
        return self._request(children)

    def _flat(self) -> bool:
        """No individual has passed more checks than the parent yet."""
        floor = self.parent.checks_passed
        return all(i.evaluation is None or i.evaluation.checks_passed <= floor for i in self.individuals.values())

    def _offspring(self, island: list[str], index: int, fresh: float) -> Individual | None:
        if self.rng.random() < fresh:
            made = self._mutate(self.parent_form, self.parent_source)
            if made is None:
                return None
            form, edit = made
            return self._admit(form, (PARENT_ID,), edit.operator, index, ((edit.operator, edit.context),),
                               _natural(edit))
        first = self._select(island)
        form = self._form(first)
        parents: tuple[str, ...] = (first,)
        natural = self.individuals[first].natural
        operators: list[str] = []
        contexts: list[tuple[str, str]] = []
        if self.rng.random() < self.settings.crossover and len(island) > 1:
            second = self._select(island)
            crossed = crossover(form, self._form(second), self.rng) if second != first else None
            if crossed is not None:
                form, parents = crossed, (first, second)
                natural = min(natural, self.individuals[second].natural)
                operators.append("crossover")
                contexts.append(("crossover", "*"))
        source = self.individuals[first].source if not operators else to_source(form)
        if not operators or self.rng.random() < self.settings.mutation or _hash(source) in self.seen:
            made = self._mutate(form, source)
            if made is None:
                return None
            form, edit = made
            operators.append(edit.operator)
            contexts.append((edit.operator, edit.context))
            natural *= _natural(edit)
        return self._admit(form, parents, "+".join(operators), index, tuple(contexts), natural)

    # -- a generation's answers -----------------------------------------------------------------
    def _integrate(self, ids: list[str]) -> dict[str, Any]:
        self.generation += 1
        parent_eval = self.parent
        for ident in ids:
            child = self.individuals[ident]
            best_parent = max(child.parents, key=self.rank)
            success = self._improves_on(ident, best_parent)
            for operator, context in child.contexts:
                self.rates.record(operator, context, success)
            evaluation = child.evaluation
            assert evaluation is not None
            if evaluation.ok:
                where = cell(evaluation.size, evaluation.steps, parent_eval.size, parent_eval.steps)
                self.archive.offer(where, ident, self._better)
        if self.generation == 1:
            self.islands = [[PARENT_ID] for _ in range(self.settings.islands)]
        new: dict[int, list[str]] = {}
        for ident in ids:
            new.setdefault(self.individuals[ident].island, []).append(ident)
        sizes = self._island_sizes()
        elites_per_island = math.ceil(self.settings.elitism / self.settings.islands)
        for index, island in enumerate(self.islands):
            ranked = sorted(island, key=self.rank, reverse=True)
            keep = ranked[:elites_per_island] if self.generation > 1 else ranked
            merged = keep + new.get(index, [])
            rest = [i for i in ranked if i not in merged]
            merged += rest[: max(0, sizes[index] - len(merged))]
            self.islands[index] = sorted(merged, key=self.rank, reverse=True)[: sizes[index]]
        if self.settings.islands > 1 and self.generation % MIGRATE_EVERY == 0:
            self._migrate()
        plausible = [i for i in self.individuals.values()
                     if i.evaluation is not None and fit.passes_all(i.evaluation)] if self.repairing else []
        if plausible and self.plausible_since is None:
            self.plausible_since = self.generation
        if (self.generation >= self.settings.generations
                or (self.settings.max_evals is not None and self.evaluations >= self.settings.max_evals)
                or any(i.edit <= SMALL_EDIT and i.natural >= NATURAL_ENOUGH for i in plausible)
                or (self.plausible_since is not None and self.generation - self.plausible_since >= PATIENCE)):
            self.done = True
        return self._logbook(ids)

    def _eval(self, ident: str) -> Evaluation:
        evaluation = self.individuals[ident].evaluation
        assert evaluation is not None
        return evaluation

    def _migrate(self) -> None:
        """Ring migration: each island's best replaces the worst of the next island."""
        bests = [island[0] for island in self.islands]
        for index, best in enumerate(bests):
            target = self.islands[(index + 1) % len(self.islands)]
            if best not in target and target:
                target[-1] = best
                target.sort(key=self.rank, reverse=True)

    def _logbook(self, ids: list[str]) -> dict[str, Any]:
        names = fit.objective_names(self.fitness_names)
        columns: list[list[float]] = [[] for _ in names]
        for ident in ids:
            for column, value in zip(columns, fit.vector(self._eval(ident), self.fitness_names), strict=True):
                if value is not None:
                    column.append(value)
        best = self.best_id()
        best_vector = fit.vector(self._eval(best), self.fitness_names)
        return {"gen": self.generation, "evals": len(ids),
                "best": dict(zip(names, best_vector, strict=True)),
                "min": {n: min(c) if c else None for n, c in zip(names, columns, strict=True)},
                "avg": {n: sum(c) / len(c) if c else None for n, c in zip(names, columns, strict=True)},
                "max": {n: max(c) if c else None for n, c in zip(names, columns, strict=True)}}

    def _row(self, individual: Individual) -> dict[str, Any]:
        evaluation = individual.evaluation
        assert evaluation is not None
        return {"id": individual.id, "parents": list(individual.parents), "operator": individual.operator,
                "stage": evaluation.stage, "reason": evaluation.reason,
                "fitness": fit.vector(evaluation, self.fitness_names),
                "checks_passed": evaluation.checks_passed, "checks_total": evaluation.checks_total}

    # -- proposals written elsewhere (a model: o_lisp/worker/_breed_llm.py) -----------------------
    def showcase(self, best: int = 2, diverse: int = 2) -> list[tuple[str, Individual]]:
        """What to show a model writing candidates: the best individuals evaluated so far
        and the elites of other archive niches (different sizes and costs), labelled."""
        ranked = sorted((i for i in self.individuals if i != PARENT_ID and self.individuals[i].evaluation),
                        key=self.rank, reverse=True)
        shown = [("best", self.individuals[i]) for i in ranked[:best]]
        others = [i for _, i in sorted(self.archive.cells.items()) if i not in ranked[:best] and i in self.individuals]
        return shown + [("diverse", self.individuals[i]) for i in others[:diverse]]

    def adopt(self, sources: Sequence[str], operator: str, limit: int | None = None,
              keep: Collection[str] = ()) -> list[str]:
        """Put up to `limit` candidates written outside the search (whole definitions) into
        the pending generation, each in place of a bred child (the last ones, never those
        in `keep`: proposals adopted earlier), through the same duplicate and scope checks
        (`_admit`); the ids adopted. Nothing is adopted into the parent's own evaluation or
        a finished search, and the generation keeps its size."""
        pending = self.pending
        if pending is None or not pending.proposals or pending.proposals[0].id == PARENT_ID:
            return []
        victims = [p for p in reversed(pending.proposals) if p.id not in keep]
        room = min(len(victims), len(sources) if limit is None else limit)
        adopted: list[Individual] = []
        for source in sources:
            if len(adopted) >= room:
                break
            child = self._admit_source(source, operator)
            if child is not None:
                adopted.append(child)
        replaced = {}
        for victim, child in zip(victims, adopted, strict=False):
            old = self.individuals.pop(victim.id)
            self.seen.discard(_hash(old.source))  # bred again later if it comes up
            child.island = old.island
            self.individuals[child.id] = child
            replaced[victim.id] = Proposal(child.id, self.target.name, child.source, child.parents, child.operator)
        if replaced:
            self.pending = replace(pending, proposals=tuple(replaced.get(p.id, p) for p in pending.proposals))
        return [c.id for c in adopted]

    # -- the result ----------------------------------------------------------------------------
    def best_id(self) -> str:
        """The best individual evaluated so far (the parent when nothing beats it). In a
        repair, candidates passing every check are ranked by `repair_key` (smallest edit
        before cost)."""
        evaluated = [i for i in self.individuals.values() if i.evaluation is not None]
        if self.repairing:
            full = [i for i in evaluated if fit.passes_all(i.evaluation)]  # type: ignore[arg-type]
            if full:
                return max(full, key=lambda i: self.rank(i.id)).id
        return max((i.id for i in evaluated), key=self.rank)

    def best(self) -> dict[str, Any]:
        """The `evolution_breed_best` reply (docs/evolution.md): the best candidate, the
        parent's evaluation, whether the best improves on the parent and why not."""
        parent = self.parent
        ident = self.best_id()
        reply: dict[str, Any] = {"best": None, "parent": parent.as_data(), "improved": False, "reason": "",
                                 "evaluations": self.evaluations, "generations": self.generation}
        if ident == PARENT_ID:
            reply["reason"] = "no candidate ranked above the parent"
            return reply
        individual = self.individuals[ident]
        evaluation = self._eval(ident)
        reply["best"] = {"id": ident, "source": individual.source, "helpers": [], "operator": individual.operator,
                         "parents": list(individual.parents), "evaluation": evaluation.as_data(),
                         "edit_distance": individual.edit}
        improved, reason = self._improves(evaluation)
        reply["improved"], reply["reason"] = improved, reason
        return reply

    def _improves(self, best: Evaluation) -> tuple[bool, str]:
        parent = self.parent
        if not fit.passes_all(best):
            return False, (f"the best candidate passes {best.checks_passed} of {best.checks_total} checks"
                           + (f" (stopped at {best.stage}: {best.reason})" if not best.ok else ""))
        if parent.ok and parent.fitness:
            regression = fit.fitness_regression(best, parent)
            if regression:
                return False, regression
        if self.repairing:
            return True, ""
        names = self.fitness_names
        # deffitness, then steps; a form that is only smaller is no evidence (a statement no
        # test executes can be deleted without a check noticing)
        if fit.key(best, names)[2:-1] > fit.key(parent, names)[2:-1]:
            return True, ""
        return False, "no candidate passing every check has a better deffitness or fewer steps than the parent"

    # -- state -----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to continue the run exactly (plain data: JSON and msgpack safe)."""
        version, internal, gauss = self.rng.getstate()
        return {"version": STATE_VERSION, "settings": self.settings.as_data(), "target": self.target.name,
                "target_source": self.parent_source, "rng": [version, list(internal), gauss],
                "individuals": [i.as_data() for i in self.individuals.values()], "islands": self.islands,
                "archive": self.archive.as_data(), "rates": [[o, c, s, t] for (o, c), (s, t) in self.rates.counts.items()],
                "generation": self.generation, "evaluations": self.evaluations, "counter": self.counter,
                "duplicates": self.duplicates, "scope_rejected": self.scope_rejected,
                "rejected": sorted(self.rejected), "step_limit": self.step_limit,
                "first": list(self.first), "plausible_since": self.plausible_since, "fitness_names": list(self.fitness_names), "done": self.done,
                "pending": None if self.pending is None else self.pending.as_data()}

    @classmethod
    def restore(cls, state: Mapping[str, Any], target: Target) -> PopulationSearch:
        """The search `state` describes, for `target` (which must be the same definition)."""
        try:
            if state.get("version") != STATE_VERSION:
                raise SearchError(f"unknown state version {state.get('version')!r}")
            search = cls(Settings.from_data(state["settings"]), target)
            if state["target"] != target.name or state["target_source"] != search.parent_source:
                raise SearchError(f"the state is of another definition or version ({state['target']!r})")
            version, internal, gauss = state["rng"]
            search.rng.setstate((int(version), tuple(int(x) for x in internal), gauss))
            search.individuals = {d["id"]: Individual.from_data(d) for d in state["individuals"]}
            search.islands = [[str(i) for i in island] for island in state["islands"]]
            search.archive = Archive.from_data(state["archive"])
            search.rates = _Rates({(str(o), str(c)): [int(s), int(t)] for o, c, s, t in state["rates"]})
            search.generation = int(state["generation"])
            search.evaluations = int(state["evaluations"])
            search.counter = int(state["counter"])
            search.duplicates = int(state["duplicates"])
            search.scope_rejected = int(state["scope_rejected"])
            search.rejected = {str(h) for h in state["rejected"]}
            limit = state["step_limit"]
            search.step_limit = None if limit is None else int(limit)
            search.first = tuple(str(t) for t in state["first"])
            search.fitness_names = tuple(str(n) for n in state["fitness_names"])
            search.done = bool(state["done"])
            since = state["plausible_since"]
            search.plausible_since = None if since is None else int(since)
            pending = state["pending"]
            search.pending = None if pending is None else EvaluationRequest.from_data(pending)
        except SearchError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise SearchError(f"the search state is malformed: {type(error).__name__}: {error}") from None
        search.seen = {_hash(i.source) for i in search.individuals.values()}
        parent = search.individuals[PARENT_ID].evaluation
        if parent is not None:
            search.localiser = Localiser(ochiai(parent.spectrum))
        return search


__all__ = ["PARENT_ID", "STEP_FACTOR", "STEP_FLOOR", "PopulationSearch", "SearchError", "Settings", "Target", "Told"]
