"""The agent's code repository: every change an agent makes to itself is a git commit.

An agent's evolvable source lives in an ordinary, non-bare git repository
(layout and conventions in docs/agents-repository.md)::

    agent.hy        the `defagent` header (name and options), exactly as given
    VERSION         the agent's semantic version, one line: the authority for `version()`
    ORDER           "<kind> <name>" per line: the definitions in load order
    CHANGELOG.md    one entry per version, newest first
    defs/<n>.hy     one file per definition (`Definition.filename`)

Why git, and why non-bare: the story of an agent rewriting itself must be
readable with tools people already trust. `git log`, `git show v0.1.1` and
`git diff` run in the repository tell exactly what `history()`, `show()` and
`diff()` tell, and the current code is plain files anyone can read. The
worktree is a *view* of HEAD kept equal to it after every operation; all reads
go through git objects, never through the worktree, so a stray edit in the
worktree can neither corrupt what the agent loads nor be silently overwritten
(writes refuse to run over uncommitted changes).

Every write follows one discipline so that a failure at any point changes
nothing: validate the input, build blobs/trees/commits/tags as unreferenced
objects (harmless if abandoned), lock the refs with git's own lock files,
check out the new tree, move the refs in one reference transaction; if
anything fails after the checkout began, the previous tree, index and refs are
restored before the error is raised.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import os
import re
import shutil
import threading
import time as _time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pygit2
from pygit2.enums import CheckoutStrategy, FileMode, ObjectType, RepositoryOpenFlag, SortMode

from o_lisp._errors import LispError, OLispError, UsageError
from o_lisp._reader import read_many
from o_lisp.agent._definitions import Definition, DefinitionKind, safe_filename
from o_lisp.agent._version import SEMVER, semver_key
from o_lisp.forms import Expression, Keyword, String

__all__ = ["CodeRepository", "HistoryEntry", "RepositoryError", "Signature"]

HEADER_FILE = "agent.hy"
VERSION_FILE = "VERSION"
ORDER_FILE = "ORDER"
CHANGELOG_FILE = "CHANGELOG.md"
DEFS_DIR = "defs"
BRANCH = "main"
CANDIDATES_REF = "refs/o-lisp/candidates"
EMAIL_DOMAIN = "agents.o-lisp.local"
LAYOUT_VERSION = 1

ORDER_PREAMBLE = "# O agent definitions in load order: <kind> <name>, one per line\n"
CHANGELOG_TITLE = "# Changelog of agent {name}\n\nNewest first; one entry per version (see docs/agents-repository.md).\n"

# Trailers the repository writes itself; callers may not pass them, so that a
# trailer always means what the documentation says it means.
RESERVED_TRAILERS = frozenset(
    {"change", "definition", "definitions", "kind", "version", "previous-version", "rollback-to"}
)

_TRAILER_KEY = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9-]*\Z")
_TRAILER_LINE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9-]*: ")
_BAD_NAME_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")
_BAD_SIGNATURE_CHARS = re.compile(r"[<>\x00-\x1f\x7f]")


class RepositoryError(OLispError):
    """The code repository is missing, corrupted, or was asked something impossible.

    The message always names the repository path (and the revision or file at
    fault), because the reader is usually an operator looking at a log.
    """


class UnknownRevision(RepositoryError, UsageError):
    """A revision (commit, tag, `HEAD~2`) that the repository does not have: the
    request is wrong, not the repository, so the command line exits 2."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Signature:
    """Who made a change: an agent (`NAME <NAME@agents.o-lisp.local>`) or a person.

    Our own type rather than `pygit2.Signature`, so callers never depend on pygit2.
    """

    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @classmethod
    def for_agent(cls, agent_name: str) -> Signature:
        """The identity an agent commits under; the e-mail domain is never routable."""
        return cls(agent_name, f"{safe_filename(agent_name)}@{EMAIL_DOMAIN}")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One commit as `history()` reports it (newest first)."""

    commit: str
    short: str
    version: str
    summary: str
    body: str
    trailers: dict[str, str]
    author: Signature
    time: str
    tags: list[str] = field(default_factory=list)
    rejected: bool = False


@dataclass(frozen=True, slots=True)
class _Entry:
    oid: pygit2.Oid
    mode: int


_Files = dict[str, _Entry]


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a write operation wants: the new files, message, author and optional tag."""

    files: _Files
    message: str
    author: Signature
    tag: tuple[str, str] | None = None  # (tag name, tag message)


# ---------------------------------------------------------------------------
# Validation helpers (pure; they raise RepositoryError with a precise message)
# ---------------------------------------------------------------------------


def validate_version(version: object) -> str:
    """`version` if it is a semantic version (semver.org 2.0.0), else RepositoryError."""
    if not isinstance(version, str) or not SEMVER.match(version):
        raise RepositoryError(
            f"invalid version {version!r}: expected a semantic version MAJOR.MINOR.PATCH "
            "such as '0.1.0' or '1.2.0-rc.1'"
        )
    return version


def _validate_name(name: object, what: str = "definition name") -> str:
    if not isinstance(name, str) or not name:
        raise RepositoryError(f"invalid {what} {name!r}: expected a non-empty string")
    if _BAD_NAME_CHARS.search(name) or name.startswith("#"):
        raise RepositoryError(
            f"invalid {what} {name!r}: names may not contain whitespace or control "
            "characters, nor start with '#'"
        )
    return name


