"""Mutation operators: every mutant of every shipped agent definition is a valid
replacement (same kind and name, prints and reads back), and each operator does
exactly what it says on small crafted definitions."""

from __future__ import annotations

import random
from typing import Any

import pytest
from agent_corpus import agent_forms
from hypothesis import given, settings
from hypothesis import strategies as st

from o_lisp import read, to_source
from o_lisp._reader import read_many
from o_lisp.agent._dsl import classify
from o_lisp.evolution._mutate import (
    HEAD,
    OPERATOR_GROUPS,
    OPERATORS,
    MutationContext,
    crossover,
    get_at,
    perturb_constant,
    replace_at,
    replace_subtree,
    same_definition,
    simplifications,
    simplify,
    sites,
    splice_at,
    subforms,
    swap_operator,
)
from o_lisp.forms import Expression, Float, Integer, Keyword, List, Symbol

AGENT_FORMS = agent_forms()


def _run(operator: Any, source: str, seeds: range = range(60), **context: Any) -> set[str]:
    """Every distinct result of `operator` on `source` over `seeds` (None left out)."""
    form = read(source)
    ctx = MutationContext.for_form(
        form,
        tuple(read(s) for s in context.get("others", ())),
        tuple(read(s) for s in context.get("ancestors", ())),
    )
    results = set()
    for seed in seeds:
        new = operator(form, random.Random(seed), ctx)
        if new is not None:
            results.add(to_source(new))
    return results


def test_the_shipped_agents_are_covered() -> None:
    names = {name for name, _, _ in AGENT_FORMS}
    assert {"assistant/notes", "greeter/greet", "pipeline/report", "assistant/clean"} <= names


@settings(max_examples=300, deadline=None)
@given(
    which=st.integers(0, len(AGENT_FORMS) - 1),
    operator=st.sampled_from(sorted(OPERATORS)),
    seed=st.integers(0, 2**32 - 1),
    ancestor=st.booleans(),
)
def test_every_mutant_of_every_agent_definition_is_a_valid_replacement(
    which: int, operator: str, seed: int, ancestor: bool
) -> None:
    _, form, others = AGENT_FORMS[which]
    # A perturbed copy of the definition serves as an ancestor version.
    ancestors: tuple[Any, ...] = ()
    if ancestor:
        older = perturb_constant(form, random.Random(seed), MutationContext.for_form(form))
        ancestors = (older,) if older is not None else ()
    ctx = MutationContext.for_form(form, others, ancestors)
    mutant = OPERATORS[operator](form, random.Random(seed), ctx)
    if mutant is None:
        return
    assert mutant != form
    assert classify(mutant, "<t>", None) == classify(form, "<t>", None)
    assert mutant[0] == form[0]
    assert read_many(to_source(mutant)) == [mutant]
    assert same_definition(form, mutant)
    # Option keywords and a rule's :name are untouched.
    assert [x for x in mutant if type(x) is Keyword] == [x for x in form if type(x) is Keyword]
    if type(form[1]) is Keyword:
        assert mutant[1:3] == form[1:3]
    else:
        assert mutant[1] == form[1]


def test_every_operator_applies_somewhere_in_the_shipped_agents() -> None:
    applied = {name: 0 for name in OPERATORS}
    for _, form, others in AGENT_FORMS:
        older = perturb_constant(form, random.Random(0), MutationContext.for_form(form))
        ctx = MutationContext.for_form(form, others, (older,) if older is not None else ())
        for name, operator in OPERATORS.items():
            for seed in range(3):
                applied[name] += operator(form, random.Random(seed), ctx) is not None
    # The shipped agents hold nothing redundant, so only simplify never applies to them.
    assert [name for name, count in applied.items() if count == 0] == ["simplify"], applied


def test_operators_are_registered_in_a_stable_order() -> None:
    assert list(OPERATORS) == ["perturb-constant", "swap-operator", "replace-subtree", "crossover", "simplify"]


# -- paths -------------------------------------------------------------------------------------


def test_subforms_are_listed_in_preorder_with_their_paths() -> None:
    form = read("(a [b 1])")
    assert [(path, to_source(sub)) for path, sub in subforms(form)] == [
        ((), "(a [b 1])"),
        ((0,), "a"),
        ((1,), "[b 1]"),
        ((1, 0), "b"),
        ((1, 1), "1"),
    ]


