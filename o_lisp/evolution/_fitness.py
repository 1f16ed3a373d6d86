"""Fitness of a population search's individuals: a vector, compared lexicographically.

An `Evaluation` becomes the vector ``(checks passed, each deffitness, steps, size)``
(`vector`, reported as is: steps and size are costs, lower is better). Selection
compares `key`s: the same objectives turned into "higher is better" and ordered by
importance, so a candidate passing more checks always beats one passing fewer (partial
credit), then the agent's own `deffitness` values decide, then cost (interpreter steps,
deterministic and fine-grained, unlike a CPU clock under rlimits), then size. Among
equals the smaller edit of the parent wins (`rank_key`): a repair that changes less is
less likely to overfit the visible tests. Why lexicographic and not Pareto (NSGA-II):
docs/decisions.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from o_lisp.evolution._individual import Evaluation
from o_lisp.forms import Sequence as FormSequence

Key = tuple[float, ...]
MISSING = -math.inf
"""A deffitness value a candidate did not produce (its cascade stopped earlier)."""


def objective_names(fitness_names: Sequence[str]) -> list[str]:
    """The objectives of the vector, in order: ``checks_passed``, each deffitness, ``steps``, ``size``."""
    return ["checks_passed", *fitness_names, "steps", "size"]


def vector(evaluation: Evaluation, fitness_names: Sequence[str]) -> list[float | None]:
    """The fitness vector as reported (None for a deffitness value that was not produced)."""
    values = dict(evaluation.fitness)
    return [float(evaluation.checks_passed), *(values.get(n) for n in fitness_names),
            float(evaluation.steps), float(evaluation.size)]


def key(evaluation: Evaluation, fitness_names: Sequence[str]) -> Key:
    """Higher is better: checks passed, then having run every stage, then each
    deffitness, then fewer steps, then a smaller form. A candidate that stopped before
    its checks ran (read, scan, load) passes none."""
    values = dict(evaluation.fitness)
    return (float(evaluation.checks_passed), 1.0 if evaluation.ok else 0.0,
            *(values.get(n, MISSING) for n in fitness_names), -float(evaluation.steps), -float(evaluation.size))


def rank_key(evaluation: Evaluation, fitness_names: Sequence[str], edit: int) -> Key:
    """`key` with the edit distance to the parent as the last tie-break (smaller wins)."""
    return (*key(evaluation, fitness_names), -float(edit))


def repair_key(evaluation: Evaluation, fitness_names: Sequence[str], edit: int, natural: float = 0.0) -> Key:
    """How the final candidates of a *repair* (a parent failing some checks) are ranked:
    checks, deffitness, then the smallest edit before cost. Among candidates that pass
    every visible check, preferring the cheapest would reward shortcuts that happen to
    satisfy the tests (overfitting); the smallest change of a program that was nearly
    right is the likelier correct one. Between equally small edits, the more `natural`
    one (the usual slip: ``<`` for ``<=``) before cost."""
    values = dict(evaluation.fitness)
    return (float(evaluation.checks_passed), 1.0 if evaluation.ok else 0.0,
            *(values.get(n, MISSING) for n in fitness_names), -float(edit), float(natural),
            -float(evaluation.steps), -float(evaluation.size))


def passes_all(evaluation: Evaluation) -> bool:
    """Ran every stage and failed no check."""
    return evaluation.ok and evaluation.checks_total > 0 and evaluation.checks_passed == evaluation.checks_total


def fitness_regression(candidate: Evaluation, parent: Evaluation) -> str:
    """The first deffitness the candidate does worse on than the parent ('' when none)."""
    mine = dict(candidate.fitness)
    for name, value in parent.fitness:
        if name not in mine:
            return f"deffitness {name} produced no value"
        if mine[name] < value:
            return f"deffitness {name} fell from {value:g} to {mine[name]:g}"
    return ""


# -- form edit distance --------------------------------------------------------------------


def size(form: Any) -> int:
    """Node count of a form."""
    if isinstance(form, FormSequence):
        return 1 + sum(size(child) for child in form)
    return 1


def edit_distance(a: Any, b: Any) -> int:
    """A tree edit distance between two forms: 0 when equal; for two sequences of the
    same type, the cheapest alignment of their children (substituting a child costs the
    children's distance, inserting or deleting one costs its size); otherwise the cheaper
    of replacing one subtree by the other (the larger size) and wrapping one in the
    other (the nodes added around it, plus the rest's distance). Cheap, symmetric, and
    the number of nodes touched for the small edits repair makes: a swapped operator
    costs 1, ``x`` -> ``(+ x 1)`` 3."""
    return _distance(_frozen(a), _frozen(b))


_Frozen = tuple[str, Any, int]


def _frozen(form: Any) -> _Frozen:
    """A hashable copy of a form: (type name, children or text, size)."""
    if isinstance(form, FormSequence):
        children = tuple(_frozen(c) for c in form)
        return (type(form).__name__, children, 1 + sum(c[2] for c in children))
    return (type(form).__name__, str(form), 1)


def _wrapped(inner: _Frozen, outer: _Frozen) -> int:
    """The cost of `outer` as `inner` wrapped: the nodes `outer` adds around one of its
    children, plus that child's distance to `inner` (``x`` -> ``(+ x 1)`` costs 3)."""
    if not isinstance(outer[1], tuple) or not outer[1]:
        return outer[2] + inner[2]
    children: tuple[_Frozen, ...] = outer[1]
    return min(outer[2] - c[2] + _distance(inner, c) for c in children)


@lru_cache(maxsize=65536)
def _distance(a: _Frozen, b: _Frozen) -> int:
    if a == b:
        return 0
    if not (isinstance(a[1], tuple) and isinstance(b[1], tuple) and a[0] == b[0]):
        return min(max(a[2], b[2]), _wrapped(a, b), _wrapped(b, a))
    xs, ys = a[1], b[1]
    previous = [0]
    for y in ys:
        previous.append(previous[-1] + y[2])
    for x in xs:
        current = [previous[0] + x[2]]
        for j, y in enumerate(ys):
            current.append(min(previous[j + 1] + x[2], current[j] + y[2], previous[j] + _distance(x, y)))
        previous = current
    return previous[-1]


__all__ = ["MISSING", "Key", "edit_distance", "fitness_regression", "key", "objective_names", "passes_all",
           "rank_key", "repair_key", "size", "vector"]
