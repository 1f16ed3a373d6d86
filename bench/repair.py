"""Program-repair benchmark: can `o-lisp evolve` fix one-line bugs, offline?

Each program in bench/repair/ is an agent (`NAME.hy`) whose target definition has a
one-line bug that one of its visible `deftest`s catches. For every program (or
`--only NAME ...`) this script

  * copies the agent to a fresh temporary directory (its own data directory, so runs
    never share a repository),
  * runs `o-lisp evolve AGENT.hy DEF --population 50 --generations 10 --workers 2
    --seed S --timeout 60 --json` (each option overridable; `--seeds N` repeats with
    seeds S, S+1, ...), and times it,
  * when the run promoted a candidate, reads the promoted code back from the agent's
    code repository (`o_lisp.agent.CodeRepository`) and runs the held-out cases of
    `bench/repair/heldout/NAME.json` on it in a fresh sandboxed `o_lisp.Interpreter`.
    The engine never sees those cases.

A program is *repaired* when a candidate was promoted and every held-out case passes,
*overfit* (plausible but wrong) when one was promoted and some held-out case fails,
*not repaired* when nothing was promoted, and *error* when the run itself broke (a
usage error, a crash, unreadable output). The report is a markdown table with the time
and the evaluations of each run, the totals and the repaired share (target: at least
half, offline, at most 60 s each on 2 cores); `--json PATH` writes every figure.

Before the population engine (issue 13), `o-lisp evolve` had no `--population`: the
script notices (from `o-lisp evolve --help`) and falls back to that CLI's hill-climber,
`--generations 3 --candidates 16`, saying so in the report.

bench/repair/fixed/NAME.hy holds the fixed program (one line differs); it is used only
by tests/test_repair_corpus.py, never here. Usage:

    .venv/bin/python bench/repair.py [--only NAME ...] [--seeds N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "repair"
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from o_lisp import Interpreter, Limits, LispError, OLispError, read_many, to_source  # noqa: E402
from o_lisp.agent import CodeRepository, DefinitionKind  # noqa: E402
from o_lisp.forms import Expression, Symbol  # noqa: E402

TARGET_SHARE = 0.5  # at least half of the programs repaired correctly
TARGET_SECONDS = 60.0  # each, offline, on 2 cores
MIN_CASES = 8  # held-out cases per program
HELDOUT_LIMITS = Limits(steps=2_000_000, time=5.0)
"""Budget of one held-out case: generous for the corpus (the fixed programs need at most
tens of thousands of steps) and short enough that an overfit candidate that loops on an
unseen input fails that case in seconds instead of hanging the benchmark."""
CODE_KINDS = (DefinitionKind.FUNCTION, DefinitionKind.MACRO, DefinitionKind.VALUE)
CODE_HEADS = frozenset(kind.value for kind in CODE_KINDS)
OUTCOMES = ("repaired", "overfit", "not repaired", "error")
LEGACY_GENERATIONS = 3
LEGACY_CANDIDATES = 16
LEGACY_MAX_CANDIDATES = 32  # the old CLI's upper bound for --candidates


class CorpusError(Exception):
    """A corpus file that is missing or malformed (the message names the file and the field)."""


# -- the corpus -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    args: tuple[Any, ...]
    expected: Any


@dataclass(frozen=True)
class HeldOut:
    definition: str
    kind: str
    origin: str
    tolerance: float | None
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class Program:
    name: str
    agent: Path
    heldout: HeldOut


def load_heldout(path: Path) -> HeldOut:
    """The held-out cases of one program; `CorpusError` naming the file and the field when
    the file is not `{"definition": NAME, "cases": [{"args": [...], "expected": ...}, ...]}`
    with at least MIN_CASES cases (optional: "kind", "origin", "tolerance")."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as problem:
        raise CorpusError(f"{path}: cannot read: {problem}") from None
    except json.JSONDecodeError as problem:
        raise CorpusError(f"{path}:{problem.lineno}:{problem.colno}: not JSON: {problem.msg}") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected a JSON object, got {type(data).__name__}")
    definition = data.get("definition")
    if not isinstance(definition, str) or not definition:
        raise CorpusError(f"{path}: 'definition' must be the name of the definition to repair")
    tolerance = data.get("tolerance")
    if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, (int, float))
                                  or not tolerance > 0):
        raise CorpusError(f"{path}: 'tolerance' must be a positive number")
    raw_cases = data.get("cases")
    if not isinstance(raw_cases, list) or len(raw_cases) < MIN_CASES:
        raise CorpusError(f"{path}: 'cases' must be a list of at least {MIN_CASES} cases")
    cases = []
    for index, case in enumerate(raw_cases):
        if not isinstance(case, dict) or not isinstance(case.get("args"), list) or "expected" not in case:
            raise CorpusError(f"{path}: case {index} must be {{\"args\": [...], \"expected\": ...}}")
        if set(case) - {"args", "expected"}:
            raise CorpusError(f"{path}: case {index} has unknown fields {sorted(set(case) - {'args', 'expected'})}")
        cases.append(Case(tuple(case["args"]), case["expected"]))
    for key in ("kind", "origin"):
        if not isinstance(data.get(key, ""), str):
            raise CorpusError(f"{path}: '{key}' must be a string")
    unknown = set(data) - {"definition", "kind", "origin", "tolerance", "cases"}
    if unknown:
        raise CorpusError(f"{path}: unknown fields {sorted(unknown)}")
    return HeldOut(definition, data.get("kind", ""), data.get("origin", ""),
                   None if tolerance is None else float(tolerance), tuple(cases))


