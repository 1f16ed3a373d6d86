"""The reader: Hy 1.3 syntax → immutable forms, with positions.

One lark LALR parser with a contextual lexer; the transformer runs inside the
parser (no intermediate tree), so reading is a single linear pass. Everything
that can go wrong with source text becomes a `ReadError` with file:line:col and
a caret excerpt: unbalanced or mismatched brackets, bad escapes and prefixes,
invalid numbers and dotted names, NUL bytes, invalid UTF-8, inputs beyond the
size limit and nesting beyond the depth limit. Nothing here calls `eval`:
string escapes are decoded with `codecs`.

User-defined reader macros (`#name`) are refused: in Hy they run code at read
time, which would put code execution outside the sandbox's budgets.
"""

from __future__ import annotations

import codecs
import collections
import gc
import re
import threading
from collections.abc import Callable
from typing import Any

import lark
from lark import Lark, Token, Transformer

from o_lisp._errors import Position, ReadError
from o_lisp.forms import (
    Bytes,
    Complex,
    Dict,
    Expression,
    Float,
    Form,
    Integer,
    Keyword,
    List,
    PositionTuple,
    Sequence,
    Set,
    String,
    Symbol,
    Tuple,
)

DEFAULT_MAX_SOURCE = 16 * 1024 * 1024
DEFAULT_MAX_NESTING = 1_000
# Python refuses to convert longer digit strings; a literal that long is an error here.
MAX_INTEGER_DIGITS = 4_300


class PrematureEndOfInput(ReadError):
    """The text ended inside a form: a REPL reads more lines instead of failing."""


_IDENT_CHARS = r"""[^ \t\n\r\f\v()\[\]{};"'`~]"""
_GRAMMAR = rf"""
start: form*

?form: IDENT                  -> ident
     | STRING                 -> string
     | FSTRING                -> string
     | BRACKET_STRING         -> bracket_string
     | KEYWORD                -> keyword
     | LPAR form* RPAR        -> expression
     | LSQB form* RSQB        -> list
     | LBRACE form* RBRACE    -> dict
     | HASH_LBRACE form* RBRACE -> set
     | HASH_LPAR form* RPAR   -> tuple
     | QUOTE form             -> prefixed
     | QUASIQUOTE form        -> prefixed
     | UNQUOTE_SPLICE form    -> prefixed
     | UNQUOTE form           -> prefixed
     | HASH_TAG form          -> prefixed

LPAR: "("
RPAR: ")"
LSQB: "["
RSQB: "]"
LBRACE: "{{"
RBRACE: "}}"
HASH_LBRACE: "#{{"
HASH_LPAR: "#("
QUOTE: "'"
QUASIQUOTE: "`"
UNQUOTE_SPLICE: "~@"
UNQUOTE: "~"
BRACKET_STRING.6: /#\[(?P<delim>[^\[\]]*)\[[\s\S]*?\](?P=delim)\]/
FSTRING.7: /(?:[fF][rR]?|[rR][fF])"(?:[^"\\{{]++|\\[\s\S]|\{{(?:[^{{}}"\\]++|\\[\s\S]|"(?:[^"\\]++|\\[\s\S])*+"|\{{(?:[^{{}}"\\]|\\[\s\S]|"(?:[^"\\]|\\[\s\S])*+")*+\}})*+\}})*+"/
STRING.5: /(?:[^ \t\n\r\f\v()\[\]{{}};"'`~:#]{_IDENT_CHARS}*)?"(?:[^"\\]++|\\[\s\S])*+"/
HASH_TAG.4: /#{_IDENT_CHARS}+/
KEYWORD.3: /:{_IDENT_CHARS}*/
IDENT.2: /[^ \t\n\r\f\v()\[\]{{}};"'`~:#]{_IDENT_CHARS}*/
COMMENT: /;[^\n]*/
WHITESPACE: /[ \t\n\r\f\v]+/
%ignore WHITESPACE
%ignore COMMENT
"""

