"""`defllm`, `llm` and `llm-chat` in agents: grants, the tool loop through the agent's own
tool machinery, budgets, and the researcher agent against every provider."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from o_lisp._errors import CompileError, LimitExceeded, ProgramError
from o_lisp._limits import Limits
from o_lisp.agent import Agent
from o_lisp.cli import main
from o_lisp.llm import LLMConfigError, LLMNotGranted, LLMSettings, LLMToolLoopError, ModelConfig
from tests.llm.fakes import ECHO_HEADERS, Failure, FakeOpenAI, FakeServer

ROOT = Path(__file__).resolve().parents[2]
RESEARCHER = ROOT / "agents" / "researcher.hy"


def fake_model(fake: FakeServer, name: str = "brain", **options: Any) -> ModelConfig:
    values: dict[str, Any] = {"timeout": 10.0, "retries": 0, **options}
    return ModelConfig(name, fake.provider, "fake-model", base_url=fake.base_url, **values)


def write_agent(tmp_path: Path, body: str, script: dict[str, Any] | None = None) -> Path:
    seed = tmp_path / "agent.hy"
    seed.write_text("(defagent probe :version \"0.1.0\"\n" + textwrap.indent(textwrap.dedent(body), "  ") + ")\n")
    if script is not None:
        (tmp_path / "script.json").write_text(json.dumps(script))
    return seed


def teach(agent: Agent) -> None:
    assert agent.handle("remember the office is on the third floor") == "Noted."
    assert agent.handle("remember lunch is served at noon") == "Noted."


# -- the researcher, unchanged, against every provider ----------------------------------------


def test_researcher_answers_through_each_fake_with_a_tool_call(fake: FakeServer, tmp_path: Path) -> None:
    agent = Agent.load(RESEARCHER, tmp_path / "data", grants=["llm"], llm_models={"brain": fake_model(fake)})
    teach(agent)
    assert agent.handle("where is the office?") == "According to my notes: the office is on the third floor."
    assert len(fake.requests) == 2  # the tool call, then the answer
    calls = agent.state["tool_calls"]
    assert calls[-1]["tool"] == "recall" and calls[-1]["ok"]
    assert calls[-1]["args"] == [{"query": "where is the office?"}]


def test_researcher_answers_through_the_scripted_provider(tmp_path: Path) -> None:
    agent = Agent.load(RESEARCHER, tmp_path / "data", grants=["llm"])
    assert agent.handle("where is the moon?") == "I found nothing about that in my notes."
    teach(agent)
    assert agent.handle("when is lunch?") == "According to my notes: lunch is served at noon."
    assert agent.handle("hello") == 'Tell me something with "remember ...", or ask a question ending in "?".'
    assert agent.state["tool_calls"][-1]["tool"] == "recall"


def test_researcher_without_the_grant_says_how_to_grant_it(tmp_path: Path) -> None:
    agent = Agent.load(RESEARCHER, tmp_path / "data")
    reply = agent.handle("where is the office?")
    assert reply is not None
    assert "not granted the llm capability" in reply and "--grant llm" in reply


def test_o_lisp_run_researcher_offline(tmp_path: Path) -> None:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(main, ["run", str(RESEARCHER), "--grant", "llm", "-m",
                                           "remember the printer is next to the kitchen", "-m", "where is the printer?"])
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    assert result.output == "Noted.\nAccording to my notes: the printer is next to the kitchen.\n"


# -- the forms --------------------------------------------------------------------------------


def test_llm_returns_text_and_passes_the_system_prompt(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    fake.provider = "openai"  # type: ignore[attr-defined]
    try:
        seed = write_agent(tmp_path, '(defn respond [text] (llm text :system "be brief"))')
        agent = Agent.load(seed, tmp_path / "data", grants=["llm"], llm_models={"m": fake_model(fake, "m")})
        assert agent.handle("hi there") == "You said: hi there"
        assert fake.requests[0]["messages"][0] == {"role": "system", "content": "be brief"}
    finally:
        fake.close()


def test_without_the_grant_the_error_names_the_capability(tmp_path: Path) -> None:
    seed = write_agent(tmp_path, '(defllm m :provider "scripted" :script "script.json")\n(defn respond [text] (llm text))',
                       {"rules": [{"match": ".", "reply": "ok"}]})
    agent = Agent.load(seed, tmp_path / "data")
    with pytest.raises(ProgramError) as caught:
        agent.handle("hello")
    assert isinstance(caught.value.exception, LLMNotGranted)
    assert "--grant llm" in str(caught.value)


@pytest.mark.parametrize(("declaration", "problem"), [
    ('(defllm m :provider "gpt")', "unknown provider 'gpt'"),
    ('(defllm m :provider "openai")', ":model is required"),
    ('(defllm m :provider "openai" :model "x" :temprature 1)', "unknown option :temprature"),
    ('(defllm m :provider "openai" :model "x" :timeout "soon")', "option :timeout must be a int or float"),
    ('(defllm m :provider "openai" :model (+ "a" "b"))', "must be a literal"),
    ('(defllm m :provider "scripted" :script "/etc/passwd")', "relative path inside the agent's directory"),
    ('(defllm m :provider "scripted" :script "../x.json")', "relative path inside the agent's directory"),
])
def test_bad_defllm_is_a_compile_error_with_a_position(tmp_path: Path, declaration: str, problem: str) -> None:
    seed = write_agent(tmp_path, declaration)
    with pytest.raises(CompileError) as caught:
        Agent.load(seed, tmp_path / "data", grants=["llm"])
    assert problem in str(caught.value)
    position = caught.value.position  # in the seed, or in the definition's file in the repository
    assert position is not None
    assert (position.filename, position.line) in {(str(seed), 2), (str(tmp_path / "data" / "code" / "defs" / "m.hy"), 1)}


def test_agent_define_llm_cannot_be_called_at_run_time(tmp_path: Path) -> None:
    from o_lisp._errors import SandboxViolation

    seed = write_agent(tmp_path, '(defllm m :provider "scripted" :script "script.json")\n'
                                 '(defn respond [text] (agent-define-llm "m") "swapped")',
                       {"rules": [{"match": ".", "reply": "ok"}]})
    agent = Agent.load(seed, tmp_path / "data", grants=["llm"])
    with pytest.raises(SandboxViolation, match="defllm m can only be declared by its own definition"):
        agent.handle("hi")


def test_a_defllm_without_a_name_is_refused_when_the_seed_is_read(tmp_path: Path) -> None:
    seed = write_agent(tmp_path, '(defllm "m" :provider "openai")')
    with pytest.raises(CompileError, match="needs a name") as caught:
        Agent.load(seed, tmp_path / "data", grants=["llm"])
    assert str(caught.value.position) == f"{seed}:2:3"


def test_an_unknown_model_name_lists_the_known_ones(tmp_path: Path) -> None:
    seed = write_agent(tmp_path, '(defllm m :provider "scripted" :script "script.json")\n(defn respond [text] (llm text :model "big"))',
                       {"rules": [{"match": ".", "reply": "ok"}]})
    agent = Agent.load(seed, tmp_path / "data", grants=["llm"])
    with pytest.raises(ProgramError, match=r"no model 'big' \(models: m\)"):
        agent.handle("hello")


def test_host_models_win_over_the_agents_declaration(tmp_path: Path) -> None:
    seed = write_agent(tmp_path, '(defllm m :provider "scripted" :script "script.json")\n(defn respond [text] (llm text))',
                       {"rules": [{"match": ".", "reply": "from the agent's script"}]})
    (tmp_path / "host.json").write_text(json.dumps({"rules": [{"match": ".", "reply": "from the host's script"}]}))
    agent = Agent.load(seed, tmp_path / "data", grants=["llm"])
    assert agent.handle("hi") == "from the agent's script"
    host = ModelConfig("m", "scripted", script=str(tmp_path / "host.json"))
    agent = Agent.load(seed, tmp_path / "data", grants=["llm"], llm_models={"m": host})
    assert agent.handle("hi") == "from the host's script"
    assert agent.scratch().handle("hi") == "from the host's script"


def test_structured_output_is_parsed_and_checked(tmp_path: Path) -> None:
    body = '''
    (defllm m :provider "scripted" :script "script.json")
    (defn respond [text]
      (get (llm-chat [{"role" "user" "content" text}] :schema {"type" "object" "required" ["city"]}) "data"))'''
    seed = write_agent(tmp_path, body, {"rules": [{"match": "good", "reply": '{"city": "Lyon"}'},
                                                  {"match": "bad", "reply": '{"town": "Lyon"}'}]})
    agent = Agent.load(seed, tmp_path / "data", grants=["llm"])
    assert agent.handle("good") == '{"city" "Lyon"}'
    with pytest.raises(ProgramError, match=r"does not match the schema at \$ \(required\): 'city' is a required property"):
        agent.handle("bad")


STRUCTURED = '''
(defllm m :provider "scripted" :script "script.json")
(setv SCHEMA {"type" "object" "required" ["city" "stops"]
              "properties" {"city" {"type" "string"}
                            "stops" {"type" "array" "items" {"$ref" "#/$defs/stop"}}}
              "$defs" {"stop" {"type" "object" "required" ["km"] "properties" {"km" {"type" "integer" "minimum" 0}}}}})
(defn respond [text]
  (cond (= text "typo") (llm-chat [{"role" "user" "content" text}] :schema {"type" "strin"})
        (= text "regex") (llm-chat [{"role" "user" "content" text}] :schema {"type" "string" "pattern" "(a+)+$"})
        (= text "remote") (llm-chat [{"role" "user" "content" text}] :schema {"$ref" "https://example.com/s.json"})
        True (get (llm-chat [{"role" "user" "content" text}] :schema SCHEMA) "data" "stops" 1 "km")))'''


def test_structured_output_is_validated_against_the_full_schema_naming_the_failing_path(tmp_path: Path) -> None:
    """Nested objects, arrays, `$ref`, `minimum`: the first failing path is named; a broken,
    regex-bearing or remote schema is refused before any request (the script counts none)."""
    script = {"rules": [{"match": "^good", "reply": '{"city": "Lyon", "stops": [{"km": 0}, {"km": 12}]}'},
                        {"match": "^negative", "reply": '{"city": "Lyon", "stops": [{"km": 0}, {"km": -3}]}'},
                        {"match": "^text", "reply": '{"city": "Lyon", "stops": [{"km": "far"}]}'},
                        {"match": ".", "reply": '"anything"'}]}
    seed = write_agent(tmp_path, STRUCTURED, script)
    agent = Agent.load(seed, tmp_path / "data", grants=["llm"])
    assert agent.handle("good") == "12"
    with pytest.raises(ProgramError, match=r"at \$\.stops\[1\]\.km \(minimum\): -3 is less than the minimum of 0"):
        agent.handle("negative")
    with pytest.raises(ProgramError, match=r"at \$\.stops\[0\]\.km \(type\): 'far' is not of type 'integer'"):
        agent.handle("text")
    with pytest.raises(ProgramError, match=r":schema is not a usable JSON Schema: \$\.type: 'strin' is not valid"):
        agent.handle("typo")
    with pytest.raises(ProgramError, match=r"\$\.pattern: regular expressions are outside the sandbox"):
        agent.handle("regex")
    with pytest.raises(ProgramError, match=r"\$\.\$ref: 'https://example.com/s.json' points outside the schema"):
        agent.handle("remote")
    assert agent.state.data["llm"]["totals"]["requests"] == 3  # the refused schemas cost no request


# -- the tool loop goes through the agent's tools ------------------------------------------------


TOOLS = '''
(defllm m :provider "openai" :model "fake-model")
(deftool lookup [query :int] :doc "Look up a number." (* query 2))
(deftool danger [query :str] :doc "Unsafe." :unsafe True "done")
(defn ask [text tool] (llm-chat [{"role" "user" "content" text}] :tools [tool] :max-rounds 3))
(defn respond [text] (get (ask text lookup) "text"))
'''


def openai_agent(tmp_path: Path, fake: FakeOpenAI, grants: tuple[str, ...] = ("llm",), **options: Any) -> Agent:
    fake.provider = "openai"  # type: ignore[attr-defined]
    seed = write_agent(tmp_path, TOOLS)
    return Agent.load(seed, tmp_path / "data", grants=grants, llm_models={"m": fake_model(fake, "m")}, **options)


def test_a_tool_call_with_bad_arguments_goes_back_to_the_model_as_an_error(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    try:
        agent = openai_agent(tmp_path, fake)
        reply = agent.interpreter.call("ask", "what is seven?", agent.interpreter._globals["lookup"])
        assert reply["tool_calls"][0]["ok"] is False
        assert "argument query must be int, not str" in reply["tool_calls"][0]["error"]
        sent = fake.requests[1]["messages"][-1]
        assert sent["role"] == "tool" and "must be int" in sent["content"]
        assert agent.state["tool_calls"][-1]["ok"] is False  # recorded like any tool call
        assert reply["usage"] == {"input_tokens": 22, "output_tokens": 14} and reply["rounds"] == 2
    finally:
        fake.close()


def test_an_unsafe_tool_needs_its_grant_even_when_the_model_calls_it(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    try:
        agent = openai_agent(tmp_path, fake)
        reply = agent.interpreter.call("ask", "do it", agent.interpreter._globals["danger"])
        assert "is unsafe and agent probe was not granted it" in reply["tool_calls"][0]["error"]
        agent = openai_agent(tmp_path, fake, grants=("llm", "unsafe:danger"))
        reply = agent.interpreter.call("ask", "do it", agent.interpreter._globals["danger"])
        assert reply["tool_calls"][0] == {"id": "call_3", "name": "danger", "arguments": {"query": "do it"},
                                          "ok": True, "result": "done"}
    finally:
        fake.close()


def test_a_model_that_keeps_calling_tools_is_stopped_after_max_rounds(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    fake.decide = lambda question, tool, result: ("", {"query": 1})  # type: ignore[method-assign]
    try:
        agent = openai_agent(tmp_path, fake)
        with pytest.raises(ProgramError) as caught:
            agent.handle("loop forever")
        assert isinstance(caught.value.exception, LLMToolLoopError)
        assert len(fake.requests) == 3
    finally:
        fake.close()


def test_a_tool_not_offered_is_refused(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    try:
        agent = openai_agent(tmp_path, fake)
        with pytest.raises(ProgramError) as caught:
            agent.interpreter.call("ask", "x", "no-such-tool")
        assert isinstance(caught.value.exception, LLMConfigError)
        assert "no-such-tool is not a tool of agent probe" in str(caught.value)
    finally:
        fake.close()


# -- budgets keep running while a request waits ---------------------------------------------------


def test_the_time_limit_stops_a_waiting_request(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    fake.fail_next(Failure(delay=5.0))
    try:
        agent = openai_agent(tmp_path, fake, limits=Limits(time=0.5))
        with pytest.raises(LimitExceeded) as caught:
            agent.handle("slow")
        assert caught.value.limit == "time"
    finally:
        fake.close()


def test_a_tool_timeout_stops_a_waiting_request_and_the_agent_goes_on(tmp_path: Path) -> None:
    fake = FakeOpenAI()
    fake.fail_next(Failure(delay=5.0))
    body = TOOLS + '''
(deftool think [text :str] :timeout 0.3 (llm text))
(when-> :name slow (= msg "slow") (try (think "x") (except [e ToolError] (+ "gave up: " (str e)))))'''
    fake.provider = "openai"  # type: ignore[attr-defined]
    try:
        seed = write_agent(tmp_path, body)
        agent = Agent.load(seed, tmp_path / "data", grants=["llm"], llm_models={"m": fake_model(fake, "m")})
        assert agent.handle("slow") == "gave up: tool think timed out after 0.3 s"
    finally:
        fake.close()


def test_a_key_never_reaches_state_or_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-SECRET-0b1d5e93"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    fake = FakeOpenAI()
    fake.provider = "openai"  # type: ignore[attr-defined]
    fake.fail_next(Failure(401, ECHO_HEADERS))
    try:
        agent = Agent.load(RESEARCHER, tmp_path / "data", grants=["llm"], llm_models={"brain": fake_model(fake)})
        reply = agent.handle("where is the office?")
        assert reply is not None and "I cannot think right now" in reply and "[redacted]" in reply
        assert secret in json.dumps(fake.headers_seen)
        assert secret not in json.dumps(agent.state.to_data(), default=repr)
        for path in (tmp_path / "data").rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    finally:
        fake.close()


def test_cancel_stops_a_waiting_request(tmp_path: Path) -> None:
    import threading
    import time

    fake = FakeOpenAI()
    fake.fail_next(Failure(delay=5.0))
    try:
        agent = openai_agent(tmp_path, fake, limits=Limits(time=60))

        def cancel_once_the_request_arrived() -> None:
            while not fake.requests:
                time.sleep(0.01)
            agent.interpreter.cancel()

        canceller = threading.Thread(target=cancel_once_the_request_arrived)
        canceller.start()
        with pytest.raises(LimitExceeded, match="evaluation cancelled"):
            agent.handle("slow")
        canceller.join()
    finally:
        fake.close()


def test_the_operators_key_never_goes_to_an_endpoint_the_agent_chose(fake: FakeServer, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Agent code can rewrite its own `defllm`: a `:base-url` it wrote is refused unless the
    operator allows it, and even then gets no key; the same endpoint given by the host (or
    by the SDK's environment variable) does."""
    secret = "sk-test-SECRET-77aa01"
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_API_KEY"):
        monkeypatch.setenv(variable, secret)
    provider = fake.provider  # type: ignore[attr-defined]
    seed = write_agent(tmp_path, f'(defllm m :provider "{provider}" :model "x" :base-url "{fake.base_url}")\n'
                                 '(defn respond [text] (llm text))')
    refused = Agent.load(seed, tmp_path / "data", grants=["llm"])
    with pytest.raises(ProgramError, match=r"LLMConfigError.*is not an allowed endpoint.*allowed_base_urls"):
        refused.handle("hello")
    assert fake.requests == []
    other = LLMSettings(allowed_base_urls=("http://127.0.0.1:1/v1",))
    with pytest.raises(ProgramError, match="not an allowed endpoint"):
        Agent.load(seed, tmp_path / "data", grants=["llm"], llm_models=other).handle("hello")
    allowed = LLMSettings(allowed_base_urls=(fake.url,))  # a prefix of the base URL
    agent = Agent.load(seed, tmp_path / "data", grants=["llm"], llm_models=allowed)
    assert agent.handle("hello") == "You said: hello"
    assert secret not in json.dumps(fake.headers_seen[-1])
    host = Agent.load(seed, tmp_path / "data", grants=["llm"], llm_models={"m": fake_model(fake, "m")})
    assert host.handle("hello") == "You said: hello"
    assert secret in json.dumps(fake.headers_seen[-1])
    variable = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL", "ollama": "OLLAMA_HOST"}[provider]
    monkeypatch.setenv(variable, fake.base_url)
    agent = Agent.load(seed, tmp_path / "data", grants=["llm"])
    assert agent.handle("hello") == "You said: hello"
    assert secret in json.dumps(fake.headers_seen[-1])
