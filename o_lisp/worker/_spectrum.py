"""Spectrum: which subforms of a target definition each check executed (fault localisation).

A spectrum-based localiser (Ochiai) ranks the subforms of the target by how often
failing checks executed them compared with passing ones, and the search mutates the
suspicious ones first. To observe execution, the target is *instrumented*: selected
subforms X become `(do (HIT K) X)`, where HIT is a recorder bound under a random name
in a scratch agent and K indexes the path of X in the original form, numbered exactly as
`o_lisp.evolution._mutate.subforms` numbers them (indices from the root). `do` keeps X's
value and its position as a statement, so the instrumented code computes what the
original computes.

What is instrumented (and nothing else):

* statement positions: the body forms of the definition, of `fn`/`defn`, `do`, `let`,
  `when`/`unless`, `while`/`for` (including their `else` clause's forms);
* branches: both arms of `if`, each result of `cond`, the operands of `and`/`or`;
* expressions (calls and special forms) in evaluation positions: arguments of function
  calls, conditions, `setv`/`let` values, `for`'s iterable, `return`'s value.

Never: binding targets and parameter lists, special-form syntax (clause vectors,
`else` heads, keywords), the head of a call, docstrings, and anything inside a macro
call (its arguments are syntax the macro decides about), a quoted form, `try` or a
comprehension (whose clauses bind names).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from o_lisp.agent._definitions import DefinitionKind
from o_lisp.evolution._individual import Path
from o_lisp.evolution._mutate import body_start
from o_lisp.forms import Expression, Integer, Keyword, List, String, Symbol

_OPAQUE = frozenset({
    "quote", "quasiquote", "try", "lfor", "sfor", "gfor", "dfor", ".", "setx", "global", "nonlocal",
    "del", "pragma", "f-string", "chainc", "defmacro", "assert", "break", "continue", "yield", "raise",
    "unquote", "unquote-splice", "unpack-iterable", "unpack-mapping", "else", "except", "finally",
})  # fmt: skip
_OPERANDS = frozenset({"not", "return", "get", "cut"})
_BRANCHES = frozenset({"and", "or"})
_NOT_A_VALUE = frozenset({"unpack-iterable", "unpack-mapping", "unquote", "unquote-splice", "else"})


def _head(form: Any) -> str | None:
    if type(form) is Expression and form and type(form[0]) is Symbol:
        return str(form[0])
    return None


class _Instrumenter:
    def __init__(self, hit: Symbol, is_macro: Callable[[str], bool]) -> None:
        self.hit = hit
        self.is_macro = is_macro
        self.paths: list[Path] = []

    # -- the three kinds of position ---------------------------------------------------------
    def _wrap(self, node: Any, path: Path) -> Any:
        index = len(self.paths)
        self.paths.append(path)
        return Expression([Symbol("do"), Expression([self.hit, Integer(index)]), node])

    def statement(self, node: Any, path: Path) -> Any:
        new = self.descend(node, path)
        if type(node) is Keyword or _head(node) in _NOT_A_VALUE:
            return new
        return self._wrap(new, path)

    def branch(self, node: Any, path: Path) -> Any:
        return self.statement(node, path)

    def value(self, node: Any, path: Path) -> Any:
        new = self.descend(node, path)
        if type(node) is not Expression or not node or _head(node) in _NOT_A_VALUE:
            return new
        return self._wrap(new, path)

    def statements(self, items: list[Any], path: Path, start: int) -> None:
        for i in range(start, len(items)):
            if _head(items[i]) == "else":  # a loop's else clause: its forms are statements
                clause = list(items[i])
                for j in range(1, len(clause)):
                    clause[j] = self.statement(clause[j], (*path, i, j))
                items[i] = Expression(clause)
            else:
                items[i] = self.statement(items[i], (*path, i))

    # -- syntax ----------------------------------------------------------------------------
    def descend(self, node: Any, path: Path) -> Any:
        """`node` with its own subforms instrumented (by the syntax of its head)."""
        if type(node) is not Expression or not node:
            return node
        items = list(node)
        head = _head(node)
        if head in _OPAQUE:
            return node
        if head == "if" and len(items) in (3, 4):
            items[1] = self.value(items[1], (*path, 1))
            for i in range(2, len(items)):
                items[i] = self.branch(items[i], (*path, i))
        elif head in ("when", "unless") and len(items) >= 2:
            items[1] = self.value(items[1], (*path, 1))
            self.statements(items, path, 2)
        elif head == "cond" and len(items) % 2 == 1:
            for i in range(1, len(items), 2):
                items[i] = self.value(items[i], (*path, i))
                items[i + 1] = self.branch(items[i + 1], (*path, i + 1))
        elif head == "do":
            self.statements(items, path, 1)
        elif head in _BRANCHES:
            for i in range(1, len(items)):
                items[i] = self.branch(items[i], (*path, i))
        elif head in _OPERANDS:
            for i in range(1, len(items)):
                items[i] = self.value(items[i], (*path, i))
        elif head == "while" and len(items) >= 2:
            items[1] = self.value(items[1], (*path, 1))
            self.statements(items, path, 2)
        elif head == "for" and len(items) >= 2 and type(items[1]) is List:
            clause = list(items[1])
            if len(clause) == 2 and type(clause[0]) is Symbol:
                clause[1] = self.value(clause[1], (*path, 1, 1))
                items[1] = List(clause)
            self.statements(items, path, 2)
        elif head == "fn" and len(items) >= 2 and type(items[1]) is List:
            self.statements(items, path, 2)
        elif head == "defn" and len(items) >= 3 and type(items[1]) is Symbol and type(items[2]) is List:
            self.statements(items, path, 4 if len(items) > 4 and type(items[3]) is String else 3)
        elif head == "let" and len(items) >= 2 and type(items[1]) is List:
            bindings = list(items[1])
            for i in range(1, len(bindings), 2):
                bindings[i] = self.value(bindings[i], (*path, 1, i))
            items[1] = List(bindings)
            self.statements(items, path, 2)
        elif head == "setv":
            for i in range(2, len(items), 2):
                items[i] = self.value(items[i], (*path, i))
        elif head is not None and (head in _SYNTAX or self.is_macro(head)):
            return node  # a macro's arguments, or special-form syntax not handled above
        else:  # a call (of a function, an operator or a method): its arguments are values
            for i in range(1, len(items)):
                if type(items[i]) is not Keyword:
                    items[i] = self.value(items[i], (*path, i))
        return Expression(items, getattr(node, "_pos", None))


_SYNTAX = frozenset({"if", "when", "unless", "cond", "while", "for", "fn", "defn", "let", "setv", "do"})


def instrument(form: Any, kind: DefinitionKind, hit: Symbol, is_macro: Callable[[str], bool]) -> tuple[Any, list[Path]]:
    """`form` (a definition of `kind`) instrumented with calls of `hit`, and the path of
    the subform each call index stands for. Only functions, tools and rules have a body
    that tests execute; other kinds come back unchanged, with no paths."""
    instrumenter = _Instrumenter(hit, is_macro)
    start = body_start(form, kind) if kind in (DefinitionKind.FUNCTION, DefinitionKind.TOOL, DefinitionKind.RULE) else None
    if start is None or type(form) is not Expression:
        return form, []
    items = list(form)
    if kind is DefinitionKind.RULE and start - 1 < len(items):
        items[start - 1] = instrumenter.value(items[start - 1], (start - 1,))
    instrumenter.statements(items, (), start)
    return Expression(items, getattr(form, "_pos", None)), instrumenter.paths


__all__ = ["instrument"]
