"""Printing a model's text as it arrives (`o-lisp run` on a terminal, or `--stream`).

The agent's reply is only known when its code returns, and it need not be the model's
text (a rule may wrap it), so `end` compares: a reply the stream already showed in full
only ends the line; anything else is printed after it.
"""

from __future__ import annotations

import sys
from typing import TextIO


class TerminalStream:
    """`LLMRuntime.on_text` for one conversation on one output."""

    def __init__(self, output: TextIO | None = None) -> None:
        self.output = output or sys.stdout
        self.prefix = ""
        self.shown: list[str] = []

    def begin(self, prefix: str = "") -> None:
        """A new message: `prefix` (e.g. `agent> `) goes before its first streamed text."""
        self.prefix = prefix
        self.shown = []

    def __call__(self, text: str) -> None:
        if not self.shown and self.prefix:
            self.output.write(self.prefix)
        self.shown.append(text)
        self.output.write(text)
        self.output.flush()

    def end(self, reply: str | None) -> bool:
        """After the message: True if `reply` was shown already (the line is ended)."""
        if not self.shown:
            return False
        self.output.write("\n")
        self.output.flush()
        return reply is not None and "".join(self.shown).endswith(reply)


__all__ = ["TerminalStream"]
