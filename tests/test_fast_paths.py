"""The compiler's inline fast paths keep the sandbox's limits and the runtime's behaviour.

Operators (`+ * %`), `.append`/`.add`, `(setv (get ...))`, `(str x)` and `(int x)`
compile to plain Python operations behind exact-type tests and fall back to the
guarded helpers otherwise. Each bomb here drives a fast path to the edge of a limit
and checks that the limit still fires, at the same place, as it did through the
helpers. (Results against Hy are in tests/differential/programs/fast_paths.hy.)
"""

from __future__ import annotations

import dis
import re
import sys
from typing import Any

import pytest

import o_lisp
from o_lisp import Interpreter, LimitExceeded, Limits, ProgramError, SandboxViolation
from o_lisp._budget import Budget
from o_lisp._runtime import Runtime


def limit_of(source: str, limits: Limits) -> str:
    with pytest.raises(LimitExceeded) as info:
        Interpreter(limits=limits).eval(source)
    return info.value.limit


# -- errors are those of the helpers ------------------------------------------------


@pytest.mark.parametrize(
    ("op", "a", "b"),
    [
        ("+", "[1]", "#(2)"),
        ("+", "#(1)", "[2]"),
        ("+", '"a"', "1"),
        ("+", "1", '"a"'),
        ("+", "None", "1"),
        ("*", '"a"', "1.5"),
        ("*", "[1]", '"a"'),
        ("%", "1", "0"),
        ("%", "[1]", "2"),
    ],
)
def test_type_errors_match_the_helpers(op: str, a: str, b: str) -> None:
    """The inline test falls through to the helper, whose Python error is unchanged."""
    interp = Interpreter()
    left, right = interp.eval(a), interp.eval(b)
    helper = {"+": Runtime.add, "*": Runtime.mul, "%": Runtime.mod}[op]
    with pytest.raises(Exception) as expected:
        helper(Runtime(Budget(), print), left, right)
    # Operands as names (the general test) and as literals (the constant tests).
    interp.eval(f"(setv a {a} b {b})")
    for source in (f"({op} a b)", f"({op} {a} {b})", f"({op} a {b})", f"({op} {a} b)"):
        with pytest.raises(ProgramError) as got:
            interp.eval(source)
        assert got.value.type_name == type(expected.value).__name__, source
        assert str(expected.value) in str(got.value), source


def test_methods_on_other_types_are_still_refused() -> None:
    interp = Interpreter()
    for source in ("(.append #(1) 2)", "(.add [1] 2)", "(.append {} 1)", "(.add (frozenset) 1)"):
        with pytest.raises(SandboxViolation):
            interp.eval(source)


def test_subclasses_take_the_helpers_and_give_the_same_values() -> None:
    interp = Interpreter()
    interp.eval("(setv i (hy.models.Integer 6) s (hy.models.String \"ab\"))")
    assert interp.eval("[(+ i 1) (* i 2) (% i 4) (+ s \"c\") (* s 2) (+ True i)]") == [
        7, 12, 2, "abc", "abab", 7,
    ]


def test_shadowed_str_and_int_are_called() -> None:
    interp = Interpreter()
    interp.define("str", lambda x: ["mine", x])
    interp.eval("(defn int [x] (+ x 100))")
    assert interp.eval("[(str 1) (int 1)]") == [["mine", 1], 101]
    assert interp.eval("(let [str len] (str \"abc\"))") == 3


# -- bombs: each fast path at the edge of its limit ----------------------------------


def test_append_stops_at_max_size() -> None:
    interp = Interpreter(limits=Limits(max_size=1000))
    with pytest.raises(LimitExceeded) as info:
        interp.eval("(setv xs []) (while True (.append xs 1))")
    assert info.value.limit == "size"
    assert len(interp.lookup("xs")) == 1000  # refused before the item past the limit


def test_add_to_set_stops_at_max_size() -> None:
    interp = Interpreter(limits=Limits(max_size=500))
    with pytest.raises(LimitExceeded) as info:
        interp.eval("(setv s (set) i 0) (while True (.add s i) (+= i 1))")
    assert info.value.limit == "size"
    assert len(interp.lookup("s")) == 500


