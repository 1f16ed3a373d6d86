"""Differential tests: o_lisp against Hy 1.3 (the trusted reference).

* Evaluator: every program of ``tests/differential/programs/*.hy`` runs in Hy
  (fresh module) and in a fresh ``o_lisp.Interpreter``; ``hy.repr`` of Hy's
  result must equal ``o_lisp.hy_repr`` of ours. When Hy raises, o_lisp must
  raise ``ProgramError`` whose ``type_name`` is Hy's exception class name.
* Reader: a corpus of snippets is read by ``hy.read_many`` and
  ``o_lisp.read_many``; the trees must agree node by node (type, value,
  children, and start/end line/column).
* Property: random forms printed with ``o_lisp.hy_repr`` read back identically
  in Hy and in o_lisp, print like Hy, and round-trip.
"""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path
from typing import Any

import hy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import o_lisp
from o_lisp import forms as F

sys.path.insert(0, str(Path(__file__).parent / "differential"))
from corpus import Outcome, load_programs, run_hy

PROGRAMS = load_programs()


# --------------------------------------------------------------------------
# Evaluator differential
# --------------------------------------------------------------------------


@functools.cache
def _expected(source: str) -> Outcome:
    return run_hy(source)


def test_corpus_is_large_enough() -> None:
    assert len(PROGRAMS) >= 230
    assert len({p.name for p in PROGRAMS}) == len(PROGRAMS)


def test_reference_errors_are_intentional() -> None:
    """Hy only raises ordinary runtime exceptions (never a Hy syntax/compile error)."""
    import builtins

    for p in PROGRAMS:
        outcome = _expected(p.source)
        if not outcome.ok:
            assert isinstance(getattr(builtins, outcome.exc_type or "", None), type), (
                f"{p.name}: Hy raised {outcome.exc_type}: {outcome.exc}"
            )


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_program(program: Any) -> None:
    expected = _expected(program.source)
    where = f"{program.file}:{program.line} {program.name}"
    interp = o_lisp.Interpreter()
    try:
        ours = interp.eval(program.source, filename=f"<{program.name}>")
    except o_lisp.ProgramError as e:
        if expected.ok:
            pytest.fail(
                f"{where}: Hy returned {expected.repr} but o_lisp raised "
                f"ProgramError({e.type_name}): {e}"
            )
        assert e.type_name == expected.exc_type, (
            f"{where}: Hy raised {expected.exc_type}: {expected.exc}; "
            f"o_lisp raised {e.type_name}: {e}"
        )
        return
    except o_lisp.LispError as e:
        want = expected.repr if expected.ok else f"raise {expected.exc_type}: {expected.exc}"
        pytest.fail(f"{where}: Hy gave {want}; o_lisp raised {type(e).__name__}: {e}")
    if not expected.ok:
        pytest.fail(
            f"{where}: Hy raised {expected.exc_type}: {expected.exc}; "
            f"o_lisp returned {o_lisp.hy_repr(ours)}"
        )
    assert o_lisp.hy_repr(ours) == expected.repr, where


# --------------------------------------------------------------------------
# Structural comparison of Hy models and o_lisp forms
# --------------------------------------------------------------------------

_POS_ATTRS = ("start_line", "start_column", "end_line", "end_column")


