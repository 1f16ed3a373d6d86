"""The embedding API: `Interpreter` runs o_lisp programs under `Limits`.

An interpreter owns one global environment (a dict used as the globals of all
code it compiles), its macros, its budget and its safe built-ins. Each call of
`eval`, `load` or `call` is one *evaluation*: budgets start afresh, and every
error leaves as a `LispError` with a position, never as a Python traceback of
the host. After any error the interpreter is usable again.
"""

from __future__ import annotations

import itertools
import sys
import threading
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from o_lisp import _reader
from o_lisp._assertions import make_assertion_failed
from o_lisp._budget import (
    Budget,
    RecursionLimitGuard,
    current_depth,
    recursion_limit_for,
)
from o_lisp._builtins import make_builtins
from o_lisp._compiler import CompiledUnit, Compiler, forbidden_name
from o_lisp._errors import (
    CompileError,
    LimitExceeded,
    LispError,
    OLispError,
    Position,
    ProgramError,
    SandboxViolation,
)
from o_lisp._evalthread import run_evaluation, stack_size_for
from o_lisp._fstrings import make_formatter
from o_lisp._helpers import PREFIX, RESULT
from o_lisp._limits import Limits
from o_lisp._mangle import mangle, unmangle
from o_lisp._printer import hy_repr
from o_lisp._resources import stdlib_source
from o_lisp._runtime import FATAL, FLAT_OPERANDS, Runtime
from o_lisp.forms import Expression, Form, Sequence, Symbol, as_form

_stdlib_lock = threading.Lock()

_DEFINING_FORMS = {"defn", "defmacro", "setv"}