def test_dict_store_stops_at_max_size_but_overwrites_freely() -> None:
    interp = Interpreter(limits=Limits(max_size=300))
    interp.eval("(setv d {}) (for [i (range 300)] (setv (get d i) i))")
    interp.eval("(for [i (range 300)] (setv (get d i) (* i 2)))")  # no growth: allowed
    with pytest.raises(LimitExceeded) as info:
        interp.eval("(setv (get d 300) 1)")
    assert info.value.limit == "size"
    assert len(interp.lookup("d")) == 300


def test_max_size_of_each_evaluation_applies_to_append() -> None:
    """`_o_maxlen` follows the limits of the evaluation running, not the interpreter's."""
    interp = Interpreter()
    interp.eval("(setv xs [1 2 3])")
    with pytest.raises(LimitExceeded):
        interp.eval("(.append xs 4)", limits=Limits(max_size=3))
    interp.eval("(.append xs 4)")
    assert interp.lookup("xs") == [1, 2, 3, 4]


def test_append_and_add_charge_the_steps_of_the_dispatcher() -> None:
    """Inline or through the dispatcher (`#*` arguments take it), the same steps."""
    interp = Interpreter()
    interp.eval(
        "(defn inline [] (setv xs [] s (set)) (for [i (range 10)] (.append xs i) (.add s i)))"
        "(defn dispatched [] (setv xs [] s (set)) (for [i (range 10)] (.append xs #* [i]) (.add s #* [i])))"
    )

    def fewest_steps(name: str) -> int:
        for steps in range(1, 200):
            try:
                interp.eval(f"({name})", limits=Limits(steps=steps))
            except LimitExceeded:
                continue
            return steps
        raise AssertionError("never fits")

    assert fewest_steps("inline") == fewest_steps("dispatched") > 30


def test_string_concatenation_above_the_threshold_is_charged() -> None:
    for source in (
        '(setv a (* "x" 3000)) (+ a a)',
        '(setv a (* "x" 3000)) (+= a a)',
        '(setv a (* "x" 3000)) (+ a (* "y" 3000))',
        "(setv a (list (range 3000))) (+ a a)",
        "(setv a (tuple (range 3000))) (+ a a)",
    ):
        assert limit_of(source, Limits(max_size=5000)) == "size", source
        Interpreter(limits=Limits(max_size=6000)).eval(source)


def test_doubling_a_string_in_a_loop_hits_the_size_limit() -> None:
    assert limit_of('(setv s "ab") (while True (setv s (+ s s)))', Limits()) == "size"


def test_repetition_is_charged() -> None:
    assert limit_of('(setv n 5000) (* "ab" n)', Limits(max_size=9999)) == "size"
    assert limit_of("(setv n 5000) (* n [1 2])", Limits(max_size=9999)) == "size"
    Interpreter(limits=Limits(max_size=10000)).eval('(setv n 5000) (* "ab" n)')


def test_squaring_in_a_loop_hits_the_int_bits_limit() -> None:
    for source in (
        "(setv x 3) (while True (setv x (* x x)))",
        "(setv x 3) (while True (*= x x))",
        "(setv x 3.0 y 3) (while True (setv y (* y y)))",
        "(setv x 2147483647) (while True (setv x (* x 2147483647)))",
    ):
        assert limit_of(source, Limits(max_int_bits=4096)) == "int_bits", source


def test_float_products_overflow_like_python() -> None:
    assert Interpreter().eval("(setv x 1e300) [(* x x) (* x -10) (* 2 x)]") == [
        float("inf"), -1e301, 2e300,
    ]


def test_int_of_a_long_string_is_refused() -> None:
    limits = Limits(max_int_bits=100)
    assert Interpreter(limits=limits).eval('(int "12345678901234567890")') == 12345678901234567890
    assert limit_of('(int "123456789012345678901")', limits) == "int_bits"
    assert limit_of('(setv s (* "9" 21)) (int s)', limits) == "int_bits"


def test_str_of_ints_beyond_the_inline_bound() -> None:
    """Ints of 4096 bits and more take the safe `str` (Python's own digit limit applies)."""
    interp = Interpreter()
    assert interp.eval("(setv x (** 2 4095)) (str x)") == str(2**4095)
    assert interp.eval("(str (- (** 2 4096)))") == str(-(2**4096))
    with pytest.raises(ProgramError) as info:
        interp.eval("(str (** 10 5000))")
    assert info.value.type_name == "ValueError"