def load_corpus(corpus: Path = CORPUS, only: Sequence[str] = ()) -> list[Program]:
    """Every program of the corpus (agents `NAME.hy` with `heldout/NAME.json`), by name;
    `only` picks some (an unknown name is a `CorpusError`)."""
    agents = {path.stem: path for path in sorted(corpus.glob("*.hy"))}
    unknown = [name for name in only if name not in agents]
    if unknown:
        raise CorpusError(f"no program {', '.join(unknown)} in {corpus} (have: {', '.join(agents)})")
    names = list(dict.fromkeys(only)) if only else list(agents)
    programs = []
    for name in names:
        heldout = corpus / "heldout" / f"{name}.json"
        if not heldout.is_file():
            raise CorpusError(f"{agents[name]}: no held-out cases ({heldout} is missing)")
        programs.append(Program(name, agents[name], load_heldout(heldout)))
    return programs


# -- running held-out cases on code ------------------------------------------------------------


def code_from_agent_file(path: Path) -> list[str]:
    """The source of each `defn`, `defmacro` and `setv` inside the `defagent` of an agent
    file, in order: what the held-out cases need, without the agent runtime."""
    forms = read_many(path.read_text(encoding="utf-8"), str(path))
    agents = [f for f in forms if isinstance(f, Expression) and f and f[0] == Symbol("defagent")]
    if len(agents) != 1:
        raise CorpusError(f"{path}: expected one (defagent ...) form, found {len(agents)}")
    return [to_source(item) for item in agents[0]
            if isinstance(item, Expression) and item and isinstance(item[0], Symbol) and str(item[0]) in CODE_HEADS]


def code_from_repository(code_dir: Path) -> list[str]:
    """The source of each function, macro and value definition at the HEAD of an agent's
    code repository (what a promotion left there), in load order."""
    repository = CodeRepository.open(code_dir, require_clean_worktree=False)
    return [d.source for d in repository.definitions() if d.kind in CODE_KINDS]


@dataclass(frozen=True)
class CaseFailure:
    args: tuple[Any, ...]
    expected: Any
    got: str

    def describe(self, definition: str) -> str:
        shown = " ".join(json.dumps(a) for a in self.args)
        return f"({definition} {shown}): expected {json.dumps(self.expected)}, got {self.got}"


