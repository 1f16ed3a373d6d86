"""The GP engine (o_lisp.evolution._gp) and the `deffitness :for` vocabulary it searches."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from o_lisp import Limits, LispError
from o_lisp._evalthread import run_on_deep_thread
from o_lisp.agent._agent import Agent
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.agent._dsl import read_agent
from o_lisp.evolution._gp import WORST, GPConfig, GPError, _Engine, candidates, grow, verify

CASES = "[" + " ".join(f"#({x!r} {x * x + x!r})" for x in [i / 10 - 1.0 for i in range(21)]) + "]"

REGRESSION = f"""\
(defagent reg
  :version "0.1.0"
  (setv cases {CASES})
  (defn pdiv [a b] (if (= b 0) 1.0 (/ a b)))
  (defn f [x] 0.0)
  (deffitness mse :for f :primitives [+ - * pdiv [- 1] sin cos] :terminals [x [-1.0 0.0 1.0]]
    (- (/ (sum (lfor [x y] cases :setv d (- (f x) y) (* d d))) (len cases)))))
"""


def agent_from(text: str, tmp_path: Path, limits: Limits | None = None) -> Agent:
    agent = Agent(read_agent(text, str(tmp_path / "reg.hy")), tmp_path / "data", role="scratch")
    if limits is not None:  # after loading: compiling the agent is charged too
        agent.interpreter.limits = limits
    return agent


def test_the_vocabulary_is_read_with_arities_resolved(tmp_path: Path) -> None:
    agent = agent_from(REGRESSION, tmp_path)
    space = agent.search_spaces["mse"]
    assert space.target == "f"
    assert [(p.name, p.arity) for p in space.primitives] == [
        ("+", 2), ("-", 2), ("*", 2), ("pdiv", 2), ("-", 1), ("sin", 1), ("cos", 1)]
    assert [(t.name, t.values) for t in space.terminals] == [("x", ()), (None, (-1.0, 0.0, 1.0))]
    assert agent.interpreter.call(agent.fitness["mse"]) < 0  # the task is an ordinary fitness task


def test_a_plain_deffitness_still_has_no_vocabulary(tmp_path: Path) -> None:
    agent = agent_from('(defagent a :version "0.1.0" (deffitness speed 1.5))', tmp_path)
    assert agent.search_spaces == {}
    assert agent.interpreter.call(agent.fitness["speed"]) == 1.5


BAD = [
    ("(deffitness m :for f :primitives [+] :terminals [x] :seed 3 1.0)",
     "unknown option :seed for deffitness m (known: :for, :primitives, :terminals)", ":seed"),
    ("(deffitness m :for f :primitives [+] 1.0)",
     "deffitness m: a search vocabulary needs :for :primitives :terminals together (missing :terminals)", ":for"),
    ("(deffitness m :for f :primitives [+] :terminals [x 1] 1.0)",
     "deffitness m: :terminals: a terminal is a parameter of the defn, a float constant (1.0, not 1: candidates "
     "compute over floats) or a bracketed list of floats (an ephemeral constant), not the integer 1", "1]"),
    ("(deffitness m :for f :primitives [+ [pdiv 7]] :terminals [x] 1.0)",
     "deffitness m: :primitives: write a primitive with its arity as [name n], n from 1 to 4", "[pdiv"),
    ("(deffitness m :for f :primitives [+ tan] :terminals [x] 1.0)",
     "deffitness m: primitive tan is neither a defn of this agent nor a built-in primitive "
     "(+ - * / max min sin cos exp log sqrt abs)", "tan"),
    ("(deffitness m :for f :primitives [+ [sin 2]] :terminals [x] 1.0)",
     "deffitness m: the built-in primitive sin takes 1 argument, not 2", "[sin"),
    ("(deffitness m :for f :primitives [+] :terminals [y] 1.0)",
     "deffitness m: terminal y is not a parameter of f (x)", "y]"),
    ("(deffitness m :for g :primitives [+] :terminals [x] 1.0)",
     "deffitness m: :for g must name a defn of this agent with plain parameters, (defn NAME [x ...] body)", "g "),
    ("(deffitness m :for f :primitives [+] :terminals [x])",
     "deffitness m: a body that scores f is needed", ":for"),
]


@pytest.mark.parametrize(("declaration", "message", "at"), BAD)
def test_a_bad_vocabulary_names_file_line_and_column(tmp_path: Path, declaration: str, message: str, at: str) -> None:
    column = 3 + declaration.index(at)
    text = f'(defagent a :version "0.1.0"\n  (defn f [x] x)\n  {declaration})\n'
    with pytest.raises(LispError) as info:
        agent_from(text, tmp_path)
    assert str(info.value) == f"{tmp_path / 'reg.hy'}:3:{column}: {message}"


def test_the_engine_scores_exactly_what_the_sandbox_scores(tmp_path: Path) -> None:
    agent = agent_from(REGRESSION, tmp_path)
    scored = list(candidates(agent, "mse", 80, seed=3))
    assert len({source for source, _ in scored}) > 60
    for source, fitness in scored:
        assert fitness == verify(agent, "mse", source), source


ERRORS = """\
(defagent err
  :version "0.1.0"
  (setv xs [-2.5 -1.0 -0.0 0.0 0.5 1.0 3.0 1e300])
  (defn f [x y] 0.0)
  (deffitness tolerant :for f :primitives [+ * / log sqrt exp max] :terminals [x y [2.0 -0.5]]
    (setv total 0.0)
    (for [x xs]
      (setv total (+ total (try (f x (- x 1.0)) (except [e ZeroDivisionError] -7.0) (except [e ValueError] 11.0)
                                                (except [e OverflowError] 13.0)))))
    (if (math-ok total) (- (abs total)) -1e9))
  (defn math-ok [v] (not (or (isnan v) (isinf v)))))
