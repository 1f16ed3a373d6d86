"""The `o-lisp` command line: `eval`, `run`, `repl` and `--version`.

Exit codes: 0 success, 1 the program failed (any `LispError`, reported with its
position and a source excerpt, never a Python traceback), 2 usage error (bad
options, unreadable file), 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import metadata
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
    try:
        with open(file, encoding="utf-8") as stream:
            source = stream.read()
    except FileNotFoundError:
        raise click.UsageError(f"cannot run {file!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as problem:
        reason = problem.strerror if isinstance(problem, OSError) else "not valid UTF-8"
        raise click.UsageError(f"cannot run {file!r}: {reason}") from None
    limits = make_limits(steps, time_, depth, max_size, unlimited)
    try:
        interp = _new_interpreter(limits)
        interp.define("argv", [file, *args])
        interp.eval(source, filename=file)
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


if __name__ == "__main__":  # pragma: no cover
    main()
