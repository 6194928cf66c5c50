"""The training log pane: a line-API widget that stays fast under a flood of output.

Lines are kept as the raw strings the engine sent (bounded by PHOENIX_LOG_LINES, appended a
batch at a time); only the lines on screen are ever parsed: ANSI colours through
``Text.from_ansi``, other control codes stripped, tabs expanded, and the result cached per
line. Follow mode keeps the end in view and pauses as soon as the operator scrolls up; it
resumes at the end or with ``f``. The unfinished line (a progress bar) is drawn live below
the last complete one. A search highlights every match, scrolls to the current one and counts
them. With ``wrap`` on, a long line takes as many rows as it needs (cut at the pane's width,
character by character: cheap, and a log's long lines are rarely prose); the rows each line
takes are estimated from its text once, when it arrives, and kept as running totals.
"""

from __future__ import annotations

__all__ = ["LogView"]

import re
from bisect import bisect_right
from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip

from phoenix_tui.console.panes._logrows import WrappedRows
from phoenix_tui.console.panes._logtext import line_text, widths

_MATCH = Style(reverse=True)
_CURRENT = Style(reverse=True, bold=True, underline=True)


class LogView(WrappedRows, can_focus=True):
    """Bounded, batched, follow-able log with search."""

    DEFAULT_CSS = """
    LogView { background: $surface; scrollbar-size-horizontal: 0; }
    """

    follow: reactive[bool] = reactive(True)

    def __init__(self, max_lines: int, *, wrap: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self.lines: list[str] = []
        self.partial = ""
        self.search_text = ""
        self.match: int | None = None
        self.dropped = 0  # lines that left the buffer (older than the oldest one kept)
        self.wrap = wrap
        self._pattern: re.Pattern[str] | None = None
        self._width = 0
        self._cells: list[int] = []  # each line's width in columns, for wrapping
        self._ends: list[int] = []  # running total of rows, line by line (wrap only)
        self._wrap_width = 0
        self._cache: LRUCache[tuple[str, bool], Strip] = LRUCache(1024)

    # --- content -----------------------------------------------------------------------------

    def write_lines(self, lines: Sequence[str]) -> None:
        """Append a batch; the oldest lines beyond ``max_lines`` go."""
        if not lines:
            return
        if len(lines) > self.max_lines:  # only the newest can stay: measure no more
            self.dropped += len(lines) - self.max_lines
            lines = lines[-self.max_lines :]
        sizes = widths(lines)
        self.lines.extend(lines)
        self._cells.extend(sizes)
        self._width = max(self._width, max(sizes))
        excess = len(self.lines) - self.max_lines
        gone = 0  # rows that leave the top (only needed while the operator reads back)
        if excess > 0:
            if self.follow:
                gone = 0
            elif self.wrap:
                gone = sum(self._rows(self._cells[:excess]))
            else:
                gone = excess
            del self.lines[:excess]
            del self._cells[:excess]
            self.dropped += excess
            self._cache.clear()
            if self.match is not None:
                self.match = self.match - excess if self.match >= excess else None
        if self.wrap:
            self._rewrap(sizes if excess <= 0 else None)
        if gone and not self.follow:  # keep the operator's lines where they were on screen
            self.set_scroll(None, max(0.0, self.scroll_y - gone))
        self._resized()

    def set_wrap(self, wrap: bool) -> None:
        """Wrap long lines (or cut them at the edge); the line at the top stays in view."""
        if wrap == self.wrap:
            return
        top = self._line_at(int(self.scroll_y))[0]
        self.wrap = wrap
        self._cache.clear()
        self._rewrap(None)
        self._resized()
        if not self.follow:
            self.set_scroll(0, self._row_of(top))

    def set_partial(self, text: str) -> None:
        if text != self.partial:
            self.partial = text
            self._width = max(self._width, len(text))
            self._resized()

    def _resized(self) -> None:
        rows = self._total_rows() + self._partial_rows()
        width = self._wrap_width if self.wrap else self._width
        self._set_virtual_size(Size(width, rows))
        if self.follow:
            self._to_end()
        self.refresh()

    def _text(self, index: int) -> str:
        return self.lines[index] if index < len(self.lines) else self.partial

    # --- follow ------------------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        at_end = new_value >= self.max_scroll_y
        if new_value < old_value and not at_end:
            self.follow = False
        elif new_value > old_value and at_end:
            self.follow = True

    def watch_follow(self, follow: bool) -> None:
        if follow and self.scroll_y < self.max_scroll_y:
            # Deferred: this may run inside a scroll animation's own step.
            self.call_later(self._to_end)

    def on_resize(self) -> None:
        if self.wrap and self.scrollable_content_region.width != self._wrap_width:
            top = self._line_at(int(self.scroll_y))[0]
            self._rewrap(None)
            self._resized()
            if not self.follow:
                self.set_scroll(0, self._row_of(top))
        if self.follow:  # a smaller pane (a patch now waits) must still show the last line
            self.call_after_refresh(self._to_end)

    def _to_end(self) -> None:
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    # --- search ------------------------------------------------------------------------------

    def search(self, query: str, *, older: bool = True) -> bool:
        """Find ``query`` (case-insensitive) from the current match; scroll to it."""
        if query != self.search_text:
            self.search_text, self.match = query, None
            self._pattern = re.compile(re.escape(query), re.IGNORECASE) if query else None
            self._cache.clear()
        if self._pattern is None:
            self.refresh()
            return False
        total = len(self.lines)
        start = self.match if self.match is not None else (total if older else -1)
        order = range(start - 1, -1, -1) if older else range(start + 1, total)
        found = next((i for i in order if self._pattern.search(self.lines[i])), None)
        if found is None:
            self.refresh()
            return False
        self.match = found
        self.follow = False
        row = self._row_of(found)
        self.scroll_to(y=max(0, row - self.size.height // 2), animate=False, immediate=True)
        self.refresh()
        return True

    def count(self) -> tuple[int, int]:
        """(matching lines up to and including the current one, matching lines in all)."""
        pattern = self._pattern
        if pattern is None:
            return 0, 0
        hits = [i for i, line in enumerate(self.lines) if pattern.search(line)]
        if self.match is None:
            return 0, len(hits)
        return bisect_right(hits, self.match), len(hits)

    def clear_search(self) -> None:
        self.search_text, self.match, self._pattern = "", None, None
        self._cache.clear()
        self.refresh()

    # --- rendering ---------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width or self.size.width
        base = self.rich_style
        row = scroll_y + y
        if self.wrap and row >= self._total_rows():
            index, part = len(self.lines), row - self._total_rows()
            scroll_x = part * max(1, self._wrap_width)
        elif self.wrap:
            index, part = self._line_at(row)
            scroll_x = part * max(1, self._wrap_width)
        else:
            index = row
        if index >= len(self.lines) + (1 if self.partial else 0):
            return Strip.blank(width, base)
        current = index == self.match
        key = (self._text(index), current)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._line_strip(index, base, current)
            self._cache[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _line_strip(self, index: int, base: Style, current: bool) -> Strip:
        raw = self._text(index)
        if (
            self._pattern is None
            and index < len(self.lines)
            and type(raw) is str
            and raw.isascii()
            and raw.isprintable()
        ):  # most lines: one plain segment, no parsing (a flood redraws every line)
            return Strip([Segment(raw, base)], len(raw))
        text = line_text(raw, base)
        if index >= len(self.lines):
            text.stylize("italic")
        if self._pattern is not None:
            for m in self._pattern.finditer(text.plain):
                text.stylize(_CURRENT if current else _MATCH, m.start(), m.end())
        return Strip(text.render(self.app.console), text.cell_len)
