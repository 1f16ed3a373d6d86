"""`examples/evolution_demo.py`, the main job's demo (`make run`), run as users run it.

One real `o-lisp serve` with live traffic, an evolution cycle, a probation, a SIGKILL of
the worker and `o-lisp history`: the demo checks every claim it makes and exits non-zero
otherwise, so this test asserts its exit code and that the narrative's key lines are there.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "evolution_demo.py"


@pytest.mark.timeout(180)
def test_the_evolution_demo_tells_its_story_and_every_claim_holds(tmp_path: Path) -> None:
    data = tmp_path / "calculator"
    started = time.monotonic()
    run = subprocess.run([sys.executable, str(DEMO), "--data", str(data)], capture_output=True, text=True,
                         timeout=170, cwd=tmp_path)
    elapsed = time.monotonic() - started
    out = run.stdout
    assert run.returncode == 0, f"exit {run.returncode}\n{out}\n{run.stderr}"
    assert elapsed < 120, f"the demo took {elapsed:.0f} s\n{out}"

    # (a) serving, and a durable memory write
    assert "(a) The agent serving" in out and "  < 144" in out and "  < 25" in out
    memory_id = re.search(r"memory write acknowledged \(durable\): (\S+)", out)
    assert memory_id, out
    # (b) the cycle: wrong candidates rejected by the tests, one promoted with its evidence
    assert "POST /v1/evolution" in out and "-> 202 evo-1" in out
    assert re.search(r"REJECTED at tests: test square-squares failed", out), out
    promoted = re.search(r"PROMOTED as (\d+\.\d+\.\d+) \(tag v\1, commit [0-9a-f]{7}\)", out)
    assert promoted, out
    version = promoted[1]
    assert re.search(r"evidence: faster: median .* Mann-Whitney p=", out), out
    assert f"probation passed: {version} is the known-good version" in out
    # (c) the crash
    assert re.search(rf"the guardian restarted it in [\d.]+ s: worker pid \d+, version {version}", out), out
    assert f"GET /v1/memory/{memory_id[1]} -> \"the demo's note" in out
    # (d) live traffic: nothing failed; in-flight requests at the kill are shown as unknown
    traffic = re.search(r"(\d+) requests sent .*: (\d+) answered correctly, 0 failed, (\d+) unknown", out)
    assert traffic, out
    sent, ok, unknown = map(int, traffic.groups())
    assert ok > 0 and sent == ok + unknown
    assert out.count("    unknown: ") == unknown
    # (e) the history, from git trailers
    assert re.search(rf"^  [0-9a-f]{{7}}\s+{re.escape(version)}\s.*\bpromoted\b", out, re.MULTILINE), out
    assert re.search(r"^  [0-9a-f]{7}\s+\S+\s+\S+\s+rejected\s", out, re.MULTILINE), out
    assert "P-Latency:" in out
    assert re.search(r"^Done in \d+ s: promoted ", out, re.MULTILINE), out
    # the server is gone: its data directory can be read by `o-lisp history` again, offline
    assert (data / "code").is_dir()
