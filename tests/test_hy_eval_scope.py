"""`(hy.eval form)` inside a function sees the function's variables (as Hy's does),
without letting the form reach the runtime's own names; `do-mac`; Hy's one-argument
comparisons."""

from __future__ import annotations

import pytest

from o_lisp import Interpreter, LimitExceeded, Limits, LispError


def test_hy_eval_in_a_function_reads_its_arguments_and_locals() -> None:
    interp = Interpreter()
    assert interp.eval("(defn f [a] (setv b 2) (hy.eval '(+ a b))) (f 40)") == 42


def test_assignments_of_the_form_stay_in_the_copy_of_the_locals() -> None:
    interp = Interpreter()
    source = "(defn f [] (setv x 1) (hy.eval '(setv x 5 y 6)) [x (hy.eval '(do (setv z 7) z))]) (f)"
    assert interp.eval(source) == [1, 7]
    with pytest.raises(LispError, match="NameError: name 'y' is not defined"):
        interp.eval("y")


def test_at_top_level_and_through_another_name_hy_eval_runs_at_top_level() -> None:
    interp = Interpreter()
    interp.eval("(defn g [] (setv run hy.eval) (run '(setv defined-at-top 3)))")
    interp.eval("(g)")
    assert interp.eval("defined-at-top") == 3
    interp.eval("(hy.eval '(setv also-top 4))")
    assert interp.eval("also-top") == 4


def test_the_form_never_sees_the_runtimes_temporaries() -> None:
    """The function's compiled temporaries (`_o_...`) are dropped from the copy: a form
    can neither read them nor have them shadow the helpers its own code calls."""
    interp = Interpreter()
    source = """
    (defn f [d w]
      (setv (get d w) (+ (.get d w 0) 1))
      (hy.eval '(do (for [i (range 3)] (setv (get d w) (+ (get d w) 1))) (get d w))))
    (f {} "k")"""
    assert interp.eval(source) == 4


def test_budgets_hold_inside_a_form_evaluated_with_locals() -> None:
    interp = Interpreter(limits=Limits(steps=10_000))
    with pytest.raises(LimitExceeded) as caught:
        interp.eval("(defn f [n] (hy.eval '(while True (setv n (+ n 1))))) (f 0)")
    assert caught.value.limit == "steps"


def test_do_mac_runs_its_body_at_expansion_time_and_compiles_the_value() -> None:
    interp = Interpreter()
    source = """
    (do-mac `(do ~@(lfor i (range 3) `(setv ~(hy.models.Symbol (+ "v" (str i))) ~(* i i)))))
    [v0 v1 v2 (do-mac (+ 1 2))]"""
    assert interp.eval(source) == [0, 1, 4, 3]


def test_a_one_argument_comparison_is_true_without_evaluating_its_expression() -> None:
    interp = Interpreter()
    assert interp.eval("(setv calls []) [(= (.append calls 1)) (< (.append calls 2)) calls]") == [True, True, []]
    # the argument is still compiled: a refused form in it is refused
    with pytest.raises(LispError, match="attribute access"):
        interp.eval("(= (. calls x))")
