"""The providers through the real SDKs against local fakes of each wire protocol."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from o_lisp.llm import (
    LLMBadReply,
    LLMError,
    LLMRateLimited,
    LLMRequestError,
    LLMServerError,
    LLMTimeout,
    ModelConfig,
    ToolSpec,
    make_provider,
)
from tests.llm.fakes import ECHO_HEADERS, Failure, FakeServer

RECALL = ToolSpec("recall", "Search the notes.", {"type": "object", "properties": {"query": {"type": "string"}},
                                                  "required": ["query"], "additionalProperties": False})


def config(fake: FakeServer, **options: Any) -> ModelConfig:
    values: dict[str, Any] = {"timeout": 5.0, "retries": 0, **options}
    return ModelConfig("m", fake.provider, "fake-model", base_url=fake.base_url, **values)  # type: ignore[attr-defined]


def ask(fake: FakeServer, text: str = "where is the office?", tools: tuple[ToolSpec, ...] = (), **options: Any) -> Any:
    provider = make_provider(config(fake, **options))
    return provider.complete([{"role": "user", "content": text}], tools=tools, schema=None, timeout=options.get("timeout", 5.0))


def test_a_plain_answer(fake: FakeServer) -> None:
    turn = ask(fake, "hello")
    assert turn.text == "You said: hello"
    assert turn.tool_calls == ()
    assert turn.usage.input_tokens > 0 and turn.usage.output_tokens > 0
    assert fake.requests[0]["model"] == "fake-model"


def test_tools_are_offered_in_the_providers_format_and_calls_come_back(fake: FakeServer) -> None:
    turn = ask(fake, tools=(RECALL,))
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [("recall", {"query": "where is the office?"})]
    offered = fake.requests[0]["tools"][0]
    if fake.provider == "anthropic":  # type: ignore[attr-defined]
        assert offered["input_schema"] == RECALL.parameters
    elif fake.provider == "ollama":  # type: ignore[attr-defined]
        # the ollama SDK's Tool model keeps type, properties and required only
        assert offered["function"]["name"] == "recall"
        assert offered["function"]["parameters"]["properties"] == RECALL.parameters["properties"]
        assert offered["function"]["parameters"]["required"] == ["query"]
    else:
        assert offered == {"type": "function", "function": {"name": "recall", "description": "Search the notes.",
                                                            "parameters": RECALL.parameters}}


def test_tool_results_travel_back_in_the_providers_format(fake: FakeServer) -> None:
    provider = make_provider(config(fake))
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "where is the office?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "name": "recall", "arguments": {"query": "office"}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "recall", "content": json.dumps(["the office is upstairs"])},
    ]
    turn = provider.complete(messages, tools=[RECALL], schema=None, timeout=5.0)
    assert turn.text == "According to my notes: the office is upstairs."
    sent = fake.requests[0]
    if fake.provider == "anthropic":  # type: ignore[attr-defined]
        assert sent["system"] == "be brief"
        assert sent["messages"][1]["content"][0] == {"type": "tool_use", "id": "c1", "name": "recall", "input": {"query": "office"}}
        assert sent["messages"][2]["content"][0]["type"] == "tool_result"
        assert sent["messages"][2]["content"][0]["tool_use_id"] == "c1"
    elif fake.provider == "openai":  # type: ignore[attr-defined]
        assert sent["messages"][2]["tool_calls"][0]["function"] == {"name": "recall", "arguments": '{"query": "office"}'}
        assert sent["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": '["the office is upstairs"]'}
    else:
        assert sent["messages"][2]["tool_calls"][0]["function"] == {"name": "recall", "arguments": {"query": "office"}}
        assert sent["messages"][3]["role"] == "tool" and sent["messages"][3]["tool_name"] == "recall"


def test_a_malformed_body_is_a_bad_reply(fake: FakeServer) -> None:
    fake.fail_next(Failure(200, b"{this is not json"))
    with pytest.raises(LLMBadReply) as caught:
        ask(fake)
    assert fake.provider in str(caught.value) and "fake-model" in str(caught.value)  # type: ignore[attr-defined]


def test_tool_arguments_that_are_not_an_object_are_a_bad_reply(fake: FakeServer) -> None:
    bodies = {
        "openai": {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0,
                   "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "c", "type": "function", "function": {"name": "recall", "arguments": "{not json"}}]}}]},
        "anthropic": {"id": "x", "type": "message", "role": "assistant", "model": "m", "stop_reason": "tool_use",
                      "content": [{"type": "tool_use", "id": "t", "name": "recall", "input": ["a", "list"]}],
                      "usage": {"input_tokens": 1, "output_tokens": 1}},
        "ollama": {"model": "m", "created_at": "2026-01-01T00:00:00Z", "done": True, "message": {
            "role": "assistant", "content": "", "tool_calls": [{"function": {"name": "recall", "arguments": "{not json"}}]}},
    }
    fake.fail_next(Failure(200, json.dumps(bodies[fake.provider]).encode()))  # type: ignore[attr-defined]
    with pytest.raises(LLMBadReply):
        ask(fake, tools=(RECALL,))


def test_a_server_error_names_provider_model_and_status(fake: FakeServer) -> None:
    fake.fail_next(Failure(500, b'{"error": {"message": "boom", "type": "server_error"}}'))
    with pytest.raises(LLMServerError) as caught:
        ask(fake)
    assert caught.value.status == 500
    assert caught.value.provider == fake.provider and caught.value.model == "fake-model"  # type: ignore[attr-defined]
    assert "status 500" in str(caught.value)


def test_500s_are_retried(fake: FakeServer) -> None:
    error = b'{"error": {"message": "boom", "type": "server_error"}}'
    fake.fail_next(Failure(500, error, {"retry-after": "0"}), Failure(503, error, {"retry-after": "0"}))
    turn = ask(fake, "hello", retries=2)
    assert turn.text == "You said: hello"
    assert len(fake.requests) == 3


def test_429_is_retried_after_retry_after(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The retry sleeps exactly the server's Retry-After (the SDKs' retry for OpenAI and
    Anthropic, ours for Ollama): the sleeps are recorded, not waited for."""
    import time

    slept: list[float] = []
    real_sleep = time.sleep

    def record(seconds: float) -> None:
        slept.append(seconds)
        real_sleep(0)

    monkeypatch.setattr(time, "sleep", record)
    fake.fail_next(Failure(429, b'{"error": {"message": "slow down", "type": "rate_limit_error"}}', {"retry-after": "7"}))
    assert ask(fake, "hello", retries=1).text == "You said: hello"
    assert len(fake.requests) == 2
    assert slept == [7.0]


