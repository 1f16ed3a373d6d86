"""Candidate generation for protected self-evolution, behind one generator interface.

A *generator* proposes replacements for one definition of an agent (the
*target*). Proposals are only proposals: each is later tested, measured and
either promoted or rejected by the evolution loop, and the outcome is fed back
here (`GeneratorStats`) so that what worked for this agent is tried first next
time. Three generators are shipped:

* `MutationGenerator`: 1..k s-expression mutation operators (`_mutate.OPERATORS`);
* `TemplateGenerator`: rewrite templates written as o_lisp data (`o_lisp/stdlib/templates.hy`);
* `LLMGenerator`: any text-completion callable; no provider is bundled. The model may
  answer with whole forms or with SEARCH/REPLACE edits of the definition's source
  (`_edits`); either way the result is read and checked here like any candidate.

All of this is pure data transformation: nothing here runs agent code, so a
generator can be called from the supervisor without a sandbox. Every candidate
satisfies the same contract, whichever generator made it: it is one definition
of the target's kind and name, its `source` reads back to exactly one form, it
differs from the parent, and no two candidates of one `propose`/`generate` call
read to the same form.
"""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from o_lisp._errors import LispError
from o_lisp._printer import to_source
from o_lisp._reader import read_many
from o_lisp._resources import stdlib_source
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.evolution._edits import EditError, apply_edits, has_edits, parse_edits, strip_edits
from o_lisp.evolution._mutate import (
    OPERATORS,
    MutationContext,
    Operator,
    identity,
    replace_at,
    same_definition,
    subforms,
)
from o_lisp.forms import Expression, Float, Integer, Keyword, List, String, Symbol
from o_lisp.forms import Sequence as FormSequence

Stats = Mapping[str, Mapping[str, Any]]
"""The learning state; its layout is documented on `GeneratorStats`."""

Outcome = Literal["promoted", "rejected"]

DEFAULT_TEMPLATES = "templates.hy"
"""The stdlib file (`o_lisp/stdlib/templates.hy`, a package resource) of the default templates."""


@dataclass(frozen=True)
class Candidate:
    """A proposed replacement for one definition.

    `operator` names what made it within its generator ("perturb-constant",
    "swap-operator+simplify" for a chain of mutations, "template:min-of-sorted", ""
    for an LLM's whole form, "edit" for its SEARCH/REPLACE edits); with `generator` it
    is the key learning statistics are kept under. `description` is one human line for the commit message.
    """

    name: str
    source: str
    generator: str
    operator: str
    description: str
    parent_source: str
    model: str = ""
    """The model that wrote an LLM candidate ("" for the default model and the other
    generators): with `generator`, the bandit's arm (`_bandit.arm_name`)."""


@dataclass(frozen=True)
class GenerationContext:
    """Everything a generator may look at: the target, the agent's other definitions
    (crossover donors, names an LLM may call), older sources of the target from the
    code history (newest first), why a change is wanted, and the learning state."""

    target: Definition
    others: tuple[Definition, ...] = ()
    ancestors: tuple[str, ...] = ()
    hypothesis: str = ""
    stats: Stats = field(default_factory=dict)
    failures: tuple[str, ...] = ()
    """Failing checks to fix, one line each (`test NAME: why`), for the LLM's prompt."""
    examples: tuple[tuple[str, str], ...] = ()
    """More to show the LLM, as (heading, source): e.g. a population run's best and most
    diverse individuals with how they did, the agent's tests and docstrings."""


class Generator(Protocol):
    """A source of candidates. `propose` returns at most `n` candidates, deduplicated,
    never the parent itself, each re-readable and of the target's kind and name; a
    generator with nothing to offer returns []. It must be deterministic given `rng`
    (and, for an LLM, the reply)."""

    name: str

    def propose(self, context: GenerationContext, rng: random.Random, n: int) -> list[Candidate]: ...


# -- shared helpers -----------------------------------------------------------------------


def _read_one(source: str) -> Any:
    """The single form of `source`, or None if it is unreadable or holds more or less."""
    try:
        forms = read_many(source, "<candidate>")
    except (LispError, RecursionError):
        return None
    return forms[0] if len(forms) == 1 else None


