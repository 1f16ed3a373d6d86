"""A definition of an agent: one named, evolvable piece of its source code.

The agent's code repository stores each definition as its own file of
s-expression source; the runtime compiles them one at a time, so a rewrite
touches exactly one definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class DefinitionKind(Enum):
    """What a definition declares; the value is the head symbol used in source."""

    FUNCTION = "defn"
    MACRO = "defmacro"
    TOOL = "deftool"
    RULE = "when->"
    WORKFLOW = "defworkflow"
    MEMORY = "defmemory"
    LLM = "defllm"
    TEST = "deftest"
    FITNESS = "deffitness"
    VALUE = "setv"


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True)
class Definition:
    """`source` is the exact text of the defining form (it reads back to the same form)."""

    name: str
    kind: DefinitionKind
    source: str

    @property
    def filename(self) -> str:
        """The file holding this definition in the code repository (see docs/agents.md)."""
        return f"defs/{safe_filename(self.name)}.hy"


def safe_filename(name: str) -> str:
    """A portable file name for a definition name (`valid?` → `valid_3f`)."""
    return _SAFE_NAME.sub(lambda m: f"_{ord(m.group(0)):02x}", name)
