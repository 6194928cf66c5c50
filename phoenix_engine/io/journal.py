"""The journal (``.phoenix_cli/run.log``, JSON lines) and size-rotated log files.

Each journal line is ``{"ts": ISO-8601 UTC, "event": name, ...fields}``, redacted before it
is written. A write that fails (full disk, removed directory) never raises into the engine:
the sink reports it once through ``on_error`` so the engine can turn it into an event.
"""

from __future__ import annotations

__all__ = ["JournalSink", "OnceIn", "RotatingFile", "event_record", "iso_utc"]

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.run_summary import iso_utc
from phoenix_engine.events import Event, event_fields


class OnceIn:
    """True at most once per ``seconds``: a disk that flaps between full and not makes one
    notice per ten minutes, not one per write."""

    def __init__(self, seconds: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every, self._clock, self._last = seconds, clock, float("-inf")

    def __call__(self) -> bool:
        now = self._clock()
        if now - self._last < self._every:
            return False
        self._last = now
        return True


def event_record(event: Event, redactor: Redactor) -> dict[str, Any]:
    """The JSON object for one event, as the journal and ``--json`` print it."""
    fields = redactor.redact_obj(event_fields(event))
    assert isinstance(fields, dict)
    return {"ts": iso_utc(event.ts), "event": event.name, **fields}


class RotatingFile:
    """An append-only binary file rotated to ``.1`` ... ``.N`` past ``max_bytes`` (0: never)."""

    def __init__(self, path: Path, *, max_bytes: int, keep: int = 5) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self._fh = _open_private(path)  # one write per chunk, as tee does
        self._size = self._fh.tell()

    def write(self, data: bytes) -> None:
        if self.max_bytes and self._size and self._size + len(data) > self.max_bytes:
            self._rotate()
        view = memoryview(data)
        try:
            while view:
                written = self._fh.write(view)
                if not written:
                    raise OSError(28, "No space left on device")
                view = view[written:]
        except OSError:
            # A full disk often takes part of a write first: cut that part off again, or the
            # next line (once there is room) would be glued to half a line.
            with contextlib.suppress(OSError):
                self._fh.truncate(self._size)
            raise
        self._size += len(data)

    def flush(self) -> None:
        """Nothing is buffered; kept so callers need not know."""

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError:
            pass

    def _rotate(self) -> None:
        self._fh.close()
        for i in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._fh = _open_private(self.path)
        self._size = 0


def _open_private(path: Path) -> BinaryIO:
    """Append-only, unbuffered, created 0600: the training's output is nobody else's."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "ab", buffering=0)


class JournalSink:
    """Writes every journaled event as one JSON line, flushed at once (it is low-volume)."""

    def __init__(
        self,
        path: Path,
        *,
        redactor: Redactor,
        max_bytes: int,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._redactor = redactor
        self._on_error = on_error
        self._may_report = OnceIn()
        self._path, self._max_bytes = path, max_bytes
        self._closed = False
        self._file: RotatingFile | None = None
        try:
            self._file = RotatingFile(path, max_bytes=max_bytes, keep=3)
        except OSError as exc:
            self._report(f"cannot open the journal {path}: {exc.strerror or exc}")

    def emit(self, event: Event) -> None:
        if not event.journal:
            return
        if self._closed:  # after the run (a rollback from the console): open, append, close
            self._append_once(event)
            return
        if self._file is None:
            return
        line = json.dumps(event_record(event, self._redactor), ensure_ascii=False) + "\n"
        try:
            self._file.write(line.encode("utf-8", "replace"))
            self._file.flush()
        except OSError as exc:
            self._report(f"cannot write the journal: {exc.strerror or exc}")

    def close(self) -> None:
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None

    def _append_once(self, event: Event) -> None:
        try:
            self._file = RotatingFile(self._path, max_bytes=self._max_bytes, keep=3)
        except OSError as exc:
            self._report(f"cannot open the journal {self._path}: {exc.strerror or exc}")
            return
        try:
            self._closed = False
            self.emit(event)
        finally:
            self.close()

    def _report(self, reason: str) -> None:
        # Once per outage: a full disk would otherwise produce one notice per event.
        if self._on_error is not None and self._may_report():
            self._on_error(reason)
