"""Security suite: escape and exhaustion attempts against the o_lisp sandbox.

Every attempt is a program run by a fresh ``o_lisp.Interpreter`` that must FAIL
CLOSED with the right error class:

* ``SandboxViolation`` when the program reaches out of the sandbox,
* ``LimitExceeded`` with the right ``.limit`` when it exhausts a budget,
* ``ReadError`` (with a position) when the text itself is an attack.

After each attempt the SAME interpreter must still work, a fresh interpreter
must still work, and the host must be unchanged (recursion limit, builtins,
signal handlers and interval timers, threads, stdio, cwd, environment, ...).

Isolation: each attempt runs in a forked child process whose address space is
watched: the parent kills it when its resident memory grows by more than
``RSS_KILL`` or when it runs longer than ``CHILD_TIMEOUT``, and the child reports
its peak resident growth (VmHWM), which must stay under ``PEAK_ALLOWED``. So a
memory bomb that is not refused *before* allocating shows up as "ALLOCATED"
(not as an OOM-killed CI runner), a hang as "HANG", a C stack overflow as
"CRASH ... SIGSEGV", and one broken case cannot take the rest of the suite down.

Where the exact class is debatable the case lists the acceptable outcomes and
a comment says why; every alternative is still a closed failure, so each case
can fail (escape = a returned value, a raw Python exception, a crash, a hang,
a host-state change or an unusable interpreter afterwards).
"""

from __future__ import annotations

import builtins
import gc
import os
import pickle
import resource
import select
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import o_lisp
from o_lisp import (
    Interpreter,
    LimitExceeded,
    Limits,
    OLispError,
    ProgramError,
    ReadError,
    SandboxViolation,
)

try:  # CompileError is only ever an *acceptable alternative* below.
    from o_lisp import CompileError
except ImportError:  # pragma: no cover - the contract says it exists
    CompileError = SandboxViolation  # type: ignore[misc,assignment]

# Memory policing of a child (RSS = resident memory it added after the fork):
PEAK_ALLOWED = 640 << 20  # an attempt touching more than this was refused too late
RSS_KILL = 1 << 30  # the parent kills a child growing past this (keeps CI < ~1 GB extra)
# Hard safety net on address space. Generous because the interpreter reserves
# (without touching) up to 1 GiB of C stack per evaluation thread.
AS_HEADROOM = 4 << 30
CHILD_TIMEOUT = 15.0  # seconds before the parent kills a child ("hung")

# --------------------------------------------------------------------------
# expected outcomes
# --------------------------------------------------------------------------

Outcome = tuple[str, Any]
SV: Outcome = ("SandboxViolation", None)
RE: Outcome = ("ReadError", None)
CE: Outcome = ("CompileError", None)

_CLASSES: dict[str, type[BaseException]] = {
    "SandboxViolation": SandboxViolation,
    "ReadError": ReadError,
    "CompileError": CompileError,
    "LimitExceeded": LimitExceeded,
    "ProgramError": ProgramError,
}


def L(*limits: str) -> list[Outcome]:
    """LimitExceeded with one of these `.limit` values."""
    return [("LimitExceeded", name) for name in limits]


def P(type_name: str) -> Outcome:
    """ProgramError wrapping a `type_name` exception (an ordinary, harmless program error)."""
    return ("ProgramError", type_name)


def V(value: Any) -> Outcome:
    """The program returns exactly this value (positive controls only)."""
    return ("value", value)


def _flatten(expected: Any) -> list[Outcome]:
    if isinstance(expected, tuple) and len(expected) == 2 and isinstance(expected[0], str):
        return [expected]
    out: list[Outcome] = []
    for item in expected:
        out.extend(_flatten(item))
    return out


# --------------------------------------------------------------------------
# host health
# --------------------------------------------------------------------------

_DANGEROUS_MODULES = (
    "ctypes",
    "subprocess",
    "pty",
    "socket",
    "pickle",
    "marshal",
    "code",
    "codeop",
    "pdb",
    "pydoc",
    "webbrowser",
    "multiprocessing",
    "importlib.util",
    "runpy",
    "shutil",
    "_posixsubprocess",
)


def _host_snapshot() -> dict[str, Any]:
    return {
        "recursionlimit": sys.getrecursionlimit(),
        "int_max_str_digits": sys.get_int_max_str_digits(),
        "builtins": dict(vars(builtins)),
        "builtins_module": sys.modules.get("builtins"),
        "trace": sys.gettrace(),
        "profile": sys.getprofile(),
        "threading_trace": threading.gettrace(),
        "stdio": (sys.stdin, sys.stdout, sys.stderr),
        "hooks": (sys.excepthook, sys.displayhook, sys.breakpointhook, sys.unraisablehook),
        "cwd": os.getcwd(),
        "environ": dict(os.environ),
        "sys_path": list(sys.path),
        "meta_path": list(sys.meta_path),
        "path_hooks": list(sys.path_hooks),
        "signals": {
            s: signal.getsignal(s)
            for s in (
                signal.SIGALRM,
                signal.SIGINT,
                signal.SIGTERM,
                signal.SIGVTALRM,
                signal.SIGPROF,
                signal.SIGUSR1,
                signal.SIGXCPU,
            )
        },
        "itimers": tuple(
            signal.getitimer(t)
            for t in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)
        ),
        "gc": (gc.isenabled(), gc.get_threshold()),
        "switch_interval": sys.getswitchinterval(),
        "thread_stack_size": threading.stack_size(),
        "warnings_filters": list(warnings.filters),
        "dangerous_modules": {m for m in _DANGEROUS_MODULES if m in sys.modules},
        "setrecursionlimit": sys.setrecursionlimit,
        "cpu_rlimit": resource.getrlimit(resource.RLIMIT_CPU),
    }


def _host_diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    diffs: list[str] = []
    for key, old in before.items():
        new = after[key]
        if key == "builtins":
            changed = sorted(
                k
                for k in set(old) | set(new)
                if k not in old or k not in new or old[k] is not new[k]
            )
            if changed:
                diffs.append(f"builtins module changed: {changed[:10]}")
        elif key == "dangerous_modules":
            if new - old:
                diffs.append(f"newly imported host modules: {sorted(new - old)}")
        elif key in (
            "environ",
            "cwd",
            "sys_path",
            "recursionlimit",
            "int_max_str_digits",
            "gc",
            "switch_interval",
            "thread_stack_size",
            "itimers",
            "cpu_rlimit",
        ):
            if old != new:
                diffs.append(f"{key}: {old!r:.200} -> {new!r:.200}")
        elif isinstance(old, dict):
            bad = [k for k in old if old[k] is not new.get(k)]
            if bad:
                diffs.append(f"{key} changed for {bad}")
        elif isinstance(old, list | tuple):
            if len(old) != len(new) or any(a is not b for a, b in zip(old, new, strict=False)):
                diffs.append(f"{key} changed")
        elif old is not new:
            diffs.append(f"{key}: {old!r:.100} -> {new!r:.100}")
    return diffs


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)[:300]
    except BaseException as error:  # deep structures etc.
        return f"<unrepresentable {type(value).__name__}: {type(error).__name__}>"


# --------------------------------------------------------------------------
# running one attempt in a forked, memory-capped child
# --------------------------------------------------------------------------


def _status_bytes(field: str, pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field}")  # pragma: no cover


