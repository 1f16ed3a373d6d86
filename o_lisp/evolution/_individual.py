"""The contract between the population search and whatever evaluates its candidates.

The search (`o_lisp.evolution` — pure, it never runs agent code) asks for a batch of
`Proposal`s; an evaluator (shadow workers under the guardian, `o_lisp/worker/`) runs
each one against the agent's checks and answers with one `Evaluation` per proposal,
in the same order. Both cross a process boundary as plain data (`as_data` /
`from_data`: str, int, float, bool, lists and maps only, so msgpack and JSON carry
them unchanged), which is why they are defined here once, stdlib-only.

A *check* is one `assert` of one `deftest`: a candidate that passes more checks than
its parent is better even while some still fail (partial credit). A test that raises
before reaching an assert fails that assert and every later one of the same test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Path = tuple[int, ...]
"""Where a subform sits in the target definition's form: indices from the root."""

STAGES = ("read", "scan", "scope", "load", "checks", "fitness", "done")
"""Where an evaluation can stop, in cascade order; "done" means every stage ran."""


@dataclass(frozen=True)
class Proposal:
    """One candidate the search wants evaluated.

    `source` is the whole new target definition (one form); `helpers` are sources of
    other definitions changed or added together with it (usually empty). `parents` are
    the ids of the individuals it was bred from; `operator` names how ("swap-operator",
    "crossover", "insert-statement+perturb-constant", "seed" for the parent itself)."""

    id: str
    name: str
    source: str
    parents: tuple[str, ...] = ()
    operator: str = ""
    helpers: tuple[str, ...] = ()

    def as_data(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "source": self.source, "parents": list(self.parents),
                "operator": self.operator, "helpers": list(self.helpers)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Proposal:
        return cls(id=str(data["id"]), name=str(data["name"]), source=str(data["source"]),
                   parents=tuple(str(p) for p in data.get("parents", ())), operator=str(data.get("operator", "")),
                   helpers=tuple(str(h) for h in data.get("helpers", ())))


@dataclass(frozen=True)
class EvaluationRequest:
    """How to evaluate a batch.

    `step_limit` caps the interpreter steps of each test run of a candidate (None: the
    agent's own budget); the search sets it relative to the parent (at most
    max(20 x the parent's steps, a floor)) so a runaway candidate dies in milliseconds.
    `first` names the tests to run first (the ones the parent fails): the cascade.
    `spectrum` asks for per-test coverage of the target's subforms (fault localisation;
    asked for the parent only, it costs an instrumented run). `timing` asks for
    `cpu_us` to be measured (repeated runs), which only the final contenders need."""

    proposals: tuple[Proposal, ...]
    step_limit: int | None = None
    first: tuple[str, ...] = ()
    spectrum: bool = False
    timing: bool = False

    def as_data(self) -> dict[str, Any]:
        return {"proposals": [p.as_data() for p in self.proposals], "step_limit": self.step_limit,
                "first": list(self.first), "spectrum": self.spectrum, "timing": self.timing}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> EvaluationRequest:
        limit = data.get("step_limit")
        return cls(proposals=tuple(Proposal.from_data(p) for p in data.get("proposals", ())),
                   step_limit=None if limit is None else int(limit),
                   first=tuple(str(t) for t in data.get("first", ())), spectrum=bool(data.get("spectrum", False)),
                   timing=bool(data.get("timing", False)))


@dataclass(frozen=True)
class Coverage:
    """Fault-localisation evidence for one subform of the target: how many failing and
    passing checks executed it (Ochiai: failed / sqrt(total_failed * (failed + passed))).
    A check is one assert of one test; the code run between two of a test's asserts
    counts for the second (`o_lisp.worker._evaluate._spectrum`)."""

    path: Path
    failed: int
    passed: int


@dataclass(frozen=True)
class Evaluation:
    """What evaluating one `Proposal` produced.

    `stage` is where the cascade stopped ("done" when it ran to the end) and `reason`
    why (empty when done). `failed_checks` names each failing check as "TEST#N" (N
    counts the test's asserts from 1; "TEST#0" when the test failed outside any assert,
    e.g. returned False or raised before its first assert). `fitness` holds every
    `deffitness` value by name (higher is better). `steps` is the interpreter steps the
    checks took, `cpu_us` the CPU time (thread clock) of one run of the checks when
    timing was asked for, else None. `size` is the target form's node count."""

    id: str
    stage: str
    reason: str = ""
    checks_passed: int = 0
    checks_total: int = 0
    failed_checks: tuple[str, ...] = ()
    fitness: tuple[tuple[str, float], ...] = ()
    steps: int = 0
    cpu_us: float | None = None
    size: int = 0
    spectrum: tuple[Coverage, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Ran every stage (its checks may still fail: that is partial credit, not an error)."""
        return self.stage == "done"

    def as_data(self) -> dict[str, Any]:
        return {"id": self.id, "stage": self.stage, "reason": self.reason, "checks_passed": self.checks_passed,
                "checks_total": self.checks_total, "failed_checks": list(self.failed_checks),
                "fitness": {k: v for k, v in self.fitness}, "steps": self.steps, "cpu_us": self.cpu_us,
                "size": self.size, "spectrum": [[list(c.path), c.failed, c.passed] for c in self.spectrum]}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Evaluation:
        cpu = data.get("cpu_us")
        fitness = data.get("fitness") or {}
        return cls(
            id=str(data["id"]), stage=str(data["stage"]), reason=str(data.get("reason", "")),
            checks_passed=int(data.get("checks_passed", 0)), checks_total=int(data.get("checks_total", 0)),
            failed_checks=tuple(str(c) for c in data.get("failed_checks", ())),
            fitness=tuple(sorted((str(k), float(v)) for k, v in fitness.items())),
            steps=int(data.get("steps", 0)), cpu_us=None if cpu is None else float(cpu),
            size=int(data.get("size", 0)),
            spectrum=tuple(Coverage(tuple(int(i) for i in p), int(f), int(s)) for p, f, s in data.get("spectrum", ())),
        )


def evaluations_in_order(request: EvaluationRequest, evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """The evaluator's answer checked against its request: one evaluation per proposal, same ids, same order."""
    wanted = [p.id for p in request.proposals]
    got = [e.id for e in evaluations]
    if wanted != got:
        raise ValueError(f"evaluations do not answer the request: expected ids {wanted[:5]}..., got {got[:5]}...")
    return list(evaluations)
