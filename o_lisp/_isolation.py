"""Hard limits: one evaluation in a forked child process (`Interpreter(isolation="process")`).

The in-process budgets are checked between steps, so one C call that runs for minutes
or allocates gigabytes (a hash-flooded set, a comparison of two huge shared structures,
a capability stuck in C) cannot be interrupted. Here the evaluation runs in a child
forked from the embedding process, under limits the kernel enforces:

* **time**: the parent kills the child (SIGKILL) at the evaluation's time limit plus
  `GRACE_SECONDS`, and the child's RLIMIT_CPU ends it once it has used that much CPU;
* **memory**: the child's RLIMIT_AS is its address space at the fork plus the
  evaluation thread's stack plus `Limits.memory` plus `AS_SLACK`: an allocation past it
  fails (MemoryError, reported as `LimitExceeded("memory")`) instead of growing the host;
* **crashes**: a child killed by any signal is reported as an error, the host lives on.

Each isolated evaluation is independent: the child is a fork of the host at the moment
of the call, so it sees the interpreter exactly as the host holds it (its definitions,
`define`d values and granted capabilities), and whatever it defines or changes in memory
is discarded with it. Only three things come back, as msgpack data (never pickled, never
code): what the program printed, its value (plain data: None, bools, ints, floats,
strings, bytes, lists, tuples as lists, dicts), or its error (class from a fixed list,
message, limit, position).
"""

from __future__ import annotations

import contextlib
import faulthandler
import math
import os
import resource
import select
import signal
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import msgpack

from o_lisp._errors import (
    CompileError,
    LimitExceeded,
    LispError,
    Position,
    ProgramError,
    ReadError,
    SandboxViolation,
)
from o_lisp._evalthread import stack_size_for
from o_lisp._limits import Limits
from o_lisp._reader import PrematureEndOfInput

GRACE_SECONDS = 1.0
"""How long past its time limit an isolated evaluation may run before it is killed."""
AS_SLACK = 256 * 1024 * 1024
"""Address space allowed on top of `Limits.memory` (allocator arenas, the reader, the result)."""
MAX_RESULT_BYTES = 64 * 1024 * 1024
"""Largest message (output chunk, value or error) the parent accepts from the child."""
ISOLATION_MODES = ("none", "process")

_HEADER = struct.Struct(">I")
_EXIT_OK = 0
_EXIT_FAILED = 70
_ERRORS: dict[str, type[LispError]] = {
    cls.__name__: cls
    for cls in (LispError, ReadError, PrematureEndOfInput, CompileError, SandboxViolation, LimitExceeded)
}
_PROGRAM_EXCEPTIONS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (Exception, ArithmeticError, AssertionError, AttributeError, IndexError, KeyError, LookupError,
                NameError, NotImplementedError, OverflowError, RuntimeError, StopIteration, TypeError,
                UnboundLocalError, UnicodeError, ValueError, ZeroDivisionError)
}


class IsolatedProgramException(Exception):
    """Stands for an exception raised in the child whose class is not a safe built-in one."""


