"""Trusted host tools: Python (or Hy) files written by the operator, never by an agent.

`o-lisp run --tools FILE` loads them in its own process; under `o-lisp serve --tools FILE`
the guardian only passes the file names on, and each worker loads them (the guardian
never runs code other than its own). A tool is callable by agent code only when it is
granted (`--grant NAME`); `Agent` turns a call of an ungranted tool into an error that
names the grant.
"""

from __future__ import annotations

import importlib
import runpy
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import Any

from o_lisp._errors import UsageError


class HostToolsError(UsageError):
    """A tools file that cannot be loaded or does not define `TOOLS` properly."""


def load_host_tools(files: Iterable[str]) -> dict[str, Callable[..., Any]]:
    """Run each file as ordinary Python (Hy files through Hy's own importer) and merge the
    `TOOLS` dicts (tool name -> function) they define; later files win."""
    tools: dict[str, Callable[..., Any]] = {}
    for file in files:
        if file.endswith(".hy"):
            try:  # Hy's import registers the .hy loader runpy uses (trusted operator code)
                importlib.import_module("hy")
            except ImportError:
                raise HostToolsError(f"{file}: tools written in Hy need the hy package installed") from None
        try:
            namespace = runpy.run_path(file)
        except Exception as error:  # the operator's own code failed: say where
            raise HostToolsError(f"cannot load tools from {file}: {type(error).__name__}: {error}") from None
        table = namespace.get("TOOLS")
        if not isinstance(table, dict) or not all(isinstance(k, str) and callable(v) for k, v in table.items()):
            raise HostToolsError(f"{file} must define TOOLS = {{name: function, ...}}")
        tools.update(table)
    return tools


def check_in_subprocess(files: Iterable[str], timeout: float = 60.0) -> None:
    """Load the tools files in a short-lived child process and raise `HostToolsError` if
    they do not load: `o-lisp serve` reports a bad file as a usage error up front,
    although the guardian itself never runs the operator's code (its workers do)."""
    files = list(files)
    if not files:
        return
    try:
        done = subprocess.run([sys.executable, "-m", "o_lisp.agent._host_tools", *files],
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise HostToolsError(f"loading the tools files {', '.join(files)} took longer than {timeout:g} s") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise HostToolsError(lines[-1] if lines else f"cannot load tools from {', '.join(files)}")


if __name__ == "__main__":  # the child of `check_in_subprocess`
    import sys

    try:
        load_host_tools(sys.argv[1:])
    except HostToolsError as failure:
        print(failure, file=sys.stderr)
        sys.exit(2)
