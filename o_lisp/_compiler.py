"""The compiler: forms → a vetted subset of Python's AST → code objects.

Each top-level form is macro-expanded and compiled once. Generated code is
built node by node from forms (never from strings) and then checked by
`vet()`: no attribute access, no imports, no classes, no dunder names, and
internal names (`_o_...`) only where the compiler put them. Budget checks are
inlined at every function entry and loop back-edge, and at every item of a
comprehension.

Names: user symbols are mangled like Hy (`foo-bar` → `foo_bar`); a symbol whose
mangled name starts with `__` or `_o_` is refused, so user code can neither
reach dunders nor the runtime's own helpers.
"""

from __future__ import annotations

import ast
import itertools
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from o_lisp._assertions import assertion_source
from o_lisp._errors import CompileError, LispError, Position, SandboxViolation
from o_lisp._helpers import (
    APPEND,
    FATAL,
    HY_EVAL,
    HY_EVAL_LOCALS,
    METHOD,
    NEXT,
    QUASI,
    REGISTER_MACRO,
    RESULT,
    SETITEM,
    SETSLICE,
    TICK,
    TICKER,
)
from o_lisp._mangle import mangle
from o_lisp._printer import to_source
from o_lisp._runtime import (
    METHOD_NAMES,
    PLAIN_KEY_METHODS,
    PLAIN_METHOD_NAMES,
    PREFERRED_TYPE,
    SMALL_ALLOCATION,
    UNCHECKED_PRODUCT_BITS,
)
from o_lisp._vet import vet
from o_lisp.forms import (
    Bytes,
    Complex,
    Dict,
    Expression,
    Float,
    Integer,
    Keyword,
    List,
    Sequence,
    Set,
    String,
    Symbol,
    Tuple,
)

Stmts = list[ast.stmt]

HY_NAMES = {
    "repr": "hy_repr",
    "gensym": "_o_hy_gensym",
    "mangle": "_o_hy_mangle",
    "unmangle": "_o_hy_unmangle",
    "read": "_o_hy_read",
    "read-many": "_o_hy_read_many",
    "read_many": "_o_hy_read_many",
    "eval": "_o_hy_eval",
    "macroexpand": "macroexpand",
    "macroexpand-1": "macroexpand_1",
    "macroexpand_1": "macroexpand_1",
    "as-model": "_o_hy_as_model",
    "as_model": "_o_hy_as_model",
}
FORM_CLASS_NAMES = {
    "Symbol", "Keyword", "String", "Bytes", "Integer", "Float", "Complex",
    "Expression", "List", "Dict", "Set", "Tuple", "Object",
}

GUARDED_BINOPS = {"+": "_o_add", "*": "_o_mul", "**": "_o_pow", "<<": "_o_lshift", "%": "_o_mod"}
PLAIN_BINOPS: dict[str, type[ast.operator]] = {
    "-": ast.Sub, "/": ast.Div, "//": ast.FloorDiv, ">>": ast.RShift,
    "&": ast.BitAnd, "|": ast.BitOr, "^": ast.BitXor, "@": ast.MatMult,
}
ALL_BINOPS: dict[str, type[ast.operator]] = {
    **PLAIN_BINOPS, "+": ast.Add, "*": ast.Mult, "**": ast.Pow, "<<": ast.LShift, "%": ast.Mod,
}
# Literal types that make a comparison or a hash bounded whatever the other operand is.
_FLAT_CONSTANTS = (int, float, complex, str, bytes, bool, type(None))
COMPARE_OPS: dict[str, type[ast.cmpop]] = {
    "<": ast.Lt, ">": ast.Gt, "<=": ast.LtE, ">=": ast.GtE, "=": ast.Eq, "!=": ast.NotEq,
    "is": ast.Is, "is-not": ast.IsNot, "in": ast.In, "not-in": ast.NotIn,
}
AUGMENTED: dict[str, str] = {
    "+=": "+", "-=": "-", "*=": "*", "/=": "/", "//=": "//", "%=": "%", "**=": "**",
    "<<=": "<<", ">>=": ">>", "&=": "&", "|=": "|", "^=": "^", "@=": "@",
}
MAX_INLINE_OPERANDS = 32
# The Hy version whose syntax o_lisp follows (checked by `(pragma :hy "...")`).
HY_VERSION = (1, 3, 0)

# Mangled spellings of operators resolve to the operator, as in Hy: `(not_in x xs)`.
OPERATOR_ALIASES: dict[str, str] = {
    mangle(op): op for op in [*ALL_BINOPS, *COMPARE_OPS, *AUGMENTED] if mangle(op) != op
}

# Operators that also exist as first-class functions in the builtins (under their mangled names).
OPERATOR_FUNCTIONS = frozenset(
    [*ALL_BINOPS, *COMPARE_OPS, "not", "get", "bnot"]
)

# Methods that grow a collection by one item, inline on their exact type (see
# `Compiler.growth_call`): name -> (the type's helper name, the unbound method's).
GROWTH_METHODS = {"append": ("_o_list", APPEND), "add": ("_o_set", "_o_add_to_set")}
# Guarded operators with an inline fast path behind a type test (see `Compiler.fast_binary`).
FAST_OPS = frozenset(["+", "*", "%"])
# `*` is inline only on ints below this magnitude (a product can double an int's size;
# a sum or difference grows it by one bit at most, so those need no bound).
_SMALL_PRODUCT = 2**31
_PRODUCT_BITS = UNCHECKED_PRODUCT_BITS
# Concatenations up to this length are inline (the runtime charges only longer ones).
_SMALL_CONCAT = SMALL_ALLOCATION
# `(str n)` of an int is inline below this magnitude (the safe `str` checks bigger ones).
_STR_INT_BOUND = 2**4095
GUARDED_AUG = {"+": "_o_iadd", "*": "_o_imul", "**": "_o_pow", "<<": "_o_lshift", "%": "_o_mod"}
AUG_AGGREGATE = {"+": "+", "-": "+", "*": "*", "/": "*", "|": "|", "&": "&", "**": "*"}

FORBIDDEN_FORMS = {
    "import": "import is not available in the sandbox",
    "require": "require is not available in the sandbox",
    "eval-and-compile": "eval-and-compile is not available in the sandbox",
    "eval-when-compile": "eval-when-compile is not available in the sandbox",
    "py": "inline Python (py) is not available in the sandbox",
    "pys": "inline Python (pys) is not available in the sandbox",
    "defclass": "defclass is not available in the sandbox",
    "with": "with is not available in the sandbox",
    "with/a": "with/a is not available in the sandbox",
    "yield-from": "yield-from is not Hy 1.3 syntax; write (yield :from iterable)",
    "await": "await is not supported by o_lisp",
    "defreader": "reader macros are not available in the sandbox",
    "match": "match is not supported by o_lisp",
    "annotate": "annotations are not supported by o_lisp",
    "global-macro": "not available",
    "local-macros": "local-macros is not available in the sandbox",
    "export": "export is not available in the sandbox",
}


def forbidden_name(name: str) -> str | None:
    """Why a (mangled) name may not appear in user code, or None if it may."""
    if name.startswith("__"):
        return f"the name '{name}' is not allowed: dunder names are outside the sandbox"
    if name.startswith("_o_"):
        return f"the name '{name}' is reserved for the o_lisp runtime"
    return None


@dataclass
class Result:
    """Statements to run first, then an expression giving the value."""

    stmts: Stmts = field(default_factory=list)
    expr: ast.expr = field(default_factory=lambda: ast.Constant(value=None))

    @property
    def pure(self) -> bool:
        return not self.stmts


@dataclass
class FunctionScope:
    """Compile-time facts about the Python function (or module) being generated."""

    is_module: bool
    temps: list[str] = field(default_factory=list)
    # Macros defined by a `defmacro` inside this function: visible only in it.
    macros: dict[str, Any] = field(default_factory=dict)
    # Set when the function contains `yield`: it is compiled as a generator.
    is_generator: bool = False
    # Inline tests `type(NAME) is T` (see `Compiler.type_test`): (the test, NAME, T's name).
    type_tests: list[tuple[ast.Compare, str, str]] = field(default_factory=list)
    # Copies `(_o_aN := NAME)` made because the other operand might rebind NAME (see
    # `_drop_needless_copies`): (the walrus, NAME, the other operand).
    name_copies: list[tuple[ast.NamedExpr, str, ast.expr]] = field(default_factory=list)
    # The always-true tests `(_o_oN := NAME) is _o_oN` that make some of those copies
    # (see `Compiler.snapshot`): dropped with their copy.
    copy_tests: dict[int, ast.Compare] = field(default_factory=dict)
    # The conditional expressions of `.append`/`.add` fast paths (see `growth_call`),
    # by id: those whose value is discarded become statements (`_growth_statements`).
    growth_exprs: set[int] = field(default_factory=set)
    # Scalar tests `(t := type(NAME)) is int or ...` on a variable (see `scalar_test`),
    # by id: NAME. A later one on the same value reuses the first one's answer
    # (`_reuse_scalar_tests`).
    scalar_tests: dict[int, str] = field(default_factory=dict)


@dataclass
class CompiledUnit:
    """One compiled top-level form: the module code plus the constants it references."""

    code: Any
    constants: dict[str, Any]
    temps: list[str]


MacroLookup = Callable[[str], Any]


