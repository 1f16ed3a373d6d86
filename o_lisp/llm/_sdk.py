"""The three SDK providers: OpenAI (and every OpenAI-compatible server), Anthropic, Ollama.

Each translates the neutral messages and tool specs of `_types` into its SDK's request,
and the SDK's answer (or exception) back into a `Turn` (or an `LLMError`). Retries with
backoff on 429/5xx honouring `Retry-After` are the SDKs' own for OpenAI and Anthropic;
the Ollama SDK has none, so `_retrying` does it here, reading `Retry-After` from the
response through an httpx event hook.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from o_lisp.llm._config import ModelConfig
from o_lisp.llm._errors import LLMBadReply, LLMError, LLMServerError, LLMTimeout, error_for_status
from o_lisp.llm._types import Message, ToolCall, ToolSpec, Turn, Usage

T = TypeVar("T")
_EXCERPT = 200


def _arguments(raw: Any, fail: Callable[[str], LLMError]) -> dict[str, Any]:
    """Tool call arguments: a JSON object (given as text by OpenAI, as data by the others)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as error:
            raise fail(f"tool call arguments are not JSON: {error.msg} at {error.pos}") from None
    if not isinstance(raw, dict):
        raise fail(f"tool call arguments must be a JSON object, not {type(raw).__name__}")
    return raw


def _excerpt(text: Any) -> str:
    shown = str(text).replace("\n", " ")
    return shown if len(shown) <= _EXCERPT else shown[:_EXCERPT] + "…"


class _Base:
    provider = ""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config

    def error(self, cls: type[LLMError], message: str, status: int | None = None) -> LLMError:
        return cls(message, provider=self.provider, model=self.config.model, status=status)

    def bad(self, message: str) -> LLMError:
        return self.error(LLMBadReply, message)


# -- OpenAI -------------------------------------------------------------------------------


def _client_options(config: ModelConfig, key_variable: str, send_key: bool) -> dict[str, Any]:
    """An SDK client's options: the key from `key_variable` (a placeholder when there is
    none, or when the endpoint is the agent's choice and must not get it), retries,
    timeout and the base URL."""
    key = (os.environ.get(key_variable) if send_key else None) or "not-needed"
    options: dict[str, Any] = {"api_key": key, "max_retries": config.retries, "timeout": config.timeout}
    if config.base_url:
        options["base_url"] = config.base_url
    return options


