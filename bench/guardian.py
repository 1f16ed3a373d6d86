"""Guardian benchmark: the whole guardian (fork server + agent worker + WAL + vault) in one run.

    .venv/bin/python bench/guardian.py [--quick] [--kills 50] [--n 3000] [--concurrency 16]
                                       [--blocks 1000,10000] [--dir DIR] [--json PATH]
                                       [--strict] [--no-standby] [--wal-thread]

``--strict`` runs workers in strict mode (a mutation applied only after its WAL ack)
instead of the default pipelined mode; ``--no-standby`` turns the warm standby off, so
every restart launches and restores a fresh worker; ``--wal-thread`` writes and fsyncs
every WAL batch on an I/O thread instead of on the event loop's thread while fsyncs are
fast. Run it in each mode to compare.

A small offline agent (one memory, a trivial ``ping`` rule) is written to a temporary
directory and run under a real `Guardian` with the issue's defaults, except that
restart intensity is unlimited (every kill here is deliberate) and checkpoints are
taken only when this script asks for them. Measured, in this order:

1. For each ``--blocks`` count (default 1 000, then 10 000): ``memory_add`` up to that
   many blocks (64 in flight), a checkpoint, the worker's RSS (``VmRSS`` of
   /proc/<worker_pid>/status, plus RssAnon and PSS, since a forked worker shares pages
   with the zygote), then
2. recovery after ``kill -9`` of the worker, ``--kills`` times: from the kill to the
   first successful ``memory_get`` of a known block answered by the new worker, and the
   guardian's own ``restart_to_serving_seconds`` (launch → serving: fork, handshake,
   restore; it leaves out noticing the death and reaping). One ``memory_add`` before
   each kill, so every restore is the checkpoint plus a short WAL (<= ``--kills``
   records); the RSS of the last restored worker.
3. At the largest block count, requests through the guardian↔worker pipe (``Guardian.request`` in this process):
   ``memory_get``, ``message`` ("ping" → "pong", a rule, no LLM) and ``memory_add``
   (answered once its WAL append is durable), 1 in flight and ``--concurrency`` in flight.
4. The same through HTTP: the real aiohttp app (`create_app`, as ``o-lisp serve`` builds
   it) on 127.0.0.1 and a free port, driven by an aiohttp client in a *separate process*
   (so client and server do not share one event loop): GET /v1/memory/{id},
   POST /v1/messages, POST /v1/memory.

Note that ``message`` is a mutation too: the agent appends the user's text and its
reply to the conversation (two WAL appends, each fsynced before the worker goes on).

Percentiles are nearest-rank over all samples (with 50 kills, p99 is the worst of
the 50). The machine's load average is printed: on a shared 2-core
machine the client, the guardian and the worker compete for the cores. Nothing is
asserted; CI never runs this file. WAL appends/s vs SQLite is `bench/wal.py`'s job.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

ROOT = Path(__file__).resolve().parent.parent

from o_lisp.guardian import _loop as guardian_loop  # noqa: E402  (after the path set-up)

AGENT = textwrap.dedent(
    """\
    (defagent benchy
      :version "0.1.0"
      :doc "A small offline agent for bench/guardian.py."
      (defmemory notes :dim 64)
      (when-> :name ping (= msg "ping")
        "pong")
      (defn respond [text] (+ "echo: " text)))
    """
)

UNKNOWN = {"worker_died", "timeout", "unavailable"}
"""Outcomes after which a request may be retried (the worker died or was restarting)."""

WORDS = ("garden tomato rain sky river blue window coffee train letter mountain quiet "
         "yesterday lamp orange violin bread winter harbour paper cloud friday").split()

TARGETS = {
    "pipe_p99_ms": 5.0,
    "pipe_req_s": 10_000.0,
    "recovery_p50_ms": 100.0,
    "recovery_p99_ms": 250.0,
    "rss_mb": 150.0,
}

Sample = Callable[[], Awaitable[Any]]


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p99, max and mean, in milliseconds (samples in seconds)."""
    if not samples:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan"), "mean_ms": float("nan"), "n": 0}
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]

    return {
        "p50_ms": pick(0.50) * 1e3,
        "p99_ms": pick(0.99) * 1e3,
        "max_ms": ordered[-1] * 1e3,
        "mean_ms": statistics.fmean(ordered) * 1e3,
        "n": len(ordered),
    }


