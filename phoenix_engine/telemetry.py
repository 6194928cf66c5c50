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
from phoenix_engine.anomaly import Watch
from phoenix_engine.config import Settings
from phoenix_engine.gpu import GpuSampler
from phoenix_engine.guards import GuardLimits, Guards, GuardState
from phoenix_engine.host import HostReading, HostSampler
from phoenix_engine.metrics import parse_line_raw

# "loss"/"Loss" and "step"/"Step": one memmem each (an all-caps LOSS needs PHOENIX_LOSS_REGEX).
_HINTS = (b"oss", b"tep")
_MAX_LINE = 8192
_SAMPLE_EVERY_S = 0.1  # metric samples are latest-value: at most ten a second leave
# A trainer prints a metric line a step; one read with more than this many is a flood,
# and then a stride of them is parsed, plus every line that could hold a NaN or an inf.
_PARSE_BUDGET = 16


def _within_budget(lines: Sequence[str]) -> Sequence[str]:
    if len(lines) <= _PARSE_BUDGET:
        return lines
    stride = -(-len(lines) // _PARSE_BUDGET)
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


class HintedLines:
    """The lines of one stream that may carry a metric, found without splitting the rest.

    Only complete lines are returned, ``\r`` applied (the last frame of a progress bar); a
    bar that redraws with ``\r`` and no newline yields its newest finished frame each time,
    so tqdm postfixes are read while the bar runs. ``every_line`` (a custom regex is set)
    returns every line.
    """

    def __init__(self, *, every_line: bool = False) -> None:
        self._pending = b""
        self._every = every_line

    def feed(self, data: bytes) -> list[str]:
        buf = self._pending + data
        cut = buf.rfind(b"\n") + 1
        complete, rest = buf[:cut], buf[cut:]
        frame = b""
        bar = rest.rfind(b"\r")
        if bar > 0:  # a redrawn line: its newest finished frame, then keep only what follows
            frame = rest[rest.rfind(b"\r", 0, bar) + 1 : bar]
            rest = rest[bar + 1 :]
        self._pending = rest[-_MAX_LINE:]
        lines = self._lines(complete) if complete else []
        if frame and (self._every or any(h in frame for h in _HINTS)):
            lines.append(_text(frame))
        return lines

    def flush(self) -> list[str]:
        """The unfinished last line, at the end of the process."""
        rest, self._pending = self._pending, b""
        if rest and (self._every or any(h in rest for h in _HINTS)):
            return [_text(rest)]
        return []

    def _lines(self, block: bytes) -> list[str]:
        if self._every:
            return [_text(line) for line in block.split(b"\n")[:-1]]
        spans: set[tuple[int, int]] = set()
        for hint in _HINTS:
            at = block.find(hint)
            while at != -1:
                start = block.rfind(b"\n", 0, at) + 1
                end = block.find(b"\n", at)
                spans.add((start, end))
                at = block.find(hint, end)
        return [_text(block[a:b]) for a, b in sorted(spans)]


def _text(line: bytes) -> str:
    line = line.rstrip(b"\r")
    bar = line.rfind(b"\r")
    if bar >= 0:
        line = line[bar + 1 :]
    return line[:_MAX_LINE].decode("utf-8", "replace")


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
        return HintedLines(every_line=self._always_parse)

    # --- metrics ------------------------------------------------------------------------------

    def on_lines(self, lines: Sequence[str]) -> list[ev.Anomaly]:
        """Parse metric lines; emit samples, anomalies and progress; return NaN anomalies."""
        found: list[ev.Anomaly] = []
        now = self._mono()
        for line in _within_budget(lines):
            parsed = parse_line_raw(line, self._loss_re, self._step_re)
            if parsed is None:
                continue
            sample, raw = parsed
            self._hold(sample, now)
            for event in self.watch.feed(sample, raw, now):
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
        rows = self.watch.loss_history()[-last:]
        if not rows:
            return ""
        body = "\n".join(f"step {step if step is not None else '?'}: {loss}" for step, loss in rows)
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
