"""The agent's code repository (o_lisp.agent._repo): layout, history, atomicity, corruption.

Every story the API tells is checked against the real `git` binary, because
the promise is that plain `git log` / `git show` / `git tag` agree with it.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygit2
import pytest

from o_lisp import OLispError
from o_lisp.agent._definitions import Definition, DefinitionKind
from o_lisp.agent._repo import (
    CANDIDATES_REF,
    CodeRepository,
    HistoryEntry,
    RepositoryError,
    Signature,
    validate_version,
)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary")

FN = DefinitionKind.FUNCTION
HEADER = (
    '(defagent helper\n  :version "0.1.0"\n  :doc "Answers with :version \\"9.9.9\\" in its doc")'
)
GREET = Definition("greet", FN, '(defn greet [name]\n  (+ "Hi " name))')
VALID = Definition("valid?", FN, "(defn valid? [x] (isinstance x str))")
RULE = Definition("on-hello", DefinitionKind.RULE, '(when-> (= msg "hello") (reply "héllo ✓"))')
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "LC_ALL": "C",
}


def git(path: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["git", "-C", str(path), *args],
        capture_output=True,
        text=True,
        env=GIT_ENV,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def make(tmp_path: Path, name: str = "agent") -> CodeRepository:
    return CodeRepository.init(
        tmp_path / name, "helper", [GREET, VALID, RULE], HEADER, "0.1.0", "First version."
    )


def state(path: Path) -> dict[str, Any]:
    """Everything a failed operation must leave untouched: refs, index and worktree files."""
    files = {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(path).parts
    }
    return {
        "refs": git(path, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": git(path, "symbolic-ref", "HEAD"),
        "index": git(path, "ls-files", "--stage"),
        "files": files,
    }


def assert_worktree_is_head(path: Path) -> None:
    """`git status` is clean and every file on disk is exactly the HEAD blob, nothing more."""
    assert git(path, "status", "--porcelain", "--untracked-files=all") == ""
    tracked = git(path, "ls-tree", "-r", "--name-only", "HEAD").split()
    on_disk = sorted(
        str(p.relative_to(path))
        for p in path.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(path).parts
    )
    assert sorted(tracked) == on_disk
    for name in tracked:
        blob = subprocess.run(
            ["git", "-C", str(path), "show", f"HEAD:{name}"], capture_output=True, check=True
        ).stdout
        assert (path / name).read_bytes() == blob, name


# ---------------------------------------------------------------------------
# Creation and layout
# ---------------------------------------------------------------------------


def test_init_writes_the_documented_layout(tmp_path: Path) -> None:
    repo = make(tmp_path)
    path = repo.path
    assert path == tmp_path / "agent"
    assert (path / ".git").is_dir(), "non-bare: a worktree with a .git directory"
    assert (path / "agent.hy").read_text("utf-8") == HEADER + "\n"
    assert (path / "VERSION").read_text() == "0.1.0\n"
    order = (path / "ORDER").read_text().splitlines()
    assert [line for line in order if not line.startswith("#")] == [
        "defn greet",
        "defn valid?",
        "when-> on-hello",
    ]
    assert (path / "defs" / "greet.hy").read_text() == GREET.source + "\n"
    assert (path / "defs" / "valid_3f.hy").exists()
    assert (path / RULE.filename).read_bytes() == (RULE.source + "\n").encode("utf-8")
    changelog = (path / "CHANGELOG.md").read_text()
    assert f"## [0.1.0] - {datetime.date.today().isoformat()}\n\nFirst version.\n" in changelog
    for file in path.rglob("*"):
        if file.is_file() and ".git" not in file.parts:
            assert b"\r" not in file.read_bytes(), file
    assert_worktree_is_head(path)


def test_init_commit_and_tag_seen_by_git(tmp_path: Path) -> None:
    repo = make(tmp_path)
    log = git(repo.path, "log", "--format=%an <%ae>|%s|%(trailers:key=Version,valueonly)")
    assert log.strip() == "helper <helper@agents.o-lisp.local>|Create agent helper 0.1.0|0.1.0"
    assert git(repo.path, "cat-file", "-t", "v0.1.0").strip() == "tag", "annotated tag"
    assert git(repo.path, "rev-parse", "v0.1.0^{commit}").strip() == repo.head()
    assert git(repo.path, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git(repo.path, "fsck", "--strict", "--no-dangling").strip() == ""


def test_definitions_round_trip_exactly_in_order(tmp_path: Path) -> None:
    trailing = Definition("t", DefinitionKind.VALUE, "(setv t 1)\n")
    crlf = Definition("c", FN, "(defn c []\r\n  1)")
    repo = CodeRepository.init(
        tmp_path / "a", "x", [RULE, GREET, trailing, crlf], "(defagent x)", "1.0.0"
    )
    got = repo.definitions()
    assert [d.name for d in got] == ["on-hello", "greet", "t", "c"]
    assert got[:3] == [RULE, GREET, trailing]
    assert got[3] == Definition("c", FN, "(defn c []\n  1)"), "line endings normalised to LF"
    assert repo.header() == "(defagent x)"
    assert repo.version() == "1.0.0"
    reopened = CodeRepository.open(repo.path)
    assert reopened.definitions() == got
    assert reopened.agent_name == "x"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": "1.0"}, "invalid version '1.0'"),
        ({"version": "01.0.0"}, "invalid version"),
        ({"agent_name": "two words"}, "invalid agent name"),
        ({"definitions": [GREET, GREET]}, "'greet' appears twice"),
        (
            {"definitions": [VALID, Definition("valid_3f", FN, "(defn valid_3f [])")]},
            "would share the file",
        ),
        ({"definitions": [Definition("Greet", FN, "(defn Greet [])"), GREET]}, "share the file"),
        ({"definitions": [Definition("e", FN, "  ")]}, "empty source"),
        ({"definitions": ["(defn f [])"]}, "expected a Definition, got str"),
        ({"header_source": '(defagent helper :version "0.2.0")'}, "declares :version '0.2.0'"),
        ({"header_source": "(defagent helper"}, "header is not valid o_lisp source"),
        ({"header_source": ""}, "header (defagent form) is empty"),
    ],
)
def test_init_rejects_bad_input_and_creates_nothing(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {
        "agent_name": "helper",
        "definitions": [GREET],
        "header_source": HEADER,
        "version": "0.1.0",
    }
    args.update(kwargs)
    with pytest.raises(RepositoryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CodeRepository.init(tmp_path / "new", **args)
    assert not (tmp_path / "new").exists()


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(RepositoryError, match="not empty"):
        CodeRepository.init(tmp_path / "full", "a", [GREET], "(defagent a)", "0.1.0")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["notes.txt"]
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RepositoryError, match="it is a file"):
        CodeRepository.init(tmp_path / "afile", "a", [GREET], "(defagent a)", "0.1.0")
    repo = make(tmp_path)
    with pytest.raises(RepositoryError, match="already holds a git repository"):
        CodeRepository.init(repo.path, "a", [GREET], "(defagent a)", "0.1.0")
    (tmp_path / "empty").mkdir()
    CodeRepository.init(tmp_path / "empty", "a", [GREET], "(defagent a)", "0.1.0")


def test_failed_init_removes_only_what_it_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise pygit2.GitError("disk full")

    monkeypatch.setattr(pygit2.Repository, "checkout_tree", boom)
    with pytest.raises(RepositoryError, match="disk full; nothing was left behind"):
        make(tmp_path)
    assert not (tmp_path / "agent").exists()
    (tmp_path / "keep").mkdir()
    with pytest.raises(RepositoryError):
        CodeRepository.init(tmp_path / "keep", "a", [GREET], "(defagent a)", "0.1.0")
    assert (tmp_path / "keep").is_dir() and not any((tmp_path / "keep").iterdir())


# ---------------------------------------------------------------------------
# Committing definitions
# ---------------------------------------------------------------------------


def test_three_rewrites_are_three_commits_with_reasons_and_trailers(tmp_path: Path) -> None:
    repo = make(tmp_path)
    first = repo.head()
    hexes = []
    for n in range(3):
        new = Definition("greet", FN, f'(defn greet [name] (+ "Hello{"!" * n} " name))')
        hexes.append(
            repo.commit_definition(
                new,
                f"Friendlier greeting #{n}",
                {
                    "Parent-Version": "0.1.0",
                    "Tests": f"{n + 3} passed",
                    "Metric-Latency-P95": "1.5ms",
                },
            )
        )
        assert repo.head() == hexes[-1]
        assert repo.definitions()[0] == new
        assert_worktree_is_head(repo.path)
    assert len(set(hexes)) == 3
    log = git(repo.path, "log", "--format=%H|%P|%s|%(trailers:key=Tests,valueonly,separator=%x3B)")
    lines = [line.split("|") for line in log.strip().splitlines()]
    assert [line[0] for line in lines] == [*reversed(hexes), first]
    assert [line[2] for line in lines[:3]] == [f"Friendlier greeting #{n}" for n in (2, 1, 0)]
    assert [line[3] for line in lines[:3]] == ["5 passed", "4 passed", "3 passed"]
    assert lines[0][1] == hexes[1], "linear history"
    body = git(repo.path, "log", "-1", "--format=%B")
    assert body == (
        "Friendlier greeting #2\n\nChange: replace\nDefinition: greet\nKind: defn\n"
        "Parent-Version: 0.1.0\nTests: 5 passed\nMetric-Latency-P95: 1.5ms\n\n"
    )
    assert git(repo.path, "show", "--stat", "--format=", "HEAD").split()[0] == "defs/greet.hy"


def test_adding_appends_to_order_and_removing_deletes(tmp_path: Path) -> None:
    repo = make(tmp_path)
    tool = Definition("search", DefinitionKind.TOOL, "(deftool search [q] q)")
    repo.commit_definition(tool, "Add a search tool", {})
    assert [d.name for d in repo.definitions()] == ["greet", "valid?", "on-hello", "search"]
    assert (repo.path / "defs" / "search.hy").exists()
    assert repo.history()[0].trailers["Change"] == "add"
    repo.remove_definition("valid?", "Validation moved into greet", {"Tests": "2 passed"})
    assert [d.name for d in repo.definitions()] == ["greet", "on-hello", "search"]
    assert not (repo.path / "defs" / "valid_3f.hy").exists()
    assert_worktree_is_head(repo.path)
    assert git(repo.path, "log", "-1", "--format=%s").strip() == "Validation moved into greet"
    with pytest.raises(RepositoryError, match="no definition named 'nope'"):
        repo.remove_definition("nope", "x")


def test_kind_change_is_recorded_in_order(tmp_path: Path) -> None:
    repo = make(tmp_path)
    repo.commit_definition(Definition("greet", DefinitionKind.MACRO, "(defmacro greet [] 1)"), "m")
    assert repo.definitions()[0].kind is DefinitionKind.MACRO
    assert "defmacro greet" in (repo.path / "ORDER").read_text()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.commit_definition(GREET, "same code"), "nothing would change"),
        (lambda r: r.commit_definition(GREET, "  "), "non-empty reason"),
        (lambda r: r.commit_definition("greet", "x"), "expected a Definition"),
        (
            lambda r: r.commit_definition(Definition("valid_3f", FN, "(defn x [])"), "clash"),
            "clashes with definition 'valid\\?'",
        ),
        (lambda r: r.commit_definition(GREET, "x", {"Bad Key": "v"}), "invalid trailer key"),
        (lambda r: r.commit_definition(GREET, "x", {"Tests": "a\nb"}), "single-line value"),
        (lambda r: r.commit_definition(GREET, "x", {"Tests": 3}), "must have a string value"),
        (
            lambda r: r.commit_definition(GREET, "x", {"Definition": "y"}),
            "written by the repository",
        ),
        (
            lambda r: r.commit_definition(GREET, "x", {}, Signature("a <b>", "e@x")),
            "invalid author",
        ),
    ],
)
def test_bad_writes_raise_clearly_and_change_nothing(
    tmp_path: Path, call: Callable[[CodeRepository], object], message: str
) -> None:
    repo = make(tmp_path)
    before = state(repo.path)
    with pytest.raises(RepositoryError, match=message):
        call(repo)
    assert state(repo.path) == before
    assert issubclass(RepositoryError, OLispError)


def test_author_can_be_a_person(tmp_path: Path) -> None:
    repo = make(tmp_path)
    repo.commit_definition(
        Definition("greet", FN, "(defn greet [n] n)"),
        "Hand fix",
        {},
        Signature("Ada", "ada@example.org"),
    )
    assert git(repo.path, "log", "-1", "--format=%an <%ae>").strip() == "Ada <ada@example.org>"
    assert repo.history()[0].author == Signature("Ada", "ada@example.org")


# ---------------------------------------------------------------------------
# Versions, history, show, diff, resolve
# ---------------------------------------------------------------------------


def test_bump_version_updates_files_and_creates_an_annotated_tag(tmp_path: Path) -> None:
    repo = make(tmp_path)
    repo.commit_definition(Definition("greet", FN, "(defn greet [n] n)"), "Simpler", {})
    commit = repo.bump_version("0.2.0", "Release simpler greeting", "Greeting is simpler.")
    assert repo.version() == "0.2.0"
    assert (repo.path / "VERSION").read_text() == "0.2.0\n"
    header = repo.header()
    assert ':version "0.2.0"' in header
    assert '\\"9.9.9\\"' in header, "a :version inside the docstring is not touched"
    changelog = (repo.path / "CHANGELOG.md").read_text()
    assert changelog.index("## [0.2.0]") < changelog.index("## [0.1.0]"), "newest first"
    assert "Greeting is simpler." in changelog
    assert git(repo.path, "cat-file", "-t", "v0.2.0").strip() == "tag"
    assert git(repo.path, "rev-parse", "v0.2.0^{commit}").strip() == commit
    assert git(repo.path, "describe", "--tags").strip() == "v0.2.0"
    assert "Greeting is simpler." in git(repo.path, "tag", "-n5", "v0.2.0")
    assert git(repo.path, "tag", "--list").split() == ["v0.1.0", "v0.2.0"]
    assert repo.version("v0.1.0") == "0.1.0"
    assert_worktree_is_head(repo.path)
    before = state(repo.path)
    for bad, message in [
        ("0.2", "invalid version"),
        ("0.2.0", "must be greater"),
        ("0.2.0-rc.1", "must be greater"),
        ("0.1.9", "must be greater"),
    ]:
        with pytest.raises(RepositoryError, match=message):
            repo.bump_version(bad, "r", "e")
    assert state(repo.path) == before


def test_semver_validation() -> None:
    for good in ["0.1.0", "1.2.3-rc.1", "1.0.0-alpha+build.5", "10.20.30"]:
        assert validate_version(good) == good
    for bad in ["1", "1.2", "v1.2.3", "1.2.3-", "01.2.3", "1.2.3.4", "１.2.3", 1]:
        with pytest.raises(RepositoryError, match="invalid version"):
            validate_version(bad)


def test_history_newest_first_with_versions_tags_and_trailers(tmp_path: Path) -> None:
    repo = make(tmp_path)
    repo.commit_definition(
        Definition("greet", FN, "(defn greet [n] n)"), "Simpler", {"Tests": "3 passed"}
    )
    repo.bump_version("0.1.1", "Release 0.1.1", "Simpler greeting.")
    entries = repo.history()
    assert all(isinstance(e, HistoryEntry) for e in entries)
    assert [e.summary for e in entries] == ["Release 0.1.1", "Simpler", "Create agent helper 0.1.0"]
    assert [e.version for e in entries] == ["0.1.1", "0.1.0", "0.1.0"]
    assert [e.tags for e in entries] == [["v0.1.1"], [], ["v0.1.0"]]
    assert entries[1].trailers == {
        "Change": "replace",
        "Definition": "greet",
        "Kind": "defn",
        "Tests": "3 passed",
    }
    assert entries[2].body == "First version."
    assert entries[0].short == entries[0].commit[:7]
    assert datetime.datetime.fromisoformat(entries[0].time).tzinfo is not None
    assert not any(e.rejected for e in entries)
    assert [e.commit for e in entries] == git(repo.path, "log", "--format=%H").split()


def test_resolve_accepts_git_revisions(tmp_path: Path) -> None:
    repo = make(tmp_path)
    c1 = repo.commit_definition(Definition("greet", FN, "(defn greet [n] 1)"), "one")
    c2 = repo.commit_definition(Definition("greet", FN, "(defn greet [n] 2)"), "two")
    first = git(repo.path, "rev-list", "--max-parents=0", "HEAD").strip()
    assert repo.resolve("HEAD") == c2 == repo.head()
    assert repo.resolve("HEAD~1") == c1
    assert repo.resolve("HEAD~2") == first
    assert repo.resolve("v0.1.0") == first
    assert repo.resolve(c1[:8]) == c1
    assert repo.resolve(c1) == c1
    for bad in ["v9.9.9", "HEAD~7", "deadbeef", "", "HEAD:ORDER", "main..HEAD"]:
        with pytest.raises(RepositoryError, match="unknown revision"):
            repo.resolve(bad)


def test_show_and_diff(tmp_path: Path) -> None:
    repo = make(tmp_path)
    commit = repo.commit_definition(
        Definition("greet", FN, '(defn greet [name]\n  (+ "Hello " name))'),
        "Say hello",
        {"Tests": "3 passed"},
    )
    text = repo.show("HEAD")
    assert text.startswith(f"commit {commit}\n")
    assert "Author:  helper <helper@agents.o-lisp.local>" in text
    assert "Version: 0.1.0" in text
    assert "    Say hello\n" in text and "    Tests: 3 passed\n" in text
    assert '-  (+ "Hi " name))\n+  (+ "Hello " name))' in text
    assert "diff --git a/defs/greet.hy b/defs/greet.hy" in text
    assert "(tag: v0.1.0)" in repo.show("v0.1.0")
    assert "+++ b/defs/greet.hy" in repo.show("v0.1.0"), "the root commit shows every file added"
    diff = repo.diff("v0.1.0", "HEAD")
    assert diff == git(repo.path, "diff", "v0.1.0", "HEAD")
    assert repo.diff("HEAD", "HEAD") == ""
    with pytest.raises(RepositoryError, match="unknown revision 'nope'"):
        repo.show("nope")


# ---------------------------------------------------------------------------
# Rollback and rejected candidates
# ---------------------------------------------------------------------------


def test_rollback_is_a_new_commit_restoring_the_exact_tree(tmp_path: Path) -> None:
    repo = make(tmp_path)
    original = repo.definitions()
    repo.commit_definition(Definition("greet", FN, "(defn greet [n] n)"), "Simpler")
    repo.commit_definition(Definition("extra", FN, "(defn extra [] 1)"), "Add extra")
    repo.bump_version("0.2.0", "Release", "Two changes.")
    before = repo.head()
    commit = repo.rollback("v0.1.0", "greeting regressed")
    assert repo.definitions() == original
    assert repo.version() == "0.1.0"
    assert not (repo.path / "defs" / "extra.hy").exists()
    assert_worktree_is_head(repo.path)
    assert git(repo.path, "rev-parse", "HEAD^").strip() == before, "on top of HEAD: linear"
    assert git(repo.path, "diff", "v0.1.0", "HEAD") == "", "the tree of v0.1.0 exactly"
    subject = git(repo.path, "log", "-1", "--format=%s|%(trailers:key=Rollback-To,valueonly)")
    assert subject.strip() == f"Rollback to v0.1.0: greeting regressed|{repo.resolve('v0.1.0')}"
    assert repo.history()[0].commit == commit
    assert len(repo.history()) == 5, "nothing forgotten"
    with pytest.raises(RepositoryError, match="already has the code"):
        repo.rollback("v0.1.0", "again")
    with pytest.raises(RepositoryError, match=r"tag v0.2.0 already exists"):
        repo.bump_version("0.2.0", "again", "again")
    repo.rollback("HEAD~1", "undo the rollback")
    assert repo.version() == "0.2.0"
    assert git(repo.path, "log", "-1", "--format=%s").startswith("Rollback to v0.2.0: ")


def test_rejected_candidates_leave_head_alone(tmp_path: Path) -> None:
    repo = make(tmp_path)
    before = state(repo.path)
    head = repo.head()
    bad1 = Definition("greet", FN, "(defn greet [n] (/ 1 0))")
    bad2 = Definition("fresh", FN, "(defn fresh [] (undefined))")
    c1 = repo.record_rejected(bad1, "fails test greets", {"Tests": "2 passed, 1 failed"})
    c2 = repo.record_rejected(bad2, "fails test fresh", {"Tests": "0 passed, 1 failed"})
    after = state(repo.path)
    assert after["files"] == before["files"] and after["index"] == before["index"]
    assert repo.head() == head == git(repo.path, "rev-parse", "HEAD").strip()
    assert repo.definitions() == [GREET, VALID, RULE]
    assert git(repo.path, "rev-parse", CANDIDATES_REF).strip() == c2
    assert git(repo.path, "rev-parse", f"{c2}^1").strip() == repo.head(), "first parent: the base"
    assert git(repo.path, "rev-parse", f"{c2}^2").strip() == c1, "second parent: the chain"
    assert [e.commit for e in repo.history()] == [repo.head()]
    everything = repo.history(all=True)
    assert [(e.commit, e.rejected) for e in everything] == [
        (c2, True),
        (c1, True),
        (repo.head(), False),
    ]
    assert everything[0].summary == "Rejected: fails test fresh"
    assert everything[1].trailers["Tests"] == "2 passed, 1 failed"
    shown = repo.show(c1)
    assert "rejected candidate" in shown and "+(defn greet [n] (/ 1 0))" in shown
    assert repo.definitions(c1)[0] == bad1
    assert "Rejected: fails test greets" in git(repo.path, "log", "--format=%s", CANDIDATES_REF)
    with pytest.raises(RepositoryError, match="not in the history of HEAD"):
        repo.rollback(c1, "adopt the rejected one")
    assert_worktree_is_head(repo.path)


# ---------------------------------------------------------------------------
# Atomicity
# ---------------------------------------------------------------------------


def _fail_after(
    original: Callable[..., Any], calls: list[int], failing_call: int = 1
) -> Callable[..., Any]:
    """A wrapper that runs `original` and then raises on its `failing_call`-th call."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        result = original(*args, **kwargs)
        if len(calls) == failing_call:
            raise pygit2.GitError("simulated crash")
        return result

    return wrapper


