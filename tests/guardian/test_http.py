"""The guardian's HTTP API against a fake guardian: status codes, JSON bodies, auth, metrics, CLI.

The supervisor (`o_lisp.guardian._supervisor`) is written in parallel with this
layer, so the handlers are exercised against `FakeGuardian`, a small in-test
class with the same async methods. Every rejected request also checks that the
fake saw no call at all: validation must happen before the guardian is asked to
do anything. One end-to-end test runs against the real supervisor when it is
importable.

pytest-asyncio is not used: each test drives aiohttp's TestServer/TestClient
inside `asyncio.run`, and closes them (filterwarnings=error would catch a leak).
"""

from __future__ import annotations

import asyncio
import collections
import io
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from o_lisp._errors import OLispError
from o_lisp.cli import main
from o_lisp.guardian._http import (
    MAX_BODY_BYTES,
    ConfigError,
    check_bind,
    create_app,
    is_loopback,
    serve,
    token_from_env,
)
from o_lisp.guardian._vault import Vault
from o_lisp.guardian._wal import WriteAheadLog

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token"
JSON = {"Content-Type": "application/json"}

# -- the fake guardian ------------------------------------------------------------------------


class FakeRequestFailed(OLispError):
    """Mirrors the supervisor's `RequestFailed(message, code)`."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class FakeMetrics:
    restarts: int = 3
    checkpoints: int = 2
    wal_appends: int = 0
    wal_fsync_seconds: list[float] = field(default_factory=list)
    requests: int = 0


class FakeGuardian:
    """Answers like the real guardian would, records every call, fails on demand."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.status = "ok"
        self.failure: BaseException | None = None
        self.blocks: dict[str, dict[str, Any]] = {}
        self.metrics = FakeMetrics()
        self.events: list[str] = []

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        self.calls.append((method, params))
        self.metrics.requests += 1
        if self.failure is not None:
            raise self.failure
        if method == "message":
            return None if params["text"] == "silence" else f"echo: {params['text']}"
        if method == "memory_add":
            block_id = f"m{len(self.blocks) + 1}-0"
            self.blocks[block_id] = {"id": block_id, **params}
            self.metrics.wal_appends += 1
            self.metrics.wal_fsync_seconds.append(0.002)
            return [block_id]
        if method == "memory_get":
            return self.blocks.get(params["id"])
        if method == "memory_search":
            hits = [b for b in self.blocks.values() if params["q"] in b["text"]]
            return [{"id": b["id"], "score": 1.0, "text": b["text"]} for b in hits][: params["k"]]
        if method == "versions":
            return [{"version": "0.1.0", "commit": "abc1234", "reason": "seed"}]
        raise FakeRequestFailed(f"unknown method {method!r}", "unknown_method")

    def health(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "worker_pid": 4242 if self.status == "ok" else None,
            "version": "0.1.0",
            "uptime_s": 12.5,
            "restarts": self.metrics.restarts,
            "last_heartbeat_ms": 40,
            "last_checkpoint": None,
            "wal_seq": 7,
        }


# -- driving the app --------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON when the response is JSON, else the text


@dataclass
class Call:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None


def post(path: str, payload: Any, token: str | None = None) -> Call:
    headers = dict(JSON)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return Call("POST", path, json.dumps(payload).encode(), headers)


async def _send(client: TestClient, call: Call) -> Reply:
    # Without an explicit Content-Type aiohttp would add application/octet-stream.
    skip = () if "Content-Type" in call.headers else ("Content-Type",)
    data = io.BytesIO(call.body) if call.body is not None else None  # big raw bytes warn
    async with client.request(
        call.method, call.path, data=data, headers=call.headers, skip_auto_headers=skip
    ) as response:
        text = await response.text()
        body: Any = json.loads(text) if response.content_type == "application/json" and text else text
        return Reply(response.status, dict(response.headers), body)


def drive(
    guardian: FakeGuardian,
    scenario: Callable[[TestClient], Awaitable[None]],
    *,
    token: str | None = None,
    max_body: int = MAX_BODY_BYTES,
) -> None:
    async def run() -> None:
        app = create_app(guardian, token=token, max_body=max_body)  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as client:
            await scenario(client)

    asyncio.run(run())


def exchange(guardian: FakeGuardian, *calls: Call, token: str | None = None) -> list[Reply]:
    """Send CALLS in order to one server; their replies."""
    replies: list[Reply] = []

    async def scenario(client: TestClient) -> None:
        for call in calls:
            replies.append(await _send(client, call))

    drive(guardian, scenario, token=token)
    return replies


def one(guardian: FakeGuardian, call: Call, token: str | None = None) -> Reply:
    return exchange(guardian, call, token=token)[0]


def error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return {"error": body}


@pytest.fixture
def guardian() -> FakeGuardian:
    return FakeGuardian()


# -- the endpoints ----------------------------------------------------------------------------


def test_health_ok_is_200_with_the_guardians_report(guardian: FakeGuardian) -> None:
    reply = one(guardian, Call("GET", "/health"))
    assert reply.status == 200
    assert reply.body == guardian.health()
    assert reply.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("status", ["restarting", "starting", "degraded"])
def test_health_is_503_unless_a_worker_is_serving(guardian: FakeGuardian, status: str) -> None:
    guardian.status = status
    reply = one(guardian, Call("GET", "/health"))
    assert (reply.status, reply.body["status"], reply.body["worker_pid"]) == (503, status, None)


