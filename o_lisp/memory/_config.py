"""Memory configuration (`defmemory` options) and the evolvable hybrid-search weights.

Validation happens on construction, so a `MemoryConfig` that exists is valid:
the runtime can build one from user options and report the first bad option
by name before any memory is touched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from o_lisp.memory._embedders import make_embedder
from o_lisp.memory._errors import MemoryConfigError

KINDS = ("short_term", "long_term", "episodic", "semantic")


def _number(option: str, value: object, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MemoryConfigError(option, f"must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise MemoryConfigError(option, f"must be finite, got {value!r}")
    if minimum is not None and value < minimum:
        raise MemoryConfigError(option, f"must be >= {minimum}, got {value!r}")
    return float(value)


def _integer(option: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MemoryConfigError(option, f"must be an int, got {type(value).__name__}")
    if value < minimum:
        raise MemoryConfigError(option, f"must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class SearchWeights:
    """Weights of the hybrid score ``Σ weight × component`` (each component in [0, 1]).

    Not normalised: evolution may scale them freely; only their ratios change
    the ranking. Each must be finite and >= 0 and at least one > 0.
    """

    vector: float = 0.6
    keyword: float = 0.3
    recency: float = 0.05
    importance: float = 0.05

    def __post_init__(self) -> None:
        total = 0.0
        for f in fields(self):
            value = _number(f"weights.{f.name}", getattr(self, f.name), minimum=0.0)
            object.__setattr__(self, f.name, value)
            total += value
        if total <= 0.0:
            raise MemoryConfigError("weights", "at least one weight must be > 0")

    @classmethod
    def from_mapping(cls, weights: Mapping[str, Any]) -> SearchWeights:
        """From a mapping; missing weights keep their defaults, unknown ones are errors."""
        if isinstance(weights, SearchWeights):
            return weights
        if not isinstance(weights, Mapping):
            raise MemoryConfigError("weights", f"must be a mapping, got {type(weights).__name__}")
        names = {f.name for f in fields(cls)}
        for key in weights:
            if key not in names:
                raise MemoryConfigError(f"weights.{key}", f"unknown weight (known: {sorted(names)})")
        return cls(**dict(weights))

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """One memory's configuration; see docs/memory.md for the meaning of each option.

    ``block_size``/``overlap`` are in characters. Consolidation promotes a
    short-term block to long-term when ``importance >= consolidate_importance``
    or ``access_count >= consolidate_accesses``. Forgetting removes short-term
    blocks that were never accessed and have ``importance <
    forget_below_importance``: those older than ``forget_after_s``, and, while
    more than ``short_term_capacity`` short-term blocks remain, the oldest others.
    """

    name: str = "memory"
    block_size: int = 512
    overlap: int = 50
    dim: int = 384
    weights: SearchWeights = field(default_factory=SearchWeights)
    embedder: Mapping[str, Any] = field(default_factory=lambda: {"kind": "hashing"})
    quantize: bool = False
    short_term_capacity: int = 1000
    consolidate_importance: float = 0.7
    consolidate_accesses: int = 3
    forget_after_s: float = 7 * 24 * 3600.0
    forget_below_importance: float = 0.3
    recency_half_life_s: float = 24 * 3600.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise MemoryConfigError("name", f"must be a non-empty string, got {self.name!r}")
        _integer("block_size", self.block_size, minimum=1)
        _integer("overlap", self.overlap, minimum=0)
        if self.overlap >= self.block_size:
            raise MemoryConfigError(
                "overlap",
                f"must be smaller than block_size ({self.overlap} >= {self.block_size})",
            )
        _integer("dim", self.dim, minimum=1)
        if not isinstance(self.weights, SearchWeights):
            object.__setattr__(self, "weights", SearchWeights.from_mapping(self.weights))
        if not isinstance(self.quantize, bool):
            raise MemoryConfigError("quantize", f"must be a bool, got {type(self.quantize).__name__}")
        _integer("short_term_capacity", self.short_term_capacity, minimum=1)
        c = _number("consolidate_importance", self.consolidate_importance, minimum=0.0)
        object.__setattr__(self, "consolidate_importance", c)
        _integer("consolidate_accesses", self.consolidate_accesses, minimum=1)
        object.__setattr__(
            self, "forget_after_s", _number("forget_after_s", self.forget_after_s, minimum=0.0)
        )
        f = _number("forget_below_importance", self.forget_below_importance, minimum=0.0)
        object.__setattr__(self, "forget_below_importance", f)
        h = _number("recency_half_life_s", self.recency_half_life_s, minimum=0.0)
        if h <= 0:
            raise MemoryConfigError("recency_half_life_s", "must be > 0")
        object.__setattr__(self, "recency_half_life_s", h)
        if not isinstance(self.embedder, Mapping):
            raise MemoryConfigError(
                "embedder", f"must be a mapping, got {type(self.embedder).__name__}"
            )
        object.__setattr__(self, "embedder", dict(self.embedder))
        make_embedder(self.embedder, self.dim)  # validates the spec (no network access)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> MemoryConfig:
        """From `defmemory`-style options: ``block-size``, ``:block-size`` and ``block_size`` all work.

        Unknown options and bad values raise `MemoryConfigError` naming the option.
        """
        if not isinstance(options, Mapping):
            raise MemoryConfigError("options", f"must be a mapping, got {type(options).__name__}")
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in options.items():
            if not isinstance(key, str):
                raise MemoryConfigError(repr(key), "option names must be strings")
            name = key.lstrip(":").replace("-", "_")
            if name not in known:
                raise MemoryConfigError(key, f"unknown option (known: {sorted(known)})")
            if name in kwargs:
                raise MemoryConfigError(key, "given twice")
            kwargs[name] = value
        if "weights" in kwargs:
            kwargs["weights"] = SearchWeights.from_mapping(kwargs["weights"])
        return cls(**kwargs)

    def to_options(self) -> dict[str, Any]:
        """Plain, msgpack-able options; ``from_options(c.to_options()) == c``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, SearchWeights):
                value = value.to_dict()
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out
