"""Validation of one candidate definition before any shadow serves with it.

Run in a worker process with the live (or shadow) agent as the parent; nothing here
touches the parent's state or code: every trial runs in `Agent.scratch` copies. The
stages run in order and the first that fails stops the pipeline with its reason and
evidence, so the cheap checks (reading, a static scan) protect the expensive ones:

``read``
    The source reads as exactly one form, printing it and reading it back gives the
    same form (the repository stores printed source), and it defines the same name with
    the same kind as the parent's definition. Nothing is compiled yet: compiling runs
    code (macros, `setv` values, `defmemory` options), so it waits for the scan.
``scan``
    A static scan of the form, conservative on purpose: a symbol is refused wherever it
    appears (called, passed or quoted). Refused: macros and imports (`defmacro`,
    `require`, `import`), evaluation of built code (`eval`, `hy.eval`, `exec`,
    `compile`, `eval-and-compile`, `eval-when-compile`), reflection (`getattr`,
    `setattr`, `delattr`, `hasattr`, `globals`, `locals`, `vars`), `open` and
    `breakpoint`, dunder names, attribute access to names starting with `_`
    (`x._y`, `(._y x)`, `(. x _y)`), self-modification (`rewrite!`, `evolve!`: a
    candidate may not trigger further rewrites: a cycle's candidate must be judged
    on what it does, not on the code it would install next, and rewrites launched
    from shadows or canaries would escape the cycle's protection), host tools the
    agent was not granted, and unsafe tools (called, or declared with
    `:unsafe True`) when the agent holds no unsafe grant. The sandbox refuses most of
    these at run time too; the scan rejects them before anything runs, with
    ``line:col`` in the candidate's source.
``tests``
    The agent loads with the candidate in a scratch copy (``parent.scratch(candidate)``;
    a `defmemory` changing an option that cannot change under existing blocks fails
    here, with `MemoryChangeError`'s message, and any other load failure as "does not
    load: ..."), and every `deftest` passes there.
``fitness``
    Every `deffitness` runs (in a fresh scratch copy) and returns a finite number; the
    scores are the evidence.
``performance``
    K interleaved runs (pairs in alternating order, each on a fresh copy of the state)
    of the fitness tasks, or of the tests when there are none, with the parent's code
    and with the candidate's. Rejected when the candidate's median is more than
    ``max_slowdown`` slower *and* a one-sided Mann-Whitney U test says it is slower at
    ``alpha``: a slowdown must be both large and unlikely to be noise.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from o_lisp._errors import LispError
from o_lisp._evalthread import evaluation_cpu_ns
from o_lisp._mangle import mangle
from o_lisp._printer import hy_repr, to_source
from o_lisp._reader import read_many
from o_lisp.agent._agent import Agent, MemoryChangeError, _memory_from_data
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.agent._dsl import classify
from o_lisp.agent._state import AgentState
from o_lisp.evolution._decision import format_duration
from o_lisp.evolution._stats import mann_whitney_u
from o_lisp.forms import Expression, Keyword, Sequence, Symbol


def cpu_time() -> float:
    """Seconds of CPU the evaluations of this thread have used, with microsecond resolution
    (`o_lisp._evalthread.evaluation_cpu_ns`: thread CPU time, wherever the evaluation ran).

    What a code change alters is the work it does; wall-clock time on a shared machine
    also measures whoever else was scheduled meanwhile (other shadows, the live worker,
    the guardian), which swamps differences of tens of percent. So candidates are
    compared on CPU time; live wall-clock latency is watched on probation instead.
    Not `time.process_time`: under a shadow's RLIMIT_CPU it ticks in ~4 ms steps.
    """
    return evaluation_cpu_ns() / 1e9

STAGES = ("read", "scan", "tests", "fitness", "performance")
MIN_RUN_MS = 10.0
"""The performance stage repeats a short workload within one timed run until it lasts about this long."""
MAX_REPEATS = 50

_REFLECTION = "reflection escapes the sandbox's name checks"
_BUILT_CODE = "a candidate may not build and run code at run time"
#: Symbols a candidate may not contain (compared mangled), with why.
FORBIDDEN: dict[str, str] = {
    "defmacro": "a candidate may not define macros (they run at compile time, before any test)",
    "defmacro!": "a candidate may not define macros (they run at compile time, before any test)",
    "require": "a candidate may not import macros",
    "import": "a candidate may not import modules",
    "eval": _BUILT_CODE,
    "hy.eval": _BUILT_CODE,
    "exec": _BUILT_CODE,
    "compile": _BUILT_CODE,
    "eval-and-compile": _BUILT_CODE,
    "eval-when-compile": _BUILT_CODE,
    "getattr": _REFLECTION,
    "setattr": _REFLECTION,
    "delattr": _REFLECTION,
    "hasattr": _REFLECTION,
    "globals": _REFLECTION,
    "locals": _REFLECTION,
    "vars": _REFLECTION,
    "open": "a candidate may not open files",
    "breakpoint": "a candidate may not start a debugger",
    "rewrite!": "a candidate may not trigger further rewrites",
    "evolve!": "a candidate may not trigger further rewrites",
}
_FORBIDDEN_MANGLED = {mangle(name): (name, why) for name, why in FORBIDDEN.items()}


@dataclass(frozen=True)
class ValidationThresholds:
    """Knobs of the pipeline (the guardian passes them as a mapping of these names)."""

    runs: int = 15
    """K: timed runs per side in the performance stage."""
    max_slowdown: float = 0.2
    """Largest tolerated relative slowdown of the median (0.2 = 20 %)."""
    alpha: float = 0.05
    """Significance level of the one-sided Mann-Whitney U test."""
    warmup: int = 1
    """Untimed runs per side before the timed ones (caches, lazily built indexes)."""
    min_slowdown_ms: float = 0.25
    """A slowdown must also be at least this much in absolute terms (median, ms): a
    workload of a few hundred microseconds varies by more than 20 % from run to run
    (caches, the collector), and such noise must not reject a candidate."""

    def __post_init__(self) -> None:
        if isinstance(self.runs, bool) or not isinstance(self.runs, int) or self.runs < 2:
            raise ValueError(f"runs must be an int >= 2, got {self.runs!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"warmup must be an int >= 0, got {self.warmup!r}")
        if not isinstance(self.max_slowdown, int | float) or not math.isfinite(self.max_slowdown) or self.max_slowdown < 0:
            raise ValueError(f"max_slowdown must be a finite number >= 0, got {self.max_slowdown!r}")
        if not isinstance(self.alpha, int | float) or not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if isinstance(self.min_slowdown_ms, bool) or not isinstance(self.min_slowdown_ms, int | float) \
                or not math.isfinite(self.min_slowdown_ms) or self.min_slowdown_ms < 0:
            raise ValueError(f"min_slowdown_ms must be a finite number >= 0, got {self.min_slowdown_ms!r}")


@dataclass(frozen=True)
class StageResult:
    """One stage's outcome: `reason` says why it failed ("" when it passed)."""

    name: str
    ok: bool
    reason: str
    evidence: dict[str, Any]
    duration_ms: float

    def as_data(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "reason": self.reason, "evidence": self.evidence,
                "duration_ms": self.duration_ms}


