"""The waits of the ``wait`` action and the look-ups that decide them (thin I/O, no policy).

- A full disk: the free space of the project's, the checkpoints' and the state directory's
  filesystems (and the directory the error names), measured, journaled, and waited on as the
  disk guard does: every PHOENIX_GPU_INTERVAL_SEC until each is back above the limit plus
  PHOENIX_GUARD_RESUME_MARGIN for PHOENIX_GUARD_SAMPLES readings in a row.
- GPU memory held by others: the processes an OOM message names that still live once our
  training tree is gone (it is, by then), and NVML's processes that are not ours.
"""

from __future__ import annotations

__all__ = [
    "DiskProbe",
    "checkpoint_candidates",
    "describe_pid",
    "gpu_capacity",
    "gpu_others",
    "pause",
    "pid_alive",
    "project_modules",
    "wait_for_disk",
    "wait_for_gpu",
    "watched_dirs",
]

import asyncio
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from phoenix_engine import events as ev

DiskUsage = Callable[[str], tuple[int, int, int]]  # shutil.disk_usage: total, used, free
_PATH = re.compile(r"""['"](/[^'"\n]+)['"]|(?<![\w/])(/[\w.@+/-]+)""")


def watched_dirs(project_dir: Path, state_dir: Path, checkpoint_glob: str, text: str) -> list[Path]:
    """Existing directories whose filesystems matter: project, checkpoints, state, the error's."""
    dirs = [project_dir, state_dir]
    if checkpoint_glob:
        fixed = re.split(r"[*?\[]", checkpoint_glob, maxsplit=1)[0]
        dirs.append(Path(project_dir, os.path.dirname(fixed) or "."))
    for m in _PATH.finditer(text):
        dirs.append(Path(m.group(1) or m.group(2)).parent)
    found: list[Path] = []
    for d in dirs:
        while not d.is_dir() and d != d.parent:
            d = d.parent
        if d not in found:
            found.append(d)
    return found


class DiskProbe:
    """Free space per watched directory, in GB."""

    def __init__(self, dirs: Sequence[Path], usage: DiskUsage = shutil.disk_usage) -> None:
        self.dirs = list(dirs)
        self._usage = usage

    def free_gb(self) -> dict[Path, float]:
        free: dict[Path, float] = {}
        for d in self.dirs:
            try:
                free[d] = self._usage(str(d))[2] / 1e9
            except OSError:
                continue
        return free

    @staticmethod
    def shown(free: dict[Path, float]) -> str:
        return ", ".join(f"{d} {gb:.1f} GB free" for d, gb in free.items()) or "unknown"


def gpu_others(
    holders: Sequence[tuple[int, float]],
    gpu: ev.GpuStatus | None,
    alive: Callable[[int], bool],
) -> list[tuple[int, float]]:
    """(pid, GiB) of processes outside our (by now stopped) training tree holding GPU memory."""
    me = os.getpid()
    others = {pid: gib for pid, gib in holders if pid != me and alive(pid)}
    for reading in gpu.gpus if gpu is not None else ():
        for proc in reading.processes:
            if not proc.ours and proc.pid != me and proc.used_mb is not None:
                others.setdefault(proc.pid, proc.used_mb / 1024)
    return sorted(others.items(), key=lambda kv: -kv[1])


def gpu_capacity(gpu: ev.GpuStatus | None) -> float | None:
    totals = [g.mem_total_mb for g in (gpu.gpus if gpu else ()) if g.mem_total_mb]
    return max(totals) / 1024 if totals else None


def describe_pid(pid: int) -> str:
    """``PID 4242 (python serve.py)``: the program and its script, never its arguments (a
    command line may carry a token)."""
    try:
        proc = psutil.Process(pid)
        argv = proc.cmdline()
        name = proc.name()
    except psutil.Error:
        return f"PID {pid}"
    script = next((os.path.basename(a) for a in argv[1:2] if not a.startswith("-")), "")
    return f"PID {pid} ({' '.join(x for x in (name, script) if x)[:60]})"


def pid_alive(pid: int) -> bool:
    return psutil.pid_exists(pid)


def project_modules(project_dir: Path) -> frozenset[str]:
    """Top-level module names the project itself provides (its .py files and folders)."""
    try:
        entries = os.listdir(project_dir)
    except OSError:
        return frozenset()
    names = {e[:-3] for e in entries if e.endswith(".py")}
    names |= {e for e in entries if not e.startswith(".") and (project_dir / e).is_dir()}
    return frozenset(names)


def checkpoint_candidates(project_dir: Path, pattern: str) -> list[Path]:
    """Every match of the checkpoint glob (complete or not), newest first by name or mtime."""
    from phoenix_engine.io.checkpoints import candidates

    return candidates(project_dir, pattern) if pattern else []


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep unless a stop comes first; True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def wait_for_disk(
    probe: DiskProbe,
    need_gb: float,
    samples: int,
    interval_s: float,
    stop: asyncio.Event,
    monotonic: Callable[[], float],
) -> str:
    """Until every watched filesystem has ``need_gb`` free for ``samples`` readings in a row."""
    good, started = 0, monotonic()
    while good < samples:
        if await pause(stop, interval_s):
            return "stopped while waiting for disk space"
        free = probe.free_gb()
        good = good + 1 if free and min(free.values()) >= need_gb else 0
    waited = (monotonic() - started) / 60
    return f"disk space is back ({DiskProbe.shown(probe.free_gb())}) after {waited:.1f} min"


async def wait_for_gpu(
    others: Callable[[], list[tuple[int, float]]],
    max_min: float,
    interval_s: float,
    stop: asyncio.Event,
    monotonic: Callable[[], float],
) -> str:
    """Until the other processes holding GPU memory are gone, at most ``max_min`` minutes."""
    deadline = monotonic() + max_min * 60
    while monotonic() < deadline:
        if not others():
            return "the other processes freed the GPU memory: restart"
        if await pause(stop, interval_s):
            return "stopped while waiting for GPU memory"
    return f"waited {max_min:g} min (PHOENIX_MAX_WAIT_MIN): restarting anyway"
