"""Self-modification through git: rewrites are commits, rejected ones change nothing,
rollback restores exact code and behaviour, broken repositories fail clearly."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from o_lisp import read
from o_lisp.agent._agent import Agent
from o_lisp.agent._repo import RepositoryError
from o_lisp.cli import main
from o_lisp.forms import Expression, List, Symbol

ROOT = Path(__file__).resolve().parents[2]
COUNTER = """\
(defagent counter
  :version "1.0.0"
  :doc "Adds a step to numbers."

  (defn step [] 1)

  (when-> :name add (.isdigit msg) (+ (int msg) (step)))

  (deftest step-is-small (assert (< (step) 100))))
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def counter(tmp_path: Path) -> Agent:
    seed = tmp_path / "counter.hy"
    seed.write_text(COUNTER)
    return Agent.load(seed, tmp_path / "data")


def test_three_rewrites_are_three_commits_with_reasons_and_trailers(counter: Agent) -> None:
    for n in (2, 3, 4):
        result = counter.rewrite("step", read(f"(defn step [] {n})"), reason=f"step by {n}")
        assert result.accepted, result.failures
    assert counter.handle("10") == "14"
    code = counter.data_dir / "code"
    log = git(code, "log", "--format=%s|%an|%(trailers:key=Tests,valueonly,separator=)").splitlines()
    assert log[:3] == [
        "step by 4|counter|1 passed, 0 failed",
        "step by 3|counter|1 passed, 0 failed",
        "step by 2|counter|1 passed, 0 failed",
    ]
    assert (code / "defs" / "step.hy").read_text() == "(defn step [] 4)\n"


def test_a_rewrite_failing_its_tests_leaves_no_commit_and_no_change(counter: Agent) -> None:
    code = counter.data_dir / "code"
    head = counter.repository.head()
    result = counter.rewrite("step", read("(defn step [] 1000)"), reason="too big")
    assert not result.accepted
    assert result.failures[0].startswith("test step-is-small failed")
    assert counter.repository.head() == head
    assert git(code, "status", "--porcelain") == ""
    assert counter.handle("1") == "2"
    rejected = [h for h in counter.repository.history(all=True) if h.rejected]
    assert [h.summary for h in rejected] == ["Rejected: too big"]


def test_rollback_restores_exact_forms_and_behaviour(counter: Agent) -> None:
    original = counter.definitions["step"].source
    counter.rewrite("step", read("(defn step [] 5)"), reason="bigger", bump="minor")
    assert counter.handle("1") == "6"
    assert git(counter.data_dir / "code", "tag").split() == ["v1.0.0", "v1.1.0"]
    counter.rollback("v1.0.0", "back to basics")
    assert counter.definitions["step"].source == original
    assert counter.handle("1") == "2"
    assert git(counter.data_dir / "code", "log", "-1", "--format=%s") == "Rollback to v1.0.0: back to basics\n"
    # A fresh load from the repository runs the rolled-back code too.
    again = Agent.load(counter.data_dir.parent / "counter.hy", counter.data_dir)
    assert again.handle("1") == "2"


def test_missing_or_corrupted_repository_is_a_clear_error(counter: Agent, tmp_path: Path) -> None:
    code = counter.data_dir / "code"
    (code / "ORDER").unlink()
    with pytest.raises(RepositoryError, match="ORDER"):
        Agent.load(tmp_path / "counter.hy", counter.data_dir)
    assert (code / "defs" / "step.hy").exists()  # nothing was deleted
    shutil.rmtree(code / ".git")
    with pytest.raises(RepositoryError):
        Agent.load(tmp_path / "counter.hy", counter.data_dir)
    assert (code / "defs" / "step.hy").exists()


def test_reference_agents_pass_their_own_tests(tmp_path: Path) -> None:
    for name in ("assistant", "greeter", "pipeline"):
        agent = Agent.load(ROOT / "agents" / f"{name}.hy", tmp_path / name)
        report = agent.run_tests()
        assert report.ok, (name, report.failed)


def test_greeter_rewrites_its_own_rule_after_feedback(tmp_path: Path) -> None:
    """Milestone M1: the agent modifies its own DSL."""
    agent = Agent.load(ROOT / "agents" / "greeter.hy", tmp_path / "g")
    assert agent.handle("hello") == "hello."
    assert agent.handle("feedback: Good morning!") == "Thanks! From now on I greet with: Good morning!"
    assert agent.handle("hello there") == "Good morning!"
    refused = agent.handle("feedback: you are stupid")
    assert refused is not None and refused.startswith("I could not learn that: test greeting-is-polite failed")
    assert agent.handle("hello") == "Good morning!"
    assert agent.state.version == "0.1.1"
    assert "Good morning!" in (tmp_path / "g" / "code" / "defs" / "greet.hy").read_text()


