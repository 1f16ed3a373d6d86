"""Live traffic while a population runs: is the guardian still responsive?

    .venv/bin/python bench/evolution_load.py [--rounds 5] [--population 50] [--generations 10]
                                             [--workers 2] [--rate 50] [--json PATH]

A population cycle (issue 13) breeds in a worker (the breeder shadow) and evaluates in
a pool of shadow workers; the guardian only forwards frames between them. This script
checks that claim from the outside: it starts a real `Guardian` on a small agent that
answers ``message`` requests and has a definition worth evolving, and in each round

1. *idle*: sends live ``message`` requests (``Guardian.request``, paced at ``--rate``
   per second, one in flight) for as long as the previous loaded phase took (the
   first round: 10 s), and records their latencies;
2. *loaded*: starts a population cycle (``--population`` individuals, ``--generations``
   generations, ``--workers`` evaluator shadows, seed = the round) on the agent's
   ``score`` definition and sends the same paced messages until the cycle ends.

The figure is the ratio of the p99 latency under load to the idle p99 of the same
round, and its median over the rounds (target: at most 2). p50 and the cycle's
evaluations/s are reported beside it. The agent's tests pass, so the search runs every
generation looking for a fitter variant (a repair would stop at its first fix).

The machine's two cores are shared by the main worker, the guardian, the breeder and
the evaluators: live latency under load measures that sharing too (the evaluator
shadows run at a lower CPU priority, docs/evolution.md). Nothing is asserted; CI never
runs this file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from o_lisp.guardian._runs import PopulationSettings  # noqa: E402
from o_lisp.guardian._supervisor import Guardian, GuardianConfig  # noqa: E402

TARGET_RATIO = 2.0

AGENT = """\
(defagent loadtest
  :version "1.0.0"
  :doc "Answers messages; `score` is what the population evolves (its tests pass)."

  (defn score [xs]
    "The sum of the squares of the even numbers of xs, plus the count of odd ones."
    (setv total 0)
    (setv odd 0)
    (for [x xs]
      (if (= (% x 2) 0)
          (setv total (+ total (* x x)))
          (setv odd (+ odd 1))))
    (+ total odd))

  (defn respond [text]
    (+ "score: " (str (score (lfor c text (ord c))))))

  (deftest squares-of-evens
    (assert (= (score []) 0))
    (assert (= (score [2]) 4))
    (assert (= (score [2 4]) 20))
    (assert (= (score [1 3]) 2))
    (assert (= (score [1 2 3 4]) 22))
    (assert (= (score [10 11]) 101))))
