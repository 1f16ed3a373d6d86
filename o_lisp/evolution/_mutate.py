"""S-expression mutation operators: the offline half of candidate generation.

Self-evolution needs candidates it can find without a language model, so this
module rewrites a definition's *form* (never its text) with small, typed edits.
Every operator is a pure function ``(form, rng, context) -> form | None``:
``None`` means "not applicable to this form", never "failed randomly", so a
caller can try another operator. Operators live in the ordered table
`OPERATORS` under stable names, because the names are keys of the learning
statistics kept in agent state (see `_generators.GeneratorStats`): renaming one
would silently reset what the agent learned about it.

Guarantees, for every operator and every definition form (property-tested over
the shipped agents):

* the result has the same head, kind and name (`o_lisp.agent._dsl.classify`
  returns the same pair), so a candidate can only ever replace the definition
  it was made from;
* the result prints with `to_source` and reads back equal, so it can be
  committed as text and reloaded;
* the name symbol, a rule's ``:name`` option, option keywords, docstrings and
  ``:doc`` strings are never touched (`sites` never offers them).

Which subforms an operator may touch is decided once, by `sites`, from the
definition's kind: a site is *free* (a literal or an expression in code
position: any operator), *tunable* (a number whose surrounding syntax demands a
literal, like a parameter default or a ``defmemory`` option: only
`perturb-constant`), or a *head* (the operator of a call: only `swap-operator`).
Mutated forms carry no source positions; they only need to print.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from o_lisp._errors import LispError
from o_lisp._printer import to_source
from o_lisp._reader import read_many
from o_lisp.agent._definitions import DefinitionKind
from o_lisp.agent._dsl import classify
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

Path = tuple[int, ...]
"""Indices from a form down to one of its subforms; ``()`` is the form itself."""


# -- paths -------------------------------------------------------------------------------


def subforms(form: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every subform of `form` with its path, in pre-order (the form itself first)."""
    yield path, form
    if isinstance(form, Sequence):
        for i, child in enumerate(form):
            yield from subforms(child, (*path, i))


def get_at(form: Any, path: Path) -> Any:
    """The subform of `form` at `path` (IndexError/TypeError if there is none)."""
    for i in path:
        if not isinstance(form, Sequence):
            raise TypeError(f"path {path} goes through a {type(form).__name__}, not a sequence")
        form = form[i]
    return form


def replace_at(form: Any, path: Path, new: Any) -> Any:
    """A copy of `form` with the subform at `path` replaced by `new`.

    Forms are immutable, so every sequence on the way down is rebuilt (without
    its position: a mutated form has no place in any file yet); untouched
    siblings are shared.
    """
    if not path:
        return new
    if not isinstance(form, Sequence):
        raise TypeError(f"path {path} goes through a {type(form).__name__}, not a sequence")
    i = path[0]
    items = list(form)
    items[i] = replace_at(items[i], path[1:], new)
    return type(form)(items)


def splice_at(form: Any, path: Path, new_items: list[Any]) -> Any:
    """A copy of `form` whose subform at `path` is replaced by zero or more forms
    (so a statement can be deleted, or a ``(do ...)`` spliced into its body)."""
    if not path:
        raise ValueError("cannot splice at the root of a form")
    parent = get_at(form, path[:-1])
    i = path[-1]
    items = [*parent[:i], *new_items, *parent[i + 1 :]]
    return replace_at(form, path[:-1], type(parent)(items))


# -- the context and the validity check ---------------------------------------------------


@dataclass(frozen=True)
class MutationContext:
    """What an operator knows besides the form: the definition's identity (which it
    must keep) and donor forms for crossover (the agent's other definitions, and
    older versions of this one, newest first)."""

    kind: DefinitionKind
    name: str
    others: tuple[Any, ...] = ()
    ancestors: tuple[Any, ...] = ()

    @classmethod
    def for_form(
        cls, form: Any, others: tuple[Any, ...] = (), ancestors: tuple[Any, ...] = ()
    ) -> MutationContext:
        """The context of a definition form (its kind and name read with `classify`)."""
        kind, name = classify(form, "<mutate>", None)
        return cls(kind, name, others, ancestors)


