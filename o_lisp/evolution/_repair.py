"""Repair operators (GenProg / PyGGI style): every one-step edit of a definition form.

`edits(form, body_from)` enumerates concrete `Edit`s — each names its operator, the path
it changes and a *context* (the syntax around the site, e.g. ``while`` or ``get``), the
key under which the search learns which operators work where. Operators are
scope-aware: a symbol is only ever replaced by, or built from, a name bound where it
lands (`o_lisp.evolution._scope`). The classes, with the bugs they fix:

``swap-operator``   within a class: arithmetic, bitwise (``^``<->``&``), comparison
                    (``=``<->``<=``), boolean, ``any``/``all``, ``min``/``max``, ...
``negate``          insert or remove ``not`` around a condition.
``perturb-constant``  an integer ±1 (an off-by-one), a float ±1 or negated, True<->False.
``shift-index``     an index or bound expression ±1: ``x`` -> ``(+ x 1)`` / ``(- x 1)``.
``replace-symbol``  a variable by another one in scope.
``replace-expression``  an expression by a variable in scope.
``swap-args``       two arguments of a call, or the branches of an ``if``.
``wrap``            in ``abs``, ``(max 0 _)``, ``(min 0 _)``; a condition in
                    ``(or _ (not v))`` / ``(and _ v)``.
``unwrap``          a call by one of its arguments (undoes a wrong wrap or offset).
``add-operand``     to ``and``/``or``: a copy of an operand with one variable replaced.
``condition``       a boolean literal by a test of a variable: ``(= v 0)``, ``(not v)``...
``fill``            an empty list by a list of one variable.
``accumulate``      ``(setv x e)`` -> ``(setv x (+ x e))`` (or ``(+ e x)``).
``guard``           ``(when (not p) (return k))`` first, for a parameter p and a
                    constant k of the definition (or 0, None, [], "").
``delete-statement`` / ``duplicate-statement`` / ``move-statement`` / ``insert-statement``
                    (a copy of another statement of the definition) / ``insert-setv``
                    (``(setv v 0)`` or ``1`` for a variable the function assigns).

Crossover (`crossover`) is homologous: both parents descend from the same definition,
so it copies one subtree where they differ from the second parent into the first, which
combines their edits and never brings in code of another definition.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from o_lisp.evolution._individual import Path
from o_lisp.evolution._mutate import get_at, replace_at, splice_at
from o_lisp.evolution._scope import LITERAL_SYMBOLS, Scope, analyse
from o_lisp.forms import Expression, Float, Integer, Keyword, List, Sequence, String, Symbol

CLASSES: tuple[tuple[str, ...], ...] = (
    ("+", "-", "*", "/", "//", "%", "**"),
    ("&", "|", "^", "<<", ">>"),
    ("<", "<=", ">", ">=", "=", "!="),
    ("and", "or"),
    ("any", "all"),
    ("min", "max"),
    ("is", "is-not"),
    ("in", "not-in"),
    ("when", "unless"),
    ("inc", "dec"),
    ("first", "last"),
)
_CLASS_OF = {name: group for group in CLASSES for name in group}
_NEAR = {frozenset(p) for p in (("<", "<="), (">", ">="), ("<", ">"), ("<=", ">="), ("=", "!="), ("+", "-"),
                                ("*", "/"), ("/", "//"), ("//", "%"), ("&", "|"), ("&", "^"), ("|", "^"),
                                ("<<", ">>"), ("and", "or"), ("any", "all"), ("min", "max"), ("is", "is-not"),
                                ("in", "not-in"), ("when", "unless"), ("inc", "dec"), ("first", "last"))}
_MIDDLE = {frozenset(p) for p in (("=", "<="), ("=", ">="), ("<", ">="), (">", "<="), ("*", "**"), ("+", "*"))}


def _closeness(a: str, b: str) -> float:
    """The weight of swapping operator `a` for `b`: the usual slips (``<`` for ``<=``, ``+``
    for ``-``, ``^`` for ``&``) first, far-fetched swaps (``<`` for ``!=``) rarely."""
    pair = frozenset((a, b))
    return 1.0 if pair in _NEAR else 0.4 if pair in _MIDDLE else 0.15
OPERATORS = ("swap-operator", "negate", "perturb-constant", "shift-index", "replace-symbol", "replace-expression",
             "swap-args", "wrap",
             "unwrap", "add-operand", "condition", "fill", "accumulate", "guard", "delete-statement",
             "duplicate-statement", "move-statement", "insert-statement", "insert-setv")
PRIORS = {"swap-operator": 3.0, "perturb-constant": 2.0, "replace-symbol": 2.0, "replace-expression": 0.5,
          "swap-args": 1.5, "shift-index": 1.5,
          "negate": 1.0, "wrap": 1.0, "unwrap": 1.0, "add-operand": 1.0, "condition": 1.0, "fill": 0.5,
          "accumulate": 0.5, "guard": 0.7, "delete-statement": 0.7, "duplicate-statement": 0.3,
          "move-statement": 0.5, "insert-statement": 0.7, "insert-setv": 0.5}
"""How often each operator is tried before anything is learned (the learned success rates multiply these)."""
_INDEXED = frozenset({"get", "cut", "range", "<", "<=", ">", ">=", "=", "!=", "+", "-", "*", "//", "%", "setv",
                      "return", "nth", "slice", "insert", "pop"})
_NO_SWAP = frozenset({"setv", "setx", "let", "for", "fn", "defn", "cond", "when", "unless", "while", "do", "lfor",
                      "sfor", "gfor", "dfor", "with", "try", "return", "quote", "quasiquote", ".", "+=", "-=", "*=",
                      "assert", "del", "get"})
_NO_UNWRAP = frozenset({"setv", "setx", "let", "for", "fn", "defn", "while", "lfor", "sfor", "gfor", "dfor", "with",
                        "try", "return", "quote", "quasiquote", ".", "cond", "do", "+=", "-=", "*="})
_GUARD_DEFAULTS: tuple[Any, ...] = (Integer(0), Symbol("None"), List([]), String(""))


@dataclass(frozen=True)
class Edit:
    """One concrete change: replace the subform at `path` by `items` (one form), or with
    `splice`, replace it by all of `items` (none deletes it, two insert one)."""

    operator: str
    path: Path
    items: tuple[Any, ...]
    context: str
    splice: bool = False
    weight: float = 1.0
    """How likely this edit is among its operator's (e.g. ``<`` -> ``<=`` over ``<`` -> ``=``)."""

    def apply(self, form: Any) -> Any:
        if self.splice:
            return splice_at(form, self.path, list(self.items))
        return replace_at(form, self.path, self.items[0])


