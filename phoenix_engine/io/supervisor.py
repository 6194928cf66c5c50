"""Spawn a command (the training, a user command, a provider), stream its raw output.

I/O only, no policy. Output arrives through a ``SubprocessProtocol``: each raw chunk (up to
256 KiB) goes synchronously to ``on_output`` with no per-chunk await; if that callback raises,
asyncio logs it through the loop's exception handler and reading goes on. Children start in
a new session so that one ``killpg`` reaches the group; a :class:`Child` is stopped with its
whole tree by :class:`~phoenix_engine.io.processes.ProcessTree` (``stop_tree`` and
``StopReport`` are re-exported from there for the engine's stopper seam).
"""

from __future__ import annotations

__all__ = ["Child", "ExitInfo", "SpawnError", "StopReport", "spawn", "stop_tree"]

import asyncio
import fcntl
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from phoenix_engine.errors import PhoenixError
from phoenix_engine.io import proctree
from phoenix_engine.io.processes import ProcessTree, StopReport, create_time, stop_tree

_STREAMS = {1: "stdout", 2: "stderr"}
_DRAIN_S = 0.3  # after exit, how long a grandchild may hold our pipes before we detach
_KILL_WAIT_S = 2.0  # how long a stopped tree's leader gets to be reaped
_PIPE_SIZE = 1 << 20
# A read of a few KiB means a child that writes as fast as Phoenix wakes up: the (1 MiB) pipe
# gathers for a moment before the next read, so a flood costs fewer, larger reads instead of
# one per 4 KiB. A read of 64 KiB or more already is large: reading goes on at once.
_BUSY_READ, _LARGE_READ = 4096, 65536
_GATHER_S = 0.002
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitInfo:
    """How a process ended: ``returncode`` when it exited, ``signal`` when a signal killed it."""

    returncode: int | None
    signal: int | None


class SpawnError(PhoenixError):
    """The training command could not be started (missing, not executable, bad cwd)."""

    def __init__(self, program: str, reason: str) -> None:
        self.program = program
        self.reason = reason
        super().__init__(f"cannot start {program!r}: {reason}")


class _Protocol(asyncio.SubprocessProtocol):
    def __init__(self, on_output: Callable[[str, bytes], None], *, streams: int = 2) -> None:
        loop = asyncio.get_running_loop()
        self._on_output = on_output
        self._open = {1, 2} if streams == 2 else {1}
        self.exited: asyncio.Future[None] = loop.create_future()
        self.drained: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._transport = transport

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        self._on_output(_STREAMS[fd], data)
        if _BUSY_READ <= len(data) < _LARGE_READ:
            pipe = self._transport.get_pipe_transport(fd)
            if isinstance(pipe, asyncio.ReadTransport) and pipe.is_reading():
                pipe.pause_reading()
                asyncio.get_running_loop().call_later(_GATHER_S, pipe.resume_reading)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open.discard(fd)  # fd 0, stdin, is never in it
        if not self._open and not self.drained.done():
            self.drained.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


class Child:
    """A running training process, leader of its own session and process group."""

    def __init__(
        self,
        transport: asyncio.SubprocessTransport,
        protocol: _Protocol,
        started: float,
        mark: str = "",
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._finished: asyncio.Task[ExitInfo] | None = None
        self.pid: int = transport.get_pid()
        self.pgid: int = self.pid  # start_new_session makes the child its group's leader
        self.started = started
        self.create_time = create_time(self.pid) or 0.0
        self.mark = mark  # PHOENIX_TREE_ID of the tree, '' when it has none
        self.tree = ProcessTree(self.pid, create_time=self.create_time, pgid=self.pgid, mark=mark)

    @property
    def exited(self) -> bool:
        return self._protocol.exited.done()

    async def wait(self) -> ExitInfo:
        """Exit status once the process is gone and its pipes drained (or ~0.3 s later)."""
        if self._finished is None:
            self._finished = asyncio.ensure_future(self._finish())
        return await asyncio.shield(self._finished)

    async def stop(self, grace_s: float) -> StopReport:
        """Stop the whole tree (:meth:`ProcessTree.stop`), then reap the child."""
        report = await self.tree.stop(grace_s)
        if report.survived == 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.wait(), _KILL_WAIT_S)
        return report

    def kill_now(self) -> None:
        """SIGKILL the group and every known descendant at once, without waiting."""
        self.tree.kill_now()

    def track_descendants(self) -> int:
        """Remember the current descendants (:meth:`ProcessTree.track`)."""
        return self.tree.track()

    async def _finish(self) -> ExitInfo:
        await self._protocol.exited
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._protocol.drained), _DRAIN_S)
        self._transport.close()  # detaches pipes that an orphaned grandchild still holds
        proctree.waited(self.pid)
        return _exit_info(self._transport.get_returncode())


async def spawn(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_output: Callable[[str, bytes], None],
    stdin: bytes | None = None,
    merge_stderr: bool = False,
) -> Child:
    """Start ``argv`` in a new session with stdout and stderr streamed to ``on_output``
    (stderr as ``"stdout"`` with ``merge_stderr``), ``stdin`` written to it and closed (none:
    /dev/null); ``env``'s ``PHOENIX_TREE_ID`` (if any) is the mark its whole tree is found by."""
    if not argv:
        raise SpawnError("", "empty command")
    loop = asyncio.get_running_loop()
    protocol = _Protocol(on_output, streams=1 if merge_stderr else 2)
    started = time.monotonic()
    try:
        transport, _ = await loop.subprocess_exec(
            lambda: protocol,
            *argv,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.filename is not None and str(exc.filename) == str(cwd):
            reason = f"working directory {cwd}: {reason}"
        raise SpawnError(argv[0], reason) from exc
    proctree.spawned(transport.get_pid())
    _enlarge_pipes(transport)
    if stdin is not None:
        _feed(transport, stdin)
    return Child(transport, protocol, started, env.get(proctree.MARK_ENV, ""))


def _feed(transport: asyncio.SubprocessTransport, data: bytes) -> None:
    """Write ``data`` to stdin and close it; the pipe buffers what the command has not read
    yet, and a command that never reads it is not an error."""
    pipe = transport.get_pipe_transport(0)
    assert isinstance(pipe, asyncio.WriteTransport)  # stdin is a pipe when data is given
    with suppress(BrokenPipeError, ConnectionResetError):
        pipe.write(data)
        pipe.write_eof()  # closes once what is buffered has been written


def _exit_info(returncode: int | None) -> ExitInfo:
    if returncode is not None and returncode < 0:
        return ExitInfo(returncode=None, signal=-returncode)
    return ExitInfo(returncode=returncode, signal=None)


def _enlarge_pipes(transport: asyncio.SubprocessTransport) -> None:
    """Bigger pipes mean fewer wake-ups per MB; the kernel may refuse, which is fine."""
    for fd in _STREAMS:
        pipe = transport.get_pipe_transport(fd)
        file = pipe.get_extra_info("pipe") if pipe is not None else None
        if file is not None:
            with suppress(OSError, ValueError):  # ValueError: already closed at EOF
                fcntl.fcntl(file.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
