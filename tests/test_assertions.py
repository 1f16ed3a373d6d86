"""A failing `assert` says what failed and with which values (`o_lisp._assertions`), in plain
evaluation, deftests, rewrite rejections and evolution reasons alike; the message stays
bounded whatever the values."""

from __future__ import annotations

from pathlib import Path

import pytest

from o_lisp import Interpreter, LimitExceeded, Limits, ProgramError, read
from o_lisp._assertions import SOURCE_CHARS, VALUE_CHARS
from o_lisp.agent._agent import Agent
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.evolution._validate import ValidationThresholds, validate

BITCOUNT = "(defn bitcount [n] (- (len (bin n)) 3))\n"


def failure(source: str, limits: Limits | None = None) -> str:
    """The message of the AssertionError that `source` raises."""
    with pytest.raises(ProgramError) as caught:
        Interpreter(limits=limits).eval(source)
    assert caught.value.type_name == "AssertionError"
    return str(caught.value.exception)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("(= (bitcount 127) 7)", "(= (bitcount 127) 7): 6 != 7"),
        ("(!= (bitcount 7) 2)", "(!= (bitcount 7) 2): 2 == 2"),
        ("(< 3 (bitcount 1))", "(< 3 (bitcount 1)): 3 >= 0"),
        ("(<= 3 2)", "(<= 3 2): 3 > 2"),
        ("(> 1 2)", "(> 1 2): 1 <= 2"),
        ("(>= 1 2)", "(>= 1 2): 1 < 2"),
        ("(is None 0)", "(is None 0): None is not 0"),
        ("(is-not None None)", "(is-not None None): None is None"),
        ('(in "z" "abc")', '(in "z" "abc"): "z" not in "abc"'),
        ("(not-in 2 [1 2])", "(not-in 2 [1 2]): 2 in [1 2]"),
        ("(< 1 (bitcount 127) 5)", "(< 1 (bitcount 127) 5): 6 >= 5"),
        ('(= {"a" [1 2]} {"a" [1]})', '(= {"a" [1 2]} {"a" [1]}): {"a" [1 2]} != {"a" [1]}'),
        ("(isinstance (bitcount 7) str)", "(isinstance (bitcount 7) str): False"),
        ("(get [0] 0)", "(get [0] 0): 0"),
        ("(and (> 1 0) [])", "(and (> 1 0) []): []"),
        ("False", "False"),
        ("None", "None"),
    ],
)
def test_the_message_shows_the_expression_and_the_values(condition: str, message: str) -> None:
    assert failure(f"{BITCOUNT}(assert {condition})") == message


def test_a_message_given_is_used_unchanged_like_hy() -> None:
    assert failure('(assert (= 1 2) "one is not two")') == "one is not two"
    assert Interpreter().eval('(assert (= 1 1) (do (setv x 1) (raise (ValueError "evaluated"))))') is None
    assert failure('(assert (= 1 2) (do (setv x "computed") (+ x " on failure")))') == "computed on failure"


def test_passing_asserts_are_silent_and_return_none() -> None:
    assert Interpreter().eval(f"{BITCOUNT}(assert (= (bitcount 7) 2)) (assert (< 1 2 3)) (assert [1])") is None


def test_operands_are_evaluated_once_each_in_order_and_a_chain_stops_at_the_first_failure() -> None:
    interp = Interpreter()
    interp.eval("(setv calls []) (defn f [x] (.append calls x) x)")
    with pytest.raises(ProgramError) as caught:
        interp.eval("(assert (< (f 5) (f 1) (f 9)))")
    assert str(caught.value.exception) == "(< (f 5) (f 1) (f 9)): 5 >= 1"
    assert interp.eval("calls") == [5, 1]
    interp.eval("(.clear calls) (assert (< (f 1) (f 2) (f 3)))")
    assert interp.eval("calls") == [1, 2, 3]


def test_a_comparison_redefined_as_a_macro_is_reported_as_a_plain_condition() -> None:
    source = "(defmacro = [a b] `(is ~a ~b)) (assert (= 1 2))"
    assert failure(source) == "(= 1 2): False"


