"""The supervision core: real worker processes, real kill -9, hangs, timeouts, crash loops.

Every test runs a real `Guardian` (fork server + worker processes) on a small agent
written to tmp_path, inside `asyncio.run`, and always stops it in a `finally` so a
failing assertion cannot leave processes behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from guardian_harness import UNKNOWN, make_config, retry, run_guardian, wait_for

from o_lisp.guardian._supervisor import ErrorCode, Guardian, GuardianConfig, RequestFailed

AGENT = textwrap.dedent(
    """\
    (defagent tester
      :version "0.1.0"
      :doc "A small agent for the supervisor tests."
      (defmemory notes :dim 64)
      (when-> :name count-it (= msg "count")
        (state-set! "n" (+ 1 (state-get "n" 0)))
        (str (state-get "n" 0)))
      (defn respond [text] (+ "echo: " text)))
    """
)


def _config(tmp_path: Path, **overrides: Any) -> GuardianConfig:
    return make_config(tmp_path, AGENT, **overrides)


_run = run_guardian
_retry = retry
_wait_for = wait_for

CRASHING = AGENT.replace('(defn respond [text] (+ "echo: " text))', '(setv boom (/ 1 0))\n  (defn respond [text] (+ "echo: " text))')



def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_start_requests_checkpoint_stop(tmp_path: Path) -> None:
    pids: list[int] = []

    async def scenario(g: Guardian) -> None:
        health = g.health()
        assert health["status"] == "ok" and health["version"] == "0.1.0" and health["worker_pid"]
        pids.append(health["worker_pid"])
        assert health["last_checkpoint"] is not None  # the initial checkpoint
        assert await g.request("message", {"text": "hi"}) == "echo: hi"
        assert await g.request("message", {"text": "count"}) == "1"
        ids = await g.request("memory_add", {"text": "the sky is blue", "metadata": {"k": 1}, "importance": 0.7})
        assert g.health()["wal_seq"] >= 1 and g.metrics.wal_appends >= 1 and g.metrics.wal_fsyncs >= 1
        block = await g.request("memory_get", {"id": ids[0]})
        assert block["text"] == "the sky is blue" and block["metadata"] == {"k": 1}
        assert await g.request("memory_get", {"id": "nope"}) is None
        hits = await g.request("memory_search", {"q": "sky", "k": 3})
        assert hits[0]["id"] == ids[0]
        versions = await g.request("versions", {})
        assert versions[0]["version"] == "0.1.0" and set(versions[0]) >= {"commit", "summary", "time", "tags", "trailers"}
        with pytest.raises(RequestFailed) as bad:
            await g.request("memory_add", {"text": 5})
        assert bad.value.code == "bad_request"
        with pytest.raises(RequestFailed) as unknown:
            await g.request("launch_missiles", {})
        assert unknown.value.code == "unknown_method"
        info = await g.checkpoint()
        assert info["wal_seq"] == g.health()["wal_seq"]
        assert g.metrics.checkpoints >= 2 and g.metrics.requests[("message", "ok")] == 2
        assert g.known_good is not None and g.known_good["commit"] == g.health()["commit"]

    _run(scenario, _config(tmp_path))
    assert _gone(pids[0])  # reaped, not a zombie (the zygote waited for it, then exited)
    assert (tmp_path / "data" / "known_good").exists()

    # A new guardian on the same data: state from checkpoint + WAL, including the counter.
    async def again(g: Guardian) -> None:
        assert await g.request("message", {"text": "count"}) == "2"
        assert len(await g.request("memory_search", {"q": "sky", "k": 5})) == 1

    _run(again, _config(tmp_path))


def test_guardian_does_not_import_agent_code() -> None:
    code = (
        "import sys, o_lisp.guardian._supervisor\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'numba', 'pygit2')"
        " or m.startswith('o_lisp.agent') or m.startswith('o_lisp.memory'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    async def scenario(g: Guardian) -> None:
        ids = await g.request("memory_add", {"text": "remember the milk"})
        old = g.worker_pid
        assert old is not None
        os.kill(old, signal.SIGKILL)
        block = await _retry(g, "memory_get", {"id": ids[0]})
        assert block is not None and block["text"] == "remember the milk"
        assert g.worker_pid != old and g.metrics.restarts == 1
        blocks = await g.request("debug_blocks", {})
        assert [text for _, text in blocks] == ["remember the milk"]
        assert g.metrics.restart_to_serving_seconds[-1] < 5.0
        assert _gone(old)

    _run(scenario, _config(tmp_path))


async def _chaos(g: Guardian, rounds: int, seed: int) -> None:
    """Concurrent writers + kill -9 at random moments; every ok write present exactly once."""
    rng = random.Random(seed)
    outcomes: dict[str, tuple[str, Any]] = {}  # text -> (ok|failed|unknown, ids or code)
    stop = asyncio.Event()

    async def writer(w: int) -> None:
        i = 0
        while not stop.is_set():
            text = f"note {w} {i} {rng.random():.6f}"
            i += 1
            try:
                ids = await g.request("memory_add", {"text": text})
                outcomes[text] = ("ok", ids)
            except RequestFailed as error:
                outcomes[text] = ("unknown" if error.code in UNKNOWN else "failed", error.code)
                if error.code in UNKNOWN:
                    await asyncio.sleep(0.005)

    writers = [asyncio.create_task(writer(w)) for w in range(4)]
    try:
        for _ in range(rounds):
            await _wait_for(lambda: g.worker_pid is not None)
            await asyncio.sleep(rng.uniform(0.0, 0.15))
            pid = g.worker_pid
            if pid is not None:
                # The worker may have died and been reaped since `worker_pid` was read.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(rng.uniform(0.0, 0.05))
    finally:
        stop.set()
        await asyncio.gather(*writers)
    blocks = await _retry(g, "debug_blocks", {})
    texts = [text for _, text in blocks]
    assert len(texts) == len(set(texts)), "a write was applied twice"
    present = set(texts)
    by_id = dict(blocks)
    ok = [(text, ids) for text, (kind, ids) in outcomes.items() if kind == "ok"]
    assert ok, "no write was acknowledged"
    for text, ids in ok:
        assert text in present, f"acknowledged write lost: {text}"
        assert by_id[ids[0]] == text
    for text, (kind, code) in outcomes.items():
        if kind == "failed":
            assert text not in present, f"a write that failed with {code} was applied"
    assert present <= set(outcomes)
    assert g.metrics.restarts >= 1


@pytest.mark.parametrize("seed", [1])
def test_kill_9_under_concurrent_writes(tmp_path: Path, seed: int) -> None:
    _run(lambda g: _chaos(g, rounds=10, seed=seed), _config(tmp_path, max_restarts=1000, checkpoint_wal_records=40), limit=60)


@pytest.mark.slow
def test_kill_9_under_concurrent_writes_soak(tmp_path: Path) -> None:
    _run(lambda g: _chaos(g, rounds=60, seed=7), _config(tmp_path, max_restarts=10_000, checkpoint_wal_records=100), limit=600)


def test_hung_worker_is_killed_and_restored(tmp_path: Path) -> None:
    async def scenario(g: Guardian) -> None:
        ids = await g.request("memory_add", {"text": "still here after the hang"})
        old = g.worker_pid
        started = time.monotonic()
        with pytest.raises(RequestFailed) as failed:
            await g.request("debug_hang", {"seconds": 60}, timeout=30)
        assert failed.value.code == ErrorCode.WORKER_DIED
        assert time.monotonic() - started < 10  # heartbeat_timeout 1.5 s, not the request's 30 s
        await _wait_for(lambda: g.metrics.restarts == 1)
        assert g.metrics.hangs == 1 and "no heartbeat" in (g.last_failure or "")
        block = await _retry(g, "memory_get", {"id": ids[0]})
        assert block["text"] == "still here after the hang"
        assert g.worker_pid != old and old is not None and _gone(old)

    _run(scenario, _config(tmp_path))


def test_request_timeout_answers_with_an_error(tmp_path: Path) -> None:
    async def scenario(g: Guardian) -> None:
        pid = g.worker_pid
        with pytest.raises(RequestFailed) as failed:
            await g.request("debug_sleep", {"seconds": 2.5}, timeout=0.3)
        assert failed.value.code == "timeout"
        # Busy, not hung: heartbeats continue, so it is not killed; it serves again after.
        assert await g.request("message", {"text": "after"}) == "echo: after"
        assert g.worker_pid == pid and g.metrics.restarts == 0
        assert g.metrics.requests[("debug_sleep", "timeout")] == 1

    _run(scenario, _config(tmp_path))


def test_crash_loop_escalates_to_last_known_good(tmp_path: Path) -> None:
    from o_lisp.agent._dsl import read_agent
    from o_lisp.agent._repo import CodeRepository

    async def scenario(g: Guardian) -> None:
        ids = await g.request("memory_add", {"text": "kept across the rollback"})
        assert await g.request("message", {"text": "hi"}) == "echo: hi"
        good = g.known_good
        assert good is not None
        repo = CodeRepository.open(tmp_path / "data" / "code")
        boom = next(d for d in read_agent(CRASHING, "crashing.hy").definitions if d.name == "boom")
        bad_commit = repo.commit_definition(boom, "Add a definition that crashes at load")
        os.kill(g.worker_pid or 0, signal.SIGKILL)
        await _wait_for(lambda: g.metrics.escalations == 1 and g.worker_pid is not None, limit=30)
        assert g.last_escalation is not None and g.last_escalation["to"] == good["commit"]
        assert bad_commit in g.last_escalation["from"]
        assert await g.request("message", {"text": "again"}) == "echo: again"
        assert (await g.request("memory_get", {"id": ids[0]}))["text"] == "kept across the rollback"
        head = CodeRepository.open(tmp_path / "data" / "code").history()[0]
        assert head.summary.startswith("Rollback to")
        assert head.trailers["Rollback-To"] == good["commit"]
        assert head.trailers["Rolled-Back-By"] == "guardian"
        assert "crash-looped" in head.summary and "ZeroDivisionError" in head.summary
        assert g.health()["status"] == "ok" and g.health()["commit"] == head.commit

    _run(scenario, _config(tmp_path, max_restarts=2), limit=60)


def test_workers_die_with_the_guardian(tmp_path: Path) -> None:
    """kill -9 of the guardian itself: the zygote and the worker follow (no orphans)."""
    config = _config(tmp_path)
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys
        from pathlib import Path
        from o_lisp.guardian._supervisor import Guardian, GuardianConfig
        async def main():
            g = Guardian(GuardianConfig(agent=Path({str(config.agent)!r}), data_dir=Path({str(config.data_dir)!r})))
            await g.start()
            print(g.worker_pid, g._fork_server.process.pid, flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            worker, zygote = (int(x) for x in process.stdout.readline().split())
            process.kill()
            process.wait()
            deadline = time.monotonic() + 10
            while not (_gone(worker) and _gone(zygote)) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _gone(worker) and _gone(zygote)
        finally:
            process.kill()


PRINTING = AGENT.replace(
    '(defn respond [text] (+ "echo: " text))',
    '(when-> :name shout (= msg "shout") (print "the agent says hi") "ok")\n  (defn respond [text] (+ "echo: " text))',
)


def test_worker_output_and_crash_tracebacks_go_to_the_worker_log(tmp_path: Path) -> None:
    from o_lisp.agent._dsl import read_agent
    from o_lisp.agent._repo import CodeRepository

    config = make_config(tmp_path, PRINTING, max_restarts=1)

    async def scenario(g: Guardian) -> None:
        assert g.health()["worker_log"] == str(tmp_path / "data" / "logs" / "worker.log")
        assert await g.request("message", {"text": "shout"}) == "ok"
        repo = CodeRepository.open(tmp_path / "data" / "code")
        boom = next(d for d in read_agent(CRASHING, "crashing.hy").definitions if d.name == "boom")
        repo.commit_definition(boom, "Add a definition that crashes at load")
        os.kill(g.worker_pid or 0, signal.SIGKILL)  # the next worker loads the crashing code
        await _wait_for(lambda: g.metrics.escalations == 1 and g.worker_pid is not None, limit=30)

    _run(scenario, config)
    text = (tmp_path / "data" / "logs" / "worker.log").read_text("utf-8", "replace")
    assert "the agent says hi" in text
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError" in text


def test_the_worker_log_rotates_by_size(tmp_path: Path) -> None:
    from o_lisp.guardian._process import WorkerLog

    path = tmp_path / "logs" / "worker.log"

    async def main() -> None:
        worker_log = WorkerLog(path, max_bytes=100, files=3)
        await worker_log.open()
        try:
            for i in range(10):
                worker_log.write(f"line {i}: {'x' * 40}\n".encode())  # 50 bytes: two per file
        finally:
            worker_log.close()
            await asyncio.sleep(0)  # the transport closes on the next loop iteration

    asyncio.run(main())
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["worker.log", "worker.log.1", "worker.log.2"]  # the oldest were dropped
    assert path.read_text().startswith("line 8:") and "line 9:" in path.read_text()
    assert (path.parent / "worker.log.2").read_text().startswith("line 4:")
    assert all(p.stat().st_size <= 100 for p in path.parent.iterdir())


def test_the_warm_standby_takes_over_after_kill_9_with_the_wal_since_its_checkpoint(tmp_path: Path) -> None:
    async def scenario(g: Guardian) -> None:
        await g.request("memory_add", {"text": "in the checkpoint"})
        await g.checkpoint("test")
        await _wait_for(lambda: g.standby.worker is not None)
        standby = g.standby.worker
        assert standby is not None and standby.child.pid != g.worker_pid
        await g.request("memory_add", {"text": "only in the WAL"})
        assert await g.request("message", {"text": "count"}) == "1"
        os.kill(g.worker_pid or 0, signal.SIGKILL)
        blocks = await _retry(g, "debug_blocks", {})
        assert sorted(text for _, text in blocks) == ["in the checkpoint", "only in the WAL"]
        assert g.worker_pid == standby.child.pid  # the standby serves now
        assert g.metrics.standby_activations == 1 and g.metrics.restarts == 1
        assert await g.request("message", {"text": "count"}) == "2"
        await _wait_for(lambda: g.standby.worker is not None)  # and a new standby is prepared
        assert g.standby.worker is not None and g.standby.worker.child.pid not in (standby.child.pid,)

    _run(scenario, _config(tmp_path))


def test_a_standby_starts_while_the_serving_worker_is_mid_commit(tmp_path: Path) -> None:
    """The standby reads the repository at one commit and never needs a clean worktree:
    the serving worker may be writing one (a rewrite, a rollback) while it starts."""

    async def scenario(g: Guardian) -> None:
        await _wait_for(lambda: g.standby.worker is not None)
        worktree = tmp_path / "data" / "code" / "agent.hy"
        committed = worktree.read_text("utf-8")
        worktree.write_text(committed + "\n;; half-written by a commit in progress\n", "utf-8")
        try:
            first = g.standby.worker
            await g.checkpoint("test")  # refreshes the standby
            await _wait_for(lambda: g.standby.worker is not None and g.standby.worker is not first)
        finally:
            worktree.write_text(committed, "utf-8")
        standby = g.standby.worker
        assert standby is not None
        os.kill(g.worker_pid or 0, signal.SIGKILL)
        assert await _retry(g, "message", {"text": "hi"}) == "echo: hi"
        assert g.worker_pid == standby.child.pid and g.metrics.standby_activations == 1

    _run(scenario, _config(tmp_path))


def test_a_standby_is_not_made_while_seed_edits_wait_to_be_imported(tmp_path: Path) -> None:
    """Only a serving worker imports seed edits (it commits them): a standby made before
    that would load the old code, so none is made, and a fresh worker takes over."""

    async def scenario(g: Guardian) -> None:
        await _wait_for(lambda: g.standby.worker is not None)
        seed = tmp_path / "tester.hy"
        seed.write_text(AGENT.replace('(+ "echo: " text)', '(+ "edited: " text)'), "utf-8")
        await g.checkpoint("test")  # refreshes the standby: it refuses to start
        await _wait_for(lambda: g.standby.preparing is not None and g.standby.preparing.done())
        assert g.standby.worker is None
        os.kill(g.worker_pid or 0, signal.SIGKILL)
        assert await _retry(g, "message", {"text": "hi"}) == "edited: hi"
        assert g.metrics.standby_activations == 0

    _run(scenario, _config(tmp_path))


def test_a_standby_with_outdated_code_does_not_take_over(tmp_path: Path) -> None:
    from o_lisp.agent._dsl import read_agent
    from o_lisp.agent._repo import CodeRepository

    async def scenario(g: Guardian) -> None:
        await _wait_for(lambda: g.standby.worker is not None)
        standby = g.standby.worker
        assert standby is not None
        repo = CodeRepository.open(tmp_path / "data" / "code")
        source = AGENT.replace('(+ "echo: " text)', '(+ "new code: " text)')
        respond = next(d for d in read_agent(source, "new.hy").definitions if d.name == "respond")
        repo.commit_definition(respond, "Answer differently")  # HEAD moves; no hot reload
        os.kill(g.worker_pid or 0, signal.SIGKILL)
        assert await _retry(g, "message", {"text": "hi"}) == "new code: hi"  # HEAD, not the standby's code
        assert g.worker_pid != standby.child.pid and standby.dead.done()
        assert g.metrics.standby_fallbacks == 1 and g.metrics.standby_activations == 0

    _run(scenario, _config(tmp_path))