def identity(form: Any) -> tuple[DefinitionKind, str] | None:
    """(kind, name) of a definition form, or None if it is not one.

    Unnamed rules are named by their index in the agent; here the index is
    always 0, which is fine because only the *same* form's identity is compared.
    """
    try:
        return classify(form, "<mutate>", None)
    except LispError:
        return None


def same_definition(parent: Any, child: Any) -> bool:
    """Whether `child` is a valid replacement for `parent`: same head, kind and name,
    and it prints to text that reads back to exactly `child`."""
    if identity(child) is None or identity(child) != identity(parent):
        return False
    if type(parent[0]) is not Symbol or parent[0] != child[0]:
        return False
    try:
        forms = read_many(to_source(child), "<mutant>")
    except (LispError, RecursionError):
        return False
    return len(forms) == 1 and forms[0] == child


# -- sites -------------------------------------------------------------------------------

FREE = "free"
TUNABLE = "tunable"
HEAD = "head"

# Heads of clauses that only make sense inside their parent form (`try`, `for`).
_CLAUSE_HEADS = frozenset({"except", "except*", "else", "finally"})
# Expressions that are syntax inside their parent rather than values: replacing
# `~x` by another expression, or another expression by `#* xs`, makes nonsense.
_NOT_VALUES = frozenset({"unquote", "unquote-splice", "unpack-iterable", "unpack-mapping"})
_BOOL_SYMBOLS = frozenset({"True", "False"})
_PURE_SYMBOLS = frozenset({"True", "False", "None"})
# Tool options whose value must stay what it is: docs are prose, not behaviour.
_FROZEN_OPTIONS = frozenset({"doc"})
# The only `defmemory` option that may change under stored blocks (see
# `memory_change_problem` in the agent runtime): the hybrid search weights.
_MEMORY_TUNABLE = frozenset({"weights"})


@dataclass(frozen=True, slots=True)
class Site:
    """One subform an operator may touch: where it is, what it is, and how it may change
    (`role` is "free", "tunable" or "head")."""

    path: Path
    form: Any
    role: str


def _is_number(form: Any) -> bool:
    if type(form) is Integer:
        return True
    return type(form) is Float and math.isfinite(float(form))


def _tunable(form: Any, path: Path, out: list[Site]) -> None:
    """Numbers anywhere under `form` (a parameter list, an option value), perturb-only."""
    for sub_path, sub in subforms(form, path):
        if _is_number(sub):
            out.append(Site(sub_path, sub, TUNABLE))


def _options(form: Any, start: int, out: list[Site], *, memory: bool) -> int:
    """Walk leading `:key value` pairs from `start`; returns the index after them.

    Of a `defmemory`, only the `:weights` numbers are offered: the dimension, block
    size and the rest shaped the stored blocks and cannot change in place."""
    i = start
    while i + 1 < len(form) and type(form[i]) is Keyword:
        key = form[i].name.replace("_", "-")
        if memory:
            if key in _MEMORY_TUNABLE:
                _tunable(form[i + 1], (i + 1,), out)
        elif key not in _FROZEN_OPTIONS:
            if isinstance(form[i + 1], Expression):
                _free(form[i + 1], (i + 1,), out)
            else:
                _tunable(form[i + 1], (i + 1,), out)
        i += 2
    return i


def _head_name(form: Any) -> str | None:
    if type(form) is Expression and form and type(form[0]) is Symbol:
        return str(form[0])
    return None


