"""SEARCH/REPLACE edits of a definition's source, as a language model writes them.

A model asked to improve a long definition often answers with a few targeted edits
rather than the whole form (cheaper, and it keeps the author's layout and comments):

    <<<<<<< SEARCH
    (for [i (range 0 20000 1)] i)
    =======
    >>>>>>> REPLACE

This module only turns such a reply into new source text; the text is then read,
checked and validated exactly like a whole form the model wrote (the generator's
`_Collector`, then the evolution pipeline), so an edit can never skip a check a
whole form would get. Pure text work: nothing is read as code here.

Matching is exact first; when the exact text is not there (models re-indent), a run
of lines equal once leading and trailing blanks are ignored is accepted and the
replacement is re-indented by the same offset. A SEARCH text found more than once is
refused (the edit would be ambiguous), as is an empty one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BLOCK = re.compile(
    r"^[ \t]*<{5,9}[ \t]*SEARCH[^\n]*\n(?P<search>.*?)^[ \t]*={5,9}[ \t]*\n(?P<replace>.*?)^[ \t]*>{5,9}[ \t]*REPLACE[^\n]*$\n?",
    re.S | re.M,
)
_MARKER = re.compile(r"^[ \t]*<{5,9}[ \t]*SEARCH", re.M)


class EditError(ValueError):
    """An edit that cannot be applied; the message says which and why (it goes into the
    generator's `last_errors`, the worker's log, and the cycle's failure message)."""


@dataclass(frozen=True)
class Edit:
    """Replace the text `search` of the source by `replace`."""

    search: str
    replace: str


def has_edits(text: str) -> bool:
    """Whether `text` holds at least one SEARCH marker (so it is edits, not code)."""
    return _MARKER.search(text) is not None


def parse_edits(text: str) -> list[Edit]:
    """The edits of `text` in order. A SEARCH marker without its `=======` and
    `>>>>>>> REPLACE` is an `EditError` (a truncated reply must not be half applied)."""
    edits = [Edit(m.group("search"), m.group("replace")) for m in _BLOCK.finditer(text)]
    if len(_MARKER.findall(text)) != len(edits):
        raise EditError("a SEARCH block is not closed by ======= and >>>>>>> REPLACE")
    return edits


def strip_edits(text: str) -> str:
    """`text` without its edit blocks (so the prose around them can be searched for
    whole definitions without finding the SEARCH text's)."""
    return _BLOCK.sub("", text)


def apply_edits(source: str, edits: list[Edit]) -> str:
    """`source` with `edits` applied in order, each to the result of the previous one."""
    if not edits:
        raise EditError("no edits")
    for number, edit in enumerate(edits, 1):
        source = _apply(source, edit, number)
    return source


def _apply(source: str, edit: Edit, number: int) -> str:
    if not edit.search.strip():
        raise EditError(f"edit {number}: the SEARCH text is empty")
    attempts = [edit]
    if edit.search.endswith("\n"):  # the block's line break before ======= is the format's, not always the text's
        attempts.append(Edit(edit.search[:-1], edit.replace[:-1] if edit.replace.endswith("\n") else edit.replace))
    for attempt in attempts:
        count = source.count(attempt.search)
        if count == 1:
            return source.replace(attempt.search, attempt.replace, 1)
        if count > 1:
            raise EditError(f"edit {number}: the SEARCH text occurs {count} times; include more lines to make it unique")
    return _apply_loosely(source, edit, number)


def _apply_loosely(source: str, edit: Edit, number: int) -> str:
    """Match line by line ignoring indentation and trailing blanks, re-indent the
    replacement by the offset between the SEARCH text's first line and the source's."""
    lines = source.splitlines(keepends=True)
    wanted = [line.strip() for line in edit.search.splitlines()]
    while wanted and not wanted[0]:
        wanted.pop(0)
    while wanted and not wanted[-1]:
        wanted.pop()
    starts = [i for i in range(len(lines) - len(wanted) + 1)
              if [line.strip() for line in lines[i : i + len(wanted)]] == wanted]
    if not starts:
        shown = edit.search.strip().splitlines()[0][:80]
        raise EditError(f"edit {number}: the SEARCH text is not in the definition (first line: {shown!r})")
    if len(starts) > 1:
        raise EditError(f"edit {number}: the SEARCH text occurs {len(starts)} times; include more lines to make it unique")
    start = starts[0]
    first_search = next(line for line in edit.search.splitlines() if line.strip())
    offset = _indent(lines[start]) - _indent(first_search)
    replaced = "".join(_reindent(line, offset) for line in edit.replace.splitlines(keepends=True))
    end = start + len(wanted)
    if replaced and not replaced.endswith("\n") and lines[end - 1].endswith("\n"):
        replaced += "\n"
    elif replaced.endswith("\n") and not lines[end - 1].endswith("\n"):
        replaced = replaced[:-1]
    return "".join(lines[:start]) + replaced + "".join(lines[end:])


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _reindent(line: str, offset: int) -> str:
    if not line.strip() or offset == 0:
        return line
    if offset > 0:
        return " " * offset + line
    return line[min(-offset, _indent(line)) :]