_OPENERS = {"LPAR": ")", "LSQB": "]", "LBRACE": "}", "HASH_LBRACE": "}", "HASH_LPAR": ")"}
_CLOSERS = {"RPAR", "RSQB", "RBRACE"}
_PREFIX_HEADS = {
    "'": "quote",
    "`": "quasiquote",
    "~@": "unquote-splice",
    "~": "unquote",
    "#*": "unpack-iterable",
    "#**": "unpack-mapping",
}
_ALLOWED_ESCAPES = set("\n\r\\'\"abfnrtv01234567x")
_NAMED_ESCAPES = set("NuU")
_ESCAPE_RE = re.compile(r"\\([\s\S])")
_MAYBE_NUMBER = frozenset("0123456789+-.IN")


class _Discarded:
    """Marks a form removed by `#_`; containers drop it."""

    __slots__ = ()


_DISCARDED = _Discarded()


class _ParseState(threading.local):
    """Per-thread state of the parse in progress (lark's callbacks are shared)."""

    def __init__(self) -> None:
        self.stack: list[Token] = []
        self.max_nesting = DEFAULT_MAX_NESTING
        self.filename = "<string>"
        self.source = ""
        self.discards = 0


_state = _ParseState()


def _position(token: Token) -> Position:
    return Position(_state.filename, token.line, token.column)  # type: ignore[arg-type]


def _fail(message: str, token: Token, cls: type[ReadError] = ReadError) -> ReadError:
    return cls(message, _position(token), _state.source)


def _on_open(token: Token) -> Token:
    stack = _state.stack
    stack.append(token)
    if len(stack) > _state.max_nesting:
        raise _fail(
            f"forms nested more than {_state.max_nesting} deep (the reader's nesting limit)", token
        )
    return token


def _on_close(token: Token) -> Token:
    stack = _state.stack
    closer = token.value
    if not stack:
        raise _fail(f"unexpected '{closer}': no bracket is open", token)
    opener = stack.pop()
    expected = _OPENERS[opener.type]
    if closer != expected:
        raise _fail(
            f"unexpected '{closer}': expected '{expected}' to close '{opener.value}' "
            f"opened at {opener.line}:{opener.column}",
            token,
        )
    return token


def _on_hash_tag(token: Token) -> Token:
    if token.value not in ("#*", "#**", "#_"):
        raise _fail(
            f"reader macro '{token.value}' is not allowed: o_lisp has no user-defined reader macros "
            "(they would run code at read time)",
            token,
        )
    return token


def _pos_of(token: Token) -> PositionTuple:
    """Start and (inclusive) end of a token; lark's end column is exclusive."""
    return (int(token.line or 0), int(token.column or 0), int(token.end_line or 0), int(token.end_column or 1) - 1)


def _span(first: Token, last: Any) -> PositionTuple:
    start = _pos_of(first)
    end = _pos_of(last) if not isinstance(last, Form) else (last._pos or start)
    return (start[0], start[1], end[2], end[3])


def _strip_separators(text: str) -> str:
    return text[0] + text[1:].replace("_", "").replace(",", "") if len(text) > 1 else text


def _check_inf_nan(text: str, value: float) -> None:
    if value != value and "NaN" not in text:
        raise ValueError('NaN must be capitalized as "NaN"')
    if value in (float("inf"), float("-inf")) and "i" in text.lower() and "Inf" not in text:
        raise ValueError('Inf must be capitalized as "Inf"')


def _number(text: str, pos: PositionTuple) -> Any:
    """Integer, Float or Complex for `text` exactly as Hy decides, else None."""
    try:
        stripped = _strip_separators(text)
        if len(stripped) > MAX_INTEGER_DIGITS and stripped.lstrip("+-")[:1].isdigit():
            raise OverflowError
        return Integer(int(stripped, 10 if text.isdigit() else 0), pos)
    except ValueError:
        pass
    try:
        value = float(_strip_separators(text))
        _check_inf_nan(text, value)
        return Float(value, pos)
    except ValueError:
        pass
    if text not in ("j", "J"):
        try:
            cvalue = complex(_strip_separators(text))
            first, _, second = text.lstrip("+-").replace("-", "+").partition("+")
            _check_inf_nan(first, cvalue.imag if "j" in first.lower() else cvalue.real)
            if second:
                _check_inf_nan(second, cvalue.imag)
            return Complex(cvalue, pos)
        except ValueError:
            pass
    return None


