"""The guardian's counters and latency samples, for ``/metrics`` and ``/health``."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["GuardianMetrics"]


@dataclass
class GuardianMetrics:
    """Counters for ``/metrics``. Latency samples are bounded deques (newest last)."""

    restarts: int = 0
    hangs: int = 0
    escalations: int = 0
    checkpoints: int = 0
    checkpoint_failures: int = 0
    wal_appends: int = 0
    wal_failures: int = 0
    wal_batches: int = 0
    """Write + fsync rounds of `_appender.Appenders`; wal_appends / wal_batches is the group size."""
    wal_refused: int = 0
    """Appends refused without touching the disk because an earlier one of the same worker failed."""
    resyncs: int = 0
    """Pipelined workers given the durable state back after a failed append (no restart)."""
    standby_activations: int = 0
    """Restarts served by the warm standby."""
    standby_fallbacks: int = 0
    """Restarts that found no usable standby (none ready, stale code, a rollback due) and launched one."""
    wal_fsyncs: int = 0
    wal_fsync_seconds_total: float = 0.0
    wal_fsync_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(method, outcome) → count; outcome is "ok" or the error code."""
    request_seconds: deque[tuple[str, float]] = field(default_factory=lambda: deque(maxlen=10_000))
    restart_to_serving_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=1_000))
    fsync_listeners: list[Callable[[float], None]] = field(default_factory=list)
    """Called (from a WAL thread) with every fsync's latency, e.g. to feed a histogram."""
    evolution_cycles: int = 0
    evolution_promotions: int = 0
    evolution_rejections: int = 0
    """Candidates rejected (at validation, shadow test, decision or canary)."""
    evolution_rollbacks: int = 0

    def observe_fsync(self, seconds: float) -> None:
        self.wal_fsyncs += 1
        self.wal_fsync_seconds_total += seconds
        self.wal_fsync_seconds.append(seconds)
        for listener in self.fsync_listeners:
            listener(seconds)
