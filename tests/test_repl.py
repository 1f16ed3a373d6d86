"""The REPL: when an input is complete, commands, printing, error recovery.

`Repl.run_stream` is the non-terminal path (`echo ... | o-lisp repl`);
`Repl.run_interactive` is driven through a prompt_toolkit pipe input.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from o_lisp import Interpreter, Limits, _repl
from o_lisp._repl import Repl, _Completer, history_path, is_complete, word_before


def make_repl(limits: Limits | None = None) -> tuple[Repl, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    limits = limits or Limits()
    return Repl(Interpreter(limits=limits), limits, out=out, err=err), out, err


def run(text: str, limits: Limits | None = None) -> tuple[int, str, str]:
    repl, out, err = make_repl(limits)
    status = repl.run_stream(io.StringIO(text))
    return status, out.getvalue(), err.getvalue()


# -- when is an input complete ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "(+ 1 2)",
        "42",
        "x",
        '"a string"',
        '(print "(unbalanced in a string")',
        '(print "escaped \\" quote (")',
        "(+ 1 2) ; a comment (",
        "; only a comment [",
        "[1 2 {3 4}]",
        "#(1 2)",
        "#{1 2}",
        "'(a b)",
        "#[[ a bracket string ( ]]",
        "#[x[ with ]] inside ]x]",
        "(+ 1 2))",  # over-closed: evaluate now so the reader reports it
        "(+ 1 2]",  # mismatched: the reader's business, not "more input"
    ],
)
def test_complete_inputs(text: str) -> None:
    assert is_complete(text)


@pytest.mark.parametrize(
    "text",
    [
        "(+ 1",
        "(defn f [x]\n",
        "(defn f [x]\n  (* x 2)",
        "[1 2",
        "{1 2",
        "#(1",
        '"an open string',
        '(print "open string)',
        '(print "line one\nline two',
        "(+ 1 2) (",
        "(f ; comment)\n",
        "'",
        "(+ 1 2) '",
        "`",
        "~@",
        "#_",
        "#[[ an open bracket string",
    ],
)
def test_incomplete_inputs(text: str) -> None:
    assert not is_complete(text)


def test_bracket_scan_decides_if_the_reader_fails_unexpectedly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(text: str, filename: str = "<string>") -> None:
        raise RuntimeError("reader bug")

    monkeypatch.setattr(_repl, "read_many", broken)
    assert is_complete("(+ 1 2)")
    assert is_complete('(print "(")')
    assert not is_complete("(+ 1")
    assert not is_complete('"open')
    assert not is_complete("(+ 1 2) '")
    assert not is_complete("#[[ open")
    assert is_complete("#[x[ ( ]x] ; (")


def test_word_before() -> None:
    assert word_before("(setv my-var") == "my-var"
    assert word_before("(-> x (f") == "f"
    assert word_before(",li") == ",li"
    assert word_before("(f ") == ""
    assert word_before("") == ""


# -- the non-terminal path --------------------------------------------------


def test_value_is_printed_with_hy_repr() -> None:
    assert run('(+ 1 2)\n"hi"\n[1 "a" :k]\n{"a" 1}\n\'(a b)\n') == (
        0,
        '3\n"hi"\n[1 "a" :k]\n{"a" 1}\n\'(a b)\n',
        "",
    )


def test_none_is_not_printed_but_program_output_is() -> None:
    assert run('None\n(print "hello")\n(setv x 1)\n') == (0, "hello\n", "")


def test_last_value_of_a_line_with_several_forms() -> None:
    assert run("(setv x 20) (+ x 1) (* x 2)\n") == (0, "40\n", "")


def test_state_persists_between_inputs() -> None:
    assert run("(defn double [x] (* 2 x))\n(setv y 21)\n(double y)\n") == (0, "42\n", "")


def test_multi_line_input_continues_until_balanced() -> None:
    text = "(defn f [x]\n  ; a comment (\n  (+ x\n     1))\n(f 1)\n"
    assert run(text) == (0, "2\n", "")


def test_multi_line_string() -> None:
    assert run('(+ "a\nb"\n   "c")\n') == (0, '"a\\nbc"\n', "")


def test_blank_lines_and_comments_print_nothing() -> None:
    assert run("\n   \n; just a comment\n(+ 1 1)\n") == (0, "2\n", "")


def test_no_trailing_newline() -> None:
    assert run("(+ 1 2)") == (0, "3\n", "")


def test_error_is_reported_and_the_repl_continues() -> None:
    status, out, err = run("(setv x 1)\n(/ x 0)\n(+ x 1)\n")
    assert (status, out) == (1, "2\n")
    assert err == (
        "ProgramError: <repl>:1:1: ZeroDivisionError: division by zero\n  (/ x 0)\n  ^\n"
    )


def test_syntax_error_position_in_a_multi_line_input() -> None:
    status, out, err = run("(+ 1\n   2))\n(+ 1 1)\n")
    assert (status, out) == (1, "2\n")
    assert err == (
        "ReadError: <repl>:2:6: unexpected ')': no bracket is open\n     2))\n       ^\n"
    )


def test_input_cut_short_at_end_of_stream_is_a_read_error() -> None:
    status, out, err = run("(+ 1 1)\n(+ 1\n")
    assert (status, out) == (1, "2\n")
    assert err.startswith("PrematureEndOfInput: <repl>:1:5: premature end of input")


def test_limits_apply_to_each_input() -> None:
    status, out, err = run("(while True (+ 1 1))\n(+ 1 2)\n", Limits(steps=1000))
    assert (status, out) == (1, "3\n")
    assert err.startswith("LimitExceeded: <repl>:1:")


def test_sandbox_violation_is_reported() -> None:
    status, out, err = run('(. "x" upper)\n"still here"\n')
    assert (status, out) == (1, '"still here"\n')
    assert err.startswith("SandboxViolation: <repl>:1:")


# -- commands ---------------------------------------------------------------


def test_help_command() -> None:
    status, out, err = run(",help\n")
    assert (status, err) == (0, "")
    for command in (",help", ",limits", ",env", ",quit"):
        assert command in out


def test_limits_command() -> None:
    limits = Limits(steps=500, time=2.5, depth=50, max_size=1000)
    assert run(",limits\n", limits) == (
        0,
        "steps        500\n"
        "time         2.5s\n"
        "depth        50\n"
        "max_size     1000\n"
        f"max_int_bits {Limits().max_int_bits}\n",
        "",
    )


def test_limits_command_unlimited() -> None:
    status, out, _ = run(",limits\n", Limits.unlimited())
    assert status == 0
    assert out.splitlines() == [
        "steps        unlimited",
        "time         unlimited",
        "depth        unlimited",
        "max_size     unlimited",
        "max_int_bits unlimited",
    ]


def test_env_command_shows_names_and_short_values() -> None:
    status, out, err = run('(setv answer 42)\n(setv greeting "hi")\n(setv big (list (range 100)))\n,env\n')
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert "answer   = 42" in lines
    assert 'greeting = "hi"' in lines
    [big] = [line for line in lines if line.startswith("big ")]
    assert big.startswith("big      = [0 1 2 3")
    assert big.endswith("...")
    assert len(big) <= 11 + 60


def test_env_command_shows_only_what_the_session_defined() -> None:
    assert run(",env\n") == (0, "(no names defined)\n", "")
    status, out, _ = run("(defn inc [x] (+ x 100))\n(defmacro m [] 1)\n,env\n")
    assert status == 0
    assert out.splitlines()[0].startswith("inc = <function")
    assert out.splitlines()[1:] == ["m   = <macro>"]


def test_quit_command_stops_reading() -> None:
    assert run("(+ 1 1)\n,quit\n(+ 2 2)\n") == (0, "2\n", "")


def test_unknown_command() -> None:
    assert run(",frobnicate\n(+ 1 1)\n") == (
        1,
        "2\n",
        "unknown command ,frobnicate (try ,help)\n",
    )


def test_command_is_only_recognised_at_the_start_of_an_input() -> None:
    # Inside an unfinished input a line starting with `,` is just more text
    # (`,quit` reads as a symbol, which is not defined).
    status, out, err = run("(+ 1\n,quit\n2)\n(+ 5 5)\n")
    assert (status, out) == (1, "10\n")
    assert err.startswith(("CompileError: <repl>:2:1", "ProgramError: <repl>:2:1"))


# -- completion -------------------------------------------------------------


def test_completion_of_special_forms_names_and_commands() -> None:
    repl, _, _ = make_repl()
    repl.handle("(setv my-counter 1) (defn my-function [] 2)")
    assert "setv" in repl.completions("se")
    assert {"my-counter", "my-function"} <= set(repl.completions("my-"))
    assert repl.completions(",l") == [",limits"]
    assert repl.completions("zzz-nothing") == []


def test_prompt_toolkit_completer() -> None:
    repl, _, _ = make_repl()
    repl.handle("(setv my-counter 1)")
    completer = _Completer(repl)
    text = "(+ my-c"
    completions = list(completer.get_completions(Document(text), CompleteEvent()))
    assert [(c.text, c.start_position) for c in completions] == [("my-counter", -4)]
    assert list(completer.get_completions(Document("(+ "), CompleteEvent())) == []


# -- history ----------------------------------------------------------------


def test_history_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("O_LISP_HISTORY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert history_path() == tmp_path / ".o_lisp_history"
    monkeypatch.setenv("O_LISP_HISTORY", str(tmp_path / "elsewhere"))
    assert history_path() == tmp_path / "elsewhere"


# -- the interactive path, through a prompt_toolkit pipe ---------------------


@pytest.fixture
def history(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "history"
    monkeypatch.setenv("O_LISP_HISTORY", str(path))
    return path


def interactive(keys: str, interp: object = None) -> tuple[int, str, str]:
    repl, out, err = make_repl()
    if interp is not None:
        repl.interp = interp
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text(keys)
        status = repl.run_interactive(input=pipe, output=DummyOutput())
    return status, out.getvalue(), err.getvalue()


def lines_of(out: str) -> Iterator[str]:
    # Skip the banner.
    return iter(out.splitlines()[1:])


def test_interactive_eval_and_ctrl_d(history: Path) -> None:
    status, out, err = interactive("(+ 1 2)\r\x04")
    assert (status, err) == (0, "")
    assert out.splitlines() == ["o-lisp REPL; ,help for help, Ctrl-D to leave.", "3"]
    assert "(+ 1 2)" in history.read_text()


def test_interactive_continuation_lines(history: Path) -> None:
    status, out, _ = interactive("(+ 1\r2\r3)\r\x04")
    assert status == 0
    assert list(lines_of(out)) == ["6"]


def test_interactive_ctrl_c_cancels_the_input(history: Path) -> None:
    status, out, _ = interactive("(+ 1\r\x03(+ 2 2)\r\x04")
    assert status == 0
    assert list(lines_of(out)) == ["4"]


def test_interactive_error_then_quit(history: Path) -> None:
    status, out, err = interactive('(get [] 1)\r"after"\r,quit\r(+ 1 1)\r')
    assert status == 0
    assert list(lines_of(out)) == ['"after"']
    assert err.startswith("ProgramError: <repl>:1:1: IndexError")


class _Failing:
    """Raises what its input names: a Ctrl-C during evaluation, or an internal bug."""

    def eval(self, source: str, filename: str = "<eval>") -> object:
        if source == "interrupt":
            raise KeyboardInterrupt
        if source == "bug":
            raise RuntimeError("interpreter bug")
        return source

    def names(self) -> list[str]:
        return []

    def define(self, name: str, value: object) -> None:
        pass

    def lookup(self, name: str) -> object:
        raise KeyError(name)


def test_interactive_survives_interrupts_and_internal_errors(history: Path) -> None:
    status, out, err = interactive("interrupt\rbug\rok\r\x04", _Failing())
    assert status == 0
    assert list(lines_of(out)) == ['"ok"']
    assert err.startswith(
        "KeyboardInterrupt\ninternal error (a bug in o_lisp, not in your program):\n"
        "Traceback (most recent call last):\n"
    )
    assert err.endswith("RuntimeError: interpreter bug\n")


# -- (doc NAME), *1 *2 *3, *e -------------------------------------------------


FIB = (
    '(defn fib [n [memo None] #* more]\n'
    '  "The n-th Fibonacci number.\n'
    "\n"
    '  Slowly."\n'
    "  (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))\n"
)


def test_doc_shows_the_signature_and_the_docstring() -> None:
    assert run(FIB + "(doc fib)\n(help fib)\n") == (
        0,
        "(defn fib [n [memo None] #* more])\n  The n-th Fibonacci number.\n\n  Slowly.\n" * 2,
        "",
    )


def test_doc_of_a_stdlib_macro_and_a_session_macro() -> None:
    assert run('(defmacro twice [x] "Evaluates X twice." `(do ~x ~x))\n(doc twice)\n(doc ->)\n') == (
        0,
        "(defmacro twice [x])\n  Evaluates X twice.\n"
        "(defmacro -> [head #* rest])\n"
        "  Thread `head` through the forms as their first argument: (-> x (f a) g) is (g (f x a)).\n",
        "",
    )


def test_doc_without_a_docstring_a_value_and_a_builtin() -> None:
    """A string that is the whole body is the return value, not a docstring."""
    assert run('(defn g [x] "just a value")\n(doc g)\n(setv v [1 2])\n(doc v)\n(doc len)\n') == (
        0,
        '(defn g [x])\n  (no docstring)\nv = [1 2]\nlen: a built-in (docs/language.md lists them)\n',
        "",
    )


def test_doc_of_an_unknown_name_or_a_non_name_fails() -> None:
    assert run("(doc nope)\n(help (f))\n") == (
        1,
        "",
        "NameError: name 'nope' is not defined\nusage: (doc NAME) or (help NAME), e.g. (doc ->)\n",
    )


def test_a_session_definition_of_doc_wins() -> None:
    assert run('(defn doc [x] (+ "mine: " x))\n(doc "a")\n') == (0, '"mine: a"\n', "")


def test_star_1_2_3_hold_the_last_three_values_printed() -> None:
    text = "*1\n(+ 1 2)\n\"three\"\n(setv x 4)\n[4]\n[*1 *2 *3]\n*1\n"
    assert run(text) == (0, '3\n"three"\n[4]\n[[4] "three" 3]\n[[4] "three" 3]\n', "")


def test_star_e_holds_the_last_error() -> None:
    status, out, err = run("*e\n(/ 1 0)\n*e\n(isinstance *e ZeroDivisionError)\n(raise *e)\n(while True)\n(str *e)\n",
                           Limits(steps=1000))
    assert status == 1
    assert out == (
        "ZeroDivisionError('division by zero')\n"
        "True\n"
        '"<repl>:1:1: step limit of 1000 exceeded"\n'
    )
    assert err.count("ZeroDivisionError: division by zero") == 2


def test_the_repl_variables_stay_out_of_env() -> None:
    assert run("(+ 1 2)\n(/ 1 0)\n,env\n")[1] == "3\n(no names defined)\n"


def test_help_mentions_doc_and_the_result_variables() -> None:
    out = run(",help\n")[1]
    assert "(doc NAME) or (help NAME)" in out
    assert "*1 *2 *3 are the last three values printed, *e the last error." in out