def _identifier(text: str, token: Token) -> Any:
    pos = _pos_of(token)
    first = text[0]
    if "." not in text and first not in _MAYBE_NUMBER and first.isascii():
        return Symbol(text, pos)  # the common case: a plain name
    if first in _MAYBE_NUMBER or not first.isascii():
        try:
            number = _number(text, pos)
        except OverflowError:
            raise _fail(
                f"integer literal has more than {MAX_INTEGER_DIGITS} digits", token
            ) from None
        if number is not None:
            return number
    if "." not in text or not text.strip("."):
        return Symbol(text, pos)
    if text.lstrip(".").find("..") > 0:
        raise _fail("in a dotted identifier, multiple dots in a row are only allowed at the start", token)
    if text.endswith("."):
        raise _fail("a dotted identifier can't end with a dot", token)
    body = text.lstrip(".")
    head = text[: len(text) - len(body)]
    parts = [_identifier_part(part, token, pos) for part in body.split(".")]
    if head:
        return Expression([Symbol(head, pos), Symbol("None", pos), *parts], pos)
    return Expression([Symbol(".", pos), *parts], pos)


def _identifier_part(text: str, token: Token, pos: PositionTuple) -> Symbol:
    if text[0] in _MAYBE_NUMBER or not text[0].isascii():
        if _number(text, pos) is not None:
            raise _fail("the parts of a dotted identifier must be symbols", token)
    return Symbol(text, pos)


# An f-string reads as `(f-string part ...)`: a part is a String (literal text) or
# `(f-component form "conversion" (f-string spec-part ...))`, as Hy's FString and
# FComponent models hold them. The compiler turns it into checked formatting.
FSTRING = "f-string"
FCOMPONENT = "f-component"
_FORM_STOP = frozenset(" \t\n\r\f\v()[]{};\"'`~")
_CLOSING = {"(": ")", "[": "]", "{": "}"}


