"""The unfinished line of the training's output, for a live progress bar in the log pane.

The engine emits whole lines only, so a tqdm bar that rewrites itself with ``\\r`` for an
hour would stay invisible until its final newline. :class:`ProgressTap` is an engine output
hook (raw chunks, known secrets already masked) that remembers, per stream, the bytes after
the last newline: one ``rfind`` per chunk. The console decodes it at most once per frame and
shows the segment after the last ``\\r`` as a live line, replaced in place until the real
line arrives.
"""

from __future__ import annotations

__all__ = ["ProgressTap", "clean_partial"]

import codecs

from phoenix_engine import events as ev
from phoenix_engine.core.lines import strip_control

_KEEP = 4096  # bytes of an unfinished line kept; a bar is far shorter


def clean_partial(data: bytes) -> str:
    """What a terminal shows of an unfinished line: the last non-empty ``\\r`` segment."""
    text = codecs.decode(data, "utf-8", "replace")
    shown = [seg for seg in text.split("\r") if seg.strip()]
    return strip_control(shown[-1]).rstrip() if shown else ""


class ProgressTap:
    """``feed`` is the engine's output hook and ``emit`` an event sink (so that a process's
    end resets it in order with its output); ``partial`` is what the stream written to last
    left unfinished. Not its start: a child's first output may arrive before that event."""

    def __init__(self) -> None:
        self._pending: dict[str, bytes] = {}
        self._latest = ""  # the stream written to last
        self.version = 0  # bumped on every change, so a frame decodes only when needed

    def feed(self, stream: str, data: bytes) -> None:
        cut = data.rfind(b"\n")
        before = self._pending.get(stream, b"")
        if cut >= 0:
            tail = data[cut + 1 :]
        else:
            tail = before + data
            if len(tail) > _KEEP:
                tail = tail[-_KEEP:]
        if tail or before:
            self._pending[stream] = tail
            self._latest = stream
            self.version += 1

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.ProcessExited):  # its output is all in: the rest was flushed
            self.reset()

    def reset(self) -> None:
        """A process ended: its unfinished line was flushed as a line, or is gone."""
        if self._pending:
            self._pending.clear()
            self.version += 1

    def partial(self) -> bytes:
        """The unfinished bytes of the stream written to last (may be empty)."""
        return self._pending.get(self._latest, b"")