WRITES: list[tuple[str, Callable[[CodeRepository], object]]] = [
    ("replace", lambda r: r.commit_definition(Definition("greet", FN, "(defn greet [] 0)"), "r")),
    ("add", lambda r: r.commit_definition(Definition("new", FN, "(defn new [] 0)"), "r")),
    ("remove", lambda r: r.remove_definition("valid?", "r")),
    ("bump", lambda r: r.bump_version("0.2.0", "r", "e")),
    ("rollback", lambda r: r.rollback("HEAD~1", "r")),
]


@pytest.mark.parametrize(("label", "write"), WRITES, ids=[w[0] for w in WRITES])
@pytest.mark.parametrize("target", ["checkout_tree", "commit", "create_commit"])
def test_a_crash_mid_operation_changes_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    label: str,
    write: Callable[[CodeRepository], object],
    target: str,
) -> None:
    repo = make(tmp_path)
    repo.commit_definition(Definition("greet", FN, "(defn greet [] 1)"), "setup")
    before = state(repo.path)
    calls: list[int] = []
    if target == "commit":
        cls: Any = pygit2.transaction.ReferenceTransaction
        monkeypatch.setattr(cls, "commit", _fail_after(cls.commit, calls))
    else:
        monkeypatch.setattr(
            pygit2.Repository, target, _fail_after(getattr(pygit2.Repository, target), calls)
        )
    with pytest.raises(RepositoryError, match="simulated crash"):
        write(repo)
    assert calls, "the patched call was reached"
    monkeypatch.undo()
    assert state(repo.path) == before
    assert_worktree_is_head(repo.path)
    reopened = CodeRepository.open(repo.path)
    assert reopened.head() == repo.head()
    write(reopened)  # and the repository still works afterwards
    assert_worktree_is_head(repo.path)


