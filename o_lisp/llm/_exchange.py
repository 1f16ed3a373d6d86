"""The live arm's model replies, shared with the shadows of an evolution cycle.

Why a directory of files: a shadow worker answers a mirrored copy of a live message in a
process of its own, restored from a checkpoint, at the same time as the serving worker
answers the original. When the shadow makes the very same request (same model, same
conversation, same tools: the same `request_key`), paying the provider a second time for
it would be double billing and would also make the two arms' answers differ by the
model's randomness rather than by their code. So the serving worker *publishes* each
reply it recorded (after it is durable in the WAL) as `DIR/KEY.json`, and a shadow
*reuses* it, waiting up to `[llm] shadow_wait` seconds for the live arm to get there.
A request the live arm never made (a candidate that changed the prompt) is refused
(`shadow_replies = "reuse"`, the default) or paid for on the shadow's own token budget
(`"own"`). Files are written atomically and only the newest `KEEP` are kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

KEEP = 512
"""Replies kept in the directory (the oldest are removed; a shadow needs only the recent ones)."""
POLL = 0.02
DIRECTORY = "llm-replies"
"""Under the agent's data directory."""


class ReplyExchange:
    """`publish` (the serving worker) and `lookup` (a shadow) of recorded replies."""

    def __init__(self, directory: str | Path, keep: int = KEEP) -> None:
        self.directory = Path(directory)
        self.keep = keep
        self._published = 0

    def publish(self, key: str, record: dict[str, Any]) -> None:
        """Make a recorded reply visible to shadows; failures are not the agent's problem."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary = self.directory / f".{key}.{os.getpid()}.tmp"
            temporary.write_text(json.dumps(record), "utf-8")
            os.replace(temporary, self.directory / f"{key}.json")
        except OSError:
            return
        self._published += 1
        if self._published % 64 == 0:
            self._prune()

    def _prune(self) -> None:
        with contextlib.suppress(OSError):
            files = sorted(self.directory.glob("*.json"), key=lambda path: path.stat().st_mtime)
            for path in files[: max(0, len(files) - self.keep)]:
                path.unlink(missing_ok=True)

    def lookup(self, key: str, wait: float, tick: Callable[[int], None]) -> dict[str, Any] | None:
        """The live arm's reply to request `key`, waiting up to `wait` seconds for it (each
        poll spends a budget step, so the evaluation's limits stop the wait); None if none came."""
        path = self.directory / f"{key}.json"
        deadline = time.monotonic() + wait
        while True:
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text("utf-8"))
                if isinstance(data, dict):
                    return data
            if time.monotonic() >= deadline:
                return None
            tick(1)
            time.sleep(POLL)


__all__ = ["DIRECTORY", "KEEP", "ReplyExchange"]
