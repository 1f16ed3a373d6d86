"""Generators: the candidate contract, templates, the LLM edge, learning, determinism,
and offline generation that finds real improvements measured by a real interpreter."""

from __future__ import annotations

import random
from typing import Any

import msgpack
import pytest
from agent_corpus import agent_forms

from o_lisp import Interpreter, LimitExceeded, Limits, LispError, read, to_source
from o_lisp._reader import read_many
from o_lisp.agent._definitions import Definition
from o_lisp.agent._dsl import classify
from o_lisp.evolution._generators import (
    Candidate,
    GenerationContext,
    GeneratorStats,
    LLMGenerator,
    MutationGenerator,
    TemplateError,
    TemplateGenerator,
    extract_snippets,
    generate,
    match,
    parse_templates,
    substitute,
    updated,
)

AGENT_FORMS = agent_forms()


def _definition(source: str) -> Definition:
    form = read(source)
    kind, name = classify(form, "<t>", None)
    return Definition(name, kind, source)


def _context(source: str, **kw: Any) -> GenerationContext:
    return GenerationContext(_definition(source), **kw)


def _assert_contract(context: GenerationContext, candidates: list[Candidate]) -> None:
    parent = read(context.target.source)
    seen = set()
    for c in candidates:
        forms = read_many(c.source)
        assert len(forms) == 1 and forms[0] != parent
        assert classify(forms[0], "<t>", None) == classify(parent, "<t>", None)
        assert c.name == context.target.name and c.parent_source == context.target.source
        assert to_source(forms[0]) not in seen
        seen.add(to_source(forms[0]))


# -- the contract over the shipped agents ----------------------------------------------------------


@pytest.mark.parametrize("which", range(len(AGENT_FORMS)), ids=[name for name, _, _ in AGENT_FORMS])
def test_generated_candidates_of_every_agent_definition_keep_the_contract(which: int) -> None:
    _, form, others = AGENT_FORMS[which]
    context = GenerationContext(
        _definition(to_source(form)), others=tuple(_definition(to_source(o)) for o in others)
    )
    candidates = generate(context, [MutationGenerator(), TemplateGenerator()], random.Random(which), 8)
    _assert_contract(context, candidates)
    assert len(candidates) <= 8


def test_generation_is_deterministic_given_the_seed() -> None:
    _, form, others = next(x for x in AGENT_FORMS if x[0] == "assistant/question")
    context = GenerationContext(_definition(to_source(form)), others=tuple(_definition(to_source(o)) for o in others))

    def run(seed: int) -> list[Candidate]:
        return generate(context, [MutationGenerator(), TemplateGenerator()], random.Random(seed), 6)

    assert run(3) == run(3)
    assert len(run(3)) == 6
    assert run(3) != run(4)


def test_generate_deduplicates_across_generators_and_never_returns_the_parent() -> None:
    context = _context("(defn f [] 1)")

    class Fixed:
        def __init__(self, name: str, sources: list[str]) -> None:
            self.name = name
            self.sources = sources

        def propose(self, context: GenerationContext, rng: random.Random, n: int) -> list[Candidate]:
            return [Candidate("f", s, self.name, "", "", context.target.source) for s in self.sources]

    out = generate(
        context,
        [Fixed("a", ["(defn f [] 2)", "(defn f []\n  1)"]), Fixed("b", ["(defn  f [] 2)", "(defn f [] 3)"])],
        random.Random(0),
        10,
    )
    assert sorted(to_source(read(c.source)) for c in out) == ["(defn f [] 2)", "(defn f [] 3)"]
    assert generate(context, [], random.Random(0), 3) == []


def test_mutation_generator_describes_the_change() -> None:
    context = _context("(defn limit [] 10)")
    candidates = MutationGenerator(max_mutations=1).propose(context, random.Random(0), 4)
    assert {c.source for c in candidates} == {
        "(defn limit [] 8)",
        "(defn limit [] 9)",
        "(defn limit [] 11)",
        "(defn limit [] 12)",
    }
    by_source = {c.source: c for c in candidates}
    assert by_source["(defn limit [] 11)"].description == "mutation perturb-constant: 10 → 11"
    assert by_source["(defn limit [] 11)"].operator == "perturb-constant"
    assert by_source["(defn limit [] 11)"].generator == "mutation"