def _free(form: Any, path: Path, out: list[Site]) -> None:
    """Sites in code position under `form`."""
    if type(form) is Keyword:
        return
    if type(form) is Symbol:
        if str(form) in _BOOL_SYMBOLS:
            out.append(Site(path, form, FREE))
        return
    if isinstance(form, Integer | Float | String):
        if not isinstance(form, Float) or math.isfinite(float(form)):
            out.append(Site(path, form, FREE))
        return
    if type(form) is Expression:
        if not form:
            return
        head = _head_name(form)
        if head in _CLAUSE_HEADS:
            first = 2 if head in ("except", "except*") else 1
            for i in range(first, len(form)):
                _free(form[i], (*path, i), out)
            return
        if head not in _NOT_VALUES:
            out.append(Site(path, form, FREE))
        if type(form[0]) is Symbol or _method_name(form[0]) is not None:
            out.append(Site((*path, 0), form[0], HEAD))
        elif _head_name(form[0]) != ".":
            # A computed callee such as `((fn [x] ...) 1)`; `hy.repr` (`(. hy repr)`) is a name.
            _free(form[0], (*path, 0), out)
        if head in ("fn", "defn", "defmacro"):
            # Parameters are a binding list: only their default values may move.
            params = 1 if head == "fn" else 2
            if len(form) > params:
                _tunable(form[params], (*path, params), out)
            for i in range(params + 1, len(form)):
                _free(form[i], (*path, i), out)
            return
        for i in range(1, len(form)):
            child = form[i]
            if head == "setv" and i % 2 == 1:
                # An assignment target: `(get d k)` stays a place, only its parts change.
                if isinstance(child, Sequence):
                    for j in range(1, len(child)):
                        _free(child[j], (*path, i, j), out)
                continue
            _free(child, (*path, i), out)
        return
    if isinstance(form, List | Tuple | Set | Dict):
        for i, child in enumerate(form):
            _free(child, (*path, i), out)


def body_start(form: Any, kind: DefinitionKind) -> int | None:
    """Index of the first statement of a definition's body (None: it has no body)."""
    if kind is DefinitionKind.RULE:
        cond = 3 if len(form) >= 3 and type(form[1]) is Keyword and form[1].name == "name" else 1
        return cond + 1
    if kind in (DefinitionKind.FUNCTION, DefinitionKind.MACRO):
        return 4 if len(form) > 4 and type(form[3]) is String else 3
    if kind in (DefinitionKind.TOOL, DefinitionKind.FITNESS):  # after the `:key value` options
        i = 3 if kind is DefinitionKind.TOOL else 2
        while i + 1 < len(form) and type(form[i]) is Keyword:
            i += 2
        return i
    if kind is DefinitionKind.TEST:
        return 2
    return None


def sites(form: Any, kind: DefinitionKind) -> list[Site]:
    """Every subform of a definition form that some operator may change, in pre-order.

    Never offered: the root, its head, its name, a rule's `:name` option, option
    keywords, docstrings, `:doc`/`:dim`/`:embedder` values, workflow step names.
    """
    out: list[Site] = []
    if kind is DefinitionKind.LLM:  # a model declaration is where traffic (and data) goes: not mutated
        return out
    if kind is DefinitionKind.MEMORY:
        _options(form, 2, out, memory=True)
        return out
    if kind is DefinitionKind.WORKFLOW:
        for i in range(2, len(form)):
            step = form[i]
            if _head_name(step) == "step" and len(step) >= 2:
                j = 2
                while j + 1 < len(step) and type(step[j]) is Keyword:
                    if step[j].name == "when":
                        _free(step[j + 1], (i, j + 1), out)
                    else:
                        _tunable(step[j + 1], (i, j + 1), out)
                    j += 2
                for k in range(j, len(step)):
                    _free(step[k], (i, k), out)
            else:
                _free(step, (i,), out)
        return out
    if kind is DefinitionKind.VALUE:
        for i in range(2, len(form)):
            _free(form[i], (i,), out)
        return out
    start = body_start(form, kind)
    assert start is not None
    if kind in (DefinitionKind.FUNCTION, DefinitionKind.MACRO, DefinitionKind.TOOL):
        if len(form) > 2:
            _tunable(form[2], (2,), out)
    if kind is DefinitionKind.TOOL:
        _options(form, 3, out, memory=False)
    first = start - 1 if kind is DefinitionKind.RULE else start
    for i in range(first, len(form)):
        _free(form[i], (i,), out)
    return out


def _category(form: Any) -> str | None:
    """What a free site may be replaced by: a form of the same category."""
    if type(form) is Symbol:
        return "bool" if str(form) in _BOOL_SYMBOLS else None
    if type(form) in (Integer, Float):
        return "number"
    if type(form) is String:
        return "string"
    if type(form) is Expression:
        return "expression"
    return None


def _finish(form: Any, context: MutationContext, result: Any) -> Any:
    """`result` if it is a valid, different replacement for `form`, else None."""
    if result is None or result == form:
        return None
    return result if same_definition(form, result) else None


# -- perturb-constant ----------------------------------------------------------------------