def test_health_is_503_when_the_guardian_cannot_report(guardian: FakeGuardian) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("boom")

    guardian.health = broken  # type: ignore[method-assign]
    reply = one(guardian, Call("GET", "/health"))
    assert (reply.status, reply.body) == (503, {"status": "unknown", "error": "boom"})


def test_message_returns_the_agents_reply(guardian: FakeGuardian) -> None:
    replies = exchange(guardian, post("/v1/messages", {"text": "hi"}), post("/v1/messages", {"text": "silence"}))
    assert [(r.status, r.body) for r in replies] == [(200, {"reply": "echo: hi", "reply_id": None}),
                                                     (200, {"reply": None, "reply_id": None})]
    assert guardian.calls == [("message", {"text": "hi", "with_id": True}), ("message", {"text": "silence", "with_id": True})]


def test_memory_add_is_201_with_the_ids_and_defaults_filled_in(guardian: FakeGuardian) -> None:
    reply = one(guardian, post("/v1/memory", {"text": "the office is on floor 3"}))
    assert (reply.status, reply.body) == (201, {"id": "m1-0", "ids": ["m1-0"]})
    assert reply.headers["Location"] == "/v1/memory/m1-0"
    assert guardian.calls == [
        ("memory_add", {"text": "the office is on floor 3", "metadata": {}, "importance": 0.5})
    ]


def test_memory_add_passes_metadata_and_importance(guardian: FakeGuardian) -> None:
    payload = {"text": "x", "metadata": {"src": "chat", "tags": ["a", 1, 2.5, None, True]}, "importance": 1}
    reply = one(guardian, post("/v1/memory", payload))
    assert reply.status == 201
    assert guardian.calls == [("memory_add", {**payload, "importance": 1.0})]
    assert isinstance(guardian.calls[0][1]["importance"], float)


def test_memory_add_answers_only_after_the_guardian_returned(guardian: FakeGuardian) -> None:
    """The 201 must not race ahead of the (durable) write: it waits for request() to return."""
    order: list[str] = []
    original = guardian.request

    async def slow(method: str, params: dict[str, Any]) -> Any:
        await asyncio.sleep(0.05)
        result = await original(method, params)
        order.append("durable")
        return result

    guardian.request = slow  # type: ignore[method-assign]

    async def scenario(client: TestClient) -> None:
        reply = await _send(client, post("/v1/memory", {"text": "x"}))
        order.append(f"reply {reply.status}")

    drive(guardian, scenario)
    assert order == ["durable", "reply 201"]


def test_memory_get_returns_the_block_or_404(guardian: FakeGuardian) -> None:
    replies = exchange(
        guardian,
        post("/v1/memory", {"text": "note", "metadata": {"k": "v"}}),
        Call("GET", "/v1/memory/m1-0"),
        Call("GET", "/v1/memory/nope"),
        Call("GET", "/v1/memory/a%20b%2Fc"),
    )
    assert replies[1].status == 200
    assert replies[1].body == {"id": "m1-0", "text": "note", "metadata": {"k": "v"}, "importance": 0.5}
    assert (replies[2].status, replies[2].body) == (404, error("not_found", "no memory block 'nope'"))
    assert (replies[3].status, replies[3].body) == (404, error("not_found", "no memory block 'a b/c'"))
    assert guardian.calls[-1] == ("memory_get", {"id": "a b/c"})


def test_memory_search_returns_results_with_k(guardian: FakeGuardian) -> None:
    replies = exchange(
        guardian,
        post("/v1/memory", {"text": "red apple"}),
        post("/v1/memory", {"text": "green apple"}),
        Call("GET", "/v1/memory?q=apple"),
        Call("GET", "/v1/memory?q=apple&k=1"),
        Call("GET", "/v1/memory?q=apple&k=100"),
        Call("GET", "/v1/memory?q=pear"),
    )
    assert replies[2].body == {
        "results": [
            {"id": "m1-0", "score": 1.0, "text": "red apple"},
            {"id": "m2-0", "score": 1.0, "text": "green apple"},
        ]
    }
    assert replies[3].body == {"results": [{"id": "m1-0", "score": 1.0, "text": "red apple"}]}
    assert replies[4].status == 200 and replies[5].body == {"results": []}
    searches = [params for method, params in guardian.calls if method == "memory_search"]
    assert searches == [{"q": "apple", "k": 10}, {"q": "apple", "k": 1}, {"q": "apple", "k": 100}, {"q": "pear", "k": 10}]


def test_versions(guardian: FakeGuardian) -> None:
    reply = one(guardian, Call("GET", "/v1/versions"))
    assert (reply.status, reply.body) == (200, {"versions": [{"version": "0.1.0", "commit": "abc1234", "reason": "seed"}]})


def test_results_with_bytes_and_numpy_values_are_encoded(guardian: FakeGuardian) -> None:
    import numpy as np
    guardian.blocks["b"] = {"id": "b", "embedding": b"\x00\x01", "score": np.float32(0.5), "v": np.arange(2)}
    reply = one(guardian, Call("GET", "/v1/memory/b"))
    assert reply.body == {"id": "b", "embedding": "AAE=", "score": 0.5, "v": [0, 1]}


def test_unserialisable_result_is_a_json_500(guardian: FakeGuardian) -> None:
    guardian.blocks["b"] = {"id": "b", "thing": object()}
    reply = one(guardian, Call("GET", "/v1/memory/b"))
    assert (reply.status, reply.body["error"]["code"]) == (500, "internal_error")


