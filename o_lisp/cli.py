"""The `o-lisp` command line: `eval`, `run`, `repl`, agents (`history`, `show`, `diff`,
`rollback`, `test`), the guardian (`serve`, `evolve`, `checkpoints`, `wal`) and `--version`.

Exit codes: 0 success, 1 the program failed (any `LispError`, reported with its
position and a source excerpt, never a Python traceback; for `evolve`: no candidate
was promoted), 2 usage error (bad options, unreadable file, a bad `o-lisp.toml`, an
unknown revision, a request the server refuses as invalid), 130 interrupted with Ctrl-C.

Errors reach the user in one place, `OLispGroup.invoke`: every `OLispError` carries its
`exit_code` (like click's `ClickException.exit_code`) and is printed there, as text or,
under `--json`, as one JSON document on stdout. Defaults come from `o-lisp.toml` and
`O_*` variables as click's `default_map` (`o_lisp._config`), so a command-line option
always wins.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

import click
from click.core import ParameterSource

from o_lisp import Interpreter, Limits, LispError, OLispError, ProgramError, hy_repr, unmangle
from o_lisp._limits import MAX_ISLANDS, MAX_POPULATION, MAX_SEED, MAX_WORKERS

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_PROGRAM_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_JSON = "o_lisp.json"
"""`ctx.meta` key: the command runs with --json (errors are reported as JSON too)."""
_ARGV = "o_lisp.argv"
_BASE_LIMITS = "o_lisp.base_limits"
_CONFIG = "o_lisp.config"
_AGENT_RUN = "o_lisp.agent_run"
"""`ctx.meta` key: `run` is running an agent (its undefined names get a capability hint)."""


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


def json_option(function: F) -> F:
    """`--json`: one JSON document on stdout, errors included (with the same exit codes)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value or _JSON not in ctx.meta:  # (an agent's options after FILE are parsed second)
            ctx.meta[_JSON] = value
        return value

    return click.option("--json", "as_json", is_flag=True, callback=remember,
                        help="Print one JSON document on stdout (errors too).")(function)


def make_limits(
    steps: int | None = None,
    time_: float | None = None,
    depth: int | None = None,
    max_size: int | None = None,
    unlimited: bool = False,
) -> Limits:
    """The `Limits` for the options given: the defaults (or none at all) plus overrides.

    The defaults are `Limits()` with what `o-lisp.toml` sets that has no option
    (`memory`, `max-int-bits`) when a command line is running."""
    limits = Limits.unlimited() if unlimited else Limits()
    ctx = click.get_current_context(silent=True)
    base = ctx.find_root().meta.get(_BASE_LIMITS) if ctx is not None else None
    changes: dict[str, object] = {} if unlimited or not base else dict(base)
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
    hint = _capability_hint(error)
    click.echo(f"{text}\nhint: {hint}" if hint else text, err=True)


def _capability_hint(error: OLispError) -> str | None:
    """For an agent run by `o-lisp run` that calls a name nothing defines: how a host
    capability of that name would be given (`llm` is usually meant to be one)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or not ctx.meta.get(_AGENT_RUN) or not isinstance(error, ProgramError):
        return None
    name = getattr(error.exception, "name", None)
    if error.type_name != "NameError" or not isinstance(name, str):
        return None
    shown = unmangle(name)
    return (f"{shown} is neither defined by the agent nor a granted capability; a host tool is loaded "
            f"with --tools FILE and granted with --grant {shown}")


def error_document(error: OLispError | click.ClickException) -> dict[str, Any]:
    """An error as `--json` prints it: `{"error": {type, message, exit_code, ...}}`, with
    `file`, `line`, `column` and the full `report` for errors in a program."""
    if isinstance(error, click.ClickException):
        kind = "UsageError" if isinstance(error, click.UsageError) else type(error).__name__
        return {"error": {"type": kind, "message": error.format_message(), "exit_code": error.exit_code}}
    detail: dict[str, Any] = {"type": type(error).__name__, "message": getattr(error, "message", str(error)),
                              "exit_code": error.exit_code}
    if isinstance(error, LispError):
        if error.position is not None:
            detail.update(file=error.position.filename, line=error.position.line, column=error.position.column)
        detail["report"] = error.describe()
    hint = _capability_hint(error)
    if hint:
        detail["hint"] = hint
    return {"error": detail}


def emit_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _interrupted() -> NoReturn:
    sys.stdout.flush()
    click.echo("o-lisp: interrupted", err=True)
    raise click.exceptions.Exit(EXIT_INTERRUPTED)


def _fail(error: OLispError) -> NoReturn:
    sys.stdout.flush()
    report_error(error)
    raise click.exceptions.Exit(error.exit_code)


def _new_interpreter(limits: Limits) -> Interpreter:
    return Interpreter(limits=limits)


@contextlib.contextmanager
def _captured(active: bool) -> Iterator[io.StringIO]:
    """Under --json, what the program prints is collected (it goes into the document)
    instead of breaking the one JSON document on stdout."""
    buffer = io.StringIO()
    if not active:
        yield buffer
        return
    with contextlib.redirect_stdout(buffer):
        yield buffer


class OLispGroup(click.Group):
    """The `o-lisp` group: maps every error to its exit code and report in one place."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_ARGV] = tuple(args)  # to tell, on a usage error, whether --json was asked for
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OLispError as error:
            sys.stdout.flush()
            if _wants_json(ctx):
                emit_json(error_document(error))
            else:
                report_error(error)
            raise click.exceptions.Exit(error.exit_code) from None
        except click.ClickException as error:
            if not _wants_json(ctx):
                raise
            emit_json(error_document(error))
            raise click.exceptions.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            _interrupted()


def _wants_json(ctx: click.Context) -> bool:
    if _JSON in ctx.meta:
        return bool(ctx.meta[_JSON])
    argv = ctx.meta.get(_ARGV, ())
    return "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv


@click.group(
    cls=OLispGroup,
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
@click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE", envvar="O_CONFIG",
              help="Settings file (default: ./o-lisp.toml if there is one) [env: O_CONFIG].")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """o-lisp: a sandboxed Lisp with Hy 1.3 syntax.

    Without a command, start the interactive REPL. Defaults for the options come from
    o-lisp.toml, overridden by O_* environment variables (docs/config.md).

    \b
    Agents: o-lisp run AGENT.hy [-m TEXT] [--input FILE] [--data DIR] [--grant NAME]
                                [--tools FILE] [--fresh] [--json]
    (before or after AGENT.hy; o-lisp run --help explains them).
    """
    from o_lisp._config import base_limits_changes, default_map, load_config

    config = load_config(config_file)
    ctx.default_map = default_map(config)
    ctx.meta[_BASE_LIMITS] = base_limits_changes(config)
    ctx.meta[_CONFIG] = config
    if ctx.invoked_subcommand is None:
        ctx.invoke(repl, **ctx.default_map.get("repl", {}))