def _perturb_number(value: int | float, rng: random.Random) -> int | float:
    """A nearby number: ints move by ±1 (mostly) or ±a tenth of their size; floats are
    scaled by U(0.5, 1.5) or moved by a step of a tenth of their size. A non-negative
    number stays non-negative and a float in [0, 1] (a weight, a probability, a
    threshold) stays in [0, 1]."""
    if isinstance(value, int):
        step = rng.choice((1, 1, 1, 2, max(1, abs(value) // 10)))
        new_int = value + rng.choice((-1, 1)) * step
        if value >= 0 > new_int:
            new_int = value + step
        return new_int
    if rng.random() < 0.5:
        new = value * rng.uniform(0.5, 1.5)
    else:
        new = value + rng.choice((-1, 1)) * max(abs(value), 0.1) * 0.1
    if value >= 0:
        new = abs(new)
    if 0.0 <= value <= 1.0:
        new = min(new, 1.0)
    return float(f"{new:.4g}")


def perturb_constant(form: Any, rng: random.Random, context: MutationContext) -> Any:
    """Move one number a little (see `_perturb_number`). Of a `defmemory`, only its
    `:weights` numbers move (and stay in [0, 1] when they were)."""
    numbers = [s for s in sites(form, context.kind) if s.role != HEAD and _is_number(s.form)]
    if not numbers:
        return None
    site = rng.choice(numbers)
    old = site.form
    for _ in range(8):
        if type(old) is Integer:
            new: Any = Integer(int(_perturb_number(int(old), rng)))
        else:
            new = Float(_perturb_number(float(old), rng))
        if new != old:
            return _finish(form, context, replace_at(form, site.path, new))
    return None


# -- swap-operator ---------------------------------------------------------------------------

OPERATOR_GROUPS: tuple[tuple[str, ...], ...] = (
    # Additive arithmetic. Skipped when an argument is a string literal (that `+` is a
    # concatenation; `-` would only raise).
    ("+", "-"),
    # The two divisions: swapping them changes rounding, never adds a ZeroDivisionError.
    # `*` is not grouped with `/` for that reason.
    ("/", "//"),
    # Order comparisons (chained comparisons keep their meaning shape).
    ("<", "<=", ">", ">="),
    # Equality, identity and membership, each with its negation (`!=`, `is-not`,
    # `not-in` need two arguments, so one-argument calls are never swapped).
    ("=", "!="),
    ("is", "is-not"),
    ("in", "not-in"),
    # Short-circuit boolean operators.
    ("and", "or"),
    # Conditionals with the opposite polarity: (when c ...) ↔ (unless c ...).
    ("when", "unless"),
    # Aggregates over the same iterable.
    ("min", "max"),
    ("any", "all"),
    ("first", "last"),
    ("take", "drop"),
    ("inc", "dec"),
    ("floor", "ceil"),
    # String methods with a mirrored meaning (method heads read as `(. None name)`).
    # `sorted`/`reversed` are not grouped: one returns a list, the other an iterator.
    (".startswith", ".endswith"),
    (".strip", ".lstrip", ".rstrip"),
    (".lower", ".casefold"),
    (".find", ".rfind"),
    (".index", ".rindex"),
    (".split", ".rsplit"),
    (".partition", ".rpartition"),
    (".removeprefix", ".removesuffix"),
)
_GROUP_OF = {name: group for group in OPERATOR_GROUPS for name in group}
_NEEDS_TWO = frozenset({"!=", "is", "is-not", "in", "not-in"})


def _method_name(head: Any) -> str | None:
    """`.name` for a method-call head `(. None name)`, else None."""
    if (
        type(head) is Expression
        and len(head) == 3
        and head[0] == Symbol(".")
        and head[1] == Symbol("None")
        and type(head[2]) is Symbol
    ):
        return "." + str(head[2])
    return None


def _head_symbol(name: str) -> Any:
    if name.startswith(".") and len(name) > 1:
        return Expression([Symbol("."), Symbol("None"), Symbol(name[1:])])
    return Symbol(name)


def swap_operator(form: Any, rng: random.Random, context: MutationContext) -> Any:
    """Replace the operator of one call by another of its group (`OPERATOR_GROUPS`)."""
    choices: list[tuple[Path, str]] = []
    for site in sites(form, context.kind):
        if site.role != HEAD:
            continue
        name = _method_name(site.form) or str(site.form)
        group = _GROUP_OF.get(name)
        if group is None:
            continue
        call = get_at(form, site.path[:-1])
        if name in ("+", "-") and any(type(arg) is String for arg in call[1:]):
            continue
        for other in group:
            if other == name or (other in _NEEDS_TWO and len(call) < 3):
                continue
            choices.append((site.path, other))
    if not choices:
        return None
    path, other = rng.choice(choices)
    return _finish(form, context, replace_at(form, path, _head_symbol(other)))


# -- replace-subtree and crossover -----------------------------------------------------------


def _contains(outer: Path, inner: Path) -> bool:
    return inner[: len(outer)] == outer


def replace_subtree(form: Any, rng: random.Random, context: MutationContext) -> Any:
    """Replace a free literal or expression by another of the same category (number,
    string, boolean, expression) taken from elsewhere in the same definition."""
    free = [s for s in sites(form, context.kind) if s.role == FREE and _category(s.form)]
    pairs = [
        (target, donor)
        for target in free
        for donor in free
        if _category(donor.form) == _category(target.form)
        and donor.form != target.form
        and not _contains(target.path, donor.path)
        and not _contains(donor.path, target.path)
    ]
    if not pairs:
        return None
    target, donor = rng.choice(pairs)
    return _finish(form, context, replace_at(form, target.path, donor.form))


def _donor_sites(donor: Any) -> list[Site]:
    found = identity(donor)
    if found is None:
        return []
    return [s for s in sites(donor, found[0]) if s.role == FREE and _category(s.form)]


def crossover(form: Any, rng: random.Random, context: MutationContext) -> Any:
    """Replace a free subtree by one of the same category from another definition of the
    agent or from an ancestor version of this one. With ancestors, half the time the
    crossover is *homologous*: the subtree at the same path in an ancestor, i.e. a
    partial revert, which is how a regression in one part gets undone."""
    targets = [s for s in sites(form, context.kind) if s.role == FREE and _category(s.form)]
    if not targets:
        return None
    if context.ancestors and rng.random() < 0.5:
        mine = {s.path: s.form for s in targets}
        homologous = [
            site
            for ancestor in context.ancestors
            for site in _donor_sites(ancestor)
            if site.path in mine
            and _category(mine[site.path]) == _category(site.form)
            and mine[site.path] != site.form
        ]
        if homologous:
            site = rng.choice(homologous)
            return _finish(form, context, replace_at(form, site.path, site.form))
    donors = [s for d in (*context.others, *context.ancestors) for s in _donor_sites(d)]
    pairs = [
        (target, donor)
        for target in targets
        for donor in donors
        if _category(donor.form) == _category(target.form) and donor.form != target.form
    ]
    if not pairs:
        return None
    target, donor = rng.choice(pairs)
    return _finish(form, context, replace_at(form, target.path, donor.form))


# -- simplify ----------------------------------------------------------------------------------

# Forms whose arguments from the index given are a body: statements run in order, the
# value of the last one is the result (for loops: no statement's value is used).
_BODY_FROM = {"do": 1, "when": 2, "unless": 2, "let": 2, "fn": 2}
_LOOP_BODY_FROM = {"for": 2, "while": 2}


def _is_pure(form: Any) -> bool:
    """A statement without effects: a literal, a name, or a quoted form."""
    if type(form) is Symbol:
        return True
    if isinstance(form, Integer | Float | Complex | String | Bytes):
        return True
    return type(form) is Expression and len(form) == 2 and form[0] == Symbol("quote")


def _body_range(form: Any, path: Path, kind: DefinitionKind) -> tuple[int, bool] | None:
    """(index of the first body statement, whether the last statement's value is used)
    for the expression at `path`; None if it has no body."""
    if not path:
        start = body_start(form, kind)
        return None if start is None else (start, True)
    head = _head_name(form)
    if head in _BODY_FROM:
        return (_BODY_FROM[head], True)
    if head in _LOOP_BODY_FROM:
        return (_LOOP_BODY_FROM[head], False)
    return None


def _is_literal_true(form: Any) -> bool | None:
    """True/False for a literal condition whose truth is known, else None."""
    if type(form) is Symbol and str(form) in _PURE_SYMBOLS:
        return str(form) == "True"
    if type(form) is Integer or type(form) is Float:
        return bool(float(form))
    if type(form) is String:
        return bool(str(form))
    return None


def _rewrites(expr: Any) -> list[Any]:
    """Simpler equivalents of one expression (the local rules of `simplify`)."""
    out: list[Any] = []
    head = _head_name(expr)
    n = len(expr)
    if head == "do" and n == 2:
        out.append(expr[1])  # (do x) → x
    if head == "do" and n == 1:
        out.append(Symbol("None"))  # (do) → None
    if head == "if" and n in (3, 4):
        truth = _is_literal_true(expr[1])
        if truth is not None:  # (if True a b) → a, (if False a b) → b
            out.append(expr[2] if truth else (expr[3] if n == 4 else Symbol("None")))
        elif n == 4 and expr[2] == expr[3] and _is_pure(expr[1]):
            out.append(expr[2])  # (if c a a) → a, when c has no effect
    if head in ("when", "unless") and n >= 3:
        truth = _is_literal_true(expr[1])
        if truth is not None:  # (when True body...) → (do body...), (when False ...) → None
            runs = truth if head == "when" else not truth
            out.append(Expression([Symbol("do"), *expr[2:]]) if runs else Symbol("None"))
    if head in ("and", "or") and n == 2:
        out.append(expr[1])  # (and x) → x
    if head in ("+", "-") and n == 3 and expr[2] == Integer(0):
        out.append(expr[1])  # (+ x 0) → x, (- x 0) → x
    if head == "+" and n == 3 and expr[1] == Integer(0):
        out.append(expr[2])  # (+ 0 x) → x
    if head == "*" and n == 3 and Integer(1) in (expr[1], expr[2]):
        out.append(expr[2] if expr[1] == Integer(1) else expr[1])  # (* x 1) → x
    if head == "str" and n == 2 and type(expr[1]) is String:
        out.append(expr[1])  # (str "s") → "s"
    if head == "not" and n == 2 and _head_name(expr[1]) == "not" and len(expr[1]) == 2:
        out.append(Expression([Symbol("bool"), expr[1][1]]))  # (not (not x)) → (bool x)
    return out


def simplifications(form: Any, context: MutationContext) -> list[Any]:
    """Every one-step simplification of a definition form (each a whole new form).

    Local rewrites (`(do x)` → `x`, `(if True a b)` → `a`, `(+ x 0)` → `x`,
    `(str "s")` → `"s"`, ...) apply at free expression sites. In bodies (the
    definition's own, `do`, `when`, `let`, `fn`, loops), a pure statement whose value
    is unused is deleted and a nested `(do ...)` statement is spliced in place.
    """
    out: list[Any] = []
    kind = context.kind
    free = [s for s in sites(form, kind) if s.role == FREE and type(s.form) is Expression]
    for site in free:
        for new in _rewrites(site.form):
            out.append(replace_at(form, site.path, new))
    for path in [(), *(s.path for s in free)]:
        expr = get_at(form, path)
        span = _body_range(expr, path, kind)
        if span is None:
            continue
        first, value_used = span
        for i in range(first, len(expr)):
            statement = expr[i]
            used = value_used and i == len(expr) - 1
            if not used and _is_pure(statement) and len(expr) - first > 1:
                out.append(splice_at(form, (*path, i), []))
            if _head_name(statement) == "do" and len(statement) > 1:
                out.append(splice_at(form, (*path, i), list(statement[1:])))
    return out


def simplify(form: Any, rng: random.Random, context: MutationContext) -> Any:
    """Apply one simplification chosen at random among `simplifications`."""
    options = [f for f in simplifications(form, context) if _finish(form, context, f) is not None]
    if not options:
        return None
    return rng.choice(options)


# -- the table -----------------------------------------------------------------------------------

Operator = Callable[[Any, random.Random, MutationContext], Any]

OPERATORS: Mapping[str, Operator] = MappingProxyType(
    {
        "perturb-constant": perturb_constant,
        "swap-operator": swap_operator,
        "replace-subtree": replace_subtree,
        "crossover": crossover,
        "simplify": simplify,
    }
)
"""The mutation operators by stable name, in a fixed order (the order is part of
determinism: the same seed picks the same operators)."""
