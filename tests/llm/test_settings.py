"""`[llm]` in o-lisp.toml: named models, allowed endpoints, breaker and prices — checked
like every other section, and reaching the agents `o-lisp run` starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from o_lisp._config import ConfigError, parse_config
from o_lisp.cli import main
from o_lisp.llm import LLMSettings, ModelConfig
from tests.llm.fakes import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
RESEARCHER = ROOT / "agents" / "researcher.hy"

GOOD = '''
[llm]
allowed_base_urls = ["http://127.0.0.1:11434"]
breaker_failures = 3
breaker_cooldown = 12.5

[llm.models.brain]
provider = "openai"
model = "gpt-4o-mini"
base_url = "http://127.0.0.1:8000/v1"
temperature = 0.2
max_tokens = 256
timeout = 20
retries = 1
fallback = ["local"]

[llm.models.local]
provider = "ollama"
model = "llama3.2"

[llm.prices."gpt-4o-mini"]
input = 0.15
output = 0.6
'''


def test_a_full_llm_section_becomes_settings() -> None:
    settings = parse_config(GOOD, "o-lisp.toml")["llm", "settings"]
    assert isinstance(settings, LLMSettings)
    assert settings.models["brain"] == ModelConfig("brain", "openai", "gpt-4o-mini", "http://127.0.0.1:8000/v1", 0.2,
                                                   256, 20.0, 1, None, ("local",))
    assert settings.models["local"].provider == "ollama"
    assert settings.allowed_base_urls == ("http://127.0.0.1:11434",)
    assert (settings.breaker_failures, settings.breaker_cooldown) == (3, 12.5)
    price = settings.price("gpt-4o-mini")
    assert price is not None and price.cost(1_000_000, 2_000_000) == pytest.approx(0.15 + 1.2)
    assert settings.allows("http://127.0.0.1:11434/v1") and settings.allows("http://127.0.0.1:11434/")
    assert not settings.allows("http://127.0.0.1:114345") and not settings.allows("http://evil.example/")


@pytest.mark.parametrize(("text", "problem"), [
    ("[llm]\nallowed = []", "o-lisp.toml: unknown key 'allowed' in [llm]"),
    ("[llm]\nallowed_base_urls = \"http://x\"", "[llm] allowed_base_urls: expected a list of http(s) URLs"),
    ("[llm]\nallowed_base_urls = [\"file:///etc\"]", "[llm] allowed_base_urls: expected a list of http(s) URLs"),
    ("[llm]\nmetrics_file = 3", "[llm] metrics_file: expected a non-empty string, got 3 (an integer)"),
    ("[llm]\nbreaker_failures = 0", "[llm] breaker_failures: expected an integer >= 1, got 0"),
    ("[llm]\nbreaker_cooldown = true", "[llm] breaker_cooldown: expected a number > 0, got True (a boolean)"),
    ("[llm.models.b]\nprovider = \"openai\"\nmodel = \"m\"\ncolour = 1", "unknown key 'colour' in [llm.models.b]"),
    ("[llm.models.b]\nprovider = \"openai\"\nmodel = \"m\"\ntimeout = \"20\"",
     "[llm.models.b] timeout: expected a number, got '20' (a string)"),
    ("[llm.models.b]\nprovider = \"openai\"\nmodel = \"m\"\nretries = 1.5",
     "[llm.models.b] retries: expected an integer, got 1.5 (a number)"),
    ("[llm.models.b]\nprovider = \"openai\"\nmodel = \"m\"\nfallback = [1]", "[llm.models.b] fallback: expected a list"),
    ("[llm.models.b]\nprovider = \"nope\"\nmodel = \"m\"", "[llm.models.b]: model b: unknown provider 'nope'"),
    ("[llm.models.b]\nprovider = \"openai\"", "[llm.models.b]: model b: :model is required"),
    ("[llm.models.b]\nprovider = \"openai\"\nmodel = \"m\"\nretries = 11", ":retries must be an integer from 0 to 10"),
    ("[llm]\nmodels = 3", "[llm.models]: expected one table per name"),
    ("[llm.prices.m]\ninput = -1", "[llm.prices.m] input: expected a number >= 0"),
    ("[llm.prices.m]\nin = 1", "unknown key 'in' in [llm.prices.m]"),
    ("[lm]\nx = 1", "unknown section [lm] (known: serve, limits, evolution, capabilities, llm)"),
])
def test_a_bad_llm_section_names_the_file_and_key(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "o-lisp.toml")
    assert str(caught.value).startswith("o-lisp.toml: ")
    assert problem.removeprefix("o-lisp.toml: ") in str(caught.value)


def test_a_bad_llm_section_is_exit_2_on_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "o-lisp.toml"
    config.write_text("[llm.models.brain]\nprovider = \"openai\"\nmodel = \"m\"\ntimeout = -1\n")
    result = CliRunner().invoke(main, ["--config", str(config), "run", str(RESEARCHER), "-m", "hi"])
    assert result.exit_code == 2
    assert f"{config}: [llm.models.brain]: model brain: :timeout must be a positive number" in result.output
    assert "Traceback" not in result.output


def test_o_lisp_run_gives_the_configured_model_to_the_agent(tmp_path: Path) -> None:
    """The researcher declares a scripted `brain`; the file's `brain` wins and reaches the fake."""
    fake = FakeOpenAI()
    try:
        config = tmp_path / "o-lisp.toml"
        name = f"fake-model-{fake.server.server_address[1]}"  # metric labels of this test only
        config.write_text(f'[llm]\nmetrics_file = "llm.prom"\n[llm.models.brain]\nprovider = "openai"\n'
                          f'model = "{name}"\nbase_url = "{fake.base_url}"\nretries = 0\n')
        old = Path.cwd()
        os.chdir(tmp_path)
        try:
            result = CliRunner().invoke(main, ["run", str(RESEARCHER), "--grant", "llm", "-m",
                                               "remember the printer is next to the kitchen", "-m",
                                               "where is the printer?"])
        finally:
            os.chdir(old)
        assert result.exit_code == 0, result.output
        assert result.output == "Noted.\nAccording to my notes: the printer is next to the kitchen.\n"
        assert [r["model"] for r in fake.requests] == [name, name]
        exposed = (tmp_path / "llm.prom").read_text()  # the run's metrics, in Prometheus text format
        assert f'o_lisp_llm_tokens_total{{kind="prompt",model="{name}",provider="openai"}} 22.0' in exposed
        assert f'o_lisp_llm_request_seconds_count{{model="{name}",provider="openai"}} 2.0' in exposed
    finally:
        fake.close()