def test_failed_record_rejected_leaves_no_candidate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make(tmp_path)
    before = state(repo.path)
    cls: Any = pygit2.transaction.ReferenceTransaction
    monkeypatch.setattr(cls, "commit", _fail_after(cls.commit, []))
    with pytest.raises(RepositoryError, match="simulated crash"):
        repo.record_rejected(GREET, "r", {})
    assert state(repo.path) == before
    assert repo.history(all=True) == repo.history()


def test_writes_refuse_to_overwrite_uncommitted_work(tmp_path: Path) -> None:
    repo = make(tmp_path)
    (repo.path / "defs" / "greet.hy").write_text("(defn greet [] 'hand-edited)\n")
    (repo.path / "notes.txt").write_text("untracked, unrelated")
    before = state(repo.path)
    with pytest.raises(RepositoryError, match=r"uncommitted changes \(modified: defs/greet.hy\)"):
        repo.commit_definition(Definition("valid?", FN, "(defn valid? [x] 1)"), "r")
    assert state(repo.path) == before
    with pytest.raises(RepositoryError, match="differs from HEAD"):
        CodeRepository.open(repo.path)
    assert CodeRepository.open(repo.path, require_clean_worktree=False).definitions()[0] == GREET
    git(repo.path, "checkout", "--", ".")
    (repo.path / "defs" / "new.hy").write_text("mine")
    with pytest.raises(RepositoryError, match=r"untracked, would be overwritten: defs/new.hy"):
        repo.commit_definition(Definition("new", FN, "(defn new [])"), "r")
    assert (repo.path / "defs" / "new.hy").read_text() == "mine"
    repo.commit_definition(
        Definition("valid?", FN, "(defn valid? [x] 1)"), "unrelated files are fine"
    )
    assert (repo.path / "notes.txt").exists()


