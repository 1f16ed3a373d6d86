"""Benchmark o_lisp against Hy 1.3 on the same source programs.

Every program in bench/programs/*.hy is written once in the subset both
languages share and defines `(defn main [] ...)`.  For each program this script

  * loads the text under Hy (hy.read_many + hy.eval into a fresh module) and under
    o_lisp (`o_lisp.Interpreter()` with the default limits; only the steps budget
    is raised, and reported, if a program needs more),
  * checks that both `main()` results print identically with `hy.repr`,
  * times `main()`: one warm-up call, then N repetitions, reporting the median,
  * prints a table (Hy ms, o_lisp ms, ratio) and the geometric mean ratio,

and then measures reader throughput: a ~1 MB source read with
`o_lisp.read_many` and with `list(hy.read_many(...))`.

Timings are reported, never asserted.  Usage:

    .venv/bin/python bench/run.py [--quick] [--json PATH] [--reps N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import sys
import time
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import hy

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_RATIO = 2.0  # geometric mean o_lisp/Hy should be <= this
TARGET_MAX_RATIO = 2.5  # and no single program above this
TARGET_READER = 3.0  # o_lisp reader should be >= this many times faster than hy.read_many
TARGET_CALL_US = 10.0  # an empty interp.call should cost at most this many microseconds


@dataclass
class Result:
    name: str
    hy_load_ms: float | None = None
    hy_ms: float | None = None
    ol_load_ms: float | None = None
    ol_ms: float | None = None
    ratio: float | None = None
    equal: bool | None = None
    hy_repr: str | None = None
    ol_repr: str | None = None
    steps: int | None = None  # raised steps budget, None when the default sufficed
    error: str | None = None
    hy_times: list[float] = field(default_factory=list)
    ol_times: list[float] = field(default_factory=list)


CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
clock: Callable[[], float] = time.perf_counter
"""What programs are timed with (`--clock`): wall time, or the CPU time of this process
(all its threads: o_lisp evaluates on a thread of its own), which leaves out the time
the process waits for a core on a shared machine."""


def median_ms(fn: Callable[[], object], reps: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(reps):
        t0 = clock()
        fn()
        times.append((clock() - t0) * 1000.0)
    return statistics.median(times), times


# --------------------------------------------------------------------------- Hy side


def hy_load(text: str, path: str) -> Callable[[], Any]:
    """Evaluate a program's text into a fresh module and return its `main`."""
    module = types.ModuleType("bench_" + Path(path).stem)
    module.__dict__["hy"] = hy
    for form in hy.read_many(text, filename=path):
        hy.eval(form, module=module)
    main: Callable[[], Any] = module.__dict__["main"]
    return main


# ----------------------------------------------------------------------- o_lisp side


def import_o_lisp() -> tuple[types.ModuleType | None, str | None]:
    try:
        import o_lisp
    except Exception as exc:  # the package may not exist yet
        return None, f"{type(exc).__name__}: {exc}"
    missing = [
        n for n in ("Interpreter", "Limits", "LimitExceeded", "read_many") if not hasattr(o_lisp, n)
    ]
    if missing:
        return None, "o_lisp has no " + ", ".join(missing)
    return o_lisp, None


def describe(exc: BaseException) -> str:
    describe_fn = getattr(exc, "describe", None)
    if callable(describe_fn):
        try:
            return str(describe_fn()).splitlines()[0]
        except Exception:
            pass
    return f"{type(exc).__name__}: {exc}"


def ol_prepare(
    o_lisp: types.ModuleType, text: str, path: str
) -> tuple[Callable[[], Any], float, int | None, Any]:
    """Load a program under o_lisp; return (main, load ms, raised steps or None, first result).

    Default limits are used.  If the first `main()` runs out of steps, only the
    steps budget is raised (x10 at a time) and the program is loaded again.
    """
    steps: int | None = None
    default_steps = o_lisp.Limits().steps or 10_000_000
    while True:
        limits = o_lisp.Limits() if steps is None else o_lisp.Limits().but(steps=steps)
        interp = o_lisp.Interpreter(limits=limits)
        t0 = time.perf_counter()
        interp.eval(text, filename=path)
        load_ms = (time.perf_counter() - t0) * 1000.0
        try:
            first = interp.call("main")
        except o_lisp.LimitExceeded as exc:
            if getattr(exc, "limit", None) != "steps" or (steps or 0) >= default_steps * 1000:
                raise
            steps = (steps or default_steps) * 10
            continue
        return functools.partial(interp.call, "main"), load_ms, steps, first