# -- bad input: 4xx, JSON naming the problem, and the guardian never called -------------------

BIG = MAX_BODY_BYTES + 1


def nested(levels: int) -> Any:
    """A list nested LEVELS deep around the number 1."""
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


BAD_INPUT = [
    # (call, status, code, message, field)
    (Call("POST", "/v1/messages", b'{"text": "hi"', JSON), 400, "invalid_json",
     "request body is not valid JSON: Expecting ',' delimiter: line 1 column 14 (char 13)", None),
    (Call("POST", "/v1/messages", b"", JSON), 400, "invalid_json",
     "request body is empty; expected a JSON object", None),
    (Call("POST", "/v1/messages", b'{"text": "\xff"}', JSON), 400, "invalid_json",
     "request body is not valid UTF-8 (byte 10)", None),
    (Call("POST", "/v1/messages", b'["hi"]', JSON), 400, "invalid_json",
     "request body must be a JSON object, got an array", None),
    (Call("POST", "/v1/messages", b'{"text": "a", "text": "b"}', JSON), 400, "invalid_json",
     "request body is not valid JSON: duplicate field 'text'", None),
    (Call("POST", "/v1/memory", b'{"text": "a", "importance": NaN}', JSON), 400, "invalid_json",
     "request body is not valid JSON: NaN is not valid JSON", None),
    (Call("POST", "/v1/messages", b"[" * 100_000, JSON), 400, "invalid_json",
     "request body is nested too deeply", None),
    (Call("POST", "/v1/messages", b'{"text": "hi"}', {"Content-Type": "text/plain"}), 415,
     "unsupported_media_type", "Content-Type must be application/json, got 'text/plain'", None),
    (Call("POST", "/v1/messages", b'{"text": "hi"}'), 415, "unsupported_media_type",
     "Content-Type must be application/json (the header is missing)", None),
    (Call("POST", "/v1/messages", b'{"text": "hi"}', {"Content-Type": "application/json; charset=latin-1"}),
     415, "unsupported_media_type", "JSON must be UTF-8, got charset 'latin-1'", None),
    (post("/v1/messages", {}), 400, "missing_field", "field 'text' is required", "text"),
    (post("/v1/messages", {"text": "hi", "urgent": True}), 400, "unknown_field",
     "unknown field 'urgent' (allowed: text, stream)", "urgent"),
    (post("/v1/messages", {"text": 42}), 400, "invalid_field", "field 'text' must be a string, got a number", "text"),
    (post("/v1/messages", {"text": None}), 400, "invalid_field", "field 'text' must be a string, got null", "text"),
    (post("/v1/messages", {"text": "  \n"}), 400, "invalid_field", "field 'text' must not be empty or blank", "text"),
    (Call("POST", "/v1/messages", b'{"text": "\\ud800"}', JSON), 400, "invalid_field",
     "field 'text' contains an unpaired surrogate (not encodable as UTF-8)", "text"),
    (post("/v1/memory", {"metadata": {}}), 400, "missing_field", "field 'text' is required", "text"),
    (post("/v1/memory", {"text": "x", "id": "mine"}), 400, "unknown_field",
     "unknown field 'id' (allowed: text, metadata, importance)", "id"),
    (post("/v1/memory", {"text": ["x"]}), 400, "invalid_field", "field 'text' must be a string, got an array", "text"),
    (post("/v1/memory", {"text": "x", "metadata": []}), 400, "invalid_field",
     "field 'metadata' must be a JSON object, got an array", "metadata"),
    (post("/v1/memory", {"text": "x", "metadata": None}), 400, "invalid_field",
     "field 'metadata' must be a JSON object, got null", "metadata"),
    (post("/v1/memory", {"text": "x", "metadata": {"n": 2**64}}), 400, "invalid_field",
     "field 'metadata' holds an integer outside [-9223372036854775808, 18446744073709551615]", "metadata"),
    (Call("POST", "/v1/memory", b'{"text": "x", "metadata": {"f": 1e999}}', JSON), 400, "invalid_field",
     "field 'metadata' holds a number too large to represent", "metadata"),
    (post("/v1/memory", {"text": "x", "metadata": {"a": nested(32)}}),
     400, "invalid_field", "field 'metadata' is nested more than 32 levels deep", "metadata"),
    (post("/v1/memory", {"text": "x", "importance": "high"}), 400, "invalid_field",
     "field 'importance' must be a number, got a string", "importance"),
    (post("/v1/memory", {"text": "x", "importance": True}), 400, "invalid_field",
     "field 'importance' must be a number, got a boolean", "importance"),
    (post("/v1/memory", {"text": "x", "importance": 1.5}), 400, "invalid_field",
     "field 'importance' must be between 0 and 1, got 1.5", "importance"),
    (post("/v1/memory", {"text": "x", "importance": -0.1}), 400, "invalid_field",
     "field 'importance' must be between 0 and 1, got -0.1", "importance"),
    (Call("POST", "/v1/memory", b'{"text": "x", "importance": 1e999}', JSON), 400, "invalid_field",
     "field 'importance' must be between 0 and 1, got inf", "importance"),
    (Call("GET", "/v1/memory"), 400, "missing_parameter", "query parameter 'q' is required", "q"),
    (Call("GET", "/v1/memory?q="), 400, "invalid_parameter", "query parameter 'q' must not be empty", "q"),
    (Call("GET", "/v1/memory?q=a&q=b"), 400, "invalid_parameter", "query parameter 'q' is given twice", "q"),
    (Call("GET", "/v1/memory?q=a&limit=3"), 400, "unknown_parameter",
     "unknown query parameter 'limit' (allowed: q, k)", "limit"),
    (Call("GET", "/v1/memory?q=a&k=0"), 400, "invalid_parameter",
     "query parameter 'k' must be an integer from 1 to 100, got '0'", "k"),
    (Call("GET", "/v1/memory?q=a&k=101"), 400, "invalid_parameter",
     "query parameter 'k' must be an integer from 1 to 100, got '101'", "k"),
    (Call("GET", "/v1/memory?q=a&k=-1"), 400, "invalid_parameter",
     "query parameter 'k' must be an integer from 1 to 100, got '-1'", "k"),
    (Call("GET", "/v1/memory?q=a&k=ten"), 400, "invalid_parameter",
     "query parameter 'k' must be an integer from 1 to 100, got 'ten'", "k"),
    (Call("GET", "/v1/memory/" + "x" * 257), 400, "invalid_parameter",
     "memory id longer than 256 characters", "id"),
    (Call("POST", "/v1/memory", b'{"text": "' + b"x" * BIG + b'"}', JSON), 413, "body_too_large",
     f"request body exceeds {MAX_BODY_BYTES} bytes", None),
    (Call("GET", "/v2/everything"), 404, "not_found", "Not Found", None),
    (Call("DELETE", "/v1/memory/m1-0"), 405, "method_not_allowed", "Method Not Allowed", None),
    (Call("GET", "/v1/messages"), 405, "method_not_allowed", "Method Not Allowed", None),
]


