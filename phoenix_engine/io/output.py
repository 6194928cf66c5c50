"""Where the training's output goes: the raw log (as tee would) and the tail kept for diagnosis.

The raw log receives whole lines only, per stream, so stdout and stderr never splice inside a
line; a partial line is held until its newline (or until it grows past ``hold_bytes``, for
progress bars that never end a line). Known secret values are masked on the way.
"""

from __future__ import annotations

__all__ = ["OutputTail", "TrainLog"]

from collections import deque
from collections.abc import Callable

from phoenix_engine.core.lines import LineSplitter, strip_control
from phoenix_engine.core.redact import Redactor
from phoenix_engine.io.journal import OnceIn, RotatingFile


class TrainLog:
    """Writes complete lines of each stream to ``train.log``; never raises on a write error."""

    def __init__(
        self,
        file: RotatingFile | None,
        *,
        redactor: Redactor,
        on_error: Callable[[str], None],
        hold_bytes: int = 65536,
    ) -> None:
        self._file = file
        self._redactor = redactor
        self._on_error = on_error
        self._hold = hold_bytes
        self._pending: dict[str, bytes] = {}
        self._may_report = OnceIn()
        self.written = 0  # bytes written to the file by this run

    def write(self, stream: str, data: bytes) -> bytes:
        """Log what ``data`` completes; return those (masked) bytes for echoing."""
        buf = self._pending.pop(stream, b"") + data
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            if len(buf) < self._hold:
                self._pending[stream] = buf
                return b""
            cut = len(buf)
        if cut < len(buf):
            self._pending[stream] = buf[cut:]
        out = self._redactor.redact_known_bytes(buf[:cut])
        self._write(out)
        return out

    def flush(self) -> bytes:
        """End of the process: log the unfinished lines of both streams."""
        parts = [self._pending[s] for s in sorted(self._pending)]
        self._pending.clear()
        out = self._redactor.redact_known_bytes(b"\n".join(parts) + b"\n") if parts else b""
        if out:
            self._write(out)
        return out

    def _write(self, data: bytes) -> None:
        if self._file is None:
            return
        try:
            self._file.write(data)
            self.written += len(data)
        except OSError as exc:
            if self._may_report():  # one notice per outage, not one per chunk
                self._on_error(f"cannot write train.log: {exc.strerror or exc}")


class OutputTail:
    """The most recent output chunks (bounded in bytes), turned into lines on demand."""

    def __init__(self, max_bytes: int = 1 << 20) -> None:
        self._chunks: deque[tuple[str, bytes]] = deque()
        self._size = 0
        self._max = max_bytes

    def add(self, stream: str, data: bytes) -> None:
        self._chunks.append((stream, data))
        self._size += len(data)
        while self._size > self._max and len(self._chunks) > 1:
            _, old = self._chunks.popleft()
            self._size -= len(old)

    def clear(self) -> None:
        self._chunks.clear()
        self._size = 0

    def lines(self, n: int) -> list[str]:
        """The last ``n`` lines, both streams in arrival order, ``\\r`` applied."""
        splitters: dict[str, LineSplitter] = {}
        out: list[str] = []
        for stream, data in self._chunks:
            splitter = splitters.setdefault(stream, LineSplitter())
            out.extend(splitter.feed(data))
        for splitter in splitters.values():
            out.extend(splitter.flush())
        return out[-n:] if n > 0 else []

    def last_line(self) -> str:
        """The last line with text, without terminal control sequences (a Rich bar's)."""
        for line in reversed(self.lines(50)):
            shown = strip_control(line)
            if shown.strip():
                return shown
        return ""
