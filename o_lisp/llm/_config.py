"""Named models: which provider, which model, and how to call it.

A `ModelConfig` is plain, frozen data. Agents declare one with
`(defllm NAME :provider "openai" :model "gpt-4o-mini" ...)`; the host may give its own
under the same name (`Agent(..., llm_models={...})`), which wins: the operator decides
where traffic goes. Keys are never part of a config: the SDKs read them from their own
environment variables (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`), so a config can be shown,
logged and committed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from o_lisp.llm._errors import LLMConfigError

PROVIDERS = ("openai", "anthropic", "ollama", "scripted")

OPTIONS: dict[str, tuple[type, ...]] = {
    "provider": (str,),
    "model": (str,),
    "base-url": (str,),
    "temperature": (int, float),
    "max-tokens": (int,),
    "timeout": (int, float),
    "retries": (int,),
    "script": (str,),
    "fallback": (list, tuple),
    "max-tokens-per-request": (int,),
    "daily-token-budget": (int,),
    "daily-cost-budget": (int, float),
    "cost-per-1k-input": (int, float),
    "cost-per-1k-output": (int, float),
}
"""The options of `defllm` and their types."""


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """One named model. `base_url` None means the SDK's own (its environment variable, e.g.
    `OPENAI_BASE_URL`, or its default); `script` is the reply file of the scripted provider."""

    name: str
    provider: str
    model: str = ""
    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 60.0
    retries: int = 2
    script: str | None = None
    fallback: tuple[str, ...] = ()
    """Models (by name) tried in order when this one fails with a retryable error."""
    max_tokens_per_request: int | None = None
    """Budget of one `llm` / `llm-chat` call (all its tool rounds), input + output tokens."""
    daily_token_budget: int | None = None
    """Tokens this model may use per UTC day (per agent; kept in the agent's state)."""
    daily_cost_budget: float | None = None
    """USD this model may cost per UTC day (needs a price: `cost_per_1k_*` or `[llm.prices]`)."""
    cost_per_1k_input: float | None = None
    cost_per_1k_output: float | None = None
    """USD per 1 000 tokens, when `[llm.prices]` has no price for the model."""

    def __post_init__(self) -> None:
        where = f"model {self.name}"
        if self.provider not in PROVIDERS:
            from o_lisp.llm._plugins import (
                custom_providers,  # entry points are scanned only for a provider not built in
            )

            known = custom_providers()
            if self.provider not in known:
                names = ", ".join([*PROVIDERS, *sorted(known)])
                raise LLMConfigError(f"{where}: unknown provider {self.provider!r} (known: {names})")
        elif self.provider != "scripted" and not self.model:
            raise LLMConfigError(f"{where}: :model is required for provider {self.provider}")
        if self.provider == "scripted" and not self.script:
            raise LLMConfigError(f"{where}: the scripted provider needs :script FILE")
        if not (isinstance(self.timeout, int | float) and math.isfinite(self.timeout) and self.timeout > 0):
            raise LLMConfigError(f"{where}: :timeout must be a positive number of seconds")
        if isinstance(self.retries, bool) or not 0 <= self.retries <= 10:
            raise LLMConfigError(f"{where}: :retries must be an integer from 0 to 10")
        if self.max_tokens is not None and self.max_tokens <= 0:
            raise LLMConfigError(f"{where}: :max-tokens must be positive")
        if self.temperature is not None and not 0 <= self.temperature <= 2:
            raise LLMConfigError(f"{where}: :temperature must be in [0, 2]")
        for option, value in (("max-tokens-per-request", self.max_tokens_per_request),
                              ("daily-token-budget", self.daily_token_budget)):
            if value is not None and (isinstance(value, bool) or value < 1):
                raise LLMConfigError(f"{where}: :{option} must be a positive integer")
        for option, number in (("daily-cost-budget", self.daily_cost_budget), ("cost-per-1k-input", self.cost_per_1k_input),
                               ("cost-per-1k-output", self.cost_per_1k_output)):
            if number is not None and not (math.isfinite(number) and number >= 0):
                raise LLMConfigError(f"{where}: :{option} must be a number >= 0")
        if not all(isinstance(other, str) and other for other in self.fallback) or self.name in self.fallback:
            raise LLMConfigError(f"{where}: :fallback must list other models' names")

    @classmethod
    def from_options(cls, name: str, options: dict[str, Any]) -> ModelConfig:
        """A config from `defllm` options (names as written: `base-url`, `max-tokens`)."""
        for key, value in options.items():
            expected = OPTIONS.get(key)
            if expected is None:
                raise LLMConfigError(f"model {name}: unknown option :{key} (known: {', '.join(':' + k for k in OPTIONS)})")
            if isinstance(value, bool) or not isinstance(value, expected):
                kind = " or ".join(t.__name__ for t in expected)
                raise LLMConfigError(f"model {name}: option :{key} must be a {kind}")
        if "provider" not in options:
            raise LLMConfigError(f"model {name}: :provider is required ({', '.join(PROVIDERS)})")
        return cls(
            name=name,
            provider=options["provider"],
            model=options.get("model", ""),
            base_url=options.get("base-url"),
            temperature=None if options.get("temperature") is None else float(options["temperature"]),
            max_tokens=options.get("max-tokens"),
            timeout=float(options.get("timeout", 60.0)),
            retries=int(options.get("retries", 2)),
            script=options.get("script"),
            fallback=tuple(str(item) if isinstance(item, str) else item for item in options.get("fallback", ())),
            max_tokens_per_request=options.get("max-tokens-per-request"),
            daily_token_budget=options.get("daily-token-budget"),
            daily_cost_budget=_number(options.get("daily-cost-budget")),
            cost_per_1k_input=_number(options.get("cost-per-1k-input")),
            cost_per_1k_output=_number(options.get("cost-per-1k-output")),
        )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


__all__ = ["OPTIONS", "PROVIDERS", "ModelConfig"]
