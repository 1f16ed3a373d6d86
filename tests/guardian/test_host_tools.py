"""`o-lisp serve --tools FILE --grant NAME`: the tools file travels to the workers by name
(`WorkerSpec.tools`) and is loaded there, never in the guardian; the grants go with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from guardian_harness import make_config, retry, run_guardian, wait_for

from o_lisp import Limits
from o_lisp.guardian._protocol import WorkerSpec, limit_pairs
from o_lisp.guardian._supervisor import Guardian, RequestFailed

ROOT = Path(__file__).resolve().parents[2]

AGENT = textwrap.dedent(
    """\
    (defagent clock
      :version "0.1.0"
      (when-> (= msg "date?") (today))
      (when-> (= msg "pid?") (worker-pid))
      (when-> (= msg "shout") (shout "hi"))
      (when-> (= msg "spin") (for [i (range 100000)] i) "spun"))
    """
)

TOOLS = textwrap.dedent(
    """\
    import os
    TOOLS = {"today": lambda: "2026-11-21", "worker-pid": lambda: str(os.getpid()),
             "shout": lambda text: text.upper()}
    """
)


def test_worker_spec_carries_tools_and_grants() -> None:
    spec = WorkerSpec(agent="a.hy", data_dir="d", tools=("/x/tools.py",), grants=("today", "unsafe:wipe"),
                      limits=limit_pairs(Limits.unlimited().but(steps=500)))
    assert WorkerSpec.from_json(spec.to_json()) == spec
    assert Limits(**dict(spec.limits)) == Limits.unlimited().but(steps=500)
    plain = WorkerSpec.from_json(json.dumps({"agent": "a.hy", "data_dir": "d"}))
    assert (plain.tools, plain.grants, plain.limits) == ((), (), ())
    with pytest.raises(ValueError, match="worker spec grants must be a list of strings"):
        WorkerSpec.from_json(json.dumps({"agent": "a.hy", "data_dir": "d", "grants": "today"}))
    with pytest.raises(ValueError, match=r"worker spec limits are not valid Limits: Limits\.steps must be a positive"):
        WorkerSpec.from_json(json.dumps({"agent": "a.hy", "data_dir": "d", "limits": [["steps", -1]]}))


def test_served_agent_calls_granted_tools_in_its_worker_across_a_restart(tmp_path: Path) -> None:
    tools = tmp_path / "tools.py"
    tools.write_text(TOOLS)

    async def scenario(g: Guardian) -> None:
        assert await g.request("message", {"text": "date?"}) == "2026-11-21"
        pid = await g.request("message", {"text": "pid?"})
        assert pid == str(g.worker_pid) and pid != str(os.getpid())  # the tool ran in the worker
        with pytest.raises(RequestFailed) as refused:
            await g.request("message", {"text": "shout"})
        assert "host tool shout is not granted to agent clock; grant it with --grant shout" in refused.value.message
        old = g.worker_pid
        assert old is not None
        os.kill(old, signal.SIGKILL)  # the next worker (the warm standby or a new one) has them too
        await wait_for(lambda: g.worker_pid not in (None, old))
        assert await retry(g, "message", {"text": "date?"}) == "2026-11-21"

    run_guardian(scenario, make_config(tmp_path, AGENT, tools=(str(tools),), grants=("today", "worker-pid")))


def test_served_agent_runs_under_the_configured_limits(tmp_path: Path) -> None:
    async def scenario(g: Guardian) -> None:
        with pytest.raises(RequestFailed) as stopped:
            await g.request("message", {"text": "spin"})
        assert "step limit of 20000 exceeded" in stopped.value.message

    run_guardian(scenario, make_config(tmp_path, AGENT, limits=Limits(steps=20_000)))


def test_served_agent_has_the_default_limits_otherwise(tmp_path: Path) -> None:
    async def scenario(g: Guardian) -> None:
        assert await g.request("message", {"text": "spin"}) == "spun"

    run_guardian(scenario, make_config(tmp_path, AGENT))


def test_serve_refuses_a_tools_file_that_does_not_load(tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text("TOOLS = 3\n")
    (tmp_path / "clock.hy").write_text(AGENT)
    env = {key: value for key, value in os.environ.items() if not key.startswith("O_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "o_lisp.cli", "serve", "clock.hy", "--port", "0", "--data", "data",
                           "--tools", "tools.py"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert (done.returncode, done.stderr) == (
        2, f"HostToolsError: {tmp_path / 'tools.py'} must define TOOLS = {{name: function, ...}}\n")
    assert not (tmp_path / "data").exists()  # checked before the guardian started


def test_serve_subprocess_with_tools_and_grant(tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text(TOOLS)
    (tmp_path / "clock.hy").write_text(AGENT)
    env = {key: value for key, value in os.environ.items() if not key.startswith("O_")}
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(
        [sys.executable, "-m", "o_lisp.cli", "serve", "clock.hy", "--port", "0", "--data", "data",
         "--tools", "tools.py", "--grant", "today"],
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        seen = [line]
        while "o-lisp: serving" not in line and line and len(seen) < 200:
            line = process.stderr.readline()
            seen.append(line)
        assert "o-lisp: serving" in line, "".join(seen)
        url = line.split(" on ", 1)[1].split(" ", 1)[0].rstrip(",")
        request = urllib.request.Request(f"{url}/v1/messages", data=json.dumps({"text": "date?"}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["reply"] == "2026-11-21"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
