"""Spawn the training process, stream its raw output, and stop its whole process tree.

I/O only, no policy. Output arrives through a ``SubprocessProtocol``: each raw chunk (up to
256 KiB) goes synchronously to ``on_output`` with no per-chunk await; if that callback raises,
asyncio logs it through the loop's exception handler and reading goes on. Children start in
a new session so that one ``killpg`` reaches the group; stopping is SIGINT (the run may save a
checkpoint), grace, SIGTERM, grace, SIGKILL, then a sweep with SIGKILL of every descendant we
ever saw that left the group (``setsid``) and of every process that carries the tree's mark
(``proctree``: found even after a double fork, or by a later Phoenix). Processes are recognised
by (pid, create_time), so a recycled PID is never signalled, and zombies count as gone (an init
that does not reap them must not make a stop hang); those adopted by Phoenix are reaped.
"""

from __future__ import annotations

__all__ = ["Child", "ExitInfo", "SpawnError", "StopReport", "spawn", "stop_tree"]

import asyncio
import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psutil

from phoenix_engine.errors import PhoenixError
from phoenix_engine.io import proctree

_STREAMS = {1: "stdout", 2: "stderr"}
_DRAIN_S = 0.3  # after exit, how long a grandchild may hold our pipes before we detach
_POLL_S = 0.05
_KILL_WAIT_S = 2.0  # how long SIGKILLed processes get to vanish before they count as survivors
# create_time is boot time (whole seconds, moved by clock steps) plus start ticks, so allow
# some slack; a recycled PID would have to be reused within this window of the original start.
_CTIME_SLACK_S = 1.5
_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)

