"""Users' ratings as a canary signal: the pure rule (`_ratings.rating_objection`) and a
live canary stopped by ratings although it runs as well as the stable version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from o_lisp.evolution._decision import Thresholds
from o_lisp.evolution._ratings import RatingThresholds, rating_objection
from o_lisp.guardian._supervisor import Guardian, RequestFailed
from tests.evolution.test_cycle import _config, _evolve_target, _run, _story


def test_worse_ratings_stop_a_canary_only_with_enough_evidence() -> None:
    stable, worse = [1.0, 0.5, 1.0, 1.0, 0.5, 1.0], [-1.0, -0.5, -1.0, -1.0, 0.0]
    why, evidence = rating_objection(stable, worse)
    assert why is not None and why.startswith("users rate it worse: mean -0.70 on 5 rating(s) against +0.83 on 6")
    assert evidence["canary"] == {"n": 5, "mean": -0.7} and evidence["p_value"] < 0.05
    assert rating_objection(stable, worse[:4]) == (None, {"stable": {"n": 6, "mean": 0.8333},
                                                          "canary": {"n": 4, "mean": -0.875}})  # too few
    assert rating_objection(stable, [0.9, 0.5, 1.0, 0.8, 0.6])[0] is None  # a small drop decides nothing
    assert rating_objection([], [])[0] is None
    why, _ = rating_objection([1.0], [-1.0, -0.5, -1.0, -1.0, -0.5])  # no baseline to compare: the floor
    assert why is not None and "below the floor -0.25" in why
    assert rating_objection([1.0], [0.0, 0.0, -0.5, 0.5, 0.0])[0] is None
    with pytest.raises(ValueError, match="alpha"):
        RatingThresholds(alpha=0)


RESULT_RULE = ('(when-> :name double (.startswith msg "double ")\n'
               '  (+ "result: " (str (twice (int (cut msg 7 None))))))')


NOT_ABOUT_SPEED = Thresholds(alpha=0.01, min_latency_change_ms=5.0)
"""The reworded reply runs as fast as the stable one: these tests are about ratings, so a
sub-millisecond latency difference on a loaded machine must not decide the shadow test."""

def test_a_canary_users_rate_worse_is_stopped_and_the_stable_version_keeps_serving(tmp_path: Path) -> None:
    """A reworded reply runs as fast as the stable one; users rate it -1 and the stable +1
    (`feedback` with the reply's id): the canary stops on the ratings, nothing is promoted."""
    config = _config(tmp_path, thresholds=NOT_ABOUT_SPEED)
    rated = {"canary": 0, "stable": 0}
    failures: list[str] = []

    async def rate(g: Guardian, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                answer = await g.request("message", {"text": "double 7", "with_id": True})
                worse = str(answer["reply"]).startswith("result: ")
                rated["canary" if worse else "stable"] += 1
                await g.request("feedback", {"rating": -1.0 if worse else 1.0, "comment": "",
                                             "reply_to": answer["reply_id"]})
            except RequestFailed as error:
                failures.append(f"{error.code}: {error.message}")
            await asyncio.sleep(0.005)

    async def scenario(g: Guardian) -> None:
        stop = asyncio.Event()
        users = asyncio.create_task(rate(g, stop))
        try:
            cycle = await _evolve_target(g, "double", source=RESULT_RULE, origin="feedback", canary=True,
                                         hypothesis="say what the number is")
        finally:
            stop.set()
            await users
        assert cycle["status"] == "rejected", _story(cycle)
        (candidate,) = cycle["candidates"]
        assert candidate["stage"] == "canary", _story(cycle)
        assert "users rate it worse" in candidate["reason"], candidate["reason"]
        assert candidate["evidence"]["ratings"]["canary"]["mean"] == -1.0
        assert rated["canary"] >= 5 and rated["stable"] >= 5 and failures == []
        assert await g.request("message", {"text": "double 4"}) == "8"  # the stable version serves

    _run(config, scenario)


def test_a_promoted_version_users_rate_worse_is_rolled_back_during_probation(tmp_path: Path) -> None:
    """No canary: the reworded reply is promoted; during probation users rate its replies -1
    where they rated the parent's +1, and the guardian rolls it back on the ratings."""
    config = _config(tmp_path, probation_seconds=60.0, thresholds=NOT_ABOUT_SPEED)
    failures: list[str] = []

    async def rate_once(g: Guardian) -> None:
        try:
            answer = await g.request("message", {"text": "double 7", "with_id": True})
            worse = str(answer["reply"]).startswith("result: ")
            await g.request("feedback", {"rating": -1.0 if worse else 1.0, "comment": "",
                                         "reply_to": answer["reply_id"]})
        except RequestFailed as error:
            failures.append(f"{error.code}: {error.message}")

    async def scenario(g: Guardian) -> None:
        for _ in range(6):  # the parent's replies, rated well
            await rate_once(g)
        cycle = await _evolve_target(g, "double", source=RESULT_RULE, origin="feedback",
                                     hypothesis="say what the number is")
        assert cycle["status"] == "promoted", _story(cycle)
        for _ in range(200):
            await rate_once(g)
            if g.evolution.get(cycle["id"])["status"] == "rolled_back":
                break
            await asyncio.sleep(0.05)
        story = g.evolution.get(cycle["id"])
        assert story["status"] == "rolled_back", _story(story)
        assert "users rate it worse" in story["result"]["rollback_reason"], story["result"]
        assert failures == []
        for _ in range(50):  # the rollback reloads the parent in place
            if await g.request("message", {"text": "double 4"}) == "8":
                break
            await asyncio.sleep(0.1)
        assert await g.request("message", {"text": "double 4"}) == "8"

    _run(config, scenario)