def normalized(source: str) -> str:
    """The canonical text of a definition's source (layout and comments dropped), so
    that two candidates differing only in layout count as one; unreadable text is
    returned as it is."""
    form = _read_one(source)
    return source if form is None else to_source(form)


def _short(form: Any, limit: int = 70) -> str:
    text = to_source(form)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _differences(a: Any, b: Any) -> list[tuple[Any, Any]]:
    """The smallest differing parts of two forms, as (old, new) pairs of forms or of
    runs of forms (a tuple). Same-shaped sequences are compared item by item unless
    they are two different calls; otherwise the common leading and trailing items are
    set aside and the differing runs between them make one pair."""
    if a == b:
        return []
    if not (isinstance(a, FormSequence) and type(a) is type(b)):
        return [(a, b)]
    if len(a) == len(b):
        differing = [i for i in range(len(a)) if a[i] != b[i]]
        if not (type(a) is Expression and differing[0] == 0 and len(differing) > 1):
            return [pair for i in differing for pair in _differences(a[i], b[i])]
        return [(a, b)]
    shortest = min(len(a), len(b))
    start = 0
    while start < shortest and a[start] == b[start]:
        start += 1
    end = 0
    while end < shortest - start and a[len(a) - 1 - end] == b[len(b) - 1 - end]:
        end += 1
    if start == 0 and (end == 0 or type(a) is Expression):
        return [(a, b)]
    return [(tuple(a[start : len(a) - end]), tuple(b[start : len(b) - end]))]


def _shown(part: Any) -> str:
    if isinstance(part, tuple) and not isinstance(part, FormSequence):
        return _short(Expression(part))[1:-1] if part else "nothing"
    return _short(part)


def describe_change(parent: Any, child: Any, limit: int = 3) -> str:
    """`old → new` for each changed subform, e.g. "0.6 → 0.72; < → <="."""
    pairs = _differences(parent, child)
    parts = [f"{_shown(old)} → {_shown(new)}" for old, new in pairs[:limit]]
    if len(pairs) > limit:
        parts.append(f"and {len(pairs) - limit} more")
    return "; ".join(parts)


class _Collector:
    """Validates and deduplicates the candidates of one `propose` call."""

    def __init__(self, context: GenerationContext, parent: Any) -> None:
        self.context = context
        self.parent = parent
        self.parent_identity = identity(parent)
        self.seen = {to_source(parent), normalized(context.target.source)}
        self.candidates: list[Candidate] = []

    def problem(self, form: Any) -> str | None:
        """Why `form` cannot replace the target, or None."""
        found = identity(form)
        if found is None:
            return "it is not a definition"
        kind = self.context.target.kind
        if found[0] is not kind or found != self.parent_identity:
            return f"it defines {found[1]!r} ({found[0].value}), expected {self.context.target.name!r} ({kind.value})"
        if not same_definition(self.parent, form):
            return "it does not read back identically"
        if to_source(form) in self.seen:
            return "it is the current definition or a duplicate"
        return None

    def add(self, form: Any, generator: str, operator: str, description: str, source: str | None = None) -> bool:
        if self.problem(form) is not None:
            return False
        printed = to_source(form)
        self.seen.add(printed)
        self.candidates.append(
            Candidate(
                name=self.context.target.name,
                source=printed if source is None else source,
                generator=generator,
                operator=operator,
                description=description,
                parent_source=self.context.target.source,
            )
        )
        return True


def _forms_of(sources: Iterable[str]) -> tuple[Any, ...]:
    return tuple(form for form in map(_read_one, sources) if form is not None)


# -- learning --------------------------------------------------------------------------------


