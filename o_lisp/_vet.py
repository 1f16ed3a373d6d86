"""`vet()`: the sandbox's second wall, on the Python code the compiler generates.

Whatever the compiler's special forms do, the code that runs is checked here before it
is compiled to bytecode: no attribute access, imports, classes, lambdas or dunder names,
only literal constants, and every generated function charges a step when it is entered
(the safe `map`/`filter` rely on it). A refusal is a compiler bug, never user input.
Kept apart from the compiler so that this check changes only when the subset does.
"""

from __future__ import annotations

import ast

from o_lisp._errors import SandboxViolation
from o_lisp._helpers import NEXT, TICK, TICKER

_ALLOWED_NODES: tuple[type, ...] = (
    ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.Delete, ast.If, ast.While, ast.For,
    ast.Break, ast.Continue, ast.Return, ast.Raise, ast.Try, ast.ExceptHandler, ast.FunctionDef,
    ast.arguments, ast.arg, ast.keyword, ast.Global, ast.Nonlocal, ast.Pass, ast.Name,
    ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Starred, ast.Subscript, ast.Slice,
    ast.Call, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.ListComp,
    ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.Yield, ast.YieldFrom,
    ast.NamedExpr,
    ast.Load, ast.Store, ast.Del, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)


def _ticks_on_entry(fdef: ast.FunctionDef) -> bool:
    """Whether the function's first statement (after its docstring) is a step,
    `_o_next(_o_ticker)` (or `_o_tick()`): the safe `map`/`filter` rely on it to charge
    one step per item."""
    body = fdef.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and len(body) > 1:
        body = body[1:]
    first = body[0] if body else None
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Call)):
        return False
    call = first.value
    if not isinstance(call.func, ast.Name) or call.keywords:
        return False
    if call.func.id == TICK:
        return not call.args
    return (
        call.func.id == NEXT and len(call.args) == 1
        and isinstance(call.args[0], ast.Name) and call.args[0].id == TICKER
    )


def _is_generator(fdef: ast.FunctionDef) -> bool:
    """Whether `fdef` itself (not a function nested in it) contains `yield`."""
    todo: list[ast.AST] = list(fdef.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if not isinstance(node, ast.FunctionDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(node))
    return False


def vet(tree: ast.AST) -> None:
    """Refuse generated code outside the vetted subset (a compiler bug, never user input).

    This is the last line of defence: whatever the compiler's special forms do,
    the code that runs contains no attribute access, imports, classes, lambdas
    or dunder names.
    """
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise SandboxViolation(f"internal: generated code contains a forbidden {type(node).__name__} node")
        name = None
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.FunctionDef):
            name = node.name
            if not _ticks_on_entry(node) and not _is_generator(node):
                raise SandboxViolation(f"internal: function {node.name!r} does not charge a step on entry")
        elif isinstance(node, ast.arg):
            name = node.arg
        elif isinstance(node, ast.keyword):
            name = node.arg
        elif isinstance(node, ast.ExceptHandler):
            name = node.name
        elif isinstance(node, ast.Global | ast.Nonlocal):
            for n in node.names:
                if n.startswith("__"):
                    raise SandboxViolation(f"internal: dunder name {n!r} in generated code")
        if name is not None and name.startswith("__"):
            raise SandboxViolation(f"internal: dunder name {name!r} in generated code")
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | complex | str | bytes | bool | type(None) | type(...)):
            raise SandboxViolation("internal: non-literal constant in generated code")



__all__ = ["vet"]
