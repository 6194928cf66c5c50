"""The lines of a child's raw output that may carry a metric, found without splitting the rest.

Used by :class:`phoenix_engine.io.telemetry.Telemetry` on every chunk of output, so it works on
bytes with ``find`` and decodes only the lines it returns. A flood of metric lines is read
sparingly, but a line that could report a divergence is never skipped.
"""

from __future__ import annotations

__all__ = ["HintedLines"]

import time
from collections.abc import Callable

# "loss"/"Loss", "step"/"Step", a progress bar's rate, and the words of a divergence alarm:
# one memmem each (an all-caps LOSS needs PHOENIX_LOSS_REGEX).
_HINTS = (b"oss", b"tep", b"it/s", b"s/it", b"finite", b"rad_norm")
# Lines that could report a divergence (searched in the lowered read): never skipped when a
# flood is sampled.
_ALARMS = (b"nan", b"inf", b"overflow", b"minimum")
_MAX_LINE = 8192
_MAX_ALARM_LINES = 64  # per read: a NaN flood needs its first lines, not all of them
_FLOOD_SAMPLES = 4  # lines read at evenly spaced places of a flooded read, besides the newest
_FLOOD_EVERY_S = 0.05  # a flooded read within this of the last one read: alarm lines only
_SMALL_READ = 64  # a read of at most this many lines is always read in full
_DEFER_WINDOW = 16384  # where a skipped read's newest metric line is looked for


class HintedLines:
    """The lines of one stream that may carry a metric, found without splitting the rest.

    Only complete lines are returned, ``\r`` applied (the last frame of a progress bar); a
    bar that redraws with ``\r`` and no newline yields its newest finished frame each time,
    so tqdm postfixes are read while the bar runs. ``every_line`` (a custom regex is set)
    returns every line. A read of more than ``_SMALL_READ`` lines, or more than that many in
    small reads within ``_FLOOD_EVERY_S`` (a flood: a pipe hands over 4 KiB or less at a time),
    yields a few of them, the newest metric line and every line that could report a
    divergence, in order; and within ``_FLOOD_EVERY_S`` of the last such read, only the
    divergence lines (the newest metric line waits for the next read). The rest is never cut
    out or decoded.
    """

    def __init__(
        self, *, every_line: bool = False, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._pending = b""
        self._every = every_line
        self._clock = clock
        self._read_at = float("-inf")  # the last flooded read that was read in full
        self._deferred = b""  # the newest metric line of a skipped flooded read
        self._window_at = float("-inf")  # lines seen since then (a flood of small reads)
        self._window_lines = 0

    def feed(self, data: bytes) -> list[str]:
        buf = self._pending + data if self._pending else data
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
        lines = self._take_deferred()
        self._read_at = self._window_at = float("-inf")  # the next process starts afresh
        self._window_lines = 0
        if rest and (self._every or any(h in rest for h in _HINTS)):
            lines.append(_text(rest))
        return lines

    def _take_deferred(self) -> list[str]:
        deferred, self._deferred = self._deferred, b""
        return _frames(deferred) if deferred else []

    def _lines(self, block: bytes) -> list[str]:
        if self._every:
            return [_text(line) for line in block.split(b"\n")[:-1]]
        count = block.count(b"\n")
        now = self._clock()
        if now - self._window_at >= _FLOOD_EVERY_S:
            self._window_at, self._window_lines = now, 0
        self._window_lines += count
        if count > _SMALL_READ or self._window_lines > _SMALL_READ:
            return self._flood(block)  # one large read, or many small ones in a short while
        spans: set[tuple[int, int]] = set()
        for hint in _HINTS:
            at = block.find(hint)
            while at != -1:
                start = block.rfind(b"\n", 0, at) + 1
                end = block.find(b"\n", at)
                spans.add((start, end))
                at = block.find(hint, end)
        return [text for a, b in sorted(spans) for text in _frames(block[a:b])]

    def _throttled(self) -> bool:
        return self._clock() - self._read_at < _FLOOD_EVERY_S

    def _flood(self, block: bytes) -> list[str]:
        """Metric samples leave at most ten a second anyway: read a flood sparingly."""
        alarms = _alarm_spans(block)
        if not alarms and self._throttled():
            # Skipped: only its newest metric line is kept, for freshness; looked for in its
            # last _DEFER_WINDOW bytes (the next read that is read looks at all of itself).
            cut = len(block) - _DEFER_WINDOW
            tail = block[block.find(b"\n", cut) + 1 :] if cut > 0 else block  # whole lines
            at = _newest_hint(tail)
            if at >= 0:
                self._deferred = tail[tail.rfind(b"\n", 0, at) + 1 : tail.find(b"\n", at)]
            return []
        at = _newest_hint(block)
        newest = (block.rfind(b"\n", 0, at) + 1, block.find(b"\n", at)) if at >= 0 else None
        self._read_at = self._clock()
        spans = alarms | ({newest} if newest else set())
        step = len(block) // _FLOOD_SAMPLES
        for offset in range(0, len(block) - 1, step):
            start = block.rfind(b"\n", 0, offset) + 1
            end = block.find(b"\n", offset)
            if any(h in block[start:end] for h in _HINTS):
                spans.add((start, end))
        lines = self._take_deferred()
        return lines + [text for a, b in sorted(spans) for text in _frames(block[a:b])]


def _alarm_spans(block: bytes) -> set[tuple[int, int]]:
    """The lines of ``block`` that could report a divergence (at most _MAX_ALARM_LINES).

    A lowered copy and one ``find`` per word: memchr speed, where a case-blind regex
    alternation crawls (measured: 20x slower on a 256 KiB read)."""
    spans: set[tuple[int, int]] = set()
    low = block.lower()
    for word in _ALARMS:
        at = low.find(word)
        while at != -1 and len(spans) < _MAX_ALARM_LINES:
            start = low.rfind(b"\n", 0, at) + 1
            end = low.find(b"\n", at)
            spans.add((start, end))
            if end == -1:
                break
            at = low.find(word, end)
    return spans


def _newest_hint(block: bytes) -> int:
    """Where the last hint of ``block`` is, or -1: in a flood it is almost always in the last
    complete line, so that line is looked at before the whole block is searched backwards."""
    start = block.rfind(b"\n", 0, len(block) - 1) + 1
    last = block[start:]
    if any(h in last for h in _HINTS):
        return start + max(last.rfind(h) for h in _HINTS)
    return max(block.rfind(h) for h in _HINTS)


def _frames(line: bytes) -> list[str]:
    """A line as shown (after its last ``\r``), preceded by the newest earlier frame that may
    carry a metric: a bar redrawn to step 9 and then overwritten by the Trainer's dict line
    still tells step 9."""
    shown = _text(line)
    end = line.rstrip(b"\r").rfind(b"\r")
    while end > 0:
        start = line.rfind(b"\r", 0, end) + 1
        frame = line[start:end]
        if frame.strip() and any(h in frame for h in _HINTS):
            return [frame[:_MAX_LINE].decode("utf-8", "replace"), shown]
        end = start - 1
    return [shown]


def _text(line: bytes) -> str:
    line = line.rstrip(b"\r")
    bar = line.rfind(b"\r")
    if bar >= 0:
        line = line[bar + 1 :]
    return line[:_MAX_LINE].decode("utf-8", "replace")
