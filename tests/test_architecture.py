"""The package layering of `o_lisp/` (docs/architecture.md), checked from the code itself.

The import graph is built from every module's own `import` / `from` statements (parsed
with `ast`, module-level and function-level alike), so a new cycle or a forbidden
dependency fails here the moment it is written, not when someone hand-updates a list.
Imports under `if TYPE_CHECKING:` are left out: they never run, they only name types.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import o_lisp

PACKAGE = Path(o_lisp.__file__).parent


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: anywhere in the module, but not under TYPE_CHECKING."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _runtime_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _runtime_imports(node)


def import_graph() -> dict[str, set[str]]:
    """module -> the o_lisp modules it imports (a package means its `__init__`)."""
    modules = _modules()

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(t for a in node.names if (t := known(a.name)))
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in modules else known(base)
                if target:
                    targets.add(target)
        targets.discard(name)
        graph[name] = targets
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_and_only_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_graph_sees_function_level_imports() -> None:
    graph = import_graph()
    assert "o_lisp.guardian._http" in graph["o_lisp.cli"]  # imported inside serve_command
    assert "o_lisp._interpreter" in graph["o_lisp"]


def test_o_lisp_has_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_guardian_imports_no_agent_runtime_numpy_or_numba() -> None:
    """The guardian process stays small and runs no agent code: only its workers import those."""
    code = (
        "import sys\n"
        "import o_lisp.guardian._supervisor, o_lisp.guardian._http, o_lisp.guardian._evolution\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'numba', 'pygit2')"
        " or m.split('.')[:2] in (['o_lisp', 'agent'], ['o_lisp', 'memory'], ['o_lisp', 'llm'],"
        " ['o_lisp', 'worker']))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _imports_into(graph: Mapping[str, set[str]], source: str, targets: tuple[str, ...]) -> list[tuple[str, str]]:
    def inside(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    return sorted((module, target) for module, imported in graph.items() if inside(module, source)
                  for target in imported if any(inside(target, t) for t in targets))


def test_evolution_is_pure_it_imports_no_guardian_or_worker_code() -> None:
    """Generation, statistics, decision and validation plans: usable from either process."""
    assert _imports_into(import_graph(), "o_lisp.evolution", ("o_lisp.guardian", "o_lisp.worker")) == []


def test_the_guardian_never_imports_the_worker_package() -> None:
    """The guardian starts workers as processes (`python -m o_lisp.worker`) and speaks the protocol."""
    assert _imports_into(import_graph(), "o_lisp.guardian", ("o_lisp.worker",)) == []


def test_the_layering_checks_see_a_forbidden_import() -> None:
    graph = {"o_lisp.evolution._x": {"o_lisp.worker._serve"}, "o_lisp.worker._serve": {"o_lisp.guardian._protocol"}}
    assert _imports_into(graph, "o_lisp.evolution", ("o_lisp.worker",)) == [("o_lisp.evolution._x", "o_lisp.worker._serve")]
    assert _imports_into(graph, "o_lisp.worker", ("o_lisp.evolution",)) == []


def test_every_user_facing_guardian_error_has_the_one_root() -> None:
    """Six guardian modules, one `GuardianError` under `OLispError`: catch the root, catch them all."""
    import importlib
    import inspect

    from o_lisp._errors import OLispError
    from o_lisp.guardian._errors import GuardianError

    found = []
    for name in sorted(m for m in _modules() if m.startswith("o_lisp.guardian.")):
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, OLispError) and cls.__module__ == name:
                found.append(cls)
                assert issubclass(cls, GuardianError), f"{name}.{cls.__name__} is not a GuardianError"
    assert {cls.__name__ for cls in found} >= {"GuardianError", "SupervisorError", "RequestFailed", "ProtocolError",
                                               "WalError", "VaultError", "EvolutionError", "ConfigError"}


def test_the_evolution_cycle_bounds_are_the_same_everywhere(tmp_path: Path) -> None:
    """50 generations / 32 candidates are `o_lisp._limits`'; the CLI and the manager must agree."""
    import asyncio

    import click
    import pytest

    from o_lisp._limits import MAX_CANDIDATES, MAX_GENERATIONS
    from o_lisp.cli import evolve_command
    from o_lisp.guardian._evolution import EvolutionError, EvolutionManager
    from o_lisp.guardian._supervisor import Guardian, GuardianConfig

    ranges = {p.name: p.type for p in evolve_command.params if isinstance(p.type, click.IntRange)}
    assert (ranges["generations"].max, ranges["candidates"].max) == (MAX_GENERATIONS, MAX_CANDIDATES)

    async def refused(**size: int) -> str:
        manager = EvolutionManager(Guardian(GuardianConfig(agent=tmp_path / "a.hy", data_dir=tmp_path)), None)
        with pytest.raises(EvolutionError) as caught:
            await manager.start("greet", **size)
        return str(caught.value)

    assert asyncio.run(refused(generations=MAX_GENERATIONS + 1)).endswith(f"from 1 to {MAX_GENERATIONS}")
    assert asyncio.run(refused(candidates=MAX_CANDIDATES + 1)).endswith(f"from 1 to {MAX_CANDIDATES}")


