"""The agent `o-lisp test` runs `deftest`s on: never the live agent itself.

* From a seed file alone: a fresh agent built from the file (an empty state, no
  repository, nothing written anywhere), so errors point into the user's file.
* With a data directory: the agent's live code (its repository's HEAD, which may differ
  from the seed after rewrites and promotions) on a copy of its live state (the newest
  good checkpoint and the write-ahead log after it, `DATA/checkpoints` and `DATA/wal`,
  as the guardian and `o-lisp run` keep them). The files are copied before they are
  opened, so nothing in DATA changes and a server running on it is not disturbed.

Either agent is a scratch agent: a test cannot rewrite its code.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from o_lisp._limits import Limits
from o_lisp.agent._agent import Agent, AgentError, _memory_from_data, spec_from_repository
from o_lisp.agent._dsl import read_agent
from o_lisp.agent._repo import CodeRepository
from o_lisp.agent._state import AgentState
from o_lisp.guardian._vault import Vault
from o_lisp.guardian._wal import WriteAheadLog

CHECKPOINTS = "checkpoints"
WAL = "wal"


def agent_under_test(
    seed: Path,
    text: str,
    data_dir: Path | None = None,
    *,
    grants: Iterable[str] = (),
    host_tools: Mapping[str, Callable[..., Any]] | None = None,
    limits: Limits | None = None,
) -> Agent:
    """A scratch agent to run the tests of the agent in `seed` (whose text is `text`) on:
    fresh, or with `data_dir` the live code and a copy of the live state kept there.
    Raises `LispError` for a seed that does not load, `AgentError` for a data directory
    that holds no agent."""
    spec = read_agent(text, str(seed))
    options: dict[str, Any] = {"grants": grants, "host_tools": host_tools, "limits": limits, "role": "scratch"}
    if data_dir is None:
        state = AgentState(str(uuid.uuid4()), spec.name, spec.version)
        return Agent(spec, Path(tempfile.gettempdir()), state=state, **options)
    code = data_dir / "code"
    if not (code / ".git").exists():
        raise AgentError(f"no agent repository in {data_dir} (looked for {code})")
    repository = CodeRepository.open(code, require_clean_worktree=False)
    live = spec_from_repository(repository, spec)
    state = live_state_copy(data_dir, live.name, live.version)
    return Agent(live, data_dir, state=state, repository=repository, **options)


def live_state_copy(data_dir: Path, name: str, version: str) -> AgentState:
    """The state kept in `data_dir` (newest good checkpoint + WAL records after it), restored
    from a copy of its files; an empty state when it holds none."""
    with tempfile.TemporaryDirectory(prefix="o-lisp-test-") as scratch:
        copy = Path(scratch)
        for part in (CHECKPOINTS, WAL):
            if (data_dir / part).is_dir():
                shutil.copytree(data_dir / part, copy / part)
        loaded = Vault(copy / CHECKPOINTS, readonly=True).load_latest() if (copy / CHECKPOINTS).is_dir() else None
        if loaded is not None:
            state = AgentState.from_data(loaded.data, _memory_from_data)
            covered = loaded.info.wal_seq
        else:
            state = AgentState(str(uuid.uuid4()), name, version)
            covered = 0
        if (copy / WAL).is_dir():
            with WriteAheadLog(copy / WAL, fsync=lambda fd: None) as wal:
                for _seq, op, args in wal.replay(covered):
                    try:
                        state.apply(op, args)
                    except Exception:  # failed when first applied too (as the guardian's replay)
                        continue
    return state
