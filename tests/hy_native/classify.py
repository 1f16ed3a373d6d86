"""Classify Hy 1.3's own native tests: which use only what o_lisp supports.

The rules are mechanical and come from the refusal tables of
`docs/language.md` (never from running the tests):

* the test's text must be readable by o_lisp's reader (f-string and t-string
  prefixes other than the supported `f"..."`, reader macros `#name`, `#^` are
  refused there);
* no refused form (`FORBIDDEN_FORMS`: import, require, defclass, with, match,
  ...), no attribute access (`a.b`, `(. a b)`, a `.method` outside the
  allow-listed method table), no dunder or `_o_` name, no refused built-in
  (`DENIED`), no name bound by an `import`/`require` of the file;
* no parameters (pytest fixtures) and no decorators (pytest marks);
* a file-level helper the test uses must itself be in the subset;
* the test must pass under Hy when run on its own, after the file's helper
  definitions (a test that needs module-level forms we skip is not
  self-contained, and Hy is the oracle).

`python tests/hy_native/classify.py` prints the subset; `subset.txt` next to
this file is its committed output (a test checks that it is up to date).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_module_ids = itertools.count()
HERE = Path(__file__).resolve().parent
TESTS_DIR = HERE / "hy_tests"
# Top-level forms that define helpers a test may use (other top-level forms are skipped).
PRELUDE_HEADS = frozenset(["defn", "defmacro", "setv"])
SUBSET_FILE = HERE / "subset.txt"


@dataclass(frozen=True)
class TopForm:
    """One top-level form of a Hy test file, with its source text."""

    file: str
    index: int
    text: str
    head: str
    name: str | None
    form: Any


@dataclass(frozen=True)
class NativeTest:
    """One `(defn test-... [] ...)` with the top-level forms it runs after."""

    file: str
    name: str
    prelude: tuple[str, ...]
    text: str

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"

    def program(self) -> str:
        return "\n".join([*self.prelude, self.text, f"({self.name})", ""])


def _slice(lines: list[str], after: tuple[int, int], end: tuple[int, int]) -> str:
    """The text after position `after` (0-based column) up to and including `end`."""
    (sl, sc), (el, ec) = after, end
    if sl == el:
        return lines[sl - 1][sc:ec]
    parts = [lines[sl - 1][sc:], *lines[sl : el - 1], lines[el - 1][:ec]]
    return "\n".join(parts)


def top_forms(path: Path) -> list[TopForm]:
    """The top-level forms of a file (read by Hy; a file Hy cannot read gives none)."""
    import hy

    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    out: list[TopForm] = []
    try:
        forms = list(hy.read_many(text, filename=str(path)))
    except Exception:
        return []
    previous_end = (1, 0)
    for i, form in enumerate(forms):
        start = (form.start_line, form.start_column - 1)
        previous_end = (form.end_line, form.end_column)
        head = ""
        name = None
        if isinstance(form, hy.models.Expression) and form and isinstance(form[0], hy.models.Symbol):
            head = str(form[0])
            rest = list(form[1:])
            if head in ("defn", "defmacro", "defn/a") and rest:
                if isinstance(rest[0], hy.models.List) and len(rest) > 1:
                    rest = rest[1:]
                if isinstance(rest[0], hy.models.Symbol):
                    name = str(rest[0])
        out.append(TopForm(path.name, i, _slice(lines, start, previous_end).strip(), head, name, form))
    return out


def _walk(form: Any) -> Iterator[Any]:
    import hy

    stack = [form]
    while stack:
        x = stack.pop()
        yield x
        if isinstance(x, hy.models.Sequence):
            stack.extend(x)
        elif isinstance(x, hy.models.FString):
            stack.extend(x)
        elif isinstance(x, hy.models.FComponent):
            stack.extend(x)


def _imported_names(form: Any) -> set[str]:
    """Names an `import`/`require` form binds (approximately: every symbol in it)."""
    import hy

    return {str(x) for x in _walk(form) if isinstance(x, hy.models.Symbol)} - {".", "None"}


def refusal(form: Any, text: str, imported: set[str]) -> str | None:
    """Why `form` is outside o_lisp's supported subset, or None."""
    import hy

    from o_lisp import _reader
    from o_lisp._builtins import DENIED
    from o_lisp._compiler import FORBIDDEN_FORMS, HY_NAMES, forbidden_name
    from o_lisp._mangle import mangle
    from o_lisp._runtime import METHOD_NAMES

    try:
        _reader.read_many(text, "<classify>")
    except Exception as error:
        return f"reader: {error}"
    members: set[int] = set()  # the member names of `(. hy eval)`, `(. None append)`: not variables
    for x in _walk(form):
        if isinstance(x, hy.models.Expression) and x and isinstance(x[0], hy.models.Symbol):
            head = str(x[0])
            if head in FORBIDDEN_FORMS:
                return f"refused form {head}"
            if head == ".":
                parts = [str(p) for p in x[1:]]
                if parts and parts[0] in ("hy", "None"):
                    members.update(id(p) for p in x[2:])
                if len(parts) == 2 and parts[0] == "None":
                    continue  # `.method` in a call's head: allow-listed or not, decided below
                if not ((len(parts) == 2 and parts[0] == "hy" and parts[1] in HY_NAMES)
                        or (len(parts) == 3 and parts[:2] == ["hy", "models"])):
                    return "attribute access"
        if isinstance(x, hy.models.Expression) and x and isinstance(x[0], hy.models.Expression):
            inner = x[0]
            if len(inner) == 3 and str(inner[0]) == "." and str(inner[1]) == "None":
                method = mangle(str(inner[2]))
                if method not in METHOD_NAMES:
                    return f"method .{inner[2]} is not allow-listed"
        if isinstance(x, hy.models.Symbol) and id(x) not in members:
            name = str(x)
            if name in imported:
                return f"uses the imported name {name}"
            if "." in name.strip(".") and name != "...":
                if not (name.startswith("hy.") and (name[3:] in HY_NAMES or name.startswith("hy.models."))):
                    return f"attribute access {name}"
            mangled = mangle(name)
            if name in DENIED or mangled in DENIED:
                return f"refused built-in {name}"
            if forbidden_name(mangled):
                return f"dunder or reserved name {name}"
    return None


