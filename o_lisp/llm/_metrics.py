"""Prometheus metrics of model calls, in a registry of their own (`REGISTRY`).

Why a separate registry: model calls happen wherever an agent runs (`o-lisp run`, an
embedding application, a guardian's worker process); the embedding host exposes
`REGISTRY` as it likes (`prometheus_client.generate_latest(REGISTRY)`, or
`[llm] metrics_file` of o-lisp.toml for `o-lisp run`, in the node exporter's textfile format). The guardian's
own `/metrics` does not include it yet (its workers are separate processes: docs/llm.md).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from o_lisp.llm._types import Usage

REGISTRY = CollectorRegistry(auto_describe=True)

TOKENS = Counter("o_lisp_llm_tokens", "Tokens used by model calls.", ("provider", "model", "kind"),
                 registry=REGISTRY)
LATENCY = Histogram("o_lisp_llm_request_seconds", "Duration of one model request (retries included).",
                    ("provider", "model"), registry=REGISTRY,
                    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0))
ERRORS = Counter("o_lisp_llm_errors", "Failed model requests by error class.", ("provider", "model", "error"),
                 registry=REGISTRY)
REPLAYED = Counter("o_lisp_llm_replayed", "Model replies replayed from the agent's record instead of requested "
                   "again (a message retried after a crash, a shadow reusing the live arm's reply).",
                   ("provider", "model"), registry=REGISTRY)
COST = Counter("o_lisp_llm_cost_usd", "Estimated cost of model calls from the [llm.prices] table.",
               ("provider", "model"), registry=REGISTRY)


def write_metrics(path: str) -> None:
    """The metrics in Prometheus text format, written atomically (the node exporter's
    textfile collector reads such files); a file that cannot be written is a usage error."""
    from prometheus_client import write_to_textfile

    from o_lisp._errors import UsageError

    try:
        write_to_textfile(path, REGISTRY)
    except OSError as error:
        raise UsageError(f"cannot write the LLM metrics to {path}: {error.strerror}") from None


def record_success(provider: str, model: str, seconds: float, usage: Usage, cost: float | None) -> None:
    LATENCY.labels(provider, model).observe(seconds)
    TOKENS.labels(provider, model, "prompt").inc(usage.input_tokens)
    TOKENS.labels(provider, model, "completion").inc(usage.output_tokens)
    if cost is not None:
        COST.labels(provider, model).inc(cost)


def record_error(provider: str, model: str, seconds: float, error: BaseException) -> None:
    LATENCY.labels(provider, model).observe(seconds)
    ERRORS.labels(provider, model, type(error).__name__).inc()


__all__ = ["COST", "ERRORS", "LATENCY", "REGISTRY", "REPLAYED", "TOKENS", "record_error", "record_success", "write_metrics"]