def _in_child(fn: Callable[[], dict[str, Any]], timeout: float) -> dict[str, Any]:
    """Run `fn` in a forked, watched child and return its (pickled) report."""
    base_rss = _status_bytes("VmRSS")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(read_fd)
            cap = _status_bytes("VmSize") + AS_HEADROOM
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            try:
                with open("/proc/self/clear_refs", "w") as refs:
                    refs.write("5")  # reset VmHWM to the current RSS
            except OSError:
                pass
            start_rss = _status_bytes("VmRSS")
            try:
                report = fn()
            except BaseException as error:
                report = {
                    "harness_error": f"{type(error).__name__}: {error}\n{traceback.format_exc()}"
                }
            report["peak_growth"] = _status_bytes("VmHWM") - start_rss
            try:
                data = pickle.dumps(report)
            except BaseException as error:
                data = pickle.dumps({"harness_error": f"unpicklable report: {error!r}"})
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(data)
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    problem = ""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                problem = f"HANG: the attempt did not finish within {timeout:.0f}s (child killed)"
                break
            ready, _, _ = select.select([pipe], [], [], min(left, 0.02))
            if not ready:
                try:
                    grown = _status_bytes("VmRSS", pid) - base_rss
                except (OSError, RuntimeError):
                    grown = 0  # exiting
                if grown > RSS_KILL:
                    problem = f"ALLOCATED: child grew by {grown >> 20} MiB (killed)"
                    break
                continue
            chunk = pipe.read(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    if problem:
        os.kill(pid, signal.SIGKILL)  # our own child, by pid
        os.waitpid(pid, 0)
        pytest.fail(problem)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        pytest.fail(f"CRASH: child killed by signal {signal.Signals(os.WTERMSIG(status)).name}")
    if not chunks:
        pytest.fail(f"CRASH: child exited with status {os.WEXITSTATUS(status)} without a report")
    report: dict[str, Any] = pickle.loads(b"".join(chunks))
    return report


def _classify(error: BaseException, expected: list[Outcome]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": f"{type(error).__module__}.{type(error).__qualname__}",
        "message": str(error)[:400],
        "limit": getattr(error, "limit", None),
        "type_name": getattr(error, "type_name", None),
        "position": str(getattr(error, "position", None)),
        "has_position": getattr(error, "position", None) is not None,
        "is_olisp": isinstance(error, OLispError),
        "matched": False,
    }
    if not isinstance(error, OLispError):
        info["traceback"] = "".join(traceback.format_exception(error))[-3000:]
    for kind, detail in expected:
        cls = _CLASSES.get(kind)
        if cls is None or not isinstance(error, cls):
            continue
        if kind == "LimitExceeded" and detail is not None and info["limit"] != detail:
            continue
        if kind == "ProgramError" and detail is not None and info["type_name"] != detail:
            continue
        info["matched"] = True
    return info


@dataclass
class Attempt:
    """One program (or host action) and the outcomes that count as failing closed."""

    source: Any  # str | bytes | form | Callable[[Interpreter], Any]
    expected: Any
    limits: Limits | None = None
    capabilities: dict[str, Any] | None = None
    setup: tuple[str, ...] = ()
    need_position: bool = False  # ReadErrors must say where
    verify: Callable[[Interpreter], str | None] | None = None  # extra child-side check
    timeout: float = CHILD_TIMEOUT


_REUSE_PROGRAM = (
    "(do (defn sec-ok [n] (if (< n 1) 0 (+ 1 (sec-ok (- n 1))))) "
    '(+ (sec-ok 50) (len (lfor i (range 20) i)) (len (.upper "ab"))))'
)


_PRISTINE: dict[tuple[Any, int], Interpreter] = {}


def _pristine(
    limits: Limits | None = None, capabilities: dict[str, Any] | None = None
) -> Interpreter:
    """A constructed but never-evaluated interpreter, built once in the parent.

    Only children ever evaluate with it, so every child starts from an
    untouched copy (and the suite does not pay the constructor per case).
    """
    key = (limits, id(capabilities))
    if key not in _PRISTINE:
        kwargs: dict[str, Any] = {}
        if limits is not None:
            kwargs["limits"] = limits
        if capabilities is not None:
            kwargs["capabilities"] = capabilities
        _PRISTINE[key] = Interpreter(**kwargs)
    return _PRISTINE[key]


def _child_body(attempt: Attempt, interp: Interpreter, spare: Interpreter) -> dict[str, Any]:
    expected = _flatten(attempt.expected)
    assert interp.eval("(+ 1 2)") == 3  # warm-up: lazy state is created before the snapshot
    for line in attempt.setup:
        interp.eval(line)
    threads_before = threading.active_count()
    before = _host_snapshot()
    report: dict[str, Any] = {}
    started = time.monotonic()
    try:
        if callable(attempt.source) and not isinstance(attempt.source, str | bytes):
            value = attempt.source(interp)
        else:
            value = interp.eval(attempt.source)
    except BaseException as error:
        report["raised"] = _classify(error, expected)
    else:
        report["returned"] = _safe_repr(value)
        report["returned_type"] = type(value).__name__
        report["value_matched"] = any(
            kind == "value" and type(detail) is type(value) and detail == value
            for kind, detail in expected
        )
    report["seconds"] = round(time.monotonic() - started, 2)
    after = _host_snapshot()
    deadline = time.monotonic() + 1.0
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.01)
    diffs = _host_diff(before, after)
    if threading.active_count() > threads_before:
        diffs.append(f"threads leaked: {threads_before} -> {threading.active_count()}")
    report["host_diffs"] = diffs
    # the SAME interpreter must still work, with fresh budgets
    try:
        report["reuse"] = _safe_repr(interp.eval(_REUSE_PROGRAM))
    except BaseException as error:
        report["reuse"] = f"RAISED {type(error).__name__}: {error}"[:400]
    try:
        report["fresh"] = _safe_repr(spare.eval("(+ 1 2)"))
    except BaseException as error:
        report["fresh"] = f"RAISED {type(error).__name__}: {error}"[:400]
    if attempt.verify is not None:
        try:
            report["verify"] = attempt.verify(interp)
        except BaseException as error:
            report["verify"] = f"verify raised {type(error).__name__}: {error}"
    return report


def run_attempt(attempt: Attempt) -> dict[str, Any]:
    interp = _pristine(attempt.limits, attempt.capabilities)
    spare = _pristine()
    report = _in_child(lambda: _child_body(attempt, interp, spare), attempt.timeout)
    if "harness_error" in report:
        pytest.fail(f"harness error in child:\n{report['harness_error']}")
    wanted = _flatten(attempt.expected)
    if "returned" in report:
        if not report["value_matched"]:
            pytest.fail(
                f"NOT REFUSED: returned {report['returned_type']} {report['returned']} "
                f"(expected one of {wanted})"
            )
    else:
        info = report["raised"]
        if not info["is_olisp"]:
            pytest.fail(
                f"RAW HOST EXCEPTION {info['type']}: {info['message']}\n"
                f"(expected one of {wanted})\n{info.get('traceback', '')}"
            )
        if not info["matched"]:
            pytest.fail(
                f"WRONG CLASS {info['type']} limit={info['limit']} type_name={info['type_name']}: "
                f"{info['message']}\n(expected one of {wanted})"
            )
        if attempt.need_position and not info["has_position"]:
            pytest.fail(f"{info['type']} without a position: {info['message']}")
    assert report["peak_growth"] < PEAK_ALLOWED, (
        f"ALLOCATED: resident memory peaked {report['peak_growth'] >> 20} MiB above the start "
        f"(refused too late); outcome {report.get('raised') or report.get('returned')}"
    )
    assert report["host_diffs"] == [], f"HOST STATE CHANGED: {report['host_diffs']}"
    assert report["reuse"] == "72", f"interpreter unusable afterwards: {report['reuse']}"
    assert report["fresh"] == "3", f"a fresh interpreter is broken afterwards: {report['fresh']}"
    if attempt.verify is not None:
        assert report["verify"] is None, f"side effect / verify failed: {report['verify']}"
    return report


def _run_cases(cases: dict[str, Attempt], case_id: str) -> None:
    run_attempt(cases[case_id])


# Tight budgets that keep the suite fast (each is still a real budget).
STEPS = Limits(steps=100_000, time=5)
SIZE = Limits(max_size=100_000, time=5)
SIZE10K = Limits(max_size=10_000, time=1)
GROW = Limits(max_size=100_000, time=1)
FAST = Limits(time=5)
TIME1 = Limits(steps=None, time=1)


