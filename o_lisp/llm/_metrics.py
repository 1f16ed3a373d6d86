"""Prometheus metrics of model calls, in a registry of their own (`REGISTRY`).

Why a separate registry: model calls happen wherever an agent runs (`o-lisp run`, an
embedding application, a guardian's worker process); the embedding host exposes
`REGISTRY` as it likes (`prometheus_client.generate_latest(REGISTRY)`, or
`[llm] metrics_file` of o-lisp.toml for `o-lisp run`, in the node exporter's textfile format). The guardian's
own `/metrics` does not include it yet (its workers are separate processes: docs/llm.md).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, write_to_textfile

from o_lisp._errors import UsageError
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


_changes = 0
_written: dict[str, int] = {}


def write_metrics_if_changed(path: str) -> bool:
    """`write_metrics` unless nothing was counted since the last write to `path` (a serving
    worker calls it after every request; the guardian's `/metrics` reads the file).
    Failures are ignored: metrics must not fail a request. True if it wrote."""
    if _written.get(path) == _changes:
        return False
    try:
        write_to_textfile(path, REGISTRY)
    except OSError:
        return False
    _written[path] = _changes
    return True


def write_metrics(path: str) -> None:
    """The metrics in Prometheus text format, written atomically (the node exporter's
    textfile collector reads such files); a file that cannot be written is a usage error."""
    try:
        write_to_textfile(path, REGISTRY)
    except OSError as error:
        raise UsageError(f"cannot write the LLM metrics to {path}: {error.strerror}") from None


def record_success(provider: str, model: str, seconds: float, usage: Usage, cost: float | None) -> None:
    global _changes
    _changes += 1
    LATENCY.labels(provider, model).observe(seconds)
    TOKENS.labels(provider, model, "prompt").inc(usage.input_tokens)
    TOKENS.labels(provider, model, "completion").inc(usage.output_tokens)
    if cost is not None:
        COST.labels(provider, model).inc(cost)


def record_replayed(provider: str, model: str) -> None:
    global _changes
    _changes += 1
    REPLAYED.labels(provider, model).inc()


def record_refused(provider: str, model: str, error: BaseException) -> None:
    """An error without a request (an open circuit): no latency sample."""
    global _changes
    _changes += 1
    ERRORS.labels(provider, model, type(error).__name__).inc()


def record_error(provider: str, model: str, seconds: float, error: BaseException) -> None:
    global _changes
    _changes += 1
    LATENCY.labels(provider, model).observe(seconds)
    ERRORS.labels(provider, model, type(error).__name__).inc()


__all__ = ["COST", "ERRORS", "LATENCY", "REGISTRY", "REPLAYED", "TOKENS", "record_error", "record_refused", "record_replayed",
           "record_success", "write_metrics", "write_metrics_if_changed"]
