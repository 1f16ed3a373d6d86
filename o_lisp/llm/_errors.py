"""Errors of model calls, as the agent sees them: each names provider, model and status.

Why a scrubber: provider SDKs and servers may echo request headers or keys in their error
bodies; no API key may reach an error message, a log line, the agent's state or a commit.
Every message built here passes through `scrub` before it leaves this package.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from o_lisp._errors import OLispError

KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OLLAMA_API_KEY")
"""Environment variables that hold secrets; their values never appear in messages."""

REDACTED = "[redacted]"


def secrets(extra: Iterable[str | None] = ()) -> list[str]:
    """The secret values to scrub: the keys in the environment plus `extra`, longest first."""
    values = [os.environ.get(name) for name in KEY_VARIABLES]
    found = {v for v in [*values, *extra] if v and len(v) >= 4}
    return sorted(found, key=len, reverse=True)


def scrub(text: str, extra: Iterable[str | None] = ()) -> str:
    """`text` with every secret value replaced by `[redacted]`."""
    for secret in secrets(extra):
        text = text.replace(secret, REDACTED)
    return text


class LLMError(OLispError):
    """A model call failed. `provider`, `model` and `status` (HTTP status or None) say which."""

    def __init__(self, message: str, *, provider: str = "", model: str = "", status: int | None = None) -> None:
        where = f"{provider}:{model}: " if provider or model else ""
        shown = f"{where}{message}" + (f" (status {status})" if status is not None else "")
        super().__init__(scrub(shown))
        self.provider = provider
        self.model = model
        self.status = status


class LLMConfigError(LLMError):
    """A model is declared or chosen wrongly (unknown provider, bad option, no such model)."""


class LLMNotGranted(LLMError):
    """The agent called a model without the `llm` capability."""


class LLMTimeout(LLMError):
    """The provider did not answer within the model's timeout."""


class LLMRateLimited(LLMError):
    """HTTP 429 after the retries."""


class LLMServerError(LLMError):
    """HTTP 5xx after the retries, or the server could not be reached."""


class LLMCircuitOpen(LLMServerError):
    """The provider's circuit breaker is open (it kept failing): refused without a request."""


class LLMRequestError(LLMError):
    """The provider refused the request (HTTP 4xx other than 429: bad key, unknown model...)."""


class LLMBadReply(LLMError):
    """The reply could not be understood (malformed JSON, tool call arguments that are not an
    object, structured output that does not parse or lacks required keys)."""


class LLMToolLoopError(LLMError):
    """The model kept calling tools for more rounds than allowed."""


class LLMBudgetError(LLMError):
    """A token or cost budget would be (or was) exceeded. `budget` names it
    (`max_tokens_per_request`, `daily_token_budget`, `daily_cost_budget`), `limit` and `used`
    say by how much; `source` says who set it (`[llm]`, or the model's `defllm`)."""

    def __init__(self, message: str, *, budget: str, limit: float, used: float, source: str, provider: str = "",
                 model: str = "") -> None:
        super().__init__(message, provider=provider, model=model)
        self.budget = budget
        self.limit = limit
        self.used = used
        self.source = source


def error_for_status(status: int | None) -> type[LLMError]:
    """The `LLMError` subclass for an HTTP status."""
    if status == 429:
        return LLMRateLimited
    if status == 408:
        return LLMTimeout
    if status is None or status >= 500:
        return LLMServerError
    return LLMRequestError


__all__ = [
    "LLMBadReply",
    "LLMBudgetError",
    "LLMCircuitOpen",
    "LLMConfigError",
    "LLMError",
    "LLMNotGranted",
    "LLMRateLimited",
    "LLMRequestError",
    "LLMServerError",
    "LLMTimeout",
    "LLMToolLoopError",
    "error_for_status",
    "scrub",
]
