"""HTTP API of issue #5: reply ids, feedback, evolution cycles and their metrics.

One real `Guardian` (on `agents/greeter.hy`, data in a temporary directory) serves
the whole module from a background thread with its own event loop, behind a real
TCP port, so each test is a plain HTTP exchange (urllib) with exact status codes
and bodies. Every refused request also checks that the guardian was not asked
anything (`metrics.requests` and the evolution manager's cycle list are unchanged):
validation happens before anything is forwarded.

The mapping of `EvolutionError` codes onto statuses is tested
with a minimal stand-in for the manager (`RefusingEvolution`), because a real
guardian cannot be made to answer every code on demand.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from o_lisp._errors import OLispError
from o_lisp.guardian._evolution import EvolutionError
from o_lisp.guardian._http import EVOLUTION_STATUS, create_app
from o_lisp.guardian._supervisor import Guardian, GuardianConfig

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "evolve-token"
T = TypeVar("T")

TERMINAL = {"promoted", "rejected", "rolled_back", "failed"}


# -- a live server in a background thread ----------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


class LiveServer:
    """A guardian and its HTTP app on 127.0.0.1:<free port>, driven from another thread."""

    def __init__(self, app_for: Callable[[Any], web.Application], guardian: Any) -> None:
        self.guardian = guardian
        self._app_for = app_for
        self.loop = asyncio.new_event_loop()
        self.url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="live-guardian", daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        if not self._ready.wait(120):
            raise RuntimeError("the guardian did not start within 120 s")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def _main(self) -> None:
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as error:  # reported to the test thread by __enter__
            self._error = error
            self._ready.set()
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        start = getattr(self.guardian, "start", None)
        if start is not None:
            await start()
        try:
            runner = web.AppRunner(self._app_for(self.guardian))
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                host, port = runner.addresses[0][:2]
                self.url = f"http://{host}:{port}"
                self._ready.set()
                await self._stop.wait()
            finally:
                await runner.cleanup()
        finally:
            stop = getattr(self.guardian, "stop", None)
            if stop is not None:
                await stop()

    def run(self, coroutine: Awaitable[T], timeout: float = 120) -> T:
        """Run COROUTINE on the server's loop (where the guardian lives) and return its result."""

        async def wrapper() -> T:
            return await coroutine

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        token: str | None = TOKEN,
        content_type: str | None = "application/json",
    ) -> Reply:
        data = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if content_type is not None and data is not None:
            request.add_header("Content-Type", content_type)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return _reply(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            with error:
                return _reply(error.code, dict(error.headers), error.read())


def _reply(status: int, headers: dict[str, str], raw: bytes) -> Reply:
    text = raw.decode("utf-8")
    body = json.loads(text) if headers.get("Content-Type", "").startswith("application/json") else text
    return Reply(status, headers, body)


def error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return {"error": body}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("guardian") / "data"
    config = GuardianConfig(agent=ROOT / "agents" / "greeter.hy", data_dir=data, request_timeout=30.0)
    guardian = Guardian(config)
    with LiveServer(lambda g: create_app(g, token=TOKEN), guardian) as server:
        yield server


def requests_seen(live: LiveServer) -> int:
    return sum(live.guardian.metrics.requests.values())


def cycles_seen(live: LiveServer) -> int:
    evolution = getattr(live.guardian, "evolution", None)
    return len(evolution.list()) if evolution is not None else 0


# -- messages and feedback -------------------------------------------------------------------


def test_message_reply_comes_with_its_id(live: LiveServer) -> None:
    reply = live.request("POST", "/v1/messages", {"text": "hello"})
    assert reply.status == 200
    assert set(reply.body) == {"reply", "reply_id"}
    assert reply.body["reply"] == "hello."
    assert isinstance(reply.body["reply_id"], str) and reply.body["reply_id"]
    second = live.request("POST", "/v1/messages", {"text": "hello"})
    assert second.body["reply_id"] != reply.body["reply_id"]


def test_feedback_on_a_reply_is_201_with_an_id(live: LiveServer) -> None:
    reply_id = live.request("POST", "/v1/messages", {"text": "hello"}).body["reply_id"]
    rated = live.request("POST", "/v1/feedback", {"reply_id": reply_id, "rating": -0.5, "comment": "too curt"})
    assert rated.status == 201, rated.body
    assert list(rated.body) == ["id"] and isinstance(rated.body["id"], str) and rated.body["id"]
    starred = live.request("POST", "/v1/feedback", {"stars": 5})
    assert starred.status == 201, starred.body
    assert isinstance(starred.body["id"], str) and starred.body["id"] != rated.body["id"]


def test_feedback_on_an_unknown_reply_is_404_and_stores_nothing(live: LiveServer) -> None:
    known = live.request("POST", "/v1/messages", {"text": "hello"}).body["reply_id"]

    def rate(reply_id: str) -> Reply:
        return live.request("POST", "/v1/feedback", {"reply_id": reply_id, "rating": 1})

    first, second = (int(rate(known).body["id"][1:]) for _ in range(2))
    unknown = "r999999999"
    reply = rate(unknown)
    assert reply.status == 404, reply.body
    assert reply.body["error"]["code"] == "not_found"
    assert repr(unknown) in reply.body["error"]["message"]
    # nothing half-applied: ids come from the mutation count, which the 404 did not advance
    third = int(rate(known).body["id"][1:])
    assert third - second == second - first


BAD_FEEDBACK = [
    ({}, "missing_field",
     "exactly one of 'rating' (a number from -1 to 1) and 'stars' (an integer from 1 to 5) is required", "rating"),
    ({"rating": 1, "stars": 5}, "invalid_field",
     "exactly one of 'rating' (a number from -1 to 1) and 'stars' (an integer from 1 to 5) is required", "rating"),
    ({"rating": "good"}, "invalid_field", "field 'rating' must be a number, got a string", "rating"),
    ({"rating": True}, "invalid_field", "field 'rating' must be a number, got a boolean", "rating"),
    ({"rating": None}, "invalid_field", "field 'rating' must be a number, got null", "rating"),
    ({"rating": 1.5}, "invalid_field", "field 'rating' must be between -1 and 1, got 1.5", "rating"),
    ({"rating": -2}, "invalid_field", "field 'rating' must be between -1 and 1, got -2", "rating"),
    ({"stars": 0}, "invalid_field", "field 'stars' must be an integer from 1 to 5, got 0", "stars"),
    ({"stars": 6}, "invalid_field", "field 'stars' must be an integer from 1 to 5, got 6", "stars"),
    ({"stars": 4.5}, "invalid_field", "field 'stars' must be an integer from 1 to 5, got a fractional number", "stars"),
    ({"stars": "5"}, "invalid_field", "field 'stars' must be an integer from 1 to 5, got a string", "stars"),
    ({"rating": 1, "comment": 3}, "invalid_field", "field 'comment' must be a string, got a number", "comment"),
    ({"rating": 1, "comment": "x" * 10_001}, "invalid_field",
     "field 'comment' is longer than 10000 characters", "comment"),
    ({"rating": 1, "reply_id": 7}, "invalid_field", "field 'reply_id' must be a string, got a number", "reply_id"),
    ({"rating": 1, "reply_id": None}, "invalid_field", "field 'reply_id' must be a string, got null", "reply_id"),
    ({"rating": 1, "reply_id": " "}, "invalid_field", "field 'reply_id' must not be empty or blank", "reply_id"),
    ({"rating": 1, "reply_id": "r" * 257}, "invalid_field",
     "field 'reply_id' is longer than 256 characters", "reply_id"),
    ({"rating": 1, "score": 3}, "unknown_field",
     "unknown field 'score' (allowed: reply_id, rating, stars, comment)", "score"),
]


@pytest.mark.parametrize(("body", "code", "message", "field"), BAD_FEEDBACK,
                         ids=[f"{i}-{c[1]}" for i, c in enumerate(BAD_FEEDBACK)])
def test_bad_feedback_is_400_and_reaches_nothing(
    live: LiveServer, body: dict[str, Any], code: str, message: str, field: str
) -> None:
    before = requests_seen(live)
    reply = live.request("POST", "/v1/feedback", body)
    assert (reply.status, reply.body) == (400, error(code, message, field))
    assert requests_seen(live) == before


def test_feedback_comment_with_an_unpaired_surrogate_is_400(live: LiveServer) -> None:
    reply = live.request("POST", "/v1/feedback", raw=b'{"rating": 0, "comment": "\\udc00"}')
    assert (reply.status, reply.body) == (400, error(
        "invalid_field", "field 'comment' contains an unpaired surrogate (not encodable as UTF-8)", "comment"))


# -- starting and following cycles -----------------------------------------------------------

BAD_EVOLUTION = [
    ({}, "missing_field", "field 'definition' is required", "definition"),
    ({"definition": 3}, "invalid_field", "field 'definition' must be a string, got a number", "definition"),
    ({"definition": ""}, "invalid_field", "field 'definition' must not be empty or blank", "definition"),
    ({"definition": "two words"}, "invalid_field",
     "field 'definition' must be a definition name (no whitespace or control characters, no leading '#')",
     "definition"),
    ({"definition": "#tag"}, "invalid_field",
     "field 'definition' must be a definition name (no whitespace or control characters, no leading '#')",
     "definition"),
    ({"definition": "g" * 257}, "invalid_field", "field 'definition' is longer than 256 characters", "definition"),
    ({"definition": "greet", "hypothesis": ["x"]}, "invalid_field",
     "field 'hypothesis' must be a string, got an array", "hypothesis"),
    ({"definition": "greet", "hypothesis": "h" * 1001}, "invalid_field",
     "field 'hypothesis' is longer than 1000 characters", "hypothesis"),
    ({"definition": "greet", "generations": 0}, "invalid_field",
     "field 'generations' must be an integer from 1 to 50, got 0", "generations"),
    ({"definition": "greet", "generations": 51}, "invalid_field",
     "field 'generations' must be an integer from 1 to 50, got 51", "generations"),
    ({"definition": "greet", "generations": 2.0}, "invalid_field",
     "field 'generations' must be an integer from 1 to 50, got a fractional number", "generations"),
    ({"definition": "greet", "generations": "3"}, "invalid_field",
     "field 'generations' must be an integer from 1 to 50, got a string", "generations"),
    ({"definition": "greet", "candidates": 33}, "invalid_field",
     "field 'candidates' must be an integer from 1 to 32, got 33", "candidates"),
    ({"definition": "greet", "candidates": True}, "invalid_field",
     "field 'candidates' must be an integer from 1 to 32, got a boolean", "candidates"),
    ({"definition": "greet", "canary": "yes"}, "invalid_field",
     "field 'canary' must be true or false, got a string", "canary"),
    ({"definition": "greet", "canary": 1}, "invalid_field",
     "field 'canary' must be true or false, got a number", "canary"),
    ({"definition": "greet", "source": "(defn greet [])"}, "unknown_field",
     "unknown field 'source' (allowed: definition, hypothesis, generations, candidates, canary, candidate, "
     "generator, model, population, islands, workers, seed, max_evals, resume)",
     "source"),
    ({"definition": "greet", "candidate": 3}, "invalid_field",
     "field 'candidate' must be the source of one definition, got a number", "candidate"),
    ({"definition": "greet", "generator": "gpt"}, "invalid_field",
     'field \'generator\' must be "mutation", "llm" or "mixed", got "gpt"', "generator"),
    ({"definition": "greet", "candidate": "  "}, "invalid_field",
     "field 'candidate' must be the source of one definition, got a string", "candidate"),
    # a population cycle (issue 13)
    ({"definition": "greet", "population": 1}, "invalid_field",
     "field 'population' must be an integer from 2 to 1000, got 1", "population"),
    ({"definition": "greet", "population": 20.0}, "invalid_field",
     "field 'population' must be an integer from 2 to 1000, got a fractional number", "population"),
    ({"definition": "greet", "population": 20, "islands": 17}, "invalid_field",
     "field 'islands' must be an integer from 1 to 16, got 17", "islands"),
    ({"definition": "greet", "population": 4, "islands": 3}, "invalid_field",
     "field 'islands' (3) needs at least 2 individuals per island: a population of 4 allows at most 2", "islands"),
    ({"definition": "greet", "population": 20, "workers": 0}, "invalid_field",
     "field 'workers' must be an integer from 1 to 64, got 0", "workers"),
    ({"definition": "greet", "population": 20, "seed": -1}, "invalid_field",
     "field 'seed' must be an integer from 0 to 4294967295, got -1", "seed"),
    ({"definition": "greet", "population": 20, "max_evals": 0}, "invalid_field",
     "field 'max_evals' must be an integer from 1 to 1000000000, got 0", "max_evals"),
    ({"definition": "greet", "seed": 3}, "invalid_field",
     "field 'seed' needs population (or resume): it is a setting of a population cycle", "seed"),
    ({"definition": "greet", "population": 20, "candidates": 4}, "invalid_field",
     "field 'candidates' does not go with a population cycle (population, resume): it breeds its own candidates "
     "(by mutation, and with generator llm/mixed a model writes a share)", "candidates"),
    ({"definition": "greet", "resume": "../x"}, "invalid_field",
     'field \'resume\' must be a run id like "20261205T071502-3fa9c1", got "../x"', "resume"),
    ({"definition": "greet", "resume": 7}, "invalid_field",
     'field \'resume\' must be a run id like "20261205T071502-3fa9c1", got a number', "resume"),
    ({"definition": "greet", "resume": "r1", "population": 20}, "invalid_field",
     "field 'population' does not go with resume: a resumed run keeps its own settings", "population"),
]


@pytest.mark.parametrize(("body", "code", "message", "field"), BAD_EVOLUTION,
                         ids=[f"{i}-{c[1]}" for i, c in enumerate(BAD_EVOLUTION)])
def test_bad_evolution_request_is_400_and_starts_nothing(
    live: LiveServer, body: dict[str, Any], code: str, message: str, field: str
) -> None:
    before = (requests_seen(live), cycles_seen(live))
    reply = live.request("POST", "/v1/evolution", body)
    assert (reply.status, reply.body) == (400, error(code, message, field))
    assert (requests_seen(live), cycles_seen(live)) == before


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/evolution"), ("POST", "/v1/feedback"),
                                            ("GET", "/v1/evolution"), ("GET", "/v1/evolution/evo-1")])
