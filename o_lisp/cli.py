"""The `o-lisp` command line: `eval`, `run`, `repl` and `--version`.

Exit codes: 0 success, 1 the program failed (any `LispError`, reported with its
position and a source excerpt, never a Python traceback), 2 usage error (bad
options, unreadable file), 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from o_lisp import Interpreter, Limits, LispError, OLispError, hy_repr

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_PROGRAM_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _version() -> str:
    try:
        return metadata.version("o-lisp")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.1.0"


def limit_options(function: F) -> F:
    """The budget options shared by `eval`, `run` and `repl`."""
    options = [
        click.option(
            "--unlimited",
            is_flag=True,
            help="Turn off every budget (a runaway program then runs forever).",
        ),
        click.option(
            "--max-size",
            "max_size",
            type=click.IntRange(min=1),
            metavar="N",
            help="Largest collection / string the program may create.",
        ),
        click.option(
            "--depth",
            type=click.IntRange(min=1),
            metavar="N",
            help="Deepest nesting of function calls.",
        ),
        click.option(
            "--time",
            "time_",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="Wall-clock budget per evaluation.",
        ),
        click.option(
            "--steps",
            type=click.IntRange(min=1),
            metavar="N",
            help="Budget of function calls and loop iterations.",
        ),
    ]
    for option in options:
        function = option(function)
    return function


def make_limits(
    steps: int | None = None,
    time_: float | None = None,
    depth: int | None = None,
    max_size: int | None = None,
    unlimited: bool = False,
) -> Limits:
    """The `Limits` for the options given: the defaults (or none at all) plus overrides."""
    limits = Limits.unlimited() if unlimited else Limits()
    changes: dict[str, object] = {}
    if steps is not None:
        changes["steps"] = steps
    if time_ is not None:
        changes["time"] = time_
    if depth is not None:
        changes["depth"] = depth
    if max_size is not None:
        changes["max_size"] = max_size
    return limits.but(**changes) if changes else limits


def report_error(error: OLispError) -> None:
    """Print a user-facing error report (never a traceback) on stderr."""
    if isinstance(error, LispError):
        text = error.describe()
    else:
        text = f"{type(error).__name__}: {error}"
    click.echo(text, err=True)


def _interrupted() -> NoReturn:
    sys.stdout.flush()
    click.echo("o-lisp: interrupted", err=True)
    raise click.exceptions.Exit(EXIT_INTERRUPTED)


def _fail(error: OLispError) -> NoReturn:
    sys.stdout.flush()
    report_error(error)
    raise click.exceptions.Exit(EXIT_PROGRAM_ERROR)


def _new_interpreter(limits: Limits) -> Interpreter:
    return Interpreter(limits=limits)


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(
    _version(),
    "-V",
    "--version",
    prog_name="o-lisp",
    message="%(prog)s %(version)s",
)
@click.pass_context
def main(ctx: click.Context) -> None:
    """o-lisp: a sandboxed Lisp with Hy 1.3 syntax.

    Without a command, start the interactive REPL.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(repl)


@main.command("eval")
@limit_options
@click.argument("expr")
def eval_command(
    expr: str,
    steps: int | None,
    time_: float | None,
    depth: int | None,
    max_size: int | None,
    unlimited: bool,
) -> None:
    """Evaluate EXPR (one or more forms) and print the value of the last one."""
    limits = make_limits(steps, time_, depth, max_size, unlimited)
    try:
        interp = _new_interpreter(limits)
        value = interp.eval(expr, filename="<eval>")
        text = hy_repr(value)
    except OLispError as error:
        _fail(error)
    except KeyboardInterrupt:
        _interrupted()
    click.echo(text)