def _plain(value: Any) -> Any:
    """Tuples as lists (JSON has no tuples), recursively."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def same(got: Any, expected: Any, tolerance: float | None) -> bool:
    """Equal as JSON data; numbers within `tolerance` (relative or absolute) when one is given."""
    if tolerance is not None and isinstance(expected, (int, float)) and not isinstance(expected, bool) \
            and isinstance(got, (int, float)) and not isinstance(got, bool):
        return math.isclose(got, expected, rel_tol=tolerance, abs_tol=tolerance)
    if isinstance(expected, list) and isinstance(got, (list, tuple)):
        return len(got) == len(expected) and all(same(g, e, tolerance) for g, e in zip(got, expected, strict=True))
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(got) is type(expected) and got == expected
    return bool(_plain(got) == expected)


def run_heldout(sources: Iterable[str], heldout: HeldOut, limits: Limits = HELDOUT_LIMITS) -> list[CaseFailure]:
    """Run every held-out case on the code in `sources` (evaluated in order into a fresh
    sandboxed interpreter, each case under `limits`); the failed cases (all of them, each
    with what it got)."""
    interpreter = Interpreter(limits=limits)
    try:
        for index, source in enumerate(sources):
            interpreter.eval(source, f"<definition {index + 1}>")
        interpreter.lookup(heldout.definition)
    except (LispError, KeyError) as error:
        problem = f"the code does not load: {error}"
        return [CaseFailure(case.args, case.expected, problem) for case in heldout.cases]
    failures = []
    for case in heldout.cases:
        args = json.loads(json.dumps(case.args))  # a fresh copy: the code may mutate its arguments
        try:
            got = interpreter.call(heldout.definition, *args)
        except LispError as error:
            failures.append(CaseFailure(case.args, case.expected, f"{type(error).__name__}: {error.message}"))
            continue
        if not same(got, case.expected, heldout.tolerance):
            try:
                shown = json.dumps(_plain(got))
            except (TypeError, ValueError):
                shown = repr(got)
            failures.append(CaseFailure(case.args, case.expected, shown))
    return failures


# -- running `o-lisp evolve` -------------------------------------------------------------------


def o_lisp_command() -> list[str]:
    """The `o-lisp` console script next to this Python (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "o-lisp"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("o-lisp")
    if found is None:
        raise CorpusError("cannot find the o-lisp command (install the package: pip install -e .)")
    return [found]


def evolve_supports_population(command: Sequence[str]) -> bool:
    """Whether this `o-lisp evolve` has the population engine's options (issue 13)."""
    help_text = subprocess.run([*command, "evolve", "--help"], capture_output=True, text=True, timeout=120)
    if help_text.returncode != 0:
        raise CorpusError(f"`o-lisp evolve --help` failed: {help_text.stderr.strip()}")
    return "--population" in help_text.stdout


@dataclass(frozen=True)
class Settings:
    population: int | None = None
    generations: int | None = None
    workers: int = 2
    timeout: float = TARGET_SECONDS
    candidates: int | None = None
    legacy: bool = False

    def evolve_options(self, seed: int) -> list[str]:
        """The options of one `o-lisp evolve` run."""
        if self.legacy:
            candidates = self.candidates or min(self.population or LEGACY_CANDIDATES, LEGACY_MAX_CANDIDATES)
            return ["--generations", str(self.generations or LEGACY_GENERATIONS), "--candidates", str(candidates),
                    "--timeout", f"{self.timeout:g}", "--json"]
        return ["--population", str(self.population or 50), "--generations", str(self.generations or 10),
                "--workers", str(self.workers), "--seed", str(seed), "--timeout", f"{self.timeout:g}", "--json"]

    def describe(self) -> str:
        if self.legacy:
            candidates = self.candidates or min(self.population or LEGACY_CANDIDATES, LEGACY_MAX_CANDIDATES)
            return (f"LEGACY: this `o-lisp evolve` has no --population (no population engine yet); "
                    f"ran the old hill-climber with --generations {self.generations or LEGACY_GENERATIONS} "
                    f"--candidates {candidates} --timeout {self.timeout:g} (no --seed, no --workers)")
        return (f"o-lisp evolve --population {self.population or 50} --generations {self.generations or 10} "
                f"--workers {self.workers} --timeout {self.timeout:g}")


@dataclass
class RunResult:
    program: str
    kind: str
    seed: int
    outcome: str
    seconds: float
    evaluations: int | None
    exit_code: int | None
    status: str | None = None
    heldout_passed: int | None = None
    heldout_total: int = 0
    promoted_source: str | None = None
    failures: list[str] = field(default_factory=list)
    note: str = ""


def evaluations_of(cycle: dict[str, Any]) -> int | None:
    """How many candidates the run evaluated, from whichever figure its JSON gives: a
    total (`evaluations`), a logbook's per-generation `evals`, or the candidate list."""
    total = cycle.get("evaluations")
    if isinstance(total, int) and not isinstance(total, bool):
        return total
    logbook = cycle.get("logbook")
    if isinstance(logbook, list) and logbook and all(isinstance(r, dict) and isinstance(r.get("evals"), int)
                                                     for r in logbook):
        return sum(int(r["evals"]) for r in logbook)
    candidates = cycle.get("candidates")
    if isinstance(candidates, list):
        return len(candidates)
    return None


def parse_cycle(stdout: str) -> dict[str, Any]:
    """What `o-lisp evolve --json` printed: the final cycle (an object), or a logbook alone (a
    list of generation rows, kept as `{"logbook": rows}`); `{}` when it printed no JSON."""
    try:
        document = json.loads(stdout)
    except ValueError:
        return {}
    if isinstance(document, dict):
        return document
    if isinstance(document, list):
        return {"logbook": document}
    return {}


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def run_program(program: Program, settings: Settings, seed: int, command: Sequence[str],
                keep: Path | None = None) -> RunResult:
    """One `o-lisp evolve` run on a fresh copy of the program, then its held-out verdict.
    With `keep`, what the run printed is kept there (NAME-sSEED.json and .log)."""
    with tempfile.TemporaryDirectory(prefix=f"o-repair-{program.name}-") as scratch:
        work = Path(scratch)
        agent = work / program.agent.name
        shutil.copyfile(program.agent, agent)
        data = work / "data"
        argv = [*command, "evolve", str(agent), program.heldout.definition, "--data", str(data),
                *settings.evolve_options(seed)]
        started = time.perf_counter()
        try:
            done = subprocess.run(argv, capture_output=True, text=True, cwd=work,
                                  timeout=settings.timeout + 120, env={**os.environ, "O_API_TOKEN": ""})
        except subprocess.TimeoutExpired:
            seconds = time.perf_counter() - started
            return RunResult(program.name, program.heldout.kind, seed, "error", seconds, None, None,
                             note=f"o-lisp evolve did not exit within {settings.timeout + 120:g} s")
        seconds = time.perf_counter() - started
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"{program.name}-s{seed}.json").write_text(done.stdout, encoding="utf-8")
            (keep / f"{program.name}-s{seed}.log").write_text(done.stderr, encoding="utf-8")
        result = RunResult(program.name, program.heldout.kind, seed, "not repaired", seconds, None, done.returncode,
                           heldout_total=len(program.heldout.cases))
        cycle = parse_cycle(done.stdout)
        result.status = None if cycle.get("status") is None else str(cycle["status"])
        result.evaluations = evaluations_of(cycle)
        # The exit status is the contract ("0 iff something was promoted"); the JSON adds detail.
        if done.returncode not in (0, 1):
            result.outcome = "error"
            result.note = f"exit {done.returncode}: {_last_line(done.stderr) or _last_line(done.stdout)}"
            return result
        if done.returncode == 1:
            result.note = f"status {result.status}" if result.status else _last_line(done.stderr)
            return result
        if result.status not in (None, "promoted"):
            result.outcome = "error"
            result.note = f"exit 0 but status {result.status}"
            return result
        try:
            sources = code_from_repository(data / "code")
        except (OLispError, OSError) as problem:
            result.outcome = "error"
            result.note = f"promoted, but the promoted code cannot be read: {problem}"
            return result
        target = [s for s in sources if _defines(s, program.heldout.definition)]
        result.promoted_source = target[0] if target else None
        failures = run_heldout(sources, program.heldout)
        result.heldout_passed = len(program.heldout.cases) - len(failures)
        result.failures = [f.describe(program.heldout.definition) for f in failures]
        result.outcome = "repaired" if not failures else "overfit"
        return result


