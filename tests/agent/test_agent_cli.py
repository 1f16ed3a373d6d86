"""`o-lisp run AGENT.hy`, `history`, `show`, `diff`, `rollback`: in-process, exact output."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from o_lisp.cli import main

ROOT = Path(__file__).resolve().parents[2]
GREETER = str(ROOT / "agents" / "greeter.hy")


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[CliRunner]:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield CliRunner()
    finally:
        os.chdir(old)


def test_run_agent_with_messages_then_history_diff_and_rollback(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["run", GREETER, "--message", "hello", "-m", "feedback: Good day!", "-m", "hello", "-m", "?"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello.\nThanks! From now on I greet with: Good day!\nGood day!\n(no reply)\n"
    assert (tmp_path / ".o" / "greeter" / "code" / ".git").is_dir()

    history = runner.invoke(main, ["history", "greeter"])
    assert history.exit_code == 0
    lines = history.output.splitlines()
    assert "0.1.1" in lines[0] and 'feedback: greet with "Good day!" (v0.1.1)' in lines[0]
    assert any("Create agent greeter 0.1.0 (v0.1.0)" in line for line in lines)

    diff = runner.invoke(main, ["diff", "greeter", "v0.1.0", "v0.1.1"])
    assert diff.exit_code == 0
    assert '+(when-> :name greet (in "hello" (.lower msg)) "Good day!")' in diff.output

    show = runner.invoke(main, ["show", GREETER, "v0.1.1"])
    assert show.exit_code == 0 and "0.1.1" in show.output

    rolled = runner.invoke(main, ["rollback", "greeter", "v0.1.0", "--reason", "too cheerful"])
    assert rolled.exit_code == 0
    assert rolled.output.startswith("rolled back to v0.1.0: ") and rolled.output.endswith("(version 0.1.0)\n")
    again = runner.invoke(main, ["run", GREETER, "-m", "hello"])
    assert again.output == "hello.\n"


def test_run_agent_reads_messages_from_a_file_and_stdin(runner: CliRunner, tmp_path: Path) -> None:
    messages = tmp_path / "in.txt"
    messages.write_text("hello\n\nhello again\n")
    result = runner.invoke(main, ["run", GREETER, "--input", str(messages), "--data", str(tmp_path / "d")])
    assert result.output == "hello.\nhello.\n"
    piped = runner.invoke(main, ["run", GREETER, "--data", str(tmp_path / "d")], input="hello\n")
    assert piped.output == "hello.\n"


def test_agent_errors_and_usage_errors(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.hy"
    bad.write_text('(defagent bad :colour "red")\n')
    result = runner.invoke(main, ["run", str(bad)])
    assert result.exit_code == 1
    assert f"CompileError: {bad}:1:15: unknown option :colour for defagent" in result.output
    missing = runner.invoke(main, ["history", "nobody"])
    assert missing.exit_code == 2
    assert "no agent repository for 'nobody'" in missing.output
    runner.invoke(main, ["run", GREETER, "-m", "hello"])
    for args in (["show", "greeter", "v9.9.9"], ["diff", "greeter", "v0.1.0", "v9.9.9"],
                 ["rollback", "greeter", "v9.9.9"]):
        unknown = runner.invoke(main, args)
        assert unknown.exit_code == 2, args  # a usage error: the revision asked for does not exist
        assert unknown.output.startswith("UnknownRevision: unknown revision 'v9.9.9' in ")
    option = runner.invoke(main, ["run", GREETER, "--bogus"])
    assert option.exit_code == 2


def test_plain_git_log_tells_the_same_story(tmp_path: Path) -> None:
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "o-lisp"), "run", GREETER, "--data", str(tmp_path / "g"),
         "-m", "feedback: Welcome!"],
        check=True, capture_output=True, text=True,
    )
    log = subprocess.run(["git", "-C", str(tmp_path / "g" / "code"), "log", "--format=%s|%D|%(trailers:key=Version,valueonly,separator=)"],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    # One commit per accepted rewrite: the change, its version and its tag together.
    assert log == ['feedback: greet with "Welcome!"|HEAD -> main, tag: v0.1.1|0.1.1',
                   "Create agent greeter 0.1.0|tag: v0.1.0|0.1.0"]
    version = subprocess.run(["git", "-C", str(tmp_path / "g" / "code"), "show", "v0.1.1:VERSION"],
                             check=True, capture_output=True, text=True).stdout
    assert version == "0.1.1\n"


def test_host_tools_are_callable_only_when_granted(runner: CliRunner, tmp_path: Path) -> None:
    tools = tmp_path / "tools.py"
    tools.write_text('TOOLS = {"today": lambda: "2026-11-21"}\n')
    agent = tmp_path / "clock.hy"
    agent.write_text('(defagent clock (when-> (= msg "date?") (today)))\n')
    granted = runner.invoke(main, ["run", str(agent), "--tools", str(tools), "--grant", "today", "-m", "date?"])
    assert granted.output == "2026-11-21\n"
    refused = runner.invoke(main, ["run", str(agent), "--tools", str(tools), "-m", "date?"])
    assert refused.exit_code == 1
    assert refused.output == (f"ProgramError: {agent}:1:41: ToolError: host tool today is "
                              "not granted to agent clock; grant it with --grant today\n"
                              '  (defagent clock (when-> (= msg "date?") (today)))\n'
                              "                                          ^\n")
    bad = tmp_path / "bad.py"
    bad.write_text("TOOLS = 3\n")
    usage = runner.invoke(main, ["run", str(agent), "--tools", str(bad)])
    assert usage.exit_code == 2
    assert "must define TOOLS = {name: function, ...}" in usage.output