@main.command("eval")
@limit_options
@json_option
@click.argument("expr")
def eval_command(
    expr: str,
    steps: int | None,
    time_: float | None,
    depth: int | None,
    max_size: int | None,
    unlimited: bool,
    as_json: bool,
) -> None:
    """Evaluate EXPR (one or more forms) and print the value of the last one.

    With --json: {"value": ..., "output": what the program printed}."""
    limits = make_limits(steps, time_, depth, max_size, unlimited)
    with _captured(as_json) as output:
        interp = _new_interpreter(limits)
        value = interp.eval(expr, filename="<eval>")
        text = hy_repr(value)
    if as_json:
        emit_json({"value": text, "output": output.getvalue()})
    else:
        click.echo(text)


def agent_options(function: F) -> F:
    """The options of `run` for agents (and, --tools/--grant, for scripts too)."""
    options = [
        click.option("--fresh", is_flag=True,
                     help="Agents: start from empty state and memory, ignoring what the data directory holds."),
        click.option("--tools", "tool_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
                     metavar="FILE",
                     help="Trusted host tools: a Python (or Hy) file defining TOOLS = {name: function} (repeatable)."),
        click.option("--grant", "grants", multiple=True, metavar="NAME",
                     help="Grant a capability: a host tool NAME, unsafe:TOOL, unsafe, or * (repeatable)."),
        click.option("--data", "data_dir", type=click.Path(file_okay=False), metavar="DIR",
                     help="Agents: the data directory (default ./.o/NAME)."),
        click.option("--input", "input_file", type=click.File("r", encoding="utf-8"), metavar="FILE",
                     help="Agents: messages, one per line."),
        click.option("--message", "-m", "messages", multiple=True, metavar="TEXT",
                     help="Agents: a message to send (repeatable)."),
        click.option("--stream/--no-stream", "stream", default=None,
                     help="Agents: print a model's text as it arrives (default: when stdout is a terminal)."),
    ]
    for option in options:
        function = option(function)
    return function


_AGENT_ONLY = ("messages", "input_file", "data_dir", "fresh", "stream")