def test_evolution_and_feedback_need_the_token(live: LiveServer, method: str, path: str) -> None:
    body = None if method == "GET" else {"definition": "greet"} if path == "/v1/evolution" else {"rating": 1}
    before = (requests_seen(live), cycles_seen(live))
    missing = live.request(method, path, body, token=None)
    assert (missing.status, missing.body) == (401, error("unauthorized", "this endpoint needs 'Authorization: Bearer <token>'"))
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="o-lisp"'
    wrong = live.request(method, path, body, token="not-it")
    assert (wrong.status, wrong.body) == (401, error("unauthorized", "invalid API token"))
    assert (requests_seen(live), cycles_seen(live)) == before


def test_evolution_body_must_be_json(live: LiveServer) -> None:
    reply = live.request("POST", "/v1/evolution", raw=b"definition=greet", content_type="text/plain")
    assert (reply.status, reply.body) == (415, error(
        "unsupported_media_type", "Content-Type must be application/json, got 'text/plain'"))


def test_evolution_reads_refuse_bad_ids_and_parameters(live: LiveServer) -> None:
    long_id = live.request("GET", "/v1/evolution/" + "e" * 257)
    assert (long_id.status, long_id.body) == (400, error(
        "invalid_parameter", "evolution cycle id longer than 256 characters", "id"))
    query = live.request("GET", "/v1/evolution?limit=3")
    assert (query.status, query.body) == (400, error(
        "unknown_parameter", "unknown query parameter 'limit' (this endpoint takes none)", "limit"))
    deleted = live.request("DELETE", "/v1/evolution/evo-1")
    assert (deleted.status, deleted.body) == (405, error("method_not_allowed", "Method Not Allowed"))