def _normalize_text(text: str, what: str) -> str:
    """LF line endings only; the repository never stores CR so diffs stay clean everywhere."""
    if not isinstance(text, str):
        raise RepositoryError(f"{what} must be a string, got {type(text).__name__}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise RepositoryError(f"{what} cannot be stored as UTF-8: {error}") from None
    return text


def _validate_definition(definition: object) -> Definition:
    if not isinstance(definition, Definition):
        raise RepositoryError(f"expected a Definition, got {type(definition).__name__}")
    _validate_name(definition.name)
    if not isinstance(definition.kind, DefinitionKind):
        raise RepositoryError(
            f"definition {definition.name!r} has an invalid kind {definition.kind!r}"
        )
    source = _normalize_text(definition.source, f"the source of definition {definition.name!r}")
    if not source.strip():
        raise RepositoryError(f"definition {definition.name!r} has empty source")
    return definition


def _validate_reason(reason: object, what: str = "reason") -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise RepositoryError(f"a non-empty {what} is required: it becomes the commit message")
    return _normalize_text(reason, what).strip()


def _validate_trailers(trailers: Mapping[str, str] | None) -> list[tuple[str, str]]:
    if trailers is None:
        return []
    if not isinstance(trailers, Mapping):
        raise RepositoryError(
            f"trailers must be a mapping of str to str, got {type(trailers).__name__}"
        )
    result: list[tuple[str, str]] = []
    for key, value in trailers.items():
        if not isinstance(key, str) or not _TRAILER_KEY.match(key):
            raise RepositoryError(
                f"invalid trailer key {key!r}: use letters, digits and '-' like 'Tests' or 'Metric-Latency-P95'"
            )
        if key.lower() in RESERVED_TRAILERS:
            raise RepositoryError(
                f"trailer {key!r} is written by the repository itself; choose another key"
            )
        if not isinstance(value, str):
            raise RepositoryError(
                f"trailer {key!r} must have a string value, got {type(value).__name__}"
            )
        value = value.strip()
        if not value or "\n" in value or "\r" in value:
            raise RepositoryError(
                f"trailer {key!r} needs a non-empty single-line value, got {value!r}"
            )
        result.append((key, value))
    return result


def _validate_signature(author: Signature | None) -> Signature | None:
    if author is None:
        return None
    if not isinstance(author, Signature):
        raise RepositoryError(f"author must be a Signature, got {type(author).__name__}")
    for part in (author.name, author.email):
        if not isinstance(part, str) or not part.strip() or _BAD_SIGNATURE_CHARS.search(part):
            raise RepositoryError(
                f"invalid author {author!s}: name and e-mail must be non-empty, without '<', '>' or control characters"
            )
    return author


def _compose_message(summary: str, trailers: Sequence[tuple[str, str]]) -> str:
    """Reason, blank line, trailer block: the layout `git interpret-trailers` understands."""
    lines = "\n".join(f"{key}: {value}" for key, value in trailers)
    return f"{summary}\n\n{lines}\n" if lines else f"{summary}\n"


def _split_message(message: str) -> tuple[str, str]:
    """(summary, body without the trailer block)."""
    text = message.strip("\n")
    summary, _, rest = text.partition("\n")
    paragraphs = [p for p in rest.strip("\n").split("\n\n") if p.strip()]
    if paragraphs and all(_TRAILER_LINE.match(line) for line in paragraphs[-1].split("\n")):
        paragraphs.pop()
    return summary, "\n\n".join(paragraphs)


def _header_version_span(header: str) -> tuple[int, int, str] | None:
    """(start, end, value) of the `:version "…"` string in the header, or None.

    Found with the o_lisp reader, so a `:version` inside a docstring or comment
    is never mistaken for the option.
    """
    try:
        forms = read_many(header, filename=HEADER_FILE)
    except LispError as error:
        raise RepositoryError(f"the agent header is not valid o_lisp source: {error}") from None
    lines = header.split("\n")

    def offset(line: int, column: int) -> int:
        return sum(len(text) + 1 for text in lines[: line - 1]) + column - 1

    for form in forms:
        if not isinstance(form, Expression):
            continue
        items = list(form)
        for key, value in itertools.pairwise(items):
            if key == Keyword("version") and isinstance(value, String):
                pos = value.position
                if pos is None:
                    return None
                return offset(pos[0], pos[1]), offset(pos[2], pos[3]) + 1, str(value)
    return None


def _changelog_insert(text: str, heading: str, entry: str) -> str:
    """Insert a version entry before the newest one (newest first)."""
    block = f"{heading}\n\n{entry.strip()}\n\n"
    match = re.search(r"^## ", text, flags=re.MULTILINE)
    if match is None:
        return text.rstrip("\n") + "\n\n" + block.rstrip("\n") + "\n"
    return text[: match.start()] + block + text[match.start() :]


def _local_offset_minutes(timestamp: int) -> int:
    offset = _dt.datetime.fromtimestamp(timestamp).astimezone().utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


def _iso_time(timestamp: int, offset_minutes: int) -> str:
    zone = _dt.timezone(_dt.timedelta(minutes=offset_minutes))
    return _dt.datetime.fromtimestamp(timestamp, tz=zone).isoformat()


def _git_signature(author: Signature, timestamp: int) -> pygit2.Signature:
    return pygit2.Signature(author.name, author.email, timestamp, _local_offset_minutes(timestamp))


@contextmanager
def _ref_transaction(repo: pygit2.Repository) -> Iterator[Any]:
    """A libgit2 reference transaction that commits only when `.commit()` is called.

    Leaving the block always frees it, which releases git's `.lock` files.
    """
    txn = repo.transaction()
    try:
        yield txn
    finally:
        txn.__exit__(RepositoryError, None, None)


# ---------------------------------------------------------------------------
# The repository
# ---------------------------------------------------------------------------


class CodeRepository:
    """An agent's code repository (see the module docstring and docs/agents-repository.md)."""

    def __init__(self, path: Path, repo: pygit2.Repository) -> None:
        """Use `CodeRepository.init` or `CodeRepository.open`; this only wires fields."""
        self._path = path
        self._repo = repo
        self._lock = threading.RLock()

    # -- construction -------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        agent_name: str,
        definitions: Sequence[Definition],
        header_source: str,
        version: str,
        message: str = "",
    ) -> CodeRepository:
        """Create the repository at `path` (absent or an empty directory) with one commit.

        The commit "Create agent NAME VERSION" is authored by the agent and
        tagged `vVERSION`; `message` (optional) becomes its body and the first
        CHANGELOG entry. Everything is validated before anything is created,
        and a failure afterwards removes only what this call created.
        """
        target = Path(os.fspath(path)).absolute()
        _validate_name(agent_name, "agent name")
        validate_version(version)
        header = _normalize_text(header_source, "the agent header").strip("\n")
        if not header.strip():
            raise RepositoryError("the agent header (defagent form) is empty")
        span = _header_version_span(header)
        if span is not None and span[2] != version:
            raise RepositoryError(
                f"the agent header declares :version {span[2]!r} but the repository is "
                f"created at version {version!r}"
            )
        note = _normalize_text(message, "message").strip() if message else ""
        if isinstance(definitions, (str, bytes)) or not isinstance(definitions, Sequence):
            raise RepositoryError("definitions must be a list of Definition")
        checked = [_validate_definition(d) for d in definitions]
        _check_unique([d.name for d in checked])

        created_dir = not target.exists()
        if target.is_file() or (target.exists() and not target.is_dir()):
            raise RepositoryError(f"cannot create an agent repository at {target}: it is a file")
        if not created_dir:
            if (target / ".git").exists():
                raise RepositoryError(
                    f"cannot create an agent repository at {target}: it already holds a git "
                    "repository (use CodeRepository.open)"
                )
            if any(target.iterdir()):
                raise RepositoryError(
                    f"cannot create an agent repository at {target}: the directory is not empty"
                )
        try:
            target.mkdir(parents=True, exist_ok=True)
            repo = pygit2.init_repository(str(target), bare=False, initial_head=BRANCH)
            config = repo.config
            config["core.autocrlf"] = "false"
            config["core.eol"] = "lf"
            config["o-lisp.agent"] = agent_name
            config["o-lisp.layout"] = str(LAYOUT_VERSION)
            self = cls(target, repo)
            author = Signature.for_agent(agent_name)
            now = int(_time.time())
            changelog = CHANGELOG_TITLE.format(name=agent_name)
            changelog = _changelog_insert(
                changelog,
                self._changelog_heading(version, now),
                note or f"Created agent {agent_name}.",
            )
            files: _Files = {}
            self._put(files, HEADER_FILE, header + "\n")
            self._put(files, VERSION_FILE, version + "\n")
            self._put(files, CHANGELOG_FILE, changelog)
            self._put(files, ORDER_FILE, _format_order([(d.kind, d.name) for d in checked]))
            for definition in checked:
                self._put(files, definition.filename, _definition_text(definition))
            summary = f"Create agent {agent_name} {version}"
            body = f"{summary}\n\n{note}" if note else summary
            msg = _compose_message(body, [("Change", "create"), ("Version", version)])
            tree_id = self._write_tree(files)
            sig = _git_signature(author, now)
            commit_id = repo.create_commit(None, sig, sig, msg, tree_id, [])
            tag_id = self._write_tag(
                f"v{version}",
                commit_id,
                author,
                now,
                f"{agent_name} {version}\n\n{note or summary}\n",
            )
            with _ref_transaction(repo) as txn:
                branch = f"refs/heads/{BRANCH}"
                txn.lock_ref(branch)
                txn.lock_ref(f"refs/tags/v{version}")
                txn.set_target(branch, commit_id, message=f"commit (initial): {summary}")
                txn.set_target(f"refs/tags/v{version}", tag_id, message=f"tag v{version}")
                txn.commit()
            tree = self._tree(tree_id)
            _checkout_tree(repo, tree)
            index = repo.index
            index.read_tree(tree)
            index.write()
            return self
        except BaseException as error:
            _remove_created(target, created_dir)
            if isinstance(error, RepositoryError) or not isinstance(error, Exception):
                raise
            raise RepositoryError(
                f"could not create the agent repository at {target}: {error}; nothing was left behind"
            ) from error

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, require_clean_worktree: bool = True
    ) -> CodeRepository:
        """Open and check an existing repository; never writes anything.

        Checks that HEAD resolves to a commit whose tree holds a readable
        header, VERSION and ORDER and every definition ORDER lists (all blobs
        present), so a damaged repository is reported here, by name, rather
        than half-loaded later. Unless `require_clean_worktree` is False (for
        read-only tools), tracked files that differ from HEAD are an error too:
        the agent loads HEAD, so a deleted or edited file on disk would make
        the files lie about the code that runs.
        """
        target = Path(os.fspath(path)).absolute()
        if not target.exists():
            raise RepositoryError(f"no agent repository at {target}: the path does not exist")
        if not target.is_dir():
            raise RepositoryError(
                f"no agent repository at {target}: the path is a file, not a directory"
            )
        if not (target / ".git").exists():
            raise RepositoryError(
                f"no agent repository at {target}: it is not a git repository (no .git)"
            )
        try:
            repo = pygit2.Repository(str(target), flags=RepositoryOpenFlag.NO_SEARCH)
        except (pygit2.GitError, KeyError, ValueError, OSError) as error:
            raise RepositoryError(
                f"the agent repository at {target} is corrupted: git cannot open it ({error})"
            ) from None
        if repo.is_bare or repo.workdir is None:
            raise RepositoryError(
                f"the repository at {target} is bare; agent repositories have a worktree"
            )
        if Path(repo.workdir).resolve() != target.resolve():
            raise RepositoryError(
                f"the repository at {target} has its worktree elsewhere ({repo.workdir})"
            )
        layout = repo.config["o-lisp.layout"] if "o-lisp.layout" in repo.config else None
        if layout is not None and layout != str(LAYOUT_VERSION):
            raise RepositoryError(
                f"the agent repository at {target} uses layout {layout}; this o_lisp reads layout {LAYOUT_VERSION}"
            )
        self = cls(target, repo)
        commit = self._head_commit()
        self._check_snapshot(commit)
        if require_clean_worktree:
            changed = self._worktree_changes()
            if changed:
                raise RepositoryError(
                    f"the worktree of the agent repository at {target} differs from HEAD "
                    f"({'; '.join(changed)}); the agent runs what HEAD holds, so commit the change "
                    f"(`git -C {target} commit -a`) or discard it (`git -C {target} checkout -- .`)"
                )
        return self

    # -- reading ------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The worktree directory (the `.git` directory is inside it)."""
        return self._path

    @property
    def agent_name(self) -> str:
        """The agent's name, from `o-lisp.agent` in .git/config or else the root commit's author.

        The fallback keeps a clone (clones do not copy .git/config) usable.
        """
        config = self._repo.config
        if "o-lisp.agent" in config:
            return str(config["o-lisp.agent"])
        with self._git_errors("reading the agent name"):
            walker = self._repo.walk(
                self._head_commit().id, SortMode.TOPOLOGICAL | SortMode.REVERSE
            )
            return str(next(iter(walker)).author.name)

    def head(self) -> str:
        """The hex id of the commit HEAD points to."""
        return str(self._head_commit().id)

    def resolve(self, rev: str) -> str:
        """The commit hex `rev` names: full/short hex, tag, branch, `HEAD`, `HEAD~2`, ..."""
        return str(self._commit(rev).id)

    def definitions(self, rev: str = "HEAD") -> list[Definition]:
        """The definitions at `rev`, in ORDER (load order)."""
        commit = self._commit(rev)
        files = self._files(commit)
        result = []
        for kind, name in self._order(files, commit):
            definition = Definition(name, kind, "")
            text = self._text(files, definition.filename, commit)
            result.append(Definition(name, kind, text[:-1] if text.endswith("\n") else text))
        return result

    def header(self, rev: str = "HEAD") -> str:
        """The `defagent` header source at `rev` (agent.hy without its final newline)."""
        commit = self._commit(rev)
        return self._text(self._files(commit), HEADER_FILE, commit).rstrip("\n")

    def version(self, rev: str = "HEAD") -> str:
        """The agent version at `rev`, from the VERSION file (the authority; see the docs)."""
        commit = self._commit(rev)
        return self._version_of(self._files(commit), commit)

    def history(self, all: bool = False) -> list[HistoryEntry]:
        """Commits newest first; with `all`, rejected candidates too (marked `rejected`)."""
        with self._git_errors("reading the history"):
            head = self._head_commit()
            mainline = {c.id for c in self._repo.walk(head.id, SortMode.TOPOLOGICAL)}
            walker = self._repo.walk(head.id, SortMode.TOPOLOGICAL | SortMode.TIME)
            candidates = self._candidates_tip()
            if all and candidates is not None:
                walker.push(candidates)
            tags = self._tags_by_commit()
            entries = []
            for commit in walker:
                summary, body = _split_message(commit.message)
                version = self._version_or_blank(commit)
                entries.append(
                    HistoryEntry(
                        commit=str(commit.id),
                        short=str(commit.id)[:7],
                        version=version,
                        summary=summary,
                        body=body,
                        trailers=dict(commit.message_trailers),
                        author=Signature(commit.author.name, commit.author.email),
                        time=_iso_time(commit.author.time, commit.author.offset),
                        tags=tags.get(commit.id, []),
                        rejected=commit.id not in mainline,
                    )
                )
            return entries

    def show(self, rev: str) -> str:
        """A `git show`-like report: id, tags, author, date, version, message, diff.

        The diff is against the first parent: for a rejected candidate that is
        the HEAD it was proposed against, so it shows exactly the proposal.
        """
        commit = self._commit(rev)
        with self._git_errors(f"showing {rev!r}"):
            tags = self._tags_by_commit().get(commit.id, [])
            head = self._head_commit()
            mainline = commit.id == head.id or self._repo.descendant_of(head.id, commit.id)
            lines = [f"commit {commit.id}" + (f" (tag: {', '.join(tags)})" if tags else "")]
            if not mainline:
                lines.append("Status: rejected candidate (not in the history of HEAD)")
            lines.append(f"Author:  {commit.author.name} <{commit.author.email}>")
            lines.append(f"Date:    {_iso_time(commit.author.time, commit.author.offset)}")
            version = self._version_or_blank(commit)
            if version:
                lines.append(f"Version: {version}")
            lines.append("")
            lines.extend(
                f"    {line}" if line else "" for line in commit.message.rstrip("\n").split("\n")
            )
            lines.append("")
            if commit.parents:
                patch = self._repo.diff(commit.parents[0], commit).patch
            else:
                patch = commit.tree.diff_to_tree(swap=True).patch
            return "\n".join(lines) + "\n" + (patch or "")

    def diff(self, rev1: str, rev2: str) -> str:
        """Unified diff of every file from `rev1` to `rev2` ('' when the trees are equal)."""
        old, new = self._commit(rev1), self._commit(rev2)
        with self._git_errors(f"diffing {rev1!r} and {rev2!r}"):
            return self._repo.diff(old, new).patch or ""

    # -- writing ------------------------------------------------------------

    def commit_definition(
        self,
        definition: Definition,
        reason: str,
        trailers: Mapping[str, str] | None = None,
        author: Signature | None = None,
        *,
        version: str | None = None,
        changelog_entry: str | None = None,
    ) -> str:
        """Replace (or add, appended to ORDER) one definition as one commit; returns its hex.

        With `version`, the same commit also sets that version (VERSION, the header's
        `:version`, a CHANGELOG.md entry: `changelog_entry` or the reason) and is tagged
        `v<version>`, as `bump_version` would: one accepted change, one commit.
        Raises RepositoryError when the definition is unchanged (no empty commits).
        """
        definition = _validate_definition(definition)
        summary = _validate_reason(reason)
        extra = _validate_trailers(trailers)
        author = _validate_signature(author)
        release = self._release_request(version, changelog_entry or summary)

        def plan(base: pygit2.Commit) -> _Plan:
            files = self._files(base)
            order = self._order(files, base)
            names = [name for _, name in order]
            if definition.name in names:
                old_kind = order[names.index(definition.name)][0]
                if old_kind is not definition.kind:
                    order[names.index(definition.name)] = (definition.kind, definition.name)
                change = "replace"
            else:
                self._check_filename_free(definition, names)
                order.append((definition.kind, definition.name))
                change = "add"
            new = dict(files)
            self._put(new, ORDER_FILE, _format_order(order))
            self._put(new, definition.filename, _definition_text(definition))
            auto = [
                ("Change", change),
                ("Definition", definition.name),
                ("Kind", definition.kind.value),
            ]
            signer = author or self._agent_signature()
            tag = None
            if release is not None:
                auto_version, tag = self._release(new, base, *release, signer)
                auto += auto_version
            return _Plan(new, _compose_message(summary, auto + extra), signer, tag=tag)

        return self._advance(plan, f"commit definition {definition.name!r}")

    def commit_seed_edit(
        self,
        changed: Sequence[Definition],
        removed: Sequence[str],
        reason: str,
        version: str,
        changelog_entry: str,
        author: Signature | None = None,
    ) -> str:
        """Import an edit of the seed file as one commit with its own version and tag.

        `changed` definitions replace (or are appended after) those of HEAD, `removed`
        ones are deleted; trailers `Change: seed-edit`, `Definitions: a, b`, `Version`,
        `Previous-Version`. Raises RepositoryError when nothing would change.
        """
        checked = [_validate_definition(d) for d in changed]
        _check_unique([d.name for d in checked])
        gone = [_validate_name(name) for name in removed]
        if not checked and not gone:
            raise RepositoryError(f"cannot import a seed edit into {self._path}: nothing changed")
        summary = _validate_reason(reason)
        author = _validate_signature(author)
        release = self._release_request(version, _validate_reason(changelog_entry, "changelog entry"))
        assert release is not None

        def plan(base: pygit2.Commit) -> _Plan:
            files = self._files(base)
            order = self._order(files, base)
            new = dict(files)
            for name in gone:
                match = [(kind, n) for kind, n in order if n == name]
                if not match:
                    raise RepositoryError(f"no definition named {name!r} at HEAD in {self._path}")
                order = [(k, n) for k, n in order if n != name]
                del new[Definition(name, match[0][0], "").filename]
            for definition in checked:
                self._place(order, definition)
                self._put(new, definition.filename, _definition_text(definition))
            self._put(new, ORDER_FILE, _format_order(order))
            signer = author or self._agent_signature()
            auto_version, tag = self._release(new, base, *release, signer)
            listed = ", ".join([d.name for d in checked] + gone)
            auto = [("Change", "seed-edit"), ("Definitions", listed), *auto_version]
            return _Plan(new, _compose_message(summary, auto), signer, tag=tag)

        return self._advance(plan, "import the seed edit")

    def tag_exists(self, version: str) -> bool:
        """Whether `v<version>` is tagged (tags never move, so that version is taken)."""
        return f"refs/tags/v{version}" in self._repo.references

    def _release_request(self, version: str | None, entry: str) -> tuple[str, str] | None:
        if version is None:
            return None
        validate_version(version)
        return version, _validate_reason(entry, "changelog entry")

    def _release(
        self, new: _Files, base: pygit2.Commit, version: str, entry: str, signer: Signature
    ) -> tuple[list[tuple[str, str]], tuple[str, str]]:
        """Set `version` in the files `new` (based on `base`): VERSION, the header's
        `:version`, CHANGELOG.md. Returns the trailers and the (tag, message) to write."""
        current = self._version_of(self._files(base), base)
        if semver_key(version) <= semver_key(current):
            raise RepositoryError(
                f"cannot bump {self._path} from {current} to {version}: the new version must be greater"
            )
        tag = f"v{version}"
        if f"refs/tags/{tag}" in self._repo.references:
            existing = self._commit(tag)
            raise RepositoryError(
                f"tag {tag} already exists in {self._path} (commit {str(existing.id)[:7]}); "
                "choose a version that was never released"
            )
        self._put(new, VERSION_FILE, version + "\n")
        header = self._text(new, HEADER_FILE, base).rstrip("\n")
        span = _header_version_span(header)
        if span is not None:
            start, end, _ = span
            self._put(new, HEADER_FILE, f'{header[:start]}"{version}"{header[end:]}\n')
        changelog = self._text(new, CHANGELOG_FILE, base) if CHANGELOG_FILE in new else ""
        heading = self._changelog_heading(version, int(_time.time()))
        self._put(new, CHANGELOG_FILE, _changelog_insert(changelog, heading, entry))
        trailers = [("Version", version), ("Previous-Version", current)]
        return trailers, (tag, f"{self.agent_name} {version}\n\n{entry}\n")

    def remove_definition(
        self,
        name: str,
        reason: str,
        trailers: Mapping[str, str] | None = None,
        author: Signature | None = None,
    ) -> str:
        """Delete one definition (file and ORDER line) as one commit; returns its hex."""
        _validate_name(name)
        summary = _validate_reason(reason)
        extra = _validate_trailers(trailers)
        author = _validate_signature(author)

        def plan(base: pygit2.Commit) -> _Plan:
            files = self._files(base)
            order = self._order(files, base)
            match = [(kind, n) for kind, n in order if n == name]
            if not match:
                raise RepositoryError(f"no definition named {name!r} at HEAD in {self._path}")
            kind = match[0][0]
            order = [(k, n) for k, n in order if n != name]
            new = dict(files)
            self._put(new, ORDER_FILE, _format_order(order))
            del new[Definition(name, kind, "").filename]
            auto = [("Change", "remove"), ("Definition", name), ("Kind", kind.value)]
            return _Plan(
                new, _compose_message(summary, auto + extra), author or self._agent_signature()
            )

        return self._advance(plan, f"remove definition {name!r}")

    def bump_version(
        self,
        new_version: str,
        reason: str,
        changelog_entry: str,
        author: Signature | None = None,
    ) -> str:
        """Set a higher version: VERSION, the header's `:version`, CHANGELOG.md, annotated tag.

        The version must be greater (semver precedence) than the current one
        and its tag `v<version>` must not exist yet, so tags never move.
        """
        validate_version(new_version)
        summary = _validate_reason(reason)
        entry = _validate_reason(changelog_entry, "changelog entry")
        author = _validate_signature(author)

        def plan(base: pygit2.Commit) -> _Plan:
            new = dict(self._files(base))
            signer = author or self._agent_signature()
            auto, tag_plan = self._release(new, base, new_version, entry, signer)
            return _Plan(new, _compose_message(summary, [("Change", "version"), *auto]), signer, tag=tag_plan)

        return self._advance(plan, f"bump version to {new_version}")

    def rollback(
        self,
        rev: str,
        reason: str,
        trailers: Mapping[str, str] | None = None,
        author: Signature | None = None,
    ) -> str:
        """Restore the whole tree of `rev` as a new commit on top of HEAD; returns its hex.

        History stays linear and nothing is forgotten: `git log` shows the
        rollback as the newest commit, with `Rollback-To: <hex>`. `rev` must be
        in the history of HEAD (a rejected candidate is not a rollback target).
        """
        summary = _validate_reason(reason)
        extra = _validate_trailers(trailers)
        author = _validate_signature(author)
        target = self._commit(rev)

        def plan(base: pygit2.Commit) -> _Plan:
            if target.id != base.id and not self._repo.descendant_of(base.id, target.id):
                raise RepositoryError(
                    f"cannot roll back {self._path} to {rev!r}: commit {str(target.id)[:7]} is not in "
                    "the history of HEAD (a rejected candidate?)"
                )
            if target.tree_id == base.tree_id:
                raise RepositoryError(
                    f"HEAD of {self._path} already has the code of {rev!r}; nothing to roll back"
                )
            files = self._files(target)
            self._check_snapshot(target)
            tags = self._tags_by_commit().get(target.id, [])
            label = rev if rev in tags else (tags[-1] if tags else str(target.id)[:7])
            auto = [("Change", "rollback"), ("Rollback-To", str(target.id))]
            if VERSION_FILE in files:
                auto.append(("Version", self._version_of(files, target)))
            message = _compose_message(f"Rollback to {label}: {summary}", auto + extra)
            return _Plan(files, message, author or self._agent_signature())

        return self._advance(plan, f"roll back to {rev!r}")

    def record_rejected(
        self,
        definition: Definition,
        reason: str,
        trailers: Mapping[str, str] | None = None,
        author: Signature | None = None,
    ) -> str:
        """Keep a rejected candidate on `refs/o-lisp/candidates`; HEAD, index and worktree stay.

        The commit's first parent is the HEAD it was proposed against (so its
        diff is the proposal) and its second parent the previous candidate (so
        every candidate stays reachable and survives `git gc`).
        """
        definition = _validate_definition(definition)
        summary = _validate_reason(reason)
        extra = _validate_trailers(trailers)
        author = _validate_signature(author)
        with self._lock:
            created: list[tuple[pygit2.Oid, pygit2.Oid | None]] = []
            try:
                with self._git_errors("recording a rejected candidate"):
                    return str(self._record(definition, summary, extra, author, created))
            except BaseException:
                # The ref transaction may have been applied before the failure
                # (e.g. an interrupt): put the candidates ref back.
                ref = self._repo.references.get(CANDIDATES_REF)
                if ref is not None and created and ref.target == created[0][0]:
                    previous = created[0][1]
                    if previous is None:
                        ref.delete()
                    else:
                        ref.set_target(previous, "o-lisp: undo a failed candidate")
                raise

    def _record(
        self,
        definition: Definition,
        summary: str,
        extra: list[tuple[str, str]],
        author: Signature | None,
        created: list[tuple[pygit2.Oid, pygit2.Oid | None]],
    ) -> pygit2.Oid:
        with _ref_transaction(self._repo) as txn:
            self._lock_ref(txn, CANDIDATES_REF)
            base = self._head_commit()
            files = self._files(base)
            order = self._order(files, base)
            self._place(order, definition)
            new = dict(files)
            self._put(new, ORDER_FILE, _format_order(order))
            self._put(new, definition.filename, _definition_text(definition))
            auto = [
                ("Change", "rejected"),
                ("Definition", definition.name),
                ("Kind", definition.kind.value),
            ]
            message = _compose_message(f"Rejected: {summary}", auto + extra)
            previous = self._candidates_tip()
            parents = [base.id] + ([previous] if previous is not None else [])
            now = int(_time.time())
            sig = _git_signature(author or self._agent_signature(), now)
            commit_id = self._repo.create_commit(
                None, sig, sig, message, self._write_tree(new), parents
            )
            txn.set_target(
                CANDIDATES_REF, commit_id, message=f"rejected candidate: {summary.splitlines()[0]}"
            )
            created.append((commit_id, previous))
            txn.commit()
            return commit_id

    # -- internals: the write transaction -----------------------------------

    def _advance(self, plan_for: Callable[[pygit2.Commit], _Plan], action: str) -> str:
        """Run one write: plan against the locked HEAD, commit, check out, move refs.

        On failure after the checkout began, worktree, index and refs are put
        back to the previous commit before the error propagates.
        """
        with self._lock:
            branch = self._branch_ref()
            commit_id: pygit2.Oid | None = None
            tag_ref: str | None = None
            tag_id: pygit2.Oid | None = None
            base: pygit2.Commit | None = None
            new_tree: pygit2.Tree | None = None
            checkout_started = False
            try:
                with _ref_transaction(self._repo) as txn:
                    self._lock_ref(txn, branch)
                    base = self._head_commit()
                    plan = plan_for(base)
                    tree_id = self._write_tree(plan.files)
                    if tree_id == base.tree_id:
                        raise RepositoryError(
                            f"cannot {action} in {self._path}: nothing would change"
                        )
                    new_tree = self._tree(tree_id)
                    self._require_clean(new_tree)
                    now = int(_time.time())
                    sig = _git_signature(plan.author, now)
                    commit_id = self._repo.create_commit(
                        None, sig, sig, plan.message, tree_id, [base.id]
                    )
                    if plan.tag is not None:
                        tag_ref = f"refs/tags/{plan.tag[0]}"
                        self._lock_ref(txn, tag_ref)
                        tag_id = self._write_tag(
                            plan.tag[0], commit_id, plan.author, now, plan.tag[1]
                        )
                    checkout_started = True
                    self._checkout(new_tree, base.tree)
                    summary = plan.message.split("\n", 1)[0]
                    txn.set_target(branch, commit_id, message=f"commit: {summary}")
                    if tag_ref is not None and tag_id is not None:
                        txn.set_target(
                            tag_ref, tag_id, message=f"tag {plan.tag[0] if plan.tag else ''}"
                        )
                    txn.commit()
                return str(commit_id)
            except BaseException as error:
                if checkout_started and base is not None and new_tree is not None:
                    self._undo(error, branch, base, new_tree, commit_id, tag_ref, tag_id)
                if isinstance(error, RepositoryError) or not isinstance(error, Exception):
                    raise
                raise RepositoryError(
                    f"could not {action} in {self._path}: {error}; nothing was changed"
                ) from error

    def _undo(
        self,
        error: BaseException,
        branch: str,
        base: pygit2.Commit,
        new_tree: pygit2.Tree,
        commit_id: pygit2.Oid | None,
        tag_ref: str | None,
        tag_id: pygit2.Oid | None,
    ) -> None:
        try:
            ref = self._repo.references.get(branch)
            if ref is not None and commit_id is not None and ref.target == commit_id:
                ref.set_target(base.id, "o-lisp: undo a failed update")
            tag = self._repo.references.get(tag_ref) if tag_ref else None
            if tag is not None and tag.target == tag_id:
                tag.delete()
            self._checkout(base.tree, new_tree)
        except Exception as undo_error:
            raise RepositoryError(
                f"{error}; restoring {self._path} to {str(base.id)[:7]} failed too ({undo_error}): "
                f"run `git -C {self._path} reset --hard {base.id}` to recover"
            ) from error

    def _checkout(self, tree: pygit2.Tree, previous: pygit2.Tree) -> None:
        """Make worktree and index equal `tree`, deleting files only `previous` had."""
        _checkout_tree(self._repo, tree)
        wanted = self._files_of_tree(tree)
        for path in self._files_of_tree(previous):
            if path not in wanted:
                try:
                    (self._path / path).unlink()
                except FileNotFoundError:
                    pass
        index = self._repo.index
        index.read_tree(tree)
        index.write()

    def _worktree_changes(self, untracked_in: Mapping[str, object] | None = None) -> list[str]:
        """Tracked files differing from HEAD (index or worktree), as "state: path".

        Untracked files are ignored unless they sit where `untracked_in` would
        write a file (a checkout would overwrite them).
        """
        labels = [
            (pygit2.GIT_STATUS_WT_DELETED | pygit2.GIT_STATUS_INDEX_DELETED, "deleted"),
            (pygit2.GIT_STATUS_WT_MODIFIED | pygit2.GIT_STATUS_INDEX_MODIFIED, "modified"),
            (pygit2.GIT_STATUS_INDEX_NEW, "staged"),
            (pygit2.GIT_STATUS_WT_TYPECHANGE | pygit2.GIT_STATUS_INDEX_TYPECHANGE, "type changed"),
            (pygit2.GIT_STATUS_INDEX_RENAMED | pygit2.GIT_STATUS_WT_RENAMED, "renamed"),
            (pygit2.GIT_STATUS_CONFLICTED, "conflicted"),
        ]
        try:
            status = self._repo.status(untracked_files="all" if untracked_in else "no")
        except (pygit2.GitError, KeyError, ValueError, OSError) as error:
            raise RepositoryError(
                f"the agent repository at {self._path} is corrupted: the index (.git/index) "
                f"cannot be compared with the worktree ({error})"
            ) from None
        changed = []
        for path, flags in sorted(status.items()):
            if flags & pygit2.GIT_STATUS_IGNORED:
                continue
            if flags == pygit2.GIT_STATUS_WT_NEW:
                if untracked_in is not None and path in untracked_in:
                    changed.append(f"untracked, would be overwritten: {path}")
                continue
            label = next((text for mask, text in labels if flags & mask), "changed")
            changed.append(f"{label}: {path}")
        return changed

    def _require_clean(self, new_tree: pygit2.Tree) -> None:
        """Refuse to overwrite work: no uncommitted changes, no untracked file in the way."""
        dirty = self._worktree_changes(self._files_of_tree(new_tree))
        if dirty:
            raise RepositoryError(
                f"the worktree of {self._path} has uncommitted changes ({'; '.join(dirty)}); "
                f"commit or discard them (`git -C {self._path} status`) before the agent changes its code"
            )

    def _lock_ref(self, txn: Any, ref: str) -> None:
        try:
            txn.lock_ref(ref)
        except pygit2.GitError as error:
            raise RepositoryError(
                f"cannot lock {ref} in {self._path}: {error} (another process is changing the "
                "repository, or a stale .lock file remains from a crash)"
            ) from None

    # -- internals: objects ---------------------------------------------------

    def _put(self, files: _Files, path: str, text: str) -> None:
        files[path] = _Entry(self._repo.create_blob(text.encode("utf-8")), FileMode.BLOB)

    def _tree(self, oid: pygit2.Oid) -> pygit2.Tree:
        tree = self._repo[oid]
        if not isinstance(tree, pygit2.Tree):
            raise RepositoryError(f"object {oid} in {self._path} is not a tree")
        return tree

    def _write_tree(self, files: Mapping[str, _Entry]) -> pygit2.Oid:
        builder = self._repo.TreeBuilder()
        subdirs: dict[str, dict[str, _Entry]] = {}
        for path, entry in files.items():
            head, sep, rest = path.partition("/")
            if sep:
                subdirs.setdefault(head, {})[rest] = entry
            else:
                builder.insert(head, entry.oid, entry.mode)
        for name, sub in subdirs.items():
            builder.insert(name, self._write_tree(sub), FileMode.TREE)
        return builder.write()

    def _write_tag(
        self, name: str, commit_id: pygit2.Oid, tagger: Signature, now: int, message: str
    ) -> pygit2.Oid:
        """An annotated tag object without its ref (the ref moves in the transaction)."""
        sig = _git_signature(tagger, now)
        offset = sig.offset
        sign = "-" if offset < 0 else "+"
        zone = f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
        raw = (
            f"object {commit_id}\ntype commit\ntag {name}\n"
            f"tagger {tagger.name} <{tagger.email}> {now} {zone}\n\n{message}"
        )
        return self._repo.odb.write(ObjectType.TAG, raw.encode("utf-8"))

    def _files_of_tree(self, tree: pygit2.Tree, prefix: str = "") -> _Files:
        files: _Files = {}
        for entry in tree:
            path = f"{prefix}{entry.name}"
            if entry.filemode == FileMode.TREE:
                sub = self._repo[entry.id]
                files.update(self._files_of_tree(sub, f"{path}/"))  # type: ignore[arg-type]
            else:
                files[path] = _Entry(entry.id, entry.filemode)
        return files

    def _files(self, commit: pygit2.Commit) -> _Files:
        try:
            return self._files_of_tree(commit.tree)
        except (KeyError, pygit2.GitError, ValueError) as error:
            raise RepositoryError(
                f"the agent repository at {self._path} is corrupted: the tree of commit "
                f"{str(commit.id)[:7]} cannot be read ({error})"
            ) from None

    def _text(self, files: _Files, path: str, commit: pygit2.Commit) -> str:
        where = f"commit {str(commit.id)[:7]} of {self._path}"
        entry = files.get(path)
        if entry is None:
            raise RepositoryError(f"{path} is missing in {where}")
        try:
            blob = self._repo[entry.oid]
            data: bytes = blob.data  # type: ignore[attr-defined]
        except (KeyError, pygit2.GitError, ValueError, AttributeError) as error:
            raise RepositoryError(
                f"the agent repository is corrupted: {path} in {where} cannot be read "
                f"(object {entry.oid} is missing or damaged: {error})"
            ) from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise RepositoryError(f"{path} in {where} is not UTF-8 text: {error}") from None

    def _order(self, files: _Files, commit: pygit2.Commit) -> list[tuple[DefinitionKind, str]]:
        text = self._text(files, ORDER_FILE, commit)
        kinds = {kind.value: kind for kind in DefinitionKind}
        order: list[tuple[DefinitionKind, str]] = []
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            kind_text, _, name = line.partition(" ")
            name = name.strip()
            if kind_text not in kinds or not name or _BAD_NAME_CHARS.search(name):
                raise RepositoryError(
                    f"ORDER line {number} in commit {str(commit.id)[:7]} of {self._path} is not "
                    f"'<kind> <name>' with a known kind: {raw!r}"
                )
            order.append((kinds[kind_text], name))
        try:
            _check_unique([name for _, name in order])
        except RepositoryError as error:
            raise RepositoryError(
                f"ORDER in commit {str(commit.id)[:7]} of {self._path}: {error}"
            ) from None
        return order

    def _version_of(self, files: _Files, commit: pygit2.Commit) -> str:
        text = self._text(files, VERSION_FILE, commit).strip()
        try:
            return validate_version(text)
        except RepositoryError:
            raise RepositoryError(
                f"VERSION in commit {str(commit.id)[:7]} of {self._path} is not a semantic version: {text!r}"
            ) from None

    def _version_or_blank(self, commit: pygit2.Commit) -> str:
        """The version for reports: '' for a (hand-made) commit without a valid VERSION."""
        try:
            return self._version_of(self._files(commit), commit)
        except RepositoryError:
            return ""

    def _check_snapshot(self, commit: pygit2.Commit) -> None:
        """Everything `definitions()`/`header()`/`version()` need at `commit` is present and sane."""
        files = self._files(commit)
        self._text(files, HEADER_FILE, commit)
        self._version_of(files, commit)
        listed = set()
        for kind, name in self._order(files, commit):
            filename = Definition(name, kind, "").filename
            listed.add(filename)
            self._text(files, filename, commit)
        for path in files:
            if path.startswith(f"{DEFS_DIR}/") and path not in listed:
                raise RepositoryError(
                    f"{path} in commit {str(commit.id)[:7]} of {self._path} is not listed in ORDER"
                )
        if CHANGELOG_FILE in files:
            self._text(files, CHANGELOG_FILE, commit)

    def _place(self, order: list[tuple[DefinitionKind, str]], definition: Definition) -> None:
        """Put `definition` in the definition order: in its old place when it replaces a
        definition of that name, else at the end (its file name must then be free)."""
        names = [name for _, name in order]
        if definition.name in names:
            order[names.index(definition.name)] = (definition.kind, definition.name)
        else:
            self._check_filename_free(definition, names)
            order.append((definition.kind, definition.name))

    def _check_filename_free(self, definition: Definition, names: list[str]) -> None:
        """Two names may map to one file (`a?` and `a_3f`) or differ only in case."""
        for other in names:
            other_file = Definition(other, definition.kind, "").filename
            if other_file.lower() == definition.filename.lower():
                raise RepositoryError(
                    f"definition {definition.name!r} would be stored in {definition.filename}, which "
                    f"clashes with definition {other!r} ({other_file}); rename one of them"
                )

    # -- internals: refs ----------------------------------------------------

    def _head_commit(self) -> pygit2.Commit:
        try:
            head = self._repo.head
            commit = head.peel(pygit2.Commit)
            commit.tree  # noqa: B018 - load the tree now so a missing tree is reported here
        except (pygit2.GitError, KeyError, ValueError) as error:
            raise RepositoryError(
                f"the agent repository at {self._path} is corrupted: HEAD does not lead to a "
                f"readable commit ({error})"
            ) from None
        return commit

    def _branch_ref(self) -> str:
        try:
            detached = self._repo.head_is_detached
            name = self._repo.references["HEAD"].target
        except (pygit2.GitError, KeyError) as error:
            raise RepositoryError(f"HEAD of {self._path} is unreadable: {error}") from None
        if detached or not isinstance(name, str):
            raise RepositoryError(
                f"HEAD of {self._path} is detached; run `git -C {self._path} checkout {BRANCH}` "
                "before the agent changes its code"
            )
        return name

    def _commit(self, rev: str) -> pygit2.Commit:
        if not isinstance(rev, str) or not rev.strip():
            raise UnknownRevision(f"unknown revision {rev!r} in {self._path}")
        try:
            obj = self._repo.revparse_single(rev)
            commit = obj.peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as error:
            raise UnknownRevision(f"unknown revision {rev!r} in {self._path} ({error})") from None
        return commit

    def _candidates_tip(self) -> pygit2.Oid | None:
        ref = self._repo.references.get(CANDIDATES_REF)
        if ref is None:
            return None
        target = ref.target
        return target if isinstance(target, pygit2.Oid) else None

    def _tags_by_commit(self) -> dict[pygit2.Oid, list[str]]:
        tags: dict[pygit2.Oid, list[str]] = {}
        for name in self._repo.references:
            if not name.startswith("refs/tags/"):
                continue
            try:
                commit = self._repo.references[name].peel(pygit2.Commit)
            except (pygit2.GitError, KeyError, ValueError):
                continue
            tags.setdefault(commit.id, []).append(name[len("refs/tags/") :])
        for names in tags.values():
            names.sort(key=lambda n: semver_key(n[1:]) if SEMVER.match(n[1:]) else (n,))
        return tags

    def _agent_signature(self) -> Signature:
        return Signature.for_agent(self.agent_name)

    @staticmethod
    def _changelog_heading(version: str, timestamp: int) -> str:
        return f"## [{version}] - {_dt.date.fromtimestamp(timestamp).isoformat()}"

    @contextmanager
    def _git_errors(self, action: str) -> Iterator[None]:
        """Turn low-level git failures into RepositoryError naming the repository."""
        try:
            yield
        except RepositoryError:
            raise
        except (pygit2.GitError, KeyError, ValueError, OSError) as error:
            raise RepositoryError(f"{action} in {self._path} failed: {error}") from error

    def __repr__(self) -> str:
        return f"CodeRepository({str(self._path)!r})"