def _floats_equal(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def _complex_equal(a: complex, b: complex) -> bool:
    return _floats_equal(a.real, b.real) and _floats_equal(a.imag, b.imag)


def describe(node: Any) -> Any:
    """A plain, comparable description of a Hy model or an o_lisp form (no positions)."""
    name = type(node).__name__
    if name == "Keyword":
        return ("Keyword", node.name)
    if name == "String":
        return ("String", str(node), getattr(node, "brackets", None))
    if name == "Symbol":
        return ("Symbol", str(node))
    if name == "Bytes":
        return ("Bytes", bytes(node))
    if name == "Integer":
        return ("Integer", int(node))
    if name == "Float":
        v = float(node)
        return ("Float", "nan" if math.isnan(v) else v, math.copysign(1, v))
    if name == "Complex":
        return ("Complex", repr(complex(node)))
    if name in ("Expression", "List", "Dict", "Set", "Tuple"):
        return (name, tuple(describe(c) for c in node))
    raise AssertionError(f"unexpected node type {type(node)!r}: {node!r}")


def assert_same_tree(hy_node: Any, our_node: Any, path: str = "$", positions: bool = True) -> None:
    """Hy model and o_lisp form must agree in type, value, children and positions."""
    hname, oname = type(hy_node).__name__, type(our_node).__name__
    assert hname == oname, f"{path}: Hy {hname} {hy_node!r} vs o_lisp {oname} {our_node!r}"
    if hname in ("Expression", "List", "Dict", "Set", "Tuple"):
        assert len(hy_node) == len(our_node), (
            f"{path}: {hname} length Hy {len(hy_node)} vs o_lisp {len(our_node)}: "
            f"{hy_node!r} vs {our_node!r}"
        )
        for i, (h, o) in enumerate(zip(hy_node, our_node, strict=True)):
            assert_same_tree(h, o, f"{path}[{i}]", positions)
    elif hname == "Float":
        assert _floats_equal(float(hy_node), float(our_node)), (
            f"{path}: {hy_node!r} vs {our_node!r}"
        )
    elif hname == "Complex":
        assert _complex_equal(complex(hy_node), complex(our_node)), (
            f"{path}: {hy_node!r} vs {our_node!r}"
        )
    else:
        assert describe(hy_node) == describe(our_node), f"{path}: {hy_node!r} vs {our_node!r}"
    if positions:
        hp = tuple(getattr(hy_node, a, None) for a in _POS_ATTRS)
        op = tuple(getattr(our_node, a, None) for a in _POS_ATTRS)
        assert hp == op, f"{path}: position Hy {hp} vs o_lisp {op} for {hy_node!r}"


def to_hy(form: Any) -> Any:
    """Convert an o_lisp form to the equivalent Hy model (no positions)."""
    M = hy.models
    if isinstance(form, F.Keyword):
        return M.Keyword(form.name)
    if isinstance(form, F.Symbol):
        return M.Symbol(str(form))
    if isinstance(form, F.String):
        return M.String(str(form), brackets=form.brackets)
    if isinstance(form, F.Bytes):
        return M.Bytes(bytes(form))
    if isinstance(form, F.Integer):
        return M.Integer(int(form))
    if isinstance(form, F.Float):
        return M.Float(float(form))
    if isinstance(form, F.Complex):
        return M.Complex(complex(form))
    for ours, theirs in (
        (F.Expression, M.Expression),
        (F.List, M.List),
        (F.Dict, M.Dict),
        (F.Set, M.Set),
        (F.Tuple, M.Tuple),
    ):
        if type(form) is ours:
            return theirs([to_hy(c) for c in form])
    raise AssertionError(f"not a form: {form!r}")


# --------------------------------------------------------------------------
# Reader differential
# --------------------------------------------------------------------------

READER_CORPUS: dict[str, str] = {
    "integers": "0 1 -1 +1 42 1_000 1,000 0xff 0XFF -0x10 0o17 0b101 -0b11 123456789012345678901234567890",
    "floats": "1.5 -2.25 1e3 1E3 1e-3 .5 5. -0.0 1_000.5 NaN Inf -Inf",
    "complex": "1j 2.5j 1+2j",
    "strings": r'"" "abc" "a\nb" "tab\there" "quote\"d" "back\\slash" "\x41\u00e9" "\U0001F600" "\N{BULLET}"',
    "string-multiline": '"line one\nline two"  after',
    "string-raw-prefix": r'r"raw\n"',
    "bytes": r'b"abc" b"\x00\xff"',
    "bracket-strings": "#[[hello]] #[[]] #[foo[with ]] inside]foo] #[x[\nnewline]x]",
    "bracket-string-escapes-literal": r'#[[no \n escapes "here"]]',
    "keywords": ":a :foo-bar :kebab? :*x* :a1",
    "symbols": "foo foo-bar foo_bar valid? *special* + - * / // ** <= != -> ->> a1 _ __x",
    "symbols-dots": 'a.b a.b.c .foo ... (.append xs 1) (.join ", " xs)',
    "special-symbols": "None True False",
    "expression": "(f x y)",
    "nested": '(defn f [a [b 2]] {"k" [1 #(2 #{3})]})',
    "empty-brackets": "() [] {} #{} #()",
    "all-brackets": "(a [b {c d} #{e} #(f)])",
    "quote": "'x '(a b) 'nil",
    "quasiquote": "`(a ~b ~@c)",
    "nested-quasiquote": "`(a `(b ~(c ~x)))",
    "unquote-forms": "~x ~@xs",
    "unpack": "(f #* args #** kwargs)",
    "discard": "(a #_ b c) #_ (ignored form) d #_ x y #_[1 2] z",
    "comments": "; comment\n(a ; trailing\n b) ; end\n;; last",
    "multiline-positions": "(defn f [x]\n  (+ x\n     1))\n\n(f\n 2)",
    "whitespace-mix": "  \t(a\t b)\n\n  [c\n]  ",
    "negative-symbol-like": "-a -foo +b -",
    "keyword-call": "(f 1 :b 2 :c [3])",
    "program": "(setv xs [1 2 3])\n(lfor x xs :if (% x 2) (* x x))",
    "dict-literal": '{"a" 1 :b 2 3 [4]}',
    "unicode-symbols": "λ café ünïcode",
    "numbers-in-expr": "(+ 1.5 -2 3e2 0x10)",
    "string-adjacent": '(f "a""b")',
    "deep-nesting": "((((((((((x))))))))))",
    "empty-source": "",
    "only-comment": "; nothing here",
}


def _hy_read_many(text: str) -> list[Any]:
    return list(hy.read_many(text, filename="<string>"))


@pytest.mark.parametrize("name", list(READER_CORPUS), ids=list(READER_CORPUS))
def test_reader_matches_hy(name: str) -> None:
    text = READER_CORPUS[name]
    theirs = _hy_read_many(text)
    ours = o_lisp.read_many(text, filename="<string>")
    assert len(theirs) == len(ours), f"{len(theirs)} forms from Hy, {len(ours)} from o_lisp"
    for i, (h, o) in enumerate(zip(theirs, ours, strict=True)):
        assert_same_tree(h, o, f"form[{i}]")


@pytest.mark.parametrize("name", list(READER_CORPUS), ids=list(READER_CORPUS))
def test_reader_repr_matches_hy(name: str) -> None:
    """Every form of the corpus prints like Hy prints it."""
    text = READER_CORPUS[name]
    theirs = _hy_read_many(text)
    ours = o_lisp.read_many(text, filename="<string>")
    assert [o_lisp.hy_repr(o) for o in ours] == [hy.repr(h) for h in theirs]


# --------------------------------------------------------------------------
# Property test: print / read round trip agrees with Hy
# --------------------------------------------------------------------------

_SYM_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_*<>=!?%&$λé"
_SYM_REST = _SYM_START + "0123456789-+/"


def _is_plain_symbol(s: str) -> bool:
    if s in {"NaN", "Inf"} or s.startswith("_hy"):
        return False
    try:
        float(s.replace("_", "").replace(",", ""))
    except ValueError:
        return True
    return False


_names = st.builds(
    lambda a, b: a + b,
    st.sampled_from(_SYM_START),
    st.text(alphabet=_SYM_REST, max_size=6),
).filter(_is_plain_symbol)

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x2FFF), max_size=12
)

