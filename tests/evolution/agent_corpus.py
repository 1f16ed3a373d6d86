"""The definitions of every agent in ``agents/``: the corpus the generation tests mutate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from o_lisp import read
from o_lisp.agent._dsl import read_agent

AGENTS = Path(__file__).resolve().parents[2] / "agents"


def agent_forms() -> list[tuple[str, Any, tuple[Any, ...]]]:
    """(agent/definition, form, the agent's other forms) for every defagent file."""
    found = []
    for path in sorted(AGENTS.glob("*.hy")):
        text = path.read_text("utf-8")
        if "(defagent" not in text:
            continue
        spec = read_agent(text, str(path))
        forms = [read(d.source) for d in spec.definitions]
        for d, form in zip(spec.definitions, forms, strict=True):
            found.append((f"{spec.name}/{d.name}", form, tuple(f for f in forms if f is not form)))
    return found