def A(source: Any, expected: Any, **kw: Any) -> Attempt:
    return Attempt(source, expected, **kw)


# ==========================================================================
# 1. dunders and introspection through every attribute syntax
# ==========================================================================

DUNDER = {
    "dotted-symbol-class": A("(setv x 1) x.__class__", SV),
    "dot-form-class": A("(. 1 __class__)", SV),
    "method-syntax-class": A("(.__class__ 1)", SV),
    "bases-chain": A("(. 1 __class__ __bases__)", SV),
    "subclasses-walk": A('((. (. (. "" __class__) __base__) __subclasses__))', SV),
    "subclasses-method-on-exception": A("(.__subclasses__ Exception)", SV),
    "function-globals": A("(defn f [] 1) f.__globals__", SV),
    "function-globals-builtins-index": A('(defn f [] 1) (. f __globals__ ["__builtins__"])', SV),
    "get-of-globals-attr": A('(defn f [] 1) (get (. f __globals__) "__builtins__")', SV),
    "reduce-ex": A("(.__reduce_ex__ [] 2)", SV),
    "reduce": A("(.__reduce__ (fn [] 1))", SV),
    "mro-method": A("(.mro ValueError)", SV),
    "mro-attribute": A("(. ValueError mro)", SV),
    "dunder-mro": A("ValueError.__mro__", SV),
    "function-dict": A("(defn f [] 1) f.__dict__", SV),
    "code-object": A("(defn f [] 1) (. f __code__ co_consts)", SV),
    "closure-cell": A("(defn f [x] (fn [] x)) (. (f 1) __closure__ [0] cell_contents)", SV),
    "builtin-self-is-builtins-module": A("(. print __self__)", SV),
    "bound-method-self": A("(. [] append __self__)", SV),
    "func-of-method": A("(defn f [] 1) (. f __func__)", SV),
    "init-call": A('(.__init__ (Exception) "x")', SV),
    "getattribute": A('(.__getattribute__ "" "__class__")', SV),
    "setattr-form": A("(setv e (Exception)) (setv (. e __class__) ValueError)", SV),
    "setattr-dotted": A("(setv e (Exception)) (setv e.foo 1)", SV),
    "del-attribute": A("(defn f [] 1) (del (. f __globals__))", SV),
    # plain (non-dunder) attributes are outside the subset too (contract)
    "non-dunder-attribute": A("(. 1 real)", SV),
    # int.to_bytes is off the allow-list (and would be a 1 GB allocation)
    "non-allowlisted-int-method": A('(.to_bytes 1 (** 10 9) "big")', [SV, *L("size")]),
    "exception-with-traceback-method": A(
        "(try (len 1) (except [e TypeError] (.with_traceback e None)))", SV
    ),
    # Hy mangling: `__class--` mangles to `__class__`
    "mangled-dashes-attribute": A("(. 1 __class--)", SV),
    "mangled-dashes-method": A("(.__class-- 1)", SV),
    "hyphen-prefixed-attribute": A("(. 1 --class--)", SV),
    # NFKC look-alikes that normalise to dunders (Python identifiers are NFKC-normalised)
    "fullwidth-lowline-attribute": A("(. 1 ＿＿class＿＿)", SV),
    "fullwidth-lowline-method": A("(.＿＿class＿＿ 1)", SV),
    "math-script-letter-attribute": A("(. 1 __𝒸lass__)", SV),
    "fullwidth-dotted": A("(setv x 1) x.＿＿class＿＿", SV),
    "keyword-call-dunder": A(
        '(:__class__ "abc")',
        # Hy compiles (:k x) to x["k"]: a subscript, not an attribute, so
        # TypeError is Hy's answer; refusing the dunder keyword is also closed.
        [SV, P("TypeError")],
    ),
    "get-with-dunder-string-is-subscript": A('(get "abc" "__class__")', P("TypeError")),
    "f-string-dunder": A(
        'f"{(. 1 __class__)}"',
        # f-strings are outside the contract's subset: refusing them at read or
        # compile time is as closed as refusing the attribute inside.
        [SV, RE, CE],
    ),
    "f-string-dotted-dunder": A('(setv x 1) f"{x.__class__}"', [SV, RE, CE]),
}


@pytest.mark.parametrize("case", DUNDER)
def test_dunder_and_introspection(case: str) -> None:
    _run_cases(DUNDER, case)


# ==========================================================================
# 2. withheld host builtins and reserved names smuggled in
# ==========================================================================

_WITHHELD_CALLS = {
    "getattr": '(getattr 1 "__class__")',
    "setattr": '(setattr (Exception) "x" 1)',
    "delattr": '(delattr (Exception) "args")',
    "hasattr": '(hasattr 1 "__class__")',
    "vars": "(vars)",
    "dir": "(dir 1)",
    "type": "(type 1)",
    "type-3-arg": '(type "A" #() {})',
    "globals": '(get (globals) "__builtins__")',
    "locals": "(locals)",
    "compile": '(compile "1" "f" "eval")',
    "open": '(open "/etc/passwd")',
    "exec": '(exec "import os")',
    "eval": "(eval \"__import__('os')\")",
    "__import__": '(__import__ "os")',
    "breakpoint": "(breakpoint)",
    "input": "(input)",
    "help": "(help)",
    "memoryview": '(memoryview b"abc")',
    "object": "(object)",
    "super": "(super)",
    "classmethod": "(classmethod print)",
    "staticmethod": "(staticmethod print)",
    "property": "(property print)",
    "exit": "(exit)",
    "quit": "(quit)",
    "__build_class__": '(__build_class__ print "A")',
    "__builtins__-ref": "__builtins__",
    "__builtins__-get": '(get __builtins__ "open")',
    "__loader__": "__loader__",
    "__spec__": "__spec__",
    "__name__": "__name__",
    "getattr-passed-to-map": '(list (map getattr [1] ["__class__"]))',
}

_RESERVED = {
    "setv-builtins": "(setv __builtins__ {})",
    "global-builtins": "(defn f [] (global __builtins__) (setv __builtins__ 1)) (f)",
    "del-builtins": "(del __builtins__)",
    "let-builtins": "(let [__builtins__ 1] __builtins__)",
    "defn-dunder-name": "(defn __init__ [] 1)",
    "defn-getattr-hook": "(defn __getattr__ [name] 1)",
    "setv-class": "(setv __class__ 1)",
    "dunder-parameter": "(defn f [__class__] __class__) (f 1)",
    "dunder-keyword-only": "(defn f [* __class__] 1) (f :__class__ 1)",
    "mangled-dashes-import": '(__import-- "os")',
    "mangled-dashes-setv": "(setv __builtins-- 1)",
    "fullwidth-getattr": '(ｇｅｔａｔｔｒ 1 "__class__")',
    "math-bold-getattr": '(𝐠𝐞𝐭𝐚𝐭𝐭𝐫 1 "__class__")',
    "modifier-letter-eval": '(ᵉval "1")',
    "fullwidth-import": '(＿＿import＿＿ "os")',
    "fullwidth-open": '(ｏｐｅｎ "/etc/passwd")',
    "mixed-width-import": '(__ｉｍｐｏｒｔ__ "os")',
    "defclass": "(defclass A [] (setv x 1))",
    "defclass-exception-subclass": "(defclass E [Exception] (defn __init__ [self] 1))",
    "with-open": '(with [f (open "/etc/passwd")] (.read f))',
    "raise-systemexit": "(raise SystemExit)",
}

NAMES = {f"call-{k}": A(v, SV) for k, v in _WITHHELD_CALLS.items()}
NAMES |= {k: A(v, SV) for k, v in _RESERVED.items()}
# type(name, bases, dict) would build a class: refused by arity is also closed.
NAMES["call-type-3-arg"] = A('(type "A" #() {})', [SV, P("TypeError")])
# `type` is the sandbox's own: it answers with the sandbox's classes (the guarded
# constructors), never with host classes such as `type` itself or `function`.
NAMES["call-type"] = A("(= (type 1) int)", V(True))
NAMES["type-of-type"] = A("(type (type 1))", SV)
NAMES["type-of-function"] = A("(type (fn [] 1))", SV)
NAMES["type-of-generator"] = A("(type (gfor x [1] x))", SV)

