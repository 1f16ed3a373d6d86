"""The guardian's HTTP API (aiohttp): health, Prometheus metrics, messages, feedback, memory,
versions and self-evolution cycles.

The HTTP layer is a thin, strict door in front of `Guardian.request`. It exists so
that nothing the network sends can reach the guardian half-checked:

* **Validate everything first.** Content type, body size, JSON syntax, field names,
  field types and ranges are checked before the guardian is called, so a rejected
  request has changed nothing ("nothing half-applied"). Values that JSON can carry
  but the guardian's msgpack WAL cannot (integers beyond 64 bits, unpaired
  surrogates, metadata nested deeper than the memory store accepts) are refused
  here too, rather than failing after the request was sent on.
* **Acknowledged means durable.** `POST /v1/memory` answers 201 only after
  `Guardian.request("memory_add", ...)` returned, and the guardian returns only
  after the WAL record is fsynced.
* **Every error is JSON.** ``{"error": {"code": ..., "message": ...}}`` (plus
  ``"field"`` when one field is at fault) for bad input, auth failures, unknown
  routes, guardian refusals and our own bugs; a traceback goes to the log, never
  into a response.
* **Loopback unless protected.** A bearer token (`O_API_TOKEN`), when set, guards
  every request but the health check — reads of memory, versions and evolution,
  `/metrics`, unknown routes — and is checked before any validation, compared in
  constant time (`hmac.compare_digest` on bytes); `/health` without it reports only
  the status. Binding to a non-loopback address without one is refused
  (`ConfigError`) before anything listens.

The guardian is typed structurally (`GuardianLike`) so that this module and its
tests do not depend on the supervisor's concrete class. A guardian refusal is
any `OLispError` carrying a string ``code`` attribute (the supervisor's
`RequestFailed(message, code)`); its code picks the HTTP status (`FAILURE_STATUS`).
Evolution cycles go to ``guardian.evolution`` (an `EvolutionLike`, typed the same
way); its refusals (`EvolutionError` with code ``bad_request``, ``not_found`` or
``busy``, or a guardian refusal) become 400, 404, 409 or their `FAILURE_STATUS`
(`EVOLUTION_STATUS`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import ipaddress
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol, cast

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from o_lisp._errors import OLispError
from o_lisp._limits import (
    MAX_CANDIDATES,
    MAX_GENERATIONS,
)
from o_lisp.guardian._errors import ErrorCode, GuardianError
from o_lisp.guardian._evolution import EvolutionError
from o_lisp.guardian._protocol import LLM_METRICS_FILE
from o_lisp.guardian._requests import (
    DEFAULT_K,
    MAX_COMMENT_LENGTH,
    MAX_HYPOTHESIS_LENGTH,
    MAX_ID_LENGTH,
    MAX_K,
    EvolutionStart,
    Feedback,
    InvalidRequest,
    MemoryAdd,
    MemoryGet,
    MemorySearch,
    MessageRequest,
    check_text,
    is_number,
    json_type,
)
from o_lisp.guardian._runs import PopulationSettings

__all__ = [
    "DEFAULT_K",
    "EVOLUTION_STATUS",
    "FAILURE_STATUS",
    "MAX_BODY_BYTES",
    "MAX_CANDIDATES",
    "MAX_COMMENT_LENGTH",
    "MAX_GENERATIONS",
    "MAX_HYPOTHESIS_LENGTH",
    "MAX_K",
    "PUBLIC_ROUTES",
    "REGISTRY_KEY",
    "TOKEN_ENV",
    "ConfigError",
    "EvolutionLike",
    "GuardianLike",
    "ManagedGuardian",
    "check_bind",
    "create_app",
    "is_loopback",
    "serve",
    "token_from_env",
]

log = logging.getLogger(__name__)

TOKEN_ENV = "O_API_TOKEN"
MAX_BODY_BYTES = 1024 * 1024
"""Largest request body; larger ones get 413 before the guardian sees anything."""
_MAX_ERROR_MESSAGE = 2000

FAILURE_STATUS: Mapping[str, int] = {
    ErrorCode.TIMEOUT: 504,  # the worker did not answer within the request timeout
    ErrorCode.UNAVAILABLE: 503,  # no worker is serving (starting, restarting, stopped)
    ErrorCode.NOT_DURABLE: 503,  # the WAL could not fsync (disk full, I/O error): nothing was acknowledged
    ErrorCode.BAD_REQUEST: 400,  # the agent judged the (already validated) input invalid
    ErrorCode.NOT_FOUND: 404,  # the request names something the agent does not have (e.g. feedback's reply_id)
    ErrorCode.INTERNAL: 502,  # the worker failed (an exception in agent code, an unencodable result)
    ErrorCode.WORKER_DIED: 502,  # the worker died with the request in flight: its outcome is unknown
}
"""HTTP status for a guardian refusal, by `RequestFailed.code`; any other code is a 500."""

EVOLUTION_STATUS: Mapping[str, int] = {
    **FAILURE_STATUS,
    "not_found": 404,  # no such definition (or cycle)
    "busy": 409,  # a cycle for this agent is already running
}
"""HTTP status for a refusal of the evolution manager (`EvolutionError.code`); else a 500."""


_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_FSYNC_WINDOW = 1024
_FSYNC_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    501: "not_implemented",
}


class ConfigError(GuardianError):
    """The server's configuration is unsafe or invalid (e.g. a public bind without a token)."""

    exit_code = 2  # the command is wrong (`o-lisp serve` reports it as a usage error)