def test_replace_at_and_splice_at_copy_without_touching_the_original() -> None:
    form = read("(f [x 1] (g 2))")
    new = replace_at(form, (1, 1), Integer(5))
    assert to_source(new) == "(f [x 5] (g 2))"
    assert to_source(form) == "(f [x 1] (g 2))"
    assert type(get_at(new, (1,))) is List
    assert new[2] is form[2]  # untouched siblings are shared
    assert to_source(splice_at(form, (2,), [Symbol("a"), Symbol("b")])) == "(f [x 1] a b)"
    assert to_source(splice_at(form, (1,), [])) == "(f (g 2))"
    assert replace_at(form, (), Symbol("z")) == Symbol("z")
    with pytest.raises(TypeError):
        get_at(form, (0, 1))


def test_sites_never_offer_names_options_or_docstrings() -> None:
    form = read('(deftool search [query :str [k 5] :int] :doc "Search." :timeout 2 (memory-search query :k k))')
    found = {s.path: (to_source(s.form), s.role) for s in sites(form, classify(form, "t", None)[0])}
    assert found == {
        (2, 2, 1): ("5", "tunable"),
        (6,): ("2", "tunable"),
        (7,): ("(memory-search query :k k)", "free"),
        (7, 0): ("memory-search", "head"),
    }


# -- perturb-constant ----------------------------------------------------------------------------

WEIGHTS = '(defmemory notes :dim 384 :weights {"vector" 0.6 "keyword" 0.3 "recency" 0.05 "importance" 0.05})'


def _leaves(form: Any) -> list[tuple[tuple[int, ...], Any]]:
    return [(p, f) for p, f in subforms(form) if not isinstance(f, tuple)]


def test_perturbing_memory_weights_changes_exactly_one_weight_and_keeps_it_in_0_1() -> None:
    form = read(WEIGHTS)
    ctx = MutationContext.for_form(form)
    changed_paths = set()
    for seed in range(200):
        new = perturb_constant(form, random.Random(seed), ctx)
        assert new is not None
        before, after = _leaves(form), _leaves(new)
        diffs = [(p, a, b) for (p, a), (_, b) in zip(before, after, strict=True) if a != b]
        assert len(diffs) == 1
        path, old, value = diffs[0]
        assert path[:1] == (5,) and type(value) is Float  # inside the :weights map
        assert 0.0 <= float(value) <= 1.0 and value != old
        changed_paths.add(path)
    assert changed_paths == {(5, 1), (5, 3), (5, 5), (5, 7)}


def test_perturbing_a_memory_never_touches_its_dimension_or_block_size() -> None:
    assert _run(perturb_constant, "(defmemory notes :dim 384 :block-size 512 :overlap 50)") == set()


def test_perturbing_ints_moves_by_small_steps_and_keeps_them_non_negative() -> None:
    assert _run(perturb_constant, "(defn limit [] 10)") == {
        "(defn limit [] 8)",
        "(defn limit [] 9)",
        "(defn limit [] 11)",
        "(defn limit [] 12)",
    }
    assert _run(perturb_constant, "(defn zero [] 0)") == {"(defn zero [] 1)", "(defn zero [] 2)"}


def test_perturbing_floats_stays_near_and_ignores_booleans_names_and_docs() -> None:
    for text in _run(perturb_constant, "(defn w [] 2.0)", range(100)):
        value = float(read(text)[3])
        assert 1.0 <= value <= 3.0 and value != 2.0
    assert _run(perturb_constant, '(defn f1 [] "Docs 3." True)') == set()
    assert _run(perturb_constant, "(when-> :name r2 (= msg \"x\") \"y\")") == set()


# -- swap-operator ---------------------------------------------------------------------------------


def test_swap_operator_moves_within_the_comparison_group() -> None:
    assert _run(swap_operator, "(defn ok? [x] (< x 10))") == {
        "(defn ok? [x] (<= x 10))",
        "(defn ok? [x] (> x 10))",
        "(defn ok? [x] (>= x 10))",
    }


def test_swap_operator_swaps_method_heads_and_keeps_argument_rules() -> None:
    assert _run(swap_operator, '(defn c [t] (.startswith t "x"))') == {'(defn c [t] (.endswith t "x"))'}
    # `+` on a string literal is a concatenation: no `-` for it.
    assert _run(swap_operator, '(defn g [n] (+ "a" n))') == set()
    # One-argument `=` has no two-argument negation.
    assert _run(swap_operator, "(defn g [x] (= x))") == set()
    # Names that are not operators (or are only values, like `+` here) stay.
    assert _run(swap_operator, "(defn g [xs] (reduce + xs))") == set()


