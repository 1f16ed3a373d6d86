"""The per-evaluation budget: steps, wall time, call depth, memory growth.

Compiled code calls `_o_next(_o_ticker)` at every function entry and loop back-edge.
The ticker is `itertools.chain.from_iterable(chunks)` (`_o_next` is `next`; its
`__next__` is also published, as `_o_tick`): each call costs one C-level step, and only when a chunk of `CHUNK` steps is used up does
the Python generator `_chunks` run, account for the chunk and check the clock,
the step limit and resident memory. Once a limit is hit, the ticker raises
`LimitExceeded` on every further call, so `finally` blocks of the program cannot
keep running.

Call depth costs nothing per call: during an evaluation the interpreter's
recursion limit is set to the current depth plus `Limits.depth` frames, and the
resulting `RecursionError` (never catchable by the program) is reported as
`LimitExceeded("depth")`.

Memory growth is measured from a base taken lazily: at the first memory check,
which comes after `FIRST_CHUNK` steps or before the allocations the program asks
for pass `FIRST_ALLOCATION` elements, whichever is first. Reading the resident
set size costs a system call (~10 µs on a small VM, as much as a small rule
check), and most evaluations end long before either; the growth before the base
is therefore not counted, which is at most those allocations plus what
`FIRST_CHUNK` steps can allocate in small objects, about a megabyte.
"""

from __future__ import annotations

import collections
import functools
import heapq
import itertools
import operator
import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from o_lisp._errors import LimitExceeded, LispError, SandboxViolation
from o_lisp._limits import Limits

CHUNK = 10_000
FIRST_CHUNK = 1_000
"""Steps before the first memory check (the lazy base; see the module docstring)."""
FIRST_ALLOCATION = 65_536
"""Elements allocated before the first memory check (the lazy base)."""
ALLOCATION_CHECK = 8_000_000
"""Elements allocated between two memory checks."""
MEMORY_SAMPLE = 0.05
"""Seconds between two clock-driven memory samples (by the watchdog thread)."""
STEP_MEMORY_SAMPLE = 0.01
"""Seconds at least between two memory samples taken at chunk boundaries. Reading the
resident set size is a system call, which releases the GIL: at every chunk (a tight
loop ends one every 0.1-0.3 ms) another thread waiting for the GIL never got it, since
CPython only forces a switch after a whole switch interval (5 ms) without any release.
`cancel()` from another thread and the watchdog's own alarms waited seconds, or for
ever. Twice the switch interval between samples lets them in."""
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


_statm: tuple[int, int] | None = None  # (pid, fd of /proc/<pid>/statm)


def resident_bytes() -> int:
    """Current resident set size of this process (Linux /proc, else peak RSS).

    Read on every evaluation that has a memory limit, so the file stays open and is
    read with one `pread`. The fd names the process that opened it, so a forked child
    (a guardian worker forked by the zygote) opens its own.
    """
    global _statm
    pid = os.getpid()
    try:
        if _statm is None or _statm[0] != pid:
            _statm = (pid, os.open(f"/proc/{pid}/statm", os.O_RDONLY | os.O_CLOEXEC))
        return int(os.pread(_statm[1], 128, 0).split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):  # pragma: no cover - non-Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Raising:
    """An iterator that raises a fresh copy of one error on every `next`."""

    def __init__(self, factory: Callable[[], LispError]) -> None:
        self.factory = factory

    def __iter__(self) -> _Raising:
        return self

    def __next__(self) -> Any:
        raise self.factory()


class _OneShot:
    """Raises one error at the next step, then puts the budget's regular ticker back."""

    def __init__(self, budget: Budget, error: BaseException) -> None:
        self.budget = budget
        self.error = error

    def __iter__(self) -> _OneShot:
        return self

    def __next__(self) -> Any:
        budget = self.budget
        with budget._lock:
            if budget.ticker is self and budget.failed is None:
                budget._install(budget._chain)
        raise self.error


class DeadlineExceeded(LimitExceeded):
    """A nested deadline (e.g. one tool call's timeout) passed; the evaluation goes on.

    Like every LimitExceeded it cannot be caught by the program: the trusted code
    that pushed the deadline catches it and reports the timeout its own way.
    """


_IDLE = _Raising(
    lambda: SandboxViolation(
        "a sandboxed function was called outside an evaluation; call it through Interpreter.call"
    )
)


