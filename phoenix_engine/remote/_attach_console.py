"""One attached console as the engine sees it: a bounded queue of events, a bounded buffer of
raw output, and what was dropped for it.

Output arrives as raw chunks and is split into lines (and redacted, whole lines at a time)
only when the console's pump sends it, so a console that reads nothing costs the engine an
append per chunk, no more.
"""

from __future__ import annotations

__all__ = ["Console"]

import asyncio
from collections import deque

from phoenix_engine import events as ev
from phoenix_engine.core.lines import LineSplitter
from phoenix_engine.core.redact import Redactor

_LATEST = (ev.GpuStatus, ev.MetricSample)


class Console:
    """One attached console: its queue, its raw output buffer, what was dropped for it."""

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        size: int,
        raw_bytes: int,
        redactor: Redactor | None = None,
        who: str = "attach:?",
    ) -> None:
        self.writer = writer
        self.redactor = redactor or Redactor()
        self.who = who
        # Each event with the number of output chunks that arrived before it: a batch puts
        # it among the lines in the order they happened (a traceback, then the failure).
        self.queue: asyncio.Queue[tuple[int, ev.Event]] = asyncio.Queue(size)
        self.chunks_in = self.chunks_out = 0
        self.latest: dict[type[ev.Event], ev.Event] = {}
        self.raw: deque[tuple[str, bytes]] = deque()
        self.raw_size, self.raw_cap = 0, raw_bytes
        self.splitters: dict[str, LineSplitter] = {}
        self.wake = asyncio.Event()
        self.skipped = 0
        self.too_slow = False
        self.mid_line: set[str] = set()  # streams whose next bytes continue a dropped line

    def offer(self, event: ev.Event) -> None:
        """Never blocks: the engine calls this for every event."""
        if isinstance(event, _LATEST):
            self.latest[type(event)] = event
        elif not isinstance(event, ev.OutputLines):  # lines come raw, through offer_output
            try:
                self.queue.put_nowait((self.chunks_in, event))
            except asyncio.QueueFull:
                self.too_slow = True  # it missed a milestone: it must reconnect for a snapshot
        self.wake.set()

    def offer_output(self, stream: str, data: bytes) -> None:
        self.raw.append((stream, data))
        self.chunks_in += 1
        self.raw_size += len(data)
        while self.raw_size > self.raw_cap and len(self.raw) > 1:
            dropped, old = self.raw.popleft()
            self.chunks_out += 1
            self.raw_size -= len(old)
            self.skipped += old.count(b"\n")
            self.splitters.pop(dropped, None)  # its line lost its middle: cut, never spliced
            if not old.endswith(b"\n"):
                self.mid_line.add(dropped)  # and the rest of that line is never shown alone
        self.wake.set()

    def next_batch(self) -> list[ev.Event]:
        events: deque[tuple[int, ev.Event]] = deque()
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        output: list[ev.Event] = []
        while self.raw:
            while events and events[0][0] <= self.chunks_out:  # came before this chunk
                output.append(events.popleft()[1])
            stream, data = self.raw.popleft()
            self.chunks_out += 1
            if stream in self.mid_line:  # the tail of a line whose head was dropped
                end = data.find(b"\n")
                if end < 0:
                    continue
                data = data[end + 1 :]
                self.mid_line.discard(stream)
                self.skipped += 1
            lines = self.splitters.setdefault(stream, LineSplitter()).feed(data)
            lines = self.redactor.redact_lines(lines)  # whole lines: a split secret is whole
            if lines:
                output.append(ev.OutputLines(stream=stream, lines=tuple(lines)))
        output.extend(event for _, event in events)
        batch = [*self.latest.values()]
        self.latest.clear()
        if self.skipped:
            text = f"… {self.skipped} lines skipped for this console (all are in train.log)"
            batch.append(ev.OutputLines(stream="phoenix", lines=(text,)))
            self.skipped = 0
        self.raw_size = 0
        self.wake.clear()
        return batch + output
