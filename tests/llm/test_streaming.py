"""Streaming through the OpenAI SDK (server-sent events): text arrives in pieces, tool calls
are assembled from their deltas, a dropped stream is an error, and `o-lisp run --stream`
prints the pieces as they come without printing the reply twice."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from o_lisp._errors import OLispError, ProgramError
from o_lisp.agent import Agent
from o_lisp.cli import main
from o_lisp.guardian._http import create_app
from o_lisp.llm import ModelConfig
from o_lisp.llm._stream import TerminalStream
from tests.llm.fakes import STREAM_PIECE, FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
RESEARCHER = ROOT / "agents" / "researcher.hy"
ANSWER = "According to my notes: the office is on the third floor."


@pytest.fixture
def fake() -> Any:
    server = FakeOpenAI()
    yield server
    server.close()


def _agent(tmp_path: Path, fake: FakeOpenAI) -> Agent:
    brain = ModelConfig("brain", "openai", "streamed", base_url=fake.base_url, retries=0, timeout=10.0)
    agent = Agent.load(RESEARCHER, tmp_path / "data", grants=["llm"], llm_models={"brain": brain})
    assert agent.handle("remember the office is on the third floor") == "Noted."
    return agent


def test_text_arrives_in_pieces_and_tool_calls_are_assembled(fake: FakeOpenAI, tmp_path: Path) -> None:
    agent = _agent(tmp_path, fake)
    pieces: list[str] = []
    agent.llm.on_text = pieces.append
    assert agent.handle("where is the office?") == ANSWER
    assert [request.get("stream") for request in fake.requests] == [True, True]
    assert pieces == [ANSWER[i:i + STREAM_PIECE] for i in range(0, len(ANSWER), STREAM_PIECE)]
    assert agent.state["tool_calls"][-1]["args"] == [{"query": "where is the office?"}]  # from two deltas
    assert agent.state["llm"]["totals"]["input_tokens"] == 22  # the usage event at the end


def test_a_dropped_stream_is_a_server_error(fake: FakeOpenAI, tmp_path: Path) -> None:
    agent = _agent(tmp_path, fake)
    agent.llm.on_text = lambda text: None
    fake.drop_stream = True
    with pytest.raises(ProgramError, match="LLMServerError: openai:streamed: the stream ended before the reply was complete"):
        agent.interpreter.call(agent.llm.chat, [{"role": "user", "content": "hello"}])


def test_the_terminal_stream_shows_a_reply_once() -> None:
    out = io.StringIO()
    stream = TerminalStream(out)
    stream.begin("bot> ")
    stream("Hel")
    stream("lo.")
    assert stream.end("Hello.") is True
    stream.begin("bot> ")
    assert stream.end("Noted.") is False  # nothing streamed: the caller prints the reply
    stream.begin()
    stream("thinking")
    assert stream.end("I cannot think right now") is False  # a different reply is printed after
    assert out.getvalue() == "bot> Hello.\nthinking\n"


def test_o_lisp_run_stream_prints_the_pieces_and_not_the_reply_twice(fake: FakeOpenAI, tmp_path: Path) -> None:
    config = tmp_path / "o-lisp.toml"
    config.write_text(f'[llm.models.brain]\nprovider = "openai"\nmodel = "streamed"\nbase_url = "{fake.base_url}"\n'
                      'retries = 0\n')
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(main, ["run", str(RESEARCHER), "--grant", "llm", "--stream", "-m",
                                           "remember the office is on the third floor", "-m", "where is the office?"])
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    assert result.output == "Noted.\n" + ANSWER + "\n"
    assert [request.get("stream") for request in fake.requests] == [True, True]


# -- POST /v1/messages with "stream": true ------------------------------------------------------


def _events(body: str) -> list[tuple[str, Any]]:
    """Server-sent events: (event name, parsed data), in order."""
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


class StreamingGuardian:
    """The guardian's side, faked: two pieces of text, then the answer or a failure."""

    def __init__(self, failure: BaseException | None = None) -> None:
        self.failure = failure
        self.calls: list[dict[str, Any]] = []
        self.metrics = object()

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}

    async def request(self, method: str, args: dict[str, Any], *, on_text: Any = None) -> Any:
        self.calls.append(dict(args))
        for piece in ("Hel", "lo."):
            on_text(piece)
            await asyncio.sleep(0)
        if self.failure is not None:
            raise self.failure
        return {"reply": "Hello.", "reply_id": "r7"}