def test_fast_paths_run_in_comprehensions_and_module_scope() -> None:
    interp = Interpreter()
    assert interp.eval("(lfor x (range 4) (+ x 0.5))") == [0.5, 1.5, 2.5, 3.5]
    assert interp.eval("(setv out []) (lfor x (range 3) (.append out (* x x))) out") == [0, 1, 4]
    assert interp.eval("(dfor x (range 3) (str x) (int (str x)))") == {"0": 0, "1": 1, "2": 2}


def test_run_on_deep_stack_runs_calls_inline() -> None:
    """A call from a deep-stack thread evaluates on that thread (no hand-over)."""
    import threading

    interp = Interpreter(capabilities={"thread": lambda: threading.get_ident()})
    interp.eval("(defn where [] (thread))")

    def inside() -> Any:
        return threading.get_ident(), interp.call("where")

    caller, evaluator = o_lisp.run_on_deep_stack(inside)
    assert caller == evaluator
    assert interp.call("where") != threading.get_ident()  # the main thread hands over


def test_replace_growth_is_charged() -> None:
    assert limit_of('(setv s "ab") (while True (setv s (.replace s "a" "aa")))', Limits()) == "size"
    assert limit_of('(setv s (* "a" 80)) (.replace s "a" "xy")', Limits(max_size=100)) == "size"
    assert limit_of('(setv s (* "a" 80) n "xy") (.replace s "a" n)', Limits(max_size=100)) == "size"
    interp = Interpreter(limits=Limits(max_size=100))
    assert interp.eval('(setv s (* "ab" 40)) (len (.replace s "a" ""))') == 40
    assert interp.eval('(len (.replace s "a" "x"))') == 80


def test_split_of_a_long_string_is_still_charged() -> None:
    """`(.split s)` runs inline only up to 4 096 characters, where the dispatcher charges
    nothing; a longer string's parts are charged to the size budget as before."""
    interp = Interpreter(limits=Limits(max_size=5000))
    interp.eval('(defn parts [s #* more] (len (.split s #* more))) (defn words [s] (len (.split s))) (defn cut1 [s] (.split s " " 1))')
    with pytest.raises(LimitExceeded) as info:
        interp.call("words", "a " * 3000)  # 6 000 characters: over max_size
    assert info.value.limit == "size"
    assert interp.call("words", "a " * 2048) == 2048  # 4 096 characters: inline, uncharged
    assert interp.call("parts", "a " * 2048) == 2048  # the dispatcher agrees
    assert interp.call("cut1", "a b c") == ["a", "b c"]
    small = Interpreter(limits=Limits(max_size=100))
    small.eval("(defn words [s] (len (.split s)))")
    assert small.call("words", "a " * 2048) == 2048  # short enough: neither path charges it
    with pytest.raises(SandboxViolation):
        small.eval("(.split [1 2] 1)")


def test_two_argument_min_max_inline_only_on_numbers() -> None:
    """`(max a b)` calls the real `max` only for two ints or floats; nested values still
    go through the safe function, which charges their comparison (the limit fires)."""
    dag = "(setv a [1] b [1]) (for [_ (range 60)] (setv a [a a] b [b b]))"  # 2**60 leaves each
    assert limit_of(dag + " (max a b)", Limits()) == "size"
    assert limit_of(dag + " (min a b)", Limits()) == "size"
    interp = Interpreter()
    assert interp.eval("(setv x 2 y 3.5) [(max x y) (min x y) (max y x) (min 7 x)]") == [3.5, 2, 3.5, 2]


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="CPython 3.11's warm-up rule")
def test_a_while_loop_warms_up_a_function_called_once() -> None:
    """`while` compiles to `while True:` + test: its unconditional backward jump counts
    towards CPython's warm-up, so a long loop in a function entered once runs on
    specialised bytecode (`while cond:` never warmed it; see docs/architecture.md)."""
    interp = Interpreter()
    interp.eval("(defn count-up [n] (setv i 0) (while (< i n) (setv i (+ i 1))) i)")
    function = interp._globals["count_up"]
    assert interp.call(function, 100) == 100
    names = {i.opname for i in dis.get_instructions(function, adaptive=True)}
    assert names - set(dis.opmap), names  # specialised instructions are not in opmap
    interp.eval("(defn stays [n] (setv i 0) (while (< i n) (setv i (+ i 1)) (else (setv i -1))) i)")
    assert interp.call("stays", 3) == -1


