"""The expanded size of a value, measured over its distinct objects.

A few steps build a structure whose *expansion* is huge: `(* #(a) 1000)` nested
four deep holds 10¹² leaves in four small tuples. Host code that walks a value
element by element (hashing a tuple, printing, converting to forms, copying
into agent state) does work proportional to that expansion, in C or in trusted
Python where no step is charged. `measure` computes the expanded size first, at
a cost proportional to the *distinct* containers and their slots: each container
is summed once and its total memoised by identity, so a shared child counts as
many times as it is referenced without being walked again. It stops as soon as
the total passes the caller's limit.

Two weights: `NODES` counts one per object (what hashing, comparing, converting
or copying visits); `TEXT` is an upper estimate of the characters `str`/`repr`
print. A container met again on its own path (a cycle) counts as its
placeholder (`[...]`), as printing does.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from o_lisp.forms import Bytes, Integer, Keyword, String, Symbol

NODES = False
TEXT = True

_UNSHARED_REFS = 4
_UNSHARED_CHILD_REFS = 3  # its container's slot, the loop variable, getrefcount's argument
_NUMBERS = frozenset([type(None), bool, int, float])
_STRINGS = (str, String, Symbol)
_BYTES = (bytes, Bytes)
_DICT_VIEWS: tuple[type, ...] = (type({}.keys()), type({}.values()), type({}.items()))


def _children(x: Any) -> tuple[int, Any] | None:
    """(own weight in text, iterable of children) for a container, else None."""
    if isinstance(x, list | tuple | set | frozenset):
        return len(x) * 2 + 20, x
    if isinstance(x, dict):
        return len(x) * 4 + 2, (item for pair in x.items() for item in pair)
    if isinstance(x, BaseException):
        return 40 + len(type(x).__name__), x.args
    if type(x) in _DICT_VIEWS:
        return len(x) * 4 + 20, x
    if isinstance(x, slice):
        return 10, (x.start, x.stop, x.step)
    return None


def _leaf(x: Any, text: bool) -> int:
    if not text:
        t = type(x)
        if t in _STRINGS or t in _BYTES:
            return 1 + len(x) // 64  # hashed once, compared with memcmp
        if t is int or t is Integer:
            return 1 + int(x.bit_length()) // 4096
        return 1
    t = type(x)
    if t in _STRINGS:
        return len(x) * 4 + 2
    if t in _BYTES:
        return len(x) * 4 + 3
    if t is int or t is Integer or t is bool:
        return int(x.bit_length()) // 3 + 2
    if t is Keyword:
        return len(x.name) + 1
    if isinstance(x, types.FunctionType):
        return 80 + len(x.__qualname__)
    return 80


def measure(obj: Any, limit: int, text: bool = NODES) -> int:
    """Expanded size of `obj` (see the module docstring); a value above `limit`
    means "over" (the walk stopped early, so it is not the exact size).

    Cost: one visit per distinct container plus one per slot of each, bounded by
    `limit` slot visits in all.
    """
    first = _children(obj)
    if first is None:
        return _leaf(obj, text)
    memo: dict[int, int] = {}
    on_path: set[int] = {id(obj)}
    own, kids = first
    # Frames: [container, iterator of children, running total]
    stack: list[list[Any]] = [[obj, iter(kids), own if text else 1]]
    total: int
    visits = 0
    while stack:
        frame = stack[-1]
        total = int(frame[2])
        pushed = False
        for child in frame[1]:
            visits += 1
            t = type(child)
            while t is tuple and len(child) == 1 and sys.getrefcount(child) <= _UNSHARED_CHILD_REFS:
                # An unshared one-element tuple (a deep chain `#(#(#(...)))`): counted
                # and stepped through without a frame, so depth costs no memory.
                total += 22 if text else 1
                visits += 1
                child = child[0]
                t = type(child)
            if total > limit or visits > limit:
                return max(total, limit + 1)
            if t in _NUMBERS:
                total += _leaf(child, True) if text else 1
                if total > limit:
                    return total
                continue
            if t is tuple and not text and _NUMBERS.issuperset(map(type, child)):
                # A tuple of plain numbers (the common key): counted without a walk.
                total += len(child) + 1
                if total > limit:
                    return total
                continue
            cid = id(child)
            if cid in memo:
                total += memo[cid]
            elif cid in on_path:
                total += 5
            else:
                found = _children(child)
                if found is None:
                    total += _leaf(child, text)
                else:
                    frame[2] = total
                    if t is not tuple:
                        on_path.add(cid)  # a cycle always passes through a mutable container
                    stack.append([child, iter(found[1]), found[0] if text else 1])
                    pushed = True
                    break
            if total > limit or visits > limit:
                return max(total, limit + 1)
        if pushed:
            continue
        stack.pop()
        node = frame[0]
        on_path.discard(id(node))
        # Only a container referenced from more than one place can be met again
        # (references: its parent, `node`, `frame`, getrefcount's argument).
        if sys.getrefcount(node) > _UNSHARED_REFS:
            memo[id(node)] = total
        if not stack:
            return total
        parent = stack[-1]
        parent_total: int = parent[2] + total
        parent[2] = parent_total
        if parent_total > limit:
            return parent_total
    return 0  # pragma: no cover - the loop returns


__all__ = ["NODES", "TEXT", "measure"]