class Compiler:
    """Compiles forms of one source (file or string) for one interpreter."""

    def __init__(
        self,
        *,
        filename: str,
        source: str | None,
        macro_lookup: MacroLookup,
        expand_macro: Callable[[Any, Expression], Any],
        constant_names: Iterable[str],
        tick: Callable[[], Any] | None = None,
        define_macro: Callable[[Expression, str, str, bool], Any] | None = None,
    ) -> None:
        self.filename = filename
        self.source = source
        self.macro_lookup = macro_lookup
        self.expand_macro = expand_macro
        self.constant_names = iter(constant_names)
        # Compiling charges one budget step per form, so time limits and cancellation
        # also stop the compilation of huge programs.
        self.tick_budget: Callable[[], Any] = tick or (lambda: None)
        # Compiles and runs a `(fn ...)` form now, at compile time, giving the macro's
        # function: a macro is usable right after its `defmacro`, as in Hy.
        self.define_macro = define_macro
        self.constants: dict[str, Any] = {}
        self._counter = itertools.count(1)
        self.scopes: list[FunctionScope] = []
        self.lets: list[dict[str, str]] = []
        self.positions: list[tuple[int, int, int, int]] = [(1, 1, 1, 1)]
        self.loop_depth = 0
        self.no_walrus = 0
        # `x * c` fast paths (see `_constant_cases`) whose inline branch certainly
        # gives a float or an int of at most `_PRODUCT_BITS` bits: by node id.
        self.small_products: dict[int, ast.IfExp] = {}
        # Enclosing "loop" / "function" / "finally" blocks, innermost last.
        self.blocks: list[str] = []

    # -- entry point -----------------------------------------------------------
    def compile_toplevel(self, form: Any) -> CompiledUnit:
        scope = FunctionScope(is_module=True)
        self.scopes = [scope]
        self.constants = {}
        result = self.compile(form)
        body = result.stmts + [
            ast.Assign(targets=[ast.Name(id=RESULT, ctx=ast.Store())], value=result.expr)
        ]
        module = ast.Module(body=body, type_ignores=[])
        self._locate_tree(module)
        vet(module)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                code = compile(module, self.filename, "exec", dont_inherit=True, optimize=0)
        except SyntaxError as error:
            position = Position(self.filename, error.lineno or 1, (error.offset or 0) + 1)
            raise CompileError(str(error.msg), position, self.source) from None
        except RecursionError:
            raise self.error(form, "form nested too deeply to compile") from None
        return CompiledUnit(code, self.constants, scope.temps)

    # -- helpers ---------------------------------------------------------------------
    def error(self, form: Any, message: str, cls: type[LispError] = CompileError) -> LispError:
        pos = getattr(form, "_pos", None) or self.positions[-1]
        return cls(message, Position(self.filename, pos[0], pos[1], pos[2], pos[3]), self.source)

    def violation(self, form: Any, message: str) -> LispError:
        return self.error(form, message, SandboxViolation)

    def temp(self, hint: str = "t") -> str:
        name = self.fresh(hint)
        self.scopes[-1].temps.append(name)
        return name

    def fresh(self, hint: str) -> str:
        """A new temporary's name, not recorded in any scope's `temps` (for a function's
        own temporaries made once its scope is closed)."""
        return f"_o_{hint}{next(self._counter)}"

    def constant(self, value: Any) -> ast.expr:
        name = next(self.constant_names)
        self.constants[name] = value
        return ast.Name(id=name, ctx=ast.Load())

    def _locate_tree(self, module: ast.Module) -> None:
        line, col, end_line, end_col = self.positions[0]
        for node in ast.walk(module):
            if "lineno" in node._attributes and not hasattr(node, "lineno"):
                node.lineno, node.col_offset = line, col - 1  # type: ignore[attr-defined]
                node.end_lineno, node.end_col_offset = end_line, end_col  # type: ignore[attr-defined]

    def _stamp(self, result: Result, pos: tuple[int, int, int, int]) -> None:
        line, col, end_line, end_col = pos
        todo: list[ast.AST] = [*result.stmts, result.expr]
        while todo:
            node = todo.pop()
            if "lineno" in node._attributes:
                if hasattr(node, "lineno"):
                    continue
                node.lineno, node.col_offset = line, col - 1  # type: ignore[attr-defined]
                node.end_lineno, node.end_col_offset = end_line, end_col  # type: ignore[attr-defined]
            todo.extend(ast.iter_child_nodes(node))

    # -- dispatch ----------------------------------------------------------------------
    def compile(self, form: Any) -> Result:
        self.tick_budget()
        pos = getattr(form, "_pos", None)
        if pos is not None:
            self.positions.append(pos)
        try:
            result = self._compile(form)
        finally:
            if pos is not None:
                self.positions.pop()
        if pos is not None:
            self._stamp(result, pos)
        return result

    def _compile(self, form: Any) -> Result:
        t = type(form)
        if t is Symbol:
            return Result(expr=self.symbol(form))
        if t is Expression:
            return self.expression(form)
        if t is Integer or t is Float or t is Complex:
            return Result(expr=ast.Constant(value=t.__mro__[2](form)))
        if t is String:
            return Result(expr=ast.Constant(value=str(form)))
        if t is Bytes:
            return Result(expr=ast.Constant(value=bytes(form)))
        if t is Keyword:
            return Result(expr=self.constant(form))
        if t is List:
            return self.collection(form, ast.List)
        if t is Tuple:
            return self.collection(form, ast.Tuple)
        if t is Set:
            return self.set_literal(form)
        if t is Dict:
            return self.dict_literal(form)
        if form is None or isinstance(form, bool | int | float | complex | str | bytes):
            return Result(expr=ast.Constant(value=form))
        raise self.error(form, f"cannot compile a value of type {type(form).__name__}")

    # -- symbols -------------------------------------------------------------------------
    def resolve(self, name: str) -> str:
        for frame in reversed(self.lets):
            if name in frame:
                return frame[name]
        return name

    def python_name(self, sym: Any) -> str:
        text = str(sym)
        if not text:
            raise self.error(sym, "empty symbol")
        name = mangle(text)
        if "." in name:
            raise self.violation(sym, f"attribute access is not allowed: '{text}'")
        why = forbidden_name(name)
        if why:
            raise self.violation(sym, why)
        return name

    def symbol(self, sym: Symbol) -> ast.expr:
        text = str(sym)
        if text == "None":
            return ast.Constant(value=None)
        if text == "True":
            return ast.Constant(value=True)
        if text == "False":
            return ast.Constant(value=False)
        if text == "...":
            return ast.Constant(value=...)
        return ast.Name(id=self.resolve(self.python_name(sym)), ctx=ast.Load())

    # -- literals ------------------------------------------------------------------------
    def collection(self, form: Sequence, node: type) -> Result:
        stmts, elts = self.compile_items(form, allow_star=True)
        return Result(stmts, node(elts=elts, ctx=ast.Load()))

    def set_literal(self, form: Set) -> Result:
        stmts, elts = self.compile_items(form, allow_star=True)
        if not elts:
            return Result(stmts, ast.Call(func=ast.Name(id="_o_set", ctx=ast.Load()), args=[], keywords=[]))
        guarded = [
            ast.Starred(value=_call("_o_keys", e.value), ctx=ast.Load()) if isinstance(e, ast.Starred) else self.key_guard(e)
            for e in elts
        ]
        return Result(stmts, ast.Set(elts=guarded))

    def dict_literal(self, form: Dict) -> Result:
        items = list(form)
        keys: list[ast.expr | None] = []
        values: list[ast.expr] = []
        parts: list[Any] = []
        i = 0
        while i < len(items):
            item = items[i]
            if _is_call(item, "unpack-mapping"):
                parts.append(("**", item[1]))
                i += 1
                continue
            if i + 1 >= len(items):
                raise self.error(item, "a dict literal needs an even number of forms")
            parts.append((item, items[i + 1]))
            i += 2
        compiled_forms: list[Any] = []
        for key, value in parts:
            if key == "**":
                compiled_forms.append(value)
            else:
                compiled_forms.extend([key, value])
        stmts, exprs = self.compile_args(compiled_forms)
        j = 0
        for key, _value in parts:
            if key == "**":
                keys.append(None)
                values.append(exprs[j])
                j += 1
            else:
                keys.append(self.key_guard(exprs[j]))
                values.append(exprs[j + 1])
                j += 2
        return Result(stmts, ast.Dict(keys=keys, values=values))

    def compile_items(self, forms: Iterable[Any], allow_star: bool) -> tuple[Stmts, list[ast.expr]]:
        items = list(forms)
        inner: list[Any] = []
        starred: list[bool] = []
        for item in items:
            if _is_call(item, "unpack-iterable"):
                if not allow_star:
                    raise self.error(item, "#* is not allowed here")
                inner.append(item[1])
                starred.append(True)
            elif _is_call(item, "unpack-mapping"):
                raise self.error(item, "#** is only allowed in calls and dict literals")
            else:
                inner.append(item)
                starred.append(False)
        stmts, exprs = self.compile_args(inner)
        elts = [ast.Starred(value=e, ctx=ast.Load()) if s else e for e, s in zip(exprs, starred, strict=True)]
        return stmts, elts

    def compile_args(self, forms: list[Any]) -> tuple[Stmts, list[ast.expr]]:
        """Compile forms left to right, spilling earlier values to temporaries when a
        later form needs statements (so evaluation order stays left to right)."""
        results = [self.compile(f) for f in forms]
        last_impure = max((i for i, r in enumerate(results) if r.stmts), default=-1)
        stmts: Stmts = []
        exprs: list[ast.expr] = []
        for i, result in enumerate(results):
            stmts.extend(result.stmts)
            if i < last_impure and not isinstance(result.expr, ast.Constant):
                name = self.temp()
                stmts.append(ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=result.expr))
                exprs.append(ast.Name(id=name, ctx=ast.Load()))
            else:
                exprs.append(result.expr)
        return stmts, exprs

    # -- expressions -------------------------------------------------------------------
    def expression(self, form: Expression) -> Result:
        if not form:
            raise self.error(form, "an empty expression () cannot be evaluated; use #() or []")
        head = form[0]
        if type(head) is Symbol:
            name = str(head)
            name = OPERATOR_ALIASES.get(name, name)
            macro = self.find_macro(mangle(name)) if name else None
            if macro is not None:
                try:
                    expanded = self.expand_macro(macro, form)
                except LispError as error:
                    if error.position is None:
                        located = self.error(form, error.message)
                        error.with_position(located.position, self.source)
                    raise
                return self.compile(expanded)
            if name in ("and", "or") and any(_is_call(a, "unpack-iterable") for a in form[1:]):
                # (and #* xs): the operands are only known at run time.
                return self.call(form, ast.Name(id="_o_" + name, ctx=ast.Load()), form[1:])
            if name in OPERATOR_FUNCTIONS and any(_is_call(a, "unpack-iterable") or _is_call(a, "unpack-mapping") for a in form[1:]):
                # (+ #* xs): arity is only known at run time, so call the operator as a function.
                return self.call(form, ast.Name(id=mangle(name), ctx=ast.Load()), form[1:])
            special = SPECIAL_FORMS.get(name)
            if special is not None:
                return special(self, form)
            if name in FORBIDDEN_FORMS:
                raise self.violation(form, FORBIDDEN_FORMS[name])
            if name in COMPARE_OPS:
                return self.compare(form, name)
            if name in ALL_BINOPS:
                return self.binop(form, name)
            if name in AUGMENTED:
                return self.augmented(form, AUGMENTED[name])
            if name in ("str", "int") and len(form) == 2 and _plain_argument(form[1]) and self.resolve(name) == name:
                return self.conversion_call(form, name)
            if name in ("min", "max") and len(form) == 3 and all(_plain_argument(f) for f in form[1:]) and self.resolve(name) == name:
                return self.extremum_call(form, name)
        if type(head) is Expression and len(head) == 3 and head[0] == Symbol(".") and head[1] == Symbol("None"):
            return self.method_call(form, head[2])
        if type(head) is Keyword:
            return self.call(form, self.constant(head), form[1:])
        head_result = self.compile(head)
        return self.call(form, head_result, form[1:])

    def find_macro(self, name: str) -> Any:
        """The innermost local macro called `name`, else the global one (or None)."""
        for scope in reversed(self.scopes):
            if name in scope.macros:
                return scope.macros[name]
        return self.macro_lookup(name)

    def call(self, form: Any, head: Result | ast.expr, args: Iterable[Any]) -> Result:
        plan: list[tuple[str, Any]] = []
        items = list(args)
        i = 0
        while i < len(items):
            item = items[i]
            if type(item) is Keyword:
                if i + 1 >= len(items):
                    raise self.error(item, f"keyword argument :{item.name} needs a value")
                kw = mangle(item.name) if item.name else ""
                if not kw or forbidden_name(kw):
                    raise self.violation(item, f"keyword argument :{item.name} is not allowed")
                plan.append(("kw:" + kw, items[i + 1]))
                i += 2
                continue
            if _is_call(item, "unpack-iterable"):
                plan.append(("*", item[1]))
            elif _is_call(item, "unpack-mapping"):
                plan.append(("**", item[1]))
            else:
                plan.append(("", item))
            i += 1
        head_result = head if isinstance(head, Result) else Result(expr=head)
        stmts, exprs = self.compile_args([p[1] for p in plan])
        if stmts and not isinstance(head_result.expr, ast.Constant):
            # The arguments need statements: evaluate the callee first, as Python would.
            name = self.temp()
            head_result = Result(
                head_result.stmts + [ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=head_result.expr)],
                ast.Name(id=name, ctx=ast.Load()),
            )
        call_args: list[ast.expr] = []
        keywords: list[ast.keyword] = []
        for (kind, _), expr in zip(plan, exprs, strict=True):
            if kind == "":
                call_args.append(expr)
            elif kind == "*":
                call_args.append(ast.Starred(value=expr, ctx=ast.Load()))
            elif kind == "**":
                keywords.append(ast.keyword(arg=None, value=expr))
            else:
                keywords.append(ast.keyword(arg=kind[3:], value=expr))
        if (isinstance(head_result.expr, ast.Name) and head_result.expr.id == HY_EVAL
                and [kind for kind, _ in plan] == [""] and not self.scopes[-1].is_module):
            # `(hy.eval form)` in a function sees the function's variables, as in Hy.
            call_args.append(ast.Call(func=_name(HY_EVAL_LOCALS), args=[], keywords=[]))
        return Result(
            head_result.stmts + stmts,
            ast.Call(func=head_result.expr, args=call_args, keywords=keywords),
        )

    def method_call(self, form: Expression, method: Any) -> Result:
        if type(method) is not Symbol:
            raise self.error(form, "a method name must be a symbol")
        name = mangle(str(method))
        why = forbidden_name(name)
        if why or name in ("format", "format_map"):
            raise self.violation(form, why or f"method .{name} is not available in the sandbox")
        if len(form) < 2:
            raise self.error(form, f"method call .{method} needs an object")
        if name == "replace" and len(form) == 4 and all(_plain_argument(f) for f in form[1:]):
            return self.replace_call(form)
        if name in GROWTH_METHODS and len(form) == 3 and _plain_argument(form[2]):
            return self.growth_call(form, name)
        if name == "split" and len(form) <= 4 and all(_plain_argument(f) for f in form[1:]):
            return self.split_call(form)
        if name == "join" and len(form) == 3 and all(_plain_argument(f) for f in form[1:]):
            # `_o_join(sep, items)`: the checked join, positional, str separators first.
            return self.call(form, _name("_o_join"), form[1:])
        spread = any(_is_call(f, "unpack-iterable") or _is_call(f, "unpack-mapping") for f in form[2:])
        if name in PLAIN_METHOD_NAMES and not self.no_walrus and not (name in PLAIN_KEY_METHODS and spread):
            # _o_mt_NAME[type(obj)](obj, ...): the method table refuses other types.
            obj = self.compile(form[1])
            first: ast.expr
            again: ast.expr
            if isinstance(obj.expr, ast.Name | ast.Constant):
                first, again = obj.expr, obj.expr
            else:
                temp = self.temp("o")
                first = ast.NamedExpr(target=ast.Name(id=temp, ctx=ast.Store()), value=obj.expr)
                again = ast.Name(id=temp, ctx=ast.Load())
            lookup: ast.expr = ast.Subscript(
                value=ast.Name(id="_o_mt_" + name, ctx=ast.Load()),
                slice=ast.Call(func=ast.Name(id="_o_type", ctx=ast.Load()), args=[first], keywords=[]),
                ctx=ast.Load(),
            )
            preferred = PREFERRED_TYPE.get(name)
            if preferred is not None:
                # The unbound method of the usual type directly, the table otherwise.
                again_lookup = ast.Subscript(value=_name("_o_mt_" + name), slice=_call("_o_type", again), ctx=ast.Load())
                test = self.type_test(first, "_o_" + preferred.__name__)
                lookup = ast.IfExp(test=test, body=_name("_o_mx_" + name), orelse=again_lookup)
            result = self.call(form, Result(obj.stmts, lookup), [])
            call = result.expr
            assert isinstance(call, ast.Call)
            rest = self.call(form, Result(), form[2:])
            rest_call = rest.expr
            assert isinstance(rest_call, ast.Call)
            if name in PLAIN_KEY_METHODS and rest_call.args and not isinstance(rest_call.args[0], ast.Starred):
                rest_call.args[0] = self.key_guard(rest_call.args[0])
            call.args = [again, *rest_call.args]
            call.keywords = rest_call.keywords
            if rest.stmts:
                # Later arguments need statements: evaluate the method lookup first.
                bound = self.temp()
                return Result(
                    result.stmts + [ast.Assign(targets=[ast.Name(id=bound, ctx=ast.Store())], value=lookup)] + rest.stmts,
                    ast.Call(func=ast.Name(id=bound, ctx=ast.Load()), args=[again, *rest_call.args], keywords=rest_call.keywords),
                )
            return Result(result.stmts, call)
        if name in METHOD_NAMES:
            return self.call(form, ast.Name(id="_o_m_" + name, ctx=ast.Load()), form[1:])
        head = ast.Name(id=METHOD, ctx=ast.Load())
        return self.call(form, head, [form[1], String(name), *form[2:]])

    def growth_call(self, form: Expression, name: str) -> Result:
        """`(.append xs x)` / `(.add s x)`: `list.append` / `set.add` inline when the
        object is exactly a list / set below the size limit.

        The test does what the checked dispatcher `_o_m_NAME` does first (`_o_maxlen`
        is the evaluation's max_size, published by the budget), in the same order: the
        object and the argument are evaluated once each, then the size is checked and
        one step charged. Anything else (another type, a full collection) takes the
        dispatcher, which refuses or raises as before.
        """
        type_name, method = GROWTH_METHODS[name]
        stmts, exprs = self.compile_args([form[1], form[2]])
        if name == "add":
            exprs[1] = self.key_guard(exprs[1])
        if self.no_walrus and not (_simple(exprs[0]) and _simple(exprs[1])):
            return Result(stmts, _call("_o_m_" + name, *exprs))
        first_x, x = self.snapshot(exprs[1], "x")
        first_o, o = self.snapshot(exprs[0], "o", force=_may_rebind(exprs[1]), other=exprs[1])
        test = ast.BoolOp(op=ast.And(), values=[
            *(c for c in (first_o, first_x) if c is not None),
            self.type_test(o, type_name, exprs[0]),
            ast.Compare(left=_call("_o_len", o), ops=[ast.Lt()], comparators=[_name("_o_maxlen")]),
            ast.UnaryOp(op=ast.Not(), operand=_tick_call()),  # the ticker returns None or raises
        ])
        fast = ast.IfExp(test=test, body=_call(method, o, x), orelse=_call("_o_m_" + name, o, x))
        self.scopes[-1].growth_exprs.add(id(fast))
        return Result(stmts, fast)

    def snapshots(self, exprs: list[ast.expr]) -> tuple[list[ast.expr], list[ast.expr]] | None:
        """Evaluate `exprs` once each, in order: (always-true tests that do it, the values
        to use afterwards); None where no walrus may be used and one is not simple."""
        if self.no_walrus:
            return ([], exprs) if all(_simple(e) for e in exprs) else None
        tests: list[ast.expr] = []
        values: list[ast.expr] = []
        later_runs = False
        for expr in reversed(exprs):
            first, value = self.snapshot(expr, "v", force=later_runs)
            if first is not None:
                tests.append(first)
            later_runs = later_runs or _may_rebind(expr)
            values.append(value)
        return tests[::-1], values[::-1]

    def replace_call(self, form: Expression) -> Result:
        """`(.replace s old new)` on three strs: `str.replace` inline when the result is
        certainly small: at most len(s) // len(old) occurrences, each adding at most
        len(new), within `_o_small` (the smaller of 4 096 and max_size), where the
        checked dispatcher would charge nothing. Anything else takes the dispatcher."""
        stmts, exprs = self.compile_args(list(form[1:]))
        snap = self.snapshots(exprs)
        if snap is None:
            return Result(stmts, _call("_o_m_replace", *exprs))
        if isinstance(exprs[1], ast.Constant) and exprs[1].value == "":
            return Result(stmts, _call("_o_m_replace", *exprs))
        tests, (s, old, new) = snap

        def is_str(value: ast.expr) -> list[ast.expr]:
            return [] if isinstance(value, ast.Constant) and type(value.value) is str else [_is(_call("_o_type", value), "_o_str")]

        def length(value: ast.expr) -> ast.expr:
            if isinstance(value, ast.Constant) and type(value.value) is str:
                return ast.Constant(value=len(value.value))
            return _call("_o_len", value)

        bound = ast.BinOp(
            left=length(s), op=ast.Add(),
            right=ast.BinOp(left=ast.BinOp(left=length(s), op=ast.FloorDiv(), right=length(old)), op=ast.Mult(), right=length(new)))
        checks: list[ast.expr] = [
            *tests, *is_str(s), *is_str(old), *is_str(new),
            *([] if isinstance(old, ast.Constant) else [old]),  # an empty `old` matches everywhere: the dispatcher
            ast.Compare(left=bound, ops=[ast.LtE()], comparators=[_name("_o_small")]),
        ]
        test = checks[0] if len(checks) == 1 else ast.BoolOp(op=ast.And(), values=checks)
        return Result(stmts, ast.IfExp(test=test, body=_call("_o_str_replace", s, old, new), orelse=_call("_o_m_replace", s, old, new)))

    def split_call(self, form: Expression) -> Result:
        """`(.split s ...)` on a str: `str.split` inline when `s` is at most `_o_small`
        (the smaller of 4 096 and max_size) long, where the checked dispatcher charges
        nothing (it charges the parts of a longer string to the size budget). Separator
        and maxsplit go to `str.split` as they are: it raises for wrong ones, as the
        dispatcher's call does. Anything else (bytes, a long string) takes the dispatcher."""
        stmts, exprs = self.compile_args(list(form[1:]))
        snap = self.snapshots(exprs)
        if snap is None:
            return Result(stmts, _call("_o_m_split", *exprs))
        tests, values = snap
        s = values[0]
        checks: list[ast.expr] = [
            *tests,
            _is(_call("_o_type", s), "_o_str"),
            ast.Compare(left=_call("_o_len", s), ops=[ast.LtE()], comparators=[_name("_o_small")]),
        ]
        test = ast.BoolOp(op=ast.And(), values=checks)
        return Result(stmts, ast.IfExp(test=test, body=_call("_o_str_split", *values), orelse=_call("_o_m_split", *values)))

    def extremum_call(self, form: Expression, name: str) -> Result:
        """`(max a b)` / `(min a b)`: the real function inline when the name still means
        the safe one and both values are exact ints or floats, where the safe function
        charges nothing (it charges the comparison of anything else, e.g. nested lists).

        Python reads the callee before the arguments: if an argument might rebind the
        name, the callee is read into a temporary first; the arguments are evaluated
        once each, left to right, before the test."""
        stmts, exprs = self.compile_args(list(form[1:]))
        callee: ast.expr = _name(name)
        prefix: list[ast.expr] = []
        if any(not _simple(e) and _may_rebind(e) for e in exprs):
            if self.no_walrus:
                return Result(stmts, ast.Call(func=callee, args=exprs, keywords=[]))
            callee_first, callee = self.operand(callee, "c", force=True)
            prefix.append(ast.Compare(left=callee_first, ops=[ast.Is()], comparators=[callee]))
        snap = self.snapshots(exprs)
        if snap is None:
            return Result(stmts, ast.Call(func=callee, args=exprs, keywords=[]))
        tests, values = snap
        kinds: list[ast.expr] = []
        for value in values:
            first_t, t = self._type_temp(value)
            kinds.append(ast.BoolOp(op=ast.Or(), values=[_is(first_t, "_o_int"), _is(t, "_o_float")]))
        test = ast.BoolOp(op=ast.And(), values=[*prefix, *tests, _is(callee, "_o_safe_" + name), *kinds])
        return Result(stmts, ast.IfExp(test=test, body=_call("_o_" + name, *values), orelse=ast.Call(func=callee, args=values, keywords=[])))

    def conversion_call(self, form: Expression, name: str) -> Result:
        """`(str x)` / `(int x)`: the real class inline when the name still means the
        sandbox's safe function and `x` is what that function converts unchecked:

        * `str`: a str, a float, or an int below 4096 bits;
        * `int`: an int or a float, or a str short enough for the int-bits limit
          (`_o_intbits`, published by the budget: 5 bits per character, as `int` checks).
        """
        r = self.compile(form[1])
        if self.no_walrus and not _simple(r.expr):
            return Result(r.stmts, _call(name, r.expr))
        product = self.small_products.get(id(r.expr)) if name == "str" else None
        if product is not None:
            return Result(r.stmts, self.str_of_product(product))
        # Python reads the callee, then evaluates the argument. A simple argument is
        # evaluated by whichever branch runs; any other once, at its first use in the
        # test, and the test then starts with it so that the other branch can use its
        # temporary. If it might rebind the name, the callee is read into a temporary first.
        callee: ast.expr = _name(name)
        prefix: list[ast.expr] = []
        if not _simple(r.expr) and _may_rebind(r.expr):
            callee_first, callee = self.operand(callee, "c", force=True)
            prefix.append(ast.Compare(left=callee_first, ops=[ast.Is()], comparators=[callee]))
        x_first, x = self.operand(r.expr, "x")
        first_t, t = self._type_temp(x_first)
        kinds: ast.expr
        if name == "str":
            kinds = ast.BoolOp(op=ast.Or(), values=[
                ast.BoolOp(op=ast.And(), values=[_is(first_t, "_o_int"), _bounded(x, _STR_INT_BOUND)]),
                _is(t, "_o_float"), _is(t, "_o_str")])
        else:
            short = ast.Compare(
                left=ast.BinOp(left=_call("_o_len", x), op=ast.Mult(), right=ast.Constant(value=5)),
                ops=[ast.LtE()], comparators=[_name("_o_intbits")])
            kinds = ast.BoolOp(op=ast.Or(), values=[
                ast.BoolOp(op=ast.And(), values=[_is(first_t, "_o_str"), short]),
                _is(t, "_o_int"), _is(t, "_o_float")])
        unshadowed = _is(callee, "_o_safe_" + name)
        checks = [*prefix, kinds, unshadowed] if x_first is not x else [unshadowed, kinds]
        test = ast.BoolOp(op=ast.And(), values=checks)
        return Result(r.stmts, ast.IfExp(test=test, body=_call("_o_" + name, x), orelse=ast.Call(func=callee, args=[x], keywords=[])))

    def str_of_product(self, product: ast.IfExp) -> ast.expr:
        """`(str (* x c))`, `c` an int literal: the product's own test decides, since its
        inline branch gives a float or an int far below the 4 096 bits `str` converts
        unchecked: `_o_str(x * c) if <its test> and str is _o_safe_str else str(_o_mul(x, c))`.
        The operands are evaluated once, at the start of the test, as in `fast_binary`;
        if they might rebind `str`, the callee is read into a temporary first."""
        assert _PRODUCT_BITS < 4096
        callee: ast.expr = _name("str")
        prefix: list[ast.expr] = []
        if _may_rebind(product.test):
            callee_first, callee = self.operand(callee, "c", force=True)
            prefix.append(ast.Compare(left=callee_first, ops=[ast.Is()], comparators=[callee]))
        test = ast.BoolOp(op=ast.And(), values=[*prefix, product.test, _is(callee, "_o_safe_str")])
        return ast.IfExp(test=test, body=_call("_o_str", product.body), orelse=ast.Call(func=callee, args=[product.orelse], keywords=[]))

    # -- operators ---------------------------------------------------------------------
    def binop(self, form: Expression, op: str) -> Result:
        args = list(form[1:])
        n = len(args)
        if op in ("%", "^"):
            if n != 2:
                raise self.error(form, f"({op}) needs exactly 2 arguments")
        elif op in ("**", "//", "<<", ">>"):
            if n < 2:
                raise self.error(form, f"({op}) needs at least 2 arguments")
        elif op in ("-", "/", "&", "@") and n < 1:
            raise self.error(form, f"({op}) needs at least 1 argument")
        if n == 0:
            return Result(expr=ast.Constant(value=0 if op in ("+", "|") else 1))
        if n > MAX_INLINE_OPERANDS:
            # A long chain would nest the AST (and CPython's compiler) n deep: call the
            # operator as a function on all operands instead.
            return self.call(form, ast.Name(id=mangle(op), ctx=ast.Load()), args)
        stmts, exprs = self.compile_args(args)
        if n == 1:
            e = exprs[0]
            if op == "+":
                return Result(stmts, ast.UnaryOp(op=ast.UAdd(), operand=e))
            if op == "-":
                return Result(stmts, ast.UnaryOp(op=ast.USub(), operand=e))
            if op == "/":
                return Result(stmts, ast.BinOp(left=ast.Constant(value=1), op=ast.Div(), right=e))
            return Result(stmts, e)
        if op == "**":
            acc = exprs[-1]
            for e in reversed(exprs[:-1]):
                acc = self._binary(op, e, acc)
            return Result(stmts, acc)
        acc = exprs[0]
        for e in exprs[1:]:
            acc = self._binary(op, acc, e)
        return Result(stmts, acc)

    def _binary(self, op: str, left: ast.expr, right: ast.expr) -> ast.expr:
        helper = GUARDED_BINOPS.get(op)
        if helper is not None:
            if _plain_with_constant(op, left, right) or (op == "%" and _never_text(left)):
                return ast.BinOp(left=left, op=ALL_BINOPS[op](), right=right)
            if op in FAST_OPS and (not self.no_walrus or (_simple(left) and _simple(right))):
                return self.fast_binary(op, helper, left, right)
            return _call(helper, left, right)
        return ast.BinOp(left=left, op=PLAIN_BINOPS[op](), right=right)

    def key_guard(self, expr: ast.expr) -> ast.expr:
        """`expr` as a key about to be hashed: `k if type(k) in _o_flat else _o_key(k)`,
        so a scalar key costs one inline type test and a tuple key's expansion is
        charged by `_o_key` first (hashing a tuple walks all of it). `expr` is
        evaluated once, at its place."""
        if _never_container(expr):
            return expr
        if isinstance(expr, ast.Tuple) and not any(isinstance(e, ast.Starred) for e in expr.elts):
            # A fresh tuple `#(a b)` hashes its elements: guard each, inline.
            return ast.Tuple(elts=[self.key_guard(e) for e in expr.elts], ctx=ast.Load())
        if isinstance(expr, ast.Name):
            return ast.IfExp(test=self.scalar_test(expr), body=expr, orelse=_call("_o_key", expr))
        if self.no_walrus:
            return _call("_o_key", expr)
        temp = self.temp("hk")
        first = ast.NamedExpr(target=ast.Name(id=temp, ctx=ast.Store()), value=expr)
        return ast.IfExp(test=self.scalar_test(_name(temp), first), body=_name(temp), orelse=_call("_o_key", _name(temp)))

    def type_test(self, value: ast.expr, type_name: str, name: ast.expr | None = None) -> ast.Compare:
        """`type(value) is _o_TYPE`, noted for `_known_types`: when `name` (the variable
        `value` was read from, default `value` itself) is a local of the function that is
        bound once, to a literal of that exact type, the test is always true and is
        dropped once the function is compiled."""
        test = _is(_call("_o_type", value), type_name)
        source = value if name is None else name
        if isinstance(source, ast.Name) and not source.id.startswith("_o_"):
            self.scopes[-1].type_tests.append((test, source.id, type_name))
        return test

    def scalar_test(self, value: ast.expr, first: ast.expr | None = None) -> ast.BoolOp:
        """Whether `value` is a flat scalar (`type(v) in _o_flat`), with the type computed
        once and the two most common answers first: `(t := type(v)) is int or t is str
        or t in _o_flat` (an int or a str key costs one call and one or two identity
        tests). Where no walrus may be used, `_scalar_test`. `first` evaluates `value`
        the first time (a walrus)."""
        if self.no_walrus:
            return _scalar_test(value, first)
        first_t, t = self._type_temp(first if first is not None else value)
        flat = ast.Compare(left=t, ops=[ast.In()], comparators=[_name("_o_flat")])
        test = ast.BoolOp(op=ast.Or(), values=[_is(first_t, "_o_int"), _is(t, "_o_str"), flat])
        if first is None and isinstance(value, ast.Name) and not value.id.startswith("_o_"):
            self.scopes[-1].scalar_tests[id(test)] = value.id
        return test

    def guarded_compare(self, op: str, exprs: list[ast.expr]) -> ast.expr:
        """`a OP b` inline when an operand is a scalar (a literal, or `type(x) in _o_flat`
        at run time), else `_o_compare(OP, a, b)`, which charges the walk over two
        containers first; `in`/`not-in` test the left operand and call `_o_contains`.
        Chains of three or more operands pass each non-literal one through `_o_operand`.
        `is`/`is-not` compare identities: always inline."""
        ops = [COMPARE_OPS[op]() for _ in exprs[1:]]
        literal = [_never_container(e, hashing=False) for e in exprs]
        if op in ("is", "is-not") or (len(exprs) == 2 and (literal[0] or (op not in ("in", "not-in") and literal[1]))):
            return ast.Compare(left=exprs[0], ops=ops, comparators=exprs[1:])
        if len(exprs) > 2:
            wrapped = [e if flat else _call("_o_operand", e) for e, flat in zip(exprs, literal, strict=True)]
            return ast.Compare(left=wrapped[0], ops=ops, comparators=wrapped[1:])
        if self.no_walrus and not all(_simple(e) for e in exprs):
            if op in ("in", "not-in"):
                call = _call("_o_contains", *exprs)
                return call if op == "in" else ast.UnaryOp(op=ast.Not(), operand=call)
            return _call("_o_compare", ast.Constant(value=op), *exprs)
        snap = self.snapshots(exprs)
        assert snap is not None
        tests, (a, b) = snap
        # Ordering and equality are mostly on ints: one identity test, no temporary (a
        # walrus costs a recursive function like `tak` ~5 %); membership tests are often
        # on strs, which `scalar_test` lets through with one `type()` call.
        flat_a: ast.BoolOp = self.scalar_test(a) if op in ("in", "not-in") else _scalar_test(a)
        inline = ast.Compare(left=a, ops=ops, comparators=[b])
        if op in ("in", "not-in"):
            checked: ast.expr = _call("_o_contains", a, b)
            if op == "not-in":
                checked = ast.UnaryOp(op=ast.Not(), operand=checked)
            test: ast.expr = flat_a
        else:
            checked = _call("_o_compare", ast.Constant(value=op), a, b)
            flat_b = ast.Compare(left=_call("_o_type", b), ops=[ast.In()], comparators=[_name("_o_flat")])
            test = ast.BoolOp(op=ast.Or(), values=[*flat_a.values, flat_b])
        guarded = ast.IfExp(test=test, body=inline, orelse=checked)
        if not tests:
            return guarded
        return ast.BoolOp(op=ast.And(), values=[*tests, guarded])

    def snapshot(self, value: ast.expr, hint: str, force: bool = False, other: ast.expr | None = None) -> tuple[ast.expr | None, ast.expr]:
        """(a test that evaluates `value` once into a temporary and is always true, the
        temporary); constants, and names unless `force`, need none: (None, value).

        A name copied only because `other`, evaluated after it, might rebind it is noted
        for `_drop_needless_copies`: where `other` cannot (a local that no call can
        rebind), the copy and its test go once the function is compiled."""
        if isinstance(value, ast.Constant) or (isinstance(value, ast.Name) and not force):
            return None, value
        name = self.temp(hint)
        store = ast.NamedExpr(target=ast.Name(id=name, ctx=ast.Store()), value=value)
        load = ast.Name(id=name, ctx=ast.Load())
        test = ast.Compare(left=store, ops=[ast.Is()], comparators=[load])
        if other is not None and isinstance(value, ast.Name) and not value.id.startswith("_o_"):
            scope = self.scopes[-1]
            scope.name_copies.append((store, value.id, other))
            scope.copy_tests[id(store)] = test
        return test, ast.Name(id=name, ctx=ast.Load())

    def fast_binary(self, op: str, helper: str, left: ast.expr, right: ast.expr, in_place: bool = False) -> ast.expr:
        """`a OP b` inline behind a type test on the common exact types, else the guarded helper.

        Operands are evaluated once each, left to right, before the test (simple names
        and constants as they are, anything else through a walrus temporary). The
        inline cases are those where the helper would do nothing but `a OP b`:

        * `+`: two ints, two floats, an int or float and a numeric constant; two strs,
          lists or tuples whose lengths add up to at most `_SMALL` (the helper charges
          longer concatenations to the size budget). `+=` leaves lists to the helper,
          which extends them in place.
        * `*`: two ints below 2**31 in magnitude (the product stays below the 64 bits
          the helper lets through unchecked); a float on either side.
        * `%`: two ints (bounded by the dividend).

        `type(x) is int` excludes bools and int subclasses (forms' `Integer`): they take
        the helper, which gives the same result.
        """
        b_first, b = self.operand(right, "b")
        # A name read after `right` ran could see a rebinding made by it: read it first.
        a_first, a = self.operand(left, "a", force=_may_rebind(right))
        if isinstance(a_first, ast.NamedExpr) and isinstance(left, ast.Name) and not left.id.startswith("_o_"):
            self.scopes[-1].name_copies.append((a_first, left.id, right))
        const_a = a if isinstance(a, ast.Constant) else None
        const_b = b if isinstance(b, ast.Constant) else None
        cases: list[ast.expr] = []
        if const_a is not None and const_b is not None:
            if type(const_a.value) is int and type(const_b.value) is int and (op != "*" or (abs(const_a.value) < _SMALL_PRODUCT and abs(const_b.value) < _SMALL_PRODUCT)):
                cases.append(ast.Constant(value=True))
        elif const_a is not None or const_b is not None:
            const = const_a if const_a is not None else const_b
            other, other_first = (b, b_first) if const_a is not None else (a, a_first)
            assert const is not None
            cases += self._constant_cases(op, const.value, other_first, other)
        else:
            cases += self._general_cases(op, a_first, a, b_first, b, in_place)
        if not cases:
            return _call(helper, left, right)
        # Each case list starts with the operands' first uses (the temporaries' walruses),
        # evaluated unconditionally, left to right, before anything else.
        test = cases[0] if len(cases) == 1 else ast.BoolOp(op=ast.Or(), values=cases)
        fast = ast.IfExp(test=test, body=ast.BinOp(left=a, op=ALL_BINOPS[op](), right=b), orelse=_call(helper, a, b))
        const = const_b if const_b is not None else const_a
        if op == "*" and (const_a is None) != (const_b is None) and const is not None and type(const.value) is int:
            # The inline branch multiplies an int below its bound or a float by an int.
            self.small_products[id(fast)] = fast
        return fast

    def operand(self, value: ast.expr, hint: str, force: bool = False) -> tuple[ast.expr, ast.expr]:
        """(its first use, later uses) of a value used several times: a walrus into a
        temporary and the temporary; constants, and names unless `force`, as they are."""
        if isinstance(value, ast.Constant) or (isinstance(value, ast.Name) and not force):
            return value, value
        name = self.temp(hint)
        return ast.NamedExpr(target=ast.Name(id=name, ctx=ast.Store()), value=value), _name(name)

    def _type_temp(self, value: ast.expr) -> tuple[ast.expr, ast.expr]:
        """(`(_o_tN := type(value))`, `_o_tN`): the type computed once, then reused
        (where no walrus may be used, `type(value)` twice)."""
        if self.no_walrus:
            return _call("_o_type", value), _call("_o_type", value)
        name = self.temp("ty")
        store = ast.NamedExpr(target=ast.Name(id=name, ctx=ast.Store()), value=_call("_o_type", value))
        return store, ast.Name(id=name, ctx=ast.Load())

    def _constant_cases(self, op: str, const: Any, first: ast.expr, other: ast.expr) -> list[ast.expr]:
        if op == "%":
            return [_is(_call("_o_type", first), "_o_int")] if type(const) is int else []
        if op == "+":
            if type(const) in (int, float):
                type_first, t = self._type_temp(first)
                return [_is(type_first, "_o_int"), _is(t, "_o_float")]
            if type(const) is str and len(const) <= _SMALL_CONCAT:
                return [ast.BoolOp(op=ast.And(), values=[
                    _is(_call("_o_type", first), "_o_str"),
                    ast.BoolOp(op=ast.Or(), values=[
                        _le(_call("_o_len", other), _SMALL_CONCAT - len(const)),
                        _call("_o_concat", other, ast.Constant(value=const))])])]
            return []
        # "*"
        if type(const) is float:
            # Always inline; `first is other` evaluates a walrus operand (and is true).
            return [ast.Compare(left=first, ops=[ast.Is()], comparators=[other]) if first is not other else ast.Constant(value=True)]
        if type(const) is int and const.bit_length() < _PRODUCT_BITS:
            # The helper lets products of up to `_PRODUCT_BITS` bits (the operands' bit
            # lengths added) through unchecked: so may the inline code.
            type_first, t = self._type_temp(first)
            bound = 2 ** (_PRODUCT_BITS - const.bit_length())
            return [ast.BoolOp(op=ast.And(), values=[_is(type_first, "_o_int"), _bounded(other, bound)]), _is(t, "_o_float")]
        return []

    def _general_cases(self, op: str, a_first: ast.expr, a: ast.expr, b_first: ast.expr, b: ast.expr, in_place: bool) -> list[ast.expr]:
        if op == "%":
            return [ast.Compare(left=_call("_o_type", a_first), ops=[ast.Is(), ast.Is()], comparators=[_call("_o_type", b_first), _name("_o_int")])]
        first_ta, ta = self._type_temp(a_first)
        if op == "+":
            same = ast.Compare(left=first_ta, ops=[ast.Is()], comparators=[_call("_o_type", b_first)])
            sequences: list[ast.expr] = [_is(ta, "_o_str"), _is(ta, "_o_tuple")]
            if not in_place:
                sequences.append(_is(ta, "_o_list"))
            # A longer concatenation is inline too once `_o_concat` has charged it (as the
            # helper would): `s = s + t` can then extend `s` in place, as CPython does.
            sized = ast.BoolOp(op=ast.And(), values=[
                ast.BoolOp(op=ast.Or(), values=sequences),
                ast.BoolOp(op=ast.Or(), values=[
                    _le(ast.BinOp(left=_call("_o_len", a), op=ast.Add(), right=_call("_o_len", b)), _SMALL_CONCAT),
                    _call("_o_concat", a, b)])])
            kinds = ast.BoolOp(op=ast.Or(), values=[_is(ta, "_o_int"), _is(ta, "_o_float"), sized])
            return [ast.BoolOp(op=ast.And(), values=[same, kinds])]
        # "*"
        if isinstance(a, ast.Name) and isinstance(b, ast.Name) and a.id == b.id and a_first is a and b_first is b:
            # `(* x x)`: one operand read twice; its type and bound are tested once.
            return [ast.BoolOp(op=ast.And(), values=[_is(first_ta, "_o_int"), _bounded(a, _SMALL_PRODUCT)]), _is(ta, "_o_float")]
        first_tb, tb = self._type_temp(b_first)
        ints = ast.BoolOp(op=ast.And(), values=[
            ast.Compare(left=first_ta, ops=[ast.Is(), ast.Is()], comparators=[first_tb, _name("_o_int")]),
            _bounded(a, _SMALL_PRODUCT), _bounded(b, _SMALL_PRODUCT)])
        return [ints, _is(ta, "_o_float"), _is(tb, "_o_float")]

    def compare(self, form: Expression, op: str) -> Result:
        args = list(form[1:])
        if op in ("!=", "is-not", "in", "not-in") and len(args) < 2:
            raise self.error(form, f"({op}) needs at least 2 arguments")
        if not args:
            raise self.error(form, f"({op}) needs at least 1 argument")
        if len(args) == 1:
            # As in Hy 1.3: True, keeping only the statements the argument compiles to;
            # its final expression is not evaluated (`(= (f))` does not call f).
            return Result(self.compile(args[0]).stmts, ast.Constant(value=True))
        stmts, exprs = self.compile_args(args)
        return Result(stmts, self.guarded_compare(op, exprs))

    def fstring(self, form: Expression) -> Result:
        """An f-string: literal parts and fields, joined by `_o_fjoin` (size-checked);
        each field is formatted by `_o_format` (conversion and spec checked first)."""
        pieces: list[ast.expr] = []
        stmts: Stmts = []
        for part in form[1:]:
            if type(part) is String:
                pieces.append(ast.Constant(value=str(part)))
                continue
            if not (_is_call(part, "f-component") and len(part) == 4 and type(part[2]) is String
                    and _is_call(part[3], "f-string")):
                raise self.error(part, "malformed f-string part")
            conversion = str(part[2])
            if conversion not in ("", "r", "s", "a"):
                raise self.error(part, "the conversion of an f-string field must be !r, !s or !a")
            value = self.compile(part[1])
            spec = self.fstring(part[3]) if len(part[3]) > 1 else Result(expr=ast.Constant(value=""))
            # Keep left-to-right order: the value is taken before the spec's fields run.
            if spec.stmts and not isinstance(value.expr, ast.Constant):
                name = self.temp()
                value = Result(value.stmts + [ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value.expr)],
                               ast.Name(id=name, ctx=ast.Load()))
            if value.stmts or spec.stmts:
                # Earlier pieces must be evaluated before these statements run.
                for k, piece in enumerate(pieces):
                    if not isinstance(piece, ast.Constant):
                        name = self.temp()
                        stmts.append(ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=piece))
                        pieces[k] = ast.Name(id=name, ctx=ast.Load())
            stmts += value.stmts + spec.stmts
            pieces.append(ast.Call(
                func=ast.Name(id="_o_format", ctx=ast.Load()),
                args=[value.expr, ast.Constant(value=conversion), spec.expr],
                keywords=[]))
        call = ast.Call(func=ast.Name(id="_o_fjoin", ctx=ast.Load()), args=[ast.Tuple(elts=pieces, ctx=ast.Load())], keywords=[])
        return Result(stmts, call)

    def pragma(self, form: Expression) -> Result:
        """`(pragma :key value ...)`: Hy's compiler settings. `:hy "1.0"` checks the version;
        `:warn-on-core-shadow` is accepted (o_lisp never warns); others are errors."""
        items = list(form[1:])
        if len(items) % 2:
            raise self.error(form, "pragma takes keyword-value pairs")
        for key, value in zip(items[0::2], items[1::2], strict=True):
            if type(key) is not Keyword:
                raise self.error(key, "pragma takes keyword-value pairs")
            if key.name == "hy":
                parts = str(value).split(".") if type(value) is String else []
                if not parts or not all(p.isdigit() for p in parts):
                    raise self.error(value, "the version given to the pragma :hy must be a string of dot-separated integers")
                if tuple(int(p) for p in parts) > HY_VERSION:
                    raise self.error(key, f"Hy version {value} or later required")
            elif key.name != "warn-on-core-shadow":
                raise self.error(key, f"unknown pragma :{key.name}")
        return Result()

    def chainc(self, form: Expression) -> Result:
        """`(chainc a < b <= c)`: one chained comparison with mixed operators."""
        items = list(form[1:])
        if len(items) < 3 or len(items) % 2 == 0:
            raise self.error(form, "chainc needs operands separated by comparison operators: (chainc a < b ...)")
        ops: list[ast.cmpop] = []
        for op in items[1::2]:
            name = OPERATOR_ALIASES.get(str(op), str(op)) if type(op) is Symbol else ""
            if name not in COMPARE_OPS:
                raise self.error(op, f"chainc: {op} is not a comparison operator")
            ops.append(COMPARE_OPS[name]())
        stmts, exprs = self.compile_args(items[0::2])
        # Each operand's expansion is charged (`_o_operand`) before it is compared.
        wrapped: list[ast.expr] = [
            e if isinstance(e, ast.Constant) and type(e.value) in _FLAT_CONSTANTS else _call("_o_operand", e) for e in exprs
        ]
        return Result(stmts, ast.Compare(left=wrapped[0], ops=ops, comparators=wrapped[1:]))

    def augmented(self, form: Expression, op: str) -> Result:
        if len(form) < 3:
            raise self.error(form, f"({form[0]}) needs a target and a value")
        target = form[1]
        values = list(form[2:])
        if len(values) > 1:
            agg = AUG_AGGREGATE.get(op)
            if agg is None:
                raise self.error(form, f"({form[0]}) takes exactly one value")
            value_form: Any = Expression([Symbol(agg), *values])
        else:
            value_form = values[0]
        value = self.compile(value_form)
        stmts = list(value.stmts)
        helper = GUARDED_AUG.get(op)
        if type(target) is Symbol:
            name = self.resolve(self.python_name(target))
            load = ast.Name(id=name, ctx=ast.Load())
            store = ast.Name(id=name, ctx=ast.Store())
            if helper and op in FAST_OPS and not self.no_walrus:
                stmts.append(_store(store, self.fast_binary(op, helper, load, value.expr, in_place=True)))
            elif helper:
                call = ast.Call(func=ast.Name(id=helper, ctx=ast.Load()), args=[load, value.expr], keywords=[])
                stmts.append(ast.Assign(targets=[store], value=call))
            else:
                stmts.append(ast.AugAssign(target=store, op=PLAIN_BINOPS[op](), value=value.expr))
            return Result(stmts)
        if _is_call(target, "get") and len(target) >= 3:
            obj_stmts, parts = self.compile_args(list(target[1:]))
            stmts = obj_stmts + stmts
            obj = parts[0]
            for key in parts[1:-1]:
                obj = ast.Subscript(value=obj, slice=self.key_guard(key), ctx=ast.Load())
            obj_name, key_name = self.temp(), self.temp()
            stmts[len(obj_stmts):len(obj_stmts)] = [
                ast.Assign(targets=[ast.Name(id=obj_name, ctx=ast.Store())], value=obj),
                ast.Assign(targets=[ast.Name(id=key_name, ctx=ast.Store())], value=self.key_guard(parts[-1])),
            ]
            current = ast.Subscript(value=ast.Name(id=obj_name, ctx=ast.Load()), slice=ast.Name(id=key_name, ctx=ast.Load()), ctx=ast.Load())
            new: ast.expr
            if helper and op in FAST_OPS and not self.no_walrus:
                new = self.fast_binary(op, helper, current, value.expr, in_place=True)
            elif helper:
                new = ast.Call(func=ast.Name(id=helper, ctx=ast.Load()), args=[current, value.expr], keywords=[])
            else:
                new = ast.BinOp(left=current, op=PLAIN_BINOPS[op](), right=value.expr)
            store_t = ast.Subscript(value=ast.Name(id=obj_name, ctx=ast.Load()), slice=ast.Name(id=key_name, ctx=ast.Load()), ctx=ast.Store())
            stmts.append(ast.Assign(targets=[store_t], value=new))
            return Result(stmts)
        raise self.error(target, f"cannot use ({form[0]}) on this target")

    # -- assignment ----------------------------------------------------------------------
    def target(self, form: Any, ctx: type = ast.Store) -> tuple[Stmts, ast.expr]:
        """An assignment target: symbol, [a b #* rest], #(a b), (get x k...)."""
        if type(form) is Symbol:
            if str(form) in ("None", "True", "False"):
                raise self.error(form, f"cannot assign to {form}")
            return [], ast.Name(id=self.resolve(self.python_name(form)), ctx=ctx())
        if type(form) in (List, Tuple):
            stmts: Stmts = []
            elts: list[ast.expr] = []
            for item in form:
                if _is_call(item, "unpack-iterable"):
                    s, e = self.target(item[1], ctx)
                    stmts += s
                    elts.append(ast.Starred(value=e, ctx=ctx()))
                else:
                    s, e = self.target(item, ctx)
                    stmts += s
                    elts.append(e)
            return stmts, ast.Tuple(elts=elts, ctx=ctx())
        if _is_call(form, "get"):
            if len(form) < 3:
                raise self.error(form, "(get) needs an object and at least one key")
            stmts, parts = self.compile_args(list(form[1:]))
            obj = parts[0]
            for key in parts[1:-1]:
                obj = ast.Subscript(value=obj, slice=self.key_guard(key), ctx=ast.Load())
            return stmts, ast.Subscript(value=obj, slice=self.key_guard(parts[-1]), ctx=ctx())
        if _is_call(form, "cut"):
            stmts, obj, sl = self.cut_parts(form)
            return stmts, ast.Subscript(value=obj, slice=sl, ctx=ctx())
        if type(form) is Expression and form and form[0] == Symbol("."):
            raise self.violation(form, "attribute assignment is not allowed")
        raise self.error(form, f"cannot assign to {_describe(form)}")

    def setx(self, form: Expression) -> Result:
        """`(setx x v)`: assign a symbol and give the value (Python's `:=`)."""
        if len(form) != 3 or type(form[1]) is not Symbol:
            raise self.error(form, "setx takes a symbol and a value: (setx x v)")
        value = self.compile(form[2])
        _, target = self.target(form[1])
        assert isinstance(target, ast.Name)
        return Result(value.stmts + [ast.Assign(targets=[target], value=value.expr)], ast.Name(id=target.id, ctx=ast.Load()))

    def setv(self, form: Expression) -> Result:
        items = list(form[1:])
        pairs: list[tuple[Any, Any, bool]] = []
        i = 0
        while i < len(items):
            if type(items[i]) is Keyword and items[i].name == "chain":
                if i + 2 >= len(items) or type(items[i + 1]) is not List:
                    raise self.error(items[i], "setv :chain needs a bracketed list of targets and a value")
                pairs.append((items[i + 1], items[i + 2], True))
                i += 3
                continue
            if i + 1 >= len(items):
                raise self.error(form, "setv needs an even number of arguments (target value ...)")
            pairs.append((items[i], items[i + 1], False))
            i += 2
        stmts: Stmts = []
        for pair_target, pair_value, chain in pairs:
            value = self.compile(pair_value)
            stmts.extend(value.stmts)
            if chain:
                # (setv :chain [a b c] v): v once, then each target in order.
                shared = self.temp()
                stmts.append(ast.Assign(targets=[ast.Name(id=shared, ctx=ast.Store())], value=value.expr))
                for target_form in pair_target:
                    stmts.extend(self._assign_target(target_form, Result(expr=ast.Name(id=shared, ctx=ast.Load()))))
                continue
            stmts.extend(self._assign_target(pair_target, value))
        return Result(stmts)

    def _assign_target(self, target_form: Any, value: Result) -> Stmts:
        """Statements storing the (already compiled, statement-free) `value` into a target."""
        stmts: Stmts = []
        if _is_call(target_form, "cut"):
            tstmts, obj, sl = self.cut_parts(target_form)
            stmts.extend(tstmts)
            stmts.append(ast.Expr(value=ast.Call(
                func=ast.Name(id=SETSLICE, ctx=ast.Load()),
                args=[obj, sl.lower or ast.Constant(value=None), sl.upper or ast.Constant(value=None),
                      sl.step or ast.Constant(value=None), value.expr],
                keywords=[])))
            return stmts
        if _is_call(target_form, "get") and len(target_form) >= 3:
            # d[k] = v through the runtime, which refuses to grow a dict past max_size.
            gstmts, parts = self.compile_args(list(target_form[1:]))
            if gstmts and not isinstance(value.expr, ast.Constant):
                name = self.temp()
                stmts.append(ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value.expr))
                value = Result(expr=ast.Name(id=name, ctx=ast.Load()))
            stmts.extend(gstmts)
            obj = parts[0]
            for key in parts[1:-1]:
                obj = ast.Subscript(value=obj, slice=self.key_guard(key), ctx=ast.Load())
            stmts.extend(self.setitem(obj, parts[-1], value.expr))
            return stmts
        tstmts, target = self.target(target_form)
        if tstmts and not isinstance(value.expr, ast.Constant):
            name = self.temp()
            stmts.append(ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value.expr))
            value_expr: ast.expr = ast.Name(id=name, ctx=ast.Load())
        else:
            value_expr = value.expr
        stmts.extend(tstmts)
        stmts.append(_store(target, value_expr))
        return stmts

    def setitem(self, obj: ast.expr, key: ast.expr, value: ast.expr) -> Stmts:
        """`obj[key] = value` inline unless it adds a key to a dict, which `_o_setitem`
        charges a step and checks against max_size (values evaluated once, in order).
        Only a dict hashes the key: its test passes the key through `key_guard` first."""
        stmts: Stmts = []
        loads: list[ast.expr] = []
        for expr in (obj, key, value):
            if isinstance(expr, ast.Name | ast.Constant):
                loads.append(expr)
            else:
                name = self.temp()
                stmts.append(ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=expr))
                loads.append(_name(name))
        o, k, v = loads
        adds_key = ast.BoolOp(op=ast.And(), values=[
            self.type_test(o, "_o_dict"),
            ast.Compare(left=self.key_guard(k), ops=[ast.NotIn()], comparators=[o])])
        store = ast.Assign(targets=[ast.Subscript(value=o, slice=k, ctx=ast.Store())], value=v)
        stmts.append(ast.If(test=adds_key, body=[ast.Expr(value=_call(SETITEM, o, k, v))], orelse=[store]))
        return stmts

    def delete(self, form: Expression) -> Result:
        stmts: Stmts = []
        targets: list[ast.expr] = []
        for item in form[1:]:
            s, t = self.target(item, ast.Del)
            stmts += s
            targets.append(t)
        if targets:
            stmts.append(ast.Delete(targets=targets))
        return Result(stmts)

    def declare(self, form: Expression) -> Result:
        names = [self.resolve(self.python_name(s)) for s in form[1:]]
        if not names:
            raise self.error(form, f"({form[0]}) needs at least one name")
        if str(form[0]) == "global":
            return Result([ast.Global(names=names)])
        if self.scopes[-1].is_module:
            raise self.error(form, "nonlocal is only allowed inside a function")
        return Result([ast.Nonlocal(names=names)])

    # -- control flow -------------------------------------------------------------------
    def body(self, forms: Iterable[Any]) -> Result:
        items = list(forms)
        if not items:
            return Result()
        stmts: Stmts = []
        for item in items[:-1]:
            stmts.extend(self._discard(self.compile(item)))
        last = self.compile(items[-1])
        return Result(stmts + last.stmts, last.expr)

    def do(self, form: Expression) -> Result:
        return self.body(form[1:])

    def if_(self, form: Expression) -> Result:
        if len(form) not in (3, 4):
            raise self.error(form, "if needs a condition, a then-form and an optional else-form")
        cond = self.compile(form[1])
        then = self.compile(form[2])
        other = self.compile(form[3]) if len(form) == 4 else Result()
        if then.pure and other.pure:
            return Result(cond.stmts, ast.IfExp(test=cond.expr, body=then.expr, orelse=other.expr))
        name = self.temp()
        return Result(
            cond.stmts
            + [ast.If(test=cond.expr, body=self._assign(name, then), orelse=self._assign(name, other))],
            ast.Name(id=name, ctx=ast.Load()),
        )

    def _assign(self, name: str, result: Result) -> Stmts:
        return result.stmts + [ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=result.expr)]

    def when(self, form: Expression) -> Result:
        if len(form) < 2:
            raise self.error(form, "when needs a condition")
        return self.if_(Expression([Symbol("if"), form[1], Expression([Symbol("do"), *form[2:]]), Symbol("None")], getattr(form, "_pos", None)))

    def cond(self, form: Expression) -> Result:
        clauses = list(form[1:])
        if len(clauses) % 2:
            raise self.error(form, "cond needs an even number of forms (condition result ...)")
        if not clauses:
            return Result()
        rest = Expression([Symbol("cond"), *clauses[2:]], getattr(form, "_pos", None)) if len(clauses) > 2 else Symbol("None")
        return self.if_(Expression([Symbol("if"), clauses[0], clauses[1], rest], getattr(form, "_pos", None)))

    def boolop(self, form: Expression) -> Result:
        is_and = str(form[0]) == "and"
        args = list(form[1:])
        if not args:
            return Result(expr=ast.Constant(value=True if is_and else None))
        results = [self.compile(a) for a in args]
        if len(results) == 1:
            return results[0]
        if all(r.pure for r in results):
            return Result(expr=ast.BoolOp(op=ast.And() if is_and else ast.Or(), values=[r.expr for r in results]))
        name = self.temp()
        stmts: Stmts = self._assign(name, results[-1])
        for r in reversed(results[:-1]):
            test: ast.expr = ast.Name(id=name, ctx=ast.Load())
            if not is_and:
                test = ast.UnaryOp(op=ast.Not(), operand=test)
            stmts = self._assign(name, r) + [ast.If(test=test, body=stmts, orelse=[])]
        return Result(stmts, ast.Name(id=name, ctx=ast.Load()))

    def not_(self, form: Expression) -> Result:
        if len(form) != 2:
            raise self.error(form, "not takes exactly one argument")
        r = self.compile(form[1])
        return Result(r.stmts, ast.UnaryOp(op=ast.Not(), operand=r.expr))

    def tick(self) -> Stmts:
        """One step of budget: `_o_next(_o_ticker)` (see `_budget`), at function entry and loop back-edges."""
        return [ast.Expr(value=_tick_call())]

    def _split_else(self, forms: list[Any]) -> tuple[list[Any], list[Any] | None]:
        if forms and _is_call(forms[-1], "else"):
            return forms[:-1], list(forms[-1][1:])
        return forms, None

    def while_(self, form: Expression) -> Result:
        if len(form) < 2:
            raise self.error(form, "while needs a condition")
        body_forms, else_forms = self._split_else(list(form[2:]))
        cond = self.compile(form[1])
        self.loop_depth += 1
        self.blocks.append("loop")
        try:
            body = self.body(body_forms)
        finally:
            self.loop_depth -= 1
            self.blocks.pop()
        loop_body = self.tick() + self._discard(body)
        orelse = self._stmts_of(else_forms)
        if cond.pure and orelse:
            return Result([ast.While(test=cond.expr, body=loop_body, orelse=orelse)])
        # `while True:` with the test inside, also for a pure condition: CPython 3.11
        # closes `while cond:` with a conditional backward jump, which does not count
        # towards the code's warm-up, so a function entered only a few times never gets
        # its specialised (quickened) bytecode, however long its loop runs; the
        # unconditional backward jump of `while True:` does count.
        guard = ast.If(test=ast.UnaryOp(op=ast.Not(), operand=cond.expr), body=[ast.Break()], orelse=[])
        if orelse:
            flag = self.temp("else")
            loop = ast.While(test=ast.Constant(value=True), body=cond.stmts + [
                ast.If(test=ast.UnaryOp(op=ast.Not(), operand=cond.expr), body=[
                    ast.Assign(targets=[ast.Name(id=flag, ctx=ast.Store())], value=ast.Constant(value=True)),
                    ast.Break()], orelse=[]),
                *loop_body], orelse=[])
            return Result([
                ast.Assign(targets=[ast.Name(id=flag, ctx=ast.Store())], value=ast.Constant(value=False)),
                loop,
                ast.If(test=ast.Name(id=flag, ctx=ast.Load()), body=orelse, orelse=[]),
            ])
        return Result([ast.While(test=ast.Constant(value=True), body=cond.stmts + [guard] + loop_body, orelse=[])])

    def _stmts_of(self, forms: list[Any] | None) -> Stmts:
        if not forms:
            return []
        return self._discard(self.body(forms))

    @staticmethod
    def _discard(result: Result) -> Stmts:
        """The statements of a result whose value is not needed (reading a constant or
        a compiler temporary, always bound, has no effect: it is left out). A `let`
        variable (`_o_let...`) is not a temporary: reading it after `del` must raise."""
        expr = result.expr
        if isinstance(expr, ast.Name) and expr.id.startswith("_o_") and not expr.id.startswith("_o_let"):
            return _unassign(list(result.stmts), expr.id)
        if isinstance(expr, ast.Constant):
            return list(result.stmts)
        return [*result.stmts, ast.Expr(value=result.expr)]

    def for_(self, form: Expression) -> Result:
        if len(form) < 2 or type(form[1]) is not List:
            raise self.error(form, "for needs a bracketed clause list: (for [x xs] body...)")
        body_forms, else_forms = self._split_else(list(form[2:]))
        clauses = self.parse_clauses(list(form[1]), form)
        if not clauses:
            # (for [] ...): no iteration at all, as in Hy; the else part still runs.
            return Result(self._stmts_of(else_forms))

        def inner() -> Stmts:
            self.loop_depth += 1
            self.blocks.append("loop")
            try:
                return self._stmts_of(body_forms) or [ast.Pass()]
            finally:
                self.loop_depth -= 1
                self.blocks.pop()

        stmts = self.build_loops(clauses, inner, ticking=True, orelse=self._stmts_of(else_forms))
        return Result(stmts)

    def parse_clauses(self, items: list[Any], form: Any) -> list[tuple[str, Any, Any]]:
        clauses: list[tuple[str, Any, Any]] = []
        i = 0
        while i < len(items):
            item = items[i]
            if type(item) is Keyword:
                kind = item.name
                if kind not in ("if", "setv", "do"):
                    raise self.error(item, f"unknown clause :{kind} (expected :if, :setv or :do)")
                if kind == "setv":
                    if i + 2 >= len(items):
                        raise self.error(item, ":setv needs a target and a value")
                    clauses.append(("setv", items[i + 1], items[i + 2]))
                    i += 3
                else:
                    if i + 1 >= len(items):
                        raise self.error(item, f":{kind} needs a form")
                    clauses.append((kind, items[i + 1], None))
                    i += 2
                continue
            if i + 1 >= len(items):
                raise self.error(item, "a loop clause needs a target and an iterable")
            clauses.append(("for", item, items[i + 1]))
            i += 2
        if clauses and clauses[0][0] != "for":
            raise self.error(form, "the first clause must be a target and an iterable")
        return clauses

    def build_loops(
        self,
        clauses: list[tuple[str, Any, Any]],
        inner: Callable[[], Stmts],
        ticking: bool,
        orelse: Stmts | None = None,
        rename: dict[str, str] | None = None,
    ) -> Stmts:
        """Nested loops for `for`-style clauses. With `rename` (a let frame), the names the
        clauses bind get fresh names, so they stay private to the comprehension."""
        if not clauses:
            return inner()
        kind, a, b = clauses[0]
        rest = clauses[1:]
        if kind == "for":
            iterable = self.compile(b)
            self._bind_fresh(a, rename)
            tstmts, target = self.target(a)
            if tstmts:
                raise self.error(a, "a loop target must be a name or a destructuring pattern")
            body = (self.tick() if ticking else []) + self.build_loops(rest, inner, ticking, rename=rename)
            # With several clauses, an `else` belongs to the outermost loop (as in Hy).
            loop = ast.For(target=target, iter=iterable.expr, body=body, orelse=orelse or [])
            return iterable.stmts + [loop]
        if kind == "if":
            cond = self.compile(a)
            nested = self.build_loops(rest, inner, ticking, rename=rename)
            return cond.stmts + [ast.If(test=cond.expr, body=nested or [ast.Pass()], orelse=[])]
        if kind == "setv":
            value = self.compile(b)
            self._bind_fresh(a, rename)
            tstmts, target = self.target(a)
            assign = [*value.stmts, *tstmts, ast.Assign(targets=[target], value=value.expr)]
            return assign + self.build_loops(rest, inner, ticking, rename=rename)
        return self._discard(self.compile(a)) + self.build_loops(rest, inner, ticking, rename=rename)

    def _bind_fresh(self, pattern: Any, frame: dict[str, str] | None) -> None:
        if frame is None:
            return
        for sym in _pattern_symbols(pattern):
            pyname = self.python_name(sym)
            frame[pyname] = f"_o_c{next(self._counter)}_{pyname}"

    def comprehension(self, form: Expression) -> Result:
        kind = str(form[0])
        unpack = "unpack-mapping" if kind == "dfor" else "unpack-iterable"
        spread = len(form) > 1 and _is_call(form[-1], unpack) and len(form[-1]) == 2
        nresult = 2 if kind == "dfor" and not spread else 1
        if len(form) < 1 + nresult:
            raise self.error(form, f"{kind} needs clauses and a result form")
        clause_items = list(form[1:-nresult])
        result_forms = list(form[-nresult:])
        clauses = self.parse_clauses(clause_items, form)
        if not clauses:
            # (lfor 1): no clauses, no items (as in Hy).
            nothing = ast.Tuple(elts=[], ctx=ast.Load())
            if kind == "gfor":
                gen = ast.comprehension(target=ast.Name(id=self.temp("z"), ctx=ast.Store()), iter=nothing, ifs=[], is_async=0)
                return Result(expr=ast.GeneratorExp(elt=ast.Constant(value=None), generators=[gen]))
            empty_of = {"lfor": "list", "sfor": "set", "dfor": "dict"}[kind]
            return Result(expr=ast.Call(func=ast.Name(id="_o_empty_" + empty_of, ctx=ast.Load()), args=[], keywords=[]))
        if spread:
            # (lfor x xs #* x) = (lfor x xs item x item); (dfor d ds #** d) iterates d's items.
            item = Symbol(f"hyx_XunpackX{next(self._counter)}")
            source = result_forms[0][1]
            if kind == "dfor":
                key, val = Symbol(f"hyx_XkeyX{next(self._counter)}"), Symbol(f"hyx_XvalueX{next(self._counter)}")
                items_call = Expression([Expression([Symbol("."), Symbol("None"), Symbol("items")]), source])
                clauses.append(("for", Tuple([key, val]), items_call))
                result_forms = [key, val]
            else:
                clauses.append(("for", item, source))
                result_forms = [item]
        fast = self._pure_comprehension(kind, clauses, result_forms)
        if fast is not None:
            return fast
        if kind == "gfor":
            return self._generator_function(form, clauses, result_forms[0])
        # General case (clauses with statements): explicit loops in the enclosing
        # scope, so `:do` forms can assign its variables as in Hy; the names the
        # clauses bind are renamed, so they do not leak out of the comprehension.
        acc = self.temp("acc")
        acc_load = ast.Name(id=acc, ctx=ast.Load())

        def inner() -> Stmts:
            values = [self.compile(f) for f in result_forms]
            stmts: Stmts = [s for v in values for s in v.stmts]
            exprs = [v.expr for v in values]
            if kind == "lfor":
                call = ast.Call(func=ast.Name(id=APPEND, ctx=ast.Load()), args=[acc_load, exprs[0]], keywords=[])
                stmts.append(ast.Expr(value=call))
            elif kind == "sfor":
                call = ast.Call(func=ast.Name(id="_o_add_to_set", ctx=ast.Load()), args=[acc_load, self.key_guard(exprs[0])], keywords=[])
                stmts.append(ast.Expr(value=call))
            else:
                store = ast.Subscript(value=acc_load, slice=self.key_guard(exprs[0]), ctx=ast.Store())
                stmts.append(ast.Assign(targets=[store], value=exprs[1]))
            return stmts

        empty: ast.expr = {
            "lfor": ast.List(elts=[], ctx=ast.Load()),
            "dfor": ast.Dict(keys=[], values=[]),
            "sfor": ast.Call(func=ast.Name(id="_o_set", ctx=ast.Load()), args=[], keywords=[]),
        }[kind]
        frame: dict[str, str] = {}
        self.lets.append(frame)
        try:
            loops = self.build_loops(clauses, inner, ticking=True, rename=frame)
        finally:
            self.lets.pop()
        init = ast.Assign(targets=[ast.Name(id=acc, ctx=ast.Store())], value=empty)
        return Result([init, *loops], ast.Name(id=acc, ctx=ast.Load()))

    def _generator_function(self, form: Any, clauses: list[tuple[str, Any, Any]], result_form: Any) -> Result:
        """A lazy `gfor` whose clauses need statements: a nested generator function."""
        fname = self.temp("gen")
        self.scopes.append(FunctionScope(is_module=False))
        saved_loop = self.loop_depth
        self.loop_depth = 0
        try:
            def inner() -> Stmts:
                value = self.compile(result_form)
                return [*value.stmts, ast.Expr(value=ast.Yield(value=value.expr))]

            loops = self.build_loops(clauses, inner, ticking=True)
        finally:
            self.scopes.pop()
            self.loop_depth = saved_loop
        no_args = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
        fdef = self.function_def(fname, no_args, loops, form, prologue=False)
        return Result([fdef], ast.Call(func=ast.Name(id=fname, ctx=ast.Load()), args=[], keywords=[]))

    def _pure_comprehension(self, kind: str, clauses: list[tuple[str, Any, Any]], result_forms: list[Any]) -> Result | None:
        if any(k in ("setv", "do") for k, _, _ in clauses):
            return None
        # Only the first iterable is evaluated outside the comprehension's scope.
        self.scopes.append(FunctionScope(is_module=False))
        try:
            generators: list[ast.comprehension] = []
            first_stmts: Stmts = []
            for index, (k, a, b) in enumerate(clauses):
                if k == "for":
                    self.no_walrus += 1
                    try:
                        it = self.compile(b)
                    finally:
                        self.no_walrus -= 1
                    if it.stmts:
                        if index == 0:
                            first_stmts = it.stmts
                        else:
                            return None
                    tstmts, target = self.target(a)
                    if tstmts:
                        return None
                    # Each item costs one step, taken before the body and the `:if`
                    # clauses run: the time limit and cancellation can stop a comprehension
                    # whose body does bounded but uncharged work per item.
                    ticked = ast.UnaryOp(op=ast.Not(), operand=_tick_call())
                    generators.append(ast.comprehension(target=target, iter=it.expr, ifs=[ticked], is_async=0))
                else:
                    cond = self.compile(a)
                    if cond.stmts:
                        return None
                    generators[-1].ifs.append(cond.expr)
            values = [self.compile(f) for f in result_forms]
            if any(v.stmts for v in values):
                return None
            temps = self.scopes[-1].temps
        finally:
            self.scopes.pop()
        # Walrus temporaries of a comprehension bind in the enclosing scope.
        self.scopes[-1].temps.extend(temps)
        if kind == "lfor":
            node: ast.expr = ast.ListComp(elt=values[0].expr, generators=generators)
        elif kind == "sfor":
            node = ast.SetComp(elt=self.key_guard(values[0].expr), generators=generators)
        elif kind == "gfor":
            node = ast.GeneratorExp(elt=values[0].expr, generators=generators)
        else:
            node = ast.DictComp(key=self.key_guard(values[0].expr), value=values[1].expr, generators=generators)
        return Result(first_stmts, node)

    def yield_(self, form: Expression) -> Result:
        """`(yield)`, `(yield v)`, `(yield :from it)`; every resumption costs a step."""
        scope = self.scopes[-1]
        if scope.is_module:
            raise self.error(form, "yield outside a function")
        args = list(form[1:])
        stmts: Stmts = []
        node: ast.expr
        if len(args) == 2 and type(args[0]) is Keyword and args[0].name == "from":
            r = self.compile(args[1])
            stmts += r.stmts
            delegate = ast.Call(func=ast.Name(id="_o_yield_from", ctx=ast.Load()), args=[r.expr], keywords=[])
            node = ast.YieldFrom(value=delegate)
        else:
            if len(args) > 1:
                raise self.error(form, "yield takes at most one value")
            value: ast.expr | None = None
            if args:
                r = self.compile(args[0])
                stmts += r.stmts
                value = r.expr
            node = ast.Yield(value=value)
        scope.is_generator = True
        name = self.temp("sent")
        stmts.append(ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=node))
        return Result(stmts + self.tick(), ast.Name(id=name, ctx=ast.Load()))

    def break_continue(self, form: Expression) -> Result:
        if len(form) != 1:
            raise self.error(form, f"({form[0]}) takes no arguments")
        if self.loop_depth == 0:
            raise self.error(form, f"({form[0]}) outside a loop")
        return Result([ast.Break() if str(form[0]) == "break" else ast.Continue()])


    def return_(self, form: Expression) -> Result:
        if self.scopes[-1].is_module:
            raise self.error(form, "return outside a function")
        if len(form) > 2:
            raise self.error(form, "return takes at most one value")
        if len(form) == 1:
            return Result([ast.Return(value=None)])
        r = self.compile(form[1])
        return Result(r.stmts + [ast.Return(value=r.expr)])

    def raise_(self, form: Expression) -> Result:
        args = list(form[1:])
        if not args:
            return Result([ast.Raise(exc=None, cause=None)])
        if len(args) == 3 and type(args[1]) is Keyword and args[1].name == "from":
            stmts, exprs = self.compile_args([args[0], args[2]])
            return Result(stmts + [ast.Raise(exc=exprs[0], cause=exprs[1])])
        if len(args) != 1:
            raise self.error(form, "raise takes an exception and optionally :from cause")
        r = self.compile(args[0])
        return Result(r.stmts + [ast.Raise(exc=r.expr, cause=None)])

    def assert_(self, form: Expression) -> Result:
        """`(assert COND [MESSAGE])`. Without a message, the error shows the expression and
        the values that failed it (`o_lisp._assertions`): the operands of a comparison are
        evaluated once each, in order, and checked pair by pair like a chained comparison."""
        if len(form) not in (2, 3):
            raise self.error(form, "assert takes a condition and an optional message")
        if len(form) == 3:  # like Python's assert: the message is evaluated only on failure
            condition, message = self.compile(form[1]), self.compile(form[2])
            exc = ast.Call(func=ast.Name(id="_o_AssertionError", ctx=ast.Load()), args=[message.expr], keywords=[])
            failed = ast.UnaryOp(op=ast.Not(), operand=condition.expr)
            body = [*message.stmts, ast.Raise(exc=exc, cause=None)]
            return Result([*condition.stmts, ast.If(test=failed, body=body, orelse=[])])
        condition = form[1]
        source = ast.Constant(value=assertion_source(to_source(condition)))
        op = self._assert_comparison(condition)
        stmts: Stmts = []
        if op is None:
            value = self._assert_operand(condition, stmts)
            return Result(stmts + [_raise_unless(value, _assertion_failed(source, None, value))])
        previous: ast.expr | None = None
        for operand in condition[1:]:
            value = self._assert_operand(operand, stmts)
            if previous is not None:
                test = self.guarded_compare(op, [previous, value])
                stmts.append(_raise_unless(test, _assertion_failed(source, op, previous, value)))
            previous = value
        return Result(stmts)

    def _assert_comparison(self, condition: Any) -> str | None:
        """The comparison operator of an asserted `(OP a b ...)`, or None for any other form."""
        if type(condition) is not Expression or len(condition) < 3 or type(condition[0]) is not Symbol:
            return None
        name = str(condition[0])
        if name not in COMPARE_OPS or self.macro_lookup(mangle(name)) is not None:
            return None
        if any(_is_call(a, "unpack-iterable") or _is_call(a, "unpack-mapping") for a in condition[1:]):
            return None
        return name

    def _assert_operand(self, form: Any, stmts: Stmts) -> ast.expr:
        """Compile `form` into `stmts`, its value kept in a temporary (read twice)."""
        result = self.compile(form)
        stmts.extend(result.stmts)
        name = self.temp()
        stmts.append(ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=result.expr))
        return ast.Name(id=name, ctx=ast.Load())

    def try_(self, form: Expression) -> Result:
        body_forms: list[Any] = []
        catchers: list[Expression] = []
        orelse: list[Any] | None = None
        final: list[Any] | None = None
        for item in form[1:]:
            if _is_call(item, "except"):
                if orelse is not None or final is not None:
                    raise self.error(item, "except must come before else and finally")
                catchers.append(item)
            elif _is_call(item, "except*"):
                raise self.error(item, "except* is not supported by o_lisp")
            elif _is_call(item, "else"):
                if orelse is not None or final is not None:
                    raise self.error(item, "else must come once, before finally")
                orelse = list(item[1:])
            elif _is_call(item, "finally"):
                if final is not None:
                    raise self.error(item, "finally must come once, at the end")
                final = list(item[1:])
            else:
                if catchers or orelse is not None or final is not None:
                    raise self.error(item, "the body of try must come before its except/else/finally")
                body_forms.append(item)
        if orelse is not None and not catchers:
            body_forms += orelse
            orelse = None
        body = self.body(body_forms)
        if not catchers and final is None:
            return body
        name = self.temp()
        handlers: list[ast.ExceptHandler] = [
            ast.ExceptHandler(type=ast.Name(id=FATAL, ctx=ast.Load()), name=None, body=[ast.Raise(exc=None, cause=None)])
        ]
        for catcher in catchers:
            handlers.append(self.handler(catcher, name))
        body_stmts = self._discard(body) if orelse is not None else self._assign(name, body)
        else_stmts: Stmts = []
        if orelse is not None:
            else_stmts = self._assign(name, self.body(orelse))
        final_stmts: Stmts = []
        if final is not None:
            self.blocks.append("finally")
            try:
                final_stmts = self._stmts_of(final) or [ast.Pass()]
            finally:
                self.blocks.pop()
        init = [ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=ast.Constant(value=None))]
        node = ast.Try(body=body_stmts or [ast.Pass()], handlers=handlers if catchers else [], orelse=else_stmts, finalbody=final_stmts)
        return Result(init + [node], ast.Name(id=name, ctx=ast.Load()))

    def handler(self, catcher: Expression, result_name: str) -> ast.ExceptHandler:
        if len(catcher) < 2 or type(catcher[1]) is not List:
            raise self.error(catcher, "except needs a bracketed spec: [], [Type], [e Type] or [[A B]]")
        spec = list(catcher[1])
        var: str | None = None
        handler_frame: dict[str, str] = {}
        if not spec:
            types: ast.expr = ast.Name(id="Exception", ctx=ast.Load())
            type_stmts: Stmts = []
        else:
            if len(spec) == 2:
                var = self.python_name(spec[0])
                if self.resolve(var) != var:
                    # A let binds this name: the exception gets a fresh name for the
                    # handler's body, and the let binding is left alone (as in Hy).
                    fresh = f"_o_exc{next(self._counter)}_{var}"
                    handler_frame = {var: fresh}
                    var = fresh
                exc_form = spec[1]
            elif len(spec) == 1:
                exc_form = spec[0]
            else:
                raise self.error(catcher, "except spec has too many forms")
            if type(exc_form) is List:
                type_stmts, elts = self.compile_args(list(exc_form))
                types = ast.Tuple(elts=elts, ctx=ast.Load())
            else:
                r = self.compile(exc_form)
                type_stmts, types = r.stmts, r.expr
            if type_stmts:
                raise self.error(catcher, "exception types must be simple expressions")
        if handler_frame:
            self.lets.append(handler_frame)
        try:
            body = self.body(catcher[2:])
        finally:
            if handler_frame:
                self.lets.pop()
        return ast.ExceptHandler(type=types, name=var, body=self._assign(result_name, body))

    # -- functions ------------------------------------------------------------------------
    def params(self, form: Any, owner: Any) -> tuple[Stmts, ast.arguments, list[str]]:
        if type(form) is not List:
            raise self.error(owner, "expected a bracketed parameter list")
        posonly: list[ast.arg] = []
        args: list[ast.arg] = []
        defaults: list[ast.expr] = []
        kwonly: list[ast.arg] = []
        kw_defaults: list[ast.expr | None] = []
        vararg: ast.arg | None = None
        kwarg: ast.arg | None = None
        names: list[str] = []
        stmts: Stmts = []
        mode = "pos"
        for item in form:
            if type(item) is Symbol and str(item) == "/":
                if mode != "pos" or not args:
                    raise self.error(item, "'/' must follow at least one positional parameter")
                posonly, args = args, []
                continue
            if type(item) is Symbol and str(item) == "*":
                if mode != "pos":
                    raise self.error(item, "'*' in the wrong place")
                mode = "kwonly"
                continue
            if _is_call(item, "unpack-iterable"):
                if mode != "pos" or vararg is not None:
                    raise self.error(item, "#* in the wrong place")
                vararg = ast.arg(arg=self.python_name(item[1]))
                names.append(vararg.arg)
                mode = "kwonly"
                continue
            if _is_call(item, "unpack-mapping"):
                if kwarg is not None:
                    raise self.error(item, "only one #** parameter is allowed")
                kwarg = ast.arg(arg=self.python_name(item[1]))
                names.append(kwarg.arg)
                mode = "done"
                continue
            if mode == "done":
                raise self.error(item, "no parameters may follow #**")
            default: ast.expr | None = None
            if type(item) is List:
                if len(item) != 2 or type(item[0]) is not Symbol:
                    raise self.error(item, "an optional parameter is written [name default]")
                r = self.compile(item[1])
                stmts += r.stmts
                default = r.expr
                item = item[0]
            if type(item) is not Symbol:
                raise self.error(item, "a parameter must be a symbol")
            name = self.python_name(item)
            names.append(name)
            if mode == "pos":
                if default is None and defaults:
                    raise self.error(item, "non-default parameter follows a default parameter")
                args.append(ast.arg(arg=name))
                if default is not None:
                    defaults.append(default)
            else:
                kwonly.append(ast.arg(arg=name))
                kw_defaults.append(default)
        if len(set(names)) != len(names):
            raise self.error(form, "duplicate parameter name")
        return stmts, ast.arguments(posonlyargs=posonly, args=args, vararg=vararg, kwonlyargs=kwonly, kw_defaults=kw_defaults, kwarg=kwarg, defaults=defaults), names

    def function_def(self, name: str, arguments: ast.arguments, body: Stmts, form: Any, prologue: bool = True, docstring: str | None = None) -> ast.FunctionDef:
        stmts: Stmts = []
        if docstring is not None:
            stmts.append(ast.Expr(value=ast.Constant(value=docstring)))
        if prologue:
            stmts += self.tick() + body
        else:
            stmts += body
        return ast.FunctionDef(name=name, args=arguments, body=stmts or [ast.Pass()], decorator_list=[], returns=None, type_comment=None)

    def function(self, form: Expression, name: str | None, params_form: Any, body_forms: list[Any], decorators: list[Any] | None = None) -> Result:
        docstring = None
        if len(body_forms) > 1 and type(body_forms[0]) is String:
            docstring = str(body_forms[0])
            body_forms = body_forms[1:]
        default_stmts, arguments, _names = self.params(params_form, form)
        dec_stmts, dec_exprs = self.compile_args(list(decorators or []))
        scope = FunctionScope(is_module=False)
        self.scopes.append(scope)
        saved_loop = self.loop_depth
        saved_lets = self.lets
        saved_blocks = self.blocks
        self.loop_depth = 0
        self.blocks = ["function"]
        # Parameters shadow let-bindings of the same name.
        self.lets = [*saved_lets, {n: n for n in _names}] if saved_lets else []
        try:
            body = self.body(body_forms)
        finally:
            self.scopes.pop()
            self.loop_depth = saved_loop
            self.lets = saved_lets
            self.blocks = saved_blocks
        stmts = body.stmts + [ast.Return(value=body.expr)]
        if scope.is_generator:
            # A generator's `finally` may run when the host closes or collects it,
            # outside any evaluation: it ticks first, so it runs under a budget or
            # not at all. (As in Hy, the last value is the generator's return value.)
            _tick_finally_blocks(stmts, self.tick)
        pyname = name or self.temp("fn")
        fdef = self.function_def(pyname, arguments, stmts, form, docstring=docstring)
        if scope.type_tests:
            _drop_known_type_tests(fdef, scope.type_tests)
        if scope.name_copies:
            _drop_needless_copies(fdef, scope.name_copies, scope.copy_tests)
        if scope.growth_exprs:
            _growth_statements(fdef.body, scope.growth_exprs)
        if len(scope.scalar_tests) > 1:
            _ScalarTestReuse(fdef, scope.scalar_tests, lambda: self.fresh("f")).run()
        fdef.decorator_list = dec_exprs
        return Result(dec_stmts + default_stmts + [fdef], ast.Name(id=pyname, ctx=ast.Load()))

    def fn(self, form: Expression) -> Result:
        if len(form) < 2:
            raise self.error(form, "fn needs a parameter list")
        return self.function(form, None, form[1], list(form[2:]))

    def defn(self, form: Expression) -> Result:
        items = list(form[1:])
        decorators = None
        if items and type(items[0]) is List:
            decorators = list(items.pop(0))
        if len(items) < 2 or type(items[0]) is not Symbol:
            raise self.error(form, "defn needs a name and a parameter list: (defn name [params] body...)")
        name = self.resolve(self.python_name(items[0]))
        return Result(self.function(form, name, items[1], items[2:], decorators).stmts)

    def defmacro(self, form: Expression) -> Result:
        if len(form) < 3 or type(form[1]) is not Symbol:
            raise self.error(form, "defmacro needs a name and a parameter list")
        name = mangle(str(form[1]))
        why = forbidden_name(name)
        if why:
            raise self.violation(form[1], why)
        scope = self.scopes[-1]
        if self.define_macro is not None:
            fn_form = Expression([Symbol("fn"), *form[2:]], getattr(form, "_pos", None))
            macro = self.define_macro(fn_form, name, str(form[1]), scope.is_module)
            if not scope.is_module:
                # A local macro: only this function's later forms see it; nothing runs.
                scope.macros[name] = macro
                return Result()
        fn = self.function(form, self.temp("macro"), form[2], list(form[3:]))
        register = ast.Expr(value=ast.Call(
            func=ast.Name(id=REGISTER_MACRO, ctx=ast.Load()),
            args=[ast.Constant(value=name), fn.expr, ast.Constant(value=str(form[1]))],
            keywords=[]))
        return Result(fn.stmts + [register])

    def let(self, form: Expression) -> Result:
        if len(form) < 2 or type(form[1]) is not List:
            raise self.error(form, "let needs a bracketed binding list: (let [x 1 y 2] body...)")
        bindings = list(form[1])
        if len(bindings) % 2:
            raise self.error(form[1], "let bindings come in pairs: [name value ...]")
        frame: dict[str, str] = {}
        stmts: Stmts = []
        self.lets.append(frame)
        try:
            for i in range(0, len(bindings), 2):
                target, value_form = bindings[i], bindings[i + 1]
                value = self.compile(value_form)
                stmts += value.stmts
                for sym in _pattern_symbols(target):
                    pyname = self.python_name(sym)
                    frame[pyname] = f"_o_let{next(self._counter)}_{pyname}"
                tstmts, t = self.target(target)
                stmts += tstmts
                stmts.append(ast.Assign(targets=[t], value=value.expr))
            body = self.body(form[2:])
        finally:
            self.lets.pop()
        return Result(stmts + body.stmts, body.expr)

    # -- data ---------------------------------------------------------------------------------
    def get(self, form: Expression) -> Result:
        if len(form) < 3:
            raise self.error(form, "get needs an object and at least one key")
        stmts, exprs = self.compile_args(list(form[1:]))
        node = exprs[0]
        for key in exprs[1:]:
            node = ast.Subscript(value=node, slice=self.key_guard(key), ctx=ast.Load())
        return Result(stmts, node)

    def cut_parts(self, form: Expression) -> tuple[Stmts, ast.expr, ast.Slice]:
        args = list(form[1:])
        if not 1 <= len(args) <= 4:
            raise self.error(form, "cut takes an object and up to three indices")
        stmts, exprs = self.compile_args(args)
        obj, idx = exprs[0], exprs[1:]
        if len(idx) == 0:
            sl = ast.Slice(lower=None, upper=None, step=None)
        elif len(idx) == 1:
            sl = ast.Slice(lower=None, upper=idx[0], step=None)
        else:
            sl = ast.Slice(lower=idx[0], upper=idx[1], step=idx[2] if len(idx) > 2 else None)
        return stmts, obj, sl

    def cut(self, form: Expression) -> Result:
        stmts, obj, sl = self.cut_parts(form)
        return Result(stmts, ast.Subscript(value=obj, slice=sl, ctx=ast.Load()))

    def quote(self, form: Expression) -> Result:
        if len(form) != 2:
            raise self.error(form, "quote takes exactly one form")
        return Result(expr=self.constant(form[1]))

    def quasiquote(self, form: Expression) -> Result:
        if len(form) != 2:
            raise self.error(form, "quasiquote takes exactly one form")
        return self.qq(form[1], 1)

    def qq(self, form: Any, level: int) -> Result:
        """Code building `form` at run time, with unquotes evaluated at nesting `level`."""
        if type(form) is Expression and form and type(form[0]) is Symbol:
            head = str(form[0])
            if head == "unquote" and len(form) == 2:
                if level == 1:
                    r = self.compile(form[1])
                    return r  # Hy inserts the value as it is (no promotion to a form)
                return self._qq_seq(form, level - 1)
            if head == "quasiquote" and len(form) == 2:
                return self._qq_seq(form, level + 1)
            if head == "unquote-splice" and level == 1:
                raise self.error(form, "unquote-splice (~@) is only allowed inside a sequence")
        if isinstance(form, Sequence):
            return self._qq_seq(form, level)
        return Result(expr=self.constant(form))

    def _qq_seq(self, form: Sequence, level: int) -> Result:
        if not _contains_unquote(form):
            return Result(expr=self.constant(form))
        parts: list[Result] = []
        spliced: list[bool] = []
        for item in form:
            if _is_call(item, "unquote-splice") and level == 1:
                r = self.compile(item[1])
                parts.append(r)
                spliced.append(True)
            elif _is_call(item, "unquote-splice"):
                parts.append(self._qq_seq(item, level - 1))
                spliced.append(False)
            else:
                parts.append(self.qq(item, level))
                spliced.append(False)
        stmts: Stmts = []
        elts: list[ast.expr] = []
        for r, s in zip(parts, spliced, strict=True):
            stmts += r.stmts
            if s:
                elts.append(ast.Starred(value=ast.Call(func=ast.Name(id="_o_splice", ctx=ast.Load()), args=[r.expr], keywords=[]), ctx=ast.Load()))
            else:
                elts.append(r.expr)
        build = ast.Call(
            func=ast.Name(id=QUASI, ctx=ast.Load()),
            args=[self.constant(type(form)), ast.List(elts=elts, ctx=ast.Load()), self.constant(getattr(form, "_pos", None))],
            keywords=[],
        )
        return Result(stmts, build)

    def dot(self, form: Expression) -> Result:
        # `hy.repr`, `hy.models.Symbol` and friends are the only dotted names.
        parts = [str(p) for p in form[1:]] if all(type(p) is Symbol for p in form[1:]) else []
        if len(parts) == 2 and parts[0] == "hy" and parts[1] in HY_NAMES:
            return Result(expr=ast.Name(id=HY_NAMES[parts[1]], ctx=ast.Load()))
        if len(parts) == 3 and parts[:2] == ["hy", "models"] and parts[2] in FORM_CLASS_NAMES:
            return Result(expr=ast.Name(id="_o_model_" + parts[2], ctx=ast.Load()))
        raise self.violation(form, "attribute access is not allowed in the sandbox")


