"""The worker's side of cumulative WAL acks (protocol 2): one ack answers a whole batch."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from o_lisp.guardian._protocol import (
    Error,
    ErrorCode,
    FrameReader,
    FrameWriter,
    WalAck,
    WorkerSpec,
)
from o_lisp.worker._serve import _Worker


@pytest.fixture
def worker() -> Iterator[_Worker]:
    """A worker loop object (never started) with appends 3, 5 and 8 in flight."""
    r, w = os.pipe()
    try:
        made = _Worker(WorkerSpec(agent="a.hy", data_dir="d"), FrameReader(r), FrameWriter(w))
        made.outstanding.extend([3, 5, 8])
        yield made
    finally:
        os.close(r)
        os.close(w)


def test_an_ack_answers_every_append_up_to_it(worker: _Worker) -> None:
    assert worker.wal_answer(WalAck(id=1, re=5, seq=12))
    assert list(worker.outstanding) == [8]
    assert worker.applied_seq == 12 and worker.wal_appends == 2
    assert worker.wal_answer(WalAck(id=2, re=4, seq=11))  # stale: nothing left below it
    assert list(worker.outstanding) == [8] and worker.applied_seq == 12 and worker.wal_appends == 2
    assert worker.wal_answer(WalAck(id=3, re=8, seq=13))
    assert not worker.outstanding and worker.applied_seq == 13 and worker.wal_appends == 3
    assert not worker.diverged


def test_a_refusal_of_an_outstanding_append_stops_the_worker_serving(worker: _Worker) -> None:
    assert worker.wal_answer(WalAck(id=1, re=3, seq=7))
    assert worker.wal_answer(Error(id=2, re=5, code=ErrorCode.NOT_DURABLE, message="fsync failed"))
    assert worker.diverged and not worker.outstanding
    assert worker.wal_answer(WalAck(id=3, re=8, seq=9))  # answers to appends before the resync: ignored
    assert worker.applied_seq == 7 and worker.wal_appends == 1


def test_other_messages_are_not_wal_answers(worker: _Worker) -> None:
    assert not worker.wal_answer(Error(id=1, re=5, code="internal", message="x"))
    assert not worker.diverged and list(worker.outstanding) == [3, 5, 8]
