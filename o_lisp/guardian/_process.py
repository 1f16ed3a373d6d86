"""The guardian's worker processes: how they are started (directly or by the zygote) and
where their output goes.

`ForkServer` is the guardian's end of the zygote (`o_lisp.worker._zygote`): it starts
it, sends ``spawn`` commands with a worker's pipe fds and reads the pids and exit
statuses it reports. `Child` is a started worker the guardian can kill and reap either
way. `WorkerLog` copies the workers' stdout/stderr into ``DATA/logs/worker.log``,
rotated by size.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
from pathlib import Path
from typing import Any, BinaryIO

from o_lisp.guardian._errors import SupervisorError
from o_lisp.guardian._protocol import WorkerSpec

__all__ = ["WORKER_LOG", "Child", "DirectChild", "ForkServer", "WorkerLog", "ZygoteChild", "cancel_and_wait"]

log = logging.getLogger("o_lisp.guardian")


class Child:
    """A worker process the guardian can kill and whose exit it can await (reaped either way)."""

    pid: int

    @property
    def returncode(self) -> int | None:
        raise NotImplementedError

    async def wait(self) -> int:
        raise NotImplementedError

    def kill(self) -> None:
        if self.returncode is None:  # after the exit is known the pid may be reused
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class DirectChild(Child):
    """A worker started as its own interpreter; asyncio's child watcher reaps it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pid = process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def wait(self) -> int:
        return await self.process.wait()


class ZygoteChild(Child):
    """A worker forked by the zygote, which reaps it and reports its exit status."""

    def __init__(self, pid: int, exited: asyncio.Future[int]) -> None:
        self.pid = pid
        self.exited = exited

    @property
    def returncode(self) -> int | None:
        return self.exited.result() if self.exited.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self.exited)


WORKER_LOG = Path("logs") / "worker.log"