@pytest.mark.parametrize(
    ("call", "status", "code", "message", "field"),
    BAD_INPUT,
    ids=[f"{i}-{c[0].method}-{c[2]}" for i, c in enumerate(BAD_INPUT)],
)
def test_bad_input_is_refused_before_the_guardian_is_called(
    guardian: FakeGuardian, call: Call, status: int, code: str, message: str, field: str | None
) -> None:
    reply = one(guardian, call)
    assert (reply.status, reply.body) == (status, error(code, message, field))
    assert reply.headers["Content-Type"].startswith("application/json")
    assert guardian.calls == []


def test_metadata_at_the_depth_limit_is_accepted(guardian: FakeGuardian) -> None:
    reply = one(guardian, post("/v1/memory", {"text": "x", "metadata": {"a": nested(31)}}))
    assert reply.status == 201 and guardian.calls[0][1]["metadata"] == {"a": nested(31)}


def test_405_keeps_the_allow_header(guardian: FakeGuardian) -> None:
    reply = one(guardian, Call("GET", "/v1/messages"))
    assert reply.headers["Allow"] == "POST"


def test_chunked_oversized_body_is_413(guardian: FakeGuardian) -> None:
    """Without a Content-Length the size limit must still hold while reading."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    async def scenario(client: TestClient) -> None:
        async with client.post("/v1/memory", data=chunks(), headers=JSON) as response:
            assert response.status == 413
            body = await response.json()
            assert body["error"]["code"] == "body_too_large"
            assert body["error"]["message"].startswith("request body too large (Maximum request body size 1048576")

    drive(guardian, scenario)
    assert guardian.calls == []


def test_body_just_under_the_limit_is_accepted(guardian: FakeGuardian) -> None:
    text = "x" * (MAX_BODY_BYTES - len('{"text": ""}'))
    reply = one(guardian, post("/v1/memory", {"text": text}))
    assert reply.status == 201 and len(guardian.calls[0][1]["text"]) == len(text)


# -- guardian refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("timeout", 504),
        ("unavailable", 503),
        ("not_durable", 503),
        ("bad_request", 400),
        ("internal", 502),
        ("not_found", 404),
        ("worker_died", 502),
        ("unknown_method", 500),
        ("something_new", 500),
    ],
)
def test_guardian_failures_map_to_statuses(guardian: FakeGuardian, code: str, status: int) -> None:
    guardian.failure = FakeRequestFailed(f"it failed: {code}", code)
    reply = one(guardian, post("/v1/memory", {"text": "x"}))
    assert (reply.status, reply.body) == (status, error(code, f"it failed: {code}"))
    assert ("Retry-After" in reply.headers) == (status == 503)
    assert guardian.blocks == {}


def test_guardian_error_without_a_code_is_500(guardian: FakeGuardian) -> None:
    guardian.failure = OLispError("the guardian is stopped")
    reply = one(guardian, post("/v1/messages", {"text": "x"}))
    assert (reply.status, reply.body) == (500, error("guardian_error", "the guardian is stopped"))


def test_unexpected_exception_is_a_json_500_without_traceback(
    guardian: FakeGuardian, caplog: pytest.LogCaptureFixture
) -> None:
    guardian.failure = ZeroDivisionError("secret internals")
    reply = one(guardian, post("/v1/messages", {"text": "x"}))
    assert (reply.status, reply.body) == (
        500,
        error("internal_error", "internal server error (details are in the server log)"),
    )
    assert "ZeroDivisionError" in caplog.text  # the details go to the log instead


def test_memory_add_without_ids_is_an_error_not_a_fake_201(guardian: FakeGuardian) -> None:
    async def no_ids(method: str, params: dict[str, Any]) -> Any:
        return []

    guardian.request = no_ids  # type: ignore[method-assign]
    reply = one(guardian, post("/v1/memory", {"text": "x"}))
    assert (reply.status, reply.body["error"]["code"]) == (500, "internal_error")


# -- auth -------------------------------------------------------------------------------------


def test_token_guards_every_post(guardian: FakeGuardian) -> None:
    replies = exchange(
        guardian,
        post("/v1/memory", {"text": "x"}),
        post("/v1/memory", {"text": "x"}, token="wrong"),
        post("/v1/messages", {"text": "x"}, token="s3cret-tokeN"),
        Call("POST", "/v1/messages", b'{"text": "x"}', {**JSON, "Authorization": f"Basic {TOKEN}"}),
        Call("POST", "/v1/messages", b"not even json", {"Authorization": "Bearer "}),
        post("/v2/unknown", {}),
        token=TOKEN,
    )
    missing = error("unauthorized", "this endpoint needs 'Authorization: Bearer <token>'")
    invalid = error("unauthorized", "invalid API token")
    assert [(r.status, r.body) for r in replies] == [
        (401, missing),
        (401, invalid),
        (401, invalid),
        (401, missing),
        (401, missing),
        (401, missing),
    ]
    assert replies[0].headers["WWW-Authenticate"] == 'Bearer realm="o-lisp"'
    assert replies[1].headers["WWW-Authenticate"] == 'Bearer realm="o-lisp", error="invalid_token"'
    assert guardian.calls == []


def test_right_token_passes_everywhere(guardian: FakeGuardian) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    replies = exchange(
        guardian,
        post("/v1/memory", {"text": "x"}, token=TOKEN),
        Call("POST", "/v1/messages", b'{"text": "x"}', {**JSON, "Authorization": f"bearer {TOKEN}"}),
        Call("GET", "/v1/memory/m1-0", headers=auth),
        Call("GET", "/v1/memory?q=x", headers=auth),
        Call("GET", "/v1/versions", headers=auth),
        Call("GET", "/health", headers=auth),
        Call("GET", "/metrics", headers=auth),
        token=TOKEN,
    )
    assert [r.status for r in replies] == [201, 200, 200, 200, 200, 200, 200]
    assert replies[5].body["version"] == "0.1.0"  # the full report with the token


def _route_table() -> list[tuple[str, str]]:
    """Every (method, path) the app serves, from its router: a new route is covered as it lands."""
    app = create_app(FakeGuardian(), token=TOKEN)  # type: ignore[arg-type]
    routes = []
    for route in app.router.routes():
        if route.method == "HEAD":
            continue  # aiohttp's automatic HEAD of each GET, checked with it below
        path = route.resource.canonical if route.resource is not None else ""
        routes.append((route.method, path.replace("{id}", "m1-0")))
    return sorted(set(routes))


ROUTES = _route_table()
PROTECTED = [r for r in ROUTES if r not in {("GET", "/health")}]
BAD_CREDENTIALS = {
    "no header": None,
    "wrong token": f"Bearer {TOKEN[:-1]}X",
    "wrong scheme": f"Basic {TOKEN}",
    "truncated token": f"Bearer {TOKEN[:-1]}",
    "token prefix only": f"Bearer {TOKEN[:3]}",
    "empty bearer": "Bearer ",
    "longer token": f"Bearer {TOKEN}x",
}


def test_the_route_table_is_what_the_api_documents() -> None:
    # If this fails, a route was added or removed: PROTECTED covers it automatically,
    # but docs/protocol.md must list it and say whether it needs the token.
    assert ROUTES == [
        ("GET", "/health"), ("GET", "/metrics"), ("GET", "/v1/evolution"), ("GET", "/v1/evolution/m1-0"),
        ("GET", "/v1/memory"), ("GET", "/v1/memory/m1-0"), ("GET", "/v1/versions"), ("POST", "/v1/evolution"),
        ("POST", "/v1/feedback"), ("POST", "/v1/memory"), ("POST", "/v1/messages"),
    ]


@pytest.mark.parametrize("credentials", list(BAD_CREDENTIALS.values()), ids=list(BAD_CREDENTIALS))
@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_every_route_but_health_needs_the_token_before_any_validation(
    guardian: FakeGuardian, method: str, path: str, credentials: str | None
) -> None:
    headers = {} if credentials is None else {"Authorization": credentials}
    # A body that would fail every check (not JSON, wrong type, unknown query) shows
    # that auth comes first: the answer is 401, never 400/404/415.
    calls = [Call(method, path + "?bogus=1", b"\xff not json", headers)]
    if method == "GET":
        calls.append(Call("HEAD", path, None, headers))
    replies = exchange(guardian, *calls, token=TOKEN)
    for reply in replies:
        assert reply.status == 401, (method, path, reply.status, reply.body)
        assert reply.headers["WWW-Authenticate"].startswith('Bearer realm="o-lisp"')
    assert replies[0].body["error"]["code"] == "unauthorized"
    assert guardian.calls == []


def test_unknown_routes_and_methods_need_the_token_too(guardian: FakeGuardian) -> None:
    replies = exchange(
        guardian,
        Call("GET", "/v2/secret"),
        Call("DELETE", "/v1/memory/m1-0"),
        Call("GET", "/v2/secret", headers={"Authorization": f"Bearer {TOKEN}"}),
        token=TOKEN,
    )
    assert [r.status for r in replies] == [401, 401, 404]


async def _raw_get(client: TestClient, path: str, authorization: bytes) -> tuple[int, bytes]:
    """GET with an Authorization header of exactly these bytes (aiohttp's client would encode a str)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: test\r\nAuthorization: " + authorization
                 + b"\r\nConnection: close\r\n\r\n")
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("raw", ["Bearer s3cret-tökén".encode(), b"Bearer \xff\xfe", b"Bearer s3cret-token\xe9",
                                 "Bearer \u20ac".encode()], ids=["utf-8", "invalid utf-8", "latin-1", "euro"])