def test_a_generator_with_nothing_to_offer_returns_nothing() -> None:
    assert MutationGenerator().propose(_context("(defn f [])"), random.Random(0), 5) == []
    assert TemplateGenerator().propose(_context("(defn plain [x] (* x 2))"), random.Random(0), 5) == []
    assert MutationGenerator().propose(_context("(defn f [] 1)"), random.Random(0), 0) == []


# -- templates -------------------------------------------------------------------------------------

TEMPLATE_CASES = {
    "min-of-sorted": ("(defn lo [xs] (get (sorted xs) 0))", "(defn lo [xs] (min xs))"),
    "max-of-sorted": ("(defn hi [xs] (get (sorted xs) -1))", "(defn hi [xs] (max xs))"),
    "lfor-append-loop": (
        "(defn sq [xs] (setv out []) (for [x xs] (.append out (* x x))) out)",
        "(defn sq [xs] (setv out (lfor x xs (* x x))) out)",
    ),
    "lfor-filter-loop": (
        '(defn evens [xs] "Even items." (setv out []) (for [x xs] (when (= 0 (% x 2)) (.append out x))) out)',
        '(defn evens [xs] "Even items." (setv out (lfor x xs :if (= 0 (% x 2)) x)) out)',
    ),
    "lower-once": (
        '(when-> :name greet (or (in "hello" (.lower msg)) (.startswith (.lower msg) "hi")) "Hi!")',
        '(when-> :name greet (let [lowered (.lower msg)] (or (in "hello" lowered) (.startswith lowered "hi"))) "Hi!")',
    ),
    "join-concatenation": (
        '(defn line [n] (+ "I have " (str n) " notes."))',
        '(defn line [n] (.join "" ["I have " (str n) " notes."]))',
    ),
    "in-keys": ("(defn has [d k] (in k (.keys d)))", "(defn has [d k] (in k d))"),
    "memory-hybrid-weights": (
        '(defmemory notes :dim 384 :weights {"vector" 0.1 "keyword" 0.1 "recency" 0.4 "importance" 0.4})',
        '(defmemory notes :dim 384 :weights {"vector" 0.6 "keyword" 0.3 "recency" 0.05 "importance" 0.05})',
    ),
    "memory-add-weights": (
        "(defmemory notes :dim 384)",
        '(defmemory notes :dim 384 :weights {"vector" 0.6 "keyword" 0.3 "recency" 0.05 "importance" 0.05})',
    ),
}


def test_every_stdlib_template_has_a_case() -> None:
    assert [t.name for t in TemplateGenerator().templates] == list(TEMPLATE_CASES)


@pytest.mark.parametrize("name", list(TEMPLATE_CASES))
def test_each_template_rewrites_its_crafted_definition_exactly(name: str) -> None:
    source, expected = TEMPLATE_CASES[name]
    context = _context(source)
    candidates = TemplateGenerator().propose(context, random.Random(0), 10)
    _assert_contract(context, candidates)
    mine = [c for c in candidates if c.operator == f"template:{name}"]
    assert len(mine) == 1
    assert mine[0].source == to_source(read(expected))
    assert mine[0].generator == "template"
    assert mine[0].description.startswith(f"template {name}: ")


def test_lower_once_does_not_capture_a_name_in_use() -> None:
    source = '(when-> :name g (or (in lowered (.lower msg)) (in "x" (.lower msg))) "y")'
    assert TemplateGenerator().propose(_context(source), random.Random(0), 5) == []


def test_memory_weights_template_leaves_the_documented_balance_alone() -> None:
    _, expected = TEMPLATE_CASES["memory-hybrid-weights"]
    assert TemplateGenerator().propose(_context(expected), random.Random(0), 5) == []


