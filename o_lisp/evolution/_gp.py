"""Genetic programming over o_lisp forms: grow the body of a `defn` from the vocabulary of a
`(deffitness NAME :for DEF :primitives [...] :terminals [...] BODY)` (issue 13).

The engine is Koza-style GP as DEAP's `gp` module does it (ramped half-and-half
initialisation, tournament selection, one-point subtree crossover, uniform subtree
mutation, a static height limit), plus two things DEAP does not do: the best individual
survives each generation (elitism), and a tree already scored is never scored again
(trees are hash-consed: equal subtrees are one `Node`, so an offspring equal to a known
tree *is* that tree and keeps its fitness).

**The fitness is the agent's own.** Each candidate is scored by calling the agent's
`deffitness` function through `Interpreter.call`, under the agent's limits, with DEF bound
to the candidate. Only DEF itself is not compiled by the sandbox's compiler: a candidate is
a tree of the declared primitives over floats, and its values at the points the fitness
body asks for are computed once per node, over all those points at a time (`Node.values`),
by the very functions the sandbox's compiled code calls for these operators (a float
`a + b` inline, else the runtime's `_o_add`; `sin` is the same `math.sin`; an agent `defn`
primitive is the agent's compiled function, called inside the evaluation). A call of DEF
with any other arguments is computed by walking the tree with the same functions. So the
value the body sees is the value the compiled `defn` would return, exceptions included:
a point where the candidate raises keeps the exception, and DEF raises it again there.
Each call of DEF charges the step budget what the compiled `defn` would (one step for its
entry at the call, one per agent-`defn` primitive node when the task returns). `verify`
re-scores a tree through an ordinary scratch agent and the tests compare the two.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from o_lisp._errors import LimitExceeded, LispError, SandboxViolation
from o_lisp._evalthread import run_on_deep_thread
from o_lisp._mangle import mangle
from o_lisp._printer import to_source
from o_lisp.agent._agent import Agent
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.agent._dsl import SearchSpace
from o_lisp.forms import Expression, Float, List, Symbol

WORST = -math.inf
"""The fitness of a candidate whose fitness task raised or returned no finite number."""


class GPError(Exception):
    """The agent or the request cannot be searched (no such task, no vocabulary, ...)."""


@dataclass(frozen=True)
class GPConfig:
    """The search's parameters. Population, generations, initial and mutation heights and
    the height limit are DEAP's `symbreg.py` example's; selection is stronger and there is
    more crossover than in it (tournament 3, crossover 0.5): with duplicate rejection this
    did better at the same evaluation budget on Koza-1 and Nguyen-1..8 (bench/gp.py; 60
    seeds per problem, against tournament 3 or 5 and crossover/mutation 0.5/0.1, 0.8/0.2)."""

    population: int = 300
    generations: int = 40
    crossover: float = 0.9
    mutation: float = 0.1
    tournament: int = 5
    init_min: int = 1
    init_max: int = 2
    mutation_min: int = 0
    mutation_max: int = 2
    max_height: int = 17
    elitism: int = 1
    max_evaluations: int | None = None
    seed: int = 0
    unique_initial: bool = True
    """An initial tree equal to one drawn before is drawn again (up to `novelty_retries` times)."""
    novelty_retries: int = 10
    """A varied offspring equal to a tree already scored is mutated again, up to this many
    times, until it is new (duplicate rejection; 0: keep duplicates, as DEAP does)."""
    target_fitness: float | None = None
    """Stop as soon as a candidate scores at least this (None: run the whole budget)."""


class _Raised:
    """A point where the candidate raised: DEF raises `error`'s kind again when asked there."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def again(self) -> BaseException:
        try:
            return type(self.error)(*self.error.args)
        except Exception:  # an exception class with another constructor: raise the original
            return self.error


@dataclass(frozen=True, eq=False)
class _Op:
    """A symbol of the vocabulary (compared and hashed by identity: each op is made once). `kind`: "var" (parameter `index`), "const" (`value`) or
    "prim" (`fn`, `arity`); `user` marks an agent `defn` primitive."""

    kind: str
    name: str
    arity: int = 0
    index: int = 0
    value: float = 0.0
    fn: Callable[..., Any] | None = None
    user: bool = False


