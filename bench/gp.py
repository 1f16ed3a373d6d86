"""Symbolic regression: O's GP engine (o_lisp.evolution._gp) against DEAP's `gp` module.

Koza-1 and Nguyen-1..8 on their published sample ranges (20 points drawn uniformly from
U[-1, 1], U[0, 2] for Nguyen-7, U[0, 4] for Nguyen-8; drawn once per problem with a fixed
seed, the same points for both sides). DEAP runs its `symbreg.py` example as published:
population 300, 40 generations of `eaSimple` (cxpb 0.5, mutpb 0.1), tournament 3,
genHalfAndHalf 1-2, cxOnePoint, mutUniform with genFull 0-2, static height limit 17,
primitives add sub mul protectedDiv neg cos sin and an ephemeral constant in {-1, 0, 1},
fitness the mean squared error. O runs an agent (`AGENT` below: the same primitives and
terminals declared with `deffitness ... :for f`, its body the negated mean squared error)
with the same budget: exactly as many evaluations as DEAP made with the same seed.

A run succeeds when its best individual's error is below 0.01 on every point (for O, the
best `defn` compiled by the sandbox in a scratch agent and called on each point). For
each problem: success rate per side, and evaluations per second (evaluations / wall time
of the whole run, selection and variation included; medians over the seeds; both sides
single-process, interleaved seed by seed so they share the machine's load).

    python bench/gp.py                 # 9 problems x 20 seeds (a few minutes)
    python bench/gp.py --seeds 30 --json .o/bench-gp.json
    python bench/gp.py --quick         # CI smoke: 2 problems, 2 seeds, small runs
"""

from __future__ import annotations

import argparse
import json
import math
import operator
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from o_lisp.agent._agent import Agent  # noqa: E402
from o_lisp.agent._definitions import Definition, DefinitionKind  # noqa: E402
from o_lisp.agent._dsl import read_agent  # noqa: E402
from o_lisp.evolution._gp import GPConfig, grow, verify  # noqa: E402

PROBLEMS: dict[str, tuple[Callable[[float], float], float, float]] = {
    "koza-1": (lambda x: x**4 + x**3 + x**2 + x, -1.0, 1.0),
    "nguyen-1": (lambda x: x**3 + x**2 + x, -1.0, 1.0),
    "nguyen-2": (lambda x: x**4 + x**3 + x**2 + x, -1.0, 1.0),
    "nguyen-3": (lambda x: x**5 + x**4 + x**3 + x**2 + x, -1.0, 1.0),
    "nguyen-4": (lambda x: x**6 + x**5 + x**4 + x**3 + x**2 + x, -1.0, 1.0),
    "nguyen-5": (lambda x: math.sin(x**2) * math.cos(x) - 1, -1.0, 1.0),
    "nguyen-6": (lambda x: math.sin(x) + math.sin(x + x**2), -1.0, 1.0),
    "nguyen-7": (lambda x: math.log(x + 1) + math.log(x**2 + 1), 0.0, 2.0),
    "nguyen-8": (lambda x: math.sqrt(x), 0.0, 4.0),
}
POINTS = 20
TOLERANCE = 0.01

AGENT = """\
(defagent regression
  :version "0.1.0"
  :doc "Fit f to the cases (bench/gp.py)."
  (setv cases {cases})
  (defn pdiv [a b] (if (= b 0) 1.0 (/ a b)))
  (defn f [x] x)
  (deffitness mse :for f :primitives [+ - * pdiv [- 1] cos sin] :terminals [x [-1.0 0.0 1.0]]
    (- (/ (sum (lfor [x y] cases :setv d (- (f x) y) (* d d))) (len cases)))))
"""


def cases(name: str) -> list[tuple[float, float]]:
    fn, low, high = PROBLEMS[name]
    rng = random.Random(f"gp-bench:{name}")
    xs = [rng.uniform(low, high) for _ in range(POINTS)]
    return [(x, fn(x)) for x in xs]


@dataclass(frozen=True)
class Run:
    problem: str
    side: str
    seed: int
    evaluations: int
    seconds: float
    success: bool
    best: str

    @property
    def rate(self) -> float:
        return self.evaluations / self.seconds


# -- DEAP ------------------------------------------------------------------------------------


def _protected_div(left: float, right: float) -> float:
    try:
        return left / right
    except ZeroDivisionError:
        return 1


def _rand101() -> int:
    return random.randint(-1, 1)


def deap_toolbox(points: list[tuple[float, float]], population: int) -> Any:
    """DEAP's examples/gp/symbreg.py, fitness on `points`."""
    from deap import base, creator, gp, tools

    pset = gp.PrimitiveSet("MAIN", 1)
    pset.addPrimitive(operator.add, 2)
    pset.addPrimitive(operator.sub, 2)
    pset.addPrimitive(operator.mul, 2)
    pset.addPrimitive(_protected_div, 2)
    pset.addPrimitive(operator.neg, 1)
    pset.addPrimitive(math.cos, 1)
    pset.addPrimitive(math.sin, 1)
    pset.addEphemeralConstant("rand101", _rand101)
    pset.renameArguments(ARG0="x")
    if not hasattr(creator, "FitnessMin"):
        creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
        creator.create("Individual", gp.PrimitiveTree, fitness=creator.FitnessMin)
    toolbox = base.Toolbox()
    toolbox.register("expr", gp.genHalfAndHalf, pset=pset, min_=1, max_=2)
    toolbox.register("individual", tools.initIterate, creator.Individual, toolbox.expr)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual, n=population)
    toolbox.register("compile", gp.compile, pset=pset)
    counter = [0]

    def evaluate(individual: Any) -> tuple[float]:
        counter[0] += 1
        func = toolbox.compile(expr=individual)
        sqerrors = ((func(x) - y) ** 2 for x, y in points)
        return (math.fsum(sqerrors) / len(points),)

    toolbox.register("evaluate", evaluate)
    toolbox.register("select", tools.selTournament, tournsize=3)
    toolbox.register("mate", gp.cxOnePoint)
    toolbox.register("expr_mut", gp.genFull, min_=0, max_=2)
    toolbox.register("mutate", gp.mutUniform, expr=toolbox.expr_mut, pset=pset)
    toolbox.decorate("mate", gp.staticLimit(key=operator.attrgetter("height"), max_value=17))
    toolbox.decorate("mutate", gp.staticLimit(key=operator.attrgetter("height"), max_value=17))
    return toolbox, counter


