"""Fixtures: the three fake provider servers, started per test on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.llm.fakes import FAKES, FakeServer


@pytest.fixture(params=sorted(FAKES))
def fake(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    """Each provider's fake in turn."""
    server = FAKES[request.param]()
    server.provider = request.param  # type: ignore[attr-defined]
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _no_real_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the developer's environment may send a test to a real provider."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN",
                 "OLLAMA_HOST", "OLLAMA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