class Node:
    """One hash-consed subtree; `values` (its value at each sample point) is computed once."""

    __slots__ = ("fitness", "floats", "height", "kids", "op", "size", "user_nodes", "values")

    def __init__(self, op: _Op, kids: tuple[Node, ...]) -> None:
        self.op = op
        self.kids = kids
        size, height, user = 1, 0, 1 if op.user else 0
        for kid in kids:
            size += kid.size
            user += kid.user_nodes
            if kid.height >= height:
                height = kid.height + 1
        self.size: int = size
        self.height: int = height
        self.user_nodes: int = user
        self.values: list[Any] | None = None
        self.floats = False
        self.fitness: float | None = None


@dataclass(frozen=True)
class Generation:
    """One line of the logbook (DEAP-style)."""

    gen: int
    evaluations: int
    best: float
    average: float
    size_of_best: int


@dataclass(frozen=True)
class GPResult:
    best_source: str
    best_fitness: float
    evaluations: int
    generations: int
    seconds: float
    logbook: tuple[Generation, ...] = field(default_factory=tuple)

    @property
    def evaluations_per_second(self) -> float:
        return self.evaluations / self.seconds if self.seconds > 0 else 0.0


_FLOAT_OPS: dict[tuple[str, int], Callable[..., list[float]]] = {
    ("-", 1): lambda a: [-x for x in a],
    ("+", 2): lambda a, b: [x + y for x, y in zip(a, b, strict=True)],
    ("-", 2): lambda a, b: [x - y for x, y in zip(a, b, strict=True)],
    ("*", 2): lambda a, b: [x * y for x, y in zip(a, b, strict=True)],
    ("/", 2): lambda a, b: [x / y for x, y in zip(a, b, strict=True)],
}
"""The inline float arithmetic of compiled code, over whole columns (a raise falls back)."""


def _scalar_functions(agent: Agent) -> dict[tuple[str, int], Callable[..., Any]]:
    """What compiled code does for each built-in primitive on one point: `+`/`*` inline on
    two floats else the runtime's guarded helper; `-` `/` and negation are plain Python
    operators; the named functions are the sandbox's own built-ins."""
    table = agent.interpreter.builtin_table
    add, mul = table["_o_add"], table["_o_mul"]

    def plus(a: Any, b: Any) -> Any:
        return a + b if type(a) is float and type(b) is float else add(a, b)

    def times(a: Any, b: Any) -> Any:
        return a * b if type(a) is float and type(b) is float else mul(a, b)

    def minus(a: Any, b: Any) -> Any:
        return a - b

    def divide(a: Any, b: Any) -> Any:
        return a / b

    def negate(a: Any) -> Any:
        return -a

    out: dict[tuple[str, int], Callable[..., Any]] = {
        ("+", 2): plus, ("*", 2): times, ("-", 2): minus, ("/", 2): divide, ("-", 1): negate}
    for name in ("sin", "cos", "exp", "log", "sqrt", "abs"):
        out[(name, 1)] = table[name]
    for name in ("max", "min"):
        out[(name, 2)] = table[name]
    return out


_BUDGET_ERRORS = (LimitExceeded, SandboxViolation)
_STALE_GENERATIONS = 20
"""A run ends after this many generations in a row that bred no new tree."""


