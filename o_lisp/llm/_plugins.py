"""Custom providers: Python packages register them in the entry-point group
`o_lisp.llm_providers`.

```toml
# the plug-in's pyproject.toml
[project.entry-points."o_lisp.llm_providers"]
echo = "my_package.providers:make_echo"
```

The entry point's name is the provider name used in `defllm :provider` or
`[llm.models.NAME] provider`; its object is a factory called with the `ModelConfig`,
returning a `Provider` (o_lisp.llm._types: `complete(messages, tools=, schema=, timeout=)`
→ `Turn`). The group is read when a provider name is not one of the built-in ones, so a
plug-in installed after start-up is found.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from o_lisp.llm._errors import LLMConfigError

GROUP = "o_lisp.llm_providers"


def custom_providers() -> dict[str, EntryPoint]:
    """The providers installed plug-ins offer, by name (the first distribution wins)."""
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=GROUP):
        found.setdefault(point.name, point)
    return found


def custom_factory(name: str) -> Callable[..., Any]:
    """The factory of custom provider `name`; `LLMConfigError` when it cannot be loaded."""
    point = custom_providers().get(name)
    if point is None:
        raise LLMConfigError(f"no provider {name!r} in the entry-point group {GROUP}", provider=name)
    try:
        factory = point.load()
    except Exception as error:  # a plug-in's import error is its own, reported not raised through
        raise LLMConfigError(f"cannot load provider {name!r} ({point.value}): {type(error).__name__}: {error}",
                             provider=name) from None
    if not callable(factory):
        raise LLMConfigError(f"provider {name!r} ({point.value}) is not callable", provider=name)
    return factory  # type: ignore[no-any-return]


__all__ = ["GROUP", "custom_factory", "custom_providers"]