def test_seed_edits_are_imported_without_undoing_self_rewrites(counter: Agent, tmp_path: Path) -> None:
    counter.rewrite("step", read("(defn step [] 7)"), reason="learned a bigger step")
    seed = tmp_path / "counter.hy"
    seed.write_text(COUNTER.replace("(deftest step-is-small (assert (< (step) 100)))",
                                    "(deftest step-is-small (assert (< (step) 50)))\n\n  (defn twice [x] (* 2 x))"))
    again = Agent.load(seed, counter.data_dir)
    assert again.handle("1") == "8"  # the agent's own rewrite of `step` survives
    assert "twice" in again.definitions
    assert "(< (step) 50)" in again.definitions["step-is-small"].source
    # One commit for the whole edit, with its own version and tag.
    code = counter.data_dir / "code"
    log = git(code, "log", "--format=%s|%D|%(trailers:key=Definitions,key=Version,key=Previous-Version,separator=;)")
    assert log.splitlines()[:2] == [
        "Update from seed counter.hy|HEAD -> main, tag: v1.0.1|Definitions: step-is-small, twice;Version: 1.0.1;Previous-Version: 1.0.0",
        "learned a bigger step||",
    ]
    assert again.state.version == again.spec.version == "1.0.1"
    assert (code / "VERSION").read_text() == "1.0.1\n"
    assert ':version "1.0.1"' in (code / "agent.hy").read_text()
    assert "Edited in counter.hy: step-is-small, twice" in (code / "CHANGELOG.md").read_text()
    # Loading again imports nothing more.
    Agent.load(seed, counter.data_dir)
    assert git(code, "rev-list", "--count", "HEAD") == "3\n"  # create, rewrite, seed edit


def test_a_seed_edit_raising_the_version_gets_that_version(counter: Agent, tmp_path: Path) -> None:
    seed = tmp_path / "counter.hy"
    seed.write_text(COUNTER.replace('"1.0.0"', '"2.0.0"').replace("(defn step [] 1)", "(defn step [] 2)"))
    again = Agent.load(seed, counter.data_dir)
    assert again.handle("1") == "3"
    assert counter.repository.version() == "2.0.0"
    assert [e.tags for e in counter.repository.history()][:1] == [["v2.0.0"]]


def test_a_seed_edit_skips_versions_already_tagged(counter: Agent, tmp_path: Path) -> None:
    assert counter.rewrite("step", read("(defn step [] 2)"), reason="bigger", bump="patch").accepted
    counter.rollback("v1.0.0", reason="too big")
    seed = tmp_path / "counter.hy"
    seed.write_text(COUNTER.replace("(defn step [] 1)", "(defn step [] 3)"))
    Agent.load(seed, counter.data_dir)
    assert counter.repository.version() == "1.0.2"  # v1.0.1 is taken by the rolled-back rewrite


BULLETS = """\
(defagent bullets
  :version "1.0.0"

  (defn bullet [task] (+ "* " task))

  (when-> :name restyle (.startswith msg "style ")
    (setv prefix (cut msg 6 None))
    (setv result (rewrite! 'bullet `(defn bullet [task] (+ ~prefix task)) :reason "new style"))
    (if (get result "accepted") "restyled" (str (get result "failures"))))

  (when-> :name show True (bullet msg)))
"""


def test_rewrite_accepts_a_quasiquoted_form_with_a_value_nested_two_levels_down(tmp_path: Path) -> None:
    seed = tmp_path / "bullets.hy"
    seed.write_text(BULLETS)
    agent = Agent.load(seed, tmp_path / "data")
    assert agent.handle("style - ") == "restyled"
    assert agent.handle("milk") == "- milk"
    assert (agent.data_dir / "code" / "defs" / "bullet.hy").read_text() == '(defn bullet [task] (+ "- " task))\n'


def test_a_bumped_rewrite_is_one_commit_labelled_with_its_version(counter: Agent) -> None:
    assert counter.rewrite("step", read("(defn step [] 2)"), reason="bigger", bump="minor").accepted
    assert not counter.rewrite("step", read("(defn step [] 500)"), reason="huge").accepted
    assert counter.rewrite("step", read("(defn step [] 3)"), reason="a bit bigger").accepted
    code = counter.data_dir / "code"
    assert git(code, "log", "--format=%s|%D").splitlines() == [
        "a bit bigger|HEAD -> main", "bigger|tag: v1.1.0", "Create agent counter 1.0.0|tag: v1.0.0",
    ]
    assert git(code, "show", "v1.1.0:VERSION") == "1.1.0\n"
    result = CliRunner().invoke(main, ["history", str(counter.data_dir), "--all", "--json"])
    assert result.exit_code == 0, result.output
    rows = [(r["summary"], r["version"], r["marker"], r["tags"]) for r in json.loads(result.output)]
    assert sorted(rows) == sorted([
        ("a bit bigger", "1.1.0", "rewrite", []),
        ("Rejected: huge", "1.1.0", "rejected", []),
        ("bigger", "1.1.0", "rewrite", ["v1.1.0"]),
        ("Create agent counter 1.0.0", "1.0.0", "seed", ["v1.0.0"]),
    ])
    assert counter.state.version == "1.1.0"


PLAIN = st.recursive(
    st.one_of(st.integers(), st.text(max_size=6), st.booleans(), st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.lists(children, max_size=3).map(tuple),
                               st.dictionaries(st.text(max_size=3), children, max_size=2)),
    max_leaves=12,
)


_EXAMPLES = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=PLAIN)
def test_rewrite_accepts_any_plain_value_unquoted_at_depth(tmp_path: Path, value: object) -> None:
    # `(defn step [] (get [(quote ~value) 1] 1))`, built as a quasiquote would build it:
    # the plain value sits three levels down inside forms.
    home = tmp_path / str(next(_EXAMPLES))
    home.mkdir()
    (home / "counter.hy").write_text(COUNTER)
    agent = Agent.load(home / "counter.hy", home / "data")
    form = Expression([Symbol("defn"), Symbol("step"), List([]),
                       Expression([Symbol("get"), List([Expression([Symbol("quote"), value]), 1]), 1])])
    result = agent.rewrite("step", form, reason="nested value")
    assert result.accepted, result.failures
    assert agent.handle("1") == "2"
