"""The clock evolution compares code with measures sub-millisecond work inside a shadow.

Shadows run under RLIMIT_CPU, and there the process CPU clock (`time.process_time`)
advances in scheduler ticks (~4 ms): 0.4 ms of work read as 0.0 ms, and evidence said
"median 0.0 ms vs 0.408 ms (-100%)". `cpu_time` is per-thread CPU time counted on the
thread the evaluation ran on. These tests run in a child process with a shadow's CPU
limit and check what one evaluation of ~0.4 ms of deterministic work reads, both when
the evaluation is handed to a pooled evaluation thread (an embedder, the CLI) and when
it runs inline on a deep thread (a guardian worker or shadow). The work's cost is
calibrated against an independent clock over a long block of repetitions, where a
4 ms tick is a 2 % error; this asserts measurement correctness, not speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import json, resource, statistics, sys, time
    resource.setrlimit(resource.RLIMIT_CPU, (120, 120))  # what a shadow runs under
    from o_lisp import Interpreter, Limits
    from o_lisp._evalthread import run_on_deep_thread
    from o_lisp.evolution._validate import cpu_time

    interp = Interpreter(limits=Limits(steps=10_000_000, time=10.0))
    interp.eval("(defn spin [n] (for [i (range n)] i) n)")

    def block_ms(n, repeats):
        # an independent clock over a long block: per-evaluation cost of spin(n)
        started = time.process_time()
        for _ in range(repeats):
            interp.call("spin", n)
        return (time.process_time() - started) * 1000 / repeats

    # calibrate a step count whose evaluation costs about 0.4 ms: warm the code up first
    # (a cold first block overestimates the cost per call), then size it on blocks of
    # >= 200 ms and refine once on the size found
    block_ms(200, 50)
    n = 200
    while True:
        per = block_ms(n, 50)
        if per * 50 >= 200:
            break
        n *= 2
    for _ in range(2):
        n = max(1, round(n * 0.4 / per))
        per = statistics.median(block_ms(n, 500) for _ in range(3))
    cost = per

    def readings():
        out = []
        for _ in range(200):
            started = cpu_time()
            interp.call("spin", n)
            out.append((cpu_time() - started) * 1000)
        return out

    pooled = readings()
    inline = run_on_deep_thread(readings)
    print(json.dumps({"n": n, "cost": cost, "pooled": statistics.median(pooled),
                      "inline": statistics.median(inline),
                      "distinct": len(set(round(x, 4) for x in pooled + inline))}))
    """
)


@pytest.fixture(scope="module")
def measured() -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    data: dict[str, float] = json.loads(result.stdout)
    return data


def test_the_calibrated_work_costs_about_0_4_ms(measured: dict[str, float]) -> None:
    assert 0.3 <= measured["cost"] <= 0.6, measured


def test_0_4_ms_of_work_reads_0_3_to_0_6_ms_under_a_shadows_cpu_limit(measured: dict[str, float]) -> None:
    # 0.3-0.6 ms for work calibrated to ~0.4 ms; the lower bound follows the calibration,
    # which a loaded CI machine has put at 0.33 ms (readings then 0.25-0.27 ms).
    assert 0.6 * measured["cost"] <= measured["pooled"] <= 0.6, measured
    assert measured["pooled"] == pytest.approx(measured["cost"], rel=0.35), measured


def test_an_inline_reading_is_sub_millisecond_not_a_tick(measured: dict[str, float]) -> None:
    # Inline on a deep thread (as in a shadow) the reading runs 1.3-1.8x the calibrated
    # cost on this machine (0.52-0.70 ms for 0.4 ms of work): more than the work is
    # counted there, which is still open (issue 13, item 1). What it must never be again
    # is a scheduler tick's 0 or ~4 ms.
    assert 0.6 * measured["cost"] <= measured["inline"] <= 2 * measured["cost"], measured


def test_readings_have_microsecond_resolution(measured: dict[str, float]) -> None:
    # a 4 ms tick clock gives two values (0 and ~4 ms) for 400 readings of 0.4 ms
    assert measured["distinct"] > 20, measured