"""


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile, in milliseconds (samples in seconds)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))] * 1e3


async def paced_messages(guardian: Guardian, rate: float, until: Any,
                         when: list[float] | None = None) -> tuple[list[float], int]:
    """Send ``message``s at `rate` per second (one in flight) until `until()` is true: latencies,
    failures (and, into `when`, the `time.perf_counter()` each message was sent)."""
    latencies: list[float] = []
    failures = 0
    interval = 1.0 / rate
    n = 0
    next_at = time.perf_counter()
    while not until():
        n += 1
        started = time.perf_counter()
        try:
            await guardian.request("message", {"text": f"hello {n} from the load test"})
            latencies.append(time.perf_counter() - started)
            if when is not None:
                when.append(started)
        except Exception:
            failures += 1
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    return latencies, failures


async def main_async(options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    agent = workdir / "loadtest.hy"
    agent.write_text(AGENT, encoding="utf-8")
    guardian = Guardian(GuardianConfig(agent=agent, data_dir=workdir / "data"))
    await guardian.start()
    rounds: list[dict[str, Any]] = []
    try:
        manager = guardian.evolution
        warm, _ = await paced_messages(guardian, options.rate, _for(2.0))
        print(f"warm-up: {len(warm)} messages, p50 {percentile(warm, 0.5):.2f} ms", flush=True)
        loaded_seconds = 10.0
        for number in range(1, options.rounds + 1):
            idle, idle_failures = await paced_messages(guardian, options.rate, _for(loaded_seconds))
            settings = PopulationSettings(population=options.population, generations=options.generations,
                                          workers=options.workers, seed=number)
            started = time.perf_counter()
            cycle_id = await manager.start("score", population=settings)
            done = asyncio.ensure_future(manager.wait(cycle_id))
            sent: list[float] = []
            loaded, loaded_failures = await paced_messages(guardian, options.rate, done.done, sent)
            cycle = await done
            loaded_seconds = time.perf_counter() - started
            run = cycle.get("population") or {}
            row = {
                "round": number, "idle_n": len(idle), "loaded_n": len(loaded),
                "idle_p50_ms": percentile(idle, 0.5), "idle_p99_ms": percentile(idle, 0.99),
                "loaded_p50_ms": percentile(loaded, 0.5), "loaded_p99_ms": percentile(loaded, 0.99),
                "failures": idle_failures + loaded_failures, "cycle_seconds": loaded_seconds,
                "status": cycle.get("status"), "evaluations": run.get("evaluations"),
                "generations": run.get("completed_generations"),
                "evaluations_per_second": (run.get("evaluations") or 0) / loaded_seconds,
                # the slowest live messages under load, and when (seconds after the cycle started)
                "worst_ms_at_s": sorted(((round(latency * 1e3, 2), round(at - started, 2))
                                         for latency, at in zip(loaded, sent, strict=True)), reverse=True)[:5],
            }
            row["p99_ratio"] = row["loaded_p99_ms"] / row["idle_p99_ms"]
            row["p50_ratio"] = row["loaded_p50_ms"] / row["idle_p50_ms"]
            rounds.append(row)
            print(f"round {number}: idle p50 {row['idle_p50_ms']:.2f} p99 {row['idle_p99_ms']:.2f} ms (n={len(idle)}) | "
                  f"population p50 {row['loaded_p50_ms']:.2f} p99 {row['loaded_p99_ms']:.2f} ms (n={len(loaded)}) | "
                  f"p99 x{row['p99_ratio']:.2f} | {row['evaluations']} evaluations in {loaded_seconds:.1f} s "
                  f"({row['evaluations_per_second']:.1f}/s, {row['generations']} generations, {row['status']}); "
                  f"slowest (ms @ s): {row['worst_ms_at_s']}", flush=True)
    finally:
        await guardian.stop()
    summary = {
        "median_p99_ratio": statistics.median(r["p99_ratio"] for r in rounds),
        "median_p50_ratio": statistics.median(r["p50_ratio"] for r in rounds),
        "median_idle_p99_ms": statistics.median(r["idle_p99_ms"] for r in rounds),
        "median_loaded_p99_ms": statistics.median(r["loaded_p99_ms"] for r in rounds),
        "median_evaluations_per_second": statistics.median(r["evaluations_per_second"] for r in rounds),
        "target_ratio": TARGET_RATIO,
    }
    return {"settings": vars(options) | {"cpus": os.cpu_count()}, "rounds": rounds, "summary": summary}


def _for(seconds: float) -> Any:
    deadline = time.perf_counter() + seconds
    return lambda: time.perf_counter() >= deadline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=50.0, help="live messages per second")
    parser.add_argument("--json", type=Path, metavar="PATH")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="o-evolution-load-") as workdir:
        result = asyncio.run(main_async(options, Path(workdir)))
    s = result["summary"]
    ok = s["median_p99_ratio"] <= TARGET_RATIO
    print(f"\nlive message p99 under a population of {options.population} vs idle: median x{s['median_p99_ratio']:.2f} "
          f"({s['median_loaded_p99_ms']:.2f} ms vs {s['median_idle_p99_ms']:.2f} ms; p50 x{s['median_p50_ratio']:.2f}); "
          f"target <= x{TARGET_RATIO:g}: {'met' if ok else 'NOT met'}; "
          f"{s['median_evaluations_per_second']:.1f} evaluations/s (median)")
    if options.json is not None:
        options.json.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
