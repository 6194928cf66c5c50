"""Process trees that cannot hide: marks, the child subreaper, and reaping adopted zombies.

A process group and the parent chain both lose a daemon that calls ``setsid()`` and forks
twice. Its environment does not: every command Phoenix starts (the training, a model command)
carries ``PHOENIX_TREE_ID=<random>`` that all its descendants inherit, and :func:`marked`
finds every process of ours that still carries it, even one started by a Phoenix that died
(the mark is kept in ``state.json``). On Linux :func:`become_subreaper` also makes orphaned
descendants Phoenix's own children (``prctl(PR_SET_CHILD_SUBREAPER)``), so even one that
cleared its environment is found (:func:`adopted`) while Phoenix lives.

A subreaper must reap what it adopts, but never a child somebody else waits for (asyncio's
child watcher waits for the processes Phoenix started itself): every process Phoenix starts is
registered with :func:`spawned` until it is waited for, and :func:`reap` collects only the
zombies among our other children.
"""

from __future__ import annotations

__all__ = [
    "MARK_ENV",
    "adopted",
    "become_subreaper",
    "kill_all",
    "marked",
    "new_mark",
    "reap",
    "spawned",
    "tree_pids",
    "waited",
]

import contextlib
import ctypes
import os
import signal
import sys
import uuid
from collections.abc import Mapping

import psutil

MARK_ENV = "PHOENIX_TREE_ID"
_PR_SET_CHILD_SUBREAPER = 36
_CTIME_SLACK_S = 1.5  # create_time is whole boot seconds plus ticks; see supervisor

_direct: set[int] = set()  # children Phoenix started and someone awaits (asyncio watchers)
_subreaper = [False]


def new_mark() -> str:
    """A fresh mark for one command's environment."""
    return uuid.uuid4().hex


def marked(mark: str) -> dict[int, float]:
    """pid -> create_time of every live process we may read whose environment has ``mark``."""
    if not mark:
        return {}
    pids = _marked_linux(mark) if os.path.isdir("/proc/self") else _marked_any(mark)
    found: dict[int, float] = {}
    for pid in pids - {os.getpid()}:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                found[pid] = proc.create_time()
    return found


def _marked_linux(mark: str) -> set[int]:
    """Raw reads of /proc/<pid>/environ: ~10x faster than psutil (stops run on the loop)."""
    entry = f"\0{MARK_ENV}={mark}\0".encode()
    pids = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                data = fh.read()
        except OSError:  # gone, or another user's
            continue
        if entry in b"\0" + data + b"\0":
            pids.add(int(name))
    return pids


def _marked_any(mark: str) -> set[int]:
    pids = set()
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(MARK_ENV) == mark:
                pids.add(proc.pid)
    return pids


def become_subreaper() -> bool:
    """Make orphaned descendants our children (Linux); False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        ok = False
    _subreaper[0] = ok
    return ok


def spawned(pid: int) -> None:
    """``pid`` is a child that asyncio (or subprocess) waits for: never reap it here."""
    _direct.add(pid)


def waited(pid: int) -> None:
    """``pid`` has been waited for by its owner."""
    _direct.discard(pid)


def adopted() -> dict[int, float]:
    """Live orphans reparented to us as subreaper (empty when we are not one)."""
    if not _subreaper[0]:
        return {}
    found: dict[int, float] = {}
    try:
        kids = psutil.Process().children()
    except psutil.Error:
        return found
    for kid in kids:
        with contextlib.suppress(psutil.Error):
            if kid.pid not in _direct and kid.status() != psutil.STATUS_ZOMBIE:
                found[kid.pid] = kid.create_time()
    return found


def reap() -> int:
    """As subreaper, collect the exit status of adopted orphans that ended (zombies); never a
    registered child. How many were reaped."""
    if not _subreaper[0]:
        return 0
    reaped = 0
    try:
        kids = psutil.Process().children()
    except psutil.Error:
        return 0
    for kid in kids:
        if kid.pid in _direct:
            continue
        with contextlib.suppress(psutil.Error, ChildProcessError, OSError):
            if kid.status() == psutil.STATUS_ZOMBIE:
                done, _ = os.waitpid(kid.pid, os.WNOHANG)
                reaped += done == kid.pid
    return reaped


def kill_all(procs: Mapping[int, float]) -> int:
    """SIGKILL every (pid, create_time) that is still that live process; how many were."""
    killed = 0
    for pid, ctime in procs.items():
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - ctime) >= _CTIME_SLACK_S:
                continue  # the pid was recycled: not ours
            if proc.status() == psutil.STATUS_ZOMBIE or pid == os.getpid():
                continue
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return killed


def tree_pids(pid: int) -> set[int]:
    """``pid`` and its descendants, as they are now."""
    try:
        return {pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))}
    except psutil.Error:
        return {pid}
