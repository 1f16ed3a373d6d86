"""Issue 12, family 3: C work not charged before it runs.

Built-ins, methods and constructors whose work is super-linear in an argument's
value or size (keyword arguments included), codecs, bulk copies between memory
samples, comprehension bodies that never ticked, and the reader, mangler and
compiler run on program-sized inputs. Each attempt must end with a closed
outcome, five times in one interpreter, in a watched child (`_repeat`).
"""

from __future__ import annotations

import pytest
from _repeat import Attempt, limit, run  # tests/security is on sys.path (rootdir-relative import)

from o_lisp import Interpreter, Limits, SandboxViolation

SV = (("SandboxViolation", None),)
# Copies kept in a local list: the evaluation's own values, dropped when it fails.
COPIES = "(defn f [] (setv big (list (range 4000000)) keep []) (for [i (range 1000)] (.append keep {})) (len keep)) (f)"

ATTEMPTS = {
    "round-huge-negative-ndigits": Attempt("(round 5 (- (** 10 9)))", limit("int_bits")),
    "modular-pow-negative-exponent": Attempt(
        "(pow 3 (- (- (** 2 99990) 1)) (- (** 2 99989) 1))", limit("int_bits")
    ),
    "str-punycode": Attempt('(str (* b"a" 100000) "punycode")', SV),
    "bytes-punycode": Attempt('(bytes (* "\\u00e9" 100000) "punycode")', SV),
    "str-keyword-encoding": Attempt('(str :object b"x" :encoding "zlib_codec")', SV),
    "bytes-keyword-encoding": Attempt('(bytes :source "x" :encoding "rot13")', SV),
    "decode-bytes-to-bytes-codec": Attempt('(.decode b"x" "hex_codec")', SV),
    "encode-name-replace": Attempt('(.encode (* "\\u00e9" 1000000) "ascii" "namereplace")', SV),
    "bytes-keyword-size": Attempt("(bytes :source (** 10 10))", limit("size")),
    "str-keyword-object": Attempt(
        "(setv l [1]) (for [_ (range 4)] (setv l (* [l] 1000))) (str :object l)", limit("size")
    ),
    "form-bytes-size": Attempt("(hy.models.Bytes (** 10 10))", limit("size")),
    "form-integer-digits": Attempt('(hy.models.Integer (* "7" 200000))', limit("int_bits")),
    "slices-between-samples": Attempt(
        COPIES.format("(cut big 0 None)"),
        limit("memory", "time"),
    ),
    "list-copies-between-samples": Attempt(
        COPIES.format("(list big)"),
        limit("memory", "time"),
    ),
    "method-copies-between-samples": Attempt(
        COPIES.format("(.copy big)"),
        limit("memory", "time"),
    ),
    "split-between-samples": Attempt(
        '(defn f [] (setv s (* "a " 2000000) keep []) (for [i (range 1000)] (.append keep (.split s)))) (f)',
        limit("memory", "time"),
    ),
    "comprehension-body-work": Attempt(
        '(setv s (* "ab" 1000000)) (lfor i (range 4000000) (.count s "a"))', limit("time")
    ),
    "set-comprehension-body-work": Attempt(
        '(setv s (* "ab" 1000000)) (sfor i (range 4000000) (.count s "b"))', limit("time")
    ),
    "hy-mangle-huge": Attempt('(hy.mangle (* "\\u00e9" 4000000))', limit("size", "steps")),
    "hy-unmangle-underscores": Attempt(
        '(len (hy.unmangle (+ "_a" (* "_" 400000) "b")))', (("value", 400003),)
    ),
    "sum-of-lists-quadratic": Attempt("(len (sum (* [[1 2]] 200000) []))", limit("steps")),
    "sort-equal-long-strings": Attempt(
        '(setv a (* "x" 1000000) b (+ (cut a 1 None) "x")) (len (sorted (* [a b] 100000)))', limit("steps", "time")
    ),
    "count-equal-long-string": Attempt(
        '(setv a (* "x" 1000000) b (+ (cut a 1 None) "x")) (.count (* [a] 1000000) b)', limit("steps")
    ),
    "max-equal-long-strings": Attempt(
        '(setv a (* "x" 1000000) b (+ (cut a 1 None) "x")) (max (* [a b] 1000000))', limit("steps", "time")
    ),
    "hy-read-huge": Attempt('(hy.read (+ "[" (* "a " 1900000) "]"))', limit("steps")),
    "hy-eval-huge-call": Attempt(
        '(hy.eval (hy.models.Expression (+ [(hy.models.Symbol "+")] (* [1] 3000000))))',
        limit("steps", "time"),
    ),
}


@pytest.mark.timeout(200)
@pytest.mark.parametrize("name", sorted(ATTEMPTS))
def test_c_work_is_charged_before_it_runs(name: str) -> None:
    run(ATTEMPTS[name])


def test_allowed_codecs_and_ordinary_calls_still_work() -> None:
    interp = Interpreter()
    assert interp.eval('(str b"caf\\xc3\\xa9" "utf-8")') == "café"
    assert interp.eval('(str :object b"abc" :encoding "ascii" :errors "strict")') == "abc"
    assert interp.eval('(bytes "é" "latin-1")') == b"\xe9"
    assert interp.eval('(.encode "é" "ascii" "backslashreplace")') == b"\\xe9"
    assert interp.eval("(round 1234 -2)") == 1200
    assert interp.eval("(pow 3 -1 7)") == 5
    assert interp.eval("(bytes :source 3)") == b"\x00\x00\x00"
    assert interp.eval('(hy.mangle "valid?")') == "hyx_validXquestion_markX"
    assert interp.eval("(len (hy.models.Bytes 10))") == 10
    with pytest.raises(SandboxViolation):
        interp.eval('(str b"x" "utf-8" "namereplace")')


def test_comprehension_items_cost_one_step_each() -> None:
    """Each item of a comprehension ticks (it used to be charged in bulk up front):
    the count is the same, so a budget that fits exactly still fits."""
    interp = Interpreter()
    assert _cheapest(interp, "(lfor x (range 101) x)") - _cheapest(interp, "(lfor x (range 1) x)") == 100
    filtered = "(lfor x (range {}) :if (% x 2) x)"
    assert _cheapest(interp, filtered.format(201)) - _cheapest(interp, filtered.format(101)) == 100
    nested = "(lfor x (range {}) y (range 10) x)"
    assert _cheapest(interp, nested.format(12)) - _cheapest(interp, nested.format(11)) == 11
    lazy = "(list (gfor x (range {}) x))"
    assert _cheapest(interp, lazy.format(101)) - _cheapest(interp, lazy.format(1)) == 100


def _cheapest(interp: Interpreter, source: str) -> int:
    """The smallest step budget under which `source` evaluates."""
    low, high = 1, 10_000
    while low < high:
        middle = (low + high) // 2
        try:
            interp.eval(source, limits=Limits(steps=middle))
        except Exception:
            low = middle + 1
        else:
            high = middle
    return low
