"""The error hierarchy: one root, user-facing errors separate from internal ones.

Every error a user can cause by writing a program derives from `LispError` and
carries the position of the offending form (file:line:col, 1-based like Hy) and,
when the source text is known, a caret excerpt. Internal bugs are plain Python
exceptions and are never dressed up as user errors.

    OLispError                  root of everything o_lisp raises on purpose (exit_code 1)
    ├── UsageError              a request that cannot be carried out as asked (exit_code 2)
    ├── InstallationError       o_lisp's own files are missing or unreadable (not the program's fault)
    └── LispError               a problem with the program being run
        ├── ReadError           text that is not valid o_lisp syntax
        ├── CompileError        well-formed text that is not a valid program
        ├── SandboxViolation    the program tried to leave the sandbox
        ├── LimitExceeded       the program exhausted a budget (steps, time, ...)
        └── ProgramError        the program raised an exception it did not catch
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Position:
    """Where a form starts and ends: 1-based lines and columns, end inclusive (Hy's convention)."""

    filename: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.column}"


class OLispError(Exception):
    """Root of every exception o_lisp raises deliberately.

    `exit_code` is what the command line exits with when the error reaches it (like
    click's `ClickException.exit_code`): 1, a program error, unless a subclass says
    the request itself was wrong (2, `UsageError`). The command line maps errors to
    exit codes in one place (`o_lisp.cli`).
    """

    exit_code: int = 1


class UsageError(OLispError):
    """The request cannot be carried out as asked (an unknown revision, a bad config
    file): the user's command is wrong, not the program it runs. Exit code 2."""

    exit_code = 2


class InstallationError(OLispError):
    """A file that ships inside the o_lisp package (the Lisp standard library, the rewrite
    templates) is missing or unreadable: the installation is broken, not the program, so
    this is never reported as a `LispError` and the remedy is to reinstall."""


class LispError(OLispError):
    """An error in the program being read, compiled or run, with its position.

    `message` is the bare explanation; `str(error)` prefixes the position and
    `error.excerpt()` renders the offending source line with a caret under it.
    """

    kind = "error"

    def __init__(
        self,
        message: str,
        position: Position | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.source = source

    def with_position(self, position: Position | None, source: str | None = None) -> LispError:
        """Attach a position (and source) when the error does not know one yet."""
        if self.position is None and position is not None:
            self.position = position
        if self.source is None and source is not None:
            self.source = source
        return self

    @property
    def filename(self) -> str | None:
        return self.position.filename if self.position else None

    @property
    def line(self) -> int | None:
        return self.position.line if self.position else None

    @property
    def column(self) -> int | None:
        return self.position.column if self.position else None

    def excerpt(self) -> str:
        """The source line of the error with a caret under the column, or '' if unknown."""
        if self.position is None or self.source is None:
            return ""
        lines = self.source.splitlines()
        index = self.position.line - 1
        if not 0 <= index < len(lines):
            return ""
        text = lines[index]
        column = max(self.position.column, 1)
        start = max(0, column - 60)
        shown = text[start : start + 120].replace("\t", " ")
        return f"  {shown}\n  {' ' * (column - 1 - start)}^"

    def __str__(self) -> str:
        if self.position is None:
            return self.message
        return f"{self.position}: {self.message}"

    def describe(self) -> str:
        """A full, user-facing report: class name, position, message and excerpt."""
        head = f"{type(self).__name__}: {self}"
        excerpt = self.excerpt()
        return f"{head}\n{excerpt}" if excerpt else head


class ReadError(LispError):
    """The text is not valid o_lisp syntax (unbalanced brackets, bad escapes, ...)."""


class CompileError(LispError):
    """The forms are syntactically valid but not a valid program (e.g. `(if)`)."""


class SandboxViolation(LispError):
    """The program tried to reach outside the sandbox (attributes, imports, dunders, ...)."""


class LimitExceeded(LispError):
    """The program exhausted one of its budgets; `limit` names which one."""

    def __init__(
        self,
        limit: str,
        message: str,
        position: Position | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message, position, source)
        self.limit = limit


class ProgramError(LispError):
    """The program raised an exception that it did not catch.

    `exception` is the original exception object and `type_name` its class
    name, so that an embedder can react to `ValueError` and friends.
    """

    def __init__(
        self,
        exception: BaseException,
        position: Position | None = None,
        source: str | None = None,
        *,
        text: str | None = None,
    ) -> None:
        """`text` replaces `str(exception)` (the interpreter passes one when that string
        would be too large to build)."""
        self.exception = exception
        self.type_name = type(exception).__name__
        if text is None:
            text = str(exception)
        super().__init__(f"{self.type_name}: {text}" if text else self.type_name, position, source)
