"""Guardian↔worker framing benchmark: request/reply over pipes to a child process.

    .venv/bin/python bench/protocol.py [--n 20000] [--window 64] [--json]

The child is a bare echo worker (handshake, then `Request` → `Reply`), so the figures
are what the framing, validation and pipes cost on their own; the whole guardian
targets pipe p99 < 5 ms and >= 10 000 req/s with real agent work on top.

Measured, each on a fresh child:

* blocking client, one request in flight: per-request round-trip latency p50/p99;
* blocking client, `--window` requests in flight: throughput;
* asyncio client (how the guardian talks), one in flight and `--window` in flight;
* in-process encode and decode of one request (no pipe).

Timings depend on this machine and its load; nothing is asserted here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from o_lisp.guardian import _protocol as P

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = {"text": "what did I say about the garden yesterday?", "k": 5, "metadata": {"source": "bench"}}

ECHO_WORKER = r"""
import sys
from o_lisp.guardian._protocol import *
reader, writer = FrameReader(int(sys.argv[1])), FrameWriter(int(sys.argv[2]))
worker_handshake(reader, writer, agent="bench", code_version="v0")
for message in reader:
    if isinstance(message, Request):
        writer.write(Reply(id=writer.next_id(), re=message.id, result=message.args))
    elif isinstance(message, Shutdown):
        break
