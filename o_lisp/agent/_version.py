"""Semantic versions (semver.org 2.0.0): the one pattern and the one precedence order.

An agent's ``:version``, the repository's tags (``v<version>``), seed-edit versions and
bumps all go through here, so the seed reader cannot accept a version the repository
would then refuse.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["SEMVER", "semver_key"]

SEMVER = re.compile(
    r"\A(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\Z"
)
"""MAJOR.MINOR.PATCH, an optional pre-release (``-rc.1``) and build metadata (``+build.5``);
groups 1-3 are the numbers, 4 the pre-release, 5 the build metadata."""


def semver_key(version: str) -> tuple[Any, ...]:
    """Sort key implementing semver precedence (build metadata ignored); `version` must match `SEMVER`."""
    match = SEMVER.match(version)
    assert match is not None, f"not a semantic version: {version!r}"
    major, minor, patch, pre = int(match[1]), int(match[2]), int(match[3]), match[4]
    if pre is None:
        return (major, minor, patch, 1, ())
    idents = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, idents)