class _FStringReader:
    """Splits the body of an f-string into literal text and fields, as Hy's reader does:
    a field is one form (read by this reader), then optional `=`, `!c` and `:spec`
    (the spec may hold nested fields)."""

    def __init__(self, token: Token, body_start: int, raw: bool) -> None:
        self.token = token
        self.body_start = body_start
        self.raw = raw
        self.text = ""
        self.i = 0

    def fail(self, message: str, at: int | None = None) -> ReadError:
        line, column = _locate(self.token, self.body_start + (self.i if at is None else at))
        return ReadError(f"f-string: {message}", Position(_state.filename, line, column), _state.source)

    def read(self, body: str) -> Expression:
        self.text, self.i = body, 0
        parts = self.parts(closing=None)
        fstring: Expression = Expression([Symbol(FSTRING, _pos_of(self.token)), *parts], _pos_of(self.token))
        return fstring

    def literal(self, chunk: str, at: int) -> String:
        if "\r" in chunk:
            chunk = chunk.replace("\r\n", "\n").replace("\r", "\n")
        if not self.raw and "\\" in chunk:
            try:
                value = chunk.encode("ISO-8859-1", errors="backslashreplace").decode("unicode_escape")
            except UnicodeDecodeError as error:
                raise self.fail(f"invalid escape: {error.reason}", at) from None
            for match in _ESCAPE_RE.finditer(chunk):
                if match.group(1) not in _ALLOWED_ESCAPES and match.group(1) not in _NAMED_ESCAPES:
                    raise self.fail(f"invalid escape sequence \\{match.group(1)}", at + match.start())
            chunk = value
        return String(chunk, None, _pos_of(self.token))

    def parts(self, closing: str | None) -> list[Any]:
        text = self.text
        parts: list[Any] = []
        chunk: list[str] = []
        chunk_at = self.i
        while True:
            if self.i >= len(text):
                if closing is not None:
                    raise self.fail("a field's format spec is not closed with '}'")
                break
            c = text[self.i]
            if closing is not None and c == closing:
                self.i += 1
                break
            if c == "\\" and not self.raw and text.startswith("N{", self.i + 1):
                end = text.find("}", self.i)
                if end < 0:
                    raise self.fail("unterminated \\N{...} escape")
                chunk.append(text[self.i : end + 1])
                self.i = end + 1
                continue
            if c == "\\" and not self.raw and self.i + 1 < len(text):
                chunk.append(text[self.i : self.i + 2])
                self.i += 2
                continue
            if c == "{" and text.startswith("{{", self.i):
                chunk.append("{")
                self.i += 2
                continue
            if c == "}" and text.startswith("}}", self.i):
                chunk.append("}")
                self.i += 2
                continue
            if c == "}":
                raise self.fail("single '}' is not allowed")
            if c == "{":
                if chunk:
                    parts.append(self.literal("".join(chunk), chunk_at))
                    chunk = []
                self.i += 1
                parts.extend(self.field())
                chunk_at = self.i
                continue
            chunk.append(c)
            self.i += 1
        if chunk:
            parts.append(self.literal("".join(chunk), chunk_at))
        return parts

    def space(self) -> str:
        start = self.i
        while self.i < len(self.text) and self.text[self.i] in " \t\n\r\f\v":
            self.i += 1
        return self.text[start : self.i]

    def field(self) -> list[Any]:
        pos = _pos_of(self.token)
        before = self.space()
        start = self.i
        end = self.form_end(start)
        if end == start:
            raise self.fail("empty field")
        form_text = self.text[start:end]
        form = self.read_form(form_text, start)
        self.i = end
        between = self.space()
        out: list[Any] = []
        conversion = ""
        debug = False
        if self.text.startswith("=", self.i):
            self.i += 1
            debug = True
            out.append(String(before + form_text + between + "=" + self.space(), None, pos))
        if self.text.startswith("!", self.i):
            conversion = self.text[self.i + 1 : self.i + 2]
            if conversion not in ("r", "s", "a"):
                raise self.fail("the conversion must be !r, !s or !a")
            self.i += 2
        self.space()
        spec: list[Any] = []
        if self.text.startswith(":", self.i):
            self.i += 1
            spec = self.parts(closing="}")
        else:
            if debug and not conversion:
                conversion = "r"
            if not self.text.startswith("}", self.i):
                raise self.fail("trailing junk in field")
            self.i += 1
        component = Expression(
            [Symbol(FCOMPONENT, pos), form, String(conversion, None, pos), Expression([Symbol(FSTRING, pos), *spec], pos)],
            pos,
        )
        out.append(component)
        return out

    def form_end(self, i: int) -> int:
        """The index just after the one form starting at `i` (brackets and strings matched)."""
        text = self.text
        while i < len(text) and text[i] in "'`~@#*_":
            if text[i] == "#" and i + 1 < len(text) and text[i + 1] in "([{":
                break
            i += 1
        if i >= len(text):
            return i
        c = text[i]
        if c == "#" and i + 1 < len(text) and text[i + 1] in "({":
            i += 1
            c = text[i]
        if c in _CLOSING:
            depth = 0
            while i < len(text):
                ch = text[i]
                if ch == '"':
                    i = self.string_end(i)
                    continue
                if ch in "([{":
                    depth += 1
                elif ch in ")]}":
                    depth -= 1
                    if depth == 0:
                        return i + 1
                i += 1
            raise self.fail("a field's form is not closed")
        if c == '"':
            return self.string_end(i)
        while i < len(text) and text[i] not in _FORM_STOP:
            i += 1
        if i < len(text) and text[i] == '"':
            return self.string_end(i)  # a prefixed string: r"...", b"..."
        return i

    def string_end(self, i: int) -> int:
        j = i + 1
        while j < len(self.text):
            if self.text[j] == "\\":
                j += 2
                continue
            if self.text[j] == '"':
                return j + 1
            j += 1
        raise self.fail("a string inside a field is not closed")

    def read_form(self, form_text: str, at: int) -> Any:
        line, column = _locate(self.token, self.body_start + at)
        try:
            forms = read_many(form_text, _state.filename, max_nesting=_state.max_nesting)
        except ReadError as error:
            raise self.fail(f"in a field: {error.message}", at) from None
        if len(forms) != 1:
            raise self.fail("a field must hold exactly one form", at)
        return _shift(forms[0], line - 1, column - 1)


