"""The guardian's errors and error codes, below every guardian module so each can use them.

`GuardianError` (under the project's root `OLispError`) is the one root of what the
guardian refuses or fails to do: `SupervisorError` (start, checkpoint, a request:
`RequestFailed`), `ProtocolError` (`_protocol`), `WalError` (`_wal`), `VaultError`
(`_vault`), `EvolutionError` (`_evolution`), `ConfigError` (`_http`). Each module
catches its own kinds; a caller that only needs "the guardian said no" catches the root.
"""

from __future__ import annotations

from o_lisp._errors import OLispError

__all__ = [
    "E_BAD_REQUEST",
    "E_INTERNAL",
    "E_NOT_DURABLE",
    "E_RELOAD_FAILED",
    "E_TIMEOUT",
    "E_UNAVAILABLE",
    "E_UNKNOWN_METHOD",
    "E_VERSION_MISMATCH",
    "E_WORKER_DIED",
    "GuardianError",
    "RequestFailed",
    "StartFailed",
    "SupervisorError",
]

# Well-known `Error.code` values of the frame protocol (docs/protocol.md).
E_VERSION_MISMATCH = "version_mismatch"
E_BAD_REQUEST = "bad_request"
E_UNKNOWN_METHOD = "unknown_method"
E_TIMEOUT = "timeout"
E_INTERNAL = "internal"
E_NOT_DURABLE = "not_durable"
E_RELOAD_FAILED = "reload_failed"

E_WORKER_DIED = "worker_died"
"""`RequestFailed.code` when the worker died with the request in flight (outcome unknown)."""
E_UNAVAILABLE = "unavailable"
"""`RequestFailed.code` when no worker came up to serve within the request's time."""


class GuardianError(OLispError):
    """The root of the guardian's errors."""


class SupervisorError(GuardianError):
    """The supervisor cannot do what was asked (start, checkpoint, ...)."""


class RequestFailed(SupervisorError):
    """A request was answered with an error; `code` is a protocol `E_*` code or `E_WORKER_DIED`."""

    def __init__(self, message: str, code: str = E_INTERNAL) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class StartFailed(Exception):
    """A worker (main, standby or shadow) did not come up; `code_version` is what it had loaded."""

    def __init__(self, reason: str, code_version: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code_version = code_version
