"""Evaluating a population search's candidates: `evaluate(parent, request)`.

The search (`o_lisp.evolution`, in the guardian) never runs agent code; it sends an
`EvaluationRequest` to a worker (usually one of a pool of shadows), whose lab calls
`evaluate` with its agent as the parent. Every proposal goes through a cascade, cheap
stages first, and gets exactly one `Evaluation`, in request order:

``read``     the source is one form that prints back identically and defines the
             proposal's name with the parent's kind (`_validate.read_candidate`); the
             same for each helper (which may also add a new definition). Tests and
             fitness tasks are never candidates: they are the judges.
``scan``     the static scan of `_validate` (forbidden names, dunders, grants), on the
             target and every helper.
``load``     a scratch agent (`Agent.scratch`: the parent's definitions with the
             candidate and its helpers, on a fresh copy of the parent's state) compiles
             and loads; every test of the parent is registered.
``checks``   every `deftest` in check mode (`o_lisp.agent._checks`): each `assert` is
             a check (partial credit); the tests named in `first` run first; each test
             runs under `step_limit` steps, so a runaway dies at the limit, in
             milliseconds, instead of at the time limit. `steps` sums their steps.
             A test that ends at the step limit stops the cascade here (`stage`
             "checks", its checks still counted): a runaway is not run further.
``fitness``  every `deffitness` on a fresh scratch copy; with a `step_limit`, each task
             runs under that limit stretched by the parent's fitness-to-checks cost
             ratio (`_fitness_step_limit`); a task that fails stops the cascade here
             (the checks are reported anyway).
``timing``   only with `request.timing`: `cpu_us`, the median CPU time of the
             evaluating thread over `TIMING_RUNS` runs of the checks, each in a fresh
             scratch copy (`o_lisp._evalthread.evaluation_cpu_ns`).

A proposal that fails a stage gets `stage` = that stage and a one-line `reason`; an
unexpected error in one proposal is reported the same way and never escapes
`evaluate`, so one bad candidate cannot cost the others their evaluation. Every
candidate runs in its own scratch agent with its own copy of the state, so nothing a
candidate does (state writes, mutating a shared value, rebinding) reaches the next one
or the parent. With `request.spectrum` each proposal's own target is also run
instrumented (`o_lisp.worker._spectrum`), giving per-check coverage of its subforms.
"""

from __future__ import annotations

import math
import secrets
import weakref
from collections import Counter
from dataclasses import dataclass
from statistics import median
from typing import Any

from o_lisp._errors import LispError
from o_lisp._evalthread import evaluation_cpu_ns
from o_lisp._mangle import mangle
from o_lisp._printer import to_source
from o_lisp._reader import read_many
from o_lisp.agent._agent import Agent, MemoryChangeError, _memory_from_data
from o_lisp.agent._checks import CheckReport, CheckRun, run_checks
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.agent._dsl import classify
from o_lisp.agent._state import AgentState
from o_lisp.evolution._individual import Coverage, Evaluation, EvaluationRequest, Proposal
from o_lisp.evolution._mutate import subforms
from o_lisp.evolution._validate import (
    FitnessRun,
    Rejected,
    read_candidate,
    run_fitness,
    scan_candidate,
)
from o_lisp.forms import Symbol
from o_lisp.worker._spectrum import instrument

TIMING_RUNS = 3
"""Runs of the checks whose median CPU time is `cpu_us`."""
REASON_CHARS = 300
_JUDGES = (DefinitionKind.TEST, DefinitionKind.FITNESS)


class _Stop(Exception):
    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


@dataclass(frozen=True)
class _Candidate:
    target: Definition
    form: Any
    helpers: tuple[Definition, ...]
    helper_forms: tuple[Any, ...]


def evaluate(parent: Agent, request: EvaluationRequest) -> list[Evaluation]:
    """One `Evaluation` per proposal of `request`, in its order (see the module docstring).
    Nothing here changes `parent`: its state is copied once and each candidate gets its own
    copy of that."""
    data = parent.state.to_data()
    return [_evaluate_one(parent, data, proposal, request) for proposal in request.proposals]


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 3] + "..."