_WITHHELD_VALUES = (
    "getattr setattr open exec eval compile globals locals vars dir input help breakpoint"
)


def _leaked_builtins(interp: Interpreter) -> list[str]:
    """Withheld names used as *values* may be refused or be inert stubs, never the real thing."""
    names = _WITHHELD_VALUES.split()
    values = interp.eval(f"[{' '.join(names)}]")
    return [n for n, v in zip(names, values, strict=True) if v is getattr(builtins, n)]


NAMES["withheld-names-as-values"] = A(_leaked_builtins, [SV, V([])])
NAMES["withheld-value-called-later"] = A('(setv g getattr) (g 1 "__class__")', SV)
# `raise SystemExit`: SystemExit is withheld, so an unknown-name NameError is
# also acceptable, but it must never actually reach the host as SystemExit.
NAMES["raise-systemexit"] = A("(raise SystemExit)", [SV, P("NameError")])
NAMES |= {
    # Internal names: a name Hy would mangle to `hyx_...` or that looks like an
    # interpreter internal is either refused (reserved) or simply unbound: both
    # are closed; what must not happen is resolving to a host object.
    "hyx-lowline-import": A('(hyx_Xlow_lineX_import__ "os")', [SV, P("NameError")]),
    "hyx-name": A("hyx_XgetattrX", [SV, P("NameError")]),
    "o-internal-rt": A("_o_rt", [SV, P("NameError")]),
    "o-internal-runtime": A("_o_runtime", [SV, P("NameError")]),
    "o-internal-globals": A("_o_globals", [SV, P("NameError")]),
    # Assigning an internal-looking name is refused or harmless; the reuse
    # check afterwards proves it did not clobber the runtime.
    "o-internal-setv": A("(setv _o_rt 1 _o_globals 2 _o_runtime 3) (+ 1 2)", [SV, V(3)]),
    "try-catch-sandbox-violation": A('(try (getattr 1 "x") (except [] "caught"))', SV),
    "try-catch-nameerror-import": A('(try (__import__ "os") (except [e NameError] "caught"))', SV),
}


@pytest.mark.parametrize("case", NAMES)
def test_withheld_and_reserved_names(case: str) -> None:
    _run_cases(NAMES, case)


# ==========================================================================
# 3. str.format / format_map / % formatting
# ==========================================================================

FORMAT = {
    "format-field-dunder": A('(.format "{0.__class__}" 1)', SV),
    "format-plain": A('(.format "{}" 1)', SV),  # contract: no str.format at all
    "format-map-dunder": A('(.format_map "{a.__class__}" {"a" 1})', SV),
    "format-index-globals": A('(.format "{0.__globals__[__builtins__]}" (fn [] 1))', SV),
    "percent-mapping-ok": A('(% "%(a)s-%(b)d" {"a" "x" "b" 2})', V("x-2")),
    "percent-huge-width": A('(% "%999999999d" 1)', L("size")),
    # refusing `*` widths outright is as closed as pricing them
    "percent-huge-star-width": A('(% "%*d" #(999999999 1))', [*L("size"), SV]),
    "percent-huge-precision-int": A('(% "%.999999999d" 1)', L("size")),
    "percent-huge-precision-float": A('(% "%.999999999f" 1.0)', L("size")),
    "percent-huge-width-mapping": A('(% "%(a)999999999s" {"a" 1})', L("size")),
    "percent-bytes-huge-width": A('(% b"%999999999d" 1)', L("size")),
    "format-builtin-width": A(
        '(format 1 "999999999")',
        # `format` is not among the safe builtins: refusing the name is closed,
        # granting it must still respect max_size.
        [SV, *L("size")],
    ),
    "f-string-huge-width": A('f"{1 :>999999999}"', [*L("size"), RE, CE]),
}


@pytest.mark.parametrize("case", FORMAT)
def test_format_attacks(case: str) -> None:
    _run_cases(FORMAT, case)


# ==========================================================================
# 4. frames, generators, tracebacks
# ==========================================================================

FRAMES = {
    "generator-frame": A("(. (gfor x [1] x) gi_frame)", SV),
    "generator-frame-back": A("(setv g (gfor x [1] x)) g.gi_frame.f_back", SV),
    "generator-frame-globals": A("(. (gfor x [1] x) gi_frame f_globals)", SV),
    "generator-code": A("(. (gfor x [1] x) gi_code)", SV),
    "coroutine-frame": A("(. 1 cr_frame)", SV),
    "traceback-frame-globals": A(
        "(try (/ 1 0) (except [e ZeroDivisionError] (. e __traceback__ tb_frame f_globals)))", SV
    ),
    "traceback-dotted": A("(try (/ 1 0) (except [e ZeroDivisionError] e.__traceback__))", SV),
    "exception-context": A(
        '(try (try (/ 1 0) (except [e ZeroDivisionError] (raise (ValueError "x"))))'
        " (except [e ValueError] (. e __context__)))",
        SV,
    ),
    "exception-cause": A(
        '(try (try (/ 1 0) (except [e ZeroDivisionError] (raise (ValueError "x") :from e)))'
        " (except [e ValueError] (. e __cause__ __traceback__)))",
        SV,
    ),
    "limit-exception-traceback": A(
        "(try (while True) (except [e Exception] (. e __traceback__ tb_frame)))",
        [*L("steps"), SV],  # the attribute may be refused before anything runs
        limits=STEPS,
    ),
    "caught-host-typeerror-dig": A(
        "(try (len 1) (except [e TypeError] (. e __traceback__ tb_next tb_frame f_builtins)))", SV
    ),
}


@pytest.mark.parametrize("case", FRAMES)
def test_frames_and_tracebacks(case: str) -> None:
    _run_cases(FRAMES, case)


# ==========================================================================
# 5. import / require / eval-and-compile / py / hy.*
# ==========================================================================


def _no_file(path: str) -> Callable[[Interpreter], str | None]:
    def verify(_interp: Interpreter) -> str | None:
        return f"ESCAPE: {path} was created" if os.path.exists(path) else None

    return verify


_CANARY = f"/tmp/o_lisp_sec_canary_{os.getpid()}"

IMPORTS = {
    "import-os": A("(import os)", SV),
    "import-os-path": A("(import os.path)", SV),
    "import-from": A("(import os [system])", SV),
    "import-as": A("(import os :as o)", SV),
    "import-in-function": A("(defn f [] (import os) os) (f)", SV),
    "require": A("(require hyrule)", SV),
    "require-names": A("(require os [path])", SV),
    "eval-and-compile": A("(eval-and-compile (import os))", SV),
    "eval-when-compile": A("(eval-when-compile (import os))", SV),
    "do-mac": A("(do-mac (import os) 1)", SV),
    "pys": A('(pys "import os")', SV),
    "py": A("(py \"__import__('os')\")", SV),
    "hy-eval-import": A("(hy.eval '(import os))", SV),
    "hy-eval-read-form": A('(hy.eval (hy.read "(import os)"))', SV),
    "hy-compile": A('(hy.compile \'(+ 1 2) "x")', SV),
    "hy-macros": A('(hy.macros.macro "m")', SV),
    "hy-M": A("(hy.M.os.getcwd)", SV),
    "hy-I-system": A(f'(hy.I.os.system "touch {_CANARY}")', SV, verify=_no_file(_CANARY)),
    "hy-I-dot-form": A("(. hy I os)", SV),
    "hy-dict": A("hy.__dict__", SV),
    "hy-models-mro": A("hy.models.Symbol.__mro__", SV),
    "hy-as-value-attr": A("(setv h hy) h.I", [SV, P("NameError")]),  # `hy` is not a value
    "defreader": A("(defreader foo 1)", SV),  # contract: reader macros -> SandboxViolation
}


