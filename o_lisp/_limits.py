"""Budgets for one evaluation: finite by default, unlimited only by explicit opt-in."""

from __future__ import annotations

from dataclasses import dataclass, replace

MAX_GENERATIONS = 50
MAX_CANDIDATES = 32
"""Bounds on one evolution cycle's size (`o-lisp evolve`, ``POST /v1/evolution``, ``[evolution]``
of o-lisp.toml, the evolution manager): each candidate is validated and shadowed against
live traffic, so an unbounded request could keep an agent's evolution busy for days."""
MAX_POPULATION = 1000
MAX_ISLANDS = 16
MAX_WORKERS = 64
MAX_SEED = 2**32 - 1
"""Bounds of a population cycle (`o-lisp evolve --population`, ``POST /v1/evolution``):
individuals per generation, islands, evaluator shadows, and the seed of its random generator."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard budgets for one call of `Interpreter.eval` / `.call` / `.load`.

    steps      function calls + loop iterations (comprehensions included)
    time       wall-clock seconds
    depth      nested calls of sandboxed functions
    max_size   elements of any created collection, characters of a string, bytes of bytes
    max_int_bits  bits of any created integer (`(** 10 10000000)` is refused before computing)
    memory     bytes the process may grow by during the evaluation (sampled resident memory)
    max_source    characters of source text the reader accepts at once
    max_nesting   bracket nesting the reader accepts

    `None` means unlimited for that budget; `Limits.unlimited()` turns off all of
    them except the reader's, which protect the host rather than the program.
    """

    steps: int | None = 10_000_000
    time: float | None = 10.0
    depth: int | None = 1_000
    max_size: int | None = 4_000_000
    max_int_bits: int | None = 100_000
    memory: int | None = 512 * 1024 * 1024
    max_source: int = 16 * 1024 * 1024
    max_nesting: int = 1_000

    def __post_init__(self) -> None:
        for name in ("steps", "depth", "max_size", "max_int_bits", "memory"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ValueError(f"Limits.{name} must be a positive integer or None, not {value!r}")
        if self.time is not None and not (isinstance(self.time, int | float) and self.time > 0):
            raise ValueError(f"Limits.time must be a positive number or None, not {self.time!r}")
        for name in ("max_source", "max_nesting"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer, not {value!r}")

    @classmethod
    def unlimited(cls) -> Limits:
        """No budgets at all (explicit opt-in: a runaway program then runs forever)."""
        return cls(
            steps=None, time=None, depth=None, max_size=None, max_int_bits=None, memory=None
        )

    def but(self, **changes: object) -> Limits:
        """A copy with some budgets changed: `Limits().but(steps=1000)`."""
        return replace(self, **changes)  # type: ignore[arg-type]
