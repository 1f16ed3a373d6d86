"""Models for agents: named model configs, providers through the official SDKs (OpenAI and
every OpenAI-compatible server, Anthropic, Ollama) and a scripted provider, and the
`defllm` / `llm` / `llm-chat` forms of the agent DSL (see docs/llm.md)."""

from o_lisp.llm._breaker import CircuitBreaker
from o_lisp.llm._config import PROVIDERS, ModelConfig
from o_lisp.llm._errors import (
    LLMBadReply,
    LLMBudgetError,
    LLMCircuitOpen,
    LLMConfigError,
    LLMError,
    LLMNotGranted,
    LLMRateLimited,
    LLMRequestError,
    LLMServerError,
    LLMTimeout,
    LLMToolLoopError,
)
from o_lisp.llm._metrics import REGISTRY as METRICS_REGISTRY
from o_lisp.llm._metrics import write_metrics
from o_lisp.llm._plugins import GROUP as PROVIDER_GROUP
from o_lisp.llm._runtime import GRANT, LLMRuntime, make_provider
from o_lisp.llm._settings import LLMSettings, Price
from o_lisp.llm._types import Message, Provider, ToolCall, ToolSpec, Turn, Usage

__all__ = [
    "GRANT",
    "METRICS_REGISTRY",
    "PROVIDERS",
    "PROVIDER_GROUP",
    "CircuitBreaker",
    "LLMBadReply",
    "LLMBudgetError",
    "LLMCircuitOpen",
    "LLMConfigError",
    "LLMError",
    "LLMNotGranted",
    "LLMRateLimited",
    "LLMRequestError",
    "LLMRuntime",
    "LLMServerError",
    "LLMSettings",
    "LLMTimeout",
    "LLMToolLoopError",
    "Message",
    "ModelConfig",
    "Price",
    "Provider",
    "ToolCall",
    "ToolSpec",
    "Turn",
    "Usage",
    "make_provider",
    "write_metrics",
]