class GuardianLike(Protocol):
    """What the HTTP layer needs from a guardian: requests, health and metrics."""

    async def request(self, method: str, params: dict[str, Any]) -> Any: ...

    def health(self) -> Mapping[str, Any]: ...

    @property
    def metrics(self) -> object: ...


class StreamingGuardian(Protocol):
    """A guardian that passes on a streamed message's text (`Guardian.request`'s `on_text`)."""

    async def request(self, method: str, args: dict[str, Any], *, on_text: Callable[[str], None]) -> Any: ...


class EvolutionLike(Protocol):
    """What the HTTP layer needs from ``guardian.evolution`` (the supervisor's `EvolutionManager`)."""

    async def start(
        self,
        definition: str,
        *,
        hypothesis: str = "",
        generations: int = 1,
        candidates: int = 4,
        canary: bool = False,
        source: str | None = None,
        generator: str = "mutation",
        model: str | None = None,
        population: PopulationSettings | None = None,
        resume: str | None = None,
    ) -> str: ...

    def get(self, cycle_id: str) -> dict[str, Any] | None: ...

    def list(self) -> list[dict[str, Any]]: ...


class ManagedGuardian(GuardianLike, Protocol):
    """A guardian `serve` can start and stop."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# -- binding and tokens ---------------------------------------------------------------------


def token_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The API token from `O_API_TOKEN`; empty or blank counts as unset (it would protect nothing)."""
    value = (os.environ if environ is None else environ).get(TOKEN_ENV, "")
    return value if value.strip() else None


def is_loopback(host: str) -> bool:
    """Whether HOST only accepts local connections. Names other than `localhost` count as public:
    what they resolve to can change, so they are treated as the unsafe case."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve a public address without a token: anyone who can reach it could
    write the agent's memory."""
    if not is_loopback(host) and token is None:
        raise ConfigError(
            f"refusing to listen on non-loopback address {host!r} without an API token: "
            f"set {TOKEN_ENV} (every request but GET /health will then need 'Authorization: Bearer <token>'), "
            "or bind to 127.0.0.1"
        )


# -- errors ---------------------------------------------------------------------------------


class ApiError(Exception):
    """A request that fails with a JSON error body; raised by handlers, rendered by middleware."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def _error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def _json_default(value: object) -> object:
    """Encode what guardian results may contain besides plain JSON (numpy values, bytes)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_dumps = partial(json.dumps, default=_json_default, ensure_ascii=False, allow_nan=False)


def _json(data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


def _error_response(error: ApiError) -> web.Response:
    return _json(_error_body(error.code, error.message, error.field), error.status, error.headers)


def _event(name: str, data: object) -> bytes:
    """One server-sent event (its data one line of JSON)."""
    return f"event: {name}\ndata: {_dumps(data)}\n\n".encode()


def _failure_message(error: BaseException) -> str:
    """The message of a guardian refusal, whether it keeps it in `.message` or in `args[0]`."""
    message = getattr(error, "message", None)
    if not isinstance(message, str):
        message = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
    return message[:_MAX_ERROR_MESSAGE]


# -- input checks ---------------------------------------------------------------------------


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate keys are refused: which one wins differs between parsers, so a proxy
    and this server could disagree about what was sent."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate field {key!r}")
        result[key] = value
    return result