def test_pattern_language() -> None:
    assert match(read("(f ?x ?x)"), read("(f 1 1)")) == {"?x": read("1")}
    assert match(read("(f ?x ?x)"), read("(f 1 2)")) is None
    assert match(read("(f ?_ ?_)"), read("(f 1 2)")) == {}
    assert match(read("[?x]"), read("(1)")) is None  # [] and () differ
    assert match(read("(f 1)"), read("(f 1.0)")) is None
    found = match(read("(?@a (g ?y) ?@b)"), read("(f 1 (g 2) 3 4)"))
    assert found == {"?@a": (read("f"), read("1")), "?y": read("2"), "?@b": (read("3"), read("4"))}
    assert to_source(substitute(read("(h ?@b ?y ?@a)"), found)) == "(h 3 4 2 f 1)"
    assert match(read("(f ?@xs ?@xs)"), read("(f 1 2 1 2)")) == {"?@xs": (read("1"), read("2"))}
    assert match(read("(f ?@xs ?@xs)"), read("(f 1 2 1)")) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(deftemplate t :match (f ?x) :rewrite (g ?y))", "unbound ?y"),
        ("(deftemplate t :match (f ?x) :where [(even? ?x)] :rewrite ?x)", "unknown guard even?"),
        ("(deftemplate t :match (f ?x) :when 1 :rewrite ?x)", "unknown option :when"),
        ("(deftemplate t :match (f ?x))", "needs both :match and :rewrite"),
        ("(deftemplate t :match (f ?x) :where [(string? ?z)] :rewrite ?x)", "needs a variable bound"),
        ("(defn t [] 1)", "expected (deftemplate"),
        ("(deftemplate t :match 1 :rewrite 2) (deftemplate t :match 1 :rewrite 3)", "defined twice: t"),
    ],
)
def test_malformed_templates_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace("?", r"\?")):
        parse_templates(text)


def test_templates_from_text_and_guards() -> None:
    generator = TemplateGenerator("(deftemplate double :match (+ ?x ?x) :where [(symbol? ?x)] :rewrite (* 2 ?x))")
    assert [c.source for c in generator.propose(_context("(defn f [a] (+ a a))"), random.Random(0), 3)] == [
        "(defn f [a] (* 2 a))"
    ]
    assert generator.propose(_context("(defn f [a] (+ 1 1))"), random.Random(0), 3) == []


# -- LLM -------------------------------------------------------------------------------------------

GREET = '(when-> :name greet (in "hello" (.lower msg)) "hello.")'


def _llm(reply: str | Exception) -> tuple[LLMGenerator, list[str]]:
    prompts: list[str] = []

    def complete(prompt: str) -> str:
        prompts.append(prompt)
        if isinstance(reply, Exception):
            raise reply
        return reply

    return LLMGenerator(complete), prompts


def test_llm_generator_reads_fenced_blocks_and_builds_the_prompt() -> None:
    reply = (
        "Here is a friendlier version:\n```hy\n(when-> :name greet (in \"hello\" (.lower msg))\n  \"Hello, friend!\")\n```\n"
        "And some python you should ignore:\n```python\nprint('hi')\n```\n"
    )
    generator, prompts = _llm(reply)
    others = (_definition("(defn clean [t] t)"),)
    context = GenerationContext(_definition(GREET), others=others, hypothesis="greet more warmly")
    candidates = generator.propose(context, random.Random(0), 5)
    assert [(c.source, c.generator, c.operator) for c in candidates] == [
        ('(when-> :name greet (in "hello" (.lower msg))\n  "Hello, friend!")', "llm", "")
    ]
    assert candidates[0].description == 'llm: "hello." → "Hello, friend!"'
    assert generator.last_errors == []
    (prompt,) = prompts
    assert GREET in prompt and "greet more warmly" in prompt and "clean (defn)" in prompt
    assert "(when-> :name greet CONDITION ACTION...)" in prompt and "no host" in prompt


def test_llm_generator_rejects_a_wrong_name_with_the_reason() -> None:
    generator, _ = _llm('```lisp\n(when-> :name welcome (= msg "hi") "Hi!")\n```')
    assert generator.propose(_context(GREET), random.Random(0), 3) == []
    assert generator.last_errors == ["block 1: rejected: it defines 'welcome' (when->), expected 'greet' (when->)"]


def test_llm_generator_keeps_each_failure_reason() -> None:
    generator, _ = _llm('```clojure\n(when-> :name greet "unclosed\n```\n```hy\n(defn greet [] 1)\n```\n```hy\n' + GREET + "\n```")
    assert generator.propose(_context(GREET), random.Random(0), 3) == []
    errors = generator.last_errors
    assert len(errors) == 3
    assert errors[0].startswith("block 1: unreadable:")
    assert errors[1] == "block 2: rejected: it defines 'greet' (defn), expected 'greet' (when->)"
    assert errors[2] == "block 3: rejected: it is the current definition or a duplicate"


