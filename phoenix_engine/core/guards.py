"""Guards: stop the training while the hardware is out of bounds, restart once it is back.

Pure: :class:`Guards` is fed one GPU and host sample per tick and answers with at most one
event. Three guards read one number each: the hottest GPU's temperature, the highest power
draw, the lowest free disk among the watched paths. A breach held for ``samples``
consecutive readings trips (the engine stops the run gracefully); the trip clears once the
tripped guard has been back inside its limit by ``resume_margin`` for ``samples`` readings
and no other guard is beyond its limit (the engine restarts). A missing reading (n/a, no
GPU) neither counts towards nor resets either streak.
"""

from __future__ import annotations

__all__ = ["GuardLimits", "GuardState", "Guards"]

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from phoenix_engine.events import GpuStatus, GuardCleared, GuardTripped, HostReading


class GuardState(enum.StrEnum):
    ARMED = "armed"
    TRIPPED = "tripped"


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardLimits:
    """Limits as the settings spell them: temperature 100 (or more) is off, 0 W and 0 GB off."""

    max_gpu_temp: float = 100
    max_gpu_power_w: float = 0
    min_free_disk_gb: float = 0
    samples: int = 3
    resume_margin: float = 5

    @classmethod
    def from_settings(cls, settings: Any) -> GuardLimits:
        return cls(
            max_gpu_temp=settings.max_gpu_temp,
            max_gpu_power_w=settings.max_gpu_power_w,
            min_free_disk_gb=settings.min_free_disk_gb,
            samples=settings.guard_samples,
            resume_margin=settings.guard_resume_margin,
        )

    @property
    def active(self) -> bool:
        """Whether any guard is on (the engine may skip host sampling when none is)."""
        return self.max_gpu_temp < 100 or self.max_gpu_power_w > 0 or self.min_free_disk_gb > 0


# A reading: (value, what it is) or None for n/a.
_Reading = tuple[float, str] | None


@dataclass(frozen=True, slots=True)
class _Guard:
    name: str
    unit: str
    low_is_bad: bool  # disk: too little free space is the breach
    read: Callable[[GpuStatus | None, HostReading | None], _Reading]


def _hottest(gpu: GpuStatus | None, _: HostReading | None) -> _Reading:
    known = [(g.temp_c, g) for g in (gpu.gpus if gpu else ()) if g.temp_c is not None]
    if not known:
        return None
    value, g = max(known, key=lambda kv: kv[0])
    return value, f"GPU {g.index} ({g.name})"


def _hungriest(gpu: GpuStatus | None, _: HostReading | None) -> _Reading:
    known = [(g.power_w, g) for g in (gpu.gpus if gpu else ()) if g.power_w is not None]
    if not known:
        return None
    value, g = max(known, key=lambda kv: kv[0])
    return value, f"GPU {g.index} ({g.name})"


def _fullest(_: GpuStatus | None, host: HostReading | None) -> _Reading:
    lowest = host.lowest_disk if host else None
    return (lowest[1], lowest[0]) if lowest else None


class Guards:
    """The guard state machine: ``feed`` once per sample tick."""

    def __init__(self, limits: GuardLimits) -> None:
        self.limits = limits
        self.state = GuardState.ARMED
        self.tripped: str | None = None  # the guard that tripped, while TRIPPED
        self._limits = {
            "gpu_temp": limits.max_gpu_temp,
            "gpu_power": limits.max_gpu_power_w,
            "disk": limits.min_free_disk_gb,
        }
        every = (
            (limits.max_gpu_temp < 100, _Guard("gpu_temp", "C", False, _hottest)),
            (limits.max_gpu_power_w > 0, _Guard("gpu_power", "W", False, _hungriest)),
            (limits.min_free_disk_gb > 0, _Guard("disk", "GB free", True, _fullest)),
        )
        self._guards = [guard for on, guard in every if on]
        self._streak = {g.name: 0 for g in self._guards}

    def feed(
        self, gpu: GpuStatus | None, host: HostReading | None
    ) -> GuardTripped | GuardCleared | None:
        readings = {g.name: g.read(gpu, host) for g in self._guards}
        if self.state is GuardState.ARMED:
            return self._watch(readings)
        return self._wait(readings)

    def _beyond(self, guard: _Guard, value: float) -> bool:
        limit = self._limits[guard.name]
        return value < limit if guard.low_is_bad else value > limit

    def _back(self, guard: _Guard, value: float) -> bool:
        limit, margin = self._limits[guard.name], self.limits.resume_margin
        return value >= limit + margin if guard.low_is_bad else value <= limit - margin

    def _count(self, name: str, hit: bool) -> None:
        self._streak[name] = self._streak[name] + 1 if hit else 0

    def _any_other_beyond(self, tripped: _Guard, readings: dict[str, _Reading]) -> bool:
        """Restarting into another breach would only trip again: wait for that one too."""
        for guard in self._guards:
            reading = readings[guard.name]
            if guard is not tripped and reading is not None and self._beyond(guard, reading[0]):
                return True
        return False

    def _watch(self, readings: dict[str, _Reading]) -> GuardTripped | None:
        for guard in self._guards:
            reading = readings[guard.name]
            if reading is not None:
                self._count(guard.name, self._beyond(guard, reading[0]))
        for guard in self._guards:
            reading = readings[guard.name]
            if reading is not None and self._streak[guard.name] >= self.limits.samples:
                value, what = reading
                self.state, self.tripped = GuardState.TRIPPED, guard.name
                self._streak = dict.fromkeys(self._streak, 0)
                limit = self._limits[guard.name]
                detail = (
                    f"{what}: {value:g} {guard.unit} for {self.limits.samples} samples "
                    f"(limit {limit:g} {guard.unit})"
                )
                return GuardTripped(guard=guard.name, reading=value, limit=limit, detail=detail)
        return None

    def _wait(self, readings: dict[str, _Reading]) -> GuardCleared | None:
        guard = next(g for g in self._guards if g.name == self.tripped)
        reading = readings[guard.name]
        if reading is None:
            return None
        value = reading[0]
        self._count(guard.name, self._back(guard, value))
        if self._streak[guard.name] < self.limits.samples or self._any_other_beyond(
            guard, readings
        ):
            return None
        self.state, self.tripped = GuardState.ARMED, None
        self._streak = dict.fromkeys(self._streak, 0)
        return GuardCleared(guard=guard.name, reading=value, limit=self._limits[guard.name])
