"""Errors of the memory system, all under `o_lisp.OLispError`.

They are not `LispError`s: they come from configuration, payloads and HTTP
services, which have no source position. The agent runtime catches
`MemorySystemError` to turn any of them into a clear, position-carrying error at
the `defmemory` form or tool call that caused it.
"""

from __future__ import annotations

from o_lisp._errors import OLispError


class MemorySystemError(OLispError):
    """Root of the memory system's deliberate errors."""


class MemoryConfigError(MemorySystemError):
    """A memory configuration option is unknown, of the wrong type or out of range.

    `option` names the offending option (as given) so the runtime can point at it.
    """

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"memory option {option!r}: {message}")
        self.option = option


class MemoryEmbedderError(MemorySystemError):
    """An embedder failed: HTTP error, unreachable service, bad JSON, wrong dimension."""


class MemoryPayloadError(MemorySystemError):
    """A mutation payload or serialized store is malformed or does not apply (unknown id, ...)."""


class MemorySearchError(MemorySystemError):
    """A search or kernel call got bad arguments (k < 1, wrong dtype or shape, ...)."""
