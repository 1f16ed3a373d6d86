"""Local model servers for the tests: each speaks one provider's real wire protocol on
127.0.0.1 (OpenAI chat completions, Anthropic messages, Ollama /api/chat), so the real
SDKs are driven against them without network.

Each fake answers like a small tool-using model: a user question with tools offered gets
a call of the first tool with `{"query": QUESTION}`; once a tool result is in the
conversation it answers "According to my notes: RESULT0." (the first item of the result
list). Scripted failures (`fail_next`) come first: a status with headers and body, a
malformed body, or a delay longer than the client's timeout.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ECHO_HEADERS = b"<echo the request headers>"
"""A `Failure.body` that makes the fake answer with the request's headers (keys included)."""


@dataclass
class Failure:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hold: threading.Event | None = None
    """Hold the answer until this is set (at most 60 s): a request in flight for as long as a test needs."""


class FakeServer:
    """A threaded HTTP server on 127.0.0.1:0; subclasses turn a request into a reply."""

    path = ""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.failures: deque[Failure] = deque()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append(body)
                    fake.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                    failure = fake.failures.popleft() if fake.failures else None
                if failure is not None:
                    if failure.delay:
                        time.sleep(failure.delay)
                    if failure.hold is not None:
                        failure.hold.wait(60)
                    if failure.status == 200 and not failure.body:
                        payload, status, headers = fake.answer(body), 200, {}
                    elif failure.body == ECHO_HEADERS:
                        seen = {k: v for k, v in fake.headers_seen[-1].items() if k in ("authorization", "x-api-key")}
                        payload = json.dumps({"error": {"type": "authentication_error", "message": f"bad key: {seen}"}}).encode()
                        status, headers = failure.status, failure.headers
                    else:
                        payload, status, headers = failure.body, failure.status, failure.headers
                else:
                    payload, status, headers = fake.answer(body), 200, {}
                try:
                    self.send_response(status)
                    self.send_header("content-type", fake.content_type(body) if status == 200 else "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail_next(self, *failures: Failure) -> None:
        self.failures.extend(failures)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reply(self, request: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def answer(self, request: dict[str, Any]) -> bytes:
        """The body of a successful answer (JSON; a streaming fake overrides it)."""
        return json.dumps(self.reply(request)).encode()

    def content_type(self, request: dict[str, Any]) -> str:
        return "application/json"

    # -- the little "model" shared by all fakes ----------------------------------------
    @staticmethod
    def decide(question: str, tool: str | None, result: str | None) -> tuple[str, dict[str, Any] | None]:
        """(text, tool call arguments or None)."""
        if tool is not None and result is None:
            return "", {"query": question}
        if result is not None:
            data = json.loads(result)
            first = data[0] if isinstance(data, list) and data else data
            return f"According to my notes: {first}.", None
        return f"You said: {question}", None


class FakeOpenAI(FakeServer):
    """POST /v1/chat/completions (base_url is URL/v1)."""

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def reply(self, request: dict[str, Any]) -> dict[str, Any]:
        messages = request["messages"]
        question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        results = [m["content"] for m in messages if m["role"] == "tool"]
        tool = request["tools"][0]["function"]["name"] if request.get("tools") else None
        text, arguments = self.decide(question, tool, results[-1] if results else None)
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if arguments is not None:
            message["tool_calls"] = [{"id": f"call_{len(self.requests)}", "type": "function",
                                      "function": {"name": tool, "arguments": json.dumps(arguments)}}]
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": request["model"],
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if arguments else "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}


    # -- streaming: server-sent events of chat.completion.chunk objects -----------------
    def content_type(self, request: dict[str, Any]) -> str:
        return "text/event-stream" if request.get("stream") else "application/json"

    def answer(self, request: dict[str, Any]) -> bytes:
        if not request.get("stream"):
            return super().answer(request)
        whole = self.reply(request)
        message = whole["choices"][0]["message"]
        events: list[dict[str, Any]] = []

        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                           "model": whole["model"], "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

        chunk({"role": "assistant", "content": ""})
        text = message.get("content") or ""
        for start in range(0, len(text), STREAM_PIECE):  # a few characters per event
            chunk({"content": text[start:start + STREAM_PIECE]})
        for i, call in enumerate(message.get("tool_calls") or ()):
            arguments = call["function"]["arguments"]
            chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                   "function": {"name": call["function"]["name"], "arguments": arguments[:5]}}]})
            chunk({"tool_calls": [{"index": i, "function": {"arguments": arguments[5:]}}]})
        if not self.drop_stream:
            chunk({}, whole["choices"][0]["finish_reason"])
            events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": whole["model"],
                           "choices": [], "usage": whole["usage"]})
        body = "".join(f"data: {json.dumps(event)}\n\n" for event in events)
        return (body + ("" if self.drop_stream else "data: [DONE]\n\n")).encode()

    drop_stream = False
    """Streaming: end the stream before its last events (a dropped connection)."""