def note_text(rng: random.Random, i: int) -> str:
    return f"note {i}: " + " ".join(rng.choice(WORDS) for _ in range(12))


def loadavg() -> tuple[float, float, float]:
    return os.getloadavg()


def proc_memory(pid: int) -> dict[str, float]:
    """VmRSS / RssAnon / RssFile / RssShmem from status and Pss from smaps_rollup, in MB."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "Pss":
                out["Pss"] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def drive(call: Sample, n: int, concurrency: int) -> dict[str, Any]:
    """Run `call` n times with `concurrency` in flight; latencies of each and the wall rate."""
    latencies: list[float] = []
    failures = 0
    remaining = n

    async def lane() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            try:
                await call()
            except Exception:
                failures += 1
                continue
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{failures} of {n} requests failed: the measurement is void")
    return {**percentiles(latencies), "req_s": n / wall, "failures": failures, "concurrency": concurrency}


# ---------------------------------------------------------------------------------------
# The HTTP client (runs in a child process: `--http-client SPEC_JSON`)
# ---------------------------------------------------------------------------------------


async def http_client(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    base: str = spec["url"]
    ids: list[str] = spec["ids"]
    n: int = spec["n"]
    n_add: int = spec["n_add"]
    warmup: int = spec["warmup"]
    rng = random.Random(3)
    results: dict[str, Any] = {}
    connector = aiohttp.TCPConnector(limit=max(spec["concurrencies"]) + 4)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def get_memory() -> None:
            async with session.get(f"{base}/v1/memory/{rng.choice(ids)}") as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"GET /v1/memory: {response.status}")

        async def post_message() -> None:
            async with session.post(f"{base}/v1/messages", json={"text": "ping"}) as response:
                body = await response.json()
                if response.status != 200 or body.get("reply") != "pong":
                    raise RuntimeError(f"POST /v1/messages: {response.status} {body}")

        counter = iter(range(10**9))

        async def post_memory() -> None:
            text = note_text(rng, 2_000_000 + next(counter))
            async with session.post(f"{base}/v1/memory", json={"text": text, "metadata": {"src": "http"}}) as response:
                await response.read()
                if response.status != 201:
                    raise RuntimeError(f"POST /v1/memory: {response.status}")

        for name, call, count in (("GET /v1/memory/{id}", get_memory, n), ("POST /v1/messages", post_message, n),
                                  ("POST /v1/memory", post_memory, n_add)):
            await drive(call, min(warmup, count), 1)
            results[name] = {str(c): await drive(call, count, c) for c in spec["concurrencies"]}
    return results


def run_http_client(spec: dict[str, Any]) -> dict[str, Any]:
    """Blocking: the client process (so call it through a thread from the event loop)."""
    process = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--http-client", json.dumps(spec)],
        capture_output=True, text=True, cwd=ROOT, timeout=1800,
    )
    if process.returncode != 0:
        raise RuntimeError(f"HTTP client failed ({process.returncode}): {process.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(process.stdout)
    return result


# ---------------------------------------------------------------------------------------
# The benchmark proper
# ---------------------------------------------------------------------------------------


class Bench:
    def __init__(self, options: argparse.Namespace, workdir: Path) -> None:
        from o_lisp.guardian._supervisor import Guardian, GuardianConfig

        self.options = options
        self.rng = random.Random(1)
        agent = workdir / "benchy.hy"
        agent.write_text(AGENT, "utf-8")
        self.config = GuardianConfig(
            agent=agent,
            data_dir=workdir / "data",
            max_restarts=1_000_000,  # every kill here is deliberate: no crash-loop escalation
            checkpoint_interval=86_400.0,  # checkpoints only when this script takes them
            checkpoint_wal_records=10_000_000,
            pipelined=not options.strict,
            standby=not options.no_standby,
            wal_inline=not options.wal_thread,
        )
        self.guardian = Guardian(self.config)
        self.ids: list[str] = []
        self.counter = 0
        self.http_blocks = 0
        self.results: dict[str, Any] = {"loadavg": {"start": loadavg()}, "recovery": {}, "rss": {}}

    async def add(self, text: str | None = None) -> str:
        self.counter += 1
        if text is None:
            text = note_text(self.rng, self.counter)
        ids = await self.guardian.request("memory_add", {"text": text, "metadata": {"i": self.counter}, "importance": 0.5})
        self.ids.append(ids[0])
        return str(ids[0])

    async def load_to(self, blocks: int, batch: int = 64) -> float:
        """memory_add until `blocks` blocks exist (concurrent batches); then a checkpoint."""
        start = time.perf_counter()
        first = self.blocks
        while self.blocks < blocks:
            await asyncio.gather(*(self.add() for _ in range(min(batch, blocks - self.blocks))))
        loaded = time.perf_counter() - start
        await self.guardian.checkpoint("bench: loaded")
        print(f"  loaded {self.blocks - first} blocks in {loaded:.1f} s "
              f"({(self.blocks - first) / max(loaded, 1e-9):,.0f} adds/s, {batch} in flight); checkpointed", flush=True)
        return loaded

    @property
    def blocks(self) -> int:
        """Blocks in the agent's memory: ours plus those the HTTP client added."""
        return len(self.ids) + self.http_blocks

    async def one_recovery(self, probe: str) -> tuple[float, float | None, int]:
        """kill -9 → first successful memory_get of `probe` from a new worker; (s, guardian's s, retries)."""
        from o_lisp.guardian._supervisor import RequestFailed

        g = self.guardian
        await self.add()  # a short WAL after the checkpoint
        pid = g.worker_pid
        assert pid is not None
        before = len(g.metrics.restart_to_serving_seconds)
        retries = 0
        start = time.perf_counter()
        os.kill(pid, signal.SIGKILL)
        while True:
            try:
                block = await g.request("memory_get", {"id": probe})
            except RequestFailed as error:
                if error.code not in UNKNOWN:
                    raise
                retries += 1
                await asyncio.sleep(0.0005)
                continue
            if g.worker_pid != pid:
                break
            retries += 1  # answered before the kill landed: not a recovery
            await asyncio.sleep(0.0005)
        elapsed = time.perf_counter() - start
        if block is None or block.get("id") != probe:
            raise RuntimeError(f"block {probe} missing after recovery: {block!r}")
        own = g.metrics.restart_to_serving_seconds[-1] if len(g.metrics.restart_to_serving_seconds) > before else None
        return elapsed, own, retries

    async def recoveries(self, blocks: int, kills: int) -> None:
        print(f"  kill -9 x {kills} at {self.blocks} blocks ...", flush=True)
        samples: list[float] = []
        own: list[float] = []
        retries: list[int] = []
        load0 = loadavg()
        for i in range(kills):
            probe = self.ids[self.rng.randrange(len(self.ids))]
            elapsed, guardian_s, tries = await self.one_recovery(probe)
            samples.append(elapsed)
            retries.append(tries)
            if guardian_s is not None:
                own.append(guardian_s)
            await asyncio.sleep(0.1 + self.rng.random() * 0.1)  # let heartbeats and the reaper settle
            if (i + 1) % 10 == 0:
                print(f"    {i + 1}/{kills}: p50 so far {statistics.median(samples) * 1e3:.1f} ms", flush=True)
        self.results["recovery"][str(blocks)] = {
            "blocks": self.blocks,
            "standby_activations": self.guardian.metrics.standby_activations,
            "standby_fallbacks": self.guardian.metrics.standby_fallbacks,
            "kill_to_first_success": percentiles(samples),
            "restart_to_serving": percentiles(own),
            "retries_median": statistics.median(retries),
            "samples_s": samples,
            "restart_to_serving_samples_s": own,
            "loadavg": [load0, loadavg()],
        }
        pid = self.guardian.worker_pid
        if pid is not None:
            self.results["rss"][f"restored_{blocks}"] = proc_memory(pid)
        await self.standby_memory(f"standby_{blocks}")

    async def standby_memory(self, label: str) -> None:
        """The warm standby's memory (a second copy of the state), once it is ready."""
        g = self.guardian
        deadline = time.monotonic() + 30
        while g.config.standby and g.standby.worker is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if g.standby.worker is not None:
            self.results["rss"][label] = proc_memory(g.standby.worker.child.pid)

    async def pipe(self) -> None:
        g = self.guardian
        o = self.options
        rng = random.Random(2)
        ids = list(self.ids)

        async def memory_get() -> None:
            if await g.request("memory_get", {"id": rng.choice(ids)}) is None:
                raise RuntimeError("missing block")

        async def message() -> None:
            if await g.request("message", {"text": "ping"}) != "pong":
                raise RuntimeError("the ping rule did not answer")

        # The texts are made before the clock starts: this process is the client *and* the
        # guardian, and making a text costs about as much as the guardian's work on it.
        texts = iter([note_text(self.rng, 1_000_000 + i) for i in range(min(o.warmup, o.n_add) + 2 * o.n_add)])

        async def memory_add() -> None:
            await self.add(next(texts))

        results: dict[str, Any] = {"blocks": self.blocks}
        load0 = loadavg()
        for name, call, n in (("memory_get", memory_get, o.n), ("message", message, o.n), ("memory_add", memory_add, o.n_add)):
            await drive(call, min(o.warmup, n), 1)
            results[name] = {str(c): await drive(call, n, c) for c in (1, o.concurrency)}
            seq, conc = results[name]["1"], results[name][str(o.concurrency)]
            print(f"    pipe {name:<10} 1: p50 {seq['p50_ms']:.3f} p99 {seq['p99_ms']:.3f} ms {seq['req_s']:,.0f}/s | "
                  f"{o.concurrency}: p50 {conc['p50_ms']:.3f} p99 {conc['p99_ms']:.3f} ms {conc['req_s']:,.0f}/s", flush=True)
        results["loadavg"] = [load0, loadavg()]
        results["wal_appends_per_fsync"] = g.metrics.wal_appends / max(1, g.metrics.wal_batches)
        self.results["pipe"] = results

    async def http(self) -> None:
        from aiohttp import web

        from o_lisp.guardian._http import create_app

        o = self.options
        port = free_port()
        runner = web.AppRunner(create_app(self.guardian, token=None), handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            spec = {"url": f"http://127.0.0.1:{port}", "ids": self.rng.sample(self.ids, min(500, len(self.ids))),
                    "n": o.n, "n_add": o.n_add, "warmup": o.warmup, "concurrencies": [1, o.concurrency]}
            load0 = loadavg()
            before = self.guardian.metrics.wal_appends
            results = await asyncio.to_thread(run_http_client, spec)
            added = self.guardian.metrics.wal_appends - before
        finally:
            await runner.cleanup()
        results["loadavg"] = [load0, loadavg()]
        self.results["http"] = results
        for name, by_c in results.items():
            if name == "loadavg":
                continue
            seq, conc = by_c["1"], by_c[str(o.concurrency)]
            print(f"    http {name:<20} 1: p50 {seq['p50_ms']:.3f} p99 {seq['p99_ms']:.3f} ms {seq['req_s']:,.0f}/s | "
                  f"{o.concurrency}: p50 {conc['p50_ms']:.3f} p99 {conc['p99_ms']:.3f} ms {conc['req_s']:,.0f}/s", flush=True)
        self.http_blocks += added  # the client's POST /v1/memory blocks

    async def run(self) -> dict[str, Any]:
        o = self.options
        sizes = sorted(o.blocks)
        g = self.guardian
        # Every kill makes the guardian warn "worker failed ..."; expected here, so keep quiet.
        logging.getLogger("o_lisp.guardian").setLevel(logging.ERROR)
        started = time.perf_counter()
        await g.start()
        try:
            print(f"guardian up in {time.perf_counter() - started:.2f} s (worker {g.worker_pid})", flush=True)
            self.results["rss"]["empty"] = proc_memory(g.worker_pid or 0)
            for blocks in sizes:
                print(f"[{blocks} blocks]", flush=True)
                self.results.setdefault("load_s", {})[str(blocks)] = await self.load_to(blocks)
                self.results["rss"][f"loaded_{blocks}"] = proc_memory(g.worker_pid or 0)
                await self.recoveries(blocks, o.kills)
            print(f"[requests at {self.blocks} blocks: pipe, then HTTP]", flush=True)
            await self.pipe()
            await self.http()
        finally:
            await g.stop()
        self.results["loadavg"]["end"] = loadavg()
        self.results["wall_s"] = time.perf_counter() - started
        return self.results


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(results: dict[str, Any], options: argparse.Namespace) -> list[str]:
    c = str(options.concurrency)
    lines: list[str] = []
    la = results["loadavg"]
    lines.append(f"guardian benchmark: {os.cpu_count()} CPUs, load average {la['start'][0]:.2f} at start, "
                 f"{la['end'][0]:.2f} at end; wall {results['wall_s']:.0f} s; data dir on {options.dir or tempfile.gettempdir()}")
    lines.append(f"mode: {'strict (apply after the ack)' if options.strict else 'pipelined (speculative apply, answers held)'}, "
                 f"{'no standby' if options.no_standby else 'warm standby'}, "
                 f"WAL batches on {'an I/O thread' if options.wal_thread else 'the loop thread while fsyncs are fast'}, "
                 f"{guardian_loop.loop_name()}; "
                 f"WAL appends per fsync over the whole run: {results['pipe'].get('wal_appends_per_fsync', float('nan')):.1f}")
    lines.append(f"{'measurement':<46} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>9}   target")
    pipe = results["pipe"]
    lines.append(f"-- pipe (Guardian.request, {pipe['blocks']} blocks; load avg {pipe['loadavg'][1][0]:.2f})")
    for name in ("memory_get", "message", "memory_add"):
        for k in ("1", c):
            r = pipe[name][k]
            target = f"p99 < 5 ms: {verdict(r['p99_ms'] < TARGETS['pipe_p99_ms'])}"
            if k != "1":
                target += f"; >= 10 000/s: {verdict(r['req_s'] >= TARGETS['pipe_req_s'])}"
            target += {"message": " (2 WAL fsyncs)", "memory_add": " (1 WAL fsync)"}.get(name, "")
            lines.append(f"  {name:<18} {k:>3} in flight{'':<14} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} {r['req_s']:>9,.0f}   {target}")
    lines.append(f"-- HTTP (aiohttp client process -> 127.0.0.1; load avg {results['http']['loadavg'][1][0]:.2f})")
    for name, by_c in results["http"].items():
        if name == "loadavg":
            continue
        for k in ("1", c):
            r = by_c[k]
            lines.append(f"  {name:<22} {k:>3} in flight{'':<10} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} {r['req_s']:>9,.0f}   (no target)")
    lines.append(f"-- recovery after kill -9 ({options.kills} kills each; p99 = nearest rank)")
    for blocks, r in sorted(results["recovery"].items(), key=lambda kv: int(kv[0])):
        k2s, own = r["kill_to_first_success"], r["restart_to_serving"]
        target = ""
        if int(blocks) == max(int(b) for b in results["recovery"]):
            ok = k2s["p50_ms"] < TARGETS["recovery_p50_ms"] and k2s["p99_ms"] < TARGETS["recovery_p99_ms"]
            target = f"p50 < 100, p99 < 250 ms: {verdict(ok)}"
        lines.append(f"  {blocks:>6} blocks: kill -> first success     {k2s['p50_ms']:>8.1f} {k2s['p99_ms']:>8.1f} {'':>9}   {target}"
                     f" (load avg {r['loadavg'][1][0]:.2f})")
        lines.append(f"  {blocks:>6} blocks: restart_to_serving (own)  {own['p50_ms']:>8.1f} {own['p99_ms']:>8.1f}"
                     f"   (standby took over {r.get('standby_activations', 0)} times so far, fell back {r.get('standby_fallbacks', 0)})")
    lines.append("-- worker memory (MB): VmRSS / RssAnon / Pss")
    for label, mem in results["rss"].items():
        target = ""
        if label.startswith(("loaded_", "restored_", "standby_")) and label.endswith(f"_{max(options.blocks)}"):
            target = f"VmRSS < 150 MB: {verdict(mem.get('VmRSS', float('inf')) < TARGETS['rss_mb'])}"
        lines.append(f"  {label:<20} {mem.get('VmRSS', float('nan')):>7.1f} / {mem.get('RssAnon', float('nan')):>6.1f} / "
                     f"{mem.get('Pss', float('nan')):>6.1f}   {target}")
    lines.append("-- acknowledged WAL appends/s vs SQLite (synchronous=FULL): see bench/wal.py")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few requests, 5 kills, 1 000 and 2 000 blocks (a smoke run)")
    parser.add_argument("--kills", type=int, default=None, help="kill -9 rounds per block count (default 50; --quick 5)")
    parser.add_argument("--n", type=int, default=None, help="requests per read/message measurement (default 3000)")
    parser.add_argument("--n-add", type=int, default=None, help="requests per memory_add measurement (default 500)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests before each measurement")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight for the concurrent runs")
    parser.add_argument("--blocks", default=None, help="comma-separated block counts (default 1000,10000)")
    parser.add_argument("--dir", default=None, help="where the data directory goes (default: system temp)")
    parser.add_argument("--json", default=None, metavar="PATH", help="write every figure and sample here")
    parser.add_argument("--strict", action="store_true", help="strict mode: workers apply a mutation only after its ack")
    parser.add_argument("--no-standby", action="store_true", help="no warm standby: every restart launches a worker")
    parser.add_argument("--wal-thread", action="store_true", help="WAL batches always on an I/O thread (GuardianConfig.wal_inline=False)")
    parser.add_argument("--http-client", default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.http_client is not None:
        print(json.dumps(guardian_loop.run(http_client(json.loads(options.http_client)))))
        return
    quick = options.quick
    options.kills = options.kills if options.kills is not None else (5 if quick else 50)
    options.n = options.n if options.n is not None else (300 if quick else 3000)
    options.n_add = options.n_add if options.n_add is not None else (100 if quick else 500)
    options.warmup = min(options.warmup, 50) if quick else options.warmup
    options.blocks = [int(b) for b in (options.blocks or ("1000,2000" if quick else "1000,10000")).split(",")]
    with tempfile.TemporaryDirectory(prefix="o-bench-guardian-", dir=options.dir) as tmp:
        results = guardian_loop.run(Bench(options, Path(tmp)).run())
    results["options"] = {k: v for k, v in vars(options).items() if k != "http_client"}
    results["targets"] = TARGETS
    print()
    for line in report(results, options):
        print(line)
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=2), "utf-8")
        print(f"(all figures and samples in {options.json})")


if __name__ == "__main__":
    main()