def test_a_held_git_lock_is_reported(tmp_path: Path) -> None:
    repo = make(tmp_path)
    lock = repo.path / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("")
    before = state(repo.path)
    with pytest.raises(RepositoryError, match="cannot lock refs/heads/main"):
        repo.commit_definition(Definition("greet", FN, "(defn greet [] 0)"), "r")
    assert state(repo.path) == before
    assert lock.exists(), "someone else's lock is never removed"


def test_detached_head_allows_reading_but_not_writing(tmp_path: Path) -> None:
    repo = make(tmp_path)
    repo.commit_definition(Definition("greet", FN, "(defn greet [] 0)"), "r")
    git(repo.path, "checkout", "--quiet", "v0.1.0")
    reopened = CodeRepository.open(repo.path)
    assert reopened.definitions() == [GREET, VALID, RULE]
    with pytest.raises(RepositoryError, match="detached"):
        reopened.commit_definition(Definition("greet", FN, "(defn greet [] 2)"), "r")


# ---------------------------------------------------------------------------
# Missing and corrupted repositories
# ---------------------------------------------------------------------------


def _all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_open_missing_or_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(
        RepositoryError, match=r"no agent repository at .*absent: the path does not exist"
    ):
        CodeRepository.open(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RepositoryError, match="is a file, not a directory"):
        CodeRepository.open(tmp_path / "file")
    repo = make(tmp_path)
    inside = repo.path / "defs"
    with pytest.raises(RepositoryError, match="not a git repository"):
        CodeRepository.open(inside)  # never discovers the enclosing repository
    bare = tmp_path / "bare.git"
    pygit2.init_repository(str(bare), bare=True)
    with pytest.raises(RepositoryError, match="not a git repository"):
        CodeRepository.open(bare)
    plain = tmp_path / "plain"
    pygit2.init_repository(str(plain))
    with pytest.raises(RepositoryError, match="HEAD does not lead to a readable commit"):
        CodeRepository.open(plain)