def test_a_non_ascii_token_is_401_not_a_server_error(
    guardian: FakeGuardian, caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    async def scenario(client: TestClient) -> None:
        status, body = await _raw_get(client, "/v1/versions", raw)
        assert status == 401, body
        assert json.loads(body)["error"]["code"] == "unauthorized"

    drive(guardian, scenario, token=TOKEN)
    assert guardian.calls == []
    assert "Traceback" not in caplog.text and "unhandled error" not in caplog.text


def test_a_non_ascii_configured_token_matches_itself_only(guardian: FakeGuardian) -> None:
    token = "clé-secrète"

    async def scenario(client: TestClient) -> None:
        assert (await _raw_get(client, "/v1/versions", f"Bearer {token}".encode()))[0] == 200
        assert (await _raw_get(client, "/v1/versions", f"Bearer {token}".encode("latin-1")))[0] == 401
        assert (await _raw_get(client, "/v1/versions", b"Bearer cl"))[0] == 401

    drive(guardian, scenario, token=token)


def test_health_without_the_token_says_only_whether_the_service_is_up(guardian: FakeGuardian) -> None:
    replies = exchange(
        guardian,
        Call("GET", "/health"),
        Call("GET", "/health", headers={"Authorization": "Bearer wrong"}),
        token=TOKEN,
    )
    assert [(r.status, r.body) for r in replies] == [(200, {"status": "ok"}), (200, {"status": "ok"})]
    guardian.status = "restarting"
    assert (one(guardian, Call("GET", "/health"), token=TOKEN).status,
            one(guardian, Call("GET", "/health"), token=TOKEN).body) == (503, {"status": "restarting"})


def test_without_a_token_posts_are_open(guardian: FakeGuardian) -> None:
    assert one(guardian, post("/v1/memory", {"text": "x"})).status == 201


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.5", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_check_bind_refuses_public_addresses_without_a_token() -> None:
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", TOKEN)
    with pytest.raises(ConfigError, match=r"refusing to listen on non-loopback address '0\.0\.0\.0'.*O_API_TOKEN"):
        check_bind("0.0.0.0", None)
    assert issubclass(ConfigError, OLispError)


def test_token_from_env_ignores_blank_values() -> None:
    assert token_from_env({"O_API_TOKEN": TOKEN}) == TOKEN
    assert token_from_env({"O_API_TOKEN": "  "}) is None
    assert token_from_env({}) is None


# -- metrics ----------------------------------------------------------------------------------


def _samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value for every sample line of a Prometheus text exposition."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_metrics_after_some_requests(guardian: FakeGuardian) -> None:
    replies = exchange(
        guardian,
        post("/v1/messages", {"text": "hi"}),
        post("/v1/messages", {"text": 1}),
        post("/v1/memory", {"text": "x"}),
        post("/v1/memory", {"text": "y"}),
        Call("GET", "/v1/memory/nope"),
        Call("GET", "/nowhere"),
        Call("GET", "/metrics"),
    )
    metrics = replies[-1]
    assert metrics.status == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    samples = _samples(metrics.body)
    assert samples['o_http_requests_total{endpoint="/v1/messages",method="POST",status="200"}'] == 1
    assert samples['o_http_requests_total{endpoint="/v1/messages",method="POST",status="400"}'] == 1
    assert samples['o_http_requests_total{endpoint="/v1/memory",method="POST",status="201"}'] == 2
    assert samples['o_http_requests_total{endpoint="/v1/memory/{id}",method="GET",status="404"}'] == 1
    assert samples['o_http_requests_total{endpoint="unmatched",method="GET",status="404"}'] == 1
    assert samples['o_http_request_duration_seconds_count{endpoint="/v1/memory",method="POST"}'] == 2
    assert samples['o_http_request_duration_seconds_bucket{endpoint="/v1/memory",le="+Inf",method="POST"}'] == 2
    assert samples["o_guardian_restarts_total"] == 3
    assert samples["o_guardian_checkpoints_total"] == 2
    assert samples["o_guardian_wal_appends_total"] == 2
    assert samples["o_guardian_requests_total"] == 4
    assert samples["o_guardian_up"] == 1
    assert samples["o_guardian_wal_seq"] == 7
    assert samples["o_wal_fsync_duration_seconds_count"] == 2
    assert samples['o_wal_fsync_duration_seconds_bucket{le="0.0025"}'] == 2
    assert samples['o_wal_fsync_duration_seconds_bucket{le="0.001"}'] == 0


def _scrape_counts(guardian: FakeGuardian, steps: Iterable[Callable[[], None]]) -> list[float]:
    counts: list[float] = []

    async def scenario(client: TestClient) -> None:
        for step in steps:
            step()
            reply = await _send(client, Call("GET", "/metrics"))
            counts.append(_samples(reply.body)["o_wal_fsync_duration_seconds_count"])

    drive(guardian, scenario)
    return counts


def test_fsync_samples_are_counted_once_across_scrapes_of_a_sliding_window(guardian: FakeGuardian) -> None:
    window: collections.deque[float] = collections.deque(maxlen=3)
    guardian.metrics.wal_fsync_seconds = window  # type: ignore[assignment]
    values = iter([0.001 * i for i in range(1, 20)])

    def add(n: int) -> Callable[[], None]:
        return lambda: window.extend(next(values) for _ in range(n))

    # 0, +2, +0, +1 (window full, slides), +2, +5 (more than the window: only 3 are seen)
    assert _scrape_counts(guardian, [add(0), add(2), add(0), add(2), add(2), add(5)]) == [0, 2, 2, 4, 6, 9]


def test_fsync_samples_use_the_total_count_when_the_guardian_has_one(guardian: FakeGuardian) -> None:
    metrics = guardian.metrics

    def step(values: list[float], total: int) -> Callable[[], None]:
        def apply() -> None:
            metrics.wal_fsync_seconds = values
            metrics.wal_fsyncs = total  # type: ignore[attr-defined]

        return apply

    # identical values would fool the overlap heuristic; the total count does not
    counts = _scrape_counts(guardian, [step([0.002], 1), step([0.002, 0.002], 2), step([0.002, 0.002], 5)])
    assert counts == [1, 2, 4]


def test_fsync_listeners_feed_the_histogram_and_are_removed_on_cleanup(guardian: FakeGuardian) -> None:
    """The real supervisor calls `metrics.fsync_listeners` with every fsync: exact, no window."""
    listeners: list[Callable[[float], None]] = []
    guardian.metrics.fsync_listeners = listeners  # type: ignore[attr-defined]
    guardian.metrics.wal_fsync_seconds = [0.5] * 7  # ignored when listeners exist

    def fsync(*durations: float) -> Callable[[], None]:
        def run() -> None:
            for seconds in durations:
                for listener in listeners:
                    listener(seconds)

        return run

    assert _scrape_counts(guardian, [fsync(), fsync(0.0002, 0.003), fsync(0.004)]) == [0, 2, 3]
    assert listeners == []  # the app unhooked itself when it was cleaned up


def test_guardian_request_counts_by_method_and_outcome(guardian: FakeGuardian) -> None:
    guardian.metrics.requests = collections.Counter({("message", "ok"): 3, ("memory_add", "timeout"): 1})  # type: ignore[assignment]
    samples = _samples(one(guardian, Call("GET", "/metrics")).body)
    assert samples['o_guardian_requests_total{method="message",outcome="ok"}'] == 3
    assert samples['o_guardian_requests_total{method="memory_add",outcome="timeout"}'] == 1


def test_two_apps_in_one_process_have_separate_registries() -> None:
    first, second = FakeGuardian(), FakeGuardian()
    exchange(first, post("/v1/messages", {"text": "a"}))
    replies = exchange(second, Call("GET", "/metrics"))
    assert 'endpoint="/v1/messages"' not in replies[0].body


# -- serve(): lifecycle ------------------------------------------------------------------------


def test_serve_starts_the_guardian_serves_and_stops_it_after_the_server(guardian: FakeGuardian) -> None:
    async def run() -> None:
        stop = asyncio.Event()
        ready: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(guardian, "127.0.0.1", 0, TOKEN, stop, on_ready=ready.set_result))  # type: ignore[arg-type]
        urls = await asyncio.wait_for(ready, 10)
        assert guardian.events == ["start"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", urls[0])
        async with aiohttp.ClientSession() as session:
            async with session.post(
                urls[0] + "/v1/memory", json={"text": "x"}, headers={"Authorization": f"Bearer {TOKEN}"}
            ) as response:
                assert (response.status, await response.json()) == (201, {"id": "m1-0", "ids": ["m1-0"]})
        stop.set()
        await asyncio.wait_for(task, 10)
        assert guardian.events == ["start", "stop"]

    asyncio.run(run())


def test_serve_refuses_an_unsafe_bind_before_starting_anything(guardian: FakeGuardian) -> None:
    async def run() -> None:
        await serve(guardian, "0.0.0.0", 0, None, asyncio.Event())  # type: ignore[arg-type]

    with pytest.raises(ConfigError):
        asyncio.run(run())
    assert guardian.events == []


def test_serve_stops_the_guardian_when_the_port_is_taken(guardian: FakeGuardian) -> None:
    async def run() -> None:
        blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = blocker.sockets[0].getsockname()[1]
        try:
            await serve(guardian, "127.0.0.1", port, None, asyncio.Event())  # type: ignore[arg-type]
        finally:
            blocker.close()
            await blocker.wait_closed()

    with pytest.raises(OSError):
        asyncio.run(run())
    assert guardian.events == ["start", "stop"]


# -- the command line -------------------------------------------------------------------------


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), prog_name="o-lisp", env=env, catch_exceptions=False)


