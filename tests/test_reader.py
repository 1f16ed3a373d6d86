"""Reader: forms, positions, printing round trips, and exact errors for bad input."""

from __future__ import annotations

import pytest

import o_lisp
from o_lisp import PrematureEndOfInput, ReadError, read, read_many, to_source
from o_lisp.forms import (
    Bytes,
    Dict,
    Expression,
    Float,
    Integer,
    Keyword,
    List,
    Set,
    String,
    Symbol,
    Tuple,
)


def test_forms_and_positions() -> None:
    form = read("(f [1 :k]\n   {\"a\" 2.5})", "x.hy")
    assert form == Expression(
        [Symbol("f"), List([Integer(1), Keyword("k")]), Dict([String("a"), Float(2.5)])]
    )
    assert form.position == (1, 1, 2, 13)
    assert form[1].position == (1, 4, 1, 9)
    assert form[2][0].position == (2, 5, 2, 7)


def test_form_equality_is_structural_and_typed() -> None:
    assert read("(a 1)") == read("(a   1)")
    assert read("[a]") != read("(a)")
    assert read("1") != 1  # like Hy: a form is not equal to the plain value
    assert read("#{1 2}") == Set([Integer(1), Integer(2)])
    assert read("#(1)") == Tuple([Integer(1)])


def test_forms_are_immutable() -> None:
    form = read("(a b)")
    with pytest.raises(AttributeError):
        form.start_line = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        form[0] = Symbol("x")  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1_000", Integer(1000)),
        ("0x1F", Integer(31)),
        ("0o17", Integer(15)),
        ("0b101", Integer(5)),
        ("-Inf", Float(float("-inf"))),
        ('b"ab"', Bytes(b"ab")),
        ('"a\\tb"', String("a\tb")),
        ("#[delim[raw \\n]delim]", String("raw \\n", "delim")),
        ("foo.bar", Expression([Symbol("."), Symbol("foo"), Symbol("bar")])),
        (".append", Expression([Symbol("."), Symbol("None"), Symbol("append")])),
        ("'x", Expression([Symbol("quote"), Symbol("x")])),
        ("~@xs", Expression([Symbol("unquote-splice"), Symbol("xs")])),
        ("#** kw", Expression([Symbol("unpack-mapping"), Symbol("kw")])),
    ],
)
def test_literals(text: str, expected: object) -> None:
    assert read(text) == expected


def test_discard_and_comments() -> None:
    assert read_many("; nothing\n#_ (ignored form) kept ; trailing") == [Symbol("kept")]


@pytest.mark.parametrize(
    "text",
    ['(a "b\\nc" [1 2.5 :k] {x y} #{s} #(t) \'q `(u ~v ~@w))', "#[[bracket]]", "(.m o 1)", "a.b.c"],
)
def test_printer_round_trip(text: str) -> None:
    form = read(text)
    assert read(to_source(form)) == form


@pytest.mark.parametrize(
    ("text", "cls", "message"),
    [
        ("(a b", PrematureEndOfInput, "f.hy:1:5: premature end of input: '(' opened at 1:1 is never closed"),
        (")", ReadError, "f.hy:1:1: unexpected ')': no bracket is open"),
        ("(a\n  (b\n    c]", ReadError, "f.hy:3:6: unexpected ']': expected ')' to close '(' opened at 2:3"),
        ('"abc', PrematureEndOfInput, "f.hy:1:1: unterminated string: the closing '\"' is missing"),
        ('(x "a\\qb")', ReadError, "f.hy:1:6: invalid escape sequence \\q"),
        ("(foo.)", ReadError, "f.hy:1:2: a dotted identifier can't end with a dot"),
        ("1.2.3", ReadError, "f.hy:1:1: the parts of a dotted identifier must be symbols"),
        ('x"s"', ReadError, "f.hy:1:1: invalid string prefix 'x'"),
        ("abc\x00def", ReadError, "f.hy:1:4: NUL character in source"),
        ("1" * 5000, ReadError, "f.hy:1:1: integer literal has more than 4300 digits"),
    ],
)
def test_read_errors_name_file_line_and_column(text: str, cls: type, message: str) -> None:
    with pytest.raises(cls) as info:
        read_many(text, "f.hy")
    assert str(info.value) == message


def test_reader_macros_are_refused() -> None:
    with pytest.raises(ReadError, match=r"reader macro '#foo' is not allowed"):
        read("#foo x")


def test_invalid_utf8_reports_position() -> None:
    with pytest.raises(ReadError) as info:
        read_many(b"(a\n  \xff)", "u.hy")
    assert str(info.value) == "u.hy:2:3: invalid UTF-8: byte 0xff cannot start or continue a character"


def test_caret_excerpt() -> None:
    with pytest.raises(ReadError) as info:
        read_many("(ok)\n(bad ]", "f.hy")
    assert info.value.describe() == (
        "ReadError: f.hy:2:6: unexpected ']': expected ')' to close '(' opened at 2:1\n"
        "  (bad ]\n"
        "       ^"
    )


def test_deep_nesting_is_a_read_error_not_a_recursion_error() -> None:
    with pytest.raises(ReadError, match="nested more than 1000 deep"):
        read_many("(" * 100_000 + ")" * 100_000)
    with pytest.raises(ReadError, match="nested more than 1000 deep"):
        read_many("'" * 100_000 + "a")


def test_nesting_limit_is_configurable() -> None:
    assert read_many("((a))", max_nesting=2)
    with pytest.raises(ReadError):
        read_many("(((a)))", max_nesting=2)


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(ReadError, match=r"^<string>:1:1: source is 52428800 characters long"):
        read_many("a" * (50 * 1024 * 1024))


def test_interpreter_read_errors_carry_the_filename(tmp_path: object) -> None:
    interp = o_lisp.Interpreter()
    with pytest.raises(ReadError) as info:
        interp.eval("(+ 1 2", "snippet.hy")
    assert info.value.position is not None
    assert (info.value.filename, info.value.line, info.value.column) == ("snippet.hy", 1, 7)
    assert interp.eval("(+ 1 2)") == 3
