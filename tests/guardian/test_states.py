"""The guardian's life cycle: one enum, one transition table, one `change_state` that refuses a wrong move."""

from __future__ import annotations

from pathlib import Path

import pytest

from o_lisp.guardian._states import TRANSITIONS, GuardianState, allowed_after
from o_lisp.guardian._supervisor import Guardian, GuardianConfig


def _guardian(tmp_path: Path) -> Guardian:
    return Guardian(GuardianConfig(agent=tmp_path / "a.hy", data_dir=tmp_path / "data"))


def test_every_state_has_its_moves_and_every_state_can_stop() -> None:
    assert set(TRANSITIONS) == set(GuardianState)
    for state, targets in TRANSITIONS.items():
        assert state not in targets
        assert (GuardianState.STOPPING in targets) or state is GuardianState.STOPPING
    assert allowed_after(GuardianState.STOPPING) == {GuardianState.STOPPED}


def test_change_state_moves_and_reports_the_value_health_shows(tmp_path: Path) -> None:
    g = _guardian(tmp_path)
    assert (g.state, g.status) == (GuardianState.STOPPED, "stopped")
    g.change_state(GuardianState.STARTING)
    g.change_state(GuardianState.STARTING)  # staying is not a move
    g.change_state(GuardianState.OK)
    g.change_state(GuardianState.RESTARTING)
    g.change_state(GuardianState.CRASH_LOOP)
    assert g.status == "crash_loop"


def test_a_move_the_table_forbids_names_the_current_and_allowed_states(tmp_path: Path) -> None:
    g = _guardian(tmp_path)
    with pytest.raises(AssertionError, match=r"stopped -> ok: not allowed \(from stopped: starting, stopping\)"):
        g.change_state(GuardianState.OK)
    assert g.state is GuardianState.STOPPED
    g.change_state(GuardianState.STOPPING)
    with pytest.raises(AssertionError, match="stopping -> starting"):
        g.change_state(GuardianState.STARTING)