def collect() -> tuple[list[NativeTest], dict[str, str]]:
    """(tests in the subset, {test id: why not} for the others)."""
    import hy

    subset: list[NativeTest] = []
    excluded: dict[str, str] = {}
    for path in sorted(TESTS_DIR.glob("*.hy")):
        forms = top_forms(path)
        if not forms:
            excluded[f"{path.name}::*"] = "the file cannot be read by Hy"
            continue
        imported: set[str] = set()
        for f in forms:
            if f.head in ("import", "require"):
                imported |= _imported_names(f.form)
        helpers_out: dict[str, str] = {}
        tests: list[TopForm] = []
        candidates: list[TopForm] = []
        for f in forms:
            if f.name is not None and f.name.startswith(("test-", "test_")) and f.head.startswith("defn"):
                tests.append(f)
            elif f.head in PRELUDE_HEADS:
                candidates.append(f)
            else:
                # Imports, module-level assertions, macro calls that generate tests:
                # anything they define is outside the subset.
                for x in _walk(f.form):
                    for n in _defined_names(x):
                        helpers_out[n] = f"defined by a top-level ({f.head})"
        # File-level definitions in the subset, to a fixpoint (a helper that uses an
        # excluded helper is excluded too).
        changed = True
        while changed:
            changed = False
            for f in candidates:
                if _defined_names(f.form) <= set(helpers_out):
                    continue
                why = refusal(f.form, f.text, imported | set(helpers_out))
                if why is not None:
                    for n in _defined_names(f.form):
                        helpers_out[n] = why
                    changed = True
        prelude = [f for f in candidates if not _defined_names(f.form) <= set(helpers_out)]
        for t in tests:
            tid = f"{path.name}::{t.name}"
            rest = list(t.form[1:])
            if t.head != "defn":
                excluded[tid] = f"{t.head} test"
                continue
            if isinstance(rest[0], hy.models.List):
                excluded[tid] = "decorated (pytest marks or fixtures)"
                continue
            if not isinstance(rest[1], hy.models.List) or len(rest[1]):
                excluded[tid] = "takes parameters (pytest fixtures)"
                continue
            why = refusal(t.form, t.text, imported | set(helpers_out))
            if why is not None:
                excluded[tid] = why
                continue
            test = NativeTest(path.name, str(rest[0]), tuple(p.text for p in prelude), t.text)
            failure = run_under_hy(test.program())
            if failure is not None:
                excluded[tid] = f"fails under Hy on its own: {failure}"
                continue
            subset.append(test)
    return subset, excluded


def run_under_hy(source: str) -> str | None:
    """None if Hy runs `source` (in a fresh module) without error, else the error."""
    import types

    import hy

    name = f"hy_native_check_{next(_module_ids)}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # Hy's own code warns (SyntaxWarning) in places
            for form in hy.read_many(source, filename="<hy-native>"):
                hy.eval(form, module=module)
    except Exception as error:
        return f"{type(error).__name__}: {error}".splitlines()[0]
    finally:
        del sys.modules[name]
    return None


def _defined_names(form: Any) -> set[str]:
    import hy

    if isinstance(form, hy.models.Expression) and len(form) > 1:
        head = str(form[0])
        if head in ("defn", "defmacro", "defn/a", "defclass", "deftype"):
            rest = list(form[1:])
            if isinstance(rest[0], hy.models.List) and len(rest) > 1:
                rest = rest[1:]
            return {str(rest[0])}
        if head in ("setv", "setx"):
            return {str(x) for x in list(form[1:])[::2] if isinstance(x, hy.models.Symbol)}
    return set()


def main() -> int:
    subset, excluded = collect()
    if "--why" in sys.argv:
        for tid, why in sorted(excluded.items()):
            print(f"{tid}\t{why}")
        return 0
    for t in subset:
        print(t.id)
    print(f"# {len(subset)} in the subset, {len(excluded)} outside", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent.parent))
    raise SystemExit(main())