def _comment_lines(source: str) -> set[int]:
    """Line numbers holding a comment (found with `tokenize`, so a '#' in a string does not count)."""
    import io
    import tokenize

    return {token.start[0] for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT}


def function_level_imports_without_a_reason(path: Path) -> list[int]:
    """Lines of imports inside a function (not under TYPE_CHECKING) that say nowhere why.

    The reason is a comment on the import's own lines, or on the line just above it; an
    import right below an explained one (a block of them) shares its reason.
    """
    source = path.read_text(encoding="utf-8")
    comments = _comment_lines(source)
    unexplained: list[int] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        explained_until = -1  # the last line of the explained import block in this body
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                continue
            if in_function and isinstance(child, ast.Import | ast.ImportFrom):
                end = child.end_lineno or child.lineno
                lines = set(range(child.lineno - 1, end + 1))
                if lines & comments or child.lineno - 1 == explained_until:
                    explained_until = end
                else:
                    unexplained.append(child.lineno)
                continue
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(ast.parse(source, str(path)), False)
    return unexplained


def test_an_import_inside_a_function_says_why() -> None:
    """Outside `cli.py` (which imports each command's machinery when the command runs), an
    import belongs at the top of its module unless a comment gives the reason it cannot be."""
    found = [f"{path.relative_to(PACKAGE.parent)}:{line}" for name, path in _modules().items() if name != "o_lisp.cli"
             for line in function_level_imports_without_a_reason(path)]
    assert found == []


def test_the_function_level_import_check_sees_an_unexplained_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import os\n"
        "def f():\n"
        "    import json\n"
        "    # the zygote must set the environment first\n"
        "    import numpy\n"
        "    import numba\n"
        "    x = '# not a comment'\n"
        "    import re\n"
        "    if TYPE_CHECKING:\n"
        "        import typing\n"
        "def g():\n"
        "    import sys  # cycle: sys imports g\n",
        encoding="utf-8")
    assert function_level_imports_without_a_reason(module) == [3, 8]


CORE = "o_lisp"
PACKAGES = ("o_lisp.agent", "o_lisp.memory", "o_lisp.llm", "o_lisp.evolution", "o_lisp.worker", "o_lisp.guardian",
            "o_lisp.cli", "o_lisp.stdlib")
ALLOWED: Mapping[str, Mapping[str, tuple[str, ...] | None]] = {
    # importer package -> imported package -> None (any module) or the only modules allowed
    CORE: {"o_lisp.llm": ("o_lisp.llm._settings",)},  # `_config` reads [llm] with it (inside the function)
    "o_lisp.memory": {CORE: None, "o_lisp.llm": None},
    "o_lisp.llm": {CORE: None, "o_lisp.agent": ("o_lisp.agent._definitions", "o_lisp.agent._dsl", "o_lisp.agent._state")},
    "o_lisp.agent": {CORE: None, "o_lisp.memory": None, "o_lisp.llm": None,
                     "o_lisp.guardian": ("o_lisp.guardian._wal", "o_lisp.guardian._vault")},
    "o_lisp.evolution": {CORE: None, "o_lisp.agent": None},
    "o_lisp.worker": {CORE: None, "o_lisp.agent": None, "o_lisp.memory": None, "o_lisp.llm": None, "o_lisp.evolution": None,
                      "o_lisp.guardian": ("o_lisp.guardian._protocol",)},
    # `_individual`: the search <-> evaluator contract (plain data), for the population cycle's pool.
    # `_ratings`: users' ratings as a canary signal (pure statistics, like `_decision`).
    "o_lisp.guardian": {CORE: None, "o_lisp.evolution": ("o_lisp.evolution._decision", "o_lisp.evolution._stats",
                                                         "o_lisp.evolution._individual", "o_lisp.evolution._ratings")},
}
"""docs/architecture.md's table "Packages and what each may import", as data (`o_lisp.cli` may import anything)."""


def _package_of(module: str) -> str:
    return next((p for p in PACKAGES if module == p or module.startswith(p + ".")), CORE)


def forbidden_edges(graph: Mapping[str, set[str]]) -> list[tuple[str, str]]:
    found = []
    for module, imported in graph.items():
        source = _package_of(module)
        if source == "o_lisp.cli":
            continue
        for target in imported:
            package = _package_of(target)
            if package == source:
                continue
            rules = ALLOWED.get(source, {})
            if package not in rules or (rules[package] is not None and target not in (rules[package] or ())):
                found.append((module, target))
    return sorted(found)


def test_every_import_between_packages_is_one_the_table_allows() -> None:
    assert forbidden_edges(import_graph()) == []


def test_the_package_table_refuses_what_it_does_not_list() -> None:
    graph = {"o_lisp.memory._store": {"o_lisp.agent._state", "o_lisp._errors"},
             "o_lisp.worker._serve": {"o_lisp.guardian._protocol", "o_lisp.guardian._wal"},
             "o_lisp._reader": {"o_lisp.forms"}}
    assert forbidden_edges(graph) == [("o_lisp.memory._store", "o_lisp.agent._state"),
                                      ("o_lisp.worker._serve", "o_lisp.guardian._wal")]