STREAM_PIECE = 8


class FakeAnthropic(FakeServer):
    """POST /v1/messages (base_url is URL)."""

    @property
    def base_url(self) -> str:
        return self.url

    def reply(self, request: dict[str, Any]) -> dict[str, Any]:
        messages = request["messages"]
        question, result = "", None
        for message in messages:
            content = message["content"]
            if message["role"] == "user" and isinstance(content, str):
                question, result = content, None
            elif message["role"] == "user":
                for block in content:
                    if block.get("type") == "tool_result":
                        result = block["content"]
                    elif block.get("type") == "text":
                        question, result = block["text"], None
        tool = request["tools"][0]["name"] if request.get("tools") else None
        text, arguments = self.decide(question, tool, result)
        blocks: list[dict[str, Any]] = []
        if text:
            blocks.append({"type": "text", "text": text})
        if arguments is not None:
            blocks.append({"type": "tool_use", "id": f"toolu_{len(self.requests)}", "name": tool, "input": arguments})
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": request["model"], "content": blocks,
                "stop_reason": "tool_use" if arguments else "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 13, "output_tokens": 5}}


    # -- streaming: the Messages API's server-sent events -------------------------------
    def content_type(self, request: dict[str, Any]) -> str:
        return "text/event-stream" if request.get("stream") else "application/json"

    def answer(self, request: dict[str, Any]) -> bytes:
        if not request.get("stream"):
            return super().answer(request)
        whole = self.reply(request)
        events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": {
            **whole, "content": [], "stop_reason": None, "usage": {"input_tokens": whole["usage"]["input_tokens"],
                                                                 "output_tokens": 0}}})]
        for index, block in enumerate(whole["content"]):
            if block["type"] == "text":
                events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                       "content_block": {"type": "text", "text": ""}}))
                for start in range(0, len(block["text"]), STREAM_PIECE):
                    events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {
                        "type": "text_delta", "text": block["text"][start:start + STREAM_PIECE]}}))
            else:
                events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                    "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
                arguments = json.dumps(block["input"])
                for part in (arguments[:5], arguments[5:]):
                    events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {
                        "type": "input_json_delta", "partial_json": part}}))
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        if not self.drop_stream:
            events.append(("message_delta", {"type": "message_delta", "delta": {
                "stop_reason": whole["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": whole["usage"]["output_tokens"]}}))
            events.append(("message_stop", {"type": "message_stop"}))
        return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()

    drop_stream = False


class FakeOllama(FakeServer):
    """POST /api/chat (host is URL), non-streaming."""

    @property
    def base_url(self) -> str:
        return self.url

    def reply(self, request: dict[str, Any]) -> dict[str, Any]:
        messages = request["messages"]
        question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        results = [m["content"] for m in messages if m["role"] == "tool"]
        tool = request["tools"][0]["function"]["name"] if request.get("tools") else None
        text, arguments = self.decide(question, tool, results[-1] if results else None)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if arguments is not None:
            message["tool_calls"] = [{"function": {"name": tool, "arguments": arguments}}]
        return {"model": request["model"], "created_at": "2026-01-01T00:00:00Z", "message": message, "done": True,
                "done_reason": "stop", "prompt_eval_count": 17, "eval_count": 3}


    # -- streaming: newline-delimited JSON chunks --------------------------------------
    def content_type(self, request: dict[str, Any]) -> str:
        return "application/x-ndjson" if request.get("stream") else "application/json"

    def answer(self, request: dict[str, Any]) -> bytes:
        if not request.get("stream"):
            return super().answer(request)
        whole = self.reply(request)
        message = whole["message"]
        base = {"model": whole["model"], "created_at": whole["created_at"]}
        chunks: list[dict[str, Any]] = []
        text = message["content"]
        for start in range(0, len(text), STREAM_PIECE):
            chunks.append({**base, "message": {"role": "assistant", "content": text[start:start + STREAM_PIECE]},
                           "done": False})
        if message.get("tool_calls"):
            chunks.append({**base, "message": {"role": "assistant", "content": "", "tool_calls": message["tool_calls"]},
                           "done": False})
        if not self.drop_stream:
            chunks.append({**base, "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
                           "prompt_eval_count": whole["prompt_eval_count"], "eval_count": whole["eval_count"]})
        return "".join(json.dumps(chunk) + "\n" for chunk in chunks).encode()

    drop_stream = False


FAKES = {"openai": FakeOpenAI, "anthropic": FakeAnthropic, "ollama": FakeOllama}