def _send(fd: int, message: dict[str, Any]) -> None:
    body = msgpack.packb(message, use_bin_type=True)
    data = _HEADER.pack(len(body)) + body
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class _PipeText:
    """The child's `stdout`: each write goes to the parent at once (an output message)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, text: str) -> int:
        _send(self.fd, {"t": "out", "text": str(text)})
        return len(text)

    def flush(self) -> None:
        pass


def _error_message(error: BaseException) -> dict[str, Any]:
    if isinstance(error, LispError):
        position = error.position
        message: dict[str, Any] = {
            "t": "err", "cls": type(error).__name__, "message": error.message,
            "limit": getattr(error, "limit", None), "source": error.source,
            "position": None if position is None else [position.filename, position.line, position.column,
                                                       position.end_line, position.end_column],
        }
        if isinstance(error, ProgramError):
            message["cls"] = "ProgramError"
            message["type_name"] = error.type_name
            message["text"] = str(error.exception)
        return message
    return {"t": "err", "cls": "LispError", "message": f"the isolated evaluation failed: {type(error).__name__}: {error}",
            "limit": None, "source": None, "position": None}


def _apply_child_limits(limits: Limits) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.time is not None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(usage.ru_utime + usage.ru_stime + limits.time + GRACE_SECONDS)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
    if limits.memory is not None:
        with open("/proc/self/statm", "rb") as f:
            virtual = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        ceiling = virtual + stack_size_for(limits.steps) + limits.memory + AS_SLACK
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))


def _child(work: Callable[[], Any], limits: Limits, fd: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # the parent handles ^C and kills us
    faulthandler.disable()  # a crash is reported to the parent as data, not dumped on its stderr
    try:
        _apply_child_limits(limits)
        value = work()
    except BaseException as error:  # everything goes back as data
        _send(fd, _error_message(error))
        return _EXIT_OK
    try:
        _send(fd, {"t": "ok", "value": value})
    except (TypeError, ValueError, OverflowError) as error:
        _send(fd, {"t": "err", "cls": "LispError", "limit": None, "source": None, "position": None,
                   "message": f"the value of an isolated evaluation must be plain data "
                              f"(None, bool, int, float, str, bytes, list, tuple, dict): {error}"})
    return _EXIT_OK


def run_isolated(
    work: Callable[[], Any],
    limits: Limits,
    write: Callable[[str], None],
    cancelled: threading.Event,
    set_stdout: Callable[[Any], None],
) -> Any:
    """Run `work` (an in-process evaluation) in a forked child; its value, or raise its error.

    `write` receives the program's output in the parent; `set_stdout` is called in the
    child with the stream that forwards it; `cancelled` (set by `Interpreter.cancel`)
    kills the child.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = _EXIT_FAILED
        try:
            os.close(read_fd)
            set_stdout(_PipeText(write_fd))
            code = _child(work, limits, write_fd)
        except BaseException:
            code = _EXIT_FAILED
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        return _parent(pid, read_fd, limits, write, cancelled)
    finally:
        os.close(read_fd)
        with contextlib.suppress(ChildProcessError, OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _parent(pid: int, fd: int, limits: Limits, write: Callable[[str], None], cancelled: threading.Event) -> Any:
    started = time.monotonic()
    deadline = None if limits.time is None else started + limits.time + GRACE_SECONDS
    buffer = bytearray()
    outcome: dict[str, Any] | None = None
    try:
        while outcome is None:
            wait = 0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic()))
            readable, _, _ = select.select([fd], [], [], wait)
            if cancelled.is_set():
                raise LimitExceeded("time", "evaluation cancelled")
            if not readable:
                if deadline is not None and time.monotonic() >= deadline:
                    raise LimitExceeded("time", f"the isolated evaluation ran past its time limit of {limits.time:g} s "
                                                f"(+{GRACE_SECONDS:g} s grace) and was killed")
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return _died(pid, limits)
            buffer += chunk
            while len(buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(buffer)
                if size > MAX_RESULT_BYTES:
                    raise LispError(f"the isolated evaluation sent a message of {size} bytes "
                                    f"(the limit is {MAX_RESULT_BYTES})")
                if len(buffer) < _HEADER.size + size:
                    break
                body = bytes(buffer[_HEADER.size:_HEADER.size + size])
                del buffer[:_HEADER.size + size]
                message = _decode(body)
                if message.get("t") == "out":
                    write(str(message.get("text", "")))
                else:
                    outcome = message
                    break
    except KeyboardInterrupt:
        os.kill(pid, signal.SIGKILL)
        raise
    if outcome.get("t") == "ok":
        return outcome.get("value")
    raise _rebuild(outcome)


def _decode(body: bytes) -> dict[str, Any]:
    try:
        message = msgpack.unpackb(body, raw=False, strict_map_key=False, max_ext_len=0)
    except Exception as error:  # msgpack raises several unrelated types for bad input
        raise LispError(f"the isolated evaluation sent an unreadable message: {error}") from None
    if not isinstance(message, dict):
        raise LispError("the isolated evaluation sent a malformed message")
    return message


def _died(pid: int, limits: Limits) -> Any:
    """The child closed its pipe without a result: find out why from its exit status."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (signal.SIGXCPU, signal.SIGKILL) and limits.time is not None:
            raise LimitExceeded("time", f"the isolated evaluation used its CPU time limit of "
                                        f"{limits.time:g} s (+{GRACE_SECONDS:g} s) and was killed")
        raise LispError(f"the isolated evaluation died of signal {signal.Signals(sig).name}")
    code = os.waitstatus_to_exitcode(status)
    if limits.memory is not None and code != 0:
        # Allocation failures outside Python's own checks (a C library aborting) end here.
        raise LimitExceeded("memory", f"the isolated evaluation ended with exit code {code} without a result, "
                                      f"most likely out of its address space")
    raise LispError(f"the isolated evaluation ended with exit code {code} without a result")


def _rebuild(message: dict[str, Any]) -> LispError:
    """The child's error as a parent-side exception, from a fixed list of classes."""
    text = str(message.get("message", "error"))
    raw = message.get("position")
    position = None
    if isinstance(raw, list) and len(raw) == 5 and isinstance(raw[0], str) and all(type(x) is int for x in raw[1:]):
        position = Position(raw[0], raw[1], raw[2], raw[3], raw[4])
    source = message.get("source") if isinstance(message.get("source"), str) else None
    cls = message.get("cls")
    if cls == "ProgramError":
        type_name = str(message.get("type_name", "Exception"))
        exc_class = _PROGRAM_EXCEPTIONS.get(type_name)
        inner = exc_class(str(message.get("text", ""))) if exc_class else IsolatedProgramException(
            str(message.get("text", "")))
        program = ProgramError(inner, position, source)
        program.type_name = type_name
        program.message = text
        program.args = (text,)
        return program
    if cls == "LimitExceeded":
        return LimitExceeded(str(message.get("limit", "time")), text, position, source)
    return _ERRORS.get(str(cls), LispError)(text, position, source)


__all__ = ["AS_SLACK", "GRACE_SECONDS", "ISOLATION_MODES", "MAX_RESULT_BYTES", "run_isolated"]