def test_nested_min_max_compile_in_linear_size() -> None:
    """Each argument is compiled once (a chain 200 deep would never compile if the
    fast path copied its arguments into both branches)."""
    source = "(max 1 " * 200 + "7" + ")" * 200
    assert Interpreter().eval(source) == 7


@pytest.mark.parametrize(
    ("expression", "value", "helper", "args"),
    [
        ("(+ x 1)", "a", "add", ("x", 1)),
        ("(+ 1 x)", [1], "add", (1, "x")),
        ("(* x 2.0)", "a", "mul", ("x", 2.0)),
        ("(* 1.5 x)", [1], "mul", (1.5, "x")),
    ],
)
def test_numeric_constant_operands_fail_like_the_helpers(
    expression: str, value: Any, helper: str, args: tuple[Any, ...]
) -> None:
    """`(+ x 1)` and `(* x 2.0)` compile to plain operators: the errors are Python's,
    as the helpers raised them."""
    rt = Runtime(Budget(), print)
    with pytest.raises(TypeError) as expected:
        getattr(rt, helper)(*(value if a == "x" else a for a in args))
    interp = Interpreter()
    interp.define("x", value)
    with pytest.raises(ProgramError) as got:
        interp.eval(expression)
    assert got.value.type_name == "TypeError"
    assert str(expected.value) in str(got.value)


# -- map and filter with the program's own functions -----------------------------------


def test_map_and_filter_charge_a_step_per_item() -> None:
    """With a compiled function, `map`/`filter` are the C ones: each item costs the
    function's entry step (read from the current ticker); with a built-in function or
    a generator function (whose call runs nothing) each item is charged by the wrapper."""
    interp = Interpreter()
    interp.eval("(defn inc [x] (+ x 1)) (defn odd? [x] (% x 2)) (defn gen [x] (yield x))")

    def steps(source: str) -> int:
        interp.eval(source)
        return interp.steps_taken()

    base = steps("(list (range 1000))")
    assert steps("(list (map inc (range 1000)))") - base >= 1000
    assert steps("(list (filter odd? (range 1000)))") - base >= 1000
    assert steps("(list (map abs (range 1000)))") - base >= 1000
    assert steps("(list (map gen (range 1000)))") - base >= 1000
    assert interp.eval("(list (map inc (filter odd? (range 10))))") == [2, 4, 6, 8, 10]


@pytest.mark.parametrize(
    "source",
    [
        "(list (map (fn [x] x) (range 100000)))",
        "(list (filter (fn [x] True) (range 100000)))",
        "(list (map (fn [x] (yield x)) (range 100000)))",
    ],
)
def test_map_and_filter_stop_at_the_step_limit(source: str) -> None:
    assert limit_of(source, Limits(steps=5_000)) == "steps"


def test_compiled_steps_are_one_c_call_on_the_ticker() -> None:
    """Compiled code steps with `_o_next(_o_ticker)`: `next` of the budget's iterator,
    the same iterator whose `__next__` is `_o_tick`, swapped with it when a limit hits."""
    interp = Interpreter()
    table = interp.builtin_table
    assert table["_o_next"] is next
    interp.eval("(defn f [] (for [i (range 5)] i))")
    assert "_o_tick(" not in _source_of("(defn f [] (for [i (range 5)] i))", "f")
    assert limit_of("(defn f [] (while True 1)) (f)", Limits(steps=1000)) == "steps"
    assert limit_of("(defn f [] (while True 1)) (f)", Limits(steps=None, time=0.2)) == "time"
    budget = interp._budget
    assert table["_o_ticker"] is budget.ticker and table["_o_tick"] == budget.ticker.__next__


def test_map_of_a_compiled_function_stops_on_time() -> None:
    """The time alarm swaps the ticker: the next item's function entry raises."""
    source = "(defn f [x] x) (for [_ (range 1000)] (list (map f (range 100000))))"
    assert limit_of(source, Limits(steps=None, time=0.2)) == "time"