@dataclass(frozen=True)
class ValidationReport:
    """The pipeline's verdict. `stage` is where it stopped ("passed" when every stage did);
    `evidence` maps each stage that ran to its evidence (msgpack/JSON data)."""

    ok: bool
    stage: str
    reason: str
    evidence: dict[str, Any]
    stages: tuple[StageResult, ...]

    def as_data(self) -> dict[str, Any]:
        return {"ok": self.ok, "stage": self.stage, "reason": self.reason, "evidence": self.evidence,
                "stages": [s.as_data() for s in self.stages]}


@dataclass(frozen=True)
class FitnessRun:
    """`scores[name]`: one score per successful run of fitness task `name`; `latencies_ms`:
    every call's duration, in call order; `errors[name]`: the first failure of a task
    (it is not run again)."""

    scores: dict[str, list[float]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class Rejected(Exception):
    """A stage refused the candidate: `reason` (one line) and its evidence."""

    def __init__(self, reason: str, evidence: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.evidence = evidence or {}


def run_fitness(agent: Agent, repeats: int = 1) -> FitnessRun:
    """Run every fitness task of `agent` `repeats` times, on the agent itself.

    Mutations the tasks make go to `agent`'s state: pass a scratch copy (or a shadow)
    unless that is wanted. A task that raises, or returns anything but a finite number
    (bools are not numbers here), or during which the code rebinds a definition or a
    builtin (as `Agent.run_tests` checks), is recorded in `errors` and not run again.
    """
    run = FitnessRun({name: [] for name in agent.fitness})
    for _ in range(repeats):
        for name, fn in agent.fitness.items():
            if name in run.errors:
                continue
            before = agent._bindings()
            started = cpu_time()
            try:
                value = agent.interpreter.call(fn)
            except LispError as error:
                run.errors[name] = str(error)
                continue
            finally:
                run.latencies_ms.append((cpu_time() - started) * 1000)
                rebound = agent._rebound(before)
                if rebound:  # like `Agent.run_tests`: later tasks must not see rebound names
                    agent._restore(before, rebound)
                    run.errors[name] = f"the code under test rebinds {', '.join(rebound[:5])} at run time"
            if name in run.errors:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                run.errors[name] = f"returned {_shown(value)}, not a finite number"
                continue
            run.scores[name].append(float(value))
    return run


def read_candidate(parent: Agent, name: str, source: str, *, new: bool = False) -> tuple[Definition, Any]:
    """The `read` stage: `source` as the `Definition` of `name` and its form, or `Rejected`.

    It must read as exactly one form that prints back identically (the repository stores
    printed source) and define `name` with the kind of the parent's definition (with
    `new`, a name the parent does not have is accepted too: a helper added along with a
    candidate). Nothing is compiled: compiling runs code, which waits for the scan."""
    where = f"<candidate {name}>"
    try:
        forms = read_many(source, where)
    except LispError as error:
        raise Rejected(f"does not read: {error}") from None
    if len(forms) != 1:
        raise Rejected(f"the source holds {len(forms)} forms, not exactly one", {"forms": len(forms)})
    form = forms[0]
    printed = to_source(form)
    try:
        again = read_many(printed, where)
    except LispError as error:
        raise Rejected(f"does not print back identically: {error}") from None
    if len(again) != 1 or again[0] != form:
        raise Rejected("does not print back identically", {"printed": printed[:2000]})
    try:
        kind, declared = classify(form, where, source)
    except LispError as error:
        raise Rejected(str(error)) from None
    old = parent.definitions.get(name)
    if declared != name:
        raise Rejected(f"the form defines {declared!r}, not {name!r}")
    if old is None and not new:
        raise Rejected(f"agent {parent.name} has no definition {name!r} to replace")
    if old is not None and kind is not old.kind:
        raise Rejected(f"the form is a {kind.value}, the definition a {old.kind.value}")
    return Definition(name, kind, source), form


def scan_candidate(parent: Agent, candidate: Definition, form: Any) -> None:
    """The `scan` stage (see the module docstring): `Rejected` at the first finding, with
    ``symbol at line:col: why`` and every finding as evidence."""
    findings = list(_findings(parent, candidate, form))
    if findings:
        first = findings[0]
        reason = f"{first['symbol']} at {first['line']}:{first['col']}: {first['why']}"
        raise Rejected(reason, {"findings": findings[:50], **first})


def _findings(parent: Agent, candidate: Definition, form: Any) -> Iterator[dict[str, Any]]:
    def unsafe_granted(tool: str) -> bool:  # the rule `Agent._call_tool` enforces
        return "unsafe" in parent.grants or f"unsafe:{tool}" in parent.grants

    host = {mangle(name): name for name in parent.host_tools}
    granted = {mangle(name) for name in parent.host_tools if name in parent.grants or "*" in parent.grants}
    unsafe = {mangle(t.name): t.name for t in parent.tools.values() if t.unsafe and not unsafe_granted(t.name)}
    if candidate.kind is DefinitionKind.TOOL:
        unsafe.pop(mangle(candidate.name), None)  # its own name; a new :unsafe True is checked below
        if _declares_unsafe(form) and not unsafe_granted(candidate.name):
            keyword = next(n for n, _, _ in _walk(form, None, 0) if type(n) is Keyword and n.name == "unsafe")
            yield _finding(keyword, ":unsafe", f"declares an unsafe tool, and agent {parent.name} holds no unsafe grant")
    for node, inside, index in _walk(form, None, 0):
        if type(node) is Expression and node and node[0] == Symbol("."):
            text, attributes = _dotted(node)
        elif type(node) is Symbol and not (inside is not None and inside[0] == Symbol(".") and index != 1):
            text, attributes = str(node), []
        else:  # not a name, or a part of a dotted name (checked with the whole name)
            continue
        key = mangle(text)
        if key in _FORBIDDEN_MANGLED:
            yield _finding(node, text, _FORBIDDEN_MANGLED[key][1])
        elif key.startswith("__") or any(a.startswith("__") for a in attributes):
            yield _finding(node, text, "dunder names are outside the sandbox")
        elif any(a.startswith("_") for a in attributes):
            yield _finding(node, text, "attribute access to a name starting with _ is not allowed")
        elif key in host and key not in granted:
            yield _finding(node, text, f"calls host tool {host[key]}, which agent {parent.name} was not granted")
        elif key in unsafe:
            yield _finding(node, text, f"calls unsafe tool {unsafe[key]}, and agent {parent.name} holds no unsafe grant")


def validate(parent: Agent, candidate: Definition, thresholds: ValidationThresholds = ValidationThresholds()) -> ValidationReport:
    """Run the stages in order on `candidate` against `parent`; the first failure stops them."""
    context = _Context(parent, candidate, thresholds)
    stages: list[StageResult] = []
    evidence: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("read", context.read), ("scan", context.scan), ("tests", context.tests),
        ("fitness", context.fitness), ("performance", context.performance),
    ]
    for name, step in steps:
        started = time.perf_counter()
        try:
            found = step()
        except Rejected as rejected:
            result = StageResult(name, False, rejected.reason, rejected.evidence, (time.perf_counter() - started) * 1000)
            stages.append(result)
            evidence[name] = rejected.evidence
            return ValidationReport(False, name, rejected.reason, evidence, tuple(stages))
        stages.append(StageResult(name, True, "", found, (time.perf_counter() - started) * 1000))
        evidence[name] = found
    return ValidationReport(True, "passed", "", evidence, tuple(stages))


class _Context:
    def __init__(self, parent: Agent, candidate: Definition, thresholds: ValidationThresholds) -> None:
        self.parent = parent
        self.candidate = candidate
        self.thresholds = thresholds
        self.form: Any = None

    def _scratch(self, state: AgentState | None = None, *, with_candidate: bool = True) -> Agent:
        try:
            return self.parent.scratch(self.candidate if with_candidate else None, state=state)
        except MemoryChangeError as error:
            raise Rejected(error.message) from None
        except LispError as error:
            raise Rejected(f"does not load: {error}", {"error": str(error)}) from None

    # -- read ---------------------------------------------------------------------------------
    def read(self) -> dict[str, Any]:
        candidate = self.candidate
        definition, self.form = read_candidate(self.parent, candidate.name, candidate.source)
        if definition.kind is not candidate.kind:
            raise Rejected(f"the form is a {definition.kind.value}, the definition a {candidate.kind.value}")
        return {"name": definition.name, "kind": definition.kind.value, "chars": len(candidate.source)}

    # -- scan ---------------------------------------------------------------------------------
    def scan(self) -> dict[str, Any]:
        scan_candidate(self.parent, self.candidate, self.form)
        return {"findings": []}

    # -- tests --------------------------------------------------------------------------------
    def tests(self) -> dict[str, Any]:
        agent = self._scratch()  # the tests may change its state: later stages use fresh copies
        missing = [name for name in self.parent.judged_tests(self.candidate) if name not in agent.tests]
        if missing:  # (registration only by a test's own definition makes this a backstop)
            raise Rejected(f"test {missing[0]} was not registered by its definition", {"missing": missing})
        report = agent.run_tests()
        evidence = {"passed": list(report.passed), "failed": dict(report.failed)}
        if report.failed:
            name, why = next(iter(report.failed.items()))
            raise Rejected(f"test {name} failed: {why}", evidence)
        return evidence

    # -- fitness ------------------------------------------------------------------------------
    def fitness(self) -> dict[str, Any]:
        run = run_fitness(self._scratch(), 1)
        scores = {name: values[0] for name, values in run.scores.items() if values}
        evidence = {"scores": scores, "latencies_ms": list(run.latencies_ms), "errors": dict(run.errors)}
        if run.errors:
            name, why = next(iter(run.errors.items()))
            raise Rejected(f"fitness {name} failed: {why}", evidence)
        return evidence

    # -- performance --------------------------------------------------------------------------
    def performance(self) -> dict[str, Any]:
        limits = self.thresholds
        workload = "fitness" if self.parent.fitness else "tests" if self.parent.tests else None
        if workload is None:
            return {"skipped": "the agent has no fitness tasks or tests to time"}
        data = self.parent.state.to_data()
        times: dict[bool, list[float]] = {False: [], True: []}
        repeats = 1
        for i in range(limits.warmup + limits.runs):
            for with_candidate in ((False, True) if i % 2 == 0 else (True, False)):
                agent = self._scratch(AgentState.from_data(data, _memory_from_data), with_candidate=with_candidate)
                elapsed = self._time(agent, workload, "candidate" if with_candidate else "parent", repeats)
                if i >= limits.warmup:
                    times[with_candidate].append(elapsed)
                elif not with_candidate:
                    # A timed run repeats the workload until it lasts ~min_run_ms: a run of a
                    # millisecond varies by tens of percent (collector, caches, scheduling).
                    repeats = max(repeats, min(MAX_REPEATS, math.ceil(MIN_RUN_MS / max(elapsed, 1e-3))))
        parent_ms, candidate_ms = times[False], times[True]
        parent_median, candidate_median = median(parent_ms), median(candidate_ms)
        ratio = candidate_median / parent_median if parent_median > 0 else None
        test = mann_whitney_u(candidate_ms, parent_ms, "greater")
        evidence: dict[str, Any] = {
            "workload": workload, "runs": limits.runs, "repeats_per_run": repeats,
            "parent_median_ms": parent_median, "candidate_median_ms": candidate_median,
            "ratio": ratio, "p_value": test.p_value, "u": test.u, "effect": test.effect, "method": test.method,
            "max_slowdown": limits.max_slowdown, "alpha": limits.alpha, "min_slowdown_ms": limits.min_slowdown_ms,
            "parent_ms": parent_ms, "candidate_ms": candidate_ms,
        }
        slower = (candidate_median > parent_median * (1 + limits.max_slowdown)
                  and candidate_median - parent_median >= limits.min_slowdown_ms)
        if slower and test.p_value < limits.alpha:
            shown = f"{ratio:.2f}×" if ratio is not None else "infinitely"
            raise Rejected(
                f"the candidate is {shown} slower: median {format_duration(candidate_median)} "
                f"vs {format_duration(parent_median)} over "
                f"{limits.runs} interleaved runs of the {workload} (allowed +{limits.max_slowdown:.0%}, "
                f"{limits.min_slowdown_ms:g} ms); "
                f"Mann-Whitney U one-sided p = {test.p_value:.3g} < {limits.alpha}",
                evidence,
            )
        return evidence

    @staticmethod
    def _time(agent: Agent, workload: str, side: str, repeats: int = 1) -> float:
        """CPU milliseconds of one run of the workload (the mean over `repeats` runs)."""
        gc.collect()
        started = cpu_time()
        for _ in range(repeats):
            if workload == "fitness":
                for name, fn in agent.fitness.items():
                    try:
                        agent.interpreter.call(fn)
                    except LispError as error:
                        raise Rejected(f"fitness {name} failed in a timed run of the {side}: {error}") from None
            else:
                report = agent.run_tests()
                if report.failed:
                    name, why = next(iter(report.failed.items()))
                    raise Rejected(f"test {name} failed in a timed run of the {side}: {why}")
        return (cpu_time() - started) * 1000 / repeats


def _walk(form: Any, inside: Any, index: int) -> Iterator[tuple[Any, Any, int]]:
    """Every sub-form with the sequence directly containing it and its index there."""
    yield form, inside, index
    if isinstance(form, Sequence):
        for i, item in enumerate(form):
            yield from _walk(item, form, i)


def _dotted(form: Any) -> tuple[str, list[str]]:
    """The name a `(. object attribute...)` form spells (the reader turns `hy.eval`, `x._y`
    and `(._y x)` into such forms) and its attribute names."""
    obj = form[1] if len(form) > 1 else None
    attributes = [str(a[0]) if type(a) is Expression and a and type(a[0]) is Symbol else str(a)
                  for a in list(form)[2:] if type(a) is Symbol or type(a) is Expression]
    head = "" if obj is None or obj == Symbol("None") else str(obj) if type(obj) is Symbol else "(...)"
    return ".".join([head, *attributes]), attributes


def _declares_unsafe(form: Any) -> bool:
    """Whether a `deftool` form has the option `:unsafe True` (options precede the body)."""
    items = list(form)[3:] if type(form) is Expression else []
    i = 0
    while i + 1 < len(items) and type(items[i]) is Keyword:
        if items[i].name == "unsafe":
            return bool(type(items[i + 1]) is Symbol and str(items[i + 1]) == "True")
        i += 2
    return False


def _finding(node: Any, symbol: str, why: str) -> dict[str, Any]:
    pos = getattr(node, "_pos", None) or (0, 0, 0, 0)
    return {"symbol": symbol, "line": pos[0], "col": pos[1], "why": why}


def _shown(value: Any) -> str:
    try:
        return hy_repr(value)[:200]
    except Exception:
        return repr(value)[:200]


__all__ = ["FORBIDDEN", "STAGES", "FitnessRun", "Rejected", "StageResult", "ValidationReport", "ValidationThresholds",
           "read_candidate", "run_fitness", "scan_candidate", "validate"]
