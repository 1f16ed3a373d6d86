"""Streaming through the OpenAI SDK (server-sent events): text arrives in pieces, tool calls
are assembled from their deltas, a dropped stream is an error, and `o-lisp run --stream`
prints the pieces as they come without printing the reply twice."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from o_lisp._errors import ProgramError
from o_lisp.agent import Agent
from o_lisp.cli import main
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