def ol_repr(o_lisp: types.ModuleType, value: Any) -> str:
    fn = getattr(o_lisp, "hy_repr", None)
    return str(fn(value)) if fn is not None else str(hy.repr(value))


# ------------------------------------------------------------------------ programs


def bench_program(path: Path, o_lisp: types.ModuleType | None, reps: int) -> Result:
    text = path.read_text(encoding="utf-8")
    res = Result(path.stem)

    t0 = time.perf_counter()
    hy_main = hy_load(text, str(path))
    res.hy_load_ms = (time.perf_counter() - t0) * 1000.0
    hy_value = hy_main()  # warm-up
    res.hy_repr = str(hy.repr(hy_value))

    if o_lisp is None:
        res.error = "o_lisp not importable"
        res.hy_ms, res.hy_times = median_ms(hy_main, reps)
        return res
    try:
        ol_main, res.ol_load_ms, res.steps, ol_value = ol_prepare(o_lisp, text, str(path))
        res.ol_repr = ol_repr(o_lisp, ol_value)  # the first call was the warm-up
    except Exception as exc:
        res.error = describe(exc)
        res.hy_ms, res.hy_times = median_ms(hy_main, reps)
        return res
    res.equal = res.ol_repr == res.hy_repr
    if not res.equal:
        res.error = "results differ"
    try:
        # Alternate the two sides, so that a change of the machine's load during the
        # measurement affects both alike (the ratio is what counts).
        for _ in range(reps):
            res.hy_times.append(median_ms(hy_main, 1)[0])
            res.ol_times.append(median_ms(ol_main, 1)[0])
        res.hy_ms = statistics.median(res.hy_times)
        res.ol_ms = statistics.median(res.ol_times)
    except Exception as exc:
        res.error = describe(exc)
        return res
    if res.hy_ms and res.ol_ms is not None:
        res.ratio = res.ol_ms / res.hy_ms
    return res


def geometric_mean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def fmt(x: float | None, spec: str = "9.2f") -> str:
    return format(x, spec) if x is not None else " " * (int(spec.split(".")[0]) - 1) + "-"


def print_table(results: list[Result], out: Any) -> float | None:
    print(f"{'program':<12} {'hy ms':>9} {'o_lisp ms':>9} {'ratio':>7}  status", file=out)
    print("-" * 60, file=out)
    for r in results:
        if r.error:
            status = "FAIL: " + r.error
        else:
            status = "ok" + (f" (steps raised to {r.steps:,})" if r.steps else "")
        print(
            f"{r.name:<12} {fmt(r.hy_ms)} {fmt(r.ol_ms)} {fmt(r.ratio, '7.2f')}  {status}", file=out
        )
    print("-" * 60, file=out)
    good = [r.ratio for r in results if r.ratio is not None and not r.error]
    gmean = print_verdict(good, len(results), out)
    hy_load = sum(r.hy_load_ms or 0.0 for r in results)
    ol_loads = [r.ol_load_ms for r in results if r.ol_load_ms is not None]
    print(f"compile/load total: hy {hy_load:.1f} ms", end="", file=out)
    if ol_loads:
        print(f", o_lisp {sum(ol_loads):.1f} ms ({len(ol_loads)} programs)", end="", file=out)
    print(file=out)
    for r in results:
        if r.error == "results differ":
            print(f"  {r.name}: hy     => {r.hy_repr}", file=out)
            print(f"  {r.name}: o_lisp => {r.ol_repr}", file=out)
    return gmean


