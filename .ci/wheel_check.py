"""The wheel check of `make test`: O installed as a user installs it, used from elsewhere.

Builds the wheel from the working tree (its files copied to a temporary directory, so a
stale `build/` cannot leak into it), installs it into a fresh venv (dependencies from the
pip cache), and from a temporary directory outside the repository, with nothing of the
checkout on the path, runs:

* `o-lisp eval '(+ 1 2)'`                      -> prints 3
* `o-lisp run hello.hy`                        -> a copied script runs (the stdlib loads)
* `o-lisp run greeter.hy -m ...`               -> a copied agent answers and rewrites itself
* `o-lisp test greeter.hy`                     -> its deftests pass
* `python embedding.py`                        -> the embedding example, copied
* `o-lisp serve greeter.hy --port 0`           -> GET /health 200, POST /v1/messages, SIGTERM, exit 0

Building or installing must print no warning. Any deviation prints what failed (command,
exit status, expected and actual output) and exits 1. Usage:
`python .ci/wheel_check.py [--keep]` (--keep leaves the temporary directory for a look).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "o_lisp")
"""What the wheel is built from (everything else of the checkout stays out)."""

STEP_TIMEOUT = 300.0
SERVE_START_TIMEOUT = 240.0  # a fresh venv compiles the Numba kernels on first start
WARNING = re.compile(r"warning|deprecat", re.IGNORECASE)
HARMLESS = re.compile(
    r"byte-compiling is disabled"  # distutils says so in every pip build
    r"|^WARNING: Location '[^']*' is ignored"  # pip about this machine's index configuration
    r"|^WARNING: You are using pip version",
    re.IGNORECASE,
)
"""Lines about the machine or pip itself, not about this project's packaging."""


class CheckFailed(Exception):
    """One step deviated; the message says which and how."""