@pytest.mark.parametrize("case", IMPORTS)
def test_import_and_eval(case: str) -> None:
    _run_cases(IMPORTS, case)


# ==========================================================================
# 6. macro-time attacks (macros run inside the same sandbox and budgets)
# ==========================================================================

MACROS = {
    "macro-body-import": A("(defmacro m [] (import os) 1) (m)", SV),
    "macro-body-getattr": A('(defmacro m [] (getattr 1 "__class__")) (m)', SV),
    "macro-generates-dot-dunder": A("(defmacro m [x] `(. ~x __class__)) (m 1)", SV),
    "macro-generates-method-dunder": A("(defmacro m [] `(.__subclasses__ Exception)) (m)", SV),
    "macro-builds-import-call": A(
        '(defmacro m [] (hy.models.Expression [(hy.models.Symbol "__import__")'
        ' (hy.models.String "os")])) (m)',
        SV,
    ),
    "macro-builds-fullwidth-symbol": A(
        '(defmacro m [] (hy.models.Symbol "ｇｅｔａｔｔｒ")) ((m) 1 "__class__")', SV
    ),
    "macro-builds-dotted-symbol": A(
        '(defmacro m [] (hy.models.Symbol "x.__class__")) (setv x 1) (m)', SV
    ),
    "macro-returns-read-form": A('(defmacro m [] (hy.read "(. 1 __class__)")) (m)', SV),
    "macro-defines-dunder-function": A(
        '(defmacro m [] `(defn ~(hy.models.Symbol "__getattr__") [n] 1)) (m)', SV
    ),
    "macroexpand-forbidden": A("(defmacro m [] (import os)) (hy.macroexpand '(m))", SV),
    "macro-infinite-loop": A("(defmacro m [] (while True) 1) (m)", L("steps"), limits=STEPS),
    "macro-infinite-loop-time": A("(defmacro m [] (while True) 1) (m)", L("time"), limits=TIME1),
    "macro-int-bomb": A("(defmacro m [] (** 10 10000000)) (m)", L("int_bits")),
    "macro-string-bomb": A('(defmacro m [] (* "a" (** 10 9))) (m)', L("size")),
    "macro-deep-recursion": A("(defmacro m [] (defn f [k] (f (+ k 1))) (f 0)) (m)", L("depth")),
    # A macro expanding to itself loops (iteratively: steps; nested: depth);
    # "expansion nested too deeply" is a CompileError about the program's shape.
    "macro-self-expansion": A("(defmacro m [] '(m)) (m)", [*L("depth", "steps"), CE], limits=STEPS),
    "macro-growing-expansion": A(
        "(defmacro m [] '(+ 1 (m))) (m)", [*L("depth", "steps"), CE], limits=STEPS
    ),
    "macro-deep-legit-expansion": A(
        "(defmacro m [n] (if (> n 0) `(+ 1 (m ~(- n 1))) 0)) (m 5000)",
        # Hy itself dies with RecursionError; the sandbox may compute it or refuse on depth.
        [V(5000), *L("depth"), CE],
    ),
}


@pytest.mark.parametrize("case", MACROS)
def test_macro_time_attacks(case: str) -> None:
    _run_cases(MACROS, case)


# ==========================================================================
# 7. budgets cannot be caught, swallowed or outlived by the program
# ==========================================================================

UNCATCHABLE = {
    "except-exception": A(
        '(try (while True) (except [e Exception] "caught"))', L("steps"), limits=STEPS
    ),
    "bare-except": A('(try (while True) (except [] "caught"))', L("steps"), limits=STEPS),
    "except-baseexception": A(
        '(try (while True) (except [e BaseException] "caught"))',
        # BaseException is withheld: a static refusal of the name is also closed.
        [*L("steps"), SV],
        limits=STEPS,
    ),
    "except-recursionerror": A(
        '(defn f [] (f)) (try (f) (except [e RecursionError] "caught"))',
        [*L("depth"), SV],  # RecursionError is withheld (see above)
    ),
    "depth-bare-except": A('(defn f [] (f)) (try (f) (except [] "caught"))', L("depth")),
    "depth-except-exception": A(
        '(defn f [] (f)) (try (f) (except [e Exception] "caught"))', L("depth")
    ),
    "depth-catch-and-retry": A(
        "(defn f [] (try (f) (except [] (f)))) (f)", L("depth"), limits=STEPS
    ),
    "finally-loops-forever-steps": A(
        "(try (while True) (finally (while True)))", L("steps"), limits=STEPS
    ),
    "finally-loops-forever-time": A(
        "(try (while True) (finally (while True)))", L("time"), limits=TIME1
    ),
    "except-handler-loops": A(
        "(try (while True) (except [] (while True)))", L("steps"), limits=STEPS
    ),
    "swallow-and-retry-loop": A(
        "(while True (try (while True) (except [] None)))", L("steps"), limits=STEPS
    ),
    "return-in-finally": A(
        "(defn f [] (try (while True) (finally (return 1)))) (f)", L("steps"), limits=STEPS
    ),
    "break-in-finally": A(
        "(while True (try (while True) (finally (break))))", L("steps"), limits=STEPS
    ),
    "continue-in-finally": A(
        "(for [i (range 3)] (try (while True) (finally (continue))))", L("steps"), limits=STEPS
    ),
    "else-clause-after-limit": A(
        '(try (while True) (except [e ValueError] 1) (else "else"))', L("steps"), limits=STEPS
    ),
    "limit-in-generator-with-finally": A(
        "(list (gfor x (range 3) (do (try (while True) (finally None)) x)))",
        L("steps"),
        limits=STEPS,
    ),
    "int-bits-caught-as-overflow": A(
        '(try (** 10 10000000) (except [e [OverflowError MemoryError ArithmeticError]] "caught"))',
        [*L("int_bits"), SV],  # MemoryError is withheld; a static refusal is also closed
    ),
    "size-caught-as-exception": A(
        '(try (* "a" (** 10 9)) (except [e Exception] "caught"))', L("size")
    ),
}


@pytest.mark.parametrize("case", UNCATCHABLE)
def test_limits_are_uncatchable(case: str) -> None:
    _run_cases(UNCATCHABLE, case)


# ==========================================================================
# 8. deep recursion: always LimitExceeded("depth"), never RecursionError/crash
# ==========================================================================

_DEEP_LIST = "(setv x []) (for [i (range 100000)] (setv x [x]))"
_DEEP_LIST_2 = "(setv y []) (for [i (range 100000)] (setv y [y]))"
_DEEP_TUPLE = "(setv x #()) (for [i (range 100000)] (setv x #(x)))"
_DEEP_DICT = '(setv x {}) (for [i (range 100000)] (setv x {"k" x}))'


def _nested(open_: str, close: str, depth: int, inner: str) -> str:
    return open_ * depth + inner + close * depth


_WIDE: dict[str, Any] = {"limits": Limits(time=2), "timeout": 4}
# Compiling a 20 000-clause form takes a few hundred MiB in CPython's compiler; the watchdog's
# memory samples may stop it first, which is as closed as the others.
_WIDE_OK = [*L("depth", "steps", "time", "memory"), CE]