"""


def test_points_where_a_candidate_raises_raise_the_same_error_there(tmp_path: Path) -> None:
    """Division by (signed) zero, log/sqrt of negatives, exp overflow, inf and nan: the
    body catches each kind differently, so any difference in which point raises what
    changes the score."""
    agent = agent_from(ERRORS, tmp_path)
    scored = list(candidates(agent, "tolerant", 120, seed=7))
    assert len({fitness for _, fitness in scored}) > 20
    for source, fitness in scored:
        expected = verify(agent, "tolerant", source)
        assert fitness == expected, source


def test_a_call_of_def_costs_the_steps_the_compiled_defn_costs(tmp_path: Path) -> None:
    agent = agent_from(REGRESSION, tmp_path)
    engine = _Engine(agent, "mse", GPConfig(seed=1))

    def steps_of_engine() -> list[tuple[str, int]]:
        out = []
        for i in range(40):
            tree = engine.generate(1, 4, grow=i % 2 == 0)
            engine.score(tree)
            out.append((engine.source(tree), agent.interpreter.steps_taken()))
        return out

    checked = 0
    for source, steps in run_on_deep_thread(steps_of_engine)[1:]:  # the first one records the points
        scratch = agent.scratch(Definition("f", DefinitionKind.FUNCTION, source))
        scratch.interpreter.call(scratch.fitness["mse"])
        compiled = scratch.interpreter.steps_taken()
        if "pdiv" in source:
            assert steps >= compiled, source  # new pdiv nodes are also charged when first computed
        else:
            assert steps == compiled, source
            checked += 1
    assert checked > 5


def test_grow_finds_the_function_and_returns_an_ordinary_defn(tmp_path: Path) -> None:
    agent = agent_from(REGRESSION, tmp_path)
    result = grow(agent, "mse", GPConfig(population=100, generations=30, seed=2, target_fitness=-1e-12))
    assert result.best_fitness > -1e-12
    assert result.best_source.startswith("(defn f [x] ")
    assert verify(agent, "mse", result.best_source) == result.best_fitness
    scratch = agent.scratch(Definition("f", DefinitionKind.FUNCTION, result.best_source))
    assert math.isclose(scratch.interpreter.call("f", 0.5), 0.75)
    assert result.evaluations == result.logbook[-1].evaluations
    assert [g.gen for g in result.logbook] == list(range(result.generations + 1))


def test_a_seed_reproduces_the_run_and_the_budget_is_exact(tmp_path: Path) -> None:
    agent = agent_from(REGRESSION, tmp_path)
    config = GPConfig(population=60, generations=1000, seed=11, max_evaluations=777)
    first, second = grow(agent, "mse", config), grow(agent, "mse", config)
    assert (first.best_source, first.best_fitness, first.evaluations) == (second.best_source, second.best_fitness, 777)
    assert [g.best for g in first.logbook] == [g.best for g in second.logbook]


def test_a_task_over_its_limits_scores_worst_and_the_run_goes_on(tmp_path: Path) -> None:
    agent = agent_from(REGRESSION, tmp_path, limits=Limits(steps=30))
    result = grow(agent, "mse", GPConfig(population=20, generations=2, seed=0))
    assert result.best_fitness == WORST
    assert result.evaluations > 20


def test_limits_are_per_evaluation_even_in_a_batch(tmp_path: Path) -> None:
    """Each run of the task takes about 21 * 3 steps: under a limit of 200 steps a batch
    ends before the limit and every candidate is scored, none fails on the limit."""
    agent = agent_from(REGRESSION, tmp_path, limits=Limits(steps=200))
    engine = _Engine(agent, "mse", GPConfig(population=50, generations=6, seed=4))
    run_on_deep_thread(engine.run)
    scores = [node.fitness for node in engine.table.values() if node.fitness is not None]
    assert len(scores) == engine.evaluations > 60
    assert WORST not in scores


def test_a_task_without_a_vocabulary_is_refused(tmp_path: Path) -> None:
    agent = agent_from('(defagent a :version "0.1.0" (defn f [x] x) (deffitness speed 1.5))', tmp_path)
    with pytest.raises(GPError, match="agent a has no deffitness speed with :for/:primitives/:terminals"):
        grow(agent, "speed")


def test_the_example_agent_grows_its_f(tmp_path: Path) -> None:
    agent = Agent.load(Path(__file__).resolve().parents[2] / "agents" / "regression.hy", tmp_path / "data").scratch()
    assert agent.run_tests().passed
    result = grow(agent, "mse", GPConfig(population=100, generations=15, seed=1))
    assert result.best_fitness > -0.05
    assert verify(agent, "mse", result.best_source) == result.best_fitness


def test_a_population_that_breeds_nothing_new_stops(tmp_path: Path) -> None:
    text = REGRESSION.replace(":primitives [+ - * pdiv [- 1] sin cos] :terminals [x [-1.0 0.0 1.0]]",
                              ":primitives [[- 1]] :terminals [x]")
    agent = agent_from(text, tmp_path)
    result = grow(agent, "mse", GPConfig(population=10, generations=10_000, seed=0))
    assert result.generations < 100


def test_a_defn_primitive_returning_ints_takes_the_runtimes_guarded_operators(tmp_path: Path) -> None:
    """`(pdiv a 0.0)` is the int 1 here: sums and products of ints go through the runtime's
    `_o_add`/`_o_mul` in compiled code, and so in the engine; scores agree."""
    text = REGRESSION.replace("(if (= b 0) 1.0 (/ a b))", "(if (= b 0) 1 (/ a b))")
    agent = agent_from(text, tmp_path)
    scored = list(candidates(agent, "mse", 80, seed=5))
    for source, fitness in scored:
        assert fitness == verify(agent, "mse", source), source
    assert any("pdiv" in source and "0.0" in source for source, _ in scored)
