"""Evaluation threads: the deep-stack threads evaluations run on, kept for reuse.

Why a thread at all: some C code of CPython recurses without a depth check, so an
evaluation runs on a thread whose C stack is sized from its step budget (see
`Interpreter._run`). Why reuse it: starting such a thread (reserving up to 1 GiB,
``clone``, and ``munmap`` at its exit) costs 100-200 µs, more than a small evaluation
such as an agent's rule check. So the thread that ran an evaluation waits, idle, for
the next evaluation that needs the same stack size.

What a fresh thread gave for free, and how a reused one keeps it:

* **No memory left behind.** A deep evaluation touches stack pages that would stay
  resident in a thread that lives on. After an evaluation the thread hands all of
  its stack below its own idle frames back to the kernel (``madvise`` with
  ``MADV_DONTNEED``), as a new thread would have none: after the answer is back with
  the caller (the trim is not on the caller's path), at most once per
  `TRIM_INTERVAL` (a stream of small evaluations shares one trim), and at the latest
  `TRIM_INTERVAL` after the last evaluation when the thread sits idle. Where the
  stack cannot be located (no glibc ``pthread_getattr_np``), or the call fails, the
  thread is not reused: each evaluation gets a new one.
* **No state carried over.** The work, its value or error are dropped before the
  thread waits again; the parser's per-thread state is restored after every parse
  (`o_lisp._reader.read_many`).
* **Fork safety.** A forked child (a guardian worker forked by its zygote) has none
  of its parent's threads: the pool belongs to the process that made it, and a
  child starts with an empty one.

One thread at most is kept idle per process (the one used last), so at most one
stack reservation outlives its evaluation; concurrent evaluations from several
threads of the embedder get threads of their own, as before.

Handing an evaluation to another thread and back still costs two thread wake-ups
(5-8 µs on a small VM, measured with two bare `threading.Lock`s) and the work runs on
another core, away from the caller's warm caches (an empty `interp.call` takes 10-12
µs of CPU there against 7-8 µs inline): about 25 µs in all from the main thread. A
spinning hand-over would avoid the wake-ups, but Python has no GIL-free spin short
of a compiled kernel, and loading Numba for one costs ~160 MB of resident memory.
A host that evaluates all the time, such as a guardian worker, avoids even that: it runs its whole loop on a deep-stack thread
(`run_on_deep_thread`, public as `o_lisp.run_on_deep_stack`), on which evaluations
then run inline, and trims that thread's stack at points where its own frames are
shallow, at most every 50 ms (`trim_deep_stack`). Any other thread whose stack is big
enough (looked at once per thread, `_calling_thread`) evaluates inline too.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from o_lisp._budget import STACK_SIZE_LOCK

STACK_PER_STEP = 80
STACK_MIN = 64 * 1024 * 1024
STACK_MAX = 1024 * 1024 * 1024
_MADV_DONTNEED = 4  # Linux
TRIM_INTERVAL = 0.05
"""Seconds between two trims of an evaluation thread's stack (each costs ~4-8 µs for 1 GiB)."""
_KEEP_TOP = 1 << 20
"""Bytes at the top of the stack left alone by the trim: the thread's own frames while
it waits (the thread start-up and the wait loop use a few KiB, far below this)."""


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.pthread_self.restype = ctypes.c_ulong
        libc.pthread_getattr_np.argtypes = (ctypes.c_ulong, ctypes.c_void_p)
        libc.pthread_attr_getstack.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
        libc.pthread_attr_destroy.argtypes = (ctypes.c_void_p,)
        libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def stack_size_for(steps: int | None) -> int:
    """The C stack an evaluation with this step budget runs on (nesting costs a step per level)."""
    return STACK_MAX if steps is None else min(max(steps * STACK_PER_STEP, STACK_MIN), STACK_MAX)


def _trim_range() -> tuple[int, int] | None:
    """(address, length) of the calling thread's stack below its top `_KEEP_TOP` bytes."""
    stack = _own_stack()
    if stack is None:
        return None
    low, size = stack
    page = os.sysconf("SC_PAGE_SIZE")
    length = (size - _KEEP_TOP) // page * page
    return (low, length) if length > 0 else None


def _madvise_dontneed(trim_range: tuple[int, int]) -> bool:
    assert _LIBC is not None
    low, length = trim_range
    return bool(_LIBC.madvise(low, length, _MADV_DONTNEED) == 0)


def _own_stack() -> tuple[int, int] | None:
    """(lowest address, size) of the calling thread's stack, or None if unknown."""
    if _LIBC is None:
        return None
    attr = ctypes.create_string_buffer(256)  # pthread_attr_t is 56 bytes on x86-64 glibc
    if _LIBC.pthread_getattr_np(_LIBC.pthread_self(), attr) != 0:
        return None
    try:
        low = ctypes.c_void_p()
        size = ctypes.c_size_t()
        if _LIBC.pthread_attr_getstack(attr, ctypes.byref(low), ctypes.byref(size)) != 0 or not low.value:
            return None
        return low.value, size.value
    finally:
        _LIBC.pthread_attr_destroy(attr)