class Refused(OLispError):
    code = "timeout"


def _post_stream(guardian: StreamingGuardian, body: dict[str, Any]) -> tuple[int, str, str]:
    async def run() -> tuple[int, str, str]:
        async with TestClient(TestServer(create_app(guardian))) as client:  # type: ignore[arg-type]
            response = await client.post("/v1/messages", json=body)
            return response.status, response.headers.get("Content-Type", ""), await response.text()

    return asyncio.run(run())


def test_a_streamed_message_answers_with_token_events_then_the_reply() -> None:
    guardian = StreamingGuardian()
    status, kind, body = _post_stream(guardian, {"text": "hi", "stream": True})
    assert (status, kind) == (200, "text/event-stream")
    assert _events(body) == [("token", {"text": "Hel"}), ("token", {"text": "lo."}),
                             ("reply", {"reply": "Hello.", "reply_id": "r7"})]
    assert guardian.calls == [{"text": "hi", "with_id": True, "stream": True}]


def test_a_streamed_message_that_fails_ends_with_an_error_event() -> None:
    status, _kind, body = _post_stream(StreamingGuardian(Refused("message timed out after 30 s")),
                                       {"text": "hi", "stream": True})
    assert status == 200  # the status line went out with the first event
    assert _events(body)[-1] == ("error", {"error": {"code": "timeout", "message": "message timed out after 30 s"}})


def test_stream_must_be_a_boolean() -> None:
    status, _kind, body = _post_stream(StreamingGuardian(), {"text": "hi", "stream": "yes"})
    assert status == 400
    assert json.loads(body)["error"] == {"code": "invalid_field", "message": "field 'stream' must be true or false, "
                                                                             "got a string", "field": "stream"}


def test_o_lisp_serve_streams_the_model_s_text_as_server_sent_events(fake: FakeOpenAI, tmp_path: Path) -> None:
    (tmp_path / "o-lisp.toml").write_text(f'[llm.models.brain]\nprovider = "openai"\nmodel = "streamed"\n'
                                          f'base_url = "{fake.base_url}"\nretries = 0\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith(("O_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen([sys.executable, "-m", "o_lisp.cli", "serve", str(RESEARCHER), "--port", "0", "--data",
                                "data", "--grant", "llm"], stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert process.stderr is not None
        seen = [process.stderr.readline()]
        while "o-lisp: serving" not in seen[-1] and seen[-1] and len(seen) < 200:
            seen.append(process.stderr.readline())
        assert "o-lisp: serving" in seen[-1], "".join(seen)
        url = seen[-1].split(" on ", 1)[1].split(" ", 1)[0].rstrip(",")

        def post(body: dict[str, Any]) -> tuple[str, str]:
            request = urllib.request.Request(f"{url}/v1/messages", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.headers["Content-Type"], response.read().decode()

        post({"text": "remember the office is on the third floor"})
        kind, body = post({"text": "where is the office?", "stream": True})
        events = _events(body)
        assert kind == "text/event-stream"
        assert [data["text"] for name, data in events if name == "token"] == \
            [ANSWER[i:i + STREAM_PIECE] for i in range(0, len(ANSWER), STREAM_PIECE)]
        assert events[-1][0] == "reply" and events[-1][1]["reply"] == ANSWER
        assert events[-1][1]["reply_id"].startswith("r")
        assert [request.get("stream") for request in fake.requests] == [True, True]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()


def test_o_lisp_run_streams_by_default_on_a_terminal(fake: FakeOpenAI, tmp_path: Path) -> None:
    import pty

    (tmp_path / "o-lisp.toml").write_text(f'[llm.models.brain]\nprovider = "openai"\nmodel = "streamed"\n'
                                          f'base_url = "{fake.base_url}"\nretries = 0\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith(("O_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT)
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "o_lisp.cli", "run", str(RESEARCHER), "--grant", "llm", "--data",
                               "data", "-m", "remember the office is on the third floor", "-m",
                               "where is the office?"], stdout=secondary, stderr=subprocess.PIPE, env=env,
                              cwd=tmp_path, timeout=300)
        os.close(secondary)
        secondary = -1
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
        if secondary >= 0:
            os.close(secondary)
    assert done.returncode == 0, done.stderr
    assert shown.decode().replace("\r\n", "\n") == "Noted.\n" + ANSWER + "\n"
    assert [request.get("stream") for request in fake.requests] == [True, True]  # streamed without --stream