def test_operator_groups_do_not_overlap() -> None:
    names = [name for group in OPERATOR_GROUPS for name in group]
    assert len(names) == len(set(names))
    # `*` ↔ `/` could raise ZeroDivisionError where the product could not.
    assert not any("*" in group for group in OPERATOR_GROUPS)
    assert ("/", "//") in OPERATOR_GROUPS


# -- replace-subtree and crossover -----------------------------------------------------------------


def test_replace_subtree_uses_a_same_category_subtree_of_the_same_definition() -> None:
    assert _run(replace_subtree, "(defn f [] (g 1 2))") == {"(defn f [] (g 2 2))", "(defn f [] (g 1 1))"}
    # A string is never replaced by a number or the other way round.
    assert _run(replace_subtree, '(defn f [] (g "a" 2))') == set()


def test_crossover_takes_a_subtree_from_another_definition() -> None:
    results = _run(crossover, "(defn a [x] (+ x 1))", others=["(defn b [y] (* y 2))"])
    assert results == {"(defn a [x] (* y 2))", "(defn a [x] (+ x 2))"}


def test_crossover_with_an_ancestor_can_revert_a_part() -> None:
    assert _run(crossover, "(defn a [x] (+ x 2))", ancestors=["(defn a [x] (+ x 1))"]) == {"(defn a [x] (+ x 1))"}


def test_crossover_without_donors_is_not_applicable() -> None:
    assert _run(crossover, "(defn a [x] (+ x 2))") == set()


# -- simplify --------------------------------------------------------------------------------------


def test_simplify_if_true() -> None:
    assert _run(simplify, "(defn f [a b] (if True a b))") == {"(defn f [a b] a)"}
    assert _run(simplify, "(defn f [a b] (if False a b))") == {"(defn f [a b] b)"}


def test_simplifications_are_exactly_the_local_rules_and_dead_statements() -> None:
    form = read("(defn f [x] 1 (do (+ x 0)))")
    found = {to_source(f) for f in simplifications(form, MutationContext.for_form(form))}
    assert found == {
        "(defn f [x] 1 (+ x 0))",  # (do y) → y, and the nested do spliced into the body
        "(defn f [x] 1 (do x))",  # (+ x 0) → x
        "(defn f [x] (do (+ x 0)))",  # the unused literal statement 1 removed
    }


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('(defn f [] (str "s"))', '(defn f [] "s")'),
        ("(defn f [x] (* 1 x))", "(defn f [x] x)"),
        ("(defn f [x] (when False (g x)))", "(defn f [x] None)"),
        ("(defn f [x] (and (g x)))", "(defn f [x] (g x))"),
        ('(defn f [] "Docs." x 2)', '(defn f [] "Docs." 2)'),
        ("(when-> :name r (= msg 1) msg (g msg))", "(when-> :name r (= msg 1) (g msg))"),
        ("(defn f [xs] (for [x xs] (g x) 3))", "(defn f [xs] (for [x xs] (g x)))"),
    ],
)
def test_simplify_rules(source: str, expected: str) -> None:
    assert _run(simplify, source) == {expected}


def test_simplify_keeps_the_last_value_and_the_docstring() -> None:
    assert _run(simplify, '(defn f [] "Docs." 2)') == set()
    assert _run(simplify, "(when-> :name r (= msg 1) msg)") == set()


def test_heads_are_only_offered_to_swap_operator() -> None:
    form = read("(defn f [x] (g (h x)))")
    heads = [s for s in sites(form, classify(form, "t", None)[0]) if s.role == HEAD]
    assert [to_source(s.form) for s in heads] == ["g", "h"]
    # replace-subtree may swap whole calls, but never a head on its own.
    for text in _run(replace_subtree, "(defn f [x] (g (h x) (k 1)))"):
        assert type(read(text)[3]) is Expression


def test_no_operator_touches_a_fitness_tasks_search_vocabulary() -> None:
    """`:for f :primitives [...] :terminals [...]` say what GP may grow; only the body is code."""
    form = read("(deffitness mse :for f :primitives [+ - * [- 1]] :terminals [x [-1.0 1.0]]"
                " (do 1 (- (sum (lfor [x y] cases (* (- (f x) y) 2))))))")
    ctx = MutationContext.for_form(form)
    changed = 0
    for operator in OPERATORS.values():
        for seed in range(20):
            new = operator(form, random.Random(seed), ctx)
            if new is not None:
                changed += 1
                assert list(new[:8]) == list(form[:8]), to_source(new)
    assert changed > 20  # the body was mutated, just not the vocabulary