class WorkerLog(asyncio.Protocol):
    """What workers print: their stdout and stderr (and the fork server's) into a size-rotated file.

    Workers inherit the write end of one pipe as fds 1 and 2; the guardian reads the
    other end on its event loop and appends what arrives to ``DATA/logs/worker.log``.
    When the file would pass `max_bytes` it becomes ``worker.log.1`` (the older ones
    shift up to ``worker.log.<files - 1>``; the oldest is dropped), so a crash's
    traceback is kept without the log growing without bound. Agent code cannot reach
    the frame pipes through it: it is a separate pipe, and the guardian only copies bytes.
    """

    def __init__(self, path: Path, max_bytes: int, files: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.files = files
        self.write_fd = -1
        self._file: BinaryIO | None = None
        self._size = 0
        self._transport: asyncio.ReadTransport | None = None

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab", buffering=0)
        self._size = self._file.tell()
        read_fd, self.write_fd = os.pipe()
        loop = asyncio.get_running_loop()
        read_file = os.fdopen(read_fd, "rb", buffering=0)
        try:
            self._transport, _ = await loop.connect_read_pipe(lambda: self, read_file)
        except BaseException:
            with contextlib.suppress(OSError):  # not taken over by a transport: close it now
                read_file.close()
            raise

    def data_received(self, data: bytes) -> None:
        self.write(data)

    def write(self, data: bytes) -> None:
        if self._file is None:
            return
        try:
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            self._file.write(data)
            self._size += len(data)
        except OSError as error:  # a full disk must not take the guardian down
            log.error("cannot write %s: %s", self.path, error)

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
        for i in range(self.files - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            newer = self.path.with_name(f"{self.path.name}.{i - 1}") if i > 1 else self.path
            if newer.exists():
                os.replace(newer, older)
        if self.files == 1:
            self.path.unlink(missing_ok=True)
        self._file = open(self.path, "ab", buffering=0)
        self._size = 0

    def close(self) -> None:
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._file is not None:
            self._file.close()
            self._file = None


class ForkServer:
    """The guardian's end of the zygote: a SOCK_SEQPACKET socket carrying JSON and fds."""

    def __init__(self, python: str, output: int | None = None) -> None:
        self.python = python
        self.output = output  # stdout and stderr of the zygote and its workers
        self.process: asyncio.subprocess.Process | None = None
        self.sock: socket.socket | None = None
        self._tokens = itertools.count(1)
        self._spawns: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._reader: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self.sock is not None and self.process is not None and self.process.returncode is None

    async def start(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = await asyncio.create_subprocess_exec(
                self.python, "-m", "o_lisp.worker", "zygote", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL, stdout=self.output, stderr=self.output,
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        try:
            first = await asyncio.wait_for(loop.sock_recv(ours, 1 << 16), timeout)
            message = _parse_control(first)
            if message is None or message.get("op") != "ready":
                raise SupervisorError(f"the fork server did not start (said {first[:100]!r})")
        except BaseException:
            ours.close()
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
            raise
        self.sock = ours
        self._reader = asyncio.create_task(self._read_loop(), name="o-zygote-reader")

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        sock = self.sock
        assert sock is not None
        try:
            while True:
                data = await loop.sock_recv(sock, 1 << 16)
                if not data:
                    break
                message = _parse_control(data)
                if message is None:
                    log.error("fork server sent garbage: %r", data[:100])
                    break
                op = message.get("op")
                pid = message.get("pid")
                if op == "spawned" and type(pid) is int:
                    future = self._spawns.pop(message.get("token"), None)  # type: ignore[arg-type]
                    if future is not None and not future.done():
                        future.set_result(pid)
                elif op == "exit" and type(pid) is int and type(message.get("status")) is int:
                    exited = self._exit_future(pid)
                    if not exited.done():
                        exited.set_result(message["status"])
                elif op == "error":
                    future = self._spawns.pop(message.get("token"), None)  # type: ignore[arg-type]
                    if future is not None and not future.done():
                        future.set_exception(SupervisorError(f"fork server: {message.get('message')}"))
        except OSError as error:
            log.error("fork server connection failed: %s", error)
        finally:
            self._closed()

    def _exit_future(self, pid: int) -> asyncio.Future[int]:
        future = self._exits.get(pid)
        if future is None:
            future = self._exits[pid] = asyncio.get_running_loop().create_future()
        return future

    def _closed(self) -> None:
        """The zygote is gone: its workers die with it (PDEATHSIG) and init reaps them."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        for future in self._spawns.values():
            if not future.done():
                future.set_exception(SupervisorError("the fork server exited"))
        self._spawns.clear()
        for future in self._exits.values():
            if not future.done():
                future.set_result(-signal.SIGKILL)
        self._exits.clear()

    async def spawn(self, spec: WorkerSpec, fds: tuple[int, int], timeout: float) -> ZygoteChild:
        if self.sock is None:
            raise SupervisorError("the fork server is not running")
        token = next(self._tokens)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._spawns[token] = future
        payload = json.dumps({"op": "spawn", "token": token, "spec": json.loads(spec.to_json())}).encode()
        socket.send_fds(self.sock, [payload], list(fds))
        pid = await asyncio.wait_for(future, timeout)
        return ZygoteChild(pid, self._exit_future(pid))

    def forget(self, pid: int) -> None:
        self._exits.pop(pid, None)

    async def stop(self, timeout: float = 5.0) -> None:
        if self.sock is not None:
            self.sock.close()  # EOF: the zygote kills and reaps its workers, then exits
            self.sock = None
        await cancel_and_wait(self._reader)
        if self.process is not None and self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self._closed()


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait until it is done, without swallowing a cancellation of *our* task
    (``suppress(CancelledError)`` around ``await task`` would, and a cancelled supervisor
    would go on restarting workers)."""
    if task is None or task is asyncio.current_task() or task.done():
        return
    task.cancel()
    await asyncio.wait([task])


def _parse_control(data: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(data)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
