"""The interactive read-eval-print loop of `o-lisp repl`.

The logic (when is an input complete, commands, printing values and errors)
lives in `Repl` and is independent of the terminal: `run_interactive` drives it
with prompt_toolkit, `run_stream` with plain lines from any text stream (used
when stdin is not a terminal, and by the tests).

The reader decides when an input is complete: while it stops with
`PrematureEndOfInput` (an unclosed bracket or string, a quote prefix with no
form after it) the REPL asks for more lines (`... `). Anything else, valid or
not, is evaluated at once, so that an error is reported with its position.
A line starting with `,` at the start of an input is a REPL command.

`(doc NAME)` and `(help NAME)` show a definition's signature and docstring (unless the
session defines `doc` or `help` itself). `*1`, `*2` and `*3` hold the last three values
printed, `*e` the last error (the exception a program raised, or the o_lisp error).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.lexers import Lexer, PygmentsLexer
from prompt_toolkit.output import Output

from o_lisp._errors import LispError, OLispError, ProgramError, ReadError
from o_lisp._interpreter import Interpreter
from o_lisp._limits import Limits
from o_lisp._printer import hy_repr, to_source
from o_lisp._reader import PrematureEndOfInput, read_many
from o_lisp.forms import Expression, List, String, Symbol

PROMPT = "=> "
CONTINUATION = "... "
FILENAME = "<repl>"
HISTORY_ENV = "O_LISP_HISTORY"
SHORT_VALUE = 60

#: Special forms and core macros offered by completion besides the defined names.
SPECIAL_FORMS: tuple[str, ...] = (
    "setv", "defn", "fn", "let", "nonlocal", "global", "if", "when", "unless", "cond",
    "do", "and", "or", "not", "for", "while", "break", "continue", "return", "try",
    "except", "else", "finally", "raise", "del", "get", "cut", "lfor", "dfor", "sfor",
    "gfor", "quote", "quasiquote", "unquote", "unquote-splice", "defmacro", "macroexpand",
    "in", "not-in", "is", "is-not", "->", "->>", "as->", "cond->", "doto", "when->",
    "hy.repr", "hy.gensym", "hy.mangle", "hy.read", "hy.read-many", "hy.macroexpand",
    "True", "False", "None",
)  # fmt: skip

RESULTS = ("*1", "*2", "*3")
"""The names holding the last three values printed, newest first."""
LAST_ERROR = "*e"
"""The name holding the last error."""
DOC_FORMS = ("doc", "help")
"""`(doc NAME)` / `(help NAME)`: a definition's signature and docstring."""
NO_DOCSTRING = "(no docstring)"

COMMANDS: dict[str, str] = {
    ",help": "show this help",
    ",limits": "show the budgets applied to each input",
    ",env": "show the defined names and their values",
    ",quit": "leave the REPL (Ctrl-D works too)",
}

_OPENERS = "([{"
_CLOSERS = ")]}"
_PREFIXES = frozenset({"'", "`", "~@", "~", "#_"})
_BRACKET_STRING = re.compile(r"#\[([^\[\]\s]*)\[")


def _scan(text: str) -> tuple[int, bool]:
    """Scan Hy source: (open bracket depth, whether it stops inside a string).

    The depth is negative when a closing bracket has no opener. Comments,
    strings (with backslash escapes) and bracket strings `#[x[...]x]` are
    skipped.
    """
    depth = 0
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == ";":
            newline = text.find("\n", index)
            if newline < 0:
                break
            index = newline + 1
            continue
        if char == '"':
            index += 1
            while index < length and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
            if index >= length:
                return depth, True
            index += 1
            continue
        if char == "#" and text.startswith("#[", index):
            match = _BRACKET_STRING.match(text, index)
            if match is not None:
                end = text.find(f"]{match.group(1)}]", match.end())
                if end < 0:
                    return depth, True
                index = end + len(match.group(1)) + 2
                continue
        if char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth -= 1
            if depth < 0:
                return depth, False
        index += 1
    return depth, False


def _strip_comments(text: str) -> str:
    return "\n".join(line.split(";", 1)[0] for line in text.splitlines())