def _describe(form: Any) -> str:
    return f"a {type(form).__name__.lower()}"


def _raise_unless(test: ast.expr, exc: ast.expr) -> ast.stmt:
    """`if not TEST: raise EXC` (the shape of a compiled `assert`)."""
    return ast.If(test=ast.UnaryOp(op=ast.Not(), operand=test), body=[ast.Raise(exc=exc, cause=None)], orelse=[])


def _assertion_failed(source: ast.expr, op: str | None, *values: ast.expr) -> ast.expr:
    """The call building a failed assertion's error (`o_lisp._assertions`)."""
    args = [source, ast.Constant(value=op), *values]
    return ast.Call(func=ast.Name(id="_o_assertion_failed", ctx=ast.Load()), args=args, keywords=[])


def _is_call(form: Any, name: str) -> bool:
    return type(form) is Expression and len(form) > 0 and type(form[0]) is Symbol and str(form[0]) == name


def _name(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _call(function: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_name(function), args=list(args), keywords=[])


def _tick_call() -> ast.Call:
    """`_o_next(_o_ticker)`: one step of budget, one C call (see `_helpers.TICKER`)."""
    return _call(NEXT, _name(TICKER))


def _is(left: ast.expr, name: str) -> ast.Compare:
    return ast.Compare(left=left, ops=[ast.Is()], comparators=[_name(name)])


def _le(left: ast.expr, bound: int) -> ast.Compare:
    return ast.Compare(left=left, ops=[ast.LtE()], comparators=[ast.Constant(value=bound)])


def _bounded(value: ast.expr, bound: int) -> ast.Compare:
    """`-bound < value < bound`."""
    return ast.Compare(left=ast.Constant(value=-bound), ops=[ast.Lt(), ast.Lt()], comparators=[value, ast.Constant(value=bound)])


def _store(target: ast.expr, value: ast.expr) -> ast.stmt:
    """`target = value`; for a program variable and a conditional value, `if test:
    target = a else: target = b`, the same evaluation as a statement, so that each
    branch stores right after computing: `s = s + t` on strs is then CPython's in-place
    concatenation (BINARY_OP followed by a store to the same local), linear in a loop."""
    if isinstance(value, ast.IfExp) and isinstance(target, ast.Name) and not target.id.startswith("_o_"):
        store = ast.Name(id=target.id, ctx=ast.Store())
        return ast.If(test=value.test, body=[ast.Assign(targets=[target], value=value.body)],
                      orelse=[ast.Assign(targets=[store], value=value.orelse)])
    return ast.Assign(targets=[target], value=value)


def _unassign(stmts: Stmts, name: str) -> Stmts:
    """`stmts` without the final assignments of the temporary `name`, whose value nobody
    reads (an `if` whose value is discarded assigns it in each branch): the assigned
    value is kept as an expression statement unless it is a constant or a temporary."""
    if not stmts:
        return stmts
    last = stmts[-1]
    if isinstance(last, ast.Assign) and len(last.targets) == 1 and isinstance(last.targets[0], ast.Name) and last.targets[0].id == name:
        value = last.value
        rest = stmts[:-1]
        if isinstance(value, ast.Constant):
            return rest
        if isinstance(value, ast.Name) and value.id.startswith("_o_"):
            return _unassign(rest, value.id)
        return [*rest, ast.copy_location(ast.Expr(value=value), last)]
    if isinstance(last, ast.If):
        branch = ast.If(test=last.test, body=_unassign(last.body, name) or [ast.Pass()], orelse=_unassign(last.orelse, name))
        return [*stmts[:-1], ast.copy_location(branch, last)]
    return stmts


# Runtime helpers that never run program code (no callbacks, no iteration of the
# program's generators): operators on built-in values, type tests, one-item growth.
_NO_PROGRAM_CODE = frozenset([
    "_o_type", "_o_len", "_o_add", "_o_mul", "_o_mod", "_o_pow", "_o_lshift", "_o_str",
    "_o_int", "_o_float", TICK, NEXT, "_o_append", "_o_add_to_set", "_o_str_replace",
    "_o_str_split", "_o_min", "_o_max", "_o_concat",
])


def _may_rebind(node: ast.expr) -> bool:
    """Whether evaluating `node` could rebind a variable of the program: it calls
    something other than the runtime's own helpers (a function may assign a `global`
    or `nonlocal`), or assigns one itself. A name read after such an expression must
    be read before it instead."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and not (isinstance(sub.func, ast.Name) and sub.func.id in _NO_PROGRAM_CODE):
            return True
        if isinstance(sub, ast.NamedExpr) and not sub.target.id.startswith("_o_"):
            return True
        if isinstance(sub, ast.Lambda | ast.GeneratorExp | ast.ListComp | ast.SetComp | ast.DictComp):
            return True
    return False


def _scalar_test(value: ast.expr, first: ast.expr | None = None) -> ast.BoolOp:
    """`type(v) is int or type(v) in _o_flat` (`first` evaluates `v` the first time, for
    a walrus): ints, the most common operands, take one identity test."""
    is_int = _is(_call("_o_type", first if first is not None else value), "_o_int")
    flat = ast.Compare(left=_call("_o_type", value), ops=[ast.In()], comparators=[_name("_o_flat")])
    return ast.BoolOp(op=ast.Or(), values=[is_int, flat])


def _never_container(node: ast.expr, hashing: bool = True) -> bool:
    """Whether `node` (compiled code) certainly yields a scalar or raises: a flat
    literal, a comparison, a unary operator, arithmetic other than `+`/`*`, `+` with
    a number literal, `*` with a float literal, or the guarded `%`/`**`/`<<` helpers
    (`t + 1` and `t % 2` raise; only `+` and `*` build tuples). Such a key needs no
    hash guard. For a comparison (`hashing` false) the set operators `- | & ^` do not
    count: they build sets, whose equality compares members."""
    if isinstance(node, ast.Constant):
        return type(node.value) in _FLAT_CONSTANTS
    if isinstance(node, ast.Compare | ast.UnaryOp):
        return True
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Add):
            return any(isinstance(s, ast.Constant) and type(s.value) in (int, float, complex) for s in (node.left, node.right))
        if isinstance(node.op, ast.Mult):
            return any(isinstance(s, ast.Constant) and type(s.value) in (float, complex) for s in (node.left, node.right))
        return hashing or not isinstance(node.op, ast.Sub | ast.BitOr | ast.BitAnd | ast.BitXor)
    if isinstance(node, ast.IfExp):
        return _never_container(node.body, hashing) and _never_container(node.orelse, hashing)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in ("_o_mod", "_o_pow", "_o_lshift")
    return False


def _simple(node: ast.expr) -> bool:
    """A name or a constant: reading it again has no effect and costs nothing."""
    return isinstance(node, ast.Name | ast.Constant)


def _plain_argument(form: Any) -> bool:
    """A positional argument: not a keyword and not #* / #**."""
    return type(form) is not Keyword and not _is_call(form, "unpack-iterable") and not _is_call(form, "unpack-mapping")


def _plain_with_constant(op: str, left: ast.expr, right: ast.expr) -> bool:
    """Whether the guarded helper for `op` does nothing but `left OP right` whatever the
    other operand is, given that one of them is a numeric constant: `+` checks only
    sequence + sequence (a number is none), `*` nothing when a float is involved (no
    repetition by a float). The sandbox has no classes, so no `__add__` of the program's
    runs either way."""
    if op == "+":
        return _is_number(left) or _is_number(right)
    if op == "*":
        return any(isinstance(n, ast.Constant) and type(n.value) is float for n in (left, right))
    return False


def _never_text(node: ast.expr) -> bool:
    """Whether `node` (compiled code) certainly yields no str or bytes (or raises): a
    number literal, or `+`/`-` with a number literal (`s + 1` raises for a str, bytes or
    form; no type of the sandbox makes text of it). `%` on such a left operand is
    arithmetic, never formatting, so it needs none of `Runtime.mod`'s checks."""
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float, complex, bool)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        return _is_number(node.left) or _is_number(node.right)
    return False