# Bracket strings are raw: no escapes, so keep control characters (NUL, CR) out.
_raw_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x2FFF) | st.just("\n"),
    max_size=12,
)

atoms = st.one_of(
    _names.map(F.Symbol),
    _names.map(F.Keyword),
    st.integers(min_value=-(10**30), max_value=10**30).map(F.Integer),
    st.floats(allow_nan=True, allow_infinity=True).map(F.Float),
    _text.map(lambda s: F.String(s)),
    st.tuples(_raw_text, st.sampled_from(["", "x", "delim"]))
    .filter(lambda t: f"]{t[1]}]" not in t[0] + "]" and not t[0].startswith("\n"))
    .map(lambda t: F.String(t[0], t[1])),
    st.binary(max_size=8).map(F.Bytes),
)

forms_strategy = st.recursive(
    atoms,
    lambda children: st.one_of(
        st.lists(children, max_size=5).map(F.Expression),
        st.lists(children, max_size=5).map(F.List),
        st.lists(children, max_size=4).map(F.Tuple),
        st.lists(children, max_size=4).map(F.Set),
        st.lists(st.tuples(children, children), max_size=3).map(
            lambda kvs: F.Dict([x for kv in kvs for x in kv])
        ),
    ),
    max_leaves=15,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(forms_strategy)
def test_print_read_roundtrip_agrees_with_hy(form: Any) -> None:
    text = o_lisp.hy_repr(form)
    # o_lisp prints a form exactly as Hy prints the equivalent model.
    assert text == hy.repr(to_hy(form))
    theirs = hy.read(text)
    ours = o_lisp.read(text)
    assert_same_tree(theirs, ours)
    # hy.repr of a model is quoted (`'(a b)` reads as `(quote (a b))`), except
    # for self-evaluating keywords, which print bare.
    if text.startswith("'"):
        assert ours == F.Expression([F.Symbol("quote"), form])
        ours = ours[1]
    assert ours == form
    assert_same_tree(to_hy(ours), form, positions=False)
