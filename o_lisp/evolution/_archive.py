"""A MAP-Elites archive: the best individual of each behaviour niche.

A population converges on its best lineage; an archive keeps one elite per cell of a
behaviour grid, so a different way of doing the job survives even when it is not the
best overall, and the search keeps drawing parents from it (as OpenEvolve and DGM do).
The descriptors are relative to the parent: the change in form size (bins of 2 nodes)
and the cost in interpreter steps (a log2 ratio), both clamped, so a run's grid is small
(at most 17 x 11 cells) and means the same for every definition.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any

Cell = tuple[int, int]
SIZE_BINS = 8
COST_BINS = 5


def cell(size: int, steps: int, parent_size: int, parent_steps: int) -> Cell:
    """The niche of an individual: (size change / 2, log2 of its steps over the parent's), clamped."""
    grow = max(-SIZE_BINS, min(SIZE_BINS, (size - parent_size) // 2))
    ratio = (steps + 1) / (parent_steps + 1)
    cost = max(-COST_BINS, min(COST_BINS, round(math.log2(ratio))))
    return grow, cost


class Archive:
    """Cell -> id of its elite; `offer` keeps the better of the incumbent and a newcomer
    (by the caller's ranking key)."""

    def __init__(self, cells: Mapping[Cell, str] | None = None) -> None:
        self.cells: dict[Cell, str] = dict(cells or {})

    def offer(self, where: Cell, ident: str, better: Callable[[str, str], bool]) -> bool:
        """Place `ident` in `where` if the cell is empty or `better(ident, incumbent)`."""
        incumbent = self.cells.get(where)
        if incumbent is None or better(ident, incumbent):
            self.cells[where] = ident
            return True
        return False

    def sample(self, rng: random.Random) -> str | None:
        """A uniformly chosen elite (cells in sorted order, so the draw is reproducible)."""
        if not self.cells:
            return None
        return self.cells[sorted(self.cells)[rng.randrange(len(self.cells))]]

    def as_data(self) -> list[list[Any]]:
        return [[c[0], c[1], ident] for c, ident in sorted(self.cells.items())]

    @classmethod
    def from_data(cls, data: list[list[Any]]) -> Archive:
        return cls({(int(a), int(b)): str(ident) for a, b, ident in data})


__all__ = ["Archive", "Cell", "cell"]
