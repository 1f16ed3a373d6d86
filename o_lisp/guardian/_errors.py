"""The guardian's errors, below every guardian module so each can raise and catch them.

`GuardianError` is the one root of what the guardian process refuses or fails to do;
it derives from the project's root `OLispError`.
"""

from __future__ import annotations

from o_lisp._errors import OLispError
from o_lisp.guardian._protocol import E_INTERNAL

__all__ = ["E_UNAVAILABLE", "E_WORKER_DIED", "GuardianError", "RequestFailed", "StartFailed"]

E_WORKER_DIED = "worker_died"
"""`RequestFailed.code` when the worker died with the request in flight (outcome unknown)."""
E_UNAVAILABLE = "unavailable"
"""`RequestFailed.code` when no worker came up to serve within the request's time."""


class GuardianError(OLispError):
    """The guardian cannot do what was asked (start, checkpoint, ...)."""


class RequestFailed(GuardianError):
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
