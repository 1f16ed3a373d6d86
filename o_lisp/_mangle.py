"""Hy's name mangling, reimplemented so that o_lisp names match Hy's exactly.

`foo-bar` becomes `foo_bar`, `valid?` becomes `hyx_validXquestion_markX`; names
are NFKC-normalised like Python identifiers, so look-alike characters cannot
smuggle a different name past the sandbox's checks (they are applied to the
mangled, normalised name).
"""

from __future__ import annotations

import functools
import re
import unicodedata

_UNDERSCORE_LIKE = "_︳︴﹍﹎﹏＿"
_ESCAPE = re.compile(r"X(U)?([_a-z0-9H]+?)X")


def _escape_char(c: str) -> str:
    if c != "X" and ("S" + c).isidentifier():
        return c
    name = unicodedata.name(c, "").lower().replace("-", "H").replace(" ", "_")
    return "X" + (name or "U" + format(ord(c), "x")) + "X"


# The cache is process-wide, so it must not keep what one evaluation passed in: only
# short names are cached (the compiler mangles every symbol it meets), and the
# number of entries is bounded. Worst case: 16,384 x (64 + 64 x ~90 escaped) characters.
_CACHED_NAME_LENGTH = 64


def mangle(name: str) -> str:
    """The Python identifier Hy uses for `name` (dotted names mangle part by part)."""
    text = str(name)
    if len(text) <= _CACHED_NAME_LENGTH:
        return _mangle_cached(text)
    return _mangle(text)


@functools.lru_cache(maxsize=16384)
def _mangle_cached(text: str) -> str:
    return _mangle(text)


def _mangle(text: str) -> str:
    if not text:
        raise ValueError("cannot mangle an empty name")
    if "." in text and text.strip("."):
        return ".".join(mangle(part) if part else "" for part in text.split("."))
    body = text.lstrip(_UNDERSCORE_LIKE)
    leading = "_" * (len(text) - len(body))
    if body:
        body = body[0] + body[1:].replace("-", "_")
    if not (leading + body).isidentifier():
        body = "hyx_" + "".join(_escape_char(c) for c in body)
    return unicodedata.normalize("NFKC", leading + body)


def unmangle(name: str) -> str:
    """A readable form of a mangled name (`hyx_XsquidX` → `🦑`, `foo_bar` → `foo-bar`)."""
    text = str(name)
    prefix = suffix = ""
    if text.startswith("_"):
        # Leading and trailing underscores stay as they are (string methods: a regex
        # with a lazy middle group was quadratic in a long run of underscores).
        rest = text.lstrip("_")
        prefix = text[: len(text) - len(rest)]
        text = rest.rstrip("_")
        suffix = rest[len(text):]
    if text.startswith("hyx_"):

        def decode(m: re.Match[str]) -> str:
            if m.group(1):
                return chr(int(m.group(2), 16))
            return unicodedata.lookup(m.group(2).replace("_", " ").replace("H", "-").upper())

        text = _ESCAPE.sub(decode, text[4:])
    return prefix + text.replace("_", "-") + suffix
