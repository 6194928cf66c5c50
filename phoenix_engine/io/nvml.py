"""NVIDIA GPUs through NVML (nvidia-ml-py, ``import pynvml``): one :class:`GpuStatus` per call.

Owns the NVML lifecycle (init once, shutdown on close, re-init after the driver was lost) and
the rule that every field is read on its own: a field the device does not support is None
("n/a"), never an exception. No library, no driver or no GPU gives a "none" status whose
reason says which. The module is a constructor argument so tests pass a fake NVML.
``sample()`` blocks (NVML calls are ioctls): the engine calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

__all__ = ["GpuProcess", "NvmlSampler"]

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from phoenix_engine.events import GpuProcess, GpuReading, GpuStatus

_MIB = 1024 * 1024
# NVML return codes (stable C ABI values, the same in every binding).
_NOT_SUPPORTED, _DRIVER_NOT_LOADED, _LIBRARY_NOT_FOUND = 3, 9, 12
# Codes that mean the driver or a device is gone, not that one field is unsupported:
# uninitialised, driver not loaded, GPU is lost, driver/library version mismatch.
_LOST = frozenset({1, _DRIVER_NOT_LOADED, 15, 18})


class _Lost(Exception):
    """The driver or a device went away mid-sample; carries the reason shown to the user."""


class NvmlSampler:
    """Implements ``GpuSampler``; ``last_processes`` maps a GPU index to who holds its memory."""

    def __init__(
        self,
        nvml_module: Any = None,
        *,
        our_pids: Callable[[], set[int]] = set,
        retry_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nvml = nvml_module
        self._our_pids = our_pids
        self._retry_s = retry_s
        self._clock = clock
        self._lock = threading.Lock()
        self._handles: list[Any] | None = None  # set while initialised
        self._reason = ""  # why there is nothing to read
        self._permanent = False  # no library: retrying cannot help
        self._next_try = float("-inf")
        self.last_processes: dict[int, tuple[GpuProcess, ...]] = {}

    def sample(self) -> GpuStatus:
        with self._lock:
            if self._handles is None and not self._start():
                self.last_processes = {}
                return GpuStatus(source="none", reason=self._reason)
            assert self._handles is not None
            try:
                gpus, procs = self._read_all(self._handles)
            except _Lost as lost:
                self._lose(f"NVIDIA driver lost: {lost} (retrying every {self._retry_s:g} s)")
                self.last_processes = {}
                return GpuStatus(source="none", reason=self._reason)
            self.last_processes = procs
            return GpuStatus(source="nvml", gpus=gpus)

    def close(self) -> None:
        """Shut NVML down; a later ``sample()`` initialises it again."""
        with self._lock:
            if self._handles is not None:
                self._handles, self._next_try = None, float("-inf")
                self._shutdown()

    # --- lifecycle -----------------------------------------------------------------------

    def _start(self) -> bool:
        if self._permanent or self._clock() < self._next_try:
            return False
        self._next_try = self._clock() + self._retry_s
        if self._nvml is None:
            try:
                import pynvml
            except ImportError as exc:
                self._reason, self._permanent = f"nvidia-ml-py is not installed ({exc})", True
                return False
            self._nvml = pynvml
        nvml = self._nvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            self._reason = _init_reason(exc)
            self._permanent = _code(exc) == _LIBRARY_NOT_FOUND
            return False
        try:
            count = nvml.nvmlDeviceGetCount()
            handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except nvml.NVMLError as exc:
            self._lose(f"NVML cannot list the GPUs: {exc}")
            return False
        if not handles:
            self._shutdown()
            self._reason = "no NVIDIA GPU: the driver is loaded but reports no device"
            return False
        self._handles, self._reason = handles, ""
        return True

    def _lose(self, reason: str) -> None:
        self._handles, self._reason = None, reason
        self._next_try = self._clock() + self._retry_s
        self._shutdown()

    def _shutdown(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # shutting down a lost driver may fail too; nothing to do about it
            pass

    # --- reading -------------------------------------------------------------------------

    def _read_all(
        self, handles: list[Any]
    ) -> tuple[tuple[GpuReading, ...], dict[int, tuple[GpuProcess, ...]]]:
        ours = self._our_pids()
        gpus: list[GpuReading] = []
        procs: dict[int, tuple[GpuProcess, ...]] = {}
        answered, error = 0, ""
        for index, handle in enumerate(handles):
            field = _FieldReader(self._nvml, handle)
            procs[index] = field.processes(index, ours)
            gpus.append(dataclasses.replace(field.reading(index), processes=procs[index]))
            answered, error = answered + field.answered, field.error or error
        if answered == 0 and error:  # e.g. "Unknown Error" from every call
            raise _Lost(f"no GPU answered any query ({error})")
        return tuple(gpus), procs


class _FieldReader:
    """Reads one device, one field at a time; counts the fields that answered."""

    def __init__(self, nvml: Any, handle: Any) -> None:
        self.nvml, self.handle = nvml, handle
        self.answered = 0
        self.error = ""  # the last failure that was not "not supported"

    def get(self, fn: str, *args: Any) -> Any:
        try:
            value = getattr(self.nvml, fn)(self.handle, *args)
        except self.nvml.NVMLError as exc:
            if _code(exc) in _LOST:
                raise _Lost(str(exc)) from exc
            if _code(exc) != _NOT_SUPPORTED:
                self.error = str(exc)
            return None
        self.answered += 1
        return value

    def reading(self, index: int) -> GpuReading:
        name = self.get("nvmlDeviceGetName")
        if isinstance(name, bytes):  # older bindings return bytes
            name = name.decode(errors="replace")
        temp = self.get("nvmlDeviceGetTemperature", getattr(self.nvml, "NVML_TEMPERATURE_GPU", 0))
        mem = self.get("nvmlDeviceGetMemoryInfo")
        power = self.get("nvmlDeviceGetPowerUsage")
        limit = self.get("nvmlDeviceGetEnforcedPowerLimit")
        util = self.get("nvmlDeviceGetUtilizationRates")
        return GpuReading(
            index=index,
            name=name or f"GPU {index}",
            temp_c=_num(temp),
            mem_used_mb=_num(getattr(mem, "used", None), _MIB),
            mem_total_mb=_num(getattr(mem, "total", None), _MIB),
            power_w=_num(power, 1000),
            power_limit_w=_num(limit, 1000),
            util_pct=_num(getattr(util, "gpu", None)),
        )

    def processes(self, index: int, ours: set[int]) -> tuple[GpuProcess, ...]:
        seen: dict[int, tuple[str, float | None]] = {}
        for kind, fn in (
            ("compute", "nvmlDeviceGetComputeRunningProcesses"),
            ("graphics", "nvmlDeviceGetGraphicsRunningProcesses"),
        ):
            for info in self.get(fn) or ():
                pid = int(info.pid)
                used = _num(getattr(info, "usedGpuMemory", None), _MIB)
                if pid in seen:  # one process can hold both kinds of context
                    old_kind, old_used = seen[pid]
                    both = [u for u in (old_used, used) if u is not None]
                    seen[pid] = (f"{old_kind}+{kind}", max(both) if both else None)
                else:
                    seen[pid] = (kind, used)
        return tuple(
            GpuProcess(pid=pid, gpu_index=index, used_mb=used, ours=pid in ours, kind=kind)
            for pid, (kind, used) in sorted(seen.items())
        )


def _num(value: Any, divisor: float = 1) -> float | None:
    if value is None:
        return None
    try:
        return round(float(value) / divisor, 1)
    except (TypeError, ValueError):
        return None


def _code(exc: BaseException) -> int | None:
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def _init_reason(exc: BaseException) -> str:
    code = _code(exc)
    if code == _LIBRARY_NOT_FOUND:
        return "no NVIDIA driver: the NVML library (libnvidia-ml.so.1) was not found"
    if code == _DRIVER_NOT_LOADED:
        return "no NVIDIA GPU: the NVIDIA driver is not loaded"
    return f"NVML could not start: {exc}"
