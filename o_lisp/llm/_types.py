"""What goes to a model and what comes back, independent of any provider.

Messages are plain dicts (msgpack data, so the agent's state can keep them):
`{"role": "system"|"user"|"assistant"|"tool", "content": str}`, an assistant message may
carry `"tool_calls": [{"id", "name", "arguments"}]`, and a tool message names the call it
answers (`"tool_call_id"`, `"name"`). Each provider translates them to its own format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Message = dict[str, Any]
ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model asked for; `arguments` is a JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]

    def as_data(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": dict(self.arguments)}


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)

    def as_data(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


@dataclass(frozen=True, slots=True)
class Turn:
    """One answer of the model: text and/or tool calls."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model: its (provider-safe) name, description and JSON Schema."""

    name: str
    description: str
    parameters: dict[str, Any]


class Provider(Protocol):
    """One model behind one SDK client."""

    def complete(self, messages: Sequence[Message], *, tools: Sequence[ToolSpec], schema: dict[str, Any] | None,
                 timeout: float) -> Turn:
        """One request: the conversation so far → the model's next turn. Raises `LLMError`."""
        ...


__all__ = ["ROLES", "Message", "Provider", "ToolCall", "ToolSpec", "Turn", "Usage"]