def print_verdict(ratios: list[float], total: int, out: Any) -> float | None:
    """Print the geometric mean of `ratios` and the worst one against the targets."""
    gmean = geometric_mean(ratios)
    if gmean is None:
        print("geometric mean ratio o_lisp/Hy: n/a (no program ran on both)", file=out)
        return None
    verdict = "meets" if gmean <= TARGET_RATIO else "MISSES"
    worst = max(ratios)
    worst_verdict = "meets" if worst <= TARGET_MAX_RATIO else "MISSES"
    print(
        f"geometric mean ratio o_lisp/Hy: {gmean:.2f}x over {len(ratios)}/{total} programs"
        f" ({verdict} target <= {TARGET_RATIO:g}x); worst {worst:.2f}x"
        f" ({worst_verdict} target <= {TARGET_MAX_RATIO:g}x)",
        file=out,
    )
    return gmean


def call_cost_us(o_lisp: types.ModuleType, calls: int) -> tuple[float, float]:
    """Median µs of an empty `interp.call`: from this (the main) thread, whose 8 MiB stack
    is too shallow so the call runs on an evaluation thread, and from a thread with a
    deep stack (`o_lisp.run_on_deep_stack`), where it runs inline."""
    interp = o_lisp.Interpreter()
    interp.eval("(defn nop [] None)")
    call = functools.partial(interp.call, "nop")
    call()
    hop_ms, _ = median_ms(call, calls)
    deep = getattr(o_lisp, "run_on_deep_stack", None)
    inline_ms = deep(lambda: median_ms(call, calls)[0]) if deep is not None else float("nan")
    return hop_ms * 1000.0, inline_ms * 1000.0


def fixed_costs(o_lisp: types.ModuleType, out: Any, calls: int = 2000) -> dict:
    """o_lisp's per-interpreter and per-call overhead (not included in the ratios above)."""
    try:
        new_ms, _ = median_ms(o_lisp.Interpreter, 5)
        hop_us, inline_us = call_cost_us(o_lisp, calls)
    except Exception as exc:
        print(f"o_lisp fixed costs: FAIL: {describe(exc)}", file=out)
        return {"error": describe(exc)}
    verdict = "meets" if inline_us <= TARGET_CALL_US else "MISSES"
    print(
        f"o_lisp fixed costs: Interpreter() {new_ms:.2f} ms; empty interp.call (median of {calls})"
        f" {inline_us:.1f} us on a deep-stack thread ({verdict} target <= {TARGET_CALL_US:g} us),"
        f" {hop_us:.1f} us from the main thread",
        file=out,
    )
    return {"interpreter_ms": new_ms, "empty_call_us": inline_us, "empty_call_main_thread_us": hop_us}


# -------------------------------------------------------------------------- reader