def _head(form: Any) -> str | None:
    if type(form) is Expression and form and type(form[0]) is Symbol:
        return str(form[0])
    return None


def _is_literal(form: Any) -> bool:
    return type(form) in (Integer, Float, String, Keyword) or (type(form) is Symbol and str(form) in LITERAL_SYMBOLS)


def _expr(*items: Any) -> Any:
    return Expression(list(items))


def context_of(form: Any, path: Path) -> str:
    """The syntax around `path`: the head of the enclosing call (or "call" for a plain
    function), "body" for a statement, "top" at the root."""
    if not path:
        return "top"
    try:
        parent = get_at(form, path[:-1])
    except (IndexError, TypeError):
        return "top"
    head = _head(parent)
    if head is None:
        return type(parent).__name__.lower()
    if head in _CLASS_OF or head in _NO_SWAP or head in ("if", "and", "or", "not", "len", "abs", "max", "min"):
        return head
    return "call"


class _Enumerator:
    def __init__(self, form: Any, scope: Scope) -> None:
        self.form = form
        self.scope = scope
        self.out: list[Edit] = []

    def add(self, operator: str, path: Path, *items: Any, splice: bool = False, weight: float = 1.0) -> None:
        self.out.append(Edit(operator, path, tuple(items), context_of(self.form, path), splice, weight))

    def locals_at(self, path: Path) -> list[str]:
        return sorted(self.scope.visible.get(path, frozenset()))

    def run(self) -> list[Edit]:
        form, scope = self.form, self.scope
        constants = self.constants()
        for path in sorted(scope.heads):
            self.heads(path)
        for path in scope.values():
            self.value(path, get_at(form, path))
        for path in sorted(scope.conditions):
            if path in scope.visible:
                self.condition(path, get_at(form, path))
        for container, start in scope.bodies:
            self.statements(container, start, constants)
        return self.out

    def constants(self) -> list[Any]:
        seen: dict[str, Any] = {}
        for path in self.scope.values():
            node = get_at(self.form, path)
            if type(node) in (Integer, Float, String) or (type(node) is Symbol and str(node) in ("True", "False")):
                seen.setdefault(f"{type(node).__name__}:{node}", node)
        return list(seen.values())

    def heads(self, path: Path) -> None:
        name = str(get_at(self.form, path))
        call = get_at(self.form, path[:-1])
        for other in _CLASS_OF.get(name, ()):
            if other != name and not (other in ("!=", "is", "is-not", "in", "not-in") and len(call) < 3):
                self.add("swap-operator", path, Symbol(other), weight=_closeness(name, other))

    def value(self, path: Path, node: Any) -> None:
        here = self.locals_at(path)
        parent_head = _head(get_at(self.form, path[:-1])) if path else None
        if type(node) is Integer:
            for delta in (1, -1):
                self.add("perturb-constant", path, Integer(int(node) + delta))
        elif type(node) is Float:
            for new in (float(node) + 1, float(node) - 1, -float(node)):
                self.add("perturb-constant", path, Float(new))
        elif type(node) is Symbol and str(node) in ("True", "False"):
            self.add("perturb-constant", path, Symbol("False" if str(node) == "True" else "True"))
            for name in here:
                for test in (_expr(Symbol("="), Symbol(name), Integer(0)), _expr(Symbol("not"), Symbol(name)),
                             _expr(Symbol(">"), Symbol(name), Integer(0))):
                    self.add("condition", path, test)
        elif type(node) is Symbol and str(node) in here:
            for name in here:
                if name != str(node):
                    self.add("replace-symbol", path, Symbol(name))
        elif type(node) is List and not node:
            for name in here:
                self.add("fill", path, List([Symbol(name)]))
        if not (parent_head in ("setv", "setx") and path[-1] % 2 == 1):  # not an assignment's target
            self._expression(path, node, here, parent_head)

    def _expression(self, path: Path, node: Any, here: list[str], parent_head: str | None) -> None:
        head = _head(node)
        if (type(node) is Symbol and str(node) in here) or (type(node) is Expression and head not in (None, "fn")):
            if parent_head in _INDEXED:
                for op in ("+", "-"):
                    self.add("shift-index", path, _expr(Symbol(op), node, Integer(1)))
        if type(node) is not Expression or not node:
            return
        if head is not None and head not in _NO_SWAP:
            args = [i for i in range(1, len(node)) if type(node[i]) is not Keyword
                    and (i == 1 or type(node[i - 1]) is not Keyword)]
            if head == "if" and len(node) == 4:
                args = [2, 3]
            for a in range(len(args)):
                for b in range(a + 1, min(len(args), a + 3)):
                    items = list(node)
                    items[args[a]], items[args[b]] = items[args[b]], items[args[a]]
                    if items != list(node):
                        self.add("swap-args", path, Expression(items))
        if head is not None and head not in _NO_UNWRAP:
            for i in range(1, len(node)):
                if type(node[i]) is not Keyword and not (type(node[i]) is Symbol and str(node[i]) in LITERAL_SYMBOLS):
                    self.add("unwrap", path, node[i])
        if head == "not" and len(node) == 2:
            self.add("negate", path, node[1])
        if head not in ("setv", "setx", "return", "fn", "defn", "for", "while", "when", "unless", "do", "let") \
                and path not in self.scope.conditions:
            self.add("wrap", path, _expr(Symbol("abs"), node))
            self.add("wrap", path, _expr(Symbol("max"), Integer(0), node))
            self.add("wrap", path, _expr(Symbol("min"), Integer(0), node))
        if head in ("setv", "setx") and len(node) == 3 and type(node[1]) is Symbol:
            for op in ("+",):
                self.add("accumulate", (*path, 2), _expr(Symbol(op), node[1], node[2]))
                self.add("accumulate", (*path, 2), _expr(Symbol(op), node[2], node[1]))
        if type(node) is Expression and head not in ("setv", "setx", "fn", "defn", "let", "for", "while", "do"):
            for name in here:
                self.add("replace-expression", path, Symbol(name))

    def condition(self, path: Path, node: Any) -> None:
        here = self.locals_at(path)
        if _head(node) != "not":
            self.add("negate", path, _expr(Symbol("not"), node))
        for name in here:
            self.add("wrap", path, _expr(Symbol("or"), node, _expr(Symbol("not"), Symbol(name))))
            self.add("wrap", path, _expr(Symbol("and"), node, Symbol(name)))
        if _head(node) in ("and", "or"):
            for i in range(1, len(node)):
                operand = node[i]
                for sub_path, sub in _symbols(operand):
                    for name in here:
                        if name != str(sub):
                            self.add("add-operand", path,
                                     Expression([*node, replace_at(operand, sub_path, Symbol(name))]))

    def statements(self, container: Path, start: int, constants: list[Any]) -> None:
        body = get_at(self.form, container)
        if start >= len(body):
            return
        everything = [get_at(self.form, (*c, i)) for c, s in self.scope.bodies
                      for i in range(s, len(get_at(self.form, c)))]
        assigned = sorted(self.scope.assigned)
        for i in range(start, len(body)):
            path = (*container, i)
            if len(body) - start > 1:
                self.add("delete-statement", path, splice=True)
            self.add("duplicate-statement", path, body[i], body[i], splice=True)
            if i + 1 < len(body):
                self.add("move-statement", container, _swapped(body, i))
            for statement in everything:
                if statement is not body[i]:
                    self.add("insert-statement", path, statement, body[i], splice=True)
            for name in assigned:
                for k in (Integer(0), Integer(1)):
                    self.add("insert-setv", path, _expr(Symbol("setv"), Symbol(name), k), body[i], splice=True)
        last = (*container, len(body) - 1)
        for name in assigned:
            for k in (Integer(0), Integer(1)):
                self.add("insert-setv", last, body[-1], _expr(Symbol("setv"), Symbol(name), k), splice=True)
        if container == ():
            params = self._params()
            for name in params:
                for k in [*_GUARD_DEFAULTS, *(c for c in constants if type(c) is not String)]:
                    guard = _expr(Symbol("when"), _expr(Symbol("not"), Symbol(name)), _expr(Symbol("return"), k))
                    self.add("guard", (*container, start), guard, body[start], splice=True)

    def _params(self) -> list[str]:
        if _head(self.form) == "defn" and len(self.form) >= 3 and type(self.form[2]) is List:
            return [str(p) for p in self.form[2] if type(p) is Symbol and not str(p).startswith("&")]
        return []


