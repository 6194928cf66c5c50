"""Guards fed sequences of samples: breach streaks, n/a readings, margins, several guards."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import pytest

from phoenix_engine.core.guards import GuardLimits, Guards, GuardState
from phoenix_engine.events import GpuReading, GpuStatus, GuardCleared, GuardTripped, HostReading

NA = None  # a sample whose reading is n/a


def gpus(*temps: float | None, power: float | None = None) -> GpuStatus:
    return GpuStatus(
        source="nvml",
        gpus=tuple(
            GpuReading(index=i, name=f"GPU{i}", temp_c=t, power_w=power)
            for i, t in enumerate(temps)
        ),
    )


def disk(**free: float | None) -> HostReading:
    return HostReading(disk_free_gb={f"/{k}": v for k, v in free.items()})


def run(guards: Guards, samples: Sequence[tuple[GpuStatus | None, HostReading | None]]) -> str:
    """One letter per sample: . nothing, T tripped, C cleared."""
    out = ""
    for gpu, host in samples:
        event = guards.feed(gpu, host)
        out += {type(None): ".", GuardTripped: "T", GuardCleared: "C"}[type(event)]
    return out


TEMP = GuardLimits(max_gpu_temp=85, samples=3, resume_margin=5)


@pytest.mark.parametrize(
    ("temps", "expected"),
    [
        ([80, 86, 86, 86], "...T"),  # three in a row trips on the third
        ([86, 86, 84, 86, 86], "....."),  # a reading inside the limit resets the streak
        ([85, 85, 85, 85], "...."),  # at the limit is not past it
        ([86, NA, 86, NA, 86], "....T"),  # n/a neither counts nor resets
        ([NA, NA, NA, NA], "...."),  # no GPU never trips
        ([90, 90, 90, 84, 81, 80, 80, 80], "..T....C"),  # clears at limit - margin, 3 times
        ([90, 90, 90, 80, 80, 81, 80, 80, 80], "..T.....C"),  # 81 resets the clear streak
        ([90, 90, 90, 80, NA, 80, 80], "..T...C"),  # n/a while waiting changes nothing
        ([90, 90, 90, 80, 80, 80, 90, 90, 90], "..T..C..T"),  # re-armed after clearing
    ],
)
def test_temperature_sequences(temps: list[float | None], expected: str) -> None:
    samples = [(gpus(t) if t is not None else GpuStatus(source="none"), None) for t in temps]
    assert run(Guards(TEMP), samples) == expected


def test_the_hottest_gpu_counts_and_is_named() -> None:
    guards = Guards(GuardLimits(max_gpu_temp=85, samples=2))
    assert guards.feed(gpus(60, 88, None), None) is None
    event = guards.feed(gpus(61, 87, None), None)
    assert event == GuardTripped(
        guard="gpu_temp",
        reading=87,
        limit=85,
        detail="GPU 1 (GPU1): 87 C for 2 samples (limit 85 C)",
    )
    assert (guards.state, guards.tripped) == (GuardState.TRIPPED, "gpu_temp")


@pytest.mark.parametrize(
    ("limits", "expected_active"),
    [
        (GuardLimits(), False),
        (GuardLimits(max_gpu_temp=100), False),
        (GuardLimits(max_gpu_temp=150), False),
        (GuardLimits(max_gpu_temp=99), True),
        (GuardLimits(max_gpu_power_w=300), True),
        (GuardLimits(min_free_disk_gb=10), True),
    ],
)
def test_off_values_turn_guards_off(limits: GuardLimits, expected_active: bool) -> None:
    guards = Guards(limits)
    assert limits.active is expected_active
    samples = [(gpus(199, power=5000), disk(data=0.0))] * 5
    assert ("T" in run(guards, samples)) is expected_active


@pytest.mark.parametrize(
    ("powers", "expected"),
    [
        ([310, 320, 330, 300, 290, 290, 295, 294, 294, 294], "..T...C..."),
        ([310, NA, 320, 280, 330], "....."),
    ],
)
def test_power_sequences(powers: list[float | None], expected: str) -> None:
    limits = GuardLimits(max_gpu_power_w=300, samples=3, resume_margin=5)
    samples = [(gpus(50, power=p), None) for p in powers]
    assert run(Guards(limits), samples) == expected


@pytest.mark.parametrize(
    ("frees", "expected"),
    [
        # the lowest free of the watched paths; clears only above min + margin (10 + 5)
        ([(50, 9), (50, 9), (50, 8), (50, 14), (50, 15), (50, 16), (50, 20)], "..T...C"),
        ([(50, None), (9, None), (9, 50), (9, 50)], "...T"),  # n/a path ignored, other counts
        ([(None, None)] * 4, "...."),
    ],
)
def test_disk_sequences(frees: list[tuple[float | None, float | None]], expected: str) -> None:
    limits = GuardLimits(min_free_disk_gb=10, samples=3, resume_margin=5)
    samples = [(None, disk(project=a, state=b)) for a, b in frees]
    assert run(Guards(limits), samples) == expected


def test_disk_trip_names_the_fullest_path() -> None:
    guards = Guards(GuardLimits(min_free_disk_gb=10, samples=1))
    event = guards.feed(None, disk(project=40.0, state=2.5))
    assert isinstance(event, GuardTripped)
    assert (event.guard, event.reading, event.limit) == ("disk", 2.5, 10)
    assert event.detail == "/state: 2.5 GB free for 1 samples (limit 10 GB free)"


def test_clearing_waits_while_another_guard_is_past_its_limit() -> None:
    limits = GuardLimits(max_gpu_temp=85, min_free_disk_gb=10, samples=1, resume_margin=5)
    guards = Guards(limits)
    tripped = guards.feed(gpus(90), disk(data=50))
    assert isinstance(tripped, GuardTripped) and tripped.guard == "gpu_temp"
    assert guards.feed(gpus(70), disk(data=5)) is None  # cool, but the disk is now full
    assert guards.feed(gpus(70), disk(data=None)) == GuardCleared(
        guard="gpu_temp", reading=70, limit=85
    )


def test_limits_from_settings() -> None:
    settings = SimpleNamespace(
        max_gpu_temp=83,
        max_gpu_power_w=250.0,
        min_free_disk_gb=20.0,
        guard_samples=4,
        guard_resume_margin=3.0,
    )
    assert GuardLimits.from_settings(settings) == GuardLimits(
        max_gpu_temp=83, max_gpu_power_w=250, min_free_disk_gb=20, samples=4, resume_margin=3
    )
