"""`o-lisp evolve --plot FILE`: a population run's fitness per generation, drawn with matplotlib.

matplotlib is an optional extra (``pip install 'o-lisp[plot]'``, docs/decisions.md): a
plot is a convenience of the CLI, and matplotlib (with NumPy and a font stack) is far
heavier than the rest of the command. So it is imported here, on use, and its absence
is said as a `PlotUnavailable` the CLI turns into a usage error before a run starts.

A logbook row (docs/evolution.md) is ``{"gen", "evals", "best", "min", "avg", "max"}``
where each statistic maps an objective name to its value; one panel per objective
shows min, avg and max over the generations, and the best individual's value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PlotUnavailable", "check_plotting", "plot_logbook"]

STATISTICS = ("max", "avg", "min", "best")


class PlotUnavailable(Exception):
    """matplotlib is not installed; the message says how to install it."""


def check_plotting() -> None:
    """`PlotUnavailable` unless matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401  (an optional extra: only --plot needs it)
    except ImportError:
        raise PlotUnavailable("drawing needs matplotlib, an optional extra: pip install 'o-lisp[plot]'") from None


def objectives(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The objectives of a logbook, in the order the rows first name them."""
    names: dict[str, None] = {}
    for row in rows:
        for statistic in STATISTICS:
            values = row.get(statistic)
            if isinstance(values, Mapping):
                names.update((str(k), None) for k in values)
    return list(names)


def plot_logbook(rows: Sequence[Mapping[str, Any]], path: Path, title: str = "") -> None:
    """Draw `rows` into `path` (its suffix picks the format). ValueError when there is nothing to draw."""
    check_plotting()
    import matplotlib  # an optional extra, imported on use (see the module docstring)

    matplotlib.use("Agg")  # no display: write a file
    import matplotlib.pyplot as plt

    names = objectives(rows)
    if not rows or not names:
        raise ValueError("the run has no completed generation to draw")
    figure, axes = plt.subplots(len(names), 1, figsize=(7, 2.4 * len(names)), sharex=True, squeeze=False)
    try:
        generations = [int(row.get("gen", index + 1)) for index, row in enumerate(rows)]
        for axis, name in zip(axes[:, 0], names, strict=True):
            for statistic in STATISTICS:
                points = [(g, _value(row, statistic, name)) for g, row in zip(generations, rows, strict=True)]
                shown = [(g, v) for g, v in points if v is not None]
                if shown:
                    axis.plot([g for g, _ in shown], [v for _, v in shown], marker="o" if statistic == "best" else ".",
                              linestyle="-" if statistic != "best" else "--", label=statistic)
            axis.set_ylabel(name)
            axis.grid(True, alpha=0.3)
            axis.legend(loc="best", fontsize="small")
        axes[-1, 0].set_xlabel("generation")
        axes[-1, 0].set_xticks(generations)
        if title:
            figure.suptitle(title)
        figure.tight_layout()
        figure.savefig(path)
    finally:
        plt.close(figure)


def _value(row: Mapping[str, Any], statistic: str, name: str) -> float | None:
    values = row.get(statistic)
    if isinstance(values, Mapping):
        value = values.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None