DEPTH = {
    "self-recursion": A("(defn f [n] (f (+ n 1))) (f 0)", L("depth")),
    "mutual-recursion": A("(defn a [n] (b n)) (defn b [n] (a n)) (a 0)", L("depth")),
    "lambda-recursion": A("(setv f (fn [n] (f n))) (f 0)", L("depth")),
    "recursion-through-map": A("(defn g [x] (list (map g [x]))) (g 0)", L("depth")),
    "recursion-through-filter": A("(defn p [x] (list (filter p [x]))) (p 0)", L("depth")),
    "recursion-through-sorted-key": A("(defn k [x] (sorted [1 2] :key k) x) (k 0)", L("depth")),
    "recursion-through-max-key": A("(defn k [x] (max [1 2] :key k)) (k 0)", L("depth")),
    "recursion-through-lfor": A("(defn g [x] (lfor y [x] (g y))) (g 0)", L("depth")),
    "recursion-through-gfor-list": A("(defn g [x] (list (gfor y [x] (g y)))) (g 0)", L("depth")),
    "hy-repr-deep-list": A(f"{_DEEP_LIST} (hy.repr x)", L("depth")),
    "str-deep-list": A(f"{_DEEP_LIST} (str x)", L("depth")),
    "repr-deep-list": A(f"{_DEEP_LIST} (repr x)", L("depth")),
    "repr-deep-dict": A(f"{_DEEP_DICT} (repr x)", L("depth")),
    "compare-deep-lists": A(f"{_DEEP_LIST} {_DEEP_LIST_2} (= x y)", L("depth")),
    "order-deep-lists": A(f"{_DEEP_LIST} {_DEEP_LIST_2} (< x y)", L("depth")),
    "in-deep-lists": A(f"{_DEEP_LIST} {_DEEP_LIST_2} (in x [y])", L("depth")),
    # tuple hashing recurses in C without a depth check: must not crash
    "hash-deep-tuple": A(f"{_DEEP_TUPLE} (= (hash x) (hash x))", [V(True), *L("depth")]),
    "sorted-deep-lists": A(f"{_DEEP_LIST} {_DEEP_LIST_2} (sorted [x y])", L("depth")),
    # Within the reader's nesting limit, a deep but valid program must either
    # run or stop on the depth budget: never a host RecursionError.
    # Within the reader's nesting limit, a deep but valid program must run, stop
    # on the depth budget or be refused by the compiler: never RecursionError.
    "deep-valid-expression": A(_nested("(+ 1 ", ")", 990, "0"), [V(990), *L("depth"), CE]),
    "deep-valid-quoted-data": A(
        "(len (hy.repr '" + _nested("[", "]", 990, "") + "))", [V(2 * 990), *L("depth"), CE]
    ),
    "deep-valid-if": A(_nested("(if True ", " 0)", 990, "1"), [V(1), *L("depth"), CE]),
    # Flat source that the compiler/macros turn into deep trees (bypasses
    # max_nesting). Compiling is part of the evaluation: it must stay within
    # the time budget (2 s; the child is killed after 4 s) and 640 MiB.
    "wide-variadic-plus": A("(+ " + "1 " * 50_000 + ")", [V(50_000), *_WIDE_OK], **_WIDE),
    "wide-and-chain": A("(and " + "1 " * 50_000 + ")", [V(1), *_WIDE_OK], **_WIDE),
    "wide-comparison-chain": A(
        "(< " + " ".join(map(str, range(50_000))) + ")", [V(True), *_WIDE_OK], **_WIDE
    ),
    "wide-cond": A("(cond " + "False 0 " * 20_000 + "True 1)", [V(1), *_WIDE_OK], **_WIDE),
    "long-threading-macro": A(
        "(defn f [x] x) (-> 1 " + "f " * 20_000 + ")", [V(1), *_WIDE_OK], **_WIDE
    ),
}


@pytest.mark.parametrize("case", DEPTH)
def test_deep_recursion(case: str) -> None:
    _run_cases(DEPTH, case)


# ==========================================================================
# 9. infinite loops and C-level iteration
# ==========================================================================

# Unsized iterators made only of host builtins: 4M cheap items, and 4M items
# that each cost a 4M-element C loop (days of CPU with the GIL held).
_LONG = "(map abs (* [1] 4000000))"
_HEAVY = "(map max (* [(range 4000000)] 4000000))"

LOOPS = {
    "while-true-steps": A("(while True)", L("steps"), limits=STEPS),
    "while-true-time": A("(while True)", L("time"), limits=TIME1),
    "while-true-default-limits": A(
        "(while True)",
        # default Limits(): whichever of steps (10M) / time (10 s) comes first
        L("steps", "time"),
    ),
    "for-over-long-gfor": A(f"(for [x (gfor i {_LONG} i)] x)", L("steps"), limits=STEPS),
    "for-over-long-map": A(f"(for [x {_LONG}] x)", L("steps"), limits=STEPS),
    "lfor-over-long-map": A(f"(lfor x {_LONG} x)", L("steps", "size"), limits=STEPS),
    "list-of-long-map": A(f"(list {_LONG})", L("size"), limits=SIZE),  # 4M items > max_size
    "list-of-long-gfor": A(f"(list (gfor i {_LONG} i))", L("steps", "size"), limits=STEPS),
    "sorted-long-map": A(f"(sorted {_LONG})", L("steps", "size"), limits=STEPS),
    # Lazy ranges beyond max_size may be refused at creation (size) or priced per item.
    "max-huge-range": A("(max (range (** 10 18)))", L("steps", "time", "size"), limits=STEPS),
    "sum-huge-range": A("(sum (range (** 10 18)))", L("steps", "time", "size"), limits=STEPS),
    "in-huge-range-map": A(
        "(in -1 (map abs (range (** 10 18))))", L("steps", "time", "size"), limits=STEPS
    ),
    # One host builtin call that never returns to compiled code: the time
    # budget must still hold (the child is killed after `timeout`).
    "heavy-max-of-map-max": A(f"(max {_HEAVY})", L("time", "steps"), limits=TIME1, timeout=3),
    "heavy-all-of-map-all": A(
        "(all (map all (* [(range 1 4000000)] 4000000)))",
        L("time", "steps"),
        limits=TIME1,
        timeout=3,
    ),
    # Each step runs a ~40 ms C loop: the clock must be read often enough.
    "heavy-steps-time-granularity": A(
        "(setv r (range 4000000)) (while True (max r))", L("time", "steps"), limits=TIME1, timeout=3
    ),
    "fan-out-recursion": A(
        "(defn f [n] (when (< n 40) (f (+ n 1)) (f (+ n 1)))) (f 0)", L("steps"), limits=STEPS
    ),
    "fan-out-recursion-time": A(
        "(defn f [n] (when (< n 40) (f (+ n 1)) (f (+ n 1)))) (f 0)", L("time"), limits=TIME1
    ),
    "expensive-step-time": A("(while True (** 7 30000))", L("time"), limits=TIME1),
    # A closure handed to the host must stay bounded when the host calls it later.
    "host-calls-returned-closure": A(
        lambda interp: interp.eval("(fn [] (while True))")(),
        [*L("steps", "time"), SV],  # or refused outright outside `eval`
        limits=STEPS,
    ),
    "host-call-api": A(
        lambda interp: (interp.eval("(defn spin [] (while True))"), interp.call("spin")),
        L("steps"),
        limits=STEPS,
    ),
}


@pytest.mark.parametrize("case", LOOPS)
def test_infinite_loops(case: str) -> None:
    _run_cases(LOOPS, case)


# ==========================================================================
# 10. memory bombs: refused before allocating (the child has only ~1 GB)
# ==========================================================================

_GROW = "(setv c {1}) (setv i 0) (while True {0} (+= i 1))"