class _Vocabulary:
    """The search space of one fitness task, resolved against the agent."""

    def __init__(self, agent: Agent, space: SearchSpace) -> None:
        form = agent.interpreter.forms(space.target)
        self.params = [str(p) for p in form[2]]
        scalar = _scalar_functions(agent)
        self.prims: list[_Op] = []
        for primitive in space.primitives:
            key = (primitive.name, primitive.arity)
            if key in scalar and primitive.name not in agent.definitions:
                self.prims.append(_Op("prim", primitive.name, primitive.arity, fn=scalar[key]))
            elif primitive.name in agent.definitions:
                self.prims.append(_Op("prim", primitive.name, primitive.arity,
                                      fn=agent.interpreter.lookup(primitive.name), user=True))
            else:
                raise GPError(f"{primitive.at}: {primitive.name} takes no {primitive.arity} arguments here")
        self.terminals: list[tuple[_Op | None, tuple[float, ...]]] = []
        for terminal in space.terminals:
            if terminal.name is not None:
                self.terminals.append((_Op("var", terminal.name, index=self.params.index(terminal.name)), ()))
            else:
                self.terminals.append((None, terminal.values))
        self.terminal_ratio = len(self.terminals) / (len(self.terminals) + len(self.prims))


class _Engine:
    def __init__(self, agent: Agent, fitness: str, config: GPConfig) -> None:
        space = agent.search_spaces.get(fitness)
        if space is None:
            known = ", ".join(agent.search_spaces) or "none"
            raise GPError(f"agent {agent.name} has no deffitness {fitness} with :for/:primitives/:terminals "
                          f"(with a search vocabulary: {known})")
        self.agent, self.space, self.config = agent, space, config
        self.vocabulary = _Vocabulary(agent, space)
        self.rng = random.Random(config.seed)
        self.table: dict[tuple[Any, ...], Node] = {}
        """Every node made, keyed by (op, *kids): the hash-consing table (it also keeps
        every node alive, so identities stay unique for the run)."""
        self.constants: dict[str, _Op] = {}
        self.fitness_fn = agent.fitness[fitness]
        self.samples: list[tuple[Any, ...]] | None = None
        self.index: dict[Any, int] = {}
        self.evaluations = 0
        self.budget = agent.interpreter.budget
        self.target_name = mangle(space.target)
        self.scored = 0
        self.deferred = 0

    # -- trees -------------------------------------------------------------------------
    def node(self, op: _Op, kids: tuple[Node, ...] = ()) -> Node:
        """The one node for `op` over `kids` (ops are unique objects: see `constant`)."""
        key = (op, *kids)  # ops and nodes hash by identity
        found = self.table.get(key)
        if found is None:
            found = self.table[key] = Node(op, kids)
        return found

    def constant(self, value: float) -> _Op:
        """The one op for a constant (keyed by its bits: 0.0 and -0.0 differ)."""
        found = self.constants.get(value.hex())
        if found is None:
            found = self.constants[value.hex()] = _Op("const", repr(value), value=value)
        return found

    def terminal(self) -> Node:
        op, values = self.rng.choice(self.vocabulary.terminals)
        return self.node(self.constant(self.rng.choice(values)) if op is None else op)

    def generate(self, low: int, high: int, grow: bool) -> Node:
        """DEAP's `genFull` / `genGrow`: a tree of height drawn from [low, high]."""
        height = self.rng.randint(low, high)

        def build(depth: int) -> Node:
            if depth == height or (grow and depth >= low and self.rng.random() < self.vocabulary.terminal_ratio):
                return self.terminal()
            op = self.rng.choice(self.vocabulary.prims)
            return self.node(op, tuple(build(depth + 1) for _ in range(op.arity)))

        return build(0)

    def initial(self) -> list[Node]:
        """Ramped half-and-half, each tree drawn again (up to `novelty_retries` times) while
        it equals one drawn before: the budget buys distinct trees."""
        config, seen = self.config, set()
        population: list[Node] = []
        for i in range(config.population):
            tree = self.generate(config.init_min, config.init_max, grow=i % 2 == 0)
            for _ in range(config.novelty_retries if config.unique_initial else 0):
                if id(tree) not in seen:
                    break
                tree = self.generate(config.init_min, config.init_max, grow=i % 2 == 0)
            seen.add(id(tree))
            population.append(tree)
        return population

    def locate(self, root: Node, k: int) -> tuple[Node, list[tuple[Node, int]]]:
        """The `k`-th node of `root` in preorder and the path to it (parent, child index)."""
        path: list[tuple[Node, int]] = []
        node = root
        while k:
            k -= 1
            for i, kid in enumerate(node.kids):
                if k < kid.size:
                    path.append((node, i))
                    node = kid
                    break
                k -= kid.size
        return node, path

    def replace(self, path: list[tuple[Node, int]], new: Node) -> Node:
        for parent, i in reversed(path):
            new = self.node(parent.op, parent.kids[:i] + (new,) + parent.kids[i + 1:])
        return new

    def crossover(self, a: Node, b: Node) -> tuple[Node, Node]:
        """DEAP's `cxOnePoint`: swap a random non-root subtree of each."""
        if a.size < 2 or b.size < 2:
            return a, b
        sub_a, path_a = self.locate(a, self.rng.randint(1, a.size - 1))
        sub_b, path_b = self.locate(b, self.rng.randint(1, b.size - 1))
        return self.replace(path_a, sub_b), self.replace(path_b, sub_a)

    def mutate(self, a: Node) -> Node:
        """DEAP's `mutUniform` with `genFull`: a random subtree becomes a new full tree."""
        _, path = self.locate(a, self.rng.randrange(a.size))
        return self.replace(path, self.generate(self.config.mutation_min, self.config.mutation_max, grow=False))

    def mutant(self, a: Node) -> Node:
        """`mutate` under the static height limit (DEAP's `staticLimit`: too high keeps `a`)."""
        mutant = self.mutate(a)
        return mutant if mutant.height <= self.config.max_height else a

    # -- values ----------------------------------------------------------------------------
    def fill(self, root: Node) -> None:
        """Compute `values` of every node of `root` that has none (post-order)."""
        assert self.samples is not None
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if node.values is not None:
                continue
            if not ready:
                stack.append((node, True))
                stack.extend((kid, False) for kid in node.kids if kid.values is None)
                continue
            self._compute(node)

    def _compute(self, node: Node) -> None:
        assert self.samples is not None
        op = node.op
        if op.kind == "var":  # samples hold floats only (`_key_of`)
            node.values = [s[op.index] for s in self.samples]
            node.floats = True
        elif op.kind == "const":
            node.values = [op.value] * len(self.samples)
            node.floats = True
        else:
            columns: list[list[Any]] = [k.values or [] for k in node.kids]
            fn = op.fn
            assert fn is not None
            floats = True
            for kid in node.kids:
                floats = floats and kid.floats
            if floats:
                fast = _FLOAT_OPS.get((op.name, op.arity)) if not op.user else None
                try:
                    if fast is not None:
                        node.values = fast(*columns)
                    elif op.arity == 1:
                        node.values = [fn(a) for a in columns[0]]
                    elif op.arity == 2:
                        node.values = [fn(a, b) for a, b in zip(columns[0], columns[1], strict=True)]
                    else:
                        node.values = [fn(*args) for args in zip(*columns, strict=True)]
                except _BUDGET_ERRORS:
                    raise
                except Exception:  # some point raised: redo point by point, keeping each point's error
                    node.values = None
            if node.values is None:
                node.values = [self._point(op, args) for args in zip(*columns, strict=True)]
                node.floats = all(type(v) is float for v in node.values)
            else:  # a built-in primitive on floats gives floats; an agent's defn may not
                node.floats = not op.user or all(type(v) is float for v in node.values)

    @staticmethod
    def _point(op: _Op, args: tuple[Any, ...]) -> Any:
        for a in args:  # arguments are evaluated left to right: the first raise wins
            if type(a) is _Raised:
                return a
        try:
            return op.fn(*args)  # type: ignore[misc]
        except _BUDGET_ERRORS:
            raise
        except Exception as error:
            return _Raised(error)

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """The positional arguments of a call of DEF, checked like a Python call's."""
        params = self.vocabulary.params
        if kwargs:
            args = _bind(params, args, kwargs)
        if len(args) != len(params):
            raise TypeError(f"{self.space.target}() takes {len(params)} positional arguments but {len(args)} were given")
        return args

    def settle(self) -> None:
        """Charge the steps of agent-`defn` primitives the calls of DEF owe (see `function`)."""
        owed, self.deferred = self.deferred, 0
        self.budget.charge(owed)

    def call(self, root: Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self.scalar(root, self.arguments(args, kwargs))

    def scalar(self, node: Node, args: Sequence[Any]) -> Any:
        """DEF's value at `args` by walking the tree (a point that is not a sample)."""
        op = node.op
        if op.kind == "var":
            return args[op.index]
        if op.kind == "const":
            return op.value
        return op.fn(*[self.scalar(kid, args) for kid in node.kids])  # type: ignore[misc]

    def function(self, root: Node, record: list[tuple[Any, ...]] | None = None) -> Callable[..., Any]:
        """DEF as the fitness body sees it: `root`'s value at a sample from `values`, else
        walked; each call charged like the compiled defn's entry and its defn primitives."""
        arity = len(self.vocabulary.params)
        extra = root.user_nodes
        # Called inside the evaluation: the budget's ticker is the running one. The entry's
        # step is taken at once; the primitives' steps are added up and charged when the
        # task returns (`settle`), one charge per evaluation instead of one per call.
        tick = self.budget.tick
        values, index = root.values, self.index
        engine = self

        if arity == 1 and record is None and values is not None:
            def candidate(*args: Any, **kwargs: Any) -> Any:
                tick()
                if extra:
                    engine.deferred += extra
                if len(args) == 1 and not kwargs:
                    x = args[0]
                    if type(x) is float:
                        i = index.get(x if x else _zero(x))
                        if i is not None:
                            value = values[i]
                            if type(value) is _Raised:
                                raise value.again()
                            return value
                return engine.call(root, args, kwargs)
        else:
            def candidate(*args: Any, **kwargs: Any) -> Any:
                tick()
                engine.deferred += extra
                if record is not None:
                    args = engine.arguments(args, kwargs)
                    record.append(args)
                    return engine.scalar(root, args)
                if values is not None and not kwargs and len(args) == arity:
                    i = index.get(_key_of(args))
                    if i is not None:
                        value = values[i]
                        if type(value) is _Raised:
                            raise value.again()
                        return value
                return engine.call(root, args, kwargs)

        candidate.__name__ = self.space.target
        return candidate

    # -- fitness ---------------------------------------------------------------------------
    def score(self, root: Node) -> float:
        """Run the fitness task with DEF bound to `root`: one evaluation."""
        interpreter = self.agent.interpreter
        target = self.space.target
        original = interpreter.lookup(target)
        record: list[tuple[Any, ...]] | None = [] if self.samples is None else None

        def run() -> Any:
            if record is None:
                self.fill(root)
            interpreter.define(target, self.function(root, record))
            try:
                return self.fitness_fn()
            finally:
                self.settle()

        self.evaluations += 1
        try:
            value = interpreter.call(run)
        except LispError:
            value = None
        finally:
            interpreter.define(target, original)
        score = _finite(value)
        if record is not None and score > WORST:  # the points of the first candidate scored: the samples
            self._set_samples(record)
        return score

    def _set_samples(self, calls: list[tuple[Any, ...]]) -> None:
        samples: list[tuple[Any, ...]] = []
        for args in calls:
            key = _key_of(args)
            if key is not None and key not in self.index:
                self.index[key] = len(samples)
                samples.append(args)
        self.samples = samples

    def evaluate(self, individuals: Sequence[Node]) -> None:
        """Score the individuals that have no fitness yet, within the evaluation budget."""
        pending: list[Node] = []
        queued: set[int] = set()
        for root in individuals:
            if root.fitness is None and id(root) not in queued:
                queued.add(id(root))
                if self.samples is None:  # the first scoring records the sample points
                    if not self._spent():
                        root.fitness = self.score(root)
                    continue
                pending.append(root)
        limit = self.config.max_evaluations
        if limit is not None:
            pending = pending[: max(0, limit - self.evaluations)]
        while pending:
            self.scored = 0
            try:
                self.agent.interpreter.call(self._batch, pending)
            except LispError:  # a limit hit in the batch: the candidates before it are scored
                pass
            if self.scored == 0:  # the first one hit a limit: alone, with a whole evaluation's budget
                pending[0].fitness = self.score(pending[0])
                self.scored = 1
            pending = pending[self.scored:]

    def _batch(self, roots: list[Node]) -> None:
        """Score a prefix of `roots` in one evaluation, counting them in `scored`.

        Runs inside `Interpreter.call`: every fitness run is charged to this evaluation's
        budget. The batch ends once it has used half of any step or time limit, so a
        candidate that starts in it has at least half the budget a lone evaluation has;
        one that hits a limit anyway is scored again alone (`score`), so a candidate fails
        on a limit exactly when its own evaluation would."""
        limits = self.agent.interpreter.budget.limits
        steps_cap = None if limits.steps is None else limits.steps // 2
        time_cap = None if limits.time is None else time.monotonic() + limits.time / 2
        environment = self.agent.interpreter.environment
        original = environment[self.target_name]
        fitness_fn = self.fitness_fn
        try:
            for root in roots:
                if self.scored and ((steps_cap is not None and self.budget.steps_taken() > steps_cap)
                                    or (time_cap is not None and time.monotonic() > time_cap)):
                    return
                self.fill(root)
                environment[self.target_name] = self.function(root)
                try:
                    try:
                        value = fitness_fn()
                    finally:
                        self.settle()
                except _BUDGET_ERRORS:
                    return  # the budget now refuses every step: end the batch, score it again
                except Exception:
                    value = None
                self.evaluations += 1
                root.fitness = _finite(value)
                self.scored += 1
        finally:
            environment[self.target_name] = original

    def _spent(self) -> bool:
        limit = self.config.max_evaluations
        return limit is not None and self.evaluations >= limit

    # -- the generational loop (DEAP's eaSimple + elitism + no re-scoring) -----------------
    def run(self) -> tuple[Node, list[Generation]]:
        config, rng = self.config, self.rng
        population = self.initial()
        self.evaluate(population)
        population = [p for p in population if p.fitness is not None] or population[:1]
        logbook = [self._log(0, population)]
        stale = 0
        for gen in range(1, config.generations + 1):
            if self._spent() or self._solved(population) or stale >= _STALE_GENERATIONS:
                break
            before = self.evaluations
            elite = sorted(population, key=_key, reverse=True)[: config.elitism]
            offspring = [max(rng.choices(population, k=config.tournament), key=_key) for _ in population]
            parents = list(offspring)
            for i in range(1, len(offspring), 2):
                if rng.random() < config.crossover:
                    a, b = self.crossover(offspring[i - 1], offspring[i])
                    offspring[i - 1] = a if a.height <= config.max_height else offspring[i - 1]
                    offspring[i] = b if b.height <= config.max_height else offspring[i]
            for i, child in enumerate(offspring):
                if rng.random() < config.mutation:
                    offspring[i] = self.mutant(child)
            for i, child in enumerate(offspring):
                if child.fitness is not None and child is not parents[i]:
                    # A varied child equal to a tree already scored: mutate it until new.
                    for _ in range(config.novelty_retries):
                        child = self.mutant(child)
                        if child.fitness is None:
                            break
                    offspring[i] = child
            self.evaluate(offspring)
            offspring = [o for o in offspring if o.fitness is not None]  # not scored: the budget is spent
            offspring.sort(key=_key)
            population = elite + offspring[len(elite):] if len(offspring) >= len(elite) else elite + offspring
            logbook.append(self._log(gen, population))
            stale = stale + 1 if self.evaluations == before else 0
        return max(population, key=_key), logbook

    def _solved(self, population: list[Node]) -> bool:
        goal = self.config.target_fitness
        return goal is not None and any(p.fitness is not None and p.fitness >= goal for p in population)

    def _log(self, gen: int, population: list[Node]) -> Generation:
        scores = [p.fitness for p in population if p.fitness is not None and p.fitness > WORST]
        best = max(population, key=_key)
        return Generation(gen, self.evaluations, best.fitness if best.fitness is not None else WORST,
                          sum(scores) / len(scores) if scores else WORST, best.size)

    # -- back to source --------------------------------------------------------------------
    def form(self, node: Node) -> Any:
        op = node.op
        if op.kind == "var":
            return Symbol(op.name)
        if op.kind == "const":
            return Float(op.value)
        return Expression([Symbol(op.name), *(self.form(kid) for kid in node.kids)])

    def source(self, root: Node) -> str:
        """The `defn` of DEF with `root` as its body: an ordinary definition of the agent."""
        params = List([Symbol(p) for p in self.vocabulary.params])
        return to_source(Expression([Symbol("defn"), Symbol(self.space.target), params, self.form(root)]))


def _finite(value: Any) -> float:
    """A fitness task's value as a score: a finite number, else `WORST` (bools are no numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return WORST
    return float(value)


def _key(node: Node) -> float:
    return node.fitness if node.fitness is not None else WORST


def _zero(x: float) -> tuple[float, float]:
    """The key of a zero: 0.0 == -0.0 as dict keys, but not as arguments."""
    return (x, math.copysign(1.0, x))


def _key_of(args: tuple[Any, ...]) -> Any:
    """The sample key of a call's arguments (floats only: 1 == 1.0 as keys), or None."""
    if not all(type(a) is float for a in args):
        return None
    keys = tuple(a if a else _zero(a) for a in args)
    return keys[0] if len(keys) == 1 else keys


def _bind(params: list[str], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    names = [mangle(p) for p in params]
    values = list(args) + [None] * (len(params) - len(args))
    for key, value in kwargs.items():
        if key not in names:
            raise TypeError(f"unexpected keyword argument {key!r}")
        values[names.index(key)] = value
    return tuple(values)


def grow(agent: Agent, fitness: str, config: GPConfig | None = None) -> GPResult:
    """Search the vocabulary of `agent`'s `deffitness fitness` for the best body of its DEF.

    `agent` should be a scratch copy: the fitness task runs on it (its state may change).
    Returns the best tree as the source of an ordinary `defn`, its fitness and the count
    of evaluations (runs of the fitness task). Raises `GPError` for an agent or task that
    cannot be searched."""
    config = config or GPConfig()
    engine = _Engine(agent, fitness, config)
    started = time.perf_counter()
    # On a deep-stack thread each `Interpreter.call` runs inline; from the main thread every
    # call would be handed to the evaluation thread and back (~0.1 ms each).
    best, logbook = run_on_deep_thread(engine.run)
    seconds = time.perf_counter() - started
    return GPResult(engine.source(best), _key(best), engine.evaluations, len(logbook) - 1, seconds, tuple(logbook))


def verify(agent: Agent, fitness: str, source: str) -> float:
    """The fitness of `source` (a `defn` of the task's DEF) scored the ordinary way: a
    scratch agent with the definition compiled by the sandbox, its fitness task called
    through the interpreter. Raises the task's error."""
    space = agent.search_spaces[fitness]
    scratch = agent.scratch(Definition(space.target, DefinitionKind.FUNCTION, source))
    value = scratch.interpreter.call(scratch.fitness[fitness])
    return float(value)


def candidates(agent: Agent, fitness: str, count: int, seed: int = 0) -> Iterator[tuple[str, float]]:
    """`count` random trees of the vocabulary (ramped half-and-half up to height 6) as
    (source, fitness as the engine scores it): for checking the engine against `verify`."""
    engine = _Engine(agent, fitness, GPConfig(seed=seed))
    trees = [engine.generate(1, 6, grow=i % 2 == 0) for i in range(count)]
    for tree in trees:
        yield engine.source(tree), engine.score(tree)


__all__ = ["WORST", "GPConfig", "GPError", "GPResult", "Generation", "candidates", "grow", "verify"]
