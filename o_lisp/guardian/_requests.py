"""The agent's requests as typed values, validated once where they enter.

`POST /v1/messages`, `POST /v1/memory`, `GET /v1/memory/search` and `GET /v1/memory/{id}`
each build one frozen request record here from what the client sent (`from_body`,
`from_query`, `from_path`); the HTTP layer then forwards `record.method` with
`record.as_args()` and nothing inside the guardian checks those arguments again. Field
rules shared by every endpoint (UTF-8 text, JSON values msgpack can store, integers in a
range, known fields only) live here too, so an endpoint cannot drift from another.

A mistake raises `InvalidRequest`: which field, why, and the error code the HTTP layer
answers with (400). Stdlib only, like the protocol.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from o_lisp._limits import (
    MAX_CANDIDATES,
    MAX_GENERATIONS,
    MAX_ISLANDS,
    MAX_POPULATION,
    MAX_SEED,
    MAX_WORKERS,
)
from o_lisp.guardian._errors import GuardianError
from o_lisp.guardian._runs import PopulationSettings, valid_run_id

__all__ = [
    "DEFAULT_IMPORTANCE",
    "DEFAULT_K",
    "MAX_COMMENT_LENGTH",
    "MAX_HYPOTHESIS_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_K",
    "MAX_METADATA_DEPTH",
    "MAX_NAME_LENGTH",
    "POPULATION_FIELDS",
    "EvolutionStart",
    "Feedback",
    "InvalidRequest",
    "MemoryAdd",
    "MemoryGet",
    "MemorySearch",
    "MessageRequest",
    "check_fields",
    "check_text",
    "check_value",
    "id_field",
    "int_field",
    "invalid",
    "is_number",
    "json_type",
    "optional_text_field",
    "text_field",
]

DEFAULT_K = 10
MAX_K = 100
"""Search results per request are bounded so one query cannot make the worker rank everything."""
MAX_ID_LENGTH = 256
MAX_METADATA_DEPTH = 32
"""The memory store's own limit (`o_lisp.memory._store._check_metadata`), enforced here first."""
DEFAULT_IMPORTANCE = 0.5
MAX_COMMENT_LENGTH = 10_000
STARS_MIN, STARS_MAX = 1, 5
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what msgpack can encode