def test_vet_refuses_a_function_that_does_not_tick_on_entry() -> None:
    import ast

    from o_lisp._vet import vet

    vet(ast.parse("def f():\n    _o_tick()\n    return 1\n"))
    vet(ast.parse("def f():\n    'doc'\n    _o_tick()\n    return 1\n"))
    vet(ast.parse("def f():\n    _o_next(_o_ticker)\n    return 1\n"))
    vet(ast.parse("def g():\n    yield 1\n"))
    with pytest.raises(SandboxViolation):
        vet(ast.parse("def f():\n    return 1\n"))
    for other in ("_o_next(_o_tick)", "_o_next(x)", "_o_next(_o_ticker, None)", "next(_o_ticker)", "_o_tick(1)"):
        with pytest.raises(SandboxViolation):
            vet(ast.parse(f"def f():\n    {other}\n    return 1\n"))
    with pytest.raises(SandboxViolation):
        vet(ast.parse("def f():\n    def g():\n        yield 1\n    return g\n"))


def test_tuple_keys_still_charge_their_walk() -> None:
    """The one-type-call key test lets ints and strs through and sends tuples to `_o_key`."""
    source = (
        "(setv t #(1 2)) (for [_ (range 60)] (setv t #(t t)))"
        " (setv d {}) (setv (get d t) 1)"
    )
    assert limit_of(source, Limits()) in ("size", "steps")
    interp = Interpreter()
    assert interp.eval('(setv d {}) (setv (get d "a") 1 (get d 2) 3) (+ (.get d "a" 0) (get d 2))') == 4


def test_join_with_one_argument_keeps_the_dispatchers_checks() -> None:
    """`(.join sep items)` compiles to the positional `_o_join`: the joined size is still
    refused before the join, errors are join's own, other receivers take the dispatcher."""
    big = '(setv s (* "x" 1000)) (.join "" (* [s] 20))'
    assert limit_of(big, Limits(max_size=10_000)) == "size"
    assert limit_of('(.join (* "-" 1000) (* ["a"] 20))', Limits(max_size=10_000)) == "size"
    interp = Interpreter()
    assert interp.eval('(.join "-" ["a" "b" "c"])') == "a-b-c"
    assert interp.eval('(.join ", " #("a" "b"))') == "a, b"
    assert interp.eval('(.join "" (gfor c "abc" (.upper c)))') == "ABC"
    assert interp.eval('(.join b"-" [b"a" b"b"])') == b"a-b"
    with pytest.raises(ProgramError, match="sequence item 1: expected str instance, int found"):
        interp.eval('(.join "-" ["a" 1])')
    with pytest.raises(SandboxViolation):
        interp.eval('(.join [1] ["a"])')


def test_short_ranges_respect_a_small_max_size() -> None:
    assert Interpreter(limits=Limits(max_size=100)).eval("(len (range 100))") == 100
    assert limit_of("(range 101)", Limits(max_size=100)) == "size"
    assert limit_of("(range (** 10 12))", Limits()) == "size"


# -- locals bound once to a literal ------------------------------------------------------


def _source_of(interp_source: str, name: str) -> str:
    """The generated Python of the function `name` (for tests on the shape of the code)."""
    import ast as python_ast

    from o_lisp import _compiler

    captured: list[str] = []
    original = _compiler.vet

    def spy(tree: python_ast.AST) -> None:
        captured.append(python_ast.unparse(tree))
        original(tree)

    _compiler.vet = spy  # type: ignore[assignment]
    try:
        Interpreter(load_stdlib=False).eval(interp_source)
    finally:
        _compiler.vet = original  # type: ignore[assignment]
    return next(text for text in captured if f"def {name}(" in text)


def test_type_tests_on_a_local_bound_once_to_a_literal_are_dropped() -> None:
    source = (
        "(defn f [ws] (setv counts {} out [])"
        " (for [w ws] (setv (get counts w) (+ (.get counts w 0) 1)) (.append out w)) [counts out])"
    )
    code = _source_of(source, "f")
    assert "_o_type(counts)" not in code and "_o_type(_o_o" not in code, code
    assert "_o_len(" in code and "_o_maxlen" in code  # the size check stays
    interp = Interpreter()
    interp.eval(source)
    assert interp.call("f", ["a", "b", "a"]) == [{"a": 2, "b": 1}, ["a", "b", "a"]]


@pytest.mark.parametrize(
    "rebinding",
    [
        "(setv counts [])",
        "(for [counts [[]]] None)",
        "(defn g [] (nonlocal counts) (setv counts []))",
        "(try (raise (ValueError)) (except [counts ValueError] None))",
        "(del counts) (setv counts [])",
    ],
)
def test_a_local_bound_twice_keeps_its_type_test(rebinding: str) -> None:
    source = f"(defn f [] (setv counts {{}}) {rebinding} (.get counts 0))"
    assert "_o_type(counts)" in _source_of(source, "f")


