"""The repair benchmark without the guardian: the population engine driven in-process.

For each program of bench/repair/ (or `--only NAME ...`) this loads the agent, runs the
breeder (`o_lisp.worker._breed.Breeder`: the same search the guardian drives) with the
evaluations done in this process by `o_lisp.worker._evaluate.evaluate` (one core: the
guardian spreads them over a pool of shadows), and scores the final best exactly as
bench/repair.py scores a promoted candidate (its `run_heldout` on the held-out cases the
engine never sees): *repaired* (improved and every held-out case passes), *overfit*
(improved, some case fails), *not repaired* (nothing passed every visible check).

It measures the engine's repair power (operators, localisation, selection) apart from
the process plumbing; bench/repair.py measures the whole `o-lisp evolve` path. Usage:

    .venv/bin/python bench/repair_inprocess.py [--only NAME ...] [--seed S] [--population N]
        [--generations G] [--json PATH] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from repair import (  # noqa: E402 - bench/repair.py: the corpus and the held-out scoring
    CORPUS,
    TARGET_SECONDS,
    TARGET_SHARE,
    CorpusError,
    Program,
    _defines,
    code_from_agent_file,
    load_corpus,
    run_heldout,
)

from o_lisp import OLispError  # noqa: E402
from o_lisp.agent._agent import Agent  # noqa: E402
from o_lisp.evolution._individual import EvaluationRequest  # noqa: E402
from o_lisp.evolution._search import SearchError, Settings  # noqa: E402
from o_lisp.worker._breed import Breeder  # noqa: E402
from o_lisp.worker._evaluate import evaluate  # noqa: E402


@dataclass
class Outcome:
    program: str
    kind: str
    outcome: str
    seconds: float
    evaluations: int
    generations: int
    operator: str | None
    edit_distance: int | None
    source: str | None
    note: str


def repair_one(program: Program, settings: dict[str, object]) -> Outcome:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="o-repair-") as tmp:
        agent = Agent.load(program.agent, Path(tmp) / "data")
        breeder = Breeder(agent, program.heldout.definition, settings)
        data = breeder.start()["request"]
        while data is not None:
            request = EvaluationRequest.from_data(data)
            answers = evaluate(agent, request)
            data = breeder.tell([a.as_data() for a in answers])["request"]
        best = breeder.best()
    seconds = time.perf_counter() - started
    candidate = best["best"]
    outcome = Outcome(program.name, program.heldout.kind, "not repaired", seconds, best["evaluations"],
                      best["generations"], None, None, None, best["reason"])
    if candidate is not None:
        outcome.operator, outcome.edit_distance, outcome.source = (candidate["operator"], candidate["edit_distance"],
                                                                   candidate["source"])
    if not best["improved"]:
        return outcome
    sources = [candidate["source"] if _defines(s, program.heldout.definition) else s
               for s in code_from_agent_file(program.agent)]
    failures = run_heldout(sources, program.heldout)
    outcome.outcome = "overfit" if failures else "repaired"
    outcome.note = failures[0].describe(program.heldout.definition) if failures else ""
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--islands", type=int, default=2)
    parser.add_argument("--json", type=Path, metavar="PATH")
    parser.add_argument("--verbose", action="store_true", help="print each repaired or overfit source")
    options = parser.parse_args(argv)
    try:
        programs = load_corpus(CORPUS, options.only)
    except CorpusError as problem:
        print(f"repair_inprocess: {problem}", file=sys.stderr)
        return 2
    settings: dict[str, object] = {"population": options.population, "generations": options.generations,
                                   "islands": options.islands, "seed": options.seed}
    try:
        Settings.from_data(settings)
    except SearchError as problem:
        print(f"repair_inprocess: {problem}", file=sys.stderr)
        return 2
    results = []
    print("| program | outcome | s | evals | gens | operator | edit |")
    print("|---|---|---:|---:|---:|---|---:|")
    for program in programs:
        try:
            result = repair_one(program, settings)
        except (SearchError, OLispError, OSError) as problem:  # one broken program does not end the run
            result = Outcome(program.name, program.heldout.kind, "error", 0.0, 0, 0, None, None, None,
                             f"{type(problem).__name__}: {problem}")
        results.append(result)
        print(f"| {result.program} | {result.outcome} | {result.seconds:.1f} | {result.evaluations} | "
              f"{result.generations} | {result.operator or ''} | {result.edit_distance if result.edit_distance is not None else ''} |",
              flush=True)
        if options.verbose and result.source:
            print(f"    {result.source}\n    {result.note}", flush=True)
    counts = {k: sum(1 for r in results if r.outcome == k) for k in ("repaired", "overfit", "not repaired", "error")}
    times = sorted(r.seconds for r in results)
    share = counts["repaired"] / len(results) if results else 0.0
    print(f"\nrepaired {counts['repaired']}/{len(results)} ({share:.0%}, target {TARGET_SHARE:.0%}), "
          f"overfit {counts['overfit']}, not repaired {counts['not repaired']}, error {counts['error']}; "
          f"median {times[len(times) // 2]:.1f} s, max {times[-1]:.1f} s (target <= {TARGET_SECONDS:g} s each, "
          f"here on one core, in-process); settings {settings}")
    if options.json:
        options.json.write_text(json.dumps({"settings": settings, "counts": counts,
                                            "results": [asdict(r) for r in results]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
