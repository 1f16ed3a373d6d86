"""Custom providers registered in the entry-point group `o_lisp.llm_providers` by an
installed distribution (here a `*.dist-info` directory on sys.path)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from o_lisp._errors import ProgramError
from o_lisp.agent import Agent
from o_lisp.llm import PROVIDER_GROUP, LLMConfigError, LLMSettings, ModelConfig

PLUGIN = '''
from o_lisp.llm import Turn, Usage

class Shouting:
    def __init__(self, config):
        self.config = config

    def complete(self, messages, *, tools, schema, timeout):
        last = [m["content"] for m in messages if m["role"] == "user"][-1]
        if last == "crash":
            raise RuntimeError("the plug-in broke")
        return Turn(f"{self.config.model}: {last.upper()}", (), Usage(3, 4))

def make(config):
    return Shouting(config)
'''


@pytest.fixture()
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    info = site / "o_lisp_shout-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: o-lisp-shout\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{PROVIDER_GROUP}]\nshout = o_lisp_shout_plugin:make\n")
    (site / "o_lisp_shout_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    return site


def agent_with(tmp_path: Path, body: str, **options: object) -> Agent:
    seed = tmp_path / "agent.hy"
    seed.write_text("(defagent probe :version \"0.1.0\"\n" + textwrap.indent(body, "  ") + ")\n")
    return Agent.load(seed, tmp_path / "data", grants=["llm"], **options)  # type: ignore[arg-type]


def test_an_agent_declares_a_model_of_a_custom_provider(plugin: Path, tmp_path: Path) -> None:
    agent = agent_with(tmp_path, '(defllm m :provider "shout" :model "loud")\n(defn respond [text] (llm text))')
    assert agent.handle("hello") == "loud: HELLO"
    assert agent.state.data["metrics"]["llm:m"]["calls"] == 1


def test_a_custom_providers_own_failure_is_an_llm_error(plugin: Path, tmp_path: Path) -> None:
    agent = agent_with(tmp_path, '(defllm m :provider "shout" :model "loud")\n(defn respond [text] (llm text))')
    with pytest.raises(ProgramError, match="LLMServerError: shout:loud: provider failed: RuntimeError: the plug-in broke"):
        agent.handle("crash")


def test_the_host_gives_a_custom_model(plugin: Path, tmp_path: Path) -> None:
    settings = LLMSettings({"m": ModelConfig("m", "shout", "host")})
    agent = agent_with(tmp_path, '(defn respond [text] (llm text))', llm_models=settings)
    assert agent.handle("hi") == "host: HI"


def test_an_unknown_provider_lists_the_installed_ones(plugin: Path) -> None:
    with pytest.raises(LLMConfigError, match=r"unknown provider 'whisper' .*scripted, shout"):
        ModelConfig("m", "whisper", "x")


def test_without_the_plugin_the_provider_is_unknown() -> None:
    with pytest.raises(LLMConfigError, match="unknown provider 'shout'"):
        ModelConfig("m", "shout", "x")