def _is_number(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _contains_unquote(form: Any) -> bool:
    stack = [form]
    while stack:
        x = stack.pop()
        if type(x) is Expression and x and type(x[0]) is Symbol and str(x[0]) in ("unquote", "unquote-splice"):
            return True
        if isinstance(x, Sequence):
            stack.extend(x)
    return False


def _tick_finally_blocks(stmts: Stmts, tick: Callable[[], Stmts]) -> None:
    """Prepend a tick to every `finally` body of a function (not of nested functions)."""
    todo: list[ast.AST] = list(stmts)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef):
            continue
        if isinstance(node, ast.Try) and node.finalbody:
            node.finalbody[:0] = tick()
        todo.extend(ast.iter_child_nodes(node))


def _pattern_symbols(form: Any) -> list[Any]:
    if type(form) is Symbol:
        return [form]
    if type(form) in (List, Tuple):
        out: list[Any] = []
        for item in form:
            if _is_call(item, "unpack-iterable"):
                out += _pattern_symbols(item[1])
            else:
                out += _pattern_symbols(item)
        return out
    return []


SPECIAL_FORMS: dict[str, Callable[[Compiler, Expression], Result]] = {
    "do": Compiler.do,
    "setv": Compiler.setv,
    "setx": Compiler.setx,
    "chainc": Compiler.chainc,
    "pragma": Compiler.pragma,
    "f-string": Compiler.fstring,
    "if": Compiler.if_,
    "when": Compiler.when,
    "cond": Compiler.cond,
    "and": Compiler.boolop,
    "or": Compiler.boolop,
    "not": Compiler.not_,
    "while": Compiler.while_,
    "for": Compiler.for_,
    "lfor": Compiler.comprehension,
    "sfor": Compiler.comprehension,
    "gfor": Compiler.comprehension,
    "dfor": Compiler.comprehension,
    "break": Compiler.break_continue,
    "continue": Compiler.break_continue,
    "return": Compiler.return_,
    "yield": Compiler.yield_,
    "raise": Compiler.raise_,
    "assert": Compiler.assert_,
    "try": Compiler.try_,
    "fn": Compiler.fn,
    "defn": Compiler.defn,
    "defmacro": Compiler.defmacro,
    "let": Compiler.let,
    "global": Compiler.declare,
    "nonlocal": Compiler.declare,
    "del": Compiler.delete,
    "get": Compiler.get,
    "cut": Compiler.cut,
    "quote": Compiler.quote,
    "quasiquote": Compiler.quasiquote,
    ".": Compiler.dot,
}