def test_llm_generator_reads_bare_definitions_and_survives_a_failing_provider() -> None:
    reply = 'Try (when-> :name greet (in "hi" (.lower msg)) "hello.") or (when-> :name greet (in "hey" (.lower msg)) "hello.")'
    generator, _ = _llm(reply)
    generator.max_candidates = 1
    candidates = generator.propose(_context(GREET), random.Random(0), 5)
    assert [c.source for c in candidates] == ['(when-> :name greet (in "hi" (.lower msg)) "hello.")']

    failing, _ = _llm(TimeoutError("provider timed out"))
    assert failing.propose(_context(GREET), random.Random(0), 5) == []
    assert failing.last_errors == ["the completion failed: TimeoutError: provider timed out"]

    silent, _ = _llm("I cannot help with that.")
    assert silent.propose(_context(GREET), random.Random(0), 5) == []
    assert silent.last_errors == ["the reply holds no code block or definition"]


def test_extract_snippets() -> None:
    assert extract_snippets("```\n(defn a [] 1)\n```") == ["(defn a [] 1)\n"]
    assert extract_snippets('see (defn a [] ")") and (defn b [] 2); ok') == ['(defn a [] ")")', "(defn b [] 2)"]
    assert extract_snippets("(note: no code) here") == []


# -- learning --------------------------------------------------------------------------------------


def test_beta_prior_weights_exact_numbers() -> None:
    ops = ["perturb-constant", "simplify"]
    assert GeneratorStats.weights({}, "greet", "mutation", ops) == {"perturb-constant": 0.5, "simplify": 0.5}
    stats = updated({}, "greet", "mutation", "perturb-constant", "promoted")
    assert stats == {
        "by_operator": {"mutation/perturb-constant": {"tried": 1, "promoted": 1}},
        "by_target": {"greet": {"mutation/perturb-constant": {"tried": 1, "promoted": 1}}},
    }
    # (1+1)/(1+2) overall and for greet → 2/3; another target: mean of 2/3 and the prior 1/2.
    assert GeneratorStats.weights(stats, "greet", "mutation", ops) == pytest.approx({"perturb-constant": 2 / 3, "simplify": 0.5})
    assert GeneratorStats.weights(stats, "other", "mutation", ops)["perturb-constant"] == pytest.approx(7 / 12)
    stats = updated(stats, "other", "mutation", "perturb-constant", "rejected")
    stats = updated(stats, "other", "mutation", "perturb-constant", "rejected")
    # overall 2/(3+2) = 0.4; for other (0+1)/(2+2) = 0.25.
    assert GeneratorStats.weights(stats, "other", "mutation")["perturb-constant"] == pytest.approx(0.325)
    assert GeneratorStats.generator_weight(stats, "other", "mutation") == pytest.approx(0.325)
    assert GeneratorStats.generator_weight(stats, "other", "template") == 0.5


def test_updated_is_pure_msgpackable_and_credits_each_operator_of_a_chain_once() -> None:
    before: dict[str, Any] = {}
    after = updated(before, "f", "mutation", "swap-operator+simplify+swap-operator", "promoted")
    assert before == {}
    assert after["by_operator"] == {
        "mutation/swap-operator": {"tried": 1, "promoted": 1},
        "mutation/simplify": {"tried": 1, "promoted": 1},
    }
    after = GeneratorStats.record(after, Candidate("f", "", "template", "template:in-keys", "", ""), "rejected")
    after = updated(after, "f", "llm", "", "rejected")
    assert after["by_target"]["f"]["template/template:in-keys"] == {"tried": 1, "promoted": 0}
    assert after["by_operator"]["llm"] == {"tried": 1, "promoted": 0}
    assert msgpack.unpackb(msgpack.packb(after)) == after
    with pytest.raises(ValueError, match="outcome"):
        updated(after, "f", "llm", "", "maybe")  # type: ignore[arg-type]