class GeneratorStats:
    """Learning: how often each generator/operator was tried and promoted, overall and
    per target, and the selection weights that follow from it.

    The statistics live in agent state, so they are plain msgpack data (str keys,
    ints) and every function here is pure: `updated` returns a new mapping. Layout::

        {"by_operator": {KEY: {"tried": int, "promoted": int}, ...},
         "by_target":   {TARGET_NAME: {KEY: {"tried": int, "promoted": int}, ...}, ...}}

    where KEY is `stat_key(generator, operator)`: "mutation/perturb-constant",
    "template/template:min-of-sorted", or just "llm" for an empty operator. Missing
    parts count as zero, so `{}` is the empty state.

    A (generator, operator)'s success rate is estimated with a Beta(1, 1) prior,
    (promoted + 1) / (tried + 2), once over all targets and once for this target;
    its weight is the mean of the two, so an operator that works on this target is
    preferred even before it has a global record, and a new target starts from the
    global experience. With no data every weight is 0.5.
    """

    @staticmethod
    def stat_key(generator: str, operator: str) -> str:
        """The key of a (generator, operator) pair in the statistics."""
        return f"{generator}/{operator}" if operator else generator

    @staticmethod
    def _rate(record: Any) -> float:
        tried, promoted = GeneratorStats._counts(record)
        return (promoted + 1) / (tried + 2)

    @staticmethod
    def _counts(record: Any) -> tuple[int, int]:
        if not isinstance(record, Mapping):
            return 0, 0
        return int(record.get("tried", 0)), int(record.get("promoted", 0))

    @staticmethod
    def _tables(stats: Stats, target: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        overall = stats.get("by_operator", {})
        per_target = stats.get("by_target", {}).get(target, {})
        return overall, per_target

    @staticmethod
    def weights(
        stats: Stats, target: str, generator: str, operators: Iterable[str] | None = None
    ) -> dict[str, float]:
        """Selection weight of each operator of `generator` for `target` (see the class
        docstring for the formula). `operators` defaults to those with statistics."""
        overall, per_target = GeneratorStats._tables(stats, target)
        if operators is None:
            prefix = generator + "/"
            keys = {k for table in (overall, per_target) for k in table}
            operators = sorted(k[len(prefix) :] for k in keys if k.startswith(prefix))
        result: dict[str, float] = {}
        for operator in operators:
            key = GeneratorStats.stat_key(generator, operator)
            result[operator] = 0.5 * GeneratorStats._rate(overall.get(key)) + 0.5 * GeneratorStats._rate(
                per_target.get(key)
            )
        return result

    @staticmethod
    def generator_weight(stats: Stats, target: str, generator: str) -> float:
        """A generator's weight: the same Beta(1, 1) estimate over all its operators'
        counts summed, overall and for `target`, averaged."""
        overall, per_target = GeneratorStats._tables(stats, target)

        def rate(table: Mapping[str, Any]) -> float:
            tried = promoted = 0
            for key, record in table.items():
                if key == generator or key.startswith(generator + "/"):
                    t, p = GeneratorStats._counts(record)
                    tried, promoted = tried + t, promoted + p
            return (promoted + 1) / (tried + 2)

        return 0.5 * rate(overall) + 0.5 * rate(per_target)

    @staticmethod
    def updated(stats: Stats, target: str, generator: str, operator: str, outcome: Outcome) -> dict[str, Any]:
        """A new statistics mapping with one more try (and promotion, if `outcome` is
        "promoted") of (generator, operator), overall and for `target`.

        A mutation candidate's operator may be a chain ("swap-operator+simplify"):
        each distinct operator of the chain is credited once, since weights are per
        operator."""
        if outcome not in ("promoted", "rejected"):
            raise ValueError(f"outcome must be 'promoted' or 'rejected', not {outcome!r}")
        chain = operator.split("+") if generator == MutationGenerator.name else [operator]
        keys = [GeneratorStats.stat_key(generator, op) for op in dict.fromkeys(chain)]
        gain = 1 if outcome == "promoted" else 0

        def bumped(table: Mapping[str, Any]) -> dict[str, Any]:
            copy = {k: dict(v) for k, v in table.items()}
            for key in keys:
                tried, promoted = GeneratorStats._counts(copy.get(key))
                copy[key] = {"tried": tried + 1, "promoted": promoted + gain}
            return copy

        by_target = {
            name: {k: dict(v) for k, v in table.items()}
            for name, table in stats.get("by_target", {}).items()
        }
        by_target[target] = bumped(by_target.get(target, {}))
        kept = {k: v for k, v in stats.items() if k not in ("by_operator", "by_target")}  # e.g. the bandit's arms
        return {**kept, "by_operator": bumped(stats.get("by_operator", {})), "by_target": by_target}

    @staticmethod
    def record(stats: Stats, candidate: Candidate, outcome: Outcome) -> dict[str, Any]:
        """`updated` for a candidate's target, generator and operator."""
        return GeneratorStats.updated(stats, candidate.name, candidate.generator, candidate.operator, outcome)


# The learning functions under their plain names (the guardian's lab calls `updated`).
weights = GeneratorStats.weights
updated = GeneratorStats.updated
record_outcome = GeneratorStats.record


def _weighted_order(items: Sequence[Any], weights: Sequence[float], rng: random.Random) -> list[Any]:
    """`items` in a random order where heavier items tend to come first (weighted
    sampling without replacement, Efraimidis–Spirakis keys u^(1/w))."""
    keyed = [(rng.random() ** (1.0 / w), i) for i, w in enumerate(weights)]
    keyed.sort(key=lambda pair: -pair[0])
    return [items[i] for _, i in keyed]


# -- mutation ---------------------------------------------------------------------------------


class MutationGenerator:
    """Candidates made by applying 1..`max_mutations` operators in a row, each picked
    with probability proportional to its learned weight for the target."""

    name = "mutation"

    def __init__(
        self,
        operators: Mapping[str, Operator] | None = None,
        max_mutations: int = 2,
        attempts: int = 20,
    ) -> None:
        if max_mutations < 1:
            raise ValueError("max_mutations must be at least 1")
        self.operators: Mapping[str, Operator] = dict(OPERATORS if operators is None else operators)
        self.max_mutations = max_mutations
        # Tries per wanted candidate before giving up: operators may not apply, and
        # random chains may land on duplicates.
        self.attempts = attempts

    def propose(self, context: GenerationContext, rng: random.Random, n: int) -> list[Candidate]:
        parent = _read_one(context.target.source)
        if parent is None or n <= 0 or not self.operators or identity(parent) is None:
            return []
        found = identity(parent)
        assert found is not None
        mutation_context = MutationContext(
            found[0],
            found[1],
            others=_forms_of(d.source for d in context.others),
            ancestors=_forms_of(context.ancestors),
        )
        names = list(self.operators)
        learned = GeneratorStats.weights(context.stats, context.target.name, self.name, names)
        weights = [learned[name] for name in names]
        collector = _Collector(context, parent)
        for _ in range(n * self.attempts):
            if len(collector.candidates) >= n:
                break
            form, applied = parent, []
            for _ in range(rng.randint(1, self.max_mutations)):
                operator = rng.choices(names, weights=weights)[0]
                new = self.operators[operator](form, rng, mutation_context)
                if new is not None:
                    form = new
                    applied.append(operator)
            if applied:
                label = "+".join(applied)
                collector.add(form, self.name, label, f"mutation {label}: {describe_change(parent, form)}")
        return collector.candidates


# -- templates --------------------------------------------------------------------------------


class TemplateError(ValueError):
    """A malformed template file (the message names the template and what is wrong)."""


_GUARDS: dict[str, Callable[[Any], bool]] = {
    "string?": lambda f: type(f) is String,
    "number?": lambda f: type(f) in (Integer, Float),
    "symbol?": lambda f: type(f) is Symbol and str(f) not in ("True", "False", "None"),
    "literal?": lambda f: type(f) in (Integer, Float, String) or (type(f) is Symbol and str(f) in ("True", "False", "None")),
    "expression?": lambda f: type(f) is Expression,
    "pure?": lambda f: type(f) in (Integer, Float, String, Symbol)
    or (type(f) is Expression and len(f) == 2 and f[0] == Symbol("quote")),
}


def _is_var(form: Any) -> bool:
    return type(form) is Symbol and len(form) > 1 and str(form).startswith("?") and not _is_splice(form)


def _is_splice(form: Any) -> bool:
    return type(form) is Symbol and len(form) > 2 and str(form).startswith("?@")


def _variables(form: Any) -> set[str]:
    return {str(f) for _, f in subforms(form) if (_is_var(f) or _is_splice(f)) and str(f) != "?_"}


def match(pattern: Any, form: Any, bindings: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """Bindings that make `pattern` equal to `form`, or None (the pattern language is
    described in o_lisp/stdlib/templates.hy). A `?@xs` variable is bound to a tuple of forms."""
    return _match(pattern, form, dict(bindings or {}))


def _match(pattern: Any, form: Any, bindings: dict[str, Any]) -> dict[str, Any] | None:
    if _is_var(pattern):
        name = str(pattern)
        if name == "?_":
            return bindings
        if name in bindings:
            return bindings if bindings[name] == form else None
        return {**bindings, name: form}
    if isinstance(pattern, FormSequence):
        if type(pattern) is not type(form):
            return None
        return _match_items(tuple(pattern), tuple(form), bindings)
    return bindings if pattern == form else None


def _match_items(patterns: tuple[Any, ...], forms: tuple[Any, ...], bindings: dict[str, Any]) -> dict[str, Any] | None:
    if not patterns:
        return bindings if not forms else None
    if sum(1 for p in patterns if not _is_splice(p)) > len(forms):
        return None
    first, rest = patterns[0], patterns[1:]
    if _is_splice(first):
        name = str(first)
        if name in bindings:
            run = bindings[name]
            if forms[: len(run)] != run:
                return None
            return _match_items(rest, forms[len(run) :], bindings)
        for k in range(len(forms) + 1):
            found = _match_items(rest, forms[k:], {**bindings, name: forms[:k]})
            if found is not None:
                return found
        return None
    if not forms:
        return None
    bound = _match(first, forms[0], bindings)
    return None if bound is None else _match_items(rest, forms[1:], bound)


def substitute(template: Any, bindings: Mapping[str, Any]) -> Any:
    """`template` with each `?x` replaced by its binding and each `?@xs` spliced in."""
    if _is_var(template):
        return bindings[str(template)]
    if isinstance(template, FormSequence):
        items: list[Any] = []
        for item in template:
            if _is_splice(item):
                items.extend(bindings[str(item)])
            else:
                items.append(substitute(item, bindings))
        return type(template)(items)
    return template


@dataclass(frozen=True)
class Template:
    """One rewrite: where `match` matches a subform and every guard in `where` holds,
    the subform becomes `rewrite` with the bindings substituted."""

    name: str
    doc: str
    pattern: Any
    rewrite: Any
    where: tuple[Any, ...] = ()

    def apply(self, form: Any, root: Any) -> Any | None:
        """The rewrite of `form` (a subform of the definition `root`), or None."""
        bindings = match(self.pattern, form)
        if bindings is None or not all(self._holds(guard, bindings, root) for guard in self.where):
            return None
        return substitute(self.rewrite, bindings)

    @staticmethod
    def _holds(guard: Any, bindings: Mapping[str, Any], root: Any) -> bool:
        head, args = str(guard[0]), list(guard[1:])
        if head == "absent":
            return all(sub != args[0] for _, sub in subforms(root))
        value = bindings.get(str(args[0]), args[0]) if _is_var(args[0]) else args[0]
        if head == "one-of":
            return any(value == option for option in args[1:])
        return _GUARDS[head](value)


def parse_templates(text: str, filename: str = "<templates>") -> list[Template]:
    """The templates of a template file; raises `TemplateError` (or the reader's
    `ReadError`) naming the template and the problem."""
    templates: list[Template] = []
    for form in read_many(text, filename):
        if type(form) is not Expression or len(form) < 2 or form[0] != Symbol("deftemplate") or type(form[1]) is not Symbol:
            raise TemplateError(f"{filename}: expected (deftemplate NAME :match ... :rewrite ...), got {_short(form)}")
        name = str(form[1])
        options: dict[str, Any] = {}
        rest = list(form[2:])
        if len(rest) % 2:
            raise TemplateError(f"template {name}: options come in :key value pairs")
        for key, value in zip(rest[0::2], rest[1::2], strict=True):
            if type(key) is not Keyword or key.name not in ("doc", "match", "where", "rewrite"):
                raise TemplateError(f"template {name}: unknown option {_short(key)} (known: :doc :match :where :rewrite)")
            options[key.name] = value
        if "match" not in options or "rewrite" not in options:
            raise TemplateError(f"template {name}: needs both :match and :rewrite")
        where = options.get("where", List())
        if type(where) is not List:
            raise TemplateError(f"template {name}: :where takes a list of guards [...]")
        bound = _variables(options["match"])
        for guard in where:
            _check_guard(name, guard, bound)
        unbound = _variables(options["rewrite"]) - bound
        if unbound:
            raise TemplateError(f"template {name}: the rewrite uses unbound {', '.join(sorted(unbound))}")
        doc = options.get("doc", String(""))
        if type(doc) is not String:
            raise TemplateError(f"template {name}: :doc must be a string")
        templates.append(Template(name, str(doc), options["match"], options["rewrite"], tuple(where)))
    names = [t.name for t in templates]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TemplateError(f"{filename}: templates defined twice: {', '.join(duplicates)}")
    return templates


def _check_guard(name: str, guard: Any, bound: set[str]) -> None:
    if type(guard) is not Expression or not guard or type(guard[0]) is not Symbol:
        raise TemplateError(f"template {name}: a guard is (PREDICATE ARG...), got {_short(guard)}")
    head = str(guard[0])
    known = [*_GUARDS, "one-of", "absent"]
    if head not in known:
        raise TemplateError(f"template {name}: unknown guard {head} (known: {' '.join(known)})")
    arity_ok = len(guard) >= 3 if head == "one-of" else len(guard) == 2
    if not arity_ok:
        raise TemplateError(f"template {name}: wrong number of arguments in {_short(guard)}")
    if head != "absent" and not (_is_var(guard[1]) and str(guard[1]) in bound):
        raise TemplateError(f"template {name}: guard {head} needs a variable bound by :match")


class TemplateGenerator:
    """Candidates from rewrite templates (`o_lisp/stdlib/templates.hy` by default), each tried
    on every subform of the target; matches are offered in a weighted random order
    that favours templates with a good record."""

    name = "template"

    def __init__(self, templates: Path | str | Sequence[Template] | None = None) -> None:
        """`templates` is a template file (a `Path`), template source text (a `str`),
        parsed templates, or None for the stdlib's."""
        if templates is None:
            filename, text = stdlib_source(DEFAULT_TEMPLATES)
            self.templates = parse_templates(text, filename)
        elif isinstance(templates, Path):
            self.templates = parse_templates(templates.read_text("utf-8"), str(templates))
        elif isinstance(templates, str):
            self.templates = parse_templates(templates)
        else:
            self.templates = list(templates)

    def rewrites(self, form: Any) -> list[tuple[Template, Any]]:
        """Every (template, rewritten definition) for a definition form, in template
        order then pre-order of the matched subform (unvalidated)."""
        out = []
        for template in self.templates:
            for path, sub in subforms(form):
                new = template.apply(sub, form)
                if new is not None:
                    out.append((template, replace_at(form, path, new)))
        return out

    def propose(self, context: GenerationContext, rng: random.Random, n: int) -> list[Candidate]:
        parent = _read_one(context.target.source)
        if parent is None or n <= 0 or identity(parent) is None:
            return []
        found = self.rewrites(parent)
        operators = [f"template:{t.name}" for t in self.templates]
        learned = GeneratorStats.weights(context.stats, context.target.name, self.name, operators)
        ordered = _weighted_order(found, [learned[f"template:{t.name}"] for t, _ in found], rng)
        collector = _Collector(context, parent)
        for template, form in ordered:
            if len(collector.candidates) >= n:
                break
            summary = template.doc.split(": ")[0].split(". ")[0].rstrip(".")
            description = f"template {template.name}: {describe_change(parent, form)}" + (f" ({summary})" if summary else "")
            collector.add(form, self.name, f"template:{template.name}", description)
        return collector.candidates


# -- LLM ----------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)```", re.S)
_LISP_LANGUAGES = frozenset({"", "hy", "lisp", "clojure", "scheme", "o", "o-lisp", "olisp"})
_DEFINITION_START = re.compile(r"\((?:" + "|".join(re.escape(k.value) for k in DefinitionKind) + r")[\s)]")


def extract_snippets(reply: str) -> list[str]:
    """Code that may hold definitions in a model's reply: the fenced blocks tagged as
    a Lisp (or untagged) when there are fenced blocks, else each balanced
    `(defn ...)`/`(when-> ...)`/... found in the prose. Blocks of SEARCH/REPLACE
    edits are not code (`extract_edits`)."""
    fences = list(_FENCE.finditer(reply))
    if fences:
        return [m.group(2) for m in fences if m.group(1).lower() in _LISP_LANGUAGES and not has_edits(m.group(2))]
    reply = strip_edits(reply)
    snippets: list[str] = []
    position = 0
    while True:
        start = _DEFINITION_START.search(reply, position)
        if start is None:
            return snippets
        end = _balanced_end(reply, start.start())
        snippets.append(reply[start.start() : end])
        position = end


def extract_edits(reply: str) -> list[str]:
    """The texts of a reply holding SEARCH/REPLACE edits, one per alternative version:
    each fenced block holding edits (whatever its language tag), then the edits written
    outside any fence, together."""
    fences = list(_FENCE.finditer(reply))
    groups = [m.group(2) for m in fences if has_edits(m.group(2))]
    outside = _FENCE.sub("", reply)
    if has_edits(outside):
        groups.append(outside)
    return groups


def _balanced_end(text: str, start: int) -> int:
    """Index just past the parenthesis closing the one at `start` (strings and `;`
    comments skipped); the end of `text` if it never closes (the reader then says why)."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == ";":
            while i < len(text) and text[i] != "\n":
                i += 1
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


class LLMGenerator:
    """Candidates from a language model. `complete(prompt) -> reply` is any callable
    (providers come separately); the reply's definitions are read, and every reply
    or block that yields no candidate leaves its reason in `last_errors`.

    A failing `complete` (network, quota, a provider bug) is a reason too, not an
    exception: generation then continues with the other generators.
    """

    name = "llm"

    def __init__(self, complete: Callable[[str], str], max_candidates: int = 3) -> None:
        self.complete = complete
        self.max_candidates = max_candidates
        self.last_errors: list[str] = []
        self.last_prompt = ""

    def prompt(self, context: GenerationContext, n: int) -> str:
        """The instructions sent to the model for `context`."""
        target = context.target
        others = ", ".join(f"{d.name} ({d.kind.value})" for d in context.others) or "none"
        naming = f"(when-> :name {target.name} CONDITION ACTION...)" if target.kind is DefinitionKind.RULE else f"({target.kind.value} {target.name} ...)"
        lines = [
            "You are improving one definition of an agent written in o_lisp, a sandboxed Lisp with Hy 1.3 syntax.",
            f"Goal: {context.hypothesis or 'do better on the agent fitness tasks while keeping every test passing.'}",
            "",
            f"Current definition ({target.kind.value} {target.name}):",
            "```hy",
            target.source.strip(),
            "```",
            f"Other definitions of the agent: {others}.",
        ]
        if context.ancestors:
            lines += ["", "The previous version of this definition:", "```hy", context.ancestors[0].strip(), "```"]
        if context.failures:
            lines += ["", "Failing checks (make them pass):", *(f"- {failure}" for failure in context.failures[:20])]
        for label, source in context.examples[:10]:
            lines += ["", f"{label}:", "```hy", source.strip()[:4000], "```"]
        lines += [
            "",
            "Rules:",
            f"- Reply with up to {n} alternative versions, each one complete definition in its own ```hy code block,",
            "  or, for a small change to a long definition, each version as SEARCH/REPLACE edits of the current"
            " source in its own ``` block (the SEARCH text copied exactly, unique in the definition):",
            "  <<<<<<< SEARCH",
            "  (lines of the current definition)",
            "  =======",
            "  (the lines that replace them)",
            "  >>>>>>> REPLACE",
            f"- Keep the form {naming}: the same kind and the same name.",
            "- Use only o_lisp: no imports, no attribute access, no classes, no host or network access;"
            " call the agent's own definitions and tools instead.",
        ]
        return "\n".join(lines) + "\n"

    def propose(self, context: GenerationContext, rng: random.Random, n: int) -> list[Candidate]:
        self.last_errors = []
        parent = _read_one(context.target.source)
        limit = min(n, self.max_candidates)
        if parent is None or identity(parent) is None:
            self.last_errors.append("the target's source is not one readable definition")
            return []
        if limit <= 0:
            return []
        self.last_prompt = self.prompt(context, limit)
        try:
            reply = self.complete(self.last_prompt)
        except Exception as error:  # any provider failure is a reason, see the class doc
            self.last_errors.append(f"the completion failed: {type(error).__name__}: {error}")
            return []
        snippets = extract_snippets(reply)
        edits = extract_edits(reply)
        if not snippets and not edits:
            self.last_errors.append("the reply holds no code block or definition")
        collector = _Collector(context, parent)
        for number, text in enumerate(edits, 1):
            if len(collector.candidates) >= limit:
                break
            self._edited(collector, parent, text, number)
        for number, snippet in enumerate(snippets, 1):
            if len(collector.candidates) >= limit:
                break
            try:
                forms = read_many(snippet, f"<reply block {number}>")
            except LispError as error:
                self.last_errors.append(f"block {number}: unreadable: {error}")
                continue
            if not forms:
                self.last_errors.append(f"block {number}: empty")
            for form in forms:
                problem = collector.problem(form)
                if problem is not None:
                    self.last_errors.append(f"block {number}: rejected: {problem}")
                    continue
                source = snippet.strip() if len(forms) == 1 else None
                collector.add(form, self.name, "", f"llm: {describe_change(parent, form)}", source)
                if len(collector.candidates) >= limit:
                    break
        return collector.candidates

    def _edited(self, collector: _Collector, parent: Any, text: str, number: int) -> None:
        """One candidate from the edits of `text` applied to the target's source; it is
        read and checked like a whole form (`collector.problem`), keeping the source's
        layout and comments."""
        try:
            source = apply_edits(collector.context.target.source, parse_edits(text))
        except EditError as error:
            self.last_errors.append(f"edits {number}: {error}")
            return
        try:
            forms = read_many(source, f"<reply edits {number}>")
        except (LispError, RecursionError) as error:
            self.last_errors.append(f"edits {number}: the edited source is unreadable: {error}")
            return
        if len(forms) != 1:
            self.last_errors.append(f"edits {number}: the edited source holds {len(forms)} forms, expected one definition")
            return
        problem = collector.problem(forms[0])
        if problem is not None:
            self.last_errors.append(f"edits {number}: rejected: {problem}")
            return
        collector.add(forms[0], self.name, "edit", f"llm edit: {describe_change(parent, forms[0])}", source.strip())


# -- all together ---------------------------------------------------------------------------------


def generate(
    context: GenerationContext, generators: Sequence[Generator], rng: random.Random, n: int
) -> list[Candidate]:
    """Up to `n` distinct candidates from several generators.

    Each generator proposes up to `n`; then candidates are drawn one at a time from a
    generator picked with probability proportional to its learned weight
    (`GeneratorStats.generator_weight`) among those with proposals left, so a
    generator that has worked gets more of the budget without starving the others.
    Candidates reading to the same form (across generators too) are kept once.
    """
    if n <= 0:
        return []
    pools = [deque(g.propose(context, rng, n)) for g in generators]
    weights = [GeneratorStats.generator_weight(context.stats, context.target.name, g.name) for g in generators]
    seen = {normalized(context.target.source)}
    out: list[Candidate] = []
    while len(out) < n:
        live = [i for i, pool in enumerate(pools) if pool]
        if not live:
            break
        chosen = rng.choices(live, weights=[weights[i] for i in live])[0]
        candidate = pools[chosen].popleft()
        key = normalized(candidate.source)
        if key not in seen:
            seen.add(key)
            out.append(candidate)
    return out
