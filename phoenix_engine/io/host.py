"""Host sensors through psutil: CPU, RAM, and free disk where the project and its state live.

Thin and blocking (``disk_usage`` is a ``statvfs`` that can stall on a network mount), so the
engine samples it with the GPU on the same tick through ``asyncio.to_thread``. Sizes are GiB,
what ``df -h`` and ``free -g`` show. A sensor that fails reads None ("n/a"), never raises.
"""

from __future__ import annotations

__all__ = ["HostReading", "HostSampler"]

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from phoenix_engine.events import HostReading  # the value lives with the events: core reads it

_GIB = 1024**3


class HostSampler:
    """``sample()`` reads CPU (since the previous call), RAM and free disk of ``paths``.

    ``ps`` is the psutil module or a stand-in with ``cpu_percent``, ``virtual_memory`` and
    ``disk_usage``. A path that does not exist yet (a state directory made later) is measured
    at its nearest existing parent, which is the filesystem it will be written to.
    """

    def __init__(self, paths: Sequence[Path], *, ps: Any = psutil) -> None:
        self._paths = tuple(paths)
        self._ps = ps
        self._read(lambda: ps.cpu_percent(interval=None))  # psutil's first call returns 0.0

    def sample(self) -> HostReading:
        ps = self._ps
        cpu = self._read(lambda: ps.cpu_percent(interval=None))
        mem = self._read(ps.virtual_memory)
        total = _gb(getattr(mem, "total", None))
        available = _gb(getattr(mem, "available", None))
        # used = total - available: psutil's own "used" leaves out reclaimable caches
        # differently on each platform; "available" is what a new allocation can get.
        used = round(total - available, 2) if total is not None and available is not None else None
        return HostReading(
            cpu_pct=float(cpu) if isinstance(cpu, int | float) else None,
            ram_used_gb=used,
            ram_total_gb=total,
            disk_free_gb={str(p): self._free(p) for p in self._paths},
        )

    def _free(self, path: Path) -> float | None:
        usage = self._read(lambda: self._ps.disk_usage(str(_existing(path))))
        return _gb(getattr(usage, "free", None))

    @staticmethod
    def _read(fn: Any) -> Any:
        try:
            return fn()
        except (OSError, psutil.Error, RuntimeError, ValueError):
            return None


def _existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _gb(value: Any) -> float | None:
    if not isinstance(value, int | float):
        return None
    return round(value / _GIB, 2)
