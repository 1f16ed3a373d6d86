"""`o-lisp.toml`: defaults for the command line, overridden by `O_*` environment variables,
which the command line's own options override in turn (docs/config.md).

The file is found in the working directory or given with `o-lisp --config FILE`. Every
key is checked: an unknown section or key, or a value of the wrong type, is a usage
error naming the file, the key and the type expected (exit 2), never a silent default.
The file holds no secrets: the API token stays in `O_API_TOKEN`.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from o_lisp._errors import UsageError
from o_lisp._limits import MAX_CANDIDATES, MAX_GENERATIONS, Limits

CONFIG_NAME = "o-lisp.toml"


class ConfigError(UsageError):
    """An `o-lisp.toml` (or an `O_*` variable) that cannot be used as it is: exit 2."""


Check = Callable[[Any], Any]
"""Returns the value (converted) or raises ValueError with what was expected."""


def _integer(low: int, high: int | None = None) -> Check:
    expected = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            raise ValueError(expected)
        return value

    return check


def _number(low: float, high: float | None = None, *, low_open: bool = False) -> Check:
    bound = f"> {low:g}" if low_open else f">= {low:g}"
    expected = f"a number from {low:g} to {high:g}" if high is not None else f"a number {bound}"

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(expected)
        if value < low or (low_open and value == low) or (high is not None and value > high):
            raise ValueError(expected)
        return float(value)

    return check


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValueError("a list of non-empty strings")
    return tuple(value)


SCHEMA: Mapping[str, Mapping[str, Check]] = {
    "serve": {
        "host": _string,
        "port": _integer(0, 65535),
        "mirror-share": _number(0.0, 1.0),
        "perceive-every": _number(1.0),
        "data": _string,
    },
    "limits": {
        "steps": _integer(1),
        "time": _number(0.0, low_open=True),
        "depth": _integer(1),
        "max-size": _integer(1),
        "max-int-bits": _integer(1),
        "memory": _integer(1),
        "unlimited": _boolean,
    },
    "evolution": {
        "candidates": _integer(1, MAX_CANDIDATES),
        "generations": _integer(1, MAX_GENERATIONS),
    },
    "capabilities": {
        "tools": _strings,
        "grants": _strings,
    },
}
"""Every section and key the file may hold, with the check of its value."""


def env_name(section: str, key: str) -> str:
    """The environment variable that overrides `[section] key`: `O_SECTION_KEY`."""
    return f"O_{section}_{key}".upper().replace("-", "_")


@dataclass(frozen=True)
class Config:
    """The settings in effect: the file's, with environment variables laid over them."""

    values: Mapping[tuple[str, str], Any]
    path: Path | None = None
    """The file read, or None when there is none."""

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.values.get((section, key), default)


def find_config(explicit: str | None, cwd: Path | None = None) -> Path | None:
    """`--config FILE` (which must exist), else `./o-lisp.toml` when there is one."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return path
    candidate = Path(CONFIG_NAME) if cwd is None else cwd / CONFIG_NAME  # named as the user sees it
    return candidate if candidate.is_file() else None


def _described(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})" if not isinstance(value, dict | list) else kind


def parse_config(text: str, where: str) -> dict[tuple[str, str], Any]:
    """Check a config file's text against `SCHEMA`; `where` names it in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: not valid TOML: {error}") from None
    values: dict[tuple[str, str], Any] = {}
    sections = ", ".join([*SCHEMA, "llm"])
    for section, table in document.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: {section} = {table!r} is outside any section (sections: {sections})")
        if section == "llm":  # nested tables ([llm.models.NAME]): checked by o_lisp.llm
            from o_lisp.llm._settings import (  # the core needs o_lisp.llm only for [llm]
                SettingError,
                parse_llm_table,
            )

            try:
                values["llm", "settings"] = parse_llm_table(table)
            except SettingError as problem:
                raise ConfigError(f"{where}: {problem}") from None
            continue
        if section not in SCHEMA:
            raise ConfigError(f"{where}: unknown section [{section}] (known: {sections})")
        for key, value in table.items():
            check = SCHEMA[section].get(key)
            if check is None:
                raise ConfigError(f"{where}: unknown key {key!r} in [{section}] (known: {', '.join(SCHEMA[section])})")
            try:
                values[section, key] = check(value)
            except ValueError as expected:
                raise ConfigError(f"{where}: [{section}] {key}: expected {expected}, got {_described(value)}") from None
    return values


