"""The machine as it is after a failure: free disk, who holds the GPU; and the waits on them.

A full disk is measured (and journaled) on the filesystems of the project, the checkpoints,
the state directory and the path the error names: below the limit (PHOENIX_MIN_FREE_DISK_GB,
or 1 GB when that guard is off) Phoenix waits, otherwise it restarts. An OOM whose GPU memory
is mostly held by processes outside the (by now stopped) training tree waits for them.
"""

from __future__ import annotations

__all__ = ["Machine"]

import asyncio
from collections.abc import Callable

from phoenix_engine import events as ev
from phoenix_engine.core.classify import Action, Classified, FailureKind
from phoenix_engine.core.settings import Settings
from phoenix_engine.io import _waits as waits

_DISK_FALLBACK_GB = 1.0  # the disk_full wait's limit when PHOENIX_MIN_FREE_DISK_GB is off


class Machine:
    """Measures for :class:`~phoenix_engine.triage_actions.FailureHandler`; follows GPU samples."""

    def __init__(
        self,
        settings: Settings,
        *,
        emit: Callable[[ev.Event], None],
        disk_usage: waits.DiskUsage | None,
        alive: Callable[[int], bool],
        monotonic: Callable[[], float],
    ) -> None:
        self.settings = settings
        self._emit, self._usage, self._alive, self._mono = emit, disk_usage, alive, monotonic
        self.gpu: ev.GpuStatus | None = None

    def measure(self, failure: Classified) -> tuple[Action, str]:
        """The table's action and advice, checked against the machine as it is now."""
        if failure.kind is FailureKind.DISK_FULL:
            return self._disk_advice(failure)
        if failure.kind is FailureKind.OOM and failure.action is Action.REPAIR:
            others = self._others(failure)
            held = sum(gib for _, gib in others)
            total = failure.capacity_gib or waits.gpu_capacity(self.gpu)
            total = total or sum(gib for _, gib in failure.holders)
            if others and total and held >= total / 2:
                who = ", ".join(f"{waits.describe_pid(p)} {g:.1f} GiB" for p, g in others[:3])
                return Action.WAIT, (
                    f"GPU memory is held by another process ({who} of {total:.1f} GiB): "
                    f"waiting up to {self.settings.max_wait_min:g} min for it to be freed, "
                    "then restarting (the batch size stays)"
                )
        return failure.action, failure.advice

    async def wait(self, failure: Classified, stop: asyncio.Event) -> str:
        """The ``wait`` action: for disk space, or for the GPU memory of others."""
        s = self.settings
        if failure.kind is FailureKind.DISK_FULL:
            need = self._disk_limit() + s.guard_resume_margin
            probe = self._disk_probe(failure)
            return await waits.wait_for_disk(
                probe, need, s.guard_samples, s.gpu_interval_sec, stop, self._mono
            )
        return await waits.wait_for_gpu(
            lambda: self._others(failure), s.max_wait_min, s.gpu_interval_sec, stop, self._mono
        )

    def _others(self, failure: Classified) -> list[tuple[int, float]]:
        return waits.gpu_others(failure.holders, self.gpu, self._alive)

    def _disk_probe(self, failure: Classified) -> waits.DiskProbe:
        s = self.settings
        dirs = waits.watched_dirs(
            s.project_dir, s.state_dir, s.checkpoint_glob, f"{failure.message} {failure.summary}"
        )
        return waits.DiskProbe(dirs, self._usage) if self._usage else waits.DiskProbe(dirs)

    def _disk_limit(self) -> float:
        return self.settings.min_free_disk_gb or _DISK_FALLBACK_GB

    def _disk_advice(self, failure: Classified) -> tuple[Action, str]:
        free = self._disk_probe(failure).free_gb()
        self._emit(ev.Notice(message=f"disk full: {waits.DiskProbe.shown(free)}"))
        low = {d: gb for d, gb in free.items() if gb < self._disk_limit()}
        if low:
            where, gb = min(low.items(), key=lambda kv: kv[1])
            return Action.WAIT, f"disk full on {where} ({gb:.1f} GB free): waiting for space"
        return Action.RESTART, (
            f"the disk was full while writing; now {waits.DiskProbe.shown(free)}: restarting"
        )
