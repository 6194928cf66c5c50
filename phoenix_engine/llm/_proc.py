"""Run one provider command: new session, prompt on stdin, capped stdout, hard timeout.

Shared by the subprocess providers (``gemini_cli``, ``cmd``). A command that hangs or floods
stdout is killed with its whole process group, plus any descendant that left the group and
every process carrying the command's mark (``proctree``: double-forked daemons too), so nothing
a provider started outlives its timeout, its end, or a cancellation (Phoenix stopping: the
tree is killed at once). Output is read in chunks, never by line.
"""

from __future__ import annotations

__all__ = ["ProcFailure", "ProcResult", "exit_text", "last_line", "run_command"]

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from phoenix_engine.io import proctree

_CHUNK = 65536
_STDERR_KEEP = 4096
_LINE_CHARS = 160
_WAIT_AFTER_KILL_S = 5.0  # a killed command's pipes may be held by a process we cannot see


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcResult:
    """A command that finished by itself: its exit status, stdout and the end of stderr."""

    returncode: int
    stdout: bytes
    stderr: bytes = b""  # the last few KB


class ProcFailure(Exception):
    """The command did not finish by itself: not startable, timed out, or flooded stdout."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


async def run_command(
    argv: Sequence[str],
    *,
    stdin: bytes,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    max_stdout: int,
) -> ProcResult:
    """Run ``argv`` to completion, or kill its process tree and raise :class:`ProcFailure`;
    cancelled, it kills the tree before the CancelledError goes on."""
    mark = proctree.new_mark()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env={**env, proctree.MARK_ENV: mark},
            start_new_session=True,
        )
    except OSError as exc:  # not found, not executable, bad cwd
        raise ProcFailure(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
    proctree.spawned(proc.pid)
    assert proc.stdin and proc.stdout and proc.stderr  # all three are pipes
    kill = _killer(proc.pid, mark)
    try:
        async with asyncio.timeout(timeout_s):
            out, err, _ = await asyncio.gather(
                _read_capped(proc.stdout, max_stdout, kill),
                _read_tail(proc.stderr),
                _feed(proc.stdin, stdin),
            )
            code = await proc.wait()
    except TimeoutError as exc:
        raise ProcFailure(f"no reply within {timeout_s:g}s (killed)") from exc
    finally:  # also on cancellation: nothing the command started may outlive it
        if proc.returncode is None:
            kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), _WAIT_AFTER_KILL_S)
        kill()  # stragglers left by a command that exited (in its group, or marked)
        proctree.waited(proc.pid)
    if out is None:
        raise ProcFailure(f"output larger than {max_stdout / 1024 / 1024:g} MB (killed)")
    return ProcResult(returncode=code, stdout=out, stderr=err)


def _killer(pid: int, mark: str) -> Callable[[], None]:
    """Kill the group, every descendant (some leave the group) and every marked process."""

    def kill() -> None:
        try:
            strays = {p.pid: p.create_time() for p in psutil.Process(pid).children(recursive=True)}
        except psutil.Error:
            strays = {}
        _signal_group(pid)
        strays |= proctree.marked(mark)
        proctree.kill_all(strays)
        proctree.reap()

    return kill


def _signal_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _read_capped(
    stream: asyncio.StreamReader, cap: int, kill: Callable[[], None]
) -> bytes | None:
    """All of stdout, or None (after killing the command) once it passes ``cap`` bytes."""
    data = bytearray()
    while chunk := await stream.read(_CHUNK):
        data += chunk
        if len(data) > cap:
            kill()
            return None
    return bytes(data)


async def _read_tail(stream: asyncio.StreamReader) -> bytes:
    tail = b""
    while chunk := await stream.read(_CHUNK):
        tail = (tail + chunk)[-_STDERR_KEEP:]
    return tail


async def _feed(pipe: asyncio.StreamWriter, data: bytes) -> None:
    """Write the prompt and close stdin; a command that does not read it is not an error."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        pipe.write(data)
        await pipe.drain()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        pipe.close()
        await pipe.wait_closed()


def last_line(data: bytes) -> str:
    """The last non-blank line, shortened: enough to say why a command failed."""
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    return last if len(last) <= _LINE_CHARS else last[: _LINE_CHARS - 3] + "..."


def exit_text(returncode: int) -> str:
    """``exit status 2`` or ``killed by SIGSEGV``."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"
