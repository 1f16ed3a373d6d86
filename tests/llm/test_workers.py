"""`[llm]` under `o-lisp serve`: the settings reach the workers, their model-call metrics
reach the guardian's `/metrics`; shadows reuse the live arm's recorded replies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from o_lisp.agent import Agent, AgentState
from o_lisp.agent._agent import _memory_from_data
from o_lisp.guardian._protocol import WorkerSpec
from o_lisp.llm import LLMSettings, ModelConfig
from o_lisp.llm._settings import parse_llm_table
from tests.llm.fakes import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
RESEARCHER = ROOT / "agents" / "researcher.hy"


@pytest.fixture
def fake() -> Any:
    server = FakeOpenAI()
    yield server
    server.close()


def test_settings_travel_in_a_worker_spec() -> None:
    settings = parse_llm_table({"daily_token_budget": 500, "shadow_replies": "own", "models": {
        "brain": {"provider": "scripted", "script": "brain.json", "fallback": ["spare"]},
        "spare": {"provider": "openai", "model": "m", "max_tokens_per_request": 40}},
        "prices": {"m": {"input": 0.1, "output": 0.2}}})
    resolved = settings.resolved(Path("/srv/o"))
    spec = WorkerSpec.from_json(WorkerSpec(agent="a.hy", data_dir="d", llm=resolved.to_json()).to_json())
    back = LLMSettings.from_json(spec.llm)
    assert back == resolved
    assert back.models["brain"].script == "/srv/o/brain.json"
    assert (back.daily_token_budget, back.shadow_replies, back.models["spare"].max_tokens_per_request) == (500, "own", 40)


def _serve(tmp_path: Path, fake: FakeOpenAI) -> tuple[subprocess.Popen[str], str]:
    (tmp_path / "o-lisp.toml").write_text(f'[llm]\n[llm.models.brain]\nprovider = "openai"\nmodel = "served-model"\n'
                                          f'base_url = "{fake.base_url}"\nretries = 0\n'
                                          '[llm.prices.served-model]\ninput = 1000.0\noutput = 2000.0\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith(("O_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen([sys.executable, "-m", "o_lisp.cli", "serve", str(RESEARCHER), "--port", "0", "--data",
                                "data", "--grant", "llm"], stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    assert process.stderr is not None
    seen = [process.stderr.readline()]
    while "o-lisp: serving" not in seen[-1] and seen[-1] and len(seen) < 200:
        seen.append(process.stderr.readline())
    assert "o-lisp: serving" in seen[-1], "".join(seen)
    return process, seen[-1].split(" on ", 1)[1].split(" ", 1)[0].rstrip(",")


def _post(url: str, text: str) -> Any:
    request = urllib.request.Request(f"{url}/v1/messages", data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def test_serve_gives_the_llm_section_to_its_worker_and_shows_its_metrics(fake: FakeOpenAI, tmp_path: Path) -> None:
    """The researcher declares a scripted `brain`; o-lisp.toml's `brain` (the fake) wins in the worker too."""
    process, url = _serve(tmp_path, fake)
    try:
        assert _post(url, "remember the printer is next to the kitchen")["reply"] == "Noted."
        assert _post(url, "where is the printer?")["reply"] == "According to my notes: the printer is next to the kitchen."
        assert [r["model"] for r in fake.requests] == ["served-model", "served-model"]
        with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
            exposed = response.read().decode()
        assert "o_guardian_requests_total" in exposed  # the guardian's own, and the worker's:
        assert 'o_lisp_llm_tokens_total{kind="prompt",model="served-model",provider="openai"} 22.0' in exposed
        assert 'o_lisp_llm_request_seconds_count{model="served-model",provider="openai"} 2.0' in exposed
        # 2 x (11 input x 1000 + 7 output x 2000) per million tokens
        assert 'o_lisp_llm_cost_usd_total{model="served-model",provider="openai"} 0.05' in exposed
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


# -- shadows ----------------------------------------------------------------------------------


def _pair(tmp_path: Path, fake: FakeOpenAI, **shadow_settings: Any) -> tuple[Agent, Agent]:
    """The live agent and a shadow on a copy of its state, sharing one reply directory."""
    brain = ModelConfig("brain", "openai", "shadowed", base_url=fake.base_url, retries=0, timeout=10.0)
    live = Agent.load(RESEARCHER, tmp_path / "live", grants=["llm"], llm_models={"brain": brain})
    live.llm.share_replies(tmp_path / "replies", shadow=False)
    assert live.handle("remember the office is on the third floor") == "Noted."
    settings = LLMSettings({"brain": brain}, **{"shadow_wait": 0.2, **shadow_settings})
    shadow = Agent.load(RESEARCHER, tmp_path / "shadow", grants=["llm"], llm_models=settings,
                        state=AgentState.from_data(live.state.to_data(), _memory_from_data))
    shadow.llm.share_replies(tmp_path / "replies", shadow=True)
    return live, shadow


def test_a_shadow_reuses_the_live_arm_s_replies_and_never_bills(fake: FakeOpenAI, tmp_path: Path) -> None:
    live, shadow = _pair(tmp_path, fake)
    answer = "According to my notes: the office is on the third floor."
    assert live.handle("where is the office?") == answer
    assert len(fake.requests) == 2
    assert shadow.handle("where is the office?") == answer  # both rounds from the live arm's record
    assert len(fake.requests) == 2
    refused = shadow.handle("where is lunch?")  # a request the live arm never made
    assert refused is not None and "a shadow does not call the provider ([llm] shadow_replies = \"reuse\")" in refused
    assert len(fake.requests) == 2


def test_a_shadow_with_its_own_budget_pays_only_for_what_the_live_arm_did_not_ask(fake: FakeOpenAI,
                                                                                  tmp_path: Path) -> None:
    live, shadow = _pair(tmp_path, fake, shadow_replies="own", shadow_token_budget=30)
    assert live.handle("where is the office?").startswith("According to my notes")
    assert shadow.handle("where is the office?").startswith("According to my notes")
    assert len(fake.requests) == 2  # reused, not paid for
    assert shadow.handle("where is lunch?").startswith("According to my notes")  # its own: 2 requests, 36 tokens
    assert (len(fake.requests), shadow.llm.shadow_spent) == (4, 36)
    refused = shadow.handle("where is the exit?")
    assert refused is not None and "shadow_token_budget ([llm]) of this shadow exceeded: it spent 36 tokens" in refused
    assert len(fake.requests) == 4