# Thread stacks are sized through a process-wide setting (threading.stack_size), so
# every thread o_lisp starts is started under this lock with the size it needs.
STACK_SIZE_LOCK = threading.Lock()


class _Alarm:
    """One scheduled call of the watchdog; `cancel()` makes it a no-op."""

    __slots__ = ("action", "argument", "cancelled", "epoch", "watchdog", "when")

    def __init__(self, when: float, action: Callable[[int], None], argument: int, watchdog: _Watchdog) -> None:
        self.when = when
        self.action = action
        self.argument = argument
        self.cancelled = False
        self.watchdog = watchdog
        self.epoch = watchdog.epoch
        """The watchdog's epoch when scheduled: an alarm of an earlier epoch (scheduled
        before a fork, in the parent's heap) never fires in this process."""

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self.watchdog.cancelled += 1


class _Watchdog:
    """One daemon thread for the whole process that fires alarms (time limits, tool
    deadlines) at their time; cheaper than a timer thread per evaluation."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            # A forked child (e.g. a guardian worker forked by the zygote) has no
            # watchdog thread and may have inherited a held lock: start afresh.
            os.register_at_fork(after_in_child=self._reset)

    epoch = 0

    def _reset(self) -> None:
        self.epoch += 1
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Alarm]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self.cancelled = 0  # cancelled alarms still in the heap (approximate: bumped without the lock)

    def schedule(self, seconds: float, action: Callable[[int], None], argument: int) -> _Alarm:
        """Call ``action(argument)`` from the watchdog thread in `seconds`, unless cancelled.

        Most alarms are time limits cancelled long before they are due (one per
        evaluation), so the thread is woken only when the new alarm is the earliest,
        and cancelled alarms are swept out once they are most of the heap: the heap
        stays small however many evaluations run.
        """
        alarm = _Alarm(time.monotonic() + seconds, action, argument, self)
        with self._cond:
            heap = self._heap
            if self.cancelled > 64 and 2 * self.cancelled > len(heap):
                heap[:] = [entry for entry in heap if not entry[2].cancelled]
                heapq.heapify(heap)
                self.cancelled = 0
            heapq.heappush(heap, (alarm.when, next(self._order), alarm))
            if self._thread is None or not self._thread.is_alive():
                with STACK_SIZE_LOCK:
                    previous = threading.stack_size(0)
                    try:
                        self._thread = threading.Thread(target=self._run, name="o_lisp-watchdog", daemon=True)
                        self._thread.start()
                    finally:
                        threading.stack_size(previous)
            if heap[0][2] is alarm:
                self._cond.notify()
        return alarm

    def pending(self) -> int:
        """Alarms in the heap, cancelled ones included (for tests)."""
        with self._cond:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                when, _, alarm = self._heap[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                if alarm.cancelled:
                    self.cancelled -= 1
                    continue
                alarm.cancelled = True  # done: a later `cancel()` is a no-op (not counted)
            alarm.action(alarm.argument)


WATCHDOG = _Watchdog()


SMALL_RESULT = 4096
"""Results up to this size that the runtime would charge nothing for (see `_runtime`)."""


def _published(limits: Limits) -> tuple[int, int, int]:
    """(`_o_maxlen`, `_o_intbits`, `_o_small`) for compiled code's inline fast paths:
    max_size (`.append` while shorter), max_int_bits (`int` of a str while 5 x len
    fits) and the smaller of max_size and `SMALL_RESULT` (`.replace`)."""
    maxlen = sys.maxsize if limits.max_size is None else limits.max_size
    intbits = sys.maxsize if limits.max_int_bits is None else limits.max_int_bits
    return maxlen, intbits, min(maxlen, SMALL_RESULT)


class Budget:
    """Budget state of one interpreter; `start()`/`stop()` bracket each evaluation."""

    def __init__(self) -> None:
        self.limits = Limits()
        self.active = 0
        self.steps_used = 0
        self.deadline: float | None = None
        self.rss_base = 0
        self.sampled_at = 0.0
        """When a chunk boundary last sampled memory (`time.monotonic()`)."""
        self.alloc_since_check = 0
        self.failed: LimitExceeded | None = None
        self.cancelled = False
        self.owner: int | None = None
        self._slots: list[dict[str, Any]] = []
        self.deadlines: list[tuple[_Alarm, object]] = []
        self.ticker: Iterator[Any] = _IDLE
        self.tick: Callable[[], Any] = _IDLE.__next__
        self._chain: Iterator[Any] = _IDLE
        self._chunk: Iterator[Any] = iter(())
        """The chunk of steps being used up (`steps_taken` subtracts what is left of it)."""
        self._lock = threading.Lock()
        self._generation = 0
        self._timers: list[_Alarm] = []
        """Alarms of the current evaluation's nested deadlines (cancelled by `stop`)."""
        self._clock_alarm: _Alarm | None = None
        """The pending time-limit alarm, kept across evaluations (see `_arm_alarms`)."""
        self._memory_alarm: _Alarm | None = None
        """The pending memory sample, kept across evaluations (see `_arm_alarms`)."""

    def bind(self, table: dict[str, Any]) -> None:
        """Publish the ticker in `table` (the sandbox's builtins): the iterator as
        `_o_ticker` (compiled code calls `_o_next(_o_ticker)`, `_o_next` being `next`)
        and its `__next__` as `_o_tick`."""
        self._slots.append(table)
        table["_o_next"] = next
        table["_o_ticker"] = self.ticker
        table["_o_tick"] = self.tick
        table["_o_maxlen"], table["_o_intbits"], table["_o_small"] = _published(self.limits)

    def _install(self, ticker: Iterator[Any]) -> None:
        self.ticker = ticker
        self.tick = tick = ticker.__next__
        for table in self._slots:
            table["_o_ticker"] = ticker
            table["_o_tick"] = tick

    # -- evaluation bracket -------------------------------------------------
    def start(self, limits: Limits) -> None:
        """Begin an evaluation (re-entrant: nested calls share the outer budget)."""
        if self.active:
            if self.owner != threading.get_ident():
                raise SandboxViolation("an Interpreter cannot be used from two threads at once")
            self.active += 1
            return
        self.active = 1
        self.owner = threading.get_ident()
        self.limits = limits
        self.steps_used = 0
        self._chunk = iter(())
        self.failed = None
        self.cancelled = False
        self.deadline = None if limits.time is None else time.monotonic() + limits.time
        self.rss_base = -1 if limits.memory is not None else 0  # -1: taken at the first check
        self.alloc_since_check = 0
        self.deadlines = []
        maxlen, intbits, small = _published(limits)
        for table in self._slots:
            table["_o_maxlen"] = maxlen
            table["_o_intbits"] = intbits
            table["_o_small"] = small
        with self._lock:
            self._generation += 1
            self._chain = itertools.chain.from_iterable(self._chunks())
            self._install(self._chain)
            self._arm_alarms(limits)

    def stop(self) -> None:
        self.active -= 1
        if self.active == 0:
            with self._lock:
                self._generation += 1
                self._install(_IDLE)
            for timer in self._timers:
                timer.cancel()
            self._timers = []
            self.owner = None

    def cancel(self) -> None:
        """Stop the running evaluation at its next step (any thread may call this)."""
        self.cancelled = True
        self._interrupt(self._generation, "time", "evaluation cancelled")

    def steps_taken(self) -> int:
        """Steps the current (or the last) evaluation has taken, exactly.

        `steps_used` counts whole chunks as they are handed out; what is left of the
        chunk in use is not spent yet. Evolution compares candidates on this count
        (deterministic, unlike time)."""
        return max(0, self.steps_used - operator.length_hint(self._chunk))

    # -- interrupts from other threads ------------------------------------------------
    # The clock is also checked at chunk boundaries, but one step may do up to
    # max_size work, so a timer makes the very next step fail once time is up.
    def _start_timer(self, seconds: float, action: Callable[[int], None]) -> _Alarm:
        alarm = WATCHDOG.schedule(seconds, action, self._generation)
        self._timers.append(alarm)
        return alarm

    def _arm_alarms(self, limits: Limits) -> None:
        """Make sure the time-limit alarm and the memory sample will fire during this
        evaluation (called with `_lock` held, by `start`).

        Scheduling two alarms per evaluation (and cancelling them at its end) cost a
        few µs, as much as a small `Interpreter.call`. So the alarms outlive their
        evaluation: an alarm still pending from an earlier evaluation fires no later
        than this one's deadline (deadlines only move forward), and when it fires it
        looks at the evaluation running then (`_clock_alarm_fired`): it interrupts it
        if its deadline has passed, else re-arms for that deadline. An alarm that
        fires while no evaluation runs just lapses; the next `start` arms a new one.
        """
        if limits.time is not None:
            assert self.deadline is not None
            alarm = self._clock_alarm
            if alarm is None or alarm.epoch != WATCHDOG.epoch or alarm.when > self.deadline:
                if alarm is not None:
                    alarm.cancel()
                self._clock_alarm = WATCHDOG.schedule(limits.time, self._clock_alarm_fired, 0)
        if limits.memory is not None:
            sample = self._memory_alarm
            if sample is None or sample.epoch != WATCHDOG.epoch:
                self._memory_alarm = WATCHDOG.schedule(MEMORY_SAMPLE, self._sample_memory, 0)

    def _clock_alarm_fired(self, _: int) -> None:
        """The time alarm (watchdog thread): stop the running evaluation if its deadline
        has passed, else wait for that deadline."""
        with self._lock:
            self._clock_alarm = None
            if not self.active or self.deadline is None or self.failed is not None:
                return  # no evaluation, or one without a time limit: the alarm lapses
            generation = self._generation
            remaining = self.deadline - time.monotonic()
            if remaining > 0:
                self._clock_alarm = WATCHDOG.schedule(remaining, self._clock_alarm_fired, 0)
                return
        self._interrupt(generation, "time", f"time limit of {self.limits.time} s exceeded")

    def _sample_memory(self, _: int) -> None:
        """Check resident memory from the watchdog thread, every `MEMORY_SAMPLE` seconds
        while evaluations run (the alarm lapses when it finds none running).

        Steps and checked allocations sample memory too, but one step may copy
        millions of elements (a slice, `list`, `split`) that no allocation check
        sees: without this clock-driven sample a loop of such copies could grow by
        gigabytes between two step-driven samples. The next step then fails.
        """
        with self._lock:
            generation = self._generation
            limit = self.limits.memory
            if not self.active or limit is None or self.failed is not None:
                self._memory_alarm = None
                return
        rss = resident_bytes()
        if self.rss_base < 0:
            self.rss_base = rss
        elif rss - self.rss_base > limit:
            grown = rss - self.rss_base
            self._interrupt(
                generation, "memory", f"memory grew by {grown >> 20} MiB; the limit is {limit >> 20} MiB"
            )
        with self._lock:
            if self.active and self.limits.memory is not None and self.failed is None:
                self._memory_alarm = WATCHDOG.schedule(MEMORY_SAMPLE, self._sample_memory, 0)
            else:
                self._memory_alarm = None

    def _interrupt(self, generation: int, limit: str, message: str) -> None:
        with self._lock:
            if generation != self._generation or not self.active or self.failed is not None:
                return
            self.failed = LimitExceeded(limit, message)
            self._install(_Raising(functools.partial(LimitExceeded, limit, message)))

    def _chunks(self) -> Iterator[Iterator[Any]]:
        limits = self.limits
        while True:
            try:
                if self.cancelled:
                    self._fail("time", "evaluation cancelled")
                # Not at step 0: the memory base is taken at the first check after it;
                # then memory is compared at most every STEP_MEMORY_SAMPLE seconds.
                now = time.monotonic()
                sample = self.steps_used > 0 and (self.rss_base < 0 or now - self.sampled_at >= STEP_MEMORY_SAMPLE)
                if sample:
                    self.sampled_at = now
                self._check_clock_and_memory(memory=sample)
                if self.deadlines:
                    self._fire_due_deadline()
                chunk = FIRST_CHUNK if self.rss_base < 0 else CHUNK
                if limits.steps is None:
                    size = chunk
                else:
                    size = min(chunk, limits.steps - self.steps_used)
                    if size <= 0:
                        self._fail("steps", f"step limit of {limits.steps} exceeded")
            except LimitExceeded as error:
                yield _Raising(functools.partial(LimitExceeded, error.limit, error.message))
                return
            self.steps_used += size
            self._chunk = itertools.repeat(None, size)
            yield self._chunk

    def push_deadline(self, seconds: float, label: str) -> None:
        """Start a nested deadline: when it passes, the next step raises
        `DeadlineExceeded(label)` once, and the evaluation may go on."""
        depth = len(self.deadlines)
        fired = False

        def fire(generation: int) -> None:
            # Called by the watchdog or by `_fire_due_deadline`, whichever is first: once only.
            nonlocal fired
            with self._lock:
                if fired or generation != self._generation or len(self.deadlines) <= depth or self.failed is not None:
                    return
                if self.deadlines[depth][1] is not label_token:
                    return
                fired = True
                self._install(_OneShot(self, DeadlineExceeded("time", label)))

        label_token = object()
        timer = self._start_timer(seconds, fire)
        self.deadlines.append((timer, label_token))

    def _fire_due_deadline(self) -> None:
        """Fire the outermost nested deadline that has passed, from the evaluating thread.

        The watchdog thread fires deadlines too, but it needs the GIL, and an evaluation
        that releases the GIL briefly and often (a system call per chunk) can starve it
        for as long as it runs: so every chunk also looks at the clock itself.
        """
        now = time.monotonic()
        for alarm, _ in self.deadlines:
            if not alarm.cancelled and alarm.when <= now:
                alarm.cancel()  # the watchdog must not fire it a second time
                alarm.action(alarm.argument)
                return

    def pop_deadline(self) -> None:
        timer, _ = self.deadlines.pop()
        timer.cancel()
        with self._lock:
            if isinstance(self.ticker, _OneShot) and self.failed is None:
                self._install(self._chain)

    # -- charges made by the runtime ---------------------------------------------
    def charge(self, steps: int) -> None:
        """Charge several steps at once (e.g. a comprehension over a sized collection)."""
        if steps == 1:
            self.tick()
        elif steps > 0:
            collections.deque(itertools.islice(self.ticker, steps), maxlen=0)

    def allocate(self, size: int, what: str) -> None:
        """Refuse an allocation of `size` elements before it happens; sample memory often."""
        limit = self.limits.max_size
        if limit is not None and size > limit:
            self._fail("size", f"{what} of {size} elements exceeds the size limit of {limit}")
        self.alloc_since_check += size
        if self.alloc_since_check > (FIRST_ALLOCATION if self.rss_base < 0 else ALLOCATION_CHECK) and self.active:
            self.alloc_since_check = 0
            self._check_clock_and_memory()

    def exceed(self, limit: str, message: str) -> NoReturn:
        """Refuse an operation whose cost would break a budget (names the limit)."""
        self._fail(limit, message)

    def int_bits(self, bits: int, what: str) -> None:
        limit = self.limits.max_int_bits
        if limit is not None and bits > limit:
            self._fail("int_bits", f"{what} would have about {bits} bits; the limit is {limit}")

    def _check_clock_and_memory(self, memory: bool = True) -> None:
        limits = self.limits
        if self.deadline is not None and time.monotonic() > self.deadline:
            self._fail("time", f"time limit of {limits.time} s exceeded")
        if memory and limits.memory is not None:
            if self.rss_base < 0:
                self.rss_base = resident_bytes()
                return
            grown = resident_bytes() - self.rss_base
            if grown > limits.memory:
                self._fail(
                    "memory",
                    f"memory grew by {grown >> 20} MiB; the limit is {limits.memory >> 20} MiB",
                )

    def _fail(self, limit: str, message: str) -> NoReturn:
        with self._lock:
            if self.active and self.failed is None:
                # A copy: the raised error gets a traceback, whose frames hold the
                # program's locals; `failed` outlives the evaluation and must not.
                self.failed = LimitExceeded(limit, message)
                self._install(_Raising(functools.partial(LimitExceeded, limit, message)))
        raise LimitExceeded(limit, message)


