"""The guardian's event loop: uvloop under `o-lisp serve` and under these tests alike."""

from __future__ import annotations

import asyncio

import uvloop

from o_lisp.guardian import _loop


def test_the_guardian_runs_on_uvloop() -> None:
    async def which() -> type:
        return type(asyncio.get_running_loop())

    assert _loop.loop_name() == "uvloop"
    assert _loop.run(which()) is uvloop.Loop


def test_asyncio_run_in_the_test_session_uses_the_same_loop() -> None:
    """tests/conftest.py sets the policy: guardian tests exercise the loop serve uses."""

    async def which() -> type:
        return type(asyncio.get_running_loop())

    assert asyncio.run(which()) is uvloop.Loop


def test_run_returns_the_value_and_raises_the_error() -> None:
    async def value() -> int:
        await asyncio.sleep(0)
        return 42

    async def boom() -> None:
        raise ValueError("boom")

    assert _loop.run(value()) == 42
    try:
        _loop.run(boom())
    except ValueError as error:
        assert str(error) == "boom"
    else:
        raise AssertionError("the error was swallowed")
