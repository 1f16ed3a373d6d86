"""Budget internals changed for speed (`o_lisp._budget`): the watchdog's heap and wake-ups,
nested deadlines checked by the evaluating thread, and the cached RSS reader after fork."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

import o_lisp._budget as budget_module
from o_lisp import Interpreter, LimitExceeded, Limits
from o_lisp._budget import WATCHDOG, DeadlineExceeded, _Alarm


def test_watchdog_heap_stays_small_when_alarms_are_cancelled() -> None:
    """One time-limit alarm per evaluation, cancelled long before it is due: without the
    sweep the heap would hold every one of them for a minute."""
    fired: list[int] = []
    before = WATCHDOG.pending()  # other interpreters' alarms (kept until due) from earlier tests
    for i in range(10_000):
        WATCHDOG.schedule(60, fired.append, i).cancel()
    assert WATCHDOG.pending() - before < 200
    assert fired == []


def test_watchdog_fires_out_of_order_alarms_in_time_order_and_skips_cancelled_ones() -> None:
    """An alarm earlier than the one the watchdog waits for must wake it (not wait for
    the later one), and a cancelled alarm must never run."""
    fired: list[tuple[str, float]] = []
    all_fired = threading.Event()
    lock = threading.Lock()

    def action(name: str) -> Any:
        def fire(_argument: int) -> None:
            with lock:
                fired.append((name, time.monotonic()))
                if len(fired) == 3:
                    all_fired.set()

        return fire

    late = WATCHDOG.schedule(1.2, action("late"), 0)
    time.sleep(0.05)  # the watchdog now sleeps until `late` is due
    cancelled_early = WATCHDOG.schedule(0.06, action("cancelled early"), 0)
    early = WATCHDOG.schedule(0.1, action("early"), 0)
    middle = WATCHDOG.schedule(0.3, action("middle"), 0)
    cancelled_late = WATCHDOG.schedule(0.35, action("cancelled late"), 0)
    cancelled_early.cancel()
    cancelled_late.cancel()

    assert all_fired.wait(timeout=20)
    time.sleep(0.1)  # a cancelled alarm firing late would show up now
    assert [name for name, _ in fired] == ["early", "middle", "late"]
    times = dict(fired)
    assert times["early"] >= early.when
    assert times["middle"] >= middle.when
    assert times["late"] >= late.when
    # Woken for the earlier alarm: it did not wait for `late`'s time.
    assert times["early"] < late.when


def _never_fired_alarm(seconds: float, action: Any, argument: int) -> _Alarm:
    """What `WATCHDOG.schedule` returns, without ever firing it (a GIL-starved watchdog)."""
    return _Alarm(time.monotonic() + seconds, action, argument, WATCHDOG)


def test_nested_deadline_fires_from_the_evaluating_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool call's deadline must interrupt a spinning program even when the watchdog
    never gets to run: the evaluating thread checks the clock at each chunk of steps."""
    monkeypatch.setattr(budget_module.WATCHDOG, "schedule", _never_fired_alarm)
    interp = Interpreter()
    budget = interp._budget
    outcome: dict[str, Any] = {}

    def tool() -> str:
        budget.push_deadline(0.05, "tool timed out")
        start = time.monotonic()
        try:
            interp.call(interp.lookup("spin"))
        except LimitExceeded as error:
            outcome["error"] = error
        finally:
            outcome["seconds"] = time.monotonic() - start
            outcome["steps"] = budget.steps_used
            budget.pop_deadline()
        return "recovered"

    interp.grant("tool", tool)
    interp.eval("(defn spin [] (while True))")
    # The evaluation goes on after the deadline: the tool's caller handles the timeout.
    assert interp.eval("[(tool) (+ 1 2)]") == ["recovered", 3]
    error = outcome["error"]
    assert isinstance(error, DeadlineExceeded), error
    assert "tool timed out" in str(error)
    assert outcome["steps"] < interp.limits.steps // 2
    assert outcome["seconds"] < 5