def test_unknown_cycle_is_404(live: LiveServer) -> None:
    reply = live.request("GET", "/v1/evolution/evo-999999")
    assert (reply.status, reply.body) == (404, error("not_found", "no evolution cycle 'evo-999999'"))


def test_unknown_definition_is_404_from_the_manager(live: LiveServer) -> None:
    before = cycles_seen(live)
    reply = live.request("POST", "/v1/evolution", {"definition": "no-such-definition"})
    assert reply.status == 404, reply.body
    assert reply.body["error"]["code"] == "not_found"
    assert "no-such-definition" in reply.body["error"]["message"]
    assert cycles_seen(live) == before


def test_a_cycle_runs_to_a_verdict_and_is_listed(live: LiveServer) -> None:
    started = live.request("POST", "/v1/evolution", {
        "definition": "greet", "hypothesis": "a warmer greeting", "generations": 1, "candidates": 2,
    })
    assert started.status == 202, started.body
    cycle_id = started.body["id"]
    basis = started.body.pop("basis")  # what the decision will rest on, said before the cycle runs
    assert started.body == {"id": cycle_id, "status_url": f"/v1/evolution/{cycle_id}"}
    assert (basis["mode"], basis["tests"], basis["fitness_tasks"]) == ("offline", 1, 0)
    assert ": decided offline, without waiting for samples, on 1 test(s)" in basis["summary"]
    assert started.headers["Location"] == f"/v1/evolution/{cycle_id}"
    final = live.run(live.guardian.evolution.wait(cycle_id, timeout=600), timeout=660)
    reply = live.request("GET", f"/v1/evolution/{cycle_id}")
    assert reply.status == 200
    assert reply.headers["Cache-Control"] == "no-store"
    cycle = reply.body
    assert cycle == json.loads(json.dumps(final))
    assert (cycle["id"], cycle["target"], cycle["hypothesis"], cycle["origin"]) == (
        cycle_id, "greet", "a warmer greeting", "operator")
    assert cycle["status"] in TERMINAL and cycle["stage"] == "done"
    assert (cycle["generations"], cycle["canary"]) == (1, False)
    assert cycle["progress"] == 1.0 and cycle["finished"] >= cycle["started"]
    assert cycle["events"] and all(set(e) >= {"time", "message"} for e in cycle["events"])
    assert (cycle["result"] is not None) == (cycle["status"] == "promoted")
    assert cycle["basis"] == basis and cycle["events"][1]["message"] == basis["summary"]
    for candidate in cycle["candidates"]:  # per-candidate progress: where each one stopped, and when
        assert candidate["verdict"] != "pending" and candidate["finished"] >= candidate["started"] > 0
    listed = live.request("GET", "/v1/evolution")
    assert listed.status == 200
    assert listed.body["cycles"][0]["id"] == cycle_id
    metrics = live.request("GET", "/metrics").body
    assert _sample(metrics, "o_guardian_evolution_cycles_total") >= 1


