"""A population run's directory: what it takes to resume it, and what it did.

A population cycle (`o_lisp.guardian._evolution`) can run for minutes; a guardian
killed meanwhile (kill -9, a power cut) must not lose it. So every run gets a
directory ``DATA/evolution/runs/RUN_ID/`` holding

* ``settings.json`` — the definition and the search settings, written once;
* ``state.json`` — the breeder's state (populations, archive, RNG state, counters)
  after the last *completed* generation, replaced atomically (temp file, fsync,
  rename, fsync of the directory) so a crash leaves the previous checkpoint or the
  new one, never half of one;
* ``lineage.jsonl`` — one line per evaluated individual (id, parents, operator,
  stage, reason, fitness vector, generation): every candidate is recorded here, not
  as a git commit each;
* ``logbook.jsonl`` — one DEAP-style row per completed generation (gen, evals, and
  best/min/avg/max per objective).

Resuming (`RunStore.open` then `resume_point`) drops the lineage and logbook lines of
generations after the checkpoint — the breeder redoes those from its saved state, so
they would otherwise appear twice.

Plain files and stdlib JSON only: the guardian process never imports agent code.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from o_lisp._limits import MAX_GENERATIONS, MAX_ISLANDS, MAX_POPULATION, MAX_SEED, MAX_WORKERS

__all__ = ["RUNS_DIRECTORY", "PopulationSettings", "RunError", "RunStore", "new_run_id", "valid_run_id"]

RUNS_DIRECTORY = Path("evolution") / "runs"
"""Under the guardian's data directory."""

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
FORMAT = 1


class RunError(Exception):
    """A run that cannot be created, found or resumed; the message says which and why."""


