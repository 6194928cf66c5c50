"""A terminal driver that survives the terminal going away (an SSH session that dropped).

Textual writes every frame from a writer thread. When the terminal hangs up, a write raises
EIO, the thread dies, its bounded queue fills and the next write blocks the event loop for
good: Phoenix could neither stop the training nor exit. Here a write to a terminal that is
gone is dropped instead, so the SIGHUP handler can stop the training the graceful way and
Phoenix exits.
"""

from __future__ import annotations

__all__ = ["HangupSafeDriver"]

from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver


class _SafeFile:
    """Proxies the terminal's file; once a write fails, every later write is dropped."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._file.write(text)
            except (OSError, ValueError):
                self.broken = True
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self.broken = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class HangupSafeDriver(LinuxDriver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._file = _SafeFile(self._file)  # type: ignore[assignment, arg-type]