def reader_source(target_bytes: int) -> str:
    texts = [p.read_text(encoding="utf-8") for p in sorted(PROGRAMS.glob("*.hy"))]
    unit = "\n".join(texts) + "\n"
    copies = max(1, target_bytes // len(unit.encode("utf-8")))
    return unit * copies


def bench_reader(
    o_lisp: types.ModuleType | None,
    target_bytes: int,
    reps: int,
    out: Any,
    text: str | None = None,
) -> dict:
    text = text if text is not None else reader_source(target_bytes)
    mb = len(text.encode("utf-8")) / 1e6
    report: dict[str, Any] = {"source_mb": mb}
    hy_ms, _ = median_ms(lambda: list(hy.read_many(text)), reps)
    report["hy_ms"] = hy_ms
    report["hy_mb_s"] = mb / (hy_ms / 1000.0)
    print(f"reader: {mb:.2f} MB source, median of {reps}", file=out)
    print(f"  hy.read_many     {hy_ms:9.1f} ms  {report['hy_mb_s']:7.2f} MB/s", file=out)
    if o_lisp is None:
        print("  o_lisp.read_many  n/a (o_lisp not importable)", file=out)
        return report
    try:
        n_ol = len(o_lisp.read_many(text))
        n_hy = len(list(hy.read_many(text)))
        ol_ms, _ = median_ms(lambda: o_lisp.read_many(text), reps)
    except Exception as exc:
        report["error"] = describe(exc)
        print(f"  o_lisp.read_many  FAIL: {report['error']}", file=out)
        return report
    report.update(ol_ms=ol_ms, ol_mb_s=mb / (ol_ms / 1000.0), speedup=hy_ms / ol_ms)
    report["forms_equal"] = n_ol == n_hy
    print(f"  o_lisp.read_many {ol_ms:9.1f} ms  {report['ol_mb_s']:7.2f} MB/s", file=out)
    verdict = "meets" if report["speedup"] >= TARGET_READER else "MISSES"
    print(
        f"  reader speedup o_lisp vs hy: {report['speedup']:.2f}x"
        f" ({verdict} target >= {TARGET_READER:g}x)"
        + ("" if n_ol == n_hy else f"  [form count differs: o_lisp {n_ol}, hy {n_hy}]"),
        file=out,
    )
    return report


# ---------------------------------------------------------------------------- main


def print_medians(rounds: list[list[Result]], out: Any) -> dict[str, float]:
    """Per program, the median over the runs of its ratio; then the verdict on those."""
    medians: dict[str, float] = {}
    print(f"median ratio over {len(rounds)} runs (each run's ratios in brackets):", file=out)
    for results in zip(*rounds, strict=True):
        ratios = [r.ratio for r in results if r.ratio is not None and not r.error]
        if len(ratios) == len(results):
            medians[results[0].name] = statistics.median(ratios)
            each = " ".join(f"{x:.2f}" for x in ratios)
            print(f"  {results[0].name:<14} {medians[results[0].name]:5.2f}  [{each}]", file=out)
        else:
            print(f"  {results[0].name:<14}     -  (failed in some run)", file=out)
    print_verdict(list(medians.values()), len(rounds[0]), out)
    return medians


def run(
    quick: bool = False,
    reps: int | None = None,
    only: list[str] | None = None,
    reader: bool = True,
    json_path: str | None = None,
    out: Any = None,
    reader_mb: float | None = None,
    runs: int = 1,
) -> dict:
    out = out if out is not None else sys.stdout
    reps = reps if reps is not None else (2 if quick else 7)
    paths = sorted(PROGRAMS.glob("*.hy"))
    if only:
        paths = [p for p in paths if p.stem in only]
    o_lisp, why = import_o_lisp()
    print(
        f"o_lisp vs Hy {hy.__version__}: median of {reps} runs of main() after one warm-up"
        f" ({'CPU' if clock is time.process_time else 'wall'} time)",
        file=out,
    )
    if o_lisp is None:
        print(f"o_lisp not importable ({why}); timing Hy only", file=out)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    rounds: list[list[Result]] = []
    for index in range(runs):
        if runs > 1:
            print(f"-- run {index + 1} of {runs}", file=out)
        results = [bench_program(p, o_lisp, reps) for p in paths]
        gmean = print_table(results, out)
        rounds.append(results)
    report: dict[str, Any] = {
        "hy_version": hy.__version__,
        "reps": reps,
        "runs": runs,
        "programs": [asdict(r) for results in rounds for r in results],
        "geometric_mean_ratio": gmean,
    }
    if runs > 1:
        report["median_ratios"] = medians = print_medians(rounds, out)
        report["geometric_mean_ratio"] = geometric_mean(list(medians.values()))
    if o_lisp is not None:
        report["fixed_costs"] = fixed_costs(o_lisp, out)
    if reader:
        mb = reader_mb if reader_mb is not None else (0.1 if quick else 1.0)
        report["reader"] = bench_reader(o_lisp, int(mb * 1e6), 1 if quick else 3, out)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"wrote {json_path}", file=out)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few repetitions, small reader input")
    ap.add_argument("--reps", type=int, help="timed repetitions per program (default 7, quick 2)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these programs")
    ap.add_argument("--no-reader", action="store_true", help="skip the reader benchmark")
    ap.add_argument(
        "--reader-mb", type=float, help="reader input size in MB (default 1.0, quick 0.1)"
    )
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument(
        "--runs", type=int, default=1, help="run the programs this many times; report median ratios"
    )
    ap.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="time programs by wall time (default) or by this process's CPU time",
    )
    args = ap.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    if args.runs < 1 or (args.reps is not None and args.reps < 1):
        ap.error("--runs and --reps must be at least 1")
    run(
        args.quick,
        args.reps,
        args.only,
        not args.no_reader,
        args.json,
        reader_mb=args.reader_mb,
        runs=args.runs,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