def _evaluate_one(parent: Agent, data: dict[str, Any], proposal: Proposal, request: EvaluationRequest) -> Evaluation:
    stage = "read"
    found: dict[str, Any] = {}
    try:
        candidate = _read(parent, proposal)
        found["size"] = sum(1 for _ in subforms(candidate.form))
        stage = "scan"
        for definition, form in ((candidate.target, candidate.form), *zip(candidate.helpers, candidate.helper_forms, strict=True)):
            try:
                scan_candidate(parent, definition, form)
            except Rejected as rejected:
                raise _Stop("scan", rejected.reason if definition is candidate.target
                            else f"helper {definition.name}: {rejected.reason}") from None
        stage = "load"
        agent = _load(parent, data, candidate)
        stage = "checks"
        report = run_checks(agent, request.first, step_limit=request.step_limit)
        found.update(checks_passed=report.passed, checks_total=report.total, failed_checks=report.failed,
                     steps=report.steps)
        if request.spectrum:
            found["spectrum"] = _spectrum(parent, data, candidate, request)
        runaway = next((t for t in report.tests if t.limit == "steps"), None)
        if runaway is not None:  # a runaway is not run any further
            raise _Stop("checks", f"test {runaway.name}: {runaway.error}")
        stage = "fitness"
        if parent.fitness:
            run = _fitness(_load(parent, data, candidate), _fitness_step_limit(parent, data, request))
            found["fitness"] = tuple(sorted((name, values[0]) for name, values in run.scores.items() if values))
            if run.errors:
                name, why = next(iter(run.errors.items()))
                raise _Stop("fitness", f"fitness {name} failed: {why}")
        if request.timing:
            found["cpu_us"] = _timing(parent, data, candidate, request)
        return Evaluation(proposal.id, "done", **found)
    except _Stop as stop:
        return Evaluation(proposal.id, stop.stage, _one_line(stop.reason), **found)
    except Exception as error:  # one candidate's surprise must not cost the batch its answer
        return Evaluation(proposal.id, stage, _one_line(f"{type(error).__name__}: {error}"), **found)


def _read(parent: Agent, proposal: Proposal) -> _Candidate:
    old = parent.definitions.get(proposal.name)
    if old is not None and old.kind in _JUDGES:
        raise _Stop("read", f"{proposal.name} is a {old.kind.value}: tests and fitness tasks judge candidates, "
                            "they are not candidates")
    try:
        target, form = read_candidate(parent, proposal.name, proposal.source)
    except Rejected as rejected:
        raise _Stop("read", rejected.reason) from None
    helpers: list[Definition] = []
    helper_forms: list[Any] = []
    for source in proposal.helpers:
        definition, helper_form = _read_helper(parent, source)
        if definition.name == proposal.name or definition.name in {h.name for h in helpers}:
            raise _Stop("read", f"helper {definition.name} is given twice (or is the target)")
        helpers.append(definition)
        helper_forms.append(helper_form)
    return _Candidate(target, form, tuple(helpers), tuple(helper_forms))


def _read_helper(parent: Agent, source: str) -> tuple[Definition, Any]:
    try:  # the name is the one it declares; then the same checks as the target's
        forms = read_many(source, "<helper>")
        name = classify(forms[0], "<helper>", source)[1] if len(forms) == 1 else ""
    except LispError as error:
        raise _Stop("read", f"helper does not read: {error}") from None
    if not name:
        raise _Stop("read", f"a helper must be exactly one definition, got {len(forms)} forms")
    old = parent.definitions.get(name)
    if old is not None and old.kind in _JUDGES:
        raise _Stop("read", f"helper {name} is a {old.kind.value}: a candidate may not change its judges")
    try:
        definition, form = read_candidate(parent, name, source, new=True)
    except Rejected as rejected:
        raise _Stop("read", f"helper {name}: {rejected.reason}") from None
    if definition.kind in _JUDGES:
        raise _Stop("read", f"helper {name} is a {definition.kind.value}: a candidate may not add judges")
    return definition, form