"""


def spawn() -> tuple[subprocess.Popen[bytes], int, int]:
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", ECHO_WORKER, str(to_r), str(from_w)], pass_fds=(to_r, from_w), cwd=ROOT
    )
    os.close(to_r)
    os.close(from_w)
    return proc, from_r, to_w


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick: Callable[[float], float] = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50_ms": pick(0.50) * 1e3,
        "p99_ms": pick(0.99) * 1e3,
        "max_ms": ordered[-1] * 1e3,
        "mean_ms": statistics.fmean(ordered) * 1e3,
    }


def blocking(n: int, window: int) -> dict[str, Any]:
    proc, rfd, wfd = spawn()
    reader, writer = P.FrameReader(rfd, sender=P.WORKER), P.FrameWriter(wfd)
    try:
        hello = reader.read(timeout=60)
        assert isinstance(hello, P.Hello)
        writer.write(P.Welcome(id=writer.next_id(), re=hello.id, protocol=P.PROTOCOL_VERSION, heartbeat_interval=1.0, max_frame=P.DEFAULT_MAX_FRAME))

        def round_trip() -> float:
            request = P.Request(id=writer.next_id(), method="echo", args=ARGS)
            start = time.perf_counter()
            writer.write(request)
            reply = reader.read()
            elapsed = time.perf_counter() - start
            assert isinstance(reply, P.Reply) and reply.re == request.id
            return elapsed

        for _ in range(min(1000, n)):  # warm-up
            round_trip()
        start = time.perf_counter()
        latencies = [round_trip() for _ in range(n)]
        sequential = n / (time.perf_counter() - start)

        start = time.perf_counter()
        sent = received = 0
        while received < n:
            batch = [P.Request(id=writer.next_id(), method="echo", args=ARGS) for _ in range(min(window - (sent - received), n - sent))]
            if batch:
                writer.write_many(batch)
                sent += len(batch)
            reply = reader.read()
            assert isinstance(reply, P.Reply)
            received += 1
        pipelined = n / (time.perf_counter() - start)
        writer.write(P.Shutdown(id=writer.next_id()))
        proc.wait(timeout=10)
    finally:
        os.close(rfd)
        os.close(wfd)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {**percentiles(latencies), "sequential_req_s": sequential, "pipelined_req_s": pipelined}


async def asyncio_client(n: int, window: int) -> dict[str, Any]:
    proc, rfd, wfd = spawn()
    reader, writer = await P.open_pipe(rfd, wfd)
    try:
        await P.guardian_handshake(reader, writer, timeout=60)

        async def round_trip() -> float:
            request = P.Request(id=writer.next_id(), method="echo", args=ARGS)
            start = time.perf_counter()
            await writer.write(request)
            reply = await reader.read()
            elapsed = time.perf_counter() - start
            assert isinstance(reply, P.Reply) and reply.re == request.id
            return elapsed

        for _ in range(min(1000, n)):
            await round_trip()
        start = time.perf_counter()
        latencies = [await round_trip() for _ in range(n)]
        sequential = n / (time.perf_counter() - start)

        # The guardian's shape: callers await futures; one task reads and resolves them.
        loop = asyncio.get_running_loop()
        pending: dict[int, asyncio.Future[P.Message]] = {}

        async def read_loop() -> None:
            while (message := await reader.read()) is not None:
                if isinstance(message, P.Reply):
                    pending.pop(message.re).set_result(message)

        async def call() -> float:
            request = P.Request(id=writer.next_id(), method="echo", args=ARGS)
            future: asyncio.Future[P.Message] = loop.create_future()
            pending[request.id] = future
            start = time.perf_counter()
            await writer.write(request)
            await future
            return time.perf_counter() - start

        reading = asyncio.create_task(read_loop())
        semaphore = asyncio.Semaphore(window)

        async def limited() -> float:
            async with semaphore:
                return await call()

        start = time.perf_counter()
        concurrent_latencies = await asyncio.gather(*(limited() for _ in range(n)))
        concurrent = n / (time.perf_counter() - start)
        await writer.write(P.Shutdown(id=writer.next_id()))
        await asyncio.wait_for(reading, 10)
    finally:
        writer.close()
        reader.close()
        if proc.poll() is None:
            await asyncio.sleep(0.1)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    concurrent_p = percentiles(list(concurrent_latencies))
    return {
        **percentiles(latencies),
        "sequential_req_s": sequential,
        "concurrent_req_s": concurrent,
        "concurrent_p50_ms": concurrent_p["p50_ms"],
        "concurrent_p99_ms": concurrent_p["p99_ms"],
    }


def codec(reps: int = 20000) -> dict[str, float]:
    request = P.Request(id=1, method="echo", args=ARGS)
    frame = P.encode_frame(request)
    start = time.perf_counter()
    for _ in range(reps):
        P.encode_frame(request)
    encode = (time.perf_counter() - start) / reps
    start = time.perf_counter()
    for _ in range(reps):
        P.decode_frame(frame, sender=P.GUARDIAN)
    decode = (time.perf_counter() - start) / reps
    return {"encode_us": encode * 1e6, "decode_us": decode * 1e6, "frame_bytes": len(frame)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="requests per measurement")
    parser.add_argument("--window", type=int, default=64, help="requests in flight when pipelining")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    options = parser.parse_args()
    results = {
        "codec": codec(),
        "blocking": blocking(options.n, options.window),
        "asyncio": asyncio.run(asyncio_client(options.n, options.window)),
    }
    if options.json:
        print(json.dumps(results, indent=2))
        return
    c, b, a = results["codec"], results["blocking"], results["asyncio"]
    print(f"framing benchmark: {options.n} echo requests of {c['frame_bytes']} bytes, window {options.window}")
    print(f"  codec in-process       encode {c['encode_us']:.1f} us, decode+validate {c['decode_us']:.1f} us")
    print(f"  blocking, 1 in flight  p50 {b['p50_ms']:.3f} ms  p99 {b['p99_ms']:.3f} ms  max {b['max_ms']:.2f} ms  {b['sequential_req_s']:,.0f} req/s")
    print(f"  blocking, pipelined    {b['pipelined_req_s']:,.0f} req/s")
    print(f"  asyncio, 1 in flight   p50 {a['p50_ms']:.3f} ms  p99 {a['p99_ms']:.3f} ms  max {a['max_ms']:.2f} ms  {a['sequential_req_s']:,.0f} req/s")
    print(f"  asyncio, {options.window} in flight  p50 {a['concurrent_p50_ms']:.3f} ms  p99 {a['concurrent_p99_ms']:.3f} ms  {a['concurrent_req_s']:,.0f} req/s")
    print("  targets for the whole guardian: pipe p99 < 5 ms, >= 10 000 req/s")


if __name__ == "__main__":
    main()