def _environment(venv: Path) -> dict[str, str]:
    """The environment of a user of the installed wheel: its venv first on PATH, nothing of
    the checkout importable, no API token."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "O_API_TOKEN", "PYTHONSTARTUP")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=STEP_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"{' '.join(args)}: no answer within {STEP_TIMEOUT:g} s") from None


def _describe(args: Sequence[str], done: subprocess.CompletedProcess[str]) -> str:
    return (f"$ {' '.join(args)}\n  exit status {done.returncode}\n"
            f"  stdout:\n{_indent(done.stdout)}\n  stderr:\n{_indent(done.stderr)}")


def _indent(text: str) -> str:
    return "\n".join(f"    | {line}" for line in text.splitlines()) or "    | (empty)"


def expect(args: Sequence[str], cwd: Path, env: dict[str, str], stdout: str | Callable[[str], bool],
           status: int = 0) -> subprocess.CompletedProcess[str]:
    """Run a command; fail unless it exits with `status` and prints `stdout` (exactly, or as
    judged by a predicate) and nothing on stderr."""
    done = _run(args, cwd, env)
    ok_out = stdout(done.stdout) if callable(stdout) else done.stdout == stdout
    if done.returncode != status or not ok_out or done.stderr:
        wanted = "" if callable(stdout) else f"\n  expected stdout:\n{_indent(stdout)}"
        raise CheckFailed(f"expected exit status {status}, this stdout and an empty stderr:{wanted}\n"
                          + _describe(args, done))
    return done


def no_warnings(args: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    """Run a build/install command; fail if it fails or prints a warning."""
    done = _run(args, cwd, env)
    if done.returncode != 0:
        raise CheckFailed("failed:\n" + _describe(args, done))
    warnings = [line for line in (done.stdout + done.stderr).splitlines()
                if WARNING.search(line) and not HARMLESS.search(line)]
    if warnings:
        raise CheckFailed("printed warnings:\n" + _indent("\n".join(warnings)) + "\n" + _describe(args, done))


def build_and_install(tmp: Path) -> Path:
    """The wheel of the working tree, installed in a fresh venv; returns the venv."""
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    dist = tmp / "dist"
    pip = [sys.executable, "-m", "pip"]
    no_warnings([*pip, "wheel", "--no-deps", "--wheel-dir", str(dist), str(source)], tmp)
    wheels = sorted(dist.glob("o_lisp-*.whl"))
    if len(wheels) != 1:
        raise CheckFailed(f"expected one wheel in {dist}, found {[w.name for w in wheels]}")
    venv = tmp / "venv"
    no_warnings([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp)
    no_warnings([*pip, "--python", str(venv / "bin" / "python"), "install", "--quiet", str(wheels[0])], tmp)
    return venv


def check_commands(tmp: Path, venv: Path) -> None:
    """The installed console script and package, used from a directory outside the repository."""
    work = tmp / "work"
    work.mkdir()
    env = _environment(venv)
    olisp = str(venv / "bin" / "o-lisp")
    python = str(venv / "bin" / "python")
    for name in ("hello.hy", "greeter.hy"):
        shutil.copy2(ROOT / "agents" / name, work / name)
    shutil.copy2(ROOT / "examples" / "embedding.py", work / "embedding.py")

    located = expect([python, "-c", "import o_lisp; print(o_lisp.__file__)"], work, env,
                     lambda out: out.strip().startswith(str(venv)))
    step("the package is imported from the venv", located.stdout.strip())
    expect([olisp, "eval", "(+ 1 2)"], work, env, "3\n")
    step("o-lisp eval '(+ 1 2)'", "3")
    expect([olisp, "run", "hello.hy"], work, env, lambda out: out.startswith("Hello, world!\n"))
    step("o-lisp run hello.hy", "Hello, world! ...")
    greeted = "hello.\nThanks! From now on I greet with: Good morning!\nGood morning!\n"
    expect([olisp, "run", "greeter.hy", "-m", "hello", "-m", "feedback: Good morning!", "-m", "hello"],
           work, env, greeted)
    step("o-lisp run greeter.hy -m ... (an agent rewriting itself)", "3 replies")
    expect([olisp, "test", "greeter.hy"], work, env, lambda out: "1 passed" in out)
    step("o-lisp test greeter.hy", "1 passed")
    expect([python, "embedding.py"], work, env, lambda out: out.startswith("total = 3.5\n"))
    step("python embedding.py", "total = 3.5 ...")
    check_serve(work, env, olisp)


def check_serve(work: Path, env: dict[str, str], olisp: str) -> None:
    """`o-lisp serve` on a free port: /health, one message, a clean stop on SIGTERM."""
    args = [olisp, "serve", "greeter.hy", "--port", "0", "--data", str(work / "served")]
    server = subprocess.Popen(args, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()
    captured: list[str] = []

    def pump() -> None:
        assert server.stderr is not None
        for line in server.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()

    def failed(what: str) -> CheckFailed:
        return CheckFailed(f"$ {' '.join(args)}\n  {what}\n  stderr so far:\n{_indent(''.join(captured))}")

    try:
        deadline = time.monotonic() + SERVE_START_TIMEOUT
        base = None
        while base is None:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise failed(f"did not say where it serves within {SERVE_START_TIMEOUT:g} s") from None
            if line is None:
                raise failed(f"exited with status {server.wait()} before serving")
            captured.append(line)
            found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            if found:
                base = f"http://127.0.0.1:{found.group(1)}"
        status, body = _request("GET", f"{base}/health")
        if status != 200 or body.get("status") != "ok":
            raise failed(f"GET /health answered {status} {body}")
        step("o-lisp serve: GET /health", f"{status} {body.get('status')}")
        status, body = _request("POST", f"{base}/v1/messages", {"text": "hello"})
        if status != 200 or body.get("reply") != "hello.":
            raise failed(f"POST /v1/messages answered {status} {body}, expected 200 with reply 'hello.'")
        step("o-lisp serve: POST /v1/messages", f"{status} reply={body['reply']!r}")
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise failed("did not stop within 60 s of SIGTERM") from None
        if code != 0:
            raise failed(f"exited with status {code} after SIGTERM, expected 0")
        step("o-lisp serve: SIGTERM", "exit 0")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _request(method: str, url: str, payload: object = None) -> tuple[int, dict[str, object]]:
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            status, raw = error.code, error.read()
    except OSError as error:
        raise CheckFailed(f"{method} {url}: {error}") from None
    try:
        body = json.loads(raw)
    except ValueError:
        raise CheckFailed(f"{method} {url}: {status}, not JSON: {raw[:200]!r}") from None
    return status, body if isinstance(body, dict) else {"body": body}


_started = time.monotonic()


def step(what: str, result: str) -> None:
    print(f"wheel-check  {time.monotonic() - _started:6.1f}s  ok  {what}: {result}", flush=True)


def main(argv: Sequence[str]) -> int:
    keep = "--keep" in argv
    tmp = Path(tempfile.mkdtemp(prefix="o-lisp-wheel-check-"))
    try:
        venv = build_and_install(tmp)
        step("built the wheel and installed it in a fresh venv", str(venv))
        check_commands(tmp, venv)
    except CheckFailed as failure:
        print(f"wheel-check FAILED after {time.monotonic() - _started:.1f} s (in {tmp}):\n{failure}",
              file=sys.stderr, flush=True)
        return 1
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"wheel-check passed in {time.monotonic() - _started:.1f} s" + (f" (kept {tmp})" if keep else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
