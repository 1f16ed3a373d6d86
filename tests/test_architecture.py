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
