"""Issue 12, family 4: no process-wide state outlives an evaluation.

`hy.mangle` used a process-wide cache that kept every argument, so each
evaluation that mangled long names left hundreds of megabytes that no later
memory limit counted. The same attempt now runs many times in one process
(with names that differ on every run, so a cache would keep each of them) and
resident memory stays bounded.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from _repeat import RUNS, Attempt, run  # tests/security is on sys.path (rootdir-relative import)

from o_lisp import Interpreter, Limits
from o_lisp._mangle import mangle


def _counter(interp: Interpreter) -> Callable[..., Any]:
    """A capability returning 0, 1, 2...: every run mangles names never seen before."""
    return itertools.count().__next__


# 120 names of 20,000 question marks, each escaped to 300,000 characters
# ("Xquestion_markX"): about 36 MB of mangled text per run if a cache kept it.
MANGLE_MANY = (
    "(do (setv n (fresh)) "
    '(len (lfor i (range 120) (hy.mangle (+ "v" (str n) "-" (str i) (* "?" 20000))))))'
)
SHORT_MANY = '(do (setv n (fresh)) (len (lfor i (range 20000) (hy.mangle (+ "v" (str n) "-" (str i) "?")))))'


@pytest.mark.timeout(200)
def test_mangling_long_names_leaves_nothing_behind() -> None:
    attempt = Attempt(
        MANGLE_MANY,
        (("value", 120),),
        limits=Limits(time=20, memory=512 << 20),
        capabilities=(("fresh", _counter),),
        left_behind=5_000,
    )
    report = run(attempt)
    # A cache keeping the names would grow by ~36 MB per run.
    grown = report["rss"][-1] - report["rss"][1]
    assert grown < 64 << 20, f"resident memory grew by {grown >> 20} MiB over {RUNS - 2} runs"


@pytest.mark.timeout(200)
def test_mangling_many_short_names_is_bounded() -> None:
    """Short names are cached (the compiler mangles every symbol), but the cache has a
    fixed number of entries: 5 x 20,000 new names leave at most that many behind."""
    attempt = Attempt(
        SHORT_MANY,
        (("value", 20000),),
        limits=Limits(time=20),
        capabilities=(("fresh", _counter),),
        left_behind=60_000,
    )
    run(attempt)


def test_long_names_are_mangled_like_short_ones() -> None:
    """The uncached path for long names agrees with Hy (the test oracle)."""
    import hy  # the test extra's reference implementation
    for name in ("foo-bar", "valid?", "_-a", "a.b-c", "\u00e9" * 70, "x-" * 40, "🦑" * 65, "-" * 70, "_" * 3 + "a?" * 40):
        assert mangle(name) == hy.mangle(name)
