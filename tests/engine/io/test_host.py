"""HostSampler against a fake psutil, and once against the real one."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from phoenix_engine.io.host import HostReading, HostSampler

GIB = 1024**3


class FakePsutil:
    def __init__(
        self,
        *,
        cpu: list[float] | None = None,
        mem: tuple[int, int] | None = (64 * GIB, 48 * GIB),
        free: dict[str, int] | None = None,
        fail: tuple[str, ...] = (),
    ) -> None:
        self.cpu = cpu if cpu is not None else [0.0, 37.5]
        self.mem, self.free, self.fail = mem, free or {}, fail
        self.disk_calls: list[str] = []

    def _check(self, name: str) -> None:
        if name in self.fail:
            raise PermissionError(f"{name} refused")

    def cpu_percent(self, interval: float | None = None) -> float:
        assert interval is None  # never blocks
        self._check("cpu")
        return self.cpu.pop(0)

    def virtual_memory(self) -> Any:
        self._check("mem")
        total, available = self.mem or (0, 0)
        return SimpleNamespace(total=total, available=available, used=1)

    def disk_usage(self, path: str) -> Any:
        self.disk_calls.append(path)
        self._check("disk")
        if path not in self.free:
            raise FileNotFoundError(path)
        return SimpleNamespace(free=self.free[path], total=1000 * GIB)


def test_reading_in_gib(tmp_path: Path) -> None:
    data, state = tmp_path / "data", tmp_path / ".phoenix_cli"
    data.mkdir()
    state.mkdir()
    ps = FakePsutil(free={str(data): 120 * GIB, str(state): GIB // 2})
    reading = HostSampler([data, state], ps=ps).sample()
    assert reading == HostReading(
        cpu_pct=37.5,
        ram_used_gb=16.0,
        ram_total_gb=64.0,
        disk_free_gb={str(data): 120.0, str(state): 0.5},
    )
    assert reading.lowest_disk == (str(state), 0.5)


@pytest.mark.parametrize(
    ("fail", "none_fields"),
    [
        (("cpu",), {"cpu_pct"}),
        (("mem",), {"ram_used_gb", "ram_total_gb"}),
        (("disk",), {"disk"}),
        (("cpu", "mem", "disk"), {"cpu_pct", "ram_used_gb", "ram_total_gb", "disk"}),
    ],
)
def test_a_failing_sensor_is_na(
    tmp_path: Path, fail: tuple[str, ...], none_fields: set[str]
) -> None:
    ps = FakePsutil(free={str(tmp_path): 5 * GIB}, fail=fail)
    reading = HostSampler([tmp_path], ps=ps).sample()
    assert (reading.cpu_pct is None) == ("cpu_pct" in none_fields)
    assert (reading.ram_used_gb is None) == ("ram_used_gb" in none_fields)
    assert (reading.ram_total_gb is None) == ("ram_total_gb" in none_fields)
    assert (reading.disk_free_gb[str(tmp_path)] is None) == ("disk" in none_fields)
    if "disk" in none_fields:
        assert reading.lowest_disk is None


def test_a_path_not_made_yet_is_measured_where_it_will_be(tmp_path: Path) -> None:
    later = tmp_path / ".phoenix_cli" / "deep"
    ps = FakePsutil(free={str(tmp_path): 7 * GIB})
    reading = HostSampler([later], ps=ps).sample()
    assert ps.disk_calls == [str(tmp_path)]
    assert reading.disk_free_gb == {str(later): 7.0}


def test_the_first_cpu_reading_is_not_the_meaningless_zero() -> None:
    ps = FakePsutil(cpu=[0.0, 12.0, 90.0])
    sampler = HostSampler([], ps=ps)
    assert [sampler.sample().cpu_pct, sampler.sample().cpu_pct] == [12.0, 90.0]


def test_real_psutil(tmp_path: Path) -> None:
    reading = HostSampler([tmp_path, tmp_path / "missing"]).sample()
    assert reading.cpu_pct is not None and 0 <= reading.cpu_pct <= 100 * (psutil.cpu_count() or 1)
    assert reading.ram_total_gb and 0 < (reading.ram_used_gb or 0) <= reading.ram_total_gb
    free = reading.disk_free_gb
    assert free[str(tmp_path)] == free[str(tmp_path / "missing")]
    assert (free[str(tmp_path)] or 0) > 0
