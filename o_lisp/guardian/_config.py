"""What the guardian is told: `GuardianConfig` (``o-lisp serve`` builds it from its options and o-lisp.toml)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from o_lisp._limits import Limits
from o_lisp.guardian._wal import DEFAULT_SEGMENT_BYTES

__all__ = ["GuardianConfig"]


@dataclass
class GuardianConfig:
    """Everything the guardian is told; the defaults are the issue's."""

    agent: Path
    data_dir: Path
    heartbeat_interval: float = 1.0
    heartbeat_timeout: float = 5.0
    request_timeout: float = 10.0
    max_restarts: int = 5
    restart_window: float = 30.0
    checkpoint_interval: float = 300.0
    checkpoint_wal_records: int = 10_000
    keep_checkpoints: int = 5
    fork_server: bool = True
    """Fork workers from a pre-warmed zygote (fast restarts); False spawns fresh interpreters."""
    startup_timeout: float = 60.0
    """From spawn to serving (handshake + restore), per attempt."""
    zygote_timeout: float = 120.0
    """For the fork server's imports (the first run may compile the Numba kernels)."""
    checkpoint_timeout: float = 60.0
    known_good_after: float = 10.0
    """A worker serving this long (or answering a request) marks its code version known-good."""
    shutdown_grace: float = 5.0
    checkpoint_on_stop: bool = True
    max_backoff: float = 5.0
    """Longest pause between attempts when a crash loop has nothing to roll back to."""
    debug_methods: bool = False
    """Let workers accept ``debug_*`` requests (tests only)."""
    standby: bool = True
    """Keep a warm standby worker: forked, restored from the newest checkpoint and loaded,
    idle. When the serving worker dies it only replays the WAL since its checkpoint and
    serves (`_standby`; `_supervisor`'s docstring, "Warm standby"). Costs a second worker's memory."""
    worker_log_bytes: int = 1024 * 1024
    """Workers' (and the fork server's) stdout and stderr go to ``DATA/logs/worker.log``,
    rotated at this size (``worker.log.1``, ``.2``, ...)."""
    worker_log_files: int = 3
    """How many log files are kept, the current one included."""
    pipelined: bool = True
    """Workers apply a mutation as soon as its ``wal_append`` is sent and go on serving; the
    guardian holds every answer until the appends before it are durable (`_supervisor`'s docstring, "Held answers").
    False is the strict mode: the worker waits for each ack before applying."""
    tools: tuple[str, ...] = ()
    """Trusted host tools files (``o-lisp serve --tools``): passed to the workers by name and
    loaded there; the guardian never runs them."""
    grants: tuple[str, ...] = ()
    """Capabilities granted to the agent (``o-lisp serve --grant``), passed to the workers."""
    limits: Limits | None = None
    """The served agent's budgets (``[limits]`` of o-lisp.toml); None: the defaults."""
    llm: str = ""
    """The ``[llm]`` settings of o-lisp.toml as JSON (`LLMSettings.to_json`), passed to the workers."""
    wal_inline: bool = True
    """Write and fsync WAL batches on the event loop's own thread while fsyncs are fast
    (under `_durable.INLINE_WAL_MAX`); after a slower one, hand batches to an I/O thread for
    `INLINE_WAL_BACKOFF` seconds. False: always the I/O thread (docs/decisions.md)."""
    wal_segment_bytes: int = DEFAULT_SEGMENT_BYTES
    """Size past which the WAL starts a new segment (small values exercise rotation and compaction)."""
    wal_fsync: Callable[[int], None] | None = None
    """Fault injection, tests only: replaces ``os.fsync`` in the WAL (called from I/O threads)."""
    wal_write: Callable[[int, bytes, int], int] | None = None
    """Fault injection, tests only: replaces ``os.pwrite(fd, data, offset)`` in the WAL."""
    vault_fsync: Callable[[int], None] | None = None
    """Fault injection, tests only: replaces ``os.fsync`` in the checkpoint vault."""
    python: str = sys.executable
    worker_address_space: int | None = 4 * 1024 * 1024 * 1024
    """RLIMIT_AS of the serving worker and the standby: the address space each starts with
    plus this many bytes (None: no limit). An allocation past it fails (the request gets
    an error, agent code `LimitExceeded("memory")`) instead of growing the machine's memory.
    It counts address space, not resident memory: it must cover the agent's state after a
    restore and an evaluation thread's stack (up to 1 GiB, sized from the step budget)."""
    evolution: Any = None
    """`o_lisp.guardian._evolution.EvolutionConfig` (None = the defaults)."""

    def __post_init__(self) -> None:
        self.agent = Path(self.agent)
        self.data_dir = Path(self.data_dir)
        for name in ("heartbeat_interval", "heartbeat_timeout", "request_timeout", "restart_window",
                     "checkpoint_interval", "startup_timeout", "checkpoint_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.max_restarts < 0 or self.checkpoint_wal_records < 1 or self.keep_checkpoints < 1:
            raise ValueError("max_restarts >= 0, checkpoint_wal_records >= 1, keep_checkpoints >= 1")
        if self.worker_log_bytes < 1 or self.worker_log_files < 1:
            raise ValueError("worker_log_bytes >= 1, worker_log_files >= 1")
        if self.worker_address_space is not None and self.worker_address_space < 1:
            raise ValueError("worker_address_space must be positive (or None)")