def _from_env(text: str, check: Check) -> Any:
    """An environment variable's text as the value its key expects (lists: comma-separated)."""
    if check is _strings:
        return check([item.strip() for item in text.split(",") if item.strip()])
    if check is _string:
        return check(text)
    if check is _boolean:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("true or false")
    try:
        number: Any = int(text) if text.strip().lstrip("+-").isdigit() else float(text)
    except ValueError:
        number = text
    return check(number)


def load_config(explicit: str | None = None, environ: Mapping[str, str] | None = None,
                cwd: Path | None = None) -> Config:
    """The settings in effect: `--config FILE` or `./o-lisp.toml` (if any), then every `O_*`
    variable of `SCHEMA` that is set and not empty."""
    path = find_config(explicit, cwd)
    values: dict[tuple[str, str], Any] = {}
    if path is not None:
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as problem:
            reason = problem.strerror if isinstance(problem, OSError) else "not valid UTF-8"
            raise ConfigError(f"cannot read config file {path}: {reason}") from None
        values.update(parse_config(text, str(path)))
    environ = os.environ if environ is None else environ
    for section, keys in SCHEMA.items():
        for key, check in keys.items():
            name = env_name(section, key)
            text = environ.get(name, "")
            if not text.strip():
                continue
            try:
                values[section, key] = _from_env(text, check)
            except ValueError as expected:
                raise ConfigError(f"environment variable {name}: expected {expected}, got {text!r}") from None
    return Config(values, path)


def default_map(config: Config) -> dict[str, dict[str, Any]]:
    """The config as click's `default_map`: per command, parameter name -> default. A
    command-line option overrides it; so click's own precedence gives CLI > env > file."""
    limits = {param: config.get("limits", key) for key, param in
              (("steps", "steps"), ("time", "time_"), ("depth", "depth"), ("max-size", "max_size"),
               ("unlimited", "unlimited"))}
    capabilities = {"tool_files": config.get("capabilities", "tools"), "grants": config.get("capabilities", "grants")}
    serve = {"host": config.get("serve", "host"), "port": config.get("serve", "port"),
             "mirror_share": config.get("serve", "mirror-share"), "perceive_every": config.get("serve", "perceive-every"),
             "data_dir": config.get("serve", "data"), **capabilities}
    evolution = {"candidates": config.get("evolution", "candidates"),
                 "generations": config.get("evolution", "generations")}

    def present(values: Mapping[str, Any]) -> dict[str, Any]:
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in values.items() if value is not None}

    return {
        "eval": present(limits),
        "repl": present(limits),
        "run": present({**limits, **capabilities}),
        "test": present({**limits, **capabilities}),
        "serve": present(serve),
        "evolve": present(evolution),
    }


def config_limits(config: Config) -> Limits | None:
    """The `[limits]` section as `Limits` (for `o-lisp serve`'s workers, which take no limit
    options); None when the section sets nothing."""
    names = {"steps": "steps", "time": "time", "depth": "depth", "max-size": "max_size",
             "max-int-bits": "max_int_bits", "memory": "memory"}
    changes = {field: config.get("limits", key) for key, field in names.items()
               if config.get("limits", key) is not None}
    unlimited = config.get("limits", "unlimited")
    if not changes and unlimited is None:
        return None
    return (Limits.unlimited() if unlimited else Limits()).but(**changes)


def llm_settings(config: Config) -> Any:
    """The `[llm]` section as `o_lisp.llm.LLMSettings`, or None when the file has none."""
    return config.get("llm", "settings")


def base_limits_changes(config: Config) -> dict[str, Any]:
    """The `Limits` fields the file sets that have no command-line option (memory, int bits)."""
    changes = {"memory": config.get("limits", "memory"), "max_int_bits": config.get("limits", "max-int-bits")}
    return {name: value for name, value in changes.items() if value is not None}
