"""SEARCH/REPLACE edits: parsing, exact and indentation-tolerant application, and the
refusals (missing, ambiguous, empty, unclosed) that keep a bad edit from producing a
half-changed definition."""

from __future__ import annotations

import random

import pytest

from o_lisp import read
from o_lisp.agent._definitions import Definition
from o_lisp.agent._dsl import classify
from o_lisp.evolution._edits import (
    Edit,
    EditError,
    apply_edits,
    has_edits,
    parse_edits,
    strip_edits,
)
from o_lisp.evolution._generators import (
    GenerationContext,
    LLMGenerator,
    extract_edits,
    extract_snippets,
)

SQUARE = "(defn square [x]\n  ; busy work\n  (for [i (range 0 20000 1)] i)\n  (** x 2))"


def _block(search: str, replace: str) -> str:
    def line(text: str) -> str:
        return text if not text or text.endswith("\n") else text + "\n"

    return f"<<<<<<< SEARCH\n{line(search)}=======\n{line(replace)}>>>>>>> REPLACE\n"


def test_parse_and_apply_an_exact_edit_keeping_comments() -> None:
    text = _block("  (for [i (range 0 20000 1)] i)\n", "")
    assert has_edits(text)
    [edit] = parse_edits(text)
    assert edit == Edit("  (for [i (range 0 20000 1)] i)\n", "")
    assert apply_edits(SQUARE, [edit]) == "(defn square [x]\n  ; busy work\n  (** x 2))"


def test_edits_apply_in_order_each_to_the_previous_result() -> None:
    edits = parse_edits(_block("(** x 2)", "(* x x)\n") + "\n" + _block("(* x x)", "(* x x 1)\n"))
    assert len(edits) == 2
    assert apply_edits(SQUARE, edits).endswith("(* x x 1))")


def test_a_reindented_search_matches_and_the_replacement_follows_the_source_indent() -> None:
    edit = Edit("(for [i (range 0 20000 1)] i)\n(** x 2))\n", "(let [y x]\n  (* y y)))\n")
    assert apply_edits(SQUARE, [edit]) == "(defn square [x]\n  ; busy work\n  (let [y x]\n    (* y y)))"


@pytest.mark.parametrize(("source", "edit", "message"), [
    (SQUARE, Edit("(range 0 99 1)", "x"), "edit 1: the SEARCH text is not in the definition (first line: '(range 0 99 1)')"),
    ("(defn f [x] (+ x 1) (+ x 1))", Edit("(+ x 1)", "x"), "edit 1: the SEARCH text occurs 2 times"),
    (SQUARE, Edit("  \n", "x"), "edit 1: the SEARCH text is empty"),
])
def test_bad_edits_are_refused_naming_the_edit(source: str, edit: Edit, message: str) -> None:
    with pytest.raises(EditError, match=message.replace("(", r"\(").replace(")", r"\)")):
        apply_edits(source, [edit])


def test_an_unclosed_block_is_refused_rather_than_half_applied() -> None:
    with pytest.raises(EditError, match="not closed"):
        parse_edits(_block("a\n", "b\n") + "<<<<<<< SEARCH\n(** x 2)\n=======\n(* x")


def test_reply_splitting_keeps_code_and_edits_apart() -> None:
    reply = ("Two options.\n```hy\n" + _block("(** x 2)", "(* x x)\n") + "```\n```hy\n(defn square [x] (* x x x))\n```\n"
             + _block("(** x 2)", "(pow x 2)\n"))
    assert extract_edits(reply)[0] == _block("(** x 2)", "(* x x)\n")
    assert "(pow x 2)" in extract_edits(reply)[1]
    assert extract_snippets(reply) == ["(defn square [x] (* x x x))\n"]
    prose = "Change it:\n" + _block("(defn square [x]\n", "(defn square [y]\n")
    assert extract_snippets(prose) == [] and strip_edits(prose) == "Change it:\n"


def _generator(reply: str) -> tuple[LLMGenerator, list[str]]:
    prompts: list[str] = []

    def complete(prompt: str) -> str:
        prompts.append(prompt)
        return reply

    return LLMGenerator(complete), prompts


def _context(source: str) -> GenerationContext:
    kind, name = classify(read(source), "<t>", None)
    return GenerationContext(Definition(name, kind, source))


def test_the_llm_generator_turns_edits_into_checked_candidates() -> None:
    reply = ("```\n" + _block("  (for [i (range 0 20000 1)] i)\n", "") + "```\n"
             "```diff\n" + _block("(** x 2)", "(* x x)") + "```\n"
             "```\n" + _block("(range 0 5 1)", "x") + "```\n"
             "```\n" + _block("(defn square [x]", "(defn cube [x]") + "```\n"
             "```\n" + _block("(** x 2))", "(** x 2)") + "```\n")
    generator, prompts = _generator(reply)
    candidates = generator.propose(_context(SQUARE), random.Random(0), 5)
    assert [(c.source, c.generator, c.operator) for c in candidates] == [
        ("(defn square [x]\n  ; busy work\n  (** x 2))", "llm", "edit"),
        ("(defn square [x]\n  ; busy work\n  (for [i (range 0 20000 1)] i)\n  (* x x))", "llm", "edit"),
    ]
    assert candidates[0].description.startswith("llm edit: ")
    errors = generator.last_errors
    assert errors[0].startswith("edits 3: edit 1: the SEARCH text is not in the definition")
    assert errors[1] == "edits 4: rejected: it defines 'cube' (defn), expected 'square' (defn)"
    assert errors[2].startswith("edits 5: the edited source is unreadable")
    assert "<<<<<<< SEARCH" in prompts[0] and ">>>>>>> REPLACE" in prompts[0]