def test_a_known_list_still_stops_at_max_size() -> None:
    source = "(defn f [] (setv xs []) (while True (.append xs 1))) (f)"
    assert limit_of(source, Limits(max_size=1000)) == "size"
    source = "(defn f [] (setv d {}) (for [i (range 2000)] (setv (get d i) i))) (f)"
    assert limit_of(source, Limits(max_size=1000)) == "size"


def test_a_dead_branch_of_the_program_is_kept() -> None:
    """Only the compiler's own tests are simplified: a `yield` in a branch the program
    never takes still makes a generator, as in Python and Hy."""
    interp = Interpreter()
    interp.eval("(defn f [] (setv xs []) (.append xs 1) (if True xs (yield 2)))")
    assert interp.eval("(list (f))") == []


# -- building strings with + -----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["(setv s (+ s (str 1)))", '(+= s "xy")', '(setv s (+ s "xy"))', "(setv s (+ s s2))"],
)
def test_growing_a_string_stops_at_max_size(body: str) -> None:
    """Concatenations past 4 096 characters are inline once `_o_concat` has charged them."""
    source = f'(defn f [] (setv s "" s2 "ab") (while True {body})) (f)'
    assert limit_of(source, Limits(max_size=20_000)) == "size"


def test_the_left_operand_is_read_before_the_right_one_runs() -> None:
    """`(+ acc (g))` reads `acc` first, as Python does, even when `g` rebinds it."""
    interp = Interpreter()
    interp.eval(
        '(defn f [] (setv acc "a")'
        ' (defn g [] (nonlocal acc) (setv acc "zzz") "b")'
        ' [(+ acc (g)) acc])'
    )
    assert interp.eval("(f)") == ["ab", "zzz"]
    interp.eval('(defn h [] (setv acc "a") [(+ acc (setx acc "c")) acc])')
    assert interp.eval("(h)") == ["ac", "c"]
    interp.eval('(defn k [xs] (setv acc "") (for [x xs] (setv acc (+ acc (str x)))) acc)')
    assert interp.call("k", list(range(3000))) == "".join(map(str, range(3000)))
    assert interp.call("k", [1, 2, 3]) == "123"


def test_mod_of_arithmetic_is_plain_and_formatting_still_checked() -> None:
    """`(% (+ x c) m)` cannot format (its left operand is never text): plain `%`.
    A left operand that may be a str still goes through the format checks."""
    interp = Interpreter()
    interp.eval("(defn lcg [x] (% (+ (* x 48271) 11) 2147483647))")
    assert interp.call("lcg", 7) == (7 * 48271 + 11) % 2147483647
    assert interp.eval("(% (- 10 3.5) 4)") == (10 - 3.5) % 4
    with pytest.raises(ProgramError, match="TypeError"):
        interp.eval('(setv s "%d") (% (+ s 1) 3)')
    assert limit_of('(setv f "%999999999d") (% (+ f "") 1)', Limits()) == "size"


def test_the_type_of_map_and_filter_values_is_refused_as_documented() -> None:
    """docs/language.md, `type`: zip/enumerate give their class, map/filter are refused."""
    interp = Interpreter()
    assert interp.eval("(= (type (zip [1] [2])) zip)") is True
    for source in ("(type (map str [1]))", "(type (filter None [1]))"):
        with pytest.raises(SandboxViolation, match="the type of a generator value is not available"):
            interp.eval(source)


# -- round four: receivers, empty sets, str of a product ------------------------------


def test_a_local_receiver_is_not_copied_before_its_argument() -> None:
    """`(.append xs (f))` reads `xs` before calling `f`; a local that no call can rebind
    is read where it is used instead (no `(_o_oN := xs) is _o_oN`)."""
    source = "(defn f [n] (setv xs []) (for [i (range n)] (.append xs (str i))) xs)"
    code = _source_of(source, "f")
    assert "_o_o" not in code and "_o_append(xs," in code, code
    interp = Interpreter()
    interp.eval(source)
    assert interp.call("f", 3) == ["0", "1", "2"]
    assert limit_of(source + " (f 5000)", Limits(max_size=1000)) == "size"
    interp = Interpreter(limits=Limits(max_size=1000))
    interp.eval("(defn g [] (setv xs []) (while True (.append xs (str 1))) xs)")
    with pytest.raises(LimitExceeded) as info:
        interp.call("g")
    assert info.value.limit == "size"