def _defines(source: str, name: str) -> bool:
    forms = read_many(source)
    return bool(forms) and isinstance(forms[0], Expression) and len(forms[0]) > 1 and str(forms[0][1]) == name


# -- the report --------------------------------------------------------------------------------


def summary(results: Sequence[RunResult]) -> dict[str, Any]:
    counts = {outcome: sum(1 for r in results if r.outcome == outcome) for outcome in OUTCOMES}
    runs = len(results)
    times = sorted(r.seconds for r in results)
    return {
        "runs": runs,
        "programs": len({r.program for r in results}),
        **{outcome.replace(" ", "_"): n for outcome, n in counts.items()},
        "repaired_share": counts["repaired"] / runs if runs else 0.0,
        "median_seconds": times[len(times) // 2] if times else None,
        "max_seconds": times[-1] if times else None,
        "within_time": sum(1 for r in results if r.seconds <= TARGET_SECONDS),
        "evaluations": sum(r.evaluations or 0 for r in results),
    }


def _cell(text: str) -> str:
    """Text for one markdown table cell: `|` escaped, newlines as spaces."""
    return text.replace("|", "\\|").replace("\n", " ")


def print_report(results: Sequence[RunResult], settings: Settings, out: TextIO) -> dict[str, Any]:
    """The markdown table of every run, then the totals; returns the totals."""
    out.write(f"settings: {settings.describe()}\n\n")
    out.write("| program | bug kind | seed | outcome | held-out | time s | evals | note |\n")
    out.write("|---|---|---|---|---|---|---|---|\n")
    for r in results:
        heldout = "" if r.heldout_passed is None else f"{r.heldout_passed}/{r.heldout_total}"
        evals = "" if r.evaluations is None else str(r.evaluations)
        note = _cell(r.failures[0] if r.failures else r.note)
        seed = "-" if settings.legacy else str(r.seed)
        out.write(f"| {r.program} | {_cell(r.kind)} | {seed} | {r.outcome} | {heldout} | {r.seconds:.1f} | {evals} | "
                  f"{note} |\n")
    totals = summary(results)
    share = totals["repaired_share"]
    verdict = "meets" if share >= TARGET_SHARE else "misses"
    out.write(f"\nrepaired {totals['repaired']}/{totals['runs']} runs ({share:.0%}; {verdict} target >= "
              f"{TARGET_SHARE:.0%}), overfit {totals['overfit']}, not repaired {totals['not_repaired']}, "
              f"error {totals['error']}; programs: {totals['programs']}\n")
    if totals["runs"]:
        out.write(f"time: median {totals['median_seconds']:.1f} s, max {totals['max_seconds']:.1f} s, "
                  f"{totals['within_time']}/{totals['runs']} runs within {TARGET_SECONDS:g} s; "
                  f"evaluations: {totals['evaluations']} in all\n")
    return totals


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="programs to run (default: all)")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="directory of the programs (default: bench/repair)")
    parser.add_argument("--population", type=int, help="population size (default 50)")
    parser.add_argument("--generations", type=int, help="generations (default 10; 3 with the old CLI)")
    parser.add_argument("--workers", type=int, default=2, help="parallel shadow workers (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--seeds", type=int, default=1, help="runs per program, seeds S, S+1, ... (default 1)")
    parser.add_argument("--timeout", type=float, default=TARGET_SECONDS, help="seconds per run (default 60)")
    parser.add_argument("--candidates", type=int, help="old CLI only: candidates per generation (default 16)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every run and the totals as JSON")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep what each o-lisp evolve printed: DIR/NAME-sSEED.json (stdout) and .log (stderr)")
    args = parser.parse_args(argv)
    for option in ("population", "generations", "workers", "seeds", "candidates"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option} must be at least 1")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    try:
        programs = load_corpus(args.corpus, args.only)
        command = o_lisp_command()
        legacy = not evolve_supports_population(command)
    except CorpusError as error:
        print(f"repair: {error}", file=sys.stderr)
        return 2
    if not legacy and args.candidates is not None:
        parser.error("--candidates belongs to the old CLI; use --population")
    settings = Settings(args.population, args.generations, args.workers, args.timeout, args.candidates, legacy)
    if legacy:
        print(f"note: {settings.describe()}", file=sys.stderr)
    results: list[RunResult] = []
    for program in programs:
        for seed in range(args.seed, args.seed + args.seeds):
            result = run_program(program, settings, seed, command, args.keep)
            results.append(result)
            print(f"{program.name} seed {seed}: {result.outcome} in {result.seconds:.1f} s", file=sys.stderr,
                  flush=True)
    totals = print_report(results, settings, sys.stdout)
    if args.json is not None:
        document = {"settings": asdict(settings), "legacy": legacy, "totals": totals,
                    "runs": [asdict(r) for r in results]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