def test_promotions_bias_later_generation_toward_the_operator() -> None:
    _, form, others = next(x for x in AGENT_FORMS if x[0] == "assistant/question")
    target = _definition(to_source(form))

    def share(stats: dict[str, Any]) -> float:
        context = GenerationContext(target, others=tuple(_definition(to_source(o)) for o in others), stats=stats)
        # `question` has only three distinct swaps, so look at the first three candidates.
        operators = [
            c.operator
            for seed in range(10)
            for c in MutationGenerator(max_mutations=1).propose(context, random.Random(seed), 3)
        ]
        return operators.count("swap-operator") / len(operators)

    stats: dict[str, Any] = {}
    for _ in range(20):
        stats = updated(stats, "question", "mutation", "swap-operator", "promoted")
        for op in ("perturb-constant", "replace-subtree", "crossover", "simplify"):
            stats = updated(stats, "question", "mutation", op, "rejected")
    assert share({}) < 0.4
    assert share(stats) > 0.7


# -- offline generation finds real improvements ------------------------------------------------------


def _steps_needed(source: str, name: str, *args: Any) -> tuple[int, Any] | None:
    """The smallest step budget under which `name` returns, and what it returns; None
    for a candidate that fails (a broken mutant) or needs more than 100,000 steps."""

    def run(steps: int) -> tuple[bool, Any]:
        interp = Interpreter(limits=Limits(steps=steps))
        try:
            interp.eval(source)
            return True, interp.call(name, *args)
        except LimitExceeded:
            return False, None

    high = 100_000
    try:
        done, value = run(high)
    except LispError:
        return None
    if not done:
        return None
    low = 1
    while low < high:
        middle = (low + high) // 2
        if run(middle)[0]:
            high = middle
        else:
            low = middle + 1
    return low, value


def test_a_template_halves_the_budget_of_a_loop_and_keeps_its_result() -> None:
    context = _context("(defn squares [xs] (setv out []) (for [x xs] (.append out (* x x))) out)")
    candidates = generate(context, [MutationGenerator(), TemplateGenerator()], random.Random(1), 8)
    data = list(range(1000))
    before_steps, before = _steps_needed(context.target.source, "squares", data)
    assert before == [x * x for x in data]
    measured = {c.operator: _steps_needed(c.source, "squares", data) for c in candidates}
    assert measured["template:lfor-append-loop"] is not None
    steps, result = measured["template:lfor-append-loop"]
    assert result == before
    assert steps < before_steps * 0.6  # one step per item instead of two
    better = [op for op, m in measured.items() if m is not None and m[1] == before and m[0] < before_steps]
    assert better == ["template:lfor-append-loop"]


def test_mutation_finds_the_fix_for_an_off_by_one() -> None:
    context = _context("(defn in-range? [x] (< 0 x 10))")  # spec: 1..10 inclusive
    cases = {x: 1 <= x <= 10 for x in range(-2, 14)}

    def passed(source: str) -> int:
        interp = Interpreter()
        interp.eval(source)
        return sum(interp.call("in-range?", x) == want for x, want in cases.items())

    candidates = MutationGenerator().propose(context, random.Random(0), 20)
    assert passed(context.target.source) == len(cases) - 1
    assert max(passed(c.source) for c in candidates) == len(cases)


def test_mutation_and_learning_climb_to_a_better_constant() -> None:
    source = "(defn score-weight [] 0.1)"

    def fitness(text: str) -> float:
        interp = Interpreter()
        interp.eval(text)
        return -((interp.call("score-weight") - 0.7) ** 2)

    rng = random.Random(2024)
    stats: dict[str, Any] = {}
    start = fitness(source)
    for _ in range(30):
        context = _context(source, stats=stats)
        candidates = generate(context, [MutationGenerator(), TemplateGenerator()], rng, 4)
        best = max(candidates, key=lambda c: fitness(c.source))
        for c in candidates:
            stats = GeneratorStats.record(stats, c, "promoted" if c is best and fitness(c.source) > fitness(source) else "rejected")
        if fitness(best.source) > fitness(source):
            source = best.source
    assert start == pytest.approx(-0.36)
    assert fitness(source) > -0.0025  # within 0.05 of the optimum
    assert stats["by_target"]["score-weight"]["mutation/perturb-constant"]["promoted"] > 0
