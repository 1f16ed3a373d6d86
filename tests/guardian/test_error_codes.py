"""One `ErrorCode` enum for every code a guardian refusal carries, and no code nothing produces."""

from __future__ import annotations

import ast
from pathlib import Path

import o_lisp
from o_lisp.guardian._errors import ErrorCode, RequestFailed
from o_lisp.guardian._http import FAILURE_STATUS
from o_lisp.guardian._protocol import Error, decode_frame, encode_frame

PACKAGE = Path(o_lisp.__file__).parent


def _codes_used_outside_their_definition() -> set[str]:
    used: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_errors.py" and path.parent.name == "guardian":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ErrorCode":
                used.add(node.attr)
    return used


def test_every_error_code_is_used_somewhere() -> None:
    assert {code.name for code in ErrorCode} - _codes_used_outside_their_definition() == set()


def test_codes_are_the_plain_strings_on_the_wire() -> None:
    assert ErrorCode.NOT_DURABLE == "not_durable" and f"{ErrorCode.WORKER_DIED}" == "worker_died"
    assert RequestFailed("x").code == "internal"


def test_every_http_failure_status_is_for_a_known_code() -> None:
    assert set(FAILURE_STATUS) <= set(ErrorCode)
    assert FAILURE_STATUS[ErrorCode.NOT_DURABLE] == 503 and FAILURE_STATUS["timeout"] == 504


def test_an_error_frame_with_an_enum_code_carries_the_plain_string() -> None:
    frame = decode_frame(encode_frame(Error(id=1, re=2, code=ErrorCode.NOT_DURABLE, message="m")))
    assert isinstance(frame, Error) and type(frame.code) is str and frame.code == "not_durable"