@dataclass(frozen=True)
class PopulationSettings:
    """What a population cycle breeds with: the search settings the breeder gets
    (``evolution_breed_start``'s ``settings``), and how many evaluator shadows run them.

    The defaults are the seeds' (population 50, 10 generations, tournament 3, crossover
    0.7, mutation 0.1, elitism 5) and the search's 2 islands (`default_islands`: fewer
    for a population under 4, every island needing 2 individuals). `seed` None means "pick one": the cycle draws a seed
    and records it with the run, so every run can be repeated. `workers` 0 means one
    evaluator shadow per core."""

    population: int = 50
    generations: int = 10
    islands: int = 2
    workers: int = 0
    seed: int | None = None
    max_evals: int | None = None
    tournament: int = 3
    crossover: float = 0.7
    mutation: float = 0.1
    elitism: int = 5

    def problems(self) -> list[str]:
        """What is wrong with these settings, one sentence each (empty: nothing). The CLI,
        the HTTP API and the evolution manager all refuse with these sentences."""
        found = []
        if not 2 <= self.population <= MAX_POPULATION:
            found.append(f"population must be from 2 to {MAX_POPULATION}, got {self.population}")
        if not 1 <= self.generations <= MAX_GENERATIONS:
            found.append(f"generations must be from 1 to {MAX_GENERATIONS}, got {self.generations}")
        if not 1 <= self.islands <= MAX_ISLANDS:
            found.append(f"islands must be from 1 to {MAX_ISLANDS}, got {self.islands}")
        elif self.islands > self.population // 2:
            found.append(f"islands ({self.islands}) needs at least 2 individuals per island: a population of "
                         f"{self.population} allows at most {self.population // 2}")
        if not 0 <= self.workers <= MAX_WORKERS:
            found.append(f"workers must be from 1 to {MAX_WORKERS}, got {self.workers}")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            found.append(f"seed must be from 0 to {MAX_SEED}, got {self.seed}")
        if self.max_evals is not None and self.max_evals < 1:
            found.append(f"max_evals must be at least 1, got {self.max_evals}")
        return found

    @staticmethod
    def default_islands(population: int) -> int:
        """Islands when none are asked for: 2, or 1 for a population too small for two."""
        return max(1, min(2, population // 2))

    def evaluator_count(self) -> int:
        return self.workers or max(1, os.cpu_count() or 1)

    def breed_settings(self) -> dict[str, Any]:
        """``evolution_breed_start``'s ``settings`` (the breeder does not need `workers`)."""
        data = asdict(self)
        del data["workers"]
        data["elitism"] = min(self.elitism, self.population)
        return data

    def as_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> PopulationSettings:
        """Settings from a run's ``settings.json`` (unknown keys ignored: a newer run's extras)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def new_run_id(now: float | None = None) -> str:
    """A run id unique across guardian restarts (cycle ids restart at ``evo-1``):
    the UTC time to the second, then 6 random hex digits (``20261205T071502-3fa9c1``)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{stamp}-{secrets.token_hex(3)}"


def valid_run_id(run_id: str) -> bool:
    """Whether `run_id` can name a run directory (letters, digits, ``.``, ``_``, ``-``; no path)."""
    return bool(_RUN_ID.match(run_id)) and run_id not in (".", "..")


def _write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a crash at any point leaves the old or the new content."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class ResumePoint:
    """Where a resumed run starts: the breeder state of its last completed generation
    (None when it was killed before completing one: it starts over with its settings)."""

    generation: int
    state: dict[str, Any] | None


class RunStore:
    """One run's directory (see the module docstring). Not thread-safe: one cycle owns it."""

    def __init__(self, directory: Path, run_id: str) -> None:
        self.directory = directory
        self.run_id = run_id

    # -- creating and finding runs ----------------------------------------------------------
    @classmethod
    def create(cls, data_dir: Path, settings: Mapping[str, Any], run_id: str | None = None) -> RunStore:
        """A new run directory with its settings; `RunError` if it exists or cannot be written."""
        run_id = run_id or new_run_id()
        if not valid_run_id(run_id):
            raise RunError(f"bad run id {run_id!r}")
        directory = data_dir / RUNS_DIRECTORY / run_id
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
            directory.mkdir()
            _write_atomic(directory / "settings.json",
                          json.dumps({"format": FORMAT, "run": run_id, "created": time.time(),
                                      "settings": dict(settings)}, indent=2, ensure_ascii=False))
        except FileExistsError:
            raise RunError(f"run {run_id} already exists in {directory.parent}") from None
        except OSError as error:
            raise RunError(f"cannot create the run directory {directory}: {error}") from None
        return cls(directory, run_id)

    @classmethod
    def open(cls, data_dir: Path, run_id: str) -> RunStore:
        """An existing run, to resume; `RunError` naming what is missing."""
        if not valid_run_id(run_id):
            raise RunError(f"no run {run_id!r}: a run id is letters, digits, '.', '_' and '-' "
                           "(like 20261205T071502-3fa9c1)")
        directory = data_dir / RUNS_DIRECTORY / run_id
        if not (directory / "settings.json").is_file():
            known = cls.known(data_dir)
            hint = f" (runs here: {', '.join(known[-5:])})" if known else " (there are no runs in this data directory)"
            raise RunError(f"no run {run_id!r} in {directory.parent}{hint}")
        return cls(directory, run_id)

    @staticmethod
    def known(data_dir: Path) -> list[str]:
        """The run ids in `data_dir`, oldest first (ids start with their creation time)."""
        runs = data_dir / RUNS_DIRECTORY
        if not runs.is_dir():
            return []
        return sorted(p.name for p in runs.iterdir() if (p / "settings.json").is_file())

    # -- reading ----------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """The settings the run was created with."""
        data = self._read_json("settings.json")
        settings = data.get("settings")
        if data.get("format") != FORMAT or not isinstance(settings, dict):
            raise RunError(f"{self.directory / 'settings.json'}: not a run's settings (format {FORMAT})")
        return settings

    def resume_point(self) -> ResumePoint:
        """The last checkpoint, and the lineage and logbook cut back to it."""
        path = self.directory / "state.json"
        if not path.exists():  # killed before completing a generation: it starts over, lineage and all
            generation, state = -1, None
        else:
            data = self._read_json("state.json")
            if data.get("format") != FORMAT or not isinstance(data.get("state"), dict) \
                    or not isinstance(data.get("generation"), int):
                raise RunError(f"{path}: not a run checkpoint (format {FORMAT})")
            generation, state = int(data["generation"]), dict(data["state"])
        self._truncate("lineage.jsonl", "generation", generation)
        self._truncate("logbook.jsonl", "gen", generation)
        return ResumePoint(max(generation, 0), state)

    def lineage(self) -> list[dict[str, Any]]:
        return self._read_lines("lineage.jsonl")

    def logbook(self) -> list[dict[str, Any]]:
        return self._read_lines("logbook.jsonl")

    # -- writing ----------------------------------------------------------------------------
    def record(self, generation: int, individuals: Iterable[Mapping[str, Any]]) -> None:
        """Append evaluated individuals (of `generation`) to the lineage."""
        lines = [json.dumps({**dict(i), "generation": generation}, ensure_ascii=False, allow_nan=False,
                            default=str) + "\n" for i in individuals]
        if lines:
            self._append("lineage.jsonl", lines)

    def log_generation(self, row: Mapping[str, Any]) -> None:
        """Append a completed generation's logbook row."""
        self._append("logbook.jsonl", [json.dumps(dict(row), ensure_ascii=False, default=str) + "\n"])

    def checkpoint(self, generation: int, state: Mapping[str, Any]) -> None:
        """Save the breeder state after `generation` completed (atomically; the lineage
        and logbook are flushed to disk first, so a checkpoint never runs ahead of them)."""
        for name in ("lineage.jsonl", "logbook.jsonl"):
            path = self.directory / name
            if path.exists():
                with open(path, "rb+") as out:
                    os.fsync(out.fileno())
        _write_atomic(self.directory / "state.json",
                      json.dumps({"format": FORMAT, "generation": generation, "time": time.time(),
                                  "state": dict(state)}, ensure_ascii=False))

    def finish(self, summary: Mapping[str, Any]) -> None:
        """The run's outcome (``summary.json``): best, evaluations, promotion or why not."""
        _write_atomic(self.directory / "summary.json", json.dumps(dict(summary), indent=2, ensure_ascii=False,
                                                                  default=str))

    # -- internals --------------------------------------------------------------------------
    def _read_json(self, name: str) -> dict[str, Any]:
        path = self.directory / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise RunError(f"cannot read {path}: {error}") from None
        if not isinstance(data, dict):
            raise RunError(f"{path}: expected a JSON object")
        return data

    def _read_lines(self, name: str) -> list[dict[str, Any]]:
        path = self.directory / name
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        rows = []
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if isinstance(row, dict):
                rows.append(row)
        return rows

    def _append(self, name: str, lines: list[str]) -> None:
        with open(self.directory / name, "a", encoding="utf-8") as out:
            out.writelines(lines)

    def _truncate(self, name: str, key: str, generation: int) -> None:
        """Keep the rows of generations up to `generation` (and nothing cut short by a crash)."""
        path = self.directory / name
        if not path.exists():
            return
        rows = [row for row in self._read_lines(name)
                if isinstance(row.get(key), int) and int(row[key]) <= generation]
        _write_atomic(path, "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows))