# (pid -> create_time) of every process known to belong to a tree being stopped.
_Known = dict[int, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitInfo:
    """How a process ended: ``returncode`` when it exited, ``signal`` when a signal killed it."""

    returncode: int | None
    signal: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StopReport:
    """What stopping a tree took: group signals in order, escapees swept, processes left."""

    signals_sent: tuple[str, ...]
    escaped_killed: int
    survived: int


class SpawnError(PhoenixError):
    """The training command could not be started (missing, not executable, bad cwd)."""

    def __init__(self, program: str, reason: str) -> None:
        self.program = program
        self.reason = reason
        super().__init__(f"cannot start {program!r}: {reason}")


class _Protocol(asyncio.SubprocessProtocol):
    def __init__(self, on_output: Callable[[str, bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        self._on_output = on_output
        self._open = {1, 2}
        self.exited: asyncio.Future[None] = loop.create_future()
        self.drained: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        self._on_output(_STREAMS[fd], data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open.discard(fd)
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
        self.create_time = _create_time(self.pid) or 0.0
        self._known: _Known = {self.pid: self.create_time}
        self.mark = mark  # PHOENIX_TREE_ID of the tree, '' when it has none

    @property
    def exited(self) -> bool:
        return self._protocol.exited.done()

    async def wait(self) -> ExitInfo:
        """Exit status once the process is gone and its pipes drained (or ~0.3 s later)."""
        if self._finished is None:
            self._finished = asyncio.ensure_future(self._finish())
        return await asyncio.shield(self._finished)

    async def stop(self, grace_s: float) -> StopReport:
        """Stop the whole tree (see ``stop_tree``), then reap the child."""
        known = self._known
        report = await _stop(self.pid, self.create_time, self.pgid, grace_s, known, self.mark)
        if report.survived == 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.wait(), _KILL_WAIT_S)
        proctree.reap()
        return report

    def kill_now(self) -> None:
        """SIGKILL the group and every known descendant at once, without waiting."""
        _refresh(self._known, self.pgid, self.mark)
        _signal_group(self.pgid, signal.SIGKILL)
        proctree.kill_all(self._known)

    def track_descendants(self) -> int:
        """Remember the current descendants so a later stop can sweep them even if the
        child itself has died (orphans are reparented and no longer look like ours)."""
        _refresh(self._known, self.pgid, scan_marks=False)
        proctree.reap()
        return len(self._known)

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
) -> Child:
    """Start ``argv`` in a new session with stdout and stderr streamed to ``on_output``;
    ``env``'s ``PHOENIX_TREE_ID`` (if any) is the mark its whole tree is found by."""
    if not argv:
        raise SpawnError("", "empty command")
    loop = asyncio.get_running_loop()
    protocol = _Protocol(on_output)
    started = time.monotonic()
    try:
        transport, _ = await loop.subprocess_exec(
            lambda: protocol,
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
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
    return Child(transport, protocol, started, env.get(proctree.MARK_ENV, ""))


async def stop_tree(
    pid: int,
    *,
    grace_s: float,
    create_time: float | None = None,
    pgid: int | None = None,
    mark: str = "",
) -> StopReport:
    """Stop ``pid``'s process group and every descendant; with ``create_time``, only if
    ``pid`` is still that process (a recycled PID is never signalled). ``pgid`` lets a
    group be stopped after its leader is gone; ``mark`` (``PHOENIX_TREE_ID``) finds the
    tree's processes that left both (double-forked daemons), even with the leader gone."""
    known: _Known = {}
    report = await _stop(pid, create_time, pgid, grace_s, known, mark)
    proctree.reap()
    return report


async def _stop(
    pid: int,
    create_time: float | None,
    pgid: int | None,
    grace_s: float,
    known: _Known,
    mark: str = "",
) -> StopReport:
    current = _create_time(pid)
    if current is not None:
        if create_time is not None and not _same(current, create_time):
            pgid = None  # a recycled pid: neither it nor its group is ours (the mark still is)
        else:
            known[pid] = current
            pgid = pgid if pgid is not None else _pgid(pid)
    if pgid is None:
        return await _sweep_marked(mark, known)
    return await _stop_group(pgid, grace_s=grace_s, known=known, mark=mark)


async def _sweep_marked(mark: str, known: _Known) -> StopReport:
    """No group to signal: SIGKILL whatever still carries the mark."""
    known.update(proctree.marked(mark))
    killed = proctree.kill_all(known)
    await _until(lambda: not any(_alive(p, ct) for p, ct in known.items()), _KILL_WAIT_S)
    survived = sum(_alive(p, ct) for p, ct in known.items())
    return StopReport(signals_sent=(), escaped_killed=killed, survived=survived)


async def _stop_group(pgid: int, *, grace_s: float, known: _Known, mark: str = "") -> StopReport:
    if pgid == os.getpgrp():
        raise ValueError(f"refusing to signal phoenix's own process group {pgid}")
    sent: list[str] = []
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        _refresh(known, pgid, mark)
        if not _group_alive(pgid):
            break
        _signal_group(pgid, sig)
        sent.append(sig.name)
        wait_s = _KILL_WAIT_S if sig == signal.SIGKILL else grace_s
        await _until(lambda: not _group_alive(pgid), wait_s)
    _refresh(known, pgid, mark)
    escaped = proctree.kill_all({p: ct for p, ct in known.items() if _pgid(p) != pgid})
    await _until(lambda: not _survivors(known, pgid), _KILL_WAIT_S)
    return StopReport(
        signals_sent=tuple(sent), escaped_killed=escaped, survived=len(_survivors(known, pgid))
    )


def _refresh(known: _Known, pgid: int, mark: str = "", *, scan_marks: bool = True) -> None:
    """Add every live member of ``pgid``, every process that carries ``mark`` (a scan of
    environments, skipped with ``scan_marks=False``), every orphan adopted by Phoenix as
    subreaper, and every descendant of a known process."""
    if mark and scan_marks:
        known.update(proctree.marked(mark))
    known.update(proctree.adopted())
    kids: dict[int, list[int]] = {}
    ctimes: dict[int, float] = {}
    for proc in psutil.process_iter(["ppid", "create_time"]):
        ppid, ctime = proc.info["ppid"], proc.info["create_time"]
        if ppid is not None and ctime is not None:
            ctimes[proc.pid] = ctime
            kids.setdefault(ppid, []).append(proc.pid)
    queue = [p for p in ctimes if _pgid(p) == pgid]
    queue += [p for p, ctime in known.items() if p in ctimes and _same(ctimes[p], ctime)]
    while queue:
        parent = queue.pop()
        if not _same(known.get(parent), ctimes[parent]):
            known[parent] = ctimes[parent]
        queue += [kid for kid in kids.get(parent, ()) if not _same(known.get(kid), ctimes[kid])]


def _group_alive(pgid: int) -> bool:
    return bool(_members(pgid))


def _members(pgid: int) -> set[int]:
    """Live (non-zombie) processes of the group; the ``killpg(0)`` probe avoids a scan."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return set()
    except PermissionError:
        return {pgid}  # someone else's process is in it: count it as alive
    return {p for p in psutil.pids() if _pgid(p) == pgid and _alive(p)}


def _survivors(known: _Known, pgid: int) -> set[int]:
    return _members(pgid) | {p for p, ctime in known.items() if _alive(p, ctime)}


def _alive(pid: int, ctime: float | None = None) -> bool:
    try:
        proc = psutil.Process(pid)
        same = ctime is None or _same(proc.create_time(), ctime)
        return same and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _until(done: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        await asyncio.sleep(_POLL_S)


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) < _CTIME_SLACK_S


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


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
