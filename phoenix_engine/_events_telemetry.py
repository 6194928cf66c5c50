"""Events of what the run measures: GPUs, the host, metrics, guards, anomalies, progress, data.

Readings arrive many times a minute (GPU and host status, metric samples); guards, anomalies,
progress and data changes are what Phoenix concludes from them. Re-exported by
:mod:`phoenix_engine.events`.
"""

from __future__ import annotations

__all__ = [
    "Anomaly",
    "DataChanged",
    "GpuProcess",
    "GpuReading",
    "GpuStatus",
    "GuardCleared",
    "GuardTripped",
    "HostReading",
    "HostStatus",
    "MetricSample",
    "Progress",
]

from dataclasses import dataclass, field
from typing import ClassVar

from phoenix_engine._event_base import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuProcess:
    """A process holding memory on a GPU; ``used_mb`` None when NVML cannot say (n/a)."""

    pid: int
    gpu_index: int
    used_mb: float | None
    ours: bool
    kind: str  # "compute", "graphics" or "compute+graphics"


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuReading:
    """One GPU at one moment; a field the device does not report is None ("n/a")."""

    index: int
    name: str
    temp_c: float | None = None
    mem_used_mb: float | None = None
    mem_total_mb: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    util_pct: float | None = None
    processes: tuple[GpuProcess, ...] = ()  # who holds VRAM: our training or someone else


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuStatus(Event):
    """A GPU sample. ``source`` is "nvml", "simulated" or "none" (then ``reason`` says why)."""

    name: ClassVar[str] = "gpu"
    journal: ClassVar[bool] = False
    source: str
    gpus: tuple[GpuReading, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricSample(Event):
    """Training metrics parsed from one output line (as printed, not smoothed)."""

    name: ClassVar[str] = "metrics"
    journal: ClassVar[bool] = False
    step: int | None = None
    total_steps: int | None = None
    loss: float | None = None
    lr: float | None = None
    rate: float | None = None  # steps or samples per second, as printed
    grad_norm: float | None = None
    eta_s: float | None = None  # from the step rate over wall time and the total
    segment: int = 0  # counts restarts of the step count (a new loss history)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostReading:
    """One host sample; ``disk_free_gb`` maps each watched path (as given) to free GiB or None.

    A value, not an event (:class:`HostStatus` is what is told): read by ``io.host``, judged
    by ``core.guards``, shown by the console."""

    cpu_pct: float | None = None
    ram_used_gb: float | None = None
    ram_total_gb: float | None = None
    disk_free_gb: dict[str, float | None] = field(default_factory=dict)

    @property
    def lowest_disk(self) -> tuple[str, float] | None:
        """The watched path with the least free space, ignoring n/a; None when none is known."""
        known = [(gb, path) for path, gb in self.disk_free_gb.items() if gb is not None]
        if not known:
            return None
        gb, path = min(known)
        return path, gb


@dataclass(frozen=True, slots=True, kw_only=True)
class HostStatus(Event):
    """A host sample (CPU, RAM, the least free disk among the watched paths); None is n/a."""

    name: ClassVar[str] = "host"
    journal: ClassVar[bool] = False
    cpu_pct: float | None = None
    ram_used_gb: float | None = None
    ram_total_gb: float | None = None
    disk_free_gb: float | None = None
    disk_path: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardTripped(Event):
    name: ClassVar[str] = "guard_tripped"
    guard: str  # "gpu_temp", "gpu_power", "disk"
    reading: float
    limit: float
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardCleared(Event):
    name: ClassVar[str] = "guard_cleared"
    guard: str
    reading: float
    limit: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Anomaly(Event):
    """A training metric looks wrong: "nan", "spike" or "stall"."""

    name: ClassVar[str] = "anomaly"
    kind: str
    step: int | None
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress(Event):
    name: ClassVar[str] = "progress"
    step: int
    loss: str  # as printed
    rate: float | None = None  # steps per second
    eta_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DataChanged(Event):
    name: ClassVar[str] = "data_changed"
    missing: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    truncated: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
