"""Local scope of a definition form: which names are bound where (the scope check).

Repair operators replace a symbol by "another in-scope symbol" and move statements
around; a candidate that references a name not bound where it is used would only die
with a NameError at run time, after costing an evaluation. `analyse` walks a definition
the way the compiler binds names — parameters (with defaults evaluated outside), `let`,
`for` and comprehension binders (`lfor`/`sfor`/`gfor`/`dfor`, with their `:if`/`:setv`
clauses), `fn`, `with`, `except [e ...]`, and the function-scope locals that `setv`,
`for` and `with` assign (Python semantics: a local of the whole function) — and records,
for every subform in a *value position*, the local names visible there. Quoted forms,
keywords, method and attribute names are not references.

`unbound` lists the references to names that are neither local there nor in `known`
(the agent's globals, special forms and macros, from the evaluator side). The search
checks a candidate before asking for its evaluation; the parent's own unbound names
(whatever this analysis cannot see) are tolerated, so the check never rejects code
the parent already had.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from o_lisp.evolution._individual import Path
from o_lisp.forms import Expression, Keyword, List, Sequence, Set, String, Symbol, Tuple

LITERAL_SYMBOLS = frozenset({"True", "False", "None", "...", "Ellipsis"})
_COMPREHENSIONS = {"lfor": 1, "sfor": 1, "gfor": 1, "dfor": 2}
_OPAQUE = frozenset({"quote", "quasiquote", "import", "require", "defmacro", "defclass", "pragma", "global",
                     "nonlocal"})
_ASSIGN = frozenset({"setv", "setx"})
_AUGMENTED = frozenset({"+=", "-=", "*=", "/=", "//=", "%=", "**=", "&=", "|=", "^=", "<<=", ">>=", "@="})


@dataclass
class Scope:
    """What `analyse` found.

    `visible` maps the path of every subform in a value position (and every call head)
    to the local names bound there; `references` the symbol references (path, name),
    call heads included; `bodies` each statement sequence as (path of its container,
    index of its first statement); `assigned` the names some `setv` assigns."""

    visible: dict[Path, frozenset[str]] = field(default_factory=dict)
    references: list[tuple[Path, str]] = field(default_factory=list)
    heads: set[Path] = field(default_factory=set)
    bodies: list[tuple[Path, int]] = field(default_factory=list)
    assigned: set[str] = field(default_factory=set)
    conditions: set[Path] = field(default_factory=set)

    def values(self) -> list[Path]:
        """Paths of the subforms in value positions (not call heads), in pre-order."""
        return sorted(p for p in self.visible if p not in self.heads)


def _head(form: Any) -> str | None:
    if type(form) is Expression and form and type(form[0]) is Symbol:
        return str(form[0])
    return None


def _root(name: str) -> str:
    """`a.b.c` refers to `a`."""
    return name.split(".", 1)[0] if not name.startswith(".") else name


def targets(form: Any) -> set[str]:
    """The names a binding target binds (`x`, `[a b]`, `#* rest`)."""
    if type(form) is Symbol:
        name = str(form)
        return set() if name in LITERAL_SYMBOLS or name == "_" else {name}
    if type(form) in (List, Tuple):
        out: set[str] = set()
        for item in form:
            out |= targets(item)
        return out
    if _head(form) in ("unpack-iterable", "unpack-mapping") and len(form) == 2:
        return targets(form[1])
    return set()


def _params(form: Any) -> tuple[set[str], list[tuple[int, Any]]]:
    """Names a parameter list binds, and the (index, default) pairs evaluated outside."""
    names: set[str] = set()
    defaults: list[tuple[int, Any]] = []
    if type(form) is not List:
        return names, defaults
    for i, item in enumerate(form):
        if type(item) is Symbol and not str(item).startswith("&") and str(item) not in ("*", "/"):
            names.add(str(item))
        elif type(item) is List and item and type(item[0]) is Symbol:
            names.add(str(item[0]))
            if len(item) > 1:
                defaults.append((i, item[1]))
        elif _head(item) in ("unpack-iterable", "unpack-mapping"):
            names |= targets(item)
    return names, defaults


def _function_locals(body: Iterable[Any]) -> set[str]:
    """Names assigned anywhere in a function body (not inside nested functions)."""
    out: set[str] = set()
    stack = list(body)
    while stack:
        node = stack.pop()
        head = _head(node)
        if head in ("fn", "defn", *_OPAQUE, *_COMPREHENSIONS):
            continue
        if head in _ASSIGN:
            for i in range(1, len(node), 2):
                out |= targets(node[i])
        elif head == "for" and len(node) > 1 and type(node[1]) is List:
            for i in range(0, len(node[1]), 2):
                out |= targets(node[1][i])
        elif head == "with" and len(node) > 1 and type(node[1]) is List and len(node[1]) >= 2:
            for i in range(0, len(node[1]) - 1, 2):
                out |= targets(node[1][i])
        if isinstance(node, Sequence) and not isinstance(node, String):
            stack.extend(node)
    return out


class _Walker:
    def __init__(self) -> None:
        self.scope = Scope()

    def body(self, node: Any, path: Path, start: int, env: frozenset[str]) -> None:
        if start <= len(node):
            self.scope.bodies.append((path, start))
        for i in range(start, len(node)):
            self.value(node[i], (*path, i), env)

    def function(self, node: Any, path: Path, params_at: int, start: int, env: frozenset[str]) -> None:
        names, defaults = _params(node[params_at])
        for i, default in defaults:
            self.value(default, (*path, params_at, i, 1), env)
        inner = env | names | _function_locals(node[start:])
        self.scope.assigned |= _function_locals(node[start:])
        self.body(node, path, start, frozenset(inner))

    def value(self, node: Any, path: Path, env: frozenset[str]) -> None:
        self.scope.visible[path] = env
        if type(node) is Symbol:
            if str(node) not in LITERAL_SYMBOLS:
                self.scope.references.append((path, _root(str(node))))
            return
        if type(node) in (List, Tuple, Set) or (isinstance(node, Sequence) and type(node) is not Expression
                                                 and not isinstance(node, String)):
            for i, child in enumerate(node):
                self.value(child, (*path, i), env)
            return
        if type(node) is not Expression or not node:
            return
        head = _head(node)
        if head in _OPAQUE:
            return
        if head == ".":
            if len(node) > 1 and node[1] != Symbol("None"):
                self.value(node[1], (*path, 1), env)
            return
        if head == "fn" and len(node) >= 2:
            self.function(node, path, 1, 2, env)
        elif head == "defn" and len(node) >= 3 and type(node[1]) is Symbol:
            start = 4 if len(node) > 4 and type(node[3]) is String else 3
            self.function(node, path, 2, start, env | {str(node[1])})
        elif head == "let" and len(node) >= 2 and type(node[1]) is List:
            inner = set(env)
            for i in range(0, len(node[1]) - 1, 2):
                self.value(node[1][i + 1], (*path, 1, i + 1), frozenset(inner))
                inner |= targets(node[1][i])
            self.body(node, path, 2, frozenset(inner))
        elif head == "for" and len(node) >= 2 and type(node[1]) is List:
            inner = set(env)
            for i in range(0, len(node[1]) - 1, 2):
                self.value(node[1][i + 1], (*path, 1, i + 1), frozenset(inner))
                inner |= targets(node[1][i])
            self.body(node, path, 2, frozenset(inner))
        elif head in _COMPREHENSIONS:
            self.comprehension(node, path, env, _COMPREHENSIONS[head])
        elif head in _ASSIGN:
            for i in range(1, len(node)):
                if i % 2 == 0:
                    self.value(node[i], (*path, i), env)
                elif type(node[i]) is Expression:  # (setv (get xs i) v): the target is an expression
                    self.value(node[i], (*path, i), env)
        elif head in _AUGMENTED:
            for i in range(1, len(node)):
                self.value(node[i], (*path, i), env)
        elif head == "with" and len(node) >= 2 and type(node[1]) is List:
            inner = set(env)
            items = node[1]
            i = 0
            while i < len(items):
                if i + 1 < len(items) and type(items[i]) is Symbol and _head(items[i + 1]) is not None:
                    self.value(items[i + 1], (*path, 1, i + 1), env)
                    inner |= targets(items[i])
                    i += 2
                else:
                    self.value(items[i], (*path, 1, i), env)
                    i += 1
            self.body(node, path, 2, frozenset(inner))
        elif head == "try":
            for i in range(1, len(node)):
                child = node[i]
                clause = _head(child)
                if clause in ("except", "except*") and len(child) >= 2 and type(child[1]) is List:
                    names = child[1]
                    inner = set(env)
                    if len(names) == 2 and type(names[0]) is Symbol:
                        inner.add(str(names[0]))
                        self.value(names[1], (*path, i, 1, 1), env)
                    elif len(names) == 1:
                        self.value(names[0], (*path, i, 1, 0), env)
                    self.body(child, (*path, i), 2, frozenset(inner))
                elif clause in ("else", "finally"):
                    self.body(child, (*path, i), 1, env)
                else:
                    self.value(child, (*path, i), env)
        else:
            self.call(node, path, head, env)

    def call(self, node: Any, path: Path, head: str | None, env: frozenset[str]) -> None:
        if head in ("if", "when", "unless", "while") and len(node) >= 2:
            self.scope.conditions.add((*path, 1))
        if head == "cond":
            self.scope.conditions.update((*path, i) for i in range(1, len(node), 2))
        if head in ("and", "or", "not"):
            self.scope.conditions.update((*path, i) for i in range(1, len(node)))
        first = node[0]
        if type(first) is Symbol:
            self.scope.visible[(*path, 0)] = env
            self.scope.heads.add((*path, 0))
            self.scope.references.append(((*path, 0), _root(str(first))))
        elif _head(first) == "." and len(first) == 3 and first[1] == Symbol("None"):
            pass  # a method call's head names a method, not a variable
        else:
            self.value(first, (*path, 0), env)
        if head in ("do", "when", "unless", "while"):
            start = 1 if head == "do" else 2
            for i in range(1, start):
                self.value(node[i], (*path, i), env)
            self.body(node, path, start, env)
            return
        for i in range(1, len(node)):
            if type(node[i]) is not Keyword:
                self.value(node[i], (*path, i), env)

    def comprehension(self, node: Any, path: Path, env: frozenset[str], results: int) -> None:
        inner = set(env)
        end = len(node) - results
        i = 1
        while i < end:
            item = node[i]
            if type(item) is Keyword:
                if item.name == "setv" and i + 2 < len(node):
                    self.value(node[i + 2], (*path, i + 2), frozenset(inner))
                    inner |= targets(node[i + 1])
                    i += 3
                    continue
                if i + 1 < len(node):
                    if item.name == "if":
                        self.scope.conditions.add((*path, i + 1))
                    self.value(node[i + 1], (*path, i + 1), frozenset(inner))
                i += 2
                continue
            if i + 1 < end + results:
                self.value(node[i + 1], (*path, i + 1), frozenset(inner))
            inner |= targets(item)
            i += 2
        for j in range(max(end, 1), len(node)):
            self.value(node[j], (*path, j), frozenset(inner))


def analyse(form: Any, body_from: int | None) -> Scope:
    """The scope of a definition form whose body starts at `body_from` (None: the whole
    form is one value, e.g. a `setv` definition)."""
    walker = _Walker()
    if type(form) is Expression and _head(form) == "defn" and len(form) >= 3:
        walker.value(form, (), frozenset())
        walker.scope.visible.pop((), None)
    elif body_from is not None and type(form) is Expression and _head(form) == "deftool" and len(form) > 2 \
            and type(form[2]) is List:  # (deftool NAME [PARAMS] :option value ... BODY)
        walker.function(form, (), 2, body_from, frozenset())
    elif body_from is not None and type(form) is Expression:
        walker.body(form, (), body_from, frozenset())
    else:
        walker.value(form, (), frozenset())
    return walker.scope


def unbound(scope: Scope, known: frozenset[str]) -> list[tuple[Path, str]]:
    """References to names neither bound locally where they are used nor in `known`."""
    return [(path, name) for path, name in scope.references
            if name not in known and name not in scope.visible.get(path, frozenset())]


__all__ = ["LITERAL_SYMBOLS", "Scope", "analyse", "targets", "unbound"]
