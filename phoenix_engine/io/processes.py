"""Stopping one command's whole process tree: the one killer every command Phoenix starts uses.

A :class:`ProcessTree` is a command started in its own session (so one ``killpg`` reaches its
group), plus every descendant seen on the way that left the group (``setsid``), plus every
process that carries the command's ``PHOENIX_TREE_ID`` mark (``proctree``: found even after a
double fork, or by a later Phoenix). :meth:`ProcessTree.stop` is the polite stop: SIGINT (the
run may save a checkpoint), grace, SIGTERM, grace, SIGKILL, then a SIGKILL sweep of the rest;
:meth:`ProcessTree.kill_now` is the SIGKILL of all of it at once (a timeout, a flood, Phoenix
cancelled). Processes are recognised by (pid, create_time), so a recycled PID is never
signalled, and zombies count as gone (an init that does not reap them must not make a stop
hang); those adopted by Phoenix as subreaper are reaped.
"""

from __future__ import annotations

__all__ = ["ProcessTree", "StopReport", "create_time", "stop_tree"]

import asyncio
import os
import signal
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

import psutil

from phoenix_engine.io import proctree

_POLL_S = 0.05
_KILL_WAIT_S = 2.0  # how long SIGKILLed processes get to vanish before they count as survivors
# create_time is boot time (whole seconds, moved by clock steps) plus start ticks, so allow
# some slack; a recycled PID would have to be reused within this window of the original start.
_CTIME_SLACK_S = 1.5

# (pid -> create_time) of every process known to belong to a tree.
_Known = dict[int, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class StopReport:
    """What stopping a tree took: group signals in order, escapees swept, processes left."""

    signals_sent: tuple[str, ...]
    escaped_killed: int
    survived: int


class ProcessTree:
    """The processes of one command: ``pid``'s group (``pgid``), its descendants, its mark.

    With ``create_time``, ``pid`` and its group count only while ``pid`` is still that process
    (the mark still counts); ``pgid`` lets a group be stopped after its leader is gone."""

    def __init__(
        self, pid: int, *, create_time: float | None = None, pgid: int | None = None, mark: str = ""
    ) -> None:
        self.pid = pid
        self.create_time = create_time
        self.pgid = pgid
        self.mark = mark
        self._known: _Known = {pid: create_time} if create_time is not None else {}

    async def stop(self, grace_s: float) -> StopReport:
        """SIGINT, SIGTERM, SIGKILL to the group with ``grace_s`` between, then SIGKILL to
        every known process that left it; what it took."""
        current = create_time(self.pid)
        pgid = self.pgid
        if current is not None:
            if self.create_time is not None and not _same(current, self.create_time):
                pgid = None  # a recycled pid: neither it nor its group is ours
            else:
                self._known[self.pid] = current
                pgid = pgid if pgid is not None else _pgid(self.pid)
        if pgid is None:
            report = await self._sweep_marked()
        else:
            report = await self._stop_group(pgid, grace_s)
        proctree.reap()
        return report

    def kill_now(self) -> None:
        """SIGKILL the group, every known descendant and every marked process, without waiting."""
        pgid = self.pgid if self.pgid is not None else self.pid
        _refresh(self._known, pgid, self.mark)
        _signal_group(pgid, signal.SIGKILL)
        proctree.kill_all(self._known)
        proctree.reap()

    def track(self) -> int:
        """Remember the current descendants so a later stop sweeps them even if the command
        itself has died (orphans are reparented and no longer look like ours); how many."""
        _refresh(self._known, self.pgid if self.pgid is not None else self.pid, scan_marks=False)
        proctree.reap()
        return len(self._known)

    async def _sweep_marked(self) -> StopReport:
        """No group to signal: SIGKILL whatever still carries the mark."""
        known = self._known
        known.update(proctree.marked(self.mark))
        killed = proctree.kill_all(known)
        await _until(lambda: not any(_alive(p, ct) for p, ct in known.items()), _KILL_WAIT_S)
        survived = sum(_alive(p, ct) for p, ct in known.items())
        return StopReport(signals_sent=(), escaped_killed=killed, survived=survived)

    async def _stop_group(self, pgid: int, grace_s: float) -> StopReport:
        if pgid == os.getpgrp():
            raise ValueError(f"refusing to signal phoenix's own process group {pgid}")
        known, sent = self._known, list[str]()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            _refresh(known, pgid, self.mark)
            if not _members(pgid):
                break
            _signal_group(pgid, sig)
            sent.append(sig.name)
            wait_s = _KILL_WAIT_S if sig == signal.SIGKILL else grace_s
            await _until(lambda: not _members(pgid), wait_s)
        _refresh(known, pgid, self.mark)
        escaped = proctree.kill_all({p: ct for p, ct in known.items() if _pgid(p) != pgid})
        await _until(lambda: not _survivors(known, pgid), _KILL_WAIT_S)
        survived = len(_survivors(known, pgid))
        return StopReport(signals_sent=tuple(sent), escaped_killed=escaped, survived=survived)


async def stop_tree(
    pid: int,
    *,
    grace_s: float,
    create_time: float | None = None,
    pgid: int | None = None,
    mark: str = "",
) -> StopReport:
    """Stop the tree of ``pid`` (see :class:`ProcessTree`), e.g. one a dead Phoenix left."""
    tree = ProcessTree(pid, create_time=create_time, pgid=pgid, mark=mark)
    return await tree.stop(grace_s)


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


def create_time(pid: int) -> float | None:
    """When ``pid`` started (psutil's clock), or None when it is gone or unreadable."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None