async def _read_json_object(request: web.Request, max_body: int) -> dict[str, Any]:
    """The body as a JSON object, or an `ApiError` saying exactly what is wrong with it."""
    if request.content_type != "application/json":
        given = request.headers.get("Content-Type")
        raise ApiError(
            415,
            "unsupported_media_type",
            "Content-Type must be application/json"
            + (f", got {given!r}" if given else " (the header is missing)"),
        )
    charset = request.charset
    if charset is not None and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type", f"JSON must be UTF-8, got charset {charset!r}")
    if request.content_length is not None and request.content_length > max_body:
        raise ApiError(413, "body_too_large", f"request body exceeds {max_body} bytes")
    raw = await request.read()  # raises HTTPRequestEntityTooLarge past client_max_size
    if not raw.strip():
        raise ApiError(400, "invalid_json", "request body is empty; expected a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, "invalid_json", f"request body is not valid UTF-8 (byte {e.start})") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise ApiError(400, "invalid_json", "request body is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, duplicate fields, NaN, overlong integers
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", f"request body must be a JSON object, got {json_type(data)}")
    return data


def _query_params(request: web.Request, allowed: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in request.query.items():
        if name not in allowed:
            raise ApiError(
                400,
                "unknown_parameter",
                f"unknown query parameter {name!r} "
                + (f"(allowed: {', '.join(allowed)})" if allowed else "(this endpoint takes none)"),
                field=name,
            )
        if name in params:
            raise ApiError(400, "invalid_parameter", f"query parameter {name!r} is given twice", field=name)
        params[name] = value
    return params


# -- metrics --------------------------------------------------------------------------------


class _GuardianCollector(Collector):
    """Reads the guardian's own counters at scrape time, so they cannot drift from the source."""

    _COUNTERS = (  # the first three are part of the API; the rest are exported when present
        ("o_guardian_restarts", "restarts", "Worker restarts since the guardian started."),
        ("o_guardian_checkpoints", "checkpoints", "Checkpoints written."),
        ("o_guardian_wal_appends", "wal_appends", "WAL records appended (and fsynced)."),
        ("o_guardian_hangs", "hangs", "Workers killed for missing heartbeats."),
        ("o_guardian_escalations", "escalations", "Crash loops escalated to the last known-good code."),
        ("o_guardian_checkpoint_failures", "checkpoint_failures", "Checkpoints that could not be written."),
        ("o_guardian_wal_failures", "wal_failures", "WAL appends that failed (not acknowledged)."),
        ("o_guardian_evolution_cycles", "evolution_cycles", "Evolution cycles started."),
        ("o_guardian_evolution_promotions", "evolution_promotions", "Evolution cycles that promoted a candidate."),
        ("o_guardian_evolution_rejections", "evolution_rejections", "Evolution cycles that promoted nothing."),
        ("o_guardian_evolution_rollbacks", "evolution_rollbacks", "Promotions rolled back (canary or probation)."),
    )

    def __init__(self, guardian: GuardianLike) -> None:
        self._guardian = guardian

    def collect(self) -> Iterable[Metric]:
        metrics = self._guardian.metrics
        for name, attribute, documentation in self._COUNTERS:
            value = getattr(metrics, attribute, None)
            if is_number(value):
                yield CounterMetricFamily(name, documentation, value=value)
        requests = getattr(metrics, "requests", None)
        if is_number(requests):
            yield CounterMetricFamily("o_guardian_requests", "Requests handled by the guardian.", value=requests)
        elif isinstance(requests, Mapping):  # (method, outcome) -> count, or method -> count
            family = CounterMetricFamily(
                "o_guardian_requests",
                "Requests handled by the guardian, by method and outcome (ok or the error code).",
                labels=["method", "outcome"],
            )
            for key, count in requests.items():
                method, outcome = key if isinstance(key, tuple) and len(key) == 2 else (key, "")
                if is_number(count):
                    family.add_metric([str(method), str(outcome)], count)
            yield family
        try:
            health = self._guardian.health()
        except Exception:  # a failing health() must not break the scrape
            log.exception("guardian health() failed during a metrics scrape")
            return
        yield GaugeMetricFamily(
            "o_guardian_up", "1 when a worker is serving, else 0.", value=1 if health.get("status") == "ok" else 0
        )
        for key, name, documentation in (
            ("wal_seq", "o_guardian_wal_seq", "Sequence number of the last WAL record."),
            ("uptime_s", "o_guardian_uptime_seconds", "Seconds since the guardian started."),
        ):
            value = health.get(key)
            if is_number(value):
                yield GaugeMetricFamily(name, documentation, value=value)


def _workers_llm_metrics(guardian: object) -> bytes:
    """The serving worker's model-call metrics (tokens, latency, errors, cost: docs/llm.md),
    which it writes to ``DATA/llm.prom`` after each request that called a model; empty when
    there are none. Counters restart with the worker, as any process's do."""
    data_dir = getattr(getattr(guardian, "config", None), "data_dir", None)
    if data_dir is None:
        return b""
    try:
        return Path(data_dir, LLM_METRICS_FILE).read_bytes()
    except OSError:
        return b""


class _FsyncTracker:
    """Feeds the guardian's recent fsync durations into a cumulative histogram, each sample once.

    Used only for a guardian without `metrics.fsync_listeners` (which feed the histogram
    directly, see `_Api`): such a guardian exposes a window of recent durations. With a total fsync count
    (`metrics.wal_fsyncs`, if the supervisor provides it) the new samples are the last
    `total - seen` of the window. Without it, the new samples are what follows the
    longest overlap between the previous window's tail and the current window's head
    (exact for an append-only list or a bounded deque, short of identical floats).
    """

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._previous: list[float] = []
        self._seen_total: int | None = None

    def update(self, metrics: object) -> None:
        raw = getattr(metrics, "wal_fsync_seconds", None)
        if not isinstance(raw, Iterable):
            return
        # Only the newest samples: bounds the overlap search (quadratic) to ~1 M compares in C.
        window = [float(v) for v in list(raw)[-_FSYNC_WINDOW:] if is_number(v)]
        total = getattr(metrics, "wal_fsyncs", None)
        if isinstance(total, int) and not isinstance(total, bool):
            new_count = total - (self._seen_total or 0)
            self._seen_total = total
            fresh = window[len(window) - min(max(new_count, 0), len(window)) :]
        else:
            fresh = window[self._overlap(self._previous, window) :]
        self._previous = window
        for seconds in fresh:
            self._histogram.observe(seconds)

    @staticmethod
    def _overlap(previous: list[float], window: list[float]) -> int:
        for size in range(min(len(previous), len(window)), 0, -1):
            if previous[len(previous) - size :] == window[:size]:
                return size
        return 0


# -- the application ------------------------------------------------------------------------

REGISTRY_KEY = web.AppKey("o_lisp_registry", CollectorRegistry)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_ROUTES = frozenset({("GET", "/health"), ("HEAD", "/health")})
"""The only requests served without the token (when one is set): the health check, which
then says only whether the service is up. Everything else — reads included, `/metrics`
included, unknown routes included — is authenticated before anything else is looked at."""


def _is_public(request: web.Request) -> bool:
    return (request.method, request.path) in PUBLIC_ROUTES


def _token_bytes(text: str) -> bytes:
    """A presented token as bytes for `hmac.compare_digest`. aiohttp decodes header bytes
    that are not UTF-8 as surrogate escapes; they are encoded back as they came (such a
    token can never match a configured one, and must give 401, not an encoding error)."""
    return text.encode("utf-8", "surrogateescape")


class _Api:
    """The handlers and middleware of one app, sharing its guardian, token and metrics."""

    def __init__(self, guardian: GuardianLike, token: str | None, max_body: int, registry: CollectorRegistry) -> None:
        self.guardian = guardian
        self._token = token.encode("utf-8") if token is not None else None
        self.max_body = max_body
        self.registry = registry
        self.requests = Counter(
            "o_http_requests",
            "HTTP requests by endpoint (route pattern), method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "o_http_request_duration_seconds",
            "HTTP request latency by endpoint and method.",
            ["endpoint", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        fsync = Histogram(
            "o_wal_fsync_duration_seconds",
            "Duration of the guardian's WAL fsyncs.",
            buckets=_FSYNC_BUCKETS,
            registry=registry,
        )
        # Exact and cheap: the guardian calls us with every fsync (from its WAL thread;
        # Histogram.observe is thread-safe). Otherwise, sample its window at scrape time.
        listeners = getattr(guardian.metrics, "fsync_listeners", None)
        self._listeners: list[Callable[[float], None]] | None = listeners if isinstance(listeners, list) else None
        self._observe_fsync: Callable[[float], None] = fsync.observe
        self._fsync: _FsyncTracker | None = None
        if self._listeners is not None:
            self._listeners.append(self._observe_fsync)
        else:
            self._fsync = _FsyncTracker(fsync)
        registry.register(_GuardianCollector(guardian))

    async def close(self, app: web.Application) -> None:
        """Unhook from the guardian, which may outlive this app (tests, a restarted server)."""
        if self._listeners is not None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(self._observe_fsync)
            self._listeners = None

    # -- middleware

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Auth first (before any validation), JSON errors for everything, and request metrics."""
        started = time.perf_counter()
        response: web.StreamResponse | None = None
        status = 500
        try:
            if not _is_public(request):
                self._authorize(request)
            response = await handler(request)
            status = response.status
            return response
        except ApiError as error:
            status = error.status
            return _error_response(error)
        except InvalidRequest as error:  # a request record refused what the client sent
            status = 400
            return _json(_error_body(error.code, error.message, error.field), status)
        except web.HTTPException as error:  # aiohttp's own: 404, 405, 413, ...
            status = error.status
            code = _STATUS_CODES.get(error.status, "http_error")
            headers = {k: v for k, v in error.headers.items() if k.lower() in ("allow", "www-authenticate")}
            return _json(_error_body(code, error.reason if error.status != 413 else _too_large(error)), status, headers)
        except asyncio.CancelledError:
            status = 499  # client went away or the server is stopping; nothing is sent
            raise
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            return _json(_error_body("internal_error", "internal server error (details are in the server log)"), 500)
        finally:
            route = request.match_info.route
            endpoint = route.resource.canonical if route.resource is not None else "unmatched"
            self.requests.labels(endpoint, request.method, str(status)).inc()
            self.latency.labels(endpoint, request.method).observe(time.perf_counter() - started)

    def _authorize(self, request: web.Request) -> None:
        if self._token is None:
            return
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise ApiError(
                401,
                "unauthorized",
                "this endpoint needs 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="o-lisp"'},
            )
        if not hmac.compare_digest(_token_bytes(credentials.strip()), self._token):
            raise ApiError(
                401,
                "unauthorized",
                "invalid API token",
                headers={"WWW-Authenticate": 'Bearer realm="o-lisp", error="invalid_token"'},
            )

    def _authorized(self, request: web.Request) -> bool:
        try:
            self._authorize(request)
        except ApiError:
            return False
        return True

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        """Forward a validated request; a guardian refusal becomes a JSON error with its code."""
        try:
            return await self.guardian.request(method, params)
        except OLispError as error:
            code = getattr(error, "code", None)
            if isinstance(code, str):
                status = FAILURE_STATUS.get(code, 500)
                headers = {"Retry-After": "1"} if status == 503 else None
                raise ApiError(status, code, _failure_message(error), headers=headers) from None
            raise ApiError(500, "guardian_error", _failure_message(error)) from None

    # -- handlers

    async def health(self, request: web.Request) -> web.Response:
        """200 only while a worker is serving, so load balancers route around a restart.

        Open to all, so a load balancer needs no secret; with a token set, a request
        without it learns only the status (not the version, pids, WAL position, ...)."""
        try:
            report = dict(self.guardian.health())
        except Exception as error:
            log.exception("guardian health() failed")
            report = {"status": "unknown", "error": _failure_message(error)}
        status = 200 if report.get("status") == "ok" else 503
        if self._token is not None and not self._authorized(request):
            report = {"status": report.get("status", "unknown")}
        return _json(report, status, headers={"Cache-Control": "no-store"})

    async def metrics(self, request: web.Request) -> web.Response:
        if self._fsync is not None:
            self._fsync.update(self.guardian.metrics)
        body = generate_latest(self.registry) + _workers_llm_metrics(self.guardian)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def message(self, request: web.Request) -> web.StreamResponse:
        """The agent's reply and its id (the handle `POST /v1/feedback` rates it by)."""
        message = MessageRequest.from_body(await _read_json_object(request, self.max_body))
        if message.stream:
            return await self._stream_message(request, message)
        result = await self._call(message.method, message.as_args())
        if isinstance(result, Mapping) and "reply" in result:
            reply_id = result.get("reply_id")
            return _json({"reply": result["reply"], "reply_id": reply_id if isinstance(reply_id, str) else None})
        # A worker that predates reply ids answers with the bare reply: still a valid answer,
        # but nothing to rate it by.
        log.warning("the guardian answered a message without a reply id (%s)", type(result).__name__)
        return _json({"reply": result, "reply_id": None})

    async def _stream_message(self, request: web.Request, message: MessageRequest) -> web.StreamResponse:
        """``"stream": true``: server-sent events — ``token`` (``{"text"}``, a model's text as
        it arrives; provisional), then ``reply`` (``{"reply", "reply_id"}``, once durable) or
        ``error`` (``{"error": {"code", "message"}}``). docs/llm.md, "Streaming"."""
        pieces: asyncio.Queue[str] = asyncio.Queue()
        guardian = cast(StreamingGuardian, self.guardian)
        call = asyncio.ensure_future(guardian.request(message.method, message.as_args(),
                                                      on_text=pieces.put_nowait))
        call.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved even if the client left
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await response.prepare(request)
        while True:
            piece = asyncio.ensure_future(pieces.get())
            await asyncio.wait((piece, call), return_when=asyncio.FIRST_COMPLETED)
            if not piece.done():
                piece.cancel()
                break
            await response.write(_event("token", {"text": piece.result()}))
        while not pieces.empty():
            await response.write(_event("token", {"text": pieces.get_nowait()}))
        try:
            result = call.result()
        except Exception as error:
            code = getattr(error, "code", None)
            code = code if isinstance(code, str) else "guardian_error"
            await response.write(_event("error", _error_body(code, _failure_message(error))))
        else:
            reply, reply_id = (result.get("reply"), result.get("reply_id")) if isinstance(result, Mapping) else (result, None)
            await response.write(_event("reply", {"reply": reply, "reply_id": reply_id if isinstance(reply_id, str) else None}))
        await response.write_eof()
        return response

    async def feedback(self, request: web.Request) -> web.Response:
        """Rate a reply (or the agent in general): the signal evolution cycles learn from.

        ``rating`` is a number in [-1, 1]; ``stars`` (an integer 1..5) is the alternative
        for star widgets and maps linearly onto it (1 → -1, 3 → 0, 5 → 1). They are two
        fields rather than one because ``rating: 1`` would otherwise mean both "best"
        and "one star".
        """
        feedback = Feedback.from_body(await _read_json_object(request, self.max_body))
        result = await self._call(feedback.method, feedback.as_args())
        feedback_id = result.get("id") if isinstance(result, Mapping) else None
        if not isinstance(feedback_id, str):
            log.error("feedback returned %r instead of {'id': str}", result)
            raise ApiError(500, "internal_error", "the guardian stored the feedback but returned no id")
        return _json({"id": feedback_id}, 201)

    # -- evolution

    def _evolution(self) -> EvolutionLike:
        manager = getattr(self.guardian, "evolution", None)
        if manager is None or not all(callable(getattr(manager, name, None)) for name in ("start", "get", "list")):
            raise ApiError(501, "not_implemented", "this guardian does not run evolution cycles")
        return cast(EvolutionLike, manager)

    @staticmethod
    def _evolution_failure(error: Exception) -> ApiError:
        code = getattr(error, "code", None)
        if isinstance(code, str):
            status = EVOLUTION_STATUS.get(code, 500)
            headers = {"Retry-After": "1"} if status == 503 else None
            return ApiError(status, code, _failure_message(error), headers=headers)
        return ApiError(500, "guardian_error", _failure_message(error))

    async def evolution_start(self, request: web.Request) -> web.Response:
        """Queue a cycle; 202 at once with where to follow it (a cycle takes minutes)."""
        start = EvolutionStart.from_body(await _read_json_object(request, self.max_body))
        manager = self._evolution()
        try:
            cycle_id = await manager.start(start.definition, **start.start_options())
        except (EvolutionError, OLispError) as error:
            raise self._evolution_failure(error) from None
        url = f"/v1/evolution/{cycle_id}"
        answer: dict[str, Any] = {"id": cycle_id, "status_url": url}
        cycle = manager.get(cycle_id)
        if cycle is not None and cycle.get("basis"):
            answer["basis"] = cycle["basis"]  # what the decision will rest on, said up front
        return _json(answer, 202, {"Location": url})

    async def evolution_get(self, request: web.Request) -> web.Response:
        cycle_id = request.match_info["id"]
        if len(cycle_id) > MAX_ID_LENGTH:
            raise ApiError(
                400, "invalid_parameter", f"evolution cycle id longer than {MAX_ID_LENGTH} characters", field="id"
            )
        check_text("id", cycle_id)
        _query_params(request, ())
        cycle = self._evolution().get(cycle_id)
        if cycle is None:
            raise ApiError(404, "not_found", f"no evolution cycle {cycle_id!r}")
        return _json(cycle, headers={"Cache-Control": "no-store"})

    async def evolution_list(self, request: web.Request) -> web.Response:
        _query_params(request, ())
        return _json({"cycles": list(self._evolution().list())}, headers={"Cache-Control": "no-store"})

    async def memory_add(self, request: web.Request) -> web.Response:
        memory = MemoryAdd.from_body(await _read_json_object(request, self.max_body))
        result = await self._call(memory.method, memory.as_args())
        ids = list(result) if isinstance(result, list | tuple) else []
        if not ids:
            # The write may have happened; say so rather than pretend it did not.
            log.error("memory_add returned %r instead of a non-empty list of ids", result)
            raise ApiError(500, "internal_error", "the guardian stored the memory but returned no id")
        headers = {"Location": f"/v1/memory/{ids[0]}"} if isinstance(ids[0], str) else None
        return _json({"id": ids[0], "ids": ids}, 201, headers)

    async def memory_get(self, request: web.Request) -> web.Response:
        wanted = MemoryGet.from_path(request.match_info["id"])
        block = await self._call(wanted.method, wanted.as_args())
        if block is None:
            raise ApiError(404, "not_found", f"no memory block {wanted.id!r}")
        return _json(block)

    async def memory_search(self, request: web.Request) -> web.Response:
        search = MemorySearch.from_query(_query_params(request, ("q", "k")))
        results = await self._call(search.method, search.as_args())
        return _json({"results": list(results or [])})

    async def versions(self, request: web.Request) -> web.Response:
        versions = await self._call("versions", {})
        return _json({"versions": list(versions or [])})


def _too_large(error: web.HTTPException) -> str:
    return f"request body too large ({error.text or error.reason})"


def create_app(
    guardian: GuardianLike,
    *,
    token: str | None = None,
    max_body: int = MAX_BODY_BYTES,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    """The aiohttp application for GUARDIAN. TOKEN (if any) is required on every request
    but ``GET /health`` (`PUBLIC_ROUTES`).

    Each app gets its own `CollectorRegistry` (in ``app[REGISTRY_KEY]``) so that two
    apps in one process — tests, or two agents — never share or clash on metrics.
    """
    registry = CollectorRegistry(auto_describe=True) if registry is None else registry
    api = _Api(guardian, token, max_body, registry)
    app = web.Application(client_max_size=max_body, middlewares=[api.middleware])
    app[REGISTRY_KEY] = registry
    app.on_cleanup.append(api.close)
    app.router.add_get("/health", api.health)
    app.router.add_get("/metrics", api.metrics)
    app.router.add_post("/v1/messages", api.message)
    app.router.add_post("/v1/feedback", api.feedback)
    app.router.add_post("/v1/evolution", api.evolution_start)
    app.router.add_get("/v1/evolution", api.evolution_list)
    app.router.add_get("/v1/evolution/{id}", api.evolution_get)
    app.router.add_post("/v1/memory", api.memory_add)
    app.router.add_get("/v1/memory", api.memory_search)
    app.router.add_get("/v1/memory/{id}", api.memory_get)
    app.router.add_get("/v1/versions", api.versions)
    return app


async def serve(
    guardian: ManagedGuardian,
    host: str,
    port: int,
    token: str | None,
    stop: asyncio.Event,
    *,
    on_ready: Callable[[list[str]], None] | None = None,
) -> None:
    """Start GUARDIAN, serve its API on HOST:PORT until STOP is set, then shut down in order:
    stop accepting requests, let in-flight ones finish, and only then stop the guardian
    (so no acknowledged write is cut off mid-flight).

    The bind check comes first, so an unsafe configuration starts nothing.
    """
    check_bind(host, token)
    await guardian.start()
    try:
        runner = web.AppRunner(create_app(guardian, token=token), handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            if on_ready is not None:
                on_ready([_url(address) for address in runner.addresses])
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await guardian.stop()


def _url(address: Any) -> str:
    host, port = address[0], address[1]
    return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"