def _load(parent: Agent, data: dict[str, Any], candidate: _Candidate, target: Definition | None = None) -> Agent:
    """A scratch agent with the candidate (or `target` in its place) and its helpers, on a
    fresh copy of the parent's state; `_Stop("load")` if it does not load."""
    state = AgentState.from_data(data, _memory_from_data)
    try:
        agent = parent.scratch(target or candidate.target, state=state, helpers=candidate.helpers)
    except MemoryChangeError as error:
        raise _Stop("load", error.message) from None
    except Exception as error:
        raise _Stop("load", f"does not load: {error}") from None
    missing = [name for name in parent.judged_tests() if name not in agent.tests]
    if missing:
        raise _Stop("load", f"test {missing[0]} was not registered by its definition")
    return agent


def _fitness(agent: Agent, step_limit: int | None) -> FitnessRun:
    """Every fitness task once, each under at most `step_limit` steps (and the agent's limits)."""
    interpreter = agent.interpreter
    saved = interpreter.limits
    if step_limit is not None:
        interpreter.limits = saved.but(steps=step_limit if saved.steps is None else min(step_limit, saved.steps))
    try:
        return run_fitness(agent, 1)
    finally:
        interpreter.limits = saved


_parent_costs: weakref.WeakKeyDictionary[Agent, tuple[tuple[str, ...], int, int]] = weakref.WeakKeyDictionary()


def _fitness_step_limit(parent: Agent, data: dict[str, Any], request: EvaluationRequest) -> int | None:
    """The step limit of a candidate's fitness tasks: the request's limit stretched by the
    ratio of the parent's fitness cost to its checks' cost (a task heavier than the tests
    gets proportionally more), never less than the request's limit. So a candidate that
    terminates on the tests' inputs but runs away on a fitness task's also dies in
    milliseconds, under the same policy the search set for the checks (a multiple of the
    parent's cost). The parent's costs are measured once per parent code (cached)."""
    if request.step_limit is None:
        return None
    sources = tuple(d.source for d in parent.definitions.values())
    cached = _parent_costs.get(parent)
    if cached is None or cached[0] != sources:
        checks = run_checks(parent.scratch(state=AgentState.from_data(data, _memory_from_data))).steps
        agent = parent.scratch(state=AgentState.from_data(data, _memory_from_data))
        heaviest = 0
        for fn in agent.fitness.values():
            try:
                agent.interpreter.call(fn)
            except LispError:
                pass
            heaviest = max(heaviest, agent.interpreter.steps_taken())
        cached = (sources, checks, heaviest)
        _parent_costs[parent] = cached
    _, checks, heaviest = cached
    return max(request.step_limit, math.ceil(request.step_limit * heaviest / max(checks, 1)))


def _timing(parent: Agent, data: dict[str, Any], candidate: _Candidate, request: EvaluationRequest) -> float:
    """Median CPU microseconds of one run of the checks (each run in a fresh copy)."""
    times: list[float] = []
    for _ in range(TIMING_RUNS):
        checks = CheckRun(_load(parent, data, candidate), request.first, step_limit=request.step_limit)
        started = evaluation_cpu_ns()
        checks.run()
        times.append((evaluation_cpu_ns() - started) / 1000)
    return float(median(times))


