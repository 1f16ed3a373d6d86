"""Token and cost budgets: per request and per UTC day, from `[llm]` and from `defllm`,
checked before a request when predictable and after each reply, the day's usage kept in
the agent's state (a restart does not reset it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from o_lisp._config import parse_config
from o_lisp.agent import Agent, AgentState
from o_lisp.llm import METRICS_REGISTRY, LLMBudgetError, LLMError, LLMSettings, ModelConfig
from o_lisp.llm._budget import estimated_tokens, utc_day
from o_lisp.llm._settings import SettingError, parse_llm_table
from tests.llm.fakes import FakeOpenAI

DAY = 1_796_000_000.0  # 2026-11-30 (UTC), noon-ish
REPLY_TOKENS = 18  # the fake's usage: 11 prompt + 7 completion


class Clock:
    def __init__(self) -> None:
        self.now = DAY

    def __call__(self) -> float:
        return self.now


def _seed(tmp_path: Path, defllm_options: str = "") -> Path:
    tmp_path.mkdir(exist_ok=True)
    seed = tmp_path / "thrifty.hy"
    seed.write_text(f"""\
(defagent thrifty
  :version "0.1.0"
  (defllm brain :provider "openai" :model "m" {defllm_options})
  (defn respond [text]
    (try
      (llm text)
      (except [e LLMBudgetError]
        (+ "over budget: " (str e))))))
