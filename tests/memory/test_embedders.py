"""Embedders: the deterministic hashing default and the HTTP embedder against a local fake server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from o_lisp.memory import (
    HashingEmbedder,
    HTTPEmbedder,
    MemoryConfig,
    MemoryConfigError,
    MemoryEmbedderError,
    MemoryStore,
    make_embedder,
)


def test_hashing_embedder_is_normalised_and_deterministic_across_processes() -> None:
    emb = HashingEmbedder(64)
    vecs = emb.embed(["The cat sat on the mat.", "", "the of and"])
    assert vecs.shape == (3, 64) and vecs.dtype == np.float32
    assert abs(float(np.linalg.norm(vecs[0])) - 1.0) < 1e-6
    assert not vecs[1].any() and not vecs[2].any()  # no content words: zero vector
    code = (
        "from o_lisp.memory import HashingEmbedder;"
        "print(HashingEmbedder(64).embed(['The cat sat on the mat.'])[0].tobytes().hex())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == vecs[0].tobytes().hex()


def test_hashing_embedder_ranks_shared_words_high() -> None:
    emb = HashingEmbedder(384)
    a, b, c = emb.embed(
        [
            "The deployment pipeline failed because the database migration timed out",
            "why did the database migration time out in the deployment?",
            "Alice prefers green tea with honey in the morning",
        ]
    )
    assert float(a @ b) > 0.4
    assert float(a @ b) > float(a @ c) + 0.3
    # Inflections share trigrams: "migrations" is close to "migration".
    m1, m2 = emb.embed(["migration", "migrations"])
    assert float(m1 @ m2) > 0.8


class FakeEmbeddingServer:
    """A local HTTP server speaking the OpenAI and Ollama embedding wire formats."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.mode = "ok"
        self.fail_first = 0
        """How many requests get a 503 with `Retry-After: 0` before the mode applies."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append((self.path, body, dict(self.headers)))
                vectors = [outer.vector(text) for text in body["input"]]
                if outer.fail_first > 0:
                    outer.fail_first -= 1
                    self._send(503, b'{"error": "warming up"}', {"Retry-After": "0"})
                elif outer.mode == "echo":
                    self._send(401, json.dumps({"error": f"bad key: {self.headers.get('Authorization')}"}).encode())
                elif outer.mode == "500":
                    self._send(500, b'{"error": "model exploded"}')
                elif outer.mode == "badjson":
                    self._send(200, b"{not json")
                elif outer.mode == "wrongdim":
                    self._send(200, json.dumps({"embeddings": [[1.0, 2.0]] * len(vectors), "data": [{"embedding": [1.0, 2.0]}] * len(vectors)}).encode())
                elif outer.mode == "short":
                    self._send(200, json.dumps({"embeddings": [], "data": []}).encode())
                elif self.path == "/v1/embeddings":
                    # Out of order on purpose: clients must sort by "index".
                    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
                    self._send(200, json.dumps({"object": "list", "data": data[::-1]}).encode())
                elif self.path == "/api/embed":
                    self._send(200, json.dumps({"model": body["model"], "embeddings": vectors}).encode())
                else:
                    self._send(404, b"not found")

            def _send(self, code: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def vector(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        for i, ch in enumerate(text):
            v[(ord(ch) + i) % self.dim] += 1.0
        return v


@pytest.fixture
def server() -> Iterator[FakeEmbeddingServer]:
    fake = FakeEmbeddingServer(dim=8)
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_http_embedder_both_wire_formats(server: FakeEmbeddingServer, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    spec: dict[str, Any] = {"kind": kind, "url": server.url + "/", "model": "m1", "batch_size": 2}
    if kind == "openai":
        spec["api_key_env"] = "FAKE_KEY"
    emb = make_embedder(spec, 8)
    texts = ["alpha", "beta", "gamma"]
    out = emb.embed(texts)
    expected = np.array([server.vector(t) for t in texts], dtype=np.float64)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    paths = [p for p, _, _ in server.requests]
    assert paths == ["/v1/embeddings" if kind == "openai" else "/api/embed"] * 2  # batches of 2
    sent = server.requests[0][1]
    assert (sent["model"], sent["input"]) == ("m1", ["alpha", "beta"])
    assert set(sent) <= {"model", "input", "encoding_format"}  # the openai SDK asks for floats
    if kind == "openai":
        headers = {k.lower(): v for k, v in server.requests[0][2].items()}  # HTTP headers: any case
        assert headers["authorization"] == "Bearer sk-test"


def test_store_with_http_embedder_records_embeddings_in_payload(server: FakeEmbeddingServer) -> None:
    cfg = MemoryConfig(dim=8, embedder={"kind": "ollama", "url": server.url, "model": "m"})
    store = MemoryStore(cfg)
    payload = store.prepare_add("hello world", now=1.0, id_prefix="h")
    calls = len(server.requests)
    replica = MemoryStore(cfg)
    replica.apply(payload)  # applying never calls the service: the payload carries the vectors
    assert len(server.requests) == calls
    assert replica.get("h-0") is not None


@pytest.mark.parametrize(
    ("mode", "message"),
    [("500", "HTTP 500.*model exploded"), ("badjson", "invalid JSON"), ("wrongdim", "dimension 2.*dim=8"), ("short", "sent 1 texts, got 0")],
)
@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_http_embedder_errors(server: FakeEmbeddingServer, kind: str, mode: str, message: str) -> None:
    server.mode = mode
    emb = HTTPEmbedder(kind, server.url, "m", 8, timeout=5)
    with pytest.raises(MemoryEmbedderError, match=message):
        emb.embed(["x"])


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_http_embedder_retries_503_then_answers(server: FakeEmbeddingServer, kind: str) -> None:
    """Through the SDK clients: the openai SDK's own retries, ours for ollama (Retry-After: 0)."""
    server.fail_first = 2
    emb = make_embedder({"kind": kind, "url": server.url, "model": "m", "retries": 2}, 8)
    out = emb.embed(["alpha"])
    assert out.shape == (1, 8) and len(server.requests) == 3
    server.fail_first = 2
    once = HTTPEmbedder(kind, server.url, "m", 8, retries=1)
    with pytest.raises(MemoryEmbedderError, match=r"HTTP 503.*warming up"):
        once.embed(["alpha"])
    assert len(server.requests) == 5 and server.fail_first == 0
    assert once.spec()["retries"] == 1 and "retries" not in emb.spec()


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_an_echoed_key_never_reaches_the_error(server: FakeEmbeddingServer, kind: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-ECHOED-4242")
    server.mode = "echo"
    emb = HTTPEmbedder(kind, server.url, "m", 8, api_key_env="FAKE_KEY", retries=0)
    with pytest.raises(MemoryEmbedderError, match="HTTP 401") as caught:
        emb.embed(["x"])
    assert "sk-test-ECHOED-4242" not in str(caught.value)
    assert "[redacted]" in str(caught.value)  # the server did echo it


def test_http_embedder_bad_retries() -> None:
    with pytest.raises(MemoryConfigError, match="retries must be an integer from 0 to 10"):
        make_embedder({"kind": "ollama", "url": "http://x", "model": "m", "retries": -1}, 8)


def test_http_embedder_unreachable_and_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    emb = HTTPEmbedder("ollama", "http://127.0.0.1:9", "m", 8, timeout=2)
    with pytest.raises(MemoryEmbedderError, match="cannot reach"):
        emb.embed(["x"])
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    keyed = HTTPEmbedder("openai", "http://127.0.0.1:9", "m", 8, api_key_env="NO_SUCH_KEY_VAR")
    with pytest.raises(MemoryEmbedderError, match="NO_SUCH_KEY_VAR"):
        keyed.embed(["x"])


def test_http_embedder_bad_construction() -> None:
    with pytest.raises(MemoryConfigError, match="timeout"):
        HTTPEmbedder("openai", "http://x", "m", 8, timeout=0)
    with pytest.raises(MemoryConfigError, match="model"):
        HTTPEmbedder("openai", "http://x", "", 8)
    with pytest.raises(MemoryConfigError, match="unknown HTTP embedder kind"):
        HTTPEmbedder("cohere", "http://x", "m", 8)
    with pytest.raises(MemoryConfigError, match="dim"):
        MemoryStore(MemoryConfig(dim=16), embedder=HashingEmbedder(8))