@main.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@limit_options
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run_command(
    file: str,
    args: tuple[str, ...],
    steps: int | None,
    time_: float | None,
    depth: int | None,
    max_size: int | None,
    unlimited: bool,
) -> None:
    """Run the program in FILE; ARGS reach it as the list `argv` (FILE first).

    Options for o-lisp go before FILE; everything after FILE is passed to the
    program unchanged.
    """
    try:  # check the file up front: a file that cannot be read is a usage error
        with open(file, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise click.UsageError(f"cannot run {file!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as problem:
        reason = problem.strerror if isinstance(problem, OSError) else "not valid UTF-8"
        raise click.UsageError(f"cannot run {file!r}: {reason}") from None
    limits = make_limits(steps, time_, depth, max_size, unlimited)
    if _is_agent_source(text):
        _run_agent(file, args, limits)
        return
    try:
        interp = _new_interpreter(limits)
        interp.define("argv", [file, *args])
        interp.load(file)
    except OLispError as error:
        _fail(error)
    except KeyboardInterrupt:
        _interrupted()


@main.command("repl")
@limit_options
def repl(
    steps: int | None = None,
    time_: float | None = None,
    depth: int | None = None,
    max_size: int | None = None,
    unlimited: bool = False,
) -> None:
    """Start the interactive read-eval-print loop.

    The limits apply to each input separately. When stdin is not a terminal,
    lines are read from stdin without prompts, each value is printed, and the
    exit status is 1 if any input failed.
    """
    from o_lisp._repl import Repl

    limits = make_limits(steps, time_, depth, max_size, unlimited)
    try:
        session = Repl(_new_interpreter(limits), limits)
        if sys.stdin.isatty() and sys.stdout.isatty():
            status = session.run_interactive()
        else:
            status = session.run_stream(sys.stdin)
    except KeyboardInterrupt:
        _interrupted()
    if status:
        raise click.exceptions.Exit(status)


# -- agents ---------------------------------------------------------------------------------

_DEFAGENT = re.compile(r"^\s*\(defagent[\s)]", re.MULTILINE)


def _is_agent_source(text: str) -> bool:
    """Whether a file is an agent (a top-level `(defagent ...)`) rather than a script."""
    return bool(_DEFAGENT.search(text))


@click.command("run AGENT.hy", add_help_option=False)
@click.option("--message", "-m", "messages", multiple=True, metavar="TEXT", help="A message to send (repeatable).")
@click.option("--input", "input_file", type=click.File("r", encoding="utf-8"), metavar="FILE", help="Messages, one per line.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), metavar="DIR", help="The agent's data directory (default ./.o/NAME).")
@click.option("--grant", "grants", multiple=True, metavar="NAME", help="Grant a capability, e.g. unsafe:TOOL (repeatable).")
@click.option("--tools", "tool_files", multiple=True, type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Trusted host tools: a Python (or Hy) file defining TOOLS = {name: function} (repeatable).")
def _agent_options(**options: Any) -> dict[str, Any]:
    return options


def _host_tools(files: tuple[str, ...]) -> dict[str, Callable[..., Any]]:
    """Load trusted host tools written by the operator (never agent code): each file is
    run as ordinary Python (Hy files through Hy's own importer) and must define
    `TOOLS`, a dict from tool name to function. A tool is callable by the agent only
    when granted with --grant NAME."""
    import runpy

    tools: dict[str, Callable[..., Any]] = {}
    for file in files:
        if file.endswith(".hy"):
            try:  # Hy's import registers the .hy loader runpy uses (trusted operator code)
                importlib.import_module("hy")
            except ImportError:
                raise click.UsageError(f"{file}: tools written in Hy need the hy package installed") from None
        try:
            namespace = runpy.run_path(file)
        except Exception as error:  # the operator's own code failed: say where
            raise click.UsageError(f"cannot load tools from {file}: {type(error).__name__}: {error}") from None
        table = namespace.get("TOOLS")
        if not isinstance(table, dict) or not all(isinstance(k, str) and callable(v) for k, v in table.items()):
            raise click.UsageError(f"{file} must define TOOLS = {{name: function, ...}}")
        tools.update(table)
    return tools


def _run_agent(file: str, args: tuple[str, ...], limits: Limits) -> None:
    """Run an agent offline: each message in, each reply out (one line per message)."""
    from o_lisp.agent import Agent

    with _agent_options.make_context("o-lisp run AGENT.hy", list(args)) as ctx:
        options = _agent_options.invoke(ctx)
        messages: list[str] = list(options["messages"])
        if options["input_file"] is not None:
            messages.extend(line.rstrip("\n") for line in options["input_file"] if line.strip())
    try:
        agent = Agent.load(
            file, options["data_dir"], limits=limits, grants=options["grants"],
            host_tools=_host_tools(options["tool_files"]),
        )
        if messages or not sys.stdin.isatty():
            source = messages if messages else (line.rstrip("\n") for line in sys.stdin if line.strip())
            for message in source:
                reply = agent.handle(message)
                click.echo("(no reply)" if reply is None else reply)
            return
        click.echo(f"{agent.name} {agent.state.version}: {agent.spec.doc}  (Ctrl-D to leave)")
        while True:
            try:
                message = input("you> ")
            except EOFError:
                click.echo()
                return
            if message.strip():
                reply = agent.handle(message)
                click.echo(f"{agent.name}> {'(no reply)' if reply is None else reply}")
    except OLispError as error:
        _fail(error)
    except KeyboardInterrupt:
        _interrupted()


def _open_repository(agent: str, data_dir: str | None) -> Any:
    """The code repository of AGENT: a name (./.o/NAME), a seed file, or a data directory."""
    from o_lisp.agent._dsl import read_agent
    from o_lisp.agent._repo import CodeRepository

    path = Path(agent)
    if data_dir is not None:
        root = Path(data_dir)
    elif path.suffix == ".hy" and path.is_file():
        root = Path(".o") / read_agent(path.read_text("utf-8"), str(path)).name
    elif path.is_dir():
        root = path
    else:
        root = Path(".o") / agent
    code = root if (root / ".git").exists() else root / "code"
    if not code.exists():
        raise click.UsageError(f"no agent repository for {agent!r} (looked in {code})")
    return CodeRepository.open(code, require_clean_worktree=False)


def _with_repository(agent: str, data_dir: str | None, action: Callable[[Any], None]) -> None:
    try:
        action(_open_repository(agent, data_dir))
    except OLispError as error:
        _fail(error)


_DATA_OPTION = click.option("--data", "data_dir", type=click.Path(file_okay=False), metavar="DIR", help="The agent's data directory.")


@main.command("history")
@_DATA_OPTION
@click.option("--all", "show_all", is_flag=True, help="Include rejected candidates.")
@click.argument("agent")
def history_command(agent: str, data_dir: str | None, show_all: bool) -> None:
    """Versions of AGENT's code with reasons and trailers, newest first."""

    def show(repo: Any) -> None:
        for entry in repo.history(all=show_all):
            tags = f" ({', '.join(entry.tags)})" if entry.tags else ""
            marker = "rejected " if entry.rejected else ""
            click.echo(f"{entry.short}  {entry.version:<8} {entry.time}  {marker}{entry.summary}{tags}")
            for key, value in entry.trailers.items():
                if key != "Change":
                    click.echo(f"           {key}: {value}")

    _with_repository(agent, data_dir, show)


@main.command("show")
@_DATA_OPTION
@click.argument("agent")
@click.argument("rev")
def show_command(agent: str, rev: str, data_dir: str | None) -> None:
    """One revision of AGENT's code: message, trailers and the changed definitions."""
    _with_repository(agent, data_dir, lambda repo: click.echo(repo.show(rev).rstrip("\n")))


@main.command("diff")
@_DATA_OPTION
@click.argument("agent")
@click.argument("rev1")
@click.argument("rev2")
def diff_command(agent: str, rev1: str, rev2: str, data_dir: str | None) -> None:
    """The changes to AGENT's code between two revisions."""
    _with_repository(agent, data_dir, lambda repo: click.echo(repo.diff(rev1, rev2).rstrip("\n")))


@main.command("rollback")
@_DATA_OPTION
@click.option("--reason", default="operator rollback", show_default=True, help="Why (goes into the commit).")
@click.argument("agent")
@click.argument("rev")
def rollback_command(agent: str, rev: str, data_dir: str | None, reason: str) -> None:
    """Restore AGENT's code as of REV (a new commit; the agent loads it on its next start)."""

    def roll(repo: Any) -> None:
        commit = repo.rollback(rev, reason)
        click.echo(f"rolled back to {rev}: {commit[:7]} (version {repo.version()})")

    _with_repository(agent, data_dir, roll)


# -- the guardian ---------------------------------------------------------------------------


def _guardian_data_dir(agent: str, data_dir: str | None) -> Path:
    """The guardian's data directory: --data, else ./.o/NAME like `o-lisp run`."""
    if data_dir is not None:
        return Path(data_dir)
    from o_lisp.agent._agent import default_data_dir
    from o_lisp.agent._dsl import read_agent

    return default_data_dir(read_agent(Path(agent).read_text("utf-8"), agent).name)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (non-loopback needs O_API_TOKEN).")
@click.option("--port", default=4000, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: any free port).")
@_DATA_OPTION
@click.argument("agent", metavar="AGENT.hy", type=click.Path(exists=True, dir_okay=False))
def serve_command(agent: str, host: str, port: int, data_dir: str | None) -> None:
    """Run AGENT under the guardian with its HTTP API, in the foreground until Ctrl-C or SIGTERM.

    Every POST needs 'Authorization: Bearer $O_API_TOKEN' when O_API_TOKEN is set;
    listening on a non-loopback address without it is refused.
    """
    import asyncio
    import signal

    from o_lisp.guardian._http import ConfigError, check_bind, serve, token_from_env

    token = token_from_env()
    try:  # before anything starts: an unsafe bind is a usage error
        check_bind(host, token)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    try:
        data = _guardian_data_dir(agent, data_dir)
    except OLispError as error:
        _fail(error)
    except (OSError, UnicodeDecodeError) as problem:
        raise click.UsageError(f"cannot read {agent!r}: {problem}") from None
    from o_lisp.guardian._supervisor import Guardian, GuardianConfig

    def ready(urls: list[str]) -> None:
        auth = "token required for POST" if token else "no token: loopback only"
        click.echo(f"o-lisp: serving {agent} on {', '.join(urls)} ({auth}); Ctrl-C to stop", err=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)

        def request_stop() -> None:
            # A second Ctrl-C while shutting down falls back to the default (immediate) handler.
            for number in signals:
                loop.remove_signal_handler(number)
            click.echo("o-lisp: stopping (waiting for requests in flight)", err=True)
            stop.set()

        for number in signals:
            loop.add_signal_handler(number, request_stop)
        try:
            guardian = Guardian(GuardianConfig(agent=Path(agent), data_dir=data))
            await serve(guardian, host, port, token, stop, on_ready=ready)
        finally:
            for number in signals:
                loop.remove_signal_handler(number)

    try:
        asyncio.run(run())
    except OLispError as error:
        _fail(error)
    except OSError as error:  # the port is taken, the address is not ours, ...
        click.echo(f"o-lisp: cannot serve on {host}:{port}: {error.strerror or error}", err=True)
        raise click.exceptions.Exit(EXIT_PROGRAM_ERROR) from None
    except KeyboardInterrupt:
        _interrupted()


def _report(result: tuple[list[str], int]) -> None:
    lines, status = result
    for line in lines:
        click.echo(line)
    if status:
        raise click.exceptions.Exit(status)


@main.group("checkpoints")
def checkpoints_group() -> None:
    """Inspect the guardian's checkpoints (read-only; safe while it runs)."""


@checkpoints_group.command("list")
@click.argument("data_dir", metavar="DATA_DIR")
def checkpoints_list(data_dir: str) -> None:
    """Checkpoints in DATA_DIR, one line each (headers only). Exit 1 if DATA_DIR is missing."""
    from o_lisp.guardian._vault import list_command

    _report(list_command(data_dir))


@checkpoints_group.command("verify")
@click.argument("data_dir", metavar="DATA_DIR")
def checkpoints_verify(data_dir: str) -> None:
    """Verify every checkpoint in DATA_DIR in full (header, size, SHA-256). Exit 1 if any is bad."""
    from o_lisp.guardian._vault import verify_command

    _report(verify_command(data_dir))


@main.group("wal")
def wal_group() -> None:
    """Inspect the guardian's write-ahead log (read-only; safe while it runs)."""


@wal_group.command("verify")
@click.argument("data_dir", metavar="DATA_DIR")
def wal_verify(data_dir: str) -> None:
    """Check every WAL record in DATA_DIR (frame, CRC32C, sequence, payload). Exit 1 on corruption."""
    from o_lisp.guardian._wal import verify

    report = verify(data_dir)
    _report((report.lines, report.status))


if __name__ == "__main__":  # pragma: no cover
    main()
