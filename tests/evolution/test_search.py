"""The population engine: fitness ordering, scope check, operators, search, breeder, lab methods."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from o_lisp._printer import to_source
from o_lisp._reader import read_many
from o_lisp.agent._agent import Agent
from o_lisp.evolution import _fitness as fit
from o_lisp.evolution._archive import Archive, cell
from o_lisp.evolution._individual import Coverage, Evaluation, EvaluationRequest
from o_lisp.evolution._localise import FLOOR, Localiser, ochiai
from o_lisp.evolution._repair import crossover, differences, edits
from o_lisp.evolution._scope import analyse, unbound
from o_lisp.evolution._search import (
    PARENT_ID,
    STEP_FLOOR,
    PopulationSearch,
    SearchError,
    Settings,
    Target,
)
from o_lisp.guardian._protocol import BadRequest, WorkerSpec
from o_lisp.worker._breed import Breeder, target_of
from o_lisp.worker._evaluate import evaluate
from o_lisp.worker._lab import Lab

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "bench" / "repair"
KNOWN = frozenset({"defn", "setv", "while", "for", "if", "when", "get", "len", "range", "+", "-", "*", "%", "=",
                   "<", "<=", ">", ">=", "^", "&", "lfor", "not", "return", "abs", "max", "min", "and", "or", "do",
                   "cut", "let", "fn"})


def form(source: str) -> Any:
    return read_many(source, "<test>")[0]


def ev(ident: str = "c", stage: str = "done", passed: int = 0, total: int = 5, steps: int = 10, size: int = 10,
       fitness: tuple[tuple[str, float], ...] = ()) -> Evaluation:
    return Evaluation(ident, stage, "", passed, total, (), fitness, steps, None, size)


# -- fitness ---------------------------------------------------------------------------------------


def test_more_checks_passed_beats_any_cost_and_cost_breaks_ties() -> None:
    names = ("speed",)
    more = ev(passed=4, steps=10_000, size=90, fitness=(("speed", 0.0),))
    fewer = ev(passed=3, steps=1, size=1, fitness=(("speed", 9.0),))
    assert fit.key(more, names) > fit.key(fewer, names)  # partial credit first
    faster = ev(passed=4, steps=10, fitness=(("speed", 0.0),))
    assert fit.key(faster, names) > fit.key(more, names)
    fitter = ev(passed=4, steps=99_999, fitness=(("speed", 1.0),))
    assert fit.key(fitter, names) > fit.key(faster, names)  # deffitness before cost
    crashed = ev(stage="load", passed=0)
    assert fit.key(crashed, names) < fit.key(ev(passed=0, fitness=(("speed", 0.0),)), names)
    assert fit.rank_key(faster, names, 1) > fit.rank_key(faster, names, 3)  # the smaller edit among equals
    assert fit.vector(crashed, names) == [0.0, None, 10.0, 10.0]


def test_a_repair_prefers_the_smallest_edit_over_the_cheapest() -> None:
    small, cheap = ev(passed=5, steps=100), ev(passed=5, steps=10)
    assert fit.repair_key(small, (), 1) > fit.repair_key(cheap, (), 4)
    assert fit.rank_key(cheap, (), 4) > fit.rank_key(small, (), 1)


def test_edit_distance_counts_the_atoms_touched() -> None:
    a = form("(defn f [x] (if (< x 1) x 0))")
    assert fit.edit_distance(a, a) == 0
    assert fit.edit_distance(a, form("(defn f [x] (if (<= x 1) x 0))")) == 1
    assert fit.edit_distance(a, form("(defn f [x] (if (< x 1) 0 x))")) == 2
    assert fit.edit_distance(a, form("(defn f [x] (if (< x 1) (abs x) 0))")) > 1


# -- scope ---------------------------------------------------------------------------------------


def test_the_scope_check_rejects_names_not_bound_where_they_are_used() -> None:
    good = form("(defn f [xs n] (setv total 0) (for [x xs] (+= total (* x n))) (lfor y xs :if (> y 0) y) total)")
    assert unbound(analyse(good, 3), KNOWN) == []
    leaked = form("(defn f [xs n] (setv total 0) (for [x xs] (+= total n)) x)")  # x only inside the loop
    assert [name for _, name in unbound(analyse(leaked, 3), KNOWN)] == []  # Python: a loop variable leaks
    outside = form("(defn f [xs] (lfor y xs y) y)")  # a comprehension's binder does not
    assert [name for _, name in unbound(analyse(outside, 3), KNOWN)] == ["y"]
    stranger = form("(defn f [xs] (let [a 1] (+ a b)) a)")
    assert [name for _, name in unbound(analyse(stranger, 3), KNOWN)] == ["b", "a"]
    assert unbound(analyse(form("(defn f [xs] (.append xs 1) xs.real)"), 3), KNOWN) == []
    tool = form('(deftool note [text :str [weight 0.5] :float] :doc "d" (setv n 1) (+ text weight n))')
    assert unbound(analyse(tool, 5), KNOWN) == []  # a tool's parameters are bound in its body
    assert [name for _, name in unbound(analyse(tool, 5), frozenset())] == ["+"]


def test_the_search_never_asks_for_a_candidate_with_an_unbound_name(tmp_path: Path) -> None:
    agent = Agent.load(CORPUS / "lcs_length.hy", tmp_path / "data")
    search = PopulationSearch(Settings(population=40, generations=3, seed=3), target_of(agent, "lcs-length"))
    known = search.target.known
    request = search.ask()
    while request is not None:
        for proposal in request.proposals:
            assert unbound(analyse(form(proposal.source), search.target.body_from), known) == []
        search.tell(evaluate(agent, request))
        request = search.ask()


# -- operators ----------------------------------------------------------------------------------


def fixes(name: str, definition: str) -> list[str]:
    from o_lisp.agent._dsl import read_agent

    buggy = read_agent((CORPUS / f"{name}.hy").read_text(), "x").forms[definition]
    fixed = to_source(read_agent((CORPUS / "fixed" / f"{name}.hy").read_text(), "y").forms[definition])
    return [e.operator for e in edits(buggy, 3) if to_source(e.apply(buggy)) == fixed]


@pytest.mark.parametrize(("name", "definition", "operator"), [
    ("bitcount", "bitcount", "swap-operator"), ("digit_sum", "digit-sum", "swap-args"),
    ("find_in_sorted", "find-in-sorted", "shift-index"), ("flatten", "flatten-list", "replace-symbol"),
    ("manhattan", "manhattan", "wrap"), ("triangle_kind", "triangle-kind", "add-operand"),
    ("run_length", "run-length", "insert-setv"), ("powerset", "powerset", "accumulate"),
    ("is_valid_parenthesization", "is-valid-parenthesization", "condition"), ("get_factors", "get-factors", "fill"),
])
def test_one_edit_of_each_class_reaches_the_known_fix(name: str, definition: str, operator: str) -> None:
    assert operator in fixes(name, definition)


def test_every_edit_keeps_the_definition_and_prints_back() -> None:
    parent = form("(defn f [xs k] (setv out []) (for [x xs] (when (> x k) (.append out x))) out)")
    for edit in edits(parent, 3):
        child = edit.apply(parent)
        assert child[0] == parent[0] and child[1] == parent[1], edit
        assert form(to_source(child)) == child


def test_crossover_combines_the_edits_of_two_descendants() -> None:
    parent = form("(defn f [a b] (+ (- a 1) (* b 2)))")
    left = form("(defn f [a b] (+ (- a 0) (* b 2)))")
    right = form("(defn f [a b] (+ (- a 1) (* b 3)))")
    assert differences(left, right) == [(3, 1, 2), (3, 2, 2)]
    children = {to_source(crossover(left, right, random.Random(s))) for s in range(20)}
    assert children == {"(defn f [a b] (+ (- a 1) (* b 2)))", "(defn f [a b] (+ (- a 0) (* b 3)))"}
    assert crossover(parent, parent, random.Random(0)) is None


# -- localisation and the archive -----------------------------------------------------------------


def test_ochiai_ranks_code_only_failing_tests_ran_first() -> None:
    scores = ochiai([Coverage((3,), 2, 2), Coverage((4,), 2, 0), Coverage((5,), 0, 2)])
    assert scores[(4,)] == 1.0 and 0 < scores[(3,)] < 1.0 and scores[(5,)] == 0.0
    localiser = Localiser(scores)
    assert localiser.weight((4, 2, 1)) == 1.0  # inherits from the nearest instrumented ancestor
    assert localiser.weight((5,)) == FLOOR
    assert Localiser({}).weight((9,)) == 1.0


def test_the_archive_keeps_the_better_elite_per_cell() -> None:
    archive = Archive()
    where = cell(12, 400, 10, 100)
    assert where == (1, 2)
    assert archive.offer(where, "a", lambda x, y: x > y)
    assert not archive.offer(where, "0", lambda x, y: x > y)
    assert archive.offer(where, "b", lambda x, y: x > y)
    assert Archive.from_data(archive.as_data()).cells == {(1, 2): "b"}


# -- the search -------------------------------------------------------------------------------------


def target(name: str, definition: str) -> Target:
    from o_lisp.agent._dsl import read_agent

    source = to_source(read_agent((CORPUS / f"{name}.hy").read_text(), "x").forms[definition])
    return Target(definition, source, 3, KNOWN | {definition, "enumerate", "sum", "list", "str", "int"})


def drive(search: PopulationSearch, agent: Agent, stop_after: int | None = None) -> list[dict[str, Any]]:
    rows = []
    request = search.ask()
    while request is not None:
        told = search.tell(evaluate(agent, request))
        if told.logbook is not None:
            rows.append(told.logbook)
            if stop_after is not None and told.logbook["gen"] >= stop_after:
                break
        request = search.ask()
    return rows


def test_settings_are_checked_with_clear_errors() -> None:
    assert Settings.from_data({}) == Settings()
    for bad, words in (({"population": 0}, "population"), ({"crossover": 2}, "crossover"),
                       ({"islands": 30}, "islands"), ({"max_evals": 0}, "max_evals"), ({"colour": 1}, "colour")):
        with pytest.raises(SearchError, match=words):
            Settings.from_data(bad)


def test_duplicates_are_never_asked_for_twice(tmp_path: Path) -> None:
    agent = Agent.load(CORPUS / "mergesort.hy", tmp_path / "data")
    search = PopulationSearch(Settings(population=30, generations=4, seed=5), target("mergesort", "mergesort"))
    sources: list[str] = []
    request = search.ask()
    while request is not None:
        sources.extend(p.source for p in request.proposals)
        search.tell(evaluate(agent, request))
        request = search.ask()
    assert len(sources) == len(set(sources)) > 30


def test_a_runaway_candidate_dies_at_the_relative_step_limit(tmp_path: Path) -> None:
    agent = Agent.load(CORPUS / "fahrenheit.hy", tmp_path / "data")
    search = PopulationSearch(Settings(population=10, generations=1), target("fahrenheit", "fahrenheit"))
    search.tell(evaluate(agent, search.ask()))  # type: ignore[arg-type]
    request = search.ask()
    assert request is not None and request.step_limit == max(20 * search.parent.steps, STEP_FLOOR)
    assert request.first == ("converts",)  # the tests the parent fails run first
    loop = "(defn fahrenheit [celsius] (while True (setv celsius (+ celsius 1))) celsius)"
    runaway = EvaluationRequest((request.proposals[0].__class__("r", "fahrenheit", loop),), step_limit=request.step_limit)
    started = time.perf_counter()
    (result,) = evaluate(agent, runaway)
    assert time.perf_counter() - started < 2.0  # the agent's own budget would take seconds
    assert result.stage == "checks" and "step limit" in result.reason and result.steps == request.step_limit


def test_a_seed_reproduces_the_run_and_a_restored_state_continues_it(tmp_path: Path) -> None:
    agent = Agent.load(CORPUS / "knapsack.hy", tmp_path / "data")
    settings = Settings(population=12, generations=4, seed=11, islands=2)
    whole = PopulationSearch(settings, target("knapsack", "knapsack"))
    first = PopulationSearch(settings, target("knapsack", "knapsack"))
    rows_whole = drive(whole, agent)
    rows_first = drive(first, agent, stop_after=2)
    state = json.loads(json.dumps(first.state()))  # survives JSON (and msgpack)
    msgpack.unpackb(msgpack.packb(state))
    resumed = PopulationSearch.restore(state, target("knapsack", "knapsack"))
    rows_resumed = drive(resumed, agent)
    assert rows_first + rows_resumed == rows_whole
    assert resumed.best() == whole.best()
    other = PopulationSearch(Settings(population=12, generations=4, seed=12), target("knapsack", "knapsack"))
    drive(other, agent)
    assert [i.source for i in other.individuals.values()] != [i.source for i in whole.individuals.values()]
    with pytest.raises(SearchError, match="another definition"):
        PopulationSearch.restore(state, target("fahrenheit", "fahrenheit"))


def test_max_evals_caps_the_run(tmp_path: Path) -> None:
    agent = Agent.load(CORPUS / "rotate_left.hy", tmp_path / "data")
    search = PopulationSearch(Settings(population=20, generations=10, max_evals=30), target("rotate_left", "rotate-left"))
    drive(search, agent)
    assert search.evaluations == 30 and search.ask() is None


# -- the breeder end to end (ask -> evaluate -> tell) ---------------------------------------------------


@pytest.mark.parametrize(("name", "definition"), [("factorial", "factorial"), ("gcd", "gcd")])
def test_the_breeder_repairs_a_corpus_program_in_process(tmp_path: Path, name: str, definition: str) -> None:
    agent = Agent.load(CORPUS / f"{name}.hy", tmp_path / "data")
    breeder = Breeder(agent, definition, {"population": 50, "generations": 10, "seed": 1})
    reply = breeder.start()
    assert reply["generation"] == 0 and reply["request"]["spectrum"] is True
    logbook = []
    data = reply["request"]
    while data is not None:
        answers = evaluate(agent, EvaluationRequest.from_data(data))
        told = breeder.tell([a.as_data() for a in answers])
        if told["generation_done"]:
            logbook.append(told["logbook"])
            assert 1 <= told["generation"] <= 10
        assert {row["id"] for row in told["individuals"]} == {a.id for a in answers}
        data = told["request"]
    best = breeder.best()
    assert best["improved"] is True, best["reason"]
    assert best["best"]["evaluation"]["checks_passed"] == best["best"]["evaluation"]["checks_total"]
    assert best["parent"]["checks_passed"] < best["parent"]["checks_total"]
    fixed = (CORPUS / "fixed" / f"{name}.hy").read_text()
    from o_lisp.agent._dsl import read_agent

    assert best["best"]["source"] == to_source(read_agent(fixed, "f").forms[definition])
    assert logbook[-1]["best"]["checks_passed"] == best["best"]["evaluation"]["checks_passed"]


class _Worker:
    def __init__(self, agent: Agent, tmp: Path) -> None:
        self.spec = WorkerSpec(agent="x.hy", data_dir=str(tmp))
        self.agent = agent
        self.agent_spec = None
        self.repository = None
        self.code_version = "v"


def test_the_lab_methods_drive_a_run_over_plain_data(tmp_path: Path) -> None:
    agent = Agent.load(CORPUS / "sum_evens.hy", tmp_path / "data")
    lab = Lab(_Worker(agent, tmp_path), None)  # type: ignore[arg-type]
    with pytest.raises(BadRequest, match="no population search was started"):
        lab.dispatch("evolution_breed_tell", {"evaluations": []})
    with pytest.raises(BadRequest, match="no definition 'nope'"):
        lab.dispatch("evolution_breed_start", {"definition": "nope", "settings": {}})
    with pytest.raises(BadRequest, match="population"):
        lab.dispatch("evolution_breed_start", {"definition": "sum-evens", "settings": {"population": -1}})
    reply = lab.dispatch("evolution_breed_start", {"definition": "sum-evens", "settings": {"seed": 2}, "state": None})
    with pytest.raises(BadRequest, match="the parent has not been evaluated yet"):
        lab.dispatch("evolution_breed_best", {})
    state = None
    while reply["request"] is not None:
        answers = lab.dispatch("evolution_evaluate", reply["request"])
        reply = msgpack.unpackb(msgpack.packb(lab.dispatch("evolution_breed_tell", answers)))
        if reply["generation_done"] and state is None:
            state = lab.dispatch("evolution_breed_state", {})["state"]
    best = lab.dispatch("evolution_breed_best", {})
    assert best["improved"] and best["evaluations"] >= 2 and best["generations"] >= 1
    assert state is not None
    resumed = lab.dispatch("evolution_breed_start", {"definition": "sum-evens", "settings": {}, "state": state})
    assert resumed["generation"] == 1 and resumed["request"] is None  # the repair was found in generation 1
    lab.dispatch("evolution_breed_start", {"definition": "sum-evens", "settings": {}})
    with pytest.raises(BadRequest, match="do not answer the request"):
        lab.dispatch("evolution_breed_tell", {"evaluations": [ev("wrong").as_data()]})
    assert PARENT_ID == "parent"


def test_islands_keep_their_size_exchange_their_best_and_rates_are_learned_per_context(tmp_path: Path) -> None:
    agent = Agent.load(CORPUS / "rotate_left.hy", tmp_path / "data")  # not repairable in one edit: a full run
    search = PopulationSearch(Settings(population=20, generations=2, islands=2, seed=4), target("rotate_left", "rotate-left"))
    drive(search, agent)
    assert search.generation == 2 and [len(island) for island in search.islands] == [10, 10]
    others = sorted((i for i in search.individuals if i != PARENT_ID), key=search.rank, reverse=True)
    a, b, c, d = others[0], others[-1], others[1], others[-2]
    search.islands = [[a, b], [c, d]]
    search._migrate()  # the ring: each island's best replaces the worst of the next
    assert search.islands == [[a, c], [a, c]]
    contexts = {context for (_, context) in search.rates.counts}
    assert "*" in contexts and len(contexts) > 2  # per operator and per operator x context
    assert search.archive.cells and all(i in search.individuals for i in search.archive.cells.values())
    assert all(search.individuals[i].evaluation is not None for island in search.islands for i in island)


def answers(request: EvaluationRequest | None, **fields: Any) -> list[Evaluation]:
    assert request is not None
    return [Evaluation(p.id, "done", "", **fields) for p in request.proposals]


def test_with_a_passing_parent_only_fewer_steps_or_a_better_deffitness_improve() -> None:
    settings = Settings(population=4, generations=1, islands=1, seed=1)
    parent = Evaluation(PARENT_ID, "done", "", 3, 3, (), (("a", 1.0), ("b", 1.0)), 10, None, 10)
    for steps, fitness, why in ((10, (1.0, 1.0), "fewer steps"), (8, (1.0, 1.0), ""), (10, (2.0, 1.0), ""),
                                (5, (0.5, 1.0), "no candidate ranked above the parent"),
                                (10, (2.0, 0.5), "deffitness b fell from 1 to 0.5")):
        search = PopulationSearch(settings, target("fahrenheit", "fahrenheit"))
        search.tell([parent])
        assert not search.repairing
        search.tell(answers(search.ask(), checks_passed=3, checks_total=3, fitness=(("a", fitness[0]), ("b", fitness[1])),
                            steps=steps, size=4))  # every child is smaller: not enough on its own
        best = search.best()
        assert best["improved"] is (why == ""), (steps, fitness, best["reason"])
        assert why in best["reason"]