def _blob_path(repo: CodeRepository, name: str) -> Path:
    oid = git(repo.path, "rev-parse", f"HEAD:{name}").strip()
    return repo.path / ".git" / "objects" / oid[:2] / oid[2:]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda r: _blob_path(r, "defs/greet.hy").unlink(),
            r"defs/greet.hy in commit .* cannot be read",
        ),
        (lambda r: _blob_path(r, "ORDER").unlink(), r"ORDER in commit .* cannot be read"),
        (lambda r: (r.path / ".git" / "HEAD").write_text(""), "corrupted"),
        (
            lambda r: (r.path / ".git" / "HEAD").write_text("ref: refs/heads/gone\n"),
            "HEAD does not lead",
        ),
        (
            lambda r: (r.path / ".git" / "refs" / "heads" / "main").write_text("0" * 39 + "1\n"),
            "HEAD does not lead to a readable commit",
        ),
        (lambda r: (r.path / "ORDER").unlink(), r"differs from HEAD \(deleted: ORDER\)"),
        (lambda r: (r.path / ".git" / "index").write_bytes(b"DIRC\x00"), r"index \(.git/index\)"),
    ],
    ids=[
        "blob",
        "order-blob",
        "head-truncated",
        "head-dangling",
        "branch-garbage",
        "order-deleted",
        "index",
    ],
)
def test_corruption_is_reported_by_name_and_nothing_is_deleted(
    tmp_path: Path, damage: Callable[[CodeRepository], object], message: str
) -> None:
    repo = make(tmp_path)
    damage(repo)
    files = _all_files(repo.path)
    with pytest.raises(RepositoryError, match=message) as info:
        CodeRepository.open(repo.path)
    assert str(repo.path) in str(info.value)
    assert _all_files(repo.path) == files


