"""What a console that attaches late is shown first: the run so far, replayable as events.

The attach server feeds every event and every output chunk through :class:`RunMemory`; a
console that says hello receives :meth:`RunMemory.snapshot`: the run's start (the console
shows its age), the recent journaled events with the log lines that came before each (in the
order they happened), the recent metric samples and the last GPU sample. Only the newest of
each is kept, so the memory is bounded however long the run.
"""

from __future__ import annotations

__all__ = ["RunMemory"]

from collections import deque
from collections.abc import Callable

from phoenix_engine import events as ev

_RECENT_EVENTS = 400
_RECENT_LINES = 500
_RECENT_METRICS = 200


class RunMemory:
    """The recent past of a run, for a snapshot; ``recent_lines(n)`` gives the last log lines."""

    def __init__(self, recent_lines: Callable[[int], list[str]]) -> None:
        self._recent_lines = recent_lines
        # Each recent event with the number of output lines seen before it, so that the
        # snapshot puts the events among the log lines in the order they happened.
        self._recent: deque[tuple[int, ev.Event]] = deque(maxlen=_RECENT_EVENTS)
        self._newlines = 0
        self._started: ev.Event | None = None
        self._metrics: deque[ev.Event] = deque(maxlen=_RECENT_METRICS)
        self._gpu: ev.Event | None = None

    def remember(self, event: ev.Event) -> None:
        if isinstance(event, ev.MetricSample):
            self._metrics.append(event)
        elif isinstance(event, ev.GpuStatus):
            self._gpu = event
        elif isinstance(event, ev.RunStarted):
            self._started = event
        elif event.journal:
            self._recent.append((self._newlines, event))

    def count_lines(self, data: bytes) -> None:
        self._newlines += data.count(b"\n")

    def snapshot(self, redact_lines: Callable[[list[str]], list[str]]) -> list[ev.Event]:
        """The run so far as events, the log lines (redacted) among them."""
        events: list[ev.Event] = [self._started] if self._started is not None else []
        lines = redact_lines(self._recent_lines(_RECENT_LINES))
        first = self._newlines - len(lines)  # the number of the oldest line in ``lines``
        taken = 0
        for mark, event in self._recent:  # the lines before each event, then the event
            upto = min(len(lines), max(taken, mark - first))
            if upto > taken:
                events.append(ev.OutputLines(stream="stdout", lines=tuple(lines[taken:upto])))
                taken = upto
            events.append(event)
        if taken < len(lines):
            events.append(ev.OutputLines(stream="stdout", lines=tuple(lines[taken:])))
        events += list(self._metrics)
        if self._gpu is not None:
            events.append(self._gpu)
        return events