def test_a_receiver_that_the_argument_may_rebind_is_still_read_first() -> None:
    interp = Interpreter()
    interp.eval(
        "(defn f [] (setv xs [] ys xs)"
        " (defn g [] (nonlocal xs) (setv xs [0]) 1)"
        " (.append xs (g)) [xs ys])"
    )
    assert interp.eval("(f)") == [[0], [1]]
    interp.eval("(defn h [] (setv xs [] ys xs) (.append xs (do (setv xs [0]) 1)) [xs ys])")
    assert interp.eval("(h)") == [[0], [1]]
    assert "_o_o" in _source_of("(defn f [] (setv xs []) (defn g [] (nonlocal xs) 1) (.append xs (g)))", "f")


def test_an_empty_set_from_set_is_a_known_set() -> None:
    source = "(defn f [n] (setv s (set)) (for [i (range n)] (.add s (% i 7))) (sorted s))"
    code = _source_of(source, "f")
    assert "_o_type(s)" not in code and "_o_len(s) < _o_maxlen" in code, code
    interp = Interpreter()
    interp.eval(source)
    assert interp.call("f", 20) == list(range(7))
    big = "(defn g [] (setv s (set) i 0) (while True (.add s i) (+= i 1)))"
    interp = Interpreter(limits=Limits(max_size=500))
    interp.eval(big)
    with pytest.raises(LimitExceeded) as info:
        interp.call("g")
    assert info.value.limit == "size"
    # A rebound `set` makes the fact wrong: the inline `set.add` refuses the value.
    interp = Interpreter()
    interp.eval("(setv set list) (defn h [] (setv s (set)) (.add s 1) s)")
    with pytest.raises(ProgramError, match="TypeError"):
        interp.eval("(h)")
    assert "_o_type(s)" in _source_of("(defn f [] (setv set list) (setv s (set)) (.add s 1))", "f")


@pytest.mark.parametrize(
    ("x", "expected"),
    [("6", "42"), ("-6", "-42"), ("1.5", "10.5"), ("True", "7"), ('"ab"', "ab" * 7),
     ("(** 2 70)", str(2**70 * 7)), ("(hy.models.Integer 3)", "21"), ("(- (** 2 61) 1)", str((2**61 - 1) * 7))],
)
def test_str_of_a_product_with_an_int_literal(x: str, expected: str) -> None:
    """`(str (* x 7))` takes the product's own test: inline for small ints and floats,
    `str` of the checked product otherwise, with the same values."""
    interp = Interpreter()
    interp.eval(f"(setv x {x}) (defn f [x] (str (* x 7)))")
    assert interp.eval("(str (* x 7))") == expected
    assert interp.eval("(f x)") == expected


def test_str_of_a_product_keeps_the_int_bits_limit_and_a_shadowed_str() -> None:
    assert limit_of("(setv x (** 2 99)) (str (* x 7))", Limits(max_int_bits=100)) == "int_bits"
    assert Interpreter().eval("(setv x (** 2 4094)) (str (* x 7))") == str(2**4094 * 7)
    interp = Interpreter()
    interp.define("str", lambda x: ["mine", x])
    assert interp.eval("(setv x 3) [(str (* x 7)) (str (* 2.0 x))]") == [["mine", 21], ["mine", 6.0]]
    # An operand that rebinds `str` runs after the callee was read, as in Python.
    interp = Interpreter()
    interp.eval('(defn g [x] (global str) (setv str (fn [v] "shadow")) x) (defn f [x] (str (* (g x) 7)))')
    assert interp.eval("[(f 3) (f 3)]") == ["21", "shadow"]
    code = _source_of("(defn f [x] (str (* x 7)))", "f")
    assert "_o_str(x * 7)" in code and "str(_o_mul(x, 7))" in code, code


