"""Token and cost budgets of model calls: per request and per UTC day, per agent.

Why here and not in the provider: a budget is a decision about the agent's spending, made
from the agent's own durable record of what it spent (`state["llm"]["day"]`, kept by the
`llm_reply` mutation), so a restart does not reset the day and replayed replies are not
counted twice. Two sources set budgets, and both apply (the tighter one wins): the
operator's `[llm]` (all models of the agent together) and a model's own `defllm` /
`[llm.models.NAME]` options (that model alone).

A budget is checked **before** a request when it can be predicted — the day's usage has
reached it, or the prompt's estimated size (`CHARS_PER_TOKEN`) plus the model's
`max_tokens` exceeds what is left of the request's budget — and **after** each reply,
against the tokens and cost the provider reported. Either way the error is an
`LLMBudgetError` naming the budget; a reply that went over was still recorded (it was
paid for), but it is not used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from o_lisp.llm._config import ModelConfig
from o_lisp.llm._errors import LLMBudgetError
from o_lisp.llm._settings import LLMSettings, Price
from o_lisp.llm._types import Message, ToolSpec, Usage

CHARS_PER_TOKEN = 4
"""A prompt's size in tokens is estimated as its characters / 4 (English text averages
about that); the estimate only decides whether to refuse a request before it is sent."""


def utc_day(timestamp: float) -> str:
    """The UTC date of a clock reading, `YYYY-MM-DD` (the budgets' day)."""
    return datetime.fromtimestamp(timestamp, tz=UTC).date().isoformat()


def price_of(settings: LLMSettings, config: ModelConfig) -> Price | None:
    """The model's price: the operator's `[llm.prices]` entry, else the model's own
    `cost_per_1k_*` options, else None (unpriced: cost is not counted)."""
    price = settings.price(config.model or config.name)
    if price is not None:
        return price
    if config.cost_per_1k_input is None and config.cost_per_1k_output is None:
        return None
    return Price((config.cost_per_1k_input or 0.0) * 1000, (config.cost_per_1k_output or 0.0) * 1000)


def estimated_tokens(messages: Sequence[Message], tools: Sequence[ToolSpec], schema: Mapping[str, Any] | None) -> int:
    """The prompt's size in tokens, estimated from its characters."""
    size = sum(len(str(m.get("content") or "")) + len(json.dumps(m.get("tool_calls", []))) for m in messages)
    size += sum(len(t.name) + len(t.description) + len(json.dumps(t.parameters)) for t in tools)
    size += len(json.dumps(schema)) if schema is not None else 0
    return size // CHARS_PER_TOKEN


@dataclass(frozen=True, slots=True)
class _Limit:
    budget: str
    limit: float
    source: str


class Budgets:
    """The budgets that apply to one agent's calls of one model."""

    def __init__(self, settings: LLMSettings, agent: str) -> None:
        self.settings = settings
        self.agent = agent

    def _request_limits(self, config: ModelConfig) -> list[_Limit]:
        limits = []
        if self.settings.max_tokens_per_request is not None:
            limits.append(_Limit("max_tokens_per_request", self.settings.max_tokens_per_request, "[llm]"))
        if config.max_tokens_per_request is not None:
            limits.append(_Limit("max_tokens_per_request", config.max_tokens_per_request, f"model {config.name}"))
        return limits

    def _daily_limits(self, config: ModelConfig) -> list[tuple[_Limit, str]]:
        """(limit, the key of the usage bucket it is measured on: "" = the agent's whole day)."""
        limits: list[tuple[_Limit, str]] = []
        if self.settings.daily_token_budget is not None:
            limits.append((_Limit("daily_token_budget", self.settings.daily_token_budget, "[llm]"), ""))
        if self.settings.daily_cost_budget is not None:
            limits.append((_Limit("daily_cost_budget", self.settings.daily_cost_budget, "[llm]"), ""))
        if config.daily_token_budget is not None:
            limits.append((_Limit("daily_token_budget", config.daily_token_budget, f"model {config.name}"), config.name))
        if config.daily_cost_budget is not None:
            limits.append((_Limit("daily_cost_budget", config.daily_cost_budget, f"model {config.name}"), config.name))
        return limits

    def before(self, config: ModelConfig, day: Mapping[str, Any], today: str, spent: Usage, prompt_tokens: int) -> None:
        """Refuse a request the budgets can already tell is too much (see the module docstring)."""
        planned = spent.input_tokens + spent.output_tokens + prompt_tokens + (config.max_tokens or 0)
        for limit in self._request_limits(config):
            if planned > limit.limit:
                self._raise(config, limit, planned, "this request would use about {used} tokens (so far "
                            f"{spent.input_tokens + spent.output_tokens}, prompt ~{prompt_tokens}, "
                            f"max_tokens {config.max_tokens or 0}); the limit is {{limit}}")
        for limit, bucket in self._daily_limits(config):
            used = _day_used(day, today, bucket, limit.budget)
            if used >= limit.limit:
                self._raise(config, limit, used, _day_text(limit, today, bucket))

    def after(self, config: ModelConfig, day: Mapping[str, Any], today: str, spent: Usage) -> None:
        """After a reply was recorded: is any budget now exceeded?"""
        for limit in self._request_limits(config):
            tokens = spent.input_tokens + spent.output_tokens
            if tokens > limit.limit:
                self._raise(config, limit, tokens, "this request used {used} tokens; the limit is {limit}")
        for limit, bucket in self._daily_limits(config):
            used = _day_used(day, today, bucket, limit.budget)
            if used > limit.limit:
                self._raise(config, limit, used, _day_text(limit, today, bucket))

    def _raise(self, config: ModelConfig, limit: _Limit, used: float, text: str) -> None:
        shown_limit = f"{limit.limit:.4f} USD" if limit.budget == "daily_cost_budget" else f"{int(limit.limit)}"
        shown_used = f"{used:.4f} USD" if limit.budget == "daily_cost_budget" else f"{int(used)}"
        message = (f"{limit.budget} ({limit.source}) of agent {self.agent} exceeded: "
                   + text.format(used=shown_used, limit=shown_limit))
        raise LLMBudgetError(message, budget=limit.budget, limit=limit.limit, used=used, source=limit.source,
                             provider=config.provider, model=config.model or config.name)


def _day_used(day: Mapping[str, Any], today: str, bucket: str, budget: str) -> float:
    if day.get("day") != today:
        return 0.0
    usage = day if not bucket else (day.get("models") or {}).get(bucket) or {}
    if budget == "daily_cost_budget":
        return float(usage.get("cost_usd", 0.0))
    return float(usage.get("input_tokens", 0) + usage.get("output_tokens", 0))


def _day_text(limit: _Limit, today: str, bucket: str) -> str:
    what = "the agent's models" if not bucket else f"model {bucket}"
    unit = "" if limit.budget == "daily_cost_budget" else " tokens"
    return f"{what} used {{used}}{unit} on {today} (UTC); the limit is {{limit}}{unit} a day"


__all__ = ["CHARS_PER_TOKEN", "Budgets", "estimated_tokens", "price_of", "utc_day"]
