"""A circuit breaker per provider endpoint: a model server that keeps failing is not
called again for a while, so agents get an immediate `LLMCircuitOpen` (which a fallback
chain moves past) instead of waiting out timeouts and retries on every request.

States: **closed** (requests go through; `failures` consecutive retryable failures open
it), **open** (requests fail at once until `cooldown` seconds have passed), **half-open**
(one trial request goes through: success closes the circuit, failure opens it again).
Only failures that say the server is unwell count: timeouts, 429, 5xx and unreachable
servers (after the SDK's retries); a refused request or a malformed reply does not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from o_lisp.llm._errors import LLMCircuitOpen, LLMError, LLMRateLimited, LLMServerError, LLMTimeout

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


def counts_against_the_server(error: LLMError) -> bool:
    """Whether a failure is the server's (and worth trying another model for)."""
    return isinstance(error, LLMTimeout | LLMRateLimited | LLMServerError)


@dataclass
class CircuitBreaker:
    """The breaker of one endpoint (thread-safe: agents in threads share it)."""

    name: str
    failures: int = 5
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._state = CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._trial_running = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._current()

    def _current(self) -> str:
        if self._state == OPEN and self.clock() - self._opened_at >= self.cooldown:
            self._state = HALF_OPEN
            self._trial_running = False
        return self._state

    def before(self, provider: str, model: str) -> None:
        """Raise `LLMCircuitOpen` unless a request may go now (in half-open: the one trial)."""
        with self._lock:
            state = self._current()
            if state == CLOSED:
                return
            if state == HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return
            wait = max(0.0, self.cooldown - (self.clock() - self._opened_at))
            detail = (f"circuit open after {self._consecutive} consecutive failures; next trial in {wait:.1f} s"
                      if state == OPEN else "circuit half-open; its trial request is in flight")
        raise LLMCircuitOpen(f"{self.name}: {detail}", provider=provider, model=model)

    def success(self) -> None:
        with self._lock:
            self._state, self._consecutive, self._trial_running = CLOSED, 0, False

    def abandon(self) -> None:
        """The caller stopped waiting (budget, cancel): a half-open trial may be made again."""
        with self._lock:
            self._trial_running = False

    def failure(self, error: LLMError) -> None:
        with self._lock:
            if not counts_against_the_server(error):
                if self._state == HALF_OPEN:  # the trial reached the server: it answers again
                    self._state, self._consecutive, self._trial_running = CLOSED, 0, False
                return
            self._consecutive += 1
            if self._state == HALF_OPEN or self._consecutive >= self.failures:
                self._state, self._opened_at, self._trial_running = OPEN, self.clock(), False


_BREAKERS: dict[tuple[str, str, int, float], CircuitBreaker] = {}
_REGISTRY_LOCK = threading.Lock()


def breaker_for(provider: str, endpoint: str, failures: int, cooldown: float) -> CircuitBreaker:
    """The process-wide breaker of one endpoint (`provider` + base URL; every agent and
    model of the process that calls it shares its state)."""
    key = (provider, endpoint.rstrip("/"), failures, cooldown)
    with _REGISTRY_LOCK:
        breaker = _BREAKERS.get(key)
        if breaker is None:
            name = f"{provider} at {endpoint}" if endpoint else provider
            breaker = _BREAKERS[key] = CircuitBreaker(name, failures, cooldown)
        return breaker


__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "CircuitBreaker", "breaker_for", "counts_against_the_server"]