def run_deap(problem: str, seed: int, population: int, generations: int) -> Run:
    import warnings

    from deap import algorithms, tools

    points = cases(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        toolbox, counter = deap_toolbox(points, population)
    random.seed(seed)
    started = time.perf_counter()
    pop = toolbox.population()
    hof = tools.HallOfFame(1)
    algorithms.eaSimple(pop, toolbox, 0.5, 0.1, generations, halloffame=hof, verbose=False)
    seconds = time.perf_counter() - started
    func = toolbox.compile(expr=hof[0])
    try:
        success = all(abs(func(x) - y) < TOLERANCE for x, y in points)
    except (ArithmeticError, ValueError):
        success = False
    return Run(problem, "deap", seed, counter[0], seconds, success, str(hof[0]))


# -- O ----------------------------------------------------------------------------------------


def regression_agent(problem: str, data: Path) -> Agent:
    text = AGENT.format(cases="[" + " ".join(f"#({x!r} {y!r})" for x, y in cases(problem)) + "]")
    return Agent(read_agent(text, f"<{problem}>"), data, role="scratch")


def run_o(problem: str, seed: int, population: int, budget: int, data: Path) -> Run:
    agent = regression_agent(problem, data)
    result = grow(agent, "mse", GPConfig(population=population, generations=100 * budget, max_evaluations=budget,
                                         seed=seed))
    scratch = agent.scratch(Definition("f", DefinitionKind.FUNCTION, result.best_source))
    checked = verify(agent, "mse", result.best_source)
    if checked != result.best_fitness:
        raise AssertionError(f"{problem} seed {seed}: the engine scored {result.best_fitness!r}, "
                             f"the sandbox {checked!r} for {result.best_source}")
    try:
        success = all(abs(scratch.interpreter.call("f", x) - y) < TOLERANCE for x, y in cases(problem))
    except Exception:  # the best raises on a point: not a success
        success = False
    return Run(problem, "o", seed, result.evaluations, result.seconds, success, result.best_source)


# -- report ----------------------------------------------------------------------------------


def table(runs: list[Run], problems: list[str]) -> tuple[str, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    lines = ["| problem | seeds | DEAP success | O success | DEAP evals/s | O evals/s | O/DEAP evals/s | evals/run (median) |",
             "|---|---|---|---|---|---|---|---|"]
    for problem in problems:
        deap = [r for r in runs if r.problem == problem and r.side == "deap"]
        o = [r for r in runs if r.problem == problem and r.side == "o"]
        row = {
            "problem": problem, "seeds": len(deap),
            "deap_success": sum(r.success for r in deap) / len(deap),
            "o_success": sum(r.success for r in o) / len(o),
            "deap_evals_per_s": statistics.median(r.rate for r in deap),
            "o_evals_per_s": statistics.median(r.rate for r in o),
            "evaluations": statistics.median(r.evaluations for r in o),
        }
        row["ratio"] = row["o_evals_per_s"] / row["deap_evals_per_s"]
        rows.append(row)
        lines.append(f"| {problem} | {row['seeds']} | {row['deap_success']:.0%} | {row['o_success']:.0%} | "
                     f"{row['deap_evals_per_s']:,.0f} | {row['o_evals_per_s']:,.0f} | {row['ratio']:.2f}x | "
                     f"{row['evaluations']:,.0f} |")
    return "\n".join(lines), rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="runs per problem and side (default 20)")
    parser.add_argument("--problems", nargs="*", choices=sorted(PROBLEMS), help="default: all nine")
    parser.add_argument("--quick", action="store_true", help="CI smoke: 2 problems, 2 seeds, population 50, 5 generations")
    parser.add_argument("--json", type=Path, help="also write the runs and the table as JSON here")
    args = parser.parse_args(argv)
    try:
        import deap  # noqa: F401
    except ImportError:
        print("bench/gp.py needs DEAP: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    problems = args.problems or list(PROBLEMS)
    seeds, population, generations = args.seeds, 300, 40
    if args.quick:
        problems, seeds, population, generations = problems[:2], 2, 50, 5
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        for problem in problems:
            for seed in range(seeds):
                deap_run = run_deap(problem, seed, population, generations)
                o_run = run_o(problem, seed, population, deap_run.evaluations, Path(tmp) / "data")
                runs += [deap_run, o_run]
            done = [r for r in runs if r.problem == problem]
            print(f"{problem}: DEAP {sum(r.success for r in done if r.side == 'deap')}/{seeds}, "
                  f"O {sum(r.success for r in done if r.side == 'o')}/{seeds}", file=sys.stderr, flush=True)
    text, rows = table(runs, problems)
    print(f"Symbolic regression, O vs DEAP: same evaluations per run (DEAP's 40 generations x {population}), "
          f"{seeds} seeds, success = error < {TOLERANCE} on all {POINTS} points\n")
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "runs": [asdict(r) for r in runs]}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
