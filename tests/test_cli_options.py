"""Issue 10's command line: `run` options before or after an agent's FILE, `--json`, exit
codes mapped in one place, `o-lisp.toml` with `O_*` overrides, shell completion.

In-process with click's CliRunner (exact output and exit codes), plus a few real
subprocesses of the installed console script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from o_lisp import Limits, cli
from o_lisp._config import SCHEMA, ConfigError, env_name, load_config
from o_lisp.cli import main

ROOT = Path(__file__).resolve().parent.parent
GREETER = str(ROOT / "agents" / "greeter.hy")
HELLO = str(ROOT / "agents" / "hello.hy")
O_LISP = [sys.executable, "-m", "o_lisp.cli"]
TOOLS = 'TOOLS = {"today": lambda: "2026-11-21", "shout": lambda text: text.upper() + "!"}\n'
CLOCK = '(defagent clock (when-> (= msg "date?") (today)) (when-> (.startswith msg "say ") (shout (cut msg 4 None))))\n'


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner in an empty working directory with no `O_*` setting from the outside."""
    monkeypatch.chdir(tmp_path)
    for section, keys in SCHEMA.items():
        for key in keys:
            monkeypatch.delenv(env_name(section, key), raising=False)
    monkeypatch.delenv("O_CONFIG", raising=False)
    yield CliRunner()