def test_429_after_the_retries_is_rate_limited(fake: FakeServer) -> None:
    fake.fail_next(Failure(429, b'{"error": {"message": "slow down", "type": "rate_limit_error"}}', {"retry-after": "0"}))
    with pytest.raises(LLMRateLimited) as caught:
        ask(fake, retries=0)
    assert caught.value.status == 429


def test_a_slow_server_times_out(fake: FakeServer) -> None:
    fake.fail_next(Failure(delay=3.0))
    with pytest.raises(LLMTimeout) as caught:
        ask(fake, timeout=0.3)
    assert isinstance(caught.value, LLMError)


def test_an_unreachable_server_is_a_server_error(fake: FakeServer) -> None:
    fake.close()
    with pytest.raises(LLMServerError):
        ask(fake)


def test_a_key_never_appears_in_errors_or_logs(fake: FakeServer, monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk-test-SECRET-4f9c2e77"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    monkeypatch.setenv("OLLAMA_API_KEY", secret)
    fake.fail_next(Failure(401, ECHO_HEADERS))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(LLMRequestError) as caught:
        ask(fake)
    seen = json.dumps(fake.headers_seen[-1])
    assert secret in seen  # the key was sent, and the server echoed it back
    assert secret not in str(caught.value)
    assert "[redacted]" in str(caught.value)
    assert secret not in caplog.text


def test_the_sdks_environment_variables_choose_the_server(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    variable = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL", "ollama": "OLLAMA_HOST"}
    monkeypatch.setenv(variable[fake.provider], fake.base_url)  # type: ignore[attr-defined]
    provider = make_provider(ModelConfig("m", fake.provider, "fake-model", timeout=5.0, retries=0))  # type: ignore[attr-defined]
    turn = provider.complete([{"role": "user", "content": "hello"}], tools=[], schema=None, timeout=5.0)
    assert turn.text == "You said: hello" and len(fake.requests) == 1