class InvalidRequest(GuardianError):
    """A request refused where it entered: `code` (``invalid_field``, ``missing_field``,
    ``unknown_field``, ``invalid_parameter``, ...) and the `field` it is about."""

    exit_code = 2

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest("invalid_field", f"field {field!r} {message}", field)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def check_text(field: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(field, "contains an unpaired surrogate (not encodable as UTF-8)") from None


def check_value(field: str, value: Any, depth: int = 0) -> None:
    """JSON values the guardian can store unchanged: bounded nesting, 64-bit integers, UTF-8 text."""
    if depth > MAX_METADATA_DEPTH:
        raise invalid(field, f"is nested more than {MAX_METADATA_DEPTH} levels deep")
    if isinstance(value, str):
        check_text(field, value)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise invalid(field, f"holds an integer outside [{_INT_MIN}, {_INT_MAX}]")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise invalid(field, "holds a number too large to represent")
    elif isinstance(value, list):
        for item in value:
            check_value(field, item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(field, key)
            check_value(field, item, depth + 1)
    else:  # pragma: no cover - json.loads produces nothing else
        raise invalid(field, f"holds an unsupported {type(value).__name__}")


def check_fields(body: Mapping[str, Any], required: Sequence[str], optional: Sequence[str]) -> None:
    allowed = (*required, *optional)
    for name in body:
        if name not in allowed:
            raise InvalidRequest("unknown_field", f"unknown field {name!r} (allowed: {', '.join(allowed)})", name)
    for name in required:
        if name not in body:
            raise InvalidRequest("missing_field", f"field {name!r} is required", name)


def text_field(body: Mapping[str, Any], field: str = "text") -> str:
    value = body[field]
    if not isinstance(value, str):
        raise invalid(field, f"must be a string, got {json_type(value)}")
    if not value.strip():
        raise invalid(field, "must not be empty or blank")
    check_text(field, value)
    return value


def id_field(body: Mapping[str, Any], field: str) -> str:
    value = body[field]
    if not isinstance(value, str):
        raise invalid(field, f"must be a string, got {json_type(value)}")
    if not value.strip():
        raise invalid(field, "must not be empty or blank")
    if len(value) > MAX_ID_LENGTH:
        raise invalid(field, f"is longer than {MAX_ID_LENGTH} characters")
    check_text(field, value)
    return value


def optional_text_field(body: Mapping[str, Any], field: str, limit: int) -> str:
    """An optional free-text field ("" when absent): a string of at most `limit` characters."""
    value = body.get(field, "")
    if not isinstance(value, str):
        raise invalid(field, f"must be a string, got {json_type(value)}")
    if len(value) > limit:
        raise invalid(field, f"is longer than {limit} characters")
    check_text(field, value)
    return value


def int_field(body: Mapping[str, Any], field: str, default: int, low: int, high: int) -> int:
    """An optional integer in [LOW, HIGH]; 2.0 is refused like 2.5 (a count is never fractional)."""
    if field not in body:
        return default
    value = body[field]
    if not (isinstance(value, int) and not isinstance(value, bool)):
        given = "a fractional number" if is_number(value) else json_type(value)
        raise invalid(field, f"must be an integer from {low} to {high}, got {given}")
    if not low <= value <= high:
        raise invalid(field, f"must be an integer from {low} to {high}, got {value}")
    return value


# -- the requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageRequest:
    """``POST /v1/messages``: a message for the agent; `stream` asks for its model's text as
    it arrives (server-sent events). The reply always carries its id (what feedback rates)."""

    method: ClassVar[str] = "message"
    text: str
    stream: bool = False

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> MessageRequest:
        check_fields(body, ("text",), ("stream",))
        text = text_field(body)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise invalid("stream", f"must be true or false, got {json_type(stream)}")
        return cls(text, stream)

    def as_args(self) -> dict[str, Any]:
        return {"text": self.text, "with_id": True, **({"stream": True} if self.stream else {})}


@dataclass(frozen=True)
class MemoryAdd:
    """``POST /v1/memory``: one block of text with JSON metadata and an importance in [0, 1]."""

    method: ClassVar[str] = "memory_add"
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    importance: float = DEFAULT_IMPORTANCE

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> MemoryAdd:
        check_fields(body, ("text",), ("metadata", "importance"))
        text = text_field(body)
        metadata = body.get("metadata", {})
        if not isinstance(metadata, dict):
            raise invalid("metadata", f"must be a JSON object, got {json_type(metadata)}")
        check_value("metadata", metadata)
        importance = body.get("importance", DEFAULT_IMPORTANCE)
        if not is_number(importance):
            raise invalid("importance", f"must be a number, got {json_type(importance)}")
        if not (math.isfinite(importance) and 0.0 <= importance <= 1.0):
            raise invalid("importance", f"must be between 0 and 1, got {importance!r}")
        return cls(text, metadata, float(importance))

    def as_args(self) -> dict[str, Any]:
        return {"text": self.text, "metadata": dict(self.metadata), "importance": self.importance}


@dataclass(frozen=True)
class MemorySearch:
    """``GET /v1/memory/search?q=...&k=...``: the `k` blocks that best match `q`."""

    method: ClassVar[str] = "memory_search"
    q: str
    k: int = DEFAULT_K

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> MemorySearch:
        if "q" not in params:
            raise InvalidRequest("missing_parameter", "query parameter 'q' is required", "q")
        query = params["q"]
        if not query.strip():
            raise InvalidRequest("invalid_parameter", "query parameter 'q' must not be empty", "q")
        check_text("q", query)
        if "k" not in params:
            return cls(query)
        raw_k = params["k"].strip()
        if not raw_k.isdigit() or not 1 <= int(raw_k) <= MAX_K:
            raise InvalidRequest("invalid_parameter",
                                 f"query parameter 'k' must be an integer from 1 to {MAX_K}, got {params['k'][:20]!r}", "k")
        return cls(query, int(raw_k))

    def as_args(self) -> dict[str, Any]:
        return {"q": self.q, "k": self.k}


@dataclass(frozen=True)
class MemoryGet:
    """``GET /v1/memory/{id}``: one block by its id."""

    method: ClassVar[str] = "memory_get"
    id: str

    @classmethod
    def from_path(cls, block_id: str) -> MemoryGet:
        if len(block_id) > MAX_ID_LENGTH:
            raise InvalidRequest("invalid_parameter", f"memory id longer than {MAX_ID_LENGTH} characters", "id")
        check_text("id", block_id)
        return cls(block_id)

    def as_args(self) -> dict[str, Any]:
        return {"id": self.id}


@dataclass(frozen=True)
class Feedback:
    """``POST /v1/feedback``: a rating of a reply (``reply_id``) or of the agent in general.

    ``rating`` is a number in [-1, 1]; ``stars`` (an integer 1..5) is the alternative for
    star widgets and maps linearly onto it (1 → -1, 3 → 0, 5 → 1). They are two fields
    rather than one because ``rating: 1`` would otherwise mean both "best" and "one star"."""

    method: ClassVar[str] = "feedback"
    rating: float
    comment: str = ""
    reply_to: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Feedback:
        check_fields(body, (), ("reply_id", "rating", "stars", "comment"))
        if ("rating" in body) == ("stars" in body):
            raise InvalidRequest("missing_field" if "rating" not in body else "invalid_field",
                                 "exactly one of 'rating' (a number from -1 to 1) and 'stars' (an integer from 1 to 5) "
                                 "is required", "rating")
        if "rating" in body:
            rating = body["rating"]
            if not is_number(rating):
                raise invalid("rating", f"must be a number, got {json_type(rating)}")
            if not (math.isfinite(rating) and -1.0 <= rating <= 1.0):
                raise invalid("rating", f"must be between -1 and 1, got {rating!r}")
            value = float(rating)
        else:
            stars = body["stars"]
            if not (isinstance(stars, int) and not isinstance(stars, bool)):
                given = "a fractional number" if is_number(stars) else json_type(stars)
                raise invalid("stars", f"must be an integer from {STARS_MIN} to {STARS_MAX}, got {given}")
            if not STARS_MIN <= stars <= STARS_MAX:
                raise invalid("stars", f"must be an integer from {STARS_MIN} to {STARS_MAX}, got {stars}")
            value = (stars - 3) / 2
        comment = optional_text_field(body, "comment", MAX_COMMENT_LENGTH)
        reply_to = id_field(body, "reply_id") if "reply_id" in body else None
        return cls(value, comment, reply_to)

    def as_args(self) -> dict[str, Any]:
        return {"rating": self.rating, "comment": self.comment, "reply_to": self.reply_to}


# -- evolution ------------------------------------------------------------------------------

MAX_HYPOTHESIS_LENGTH = 1000
"""The evolution manager keeps this much of a hypothesis; longer ones are refused, not cut."""

POPULATION_FIELDS = ("population", "islands", "workers", "seed", "max_evals", "resume")
"""``POST /v1/evolution``'s fields of a population cycle (docs/protocol.md)."""


def population_fields(body: Mapping[str, Any]) -> tuple[PopulationSettings | None, str | None]:
    """The population settings of a ``POST /v1/evolution`` body (None: a hill-climbing cycle)
    and the run to resume (None: a new run). `islands`, `workers`, `seed` and `max_evals`
    need `population` or `resume`; `resume` takes the run's own settings (only `workers` may
    change), so it refuses `population`, `generations`, `islands`, `seed` and `max_evals`."""
    given = [f for f in POPULATION_FIELDS if f in body]
    resume = None
    if "resume" in body:
        resume = body["resume"]
        if not isinstance(resume, str) or not valid_run_id(resume):
            shown = json.dumps(resume)[:100] if isinstance(resume, str) else json_type(resume)
            raise invalid("resume", f"must be a run id like \"20261205T071502-3fa9c1\", got {shown}")
        clash = [f for f in ("population", "generations", "islands", "seed", "max_evals") if f in body]
        if clash:
            raise invalid(clash[0], "does not go with resume: a resumed run keeps its own settings")
        workers = int_field(body, "workers", 0, 1, MAX_WORKERS)
        return (PopulationSettings(workers=workers) if workers else None), resume
    if not given:
        return None, None
    if "population" not in body:
        raise invalid(given[0], "needs population (or resume): it is a setting of a population cycle")
    max_evals = body.get("max_evals")
    if max_evals is not None:
        max_evals = int_field(body, "max_evals", 0, 1, 10**9)
    seed = body.get("seed")
    if seed is not None:
        seed = int_field(body, "seed", 0, 0, MAX_SEED)
    population = int_field(body, "population", 50, 2, MAX_POPULATION)
    settings = PopulationSettings(
        population=population,
        generations=int_field(body, "generations", 10, 1, MAX_GENERATIONS),
        islands=int_field(body, "islands", PopulationSettings.default_islands(population), 1, MAX_ISLANDS),
        workers=int_field(body, "workers", 0, 1, MAX_WORKERS) if "workers" in body else 0,
        seed=seed, max_evals=max_evals)
    problems = settings.problems()
    if problems:  # what the field checks above leave: more islands than individuals
        raise invalid("islands", problems[0].removeprefix("islands "))
    return settings, None



MAX_NAME_LENGTH = 256
_BAD_NAME = re.compile(r"[\s\x00-\x1f\x7f]")  # what the code repository refuses in a definition name


@dataclass(frozen=True)
class EvolutionStart:
    """``POST /v1/evolution``: a cycle on one definition — a hill-climbing cycle of
    `generations` x `candidates` (or the operator's own `candidate`), or, with
    `population` (or `resume`), a population run (docs/evolution.md)."""

    definition: str
    hypothesis: str = ""
    generations: int = 1
    candidates: int = 4
    canary: bool = False
    candidate: str | None = None
    generator: str = "mutation"
    model: str | None = None
    population: PopulationSettings | None = None
    resume: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> EvolutionStart:
        check_fields(body, ("definition",), ("hypothesis", "generations", "candidates", "canary", "candidate",
                                              "generator", "model", *POPULATION_FIELDS))
        definition = text_field(body, "definition")
        if len(definition) > MAX_NAME_LENGTH:
            raise invalid("definition", f"is longer than {MAX_NAME_LENGTH} characters")
        if _BAD_NAME.search(definition) or definition.startswith("#"):
            raise invalid("definition", "must be a definition name (no whitespace or control characters, no leading '#')")
        hypothesis = optional_text_field(body, "hypothesis", MAX_HYPOTHESIS_LENGTH)
        generations = int_field(body, "generations", 1, 1, MAX_GENERATIONS)
        candidates = int_field(body, "candidates", 4, 1, MAX_CANDIDATES)
        canary = body.get("canary", False)
        if not isinstance(canary, bool):
            raise invalid("canary", f"must be true or false, got {json_type(canary)}")
        candidate = body.get("candidate")  # an operator's own candidate source (else: generated)
        if candidate is not None:
            if not isinstance(candidate, str) or not candidate.strip():
                raise invalid("candidate", f"must be the source of one definition, got {json_type(candidate)}")
            check_text("candidate", candidate)
        generator = body.get("generator", "mutation")  # docs/llm.md, "LLM-written candidates"
        if generator not in ("mutation", "llm", "mixed"):
            shown = json.dumps(generator) if isinstance(generator, str) else json_type(generator)
            raise invalid("generator", f"must be \"mutation\", \"llm\" or \"mixed\", got {shown}")
        model = optional_text_field(body, "model", MAX_NAME_LENGTH) or None
        population, resume = population_fields(body)
        if (population is not None or resume is not None) and (candidate is not None or "candidates" in body):
            clash = "candidates" if "candidates" in body else "candidate"
            raise invalid(clash, "does not go with a population cycle (population, resume): it breeds its own "
                                 "candidates (by mutation, and with generator llm/mixed a model writes a share)")
        return cls(definition, hypothesis, generations, candidates, canary, candidate, str(generator), model,
                   population, resume)

    def start_options(self) -> dict[str, Any]:
        """The keyword arguments of `EvolutionManager.start` (after the definition); the
        generator and population fields only when used (older managers do not know them)."""
        options: dict[str, Any] = {"hypothesis": self.hypothesis, "generations": self.generations,
                                   "candidates": self.candidates, "canary": self.canary, "source": self.candidate}
        if self.generator != "mutation":
            options.update(generator=self.generator, model=self.model)
        if self.population is not None or self.resume is not None:
            options.update(population=self.population, resume=self.resume)
        return options