def test_nested_deadline_fires_only_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fired by the evaluating thread, a deadline must not fire again at the next chunk:
    after the timeout is handled, more work in the same scope runs to completion."""
    monkeypatch.setattr(budget_module.WATCHDOG, "schedule", _never_fired_alarm)
    interp = Interpreter()
    budget = interp._budget
    outcome: dict[str, Any] = {}

    def tool() -> int:
        budget.push_deadline(0.02, "once")
        try:
            try:
                interp.call(interp.lookup("spin"))
            except DeadlineExceeded as error:
                outcome["first"] = error
            # Many chunks of steps, all after the deadline's time.
            return int(interp.call(interp.lookup("total"), 100_000))
        finally:
            budget.pop_deadline()

    interp.grant("tool", tool)
    interp.eval("(defn spin [] (while True))")
    interp.eval("(defn total [n] (setv s 0) (for [k (range n)] (+= s k)) s)")
    assert interp.eval("(tool)") == sum(range(100_000))
    assert "once" in str(outcome["first"])


_FORK_RSS_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from o_lisp._budget import resident_bytes

    resident_bytes()  # the parent's statm is now open and cached
    pid = os.fork()
    if pid == 0:
        before = resident_bytes()
        block = bytearray(64 << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        grown = resident_bytes() - before
        print("child grew", grown >> 20, "MiB", file=sys.stderr, flush=True)
        os._exit(0 if grown > 40 << 20 else 5)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


def test_resident_bytes_in_a_forked_child_measures_the_child() -> None:
    """The statm fd is cached per process: a child reading its parent's would see no
    growth, and a guardian worker's memory limit would never trip."""
    proc = subprocess.run(
        [sys.executable, "-c", _FORK_RSS_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_a_deadline_fired_by_the_watchdog_does_not_fire_again_at_the_next_chunk() -> None:
    """The watchdog and the evaluating thread may both see a deadline due: it interrupts once.

    A capability sleeps past the deadline (the watchdog fires it then); the caller handles
    the DeadlineExceeded and goes on with work of more than one chunk of steps, in the same
    deadline scope, which must not be interrupted a second time.
    """
    interp = Interpreter()
    budget = interp._budget
    interp.grant("nap", lambda: time.sleep(0.2))
    interp.eval("(defn slow [] (nap) (for [k (range 10)] k) 1)")
    interp.eval("(defn total [n] (setv s 0) (for [k (range n)] (+= s k)) s)")
    seen: list[tuple[str, Any]] = []

    def tool() -> int:
        budget.push_deadline(0.05, "tool timed out")
        try:
            for name, args in (("slow", ()), ("total", (100_000,)), ("total", (100_000,))):
                try:
                    seen.append((name, interp.call(interp.lookup(name), *args)))
                except DeadlineExceeded as error:
                    seen.append((name, error.message))
        finally:
            budget.pop_deadline()
        return 0

    interp.grant("tool", tool)
    assert interp.eval("(tool)") == 0
    assert seen == [("slow", "tool timed out"), ("total", 4999950000), ("total", 4999950000)]


def _count_rss_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one at every read of the resident set size."""
    calls: list[int] = []
    real = budget_module.resident_bytes

    def counting() -> int:
        calls.append(1)
        return real()

    monkeypatch.setattr(budget_module, "resident_bytes", counting)
    return calls


def test_a_short_evaluation_does_not_read_the_resident_set_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory base is taken lazily: a rule check costs no /proc read."""
    interp = Interpreter()
    interp.eval("(defn f [x] (+ x 1))")
    calls = _count_rss_reads(monkeypatch)
    assert interp.eval("(f 1)") == 2
    assert calls == []
    # Past FIRST_CHUNK steps the base is taken (and then compared at every chunk).
    interp.eval(f"(for [i (range {budget_module.FIRST_CHUNK * 3})] i)")
    assert len(calls) >= 1


def test_memory_grown_early_is_still_caught() -> None:
    """Large allocations trigger the base before they happen, so they count in full."""
    from o_lisp import Limits

    interp = Interpreter(limits=Limits(memory=8 << 20))
    with pytest.raises(LimitExceeded) as failed:
        interp.eval('(do (setv keep []) (for [i (range 12)] (.append keep (* "x" 3000000))) (len keep))')
    assert failed.value.limit == "memory"


def test_steps_taken_is_exact_across_chunks_and_at_the_limit() -> None:
    """`steps_used` counts whole chunks; `steps_taken` what was spent (evolution compares it)."""
    from o_lisp import Limits

    interp = Interpreter()
    interp.eval("(defn spin [n] (for [i (range n)] i))")
    counts = []
    for n in (0, 1, 999, budget_module.CHUNK * 3 + 7):
        interp.call("spin", n)
        counts.append(interp.steps_taken())
    assert [c - counts[0] for c in counts] == [0, 1, 999, budget_module.CHUNK * 3 + 7]
    with pytest.raises(LimitExceeded):
        interp.eval("(spin 100000)", limits=Limits(steps=12_345))
    assert interp.steps_taken() == 12_345


def test_time_alarm_is_kept_across_evaluations_and_still_fires() -> None:
    """The time alarm outlives short evaluations (no scheduling per call), re-arms for the
    running evaluation's deadline, and a shorter limit than the pending alarm's gets one."""
    interp = Interpreter(limits=Limits(time=5.0))
    interp.eval("(defn nop [] None) (defn spin [] (while True))")
    interp.call("nop")
    before = WATCHDOG.pending()
    for _ in range(500):
        interp.call("nop")
    assert WATCHDOG.pending() <= before
    start = time.monotonic()
    with pytest.raises(LimitExceeded) as info:
        interp.eval("(spin)", limits=Limits(time=0.2, steps=None))
    assert info.value.limit == "time"
    assert time.monotonic() - start < 2.0
    # The lapsed or re-armed alarm serves the next evaluations too.
    for limit in (0.1, 0.3):
        start = time.monotonic()
        with pytest.raises(LimitExceeded):
            interp.eval("(spin)", limits=Limits(time=limit, steps=None))
        assert limit <= time.monotonic() - start + 0.05 < limit + 2.0


def test_memory_sampler_is_kept_across_evaluations() -> None:
    interp = Interpreter()
    interp.eval("(defn nop [] None)")
    for _ in range(200):
        interp.call("nop")
    alarm = interp._budget._memory_alarm
    assert alarm is not None
    interp.call("nop")
    assert interp._budget._memory_alarm is alarm  # the same sample, not a new one per call


def test_chunk_boundaries_sample_memory_at_most_every_step_memory_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the resident set size releases the GIL; read at every chunk of a tight loop
    it starved other threads (`cancel()`, the watchdog) for seconds. Now at most once per
    `STEP_MEMORY_SAMPLE`, and a cancel from another thread stops the loop at once."""
    calls = _count_rss_reads(monkeypatch)
    interp = Interpreter(limits=Limits(steps=None, time=0.5))
    with pytest.raises(LimitExceeded) as info:
        interp.eval("(while True)")
    assert info.value.limit == "time"
    assert 1 <= len(calls) <= 0.5 / budget_module.STEP_MEMORY_SAMPLE + 20, len(calls)
    interp = Interpreter(limits=Limits(steps=None, time=None))
    timer = threading.Timer(0.2, interp.cancel)
    timer.start()
    started = time.monotonic()
    with pytest.raises(LimitExceeded, match="cancelled"):
        interp.eval("(while True)")
    assert time.monotonic() - started < 2


def test_memory_growth_of_small_steps_is_still_caught() -> None:
    from o_lisp import Limits

    interp = Interpreter(limits=Limits(memory=32 << 20, steps=None, time=30))
    with pytest.raises(LimitExceeded) as failed:
        interp.eval("(do (setv keep []) (while True (.append keep [1 2 3 4 5 6 7 8])))")
    assert failed.value.limit == "memory"
