"""The operator's model settings: `[llm]` of `o-lisp.toml` as frozen data.

Why a separate object from `ModelConfig`: a model config can come from agent code (which
can rewrite itself), while these settings come only from the host — the models it gives
(which win over the agent's), the endpoints an agent's own `:base-url` may name, the
circuit breaker's thresholds and the price table that turns tokens into cost.

```toml
[llm]
allowed_base_urls = ["http://127.0.0.1:11434"]   # agent-declared :base-url must start with one
breaker_failures = 5                              # consecutive failures that open a circuit
breaker_cooldown = 30.0                           # seconds before a half-open trial
metrics_file = "llm.prom"                         # o-lisp run writes the metrics there at its end

[llm.models.brain]
provider = "openai"
model = "gpt-4o-mini"
fallback = ["local"]

[llm.prices."gpt-4o-mini"]                        # USD per million tokens
input = 0.15
output = 0.60
```
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from o_lisp.llm._config import ModelConfig
from o_lisp.llm._errors import LLMConfigError

BREAKER_FAILURES = 5
BREAKER_COOLDOWN = 30.0
SHADOW_TOKEN_BUDGET = 20_000
SHADOW_WAIT = 10.0


class SettingError(ValueError):
    """A bad `[llm]` value; the message names the key (`[llm.models.brain] timeout: ...`)."""


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input: float = 0.0
    output: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


@dataclass(frozen=True)
class LLMSettings:
    """What the host decides about models (see the module docstring)."""

    models: Mapping[str, ModelConfig] = field(default_factory=dict)
    allowed_base_urls: tuple[str, ...] = ()
    breaker_failures: int = BREAKER_FAILURES
    breaker_cooldown: float = BREAKER_COOLDOWN
    prices: Mapping[str, Price] = field(default_factory=dict)
    metrics_file: str | None = None
    """Where `o-lisp run` writes the metrics when it ends (Prometheus text format)."""
    max_tokens_per_request: int | None = None
    """Budget of one `llm` / `llm-chat` call of any model (input + output tokens, all rounds)."""
    daily_token_budget: int | None = None
    """Tokens the agent may use per UTC day, all models together (kept in its state)."""
    daily_cost_budget: float | None = None
    """USD the agent may spend per UTC day (priced models only)."""
    shadow_replies: str = "reuse"
    """See `SHADOW_REPLIES`."""
    shadow_token_budget: int = SHADOW_TOKEN_BUDGET
    """With `shadow_replies = "own"`: tokens one shadow worker may spend on requests of its own."""
    shadow_wait: float = SHADOW_WAIT
    """Seconds a shadow waits for the live arm's reply to the same request (the live arm
    answers the mirrored message at the same time)."""

    def resolved(self, base: Path) -> LLMSettings:
        """Relative paths (a scripted model's `script`, `metrics_file`) made absolute from
        `base`, for processes that run elsewhere (`o-lisp serve`'s workers)."""
        models = {name: replace(config, script=str(base / config.script)) if config.script else config
                  for name, config in self.models.items()}
        metrics = None if self.metrics_file is None else str(base / self.metrics_file)
        return replace(self, models=models, metrics_file=metrics)

    def to_json(self) -> str:
        """The settings as the `[llm]` table they were read from, in JSON (for a worker spec)."""
        table: dict[str, Any] = {"allowed_base_urls": list(self.allowed_base_urls),
                                 "breaker_failures": self.breaker_failures, "breaker_cooldown": self.breaker_cooldown,
                                 "shadow_replies": self.shadow_replies, "shadow_token_budget": self.shadow_token_budget,
                                 "shadow_wait": self.shadow_wait}
        for key in ("metrics_file", "max_tokens_per_request", "daily_token_budget", "daily_cost_budget"):
            if getattr(self, key) is not None:
                table[key] = getattr(self, key)
        table["models"] = {name: _model_table(config) for name, config in self.models.items()}
        table["prices"] = {model: {"input": price.input, "output": price.output} for model, price in self.prices.items()}
        return json.dumps(table)

    @classmethod
    def from_json(cls, text: str) -> LLMSettings:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise SettingError("[llm] settings must be a JSON object")
        return parse_llm_table(data)

    def allows(self, base_url: str) -> bool:
        """Whether an agent-declared `:base-url` is one of the allowed endpoints (or below one)."""
        url = base_url.rstrip("/")
        return any(url == allowed.rstrip("/") or url.startswith(allowed.rstrip("/") + "/")
                   for allowed in self.allowed_base_urls)

    def price(self, model: str) -> Price | None:
        return self.prices.get(model)


# -- reading `[llm]` ----------------------------------------------------------------------

_MODEL_KEYS: dict[str, tuple[str, str]] = {
    # toml key: (ModelConfig option name, expected)
    "provider": ("provider", "a non-empty string"),
    "model": ("model", "a non-empty string"),
    "base_url": ("base-url", "a non-empty string"),
    "temperature": ("temperature", "a number"),
    "max_tokens": ("max-tokens", "an integer"),
    "timeout": ("timeout", "a number"),
    "retries": ("retries", "an integer"),
    "script": ("script", "a non-empty string"),
    "fallback": ("fallback", "a list of model names"),
    "max_tokens_per_request": ("max-tokens-per-request", "an integer"),
    "daily_token_budget": ("daily-token-budget", "an integer"),
    "daily_cost_budget": ("daily-cost-budget", "a number"),
    "cost_per_1k_input": ("cost-per-1k-input", "a number"),
    "cost_per_1k_output": ("cost-per-1k-output", "a number"),
}
_TOP_KEYS = ("allowed_base_urls", "breaker_failures", "breaker_cooldown", "metrics_file", "models", "prices",
             "max_tokens_per_request", "daily_token_budget", "daily_cost_budget", "shadow_replies",
             "shadow_token_budget", "shadow_wait")
SHADOW_REPLIES = ("reuse", "own")
"""`[llm] shadow_replies`: a shadow on mirrored traffic only replays the live arm's recorded
replies (`reuse`, the default: it never bills) or, for a request the live arm did not
make, calls the provider on a budget of its own (`own`: `shadow_daily_token_budget`)."""


def _described(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})" if not isinstance(value, dict | list) else kind


def _fits(value: Any, expected: str) -> bool:
    if isinstance(value, bool):
        return False
    if expected == "a number":
        return isinstance(value, int | float) and math.isfinite(value)
    if expected == "an integer":
        return isinstance(value, int)
    if expected == "a list of model names":
        return isinstance(value, list) and all(isinstance(item, str) and item.strip() for item in value)
    return isinstance(value, str) and bool(value.strip())


def parse_llm_table(table: Mapping[str, Any]) -> LLMSettings:
    """`[llm]` (as TOML data) → `LLMSettings`; `SettingError` names the bad key."""
    for key in table:
        if key not in _TOP_KEYS:
            raise SettingError(f"unknown key {key!r} in [llm] (known: {', '.join(_TOP_KEYS)})")
    allowed = table.get("allowed_base_urls", [])
    if not isinstance(allowed, list) or not all(isinstance(u, str) and u.startswith(("http://", "https://"))
                                                for u in allowed):
        raise SettingError(f"[llm] allowed_base_urls: expected a list of http(s) URLs, got {_described(allowed)}")
    failures = table.get("breaker_failures", BREAKER_FAILURES)
    if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
        raise SettingError(f"[llm] breaker_failures: expected an integer >= 1, got {_described(failures)}")
    cooldown = table.get("breaker_cooldown", BREAKER_COOLDOWN)
    if not _fits(cooldown, "a number") or cooldown <= 0:
        raise SettingError(f"[llm] breaker_cooldown: expected a number > 0, got {_described(cooldown)}")
    budgets: dict[str, Any] = {}
    for key in ("max_tokens_per_request", "daily_token_budget"):
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise SettingError(f"[llm] {key}: expected an integer >= 1, got {_described(value)}")
        budgets[key] = value
    cost_budget = table.get("daily_cost_budget")
    if cost_budget is not None and (not _fits(cost_budget, "a number") or cost_budget < 0):
        raise SettingError(f"[llm] daily_cost_budget: expected a number >= 0 (USD), got {_described(cost_budget)}")
    shadow_replies = table.get("shadow_replies", "reuse")
    if shadow_replies not in SHADOW_REPLIES:
        raise SettingError(f"[llm] shadow_replies: expected one of {', '.join(SHADOW_REPLIES)}, "
                           f"got {_described(shadow_replies)}")
    shadow_budget = table.get("shadow_token_budget", SHADOW_TOKEN_BUDGET)
    if isinstance(shadow_budget, bool) or not isinstance(shadow_budget, int) or shadow_budget < 0:
        raise SettingError(f"[llm] shadow_token_budget: expected an integer >= 0, got {_described(shadow_budget)}")
    shadow_wait = table.get("shadow_wait", SHADOW_WAIT)
    if not _fits(shadow_wait, "a number") or shadow_wait < 0:
        raise SettingError(f"[llm] shadow_wait: expected a number of seconds >= 0, got {_described(shadow_wait)}")
    metrics_file = table.get("metrics_file")
    if metrics_file is not None and not _fits(metrics_file, "a non-empty string"):
        raise SettingError(f"[llm] metrics_file: expected a non-empty string, got {_described(metrics_file)}")
    models = _tables(table.get("models", {}), "[llm.models]")
    prices = _tables(table.get("prices", {}), "[llm.prices]")
    return LLMSettings(
        models={name: _model(name, options) for name, options in models.items()},
        allowed_base_urls=tuple(allowed),
        breaker_failures=failures,
        breaker_cooldown=float(cooldown),
        prices={model: _price(model, options) for model, options in prices.items()},
        metrics_file=metrics_file,
        daily_cost_budget=None if cost_budget is None else float(cost_budget),
        shadow_replies=shadow_replies,
        shadow_token_budget=shadow_budget,
        shadow_wait=float(shadow_wait),
        **budgets,
    )


def _model_table(config: ModelConfig) -> dict[str, Any]:
    """A model config as its `[llm.models.NAME]` table."""
    table: dict[str, Any] = {}
    for key, (option, _expected) in _MODEL_KEYS.items():
        value = getattr(config, option.replace("-", "_"))
        if value is None or value == "" or value == ():
            continue
        table[key] = list(value) if isinstance(value, tuple) else value
    return table


def _tables(value: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise SettingError(f"{where}: expected one table per name ({where[:-1]}.NAME]), got {_described(value)}")
    return value


def _model(name: str, options: Mapping[str, Any]) -> ModelConfig:
    where = f"[llm.models.{name}]"
    converted: dict[str, Any] = {}
    for key, value in options.items():
        known = _MODEL_KEYS.get(key)
        if known is None:
            raise SettingError(f"unknown key {key!r} in {where} (known: {', '.join(_MODEL_KEYS)})")
        option, expected = known
        if not _fits(value, expected):
            raise SettingError(f"{where} {key}: expected {expected}, got {_described(value)}")
        converted[option] = value
    try:
        return ModelConfig.from_options(name, converted)
    except LLMConfigError as error:
        raise SettingError(f"{where}: {error}") from None


def _price(model: str, options: Mapping[str, Any]) -> Price:
    where = f"[llm.prices.{model!r}]" if "." in model else f"[llm.prices.{model}]"
    for key, value in options.items():
        if key not in ("input", "output"):
            raise SettingError(f"unknown key {key!r} in {where} (known: input, output)")
        if not _fits(value, "a number") or value < 0:
            raise SettingError(f"{where} {key}: expected a number >= 0 (USD per million tokens), got {_described(value)}")
    return Price(float(options.get("input", 0.0)), float(options.get("output", 0.0)))


__all__ = ["LLMSettings", "Price", "SettingError", "parse_llm_table"]
