"""The console's event sink: cheap on the engine's side, drained by the console per frame.

``emit`` runs synchronously in the engine's loop for every event, so it only appends:
output lines go into one bounded deque (older lines past PHOENIX_LOG_LINES are dropped
before they ever reach a widget), milestones join the same deque as marked lines so the log
keeps their order, GPU samples keep only the latest, metric samples are collected for the
loss pane, and every other event is queued for the model. The console calls :meth:`drain`
10-20 times a second and writes each batch with one call.
"""

from __future__ import annotations

__all__ = ["Batch", "ConsoleSink", "Milestone"]

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from phoenix_engine import events as ev
from phoenix_engine.core.redact import redact_fields
from phoenix_tui.headless import describe

_STYLES = {"\x1b[31m": "bold red", "\x1b[32m": "bold green", "\x1b[33m": "bold yellow"}
_METRICS_KEPT = 2000  # samples held between two frames; the sparkline shows far fewer


class Milestone(str):
    """A line Phoenix itself writes into the log (a failure, a restart), with its style."""

    __slots__ = ("style",)
    style: str

    def __new__(cls, text: str, style: str) -> Milestone:
        obj = super().__new__(cls, text)
        obj.style = style
        return obj


def local_hms(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts or time.time()))


@dataclass(slots=True)
class Batch:
    lines: list[str] = field(default_factory=list)
    dropped: int = 0
    events: list[ev.Event] = field(default_factory=list)
    metrics: list[ev.MetricSample] = field(default_factory=list)
    gpu: ev.GpuStatus | None = None

    def __bool__(self) -> bool:
        return bool(self.lines or self.events or self.metrics or self.gpu)


class ConsoleSink:
    """Buffers events between frames; never blocks, never raises."""

    def __init__(
        self,
        max_lines: int,
        *,
        stamp: Callable[[float], str] = local_hms,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.max_lines = max_lines
        self._stamp = stamp
        self._redact = redact
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._count = 0  # lines added since the last drain, to count the dropped ones
        self._events: list[ev.Event] = []
        self._metrics: list[ev.MetricSample] = []
        self._gpu: ev.GpuStatus | None = None

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.OutputLines):
            self._lines.extend(event.lines)
            self._count += len(event.lines)
            return
        if isinstance(event, ev.MetricSample):
            self._metrics.append(event)
            if len(self._metrics) > _METRICS_KEPT:
                del self._metrics[: _METRICS_KEPT // 2]
            return
        if isinstance(event, ev.GpuStatus):
            self._gpu = event
            return
        event = redact_fields(event, self._redact)  # what the panes show: diffs, reasons
        self._events.append(event)
        described = describe(event)
        if described is not None:
            colour, text = described
            line = f"{self._stamp(event.ts)} phoenix: {text}".replace("\n", " ")
            self._lines.append(Milestone(self._redact(line), _STYLES.get(colour, "bold")))
            self._count += 1

    @property
    def pending_lines(self) -> int:
        """Lines (and milestones) waiting for the next drain."""
        return len(self._lines)

    def drain(self, *, lines: bool = True) -> Batch:
        """Everything since the last drain; resets the buffers. ``lines=False`` leaves the
        log lines for a later frame (still bounded: the oldest go first, and are counted)."""
        batch = Batch(events=self._events, metrics=self._metrics, gpu=self._gpu)
        if lines:
            batch.lines = list(self._lines)
            batch.dropped = max(0, self._count - len(self._lines))
            self._lines.clear()
            self._count = 0
        self._events, self._metrics, self._gpu = [], [], None
        return batch
