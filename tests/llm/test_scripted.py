"""The scripted provider: deterministic replies from an operator's script file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from o_lisp.llm import LLMBadReply, LLMConfigError, ModelConfig, ToolSpec, make_provider

RECALL = ToolSpec("recall", "Search.", {"type": "object", "properties": {"query": {"type": "string"}}})


def scripted(tmp_path: Path, script: Any) -> Any:
    path = tmp_path / "script.json"
    path.write_text(script if isinstance(script, str) else json.dumps(script))
    return make_provider(ModelConfig("s", "scripted", script=str(path)))


def test_a_rule_calls_its_tool_then_answers_from_the_result(tmp_path: Path) -> None:
    provider = scripted(tmp_path, {"rules": [{"match": r"who is (\w+)\?", "tool": {"name": "recall", "arguments": {"query": "{1}"}},
                                              "reply": "{1}: {result.0.text} (asked: {message})"}]})
    question = [{"role": "user", "content": "who is Ada?"}]
    turn = provider.complete(question, tools=[RECALL], schema=None, timeout=1)
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [("recall", {"query": "Ada"})]
    answered = [*question, {"role": "assistant", "content": "", "tool_calls": [c.as_data() for c in turn.tool_calls]},
                {"role": "tool", "tool_call_id": "c", "name": "recall", "content": json.dumps([{"text": "a mathematician"}])}]
    turn = provider.complete(answered, tools=[RECALL], schema=None, timeout=1)
    assert turn.text == "Ada: a mathematician (asked: who is Ada?)" and turn.tool_calls == ()
    assert provider.requests == 2


def test_an_empty_tool_result_takes_the_empty_reply(tmp_path: Path) -> None:
    provider = scripted(tmp_path, {"rules": [{"match": ".", "tool": {"name": "recall"}, "reply": "found {result.0}",
                                              "empty": "nothing about {message}"}]})
    for result, text in (([], "nothing about hi"), (["x"], "found x")):
        messages = [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "c", "content": json.dumps(result)}]
        assert provider.complete(messages, tools=[RECALL], schema=None, timeout=1).text == text


def test_a_tool_that_is_not_offered_is_not_called(tmp_path: Path) -> None:
    provider = scripted(tmp_path, {"rules": [{"match": ".", "tool": {"name": "recall"}, "reply": "no tools: {result}"}]})
    turn = provider.complete([{"role": "user", "content": "hi"}], tools=[], schema=None, timeout=1)
    assert turn.text == "no tools: " and turn.tool_calls == ()


def test_no_matching_rule_is_a_bad_reply(tmp_path: Path) -> None:
    provider = scripted(tmp_path, {"rules": [{"match": "^yes$", "reply": "ok"}]})
    with pytest.raises(LLMBadReply, match="no rule of the script matches 'no'"):
        provider.complete([{"role": "user", "content": "no"}], tools=[], schema=None, timeout=1)


@pytest.mark.parametrize(("script", "problem"), [
    ("{not json", "not JSON"),
    ({"rules": []}, 'expected {"rules"'),
    ({"rules": [{"reply": "x"}]}, 'rule 1 needs a string "match"'),
    ({"rules": [{"match": "(", "reply": "x"}]}, "rule 1: bad regular expression"),
    ({"rules": [{"match": ".", "reply": "x", "tool": "recall"}]}, 'rule 1: "tool" must be'),
    ({"rules": [{"match": ".", "answer": "x"}]}, "rule 1 has unknown keys ['answer']"),
])
def test_a_bad_script_names_the_file_and_the_rule(tmp_path: Path, script: Any, problem: str) -> None:
    with pytest.raises(LLMConfigError) as caught:
        scripted(tmp_path, script)
    assert problem in str(caught.value) and "script.json" in str(caught.value)


def test_a_missing_script_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match="cannot read it"):
        make_provider(ModelConfig("s", "scripted", script=str(tmp_path / "none.json")))


@pytest.mark.parametrize(("options", "problem"), [
    ({"provider": "scripted"}, "needs :script FILE"),
    ({"provider": "openai", "model": "m", "timeout": 0}, ":timeout must be a positive number"),
    ({"provider": "openai", "model": "m", "retries": 11}, ":retries must be an integer from 0 to 10"),
    ({"provider": "openai", "model": "m", "temperature": 3}, ":temperature must be in [0, 2]"),
    ({"provider": "openai", "model": "m", "max-tokens": 0}, ":max-tokens must be positive"),
    ({"model": "m"}, ":provider is required"),
    ({"provider": "openai", "model": "m", "retries": True}, "option :retries must be a int"),
])
def test_model_configs_are_checked(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(LLMConfigError) as caught:
        ModelConfig.from_options("m", options)
    assert problem in str(caught.value)
