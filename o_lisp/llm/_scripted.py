"""A deterministic provider that answers from a script file: for demos, offline use, tests.

The script is JSON written by the operator: `{"rules": [rule, ...]}`, each rule

    {"match": "REGEX", "tool": {"name": "recall", "arguments": {"query": "{message}"}},
     "reply": "From my notes: {result.0}"}

The rule that applies is the first whose `match` (a regular expression, case-insensitive,
searched in the last user message) matches. If it has a `tool` and the conversation has
no tool result since that user message, the turn is that tool call; otherwise the turn is
the rule's `reply` (or its `empty` when the tool found nothing: null, [], {} or ""). Placeholders in strings: `{message}` (the user message), `{1}`,
`{2}`... (groups of the match) and `{result}` / `{result.PATH}` (the last tool result, as
JSON data, PATH a dot-separated list of keys and indices). No rule matching is an
`LLMBadReply` naming the message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from o_lisp.llm._config import ModelConfig
from o_lisp.llm._errors import LLMBadReply, LLMConfigError
from o_lisp.llm._types import Message, ToolCall, ToolSpec, Turn, Usage

_PLACEHOLDER = re.compile(r"\{(message|result(?:\.[^{}\s]+)?|\d+)\}")


@dataclass(frozen=True, slots=True)
class Rule:
    match: re.Pattern[str]
    tool: str | None
    arguments: Any
    reply: str
    empty: str | None


def load_script(path: Path, model: str) -> tuple[Rule, ...]:
    """Read and check a script; every mistake names the file and the rule."""
    def fail(message: str) -> LLMConfigError:
        return LLMConfigError(f"script {path}: {message}", provider="scripted", model=model)

    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as error:
        raise fail(f"cannot read it: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise fail(f"not JSON: {error}") from None
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, list) or not rules:
        raise fail('expected {"rules": [{"match": REGEX, "reply": TEXT, "tool": {...}}, ...]}')
    out: list[Rule] = []
    for i, rule in enumerate(rules, 1):
        if not isinstance(rule, dict) or not isinstance(rule.get("match"), str) or not isinstance(rule.get("reply", ""), str):
            raise fail(f"rule {i} needs a string \"match\" and a string \"reply\"")
        if not isinstance(rule.get("empty", ""), str):
            raise fail(f"rule {i}: \"empty\" must be a string")
        unknown = set(rule) - {"match", "tool", "reply", "empty"}
        if unknown:
            raise fail(f"rule {i} has unknown keys {sorted(unknown)}")
        try:
            pattern = re.compile(rule["match"], re.IGNORECASE)
        except re.error as error:
            raise fail(f"rule {i}: bad regular expression: {error}") from None
        tool = rule.get("tool")
        if tool is not None and (not isinstance(tool, dict) or not isinstance(tool.get("name"), str)
                                 or not isinstance(tool.get("arguments", {}), dict)):
            raise fail(f'rule {i}: "tool" must be {{"name": NAME, "arguments": {{...}}}}')
        out.append(Rule(pattern, tool["name"] if tool else None, dict(tool.get("arguments", {})) if tool else None,
                        rule.get("reply", ""), rule.get("empty")))
    return tuple(out)


class ScriptedProvider:
    """Replies from a script (see the module docstring); counts its requests."""

    provider = "scripted"

    def __init__(self, config: ModelConfig, base: Path | None = None) -> None:
        path = Path(config.script or "")
        if not path.is_absolute() and base is not None:
            path = base / path
        self.config = config
        self.rules = load_script(path, config.model or config.name)
        self.requests = 0

    def complete(self, messages: Sequence[Message], *, tools: Sequence[ToolSpec], schema: dict[str, Any] | None,
                 timeout: float) -> Turn:
        self.requests += 1
        last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
        if last_user is None:
            raise self._bad("the conversation has no user message")
        text = str(messages[last_user].get("content") or "")
        results = [m for m in messages[last_user + 1:] if m["role"] == "tool"]
        for rule in self.rules:
            found = rule.match.search(text)
            if found is None:
                continue
            groups = {str(i): g or "" for i, g in enumerate(found.groups(), 1)}
            result: Any = None
            if results:
                try:
                    result = json.loads(results[-1]["content"])
                except json.JSONDecodeError:
                    result = results[-1]["content"]
            values = {"message": text, **groups}
            offered = {t.name for t in tools}
            if rule.tool is not None and not results and rule.tool in offered:
                arguments = _fill(rule.arguments, values, result)
                return Turn("", (ToolCall(f"call_{self.requests}", rule.tool, arguments),), _usage(text))
            reply = rule.empty if rule.empty is not None and results and not result else rule.reply
            return Turn(_fill(reply, values, result), (), _usage(text))
        raise self._bad(f"no rule of the script matches {text[:80]!r}")

    def _bad(self, message: str) -> LLMBadReply:
        return LLMBadReply(message, provider="scripted", model=self.config.model or self.config.name)


def _usage(text: str) -> Usage:
    return Usage(len(text.split()), 0)


def _fill(template: Any, values: dict[str, str], result: Any) -> Any:
    if isinstance(template, dict):
        return {k: _fill(v, values, result) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values, result) for v in template]
    if not isinstance(template, str):
        return template
    return _PLACEHOLDER.sub(lambda m: _value(m.group(1), values, result), template)


def _value(name: str, values: dict[str, str], result: Any) -> str:
    if not name.startswith("result"):
        return values.get(name, "")
    value = result
    for part in name.split(".")[1:]:
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return ""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


__all__ = ["ScriptedProvider", "load_script"]