class EvalThread:
    """A daemon thread with a given stack size that runs one callable at a time."""

    def __init__(self, stack_size: int) -> None:
        self.stack_size = stack_size
        self.reusable = False  # set by the thread once it has located its stack
        self._go = threading.Lock()
        self._go.acquire()
        self._done = threading.Lock()
        self._done.acquire()
        self._work: Callable[[], Any] | None = None
        self._value: Any = None
        self._error: BaseException | None = None
        self._trim_range: tuple[int, int] | None = None
        self.dirty = False  # an evaluation ran since the last trim
        self.cpu_ns = 0  # thread CPU time of the last evaluation (with the answer, before the trim)
        with STACK_SIZE_LOCK:
            previous = threading.stack_size(stack_size)
            try:
                self._thread = threading.Thread(target=self._main, name="o_lisp-eval", daemon=True)
                self._thread.start()
            finally:
                threading.stack_size(previous)

    def _main(self) -> None:
        _local.deep = None  # an evaluation started from inside another one is handed over
        self._trim_range = _trim_range()
        self.reusable = self._trim_range is not None
        last_trim = 0.0
        while True:
            if self.dirty:
                # Trim at most every TRIM_INTERVAL, and never on a caller's critical path:
                # after the answer is handed back, when the interval has passed, or once
                # the thread has been idle for the rest of it. A stream of small calls
                # then pays no system call each; a deep evaluation's pages stay resident
                # for TRIM_INTERVAL at most (as on a `run_on_deep_thread` thread).
                wait = TRIM_INTERVAL - (time.monotonic() - last_trim)
                if wait <= 0 or not self._go.acquire(timeout=wait):
                    if not self._trim():
                        self.reusable = False
                    last_trim = time.monotonic()
                    self.dirty = False
                    self._go.acquire()
            else:
                self._go.acquire()
            work = self._work
            self._work = None
            if work is None:
                return  # retired
            # A thread whose trim failed runs what it was already handed, then exits.
            last = not self.reusable
            started = evaluation_cpu_ns()  # counts evaluations this one hands on, too
            try:
                self._value = work()
            except BaseException as error:
                self._error = error
            self.cpu_ns = evaluation_cpu_ns() - started
            del work
            self.dirty = True
            self._done.release()
            if last:
                return

    def _trim(self) -> bool:
        """Give the stack pages below the idle frames back to the kernel; False if it failed."""
        assert self._trim_range is not None
        return _madvise_dontneed(self._trim_range)

    def run(self, work: Callable[[], Any], on_interrupt: Callable[[], None]) -> Any:
        """Run `work` on this thread and wait for it; its value, or raise its exception.

        A KeyboardInterrupt while waiting calls `on_interrupt` (which must make the work
        stop soon, e.g. cancel its budget), waits for the work to end, then re-raises.
        """
        self._work = work
        self._go.release()
        interrupted = False
        while True:
            try:
                self._done.acquire()
                break
            except KeyboardInterrupt:
                interrupted = True
                on_interrupt()
        value, error = self._value, self._error
        self._value = self._error = None
        if interrupted:
            raise KeyboardInterrupt
        if error is not None:
            try:
                raise error
            finally:
                del error
        return value

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until the idle thread has trimmed its stack after its last evaluation (for
        tests: the trim comes after the answer, within TRIM_INTERVAL). True once trimmed."""
        deadline = time.monotonic() + timeout
        while self.dirty and self.reusable and time.monotonic() < deadline:
            time.sleep(0.002)
        return not self.dirty

    def retire(self) -> None:
        """Let the (idle) thread exit."""
        self._work = None
        self._go.release()


class _Pool:
    """At most one idle `EvalThread` per process, the one that ran last."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._idle: EvalThread | None = None

    def take(self, stack_size: int) -> EvalThread:
        with self._lock:
            idle, self._idle = self._idle, None
        if idle is not None:
            if idle.stack_size == stack_size:
                return idle
            idle.retire()
        return EvalThread(stack_size)

    def give_back(self, thread: EvalThread) -> None:
        if not thread.reusable:
            return  # it has exited (or is exiting) on its own
        with self._lock:
            previous, self._idle = self._idle, thread
        if previous is not None:
            previous.retire()

    def idle(self) -> EvalThread | None:
        """The idle thread, if any (for tests)."""
        return self._idle


POOL = _Pool()