def test_a_discarded_growth_call_is_a_statement() -> None:
    """`(.append xs x)` as a statement: `_o_xN = x` and an `if` on the size and the step,
    the same evaluation as the conditional expression (kept where the value is used)."""
    source = "(defn f [n] (setv xs []) (for [i (range n)] (.append xs (str i))) [xs (.append xs 0)])"
    code = _source_of(source, "f")
    assert "if _o_len(xs) < _o_maxlen and (not _o_next(_o_ticker)):" in code, code
    assert "_o_append(xs, 0) if _o_len(xs) < _o_maxlen" in code, code
    interp = Interpreter()
    interp.eval(source)
    assert interp.call("f", 3) == [["0", "1", "2", 0], None]
    interp = Interpreter(limits=Limits(max_size=100))
    interp.eval("(defn g [] (setv s (set) i 0) (while True (.add s (str i)) (+= i 1)))")
    with pytest.raises(LimitExceeded) as info:
        interp.call("g")
    assert info.value.limit == "size"


def _fewest_steps(interp: Interpreter, source: str) -> int:
    """The smallest step limit under which `source` runs (a binary search)."""
    low, high = 1, 1 << 20
    while low < high:
        mid = (low + high) // 2
        try:
            interp.eval(source, limits=Limits(steps=mid))
        except LimitExceeded as exc:
            assert exc.limit == "steps"
            low = mid + 1
            continue
        high = mid
    return low


def test_a_scalar_test_is_reused_for_the_same_variable() -> None:
    source = "(defn f [ws] (setv counts {}) (for [w ws] (setv (get counts w) (+ (.get counts w 0) 1))) counts)"
    code = _source_of(source, "f")
    assert code.count("_o_type(w)") == 1 and re.search(r"w if _o_f\d+ else _o_key\(w\)", code), code
    interp = Interpreter()
    interp.eval(source)
    assert interp.call("f", ["a", 1, "a", (1, 2), (1, 2), 2.5]) == {"a": 2, 1: 1, (1, 2): 2, 2.5: 1}


def test_a_reused_scalar_test_still_charges_each_hash_of_a_tuple(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key that is not a flat scalar goes through `_o_key` at every use, as before:
    with the reuse, the same steps as without it, and the same size refusal."""
    from o_lisp import _compiler

    source = (
        "(setv K (tuple (gfor i (range 3000) #(i #(i)))))"
        "(defn f [k] (setv d {}) (for [_ (range 3)] (setv (get d k) (+ (.get d k 0) 1))) d)"
    )
    assert re.search(r"_o_f\d", _source_of(source, "f"))
    reused = Interpreter()
    reused.eval(source)
    monkeypatch.setattr(_compiler._ScalarTestReuse, "run", lambda self: None)
    assert not re.search(r"_o_f\d", _source_of(source, "f"))
    plain = Interpreter()
    plain.eval(source)
    assert reused.eval("(f K)") == plain.eval("(f K)") == {reused.lookup("K"): 3}
    steps = _fewest_steps(plain, "(f K)")
    assert _fewest_steps(reused, "(f K)") == steps > 6 * 9000
    for interp in (reused, plain):
        with pytest.raises(LimitExceeded) as info:
            interp.eval("(f K)", limits=Limits(max_size=5000))
        assert info.value.limit == "size"


@pytest.mark.parametrize(
    "body",
    [
        "(setv (get d w) 1) (setv w #(1 2)) (setv (get d w) 2)",
        "(setv (get d w) 1) (setv (get d (setx w #(1 2))) 2)",
        "(setv (get d w) 1) (for [w [#(1 2)]] (setv (get d w) 2))",
        "(when c (setv (get d w) 1)) (setv (get d w) 2)",
        "(setv (get d w) (do (when c (setv (get d w) 1)) 2))",
        "(try (when c (raise (ValueError))) (setv (get d w) 1) (except [ValueError] None)) (setv (get d w) 2)",
    ],
)
def test_a_scalar_test_is_not_reused_across_a_rebinding_or_a_branch(body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rebound, or first tested where it may not have run: the later test is its own,
    and the results are those of the code without any reuse."""
    from o_lisp import _compiler

    source = f"(defn f [w c] (setv d {{}}) {body} d)"
    calls = ['(f "a" True)', '(f "a" False)', "(f #(1 #(2)) True)", "(f #(1 #(2)) False)"]
    interp = Interpreter()
    interp.eval(source)
    got = [interp.eval(call) for call in calls]
    monkeypatch.setattr(_compiler._ScalarTestReuse, "run", lambda self: None)
    plain = Interpreter()
    plain.eval(source)
    assert got == [plain.eval(call) for call in calls]