def _shift(form: Any, lines: int, columns: int) -> Any:
    """`form` (read from a field's text alone) moved to where the field is in the file."""
    pos = getattr(form, "_pos", None)
    new_pos = None
    if pos is not None:
        sl, sc, el, ec = pos
        new_pos = (sl + lines, sc + (columns if sl == 1 else 0), el + lines, ec + (columns if el == 1 else 0))
    if isinstance(form, Sequence):
        return type(form)([_shift(item, lines, columns) for item in form], new_pos)
    if isinstance(form, Form):
        return form.at(new_pos)
    return form


def _decode_escapes(body: str, token: Token, is_bytes: bool) -> str | bytes:
    if "\\" in body:
        offset = token.value.index(body) if body else 0
        for match in _ESCAPE_RE.finditer(body):
            char = match.group(1)
            if char not in _ALLOWED_ESCAPES and (is_bytes or char not in _NAMED_ESCAPES):
                line, column = _locate(token, offset + match.start())
                raise ReadError(
                    f"invalid escape sequence \\{char}",
                    Position(_state.filename, line, column),
                    _state.source,
                )
    if is_bytes:
        try:
            raw = body.encode("ascii")
        except UnicodeEncodeError:
            raise _fail("bytes literals can only contain ASCII characters", token) from None
        if "\\" not in body:
            return raw
        try:
            decoded: bytes = codecs.escape_decode(raw)[0]
            return decoded
        except ValueError as error:
            raise _fail(f"invalid escape in bytes literal: {error}", token) from None
    if "\\" not in body:
        return body
    try:
        return body.encode("ISO-8859-1", errors="backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError as error:
        raise _fail(f"invalid escape in string: {error.reason}", token) from None


def _locate(token: Token, offset: int) -> tuple[int, int]:
    """Line and column of character `offset` inside a (possibly multi-line) token."""
    line, column = _pos_of(token)[:2]
    text = token.value[:offset]
    newlines = text.count("\n")
    if not newlines:
        return line, column + offset
    return line + newlines, offset - text.rfind("\n")


class _Pending:
    """Prefixes whose operand was discarded (`' #_ a b`, `#_ #_ 1 2 3`).

    Like Hy's reader, a prefix skips discarded forms and applies to the next real
    one; the enclosing sequence applies these operations to the forms that follow.
    """

    __slots__ = ("ops",)

    def __init__(self, ops: list[Token]) -> None:
        self.ops = ops


def _children(items: list[Any]) -> list[Any]:
    if not _state.discards:
        return items  # nothing was discarded anywhere in this text (the common case)
    out: list[Any] = []
    pending: collections.deque[Token] = collections.deque()
    for item in items:
        if item is _DISCARDED:
            continue
        if type(item) is _Pending:
            pending.extend(item.ops)
            continue
        form: Any = item
        while pending:
            token = pending.popleft()
            if token.value == "#_":
                form = _DISCARDED
                break
            form = _wrap(token, form)
        if form is not _DISCARDED:
            out.append(form)
    if pending:
        raise _fail(f"'{pending[0].value}' must be followed by a form", pending[0], PrematureEndOfInput)
    return out


def _wrap(token: Token, target: Any) -> Expression:
    """`'x`, `` `x ``, `~x`, `~@x`, `#* x`, `#** x` as (head x)."""
    depth = getattr(target, "_prefix_depth", 0) + 1
    if depth > _state.max_nesting:
        raise _fail(f"forms nested more than {_state.max_nesting} deep (the reader's nesting limit)", token)
    pos = _span(token, target)
    form: Expression = Expression([Symbol(_PREFIX_HEADS[token.value], pos), target], pos)
    object.__setattr__(form, "_prefix_depth", depth)
    return form


Items = list[Any]


class _FormBuilder(Transformer):
    """Rule callbacks: each builds one form as the parser reduces."""

    def start(self, items: Items) -> Items:
        return _children(items)

    def ident(self, items: Items) -> Any:
        token = items[0]
        return _identifier(token.value, token)

    def keyword(self, items: Items) -> Keyword:
        token = items[0]
        text = token.value
        if "." in text:
            raise _fail(
                "cannot access attribute on anything other than a name "
                "(keywords cannot contain '.')",
                token,
            )
        return Keyword(text[1:], _pos_of(token))

    def string(self, items: Items) -> Any:
        token = items[0]
        text = token.value
        quote = text.index('"')
        prefix = text[:quote]
        chars = set(prefix)
        if len(chars) != len(prefix) or not chars <= set("bfrt") or len(chars - {"r"}) > 1:
            raise _fail(f"invalid string prefix {prefix!r}", token)
        if "t" in chars:
            raise _fail(f"{prefix}-strings (template strings) are not supported by o_lisp", token)
        if "f" in chars and "b" in chars:
            raise _fail(f"invalid string prefix {prefix!r}", token)
        body = text[quote + 1 : -1]
        if "f" in chars:
            return _FStringReader(token, quote + 1, raw="r" in chars).read(body)
        if "\r" in body:
            body = body.replace("\r\n", "\n").replace("\r", "\n")
        is_bytes = "b" in chars
        if "r" in chars:
            value: str | bytes = body
            if is_bytes:
                try:
                    value = body.encode("ascii")
                except UnicodeEncodeError:
                    raise _fail("bytes literals can only contain ASCII characters", token) from None
        else:
            value = _decode_escapes(body, token, is_bytes)
        if isinstance(value, bytes):
            return Bytes(value, _pos_of(token))
        return String(value, None, _pos_of(token))

    def bracket_string(self, items: Items) -> String | Expression:
        token = items[0]
        text = token.value
        open_at = text.index("[", 2)
        delim = text[2:open_at]
        body = text[open_at + 1 : len(text) - len(delim) - 2]
        start = open_at + 1
        if body.startswith("\r\n"):
            body = body[2:]
            start += 2
        elif body[:1] in ("\r", "\n"):
            body = body[1:]
            start += 1
        if delim == "f" or delim.startswith("f-"):
            return _FStringReader(token, start, raw=True).read(body)
        if "\r" in body:
            body = body.replace("\r\n", "\n").replace("\r", "\n")
        return String(body, delim, _pos_of(token))

    def _sequence(self, cls: type, items: Items) -> Any:
        return cls(_children(items[1:-1]), _span(items[0], items[-1]))

    def expression(self, items: Items) -> Expression:
        return self._sequence(Expression, items)  # type: ignore[no-any-return]

    def list(self, items: Items) -> List:
        return self._sequence(List, items)  # type: ignore[no-any-return]

    def dict(self, items: Items) -> Dict:
        return self._sequence(Dict, items)  # type: ignore[no-any-return]

    def set(self, items: Items) -> Set:
        return self._sequence(Set, items)  # type: ignore[no-any-return]

    def tuple(self, items: Items) -> Tuple:
        return self._sequence(Tuple, items)  # type: ignore[no-any-return]

    def prefixed(self, items: Items) -> Any:
        token, target = items
        if target is _DISCARDED:
            return _Pending([token])
        if isinstance(target, _Pending):
            target.ops.append(token)  # the inner _Pending is not shared: extend it in place
            return target
        if token.value == "#_":
            _state.discards += 1
            return _DISCARDED
        return _wrap(token, target)


def _callbacks() -> dict[str, Callable[[Token], Token]]:
    callbacks: dict[str, Callable[[Token], Token]] = {name: _on_open for name in _OPENERS}
    callbacks.update({name: _on_close for name in _CLOSERS})
    callbacks["HASH_TAG"] = _on_hash_tag
    return callbacks


_parser = Lark(
    _GRAMMAR,
    parser="lalr",
    lexer="contextual",
    transformer=_FormBuilder(),
    lexer_callbacks=_callbacks(),
    maybe_placeholders=False,
    propagate_positions=False,
    cache=False,
)


def _check_text(text: str | bytes, filename: str, max_source: int) -> str:
    if isinstance(text, bytes | bytearray):
        data = bytes(text)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            before = data[: error.start].decode("utf-8", errors="replace")
            line = before.count("\n") + 1
            column = len(before) - (before.rfind("\n") + 1) + 1
            raise ReadError(
                f"invalid UTF-8: byte 0x{data[error.start]:02x} cannot start or continue a character",
                Position(filename, line, column),
                before + "\n",
            ) from None
    if not isinstance(text, str):
        raise TypeError(f"source must be str or bytes, not {type(text).__name__}")
    if len(text) > max_source:
        raise ReadError(
            f"source is {len(text)} characters long; the reader accepts at most {max_source}",
            Position(filename, 1, 1),
        )
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        column = nul - (text.rfind("\n", 0, nul) + 1) + 1
        raise ReadError("NUL character in source", Position(filename, line, column), text)
    return text


def read_many(
    text: str | bytes,
    filename: str = "<string>",
    *,
    max_source: int = DEFAULT_MAX_SOURCE,
    max_nesting: int = DEFAULT_MAX_NESTING,
    skip_shebang: bool = False,
) -> list[Any]:
    """All forms of `text`, in order. Raises `ReadError` for any malformed input."""
    source = _check_text(text, filename, max_source)
    if skip_shebang and source.startswith("#!"):
        end = source.find("\n")
        source = "" if end < 0 else " " * end + source[end:]
    state = _state
    saved = (state.stack, state.max_nesting, state.filename, state.source, state.discards)
    state.stack, state.max_nesting, state.filename, state.source = [], max_nesting, filename, source
    state.discards = 0
    # Reading builds trees without reference cycles, so the cycle collector has nothing
    # to find; pausing it while the (many, small) forms are allocated nearly halves the
    # time of large reads.
    collecting = gc.isenabled()
    gc.disable()
    try:
        forms: list[Any] = _parser.parse(source)  # type: ignore[assignment]
        return forms
    except ReadError:
        raise
    except lark.exceptions.UnexpectedCharacters as error:
        raise _unexpected_character(error, source, filename) from None
    except lark.exceptions.UnexpectedEOF:
        raise _premature_end(source, filename) from None
    except lark.exceptions.UnexpectedToken as error:
        raise _unexpected_token(error, source, filename) from None
    except lark.exceptions.VisitError as error:
        inner = error.orig_exc
        if isinstance(inner, ReadError):
            raise inner from None
        raise
    finally:
        if collecting:
            gc.enable()
        state.stack, state.max_nesting, state.filename, state.source, state.discards = saved


def read(text: str | bytes, filename: str = "<string>", **options: Any) -> Any:
    """The first form of `text`, like Hy's `hy.read` (the whole text must still be valid)."""
    forms = read_many(text, filename, **options)
    if not forms:
        source = text if isinstance(text, str) else ""
        raise PrematureEndOfInput(
            "premature end of input: expected a form", _end_position(source, filename), source
        )
    return forms[0]


def _end_position(source: str, filename: str) -> Position:
    line = source.count("\n") + 1
    column = len(source) - (source.rfind("\n") + 1) + 1
    return Position(filename, line, column)


def _premature_end(source: str, filename: str) -> ReadError:
    stack = _state.stack
    if stack:
        opener = stack[-1]
        message = (
            f"premature end of input: '{opener}' opened at {opener.line}:{opener.column} "
            "is never closed"
        )
    else:
        message = "premature end of input: a form was expected after the last prefix"
    return PrematureEndOfInput(message, _end_position(source, filename), source)


def _unexpected_character(
    error: lark.exceptions.UnexpectedCharacters, source: str, filename: str
) -> ReadError:
    index = int(error.pos_in_stream or 0)
    char = source[index] if index < len(source) else ""
    position = Position(filename, error.line, error.column)
    if char == '"':
        return PrematureEndOfInput("unterminated string: the closing '\"' is missing", position, source)
    if char == "#":
        following = source[index + 1 : index + 2]
        if following == "[":
            return PrematureEndOfInput(
                "unterminated bracket string: expected ']DELIM]' to close '#[DELIM['",
                position,
                source,
            )
        if not following.strip():
            return PrematureEndOfInput("'#' must be followed by a dispatch character", position, source)
    return ReadError(f"unexpected character {char!r}", position, source)


def _unexpected_token(
    error: lark.exceptions.UnexpectedToken, source: str, filename: str
) -> ReadError:
    token = error.token
    if token.type == "$END":
        return _premature_end(source, filename)
    position = Position(filename, token.line, token.column)
    return ReadError(f"unexpected '{token}'", position, source)
