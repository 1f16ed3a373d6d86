"""Load the differential program corpus and evaluate programs with Hy (the reference).

Program files live in ``programs/*.hy``; each program starts with a line
``;;; name`` and runs until the next such line. The value of the last form is
the program's result.
"""

from __future__ import annotations

import itertools
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

PROGRAMS_DIR = Path(__file__).parent / "programs"
_HEADER = re.compile(r"^;;; ([A-Za-z0-9_.\-]+)\s*$")


@dataclass(frozen=True)
class Program:
    name: str
    source: str
    file: str
    line: int


def _split(path: Path) -> list[Program]:
    """The programs of one file, in order."""
    chunks: list[tuple[str, int, list[str]]] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            chunks.append((m.group(1), lineno, []))
        elif chunks:
            chunks[-1][2].append(line)
    return [
        Program(name, "\n".join(lines).strip() + "\n", path.name, start)
        for name, start, lines in chunks
    ]


def load_programs(directory: Path = PROGRAMS_DIR) -> list[Program]:
    programs: list[Program] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.hy")):
        for program in _split(path):
            if program.name in seen:
                raise ValueError(f"duplicate program name {program.name!r} in {path.name}")
            seen.add(program.name)
            programs.append(program)
    return programs


_counter = itertools.count()


@dataclass(frozen=True)
class Outcome:
    """Either a value (rendered with hy.repr) or an exception class name."""

    ok: bool
    repr: str | None = None
    exc_type: str | None = None
    exc: BaseException | None = None


def run_hy(source: str) -> Outcome:
    """Evaluate `source` with Hy in a fresh module, form by form."""
    import hy

    # The module is registered while it runs so that helpers that look up the
    # calling module (hy.macroexpand) can find it.
    name = f"hy_differential_program_{next(_counter)}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    result = None
    try:
        for form in hy.read_many(source, filename="<program>"):
            result = hy.eval(form, module=module)
    except Exception as e:  # the reference raised: remember the class name
        return Outcome(False, exc_type=type(e).__name__, exc=e)
    finally:
        del sys.modules[name]
    return Outcome(True, repr=hy.repr(result))


def main() -> None:
    """Print every program's reference outcome: `python tests/differential/corpus.py [file.hy ...]`."""
    only = set(sys.argv[1:])
    programs = load_programs()
    for p in programs:
        if only and p.file not in only:
            continue
        o = run_hy(p.source)
        shown = f"= {o.repr}" if o.ok else f"! {o.exc_type}: {o.exc}"
        print(f"{p.name:40} {shown}")
    print(f"{len(programs)} programs")


if __name__ == "__main__":
    main()