def test_an_operators_own_candidate_is_judged_like_any_other(live: LiveServer) -> None:
    """`candidate`: the operator proposes the source; it still goes through validation
    (here the agent's deftest refuses an impolite greeting) and is recorded as rejected."""
    started = live.request("POST", "/v1/evolution", {
        "definition": "greet", "hypothesis": "blunt", "candidate": '(when-> :name greet (= msg "hello") "stupid")',
    })
    assert started.status == 202, started.body
    cycle = live.run(live.guardian.evolution.wait(started.body["id"], timeout=120), timeout=180)
    (candidate,) = cycle["candidates"]
    assert (cycle["status"], candidate["generator"], candidate["stage"]) == ("rejected", "operator", "tests")
    assert "greeting-is-polite" in candidate["reason"]


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


# -- the manager's refusals and a guardian without one ----------------------------------------


class EvolutionRefused(OLispError):
    """Mirrors `EvolutionError`: an `OLispError` with a string `code`."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class RefusingEvolution:
    """Refuses every start with the configured error; has no cycles."""

    def __init__(self, failure: BaseException) -> None:
        self.failure = failure
        self.started: list[str] = []

    async def start(self, definition: str, **options: Any) -> str:
        self.started.append(definition)
        raise self.failure

    def get(self, cycle_id: str) -> dict[str, Any] | None:
        return None

    def list(self) -> list[dict[str, Any]]:
        return []


@dataclass
class Counters:
    evolution_cycles: int = 4
    evolution_promotions: int = 1
    evolution_rejections: int = 2
    evolution_rollbacks: int = 1


class StandInGuardian:
    """Just enough of a guardian for the app: health, metrics and (optionally) evolution."""

    def __init__(self, evolution: Any = None) -> None:
        if evolution is not None:
            self.evolution = evolution
        self.metrics = Counters()

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        raise AssertionError(f"unexpected request {method}")

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}


@pytest.mark.parametrize(
    ("code", "status"),
    [("bad_request", 400), ("not_found", 404), ("busy", 409), ("unavailable", 503), ("mystery", 500)],
)
def test_evolution_error_codes_pick_the_status(code: str, status: int) -> None:
    manager = RefusingEvolution(EvolutionRefused(f"refused: {code}", code))
    with LiveServer(lambda g: create_app(g, token=TOKEN), StandInGuardian(manager)) as server:
        reply = server.request("POST", "/v1/evolution", {"definition": "greet", "generations": 3})
    assert (reply.status, reply.body) == (status, error(code, f"refused: {code}"))
    assert EVOLUTION_STATUS.get(code, 500) == status
    assert manager.started == ["greet"]
    assert ("Retry-After" in reply.headers) == (status == 503)


def test_the_managers_own_error_class_is_mapped_too() -> None:
    manager = RefusingEvolution(EvolutionError("a cycle is already running", "busy"))
    with LiveServer(lambda g: create_app(g), StandInGuardian(manager)) as server:
        reply = server.request("POST", "/v1/evolution", {"definition": "greet"}, token=None)
    assert (reply.status, reply.body) == (409, error("busy", "a cycle is already running"))


def test_evolution_error_without_a_code_is_500() -> None:
    manager = RefusingEvolution(OLispError("disk on fire"))
    with LiveServer(lambda g: create_app(g), StandInGuardian(manager)) as server:
        reply = server.request("POST", "/v1/evolution", {"definition": "greet"}, token=None)
    assert (reply.status, reply.body) == (500, error("guardian_error", "disk on fire"))


def test_a_guardian_without_evolution_answers_501() -> None:
    with LiveServer(lambda g: create_app(g), StandInGuardian()) as server:
        started = server.request("POST", "/v1/evolution", {"definition": "greet"}, token=None)
        listed = server.request("GET", "/v1/evolution", token=None)
        one = server.request("GET", "/v1/evolution/evo-1", token=None)
    refusal = error("not_implemented", "this guardian does not run evolution cycles")
    assert [(r.status, r.body) for r in (started, listed, one)] == [(501, refusal)] * 3


def test_metrics_export_the_evolution_counters() -> None:
    with LiveServer(lambda g: create_app(g), StandInGuardian()) as server:
        metrics = server.request("GET", "/metrics", token=None).body
    assert [
        _sample(metrics, f"o_guardian_evolution_{name}_total")
        for name in ("cycles", "promotions", "rejections", "rollbacks")
    ] == [4.0, 1.0, 2.0, 1.0]
    assert "# HELP o_guardian_evolution_rollbacks_total Promotions rolled back (canary or probation)." in metrics


def test_metrics_leave_out_counters_the_guardian_lacks(live: LiveServer) -> None:
    metrics = live.request("GET", "/metrics").body
    for name in ("cycles", "promotions", "rejections", "rollbacks"):
        present = hasattr(live.guardian.metrics, f"evolution_{name}")
        assert (f"o_guardian_evolution_{name}_total " in metrics) == present


class AnsweringGuardian(StandInGuardian):
    """Answers `message` and `feedback` with fixed results, recording what it was asked."""

    def __init__(self, message: Any, feedback: Any = None) -> None:
        super().__init__()
        self.answers = {"message": message, "feedback": feedback}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        self.calls.append((method, params))
        return self.answers[method]


def test_message_asks_for_the_reply_id_and_passes_it_on() -> None:
    guardian = AnsweringGuardian({"reply": "hello.", "reply_id": "r-7"})
    with LiveServer(lambda g: create_app(g), guardian) as server:
        reply = server.request("POST", "/v1/messages", {"text": "hello"}, token=None)
    assert (reply.status, reply.body) == (200, {"reply": "hello.", "reply_id": "r-7"})
    assert guardian.calls == [("message", {"text": "hello", "with_id": True})]


def test_a_bare_reply_from_an_older_worker_has_a_null_id() -> None:
    guardian = AnsweringGuardian("hello.")
    with LiveServer(lambda g: create_app(g), guardian) as server:
        reply = server.request("POST", "/v1/messages", {"text": "hello"}, token=None)
    assert (reply.status, reply.body) == (200, {"reply": "hello.", "reply_id": None})


@pytest.mark.parametrize(
    ("body", "forwarded"),
    [
        ({"rating": 1}, {"rating": 1.0, "comment": "", "reply_to": None}),
        ({"rating": -0.25, "comment": "meh", "reply_id": "r-1"}, {"rating": -0.25, "comment": "meh", "reply_to": "r-1"}),
        ({"stars": 1}, {"rating": -1.0, "comment": "", "reply_to": None}),
        ({"stars": 3}, {"rating": 0.0, "comment": "", "reply_to": None}),
        ({"stars": 4, "reply_id": "r-2"}, {"rating": 0.5, "comment": "", "reply_to": "r-2"}),
    ],
)
def test_feedback_is_forwarded_with_stars_mapped_onto_the_rating(
    body: dict[str, Any], forwarded: dict[str, Any]
) -> None:
    guardian = AnsweringGuardian(None, {"id": "f-1"})
    with LiveServer(lambda g: create_app(g), guardian) as server:
        reply = server.request("POST", "/v1/feedback", body, token=None)
    assert (reply.status, reply.body) == (201, {"id": "f-1"})
    assert guardian.calls == [("feedback", forwarded)]


def test_feedback_without_an_id_from_the_guardian_is_500_not_a_fake_201() -> None:
    guardian = AnsweringGuardian(None, {"ok": True})
    with LiveServer(lambda g: create_app(g), guardian) as server:
        reply = server.request("POST", "/v1/feedback", {"rating": 0.5}, token=None)
    assert (reply.status, reply.body) == (500, error(
        "internal_error", "the guardian stored the feedback but returned no id"))


# -- population cycles (issue 13) -----------------------------------------------------------------


class RecordingEvolution(RefusingEvolution):
    """Accepts every start, recording its options; its one cycle shows a population's progress."""

    def __init__(self) -> None:
        super().__init__(AssertionError("unused"))
        self.options: list[dict[str, Any]] = []

    async def start(self, definition: str, **options: Any) -> str:
        self.options.append({"definition": definition, **options})
        return "evo-9"

    def get(self, cycle_id: str) -> dict[str, Any] | None:
        return {"id": cycle_id, "status": "running", "generation": 2, "generations": 5,
                "population": {"run": "r1", "generation": 2, "generations": 5, "evaluations": 60,
                               "evaluations_per_second": 31.5, "best_fitness": {"checks_passed": 4}}}