MEMORY = {
    "pow-operator": A("(** 10 10000000)", L("int_bits")),
    "pow-builtin": A("(pow 10 10000000)", L("int_bits")),
    "left-shift": A("(<< 1 100000000)", L("int_bits")),
    "multiply-big-ints": A("(setv a (<< 1 99990)) (* a a)", L("int_bits")),
    "square-loop": A("(setv n 2) (while True (setv n (* n n)))", L("int_bits")),
    "shift-big-int": A("(<< (<< 1 99990) 100)", L("int_bits")),
    "int-from-decimal-string": A(
        '(int (* "9" 1000000))',
        # Python's own 4300-digit guard (ValueError) also refuses before work.
        [*L("int_bits"), P("ValueError")],
    ),
    "int-from-hex-string": A(
        '(int (* "f" 1000000) 16)', L("int_bits")
    ),  # no digit guard for base 16
    "int-from-binary-string": A('(int (* "1" 1000000) 2)', L("int_bits")),
    "hex-literal": A("0x" + "f" * 1_000_000, [*L("int_bits"), RE]),
    "str-of-bigint": A(
        "(len (str (<< 1 83000)))",
        # not a bomb under max_int_bits; Hy raises ValueError (digit guard), an
        # implementation may also return the length. Host digit limit must not change.
        [V(24986), P("ValueError")],
    ),
    "string-repeat": A('(* "a" (** 10 9))', L("size")),
    "string-repeat-reversed": A('(* (** 10 9) "a")', L("size")),
    "string-repeat-just-over": A('(* "ab" 10000000)', L("size")),
    "list-repeat": A("(* [0] (** 10 9))", L("size")),
    "tuple-repeat": A("(* #(0) (** 10 9))", L("size")),
    "bytes-repeat": A('(* b"a" (** 10 9))', L("size")),
    "list-repeat-wide": A("(* (list (range 1000)) (** 10 7))", L("size")),
    "string-doubling": A('(setv s "a") (while True (setv s (+ s s)))', L("size")),
    "string-augmented-doubling": A('(setv s "a") (while True (+= s s))', L("size")),
    "list-doubling": A("(setv s [0]) (while True (setv s (+ s s)))", L("size")),
    "list-extend-self": A("(setv s [0]) (while True (.extend s s))", L("size")),
    "list-inplace-multiply": A("(setv s [0]) (while True (*= s 2))", L("size")),
    "join-many": A('(.join "" (* ["abc"] 5000000))', L("size")),
    "join-big-separator": A('(.join (* "a" 1000000) (* ["b"] 1000))', L("size")),
    "ljust": A('(.ljust "a" (** 10 9))', L("size")),
    "rjust": A('(.rjust "a" (** 10 9))', L("size")),
    "center": A('(.center "a" (** 10 9))', L("size")),
    "zfill": A('(.zfill "1" (** 10 9))', L("size")),
    "expandtabs": A('(.expandtabs "\\t\\t" (** 10 9))', L("size")),
    "bytes-ljust": A('(.ljust b"a" (** 10 9))', [*L("size"), SV]),  # may be off the allow-list
    "replace-empty": A('(.replace (* "a" 100000) "" (* "b" 100000))', L("size")),
    "translate-expand": A(
        '(.translate (* "a" 1000000) {97 (* "b" 1000000)})', [*L("size"), SV]
    ),  # translate may be off the allow-list (SV); if allowed it must respect max_size
    "list-of-huge-range": A("(list (range (** 10 9)))", L("size")),
    "tuple-of-huge-range": A("(tuple (range (** 10 9)))", L("size")),
    "set-of-huge-range": A("(set (range (** 10 9)))", L("size")),
    "sorted-huge-range": A("(sorted (range (** 10 9)))", L("size")),
    "dict-of-huge-zip": A(
        "(dict (zip (range (** 10 9)) (range (** 10 9))))", L("size", "steps"), limits=SIZE
    ),
    # Iterating a 10**9 range may be charged up front (steps) or stopped by
    # the growing result (size): both budgets are genuinely exceeded.
    "lfor-huge-range": A("(lfor x (range (** 10 9)) x)", L("size", "steps"), limits=SIZE),
    "list-map-huge-range": A("(list (map abs (range (** 10 9))))", L("size", "steps"), limits=SIZE),
    "dfor-huge-range": A("(dfor i (range (** 10 9)) i i)", L("size", "steps"), limits=SIZE),
    "sfor-huge-range": A("(sfor i (range (** 10 9)) i)", L("size", "steps"), limits=SIZE),
    # Unsized sources: only the size of the growing collection can stop these
    # before the step budget (10M) - max_size covers "any created collection".
    "lfor-unsized-growth": A(f"(lfor x {_LONG} x)", L("size"), limits=SIZE),
    "dict-setitem-growth": A(_GROW.format("(setv (get c i) i)", "{}"), L("size"), limits=GROW),
    "dict-update-growth": A(_GROW.format("(.update c {i i})", "{}"), L("size"), limits=GROW),
    "dict-setdefault-growth": A(_GROW.format("(.setdefault c i i)", "{}"), L("size"), limits=GROW),
    "set-add-growth": A(_GROW.format("(.add c i)", "(set)"), L("size"), limits=GROW),
    "list-append-growth": A(_GROW.format("(.append c i)", "[]"), L("size"), limits=GROW),
    "list-insert-growth": A(_GROW.format("(.insert c 0 i)", "[]"), L("size"), limits=SIZE10K),
    "list-setv-plus-growth": A(_GROW.format("(setv c (+ c [i]))", "[]"), L("size"), limits=SIZE10K),
    # Many medium allocations, each under max_size: the process-growth budget.
    "many-medium-strings": A(
        '(setv xs []) (while True (.append xs (* "a" (- 4000000 (len xs)))))', L("memory", "size")
    ),
    "many-medium-lists": A(
        "(setv xs []) (while True (.append xs (* [(len xs)] 3000000)))", L("memory", "size")
    ),
    # Integers: products, powers, shifts, parsing and sums are checked against
    # max_int_bits before they are built. + and - grow an integer by at most one bit per
    # operation (documented in docs/language.md), so repeated doubling is stopped by the
    # step and time budgets and a single sum of two maximal ints is one bit over.
    "add-doubling-int": A(
        "(setv a 1) (while True (setv a (+ a a)))", L("time", "steps"), limits=Limits(time=1)
    ),
    "sum-of-big-ints": A("(setv a (<< 1 99999)) (sum [a a a a])", L("int_bits")),
    "subtract-big-ints-one-bit": A("(setv a (<< 1 99999)) (.bit-length (- (- a) a))", V(100001)),
    # One C call that would run for minutes: must be refused, it cannot be interrupted.
    "modular-pow-cpu-bomb": A(
        "(pow (<< 1 60000) (+ (<< 1 20000) 1) (- (<< 1 99000) 1))",
        L("int_bits", "time", "steps"),
        limits=TIME1,
        timeout=3,
    ),
    "bytes-hex-over-max-size": A('(.hex (* b"a" 60000))', L("size"), limits=SIZE),
    "cyclic-compare": A("(setv a []) (.append a a) (setv b []) (.append b b) (= a b)", L("depth")),
    "cyclic-hy-repr": A("(setv a []) (.append a a) (hy.repr a)", [V("[[...]]"), *L("depth")]),
    "str-of-big-list": A("(str (* [0] 90000))", L("size"), limits=SIZE),
    "hy-repr-of-big-list": A("(hy.repr (* [0] 90000))", L("size"), limits=SIZE),
    "encode-expands": A('(.encode (* "\\U0010ffff" 30000))', L("size"), limits=SIZE),
}


@pytest.mark.parametrize("case", MEMORY)
def test_memory_bombs(case: str) -> None:
    _run_cases(MEMORY, case)


# ==========================================================================
# 11. reader attacks: ReadError, quickly, with a position
# ==========================================================================


def _R(source: Any, expected: Any = RE) -> Attempt:
    # "quickly": the child is killed after 4 s (reading is not budgeted by Limits.time)
    return Attempt(source, expected, need_position=True, timeout=4)