def test_unpacked_operands_are_reported_as_a_plain_condition() -> None:
    assert failure("(assert (< #* [3 2]))") == "(< #* [3 2]): False"


def test_the_position_is_the_assert_form() -> None:
    with pytest.raises(ProgramError) as caught:
        Interpreter().eval(f"{BITCOUNT}(do\n  (assert (= (bitcount 127) 7)))", filename="t.hy")
    assert str(caught.value) == "t.hy:3:3: AssertionError: (= (bitcount 127) 7): 6 != 7"


# -- bounded messages ------------------------------------------------------------------------


def test_long_values_are_cut() -> None:
    message = failure('(assert (= (* "a" 1000) "b"))')
    assert message == '(= (* "a" 1000) "b"): "' + "a" * (VALUE_CHARS - 5) + '..." != "b"'
    message = failure("(assert (= (list (range 100000)) []))")
    shown = message.removeprefix("(= (list (range 100000)) []): ").removesuffix(" != []")
    assert shown.startswith("[0 1 2 3 ") and shown.endswith(" ...]") and len(shown) <= VALUE_CHARS


def test_a_huge_number_shows_its_size() -> None:
    assert failure("(assert (= (** 10 5000) 1))") == "(= (** 10 5000) 1): <int of 16610 bits> != 1"


def test_values_never_print_past_the_size_limit() -> None:
    limits = Limits(max_size=10)
    assert failure("(assert (= (list (range 5)) 5))", limits) == "(= (list (range 5)) 5): [0 1 ...] != 5"
    assert failure('(assert (= "abcdefghijklmnop" 5))', limits) == '(= "abcdefghijklmnop" 5): "abcde..." != 5'


def test_a_long_expression_is_cut() -> None:
    source = "(assert (= [" + " ".join(["1"] * 300) + "] []))"
    message = failure(source)
    expression, _, values = message.rpartition(": ")
    assert len(expression) == SOURCE_CHARS and expression.endswith("...")
    assert values.endswith(" != []")


def test_building_the_message_is_charged_to_the_step_budget() -> None:
    """Printing the values costs a step per character: with almost no steps left the
    evaluation stops on the step limit rather than printing."""
    with pytest.raises(LimitExceeded) as caught:
        Interpreter(limits=Limits(steps=50)).eval("(assert (= (* \"a\" 1000) \"b\"))")
    assert caught.value.limit == "steps"


# -- where assertion messages show up --------------------------------------------------------

SQUARE = """\
(defagent squarer
  :version "1.0.0"
  (defn square [x] (* x x))
  (deftest squares (assert (= (square 3) 9))))
"""


@pytest.fixture
def squarer(tmp_path: Path) -> Agent:
    seed = tmp_path / "squarer.hy"
    seed.write_text(SQUARE)
    return Agent.load(seed, tmp_path / "data")


def test_a_failing_deftest_reports_the_values(squarer: Agent) -> None:
    squarer._define(Definition("square", DefinitionKind.FUNCTION, "(defn square [x] (+ x x))"), "<square>")
    report = squarer.run_tests()
    assert report.failed == {"squares": f"{squarer.spec.filename}:4:20: "
                                        "AssertionError: (= (square 3) 9): 6 != 9"}


def test_a_rejected_rewrite_reports_the_values(squarer: Agent) -> None:
    result = squarer.rewrite("square", read("(defn square [x] (** x 1))"), reason="wrong")
    assert not result.accepted
    assert result.failures == ["test squares failed: <squarer/defs/squares.hy>:1:18: "
                               "AssertionError: (= (square 3) 9): 3 != 9"]


def test_an_evolution_rejection_reports_the_values(squarer: Agent) -> None:
    candidate = Definition("square", DefinitionKind.FUNCTION, "(defn square [x] (** x 1))")
    report = validate(squarer, candidate, ValidationThresholds(runs=3, warmup=0))
    assert (report.ok, report.stage) == (False, "tests")
    assert report.reason.startswith("test squares failed: ")
    assert report.reason.endswith("AssertionError: (= (square 3) 9): 3 != 9")