class Interpreter:
    """A sandboxed o_lisp interpreter.

    >>> interp = Interpreter()
    >>> interp.eval("(+ 1 2)")
    3

    `capabilities` maps names to host callables the program may call; nothing
    else of the host is reachable. `stdout` receives what `print` writes
    (default: the current `sys.stdout` at the time of printing).
    """

    def __init__(
        self,
        limits: Limits | None = None,
        capabilities: Mapping[str, Callable[..., Any]] | None = None,
        *,
        stdout: Any = None,
        load_stdlib: bool = True,
        isolation: str = "none",
    ) -> None:
        self.limits = limits if limits is not None else Limits()
        if not isinstance(self.limits, Limits):
            raise TypeError("limits must be an o_lisp.Limits")
        self.isolation = _checked_isolation(isolation)
        """"none": evaluations run in this process under the in-process budgets. "process":
        `eval`, `load` and `call` run in a forked child under kernel-enforced limits and
        leave this interpreter unchanged (`o_lisp._isolation`)."""
        self._isolation_cancelled = threading.Event()
        self._stdout = stdout
        self._budget = Budget()
        self._runtime = Runtime(self._budget, self._write)
        self._macros: dict[str, Any] = {}
        self._macro_names: dict[str, str] = {}
        self._definitions: dict[str, Any] = {}
        self._sources: dict[str, str | None] = {}
        self._constant_ids = itertools.count()
        self._gensym_counter = itertools.count(1)
        self._builtins = make_builtins(self._runtime, self._helpers())
        self._budget.bind(self._builtins)
        self._globals: dict[str, Any] = {"__builtins__": self._builtins}
        self._capabilities: dict[str, Callable[..., Any]] = {}
        for name, fn in (capabilities or {}).items():
            self.grant(name, fn)
        if load_stdlib:
            self.load_library("core.hy")

    # -- public API --------------------------------------------------------------------
    def eval(self, source: Any, filename: str = "<eval>", *, limits: Limits | None = None,
             isolation: str | None = None) -> Any:
        """Evaluate source text (all its forms) or one form; return the last value.

        `isolation` overrides the interpreter's mode for this call (e.g. "none" to load
        trusted helper code into an isolated interpreter)."""

        def run() -> Any:
            with self._evaluation(limits):
                if isinstance(source, str | bytes):
                    forms = self._read(source, filename)
                    text = source if isinstance(source, str) else source.decode("utf-8")
                    self._sources[filename] = text
                else:
                    forms = [source]
                    self._sources.setdefault(filename, None)
                result = None
                for form in forms:
                    result = self._eval_form(form, filename)
                return result

        return self._run(run, limits, isolation)

    def add_source(self, filename: str, text: str) -> None:
        """Tell the interpreter the text behind forms it will be given under `filename`
        (read elsewhere), so that their errors quote the source line."""
        self._sources[filename] = text

    def load(self, path: str | Path, *, limits: Limits | None = None, isolation: str | None = None) -> Any:
        """Evaluate a file; its errors name the file's path with line and column."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise LispError(f"cannot read {path}: {error.strerror}") from None

        def run() -> Any:
            with self._evaluation(limits):
                forms = self._read(data, str(path), skip_shebang=True)
                self._sources[str(path)] = data.decode("utf-8")
                result = None
                for form in forms:
                    result = self._eval_form(form, str(path))
                return result

        return self._run(run, limits, isolation)

    def call(self, function: str | Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a Lisp function (by name or as a value) under this interpreter's limits."""
        fn = self._lookup(function) if isinstance(function, str) else function
        if not callable(fn):
            raise LispError(f"{function!r} is not a function")

        def run() -> Any:
            with self._evaluation(None):
                return fn(*args, **kwargs)

        return self._run(run, None)

    def cancel(self) -> None:
        """Stop the running evaluation at its next budget check (callable from any thread);
        an isolated evaluation's child is killed."""
        self._budget.cancel()
        self._isolation_cancelled.set()

    def define(self, name: str, value: Any) -> None:
        """Bind a global name (mangled like Hy) to a Python value."""
        pyname = self._checked_name(name)
        self._globals[pyname] = value

    def grant(self, name: str, function: Callable[..., Any]) -> None:
        """Grant a capability: a host function the program may call by `name`."""
        if not callable(function):
            raise TypeError(f"capability {name!r} must be callable")
        pyname = self._checked_name(name)
        budget = self._budget

        def capability(*args: Any, **kwargs: Any) -> Any:
            budget.charge(1)
            return function(*args, **kwargs)

        capability.__name__ = pyname
        capability.__qualname__ = pyname
        self._capabilities[pyname] = function
        self._globals[pyname] = capability

    def steps_taken(self) -> int:
        """Interpreter steps (function entries and loop iterations) the last evaluation took."""
        return self._budget.steps_taken()

    def charge_expansion(self, value: Any, what: str = "the value") -> None:
        """For capabilities that walk or copy a value the program passed (agent state,
        rewrite candidates): charge its expanded size to the running evaluation, or
        refuse it with `LimitExceeded("size")`, before the walk. Shared parts count
        each time they are referenced; the check itself visits each distinct
        container once. Outside an evaluation it does nothing."""
        if self._budget.active:
            self._runtime.check_nodes(value, what)
            self._runtime.check_text(value, what)

    def lookup(self, name: str) -> Any:
        """The value of a global name; KeyError if it is not defined."""
        return self._lookup(name)

    def forms(self, name: str) -> Any:
        """The top-level form that last defined `name` (defn, defmacro or setv)."""
        key = mangle(name)
        if key not in self._definitions:
            raise KeyError(name)
        return self._definitions[key]

    def names(self) -> list[str]:
        """Names defined by programs, capabilities and `define` (unmangled, sorted)."""
        names = {
            unmangle(k)
            for k in self._globals
            if not k.startswith("_o_") and k != "__builtins__"
        }
        names.update(self._macro_names.values())
        return sorted(names)

    def macros(self) -> list[str]:
        return sorted(self._macro_names.values())

    def builtin_names(self) -> list[str]:
        return sorted(unmangle(k) for k in self._builtins if not k.startswith("_o_"))

    # -- for the agent runtime (o_lisp.agent, o_lisp.llm, o_lisp.worker) --------------------
    @property
    def budget(self) -> Budget:
        """The running evaluation's budget: host code called from the program pushes tool
        deadlines on it and charges work to it."""
        return self._budget

    @property
    def environment(self) -> dict[str, Any]:
        """The live global environment (mangled name -> value); the agent runtime reads it
        and puts back bindings a definition was not allowed to change."""
        return self._globals

    @property
    def macro_table(self) -> dict[str, Any]:
        """The live macros (mangled name -> expander), as `environment` is for globals."""
        return self._macros

    @property
    def builtin_table(self) -> Mapping[str, Any]:
        """The safe built-ins (mangled name -> function), read-only."""
        return types.MappingProxyType(self._builtins)

    # -- evaluation machinery --------------------------------------------------------------
    def _run(self, work: Callable[[], Any], limits: Limits | None, isolation: str | None = None) -> Any:
        """Run one evaluation: in a forked child when isolated, else `_run_here`."""
        mode = self.isolation if isolation is None else _checked_isolation(isolation)
        if mode == "none" or self._budget.active:
            return self._run_here(work, limits)
        from o_lisp._isolation import (
            run_isolated,  # the fork machinery loads only for an isolated evaluation
        )

        self._isolation_cancelled.clear()

        def in_child() -> Any:
            self.isolation = "none"  # nested evaluations (capabilities) run inline in the child
            return self._run_here(work, limits)

        def set_stdout(stream: Any) -> None:
            self._stdout = stream

        return run_isolated(in_child, limits or self.limits, self._write, self._isolation_cancelled, set_stdout)

    def _run_here(self, work: Callable[[], Any], limits: Limits | None) -> Any:
        """Run one evaluation in this process, on a thread with a deep C stack.

        Some C code of CPython recurses without a depth check (hashing a tuple
        nested a million deep crashes the process on an 8 MiB stack). Nesting
        costs the program at least one step per level, so a stack sized from
        the step budget makes such structures harmless. The thread is reused
        by later evaluations (`o_lisp._evalthread`). Nested evaluations (a
        capability calling back into the interpreter) run inline.
        """
        if self._budget.active:
            return work()
        return run_evaluation(work, stack_size_for((limits or self.limits).steps), self._budget.cancel)

    @contextmanager
    def _evaluation(self, limits: Limits | None) -> Iterator[None]:
        budget = self._budget
        outermost = budget.active == 0
        effective = limits or self.limits
        budget.start(effective)
        if outermost:
            RecursionLimitGuard.enter(recursion_limit_for(effective.depth))
        try:
            yield
            if outermost and budget.failed is not None:
                # The program swallowed the failure (a `return` or `break` inside a
                # `finally` discards the pending exception): the evaluation still failed.
                raise LimitExceeded(budget.failed.limit, budget.failed.message)
        except LispError as error:
            if error.position is None:
                self._locate(error, error.__traceback__)
            raise
        except FATAL as error:
            if isinstance(error, KeyboardInterrupt | SystemExit | GeneratorExit):
                raise
            converted: LispError
            if isinstance(error, RecursionError):
                limit = self._budget.limits.depth
                converted = LimitExceeded("depth", f"call depth limit of {limit} exceeded (recursion too deep)")
            else:
                converted = LimitExceeded("memory", "out of memory")
            self._locate(converted, error.__traceback__)
            raise converted from None
        except Exception as error:
            converted = self._program_error(error)
            self._locate(converted, error.__traceback__)
            raise converted from None
        finally:
            budget.stop()
            if outermost:
                RecursionLimitGuard.exit()

    def _program_error(self, error: Exception) -> ProgramError:
        """The ProgramError for an exception the program did not catch. Its message is
        built here, under a size bound: `str(error)` would print the arguments in
        full, and one of them may be a small shared structure with a huge expansion."""
        cap = min(self._budget.limits.max_size or _MESSAGE_CAP, _MESSAGE_CAP)
        size = self._runtime.text_size(error, cap)
        if size > cap:
            return ProgramError(error, text=f"(message not shown: it would be longer than {cap} characters)")
        try:
            return ProgramError(error)
        except RecursionError:
            return ProgramError(error, text="(message not shown: its value is nested too deeply)")

    def _locate(self, error: LispError, tb: TracebackType | None) -> None:
        """Attach the position of the innermost sandboxed frame of a traceback."""
        found: Position | None = None
        filename = None
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename in self._sources:
                positions = list(code.co_positions())
                index = tb.tb_lasti // 2
                if 0 <= index < len(positions):
                    line, end_line, col, end_col = positions[index]
                    if line is not None:
                        found = Position(code.co_filename, line, (col or 0) + 1, end_line or line, end_col or 0)
                        filename = code.co_filename
            tb = tb.tb_next
        if found is not None:
            error.with_position(found, self._sources.get(filename or ""))

    def _read(self, source: str | bytes, filename: str, skip_shebang: bool = False) -> list[Any]:
        with _tooling_headroom():
            return _reader.read_many(
                source,
                filename,
                max_source=self._budget.limits.max_source,
                max_nesting=self._budget.limits.max_nesting,
                skip_shebang=skip_shebang,
            )

    def _compiler(self, filename: str) -> Compiler:
        return Compiler(
            filename=filename,
            source=self._sources.get(filename),
            macro_lookup=self._macros.get,
            expand_macro=self._expand_macro,
            constant_names=(f"_o_k{n}" for n in self._constant_ids),
            tick=lambda: self._budget.tick(),
            define_macro=lambda fn_form, name, display, is_global: self._define_macro(
                fn_form, name, display, is_global, filename),
        )

    def _define_macro(self, fn_form: Expression, name: str, display: str, is_global: bool, filename: str) -> Any:
        """Compile and run a macro's `(fn ...)` at compile time, so the macro is usable by
        the forms compiled after it. A top-level macro is registered now too (its compiled
        code registers it again when it runs, e.g. from a cached library unit)."""
        function = self._execute(self._compile(fn_form, filename), None)
        if is_global:
            self._macros[name] = function
            self._macro_names[name] = display
        return function

    def _eval_form(self, form: Any, filename: str) -> Any:
        return self._execute(self._compile(form, filename), form)

    def _compile(self, form: Any, filename: str, constant_names: Iterator[str] | None = None) -> CompiledUnit:
        compiler = self._compiler(filename)
        if constant_names is not None:
            compiler.constant_names = constant_names
        try:
            with _tooling_headroom():
                return compiler.compile_toplevel(form)
        except RecursionError:
            raise compiler.error(form, "form nested too deeply to compile") from None

    def _execute(self, unit: CompiledUnit, form: Any, scope: dict[str, Any] | None = None) -> Any:
        globals_ = self._globals
        globals_.update(unit.constants)
        if scope is not None:  # `hy.eval` in a function: reads and writes its variables' copy
            exec(unit.code, globals_, scope)
            return scope.get(RESULT)
        self._record_definition(form)
        try:
            exec(unit.code, globals_)
            return globals_.pop(RESULT, None)
        finally:
            for name in unit.temps:
                globals_.pop(name, None)

    def _record_definition(self, form: Any) -> None:
        if type(form) is Expression and len(form) >= 2 and type(form[0]) is Symbol:
            head = str(form[0])
            if head in _DEFINING_FORMS and type(form[1]) is Symbol:
                self._definitions[mangle(str(form[1]))] = form

    def _expand_macro(self, macro: Any, form: Expression) -> Any:
        name = str(form[0])
        try:
            expanded = macro(*form[1:])
        except RecursionError:
            limit = self._budget.limits.depth
            raise LimitExceeded("depth", f"call depth limit of {limit} exceeded in macro '{name}'") from None
        except FATAL:
            raise
        except LispError:
            raise
        except Exception as error:
            # Positioned by the compiler at the macro call.
            raise CompileError(f"macro '{name}' raised {type(error).__name__}: {error}") from None
        try:
            return self._checked_form(expanded, f"the expansion of macro '{name}'")
        except TypeError as error:
            raise CompileError(f"macro '{name}' returned something that is not code: {error}") from None

    def _checked_form(self, value: Any, what: str) -> Any:
        """`as_form(value)` for a value made by the program (hy.eval, hy.as-model, a
        macro's result), after charging its expanded size: converting and compiling
        visit every node of the expansion, so a shared structure is paid for in full
        (`_FORM_STEPS_PER_NODE` steps per node, the rough cost of compiling one)."""
        if self._budget.active:
            nodes = self._runtime.check_nodes(value, what)
            self._runtime.charge_work(nodes * _FORM_STEPS_PER_NODE, f"compiling {what}")
        return as_form(value)

    def _lookup(self, name: str) -> Any:
        key = mangle(name)
        if key in self._globals and not key.startswith("_o_"):
            return self._globals[key]
        raise KeyError(name)

    def _checked_name(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise ValueError(f"invalid name {name!r}")
        pyname = mangle(name)
        why = forbidden_name(pyname)
        if why or "." in pyname:
            raise SandboxViolation(why or f"invalid name {name!r}")
        return pyname

    def _write(self, text: str) -> None:
        stream = self._stdout if self._stdout is not None else sys.stdout
        stream.write(text)

    # -- helpers bound into the sandbox's builtins -------------------------------------------
    def _helpers(self) -> dict[str, Any]:
        rt = self._runtime
        budget = self._budget

        def register_macro(name: str, fn: Any, display: str) -> None:
            self._macros[name] = fn
            self._macro_names[name] = display

        def gensym(name: Any = "") -> Symbol:
            # As Hy: the whole name is mangled, keeping the reserved `_hy_` prefix.
            text = mangle(f"_hy_gensym_{name}_{next(self._gensym_counter)}")
            return Symbol("_" + text[len("_hyx_"):] if text.startswith("_hyx_") else text)

        def macroexpand_1(form: Any) -> Any:
            if type(form) is Expression and form and type(form[0]) is Symbol:
                macro = self._macros.get(mangle(str(form[0])))
                if macro is not None:
                    return self._expand_macro(macro, form)
            return form

        def macroexpand(form: Any) -> Any:
            while True:
                budget.charge(1)
                expanded = macroexpand_1(form)
                if expanded is form:
                    return form
                form = expanded

        def read_one(text: str, filename: str = "<string>") -> Any:
            charge_source(text)
            return _reader.read(text, filename, max_nesting=budget.limits.max_nesting)

        def read_many(text: str, filename: str = "<string>") -> list[Any]:
            charge_source(text)
            return _reader.read_many(text, filename, max_nesting=budget.limits.max_nesting)

        def charge_source(text: Any) -> None:
            # The reader runs in trusted Python without steps: its work (about 16 steps
            # per character) is charged before it starts.
            if isinstance(text, str | bytes):
                budget.allocate(len(text), "the source text")
                rt.charge_work(len(text) * _READ_STEPS_PER_CHAR, "reading the source text")

        def hy_eval(form: Any, scope: dict[str, Any] | None = None) -> Any:
            checked = self._checked_form(form, "the evaluated form")
            if scope is None:
                return self._eval_form(checked, "<hy.eval>")
            # Called with the calling function's `locals()` (the compiler passes them; a
            # program cannot name `_o_locals`): the form reads those variables first, as in
            # Hy; top-level assignments land in this copy. Runtime names stay out of it.
            budget.charge(len(scope))
            names = {k: v for k, v in scope.items() if not k.startswith(PREFIX)}
            return self._execute(self._compile(checked, "<hy.eval>"), checked, names)

        def yield_from(value: Any) -> Any:
            # A generator (sandboxed code's own, or a gfor) ticks on every resumption
            # itself and keeps send/close delegation; other iterables are charged
            # like a comprehension's (in bulk when sized, per item otherwise).
            if type(value) is types.GeneratorType:
                return value
            return rt.iterate(value)

        def as_model(value: Any) -> Any:
            return self._checked_form(value, "the model")

        def sandbox_mangle(name: Any) -> str:
            text = str(name) if isinstance(name, str) else name
            if isinstance(text, str):
                # Escaping a character writes up to ~90 (its Unicode name); long names
                # bypass the process-wide cache (see o_lisp._mangle).
                budget.allocate(len(text) * 90, "the mangled name")
                rt.charge_work(len(text) * _MANGLE_STEPS_PER_CHAR, "mangling the name")
            return mangle(text)

        def sandbox_unmangle(name: Any) -> str:
            if isinstance(name, str):
                budget.allocate(len(name), "the unmangled name")
                rt.charge_work(len(name) * _MANGLE_STEPS_PER_CHAR, "unmangling the name")
            return unmangle(name)

        def sandbox_repr(obj: Any) -> str:
            rt.check_text(obj, "the repr")
            return hy_repr(obj, budget.limits.max_size, budget.tick)

        def splice(value: Any) -> list[Any]:
            if not value:  # Hy splices nothing for any false value: ~@None, ~@0, ~@False
                return []
            return rt.materialize(value, "the spliced forms")

        def quasi(cls: type, items: list[Any], pos: Any) -> Any:
            budget.allocate(len(items), "the quasiquoted form")
            return cls(items, pos)

        def setslice(obj: Any, lo: Any, hi: Any, step: Any, value: Any) -> None:
            items = rt.materialize(value, "the assigned slice")
            if isinstance(obj, list):
                budget.allocate(len(obj) + len(items), "the list")
            obj[lo:hi:step] = items

        def setitem(obj: Any, key: Any, value: Any) -> None:
            if type(obj) is dict and key not in obj:
                budget.tick()
                limit = budget.limits.max_size
                if limit is not None and len(obj) >= limit:
                    budget.exceed("size", f"the dict would grow past the size limit of {limit} elements")
            obj[key] = value

        self._sources.setdefault("<hy.eval>", None)

        def text_size(value: Any) -> int:
            limit = budget.limits.max_size
            return rt.text_size(value, limit if limit is not None else 1 << 62)

        format_field, fjoin = make_formatter(
            budget, text_size, lambda v: self._builtins["str"](v), lambda v: self._builtins["repr"](v)
        )
        return {
            "_o_format": format_field,
            "_o_fjoin": fjoin,
            "_o_method": rt.method,
            **rt.method_dispatchers(),
            "_o_FATAL": FATAL,
            "_o_append": list.append,
            "_o_add_to_set": set.add,
            "_o_set": set,
            "_o_empty_list": list,
            "_o_empty_set": set,
            "_o_empty_dict": dict,
            "_o_and": _and_values,
            "_o_or": _or_values,
            "_o_setslice": setslice,
            "_o_setitem": setitem,
            "_o_flat": FLAT_OPERANDS,
            "_o_compare": rt.compare,
            "_o_contains": rt.contains,
            "_o_operand": rt.operand,
            "_o_key": rt.key,
            "_o_keys": rt.keys,
            "_o_quasi": quasi,
            "_o_splice": splice,
            "_o_register_macro": register_macro,
            "_o_add": rt.add,
            "_o_concat": rt.charge_concat,
            "_o_mul": rt.mul,
            "_o_pow": rt.pow,
            "_o_lshift": rt.lshift,
            "_o_mod": rt.mod,
            "_o_iadd": rt.iadd,
            "_o_imul": rt.imul,
            "_o_AssertionError": AssertionError,
            "_o_assertion_failed": make_assertion_failed(budget),
            "_o_type": type,
            "_o_int": int,
            "_o_float": float,
            "_o_str": str,
            "_o_list": list,
            "_o_tuple": tuple,
            "_o_dict": dict,
            "_o_len": len,
            "_o_str_replace": str.replace,
            "_o_str_split": str.split,
            "_o_hy_gensym": gensym,
            "_o_hy_mangle": sandbox_mangle,
            "_o_hy_unmangle": sandbox_unmangle,
            "_o_hy_read": read_one,
            "_o_hy_read_many": read_many,
            "_o_hy_eval": hy_eval,
            "_o_locals": locals,
            "_o_hy_as_model": as_model,
            "_o_yield_from": yield_from,
            "macroexpand": macroexpand,
            "macroexpand_1": macroexpand_1,
            "hy_repr": sandbox_repr,
        }

    # -- the standard library ------------------------------------------------------------
    def load_library(self, name: str) -> None:
        """Run a file of the stdlib directory (e.g. "agent.hy"); its compiled code is
        cached per process, so each further interpreter only re-executes it."""

        with _stdlib_lock:
            cached = _library_cache.get(name)
        # Read before evaluating: a missing file is an InstallationError, not a program error.
        source = None if cached is not None else stdlib_source(name)

        def run() -> None:
            with self._evaluation(Limits()):
                for filename, text, form, unit in _library_units(self, name, cached, source):
                    self._sources[filename] = text
                    self._execute(unit, form)

        self._run_here(run, Limits())


def _checked_isolation(mode: Any) -> str:
    if mode not in ("none", "process"):
        raise ValueError(f"isolation must be 'none' or 'process', not {mode!r}")
    return str(mode)


def _and_values(*values: Any) -> Any:
    """`(and #* xs)`: the first false value, else the last (True when there are none)."""
    result: Any = True
    for value in values:
        result = value
        if not value:
            return value
    return result


def _or_values(*values: Any) -> Any:
    """`(or #* xs)`: the first true value, else the last (None when there are none)."""
    result: Any = None
    for value in values:
        result = value
        if value:
            return value
    return result


# Budget steps charged for host work that runs without ticking, per unit of input:
# roughly its cost in the time one step takes.
_READ_STEPS_PER_CHAR = 16
# The longest message a ProgramError repeats from the program's exception.
_MESSAGE_CAP = 1_000_000
_MANGLE_STEPS_PER_CHAR = 4
_FORM_STEPS_PER_NODE = 16

# Frames the reader and compiler may use on top of the current depth: the program's
# depth budget (Limits.depth) is for its own calls, not for reading and compiling it.
_TOOLING_FRAMES = 8_000


@contextmanager
def _tooling_headroom() -> Iterator[None]:
    needed = current_depth() + _TOOLING_FRAMES
    previous = sys.getrecursionlimit()
    if needed <= previous:
        yield
        return
    sys.setrecursionlimit(needed)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


_library_cache: dict[str, list[tuple[str, str, Any, CompiledUnit]]] = {}
_library_constant_ids = itertools.count()


def _library_units(
    interp: Interpreter,
    name: str,
    cached: list[tuple[str, str, Any, CompiledUnit]] | None,
    source: tuple[str, str] | None,
) -> list[tuple[str, str, Any, CompiledUnit]]:
    """Compiled forms of a stdlib file. The first interpreter to load it compiles and runs
    them (`source` is its filename and text); later ones reuse the code objects (`cached`),
    whose constants carry stdlib-only names."""
    if cached is not None:
        return cached
    assert source is not None
    filename, text = source
    interp._sources[filename] = text
    names = (f"_o_s{n}" for n in _library_constant_ids)
    units = []
    for form in _reader.read_many(text, filename):
        unit = interp._compile(form, filename, names)
        interp._execute(unit, form)
        units.append((filename, text, form, unit))
    with _stdlib_lock:
        _library_cache.setdefault(name, units)
    return []


__all__ = ["Form", "Interpreter", "OLispError", "Sequence"]
