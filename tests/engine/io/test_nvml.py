"""NvmlSampler against a fake NVML (the pynvml names it calls, raising real pynvml errors)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest
from virtual_time import VirtualTime

from phoenix_engine.core.guards import GuardLimits, Guards
from phoenix_engine.events import GpuStatus
from phoenix_engine.io.nvml import GpuProcess, NvmlSampler

MIB = 1024 * 1024
NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED


@dataclass
class Device:
    name: Any = "NVIDIA A100-SXM4-40GB"
    temps: list[int] = field(default_factory=lambda: [61])  # one per sample; the last repeats
    mem: tuple[int, int] = (10_240 * MIB, 40_960 * MIB)
    power_mw: int = 250_500
    limit_mw: int = 400_000
    util: int = 87
    compute: list[tuple[int, int | None]] = field(default_factory=list)
    graphics: list[tuple[int, int | None]] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)  # function name -> NVML error code


class FakeNvml:
    """The slice of pynvml that NvmlSampler calls; ``broken`` makes every device call fail."""

    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU

    def __init__(self, *devices: Device, init_error: int | None = None) -> None:
        self.devices = list(devices)
        self.init_error = init_error
        self.broken: int | None = None
        self.inits = self.shutdowns = self.samples = 0

    def nvmlInit(self) -> None:
        self.inits += 1
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> Device:
        return self.devices[i]

    def _check(self, dev: Device, fn: str) -> None:
        code = self.broken if self.broken is not None else dev.fail.get(fn)
        if code is not None:
            raise pynvml.NVMLError(code)

    def nvmlDeviceGetName(self, dev: Device) -> Any:
        self._check(dev, "nvmlDeviceGetName")
        self.samples += 1
        return dev.name

    def nvmlDeviceGetTemperature(self, dev: Device, sensor: int) -> int:
        self._check(dev, "nvmlDeviceGetTemperature")
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return dev.temps.pop(0) if len(dev.temps) > 1 else dev.temps[0]

    def nvmlDeviceGetMemoryInfo(self, dev: Device) -> Any:
        self._check(dev, "nvmlDeviceGetMemoryInfo")
        return SimpleNamespace(used=dev.mem[0], total=dev.mem[1], free=dev.mem[1] - dev.mem[0])

    def nvmlDeviceGetPowerUsage(self, dev: Device) -> int:
        self._check(dev, "nvmlDeviceGetPowerUsage")
        return dev.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, dev: Device) -> int:
        self._check(dev, "nvmlDeviceGetEnforcedPowerLimit")
        return dev.limit_mw

    def nvmlDeviceGetUtilizationRates(self, dev: Device) -> Any:
        self._check(dev, "nvmlDeviceGetUtilizationRates")
        return SimpleNamespace(gpu=dev.util, memory=40)

    def _procs(self, rows: list[tuple[int, int | None]]) -> list[Any]:
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in rows]

    def nvmlDeviceGetComputeRunningProcesses(self, dev: Device) -> list[Any]:
        self._check(dev, "nvmlDeviceGetComputeRunningProcesses")
        return self._procs(dev.compute)

    def nvmlDeviceGetGraphicsRunningProcesses(self, dev: Device) -> list[Any]:
        self._check(dev, "nvmlDeviceGetGraphicsRunningProcesses")
        return self._procs(dev.graphics)


def test_reads_every_field_in_display_units() -> None:
    nvml = FakeNvml(Device(), Device(name=b"Tesla T4", temps=[45]))
    status = NvmlSampler(nvml).sample()
    assert status.source == "nvml" and status.reason == ""
    a100, t4 = status.gpus
    assert (a100.index, a100.name, a100.temp_c, a100.util_pct) == (
        0,
        "NVIDIA A100-SXM4-40GB",
        61,
        87,
    )
    assert (a100.mem_used_mb, a100.mem_total_mb) == (10_240, 40_960)
    assert (a100.power_w, a100.power_limit_w) == (250.5, 400)
    assert (t4.index, t4.name, t4.temp_c) == (1, "Tesla T4", 45)


@pytest.mark.parametrize(
    ("fn", "attrs"),
    [
        ("nvmlDeviceGetTemperature", ["temp_c"]),
        ("nvmlDeviceGetMemoryInfo", ["mem_used_mb", "mem_total_mb"]),
        ("nvmlDeviceGetPowerUsage", ["power_w"]),
        ("nvmlDeviceGetEnforcedPowerLimit", ["power_limit_w"]),
        ("nvmlDeviceGetUtilizationRates", ["util_pct"]),
    ],
)
@pytest.mark.parametrize("code", [NOT_SUPPORTED, pynvml.NVML_ERROR_NO_PERMISSION])
def test_a_field_that_fails_is_na_and_the_others_still_read(
    fn: str, attrs: list[str], code: int
) -> None:
    status = NvmlSampler(FakeNvml(Device(fail={fn: code}))).sample()
    assert status.source == "nvml"
    gpu = status.gpus[0]
    for name in ("temp_c", "mem_used_mb", "mem_total_mb", "power_w", "power_limit_w", "util_pct"):
        assert (getattr(gpu, name) is None) == (name in attrs), name


def test_an_unnamed_gpu_is_called_by_its_index() -> None:
    status = NvmlSampler(FakeNvml(Device(fail={"nvmlDeviceGetName": NOT_SUPPORTED}))).sample()
    assert status.gpus[0].name == "GPU 0"


@pytest.mark.parametrize(
    ("code", "reason", "retried"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "libnvidia-ml.so.1) was not found", False),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "driver is not loaded", True),
        (pynvml.NVML_ERROR_NO_PERMISSION, "NVML could not start: Insufficient Permissions", True),
    ],
)
def test_no_driver_is_a_none_status_with_the_reason(code: int, reason: str, retried: bool) -> None:
    nvml, clock = FakeNvml(Device(), init_error=code), VirtualTime(1000.0)
    sampler = NvmlSampler(nvml, retry_s=30, clock=clock)
    first = sampler.sample()
    assert first.source == "none" and reason in first.reason and first.gpus == ()
    clock.now += 5
    assert sampler.sample() == first and nvml.inits == 1  # no re-init before retry_s
    clock.now += 30
    sampler.sample()
    assert nvml.inits == (2 if retried else 1)


def test_a_driver_without_devices_says_so() -> None:
    status = NvmlSampler(FakeNvml()).sample()
    assert status == GpuStatus(
        source="none", reason="no NVIDIA GPU: the driver is loaded but reports no device"
    )


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (pynvml.NVML_ERROR_GPU_IS_LOST, "NVIDIA driver lost: GPU is lost"),
        (pynvml.NVML_ERROR_UNKNOWN, "no GPU answered any query (Unknown Error)"),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "NVIDIA driver lost: Driver Not Loaded"),
    ],
)
def test_driver_lost_mid_run_then_back(code: int, reason: str) -> None:
    nvml, clock = FakeNvml(Device()), VirtualTime(1000.0)
    sampler = NvmlSampler(nvml, retry_s=30, clock=clock)
    assert sampler.sample().source == "nvml"
    nvml.broken = code
    lost = sampler.sample()
    assert lost.source == "none" and reason in lost.reason and "retrying every 30 s" in lost.reason
    assert nvml.shutdowns == 1 and sampler.last_processes == {}
    nvml.broken = None  # the driver came back, but the retry waits for its interval
    clock.now += 10
    assert sampler.sample().source == "none" and nvml.inits == 1
    clock.now += 21
    back = sampler.sample()
    assert back.source == "nvml" and back.gpus[0].temp_c == 61 and nvml.inits == 2


def test_one_lost_device_among_several_stops_the_sample() -> None:
    good, bad = Device(), Device(fail={"nvmlDeviceGetPowerUsage": pynvml.NVML_ERROR_GPU_IS_LOST})
    status = NvmlSampler(FakeNvml(good, bad)).sample()
    assert status.source == "none" and "GPU is lost" in status.reason


def test_every_field_unsupported_is_not_a_lost_driver() -> None:
    fns = [n for n in dir(FakeNvml) if n.startswith("nvmlDeviceGet") and "Count" not in n]
    dev = Device(fail=dict.fromkeys(fns, NOT_SUPPORTED))
    status = NvmlSampler(FakeNvml(dev)).sample()
    assert status.source == "nvml" and status.gpus[0].temp_c is None


def test_processes_marked_ours_or_someone_elses() -> None:
    dev = Device(
        compute=[(4242, 2048 * MIB), (777, None), (99, 512 * MIB)],
        graphics=[(99, 1024 * MIB), (5, 16 * MIB)],
    )
    sampler = NvmlSampler(FakeNvml(dev, Device()), our_pids=lambda: {4242, 5})
    status = sampler.sample()
    assert [g.processes for g in status.gpus] == [sampler.last_processes[0], ()]
    assert sampler.last_processes == {
        0: (
            GpuProcess(pid=5, gpu_index=0, used_mb=16, ours=True, kind="graphics"),
            GpuProcess(pid=99, gpu_index=0, used_mb=1024, ours=False, kind="compute+graphics"),
            GpuProcess(pid=777, gpu_index=0, used_mb=None, ours=False, kind="compute"),
            GpuProcess(pid=4242, gpu_index=0, used_mb=2048, ours=True, kind="compute"),
        ),
        1: (),
    }


def test_process_listing_refused_leaves_the_readings() -> None:
    denied = pynvml.NVML_ERROR_NO_PERMISSION
    dev = Device(
        compute=[(1, None)],
        fail={
            "nvmlDeviceGetComputeRunningProcesses": denied,
            "nvmlDeviceGetGraphicsRunningProcesses": NOT_SUPPORTED,
        },
    )
    sampler = NvmlSampler(FakeNvml(dev))
    assert sampler.sample().gpus[0].temp_c == 61
    assert sampler.last_processes == {0: ()}


def test_close_shuts_down_and_a_later_sample_starts_again() -> None:
    nvml = FakeNvml(Device())
    sampler = NvmlSampler(nvml)
    sampler.sample()
    sampler.sample()
    sampler.close()
    sampler.close()
    assert (nvml.inits, nvml.shutdowns) == (1, 1)
    assert sampler.sample().source == "nvml" and nvml.inits == 2


def test_temperature_rising_past_the_limit_trips_the_guard() -> None:
    sampler = NvmlSampler(FakeNvml(Device(temps=[70, 80, 86, 88, 90, 91, 70])))
    guards = Guards(GuardLimits(max_gpu_temp=85, samples=3, resume_margin=5))
    events = [guards.feed(sampler.sample(), None) for _ in range(7)]
    assert [e and e.name for e in events] == [None] * 4 + ["guard_tripped", None, None]
    assert events[4] is not None and events[4].reading == 90


def test_without_the_library_the_reason_says_so() -> None:
    code = (
        "import sys; sys.modules['pynvml'] = None\n"
        "from phoenix_engine.io.nvml import NvmlSampler\n"
        "s = NvmlSampler(); print(s.sample().reason); print(s.sample().reason)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.count("nvidia-ml-py is not installed") == 2


def test_the_real_library_never_raises() -> None:
    """On a machine without a driver (CI) this is the "none" path through real pynvml."""
    sampler = NvmlSampler()
    status = sampler.sample()
    sampler.close()
    assert (status.source, bool(status.reason)) in {("none", True), ("nvml", False)}


@pytest.mark.gpu
@pytest.mark.skipif(
    os.environ.get("PHOENIX_TEST_GPU") != "1",
    reason="needs an NVIDIA GPU and driver; set PHOENIX_TEST_GPU=1 to run it",
)
def test_real_gpu_end_to_end() -> None:
    sampler = NvmlSampler(our_pids=lambda: {os.getpid()})
    try:
        first = sampler.sample()
        assert first.source == "nvml", first.reason
        assert first.gpus and all(g.name for g in first.gpus)
        for gpu in first.gpus:
            assert gpu.mem_total_mb is not None and gpu.mem_total_mb > 0
            assert gpu.temp_c is None or 0 < gpu.temp_c < 130
        assert set(sampler.last_processes) == {g.index for g in first.gpus}
        assert sampler.sample().source == "nvml"
    finally:
        sampler.close()
    assert sampler.sample().source == "nvml"  # starts again after close
    sampler.close()