class _DeepThread:
    """What `run_on_deep_thread` records about its thread (a thread-local value)."""

    __slots__ = ("busy", "dirty", "last_trim", "stack_size", "trim_range")

    def __init__(self, stack_size: int, trim: bool = True) -> None:
        self.stack_size = stack_size
        self.trim_range = _trim_range() if trim else None
        self.busy = False  # an evaluation is running inline on it
        self.dirty = False  # an evaluation ran since the last trim
        self.last_trim = 0.0  # time.monotonic() of the last trim


_local = threading.local()
_UNKNOWN = object()

CALLER_RESERVE = 8 * 1024 * 1024
"""Bytes of a caller's own thread stack assumed in use by the caller's frames: a thread
whose stack is at least this much larger than an evaluation needs runs it inline."""


def _calling_thread() -> _DeepThread | None:
    """What is known about the calling thread's stack, found out once per thread.

    A thread started by `run_on_deep_thread` says so itself. Any other thread (the
    main thread, an embedder's thread) is looked at once: if its C stack is at least
    `STACK_MIN` plus `CALLER_RESERVE`, evaluations whose stack fits run inline on it
    (its stack is the embedder's: it is never trimmed). None: always hand over.
    """
    known = getattr(_local, "deep", _UNKNOWN)
    if known is not _UNKNOWN:
        return known if isinstance(known, _DeepThread) else None
    deep = None
    stack = _own_stack()
    if stack is not None and stack[1] - CALLER_RESERVE >= STACK_MIN:
        deep = _DeepThread(stack[1] - CALLER_RESERVE, trim=False)
    _local.deep = deep
    return deep


def run_on_deep_thread(function: Callable[[], Any], stack_size: int = STACK_MAX) -> Any:
    """Call `function` on a new thread with a `stack_size` C stack and wait for it.

    Evaluations started on that thread (at most one at a time) run inline on it,
    without a thread switch; call `trim_deep_stack` from shallow frames to give back
    the stack they touched. Returns what `function` returns, or raises what it raises.
    """
    outcome: dict[str, Any] = {}

    def main() -> None:
        _local.deep = _DeepThread(stack_size)
        try:
            outcome["value"] = function()
        except BaseException as error:
            outcome["error"] = error

    with STACK_SIZE_LOCK:
        previous = threading.stack_size(stack_size)
        try:
            thread = threading.Thread(target=main, name="o_lisp-deep", daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)
    thread.join()
    if "error" in outcome:
        error = outcome.pop("error")
        try:
            raise error
        finally:
            del error
    return outcome.get("value")


def trim_deep_stack(min_interval: float = TRIM_INTERVAL) -> bool:
    """On a `run_on_deep_thread` thread, after evaluations: return their stack pages to the kernel.

    Call it only where the thread's own frames are shallow (its main loop), since
    everything below the top `_KEEP_TOP` bytes of the stack is discarded. At most once
    per `min_interval` seconds: a deep evaluation's pages stay resident that long at
    most, and a stream of small evaluations does not pay a system call each. True if
    pages were given back; False if there was nothing to do, it is too soon, or it is
    not possible.
    """
    deep: _DeepThread | None = getattr(_local, "deep", None)
    if not isinstance(deep, _DeepThread) or not deep.dirty or deep.busy or deep.trim_range is None:
        return False
    now = time.monotonic()
    if now - deep.last_trim < min_interval:
        return False
    deep.dirty = False
    deep.last_trim = now
    return _madvise_dontneed(deep.trim_range)


def run_evaluation(work: Callable[[], Any], stack_size: int, on_interrupt: Callable[[], None]) -> Any:
    """Run `work` with at least a `stack_size` C stack: inline on an idle deep thread, else
    on a pooled `EvalThread` (see `EvalThread.run` for `on_interrupt`)."""
    deep = _calling_thread()
    if deep is not None and not deep.busy and deep.stack_size >= stack_size:
        deep.busy = True
        deep.dirty = True
        try:
            return work()
        finally:
            deep.busy = False
    thread = POOL.take(stack_size)
    try:
        return thread.run(work, on_interrupt)
    finally:
        _local.offthread_ns = getattr(_local, "offthread_ns", 0) + thread.cpu_ns
        POOL.give_back(thread)


def evaluation_cpu_ns() -> int:
    """CPU nanoseconds this thread has used, counting evaluations it handed to another thread.

    The clock that compares code (evolution's timings): per thread, so another shadow,
    the guardian or a concurrent request of the same process is not counted, and with
    the kernel's nanosecond thread clock (``CLOCK_THREAD_CPUTIME_ID``). The process clock
    (`time.process_time`) is no substitute: under ``RLIMIT_CPU`` it advances in
    scheduler ticks (~4 ms), so 0.4 ms of work reads 0.0. An evaluation runs either
    inline on this thread (a deep thread, e.g. a guardian worker's loop) or on a pooled
    evaluation thread, whose CPU time `run_evaluation` measures there and adds here.
    """
    return time.thread_time_ns() + int(getattr(_local, "offthread_ns", 0))