UNLIMITED_DEPTH = 20_000
_HELPER_FRAMES = 12


def recursion_limit_for(depth: int | None) -> int:
    """The recursion limit that lets sandboxed code nest `depth` calls from here.

    A few frames are added for the runtime's own helpers (a method call or a
    guarded operator runs one Python frame deeper than the code calling it).
    """
    frames = depth if depth is not None else UNLIMITED_DEPTH
    return current_depth() + frames + _HELPER_FRAMES


def current_depth() -> int:
    frame = sys._getframe()
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


class RecursionLimitGuard:
    """Raise the process recursion limit while any evaluation needs it; restore it after.

    The limit is process-global, so concurrent evaluations in several threads
    share one reference-counted raise instead of restoring each other's values.
    """

    _lock = threading.Lock()
    _users = 0
    _saved = 0

    @classmethod
    def enter(cls, needed: int) -> None:
        with cls._lock:
            if cls._users == 0:
                cls._saved = sys.getrecursionlimit()
            cls._users += 1
            if cls._users == 1 or needed > sys.getrecursionlimit():
                sys.setrecursionlimit(needed)

    @classmethod
    def exit(cls) -> None:
        with cls._lock:
            cls._users -= 1
            if cls._users == 0:
                sys.setrecursionlimit(cls._saved)