def _checkout_tree(repo: pygit2.Repository, tree: pygit2.Tree) -> None:
    """Force the worktree and index to `tree` (callers have checked nothing would be lost)."""
    checkout = cast(Callable[..., None], repo.checkout_tree)
    checkout(tree, strategy=CheckoutStrategy.FORCE)


def _definition_text(definition: Definition) -> str:
    """File content: the source plus one final newline (stripped again when read)."""
    return _normalize_text(definition.source, "source") + "\n"


def _format_order(order: Sequence[tuple[DefinitionKind, str]]) -> str:
    return ORDER_PREAMBLE + "".join(f"{kind.value} {name}\n" for kind, name in order)


def _check_unique(names: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        filename = Definition(name, DefinitionKind.FUNCTION, "").filename.lower()
        if filename in seen:
            other = seen[filename]
            if other == name:
                raise RepositoryError(f"definition {name!r} appears twice")
            raise RepositoryError(
                f"definitions {other!r} and {name!r} would share the file {filename}; rename one of them"
            )
        seen[filename] = name


def _remove_created(target: Path, created_dir: bool) -> None:
    """Undo a failed `init`: the directory was absent or empty, so all of it is ours."""
    try:
        if created_dir:
            shutil.rmtree(target, ignore_errors=True)
        elif target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
    except OSError:
        pass
