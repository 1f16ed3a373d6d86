"""Session-wide set-up: asyncio code under test runs on the guardian's event loop.

`o-lisp serve` runs the guardian on uvloop (`o_lisp.guardian._loop`); the tests that
drive a guardian with ``asyncio.run`` get the same loop through the event loop policy.
"""

from __future__ import annotations

import asyncio

from o_lisp.guardian import _loop

if _loop.loop_name() == "uvloop":
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
