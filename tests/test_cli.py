"""The `o-lisp` command line, in-process with click's CliRunner, plus a few real subprocesses.

Outputs are compared exactly: values as hy.repr prints them, errors as
`LispError.describe()` renders them (class, file:line:col, message, caret).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from o_lisp import Limits, cli
from o_lisp.cli import main, make_limits

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = Limits()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str, input: str | None = None) -> Result:
    return runner.invoke(
        main, list(args), input=input, catch_exceptions=False, prog_name="o-lisp"
    )


def check(result: Result, exit_code: int, stdout: str, stderr: str = "") -> None:
    assert (result.exit_code, result.stdout, result.stderr) == (exit_code, stdout, stderr)


# -- --version and help -----------------------------------------------------


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(runner: CliRunner, flag: str) -> None:
    check(invoke(runner, flag), 0, "o-lisp 0.1.0\n")


def test_help_lists_the_commands(runner: CliRunner) -> None:
    result = invoke(runner, "--help")
    assert result.exit_code == 0
    for command in ("eval", "run", "repl"):
        assert f"  {command} " in result.stdout


def test_eval_help_lists_the_limit_options(runner: CliRunner) -> None:
    result = invoke(runner, "eval", "--help")
    assert result.exit_code == 0
    for option in ("--steps N", "--time SECONDS", "--depth N", "--max-size N", "--unlimited"):
        assert option in result.stdout


# -- eval -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "printed"),
    [
        ("(+ 1 2)", "3"),
        ("(* 1.5 2)", "3.0"),
        ('(+ "a" "b")', '"ab"'),
        ('"with \\"quotes\\" and \\n newline"', '"with \\"quotes\\" and \\n newline"'),
        ('[1 "two" :three 4.0]', '[1 "two" :three 4.0]'),
        (":keyword", ":keyword"),
        ('{"a" 1 :b [2]}', '{"a" 1  :b [2]}'),  # two spaces, like hy.repr
        ("#(1 2)", "#(1 2)"),
        ("#{1}", "#{1}"),
        ("'(f x [1 2])", "'(f x [1 2])"),
        ("None", "None"),
        ("True", "True"),
        ("(setv x 5) (defn f [y] (* y 2)) (f x)", "10"),
        ("", "None"),
        ("; only a comment", "None"),
    ],
)
def test_eval_prints_the_last_value(runner: CliRunner, expr: str, printed: str) -> None:
    check(invoke(runner, "eval", expr), 0, printed + "\n")


def test_eval_program_output_comes_first(runner: CliRunner) -> None:
    check(invoke(runner, "eval", '(print "hello" 42) (print "world")'), 0, "hello 42\nworld\nNone\n")


def test_eval_program_error(runner: CliRunner) -> None:
    check(
        invoke(runner, "eval", "(+ 1 (/ 1 0))"),
        1,
        "",
        "ProgramError: <eval>:1:6: ZeroDivisionError: division by zero\n"
        "  (+ 1 (/ 1 0))\n"
        "       ^\n",
    )


def test_eval_output_before_the_error_is_kept(runner: CliRunner) -> None:
    result = invoke(runner, "eval", '(print "before")\n(raise (ValueError "boom"))')
    assert (result.exit_code, result.stdout) == (1, "before\n")
    assert result.stderr == (
        "ProgramError: <eval>:2:1: ValueError: boom\n  (raise (ValueError \"boom\"))\n  ^\n"
    )


def test_eval_read_error(runner: CliRunner) -> None:
    check(
        invoke(runner, "eval", "(+ 1 2))"),
        1,
        "",
        "ReadError: <eval>:1:8: unexpected ')': no bracket is open\n  (+ 1 2))\n         ^\n",
    )


def test_eval_premature_end(runner: CliRunner) -> None:
    result = invoke(runner, "eval", "(+ 1")
    assert result.exit_code == 1
    assert result.stderr == (
        "PrematureEndOfInput: <eval>:1:5: premature end of input: '(' opened at 1:1 is never closed\n"
        "  (+ 1\n"
        "      ^\n"
    )


def test_eval_sandbox_violation(runner: CliRunner) -> None:
    result = invoke(runner, "eval", '(+ 1 (open "/etc/passwd"))')
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith("SandboxViolation: <eval>:1:")
    assert "Traceback" not in result.stderr


def test_eval_step_limit(runner: CliRunner) -> None:
    result = invoke(runner, "eval", "--steps", "1000", "(while True (+ 1 1))")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith("LimitExceeded: <eval>:1:")


def test_eval_depth_limit(runner: CliRunner) -> None:
    result = invoke(runner, "eval", "--depth", "20", "(defn f [n] (if n (f (- n 1)) 0)) (f 100)")
    assert result.exit_code == 1
    assert result.stderr.startswith("LimitExceeded: <eval>:1:")
    assert invoke(runner, "eval", "--depth", "200", "(defn f [n] (if n (f (- n 1)) 0)) (f 100)").stdout == "0\n"


def test_eval_size_limit(runner: CliRunner) -> None:
    result = invoke(runner, "eval", "--max-size", "100", '(* "ab" 1000)')
    assert result.exit_code == 1
    assert result.stderr.startswith("LimitExceeded: <eval>:1:")


def test_eval_unlimited_still_evaluates(runner: CliRunner) -> None:
    check(invoke(runner, "eval", "--unlimited", "(len (list (range 100)))"), 0, "100\n")


# -- limits from options ------------------------------------------------------


def test_make_limits() -> None:
    assert make_limits() == Limits()
    assert make_limits(steps=5, time_=1.5, depth=7, max_size=9) == Limits().but(
        steps=5, time=1.5, depth=7, max_size=9
    )
    assert make_limits(unlimited=True) == Limits.unlimited()
    assert make_limits(steps=10, unlimited=True) == Limits.unlimited().but(steps=10)


def test_options_reach_the_interpreter(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Limits] = []
    real = cli._new_interpreter

    def spy(limits: Limits) -> Any:
        seen.append(limits)
        return real(limits)

    monkeypatch.setattr(cli, "_new_interpreter", spy)
    args = ["--steps", "50", "--time", "0.5", "--depth", "30", "--max-size", "8", "1"]
    check(invoke(runner, "eval", *args), 0, "1\n")
    assert seen == [Limits().but(steps=50, time=0.5, depth=30, max_size=8)]


# -- usage errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval"], "Error: Missing argument 'EXPR'."),
        (["eval", "--steps", "0", "1"], "Error: Invalid value for '--steps': 0 is not in the range x>=1."),
        (["eval", "--steps", "many", "1"], "Error: Invalid value for '--steps': 'many' is not a valid integer range."),
        (["eval", "--time", "0", "1"], "Error: Invalid value for '--time': 0.0 is not in the range x>0."),
        (["eval", "--frobnicate", "1"], "Error: No such option '--frobnicate'."),
        (["run"], "Error: Missing argument 'FILE'."),
        (["frobnicate"], "Error: No such command 'frobnicate'."),
    ],
)
def test_usage_errors(runner: CliRunner, args: list[str], message: str) -> None:
    result = invoke(runner, *args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("Usage: o-lisp")
    assert result.stderr.splitlines()[-1] == message


# -- run ----------------------------------------------------------------------


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory so that file names in messages are short."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_run_prints_program_output_only(runner: CliRunner, in_tmp: Path) -> None:
    (in_tmp / "prog.hy").write_text('(print "hi")\n(+ 1 2)\n')
    check(invoke(runner, "run", "prog.hy"), 0, "hi\n")


def test_run_passes_argv(runner: CliRunner, in_tmp: Path) -> None:
    (in_tmp / "args.hy").write_text("(print (hy.repr argv))\n(print (len argv))\n")
    check(
        invoke(runner, "run", "args.hy", "one", "--two", "-3", "--steps"),
        0,
        '["args.hy" "one" "--two" "-3" "--steps"]\n5\n',
    )


def test_run_skips_a_shebang_line(runner: CliRunner, in_tmp: Path) -> None:
    (in_tmp / "script.hy").write_text('#!/usr/bin/env o-lisp run\n(print "ran")\n')
    check(invoke(runner, "run", "script.hy"), 0, "ran\n")


def test_run_options_go_before_the_file(runner: CliRunner, in_tmp: Path) -> None:
    (in_tmp / "loop.hy").write_text("(while True (+ 1 1))\n")
    result = invoke(runner, "run", "--steps", "100", "loop.hy")
    assert result.exit_code == 1
    assert result.stderr.startswith("LimitExceeded: loop.hy:1:")


def test_run_syntax_error(runner: CliRunner, in_tmp: Path) -> None:
    (in_tmp / "bad.hy").write_text('(print "ok")\n(defn f [x]\n  (+ x 1)))\n')
    check(
        invoke(runner, "run", "bad.hy"),
        1,
        "",
        "ReadError: bad.hy:3:11: unexpected ')': no bracket is open\n    (+ x 1)))\n            ^\n",
    )


def test_run_program_error_after_output(runner: CliRunner, in_tmp: Path) -> None:
    (in_tmp / "fail.hy").write_text('(print "start")\n(defn f [d] (get d "k"))\n(f {})\n')
    check(
        invoke(runner, "run", "fail.hy"),
        1,
        "start\n",
        "ProgramError: fail.hy:2:13: KeyError: 'k'\n  (defn f [d] (get d \"k\"))\n              ^\n",
    )


def test_run_missing_file(runner: CliRunner, in_tmp: Path) -> None:
    result = invoke(runner, "run", "missing.hy")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == "Error: cannot run 'missing.hy': no such file"
    assert "Traceback" not in result.stderr


def test_run_directory(runner: CliRunner, in_tmp: Path) -> None:
    (in_tmp / "folder").mkdir()
    result = invoke(runner, "run", "folder")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for 'FILE': File 'folder' is a directory."
    )


def test_run_not_utf8(runner: CliRunner, in_tmp: Path) -> None:
    (in_tmp / "latin1.hy").write_bytes(b'(print "caf\xe9")\n')
    result = invoke(runner, "run", "latin1.hy")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == "Error: cannot run 'latin1.hy': not valid UTF-8"


def test_run_bundled_hello(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    check(invoke(runner, "run", "agents/hello.hy"), 0, HELLO_OUTPUT)
    result = invoke(runner, "run", "agents/hello.hy", "Ada")
    assert result.stdout.splitlines()[0] == "Hello, Ada!"


HELLO_OUTPUT = """\
Hello, world!
fib(10): [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
20! has 19 digits
squares of the odd numbers below 10: [1, 9, 25, 49, 81]
word lengths: {'sandboxed': 9, 'lisp': 4, 'with': 4, 'hy': 2, 'syntax': 6}
the macro expanded to: '(if False None (do (print 1)))
caught: ZeroDivisionError('division by zero')
"""


# -- interruption ----------------------------------------------------------------


class _Interrupting:
    def define(self, name: str, value: object) -> None:
        pass

    def eval(self, source: object, filename: str = "<eval>") -> object:
        raise KeyboardInterrupt

    def load(self, path: str) -> object:
        raise KeyboardInterrupt


@pytest.mark.parametrize("command", ["eval", "run", "repl"])
def test_ctrl_c_exits_130(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, in_tmp: Path, command: str
) -> None:
    (in_tmp / "prog.hy").write_text("(+ 1 1)\n")
    monkeypatch.setattr(cli, "_new_interpreter", lambda limits: _Interrupting())
    args = {"eval": ["eval", "1"], "run": ["run", "prog.hy"], "repl": ["repl"]}[command]
    check(invoke(runner, *args, input="(+ 1 1)\n"), 130, "", "o-lisp: interrupted\n")


# -- repl through the CLI (stdin is not a terminal) --------------------------------


def test_repl_reads_stdin(runner: CliRunner) -> None:
    check(invoke(runner, "repl", input="(+ 1 2)\n(setv x [1 2])\nx\n"), 0, "3\n[1 2]\n")


def test_repl_is_the_default_command(runner: CliRunner) -> None:
    check(invoke(runner, input='"hi"\n'), 0, '"hi"\n')


def test_repl_errors_set_the_exit_status(runner: CliRunner) -> None:
    check(
        invoke(runner, "repl", "--steps", "100", input="(while True 1)\n(+ 1 1)\n,limits\n"),
        1,
        "2\nsteps        100\n"
        f"time         {DEFAULT.time}s\n"
        f"depth        {DEFAULT.depth}\n"
        f"max_size     {DEFAULT.max_size}\n"
        f"max_int_bits {DEFAULT.max_int_bits}\n",
        invoke(runner, "eval", "--steps", "100", "(while True 1)").stderr.replace(
            "<eval>", "<repl>"
        ),
    )


# -- the installed console script, for real --------------------------------------


def _script() -> str:
    script = Path(sys.executable).parent / "o-lisp"
    if not script.exists():
        pytest.skip("the o-lisp console script is not installed (pip install -e .)")
    return str(script)


def _run(*args: str, input: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_script(), *args], input=input, capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_script_version() -> None:
    process = _run("--version")
    assert (process.returncode, process.stdout, process.stderr) == (0, "o-lisp 0.1.0\n", "")


def test_script_eval_and_error() -> None:
    process = _run("eval", '(lfor x (range 3) (* x x))')
    assert (process.returncode, process.stdout, process.stderr) == (0, "[0 1 4]\n", "")
    process = _run("eval", "(get [] 0)")
    assert (process.returncode, process.stdout) == (1, "")
    assert process.stderr.startswith("ProgramError: <eval>:1:1: IndexError")
    assert "Traceback" not in process.stderr


def test_script_run_and_repl(tmp_path: Path) -> None:
    (tmp_path / "prog.hy").write_text('(print "args:" (cut argv 1 None))\n')
    process = _run("run", "prog.hy", "a", "b", cwd=tmp_path)
    assert (process.returncode, process.stdout, process.stderr) == (0, "args: ['a', 'b']\n", "")
    process = _run("repl", input="(defn sq [x]\n  (* x x))\n(sq 12)\n")
    assert (process.returncode, process.stdout, process.stderr) == (0, "144\n", "")