@main.command("run", context_settings={"allow_interspersed_args": False})
@limit_options
@agent_options
@json_option
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_command(ctx: click.Context, /, file: str, args: tuple[str, ...], **options: Any) -> None:
    """Run the program or agent in FILE.

    \b
    A program: ARGS reach it as the list `argv` (FILE first), unchanged.
    An agent (a file with a defagent): each message in, each reply out;
    the options may come before or after FILE, e.g.
      o-lisp run --data d todo.hy -m "buy milk"
      o-lisp run todo.hy --data d -m "buy milk"
    Without -m/--input, messages are read from stdin (interactively on a terminal).

    With --json: a program gives {"output": ...}; an agent
    {"agent", "version", "replies": [{"message", "reply"}, ...], "output"}.
    """
    try:  # check the file up front: a file that cannot be read is a usage error
        with open(file, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise click.UsageError(f"cannot run {file!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as problem:
        reason = problem.strerror if isinstance(problem, OSError) else "not valid UTF-8"
        raise click.UsageError(f"cannot run {file!r}: {reason}") from None
    if _is_agent_source(text):
        options = _options_after_file(ctx, args, options)
        args = ()
    else:
        given = [name for name in _AGENT_ONLY if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE]
        if given:
            flags = ", ".join(_flag(ctx.command, name) for name in given)
            raise click.UsageError(f"{flags}: for agents only, and {file} has no (defagent ...)")
    limits = make_limits(options["steps"], options["time_"], options["depth"], options["max_size"],
                         options["unlimited"])
    from o_lisp.agent._host_tools import load_host_tools

    tools = load_host_tools(options["tool_files"])
    if _is_agent_source(text):
        ctx.meta[_AGENT_RUN] = True
        _run_agent(file, text, options, limits, tools, fresh=options["fresh"], as_json=options["as_json"])
        return
    with _captured(options["as_json"]) as output:
        interp = _new_interpreter(limits)
        for name, function in tools.items():
            if name in options["grants"] or "*" in options["grants"]:
                interp.grant(name, function)
        interp.define("argv", [file, *args])
        interp.load(file)
    if options["as_json"]:
        emit_json({"output": output.getvalue()})


def _flag(command: click.Command, name: str) -> str:
    for param in command.params:
        if param.name == name and isinstance(param, click.Option):
            return max(param.opts, key=len)
    return name


@click.command("run", add_help_option=False)
@limit_options
@agent_options
@json_option
@click.option("--help", "-h", "show_help", is_flag=True)
def _run_tail(**options: Any) -> dict[str, Any]:
    """The options of `run` given after an agent's FILE (parsed once FILE is known to be one)."""
    return options


def _options_after_file(ctx: click.Context, args: tuple[str, ...], before: dict[str, Any]) -> dict[str, Any]:
    """`run`'s options with those given after an agent's FILE laid over those before it:
    a repeatable option collects both, any other takes the later value."""
    if not args:
        return before
    try:
        tail_ctx = _run_tail.make_context("run", list(args), parent=ctx.parent)
    except click.UsageError as error:
        error.ctx = ctx  # reported with run's own usage line and help hint
        raise
    ctx.call_on_close(tail_ctx.close)  # files it opened (--input) stay open while the agent runs
    after = dict(tail_ctx.params)
    if after.pop("show_help"):
        click.echo(ctx.get_help())
        ctx.exit(0)
    merged = dict(before)
    for name, value in after.items():
        if tail_ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        head = ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
        if isinstance(value, tuple) and head:
            merged[name] = (*before[name], *value)
        else:
            merged[name] = value
    return merged


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
    session = Repl(_new_interpreter(limits), limits)
    if sys.stdin.isatty() and sys.stdout.isatty():
        status = session.run_interactive()
    else:
        status = session.run_stream(sys.stdin)
    if status:
        raise click.exceptions.Exit(status)


# -- agents ---------------------------------------------------------------------------------

_DEFAGENT = re.compile(r"^\s*\(defagent[\s)]", re.MULTILINE)


def _is_agent_source(text: str) -> bool:
    """Whether a file is an agent (a top-level `(defagent ...)`) rather than a script."""
    return bool(_DEFAGENT.search(text))


def _run_agent(file: str, text: str, options: Mapping[str, Any], limits: Limits,
               host_tools: Mapping[str, Callable[..., Any]], *, fresh: bool = False, as_json: bool = False) -> None:
    """Run an agent offline: each message in, each reply out (one line per message).

    Its state and memory are restored from the data directory and every mutation is
    fsynced to its WAL before the reply is printed (`o_lisp.agent._durable`); `fresh`
    (--fresh) starts from an empty state and memory whatever --data holds."""
    from o_lisp.agent._agent import Seed
    from o_lisp.agent._durable import durable_agent

    messages: list[str] = list(options["messages"])
    if options["input_file"] is not None:
        messages.extend(line.rstrip("\n") for line in options["input_file"] if line.strip())
    document: dict[str, Any] | None = None
    config = click.get_current_context().meta.get(_CONFIG)
    settings = config.get("llm", "settings") if config else None
    llm = {"llm_models": settings} if settings else {}
    try:
        seed = Seed.parse(file, text)  # the text run_command read: the seed is read and parsed once
        with _captured(as_json) as output, durable_agent(
                seed, options["data_dir"], fresh=fresh, limits=limits, grants=options["grants"],
                host_tools=host_tools, **llm) as run:
            streaming = options.get("stream")
            if (sys.stdout.isatty() if streaming is None else streaming) and not as_json:
                from o_lisp.llm._stream import TerminalStream

                run.agent.llm.on_text = TerminalStream()
            replies = _converse(run, messages, batch=as_json)
            if as_json:
                document = {"agent": run.agent.name, "version": run.agent.state.version,
                            "replies": replies, "output": output.getvalue()}
    finally:
        if settings is not None and settings.metrics_file:
            from o_lisp.llm import write_metrics

            write_metrics(settings.metrics_file)
    if document is not None:
        emit_json(document)


def _converse(run: Any, messages: list[str], *, batch: bool = False) -> list[dict[str, Any]]:
    """Each message in, each reply out: from -m/--input, else piped stdin, else a prompt.
    `run.handle` returns once the message's changes are durable, so a reply printed is kept.
    With `batch` (--json) the replies are collected instead of printed."""
    agent = run.agent
    stream = getattr(agent.llm, "on_text", None)  # a TerminalStream with --stream (o_lisp.llm._stream)
    replies: list[dict[str, Any]] = []
    if messages or batch or not sys.stdin.isatty():
        source = messages if messages else (line.rstrip("\n") for line in sys.stdin if line.strip())
        for message in source:
            if stream is not None:
                stream.begin()
            reply = run.handle(message)
            if batch:
                replies.append({"message": message, "reply": reply})
            elif stream is None or not stream.end(reply):
                click.echo("(no reply)" if reply is None else reply)
        return replies
    click.echo(f"{agent.name} {agent.state.version}: {agent.spec.doc}  (Ctrl-D to leave)")
    while True:
        try:
            message = input("you> ")
        except EOFError:
            click.echo()
            return replies
        if message.strip():
            if stream is not None:
                stream.begin(f"{agent.name}> ")
            reply = run.handle(message)
            if stream is None or not stream.end(reply):
                click.echo(f"{agent.name}> {'(no reply)' if reply is None else reply}")


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
    action(_open_repository(agent, data_dir))  # errors: OLispGroup.invoke (an unknown revision exits 2)


_DATA_OPTION = click.option("--data", "data_dir", type=click.Path(file_okay=False), metavar="DIR", help="The agent's data directory.")


MARKERS = ("seed", "rewrite", "promoted", "rollback", "rejected")
"""What `o-lisp history` says each commit was (see `history_markers`)."""
_MARKER_COLOURS = {"seed": "cyan", "rewrite": "blue", "promoted": "green", "rollback": "yellow", "rejected": "red"}


@dataclass(frozen=True)
class HistoryMark:
    """How one commit reads in `o-lisp history`: what it was and what became of it."""

    marker: str
    """seed (the agent's creation), rewrite (a self-rewrite or operator change, and version
    bumps after one), promoted (an evolution cycle's winner, `Evolution-Cycle` trailer,
    and its version bump), rollback (`Change: rollback`), rejected (a rejected candidate)."""
    rolled_back_by: str | None = None
    """The first later rollback commit that restored code older than this one."""
    why: str | None = None
    """For a rejected candidate: its `Rejected` (or `Reason`) trailer, after its `Stage`."""


def history_markers(entries: Sequence[Any]) -> list[HistoryMark]:
    """Classify `CodeRepository.history()` entries (newest first) from their trailers alone,
    so the same story can be read back from plain `git log` by anyone."""
    mainline = [i for i, entry in enumerate(entries) if not entry.rejected]
    index_of = {entries[i].commit: i for i in mainline}
    markers: dict[int, str] = {}
    for position in reversed(range(len(mainline))):  # oldest first: a version bump follows its change
        i = mainline[position]
        change = entries[i].trailers.get("Change", "")
        if change in ("create", "seed-edit"):
            markers[i] = "seed"
        elif change == "rollback":
            markers[i] = "rollback"
        elif "Evolution-Cycle" in entries[i].trailers:
            markers[i] = "promoted"
        elif change == "version" and position + 1 < len(mainline):
            previous = markers[mainline[position + 1]]
            markers[i] = previous if previous in ("promoted", "rewrite") else "rewrite"
        else:
            markers[i] = "rewrite"
    rolled_back: dict[int, str] = {}
    for position in reversed(range(len(mainline))):  # oldest rollback first: the closest one wins
        i = mainline[position]
        target = entries[i].trailers.get("Rollback-To") if markers[i] == "rollback" else None
        if target is None or target not in index_of:
            continue
        for j in mainline:
            if i < j < index_of[target]:
                rolled_back.setdefault(j, entries[i].short)
    marks = []
    for i, entry in enumerate(entries):
        if entry.rejected or entry.trailers.get("Change") == "rejected":
            reason = entry.trailers.get("Rejected") or entry.trailers.get("Reason")
            stage = entry.trailers.get("Stage")
            why = f"{stage}: {reason}" if stage and reason else reason
            marks.append(HistoryMark("rejected", why=why))
        else:
            marks.append(HistoryMark(markers[i], rolled_back_by=rolled_back.get(i)))
    return marks


@main.command("history")
@_DATA_OPTION
@click.option("--all", "show_all", is_flag=True, help="Include rejected candidates.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of commits (with marker and trailers).")
@click.argument("agent")
def history_command(agent: str, data_dir: str | None, show_all: bool, as_json: bool) -> None:
    """Versions of AGENT's code with reasons and trailers, newest first.

    The column after the date says what each commit was: seed, rewrite, promoted
    (an evolution cycle's winner), rollback, or rejected (with --all; with why).
    """

    def show(repo: Any) -> None:
        entries = repo.history(all=show_all)
        marks = history_markers(entries)
        if as_json:
            click.echo(json.dumps([
                {"commit": e.commit, "short": e.short, "version": e.version, "time": e.time, "marker": m.marker,
                 "summary": e.summary, "tags": list(e.tags), "trailers": dict(e.trailers),
                 "rolled_back_by": m.rolled_back_by, "why": m.why}
                for e, m in zip(entries, marks, strict=True)
            ], indent=2, ensure_ascii=False))
            return
        for entry, mark in zip(entries, marks, strict=True):
            tags = f" ({', '.join(entry.tags)})" if entry.tags else ""
            undone = f"  [rolled back by {mark.rolled_back_by}]" if mark.rolled_back_by else ""
            marker = click.style(f"{mark.marker:<8}", fg=_MARKER_COLOURS[mark.marker])
            click.echo(f"{entry.short}  {entry.version:<8} {entry.time}  {marker}  {entry.summary}{tags}{undone}")
            if mark.why:
                click.echo(f"           why: {mark.why}")
            for key, value in entry.trailers.items():
                if key != "Change":
                    click.echo(f"           {key}: {value}")

    _with_repository(agent, data_dir, show)


@main.command("show")
@_DATA_OPTION
@json_option
@click.argument("agent")
@click.argument("rev")
def show_command(agent: str, rev: str, data_dir: str | None, as_json: bool) -> None:
    """One revision of AGENT's code: message, trailers and the changed definitions.

    With --json: the commit as `history --json` gives it, plus "report" (the text shown
    without --json) and "rejected"."""

    def show(repo: Any) -> None:
        report = repo.show(rev).rstrip("\n")
        if not as_json:
            click.echo(report)
            return
        commit = repo.resolve(rev)
        entries = repo.history(all=True)
        marks = dict(zip((e.commit for e in entries), history_markers(entries), strict=True))
        entry = next((e for e in entries if e.commit == commit), None)
        if entry is None:  # not reachable from HEAD nor a recorded candidate: the report alone
            emit_json({"commit": commit, "short": commit[:7], "report": report})
            return
        mark = marks[commit]
        emit_json({"commit": entry.commit, "short": entry.short, "version": entry.version, "time": entry.time,
                   "marker": mark.marker, "summary": entry.summary, "body": entry.body, "tags": list(entry.tags),
                   "trailers": dict(entry.trailers), "author": {"name": entry.author.name, "email": entry.author.email},
                   "rejected": entry.rejected, "rolled_back_by": mark.rolled_back_by, "why": mark.why,
                   "report": report})

    _with_repository(agent, data_dir, show)


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


def _check_installation() -> None:
    """Fail (exit 1) now if the package lacks its stdlib files, before workers are started."""
    from o_lisp._resources import check_installation

    check_installation()  # an InstallationError is reported by OLispGroup.invoke (or evolve's own handler)


@main.command("test")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Test the live agent kept in DIR: its current code on a copy of its state (DIR is only read).")
@click.option("--grant", "grants", multiple=True, metavar="NAME", help="Grant a capability the tests need (repeatable).")
@click.option("--tools", "tool_files", multiple=True, type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Trusted host tools: a Python (or Hy) file defining TOOLS = {name: function} (repeatable).")
@click.argument("agent", metavar="AGENT.hy", type=click.Path(dir_okay=False))
def test_command(agent: str, data_dir: str | None, grants: tuple[str, ...], tool_files: tuple[str, ...]) -> None:
    """Run the deftests of AGENT, one line each (PASSED, or FAILED with the reason).

    Without --data the tests run on a fresh agent built from AGENT.hy (an empty state;
    nothing is written). With --data they run on the agent's live code in DIR (what it
    rewrote and promoted) and a copy of its live state (checkpoint + write-ahead log).

    Exit status: 0 every test passed (or there is none), 1 a test failed or the agent
    does not load, 2 usage error.
    """
    from o_lisp.agent._host_tools import load_host_tools
    from o_lisp.agent._testing import agent_under_test

    try:
        text = Path(agent).read_text("utf-8")
    except FileNotFoundError:
        raise click.UsageError(f"cannot test {agent!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as problem:
        reason = problem.strerror if isinstance(problem, OSError) else "not valid UTF-8"
        raise click.UsageError(f"cannot test {agent!r}: {reason}") from None
    if not _is_agent_source(text):
        raise click.UsageError(f"cannot test {agent!r}: it is not an agent (no top-level (defagent ...))")
    if data_dir is not None and not (Path(data_dir) / "code" / ".git").exists():
        raise click.UsageError(f"no agent repository in {data_dir!r} (looked for {Path(data_dir) / 'code'})")
    subject = agent_under_test(Path(agent), text, None if data_dir is None else Path(data_dir),
                               grants=grants, host_tools=load_host_tools(tool_files))
    report = subject.run_tests()  # an OLispError or Ctrl-C is reported by OLispGroup.invoke
    for name in subject.tests:
        if name in report.failed:
            click.echo(f"{agent}::{name} {click.style('FAILED', fg='red')}: {report.failed[name]}")
        else:
            click.echo(f"{agent}::{name} {click.style('PASSED', fg='green')}")
    if not subject.tests:
        click.echo(f"{subject.name} {subject.state.version}: no tests (the agent has no deftest)")
        return
    click.echo(f"{subject.name} {subject.state.version}: {report.summary()}")
    if not report.ok:
        raise click.exceptions.Exit(EXIT_PROGRAM_ERROR)


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
@click.option("--perceive-every", "perceive_every", type=click.FloatRange(min=1.0), default=None, metavar="SECONDS",
              help="Look for definitions to evolve (error rates, failing tests) this often; off by default.")
@click.option("--mirror-share", "mirror_share", type=click.FloatRange(0.0, 1.0), default=0.1, show_default=True,
              help="Share of live messages copied to the shadows of an evolution cycle.")
@_DATA_OPTION
@click.option("--tools", "tool_files", multiple=True, type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Trusted host tools: a Python (or Hy) file defining TOOLS = {name: function} (repeatable); "
                   "loaded by the workers, never by the guardian.")
@click.option("--grant", "grants", multiple=True, metavar="NAME",
              help="Grant a capability: a host tool NAME, unsafe:TOOL, unsafe, or * (repeatable).")
@click.argument("agent", metavar="AGENT.hy", type=click.Path(exists=True, dir_okay=False))
def serve_command(agent: str, host: str, port: int, data_dir: str | None, perceive_every: float | None,
                  mirror_share: float, tool_files: tuple[str, ...], grants: tuple[str, ...]) -> None:
    """Run AGENT under the guardian with its HTTP API, in the foreground until Ctrl-C or SIGTERM.

    Every request but GET /health needs 'Authorization: Bearer $O_API_TOKEN' when O_API_TOKEN
    is set; listening on a non-loopback address without it is refused. Host tools (--tools)
    are loaded in the worker processes; the agent may call those granted (--grant).
    """
    import asyncio
    import signal

    from o_lisp.guardian import _loop as guardian_loop
    from o_lisp.guardian._http import ConfigError, check_bind, serve, token_from_env

    token = token_from_env()
    try:  # before anything starts: an unsafe bind is a usage error
        check_bind(host, token)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    _check_installation()
    try:
        data = _guardian_data_dir(agent, data_dir)
    except (OSError, UnicodeDecodeError) as problem:
        raise click.UsageError(f"cannot read {agent!r}: {problem}") from None
    from o_lisp.guardian._supervisor import Guardian, GuardianConfig

    # Absolute: workers must find the same files whatever their working directory.
    tools = tuple(str(Path(file).absolute()) for file in tool_files)
    from o_lisp.agent._host_tools import check_in_subprocess

    check_in_subprocess(tools)  # a bad file is a usage error now, not a crash loop later
    from o_lisp._config import config_limits

    config = click.get_current_context().meta.get(_CONFIG)
    limits = None if config is None else config_limits(config)  # [limits] of o-lisp.toml, O_LIMITS_*
    llm_settings = None if config is None else config.get("llm", "settings")  # [llm]: to the workers, as JSON
    llm = "" if llm_settings is None else llm_settings.resolved(Path.cwd()).to_json()

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
            # Absolute: evolution's shadow workers must find the same files whatever their cwd.
            from o_lisp.guardian._evolution import EvolutionConfig

            evolution = EvolutionConfig(mirror_share=mirror_share, perceive_interval=perceive_every)
            guardian = Guardian(GuardianConfig(agent=Path(agent).absolute(), data_dir=data.absolute(),
                                               evolution=evolution, tools=tools, grants=grants, limits=limits,
                                               llm=llm))
            await serve(guardian, host, port, token, stop, on_ready=ready)
        finally:
            for number in signals:
                loop.remove_signal_handler(number)

    try:
        guardian_loop.run(run())
    except OSError as error:  # the port is taken, the address is not ours, ...
        click.echo(f"o-lisp: cannot serve on {host}:{port}: {error.strerror or error}", err=True)
        raise click.exceptions.Exit(EXIT_PROGRAM_ERROR) from None


# -- evolution -------------------------------------------------------------------------------

TERMINAL_STATUSES = frozenset({"promoted", "rejected", "rolled_back", "failed"})
POLL_SECONDS = 0.5
"""How often `evolve` looks at a running cycle (a cycle takes minutes; this is plenty)."""


class EvolveFailed(Exception):
    """`evolve` cannot go on; `status` is the exit code (2: the request was invalid)."""

    def __init__(self, message: str, status: int = EXIT_PROGRAM_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


CANDIDATE_STAGES = ("waiting", "validate", "shadow", "decide", "won")
"""A candidate's way through a cycle, as its progress row counts it (offline counts as shadow)."""


class CycleView:
    """Shows a cycle while it runs: on a terminal, a rich progress bar for the cycle (stage
    and progress) and one row per candidate (its stage, then its verdict); one plain line
    per event otherwise (logs, CI, pipes), each event exactly once."""

    def __init__(self, stream: TextIO, live: bool) -> None:
        self.stream = stream
        self.live = live
        self._events_seen = 0
        self._progress: Any = None
        self._task: Any = None
        self._candidate_tasks: dict[str, Any] = {}

    def __enter__(self) -> CycleView:
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            console = Console(file=self.stream, force_terminal=True)
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                console=console, transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("queued", total=100)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def update(self, cycle: Mapping[str, Any]) -> None:
        events = cycle.get("events") or []
        started = cycle.get("started")
        for event in events[self._events_seen:]:
            self._line(_event_line(cycle.get("id", "?"), event, started))
        self._events_seen = max(self._events_seen, len(events))
        if self._progress is not None:
            progress = cycle.get("progress")
            done = 100 * float(progress) if isinstance(progress, int | float) else 0.0
            generation = f" {cycle.get('generation')}/{cycle.get('generations')}" if cycle.get("generations") else ""
            description = f"{cycle.get('id', '?')} {cycle.get('target', '')}{generation}: {cycle.get('stage', '?')}"
            self._progress.update(self._task, completed=done, description=description)
            for candidate in cycle.get("candidates") or []:
                self._candidate_row(candidate)

    def _candidate_row(self, candidate: Mapping[str, Any]) -> None:
        key = str(candidate.get("id", "?"))
        verdict, stage = candidate.get("verdict", "pending"), candidate.get("stage", "?")
        how = candidate.get("operator") or candidate.get("generator") or ""
        state = f"{stage}" if verdict == "pending" else f"{verdict} at {stage}"
        stage_for_row = "shadow" if stage == "offline" else stage
        steps = CANDIDATE_STAGES.index(stage_for_row) if stage_for_row in CANDIDATE_STAGES else len(CANDIDATE_STAGES) - 1
        completed = len(CANDIDATE_STAGES) if verdict != "pending" else steps
        description = f"  {key} {how}: {state}"
        if key not in self._candidate_tasks:
            self._candidate_tasks[key] = self._progress.add_task(description, total=len(CANDIDATE_STAGES))
        self._progress.update(self._candidate_tasks[key], completed=completed, description=description)

    def _line(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            click.echo(text, file=self.stream)


def _event_line(cycle_id: object, event: Mapping[str, Any], started: object) -> str:
    when = event.get("time")
    if isinstance(when, int | float) and isinstance(started, int | float):
        return f"{cycle_id}  {max(0.0, when - started):7.1f}s  {event.get('message', '')}"
    return f"{cycle_id}  {event.get('message', '')}"


def cycle_summary(cycle: Mapping[str, Any]) -> list[str]:
    """The verdict of a finished cycle, as `evolve` prints it last: what was promoted, or for
    every candidate the stage that stopped it and why."""
    cycle_id, target, status = cycle.get("id", "?"), cycle.get("target", "?"), cycle.get("status")
    result = cycle.get("result") or {}
    events = cycle.get("events") or []
    last = events[-1].get("message", "") if events else ""
    run = cycle.get("population") if isinstance(cycle.get("population"), dict) else None
    run_line = [] if run is None else [_run_line(cycle_id, run)]
    if status == "promoted":
        commit = str(result.get("commit") or "")[:7]
        tag = result.get("tag")
        return [f"{cycle_id} promoted {target}: version {result.get('version')}, commit {commit}"
                + (f", tag {tag}" if tag else ""), *run_line]
    if status == "rolled_back":
        lines = [f"{cycle_id} rolled back {target}: {result.get('rollback_reason') or last}"]
    elif status == "rejected":
        lines = [f"{cycle_id} rejected: no candidate for {target} was promoted"]
    else:
        lines = [f"{cycle_id} {status}: {last}"]
    for candidate in cycle.get("candidates") or []:
        how = "/".join(str(part) for part in (candidate.get("generator"), candidate.get("operator")) if part)
        reason = candidate.get("reason") or ""
        lines.append(f"  {candidate.get('id', '?')}  {how or '?'}  {candidate.get('verdict', '?')} at "
                     f"{candidate.get('stage', '?')}" + (f": {reason}" if reason else ""))
    return lines + run_line


def _run_line(cycle_id: object, run: Mapping[str, Any]) -> str:
    """A population run in one line: its id (to resume or find it), how much it did, its best."""
    best = run.get("best") if isinstance(run.get("best"), dict) else {}
    checks = f", best passes {best.get('checks_passed')}/{best.get('checks_total')} checks" if best else ""
    rate = run.get("evaluations_per_second")
    return (f"{cycle_id} run {run.get('run', '?')}: {run.get('evaluations', 0)} evaluations in "
            f"{run.get('completed_generations', 0)}/{run.get('generations', '?')} generations"
            + (f" ({rate:g}/s)" if isinstance(rate, int | float) else "") + checks)


def _check_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{url!r} is not an http(s) URL like http://127.0.0.1:4000", param_hint="'--url'")
    return url.rstrip("/")


def _api(method: str, url: str, token: str | None, payload: Mapping[str, Any] | None = None) -> Any:
    """One JSON request to a running `o-lisp serve`; its body, or `EvolveFailed` saying why not."""
    import urllib.error
    import urllib.request

    data = None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        with error:
            raw = error.read()
        try:
            detail = json.loads(raw)["error"]
            message = f"{detail['message']} ({error.code} {detail['code']})"
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {error.code} {error.reason}"
        # The request itself was wrong (bad field, unknown definition, no or wrong token).
        status = EXIT_USAGE if error.code in (400, 401, 403, 404, 413, 415) else EXIT_PROGRAM_ERROR
        raise EvolveFailed(f"{method} {url}: {message}", status) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise EvolveFailed(f"cannot reach {url}: {reason}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise EvolveFailed(f"{method} {url}: the answer is not JSON") from None


def _evolve_remote(base: str, token: str | None, options: dict[str, Any], view: CycleView,
                   timeout: float | None) -> dict[str, Any]:
    started = _api("POST", f"{base}/v1/evolution", token, options)
    if not isinstance(started, dict) or not isinstance(started.get("id"), str):
        raise EvolveFailed(f"POST {base}/v1/evolution: unexpected answer {started!r}")
    cycle_id = started["id"]
    status_url = base + str(started.get("status_url") or f"/v1/evolution/{cycle_id}")
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            cycle = _api("GET", status_url, token)  # reads need the token too
            if not isinstance(cycle, dict):
                raise EvolveFailed(f"GET {status_url}: unexpected answer {cycle!r}")
            view.update(cycle)
            if cycle.get("status") in TERMINAL_STATUSES and cycle.get("finished") is not None:
                return cycle
            if deadline is not None and time.monotonic() >= deadline:
                raise EvolveFailed(f"{cycle_id} is still {cycle.get('status')} after {timeout:g} s "
                                   f"(it keeps running on the server: GET {status_url})")
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        click.echo(f"o-lisp: stopped following {cycle_id}; it keeps running on the server (GET {status_url})",
                   err=True)
        raise


async def _evolve_local(agent: Path, data: Path, options: dict[str, Any], view: CycleView,
                        timeout: float | None, llm: str = "") -> dict[str, Any]:
    """Run one cycle in a guardian of our own (as `o-lisp serve` would start it), then stop it."""
    import asyncio

    from o_lisp.guardian._evolution import EvolutionError
    from o_lisp.guardian._runs import PopulationSettings
    from o_lisp.guardian._supervisor import Guardian, GuardianConfig

    guardian = Guardian(GuardianConfig(agent=agent, data_dir=data, llm=llm))
    await guardian.start()
    try:
        manager = guardian.evolution
        population = None
        if "population" in options or "workers" in options:
            population = PopulationSettings(
                **{key: options[key] for key in ("population", "generations", "islands", "workers", "seed",
                                                 "max_evals") if key in options})
        try:
            cycle_id = await manager.start(
                options["definition"], hypothesis=options["hypothesis"], generations=options.get("generations", 1),
                candidates=options.get("candidates", 4), canary=options["canary"],
                **{key: options[key] for key in ("generator", "model") if key in options},
                population=population, resume=options.get("resume"),
            )
        except EvolutionError as error:
            raise EvolveFailed(error.message, EXIT_USAGE if error.code in ("bad_request", "not_found")
                               else EXIT_PROGRAM_ERROR) from None
        waiter = asyncio.ensure_future(manager.wait(cycle_id, timeout))
        try:
            while True:
                await asyncio.wait({waiter}, timeout=POLL_SECONDS)
                cycle = manager.get(cycle_id)
                if cycle is not None:
                    view.update(cycle)
                if waiter.done():
                    break
            try:
                return waiter.result()
            except TimeoutError:
                run = ((manager.get(cycle_id) or {}).get("population") or {}).get("run")
                raise EvolveFailed(f"{cycle_id} did not finish within {timeout:g} s; stopping the guardian "
                                   "abandons it" + (f" (run {run} keeps its completed generations: continue it "
                                                    f"with --resume {run})" if run else "")) from None
        finally:
            waiter.cancel()
            # Not left in the saved queue for the next guardian on this data (`o-lisp serve`).
            manager.abandon(cycle_id, "`o-lisp evolve` stopped waiting for it")
    finally:
        await guardian.stop()


@main.command("evolve")
@_DATA_OPTION
@click.option("--generations", default=1, show_default=True, type=click.IntRange(1, 50), metavar="N",
              help="Generations to breed (10 by default with --population).")
@click.option("--candidates", default=4, show_default=True, type=click.IntRange(1, 32), metavar="N",
              help="Candidates per generation (not with --population).")
@click.option("--population", type=click.IntRange(2, MAX_POPULATION), metavar="N",
              help="Breed a population of N per generation (tournament, crossover, elitism, islands; evaluated "
                   "in parallel shadows) instead of hill-climbing.")
@click.option("--islands", type=click.IntRange(1, MAX_ISLANDS), metavar="K",
              help="Split the population into K islands with migration, at least 2 individuals each (with "
                   "--population; default 2).")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), metavar="W",
              help="Evaluator shadows running in parallel (with --population; default: one per core).")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), metavar="S",
              help="Seed of the search (with --population): the same seed repeats the run (default: drawn, "
                   "and recorded with the run).")
@click.option("--max-evals", type=click.IntRange(min=1), metavar="E",
              help="Stop the search after E evaluations (with --population).")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Draw the fitness per generation into FILE (.png, .svg, .pdf; with --population; needs "
                   "matplotlib: pip install 'o-lisp[plot]').")
@click.option("--resume", metavar="RUN",
              help="Continue population run RUN (its id is printed when it starts) from its last completed "
                   "generation, with its own settings.")
@click.option("--canary", is_flag=True, help="Route a growing share of live traffic to the winner before promoting it.")
@click.option("--hypothesis", default="", metavar="TEXT", help="What should improve (guides generation, kept in the record).")
@click.option("--url", metavar="URL", help="A running `o-lisp serve` to run the cycle in (default: in-process guardian).")
@click.option("--token", envvar="O_API_TOKEN", metavar="TOKEN", help="The server's API token [env: O_API_TOKEN].")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Give up waiting after this long (exit 1).")
@click.option("--json", "as_json", is_flag=True, help="Print the final cycle as JSON (progress goes to stderr).")
@click.option("--generator", type=click.Choice(["mutation", "llm", "mixed"]), default="mutation", show_default=True,
              metavar="KIND", help="Who writes the candidates: mutation (offline), llm (a model: docs/llm.md) "
                                   "or mixed (both); with --population a model writes a share of each generation.")
@click.option("--model", metavar="NAME[,NAME...]", help="The model for --generator llm/mixed (the agent's or "
              "o-lisp.toml's); several, comma-separated, share the candidates by a bandit on their success rates.")
@click.argument("agent", metavar="AGENT.hy", type=click.Path(dir_okay=False))
@click.argument("definition")
def evolve_command(agent: str, definition: str, data_dir: str | None, generations: int,
                   candidates: int, population: int | None, islands: int | None, workers: int | None,
                   seed: int | None, max_evals: int | None, plot_file: str | None, resume: str | None,
                   canary: bool, hypothesis: str, url: str | None, token: str | None, timeout: float | None,
                   as_json: bool, generator: str, model: str | None) -> None:
    """Run one protected evolution cycle on DEFINITION of AGENT and wait for its verdict.

    Candidates are generated, validated (tests, fitness, performance) and shadow-tested
    against the current code; the best one is promoted only if it is better. The first
    lines say what the decision rests on: with enough live traffic (a server under load),
    a mirrored share of it; otherwise (always without --url) the tests and fitness tasks,
    decided at once. With --url the cycle runs in that server's guardian; otherwise a
    guardian is started on the agent's data directory (like `o-lisp serve`) and stopped
    afterwards.

    With --population the cycle breeds a population instead (docs/evolution.md): each
    generation's individuals are evaluated in parallel shadows against the agent's
    checks (each assert of each deftest) and fitness tasks, and the best of the run is
    promoted if it passes every test and its parent did not (or it is fitter with no
    regression). The run is checkpointed every generation: --resume RUN continues it.
    --json then prints the cycle with its per-generation logbook.

    Exit status: 0 a candidate was promoted, 1 none was (rejected, rolled back, failed),
    2 usage error (including a definition the agent does not have).
    """
    from o_lisp.guardian import _loop as guardian_loop

    if hypothesis:
        _check_hypothesis(hypothesis)
    populated = population is not None or resume is not None
    context = click.get_current_context()
    # Given by the user (command line, O_* variable), not a default (o-lisp.toml's [evolution] included):
    typed = {name for name in ("generations", "candidates") if context.get_parameter_source(name) in
             (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
    _check_population_flags(population, resume, generations if "generations" in typed else None,
                            candidates if "candidates" in typed else None, islands, workers, seed, max_evals,
                            plot_file)
    if populated and context.get_parameter_source("generations") == ParameterSource.DEFAULT:
        generations = 10  # the seeds' default for a population; o-lisp.toml's [evolution] still applies
    if plot_file is not None:
        from o_lisp._plot import PlotUnavailable, check_plotting

        try:
            check_plotting()
        except PlotUnavailable as missing:
            raise click.UsageError(f"--plot: {missing}") from None
    options: dict[str, Any] = {"definition": definition, "hypothesis": hypothesis,
                               "generations": generations, "candidates": candidates, "canary": canary}
    if populated:
        del options["candidates"]
        if resume is not None:
            del options["generations"]
            options["resume"] = resume
        else:
            from o_lisp.guardian._runs import PopulationSettings

            assert population is not None  # (populated, not resumed)
            options.update(population=population, generations=generations,
                           islands=islands or PopulationSettings.default_islands(population))
        for key, value in (("workers", workers), ("seed", seed), ("max_evals", max_evals)):
            if value is not None:
                options[key] = value
    if generator != "mutation":  # (older servers do not know the fields)
        options.update(generator=generator, **({"model": model} if model else {}))
    elif model:
        raise click.UsageError("--model: only with --generator llm or mixed")
    token = token if token is not None and token.strip() else None
    stream = sys.stderr if as_json else sys.stdout
    view = CycleView(stream, live=stream.isatty())
    try:
        if url is not None:
            base = _check_url(url)
            with view:
                cycle = _evolve_remote(base, token, options, view, timeout)
        else:
            if not Path(agent).is_file():
                raise click.UsageError(f"cannot evolve {agent!r}: no such file")
            _check_installation()
            try:
                data = _guardian_data_dir(agent, data_dir)
            except (OSError, UnicodeDecodeError) as problem:
                raise click.UsageError(f"cannot read {agent!r}: {problem}") from None
            except OLispError as error:
                _fail(error)
            with view, _log_lines(sys.stderr):
                # Absolute: shadow workers must find the same files whatever their working directory.
                config = click.get_current_context().meta.get(_CONFIG)
                settings = None if config is None else config.get("llm", "settings")  # [llm]: the shadows' models
                llm = "" if settings is None else settings.resolved(Path.cwd()).to_json()
                cycle = guardian_loop.run(_evolve_local(Path(agent).absolute(), data.absolute(), options, view, timeout,
                                                        llm))
    except EvolveFailed as error:
        sys.stdout.flush()
        click.echo(f"o-lisp: {error.message}", err=True)
        raise click.exceptions.Exit(error.status) from None
    except OLispError as error:
        _fail(error)
    except KeyboardInterrupt:
        _interrupted()
    run = cycle.get("population") if isinstance(cycle.get("population"), dict) else None
    if as_json:
        if run is not None:  # the per-generation logbook and the total, at the top (bench/repair.py reads them)
            cycle = {**cycle, "logbook": run.get("logbook") or [], "evaluations": run.get("evaluations")}
        click.echo(json.dumps(cycle, indent=2, ensure_ascii=False))
    for line in cycle_summary(cycle):
        click.echo(line, err=as_json)
    if plot_file is not None:
        from o_lisp._plot import PlotUnavailable, plot_logbook

        rows = (run or {}).get("logbook") or []
        try:
            plot_logbook(rows, Path(plot_file), title=f"{definition}: run {(run or {}).get('run', '?')}")
        except (PlotUnavailable, OSError, ValueError) as problem:
            click.echo(f"o-lisp: --plot {plot_file}: {problem}", err=True)
            raise click.exceptions.Exit(EXIT_PROGRAM_ERROR) from None
        click.echo(f"fitness per generation drawn in {plot_file}", err=as_json)
    if cycle.get("status") != "promoted":
        raise click.exceptions.Exit(EXIT_PROGRAM_ERROR)


def _check_population_flags(population: int | None, resume: str | None, generations: int | None,
                            candidates: int | None, islands: int | None, workers: int | None, seed: int | None,
                            max_evals: int | None, plot_file: str | None) -> None:
    """The population flags that do not go together, refused before anything starts (exit 2)."""
    from o_lisp.guardian._runs import valid_run_id
    if population is None and resume is None:
        for flag, value in (("--islands", islands), ("--workers", workers), ("--seed", seed),
                            ("--max-evals", max_evals), ("--plot", plot_file)):
            if value is not None:
                raise click.UsageError(f"{flag}: only with --population (or --resume)")
        return
    if candidates is not None:
        raise click.UsageError("--candidates: not with --population or --resume (a population cycle breeds "
                               "--population individuals per generation)")
    if resume is not None:
        for flag, value in (("--population", population), ("--generations", generations),
                            ("--islands", islands), ("--seed", seed), ("--max-evals", max_evals)):
            if value is not None:
                raise click.UsageError(f"{flag}: not with --resume (a resumed run keeps its own settings; "
                                       "only --workers may change)")
        if not valid_run_id(resume):
            raise click.UsageError(f"--resume: {resume!r} is not a run id (like 20261205T071502-3fa9c1)")
        return
    assert population is not None
    if islands is not None and islands > population // 2:
        raise click.UsageError(f"--islands ({islands}) needs at least 2 individuals per island: --population "
                               f"{population} allows at most {population // 2}")


class _NoTraceback(logging.Formatter):
    """One line per record: an operator reads the cause, the traceback is for a debug log."""

    def format(self, record: logging.LogRecord) -> str:
        return f"o-lisp: {record.getMessage()}"


@contextlib.contextmanager
def _log_lines(stream: TextIO) -> Iterator[None]:
    """While the in-process guardian runs, its warnings go to STREAM as plain lines rather than
    to Python's last-resort handler (which would print tracebacks)."""
    logger = logging.getLogger("o_lisp")
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_NoTraceback())
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _check_hypothesis(hypothesis: str) -> None:
    from o_lisp.guardian._requests import MAX_HYPOTHESIS_LENGTH

    if len(hypothesis) > MAX_HYPOTHESIS_LENGTH:
        raise click.BadParameter(f"longer than {MAX_HYPOTHESIS_LENGTH} characters", param_hint="'--hypothesis'")


def _report(result: tuple[list[str], int], as_json: bool = False, **document: Any) -> None:
    """Print a report's lines (or, under --json, one document with them) and exit with its status."""
    lines, status = result
    if as_json:
        emit_json({**document, "ok": status == 0, "exit_code": status, "lines": lines})
    else:
        for line in lines:
            click.echo(line)
    if status:
        raise click.exceptions.Exit(status)


def _checkpoint_headers(data_dir: str) -> list[dict[str, Any]]:
    """Each checkpoint's header as --json gives it (newest first; header check only)."""
    from o_lisp.guardian._vault import CheckpointCorrupt, Vault, VaultError, checkpoint_dir

    try:
        vault = Vault(checkpoint_dir(data_dir), readonly=True)
    except VaultError:
        return []
    headers: list[dict[str, Any]] = []
    for checkpoint_id in reversed(vault._ids()):
        path = vault.path_for(checkpoint_id)
        try:
            info = vault._header(path)
        except (CheckpointCorrupt, OSError) as problem:
            reason = problem.reason if isinstance(problem, CheckpointCorrupt) else str(problem)
            headers.append({"file": path.name, "ok": False, "problem": reason})
            continue
        headers.append({"file": path.name, "ok": True, "id": info.checkpoint_id, "wal_seq": info.wal_seq,
                        "created": info.created, "raw_size": info.raw_size,
                        "compressed_size": info.compressed_size, "sha256": info.sha256})
    return headers


@main.group("checkpoints")
def checkpoints_group() -> None:
    """Inspect the guardian's checkpoints (read-only; safe while it runs)."""


@checkpoints_group.command("list")
@json_option
@click.argument("data_dir", metavar="DATA_DIR", type=click.Path(exists=True, file_okay=False))
def checkpoints_list(data_dir: str, as_json: bool) -> None:
    """Checkpoints in DATA_DIR, one line each (headers only). Exit 2 if DATA_DIR is missing."""
    from o_lisp.guardian._vault import list_command

    extra = {"checkpoints": _checkpoint_headers(data_dir)} if as_json else {}
    _report(list_command(data_dir), as_json, data_dir=data_dir, **extra)


@checkpoints_group.command("verify")
@json_option
@click.argument("data_dir", metavar="DATA_DIR", type=click.Path(exists=True, file_okay=False))
def checkpoints_verify(data_dir: str, as_json: bool) -> None:
    """Verify every checkpoint in DATA_DIR in full (header, size, SHA-256). Exit 1 if any is bad,
    2 if DATA_DIR is missing."""
    from o_lisp.guardian._vault import verify_command

    _report(verify_command(data_dir), as_json, data_dir=data_dir)


@main.group("wal")
def wal_group() -> None:
    """Inspect the guardian's write-ahead log (read-only; safe while it runs)."""


@wal_group.command("verify")
@json_option
@click.argument("data_dir", metavar="DATA_DIR", type=click.Path(exists=True, file_okay=False))
def wal_verify(data_dir: str, as_json: bool) -> None:
    """Check every WAL record in DATA_DIR (frame, CRC32C, sequence, payload). Exit 1 on corruption,
    2 if DATA_DIR is missing."""
    from o_lisp.guardian._wal import verify

    report = verify(data_dir)
    _report((report.lines, report.status), as_json, data_dir=data_dir)


if __name__ == "__main__":  # pragma: no cover
    main()
