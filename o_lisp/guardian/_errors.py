"""The guardian's errors and error codes, below every guardian module so each can use them.

`GuardianError` (under the project's root `OLispError`) is the one root of what the
guardian refuses or fails to do: `SupervisorError` (start, checkpoint, a request:
`RequestFailed`), `ProtocolError` (`_protocol`), `WalError` (`_wal`), `VaultError`
(`_vault`), `EvolutionError` (`_evolution`), `ConfigError` (`_http`). Each module
catches its own kinds; a caller that only needs "the guardian said no" catches the root.
"""

from __future__ import annotations

import enum

from o_lisp._errors import OLispError

__all__ = [
    "ErrorCode",
    "GuardianError",
    "RequestFailed",
    "StartFailed",
    "SupervisorError",
]


class ErrorCode(enum.StrEnum):
    """Every code a guardian refusal carries: an `Error` frame's ``code`` (docs/protocol.md),
    `RequestFailed.code`, and the ``error.code`` of the HTTP answer (`_http.FAILURE_STATUS`
    gives each its status). A `StrEnum`, so the wire and the JSON carry the plain string."""

    VERSION_MISMATCH = "version_mismatch"
    """The handshake: guardian and worker speak different protocol versions."""
    BAD_REQUEST = "bad_request"
    """The worker refuses the request's arguments (or the request is not possible now)."""
    NOT_FOUND = "not_found"
    """The request names something the agent does not have (e.g. feedback's reply_id)."""
    UNKNOWN_METHOD = "unknown_method"
    TIMEOUT = "timeout"
    """The worker did not answer within the request's time."""
    INTERNAL = "internal"
    """The worker (or the guardian storing a checkpoint) failed; an exception in agent code."""
    NOT_DURABLE = "not_durable"
    """A mutation's WAL append could not be fsynced: nothing was acknowledged."""
    RELOAD_FAILED = "reload_failed"
    """A hot reload did not load the asked version (the worker goes on with the old code)."""
    WORKER_DIED = "worker_died"
    """The worker died with the request in flight (outcome unknown)."""
    UNAVAILABLE = "unavailable"
    """No worker came up to serve within the request's time."""


class GuardianError(OLispError):
    """The root of the guardian's errors."""


class SupervisorError(GuardianError):
    """The supervisor cannot do what was asked (start, checkpoint, ...)."""


class RequestFailed(SupervisorError):
    """A request was answered with an error; `code` is an `ErrorCode` (a plain str when a
    worker sent one the guardian does not know)."""

    def __init__(self, message: str, code: str = ErrorCode.INTERNAL) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class StartFailed(Exception):
    """A worker (main, standby or shadow) did not come up; `code_version` is what it had loaded."""

    def __init__(self, reason: str, code_version: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code_version = code_version