def test_population_fields_reach_the_manager_as_settings() -> None:
    from o_lisp.guardian._runs import PopulationSettings

    manager = RecordingEvolution()
    with LiveServer(lambda g: create_app(g), StandInGuardian(manager)) as server:
        started = server.request("POST", "/v1/evolution", {
            "definition": "greet", "population": 20, "generations": 5, "islands": 2, "workers": 3, "seed": 7,
            "max_evals": 500}, token=None)
        resumed = server.request("POST", "/v1/evolution", {"definition": "greet", "resume": "r1", "workers": 2},
                                 token=None)
        progress = server.request("GET", "/v1/evolution/evo-9", token=None)
    assert started.status == 202 and resumed.status == 202
    first, second = manager.options
    assert first["population"] == PopulationSettings(population=20, generations=5, islands=2, workers=3, seed=7,
                                                     max_evals=500)
    assert first["resume"] is None
    assert second["resume"] == "r1" and second["population"] == PopulationSettings(workers=2)
    assert progress.body["population"]["evaluations_per_second"] == 31.5
    assert progress.body["population"]["generation"] == 2


def test_resuming_an_unknown_run_is_404_and_starts_nothing(live: LiveServer) -> None:
    before = (requests_seen(live), cycles_seen(live))
    reply = live.request("POST", "/v1/evolution", {"definition": "greet", "resume": "20261205T000000-abcdef"})
    assert reply.status == 404 and reply.body["error"]["code"] == "not_found"
    assert reply.body["error"]["message"].startswith("cannot resume: no run '20261205T000000-abcdef' in ")
    assert reply.body["error"]["message"].endswith("(there are no runs in this data directory)")
    assert (requests_seen(live), cycles_seen(live)) == before