def _swapped(body: Any, i: int) -> Any:
    items = list(body)
    items[i], items[i + 1] = items[i + 1], items[i]
    return type(body)(items)


def _symbols(form: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    if type(form) is Symbol and str(form) not in LITERAL_SYMBOLS:
        yield path, form
    elif type(form) is Expression:
        for i in range(1, len(form)):
            yield from _symbols(form[i], (*path, i))


def edits(form: Any, body_from: int | None) -> list[Edit]:
    """Every one-step edit of `form` (a definition whose body starts at `body_from`)."""
    return _Enumerator(form, analyse(form, body_from)).run()


# -- crossover -------------------------------------------------------------------------------


def differences(a: Any, b: Any, path: Path = ()) -> list[Path]:
    """The outermost paths where `a` and `b` differ, descending while both are sequences
    of the same type and length."""
    if a == b and type(a) is type(b):
        return []
    if isinstance(a, Sequence) and not isinstance(a, String) and type(a) is type(b) and len(a) == len(b):
        out: list[Path] = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out.extend(differences(x, y, (*path, i)))
        return out
    return [path]


def crossover(a: Any, b: Any, rng: random.Random) -> Any | None:
    """`a` with one subtree where it differs from `b` taken from `b` (None when they are
    equal). Both descend from one definition, so a path means the same place in both."""
    spots = differences(a, b)
    if not spots or spots == [()]:
        return None
    path = spots[rng.randrange(len(spots))]
    return replace_at(a, path, get_at(b, path))


__all__ = ["CLASSES", "OPERATORS", "PRIORS", "Edit", "context_of", "crossover", "differences", "edits"]
