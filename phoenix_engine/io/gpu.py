"""GPU samplers: the seam between the engine and whatever reads the sensors.

A sampler's ``sample()`` is blocking (NVML calls are), so the engine calls it through
``asyncio.to_thread``. ``NoGpu`` explains why there is nothing to read; ``SimulatedGpu`` is
the demo's clearly labelled stand-in.
"""

from __future__ import annotations

__all__ = ["GpuSampler", "NoGpu", "SimulatedGpu"]

import math
import time
from collections.abc import Callable
from typing import Protocol

from phoenix_engine.events import GpuProcess, GpuReading, GpuStatus


class GpuSampler(Protocol):
    def sample(self) -> GpuStatus: ...


class NoGpu:
    """No NVIDIA GPU to read, and why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def sample(self) -> GpuStatus:
        return GpuStatus(source="none", reason=self.reason)


class SimulatedGpu:
    """A made-up 24 GB card whose readings drift: for the demo only, labelled as such.

    ``pids`` names the training's processes: with none the card idles (no utilisation,
    little power, cooling down), as a real card would; with some, the first holds its memory.
    Without ``pids`` it is always busy, and nobody is named.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        pids: Callable[[], set[int]] | None = None,
    ) -> None:
        self._clock = clock
        self._start = clock()
        self.pids = pids

    def sample(self) -> GpuStatus:
        t = self._clock() - self._start
        pids = self.pids() if self.pids is not None else None
        if pids is not None and not pids:
            idle = GpuReading(
                index=0,
                name="Simulated GPU (demo, not a real device)",
                temp_c=round(38 + 2 * math.sin(t / 11.0), 1),
                mem_used_mb=0,
                mem_total_mb=24_576,
                power_w=28,
                power_limit_w=450,
                util_pct=0,
            )
            return GpuStatus(source="simulated", gpus=(idle,))
        wave = (math.sin(t / 7.0) + 1) / 2
        used = round(14_000 + 6_000 * wave)
        procs: tuple[GpuProcess, ...] = ()
        if pids:
            procs = (
                GpuProcess(pid=min(pids), gpu_index=0, used_mb=used, ours=True, kind="compute"),
            )
        reading = GpuReading(
            index=0,
            name="Simulated GPU (demo, not a real device)",
            temp_c=round(58 + 12 * wave, 1),
            mem_used_mb=used,
            mem_total_mb=24_576,
            power_w=round(210 + 120 * wave),
            power_limit_w=450,
            util_pct=round(70 + 25 * wave),
            processes=procs,
        )
        return GpuStatus(source="simulated", gpus=(reading,))
