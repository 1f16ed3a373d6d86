"""WAL benchmark: acknowledged appends/s with fsync vs SQLite (WAL mode, synchronous=FULL).

    .venv/bin/python bench/wal.py [--seconds 1.5] [--runs 5] [--payload 200] [--dir DIR]

Both sides write the same msgpack payloads to the same file system (`--dir`,
default the system temp directory) and count an operation only once it is
durable: `WriteAheadLog.append` returns after the fsync that covers its record;
SQLite runs one INSERT per transaction (autocommit) with `journal_mode=WAL` and
`synchronous=FULL`, so every commit fsyncs its WAL file. With 1 writer both pay
one fsync per operation; with 8 writer threads the WAL shares fsyncs (group
commit) while SQLite serialises its writers (one connection each, busy timeout).
Figures are medians of `--runs` timed runs of `--seconds` each, WAL and SQLite
alternating; the ratio is the median of the paired ratios (fsync latency on a
shared virtual disk drifts a lot between seconds). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgpack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from o_lisp.guardian._wal import WriteAheadLog


def make_args(size: int, i: int) -> dict[str, object]:
    """A memory-add-like mutation whose msgpack encoding is about `size` bytes."""
    return {"memory": "notes", "id": f"m{i}", "text": ("lorem ipsum " * (size // 12 + 1))[: max(0, size - 40)]}


def run_threads(writers: int, seconds: float, one: Callable[[int, int], None]) -> float:
    """Run `one(thread, i)` in `writers` threads until the deadline; operations per second."""
    counts = [0] * writers
    barrier = threading.Barrier(writers + 1)
    stop = threading.Event()

    def worker(t: int) -> None:
        barrier.wait()
        i = 0
        while not stop.is_set():
            one(t, i)
            i += 1
        counts[t] = i

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - start)


def bench_wal(root: Path, writers: int, seconds: float, payload: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        wal = WriteAheadLog(tmp)
        fsyncs = wal.stats.fsyncs

        def append(t: int, i: int) -> None:
            wal.append("memory_add", make_args(payload, i))

        rate = run_threads(writers, seconds, append)
        per_fsync = round(wal.stats.records / max(1, wal.stats.fsyncs - fsyncs))
        wal.close()
        return rate, per_fsync


def bench_sqlite(root: Path, writers: int, seconds: float, payload: int) -> float:
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        path = os.path.join(tmp, "bench.sqlite")
        setup = sqlite3.connect(path, isolation_level=None)
        assert setup.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
        setup.execute("CREATE TABLE log (seq INTEGER PRIMARY KEY, op TEXT, payload BLOB)")
        setup.close()
        connections = []
        for _ in range(writers):
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA synchronous=FULL")
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            connections.append(conn)

        def insert(t: int, i: int) -> None:  # autocommit: one transaction, one fsync per row
            body = msgpack.packb({"op": "memory_add", "args": make_args(payload, i)})
            connections[t].execute("INSERT INTO log (op, payload) VALUES (?, ?)", ("memory_add", body))

        rate = run_threads(writers, seconds, insert)
        for conn in connections:
            conn.close()
        return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--payload", type=int, default=200, help="approximate msgpack bytes per record")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    opts = parser.parse_args()
    size = len(msgpack.packb({"op": "memory_add", "args": make_args(opts.payload, 12345)}))
    device = os.stat(opts.dir).st_dev
    print(f"WAL vs SQLite (WAL, synchronous=FULL): {size}-byte payloads, dir {opts.dir} (device {device:#x}), "
          f"median of {opts.runs} runs x {opts.seconds:g} s; SQLite {sqlite3.sqlite_version}")
    met = True
    for writers in (1, 8):
        wal_runs, sqlite_runs, ratios, batch = [], [], [], []
        for _ in range(opts.runs):  # paired and interleaved: the disk's mood changes by the second
            rate, per_fsync = bench_wal(opts.dir, writers, opts.seconds, opts.payload)
            other = bench_sqlite(opts.dir, writers, opts.seconds, opts.payload)
            wal_runs.append(rate)
            sqlite_runs.append(other)
            ratios.append(rate / other)
            batch.append(per_fsync)
        ratio = statistics.median(ratios)
        met = met and ratio >= 1
        print(f"  {writers} writer(s): O WAL {statistics.median(wal_runs):>8,.0f} appends/s "
              f"(~{statistics.median(batch)} records/fsync)   SQLite {statistics.median(sqlite_runs):>8,.0f} commits/s   "
              f"ratio {ratio:.2f}x (median of paired runs; range {min(ratios):.2f}-{max(ratios):.2f})")
    print(f"target: acknowledged appends/s >= SQLite's commit rate at equal durability -> {'met' if met else 'NOT met'}")

if __name__ == "__main__":
    main()
