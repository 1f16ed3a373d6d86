"""Reading agent source: `defagent` and the declarations in its body.

An agent file holds one `(defagent NAME :version "x.y.z" :doc "..." body...)`.
Each body form is one *definition* (a function, tool, rule, workflow, memory,
test, ...), stored and rewritten on its own. This module splits the file into
definitions (keeping each one's exact source text), and parses the option lists
of the declaration forms (`deftool` parameters and options, `defworkflow` steps,
`defmemory` options) with errors that name file, line and column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from o_lisp._errors import CompileError, Position
from o_lisp._mangle import mangle
from o_lisp._reader import read_many
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.agent._state import plain
from o_lisp.agent._version import SEMVER
from o_lisp.forms import Dict, Expression, Float, Integer, Keyword, List, Set, String, Symbol, Tuple

AGENT_OPTIONS = {"version": str, "doc": str, "author": str}

_KINDS = {kind.value: kind for kind in DefinitionKind}

TOOL_OPTIONS = {"doc": str, "timeout": (int, float), "unsafe": bool, "cache": bool}
STEP_OPTIONS = {"retries": int, "timeout": (int, float), "when": object}
TYPE_SCHEMAS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "list": {"type": "array"},
    "dict": {"type": "object"},
    "any": {},
}
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}


@dataclass
class AgentSpec:
    """A parsed agent file: its name, options and definitions in order."""

    name: str
    version: str
    doc: str
    header_source: str
    definitions: list[Definition] = field(default_factory=list)
    filename: str = "<agent>"
    # The seed's forms by definition name, with their positions in the seed file, and
    # the seed's text: a definition whose code is still the seed's is compiled from its
    # seed form, so its errors name the user's file, line and column, with the line.
    forms: dict[str, Any] = field(default_factory=dict)
    source: str | None = None


def _error(form: Any, filename: str, source: str | None, message: str) -> CompileError:
    pos = getattr(form, "_pos", None) or (1, 1, 1, 1)
    return CompileError(message, Position(filename, pos[0], pos[1], pos[2], pos[3]), source)


def _slice(source: str, form: Any) -> str:
    """The exact text of `form` in `source` (comments and layout included)."""
    pos = form._pos
    lines = source.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: pos[0] - 1]) + pos[1] - 1
    end = sum(len(line) for line in lines[: pos[2] - 1]) + pos[3]
    return source[start:end]


def parse_options(items: list[Any], allowed: dict[str, Any], what: str, filename: str, source: str | None) -> tuple[dict[str, Any], list[Any]]:
    """Leading `:key value` pairs of `items` → (options, the rest)."""
    options: dict[str, Any] = {}
    i = 0
    while i < len(items) and type(items[i]) is Keyword:
        key = items[i].name
        if key not in allowed:
            known = ", ".join(f":{k}" for k in allowed)
            raise _error(items[i], filename, source, f"unknown option :{key} for {what} (known: {known})")
        if i + 1 >= len(items):
            raise _error(items[i], filename, source, f"option :{key} of {what} needs a value")
        value = items[i + 1]
        expected = allowed[key]
        if expected is not object:
            plain_value = literal(value)
            if isinstance(plain_value, bool) and expected in (int, (int, float)):
                plain_value = _NOT_LITERAL
            if plain_value is _NOT_LITERAL or not isinstance(plain_value, expected):
                raise _error(value, filename, source, f"option :{key} of {what} must be a {_type_name(expected)}")
            value = plain_value
        options[key] = value
        i += 2
    return options, items[i:]


_NOT_LITERAL = object()
_NAMED_CONSTANTS = {"None": None, "True": True, "False": False}


def literal(form: Any, *, keywords: bool = False) -> Any:
    """The plain value of a literal form (number, string, True/False/None, and
    keywords as their names when `keywords`), or `_NOT_LITERAL`."""
    if type(form) is Symbol and str(form) in _NAMED_CONSTANTS:
        return _NAMED_CONSTANTS[str(form)]
    if keywords and type(form) is Keyword:
        return form.name
    if isinstance(form, String):
        return str(form)
    if isinstance(form, float):
        return float(form)
    if isinstance(form, int):
        return int(form)
    return _NOT_LITERAL


def literal_or_error(form: Any, filename: str, source: str | None, what: str, *, keywords: bool = False) -> Any:
    value = literal(form, keywords=keywords)
    if value is _NOT_LITERAL:
        raise _error(form, filename, source, f"{what} must be a literal (number, string, True, False, None)")
    return value


def literal_data(form: Any, filename: str, source: str | None, what: str) -> Any:
    """Like `literal_or_error` (keywords as their names), and also `{key value ...}` and
    `[item ...]` of literals: `defmemory` takes `:weights {"vector" 0.6 "keyword" 0.3}`,
    an option that evolution rewrites, so it must stay plain data (never code to run)."""
    if type(form) is Dict:
        if len(form) % 2:
            raise _error(form, filename, source, f"{what}: a dict needs a value for every key")
        out: dict[str, Any] = {}
        for key, value in form.items():
            plain_key = literal(key, keywords=True)
            if not isinstance(plain_key, str):
                raise _error(key, filename, source, f"{what}: dict keys must be strings")
            out[plain_key] = literal_data(value, filename, source, what)
        return out
    if type(form) is List:
        return [literal_data(item, filename, source, what) for item in form]
    return literal_or_error(form, filename, source, what, keywords=True)


def _type_name(expected: Any) -> str:
    if isinstance(expected, tuple):
        return " or ".join(t.__name__ for t in expected)
    return str(expected.__name__)


def read_agent(text: str, filename: str) -> AgentSpec:
    """Parse an agent file into its definitions; every mistake names file:line:col."""
    forms = read_many(text, filename, skip_shebang=True)
    agents = [f for f in forms if type(f) is Expression and f and f[0] == Symbol("defagent")]
    if len(agents) != 1 or len(forms) != 1:
        where = forms[0] if forms else None
        raise _error(where, filename, text, "an agent file must hold exactly one (defagent NAME ...) form")
    form = agents[0]
    if len(form) < 2 or type(form[1]) is not Symbol:
        raise _error(form, filename, text, "defagent needs a name: (defagent NAME :version \"0.1.0\" ...)")
    name = str(form[1])
    options, body = parse_options(list(form[2:]), AGENT_OPTIONS, "defagent", filename, text)
    version = options.get("version", "0.1.0")
    if not SEMVER.match(version):
        raise _error(form, filename, text, f"version {version!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    header = f"(defagent {name}\n  :version \"{version}\""
    if "doc" in options:
        header += "\n  :doc " + _quote(options["doc"])
    if "author" in options:
        header += "\n  :author " + _quote(options["author"])
    spec = AgentSpec(name=name, version=version, doc=options.get("doc", ""), header_source=header + ")\n",
                     filename=filename, source=text)
    seen: dict[str, Any] = {}
    rules = 0
    for item in body:
        kind, def_name = classify(item, filename, text, rules)
        if kind is DefinitionKind.RULE:
            rules += 1
        if def_name in seen:
            raise _error(item, filename, text, f"{def_name!r} is defined twice in agent {name}")
        seen[def_name] = item
        spec.definitions.append(Definition(def_name, kind, _slice(text, item)))
        spec.forms[def_name] = item
    return spec


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def classify(form: Any, filename: str, source: str | None, rule_index: int = 0) -> tuple[DefinitionKind, str]:
    """The kind and name of one definition form."""
    if type(form) is not Expression or not form or type(form[0]) is not Symbol or str(form[0]) not in _KINDS:
        kinds = ", ".join(sorted(_KINDS))
        raise _error(form, filename, source, f"a defagent body holds definitions ({kinds}), not this form")
    kind = _KINDS[str(form[0])]
    if kind is DefinitionKind.RULE:
        name, _condition, _actions = rule_parts(form, list(form[1:]), filename, source)
        return kind, f"rule-{rule_index + 1}" if name is None else name
    if len(form) < 2 or type(form[1]) is not Symbol:
        raise _error(form, filename, source, f"({form[0]}) needs a name")
    return kind, str(form[1])


RULE_SYNTAX = "(when-> :name NAME condition action...), where :name NAME is optional"


def rule_parts(form: Any, items: list[Any], filename: str, source: str | None) -> tuple[str | None, Any, list[Any]]:
    """A rule's name (None when it has none), condition and actions, from the arguments
    `items` of `(when-> ...)` (`form`, for the position of an error about the whole rule).

    `:name NAME` is the only option. Mistakes that would otherwise silently become the
    condition (a bracketed `[:name n]`, a misspelt option, a literal list) are refused.
    """
    name: str | None = None
    if items and type(items[0]) is List and items[0] and type(items[0][0]) is Keyword and items[0][0].name == "name":
        shown = " ".join(str(x) for x in items[0])
        raise _error(items[0], filename, source,
                     f"write the rule's name without brackets: (when-> {shown} condition action...); "
                     "the brackets in the docs mean the name is optional")
    if items and type(items[0]) is Keyword:
        if items[0].name != "name":
            raise _error(items[0], filename, source, f"unknown option :{items[0].name} for when-> (known: :name); "
                         f"a rule is written {RULE_SYNTAX}")
        if len(items) < 2 or type(items[1]) is not Symbol:
            raise _error(items[1] if len(items) > 1 else items[0], filename, source, "a rule's :name must be a symbol")
        name = str(items[1])
        items = items[2:]
    if not items:
        message = f"(when->) needs a condition: {RULE_SYNTAX}"
        # Without the whole form (at macro time) the compiler places the error at the call.
        raise CompileError(message) if form is None else _error(form, filename, source, message)
    condition = items[0]
    if type(condition) in (List, Dict, Tuple, Set):
        raise _error(condition, filename, source,
                     f"a rule's condition cannot be a literal {type(condition).__name__.lower()} (it would always "
                     f"be true): {RULE_SYNTAX}")
    return name, condition, list(items[1:])


# -- search vocabulary of a fitness task -------------------------------------------------

BUILTIN_PRIMITIVES: dict[str, int] = {
    "+": 2, "-": 2, "*": 2, "/": 2, "max": 2, "min": 2,
    "sin": 1, "cos": 1, "exp": 1, "log": 1, "sqrt": 1, "abs": 1,
}
"""Built-ins a `:primitives` list may name without an arity, with the arity used (write
`[- 1]` for negation); any other name must be a `defn` of the agent (its arity is its
parameter count)."""

FITNESS_OPTIONS = ("for", "primitives", "terminals")


@dataclass(frozen=True)
class Primitive:
    """One function of a search vocabulary: its name, arity and where it was written."""

    name: str
    arity: int
    explicit: bool
    at: Position


@dataclass(frozen=True)
class Terminal:
    """A leaf of a search vocabulary: a parameter of the target (`name`), a constant
    (`values` of one), or an ephemeral constant (`values`: one is drawn each time the
    terminal is used, like DEAP's ephemeral constants)."""

    name: str | None
    values: tuple[float, ...]
    at: Position


@dataclass(frozen=True)
class SearchSpace:
    """`(deffitness NAME :for DEF :primitives [...] :terminals [...] BODY)`: candidates for
    the `defn` DEF are grown from these primitives and terminals (genetic programming), and
    the task's BODY, which calls DEF, scores them (higher is better)."""

    fitness: str
    target: str
    primitives: tuple[Primitive, ...]
    terminals: tuple[Terminal, ...]
    at: Position


def _at(form: Any, filename: str) -> Position:
    pos = getattr(form, "_pos", None) or (1, 1, 1, 1)
    return Position(filename, pos[0], pos[1], pos[2], pos[3])


def parse_fitness(items: list[Any], filename: str, source: str | None) -> tuple[str, SearchSpace | None, list[Any]]:
    """`(deffitness NAME [:for DEF :primitives [...] :terminals [...]] BODY...)` → (name, its
    search space or None, body). The three options go together; every mistake names its
    file:line:col. Whether DEF is a `defn` and the names resolve is checked once the agent's
    definitions are loaded (`check_search_space`)."""
    if not items or type(items[0]) is not Symbol:
        raise _error(items[0] if items else None, filename, source, "(deffitness) needs a name")
    name = str(items[0])
    rest = list(items[1:])
    given: dict[str, Any] = {}
    keys: dict[str, Any] = {}
    while rest and type(rest[0]) is Keyword:
        key = rest[0]
        if key.name not in FITNESS_OPTIONS:
            raise _error(key, filename, source, f"unknown option :{key.name} for deffitness {name} "
                         "(known: :for, :primitives, :terminals)")
        if key.name in given:
            raise _error(key, filename, source, f"option :{key.name} of deffitness {name} is given twice")
        if len(rest) < 2:
            raise _error(key, filename, source, f"option :{key.name} of deffitness {name} needs a value")
        given[key.name], keys[key.name] = rest[1], key
        rest = rest[2:]
    if not given:
        return name, None, rest
    missing = [k for k in FITNESS_OPTIONS if k not in given]
    if missing:
        first = keys[next(k for k in FITNESS_OPTIONS if k in given)]
        raise _error(first, filename, source, f"deffitness {name}: a search vocabulary needs "
                     f"{' '.join(':' + k for k in FITNESS_OPTIONS)} together (missing {', '.join(':' + k for k in missing)})")
    target = given["for"]
    if type(target) is not Symbol:
        raise _error(target, filename, source, f"deffitness {name}: :for names the defn to grow, a symbol")
    if not rest:
        raise _error(keys["for"], filename, source, f"deffitness {name}: a body that scores {target} is needed")
    space = SearchSpace(name, str(target), _primitives(given["primitives"], name, filename, source),
                        _terminals(given["terminals"], name, filename, source), _at(target, filename))
    return name, space, rest


def _primitives(form: Any, fitness: str, filename: str, source: str | None) -> tuple[Primitive, ...]:
    what = f"deffitness {fitness}: :primitives"
    if type(form) is not List or not form:
        raise _error(form, filename, source, f"{what} is a non-empty bracketed list: [+ - * sin ...]")
    out: list[Primitive] = []
    for item in form:
        arity: int | None = None
        sym = item
        if type(item) is List:
            if len(item) != 2 or type(item[0]) is not Symbol or type(item[1]) is not Integer or not 1 <= int(item[1]) <= 4:
                raise _error(item, filename, source, f"{what}: write a primitive with its arity as [name n], n from 1 to 4")
            sym, arity = item[0], int(item[1])
        if type(sym) is not Symbol:
            raise _error(item, filename, source, f"{what}: a primitive is a function name (or [name arity]), not {literal_kind(item)}")
        if any(p.name == str(sym) and (arity is None or p.arity == arity) for p in out):
            raise _error(item, filename, source, f"{what}: {sym} is listed twice")
        if arity is None and str(sym) in BUILTIN_PRIMITIVES:
            arity = BUILTIN_PRIMITIVES[str(sym)]
        out.append(Primitive(str(sym), -1 if arity is None else arity, type(item) is List, _at(item, filename)))
    return tuple(out)


def _terminals(form: Any, fitness: str, filename: str, source: str | None) -> tuple[Terminal, ...]:
    what = f"deffitness {fitness}: :terminals"
    if type(form) is not List or not form:
        raise _error(form, filename, source, f"{what} is a non-empty bracketed list: [x 1.0 [-1.0 0.0 1.0]]")
    out: list[Terminal] = []
    for item in form:
        if type(item) is Symbol and str(item) not in _NAMED_CONSTANTS:
            out.append(Terminal(str(item), (), _at(item, filename)))
        elif type(item) is Float:
            out.append(Terminal(None, (float(item),), _at(item, filename)))
        elif type(item) is List and item and all(type(v) is Float for v in item):
            out.append(Terminal(None, tuple(float(v) for v in item), _at(item, filename)))
        else:
            raise _error(item, filename, source, f"{what}: a terminal is a parameter of the defn, a float constant "
                         "(1.0, not 1: candidates compute over floats) or a bracketed list of floats "
                         f"(an ephemeral constant), not {literal_kind(item)}")
    return tuple(out)


def check_search_space(space: SearchSpace, functions: dict[str, Any], source: str | None) -> SearchSpace:
    """`space` with every primitive's arity resolved, once the agent is loaded: DEF must be
    a `defn` with plain parameters, each symbol terminal one of them, and each primitive
    that is not a built-in of `BUILTIN_PRIMITIVES` a `defn` of the agent (`functions`: name
    → its defining form). A mistake raises `CompileError` at the name in the deffitness."""
    params = _plain_params(functions.get(space.target))
    if params is None:
        raise CompileError(f"deffitness {space.fitness}: :for {space.target} must name a defn of this agent "
                           "with plain parameters, (defn NAME [x ...] body)", space.at, source)
    if len(set(params)) != len(params) or not params:
        raise CompileError(f"deffitness {space.fitness}: {space.target} needs at least one parameter", space.at, source)
    for terminal in space.terminals:
        if terminal.name is not None and terminal.name not in params:
            raise CompileError(f"deffitness {space.fitness}: terminal {terminal.name} is not a parameter of "
                               f"{space.target} ({' '.join(params)})", terminal.at, source)
    resolved: list[Primitive] = []
    for primitive in space.primitives:
        if primitive.name == space.target:
            raise CompileError(f"deffitness {space.fitness}: {space.target} cannot be a primitive of itself",
                               primitive.at, source)
        own = _plain_params(functions.get(primitive.name))
        if own is not None:
            if primitive.explicit and primitive.arity != len(own):
                raise CompileError(f"deffitness {space.fitness}: {primitive.name} takes {len(own)} arguments, "
                                   f"not {primitive.arity}", primitive.at, source)
            resolved.append(Primitive(primitive.name, len(own), primitive.explicit, primitive.at))
        elif primitive.name in BUILTIN_PRIMITIVES:
            allowed = (1, 2) if primitive.name == "-" else (BUILTIN_PRIMITIVES[primitive.name],)
            if primitive.arity not in allowed:
                raise CompileError(f"deffitness {space.fitness}: the built-in primitive {primitive.name} takes "
                                   f"{' or '.join(map(str, allowed))} argument{'' if allowed == (1,) else 's'}, not {primitive.arity}",
                                   primitive.at, source)
            resolved.append(primitive)
        else:
            known = " ".join(BUILTIN_PRIMITIVES)
            raise CompileError(f"deffitness {space.fitness}: primitive {primitive.name} is neither a defn of this "
                               f"agent nor a built-in primitive ({known})", primitive.at, source)
    if not any(t.name is not None for t in space.terminals):
        raise CompileError(f"deffitness {space.fitness}: :terminals needs a parameter of {space.target}",
                           space.terminals[0].at, source)
    return SearchSpace(space.fitness, space.target, tuple(resolved), space.terminals, space.at)


def _plain_params(form: Any) -> list[str] | None:
    """The parameter names of `(defn NAME [a b] ...)`, or None for anything else."""
    if (type(form) is not Expression or len(form) < 4 or form[0] != Symbol("defn") or type(form[2]) is not List
            or not all(type(p) is Symbol and str(p) not in ("/", "*") for p in form[2])):
        return None
    return [str(p) for p in form[2]]


def literal_kind(form: Any) -> str:
    """How an error names a form it did not expect."""
    if type(form) is Integer:
        return f"the integer {int(form)}"
    if isinstance(form, String):
        return f"the string {_quote(str(form))}"
    return f"{type(form).__name__.lower()} {form}" if not isinstance(form, Expression) else "an expression"


# -- tool parameters --------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    required: bool
    default: Any = None


def parse_params(params: Any, filename: str = "<agent>", source: str | None = None) -> list[Param]:
    """`[query :str [k 5] :int flag]` → parameters with optional types and defaults."""
    if type(params) is not List:
        raise _error(params, filename, source, "tool parameters must be a bracketed list: [name :type ...]")
    out: list[Param] = []
    items = list(params)
    i = 0
    while i < len(items):
        item = items[i]
        default: Any = None
        required = True
        if type(item) is List:
            if len(item) != 2 or type(item[0]) is not Symbol:
                raise _error(item, filename, source, "an optional parameter is written [name default]")
            default = literal_or_error(item[1], filename, source, "a parameter default")
            required = False
            item = item[0]
        if type(item) is not Symbol:
            raise _error(item, filename, source, "a tool parameter must be a symbol")
        type_name = "any"
        if i + 1 < len(items) and type(items[i + 1]) is Keyword:
            type_name = items[i + 1].name
            if type_name not in TYPE_SCHEMAS:
                raise _error(items[i + 1], filename, source, f"unknown parameter type :{type_name} (known: {', '.join(':' + t for t in TYPE_SCHEMAS)})")
            i += 1
        if required and out and not out[-1].required:
            raise _error(item, filename, source, "a required parameter cannot follow an optional one")
        if any(p.name == str(item) for p in out):
            raise _error(item, filename, source, f"duplicate parameter {item}")
        out.append(Param(str(item), type_name, required, default))
        i += 1
    return out


def lambda_list(params: list[Param]) -> List:
    """The `fn` parameter list for a tool's body."""
    items: list[Any] = []
    for p in params:
        sym = Symbol(p.name)
        items.append(sym if p.required else List([sym, _default_form(p.default)]))
    result: List = List(items)
    return result


def _default_form(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return Symbol(str(value))
    if isinstance(value, str):
        return String(value)
    return Float(value) if isinstance(value, float) else Integer(value)


def json_schema(name: str, doc: str, params: list[Param]) -> dict[str, Any]:
    """The tool's parameters as JSON Schema (the shape LLM tool-calling APIs take)."""
    properties: dict[str, Any] = {}
    for p in params:
        schema = dict(TYPE_SCHEMAS[p.type])
        if not p.required:
            schema["default"] = p.default
        properties[mangle(p.name)] = schema
    return {
        "name": name,
        "description": doc,
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": [mangle(p.name) for p in params if p.required],
            "additionalProperties": False,
        },
    }


def check_argument(tool: str, param: Param, value: Any) -> str | None:
    """Why `value` is not acceptable for `param`, or None."""
    if param.type == "any":
        return None
    expected = _PY_TYPES[param.type]
    if isinstance(value, bool) and bool not in expected:
        return f"tool {tool}: argument {param.name} must be {param.type}, not bool"
    if not isinstance(value, expected):
        return f"tool {tool}: argument {param.name} must be {param.type}, not {type(value).__name__}"
    return None


__all__ = [
    "AGENT_OPTIONS",
    "BUILTIN_PRIMITIVES",
    "AgentSpec",
    "Param",
    "Primitive",
    "SearchSpace",
    "Terminal",
    "check_argument",
    "check_search_space",
    "classify",
    "json_schema",
    "lambda_list",
    "literal_data",
    "parse_fitness",
    "parse_options",
    "parse_params",
    "read_agent",
    "rule_parts",
]


# -- expansion of the declarations (trusted, at macro time) ----------------------------------
#
# A declaration's macro (stdlib/agent.hy) hands its arguments to `expand`, which returns an
# `Expansion`: the code to compile — a call of the registration builtin with the parts that
# are code (a tool's body as a function, a workflow's steps, ...) — and, beside it, the
# typed record of the parts that are data (parameters, options), which the agent keeps until
# that registration runs. Data never makes a round trip through the sandbox.


@dataclass(frozen=True)
class ToolDeclaration:
    """What `deftool` declares besides its body: the parameters and the options."""

    params: tuple[Param, ...]
    options: Mapping[str, Any]


@dataclass(frozen=True)
class StepDeclaration:
    """One `(step NAME ...)` of a workflow: its name and options (`:retries`, `:timeout`)."""

    name: str
    options: Mapping[str, Any]


@dataclass(frozen=True)
class WorkflowDeclaration:
    steps: tuple[StepDeclaration, ...]


@dataclass(frozen=True)
class MemoryDeclaration:
    """A `defmemory`'s options, checked by `MemoryConfig` when it was expanded."""

    options: Mapping[str, Any]


Declaration = ToolDeclaration | WorkflowDeclaration | MemoryDeclaration | SearchSpace


@dataclass(frozen=True)
class Expansion:
    """One expanded declaration: `form` is compiled; `declaration` (if any) is what the
    registration of `kind` `name` will need."""

    form: Any
    kind: DefinitionKind | None = None
    name: str = ""
    declaration: Declaration | None = None


def declaration_error(form: Any, filename: str, source: str | None, message: str) -> CompileError:
    """A mistake in a DSL declaration, at `form` with its source line; with no form (or one
    without a position) unpositioned, so the compiler places it at the whole declaration."""
    pos = getattr(form, "_pos", None)
    if pos is None:
        return CompileError(message)
    return CompileError(message, Position(filename, pos[0], pos[1], pos[2], pos[3]), source)


def _function(params: List, body: list[Any]) -> Any:
    return Expression([Symbol("fn"), params, *(body or [Symbol("None")])])


def expand_rule(items: list[Any], filename: str, source: str | None, name: str | None) -> Expansion:
    """`(when-> [:name NAME] condition action...)`; `name` is the definition's, when known."""
    given, condition, actions = rule_parts(None, items, filename, source)
    rule = name or given or ""
    body = Expression([Symbol("if"), condition, Expression([Symbol("do"), *(actions or [Symbol("None")])]),
                       Symbol("agent-no-match")])
    fn = Expression([Symbol("fn"), List([Symbol("msg"), Symbol("event")]), body])
    return Expansion(Expression([Symbol("agent-define-rule"), String(rule), fn]), DefinitionKind.RULE, rule)


def expand_tool(items: list[Any], filename: str, source: str | None) -> Expansion:
    if len(items) < 2 or type(items[0]) is not Symbol:
        raise declaration_error(items[0] if items else None, filename, source,
                                "deftool needs a name and a parameter list: (deftool name [params] body...)")
    name = str(items[0])
    params = parse_params(items[1], filename, source)
    options, body = parse_options(items[2:], TOOL_OPTIONS, f"tool {name}", filename, source)
    form = Expression([Symbol("agent-define-tool"), String(name), _function(lambda_list(params), body)])
    return Expansion(form, DefinitionKind.TOOL, name, ToolDeclaration(tuple(params), options))


def expand_workflow(items: list[Any], filename: str, source: str | None) -> Expansion:
    if not items or type(items[0]) is not Symbol:
        raise declaration_error(items[0] if items else None, filename, source, "defworkflow needs a name")
    name = str(items[0])
    steps: list[StepDeclaration] = []
    runs: list[Any] = []
    whens: list[Any] = []
    for step in items[1:]:
        if type(step) is not Expression or len(step) < 2 or step[0] != Symbol("step") or type(step[1]) is not Symbol:
            raise declaration_error(step, filename, source,
                                    "a workflow step is written (step name [:retries n] [:timeout s] [:when condition] body...)")
        options, body = parse_options(list(step[2:]), STEP_OPTIONS, f"step {step[1]}", filename, source)
        when = options.pop("when", None)
        steps.append(StepDeclaration(str(step[1]), options))
        runs.append(_function(List([Symbol("ctx")]), body))
        whens.append(Symbol("None") if when is None else Expression([Symbol("fn"), List([Symbol("ctx")]), when]))
    if not steps:
        raise declaration_error(items[0], filename, source, f"workflow {name} has no steps")
    form = Expression([Symbol("agent-define-workflow"), String(name), List(runs), List(whens)])
    return Expansion(form, DefinitionKind.WORKFLOW, name, WorkflowDeclaration(tuple(steps)))


def expand_memory(items: list[Any], filename: str, source: str | None) -> Expansion:
    # NumPy/Numba: loaded by the first defmemory, not by every agent
    from o_lisp.memory import MemoryConfig, MemoryConfigError

    if not items or type(items[0]) is not Symbol:
        raise declaration_error(items[0] if items else None, filename, source, "defmemory needs a name")
    name = str(items[0])
    options: dict[str, Any] = {"name": name}
    rest = items[1:]
    if len(rest) % 2:
        raise declaration_error(rest[-1], filename, source, f"memory {name}: options come in :key value pairs")
    for key, value in zip(rest[0::2], rest[1::2], strict=True):
        if type(key) is not Keyword:
            raise declaration_error(key, filename, source, f"memory {name}: expected an option keyword")
        options[mangle(key.name)] = plain(literal_data(value, filename, source, f"memory {name}: option :{key.name}"))
    try:
        MemoryConfig.from_options(dict(options))
    except MemoryConfigError as error:
        raise declaration_error(items[0], filename, source, f"memory {name}: {error}") from None
    return Expansion(Expression([Symbol("agent-define-memory"), String(name)]), DefinitionKind.MEMORY, name,
                     MemoryDeclaration(options))


def expand_test(items: list[Any], filename: str, source: str | None) -> Expansion:
    if not items or type(items[0]) is not Symbol:
        raise declaration_error(items[0] if items else None, filename, source, "(deftest) needs a name")
    name = str(items[0])
    form = Expression([Symbol("agent-define-test"), String(name), _function(List([]), items[1:])])
    return Expansion(form, DefinitionKind.TEST, name)


def expand_fitness(items: list[Any], filename: str, source: str | None) -> Expansion:
    name, space, body = parse_fitness(items, filename, source)
    form = Expression([Symbol("agent-define-fitness"), String(name), _function(List([]), body)])
    return Expansion(form, DefinitionKind.FITNESS, name, space)


EXPANDERS: Mapping[str, Callable[[list[Any], str, str | None], Expansion]] = {
    "deftool": expand_tool, "defworkflow": expand_workflow, "defmemory": expand_memory,
    "deftest": expand_test, "deffitness": expand_fitness,
}
"""The declarations expanded without the agent's help (`when->` needs its rule name, `defllm`
its model registry)."""
