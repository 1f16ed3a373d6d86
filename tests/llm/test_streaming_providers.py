"""Streaming through each SDK against its fake's real wire format: OpenAI and Anthropic
server-sent events, Ollama newline-delimited JSON — text in pieces, tool calls and usage
assembled, a dropped stream an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from o_lisp._errors import ProgramError
from o_lisp.agent import Agent
from o_lisp.llm import ModelConfig
from tests.llm.fakes import STREAM_PIECE, FakeServer

ROOT = Path(__file__).resolve().parents[2]
RESEARCHER = ROOT / "agents" / "researcher.hy"
ANSWER = "According to my notes: the office is on the third floor."


def _agent(fake: FakeServer, tmp_path: Path) -> tuple[Agent, list[str]]:
    brain = ModelConfig("brain", fake.provider, "streamed", base_url=fake.base_url,  # type: ignore[attr-defined]
                        retries=0, timeout=10.0)
    agent = Agent.load(RESEARCHER, tmp_path / "data", grants=["llm"], llm_models={"brain": brain})
    assert agent.handle("remember the office is on the third floor") == "Noted."
    pieces: list[str] = []
    agent.llm.on_text = pieces.append
    return agent, pieces


def test_each_provider_streams_text_and_assembles_tool_calls(fake: FakeServer, tmp_path: Path) -> None:
    agent, pieces = _agent(fake, tmp_path)
    assert agent.handle("where is the office?") == ANSWER
    assert [request.get("stream") for request in fake.requests] == [True, True]
    assert pieces == [ANSWER[i:i + STREAM_PIECE] for i in range(0, len(ANSWER), STREAM_PIECE)]
    assert agent.state["tool_calls"][-1]["args"] == [{"query": "where is the office?"}]
    usage = agent.state["llm"]["totals"]
    assert usage["requests"] == 2 and usage["input_tokens"] > 0 and usage["output_tokens"] > 0


def test_each_provider_reports_a_dropped_stream(fake: FakeServer, tmp_path: Path) -> None:
    agent, _pieces = _agent(fake, tmp_path)
    fake.drop_stream = True  # type: ignore[attr-defined]
    with pytest.raises(ProgramError, match="the stream ended before the reply was complete"):
        agent.interpreter.call(agent.llm.chat, [{"role": "user", "content": "hello"}])