@pytest.mark.parametrize("token", [None, "", "   "])
def test_serve_refuses_a_public_address_without_a_token(monkeypatch: pytest.MonkeyPatch, token: str | None) -> None:
    monkeypatch.delenv("O_API_TOKEN", raising=False)
    env = {} if token is None else {"O_API_TOKEN": token}
    result = invoke("serve", str(ROOT / "agents" / "greeter.hy"), "--host", "0.0.0.0", env=env)
    assert result.exit_code == 2
    assert "refusing to listen on non-loopback address '0.0.0.0' without an API token: set O_API_TOKEN" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "missing.hy"], "File 'missing.hy' does not exist"),
        (["serve", "AGENT", "--port", "70000"], "70000 is not in the range 0<=x<=65535"),
        (["serve", "AGENT", "--port", "http"], "'http' is not a valid integer"),
        (["serve"], "Missing argument 'AGENT.hy'"),
    ],
)
def test_serve_usage_errors(args: list[str], message: str) -> None:
    args = [str(ROOT / "agents" / "greeter.hy") if a == "AGENT" else a for a in args]
    result = invoke(*args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def _vault_with_two_checkpoints(data_dir: Path) -> list[Path]:
    with Vault(data_dir / "checkpoints") as vault:
        first = vault.write({"memory": ["a"]}, wal_seq=5)
        second = vault.write({"memory": ["a", "b"]}, wal_seq=9)
    return [first.path, second.path]


def test_checkpoints_list_and_verify(tmp_path: Path) -> None:
    paths = _vault_with_two_checkpoints(tmp_path)
    listed = invoke("checkpoints", "list", str(tmp_path))
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    names = {line.split()[0]: line for line in lines}
    assert sorted(names) == sorted(p.name for p in paths)
    assert "wal_seq=5" in names[paths[0].name] and "wal_seq=9" in names[paths[1].name]
    verified = invoke("checkpoints", "verify", str(tmp_path))
    assert verified.exit_code == 0
    assert verified.stdout.splitlines()[-1] == f"2 checkpoints: 2 good, 0 corrupt; restore would use {paths[1].name} (wal_seq 9)"


def test_checkpoints_verify_fails_on_a_corrupt_checkpoint(tmp_path: Path) -> None:
    paths = _vault_with_two_checkpoints(tmp_path)
    data = bytearray(paths[1].read_bytes())
    data[-1] ^= 0xFF
    paths[1].write_bytes(bytes(data))
    result = invoke("checkpoints", "verify", str(tmp_path))
    assert result.exit_code == 1
    assert f"{paths[1].name}  CORRUPT" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("2 checkpoints: 1 good, 1 corrupt; restore would use")


def test_checkpoints_on_a_missing_directory(tmp_path: Path) -> None:
    for command in ("list", "verify"):
        result = invoke("checkpoints", command, str(tmp_path / "nope"))  # a usage error
        assert result.exit_code == 2 and f"Directory '{tmp_path / 'nope'}' does not exist." in result.output


def test_wal_verify(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path / "wal") as wal:
        wal.append("memory_add", {"text": "a"})
        wal.append("memory_add", {"text": "b"})
        wal.append("memory_add", {"text": "c"})
    result = invoke("wal", "verify", str(tmp_path))
    assert (result.exit_code, result.stdout.splitlines()[-1]) == (0, "OK: 3 record(s), seq 1..3")
    segment = next((tmp_path / "wal").glob("wal-*.log"))
    data = bytearray(segment.read_bytes())
    data[40] ^= 0xFF  # inside the first record: followed by valid records, so corruption, not a torn tail
    segment.write_bytes(bytes(data))
    result = invoke("wal", "verify", str(tmp_path))
    assert result.exit_code == 1 and "CORRUPT" in result.stdout


def test_wal_verify_on_a_missing_directory(tmp_path: Path) -> None:
    result = invoke("wal", "verify", str(tmp_path / "nope"))  # a usage error
    assert result.exit_code == 2 and f"Directory '{tmp_path / 'nope'}' does not exist." in result.output


# -- end to end with the real supervisor -------------------------------------------------------


def test_end_to_end_with_the_real_guardian(tmp_path: Path) -> None:
    from o_lisp.guardian import _supervisor as supervisor
    config = supervisor.GuardianConfig(agent=ROOT / "agents" / "assistant.hy", data_dir=tmp_path / "data")
    guardian = supervisor.Guardian(config)

    async def run() -> None:
        await guardian.start()
        try:
            async with TestClient(TestServer(create_app(guardian, token=TOKEN))) as client:
                auth = {**JSON, "Authorization": f"Bearer {TOKEN}"}
                health = await client.get("/health")
                assert health.status == 200, await health.text()
                assert (await health.json())["status"] == "ok"
                added = await client.post("/v1/memory", json={"text": "the office is on the third floor"}, headers=auth)
                assert added.status == 201, await added.text()
                block_id = (await added.json())["id"]
                got = await client.get(f"/v1/memory/{block_id}", headers=auth)
                assert got.status == 200 and "third floor" in (await got.json())["text"]
                found = await client.get("/v1/memory", params={"q": "office", "k": "3"}, headers=auth)
                assert found.status == 200 and (await found.json())["results"]
                missing = await client.get("/v1/memory/no-such-block", headers=auth)
                assert missing.status == 404
                reply = await client.post("/v1/messages", json={"text": "where is the office?"}, headers=auth)
                assert reply.status == 200 and "reply" in await reply.json()
                versions = await client.get("/v1/versions", headers=auth)
                assert versions.status == 200 and (await versions.json())["versions"]
                assert (await client.get("/metrics")).status == 401
                metrics = await (await client.get("/metrics", headers=auth)).text()
                for name in ("o_guardian_restarts_total", "o_guardian_wal_appends_total", "o_http_requests_total"):
                    assert name in metrics
        finally:
            await guardian.stop()

    asyncio.run(run())


def test_serve_subprocess_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "O_API_TOKEN": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "o_lisp.cli", "serve", str(ROOT / "agents" / "greeter.hy"),
         "--port", "0", "--data", str(tmp_path / "data")],
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        assert process.stderr is not None
        seen = [process.stderr.readline() for _ in range(1)]
        while "o-lisp: serving" not in seen[-1] and seen[-1] and len(seen) < 200:
            seen.append(process.stderr.readline())
        assert "o-lisp: serving" in seen[-1], "".join(seen)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()

