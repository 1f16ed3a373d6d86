"""`o-lisp run` keeps the agent's state and memory in its data directory (checkpoints + WAL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from o_lisp.agent._agent import _memory_from_data
from o_lisp.agent._durable import DurableState, DurableStateError, durable_agent
from o_lisp.agent._state import AgentState
from o_lisp.cli import main
from o_lisp.guardian._vault import Vault
from o_lisp.guardian._wal import WriteAheadLog

ROOT = Path(__file__).resolve().parents[2]
ASSISTANT = str(ROOT / "agents" / "assistant.hy")
GREETER = str(ROOT / "agents" / "greeter.hy")


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[CliRunner]:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield CliRunner()
    finally:
        os.chdir(old)


def run(runner: CliRunner, data: Path, *messages: str, extra: tuple[str, ...] = ()) -> str:
    args = ["run", ASSISTANT, "--data", str(data), *extra]
    for message in messages:
        args += ["-m", message]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_second_run_recalls_what_the_first_was_told(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "D"
    assert run(runner, data, "remember the key is under the mat") == "Noted.\n"
    assert run(runner, data, "where is the key?", "how many notes?") == (
        "From my notes: the key is under the mat.\nI have 1 notes.\n"
    )
    # The memory itself (not only the counter in the state) came back.
    with durable_agent(ASSISTANT, data) as run_:
        agent = run_.agent
        [store] = agent.state.memory_stores.values()
        assert [store.get(i).text for i in store.ids()] == ["the key is under the mat"]
        texts = [m["text"] for m in agent.state["messages"]]
        assert texts[:2] == ["remember the key is under the mat", "Noted."]


def test_the_data_directory_is_the_guardians_format(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "D"
    run(runner, data, "remember the key is under the mat")
    listed = runner.invoke(main, ["checkpoints", "list", str(data)])
    assert listed.exit_code == 0
    [line] = listed.output.splitlines()
    assert line.startswith("ckpt-00000000000000000001.o  id=1  wal_seq=")
    verified = runner.invoke(main, ["wal", "verify", str(data)])
    assert verified.exit_code == 0, verified.output
    assert verified.output.splitlines()[-1].startswith("OK: ")
    with WriteAheadLog(data / "wal") as wal:
        ops = [op for _seq, op, _args in wal.replay(0)]
    assert "memory_apply" in ops and "append_message" in ops
    with Vault(data / "checkpoints", readonly=True) as vault:
        loaded = vault.load_latest()
    assert loaded is not None and loaded.info.wal_seq == len(ops)
    state = AgentState.from_data(loaded.data, _memory_from_data)
    assert state.data["context"]["notes"] == 1


def test_fresh_starts_empty_and_stays_empty(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "D"
    run(runner, data, "remember the key is under the mat")
    assert run(runner, data, "how many notes?", "where is the key?", extra=("--fresh",)) == (
        "I have 0 notes.\nI don't know yet. Tell me with: remember ...\n"
    )
    # The old records are never replayed onto the fresh state.
    assert run(runner, data, "how many notes?") == "I have 0 notes.\n"
    assert run(runner, data, "remember the car is red", "how many notes?") == "Noted.\nI have 1 notes.\n"


def test_a_second_process_on_the_same_data_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "D"
    run(runner, data, "remember the key is under the mat")
    with durable_agent(ASSISTANT, data):
        result = runner.invoke(main, ["run", ASSISTANT, "--data", str(data), "-m", "how many notes?"])
    assert result.exit_code == 1
    assert result.output.startswith(f"DurableStateError: {data} is in use by another o-lisp process")


def test_a_seed_that_does_not_load_leaves_no_storage(runner: CliRunner, tmp_path: Path) -> None:
    seed = tmp_path / "broken.hy"
    seed.write_text("(defagent broken\n  (defmemory notes :dim 0))\n")
    result = runner.invoke(main, ["run", str(seed), "--data", str(tmp_path / "D"), "-m", "hi"])
    assert result.exit_code == 1
    assert not (tmp_path / "D").exists()  # nothing committed, no storage left behind


def _spawn(data: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "o_lisp.cli", "run", ASSISTANT, "--data", str(data)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


@pytest.mark.parametrize("checkpoint_first", [False, True], ids=["wal-only", "checkpoint-then-wal"])
def test_kill_9_loses_nothing_that_was_answered(runner: CliRunner, tmp_path: Path, checkpoint_first: bool) -> None:
    data = tmp_path / "D"
    facts = ["the key is under the mat", "the car is red", "lunch is at noon"]
    if checkpoint_first:
        run(runner, data, "remember the office is on the third floor")
    process = _spawn(data)
    assert process.stdin is not None and process.stdout is not None
    try:
        for fact in facts:
            process.stdin.write(f"remember {fact}\n")
            process.stdin.flush()
            assert process.stdout.readline() == "Noted.\n"
        # Answered, and the process still runs (waiting for the next line): kill it.
        assert process.poll() is None
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdin.close()
        process.stdout.close()
        assert process.stderr is not None
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    expected = len(facts) + checkpoint_first
    assert run(runner, data, "how many notes?", "where is the car?", "when is lunch?") == (
        f"I have {expected} notes.\nFrom my notes: the car is red.\nFrom my notes: lunch is at noon.\n"
    )
    with durable_agent(ASSISTANT, data) as run_:
        agent = run_.agent
        [store] = agent.state.memory_stores.values()
        texts = {store.get(i).text for i in store.ids()}
    assert set(facts) <= texts and len(texts) == expected


# -- the mechanism --------------------------------------------------------------------------------


def _open(data: Path, **options: Any) -> DurableState:
    return DurableState.open(data, "a", "1.0.0", _memory_from_data, **options)


def test_each_mutation_is_durable_before_it_is_applied(tmp_path: Path) -> None:
    durable = _open(tmp_path)
    seen: list[tuple[int, int]] = []
    durable.state.on_mutation(lambda seq, op, args: seen.append((seq, durable.wal.last_seq)))
    durable.state.apply("context_set", {"key": "k", "value": 1})
    durable.state.apply("context_set", {"key": "k", "value": 2})
    assert seen == [(1, 1), (2, 2)]  # the WAL's durable seq already covered each record
    durable.close()
    again = _open(tmp_path)
    assert again.state.data["context"] == {"k": 2} and again.replayed == 0
    again.close()


def test_a_mutation_logged_but_not_applied_is_left_to_the_replay(tmp_path: Path) -> None:
    durable = _open(tmp_path)
    durable.state.apply("context_set", {"key": "a", "value": 1})

    def interrupted(seq: int, op: str, args: dict[str, Any]) -> None:
        raise KeyboardInterrupt  # after the WAL append (registered later), before applying

    durable.state.on_mutation(interrupted)
    with pytest.raises(KeyboardInterrupt):
        durable.state.apply("context_set", {"key": "b", "value": 2})
    assert durable.state.data["context"] == {"a": 1}
    assert durable.covered_seq() == 1 and durable.wal.last_seq == 2
    durable.close()
    again = _open(tmp_path)
    assert again.state.data["context"] == {"a": 1, "b": 2} and again.replayed == 1
    again.close()


def test_a_failed_append_changes_nothing(tmp_path: Path) -> None:
    durable = _open(tmp_path)
    durable.state.apply("context_set", {"key": "a", "value": 1})
    durable.wal.close()  # appends now fail
    with pytest.raises(DurableStateError, match="mutation 'context_set' is not durable \\(nothing was changed\\)"):
        durable.state.apply("context_set", {"key": "a", "value": 2})
    assert durable.state.data["context"] == {"a": 1}
    durable.vault.close()


def test_a_state_of_another_agent_is_refused(tmp_path: Path) -> None:
    _open(tmp_path).close()
    with pytest.raises(DurableStateError, match="holds the state of agent 'a', not 'b'"):
        DurableState.open(tmp_path, "b", "1.0.0", _memory_from_data)


def test_a_wal_without_its_checkpoint_is_refused(tmp_path: Path) -> None:
    durable = _open(tmp_path)
    for n in range(3):
        durable.state.apply("context_set", {"key": "k", "value": "x" * 400_000 + str(n)})
    durable.close()  # the checkpoint lets compaction drop the first segments
    with Vault(tmp_path / "checkpoints") as vault:
        for info in vault.list():
            info.path.unlink()
    with pytest.raises(DurableStateError, match=r"no checkpoint in .* and the WAL .* starts at seq"):
        _open(tmp_path)


def test_a_batch_is_durable_with_one_fsync_before_it_ends(tmp_path: Path) -> None:
    syncs: list[int] = []
    durable = _open(tmp_path, fsync=lambda fd: (syncs.append(fd), os.fsync(fd))[0])
    before = durable.wal.last_seq
    with durable.batch():
        durable.state.apply("context_set", {"key": "a", "value": 1})
        durable.state.apply("context_set", {"key": "b", "value": [1, 2]})
        assert durable.wal.last_seq == before  # nothing logged yet
        syncs.clear()
    assert durable.wal.last_seq == before + 2 and len(syncs) == 1
    durable.close(checkpoint=False)
    again = _open(tmp_path)
    assert again.state.data["context"] == {"a": 1, "b": [1, 2]} and again.replayed == 2
    again.close()


def test_a_failing_batch_keeps_what_was_applied_and_drops_what_was_not(tmp_path: Path) -> None:
    durable = _open(tmp_path)

    def interrupt_b(seq: int, op: str, args: dict[str, Any]) -> None:
        if args["key"] == "b":
            raise KeyboardInterrupt

    durable.state.on_mutation(interrupt_b)
    with pytest.raises(KeyboardInterrupt), durable.batch():
        durable.state.apply("context_set", {"key": "a", "value": 1})
        durable.state.apply("context_set", {"key": "b", "value": 2})
    assert durable.state.data["context"] == {"a": 1}
    durable.close(checkpoint=False)
    again = _open(tmp_path)
    assert again.state.data["context"] == {"a": 1} and again.replayed == 1
    again.close()
