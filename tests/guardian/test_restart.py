"""The restart policy on its own: intensity window, escalation to known-good once, back-off otherwise."""

from __future__ import annotations

from o_lisp.guardian._restart import Backoff, RestartPolicy, Rollback


def test_failures_within_the_intensity_restart_plainly() -> None:
    policy = RestartPolicy(max_restarts=2, restart_window=10.0, max_backoff=5.0)
    assert policy.failed(0.0, "1.0.0+bbb", "bbb", "boom", "aaa") is None
    assert policy.failed(1.0, "1.0.0+bbb", "bbb", "boom", "aaa") is None
    assert policy.pending is None


def test_old_failures_leave_the_window() -> None:
    policy = RestartPolicy(max_restarts=1, restart_window=10.0, max_backoff=5.0)
    assert policy.failed(0.0, "v", "bbb", "boom", None) is None
    assert policy.failed(11.0, "v", "bbb", "boom", None) is None  # the first one is 11 s old
    assert isinstance(policy.failed(12.0, "v", "bbb", "boom", None), Backoff)


def test_a_crash_loop_rolls_back_to_known_good_once_until_a_worker_serves() -> None:
    policy = RestartPolicy(max_restarts=1, restart_window=10.0, max_backoff=5.0)
    policy.failed(0.0, "1.0.0+bbb", "bbb", "boom", "aaa")
    outcome = policy.failed(1.0, "1.0.0+bbb", "bbb", "boom", "aaa")
    assert isinstance(outcome, Rollback) and outcome.commit == "aaa"
    assert "1.0.0+bbb crash-looped (2 failures in 10 s; last: boom)" in outcome.reason
    assert policy.pending == outcome and policy.last_escalation is not None
    assert policy.last_escalation["to"] == "aaa"
    policy.failed(2.0, "1.0.0+bbb", "bbb", "boom", "aaa")
    assert policy.failed(3.0, "1.0.0+bbb", "bbb", "boom", "aaa") == Backoff(5.0)  # no second rollback unserved
    policy.served()
    assert policy.pending is None
    policy.failed(4.0, "1.0.0+bbb", "bbb", "boom", "aaa")
    assert isinstance(policy.failed(5.0, "1.0.0+bbb", "bbb", "boom", "aaa"), Rollback)


def test_the_known_good_version_itself_crash_looping_backs_off() -> None:
    policy = RestartPolicy(max_restarts=0, restart_window=30.0, max_backoff=5.0)
    assert policy.failed(0.0, "1.0.0+aaa", "aaa", "boom", "aaa") == Backoff(5.0)
    policy = RestartPolicy(max_restarts=10, restart_window=1.0, max_backoff=5.0)
    for t in range(10):
        policy.failed(t * 0.01, "v", "x", "boom", None)
    assert policy.failed(0.5, "v", "x", "boom", None) == Backoff(0.1)