class OpenAIProvider(_Base):
    """Chat completions through the `openai` SDK; `base_url` reaches any compatible server
    (vLLM, llama.cpp, LM Studio, Ollama's /v1). Without a key in the environment (or with
    `send_key` False: an endpoint the agent chose) a placeholder is sent: local servers need none."""

    provider = "openai"

    def __init__(self, config: ModelConfig, *, send_key: bool = True) -> None:
        import openai  # optional SDK: imported when a model of this provider is built

        super().__init__(config)
        options = _client_options(config, "OPENAI_API_KEY", send_key)
        self.client = openai.OpenAI(**options)
        self.sdk = openai

    def _request(self, messages: Sequence[Message], tools: Sequence[ToolSpec], schema: dict[str, Any] | None,
                 timeout: float) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.config.model, "messages": [_openai_message(m) for m in messages],
                                   "timeout": timeout}
        if tools:
            request["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                                  "parameters": t.parameters}} for t in tools]
        if schema is not None:
            request["response_format"] = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
        if self.config.temperature is not None:
            request["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            request["max_tokens"] = self.config.max_tokens
        return request

    def _failure(self, error: Exception, timeout: float) -> LLMError:
        """The SDK's exception as an `LLMError` (anything else is re-raised)."""
        sdk = self.sdk
        if isinstance(error, sdk.APITimeoutError):
            return self.error(LLMTimeout, f"no answer within {timeout:g} s")
        if isinstance(error, sdk.APIStatusError):
            return self.error(error_for_status(error.status_code), _excerpt(error.message), error.status_code)
        if isinstance(error, sdk.APIConnectionError):
            return self.error(LLMServerError, f"cannot reach the server: {_excerpt(error)}")
        if isinstance(error, sdk.APIError | ValueError):  # ValueError: the SDK's JSON decoding
            return self.bad(f"malformed reply: {_excerpt(error)}")
        raise error

    def stream(self, messages: Sequence[Message], *, tools: Sequence[ToolSpec], schema: dict[str, Any] | None,
               timeout: float, on_text: Callable[[str], None]) -> Turn:
        """`complete` through the SDK's streaming (server-sent events): `on_text` gets each
        piece of text as it arrives; tool calls and usage are assembled from the deltas."""
        request = self._request(messages, tools, schema, timeout)
        request.update(stream=True, stream_options={"include_usage": True})
        parts: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        used = Usage()
        finished = False
        try:
            for chunk in self.client.chat.completions.create(**request):
                if getattr(chunk, "usage", None):
                    used = Usage(int(chunk.usage.prompt_tokens or 0), int(chunk.usage.completion_tokens or 0))
                for choice in chunk.choices or ():
                    finished = finished or choice.finish_reason is not None
                    delta = choice.delta
                    if delta is None:
                        continue
                    if delta.content:
                        parts.append(delta.content)
                        on_text(delta.content)
                    for call in delta.tool_calls or ():
                        slot = calls.setdefault(int(call.index), {"id": "", "name": "", "arguments": ""})
                        slot["id"] = call.id or slot["id"]
                        if call.function is not None:
                            slot["name"] += call.function.name or ""
                            slot["arguments"] += call.function.arguments or ""
        except Exception as error:
            raise self._failure(error, timeout) from None
        if not finished:
            raise self.error(LLMServerError, "the stream ended before the reply was complete")
        turn_calls = tuple(ToolCall(slot["id"], slot["name"], _arguments(slot["arguments"], self.bad))
                           for _index, slot in sorted(calls.items()))
        return Turn("".join(parts), turn_calls, used)

    def complete(self, messages: Sequence[Message], *, tools: Sequence[ToolSpec], schema: dict[str, Any] | None,
                 timeout: float) -> Turn:
        request = self._request(messages, tools, schema, timeout)
        try:
            response = self.client.chat.completions.create(**request)
        except Exception as error:
            raise self._failure(error, timeout) from None
        choices = getattr(response, "choices", None)
        if not choices:
            raise self.bad("malformed reply: no choices")
        message = choices[0].message
        calls = tuple(
            ToolCall(str(call.id), str(call.function.name), _arguments(call.function.arguments, self.bad))
            for call in (message.tool_calls or ())
        )
        usage = response.usage
        used = Usage(int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)) if usage else Usage()
        return Turn(message.content or "", calls, used)


def _openai_message(message: Message) -> dict[str, Any]:
    role = message["role"]
    if role == "tool":
        return {"role": "tool", "tool_call_id": message["tool_call_id"], "content": message["content"]}
    out: dict[str, Any] = {"role": role, "content": message.get("content") or ""}
    if message.get("tool_calls"):
        out["content"] = message.get("content") or None
        out["tool_calls"] = [{"id": c["id"], "type": "function",
                              "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                             for c in message["tool_calls"]]
    return out


# -- Anthropic ----------------------------------------------------------------------------

ANTHROPIC_MAX_TOKENS = 1024
"""Anthropic requires `max_tokens`; this is the default when the model does not set it."""


class AnthropicProvider(_Base):
    """Messages API through the `anthropic` SDK (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`)."""

    provider = "anthropic"

    def __init__(self, config: ModelConfig, *, send_key: bool = True) -> None:
        import anthropic  # optional SDK: imported when a model of this provider is built

        super().__init__(config)
        options = _client_options(config, "ANTHROPIC_API_KEY", send_key)
        self.client = anthropic.Anthropic(**options)
        self.sdk = anthropic

    def _request(self, messages: Sequence[Message], tools: Sequence[ToolSpec], schema: dict[str, Any] | None,
                 timeout: float) -> dict[str, Any]:
        system = [str(m["content"]) for m in messages if m["role"] == "system"]
        if schema is not None:
            system.append("Answer with only a JSON value matching this JSON Schema, no other text: " + json.dumps(schema))
        request: dict[str, Any] = {"model": self.config.model, "messages": _anthropic_messages(messages),
                                   "max_tokens": self.config.max_tokens or ANTHROPIC_MAX_TOKENS, "timeout": timeout}
        if system:
            request["system"] = "\n\n".join(system)
        if tools:
            request["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                                for t in tools]
        if self.config.temperature is not None:
            request["extra_body"] = {"temperature": self.config.temperature}
        return request

    def _failure(self, error: Exception, timeout: float) -> LLMError:
        """The SDK's exception as an `LLMError` (anything else is re-raised)."""
        sdk = self.sdk
        if isinstance(error, sdk.APITimeoutError):
            return self.error(LLMTimeout, f"no answer within {timeout:g} s")
        if isinstance(error, sdk.APIStatusError):
            return self.error(error_for_status(error.status_code), _excerpt(error.message), error.status_code)
        if isinstance(error, sdk.APIConnectionError):
            return self.error(LLMServerError, f"cannot reach the server: {_excerpt(error)}")
        if isinstance(error, sdk.APIError | ValueError):  # ValueError: the SDK's JSON decoding
            return self.bad(f"malformed reply: {_excerpt(error)}")
        raise error

    def complete(self, messages: Sequence[Message], *, tools: Sequence[ToolSpec], schema: dict[str, Any] | None,
                 timeout: float) -> Turn:
        request = self._request(messages, tools, schema, timeout)
        try:
            response = self.client.messages.create(**request)
        except Exception as error:
            raise self._failure(error, timeout) from None
        return self._turn(response)

    def stream(self, messages: Sequence[Message], *, tools: Sequence[ToolSpec], schema: dict[str, Any] | None,
               timeout: float, on_text: Callable[[str], None]) -> Turn:
        """`complete` through the SDK's streaming (server-sent events): `on_text` gets each
        text delta; the final message (tool calls, usage) is the SDK's accumulation."""
        request = self._request(messages, tools, schema, timeout)
        try:
            with self.client.messages.stream(**request) as stream:
                for text in stream.text_stream:
                    on_text(text)
                response = stream.get_final_message()
        except Exception as error:
            raise self._failure(error, timeout) from None
        if getattr(response, "stop_reason", None) is None:
            raise self.error(LLMServerError, "the stream ended before the reply was complete")
        return self._turn(response)

    def _turn(self, response: Any) -> Turn:
        content = getattr(response, "content", None)
        if not isinstance(content, list):
            raise self.bad("malformed reply: no content blocks")
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in content:
            kind = getattr(block, "type", None)
            if kind == "text":
                texts.append(str(block.text))
            elif kind == "tool_use":
                calls.append(ToolCall(str(block.id), str(block.name), _arguments(block.input, self.bad)))
        usage = response.usage
        used = Usage(int(usage.input_tokens or 0), int(usage.output_tokens or 0)) if usage else Usage()
        return Turn("".join(texts), tuple(calls), used)


def _anthropic_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Neutral messages → Anthropic's: tool results become `tool_result` blocks of a user
    message (consecutive ones merged), tool calls `tool_use` blocks of the assistant's."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        if role == "system":
            continue
        if role == "tool":
            block = {"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": message["content"]}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
            continue
        if role == "assistant" and message.get("tool_calls"):
            blocks: list[dict[str, Any]] = []
            if message.get("content"):
                blocks.append({"type": "text", "text": message["content"]})
            blocks += [{"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["arguments"]}
                       for c in message["tool_calls"]]
            out.append({"role": "assistant", "content": blocks})
            continue
        out.append({"role": role, "content": str(message.get("content") or "")})
    return out


# -- Ollama -------------------------------------------------------------------------------


class OllamaProvider(_Base):
    """Ollama's native `/api/chat` through the `ollama` SDK (`OLLAMA_HOST`)."""

    provider = "ollama"

    def __init__(self, config: ModelConfig, *, send_key: bool = True) -> None:
        import ollama  # optional SDK: imported when a model of this provider is built

        super().__init__(config)
        self.sdk = ollama
        self._retry_after = threading.local()
        options: dict[str, Any] = {"timeout": config.timeout, "event_hooks": {"response": [self._remember_retry_after]}}
        self.client = ollama.Client(host=config.base_url, **options)
        if not send_key:  # the SDK adds OLLAMA_API_KEY by itself; take it off its httpx client
            self.client._client.headers.pop("authorization", None)

    def _remember_retry_after(self, response: Any) -> None:
        self._retry_after.value = response.headers.get("retry-after")

    def _request(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                 schema: dict[str, Any] | None) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.config.model, "messages": [_ollama_message(m) for m in messages]}
        if tools:
            request["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                                  "parameters": t.parameters}} for t in tools]
        if schema is not None:
            request["format"] = schema
        options: dict[str, Any] = {}
        if self.config.temperature is not None:
            options["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            options["num_predict"] = self.config.max_tokens
        if options:
            request["options"] = options
        return request

    def complete(self, messages: Sequence[Message], *, tools: Sequence[ToolSpec], schema: dict[str, Any] | None,
                 timeout: float) -> Turn:
        request = self._request(messages, tools, schema)
        response = _retrying(lambda: self._once(lambda: self.client.chat(**request)), self.config.retries, self._delay)
        message = getattr(response, "message", None)
        if message is None:
            raise self.bad("malformed reply: no message")
        calls = tuple(
            ToolCall(f"call_{i}", str(call.function.name), _arguments(call.function.arguments, self.bad))
            for i, call in enumerate(message.tool_calls or ())
        )
        used = Usage(int(getattr(response, "prompt_eval_count", 0) or 0), int(getattr(response, "eval_count", 0) or 0))
        return Turn(message.content or "", calls, used)

    def stream(self, messages: Sequence[Message], *, tools: Sequence[ToolSpec], schema: dict[str, Any] | None,
               timeout: float, on_text: Callable[[str], None]) -> Turn:
        """`complete` through the SDK's streaming (NDJSON chunks): `on_text` gets each piece
        of text; tool calls and the counts come from the chunks. Retried (429, 5xx) only
        until the first chunk arrived."""
        request = {**self._request(messages, tools, schema), "stream": True}

        def first() -> tuple[Any, Any]:
            chunks = iter(self.client.chat(**request))
            return next(chunks, None), chunks

        head, chunks = _retrying(lambda: self._once(first), self.config.retries, self._delay)
        parts: list[str] = []
        calls: list[ToolCall] = []
        used = Usage()
        done = False
        chunk = head
        while chunk is not None:
            message = getattr(chunk, "message", None)
            if message is not None:
                if message.content:
                    parts.append(message.content)
                    on_text(message.content)
                for call in message.tool_calls or ():
                    calls.append(ToolCall(f"call_{len(calls)}", str(call.function.name),
                                          _arguments(call.function.arguments, self.bad)))
            if getattr(chunk, "done", False):
                done = True
                used = Usage(int(getattr(chunk, "prompt_eval_count", 0) or 0), int(getattr(chunk, "eval_count", 0) or 0))
            chunk = self._once(lambda: next(chunks, None))
        if not done:
            raise self.error(LLMServerError, "the stream ended before the reply was complete")
        return Turn("".join(parts), tuple(calls), used)

    def _once(self, call: Callable[[], T]) -> T:
        import httpx  # comes with the ollama SDK, which is optional

        self._retry_after.value = None
        try:
            return call()
        except self.sdk.ResponseError as error:
            status = error.status_code if error.status_code > 0 else None
            raise self.error(error_for_status(status), _excerpt(error.error), status) from None
        except httpx.TimeoutException:
            raise self.error(LLMTimeout, f"no answer within {self.config.timeout:g} s") from None
        except (httpx.HTTPError, ConnectionError) as error:
            raise self.error(LLMServerError, f"cannot reach the server: {_excerpt(error)}") from None
        except (ValueError, TypeError, KeyError) as error:  # the SDK's JSON and model parsing
            raise self.bad(f"malformed reply: {_excerpt(error)}") from None

    def _delay(self, attempt: int) -> float:
        return _backoff(attempt, getattr(self._retry_after, "value", None))


MAX_RETRY_AFTER = 60.0


def _backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds before retry `attempt` (0-based): the server's `Retry-After` (seconds, up to a
    minute) when given, else exponential backoff with jitter (0.5 s, 1 s, 2 s... up to 8 s)."""
    if retry_after:
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = -1.0
        if 0 <= seconds <= MAX_RETRY_AFTER:
            return seconds
    return float(min(0.5 * 2**attempt, 8.0) * (0.75 + random.random() / 2))


def _retrying(call: Callable[[], T], retries: int, delay: Callable[[int], float]) -> T:
    """`call()`, retried up to `retries` times on 429, 5xx and unreachable servers."""
    attempt = 0
    while True:
        try:
            return call()
        except LLMError as error:
            retriable = error.status == 429 or (error.status is not None and error.status >= 500) or (
                error.status is None and type(error) is LLMServerError)
            if not retriable or attempt >= retries:
                raise
            time.sleep(delay(attempt))
            attempt += 1


def _ollama_message(message: Message) -> dict[str, Any]:
    role = message["role"]
    if role == "tool":
        return {"role": "tool", "content": message["content"], "tool_name": message.get("name", "")}
    out: dict[str, Any] = {"role": role, "content": str(message.get("content") or "")}
    if message.get("tool_calls"):
        out["tool_calls"] = [{"function": {"name": c["name"], "arguments": c["arguments"]}} for c in message["tool_calls"]]
    return out


__all__ = ["AnthropicProvider", "OllamaProvider", "OpenAIProvider"]
