"""`o-lisp test AGENT.hy [--data DIR]`: an agent's deftests, one line each, exact output and
exit codes (0 passed, 1 a test failed or the agent does not load, 2 usage error)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from o_lisp import read
from o_lisp.agent._agent import Agent
from o_lisp.agent._state import AgentState
from o_lisp.cli import main
from o_lisp.guardian._vault import Vault
from o_lisp.guardian._wal import WriteAheadLog

ROOT = Path(__file__).resolve().parent.parent

SQUARER = """\
(defagent squarer
  :version "1.0.0"
  (defn square [x] (+ x x))
  (deftest two (assert (= (square 2) 4)))
  (deftest three (assert (= (square 3) 9)))
  (deftest returns-false (= 1 2)))
"""

COUNTER = """\
(defagent counter
  :version "2.0.0"
  (defn step [] 1)
  (deftest step-is-one (assert (= (step) 1)))
  (deftest state-n (assert (= (state-get "n" 0) 3)))
  (deftest state-m (assert (= (state-get "m" 0) 7))))
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["test", *args], catch_exceptions=False, prog_name="o-lisp")


def check(result: Result, exit_code: int, stdout: str, stderr: str = "") -> None:
    assert (result.exit_code, result.stdout, result.stderr) == (exit_code, stdout, stderr)


def test_passing_tests_exit_0(workdir: Path) -> None:
    (workdir / "greeter.hy").write_text((ROOT / "agents" / "greeter.hy").read_text())
    check(invoke("greeter.hy"), 0, "greeter.hy::greeting-is-polite PASSED\ngreeter 0.1.0: 1 passed, 0 failed\n")
    assert not (workdir / ".o").exists()  # a fresh agent writes nothing


def test_failing_tests_show_the_reason_and_exit_1(workdir: Path) -> None:
    (workdir / "squarer.hy").write_text(SQUARER)
    check(invoke("squarer.hy"), 1, (
        "squarer.hy::two PASSED\n"
        "squarer.hy::three FAILED: squarer.hy:5:18: AssertionError: (= (square 3) 9): 6 != 9\n"
        "squarer.hy::returns-false FAILED: returned False\n"
        "squarer 1.0.0: 1 passed, 2 failed\n"
    ))


def test_an_agent_without_tests_passes(workdir: Path) -> None:
    (workdir / "quiet.hy").write_text('(defagent quiet (defn f [] 1))')
    check(invoke("quiet.hy"), 0, "quiet 0.1.0: no tests (the agent has no deftest)\n")


def test_an_agent_that_does_not_load_is_a_program_error(workdir: Path) -> None:
    (workdir / "broken.hy").write_text("(defagent broken\n  (setv ratio (/ 1 0)))\n")
    result = invoke("broken.hy")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines()[0] == "ProgramError: broken.hy:2:15: ZeroDivisionError: division by zero"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("missing.hy",), "cannot test 'missing.hy': no such file"),
        (("script.hy",), "cannot test 'script.hy': it is not an agent (no top-level (defagent ...))"),
        (("squarer.hy", "--data", "nowhere"), "no agent repository in 'nowhere' (looked for nowhere/code)"),
        (("latin1.hy",), "cannot test 'latin1.hy': not valid UTF-8"),
    ],
)
def test_usage_errors_exit_2(workdir: Path, args: tuple[str, ...], error: str) -> None:
    (workdir / "squarer.hy").write_text(SQUARER)
    (workdir / "script.hy").write_text('(print "hi")')
    (workdir / "latin1.hy").write_bytes(b"(defagent caf\xe9)")
    result = invoke(*args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.endswith(f"Error: {error}\n")


def test_without_an_argument_is_a_usage_error(workdir: Path) -> None:
    result = invoke()
    assert result.exit_code == 2
    assert "Missing argument 'AGENT.hy'" in result.stderr


def _digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_with_data_the_live_code_runs_on_a_copy_of_the_live_state(workdir: Path) -> None:
    """The repository's code (after a rewrite) and the newest checkpoint plus the WAL records
    after it; the data directory is left byte for byte as it was, even while its WAL is
    locked by a writer (a running server)."""
    seed = workdir / "counter.hy"
    seed.write_text(COUNTER)
    data = workdir / "data"
    Agent.load(seed, data)  # the repository
    state = AgentState("id-1", "counter", "2.0.0")
    state.apply("context_set", {"key": "n", "value": 3, "time": 0.0})
    with WriteAheadLog(data / "wal", fsync=lambda fd: None) as wal:
        wal.append("context_set", {"key": "n", "value": 1, "time": 0.0})  # seq 1: covered by the checkpoint
        wal.append("context_set", {"key": "m", "value": 7, "time": 0.0})  # seq 2: replayed
        with Vault(data / "checkpoints", fsync=lambda fd: None) as vault:
            vault.write(state.to_data(), 1)
        before = _digest(data)
        check(invoke("counter.hy", "--data", "data"), 0, (
            "counter.hy::step-is-one PASSED\n"
            "counter.hy::state-n PASSED\n"
            "counter.hy::state-m PASSED\n"
            "counter 2.0.0: 3 passed, 0 failed\n"
        ))
        assert _digest(data) == before
    fresh = invoke("counter.hy")
    assert fresh.exit_code == 1
    assert fresh.stdout.splitlines()[-1] == "counter 2.0.0: 1 passed, 2 failed"


def test_with_data_a_live_rewrite_is_what_is_tested(workdir: Path) -> None:
    seed = workdir / "squarer.hy"
    seed.write_text(SQUARER.replace("(deftest returns-false (= 1 2))", ""))
    data = workdir / "data"
    agent = Agent.load(seed, data)
    result = agent.rewrite("square", read("(defn square [x] (* x x))"), reason="square, not double", bump="patch")
    assert result.accepted, result.failures
    code = data / "code" / "defs"
    check(invoke("squarer.hy", "--data", "data"), 0, (
        "squarer.hy::two PASSED\n"
        "squarer.hy::three PASSED\n"
        "squarer 1.0.1: 2 passed, 0 failed\n"
    ))
    assert (code / "square.hy").read_text() == "(defn square [x] (* x x))\n"
    assert invoke("squarer.hy").exit_code == 1  # the seed still doubles
