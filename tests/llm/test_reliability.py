"""Circuit breakers, fallback chains, custom providers and metrics, through the real SDKs
pointed at the local fakes."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from o_lisp._errors import ProgramError
from o_lisp.agent import Agent
from o_lisp.llm import (
    METRICS_REGISTRY,
    CircuitBreaker,
    LLMCircuitOpen,
    LLMRequestError,
    LLMServerError,
    LLMSettings,
    ModelConfig,
    Price,
)
from o_lisp.llm._breaker import CLOSED, HALF_OPEN, OPEN
from tests.llm.fakes import Failure, FakeAnthropic, FakeOpenAI, FakeServer


def write_agent(tmp_path: Path, body: str) -> Path:
    seed = tmp_path / "agent.hy"
    seed.write_text("(defagent probe :version \"0.1.0\"\n" + textwrap.indent(textwrap.dedent(body), "  ") + ")\n")
    return seed


def model(name: str, fake: FakeServer, provider: str, **options: Any) -> ModelConfig:
    return ModelConfig(name, provider, f"{name}-model", base_url=fake.base_url, timeout=10.0, retries=0, **options)


ECHO = '(defn respond [text] (let [r (llm-chat [{"role" "user" "content" text}] :model "main")] (+ (get r "model") ": " (get r "text"))))'


# -- the breaker itself, on a clock the test moves ---------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_n_failures_half_opens_after_the_cooldown_and_closes_on_success() -> None:
    clock = Clock()
    breaker = CircuitBreaker("openai at http://x", failures=3, cooldown=10.0, clock=clock)
    failure = LLMServerError("boom", status=500)
    for _ in range(2):
        breaker.before("openai", "m")
        breaker.failure(failure)
    assert breaker.state == CLOSED
    breaker.before("openai", "m")
    breaker.failure(failure)
    assert breaker.state == OPEN
    with pytest.raises(LLMCircuitOpen, match=r"openai:m: openai at http://x: circuit open after 3 consecutive "
                                             r"failures; next trial in 10\.0 s"):
        breaker.before("openai", "m")
    clock.now += 10.0
    assert breaker.state == HALF_OPEN
    breaker.before("openai", "m")  # the one trial
    with pytest.raises(LLMCircuitOpen, match="half-open; its trial request is in flight"):
        breaker.before("openai", "m")
    breaker.failure(failure)  # the trial failed: open again, for a whole cooldown
    assert breaker.state == OPEN
    clock.now += 9.9
    with pytest.raises(LLMCircuitOpen, match=r"next trial in 0\.1 s"):
        breaker.before("openai", "m")
    clock.now += 0.1
    breaker.before("openai", "m")
    breaker.success()
    assert breaker.state == CLOSED


def test_a_refused_request_does_not_count_and_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker("p", failures=2, cooldown=5.0, clock=Clock())
    breaker.failure(LLMServerError("boom", status=503))
    breaker.success()
    breaker.failure(LLMServerError("boom", status=503))
    for _ in range(5):
        breaker.failure(LLMRequestError("bad key", status=401))
    assert breaker.state == CLOSED
    breaker.failure(LLMServerError("boom", status=503))
    assert breaker.state == OPEN


# -- through the agent and the SDKs -------------------------------------------------------------


def test_a_failing_model_falls_back_and_its_open_circuit_skips_it(tmp_path: Path) -> None:
    primary, backup = FakeOpenAI(), FakeAnthropic()
    try:
        primary.fail_next(*[Failure(500, b'{"error": {"message": "down"}}')] * 2)
        settings = LLMSettings({"main": model("main", primary, "openai", fallback=("backup",)),
                                "backup": model("backup", backup, "anthropic")},
                               breaker_failures=2, breaker_cooldown=600.0)
        agent = Agent.load(write_agent(tmp_path, ECHO), tmp_path / "data", grants=["llm"], llm_models=settings)
        assert agent.handle("one") == "backup: You said: one"
        assert agent.handle("two") == "backup: You said: two"
        assert len(primary.requests) == 2
        # the primary's circuit is open now: no request reaches it, the fallback answers at once
        assert agent.handle("three") == "backup: You said: three"
        assert len(primary.requests) == 2 and len(backup.requests) == 3
        counted = agent.state.data["metrics"]  # the agent's own per-model counters saw the failures
        assert (counted["llm:main"]["calls"], counted["llm:main"]["errors"]) == (2, 2)
        assert (counted["llm:backup"]["calls"], counted["llm:backup"]["errors"]) == (3, 0)
    finally:
        primary.close()
        backup.close()


def test_without_a_fallback_an_open_circuit_is_an_immediate_error_naming_its_state(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    try:
        fake.fail_next(Failure(503, b'{"error": {"message": "overloaded"}}'))
        settings = LLMSettings({"m": model("m", fake, "openai")}, breaker_failures=1, breaker_cooldown=600.0)
        agent = Agent.load(write_agent(tmp_path, '(defn respond [text] (llm text))'), tmp_path / "data",
                           grants=["llm"], llm_models=settings)
        with pytest.raises(ProgramError, match=r"LLMServerError.*overloaded \(status 503\)"):
            agent.handle("hi")
        with pytest.raises(ProgramError, match=r"LLMCircuitOpen: openai:m-model: openai at .*: circuit open after 1 "
                                               "consecutive failures"):
            agent.handle("hi")
        assert len(fake.requests) == 1
        refusals = METRICS_REGISTRY.get_sample_value("o_lisp_llm_errors_total", {
            "provider": "openai", "model": "m-model", "error": "LLMCircuitOpen"})
        assert refusals is not None and refusals >= 1
    finally:
        fake.close()


def test_a_request_error_does_not_fall_back(tmp_path: Path) -> None:
    primary, backup = FakeOpenAI(), FakeOpenAI()
    try:
        primary.fail_next(Failure(401, b'{"error": {"message": "bad key"}}'))
        settings = LLMSettings({"main": model("main", primary, "openai", fallback=("backup",)),
                                "backup": model("backup", backup, "openai")})
        agent = Agent.load(write_agent(tmp_path, ECHO), tmp_path / "data", grants=["llm"], llm_models=settings)
        with pytest.raises(ProgramError, match=r"LLMRequestError.*bad key \(status 401\)"):
            agent.handle("hi")
        assert backup.requests == []
    finally:
        primary.close()
        backup.close()


def test_defllm_declares_a_fallback_chain(tmp_path: Path) -> None:
    primary, backup = FakeOpenAI(), FakeOpenAI()
    try:
        primary.fail_next(Failure(429, b'{"error": {"message": "slow down"}}', {"retry-after": "0"}))
        seed = write_agent(tmp_path, f'''
            (defllm main :provider "openai" :model "a" :base-url "{primary.base_url}" :retries 0 :fallback ["spare"])
            (defllm spare :provider "openai" :model "b" :base-url "{backup.base_url}" :retries 0)
            ''' + ECHO)
        settings = LLMSettings(allowed_base_urls=(primary.url, backup.url))
        agent = Agent.load(seed, tmp_path / "data", grants=["llm"], llm_models=settings)
        assert agent.handle("hi") == "spare: You said: hi"
        assert [r["model"] for r in primary.requests + backup.requests] == ["a", "b"]
    finally:
        primary.close()
        backup.close()


def test_metrics_count_tokens_latency_errors_and_cost(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    try:
        name = f"metrics-{fake.server.server_address[1]}"  # labels of this test only
        config = ModelConfig("m", "openai", name, base_url=fake.base_url, timeout=10.0, retries=0)
        settings = LLMSettings({"m": config}, prices={name: Price(input=2.0, output=10.0)})
        agent = Agent.load(write_agent(tmp_path, '(defn respond [text] (llm text))'), tmp_path / "data",
                           grants=["llm"], llm_models=settings)
        assert agent.handle("hi") == "You said: hi"
        fake.fail_next(Failure(500, b'{"error": {"message": "down"}}'))
        with pytest.raises(ProgramError):
            agent.handle("hi")

        def sample(metric: str, **labels: str) -> float | None:
            return METRICS_REGISTRY.get_sample_value(metric, {"provider": "openai", "model": name, **labels})

        assert sample("o_lisp_llm_tokens_total", kind="prompt") == 11  # the fake's usage
        assert sample("o_lisp_llm_tokens_total", kind="completion") == 7
        assert sample("o_lisp_llm_request_seconds_count") == 2
        assert sample("o_lisp_llm_errors_total", error="LLMServerError") == 1
        assert sample("o_lisp_llm_cost_usd_total") == pytest.approx((11 * 2.0 + 7 * 10.0) / 1e6)
    finally:
        fake.close()


def test_the_hosts_spare_models_leave_the_agents_only_model_the_default(tmp_path: Path) -> None:
    fake, spare = FakeOpenAI(), FakeOpenAI()
    try:
        seed = write_agent(tmp_path, f'(defllm mine :provider "openai" :model "own" :base-url "{fake.base_url}")\n'
                                     '(defn respond [text] (llm text))')
        settings = LLMSettings({"spare": model("spare", spare, "openai")}, allowed_base_urls=(fake.url,))
        agent = Agent.load(seed, tmp_path / "data", grants=["llm"], llm_models=settings)
        assert agent.handle("hi") == "You said: hi"
        assert [r["model"] for r in fake.requests] == ["own"] and spare.requests == []
    finally:
        fake.close()
        spare.close()