# -- the vetted AST subset -------------------------------------------------------------------

# Literals whose value is always of one exact type (by the name compiled code tests it with).
_LITERAL_TYPES: dict[type, str] = {ast.List: "_o_list", ast.Dict: "_o_dict", ast.Set: "_o_set"}


def _bindings(fdef: ast.FunctionDef) -> tuple[dict[str, int], set[str]]:
    """(name -> how many places bind it anywhere in `fdef`, nested functions and
    comprehensions included; the names declared `global` or `nonlocal` anywhere in it)."""
    bindings: dict[str, int] = {}
    excluded: set[str] = set()

    def bind(name: str) -> None:
        bindings[name] = bindings.get(name, 0) + 1

    for node in ast.walk(fdef):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bind(node.id)
        elif isinstance(node, ast.arg):
            bind(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bind(node.name)
        elif isinstance(node, ast.FunctionDef) and node is not fdef:
            bind(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            excluded.update(node.names)
    return bindings, excluded


class _Uncopy(ast.NodeTransformer):
    """Replaces the walruses `(_o_aN := NAME)` given (by id) and the reads of `_o_aN` by NAME."""

    def __init__(self, copies: dict[int, tuple[str, str]]) -> None:
        self.copies = copies
        self.names = dict(copies.values())

    def visit_NamedExpr(self, node: ast.NamedExpr) -> ast.expr:
        copy = self.copies.get(id(node))
        if copy is not None:
            return ast.Name(id=copy[1], ctx=ast.Load())
        return self.generic_visit(node)  # type: ignore[return-value]

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if isinstance(node.ctx, ast.Load) and node.id in self.names:
            return ast.Name(id=self.names[node.id], ctx=ast.Load())
        return node


def _drop_needless_copies(
    fdef: ast.FunctionDef, copies: list[tuple[ast.NamedExpr, str, ast.expr]], tests: dict[int, ast.Compare] | None = None
) -> None:
    """Read NAME itself instead of its copy `(_o_aN := NAME)` where the other operand
    cannot rebind it: NAME is bound in this function (a local; a call can rebind a local
    only through `nonlocal`, and a global only through `global`: names declared either
    way anywhere in the function keep their copies) and the operand assigns no NAME
    itself. The copy held a second reference, which kept `s = s + t` from extending
    `s` in place. A copy made by an always-true test `(_o_oN := NAME) is _o_oN` (in
    `tests`, by the walrus's id) loses the test too."""
    bindings, excluded = _bindings(fdef)
    keep: dict[int, tuple[str, str]] = {}
    for walrus, name, other in copies:
        if name in excluded or not bindings.get(name):
            continue
        if any(isinstance(n, ast.NamedExpr) and n.target.id == name for n in ast.walk(other)):
            continue
        keep[id(walrus)] = (walrus.target.id, name)
    if keep:
        _Uncopy(keep).visit(fdef)
        true = {id(test) for key, test in (tests or {}).items() if key in keep}
        if true:
            _DropTrueTests(true).visit(fdef)


def _known_types(fdef: ast.FunctionDef) -> dict[str, str]:
    """Locals of `fdef` bound exactly once, by `NAME = <list, dict or set literal>` (or
    `NAME = set()`, see `_empty_set_call`) in the function's own body: NAME -> the
    literal's type. Every other way to bind a name
    counts as a binding wherever it is (nested functions and comprehensions included,
    which only forgets facts), and `global`/`nonlocal` anywhere rule a name out."""
    bindings, excluded = _bindings(fdef)
    known: dict[str, str] = {}
    todo: list[ast.AST] = list(fdef.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            continue
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            kind = _LITERAL_TYPES.get(type(node.value))
            if kind is None and _empty_set_call(node.value, bindings, excluded):
                kind = "_o_set"
            if kind is not None and bindings.get(name) == 1 and name not in excluded:
                known[name] = kind
        todo.extend(ast.iter_child_nodes(node))
    return known


def _empty_set_call(value: ast.expr, bindings: dict[str, int], excluded: set[str]) -> bool:
    """`set()` (how `(set)` compiles), with `set` bound nowhere in the function: an
    empty set unless the program has rebound the global `set`. The fact only drops the
    type test of `.add`, whose inline `set.add` refuses anything but a set (a wrong
    fact turns the sandbox's refusal into that method's TypeError, as for literals)."""
    return (
        isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "set"
        and not value.args and not value.keywords and not bindings.get("set") and "set" not in excluded
    )


def _snapshot_test(node: ast.expr) -> ast.NamedExpr | None:
    """The walrus of an always-true `(_o_xN := V) is _o_xN` (see `Compiler.snapshot`)."""
    if (
        isinstance(node, ast.Compare) and isinstance(node.left, ast.NamedExpr) and len(node.ops) == 1
        and isinstance(node.ops[0], ast.Is) and isinstance(node.comparators[0], ast.Name)
        and node.comparators[0].id == node.left.target.id and node.left.target.id.startswith("_o_")
    ):
        return node.left
    return None


def _growth_statements(body: list[ast.stmt], growth: set[int]) -> None:
    """Growth fast paths (`Compiler.growth_call`) whose value is discarded, as statements:
    `o(...) if (_o_xN := V) is _o_xN and TESTS else d(...)` becomes `_o_xN = V` and
    `if TESTS: o(...) else: d(...)`, the same evaluation without a walrus and a test
    (in the blocks of `body`, nested ones included)."""
    todo: list[list[ast.stmt]] = [body]
    while todo:
        stmts = todo.pop()
        i = 0
        while i < len(stmts):
            stmt = stmts[i]
            for name in ("body", "orelse", "finalbody"):
                block = getattr(stmt, name, None)
                if isinstance(block, list) and not isinstance(stmt, ast.FunctionDef):
                    todo.append(block)
            for handler in getattr(stmt, "handlers", []):
                todo.append(handler.body)
            value = stmt.value if isinstance(stmt, ast.Expr) else None
            if not (isinstance(value, ast.IfExp) and id(value) in growth):
                i += 1
                continue
            tests = value.test.values if isinstance(value.test, ast.BoolOp) and isinstance(value.test.op, ast.And) else [value.test]
            new: list[ast.stmt] = []
            while tests and (walrus := _snapshot_test(tests[0])) is not None:
                new.append(ast.Assign(targets=[ast.Name(id=walrus.target.id, ctx=ast.Store())], value=walrus.value))
                tests = tests[1:]
            test = tests[0] if len(tests) == 1 else ast.BoolOp(op=ast.And(), values=tests)
            new.append(ast.If(test=test, body=[ast.Expr(value=value.body)], orelse=[ast.Expr(value=value.orelse)]))
            for node in new:
                ast.copy_location(node, stmt)
            stmts[i:i + 1] = new
            i += len(new)


def _own_locals(fdef: ast.FunctionDef) -> set[str]:
    """Names local to `fdef` itself that no call can rebind: bound in its own scope (not
    only inside a nested function, lambda or comprehension) and declared `global` or
    `nonlocal` nowhere in it."""
    names = {a.arg for a in [*fdef.args.posonlyargs, *fdef.args.args, *fdef.args.kwonlyargs]}
    names.update(a.arg for a in (fdef.args.vararg, fdef.args.kwarg) if a is not None)
    excluded: set[str] = set()
    todo: list[ast.AST] = list(fdef.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Global | ast.Nonlocal):
            excluded.update(node.names)
        if isinstance(node, ast.FunctionDef | ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            if isinstance(node, ast.FunctionDef):
                names.add(node.name)
            # Only `global`/`nonlocal` matter inside: they exclude a name everywhere.
            excluded.update(n for sub in ast.walk(node) if isinstance(sub, ast.Global | ast.Nonlocal) for n in sub.names)
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        todo.extend(ast.iter_child_nodes(node))
    return names - excluded


def _stored(node: ast.AST) -> set[str]:
    """Every name `node` may bind or delete (nested scopes included: a walrus in a
    comprehension binds in the function)."""
    out: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Load):
            out.add(sub.id)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            out.add(sub.name)
        elif isinstance(sub, ast.FunctionDef):
            out.add(sub.name)
    return out


_SCOPES = (ast.FunctionDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class _ScalarTestReuse:
    """Reuse a scalar test's answer for the same variable (`Compiler.scalar_test`).

    `(setv (get counts w) (+ (.get counts w 0) 1))` tests whether `w` is a flat scalar
    before each hash. Where a test on a local NAME certainly ran before (earlier in the
    same straight-line code, where it is evaluated whatever happens) and NAME was not
    rebound since, a later test on NAME reads the first one's answer from a temporary:
    the first becomes `(_o_fN := <test>)`, the later ones `_o_fN`. A key that is not a
    flat scalar still goes through `_o_key` at each use, which charges its walk each
    time, as before. Only the functions' own locals qualify (a call can rebind no other
    name), and code is walked in Python's evaluation order; what it does not model
    (nested scopes, unknown nodes) only makes it forget."""

    def __init__(self, fdef: ast.FunctionDef, tests: dict[int, str], new_flag: Callable[[], str]) -> None:
        self.fdef = fdef
        self.tests = tests
        self.new_flag = new_flag
        self.locals = _own_locals(fdef)
        self.dry = False
        self.reused: set[str] = set()  # the first tests read again (their ids, as text)

    def run(self) -> None:
        """A dry run finds the tests whose answer is read again; only those get a
        temporary in the second, which rewrites the code."""
        if not any(name in self.locals for name in self.tests.values()):
            return
        self.dry = True  # rewrites nothing; `avail` holds the first tests' ids
        self.block(self.fdef.body, {})
        self.dry = False
        if self.reused:
            self.block(self.fdef.body, {})

    # -- statements: `avail` maps NAME to the temporary holding its test's answer
    def block(self, stmts: list[ast.stmt], avail: dict[str, str]) -> dict[str, str]:
        for stmt in stmts:
            avail = self.stmt(stmt, avail)
        return avail

    def forget(self, avail: dict[str, str], node: ast.AST) -> dict[str, str]:
        gone = _stored(node)
        return {n: f for n, f in avail.items() if n not in gone}

    def stmt(self, stmt: ast.stmt, avail: dict[str, str]) -> dict[str, str]:
        if isinstance(stmt, ast.Expr | ast.Return) and stmt.value is not None:
            stmt.value = self.expr(stmt.value, avail, True)
            return avail
        if isinstance(stmt, ast.Assign):
            stmt.value = self.expr(stmt.value, avail, True)
            for target in stmt.targets:
                if isinstance(target, ast.Subscript):
                    target.value = self.expr(target.value, avail, True)
                    target.slice = self.expr(target.slice, avail, True)
            return self.forget(avail, stmt)
        if isinstance(stmt, ast.If):
            stmt.test = self.expr(stmt.test, avail, True)
            self.block(stmt.body, dict(avail))
            self.block(stmt.orelse, dict(avail))
            return self.forget(avail, stmt)
        if isinstance(stmt, ast.For):
            stmt.iter = self.expr(stmt.iter, avail, True)
            avail = self.forget(avail, stmt)
            self.block(stmt.body, dict(avail))
            self.block(stmt.orelse, dict(avail))
            return avail
        if isinstance(stmt, ast.While):
            avail = self.forget(avail, stmt)
            stmt.test = self.expr(stmt.test, avail, False)
            self.block(stmt.body, dict(avail))
            self.block(stmt.orelse, dict(avail))
            return avail
        if isinstance(stmt, ast.Try):
            inner = self.forget(avail, stmt)
            self.block(stmt.body, dict(avail))
            for handler in stmt.handlers:
                self.block(handler.body, dict(inner))
            self.block(stmt.orelse, dict(inner))
            self.block(stmt.finalbody, dict(inner))
            return inner
        return self.forget(avail, stmt)

    # -- expressions, in evaluation order; `first`: evaluated whenever `node` is
    def expr(self, node: ast.expr, avail: dict[str, str], first: bool) -> ast.expr:
        name = self.tests.get(id(node))
        if name is not None and name in self.locals:
            flag = avail.get(name)
            if flag is not None:
                if self.dry:
                    self.reused.add(flag)
                    return node
                return ast.Name(id=flag, ctx=ast.Load())
            if first and self.dry:
                avail[name] = str(id(node))
            elif first and str(id(node)) in self.reused:
                flag = avail[name] = self.new_flag()
                return ast.NamedExpr(target=ast.Name(id=flag, ctx=ast.Store()), value=node)
            return node
        if isinstance(node, _SCOPES):
            for gone in _stored(node):
                avail.pop(gone, None)
            return node
        if isinstance(node, ast.Name | ast.Constant):
            return node
        if isinstance(node, ast.NamedExpr):
            node.value = self.expr(node.value, avail, first)
            avail.pop(node.target.id, None)
            return node
        if isinstance(node, ast.BoolOp):
            node.values = [self.expr(v, avail, first and i == 0) for i, v in enumerate(node.values)]
            return node
        if isinstance(node, ast.Compare):
            node.left = self.expr(node.left, avail, first)
            node.comparators = [self.expr(c, avail, first and i == 0) for i, c in enumerate(node.comparators)]
            return node
        if isinstance(node, ast.IfExp):
            node.test = self.expr(node.test, avail, first)
            node.body = self.expr(node.body, avail, False)
            node.orelse = self.expr(node.orelse, avail, False)
            return node
        if isinstance(node, ast.BinOp):
            node.left = self.expr(node.left, avail, first)
            node.right = self.expr(node.right, avail, first)
            return node
        if isinstance(node, ast.UnaryOp):
            node.operand = self.expr(node.operand, avail, first)
            return node
        if isinstance(node, ast.Call):
            node.func = self.expr(node.func, avail, first)
            node.args = [self.expr(a, avail, first) for a in node.args]
            for keyword in node.keywords:
                keyword.value = self.expr(keyword.value, avail, first)
            return node
        if isinstance(node, ast.Subscript):
            node.value = self.expr(node.value, avail, first)
            node.slice = self.expr(node.slice, avail, first)
            return node
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            node.elts = [self.expr(e, avail, first) for e in node.elts]
            return node
        if isinstance(node, ast.Starred):
            node.value = self.expr(node.value, avail, first)
            return node
        # Anything else: nothing learnt, nothing reused, and what it binds forgotten.
        for gone in _stored(node):
            avail.pop(gone, None)
        return node


class _DropTrueTests(ast.NodeTransformer):
    """Replaces the given tests by `True`, then drops those `True`s from the `and`s and
    the conditions they are in (and only those: a `True` of the program stays, so that
    no code of the program, e.g. a `yield` in a dead branch, disappears)."""

    def __init__(self, tests: set[int]) -> None:
        self.tests = tests
        self.made: set[int] = set()

    def _made(self, node: ast.expr) -> bool:
        return id(node) in self.made

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        if id(node) in self.tests:
            true = ast.Constant(value=True)
            self.made.add(id(true))
            return true
        return self.generic_visit(node)  # type: ignore[return-value]

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.expr:
        self.generic_visit(node)
        if not isinstance(node.op, ast.And) or not any(self._made(v) for v in node.values):
            return node
        values = [v for v in node.values if not self._made(v)]
        if not values:
            true = ast.Constant(value=True)
            self.made.add(id(true))
            return true
        if len(values) == 1:
            return values[0]
        node.values = values
        return node

    def visit_IfExp(self, node: ast.IfExp) -> ast.expr:
        self.generic_visit(node)
        return node.body if self._made(node.test) else node

    def visit_If(self, node: ast.If) -> Any:
        self.generic_visit(node)
        return node.body if self._made(node.test) else node


def _drop_known_type_tests(fdef: ast.FunctionDef, tests: list[tuple[ast.Compare, str, str]]) -> None:
    """Drop the tests `type(NAME) is T` of `fdef` that `_known_types` proves true.

    A dropped test only ever passed the value to the unbound method of its type or the
    inline store: the size checks around it stay, and a wrong fact could only turn the
    sandbox's refusal into that method's TypeError."""
    known = _known_types(fdef)
    if not known:
        return
    true = {id(test) for test, name, kind in tests if known.get(name) == kind}
    if true:
        _DropTrueTests(true).visit(fdef)


__all__ = ["CompiledUnit", "Compiler", "forbidden_name", "vet"]
