"""Which source writes the next candidate: a Thompson-sampling bandit over generators and models.

With `--generator mixed` (the offline generators and a model) or several models
(`--model a,b`), every candidate slot of a generation goes to one *arm*: `mutation`
(the mutation and template generators), `llm` (the agent's default model) or
`llm:NAME` (a named model). An arm's success rate is what evolution measured:
candidates it wrote that were promoted, out of those decided. Each slot draws a rate
from every arm's Beta(1 + promoted, 1 + rejected) posterior and goes to the highest
draw, so an arm that has worked gets most slots while an untried or unlucky one
still gets some (its posterior is wide) — exploration that fades as evidence comes
in, without a tuning constant. A model that costs tokens and is rarely promoted thus
ends up asked rarely, and one that writes winners is asked more.

The counts live in the agent's learning statistics (`state["evolution"]["stats"]
["arms"]`, next to the operator rates of `_generators.GeneratorStats`), kept by the
same `record_evolution` mutation: durable, checkpointed, replayed. Pure and seeded:
the same statistics and the same `random.Random` give the same allocation.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

ARMS = "arms"
"""The key of the arms' table in the learning statistics."""

OFFLINE = "mutation"
LLM = "llm"


def arm_name(generator: str, model: str | None = None) -> str:
    """The arm of a candidate: its generator, with the model for an LLM's (`llm:NAME`);
    the offline generators (mutation, templates) are one arm."""
    if generator == LLM:
        return f"{LLM}:{model}" if model else LLM
    return OFFLINE if generator in ("mutation", "template") else generator


def counts(stats: Mapping[str, Any], arm: str) -> tuple[int, int]:
    """(tried, promoted) of `arm`; (0, 0) for an arm never decided or a malformed record."""
    record = (stats.get(ARMS) or {}).get(arm) if isinstance(stats.get(ARMS), Mapping) else None
    if not isinstance(record, Mapping):
        return 0, 0
    tried, promoted = int(record.get("tried", 0)), int(record.get("promoted", 0))
    return max(tried, 0), min(max(promoted, 0), max(tried, 0))


def draw(stats: Mapping[str, Any], arms: Sequence[str], rng: random.Random) -> str:
    """One Thompson draw: the arm whose sampled success rate is highest (the first such
    arm on a tie)."""
    if not arms:
        raise ValueError("no arms to choose from")
    best, best_value = arms[0], -1.0
    for arm in arms:
        tried, promoted = counts(stats, arm)
        value = rng.betavariate(1 + promoted, 1 + tried - promoted)
        if value > best_value:
            best, best_value = arm, value
    return best


def allocate(stats: Mapping[str, Any], arms: Sequence[str], rng: random.Random, n: int) -> dict[str, int]:
    """How many of `n` candidate slots each arm gets: one Thompson draw per slot. Every
    arm is a key (0 for one that got no slot)."""
    quota = dict.fromkeys(arms, 0)
    for _ in range(max(n, 0)):
        quota[draw(stats, arms, rng)] += 1
    return quota


def updated(stats: Mapping[str, Any], arm: str, promoted: bool) -> dict[str, Any]:
    """A new statistics mapping with one more decided candidate of `arm` (the other keys,
    e.g. the operator tables, kept as they are)."""
    table = stats.get(ARMS) if isinstance(stats.get(ARMS), Mapping) else {}
    arms = {name: dict(record) for name, record in (table or {}).items() if isinstance(record, Mapping)}
    tried, wins = counts(stats, arm)
    arms[arm] = {"tried": tried + 1, "promoted": wins + (1 if promoted else 0)}
    return {**stats, ARMS: arms}

