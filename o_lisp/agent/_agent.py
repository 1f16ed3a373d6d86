"""The agent: an interpreter running the agent's definitions, its state, its
memory, its tools and rules, and the git repository holding its code.

The agent's code lives in its repository (`DATA/code`); the `.hy` file it was
created from is only the seed. Every accepted rewrite is a commit there, every
rejected one is recorded on the candidates ref, and a rollback is a new commit
restoring an older tree, after which exactly that code is reloaded.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from o_lisp._budget import DeadlineExceeded
from o_lisp._errors import (
    CompileError,
    LispError,
    OLispError,
    ProgramError,
    SandboxViolation,
)
from o_lisp._interpreter import Interpreter
from o_lisp._limits import Limits
from o_lisp._mangle import mangle, unmangle
from o_lisp._printer import hy_repr, to_source
from o_lisp._reader import read_many
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.agent._dsl import (
    EXPANDERS,
    AgentSpec,
    Declaration,
    MemoryDeclaration,
    Param,
    SearchSpace,
    ToolDeclaration,
    WorkflowDeclaration,
    check_argument,
    check_search_space,
    classify,
    expand_rule,
    json_schema,
    read_agent,
)
from o_lisp.agent._lifecycle import Lifecycle
from o_lisp.agent._repo import CodeRepository
from o_lisp.agent._state import AgentState, StateError, check_data, plain
from o_lisp.agent._version import SEMVER, semver_key
from o_lisp.forms import Expression, Symbol, as_form

D = TypeVar("D", ToolDeclaration, WorkflowDeclaration, MemoryDeclaration, SearchSpace)

if TYPE_CHECKING:
    from o_lisp.llm import LLMSettings, ModelConfig


class AgentError(OLispError):
    """A problem with an agent as a whole (bad seed file, missing repository, ...)."""


class MemoryChangeError(CompileError):
    """A `defmemory` changes an option of an existing memory that cannot change in place
    (dimension, block size, embedder...: the stored blocks were built with the old ones)."""


class ToolError(Exception):
    """Raised to agent code when a tool call fails (bad arguments, timeout, refusal).

    A plain exception on purpose: agent code may catch it and carry on.
    """


class _NoMatch:
    """What a rule returns when its condition does not hold."""

    def __repr__(self) -> str:
        return "agent-no-match"


NO_MATCH = _NoMatch()
_UNBOUND = object()


@dataclass
class Tool:
    name: str
    params: list[Param]
    doc: str
    timeout: float | None
    unsafe: bool
    cache: bool
    function: Any = None
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def schema(self) -> dict[str, Any]:
        return json_schema(self.name, self.doc, self.params)


@dataclass
class Step:
    name: str
    run: Any
    when: Any
    retries: int
    timeout: float | None


@dataclass
class RewriteResult:
    accepted: bool
    name: str
    reason: str
    commit: str | None = None
    version: str | None = None
    failures: list[str] = field(default_factory=list)
    pending: bool = False
    """True when the rewrite passed validation but was turned into an evolution intent
    (`Agent.propose_rewrites`): the guardian decides, the code did not change yet."""
    intent: str | None = None

    def as_data(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "pending": self.pending,
            "intent": self.intent,
            "name": self.name,
            "reason": self.reason,
            "commit": self.commit,
            "version": self.version,
            "failures": list(self.failures),
        }


@dataclass
class TestReport:
    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return f"{len(self.passed)} passed, {len(self.failed)} failed"


Clock = Callable[[], float]

AgentRole = Literal["main", "scratch", "canary"]
"""`main`: the live agent. `scratch`: a throw-away copy on a copy of the state (validation,
fitness, shadows). `canary`: candidate code sharing the live state. Only `main` may change
its code or reconfigure a memory."""

_REFUSALS: dict[str, str] = {
    "scratch": "a scratch agent cannot change its code",
    "canary": "a canary agent cannot change its code",
}


class Agent:
    """A running agent. Create one with `Agent.load(seed_path, data_dir)`."""

    def __init__(
        self,
        spec: AgentSpec,
        data_dir: Path,
        *,
        host_tools: Mapping[str, Callable[..., Any]] | None = None,
        grants: Iterable[str] = (),
        limits: Limits | None = None,
        clock: Clock = time.time,
        state: AgentState | None = None,
        repository: Any = None,
        role: AgentRole = "main",
        llm_models: Mapping[str, ModelConfig] | LLMSettings | None = None,
    ) -> None:
        from o_lisp.llm import (
            LLMRuntime,  # o_lisp.llm imports agent modules: at module level, import order would matter
        )

        self.role: AgentRole = role
        self.spec = spec
        self.name = spec.name
        self.data_dir = data_dir
        self.clock = clock
        self.limits = limits or Limits()
        self.grants = frozenset(grants)
        self.host_tools = dict(host_tools or {})
        self.repository = repository
        self.llm = LLMRuntime(self, llm_models)
        """The agent's models (`defllm`) and the `llm`/`llm-chat` builtins (o_lisp.llm)."""
        self.state = state or AgentState(str(uuid.uuid4()), spec.name, spec.version)
        self.tools: dict[str, Tool] = {}
        self.rules: dict[str, Any] = {}
        self.workflows: dict[str, list[Step]] = {}
        self.tests: dict[str, Any] = {}
        self.fitness: dict[str, Any] = {}
        self.search_spaces: dict[str, SearchSpace] = {}
        """`deffitness NAME :for DEF ...` vocabularies by fitness name (o_lisp.evolution._gp grows DEF)."""
        self.definitions: dict[str, Definition] = {}
        self._declared: dict[tuple[DefinitionKind, str], Declaration] = {}
        """The data parts of declarations expanded but not yet registered (`_dsl.Expansion`)."""
        self._current: Definition | None = None
        self.before_risky: Callable[[str], None] | None = None if role == "main" else self._refuse
        """Called with a reason just before a self-modification or reload changes the running
        code (after a rewrite passed validation); the guardian's worker takes a durable
        checkpoint there. An exception from it aborts the operation, nothing changed.
        Scratch and canary agents refuse (`AgentError`)."""
        self.propose_rewrites = False
        """When True (set by the guardian's worker), `rewrite!` called by agent code does not
        hot-swap and commit: after the same validation it raises an evolution intent carrying
        the candidate, and the guardian runs a protected cycle (shadow, canary, promotion)."""
        self.last_reply_id: str | None = None
        """The id of the last reply `handle` gave (stored with the message; feedback refers to it)."""
        self._current_file = spec.filename
        self._current_source: str | None = None
        self.interpreter = self._new_interpreter()
        self._protected = self._protected_names(spec.definitions)
        self._define_all(spec)
        if role != "canary" and self.state.lifecycle is Lifecycle.INITIALIZING:
            self.state.apply("set_lifecycle", {"to": Lifecycle.RUNNING.value, "time": self.clock()})

    def _refuse(self, reason: str) -> None:
        raise AgentError(_REFUSALS.get(self.role, "this agent cannot change its code"))

    # -- copies for validation and canaries ------------------------------------------------
    def _definitions_with(self, candidate: Definition | None, helpers: Iterable[Definition] = ()) -> list[Definition]:
        definitions = list(self.definitions.values())
        for changed in (*helpers, *([candidate] if candidate is not None else [])):
            names = [d.name for d in definitions]
            definitions = [changed if d.name == changed.name else d for d in definitions]
            if changed.name not in names:
                definitions.append(changed)
        return definitions

    def _copy(self, candidate: Definition | None, state: AgentState, role: AgentRole,
              helpers: Iterable[Definition] = ()) -> Agent:
        spec = AgentSpec(self.spec.name, self.state.version, self.spec.doc, self.spec.header_source,
                         self._definitions_with(candidate, helpers), self.spec.filename)
        copy = Agent(spec, self.data_dir, host_tools=self.host_tools, grants=self.grants, limits=self.limits,
                     clock=self.clock, state=state, role=role, llm_models=self.llm.settings)
        copy.llm.inherit(self.llm)  # a shadow's copies (its candidate, scratch runs) stay shadows
        return copy

    def scratch(self, candidate: Definition | None = None, *, state: AgentState | None = None,
                helpers: Iterable[Definition] = ()) -> Agent:
        """A throw-away copy running the current definitions, `candidate` replacing (or adding)
        its definition, on a deep copy of the state unless `state` is given.

        Same host tools, grants, limits and clock; no repository; it cannot change its code
        (`rewrite!`, rollback and reload raise `AgentError`). Its mutations touch only its own
        state, so tests, fitness tasks and shadows run on it without touching the live agent;
        a `defmemory` candidate reconfigures the copied store, so fitness sees its weights.
        A candidate that does not load raises its `LispError` (`MemoryChangeError` for a
        memory option that cannot change). `helpers` are further definitions replaced or added
        together with the candidate (a population search may change a helper with its target).
        """
        if state is None:
            state = AgentState.from_data(self.state.to_data(), _memory_from_data)
        return self._copy(candidate, state, "scratch", helpers)

    def with_candidate(self, candidate: Definition) -> Agent:
        """A canary: `candidate` running on this agent's own `state` object.

        Its mutations go through the same listeners (the guardian's WAL logs them like the
        live agent's). Building it applies no mutation: no lifecycle change, and its
        `defmemory` definitions neither create nor reconfigure a memory (a candidate needing
        a new memory raises `MemoryChangeError`). It cannot change its code; with
        `propose_rewrites` (copied from this agent) its `rewrite!` still proposes.
        """
        canary = self._copy(candidate, self.state, "canary")
        canary.propose_rewrites = self.propose_rewrites
        return canary

    # -- loading -------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        seed: str | Path | Seed,
        data_dir: str | Path | None = None,
        **options: Any,
    ) -> Agent:
        """Load an agent: from its repository when one exists, else from the seed file
        (creating the repository). `seed` is a path, or a `Seed` the caller already read."""
        if not isinstance(seed, Seed):
            seed = Seed.read(seed)
        data = Path(data_dir) if data_dir is not None else default_data_dir(seed.spec.name)
        repository, created = open_code_repository(seed, data, options)
        spec = seed.spec if created else spec_from_repository(repository, seed.spec)
        return cls(spec, data, repository=repository, **options)

    @classmethod
    def check_loads(cls, spec: AgentSpec, data: Path, options: Mapping[str, Any] | None = None) -> None:
        """Load the seed in a scratch agent on a throw-away state: a seed that does not load
        raises its error (at the user's file, line and column) before anything is committed."""
        scratch_options = {k: v for k, v in (options or {}).items() if k not in ("state", "role", "repository")}
        cls(spec, data, state=AgentState(str(uuid.uuid4()), spec.name, spec.version), role="scratch", **scratch_options)

    def _code_filename(self, definition: Definition) -> str:
        if self.repository is None:
            return f"<{self.name}/{definition.filename}>"
        return str(self.data_dir / "code" / definition.filename)

    def _new_interpreter(self) -> Interpreter:
        interp = Interpreter(limits=self.limits)
        for name, fn in self._builtins().items():
            interp.define(name, fn)
        for name, fn in self.host_tools.items():
            if name in self.grants or "*" in self.grants:
                interp.grant(name, fn)
            else:  # a clear refusal naming the grant, rather than "name 'llm' is not defined"
                interp.define(name, self._not_granted(name))
        interp.load_library("agent.hy")
        return interp

    def _not_granted(self, name: str) -> Callable[..., Any]:
        agent = self.name

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise ToolError(f"host tool {name} is not granted to agent {agent}; grant it with --grant {name}")

        return refuse

    def _define_all(self, spec: AgentSpec) -> None:
        """Compile every definition: from its seed form (positions in the user's seed file)
        while its code is still the seed's, else from the repository's file."""
        for definition in spec.definitions:
            seed_form = spec.forms.get(definition.name)
            if seed_form is not None:
                self._define(definition, spec.filename, seed_form, spec.source)
            else:
                self._define(definition, self._code_filename(definition))
        self._check_search_spaces(spec.source)

    def _define(self, definition: Definition, filename: str, form: Any = None, source: str | None = None) -> None:
        """Compile and run one definition (used at load, rewrite and rollback).

        `source` is the text `form` was read from (the seed file); without `form` the
        definition's own source is read under `filename`. The interpreter is told the text,
        so every error in the definition, at load or when it runs, quotes its line.

        The definition's own evaluation (default arguments, `setv` values, everything that
        runs at definition time) may bind only its own name: rebinding another definition,
        an agent builtin, a stdlib function or a safe built-in raises `SandboxViolation`
        and the bindings are put back. Registrations (`agent-define-test` and the others)
        are accepted only for the definition being loaded (`_registering`).
        """
        self._current = definition
        before = self._bindings()
        if form is None:
            source = definition.source
            forms = read_many(source, filename)
        else:
            forms = [form]
        if source is not None:
            self.interpreter.add_source(filename, source)
        self._current_file, self._current_source = filename, source
        try:
            self.interpreter.eval(forms[0] if len(forms) == 1 else Expression([Symbol("do"), *forms]), filename)
            rebound = self._rebound(before, own=definition.name)
            if rebound:
                self._restore(before, rebound)
                raise SandboxViolation(
                    f"definition {definition.name} rebinds {_shown_names(rebound)} while it loads: "
                    "a definition may bind only its own name")
        finally:
            self._current = None
            self._current_file, self._current_source = self.spec.filename, None
        self.definitions[definition.name] = definition

    # -- what agent code may not rebind --------------------------------------------------
    def _protected_names(self, definitions: Iterable[Definition]) -> frozenset[str]:
        """Mangled names no definition but their own may rebind: the agent's definitions,
        its builtins and tools, the stdlib, and the safe built-ins (a global of that name
        would shadow them). Macros are compared separately (`_bindings`)."""
        interp = self.interpreter
        return frozenset(interp.environment) | frozenset(interp.builtin_table) | {mangle(d.name) for d in definitions}

    def _bindings(self) -> dict[str, Any]:
        """The current binding of every protected name (macros under a ``macro:`` key)."""
        globals_ = self.interpreter.environment
        bound = {name: globals_.get(name, _UNBOUND) for name in self._protected}
        bound.update({"macro:" + name: fn for name, fn in self.interpreter.macro_table.items()})
        return bound

    def _rebound(self, before: dict[str, Any], own: str | None = None) -> list[str]:
        """Keys of `_bindings` whose binding changed since `before` (except `own`'s)."""
        after = self._bindings()
        allowed = {mangle(own), "macro:" + mangle(own)} if own is not None else set()
        return sorted(k for k in before.keys() | after.keys()
                      if k not in allowed and before.get(k, _UNBOUND) is not after.get(k, _UNBOUND))

    def _restore(self, before: dict[str, Any], keys: list[str]) -> None:
        """Put the bindings of `keys` back as they were in `before`."""
        for key in keys:
            target, name = ((self.interpreter.macro_table, key[6:]) if key.startswith("macro:")
                            else (self.interpreter.environment, key))
            value = before.get(key, _UNBOUND)
            if value is _UNBOUND:
                target.pop(name, None)
            else:
                target[name] = value

    def _registering(self, kind: DefinitionKind, name: str) -> None:
        """Refuse a registration that does not come from loading definition `name` itself.

        The registration builtins are ordinary names agent code can call; without this a
        function's default argument (run when the function is defined) or its body (run
        by a test) could replace the tests that judge it. `SandboxViolation` cannot be
        caught by agent code, so the load or the call fails as a whole."""
        current = self._current
        if current is None or current.kind is not kind or current.name != name:
            what = f"while loading {current.kind.value} {current.name}" if current is not None else "at run time"
            raise SandboxViolation(f"{kind.value} {name} can only be declared by its own definition, not {what}")

    # -- the builtins agent code sees ------------------------------------------------
    def _builtins(self) -> dict[str, Any]:
        return {
            "agent-expand": self._expand,
            "agent-define-tool": self._register_tool,
            "agent-define-rule": self._register_rule,
            "agent-define-workflow": self._register_workflow,
            "agent-define-test": self._register_test,
            "agent-define-fitness": self._register_fitness,
            "agent-define-memory": self._register_memory,
            "agent-no-match": NO_MATCH,
            "ToolError": ToolError,
            "memory-add": self.memory_add,
            "memory-search": self.memory_search,
            "memory-get": self.memory_get,
            "state-get": self._state_get,
            "state-set!": self._state_set,
            "state-del!": self._state_del,
            "messages": self._messages,
            "definition": self._definition_form,
            "definition-names": lambda: list(self.definitions),
            "rewrite!": self._rewrite_builtin,
            "evolve!": self._evolve_builtin,
            "feedback": self._feedback_records,
            "evolution-stats": lambda: plain(self.state["evolution"]["stats"]),
            "run-workflow": self._run_workflow_builtin,
            "resume-workflow": self._resume_workflow_builtin,
            "tool-schema": lambda name: self.tools[str(name)].schema,
            "now": self.clock,
            **self.llm.builtins(),
        }

    # -- macro expansion of the DSL (trusted, called at macro time) --------------------
    def _expand(self, kind: str, args: Any) -> Any:
        """Expand one DSL declaration. Errors about a part name its position in the file
        being compiled, with its text; errors about the whole form carry no position, so
        the compiler places them at the macro call."""
        filename, source = self._current_file, self._current_source
        items = list(args)
        if kind == "defllm":
            return self.llm.expand(items, filename)
        if kind == "when->":
            current = self._current.name if self._current else None
            expansion = expand_rule(items, filename, source, current or f"rule-{len(self.rules) + 1}")
        elif kind in EXPANDERS:
            expansion = EXPANDERS[kind](items, filename, source)
        else:
            raise CompileError(f"unknown agent declaration {kind}", None)
        if expansion.kind is not None:
            self._declared.pop((expansion.kind, expansion.name), None)
            if expansion.declaration is not None:
                self._declared[(expansion.kind, expansion.name)] = expansion.declaration
        return expansion.form

    def _declaration(self, kind: DefinitionKind, name: str, record: type[D]) -> D | None:
        """The typed record `expand` kept for the registration of `kind` `name` (taken once)."""
        found = self._declared.pop((kind, name), None)
        if found is not None and not isinstance(found, record):
            raise AgentError(f"{kind.value} {name}: its declaration is a {type(found).__name__}, not a {record.__name__}")
        return found

    def _required_declaration(self, kind: DefinitionKind, name: str, record: type[D]) -> D:
        found = self._declaration(kind, name, record)
        if found is None:  # a second registration by the same definition (e.g. from a default argument)
            raise SandboxViolation(f"{kind.value} {name} can only be declared once, by its own definition")
        return found

    # -- registration (run when a definition is evaluated) ----------------------------------
    def _register_tool(self, name: str, fn: Any) -> None:
        self._registering(DefinitionKind.TOOL, name)
        declared = self._required_declaration(DefinitionKind.TOOL, name, ToolDeclaration)
        params, options = list(declared.params), declared.options
        tool = Tool(name, params, str(options.get("doc", "")), options.get("timeout"),
                    bool(options.get("unsafe", False)), bool(options.get("cache", False)), fn)
        self.tools[name] = tool
        self.interpreter.define(name, self._tool_callable(tool))

    def _register_rule(self, name: str, fn: Any) -> None:
        self._registering(DefinitionKind.RULE, name)
        self.rules[name] = fn

    def rule_order(self) -> list[str]:
        """Rule names in the order they are checked: the order of the agent's definitions."""
        return [name for name in self.definitions if name in self.rules]

    def _register_workflow(self, name: str, runs: list[Any], whens: list[Any]) -> None:
        self._registering(DefinitionKind.WORKFLOW, name)
        declared = self._required_declaration(DefinitionKind.WORKFLOW, name, WorkflowDeclaration)
        self.workflows[name] = [
            Step(step.name, run, when, int(step.options.get("retries", 0)), step.options.get("timeout"))
            for step, run, when in zip(declared.steps, runs, whens, strict=True)
        ]

    def _register_test(self, name: str, fn: Any) -> None:
        self._registering(DefinitionKind.TEST, name)
        self.tests[name] = fn

    def _register_fitness(self, name: str, fn: Any) -> None:
        self._registering(DefinitionKind.FITNESS, name)
        self.fitness[name] = fn
        space = self._declaration(DefinitionKind.FITNESS, name, SearchSpace)
        if space is None:
            self.search_spaces.pop(name, None)
        else:
            self.search_spaces[name] = space

    def _check_search_spaces(self, source: str | None) -> None:
        """Once every definition is loaded: each `deffitness ... :for DEF` vocabulary names a
        `defn` and resolvable primitives (`check_search_space`), arities resolved."""
        if not self.search_spaces:
            return
        functions: dict[str, Any] = {}
        for name, definition in self.definitions.items():
            if definition.kind is DefinitionKind.FUNCTION:
                try:
                    functions[name] = self.interpreter.forms(name)
                except KeyError:
                    continue
        for name, space in list(self.search_spaces.items()):
            # The seed's text quotes the line only for a definition read from the seed file.
            text = source if space.at.filename == self.spec.filename else None
            self.search_spaces[name] = check_search_space(space, functions, text)

    def _register_memory(self, name: str) -> None:
        """Create the memory, or bring an existing one in line with its (re)evaluated definition.

        New `:weights` are applied as a logged `memory_apply` mutation (so an evolved
        `defmemory` takes effect and a WAL replay reproduces it). Other options cannot
        change under existing blocks: a scratch or canary agent (validation) refuses such
        a definition with `MemoryChangeError`; the live agent keeps the store's options, so
        a rollback or a restart never fails on them. A canary changes nothing.
        """
        from o_lisp.memory import MemoryConfig  # NumPy/Numba: loaded by the first defmemory

        self._registering(DefinitionKind.MEMORY, name)
        options = dict(self._required_declaration(DefinitionKind.MEMORY, name, MemoryDeclaration).options)
        store = self.state.memory_stores.get(name)
        if store is None:
            if self.role == "canary":
                raise MemoryChangeError(f"memory {name}: a canary agent cannot create a memory (it shares the live state)")
            self.state.apply("memory_create", {"memory": name, "config": options, "time": self.clock()})
            return
        config = MemoryConfig.from_options(dict(options))
        problem = memory_change_problem(name, store, config)
        if problem is not None and self.role != "main":
            raise MemoryChangeError(problem)
        if self.role == "canary" or config.weights == store.weights:
            return
        self.state.apply("memory_apply", {"memory": name, "payload": store.plan_set_weights(config.weights), "time": self.clock()})

    # -- tools ---------------------------------------------------------------------------
    def _tool_callable(self, tool: Tool) -> Callable[..., Any]:
        def call_tool(*args: Any, **kwargs: Any) -> Any:
            return self._call_tool(tool, args, kwargs)

        call_tool.__name__ = mangle(tool.name)
        return call_tool

    def _bind(self, tool: Tool, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if len(args) > len(tool.params):
            raise ToolError(f"tool {tool.name} takes {len(tool.params)} arguments, got {len(args)}")
        bound: dict[str, Any] = {}
        for param, value in zip(tool.params, args, strict=False):
            bound[param.name] = value
        by_mangled = {mangle(p.name): p for p in tool.params}
        for key, value in kwargs.items():
            found = by_mangled.get(key)
            if found is None:
                raise ToolError(f"tool {tool.name} has no parameter {key}")
            param = found
            if param.name in bound:
                raise ToolError(f"tool {tool.name}: argument {param.name} given twice")
            bound[param.name] = value
        for param in tool.params:
            if param.name not in bound:
                if param.required:
                    raise ToolError(f"tool {tool.name}: missing argument {param.name}")
                bound[param.name] = param.default
            problem = check_argument(tool.name, param, bound[param.name])
            if problem:
                raise ToolError(problem)
        return bound

    def _call_tool(self, tool: Tool, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        started = time.perf_counter()
        shown = _shown(list(args) + ([kwargs] if kwargs else []))
        try:
            if tool.unsafe and f"unsafe:{tool.name}" not in self.grants and "unsafe" not in self.grants:
                raise ToolError(f"tool {tool.name} is unsafe and agent {self.name} was not granted it; "
                                f"grant it with --grant unsafe:{tool.name}")
            bound = self._bind(tool, args, kwargs)
            key = repr(sorted(bound.items())) if tool.cache else ""
            if tool.cache and key in tool.results:
                return tool.results[key]
            budget = self.interpreter.budget
            if tool.timeout is not None:
                budget.push_deadline(float(tool.timeout), f"tool {tool.name} timed out after {tool.timeout} s")
            try:
                result = self.interpreter.call(tool.function, **{mangle(k): v for k, v in bound.items()})
            except DeadlineExceeded as error:
                raise ToolError(error.message) from None
            finally:
                if tool.timeout is not None:
                    budget.pop_deadline()
            if tool.cache:
                tool.results[key] = result
        except Exception as error:
            self._record_call(tool.name, shown, False, f"{type(error).__name__}: {error}", started)
            raise
        self._record_call(tool.name, shown, True, _shown(result), started)
        return result

    def call_tool(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call a tool from the host (as an LLM tool call would)."""
        tool = self.tools.get(name)
        if tool is None:
            raise AgentError(f"agent {self.name} has no tool {name!r} (tools: {', '.join(sorted(self.tools)) or 'none'})")
        return self.interpreter.call(self._tool_callable(tool), *args, **kwargs)

    def _record_call(self, tool: str, args: Any, ok: bool, outcome: Any, started: float) -> None:
        duration = (time.perf_counter() - started) * 1000
        record = {"tool": tool, "args": args, "ok": ok, "duration_ms": duration, "time": self.clock()}
        record["result" if ok else "error"] = outcome
        self.state.apply("record_tool_call", record)

    # -- messages -----------------------------------------------------------------------
    def handle(self, text: str, event: Mapping[str, Any] | None = None) -> str | None:
        """One incoming message: rules are checked in order; the first that matches answers."""
        if not isinstance(text, str):
            raise AgentError("a message must be text")
        lifecycle = self.state.lifecycle
        if lifecycle not in (Lifecycle.RUNNING, Lifecycle.EVOLVING):
            raise AgentError(f"agent {self.name} is {lifecycle.value} and does not take messages")
        self.state.apply("append_message", {"role": "user", "text": text, "time": self.clock()})
        self.llm.begin_message()
        event_data = dict(event or {})
        event_data.setdefault("text", text)
        reply = self.interpreter.call(self._dispatch, text, event_data)
        answer = None if reply is None else (reply if isinstance(reply, str) else _display(reply))
        reply_id = self.state.next_id("r")
        self.state.apply("append_message", {"role": "agent", "text": answer or "", "time": self.clock(), "id": reply_id})
        self.last_reply_id = reply_id
        return answer

    def _dispatch(self, text: str, event: dict[str, Any]) -> Any:
        for name in self.rule_order():
            rule = self.rules[name]
            started = time.perf_counter()
            ok = False
            try:
                result = rule(text, event)
                ok = True
            finally:
                self.state.observe("rule:" + name, ok, (time.perf_counter() - started) * 1000)
            if result is not NO_MATCH:
                return result
        respond = self.interpreter.environment.get("respond")
        if callable(respond):
            return respond(text)
        return None

    # -- state and memory builtins ----------------------------------------------------------
    def _state_get(self, key: str, default: Any = None) -> Any:
        return self.state["context"].get(str(key), default)

    def _state_set(self, key: str, value: Any) -> Any:
        # What msgpack could not encode, or a value over 32 MiB expanded, is a StateError
        # (a cheap walk over distinct containers); what is left is charged to the budget
        # before `plain` copies it.
        check_data(value, "state-set! value")
        self.interpreter.charge_expansion(value, "the state value")
        self.state.apply("context_set", {"key": str(key), "value": plain(value), "time": self.clock()})
        return value

    def _state_del(self, key: str) -> None:
        self.state.apply("context_delete", {"key": str(key), "time": self.clock()})

    def _messages(self, n: int | None = None) -> list[dict[str, Any]]:
        items = self.state["messages"]
        return [dict(m) for m in (items[-n:] if n else items)]

    # -- feedback and evolution ---------------------------------------------------------------
    def feedback(self, rating: float, comment: str = "", reply_to: str | None = None) -> str:
        """Record a user's rating (in [-1, 1]) of the agent, optionally of one reply
        (`last_reply_id`); returns the feedback id. Agent code reads it with `(feedback n)`;
        the evolution pipeline uses it as a signal."""
        if isinstance(rating, bool) or not isinstance(rating, int | float):
            raise AgentError(f"a rating must be a number in [-1, 1], not {type(rating).__name__}")
        feedback_id = self.state.next_id("f")
        self.state.apply("record_feedback", {"id": feedback_id, "rating": float(rating), "comment": str(comment),
                                             "reply_to": reply_to, "time": self.clock()})
        return feedback_id

    def _feedback_records(self, n: int | None = None) -> list[dict[str, Any]]:
        items = self.state["feedback"]
        return [dict(f) for f in (items[-int(n):] if n else items)]

    def evolve(self, name: str, *, hypothesis: str, candidate: Any = None, origin: str = "operator") -> str:
        """Ask for a protected evolution cycle of definition `name`; returns the intent id.

        Only records an `evolution_intent` mutation: the guardian watches its WAL for them
        and runs the cycle (validation, shadow, canary, promotion). A given `candidate` form
        must read back identically and define `name` with the same kind; its source travels
        with the intent. Raises `ToolError` (agent code may catch it) when refused.
        """
        name = str(name)
        if name not in self.definitions:
            raise ToolError(f"agent {self.name} has no definition {name[:80]}")
        if origin == "agent" and self.definitions[name].kind in (DefinitionKind.TEST, DefinitionKind.FITNESS):
            raise ToolError(f"agent code may not evolve its {self.definitions[name].kind.value} {name}: "
                            "tests and fitness tasks judge its rewrites")
        if not isinstance(hypothesis, str) or not hypothesis.strip():
            raise ToolError("an evolution intent needs a hypothesis (why the change should help)")
        source = None
        if candidate is not None:
            definition, failures = self._candidate(name, candidate)
            if definition is None or failures:
                raise ToolError(f"candidate for {name} refused: " + "; ".join(failures))
            source = definition.source
        return self._record_intent(name, hypothesis, origin, source)

    def _evolve_builtin(self, name: Any, hypothesis: str = "", candidate: Any = None) -> str:
        return self.evolve(str(name), hypothesis=str(hypothesis), candidate=candidate, origin="agent")

    def _record_intent(self, name: str, hypothesis: str, origin: str, source: str | None) -> str:
        intent_id = self.state.next_id("e")
        self.state.apply("evolution_intent", {"id": intent_id, "definition": name, "hypothesis": hypothesis,
                                              "origin": origin, "source": source, "time": self.clock()})
        return intent_id

    def _memory(self, name: str | None) -> tuple[str, Any]:
        stores = self.state.memory_stores
        if name is None:
            if len(stores) != 1:
                raise ToolError(f"agent {self.name} has {len(stores)} memories; say which (:memory NAME)")
            name = next(iter(stores))
        if name not in stores:
            raise ToolError(f"agent {self.name} has no memory {name!r}")
        return name, stores[name]

    def memory_add(self, text: str, metadata: Any = None, importance: float = 0.5, kind: str = "short_term", memory: str | None = None) -> list[str]:
        """Add `text` to memory `memory` (the only one when None): one ``memory_apply`` mutation; the new block ids.

        The DSL's ``memory-add`` and the worker's ``memory_add`` request both come here."""
        name, store = self._memory(memory)
        payload = store.prepare_add(str(text), metadata=plain(metadata or {}), importance=float(importance), kind=str(kind), now=self.clock(), id_prefix=self.state.next_id("m"))
        result: list[str] = self.state.apply("memory_apply", {"memory": name, "payload": payload, "time": self.clock()})
        return result

    def memory_search(self, query: str, k: int = 5, memory: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """The `k` blocks of memory `memory` most like `query`, best first (id, text, score, metadata)."""
        _, store = self._memory(memory)
        hits = store.search(str(query), k=int(k), kind=kind, now=self.clock())
        return [{"id": h.id, "text": h.text, "score": float(h.score), "metadata": dict(h.metadata)} for h in hits]

    def memory_get(self, block_id: str, memory: str | None = None) -> dict[str, Any] | None:
        """Block `block_id` of memory `memory` (id, text, metadata, importance), or None."""
        _, store = self._memory(memory)
        block = store.get(str(block_id))
        if block is None:
            return None
        return {"id": block.id, "text": block.text, "metadata": dict(block.metadata), "importance": block.importance}

    # -- workflows ---------------------------------------------------------------------------
    def _run_workflow_builtin(self, name: Any, ctx: Any = None) -> dict[str, Any]:
        return self.run_workflow(str(name), dict(ctx or {}))

    def _resume_workflow_builtin(self, run_id: str) -> dict[str, Any]:
        return self.resume_workflow(str(run_id))

    def run_workflow(self, name: str, ctx: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a workflow from its first step; returns the run record (also kept in state)."""
        if name not in self.workflows:
            raise AgentError(f"agent {self.name} has no workflow {name!r}")
        run_id = self.state.next_id("w")
        run = {"workflow": name, "status": "running", "next": 0, "ctx": plain(ctx or {}), "error": None, "attempts": {}}
        self.state.apply("workflow_update", {"run_id": run_id, "run": run, "time": self.clock()})
        return self._continue(run_id)

    def resume_workflow(self, run_id: str) -> dict[str, Any]:
        """Continue a failed run from the step that failed."""
        run = self.state["workflows"].get(run_id)
        if run is None:
            raise AgentError(f"no workflow run {run_id!r}")
        if run["status"] == "done":
            return dict(run, run_id=run_id)
        return self._continue(run_id)

    def _continue(self, run_id: str) -> dict[str, Any]:
        run = dict(self.state["workflows"][run_id])
        steps = self.workflows[run["workflow"]]
        budget = self.interpreter.budget
        while run["next"] < len(steps):
            step = steps[run["next"]]
            ctx = dict(run["ctx"])
            if step.when is not None and not self.interpreter.call(step.when, ctx):
                run = dict(run, next=run["next"] + 1)
                continue
            error = None
            for _attempt in range(step.retries + 1):
                started = time.perf_counter()
                if step.timeout is not None:
                    budget.push_deadline(float(step.timeout), f"step {step.name} timed out after {step.timeout} s")
                try:
                    value = self.interpreter.call(step.run, ctx)
                    error = None
                except (DeadlineExceeded, LispError) as failure:
                    if not isinstance(failure, DeadlineExceeded) and not _is_program_error(failure):
                        raise
                    error = str(failure.message if isinstance(failure, DeadlineExceeded) else failure)
                finally:
                    if step.timeout is not None:
                        budget.pop_deadline()
                    self.state.observe(f"step:{run['workflow']}.{step.name}", error is None, (time.perf_counter() - started) * 1000)
                if error is None:
                    break
            if error is not None:
                run = dict(run, status="failed", error=f"step {step.name}: {error}")
                self.state.apply("workflow_update", {"run_id": run_id, "run": run, "time": self.clock()})
                return dict(run, run_id=run_id)
            ctx[step.name] = _shown(value)
            run = dict(run, ctx=plain(ctx), next=run["next"] + 1, error=None)
            self.state.apply("workflow_update", {"run_id": run_id, "run": run, "time": self.clock()})
        run = dict(run, status="done")
        self.state.apply("workflow_update", {"run_id": run_id, "run": run, "time": self.clock()})
        return dict(run, run_id=run_id)

    # -- tests -------------------------------------------------------------------------------
    def run_tests(self) -> TestReport:
        """Run every `deftest`; a test fails when it raises or returns False.

        The code under test runs between tests, so it could rebind a definition or a
        builtin that a later test relies on (short-circuiting it): each test also fails
        when a protected binding (`_protected_names`) changed while it ran, and the
        bindings are put back before the next test. The tests run are the registered ones,
        fixed before any of them runs."""
        report = TestReport()
        for name, fn in list(self.tests.items()):
            before = self._bindings()
            error: LispError | None = None
            try:
                result = self.interpreter.call(fn)
            except LispError as failure:
                error = failure
            rebound = self._rebound(before)
            if rebound:
                self._restore(before, rebound)
                report.failed[name] = f"the code under test rebinds {_shown_names(rebound)} at run time"
            elif error is not None:
                report.failed[name] = str(error)
            elif result is False:
                report.failed[name] = "returned False"
            else:
                report.passed.append(name)
        return report

    def judged_tests(self, candidate: Definition | None = None) -> list[str]:
        """The tests that judge `candidate`: every committed `deftest` (the candidate's own
        name counts once, as itself when it is a test)."""
        names = [d.name for d in self._definitions_with(candidate) if d.kind is DefinitionKind.TEST]
        return names

    # -- code as data ----------------------------------------------------------------------
    def _definition_form(self, name: Any) -> Any:
        definition = self.definitions.get(str(name))
        if definition is None:
            raise ToolError(f"agent {self.name} has no definition {name}")
        return read_many(definition.source, definition.filename)[0]

    def _rewrite_builtin(self, name: Any, form: Any, reason: str = "", bump: str | None = None) -> dict[str, Any]:
        return self.rewrite(str(name), form, reason=str(reason), bump=bump, propose=self.propose_rewrites,
                            by_agent=True).as_data()

    def _candidate(self, name: str, form: Any) -> tuple[Definition | None, list[str]]:
        """A new version of definition `name` as a `Definition` (None if `form` is not code),
        and why it is unacceptable (it must print and read back identically and define
        `name` with the same kind)."""
        old = self.definitions.get(name)
        self.interpreter.charge_expansion(form, "the candidate")
        try:
            form = as_form(form)
        except TypeError as error:
            return None, [f"the new definition is not code: {error}"]
        source = to_source(form)
        failures: list[str] = []
        try:
            reread = read_many(source, f"<rewrite {name}>")
            if len(reread) != 1 or reread[0] != form:
                failures.append("the new form does not read back identically")
            kind, new_name = classify(reread[0], f"<rewrite {name}>", source)
            if new_name != name:
                failures.append(f"the new form defines {new_name!r}, not {name!r}")
            if old is not None and kind is not old.kind:
                failures.append(f"the new form is a {kind.value}, the old one a {old.kind.value}")
        except LispError as error:
            failures.append(str(error))
            kind = old.kind if old else DefinitionKind.FUNCTION
        return Definition(name, kind, source), failures

    def rewrite(self, name: str, form: Any, *, reason: str, bump: str | None = None, propose: bool = False,
                by_agent: bool = False) -> RewriteResult:
        """Validate a new version of one definition and, if its tests pass, hot-swap and commit it.

        Validation: the form must print and read back identically, define `name`
        with the same kind, compile, and let every `deftest` of the agent pass in a
        scratch copy of the agent (its state is a copy, so tests cannot touch the
        live one). A rejected rewrite changes nothing and is recorded as a rejected
        candidate.

        With `propose` (what `rewrite!` passes when `propose_rewrites` is set) a
        candidate that passed validation is not applied: an `evolution_intent` carrying
        its source is recorded instead and the result is pending (`accepted` False,
        `pending` True, `intent` its id). Scratch agents refuse to rewrite
        (`AgentError`); canaries only propose.

        Only an existing definition can be rewritten (as with `evolve`); new definitions
        come from the seed file. `by_agent` (what `rewrite!` passes): agent code may not
        rewrite its own `deftest`s or `deffitness` tasks, which judge its rewrites.
        Nothing is hot-swapped before everything the commit needs was checked, and if the
        commit fails all the same the committed code is reloaded, so the running code
        never differs from HEAD.
        """
        if self.role != "main" and not (propose and self.role == "canary"):
            self._refuse(f"rewrite {name}")
        if not reason:
            return RewriteResult(False, name, reason, failures=["a rewrite needs a reason"])
        candidate, failures = self._candidate(name, form)
        if candidate is None:
            return RewriteResult(False, name, reason, failures=failures)
        old = self.definitions.get(name)
        if old is None:
            return RewriteResult(False, name, reason, failures=[
                f"agent {self.name} has no definition {name[:80]!r} to rewrite (new definitions come from the seed file)"])
        if not failures:
            failures = self._rewrite_problems(old, candidate, by_agent)
        source = candidate.source
        report = TestReport()
        if not failures:
            failures, report = self._trial(candidate)
        trailers = {"Tests": report.summary()}
        if failures:
            if self.repository is not None:
                rejected = dict(trailers, Rejected="; ".join(failures)[:500].replace("\n", " "))
                self.repository.record_rejected(candidate, reason, rejected)
            return RewriteResult(False, name, reason, failures=failures)
        if propose:
            intent = self._record_intent(name, reason, "agent", source)
            return RewriteResult(False, name, reason, pending=True, intent=intent)
        version = self.state.version
        if bump is not None:
            version = bump_version(version, bump)
        if self.before_risky is not None:
            self.before_risky(f"rewrite {name}: {reason}")
        try:
            self._define(candidate, self._code_filename(candidate))
            commit = None
            if self.repository is not None:
                # One commit: the change, and with a bump its version and tag.
                commit = self.repository.commit_definition(
                    candidate, reason, trailers, version=version if bump is not None else None,
                    changelog_entry=f"{name}: {reason}")
        except BaseException:
            # The swap or the commit failed: run exactly the committed code again.
            if self.repository is not None:
                self.rebuild()
            else:
                self._define(old, self._code_filename(old))
            raise
        self.state.apply("record_rewrite", {"name": name, "commit": commit or "", "version": version, "reason": reason, "time": self.clock(), "source": source})
        return RewriteResult(True, name, reason, commit=commit, version=version)

    def _rewrite_problems(self, old: Definition, candidate: Definition, by_agent: bool) -> list[str]:
        """What makes a well-formed candidate unacceptable before any of it runs."""
        if candidate.source == old.source:
            return ["the new form is the current definition (nothing to change)"]
        if by_agent and old.kind in (DefinitionKind.TEST, DefinitionKind.FITNESS):
            return [f"agent code may not rewrite its {old.kind.value} {old.name}: tests and fitness tasks judge "
                    "its rewrites (an operator can change them)"]
        return []

    def _trial(self, candidate: Definition) -> tuple[list[str], TestReport]:
        """Load the agent with `candidate` in a scratch copy and run its tests there.

        The scratch copy is built from the committed definitions and the candidate; while
        it loads, each definition may bind only its own name and register only itself
        (`_define`), so the candidate's definition-time code cannot replace a test, and
        every committed test must be registered, by its own definition, before any runs."""
        try:
            scratch = self.scratch(candidate)
        except MemoryChangeError as error:
            return [error.message], TestReport()
        except LispError as error:
            return [f"does not load: {error}"], TestReport()
        missing = [name for name in self.judged_tests(candidate) if name not in scratch.tests]
        if missing:
            return [f"test {name} was not registered by its definition" for name in missing], TestReport()
        report = scratch.run_tests()
        failures = [f"test {name} failed: {why}" for name, why in report.failed.items()]
        return failures, report

    def rollback(self, rev: str, reason: str = "operator rollback") -> str:
        """Restore the code of `rev` (as a new commit) and reload exactly that code."""
        if self.role != "main":
            self._refuse(f"rollback to {rev}")
        if self.repository is None:
            raise AgentError("this agent has no code repository to roll back")
        if self.before_risky is not None:
            self.before_risky(f"rollback to {rev}: {reason}")
        commit = self.repository.rollback(rev, reason)
        self.rebuild()
        self.state.apply("record_rewrite", {"name": "*", "commit": commit, "version": self.repository.version(), "reason": f"rollback to {rev}: {reason}", "time": self.clock()})
        return str(commit)

    def reload(self) -> None:
        """Rebuild the interpreter from the repository's current definitions (state is kept)."""
        if self.role != "main":
            self._refuse("reload")
        if self.before_risky is not None:
            self.before_risky("reload")
        self.rebuild()

    def rebuild(self) -> None:
        """Rebuild the interpreter from the repository's current definitions (state is kept),
        without `reload`'s role check and checkpoint: for the lab's scratch agents, whose
        repository a cycle just changed."""
        spec = spec_from_repository(self.repository, self.spec)
        self.spec = spec
        self.tools, self.rules, self.workflows, self.tests, self.fitness, self.definitions = {}, {}, {}, {}, {}, {}
        self.search_spaces = {}
        self.interpreter = self._new_interpreter()
        self._protected = self._protected_names(spec.definitions)
        self._define_all(spec)

    # -- lifecycle ------------------------------------------------------------------------
    def change_lifecycle(self, to: Lifecycle) -> None:
        self.state.apply("set_lifecycle", {"to": to.value, "time": self.clock()})


@dataclass(frozen=True)
class Seed:
    """An agent's seed file (``agents/NAME.hy``), read and parsed once: `Agent.load`,
    `durable_agent`, `o-lisp run` and the worker all start from one of these."""

    path: Path
    text: str
    spec: AgentSpec

    @classmethod
    def read(cls, path: str | Path) -> Seed:
        """Read and parse `path`; `AgentError` if it cannot be read, its `LispError` if it does not parse."""
        path = Path(path)
        try:
            text = path.read_text("utf-8")
        except OSError as error:
            raise AgentError(f"cannot read agent file {path}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise AgentError(f"agent file {path} is not UTF-8 text") from None
        return cls.parse(path, text)

    @classmethod
    def parse(cls, path: str | Path, text: str) -> Seed:
        """A seed whose text the caller has read already."""
        return cls(Path(path), text, read_agent(text, str(path)))


def open_code_repository(seed: Seed, data: Path, options: Mapping[str, Any] | None = None) -> tuple[Any, bool]:
    """The agent's code repository (``DATA/code``) and whether it was created now.

    An existing repository gets the seed's edits since its last import (`sync_seed`);
    a changed seed is first loaded in a scratch agent (`Agent.check_loads`, with
    `options`), so a seed that does not load is never committed. Without a repository
    one is created from the seed (after the same check). The one place a repository is
    opened from a seed: `Agent.load` and the worker (`o_lisp.worker._serve`) both call it.
    """
    code = data / "code"
    copy = data / SEED_COPY
    if code.exists():
        repository = CodeRepository.open(code)
        if seed_changed(copy, seed.text):
            Agent.check_loads(seed.spec, data, options)
        sync_seed(repository, seed.spec, copy, seed.path, seed.text)
        return repository, False
    Agent.check_loads(seed.spec, data, options)
    data.mkdir(parents=True, exist_ok=True)
    spec = seed.spec
    repository = CodeRepository.init(
        code, spec.name, spec.definitions, spec.header_source, spec.version, f"Create agent {spec.name} {spec.version}",
    )
    copy.write_text(seed.text, "utf-8")
    return repository, True


SEED_COPY = "seed.hy"


def seed_changed(copy: Path, text: str) -> bool:
    """Whether the seed text differs from the last import kept in DATA/seed.hy (so
    `sync_seed` would commit something)."""
    try:
        return copy.read_text("utf-8") != text
    except FileNotFoundError:
        return False


def sync_seed(repository: Any, spec: AgentSpec, copy: Path, seed: Path, text: str) -> list[str]:
    """Bring edits of the seed file into the repository as one commit with its own version.

    Only definitions the user changed in the seed since it was last imported are
    applied (the previous import is kept in DATA/seed.hy), so code the agent
    rewrote itself is not overwritten by a stale seed. The version is the seed's
    `:version` when the user raised it past the repository's, else the next patch
    version that was never tagged. Returns the commits made (none or one).
    """
    previous_text = copy.read_text("utf-8") if copy.exists() else None
    if previous_text == text:
        return []
    if previous_text is None:
        copy.write_text(text, "utf-8")
        return []
    previous = {d.name: d.source for d in read_agent(previous_text, str(copy)).definitions}
    committed = {d.name for d in repository.definitions()}
    changed = [d for d in spec.definitions if previous.get(d.name) != d.source]
    removed = [name for name in previous if name not in {d.name for d in spec.definitions} and name in committed]
    commits: list[str] = []
    if changed or removed:
        version = _seed_edit_version(repository, spec.version)
        names = ", ".join([d.name for d in changed] + removed)
        commits.append(repository.commit_seed_edit(
            changed, removed, f"Update from seed {seed.name}", version, f"Edited in {seed.name}: {names}"))
    copy.write_text(text, "utf-8")
    return commits


def _seed_edit_version(repository: Any, seed_version: str) -> str:
    current = repository.version()
    if SEMVER.match(seed_version) and _newer(seed_version, current) and not repository.tag_exists(seed_version):
        return seed_version
    version = bump_version(current, "patch")
    while repository.tag_exists(version):
        version = bump_version(version, "patch")
    return version


def _newer(a: str, b: str) -> bool:
    return semver_key(a) > semver_key(b)


def spec_from_repository(repository: Any, seed: AgentSpec, rev: str = "HEAD") -> AgentSpec:
    """The agent as committed at `rev` (the seed gives its name, doc and file name, and the
    forms of the definitions whose committed code is still exactly the seed's)."""
    definitions = repository.definitions(rev)
    version = repository.version(rev)
    seed_sources = {d.name: d.source for d in seed.definitions}
    forms = {d.name: seed.forms[d.name] for d in definitions
             if d.name in seed.forms and seed_sources.get(d.name) == d.source}
    return AgentSpec(seed.name, version, seed.doc, repository.header(rev), definitions, seed.filename,
                     forms=forms, source=seed.source)


def default_data_dir(name: str) -> Path:
    """Where an agent keeps its data unless told otherwise: ./.o/NAME."""
    return Path(".o") / name


def bump_version(version: str, part: str) -> str:
    match = SEMVER.match(version)
    if match is None:
        raise AgentError(f"version {version!r} is not semantic")
    major, minor, patch = (int(x) for x in match.groups()[:3])
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise AgentError(f"unknown version bump {part!r} (major, minor or patch)")


def memory_change_problem(name: str, store: Any, config: Any) -> str | None:
    """Why memory `name` cannot take `config` in place, or None.

    Only the search weights can change under existing blocks; the dimension, block size,
    embedder and the other options shaped the stored blocks (or their lifecycle rules)
    and have no migration.
    """
    for f in fields(config):
        if f.name in ("name", "weights"):
            continue
        old, new = getattr(store.config, f.name), getattr(config, f.name)
        if old != new:
            where = "while it holds blocks" if len(store) else "once the memory exists"
            return f"memory {name}: option {f.name.replace('_', '-')} cannot change ({_display(old)} → {_display(new)}) {where}"
    return None


def _memory_from_data(data: dict[str, Any]) -> Any:
    from o_lisp.memory import MemoryStore  # NumPy/Numba: loaded by the first memory restored

    return MemoryStore.from_data(data)


def _shown(value: Any) -> Any:
    try:
        check_data(value, "value")
        return plain(value)
    except StateError:
        return repr(value)[:500]


def _shown_names(keys: list[str]) -> str:
    return ", ".join(unmangle(k.removeprefix("macro:")) for k in keys[:5]) + (", ..." if len(keys) > 5 else "")


def _display(value: Any) -> str:
    return hy_repr(value)


def _is_program_error(error: LispError) -> bool:
    return isinstance(error, ProgramError)


__all__ = ["Agent", "AgentError", "AgentRole", "MemoryChangeError", "RewriteResult", "Seed", "TestReport", "Tool",
           "ToolError", "bump_version", "memory_change_problem", "open_code_repository"]