def invoke(runner: CliRunner, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(main, list(args), input=input, env=env, catch_exceptions=False, prog_name="o-lisp")


def document(result: Result) -> Any:
    return json.loads(result.stdout)


# -- run: the agent options, before or after FILE ----------------------------------------------

AGENT_OPTIONS = ("-m, --message TEXT", "--input FILE", "--data DIR", "--grant NAME", "--tools FILE", "--fresh",
                 "--json")


@pytest.mark.parametrize("args", [["run", "--help"], ["run", GREETER, "--help"], ["run", GREETER, "-m", "x", "-h"]])
def test_run_help_lists_the_agent_options(runner: CliRunner, args: list[str]) -> None:
    result = invoke(runner, *args)
    assert result.exit_code == 0 and result.stdout.startswith("Usage: o-lisp run [OPTIONS] FILE [ARGS]...\n")
    for option in AGENT_OPTIONS:
        assert f"  {option} " in result.stdout, option
    assert not (Path.cwd() / ".o").exists()  # --help ran nothing


def test_group_help_lists_config_and_commands(runner: CliRunner) -> None:
    result = invoke(runner, "--help")
    assert result.exit_code == 0
    assert "  --config FILE " in result.stdout and "  run " in result.stdout
    assert ("Agents: o-lisp run AGENT.hy [-m TEXT] [--input FILE] [--data DIR] [--grant NAME]\n"
            "                              [--tools FILE] [--fresh] [--json]\n") in result.stdout


@pytest.mark.parametrize("args", [
    ["run", "--data", "d", GREETER, "-m", "hello"],
    ["run", GREETER, "--data", "d", "-m", "hello"],
    ["run", "-m", "hello", GREETER, "--data", "d"],
])
def test_agent_options_work_before_or_after_the_file(runner: CliRunner, tmp_path: Path, args: list[str]) -> None:
    result = invoke(runner, *args)
    assert (result.exit_code, result.stdout) == (0, "hello.\n")
    assert (tmp_path / "d" / "code" / ".git").is_dir() and not (tmp_path / ".o").exists()


def test_repeatable_options_collect_both_sides_and_others_take_the_later(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, "run", "-m", "hello", "--data", "first", GREETER, "-m", "feedback: Hey!", "-m", "hello",
                    "--data", "second")
    assert (result.exit_code, result.stdout) == (0, "hello.\nThanks! From now on I greet with: Hey!\nHey!\n")
    assert (tmp_path / "second" / "code").is_dir() and not (tmp_path / "first").exists()


def test_a_script_gets_everything_after_file_unchanged(runner: CliRunner, tmp_path: Path) -> None:
    script = tmp_path / "args.hy"
    script.write_text("(print argv)\n")
    result = invoke(runner, "run", str(script), "--data", "x", "-m", "--help")
    assert (result.exit_code, result.stdout) == (0, f"['{script}', '--data', 'x', '-m', '--help']\n")
    failing = tmp_path / "fails.hy"
    failing.write_text("(/ 1 0)\n")
    not_ours = invoke(runner, "run", str(failing), "--json")  # the program's argument: a text report
    assert (not_ours.exit_code, not_ours.stdout) == (1, "")
    assert not_ours.stderr.startswith(f"ProgramError: {failing}:1:1: ZeroDivisionError")


def test_agent_only_options_before_a_script_are_a_usage_error(runner: CliRunner) -> None:
    result = invoke(runner, "run", "--data", "d", "-m", "hi", HELLO)
    assert result.exit_code == 2
    assert result.stderr.endswith(f"Error: --message, --data: for agents only, and {HELLO} has no (defagent ...)\n")


def test_unknown_option_before_file_is_a_usage_error(runner: CliRunner) -> None:
    result = invoke(runner, "run", "--bogus", GREETER)
    assert result.exit_code == 2 and result.stderr.endswith("Error: No such option '--bogus'.\n")
    after = invoke(runner, "run", GREETER, "--bogus")
    assert (after.exit_code, after.stderr) == (2, "Usage: o-lisp run [OPTIONS] FILE [ARGS]...\nTry 'o-lisp run --help' for "
                                                  "help.\n\nError: No such option '--bogus'.\n")


def test_fresh_is_accepted_on_either_side(runner: CliRunner) -> None:
    for args in (["run", "--fresh", GREETER, "-m", "hello"], ["run", GREETER, "-m", "hello", "--fresh"]):
        result = invoke(runner, *args)
        assert (result.exit_code, result.stdout) == (0, "hello.\n")


def test_a_script_may_call_granted_host_tools(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text(TOOLS)
    script = tmp_path / "s.hy"
    script.write_text('(print (shout "hi"))\n')
    granted = invoke(runner, "run", "--tools", "tools.py", "--grant", "shout", str(script))
    assert (granted.exit_code, granted.stdout) == (0, "HI!\n")
    refused = invoke(runner, "run", "--tools", "tools.py", str(script))
    assert refused.exit_code == 1 and "NameError: name 'shout' is not defined" in refused.stderr


# -- capabilities: a missing grant names itself ------------------------------------------------


def test_an_ungranted_host_tool_names_the_grant(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text(TOOLS)
    (tmp_path / "clock.hy").write_text(CLOCK)
    result = invoke(runner, "run", "clock.hy", "--tools", "tools.py", "--grant", "today", "-m", "date?", "-m", "say hi")
    assert result.exit_code == 1 and result.stdout == "2026-11-21\n"
    assert result.stderr == ("ProgramError: clock.hy:1:83: ToolError: host tool shout is not "
                             "granted to agent clock; grant it with --grant shout\n"
                             '   (= msg "date?") (today)) (when-> (.startswith msg "say ") (shout (cut msg 4 None))))\n'
                             "                                                             ^\n")


def test_an_undefined_name_in_an_agent_says_how_to_grant_it(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "helper.hy").write_text('(defagent helper (when-> (= msg "q") (forecast "hi")))\n')
    hint = ("forecast is neither defined by the agent nor a granted capability; a host tool is loaded with "
            "--tools FILE and granted with --grant forecast")
    result = invoke(runner, "run", "helper.hy", "-m", "q")
    assert (result.exit_code, result.stderr) == (
        1, "ProgramError: helper.hy:1:39: NameError: name 'forecast' is not defined\n"
           '  (defagent helper (when-> (= msg "q") (forecast "hi")))\n'
           "                                        ^\n"
           f"hint: {hint}\n")
    as_json = invoke(runner, "run", "helper.hy", "-m", "q", "--json")
    assert (as_json.exit_code, document(as_json)["error"]["hint"]) == (1, hint)
    plain = invoke(runner, "eval", "(forecast 1)")  # not an agent: no hint
    assert plain.exit_code == 1 and "hint" not in plain.stderr


def test_an_ungranted_model_names_the_llm_grant(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "helper.hy").write_text('(defagent helper (when-> (= msg "q") (llm "hi")))\n')
    result = invoke(runner, "run", "helper.hy", "-m", "q")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "ProgramError: helper.hy:1:38: LLMNotGranted: agent helper was not granted the llm capability: "
        "run it with --grant llm")


def test_an_ungranted_unsafe_tool_names_the_grant(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "wipe.hy").write_text('(defagent wipe (deftool wipe [] :unsafe True "wiped") '
                                      '(when-> (= msg "go") (wipe)))\n')
    refused = invoke(runner, "run", "wipe.hy", "-m", "go")
    assert refused.exit_code == 1
    assert "ToolError: tool wipe is unsafe and agent wipe was not granted it; grant it with --grant unsafe:wipe" \
        in refused.stderr
    granted = invoke(runner, "run", "wipe.hy", "-m", "go", "--grant", "unsafe:wipe")
    assert (granted.exit_code, granted.stdout) == (0, "wiped\n")


# -- --json ---------------------------------------------------------------------------------------


def test_eval_json(runner: CliRunner) -> None:
    result = invoke(runner, "eval", "--json", '(print "side") (+ 1 2)')
    assert (result.exit_code, document(result)) == (0, {"value": "3", "output": "side\n"})
    failed = invoke(runner, "eval", "--json", "(/ 1 0)")
    assert failed.exit_code == 1 and failed.stderr == ""
    assert document(failed) == {"error": {
        "type": "ProgramError", "message": "ZeroDivisionError: division by zero", "exit_code": 1,
        "file": "<eval>", "line": 1, "column": 1,
        "report": "ProgramError: <eval>:1:1: ZeroDivisionError: division by zero\n  (/ 1 0)\n  ^"}}


@pytest.mark.parametrize(("args", "message"), [
    (["eval", "--json", "--steps", "0", "1"], "Invalid value for '--steps': 0 is not in the range x>=1."),
    (["eval", "--json"], "Missing argument 'EXPR'."),
    (["run", "--json", "nowhere.hy"], "cannot run 'nowhere.hy': no such file"),
])
def test_usage_errors_under_json_are_json_with_exit_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = invoke(runner, *args)
    assert (result.exit_code, document(result), result.stderr) == (
        2, {"error": {"type": "UsageError", "message": message, "exit_code": 2}}, "")


def test_run_json_for_a_script_and_an_agent(runner: CliRunner, tmp_path: Path) -> None:
    script = tmp_path / "s.hy"
    script.write_text('(print "one") (print (len argv))\n')
    result = invoke(runner, "run", "--json", str(script), "a", "b")
    assert (result.exit_code, document(result)) == (0, {"output": "one\n3\n"})
    agent = invoke(runner, "run", GREETER, "--json", "-m", "hello", "-m", "?")
    assert (agent.exit_code, document(agent)) == (0, {
        "agent": "greeter", "version": "0.1.0", "output": "",
        "replies": [{"message": "hello", "reply": "hello."}, {"message": "?", "reply": None}]})
    piped = invoke(runner, "run", GREETER, "--json", input="hello\n")
    assert document(piped)["replies"] == [{"message": "hello", "reply": "hello."}]


def test_show_json_and_unknown_revision(runner: CliRunner) -> None:
    invoke(runner, "run", GREETER, "-m", "feedback: Hey!")
    result = invoke(runner, "show", "greeter", "v0.1.1", "--json")
    assert result.exit_code == 0
    shown = document(result)
    assert (shown["version"], shown["marker"], shown["tags"], shown["rejected"]) == ("0.1.1", "rewrite", ["v0.1.1"], False)
    assert shown["trailers"]["Version"] == "0.1.1" and shown["report"].startswith(f"commit {shown['commit']} (tag: v0.1.1)")
    unknown = invoke(runner, "show", "greeter", "v9", "--json")
    assert unknown.exit_code == 2
    error = document(unknown)["error"]
    assert (error["type"], error["exit_code"]) == ("UnknownRevision", 2)
    assert error["message"].startswith("unknown revision 'v9' in ")


def test_checkpoints_and_wal_json(runner: CliRunner, tmp_path: Path) -> None:
    from o_lisp.guardian._vault import Vault
    from o_lisp.guardian._wal import WriteAheadLog

    with Vault(tmp_path / "data" / "checkpoints") as vault:
        written = vault.write({"memory": ["a"]}, wal_seq=5)
    with WriteAheadLog(tmp_path / "data" / "wal") as wal:
        wal.append("memory_add", {"text": "a"})
    listed = document(invoke(runner, "checkpoints", "list", "data", "--json"))
    assert listed["ok"] is True and listed["exit_code"] == 0 and listed["data_dir"] == "data"
    (header,) = listed["checkpoints"]
    assert (header["file"], header["id"], header["wal_seq"], header["sha256"]) == (
        written.path.name, written.checkpoint_id, 5, written.sha256)
    verified = document(invoke(runner, "checkpoints", "verify", "--json", "data"))
    assert verified["ok"] is True and verified["lines"][-1].startswith("1 checkpoints: 1 good, 0 corrupt")
    logged = document(invoke(runner, "wal", "verify", "--json", "data"))
    assert (logged["ok"], logged["lines"][-1]) == (True, "OK: 1 record(s), seq 1..1")
    missing = invoke(runner, "checkpoints", "list", "--json", "nope")
    assert (missing.exit_code, document(missing)) == (2, {"error": {
        "type": "UsageError", "message": "Invalid value for 'DATA_DIR': Directory 'nope' does not exist.", "exit_code": 2}})
    empty = invoke(runner, "checkpoints", "verify", "--json", "data/wal")  # a directory without checkpoints
    assert (empty.exit_code, document(empty)["lines"]) == (0, ["no checkpoints in data/wal"])


# -- o-lisp.toml and O_* ---------------------------------------------------------------------------


@pytest.fixture
def limits_seen(monkeypatch: pytest.MonkeyPatch) -> list[Limits]:
    seen: list[Limits] = []
    real = cli._new_interpreter

    def spy(limits: Limits) -> Any:
        seen.append(limits)
        return real(limits)

    monkeypatch.setattr(cli, "_new_interpreter", spy)
    return seen


def test_config_precedence_file_env_command_line(runner: CliRunner, tmp_path: Path, limits_seen: list[Limits]) -> None:
    (tmp_path / "o-lisp.toml").write_text("[limits]\nsteps = 500\ndepth = 40\nmemory = 1048576000\ntime = 2.5\n")
    assert invoke(runner, "eval", "1").exit_code == 0
    assert invoke(runner, "eval", "1", env={"O_LIMITS_STEPS": "600"}).exit_code == 0
    assert invoke(runner, "eval", "--steps", "700", "1", env={"O_LIMITS_STEPS": "600"}).exit_code == 0
    from_file = Limits().but(steps=500, depth=40, memory=1048576000, time=2.5)
    assert limits_seen == [from_file, from_file.but(steps=600), from_file.but(steps=700)]


def test_config_given_with_config_option_and_env(runner: CliRunner, tmp_path: Path, limits_seen: list[Limits]) -> None:
    (tmp_path / "o-lisp.toml").write_text("[limits]\nsteps = 500\n")
    (tmp_path / "other.toml").write_text("[limits]\nsteps = 9\n")
    assert invoke(runner, "--config", "other.toml", "eval", "1").exit_code == 0
    assert invoke(runner, "eval", "1", env={"O_CONFIG": "other.toml"}).exit_code == 0
    assert [limits.steps for limits in limits_seen] == [9, 9]
    big = invoke(runner, "--config", "other.toml", "eval", "(sum (range 100))")
    assert big.exit_code == 1 and "step limit of 9 exceeded" in big.stderr


def test_config_capabilities_reach_run(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text(TOOLS)
    (tmp_path / "clock.hy").write_text(CLOCK)
    (tmp_path / "o-lisp.toml").write_text('[capabilities]\ntools = ["tools.py"]\ngrants = ["today", "shout"]\n')
    result = invoke(runner, "run", "clock.hy", "-m", "date?", "-m", "say hi")
    assert (result.exit_code, result.stdout) == (0, "2026-11-21\nHI!\n")
    narrowed = invoke(runner, "run", "clock.hy", "--grant", "today", "-m", "say hi")  # the option replaces the file's
    assert narrowed.exit_code == 1 and "host tool shout is not granted" in narrowed.stderr
    by_env = invoke(runner, "run", "clock.hy", "-m", "say hi", env={"O_CAPABILITIES_GRANTS": "today, nothing"})
    assert by_env.exit_code == 1 and "grant it with --grant shout" in by_env.stderr


def test_config_serve_options(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `serve` hands the guardian and the HTTP server (the server itself is faked: it
    records its arguments and returns)."""
    seen: dict[str, Any] = {}

    async def fake_serve(guardian: Any, host: str, port: int, token: str | None, stop: Any, **_: Any) -> None:
        seen.update(config=guardian.config, host=host, port=port)

    monkeypatch.setattr("o_lisp.guardian._http.serve", fake_serve)
    monkeypatch.setenv("O_API_TOKEN", "")
    (tmp_path / "tools.py").write_text(TOOLS)
    (tmp_path / "o-lisp.toml").write_text(
        '[serve]\nport = 4100\nmirror-share = 0.25\nperceive-every = 30\ndata = "served"\n'
        '[capabilities]\ntools = ["tools.py"]\ngrants = ["today"]\n[limits]\nsteps = 123\n')
    assert invoke(runner, "serve", GREETER, env={"O_SERVE_PORT": "4200"}).exit_code == 0
    config = seen["config"]
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 4200)
    assert (config.data_dir, config.tools, config.grants) == (tmp_path / "served", (str(tmp_path / "tools.py"),), ("today",))
    assert (config.evolution.mirror_share, config.evolution.perceive_interval) == (0.25, 30.0)
    assert config.limits == Limits().but(steps=123)
    assert invoke(runner, "serve", GREETER, "--port", "4300", "--grant", "shout", env={"O_SERVE_PORT": "4200"}).exit_code == 0
    assert (seen["port"], seen["config"].grants) == (4300, ("shout",))
    (tmp_path / "o-lisp.toml").write_text("")
    assert invoke(runner, "serve", GREETER).exit_code == 0
    assert (seen["port"], seen["config"].limits, seen["config"].tools) == (4000, None, ())


def test_config_evolution_defaults_reach_evolve(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "o-lisp.toml").write_text("[evolution]\ncandidates = 7\ngenerations = 3\n")
    shown = invoke(runner, "evolve", "--help").stdout
    assert "[default: 7; 1<=x<=32]" in shown and "[default: 3; 1<=x<=50]" in shown
    overridden = invoke(runner, "evolve", "--help", env={"O_EVOLUTION_CANDIDATES": "5"}).stdout
    assert "[default: 5; 1<=x<=32]" in overridden


@pytest.mark.parametrize(("text", "message"), [
    ("[limits]\nstep = 5\n",
     "o-lisp.toml: unknown key 'step' in [limits] (known: steps, time, depth, max-size, max-int-bits, memory, unlimited)"),
    ('[limits]\nsteps = "many"\n', "o-lisp.toml: [limits] steps: expected an integer >= 1, got 'many' (a string)"),
    ("[limits]\nsteps = 0\n", "o-lisp.toml: [limits] steps: expected an integer >= 1, got 0 (an integer)"),
    ("[serve]\nport = 70000\n", "o-lisp.toml: [serve] port: expected an integer from 0 to 65535, got 70000 (an integer)"),
    ("[serve]\nmirror-share = true\n", "o-lisp.toml: [serve] mirror-share: expected a number from 0 to 1, got True (a boolean)"),
    ('[capabilities]\ngrants = "llm"\n', "o-lisp.toml: [capabilities] grants: expected a list of non-empty strings, got 'llm' (a string)"),
    ("[server]\nport = 1\n", "o-lisp.toml: unknown section [server] (known: serve, limits, evolution, capabilities, llm)"),
    ("port = 1\n", "o-lisp.toml: port = 1 is outside any section (sections: serve, limits, evolution, capabilities, llm)"),
    ("[limits\n", "o-lisp.toml: not valid TOML: Expected ']' at the end of a table declaration (at line 1, column 8)"),
])
def test_bad_config_is_a_usage_error_naming_file_key_and_type(runner: CliRunner, tmp_path: Path, text: str,
                                                              message: str) -> None:
    (tmp_path / "o-lisp.toml").write_text(text)
    result = invoke(runner, "eval", "1")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"ConfigError: {message}\n")


def test_bad_environment_and_missing_config_file(runner: CliRunner) -> None:
    result = invoke(runner, "eval", "1", env={"O_SERVE_PORT": "http"})
    assert (result.exit_code, result.stderr) == (
        2, "ConfigError: environment variable O_SERVE_PORT: expected an integer from 0 to 65535, got 'http'\n")
    missing = invoke(runner, "--config", "nope.toml", "eval", "--json", "1")
    assert missing.exit_code == 2
    assert document(missing) == {"error": {"type": "ConfigError", "message": "config file nope.toml does not exist",
                                           "exit_code": 2}}


def test_the_example_config_is_valid(tmp_path: Path) -> None:
    config = load_config(str(ROOT / "o-lisp.toml.example"), environ={})
    assert config.get("serve", "port") == 4000 and config.get("limits", "steps") == 10_000_000
    with pytest.raises(ConfigError, match="O_LIMITS_TIME: expected a number > 0, got '-1'"):
        load_config(str(ROOT / "o-lisp.toml.example"), environ={"O_LIMITS_TIME": "-1"})


# -- real processes ------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("O_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def test_subprocess_options_before_the_file_and_config_in_cwd(tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text(TOOLS)
    (tmp_path / "clock.hy").write_text(CLOCK)
    (tmp_path / "o-lisp.toml").write_text('[capabilities]\ntools = ["tools.py"]\n')
    done = subprocess.run([*O_LISP, "run", "--data", "x", "--grant", "today", "clock.hy", "-m", "date?", "--json"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert (done.returncode, json.loads(done.stdout)["replies"], done.stderr) == (
        0, [{"message": "date?", "reply": "2026-11-21"}], "")
    assert (tmp_path / "x" / "code").is_dir()
    bad = subprocess.run([*O_LISP, "eval", "1"], cwd=tmp_path, env=_env(O_LIMITS_DEPTH="deep"),
                         capture_output=True, text=True, timeout=120)
    assert (bad.returncode, bad.stderr) == (
        2, "ConfigError: environment variable O_LIMITS_DEPTH: expected an integer >= 1, got 'deep'\n")


def test_bash_completion(tmp_path: Path) -> None:
    """The documented set-up: `eval "$(_O_LISP_COMPLETE=bash_source o-lisp)"` in bash."""
    installed = Path(sys.executable).parent  # the console script of this environment (it honours PYTHONPATH)
    assert (installed / "o-lisp").is_file()
    shell = ('eval "$(_O_LISP_COMPLETE=bash_source o-lisp)"; '
             'COMP_WORDS=(o-lisp chec); COMP_CWORD=1; _o_lisp_completion o-lisp; echo "${COMPREPLY[@]}"; '
             'COMPREPLY=(); COMP_WORDS=(o-lisp serve --gr); COMP_CWORD=2; _o_lisp_completion o-lisp; '
             'echo "${COMPREPLY[@]}"')
    done = subprocess.run(["bash", "-c", shell], env=_env(PATH=f"{installed}:{os.environ['PATH']}"),
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "checkpoints\n--grant\n", "")
