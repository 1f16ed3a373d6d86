"""The typed request records (`o_lisp.guardian._requests`): built once from what a client
sent, refusing mistakes with the field and code the HTTP layer answers with."""

from __future__ import annotations

import pytest

from o_lisp._errors import OLispError
from o_lisp.guardian._requests import (
    DEFAULT_K,
    EvolutionStart,
    Feedback,
    InvalidRequest,
    MemoryAdd,
    MemoryGet,
    MemorySearch,
    MessageRequest,
)


def _refusal(build: object, *args: object) -> tuple[str, str, str | None]:
    with pytest.raises(InvalidRequest) as caught:
        build(*args)  # type: ignore[operator]
    return caught.value.code, caught.value.message, caught.value.field


def test_records_carry_exactly_what_the_worker_is_sent() -> None:
    assert MessageRequest.from_body({"text": "hi"}).as_args() == {"text": "hi", "with_id": True}
    assert MessageRequest.from_body({"text": "hi", "stream": True}).as_args() == {"text": "hi", "with_id": True,
                                                                                "stream": True}
    assert MemoryAdd.from_body({"text": "note", "metadata": {"a": [1]}, "importance": 1}).as_args() == {
        "text": "note", "metadata": {"a": [1]}, "importance": 1.0}
    assert MemoryAdd.from_body({"text": "note"}).as_args() == {"text": "note", "metadata": {}, "importance": 0.5}
    assert MemorySearch.from_query({"q": "cats"}).as_args() == {"q": "cats", "k": DEFAULT_K}
    assert MemorySearch.from_query({"q": "cats", "k": " 7"}).as_args() == {"q": "cats", "k": 7}
    assert MemoryGet.from_path("b-1").as_args() == {"id": "b-1"}
    assert (MessageRequest.method, MemoryAdd.method, MemorySearch.method, MemoryGet.method) == (
        "message", "memory_add", "memory_search", "memory_get")


def test_records_are_immutable_values() -> None:
    record = MemoryAdd.from_body({"text": "note"})
    with pytest.raises(AttributeError):
        record.text = "other"  # type: ignore[misc]
    assert record == MemoryAdd("note", {}, 0.5)


def test_mistakes_name_the_field_and_the_code() -> None:
    assert _refusal(MessageRequest.from_body, {"txt": "hi"}) == (
        "unknown_field", "unknown field 'txt' (allowed: text, stream)", "txt")
    assert _refusal(MessageRequest.from_body, {}) == ("missing_field", "field 'text' is required", "text")
    assert _refusal(MessageRequest.from_body, {"text": "hi", "stream": "yes"}) == (
        "invalid_field", "field 'stream' must be true or false, got a string", "stream")
    assert _refusal(MemoryAdd.from_body, {"text": "  "}) == (
        "invalid_field", "field 'text' must not be empty or blank", "text")
    assert _refusal(MemoryAdd.from_body, {"text": "x", "importance": True}) == (
        "invalid_field", "field 'importance' must be a number, got a boolean", "importance")
    assert _refusal(MemoryAdd.from_body, {"text": "x", "metadata": {"n": 2**64}}) == (
        "invalid_field", f"field 'metadata' holds an integer outside [{-(2**63)}, {2**64 - 1}]", "metadata")
    assert _refusal(MemoryAdd.from_body, {"text": "\ud800"}) == (
        "invalid_field", "field 'text' contains an unpaired surrogate (not encodable as UTF-8)", "text")
    assert _refusal(MemorySearch.from_query, {"q": "x", "k": "0"}) == (
        "invalid_parameter", "query parameter 'k' must be an integer from 1 to 100, got '0'", "k")
    assert _refusal(MemorySearch.from_query, {}) == ("missing_parameter", "query parameter 'q' is required", "q")
    assert _refusal(MemoryGet.from_path, "x" * 300) == (
        "invalid_parameter", "memory id longer than 256 characters", "id")


def test_a_refusal_is_a_user_error_under_the_one_root() -> None:
    with pytest.raises(OLispError) as caught:
        MemoryAdd.from_body({"text": 3})
    assert getattr(caught.value, "exit_code", None) == 2


def test_feedback_takes_exactly_one_of_rating_and_stars() -> None:
    assert Feedback.from_body({"stars": 5, "reply_id": "r-1"}).as_args() == {"rating": 1.0, "comment": "",
                                                                            "reply_to": "r-1"}
    assert Feedback.from_body({"rating": -0.5, "comment": "meh"}) == Feedback(-0.5, "meh", None)
    both = ("invalid_field", "exactly one of 'rating' (a number from -1 to 1) and 'stars' (an integer from 1 to 5) "
                             "is required", "rating")
    assert _refusal(Feedback.from_body, {"rating": 1, "stars": 5}) == both
    assert _refusal(Feedback.from_body, {})[0] == "missing_field"
    assert _refusal(Feedback.from_body, {"stars": 2.0}) == (
        "invalid_field", "field 'stars' must be an integer from 1 to 5, got a fractional number", "stars")


def test_an_evolution_request_is_checked_once_and_says_what_the_manager_gets() -> None:
    plain = EvolutionStart.from_body({"definition": "greet", "generations": 2})
    assert plain.start_options() == {"hypothesis": "", "generations": 2, "candidates": 4, "canary": False,
                                     "source": None}
    population = EvolutionStart.from_body({"definition": "greet", "population": 10, "seed": 3, "generator": "mixed"})
    options = population.start_options()
    assert (options["generator"], options["model"], options["resume"]) == ("mixed", None, None)
    assert (options["population"].population, options["population"].seed) == (10, 3)
    assert _refusal(EvolutionStart.from_body, {"definition": "a b"})[1] == (
        "field 'definition' must be a definition name (no whitespace or control characters, no leading '#')")
    assert _refusal(EvolutionStart.from_body, {"definition": "greet", "population": 10, "candidates": 3})[2] == (
        "candidates")
    assert _refusal(EvolutionStart.from_body, {"definition": "greet", "seed": 1})[1] == (
        "field 'seed' needs population (or resume): it is a setting of a population cycle")