def test_a_commit_that_breaks_the_layout_is_reported(tmp_path: Path) -> None:
    repo = make(tmp_path)
    ident = ["-c", "user.name=t", "-c", "user.email=t@t"]
    git(repo.path, *ident, "rm", "--quiet", "ORDER")
    git(repo.path, *ident, "commit", "--quiet", "-m", "oops")
    with pytest.raises(RepositoryError, match=r"ORDER is missing in commit"):
        CodeRepository.open(repo.path)
    git(repo.path, *ident, "revert", "--no-edit", "HEAD")
    CodeRepository.open(repo.path)
    (repo.path / "defs" / "stray.hy").write_text("(defn stray [])\n")
    git(repo.path, *ident, "add", "defs/stray.hy")
    git(repo.path, *ident, "commit", "--quiet", "-m", "stray")
    with pytest.raises(RepositoryError, match=r"defs/stray.hy .* is not listed in ORDER"):
        CodeRepository.open(repo.path)
    (repo.path / "ORDER").write_text("defn greet\nbogus line\n")
    git(repo.path, *ident, "commit", "--quiet", "-am", "bad order")
    with pytest.raises(RepositoryError, match=r"ORDER line 2 .* 'bogus line'"):
        CodeRepository.open(repo.path)
    # nothing was lost: plain git repairs it, and the old versions are all there
    git(repo.path, *ident, "revert", "--no-edit", "HEAD")
    git(repo.path, *ident, "revert", "--no-edit", "HEAD~2")
    fixed = CodeRepository.open(repo.path)
    assert fixed.definitions() == fixed.definitions("v0.1.0") == [GREET, VALID, RULE]


def test_a_clone_without_config_still_knows_its_agent(tmp_path: Path) -> None:
    repo = make(tmp_path)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(repo.path), str(clone)], check=True, env=GIT_ENV)
    opened = CodeRepository.open(clone)
    assert opened.agent_name == "helper"
    assert opened.definitions() == repo.definitions()
