"""The engine's eyes: the sampling tick (GPU, host, guards, stalls) and the metric watch.

Readings become events; the engine only learns three things from here: a guard tripped (stop
the training gracefully), the guards cleared (restart), and a NaN/inf loss appeared (act on
``PHOENIX_NAN_ACTION``). Lines are parsed only when a chunk could hold a metric, so a log
flood without metrics costs one substring search per chunk.
"""

from __future__ import annotations

__all__ = ["HintedLines", "Telemetry"]

import asyncio
import re
import time
from collections.abc import Callable, Sequence

from phoenix_engine import events as ev
from phoenix_engine.core._hinted import HintedLines
from phoenix_engine.core.anomaly import Watch
from phoenix_engine.core.guards import GuardLimits, Guards, GuardState
from phoenix_engine.core.readings import read_line
from phoenix_engine.core.settings import Settings
from phoenix_engine.io.gpu import GpuSampler
from phoenix_engine.io.host import HostReading, HostSampler

_SAMPLE_EVERY_S = 0.1  # metric samples are latest-value: at most ten a second leave
# At most this many of the lines handed over at once are parsed, plus every NaN/inf line.
PARSE_BUDGET = 16


def _within_budget(lines: Sequence[str]) -> Sequence[str]:
    if len(lines) <= PARSE_BUDGET:
        return lines
    stride = -(-len(lines) // PARSE_BUDGET)
    joined = "\n".join(lines)  # one search of the whole read, not four per line
    if not any(word in joined for word in ("nan", "NaN", "inf", "Inf")):
        keep = [lines[i] for i in range(0, len(lines), stride)]
    else:
        keep = [
            line
            for i, line in enumerate(lines)
            if i % stride == 0 or "nan" in line or "NaN" in line or "inf" in line or "Inf" in line
        ]
    if keep[-1] is not lines[-1]:
        keep.append(lines[-1])  # the newest value always counts
    return keep


class Telemetry:
    """Owned by the engine for one run; ``run()`` is its tick task."""

    def __init__(
        self,
        settings: Settings,
        *,
        emit: Callable[[ev.Event], None],
        gpu: GpuSampler | None,
        host: HostSampler | None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._emit = emit
        self._gpu, self._host = gpu, host
        self._mono = monotonic
        self.guards = Guards(GuardLimits.from_settings(settings))
        self.watch = Watch(stall_s=settings.stall_min * 60, notify_steps=settings.notify_steps)
        self.tripped = asyncio.Event()
        self.cleared = asyncio.Event()
        self._loss_re = re.compile(settings.loss_regex) if settings.loss_regex else None
        self._step_re = re.compile(settings.step_regex) if settings.step_regex else None
        self._always_parse = bool(self._loss_re or self._step_re)
        self.last_output_at = 0.0
        self._held: ev.MetricSample | None = None  # the newest sample not yet emitted
        self._sent_at = float("-inf")

    def lines_for(self) -> HintedLines:
        """A line finder for one output stream of one run."""
        return HintedLines(every_line=self._always_parse, clock=self._mono)

    # --- metrics ------------------------------------------------------------------------------

    def on_lines(self, lines: Sequence[str]) -> list[ev.Anomaly]:
        """Parse metric lines; emit samples, anomalies and progress; return NaN anomalies."""
        found: list[ev.Anomaly] = []
        now = self._mono()
        for line in _within_budget(lines):
            reading = read_line(line, self._loss_re, self._step_re)
            if reading is None:
                continue
            segment = self.watch.segment
            events = self.watch.feed(
                reading.sample, reading.raw_loss, now, bar=reading.bar, alarm=reading.alarm
            )
            if self.watch.segment != segment:  # journaled, for whoever reports on the night
                self._emit(
                    ev.Notice(
                        message=f"the step count went back to {reading.sample.step}: a new loss "
                        f"history begins (segment {self.watch.segment + 1})"
                    )
                )
            if self.watch.sample is not None:
                self._hold(self.watch.sample, now)
            for event in events:
                self._emit(event)
                if isinstance(event, ev.Anomaly) and event.kind == "nan":
                    found.append(event)
        return found

    def _hold(self, sample: ev.MetricSample, now: float) -> None:
        """Emit at most ten samples a second; the watch above still sees every one."""
        self._held = sample
        if now - self._sent_at >= _SAMPLE_EVERY_S:
            self.flush_sample()

    def flush_sample(self) -> None:
        if self._held is not None:
            self._emit(self._held)
            self._held = None
            self._sent_at = self._mono()

    def loss_history_text(self, last: int = 60) -> str:
        """This segment's losses for a ``diverged`` repair prompt; rows without a step are
        listed in order on one line, never as ``step ?`` rows."""
        rows = self.watch.loss_history()[-last:]
        stepped = [f"step {step}: {loss:g}" for step, loss in rows if step is not None]
        if stepped:
            body = "\n".join(stepped)
        elif rows:
            body = "in order, steps unknown: " + ", ".join(f"{loss:g}" for _, loss in rows)
        else:
            return ""
        return "Recent training losses (oldest first):\n" + body

    # --- the tick -----------------------------------------------------------------------------

    @property
    def guarded(self) -> bool:
        return self.guards.state is GuardState.TRIPPED

    async def run(self) -> None:
        """Sample every PHOENIX_GPU_INTERVAL_SEC until cancelled; never raises."""
        while True:
            gpu = await self._sample_gpu()
            host = await self._sample_host()
            verdict = self.guards.feed(gpu, host)
            if isinstance(verdict, ev.GuardTripped):
                self.cleared.clear()
                self.tripped.set()
                self._emit(verdict)
            elif isinstance(verdict, ev.GuardCleared):
                self.tripped.clear()
                self.cleared.set()
                self._emit(verdict)
            self.flush_sample()
            waiting = self.watch.flush()
            if waiting is not None:
                self._emit(waiting)
            stall = self.watch.check_stall(self._mono(), self.last_output_at or None)
            if stall is not None:
                self._emit(stall)
            await asyncio.sleep(self.settings.gpu_interval_sec)

    async def _sample_gpu(self) -> ev.GpuStatus | None:
        if self._gpu is None:
            return None
        try:
            status = await asyncio.to_thread(self._gpu.sample)
        except Exception as exc:  # a sensor failure is shown, never fatal
            status = ev.GpuStatus(source="none", reason=f"GPU sampling failed: {exc}")
        self._emit(status)
        return status

    async def _sample_host(self) -> HostReading | None:
        if self._host is None:
            return None
        try:
            reading = await asyncio.to_thread(self._host.sample)
        except Exception as exc:
            self._emit(ev.Notice(message=f"host sampling failed: {exc}"))
            return None
        disk = reading.lowest_disk
        self._emit(
            ev.HostStatus(
                cpu_pct=reading.cpu_pct,
                ram_used_gb=reading.ram_used_gb,
                ram_total_gb=reading.ram_total_gb,
                disk_path=disk[0] if disk else "",
                disk_free_gb=disk[1] if disk else None,
            )
        )
        return reading
