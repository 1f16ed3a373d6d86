"""JSON Schema validation of structured output (`llm-chat ... :schema SCHEMA`).

The schema is agent code's data, the reply is a model's: both are untrusted. The schema
is checked against its metaschema before any request is made (a typo in the schema is
the agent's mistake, `LLMConfigError`, and costs no tokens); the reply is validated with
the `jsonschema` library (the `llm` extra, imported when a schema is first used) and a
reply that does not validate is an `LLMBadReply` naming the JSON path that failed.

Two things stay outside, because the evaluation's budgets cannot reach into them:
regular expressions (`pattern`, `patternProperties`) — Python's `re` runs one C call
that no step budget interrupts, so an agent-written pattern could hang the host — and
references to other documents (`$ref` to a URL: the library does not fetch them, and
the sandbox has no network). Both are refused with a message saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_REFUSED = {"pattern": "regular expressions", "patternProperties": "regular expressions"}
_DATA = frozenset({"enum", "const", "default", "examples"})
"""Keywords whose values are instances, not schemas (a `const` may hold a key `pattern`)."""


def check_schema(schema: dict[str, Any]) -> str | None:
    """Why `schema` cannot be used, or None."""
    for path, key in _keywords(schema, "$"):
        if key in _REFUSED:
            return f"{path}.{key}: {_REFUSED[key]} are outside the sandbox (the evaluation's budgets cannot stop them)"
    from jsonschema import (  # the `llm` extra; only a structured request needs it
        exceptions,
        validators,
    )

    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as error:
        return f"{_path(error.absolute_path)}: {error.message}"
    for path, ref in _refs(schema, "$"):
        if not ref.startswith("#"):
            return f"{path}.$ref: {ref!r} points outside the schema (only local references, '#/...', are followed)"
    return None


def violation(data: Any, schema: dict[str, Any]) -> str | None:
    """Where and why `data` does not validate against `schema` (the most relevant error,
    `jsonschema.exceptions.best_match`), or None when it does."""
    from jsonschema import (  # the `llm` extra; only a structured request needs it
        exceptions,
        validators,
    )
    from referencing.exceptions import Unresolvable  # installed with jsonschema

    cls = validators.validator_for(schema)
    try:
        error = exceptions.best_match(cls(schema).iter_errors(data))
    except Unresolvable as problem:
        return f"the schema's reference cannot be resolved: {problem}"
    if error is None:
        return None
    return f"at {_path(error.absolute_path)} ({error.validator}): {error.message}"[:500]


def _path(parts: Any) -> str:
    """A JSON path in the `$.a[0].b` notation."""
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _keywords(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every (path, key) of the dicts inside `node`; `properties` names are property
    names, not keywords, so a property called `pattern` is fine."""
    if isinstance(node, dict):
        for key, value in node.items():
            if path.endswith((".properties", ".$defs", ".definitions")):
                yield from _keywords(value, f"{path}.{key}")
                continue
            yield path, str(key)
            if key not in _DATA:
                yield from _keywords(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _keywords(value, f"{path}[{i}]")


def _refs(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield path, value
            else:
                yield from _refs(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _refs(value, f"{path}[{i}]")