READER = {
    "deep-parens": _R("(" * 100_000 + ")" * 100_000),
    "deep-unclosed-brackets": _R("[" * 100_000),
    "deep-tuples": _R("#(" * 100_000),
    "deep-braces": _R("{" * 100_000),
    # 100 000 nested quotes is nesting too; stopping it on the depth budget at
    # compile time would also be closed, but the reader is where it belongs.
    "deep-quotes": A("'" * 100_000 + "x", [RE, *L("depth")], timeout=4),
    "deep-quasiquotes": A("`" * 100_000 + "x", [RE, *L("depth")], timeout=4),
    "deep-unquotes": A("`" + "~" * 100_000 + "x", [RE, *L("depth")], timeout=4),
    "deep-discards": _R("#_ " * 100_000 + "x"),
    "fifty-megabytes": _R(lambda i: i.eval("(+ 1 2) " * (50 * 1024 * 1024 // 8))),
    "fifty-megabyte-string": _R(lambda i: i.eval('"' + "a" * (50 * 1024 * 1024) + '"')),
    "invalid-utf8-bytes": _R(b"(+ 1 \xff)"),
    "truncated-utf8-bytes": _R(b'(print "\xc3")'),
    "nul-in-code": _R("(+ 1\x002)"),
    "nul-in-string": _R('"a\x00b"'),
    "reader-macro": _R("#foo x"),
    "unterminated-string": _R('(print "abc'),
    "unterminated-list": _R("(+ 1 2"),
    "stray-closer": _R(")"),
    "mismatched-closer": _R("(1 ]"),
    "unterminated-bracket-string": _R("#[[abc"),
    "string-ending-in-backslash": _R('"\\'),
    "invalid-escape": _R('"\\q"'),
    "bad-named-escape": _R('"\\N{NOT A REAL CHARACTER NAME}"'),
    "short-hex-escape": _R('"\\x4"'),
    "unterminated-string-6mb": _R(lambda i: i.eval('"' + "a" * (6 * 1024 * 1024))),
    "many-unclosed-at-limit": _R("(" * 999 + "[" * 1 + "{" * 1),
}


@pytest.mark.parametrize("case", READER)
def test_reader_attacks(case: str) -> None:
    _run_cases(READER, case)


def test_reader_api_deep_nesting_and_bytes() -> None:
    """The bare `read`/`read_many` API fails closed the same way."""

    def body() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for label, text in {
            "deep": "(" * 100_000,
            "bytes": b"(a \xfe)",
            "nul": "a\x00",
            "huge": "1 " * (9 * 1024 * 1024),
        }.items():
            try:
                o_lisp.read_many(text)
                out[label] = "no error"
            except ReadError as error:
                out[label] = "ok" if error.position is not None else "no position"
            except BaseException as error:
                out[label] = f"{type(error).__name__}: {error}"[:300]
        return out

    report = _in_child(body, CHILD_TIMEOUT)
    report.pop("peak_growth")
    assert report == {"deep": "ok", "bytes": "ok", "nul": "ok", "huge": "ok"}


# ==========================================================================
# 12. capabilities and host objects
# ==========================================================================


class _Recorder:
    """A host object whose methods share names with allow-listed str/list/dict methods."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _hit(self, name: str) -> str:
        self.calls.append(name)
        return "HOST CALLED"

    def replace(self, *a: Any) -> str:
        return self._hit("replace")

    def pop(self, *a: Any) -> str:
        return self._hit("pop")

    def remove(self, *a: Any) -> str:
        return self._hit("remove")

    def get(self, *a: Any) -> str:
        return self._hit("get")

    def count(self, *a: Any) -> str:
        return self._hit("count")

    def upper(self, *a: Any) -> str:
        return self._hit("upper")


_RECORDER = _Recorder()


def _recorder_untouched(_interp: Interpreter) -> str | None:
    return f"ESCAPE: host methods called: {_RECORDER.calls}" if _RECORDER.calls else None


def _greet(name: str, punctuation: str = "!") -> str:
    return f"hi {name}{punctuation}"


CAPS = {"greet": _greet, "host-object": lambda: _RECORDER}

_VICTIM = f"/tmp/o_lisp_sec_victim_{os.getpid()}"


def _make_victim(interp: Interpreter) -> None:
    with open(_VICTIM, "w") as f:
        f.write("x")
    interp.define("host-os", os)


def _victim_survives(_interp: Interpreter) -> str | None:
    alive = os.path.exists(_VICTIM)
    if alive:
        os.remove(_VICTIM)
    return None if alive else f"ESCAPE: {_VICTIM} was deleted through the os module"


def _os_method(method: str) -> Callable[[Interpreter], Any]:
    def run(interp: Interpreter) -> Any:
        _make_victim(interp)
        return interp.eval(f'(.{method} host-os "{_VICTIM}")')

    return run


CAPABILITIES = {
    "granted-is-callable": A('(greet "bob")', V("hi bob!"), capabilities=CAPS),
    "granted-with-keyword": A('(greet "bob" :punctuation "?")', V("hi bob?"), capabilities=CAPS),
    "ungranted-open": A('(open "x")', SV, capabilities=CAPS),
    # `shell` is not a Python builtin, just an unbound name: Hy semantics (NameError).
    "ungranted-shell": A('(shell "ls")', P("NameError"), capabilities=CAPS),
    "capability-globals": A("(. greet __globals__)", SV, capabilities=CAPS),
    "capability-closure": A("greet.__closure__", SV, capabilities=CAPS),
    "capability-call-dunder": A('(.__call__ greet "x")', SV, capabilities=CAPS),
    "capability-code": A("(. greet __code__ co_filename)", SV, capabilities=CAPS),
    # The method allow-list must depend on the receiver's type, not on the name.
    **{
        f"host-object-method-{m}": A(
            f'(.{m} (host-object) "a" "b")', SV, capabilities=CAPS, verify=_recorder_untouched
        )
        for m in ("replace", "pop", "remove", "get", "count", "upper")
    },
    "host-object-attribute": A("(. (host-object) calls)", SV, capabilities=CAPS),
    "defined-os-remove": A(_os_method("remove"), SV, verify=_victim_survives),
    "defined-os-unlink": A(_os_method("unlink"), SV, verify=_victim_survives),
    "defined-os-system": A(
        lambda interp: (
            interp.define("host-os", os),
            interp.eval(f'(.system host-os "touch {_CANARY}")'),
        ),
        SV,
        verify=_no_file(_CANARY),
    ),
    "defined-os-attribute": A(
        lambda interp: (interp.define("host-os", os), interp.eval("host-os.environ")), SV
    ),
    "call-passes-os-to-lisp": A(
        lambda interp: (
            interp.eval(f'(defn f [m] (.system m "touch {_CANARY}"))'),
            interp.call("f", os),
        ),
        SV,
        verify=_no_file(_CANARY),
    ),
    "crafted-form-import": A(
        lambda interp: interp.eval(
            o_lisp.forms.Expression([o_lisp.forms.Symbol("__import__"), o_lisp.forms.String("os")])
        ),
        SV,
    ),
    "crafted-form-dotted-symbol": A(
        lambda interp: interp.eval(o_lisp.forms.Symbol("greet.__globals__")),
        SV,
        capabilities=CAPS,
    ),
    "crafted-form-fullwidth-symbol": A(
        lambda interp: interp.eval(
            o_lisp.forms.Expression(
                [
                    o_lisp.forms.Symbol("ｇｅｔａｔｔｒ"),
                    o_lisp.forms.Integer(1),
                    o_lisp.forms.String("__class__"),
                ]
            )
        ),
        SV,
    ),
    # Rebinding safe builtins in one interpreter must not leak into another one.
    "shadowing-is-per-interpreter": A(
        lambda interp: (
            Interpreter().eval("(setv len 0 str 0 print 0 sorted 0)"),
            Interpreter().eval('(+ (len "ab") (len (sorted [3 1])) (len (str 10)))'),
        )[1],
        V(6),
    ),
}


@pytest.mark.parametrize("case", CAPABILITIES)
def test_capabilities_and_host_objects(case: str) -> None:
    _run_cases(CAPABILITIES, case)


def test_suite_is_big_enough() -> None:
    tables = (
        DUNDER,
        NAMES,
        FORMAT,
        FRAMES,
        IMPORTS,
        MACROS,
        UNCATCHABLE,
        DEPTH,
        LOOPS,
        MEMORY,
        READER,
        CAPABILITIES,
    )
    assert sum(len(t) for t in tables) >= 60
