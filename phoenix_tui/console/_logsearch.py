"""Search the whole training log on disk (``train.log``) when the console's buffer forgot.

The console keeps the newest PHOENIX_LOG_LINES lines; older ones are only in
``.phoenix_cli/train.log``. This reads that file line by line (bounded memory, however big it
is), counts the lines that contain the query (case-insensitive) and keeps the last few with
their line numbers. Blocking: the console calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

__all__ = ["FileMatches", "search_file"]

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from phoenix_engine.core.lines import strip_control


@dataclass(frozen=True, slots=True, kw_only=True)
class FileMatches:
    count: int
    lines: tuple[tuple[int, str], ...]  # (line number from 1, the line without colours)


def search_file(path: Path, query: str, *, keep: int = 200, width: int = 400) -> FileMatches:
    """Lines of ``path`` that contain ``query``: how many, and the last ``keep`` of them."""
    needle = query.casefold()
    last: deque[tuple[int, str]] = deque(maxlen=keep)
    count = 0
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, 1):
            if needle in raw.casefold():
                count += 1
                line = strip_control(raw.rstrip("\r\n"), keep_controls=True)
                last.append((number, line[:width]))
    return FileMatches(count=count, lines=tuple(last))
