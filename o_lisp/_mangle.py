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


@functools.lru_cache(maxsize=65536)
def mangle(name: str) -> str:
    """The Python identifier Hy uses for `name` (dotted names mangle part by part)."""
    text = str(name)
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
    match = re.fullmatch(r"(_+)(.*?)(_*)", text, re.DOTALL)
    prefix = suffix = ""
    if match:
        prefix, text, suffix = match.groups()
    if text.startswith("hyx_"):

        def decode(m: re.Match[str]) -> str:
            if m.group(1):
                return chr(int(m.group(2), 16))
            return unicodedata.lookup(m.group(2).replace("_", " ").replace("H", "-").upper())

        text = _ESCAPE.sub(decode, text[4:])
    return prefix + text.replace("_", "-") + suffix
