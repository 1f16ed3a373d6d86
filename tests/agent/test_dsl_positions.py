"""Mistakes in an agent's seed are reported at the user's file, line and column, with the
source line, before anything is committed; errors in running definitions quote their line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from o_lisp import LispError, read
from o_lisp.agent._agent import Agent

HEAD = '(defagent todo\n  :doc "A list."\n\n'


def seed_with(tmp_path: Path, body: str) -> Path:
    seed = tmp_path / "todo.hy"
    seed.write_text(HEAD + body + ")\n")
    return seed


# Each body starts on line 4 of todo.hy, in column 3.
CASES = [
    ('  (when-> [:name n] (= msg "a") "b")',
     "todo.hy:4:11: write the rule's name without brackets: (when-> :name n condition action...); "
     "the brackets in the docs mean the name is optional", 11),
    ('  (when-> :nmae n (= msg "a") "b")',
     "todo.hy:4:11: unknown option :nmae for when-> (known: :name); a rule is written "
     "(when-> :name NAME condition action...), where :name NAME is optional", 11),
    ('  (when-> :name "n" (= msg "a") "b")', "todo.hy:4:17: a rule's :name must be a symbol", 17),
    ("  (when-> :name n)",
     "todo.hy:4:3: (when->) needs a condition: (when-> :name NAME condition action...), where :name NAME is optional", 3),
    ('  (when-> [1 2] "b")',
     "todo.hy:4:11: a rule's condition cannot be a literal list (it would always be true): "
     "(when-> :name NAME condition action...), where :name NAME is optional", 11),
    ("  (deftool t [x :colour] x)",
     "todo.hy:4:17: unknown parameter type :colour (known: :str, :int, :float, :bool, :list, :dict, :any)", 17),
    ("  (deftool t [x] :speed 3 x)", "todo.hy:4:18: unknown option :speed for tool t (known: :doc, :timeout, :unsafe, :cache)", 18),
    ('  (deftool t [x] :timeout "soon" x)', "todo.hy:4:27: option :timeout of tool t must be a int or float", 27),
    ("  (deftool t x)", "todo.hy:4:14: tool parameters must be a bracketed list: [name :type ...]", 14),
    ("  (deftool t)", "todo.hy:4:12: deftool needs a name and a parameter list: (deftool name [params] body...)", 12),
    ("  (defworkflow w (nope))",
     "todo.hy:4:18: a workflow step is written (step name [:retries n] [:timeout s] [:when condition] body...)", 18),
    ("  (defworkflow w)", "todo.hy:4:16: workflow w has no steps", 16),
    ("  (defworkflow w (step s :tries 2 1))",
     "todo.hy:4:26: unknown option :tries for step s (known: :retries, :timeout, :when)", 26),
    ("  (defmemory notes :dim)", "todo.hy:4:20: memory notes: options come in :key value pairs", 20),
    ("  (defmemory notes dim 8)", "todo.hy:4:20: memory notes: expected an option keyword", 20),
    ("  (defmemory notes :dim x)",
     "todo.hy:4:25: memory notes: option :dim must be a literal (number, string, True, False, None)", 25),
    ("  (defmemory notes :dim 0)", "todo.hy:4:14: memory notes: memory option 'dim': must be >= 1, got 0", 14),
    ('  (deftest "t" 1)', "todo.hy:4:3: (deftest) needs a name", 3),
    ('  (deffitness "f" 1)', "todo.hy:4:3: (deffitness) needs a name", 3),
]


@pytest.mark.parametrize(("body", "message", "column"), CASES)
def test_malformed_declarations_point_at_the_seed_with_the_line(
        tmp_path: Path, body: str, message: str, column: int) -> None:
    seed = seed_with(tmp_path, body)
    with pytest.raises(LispError) as info:
        Agent.load(seed, tmp_path / "data")
    error = info.value
    assert str(error) == str(tmp_path / message.split(":", 1)[0]) + ":" + message.split(":", 1)[1]
    assert (error.line, error.column) == (4, column)
    assert error.excerpt() == f"  {body})\n  {' ' * (column - 1)}^"  # the line, with defagent's ")"
    assert not (tmp_path / "data").exists()  # a seed that does not load is never committed


def test_an_error_while_loading_a_definition_points_at_the_seed(tmp_path: Path) -> None:
    seed = seed_with(tmp_path, "  (defn f [] 1)\n  (setv x (f 1 2 3))")
    with pytest.raises(LispError) as info:
        Agent.load(seed, tmp_path / "data")
    assert info.value.describe() == (
        f"ProgramError: {seed}:5:11: TypeError: f() takes 0 positional arguments but 3 were given\n"
        "    (setv x (f 1 2 3)))\n"
        "            ^"
    )
    assert not (tmp_path / "data").exists()


def test_runtime_errors_in_rules_point_at_the_seed_with_the_line(tmp_path: Path) -> None:
    seed = seed_with(tmp_path, '  (when-> :name adder (.startswith msg "add ")\n    (ad (cut msg 4 None)))')
    agent = Agent.load(seed, tmp_path / "data")
    with pytest.raises(LispError) as info:
        agent.handle("add milk")
    assert info.value.describe() == (
        f"ProgramError: {seed}:5:6: NameError: name 'ad' is not defined\n"
        "      (ad (cut msg 4 None))))\n"
        "       ^"
    )
    # Loaded again from the repository (code unchanged since the seed): still the seed.
    again = Agent.load(seed, tmp_path / "data")
    with pytest.raises(LispError, match=f"^{seed}:5:6: NameError"):
        again.handle("add milk")


def test_a_rewritten_definition_points_at_its_file_in_the_repository_with_the_line(tmp_path: Path) -> None:
    seed = seed_with(tmp_path, "  (defn f [] 1)\n  (when-> True (f))")
    agent = Agent.load(seed, tmp_path / "data")
    assert agent.rewrite("f", read("(defn f [] (+ 1 None))"), reason="broken").accepted
    code_file = tmp_path / "data" / "code" / "defs" / "f.hy"
    with pytest.raises(LispError) as info:
        agent.handle("x")
    assert info.value.describe() == (
        f"ProgramError: {code_file}:1:12: TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'\n"
        "  (defn f [] (+ 1 None))\n"
        "             ^"
    )


def test_a_broken_seed_edit_is_not_committed_and_names_the_seed(tmp_path: Path) -> None:
    seed = seed_with(tmp_path, '  (when-> :name greet (= msg "hi") "hello")')
    Agent.load(seed, tmp_path / "data")
    code = tmp_path / "data" / "code"
    head = subprocess.run(["git", "-C", str(code), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
    copy = (tmp_path / "data" / "seed.hy").read_text()
    seed.write_text(HEAD + '  (when-> [:name greet] (= msg "hi") "hello"))\n')
    with pytest.raises(LispError, match=f"^{seed}:4:11: write the rule's name without brackets"):
        Agent.load(seed, tmp_path / "data")
    seed.write_text(HEAD + '  (when-> :name greet (= msg "hi") "hey")\n  (setv boom (undefined-fn)))\n')
    with pytest.raises(LispError, match=f"^{seed}:5:15: NameError: name 'undefined_fn' is not defined"):
        Agent.load(seed, tmp_path / "data")
    after = subprocess.run(["git", "-C", str(code), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
    assert after == head and (tmp_path / "data" / "seed.hy").read_text() == copy
    # Fixed, it is imported as one commit.
    seed.write_text(HEAD + '  (when-> :name greet (= msg "hi") "hey"))\n')
    assert Agent.load(seed, tmp_path / "data").handle("hi") == "hey"