def is_complete(text: str) -> bool:
    """Whether `text` can be evaluated now, or the REPL should ask for more lines.

    The reader decides: text it rejects with a premature end of input (an
    unclosed bracket or string, a quote prefix with no form after it) needs
    more lines; anything else, valid or not, is complete, so that it is
    evaluated and any error reported with its position. Should the reader fail
    in an unexpected way, a bracket scan decides instead.
    """
    if not text.strip():
        return True
    try:
        read_many(text, filename=FILENAME)
    except PrematureEndOfInput:
        return False
    except ReadError:
        return True
    except Exception:
        depth, in_string = _scan(text)
        tokens = _strip_comments(text).split()
        return not (in_string or depth > 0 or (tokens and tokens[-1] in _PREFIXES))
    return True


class Repl:
    """One REPL session around an interpreter; prints to `out` and `err`."""

    def __init__(
        self,
        interp: Interpreter,
        limits: Limits | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.interp = interp
        if limits is None:
            limits = getattr(interp, "limits", None)
        self.limits = limits if isinstance(limits, Limits) else Limits()
        self._out = out
        self._err = err
        self.failures = 0
        self.finished = False
        for name in (*RESULTS, LAST_ERROR):
            self.interp.define(name, None)
        # What the interpreter defines before the first input (the stdlib, capabilities):
        # `,env` shows only what the session defined or redefined since.
        self._initial = {name: self._defining_form(name) for name in self.names()}

    @property
    def out(self) -> TextIO:
        return self._out if self._out is not None else sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err if self._err is not None else sys.stderr

    def _print(self, text: str, error: bool = False) -> None:
        stream = self.err if error else self.out
        self.out.flush()
        stream.write(text + "\n")
        stream.flush()

    # -- one input ---------------------------------------------------------

    def handle(self, text: str) -> bool:
        """Evaluate one complete input (or run a `,command`); False once the REPL should end."""
        stripped = text.strip()
        if not stripped:
            return not self.finished
        if stripped.startswith(","):
            return self.command(stripped)
        asked = self._doc_request(text)
        if asked is not None:
            return self.show_doc(asked)
        try:
            with self._program_output():
                value = self.interp.eval(text, filename=FILENAME)
            if value is not None:
                self._print(self._repr(value))
                self._remember(value)
        except OLispError as error:
            self.failures += 1
            self._remember_error(error)
            if isinstance(error, LispError):
                self._print(error.describe(), error=True)
            else:
                self._print(f"{type(error).__name__}: {error}", error=True)
        return not self.finished

    def _remember(self, value: object) -> None:
        """Shift `*1 *2 *3`: `value` becomes `*1`."""
        previous = [self._lookup(name) for name in RESULTS[:-1]]
        for name, held in zip(RESULTS, [value, *previous], strict=True):
            self.interp.define(name, held)

    def _remember_error(self, error: OLispError) -> None:
        """`*e`: the exception the program raised (so `(isinstance *e ValueError)` works), or
        the o_lisp error itself (a limit, a read or compile error, a sandbox violation)."""
        held: BaseException = error.exception if isinstance(error, ProgramError) else error
        self.interp.define(LAST_ERROR, held.with_traceback(None))

    def _lookup(self, name: str) -> object:
        try:
            return self.interp.lookup(name)
        except KeyError:
            return None

    # -- (doc NAME) ----------------------------------------------------------

    def _doc_request(self, text: str) -> object | None:
        """The argument of an input that is exactly `(doc X)` or `(help X)`, unless the session
        defined `doc` / `help` itself; None for any other input."""
        try:
            forms = read_many(text, filename=FILENAME)
        except Exception:
            return None
        if len(forms) != 1 or type(forms[0]) is not Expression or not forms[0]:
            return None
        head = forms[0][0]
        if type(head) is not Symbol or str(head) not in DOC_FORMS or str(head) in self.names():
            return None
        return forms[0][1] if len(forms[0]) == 2 else forms[0]

    def show_doc(self, asked: object) -> bool:
        """Print what `(doc NAME)` shows, or why it cannot (a failure, like an error)."""
        if type(asked) is not Symbol:
            self.failures += 1
            self._print("usage: (doc NAME) or (help NAME), e.g. (doc ->)", error=True)
            return not self.finished
        text = self.doc_text(str(asked))
        if text is None:
            self.failures += 1
            self._print(f"NameError: name '{asked}' is not defined", error=True)
        else:
            self._print(text)
        return not self.finished

    def doc_text(self, name: str) -> str | None:
        """The signature and docstring of `name`: a `defn` or `defmacro` of the session or the
        stdlib, a value bound by `setv`, a built-in or capability; None if it is not defined."""
        form = self._defining_form(name)
        if type(form) is Expression and len(form) >= 3 and str(form[0]) in ("defn", "defmacro"):
            params = form[2] if type(form[2]) is List else List([])
            body = list(form[3:])
            docstring = str(body[0]) if len(body) > 1 and type(body[0]) is String else None
            signature = f"({form[0]} {name} {to_source(params)})"
            return f"{signature}\n{_indent(docstring or NO_DOCSTRING)}"
        if name in self.names():
            if name in self._macros():
                return f"{name}: a macro\n{_indent(NO_DOCSTRING)}"
            return f"{name} = {self._short_value(name)}"
        if name in self.interp.builtin_names():
            return f"{name}: a built-in (docs/language.md lists them)"
        return None

    def command(self, line: str) -> bool:
        """Run a `,command`; False for `,quit`."""
        name, _, _argument = line.partition(" ")
        name = name.lower()
        if name in (",quit", ",q", ",exit"):
            self.finished = True
            return False
        if name in (",help", ",h", ",?"):
            self._print(self.help_text())
        elif name == ",limits":
            self._print(self.limits_text())
        elif name == ",env":
            self._print(self.env_text())
        else:
            self.failures += 1
            self._print(f"unknown command {name} (try ,help)", error=True)
        return True

    # -- commands ----------------------------------------------------------

    def help_text(self) -> str:
        lines = ["Type Lisp forms to evaluate them; each value is printed with hy.repr."]
        lines.append("An input continues (...) until its brackets balance.")
        lines.append("(doc NAME) or (help NAME) shows a definition's signature and docstring;")
        lines.append("*1 *2 *3 are the last three values printed, *e the last error.")
        lines.extend(f"  {name:<8} {text}" for name, text in COMMANDS.items())
        lines.append("Ctrl-C cancels the current input, Ctrl-D leaves.")
        return "\n".join(lines)

    def limits_text(self) -> str:
        limits = self.limits
        fields = (
            ("steps", limits.steps, ""),
            ("time", limits.time, "s"),
            ("depth", limits.depth, ""),
            ("max_size", limits.max_size, ""),
            ("max_int_bits", limits.max_int_bits, ""),
        )
        return "\n".join(
            f"{name:<13}{'unlimited' if value is None else f'{value}{unit}'}"
            for name, value, unit in fields
        )

    def _program_output(self) -> contextlib.AbstractContextManager[object]:
        """Send what the program prints to `out` when the REPL was given one."""
        if self._out is None:
            return contextlib.nullcontext()
        return contextlib.redirect_stdout(self._out)

    def _defining_form(self, name: str) -> object:
        try:
            return self.interp.forms(name)
        except Exception:
            return None

    def session_names(self) -> list[str]:
        """The names defined (or redefined) since the REPL started."""
        return [
            name
            for name in self.names()
            if (name not in self._initial or self._defining_form(name) is not self._initial[name])
            and name not in (*RESULTS, LAST_ERROR)
        ]

    def env_text(self) -> str:
        names = sorted(self.session_names())
        if not names:
            return "(no names defined)"
        width = min(max(len(name) for name in names), 24)
        lines = []
        for name in names:
            lines.append(f"{name:<{width}} = {self._short_value(name)}")
        return "\n".join(lines)

    def _short_value(self, name: str) -> str:
        if name in self._macros():
            return "<macro>"
        try:
            text = self._repr(self.interp.eval(Symbol(name), filename=FILENAME))
        except Exception:
            return "..."
        text = " ".join(text.split())
        return text if len(text) <= SHORT_VALUE else text[: SHORT_VALUE - 3] + "..."

    def _macros(self) -> set[str]:
        try:
            return {str(name) for name in self.interp.macros()}
        except Exception:
            return set()

    def names(self) -> list[str]:
        try:
            return [str(name) for name in self.interp.names()]
        except Exception:
            return []

    def completions(self, prefix: str) -> list[str]:
        """The names, special forms and commands starting with `prefix`."""
        if prefix.startswith(","):
            return [name for name in COMMANDS if name.startswith(prefix)]
        words = set(self.names()) | set(SPECIAL_FORMS)
        return sorted(word for word in words if word.startswith(prefix))

    @staticmethod
    def _repr(value: object) -> str:
        return hy_repr(value)

    # -- drivers -----------------------------------------------------------

    def inputs(self, lines: Iterable[str]) -> Iterator[str]:
        """Group lines into complete inputs (a command is always one line)."""
        buffer: list[str] = []
        for raw in lines:
            line = raw[:-1] if raw.endswith("\n") else raw
            if not buffer and line.strip().startswith(","):
                yield line
                continue
            buffer.append(line)
            text = "\n".join(buffer)
            if is_complete(text):
                buffer = []
                yield text
        if buffer and "\n".join(buffer).strip():
            yield "\n".join(buffer)  # the reader reports the premature end

    def run_stream(self, stream: Iterable[str]) -> int:
        """Read inputs from lines of text (no prompts); the exit status: 1 if any failed."""
        for text in self.inputs(stream):
            if not self.handle(text):
                break
        return 1 if self.failures else 0

    def run_interactive(self, input: Input | None = None, output: Output | None = None) -> int:
        """The prompt_toolkit REPL: history, completion, multi-line editing.

        `input` and `output` default to the terminal (tests pass a pipe).
        """
        session = self._prompt_session(input, output)
        self._print("o-lisp REPL; ,help for help, Ctrl-D to leave.")
        while True:
            try:
                text = session.prompt(PROMPT)
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            try:
                if not self.handle(text):
                    break
            except KeyboardInterrupt:
                self._print("KeyboardInterrupt", error=True)
            except Exception:  # an interpreter bug: report it, keep the session
                self._print("internal error (a bug in o_lisp, not in your program):", error=True)
                self._print(traceback.format_exc().rstrip(), error=True)
        return 0

    def _prompt_session(self, input: Input | None, output: Output | None) -> PromptSession[str]:
        bindings = KeyBindings()

        @bindings.add("enter")
        def _enter(event: KeyPressEvent) -> None:
            buffer = event.current_buffer
            text = buffer.text
            if text.strip().startswith(",") or is_complete(text):
                buffer.validate_and_handle()
            else:
                buffer.insert_text("\n")

        @bindings.add("escape", "enter")
        def _newline(event: KeyPressEvent) -> None:
            event.current_buffer.insert_text("\n")

        history: History
        try:
            path = history_path()
            path.touch(exist_ok=True)
            history = FileHistory(str(path))
        except OSError:
            history = InMemoryHistory()

        def continuation(width: int, line_number: int, is_soft_wrap: int) -> str:
            return CONTINUATION.rjust(width)

        return PromptSession(
            history=history,
            completer=_Completer(self),
            complete_while_typing=False,
            multiline=True,
            key_bindings=bindings,
            prompt_continuation=continuation,
            lexer=_lexer(),
            input=input,
            output=output,
        )


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in inspect.cleandoc(text).splitlines())


def history_path() -> Path:
    """Where the REPL keeps its history: `$O_LISP_HISTORY` or `~/.o_lisp_history`."""
    configured = os.environ.get(HISTORY_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".o_lisp_history"


_WORD = re.compile(r"[^\s()\[\]{}\"';`~]*$")


def word_before(text: str) -> str:
    """The symbol (or `,command`) being typed at the end of `text`."""
    match = _WORD.search(text)
    return match.group(0) if match else ""


class _Completer(Completer):
    """prompt_toolkit completion of defined names, special forms and commands."""

    def __init__(self, repl: Repl) -> None:
        self.repl = repl

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        prefix = word_before(document.text_before_cursor)
        if not prefix:
            return
        for word in self.repl.completions(prefix):
            yield Completion(word, start_position=-len(prefix))


def _lexer() -> Lexer | None:  # pragma: no cover - cosmetic
    """Syntax highlighting with Pygments' Hy lexer, when available."""
    try:
        lisp = importlib.import_module("pygments.lexers.lisp")
        return PygmentsLexer(lisp.HyLexer)
    except (ImportError, AttributeError):
        return None
