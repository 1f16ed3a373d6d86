"""The fork server (zygote): imports the agent runtime once and forks a worker per ``spawn``.

Importing the agent runtime, NumPy, Numba and pygit2 costs about a second; a worker
restarted after ``kill -9`` must not pay it again. So the zygote (started by the
guardian as ``python -m o_lisp.worker zygote CONTROL_FD``) imports everything once,
loads the Numba kernels from the cache, and then waits on a ``SOCK_SEQPACKET``
control socket for ``spawn`` commands, each carrying the worker's two frame-pipe fds
(``SCM_RIGHTS``). It forks a worker per command (a few ms), reports its pid, reaps
its children (no zombies) and reports every exit status. It never loads an agent
itself, so it has no state a crash could corrupt.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import socket
import sys
import traceback
from typing import Any

from o_lisp._interpreter import Interpreter
from o_lisp.guardian._protocol import WorkerSpec
from o_lisp.worker._serve import EXIT_START_FAILED, die_with_parent, run_worker

__all__ = ["run_zygote"]


def _preload() -> None:
    """Import and warm everything a worker uses, so forked workers start in milliseconds."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")  # no BLAS thread pools to be broken by fork
    # Warming the kernels runs them, which starts Numba's thread pool. GNU OpenMP (the
    # default layer here) refuses to work in a child forked after that ("fork() called
    # from a process already using GNU OpenMP"), and without the warm-up each worker
    # would spend ~230 ms loading kernels. Numba's own workqueue layer survives fork:
    # a forked worker's first search then costs ~8 ms.
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
    # Imported here, after the environment above is set: NumPy and Numba read it at import.
    import o_lisp.agent._agent
    import o_lisp.agent._dsl
    import o_lisp.agent._repo
    import o_lisp.agent._state
    import o_lisp.memory
    from o_lisp.memory._kernels import warm_up

    warm_up()
    # Compile the stdlib (core.hy, agent.hy) and build lark's lexers once here: forked
    # workers then reuse the cached code objects instead of compiling on every restart.
    from o_lisp.agent._dsl import read_agent  # the agent runtime, as above

    Interpreter().load_library("agent.hy")
    read_agent('(defagent warm-up (defmemory notes :dim 8) (when-> (= msg "x") "y") (defn f [a [b 2]] `(a ~b)))', "<warm-up>")
    del o_lisp
    # Everything imported so far lives as long as the process: keep it out of the
    # collections of the zygote and of every forked worker (fewer pages copied on write).
    gc.collect()
    gc.freeze()


def _send(sock: socket.socket, payload: dict[str, Any]) -> None:
    sock.send(json.dumps(payload).encode())


def run_zygote(control_fd: int) -> int:
    """Serve ``spawn`` commands on the control socket until it closes; fork one worker each."""
    die_with_parent()
    sock = socket.socket(fileno=control_fd)
    _preload()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    _send(sock, {"op": "ready", "pid": os.getpid()})
    children: set[int] = set()
    while True:
        readable, _, _ = select.select([sock.fileno(), wake_r], [], [])
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(wake_r, 4096):
                    pass
            _reap(sock, children)
        if sock.fileno() not in readable:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 2)
        except OSError:
            data, fds = b"", []
        if not data:  # the guardian is gone: take the workers with us
            for pid in children:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            for pid in children:
                with contextlib.suppress(OSError):
                    os.waitpid(pid, 0)
            return 0
        command = json.loads(data)
        if command.get("op") != "spawn" or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            _send(sock, {"op": "error", "token": command.get("token"), "message": "bad command"})
            continue
        pid = os.fork()
        if pid == 0:  # the worker
            code = EXIT_START_FAILED
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.close(wake_r)
                os.close(wake_w)
                sock.close()
                code = run_worker(WorkerSpec.from_json(json.dumps(command["spec"])), fds[0], fds[1])
            except BaseException:
                traceback.print_exc()
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        for fd in fds:
            os.close(fd)
        children.add(pid)
        _send(sock, {"op": "spawned", "token": command.get("token"), "pid": pid})


def _reap(sock: socket.socket, children: set[int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        with contextlib.suppress(OSError):
            _send(sock, {"op": "exit", "pid": pid, "status": os.waitstatus_to_exitcode(status)})