def _spectrum(parent: Agent, data: dict[str, Any], candidate: _Candidate,
              request: EvaluationRequest) -> tuple[Coverage, ...]:
    """Per-check coverage of the target's subforms: an instrumented run of the checks.
    What runs between two evaluated asserts of a test counts for the second (its
    condition is what called the code); what runs after a test's last assert, or before
    it raised, counts as the test as a whole went. An assert in a loop counts once per
    run. So a single `deftest` of several asserts still tells the code its failing
    asserts ran from the code its passing ones ran."""
    target = candidate.target
    hit = Symbol(f"o-hit-{secrets.token_hex(8)}")
    # The macros the target sees are the parent's: a candidate cannot define one (the scan).
    macros = {mangle(name) for name in parent.interpreter.macros()}
    instrumented, paths = instrument(candidate.form, target.kind, hit, lambda name: mangle(name) in macros)
    if not paths:
        return ()
    try:
        agent = _load(parent, data, candidate, Definition(target.name, target.kind, to_source(instrumented)))
    except _Stop:  # the plain candidate loaded: the spectrum is a hint, the evaluation stands without it
        return ()
    segments: list[tuple[str, set[int], bool | None]] = []
    current: set[int] = set()
    test_name: str | None = None

    def record(index: int) -> None:
        current.add(index)

    def before_test(name: str) -> None:
        nonlocal current, test_name
        if test_name is not None:
            segments.append((test_name, current, None))
        current, test_name = set(), name

    def on_record(index: int, ok: bool) -> None:  # what ran since the previous assert ran for this one
        nonlocal current
        segments.append((test_name or "", current, ok))
        current = set()

    agent.interpreter.define(str(hit), record)
    report: CheckReport = run_checks(agent, request.first, step_limit=request.step_limit, before_test=before_test,
                                     on_record=on_record)
    if test_name is not None:
        segments.append((test_name, current, None))
    verdicts = {test.name: test.ok for test in report.tests}
    failed, passed = Counter[int](), Counter[int]()
    for name, hits, ok in segments:  # code run after a test's last assert: as the test went
        (passed if (verdicts.get(name, False) if ok is None else ok) else failed).update(hits)
    coverage = (Coverage(path, failed[i], passed[i]) for i, path in enumerate(paths))
    return tuple(sorted(coverage, key=lambda c: c.path))  # pre-order, as `_mutate.subforms` walks


def check_request(data: Any) -> EvaluationRequest:
    """`data` (an `EvaluationRequest.as_data()` from the wire) checked field by field;
    `ValueError` naming the first bad field."""
    if not isinstance(data, dict):
        raise ValueError("the request must be a map")
    proposals = data.get("proposals")
    if not isinstance(proposals, list) or not proposals:
        raise ValueError("'proposals' must be a non-empty list")
    if len(proposals) > MAX_PROPOSALS:
        raise ValueError(f"'proposals' holds {len(proposals)} proposals; at most {MAX_PROPOSALS} per request")
    ids: set[str] = set()
    for i, p in enumerate(proposals):
        where = f"proposals[{i}]"
        if not isinstance(p, dict):
            raise ValueError(f"{where} must be a map")
        for key in ("id", "name", "source"):
            if not isinstance(p.get(key), str) or not p[key]:
                raise ValueError(f"{where}.{key} must be a non-empty string")
        if len(p["source"]) > MAX_SOURCE:
            raise ValueError(f"{where}.source is longer than {MAX_SOURCE} characters")
        if p["id"] in ids:
            raise ValueError(f"{where}.id {p['id'][:40]!r} is given twice")
        ids.add(p["id"])
        if not isinstance(p.get("operator", ""), str):
            raise ValueError(f"{where}.operator must be a string")
        for key in ("parents", "helpers"):
            value = p.get(key, [])
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{where}.{key} must be a list of strings")
    limit = data.get("step_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_STEP_LIMIT):
        raise ValueError(f"'step_limit' must be null or an integer from 1 to {MAX_STEP_LIMIT}")
    first = data.get("first", [])
    if not isinstance(first, list | tuple) or not all(isinstance(t, str) for t in first):
        raise ValueError("'first' must be a list of test names")
    for key in ("spectrum", "timing"):
        if not isinstance(data.get(key, False), bool):
            raise ValueError(f"{key!r} must be true or false")
    return EvaluationRequest.from_data(data)


MAX_PROPOSALS = 1000
MAX_SOURCE = 1_000_000
MAX_STEP_LIMIT = 10**12


def scope_names(agent: Agent) -> list[str]:
    """Every name bound at top level in `agent`'s interpreter: its definitions, the agent
    builtins, the stdlib's functions and macros, and the safe built-ins (unmangled, sorted)."""
    interpreter = agent.interpreter
    names = set(interpreter.names()) | set(interpreter.builtin_names()) | set(interpreter.macros())
    names.update(d.name for d in agent.definitions.values())
    return sorted(n for n in names if not n.startswith(("__", "_o_")))  # never usable by agent code


__all__ = ["TIMING_RUNS", "check_request", "evaluate", "scope_names"]