""")
    return seed


@pytest.fixture
def fake() -> Any:
    server = FakeOpenAI()
    yield server
    server.close()


def _agent(tmp_path: Path, fake: FakeOpenAI, settings: LLMSettings | None = None, defllm_options: str = "",
           clock: Clock | None = None, state: AgentState | None = None) -> Agent:
    model = f"budget-{fake.server.server_address[1]}"
    base = ModelConfig("brain", "openai", model, base_url=fake.base_url, retries=0, timeout=10.0)
    if defllm_options:  # the agent's own declaration (its budgets), pointed at the fake by the operator
        settings = settings or LLMSettings(allowed_base_urls=(fake.base_url,))
        options = defllm_options + f' :base-url "{fake.base_url}" :retries 0'
        return Agent.load(_seed(tmp_path, options), tmp_path / "data", grants=["llm"], llm_models=settings,
                          clock=clock or Clock(), state=state)
    models = {"brain": base}
    settings = LLMSettings(models, **{k: getattr(settings, k) for k in (
        "max_tokens_per_request", "daily_token_budget", "daily_cost_budget", "prices")}) if settings else \
        LLMSettings(models)
    return Agent.load(_seed(tmp_path), tmp_path / "data", grants=["llm"], llm_models=settings,
                      clock=clock or Clock(), state=state)


def test_a_request_whose_prompt_is_over_the_budget_is_refused_before_it_is_sent(fake: FakeOpenAI,
                                                                               tmp_path: Path) -> None:
    agent = _agent(tmp_path, fake, LLMSettings(max_tokens_per_request=5))
    reply = agent.handle("tell me everything about the history of the office building please")
    assert reply is not None and reply.startswith("over budget: ")
    assert "max_tokens_per_request ([llm]) of agent thrifty exceeded" in reply
    assert fake.requests == []


def test_a_reply_over_the_request_budget_is_recorded_and_not_used(fake: FakeOpenAI, tmp_path: Path) -> None:
    agent = _agent(tmp_path, fake, LLMSettings(max_tokens_per_request=15))
    reply = agent.handle("hi")
    assert reply == f"over budget: openai:budget-{fake.server.server_address[1]}: max_tokens_per_request ([llm]) " \
                    "of agent thrifty exceeded: this request used 18 tokens; the limit is 15"
    assert len(fake.requests) == 1
    assert agent.state["llm"]["totals"]["requests"] == 1  # paid for, so counted


def test_the_daily_token_budget_survives_a_restart_and_resets_the_next_day(fake: FakeOpenAI, tmp_path: Path) -> None:
    clock = Clock()
    agent = _agent(tmp_path, fake, LLMSettings(daily_token_budget=30), clock=clock)
    assert agent.handle("one") == "You said: one"
    assert agent.handle("two", ).startswith("over budget: ")  # 36 > 30 once it answered
    assert len(fake.requests) == 2
    third = agent.handle("three")
    assert third is not None and f"daily_token_budget ([llm]) of agent thrifty exceeded: the agent's models used " \
                                 f"{2 * REPLY_TOKENS} tokens on {utc_day(DAY)} (UTC)" in third
    assert len(fake.requests) == 2  # refused before the request
    restarted = _agent(tmp_path / "again", fake, LLMSettings(daily_token_budget=30), clock=clock,
                       state=AgentState.from_data(agent.state.to_data()))
    assert restarted.handle("four").startswith("over budget: ")
    assert len(fake.requests) == 2
    clock.now += 86_400
    assert restarted.handle("five") == "You said: five"
    assert restarted.state["llm"]["day"] == {"day": utc_day(DAY + 86_400), "requests": 1, "input_tokens": 11,
                                             "output_tokens": 7, "cost_usd": 0.0,
                                             "models": {"brain": {"requests": 1, "input_tokens": 11,
                                                                  "output_tokens": 7, "cost_usd": 0.0}}}


def test_a_model_s_own_price_and_daily_cost_budget(fake: FakeOpenAI, tmp_path: Path) -> None:
    agent = _agent(tmp_path, fake, defllm_options=":cost-per-1k-input 1.0 :cost-per-1k-output 2.0 "
                                                  ":daily-cost-budget 0.03")
    assert agent.handle("one") == "You said: one"  # 11/1000 + 2 * 7/1000 = 0.025 USD
    assert agent.state["llm"]["day"]["cost_usd"] == pytest.approx(0.025)
    second = agent.handle("two")
    assert second is not None and "daily_cost_budget (model brain) of agent thrifty exceeded: model brain used " \
                                  "0.0500 USD" in second
    assert agent.handle("three").startswith("over budget: ")
    assert len(fake.requests) == 2
    cost = METRICS_REGISTRY.get_sample_value("o_lisp_llm_cost_usd_total", {"provider": "openai", "model": "m"})
    assert cost is not None and cost >= 0.05


def test_the_budget_error_is_an_llm_error_naming_its_budget(fake: FakeOpenAI, tmp_path: Path) -> None:
    agent = _agent(tmp_path, fake, LLMSettings(max_tokens_per_request=1))
    with pytest.raises(LLMBudgetError) as caught:
        agent.llm.chat([{"role": "user", "content": "hello there"}])
    assert isinstance(caught.value, LLMError)
    assert (caught.value.budget, caught.value.limit, caught.value.source) == ("max_tokens_per_request", 1, "[llm]")


def test_budget_settings_are_read_and_checked() -> None:
    settings = parse_config('[llm]\nmax_tokens_per_request = 4000\ndaily_token_budget = 100000\n'
                            'daily_cost_budget = 2.5\nshadow_replies = "own"\n[llm.models.b]\nprovider = "openai"\n'
                            'model = "m"\ndaily_token_budget = 50\ncost_per_1k_input = 0.5\n',
                            "o-lisp.toml")["llm", "settings"]
    assert (settings.max_tokens_per_request, settings.daily_token_budget, settings.daily_cost_budget,
            settings.shadow_replies) == (4000, 100000, 2.5, "own")
    assert (settings.models["b"].daily_token_budget, settings.models["b"].cost_per_1k_input) == (50, 0.5)
    for table, problem in (({"daily_token_budget": 0}, "[llm] daily_token_budget: expected an integer >= 1"),
                           ({"daily_cost_budget": "1"}, "[llm] daily_cost_budget: expected a number >= 0"),
                           ({"shadow_replies": "never"}, "[llm] shadow_replies: expected one of reuse, own")):
        with pytest.raises(SettingError, match=problem.replace("[", r"\[").replace("]", r"\]")):
            parse_llm_table(table)


def test_the_prompt_estimate_counts_messages_tools_and_schema() -> None:
    assert estimated_tokens([{"role": "user", "content": "x" * 400}], [], None) == 100 + len("[]") // 4
