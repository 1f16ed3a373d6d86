"""The worker's side of the model layer: the operator's `[llm]` settings from the spec, the
recorded replies the shadows reuse, and the metrics file the guardian's `/metrics` reads.

Kept apart from `_serve` so that the lab (`_lab`) can use it without importing the serve loop.
The `o_lisp.llm` imports stay inside the functions: a standby or a zygote never loads the
model layer unless an agent is actually loaded.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from o_lisp.guardian._protocol import LLM_METRICS_FILE, WorkerSpec

REPLIES_DIRECTORY = "llm-replies"
"""The serving worker's recorded model replies, for the shadows to reuse (`o_lisp.llm._exchange`)."""


def llm_settings(spec: WorkerSpec) -> Any:
    """The operator's `[llm]` settings the guardian passed (`o_lisp.llm.LLMSettings`), or None."""
    if not spec.llm:
        return None
    # lazily: only a worker that loads an agent needs the model layer
    from o_lisp.llm import LLMSettings

    return LLMSettings.from_json(spec.llm)


def write_llm_metrics(spec: WorkerSpec) -> bool:
    """Write the model-call metrics to the data directory if any changed (after each request)."""
    # lazily: as in llm_settings
    from o_lisp.llm._metrics import write_metrics_if_changed

    return write_metrics_if_changed(_metrics_path(spec.data_dir))


@functools.cache
def _metrics_path(data_dir: str) -> str:
    """Built once per data directory: this runs after every request."""
    return str(Path(data_dir) / LLM_METRICS_FILE)
