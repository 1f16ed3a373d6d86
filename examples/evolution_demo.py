"""One protected evolution cycle on a live agent, end to end, narrated.

    .venv/bin/python examples/evolution_demo.py          # `make run` runs it too

It starts `o-lisp serve agents/calculator.hy` as a real server (a free loopback port,
a fresh data directory), then shows, through the HTTP API only:

(a) the calculator serving messages and a memory write;
(b) an evolution cycle on its slow `square` (`POST /v1/evolution`) while a background
    thread keeps sending live messages: wrong candidates rejected by the agent's tests,
    a faster one promoted with its statistical evidence, then the probation. Candidates
    are random variants (the API takes no seed): a cycle that draws none both correct
    and faster (about 1 in 20 with 8 candidates) is followed by one more (`--cycles`);
(c) a crash survived: the worker is killed with SIGKILL, the guardian restarts it on
    the promoted version, and the memory written in (a) is still there;
(d) what the live clients saw all along (requests in flight at the kill are reported
    as "unknown": the server cannot know whether they ran);
(e) `o-lisp history calculator --all`: the promotion and the rejected candidates.

It exits non-zero (with the reason) if anything it claims did not happen, and always
stops the server. `tests/test_evolution_demo.py` runs it. Standard library only (plus
the installed `o_lisp` for the server itself).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "agents" / "calculator.hy"
TARGET = "square"
TERMINAL = {"promoted", "rejected", "rolled_back", "failed"}


class DemoFailed(Exception):
    """Something the narrative claims did not happen."""


def say(line: str = "") -> None:
    print(line, flush=True)


def check(condition: bool, claim: str) -> None:
    if not condition:
        raise DemoFailed(claim)


# -- the server ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def o_lisp_command() -> list[str]:
    """The `o-lisp` next to this Python (the venv's), else the module."""
    script = Path(sys.executable).with_name("o-lisp")
    return [str(script)] if script.exists() else [sys.executable, "-m", "o_lisp.cli"]


class Server:
    """`o-lisp serve` in its own session (so that everything it started can be stopped)."""

    def __init__(self, agent: Path, data: Path, port: int, log_path: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # closed in stop()
        self.process = subprocess.Popen(
            [*o_lisp_command(), "serve", str(agent), "--data", str(data), "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self) -> None:
        """SIGTERM (the guardian stops its workers and checkpoints), then SIGKILL the session."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                say("  (the server did not stop within 20 s: SIGKILL)")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # its session: the server and any worker left
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self._log.close()

    def log_tail(self, lines: int = 25) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        return ""


class Api:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             timeout: float = 30.0) -> tuple[int, Any]:
        """(status, JSON body); HTTP errors are answers too. OSError if nothing answered."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            with error:
                raw = error.read()
            try:
                return error.code, json.loads(raw or b"null")
            except ValueError:
                return error.code, {"error": {"code": "http", "message": raw.decode("utf-8", "replace")}}

    def answer(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        try:
            return self.call(method, path, body)
        except (OSError, ValueError) as error:  # refused, reset, timed out, not JSON
            raise DemoFailed(f"{method} {path}: no answer from the server ({error})") from None

    def get(self, path: str) -> Any:
        status, body = self.answer("GET", path)
        check(status == 200, f"GET {path} answered {status}: {body}")
        return body

    def post(self, path: str, body: dict[str, Any], expect: int = 200) -> Any:
        status, answer = self.answer("POST", path, body)
        check(status == expect, f"POST {path} answered {status}: {answer}")
        return answer

    def health(self) -> dict[str, Any] | None:
        with contextlib.suppress(OSError, ValueError):
            _, body = self.call("GET", "/health", timeout=5.0)
            if isinstance(body, dict):
                return body
        return None

    def message(self, text: str) -> str:
        return str(self.post("/v1/messages", {"text": text})["reply"])


def wait_until(what: str, predicate: Any, limit: float, every: float = 0.1) -> Any:
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoFailed(f"{what}: not within {limit:g} s")
        time.sleep(every)


# -- live traffic ----------------------------------------------------------------------------------

class Traffic(threading.Thread):
    """A client sending `square N` in a loop and checking every answer.

    A request the server answers with 502 `worker_died` was in flight when the worker
    died: it may or may not have run, so it is counted as unknown, not as ok or failed.
    """

    def __init__(self, api: Api, pause: float = 0.05) -> None:
        super().__init__(name="live-traffic", daemon=True)
        self.api = api
        self.pause = pause
        self.sent = 0
        self.ok = 0
        self.unknown: list[str] = []
        self.failures: list[str] = []
        self._done = threading.Event()

    def run(self) -> None:
        n = 0
        while not self._done.is_set():
            n = n % 97 + 1
            self.sent += 1
            try:
                status, body = self.api.call("POST", "/v1/messages", {"text": f"square {n}"})
            except (OSError, ValueError) as error:
                self.failures.append(f"square {n}: no answer ({error})")
            else:
                code = body.get("error", {}).get("code") if isinstance(body, dict) else None
                if status == 200 and body.get("reply") == str(n * n):
                    self.ok += 1
                elif status == 502 and code == "worker_died":
                    self.unknown.append(f"square {n}: {body['error'].get('message', '')}")
                else:
                    self.failures.append(f"square {n}: {status} {body}")
            self._done.wait(self.pause)

    def stop(self) -> None:
        self._done.set()
        self.join(60)


# -- the story -------------------------------------------------------------------------------------

def one_line(source: str, width: int = 72) -> str:
    text = " ".join(source.split())
    return text if len(text) <= width else text[: width - 3] + "..."


class Progress:
    """One progress line: rewritten in place on a terminal, a line per change otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.last = ""

    def show(self, text: str, key: str) -> None:
        """`text` in place on a terminal; elsewhere (CI, a pipe) only when `key` changes."""
        if (text if self.tty else key) == self.last:
            return
        self.last = text if self.tty else key
        if self.tty:
            print("\r\033[K" + text, end="", flush=True)
        else:
            say(text)

    def clear(self) -> None:
        """Before another line is printed: on a terminal, erase the progress line."""
        if self.tty and self.last:
            print("\r\033[K", end="", flush=True)
            self.last = ""


def follow(api: Api, cycle_id: str, limit: float) -> dict[str, Any]:
    """Poll the cycle until it ends, printing each candidate's fate as it is decided."""
    progress = Progress()
    shown: dict[str, str] = {}  # candidate id -> what was last said about it
    generations: set[str] = set()
    deadline = time.monotonic() + limit
    while True:
        cycle = api.get(f"/v1/evolution/{cycle_id}")
        promotions = {}
        for event in cycle["events"]:
            found = re.match(r"promoted (\S+) as (\S+) \((\w+)\)", event["message"])
            if found:
                promotions[found[1]] = (found[2], found[3])
            generation = re.match(r"generation (\d+): (\d+) candidate", event["message"])
            if generation and generation[1] not in generations:
                generations.add(generation[1])
                progress.clear()
                say(f"  generation {generation[1]}: {generation[2]} candidates, variants of the running `{TARGET}` "
                    "made by the mutation operators and rewrite templates")
        for candidate in cycle["candidates"]:
            verdict, key = candidate["verdict"], candidate["id"]
            if verdict == "pending" and candidate["stage"] == "won":
                verdict = "won"  # its shadow test; promoted (or not) when the generation ends
            if verdict == "pending" or shown.get(key) == verdict:
                continue
            if verdict == "promoted" and key not in promotions:
                continue  # its event comes with the promotion
            progress.clear()
            if key not in shown:
                origin = f"{candidate['generator']}/{candidate['operator']}"
                say(f"  candidate {key} ({origin}): {one_line(candidate['source'])}")
            shown[key] = verdict
            if verdict == "won":
                say(f"    won its shadow test: {candidate['reason']}")
            elif verdict == "promoted":
                version, commit = promotions[key]
                say(f"    {key} PROMOTED as {version} (tag v{version}, commit {commit})")
                say(f"    evidence: {candidate['reason']}")
            else:
                say(f"    {key} {verdict.upper()} at {candidate['stage']}: {one_line(candidate['reason'], 150)}")
        judged = sum(c["verdict"] != "pending" for c in cycle["candidates"])
        where = f"generation {cycle['generation']}/{cycle['generations']}, stage {cycle['stage']}"
        progress.show(f"  [{cycle['status']}] {where}, {cycle['progress']:.0%}, {judged} candidate(s) judged",
                      f"{cycle['status']} {where}")
        if cycle["status"] in TERMINAL:
            progress.clear()
            return dict(cycle)
        if time.monotonic() > deadline:
            progress.clear()
            raise DemoFailed(f"the cycle {cycle_id} did not finish within {limit:g} s (stage {cycle['stage']})")
        time.sleep(0.25)


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    say(f"  ({label}: {time.monotonic() - started:.1f} s)")


def demo(data: Path, candidates: int, cycles: int) -> None:
    started = time.monotonic()
    port = free_port()
    log_path = data.parent / f"{data.name}-server.log"
    say(f"Starting: o-lisp serve agents/calculator.hy --data {data} --port {port}")
    server = Server(AGENT, data, port, log_path)
    api = Api(server.base)
    traffic: Traffic | None = None
    try:
        def up() -> dict[str, Any] | None:
            if server.process.poll() is not None:
                raise DemoFailed(f"the server exited with status {server.process.returncode}")
            health = api.health()
            return health if health is not None and health.get("status") == "ok" else None

        health = wait_until("the server to serve", up, 60)
        say(f"The calculator {health['version']} is serving (worker pid {health['worker_pid']}).")

        # (a) --------------------------------------------------------------------------------
        say()
        say("(a) The agent serving")
        for text in ("square 12", "sum of squares 3 4", "hello"):
            say(f"  > {text}")
            say(f"  < {api.message(text)}")
        check(api.message("square 12") == "144", "square 12 is 144")
        note = "the demo's note: written before the evolution cycle and the crash"
        memory_id = api.post("/v1/memory", {"text": note}, expect=201)["id"]
        say(f"  memory write acknowledged (durable): {memory_id}")

        # (b) --------------------------------------------------------------------------------
        say()
        say(f"(b) Evolving `{TARGET}` while live clients keep sending messages")
        traffic = Traffic(api)
        traffic.start()
        request = {"definition": TARGET, "hypothesis": "square does redundant work; make it faster",
                   "candidates": candidates}

        def accepted() -> Any:
            status, body = api.answer("POST", "/v1/evolution", request)
            if status == 202:
                return body
            code = body.get("error", {}).get("code") if isinstance(body, dict) else None
            if status in (404, 405, 501) or code == "unavailable":  # not there (yet)
                return None
            raise DemoFailed(f"POST /v1/evolution answered {status}: {body}")

        judged: list[dict[str, Any]] = []
        for attempt in range(1, cycles + 1):
            started_cycle = wait_until("POST /v1/evolution to accept a cycle", accepted, 60, every=1.0)
            say(f"  POST /v1/evolution {json.dumps(request)}")
            say(f"  -> 202 {started_cycle['id']}, following {started_cycle['status_url']}")
            with timed("cycle"):
                cycle = follow(api, started_cycle["id"], 120)
            judged.extend(cycle["candidates"])
            promoted = [c for c in cycle["candidates"] if c["verdict"] == "promoted"]
            rejected = [c for c in judged if c["verdict"] == "rejected"]
            say(f"  cycle {cycle['id']}: {cycle['status']}; {len(cycle['candidates'])} candidates, "
                f"{len(cycle['candidates']) - len(promoted)} rejected, {len(promoted)} promoted")
            if cycle["status"] != "rejected" or attempt == cycles:
                break
            # Candidates are random variants: a cycle may draw none that is both right and faster.
            say("  no candidate of this cycle was both correct and faster; the demo starts another cycle")
        check(cycle["status"] == "promoted" and cycle["result"] is not None and bool(promoted),
              f"a candidate is promoted (the cycle ended {cycle['status']}: {cycle['events'][-1]['message']})")
        check(any(c["stage"] in ("read", "scan", "tests", "fitness") for c in rejected),
              "at least one wrong candidate is rejected by the agent's own gates")
        result = cycle["result"]
        version = str(result["version"])
        say(f"  now serving {version} ({str(result['commit'])[:7]}, tag {result['tag']}); "
            f"square 12 = {api.message('square 12')}")
        check(api.get("/health")["version"] == version, f"the server runs {version}")

        say("  probation: the guardian watches the promoted version under live traffic ...")

        def probation_passed() -> dict[str, Any] | None:
            health = api.health()
            good = (health or {}).get("known_good") or {}
            return health if health and good.get("commit") and good.get("commit") == health.get("commit") else None

        with timed("probation"):
            health = wait_until("the probation to pass", probation_passed, 90, every=0.5)
        after = api.get(f"/v1/evolution/{cycle['id']}")
        check(after["status"] == "promoted" and health["version"] == version,
              f"{version} survived its probation (cycle {after['status']}: {after['events'][-1]['message']})")
        say(f"  probation passed: {version} is the known-good version")

        # (c) --------------------------------------------------------------------------------
        say()
        say("(c) A crash")
        pid = int(health["worker_pid"])
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        say(f"  kill -KILL {pid} (the worker serving {version})")

        def restarted() -> dict[str, Any] | None:
            health = api.health()
            ok = health and health.get("status") == "ok" and health.get("worker_pid") not in (None, pid)
            return health if ok else None

        health = wait_until("the guardian to restart the worker", restarted, 30)
        say(f"  the guardian restarted it in {time.monotonic() - killed_at:.1f} s: worker pid {health['worker_pid']}, "
            f"version {health['version']}, restarts {health['restarts']}")
        check(health["version"] == version, f"the restarted worker runs the promoted {version}")
        block = api.get(f"/v1/memory/{memory_id}")
        check(block.get("text") == note, f"memory {memory_id} survived the crash")
        say(f"  GET /v1/memory/{memory_id} -> {block['text']!r}")
        reply = api.message("square 12")
        check(reply == "144", "the agent still answers square 12 = 144")
        say(f"  > square 12\n  < {reply}")
        time.sleep(1.0)  # a little live traffic on the new worker

        # (d) --------------------------------------------------------------------------------
        traffic.stop()
        say()
        say("(d) What the live clients saw")
        say(f"  {traffic.sent} requests sent during the cycle, the probation and the crash: "
            f"{traffic.ok} answered correctly, {len(traffic.failures)} failed, "
            f"{len(traffic.unknown)} unknown (in flight at the kill)")
        for line in traffic.unknown:
            say(f"    unknown: {line}")
        for line in traffic.failures[:10]:
            say(f"    FAILED: {line}")
        check(not traffic.failures, "no live request failed")
        check(traffic.ok > 0, "live requests were answered")

        # (e) --------------------------------------------------------------------------------
        say()
        say(f"(e) o-lisp history calculator --data {data} --all")
        history = subprocess.run([*o_lisp_command(), "history", "calculator", "--data", str(data), "--all"],
                                 capture_output=True, text=True, timeout=60)
        check(history.returncode == 0, f"o-lisp history works ({history.stderr.strip()})")
        marker = ""
        omitted = 0
        for line in history.stdout.splitlines():
            if not line.startswith(" "):  # a commit: hash, version, time, marker, summary
                marker = line.split()[3] if len(line.split()) > 3 else ""
                say(f"  {line}")
            elif line.strip().startswith("why:") or marker == "promoted":
                say(f"  {line}")
            else:
                omitted += 1
        say(f"  ({omitted} trailer lines of the other commits left out; --data DIR keeps the data to see them)")
        check(any("promoted" in line and version in line for line in history.stdout.splitlines()),
              "the history shows the promotion")
        check(any(line.split()[3:4] == ["rejected"] for line in history.stdout.splitlines() if line[:1] != " "),
              "the history shows the rejected candidates")
        say()
        say(f"Done in {time.monotonic() - started:.0f} s: promoted {version} "
            f"({len(rejected)} candidates rejected), survived a SIGKILL, no acknowledged write lost.")
    except DemoFailed:
        tail = server.log_tail()
        if tail:
            say("--- the server's log (last lines):")
            say(tail)
        raise
    finally:
        try:
            if traffic is not None:
                traffic.stop()
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, help="keep the agent's data here (default: a temporary directory)")
    parser.add_argument("--candidates", type=int, default=8, help="candidates of a cycle (default: 8)")
    parser.add_argument("--cycles", type=int, default=2,
                        help="cycles to try at most until one promotes a candidate (default: 2)")
    args = parser.parse_args(argv)
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C does, so the server is stopped too.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    with contextlib.ExitStack() as stack:
        if args.data is None:
            data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="o-evolution-demo-"))) / "calculator"
        else:
            data = args.data.resolve()
            if data.exists() and any(data.iterdir()):
                say(f"{data} is not empty: the demo starts from a fresh agent")
                return 2
        try:
            demo(data, args.candidates, args.cycles)
        except DemoFailed as failure:
            say(f"DEMO FAILED: {failure}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
